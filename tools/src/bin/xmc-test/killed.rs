// SPDX-License-Identifier: GPL-2.0-only

//! `killed-read`: a reader killed while its read is stopped inside the
//! copy to userspace (a userfaultfd trap on its buffer's last record):
//! what it had copied, and that the kill ends it.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use xmc_tools::format::{rec_line, split_records};
use xmc_tools::sys::{self, Mode};
use xmc_tools::uffd::Trap;

use crate::{geometry, Fail, Res};

pub(crate) fn killed_read(dev: &str, k: usize) -> Res {
    let (mut ours, theirs) = UnixStream::pair().map_err(|e| {
        println!("socketpair=err:{}", sys::errno_of(&e));
        Fail::Setup
    })?;
    let _ = io::stdout().flush();
    // SAFETY: this process is single-threaded here; the child only runs
    // `trapped_reader` and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        println!("fork=err");
        return Err(Fail::Setup);
    }
    if pid == 0 {
        drop(ours);
        let code = match trapped_reader(dev, k, theirs) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("xmc-test: reader: {e}");
                1
            }
        };
        // SAFETY: ends the child without running the parent's atexit state.
        unsafe { libc::_exit(code) };
    }
    drop(theirs);
    let _ = ours.set_read_timeout(Some(Duration::from_secs(20)));
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while ours.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    let kv = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or("")
            .to_string()
    };
    let (tid, fd, rec_len) = (kv("tid"), kv("fd"), kv("rec_len").parse().unwrap_or(0usize));
    let mut copied = vec![0u8; k * rec_len];
    let got = !tid.is_empty() && ours.read_exact(&mut copied).is_ok();
    // The reader's thread: which syscall it is in, and where it sleeps.
    let task = format!("/proc/{pid}/task/{tid}");
    let sc = std::fs::read_to_string(format!("{task}/syscall")).unwrap_or_default();
    let wchan = std::fs::read_to_string(format!("{task}/wchan")).unwrap_or_default();
    let f: Vec<&str> = sc.split_whitespace().collect();
    let fd_hex = fd
        .parse::<u64>()
        .map(|v| format!("{v:#x}"))
        .unwrap_or_default();
    let in_read = got && f.first() == Some(&"0") && f.get(1) == Some(&fd_hex.as_str());
    println!(
        "in_read={} syscall={} wchan={} {line}",
        u8::from(in_read),
        f.first().unwrap_or(&"?"),
        if wchan.is_empty() { "?" } else { wchan.trim() }
    );
    // SAFETY: `pid` is our child.
    let killed = unsafe { libc::kill(pid, libc::SIGKILL) } == 0;
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let by_kill = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
    println!(
        "killed={} copied={}",
        u8::from(killed && by_kill),
        if got { k } else { 0 }
    );
    if got {
        for m in split_records(&copied, rec_len).0 {
            println!("{}", rec_line(&m));
        }
    }
    Ok(())
}

/// The child of `killed_read`: a thread reads K+1 records into a buffer
/// whose last record lies in the trapped page; once it faults there, the
/// main thread sends the parent its tid, the fd and the K records copied.
fn trapped_reader(dev: &str, k: usize, mut sock: UnixStream) -> Result<(), String> {
    let f = sys::open(dev, Mode::default()).map_err(|e| format!("open {dev}: {e}"))?;
    let (rec_len, _) = geometry(&f);
    let trap = Trap::new().map_err(|e| format!("userfaultfd: {e}"))?;
    let buf = trap.buffer(k * rec_len) as usize;
    let fd = f.as_raw_fd();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: gettid has no arguments.
        let _ = tx.send(unsafe { libc::syscall(libc::SYS_gettid) });
        // SAFETY: `buf` has (k + 1) * rec_len bytes inside the trap's
        // mapping, which lives until the process dies.
        let r = unsafe { libc::read(fd, buf as *mut libc::c_void, (k + 1) * rec_len) };
        eprintln!("xmc-test: the read returned {r} without faulting");
    });
    let tid = rx.recv().map_err(|e| e.to_string())?;
    let at = trap
        .wait_fault(15_000)
        .map_err(|e| format!("no fault: {e}"))?;
    writeln!(sock, "tid={tid} fd={fd} rec_len={rec_len} fault={at:#x}")
        .map_err(|e| e.to_string())?;
    sock.write_all(&trap.copied(k * rec_len))
        .map_err(|e| e.to_string())?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
