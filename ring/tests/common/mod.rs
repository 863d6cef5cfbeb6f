// SPDX-License-Identifier: GPL-2.0-only
//! Test records that carry their own check pattern, so a torn copy is detected.
#![allow(dead_code)]

use xmc_ring::{Ring, Slot};

/// The 128-byte record of the driver (16 words).
pub type Rec = [u64; 16];

/// Splitmix64 step.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A record identified by `tag`: every word is a function of the tag.
pub fn rec(tag: u64) -> Rec {
    let mut r = [0u64; 16];
    r[0] = tag;
    let mut x = tag;
    for w in r.iter_mut().skip(1) {
        x = mix(x);
        *w = x;
    }
    r
}

/// The tag of `r` if `r` is exactly `rec(tag)` (not torn), `None` otherwise.
pub fn check(r: &Rec) -> Option<u64> {
    (rec(r[0]) == *r).then_some(r[0])
}

/// Tag of producer `p`'s `i`-th record.
pub fn tag(p: u64, i: u64) -> u64 {
    (p << 48) | i
}

pub fn storage<T: xmc_ring::Pod>(cap: usize) -> Vec<Slot<T>> {
    (0..cap).map(|_| Slot::new()).collect()
}

pub fn ring<T: xmc_ring::Pod>(cap: usize) -> Ring<T, Vec<Slot<T>>> {
    Ring::new(storage(cap)).unwrap_or_else(|_| panic!("bad capacity {cap}"))
}
