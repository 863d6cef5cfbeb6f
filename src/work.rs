// SPDX-License-Identifier: GPL-2.0

//! What the module needs from the workqueues beyond the kernel crate's
//! `workqueue` API: the unbound default queue, and disabling a work item
//! for good at unload.

use core::ptr;
use kernel::{
    bindings,
    container_of,
    sync::Arc,
    warn_on,
    workqueue::{
        DelayedWork,
        HasDelayedWork,
        HasWork,
        Queue,
        Work,
        WorkItem, //
    }, //
};

/// The unbound default workqueue (`system_wq`, behind
/// `workqueue::system()`, is deprecated in 7.2 and warns on first use).
pub(crate) fn system_dfl_queue() -> &'static Queue {
    // SAFETY: `system_dfl_wq` is created at boot and never destroyed.
    unsafe { Queue::from_raw(bindings::system_dfl_wq) }
}

/// A work item of `T` with id `ID`, plain ([`Work`]) or delayed
/// ([`DelayedWork`]): each is disabled its own way.
pub(crate) trait Item<T, const ID: u64> {
    /// Its `work_struct`.
    fn work_struct(&self) -> *mut bindings::work_struct;
    /// `disable_work_sync` or `disable_delayed_work_sync` of it: whether it
    /// was pending.
    fn disable(&self) -> bool;
}

impl<T, const ID: u64> Item<T, ID> for Work<T, ID> {
    fn work_struct(&self) -> *mut bindings::work_struct {
        // SAFETY: `self` is a reference, so aligned and not dangling.
        unsafe { Work::raw_get(self) }
    }

    fn disable(&self) -> bool {
        // SAFETY: an initialised `work_struct` (a `Work` is initialised in
        // place before any reference to it exists); disabling may happen
        // at any time in process context.
        unsafe { bindings::disable_work_sync(self.work_struct()) }
    }
}

impl<T: HasDelayedWork<T, ID>, const ID: u64> Item<T, ID> for DelayedWork<T, ID> {
    fn work_struct(&self) -> *mut bindings::work_struct {
        // SAFETY: `self` is a reference, so aligned and not dangling.
        let work = unsafe { DelayedWork::raw_as_work(self) };
        // SAFETY: the same.
        unsafe { Work::raw_get(work) }
    }

    fn disable(&self) -> bool {
        // SAFETY: `work_struct` is the `work` field of this item's
        // `delayed_work` (`DelayedWork::raw_as_work`).
        let dwork = unsafe { container_of!(self.work_struct(), bindings::delayed_work, work) };
        // SAFETY: an initialised `delayed_work` (initialised in place before
        // any reference to it exists); disabling may happen at any time in
        // process context.
        unsafe { bindings::disable_delayed_work_sync(dwork) }
    }
}

/// Disables `item`, `this`'s work item `ID`, for good: cancels it if it is
/// pending, waits for a running one to finish, and makes every later
/// `enqueue` of it fail (a VIRQ, a reader or a drain re-queueing itself
/// after this returns queues nothing). The reference a cancelled pending
/// item held is dropped.
///
/// An `item` that is not `this`'s own is a bug: warned about, and left
/// alone.
pub(crate) fn disable_sync<T, W, const ID: u64>(this: &Arc<T>, item: &W)
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasWork<T, ID>,
    W: Item<T, ID>,
{
    // SAFETY: `this` points at a live `T`, whose item `ID` is a field.
    let own = unsafe { Work::raw_get(T::raw_get_work(Arc::as_ptr(this).cast_mut())) };
    if warn_on!(!ptr::eq(item.work_struct(), own)) {
        return;
    }
    if item.disable() {
        // SAFETY: item `ID` of `T` can only be queued as an `Arc<T>` (its
        // `WorkItem::Pointer`): `enqueue` turned one reference into the
        // raw pointer the pending item holds (`Arc::into_raw`), and the
        // item's `run` would have taken it back. Cancelled, it never runs,
        // so that reference is ours to drop; `this` keeps the `T` alive.
        drop(unsafe { Arc::from_raw(Arc::as_ptr(this)) });
    }
}
