// SPDX-License-Identifier: GPL-2.0

//! Fatal machine checks of an earlier boot, which Xen saved in the
//! firmware's ERST before the reset (`erst.rs` has the format).
//!
//! At load every Xen MCE record in ERST is converted and stored in the log
//! like a record from Xen's queues, marked `XEN_INFO_PREVIOUS_BOOT`, traced
//! and logged once. It stays in ERST until it was delivered: a reader took
//! it from the device (its copy to the reader succeeded), or it was traced
//! while `xen_mcelog:xen_mce_record` had a consumer. A consumer that comes
//! after the load (rasdaemon, started after the module) makes the C
//! helper's registration callback ask for the records not traced to anyone
//! yet ([`PreviousBoot::trace_untraced`]). Only a delivered record is
//! erased, so it is never lost to an unload, a crash or a reboot before
//! anybody got it, and it is not delivered again on every boot once
//! somebody did. Records that are not Xen's MCE records are never touched;
//! nothing is written to ERST.
//!
//! The decisions (which records, when to erase, what to say) are the pure
//! `erst_tracker.rs`; this file gives it Linux's ERST and the log.

use crate::{
    chardev::Log,
    erst::{
        XenSavedMce,
        MAX_RECORD_LEN, //
    },
    erst_tracker::{
        Counts,
        Delivery,
        Event,
        List,
        Listing,
        Pending,
        Stored,
        Tracker,
        MAX_ERASE_ATTEMPTS,
        MAX_SCAN_IDS, //
    },
    hypercall,
    mcinfo::LogicalCpu,
    record::{
        Mce,
        XenRecord, //
    },
};
use kernel::{
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        new_mutex,
        Mutex, //
    },
};

/// Ids asked of the ERST listing at a time (the scratch array's length;
/// the listing is read to its end, see [`Tracker::import`]).
const SCAN_CHUNK: usize = 64;

impl List for KVVec<Pending> {
    fn as_slice(&self) -> &[Pending] {
        self
    }

    fn as_mut_slice(&mut self) -> &mut [Pending] {
        self
    }

    fn try_push(&mut self, p: Pending) -> bool {
        self.push(p, GFP_KERNEL).is_ok()
    }

    fn truncate(&mut self, len: usize) {
        KVVec::truncate(self, len);
    }
}

/// [`Listing`] over Linux's ERST functions: the listing begins at the
/// first request for ids and ends when this is dropped.
struct Erst {
    listing: Option<hypercall::ErstListing>,
}

impl Listing for Erst {
    fn next_ids(&mut self, ids: &mut [u64]) -> core::result::Result<usize, i32> {
        let listing = match &mut self.listing {
            Some(listing) => listing,
            None => self.listing.insert(hypercall::ErstListing::begin()?),
        };
        listing.next_ids(ids)
    }

    fn read(&mut self, id: u64, buf: &mut [u8]) -> core::result::Result<usize, i32> {
        hypercall::erst_read(id, buf)
    }
}

/// The previous-boot records stored in the log and not yet erased from ERST.
#[pin_data]
pub(crate) struct PreviousBoot {
    #[pin]
    tracker: Mutex<Tracker<KVVec<Pending>>>,
    /// The tracker's [`Tracker::outstanding`], for the read path's check
    /// without the lock.
    outstanding: Atomic<u32>,
    /// The tracker's [`Tracker::settled_end`], for the drain without the
    /// lock.
    settled: Atomic<u64>,
}

impl PreviousBoot {
    /// Nothing tracked yet.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            tracker <- new_mutex!(Tracker::new(KVVec::new()), "xen_mcelog::saved"),
            outstanding: Atomic::new(0),
            settled: Atomic::new(0),
        })
    }

    /// Stores every Xen MCE record found in ERST into `log` (before the
    /// device exists, so they are its first records). Never fails: a
    /// platform without ERST has none, other errors are logged and leave
    /// the records where they are for the next load.
    pub(crate) fn import(&self, log: &Log, cpus: &[LogicalCpu]) {
        let Ok(mut ids) = KVVec::from_elem(0u64, SCAN_CHUNK, GFP_KERNEL) else {
            pr_warn!("no memory to look for saved fatal machine checks in ERST\n");
            return;
        };
        let Ok(mut buf) = KBox::new([0u8; MAX_RECORD_LEN], GFP_KERNEL) else {
            pr_warn!("no memory to look for saved fatal machine checks in ERST\n");
            return;
        };
        let mut tracker = self.tracker.lock();
        tracker.import(
            &mut Erst { listing: None },
            &mut ids,
            &mut buf[..],
            |id, saved| store(log, cpus, id, saved),
            say,
        );
        self.publish(&tracker);
    }

    /// The tracker's counts (`XMC_GET_STATS`), one consistent set: under the
    /// tracker's lock, so a caller may wait for an erase in progress.
    pub(crate) fn counts(&self) -> Counts {
        self.tracker.lock().counts()
    }

    /// Whether some stored record still waits to be erased once read.
    pub(crate) fn outstanding(&self) -> bool {
        self.outstanding.load(Relaxed) != 0
    }

    /// The records below this sequence number are previous-boot records
    /// that were delivered and erased (or given up on): the drain may treat
    /// those still in the log as delivered ([`Tracker::settled_end`]).
    /// Relaxed: written by [`PreviousBoot::publish`] after the erase, read
    /// by the drain work after its own call of [`PreviousBoot::erase_taken`]
    /// (program order), or one drain late (a smaller value keeps records,
    /// never drops one).
    pub(crate) fn settled_end(&self) -> u64 {
        self.settled.load(Relaxed)
    }

    /// Traces the records not traced to a consumer yet, when the event has
    /// one now; then they count as delivered. False when it has none yet
    /// (the registration callback runs before the consumer is attached).
    pub(crate) fn trace_untraced(&self) -> bool {
        if !self.outstanding() {
            return true;
        }
        let mut tracker = self.tracker.lock();
        if !tracker.untraced() {
            return true;
        }
        if !hypercall::trace_enabled() {
            return false;
        }
        tracker.trace_untraced(hypercall::trace_to_consumer, say);
        true
    }

    /// Erases from ERST the previous-boot records that were delivered (a
    /// reader took them from `log`, or they were traced to a consumer);
    /// called by every drain while some wait: a failed erase is tried
    /// again at the next one.
    pub(crate) fn erase_taken(&self, log: &Log) {
        if !self.outstanding() {
            return;
        }
        let mut tracker = self.tracker.lock();
        tracker.erase_taken(|seq| log.ring().taken(seq), hypercall::erst_clear, say);
        self.publish(&tracker);
    }

    /// At unload, once no drain runs any more: a last attempt to erase
    /// what was read (in `rmmod`'s task: -EINTR if it has a signal
    /// pending), then says what stays in ERST.
    pub(crate) fn unload(&self, log: &Log) {
        self.erase_taken(log);
        let left = self.tracker.lock().left(|seq| log.ring().taken(seq));
        if left.undelivered != 0 || left.unerased != 0 {
            pr_warn!(
                "{} previous-boot records stay in ERST and come again at the next load ({} not delivered, {} delivered but not erased)\n",
                left.undelivered + left.unerased,
                left.undelivered,
                left.unerased
            );
        }
    }

    /// Mirrors the tracker's count into `outstanding` (with the tracker
    /// locked, so the two never disagree for long).
    fn publish(&self, tracker: &Tracker<KVVec<Pending>>) {
        let n = u32::try_from(tracker.outstanding()).unwrap_or(u32::MAX);
        self.outstanding.store(n, Relaxed);
        self.settled.store(tracker.settled_end(), Relaxed);
    }
}

/// Converts Xen's saved record `saved` (ERST record `id`), stores it in
/// `log`, traces and logs it: what was stored, or `None` when the log is
/// full. (Frames of their own, here and for the log line: inlined into the
/// scan, the record copies and the line's arguments made that frame the
/// module's largest.)
#[inline(never)]
fn store(log: &Log, cpus: &[LogicalCpu], id: u64, saved: XenSavedMce) -> Option<Stored> {
    let (mce, xen) = saved.to_record(cpus);
    let rec = XenRecord { mce, xen };
    let seq = log.store_all(core::slice::from_ref(&rec))?;
    let traced = hypercall::trace_to_consumer(seq, &rec);
    say_stored(id, seq, &rec.mce);
    Some(Stored { seq, rec, traced })
}

/// The log line of a previous-boot record stored as `seq`.
#[inline(never)]
fn say_stored(id: u64, seq: u64, mce: &Mce) {
    pr_err!(
        "fatal machine check of a previous boot (saved by Xen in ERST, record {id:#x}): CPU {} (APIC id {}) bank {} status {:#x} addr {:#x} mcgstatus {:#x} time {}; record {seq}\n",
        mce.extcpu as i32,
        mce.apicid,
        mce.bank,
        mce.status,
        mce.addr,
        mce.mcgstatus,
        mce.time
    );
}

/// The log line of each [`Event`].
fn say(e: Event) {
    match e {
        Event::ListFailed(e) => {
            pr_warn!("cannot list ERST records ({e}): saved fatal machine checks stay there\n")
        }
        Event::TooMany => pr_warn!(
            "ERST lists more than {MAX_SCAN_IDS} records: the ones after those were not looked at\n"
        ),
        Event::LogFull { erst_id } => pr_warn!(
            "log full: saved fatal machine check (ERST record {erst_id:#x}) left in ERST for the next load\n"
        ),
        Event::Untracked { seq, erst_id } => pr_warn!(
            "no memory to track previous-boot record {seq}: ERST record {erst_id:#x} will be delivered again at the next load\n"
        ),
        Event::Traced { seq, erst_id } => pr_info!(
            "previous-boot record {seq} (ERST record {erst_id:#x}) traced for the new consumer of xen_mcelog:xen_mce_record\n"
        ),
        Event::Erased {
            seq,
            erst_id,
            by: Delivery::Read,
        } => pr_info!("previous-boot record {seq} read: erased from ERST (record {erst_id:#x})\n"),
        Event::Erased {
            seq,
            erst_id,
            by: Delivery::Traced,
        } => pr_info!(
            "previous-boot record {seq} traced to a consumer: erased from ERST (record {erst_id:#x})\n"
        ),
        Event::EraseGaveUp {
            seq,
            erst_id,
            error,
        } => pr_warn!(
            "previous-boot record {seq} delivered, but erasing ERST record {erst_id:#x} failed {MAX_ERASE_ATTEMPTS} times (last {error}): it stays in ERST and comes again at the next load\n"
        ),
    }
}
