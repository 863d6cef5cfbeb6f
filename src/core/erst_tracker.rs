// SPDX-License-Identifier: GPL-2.0-only

//! The bookkeeping of Xen's fatal machine checks saved in ERST (`erst.rs`
//! has the record format): which of the records in ERST are Xen's, which of
//! those the log holds and ERST still has, when to erase them and what to
//! say about it.
//!
//! A record found at load is stored in the log and stays in ERST until it
//! was delivered; only then is it erased. Delivered means: a reader took it
//! from the device (its copy to the reader succeeded), or it was traced
//! (`xen_mcelog:xen_mce_record`) while the event had a consumer. The second
//! is how rasdaemon gets it: rasdaemon starts after the module has loaded,
//! so the record is traced again when the event gets its consumer
//! ([`Tracker::trace_untraced`]); on a host where rasdaemon is the only
//! consumer, nobody reads the device and the record would otherwise stay in
//! ERST for ever, taking the room Xen needs for the next fatal error.
//! Records that are not Xen's are never touched.
//!
//! Erasing can fail for a while: Linux's `erst_clear` takes the id cache's
//! lock with `mutex_lock_interruptible` (drivers/acpi/apei/erst.c), so it
//! returns -EINTR in a task with a signal pending (`rmmod` stopped by
//! systemd or Ctrl-C), and firmware can report -EIO or -EBUSY. A record
//! whose erase failed stays pending and is tried again at the next drain,
//! up to [`MAX_ERASE_ATTEMPTS`] times, without a log line per attempt; then
//! it is left in ERST (it comes again at the next load) with one line.
//! Only -ENOENT (gone already: pstore or systemd-pstore erased it) forgets
//! it at once.
//!
//! This module is pure: the kernel (`previous_boot.rs`) implements
//! [`Listing`] and [`List`] over Linux's ERST functions and a `KVVec`, and
//! turns each [`Event`] into a log line; the host tests use a model of the
//! store.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![forbid(unsafe_code)]

use crate::erst::{xen_mce_record, XenSavedMce};
use crate::record::XenRecord;

/// `ENOENT` (include/uapi/asm-generic/errno-base.h): the record is not in
/// ERST (any more).
pub const ENOENT: i32 = 2;
/// `ENODEV`: the kernel or the platform has no (enabled) ERST.
pub const ENODEV: i32 = 19;

/// Most ERST record ids one load looks at: Linux's id cache never lists
/// more in one listing (`ERST_RECORD_ID_CACHE_SIZE_MAX`,
/// drivers/acpi/apei/erst.c), so this bounds only a listing that would not
/// end.
pub const MAX_SCAN_IDS: usize = 1024;

/// Erase attempts per record and load (one per drain: with the default
/// `drain_period_ms` and nothing else waking the drain, about 20 s of
/// trying) before it is left in ERST for the next load.
pub const MAX_ERASE_ATTEMPTS: u8 = 5;

/// The records of the firmware's ERST, as one listing: every id once, in
/// the store's order, whatever the number asked for per call.
pub trait Listing {
    /// The next ids of the listing, written to the front of `ids`: how many
    /// (0 at its end; not called again after that), or the -errno
    /// (-[`ENODEV`]: no ERST).
    fn next_ids(&mut self, ids: &mut [u64]) -> Result<usize, i32>;
    /// Reads record `id` into `buf`: its length (copied only when it is at
    /// most `buf.len()`), or the -errno (-[`ENOENT`]: erased meanwhile).
    fn read(&mut self, id: u64, buf: &mut [u8]) -> Result<usize, i32>;
}

/// What `store` (see [`Tracker::import`]) returns for a record it stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Its sequence number in the log.
    pub seq: u64,
    /// The record as stored, to be traced again for a consumer of the
    /// tracepoint that comes later.
    pub rec: XenRecord,
    /// Whether it was traced while the event had a consumer.
    pub traced: bool,
}

/// How a previous-boot record reached a consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A reader took it from the device.
    Read,
    /// It was traced while the event had a consumer (rasdaemon, perf).
    Traced,
}

/// A previous-boot record stored in the log and still in ERST.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Its sequence number in the log.
    pub seq: u64,
    /// Its ERST record id.
    pub erst_id: u64,
    /// The record, for [`Tracker::trace_untraced`].
    rec: XenRecord,
    /// Traced while the event had a consumer.
    traced: bool,
    /// Failed erase attempts.
    failures: u8,
}

impl Pending {
    /// Whether erasing it failed [`MAX_ERASE_ATTEMPTS`] times.
    fn given_up(&self) -> bool {
        self.failures >= MAX_ERASE_ATTEMPTS
    }

    /// How it reached a consumer, if it did (`taken`: whether a reader took
    /// the record with this sequence number).
    fn delivered(&self, taken: &impl Fn(u64) -> bool) -> Option<Delivery> {
        if taken(self.seq) {
            Some(Delivery::Read)
        } else if self.traced {
            Some(Delivery::Traced)
        } else {
            None
        }
    }
}

/// Where the [`Tracker`] keeps its [`Pending`] records (a `KVVec` in the
/// kernel).
pub trait List {
    /// The records, oldest first.
    fn as_slice(&self) -> &[Pending];
    /// The same, writable.
    fn as_mut_slice(&mut self) -> &mut [Pending];
    /// Appends `p`; false when there is no memory for it.
    fn try_push(&mut self, p: Pending) -> bool;
    /// Keeps the first `len` records.
    fn truncate(&mut self, len: usize);
}

/// What the caller should log (each at most once per record or per scan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// ERST could not be listed (-errno): what it holds stays there.
    ListFailed(i32),
    /// The listing went on after [`MAX_SCAN_IDS`] ids: the records after
    /// those were not looked at.
    TooMany,
    /// The log was full at ERST record `erst_id`: it and the Xen records
    /// after it stay in ERST for the next load.
    LogFull {
        /// The record that did not fit.
        erst_id: u64,
    },
    /// No memory to remember record `erst_id` (stored as `seq`): it is not
    /// erased when read, and comes again at the next load.
    Untracked {
        /// Its sequence number in the log.
        seq: u64,
        /// Its ERST record id.
        erst_id: u64,
    },
    /// Record `seq` was traced for a consumer of the event that came after
    /// the load.
    Traced {
        /// Its sequence number in the log.
        seq: u64,
        /// Its ERST record id.
        erst_id: u64,
    },
    /// Record `seq` was delivered, and it was erased from ERST.
    Erased {
        /// Its sequence number in the log.
        seq: u64,
        /// Its ERST record id.
        erst_id: u64,
        /// How it was delivered.
        by: Delivery,
    },
    /// Record `seq` was delivered, but erasing it failed
    /// [`MAX_ERASE_ATTEMPTS`] times (the last with `error`, -errno): no more
    /// attempts; it stays in ERST and comes again at the next load.
    EraseGaveUp {
        /// Its sequence number in the log.
        seq: u64,
        /// Its ERST record id.
        erst_id: u64,
        /// The last attempt's -errno.
        error: i32,
    },
}

/// What stays in ERST at unload ([`Tracker::left`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Left {
    /// Records never delivered (no reader took them, never traced while the
    /// event had a consumer).
    pub undelivered: usize,
    /// Delivered records that could not be erased (given up, or the last
    /// attempt at unload failed).
    pub unerased: usize,
}

/// The tracker's counts since the load (the device's `XMC_GET_STATS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records Xen saved that were stored in the log.
    pub imported: u64,
    /// Of those, still waiting to be erased once delivered, or again after
    /// a failure ([`Tracker::outstanding`]).
    pub pending: u64,
    /// Of those, delivered and no longer in ERST: erased, or found erased
    /// already (-ENOENT: pstore).
    pub erased: u64,
    /// Of those, delivered but left in ERST after [`MAX_ERASE_ATTEMPTS`]
    /// failed erases (they come again at the next load).
    pub given_up: u64,
}

/// The previous-boot records stored in the log and not yet erased from ERST.
pub struct Tracker<L> {
    list: L,
    /// [`Counts::imported`].
    imported: u64,
    /// [`Counts::erased`].
    erased: u64,
    /// One past the sequence number of the last record stored.
    end: u64,
    /// The first record stored but not tracked (no memory), if any: the
    /// tracker cannot say it was delivered.
    first_untracked: Option<u64>,
}

impl<L: List> Tracker<L> {
    /// A tracker keeping its records in `list` (empty).
    pub fn new(list: L) -> Self {
        Tracker {
            list,
            imported: 0,
            erased: 0,
            end: 0,
            first_untracked: None,
        }
    }

    /// What it did so far, and what is left.
    pub fn counts(&self) -> Counts {
        let given_up = self.list.as_slice().iter().filter(|p| p.given_up()).count();
        Counts {
            imported: self.imported,
            pending: self.outstanding() as u64,
            erased: self.erased,
            given_up: given_up as u64,
        }
    }

    /// Looks at every record `listing` lists, up to [`MAX_SCAN_IDS`]
    /// (`ids` is scratch space for as many ids as `listing` is asked for at
    /// a time, `buf` for one record: [`crate::erst::MAX_RECORD_LEN`] bytes)
    /// and hands each of Xen's to `store`, which stores it in the log,
    /// traces it and returns what it stored ([`Stored`]; `None`: the log is
    /// full, the rest stays in ERST). The stored ones are tracked; every other record is left
    /// alone, however many there are before Xen's (dom0's own pstore
    /// records share ERST).
    pub fn import(
        &mut self,
        listing: &mut impl Listing,
        ids: &mut [u64],
        buf: &mut [u8],
        mut store: impl FnMut(u64, XenSavedMce) -> Option<Stored>,
        mut log: impl FnMut(Event),
    ) {
        let mut scanned = 0usize;
        loop {
            let want = ids.len().min(MAX_SCAN_IDS.saturating_sub(scanned));
            let Some(chunk) = ids.get_mut(..want).filter(|c| !c.is_empty()) else {
                break;
            };
            let n = match listing.next_ids(chunk) {
                Ok(0) => return,
                Ok(n) => n.min(want),
                Err(e) if e == -ENODEV => return,
                Err(e) => {
                    log(Event::ListFailed(e));
                    return;
                }
            };
            scanned = scanned.saturating_add(n);
            for &id in ids.get(..n).unwrap_or(&[]) {
                if !self.look_at(listing, id, buf, &mut store, &mut log) {
                    return;
                }
            }
        }
        // Stopped by the bound, not by the listing's end: does it go on?
        if scanned >= MAX_SCAN_IDS {
            if let Some(one) = ids.get_mut(..1) {
                if matches!(listing.next_ids(one), Ok(n) if n > 0) {
                    log(Event::TooMany);
                }
            }
        }
    }

    /// Reads record `id` and stores it when it is Xen's; false when the
    /// log is full (the scan stops).
    fn look_at(
        &mut self,
        listing: &mut impl Listing,
        id: u64,
        buf: &mut [u8],
        store: &mut impl FnMut(u64, XenSavedMce) -> Option<Stored>,
        log: &mut impl FnMut(Event),
    ) -> bool {
        let Ok(len) = listing.read(id, buf) else {
            return true; // erased meanwhile (pstore), or unreadable: not ours to judge
        };
        let Some(saved) = buf.get(..len).and_then(xen_mce_record) else {
            return true; // not a record Xen wrote: left alone
        };
        let Some(Stored { seq, rec, traced }) = store(id, saved) else {
            log(Event::LogFull { erst_id: id });
            return false;
        };
        self.imported = self.imported.saturating_add(1);
        self.end = self.end.max(seq.saturating_add(1));
        if !self.list.try_push(Pending {
            seq,
            erst_id: id,
            rec,
            traced,
            failures: 0,
        }) {
            self.first_untracked.get_or_insert(seq);
            log(Event::Untracked { seq, erst_id: id });
        }
        true
    }

    /// Every record stored with a sequence number below this one was
    /// delivered and needs nothing more from the log: erased (or found
    /// erased) once delivered, or delivered and given up on. The records are
    /// the log's first (stored at load, before any other), so the drain may
    /// treat the ones still in the log like the records it traced to a
    /// consumer (`drain::State::previous_boot_settled`). A record still
    /// waiting (undelivered, or delivered with its erase still to be
    /// retried) or one stored untracked stops it there: kept for a reader,
    /// and a record taken out of the log before its erase would be counted
    /// as read.
    pub fn settled_end(&self) -> u64 {
        let waiting = self
            .list
            .as_slice()
            .iter()
            .filter(|p| !p.given_up())
            .map(|p| p.seq)
            .min();
        [Some(self.end), waiting, self.first_untracked]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.end)
    }

    /// How many records still need work: erasing once delivered, or again
    /// after a failure (not the ones given up).
    pub fn outstanding(&self) -> usize {
        self.list
            .as_slice()
            .iter()
            .filter(|p| !p.given_up())
            .count()
    }

    /// Whether some record still waiting to be erased was never traced while
    /// the event had a consumer.
    pub fn untraced(&self) -> bool {
        self.list
            .as_slice()
            .iter()
            .any(|p| !p.given_up() && !p.traced)
    }

    /// Traces (`trace` of the sequence number and the record) every record
    /// still waiting to be erased that was not traced while the event had a
    /// consumer. `trace` returns whether the event had a consumer all
    /// through the call; only such a record counts as traced (delivered),
    /// once. A consumer that went away meanwhile leaves the rest untraced.
    pub fn trace_untraced(
        &mut self,
        mut trace: impl FnMut(u64, &XenRecord) -> bool,
        mut log: impl FnMut(Event),
    ) {
        for p in self.list.as_mut_slice() {
            if p.given_up() || p.traced {
                continue;
            }
            if !trace(p.seq, &p.rec) {
                return;
            }
            p.traced = true;
            log(Event::Traced {
                seq: p.seq,
                erst_id: p.erst_id,
            });
        }
    }

    /// Erases from ERST (`erase`) the records that were delivered: a reader
    /// took them (`taken` of their sequence number), or they were traced
    /// while the event had a consumer. A failed erase keeps the record for the next
    /// call, up to [`MAX_ERASE_ATTEMPTS`] attempts.
    pub fn erase_taken(
        &mut self,
        taken: impl Fn(u64) -> bool,
        mut erase: impl FnMut(u64) -> Result<(), i32>,
        mut log: impl FnMut(Event),
    ) {
        let mut keep = 0usize;
        let n = self.list.as_slice().len();
        for i in 0..n {
            let Some(mut p) = self.list.as_slice().get(i).copied() else {
                break;
            };
            let by = if p.given_up() {
                None
            } else {
                p.delivered(&taken)
            };
            let done = by.is_some_and(|by| match erase(p.erst_id) {
                Ok(()) => {
                    log(Event::Erased {
                        seq: p.seq,
                        erst_id: p.erst_id,
                        by,
                    });
                    true
                }
                // Erased by somebody else (pstore) meanwhile: fine too.
                Err(e) if e == -ENOENT => true,
                Err(error) => {
                    p.failures = p.failures.saturating_add(1);
                    if p.given_up() {
                        log(Event::EraseGaveUp {
                            seq: p.seq,
                            erst_id: p.erst_id,
                            error,
                        });
                    }
                    false
                }
            });
            if done {
                self.erased = self.erased.saturating_add(1);
            } else {
                if let Some(slot) = self.list.as_mut_slice().get_mut(keep) {
                    *slot = p;
                }
                keep = keep.saturating_add(1);
            }
        }
        self.list.truncate(keep);
    }

    /// What stays in ERST (at unload, after a last [`Tracker::erase_taken`]).
    pub fn left(&self, taken: impl Fn(u64) -> bool) -> Left {
        let mut left = Left::default();
        for p in self.list.as_slice() {
            if p.delivered(&taken).is_some() {
                left.unerased = left.unerased.saturating_add(1);
            } else {
                left.undelivered = left.undelivered.saturating_add(1);
            }
        }
        left
    }
}
