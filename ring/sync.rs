// SPDX-License-Identifier: GPL-2.0-only

//! The atomics shim of the ring: one small API, three backends.
//!
//! The algorithm in `ring.rs` is written once against this API:
//!
//! | shim                          | host (`core`)            | `cfg(xmc_kernel)` (LKMM)                   | `cfg(loom)`        |
//! |-------------------------------|--------------------------|--------------------------------------------|--------------------|
//! | [`AtomicU64::load_acquire`]   | `load(Acquire)`          | `Atomic<u64>::load(Acquire)` (`smp_load_acquire`) | `load(Acquire)` |
//! | [`AtomicU64::load_relaxed`]   | `load(Relaxed)`          | `Atomic<u64>::load(Relaxed)` (`READ_ONCE`)  | `load(Relaxed)`    |
//! | [`AtomicU64::store_release`]  | `store(Release)`         | `Atomic<u64>::store(Release)` (`smp_store_release`) | `store(Release)` |
//! | [`AtomicU64::store_relaxed`]  | `store(Relaxed)`         | `Atomic<u64>::store(Relaxed)` (`WRITE_ONCE`) | `store(Relaxed)`  |
//! | [`AtomicU64::cmpxchg_relaxed`]| `compare_exchange(Relaxed, Relaxed)` | `Atomic<u64>::cmpxchg(Relaxed)` (`atomic64_try_cmpxchg_relaxed`) | same as host |
//! | [`AtomicU64::add_relaxed`]    | `fetch_add(Relaxed)`     | `Atomic<u64>::add(Relaxed)` (`atomic64_add`) | `fetch_add(Relaxed)` |
//! | [`AtomicU64::add_release`]    | `fetch_add(Release)`     | `Atomic<u64>::fetch_add(Release)`           | `fetch_add(Release)` |
//! | [`smp_mb`]                    | `fence(SeqCst)`          | `smp_mb()` (via the module's `compat`)      | `fence(SeqCst)`    |
//! | [`smp_wmb`]                   | `fence(Release)`         | `smp_wmb()` (via the module's `compat`)     | `fence(Release)`   |
//! | [`smp_rmb`]                   | `fence(Acquire)`         | `smp_rmb()` (via the module's `compat`)     | `fence(Acquire)`   |
//! | [`Words`] (record storage)    | `AtomicU64::from_ptr` per word | `atomic_load`/`atomic_store(ptr, _, Relaxed)` per word | array of loom atomics |
//!
//! `smp_wmb()`/`smp_rmb()` are weaker than C11 release/acquire fences in general (they order
//! only stores/loads), but the ring uses them only in the seqlock pattern (stamp store, `wmb`,
//! data stores / data loads, `rmb`, stamp load), where both give the same guarantee; that is
//! the pattern of the kernel's `seqcount_t`.

use core::mem::{size_of, MaybeUninit};

/// Number of 64-bit words of a record `T` (the ring checks `size_of::<T>() % 8 == 0`).
const fn words_of<T>() -> usize {
    size_of::<T>() / 8
}

// ---------------------------------------------------------------------------------------------
// Record storage of the host and kernel backends: one `UnsafeCell` per record, accessed by
// the backend's per-word atomics (`store_word`/`load_word` in `imp`) or, when no write can
// race, copied plainly. (loom keeps real loom atomics instead, in its own `imp`.)
// ---------------------------------------------------------------------------------------------
#[cfg(not(loom))]
mod cell {
    use core::cell::UnsafeCell;
    use core::mem::MaybeUninit;

    /// Storage of one record, accessed only as 64-bit atomic words.
    #[repr(C, align(8))]
    pub(crate) struct Words<T>(UnsafeCell<MaybeUninit<T>>);

    impl<T> Words<T> {
        /// Zero-filled storage (never read before a record was written, see `ring.rs`).
        #[inline(always)]
        pub(crate) const fn new() -> Self {
            Self(UnsafeCell::new(MaybeUninit::zeroed()))
        }

        /// Pointer to the first word.
        #[inline(always)]
        pub(crate) fn base(&self) -> *mut u64 {
            self.0.get().cast::<u64>()
        }

        /// Plain (non-atomic) copy of the whole record.
        ///
        /// # Safety
        ///
        /// No write to the record may race with this read (concurrent atomic *reads* are
        /// fine: a read-read race is not a data race).
        #[inline(always)]
        // Tests only: used by read_owned.
        #[cfg(any(not(xmc_kernel), CONFIG_KUNIT = "y"))]
        pub(crate) unsafe fn read_plain(&self) -> MaybeUninit<T> {
            // SAFETY: the pointer is valid and aligned for `MaybeUninit<T>`; no write races
            // with this read (caller).
            unsafe { self.0.get().read() }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Host backend: `core::sync::atomic`.
// ---------------------------------------------------------------------------------------------
#[cfg(not(any(loom, xmc_kernel)))]
mod imp {
    use core::sync::atomic::{self, Ordering};

    /// A 64-bit atomic with exactly the operations the ring uses.
    #[repr(transparent)]
    pub(crate) struct AtomicU64(atomic::AtomicU64);

    impl AtomicU64 {
        /// A new atomic holding `v`.
        #[inline(always)]
        pub(crate) const fn new(v: u64) -> Self {
            Self(atomic::AtomicU64::new(v))
        }
        /// `smp_load_acquire()`.
        #[inline(always)]
        pub(crate) fn load_acquire(&self) -> u64 {
            self.0.load(Ordering::Acquire)
        }
        /// `READ_ONCE()`.
        #[inline(always)]
        pub(crate) fn load_relaxed(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
        /// `smp_store_release()`.
        #[inline(always)]
        pub(crate) fn store_release(&self, v: u64) {
            self.0.store(v, Ordering::Release)
        }
        /// `WRITE_ONCE()`.
        #[inline(always)]
        pub(crate) fn store_relaxed(&self, v: u64) {
            self.0.store(v, Ordering::Relaxed)
        }
        /// `atomic64_cmpxchg_relaxed()`: `Ok(old)` on success, `Err(current)` otherwise.
        #[inline(always)]
        pub(crate) fn cmpxchg_relaxed(&self, old: u64, new: u64) -> Result<u64, u64> {
            self.0
                .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
        }
        /// `atomic64_add()` (no ordering).
        #[inline(always)]
        pub(crate) fn add_relaxed(&self, v: u64) {
            self.0.fetch_add(v, Ordering::Relaxed);
        }
        /// `atomic64_fetch_add_release()` (result unused).
        #[inline(always)]
        pub(crate) fn add_release(&self, v: u64) {
            self.0.fetch_add(v, Ordering::Release);
        }
    }

    /// `smp_mb()`: a full barrier.
    #[inline(always)]
    pub(crate) fn smp_mb() {
        atomic::fence(Ordering::SeqCst);
    }

    /// `smp_wmb()`: stores before it are ordered before stores after it.
    #[inline(always)]
    pub(crate) fn smp_wmb() {
        atomic::fence(Ordering::Release);
    }

    /// `smp_rmb()`: loads before it are ordered before loads after it.
    #[inline(always)]
    pub(crate) fn smp_rmb() {
        atomic::fence(Ordering::Acquire);
    }

    // The shared storage (`cell::Words`); this backend adds its per-word atomics.
    pub(crate) use super::cell::Words;

    impl<T> Words<T> {
        /// Relaxed atomic store of word `i`.
        ///
        /// # Safety
        ///
        /// `i < size_of::<T>() / 8`.
        #[inline(always)]
        pub(crate) unsafe fn store_word(&self, i: usize, w: u64) {
            // SAFETY: `i` is in bounds (caller) and `Words` is 8-aligned, so the pointer is a
            // valid, aligned `u64` inside `self`; the storage is only ever accessed atomically
            // once shared (the zero fill happens before the value is shared).
            unsafe { atomic::AtomicU64::from_ptr(self.base().add(i)) }.store(w, Ordering::Relaxed)
        }

        /// Relaxed atomic load of word `i`.
        ///
        /// # Safety
        ///
        /// `i < size_of::<T>() / 8`.
        #[inline(always)]
        pub(crate) unsafe fn load_word(&self, i: usize) -> u64 {
            // SAFETY: as in `store_word`.
            unsafe { atomic::AtomicU64::from_ptr(self.base().add(i)) }.load(Ordering::Relaxed)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel backend: `kernel::sync::atomic` (Linux kernel memory model).
// ---------------------------------------------------------------------------------------------
#[cfg(all(xmc_kernel, not(loom)))]
mod imp {
    use kernel::sync::atomic::{self, Acquire, Atomic, Relaxed, Release};

    /// A 64-bit atomic with exactly the operations the ring uses.
    #[repr(transparent)]
    pub(crate) struct AtomicU64(Atomic<u64>);

    impl AtomicU64 {
        /// A new atomic holding `v`.
        #[inline(always)]
        pub(crate) const fn new(v: u64) -> Self {
            Self(Atomic::new(v))
        }
        /// `smp_load_acquire()`.
        #[inline(always)]
        pub(crate) fn load_acquire(&self) -> u64 {
            self.0.load(Acquire)
        }
        /// `READ_ONCE()`.
        #[inline(always)]
        pub(crate) fn load_relaxed(&self) -> u64 {
            self.0.load(Relaxed)
        }
        /// `smp_store_release()`.
        #[inline(always)]
        pub(crate) fn store_release(&self, v: u64) {
            self.0.store(v, Release)
        }
        /// `WRITE_ONCE()`.
        #[inline(always)]
        pub(crate) fn store_relaxed(&self, v: u64) {
            self.0.store(v, Relaxed)
        }
        /// `atomic64_cmpxchg_relaxed()`: `Ok(old)` on success, `Err(current)` otherwise.
        #[inline(always)]
        pub(crate) fn cmpxchg_relaxed(&self, old: u64, new: u64) -> Result<u64, u64> {
            self.0.cmpxchg(old, new, Relaxed)
        }
        /// `atomic64_add()` (no ordering).
        #[inline(always)]
        pub(crate) fn add_relaxed(&self, v: u64) {
            self.0.add(v, Relaxed)
        }
        /// `atomic64_fetch_add_release()` (result unused).
        #[inline(always)]
        pub(crate) fn add_release(&self, v: u64) {
            self.0.fetch_add(v, Release);
        }
    }

    // `smp_wmb()`/`smp_rmb()`: the kernel crate spells them differently
    // across the kernels the module is built for; the module's `compat`
    // holds the one adaptation.
    pub(crate) use crate::compat::{smp_mb, smp_rmb, smp_wmb};

    // The shared storage (`cell::Words`); this backend adds its per-word atomics.
    pub(crate) use super::cell::Words;

    impl<T> Words<T> {
        /// `WRITE_ONCE()` of word `i`.
        ///
        /// # Safety
        ///
        /// `i < size_of::<T>() / 8`.
        #[inline(always)]
        pub(crate) unsafe fn store_word(&self, i: usize, w: u64) {
            // SAFETY: `i` is in bounds (caller) and `Words` is 8-aligned, so the pointer is a
            // valid, aligned `u64` inside `self`; every concurrent access to it is atomic.
            unsafe { atomic::atomic_store(self.base().add(i), w, Relaxed) }
        }

        /// `READ_ONCE()` of word `i`.
        ///
        /// # Safety
        ///
        /// `i < size_of::<T>() / 8`.
        #[inline(always)]
        pub(crate) unsafe fn load_word(&self, i: usize) -> u64 {
            // SAFETY: as in `store_word`.
            unsafe { atomic::atomic_load(self.base().add(i), Relaxed) }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Model-checking backend: loom.
// ---------------------------------------------------------------------------------------------
#[cfg(loom)]
mod imp {
    use core::marker::PhantomData;
    use loom::sync::atomic::{self, Ordering};

    /// Largest record the loom backend stores (in 64-bit words); models use small records.
    pub(crate) const LOOM_WORDS: usize = 4;

    /// A 64-bit atomic with exactly the operations the ring uses.
    pub(crate) struct AtomicU64(atomic::AtomicU64);

    impl AtomicU64 {
        /// A new atomic holding `v` (not `const` under loom).
        pub(crate) fn new(v: u64) -> Self {
            Self(atomic::AtomicU64::new(v))
        }
        /// `smp_load_acquire()`.
        pub(crate) fn load_acquire(&self) -> u64 {
            self.0.load(Ordering::Acquire)
        }
        /// `READ_ONCE()`.
        pub(crate) fn load_relaxed(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
        /// `smp_store_release()`.
        pub(crate) fn store_release(&self, v: u64) {
            self.0.store(v, Ordering::Release)
        }
        /// `WRITE_ONCE()`.
        pub(crate) fn store_relaxed(&self, v: u64) {
            self.0.store(v, Ordering::Relaxed)
        }
        /// `atomic64_cmpxchg_relaxed()`: `Ok(old)` on success, `Err(current)` otherwise.
        pub(crate) fn cmpxchg_relaxed(&self, old: u64, new: u64) -> Result<u64, u64> {
            self.0
                .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
        }
        /// `atomic64_add()` (no ordering).
        pub(crate) fn add_relaxed(&self, v: u64) {
            self.0.fetch_add(v, Ordering::Relaxed);
        }
        /// `atomic64_fetch_add_release()` (result unused).
        pub(crate) fn add_release(&self, v: u64) {
            self.0.fetch_add(v, Ordering::Release);
        }
    }

    /// `smp_mb()`, modelled as a sequentially consistent fence.
    pub(crate) fn smp_mb() {
        atomic::fence(Ordering::SeqCst);
    }

    /// `smp_wmb()`, modelled as a release fence.
    pub(crate) fn smp_wmb() {
        atomic::fence(Ordering::Release);
    }

    /// `smp_rmb()`, modelled as an acquire fence.
    pub(crate) fn smp_rmb() {
        atomic::fence(Ordering::Acquire);
    }

    /// Storage of one record: real loom atomics, so loom sees every word access.
    pub(crate) struct Words<T>([atomic::AtomicU64; LOOM_WORDS], PhantomData<T>);

    impl<T> Words<T> {
        /// Zero-filled storage.
        pub(crate) fn new() -> Self {
            Self(
                core::array::from_fn(|_| atomic::AtomicU64::new(0)),
                PhantomData,
            )
        }

        /// Relaxed atomic store of word `i`.
        ///
        /// # Safety
        ///
        /// `i < size_of::<T>() / 8` (always safe here: out-of-range words are ignored).
        pub(crate) unsafe fn store_word(&self, i: usize, w: u64) {
            if let Some(a) = self.0.get(i) {
                a.store(w, Ordering::Relaxed);
            }
        }

        /// Relaxed atomic load of word `i`.
        ///
        /// # Safety
        ///
        /// `i < size_of::<T>() / 8` (always safe here: out-of-range words read as 0).
        pub(crate) unsafe fn load_word(&self, i: usize) -> u64 {
            self.0.get(i).map_or(0, |a| a.load(Ordering::Relaxed))
        }

        /// The loom model cannot mix plain and atomic accesses to one location, so the
        /// consumer's copy is modelled with relaxed loads (which see no more than a plain
        /// read that is ordered after the record's writes).
        ///
        /// # Safety
        ///
        /// As for the other backends.
        pub(crate) unsafe fn read_plain(&self) -> core::mem::MaybeUninit<T> {
            let mut out = core::mem::MaybeUninit::<T>::uninit();
            let dst = out.as_mut_ptr().cast::<u64>();
            for i in 0..super::words_of::<T>() {
                // SAFETY: `i` is below the word count of `T`, so the write is inside `out`.
                unsafe { dst.add(i).write_unaligned(self.load_word(i)) };
            }
            out
        }
    }
}

pub(crate) use imp::{smp_mb, smp_rmb, smp_wmb, AtomicU64};

/// Storage of one record of type `T`, only ever accessed as relaxed atomic 64-bit words.
///
/// Whole-record copies go through [`Words::write`] and [`Words::read`], so a reader racing
/// with a writer (the snapshot iterator) performs no data race: it may see a mix of old and
/// new words (a torn copy), which the ring detects with the slot stamp and discards.
pub(crate) struct Words<T>(imp::Words<T>);

impl<T: Copy> Words<T> {
    /// Number of words of a `T`.
    const N: usize = words_of::<T>();

    /// Zero-filled storage.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) const fn new() -> Self {
        Self(imp::Words::new())
    }

    /// Zero-filled storage.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        const {
            assert!(
                words_of::<T>() <= imp::LOOM_WORDS,
                "record too large for the loom model"
            )
        };
        Self(imp::Words::new())
    }

    /// Copies `v` in with relaxed atomic stores, one word at a time.
    ///
    /// # Safety
    ///
    /// `T` has no padding or other uninitialised bytes and `size_of::<T>() % 8 == 0` (the
    /// `Pod` contract, checked by the ring).
    #[inline(always)]
    pub(crate) unsafe fn write(&self, v: &T) {
        let src = core::ptr::from_ref(v).cast::<u64>();
        for i in 0..Self::N {
            // SAFETY: `i < N` words of `*v` are in bounds and initialised (caller); `T` may be
            // less aligned than `u64`, hence the unaligned read.
            let w = unsafe { src.add(i).read_unaligned() };
            // SAFETY: `i < N`.
            unsafe { self.0.store_word(i, w) };
        }
    }

    /// Copies the record out with a plain read, for the slot's owner.
    ///
    /// # Safety
    ///
    /// No write to the slot races with this copy (the consumer owns the slot between its
    /// acquire of the "holds p" stamp and its release of "free"); snapshot readers may read
    /// the words atomically meanwhile: a read-read race between an atomic and a non-atomic
    /// access is not a data race (Rust's atomics documentation since rust-lang/rust#128778;
    /// likewise the LKMM).
    #[inline(always)]
    // Tests only: used by Ring::try_pop.
    #[cfg(any(not(xmc_kernel), CONFIG_KUNIT = "y"))]
    pub(crate) unsafe fn read_owned(&self) -> MaybeUninit<T> {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.read_plain() }
    }

    /// Copies the record out with relaxed atomic loads, one word at a time.
    ///
    /// The result is only initialised (and only a valid `T`) if no writer raced with the
    /// copy; the caller decides that from the slot stamp.
    #[inline(always)]
    pub(crate) fn read(&self) -> MaybeUninit<T> {
        let mut out = MaybeUninit::<T>::uninit();
        let dst = out.as_mut_ptr().cast::<u64>();
        for i in 0..Self::N {
            // SAFETY: `i < N`.
            let w = unsafe { self.0.load_word(i) };
            // SAFETY: `i < N` words fit in `out`; it may be less aligned than `u64`.
            unsafe { dst.add(i).write_unaligned(w) };
        }
        out
    }
}
