// SPDX-License-Identifier: GPL-2.0-only
//! loom model tests of the ring: every interleaving and every permitted reordering of the
//! atomics, within loom's bounds:
//!
//!     RUSTFLAGS="--cfg loom" cargo test -p xmc-ring --release --test loom
//!
//! Records are two words, the second derived from the first, so a torn copy is detected.
//! Threads never spin: a push that finds the ring full or a pop that finds it empty gives up,
//! and the checks account for it.
//!
//! **Spawn-order permutations.** loom's DPOR only remembers the *last* access to each atomic
//! (tokio-rs/loom#166, #392): when thread B loads and then stores a location that thread A
//! loaded earlier, B's own load hides A's, and the reordering "B's store before A's load" is
//! never tried. Every ring operation is such a load-then-store/CAS, so a single run explores
//! only part of the space (a test with one spawn order never even sees a push succeed after a
//! concurrent pop). Each scenario is therefore run once per order of spawning its threads
//! (the first-run schedule, from which DPOR branches, follows spawn order), and
//! `ring/loom-mutants.sh` checks that these tests catch seeded ordering and seqlock bugs.
//! The main thread only sets up, spawns, joins and checks.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use xmc_ring::{Ring, Slot};

type Rec = [u64; 2];
type TestRing = Ring<Rec, Vec<Slot<Rec>>>;

fn rec(tag: u64) -> Rec {
    [tag, tag.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555]
}

fn check(r: &Rec) -> u64 {
    assert_eq!(*r, rec(r[0]), "torn record");
    r[0]
}

fn new_ring(cap: usize) -> Arc<TestRing> {
    let slots = (0..cap).map(|_| Slot::new()).collect();
    Arc::new(Ring::new(slots).unwrap())
}

/// What a thread of a scenario returns: (tag, seq) pairs it pushed, popped or saw.
type Out = Vec<(u64, u64)>;
/// A thread's body, with a kind: threads of the same kind are interchangeable, so spawn
/// orders that differ only by swapping them are run once.
type Role = (u8, fn(&TestRing) -> Out);

/// Runs `roles` as threads on a ring of `cap` slots in every distinct spawn order, each with
/// at most `preemptions` preemptions (`LOOM_MAX_PREEMPTIONS` overrides); `setup` prepares
/// the ring, `verify` gets each role's output (in role order) and the ring.
fn model_all_orders(
    preemptions: usize,
    cap: usize,
    setup: fn(&TestRing),
    roles: &'static [Role],
    verify: fn(&[Out], &TestRing),
) {
    model_orders(preemptions, cap, setup, roles, None, verify)
}

/// Like [`model_all_orders`], but only the spawn orders in `only` if given.
fn model_orders(
    preemptions: usize,
    cap: usize,
    setup: fn(&TestRing),
    roles: &'static [Role],
    only: Option<&[&[usize]]>,
    verify: fn(&[Out], &TestRing),
) {
    let mut orders = vec![Vec::new()];
    for _ in 0..roles.len() {
        orders = orders
            .into_iter()
            .flat_map(|o: Vec<usize>| {
                (0..roles.len())
                    .filter(|i| !o.contains(i))
                    .map(|i| [o.clone(), vec![i]].concat())
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    let mut seen = std::collections::HashSet::new();
    orders.retain(|o| seen.insert(o.iter().map(|&i| roles[i].0).collect::<Vec<_>>()));
    if let Ok(v) = std::env::var("XMC_LOOM_ORDERS") {
        let pick: Vec<usize> = v.split(',').map(|x| x.parse().unwrap()).collect();
        orders = pick.iter().map(|&k| orders[k].clone()).collect();
    } else if let Some(only) = only {
        orders = only.iter().map(|o| o.to_vec()).collect();
    }
    let mut total = 0;
    for order in orders {
        let shown = format!("{order:?}");
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n = runs.clone();
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(preemptions);
        }
        b.check(move || {
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let r = new_ring(cap);
            setup(&r);
            let handles: Vec<(usize, thread::JoinHandle<Out>)> = order
                .iter()
                .map(|&i| {
                    let r = r.clone();
                    (i, thread::spawn(move || (roles[i].1)(&r)))
                })
                .collect();
            let mut outs: Vec<Option<Out>> = vec![None; roles.len()];
            for (i, h) in handles {
                outs[i] = Some(h.join().unwrap());
            }
            let outs: Vec<Out> = outs.into_iter().map(Option::unwrap).collect();
            verify(&outs, &r);
        });
        let k = runs.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("loom: order {shown}: {k} executions");
        total += k;
    }
    eprintln!("loom: {total} executions");
}

/// Pushes `tags` one by one; returns (tag, seq) of those accepted.
fn produce(r: &TestRing, tags: &[u64]) -> Out {
    tags.iter()
        .filter_map(|&t| r.try_push(rec(t)).ok().map(|s| (t, s)))
        .collect()
}

/// Pops up to `n` records; returns (tag, seq) of those popped.
fn consume(r: &TestRing, n: usize) -> Out {
    (0..n)
        .filter_map(|_| r.try_pop().map(|(s, v)| (check(&v), s)))
        .collect()
}

/// Exactly-once delivery under the pushed sequence numbers, sequence numbers without holes,
/// per-producer FIFO (producer = tag / 100) at every consumer, and the counters.
fn verify_queue(pushed: &[&Out], popped: &[&Out], r: &TestRing) {
    let left: Out = std::iter::from_fn(|| r.try_pop())
        .map(|(s, v)| (check(&v), s))
        .collect();
    let mut got: Out = popped
        .iter()
        .copied()
        .flatten()
        .copied()
        .chain(left)
        .collect();
    got.sort_unstable_by_key(|x| x.1);
    let mut want: Out = pushed.iter().copied().flatten().copied().collect();
    want.sort_unstable_by_key(|x| x.1);
    assert_eq!(got, want, "lost, duplicated or renumbered record");
    assert!(
        want.iter().enumerate().all(|(k, x)| x.1 == k as u64),
        "hole in sequence"
    );
    for p in pushed {
        assert!(p.windows(2).all(|w| w[0].1 < w[1].1), "producer order");
    }
    for c in popped {
        for prod in 0..4 {
            let seqs: Vec<u64> = c
                .iter()
                .filter(|x| x.0 / 100 == prod)
                .map(|x| x.1)
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "consumer saw reordering"
            );
        }
    }
    let st = r.stats();
    assert_eq!(
        (st.pushed, st.popped),
        (want.len() as u64, want.len() as u64)
    );
}

/// 2 producers x 2 consumers on a ring of 2 slots (producer 0 pushes two records, so the
/// ring can fill up and per-producer order is checked).
///
/// The largest model: one preemption, and 4 of the 12 distinct spawn orders (producers
/// first, consumers first, and two interleavings) keep it near a minute; all 12 with
/// `XMC_LOOM_ORDERS=0,1,2,3,4,5,6,7,8,9,10,11` (about 3 minutes), deeper with
/// `LOOM_MAX_PREEMPTIONS=2` (hours).
#[test]
fn two_producers_two_consumers() {
    model_orders(
        1,
        2,
        |_| {},
        &[
            (0, |r| produce(r, &[0, 1])),
            (1, |r| produce(r, &[100])),
            (2, |r| consume(r, 1)),
            (2, |r| consume(r, 1)),
        ],
        Some(&[&[0, 1, 2, 3], &[2, 3, 0, 1], &[0, 2, 1, 3], &[2, 0, 3, 1]]),
        |o, r| verify_queue(&[&o[0], &o[1]], &[&o[2], &o[3]], r),
    );
}

/// Hand-over and wrap on a 1-slot ring: a producer pushes twice (the second push reuses the
/// slot once the consumer has popped the first record) while a consumer pops twice: nothing
/// lost, duplicated, torn or renumbered.
#[test]
fn producer_consumer_wrap() {
    model_all_orders(
        6,
        1,
        |_| {},
        &[(0, |r| produce(r, &[100, 101])), (1, |r| consume(r, 2))],
        |o, r| verify_queue(&[&o[0]], &[&o[1]], r),
    );
}

/// A snapshot reader copies the slot of a full 1-slot ring while a consumer pops that record
/// and a producer overwrites the slot with the next one: the snapshot never yields a torn
/// record, and yields only records under the sequence number they were pushed with.
#[test]
fn producer_consumer_snapshot() {
    model_all_orders(
        3,
        1,
        |r| assert_eq!(r.try_push(rec(0)), Ok(0)),
        &[
            (0, |r| produce(r, &[100])),
            (1, |r| consume(r, 1)),
            (2, |r| r.snapshot().map(|(s, v)| (check(&v), s)).collect()),
        ],
        |o, r| {
            let pushed = [vec![(0, 0)], o[0].clone()];
            for x in &o[2] {
                assert!(
                    pushed.iter().flatten().any(|p| p == x),
                    "snapshot saw {x:?}"
                );
            }
            verify_queue(&[&pushed[0], &pushed[1]], &[&o[1]], r);
        },
    );
}

/// An all-or-nothing batch of 2 against a single push and a consumer, on 2 slots: the batch
/// is contiguous when accepted and leaves no trace when refused.
#[test]
fn batch_all_or_nothing() {
    model_all_orders(
        2,
        2,
        |_| {},
        &[
            (0, |r| {
                r.try_push_all(&[rec(200), rec(201)])
                    .map(|s| vec![(200, s), (201, s + 1)])
                    .unwrap_or_default()
            }),
            (1, |r| produce(r, &[100])),
            (2, |r| consume(r, 2)),
        ],
        |o, r| verify_queue(&[&o[0], &o[1]], &[&o[2]], r),
    );
}

/// A statistics reader runs while a producer pushes and a consumer pops: its one snapshot
/// always satisfies `pushed == popped + len` with `len <= capacity`.
#[test]
fn stats_are_one_snapshot() {
    model_all_orders(
        2,
        2,
        |r| assert_eq!(r.try_push(rec(0)), Ok(0)),
        &[
            (0, |r| produce(r, &[100])),
            (1, |r| consume(r, 1)),
            (2, |r| {
                let st = r.stats();
                assert_eq!(
                    st.pushed,
                    st.popped + st.len,
                    "inconsistent counters {st:?}"
                );
                assert!(st.len <= r.capacity() as u64);
                Vec::new()
            }),
        ],
        |o, r| verify_queue(&[&vec![(0, 0)], &o[0]], &[&o[1]], r),
    );
}

/// The composition the debugfs `stats` view used before (the counters, then `len()`, read
/// one by one) is not a snapshot: loom finds a push between the reads. This is the failure
/// of the sandbox's `ring conserved` check (`pushed 300 popped 150 len 152`).
#[test]
#[should_panic(expected = "counters read one by one")]
fn stats_read_one_by_one_are_inconsistent() {
    model_all_orders(
        2,
        2,
        |_| {},
        &[
            (0, |r| produce(r, &[100])),
            (1, |r| {
                let (pushed, popped) = (r.stats().pushed, r.stats().popped);
                let len = r.len() as u64;
                assert_eq!(pushed, popped + len, "counters read one by one");
                Vec::new()
            }),
        ],
        |_, _| {},
    );
}

/// Takes up to `n` records with `peek` + `try_take` (the device's read: copy, then take);
/// a failed take means another consumer was first, and the next oldest is tried.
fn peek_take(r: &TestRing, n: usize) -> Out {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut tries = 0;
        while let Some((s, v)) = r.peek() {
            let tag = check(&v);
            if r.try_take(s) {
                out.push((tag, s));
                break;
            }
            tries += 1;
            if tries > 2 {
                break;
            }
        }
    }
    out
}

/// Peek-and-take consumers against a popping consumer and a producer that wraps the slot:
/// every record is delivered exactly once, never torn, under its sequence number.
#[test]
fn peek_take_exactly_once() {
    model_all_orders(
        2,
        1,
        |r| assert_eq!(r.try_push(rec(0)), Ok(0)),
        &[
            (0, |r| produce(r, &[100])),
            (1, |r| peek_take(r, 1)),
            (2, |r| consume(r, 1)),
        ],
        |o, r| verify_queue(&[&vec![(0, 0)], &o[0]], &[&o[1], &o[2]], r),
    );
}

/// The device's `poll` then `read` (mcelog's loop): a poller that `readable()` told a record
/// is there gets it from the read that follows (it is the only consumer, so nobody takes it
/// first), and `len()`, by which the device's read sizes its plan, counts it. Producers push
/// with `try_push_all`, the device's store. The old rule, `!is_empty()`, fails here: it is
/// true from a producer's claim, before the record is published.
fn poll_then_read(r: &TestRing) -> Out {
    if !r.readable() {
        return Vec::new();
    }
    assert_ne!(r.len(), 0, "readable, but len() is 0");
    let got = peek_take(r, 1);
    assert_eq!(got.len(), 1, "readable, but the read got nothing");
    got
}

/// One producer storing a batch of 2 (the drain) and the poller, on 2 slots; after the
/// producer has returned, the ring is readable.
#[test]
fn readable_means_a_read_succeeds() {
    model_all_orders(
        6,
        2,
        |_| {},
        &[
            (0, |r| {
                r.try_push_all(&[rec(0), rec(1)])
                    .map(|s| vec![(0, s), (1, s + 1)])
                    .unwrap_or_default()
            }),
            (1, poll_then_read),
        ],
        |o, r| {
            assert!(r.readable(), "pushed and not all taken, but not readable");
            verify_queue(&[&o[0]], &[&o[1]], r);
        },
    );
}

/// Two producers storing one record each and the poller, on 2 slots: the second producer's
/// record may be published while the first one's, older, is not; only the oldest counts.
#[test]
fn readable_waits_for_the_oldest_record() {
    model_all_orders(
        3,
        2,
        |_| {},
        &[
            (0, |r| {
                r.try_push_all(&[rec(0)])
                    .map(|s| vec![(0, s)])
                    .unwrap_or_default()
            }),
            (1, |r| {
                r.try_push_all(&[rec(100)])
                    .map(|s| vec![(100, s)])
                    .unwrap_or_default()
            }),
            (2, poll_then_read),
        ],
        |o, r| {
            assert_eq!(r.readable(), o[2].len() < 2);
            verify_queue(&[&o[0], &o[1]], &[&o[2]], r);
        },
    );
}

/// The backpressure hand-off (ring/backpressure.rs), on a full 1-slot ring: a reader takes
/// the record and releases its slot while the drain tries to store and fails. Either the
/// drain stored, or it must learn that it has to retry, or the reader must learn that it
/// has to kick the drain. `wake` is the protocol under test.
fn backpressure_model(old: bool, wake: fn(&TestRing, &Wake) -> (bool, bool, bool)) {
    for order in [[0usize, 1], [1, 0]] {
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(3);
        }
        b.check(move || {
            let r = new_ring(1);
            assert_eq!(r.try_push(rec(0)), Ok(0));
            let w = Arc::new(Wake {
                old,
                ..Wake::default()
            });
            let mut hs = Vec::new();
            for &i in &order {
                let (r, w) = (r.clone(), w.clone());
                hs.push((i, thread::spawn(move || (i, wake_role(i, &r, &w, wake)))));
            }
            let (mut stored, mut retry, mut kicked) = (false, false, false);
            for (_, h) in hs {
                let (i, (a, b, c)) = h.join().unwrap();
                if i == 0 {
                    (stored, retry) = (a, b);
                } else {
                    kicked = c;
                }
            }
            assert!(
                stored || retry || kicked,
                "wake-up lost: the drain stopped and nobody kicks it"
            );
        });
    }
}

/// State of both hand-off protocols (only one is used per model).
#[derive(Default)]
struct Wake {
    bp: xmc_ring::backpressure::Backpressure,
    /// The old protocol's `backpressured` flag.
    flag: loom::sync::atomic::AtomicBool,
    /// Whether the reader follows the old protocol.
    old: bool,
}

/// Role 0 is the drain, role 1 the reader; returns (stored, retry, kicked).
fn wake_role(
    i: usize,
    r: &TestRing,
    w: &Wake,
    wake: fn(&TestRing, &Wake) -> (bool, bool, bool),
) -> (bool, bool, bool) {
    if i == 0 {
        wake(r, w)
    } else {
        // The reader: take the record (claim, copy, release), then publish the release.
        let got = r.try_pop();
        let kicked = got.is_some() && reader_side(w);
        (false, false, kicked)
    }
}

fn reader_side(w: &Wake) -> bool {
    if w.old {
        // Before the fix: `space_freed`: full fence, then the flag.
        loom::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        w.flag.load(std::sync::atomic::Ordering::Relaxed)
    } else {
        w.bp.released()
    }
}

/// The fixed hand-off (`Backpressure`): never loses the wake-up.
#[test]
fn backpressure_released_space() {
    backpressure_model(false, |r, w| {
        let token = w.bp.token();
        if r.try_push(rec(100)).is_ok() {
            w.bp.resolved();
            return (true, false, false);
        }
        (false, w.bp.stalled(token), false)
    });
}

/// The hand-off before the fix (`run_drain` compared the ring's `popped`, which counts
/// claims): the reader's claim is already in `popped_before`, the store fails on its
/// unreleased slot, the reader releases and looks at the flag before the drain sets it, and
/// the drain sees no change of `popped`: nobody kicks.
#[test]
#[should_panic(expected = "wake-up lost")]
fn backpressure_claimed_space_loses_wakeup() {
    backpressure_model(true, |r, w| {
        use std::sync::atomic::Ordering;
        let popped_before = r.stats().popped;
        if r.try_push(rec(100)).is_ok() {
            w.flag.store(false, Ordering::Release);
            return (true, false, false);
        }
        w.flag.store(true, Ordering::Relaxed);
        loom::sync::atomic::fence(Ordering::SeqCst);
        (false, r.stats().popped != popped_before, false)
    });
}
