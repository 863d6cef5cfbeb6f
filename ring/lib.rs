//! Host build of the xen_mcelog ring buffer (see `ring.rs` for the algorithm).
#![no_std]

#[cfg(test)]
extern crate std;

#[path = "ring.rs"]
mod ring;
pub use ring::*;
