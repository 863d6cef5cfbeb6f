// SPDX-License-Identifier: GPL-2.0-only

//! Xen's fatal machine checks saved in the firmware's ERST, read back after
//! the reset they caused.
//!
//! When Xen panics on a fatal machine check, `mc_panic` → `x86_mcinfo_dump`
//! → `x86_mcinfo_apei_save` writes one CPER record per bank it logged
//! (xen/arch/x86/cpu/mcheck/mce-apei.c, `apei_write_mce`): a 128-byte CPER
//! record header (creator [`CPER_CREATOR_MCE`]), one 72-byte section
//! descriptor (type [`CPER_SECTION_TYPE_MCE`]) and Xen's own 88-byte
//! `struct mce` ([`XenSavedMce`]), 288 bytes packed. Xen never reads them
//! back. Linux's pstore shows the same records as `mce-erst-<record id>`
//! files holding the 88-byte section.
//!
//! What Xen fills in: `status`, `misc`, `addr`, `bank` (MCi_* of the bank),
//! `mcgstatus`, `apicid`, `socketid`, `cpu` (`mc_coreid`, a core number),
//! `cpuid` (CPUID.1.EAX) and `cpuvendor` (see [`linux_vendor`]); `ip`,
//! `tsc`, `time`, `extcpu` and `mcgcap` are 0.
//! The header's timestamp is marked invalid, but the record id is Xen's
//! `cper_next_record_id()`: the wall-clock seconds of the first record of
//! that boot (the panic) in its upper 32 bits, so [`record_time`] gives the
//! time of the fatal error.
//!
//! This file is shared with the kernel module (`#[path = "core/erst.rs"]
//! mod erst;`) and the dump tool: it uses only `core` and the other pure
//! modules.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![forbid(unsafe_code)]

use crate::mcinfo::{bank_to_mce, find_cpu, u32_at, u64_at, u8_at, Bank, Global, LogicalCpu};
use crate::record::{
    Mce, XenInfo, ADDR_SPACE_MACHINE, ADDR_SPACE_NONE, DOMID_NONE, MCI_STATUS_ADDRV, VENDOR_AMD,
    VENDOR_CENTAUR, VENDOR_HYGON, VENDOR_INTEL, VENDOR_UNKNOWN, VENDOR_ZHAOXIN,
    XEN_INFO_PREVIOUS_BOOT,
};

/// `CPER_CREATOR_MCE` (UUID 75a574e3-5052-4b29-8a8e-be2c6490b89d, as
/// stored: little-endian fields).
pub const CPER_CREATOR_MCE: [u8; 16] = [
    0xe3, 0x74, 0xa5, 0x75, 0x52, 0x50, 0x29, 0x4b, 0x8a, 0x8e, 0xbe, 0x2c, 0x64, 0x90, 0xb8, 0x9d,
];
/// `CPER_SECTION_TYPE_MCE` (UUID fe08ffbe-95e4-4be7-bc73-4096044a38fc).
pub const CPER_SECTION_TYPE_MCE: [u8; 16] = [
    0xbe, 0xff, 0x08, 0xfe, 0xe4, 0x95, 0xe7, 0x4b, 0xbc, 0x73, 0x40, 0x96, 0x04, 0x4a, 0x38, 0xfc,
];
/// `struct cper_record_header`.
pub const CPER_HEADER_LEN: usize = 128;
/// `struct cper_section_descriptor`.
pub const CPER_SECTION_LEN: usize = 72;
/// Xen's `struct mce` (xen/arch/x86/cpu/mcheck/mce.h).
pub const XEN_MCE_LEN: usize = 88;
/// Xen's `struct cper_mce_record`: header, one section, Xen's `struct mce`.
pub const XEN_MCE_RECORD_LEN: usize = CPER_HEADER_LEN + CPER_SECTION_LEN + XEN_MCE_LEN;
/// Largest record [`xen_mce_record`] has to look at: longer ones are not Xen's.
pub const MAX_RECORD_LEN: usize = 512;

/// Xen's `struct mce` as saved in ERST (only the fields Xen sets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSavedMce {
    /// The ERST/CPER record id (0 when unknown, e.g. a pstore copy).
    pub record_id: u64,
    /// `MCi_STATUS`.
    pub status: u64,
    /// `MCi_MISC`.
    pub misc: u64,
    /// `MCi_ADDR` (a machine address).
    pub addr: u64,
    /// `MCG_STATUS`.
    pub mcgstatus: u64,
    /// The boot CPU's vendor as Xen saved it (see [`linux_vendor`]).
    pub xen_vendor: u8,
    /// CPUID.1.EAX of the CPU that saved the record.
    pub cpuid: u32,
    /// Bank number.
    pub bank: u8,
    /// `mc_coreid` (Xen calls this field `cpu`: a core number, not a CPU).
    pub coreid: u8,
    /// `mc_socketid`.
    pub socketid: u32,
    /// `mc_apicid` of the CPU that logged the bank.
    pub apicid: u32,
}

impl XenSavedMce {
    /// Parses Xen's 88-byte `struct mce` (the CPER section, or the content
    /// of a pstore `mce-erst-<id>` file); `None` for any other length.
    pub fn parse(b: &[u8], record_id: u64) -> Option<XenSavedMce> {
        if b.len() != XEN_MCE_LEN {
            return None;
        }
        Some(XenSavedMce {
            record_id,
            status: u64_at(b, 0),
            misc: u64_at(b, 8),
            addr: u64_at(b, 16),
            mcgstatus: u64_at(b, 24),
            xen_vendor: u8_at(b, 56),
            cpuid: u32_at(b, 60),
            bank: u8_at(b, 65),
            coreid: u8_at(b, 66),
            socketid: u32_at(b, 72),
            apicid: u32_at(b, 76),
        })
    }

    /// The mcelog record and its Xen side, marked [`XEN_INFO_PREVIOUS_BOOT`].
    ///
    /// `cpus` is this boot's physcpuinfo table: the saved APIC id finds the
    /// logical CPU (number, vendor string, MCG_CAP, PPIN) when the machine
    /// still has it; otherwise the CPU is unknown as in [`bank_to_mce`] and
    /// the vendor comes from the record's vendor byte. The saved CPUID.1.EAX is kept
    /// (it is the real one). `time` is [`record_time`] of the record id.
    pub fn to_record(self, cpus: &[LogicalCpu]) -> (Mce, XenInfo) {
        let bank = Bank {
            bank: u16::from(self.bank),
            status: self.status,
            addr: self.addr,
            misc: self.misc,
            ..Bank::default()
        };
        let global = Global {
            socketid: self.socketid,
            coreid: u16::from(self.coreid),
            apicid: self.apicid,
            gstatus: self.mcgstatus,
            ..Global::default()
        };
        let cpu = find_cpu(cpus, self.apicid);
        let mut m = bank_to_mce(&bank, Some(&global), cpu, record_time(self.record_id));
        if self.cpuid != 0 {
            m.cpuid = self.cpuid;
        }
        if cpu.is_none() {
            m.cpuvendor = linux_vendor(self.xen_vendor);
        }
        let x = XenInfo {
            xen_cpu: m.extcpu,
            domid: DOMID_NONE,
            running_domid: DOMID_NONE,
            addr_space: if m.status & MCI_STATUS_ADDRV != 0 {
                ADDR_SPACE_MACHINE
            } else {
                ADDR_SPACE_NONE
            },
            flags: XEN_INFO_PREVIOUS_BOOT,
            ..XenInfo::default()
        };
        (m, x)
    }
}

/// Xen's saved MCE in a whole ERST record, or `None` when the record is not
/// one Xen wrote: every header field `apei_write_mce` sets must match
/// (signature, one section, creator and section type MCE, the exact lengths
/// and offset of Xen's 88-byte `struct mce`). Linux's own MCE records carry
/// the same GUIDs but Linux's longer `struct mce`; pstore's records (dom0's
/// dmesg after an oops or panic) even share the creator GUID
/// (`CPER_CREATOR_PSTORE` is `CPER_CREATOR_MCE`) but not the section type:
/// neither matches.
pub fn xen_mce_record(rec: &[u8]) -> Option<XenSavedMce> {
    if rec.len() != XEN_MCE_RECORD_LEN
        || rec.get(0..4) != Some(b"CPER".as_slice())
        || u32_at(rec, 6) != 0xffff_ffff
        || u16::from_le_bytes([u8_at(rec, 10), u8_at(rec, 11)]) != 1
        || u32_at(rec, 20) as usize != XEN_MCE_RECORD_LEN
        || rec.get(64..80) != Some(CPER_CREATOR_MCE.as_slice())
    {
        return None;
    }
    let sec = rec.get(CPER_HEADER_LEN..CPER_HEADER_LEN + CPER_SECTION_LEN)?;
    if u32_at(sec, 0) as usize != CPER_HEADER_LEN + CPER_SECTION_LEN
        || u32_at(sec, 4) as usize != XEN_MCE_LEN
        || sec.get(16..32) != Some(CPER_SECTION_TYPE_MCE.as_slice())
    {
        return None;
    }
    XenSavedMce::parse(
        rec.get(CPER_HEADER_LEN + CPER_SECTION_LEN..)?,
        u64_at(rec, 96),
    )
}

/// The wall-clock time (seconds since the epoch) in a record id made by
/// Xen's `cper_next_record_id()` (seconds << 32 | counter); 0 when the upper
/// half is not a plausible time (before 2000, or an id from elsewhere).
pub fn record_time(record_id: u64) -> u64 {
    let secs = record_id.checked_shr(32).unwrap_or(0);
    if secs >= 946_684_800 {
        secs
    } else {
        0
    }
}

/// Linux's `X86_VENDOR_*` number for the vendor byte of Xen's saved record.
///
/// Xen releases without "x86/MCE: restore CPU vendor reporting to the
/// outside world" (the releases are in the table,
/// [`crate::xen_version::VENDOR_NUMBERS`]) store their internal vendor bit
/// (4.13 on: Intel 1, AMD 2, Centaur 4, Shanghai 8, Hygon 16); releases with
/// it (Debian's 4.20.4: its records say 0 for Intel, measured) store
/// Linux's numbers (Intel 0, AMD 2, Centaur 5, Hygon 9, Zhaoxin 10). The two
/// overlap only where they agree (AMD 2), so both are accepted; 0,
/// "unknown" to the older scheme, is read as Intel. Xen 4.9 to 4.12 had
/// numbers of their own again (AMD 1), not told apart here.
pub fn linux_vendor(saved: u8) -> u8 {
    match saved {
        0 | 1 => VENDOR_INTEL,
        2 => VENDOR_AMD,
        4 | 5 => VENDOR_CENTAUR,
        8 | 10 => VENDOR_ZHAOXIN,
        9 | 16 => VENDOR_HYGON,
        _ => VENDOR_UNKNOWN,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    extern crate std;
    use super::*;
    use crate::record::EXTCPU_UNKNOWN;

    /// The record Xen 4.20 wrote in the sandbox for
    /// `mce -b 0 1 0xb600000000000150 0x4 0x20000000 0x86` (layout of
    /// `apei_write_mce`; values as read back from the ERST backing file).
    pub(crate) fn xen_record(id: u64, status: u64, addr: u64, bank: u8, apicid: u32) -> [u8; 288] {
        let mut r = [0u8; 288];
        r[0..4].copy_from_slice(b"CPER");
        r[4..6].copy_from_slice(&0x0101u16.to_le_bytes());
        r[6..10].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
        r[10..12].copy_from_slice(&1u16.to_le_bytes());
        r[12..16].copy_from_slice(&1u32.to_le_bytes()); // CPER_SER_FATAL
        r[20..24].copy_from_slice(&288u32.to_le_bytes());
        r[64..80].copy_from_slice(&CPER_CREATOR_MCE);
        r[96..104].copy_from_slice(&id.to_le_bytes());
        r[104..108].copy_from_slice(&2u32.to_le_bytes()); // PREVERR
        r[128..132].copy_from_slice(&200u32.to_le_bytes());
        r[132..136].copy_from_slice(&88u32.to_le_bytes());
        r[144..160].copy_from_slice(&CPER_SECTION_TYPE_MCE);
        let m = &mut r[200..];
        m[0..8].copy_from_slice(&status.to_le_bytes());
        m[16..24].copy_from_slice(&addr.to_le_bytes());
        m[24..32].copy_from_slice(&4u64.to_le_bytes());
        m[56] = 1; // Xen's X86_VENDOR_INTEL
        m[60..64].copy_from_slice(&0x506e3u32.to_le_bytes());
        m[65] = bank;
        m[76..80].copy_from_slice(&apicid.to_le_bytes());
        r
    }

    const ID: u64 = 7_714_045_251_148_578_817;

    #[test]
    fn parses_xens_record() {
        let r = xen_record(ID, 0xb600_0000_0000_0150, 0x2000_0000, 1, 0);
        let s = xen_mce_record(&r).unwrap();
        assert_eq!(s.record_id, ID);
        assert_eq!(s.status, 0xb600_0000_0000_0150);
        assert_eq!(s.addr, 0x2000_0000);
        assert_eq!(s.mcgstatus, 4);
        assert_eq!(s.bank, 1);
        assert_eq!(s.cpuid, 0x506e3);
        assert_eq!(s.xen_vendor, 1);
        assert_eq!(record_time(ID), 1_796_066_121); // 2026-11-30 19:15:21 UTC
    }

    #[test]
    fn converts_with_an_unknown_cpu() {
        let r = xen_record(ID, 0xb600_0000_0000_0150, 0x2000_0000, 1, 7);
        let (m, x) = xen_mce_record(&r).unwrap().to_record(&[]);
        assert_eq!(
            (m.status, m.addr, m.mcgstatus, m.bank),
            (0xb600_0000_0000_0150, 0x2000_0000, 4, 1)
        );
        assert_eq!(
            (m.apicid, m.extcpu, m.cpuid, m.cpuvendor),
            (7, EXTCPU_UNKNOWN, 0x506e3, VENDOR_INTEL)
        );
        assert_eq!(m.time, 1_796_066_121);
        assert_eq!(m.finished, 1);
        assert_eq!(x.flags, XEN_INFO_PREVIOUS_BOOT);
        assert_eq!(x.addr_space, ADDR_SPACE_MACHINE);
        assert_eq!((x.domid, x.running_domid), (DOMID_NONE, DOMID_NONE));
    }

    #[test]
    fn refuses_records_that_are_not_xens() {
        let good = xen_record(ID, 1 << 63, 0, 0, 0);
        assert!(xen_mce_record(&good).is_some());
        // Linux's own MCE record: same GUIDs, longer struct mce.
        let mut linux = std::vec::Vec::from(good);
        linux.resize(128 + 72 + 128, 0);
        linux[20..24].copy_from_slice(&328u32.to_le_bytes());
        linux[132..136].copy_from_slice(&128u32.to_le_bytes());
        assert!(xen_mce_record(&linux).is_none());
        // A pstore dmesg record: the same creator, section type
        // CPER_SECTION_TYPE_DMESG (c197e04e-d545-4a70-9c17-a5549419eb12).
        let mut dmesg = good;
        dmesg[144..160].copy_from_slice(&[
            0x4e, 0xe0, 0x97, 0xc1, 0x45, 0xd5, 0x70, 0x4a, 0x9c, 0x17, 0xa5, 0x54, 0x94, 0x19,
            0xeb, 0x12,
        ]);
        assert!(xen_mce_record(&dmesg).is_none());
        let mut other = good;
        other[64] ^= 0xff;
        assert!(xen_mce_record(&other).is_none());
        let mut sig = good;
        sig[0] = b'X';
        assert!(xen_mce_record(&sig).is_none());
        assert!(xen_mce_record(&good[..200]).is_none());
        assert!(xen_mce_record(&[]).is_none());
    }

    #[test]
    fn time_only_when_plausible() {
        assert_eq!(record_time(0), 0);
        assert_eq!(record_time(5), 0);
        assert_eq!(record_time(946_684_800u64 << 32 | 1), 946_684_800);
    }

    #[test]
    fn vendors() {
        assert_eq!(linux_vendor(1), VENDOR_INTEL);
        assert_eq!(linux_vendor(2), VENDOR_AMD);
        assert_eq!(linux_vendor(16), VENDOR_HYGON);
        assert_eq!(linux_vendor(9), VENDOR_HYGON);
        assert_eq!(linux_vendor(0), VENDOR_INTEL);
        assert_eq!(linux_vendor(3), VENDOR_UNKNOWN);
    }
}
