// SPDX-License-Identifier: GPL-2.0-only

//! Host build of the pure parts of xen_mcelog's telemetry pipeline: the
//! mcelog record layout (`record.rs`), the Xen `mc_info` walker and
//! converter (`mcinfo.rs`, in parts in `mcinfo/`), the drain algorithm
//! (`drain.rs`), the format of Xen's records in ERST (`erst.rs`) and their
//! bookkeeping (`erst_tracker.rs`), and Xen's version with its known
//! machine-check defects (`xen_version.rs`). The kernel module includes the
//! same six modules by path (`src/xen_mcelog_main.rs`); this crate exists so they can be
//! unit-tested, property-tested and fuzzed on the host, and so the tools
//! (`tools/`) decode records and pstore files with the module's own code.

#![no_std]

pub mod drain;
pub mod erst;
pub mod erst_tracker;
pub mod mcinfo;
pub mod record;
pub mod xen_version;
