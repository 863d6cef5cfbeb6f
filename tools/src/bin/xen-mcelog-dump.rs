// SPDX-License-Identifier: GPL-2.0-only

//! xen-mcelog-dump: prints machine-check records from /dev/xen_mcelog
//! (destructive, like mcelog: what is read is gone), from the debugfs `raw`
//! view (non-destructive), or from a saved dump of N x 128-byte records;
//! one line, a decoded block, a hex dump or a JSON object per record.
//!
//! Exit codes: see USAGE.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xmc_tools::args::Args;
use xmc_tools::decode::{decoded_block, hex_block};
use xmc_tools::format::{dump_line, json_line, split_records};
use xmc_tools::sys::{self, Mode, DEFAULT_DEVICE};
use xmc_tools::RECORD_LEN;

/// The module's non-destructive binary view of its ring.
const DEBUGFS_RAW: &str = "/sys/kernel/debug/xen_mcelog/raw";

const USAGE: &str = "\
NAME
    xen-mcelog-dump - print the machine-check records of xen_mcelog

SYNOPSIS
    xen-mcelog-dump [FORMAT] [PATH]
    xen-mcelog-dump [FORMAT] --debugfs
    xen-mcelog-dump [FORMAT] --follow [--count N] [--timeout SECONDS] [DEVICE]

DESCRIPTION
    Prints the machine-check records that the xen_mcelog module collected
    from Xen (the mcelog `struct mce` layout, 128 bytes each), one per
    record, oldest first.

    PATH defaults to /dev/xen_mcelog. On a character device the records are
    read as mcelog reads them (buffers of RECORD_LEN x LOG_LEN, from the
    device's ioctls) until it is empty: reading CONSUMES them, so a running
    mcelog daemon will not see records read here. The in-tree C driver's
    /dev/mcelog (112-byte records) works too. Any other file (a saved `cat`
    of the device, a copy of the debugfs view) is read whole.

    The hypervisor reports machine addresses and physical CPU numbers: ADDR
    is not a dom0 address and CPU is not a dom0 vCPU.

OPTIONS
    --debugfs      read /sys/kernel/debug/xen_mcelog/raw instead: the records
                   still queued in the module, left in place (non-destructive;
                   needs debugfs mounted).
    -f, --follow   after printing what is queued, keep the device open and
                   wait with poll(2), printing records as they arrive
                   (like tail -f). Device only. Output is flushed per read.
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
    -d, --decode   a readable block per record: the error class (corrected,
                   UCNA, SRAO, SRAR, fatal), time as a UTC date, CPU, socket,
                   APIC id, bank, MCi_STATUS with its flag bits spelled out
                   (VAL OVER UC EN MISCV ADDRV PCC S AR) and its architectural
                   MCA error code, ADDR, MISC, MCG_STATUS (RIPV EIPV MCIP),
                   MCG_CAP, vendor and CPUID family/model/stepping.
    -j, --json     one JSON object per line, for log shippers: every field of
                   the record (64-bit registers as \"0x..\" strings), plus
                   \"class\", \"status_bits\" and \"time_utc\" (ISO 8601 or null).
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
}

/// Prints records and counts them, across reads.
struct Printer<W: Write> {
    out: Out,
    w: W,
    printed: u64,
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
        &["--count", "--timeout"],
        &[
            "--decode",
            "--json",
            "--hex",
            "--raw",
            "--follow",
            "--debugfs",
        ],
    ) {
        Ok(a) => a,
        Err(e) => return usage(&e),
    };
    if formats.iter().filter(|f| a.flag(f)).count() > 1 {
        return usage("give at most one of --decode, --json, --hex, --raw");
    }
    if a.pos.len() > 1 || (a.flag("--debugfs") && !a.pos.is_empty()) {
        return usage("give at most one PATH, or --debugfs");
    }
    let out = match formats.iter().find(|f| a.flag(f)) {
        Some(&"--decode") => Out::Decode,
        Some(&"--json") => Out::Json,
        Some(&"--hex") => Out::Hex,
        Some(_) => Out::Raw,
        None => Out::Line,
    };
    let (count, timeout) = match (a.num("--count"), a.num("--timeout")) {
        (Ok(c), Ok(t)) => (c, t.map(Duration::from_secs)),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
    };
    let follow = a.flag("--follow");
    if timeout.is_some() && !follow {
        return usage("--timeout needs --follow");
    }
    if follow && a.flag("--debugfs") {
        return usage("--follow needs the device: the debugfs view cannot be polled");
    }
    let path = if a.flag("--debugfs") {
        DEBUGFS_RAW
    } else {
        a.pos.first().map_or(DEFAULT_DEVICE, String::as_str)
    };
    let opts = Opts {
        out,
        follow,
        count,
        timeout,
    };
    match dump(path, &opts) {
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
    if path == DEBUGFS_RAW {
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

fn dump(path: &str, o: &Opts) -> io::Result<Done> {
    let mut f = sys::open(path, Mode::default())?;
    let stdout = io::stdout();
    let mut p = Printer {
        out: o.out,
        w: io::BufWriter::new(stdout.lock()),
        printed: 0,
    };
    let is_dev = f.metadata()?.file_type().is_char_device();
    if o.follow && !is_dev {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--follow needs a character device (poll)",
        ));
    }
    let done = if is_dev {
        dump_device(&mut f, o, &mut p)?
    } else {
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Done::Rest(p.emit(&buf, RECORD_LEN, o.count)?)
    };
    p.w.flush()?;
    Ok(done)
}

/// Reads the device until it returns 0 (empty), one mcelog-sized buffer at
/// a time; with `--follow` then waits for more with poll.
fn dump_device(f: &mut File, o: &Opts, p: &mut Printer<impl Write>) -> io::Result<Done> {
    let (record_len, log_len) = sys::log_geometry(f).unwrap_or_else(|e| {
        eprintln!("xen-mcelog-dump: {e}; assuming {RECORD_LEN}-byte records");
        (RECORD_LEN, 1024)
    });
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
            rest += p.emit(&buf[..n], record_len, None)?;
            p.w.flush()?;
            continue;
        }
        if !o.follow {
            return Ok(Done::Rest(rest));
        }
        let wait_ms = match o.timeout {
            None => -1,
            Some(t) => match t.checked_sub(start.elapsed()) {
                None => {
                    return Ok(if o.count.is_some() {
                        Done::TimedOut
                    } else {
                        Done::Rest(rest)
                    })
                }
                Some(left) => i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX),
            },
        };
        match sys::poll_in(f, wait_ms) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl<W: Write> Printer<W> {
    /// Prints the whole records in `buf` (at most `limit` in total, if
    /// given); returns the count of trailing bytes.
    fn emit(&mut self, buf: &[u8], record_len: usize, limit: Option<u64>) -> io::Result<usize> {
        let (recs, rest) = split_records(buf, record_len);
        for (m, raw) in recs.iter().zip(buf.chunks_exact(record_len)) {
            if limit.is_some_and(|l| self.printed >= l) {
                break;
            }
            self.printed += 1;
            let n = self.printed as usize;
            match self.out {
                Out::Raw => self.w.write_all(raw)?,
                Out::Line => writeln!(self.w, "{}", dump_line(m))?,
                Out::Json => writeln!(self.w, "{}", json_line(m))?,
                Out::Decode => writeln!(self.w, "{}", decoded_block(m, n))?,
                Out::Hex => writeln!(self.w, "{}", hex_block(raw, n))?,
            }
        }
        Ok(rest)
    }
}
