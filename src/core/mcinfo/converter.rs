// SPDX-License-Identifier: GPL-2.0-only

//! The converter: one `mc_info` into mcelog records, one per BANK record,
//! with everything else worth logging counted and kept beside them
//! ([`Conversion`]), and the Xen-side facts of each record ([`xen_info`]).

use crate::record::{
    Mce, XenInfo, ADDR_SPACE_GUEST, ADDR_SPACE_MACHINE, ADDR_SPACE_NONE, EXTCPU_UNKNOWN,
    MCI_STATUS_ADDRV, VENDOR_UNKNOWN, XEN_INFO_RECOVERY, XEN_INFO_RECOVERY_TRUNCATED,
    XEN_INFO_URGENT,
};

use super::{
    find_cpu, Bank, Global, LogicalCpu, McInfo, MsrPair, Record, Recovery, WalkStop,
    DOMID_FIRST_RESERVED, DOMID_INVALID, MAX_BANKS_PER_INFO, MAX_RECORDS, MCINFO_EXTENDED_MAX_MSRS,
    MC_ACTION_PAGE_OFFLINE, MC_INFO_LEN, XEN_PAGE_SHIFT,
};

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
    fn empty_info_is_well_formed_and_empty() {
        let info = [0u8; MC_INFO_LEN];
        let mut out = [Mce::default(); MAX_BANKS_PER_INFO];
        let c = convert(&info, &[], 0, &mut out);
        assert_eq!(c.written, 0);
        assert_eq!(c.stop, WalkStop::Count);
        assert!(!c.is_malformed());
    }
}
