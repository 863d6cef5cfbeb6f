// SPDX-License-Identifier: GPL-2.0-only

//! Host build of the pure parts of xen_mcelog's telemetry pipeline: the
//! mcelog record layout (`record.rs`), the Xen `mc_info` walker and
//! converter (`mcinfo.rs`), the drain algorithm (`drain.rs`), the format of
//! Xen's records in ERST (`erst.rs`) and their bookkeeping
//! (`erst_tracker.rs`), and Xen's version with its known MCA defects
//! (`xen_version.rs`). The kernel module includes the same files by path;
//! this crate exists so they can be unit-tested, property-tested and fuzzed
//! on the host.

#![no_std]

pub mod drain;
pub mod erst;
pub mod erst_tracker;
pub mod mcinfo;
pub mod record;
pub mod xen_version;
