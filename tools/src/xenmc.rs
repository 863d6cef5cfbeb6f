// SPDX-License-Identifier: GPL-2.0-only

//! Byte images of Xen's `struct xen_mc` for the two injection commands, the
//! machine-check MSR numbers, and the safety rules of `xmc-inject`.
//!
//! Layout (xen/include/public/arch-x86/xen-mca.h, `struct xen_mc`, x86_64): `cmd` u32 @0,
//! `interface_version` u32 @4, union @8. msrinject: `mcinj_cpunr` u32 @8,
//! `mcinj_flags` u32 @12, `mcinj_count` u32 @16, `mcinj_domid` u16 @20
//! (Linux: padding; Xen reads it only with `MC_MSRINJ_F_GPADDR`, so 0),
//! `mcinj_msr[8]` @24, 16 bytes each (`reg` u64, `value` u64). mceinject:
//! `mceinj_cpunr` u32 @8. The whole struct is 152 bytes.

// `sizeof(struct xen_mc)` and `sizeof(struct mcinfo_logical_cpu)`, the
// `MCG_STATUS` MSR and the `MCi_STATUS` bits are the module's own
// (src/core/mcinfo/abi.rs, src/core/record/mce.rs). Injecting PCC panics Xen; AR (SRAR) hangs
// Xen or panics dom0.
use xmc_core::mcinfo::{LOGICAL_CPU_LEN, MSR_MCG_STATUS, XEN_MC_LEN};
use xmc_core::record::{
    MCI_STATUS_ADDRV, MCI_STATUS_AR, MCI_STATUS_MISCV, MCI_STATUS_PCC, MCI_STATUS_UC,
    MCI_STATUS_VAL,
};

/// `__HYPERVISOR_mca` (= `__HYPERVISOR_arch_0`).
pub const HYPERVISOR_MCA: u64 = 48;
/// `XEN_MCA_INTERFACE_VERSION`: every other value gets `-EACCES`.
pub const XEN_MCA_INTERFACE_VERSION: u32 = 0x01EC_C003;
/// `XEN_MC_physcpuinfo`.
pub const XEN_MC_PHYSCPUINFO: u32 = 3;
/// `XEN_MC_msrinject`.
pub const XEN_MC_MSRINJECT: u32 = 4;
/// `XEN_MC_mceinject`.
pub const XEN_MC_MCEINJECT: u32 = 5;
/// `MC_MSRINJ_F_INTERPOSE`: the values go to Xen's interpose table, not to
/// hardware (required for Intel bank registers).
pub const MC_MSRINJ_F_INTERPOSE: u32 = 1;
/// Capacity of `mcinj_msr[]`.
pub const MAX_MSRS: usize = 8;

/// Banks 0..32 fit between `MC0_CTL` (0x400) and the VMX MSRs (0x480).
pub const MAX_BANKS: u64 = 32;

/// `MCG_STATUS` RIPV|MCIP, what an injected #MC needs.
pub const MCG_STATUS_RIPV_MCIP: u64 = 0x5;

/// Corrected memory error (VAL|EN|MISCV|ADDRV, UC=0).
pub const STATUS_CORRECTED: u64 = 0x9C00_0000_0000_017A;
/// SRAO (VAL|UC|EN|MISCV|ADDRV|S, no PCC/AR).
pub const STATUS_SRAO: u64 = 0xBD00_0000_0000_00C0;
/// UCNA (VAL|UC|EN|MISCV|ADDRV, no S/PCC/AR): xen-mceinj's CMCI_UCNA_LLC
/// value (tools/misc/xen-mceinj.c, type 2), reported by Xen's poller.
pub const STATUS_UCNA: u64 = 0xBC20_0000_8000_0136;
/// `MCi_MISC` for the presets: address mode physical (2 << 6), LSB 6.
pub const DEFAULT_MISC: u64 = 0x86;
/// Lowest address injected without `--force`: Xen 4.20 panics on low
/// DOMID_IO pages such as 0x1000.
pub const MIN_SAFE_ADDR: u64 = 0x1000_0000;

/// `MCi_STATUS` MSR of `bank`.
pub fn msr_status(bank: u64) -> u64 {
    0x401 + 4 * bank
}
/// `MCi_ADDR` MSR of `bank`.
pub fn msr_addr(bank: u64) -> u64 {
    0x402 + 4 * bank
}
/// `MCi_MISC` MSR of `bank`.
pub fn msr_misc(bank: u64) -> u64 {
    0x403 + 4 * bank
}

/// Human name of an MSR this tool writes, e.g. `MC1_STATUS`.
pub fn msr_name(reg: u64) -> String {
    match reg {
        MSR_MCG_STATUS => "MCG_STATUS".to_string(),
        0x401..=0x47F => {
            let kind = ["CTL", "STATUS", "ADDR", "MISC"][(reg % 4) as usize];
            format!("MC{}_{kind}", (reg - 0x400) / 4)
        }
        _ => format!("MSR_{reg:#x}"),
    }
}

fn put(buf: &mut [u8; XEN_MC_LEN], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

/// A zeroed `xen_mc` with `cmd` and the interface version set.
fn header(cmd: u32) -> [u8; XEN_MC_LEN] {
    let mut b = [0u8; XEN_MC_LEN];
    put(&mut b, 0, &cmd.to_le_bytes());
    put(&mut b, 4, &XEN_MCA_INTERFACE_VERSION.to_le_bytes());
    b
}

/// `XEN_MC_msrinject` for `cpu` writing `msrs` (`(reg, value)` pairs, at
/// most [`MAX_MSRS`]) with `flags`.
pub fn msrinject(cpu: u32, flags: u32, msrs: &[(u64, u64)]) -> Result<[u8; XEN_MC_LEN], String> {
    if msrs.len() > MAX_MSRS {
        return Err(format!("at most {MAX_MSRS} MSRs per msrinject"));
    }
    let mut b = header(XEN_MC_MSRINJECT);
    put(&mut b, 8, &cpu.to_le_bytes());
    put(&mut b, 12, &flags.to_le_bytes());
    put(&mut b, 16, &(msrs.len() as u32).to_le_bytes());
    // @20 mcinj_domid stays 0: only used with MC_MSRINJ_F_GPADDR.
    for (i, (reg, value)) in msrs.iter().enumerate() {
        put(&mut b, 24 + 16 * i, &reg.to_le_bytes());
        put(&mut b, 32 + 16 * i, &value.to_le_bytes());
    }
    Ok(b)
}

/// `XEN_MC_mceinject` for `cpu`: Xen raises `int $0x12` there.
pub fn mceinject(cpu: u32) -> [u8; XEN_MC_LEN] {
    let mut b = header(XEN_MC_MCEINJECT);
    put(&mut b, 8, &cpu.to_le_bytes());
    b
}

/// `XEN_MC_physcpuinfo` with capacity `ncpus` at `info` (call 1: 0 and NULL,
/// Xen writes back only the online count; call 2: a buffer of `ncpus`
/// entries). Layout: `ncpus` u32 @8, `info` handle @16.
pub fn physcpuinfo(ncpus: u32, info: u64) -> [u8; XEN_MC_LEN] {
    let mut b = header(XEN_MC_PHYSCPUINFO);
    put(&mut b, 8, &ncpus.to_le_bytes());
    put(&mut b, 16, &info.to_le_bytes());
    b
}

/// `ncpus` from a `xen_mc` that Xen wrote back after physcpuinfo.
pub fn physcpuinfo_ncpus(xen_mc: &[u8]) -> u32 {
    xen_mc
        .get(8..12)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Xen CPU ids (`mc_cpunr`, u32 @0 of each 304-byte entry) of the first `n`
/// entries of a physcpuinfo array.
pub fn cpu_ids(info: &[u8], n: usize) -> Vec<u32> {
    info.chunks_exact(LOGICAL_CPU_LEN)
        .take(n)
        .map(|e| u32::from_le_bytes([e[0], e[1], e[2], e[3]]))
        .collect()
}

/// Whether Xen broadcasts #MC (and so `XEN_MC_mceinject`) to every CPU: its
/// `mce_is_broadcast()` rule, Intel family 6 model >= 0xE, applied to
/// dom0's /proc/cpuinfo (a PV dom0 sees the host's vendor/family/model).
pub fn mce_broadcast(cpuinfo: &str) -> bool {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let num = |name| field(name).and_then(|v| v.parse::<u32>().ok());
    field("vendor_id").as_deref() == Some("GenuineIntel")
        && num("cpu family") == Some(6)
        && num("model").is_some_and(|m| m >= 0xE)
}

/// The register values of one bank error to inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankError {
    /// Bank number (0..32).
    pub bank: u64,
    /// `MCi_STATUS`.
    pub status: u64,
    /// `MCi_ADDR`, written only if given.
    pub addr: Option<u64>,
    /// `MCi_MISC`, written only if given.
    pub misc: Option<u64>,
    /// `MCG_STATUS`, written only if given.
    pub mcg: Option<u64>,
}

impl BankError {
    /// The `(msr, value)` pairs, in the order MCG_STATUS, STATUS, ADDR, MISC.
    pub fn msrs(&self) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        if let Some(m) = self.mcg {
            v.push((MSR_MCG_STATUS, m));
        }
        v.push((msr_status(self.bank), self.status));
        if let Some(a) = self.addr {
            v.push((msr_addr(self.bank), a));
        }
        if let Some(m) = self.misc {
            v.push((msr_misc(self.bank), m));
        }
        v
    }

    /// Refuses what would crash the host: a bank out of range, PCC or AR
    /// statuses (always), low addresses (unless `force`).
    pub fn check(&self, force: bool) -> Result<(), String> {
        if self.bank >= MAX_BANKS {
            return Err(format!("bank {} out of range (0..{MAX_BANKS})", self.bank));
        }
        if self.status & MCI_STATUS_PCC != 0 {
            return Err(format!(
                "status {:#x} has PCC set: that panics Xen, refused",
                self.status
            ));
        }
        if self.status & MCI_STATUS_AR != 0 {
            return Err(format!(
                "status {:#x} has AR set (SRAR): that hangs Xen or panics dom0, refused",
                self.status
            ));
        }
        match self.addr {
            Some(a) if a < MIN_SAFE_ADDR && !force => Err(format!(
                "address {a:#x} is below {MIN_SAFE_ADDR:#x}: Xen 4.20 panics on low \
                 DOMID_IO pages; use a free high address or --force"
            )),
            _ => Ok(()),
        }
    }
}

/// A canned error of `xmc-inject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Corrected error: interpose only (poller), or with `--mce` a #MC.
    Corrected,
    /// Software-recoverable action-optional UC error, raised as #MC.
    Srao,
    /// UC error with no action needed, left for the poller.
    Ucna,
}

/// A preset turned into registers, plus whether to raise #MC afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What to interpose.
    pub error: BankError,
    /// Follow with `XEN_MC_mceinject`.
    pub trigger: bool,
}

impl Preset {
    /// The preset called `name` on the command line.
    pub fn from_name(name: &str) -> Option<Preset> {
        match name {
            "corrected" => Some(Preset::Corrected),
            "srao" => Some(Preset::Srao),
            "ucna" => Some(Preset::Ucna),
            _ => None,
        }
    }

    /// Builds the registers: `status` overrides the preset's default, `misc`
    /// defaults to [`DEFAULT_MISC`] when the status has MISCV, `mce` asks for
    /// a #MC (corrected only; SRAO always raises one, UCNA never).
    pub fn plan(
        self,
        bank: u64,
        addr: u64,
        misc: Option<u64>,
        status: Option<u64>,
        mce: bool,
    ) -> Result<Plan, String> {
        let (default, trigger) = match self {
            Preset::Corrected => (STATUS_CORRECTED, mce),
            Preset::Srao => (STATUS_SRAO, true),
            Preset::Ucna if mce => {
                return Err("ucna is left for Xen's poller; --mce is not offered".into())
            }
            Preset::Ucna => (STATUS_UCNA, false),
        };
        let status = status.unwrap_or(default);
        if status & (MCI_STATUS_VAL | MCI_STATUS_ADDRV) != MCI_STATUS_VAL | MCI_STATUS_ADDRV {
            return Err(format!(
                "status {status:#x} needs VAL and ADDRV for a preset"
            ));
        }
        let uc = status & MCI_STATUS_UC != 0;
        if (self == Preset::Corrected) == uc {
            let want = if uc { "UC=0" } else { "UC=1" };
            return Err(format!(
                "status {status:#x} does not fit this preset ({want} expected)"
            ));
        }
        let misc = match (status & MCI_STATUS_MISCV != 0, misc) {
            (true, m) => Some(m.unwrap_or(DEFAULT_MISC)),
            (false, None) => None,
            (false, Some(_)) => return Err(format!("status {status:#x} has no MISCV for --misc")),
        };
        let mcg = trigger.then_some(MCG_STATUS_RIPV_MCIP);
        let error = BankError {
            bank,
            status,
            addr: Some(addr),
            misc,
            mcg,
        };
        Ok(Plan { error, trigger })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn msrinject_layout_matches_xen_mca_h() {
        let msrs = [
            (0x17A, 5),
            (0x405, STATUS_SRAO),
            (0x406, 0x1000_0000),
            (0x407, 0x86),
        ];
        let b = msrinject(1, MC_MSRINJ_F_INTERPOSE, &msrs).unwrap();
        assert_eq!(b.len(), 152);
        assert_eq!(u32_at(&b, 0), 4);
        assert_eq!(u32_at(&b, 4), 0x01EC_C003);
        assert_eq!(u32_at(&b, 8), 1, "mcinj_cpunr");
        assert_eq!(u32_at(&b, 12), 1, "mcinj_flags");
        assert_eq!(u32_at(&b, 16), 4, "mcinj_count");
        assert_eq!(u32_at(&b, 20), 0, "mcinj_domid + pad");
        for (i, (reg, val)) in msrs.iter().enumerate() {
            assert_eq!(u64_at(&b, 24 + 16 * i), *reg);
            assert_eq!(u64_at(&b, 32 + 16 * i), *val);
        }
        assert!(b[24 + 16 * 4..].iter().all(|&x| x == 0));
        // The last of 8 pairs ends exactly at the end of the struct.
        let full = msrinject(0, 0, &[(0x401, u64::MAX); 8]).unwrap();
        assert_eq!(u64_at(&full, 144), u64::MAX);
        assert!(msrinject(0, 0, &[(0x401, 0); 9]).is_err());
    }

    #[test]
    fn mceinject_layout_matches_xen_mca_h() {
        let b = mceinject(3);
        assert_eq!(u32_at(&b, 0), 5);
        assert_eq!(u32_at(&b, 4), 0x01EC_C003);
        assert_eq!(u32_at(&b, 8), 3);
        assert!(b[12..].iter().all(|&x| x == 0));
    }

    #[test]
    fn physcpuinfo_layout_and_parsing() {
        let b = physcpuinfo(6, 0x1122_3344_5566_7788);
        assert_eq!(u32_at(&b, 0), 3);
        assert_eq!(u32_at(&b, 4), 0x01EC_C003);
        assert_eq!(u32_at(&b, 8), 6, "ncpus");
        assert_eq!(u32_at(&b, 12), 0, "_pad0");
        assert_eq!(u64_at(&b, 16), 0x1122_3344_5566_7788, "info handle");
        assert!(b[24..].iter().all(|&x| x == 0));
        assert_eq!(physcpuinfo_ncpus(&b), 6);
        assert_eq!(physcpuinfo_ncpus(&[0; 4]), 0);

        let mut info = vec![0xEEu8; 3 * LOGICAL_CPU_LEN];
        for (k, id) in [0u32, 2, 5].iter().enumerate() {
            info[k * LOGICAL_CPU_LEN..k * LOGICAL_CPU_LEN + 4].copy_from_slice(&id.to_le_bytes());
        }
        assert_eq!(cpu_ids(&info, 3), vec![0, 2, 5]);
        assert_eq!(cpu_ids(&info, 2), vec![0, 2]);
        assert_eq!(cpu_ids(&info, 9), vec![0, 2, 5]);
    }

    #[test]
    fn broadcast_rule() {
        let cpu = |v: &str, f: u32, m: u32| {
            format!("processor\t: 0\nvendor_id\t: {v}\ncpu family\t: {f}\nmodel\t\t: {m}\nmodel name\t: X\n")
        };
        assert!(mce_broadcast(&cpu("GenuineIntel", 6, 94)));
        assert!(mce_broadcast(&cpu("GenuineIntel", 6, 14)));
        assert!(!mce_broadcast(&cpu("GenuineIntel", 6, 13)));
        assert!(!mce_broadcast(&cpu("GenuineIntel", 15, 6)));
        assert!(!mce_broadcast(&cpu("AuthenticAMD", 6, 94)));
        assert!(!mce_broadcast(""));
    }

    #[test]
    fn msr_numbers_and_names() {
        assert_eq!(
            (msr_status(0), msr_addr(0), msr_misc(0)),
            (0x401, 0x402, 0x403)
        );
        assert_eq!(
            (msr_status(9), msr_addr(9), msr_misc(9)),
            (0x425, 0x426, 0x427)
        );
        assert_eq!(msr_name(0x17A), "MCG_STATUS");
        assert_eq!(msr_name(0x405), "MC1_STATUS");
        assert_eq!(msr_name(0x426), "MC9_ADDR");
        assert_eq!(msr_name(0x47F), "MC31_MISC");
        assert_eq!(msr_name(0x179), "MSR_0x179");
    }

    #[test]
    fn bank_error_msrs_only_when_given() {
        let e = BankError {
            bank: 2,
            status: 0x8000_0000_0000_0000,
            addr: None,
            misc: None,
            mcg: None,
        };
        assert_eq!(e.msrs(), vec![(0x409, 0x8000_0000_0000_0000)]);
        let e = BankError {
            addr: Some(0x2000_0000),
            misc: Some(1),
            mcg: Some(5),
            ..e
        };
        assert_eq!(
            e.msrs(),
            vec![
                (0x17A, 5),
                (0x409, 1 << 63),
                (0x40A, 0x2000_0000),
                (0x40B, 1)
            ]
        );
    }

    #[test]
    fn safety_checks() {
        let ok = BankError {
            bank: 1,
            status: STATUS_CORRECTED,
            addr: Some(MIN_SAFE_ADDR),
            misc: None,
            mcg: None,
        };
        assert!(ok.check(false).is_ok());
        let low = BankError {
            addr: Some(0x1000),
            ..ok.clone()
        };
        assert!(low.check(false).unwrap_err().contains("--force"));
        assert!(low.check(true).is_ok());
        let pcc = BankError {
            status: 0xBF20_0000_8000_017A,
            ..ok.clone()
        };
        assert!(pcc.check(true).unwrap_err().contains("PCC"));
        let srar = BankError {
            status: STATUS_SRAO | MCI_STATUS_AR,
            ..ok.clone()
        };
        assert!(srar.check(true).unwrap_err().contains("AR"));
        assert!(BankError { bank: 32, ..ok }.check(false).is_err());
    }

    #[test]
    fn presets() {
        let p = Preset::Corrected
            .plan(1, 0x1000_0000, None, None, false)
            .unwrap();
        assert!(!p.trigger);
        assert_eq!(p.error.mcg, None);
        assert_eq!(p.error.misc, Some(DEFAULT_MISC));
        assert_eq!(
            p.error.msrs(),
            vec![
                (0x405, STATUS_CORRECTED),
                (0x406, 0x1000_0000),
                (0x407, 0x86)
            ]
        );
        let p = Preset::Corrected
            .plan(1, 0x1000_0000, Some(7), None, true)
            .unwrap();
        assert!(p.trigger);
        assert_eq!(p.error.mcg, Some(5));
        assert_eq!(p.error.misc, Some(7));

        let p = Preset::Srao
            .plan(7, 0x1234_5000, None, None, false)
            .unwrap();
        assert!(p.trigger);
        assert_eq!(p.error.status, 0xBD00_0000_0000_00C0);
        assert_eq!(p.error.mcg, Some(5));
        assert!(p.error.check(false).is_ok());

        let p = Preset::Ucna
            .plan(9, 0x1000_0000, None, None, false)
            .unwrap();
        assert!(!p.trigger);
        assert_eq!(p.error.status, 0xBC20_0000_8000_0136);
        assert_eq!(p.error.mcg, None);
        assert!(Preset::Ucna.plan(9, 0x1000_0000, None, None, true).is_err());

        // Overrides must still fit the preset.
        assert!(Preset::Corrected
            .plan(1, 0x1000_0000, None, Some(STATUS_SRAO), false)
            .is_err());
        assert!(Preset::Srao
            .plan(1, 0x1000_0000, None, Some(STATUS_CORRECTED), false)
            .is_err());
        assert!(Preset::Corrected
            .plan(1, 0x1000_0000, None, Some(0x9000_0000_0000_0000), false)
            .is_err());
        let no_miscv = 0x9400_0000_0000_0151;
        let p = Preset::Corrected
            .plan(1, 0x1000_0000, None, Some(no_miscv), false)
            .unwrap();
        assert_eq!(p.error.misc, None);
        assert!(Preset::Corrected
            .plan(1, 0x1000_0000, Some(1), Some(no_miscv), false)
            .is_err());
        assert_eq!(Preset::from_name("srao"), Some(Preset::Srao));
        assert_eq!(Preset::from_name("fatal"), None);
    }
}
