// SPDX-License-Identifier: GPL-2.0-only

//! xen-mcelog-dump's command line: the clap definition ([`Cli`], with the
//! whole manual in it) and [`Opts::parse`], which checks the combinations
//! and says which of the tool's modes runs ([`Mode`]).
//!
//! clap checks what it can say itself: at most one FORMAT, one source (PATH,
//! `--debugfs`, `--xen-view`), `--summary` or `--errors`, and what
//! `--pstore` and `--follow` exclude. The rules that need the tool's own
//! words (`--retire needs --follow on the device`, what `--summary`,
//! `--mark-down` and `--heartbeat` go with) are checked in
//! [`Opts::parse`], and tested below.
//!
//! Why one file of about 800 lines: most of it is the manual, the text of
//! `--help` and of the man page, which clap keeps beside each option it
//! describes; then `Opts::parse` and its tests (about 190 lines).

use std::ffi::OsString;
use std::time::Duration;

use clap::{ArgAction, Parser};

use super::{Section, Tool, Usage};
use crate::args::parse_num;
use crate::history;
use crate::retire::HPTOOL_TIMEOUT;
use crate::sys::DEFAULT_DEVICE;

/// `--heartbeat`'s default: well within a minute, so that a reader silent
/// for longer is dead or hung.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// The forms of the command line, as `--help` and the man page show them.
pub const SYNOPSIS: &str = "\
xen-mcelog-dump [FORMAT] [--prometheus FILE] [PATH]
       xen-mcelog-dump [FORMAT] [--prometheus FILE] --debugfs
       xen-mcelog-dump [FORMAT] [--prometheus FILE] --xen-view SAVED
       xen-mcelog-dump [FORMAT] [--prometheus FILE [--heartbeat SECONDS]]
                       --follow [--count N] [--timeout SECONDS]
                       [--retire CONFIG] [--hptool-timeout SECONDS] [DEVICE]
       xen-mcelog-dump --prometheus FILE --mark-down
       xen-mcelog-dump [FORMAT] --pstore [DIR]
       xen-mcelog-dump --summary|--errors [--since TIME]";

const DESCRIPTION: &str = "\
Prints the machine-check records that the xen_mcelog module collected from \
Xen (the mcelog `struct mce` layout, 128 bytes each), one per record, oldest \
first.

PATH defaults to /dev/xen_mcelog. On a character device the records are \
read as mcelog reads them (buffers of RECORD_LEN x LOG_LEN, from the device's \
ioctls) until it is empty: reading CONSUMES them (each goes to one reader), \
so a running mcelog daemon will not see records read here. The in-tree C \
driver's /dev/mcelog (112-byte records) works too. Any other file (a saved \
`cat` of the device, a copy of the debugfs `raw` view) is read whole.

The hypervisor reports machine addresses and physical CPU numbers: ADDR is \
not a dom0 address and CPU is not a dom0 vCPU.

Xen's side of each record (its sequence number in the module's ring, Xen's \
physical CPU, the domain owning the page and the one running, whether ADDR \
is machine- or guest-physical, Xen's recovery action, the machine frame and \
the result, and whether the record is a fatal machine check of a previous \
boot, from ERST) is not in the 128 bytes mcelog reads. On /dev/xen_mcelog \
the tool switches its own open file to extended records (the device's \
XMC_XEN_RECORDS ioctl; mcelog and other readers keep the 128-byte records), \
so every record read comes with its Xen side; debugfs is not needed. Records \
without a Xen side (the C driver's /dev/mcelog, a module without the ioctl, \
a saved file of 128-byte records) have the JSON fields null; the other forms \
omit them.

Without a FORMAT option each record is one line: cpu=N bank=N status=0x.. \
addr=0x.. misc=0x.. mcgstatus=0x.. time=N tsc=0x.. cpuid=0x.. vendor=N \
apicid=N socketid=N mcgcap=0x.. ppin=0x.. flags=[injected] and, with the \
Xen side: seq=N xen_cpu=N domid=N running_domid=N \
addr_space=machine|guest|none|unknown [maddr=0x..] [recovery=.. result=.. \
mfn=0x..].";

/// EXIT STATUS and the rest, after the options.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        items: &[
            ("0", "success (also when there were no records)"),
            (
                "1",
                "the input ended in a partial record (the whole records were \
                 printed); --summary, --errors: journal lines that should be \
                 records could not be read (the others were counted)",
            ),
            ("2", "usage error"),
            (
                "3",
                "the input could not be opened or read (the message says why: \
                 module not loaded, root needed, debugfs not mounted); \
                 --summary, --errors: journalctl could not be run or failed",
            ),
            (
                "4",
                "--follow --count N --timeout S: fewer than N records arrived \
                 in time",
            ),
            (
                "",
                "A textfile that cannot be written or a retire CONFIG with an \
                 error changes no exit status: the records come first.",
            ),
        ],
    },
    Section {
        title: "SIGNALS",
        items: &[
            (
                "SIGHUP",
                "with --follow --retire (systemctl reload xen-mcelog-json): \
                 CONFIG is read again and applied (`retire: reloaded CONFIG: \
                 ...`); the reader, the record counters and the page counts \
                 stay. A CONFIG with an error keeps the configuration in force \
                 and says why at err; a changed state-file takes effect at a \
                 restart. The textfile is tried again. Without --follow \
                 --retire SIGHUP ends the tool as usual.",
            ),
            (
                "SIGTERM, SIGINT",
                "with --follow --prometheus: the textfile is marked down \
                 (xen_mcelog_reader_up 0), then the tool exits 0.",
            ),
        ],
    },
    Section {
        title: "FILES",
        items: &[
            ("/dev/xen_mcelog", "the device (also /dev/xen/mcelog)"),
            (
                "/sys/kernel/debug/xen_mcelog/xen",
                "the non-destructive view (--debugfs)",
            ),
            (
                "/usr/lib/systemd/system/xen-mcelog-json.service",
                "the reader as a service",
            ),
            ("/etc/xen-mcelog/retire.conf", "page retirement (--retire)"),
            (
                "/var/lib/xen-mcelog/retire.state",
                "its counts and page states",
            ),
        ],
    },
    Section {
        title: "EXAMPLES",
        items: &[
            (
                "xen-mcelog-dump --decode --debugfs",
                "look without taking anything",
            ),
            ("xen-mcelog-dump --json --follow", "stream to a log shipper"),
            (
                "xen-mcelog-dump --json --follow --prometheus /var/lib/prometheus/node-exporter/xen_mcelog.prom",
                "the same, and keep counters",
            ),
            (
                "xen-mcelog-dump --raw > mce.bin",
                "save (consumes) the queued records",
            ),
            (
                "xen-mcelog-dump --summary --since -7d",
                "the last week of the journal",
            ),
        ],
    },
    Section {
        title: "SEE ALSO",
        items: &[(
            "",
            "xmc-inject(8), xen-mcelog-rust-meta(8), mcelog(8), xen-hptool(8), \
             journalctl(1), rasdaemon(8), ras-mc-ctl(8), modinfo xen_mcelog; \
             tools.md in /usr/share/doc/xen-mcelog-tools (the JSON schema, \
             the metrics, the service).",
        )],
    },
];

/// The command line as clap parses it; [`Opts::parse`] makes sense of it.
#[derive(Parser, Debug, Default)]
#[command(
    name = "xen-mcelog-dump",
    about = "print the machine-check records of xen_mcelog",
    long_about = DESCRIPTION,
    override_usage = SYNOPSIS,
    disable_help_flag = true,
    // A repeated option: the last one wins (the parser before clap did so).
    args_override_self = true,
    next_line_help = true,
)]
pub struct Cli {
    /// A readable block per record.
    #[arg(
        short = 'd',
        long,
        group = "format",
        help_heading = "Format (one of)",
        long_help = "a readable block per record: the error class (corrected, \
UCNA, SRAO, SRAR, fatal), time as a UTC date, CPU, socket, APIC id, bank, \
MCi_STATUS with its flag bits spelled out (VAL OVER UC EN MISCV ADDRV PCC S \
AR) and its architectural MCA error code, ADDR, MISC, MCG_STATUS (RIPV EIPV \
MCIP), MCG_CAP, vendor and CPUID family/model/stepping; with the Xen side: \
seq, Xen CPU, page owner and running domain, address space (and machine \
address), Xen's mc_flags, and the recovery action, frame and result."
    )]
    pub decode: bool,
    /// One JSON object per line.
    #[arg(
        short = 'j',
        long,
        group = "format",
        help_heading = "Format (one of)",
        long_help = "one JSON object per line, for log shippers: every field of \
the record (64-bit registers as \"0x..\" strings), plus \"class\", \
\"status_bits\", \"time_utc\" (ISO 8601 or null), \"severity\" (corrected, \
uncorrected-recoverable, action-required, fatal, uncorrected, invalid) and \
the Xen side: \"seq\", \"xen_cpu\", \"domid\", \"running_domid\", \
\"addr_space\", \"maddr\", \"mc_flags\", \"xen_flags\", \"recovery\" (null \
when unknown). Schema: tools.md, \"JSON schema\"."
    )]
    pub json: bool,
    /// A hex dump of each record.
    #[arg(
        short = 'x',
        long,
        group = "format",
        help_heading = "Format (one of)",
        long_help = "a hex dump of each record's 128 bytes, with offsets."
    )]
    pub hex: bool,
    /// The records' bytes, unchanged.
    #[arg(
        long,
        group = "format",
        help_heading = "Format (one of)",
        long_help = "the records' bytes, unchanged (to save a dump: \
xen-mcelog-dump --raw > saved.bin; read it back with xen-mcelog-dump \
saved.bin)."
    )]
    pub raw: bool,

    /// The device or a saved dump; DIR with --pstore.
    #[arg(
        value_name = "PATH",
        group = "source",
        long_help = "the device (default /dev/xen_mcelog) or a saved dump; with \
--pstore, DIR."
    )]
    pub path: Option<String>,
    /// Read the module's non-destructive debugfs view instead.
    #[arg(
        long,
        group = "source",
        long_help = "read /sys/kernel/debug/xen_mcelog/xen instead: the records \
still queued in the module with their Xen side, left in place \
(non-destructive; needs debugfs mounted; falls back to the `raw` view of \
modules without `xen`)."
    )]
    pub debugfs: bool,
    /// Read SAVED, a saved copy of the debugfs view.
    #[arg(
        long,
        value_name = "SAVED",
        group = "source",
        long_help = "read SAVED, a saved copy of the debugfs view \
(cat /sys/kernel/debug/xen_mcelog/xen > SAVED)."
    )]
    pub xen_view: Option<String>,
    /// The fatal machine checks Xen saved in ERST, as pstore shows them.
    #[arg(
        long,
        conflicts_with_all = ["follow", "debugfs", "xen_view"],
        long_help = "print the fatal machine checks Xen saved in the firmware's \
ERST before a reset, as pstore shows them: the mce-erst-* files (Xen's \
88-byte struct mce) in DIR, or by default in /sys/fs/pstore (mount -t pstore \
pstore /sys/fs/pstore) and /var/lib/systemd/pstore (where \
systemd-pstore.service moves them, erasing them from ERST). Use it when \
pstore or systemd-pstore took a record before xen_mcelog could deliver it. \
The CPU is known only by its APIC id; the time is when Xen saved the record. \
Files of another layout (Linux's own MCE records) are named on stderr and \
skipped."
    )]
    pub pstore: bool,
    /// The history at a glance, from the journal.
    #[arg(
        long,
        conflicts_with = "errors",
        long_help = "the history at a glance, from the journal of \
xen-mcelog-json.service (journalctl -o json; the device is not touched): the \
records per severity, per socket, per socket and bank, and per 4 KiB machine \
page (records with a machine address), with the time of the last; like \
ras-mc-ctl --summary for rasdaemon's database. Reading the system journal \
needs root (or group systemd-journal or adm)."
    )]
    pub summary: bool,
    /// The journal's records, one line each.
    #[arg(
        long,
        long_help = "the same records, one line each, oldest first: time (UTC; \
the record's own, else the journal's), severity, CPU, socket, bank, \
MCi_STATUS, MCi_ADDR (when ADDRV) and the JSON's words: class= bits= \
addr_space= domid= maddr= xen_flags= recovery= result= mfn= injected. \
Journal lines that should be records but cannot be read are left out, \
counted and named on stderr (exit 1)."
    )]
    pub errors: bool,
    /// With --summary or --errors: only the journal since TIME.
    #[arg(
        long,
        value_name = "TIME",
        action = ArgAction::Append,
        allow_hyphen_values = true,
        long_help = "with --summary or --errors: only the journal since TIME, \
as journalctl --since takes it (\"2026-11-25 16:00\", \"-1h\", yesterday, \
@EPOCH)."
    )]
    pub since: Vec<String>,
    /// Keep FILE as a node_exporter textfile of counters.
    #[arg(
        long,
        value_name = "FILE",
        long_help = "keep FILE as a node_exporter textfile (textfile \
collector): xen_mcelog_records_total{severity=,boot=} (every severity from \
the start, at 0), xen_mcelog_bank_records_total{severity=,bank=,socket=}, \
xen_mcelog_page_corrected_errors_total{socket=,page=}, \
xen_mcelog_overflows_total (records lost: the device's MCE_GETCLEAR_FLAGS \
said MCE_OVERFLOW, also logged at err), the time of the last record, and the \
reader's liveness: xen_mcelog_reader_up, its start time, its last read \
(tools.md, \"Metrics and alerts\"); from the device, the module's own \
counters, xen_mcelog_module_* (ring, drain, overflows by reason, \
previous-boot records: XMC_GET_STATS; left out with a module without it). \
The tool's counters are carried over from the FILE a previous run left; the \
module's count since its load. FILE is rewritten atomically (FILE.tmp, then \
rename) at start, after each batch, at each heartbeat, and with \
xen_mcelog_reader_up 0 when the reader ends (SIGTERM, SIGINT: exit 0 after \
that; or an error).
Optional: when FILE cannot be written (node_exporter not installed, its \
directory missing) the records are printed all the same; the failure is \
logged once (err) and FILE is tried again after each batch, with \
xen_mcelog_textfile_write_failures_total in it (0 while all is well)."
    )]
    pub prometheus: Option<String>,
    /// Keep the device open and print records as they arrive.
    #[arg(
        short = 'f',
        long,
        conflicts_with_all = ["debugfs", "xen_view"],
        long_help = "after printing what is queued, keep the device open and \
wait with poll(2), printing records as they arrive (like tail -f). Device \
only: the debugfs view cannot be polled. Output is flushed per read. With \
--retire, SIGHUP reloads instead of ending it."
    )]
    pub follow: bool,
    /// With --follow: page retirement, configured by CONFIG.
    #[arg(
        long,
        value_name = "CONFIG",
        long_help = "with --follow on the device: predictive page retirement as \
CONFIG (/etc/xen-mcelog/retire.conf) says. Corrected memory errors with a \
machine address are counted per machine page in mcelog's leaky bucket \
(memory-ce-threshold = COUNT / TIME); the error that fills a page's bucket \
has the page offlined by Xen with xen-hptool mem-offline (its state then \
read back with xen-hptool mem-status), at most max-offlines pages per \
period. action is off (the default), dry-run (log only) or offline. A page \
a guest domain owns is left to the guest unless guest-pages = offline \
(xen-hptool would suspend the guest to exchange the page). Counts and page \
states are kept in the state-file; pages retired before that Xen reports \
online at start (the host rebooted) are offlined again, whatever the action, \
unless retired-pages = forget (with off or dry-run). Every step is logged on \
stderr (the journal, lines starting `retire: `); with --prometheus the \
textfile also has xen_mcelog_retire_pages{state=...}. The whole policy: \
docs/page-retirement.md in the source.
A CONFIG that cannot be read or has an error (the line is named) is logged \
at err and leaves page retirement off; the records keep flowing and the \
textfile has xen_mcelog_retire_config_error 1. SIGHUP (systemctl reload) \
reads CONFIG again: counts and the reader stay; a bad new CONFIG keeps the \
one in force (a new state-file needs a restart). xen-hptool runs beside the \
reader, so the records never wait for it. Never use dom0's own soft-offline \
on Xen (rasdaemon PAGE_CE_ACTION, mcelog's memory-ce-action): dom0 would \
take the machine address for one of its own pseudo-physical pages."
    )]
    pub retire: Option<String>,
    /// With --follow --prometheus: rewrite FILE at least every SECONDS.
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = parse_num,
        long_help = "with --follow --prometheus: rewrite FILE at least every \
SECONDS seconds (default 30) while no record arrives, with the time of the \
last read of the device."
    )]
    pub heartbeat: Option<u64>,
    /// With --prometheus FILE only: mark the reader down in FILE.
    #[arg(
        long,
        long_help = "with --prometheus FILE only: set xen_mcelog_reader_up 0 \
(and the module's state) in FILE, keeping the rest; for ExecStopPost=, when \
the reader could not (SIGKILL)."
    )]
    pub mark_down: bool,
    /// With --retire: one xen-hptool run may take SECONDS.
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = parse_num,
        long_help = "with --retire: one xen-hptool run may take SECONDS seconds \
(default 60); then it is killed with its process group (SIGKILL), logged at \
err and counted as a failed attempt (three in all per page) or, for \
mem-status, a failed query; xen_mcelog_retire_hptool_timeouts_total in the \
textfile counts them."
    )]
    pub hptool_timeout: Option<u64>,
    /// Stop once N records have been printed.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_num,
        long_help = "stop once N records have been printed (with --follow: \
possibly more, if one read returned several)."
    )]
    pub count: Option<u64>,
    /// With --follow, give up after SECONDS.
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = parse_num,
        long_help = "with --follow, give up after SECONDS seconds (exit 4 when \
--count was not reached, else 0)."
    )]
    pub timeout: Option<u64>,
    /// This text.
    #[arg(short = 'h', long, action = ArgAction::HelpLong, long_help = "this text.")]
    pub help: Option<bool>,
}

/// The output form (one line per record by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Out {
    #[default]
    Line,
    Decode,
    Json,
    Hex,
    Raw,
}

/// Where the records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A device or a saved dump (/dev/xen_mcelog by default).
    Path(String),
    /// The module's debugfs view (`xen`, or `raw` of older modules).
    Debugfs,
    /// A saved copy of the debugfs `xen` view.
    XenView(String),
}

/// A dump of records: the default mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub source: Source,
    pub follow: bool,
    pub count: Option<u64>,
    pub timeout: Option<Duration>,
    pub prometheus: Option<String>,
    pub retire: Option<String>,
    pub heartbeat: Duration,
    pub hptool_timeout: Duration,
}

/// What the tool does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Print (and follow) records.
    Dump(Dump),
    /// `--pstore [DIR]`.
    Pstore { dir: Option<String> },
    /// `--prometheus FILE --mark-down`.
    MarkDown { prometheus: String },
    /// `--summary` or `--errors` [`--since TIME`].
    History {
        which: history::Mode,
        since: Option<String>,
    },
}

/// The command line, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    pub out: Out,
    pub mode: Mode,
}

impl Tool for Cli {
    const SECTIONS: &'static [Section] = SECTIONS;
}

impl Opts {
    /// Parses `argv` (with the program name first).
    pub fn parse<I, T>(argv: I) -> Result<Opts, Usage>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Opts::check(super::parse::<Cli>(argv)?)
    }

    /// The rules clap does not check.
    fn check(c: Cli) -> Result<Opts, Usage> {
        let out = match (c.decode, c.json, c.hex, c.raw) {
            (true, ..) => Out::Decode,
            (_, true, ..) => Out::Json,
            (_, _, true, _) => Out::Hex,
            (.., true) => Out::Raw,
            _ => Out::Line,
        };
        let err = |m: &str| Err(Usage::Error(m.into()));
        if c.summary || c.errors {
            if c.since.len() > 1
                || c.given()
                    .iter()
                    .any(|g| !["--summary", "--errors", "--since"].contains(g))
            {
                return err("--summary and --errors take only --since TIME");
            }
            let which = if c.summary {
                history::Mode::Summary
            } else {
                history::Mode::Errors
            };
            let since = c.since.into_iter().next();
            return Ok(Opts {
                out,
                mode: Mode::History { which, since },
            });
        }
        if !c.since.is_empty() {
            return err("--since needs --summary or --errors");
        }
        if c.pstore {
            return Ok(Opts {
                out,
                mode: Mode::Pstore { dir: c.path },
            });
        }
        if c.mark_down {
            return match &c.prometheus {
                Some(p) if c.given() == ["--prometheus", "--mark-down"] => Ok(Opts {
                    out,
                    mode: Mode::MarkDown {
                        prometheus: p.clone(),
                    },
                }),
                _ => err("--mark-down takes --prometheus FILE and nothing else"),
            };
        }
        if c.timeout.is_some() && !c.follow {
            return err("--timeout needs --follow");
        }
        if c.retire.is_some() && !c.follow {
            return err("--retire needs --follow on the device");
        }
        let heartbeat = match c.heartbeat {
            None => HEARTBEAT,
            Some(s) if s > 0 && c.follow && c.prometheus.is_some() => Duration::from_secs(s),
            Some(_) => {
                return err("--heartbeat takes at least 1 second, with --follow --prometheus")
            }
        };
        let hptool_timeout = match c.hptool_timeout {
            None => HPTOOL_TIMEOUT,
            Some(0) => return err("--hptool-timeout must be at least 1 second"),
            Some(s) => Duration::from_secs(s),
        };
        let source = match (c.debugfs, c.xen_view, c.path) {
            (true, ..) => Source::Debugfs,
            (_, Some(v), _) => Source::XenView(v),
            (_, None, p) => Source::Path(p.unwrap_or_else(|| DEFAULT_DEVICE.into())),
        };
        Ok(Opts {
            out,
            mode: Mode::Dump(Dump {
                source,
                follow: c.follow,
                count: c.count,
                timeout: c.timeout.map(Duration::from_secs),
                prometheus: c.prometheus,
                retire: c.retire,
                heartbeat,
                hptool_timeout,
            }),
        })
    }
}

impl Cli {
    /// The options given, in the order of the definition.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--decode", self.decode),
            ("--json", self.json),
            ("--hex", self.hex),
            ("--raw", self.raw),
            ("PATH", self.path.is_some()),
            ("--debugfs", self.debugfs),
            ("--xen-view", self.xen_view.is_some()),
            ("--pstore", self.pstore),
            ("--summary", self.summary),
            ("--errors", self.errors),
            ("--since", !self.since.is_empty()),
            ("--prometheus", self.prometheus.is_some()),
            ("--follow", self.follow),
            ("--retire", self.retire.is_some()),
            ("--heartbeat", self.heartbeat.is_some()),
            ("--mark-down", self.mark_down),
            ("--hptool-timeout", self.hptool_timeout.is_some()),
            ("--count", self.count.is_some()),
            ("--timeout", self.timeout.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, g)| g.then_some(n))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Opts, Usage> {
        Opts::parse(std::iter::once("xen-mcelog-dump").chain(args.iter().copied()))
    }

    fn dump(args: &[&str]) -> (Out, Dump) {
        match parse(args) {
            Ok(Opts {
                out,
                mode: Mode::Dump(d),
            }) => (out, d),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn refused(args: &[&str], why: &str) {
        match parse(args) {
            Err(Usage::Error(m)) => assert!(m.contains(why), "{args:?}: {m}"),
            other => panic!("{args:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn the_default_is_the_device_one_line_per_record() {
        let (out, d) = dump(&[]);
        assert_eq!(out, Out::Line);
        assert_eq!(
            d,
            Dump {
                source: Source::Path(DEFAULT_DEVICE.into()),
                follow: false,
                count: None,
                timeout: None,
                prometheus: None,
                retire: None,
                heartbeat: HEARTBEAT,
                hptool_timeout: HPTOOL_TIMEOUT,
            }
        );
    }

    #[test]
    fn formats_sources_and_the_service_line() {
        assert_eq!(dump(&["-d", "x.bin"]).0, Out::Decode);
        assert_eq!(dump(&["-j"]).0, Out::Json);
        assert_eq!(dump(&["-x", "--count", "0x10", "f"]).1.count, Some(16));
        assert_eq!(dump(&["--raw"]).0, Out::Raw);
        assert_eq!(dump(&["x.bin"]).1.source, Source::Path("x.bin".into()));
        assert_eq!(dump(&["--debugfs"]).1.source, Source::Debugfs);
        assert_eq!(
            dump(&["--xen-view=v.bin"]).1.source,
            Source::XenView("v.bin".into())
        );
        // xen-mcelog-json.service's command line.
        let (out, d) = dump(&[
            "--json",
            "--follow",
            "--prometheus",
            "/p.prom",
            "--retire",
            "/etc/xen-mcelog/retire.conf",
            "--heartbeat",
            "10",
            "--hptool-timeout=5",
        ]);
        assert_eq!(out, Out::Json);
        assert!(d.follow);
        assert_eq!(d.prometheus.as_deref(), Some("/p.prom"));
        assert_eq!(d.retire.as_deref(), Some("/etc/xen-mcelog/retire.conf"));
        assert_eq!(d.heartbeat, Duration::from_secs(10));
        assert_eq!(d.hptool_timeout, Duration::from_secs(5));
        let (_, d) = dump(&["-f", "--count", "1", "--timeout", "1", "/dev/null"]);
        assert_eq!(d.timeout, Some(Duration::from_secs(1)));
        // The last of a repeated option wins, as before clap.
        assert_eq!(dump(&["--count", "1", "--count", "2"]).1.count, Some(2));
        assert_eq!(dump(&["-d", "--decode"]).0, Out::Decode);
    }

    #[test]
    fn the_other_modes() {
        let p = parse(&["--summary", "--since", "-7d"]).unwrap();
        assert_eq!(
            p.mode,
            Mode::History {
                which: history::Mode::Summary,
                since: Some("-7d".into())
            }
        );
        let p = parse(&["--errors", "--since=-1h"]).unwrap();
        assert_eq!(
            p.mode,
            Mode::History {
                which: history::Mode::Errors,
                since: Some("-1h".into())
            }
        );
        let p = parse(&["--errors"]).unwrap();
        assert!(matches!(p.mode, Mode::History { since: None, .. }));
        let p = parse(&["-d", "--pstore", "/tmp/p"]).unwrap();
        assert_eq!(p.out, Out::Decode);
        assert_eq!(
            p.mode,
            Mode::Pstore {
                dir: Some("/tmp/p".into())
            }
        );
        assert_eq!(
            parse(&["--pstore"]).unwrap().mode,
            Mode::Pstore { dir: None }
        );
        for args in [
            &["--prometheus", "f", "--mark-down"][..],
            &["--mark-down", "--prometheus=f"],
        ] {
            assert_eq!(
                parse(args).unwrap().mode,
                Mode::MarkDown {
                    prometheus: "f".into()
                }
            );
        }
    }

    #[test]
    fn bad_combinations_are_refused() {
        refused(&["-d", "-j"], "cannot be used with");
        refused(&["--json", "--raw"], "cannot be used with");
        refused(&["--debugfs", "x"], "cannot be used with");
        refused(&["--xen-view", "x", "--debugfs"], "cannot be used with");
        refused(&["--xen-view", "x", "y"], "cannot be used with");
        refused(&["a", "b"], "unexpected argument 'b'");
        refused(&["--follow", "--debugfs"], "cannot be used with");
        refused(&["--follow", "--xen-view", "x"], "cannot be used with");
        refused(&["--pstore", "--follow"], "cannot be used with");
        refused(&["--pstore", "a", "b"], "unexpected argument 'b'");
        refused(&["--timeout", "1"], "--timeout needs --follow");
        refused(&["--count", "x"], "invalid number 'x'");
        refused(&["--count"], "a value is required");
        refused(&["--bogus"], "unexpected argument '--bogus'");
        refused(&["--retire", "c", "/dev/null"], "--retire needs --follow");
        refused(&["--follow", "--hptool-timeout", "0"], "at least 1 second");
        refused(&["--follow", "--heartbeat", "5"], "--heartbeat takes");
        refused(
            &["--prometheus", "p", "--heartbeat", "5"],
            "--heartbeat takes",
        );
        refused(
            &["--follow", "--prometheus", "p", "--heartbeat", "0"],
            "--heartbeat takes",
        );
        refused(&["--mark-down"], "--mark-down takes");
        refused(
            &["--mark-down", "--prometheus", "p", "-d"],
            "--mark-down takes",
        );
        refused(&["--summary", "--errors"], "cannot be used with");
        refused(&["--since", "-1h"], "--since needs --summary or --errors");
        refused(&["--json", "--since=today"], "--since needs");
        refused(&["--summary", "--json"], "take only --since");
        refused(&["--errors", "--follow"], "take only --since");
        refused(&["--summary", "/dev/xen_mcelog"], "take only --since");
        refused(&["--errors", "--since"], "a value is required");
        refused(
            &["--summary", "--since", "a", "--since", "b"],
            "take only --since",
        );
    }

    #[test]
    fn help_is_the_whole_manual() {
        for h in ["-h", "--help"] {
            let Err(Usage::Help(text)) = parse(&[h]) else {
                panic!("{h}");
            };
            for want in [
                "Usage: xen-mcelog-dump [FORMAT]",
                "--summary",
                "EXIT STATUS:",
                "(default 30)",
            ] {
                assert!(text.contains(want), "{h}: {want} in\n{text}");
            }
        }
    }
}
