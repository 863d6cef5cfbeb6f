// SPDX-License-Identifier: GPL-2.0-only

//! Host tests of `XMC_GET_STATS`: the command number, the layout (offsets
//! fixed for ever: the struct only grows at its end), the sizes the device
//! accepts, and encode/decode.

use proptest::prelude::*;
use xmc_chardev::decisions::stats::*;
use xmc_chardev::decisions::*;

/// Version 2, field by field: `(name, offset)`; version 1 is its first 24
/// (200 bytes). A field never moves; new ones are appended (then this table
/// grows, and STATS_LEN with it).
const V2: [(&str, usize); 25] = [
    ("ring_capacity", 8),
    ("ring_len", 16),
    ("ring_pushed", 24),
    ("ring_popped", 32),
    ("ring_rejected_full", 40),
    ("fetched_urgent", 48),
    ("fetched_nonurgent", 56),
    ("acked_urgent", 64),
    ("acked_nonurgent", 72),
    ("stored", 80),
    ("backpressure", 88),
    ("malformed", 96),
    ("unknown_cpu", 104),
    ("cpu_refreshes", 112),
    ("fetch_errors", 120),
    ("ack_errors", 128),
    ("overflow_incomplete", 136),
    ("overflow_dropped_banks", 144),
    ("overflow_xen_pool", 152),
    ("previous_boot_imported", 160),
    ("previous_boot_pending", 168),
    ("previous_boot_erased", 176),
    ("previous_boot_given_up", 184),
    ("open_files", 192),
    ("traced_only_dropped", 200),
];

/// Distinct values per field: field `i` holds `0x0101_0101_0101_0101 * (i + 1)`.
fn distinct() -> DeviceStats {
    let mut v = [0u64; STATS_FIELDS.len()];
    for (i, x) in v.iter_mut().enumerate() {
        *x = 0x0101_0101_0101_0101 * (i as u64 + 1);
    }
    DeviceStats::from_values(v)
}

#[test]
fn command_number_and_sizes() {
    // _IOR('x', 2, struct xmc_stats): read, size 208, type 'x', nr 2.
    assert_eq!(XMC_GET_STATS, (2 << 30) | (208 << 16) | (0x78 << 8) | 2);
    assert_eq!(XMC_GET_STATS, 0x80D0_7802);
    // Version 1's command (a caller built against it) is still answered.
    assert_eq!(
        stats_request(ioc(IOC_READ, b'x', 2, STATS_LEN_V1)),
        Some(Ok(200))
    );
    assert_eq!(
        ioc(IOC_READ, XMC_IOC_MAGIC, XMC_GET_STATS_NR, STATS_LEN),
        XMC_GET_STATS
    );
    assert_eq!(STATS_VERSION, 2);
    assert_eq!(STATS_LEN, 208);
    assert_eq!(STATS_LEN_V1, 200);
    assert_eq!(STATS_HEADER_LEN + 8 * STATS_FIELDS.len(), STATS_LEN);
    // The other ioctls are unchanged by the new one.
    assert_eq!(XMC_XEN_RECORDS, ioc(IOC_READ, b'x', 1, 4));
    assert_eq!(MCE_GET_RECORD_LEN, ioc(IOC_READ, b'M', 1, 4));
}

#[test]
fn layout_is_fixed() {
    assert_eq!(
        STATS_FIELDS.to_vec(),
        V2.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    let b = distinct().encode(STATS_LEN);
    assert_eq!(&b[0..4], &2u32.to_le_bytes(), "version");
    assert_eq!(&b[4..8], &208u32.to_le_bytes(), "size");
    for (i, (name, off)) in V2.iter().enumerate() {
        let want = 0x0101_0101_0101_0101u64 * (i as u64 + 1);
        assert_eq!(&b[*off..off + 8], &want.to_le_bytes(), "{name} at {off}");
    }
    // By name, the fields a reader cares most about.
    let s = DeviceStats {
        ring_pushed: 0x1122_3344_5566_7788,
        open_files: 3,
        ..DeviceStats::default()
    };
    let b = s.encode(STATS_LEN);
    assert_eq!(&b[24..32], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&b[192..200], &3u64.to_le_bytes());
    // Little-endian, every byte defined: no padding hole.
    // (version 2 and size 208 are one byte each.)
    assert_eq!(b.iter().filter(|&&x| x != 0).count(), 1 + 1 + 8 + 1);
}

#[test]
fn a_version_1_caller_gets_its_200_bytes() {
    // What the module copies for a caller built against version 1: the
    // first 200 bytes, `size` 200, version 2; it decodes with the new
    // field 0.
    let s = distinct();
    let b = s.encode(STATS_LEN_V1);
    assert_eq!(&b[4..8], &200u32.to_le_bytes());
    let (version, size, got) = DeviceStats::decode(&b[..STATS_LEN_V1]).unwrap();
    assert_eq!((version, size), (2, 200));
    assert_eq!(got.open_files, s.open_files);
    assert_eq!(got.traced_only_dropped, 0);
    assert_eq!(
        DeviceStats {
            traced_only_dropped: s.traced_only_dropped,
            ..got
        },
        s
    );
}

#[test]
fn encode_decode_round_trip() {
    let s = distinct();
    assert_eq!(DeviceStats::decode(&s.encode(STATS_LEN)), Ok((2, 208, s)));
    assert_eq!(DeviceStats::from_values(s.values()), s);
}

#[test]
fn decode_refuses_what_the_module_never_fills() {
    let b = distinct().encode(STATS_LEN);
    assert_eq!(DeviceStats::decode(&b[..7]), Err(DecodeError::Short));
    assert_eq!(DeviceStats::decode(&b[..199]), Err(DecodeError::Short));
    for size in [0u32, 8, 192, 201, 204] {
        let mut c = b;
        c[4..8].copy_from_slice(&size.to_le_bytes());
        assert_eq!(
            DeviceStats::decode(&c),
            Err(DecodeError::BadSize(size)),
            "{size}"
        );
    }
}

#[test]
fn a_newer_module_gives_this_version_its_fields() {
    // A module with one more field, asked with this version's size: it
    // fills STATS_LEN bytes and says so; its own version is 3.
    let mut b = distinct().encode(STATS_LEN).to_vec();
    b[0..4].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(DeviceStats::decode(&b), Ok((3, 208, distinct())));
    // A reader with a bigger buffer than the module fills: the tail is not
    // looked at (the module said size 208).
    b[0..4].copy_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&[0xff; 8]);
    assert_eq!(DeviceStats::decode(&b), Ok((2, 208, distinct())));
}

#[test]
fn requests() {
    assert_eq!(stats_request(XMC_GET_STATS), Some(Ok(STATS_LEN)));
    // A newer caller's bigger struct: the module's whole struct; any size
    // _IOC_SIZE can say.
    for size in [216usize, 4096, 16376] {
        let cmd = ioc(IOC_READ, b'x', 2, size);
        assert_eq!(stats_request(cmd), Some(Ok(STATS_LEN)), "{size}");
    }
    // Smaller than version 1, or not whole u64s: EINVAL.
    for size in [0usize, 4, 8, 192, 196, 201, 204, 16383] {
        let cmd = ioc(IOC_READ, b'x', 2, size);
        assert_eq!(stats_request(cmd), Some(Err(Errno::Einval)), "{size}");
    }
    // Other directions, numbers or types: not this command.
    for cmd in [
        ioc(0, b'x', 2, 200),
        ioc(1, b'x', 2, 200),
        ioc(3, b'x', 2, 200),
        ioc(IOC_READ, b'x', 3, 200),
        ioc(IOC_READ, b'x', 1, 200),
        ioc(IOC_READ, b'M', 2, 200),
        XMC_XEN_RECORDS,
        MCE_GET_LOG_LEN,
    ] {
        assert_eq!(stats_request(cmd), None, "{cmd:#x}");
    }
}

#[test]
fn stats_need_no_capability_and_do_not_ask() {
    let asked = std::cell::Cell::new(false);
    let admin = |v: bool| {
        let asked = &asked;
        move || {
            asked.set(true);
            v
        }
    };
    assert_eq!(
        decode_request(XMC_GET_STATS, admin(false)),
        Ok(Request::Stats { len: STATS_LEN })
    );
    assert!(!asked.get(), "capable() must not be called for the stats");
    assert_eq!(
        decode_request(ioc(IOC_READ, b'x', 2, 8), admin(false)),
        Err(Errno::Einval)
    );
    assert!(!asked.get());
    // Everything else as before: EPERM first, then the int ioctls, ENOTTY.
    assert_eq!(
        decode_request(MCE_GET_LOG_LEN, admin(false)),
        Err(Errno::Eperm)
    );
    assert!(asked.get());
    assert_eq!(
        decode_request(MCE_GET_LOG_LEN, admin(true)),
        Ok(Request::Value(IoctlOp::LogLen))
    );
    assert_eq!(
        decode_request(XMC_XEN_RECORDS, admin(true)),
        Ok(Request::Value(IoctlOp::XenRecords))
    );
    assert_eq!(decode_request(0x5401, admin(true)), Err(Errno::Enotty));
    assert_eq!(decode_request(0x5401, admin(false)), Err(Errno::Eperm));
}

proptest! {
    /// Any command: the stats answer is the int ioctls' answer unless the
    /// command is 'x' 2 read; a size the device accepts is copied whole
    /// (never more than the struct, never less than version 1).
    #[test]
    fn any_command(cmd in any::<u32>(), admin in any::<bool>()) {
        let r = decode_request(cmd, || admin);
        let is_stats = cmd >> 30 == IOC_READ && (cmd >> 8) & 0xff == 0x78 && cmd & 0xff == 2;
        if is_stats {
            let size = ((cmd >> 16) & 0x3fff) as usize;
            match r {
                Ok(Request::Stats { len }) => {
                    prop_assert!(size >= STATS_LEN_V1 && size % 8 == 0);
                    prop_assert_eq!(len, size.min(STATS_LEN));
                }
                Err(Errno::Einval) => prop_assert!(size < STATS_LEN_V1 || size % 8 != 0),
                other => prop_assert!(false, "{:?}", other),
            }
        } else {
            prop_assert_eq!(r, decode_ioctl(cmd, admin).map(Request::Value));
        }
    }

    /// Encoded with any size the device copies, decoding gives the values back.
    #[test]
    fn round_trip(v in proptest::array::uniform25(any::<u64>())) {
        let s = DeviceStats::from_values(v);
        let b = s.encode(STATS_LEN);
        prop_assert_eq!(DeviceStats::decode(&b), Ok((STATS_VERSION, STATS_LEN as u32, s)));
    }
}
