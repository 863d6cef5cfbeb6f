// SPDX-License-Identifier: GPL-2.0-only

//! xmc-test: the probes the sandbox cases run against /dev/xen_mcelog. Each
//! subcommand performs one operation and prints `key=value` lines for the
//! shell case to assert; errno values are numbers.
//!
//! Exit codes: 0 the operation ran (whatever it returned: that is in the
//! output); 1 its set-up failed (e.g. the device could not be opened, shown
//! as `open=err:ERRNO`); 2 usage error.
//!
//! The subcommands are grouped by what they exercise: one operation each
//! on the device (`probes`), readers (`readers`), `write` (`write`), the
//! fuzzer (`fuzz`), the injection-to-wake-up latency (`wakeup`), a reader
//! killed inside its read (`killed`) and the load-failure sweep
//! (`load_sweep`). Here: the command line and the helpers they share.

mod fuzz;
mod killed;
mod load_sweep;
mod probes;
mod readers;
mod wakeup;
mod write;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};
use std::time::Instant;

use xmc_tools::args::{parse_hex, parse_num, to_u32, Args};
use xmc_tools::format::split_records;
use xmc_tools::sys::{self, Mode};
use xmc_tools::xenmc::STATUS_CORRECTED;
use xmc_tools::{Mce, RECORD_LEN};

use fuzz::fuzz;
use killed::killed_read;
use load_sweep::load_sweep;
use probes::{excl, hold, ioctl, ioctls, open_cmd, owner, poll, read, stats};
use readers::{collect, open_loop, readers};
use wakeup::latency;
use write::write;

const USAGE: &str = "\
usage: xmc-test ioctls DEV                  record_len=N log_len=N flags=N (or NAME=err:ERRNO)
       xmc-test ioctl DEV CMD_HEX [--null]  ret=R errno=E value=V (--null: NULL argument)
       xmc-test stats DEV                   XMC_GET_STATS: version=N size=N, then NAME=N for
                                            each counter (chardev/stats.rs order), or
                                            stats=err:ERRNO
       xmc-test owner DEV MFN_HEX DOMID [--flags F] [--count N]
                                            XMC_PAGE_OWNER: xen_rc=N (Xen's mmu_update result, 0 =
                                            DOMID owns MFN) or owner=err:ERRNO; --flags: the
                                            struct's flags field (0; others must be refused);
                                            --count: N probes on one open, then probes=N
                                            answers=ANSWER:COUNT,.. (first seen first) elapsed_ms=T
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
       xmc-test without-cap CAP -- CMD ARGS...   exec CMD still as root, capability number CAP
                                            (21: CAP_SYS_ADMIN) dropped from the bounding set,
                                            so CMD has it in neither its permitted nor its
                                            effective set
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
    if cmd == "without-cap" {
        return without_cap(rest);
    }
    let a = Args::parse(
        rest,
        &[
            "--addr-base",
            "--bank",
            "--status",
            "--bufrecs",
            "--gap-ms",
            "--flags",
            "--count",
        ],
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
        "owner" => owner(
            dev()?,
            parse_hex(a.pos_str(1, "MFN_HEX")?)?,
            a.pos_num(2, "DOMID")?,
            a.num("--flags")?.unwrap_or(0),
            a.num("--count")?,
        ),
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

/// `without-cap CAP -- CMD ARGS...`: drops capability CAP from the
/// bounding set (prctl PR_CAPBSET_DROP, which needs CAP_SETPCAP: root has
/// it), then exec. Still uid 0: at exec a root process gets the bounding
/// set as its permitted and effective sets (capabilities(7), "Capabilities
/// and execution of programs by root"), so CMD runs without CAP, as long
/// as the inheritable and ambient sets do not hold it either (they are
/// empty in the sandbox's dom0; the case reads CMD's CapEff to be sure).
fn without_cap(rest: &[String]) -> Res {
    let [cap, tail @ ..] = rest else {
        return Err(Fail::Usage("without-cap needs CAP -- CMD".into()));
    };
    let cap = to_u32(parse_num(cap)?, "capability")?;
    let tail = match tail.split_first() {
        Some((dd, t)) if dd == "--" => t,
        _ => tail,
    };
    let Some((cmd, args)) = tail.split_first() else {
        return Err(Fail::Usage("without-cap: missing CMD".into()));
    };
    // SAFETY: prctl with integer arguments only; no memory is passed.
    if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) } != 0 {
        let e = io::Error::last_os_error();
        eprintln!("xmc-test: without-cap: cannot drop capability {cap}: {e}");
        return Err(Fail::Setup);
    }
    let e = Command::new(cmd).args(args).exec();
    eprintln!("xmc-test: without-cap: cannot run {cmd}: {e}");
    Err(Fail::Setup)
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
