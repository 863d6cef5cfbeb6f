// SPDX-License-Identifier: GPL-2.0-only

//! What Xen says about a record beyond `struct mce`, kept next to it in
//! the ring, never in the 128 bytes mcelog reads: [`XenInfo`] (its layout
//! asserted at compile time, its byte image) and the ring's entry
//! [`XenRecord`] with its debugfs `xen` view.

use super::{put_at, Mce, RECORD_LEN};
// Only the host reads these images back.
#[cfg(not(xmc_kernel))]
use super::get;

/// [`XenInfo::addr_space`]: `addr` is not valid (`MCi_STATUS.ADDRV` clear).
pub const ADDR_SPACE_NONE: u8 = 0;
/// [`XenInfo::addr_space`]: `addr` is a machine (host-physical) address.
pub const ADDR_SPACE_MACHINE: u8 = 1;
/// [`XenInfo::addr_space`]: `addr` is a guest-physical address of domain
/// [`XenInfo::domid`]: Xen rewrote it when it injected a vMCE into that
/// guest; the machine frame is [`XenInfo::mfn`].
pub const ADDR_SPACE_GUEST: u8 = 2;
/// [`XenInfo::addr_space`]: unknown (a record written by userspace).
pub const ADDR_SPACE_UNKNOWN: u8 = 3;

/// [`XenInfo::flags`]: the entry has a RECOVERY record for this bank; the
/// `rec_*` fields and [`XenInfo::mfn`] are its content.
pub const XEN_INFO_RECOVERY: u8 = 1 << 0;
/// [`XenInfo::flags`]: that RECOVERY record was cut by Xen's off-by-8
/// (its `status` word is missing and reads 0).
pub const XEN_INFO_RECOVERY_TRUNCATED: u8 = 1 << 1;
/// [`XenInfo::flags`]: fetched from Xen's urgent queue (else non-urgent).
pub const XEN_INFO_URGENT: u8 = 1 << 2;
/// [`XenInfo::flags`]: written by userspace through `write()`, not from Xen.
pub const XEN_INFO_USER: u8 = 1 << 3;
/// [`XenInfo::flags`]: a fatal machine check of an earlier boot, which Xen
/// saved in the firmware's ERST before the reset (see `erst.rs`); not from
/// Xen's telemetry queues.
pub const XEN_INFO_PREVIOUS_BOOT: u8 = 1 << 4;

/// The Xen-side facts about one record that `struct mce` has no room for.
///
/// `#[repr(C)]`, 32 bytes, integer fields only and no padding (asserted
/// below), so it can travel with the record through the ring as plain words.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenInfo {
    /// Machine frame from the RECOVERY record's `page_offline.mfn` (0 without
    /// one). With [`ADDR_SPACE_GUEST`], the machine address is
    /// `mfn << 12 | (addr & 0xfff)`.
    pub mfn: u64,
    /// RECOVERY `page_offline.status` (Xen's `PG_OFFLINE_*` bits, owner
    /// domain in bits 16 and up): the result of the page offlining.
    pub rec_status: u64,
    /// Xen's physical CPU (`mc_cpunr`), not a dom0 vCPU; `u32::MAX` unknown.
    pub xen_cpu: u32,
    /// GLOBAL `mc_flags` (`MC_FLAG_*`: how Xen found the error).
    pub mc_flags: u32,
    /// BANK `mc_domid`: the domain owning the page at `addr`
    /// (`DOMID_INVALID` 0x7FF4 when none or unknown).
    pub domid: u16,
    /// GLOBAL `mc_domid`: the domain running when the error was detected.
    pub running_domid: u16,
    /// `ADDR_SPACE_*`: how to read `addr`.
    pub addr_space: u8,
    /// RECOVERY `action_types` (`MC_ACTION_*`; 0 without a RECOVERY record).
    pub rec_types: u8,
    /// RECOVERY `action_flags` (`REC_ACTION_*`).
    pub rec_flags: u8,
    /// `XEN_INFO_*` bits.
    pub flags: u8,
}

/// Size in bytes of [`XenInfo`].
pub const XEN_INFO_LEN: usize = 32;
const _: () = assert!(core::mem::size_of::<XenInfo>() == XEN_INFO_LEN);
const _: () = assert!(core::mem::offset_of!(XenInfo, mfn) == 0);
const _: () = assert!(core::mem::offset_of!(XenInfo, rec_status) == 8);
const _: () = assert!(core::mem::offset_of!(XenInfo, xen_cpu) == 16);
const _: () = assert!(core::mem::offset_of!(XenInfo, mc_flags) == 20);
const _: () = assert!(core::mem::offset_of!(XenInfo, domid) == 24);
const _: () = assert!(core::mem::offset_of!(XenInfo, running_domid) == 26);
const _: () = assert!(core::mem::offset_of!(XenInfo, addr_space) == 28);
const _: () = assert!(core::mem::offset_of!(XenInfo, rec_types) == 29);
const _: () = assert!(core::mem::offset_of!(XenInfo, rec_flags) == 30);
const _: () = assert!(core::mem::offset_of!(XenInfo, flags) == 31);

impl XenInfo {
    /// The info of a record written by userspace: nothing is known from Xen.
    pub fn user(m: &Mce) -> XenInfo {
        XenInfo {
            xen_cpu: m.extcpu,
            domid: DOMID_NONE,
            running_domid: DOMID_NONE,
            addr_space: ADDR_SPACE_UNKNOWN,
            flags: XEN_INFO_USER,
            ..XenInfo::default()
        }
    }

    /// Whether a RECOVERY record for this bank was found.
    pub fn has_recovery(&self) -> bool {
        self.flags & XEN_INFO_RECOVERY != 0
    }

    /// The machine address of the error when Xen reported it as
    /// guest-physical ([`ADDR_SPACE_GUEST`]), else `addr` itself when it is
    /// machine-physical, else `None`.
    pub fn machine_addr(&self, m: &Mce) -> Option<u64> {
        match self.addr_space {
            ADDR_SPACE_MACHINE => Some(m.addr),
            ADDR_SPACE_GUEST => self.mfn.checked_shl(12).map(|a| a | (m.addr & 0xFFF)),
            _ => None,
        }
    }

    /// Short name of [`XenInfo::addr_space`], as the debugfs view and the
    /// tracepoint print it.
    pub fn addr_space_name(&self) -> &'static str {
        match self.addr_space {
            ADDR_SPACE_NONE => "none",
            ADDR_SPACE_MACHINE => "machine",
            ADDR_SPACE_GUEST => "guest",
            _ => "unknown",
        }
    }
}

/// No domain: Xen's `DOMID_INVALID` (0x7FF4), the name the record keeps.
pub const DOMID_NONE: u16 = crate::mcinfo::DOMID_INVALID;

impl XenInfo {
    /// The 32-byte little-endian image (field offsets as asserted above).
    #[allow(
        clippy::wrong_self_convention,
        reason = "by reference, as Mce::to_bytes: records are held in the ring by reference"
    )]
    pub fn to_bytes(&self) -> [u8; XEN_INFO_LEN] {
        let mut b = [0u8; XEN_INFO_LEN];
        put_at(&mut b, 0, self.mfn.to_le_bytes());
        put_at(&mut b, 8, self.rec_status.to_le_bytes());
        put_at(&mut b, 16, self.xen_cpu.to_le_bytes());
        put_at(&mut b, 20, self.mc_flags.to_le_bytes());
        put_at(&mut b, 24, self.domid.to_le_bytes());
        put_at(&mut b, 26, self.running_domid.to_le_bytes());
        put_at(
            &mut b,
            28,
            [self.addr_space, self.rec_types, self.rec_flags, self.flags],
        );
        b
    }

    /// Parses a 32-byte image made by [`XenInfo::to_bytes`].
    #[cfg(not(xmc_kernel))]
    pub fn from_bytes(b: &[u8; XEN_INFO_LEN]) -> XenInfo {
        let [addr_space, rec_types, rec_flags, flags] = get::<4>(b, 28);
        XenInfo {
            mfn: u64::from_le_bytes(get(b, 0)),
            rec_status: u64::from_le_bytes(get(b, 8)),
            xen_cpu: u32::from_le_bytes(get(b, 16)),
            mc_flags: u32::from_le_bytes(get(b, 20)),
            domid: u16::from_le_bytes(get(b, 24)),
            running_domid: u16::from_le_bytes(get(b, 26)),
            addr_space,
            rec_types,
            rec_flags,
            flags,
        }
    }
}

/// Size of one entry of the debugfs `xen` view: the ring's sequence number
/// (u64 LE), the 128-byte mcelog record, the 32-byte [`XenInfo`].
pub const XEN_VIEW_LEN: usize = 8 + RECORD_LEN + XEN_INFO_LEN;

/// What the ring stores: the 128-byte mcelog record, then Xen's side facts.
/// Readers of the device get only [`XenRecord::mce`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenRecord {
    /// The record exactly as mcelog reads it.
    pub mce: Mce,
    /// What Xen said beyond it.
    pub xen: XenInfo,
}

const _: () = assert!(core::mem::size_of::<XenRecord>() == RECORD_LEN + XEN_INFO_LEN);
const _: () = assert!(core::mem::offset_of!(XenRecord, xen) == RECORD_LEN);

impl XenRecord {
    /// A record written by userspace through `write()`.
    pub fn user(mce: Mce) -> XenRecord {
        XenRecord {
            xen: XenInfo::user(&mce),
            mce,
        }
    }

    /// One entry of the debugfs `xen` view ([`XEN_VIEW_LEN`] bytes): `seq`,
    /// then the mcelog record, then the Xen side, all little-endian.
    pub fn view_bytes(&self, seq: u64) -> [u8; XEN_VIEW_LEN] {
        let mut b = [0u8; XEN_VIEW_LEN];
        put_at(&mut b, 0, seq.to_le_bytes());
        put_at(&mut b, 8, self.mce.to_bytes());
        put_at(&mut b, 8 + RECORD_LEN, self.xen.to_bytes());
        b
    }

    /// Parses one entry of the debugfs `xen` view: `(seq, record)`.
    #[cfg(not(xmc_kernel))]
    pub fn from_view_bytes(b: &[u8; XEN_VIEW_LEN]) -> (u64, XenRecord) {
        let seq = u64::from_le_bytes(get(b, 0));
        let mce = Mce::from_bytes(&get::<RECORD_LEN>(b, 8));
        let xen = XenInfo::from_bytes(&get::<XEN_INFO_LEN>(b, 8 + RECORD_LEN));
        (seq, XenRecord { mce, xen })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn xen_info_machine_address() {
        let m = Mce {
            addr: 0x1234_5678,
            ..Mce::default()
        };
        let mut x = XenInfo {
            addr_space: ADDR_SPACE_MACHINE,
            ..XenInfo::default()
        };
        assert_eq!(x.machine_addr(&m), Some(0x1234_5678));
        assert_eq!(x.addr_space_name(), "machine");
        x.addr_space = ADDR_SPACE_GUEST;
        x.mfn = 0xABCDE;
        assert_eq!(x.machine_addr(&m), Some(0xABCD_E678));
        x.addr_space = ADDR_SPACE_NONE;
        assert_eq!(x.machine_addr(&m), None);
    }

    #[test]
    fn xen_view_round_trip() {
        let r = XenRecord {
            mce: Mce {
                status: 0xBD20_0000_8000_017A,
                addr: 0x1000_0000,
                bank: 7,
                ..Mce::default()
            },
            xen: XenInfo {
                mfn: 0x10000,
                rec_status: 0x2002,
                xen_cpu: 1,
                mc_flags: 0x44,
                domid: 0x7FF4,
                running_domid: 0,
                addr_space: ADDR_SPACE_MACHINE,
                rec_types: 1,
                rec_flags: 0,
                flags: XEN_INFO_RECOVERY | XEN_INFO_URGENT,
            },
        };
        let b = r.view_bytes(42);
        assert_eq!(b[0..8], 42u64.to_le_bytes());
        assert_eq!(b[8..136], r.mce.to_bytes());
        assert_eq!(b[136..144], 0x10000u64.to_le_bytes());
        assert_eq!(b[152..156], 1u32.to_le_bytes());
        assert_eq!(b[160..164], [0xF4, 0x7F, 0, 0]);
        assert_eq!(
            b[164..168],
            [
                ADDR_SPACE_MACHINE,
                1,
                0,
                XEN_INFO_RECOVERY | XEN_INFO_URGENT
            ]
        );
        assert_eq!(XenRecord::from_view_bytes(&b), (42, r));
        for i in 0..XEN_INFO_LEN {
            let mut x = [0u8; XEN_INFO_LEN];
            x[i] = 0x80 | i as u8;
            assert_eq!(XenInfo::from_bytes(&x).to_bytes(), x, "byte {i}");
        }
    }

    #[test]
    fn user_records_say_so() {
        let m = Mce {
            extcpu: 3,
            ..Mce::default()
        };
        let r = XenRecord::user(m);
        assert_eq!(r.mce, m);
        assert_eq!(r.xen.flags, XEN_INFO_USER);
        assert_eq!(r.xen.addr_space, ADDR_SPACE_UNKNOWN);
        assert_eq!(r.xen.domid, DOMID_NONE);
        assert!(!r.xen.has_recovery());
    }
}
