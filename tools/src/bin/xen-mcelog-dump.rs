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
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xmc_core::erst::{XenSavedMce, XEN_MCE_LEN};
use xmc_core::record::{XenInfo, XEN_VIEW_LEN};
use xmc_tools::args::Args;
use xmc_tools::decode::{decoded_block_xen, hex_block};
use xmc_tools::format::{dump_line_xen, json_record, split_records};
use xmc_tools::prom::Counters;
use xmc_tools::retire::{self, Config, HpTool, Level, Retirer, State};
use xmc_tools::sys::{self, Mode, DEFAULT_DEVICE};
use xmc_tools::xen::split_view;
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
    xen-mcelog-dump [FORMAT] [--prometheus FILE] --follow [--count N]
                    [--timeout SECONDS] [--retire CONFIG] [DEVICE]
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
                   xen_mcelog_records_total{severity=,bank=,socket=}, the
                   records printed since the start, rewritten atomically
                   (F.tmp, then rename) at start and after each batch.
    -f, --follow   after printing what is queued, keep the device open and
                   wait with poll(2), printing records as they arrive
                   (like tail -f). Device only. Output is flushed per read.
    --retire C     with --follow: page retirement, configured by C
                   (/etc/xen-mcelog/retire.conf): corrected memory errors
                   are counted per machine page (mcelog's
                   memory-ce-threshold); a page past the threshold is
                   offlined by Xen (xen-hptool mem-offline), at most
                   max-offlines per period; action = off (the default),
                   dry-run or offline. State in state-file; what it does on
                   stderr (the journal, `retire: ` lines); page counts by
                   state in the --prometheus textfile. README \"Retiring
                   failing memory pages\".
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
}

struct Opts {
    out: Out,
    follow: bool,
    count: Option<u64>,
    timeout: Option<Duration>,
    /// The input is a copy of the `xen` view (168-byte entries).
    view: bool,
}

/// `--retire`: the policy and Xen's tool.
struct Retire {
    r: Retirer,
    hv: HpTool,
    /// When the periodic work is due next.
    next_tick: Instant,
}

/// Prints records and counts them, across reads.
struct Printer<W: Write> {
    out: Out,
    w: W,
    printed: u64,
    prom: Option<(PathBuf, Counters)>,
    retire: Option<Retire>,
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
        ],
        &[
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
    let retire = match a.opt("--retire").map(|c| Config::load(Path::new(c))) {
        None => None,
        Some(Ok(cfg)) => Some(start_retire(cfg)),
        Some(Err(e)) => {
            eprintln!("xen-mcelog-dump: --retire {e}");
            return ExitCode::from(2);
        }
    };
    let opts = Opts {
        out,
        follow,
        count,
        timeout,
        view,
    };
    let prom = a.opt("--prometheus").map(PathBuf::from);
    match dump(path, &opts, prom, retire) {
        Ok(Done::Rest(0)) => ExitCode::SUCCESS,
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

fn dump(path: &str, o: &Opts, prom: Option<PathBuf>, retire: Option<Retire>) -> io::Result<Done> {
    let mut f = sys::open(path, Mode::default())?;
    let stdout = io::stdout();
    let mut p = Printer {
        out: o.out,
        w: io::BufWriter::new(stdout.lock()),
        printed: 0,
        prom: prom.map(|f| (f, Counters::default())),
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
    let enough = |p: &Printer<_>| o.count.is_some_and(|c| p.printed >= c);
    loop {
        if enough(p) {
            return Ok(Done::Rest(rest));
        }
        let n = f.read(&mut buf)?;
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
        // With --retire, wake up at least once per tick.
        let tick = p.retire.as_ref().map(|_| RETIRE_TICK.as_millis() as i32);
        let wait_ms = match o.timeout {
            None => tick.unwrap_or(-1),
            Some(t) => match t.checked_sub(start.elapsed()) {
                None => {
                    return Ok(if o.count.is_some() {
                        Done::TimedOut
                    } else {
                        Done::Rest(rest)
                    })
                }
                Some(left) => i32::try_from(left.as_millis().max(1))
                    .unwrap_or(i32::MAX)
                    .min(tick.unwrap_or(i32::MAX)),
            },
        };
        match sys::poll_in(f, wait_ms) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        p.tick()?;
    }
}

impl<W: Write> Printer<W> {
    /// Prints `items` (at most `limit` in total, if given), then rewrites
    /// the Prometheus textfile.
    fn emit(&mut self, items: &[Item], limit: Option<u64>) -> io::Result<()> {
        for it in items {
            if limit.is_some_and(|l| self.printed >= l) {
                break;
            }
            self.printed += 1;
            let n = self.printed as usize;
            let (m, x) = (&it.mce, it.xen.as_ref());
            match self.out {
                Out::Raw => self.w.write_all(it.raw)?,
                Out::Line => writeln!(self.w, "{}", dump_line_xen(m, x))?,
                Out::Json => writeln!(self.w, "{}", json_record(m, x))?,
                Out::Decode => writeln!(self.w, "{}", decoded_block_xen(m, x, n))?,
                Out::Hex => writeln!(self.w, "{}", hex_block(it.raw, n))?,
            }
            if let Some((_, c)) = &mut self.prom {
                c.add(m);
            }
        }
        // After the batch is printed (the journal has the records before
        // what is done about them).
        self.w.flush()?;
        if let Some(rt) = &mut self.retire {
            for it in items {
                if let Some((_, x)) = &it.xen {
                    rt.r.record(&it.mce, x, unix_now(), &mut rt.hv, &mut retire_log);
                }
            }
            save_state(&mut rt.r);
        }
        self.write_prom()
    }

    /// Periodic retirement work (deferred and pending pages), once per
    /// [`RETIRE_TICK`] however often records wake the loop.
    fn tick(&mut self) -> io::Result<()> {
        let Some(rt) = &mut self.retire else {
            return Ok(());
        };
        let now = Instant::now();
        if now < rt.next_tick {
            return Ok(());
        }
        rt.next_tick = now + RETIRE_TICK;
        rt.r.tick(unix_now(), &mut rt.hv, &mut retire_log);
        if !rt.r.dirty {
            return Ok(());
        }
        save_state(&mut rt.r);
        self.write_prom()
    }

    /// Rewrites the textfile, if there is one (after the output is flushed,
    /// so a line is never counted before it is printed).
    fn write_prom(&mut self) -> io::Result<()> {
        let Some((path, c)) = &self.prom else {
            return Ok(());
        };
        self.w.flush()?;
        let extra = self
            .retire
            .as_ref()
            .map(|rt| rt.r.metrics())
            .unwrap_or_default();
        c.write_with(path, &extra)
            .map_err(|e| io::Error::new(e.kind(), format!("--prometheus {}: {e}", path.display())))
    }
}

/// How often `--retire` looks at deferred and pending pages.
const RETIRE_TICK: Duration = Duration::from_secs(60);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

/// Writes the state file if it changed; a failure is logged (and tried
/// again after the next change), the records keep flowing.
fn save_state(r: &mut Retirer) {
    if !r.dirty {
        return;
    }
    match r.state.save(&r.cfg.state) {
        Ok(()) => r.dirty = false,
        Err(e) => retire_log(
            Level::Err,
            format!(
                "state file {}: {e} (counts kept in memory only)",
                r.cfg.state.display()
            ),
        ),
    }
}

/// Reads the state, says what is configured, and (action = offline)
/// offlines again the pages a reboot of the host put back online.
fn start_retire(cfg: Config) -> Retire {
    let path = cfg.state.clone();
    let state = match std::fs::read_to_string(&path) {
        Ok(text) => State::parse(&text).unwrap_or_else(|e| {
            let aside = path.with_extension(format!("corrupt-{}", unix_now()));
            let _ = std::fs::rename(&path, &aside);
            retire_log(
                Level::Err,
                format!(
                    "state file {}: {e}; moved to {}, counting starts again",
                    path.display(),
                    aside.display()
                ),
            );
            State::default()
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
        Err(e) => {
            retire_log(Level::Err, format!("state file {}: {e}", path.display()));
            State::default()
        }
    };
    let hv = HpTool::new(cfg.hptool.clone());
    let r = Retirer::new(cfg, state);
    retire_log(Level::Notice, r.describe());
    if r.cfg.action != retire::Action::Off {
        for w in retire::dom0_offline_warnings() {
            retire_log(Level::Warning, w);
        }
    }
    let mut rt = Retire {
        r,
        hv,
        next_tick: Instant::now() + RETIRE_TICK,
    };
    rt.r.resume(unix_now(), &mut rt.hv, &mut retire_log);
    save_state(&mut rt.r);
    rt
}
