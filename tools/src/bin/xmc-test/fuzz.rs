// SPDX-License-Identifier: GPL-2.0-only

//! `fuzz`: random file operations on the device with hostile arguments,
//! each result checked against what the device documents.

use std::io;
use std::time::{Duration, Instant};

use xmc_chardev::decisions::owner::{self, PAGE_OWNER_LEN};
use xmc_chardev::decisions::stats::stats_request;
use xmc_tools::sys::{self, MCE_GETCLEAR_FLAGS, MCE_GET_LOG_LEN, MCE_GET_RECORD_LEN};
use xmc_tools::RECORD_LEN;

use crate::Res;

/// `fuzz DEV SECONDS [SEED]`: for a bounded time, random file operations on
/// the device with hostile arguments (NULL, kernel and unmapped pointers,
/// odd sizes, unknown commands, O_EXCL/O_NONBLOCK opens). Every result must
/// be one the device documents; anything else is counted and the first few
/// are printed. The kernel side is judged by the case (no oops, kmemleak,
/// the ring's counters conserved).
pub(crate) fn fuzz(dev: &str, seconds: u64, seed: u64) -> Res {
    const KERNEL_PTR: usize = 0xffff_8880_0000_0000;
    const UNMAPPED_PTR: usize = 0x1000;
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut fds: Vec<i32> = Vec::new();
    let (mut ops, mut unexpected) = (0u64, 0u64);
    let cdev = std::ffi::CString::new(dev).map_err(|_| "bad DEV".to_string())?;
    let end = Instant::now() + Duration::from_secs(seconds);
    let bad = |what: String, unexpected: &mut u64| {
        *unexpected += 1;
        if *unexpected <= 10 {
            println!("unexpected: {what}");
        }
    };
    while Instant::now() < end {
        ops += 1;
        let r = rnd();
        let pick_ptr = |r: u64, buf: &mut Vec<u8>| -> usize {
            match r % 5 {
                0 => 0,
                1 => KERNEL_PTR,
                2 => UNMAPPED_PTR,
                3 => buf.as_mut_ptr() as usize + (r as usize >> 8) % 64,
                _ => buf.as_mut_ptr() as usize,
            }
        };
        if fds.is_empty() || r % 10 == 0 {
            let flags = libc::O_RDWR
                | if r & 0x100 != 0 { libc::O_EXCL } else { 0 }
                | if r & 0x200 != 0 { libc::O_NONBLOCK } else { 0 };
            // SAFETY: a valid NUL-terminated path.
            let fd = unsafe { libc::open(cdev.as_ptr(), flags) };
            if fd >= 0 {
                fds.push(fd);
            } else {
                let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if e != libc::EBUSY {
                    bad(format!("open flags {flags:#x}: errno {e}"), &mut unexpected);
                }
            }
            continue;
        }
        let fd = fds[(r >> 32) as usize % fds.len()];
        match (r >> 4) % 6 {
            0 => {
                let cmds = [
                    MCE_GET_RECORD_LEN,
                    MCE_GET_LOG_LEN,
                    MCE_GETCLEAR_FLAGS,
                    sys::XMC_GET_STATS,
                    sys::XMC_PAGE_OWNER,
                ];
                let cmd = if r & 0x1000 != 0 {
                    (rnd() as u32) & 0xc00f_ffff
                } else {
                    cmds[(r >> 16) as usize % cmds.len()]
                };
                let p = pick_ptr(rnd(), &mut buf);
                if cmd == sys::XMC_PAGE_OWNER {
                    let at = ours(p, &buf);
                    let q = owner_question(rnd());
                    if let Some(a) = at {
                        buf[a..a + PAGE_OWNER_LEN].copy_from_slice(&q);
                    }
                    // SAFETY: as below; an own pointer covers the struct
                    // (`ours`).
                    let ret = unsafe { libc::ioctl(fd, cmd as libc::c_ulong as _, p) };
                    let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
                    let back = at.map(|a| &buf[a..a + PAGE_OWNER_LEN]);
                    if !owner_ok(&q, back, ret, e) {
                        bad(
                            format!(
                                "ioctl XMC_PAGE_OWNER {q:02x?} ptr {p:#x}: ret {ret} errno {e}"
                            ),
                            &mut unexpected,
                        );
                    }
                    continue;
                }
                // SAFETY: the kernel validates the argument; user pointers
                // are either ours or deliberately invalid (never written by us).
                let ret = unsafe { libc::ioctl(fd, cmd as libc::c_ulong as _, p) };
                let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
                // XMC_GET_STATS of any size the device takes (the same
                // pure decision it makes); the sizes it refuses are EINVAL.
                let stats = stats_request(cmd);
                let known = cmds.contains(&cmd) || matches!(stats, Some(Ok(_)));
                let refused = match stats {
                    Some(Err(why)) => -why.as_neg(),
                    _ => libc::ENOTTY,
                };
                let ok = match (ret, known) {
                    (0, true) => p != 0 && p != KERNEL_PTR && p != UNMAPPED_PTR,
                    (-1, true) => {
                        e == libc::EFAULT && (p == 0 || p == KERNEL_PTR || p == UNMAPPED_PTR)
                    }
                    (-1, false) => e == refused,
                    _ => false,
                };
                if !ok {
                    bad(
                        format!("ioctl {cmd:#x} ptr {p:#x}: ret {ret} errno {e}"),
                        &mut unexpected,
                    );
                }
            }
            1 | 2 => {
                let len = match rnd() % 4 {
                    0 => (rnd() % 300) as usize,
                    1 => RECORD_LEN * (1 + (rnd() % 8) as usize),
                    _ => (rnd() % (256 * 1024)) as usize,
                };
                let p = pick_ptr(rnd(), &mut buf);
                let len = if p == buf.as_ptr() as usize {
                    len
                } else {
                    len.min(RECORD_LEN * 4)
                };
                let len = len.min(buf.len() - 64);
                // SAFETY: as above; our own pointers cover `len` bytes.
                let ret = unsafe { libc::read(fd, p as *mut libc::c_void, len) };
                let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
                let ok = if ret >= 0 {
                    ret as usize % RECORD_LEN == 0 && ret as usize <= len
                } else {
                    (e == libc::EINVAL && len < RECORD_LEN) || e == libc::EFAULT
                };
                if !ok {
                    bad(
                        format!("read len {len} ptr {p:#x}: ret {ret} errno {e}"),
                        &mut unexpected,
                    );
                }
            }
            3 => {
                let n = (rnd() % 3) as usize;
                let len = if rnd() % 4 == 0 {
                    (rnd() % 400) as usize
                } else {
                    n * RECORD_LEN
                };
                let p = pick_ptr(rnd(), &mut buf);
                let len = len.min(buf.len() - 64);
                // SAFETY: as above.
                let ret = unsafe { libc::write(fd, p as *const libc::c_void, len) };
                let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
                let ok = if ret >= 0 {
                    ret as usize == len && len % RECORD_LEN == 0 && len > 0
                } else {
                    [libc::EINVAL, libc::EFAULT, libc::ENOSPC].contains(&e)
                };
                if !ok {
                    bad(
                        format!("write len {len} ptr {p:#x}: ret {ret} errno {e}"),
                        &mut unexpected,
                    );
                }
            }
            4 => {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN | libc::POLLRDNORM,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let ret = unsafe { libc::poll(&mut pfd, 1, 0) };
                let okbits = libc::POLLIN | libc::POLLRDNORM;
                if ret < 0 || pfd.revents & !okbits != 0 {
                    bad(
                        format!("poll: ret {ret} revents {:#x}", pfd.revents),
                        &mut unexpected,
                    );
                }
            }
            _ => {
                let i = (r >> 40) as usize % fds.len();
                // SAFETY: closing a descriptor we opened, once (removed below).
                unsafe { libc::close(fds.swap_remove(i)) };
            }
        }
    }
    for fd in fds {
        // SAFETY: descriptors we opened and still own.
        unsafe { libc::close(fd) };
    }
    println!("ops={ops} unexpected={unexpected}");
    Ok(())
}

/// Where `p` points into `buf` with a whole `struct xmc_page_owner` after
/// it, or `None` for the deliberately invalid pointers.
fn ours(p: usize, buf: &[u8]) -> Option<usize> {
    let a = p.checked_sub(buf.as_ptr() as usize)?;
    (a + PAGE_OWNER_LEN <= buf.len()).then_some(a)
}

/// A random `struct xmc_page_owner`, hostile half the time: frames at and
/// past `MAX_MFN`, dom0, the reserved domain ids, flags set, garbage in
/// `xen_rc` (output only).
fn owner_question(r: u64) -> [u8; PAGE_OWNER_LEN] {
    let mfn = match r % 4 {
        0 => r >> 24,
        1 => owner::MAX_MFN + (r >> 8) % 3,
        _ => (r >> 8) % 0x14_0000,
    };
    let domid = match (r >> 2) % 4 {
        0 => (r >> 40) as u16,
        1 => owner::MAX_DOMID + ((r >> 40) % 3) as u16,
        _ => ((r >> 40) % 3) as u16,
    };
    let flags = if (r >> 4) % 8 == 0 {
        (r >> 48) as u16
    } else {
        0
    };
    let mut b = owner::request_flags(mfn, domid, flags);
    b[12..].copy_from_slice(&((r >> 32) as u32).to_le_bytes());
    b
}

/// Whether `XMC_PAGE_OWNER` answered `q` as docs/device.md says, for the
/// superuser the fuzzer runs as: `EFAULT` for the invalid pointers (`back`
/// is `None`); `EINVAL` for what [`owner::decode`] (the module's own
/// check) refuses; otherwise Xen was asked and the struct comes back as
/// the question with Xen's result (0 or a negative Xen errno), or the
/// probe is down (`EOPNOTSUPP`, `EIO`).
fn owner_ok(q: &[u8; PAGE_OWNER_LEN], back: Option<&[u8]>, ret: i32, e: i32) -> bool {
    let Some(back) = back else {
        return ret == -1 && e == libc::EFAULT;
    };
    match owner::decode(q) {
        Err(_) => ret == -1 && e == libc::EINVAL,
        Ok(query) if ret == 0 => {
            let rc = i32::from_le_bytes([back[12], back[13], back[14], back[15]]);
            rc <= 0 && back == owner::encode(query, rc)
        }
        Ok(_) => ret == -1 && [libc::EOPNOTSUPP, libc::EIO].contains(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The questions cover what the module refuses and what it asks Xen,
    /// and only what [`owner::decode`] refuses may be answered `EINVAL`.
    #[test]
    fn owner_questions_and_answers() {
        let (mut refused, mut asked) = (0, 0);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let q = owner_question(x);
            let einval = owner_ok(&q, Some(&q), -1, libc::EINVAL);
            match owner::decode(&q) {
                Err(_) => {
                    refused += 1;
                    assert!(einval);
                    assert!(!owner_ok(&q, Some(&q), 0, 0));
                }
                Ok(query) => {
                    asked += 1;
                    assert!(!einval);
                    let esrch = owner::encode(query, -3);
                    assert!(owner_ok(&q, Some(&esrch), 0, 0));
                    assert!(!owner_ok(&q, Some(&owner::encode(query, 1)), 0, 0));
                    assert!(owner_ok(&q, Some(&q), -1, libc::EOPNOTSUPP));
                }
            }
            assert!(owner_ok(&q, None, -1, libc::EFAULT));
            assert!(!owner_ok(&q, None, 0, 0));
        }
        assert!(
            refused > 2_000 && asked > 2_000,
            "{refused} refused, {asked} asked"
        );
    }
}
