// SPDX-License-Identifier: GPL-2.0-only

//! Which records count: the corrected memory errors whose record carries
//! a machine address a page can be retired for (Linux's RAS_CEC rule,
//! applied per vendor to Xen's record).

use xmc_core::mcinfo::XEN_PAGE_SHIFT;
use xmc_core::record::{
    Mce, XenInfo, MCI_STATUS_ADDRV, MCI_STATUS_DEFERRED, MCI_STATUS_MISCV, MCI_STATUS_PADDRV,
    MCI_STATUS_POISON, MCI_STATUS_UC, MCI_STATUS_VAL, VENDOR_AMD, VENDOR_HYGON, VENDOR_INTEL,
    XEN_INFO_PREVIOUS_BOOT,
};

/// `MCi_MISC` address mode "physical address" (bits 8:6).
const MCI_MISC_ADDR_PHYS: u64 = 2;

/// The machine frame of a corrected memory error whose page can be retired,
/// or `None`. Linux's RAS_CEC rule (arch/x86/kernel/cpu/mce/core.c
/// `cec_add_mce`: `mce_is_memory_error && mce_is_correctable &&
/// mce_usable_address`), applied to Xen's record:
///
/// - corrected: VAL, not UC, and on AMD/Hygon not DEFERRED (core.c
///   `mce_is_correctable`); from this boot;
/// - a usable address (core.c `mce_usable_address`: ADDRV, then per vendor,
///   see [`usable_address`]), and a machine address on Xen's side;
/// - a memory error: on Intel a memory-controller error code (0000 0000 1MMM
///   CCCC; stricter than core.c `mce_is_memory_error`, which also takes
///   cache-hierarchy codes: a corrected cache error says nothing about a DRAM
///   page, and mcelog's `memory-ce-threshold` counts DIMM errors only); on
///   AMD/Hygon see [`usable_address`] (legacy: the northbridge's DRAM ECC,
///   amd.c `legacy_mce_is_memory_error`; SMCA: a memory code with extended
///   error code 0, standing in for amd.c `smca_mce_is_memory_error`, which
///   names the UMC bank by its MCA_IPID, a register Xen's record lacks).
pub fn memory_ce_frame(m: &Mce, x: &XenInfo) -> Option<u64> {
    let amd = matches!(m.cpuvendor, VENDOR_AMD | VENDOR_HYGON);
    if m.status & MCI_STATUS_VAL == 0
        || m.status & MCI_STATUS_UC != 0
        || (amd && m.status & MCI_STATUS_DEFERRED != 0)
        || x.flags & XEN_INFO_PREVIOUS_BOOT != 0
        || !usable_address(m)
    {
        return None;
    }
    let code = (m.status & 0xFFFF) as u16 & !0x1000;
    let memctl = code & 0xFF80 == 0x0080;
    let bus_to_memory = code & 0xF800 == 0x0800 && code >> 2 & 3 == 0;
    let memory = match m.cpuvendor {
        VENDOR_INTEL => memctl,
        // Legacy: usable_address took only bank 4 with XEC 8, the DRAM ECC.
        VENDOR_AMD | VENDOR_HYGON if !amd_smca(m) => true,
        VENDOR_AMD | VENDOR_HYGON => amd_xec(m, 0x3F) == 0 && (memctl || bus_to_memory),
        _ => false,
    };
    if !memory {
        return None;
    }
    x.machine_addr(m).map(|a| a >> XEN_PAGE_SHIFT)
}

/// The CPU family of CPUID leaf 1 EAX (base family, plus the extended
/// family when the base is 0xF); 0 when the record has no CPUID.
pub fn cpu_family(cpuid: u32) -> u32 {
    let base = cpuid >> 8 & 0xF;
    if base == 0xF {
        base + (cpuid >> 20 & 0xFF)
    } else {
        base
    }
}

/// Whether an AMD/Hygon record comes from a Scalable MCA CPU. Linux asks
/// `X86_FEATURE_SMCA` (CPUID 0x80000007 EBX bit 3) of the CPU it runs on;
/// Xen's record carries the CPU's leaf 1 EAX only, so the family decides:
/// every AMD family from 17h (Zen) on has SMCA, and Hygon's 18h is a Zen.
fn amd_smca(m: &Mce) -> bool {
    match m.cpuvendor {
        VENDOR_AMD => cpu_family(m.cpuid) >= 0x17,
        VENDOR_HYGON => true,
        _ => false,
    }
}

/// AMD's extended error code, `MCi_STATUS[21:16]` masked (amd.c `XEC`).
fn amd_xec(m: &Mce, mask: u64) -> u64 {
    m.status >> 16 & mask
}

/// Linux's `mce_usable_address` (arch/x86/kernel/cpu/mce/core.c): is
/// `MCi_ADDR` a physical address this code can use for a page?
///
/// - ADDRV must be set.
/// - Intel: arch/x86/kernel/cpu/mce/intel.c `intel_mce_usable_address`:
///   MISCV set, `MCi_MISC` address mode physical (bits 8:6 = 2) and its
///   least significant valid bit (5:0) at most XEN_PAGE_SHIFT.
/// - AMD: arch/x86/kernel/cpu/mce/amd.c `amd_mce_usable_address`. Before
///   SMCA only the northbridge's DRAM ECC (bank 4, extended error code 8)
///   has a system physical address; any other bank 4 error has none. With
///   SMCA a bank's address is a system physical address when MCA_STATUS
///   PADDRV (bit 54) says so (Linux also checks the bank's MCA_CONFIG
///   PADDRV capability, bit 11, which Xen does not report; the status bit
///   is reserved on banks without it), or for a poison consumption (bit 43).
///   Everything else is not usable: an SMCA UMC (memory controller) error
///   carries a *normalized* DRAM address, which only the Data Fabric's
///   address map turns into a system address (Linux: drivers/ras/amd/atl;
///   neither Xen nor dom0 translates it), so such errors are not counted.
///   A record without CPUID (family unknown) is not used either.
/// - Hygon: Linux's switch has no case for it (so any ADDRV address is
///   taken); Hygon's family 18h is a Zen with the same normalized UMC
///   addresses, so it is held to the SMCA rule here.
/// - Other vendors: not used.
pub fn usable_address(m: &Mce) -> bool {
    if m.status & MCI_STATUS_ADDRV == 0 {
        return false;
    }
    match m.cpuvendor {
        VENDOR_INTEL => {
            m.status & MCI_STATUS_MISCV != 0
                && m.misc & 0x3F <= u64::from(XEN_PAGE_SHIFT)
                && m.misc >> 6 & 7 == MCI_MISC_ADDR_PHYS
        }
        VENDOR_AMD | VENDOR_HYGON => {
            if m.cpuvendor == VENDOR_AMD && m.cpuid == 0 {
                return false;
            }
            if !amd_smca(m) {
                // amd.c legacy_mce_is_memory_error: bank 4, XEC 8.
                return m.bank == 4 && amd_xec(m, 0x1F) == 8;
            }
            m.status & (MCI_STATUS_PADDRV | MCI_STATUS_POISON) != 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retire::tests::{ce, cfg, FakeXen};
    use crate::retire::{Retirer, State};
    use crate::scratch::Scratch;
    use xmc_core::record::ADDR_SPACE_GUEST;

    #[test]
    fn only_corrected_memory_errors_with_a_machine_address_count() {
        let (m, x) = ce(0x3A5B_1040);
        assert_eq!(memory_ce_frame(&m, &x), Some(0x3A5B1));
        let with = |f: &dyn Fn(&mut Mce, &mut XenInfo)| {
            let (mut m, mut x) = ce(0x3A5B_1040);
            f(&mut m, &mut x);
            memory_ce_frame(&m, &x)
        };
        // Uncorrected, not valid, no address, not a memory code: no.
        assert_eq!(with(&|m, _| m.status |= MCI_STATUS_UC), None);
        assert_eq!(with(&|m, _| m.status &= !MCI_STATUS_VAL), None);
        assert_eq!(with(&|m, _| m.status &= !MCI_STATUS_ADDRV), None);
        assert_eq!(with(&|m, _| m.status = 0x9C00_0000_0000_017A), None);
        // Intel: the address must be physical and exact to the page.
        assert_eq!(with(&|m, _| m.status &= !MCI_STATUS_MISCV), None);
        assert_eq!(with(&|m, _| m.misc = 0x8D), None); // LSB 13
        assert_eq!(with(&|m, _| m.misc = 0x8C), Some(0x3A5B1)); // LSB 12
        assert_eq!(with(&|m, _| m.misc = 0x46), None); // mode 1 (linear)
                                                       // Bit 12 (corrected-error filtering) is not part of the code.
        assert_eq!(with(&|m, _| m.status |= 0x1000), Some(0x3A5B1));
        // No Xen side, or an unknown address space: no machine address.
        assert_eq!(with(&|_, x| x.addr_space = 3), None);
        assert_eq!(with(&|_, x| x.flags |= XEN_INFO_PREVIOUS_BOOT), None);
        // A guest-physical address is never used: the machine frame is.
        assert_eq!(
            with(&|_, x| {
                x.addr_space = ADDR_SPACE_GUEST;
                x.mfn = 0x1_2345;
            }),
            Some(0x1_2345)
        );
        // AMD: the northbridge's DRAM ECC (bus error, II = memory, bank 4,
        // extended error code 8; family 10h), no MISC rule.
        assert_eq!(
            with(&|m, _| {
                m.cpuvendor = VENDOR_AMD;
                m.cpuid = 0x0010_0F42;
                m.bank = 4;
                m.status = 0x9400_0000_0008_0833;
            }),
            Some(0x3A5B1)
        );
        assert_eq!(with(&|m, _| m.cpuvendor = 5), None);
    }

    /// A corrected DRAM ECC error as an AMD CPU of `cpuid` logs it in `bank`.
    fn amd_ce(cpuid: u32, bank: u8, status: u64) -> Option<u64> {
        let (mut m, x) = ce(0x3A5B_1040);
        m.cpuvendor = VENDOR_AMD;
        m.cpuid = cpuid;
        m.bank = bank;
        m.status = status;
        m.misc = 0;
        memory_ce_frame(&m, &x)
    }

    #[test]
    fn amd_counts_only_system_physical_addresses() {
        let tmp = Scratch::new("retire");
        assert_eq!(cpu_family(0x0010_0F42), 0x10);
        assert_eq!(cpu_family(0x0060_0F12), 0x15);
        assert_eq!(cpu_family(0x0080_0F12), 0x17);
        assert_eq!(cpu_family(0x00A0_0F11), 0x19);
        assert_eq!(cpu_family(0x0006_06A6), 6);
        // Legacy AMD (families 10h, 15h): the northbridge's DRAM ECC (bank 4,
        // XEC 8) has a system physical address: counted.
        let nb = 0x9400_0000_0008_0833;
        assert_eq!(amd_ce(0x0010_0F42, 4, nb), Some(0x3A5B1));
        assert_eq!(amd_ce(0x0060_0F12, 4, nb), Some(0x3A5B1));
        // Another northbridge error (XEC 0x1F & 5: GART), or the same code in
        // another bank: no usable address.
        assert_eq!(amd_ce(0x0060_0F12, 4, 0x9400_0000_0005_0833), None);
        assert_eq!(amd_ce(0x0060_0F12, 2, nb), None);
        // Deferred is not corrected (core.c mce_is_correctable).
        assert_eq!(amd_ce(0x0060_0F12, 4, nb | MCI_STATUS_DEFERRED), None);
        // SMCA (Zen, family 17h/19h): a UMC DRAM ECC error (bank 15 on a
        // family 17h EPYC, XEC 0, memory-controller code) carries a
        // normalized DRAM address: not counted, whatever its code.
        for cpuid in [0x0080_0F12, 0x00A0_0F11] {
            for status in [0x9C00_0000_0000_009F, 0x9400_0000_0000_0833] {
                assert_eq!(amd_ce(cpuid, 15, status), None, "{cpuid:#x} {status:#x}");
            }
            // The same with MCA_STATUS PADDRV: a system physical address.
            assert_eq!(
                amd_ce(cpuid, 15, 0x9C00_0000_0000_009F | MCI_STATUS_PADDRV),
                Some(0x3A5B1)
            );
            // A legacy-looking bank 4 record is no exception on SMCA.
            assert_eq!(amd_ce(cpuid, 4, nb), None);
        }
        // Hygon (family 18h, a Zen): the SMCA rule.
        let (mut m, x) = ce(0x3A5B_1040);
        m.cpuvendor = VENDOR_HYGON;
        m.cpuid = 0x0090_0F02;
        m.bank = 15;
        m.misc = 0;
        assert_eq!(memory_ce_frame(&m, &x), None);
        m.status |= MCI_STATUS_PADDRV;
        assert_eq!(memory_ce_frame(&m, &x), Some(0x3A5B1));
        // No CPUID in the record: the family, and so the rule, is unknown.
        assert_eq!(amd_ce(0, 4, nb), None);
        // Uncounted AMD records change no page.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let (mut m, x) = ce(0x3A5B_1040);
        m.cpuvendor = VENDOR_AMD;
        m.cpuid = 0x0080_0F12;
        m.bank = 15;
        for t in 0..5 {
            r.record(&m, &x, 100 + t, &mut hv, &mut |_, _| {});
        }
        assert!(r.state.pages.is_empty() && hv.calls.is_empty());
    }
}
