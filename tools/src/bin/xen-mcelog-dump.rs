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
//! Exit codes: see USAGE.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use xmc_core::erst::{XenSavedMce, XEN_MCE_LEN};
use xmc_core::record::{XenInfo, XEN_VIEW_LEN};
use xmc_tools::args::Args;
use xmc_tools::decode::{decoded_block_xen, hex_block};
use xmc_tools::format::{dump_line_xen, json_record, split_records};
use xmc_tools::grub;
use xmc_tools::prom::{self, Counters, Liveness};
use xmc_tools::retire::{self, Config, HpTool, Level, Retirer};
use xmc_tools::sys::{self, DeviceStats, Mode, DEFAULT_DEVICE};
use xmc_tools::xen::split_view;
use xmc_tools::xenpage::Sysctl;
use xmc_tools::{Mce, RECORD_LEN};

/// The module's non-destructive binary view of its ring, 128-byte records
/// (modules without the `xen` view).
const DEBUGFS_RAW: &str = "/sys/kernel/debug/xen_mcelog/raw";
/// The same with each record's sequence number and Xen side (168 bytes per
/// record: `xmc_core::record::XEN_VIEW_LEN`).
const DEBUGFS_XEN: &str = "/sys/kernel/debug/xen_mcelog/xen";
/// The misc device's number, to tell /dev/xen_mcelog from other devices.
const MISC_DEV: &str = "/sys/class/misc/xen_mcelog/dev";

const USAGE: &str = "\
NAME
    xen-mcelog-dump - print the machine-check records of xen_mcelog

SYNOPSIS
    xen-mcelog-dump [FORMAT] [--prometheus FILE] [PATH]
    xen-mcelog-dump [FORMAT] [--prometheus FILE] --debugfs
    xen-mcelog-dump [FORMAT] [--prometheus FILE] --xen-view SAVED
    xen-mcelog-dump [FORMAT] [--prometheus FILE [--heartbeat SECONDS]]
                    --follow [--count N] [--timeout SECONDS]
                    [--retire CONFIG] [--hptool-timeout SECONDS] [DEVICE]
    xen-mcelog-dump --prometheus FILE --mark-down
    xen-mcelog-dump [FORMAT] --pstore [DIR]

DESCRIPTION
    Prints the machine-check records that the xen_mcelog module collected
    from Xen (the mcelog `struct mce` layout, 128 bytes each), one per
    record, oldest first.

    PATH defaults to /dev/xen_mcelog. On a character device the records are
    read as mcelog reads them (buffers of RECORD_LEN x LOG_LEN, from the
    device's ioctls) until it is empty: reading CONSUMES them, so a running
    mcelog daemon will not see records read here. The in-tree C driver's
    /dev/mcelog (112-byte records) works too. Any other file (a saved `cat`
    of the device, a copy of the debugfs `raw` view) is read whole.

    The hypervisor reports machine addresses and physical CPU numbers: ADDR
    is not a dom0 address and CPU is not a dom0 vCPU.

    Xen's side of each record (its sequence number in the module's ring,
    Xen's physical CPU, the domain owning the page and the one running,
    whether ADDR is machine- or guest-physical, Xen's recovery action, the
    machine frame and the result) is not in the 128 bytes mcelog reads. On
    /dev/xen_mcelog the tool switches its own open file to extended records
    (the device's XMC_XEN_RECORDS ioctl; mcelog and other readers keep the
    128-byte records), so every record read comes with its Xen side; debugfs
    is not needed. Records without a Xen side (the C driver's /dev/mcelog, a
    module without the ioctl, a saved file of 128-byte records) have the
    JSON fields null; the other forms omit them.

OPTIONS
    --debugfs      read /sys/kernel/debug/xen_mcelog/xen instead: the records
                   still queued in the module with their Xen side, left in
                   place (non-destructive; needs debugfs mounted; falls back
                   to the `raw` view of modules without `xen`).
    --xen-view F   read F, a saved copy of that view
                   (cat /sys/kernel/debug/xen_mcelog/xen > F).
    --pstore       print the fatal machine checks Xen saved in the firmware's
                   ERST before a reset, as pstore shows them: the mce-erst-*
                   files (Xen's 88-byte struct mce) in DIR, or by default in
                   /sys/fs/pstore (mount -t pstore pstore /sys/fs/pstore) and
                   /var/lib/systemd/pstore (where systemd-pstore.service
                   moves them, erasing them from ERST). Use it when pstore or
                   systemd-pstore took a record before xen_mcelog could
                   deliver it. The CPU is known only by its APIC id; the
                   time is when Xen saved the record. Files of another
                   layout (Linux's own MCE records) are named on stderr and
                   skipped.
    --prometheus F keep F as a node_exporter textfile (textfile collector):
                   xen_mcelog_records_total{severity=,boot=} (every
                   severity from the start, at 0),
                   xen_mcelog_bank_records_total{severity=,bank=,socket=},
                   xen_mcelog_page_corrected_errors_total{socket=,page=},
                   xen_mcelog_overflows_total (records lost: the device's
                   MCE_GETCLEAR_FLAGS said MCE_OVERFLOW, also logged at
                   err), the time of the last record, and the reader's
                   liveness: xen_mcelog_reader_up, its start time, its last
                   read (README \"Metrics and alerts\"); from the device,
                   the module's own counters, xen_mcelog_module_* (ring,
                   drain, overflows by reason, previous-boot records:
                   XMC_GET_STATS; left out with a module without it). The
                   tool's counters are carried over from the F a previous
                   run left; the module's count since its load. F is
                   rewritten atomically (F.tmp, then rename) at start,
                   after each batch, at each heartbeat, and with
                   xen_mcelog_reader_up 0 when the reader ends (SIGTERM,
                   SIGINT: exit 0 after that; or an error).
                   Optional: when F cannot be written (node_exporter not
                   installed, its directory missing) the records are
                   printed all the same; the failure is logged once (err)
                   and F is tried again after each batch, with
                   xen_mcelog_textfile_write_failures_total in it.
    -f, --follow   after printing what is queued, keep the device open and
                   wait with poll(2), printing records as they arrive
                   (like tail -f). Device only. Output is flushed per read.
                   With --retire, SIGHUP reloads instead of ending it.
    --retire C     with --follow: page retirement, configured by C
                   (/etc/xen-mcelog/retire.conf): corrected memory errors
                   are counted per machine page (mcelog's
                   memory-ce-threshold); a page past the threshold is
                   offlined by Xen (xen-hptool mem-offline), at most
                   max-offlines per period; action = off (the default),
                   dry-run or offline. State in state-file; what it does on
                   stderr (the journal, `retire: ` lines); page counts by
                   state in the --prometheus textfile. The whole policy:
                   docs/page-retirement.md in the source. A configuration
                   that cannot be loaded (a typo: the line is named) leaves
                   retirement off and the records flowing (xen_mcelog_retire_config_error
                   1 in the textfile). SIGHUP (systemctl reload) reads C
                   again: counts and the reader stay; a bad new C keeps the
                   one in force (a new state-file needs a restart).
                   xen-hptool runs beside the reader, never holding up the
                   records.
    --heartbeat S  with --follow --prometheus: rewrite F at least every S
                   seconds (default 30) while no record arrives, with the
                   time of the last read of the device.
    --mark-down    with --prometheus F only: set xen_mcelog_reader_up 0
                   (and the module's state) in F, keeping the rest; for
                   ExecStopPost=, when the reader could not (SIGKILL).
    --hptool-timeout S
                   with --retire: one xen-hptool run may take S seconds
                   (default 60); then it is killed with its process group
                   and counted as a failed attempt (or a failed query).
    --count N      stop once N records have been printed (with --follow:
                   possibly more, if one read returned several).
    --timeout S    with --follow, give up after S seconds (exit 4 when
                   --count was not reached, else 0).
    -h, --help     this text.

FORMAT (one of)
    (default)      one line per record:
                   cpu=N bank=N status=0x.. addr=0x.. misc=0x.. mcgstatus=0x..
                   time=N tsc=0x.. cpuid=0x.. vendor=N apicid=N socketid=N
                   mcgcap=0x.. ppin=0x.. flags=[injected]
                   and, with the Xen side: seq=N xen_cpu=N domid=N
                   running_domid=N addr_space=machine|guest|none|unknown
                   [maddr=0x..] [recovery=.. result=.. mfn=0x..]
    -d, --decode   a readable block per record: the error class (corrected,
                   UCNA, SRAO, SRAR, fatal), time as a UTC date, CPU, socket,
                   APIC id, bank, MCi_STATUS with its flag bits spelled out
                   (VAL OVER UC EN MISCV ADDRV PCC S AR) and its architectural
                   MCA error code, ADDR, MISC, MCG_STATUS (RIPV EIPV MCIP),
                   MCG_CAP, vendor and CPUID family/model/stepping; with
                   the Xen side: seq, Xen CPU, page owner and running
                   domain, address space (and machine address), Xen's
                   mc_flags, and the recovery action, frame and result.
    -j, --json     one JSON object per line, for log shippers: every field of
                   the record (64-bit registers as \"0x..\" strings), plus
                   \"class\", \"status_bits\", \"time_utc\" (ISO 8601 or null),
                   \"severity\" (corrected, uncorrected-recoverable,
                   action-required, fatal, uncorrected, invalid) and the Xen
                   side: \"seq\", \"xen_cpu\", \"domid\", \"running_domid\",
                   \"addr_space\", \"maddr\", \"mc_flags\", \"xen_flags\",
                   \"recovery\" (null when unknown). Schema: the README's
                   \"JSON schema\".
    -x, --hex      a hex dump of each record's 128 bytes, with offsets.
    --raw          the records' bytes, unchanged (to save a dump:
                   xen-mcelog-dump --raw > saved.bin; read it back with
                   xen-mcelog-dump saved.bin).

EXIT STATUS
    0  success (also when there were no records)
    1  the input ended in a partial record (the whole records were printed)
    2  usage error
    3  the input could not be opened or read (the message says why: module
       not loaded, root needed, debugfs not mounted)
    4  --follow --count N --timeout S: fewer than N records arrived in time

EXAMPLES
    xen-mcelog-dump --decode --debugfs     look without taking anything
    xen-mcelog-dump --json --follow        stream to a log shipper
    xen-mcelog-dump --json --follow --prometheus \\
        /var/lib/prometheus/node-exporter/xen_mcelog.prom
                                           the same, and keep counters
    xen-mcelog-dump --raw > mce.bin        save (consumes) the queued records

SEE ALSO
    mcelog(8), xmc-inject --help, modinfo xen_mcelog";

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

/// `--retire`: the policy and Xen's tool (owned by the retire thread).
struct Retire {
    r: Retirer,
    hv: HpTool,
    /// When the periodic work is due next.
    next_tick: Instant,
    /// `persist = grub`: the GRUB snippet and update-grub.
    persist: Option<grub::Persist>,
}

/// What the reader sends the retire thread.
enum Msg {
    /// Records printed, with their Xen side.
    Records(Vec<(Mce, XenInfo)>),
    /// SIGHUP: read the configuration again.
    Reload,
}

/// The retire thread, seen from the reader.
struct RetireThread {
    tx: mpsc::Sender<Msg>,
    join: std::thread::JoinHandle<()>,
}

/// The node_exporter textfile, shared by the reader (record counters) and
/// the retire thread (page states). An optional output: a failed write is
/// logged once, counted, and tried again at the next change.
struct Textfile {
    path: PathBuf,
    counters: Counters,
    live: Liveness,
    /// The last write (tried).
    written: Instant,
    /// `Retirer::metrics`, while page retirement has a configuration.
    retire: String,
    /// With `--retire`: whether the last load of its configuration failed.
    retire_config_error: Option<bool>,
    /// With `--retire`: xen-hptool runs killed at the timeout.
    hptool_timeouts: Option<u64>,
    /// Writes that failed since the start.
    failures: u64,
    /// The last write failed (and was logged).
    failing: bool,
    /// The module's own counters as last read (`XMC_GET_STATS`); `None`:
    /// not read (a saved file, a module without the ioctl).
    module: Option<DeviceStats>,
}

type Shared = Arc<Mutex<Textfile>>;

/// Prints records and counts them, across reads.
struct Printer<W: Write> {
    out: Out,
    w: W,
    printed: u64,
    prom: Option<Shared>,
    retire: Option<RetireThread>,
}

/// One record to print: as read, and its Xen side if known.
struct Item<'a> {
    mce: Mce,
    raw: &'a [u8],
    xen: Option<(u64, XenInfo)>,
}

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
        ],
        &[
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

/// Where pstore shows ERST records, and where systemd-pstore keeps them.
const PSTORE_DIRS: [&str; 2] = ["/sys/fs/pstore", "/var/lib/systemd/pstore"];

/// `--pstore`: Xen's saved MCE records among pstore's files.
fn pstore(dir: Option<&str>, out: Out) -> ExitCode {
    let dirs: Vec<&str> = dir.map_or(PSTORE_DIRS.to_vec(), |d| vec![d]);
    let mut files = Vec::new();
    for d in &dirs {
        match pstore_files(Path::new(d)) {
            Ok(mut f) => files.append(&mut f),
            Err(e) if dir.is_none() && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("xen-mcelog-dump: {d}: {e}");
                return ExitCode::from(3);
            }
        }
    }
    files.sort();
    let mut recs = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = name
            .rsplit('-')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        match std::fs::read(f) {
            Ok(b) => match XenSavedMce::parse(&b, id) {
                Some(s) => recs.push(s.to_record(&[])),
                None => eprintln!(
                    "xen-mcelog-dump: {}: {} bytes, not Xen's struct mce ({XEN_MCE_LEN} bytes): skipped",
                    f.display(),
                    b.len()
                ),
            },
            Err(e) => eprintln!("xen-mcelog-dump: {}: {e}", f.display()),
        }
    }
    let bytes: Vec<[u8; RECORD_LEN]> = recs.iter().map(|(m, _)| m.to_bytes()).collect();
    let items: Vec<Item> = recs
        .iter()
        .zip(&bytes)
        .map(|((m, x), b)| Item {
            mce: *m,
            raw: b,
            xen: Some((0, *x)),
        })
        .collect();
    let mut p = Printer {
        out,
        w: io::BufWriter::new(io::stdout().lock()),
        printed: 0,
        prom: None,
        retire: None,
    };
    match p.emit(&items, None).and_then(|()| p.w.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {e}");
            ExitCode::from(3)
        }
    }
}

/// The `mce-*` files in `dir` and its direct subdirectories (systemd-pstore
/// may group what it archives in one directory per boot).
fn pstore_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            for e2 in std::fs::read_dir(&p)?.flatten() {
                if e2.file_name().to_string_lossy().starts_with("mce-") {
                    out.push(e2.path());
                }
            }
        } else if e.file_name().to_string_lossy().starts_with("mce-") {
            out.push(p);
        }
    }
    Ok(out)
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

fn usage(msg: &str) -> ExitCode {
    eprintln!("xen-mcelog-dump: {msg} (see xen-mcelog-dump --help)");
    ExitCode::from(2)
}

/// What to do about the common failures.
fn hint(path: &str, e: &io::Error) -> String {
    let errno = sys::errno_of(e);
    if errno == libc::EACCES || errno == libc::EPERM {
        return "\n  reading machine-check records needs root (the device is mode 0600 root, \
                debugfs is root-only): run it as root, e.g. with sudo"
            .into();
    }
    if errno != libc::ENOENT {
        return String::new();
    }
    let module_loaded = Path::new("/sys/module/xen_mcelog").exists();
    if path == DEBUGFS_RAW || path == DEBUGFS_XEN {
        if !Path::new("/sys/kernel/debug/xen_mcelog").exists()
            && std::fs::read_dir("/sys/kernel/debug")
                .map(|mut d| d.next().is_none())
                .unwrap_or(true)
        {
            return "\n  debugfs is not mounted (or not readable): mount -t debugfs debugfs \
                    /sys/kernel/debug"
                .into();
        }
        if !module_loaded {
            return "\n  the xen_mcelog module is not loaded: load it with `modprobe xen_mcelog` \
                    (as root)"
                .into();
        }
        return String::new();
    }
    if !path.starts_with("/dev/") {
        return String::new();
    }
    if module_loaded {
        "\n  the xen_mcelog module is loaded but the node is missing: check udev \
         (or mknod it from /sys/class/misc/xen_mcelog/dev)"
            .into()
    } else {
        "\n  the xen_mcelog module is not loaded: load it with `modprobe xen_mcelog` (as root; \
         Xen PV dom0 only, booted with initcall_blacklist=xen_late_init_mcelog)"
            .into()
    }
}

fn dump(
    path: &str,
    o: &Opts,
    prom: Option<Shared>,
    retire: Option<RetireThread>,
) -> io::Result<Done> {
    let mut f = sys::open(path, Mode::default())?;
    let stdout = io::stdout();
    let mut p = Printer {
        out: o.out,
        w: io::BufWriter::new(stdout.lock()),
        printed: 0,
        prom,
        retire,
    };
    // The textfile exists (with no samples) from the start.
    p.write_prom()?;
    let meta = f.metadata()?;
    let is_dev = meta.file_type().is_char_device();
    if o.follow && !is_dev {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--follow needs a character device (poll)",
        ));
    }
    let done = if is_dev {
        let ours = is_xen_mcelog(meta.rdev());
        dump_device(&mut f, o, ours, &mut p)?
    } else {
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        let rest = if o.view {
            let (entries, rest) = split_view(&buf);
            let bytes: Vec<[u8; RECORD_LEN]> =
                entries.iter().map(|(_, r)| r.mce.to_bytes()).collect();
            let items: Vec<Item> = entries
                .iter()
                .zip(&bytes)
                .map(|((seq, r), b)| Item {
                    mce: r.mce,
                    raw: b,
                    xen: Some((*seq, r.xen)),
                })
                .collect();
            p.emit(&items, o.count)?;
            rest
        } else {
            let (recs, rest) = split_records(&buf, RECORD_LEN);
            let items: Vec<Item> = recs
                .iter()
                .zip(buf.chunks_exact(RECORD_LEN))
                .map(|(m, raw)| Item {
                    mce: *m,
                    raw,
                    xen: None,
                })
                .collect();
            p.emit(&items, o.count)?;
            rest
        };
        Done::Rest(rest)
    };
    p.w.flush()?;
    Ok(done)
}

impl<W: Write> Drop for Printer<W> {
    /// What the retire thread still has to do about the records printed
    /// (each xen-hptool run is bounded), before the process ends, also
    /// when reading failed (a module unloaded under the reader).
    fn drop(&mut self) {
        if let Some(rt) = self.retire.take() {
            drop(rt.tx);
            let _ = rt.join.join();
        }
    }
}

/// Whether device number `rdev` is xen_mcelog's misc device (only that one
/// knows `XMC_XEN_RECORDS`; another device could give the number another meaning).
fn is_xen_mcelog(rdev: u64) -> bool {
    let major = (rdev >> 8 & 0xFFF) | (rdev >> 32 & !0xFFF);
    let minor = (rdev & 0xFF) | (rdev >> 12 & !0xFF);
    std::fs::read_to_string(MISC_DEV).is_ok_and(|s| s.trim() == format!("{major}:{minor}"))
}

/// Reads the device until it returns 0 (empty), one buffer at a time; with
/// `--follow` then waits for more with poll. On xen_mcelog's device the
/// reads return extended records (`XMC_XEN_RECORDS`), each with its Xen side.
fn dump_device(
    f: &mut File,
    o: &Opts,
    ours: bool,
    p: &mut Printer<impl Write>,
) -> io::Result<Done> {
    let (record_len, log_len) = sys::log_geometry(f).unwrap_or_else(|e| {
        eprintln!("xen-mcelog-dump: {e}; assuming {RECORD_LEN}-byte records");
        (RECORD_LEN, 1024)
    });
    // Extended records for this open file only (mcelog's are unchanged);
    // a device without the ioctl (the C driver, an older module) refuses it.
    let extended = ours && sys::mce_ioctl(f, sys::XMC_XEN_RECORDS) == Ok(XEN_VIEW_LEN as i32);
    let record_len = if extended { XEN_VIEW_LEN } else { record_len };
    if p.retire.is_some() && !extended {
        retire_log(
            Level::Err,
            "this device gives no Xen side with its records (not xen_mcelog's \
             /dev/xen_mcelog?): no machine address is known, nothing is counted"
                .into(),
        );
    }
    let mut buf = vec![0u8; record_len * log_len];
    let mut rest = 0;
    let start = Instant::now();
    // The loss flag, after each read: devices without it (a terminal in
    // the tests) refuse the ioctl once and are not asked again.
    let mut flags = true;
    // The module's own counters for the textfile (XMC_GET_STATS), after
    // each read: each batch and each heartbeat writes a fresh snapshot.
    // Only xen_mcelog's device knows the number.
    let mut module_stats = ours && p.prom.is_some();
    let enough = |p: &Printer<_>| o.count.is_some_and(|c| p.printed >= c);
    loop {
        if enough(p) {
            return Ok(Done::Rest(rest));
        }
        let n = f.read(&mut buf)?;
        if flags {
            match sys::mce_ioctl(f, sys::MCE_GETCLEAR_FLAGS) {
                Ok(v) if v & 1 << sys::MCE_OVERFLOW != 0 => p.overflow(),
                Ok(_) => {}
                Err(_) => flags = false,
            }
        }
        if module_stats {
            module_stats = p.module_stats(f);
        }
        p.read_done(n == 0, o.heartbeat);
        if n > 0 {
            let items: Vec<Item> = if extended {
                let (entries, r) = split_view(&buf[..n]);
                rest += r;
                entries
                    .iter()
                    .zip(buf.chunks_exact(record_len))
                    .map(|((seq, x), chunk)| Item {
                        mce: x.mce,
                        raw: &chunk[8..8 + RECORD_LEN],
                        xen: Some((*seq, x.xen)),
                    })
                    .collect()
            } else {
                let (recs, r) = split_records(&buf[..n], record_len);
                rest += r;
                recs.iter()
                    .zip(buf.chunks_exact(record_len))
                    .map(|(m, raw)| Item {
                        mce: *m,
                        raw,
                        xen: None,
                    })
                    .collect()
            };
            p.emit(&items, None)?;
            p.w.flush()?;
            continue;
        }
        if !o.follow {
            return Ok(Done::Rest(rest));
        }
        let beat = p.prom.as_ref().map(|tf| {
            let left = o.heartbeat.saturating_sub(lock(tf).written.elapsed());
            i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX)
        });
        let wait_ms = match o.timeout {
            None => beat.unwrap_or(-1),
            Some(t) => match t.checked_sub(start.elapsed()) {
                None => {
                    return Ok(if o.count.is_some() {
                        Done::TimedOut
                    } else {
                        Done::Rest(rest)
                    })
                }
                Some(left) => {
                    let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
                    beat.map_or(ms, |b| b.min(ms))
                }
            },
        };
        // The device, and the signals' self-pipe (whichever thread took them).
        let hup = SIG_PIPE[0].load(Ordering::Relaxed);
        let mut pfds = [
            libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN | libc::POLLRDNORM,
                revents: 0,
            },
            libc::pollfd {
                fd: hup,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let nfds = if hup >= 0 { 2 } else { 1 };
        // SAFETY: `pfds` holds `nfds` valid, writable pollfds.
        if unsafe { libc::poll(pfds.as_mut_ptr(), nfds, wait_ms) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        if nfds == 2 && pfds[1].revents != 0 {
            let mut b = [0u8; 64];
            let (mut reload, mut stop) = (false, false);
            loop {
                // SAFETY: `b` is a live buffer of its length; `hup` is the
                // self-pipe's non-blocking read end, open for the process's life.
                let n = unsafe { libc::read(hup, b.as_mut_ptr().cast(), b.len()) };
                let Ok(n @ 1..) = usize::try_from(n) else {
                    break;
                };
                reload |= b[..n].contains(&b'h');
                stop |= b[..n].contains(&b't');
            }
            if stop {
                return Ok(Done::Stopped);
            }
            if reload {
                p.reload();
            }
        }
    }
}

impl<W: Write> Printer<W> {
    /// Prints `items` (at most `limit` in total, if given), then rewrites
    /// the Prometheus textfile and hands the records to page retirement.
    fn emit(&mut self, items: &[Item], limit: Option<u64>) -> io::Result<()> {
        let mut shown = 0;
        for it in items {
            if limit.is_some_and(|l| self.printed >= l) {
                break;
            }
            self.printed += 1;
            shown += 1;
            let n = self.printed as usize;
            let (m, x) = (&it.mce, it.xen.as_ref());
            match self.out {
                Out::Raw => self.w.write_all(it.raw)?,
                Out::Line => writeln!(self.w, "{}", dump_line_xen(m, x))?,
                Out::Json => writeln!(self.w, "{}", json_record(m, x))?,
                Out::Decode => writeln!(self.w, "{}", decoded_block_xen(m, x, n))?,
                Out::Hex => writeln!(self.w, "{}", hex_block(it.raw, n))?,
            }
        }
        // After the batch is printed (the journal has the records before
        // what is done about them; a line is never counted before it is
        // printed).
        self.w.flush()?;
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            let now = unix_now();
            for it in &items[..shown] {
                tf.counters
                    .add(&it.mce, it.xen.as_ref().map(|(_, x)| x), now);
            }
            tf.write();
        }
        if let Some(rt) = &self.retire {
            let recs: Vec<(Mce, XenInfo)> = items
                .iter()
                .filter_map(|it| it.xen.map(|(_, x)| (it.mce, x)))
                .collect();
            if !recs.is_empty() {
                // The thread is gone only if it panicked: the records
                // still flow.
                let _ = rt.tx.send(Msg::Records(recs));
            }
        }
        Ok(())
    }

    /// After a read(2) of the device: its time in the textfile, which is
    /// rewritten when the read found nothing and the heartbeat is due (a
    /// batch rewrites it anyway).
    fn read_done(&mut self, empty: bool, heartbeat: Duration) {
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            tf.live.last_read = unix_now();
            if empty && tf.written.elapsed() >= heartbeat {
                tf.live.probe();
                tf.write();
            }
        }
    }

    /// The device said MCE_OVERFLOW: records were lost before this read.
    fn overflow(&mut self) {
        log(
            Level::Err,
            "the device's ring overflowed (MCE_GETCLEAR_FLAGS: MCE_OVERFLOW): machine-check \
             records were lost before they could be read"
                .into(),
        );
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            tf.counters.overflows += 1;
            tf.write();
        }
    }

    /// Reads the module's counters (`XMC_GET_STATS`) for the textfile's
    /// next write; false when the module cannot give them, which is said
    /// once (they are then left out of the textfile, and not asked again:
    /// a module older than the ioctl says ENOTTY). The records keep flowing
    /// either way.
    fn module_stats(&mut self, f: &File) -> bool {
        let Some(tf) = &self.prom else {
            return false;
        };
        let got = sys::get_stats(f);
        let ok = got.is_ok();
        lock(tf).module = got.ok().map(|(_, _, m)| m);
        match got {
            Ok(_) => {}
            Err(e) if e == libc::ENOTTY => log(
                Level::Notice,
                "the xen_mcelog module answers no XMC_GET_STATS (older than this tool): \
                 its own counters (xen_mcelog_module_*) are left out of the textfile"
                    .into(),
            ),
            Err(e) => log(
                Level::Warning,
                format!(
                    "XMC_GET_STATS: {}: the module's own counters (xen_mcelog_module_*) are \
                     left out of the textfile",
                    io::Error::from_raw_os_error(e)
                ),
            ),
        }
        ok
    }

    /// Rewrites the textfile, if there is one (a failure is logged, not
    /// returned: the records keep flowing).
    fn write_prom(&mut self) -> io::Result<()> {
        self.w.flush()?;
        if let Some(tf) = &self.prom {
            lock(tf).write();
        }
        Ok(())
    }

    /// SIGHUP: the retire thread reads its configuration again; the
    /// textfile is tried again.
    fn reload(&mut self) {
        match &self.retire {
            Some(rt) => {
                let _ = rt.tx.send(Msg::Reload);
            }
            None => log(
                Level::Notice,
                "SIGHUP: no --retire configuration to read again".into(),
            ),
        }
        if let Some(tf) = &self.prom {
            lock(tf).write();
        }
    }
}

/// The textfile's lock (a panic elsewhere does not stop the counters).
fn lock(tf: &Shared) -> std::sync::MutexGuard<'_, Textfile> {
    tf.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Textfile {
    /// The counters a previous run left in `path` are carried over.
    fn new(path: PathBuf) -> Textfile {
        let counters = std::fs::read_to_string(&path)
            .map(|t| Counters::restore(&t))
            .unwrap_or_default();
        // Its first read follows at once: until then the start stands for
        // it (a 0 would look like a reader that never read).
        let now = unix_now();
        let mut live = Liveness {
            up: true,
            start: now,
            last_read: now,
            ..Liveness::default()
        };
        live.probe();
        Textfile {
            path,
            counters,
            live,
            written: Instant::now(),
            retire: String::new(),
            retire_config_error: None,
            hptool_timeouts: None,
            failures: 0,
            failing: false,
            module: None,
        }
    }

    /// The samples after the record counters: page retirement's, then the
    /// tool's own health.
    fn extra(&self) -> String {
        let mut s = self.retire.clone();
        if let Some(e) = self.retire_config_error {
            s.push_str(&format!(
                "# HELP xen_mcelog_retire_config_error 1 when the last load of the --retire \
                 configuration failed (at start: retirement off; at a reload: the previous \
                 configuration stays in force).\n# TYPE xen_mcelog_retire_config_error gauge\n\
                 xen_mcelog_retire_config_error {}\n",
                u8::from(e)
            ));
        }
        if let Some(t) = self.hptool_timeouts {
            s.push_str(&format!(
                "# HELP xen_mcelog_retire_hptool_timeouts_total xen-hptool runs killed at \
                 their timeout since the start.\n\
                 # TYPE xen_mcelog_retire_hptool_timeouts_total counter\n\
                 xen_mcelog_retire_hptool_timeouts_total {t}\n"
            ));
        }
        if let Some(m) = &self.module {
            s.push_str(&prom::module_metrics(m));
        }
        s.push_str(&format!(
            "# HELP xen_mcelog_textfile_write_failures_total Writes of this textfile that \
             failed since the start.\n# TYPE xen_mcelog_textfile_write_failures_total counter\n\
             xen_mcelog_textfile_write_failures_total {}\n",
            self.failures
        ));
        s
    }

    /// Rewrites the file; the first failure is logged at err, the first
    /// success after failures at notice.
    fn write(&mut self) {
        let body = self.counters.render(&self.live);
        let extra = self.extra();
        self.written = Instant::now();
        match prom::write_atomic(&self.path, &[body.as_bytes(), extra.as_bytes()]) {
            Ok(()) if self.failing => {
                self.failing = false;
                log(
                    Level::Notice,
                    format!(
                        "--prometheus {}: written again ({} writes failed before)",
                        self.path.display(),
                        self.failures
                    ),
                );
            }
            Ok(()) => {}
            Err(e) => {
                self.failures += 1;
                if !self.failing {
                    self.failing = true;
                    log(
                        Level::Err,
                        format!(
                            "--prometheus {}: cannot write the textfile: {e}; the records keep \
                             flowing, the textfile is tried again after each batch \
                             (xen_mcelog_textfile_write_failures_total)",
                            self.path.display()
                        ),
                    );
                }
            }
        }
    }
}

/// How often `--retire` looks at deferred and pending pages.
const RETIRE_TICK: Duration = Duration::from_secs(60);

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

/// Reads the state and says what is configured. Xen is not asked here:
/// the retire thread starts with [`Retirer::resume`].
fn start_retire(cfg: Config, hptool_timeout: Duration) -> Retire {
    let path = cfg.state.clone();
    let state = retire::load_state(&path, unix_now(), &mut retire_log);
    let mut hv = HpTool::new(cfg.hptool.clone());
    hv.timeout = hptool_timeout;
    hv.sysctl = Sysctl::new(&cfg.privcmd);
    let mut r = Retirer::new(cfg, state);
    retire_log(Level::Notice, r.describe());
    // Xen's badpage= frames (persist = grub): offlining one again at start
    // fails as an anonymous page, which for them means kept out (grub/cmdline.rs).
    if !grub::retired_frames(&r.state).is_empty() {
        match grub::running_xen_badpages() {
            Ok(b) => r.boot_badpages = b,
            Err(e) => retire_log(
                Level::Warning,
                format!("cannot read Xen's command line for its badpage= frames: {e}"),
            ),
        }
    }
    if r.cfg.action != retire::Action::Off {
        for w in retire::dom0_offline_warnings() {
            retire_log(Level::Warning, w);
        }
    }
    Retire {
        r,
        hv,
        next_tick: Instant::now() + RETIRE_TICK,
        persist: None,
    }
}

/// `persist = grub`: the snippet follows the retired pages (grub/); it
/// is read again when its paths change at a reload, dropped when off.
fn sync_persist(rt: &mut Retire) {
    let c = &rt.r.cfg;
    if !c.persist_grub {
        rt.persist = None;
        return;
    }
    let p = match &mut rt.persist {
        Some(p) if p.snippet == c.grub_snippet && p.update_grub == c.update_grub => p,
        _ => rt.persist.insert(grub::Persist::new(
            c.grub_snippet.clone(),
            c.update_grub.clone(),
            PathBuf::from(grub::DEFAULT_GRUB_CFG),
        )),
    };
    p.sync(
        &grub::retired_frames(&rt.r.state),
        unix_now(),
        &mut retire_log,
    );
}

/// Loads `--retire CONFIG`; a failure is logged (naming the file and line)
/// and leaves retirement as `what` says.
fn load_config(path: &Path, what: &str) -> Option<Config> {
    Config::load(path)
        .inspect_err(|e| {
            retire_log(
                Level::Err,
                format!(
                    "--retire {e}; {what} (records are still read; fix it, then \
                     systemctl reload xen-mcelog-json)"
                ),
            );
        })
        .ok()
}

/// Page retirement's thread: everything that runs xen-hptool happens here,
/// so a slow or hung xen-hptool (bounded by its timeout) never holds up
/// the records.
struct Worker {
    conf: PathBuf,
    rt: Option<Retire>,
    cfg_error: bool,
    hptool_timeout: Duration,
    prom: Option<Shared>,
    /// The state file's clock (retire::STATE_SAVE_INTERVAL): monotonic.
    started: Instant,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        if let Some(rt) = &mut self.rt {
            rt.r.resume(unix_now(), &mut rt.hv, &mut retire_log);
        }
        self.after(false);
        loop {
            let mono = self.started.elapsed();
            let wait = self.rt.as_ref().map_or(RETIRE_TICK, |rt| {
                let tick = rt.next_tick.saturating_duration_since(Instant::now());
                rt.r.save_wait(mono).map_or(tick, |s| s.min(tick))
            });
            match rx.recv_timeout(wait) {
                Ok(Msg::Records(recs)) => {
                    if let Some(rt) = &mut self.rt {
                        for (m, x) in &recs {
                            rt.r.record(m, x, unix_now(), &mut rt.hv, &mut retire_log);
                        }
                    }
                }
                Ok(Msg::Reload) => self.reload(),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(rt) = self.rt.as_mut().filter(|rt| rt.next_tick <= Instant::now()) {
                        rt.next_tick = Instant::now() + RETIRE_TICK;
                        rt.r.tick(unix_now(), &mut rt.hv, &mut retire_log);
                    }
                }
                // The reader ended (stop, SIGTERM, an error): what changed
                // since the last write is written now.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.after(true);
                    break;
                }
            }
            self.after(false);
        }
    }

    /// SIGHUP: the configuration again; a bad one changes nothing.
    fn reload(&mut self) {
        let conf = self.conf.clone();
        let keep = if self.rt.is_some() {
            "the configuration in force stays"
        } else {
            "page retirement stays off"
        };
        let Some(mut cfg) = load_config(&conf, &format!("reload refused: {keep}")) else {
            self.cfg_error = true;
            return;
        };
        self.cfg_error = false;
        let Some(rt) = &mut self.rt else {
            retire_log(Level::Notice, format!("reloaded {}", conf.display()));
            let mut rt = start_retire(cfg, self.hptool_timeout);
            rt.r.resume(unix_now(), &mut rt.hv, &mut retire_log);
            self.rt = Some(rt);
            return;
        };
        if cfg.state != rt.r.cfg.state {
            retire_log(
                Level::Warning,
                format!(
                    "reload: state-file {} takes effect at a restart; {} stays in use",
                    cfg.state.display(),
                    rt.r.cfg.state.display()
                ),
            );
            cfg.state = rt.r.cfg.state.clone();
        }
        let was = rt.r.cfg.action;
        rt.hv.path = cfg.hptool.clone();
        if rt.hv.sysctl.path() != cfg.privcmd {
            rt.hv.sysctl = Sysctl::new(&cfg.privcmd);
        }
        rt.r.cfg = cfg;
        retire_log(
            Level::Notice,
            format!("reloaded {}: {}", conf.display(), rt.r.describe()),
        );
        let now_on = rt.r.cfg.action;
        if was == retire::Action::Off && now_on != retire::Action::Off {
            for w in retire::dom0_offline_warnings() {
                retire_log(Level::Warning, w);
            }
        }
        // Switched to offline: the pages retired before are asked about
        // (and offlined again if Xen has them online), as at a start.
        if was != retire::Action::Offline && now_on == retire::Action::Offline {
            rt.r.resume(unix_now(), &mut rt.hv, &mut retire_log);
        }
        rt.r.dirty = true;
        rt.r.urgent = true;
    }

    /// After each step: xen-hptool runs killed, the state file (when due,
    /// or whenever it changed with `last`), the textfile.
    fn after(&mut self, last: bool) {
        let mono = self.started.elapsed();
        let (metrics, timeouts) = match &mut self.rt {
            Some(rt) => {
                for k in std::mem::take(&mut rt.hv.killed) {
                    retire_log(Level::Err, k);
                }
                rt.r.save_if_due(mono, last, &mut retire_log);
                sync_persist(rt);
                let mut m = rt.r.metrics();
                if let Some(p) = &rt.persist {
                    m.push_str(&p.metrics());
                }
                (m, rt.hv.timeouts)
            }
            None => (String::new(), 0),
        };
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            let t = Some(timeouts);
            let e = Some(self.cfg_error);
            if tf.retire != metrics || tf.hptool_timeouts != t || tf.retire_config_error != e {
                tf.retire = metrics;
                tf.hptool_timeouts = t;
                tf.retire_config_error = e;
                tf.write();
            }
        }
    }
}

/// The signals' self-pipe: read end, write end (-1: none). SIGHUP writes
/// `h`, SIGTERM and SIGINT `t`.
static SIG_PIPE: [AtomicI32; 2] = [AtomicI32::new(-1), AtomicI32::new(-1)];

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
fn catch_signals(hup: bool, term: bool) -> io::Result<()> {
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

/// `--prometheus F --mark-down`: F with `xen_mcelog_reader_up 0` (ExecStopPost).
fn mark_down(path: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // Nothing to mark: no reader ever wrote it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {}: {e}", path.display());
            return ExitCode::from(3);
        }
    };
    let mut live = Liveness::default();
    live.probe();
    let down = prom::mark_down(&text, live.module_loaded);
    match prom::write_atomic(path, &[down.as_bytes()]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {}: {e}", path.display());
            ExitCode::from(3)
        }
    }
}
