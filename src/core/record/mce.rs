// SPDX-License-Identifier: GPL-2.0-only

//! The 128-byte `struct mce` that mcelog reads: its field values (vendor
//! numbers, the injected flag, the unknown CPU, the `MCi_STATUS` bits), its
//! layout (asserted at compile time) and its byte image.

use super::{get, put_at};

/// Size in bytes of one record as returned by `MCE_GET_RECORD_LEN`.
pub const RECORD_LEN: usize = 128;

/// Linux `X86_VENDOR_INTEL`, the `cpuvendor` value for "GenuineIntel" (Xen
/// from 4.13 until the fix of `xen_version::VENDOR_NUMBERS` reports Intel
/// as 1, Linux's `X86_VENDOR_CYRIX`).
pub const VENDOR_INTEL: u8 = 0;
/// Linux `X86_VENDOR_AMD`, for "AuthenticAMD".
pub const VENDOR_AMD: u8 = 2;
/// Linux `X86_VENDOR_CENTAUR`, for "CentaurHauls".
pub const VENDOR_CENTAUR: u8 = 5;
/// Linux `X86_VENDOR_HYGON`, for "HygonGenuine".
pub const VENDOR_HYGON: u8 = 9;
/// Linux `X86_VENDOR_ZHAOXIN`, for "  Shanghai  ".
pub const VENDOR_ZHAOXIN: u8 = 10;
/// Linux `X86_VENDOR_UNKNOWN`: the vendor string was not recognised, or the
/// CPU that logged the error is not known.
pub const VENDOR_UNKNOWN: u8 = 0xFF;

/// `inject_flags` bit set on records that userspace wrote into the device
/// (software injection through `write()`), never on records from Xen.
///
/// mcelog treats byte 57 as padding and ignores it. The kernel uses bit 0
/// internally for `MCJ_CTX_PROCESS`, but that value never leaves the kernel,
/// so the bit is free to mean "came from userspace" in this driver's output.
pub const INJECT_FLAG_INJECTED: u8 = 1 << 0;

/// `extcpu` value used when the CPU that logged an error is not known (its
/// APIC id is missing from the physcpuinfo table, or there was no GLOBAL
/// record).
///
/// mcelog prints `extcpu` when it is non-zero (`CPU -1` in its normal output,
/// `CPU 4294967295` with `--raw`), and uses the number only for messages,
/// trigger environments and sysfs look-ups that fail harmlessly. Zero would be
/// mistaken for CPU 0.
pub const EXTCPU_UNKNOWN: u32 = u32::MAX;

// `MCi_STATUS` bits (Intel SDM vol. 3B ch. 16, which AMD's legacy MCA
// follows for bits 55..=63; Linux arch/x86/include/asm/mce.h). Defined here
// once for the module and the tools; the module uses only ADDRV, so the
// others are host-only (`xmc_kernel` builds warn about unused items).

/// `MCi_STATUS.VAL`: the bank holds an error.
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_VAL: u64 = 1 << 63;
/// `MCi_STATUS.OVER`: an earlier error was lost.
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_OVER: u64 = 1 << 62;
/// `MCi_STATUS.UC`: uncorrected.
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_UC: u64 = 1 << 61;
/// `MCi_STATUS.EN`: error reporting was enabled.
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_EN: u64 = 1 << 60;
/// `MCi_STATUS.MISCV`: `MCi_MISC` is valid.
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_MISCV: u64 = 1 << 59;
/// `MCi_STATUS.ADDRV`: `MCi_ADDR` is valid.
pub const MCI_STATUS_ADDRV: u64 = 1 << 58;
/// `MCi_STATUS.PCC`: processor context corrupt.
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_PCC: u64 = 1 << 57;
/// `MCi_STATUS.S`: signalled by #MC (with MCG_CAP.SER_P).
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_S: u64 = 1 << 56;
/// `MCi_STATUS.AR`: action required (with MCG_CAP.SER_P).
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_AR: u64 = 1 << 55;
/// AMD SMCA `MCA_STATUS.PADDRV`: the address is a system physical address
/// (`MCI_STATUS_PADDRV`).
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_PADDRV: u64 = 1 << 54;
/// AMD `MCA_STATUS.Deferred`: an uncorrected error deferred, not signalled
/// (`MCI_STATUS_DEFERRED`).
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_DEFERRED: u64 = 1 << 44;
/// AMD `MCA_STATUS.Poison`: the data was poisoned (`MCI_STATUS_POISON`).
#[cfg(not(xmc_kernel))]
pub const MCI_STATUS_POISON: u64 = 1 << 43;

/// One machine-check record in the uapi / mcelog `struct mce` layout.
///
/// Field offsets (checked at compile time below) are those of the kernel's
/// `include/uapi/asm/mce.h`: every field before `microcode` also matches the
/// in-tree Xen driver's `struct xen_mce`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mce {
    /// Bank's `MCi_STATUS` MSR (offset 0).
    pub status: u64,
    /// Bank's `MCi_MISC` MSR (offset 8).
    pub misc: u64,
    /// Bank's `MCi_ADDR` MSR (offset 16).
    pub addr: u64,
    /// Machine-check global status, `MCG_STATUS` (offset 24).
    pub mcgstatus: u64,
    /// Instruction pointer of the interrupted context (offset 32); Xen does not report it.
    pub ip: u64,
    /// CPU time stamp counter (offset 40).
    pub tsc: u64,
    /// Wall-clock time in seconds since the epoch (offset 48).
    pub time: u64,
    /// CPU vendor as Linux `X86_VENDOR_*` (offset 56).
    pub cpuvendor: u8,
    /// Injection flags (offset 57); see [`INJECT_FLAG_INJECTED`].
    pub inject_flags: u8,
    /// Severity computed by the native kernel handler (offset 58); 0 in
    /// records from Xen (nothing computes one), the writer's byte in records
    /// written into the device.
    pub severity: u8,
    /// Padding (offset 59); 0 in records from Xen, the writer's byte in
    /// records written into the device.
    pub pad1: u8,
    /// CPUID leaf 1 EAX of the CPU that logged the error (offset 60).
    pub cpuid: u32,
    /// Code segment of the interrupted context (offset 64).
    pub cs: u8,
    /// Machine-check bank number (offset 65).
    pub bank: u8,
    /// Low 8 bits of `extcpu`; obsolete, kept for old readers (offset 66).
    pub cpu: u8,
    /// Record is complete; always 1 for records made by this driver (offset 67).
    pub finished: u8,
    /// CPU number that detected the error (offset 68); Xen's physical CPU id here.
    pub extcpu: u32,
    /// Socket (package) id (offset 72).
    pub socketid: u32,
    /// Full (x2)APIC id of the CPU (offset 76).
    pub apicid: u32,
    /// Machine-check capabilities, `MCG_CAP` (offset 80).
    pub mcgcap: u64,
    /// AMD SMCA `MCA_SYND` (offset 88); Xen does not collect it.
    pub synd: u64,
    /// AMD SMCA `MCA_IPID` (offset 96); Xen does not collect it.
    pub ipid: u64,
    /// Protected processor inventory number (offset 104).
    pub ppin: u64,
    /// Microcode revision (offset 112); Xen does not report it.
    pub microcode: u32,
    /// Padding before `kflags` (offset 116); 0 in records from Xen, the
    /// writer's bytes in records written into the device.
    pub pad2: u32,
    /// Kernel-internal flags (offset 120, `MCE_HANDLED_*`); always 0 in
    /// records handed to userspace: Xen's never set it, and a written record
    /// has it cleared ([`Mce::from_user_bytes`]).
    pub kflags: u64,
}

const _: () = assert!(core::mem::size_of::<Mce>() == RECORD_LEN);
const _: () = assert!(core::mem::align_of::<Mce>() == 8);
const _: () = assert!(core::mem::offset_of!(Mce, status) == 0);
const _: () = assert!(core::mem::offset_of!(Mce, misc) == 8);
const _: () = assert!(core::mem::offset_of!(Mce, addr) == 16);
const _: () = assert!(core::mem::offset_of!(Mce, mcgstatus) == 24);
const _: () = assert!(core::mem::offset_of!(Mce, ip) == 32);
const _: () = assert!(core::mem::offset_of!(Mce, tsc) == 40);
const _: () = assert!(core::mem::offset_of!(Mce, time) == 48);
const _: () = assert!(core::mem::offset_of!(Mce, cpuvendor) == 56);
const _: () = assert!(core::mem::offset_of!(Mce, inject_flags) == 57);
const _: () = assert!(core::mem::offset_of!(Mce, severity) == 58);
const _: () = assert!(core::mem::offset_of!(Mce, pad1) == 59);
const _: () = assert!(core::mem::offset_of!(Mce, cpuid) == 60);
const _: () = assert!(core::mem::offset_of!(Mce, cs) == 64);
const _: () = assert!(core::mem::offset_of!(Mce, bank) == 65);
const _: () = assert!(core::mem::offset_of!(Mce, cpu) == 66);
const _: () = assert!(core::mem::offset_of!(Mce, finished) == 67);
const _: () = assert!(core::mem::offset_of!(Mce, extcpu) == 68);
const _: () = assert!(core::mem::offset_of!(Mce, socketid) == 72);
const _: () = assert!(core::mem::offset_of!(Mce, apicid) == 76);
const _: () = assert!(core::mem::offset_of!(Mce, mcgcap) == 80);
const _: () = assert!(core::mem::offset_of!(Mce, synd) == 88);
const _: () = assert!(core::mem::offset_of!(Mce, ipid) == 96);
const _: () = assert!(core::mem::offset_of!(Mce, ppin) == 104);
const _: () = assert!(core::mem::offset_of!(Mce, microcode) == 112);
const _: () = assert!(core::mem::offset_of!(Mce, pad2) == 116);
const _: () = assert!(core::mem::offset_of!(Mce, kflags) == 120);

impl Mce {
    /// Returns the record's exact 128-byte little-endian image, as `read()`
    /// hands it to userspace. Padding and unused fields are written as stored
    /// (zero for records built by this driver).
    #[allow(
        clippy::wrong_self_convention,
        reason = "by reference: callers hold records in the ring by reference"
    )]
    pub fn to_bytes(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        put_at(&mut b, 0, self.status.to_le_bytes());
        put_at(&mut b, 8, self.misc.to_le_bytes());
        put_at(&mut b, 16, self.addr.to_le_bytes());
        put_at(&mut b, 24, self.mcgstatus.to_le_bytes());
        put_at(&mut b, 32, self.ip.to_le_bytes());
        put_at(&mut b, 40, self.tsc.to_le_bytes());
        put_at(&mut b, 48, self.time.to_le_bytes());
        put_at(
            &mut b,
            56,
            [self.cpuvendor, self.inject_flags, self.severity, self.pad1],
        );
        put_at(&mut b, 60, self.cpuid.to_le_bytes());
        put_at(&mut b, 64, [self.cs, self.bank, self.cpu, self.finished]);
        put_at(&mut b, 68, self.extcpu.to_le_bytes());
        put_at(&mut b, 72, self.socketid.to_le_bytes());
        put_at(&mut b, 76, self.apicid.to_le_bytes());
        put_at(&mut b, 80, self.mcgcap.to_le_bytes());
        put_at(&mut b, 88, self.synd.to_le_bytes());
        put_at(&mut b, 96, self.ipid.to_le_bytes());
        put_at(&mut b, 104, self.ppin.to_le_bytes());
        put_at(&mut b, 112, self.microcode.to_le_bytes());
        put_at(&mut b, 116, self.pad2.to_le_bytes());
        put_at(&mut b, 120, self.kflags.to_le_bytes());
        b
    }

    /// Parses a 128-byte little-endian image (for example a record written by
    /// userspace). Every bit pattern is accepted; nothing is validated.
    pub fn from_bytes(b: &[u8; RECORD_LEN]) -> Mce {
        let [cpuvendor, inject_flags, severity, pad1] = get::<4>(b, 56);
        let [cs, bank, cpu, finished] = get::<4>(b, 64);
        Mce {
            status: u64::from_le_bytes(get(b, 0)),
            misc: u64::from_le_bytes(get(b, 8)),
            addr: u64::from_le_bytes(get(b, 16)),
            mcgstatus: u64::from_le_bytes(get(b, 24)),
            ip: u64::from_le_bytes(get(b, 32)),
            tsc: u64::from_le_bytes(get(b, 40)),
            time: u64::from_le_bytes(get(b, 48)),
            cpuvendor,
            inject_flags,
            severity,
            pad1,
            cpuid: u32::from_le_bytes(get(b, 60)),
            cs,
            bank,
            cpu,
            finished,
            extcpu: u32::from_le_bytes(get(b, 68)),
            socketid: u32::from_le_bytes(get(b, 72)),
            apicid: u32::from_le_bytes(get(b, 76)),
            mcgcap: u64::from_le_bytes(get(b, 80)),
            synd: u64::from_le_bytes(get(b, 88)),
            ipid: u64::from_le_bytes(get(b, 96)),
            ppin: u64::from_le_bytes(get(b, 104)),
            microcode: u32::from_le_bytes(get(b, 112)),
            pad2: u32::from_le_bytes(get(b, 116)),
            kflags: u64::from_le_bytes(get(b, 120)),
        }
    }

    /// A record written into the device by userspace (`write()`): parsed
    /// from its image, marked injected ([`Mce::mark_injected`]) and with
    /// `kflags` cleared; every other byte is kept as written.
    ///
    /// `kflags` is the kernel's own bookkeeping, never userspace's: Linux's
    /// `/dev/mcelog` clears it in every record it logs, injected ones
    /// included (`dev_mce_log()`, arch/x86/kernel/cpu/mce/dev-mcelog.c), and
    /// mcelog's `struct mce` calls it "Internal kernel use". A reader of this
    /// device sees it 0, as there.
    pub fn from_user_bytes(b: &[u8; RECORD_LEN]) -> Mce {
        let mut m = Mce::from_bytes(b);
        m.kflags = 0;
        m.mark_injected();
        m
    }

    /// Marks the record as written by userspace (sets [`INJECT_FLAG_INJECTED`]).
    pub fn mark_injected(&mut self) {
        self.inject_flags |= INJECT_FLAG_INJECTED;
    }

    /// Whether the record was written by userspace rather than fetched from Xen.
    pub fn is_injected(&self) -> bool {
        self.inject_flags & INJECT_FLAG_INJECTED != 0
    }

    /// The CPU number mcelog shows for this record: `extcpu` if non-zero,
    /// else the obsolete 8-bit `cpu` (mcelog's own rule).
    pub fn shown_cpu(&self) -> u32 {
        if self.extcpu != 0 {
            self.extcpu
        } else {
            u32::from(self.cpu)
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn default_is_all_zero() {
        assert_eq!(Mce::default().to_bytes(), [0u8; RECORD_LEN]);
    }

    #[test]
    fn each_field_lands_at_its_offset() {
        let m = Mce {
            status: 0x0102_0304_0506_0708,
            cpuvendor: 0xA1,
            inject_flags: 0xA2,
            severity: 0xA3,
            pad1: 0xA4,
            cpuid: 0x1122_3344,
            cs: 0xB1,
            bank: 0xB2,
            cpu: 0xB3,
            finished: 0xB4,
            microcode: 0x5566_7788,
            pad2: 0x99AA_BBCC,
            kflags: 0xDDEE_FF00_1122_3344,
            ..Mce::default()
        };
        let b = m.to_bytes();
        assert_eq!(b[0..8], 0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(b[56..60], [0xA1, 0xA2, 0xA3, 0xA4]);
        assert_eq!(b[60..64], 0x1122_3344u32.to_le_bytes());
        assert_eq!(b[64..68], [0xB1, 0xB2, 0xB3, 0xB4]);
        assert_eq!(b[112..116], 0x5566_7788u32.to_le_bytes());
        assert_eq!(b[116..120], 0x99AA_BBCCu32.to_le_bytes());
        assert_eq!(b[120..128], 0xDDEE_FF00_1122_3344u64.to_le_bytes());
        assert_eq!(Mce::from_bytes(&b), m);
    }

    #[test]
    fn bytes_round_trip_for_every_position() {
        for i in 0..RECORD_LEN {
            let mut b = [0u8; RECORD_LEN];
            b[i] = (i as u8) | 0x80;
            assert_eq!(Mce::from_bytes(&b).to_bytes(), b, "byte {i}");
        }
    }

    #[test]
    fn written_record_keeps_its_bytes_but_kflags_and_is_marked() {
        let mut b = [0u8; RECORD_LEN];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i as u8) | 0x80;
        }
        let m = Mce::from_user_bytes(&b);
        assert_eq!(
            m.kflags, 0,
            "kflags is the kernel's, cleared as dev_mce_log() does"
        );
        assert!(m.is_injected());
        let out = m.to_bytes();
        assert_eq!(out[120..128], [0; 8]);
        assert_eq!(out[57], b[57] | INJECT_FLAG_INJECTED);
        for i in (0..120).filter(|&i| i != 57) {
            assert_eq!(out[i], b[i], "byte {i} is kept as written");
        }
    }

    #[test]
    fn injected_marker() {
        let mut m = Mce::default();
        assert!(!m.is_injected());
        m.mark_injected();
        assert!(m.is_injected());
        assert_eq!(m.to_bytes()[57], INJECT_FLAG_INJECTED);
    }

    #[test]
    fn shown_cpu_follows_mcelog() {
        let mut m = Mce {
            cpu: 7,
            ..Mce::default()
        };
        assert_eq!(m.shown_cpu(), 7);
        m.extcpu = 300;
        assert_eq!(m.shown_cpu(), 300);
    }
}
