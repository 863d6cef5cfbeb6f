// SPDX-License-Identifier: GPL-2.0-only

//! Host tests of `XMC_PAGE_OWNER`: the command number, who may send it,
//! the layout, what the module refuses before asking Xen, and what Xen's
//! answers mean.

use proptest::prelude::*;
use xmc_chardev::decisions::owner::*;
use xmc_chardev::decisions::*;

#[test]
fn command_number_and_capability() {
    // _IOWR('x', 3, struct xmc_page_owner): read and write, size 16.
    assert_eq!(XMC_PAGE_OWNER, (3 << 30) | (16 << 16) | (0x78 << 8) | 3);
    assert_eq!(
        decode_request(XMC_PAGE_OWNER, || true),
        Ok(Request::PageOwner)
    );
    assert_eq!(decode_request(XMC_PAGE_OWNER, || false), Err(Errno::Eperm));
    // Only that number: another size or direction of 'x' 3 is unknown.
    for cmd in [
        stats::ioc(IOC_WRITE | stats::IOC_READ, b'x', 3, 8),
        stats::ioc(stats::IOC_READ, b'x', 3, 16),
        stats::ioc(IOC_WRITE, b'x', 3, 16),
    ] {
        assert_eq!(decode_request(cmd, || true), Err(Errno::Enotty), "{cmd:#x}");
    }
}

#[test]
fn layout() {
    let q = Query {
        mfn: 0x01_2345_6789,
        domid: 0x1234,
    };
    let b = encode(q, -16);
    assert_eq!(b[0..8], 0x01_2345_6789u64.to_le_bytes());
    assert_eq!(b[8..10], [0x34, 0x12]);
    assert_eq!(b[10..12], [0, 0]);
    assert_eq!(b[12..16], (-16i32).to_le_bytes());
    assert_eq!(xen_rc(&b), -16);
    assert_eq!(decode(&b), Ok(q));
    assert_eq!(
        request(0x3A5B1, 7),
        encode(
            Query {
                mfn: 0x3A5B1,
                domid: 7
            },
            0
        )
    );
}

#[test]
fn what_is_refused_before_xen_is_asked() {
    let ok = |mfn, domid| decode(&request(mfn, domid));
    assert_eq!(ok(0, 1), Ok(Query { mfn: 0, domid: 1 }));
    assert!(ok(MAX_MFN, MAX_DOMID).is_ok());
    // Xen's INVALID_MFN and beyond the 52-bit physical addresses.
    assert_eq!(ok(MAX_MFN + 1, 1), Err(Errno::Einval));
    assert_eq!(ok(u64::MAX, 1), Err(Errno::Einval));
    // dom0 itself, DOMID_SELF, DOMID_IO, DOMID_XEN, DOMID_COW, DOMID_INVALID.
    for d in [0, 0x7FF0, 0x7FF1, 0x7FF2, 0x7FF3, 0x7FF4, 0xFFFF] {
        assert_eq!(ok(1, d), Err(Errno::Einval), "{d:#x}");
    }
    let mut b = request(1, 1);
    b[10] = 1;
    assert_eq!(decode(&b), Err(Errno::Einval));
    // The tools' way to send flags (xmc-test owner --flags): the field at
    // 10, nothing else changed, each bit refused.
    let b = request_flags(0x3A5B1, 7, 0x8001);
    assert_eq!(b[10..12], [0x01, 0x80]);
    assert_eq!(b[..10], request(0x3A5B1, 7)[..10]);
    assert_eq!(b[12..], request(0x3A5B1, 7)[12..]);
    assert_eq!(request_flags(0x3A5B1, 7, 0), request(0x3A5B1, 7));
    for bit in 0..16 {
        assert_eq!(
            decode(&request_flags(1, 1, 1 << bit)),
            Err(Errno::Einval),
            "{bit}"
        );
    }
    // xen_rc is output only.
    let mut b = request(1, 1);
    b[12..16].copy_from_slice(&[0xff; 4]);
    assert!(decode(&b).is_ok());
}

#[test]
fn xens_answers() {
    assert_eq!(answer(0), Answer::Owned);
    assert_eq!(answer(-16), Answer::NotOwned);
    assert_eq!(answer(-1), Answer::NotRam);
    assert_eq!(answer(-3), Answer::NoDomain);
    // A FLASK refusal: Xen's EACCES, Linux's number too.
    assert_eq!(XEN_EACCES, 13);
    assert_eq!(answer(-13), Answer::Other(-XEN_EACCES));
    assert_eq!(answer(-22), Answer::Other(-22));
    assert_eq!(answer(5), Answer::Other(5));
}

proptest! {
    /// Whatever the caller writes, decode either refuses it or returns a
    /// question inside the limits, and encode/decode round-trip.
    #[test]
    fn decode_is_total_and_bounded(raw in proptest::array::uniform16(any::<u8>())) {
        if let Ok(q) = decode(&raw) {
            prop_assert!(q.mfn <= MAX_MFN && (1..=MAX_DOMID).contains(&q.domid));
            prop_assert_eq!(decode(&encode(q, 0)), Ok(q));
        }
    }
}
