// SPDX-License-Identifier: GPL-2.0-only

//! Who holds a machine page now, asked of Xen right before page retirement
//! acts on it, through the sysctl xen-hptool itself uses
//! (`XEN_SYSCTL_page_offline_op`, xen/include/public/sysctl.h), and before
//! that, with guest pages left alone, through xen_mcelog's page-owner probe
//! (`owner`: [`guest_owner`]), which marks nothing.
//!
//! What Xen 4.20 offers, read from its source:
//!
//! - `sysctl_query_page_offline` (xen/common/page_alloc.c
//!   `query_page_offline`) has no side effect but says only offline-pending,
//!   offlined and broken: no owner.
//! - Nothing else names the owner of an arbitrary machine frame.
//!   tools/misc/xen-mfndump.c reads the M2P (`xc_map_m2p`: machine frame to
//!   the guest's frame number, not the domain) and one PV domain's P2M
//!   (`xc_map_domain_meminfo`, PV only); `XEN_DOMCTL_getpageframeinfo3`
//!   (xen/arch/x86/domctl.c) takes guest frame numbers, which are machine
//!   frames only for PV domains, and allocates populate-on-demand pages of
//!   HVM ones (`P2M_ALLOC`). No query covers HVM and PVH domains.
//! - `sysctl_page_offline` (page_alloc.c `offline_page`) names the owner in
//!   its answer, and decides under Xen's heap lock (`mark_page_offline`): a
//!   free page is taken out of the allocator at once (`PG_OFFLINE_OFFLINED`),
//!   so it cannot be handed to a domain between the question and the act; a
//!   page in use is only marked offline-pending (`PGC_state_offlining`), with
//!   `PG_OFFLINE_OWNED | owner << PG_OFFLINE_OWNER_SHIFT` in the answer. That
//!   mark changes nothing for the owner (its mappings, vCPUs and memory are
//!   untouched); Xen offlines the page when the owner frees it
//!   (`free_heap_pages` / `mark_page_free`). `sysctl_page_online`
//!   (`online_page`) takes the mark back.
//! - The guest is suspended by xen-hptool itself, after that answer
//!   (tools/misc/xen-hptool.c `hp_mem_offline_func`: `suspend_guest`, then
//!   `xc_exchange_page`, then `xc_domain_resume`), never by Xen.
//! - `offline_page` crashes the owner of a page Xen marked broken
//!   (`PGC_broken && page_get_owner`: `domain_crash(owner)`): a broken page
//!   is never asked to go offline here.
//!
//! So [`claim`] asks `sysctl_query_page_offline` first ([`check`]), then
//! sends `sysctl_page_offline` itself (never xen-hptool) and reads the owner
//! from Xen's answer ([`request`]). Page retirement, with guest pages left
//! alone, asks [`guest_owner`] in between, and sends no request for a page a
//! guest owns, nor for one whose owner the probe could not tell. Otherwise
//! (a guest got the page after the probe's answer), a mark on a guest's page
//! is taken back at once with `sysctl_page_online`. What remains: for those few
//! microseconds the guest's page is marked (invisible to the guest); a page
//! the guest frees inside them is offlined by Xen (seen by the query before
//! the withdrawal), or, freed after that query, returned to the allocator by
//! the withdrawal and asked about again later; an uncorrected error marking
//! the page broken between the first query and the request would make Xen
//! crash the owner (as it would for any offline request then, xen-hptool's
//! included). A page in use without an owner keeps the mark (Xen's
//! `PG_OFFLINE_ANONYMOUS`, as after xen-hptool): if it was being allocated
//! to a guest at that instant (page_alloc.c: the owner only goes from none
//! to set), that guest gets a marked page it never notices, offlined when it
//! frees it. A page of a guest's populate-on-demand cache (not in its
//! physical map) is replaced by Xen in the same step
//! (`p2m_pod_offline_or_broken_hit`) and reads as offlined.
//!
//! The sysctl's interface version must be the running Xen's
//! (xen/common/sysctl.c `do_sysctl` refuses any other with -EACCES before
//! looking at the operation): 0x15 for Xen 4.17 to 4.20, 0x16 for 4.21, whose
//! `xen_sysctl_page_offline_op` is the same. Each is tried in turn on the
//! first call; one refused did nothing.
//!
//! Everything but [`Sysctl`] (which makes the hypercalls) and
//! [`OwnerDevice`] (the ioctl) is pure and host-tested.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::sys::{self, Locked, Mode};

mod owner;
pub use owner::{
    device_error, domain_ids, domainlist_image, guest_owner, GuestOwner, NoAnswer, NotAsked,
    OwnerDevice, DOMAININFO_LEN, MAX_LISTINGS, XEN_SYSCTL_GETDOMAININFOLIST,
};
/// What Xen's answer to `XMC_PAGE_OWNER` means (chardev/owner.rs).
pub use xmc_chardev::decisions::owner::Answer;

/// `__HYPERVISOR_sysctl` (xen/include/public/xen.h).
pub const HYPERVISOR_SYSCTL: u64 = 35;
/// `XEN_SYSCTL_page_offline_op` (public/sysctl.h).
pub const XEN_SYSCTL_PAGE_OFFLINE_OP: u32 = 14;
/// `XEN_SYSCTL_INTERFACE_VERSION`s whose `xen_sysctl_page_offline_op` is
/// the layout below: Xen 4.17 to 4.20, then 4.21.
pub const SYSCTL_VERSIONS: [u32; 2] = [0x15, 0x16];
/// `sizeof(struct xen_sysctl)` on x86-64: cmd, interface_version, and a
/// 128-byte union at offset 8.
pub const SYSCTL_LEN: usize = 136;

/// The answers of `sysctl_page_offline`: Xen's `PG_OFFLINE_*` bits, defined
/// once in xmc-core (RECOVERY records carry the same status).
pub use xmc_core::mcinfo::{
    PG_OFFLINE_AGAIN, PG_OFFLINE_ANONYMOUS, PG_OFFLINE_BROKEN, PG_OFFLINE_DOM0PAGE,
    PG_OFFLINE_FAILED, PG_OFFLINE_NOT_CONV_RAM, PG_OFFLINE_OFFLINED, PG_OFFLINE_OWNED,
    PG_OFFLINE_OWNER_SHIFT, PG_OFFLINE_PENDING, PG_OFFLINE_STATUS_MASK, PG_OFFLINE_XENPAGE,
};
/// `PG_OFFLINE_STATUS_OFFLINED` (answer of `sysctl_query_page_offline`).
pub const PG_OFFLINE_STATUS_OFFLINED: u32 = 1 << 1;
/// `PG_OFFLINE_STATUS_ONLINE`: defined as "online", but Xen's query never
/// sets it: a page in use reads 0.
pub const PG_OFFLINE_STATUS_ONLINE: u32 = 1 << 2;
/// `PG_OFFLINE_STATUS_OFFLINE_PENDING`: marked for offlining; Xen offlines
/// it when its owner frees it.
pub const PG_OFFLINE_STATUS_OFFLINE_PENDING: u32 = 1 << 3;
/// `PG_OFFLINE_STATUS_BROKEN`: marked broken (an uncorrected error hit it).
pub const PG_OFFLINE_STATUS_BROKEN: u32 = 1 << 4;

/// Domain ids from here on are Xen's own (`DOMID_FIRST_RESERVED`).
pub use xmc_core::mcinfo::DOMID_FIRST_RESERVED;

/// The sub-operations of `XEN_SYSCTL_page_offline_op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOp {
    /// `sysctl_page_offline`.
    Offline = 1,
    /// `sysctl_page_online`.
    Online = 2,
    /// `sysctl_query_page_offline`.
    Query = 3,
}

/// Xen's answer for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The hypercall's result: 0, or a negative errno (Xen still writes the
    /// status of a refused frame: -EPERM for its own, -EINVAL off RAM).
    pub rc: i64,
    /// The frame's status word (`PG_OFFLINE_*`, owner in bits 16-31).
    pub status: u32,
}

/// Xen's page-offline sysctl, one frame at a time (the only Xen-facing part
/// of [`claim`]), and the owner probe's two questions ([`guest_owner`]).
pub trait XenPages {
    /// `op` on the frame `mfn`. `Err`: the call could not be made (no
    /// /dev/xen/privcmd, an interface version Xen refused); nothing reached
    /// Xen's page code.
    fn page_op(&mut self, op: PageOp, mfn: u64) -> Result<Reply, String>;
    /// The ordinary domains but dom0 Xen has now, in domid order
    /// (`XEN_SYSCTL_getdomaininfolist`). `Err`: no list (the owner probe
    /// is then not used).
    fn guests(&mut self) -> Result<Vec<u16>, String> {
        Err("no list of Xen's domains here".into())
    }
    /// Does `domid` own `mfn`: xen_mcelog's `XMC_PAGE_OWNER`, Xen's answer.
    /// `Err`: not asked (a module without the ioctl, the device missing);
    /// why.
    fn owner_is(&mut self, _mfn: u64, _domid: u16) -> Result<Answer, NotAsked> {
        Err(NotAsked {
            why: NoAnswer::Device,
            text: "no page-owner probe here".into(),
        })
    }
}

/// The `struct xen_sysctl` image of a page-offline op on frame `mfn` alone
/// (start = end = `mfn`), Xen writing the status to the address `status`.
/// Layout (x86-64): cmd @0, interface_version @4; the union at 8:
/// `xen_sysctl_page_offline_op` cmd @8, start @12, end @16, the guest handle
/// `status` (a pointer, 8-aligned) @24.
pub fn sysctl_image(version: u32, op: PageOp, mfn: u32, status: u64) -> [u8; SYSCTL_LEN] {
    let mut b = [0u8; SYSCTL_LEN];
    b[0..4].copy_from_slice(&XEN_SYSCTL_PAGE_OFFLINE_OP.to_le_bytes());
    b[4..8].copy_from_slice(&version.to_le_bytes());
    b[8..12].copy_from_slice(&(op as u32).to_le_bytes());
    b[12..16].copy_from_slice(&mfn.to_le_bytes());
    b[16..20].copy_from_slice(&mfn.to_le_bytes());
    b[24..32].copy_from_slice(&status.to_le_bytes());
    b
}

/// The owner in a `sysctl_page_offline` answer, when `PG_OFFLINE_OWNED`
/// says there is one.
pub fn owner(status: u32) -> Option<u16> {
    (status & PG_OFFLINE_OWNED != 0).then_some((status >> PG_OFFLINE_OWNER_SHIFT) as u16)
}

/// An ordinary domain other than dom0: a guest.
pub fn is_guest(domid: u16) -> bool {
    domid != 0 && domid < DOMID_FIRST_RESERVED
}

/// What was done with Xen's offline-pending mark on a guest's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// Left in place: the caller goes on (xen-hptool exchanges the page).
    Kept,
    /// Taken back (`sysctl_page_online`): the page is as it was.
    Withdrawn,
    /// Xen did not take it back; why. Xen offlines the page when the guest
    /// frees it; the guest is not suspended.
    Stuck(String),
}

/// What Xen said right before the offline request, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Xen already has it offlined or offline-pending
    /// (`PG_OFFLINE_STATUS_*`); no request was sent.
    Already(u32),
    /// It was free: Xen took it out of the allocator in the same step.
    Offlined,
    /// dom0 owns it: offline-pending, Xen offlines it when dom0 frees it.
    Pending(u16),
    /// A guest owns it now.
    Guest {
        /// Xen's answer.
        domid: u16,
        /// What became of the offline-pending mark.
        mark: Mark,
    },
    /// Xen will not offline it; why.
    Refused(String),
    /// Not offlined this time; why.
    Failed(String),
}

fn errno_text(rc: i64) -> String {
    let e = i32::try_from(-rc).unwrap_or(0);
    format!("{} ({rc})", std::io::Error::from_raw_os_error(e))
}

/// Asks Xen who holds `mfn` and offlines it if it is free or dom0's,
/// right before acting, every time: `sysctl_query_page_offline`, then
/// `sysctl_page_offline`, whose answer names the owner ([`check`], then
/// [`request`]; page retirement asks [`guest_owner`] in between). A
/// guest's page is left offline-pending only when `guests` (guest-pages =
/// offline, where xen-hptool then exchanges it); otherwise the mark is
/// taken back at once. `Err`: Xen could not be asked (nothing was sent).
pub fn claim<X: XenPages + ?Sized>(x: &mut X, mfn: u64, guests: bool) -> Result<Claim, String> {
    match check(x, mfn)? {
        Some(c) => Ok(c),
        None => request(x, mfn, guests),
    }
}

/// [`claim`]'s first step, which changes nothing:
/// `sysctl_query_page_offline`. `Some`: the outcome, with nothing to send
/// (not conventional RAM, offlined or pending already, broken, or the query
/// failed); `None`: an online page in conventional RAM, not broken.
pub fn check<X: XenPages + ?Sized>(x: &mut X, mfn: u64) -> Result<Option<Claim>, String> {
    if u32::try_from(mfn).is_err() {
        // xen_sysctl_page_offline_op's start and end are uint32_t.
        return Ok(Some(Claim::Refused(format!(
            "frame {mfn:#x} is beyond the 32-bit frame numbers of Xen's page-offline sysctl"
        ))));
    }
    let q = x.page_op(PageOp::Query, mfn)?;
    if q.rc == -i64::from(libc::EINVAL) {
        // query_page_offline: a frame past the end of memory or not
        // conventional RAM.
        return Ok(Some(Claim::Refused(format!(
            "Xen reports no conventional RAM there: {}",
            errno_text(q.rc)
        ))));
    }
    if q.rc != 0 {
        return Ok(Some(Claim::Failed(format!(
            "Xen's page query failed: {}",
            errno_text(q.rc)
        ))));
    }
    if q.status & (PG_OFFLINE_STATUS_OFFLINED | PG_OFFLINE_STATUS_OFFLINE_PENDING) != 0 {
        return Ok(Some(Claim::Already(q.status)));
    }
    if q.status & PG_OFFLINE_STATUS_BROKEN != 0 {
        return Ok(Some(Claim::Refused(format!(
            "Xen marked it broken ({:#x}) yet has it in use: an offline request would make \
             Xen crash its owner",
            q.status
        ))));
    }
    Ok(None)
}

/// [`claim`]'s second step, for a page [`check`] found online: the offline
/// request (`sysctl_page_offline`), whose answer names the owner; a
/// guest's mark is taken back at once unless `guests`.
pub fn request<X: XenPages + ?Sized>(x: &mut X, mfn: u64, guests: bool) -> Result<Claim, String> {
    let einval = -i64::from(libc::EINVAL);
    let r = x.page_op(PageOp::Offline, mfn)?;
    let s = r.status;
    if r.rc != 0 {
        // offline_page: -EPERM for Xen's own frames, -EINVAL off RAM (the
        // status untouched, PG_OFFLINE_INVALID bytes, past the end).
        let what = if r.rc == -i64::from(libc::EPERM) && s & PG_OFFLINE_XENPAGE != 0 {
            "Xen's own page"
        } else if r.rc == einval && s & PG_OFFLINE_NOT_CONV_RAM != 0 {
            "not conventional RAM"
        } else if r.rc == einval {
            "out of range"
        } else {
            return Ok(Claim::Failed(format!(
                "Xen's offline request failed (status {s:#x}, {})",
                errno_text(r.rc)
            )));
        };
        return Ok(Claim::Refused(format!(
            "{what} (status {s:#x}, {})",
            errno_text(r.rc)
        )));
    }
    match (s & PG_OFFLINE_STATUS_MASK, owner(s)) {
        (PG_OFFLINE_OFFLINED, _) => Ok(Claim::Offlined),
        (PG_OFFLINE_PENDING, Some(d)) if is_guest(d) => {
            let mark = if guests {
                Mark::Kept
            } else {
                match withdraw(x, mfn) {
                    None => return Ok(Claim::Offlined),
                    Some(m) => m,
                }
            };
            Ok(Claim::Guest { domid: d, mark })
        }
        (PG_OFFLINE_PENDING, Some(d)) if d < DOMID_FIRST_RESERVED => Ok(Claim::Pending(d)),
        (PG_OFFLINE_PENDING, _) if s & PG_OFFLINE_XENPAGE != 0 => Ok(Claim::Refused(format!(
            "Xen's own page (status {s:#x}): offline-pending, Xen offlines it when it frees it"
        ))),
        // In use without an owner: Xen's own allocation (e.g. a domain's
        // paging pool), a page being allocated or freed, or a frame Xen's
        // badpage= kept out of its allocator since boot. Xen leaves it
        // offline-pending, as after xen-hptool: it goes when it is freed.
        // The mark is kept: no guest owns the page, and a guest that gets it
        // later is not disturbed by it (Xen only looks at it at the free).
        (PG_OFFLINE_FAILED, _) if s & PG_OFFLINE_ANONYMOUS != 0 => Ok(Claim::Refused(format!(
            "an anonymous page, in use without an owner (status {s:#x}: Xen's own allocation, \
             or being allocated or freed, as xen-hptool says \"the memory is an anonymous \
             page\"); Xen offlines it when it is freed"
        ))),
        _ => Ok(Claim::Failed(format!(
            "Xen's answer {s:#x} (result {:#x}) is not one this tool acts on",
            s & PG_OFFLINE_STATUS_MASK
        ))),
    }
}

/// Takes back the offline-pending mark on `mfn`. `None`: the owner freed it
/// meanwhile and Xen offlined it (kept so). The query first: `online_page`
/// would return an offlined page to the allocator too.
fn withdraw<X: XenPages + ?Sized>(x: &mut X, mfn: u64) -> Option<Mark> {
    if let Ok(q) = x.page_op(PageOp::Query, mfn) {
        if q.rc == 0 && q.status & PG_OFFLINE_STATUS_OFFLINED != 0 {
            return None;
        }
    }
    Some(match x.page_op(PageOp::Online, mfn) {
        Ok(r) if r.rc == 0 => Mark::Withdrawn,
        Ok(r) => Mark::Stuck(format!(
            "Xen refused to take it back: status {:#x}, {}",
            r.status,
            errno_text(r.rc)
        )),
        Err(e) => Mark::Stuck(e),
    })
}

/// The page-offline sysctl through dom0's hypercall device
/// (/dev/xen/privcmd).
pub struct Sysctl {
    path: PathBuf,
    privcmd: Option<File>,
    version: Option<u32>,
}

impl Sysctl {
    /// Through the device at `path`, opened at the first call (at boot it
    /// may appear after the service starts; a failure is tried again next
    /// time).
    pub fn new(path: &Path) -> Sysctl {
        Sysctl {
            path: path.to_path_buf(),
            privcmd: None,
            version: None,
        }
    }

    /// The device's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn call(pc: &File, version: u32, op: PageOp, mfn: u32) -> Result<Reply, String> {
        let status = Locked::new(&u32::MAX.to_le_bytes())
            .map_err(|e| format!("cannot lock the sysctl's status buffer: {e}"))?;
        let img = sysctl_image(version, op, mfn, status.addr());
        let buf = Locked::new(&img).map_err(|e| format!("cannot lock the sysctl buffer: {e}"))?;
        let rc = sys::privcmd_hypercall(pc, HYPERVISOR_SYSCTL, &buf);
        let b = status.bytes();
        Ok(Reply {
            rc,
            status: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        })
    }
}

impl Sysctl {
    /// The privcmd device, opened at the first call.
    fn privcmd(&mut self) -> Result<&File, String> {
        if self.privcmd.is_none() {
            let mode = Mode {
                rdwr: true,
                ..Mode::default()
            };
            let p = self.path.to_string_lossy();
            self.privcmd = Some(sys::open(&p, mode).map_err(|e| format!("cannot open {p}: {e}"))?);
        }
        self.privcmd.as_ref().ok_or_else(|| "no privcmd".into())
    }

    /// Runs `call` (the hypercall's result and what it read back) with the
    /// sysctl interface version Xen takes: the one found before, else each
    /// of [`SYSCTL_VERSIONS`] until Xen does not refuse it (`EACCES`, before
    /// it looks at the operation). `what` names the operation.
    fn versioned<T>(
        &mut self,
        what: &str,
        mut call: impl FnMut(&File, u32) -> Result<(i64, T), String>,
    ) -> Result<(i64, T), String> {
        let version = self.version;
        let pc = self.privcmd()?;
        if let Some(v) = version {
            return call(pc, v);
        }
        let mut found = None;
        for v in SYSCTL_VERSIONS {
            let r = call(pc, v)?;
            if r.0 != -i64::from(libc::EACCES) {
                found = Some((v, r));
                break;
            }
        }
        if let Some((v, r)) = found {
            self.version = Some(v);
            return Ok(r);
        }
        Err(format!(
            "Xen refused {what} with interface versions {:#x} (Xen 4.17 to 4.20) and {:#x} \
             (4.21): another Xen, or XSM denies it (EACCES)",
            SYSCTL_VERSIONS[0], SYSCTL_VERSIONS[1]
        ))
    }
}

impl XenPages for Sysctl {
    fn page_op(&mut self, op: PageOp, mfn: u64) -> Result<Reply, String> {
        let mfn = u32::try_from(mfn).map_err(|_| format!("frame {mfn:#x} beyond 32 bits"))?;
        self.versioned("XEN_SYSCTL_page_offline_op", |pc, v| {
            Sysctl::call(pc, v, op, mfn).map(|r| (r.rc, r))
        })
        .map(|(_, r)| r)
    }

    fn guests(&mut self) -> Result<Vec<u16>, String> {
        self.domain_ids()
    }
}

#[cfg(test)]
pub(crate) mod tests;
