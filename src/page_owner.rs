// SPDX-License-Identifier: GPL-2.0

//! The page-owner probe behind `XMC_PAGE_OWNER` (`chardev/owner.rs`): does
//! domain D own machine frame M? Asked of Xen with an `mmu_update` on an
//! L1 page-table entry of the module's own, which the C side
//! (`xmc_owner.c`) sets up at load, checks with Xen, and tears down at
//! unload; docs/page-retirement.md ("The owner probe") has what Xen does
//! with it. Only a PV dom0 loads the module at all (`require_pv_dom0`).

use crate::{
    decisions::{
        owner::{
            Query,
            MAX_DOMID, //
        },
        Errno,
    },
    hypercall::{
        xmc_owner_free,
        xmc_owner_new,
        xmc_owner_probe, //
    },
    mcinfo::DOMID_FIRST_RESERVED,
};
use core::ptr::NonNull;
use kernel::prelude::*;

// The ioctl's domain limit is Xen's, as the walker has it.
const _: () = assert!(MAX_DOMID == DOMID_FIRST_RESERVED - 1);

/// The probe's page-table entry, set up and checked with Xen; freed on
/// drop, which may sleep (`xmc_owner_free` calls `vunmap`: `might_sleep`,
/// `BUG_ON(in_interrupt())`, mm/vmalloc.c). So an `OwnerProbe` is dropped
/// in process context only; inside the pipeline that means the last
/// `Arc<Pipeline>` goes there: module exit, a file's `release`, a work
/// item, or a failed load. The hard-irq VIRQ handler and the tracepoint
/// callback (under a spinlock) only take and drop extra references while
/// the module holds its own, and are unbound before it drops that.
///
/// # Invariants
///
/// `0` is the cookie `xmc_owner_new` returned, freed only by drop.
pub(crate) struct OwnerProbe(NonNull<c_void>);

// SAFETY: the C side's state is reached only through its functions, which
// serialise probes with their own mutex; it is not tied to a thread.
unsafe impl Send for OwnerProbe {}
// SAFETY: `ask` takes `&self` and the C side locks its mutex around each
// probe.
unsafe impl Sync for OwnerProbe {}

impl OwnerProbe {
    /// Sets the probe up, or says why it cannot be (the C side logged the
    /// details).
    pub(crate) fn new() -> Result<Self> {
        let mut err: c_int = -(kernel::bindings::EIO as c_int);
        // SAFETY: `err` is a local the call may write.
        let cookie = unsafe { xmc_owner_new(&mut err) };
        NonNull::new(cookie)
            .map(OwnerProbe)
            .ok_or_else(|| Error::from_errno(err))
    }

    /// Asks Xen whether `q.domid` owns `q.mfn` (validated by
    /// `owner::decode`): Xen's `mmu_update` result, or `EIO` when the
    /// entry is not empty (a clear failed; nothing is asked any more).
    /// May sleep.
    pub(crate) fn ask(&self, q: Query) -> core::result::Result<i32, Errno> {
        let mut xen_rc: c_int = 0;
        // SAFETY: the cookie is live (type invariant); `xen_rc` is a local
        // the call may write; the helper takes its own lock.
        match unsafe { xmc_owner_probe(self.0.as_ptr(), q.mfn, q.domid, &mut xen_rc) } {
            0 => Ok(xen_rc),
            _ => Err(Errno::Eio),
        }
    }
}

impl Drop for OwnerProbe {
    fn drop(&mut self) {
        // SAFETY: the cookie came from `xmc_owner_new` and is freed once,
        // here (type invariant); no probe runs, as nothing else holds
        // `self`. Process context: see the type's doc (it may sleep).
        unsafe { xmc_owner_free(self.0.as_ptr()) };
    }
}
