// SPDX-License-Identifier: GPL-2.0-only

//! Xen machine-check telemetry (`struct mc_info`, `struct mcinfo_logical_cpu`)
//! read from raw bytes, and its conversion into mcelog records.
//!
//! Everything here works on copies of the bytes Xen wrote (the 768-byte
//! `mc_info` from `XEN_MC_fetch`, the 304-byte entries from
//! `XEN_MC_physcpuinfo`). Fields are read at fixed byte offsets with bounds
//! checks, so a malformed buffer can only produce flags, never a fault, a
//! panic or an endless loop. Layouts: xen/include/public/arch-x86/xen-mca.h;
//! the field mapping follows Linux's drivers/xen/mcelog.c (`convert_log`).
//!
//! This file and its parts in mcinfo/ are shared with the kernel module
//! (`#[path = "core/mcinfo.rs"] mod mcinfo;`, next to `mod record;`): they
//! use only `core` and `crate::record`.
//!
//! The parts, one job each: the ABI's sizes and numbers (`abi`), the byte
//! readers (`bytes`), the physical CPU table (`physcpu`), the typed records
//! (`records`), the bounded walker (`walker`) and the converter
//! (`converter`).

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![forbid(unsafe_code)]

// The parts are named by path: this file is also pulled in by path from the
// kernel module's crate root (`#[path = "core/mcinfo.rs"]`), which makes
// rustc look for a plain `mod abi;` beside this file (src/core/abi.rs)
// instead of in src/core/mcinfo/ as the host crate does. A path relative to
// this file's directory is the same in both builds.
#[path = "mcinfo/abi.rs"]
mod abi;
#[path = "mcinfo/bytes.rs"]
mod bytes;
#[path = "mcinfo/converter.rs"]
mod converter;
#[path = "mcinfo/physcpu.rs"]
mod physcpu;
#[path = "mcinfo/records.rs"]
mod records;
#[path = "mcinfo/walker.rs"]
mod walker;

// Whole parts are re-exported (globs): the kernel build leaves host-only
// items out (`#[cfg(not(xmc_kernel))]`), which a list of names would have to
// repeat for each one.
pub use abi::*;
pub(crate) use bytes::{u16_at, u32_at, u64_at, u8_at};
pub use converter::*;
pub use physcpu::*;
pub use records::*;
pub use walker::*;
