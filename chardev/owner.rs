// SPDX-License-Identifier: GPL-2.0-only

//! `XMC_PAGE_OWNER`: does domain D own machine frame M? Asked of Xen
//! without marking the page (docs/page-retirement.md, "The owner probe"):
//! the module writes a read-only entry for M into one of dom0's own L1
//! page-table entries with `mmu_update`, `MMU_PT_UPDATE_NO_TRANSLATE`,
//! `foreigndom` = D (Xen accepts it only if D owns M), then clears it.
//!
//! ```text
//! struct xmc_page_owner {   /* 16 bytes, little-endian, no padding */
//!     __u64 mfn;            /* 0, in: the machine frame, at most MAX_MFN */
//!     __u16 domid;          /* 8, in: the domain, 1..=MAX_DOMID */
//!     __u16 flags;          /* 10, in: 0 */
//!     __s32 xen_rc;         /* 12, out: Xen's mmu_update result */
//! };
//! ```
//!
//! The command is `_IOWR('x', 3, struct xmc_page_owner)`, for
//! `CAP_SYS_ADMIN` (`EPERM` first, as the device's other `int` ioctls).
//! The module validates the input (`EINVAL`: a frame past `MAX_MFN`, a
//! domain id that is not an ordinary domain other than dom0, flags set),
//! asks Xen and reports Xen's result as it is in `xen_rc`: whenever Xen
//! was asked the ioctl succeeds. Its own errors: `EOPNOTSUPP` (the probe
//! could not be set up at load: the module's log says why), `EIO` (its
//! page-table entry is not empty: a clear failed, probes stop), `EFAULT`.
//! What Xen's result means is [`answer`], which the tools use; the module
//! does not interpret it.
//!
//! No pointer and no `long`: 32-bit callers use the same command and
//! layout (`compat_ptr_ioctl`).
//!
//! Part of `decisions` (shared with the kernel module): only `core`, no
//! `unsafe`, no panics.

use super::{
    stats::{
        ioc,
        IOC_READ, //
    },
    Errno,
    XMC_IOC_MAGIC, //
};

/// `_IOC_WRITE` (include/uapi/asm-generic/ioctl.h): userspace writes.
pub const IOC_WRITE: u32 = 1;

/// The ioctl number of `XMC_PAGE_OWNER` within [`XMC_IOC_MAGIC`].
pub const XMC_PAGE_OWNER_NR: u8 = 3;

/// Bytes of `struct xmc_page_owner`.
pub const PAGE_OWNER_LEN: usize = 16;

/// `XMC_PAGE_OWNER` = `_IOWR('x', 3, struct xmc_page_owner)`.
pub const XMC_PAGE_OWNER: u32 = ioc(
    IOC_READ | IOC_WRITE,
    XMC_IOC_MAGIC,
    XMC_PAGE_OWNER_NR,
    PAGE_OWNER_LEN,
);
const _: () = assert!(XMC_PAGE_OWNER == 0xC010_7803);

/// The highest frame asked about: Xen x86 has 52 physical address bits
/// (xen/arch/x86/include/asm/page-bits.h `PADDR_BITS`), frames below 2^40,
/// and `get_page_from_l1e` (xen/arch/x86/mm.c) takes 2^40 - 1 for
/// `INVALID_MFN`.
pub const MAX_MFN: u64 = 0xFF_FFFF_FFFE;
const _: () = assert!(MAX_MFN == (1 << 40) - 2);

/// The highest domain id asked about: the last ordinary domain, one
/// below `DOMID_FIRST_RESERVED` (xen/include/public/xen.h: `DOMID_SELF`,
/// `DOMID_IO`, `DOMID_XEN`, `DOMID_COW` and the rest from there on; the
/// module and the tools assert it against `mcinfo::DOMID_FIRST_RESERVED`).
pub const MAX_DOMID: u16 = 0x7FEF;

/// A validated question: does `domid` own `mfn`?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// The machine frame, at most [`MAX_MFN`].
    pub mfn: u64,
    /// The domain, `1..=`[`MAX_DOMID`].
    pub domid: u16,
}

/// Where `flags` is in the struct (the layout above).
const FLAGS_AT: usize = 10;

fn u64_at(b: &[u8; PAGE_OWNER_LEN], at: usize) -> u64 {
    let mut v = [0u8; 8];
    for (i, x) in v.iter_mut().enumerate() {
        *x = b.get(at.wrapping_add(i)).copied().unwrap_or(0);
    }
    u64::from_le_bytes(v)
}

fn u16_at(b: &[u8; PAGE_OWNER_LEN], at: usize) -> u16 {
    let lo = b.get(at).copied().unwrap_or(0);
    let hi = b.get(at.wrapping_add(1)).copied().unwrap_or(0);
    u16::from_le_bytes([lo, hi])
}

/// The question in the caller's struct, or `EINVAL`: a frame past
/// [`MAX_MFN`], domain 0 (Xen refuses the caller itself as `foreigndom`),
/// a domain id past [`MAX_DOMID`] (`DOMID_SELF` would ask
/// about dom0's own pages, `DOMID_IO` and `DOMID_XEN` about Xen's special
/// domains: none is a guest), or flags set (none is defined). `xen_rc`
/// is output only and not looked at.
pub fn decode(b: &[u8; PAGE_OWNER_LEN]) -> Result<Query, Errno> {
    let mfn = u64_at(b, 0);
    let domid = u16_at(b, 8);
    let flags = u16_at(b, FLAGS_AT);
    if mfn > MAX_MFN || domid == 0 || domid > MAX_DOMID || flags != 0 {
        return Err(Errno::Einval);
    }
    Ok(Query { mfn, domid })
}

/// The struct the module copies back: the question, `flags` 0 and Xen's
/// result.
pub fn encode(q: Query, xen_rc: i32) -> [u8; PAGE_OWNER_LEN] {
    let mut b = [0u8; PAGE_OWNER_LEN];
    for (d, s) in b.iter_mut().zip(
        q.mfn
            .to_le_bytes()
            .into_iter()
            .chain(q.domid.to_le_bytes())
            .chain([0, 0])
            .chain(xen_rc.to_le_bytes()),
    ) {
        *d = s;
    }
    b
}

/// The caller's struct for `mfn` and `domid` (the tools' side of
/// [`decode`]; no validation: the module validates).
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub fn request(mfn: u64, domid: u16) -> [u8; PAGE_OWNER_LEN] {
    request_flags(mfn, domid, 0)
}

/// [`request`] with `flags` set as given: none is defined, so anything but
/// 0 is for seeing the module refuse it (`xmc-test owner --flags`).
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub fn request_flags(mfn: u64, domid: u16, flags: u16) -> [u8; PAGE_OWNER_LEN] {
    let mut b = encode(Query { mfn, domid }, 0);
    for (d, s) in b.iter_mut().skip(FLAGS_AT).zip(flags.to_le_bytes()) {
        *d = s;
    }
    b
}

/// `xen_rc` of the module's answer.
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub fn xen_rc(b: &[u8; PAGE_OWNER_LEN]) -> i32 {
    let mut v = [0u8; 4];
    for (i, x) in v.iter_mut().enumerate() {
        *x = b.get(12usize.wrapping_add(i)).copied().unwrap_or(0);
    }
    i32::from_le_bytes(v)
}

/// Xen's error numbers the answer is read from (xen/include/public/errno.h).
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub const XEN_EPERM: i32 = 1;
/// `ESRCH`.
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub const XEN_ESRCH: i32 = 3;
/// `EACCES`.
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub const XEN_EACCES: i32 = 13;
/// `EBUSY`.
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub const XEN_EBUSY: i32 = 16;

/// What Xen's `mmu_update` result says (xen/arch/x86/mm.c
/// `do_mmu_update`, `get_page_from_l1e`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub enum Answer {
    /// 0: Xen mapped the frame for the domain: the domain owns it, or is
    /// allowed to map its owner's pages (a device-model stub domain of
    /// the owner, a control domain), or the page is shared through
    /// mem_sharing (`dom_cow`), or it is an MMIO frame the domain may map.
    /// Never a free page, dom0's or another ordinary domain's.
    Owned,
    /// `-EBUSY`: not the domain's: free, offlined, dom0's, another
    /// domain's, Xen's, or in use without an owner.
    NotOwned,
    /// `-EPERM`: not RAM Xen tracks (outside its frame table, or MMIO,
    /// or `DOMID_IO`'s, as the first MiB) and the domain may not map it;
    /// or Xen's XSM refused dom0's `mmu_update` before looking at anything
    /// (the dummy policy, for a dom0 that is not the control domain: for
    /// every domain and frame alike). The tools read it, about a frame Xen
    /// calls conventional RAM, as "unknown", never as "not owned".
    NotRam,
    /// `-ESRCH`: no such domain (destroyed since it was listed).
    NoDomain,
    /// Another result: Xen's (negative) error number. `-EACCES`: a FLASK
    /// policy refused dom0's `mmu_update` (xen/xsm/flask/hooks.c
    /// `flask_mmu_update`: `mmu map_read` on the domain).
    Other(i32),
}

/// What `xen_rc` means.
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub fn answer(xen_rc: i32) -> Answer {
    match xen_rc {
        0 => Answer::Owned,
        e if e == -XEN_EBUSY => Answer::NotOwned,
        e if e == -XEN_EPERM => Answer::NotRam,
        e if e == -XEN_ESRCH => Answer::NoDomain,
        e => Answer::Other(e),
    }
}
