// SPDX-License-Identifier: GPL-2.0-only

//! Thin wrappers over the libc calls std does not offer: the int-returning
//! mcelog ioctls, poll(2), and the privcmd hypercall ioctl.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::xenmc::{HYPERVISOR_MCA, XEN_MC_LEN};

/// `MCE_GET_RECORD_LEN` = `_IOR('M', 1, int)`.
pub const MCE_GET_RECORD_LEN: u32 = 0x8004_4D01;
/// `MCE_GET_LOG_LEN` = `_IOR('M', 2, int)`.
pub const MCE_GET_LOG_LEN: u32 = 0x8004_4D02;
/// `MCE_GETCLEAR_FLAGS` = `_IOR('M', 3, int)`.
pub const MCE_GETCLEAR_FLAGS: u32 = 0x8004_4D03;
/// The device the tools read by default.
pub const DEFAULT_DEVICE: &str = "/dev/xen_mcelog";
/// Xen's privileged-command device in dom0 (module xen-privcmd).
pub const PRIVCMD_PATH: &str = "/dev/xen/privcmd";
/// `IOCTL_PRIVCMD_HYPERCALL` = `_IOC(_IOC_NONE, 'P', 0, sizeof(privcmd_hypercall))`.
pub const IOCTL_PRIVCMD_HYPERCALL: u32 = 0x0030_5000;

/// Linux `struct privcmd_hypercall`.
#[repr(C)]
struct PrivcmdHypercall {
    op: u64,
    arg: [u64; 5],
}

/// How to open a device node.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    /// `O_RDWR` instead of `O_RDONLY`.
    pub rdwr: bool,
    /// `O_WRONLY` (wins over `rdwr`).
    pub wronly: bool,
    /// Add `O_EXCL`.
    pub excl: bool,
}

/// Opens `path` with `mode`.
pub fn open(path: &str, mode: Mode) -> io::Result<File> {
    OpenOptions::new()
        .read(!mode.wronly)
        .write(mode.rdwr || mode.wronly)
        .custom_flags(if mode.excl { libc::O_EXCL } else { 0 })
        .open(path)
}

/// The errno of an I/O error (0 if it has none).
pub fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Result of an ioctl with an `int` out-parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoctlOut {
    /// Return value of ioctl(2).
    pub ret: i32,
    /// errno if `ret` is -1, else 0.
    pub errno: i32,
    /// The int the kernel wrote (0 if it wrote nothing).
    pub value: i32,
}

/// ioctl(`f`, `cmd`, &int), or with a NULL pointer if `null` (to test EFAULT).
pub fn ioctl_int(f: &File, cmd: u32, null: bool) -> IoctlOut {
    let mut value: libc::c_int = 0;
    let ptr: *mut libc::c_int = if null {
        std::ptr::null_mut()
    } else {
        &mut value
    };
    // SAFETY: `f` is an open descriptor; `ptr` is either NULL (the kernel
    // checks it and fails with EFAULT) or points to a live, writable c_int on
    // this stack frame, which is all an `_IOR(.., int)` command writes.
    let ret = unsafe { libc::ioctl(f.as_raw_fd(), cmd as libc::Ioctl, ptr) };
    let errno = if ret == -1 {
        errno_of(&io::Error::last_os_error())
    } else {
        0
    };
    IoctlOut { ret, errno, value }
}

/// One of the three mcelog ioctls: the value, or the errno.
pub fn mce_ioctl(f: &File, cmd: u32) -> Result<i32, i32> {
    let r = ioctl_int(f, cmd, false);
    if r.ret == -1 {
        Err(r.errno)
    } else {
        Ok(r.value)
    }
}

/// `(RECORD_LEN, LOG_LEN)` of an mcelog-style device, from its ioctls.
pub fn log_geometry(f: &File) -> Result<(usize, usize), String> {
    let get = |cmd, name| match mce_ioctl(f, cmd) {
        Ok(v) if v > 0 => Ok(v as usize),
        Ok(v) => Err(format!("{name} returned {v}")),
        Err(e) => Err(format!("{name}: {}", io::Error::from_raw_os_error(e))),
    };
    Ok((
        get(MCE_GET_RECORD_LEN, "MCE_GET_RECORD_LEN")?,
        get(MCE_GET_LOG_LEN, "MCE_GET_LOG_LEN")?,
    ))
}

/// poll(2) for POLLIN on `f`; returns `revents`.
pub fn poll_in(f: &File, timeout_ms: i32) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid, writable pollfd and nfds is 1.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pfd.revents)
    }
}

/// Makes the `mca` hypercall with the 152-byte `xen_mc` image `op` through
/// the open privcmd device. Returns the hypercall's result (0, or a negative
/// errno such as -EINVAL); `Err` only if the buffer could not be locked.
///
/// Xen reads the buffer with `copy_from_guest` and cannot fault a page in,
/// so the buffer is locked in memory for the call.
pub fn mca_hypercall(privcmd: &File, op: &[u8; XEN_MC_LEN]) -> io::Result<i64> {
    // u64 words keep the struct 8-aligned as Xen's `struct xen_mc` is.
    let mut words = Box::new([0u64; XEN_MC_LEN / 8]);
    for (w, c) in words.iter_mut().zip(op.chunks_exact(8)) {
        *w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
    }
    let ptr = words.as_mut_ptr();
    // SAFETY: `ptr` points to XEN_MC_LEN bytes owned by `words`, alive until
    // the end of this function; mlock only pins the pages.
    if unsafe { libc::mlock(ptr.cast(), XEN_MC_LEN) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut call = PrivcmdHypercall {
        op: HYPERVISOR_MCA,
        arg: [ptr as u64, 0, 0, 0, 0],
    };
    // SAFETY: `call` is a valid privcmd_hypercall; the kernel reads it and
    // passes arg[0] to Xen, which reads (and for these commands never
    // writes past) the XEN_MC_LEN locked bytes behind `ptr`.
    let ret = unsafe {
        libc::ioctl(
            privcmd.as_raw_fd(),
            IOCTL_PRIVCMD_HYPERCALL as libc::Ioctl,
            &mut call,
        )
    };
    let rc = if ret == -1 {
        -i64::from(errno_of(&io::Error::last_os_error()))
    } else {
        i64::from(ret)
    };
    // SAFETY: same range as the mlock above, still owned by `words`.
    unsafe { libc::munlock(ptr.cast(), XEN_MC_LEN) };
    Ok(rc)
}
