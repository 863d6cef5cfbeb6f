// SPDX-License-Identifier: GPL-2.0

//! The one place where the kernel crate's API differs between the kernels
//! xen_mcelog is built for (Debian's 7.2 and 7.3 kernels, see
//! tests/kernels.conf).
//!
//! Kbuild passes `--cfg xmc_kernel_7_3` when the tree it builds against is
//! 7.3 or newer (from the tree's own `VERSION`/`PATCHLEVEL`, so a headers-only
//! tree such as a DKMS build selects the same way). Everything else in the
//! module calls these wrappers instead of the kernel crate directly.
//!
//! | what                       | 7.2                               | 7.3                                 |
//! |----------------------------|-----------------------------------|-------------------------------------|
//! | SMP full barrier           | `barrier::smp_mb()`               | `barrier::smp_mb(Full)`             |
//! | SMP write/read barriers    | `barrier::smp_wmb()`/`smp_rmb()`  | `barrier::smp_mb(Write)`/`(Read)`   |
//! | module parameter's value   | `.value()` returns `&T`           | `.value()` returns `T`              |

use core::borrow::Borrow;

/// `smp_mb()`: a full barrier.
#[inline(always)]
pub(crate) fn smp_mb() {
    #[cfg(not(xmc_kernel_7_3))]
    kernel::sync::barrier::smp_mb();
    #[cfg(xmc_kernel_7_3)]
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Full);
}

/// `smp_wmb()`: stores before it are ordered before stores after it.
#[inline(always)]
pub(crate) fn smp_wmb() {
    #[cfg(not(xmc_kernel_7_3))]
    kernel::sync::barrier::smp_wmb();
    #[cfg(xmc_kernel_7_3)]
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Write);
}

/// `smp_rmb()`: loads before it are ordered before loads after it.
#[inline(always)]
pub(crate) fn smp_rmb() {
    #[cfg(not(xmc_kernel_7_3))]
    kernel::sync::barrier::smp_rmb();
    #[cfg(xmc_kernel_7_3)]
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Read);
}

/// The value of a module parameter, from what its `.value()` returns on the
/// kernel being built against (a reference on 7.2, the value on 7.3).
#[inline(always)]
pub(crate) fn param<T: Copy>(value: impl Borrow<T>) -> T {
    *value.borrow()
}
