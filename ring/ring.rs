// SPDX-License-Identifier: GPL-2.0-only

//! A bounded, lock-free, multi-producer multi-consumer ring of fixed-size records.
//!
//! This file is the whole algorithm. It is compiled twice: by the host crate `xmc-ring`
//! (`ring/lib.rs`, for `cargo test`/`cargo bench`/loom) and by the kernel module, which
//! includes it with `#[path = "../ring/ring.rs"] mod ring;`. It therefore uses neither `std`
//! nor `alloc` nor any external crate; the atomics come from the shim in `sync.rs`
//! (`core::sync::atomic` on the host, `kernel::sync::atomic` under `cfg(xmc_kernel)`, loom under
//! `cfg(loom)`).
//!
//! Why one file of about 1,000 lines: most of it is the design below and the memory-ordering
//! comments, and every atomic access names, by label (`RING:A` to `RING:H`), the access on the
//! other side it pairs with, across the producer, consumer and snapshot paths. Kept together,
//! each pairing is checked in one place; split by path, every pairing would cross files. The
//! parts that stand alone are already files of their own (`sync.rs`, `backpressure.rs`), and
//! the tests are in `ring/tests/`.
//!
//! # Design
//!
//! The ring is Dmitry Vyukov's bounded MPMC queue: every slot carries a 64-bit *stamp* saying
//! which queue position it is ready for, producers claim positions by a compare-and-swap on
//! `head`, consumers by a compare-and-swap on `tail`, and the stamp hands a slot from its
//! producer to its consumer and back (acquire/release). It was chosen because
//!
//! * both sides are non-blocking: every operation is `try_*` and returns at once (full,
//!   empty or done), nothing spins waiting for another CPU, there is no lock;
//! * each record costs one CAS plus two stamp accesses, and producers and consumers touch
//!   different cache lines (`head`/`tail` are padded) except the slot they hand over;
//! * the queue position is a natural 64-bit sequence number: strictly increasing in push order,
//!   one per record, never reused (2^64 positions last 584 years at one per nanosecond);
//! * capacity is whatever the caller's storage holds (a power of two): the kernel allocates it
//!   at module load from a module parameter; there is no allocation here.
//!
//! No operation ever waits, but, like every bounded array queue with per-slot hand-over
//! (Vyukov's, crossbeam's `ArrayQueue`), the queue is not lock-free in the strict sense: a
//! producer stopped between claiming position `p` and publishing it makes consumers report
//! "empty" at `p` (they return `None` at once, even if later positions are published), and
//! a consumer stopped after claiming makes producers report "full" there, until it resumes.
//! Uninterrupted, each window is at most one record copy long, but nothing keeps it short:
//! the ring never disables preemption, and the module calls it preemptible (the drain from
//! a work item, `write()` and `read()` in process context), so a producer or consumer can
//! be preempted or interrupted inside its window, and Xen can deschedule the dom0 vCPU
//! running it for milliseconds. Hence [`Ring::len`] and [`Ring::is_empty`], which count
//! claimed positions, do not say whether a record can be taken; [`Ring::readable`] does
//! (the device's `poll` reports it, `chardev/device.rs`).
//!
//! **Stamps.** A slot's stamp encodes, for the position `p` it currently serves, one of three
//! states, as `4p` (free for the producer of `p`), `4p + 1` (being written for `p`) and
//! `4p + 2` (holds the record of `p`). A consumer of `p` frees the slot for position
//! `p + capacity`, i.e. stores `4(p + capacity)`. Stamps of a slot only grow, so "stamp ==
//! expected" can never be an ABA, and for every position the three states sort between those
//! of the previous and the next lap, so a wrapping difference read as `i64` tells a
//! producer "free for me" (0), "older lap: full" (< 0) or "my `head` is stale" (> 0), and a
//! consumer likewise. (Vyukov's `p`/`p + 1` encoding cannot tell "holds `p`" from "free for
//! `p + 1`" when the capacity is 1; the factor 4 leaves room for that and for "being
//! written".)
//!
//! **All-or-nothing batches** ([`Ring::try_push_all`]): the producer checks that the slots of
//! all positions `head .. head + n` are free for exactly those positions, then claims them all
//! with one CAS `head -> head + n`. A slot that is free for position `q` can only change when
//! the producer of `q` writes it, and the CAS succeeds only if no one claimed any position
//! `>= head`, so every checked slot is still free after the CAS: the batch is enqueued
//! contiguously or, when any slot is not free, not at all.
//!
//! **Torn-free snapshots.** The snapshot iterator reads slots that it does not own, so a
//! producer may overwrite a slot while it is being copied. To make that race defined (and
//! detectable), records are stored only as 64-bit atomic words, written and read with relaxed
//! atomic accesses (hence [`Pod`]: no padding, size a multiple of 8). The slot stamp doubles
//! as a seqlock: a producer stores the odd "being written" stamp, `smp_wmb()`, the data words,
//! then the even "holds `p`" stamp with release; the snapshot reader loads the stamp with
//! acquire, copies the words, `smp_rmb()`, and re-reads the stamp: if any word came from a
//! later writer, the `wmb`/`rmb` pairing guarantees that the second read sees that writer's
//! odd stamp (or later), so the copy is discarded. This is `seqcount_t`'s protocol. Records
//! that are consumed or overwritten while a snapshot runs are skipped, never torn; the
//! sequence numbers show the gaps.
//!
//! **Counters.** `pushed` and `popped` are `head` and `tail` themselves (every claimed
//! position is one record), so the fast path updates no counter; only a rejected push
//! increments `rejected_full`. [`Ring::stats`] reads `head` and `tail` as one consistent pair
//! (it re-reads `tail` and retries until it did not move while `head` was read), so its
//! `pushed == popped + len` holds exactly even while producers and consumers run.
//!
//! **Reading without taking.** [`Ring::peek`] copies the oldest record without claiming it
//! (validated like a snapshot entry) and [`Ring::try_take`] then claims exactly that position,
//! or fails if another consumer took it first. A consumer that must copy the record somewhere
//! that can fail (a user buffer) peeks, copies, and takes only after the copy succeeded: a
//! failed copy leaves the record where it was, with its sequence number. [`Ring::readable`]
//! makes `peek`'s check without the copy: the oldest record not yet taken is published.
//!
//! # Memory-ordering comments
//!
//! Every atomic access below carries a comment naming the access it pairs with, in the style
//! of `kernel/printk/printk_ringbuffer.c`. The labels are:
//!
//! * `RING:A` producer's acquire load of a slot stamp (`try_push`, `try_push_all`);
//! * `RING:B` producer's "being written" stamp store and `RING:C` its `smp_wmb()`;
//! * `RING:D` producer's release store of the "holds p" stamp;
//! * `RING:E` consumer's acquire load of the stamp (`try_pop`); `RING:F` its release store
//!   of "free" (`try_pop`, `try_take`);
//! * `RING:G` acquire stamp load of a reader that does not claim (the snapshot iterator,
//!   `peek`, `readable`), `RING:H` its `smp_rmb()` and re-load (snapshot iterator, `peek`).
//!
//! After initialisation, `head` and `tail` are written only by relaxed CASes: no acquire
//! load of them could pair with anything, so every ordering between a record, its producer
//! and its consumers is carried by the slot stamps.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
#![warn(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::ptr_as_ptr,
    clippy::cast_lossless,
    clippy::as_underscore,
    clippy::ref_as_ptr,
    clippy::ptr_cast_constness
)]

use core::fmt;
use core::mem::size_of;
use core::ops::Deref;

#[path = "sync.rs"]
mod sync;

#[path = "backpressure.rs"]
pub mod backpressure;

use sync::{smp_rmb, smp_wmb, AtomicU64, Words};

/// Largest capacity [`Ring::new`] accepts (keeps every position difference far from the
/// `i64` range used in stamp comparisons).
pub const MAX_CAPACITY: usize = 1 << 32;

/// Plain-old-data records that the ring can store as 64-bit words.
///
/// # Safety
///
/// Implementors guarantee that every byte of a value is initialised (no padding, no
/// `MaybeUninit`, no unions with holes) and that the value holds no pointer or reference (its
/// bytes are plain integers, so copying them as `u64` words yields an equal value). The ring
/// additionally checks at compile time that `size_of::<T>()` is a non-zero multiple of 8.
pub unsafe trait Pod: Copy {}

macro_rules! impl_pod {
    ($($t:ty),*) => {
        $(
            // SAFETY: primitive integers have no padding and no pointers.
            unsafe impl Pod for $t {}
        )*
    };
}
impl_pod!(u8, u16, u32, u64, i8, i16, i32, i64);

// SAFETY: an array of `Pod` elements has no padding between elements and no pointers.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// Stamp of a slot that is free for the producer of position `pos`.
#[inline(always)]
const fn free(pos: u64) -> u64 {
    pos.wrapping_mul(4)
}

/// Stamp of a slot that the producer of `pos` is writing.
#[inline(always)]
const fn busy(pos: u64) -> u64 {
    pos.wrapping_mul(4).wrapping_add(1)
}

/// Stamp of a slot that holds the record of position `pos`.
#[inline(always)]
const fn full(pos: u64) -> u64 {
    pos.wrapping_mul(4).wrapping_add(2)
}

/// `a - b` as a signed distance (stamps and positions are compared modulo 2^64).
#[inline(always)]
const fn diff(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

/// One slot of ring storage. Create storage with `Slot::new()` (or `Default`), e.g.
/// `(0..n).map(|_| Slot::new()).collect::<Vec<_>>()`; [`Ring::new`] initialises the stamps.
///
/// Slots are cache-line aligned (a 128-byte record takes 192 bytes), so a producer filling
/// one slot and a consumer emptying its neighbour never share a line.
#[repr(C, align(64))]
pub struct Slot<T: Pod> {
    /// The slot's state (see the design notes at the top of this module).
    stamp: AtomicU64,
    /// The record, as 64-bit atomic words.
    data: Words<T>,
}

impl<T: Pod> Slot<T> {
    /// Compile-time check of the record layout.
    const LAYOUT_OK: () = assert!(
        // `& 7` rather than `% 8`: newer clippy wants `is_multiple_of` (Rust 1.87+) for the
        // latter, and this file must build with the workspace's 1.85 as well.
        size_of::<T>() != 0 && size_of::<T>() & 7 == 0,
        "ring records must have a non-zero size that is a multiple of 8 bytes"
    );

    /// An empty slot; needs no `T` value.
    #[cfg(not(loom))]
    #[inline]
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::LAYOUT_OK;
        Self {
            stamp: AtomicU64::new(0),
            data: Words::new(),
        }
    }

    /// An empty slot; needs no `T` value.
    #[cfg(loom)]
    pub fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::LAYOUT_OK;
        Self {
            stamp: AtomicU64::new(0),
            data: Words::new(),
        }
    }
}

impl<T: Pod> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Pod> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: diagnostic only.
        f.debug_struct("Slot")
            .field("stamp", &self.stamp.load_relaxed())
            .finish_non_exhaustive()
    }
}

// SAFETY: a `Slot` has no public accessor; the ring reads and writes its record only through
// atomic word accesses, and moves records between threads, hence `T: Send`.
unsafe impl<T: Pod + Send> Sync for Slot<T> {}

/// Aligns a hot atomic to its own cache lines (128 bytes: x86's adjacent-line prefetcher
/// pulls pairs of 64-byte lines), so producers and consumers do not false-share.
#[repr(C, align(128))]
struct CachePadded<T>(T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Counters of a ring, all since its creation, read as one snapshot:
/// `pushed == popped + len` always holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Records accepted by `try_push`/`try_push_all` (including any still being written).
    pub pushed: u64,
    /// Records taken by `try_pop`/`try_take` (including any still being copied out).
    pub popped: u64,
    /// Records in the ring at the moment `pushed` and `popped` were read: `pushed - popped`.
    pub len: u64,
    /// Records refused because the ring was full (a refused batch counts all its records).
    pub rejected_full: u64,
}

/// A bounded lock-free MPMC ring of `T` records over caller-provided slot storage `S`.
///
/// All operations take `&self`, never block and never allocate. Each record gets a 64-bit
/// sequence number (its queue position), strictly increasing in push order.
///
/// ```
/// use xmc_ring::{Ring, Slot};
///
/// let slots: Vec<Slot<[u64; 2]>> = (0..4).map(|_| Slot::new()).collect();
/// let ring = Ring::new(slots).expect("power of two");
/// assert_eq!(ring.try_push([1, 2]), Ok(0));
/// assert_eq!(ring.try_push_all(&[[3, 4], [5, 6]]), Ok(1));
/// assert_eq!(ring.try_push_all(&[[7, 8], [9, 10]]), Err(())); // 1 free slot: nothing stored
/// assert_eq!(ring.snapshot().map(|(seq, _)| seq).collect::<Vec<_>>(), [0, 1, 2]);
/// assert_eq!(ring.try_pop(), Some((0, [1, 2])));
/// assert_eq!(ring.stats().rejected_full, 2);
/// ```
#[repr(C)]
pub struct Ring<T: Pod, S: Deref<Target = [Slot<T>]>> {
    /// Read-only after `new`: `capacity - 1`.
    mask: u64,
    /// Read-only after `new`: sequence number of the first record.
    first: u64,
    /// The slots; `slots.len() == mask + 1`.
    slots: S,
    /// Next position to be claimed by a producer; `pushed` counter.
    head: CachePadded<AtomicU64>,
    /// Next position to be claimed by a consumer; `popped` counter.
    tail: CachePadded<AtomicU64>,
    /// Records refused because the ring was full.
    rejected_full: CachePadded<AtomicU64>,
}

impl<T: Pod, S: Deref<Target = [Slot<T>]>> Ring<T, S> {
    /// Creates an empty ring over `storage`, whose length is the capacity.
    ///
    /// Returns the storage back if its length is zero, not a power of two, or larger than
    /// [`MAX_CAPACITY`]. Any earlier content of the slots is discarded.
    pub fn new(storage: S) -> Result<Self, S> {
        Self::with_first_seq(storage, 0)
    }

    /// Like [`Ring::new`], but the first record pushed gets sequence number `first_seq`
    /// (e.g. to continue a numbering; the tests use it to cross the stamp and sequence wraps).
    pub fn with_first_seq(storage: S, first_seq: u64) -> Result<Self, S> {
        let cap = storage.len();
        if cap == 0 || !cap.is_power_of_two() || cap > MAX_CAPACITY {
            return Err(storage);
        }
        let mask = cap as u64 - 1;
        for (i, slot) in storage.iter().enumerate() {
            // Slot `i` first serves the position `p` in `first_seq .. first_seq + cap` with
            // `p & mask == i`. Relaxed: the ring is not shared yet; whoever shares it (thread
            // spawn, publishing the module's state) provides the ordering.
            let p = first_seq.wrapping_add((i as u64).wrapping_sub(first_seq) & mask);
            slot.stamp.store_relaxed(free(p));
        }
        Ok(Self {
            mask,
            first: first_seq,
            slots: storage,
            head: CachePadded(AtomicU64::new(first_seq)),
            tail: CachePadded(AtomicU64::new(first_seq)),
            rejected_full: CachePadded(AtomicU64::new(0)),
        })
    }

    /// Gives the storage back.
    // Host only (tests, benches): the module never gives its storage back.
    #[cfg(not(xmc_kernel))]
    pub fn into_storage(self) -> S {
        self.slots
    }

    /// Number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.mask as usize + 1
    }

    /// The slot that serves position `pos`.
    #[inline(always)]
    fn slot(&self, pos: u64) -> Option<&Slot<T>> {
        // `pos & mask < slots.len()` by construction; `get` keeps this panic- and UB-free
        // even for a `Deref` impl that returned a different slice.
        self.slots.get((pos & self.mask) as usize)
    }

    /// The next position to try after the slot showed that position `stale` of `counter`
    /// (`head` or `tail`) was already claimed: the re-read counter, but at least `stale + 1`.
    ///
    /// The slot proves `counter > stale`, but a relaxed re-read may still return `stale`
    /// (the stamp we saw need not synchronise with the claim, e.g. RING:B); taking
    /// `stale + 1` guarantees progress without waiting for the new value to propagate, and
    /// never overshoots, since the CAS only claims the exact current value.
    #[inline(always)]
    fn next_guess(counter: &AtomicU64, stale: u64) -> u64 {
        let min = stale.wrapping_add(1);
        // Relaxed: a guess, validated by the stamps and the CAS.
        let cur = counter.load_relaxed();
        if diff(cur, min) > 0 {
            cur
        } else {
            min
        }
    }

    /// Writes `rec` into `slot`, which this producer claimed for position `pos`, and
    /// publishes it.
    #[inline(always)]
    fn publish(slot: &Slot<T>, pos: u64, rec: &T) {
        // RING:B: mark the slot as being written (the seqlock's "odd" count). Relaxed: it
        // cannot move before RING:A (an acquire), and RING:C orders it before the data
        // stores. Under C11 RING:A plus the consumer's RING:F would already order the
        // overwrite after the old stamp; under the LKMM smp_wmb() is not A-cumulative, so the
        // producer needs a store of its own for RING:C to order: this one.
        slot.stamp.store_relaxed(busy(pos));
        // RING:C: order RING:B before the data stores. Pairs with RING:H: a snapshot reader
        // that sees any of the new words also sees RING:B (or later) when it re-reads the
        // stamp, so it discards its copy.
        smp_wmb();
        // SAFETY: `T: Pod` and the layout is checked by `Slot::LAYOUT_OK`.
        unsafe { slot.data.write(rec) };
        // RING:D: publish. Pairs with RING:E (the consumer may read the data once it sees this
        // stamp) and RING:G (a snapshot reader or `peek` may copy it; `readable` may say so).
        // It also orders our claim (the CAS of `head`, before it in program order) before
        // whatever a reader that sees this stamp with acquire does next.
        slot.stamp.store_release(full(pos));
    }

    /// Appends `rec`; returns its sequence number, or gives `rec` back if the ring is full.
    #[inline]
    // Tests only (host tests, benches, KUnit): the module pushes with try_push_all.
    #[cfg(any(not(xmc_kernel), CONFIG_KUNIT = "y"))]
    pub fn try_push(&self, rec: T) -> Result<u64, T> {
        // Relaxed: `head` is only a guess of the position to claim; the stamp check below and
        // the CAS validate it, and all record hand-over ordering is carried by the stamps.
        let mut pos = self.head.load_relaxed();
        loop {
            let Some(slot) = self.slot(pos) else {
                return Err(rec);
            };
            // RING:A: pairs with RING:F of the consumer of `pos - capacity`: once we see the
            // slot free for `pos`, that consumer's reads of the old record happened before our
            // writes (no load buffering of old data into a new record).
            let stamp = slot.stamp.load_acquire();
            match diff(stamp, free(pos)).cmp(&0) {
                core::cmp::Ordering::Equal => {
                    // Relaxed: the claim only needs atomicity; the slot contents are ordered
                    // by RING:A (before) and RING:D (after).
                    match self.head.cmpxchg_relaxed(pos, pos.wrapping_add(1)) {
                        Ok(_) => {
                            Self::publish(slot, pos, &rec);
                            return Ok(pos);
                        }
                        Err(cur) => pos = cur,
                    }
                }
                core::cmp::Ordering::Less => {
                    // The slot still holds (or hands out) the record of `pos - capacity`:
                    // full. Relaxed: a statistic.
                    self.rejected_full.add_relaxed(1);
                    return Err(rec);
                }
                // Another producer already claimed `pos`.
                core::cmp::Ordering::Greater => pos = Self::next_guess(&self.head, pos),
            }
        }
    }

    /// Appends all of `recs` contiguously, or none of them.
    ///
    /// Returns the sequence number of the first record (the others follow it one by one);
    /// `Err(())` if the ring does not have room for the whole batch right now (nothing was
    /// enqueued). An empty batch succeeds with the next sequence number to be assigned.
    #[allow(clippy::result_unit_err)]
    pub fn try_push_all(&self, recs: &[T]) -> Result<u64, ()> {
        let n = recs.len() as u64;
        if n == 0 {
            // Relaxed: informational only.
            return Ok(self.head.load_relaxed());
        }
        let pos = self.claim_push_all(n)?;
        let mut p = pos;
        for rec in recs {
            if let Some(slot) = self.slot(p) {
                Self::publish(slot, p, rec);
            }
            p = p.wrapping_add(1);
        }
        Ok(pos)
    }

    /// Claims the `n` positions `head .. head + n` for a producer, all or none: returns the
    /// first one, whose slots the caller then writes and publishes (`publish`); `Err(())`
    /// when the ring has no room for all `n` now (nothing claimed).
    #[inline(always)]
    fn claim_push_all(&self, n: u64) -> Result<u64, ()> {
        if n > self.mask + 1 {
            // Relaxed: a statistic.
            self.rejected_full.add_relaxed(n);
            return Err(());
        }
        // Relaxed: a guess validated by the stamps and the CAS, as in `try_push`.
        let mut pos = self.head.load_relaxed();
        'claim: loop {
            let mut k = 0;
            while k < n {
                let p = pos.wrapping_add(k);
                let Some(slot) = self.slot(p) else {
                    return Err(());
                };
                // RING:A: pairs with RING:F of the consumer of `p - capacity`, as in
                // `try_push`. A slot free for `p` stays free until the producer of `p` writes
                // it, so this check still holds once the CAS below has claimed `p`.
                let d = diff(slot.stamp.load_acquire(), free(p));
                if d < 0 {
                    // Relaxed: a statistic.
                    self.rejected_full.add_relaxed(n);
                    return Err(());
                }
                if d > 0 {
                    // `p` was claimed by someone else: `pos` is stale.
                    pos = Self::next_guess(&self.head, p);
                    continue 'claim;
                }
                k += 1;
            }
            // Relaxed: atomicity only, as in `try_push`. Success means no position `>= pos`
            // had been claimed, so all `n` checked slots are ours and still free.
            match self.head.cmpxchg_relaxed(pos, pos.wrapping_add(n)) {
                Ok(_) => return Ok(pos),
                Err(cur) => pos = cur,
            }
        }
    }

    /// Test hook (host builds only, not part of the API): claims `n` positions as
    /// [`Ring::try_push_all`] does and stops there, before writing and publishing them,
    /// which is where a preempted producer leaves the ring (see the design note). The ring
    /// then counts the positions ([`Ring::len`]) but no consumer can take them, nor any
    /// position behind them, until [`Claimed::publish`].
    #[cfg(not(xmc_kernel))]
    #[doc(hidden)]
    #[allow(clippy::result_unit_err)]
    pub fn claim(&self, n: usize) -> Result<Claimed<'_, T, S>, ()> {
        let n = n as u64;
        let first = self.claim_push_all(n)?;
        Ok(Claimed {
            ring: self,
            first,
            n,
        })
    }

    /// Takes the oldest record; returns its sequence number and the record, or `None` if the
    /// ring is empty (or its oldest record is still being written).
    #[inline]
    // Tests only (host tests, benches, KUnit): the module takes records with peek/try_take.
    #[cfg(any(not(xmc_kernel), CONFIG_KUNIT = "y"))]
    pub fn try_pop(&self) -> Option<(u64, T)> {
        let (pos, slot) = self.claim_pop()?;
        // SAFETY: we own the slot from RING:E (in `claim_pop`) until RING:F below: its
        // producer's writes happened before RING:E and the next producer's happen after
        // RING:F, so no write races with this copy (snapshot readers only read); a plain copy
        // is cheaper than word-wise atomics. RING:E saw `full(pos)`, so the producer of `pos`
        // wrote all words of a valid `T` (a `Pod`) before its RING:D: the copy is that `T`.
        let out = Some((pos, unsafe { slot.data.read_owned().assume_init() }));
        // RING:F: hand the slot to the producer of `pos + capacity`. Pairs with its RING:A:
        // our data loads above happen before its data stores.
        slot.stamp
            .store_release(free(pos.wrapping_add(self.mask).wrapping_add(1)));
        out
    }

    /// Claims the oldest position for a consumer: its number and slot, whose record is
    /// published (the caller copies it, then frees the slot with RING:F).
    #[inline(always)]
    // Tests only: used by try_pop.
    #[cfg(any(not(xmc_kernel), CONFIG_KUNIT = "y"))]
    fn claim_pop(&self) -> Option<(u64, &Slot<T>)> {
        // Relaxed: a guess validated by the stamp check and the CAS.
        let mut pos = self.tail.load_relaxed();
        loop {
            let slot = self.slot(pos)?;
            // RING:E: pairs with RING:D of the producer of `pos`: its data stores happened
            // before our data loads in `try_pop`.
            let stamp = slot.stamp.load_acquire();
            match diff(stamp, full(pos)).cmp(&0) {
                // Relaxed: the claim only needs atomicity (data ordered by RING:E / RING:F).
                core::cmp::Ordering::Equal => {
                    match self.tail.cmpxchg_relaxed(pos, pos.wrapping_add(1)) {
                        Ok(_) => return Some((pos, slot)),
                        Err(cur) => pos = cur,
                    }
                }
                // Not yet published for `pos`: empty (or the producer is mid-copy).
                core::cmp::Ordering::Less => return None,
                // Another consumer took `pos`.
                core::cmp::Ordering::Greater => pos = Self::next_guess(&self.tail, pos),
            }
        }
    }

    /// Copies the oldest record without taking it: its sequence number and the record, or
    /// `None` if the ring is empty (or its oldest record is still being written).
    ///
    /// The copy is validated like a snapshot entry (never torn). Take it with
    /// [`Ring::try_take`] once it has been delivered; until then it stays the oldest record,
    /// under the same sequence number, for every consumer.
    pub fn peek(&self) -> Option<(u64, T)> {
        // Relaxed: a guess, validated by the slot stamp.
        let mut pos = self.tail.load_relaxed();
        loop {
            let slot = self.slot(pos)?;
            // RING:G: pairs with RING:D of the producer of `pos`.
            let s1 = slot.stamp.load_acquire();
            let d = diff(s1, full(pos));
            if d < 0 {
                // Not yet published for `pos`: empty (or the producer is mid-copy).
                return None;
            }
            if d == 0 {
                let rec = slot.data.read();
                // RING:H: as in the snapshot iterator; pairs with RING:C.
                smp_rmb();
                // Relaxed: ordered by the `smp_rmb()` above.
                if slot.stamp.load_relaxed() == s1 {
                    // SAFETY: the stamp was `full(pos)` before and after the copy and stamps
                    // only grow, so no producer wrote the slot in between (RING:C/RING:H):
                    // every word is from the valid `T` published by RING:D.
                    return Some((pos, unsafe { rec.assume_init() }));
                }
            }
            // Consumed (and maybe overwritten) meanwhile: look at the next position.
            pos = Self::next_guess(&self.tail, pos);
        }
    }

    /// Whether a consumer can take a record right now: the oldest record not yet taken is
    /// published. This is the check [`Ring::peek`] and [`Ring::try_pop`] make, without the
    /// copy.
    ///
    /// It is not `!is_empty()`: [`Ring::len`] counts a position from its producer's claim,
    /// but a consumer can take it only once the producer has published it, and the
    /// positions behind it only after it (see the design note on the window in between).
    ///
    /// When this returns true, a `peek` (or `try_pop`) by the same thread afterwards, or by a
    /// thread ordered after it, gets that record, unless another consumer took it in
    /// between; and [`Ring::len`] read afterwards is at least 1 under the same condition
    /// (RING:G below). A caller that must hear of a record published after a false answer
    /// needs its own wake-up, sent by the producer after its push returned.
    pub fn readable(&self) -> bool {
        // Relaxed: a guess, validated by the slot stamp, as in `peek`.
        let mut pos = self.tail.load_relaxed();
        loop {
            let Some(slot) = self.slot(pos) else {
                return false;
            };
            // RING:G: pairs with RING:D of the producer of `pos`. The answer itself needs
            // only coherence: a later `peek` re-loads `tail` and this stamp and cannot see
            // older values, so it finds `full(pos)` (the record) or a later stamp (a consumer
            // took it). The acquire orders the producer's claim of `pos` (its CAS of `head`,
            // before RING:D) before the caller's later loads of `head`: `len()` then counts
            // the record, as the device's `read` needs (it sizes its plan by `len`).
            match diff(slot.stamp.load_acquire(), full(pos)).cmp(&0) {
                core::cmp::Ordering::Equal => return true,
                // Not yet published for `pos`: empty, or its producer is between claim and
                // publication.
                core::cmp::Ordering::Less => return false,
                // Consumed meanwhile: look at the next position.
                core::cmp::Ordering::Greater => pos = Self::next_guess(&self.tail, pos),
            }
        }
    }

    /// Takes the record of position `seq` if it is still the oldest one (as returned by
    /// [`Ring::peek`]); false if another consumer took it (or `seq` is not the oldest).
    pub fn try_take(&self, seq: u64) -> bool {
        let Some(slot) = self.slot(seq) else {
            return false;
        };
        // Only a published record can be taken (never claim a position that is not written
        // yet, e.g. `seq == tail == head` of an empty ring). Relaxed: the data was already
        // copied and validated by `peek`; this check only needs the stamp's value.
        if slot.stamp.load_relaxed() != full(seq) {
            return false;
        }
        // Relaxed: atomicity only. Success means no consumer claimed `seq` before, so the
        // slot still holds the record of `seq` (only its consumer frees it): the one `peek`
        // copied.
        if self.tail.cmpxchg_relaxed(seq, seq.wrapping_add(1)).is_err() {
            return false;
        }
        // RING:F: hand the slot to the producer of `seq + capacity`. Pairs with its RING:A:
        // the `peek` loads of the data happen before its data stores.
        slot.stamp
            .store_release(free(seq.wrapping_add(self.mask).wrapping_add(1)));
        true
    }

    /// Number of records in the ring (a snapshot; may be stale as soon as it returns),
    /// counting positions claimed by producers that are still writing them: see
    /// [`Ring::readable`] for whether one can be taken.
    pub fn len(&self) -> usize {
        // Relaxed: a statistic. Read `tail` first so that, in the common case, `head` is at
        // least as new; the result is clamped anyway.
        let tail = self.tail.load_relaxed();
        let head = self.head.load_relaxed();
        let d = diff(head, tail);
        if d <= 0 {
            0
        } else {
            (d as u64).min(self.mask + 1) as usize
        }
    }

    /// Whether the record of sequence number `seq` (as returned by a push) has been taken
    /// by a consumer: `tail` moved past it. With [`Ring::peek`] + [`Ring::try_take`] a record
    /// is taken only once its copy is out, so this says "delivered".
    pub fn taken(&self, seq: u64) -> bool {
        // Relaxed: only the value is needed. "Delivered" follows from the consumer's program
        // order (`try_take` runs only after its copy succeeded), not from ordering: `tail` is
        // written only by relaxed CASes, so an acquire here would pair with nothing, and the
        // caller (`src/previous_boot.rs`: erase the ERST copy) reads nothing the consumer
        // wrote.
        diff(self.tail.load_relaxed(), seq) > 0
    }

    /// Whether the ring looks empty (a snapshot). Not empty does not mean that a record can
    /// be taken: a producer may still be writing the oldest one ([`Ring::readable`]).
    // Tests only (host tests, KUnit): the module asks `readable` (the device's poll).
    #[cfg(any(not(xmc_kernel), CONFIG_KUNIT = "y"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters, as one consistent snapshot of `head` and `tail`.
    ///
    /// `tail` is read before and after `head`; if it did not move, both values held at the
    /// moment `head` was read, so `len = pushed - popped` is the length at that moment (and
    /// within `0..=capacity`). A `tail` that moved, or a pair that is not plausible (a stale
    /// relaxed read), is read again, a bounded number of times: the ring never waits, and
    /// readers of statistics must not either. Should every attempt fail (`tail` moving all
    /// the time), `head` is clamped into `tail ..= tail + capacity`, which still satisfies
    /// `pushed == popped + len` exactly.
    pub fn stats(&self) -> RingStats {
        const ATTEMPTS: u32 = 8;
        let cap = self.mask.wrapping_add(1);
        // Relaxed: statistics; the re-read below makes the pair consistent.
        let mut tail = self.tail.load_relaxed();
        let mut head = tail;
        for _ in 0..ATTEMPTS {
            // Relaxed: as above. `smp_rmb()` keeps the three loads in program order.
            smp_rmb();
            head = self.head.load_relaxed();
            smp_rmb();
            let again = self.tail.load_relaxed();
            let d = diff(head, tail);
            if again == tail && d >= 0 && d as u64 <= cap {
                break;
            }
            tail = again;
        }
        let len = match diff(head, tail) {
            d if d <= 0 => 0,
            d => (d as u64).min(cap),
        };
        RingStats {
            pushed: tail.wrapping_add(len).wrapping_sub(self.first),
            popped: tail.wrapping_sub(self.first),
            len,
            // Relaxed: a statistic, not part of the pair.
            rejected_full: self.rejected_full.load_relaxed(),
        }
    }

    /// A non-destructive iterator over the records currently in the ring, oldest first, with
    /// their sequence numbers.
    ///
    /// Records pushed after the call are not included; records consumed or overwritten while
    /// the iterator runs are skipped (never yielded torn), so sequence numbers may have gaps.
    pub fn snapshot(&self) -> Snapshot<'_, T, S> {
        // Relaxed: the window is only a range of positions to look at; every slot is then
        // validated by its stamp (RING:G/RING:H).
        let start = self.tail.load_relaxed();
        let end = self.head.load_relaxed();
        let cap = self.mask + 1;
        let next = match diff(end, start) {
            d if d <= 0 => end,
            d if d as u64 > cap => end.wrapping_sub(cap),
            _ => start,
        };
        Snapshot {
            ring: self,
            next,
            end,
        }
    }
}

/// Positions claimed by [`Ring::claim`] and not yet published (test hook, host builds only).
///
/// Dropping it without [`Claimed::publish`] leaves the positions claimed for ever: no
/// consumer gets past them.
#[cfg(not(xmc_kernel))]
#[doc(hidden)]
#[must_use = "an unpublished claim blocks every consumer at its first position"]
pub struct Claimed<'a, T: Pod, S: Deref<Target = [Slot<T>]>> {
    /// The ring the positions belong to.
    ring: &'a Ring<T, S>,
    /// The first claimed position.
    first: u64,
    /// How many positions are claimed.
    n: u64,
}

#[cfg(not(xmc_kernel))]
impl<T: Pod, S: Deref<Target = [Slot<T>]>> Claimed<'_, T, S> {
    /// The sequence number of the first claimed position.
    pub fn seq(&self) -> u64 {
        self.first
    }

    /// Writes and publishes every claimed position `seq` with `rec(seq)`, in order, as
    /// [`Ring::try_push_all`] does after its claim; returns the first sequence number.
    pub fn publish(self, mut rec: impl FnMut(u64) -> T) -> u64 {
        for k in 0..self.n {
            let p = self.first.wrapping_add(k);
            if let Some(slot) = self.ring.slot(p) {
                Ring::<T, S>::publish(slot, p, &rec(p));
            }
        }
        self.first
    }
}

impl<T: Pod, S: Deref<Target = [Slot<T>]>> fmt::Debug for Ring<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Iterator returned by [`Ring::snapshot`].
pub struct Snapshot<'a, T: Pod, S: Deref<Target = [Slot<T>]>> {
    /// The ring being dumped.
    ring: &'a Ring<T, S>,
    /// Next position to look at.
    next: u64,
    /// One past the last position to look at.
    end: u64,
}

impl<T: Pod, S: Deref<Target = [Slot<T>]>> Iterator for Snapshot<'_, T, S> {
    type Item = (u64, T);

    fn next(&mut self) -> Option<(u64, T)> {
        while self.next != self.end {
            let pos = self.next;
            self.next = pos.wrapping_add(1);
            let slot = self.ring.slot(pos)?;
            // RING:G: pairs with RING:D of the producer of `pos`: if the slot holds `pos`,
            // its words were written before.
            let s1 = slot.stamp.load_acquire();
            if s1 != full(pos) {
                // Not yet published, already consumed or overwritten: skip.
                continue;
            }
            let rec = slot.data.read();
            // RING:H: order the data loads before the stamp re-load. Pairs with RING:C: if
            // any word came from a later producer of this slot, the re-load sees that
            // producer's RING:B stamp (or later) and the copy is discarded.
            smp_rmb();
            // Relaxed: ordered by the `smp_rmb()` above.
            let s2 = slot.stamp.load_relaxed();
            if s2 == s1 {
                // SAFETY: the stamp was `full(pos)` before and after the copy, and stamps
                // only grow, so no producer wrote the slot in between (RING:C/RING:H): every
                // word is from the valid `T` published by RING:D.
                return Some((pos, unsafe { rec.assume_init() }));
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// KUnit suite: the same ring on the kernel's atomics (runs at module load with CONFIG_KUNIT).
// ---------------------------------------------------------------------------------------------
#[cfg(all(xmc_kernel, CONFIG_KUNIT = "y"))]
#[kernel::macros::kunit_tests(xen_mcelog_ring)]
#[allow(clippy::indexing_slicing)]
mod kunit_tests {
    use super::*;
    use kernel::prelude::*;

    /// A 128-byte record (the size of an mcelog record) with a self-check word.
    type Rec = [u64; 16];

    fn rec(seed: u64) -> Rec {
        let mut r = [0u64; 16];
        let mut x = seed;
        let mut sum = 0u64;
        for w in r.iter_mut().take(15) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *w = x;
            sum ^= x;
        }
        if let Some(last) = r.last_mut() {
            *last = sum;
        }
        r
    }

    fn intact(r: &Rec) -> bool {
        r.iter().fold(0u64, |a, w| a ^ w) == 0
    }

    fn storage(n: usize) -> Result<KVec<Slot<Rec>>> {
        let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            v.push(Slot::new(), GFP_KERNEL)?;
        }
        Ok(v)
    }

    fn ring(n: usize) -> Result<Ring<Rec, KVec<Slot<Rec>>>> {
        Ring::new(storage(n)?).map_err(|_| EINVAL)
    }

    #[test]
    fn rejects_bad_capacity() -> Result {
        assert!(Ring::new(storage(0)?).is_err());
        assert!(Ring::new(storage(3)?).is_err());
        assert!(Ring::new(storage(4)?).is_ok());
        Ok(())
    }

    #[test]
    fn push_pop_wrap() -> Result {
        let r = ring(4)?;
        assert_eq!(r.capacity(), 4);
        assert!(r.is_empty() && !r.readable());
        assert!(r.try_pop().is_none());
        // 25 laps of the 4 slots, with the ring 0..3 full in between.
        let mut next_push = 0u64;
        let mut next_pop = 0u64;
        for round in 0..100u64 {
            let fill = round % 4 + 1;
            for _ in 0..fill {
                assert_eq!(r.try_push(rec(next_push)).ok(), Some(next_push));
                next_push += 1;
            }
            assert_eq!(r.len() as u64, fill);
            assert!(r.readable());
            for _ in 0..fill {
                let got = r.try_pop();
                assert!(matches!(got, Some((s, v)) if s == next_pop && v == rec(next_pop)));
                next_pop += 1;
            }
            assert!(r.is_empty());
        }
        Ok(())
    }

    #[test]
    fn full_gives_record_back() -> Result {
        let r = ring(2)?;
        assert!(r.try_push(rec(1)).is_ok());
        assert!(r.try_push(rec(2)).is_ok());
        assert!(matches!(r.try_push(rec(3)), Err(v) if v == rec(3)));
        assert_eq!(
            r.stats(),
            RingStats {
                pushed: 2,
                popped: 0,
                len: 2,
                rejected_full: 1
            }
        );
        assert!(matches!(r.try_pop(), Some((0, v)) if v == rec(1)));
        assert_eq!(r.try_push(rec(3)).ok(), Some(2));
        Ok(())
    }

    #[test]
    fn batch_all_or_nothing() -> Result {
        let r = ring(8)?;
        let batch = [rec(10), rec(11), rec(12), rec(13), rec(14)];
        assert_eq!(r.try_push_all(&batch), Ok(0));
        // 3 free slots: a batch of 4 must leave the ring untouched.
        assert!(r.try_push_all(&batch[..4]).is_err());
        assert_eq!(r.len(), 5);
        assert_eq!(r.stats().rejected_full, 4);
        assert_eq!(r.try_push_all(&batch[..3]), Ok(5));
        assert_eq!(r.len(), 8);
        assert!(r.try_push_all(&batch[..1]).is_err());
        // Larger than the ring: never fits.
        assert!(r.try_push_all(&[rec(0); 9]).is_err());
        let mut seq = 0u64;
        while let Some((s, v)) = r.try_pop() {
            assert_eq!(s, seq);
            assert!(intact(&v));
            seq += 1;
        }
        assert_eq!(seq, 8);
        Ok(())
    }

    #[test]
    fn snapshot_is_non_destructive() -> Result {
        let r = ring(8)?;
        for i in 0..6u64 {
            assert!(r.try_push(rec(i)).is_ok());
        }
        assert!(r.try_pop().is_some());
        let mut n = 0u64;
        for (s, v) in r.snapshot() {
            assert_eq!(s, n + 1);
            assert!(v == rec(n + 1) && intact(&v));
            n += 1;
        }
        assert_eq!(n, 5);
        assert_eq!(r.len(), 5);
        assert_eq!(
            r.stats(),
            RingStats {
                pushed: 6,
                popped: 1,
                len: 5,
                rejected_full: 0
            }
        );
        Ok(())
    }
}
