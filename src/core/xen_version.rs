// SPDX-License-Identifier: GPL-2.0-only

//! Xen's version, and the Xen releases with known machine-check defects.
//!
//! Xen answers `XENVER_version` with `major << 16 | minor` and
//! `XENVER_extraversion` with a NUL-padded 16-byte string
//! (xen/include/public/version.h, `xen_extraversion_t`), which xen/Makefile
//! sets to `XEN_EXTRAVERSION ?= .<patch>$(XEN_VENDORVERSION)`:
//!
//! - `.4`: release 4.20.4;
//! - `.5-pre`: the stable branch after 4.20.4, before 4.20.5 (Debian builds
//!   from the stable branch: its `xen-hypervisor-4.20-amd64`
//!   4.20.4+63-g7abfd2bce2-0+deb13u1 reports `.5-pre`, read from the
//!   package's hypervisor image);
//! - `.0-rc1`: a release candidate of 4.21.0;
//! - `-unstable`: the master branch before the first release candidate;
//! - anything after those (`XEN_VENDORVERSION`, e.g. `.5-15`): a vendor's
//!   build, which may carry fixes of its own.
//!
//! [`DEFECTS`] is the table of Xen's machine-check defects this driver knows,
//! with the releases that fix them, checked against the tags of Xen's
//! repository (`git tag --contains` of the fix and of each stable branch's
//! backport) up to the releases of [`CHECKED`]. A version is affected only
//! when it certainly is: a `-pre` tree of the release that got the fix, a
//! release newer than the ones checked on a branch without the fix, or a
//! vendor's build, are unknown, and the module says nothing about them.
//!
//! This file is shared with the kernel module
//! (`#[path = "core/xen_version.rs"] mod xen_version;`): it uses only
//! `core` and the other pure modules.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![forbid(unsafe_code)]

use core::fmt;

use crate::mcinfo::LogicalCpu;
use crate::record::VENDOR_INTEL;

/// `XEN_EXTRAVERSION_LEN`: the bytes `XENVER_extraversion` writes.
pub const EXTRAVERSION_LEN: usize = 16;

/// A Xen release, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    /// `XEN_VERSION`.
    pub major: u16,
    /// `XEN_SUBVERSION`.
    pub minor: u16,
    /// The number in `XEN_EXTRAVERSION` (`.4` is 4).
    pub patch: u16,
}

const fn rel(major: u16, minor: u16, patch: u16) -> Release {
    Release {
        major,
        minor,
        patch,
    }
}

impl Release {
    fn branch(self) -> (u16, u16) {
        (self.major, self.minor)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What Xen answered, as it answered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported {
    /// `XENVER_version`: `major << 16 | minor`.
    pub version: u32,
    /// `XENVER_extraversion`, NUL padded.
    pub extra: [u8; EXTRAVERSION_LEN],
}

impl Reported {
    /// What Xen answered, from the extraversion's text (at most
    /// [`EXTRAVERSION_LEN`] bytes are kept).
    #[cfg(not(xmc_kernel))]
    pub fn new(version: u32, extra: &[u8]) -> Reported {
        let mut r = Reported {
            version,
            extra: [0; EXTRAVERSION_LEN],
        };
        for (d, s) in r.extra.iter_mut().zip(extra) {
            *d = *s;
        }
        r
    }

    /// The extraversion up to its first NUL.
    fn extra_text(&self) -> &[u8] {
        let n = self
            .extra
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(EXTRAVERSION_LEN);
        self.extra.get(..n).unwrap_or(&[])
    }

    /// The version, or `None` when Xen's answer has a form this file does
    /// not know (e.g. `<denied>`, which an XSM policy may answer).
    pub fn parse(&self) -> Option<XenVersion> {
        let major = u16::try_from(self.version >> 16).ok()?;
        let minor = u16::try_from(self.version & 0xffff).ok()?;
        if major == 0 {
            return None;
        }
        let s = self.extra_text();
        let (patch, released, rest) = if let Some(rest) = s.strip_prefix(b"-unstable") {
            (0, false, rest)
        } else {
            let (patch, rest) = number(s.strip_prefix(b".")?)?;
            if let Some(rest) = rest.strip_prefix(b"-pre") {
                (patch, false, rest)
            } else if let Some(rest) = rest.strip_prefix(b"-rc") {
                (patch, false, number(rest).map_or(rest, |(_, r)| r))
            } else {
                (patch, true, rest)
            }
        };
        Some(XenVersion {
            major,
            minor,
            patch,
            released,
            vendor: !rest.is_empty(),
        })
    }
}

/// Xen's own spelling, `4.20.5-pre`; bytes that are not printable ASCII
/// are shown as `?`.
impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.version >> 16, self.version & 0xffff)?;
        for &b in self.extra_text() {
            let c = if (0x20..0x7f).contains(&b) { b } else { b'?' };
            write!(f, "{}", char::from(c))?;
        }
        Ok(())
    }
}

/// A leading decimal number and the rest, or `None` without a digit (or
/// beyond `u16`).
fn number(s: &[u8]) -> Option<(u16, &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let (digits, rest) = (s.get(..n)?, s.get(n..)?);
    if digits.is_empty() {
        return None;
    }
    let mut v: u16 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)?
            .checked_add(u16::from(d.wrapping_sub(b'0')))?;
    }
    Some((v, rest))
}

/// A parsed version: a release, or a tree on its way to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenVersion {
    /// `XEN_VERSION`.
    pub major: u16,
    /// `XEN_SUBVERSION`.
    pub minor: u16,
    /// The release this is (`released`) or leads to (`-pre`, `-rc`; 0 for
    /// `-unstable`).
    pub patch: u16,
    /// A release; `false` for a tree before release `patch`, which holds
    /// every release of the branch before `patch` and possibly more.
    pub released: bool,
    /// A vendor's suffix follows (`XEN_VENDORVERSION`).
    pub vendor: bool,
}

/// Whether a defect is in a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Certainly has it.
    Affected,
    /// Certainly does not.
    NotAffected,
    /// Cannot tell.
    Unknown,
}

/// Whether `v` has a change first released in `first` (the change that
/// brought a defect, or its fix): `None` when it cannot be told.
fn has(v: &XenVersion, first: Release) -> Option<bool> {
    let (branch, first_branch) = ((v.major, v.minor), first.branch());
    if branch != first_branch {
        return Some(branch > first_branch);
    }
    if v.released {
        return Some(v.patch >= first.patch);
    }
    // A tree before release `patch` holds release `patch - 1` and maybe
    // more.
    match v.patch.cmp(&first.patch) {
        core::cmp::Ordering::Greater => Some(true),
        core::cmp::Ordering::Less => Some(false),
        core::cmp::Ordering::Equal => None,
    }
}

/// The CPUs a defect concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpus {
    /// Every CPU.
    Any,
    /// Intel CPUs of a family other than 6 and 15 (the boot CPU's).
    IntelOtherThan6And15,
}

/// The boot CPU's vendor and family, from `XEN_MC_physcpuinfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootCpu {
    /// Linux `X86_VENDOR_*` (from the CPUID vendor string).
    pub vendor: u8,
    /// Display family.
    pub family: u32,
}

impl BootCpu {
    /// Xen's CPU 0 (its boot CPU, which Xen never takes offline), or the
    /// first CPU listed; `None` for an empty list.
    pub fn of(cpus: &[LogicalCpu]) -> Option<BootCpu> {
        let c = cpus.iter().find(|c| c.cpunr == 0).or(cpus.first())?;
        Some(BootCpu {
            vendor: c.cpuvendor(),
            family: c.family,
        })
    }
}

impl Cpus {
    /// Whether the defect concerns `cpu` (`None`: the CPU is not known).
    pub fn concern(self, cpu: Option<BootCpu>) -> Option<bool> {
        match self {
            Cpus::Any => Some(true),
            Cpus::IntelOtherThan6And15 => {
                cpu.map(|c| c.vendor == VENDOR_INTEL && c.family != 6 && c.family != 15)
            }
        }
    }
}

/// A machine-check defect of Xen releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defect {
    /// Short name (tests, README).
    pub name: &'static str,
    /// The fix on Xen's master branch (abbreviated commit id).
    pub fix: &'static str,
    /// The first release with the defect; `None`: every release before the
    /// fix.
    pub introduced: Option<Release>,
    /// The first release of the branch that had the fix from its start
    /// (`X.Y.0`; its release candidates count as unknown).
    pub mainline: Release,
    /// The first release with the fix on each older stable branch that got
    /// it (the backports of `fix`); branches not named here never got it up
    /// to the release of [`CHECKED`].
    pub backports: &'static [Release],
    /// The CPUs it concerns.
    pub cpus: Cpus,
    /// What the defect does, after "Xen 4.20.1: " in the warning.
    pub effect: &'static str,
    /// The module warns at load; `false`: the module works around it and
    /// says nothing.
    pub warn: bool,
}

/// "x86/mcheck: fix mca_allbanks updating" (532988dccc, fixing 560cf418c845
/// "x86/mcheck: allow varying bank counts per CPU", 4.13.0):
/// xen/arch/x86/cpu/mcheck/mce.c `mca_cap_init` fills the old all-banks mask
/// and frees it, and keeps the new one zeroed. `mcheck_cmn_handler`, the AMD
/// poller (amd_nonfatal.c), `intel_mce_post_reset` and, without CMCI,
/// `set_poll_bankmask` use it: they log no bank, and a #MC with no bank
/// logged ends in `mc_panic("MCE: No CPU found valid MCE, need reset")`.
/// Backports 01b8bc41e8 (4.19.4) and 247b708b14 (4.20.2).
pub const MCA_ALLBANKS: Defect = Defect {
    name: "mca_allbanks",
    fix: "532988dccc",
    introduced: Some(rel(4, 13, 0)),
    mainline: rel(4, 21, 0),
    backports: &[rel(4, 19, 4), rel(4, 20, 2)],
    cpus: Cpus::Any,
    effect: "logs no machine-check bank: a #MC resets the host (\"No CPU found \
             valid MCE\"), and the AMD poller, the Intel poller without CMCI and \
             the boot-time scan report nothing; only Intel's CMCI still reports",
    warn: true,
};

/// "x86: relax some CPU checks for non-64 bit CPUs" (28d61bb203): until
/// then xen/arch/x86/cpu/mcheck/mce.c `mcheck_init` calls
/// `intel_mcheck_init` for Intel families 6 and 15 only; on any other
/// family Xen sets up no MCA at all and leaves CR4.MCE clear, so a machine
/// check shuts the CPU down. Not backported.
pub const INTEL_FAMILIES: Defect = Defect {
    name: "intel_families",
    fix: "28d61bb203",
    introduced: None,
    mainline: rel(4, 22, 0),
    backports: &[],
    cpus: Cpus::IntelOtherThan6And15,
    effect: "sets up no machine-check architecture, knowing Intel families 6 and \
             15 only: nothing is reported, and a machine check puts the CPU into \
             shutdown (CR4.MCE is clear)",
    warn: true,
};

/// "x86/MCE: restore CPU vendor reporting to the outside world"
/// (a94c5fd829, fixing 408413051144 of 4.9.0 and 0cd074144cbb of 4.13.0):
/// before it, `mc_vendor` of `XEN_MC_physcpuinfo` and `cpuvendor` of the
/// records Xen saves in ERST are Xen's own vendor numbers (4.13 on: the
/// bitmap, Intel 1, AMD 2, Centaur 4, Shanghai 8, Hygon 16), not Linux's.
/// The module takes the vendor from the CPUID string, and `erst.rs`
/// reads both numberings. Backports b74f88c938 (4.19.5), 1c762d6c46
/// (4.20.3), 93614ffa48 (4.21.1).
pub const VENDOR_NUMBERS: Defect = Defect {
    name: "vendor_numbers",
    fix: "a94c5fd829",
    introduced: Some(rel(4, 9, 0)),
    mainline: rel(4, 22, 0),
    backports: &[rel(4, 19, 5), rel(4, 20, 3), rel(4, 21, 1)],
    cpus: Cpus::Any,
    effect: "reports CPU vendors in its own numbering",
    warn: false,
};

/// Every defect, in the order the module reports them.
pub const DEFECTS: [&Defect; 3] = [&MCA_ALLBANKS, &INTEL_FAMILIES, &VENDOR_NUMBERS];

/// The newest release of each branch the table was checked against (the
/// `RELEASE-*` tags of Xen's repository, 2026-08). A branch without the fix
/// is affected up to its release here, and unknown after it (it may get a
/// backport); branches before 4.13 were not checked.
pub const CHECKED: [Release; 10] = [
    rel(4, 13, 5),
    rel(4, 14, 6),
    rel(4, 15, 7),
    rel(4, 16, 7),
    rel(4, 17, 7),
    rel(4, 18, 6),
    rel(4, 19, 6),
    rel(4, 20, 4),
    rel(4, 21, 2),
    rel(4, 22, 0),
];

impl Defect {
    /// Whether Xen `v` has the defect (on the CPUs it concerns).
    pub fn verdict(&self, v: &XenVersion) -> Verdict {
        let introduced = self.introduced.map_or(Some(true), |r| has(v, r));
        match (introduced, self.fixed(v)) {
            (Some(false), _) | (_, Some(true)) => Verdict::NotAffected,
            // A vendor's build may have the fix; nobody takes one out.
            (Some(true), Some(false)) if !v.vendor => Verdict::Affected,
            _ => Verdict::Unknown,
        }
    }

    /// Whether `v` has the fix.
    fn fixed(&self, v: &XenVersion) -> Option<bool> {
        let branch = (v.major, v.minor);
        if branch >= self.mainline.branch() {
            return has(v, self.mainline);
        }
        if let Some(&first) = self.backports.iter().find(|r| r.branch() == branch) {
            return has(v, first);
        }
        // Not backported up to the newest release checked; a tree before
        // release `patch` holds only older releases.
        match CHECKED.iter().find(|r| r.branch() == branch) {
            Some(newest) if v.patch <= newest.patch => Some(false),
            _ => None,
        }
    }

    /// The releases with the fix, oldest branch first.
    pub fn fixed_in(&self) -> FixedIn<'_> {
        FixedIn(self)
    }
}

/// `4.19.4, 4.20.2 and 4.21.0`: the first fixed release of each branch.
#[derive(Clone, Copy, Debug)]
pub struct FixedIn<'a>(&'a Defect);

impl fmt::Display for FixedIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.backports.len();
        for (i, r) in self.0.backports.iter().enumerate() {
            let sep = if i.saturating_add(1) == n {
                " and"
            } else {
                ","
            };
            write!(f, "{r}{sep} ")?;
        }
        write!(f, "{}", self.0.mainline)
    }
}

/// One line for dmesg: a known defect of the Xen the module runs on.
#[derive(Clone, Copy, Debug)]
pub struct Warning {
    /// The defect.
    pub defect: &'static Defect,
    /// Xen's version as Xen spelled it.
    pub xen: Reported,
    /// The boot CPU (named for defects of some CPUs only).
    pub cpu: Option<BootCpu>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.defect;
        write!(f, "Xen {}", self.xen)?;
        if let (Cpus::IntelOtherThan6And15, Some(c)) = (d.cpus, self.cpu) {
            write!(f, " on this Intel CPU (family {})", c.family)?;
        }
        write!(
            f,
            ": {} (Xen commit {}, fixed in Xen {})",
            d.effect,
            d.fix,
            d.fixed_in()
        )
    }
}

/// The warnings for Xen `xen` on boot CPU `cpu`: the defects this Xen
/// certainly has on this CPU and the module cannot work around. An
/// unparseable version, an unknown verdict or an unknown CPU give none.
pub fn warnings(xen: Reported, cpu: Option<BootCpu>) -> impl Iterator<Item = Warning> {
    let v = xen.parse();
    DEFECTS.into_iter().filter_map(move |d| {
        let affected = d.warn
            && v.is_some_and(|v| d.verdict(&v) == Verdict::Affected)
            && d.cpus.concern(cpu) == Some(true);
        affected.then_some(Warning {
            defect: d,
            xen,
            cpu,
        })
    })
}
