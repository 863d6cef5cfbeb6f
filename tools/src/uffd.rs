// SPDX-License-Identifier: GPL-2.0-only

//! A page that traps the kernel's copy into it: two anonymous pages, the
//! second registered with userfaultfd (missing mode) and never resolved. A
//! read(2) whose buffer crosses into the second page blocks inside the
//! driver's copy_to_user until the process dies, which lets a test kill a
//! reader provably in the middle of a read.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::FromRawFd;

const PAGE: usize = 4096;
/// `UFFD_API`.
const UFFD_API: u64 = 0xAA;
/// `UFFDIO_API` = `_IOWR(0xAA, 0x3F, struct uffdio_api)` (24 bytes).
const UFFDIO_API: u64 = 0xC018_AA3F;
/// `UFFDIO_REGISTER` = `_IOWR(0xAA, 0x00, struct uffdio_register)` (32 bytes).
const UFFDIO_REGISTER: u64 = 0xC020_AA00;
/// `UFFDIO_REGISTER_MODE_MISSING`.
const MODE_MISSING: u64 = 1;
/// `UFFD_EVENT_PAGEFAULT`.
const EVENT_PAGEFAULT: u8 = 0x12;

/// The two pages and the userfaultfd that traps the second.
pub struct Trap {
    base: *mut u8,
    uffd: File,
}

impl Trap {
    /// Maps the pages, populates the first and registers the second.
    pub fn new() -> io::Result<Trap> {
        // SAFETY: a fresh anonymous private mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = base.cast::<u8>();
        // SAFETY: the first page is mapped read-write by us; touching it
        // populates it so only the second page can fault.
        unsafe { base.write_bytes(0, PAGE) };
        // SAFETY: userfaultfd(2) takes flags only; a negative result is an
        // error. O_NONBLOCK: without it, poll on a userfaultfd is EPOLLERR.
        let fd =
            unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that only this File owns.
        let uffd = unsafe { File::from_raw_fd(fd as i32) };
        let mut api = [UFFD_API, 0, 0];
        ioctl(&uffd, UFFDIO_API, api.as_mut_ptr())?;
        // struct uffdio_register: range.start, range.len, mode, ioctls (out).
        // SAFETY: base + PAGE is the start of the second page of our mapping.
        let second = unsafe { base.add(PAGE) } as u64;
        let mut reg = [second, PAGE as u64, MODE_MISSING, 0];
        ioctl(&uffd, UFFDIO_REGISTER, reg.as_mut_ptr())?;
        Ok(Trap { base, uffd })
    }

    /// A buffer of `len` bytes whose first `before` bytes lie in the first
    /// page and the rest in the trapped one.
    pub fn buffer(&self, before: usize) -> *mut u8 {
        // SAFETY: before <= PAGE, so the result stays inside our mapping.
        unsafe { self.base.add(PAGE - before.min(PAGE)) }
    }

    /// The first `len` bytes before the trapped page (what a read copied
    /// there), copied out.
    pub fn copied(&self, len: usize) -> Vec<u8> {
        let len = len.min(PAGE);
        // SAFETY: the range lies inside the populated first page.
        unsafe { std::slice::from_raw_parts(self.buffer(len), len) }.to_vec()
    }

    /// Waits up to `timeout_ms` for a fault on the trapped page; returns
    /// its address, or `TimedOut`.
    pub fn wait_fault(&self, timeout_ms: i32) -> io::Result<u64> {
        let rev = crate::sys::poll_in(&self.uffd, timeout_ms)?;
        if rev & libc::POLLIN == 0 {
            return Err(io::Error::other(format!("no fault (revents {rev:#x})")));
        }
        let mut msg = [0u8; 32];
        (&self.uffd).read_exact(&mut msg)?;
        if msg[0] != EVENT_PAGEFAULT {
            return Err(io::Error::other(format!(
                "unexpected uffd event {:#x}",
                msg[0]
            )));
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&msg[16..24]);
        Ok(u64::from_le_bytes(a))
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        // SAFETY: the mapping `new` created; nothing uses it after Drop.
        unsafe { libc::munmap(self.base.cast(), 2 * PAGE) };
    }
}

fn ioctl(f: &File, cmd: u64, arg: *mut u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `arg` points to a live array of the size the command encodes.
    if unsafe { libc::ioctl(f.as_raw_fd(), cmd as libc::Ioctl, arg) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
