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
//! Exit codes: see USAGE (`usage.rs`).
//!
//! The parts: the command line's help and errors (`usage`), reading the
//! records from a file or the device (`read`), printing them and handing
//! them on (`printer`), the node_exporter textfile (`textfile`), page
//! retirement's thread (`worker`), the signals (`signals`) and `--pstore`
//! (`pstore`). Here: the options, the run, the clock and the log lines.

mod notify;
mod printer;
mod pstore;
mod read;
mod signals;
mod textfile;
mod usage;
mod worker;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use xmc_tools::args::Args;
use xmc_tools::history;
use xmc_tools::retire::{self, Level};
use xmc_tools::sys::DEFAULT_DEVICE;

use pstore::pstore;
use read::dump;
use signals::catch_signals;
use textfile::{lock, mark_down, Shared, Textfile};
use usage::{hint, usage, USAGE};
use worker::{load_config, start_retire, RetireThread, Worker};

/// The module's non-destructive binary view of its ring, 128-byte records
/// (modules without the `xen` view).
const DEBUGFS_RAW: &str = "/sys/kernel/debug/xen_mcelog/raw";
/// The same with each record's sequence number and Xen side (168 bytes per
/// record: `xmc_core::record::XEN_VIEW_LEN`).
const DEBUGFS_XEN: &str = "/sys/kernel/debug/xen_mcelog/xen";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Out {
    Line,
    Decode,
    Json,
    Hex,
    Raw,
}

/// How the run ended, when it did not fail.
enum Done {
    /// Trailing bytes that did not make a whole record (0: none).
    Rest(usize),
    /// `--follow --timeout` expired before `--count` records.
    TimedOut,
    /// SIGTERM or SIGINT.
    Stopped,
}

struct Opts {
    out: Out,
    follow: bool,
    count: Option<u64>,
    timeout: Option<Duration>,
    /// The input is a copy of the `xen` view (168-byte entries).
    view: bool,
    /// `--heartbeat`: the textfile is rewritten at least this often.
    heartbeat: Duration,
}

/// `--heartbeat`'s default: well within a minute, so that a reader
/// silent for longer is dead or hung.
const HEARTBEAT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    // Short options are spelled out for the small parser in args.rs.
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| {
            match a.as_str() {
                "-d" => "--decode",
                "-j" => "--json",
                "-x" => "--hex",
                "-f" => "--follow",
                "-h" => "--help",
                other => other,
            }
            .to_string()
        })
        .collect();
    if argv.iter().any(|a| a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let formats = ["--decode", "--json", "--hex", "--raw"];
    let a = match Args::parse(
        &argv,
        &[
            "--count",
            "--timeout",
            "--xen-view",
            "--prometheus",
            "--retire",
            "--hptool-timeout",
            "--heartbeat",
            "--since",
        ],
        &[
            "--summary",
            "--errors",
            "--mark-down",
            "--decode",
            "--json",
            "--hex",
            "--raw",
            "--follow",
            "--debugfs",
            "--pstore",
        ],
    ) {
        Ok(a) => a,
        Err(e) => return usage(&e),
    };
    if a.flag("--summary") || a.flag("--errors") {
        return history(&a, &argv);
    }
    if a.opt("--since").is_some() {
        return usage("--since needs --summary or --errors");
    }
    if formats.iter().filter(|f| a.flag(f)).count() > 1 {
        return usage("give at most one of --decode, --json, --hex, --raw");
    }
    if a.flag("--pstore") {
        if a.flag("--follow")
            || a.flag("--debugfs")
            || a.opt("--xen-view").is_some()
            || a.pos.len() > 1
        {
            return usage("--pstore takes at most one DIR and no other source");
        }
        return pstore(a.pos.first().map(String::as_str), out_format(&a, &formats));
    }
    if a.flag("--mark-down") {
        return match a.opt("--prometheus") {
            Some(f) if argv.len() == 3 => mark_down(Path::new(f)),
            _ => usage("--mark-down takes --prometheus FILE and nothing else"),
        };
    }
    let xen_view = a.opt("--xen-view");
    let sources = usize::from(a.flag("--debugfs")) + usize::from(xen_view.is_some()) + a.pos.len();
    if sources > 1 {
        return usage("give at most one PATH, or --debugfs, or --xen-view FILE");
    }
    let out = out_format(&a, &formats);
    let (count, timeout) = match (a.num("--count"), a.num("--timeout")) {
        (Ok(c), Ok(t)) => (c, t.map(Duration::from_secs)),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
    };
    let follow = a.flag("--follow");
    if timeout.is_some() && !follow {
        return usage("--timeout needs --follow");
    }
    if follow && (a.flag("--debugfs") || xen_view.is_some()) {
        return usage("--follow needs the device: the debugfs view cannot be polled");
    }
    let (path, view) = if a.flag("--debugfs") {
        // Modules before the `xen` view have only `raw`.
        if !Path::new(DEBUGFS_XEN).exists() && Path::new(DEBUGFS_RAW).exists() {
            (DEBUGFS_RAW, false)
        } else {
            (DEBUGFS_XEN, true)
        }
    } else if let Some(v) = xen_view {
        (v, true)
    } else {
        (a.pos.first().map_or(DEFAULT_DEVICE, String::as_str), false)
    };
    if a.opt("--retire").is_some() && (!follow || view) {
        return usage("--retire needs --follow on the device");
    }
    let heartbeat = match a.num("--heartbeat") {
        Ok(None) => HEARTBEAT,
        Ok(Some(s)) if s > 0 && follow && a.opt("--prometheus").is_some() => Duration::from_secs(s),
        Ok(Some(_)) => {
            return usage("--heartbeat takes at least 1 second, with --follow --prometheus")
        }
        Err(e) => return usage(&e),
    };
    let hptool_timeout = match a.num("--hptool-timeout") {
        Ok(None) => retire::HPTOOL_TIMEOUT,
        Ok(Some(s)) if s > 0 => Duration::from_secs(s),
        Ok(Some(_)) => return usage("--hptool-timeout must be at least 1 second"),
        Err(e) => return usage(&e),
    };
    // Only when there is something to reload: a --follow in a terminal
    // still ends when the terminal hangs up.
    // With a textfile, SIGTERM (systemctl stop) and SIGINT end the reader
    // after it marked the textfile down.
    let hup = follow && a.opt("--retire").is_some();
    let term = follow && a.opt("--prometheus").is_some();
    if hup || term {
        if let Err(e) = catch_signals(hup, term) {
            log(
                Level::Err,
                format!("signals (reload, stop) not caught: {e}"),
            );
        }
    }
    let opts = Opts {
        out,
        follow,
        count,
        timeout,
        view,
        heartbeat,
    };
    let prom: Option<Shared> = a
        .opt("--prometheus")
        .map(|f| Arc::new(Mutex::new(Textfile::new(PathBuf::from(f)))));
    // An optional feature never stops the records: a configuration that
    // cannot be loaded leaves retirement off (said at err, and in the
    // textfile) until a reload brings a good one.
    let retire = a.opt("--retire").map(|c| {
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

/// `--summary` or `--errors` [`--since TIME`]: the journal of
/// xen-mcelog-json.service (`xmc_tools::history`), nothing else.
fn history(a: &Args, argv: &[String]) -> ExitCode {
    let mode = match (a.flag("--summary"), a.flag("--errors")) {
        (true, true) => return usage("give one of --summary, --errors"),
        (true, false) => history::Mode::Summary,
        _ => history::Mode::Errors,
    };
    let since = a.opt("--since");
    let since_args = match since {
        None => 0,
        Some(_) if argv.iter().any(|x| x.starts_with("--since=")) => 1,
        Some(_) => 2,
    };
    if argv.len() != 1 + since_args {
        return usage("--summary and --errors take only --since TIME");
    }
    let code = history::run(mode, since, &mut io::stdout().lock(), &mut io::stderr());
    ExitCode::from(code)
}

/// The output form the options ask for (one line per record by default).
fn out_format(a: &Args, formats: &[&str]) -> Out {
    match formats.iter().find(|f| a.flag(f)) {
        Some(&"--decode") => Out::Decode,
        Some(&"--json") => Out::Json,
        Some(&"--hex") => Out::Hex,
        Some(_) => Out::Raw,
        None => Out::Line,
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
