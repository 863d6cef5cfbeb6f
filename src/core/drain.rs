// SPDX-License-Identifier: GPL-2.0

//! Draining Xen's telemetry queues: fetch, convert, store all, then ack.
//!
//! Xen keeps at most 30 telemetry entries (20 non-urgent). `XEN_MC_fetch`
//! returns the oldest entry of a queue without removing it; only an ack of
//! that entry's id frees it, and Xen never signals VIRQ_MCA again for entries
//! already queued. So the one rule that makes the driver lossless is: **ack an
//! entry only after every record converted from it is in our ring.** When the
//! ring has no room for all of an entry's records, nothing is stored, nothing
//! is acked, and the drain stops ([`Outcome::Backpressure`]): the entry stays
//! at Xen's head and the next drain (after a reader frees space, or the
//! periodic timer) fetches the same bytes again. Storing is all-or-nothing,
//! so nothing is ever duplicated either.
//!
//! An entry that cannot be converted cleanly (malformed, unknown APIC id) is
//! stored with what is valid and acked: left in Xen it would block its queue
//! for ever. The only reason never to ack is "no room".
//!
//! Under backpressure every drain fetches (and converts) the same entry
//! again. What the drain reports about an entry ([`Env::entry_stored`]: the
//! log lines, the tracepoint) therefore happens once, after its records are
//! stored, and a physcpuinfo refresh is tried once per entry, not per fetch.
//!
//! **`MCE_OVERFLOW`** ([`Overflow`]) is raised only when telemetry was lost
//! or Xen may have dropped some, never merely because the ring was full (a
//! full ring loses nothing: the entry waits in Xen):
//!
//! * an entry Xen marked incomplete (`MCINFO_FLAGS_UNCOMPLETE`: banks that
//!   did not fit its `mc_info` are gone), or one whose banks the converter had
//!   to drop (malformed, or more than [`MAX_BANKS_PER_INFO`]);
//! * a backpressure episode (from the first drain that found no room until a
//!   drain empties both queues) in which the drain took as many entries from
//!   Xen as Xen's pool holds (20 non-urgent, or 30 in all): only then can the
//!   pool have been full, and a full pool drops new telemetry without telling
//!   anyone (`mctelem_drop_count` is internal to Xen). Every entry Xen held
//!   during the episode is taken before it ends, so a drop during an episode
//!   always raises the flag; a busy but never full pool may raise it too.
//!
//! **Delivered by tracing** ([`Delivered`]): the tracepoint
//! `xen_mcelog:xen_mce_record` fires for every record stored. A record
//! traced while the event had a consumer before and after the call
//! (rasdaemon, perf; [`Stored::traced`]) reached it, as for the
//! previous-boot records of ERST (`erst_tracker::Delivery::Traced`). While no
//! file has the device open and the admin asked for it ([`Env::keep_all`]:
//! module parameter `drop_traced=1`), such a record is delivered: when the log has no room for an entry, the drain takes the
//! oldest delivered records out of the log ([`Env::drop_oldest`], counted in
//! [`Stats::traced_only_dropped`]) to make room, instead of leaving the entry
//! in Xen. So a host whose only consumer is the tracepoint never stalls. A
//! record that was never traced to a consumer (stored while the event had
//! none, written into the device by userspace, a previous-boot record the
//! tracker still holds) is never dropped: the drain stops at it as before
//! (backpressure), and so does any open file of the device, for which the
//! log keeps everything. A consumer that comes later gets the records that
//! were stored untraced and are still in the log ([`retrace`]); then they are
//! delivered too. Dropping a delivered record is not an overflow: nothing
//! was lost (the consumer has it); the gap shows in the sequence numbers of
//! the records a reader gets later.
//!
//! This module is pure: the kernel implements [`Env`] with hypercalls and the
//! ring, the host tests with a model of Xen's queues.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
#![forbid(unsafe_code)]

// The set of delivered records is a part of its own. It is named by path:
// the kernel module's crate root includes this file by path
// (`#[path = "core/drain.rs"]`), which makes rustc look for a plain
// `mod delivered;` beside this file (src/core/delivered.rs) instead of in
// src/core/drain/ as the host crate does; a path relative to this file's
// directory is the same in both builds. Re-exported whole (a glob): the
// kernel build uses `DELIVERED_RUNS` only inside the part, and an unused
// re-export in its private module would warn.
#[path = "drain/delivered.rs"]
mod delivered;
pub use delivered::*;

use crate::{
    mcinfo::{
        convert_into,
        Conversion,
        LogicalCpu,
        MAX_BANKS_PER_INFO,
        MC_INFO_LEN, //
    },
    record::{
        Mce,
        XenRecord,
        XEN_INFO_PREVIOUS_BOOT,
        XEN_INFO_USER, //
    },
};

/// Entries fetched from one queue in one drain before it yields (the caller
/// schedules another drain), so one call never runs unbounded.
pub const BUDGET_PER_QUEUE: u32 = 64;

/// Xen's telemetry pool (`MC_NENT`): entries of both classes together.
pub const XEN_POOL_ENTRIES: u64 = 30;
/// Entries of Xen's pool that non-urgent telemetry may hold
/// (`MC_NONURGENT_NENT`).
pub const XEN_POOL_NONURGENT: u64 = 20;

/// `XEN_MC_fetch` output flag: the queue is empty.
pub const XEN_MC_NODATA: u32 = 0x2;
/// `XEN_MC_fetch` output flag: Xen could not copy the entry.
pub const XEN_MC_FETCHFAILED: u32 = 0x1;

/// Why the drain raises `MCE_OVERFLOW` (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Xen marked an entry of this queue incomplete: some banks are lost.
    Incomplete(Queue),
    /// The converter dropped banks of an entry of this queue.
    DroppedBanks(Queue),
    /// During one backpressure episode the drain took as many entries as
    /// Xen's pool holds: the pool may have been full, and Xen drops new
    /// telemetry then.
    XenPoolMayBeFull,
}

/// One of Xen's two telemetry classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// `XEN_MC_URGENT`: records from #MC.
    Urgent,
    /// `XEN_MC_NONURGENT`: records from the poller, CMCI and boot.
    NonUrgent,
}

impl Queue {
    /// Drain order: urgent first.
    pub const ALL: [Queue; 2] = [Queue::Urgent, Queue::NonUrgent];

    /// 0 for urgent, 1 for non-urgent (index into the statistics arrays).
    pub const fn index(self) -> usize {
        match self {
            Queue::Urgent => 0,
            Queue::NonUrgent => 1,
        }
    }
}

/// The result of one `XEN_MC_fetch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// An entry was copied into the buffer; its id for the ack.
    Entry(u64),
    /// The queue is empty (`XEN_MC_NODATA`).
    Empty,
    /// The hypercall failed, or Xen said `XEN_MC_FETCHFAILED` (-errno).
    Failed(i32),
}

/// Where [`Env::store_all`] put an entry's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The sequence number of the first record in the log (the others
    /// follow one by one).
    pub first: u64,
    /// They were traced while the tracepoint had a consumer before and after
    /// the calls: each reached it (delivered, see [`Delivered`]).
    pub traced: bool,
}

/// What the drain needs from its surroundings.
pub trait Env {
    /// `XEN_MC_fetch` of the oldest entry of `q` into `buf`.
    fn fetch(&mut self, q: Queue, buf: &mut [u8; MC_INFO_LEN]) -> Fetched;
    /// `XEN_MC_fetch | XEN_MC_ACK` of entry `id` of `q`.
    fn ack(&mut self, q: Queue, id: u64) -> Result<(), i32>;
    /// The physcpuinfo table.
    fn cpus(&self) -> &[LogicalCpu];
    /// Re-reads the physcpuinfo table (a CPU may have come online); true if
    /// it was refreshed.
    fn refresh_cpus(&mut self) -> bool;
    /// Wall-clock seconds, for the records' `time`.
    fn now(&self) -> u64;
    /// Stores all of `recs`, the records converted (`c`) from an entry of
    /// `q`, or none (`None`: no room for all), and traces them once stored.
    fn store_all(&mut self, q: Queue, c: &Conversion, recs: &[Mce]) -> Option<Stored>;
    /// Whether every record in the log must be kept now (none is dropped,
    /// delivered or not): a file has the device open, the admin did not
    /// ask for delivered records to be dropped (module parameter
    /// `drop_traced`, off by default: the static key of the tracepoint says
    /// that a probe is attached, not that anyone kept the record — a
    /// counting perf session, a stopped trace buffer or an event filter
    /// attaches one too), or the module is unloading (a store refused then
    /// says nothing about room). The default keeps everything.
    fn keep_all(&self) -> bool {
        true
    }
    /// The sequence number of the oldest record in the log, when one can be
    /// taken now.
    fn oldest(&mut self) -> Option<u64> {
        None
    }
    /// Takes record `seq` out of the log if it is still the oldest; false
    /// when somebody took it first.
    fn drop_oldest(&mut self, _seq: u64) -> bool {
        false
    }
    /// Called once per entry, right after all its records were stored and
    /// before it is acked (for tracing the records and logging what
    /// `struct mce` has no room for: recovery records, malformed entries).
    fn entry_stored(&mut self, q: Queue, c: &Conversion);
    /// Telemetry was lost or may have been: raise `MCE_OVERFLOW`. Called once
    /// per lossy entry, and once per backpressure episode.
    fn overflow(&mut self, why: Overflow);
}

/// Counters of the drain (kept by the caller across drains).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries fetched, per queue (a backpressured entry counts each time).
    pub fetched: [u64; 2],
    /// Entries acked, per queue.
    pub acked: [u64; 2],
    /// Records stored in the ring.
    pub stored: u64,
    /// Drains that stopped because the ring had no room for an entry.
    pub backpressure: u64,
    /// Entries with a malformed `mc_info` (stored as far as valid, acked).
    pub malformed: u64,
    /// Entries whose APIC id was unknown even after a refresh.
    pub unknown_cpu: u64,
    /// physcpuinfo refreshes triggered by an unknown APIC id.
    pub cpu_refreshes: u64,
    /// Failed fetch hypercalls.
    pub fetch_errors: u64,
    /// Failed ack hypercalls.
    pub ack_errors: u64,
    /// `MCE_OVERFLOW` raised for an entry Xen marked incomplete
    /// ([`Overflow::Incomplete`]).
    pub overflow_incomplete: u64,
    /// `MCE_OVERFLOW` raised for an entry whose banks the converter dropped
    /// ([`Overflow::DroppedBanks`]).
    pub overflow_dropped_banks: u64,
    /// `MCE_OVERFLOW` raised for a backpressure episode in which Xen's pool
    /// may have filled ([`Overflow::XenPoolMayBeFull`]).
    pub overflow_xen_pool: u64,
    /// Records taken out of the log to make room while no file had the
    /// device open, each delivered to a consumer of the tracepoint before
    /// (see [`Delivered`]). Not a loss, not an overflow.
    pub traced_only_dropped: u64,
    /// Records stored while the tracepoint had no consumer, traced later
    /// for one that came ([`retrace`]).
    pub traced_late: u64,
}

impl Stats {
    /// Counts an [`Overflow`] the drain raises.
    fn count_overflow(&mut self, why: Overflow) {
        match why {
            Overflow::Incomplete(_) => self.overflow_incomplete += 1,
            Overflow::DroppedBanks(_) => self.overflow_dropped_banks += 1,
            Overflow::XenPoolMayBeFull => self.overflow_xen_pool += 1,
        }
    }
}

/// What the drain keeps between runs: the counters, and what it needs to do
/// things once per entry or per backpressure episode.
#[derive(Clone, Copy, Debug, Default)]
pub struct State {
    /// The counters.
    pub stats: Stats,
    /// The entry the physcpuinfo table was last refreshed for (until it is
    /// acked): a backpressured entry is fetched again and again, the table
    /// is re-read once.
    refreshed_for: Option<(Queue, u64)>,
    /// The current backpressure episode, if any.
    episode: Option<Episode>,
    /// The records in the log known delivered to a consumer of the
    /// tracepoint.
    pub delivered: Delivered,
    /// Records were stored while the tracepoint had no consumer, and may
    /// still be in the log: [`retrace`] has work.
    untraced: bool,
    /// [`State::previous_boot_settled`]'s last `end`.
    previous_settled: u64,
}

/// From the first drain that found no room until a drain empties both queues.
#[derive(Clone, Copy, Debug, Default)]
struct Episode {
    /// Entries acked per queue since the episode began.
    taken: [u64; 2],
    /// [`Overflow::XenPoolMayBeFull`] was raised in this episode.
    raised: bool,
}

impl State {
    /// Whether a backpressure episode is going on.
    pub fn backpressured(&self) -> bool {
        self.episode.is_some()
    }

    /// Whether records stored while the tracepoint had no consumer may wait
    /// in the log for one ([`retrace`]).
    pub fn untraced(&self) -> bool {
        self.untraced
    }

    /// The previous-boot records (the log's first records, stored at load
    /// before any drain) with sequence numbers below `end` were delivered
    /// and the ERST bookkeeping is done with them
    /// (`erst_tracker::Tracker::settled_end`): the ones still in the log
    /// count as delivered.
    pub fn previous_boot_settled(&mut self, end: u64) {
        if end > self.previous_settled {
            self.mark_delivered(self.previous_settled, end);
            self.previous_settled = end;
        }
    }

    /// Records `start..end` are delivered. When [`Delivered`] had to forget
    /// a run, its records are traced again ([`retrace`], at the next drain):
    /// a duplicate for the consumer, never a record kept from being dropped
    /// forever (a host whose only consumer is the tracepoint would stall).
    fn mark_delivered(&mut self, start: u64, end: u64) {
        if !self.delivered.add(start, end) {
            self.untraced = true;
        }
    }

    /// Notes an entry's records stored as `s` (`n` records).
    fn note_stored(&mut self, s: Stored, n: usize) {
        if n == 0 {
            return;
        }
        if s.traced {
            self.mark_delivered(s.first, s.first.saturating_add(n as u64));
        } else {
            self.untraced = true;
        }
    }
}

/// Traces, for a consumer of the tracepoint that came after them, the
/// records of `log` (the log's records, oldest first, with their sequence
/// numbers) that the drain stored while the event had no consumer: every
/// record not known delivered, but records written into the device by
/// userspace (never traced, `XEN_INFO_USER`) and previous-boot records (the
/// ERST tracker traces those, `XEN_INFO_PREVIOUS_BOOT`). `trace` traces one
/// and says whether the event had a consumer before and after the call;
/// each such record is then delivered. True when done; false when the
/// consumer went away meanwhile (the rest waits for the next one).
pub fn retrace(
    state: &mut State,
    log: impl Iterator<Item = (u64, XenRecord)>,
    mut trace: impl FnMut(u64, &XenRecord) -> bool,
) -> bool {
    if !state.untraced {
        return true;
    }
    // Runs of records readers took since are no longer in the log: forgotten
    // first, so they crowd out none of the records traced here.
    let mut log = log.peekable();
    if let Some((oldest, _)) = log.peek() {
        state.delivered.forget_below(*oldest);
    }
    for (seq, rec) in log {
        if state.delivered.contains(seq)
            || rec.xen.flags & (XEN_INFO_USER | XEN_INFO_PREVIOUS_BOOT) != 0
        {
            continue;
        }
        if !trace(seq, &rec) {
            return false;
        }
        state.stats.traced_late += 1;
        // Forgotten again (more runs than it keeps): not retraced until
        // the next store forgets one, so a consumer never gets a record
        // again and again.
        let _ = state.delivered.add(seq, seq.saturating_add(1));
    }
    state.untraced = false;
    true
}

/// Stores an entry's records, making room when the log has none for them
/// and no file has the device open: the oldest records, as long as they
/// are known delivered, are taken out of the log (at most as many as the
/// entry has records, the device re-checked before each). False when there
/// is no room (backpressure).
fn store_making_room<E: Env>(
    env: &mut E,
    q: Queue,
    c: &Conversion,
    recs: &[Mce],
    state: &mut State,
) -> bool {
    let n = recs.len();
    // Each round drops a record or finds that somebody else took the
    // oldest one (only a reader, which then holds the device open): bounded.
    for _ in 0..=n.saturating_mul(2) {
        if let Some(s) = env.store_all(q, c, recs) {
            // Runs that readers emptied would crowd out new ones: forget
            // what is no longer in the log before adding one.
            if s.traced && state.delivered.run_count() + 1 >= DELIVERED_RUNS {
                if let Some(oldest) = env.oldest() {
                    state.delivered.forget_below(oldest);
                }
            }
            state.note_stored(s, n);
            return true;
        }
        if env.keep_all() {
            return false;
        }
        let Some(seq) = env.oldest() else {
            return false;
        };
        if !state.delivered.contains(seq) {
            return false;
        }
        if env.drop_oldest(seq) {
            state.stats.traced_only_dropped += 1;
            state.delivered.forget_below(seq.saturating_add(1));
        }
    }
    false
}

/// How a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Both queues are empty.
    Drained,
    /// The ring had no room for an entry of this queue; it stays in Xen.
    Backpressure(Queue),
    /// A queue still had entries after [`BUDGET_PER_QUEUE`]: drain again.
    Budget,
    /// `XEN_MC_fetch` of this queue failed (-errno): nothing was stored or
    /// acked, the entry (if any) stays at Xen's head.
    FetchFailed(Queue, i32),
    /// `XEN_MC_fetch | XEN_MC_ACK` of an entry of this queue failed (-errno)
    /// after its records were stored: the entry stays at Xen's head, so the
    /// next drain fetches and stores its records again.
    AckFailed(Queue, i32),
}

/// Drains urgent, then non-urgent, until empty, out of room, out of budget or
/// a hypercall fails. `buf`, `out` and `conv` are scratch space owned by the
/// caller (kept off the stack in the kernel: 3.2 KiB together); `state` is
/// kept across drains.
pub fn drain<E: Env>(
    env: &mut E,
    buf: &mut [u8; MC_INFO_LEN],
    out: &mut [Mce; MAX_BANKS_PER_INFO],
    conv: &mut Conversion,
    state: &mut State,
) -> Outcome {
    let outcome = drain_queues(env, buf, out, conv, state);
    match outcome {
        Outcome::Drained => state.episode = None,
        Outcome::Backpressure(_) if state.episode.is_none() => {
            state.episode = Some(Episode::default());
        }
        _ => {}
    }
    outcome
}

fn drain_queues<E: Env>(
    env: &mut E,
    buf: &mut [u8; MC_INFO_LEN],
    out: &mut [Mce; MAX_BANKS_PER_INFO],
    c: &mut Conversion,
    state: &mut State,
) -> Outcome {
    for q in Queue::ALL {
        let qi = q.index();
        let mut budget = BUDGET_PER_QUEUE;
        loop {
            if budget == 0 {
                return Outcome::Budget;
            }
            budget -= 1;
            let stats = &mut state.stats;
            let id = match env.fetch(q, buf) {
                Fetched::Entry(id) => id,
                Fetched::Empty => break,
                Fetched::Failed(e) => {
                    stats.fetch_errors += 1;
                    return Outcome::FetchFailed(q, e);
                }
            };
            bump(&mut stats.fetched, qi);
            convert_into(buf, env.cpus(), env.now(), out, c);
            if c.apicid_unknown && state.refreshed_for != Some((q, id)) {
                state.refreshed_for = Some((q, id));
                if env.refresh_cpus() {
                    stats.cpu_refreshes += 1;
                    convert_into(buf, env.cpus(), env.now(), out, c);
                }
            }
            let recs = out.get(..c.written).unwrap_or(&[]);
            if !store_making_room(env, q, c, recs, state) {
                state.stats.backpressure += 1;
                return Outcome::Backpressure(q);
            }
            let stats = &mut state.stats;
            stats.stored += recs.len() as u64;
            if c.apicid_unknown {
                stats.unknown_cpu += 1;
            }
            if c.is_malformed() {
                stats.malformed += 1;
            }
            env.entry_stored(q, c);
            let lossy = if c.uncomplete {
                Some(Overflow::Incomplete(q))
            } else if c.dropped_banks != 0 {
                Some(Overflow::DroppedBanks(q))
            } else {
                None
            };
            if let Some(why) = lossy {
                stats.count_overflow(why);
                env.overflow(why);
            }
            if let Err(e) = env.ack(q, id) {
                // Stored but not acked: the next fetch would return it again.
                // Xen's ack cannot fail for a valid id, so stop and report.
                stats.ack_errors += 1;
                return Outcome::AckFailed(q, e);
            }
            bump(&mut stats.acked, qi);
            if state.refreshed_for == Some((q, id)) {
                state.refreshed_for = None;
            }
            if let Some(ep) = &mut state.episode {
                bump(&mut ep.taken, qi);
                let total = ep.taken.iter().sum::<u64>();
                let nonurgent = ep.taken.get(Queue::NonUrgent.index()).copied().unwrap_or(0);
                if !ep.raised && (total >= XEN_POOL_ENTRIES || nonurgent >= XEN_POOL_NONURGENT) {
                    ep.raised = true;
                    state.stats.count_overflow(Overflow::XenPoolMayBeFull);
                    env.overflow(Overflow::XenPoolMayBeFull);
                }
            }
        }
    }
    Outcome::Drained
}

fn bump(counters: &mut [u64; 2], i: usize) {
    if let Some(c) = counters.get_mut(i) {
        *c += 1;
    }
}
