// SPDX-License-Identifier: GPL-2.0-only
//! Unit tests and a proptest of the ring against a `VecDeque` model.
#![cfg(not(loom))]

mod common;

use common::{check, rec, ring, storage, Rec};
use proptest::prelude::*;
use std::collections::VecDeque;
use xmc_ring::{Ring, RingStats, Slot, MAX_CAPACITY};

#[test]
fn rejects_bad_capacity() {
    for cap in [0usize, 3, 5, 6, 7, 12, 1000] {
        let s = storage::<Rec>(cap);
        let back = Ring::new(s).expect_err("must be rejected");
        assert_eq!(back.len(), cap);
    }
    for cap in [1usize, 2, 4, 1024] {
        assert_eq!(ring::<Rec>(cap).capacity(), cap);
    }
    const { assert!(MAX_CAPACITY.is_power_of_two()) };
}

#[test]
fn fill_drain_wrap_and_give_back() {
    let r = ring::<Rec>(4);
    assert!(r.is_empty() && r.try_pop().is_none());
    let mut seq = 0;
    for lap in 0..50u64 {
        for i in 0..4 {
            assert_eq!(r.try_push(rec(lap * 4 + i)), Ok(seq + i));
        }
        assert_eq!(r.len(), 4);
        assert_eq!(r.try_push(rec(99)), Err(rec(99)));
        for i in 0..4 {
            let (s, v) = r.try_pop().unwrap();
            assert_eq!((s, check(&v)), (seq + i, Some(lap * 4 + i)));
        }
        assert!(r.try_pop().is_none());
        seq += 4;
    }
    assert_eq!(
        r.stats(),
        RingStats {
            pushed: 200,
            popped: 200,
            len: 0,
            rejected_full: 50
        }
    );
}

#[test]
fn batch_is_all_or_nothing() {
    let r = ring::<Rec>(8);
    let b: Vec<Rec> = (0..9).map(rec).collect();
    assert_eq!(r.try_push_all(&[]), Ok(0));
    assert_eq!(r.try_push_all(&b[..5]), Ok(0));
    assert_eq!(r.try_push_all(&b[..4]), Err(()));
    assert_eq!(r.len(), 5);
    assert_eq!(r.try_push_all(&b[5..8]), Ok(5));
    assert_eq!(r.try_push_all(&b[..1]), Err(()));
    assert_eq!(r.try_push_all(&b), Err(()));
    assert_eq!(r.stats().rejected_full, 4 + 1 + 9);
    // Free two slots at the front: a batch of 2 now wraps around the end of the storage.
    assert_eq!(r.try_pop().map(|x| x.0), Some(0));
    assert_eq!(r.try_pop().map(|x| x.0), Some(1));
    assert_eq!(r.try_push_all(&b[..3]), Err(()));
    assert_eq!(r.try_push_all(&b[..2]), Ok(8));
    let got: Vec<u64> = std::iter::from_fn(|| r.try_pop()).map(|(s, _)| s).collect();
    assert_eq!(got, (2..10).collect::<Vec<_>>());
    // A batch larger than the ring never fits, even when empty.
    assert_eq!(r.try_push_all(&b), Err(()));
}

#[test]
fn snapshot_does_not_consume() {
    let r = ring::<Rec>(8);
    for i in 0..8 {
        r.try_push(rec(i)).unwrap();
    }
    for _ in 0..3 {
        r.try_pop().unwrap();
    }
    let snap: Vec<(u64, Rec)> = r.snapshot().collect();
    assert_eq!(
        snap.iter().map(|(s, v)| (*s, check(v))).collect::<Vec<_>>(),
        (3..8).map(|i| (i, Some(i))).collect::<Vec<_>>()
    );
    assert_eq!(r.len(), 5);
    assert_eq!(r.try_pop().map(|x| x.0), Some(3));
}

/// A producer stopped between its claim and its publication (preempted, or its vCPU
/// descheduled by Xen): the ring is not empty, but no record can be read, not even one a
/// later producer has published behind it; once it publishes, the oldest record is readable
/// and read. `readable()` is what the device's `poll` reports (`chardev/device.rs`), so a
/// poll that says readable is followed by a read that gets a record.
#[test]
fn claimed_but_unpublished_is_not_readable() {
    // Across the position and stamp wraps as well.
    for first in [0, (1u64 << 62) - 1, u64::MAX] {
        let r = Ring::with_first_seq(storage::<Rec>(4), first).unwrap();
        assert!(!r.readable() && r.is_empty());
        // Producer A claims its position and stops before writing it.
        let a = r.claim(1).unwrap();
        assert_eq!(a.seq(), first);
        assert!(!r.is_empty());
        assert_eq!(r.len(), 1);
        assert!(
            !r.readable(),
            "readable while the only record is unpublished"
        );
        assert_eq!(r.peek(), None);
        assert_eq!(r.try_pop(), None);
        // Producer B pushes behind it: published, but consumers take A's position first.
        let b = first.wrapping_add(1);
        assert_eq!(r.try_push_all(&[rec(2)]), Ok(b));
        assert_eq!(r.len(), 2);
        assert!(
            !r.readable(),
            "readable while the oldest record is unpublished"
        );
        assert_eq!(r.peek(), None);
        assert!(!r.try_take(b), "took a record behind an unpublished one");
        // A publishes: now a read gets its record, then B's.
        assert_eq!(a.publish(|_| rec(1)), first);
        assert!(r.readable());
        let (s, v) = r.peek().unwrap();
        assert_eq!((s, check(&v)), (first, Some(1)));
        assert!(r.try_take(s));
        assert!(r.readable());
        assert_eq!(r.try_pop().map(|(s, v)| (s, check(&v))), Some((b, Some(2))));
        assert!(!r.readable() && r.is_empty());
    }
}

/// The same with a claimed batch (the drain's `try_push_all`): its first position decides.
#[test]
fn claimed_batch_is_readable_only_once_published() {
    let r = ring::<Rec>(4);
    let batch = r.claim(3).unwrap();
    assert_eq!((r.len(), r.readable()), (3, false));
    assert!(r.claim(2).is_err(), "claimed more than the free slot");
    assert_eq!(batch.publish(rec), 0);
    for seq in 0..3 {
        assert!(r.readable());
        assert_eq!(
            r.try_pop().map(|(s, v)| (s, check(&v))),
            Some((seq, Some(seq)))
        );
    }
    assert!(!r.readable());
}

#[test]
fn small_and_unaligned_records() {
    // Records need not be 8-aligned, only a multiple of 8 bytes.
    let r = ring::<[u8; 24]>(2);
    let a: [u8; 24] = core::array::from_fn(|i| i as u8);
    assert_eq!(r.try_push(a), Ok(0));
    assert_eq!(r.try_pop(), Some((0, a)));
    let r = ring::<u64>(1);
    assert_eq!(r.try_push(7), Ok(0));
    assert_eq!(r.try_push(8), Err(8));
    assert_eq!(r.try_pop(), Some((0, 7)));
    assert_eq!(r.try_push(8), Ok(1));
}

#[test]
fn sequence_numbers_cross_the_wraps() {
    // Stamps are 4 * position, so they wrap at position 2^62 (and 2^63 for the signed
    // comparison); positions themselves wrap at 2^64.
    for first in [(1u64 << 62) - 5, (1u64 << 63) - 5, u64::MAX - 5] {
        let r = Ring::with_first_seq(storage::<[u64; 2]>(4), first).unwrap();
        let (mut pushed, mut popped) = (first, first);
        for i in 0..40u64 {
            assert_eq!(r.try_push([i, !i]), Ok(pushed));
            pushed = pushed.wrapping_add(1);
            if i % 3 == 2 {
                let fits = r.len() <= 2;
                assert_eq!(r.try_push_all(&[[i, 0], [i, 1]]).is_ok(), fits);
                if fits {
                    pushed = pushed.wrapping_add(2);
                }
                while let Some((s, _)) = r.try_pop() {
                    assert_eq!(s, popped);
                    popped = popped.wrapping_add(1);
                }
                assert_eq!(popped, pushed);
            }
        }
        let st = r.stats();
        assert_eq!(st.pushed - st.popped, r.len() as u64);
        assert_eq!(st.pushed, pushed.wrapping_sub(first));
    }
}

#[test]
fn storage_comes_back() {
    let r = ring::<u64>(4);
    r.try_push(1).unwrap();
    let s: Vec<Slot<u64>> = r.into_storage();
    // Reusing storage starts a fresh ring.
    let r = Ring::new(s).unwrap();
    assert!(r.is_empty());
    assert_eq!(r.try_push(2), Ok(0));
}

#[test]
fn is_sync_and_send() {
    fn sync<X: Sync + Send>() {}
    sync::<Ring<Rec, Vec<Slot<Rec>>>>();
    sync::<Ring<u64, Box<[Slot<u64>]>>>();
    sync::<Ring<u64, &'static [Slot<u64>]>>();
}

#[derive(Clone, Debug)]
enum Op {
    Push(u64),
    PushAll(Vec<u64>),
    Pop,
    /// `peek`, then `try_take` of what it returned only if `take` (a failed copy does not
    /// take: the record must stay the oldest, with its sequence number).
    PeekTake(bool),
    /// `try_take` of a position that is not the oldest: must fail and change nothing.
    TakeWrong,
    Snapshot,
    Len,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u64>().prop_map(Op::Push),
        2 => prop::collection::vec(any::<u64>(), 0..12).prop_map(Op::PushAll),
        4 => Just(Op::Pop),
        3 => any::<bool>().prop_map(Op::PeekTake),
        1 => Just(Op::TakeWrong),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Len),
    ]
}

/// Runs `ops` on a ring of capacity `1 << cap_log2` starting at `first` and on a model.
fn run_model(cap_log2: u32, first: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let cap = 1usize << cap_log2;
    let r = Ring::with_first_seq(storage::<Rec>(cap), first).unwrap();
    let mut model: VecDeque<(u64, Rec)> = VecDeque::new();
    let mut next = first;
    let mut stats = RingStats::default();
    for op in ops {
        match op {
            Op::Push(t) => {
                let got = r.try_push(rec(*t));
                if model.len() < cap {
                    prop_assert_eq!(got, Ok(next));
                    model.push_back((next, rec(*t)));
                    next = next.wrapping_add(1);
                    stats.pushed += 1;
                } else {
                    prop_assert_eq!(got, Err(rec(*t)));
                    stats.rejected_full += 1;
                }
            }
            Op::PushAll(ts) => {
                let recs: Vec<Rec> = ts.iter().copied().map(rec).collect();
                let got = r.try_push_all(&recs);
                if model.len() + recs.len() <= cap {
                    prop_assert_eq!(got, Ok(next));
                    for v in recs {
                        model.push_back((next, v));
                        next = next.wrapping_add(1);
                        stats.pushed += 1;
                    }
                } else {
                    prop_assert_eq!(got, Err(()));
                    stats.rejected_full += recs.len() as u64;
                }
            }
            Op::Pop => {
                let got = r.try_pop();
                prop_assert_eq!(got, model.pop_front());
                if got.is_some() {
                    stats.popped += 1;
                }
            }
            Op::PeekTake(take) => {
                let got = r.peek();
                prop_assert_eq!(got, model.front().copied());
                if let (Some((seq, _)), true) = (got, *take) {
                    prop_assert!(r.try_take(seq));
                    prop_assert!(!r.try_take(seq), "taken twice");
                    model.pop_front();
                    stats.popped += 1;
                }
            }
            Op::TakeWrong => {
                let oldest = model.front().map_or(next, |x| x.0);
                prop_assert!(!r.try_take(oldest.wrapping_add(1)));
                prop_assert!(!r.try_take(oldest.wrapping_sub(1)));
            }
            Op::Snapshot => {
                let got: Vec<(u64, Rec)> = r.snapshot().collect();
                prop_assert_eq!(&got, &model.iter().copied().collect::<Vec<_>>());
            }
            Op::Len => {
                prop_assert_eq!(r.len(), model.len());
                prop_assert_eq!(r.is_empty(), model.is_empty());
                // Single-threaded, every claimed position is published at once.
                prop_assert_eq!(r.readable(), !model.is_empty());
            }
        }
        stats.len = model.len() as u64;
        prop_assert_eq!(r.stats(), stats);
    }
    prop_assert_eq!(r.len(), model.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn matches_vecdeque_model(
        cap_log2 in 0u32..5,
        first in prop_oneof![Just(0u64), Just((1u64 << 62) - 3), Just(u64::MAX - 3), any::<u64>()],
        ops in prop::collection::vec(op(), 0..200),
    ) {
        run_model(cap_log2, first, &ops)?;
    }
}
