// SPDX-License-Identifier: GPL-2.0-only

//! The physical CPU table (`XEN_MC_physcpuinfo`): each 304-byte `struct
//! mcinfo_logical_cpu` parsed, its vendor string and display family, model
//! and stepping turned into what mcelog reads (Linux's vendor number,
//! CPUID leaf 1 EAX), and the lookup by APIC id.

use crate::record::get as bytes_at;
use crate::record::{
    VENDOR_AMD, VENDOR_CENTAUR, VENDOR_HYGON, VENDOR_INTEL, VENDOR_UNKNOWN, VENDOR_ZHAOXIN,
};

use super::{
    u16_at, u32_at, u64_at, LOGICAL_CPU_LEN, LOGICAL_CPU_MAX_MSRS, MCINFO_MSR_LEN, MSR_AMD_PPIN,
    MSR_MCG_CAP, MSR_PPIN, VENDORID_AMD, VENDORID_CENTAUR, VENDORID_HYGON, VENDORID_INTEL,
    VENDORID_ZHAOXIN,
};

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
}
