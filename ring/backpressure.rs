// SPDX-License-Identifier: GPL-2.0-only

//! The wake-up hand-off between a producer that found the ring full and the consumers that
//! free space in it.
//!
//! The drain of Xen's queues stores an entry's records all or nothing; when the ring has no
//! room, it leaves the entry in Xen and stops. Someone must start it again once readers
//! have freed space, and nobody may miss that moment:
//!
//! * the drain, before its store, takes a [`Token`] (how many releases of space readers have
//!   published so far); after the store failed it calls [`Backpressure::stalled`], which
//!   marks it as waiting and tells it whether a reader released space since the token;
//! * a reader, after it **released** slots (its `try_take`/`try_pop` returned, so the slots
//!   are free for producers), calls [`Backpressure::released`], which tells it whether a
//!   drain is waiting (then it kicks the drain).
//!
//! What counts is space *released*, not positions *claimed*: a reader that has claimed a
//! slot and is still copying it out has freed nothing yet (a producer finds that slot
//! full). Comparing the ring's `popped` (claims) instead loses the wake-up when the drain's
//! token already includes the claim, its store fails on that very slot, and the reader
//! releases it and looks for the waiting mark before the drain has set it
//! (`ring/tests/loom.rs`, `backpressure_*`).
//!
//! Why nothing is missed: `released` is a release RMW that follows the reader's release of
//! its slots, and the token is an acquire load; so a token that includes a release also sees
//! the freed slot, and the store cannot fail on it. A release the token did not include is
//! caught by the store-buffering pair: the drain stores the mark, full barrier, loads
//! `released`; the reader adds to `released`, full barrier, loads the mark. With full
//! barriers on both sides at least one of them sees the other's store: the drain retries,
//! or the reader kicks (or both, which only costs a redundant drain).

use super::sync::{smp_mb, AtomicU64};

/// The hand-off state: shared by the one drain and every reader.
pub struct Backpressure {
    /// Releases of space published by readers (each after its slots were freed).
    released: AtomicU64,
    /// 1 while a drain stopped for lack of room and waits for a reader to kick it.
    waiting: AtomicU64,
}

/// What a drain saw of [`Backpressure`] before it tried to store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token(u64);

impl Backpressure {
    /// No drain waiting, no space released yet.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            released: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
        }
    }

    /// No drain waiting, no space released yet.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            released: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
        }
    }

    /// Drain, before it tries to store: the releases published so far.
    pub fn token(&self) -> Token {
        // BP:A: pairs with BP:C: the slots freed before a release we count here are free
        // for our store.
        Token(self.released.load_acquire())
    }

    /// Drain, after its store (tried after [`Backpressure::token`] returned `token`) found
    /// no room: marks the drain as waiting for space. True when a reader released space
    /// since `token`: that reader may not have seen the mark, so the caller must retry now
    /// (each retry needs a new release, so this cannot spin). False: the caller may stop; a
    /// reader that releases space later sees the mark and kicks it.
    pub fn stalled(&self, token: Token) -> bool {
        // Relaxed: ordered before the load below by the full barrier.
        self.waiting.store_relaxed(1);
        // BP:B: pairs with BP:D (store buffering): we see the reader's release, or it sees
        // our mark.
        smp_mb();
        // Relaxed: ordered by BP:B.
        self.released.load_relaxed() != token.0
    }

    /// Drain: it ended without waiting for space (queues empty): readers need not kick.
    pub fn resolved(&self) {
        // Relaxed: a hint to readers; a stale 1 costs one redundant kick.
        self.waiting.store_relaxed(0);
    }

    /// Reader, after the slots it took were released to producers: publishes the release.
    /// True when a drain is waiting for space: the caller kicks it.
    pub fn released(&self) -> bool {
        // BP:C: release: our slot releases happen before a drain's BP:A that counts this.
        self.released.add_release(1);
        // BP:D: pairs with BP:B.
        smp_mb();
        // Relaxed: ordered by BP:D.
        self.waiting.load_relaxed() != 0
    }

    /// Whether a drain is waiting for space (for statistics).
    pub fn is_waiting(&self) -> bool {
        // Relaxed: diagnostic only.
        self.waiting.load_relaxed() != 0
    }
}

impl Default for Backpressure {
    fn default() -> Self {
        Self::new()
    }
}
