// SPDX-License-Identifier: GPL-2.0-only

//! Xen machine-check telemetry (`struct mc_info`, `struct mcinfo_logical_cpu`)
//! read from raw bytes, and its conversion into mcelog records.
//!
//! Everything here works on copies of the bytes Xen wrote (the 768-byte
//! `mc_info` from `XEN_MC_fetch`, the 304-byte entries from
//! `XEN_MC_physcpuinfo`). Fields are read at fixed byte offsets with bounds
//! checks, so a malformed buffer can only produce flags, never a fault, a
//! panic or an endless loop. Layouts: xen/include/public/arch-x86/xen-mca.h;
//! the field mapping follows Linux's drivers/xen/mcelog.c (`convert_log`).
//!
//! This file is shared with the kernel module (`#[path = "mcinfo.rs"] mod
//! mcinfo;`, next to `mod record;`): it uses only `core` and
//! `crate::record`.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![forbid(unsafe_code)]

use crate::record::{
    Mce, XenInfo, ADDR_SPACE_GUEST, ADDR_SPACE_MACHINE, ADDR_SPACE_NONE, EXTCPU_UNKNOWN,
    MCI_STATUS_ADDRV, VENDOR_AMD, VENDOR_CENTAUR, VENDOR_HYGON, VENDOR_INTEL, VENDOR_UNKNOWN,
    VENDOR_ZHAOXIN, XEN_INFO_RECOVERY, XEN_INFO_RECOVERY_TRUNCATED, XEN_INFO_URGENT,
};

// ---------------------------------------------------------------------------
// ABI constants.
// ---------------------------------------------------------------------------

/// `sizeof(struct mc_info)`: the bytes one `XEN_MC_fetch` copies out (768).
pub const MC_INFO_LEN: usize = MC_INFO_HEADER_LEN + MC_INFO_DATA_LEN;
const _: () = assert!(MC_INFO_LEN == 768);
/// Bytes before `mi_data` (`mi_nentries` and `flags`).
pub const MC_INFO_HEADER_LEN: usize = 8;
/// Bytes of `mi_data` (95 × u64) delivered to dom0.
pub const MC_INFO_DATA_LEN: usize = 760;
/// How far into `mi_data` Xen's `x86_mcinfo_reserve` lets a record end: it
/// checks against `sizeof(struct mc_info)` instead of the data size, so the
/// last record may be cut by up to 8 bytes (the "off-by-8").
pub const XEN_RESERVE_LIMIT: usize = 768;
/// `MCINFO_FLAGS_UNCOMPLETE`: some records did not fit into the `mc_info`.
pub const MCINFO_FLAGS_UNCOMPLETE: u32 = 0x1;

/// `MC_TYPE_GLOBAL`.
pub const MC_TYPE_GLOBAL: u16 = 0;
/// `MC_TYPE_BANK`.
pub const MC_TYPE_BANK: u16 = 1;
/// `MC_TYPE_EXTENDED`.
pub const MC_TYPE_EXTENDED: u16 = 2;
/// `MC_TYPE_RECOVERY`.
pub const MC_TYPE_RECOVERY: u16 = 3;

/// `sizeof(struct mcinfo_common)`: the record header (type, size).
pub const MCINFO_COMMON_LEN: usize = 4;
/// `sizeof(struct mcinfo_global)`.
pub const MCINFO_GLOBAL_LEN: usize = 32;
/// `sizeof(struct mcinfo_bank)`.
pub const MCINFO_BANK_LEN: usize = 48;
/// `sizeof(struct mcinfo_extended)`.
#[cfg(not(xmc_kernel))]
pub const MCINFO_EXTENDED_LEN: usize = 520;
/// Bytes of an EXTENDED record before its MSR pairs (header and `mc_msrs`).
pub const MCINFO_EXTENDED_HEADER_LEN: usize = 8;
/// `sizeof(struct mcinfo_recovery)`.
pub const MCINFO_RECOVERY_LEN: usize = 24;
/// `sizeof(struct mcinfo_msr)`: one `{reg, value}` pair.
pub const MCINFO_MSR_LEN: usize = 16;
/// Capacity of `mcinfo_extended.mc_msr[]`; `mc_msrs` is clamped to it.
pub const MCINFO_EXTENDED_MAX_MSRS: usize = 32;
/// `sizeof(struct mcinfo_logical_cpu)`.
pub const LOGICAL_CPU_LEN: usize = 304;
/// Capacity of `mcinfo_logical_cpu.mc_msrvalues[]`.
pub const LOGICAL_CPU_MAX_MSRS: usize = 8;
/// `sizeof(struct xen_mc)`: the hypercall argument.
pub const XEN_MC_LEN: usize = 152;

/// Upper bound on the records one `mc_info` can hold (every header is at
/// least 4 bytes): the walker never visits more.
pub const MAX_RECORDS: usize = 190;
const _: () = assert!(MAX_RECORDS * MCINFO_COMMON_LEN == MC_INFO_DATA_LEN);

/// Most BANK records one well-formed `mc_info` can carry (GLOBAL + 15 × BANK
/// = 752 bytes), and so the size of [`convert`]'s output array.
pub const MAX_BANKS_PER_INFO: usize = 15;
const _: () = assert!(MAX_BANKS_PER_INFO * MCINFO_BANK_LEN <= MC_INFO_DATA_LEN);
const _: () =
    assert!(MCINFO_GLOBAL_LEN + (MAX_BANKS_PER_INFO + 1) * MCINFO_BANK_LEN > XEN_RESERVE_LIMIT);
// Even without a GLOBAL record, 16 complete BANK records do not fit.
const _: () = assert!((MAX_BANKS_PER_INFO + 1) * MCINFO_BANK_LEN > MC_INFO_DATA_LEN);

/// `mc_flags` bit: a corrected error.
#[cfg(not(xmc_kernel))]
pub const MC_FLAG_CORRECTABLE: u32 = 0x1;
/// `mc_flags` bit: an uncorrected error without PCC.
#[cfg(not(xmc_kernel))]
pub const MC_FLAG_RECOVERABLE: u32 = 0x4;
/// `mc_flags` bit: found by the periodic poller (or at boot).
#[cfg(not(xmc_kernel))]
pub const MC_FLAG_POLLED: u32 = 0x8;
/// `mc_flags` bit: reported by a CMCI.
#[cfg(not(xmc_kernel))]
pub const MC_FLAG_CMCI: u32 = 0x20;
/// `mc_flags` bit: reported by a machine-check exception.
#[cfg(not(xmc_kernel))]
pub const MC_FLAG_MCE: u32 = 0x40;

/// RECOVERY `action_flags`: the error was recovered.
#[cfg(not(xmc_kernel))]
pub const REC_ACTION_RECOVERED: u8 = 0x1;
/// RECOVERY `action_types`: a page was offlined (payload: `mfn`, `status`).
pub const MC_ACTION_PAGE_OFFLINE: u8 = 0x1;
/// RECOVERY `action_types`: a CPU was offlined (payload: socket, core, thread).
#[cfg(not(xmc_kernel))]
pub const MC_ACTION_CPU_OFFLINE: u8 = 0x2;

/// `DOMID_IO`: I/O memory (MMIO, and low pages Xen keeps for itself).
#[cfg(not(xmc_kernel))]
pub const DOMID_IO: u16 = 0x7FF1;
/// `DOMID_XEN`.
#[cfg(not(xmc_kernel))]
pub const DOMID_XEN: u16 = 0x7FF2;
/// `DOMID_IDLE`: the idle domain (GLOBAL `mc_domid` when the CPU was idle).
#[cfg(not(xmc_kernel))]
pub const DOMID_IDLE: u16 = 0x7FFF;
/// `DOMID_INVALID`: the BANK/GLOBAL `mc_domid` when no domain is involved.
pub const DOMID_INVALID: u16 = 0x7FF4;
/// `DOMID_FIRST_RESERVED`: domain ids from here on are special, not guests.
pub const DOMID_FIRST_RESERVED: u16 = 0x7FF0;
const _: () = assert!(DOMID_INVALID == crate::record::DOMID_NONE);
/// Xen's page size shift (`PAGE_SHIFT`): `mfn` and guest frames are 4 KiB.
pub const XEN_PAGE_SHIFT: u32 = 12;

/// `MSR_IA32_MCG_CAP`.
pub const MSR_MCG_CAP: u64 = 0x179;
/// `MSR_IA32_MCG_STATUS`.
#[cfg(not(xmc_kernel))]
pub const MSR_MCG_STATUS: u64 = 0x17A;
/// Intel `MSR_PPIN`.
pub const MSR_PPIN: u64 = 0x4F;
/// AMD `MSR_AMD_PPIN`.
pub const MSR_AMD_PPIN: u64 = 0xC001_02F1;

/// CPUID vendor string of Intel.
pub const VENDORID_INTEL: &[u8; 12] = b"GenuineIntel";
/// CPUID vendor string of AMD.
pub const VENDORID_AMD: &[u8; 12] = b"AuthenticAMD";
/// CPUID vendor string of Centaur.
pub const VENDORID_CENTAUR: &[u8; 12] = b"CentaurHauls";
/// CPUID vendor string of Hygon.
pub const VENDORID_HYGON: &[u8; 12] = b"HygonGenuine";
/// CPUID vendor string of Zhaoxin.
pub const VENDORID_ZHAOXIN: &[u8; 12] = b"  Shanghai  ";

// ---------------------------------------------------------------------------
// Byte readers: missing bytes read as zero (the image of a truncated record).
// ---------------------------------------------------------------------------

use crate::record::get as bytes_at;

pub(crate) fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(bytes_at(b, off))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, off))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(bytes_at(b, off))
}

// ---------------------------------------------------------------------------
// Physical CPU table (XEN_MC_physcpuinfo).
// ---------------------------------------------------------------------------

/// The fields of one `struct mcinfo_logical_cpu` that the driver uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogicalCpu {
    /// `mc_cpunr`: Xen's physical CPU id (not a dom0 vCPU number).
    pub cpunr: u32,
    /// `mc_chipid`: socket id.
    pub chipid: u32,
    /// `mc_coreid`.
    pub coreid: u16,
    /// `mc_threadid` (unreliable per Xen).
    pub threadid: u16,
    /// `mc_apicid`: full (x2)APIC id, the key used to match GLOBAL records.
    pub apicid: u32,
    /// `mc_family`: display family, extended family included.
    pub family: u32,
    /// `mc_vendor` as Xen reported it (Xen's own numbering before the fix
    /// of `xen_version::VENDOR_NUMBERS`); kept for logging only, see
    /// [`LogicalCpu::cpuvendor`].
    pub xen_vendor: u32,
    /// `mc_model`: display model, extended model included.
    pub model: u32,
    /// `mc_step`: stepping.
    pub step: u32,
    /// `mc_vendorid`: CPUID vendor string, NUL padded.
    pub vendorid: [u8; 16],
    /// `MCG_CAP` from `mc_msrvalues` (0 if absent).
    pub mcgcap: u64,
    /// PPIN from `mc_msrvalues` (0 if absent or disabled).
    pub ppin: u64,
}

impl LogicalCpu {
    /// Parses one 304-byte `mcinfo_logical_cpu`; `None` if `b` is shorter.
    /// Extra bytes are ignored.
    pub fn parse(b: &[u8]) -> Option<LogicalCpu> {
        let b = b.get(..LOGICAL_CPU_LEN)?;
        let mut cpu = LogicalCpu {
            cpunr: u32_at(b, 0),
            chipid: u32_at(b, 4),
            coreid: u16_at(b, 8),
            threadid: u16_at(b, 10),
            apicid: u32_at(b, 12),
            family: u32_at(b, 36),
            xen_vendor: u32_at(b, 40),
            model: u32_at(b, 44),
            step: u32_at(b, 48),
            vendorid: bytes_at(b, 52),
            mcgcap: 0,
            ppin: 0,
        };
        // mc_nmsrvals at 168, mc_msrvalues[8] at 176: {reg u64, value u64}.
        let n = usize::try_from(u32_at(b, 168)).unwrap_or(usize::MAX);
        let pairs = b.get(176..).unwrap_or(&[]);
        for pair in pairs
            .chunks_exact(MCINFO_MSR_LEN)
            .take(n.min(LOGICAL_CPU_MAX_MSRS))
        {
            let value = u64_at(pair, 8);
            match u64_at(pair, 0) {
                MSR_MCG_CAP => cpu.mcgcap = value,
                MSR_PPIN | MSR_AMD_PPIN => cpu.ppin = value,
                _ => {}
            }
        }
        Some(cpu)
    }

    /// Linux `X86_VENDOR_*` number for `mcelog`, derived from the vendor
    /// string rather than from `mc_vendor` (see [`vendor_from_id`]).
    pub fn cpuvendor(&self) -> u8 {
        vendor_from_id(&self.vendorid)
    }

    /// CPUID leaf 1 EAX rebuilt from family, model and stepping (see
    /// [`cpuid_eax`]).
    pub fn cpuid_eax(&self) -> u32 {
        cpuid_eax(self.family, self.model, self.step)
    }
}

/// Maps a CPUID vendor string (the first 12 bytes of `mc_vendorid`) to the
/// Linux `X86_VENDOR_*` number mcelog expects: GenuineIntel 0, AuthenticAMD 2,
/// CentaurHauls 5, HygonGenuine 9, "  Shanghai  " 10, anything else 0xFF.
pub fn vendor_from_id(vendorid: &[u8; 16]) -> u8 {
    let id: [u8; 12] = bytes_at(vendorid, 0);
    match &id {
        VENDORID_INTEL => VENDOR_INTEL,
        VENDORID_AMD => VENDOR_AMD,
        VENDORID_CENTAUR => VENDOR_CENTAUR,
        VENDORID_HYGON => VENDOR_HYGON,
        VENDORID_ZHAOXIN => VENDOR_ZHAOXIN,
        _ => VENDOR_UNKNOWN,
    }
}

/// Encodes display family, model and stepping as CPUID leaf 1 EAX:
/// stepping in bits 3:0, model in 7:4, family in 11:8 (`min(family, 0xF)`),
/// extended model in 19:16 (only for family 6 and families ≥ 0xF, as the CPU
/// itself does), extended family in 27:20 (`family − 0xF` for families ≥ 0xF,
/// saturated at 0xFF).
///
/// Examples: family 6 model 0x55 stepping 4 → `0x0005_0654`; family 0x19
/// model 0x21 stepping 0 → `0x00A2_0F10`. For other families a model above
/// 0xF cannot be encoded and keeps only its low nibble. All zero gives 0,
/// which mcelog reads as "no CPUID".
pub fn cpuid_eax(family: u32, model: u32, step: u32) -> u32 {
    let base_family = family.min(0xF);
    let ext_family = family.saturating_sub(0xF).min(0xFF);
    let has_ext_model = family == 6 || family >= 0xF;
    let ext_model = if has_ext_model {
        (model.checked_shr(4).unwrap_or(0)) & 0xF
    } else {
        0
    };
    (step & 0xF)
        | (model & 0xF).checked_shl(4).unwrap_or(0)
        | base_family.checked_shl(8).unwrap_or(0)
        | ext_model.checked_shl(16).unwrap_or(0)
        | ext_family.checked_shl(20).unwrap_or(0)
}

/// Iterator over the entries of a physcpuinfo buffer (N × 304 bytes); a
/// trailing partial entry is ignored.
#[derive(Clone, Debug)]
pub struct LogicalCpus<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
}

impl Iterator for LogicalCpus<'_> {
    type Item = LogicalCpu;

    fn next(&mut self) -> Option<LogicalCpu> {
        self.chunks.next().and_then(LogicalCpu::parse)
    }
}

/// Iterates over the `mcinfo_logical_cpu` entries in `raw`.
pub fn logical_cpus(raw: &[u8]) -> LogicalCpus<'_> {
    LogicalCpus {
        chunks: raw.chunks_exact(LOGICAL_CPU_LEN),
    }
}

/// Parses `raw` (N × 304 bytes from `XEN_MC_physcpuinfo`) into `out`, and
/// returns how many entries were stored: `min(raw.len() / 304, out.len())`.
#[cfg(not(xmc_kernel))]
pub fn parse_physcpuinfo(raw: &[u8], out: &mut [LogicalCpu]) -> usize {
    let mut n: usize = 0;
    for (slot, cpu) in out.iter_mut().zip(logical_cpus(raw)) {
        *slot = cpu;
        n = n.saturating_add(1);
    }
    n
}

/// Finds the CPU whose APIC id is `apicid` (the key Linux uses too).
pub fn find_cpu(cpus: &[LogicalCpu], apicid: u32) -> Option<&LogicalCpu> {
    cpus.iter().find(|c| c.apicid == apicid)
}

// ---------------------------------------------------------------------------
// Typed records.
// ---------------------------------------------------------------------------

/// `struct mcinfo_global`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Global {
    /// `mc_domid`: domain running when the error was detected, or [`DOMID_INVALID`].
    pub domid: u16,
    /// `mc_vcpuid` (0xFFFF = invalid).
    pub vcpuid: u16,
    /// `mc_socketid`.
    pub socketid: u32,
    /// `mc_coreid`.
    pub coreid: u16,
    /// `mc_core_threadid`.
    pub core_threadid: u16,
    /// `mc_apicid`: full APIC id of the CPU that logged the banks.
    pub apicid: u32,
    /// `mc_flags` (`MC_FLAG_*`).
    pub flags: u32,
    /// `mc_gstatus`: `MCG_STATUS`.
    pub gstatus: u64,
}

impl Global {
    fn parse(r: &[u8]) -> Global {
        Global {
            domid: u16_at(r, 4),
            vcpuid: u16_at(r, 6),
            socketid: u32_at(r, 8),
            coreid: u16_at(r, 12),
            core_threadid: u16_at(r, 14),
            apicid: u32_at(r, 16),
            flags: u32_at(r, 20),
            gstatus: u64_at(r, 24),
        }
    }
}

/// `struct mcinfo_bank`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bank {
    /// `mc_bank`: bank number.
    pub bank: u16,
    /// `mc_domid`: owner of the page at `addr`, or [`DOMID_INVALID`].
    pub domid: u16,
    /// `mc_status`: `MCi_STATUS`.
    pub status: u64,
    /// `mc_addr`: `MCi_ADDR` (machine or, after vMCE injection, guest-physical).
    pub addr: u64,
    /// `mc_misc`: `MCi_MISC`.
    pub misc: u64,
    /// `mc_ctrl2`: `MCi_CTL2` (CMCI only).
    pub ctrl2: u64,
    /// `mc_tsc` (CMCI only, else 0).
    pub tsc: u64,
}

impl Bank {
    fn parse(r: &[u8]) -> Bank {
        Bank {
            bank: u16_at(r, 4),
            domid: u16_at(r, 6),
            status: u64_at(r, 8),
            addr: u64_at(r, 16),
            misc: u64_at(r, 24),
            ctrl2: u64_at(r, 32),
            tsc: u64_at(r, 40),
        }
    }
}

/// One `struct mcinfo_msr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsrPair {
    /// MSR number.
    pub reg: u64,
    /// MSR value.
    pub value: u64,
}

/// `struct mcinfo_extended`, borrowed from the `mc_info` copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extended<'a> {
    /// `mc_msrs` as Xen wrote it (not clamped).
    pub raw_count: u32,
    pairs: &'a [u8],
}

impl<'a> Extended<'a> {
    /// Number of valid MSR pairs: `mc_msrs` clamped to 32 and to the pairs
    /// actually present in the record.
    pub fn count(&self) -> usize {
        let present = self.pairs.len().checked_div(MCINFO_MSR_LEN).unwrap_or(0);
        usize::try_from(self.raw_count)
            .unwrap_or(usize::MAX)
            .min(MCINFO_EXTENDED_MAX_MSRS)
            .min(present)
    }

    /// The valid MSR pairs, in record order.
    pub fn msrs(&self) -> impl Iterator<Item = MsrPair> + 'a {
        let n = self.count();
        self.pairs
            .chunks_exact(MCINFO_MSR_LEN)
            .take(n)
            .map(|p| MsrPair {
                reg: u64_at(p, 0),
                value: u64_at(p, 8),
            })
    }
}

/// `struct mcinfo_recovery`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// `mc_bank`.
    pub bank: u16,
    /// `action_flags` (`REC_ACTION_*`).
    pub action_flags: u8,
    /// `action_types` (`MC_ACTION_*`).
    pub action_types: u8,
    /// First union word: `page_offline.mfn` (machine frame of the offlined page).
    pub mfn: u64,
    /// Second union word: `page_offline.status`.
    pub status: u64,
}

impl Recovery {
    fn parse(r: &[u8]) -> Recovery {
        Recovery {
            bank: u16_at(r, 4),
            action_flags: u8_at(r, 6),
            action_types: u8_at(r, 7),
            mfn: u64_at(r, 8),
            status: u64_at(r, 16),
        }
    }

    /// The union read as `cpu_offline_action`: (socket id, core id, thread id).
    #[cfg(not(xmc_kernel))]
    pub fn cpu_offline(&self) -> (u32, u16, u16) {
        let b = self.mfn.to_le_bytes();
        (u32_at(&b, 0), u16_at(&b, 4), u16_at(&b, 6))
    }
}

// ---------------------------------------------------------------------------
// The walker.
// ---------------------------------------------------------------------------

/// A view of one 768-byte `struct mc_info`.
#[derive(Clone, Copy, Debug)]
pub struct McInfo<'a> {
    bytes: &'a [u8; MC_INFO_LEN],
}

impl<'a> McInfo<'a> {
    /// Wraps a copy of the bytes `XEN_MC_fetch` returned.
    pub fn new(bytes: &'a [u8; MC_INFO_LEN]) -> McInfo<'a> {
        McInfo { bytes }
    }

    /// `mi_nentries` as Xen wrote it.
    pub fn nentries(&self) -> u32 {
        u32_at(self.bytes, 0)
    }

    /// `flags` (`MCINFO_FLAGS_*`).
    pub fn flags(&self) -> u32 {
        u32_at(self.bytes, 4)
    }

    /// Whether Xen had to leave records out (`MCINFO_FLAGS_UNCOMPLETE`).
    pub fn is_uncomplete(&self) -> bool {
        self.flags() & MCINFO_FLAGS_UNCOMPLETE != 0
    }

    /// The 760 bytes of `mi_data`.
    pub fn data(&self) -> &'a [u8] {
        self.bytes.get(MC_INFO_HEADER_LEN..).unwrap_or(&[])
    }

    /// A walker over the records, bounded by `min(mi_nentries, 190)` and by
    /// the end of `mi_data`.
    pub fn records(&self) -> Walker<'a> {
        let limit = usize::try_from(self.nentries())
            .unwrap_or(usize::MAX)
            .min(MAX_RECORDS);
        Walker {
            data: self.data(),
            offset: 0,
            remaining: limit,
            visited: 0,
            stop: None,
        }
    }
}

/// Why a [`Walker`] stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WalkStop {
    /// Not stopped yet.
    #[default]
    Running,
    /// Visited `min(mi_nentries, 190)` records: the normal end.
    Count,
    /// Fewer than 4 bytes were left for the next header before the count was
    /// reached (`mi_nentries` too high).
    EndOfData,
    /// A header had `size < 4` (0 included; zeroes after the last record when
    /// `mi_nentries` is too high).
    BadSize,
    /// A record would end past the 768 bytes Xen itself allows: a corrupt
    /// `size`. Nothing of it was returned.
    Overrun,
    /// The last record crossed the end of `mi_data` but ended within Xen's
    /// off-by-8 allowance; its visible part was returned as truncated.
    Truncated,
}

/// One record as found by the walker, before type checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Offset of the header inside `mi_data`.
    pub offset: usize,
    /// `type`.
    pub kind: u16,
    /// `size` as declared (header included).
    pub size: u16,
    /// The record's bytes inside `mi_data`, header included: `size` bytes,
    /// or fewer when truncated.
    pub bytes: &'a [u8],
    /// The record crossed the end of `mi_data` (Xen's off-by-8); missing
    /// fields read as 0.
    pub truncated: bool,
}

/// A record checked against its type's minimum size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// `MC_TYPE_GLOBAL`.
    Global(Global),
    /// `MC_TYPE_BANK`.
    Bank(Bank),
    /// `MC_TYPE_EXTENDED`.
    Extended(Extended<'a>),
    /// `MC_TYPE_RECOVERY`.
    Recovery(Recovery),
    /// A type this driver does not know; skipped by its size.
    Unknown,
    /// A known type whose declared size is below its struct size (for
    /// EXTENDED: below `8 + 16 × min(mc_msrs, 32)`); skipped.
    Undersized,
}

impl<'a> RawRecord<'a> {
    /// Checks the declared size against the type and decodes the record.
    /// Fields of a truncated record that lie past the end read as 0.
    pub fn decode(&self) -> Record<'a> {
        let size = usize::from(self.size);
        let r = self.bytes;
        match self.kind {
            MC_TYPE_GLOBAL if size >= MCINFO_GLOBAL_LEN => Record::Global(Global::parse(r)),
            MC_TYPE_BANK if size >= MCINFO_BANK_LEN => Record::Bank(Bank::parse(r)),
            MC_TYPE_RECOVERY if size >= MCINFO_RECOVERY_LEN => Record::Recovery(Recovery::parse(r)),
            MC_TYPE_EXTENDED => {
                let raw_count = u32_at(r, 4);
                let clamped = usize::try_from(raw_count)
                    .unwrap_or(usize::MAX)
                    .min(MCINFO_EXTENDED_MAX_MSRS);
                let need = clamped
                    .saturating_mul(MCINFO_MSR_LEN)
                    .saturating_add(MCINFO_EXTENDED_HEADER_LEN);
                if size < need {
                    return Record::Undersized;
                }
                Record::Extended(Extended {
                    raw_count,
                    pairs: r.get(MCINFO_EXTENDED_HEADER_LEN..).unwrap_or(&[]),
                })
            }
            MC_TYPE_GLOBAL | MC_TYPE_BANK | MC_TYPE_RECOVERY => Record::Undersized,
            _ => Record::Unknown,
        }
    }
}

/// Bounded, validating iterator over the records of one `mc_info`
/// (docs/xen-mca-abi.md, "`struct mc_info` and its records").
///
/// It works in offsets inside the 760-byte `mi_data`, visits at most
/// `min(mi_nentries, 190)` records, requires room for each header, `size ≥ 4`
/// and `offset + size ≤ 760` (a record ending within Xen's off-by-8 allowance
/// is returned truncated, and ends the walk), and skips nothing silently:
/// unknown and undersized records are returned for the caller to count. Every
/// step advances by at least 4 bytes, so it ends after at most 190 steps.
#[derive(Clone, Debug)]
pub struct Walker<'a> {
    data: &'a [u8],
    offset: usize,
    remaining: usize,
    visited: usize,
    stop: Option<WalkStop>,
}

impl<'a> Walker<'a> {
    /// Number of records returned so far.
    pub fn visited(&self) -> usize {
        self.visited
    }

    /// Why the walk ended ([`WalkStop::Running`] while it has not).
    pub fn stop(&self) -> WalkStop {
        self.stop.unwrap_or(WalkStop::Running)
    }

    /// Offset in `mi_data` where the next record would start.
    #[cfg(not(xmc_kernel))]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether any byte after the last record visited is non-zero. Xen zeroes
    /// the whole `mc_info` before filling it, so after a [`WalkStop::Count`]
    /// end this means `mi_nentries` was too low or the buffer is corrupt.
    pub fn trailing_nonzero(&self) -> bool {
        self.data
            .get(self.offset..)
            .is_some_and(|tail| tail.iter().any(|&b| b != 0))
    }

    fn finish(&mut self, why: WalkStop) -> Option<RawRecord<'a>> {
        self.stop = Some(why);
        None
    }
}

impl<'a> Iterator for Walker<'a> {
    type Item = RawRecord<'a>;

    fn next(&mut self) -> Option<RawRecord<'a>> {
        if self.stop.is_some() {
            return None;
        }
        if self.remaining == 0 {
            return self.finish(WalkStop::Count);
        }
        let header = match self
            .offset
            .checked_add(MCINFO_COMMON_LEN)
            .and_then(|end| self.data.get(self.offset..end))
        {
            Some(h) => h,
            None => return self.finish(WalkStop::EndOfData),
        };
        let kind = u16_at(header, 0);
        let size = u16_at(header, 2);
        if usize::from(size) < MCINFO_COMMON_LEN {
            return self.finish(WalkStop::BadSize);
        }
        let end = self.offset.saturating_add(usize::from(size));
        let (bytes, truncated) = if let Some(b) = self.data.get(self.offset..end) {
            (b, false)
        } else if end <= XEN_RESERVE_LIMIT {
            (self.data.get(self.offset..).unwrap_or(&[]), true)
        } else {
            return self.finish(WalkStop::Overrun);
        };
        let rec = RawRecord {
            offset: self.offset,
            kind,
            size,
            bytes,
            truncated,
        };
        self.offset = if truncated { self.data.len() } else { end };
        self.remaining = self.remaining.saturating_sub(1);
        self.visited = self.visited.saturating_add(1);
        if truncated {
            self.stop = Some(WalkStop::Truncated);
        }
        Some(rec)
    }
}

// ---------------------------------------------------------------------------
// The converter.
// ---------------------------------------------------------------------------

/// Malformation bit: a BANK record came before any GLOBAL record (converted
/// with the global fields and CPU unknown).
pub const MALFORMED_NO_GLOBAL: u32 = 1 << 0;
/// Malformation bit: more than one GLOBAL record (later BANK records use the
/// most recent one).
pub const MALFORMED_EXTRA_GLOBAL: u32 = 1 << 1;
/// Malformation bit: a header with `size < 4` stopped the walk.
pub const MALFORMED_BAD_SIZE: u32 = 1 << 2;
/// Malformation bit: a record's `size` ran past the buffer; the walk stopped.
pub const MALFORMED_OVERRUN: u32 = 1 << 3;
/// Malformation bit: `mi_data` ended before `mi_nentries` records were seen.
pub const MALFORMED_END_OF_DATA: u32 = 1 << 4;
/// Malformation bit: non-zero bytes follow the last counted record
/// (`mi_nentries` too low, or garbage). They are not interpreted.
pub const MALFORMED_TRAILING_DATA: u32 = 1 << 5;
/// Malformation bit: `mi_nentries` exceeds 190, the most that can fit.
pub const MALFORMED_NENTRIES_RANGE: u32 = 1 << 6;
/// Malformation bit: a known record type below its minimum size was skipped.
pub const MALFORMED_UNDERSIZED: u32 = 1 << 7;
/// Malformation bit: an EXTENDED record's `mc_msrs` exceeded 32 (clamped).
pub const MALFORMED_MSR_COUNT: u32 = 1 << 8;
/// Malformation bit: more BANK records than [`MAX_BANKS_PER_INFO`]; the extra
/// ones are counted in [`Conversion::dropped_banks`]. Only possible in a
/// corrupt image (no GLOBAL and a truncated 16th bank).
pub const MALFORMED_OUT_FULL: u32 = 1 << 9;

/// How many MSR pairs of the first EXTENDED record [`ExtendedSummary`]
/// keeps: Intel logs at most 19 (`MCG_EAX`…`MCG_MISC`, `R8`…`R15`), AMD 3.
pub const EXTENDED_SUMMARY_MSRS: usize = 20;
/// How many RECOVERY records [`Conversion::recovery`] keeps.
pub const RECOVERY_SUMMARY_LEN: usize = 4;

/// The first EXTENDED record of an `mc_info`, copied for logging.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtendedSummary {
    /// Offset of the record in `mi_data`.
    pub offset: u16,
    /// `mc_msrs` as Xen wrote it.
    pub raw_count: u32,
    /// The record was cut by the end of `mi_data`.
    pub truncated: bool,
    /// Valid pairs in the record (`mc_msrs` clamped to 32 and to its size).
    pub count: u8,
    /// Pairs kept in `msrs`: `min(count, EXTENDED_SUMMARY_MSRS)`.
    pub kept: u8,
    /// The first `kept` pairs.
    pub msrs: [MsrPair; EXTENDED_SUMMARY_MSRS],
}

impl ExtendedSummary {
    /// The kept MSR pairs.
    #[cfg(not(xmc_kernel))]
    pub fn msrs(&self) -> &[MsrPair] {
        self.msrs.get(..usize::from(self.kept)).unwrap_or(&[])
    }
}

/// One RECOVERY record, copied for logging.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoverySummary {
    /// Offset of the record in `mi_data`.
    pub offset: u16,
    /// The record was cut by the end of `mi_data` (Xen's off-by-8 hits a
    /// RECOVERY record appended last): `status` is then 0 and unknown.
    pub truncated: bool,
    /// The decoded record.
    pub rec: Recovery,
}

/// What [`convert`] found in one `mc_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conversion {
    /// Records written to the front of `out` (one per BANK record, in order).
    pub written: usize,
    /// BANK records that did not fit into `out` (see [`MALFORMED_OUT_FULL`]).
    pub dropped_banks: u32,
    /// `mi_nentries` as Xen wrote it.
    pub nentries: u32,
    /// Records the walker visited (all types).
    pub visited: u32,
    /// Why the walk ended.
    pub stop: WalkStop,
    /// `mc_info.flags` as Xen wrote it.
    pub info_flags: u32,
    /// `MCINFO_FLAGS_UNCOMPLETE`: Xen left records out for lack of room.
    pub uncomplete: bool,
    /// `MALFORMED_*` bits; 0 for a well-formed `mc_info`.
    pub malformed: u32,
    /// The last record was cut by the end of `mi_data` (Xen's off-by-8); its
    /// visible part was used.
    pub truncated: bool,
    /// Number of GLOBAL records.
    pub globals: u32,
    /// `mc_flags` of the first GLOBAL record (0 without one).
    pub mc_flags: u32,
    /// `mc_gstatus` of the first GLOBAL record.
    pub gstatus: u64,
    /// `mc_domid` of the first GLOBAL record ([`DOMID_INVALID`] without one).
    pub global_domid: u16,
    /// `mc_vcpuid` of the first GLOBAL record.
    pub global_vcpuid: u16,
    /// `mc_apicid` of the first GLOBAL record.
    pub apicid: u32,
    /// A BANK record was converted for a GLOBAL whose APIC id is not in
    /// `cpus`: refreshing the physcpuinfo table and converting again may fill
    /// in the CPU fields.
    pub apicid_unknown: bool,
    /// The APIC id that was not found (valid when `apicid_unknown`).
    pub missing_apicid: u32,
    /// `mc_domid` of each written record's BANK, parallel to `out`.
    pub bank_domid: [u16; MAX_BANKS_PER_INFO],
    /// Number of EXTENDED records.
    pub extended_count: u32,
    /// Number of RECOVERY records.
    pub recovery_count: u32,
    /// Number of records of unknown type (skipped).
    pub unknown_count: u32,
    /// Number of undersized records (skipped).
    pub undersized_count: u32,
    /// The first EXTENDED record.
    pub extended: Option<ExtendedSummary>,
    /// The first `min(recovery_count, RECOVERY_SUMMARY_LEN)` RECOVERY records.
    pub recovery: [RecoverySummary; RECOVERY_SUMMARY_LEN],
}

impl Conversion {
    /// Whether any `MALFORMED_*` bit is set (truncation alone is not counted:
    /// it is Xen's known off-by-8 behaviour).
    pub fn is_malformed(&self) -> bool {
        self.malformed != 0
    }

    /// The kept RECOVERY summaries.
    pub fn recoveries(&self) -> &[RecoverySummary] {
        let n = usize::try_from(self.recovery_count)
            .unwrap_or(usize::MAX)
            .min(RECOVERY_SUMMARY_LEN);
        self.recovery.get(..n).unwrap_or(&[])
    }

    /// `mc_domid` of the written BANK records.
    #[cfg(not(xmc_kernel))]
    pub fn bank_domids(&self) -> &[u16] {
        self.bank_domid.get(..self.written).unwrap_or(&[])
    }
}

/// Builds the mcelog record for one BANK record.
///
/// `global` is the GLOBAL record the bank belongs to and `cpu` the physcpuinfo
/// entry whose APIC id matches it; either may be unknown. Mapping (Linux's
/// drivers/xen/mcelog.c `convert_log`, with the fixes of docs/xen-mca-abi.md): `status`/`misc`/`addr`/`tsc`/`bank` from the BANK record (`bank`
/// truncated to 8 bits, as Linux does; MCG_CAP.Count is 8 bits wide);
/// `mcgstatus` and `apicid` from GLOBAL (0 without one); `extcpu` = Xen's
/// physical CPU id and `cpu` = its low 8 bits (plain truncation, as Linux's
/// Xen driver and the native kernel do); `socketid` = `mc_chipid`, or GLOBAL's
/// `mc_socketid` when the CPU is unknown; `mcgcap`, `ppin`, `cpuvendor` (from
/// the vendor string) and `cpuid` from the CPU entry; `time` = `time_secs`;
/// `finished` = 1. `ip`, `cs`, `synd`, `ipid`, `microcode`, `severity`,
/// `inject_flags` and `kflags` are 0 because Xen does not report them.
///
/// With the CPU unknown: `extcpu` = [`EXTCPU_UNKNOWN`], `cpu` = 0xFF (its
/// truncation), `cpuvendor` = [`VENDOR_UNKNOWN`], and `cpuid`, `mcgcap`,
/// `ppin` = 0. `cpuid` 0 makes mcelog keep the CPU type it chose at startup
/// from `/proc/cpuinfo` (the host's CPU in a PV dom0) instead of guessing.
pub fn bank_to_mce(
    bank: &Bank,
    global: Option<&Global>,
    cpu: Option<&LogicalCpu>,
    time_secs: u64,
) -> Mce {
    let extcpu = cpu.map_or(EXTCPU_UNKNOWN, |c| c.cpunr);
    Mce {
        status: bank.status,
        misc: bank.misc,
        addr: bank.addr,
        mcgstatus: global.map_or(0, |g| g.gstatus),
        tsc: bank.tsc,
        time: time_secs,
        cpuvendor: cpu.map_or(VENDOR_UNKNOWN, LogicalCpu::cpuvendor),
        cpuid: cpu.map_or(0, LogicalCpu::cpuid_eax),
        bank: bank.bank as u8,
        cpu: extcpu as u8,
        finished: 1,
        extcpu,
        socketid: match (cpu, global) {
            (Some(c), _) => c.chipid,
            (None, Some(g)) => g.socketid,
            (None, None) => 0,
        },
        apicid: global.map_or(0, |g| g.apicid),
        mcgcap: cpu.map_or(0, |c| c.mcgcap),
        ppin: cpu.map_or(0, |c| c.ppin),
        ..Mce::default()
    }
}

fn offset_u16(off: usize) -> u16 {
    u16::try_from(off).unwrap_or(u16::MAX)
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Converts one `mc_info` into mcelog records, one per BANK record.
///
/// `cpus` is the physcpuinfo table, `time_secs` the wall-clock time of the
/// fetch. Records go to the front of `out` (the rest of `out` is zeroed); the
/// returned [`Conversion`] says how many, and everything else worth logging.
/// No valid BANK record is dropped: a BANK without a GLOBAL, or for an
/// unknown APIC id, is still converted with what is known and flagged. Only
/// the first 15 BANK records fit, which is more than any `mc_info` Xen can
/// write holds.
#[cfg(not(xmc_kernel))]
pub fn convert(
    info: &[u8; MC_INFO_LEN],
    cpus: &[LogicalCpu],
    time_secs: u64,
    out: &mut [Mce; MAX_BANKS_PER_INFO],
) -> Conversion {
    let mut c = Conversion::default();
    convert_into(info, cpus, time_secs, out, &mut c);
    c
}

/// [`convert`], with the [`Conversion`] written into `c` (whatever it held
/// before is overwritten). The drain keeps `c` with its other scratch space
/// (`out`, the `mc_info`) in memory its caller owns: in the kernel that is
/// off the stack, where a 576-byte `Conversion` returned by value, plus its
/// copies, made the drain's frames the module's largest.
pub fn convert_into(
    info: &[u8; MC_INFO_LEN],
    cpus: &[LogicalCpu],
    time_secs: u64,
    out: &mut [Mce; MAX_BANKS_PER_INFO],
    c: &mut Conversion,
) {
    let mi = McInfo::new(info);
    *c = Conversion::default();
    c.nentries = mi.nentries();
    c.info_flags = mi.flags();
    c.uncomplete = mi.is_uncomplete();
    c.global_domid = DOMID_INVALID;
    if usize::try_from(c.nentries).map_or(true, |n| n > MAX_RECORDS) {
        c.malformed |= MALFORMED_NENTRIES_RANGE;
    }
    out.fill(Mce::default());

    let mut global: Option<Global> = None;
    let mut cpu: Option<&LogicalCpu> = None;
    let mut walker = mi.records();
    for raw in walker.by_ref() {
        c.truncated |= raw.truncated;
        match raw.decode() {
            Record::Global(g) => {
                if c.globals == 0 {
                    c.mc_flags = g.flags;
                    c.gstatus = g.gstatus;
                    c.global_domid = g.domid;
                    c.global_vcpuid = g.vcpuid;
                    c.apicid = g.apicid;
                } else {
                    c.malformed |= MALFORMED_EXTRA_GLOBAL;
                }
                c.globals = c.globals.saturating_add(1);
                cpu = find_cpu(cpus, g.apicid);
                global = Some(g);
            }
            Record::Bank(b) => {
                match global {
                    None => c.malformed |= MALFORMED_NO_GLOBAL,
                    Some(g) if cpu.is_none() && !c.apicid_unknown => {
                        c.apicid_unknown = true;
                        c.missing_apicid = g.apicid;
                    }
                    Some(_) => {}
                }
                let slot = out.get_mut(c.written);
                let dom = c.bank_domid.get_mut(c.written);
                if let (Some(slot), Some(dom)) = (slot, dom) {
                    *slot = bank_to_mce(&b, global.as_ref(), cpu, time_secs);
                    *dom = b.domid;
                    c.written = c.written.saturating_add(1);
                } else {
                    c.malformed |= MALFORMED_OUT_FULL;
                    c.dropped_banks = c.dropped_banks.saturating_add(1);
                }
            }
            Record::Extended(e) => {
                c.extended_count = c.extended_count.saturating_add(1);
                if e.raw_count > count_u32(MCINFO_EXTENDED_MAX_MSRS) {
                    c.malformed |= MALFORMED_MSR_COUNT;
                }
                if c.extended.is_none() {
                    // Filled where it is kept (336 bytes: no copy on the stack).
                    let s = c.extended.insert(ExtendedSummary::default());
                    s.offset = offset_u16(raw.offset);
                    s.raw_count = e.raw_count;
                    s.truncated = raw.truncated;
                    s.count = u8::try_from(e.count()).unwrap_or(u8::MAX);
                    for (slot, pair) in s.msrs.iter_mut().zip(e.msrs()) {
                        *slot = pair;
                        s.kept = s.kept.saturating_add(1);
                    }
                }
            }
            Record::Recovery(r) => {
                let idx = usize::try_from(c.recovery_count).unwrap_or(usize::MAX);
                if let Some(slot) = c.recovery.get_mut(idx) {
                    *slot = RecoverySummary {
                        offset: offset_u16(raw.offset),
                        truncated: raw.truncated,
                        rec: r,
                    };
                }
                c.recovery_count = c.recovery_count.saturating_add(1);
            }
            Record::Unknown => c.unknown_count = c.unknown_count.saturating_add(1),
            Record::Undersized => {
                c.malformed |= MALFORMED_UNDERSIZED;
                c.undersized_count = c.undersized_count.saturating_add(1);
            }
        }
    }

    c.visited = count_u32(walker.visited());
    c.stop = walker.stop();
    match c.stop {
        WalkStop::Count if walker.trailing_nonzero() => c.malformed |= MALFORMED_TRAILING_DATA,
        WalkStop::EndOfData => c.malformed |= MALFORMED_END_OF_DATA,
        WalkStop::BadSize => c.malformed |= MALFORMED_BAD_SIZE,
        WalkStop::Overrun => c.malformed |= MALFORMED_OVERRUN,
        WalkStop::Count | WalkStop::Truncated | WalkStop::Running => {}
    }
}

/// The Xen-side facts about record `i` of a conversion (`m` is `out[i]`),
/// which `struct mce` has no room for. `urgent`: fetched from the urgent
/// queue.
///
/// `domid` is the BANK's `mc_domid`, `running_domid` the GLOBAL's, `xen_cpu`
/// Xen's physical CPU (`m.extcpu`), `mc_flags` the GLOBAL's. The first
/// RECOVERY record of the same bank (a page-offline one preferred) gives the
/// `rec_*` fields and `mfn`.
///
/// Address space (xen/arch/x86/cpu/mcheck/mcaction.c `mc_memerr_dhandler`): when Intel recovery offlines a page owned
/// by a guest and injects a vMCE, Xen sets the BANK's `mc_domid` to the owner
/// and rewrites `mc_addr` to the guest-physical address; the machine frame is
/// then only in the RECOVERY record. So `addr` is guest-physical exactly when
/// the bank has a page-offline RECOVERY record, its `mc_domid` is a real
/// domain (below `DOMID_FIRST_RESERVED`) and `addr`'s frame differs from the
/// recorded `mfn`. Otherwise a valid address (`ADDRV`) is machine-physical.
pub fn xen_info(c: &Conversion, i: usize, m: &Mce, urgent: bool) -> XenInfo {
    let domid = c.bank_domid.get(i).copied().unwrap_or(DOMID_INVALID);
    let mut x = XenInfo {
        xen_cpu: m.extcpu,
        mc_flags: c.mc_flags,
        domid,
        running_domid: c.global_domid,
        flags: if urgent { XEN_INFO_URGENT } else { 0 },
        ..XenInfo::default()
    };
    let bank = u16::from(m.bank);
    let mine = || c.recoveries().iter().filter(move |r| r.rec.bank == bank);
    let rec = mine()
        .find(|r| r.rec.action_types & MC_ACTION_PAGE_OFFLINE != 0)
        .or_else(|| mine().next());
    if let Some(r) = rec {
        x.flags |= XEN_INFO_RECOVERY;
        if r.truncated {
            x.flags |= XEN_INFO_RECOVERY_TRUNCATED;
        }
        x.rec_types = r.rec.action_types;
        x.rec_flags = r.rec.action_flags;
        x.mfn = r.rec.mfn;
        x.rec_status = r.rec.status;
    }
    x.addr_space = if m.status & MCI_STATUS_ADDRV == 0 {
        ADDR_SPACE_NONE
    } else if rec.is_some_and(|r| r.rec.action_types & MC_ACTION_PAGE_OFFLINE != 0)
        && domid < DOMID_FIRST_RESERVED
        && m.addr.checked_shr(XEN_PAGE_SHIFT) != Some(x.mfn)
    {
        ADDR_SPACE_GUEST
    } else {
        ADDR_SPACE_MACHINE
    };
    x
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_eax_examples() {
        assert_eq!(cpuid_eax(6, 0x55, 4), 0x0005_0654);
        assert_eq!(cpuid_eax(0x19, 0x21, 0), 0x00A2_0F10);
        assert_eq!(cpuid_eax(0, 0, 0), 0);
    }

    #[test]
    fn empty_info_is_well_formed_and_empty() {
        let info = [0u8; MC_INFO_LEN];
        let mut out = [Mce::default(); MAX_BANKS_PER_INFO];
        let c = convert(&info, &[], 0, &mut out);
        assert_eq!(c.written, 0);
        assert_eq!(c.stop, WalkStop::Count);
        assert!(!c.is_malformed());
    }

    #[test]
    fn zero_size_header_stops_the_walk() {
        let mut info = [0u8; MC_INFO_LEN];
        info[0] = 3; // mi_nentries
        let mi = McInfo::new(&info);
        let mut w = mi.records();
        assert!(w.next().is_none());
        assert_eq!(w.stop(), WalkStop::BadSize);
        assert!(w.next().is_none());
    }
}
