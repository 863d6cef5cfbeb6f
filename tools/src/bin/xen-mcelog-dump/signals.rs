// SPDX-License-Identifier: GPL-2.0-only

//! The signals (`--follow` with `--retire` or `--prometheus`): SIGHUP
//! reloads, SIGTERM and SIGINT stop the reader cleanly; the handler only
//! writes to a self-pipe the reader polls.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals' self-pipe: read end, write end (-1: none). SIGHUP writes
/// `h`, SIGTERM and SIGINT `t`.
pub(crate) static SIG_PIPE: [AtomicI32; 2] = [AtomicI32::new(-1), AtomicI32::new(-1)];

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIG_PIPE[1].load(Ordering::Relaxed);
    let b: &[u8; 1] = if sig == libc::SIGHUP { b"h" } else { b"t" };
    // SAFETY: errno is thread-local and restored; write(2) is
    // async-signal-safe; `fd` is the pipe's non-blocking write end (a full
    // pipe already holds a wake-up).
    unsafe {
        let e = *libc::__errno_location();
        libc::write(fd, b.as_ptr().cast(), 1);
        *libc::__errno_location() = e;
    }
}

/// With `--follow --retire`, SIGHUP (systemctl reload) reads `--retire`'s
/// configuration again instead of ending the process, as mcelog's and
/// most daemons' SIGHUP does (`hup`). With `--follow --prometheus`,
/// SIGTERM and SIGINT end the reader cleanly, so that the textfile says
/// it is down (`term`).
pub(crate) fn catch_signals(hup: bool, term: bool) -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    SIG_PIPE[0].store(fds[0], Ordering::Relaxed);
    SIG_PIPE[1].store(fds[1], Ordering::Relaxed);
    let mut sigs = Vec::new();
    if hup {
        sigs.push(libc::SIGHUP);
    }
    if term {
        sigs.extend([libc::SIGTERM, libc::SIGINT]);
    }
    for sig in sigs {
        // SAFETY: a zeroed sigaction is valid; the handler only does
        // async-signal-safe work; SA_RESTART keeps reads and writes going.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
