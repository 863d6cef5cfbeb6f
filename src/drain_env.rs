// SPDX-License-Identifier: GPL-2.0

//! The drain's environment in the kernel: [`drain::Env`] over the
//! hypercalls and the log, and the state the single drainer keeps between
//! runs (under the module's drain mutex).

use crate::{
    chardev::{
        Log,
        Stored, //
    },
    decisions::stats::DeviceStats,
    drain::{
        self,
        Fetched,
        Outcome,
        Overflow,
        Queue,
        Stored as Put, //
    },
    hypercall,
    mcinfo::{
        self,
        Conversion,
        LogicalCpu,
        MAX_BANKS_PER_INFO,
        MC_INFO_LEN, //
    },
    record::{
        Mce,
        XenRecord, //
    },
};
use kernel::{
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic, //
    },
    time::{
        Instant,
        Monotonic, //
    },
};
use pin_init::init_array_from_fn;

/// How long the drains that stored records took (the drain-rate benchmark
/// reads it from debugfs `stats`): fetch + convert + store + ack, from the
/// start of `drain::drain` to its return.
#[derive(Clone, Copy, Default)]
pub(crate) struct DrainTiming {
    /// Drains that stored at least one record.
    pub(crate) runs: u64,
    /// Records those drains stored.
    pub(crate) records: u64,
    /// Their total duration.
    pub(crate) ns: u64,
    /// The drain that stored the most records: its count and duration.
    pub(crate) peak_records: u64,
    pub(crate) peak_ns: u64,
}

impl DrainTiming {
    fn add(&mut self, records: u64, ns: u64) {
        if records == 0 {
            return;
        }
        self.runs += 1;
        self.records += records;
        self.ns += ns;
        if records > self.peak_records {
            self.peak_records = records;
            self.peak_ns = ns;
        }
    }
}

/// What a drain run asks of its caller.
pub(crate) enum Next {
    /// Nothing: drained, or waiting for a reader (or the periodic drain).
    Idle,
    /// Run again now (budget used up, or space freed while it stopped).
    Again,
}

/// The single consumer of Xen's queues: scratch space and what it keeps
/// between runs.
pub(crate) struct Drainer {
    buf: KBox<[u8; MC_INFO_LEN]>,
    out: KBox<[Mce; MAX_BANKS_PER_INFO]>,
    /// What the converter found in the entry `buf` holds.
    conv: KBox<Conversion>,
    /// The records with their Xen side facts, as stored in the ring.
    recs: KBox<[XenRecord; MAX_BANKS_PER_INFO]>,
    cpus: KVVec<LogicalCpu>,
    pub(crate) state: drain::State,
    pub(crate) timing: DrainTiming,
    /// The failure the last drain ended with (logged once until it changes).
    last_error: Option<Outcome>,
    /// Module parameter `drop_traced`: records traced to a consumer may be
    /// dropped from a full log that no file has open.
    drop_traced: bool,
}

impl Drainer {
    /// A drainer that knows Xen's CPUs `cpus`.
    ///
    /// The scratch arrays (768 + 1920 + 2400 bytes) are initialised in
    /// their allocations, element by element: `KBox::new([x; N])` may build
    /// the whole array on the stack first and copy it in.
    pub(crate) fn new(cpus: KVVec<LogicalCpu>, drop_traced: bool) -> Result<Self> {
        Ok(Self {
            buf: KBox::init(init_array_from_fn(|_| 0u8), GFP_KERNEL)?,
            out: KBox::init(init_array_from_fn(|_| Mce::default()), GFP_KERNEL)?,
            conv: KBox::new(Conversion::default(), GFP_KERNEL)?,
            recs: KBox::init(init_array_from_fn(|_| XenRecord::default()), GFP_KERNEL)?,
            cpus,
            state: drain::State::default(),
            timing: DrainTiming::default(),
            last_error: None,
            drop_traced,
        })
    }

    /// The drain's counters into `s` (`XMC_GET_STATS`).
    pub(crate) fn stats_into(&self, s: &mut DeviceStats) {
        let st = &self.state.stats;
        let [fetched_urgent, fetched_nonurgent] = st.fetched;
        let [acked_urgent, acked_nonurgent] = st.acked;
        s.fetched_urgent = fetched_urgent;
        s.fetched_nonurgent = fetched_nonurgent;
        s.acked_urgent = acked_urgent;
        s.acked_nonurgent = acked_nonurgent;
        s.stored = st.stored;
        s.backpressure = st.backpressure;
        s.malformed = st.malformed;
        s.unknown_cpu = st.unknown_cpu;
        s.cpu_refreshes = st.cpu_refreshes;
        s.fetch_errors = st.fetch_errors;
        s.ack_errors = st.ack_errors;
        s.overflow_incomplete = st.overflow_incomplete;
        s.overflow_dropped_banks = st.overflow_dropped_banks;
        s.overflow_xen_pool = st.overflow_xen_pool;
        s.traced_only_dropped = st.traced_only_dropped;
    }

    /// Traces, for a consumer of the tracepoint that came after them, the
    /// records the drain stored while the event had none and that are
    /// still in `log` (`drain::retrace`); a no-op when there are none or
    /// the event has no consumer now. True when nothing is left to trace.
    ///
    /// Under the drain mutex, like the drain: a record is traced by the
    /// drain that stores it or here, once. The snapshot copies one record
    /// at a time (`Ring::snapshot`): records taken meanwhile are skipped,
    /// records stored meanwhile (only by `write(2)`: the drain waits for
    /// the mutex) are never traced. A frame of its own (a record copy and
    /// the tracepoint's arguments), off the drain's.
    #[inline(never)]
    pub(crate) fn retrace(&mut self, log: &Log) -> bool {
        if !self.state.untraced() {
            return true;
        }
        if !hypercall::trace_enabled() {
            return false;
        }
        let before = self.state.stats.traced_late;
        let done = drain::retrace(
            &mut self.state,
            log.ring().snapshot(),
            hypercall::trace_to_consumer,
        );
        let n = self.state.stats.traced_late - before;
        if n != 0 {
            pr_info!("{n} records stored while xen_mcelog:xen_mce_record had no consumer traced for its new consumer\n");
        }
        done
    }

    /// Xen's CPUs, as last read (XEN_MC_physcpuinfo).
    pub(crate) fn cpus(&self) -> &[LogicalCpu] {
        &self.cpus
    }

    /// One drain of Xen's queues into `log`.
    ///
    /// `running` is checked before each entry's store: once the drain sees
    /// it cleared (unload began), it stores no further entry, so it acks
    /// none (what Xen still holds stays there for the next load); the store
    /// reports no room and the drain stops as under backpressure. The check
    /// is not a barrier: an entry whose store passed it before the flag was
    /// cleared is still stored and acked. That nothing is stored after
    /// unload is `Pipeline::stop`'s doing: `disable_work_sync` waits for a
    /// running drain to return before the ring goes.
    ///
    /// `previous_settled`: the previous-boot records below this sequence
    /// number are delivered and erased (`PreviousBoot::settled_end`).
    pub(crate) fn run(&mut self, log: &Log, running: &Atomic<bool>, previous_settled: u64) -> Next {
        self.state.previous_boot_settled(previous_settled);
        // A consumer of the tracepoint came since records were stored
        // untraced (its registration callback asks for this too).
        self.retrace(log);
        let mut env = KernelEnv {
            log,
            cpus: &mut self.cpus,
            recs: &mut self.recs,
            retry: false,
            running,
            drop_traced: self.drop_traced,
        };
        let stored_before = self.state.stats.stored;
        let t0 = Instant::<Monotonic>::now();
        let outcome = drain::drain(
            &mut env,
            &mut self.buf,
            &mut self.out,
            &mut self.conv,
            &mut self.state,
        );
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(0);
        let retry = env.retry;
        self.timing
            .add(self.state.stats.stored.saturating_sub(stored_before), ns);
        let failed = matches!(outcome, Outcome::FetchFailed(..) | Outcome::AckFailed(..));
        if failed && self.last_error != Some(outcome) {
            match outcome {
                Outcome::FetchFailed(q, e) => pr_warn!(
                    "XEN_MC_fetch of the {q:?} queue failed ({e}); retrying on the next event or timer\n"
                ),
                Outcome::AckFailed(q, e) => pr_warn!(
                    "acking a {q:?} entry (XEN_MC_fetch|XEN_MC_ACK) failed ({e}): its records are \
                     stored, but it stays in Xen and the next drain (event or timer) stores them again\n"
                ),
                _ => {}
            }
        }
        self.last_error = failed.then_some(outcome);
        match outcome {
            Outcome::Drained => {
                log.drain_resolved();
                Next::Idle
            }
            // A reader released space after the store looked and may not have
            // seen that we wait (`ring::backpressure`): try again.
            Outcome::Backpressure(_) if retry => Next::Again,
            Outcome::Backpressure(_) | Outcome::FetchFailed(..) | Outcome::AckFailed(..) => {
                Next::Idle
            }
            Outcome::Budget => Next::Again,
        }
    }
}

/// [`drain::Env`] over the hypercalls and the log.
struct KernelEnv<'a> {
    log: &'a Log,
    cpus: &'a mut KVVec<LogicalCpu>,
    recs: &'a mut [XenRecord; MAX_BANKS_PER_INFO],
    /// The last store found no room, and space was released meanwhile.
    retry: bool,
    /// Cleared when unload began: a store that sees it clear stores (and so
    /// acks) nothing; one that passed the check completes.
    running: &'a Atomic<bool>,
    /// [`Drainer::drop_traced`].
    drop_traced: bool,
}

impl drain::Env for KernelEnv<'_> {
    fn fetch(&mut self, q: Queue, buf: &mut [u8; MC_INFO_LEN]) -> Fetched {
        hypercall::mc_fetch(q, buf)
    }

    fn ack(&mut self, q: Queue, id: u64) -> core::result::Result<(), i32> {
        hypercall::mc_ack(q, id)
    }

    fn cpus(&self) -> &[LogicalCpu] {
        self.cpus
    }

    fn refresh_cpus(&mut self) -> bool {
        match hypercall::read_physcpuinfo() {
            Ok(cpus) => {
                *self.cpus = cpus;
                true
            }
            Err(_) => false,
        }
    }

    fn now(&self) -> u64 {
        hypercall::wall_clock_seconds()
    }

    fn store_all(&mut self, q: Queue, c: &Conversion, recs: &[Mce]) -> Option<Put> {
        if !self.running.load(Acquire) {
            return None;
        }
        let mut n = 0;
        for (i, (slot, m)) in self.recs.iter_mut().zip(recs).enumerate() {
            *slot = XenRecord {
                mce: *m,
                xen: mcinfo::xen_info(c, i, m, q == Queue::Urgent),
            };
            n += 1;
        }
        let stored = self.recs.get(..n).unwrap_or(&[]);
        match self.log.store_from_xen(stored) {
            Stored::At(first) => {
                // After the store, from our copies: tracing never changes
                // what readers of the device get. Sequence numbers are
                // contiguous. Each record is checked on its own (a
                // consumer before and after its call): a consumer that
                // leaves between two records and another that comes are
                // not taken for one.
                let mut traced = true;
                for (seq, r) in (first..).zip(stored) {
                    traced &= hypercall::trace_to_consumer(seq, r);
                }
                Some(Put { first, traced })
            }
            Stored::Full { retry } => {
                self.retry = retry;
                None
            }
        }
    }

    /// Asked only after a store found no room, so after that store marked
    /// the drain as waiting (`Backpressure::stalled`: the mark, then
    /// `smp_mb()`). The last release pairs with it (`chardev::release`: its
    /// fully ordered update of the open gate, then the look at the mark):
    /// either this sees the file closed and makes room, or the release sees
    /// the drain waiting and kicks it. No wake-up is lost between them.
    /// A store refused because unload began (`running` clear) found no
    /// lack of room: nothing is dropped for it.
    fn keep_all(&self) -> bool {
        !self.drop_traced || !self.running.load(Acquire) || self.log.open_files().0 != 0
    }

    // A frame of its own: `peek` copies a whole record, which the drain's
    // frame need not hold.
    #[inline(never)]
    fn oldest(&mut self) -> Option<u64> {
        self.log.ring().peek().map(|(seq, _)| seq)
    }

    fn drop_oldest(&mut self, seq: u64) -> bool {
        self.log.drop_delivered(seq)
    }

    fn entry_stored(&mut self, q: Queue, c: &Conversion) {
        if c.is_malformed() || c.dropped_banks != 0 {
            pr_warn!(
                "{q:?} entry malformed (flags {:#x}, {} banks stored, {} dropped); stored what is valid and acked it\n",
                c.malformed,
                c.written,
                c.dropped_banks
            );
        }
        if c.uncomplete {
            pr_warn!("{q:?} entry marked incomplete by Xen (MCINFO_FLAGS_UNCOMPLETE): some banks did not fit\n");
        }
        if c.apicid_unknown {
            pr_warn!(
                "{q:?} entry from APIC id {} not in XEN_MC_physcpuinfo; CPU fields unknown\n",
                c.missing_apicid
            );
        }
        for r in c.recoveries() {
            pr_info!("{q:?} entry carries a recovery record: {:?}\n", r.rec);
        }
    }

    fn overflow(&mut self, why: Overflow) {
        self.log.flags().set_overflow();
        if why == Overflow::XenPoolMayBeFull {
            // Once per backpressure episode (the drain decides).
            pr_warn!(
                "Xen's telemetry pool may have filled while the log was full: Xen drops new \
                 records then (MCE_OVERFLOW set); read /dev/xen_mcelog more often or raise ring_size\n"
            );
        }
    }
}
