// SPDX-License-Identifier: GPL-2.0-only
//! The three queues compared by the benchmarks, behind one trait, with the 128-byte record.
#![allow(dead_code)]
// The queues hand a refused 128-byte record back, like the ring (and ArrayQueue) do.
#![allow(clippy::result_large_err)]

use crossbeam_queue::ArrayQueue;
use std::collections::VecDeque;
use std::sync::Mutex;
use xmc_ring::{Ring, Slot};

/// The mcelog record size.
pub type Rec = [u64; 16];
/// Capacity used by all benchmarks.
pub const CAP: usize = 1024;

pub trait Queue: Sync + Send + Sized + 'static {
    const NAME: &'static str;
    fn new(cap: usize) -> Self;
    fn push(&self, r: Rec) -> Result<(), Rec>;
    fn pop(&self) -> Option<Rec>;
}

/// Ours.
pub struct Ours(Ring<Rec, Vec<Slot<Rec>>>);

impl Queue for Ours {
    const NAME: &'static str = "xmc_ring::Ring";
    fn new(cap: usize) -> Self {
        Self(Ring::new((0..cap).map(|_| Slot::new()).collect()).unwrap())
    }
    #[inline]
    fn push(&self, r: Rec) -> Result<(), Rec> {
        self.0.try_push(r).map(|_| ())
    }
    #[inline]
    fn pop(&self) -> Option<Rec> {
        self.0.try_pop().map(|(_, r)| r)
    }
}

/// crossbeam's bounded MPMC queue.
pub struct Crossbeam(ArrayQueue<Rec>);

impl Queue for Crossbeam {
    const NAME: &'static str = "crossbeam ArrayQueue";
    fn new(cap: usize) -> Self {
        Self(ArrayQueue::new(cap))
    }
    #[inline]
    fn push(&self, r: Rec) -> Result<(), Rec> {
        self.0.push(r)
    }
    #[inline]
    fn pop(&self) -> Option<Rec> {
        self.0.pop()
    }
}

/// A bounded `Mutex<VecDeque>` (the C driver's design, with a lock).
pub struct Locked(Mutex<VecDeque<Rec>>, usize);

impl Queue for Locked {
    const NAME: &'static str = "Mutex<VecDeque>";
    fn new(cap: usize) -> Self {
        Self(Mutex::new(VecDeque::with_capacity(cap)), cap)
    }
    #[inline]
    fn push(&self, r: Rec) -> Result<(), Rec> {
        let mut q = self.0.lock().unwrap();
        if q.len() < self.1 {
            q.push_back(r);
            Ok(())
        } else {
            Err(r)
        }
    }
    #[inline]
    fn pop(&self) -> Option<Rec> {
        self.0.lock().unwrap().pop_front()
    }
}

/// The record pushed as number `i`.
#[inline(always)]
pub fn rec(i: u64) -> Rec {
    let mut r = [0u64; 16];
    r[0] = i;
    r[15] = !i;
    r
}

/// `n` single-thread push+pop pairs (the callgrind subject).
#[inline(never)]
pub fn pairs<Q: Queue>(q: &Q, n: u64) -> u64 {
    let mut acc = 0;
    for i in 0..n {
        let _ = q.push(std::hint::black_box(rec(i)));
        let r = std::hint::black_box(q.pop());
        acc ^= r.map_or(0, |r| r[0] ^ r[15]);
    }
    acc
}

/// Moves `per_producer * producers` records through `q` with `producers` pushing and
/// `consumers` popping threads (spinning, with `yield`, on full/empty); returns the time from
/// the start barrier until every thread is done.
pub fn transfer<Q: Queue>(
    q: &Q,
    producers: u64,
    consumers: u64,
    per_producer: u64,
) -> std::time::Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Barrier;
    let total = producers * per_producer;
    let popped = AtomicU64::new(0);
    let start = Barrier::new((producers + consumers + 1) as usize);
    let mut t0 = None;
    std::thread::scope(|s| {
        for _ in 0..producers {
            s.spawn(|| {
                start.wait();
                for i in 0..per_producer {
                    let mut r = rec(i);
                    while let Err(back) = q.push(r) {
                        r = back;
                        std::thread::yield_now();
                    }
                }
            });
        }
        for _ in 0..consumers {
            s.spawn(|| {
                start.wait();
                while popped.load(Ordering::Relaxed) < total {
                    match q.pop() {
                        Some(r) => {
                            std::hint::black_box(r);
                            popped.fetch_add(1, Ordering::Relaxed);
                        }
                        None => std::thread::yield_now(),
                    }
                }
            });
        }
        start.wait();
        t0 = Some(std::time::Instant::now());
    });
    t0.map(|t| t.elapsed()).unwrap_or_default()
}

/// A cycle counter and its frequency (x86_64: `rdtsc`; elsewhere: `Instant`).
pub mod clock {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub fn now() -> u64 {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: `lfence` and `rdtsc` are available on every x86_64 CPU.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn now() -> u64 {
        use std::sync::OnceLock;
        static T0: OnceLock<std::time::Instant> = OnceLock::new();
        T0.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
    }

    /// Ticks of `now()` per nanosecond.
    pub fn ticks_per_ns() -> f64 {
        let (t0, c0) = (std::time::Instant::now(), now());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (t1, c1) = (std::time::Instant::now(), now());
        (c1 - c0) as f64 / (t1 - t0).as_nanos() as f64
    }
}

/// Push latencies (in ticks of `clock::now`) of `n` records pushed by this thread, one every
/// `gap` ticks, while another thread pops as fast as it can. A push that finds the queue full
/// is retried and timed as one push.
pub fn push_latency<Q: Queue>(q: &Q, n: usize, gap: u64) -> Vec<u64> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    let mut lat = Vec::with_capacity(n);
    std::thread::scope(|s| {
        s.spawn(|| loop {
            // Check `done` before popping, so the queue is drained when we stop.
            let stop = done.load(Ordering::Acquire);
            if q.pop().is_none() && stop {
                break;
            }
        });
        // Warm up caches and the consumer.
        for i in 0..10_000 {
            while q.push(rec(i)).is_err() {}
        }
        let mut next = clock::now();
        for i in 0..n as u64 {
            while clock::now() < next {
                std::hint::spin_loop();
            }
            let mut r = rec(i);
            let t0 = clock::now();
            while let Err(back) = q.push(std::hint::black_box(r)) {
                r = back;
            }
            let t1 = clock::now();
            lat.push(t1 - t0);
            next = t1 + gap;
        }
        done.store(true, Ordering::Release);
    });
    lat
}
