// SPDX-License-Identifier: GPL-2.0-only

//! Host build of the pure decision logic of xen_mcelog's `/dev/xen_mcelog`
//! (`decisions.rs`), which the kernel module includes by path.

#![no_std]

pub mod decisions;
