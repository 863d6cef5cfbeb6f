// SPDX-License-Identifier: GPL-2.0-only

//! One operation each on the device, its result printed as it came: the
//! ioctls, `XMC_GET_STATS`, a read, an open (and the O_EXCL matrix), an
//! open held, a poll.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use xmc_chardev::decisions::owner::request_flags;
use xmc_chardev::decisions::stats::STATS_FIELDS;
use xmc_tools::args::to_u32;
use xmc_tools::format::{rec_line, split_records};
use xmc_tools::sys::{self, Mode, MCE_GETCLEAR_FLAGS, MCE_GET_LOG_LEN, MCE_GET_RECORD_LEN};
use xmc_tools::RECORD_LEN;

use crate::{open_or_report, Fail, Res};

pub(crate) fn ioctls(dev: &str) -> Res {
    let f = open_or_report(dev, Mode::default())?;
    let parts: Vec<String> = [
        ("record_len", MCE_GET_RECORD_LEN),
        ("log_len", MCE_GET_LOG_LEN),
        ("flags", MCE_GETCLEAR_FLAGS),
    ]
    .iter()
    .map(|&(name, cmd)| match sys::mce_ioctl(&f, cmd) {
        Ok(v) => format!("{name}={v}"),
        Err(e) => format!("{name}=err:{e}"),
    })
    .collect();
    println!("{}", parts.join(" "));
    Ok(())
}

pub(crate) fn ioctl(dev: &str, cmd: u64, null: bool) -> Res {
    let cmd = to_u32(cmd, "ioctl command")?;
    let f = open_or_report(dev, Mode::default())?;
    let r = sys::ioctl_int(&f, cmd, null);
    println!("ret={} errno={} value={}", r.ret, r.errno, r.value);
    Ok(())
}

/// `XMC_GET_STATS`, every counter by its name in the module's layout.
pub(crate) fn stats(dev: &str) -> Res {
    let f = open_or_report(dev, Mode::default())?;
    match sys::get_stats(&f) {
        Ok((version, size, s)) => {
            let mut line = format!("version={version} size={size}");
            for (name, v) in STATS_FIELDS.iter().zip(s.values()) {
                line.push_str(&format!(" {name}={v}"));
            }
            println!("{line}");
        }
        Err(e) => println!("stats=err:{e}"),
    }
    Ok(())
}

/// `XMC_PAGE_OWNER`: Xen's answer, or the module's errno (any frame,
/// domain id and `flags` is sent: the module's checks are what is tested).
/// Without `count`, one probe and its answer; with it, `count` probes on
/// one descriptor and a tally of the answers, in the order first seen
/// (`probes=N answers=xen_rc=-3:N elapsed_ms=T`).
pub(crate) fn owner(dev: &str, mfn: u64, domid: u64, flags: u64, count: Option<u64>) -> Res {
    let domid = u16::try_from(domid).map_err(|_| format!("DOMID {domid} is beyond 16 bits"))?;
    let flags =
        u16::try_from(flags).map_err(|_| format!("--flags {flags:#x} is beyond 16 bits"))?;
    let f = open_or_report(dev, Mode::default())?;
    let ask = || match sys::page_owner_raw(&f, request_flags(mfn, domid, flags)) {
        Ok(rc) => format!("xen_rc={rc}"),
        Err(e) => format!("owner=err:{e}"),
    };
    let Some(n) = count else {
        println!("{}", ask());
        return Ok(());
    };
    let t0 = Instant::now();
    let mut tally: Vec<(String, u64)> = Vec::new();
    for _ in 0..n {
        let a = ask();
        match tally.iter_mut().find(|(k, _)| *k == a) {
            Some((_, c)) => *c += 1,
            None => tally.push((a, 1)),
        }
    }
    let answers: Vec<String> = tally.iter().map(|(a, c)| format!("{a}:{c}")).collect();
    println!(
        "probes={n} answers={} elapsed_ms={}",
        answers.join(","),
        t0.elapsed().as_millis()
    );
    Ok(())
}

pub(crate) fn read(dev: &str, size: usize) -> Res {
    let mut f = open_or_report(dev, Mode::default())?;
    let mut buf = vec![0u8; size];
    match f.read(&mut buf) {
        Ok(0) => println!("ret=0 errno=0"),
        Ok(n) => {
            println!("ret={n} errno=0 records={}", n / RECORD_LEN);
            for m in split_records(&buf[..n], RECORD_LEN).0 {
                println!("{}", rec_line(&m));
            }
        }
        Err(e) => println!("ret=-1 errno={}", sys::errno_of(&e)),
    }
    Ok(())
}

pub(crate) fn open_cmd(dev: &str, words: &[String]) -> Res {
    let mut mode = Mode::default();
    for w in words {
        match w.as_str() {
            "excl" => mode.excl = true,
            "rdwr" => mode.rdwr = true,
            "wronly" => mode.wronly = true,
            other => return Err(Fail::Usage(format!("unknown open mode {other}"))),
        }
    }
    match sys::open(dev, mode) {
        Ok(_) => println!("open=ok"),
        Err(e) => println!("open=err:{}", sys::errno_of(&e)),
    }
    Ok(())
}

/// The O_EXCL matrix in one process (each value is 0 or the open's errno).
pub(crate) fn excl(dev: &str) -> Res {
    let plain = Mode::default();
    let ex = Mode {
        excl: true,
        ..Mode::default()
    };
    let try_open = |mode| match sys::open(dev, mode) {
        Ok(f) => (0, Some(f)),
        Err(e) => (sys::errno_of(&e), None),
    };
    let a = open_or_report(dev, plain)?;
    let (plain_then_excl, f1) = try_open(ex);
    drop((f1, a));
    let holder = sys::open(dev, ex).map_err(|e| {
        println!(
            "plain_then_excl={plain_then_excl} excl_open=err:{}",
            sys::errno_of(&e)
        );
        Fail::Setup
    })?;
    let (excl_then_plain, f2) = try_open(plain);
    let (excl_then_excl, f3) = try_open(ex);
    drop((f2, f3, holder));
    let (after_close_excl, _f4) = try_open(ex);
    println!(
        "plain_then_excl={plain_then_excl} excl_then_plain={excl_then_plain} \
         excl_then_excl={excl_then_excl} after_close_excl={after_close_excl}"
    );
    Ok(())
}

pub(crate) fn hold(dev: &str, seconds: u64, excl: bool) -> Res {
    let f = open_or_report(
        dev,
        Mode {
            excl,
            ..Mode::default()
        },
    )?;
    println!("held=1");
    let _ = io::stdout().flush();
    std::thread::sleep(Duration::from_secs(seconds));
    drop(f);
    println!("released=1");
    Ok(())
}

pub(crate) fn poll(dev: &str, timeout_ms: u64) -> Res {
    let f = open_or_report(dev, Mode::default())?;
    let t0 = Instant::now();
    let timeout = i32::try_from(timeout_ms).map_err(|_| "TIMEOUT_MS too large".to_string())?;
    match sys::poll_in(&f, timeout) {
        Ok(rev) => {
            println!("revents={rev:#x} elapsed_ms={}", t0.elapsed().as_millis());
            Ok(())
        }
        Err(e) => {
            println!("poll=err:{}", sys::errno_of(&e));
            Err(Fail::Setup)
        }
    }
}
