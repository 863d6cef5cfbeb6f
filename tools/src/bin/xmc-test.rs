// SPDX-License-Identifier: GPL-2.0-only

//! xmc-test: the probes the sandbox cases run against /dev/xen_mcelog. Each
//! subcommand performs one operation and prints `key=value` lines for the
//! shell case to assert; errno values are numbers.
//!
//! Exit codes: 0 the operation ran (whatever it returned: that is in the
//! output); 1 its set-up failed (e.g. the device could not be opened, shown
//! as `open=err:ERRNO`); 2 usage error.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use xmc_chardev::decisions::stats::{stats_request, STATS_FIELDS};
use xmc_core::record::{XEN_INFO_URGENT, XEN_VIEW_LEN};
use xmc_tools::args::{parse_hex, parse_num, to_u32, Args};
use xmc_tools::format::{rec_line, split_records};
use xmc_tools::inject::Injector;
use xmc_tools::latency;
use xmc_tools::sys::{self, Mode, MCE_GETCLEAR_FLAGS, MCE_GET_LOG_LEN, MCE_GET_RECORD_LEN};
use xmc_tools::uffd::Trap;
use xmc_tools::xen::split_view;
use xmc_tools::xenmc::{Preset, DEFAULT_MISC, STATUS_CORRECTED};
use xmc_tools::{Mce, RECORD_LEN};

const USAGE: &str = "\
usage: xmc-test ioctls DEV                  record_len=N log_len=N flags=N (or NAME=err:ERRNO)
       xmc-test ioctl DEV CMD_HEX [--null]  ret=R errno=E value=V (--null: NULL argument)
       xmc-test stats DEV                   XMC_GET_STATS: version=N size=N, then NAME=N for
                                            each counter (chardev/stats.rs order), or
                                            stats=err:ERRNO
       xmc-test read DEV SIZE               ret=R errno=E [records=N], then a rec line each
       xmc-test open DEV [excl] [rdwr|wronly]   open=ok | open=err:ERRNO
       xmc-test excl DEV                    plain_then_excl=E excl_then_plain=E
                                            excl_then_excl=E after_close_excl=E (0 = opened)
       xmc-test hold DEV SECONDS [excl]     held=1, sleeps with DEV open, released=1
       xmc-test poll DEV TIMEOUT_MS         revents=0xN elapsed_ms=N
       xmc-test collect DEV N TIMEOUT_S [--xen]
                                            rec lines, then collected=N (N=0: until timeout);
                                            --xen: extended records (XMC_XEN_RECORDS), each rec
                                            line ends with seq=N urgent=0|1 (Xen's queue)
       xmc-test open-loop DEV SECONDS [STOPFILE]
                                            open, read, close DEV in a tight loop until SECONDS
                                            pass or STOPFILE exists (an open finding no device,
                                            ENOENT/ENODEV/ENXIO, while the module is not loaded
                                            is counted as absent): opens=N reads=N absent=N
                                            other=0 | other=ERRNO:count,.. (0: a read of
                                            no whole number of records)
       xmc-test readers DEV K N TIMEOUT_S [--bufrecs M]
                                            total=N unique=N dup=N per_reader=a,b,..
       xmc-test write DEV COUNT [--addr-base A] [--bank B] [--status S] [--partial]
                                            ret=R errno=E (one write of COUNT records)
       xmc-test as-user UID GID -- CMD ARGS...   exec CMD as UID/GID (no groups)
       xmc-test fuzz DEV SECONDS [SEED]     random opens, ioctls, reads, writes and polls
                                            with bad pointers and sizes: ops=N unexpected=M
       xmc-test killed-read DEV K           a reader blocked inside read(2) after copying K
                                            records (its next copy hits a userfaultfd page) is
                                            SIGKILLed: in_read=1 syscall=.. wchan=.. killed=1
                                            copied=K, then a rec line per record it had copied
       xmc-test latency DEV N [--addr-base A] [--gap-ms G]
                                            N corrected #MC injections (in-dom0, alternating
                                            CPUs) with a poll-waiting reader: per event
                                            `lat i= cpu= hypercall_us= before_us= after_us=`
                                            (wake time from before/after the #MC hypercall),
                                            then events= missed= and min/median/p99/max of each

       xmc-test load-sweep KO MAX           for n = 1, 2, ..: fail the n-th allocation of a
                                            finit_module(KO) (/proc/thread-self/fail-nth), rmmod
                                            it when it loaded; until a load injects nothing or n
                                            = MAX: sweep_n= loads_failed= loads_ok= injected_ok=
                                            node_in_failed= (xen_mcelog created in /dev by a load
                                            that failed) errnos=E:count,..

rec line: rec status=0x.. addr=0x.. misc=0x.. bank=N mcgstatus=0x.. cpuvendor=N
  cpuid=0x.. extcpu=N cpu=N apicid=N socketid=N time=N tsc=0x.. mcgcap=0x..
  finished=N inject_flags=N";

/// Failure with its exit code.
enum Fail {
    Usage(String),
    Setup,
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Usage(s)
    }
}

type Res = Result<(), Fail>;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let r = run(&argv);
    let _ = io::stdout().flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Setup) => ExitCode::from(1),
        Err(Fail::Usage(m)) => {
            eprintln!("xmc-test: {m} (see xmc-test --help)");
            ExitCode::from(2)
        }
    }
}

fn run(argv: &[String]) -> Res {
    let Some((cmd, rest)) = argv.split_first() else {
        return Err(Fail::Usage("missing subcommand".into()));
    };
    if cmd == "as-user" {
        return as_user(rest);
    }
    let a = Args::parse(
        rest,
        &["--addr-base", "--bank", "--status", "--bufrecs", "--gap-ms"],
        &["--null", "--partial", "--xen"],
    )?;
    let dev = || a.pos_str(0, "DEV");
    match cmd.as_str() {
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        "ioctls" => ioctls(dev()?),
        "ioctl" => ioctl(
            dev()?,
            parse_hex(a.pos_str(1, "CMD_HEX")?)?,
            a.flag("--null"),
        ),
        "stats" => stats(dev()?),
        "read" => read(dev()?, a.pos_num(1, "SIZE")? as usize),
        "open" => open_cmd(dev()?, &a.pos[1..]),
        "excl" => excl(dev()?),
        "hold" => hold(
            dev()?,
            a.pos_num(1, "SECONDS")?,
            a.pos.get(2).is_some_and(|s| s == "excl"),
        ),
        "poll" => poll(dev()?, a.pos_num(1, "TIMEOUT_MS")?),
        "collect" => collect(
            dev()?,
            a.pos_num(1, "N")? as usize,
            a.pos_num(2, "TIMEOUT_S")?,
            a.flag("--xen"),
        ),
        "open-loop" => open_loop(dev()?, a.pos_num(1, "SECONDS")?, a.pos.get(2)),
        "readers" => readers(
            dev()?,
            a.pos_num(1, "K")? as usize,
            a.pos_num(2, "N")? as usize,
            a.pos_num(3, "TIMEOUT_S")?,
            a.num("--bufrecs")?,
        ),
        "write" => {
            let count = a.pos_num(1, "COUNT")? as usize;
            let base = a.num("--addr-base")?.unwrap_or(0x1000_0000);
            let bank = u8::try_from(a.num("--bank")?.unwrap_or(1))
                .map_err(|_| "bank > 255".to_string())?;
            let status = a.num("--status")?.unwrap_or(STATUS_CORRECTED);
            write(dev()?, count, base, bank, status, a.flag("--partial"))
        }
        "fuzz" => fuzz(
            dev()?,
            a.pos_num(1, "SECONDS")?,
            a.pos
                .get(2)
                .map_or(Ok(0x2545_f491_4f6c_dd1d), |s| parse_num(s))?,
        ),
        "killed-read" => killed_read(dev()?, a.pos_num(1, "K")? as usize),
        "load-sweep" => load_sweep(a.pos_str(0, "KO")?, a.pos_num(1, "MAX")?),
        "latency" => latency(
            dev()?,
            a.pos_num(1, "N")? as usize,
            a.num("--addr-base")?.unwrap_or(0x5000_0000),
            a.num("--gap-ms")?.unwrap_or(200),
        ),
        other => Err(Fail::Usage(format!("unknown subcommand {other}"))),
    }
}

/// Opens `dev` for the subcommand, printing `open=err:ERRNO` on failure.
fn open_or_report(dev: &str, mode: Mode) -> Result<File, Fail> {
    sys::open(dev, mode).map_err(|e| {
        println!("open=err:{}", sys::errno_of(&e));
        Fail::Setup
    })
}

/// RECORD_LEN and LOG_LEN of the device; falls back to 128 x 1024 (with a
/// note on stderr) when the ioctls are refused.
fn geometry(f: &File) -> (usize, usize) {
    sys::log_geometry(f).unwrap_or_else(|e| {
        eprintln!("xmc-test: {e}; using {RECORD_LEN} x 1024");
        (RECORD_LEN, 1024)
    })
}

fn ioctls(dev: &str) -> Res {
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

fn ioctl(dev: &str, cmd: u64, null: bool) -> Res {
    let cmd = to_u32(cmd, "ioctl command")?;
    let f = open_or_report(dev, Mode::default())?;
    let r = sys::ioctl_int(&f, cmd, null);
    println!("ret={} errno={} value={}", r.ret, r.errno, r.value);
    Ok(())
}

/// `XMC_GET_STATS`, every counter by its name in the module's layout.
fn stats(dev: &str) -> Res {
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

fn read(dev: &str, size: usize) -> Res {
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

fn open_cmd(dev: &str, words: &[String]) -> Res {
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
fn excl(dev: &str) -> Res {
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

fn hold(dev: &str, seconds: u64, excl: bool) -> Res {
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

fn poll(dev: &str, timeout_ms: u64) -> Res {
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

/// Milliseconds left until `deadline`, capped at `cap`.
fn ms_left(deadline: Instant, cap: u64) -> i32 {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_millis();
    left.min(u128::from(cap)) as i32
}

/// Polls `f` once (up to `wait_ms`) and, if readable, reads once into `buf`.
/// Returns the bytes read (0 when not readable), or the bad `revents`
/// (error bits without POLLIN, which mcelog would abort on).
fn poll_read_raw(f: &mut File, buf: &mut [u8], wait_ms: i32) -> Result<usize, String> {
    let rev = sys::poll_in(f, wait_ms).map_err(|e| format!("poll=err:{}", sys::errno_of(&e)))?;
    if rev & libc::POLLIN == 0 {
        return if rev == 0 {
            Ok(0)
        } else {
            Err(format!("bad_revents={rev:#x}"))
        };
    }
    f.read(buf)
        .map_err(|e| format!("read=err:{}", sys::errno_of(&e)))
}

/// [`poll_read_raw`], split into `rec_len`-byte records.
fn poll_read(
    f: &mut File,
    buf: &mut [u8],
    rec_len: usize,
    wait_ms: i32,
) -> Result<Vec<Mce>, String> {
    let n = poll_read_raw(f, buf, wait_ms)?;
    Ok(split_records(&buf[..n], rec_len).0)
}

fn collect(dev: &str, n: usize, timeout_s: u64, xen: bool) -> Res {
    let mut f = open_or_report(dev, Mode::default())?;
    let (rec_len, log_len) = geometry(&f);
    // Extended records carry which of Xen's queues the record came from.
    let rec_len = if xen {
        match sys::mce_ioctl(&f, sys::XMC_XEN_RECORDS) {
            Ok(len) if len as usize == XEN_VIEW_LEN => XEN_VIEW_LEN,
            r => {
                println!("xen_records=err:{r:?}");
                return Err(Fail::Setup);
            }
        }
    } else {
        rec_len
    };
    let mut buf = vec![0u8; rec_len * log_len];
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let mut got = 0;
    while (n == 0 || got < n) && Instant::now() < deadline {
        match poll_read_raw(&mut f, &mut buf, ms_left(deadline, 1000)) {
            Ok(len) if xen => {
                let (entries, _) = split_view(&buf[..len]);
                for (seq, r) in &entries {
                    let urgent = u8::from(r.xen.flags & XEN_INFO_URGENT != 0);
                    println!("{} seq={seq} urgent={urgent}", rec_line(&r.mce));
                }
                got += entries.len();
            }
            Ok(len) => {
                let recs = split_records(&buf[..len], rec_len).0;
                for m in &recs {
                    println!("{}", rec_line(m));
                }
                got += recs.len();
            }
            Err(e) => {
                println!("{e}");
                break;
            }
        }
    }
    println!("collected={got}");
    Ok(())
}

/// Opens, reads and closes `dev` as fast as it can for `seconds` (or until
/// `stop` exists), across loads and unloads of the module: whatever the
/// device serves from the instant its node appears must be usable then. An
/// open that finds no device (no node, or the module going or not there) is
/// counted as absent, not as an error.
fn open_loop(dev: &str, seconds: u64, stop: Option<&String>) -> Res {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut opens, mut reads, mut absent) = (0u64, 0u64, 0u64);
    let mut other = std::collections::BTreeMap::<i32, u64>::new();
    let mut buf = vec![0u8; RECORD_LEN * 16];
    let mut i = 0u64;
    while Instant::now() < deadline {
        i += 1;
        if i % 256 == 0 && stop.is_some_and(|p| std::path::Path::new(p).exists()) {
            break;
        }
        match sys::open(dev, Mode::default()) {
            Ok(mut f) => {
                opens += 1;
                match f.read(&mut buf) {
                    Ok(n) if n % RECORD_LEN == 0 => reads += 1,
                    // Not whole records: counted as "error" 0.
                    Ok(_) => *other.entry(0).or_default() += 1,
                    Err(e) => *other.entry(sys::errno_of(&e)).or_default() += 1,
                }
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)
                ) =>
            {
                absent += 1
            }
            Err(e) => *other.entry(sys::errno_of(&e)).or_default() += 1,
        }
    }
    let errs: Vec<String> = other.iter().map(|(e, c)| format!("{e}:{c}")).collect();
    println!(
        "opens={opens} reads={reads} absent={absent} other={}",
        if errs.is_empty() {
            "0".into()
        } else {
            errs.join(",")
        }
    );
    Ok(())
}

fn readers(dev: &str, k: usize, n: usize, timeout_s: u64, bufrecs: Option<u64>) -> Res {
    let probe = open_or_report(dev, Mode::default())?;
    let (rec_len, log_len) = geometry(&probe);
    drop(probe);
    let buf_len = rec_len * bufrecs.map_or(log_len, |b| b as usize);
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let total = AtomicUsize::new(0);
    let addrs = Mutex::new(Vec::new());
    let mut files = Vec::new();
    for _ in 0..k {
        files.push(open_or_report(dev, Mode::default())?);
    }
    let per: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .into_iter()
            .map(|mut f| {
                let (total, addrs) = (&total, &addrs);
                s.spawn(move || {
                    let mut buf = vec![0u8; buf_len];
                    let mut mine = 0;
                    while total.load(Ordering::SeqCst) < n && Instant::now() < deadline {
                        match poll_read(&mut f, &mut buf, rec_len, ms_left(deadline, 100)) {
                            Ok(recs) if !recs.is_empty() => {
                                mine += recs.len();
                                total.fetch_add(recs.len(), Ordering::SeqCst);
                                let mut a = addrs.lock().unwrap_or_else(|p| p.into_inner());
                                a.extend(recs.iter().map(|m| m.addr));
                            }
                            Ok(_) => {}
                            Err(e) => {
                                eprintln!("xmc-test: reader: {e}");
                                break;
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let addrs = addrs.into_inner().unwrap_or_else(|p| p.into_inner());
    let unique = addrs.iter().collect::<BTreeSet<_>>().len();
    let per: Vec<String> = per.iter().map(usize::to_string).collect();
    println!(
        "total={} unique={unique} dup={} per_reader={}",
        addrs.len(),
        addrs.len() - unique,
        per.join(",")
    );
    Ok(())
}

/// The `i`-th record `write` sends.
fn test_record(i: usize, base: u64, bank: u8, status: u64) -> Mce {
    Mce {
        status,
        addr: base.wrapping_add(i as u64),
        misc: DEFAULT_MISC,
        bank,
        finished: 1,
        ..Mce::default()
    }
}

fn write(dev: &str, count: usize, base: u64, bank: u8, status: u64, partial: bool) -> Res {
    let mut f = open_or_report(
        dev,
        Mode {
            wronly: true,
            ..Mode::default()
        },
    )?;
    let mut buf: Vec<u8> = (0..count.max(1))
        .flat_map(|i| test_record(i, base, bank, status).to_bytes())
        .collect();
    buf.truncate(if partial { 100 } else { count * RECORD_LEN });
    match f.write(&buf) {
        Ok(n) => println!("ret={n} errno=0"),
        Err(e) => println!("ret=-1 errno={}", sys::errno_of(&e)),
    }
    Ok(())
}

/// `as-user UID GID -- CMD ARGS...`: drops supplementary groups, then
/// setgid/setuid and exec (std's Command does this in that order).
fn as_user(rest: &[String]) -> Res {
    let [uid, gid, tail @ ..] = rest else {
        return Err(Fail::Usage("as-user needs UID GID -- CMD".into()));
    };
    let uid = to_u32(parse_num(uid)?, "uid")?;
    let gid = to_u32(parse_num(gid)?, "gid")?;
    let tail = match tail.split_first() {
        Some((dd, t)) if dd == "--" => t,
        _ => tail,
    };
    let Some((cmd, args)) = tail.split_first() else {
        return Err(Fail::Usage("as-user: missing CMD".into()));
    };
    let e = Command::new(cmd).args(args).uid(uid).gid(gid).exec();
    eprintln!("xmc-test: as-user: cannot run {cmd} as {uid}:{gid}: {e}");
    Err(Fail::Setup)
}

/// `fuzz DEV SECONDS [SEED]`: for a bounded time, random file operations on
/// the device with hostile arguments (NULL, kernel and unmapped pointers,
/// odd sizes, unknown commands, O_EXCL/O_NONBLOCK opens). Every result must
/// be one the device documents; anything else is counted and the first few
/// are printed. The kernel side is judged by the case (no oops, kmemleak,
/// the ring's counters conserved).
fn fuzz(dev: &str, seconds: u64, seed: u64) -> Res {
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
                ];
                let cmd = if r & 0x1000 != 0 {
                    (rnd() as u32) & 0xc00f_ffff
                } else {
                    cmds[(r >> 16) as usize % cmds.len()]
                };
                let p = pick_ptr(rnd(), &mut buf);
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

/// Reads everything `f` holds now (a read of 0 = empty).
fn read_now(f: &mut File, buf: &mut [u8], rec_len: usize) -> Vec<Mce> {
    let mut out = Vec::new();
    while let Ok(n) = f.read(buf) {
        if n == 0 {
            break;
        }
        out.extend(split_records(&buf[..n], rec_len).0);
    }
    out
}

/// Microseconds from `a` to `b`, negative when `b` is earlier.
fn us_between(a: Instant, b: Instant) -> i64 {
    match b.checked_duration_since(a) {
        Some(d) => d.as_micros() as i64,
        None => -(a.duration_since(b).as_micros() as i64),
    }
}

fn latency(dev: &str, n: usize, base: u64, gap_ms: u64) -> Res {
    let mut f = open_or_report(dev, Mode::default())?;
    let (rec_len, log_len) = geometry(&f);
    let inj = Injector::open(false).map_err(|e| {
        println!("privcmd=err:{e:?}");
        Fail::Setup
    })?;
    let cpus = inj.xen_cpus().map_err(|_| Fail::Setup)?;
    let mut buf = vec![0u8; rec_len * log_len];
    read_now(&mut f, &mut buf, rec_len);
    let (mut hyper, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
    let mut missed = 0;
    for i in 0..n {
        let cpu = cpus.get(i % cpus.len().max(1)).copied().unwrap_or(0);
        let addr = base + (i as u64) * 0x1000;
        let plan = Preset::Corrected.plan(1, addr, None, None, true)?;
        if inj.prepare(cpu, &plan).is_err() {
            println!("prepare=err i={i}");
            return Err(Fail::Setup);
        }
        let t0 = Instant::now();
        let rc = inj.mceinject(cpu);
        let t1 = Instant::now();
        if rc.is_err() {
            println!("mceinject=err i={i}");
            return Err(Fail::Setup);
        }
        // Wait for the wake-up that delivers this event's record (Xen's
        // poller may deliver re-reports of earlier ones in between).
        let deadline = t0 + Duration::from_secs(10);
        let mut woke = None;
        while woke.is_none() && Instant::now() < deadline {
            match sys::poll_in(&f, ms_left(deadline, 10_000)) {
                Ok(rev) if rev & libc::POLLIN != 0 => {
                    let tw = Instant::now();
                    let recs = read_now(&mut f, &mut buf, rec_len);
                    if recs.iter().any(|m| m.addr == addr) {
                        woke = Some(tw);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    println!("poll=err:{}", sys::errno_of(&e));
                    return Err(Fail::Setup);
                }
            }
        }
        let h = us_between(t0, t1);
        hyper.push(h);
        match woke {
            Some(tw) => {
                let (b, a) = (us_between(t0, tw), us_between(t1, tw));
                println!("lat i={i} cpu={cpu} hypercall_us={h} before_us={b} after_us={a}");
                before.push(b);
                after.push(a);
            }
            None => {
                println!("lat i={i} cpu={cpu} hypercall_us={h} missed=1");
                missed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(gap_ms));
    }
    println!(
        "events={n} missed={missed} {} {} {}",
        latency::summary("hypercall", &mut hyper),
        latency::summary("before", &mut before),
        latency::summary("after", &mut after)
    );
    Ok(())
}

fn killed_read(dev: &str, k: usize) -> Res {
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

/// The load-order sweep: every allocation of a module load made to fail in
/// turn; a load that fails must never have created /dev/xen_mcelog (an open
/// in that window would hold a file into a module being freed).
fn load_sweep(ko: &str, max: u64) -> Res {
    let ko = File::open(ko).map_err(|e| {
        println!("open=err:{}", sys::errno_of(&e));
        Fail::Setup
    })?;
    let mut nth = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/thread-self/fail-nth")
        .map_err(|e| {
            println!("fail_nth=err:{}", sys::errno_of(&e));
            Fail::Setup
        })?;
    let mut watch = sys::CreateWatch::new(c"/dev").map_err(|e| {
        println!("inotify=err:{}", sys::errno_of(&e));
        Fail::Setup
    })?;
    // The kernel log, from now on, record by record (the ring buffer would
    // not hold a whole sweep's messages): failed loads say which step failed.
    let mut kmsg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .map_err(|e| {
            println!("kmsg=err:{}", sys::errno_of(&e));
            Fail::Setup
        })?;
    {
        use std::io::Seek;
        kmsg.seek(io::SeekFrom::End(0)).map_err(|_| Fail::Setup)?;
    }
    let mut steps = std::collections::BTreeMap::<String, u64>::new();
    let mut drain_kmsg = |steps: &mut std::collections::BTreeMap<String, u64>| {
        let mut b = [0u8; 8192];
        loop {
            match kmsg.read(&mut b) {
                Ok(0) => break,
                Ok(k) => {
                    let rec = String::from_utf8_lossy(&b[..k]);
                    if let Some(i) = rec.find("xen_mcelog: not loading: ") {
                        let what = rec[i + 25..]
                            .split(" (")
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        *steps.entry(what.replace(' ', "_")).or_default() += 1;
                    }
                }
                // EPIPE: records were overwritten before we read them.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(_) => break,
            }
        }
    };
    let set = |f: &mut File, n: u64| -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        f.write_all_at(n.to_string().as_bytes(), 0)
    };
    let (mut failed, mut loaded, mut injected_ok, mut node_in_failed) = (0u64, 0u64, 0u64, 0u64);
    let mut errnos = std::collections::BTreeMap::<i32, u64>::new();
    let mut n = 0;
    while n < max {
        n += 1;
        watch.created().map_err(|_| Fail::Setup)?;
        set(&mut nth, n).map_err(|_| Fail::Setup)?;
        let r = sys::finit_module(&ko);
        let mut left = String::new();
        {
            use std::os::unix::fs::FileExt;
            let mut b = [0u8; 16];
            let k = nth.read_at(&mut b, 0).map_err(|_| Fail::Setup)?;
            left.push_str(String::from_utf8_lossy(&b[..k]).trim());
        }
        set(&mut nth, 0).map_err(|_| Fail::Setup)?;
        let injected = left == "0";
        drain_kmsg(&mut steps);
        let ours = watch
            .created()
            .map_err(|_| Fail::Setup)?
            .iter()
            .filter(|c| c.as_str() == "xen_mcelog")
            .count();
        match r {
            Ok(()) => {
                loaded += 1;
                if injected {
                    injected_ok += 1;
                }
                let mut tries = 0;
                while let Err(e) = sys::delete_module(c"xen_mcelog") {
                    tries += 1;
                    if tries > 50 {
                        println!("rmmod=err:{} n={n}", sys::errno_of(&e));
                        return Err(Fail::Setup);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                if !injected {
                    break;
                }
            }
            Err(e) => {
                failed += 1;
                *errnos.entry(sys::errno_of(&e)).or_default() += 1;
                if ours != 0 {
                    node_in_failed += 1;
                    println!("node_in_failed_load n={n} errno={}", sys::errno_of(&e));
                }
            }
        }
    }
    let errs: Vec<String> = errnos.iter().map(|(e, c)| format!("{e}:{c}")).collect();
    for (what, c) in &steps {
        println!("failed_step {what}={c}");
    }
    println!(
        "sweep_n={n} loads_failed={failed} loads_ok={loaded} injected_ok={injected_ok} \
         node_in_failed={node_in_failed} errnos={}",
        errs.join(",")
    );
    Ok(())
}
