// SPDX-License-Identifier: GPL-2.0-only

//! The 128-byte machine-check record that `mcelog` reads from the device.
//!
//! This is the layout of the kernel uapi `struct mce` (and of mcelog's own
//! `struct mce`), not the 112-byte `struct xen_mce` of the in-tree Xen driver:
//! the extra `microcode` and `kflags` fields let mcelog read every field it
//! knows about (it checks `recordlen > offsetof(field)` before using them).
//!
//! The conversion to and from bytes is explicit little-endian field by field,
//! so no `unsafe` transmute is needed and the byte image never depends on the
//! host's padding rules. This file and its parts in record/ are shared with
//! the kernel module, which includes it with `#[path = "core/record.rs"]
//! mod record;`: they use only `core`.
//!
//! The parts: the mcelog record (`mce`) and the Xen side kept beside it
//! (`xen`); here, the two byte helpers both images are made with.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![forbid(unsafe_code)]

// The parts are named by path: the kernel module's crate root includes this
// file by path (`#[path = "core/record.rs"]`), which makes rustc look for a
// plain `mod mce;` beside this file (src/core/mce.rs) instead of in
// src/core/record/ as the host crate does. A path relative to this file's
// directory is the same in both builds.
#[path = "record/mce.rs"]
mod mce;
#[path = "record/xen.rs"]
mod xen;

// Whole parts are re-exported (globs): the kernel build leaves host-only
// items out (`#[cfg(not(xmc_kernel))]`), which a list of names would have to
// repeat for each one.
pub use mce::*;
pub use xen::*;

/// Writes `N` bytes at `off` of `buf`; offsets are compile-time constants
/// inside the record images, so the `None` branch is never taken.
fn put_at<const N: usize>(buf: &mut [u8], off: usize, bytes: [u8; N]) {
    if let Some(dst) = buf.get_mut(off..).and_then(|s| s.first_chunk_mut::<N>()) {
        *dst = bytes;
    }
}

/// Reads `N` bytes at `off`, or zeroes if they lie outside `buf` (the image
/// of a truncated record). The one byte reader of the record layout and of
/// the `mc_info` walker.
pub(crate) fn get<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
    buf.get(off..)
        .and_then(|s| s.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}
