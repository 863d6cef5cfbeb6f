// SPDX-License-Identifier: GPL-2.0-only

//! The 32-bit atomic word behind the device's shared state ([`super::Flags`],
//! [`super::OpenGate`], [`super::FileFormat`]): one small API, two backends,
//! like the ring's `sync.rs`.
//!
//! | shim                  | host (`core`)                    | `cfg(xmc_kernel)` (LKMM)                          |
//! |-----------------------|----------------------------------|---------------------------------------------------|
//! | [`Word::load_relaxed`] | `load(Relaxed)`                 | `Atomic<u32>::load(Relaxed)` (`READ_ONCE`)        |
//! | [`Word::store_relaxed`]| `store(Relaxed)`                | `Atomic<u32>::store(Relaxed)` (`WRITE_ONCE`)      |
//! | [`Word::load_acquire`] | `load(Acquire)`                 | `Atomic<u32>::load(Acquire)` (`smp_load_acquire`) |
//! | [`Word::xchg`]         | `swap(AcqRel)`                  | `Atomic<u32>::xchg(Full)` (`atomic_xchg`)         |
//! | [`Word::update`]       | `fetch_update(AcqRel, Acquire)` | `Atomic<u32>::cmpxchg(Full)` loop (`atomic_try_cmpxchg`) |
//!
//! The kernel's fully ordered read-modify-write operations are at least as
//! strong as the host's `AcqRel` ones, so the host tests check the weaker
//! contract.

use core::fmt;

#[cfg(not(xmc_kernel))]
use core::sync::atomic::{AtomicU32 as Inner, Ordering};
#[cfg(xmc_kernel)]
use kernel::sync::atomic::{Acquire, Atomic, Full, Relaxed};

#[cfg(xmc_kernel)]
type Inner = Atomic<u32>;

/// A 32-bit atomic word with exactly the operations the device uses.
#[repr(transparent)]
pub struct Word(Inner);

impl Word {
    /// A word holding `v`.
    #[inline(always)]
    pub const fn new(v: u32) -> Word {
        Word(Inner::new(v))
    }

    /// `READ_ONCE()`.
    #[inline(always)]
    pub fn load_relaxed(&self) -> u32 {
        #[cfg(not(xmc_kernel))]
        return self.0.load(Ordering::Relaxed);
        #[cfg(xmc_kernel)]
        return self.0.load(Relaxed);
    }

    /// `WRITE_ONCE()`.
    #[inline(always)]
    pub fn store_relaxed(&self, v: u32) {
        #[cfg(not(xmc_kernel))]
        self.0.store(v, Ordering::Relaxed);
        #[cfg(xmc_kernel)]
        self.0.store(v, Relaxed);
    }

    /// `smp_load_acquire()`.
    #[inline(always)]
    pub fn load_acquire(&self) -> u32 {
        #[cfg(not(xmc_kernel))]
        return self.0.load(Ordering::Acquire);
        #[cfg(xmc_kernel)]
        return self.0.load(Acquire);
    }

    /// Stores `v` and returns the old value (fully ordered in the kernel).
    #[inline(always)]
    pub fn xchg(&self, v: u32) -> u32 {
        #[cfg(not(xmc_kernel))]
        return self.0.swap(v, Ordering::AcqRel);
        #[cfg(xmc_kernel)]
        return self.0.xchg(v, Full);
    }

    /// Replaces the value `s` by `f(s)` atomically, retrying while another
    /// update got in between; `Ok(old)` once stored, `Err(current)` as soon as
    /// `f` returns `None` (nothing stored).
    #[inline]
    pub fn update(&self, f: impl FnMut(u32) -> Option<u32>) -> Result<u32, u32> {
        #[cfg(not(xmc_kernel))]
        return self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, f);
        #[cfg(xmc_kernel)]
        {
            let mut f = f;
            let mut cur = self.0.load(Acquire);
            loop {
                let new = f(cur).ok_or(cur)?;
                match self.0.cmpxchg(cur, new, Full) {
                    Ok(old) => return Ok(old),
                    Err(now) => cur = now,
                }
            }
        }
    }
}

impl Default for Word {
    fn default() -> Word {
        Word::new(0)
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.load_relaxed(), f)
    }
}
