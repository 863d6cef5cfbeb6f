// SPDX-License-Identifier: GPL-2.0-only

//! `XMC_GET_STATS`: the module's own counters, read through the device, so
//! a host without debugfs (lockdown, `CONFIG_DEBUG_FS=n`) has them too.
//!
//! One ioctl fills one `struct xmc_stats`, a snapshot taken at the call:
//!
//! ```text
//! struct xmc_stats {        /* little-endian, no padding */
//!     __u32 version;        /* 0: STATS_VERSION of the module */
//!     __u32 size;           /* 4: bytes the module filled in */
//!     __u64 ring_capacity;  /* 8: then the counters, STATS_FIELDS order */
//!     ...
//! };                        /* STATS_LEN bytes (version 1: 200, 2: 208) */
//! ```
//!
//! It grows by appending `__u64`s only, with a new `STATS_VERSION`; a field
//! never moves or changes meaning. The command encodes the caller's size
//! (`_IOR('x', 2, struct xmc_stats)`, `_IOC_SIZE` of
//! include/uapi/asm-generic/ioctl.h), so a caller compiled against another
//! version sends another number: the module accepts any `_IOC_SIZE` of at
//! least [`STATS_LEN_V1`] (a multiple of 8) and copies
//! `min(_IOC_SIZE, STATS_LEN)` bytes, and `size` says how many, the
//! extensible-struct convention of `sched_getattr(2)` (which reports the
//! size it filled in the same way). An older caller gets the fields it
//! knows; a newer one sees from `size` which fields the module lacks.
//! Smaller sizes are `EINVAL`; other directions of `'x'` 2 are unknown
//! commands (`ENOTTY`), as Documentation/driver-api/ioctl.rst asks.
//!
//! The struct holds no pointer and no `long`, so 32-bit callers use the same
//! command and layout (`compat_ptr_ioctl`). Reading it takes nothing from the
//! ring and clears nothing (unlike `MCE_GETCLEAR_FLAGS`), and needs no
//! capability: opening the node (mode 0600 root) is the access check, as
//! for `read(2)`, which takes records.
//!
//! This file is part of `decisions` (shared with the kernel module): only
//! `core`, no `unsafe`, no panics. The tools decode with the same
//! definitions ([`DeviceStats::decode`]).

use super::{
    Errno,
    XMC_IOC_MAGIC, //
};

/// `_IOC_READ` (include/uapi/asm-generic/ioctl.h): userspace reads.
pub const IOC_READ: u32 = 2;
/// `_IOC_SIZESHIFT`.
const IOC_SIZESHIFT: u32 = 16;
/// `_IOC_SIZEMASK` (14 bits of size).
const IOC_SIZEMASK: u32 = (1 << 14) - 1;
/// `_IOC_DIRSHIFT`.
const IOC_DIRSHIFT: u32 = 30;
/// `_IOC_TYPESHIFT`.
const IOC_TYPESHIFT: u32 = 8;

/// `_IOC(dir, ty, nr, size)`. In the kernel build only the compile-time
/// check of [`XMC_GET_STATS`] uses it, which rustc 1.85 does not count.
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | (((size as u32) & IOC_SIZEMASK) << IOC_SIZESHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | nr as u32
}

/// The ioctl number of `XMC_GET_STATS` within [`XMC_IOC_MAGIC`].
pub const XMC_GET_STATS_NR: u8 = 2;

/// The layout version this module fills in (2: `traced_only_dropped`
/// appended).
pub const STATS_VERSION: u32 = 2;

/// Names of the `__u64` counters, in their order in the struct (the field
/// at index `i` is at offset `8 + 8 * i`). Append only.
pub const STATS_FIELDS: [&str; 25] = [
    "ring_capacity",
    "ring_len",
    "ring_pushed",
    "ring_popped",
    "ring_rejected_full",
    "fetched_urgent",
    "fetched_nonurgent",
    "acked_urgent",
    "acked_nonurgent",
    "stored",
    "backpressure",
    "malformed",
    "unknown_cpu",
    "cpu_refreshes",
    "fetch_errors",
    "ack_errors",
    "overflow_incomplete",
    "overflow_dropped_banks",
    "overflow_xen_pool",
    "previous_boot_imported",
    "previous_boot_pending",
    "previous_boot_erased",
    "previous_boot_given_up",
    "open_files",
    "traced_only_dropped",
];

/// Bytes before the counters: `version` and `size`.
pub const STATS_HEADER_LEN: usize = 8;

/// Bytes of `struct xmc_stats` as this module knows it.
pub const STATS_LEN: usize = STATS_HEADER_LEN + 8 * STATS_FIELDS.len();

/// Bytes of version 1, the smallest size the module accepts.
pub const STATS_LEN_V1: usize = 200;

/// `XMC_GET_STATS` = `_IOR('x', 2, struct xmc_stats)`, of this version
/// (the kernel decodes any size of it: [`stats_request`]; userspace takes it from
/// here).
#[cfg_attr(xmc_kernel, allow(dead_code))]
pub const XMC_GET_STATS: u32 = ioc(IOC_READ, XMC_IOC_MAGIC, XMC_GET_STATS_NR, STATS_LEN);

const _: () = assert!(STATS_LEN == 208);
const _: () = assert!(STATS_LEN >= STATS_LEN_V1 && STATS_LEN & 7 == 0);
const _: () = assert!(XMC_GET_STATS == 0x80D0_7802);
// _IOC_SIZE has 14 bits: the struct can grow to 16383 bytes.
const _: () = assert!(STATS_LEN <= IOC_SIZEMASK as usize);

/// The module's counters, one snapshot. Counters count since the module
/// loaded (a reload starts them at 0); "now" fields are gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Records the ring holds at most (`ring_size`).
    pub ring_capacity: u64,
    /// Records in the ring now: `ring_pushed - ring_popped` of the same
    /// snapshot (`Ring::stats`).
    pub ring_len: u64,
    /// Records stored in the ring: from Xen, ERST and `write(2)`.
    pub ring_pushed: u64,
    /// Records taken from the ring: by readers, and by the drain making
    /// room (`traced_only_dropped`).
    pub ring_popped: u64,
    /// Records refused because the ring was full (a refused batch counts
    /// all its records): the drain leaves the entry in Xen and stores it
    /// again later, a write gets `ENOSPC`. Not a loss.
    pub ring_rejected_full: u64,
    /// Entries fetched from Xen's urgent queue (an entry refused for room
    /// counts at each fetch).
    pub fetched_urgent: u64,
    /// Entries fetched from Xen's non-urgent queue (likewise).
    pub fetched_nonurgent: u64,
    /// Entries acked to Xen, urgent queue.
    pub acked_urgent: u64,
    /// Entries acked to Xen, non-urgent queue.
    pub acked_nonurgent: u64,
    /// Records from Xen's queues stored in the ring.
    pub stored: u64,
    /// Drains that stopped because the ring had no room for an entry.
    pub backpressure: u64,
    /// Malformed entries (stored as far as valid, acked).
    pub malformed: u64,
    /// Entries whose APIC id was unknown even after a refresh.
    pub unknown_cpu: u64,
    /// Re-reads of Xen's CPU table for an unknown APIC id.
    pub cpu_refreshes: u64,
    /// Failed `XEN_MC_fetch` hypercalls.
    pub fetch_errors: u64,
    /// Failed `XEN_MC_fetch | XEN_MC_ACK` hypercalls.
    pub ack_errors: u64,
    /// `MCE_OVERFLOW` raised: an entry Xen marked incomplete (banks lost).
    pub overflow_incomplete: u64,
    /// `MCE_OVERFLOW` raised: an entry whose banks the converter dropped.
    pub overflow_dropped_banks: u64,
    /// `MCE_OVERFLOW` raised: a backpressure episode in which Xen's pool
    /// may have filled (Xen then drops telemetry).
    pub overflow_xen_pool: u64,
    /// Fatal machine checks of a previous boot read from ERST at load and
    /// stored in the ring.
    pub previous_boot_imported: u64,
    /// Of those, still in ERST and still to be erased once delivered (now).
    pub previous_boot_pending: u64,
    /// Of those, delivered and gone from ERST (erased by the module, or by
    /// pstore before it).
    pub previous_boot_erased: u64,
    /// Of those, delivered but left in ERST after the erase failed too
    /// often; they come again at the next load (now).
    pub previous_boot_given_up: u64,
    /// Open files of the device (now).
    pub open_files: u64,
    /// Records the drain took out of the full ring to make room while no
    /// file had the device open, each traced to a consumer of the
    /// tracepoint before (delivered; not a loss, not `MCE_OVERFLOW`).
    /// Version 2.
    pub traced_only_dropped: u64,
}

/// Why [`DeviceStats::decode`] refused some bytes.
#[cfg(not(xmc_kernel))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than version 1 has, or than `size` says.
    Short,
    /// `size` below version 1's size or not a multiple of 8.
    BadSize(u32),
}

impl DeviceStats {
    /// The counters in [`STATS_FIELDS`] order.
    pub const fn values(&self) -> [u64; STATS_FIELDS.len()] {
        [
            self.ring_capacity,
            self.ring_len,
            self.ring_pushed,
            self.ring_popped,
            self.ring_rejected_full,
            self.fetched_urgent,
            self.fetched_nonurgent,
            self.acked_urgent,
            self.acked_nonurgent,
            self.stored,
            self.backpressure,
            self.malformed,
            self.unknown_cpu,
            self.cpu_refreshes,
            self.fetch_errors,
            self.ack_errors,
            self.overflow_incomplete,
            self.overflow_dropped_banks,
            self.overflow_xen_pool,
            self.previous_boot_imported,
            self.previous_boot_pending,
            self.previous_boot_erased,
            self.previous_boot_given_up,
            self.open_files,
            self.traced_only_dropped,
        ]
    }

    /// The counters from values in [`STATS_FIELDS`] order.
    #[cfg(not(xmc_kernel))]
    pub const fn from_values(v: [u64; STATS_FIELDS.len()]) -> DeviceStats {
        let [ring_capacity, ring_len, ring_pushed, ring_popped, ring_rejected_full, fetched_urgent, fetched_nonurgent, acked_urgent, acked_nonurgent, stored, backpressure, malformed, unknown_cpu, cpu_refreshes, fetch_errors, ack_errors, overflow_incomplete, overflow_dropped_banks, overflow_xen_pool, previous_boot_imported, previous_boot_pending, previous_boot_erased, previous_boot_given_up, open_files, traced_only_dropped] =
            v;
        DeviceStats {
            ring_capacity,
            ring_len,
            ring_pushed,
            ring_popped,
            ring_rejected_full,
            fetched_urgent,
            fetched_nonurgent,
            acked_urgent,
            acked_nonurgent,
            stored,
            backpressure,
            malformed,
            unknown_cpu,
            cpu_refreshes,
            fetch_errors,
            ack_errors,
            overflow_incomplete,
            overflow_dropped_banks,
            overflow_xen_pool,
            previous_boot_imported,
            previous_boot_pending,
            previous_boot_erased,
            previous_boot_given_up,
            open_files,
            traced_only_dropped,
        }
    }

    /// The struct's bytes, with `size` = `len` (the bytes the caller gets:
    /// [`stats_request`]'s answer). Bytes past `len` are not the caller's.
    pub fn encode(&self, len: usize) -> [u8; STATS_LEN] {
        let mut out = [0u8; STATS_LEN];
        let size = u32::try_from(len.min(STATS_LEN)).unwrap_or(0);
        let (head, body) = out.split_at_mut(STATS_HEADER_LEN);
        let (v, s) = head.split_at_mut(4);
        v.copy_from_slice(&STATS_VERSION.to_le_bytes());
        s.copy_from_slice(&size.to_le_bytes());
        for (dst, val) in body.chunks_exact_mut(8).zip(self.values()) {
            dst.copy_from_slice(&val.to_le_bytes());
        }
        out
    }

    /// Decodes what the module filled in: `(version, size, counters)`. Counters
    /// past `size` (a module older than this definition) are 0; bytes past
    /// this definition (a newer module) are ignored. (Host only: the tools'
    /// side.)
    #[cfg(not(xmc_kernel))]
    pub fn decode(bytes: &[u8]) -> Result<(u32, u32, DeviceStats), DecodeError> {
        let word = |at: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(u32::from_le_bytes(b))
        };
        let (Some(version), Some(size)) = (word(0), word(4)) else {
            return Err(DecodeError::Short);
        };
        let filled = size as usize;
        if filled < STATS_LEN_V1 || filled & 7 != 0 {
            return Err(DecodeError::BadSize(size));
        }
        let body = bytes
            .get(STATS_HEADER_LEN..filled.min(STATS_LEN))
            .ok_or(DecodeError::Short)?;
        let mut v = [0u64; STATS_FIELDS.len()];
        for (dst, src) in v.iter_mut().zip(body.chunks_exact(8)) {
            if let Ok(b) = src.try_into() {
                *dst = u64::from_le_bytes(b);
            }
        }
        Ok((version, size, DeviceStats::from_values(v)))
    }
}

/// Decides whether `cmd` is `XMC_GET_STATS` of some version: `None` when it
/// is not (`'x'` 2 read with any size); else the bytes to copy to the
/// caller, `min(_IOC_SIZE, STATS_LEN)`, or `EINVAL` for a size smaller
/// than version 1 or not a multiple of 8.
pub fn stats_request(cmd: u32) -> Option<Result<usize, Errno>> {
    let dir = cmd >> IOC_DIRSHIFT;
    let ty = (cmd >> IOC_TYPESHIFT) & 0xff;
    let nr = cmd & 0xff;
    if dir != IOC_READ || ty != u32::from(XMC_IOC_MAGIC) || nr != u32::from(XMC_GET_STATS_NR) {
        return None;
    }
    let size = ((cmd >> IOC_SIZESHIFT) & IOC_SIZEMASK) as usize;
    if size < STATS_LEN_V1 || size & 7 != 0 {
        return Some(Err(Errno::Einval));
    }
    Some(Ok(size.min(STATS_LEN)))
}
