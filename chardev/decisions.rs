// SPDX-License-Identifier: GPL-2.0-only

//! Decisions of the `/dev/xen_mcelog` character device, free of any kernel
//! type: the kernel's `file_operations` trampolines gather the facts (the
//! caller's capability, the buffer size, what the ring holds) and ask this
//! module what to do.
//!
//! The behaviour is that of the kernel's legacy `/dev/mcelog`
//! (`arch/x86/kernel/cpu/mce/dev-mcelog.c`), as `mcelog` relies on it, with
//! three deliberate differences:
//!
//! * `read()` returns as many whole records as fit and are available instead
//!   of demanding a buffer for the whole log (mcelog always passes the whole
//!   log, so it sees no difference, and `cat`/`dd` work).
//! * `write()` accepts whole 128-byte records from `CAP_SYS_ADMIN` and stores
//!   them marked as injected, all or nothing.
//! * Closing a non-exclusive descriptor does not end another descriptor's
//!   exclusive open (the native release clears the flag on every close).
//!
//! This file is shared with the kernel module (src/xen_mcelog_main.rs:
//! `#[path = "../chardev/decisions.rs"] mod decisions;`): it uses only
//! `core`, never panics and has no `unsafe`.

#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![forbid(unsafe_code)]

#[path = "word.rs"]
mod word;

#[path = "stats.rs"]
pub mod stats;

#[path = "owner.rs"]
pub mod owner;

use word::Word;

/// `MCE_GET_RECORD_LEN`: `_IOR('M', 1, int)`; the record length in bytes.
pub const MCE_GET_RECORD_LEN: u32 = ior(b'M', 1);
/// `MCE_GET_LOG_LEN`: `_IOR('M', 2, int)`; the log capacity in records.
pub const MCE_GET_LOG_LEN: u32 = ior(b'M', 2);
/// `MCE_GETCLEAR_FLAGS`: `_IOR('M', 3, int)`; read the flags and clear them.
pub const MCE_GETCLEAR_FLAGS: u32 = ior(b'M', 3);
/// `_IOR(XMC_IOC_MAGIC, 1, int)`: switches the calling open file to
/// extended records ([`RecordFormat::Xen`]) and replies with their length,
/// [`XEN_RECORD_LEN`]. The switch is per open file and cannot be undone (open
/// the device again for mcelog records); other open files, mcelog's among
/// them, keep reading the 128-byte mcelog records.
pub const XMC_XEN_RECORDS: u32 = ior(XMC_IOC_MAGIC, 1);
/// The device's own ioctl type (`'x'`), for the ioctls mcelog does not know.
pub const XMC_IOC_MAGIC: u8 = b'x';

/// Bytes of an mcelog record (`struct mce`), what `read()` returns by default.
pub const MCELOG_RECORD_LEN: usize = 128;
/// Bytes of an extended record: `seq` (u64), the 128-byte mcelog record, then
/// Xen's side (32 bytes), little-endian; the layout of
/// `xmc_core::record::XenRecord::view_bytes`.
pub const XEN_RECORD_LEN: usize = 168;

/// Bytes every ioctl writes to the user pointer (an `int`). The numbers
/// encode the same size for 32-bit callers, so `compat_ioctl` can pass
/// commands through unchanged after converting the pointer.
pub const IOCTL_VALUE_LEN: usize = 4;

/// Bit number of `MCE_OVERFLOW` in the flags (the kernel defines the bit
/// number, not the mask).
pub const MCE_OVERFLOW: u32 = 0;
/// Mask of [`MCE_OVERFLOW`] within the flags word.
pub const MCE_OVERFLOW_MASK: u32 = 1 << MCE_OVERFLOW;

/// `EPOLLIN`.
pub const EPOLLIN: u32 = 0x0001;
/// `EPOLLRDNORM`.
pub const EPOLLRDNORM: u32 = 0x0040;

/// `_IOR(ty, nr, int)`: the ioctl numbers are built as the kernel's macro
/// builds them, and checked against the values userspace compiles in.
const fn ior(ty: u8, nr: u32) -> u32 {
    (2 << 30) | ((IOCTL_VALUE_LEN as u32) << 16) | ((ty as u32) << 8) | nr
}
const _: () = assert!(MCE_GET_RECORD_LEN == 0x8004_4D01);
const _: () = assert!(MCE_GET_LOG_LEN == 0x8004_4D02);
const _: () = assert!(MCE_GETCLEAR_FLAGS == 0x8004_4D03);
const _: () = assert!(XMC_XEN_RECORDS == 0x8004_7801);

/// An error number the device returns (positive value; see [`Errno::as_neg`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Errno {
    /// `EPERM` (1): the caller lacks `CAP_SYS_ADMIN`.
    Eperm = 1,
    /// `EIO` (5): the page-owner probe's entry is not empty
    /// ([`owner`]).
    Eio = 5,
    /// `EBUSY` (16): the O_EXCL rules refuse the open.
    Ebusy = 16,
    /// `EINVAL` (22): a buffer that cannot hold whole records.
    Einval = 22,
    /// `ENOTTY` (25): an unknown ioctl command.
    Enotty = 25,
    /// `ENOSPC` (28): a write does not fit into the ring.
    Enospc = 28,
    /// `EOPNOTSUPP` (95): the page-owner probe could not be set up
    /// ([`owner`]).
    Eopnotsupp = 95,
}

impl Errno {
    /// The negative value a `file_operations` callback returns.
    pub const fn as_neg(self) -> i32 {
        match self {
            Errno::Eperm => -1,
            Errno::Eio => -5,
            Errno::Ebusy => -16,
            Errno::Einval => -22,
            Errno::Enotty => -25,
            Errno::Enospc => -28,
            Errno::Eopnotsupp => -95,
        }
    }
}

/// A decoded ioctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoctlOp {
    /// `MCE_GET_RECORD_LEN`: reply with the record length.
    RecordLen,
    /// `MCE_GET_LOG_LEN`: reply with the ring capacity in records.
    LogLen,
    /// `MCE_GETCLEAR_FLAGS`: reply with [`Flags::get_clear`].
    GetClearFlags,
    /// [`XMC_XEN_RECORDS`]: switch this file to extended records.
    XenRecords,
}

/// Decodes an `int` ioctl ([`decode_request`] decodes them all). As in the
/// kernel, the capability is checked
/// first, so an unprivileged caller gets `EPERM` even for unknown commands;
/// an unknown command is `ENOTTY`. The caller then writes the 4-byte value
/// ([`ioctl_value`]) with `put_user` (`EFAULT` if that faults).
pub fn decode_ioctl(cmd: u32, is_admin: bool) -> Result<IoctlOp, Errno> {
    if !is_admin {
        return Err(Errno::Eperm);
    }
    match cmd {
        MCE_GET_RECORD_LEN => Ok(IoctlOp::RecordLen),
        MCE_GET_LOG_LEN => Ok(IoctlOp::LogLen),
        MCE_GETCLEAR_FLAGS => Ok(IoctlOp::GetClearFlags),
        XMC_XEN_RECORDS => Ok(IoctlOp::XenRecords),
        _ => Err(Errno::Enotty),
    }
}

/// The value an ioctl replies with, and its effect on the open file.
///
/// `MCE_GET_RECORD_LEN` is the length of the records this file's `read()`
/// returns ([`FileFormat`]). For [`IoctlOp::GetClearFlags`] this clears the
/// flags before the copy to userspace, as the kernel does: a faulting pointer
/// loses them. [`IoctlOp::XenRecords`] switches the file to extended records
/// (also when the copy of the reply then faults).
pub fn ioctl_value(op: IoctlOp, log_len: u32, flags: &Flags, format: &FileFormat) -> u32 {
    match op {
        IoctlOp::RecordLen => format.get().record_len() as u32,
        IoctlOp::LogLen => log_len,
        IoctlOp::GetClearFlags => flags.get_clear(),
        IoctlOp::XenRecords => {
            format.set(RecordFormat::Xen);
            XEN_RECORD_LEN as u32
        }
    }
}

/// An ioctl the device answers: an `int` ([`IoctlOp`], for
/// `CAP_SYS_ADMIN`), or the module's counters ([`stats::XMC_GET_STATS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Reply with [`ioctl_value`] (4 bytes).
    Value(IoctlOp),
    /// Copy the first `len` bytes of [`stats::DeviceStats::encode`]`(len)`.
    Stats {
        /// Bytes the caller's struct holds, at most [`stats::STATS_LEN`].
        len: usize,
    },
    /// [`owner::XMC_PAGE_OWNER`] (`CAP_SYS_ADMIN`): read the caller's
    /// struct, [`owner::decode`] it, ask Xen, copy back
    /// [`owner::encode`].
    PageOwner,
}

/// Decodes an ioctl command. `XMC_GET_STATS` (any size of it,
/// [`stats::stats_request`]) needs no capability: it reads counters, takes
/// and clears nothing, and the node's mode already decides who opens it (as
/// for `read(2)`). Everything else needs `CAP_SYS_ADMIN` (`EPERM` first):
/// [`owner::XMC_PAGE_OWNER`] (exactly that number), then [`decode_ioctl`],
/// `ENOTTY` for unknown commands. `is_admin` is asked only then:
/// `capable()` marks the task as having used the capability, and audits a
/// refusal.
pub fn decode_request(cmd: u32, is_admin: impl FnOnce() -> bool) -> Result<Request, Errno> {
    match stats::stats_request(cmd) {
        Some(len) => len.map(|len| Request::Stats { len }),
        None => {
            let admin = is_admin();
            if admin && cmd == owner::XMC_PAGE_OWNER {
                return Ok(Request::PageOwner);
            }
            decode_ioctl(cmd, admin).map(Request::Value)
        }
    }
}

/// What one open file's `read()` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// The 128-byte mcelog `struct mce` (the default: mcelog, `cat`).
    Mcelog,
    /// [`XEN_RECORD_LEN`]-byte extended records, after [`XMC_XEN_RECORDS`].
    Xen,
}

impl RecordFormat {
    /// Bytes of one record in this format.
    pub const fn record_len(self) -> usize {
        match self {
            RecordFormat::Mcelog => MCELOG_RECORD_LEN,
            RecordFormat::Xen => XEN_RECORD_LEN,
        }
    }
}

/// The [`RecordFormat`] of one open file (starts as [`RecordFormat::Mcelog`]).
#[derive(Debug, Default)]
pub struct FileFormat(Word);

impl FileFormat {
    /// mcelog records.
    pub const fn new() -> FileFormat {
        FileFormat(Word::new(0))
    }

    /// The current format.
    pub fn get(&self) -> RecordFormat {
        if self.0.load_relaxed() == 0 {
            RecordFormat::Mcelog
        } else {
            RecordFormat::Xen
        }
    }

    /// Switches the format (reads already running finish in the old one).
    pub fn set(&self, f: RecordFormat) {
        self.0.store_relaxed(u32::from(f == RecordFormat::Xen));
    }
}

/// The device's flags word (`MCE_OVERFLOW`), shared by the producers and
/// the ioctl.
#[derive(Debug, Default)]
pub struct Flags(Word);

impl Flags {
    /// No flags set.
    pub const fn new() -> Flags {
        Flags(Word::new(0))
    }

    /// Records that telemetry was lost or may have been lost (see
    /// `drain::Overflow` for when the drain sets it).
    pub fn set_overflow(&self) {
        // The closure never returns None, so the update cannot fail.
        let _ = self.0.update(|f| Some(f | MCE_OVERFLOW_MASK));
    }

    /// Atomically returns the flags and clears them (`MCE_GETCLEAR_FLAGS`).
    pub fn get_clear(&self) -> u32 {
        self.0.xchg(0)
    }

    /// Reads the flags without clearing them (for debug views).
    pub fn peek(&self) -> u32 {
        self.0.load_acquire()
    }
}

/// Decides a `read()`: how many records to pop.
///
/// A buffer smaller than one record is `EINVAL`; otherwise the answer is
/// `min(count / record_len, available)`, which is 0 when the ring is empty:
/// the device never blocks and returns 0 at once (so `cat` and `dd` end). The
/// file offset is ignored (the device is not seekable). A zero `record_len`
/// is `EINVAL` rather than a division by zero.
pub fn read_plan(count: usize, record_len: usize, available: usize) -> Result<usize, Errno> {
    if record_len == 0 || count < record_len {
        return Err(Errno::Einval);
    }
    Ok(count.checked_div(record_len).unwrap_or(0).min(available))
}

/// Decides a `write()`: how many whole records the buffer holds.
///
/// Without `CAP_SYS_ADMIN`: `EPERM`. An empty buffer or one that is not a
/// multiple of `record_len`: `EINVAL` (nothing is stored). The caller then
/// stores all the records or none ([`write_fits`]).
pub fn write_plan(count: usize, record_len: usize, is_admin: bool) -> Result<usize, Errno> {
    if !is_admin {
        return Err(Errno::Eperm);
    }
    if record_len == 0 || count == 0 || count.checked_rem(record_len) != Some(0) {
        return Err(Errno::Einval);
    }
    count.checked_div(record_len).ok_or(Errno::Einval)
}

/// Whether `records` fit into the ring's `free` slots, all or nothing.
///
/// A write that does not fit fails with `ENOSPC`, not `EAGAIN`: the device
/// never blocks a writer and never reports `EPOLLOUT`, so `EAGAIN` ("retry
/// when poll says writable") would invite a wait that never ends; `ENOSPC`
/// says the log has no room for this write now.
pub fn write_fits(records: usize, free: usize) -> Result<(), Errno> {
    if records <= free {
        Ok(())
    } else {
        Err(Errno::Enospc)
    }
}

/// `poll()`'s answer: `EPOLLIN | EPOLLRDNORM` when `read()` can return a
/// record now (`Ring::readable`, see `chardev/device.rs`), else 0. Never an
/// error bit: mcelog asserts that `POLLIN` is set whenever poll returns an
/// event.
pub fn poll_mask(available: bool) -> u32 {
    if available {
        EPOLLIN | EPOLLRDNORM
    } else {
        0
    }
}

/// The `O_EXCL` open rules of `/dev/mcelog`, lock-free.
///
/// An exclusive open fails with `EBUSY` while the device is open at all; any
/// open fails with `EBUSY` while an exclusive open holds it. Unlike the
/// kernel, only the exclusive descriptor's release ends the exclusive hold:
/// each file remembers whether it was the exclusive one and passes that to
/// [`OpenGate::release`].
///
/// State: the low 31 bits count open descriptors, the top bit marks an
/// exclusive holder (who is then the only descriptor).
#[derive(Debug, Default)]
pub struct OpenGate(Word);

/// The exclusive bit of [`OpenGate`]'s state.
const EXCL: u32 = 1 << 31;
/// The open-count bits of [`OpenGate`]'s state.
const COUNT: u32 = EXCL - 1;

impl OpenGate {
    /// A closed device.
    pub const fn new() -> OpenGate {
        OpenGate(Word::new(0))
    }

    /// Admits an open (`exclusive` = the file was opened with `O_EXCL`), or
    /// refuses it with `EBUSY`. On success the caller must call
    /// [`OpenGate::release`] with the same `exclusive` exactly once.
    pub fn try_open(&self, exclusive: bool) -> Result<(), Errno> {
        self.0
            .update(|s| {
                if s & EXCL != 0 {
                    None
                } else if exclusive {
                    if s == 0 {
                        Some(EXCL | 1)
                    } else {
                        None
                    }
                } else if s < COUNT {
                    s.checked_add(1)
                } else {
                    None
                }
            })
            .map(|_| ())
            .map_err(|_| Errno::Ebusy)
    }

    /// Ends an open admitted by [`OpenGate::try_open`]. `exclusive` must be
    /// what that open passed; only the exclusive file's release clears the
    /// exclusive mark. Unbalanced calls saturate at 0 instead of wrapping.
    pub fn release(&self, exclusive: bool) {
        // The closure never returns None, so the update cannot fail.
        let _ = self.0.update(|s| {
            let excl = if exclusive { 0 } else { s & EXCL };
            let count = (s & COUNT).saturating_sub(1);
            Some(excl | count)
        });
    }

    /// Number of open descriptors.
    pub fn open_count(&self) -> u32 {
        self.0.load_acquire() & COUNT
    }

    /// Whether an exclusive open holds the device.
    pub fn is_exclusive(&self) -> bool {
        self.0.load_acquire() & EXCL != 0
    }
}
