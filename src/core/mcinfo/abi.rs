// SPDX-License-Identifier: GPL-2.0-only

//! The ABI of Xen's machine-check interface as this driver reads it
//! (xen/include/public/arch-x86/xen-mca.h): the sizes of `struct mc_info`
//! and its records, the record types and flags, the reserved domain ids,
//! the MSRs and the CPUID vendor strings. The sizes are checked against
//! each other at compile time.

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
/// `sizeof(struct xen_mc)`: the hypercall argument. The kernel build uses it
/// only in hypercall.rs's compile-time check against the C `sizeof`, which
/// rustc 1.85 (trixie's, for Debian's kernels) does not count as a use.
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub const XEN_MC_LEN: usize = 152;

/// Upper bound on the records one `mc_info` can hold (every header is at
/// least 4 bytes): the walker never visits more.
pub const MAX_RECORDS: usize = 190;
const _: () = assert!(MAX_RECORDS * MCINFO_COMMON_LEN == MC_INFO_DATA_LEN);

/// Most BANK records one well-formed `mc_info` can carry (GLOBAL + 15 × BANK
/// = 752 bytes), and so the size of [`convert`]'s output array.
///
/// [`convert`]: super::convert
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

/// RECOVERY `page_offline.status`, and the answer of the
/// `XEN_SYSCTL_page_offline_op` sysctl's `sysctl_page_offline`: Xen's
/// `PG_OFFLINE_*` bits (xen/include/public/sysctl.h), the owner domain in
/// the bits from [`PG_OFFLINE_OWNER_SHIFT`] up. The driver passes the status
/// through (`XenInfo::rec_status`); xen-mcelog-dump reads it.
///
/// `PG_OFFLINE_OFFLINED`, also `PG_ONLINE_ONLINED` (of `sysctl_page_online`).
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_OFFLINED: u32 = 1 << 1;
/// `PG_OFFLINE_PENDING`.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_PENDING: u32 = 1 << 2;
/// `PG_OFFLINE_FAILED`.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_FAILED: u32 = 1 << 3;
/// `PG_OFFLINE_AGAIN`.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_AGAIN: u32 = 1 << 4;
/// `PG_OFFLINE_STATUS_MASK`: the result bits above.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_STATUS_MASK: u32 = 0xFF;
/// `PG_OFFLINE_XENPAGE`.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_XENPAGE: u32 = 1 << 8;
/// `PG_OFFLINE_DOM0PAGE`.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_DOM0PAGE: u32 = 1 << 9;
/// `PG_OFFLINE_ANONYMOUS`: in use, no owner.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_ANONYMOUS: u32 = 1 << 10;
/// `PG_OFFLINE_NOT_CONV_RAM`.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_NOT_CONV_RAM: u32 = 1 << 11;
/// `PG_OFFLINE_OWNED`: the owner is in the bits from
/// [`PG_OFFLINE_OWNER_SHIFT`] up.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_OWNED: u32 = 1 << 12;
/// `PG_OFFLINE_BROKEN`.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_BROKEN: u32 = 1 << 13;
/// `PG_OFFLINE_OWNER_SHIFT`: where the owner domain starts.
#[cfg(not(xmc_kernel))]
pub const PG_OFFLINE_OWNER_SHIFT: u32 = 16;

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
