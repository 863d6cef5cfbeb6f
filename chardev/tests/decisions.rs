// SPDX-License-Identifier: GPL-2.0-only

//! Host tests of the device decisions: ioctls, read/write sizes, flags and
//! the O_EXCL state machine.

use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use xmc_chardev::decisions::*;

const RECORD_LEN: usize = 128;
const LOG_LEN: usize = 1024;

#[test]
fn errno_values() {
    let table = [
        (Errno::Eperm, 1),
        (Errno::Eio, 5),
        (Errno::Ebusy, 16),
        (Errno::Einval, 22),
        (Errno::Enotty, 25),
        (Errno::Enospc, 28),
        (Errno::Eopnotsupp, 95),
    ];
    for (e, v) in table {
        assert_eq!(e.as_neg(), -v);
    }
}

#[test]
fn ioctl_decoding() {
    assert_eq!(decode_ioctl(0x8004_4D01, true), Ok(IoctlOp::RecordLen));
    assert_eq!(decode_ioctl(0x8004_4D02, true), Ok(IoctlOp::LogLen));
    assert_eq!(decode_ioctl(0x8004_4D03, true), Ok(IoctlOp::GetClearFlags));
    // The device's own: _IOR('x', 1, int).
    assert_eq!(decode_ioctl(0x8004_7801, true), Ok(IoctlOp::XenRecords));
    for cmd in [
        0x8004_7800,
        0x8004_7802,
        0x4004_7801,
        0,
        0x8004_4D00,
        0x8004_4D04,
        0x4004_4D01,
        0x8008_4D01,
        0x5401,
    ] {
        assert_eq!(decode_ioctl(cmd, true), Err(Errno::Enotty), "{cmd:#x}");
    }
    // EPERM before anything else, unknown commands included.
    for cmd in [
        MCE_GET_RECORD_LEN,
        MCE_GET_LOG_LEN,
        MCE_GETCLEAR_FLAGS,
        XMC_XEN_RECORDS,
        0x5401,
    ] {
        assert_eq!(decode_ioctl(cmd, false), Err(Errno::Eperm));
    }
}

#[test]
fn ioctl_values_and_flag_read_and_clear() {
    let flags = Flags::new();
    let format = FileFormat::new();
    let v = |op| ioctl_value(op, LOG_LEN as u32, &flags, &format);
    assert_eq!(v(IoctlOp::RecordLen), 128);
    assert_eq!(v(IoctlOp::LogLen), 1024);
    assert_eq!(v(IoctlOp::GetClearFlags), 0);
    flags.set_overflow();
    flags.set_overflow();
    assert_eq!(flags.peek(), 1 << MCE_OVERFLOW);
    assert_eq!(flags.peek(), MCE_OVERFLOW_MASK, "peek does not clear");
    assert_eq!(v(IoctlOp::GetClearFlags), MCE_OVERFLOW_MASK);
    assert_eq!(v(IoctlOp::GetClearFlags), 0, "cleared by the first read");
    assert_eq!(flags.peek(), 0);
}

/// Extended records are opt-in per open file: a file starts with mcelog's
/// 128-byte records, `XMC_XEN_RECORDS` switches only that file (and makes its
/// MCE_GET_RECORD_LEN and read sizes follow), another file is unchanged.
#[test]
fn xen_records_are_opt_in_per_file() {
    let flags = Flags::new();
    let (mcelog, dump) = (FileFormat::new(), FileFormat::new());
    assert_eq!(mcelog.get(), RecordFormat::Mcelog);
    assert_eq!(ioctl_value(IoctlOp::RecordLen, 16, &flags, &dump), 128);
    assert_eq!(ioctl_value(IoctlOp::XenRecords, 16, &flags, &dump), 168);
    assert_eq!(dump.get(), RecordFormat::Xen);
    assert_eq!(ioctl_value(IoctlOp::RecordLen, 16, &flags, &dump), 168);
    assert_eq!(mcelog.get(), RecordFormat::Mcelog, "other files unchanged");
    assert_eq!(ioctl_value(IoctlOp::RecordLen, 16, &flags, &mcelog), 128);
    // read(): whole records of the file's format.
    let len = dump.get().record_len();
    assert_eq!(
        read_plan(128, len, 5),
        Err(Errno::Einval),
        "one mcelog record is too short"
    );
    assert_eq!(read_plan(168 * 3 + 100, len, 5), Ok(3));
    assert_eq!(read_plan(128 * 4, mcelog.get().record_len(), 5), Ok(4));
    assert_eq!(XEN_RECORD_LEN, 8 + MCELOG_RECORD_LEN + 32);
}

#[test]
fn overflow_is_reported_exactly_once_across_threads() {
    // Producers set the bit while readers read-and-clear: every episode that
    // happens before a read is seen by exactly one read.
    let flags = Arc::new(Flags::new());
    let seen = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (f, s, stop) = (flags.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    if f.get_clear() & MCE_OVERFLOW_MASK != 0 {
                        s.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for _ in 0..2000 {
        // Wait until the previous episode was consumed, then raise one.
        while flags.peek() != 0 {
            std::hint::spin_loop();
        }
        flags.set_overflow();
    }
    while flags.peek() != 0 {
        std::hint::spin_loop();
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(seen.load(Ordering::Relaxed), 2000);
}

#[test]
fn read_buffer_sizes() {
    let full = RECORD_LEN * LOG_LEN;
    // (count, available) -> records to pop
    let cases: &[(usize, usize, Result<usize, Errno>)] = &[
        (0, 5, Err(Errno::Einval)),
        (1, 5, Err(Errno::Einval)),
        (127, 5, Err(Errno::Einval)),
        (128, 5, Ok(1)),
        (129, 5, Ok(1)),
        (255, 5, Ok(1)),
        (256, 5, Ok(2)),
        (4096, 5, Ok(5)),
        (4096, 100, Ok(32)),
        (full, LOG_LEN, Ok(LOG_LEN)), // mcelog's pattern returns everything
        (full, 3, Ok(3)),
        (full + 127, LOG_LEN, Ok(LOG_LEN)),
        (usize::MAX, LOG_LEN, Ok(LOG_LEN)),
        // Empty ring: 0 at once, never an error and never a wait.
        (128, 0, Ok(0)),
        (full, 0, Ok(0)),
        // Still EINVAL when empty but the buffer is too small.
        (127, 0, Err(Errno::Einval)),
    ];
    for &(count, avail, want) in cases {
        assert_eq!(
            read_plan(count, RECORD_LEN, avail),
            want,
            "count {count} avail {avail}"
        );
    }
    assert_eq!(
        read_plan(128, 0, 1),
        Err(Errno::Einval),
        "zero record length"
    );
}

#[test]
fn write_buffer_sizes() {
    let full = RECORD_LEN * LOG_LEN;
    let cases: &[(usize, Result<usize, Errno>)] = &[
        (0, Err(Errno::Einval)),
        (1, Err(Errno::Einval)),
        (127, Err(Errno::Einval)),
        (128, Ok(1)),
        (129, Err(Errno::Einval)),
        (256, Ok(2)),
        (4096, Ok(32)),
        (4097, Err(Errno::Einval)),
        (full, Ok(LOG_LEN)),
    ];
    for &(count, want) in cases {
        assert_eq!(write_plan(count, RECORD_LEN, true), want, "count {count}");
        assert_eq!(write_plan(count, RECORD_LEN, false), Err(Errno::Eperm));
    }
    assert_eq!(write_plan(128, 0, true), Err(Errno::Einval));
    assert_eq!(write_fits(1, 1), Ok(()));
    assert_eq!(write_fits(0, 0), Ok(()));
    assert_eq!(write_fits(2, 1), Err(Errno::Enospc));
    assert_eq!(write_fits(LOG_LEN + 1, LOG_LEN), Err(Errno::Enospc));
}

#[test]
fn poll_bits() {
    assert_eq!(poll_mask(true), 0x41);
    assert_eq!(poll_mask(false), 0);
}

#[test]
fn o_excl_basics() {
    let g = OpenGate::new();
    // Shared opens stack; an exclusive open is refused while any is open.
    g.try_open(false).unwrap();
    g.try_open(false).unwrap();
    assert_eq!(g.try_open(true), Err(Errno::Ebusy));
    g.release(false);
    assert_eq!(g.try_open(true), Err(Errno::Ebusy));
    g.release(false);
    assert_eq!(g.open_count(), 0);
    // Exclusive open excludes everyone.
    g.try_open(true).unwrap();
    assert!(g.is_exclusive());
    assert_eq!(g.try_open(false), Err(Errno::Ebusy));
    assert_eq!(g.try_open(true), Err(Errno::Ebusy));
    g.release(true);
    assert!(!g.is_exclusive());
    assert_eq!(g.open_count(), 0);
    g.try_open(false).unwrap();
    g.release(false);
}

#[test]
fn release_of_a_shared_file_keeps_the_exclusive_hold() {
    // The native quirk: release clears the exclusive flag whichever file
    // closes. Here a shared file can never coexist with an exclusive one, so
    // a stray shared release (caller bug) must not open the gate.
    let g = OpenGate::new();
    g.try_open(true).unwrap();
    g.release(false);
    assert!(g.is_exclusive());
    assert_eq!(g.try_open(false), Err(Errno::Ebusy));
    g.release(true);
    assert!(!g.is_exclusive());
    // Unbalanced releases saturate.
    g.release(false);
    assert_eq!(g.open_count(), 0);
    g.try_open(true).unwrap();
    g.release(true);
}

/// Reference model of the gate.
#[derive(Default, Debug)]
struct Model {
    shared: u32,
    exclusive: bool,
}

impl Model {
    fn open(&mut self, excl: bool) -> Result<(), Errno> {
        if self.exclusive || (excl && self.shared > 0) {
            return Err(Errno::Ebusy);
        }
        if excl {
            self.exclusive = true;
        } else {
            self.shared += 1;
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn o_excl_matches_model(ops in prop::collection::vec((any::<bool>(), any::<bool>(), 0usize..8), 1..200)) {
        // Each op: open (shared or exclusive), or close one of the files
        // currently open (chosen by index).
        let g = OpenGate::new();
        let mut m = Model::default();
        let mut files: Vec<bool> = Vec::new(); // true = exclusive file
        for (is_open, excl, pick) in ops {
            if is_open || files.is_empty() {
                let r = g.try_open(excl);
                prop_assert_eq!(r, m.open(excl));
                if r.is_ok() {
                    files.push(excl);
                }
            } else {
                let f = files.remove(pick % files.len());
                g.release(f);
                if f { m.exclusive = false } else { m.shared -= 1 }
            }
            prop_assert_eq!(g.is_exclusive(), m.exclusive);
            prop_assert_eq!(g.open_count(), m.shared + u32::from(m.exclusive));
        }
    }
}

#[test]
fn o_excl_under_contention() {
    // Many threads race to open; at any instant either one exclusive holder
    // or any number of shared holders, never both.
    const THREADS: usize = 8;
    const ROUNDS: usize = 20_000;
    let g = Arc::new(OpenGate::new());
    let excl_in = Arc::new(AtomicU32::new(0));
    let shared_in = Arc::new(AtomicU32::new(0));
    let excl_wins = Arc::new(AtomicU32::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (g, ei, si, ew, start) = (
                g.clone(),
                excl_in.clone(),
                shared_in.clone(),
                excl_wins.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                for i in 0..ROUNDS {
                    let excl = (i + t) % 3 == 0;
                    if g.try_open(excl).is_err() {
                        continue;
                    }
                    if excl {
                        assert_eq!(
                            ei.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two exclusive holders"
                        );
                        assert_eq!(
                            si.load(Ordering::SeqCst),
                            0,
                            "exclusive with a shared holder"
                        );
                        ew.fetch_add(1, Ordering::Relaxed);
                        std::hint::spin_loop();
                        ei.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        si.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(
                            ei.load(Ordering::SeqCst),
                            0,
                            "shared with an exclusive holder"
                        );
                        si.fetch_sub(1, Ordering::SeqCst);
                    }
                    g.release(excl);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(g.open_count(), 0);
    assert!(!g.is_exclusive());
    assert!(
        excl_wins.load(Ordering::Relaxed) > 0,
        "exclusive opens never won"
    );
}
