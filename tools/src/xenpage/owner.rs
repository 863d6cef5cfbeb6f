// SPDX-License-Identifier: GPL-2.0-only

//! Whether a guest owns a page, asked without marking it
//! (docs/page-retirement.md, "The owner probe"): every ordinary domain Xen
//! lists (`XEN_SYSCTL_getdomaininfolist`, through /dev/xen/privcmd like the
//! page-offline sysctl) is asked in turn with xen_mcelog's
//! `XMC_PAGE_OWNER`, which has Xen map the frame read-only for that domain
//! and succeeds only if the domain owns it ([`guest_owner`]).
//!
//! A domain created after a listing is not in it: once every domain listed
//! answered no, Xen's list is read again and the new ones are asked, up to
//! [`MAX_LISTINGS`] listings. The domains are asked one after another, so
//! a domain can get the page after its own answer: for the first domain
//! asked, that window runs through every other domain's answer and the
//! listing after them, up to the offline request; a new domain is caught
//! by the listing, a domain asked before is not asked again (that would
//! only move the window, never close it). A page a guest gets in there is
//! named by the page-offline sysctl, and its mark is taken back at once.
//!
//! When the probe cannot answer ([`GuestOwner::Unknown`], why in
//! [`NoAnswer`]), nothing is known: page retirement then sends no offline
//! request at all (tools/src/retire/policy/offline.rs). That includes
//! Xen's XSM refusing the probe. Its hook (`xsm_mmu_update`, for each
//! request in xen/arch/x86/mm.c `do_mmu_update`, once `get_pg_owner` found
//! the domain: no such domain is `-ESRCH` first) refuses a dom0 that
//! is not the control domain with `-EPERM` under the dummy policy
//! (xen/include/xsm/dummy.h `xsm_default_action`), for every domain alike;
//! under FLASK it asks `mmu map_read` on the domain (xen/xsm/flask/hooks.c
//! `flask_mmu_update`), and a policy that does not allow it refuses with
//! `-EACCES` (xen/xsm/flask/avc.c `avc_has_perm`), never `-EPERM`. Any
//! other `-EPERM` for a frame Xen's query calls conventional RAM is a frame
//! of `DOMID_IO`'s (the first MiB, `arch_init_memory`). None says whether
//! a guest owns the page.
//!
//! Everything but [`OwnerDevice`] and the listing's hypercall
//! (`Sysctl::domain_ids`) is pure and host-tested.

use std::fs::File;
use std::path::{Path, PathBuf};

use xmc_chardev::decisions::owner::{answer, Answer, MAX_DOMID, XEN_EACCES, XEN_EPERM};

use super::{Sysctl, XenPages, DOMID_FIRST_RESERVED, HYPERVISOR_SYSCTL, SYSCTL_LEN};
use crate::sys::{self, Locked, Mode};

// The ioctl's domain limit is Xen's, as the record walker has it.
const _: () = assert!(MAX_DOMID == DOMID_FIRST_RESERVED - 1);

/// `XEN_SYSCTL_getdomaininfolist` (xen/include/public/sysctl.h).
pub const XEN_SYSCTL_GETDOMAININFOLIST: u32 = 6;
/// `sizeof(struct xen_domctl_getdomaininfo)` on x86 (xen/include/public/domctl.h,
/// the same from Xen 4.17 to 4.21): the domain id at offset 0.
pub const DOMAININFO_LEN: usize = 112;
/// Domains read per call.
const BATCH: u32 = 64;
/// How often Xen's list is read for one question: the first listing, and
/// again while it shows domains not asked yet.
pub const MAX_LISTINGS: usize = 3;

/// The `struct xen_sysctl` image of `XEN_SYSCTL_getdomaininfolist`: the
/// domains from `first` on, at most `max` records into the buffer at
/// `buffer`. Layout (x86-64): cmd @0, interface_version @4;
/// `xen_sysctl_getdomaininfolist` at 8: first_domain (domid_t) @8,
/// max_domains @12, the guest handle buffer (64-bit) @16, num_domains
/// (out) @24.
pub fn domainlist_image(version: u32, first: u16, max: u32, buffer: u64) -> [u8; SYSCTL_LEN] {
    let mut b = [0u8; SYSCTL_LEN];
    b[0..4].copy_from_slice(&XEN_SYSCTL_GETDOMAININFOLIST.to_le_bytes());
    b[4..8].copy_from_slice(&version.to_le_bytes());
    b[8..10].copy_from_slice(&first.to_le_bytes());
    b[12..16].copy_from_slice(&max.to_le_bytes());
    b[16..24].copy_from_slice(&buffer.to_le_bytes());
    b
}

/// `__HYPERVISOR_xsm_op` (xen/include/public/xen.h): FLASK's `flask_op`
/// when Xen runs FLASK, else `-ENOSYS` (the dummy policy's `do_xsm_op`).
pub const HYPERVISOR_XSM_OP: u64 = 27;
/// `FLASK_GETENFORCE` (xen/include/public/xsm/flask_op.h): answers
/// `flask_enforcing` itself, 1 or 0, without a permission check
/// (xen/xsm/flask/flask_op.c `do_flask_op`).
pub const FLASK_GETENFORCE: u32 = 2;
/// `XEN_FLASK_INTERFACE_VERSION`, 1 since Xen 4.2 (another makes FLASK
/// answer `-ENOSYS`, as no FLASK does).
pub const XEN_FLASK_INTERFACE_VERSION: u32 = 1;
/// The buffer for a `struct xen_flask_op`: cmd @0, interface_version @4,
/// then a union whose largest member is under 40 bytes; Xen copies
/// `sizeof(xen_flask_op_t)` from it.
pub const FLASK_OP_LEN: usize = 128;

/// The `struct xen_flask_op` image of `FLASK_GETENFORCE`.
pub fn getenforce_image() -> [u8; FLASK_OP_LEN] {
    let mut b = [0u8; FLASK_OP_LEN];
    b[0..4].copy_from_slice(&FLASK_GETENFORCE.to_le_bytes());
    b[4..8].copy_from_slice(&XEN_FLASK_INTERFACE_VERSION.to_le_bytes());
    b
}

/// Whether Xen's list of domains holds every domain, from `FLASK_GETENFORCE`'s
/// result `rc`. `XEN_SYSCTL_getdomaininfolist` leaves out each domain for
/// which XSM refuses dom0 `getdomaininfo` (xen/common/sysctl.c). The dummy
/// policy (no FLASK: `-ENOSYS`) allows it to the control domain for every
/// domain, and FLASK permissive (0) only logs a refusal; FLASK enforcing (1)
/// hides the domains its policy keeps from dom0, and a page no listed
/// domain owns may then be a hidden guest's. `Err`: the list cannot be
/// trusted, why.
pub fn list_complete(rc: i64) -> Result<(), String> {
    match rc {
        0 => Ok(()),
        r if r == -i64::from(libc::ENOSYS) => Ok(()),
        1 => Err(
            "Xen's FLASK policy is enforcing: Xen's list of domains leaves out every domain the \
             policy hides from dom0 (domain getdomaininfo), so a page no listed domain owns may \
             still be a guest's"
                .into(),
        ),
        r => Err(format!(
            "FLASK_GETENFORCE answered {r}: whether Xen's list holds every domain is unknown"
        )),
    }
}

/// The domain ids of the first `num` records of a listing's buffer.
pub fn domain_ids(buf: &[u8], num: usize) -> Vec<u16> {
    buf.chunks_exact(DOMAININFO_LEN)
        .take(num)
        .map(|r| u16::from_le_bytes([r[0], r[1]]))
        .collect()
}

impl Sysctl {
    /// Xen's ordinary domains but dom0 (`XEN_SYSCTL_getdomaininfolist`, in
    /// batches, in domid order). `Err` also when the list may leave domains
    /// out ([`list_complete`]).
    pub(super) fn domain_ids(&mut self) -> Result<Vec<u16>, String> {
        let op = Locked::new(&getenforce_image())
            .map_err(|e| format!("cannot lock the flask_op buffer: {e}"))?;
        list_complete(sys::privcmd_hypercall(
            self.privcmd()?,
            HYPERVISOR_XSM_OP,
            &op,
        ))?;
        let mut ids = Vec::new();
        let mut first = 0u16;
        loop {
            let buf = Locked::new(&[0u8; BATCH as usize * DOMAININFO_LEN])
                .map_err(|e| format!("cannot lock the domain list's buffer: {e}"))?;
            let (rc, num) = self.versioned("XEN_SYSCTL_getdomaininfolist", |pc, v| {
                let op = Locked::new(&domainlist_image(v, first, BATCH, buf.addr()))
                    .map_err(|e| format!("cannot lock the sysctl buffer: {e}"))?;
                let rc = sys::privcmd_hypercall(pc, HYPERVISOR_SYSCTL, &op);
                let b = op.bytes();
                Ok((rc, u32::from_le_bytes([b[24], b[25], b[26], b[27]])))
            })?;
            if rc != 0 {
                return Err(format!(
                    "XEN_SYSCTL_getdomaininfolist failed: {}",
                    std::io::Error::from_raw_os_error(i32::try_from(-rc).unwrap_or(0))
                ));
            }
            let got = domain_ids(&buf.bytes(), num.min(BATCH) as usize);
            let last = got.last().copied();
            ids.extend(got.into_iter().filter(|&d| d != 0 && d <= MAX_DOMID));
            match last {
                Some(l) if num >= BATCH && l < MAX_DOMID => first = l + 1,
                _ => return Ok(ids),
            }
        }
    }
}

/// xen_mcelog's `XMC_PAGE_OWNER` through its device, opened for each
/// question (no descriptor kept across a reload of the module).
pub struct OwnerDevice {
    path: PathBuf,
}

impl OwnerDevice {
    /// Through the device at `path`.
    pub fn new(path: &Path) -> OwnerDevice {
        OwnerDevice {
            path: path.to_path_buf(),
        }
    }

    /// Does `domid` own `mfn`, as Xen answered; `Err`: not asked, why.
    pub fn ask(&self, mfn: u64, domid: u16) -> Result<Answer, NotAsked> {
        let p = self.path.to_string_lossy();
        let f: File = sys::open(&p, Mode::default()).map_err(|e| NotAsked {
            why: NoAnswer::Device,
            text: format!("cannot open {p}: {e}"),
        })?;
        sys::page_owner(&f, mfn, domid)
            .map(answer)
            .map_err(|e| device_error(&p, e, domid))
    }
}

/// Why the probe could not tell whether a guest owns a page. Page
/// retirement logs each once while it lasts and counts the pages it holds
/// back by [`NoAnswer::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoAnswer {
    /// The module has no `XMC_PAGE_OWNER` (`ENOTTY`: older than these
    /// tools).
    OldModule,
    /// The module could not set its probe up at load (`EOPNOTSUPP`).
    NotSetUp,
    /// The probe stopped after a clear failed (`EIO`).
    Stopped,
    /// The device cannot be opened (module not loaded?), or the ioctl
    /// failed otherwise (`EPERM` without `CAP_SYS_ADMIN`, `EBUSY` while
    /// another program holds it with `O_EXCL`, ...).
    Device,
    /// No list of Xen's domains.
    NoList,
    /// Xen refused the probe's `mmu_update` itself: its (negative) error
    /// number. `-EPERM` on conventional RAM: the dummy XSM policy's denial
    /// or a frame of `DOMID_IO`'s; `-EACCES`: a FLASK policy's denial
    /// (module doc); others (`-EINVAL`, `-ENOSYS`, ...) are not expected.
    Xen(i32),
    /// New domains at every one of [`MAX_LISTINGS`] listings.
    Churn,
}

impl NoAnswer {
    /// Every label, in order, for the metrics.
    pub const LABELS: [&'static str; 7] = [
        "old_module",
        "not_set_up",
        "stopped",
        "device",
        "domain_list",
        "xen_refused",
        "domain_churn",
    ];

    /// The metrics' label (`xen_mcelog_retire_owner_unknown_pages`).
    pub fn label(self) -> &'static str {
        let i = match self {
            NoAnswer::OldModule => 0,
            NoAnswer::NotSetUp => 1,
            NoAnswer::Stopped => 2,
            NoAnswer::Device => 3,
            NoAnswer::NoList => 4,
            NoAnswer::Xen(_) => 5,
            NoAnswer::Churn => 6,
        };
        Self::LABELS[i]
    }

    /// What the administrator can do about it.
    pub fn remedy(self) -> &'static str {
        match self {
            NoAnswer::OldModule => {
                "load the xen_mcelog module that came with these tools (rmmod xen_mcelog, then \
                 modprobe xen_mcelog, or reboot)"
            }
            NoAnswer::NotSetUp => {
                "the kernel log says why the module left it off at load (dmesg | grep \
                 page-owner); a reload of xen_mcelog sets it up again"
            }
            NoAnswer::Stopped => {
                "a clear of its page-table entry failed (dmesg | grep page-owner): until \
                 xen_mcelog is reloaded that entry holds a reference to the frame it was asked \
                 about, so a guest owning it stays a dying domain once destroyed; a reload \
                 (rmmod, modprobe) clears the entry and starts the probe again"
            }
            NoAnswer::Device => {
                "check that xen_mcelog is loaded, that /dev/xen_mcelog exists and that this \
                 service may use it (CAP_SYS_ADMIN; no other program holding it with O_EXCL)"
            }
            NoAnswer::NoList => {
                "Xen's list of domains comes through /dev/xen/privcmd like the page-offline \
                 sysctl: see the error; under FLASK enforcing (xl getenforce) the list may leave \
                 guests out and is not used: pages wait until FLASK is permissive, or are \
                 offlined with guest-pages = offline (xen-hptool, which may suspend a guest)"
            }
            NoAnswer::Xen(e) if e == -XEN_EPERM => {
                "Xen's dummy XSM policy refuses dom0's mmu_update for other domains (dom0 is \
                 not the control domain), or the frame is DOMID_IO's (the first MiB), which no \
                 guest owns but the probe cannot tell (such a page waits for good)"
            }
            NoAnswer::Xen(e) if e == -XEN_EACCES => {
                "Xen's FLASK policy refuses dom0's mmu_update on a guest's pages: allow dom0's \
                 type mmu { map_read } on the guests' types (as Xen's example policy does for \
                 the domains dom0 creates, tools/flask/policy/modules/xen.if) and load it (xl \
                 loadpolicy); while a guest whose memory the policy keeps from dom0 (Xen's \
                 example nomigrate_t) runs, its refusal holds pages back"
            }
            NoAnswer::Xen(_) => "an answer Xen 4.20 does not give here: please report it",
            NoAnswer::Churn => "domains were being created meanwhile; asked again next time",
        }
    }
}

/// The probe did not answer: why, and the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAsked {
    /// The kind, for logging once and counting.
    pub why: NoAnswer,
    /// What happened, for the log.
    pub text: String,
}

/// The C library's words for Xen's error `-e` (Xen's numbers are Linux's,
/// xen/include/public/errno.h), without "(os error N)".
fn errno_name(e: i32) -> String {
    let t = std::io::Error::from_raw_os_error(e.saturating_neg()).to_string();
    match t.split_once(" (os error") {
        Some((w, _)) => w.to_string(),
        None => t,
    }
}

/// `XMC_PAGE_OWNER` on device `p` failed with `errno` (asking about
/// `domid`): what that means.
pub fn device_error(p: &str, errno: i32, domid: u16) -> NotAsked {
    let (why, text) = match errno {
        libc::ENOTTY => (
            NoAnswer::OldModule,
            format!("{p} has no XMC_PAGE_OWNER (ENOTTY: a xen_mcelog older than these tools)"),
        ),
        libc::EOPNOTSUPP => (
            NoAnswer::NotSetUp,
            format!(
                "{p}: xen_mcelog could not set up its page-owner probe at load (EOPNOTSUPP; the \
                 kernel log says why)"
            ),
        ),
        libc::EIO => (
            NoAnswer::Stopped,
            format!("{p}: xen_mcelog's page-owner probe stopped (EIO; the kernel log says why)"),
        ),
        e => (
            NoAnswer::Device,
            format!(
                "{p}: XMC_PAGE_OWNER for domain {domid}: {}",
                std::io::Error::from_raw_os_error(e)
            ),
        ),
    };
    NotAsked { why, text }
}

/// Who of the guests owns a page, as far as the probe sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestOwner {
    /// This domain answered yes (nothing was sent to Xen's page code).
    Guest(u16),
    /// Every domain Xen lists answered no (the list read again without new
    /// domains): free, dom0's or Xen's.
    NoGuest,
    /// The probe could not answer; why. Nothing is known about the owner.
    Unknown(NotAsked),
}

/// Asks every ordinary domain but dom0, in turn, whether it owns `mfn`,
/// until one does; reads Xen's list again after all said no, and asks the
/// domains created since (at most [`MAX_LISTINGS`] listings). A domain
/// destroyed since the listing answers no. Call it only for a frame Xen's
/// query calls conventional RAM, not offlined, pending or broken
/// ([`super::check`]): a device's MMIO frame would answer yes for a domain
/// allowed to map it. Any answer but yes, no and no such domain makes the
/// owner unknown at once, `-EPERM` included (module doc).
pub fn guest_owner<X: XenPages + ?Sized>(x: &mut X, mfn: u64) -> GuestOwner {
    let mut asked: Vec<u16> = Vec::new();
    for _ in 0..MAX_LISTINGS {
        let listed = match x.guests() {
            Ok(l) => l,
            Err(e) => {
                return GuestOwner::Unknown(NotAsked {
                    why: NoAnswer::NoList,
                    text: format!("cannot list Xen's domains: {e}"),
                })
            }
        };
        let new: Vec<u16> = listed
            .into_iter()
            .filter(|&d| d != 0 && d <= MAX_DOMID && !asked.contains(&d))
            .collect();
        if new.is_empty() {
            return GuestOwner::NoGuest;
        }
        for d in new {
            asked.push(d);
            match x.owner_is(mfn, d) {
                Ok(Answer::Owned) => return GuestOwner::Guest(d),
                Ok(Answer::NotOwned | Answer::NoDomain) => {}
                Ok(Answer::NotRam) => {
                    return GuestOwner::Unknown(NotAsked {
                        why: NoAnswer::Xen(-XEN_EPERM),
                        text: format!(
                            "XMC_PAGE_OWNER: Xen answered {} for domain {d} ({}) about a frame \
                             it reports as conventional RAM",
                            -XEN_EPERM,
                            errno_name(-XEN_EPERM)
                        ),
                    })
                }
                Ok(Answer::Other(e)) => {
                    return GuestOwner::Unknown(NotAsked {
                        why: NoAnswer::Xen(e),
                        text: format!(
                            "XMC_PAGE_OWNER: Xen answered {e} for domain {d} ({})",
                            errno_name(e)
                        ),
                    })
                }
                Err(e) => return GuestOwner::Unknown(e),
            }
        }
    }
    GuestOwner::Unknown(NotAsked {
        why: NoAnswer::Churn,
        text: format!("new domains at each of {MAX_LISTINGS} listings of Xen's domains"),
    })
}
