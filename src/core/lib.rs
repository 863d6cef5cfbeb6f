// SPDX-License-Identifier: GPL-2.0-only

//! Host build of the pure parts of xen_mcelog's telemetry pipeline: the
//! mcelog record layout (`record.rs`, in parts in `record/`), the Xen
//! `mc_info` walker and converter (`mcinfo.rs`, in parts in `mcinfo/`), the
//! drain algorithm (`drain.rs`, with `drain/`), the format of Xen's records
//! in ERST (`erst.rs`) and their bookkeeping (`erst_tracker.rs`), and Xen's
//! version with its known machine-check defects (`xen_version.rs`).
//!
//! This folder, `src/core/`, holds only the pure logic and its host crate:
//! the six modules, this root, their tests (`tests/`), the drain benchmark
//! (`benches/`) and the converter's fuzz crate (`fuzz/`). The kernel
//! module's crate is the folder above, `src/`: its root
//! (`src/xen_mcelog_main.rs`) includes the same six modules by path
//! (`#[path = "core/record.rs"] mod record;`). This crate exists so they can
//! be unit-tested, property-tested and fuzzed on the host, and so the tools
//! (`tools/`) decode records and pstore files with the module's own code.

#![no_std]

pub mod drain;
pub mod erst;
pub mod erst_tracker;
pub mod mcinfo;
pub mod record;
pub mod xen_version;
