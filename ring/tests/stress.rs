// SPDX-License-Identifier: GPL-2.0-only
//! Host stress test: several producers (single pushes and all-or-nothing batches), several
//! consumers and a snapshot reader hammer one small ring.
//!
//! Checks: every record is popped exactly once with the sequence number its push returned
//! (no loss, no duplicate, batches contiguous), no record is torn (each carries a pattern
//! derived from its tag), per-producer FIFO order, and conservation
//! (popped + left == pushed, matching `stats()`).
//!
//! `XMC_STRESS_RECORDS` sets the records per producer (default: 4,000,000 in release builds,
//! 1,000,000 in debug builds).
#![cfg(not(loom))]

mod common;

use common::{check, rec, ring, tag, Rec};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;

const PRODUCERS: u64 = 2;
const CONSUMERS: usize = 2;

fn records_per_producer() -> u64 {
    std::env::var("XMC_STRESS_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            1_000_000
        } else {
            4_000_000
        })
}

#[test]
fn mpmc_stress() {
    let per = records_per_producer();
    let r = ring::<Rec>(64);
    let done = AtomicBool::new(false);
    let stop_consumers = AtomicBool::new(false);
    let snap_records = AtomicU64::new(0);
    let start = Barrier::new(PRODUCERS as usize + CONSUMERS + 1);
    // seqs[p][i]: sequence number returned for producer p's record i.
    let (seqs, popped, left) = thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (r, start) = (&r, &start);
                s.spawn(move || {
                    let mut seqs = Vec::with_capacity(per as usize);
                    start.wait();
                    let mut i = 0;
                    while i < per {
                        // Producer 1 pushes batches of 1..=4 records, producer 0 singles.
                        let n = if p == 1 { (i % 4 + 1).min(per - i) } else { 1 };
                        let batch: Vec<Rec> = (i..i + n).map(|k| rec(tag(p, k))).collect();
                        loop {
                            let res = if n == 1 {
                                r.try_push(batch[0]).map_err(|_| ())
                            } else {
                                r.try_push_all(&batch)
                            };
                            match res {
                                Ok(first) => {
                                    seqs.extend((0..n).map(|k| first + k));
                                    break;
                                }
                                Err(()) => thread::yield_now(),
                            }
                        }
                        i += n;
                    }
                    seqs
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (r, start, stop) = (&r, &start, &stop_consumers);
                s.spawn(move || {
                    let mut got: Vec<(u64, u64)> = Vec::new();
                    let mut last = [None::<u64>; PRODUCERS as usize];
                    start.wait();
                    // Pop until told to stop, then leave the rest for the main thread.
                    while !stop.load(Ordering::Acquire) {
                        match r.try_pop() {
                            Some((seq, v)) => {
                                let t = check(&v).unwrap_or_else(|| panic!("torn record {v:x?}"));
                                let (p, i) = ((t >> 48) as usize, t & 0xffff_ffff_ffff);
                                // This consumer sees each producer's records in push order.
                                assert!(last[p].is_none_or(|l| l < i), "reordered");
                                last[p] = Some(i);
                                got.push((seq, t));
                            }
                            None => thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        let snapper = {
            let (r, done, n) = (&r, &done, &snap_records);
            s.spawn(move || {
                while !done.load(Ordering::Acquire) {
                    let mut prev = None;
                    for (seq, v) in r.snapshot() {
                        assert!(check(&v).is_some(), "snapshot yielded a torn record");
                        assert!(prev.is_none_or(|p| p < seq), "snapshot out of order");
                        prev = Some(seq);
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    thread::yield_now();
                }
            })
        };
        start.wait();
        let seqs: Vec<Vec<u64>> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        // Let the consumers run a little more, then stop them with records still queued.
        while r.len() > 10 {
            thread::yield_now();
        }
        stop_consumers.store(true, Ordering::Release);
        let popped: Vec<(u64, u64)> = consumers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        done.store(true, Ordering::Release);
        snapper.join().unwrap();
        let left: Vec<(u64, u64)> = std::iter::from_fn(|| r.try_pop())
            .map(|(s, v)| (s, check(&v).expect("torn record left")))
            .collect();
        (seqs, popped, left)
    });

    let total = PRODUCERS * per;
    let st = r.stats();
    assert_eq!(st.pushed, total);
    assert_eq!(
        popped.len() as u64 + left.len() as u64,
        total,
        "conservation"
    );
    assert_eq!(st.popped, total);
    // Every sequence number 0..total exactly once, with the producer's record.
    let mut all: Vec<(u64, u64)> = popped.into_iter().chain(left).collect();
    all.sort_unstable();
    for (k, (seq, t)) in all.iter().enumerate() {
        assert_eq!(*seq, k as u64, "lost or duplicated sequence number");
        let (p, i) = ((t >> 48) as usize, t & 0xffff_ffff_ffff);
        assert_eq!(
            seqs[p][i as usize], *seq,
            "record popped under another sequence number"
        );
    }
    // Per-producer FIFO: sequence numbers increase with the producer's push order.
    for s in &seqs {
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }
    eprintln!(
        "stress: {total} records, {} rejected-full, snapshot saw {}",
        st.rejected_full,
        snap_records.load(Ordering::Relaxed)
    );
}
