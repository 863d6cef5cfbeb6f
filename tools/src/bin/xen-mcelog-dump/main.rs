// SPDX-License-Identifier: GPL-2.0-only

//! xen-mcelog-dump: prints machine-check records from /dev/xen_mcelog
//! (destructive, like mcelog: what is read is gone), from the debugfs `xen`
//! view (non-destructive), or from a saved dump of N x 128-byte records;
//! one line, a decoded block, a hex dump or a JSON object per record, with
//! Xen's side of each record (domain, address space, Xen CPU, recovery);
//! optionally a node_exporter textfile of counters (`--prometheus`).
//!
//! On xen_mcelog's device the tool asks for extended records
//! (`XMC_XEN_RECORDS`, for its own open file only): each read then returns
//! the sequence number, the 128-byte record and Xen's side together, so
//! nothing needs debugfs.
//!
//! Exit codes: see `xmc_tools::cli::dump::SECTIONS` (`--help`).
//!
//! The command line, its checks and its manual are `xmc_tools::cli::dump`
//! (clap): [`Opts::parse`] says which mode runs, and [`main`] dispatches.
//! The parts: what to do about a failure (`hint`), reading the
//! records from a file or the device (`read`), printing them and handing
//! them on (`printer`), the node_exporter textfile (`textfile`), page
//! retirement's thread (`worker`), the signals (`signals`) and `--pstore`
//! (`pstore`). Here: the options, the run, the clock and the log lines.

mod hint;
mod notify;
mod printer;
mod pstore;
mod read;
mod signals;
mod textfile;
mod worker;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) use xmc_tools::cli::dump::Out;
use xmc_tools::cli::dump::{Dump, Mode, Opts, Source};
use xmc_tools::history;
use xmc_tools::retire::Level;

use hint::hint;
use pstore::pstore;
use read::dump;
use signals::catch_signals;
use textfile::{lock, mark_down, Shared, Textfile};
use worker::{load_config, start_retire, RetireThread, Worker};

/// The module's non-destructive binary view of its ring, 128-byte records
/// (modules without the `xen` view).
const DEBUGFS_RAW: &str = "/sys/kernel/debug/xen_mcelog/raw";
/// The same with each record's sequence number and Xen side (168 bytes per
/// record: `xmc_core::record::XEN_VIEW_LEN`).
const DEBUGFS_XEN: &str = "/sys/kernel/debug/xen_mcelog/xen";

/// How the run ended, when it did not fail.
enum Done {
    /// Trailing bytes that did not make a whole record (0: none).
    Rest(usize),
    /// `--follow --timeout` expired before `--count` records.
    TimedOut,
    /// SIGTERM or SIGINT.
    Stopped,
}

/// What the reader needs of the command line.
struct ReadOpts {
    out: Out,
    follow: bool,
    count: Option<u64>,
    timeout: Option<Duration>,
    /// The input is a copy of the `xen` view (168-byte entries).
    view: bool,
    /// `--heartbeat`: the textfile is rewritten at least this often.
    heartbeat: Duration,
}

/// The command line, then the mode it asks for.
fn main() -> ExitCode {
    let opts = match Opts::parse(std::env::args_os()) {
        Ok(o) => o,
        Err(u) => return u.exit("xen-mcelog-dump"),
    };
    match opts.mode {
        Mode::Dump(d) => dump_records(opts.out, d),
        Mode::Pstore { dir } => pstore(dir.as_deref(), opts.out),
        Mode::MarkDown { prometheus } => mark_down(Path::new(&prometheus)),
        Mode::History { which, since } => {
            let code = history::run(
                which,
                since.as_deref(),
                &mut io::stdout().lock(),
                &mut io::stderr(),
            );
            ExitCode::from(code)
        }
    }
}

/// The records of a device, a saved dump or the debugfs view: printed,
/// followed, counted in the textfile, handed to page retirement.
fn dump_records(out: Out, d: Dump) -> ExitCode {
    let (path, view) = match &d.source {
        // Modules before the `xen` view have only `raw`.
        Source::Debugfs if !Path::new(DEBUGFS_XEN).exists() && Path::new(DEBUGFS_RAW).exists() => {
            (DEBUGFS_RAW, false)
        }
        Source::Debugfs => (DEBUGFS_XEN, true),
        Source::XenView(v) => (v.as_str(), true),
        Source::Path(p) => (p.as_str(), false),
    };
    let follow = d.follow;
    // Only when there is something to reload: a --follow in a terminal
    // still ends when the terminal hangs up.
    // With a textfile, SIGTERM (systemctl stop) and SIGINT end the reader
    // after it marked the textfile down.
    let hup = follow && d.retire.is_some();
    let term = follow && d.prometheus.is_some();
    if hup || term {
        if let Err(e) = catch_signals(hup, term) {
            log(
                Level::Err,
                format!("signals (reload, stop) not caught: {e}"),
            );
        }
    }
    let opts = ReadOpts {
        out,
        follow,
        count: d.count,
        timeout: d.timeout,
        view,
        heartbeat: d.heartbeat,
    };
    let hptool_timeout = d.hptool_timeout;
    let prom: Option<Shared> = d
        .prometheus
        .map(|f| Arc::new(Mutex::new(Textfile::new(PathBuf::from(f)))));
    // An optional feature never stops the records: a configuration that
    // cannot be loaded leaves retirement off (said at err, and in the
    // textfile) until a reload brings a good one.
    let retire = d.retire.map(|c| {
        let conf = PathBuf::from(c);
        let cfg = load_config(&conf, "page retirement is off");
        let rt = cfg.map(|cfg| start_retire(cfg, hptool_timeout));
        if let Some(tf) = &prom {
            let mut tf = lock(tf);
            tf.retire = rt.as_ref().map(|rt| rt.r.metrics()).unwrap_or_default();
            tf.retire_config_error = Some(rt.is_none());
            tf.hptool_timeouts = Some(0);
        }
        let w = Worker {
            conf,
            cfg_error: rt.is_none(),
            rt,
            hptool_timeout,
            prom: prom.clone(),
            started: Instant::now(),
        };
        let (tx, rx) = mpsc::channel();
        let join = std::thread::Builder::new()
            .name("retire".into())
            .spawn(move || w.run(rx))
            .expect("a thread for page retirement");
        RetireThread { tx, join }
    });
    let result = dump(path, &opts, prom.clone(), retire);
    // The reader is gone (the retire thread too): the textfile says so.
    if let Some(tf) = &prom {
        let mut tf = lock(tf);
        tf.live.up = false;
        tf.live.probe();
        tf.write();
    }
    match result {
        Ok(Done::Rest(0)) => ExitCode::SUCCESS,
        Ok(Done::Stopped) => {
            log(Level::Notice, "stopped by a signal".into());
            ExitCode::SUCCESS
        }
        Ok(Done::Rest(rest)) => {
            eprintln!("xen-mcelog-dump: {path}: {rest} trailing bytes are not a whole record");
            ExitCode::from(1)
        }
        Ok(Done::TimedOut) => {
            eprintln!("xen-mcelog-dump: {path}: timed out before --count records arrived");
            ExitCode::from(4)
        }
        // Output closed early (`| head`): not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {path}: {e}{}", hint(path, &e));
            ExitCode::from(3)
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A line on stderr; under systemd with the syslog priority prefix the
/// journal understands (`<3>` err...), as [`retire_log`].
fn log(level: Level, msg: String) {
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        eprintln!("<{}>{msg}", level as u8);
    } else {
        eprintln!("xen-mcelog-dump: {msg}");
    }
}

/// A `retire: ` line on stderr; under systemd with the syslog priority
/// prefix the journal understands (`<4>` warning...).
fn retire_log(level: Level, msg: String) {
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        eprintln!("<{}>retire: {msg}", level as u8);
    } else {
        eprintln!("xen-mcelog-dump: retire: {msg}");
    }
}
