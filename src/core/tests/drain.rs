// SPDX-License-Identifier: GPL-2.0-only

//! The drain against a model of Xen's telemetry queues (mctelem.c): fetch
//! returns the oldest entry without removing it, only an ack of that entry's
//! id frees it, ids are slot addresses and get reused, Xen holds at most 30
//! entries (20 non-urgent) and drops new telemetry when full.
//! The property: nothing is acked before all its records are stored, every
//! record Xen kept reaches the reader exactly once, in per-queue order.
//!
//! Why one file of about 1,100 lines: its 26 tests run on one model (`Xen`,
//! the queues; `TestEnv`, the drain's environment around them; `Scratch`),
//! which is most of what they share and a third of the file; src/core/tests/
//! has one test binary per module under test.

mod common;

use common::{ce_entry as entry, CpuEntry, InfoBuilder, CE};
use proptest::prelude::*;
use std::collections::VecDeque;
use xmc_core::drain::*;
use xmc_core::mcinfo::*;
use xmc_core::record::*;

/// Xen's two queues with the pool limits and slot-address ids.
#[derive(Default)]
struct Xen {
    queues: [VecDeque<(u64, [u8; MC_INFO_LEN])>; 2],
    free_slots: Vec<u64>,
    dropped: u64,
    fetch_fails: u32,
    ack_fails: u32,
}

impl Xen {
    fn new() -> Self {
        Xen {
            free_slots: (0..30u64)
                .map(|i| 0xffff_8300_0000_0000 + i * 784)
                .collect(),
            ..Default::default()
        }
    }
    /// mctelem_reserve + commit; false when Xen has to drop the telemetry.
    fn commit(&mut self, q: Queue, info: [u8; MC_INFO_LEN]) -> bool {
        let held = self.queues[0].len() + self.queues[1].len();
        let full = held >= 30 || (q == Queue::NonUrgent && self.queues[1].len() >= 20);
        match self.free_slots.pop() {
            Some(id) if !full => {
                self.queues[q.index()].push_back((id, info));
                true
            }
            other => {
                if let Some(id) = other {
                    self.free_slots.push(id);
                }
                self.dropped += 1;
                false
            }
        }
    }
}

struct TestEnv {
    xen: Xen,
    ring: VecDeque<Mce>,
    cap: usize,
    cpus: Vec<LogicalCpu>,
    all_cpus: Vec<LogicalCpu>,
    /// Records stored per entry id, checked at ack time.
    pending_store: Option<(Queue, u64, usize)>,
    /// store_all succeeded for the converted entry.
    stored_ok: bool,
    acks: Vec<(Queue, u64)>,
    violations: Vec<String>,
    /// Entries reported by `entry_stored` (log lines and trace events).
    reported: u32,
    store_attempts: u32,
    overflows: Vec<Overflow>,
    /// Records ever stored: the front of `ring` has the sequence number
    /// `pushed - ring.len()` (readers pop the front).
    pushed: u64,
    /// The tracepoint has a consumer.
    consumer: bool,
    /// What the consumer got: (seq, addr).
    traced: Vec<(u64, u64)>,
    /// A file has the device open.
    open: bool,
    /// Records the drain took out to make room: (seq, addr).
    dropped: Vec<(u64, u64)>,
    /// The consumer goes away during the trace call this many calls from
    /// now (after the record reached it, before the check after the call).
    detach_after: Option<u32>,
    /// A reader opens the device this many `oldest` looks from now, right
    /// after the drain looked at the open gate (an open racing the drop).
    open_during_drop: Option<u32>,
    /// the consumer is swapped during this many-th trace call from
    /// now: there before the call (A), gone when the probe runs (A left:
    /// 1->0), there again after the call (B attached: 0->1). What the
    /// kernel's `hypercall::trace_to_consumer` (before && after) sees.
    swap_during: Option<u32>,
    /// `KernelEnv::store_all` returns `None` without looking at
    /// the ring once `running` is clear (unload).
    running: bool,
}

impl TestEnv {
    fn new(cap: usize) -> Self {
        let cpus = vec![
            CpuEntry::intel(0, 0).parsed(),
            CpuEntry::intel(1, 2).parsed(),
        ];
        TestEnv {
            xen: Xen::new(),
            ring: VecDeque::new(),
            cap,
            all_cpus: cpus.clone(),
            cpus,
            pending_store: None,
            stored_ok: false,
            acks: vec![],
            violations: vec![],
            reported: 0,
            store_attempts: 0,
            overflows: vec![],
            pushed: 0,
            consumer: false,
            traced: vec![],
            open: false,
            dropped: vec![],
            detach_after: None,
            open_during_drop: None,
            swap_during: None,
            running: true,
        }
    }

    /// The sequence number of the ring's front record.
    fn front_seq(&self) -> u64 {
        self.pushed - self.ring.len() as u64
    }

    /// Records written into the device by userspace (never traced).
    fn write_user(&mut self, addrs: &[u64]) {
        for &a in addrs {
            let mut m = Mce {
                addr: a,
                ..Mce::default()
            };
            m.mark_injected();
            self.ring.push_back(m);
            self.pushed += 1;
        }
    }

    /// The ring as the kernel's snapshot gives it: (seq, record with its
    /// Xen side; records written by userspace are marked so).
    fn snapshot(&self) -> Vec<(u64, XenRecord)> {
        let first = self.front_seq();
        self.ring
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let rec = if m.is_injected() {
                    XenRecord::user(*m)
                } else {
                    XenRecord {
                        mce: *m,
                        xen: XenInfo::default(),
                    }
                };
                (first + i as u64, rec)
            })
            .collect()
    }

    /// One trace call, as `hypercall::trace_to_consumer`: whether the same
    /// consumer was there before and after (the key on at both ends and
    /// `xmc_trace_epoch` unchanged: a swap during the call bumps it twice).
    fn trace(&mut self, seq: u64, addr: u64) -> bool {
        let before = self.consumer;
        let mut at_probe = self.consumer;
        let mut epoch_changed = false;
        if let Some(n) = self.swap_during.as_mut() {
            if *n == 0 {
                at_probe = false;
                epoch_changed = true;
                self.swap_during = None;
            } else {
                *n -= 1;
            }
        }
        if at_probe {
            self.traced.push((seq, addr));
        }
        if let Some(n) = self.detach_after.as_mut() {
            if *n == 0 {
                self.consumer = false;
                self.detach_after = None;
            } else {
                *n -= 1;
            }
        }
        before && self.consumer && !epoch_changed
    }

    /// A reader takes the front record.
    fn read_one(&mut self) -> Option<Mce> {
        self.ring.pop_front()
    }
}

impl Env for TestEnv {
    fn fetch(&mut self, q: Queue, buf: &mut [u8; MC_INFO_LEN]) -> Fetched {
        if self.xen.fetch_fails > 0 {
            self.xen.fetch_fails -= 1;
            return Fetched::Failed(-14);
        }
        match self.xen.queues[q.index()].front() {
            Some((id, info)) => {
                *buf = *info;
                self.pending_store = None;
                self.stored_ok = false;
                Fetched::Entry(*id)
            }
            None => Fetched::Empty,
        }
    }
    fn ack(&mut self, q: Queue, id: u64) -> Result<(), i32> {
        if self.xen.ack_fails > 0 {
            self.xen.ack_fails -= 1;
            return Err(-14);
        }
        match self.pending_store {
            Some((sq, sid, _)) if sq == q && sid == id && self.stored_ok => {}
            _ => self
                .violations
                .push(format!("ack of {id:#x} before its records were stored")),
        }
        self.stored_ok = false;
        self.acks.push((q, id));
        let qu = &mut self.xen.queues[q.index()];
        // mctelem_ack: frees only the current head; anything else is a no-op.
        if qu.front().map(|e| e.0) == Some(id) {
            qu.pop_front();
            self.xen.free_slots.push(id);
        }
        Ok(())
    }
    fn cpus(&self) -> &[LogicalCpu] {
        &self.cpus
    }
    fn refresh_cpus(&mut self) -> bool {
        self.cpus = self.all_cpus.clone();
        true
    }
    fn now(&self) -> u64 {
        1_800_000_000
    }
    fn store_all(&mut self, _q: Queue, _c: &Conversion, recs: &[Mce]) -> Option<Stored> {
        self.store_attempts += 1;
        if !self.running {
            return None;
        }
        if self.ring.len() + recs.len() > self.cap {
            return None;
        }
        let first = self.pushed;
        self.ring.extend(recs.iter().copied());
        self.pushed += recs.len() as u64;
        self.stored_ok = true;
        let mut traced = true;
        for (seq, m) in (first..).zip(recs) {
            traced &= self.trace(seq, m.addr);
        }
        Some(Stored { first, traced })
    }
    fn keep_all(&self) -> bool {
        // As the kernel's: the device open, or unload began.
        self.open || !self.running
    }
    fn oldest(&mut self) -> Option<u64> {
        if let Some(n) = self.open_during_drop.as_mut() {
            if *n == 0 {
                self.open = true;
                self.open_during_drop = None;
            } else {
                *n -= 1;
            }
        }
        (!self.ring.is_empty()).then(|| self.front_seq())
    }
    fn drop_oldest(&mut self, seq: u64) -> bool {
        if self.ring.is_empty() || self.front_seq() != seq {
            return false;
        }
        let m = self.ring.pop_front().unwrap();
        self.dropped.push((seq, m.addr));
        true
    }
    fn entry_stored(&mut self, q: Queue, c: &Conversion) {
        if !self.stored_ok {
            self.violations
                .push("entry reported before it was stored".into());
        }
        self.reported += 1;
        let id = self.xen.queues[q.index()].front().map(|e| e.0).unwrap_or(0);
        self.pending_store = Some((q, id, c.written));
    }
    fn overflow(&mut self, why: Overflow) {
        self.overflows.push(why);
    }
}

/// The caller-owned scratch space and counters of `drain`, kept across runs.
struct Scratch {
    buf: [u8; MC_INFO_LEN],
    out: [Mce; MAX_BANKS_PER_INFO],
    conv: Conversion,
    st: State,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            buf: [0; MC_INFO_LEN],
            out: [Mce::default(); MAX_BANKS_PER_INFO],
            conv: Conversion::default(),
            st: State::default(),
        }
    }
    fn drain(&mut self, env: &mut TestEnv) -> Outcome {
        drain(
            env,
            &mut self.buf,
            &mut self.out,
            &mut self.conv,
            &mut self.st,
        )
    }
}

fn addrs_in(ring: &VecDeque<Mce>) -> Vec<u64> {
    ring.iter().map(|m| m.addr).collect()
}

#[test]
fn drains_both_queues_urgent_first_and_acks_each() {
    let mut env = TestEnv::new(64);
    assert!(env.xen.commit(Queue::NonUrgent, entry(0, &[0x10, 0x11])));
    assert!(env.xen.commit(Queue::Urgent, entry(2, &[0x20])));
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(addrs_in(&env.ring), vec![0x20, 0x10, 0x11]);
    assert_eq!(s.st.stats.fetched, [1, 1]);
    assert_eq!(s.st.stats.acked, [1, 1]);
    assert_eq!(s.st.stats.stored, 3);
    assert!(env.violations.is_empty(), "{:?}", env.violations);
    assert_eq!(env.ring[0].extcpu, 1, "APIC id 2 is Xen CPU 1");
    assert_eq!(env.ring[0].time, 1_800_000_000);
    assert_eq!(env.ring[0].finished, 1);
}

#[test]
fn full_ring_leaves_the_entry_in_xen_and_resumes_later() {
    let mut env = TestEnv::new(2);
    env.xen.commit(Queue::NonUrgent, entry(0, &[1]));
    env.xen.commit(Queue::NonUrgent, entry(0, &[2, 3]));
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert_eq!(
        addrs_in(&env.ring),
        vec![1],
        "the 2-bank entry does not fit: none of it stored"
    );
    assert_eq!(env.xen.queues[1].len(), 1, "and it is still queued in Xen");
    assert_eq!(s.st.stats.acked, [0, 1]);
    assert_eq!(s.st.stats.backpressure, 1);
    // Still no room: same answer, nothing duplicated.
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert_eq!(env.ring.len(), 1);
    // A reader frees space: the entry arrives, once.
    env.ring.pop_front();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(addrs_in(&env.ring), vec![2, 3]);
    assert!(env.xen.queues[1].is_empty());
    assert!(env.violations.is_empty(), "{:?}", env.violations);
}

#[test]
fn malformed_entry_is_stored_as_far_as_valid_and_acked() {
    let mut env = TestEnv::new(16);
    let mut bad = entry(0, &[7]);
    // Make the record after the bank claim a size running past the end.
    let off = 8 + 32 + 48;
    bad[off..off + 4].copy_from_slice(&[1, 0, 0xf0, 0x02]);
    bad[0] = 3;
    env.xen.commit(Queue::Urgent, bad);
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(addrs_in(&env.ring), vec![7]);
    assert_eq!(s.st.stats.malformed, 1);
    assert_eq!(
        s.st.stats.acked,
        [1, 0],
        "acked: left in Xen it would block the queue for ever"
    );
}

#[test]
fn entry_without_banks_is_acked_not_stuck() {
    let mut env = TestEnv::new(16);
    env.xen.commit(Queue::NonUrgent, entry(0, &[]));
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert!(env.ring.is_empty());
    assert_eq!(s.st.stats.acked, [0, 1]);
}

#[test]
fn unknown_apic_id_refreshes_the_cpu_table_once() {
    let mut env = TestEnv::new(16);
    env.cpus.truncate(1); // CPU with APIC id 2 came online after load
    env.xen.commit(Queue::Urgent, entry(2, &[5]));
    let mut s = Scratch::new();
    s.drain(&mut env);
    assert_eq!(s.st.stats.cpu_refreshes, 1);
    assert_eq!(s.st.stats.unknown_cpu, 0);
    assert_eq!(env.ring[0].extcpu, 1);
    // Still unknown after the refresh: stored anyway, with the CPU unknown.
    env.xen.commit(Queue::Urgent, entry(9, &[6]));
    s.drain(&mut env);
    assert_eq!(s.st.stats.unknown_cpu, 1);
    assert_eq!(env.ring[1].addr, 6);
    assert_eq!(env.ring[1].extcpu, EXTCPU_UNKNOWN);
}

#[test]
fn fetch_failure_stops_without_acking() {
    let mut env = TestEnv::new(16);
    env.xen.commit(Queue::Urgent, entry(0, &[1]));
    env.xen.fetch_fails = 1;
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::FetchFailed(Queue::Urgent, -14));
    assert!(env.acks.is_empty());
    assert_eq!(s.st.stats.fetch_errors, 1);
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(addrs_in(&env.ring), vec![1]);
}

#[test]
fn ack_failure_is_reported_as_such_and_the_entry_comes_again() {
    let mut env = TestEnv::new(16);
    env.xen.commit(Queue::NonUrgent, entry(0, &[7]));
    env.xen.ack_fails = 1;
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::AckFailed(Queue::NonUrgent, -14));
    assert_eq!((s.st.stats.ack_errors, s.st.stats.fetch_errors), (1, 0));
    // Stored, not acked: Xen still holds it, and the next drain stores it
    // again (what the kernel's log line says).
    assert_eq!(addrs_in(&env.ring), vec![7]);
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(addrs_in(&env.ring), vec![7, 7]);
    assert_eq!(s.st.stats.acked, [0, 1]);
}

#[test]
fn budget_bounds_one_drain() {
    let mut env = TestEnv::new(1024);
    let mut s = Scratch::new();
    let mut produced = 0u64;
    let mut outcomes = vec![];
    for _ in 0..200 {
        env.xen.commit(Queue::Urgent, entry(0, &[produced]));
        produced += 1;
        if produced % 25 == 0 {
            outcomes.push(s.drain(&mut env));
        }
    }
    while s.drain(&mut env) == Outcome::Budget {}
    assert_eq!(addrs_in(&env.ring), (0..produced).collect::<Vec<_>>());
}

#[derive(Clone, Debug)]
enum Op {
    Error(bool, u8),
    Drain,
    Read(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0u8..5).prop_map(|(u, n)| Op::Error(u, n)),
        2 => Just(Op::Drain),
        2 => (0u8..8).prop_map(Op::Read),
    ]
}

proptest! {
    /// Random bursts, drains and reads with a small ring: no ack before store,
    /// every record Xen kept is read exactly once, per-queue order is kept.
    #[test]
    fn nothing_lost_nothing_duplicated(cap in 1usize..12, ops in proptest::collection::vec(op(), 1..120)) {
        let mut env = TestEnv::new(cap.max(4));
        let mut s = Scratch::new();
        let mut next = 1u64;
        let mut kept: [Vec<u64>; 2] = [vec![], vec![]];
        let mut read: Vec<u64> = vec![];
        for o in ops {
            match o {
                Op::Error(urgent, nbanks) => {
                    let q = if urgent { Queue::Urgent } else { Queue::NonUrgent };
                    let addrs: Vec<u64> = (0..u64::from(nbanks)).map(|i| next + i).collect();
                    next += u64::from(nbanks);
                    if env.xen.commit(q, entry(0, &addrs)) {
                        kept[q.index()].extend(&addrs);
                    }
                }
                Op::Drain => { s.drain(&mut env); }
                Op::Read(n) => for _ in 0..n { if let Some(m) = env.ring.pop_front() { read.push(m.addr) } },
            }
        }
        // Readers keep reading, drains keep running, until Xen is empty.
        for _ in 0..1000 {
            read.extend(env.ring.drain(..).map(|m| m.addr));
            if s.drain(&mut env) == Outcome::Drained && env.ring.is_empty() {
                break;
            }
        }
        prop_assert!(env.violations.is_empty(), "{:?}", env.violations);
        prop_assert!(env.xen.queues.iter().all(|q| q.is_empty()));
        let mut sorted = read.clone();
        sorted.sort_unstable();
        let mut want: Vec<u64> = kept.iter().flatten().copied().collect();
        want.sort_unstable();
        prop_assert_eq!(sorted, want, "every kept record exactly once");
        for q in &kept {
            let order: Vec<u64> = read.iter().copied().filter(|a| q.contains(a)).collect();
            prop_assert_eq!(&order, q, "per-queue FIFO");
        }
    }
}

/// Fills a ring of `cap` so that the next entry finds no room.
fn fill_ring(env: &mut TestEnv) {
    while env.ring.len() < env.cap {
        env.ring.push_back(Mce::default());
        env.pushed += 1;
    }
}

/// src/core/drain.rs ("Under backpressure"): every drain fetches and converts the
/// same entry again; it is reported (logged, traced) once, after it is stored.
#[test]
fn backpressured_entry_is_reported_once_after_it_is_stored() {
    let mut env = TestEnv::new(4);
    fill_ring(&mut env);
    env.xen.commit(Queue::NonUrgent, entry(0, &[0x42]));
    let mut s = Scratch::new();
    for _ in 0..3 {
        assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    }
    assert_eq!(env.store_attempts, 3, "fetched and tried three times");
    assert_eq!(env.reported, 0, "nothing reported before it is stored");
    env.ring.pop_front();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(env.reported, 1, "reported exactly once");
    assert!(env.violations.is_empty(), "{:?}", env.violations);
}

/// src/core/drain.rs ("Under backpressure"): an entry from an APIC id physcpuinfo does not know
/// refreshes the table once, not on every refetch under backpressure.
#[test]
fn unknown_cpu_refresh_is_once_per_entry_under_backpressure() {
    let mut env = TestEnv::new(4);
    fill_ring(&mut env);
    env.xen.commit(Queue::Urgent, entry(9, &[1]));
    let mut s = Scratch::new();
    for _ in 0..5 {
        assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::Urgent));
    }
    assert_eq!(s.st.stats.cpu_refreshes, 1);
    env.ring.clear();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(s.st.stats.cpu_refreshes, 1);
    assert_eq!(s.st.stats.unknown_cpu, 1, "counted once, when stored");
    // The next entry from that CPU is a new entry: one refresh again.
    env.xen.commit(Queue::Urgent, entry(9, &[2]));
    s.drain(&mut env);
    assert_eq!(s.st.stats.cpu_refreshes, 2);
}

/// src/core/drain.rs (`MCE_OVERFLOW`): a full ring loses nothing (the entry waits in Xen), so
/// backpressure alone does not raise MCE_OVERFLOW (it did, on every
/// backpressure, before).
#[test]
fn backpressure_alone_is_not_overflow() {
    let mut env = TestEnv::new(2);
    for a in 0..5 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[a]));
    }
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert!(s.st.backpressured());
    while s.drain(&mut env) != Outcome::Drained {
        env.ring.pop_front();
    }
    assert!(!s.st.backpressured());
    assert_eq!(env.xen.dropped, 0);
    assert_eq!(env.overflows, vec![]);
    let st = s.st.stats;
    assert_eq!(
        (
            st.overflow_incomplete,
            st.overflow_dropped_banks,
            st.overflow_xen_pool
        ),
        (0, 0, 0)
    );
}

/// src/core/drain.rs (`MCE_OVERFLOW`): while the drain waits for room, Xen's non-urgent pool
/// (20 entries) fills up and Xen drops the next telemetry: MCE_OVERFLOW is
/// raised, once for the episode.
#[test]
fn xen_pool_full_during_backpressure_is_overflow() {
    let mut env = TestEnv::new(1);
    let mut s = Scratch::new();
    env.xen.commit(Queue::NonUrgent, entry(0, &[100]));
    env.xen.commit(Queue::NonUrgent, entry(0, &[101]));
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    // Nobody reads for a while: Xen's pool fills up and drops.
    for a in 0..25 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[a]));
    }
    assert_eq!(env.xen.dropped, 6);
    while s.drain(&mut env) != Outcome::Drained {
        env.ring.pop_front();
    }
    assert_eq!(env.overflows, vec![Overflow::XenPoolMayBeFull]);
    assert_eq!(s.st.stats.overflow_xen_pool, 1, "counted as raised");
    // A later episode that never gets near a full pool raises nothing.
    env.overflows.clear();
    env.xen.commit(Queue::NonUrgent, entry(0, &[1]));
    env.xen.commit(Queue::NonUrgent, entry(0, &[2]));
    while s.drain(&mut env) != Outcome::Drained {
        env.ring.pop_front();
    }
    assert_eq!(env.overflows, vec![]);
    assert_eq!(s.st.stats.overflow_xen_pool, 1);
}

/// src/core/drain.rs (`MCE_OVERFLOW`): an entry Xen marked incomplete lost banks: overflow.
#[test]
fn incomplete_entry_is_overflow() {
    let mut env = TestEnv::new(16);
    let mut e = entry(0, &[5]);
    e[4] |= MCINFO_FLAGS_UNCOMPLETE as u8;
    env.xen.commit(Queue::Urgent, e);
    env.xen.commit(Queue::Urgent, entry(0, &[6]));
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(env.overflows, vec![Overflow::Incomplete(Queue::Urgent)]);
    assert_eq!(addrs_in(&env.ring), vec![5, 6]);
    let st = s.st.stats;
    assert_eq!(
        (
            st.overflow_incomplete,
            st.overflow_dropped_banks,
            st.overflow_xen_pool
        ),
        (1, 0, 0)
    );
}

/// An entry whose banks the converter had to drop (a corrupt image with
/// more banks than a record batch holds): overflow, counted by reason.
#[test]
fn dropped_banks_are_overflow_and_counted() {
    let mut env = TestEnv::new(64);
    let mut b = InfoBuilder::new();
    for n in 0..16 {
        b = b.bank(&Bank {
            bank: n,
            domid: DOMID_INVALID,
            status: CE,
            addr: 0x1000 + u64::from(n),
            misc: 0x86,
            ctrl2: 0,
            tsc: 0,
        });
    }
    env.xen.commit(Queue::Urgent, b.build());
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(env.overflows, vec![Overflow::DroppedBanks(Queue::Urgent)]);
    let st = s.st.stats;
    assert_eq!(
        (
            st.overflow_incomplete,
            st.overflow_dropped_banks,
            st.overflow_xen_pool
        ),
        (0, 1, 0)
    );
    assert_eq!(st.malformed, 1);
}

// ---------------------------------------------------------------------------
// A host whose only consumer is the tracepoint (rasdaemon): records traced to
// a consumer while no file has the device open are delivered, and the drain
// takes them out of a full ring instead of leaving Xen's entries queued.
// ---------------------------------------------------------------------------

/// Commits `n` one-bank non-urgent entries with addresses `from..from + n`,
/// draining whenever Xen's non-urgent pool (20) is about to fill, as VIRQ_MCA
/// makes the module do; every drain must drain.
fn storm(env: &mut TestEnv, s: &mut Scratch, from: u64, n: u64) -> Vec<Outcome> {
    let mut outcomes = vec![];
    for a in from..from + n {
        assert!(
            env.xen.commit(Queue::NonUrgent, entry(0, &[a])),
            "Xen dropped {a}"
        );
        if env.xen.queues[1].len() >= 10 {
            outcomes.push(s.drain(env));
        }
    }
    outcomes.push(s.drain(env));
    outcomes
}

fn traced_addrs(env: &TestEnv) -> Vec<u64> {
    env.traced.iter().map(|&(_, a)| a).collect()
}

#[test]
fn tracepoint_only_host_never_stalls() {
    let mut env = TestEnv::new(16);
    env.consumer = true;
    let mut s = Scratch::new();
    let outcomes = storm(&mut env, &mut s, 0, 100);
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Drained),
        "{outcomes:?}"
    );
    assert_eq!(env.xen.dropped, 0, "Xen dropped nothing");
    assert_eq!(
        traced_addrs(&env),
        (0..100).collect::<Vec<_>>(),
        "each traced once, in order"
    );
    assert_eq!(
        addrs_in(&env.ring),
        (84..100).collect::<Vec<_>>(),
        "the newest stay"
    );
    assert_eq!(s.st.stats.traced_only_dropped, 84);
    assert_eq!(
        env.dropped.iter().map(|&(_, a)| a).collect::<Vec<_>>(),
        (0..84).collect::<Vec<_>>()
    );
    // Dropped only after they were traced, oldest first, by sequence number.
    for (seq, _) in &env.dropped {
        assert!(env.traced.iter().any(|(t, _)| t == seq));
    }
    assert_eq!(s.st.stats.backpressure, 0);
    assert_eq!(
        env.overflows,
        vec![],
        "a delivered record dropped is no overflow"
    );
    assert!(env.violations.is_empty(), "{:?}", env.violations);
    // A reader opens: what is in the ring is kept for it, lossless again.
    env.open = true;
    let outcomes = storm(&mut env, &mut s, 100, 5);
    assert_eq!(
        outcomes.last(),
        Some(&Outcome::Backpressure(Queue::NonUrgent))
    );
    assert_eq!(
        s.st.stats.traced_only_dropped, 84,
        "nothing dropped while open"
    );
    let mut read = vec![];
    while s.drain(&mut env) != Outcome::Drained {
        read.extend(env.read_one().map(|m| m.addr));
    }
    read.extend(env.ring.drain(..).map(|m| m.addr));
    assert_eq!(
        read,
        (84..105).collect::<Vec<_>>(),
        "every record the ring held, and the waiting ones"
    );
    assert_eq!(s.st.stats.traced_only_dropped, 84);
    assert_eq!(env.xen.dropped, 0);
    // Closed again: the traced records may go again.
    env.open = false;
    let outcomes = storm(&mut env, &mut s, 105, 40);
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Drained),
        "{outcomes:?}"
    );
    assert_eq!(env.xen.dropped, 0);
}

#[test]
fn an_open_device_keeps_every_record() {
    let mut env = TestEnv::new(4);
    env.consumer = true;
    env.open = true;
    for a in 0..6 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[a]));
    }
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert_eq!(addrs_in(&env.ring), vec![0, 1, 2, 3]);
    assert!(env.dropped.is_empty());
    assert_eq!(s.st.stats.traced_only_dropped, 0);
}

#[test]
fn without_a_consumer_a_full_ring_waits_as_before() {
    let mut env = TestEnv::new(4);
    for a in 0..6 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[a]));
    }
    let mut s = Scratch::new();
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert_eq!(addrs_in(&env.ring), vec![0, 1, 2, 3]);
    assert!(env.dropped.is_empty() && env.traced.is_empty());
    assert_eq!(env.xen.queues[1].len(), 2, "the rest waits in Xen");
    assert!(
        s.st.untraced(),
        "stored untraced: a later consumer gets them"
    );
}

#[test]
fn records_stored_untraced_are_kept_until_a_consumer_got_them() {
    // rasdaemon starts after the module drained the records queued since boot.
    let mut env = TestEnv::new(4);
    let mut s = Scratch::new();
    env.xen.commit(Queue::NonUrgent, entry(0, &[0, 1]));
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    env.consumer = true;
    env.xen.commit(Queue::NonUrgent, entry(0, &[2, 3]));
    env.xen.commit(Queue::NonUrgent, entry(0, &[4]));
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert!(
        env.dropped.is_empty(),
        "the oldest were never traced to anyone"
    );
    // The consumer's registration callback (or the next drain) traces them.
    let snap = env.snapshot();
    let mut got = vec![];
    assert!(retrace(&mut s.st, snap.into_iter(), |seq, r| {
        got.push((seq, r.mce.addr));
        true
    }));
    assert_eq!(got, vec![(0, 0), (1, 1)], "only the untraced ones, once");
    assert_eq!(s.st.stats.traced_late, 2);
    assert!(!s.st.untraced());
    // Nothing left to do for the next one.
    assert!(retrace(
        &mut s.st,
        env.snapshot().into_iter(),
        |_, _| panic!("traced twice")
    ));
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(
        env.dropped.iter().map(|&(_, a)| a).collect::<Vec<_>>(),
        vec![0]
    );
    assert_eq!(addrs_in(&env.ring), vec![1, 2, 3, 4]);
}

#[test]
fn a_consumer_that_leaves_during_the_retrace_leaves_the_rest_untraced() {
    let mut s = Scratch::new();
    let mut env = TestEnv::new(8);
    env.xen.commit(Queue::NonUrgent, entry(0, &[0, 1, 2]));
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    let mut calls = 0;
    assert!(!retrace(&mut s.st, env.snapshot().into_iter(), |_, _| {
        calls += 1;
        calls < 2
    }));
    assert!(s.st.untraced());
    assert!(s.st.delivered.contains(0));
    assert!(!s.st.delivered.contains(1));
    let mut got = vec![];
    assert!(retrace(&mut s.st, env.snapshot().into_iter(), |seq, _| {
        got.push(seq);
        true
    }));
    assert_eq!(
        got,
        vec![1, 2],
        "a consumer attached during a call may get one twice, never none"
    );
}

#[test]
fn records_written_by_userspace_are_never_dropped() {
    let mut env = TestEnv::new(4);
    env.consumer = true;
    env.write_user(&[0x77]);
    let mut s = Scratch::new();
    for a in 0..3 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[a]));
    }
    env.xen.commit(Queue::NonUrgent, entry(0, &[3]));
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert!(env.dropped.is_empty());
    assert!(retrace(
        &mut s.st,
        env.snapshot().into_iter(),
        |_, _| panic!("not traced")
    ));
    // A reader takes it: the traced ones behind it may go again.
    assert_eq!(env.read_one().map(|m| m.addr), Some(0x77));
    env.xen.commit(Queue::NonUrgent, entry(0, &[4]));
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(addrs_in(&env.ring), vec![1, 2, 3, 4]);
    assert_eq!(
        env.dropped.iter().map(|&(_, a)| a).collect::<Vec<_>>(),
        vec![0]
    );
}

#[test]
fn a_record_whose_consumer_left_during_its_trace_is_kept() {
    let mut env = TestEnv::new(4);
    env.consumer = true;
    env.detach_after = Some(1); // during the second record's call
    let mut s = Scratch::new();
    env.xen.commit(Queue::NonUrgent, entry(0, &[0]));
    env.xen.commit(Queue::NonUrgent, entry(0, &[1, 2]));
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert!(s.st.delivered.contains(0));
    assert!(!s.st.delivered.contains(1) && !s.st.delivered.contains(2));
    assert!(s.st.untraced());
}

#[test]
fn an_open_racing_the_drop_misses_at_most_one_delivered_record() {
    let mut env = TestEnv::new(4);
    env.consumer = true;
    let mut s = Scratch::new();
    for a in 0..4 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[a]));
    }
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    env.open_during_drop = Some(0);
    env.xen.commit(Queue::NonUrgent, entry(0, &[4, 5]));
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert_eq!(
        env.dropped,
        vec![(0, 0)],
        "the one taken after the look at the gate"
    );
    assert_eq!(
        addrs_in(&env.ring),
        vec![1, 2, 3],
        "the rest kept for the reader"
    );
}

#[test]
fn previous_boot_records_go_once_settled() {
    // Two previous-boot records stored at load (seq 0, 1), before any drain.
    let mut env = TestEnv::new(4);
    env.consumer = true;
    env.ring.extend([
        Mce {
            addr: 0xe0,
            ..Mce::default()
        },
        Mce {
            addr: 0xe1,
            ..Mce::default()
        },
    ]);
    env.pushed = 2;
    let mut s = Scratch::new();
    env.xen.commit(Queue::NonUrgent, entry(0, &[0, 1]));
    env.xen.commit(Queue::NonUrgent, entry(0, &[2, 3]));
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert!(env.dropped.is_empty(), "the ERST tracker holds them");
    s.st.previous_boot_settled(1);
    assert_eq!(s.drain(&mut env), Outcome::Backpressure(Queue::NonUrgent));
    assert_eq!(env.dropped, vec![(0, 0xe0)]);
    s.st.previous_boot_settled(2);
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    assert_eq!(addrs_in(&env.ring), vec![0, 1, 2, 3]);
    // Settled again with the same end: nothing re-added below the tail.
    s.st.previous_boot_settled(2);
    assert_eq!(s.st.delivered.run_count(), 1);
}

#[test]
fn delivered_runs_merge_and_stay_bounded() {
    let mut d = Delivered::default();
    assert!(d.add(10, 12));
    assert!(d.add(12, 14));
    assert_eq!(d.run_count(), 1);
    assert!(d.add(20, 22));
    assert!(d.add(16, 18));
    assert_eq!(d.run_count(), 3);
    assert!(d.add(13, 21)); // bridges all three
    assert_eq!(d.run_count(), 1);
    assert!((10..22).all(|s| d.contains(s)));
    assert!(!d.contains(9) && !d.contains(22));
    assert!(d.add(5, 5));
    assert_eq!(d.run_count(), 1);
    for k in 0..20u64 {
        // Runs 2..=8 fit; from the ninth on, the newest is forgotten (false).
        assert_eq!(d.add(100 + 3 * k, 101 + 3 * k), k < 7, "run {k}");
    }
    assert_eq!(d.run_count(), DELIVERED_RUNS);
    assert!(d.contains(10) && d.contains(100), "the oldest are kept");
    assert!(
        !d.contains(100 + 3 * 19),
        "the newest forgotten: kept for a reader"
    );
    d.forget_below(104);
    assert!(!d.contains(103) && d.contains(106));
    assert!(!d.contains(10));
    d.forget_below(u64::MAX);
    assert_eq!(d.run_count(), 0);
}

#[derive(Clone, Debug)]
enum TOp {
    Error(u8),
    Drain,
    Read(u8),
    Consumer(bool),
    Open(bool),
    Write,
    Retrace,
}

fn top() -> impl Strategy<Value = TOp> {
    prop_oneof![
        6 => (0u8..4).prop_map(TOp::Error),
        3 => Just(TOp::Drain),
        1 => (0u8..6).prop_map(TOp::Read),
        1 => any::<bool>().prop_map(TOp::Consumer),
        1 => any::<bool>().prop_map(TOp::Open),
        1 => Just(TOp::Write),
        1 => Just(TOp::Retrace),
    ]
}

proptest! {
    /// Consumers coming and going, readers opening, reading and closing,
    /// userspace writing: a record leaves the ring without a reader only
    /// while the device is closed, after it reached the consumer, and
    /// never a userspace one; every record Xen kept reaches a reader or the
    /// consumer; no ack before store.
    #[test]
    fn dropped_only_when_delivered(cap in 4usize..12, ops in proptest::collection::vec(top(), 1..150)) {
        let mut env = TestEnv::new(cap);
        let mut s = Scratch::new();
        let mut next = 1u64;
        let mut kept = vec![];
        let mut read = vec![];
        let mut open_when_dropped = vec![];
        for o in ops {
            let before = env.dropped.len();
            match o {
                TOp::Error(n) => {
                    let addrs: Vec<u64> = (0..u64::from(n)).map(|i| next + i).collect();
                    next += u64::from(n);
                    if env.xen.commit(Queue::NonUrgent, entry(0, &addrs)) {
                        kept.extend(addrs);
                    }
                }
                TOp::Drain => { s.drain(&mut env); }
                TOp::Read(n) => if env.open { for _ in 0..n { read.extend(env.read_one().map(|m| m.addr)) } },
                TOp::Consumer(c) => env.consumer = c,
                TOp::Open(o) => env.open = o,
                TOp::Write => env.write_user(&[1 << 40 | next]),
                TOp::Retrace => {
                    let snap = env.snapshot();
                    let consumer = env.consumer;
                    let mut got = vec![];
                    retrace(&mut s.st, snap.into_iter(), |seq, r| {
                        if consumer { got.push((seq, r.mce.addr)) }
                        consumer
                    });
                    env.traced.extend(got);
                }
            }
            if env.dropped.len() > before {
                open_when_dropped.push(env.open);
            }
        }
        prop_assert!(open_when_dropped.iter().all(|o| !o), "dropped while open");
        for (seq, addr) in &env.dropped {
            prop_assert!(env.traced.contains(&(*seq, *addr)), "dropped untraced {seq}");
            prop_assert!(addr >> 40 == 0, "dropped a userspace record");
        }
        // A reader drains everything left.
        env.open = true;
        for _ in 0..1000 {
            read.extend(env.ring.drain(..).map(|m| m.addr));
            if s.drain(&mut env) == Outcome::Drained && env.ring.is_empty() {
                break;
            }
        }
        prop_assert!(env.violations.is_empty(), "{:?}", env.violations);
        let dropped: Vec<u64> = env.dropped.iter().map(|&(_, a)| a).collect();
        let mut got: Vec<u64> = read.iter().copied().filter(|a| a >> 40 == 0).chain(dropped).collect();
        got.sort_unstable();
        kept.sort_unstable();
        prop_assert_eq!(got, kept, "every kept record read or delivered, once");
    }
}

// ---------------------------------------------------------------------------
// Delivery by tracing, found in review: a consumer swapped during the call,
// a store refused at unload, a forgotten run (each failed before its fix).
// ---------------------------------------------------------------------------

/// A consumer that leaves (1->0) and another that attaches (0->1) while the
/// drain sits between the `before` look and the probe (a preempted kworker,
/// a descheduled vCPU) leave the static key on at both looks; with the key
/// alone, hypercall::trace_to_consumer said "delivered" for a record nobody
/// got, and the drain later dropped it from the full ring. The epoch
/// (xmc_trace_epoch) makes it untraced: traced again for the new consumer.
#[test]
fn consumer_swapped_during_the_trace_call_is_no_delivery() {
    let mut env = TestEnv::new(4);
    env.consumer = true;
    env.swap_during = Some(0); // the first record's call
    let mut s = Scratch::new();
    for a in 0..4 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[a]));
    }
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    // The swap made the record untraced: B's registration callback (or the
    // next drain) traces it for B.
    assert!(
        s.st.untraced(),
        "the record traced during the swap is untraced"
    );
    let snap = env.snapshot();
    let traced = &mut env.traced;
    assert!(retrace(&mut s.st, snap.into_iter(), |seq, r| {
        traced.push((seq, r.mce.addr));
        true
    }));
    env.xen.commit(Queue::NonUrgent, entry(0, &[4]));
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    for (seq, addr) in &env.dropped {
        assert!(
            env.traced.contains(&(*seq, *addr)),
            "record {seq} (addr {addr}) dropped from the ring, never traced to anyone: lost"
        );
    }
}

/// KernelEnv::store_all returns None once `running` is clear (unload), the
/// ring having room or not; store_making_room takes None for "no room" and
/// drops up to 2n+1 delivered records from a ring that is not full.
#[test]
fn store_refused_at_unload_drops_nothing() {
    let mut env = TestEnv::new(16);
    env.consumer = true;
    let mut s = Scratch::new();
    env.xen.commit(Queue::NonUrgent, entry(0, &[0, 1]));
    assert_eq!(s.drain(&mut env), Outcome::Drained);
    env.running = false; // Pipeline::stop began
    env.xen.commit(Queue::NonUrgent, entry(0, &[2]));
    s.drain(&mut env);
    assert!(env.ring.len() < env.cap);
    assert_eq!(
        (env.dropped.clone(), s.st.stats.traced_only_dropped),
        (vec![], 0),
        "records taken out of a ring that had room"
    );
}

/// Delivered forgets its newest run beyond DELIVERED_RUNS; nothing ever
/// learns again that those records were delivered (`untraced` stays false,
/// retrace never looks). Once a reader has taken the records up to them, a
/// host whose only consumer is the tracepoint stalls for good, and Xen's
/// pool fills and drops telemetry.
#[test]
fn forgotten_delivered_run_is_traced_again_no_stall() {
    let mut env = TestEnv::new(32);
    env.consumer = true;
    let mut s = Scratch::new();
    // Eight injections (open, write, close) between Xen records, nobody
    // reading: runs R0 U R1 U ... R7 U R8, R8 is the ninth run.
    for k in 0..9u64 {
        env.xen.commit(Queue::NonUrgent, entry(0, &[k]));
        assert_eq!(s.drain(&mut env), Outcome::Drained);
        if k < 8 {
            env.write_user(&[1 << 40 | k]);
        }
    }
    // A reader reads 16 records (R0..U7: a short read, or killed) and closes.
    for _ in 0..16 {
        env.read_one().unwrap();
    }
    // Every record in the ring reached the consumer.
    let snap = env.snapshot();
    assert!(snap
        .iter()
        .all(|(seq, r)| env.traced.contains(&(*seq, r.mce.addr))));
    // The drain's retrace (Drainer::run does one before every drain) traces
    // the forgotten run again: a duplicate, and delivered.
    assert!(
        s.st.untraced(),
        "a forgotten run marks the log as holding untraced records"
    );
    assert!(retrace(&mut s.st, snap.into_iter(), |_, _| true));
    assert!(s.st.delivered.contains(16), "R8 (seq 16) delivered again");
    // rasdaemon alone: "never stalls".
    let outcomes = storm(&mut env, &mut s, 100, 60);
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Drained),
        "{outcomes:?}"
    );
}
