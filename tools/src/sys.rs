// SPDX-License-Identifier: GPL-2.0-only

//! Thin wrappers over the libc calls std does not offer: the int-returning
//! mcelog ioctls, poll(2), and the privcmd hypercall ioctl (the `mca` and
//! `xen_version` hypercalls).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::xenmc::HYPERVISOR_MCA;
use xmc_core::mcinfo::XEN_MC_LEN;

/// xen_mcelog's `XMC_GET_STATS` = `_IOR('x', 2, struct xmc_stats)` and its
/// layout, as the module defines them (chardev/stats.rs).
pub use xmc_chardev::decisions::stats::{DeviceStats, STATS_LEN, XMC_GET_STATS};

/// The mcelog ioctls (`MCE_GET_RECORD_LEN`, `MCE_GET_LOG_LEN`,
/// `MCE_GETCLEAR_FLAGS`: `_IOR('M', 1..=3, int)`), the bit number of
/// `MCE_OVERFLOW` in the flags (Linux arch/x86/include/uapi/asm/mce.h:
/// records were lost), and xen_mcelog's `XMC_XEN_RECORDS` =
/// `_IOR('x', 1, int)` (this open file reads extended records from now on;
/// replies with their length, 168), as the device defines them
/// (chardev/decisions.rs).
pub use xmc_chardev::decisions::{
    MCE_GETCLEAR_FLAGS, MCE_GET_LOG_LEN, MCE_GET_RECORD_LEN, MCE_OVERFLOW, XMC_XEN_RECORDS,
};
// The device's record lengths are the record layout's (the module asserts
// the same in chardev/device.rs; this checks it in the host build).
const _: () = assert!(xmc_chardev::decisions::MCELOG_RECORD_LEN == xmc_core::record::RECORD_LEN);
const _: () = assert!(xmc_chardev::decisions::XEN_RECORD_LEN == xmc_core::record::XEN_VIEW_LEN);
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

/// xen_mcelog's counters (`XMC_GET_STATS`): the module's layout version,
/// the bytes it filled in and the counters, or the errno (`ENOTTY`: a module older than the
/// ioctl; `EPROTO`: an answer that does not decode).
pub fn get_stats(f: &File) -> Result<(u32, u32, DeviceStats), i32> {
    let mut buf = [0u8; STATS_LEN];
    // SAFETY: `f` is an open descriptor; `buf` is STATS_LEN writable bytes
    // on this stack frame, the size the command encodes (`_IOC_SIZE`),
    // which is all the module writes.
    let ret = unsafe {
        libc::ioctl(
            f.as_raw_fd(),
            XMC_GET_STATS as libc::Ioctl,
            buf.as_mut_ptr(),
        )
    };
    if ret == -1 {
        return Err(errno_of(&io::Error::last_os_error()));
    }
    DeviceStats::decode(&buf).map_err(|_| libc::EPROTO)
}

/// xen_mcelog's `XMC_PAGE_OWNER` = `_IOWR('x', 3, struct xmc_page_owner)`
/// and its layout, as the module defines them (chardev/owner.rs).
pub use xmc_chardev::decisions::owner::{PAGE_OWNER_LEN, XMC_PAGE_OWNER};

/// `XMC_PAGE_OWNER`: does `domid` own `mfn`? Xen's `mmu_update` result
/// (0: owned; chardev/owner.rs `answer`), or the errno (`ENOTTY`: a module
/// older than the ioctl; `EOPNOTSUPP`, `EIO`: its probe is not there or
/// stopped; `EINVAL`: a frame or domain it does not ask about).
pub fn page_owner(f: &File, mfn: u64, domid: u16) -> Result<i32, i32> {
    page_owner_raw(f, xmc_chardev::decisions::owner::request(mfn, domid))
}

/// [`page_owner`] with the caller's struct as given (`xmc-test owner
/// --flags`: a struct the module must refuse).
pub fn page_owner_raw(f: &File, mut buf: [u8; PAGE_OWNER_LEN]) -> Result<i32, i32> {
    // SAFETY: `f` is an open descriptor; `buf` is PAGE_OWNER_LEN readable
    // and writable bytes on this stack frame, the size the command encodes
    // (`_IOC_SIZE`), which is all the module reads and writes.
    let ret = unsafe {
        libc::ioctl(
            f.as_raw_fd(),
            XMC_PAGE_OWNER as libc::Ioctl,
            buf.as_mut_ptr(),
        )
    };
    if ret == -1 {
        return Err(errno_of(&io::Error::last_os_error()));
    }
    Ok(xmc_chardev::decisions::owner::xen_rc(&buf))
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

/// poll(2) for POLLIN | POLLRDNORM on `f`; returns `revents`.
pub fn poll_in(f: &File, timeout_ms: i32) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDNORM,
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

/// A heap buffer locked in RAM: Xen reads and writes hypercall buffers with
/// `copy_{from,to}_guest` and cannot fault a page in. 8-byte aligned, as
/// Xen's structures are.
pub struct Locked {
    words: Vec<u64>,
    len: usize,
}

impl Locked {
    /// A locked copy of `bytes`.
    pub fn new(bytes: &[u8]) -> io::Result<Locked> {
        let mut words = vec![0u64; bytes.len().div_ceil(8).max(1)];
        for (w, c) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            *w = u64::from_le_bytes(b);
        }
        let len = words.len() * 8;
        // SAFETY: the range is the live allocation of `words`, which this
        // struct owns until Drop unlocks it; mlock only pins the pages.
        if unsafe { libc::mlock(words.as_ptr().cast(), len) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Locked {
            words,
            len: bytes.len(),
        })
    }

    /// The buffer's address, as Xen's guest handles take it.
    pub fn addr(&self) -> u64 {
        self.words.as_ptr() as u64
    }

    /// A copy of the current contents (what Xen wrote back, if anything).
    pub fn bytes(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        v.truncate(self.len);
        v
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: the same range that `new` locked, still owned by `words`.
        unsafe { libc::munlock(self.words.as_ptr().cast(), self.words.len() * 8) };
    }
}

/// Makes the `mca` hypercall on the `xen_mc` image in `op` (at least
/// XEN_MC_LEN bytes) through the open privcmd device. Returns the
/// hypercall's result: 0, or a negative errno such as -EINVAL. Xen may write
/// results back into `op` (fetch, physcpuinfo).
pub fn mca_hypercall(privcmd: &File, op: &Locked) -> i64 {
    assert!(op.len >= XEN_MC_LEN, "xen_mc buffer too short");
    // Xen accesses at most XEN_MC_LEN bytes there (the locked, live buffer
    // of `op`) plus any buffers the struct itself points to, which the
    // caller also keeps locked and alive.
    privcmd_hypercall(privcmd, HYPERVISOR_MCA, op)
}

/// Makes hypercall `nr` with one argument, the address of `op` (a locked
/// buffer holding the hypercall's whole argument struct, e.g. a `struct
/// xen_sysctl`), through the open privcmd device. Returns the hypercall's
/// result: 0 (or a positive value), or a negative errno. The caller keeps
/// every buffer the struct points to locked and alive across the call.
pub fn privcmd_hypercall(privcmd: &File, nr: u64, op: &Locked) -> i64 {
    let mut call = PrivcmdHypercall {
        op: nr,
        arg: [op.addr(), 0, 0, 0, 0],
    };
    // SAFETY: `call` is a valid privcmd_hypercall; the kernel passes arg[0]
    // to Xen, which accesses the struct there (the locked, live buffer of
    // `op`) and the buffers it points to, which the caller keeps locked
    // and alive.
    let ret = unsafe {
        libc::ioctl(
            privcmd.as_raw_fd(),
            IOCTL_PRIVCMD_HYPERCALL as libc::Ioctl,
            &mut call,
        )
    };
    if ret == -1 {
        -i64::from(errno_of(&io::Error::last_os_error()))
    } else {
        i64::from(ret)
    }
}

/// Xen's `__HYPERVISOR_xen_version` (xen/include/public/xen.h).
pub const HYPERVISOR_XEN_VERSION: u64 = 17;
/// Its `XENVER_commandline` sub-op: Xen's command line into a
/// `xen_commandline_t`, `char[1024]` (xen/include/public/version.h; Xen
/// copies its `saved_cmdline`, truncated to 1023 characters, in
/// xen/common/kernel.c). A privileged domain's call (XSM dummy policy).
pub const XENVER_COMMANDLINE: u64 = 9;

/// Xen's command line, as `xl info` shows it (`xen_commandline`), through
/// the open privcmd device.
pub fn xen_commandline(privcmd: &File) -> io::Result<String> {
    let buf = Locked::new(&[0u8; 1024])?;
    let mut call = PrivcmdHypercall {
        op: HYPERVISOR_XEN_VERSION,
        arg: [XENVER_COMMANDLINE, buf.addr(), 0, 0, 0],
    };
    // SAFETY: `call` is a valid privcmd_hypercall; Xen writes at most
    // sizeof(xen_commandline_t) = 1024 bytes at arg[1], the locked, live
    // buffer of `buf`.
    let ret = unsafe {
        libc::ioctl(
            privcmd.as_raw_fd(),
            IOCTL_PRIVCMD_HYPERCALL as libc::Ioctl,
            &mut call,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    let b = buf.bytes();
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Ok(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// `finit_module(fd, "", 0)`: loads the module in `ko` (the file is read from
/// its start each time, so one open file serves many loads).
pub fn finit_module(ko: &File) -> io::Result<()> {
    // SAFETY: the fd is open for reading; the parameter string is a valid,
    // NUL-terminated empty C string; flags 0.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, ko.as_raw_fd(), c"".as_ptr(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `delete_module(name, O_NONBLOCK)`, as rmmod does.
pub fn delete_module(name: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: `name` is a valid NUL-terminated C string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An inotify instance watching one directory for created entries.
pub struct CreateWatch(File);

impl CreateWatch {
    /// Watches `dir` for `IN_CREATE` (non-blocking reads).
    pub fn new(dir: &std::ffi::CStr) -> io::Result<CreateWatch> {
        // SAFETY: plain syscall with flags.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by inotify_init1 and is owned by nobody else.
        let f = CreateWatch(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        // SAFETY: `fd` is an inotify instance; `dir` is a valid C string.
        if unsafe { libc::inotify_add_watch(fd, dir.as_ptr(), libc::IN_CREATE) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(f)
    }

    /// The names created since the last call (the events already queued:
    /// inotify queues them synchronously with the creation).
    pub fn created(&mut self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match io::Read::read(&mut self.0, &mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(names),
                Err(e) => return Err(e),
            };
            // struct inotify_event { int wd; u32 mask, cookie, len; char name[len]; }
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes([
                    buf[off + 12],
                    buf[off + 13],
                    buf[off + 14],
                    buf[off + 15],
                ]) as usize;
                let name = buf.get(off + 16..(off + 16 + len).min(n)).unwrap_or(&[]);
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                names.push(String::from_utf8_lossy(&name[..end]).into_owned());
                off += 16 + len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmc_chardev::decisions;

    /// The numbers this file exports are the device's own.
    #[test]
    fn ioctl_numbers_are_the_devices() {
        assert_eq!(MCE_GET_RECORD_LEN, decisions::MCE_GET_RECORD_LEN);
        assert_eq!(MCE_GET_LOG_LEN, decisions::MCE_GET_LOG_LEN);
        assert_eq!(MCE_GETCLEAR_FLAGS, decisions::MCE_GETCLEAR_FLAGS);
        assert_eq!(MCE_OVERFLOW, decisions::MCE_OVERFLOW);
        assert_eq!(XMC_XEN_RECORDS, decisions::XMC_XEN_RECORDS);
        assert_eq!(XMC_GET_STATS, 0x80D0_7802);
        assert_eq!(XMC_PAGE_OWNER, 0xC010_7803);
        assert_eq!(PAGE_OWNER_LEN, 16);
    }

    /// A file that is not xen_mcelog's device refuses the ioctl; nothing
    /// is made up.
    #[test]
    fn get_stats_of_a_regular_file_is_enotty() {
        let f = File::open("/proc/self/stat").unwrap();
        assert_eq!(get_stats(&f), Err(libc::ENOTTY));
        assert_eq!(page_owner(&f, 0x3A5B1, 1), Err(libc::ENOTTY));
        let flagged = xmc_chardev::decisions::owner::request_flags(0x3A5B1, 1, 1);
        assert_eq!(page_owner_raw(&f, flagged), Err(libc::ENOTTY));
    }
}
