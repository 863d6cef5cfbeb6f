// SPDX-License-Identifier: GPL-2.0-only

//! Shared code of the xen_mcelog userspace tools.
//!
//! The pure parts (argument parsing, the Xen `struct xen_mc` byte images for
//! the injection hypercalls, record formatting) are host-tested here; `sys`
//! holds the few thin libc wrappers (ioctl, poll, the privcmd hypercall) that
//! need `unsafe`.

pub mod args;
pub mod cli;
pub mod decode;
pub mod format;
pub mod grub;
pub mod history;
pub mod inject;
pub mod latency;
pub mod prom;
pub mod retire;
#[cfg(test)]
#[path = "../tests/scratch/mod.rs"]
mod scratch;
pub mod sys;
pub mod uffd;
pub mod xen;
pub mod xenmc;
pub mod xenpage;

pub use xmc_core::record::{Mce, RECORD_LEN};
