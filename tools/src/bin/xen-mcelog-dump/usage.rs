// SPDX-License-Identifier: GPL-2.0-only

//! What the tool says to its user: `--help`, a usage error, and what to
//! do about the common failures.

use std::io;
use std::path::Path;
use std::process::ExitCode;

use xmc_tools::sys;

use crate::{DEBUGFS_RAW, DEBUGFS_XEN};

pub(crate) const USAGE: &str = "\
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
    xen-mcelog-dump --summary|--errors [--since TIME]

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
    --summary      the history at a glance, from the journal of
                   xen-mcelog-json.service (journalctl -o json; the device is
                   not touched): the records per severity, per socket, per
                   socket and bank, and per 4 KiB machine page (records with
                   a machine address), with the time of the last; like
                   ras-mc-ctl --summary for rasdaemon's database. Reading
                   the system journal needs root (or group systemd-journal
                   or adm).
    --errors       the same records, one line each, oldest first: time
                   (UTC; the record's own, else the journal's), severity,
                   CPU, socket, bank, MCi_STATUS, MCi_ADDR (when ADDRV) and
                   the JSON's words: class= bits= addr_space= domid=
                   maddr= xen_flags= recovery= result= mfn= injected.
                   Journal lines that should be records but cannot be read
                   are left out, counted and named on stderr (exit 1).
    --since TIME   with --summary or --errors: only the journal since TIME,
                   as journalctl --since takes it (\"2026-11-25 16:00\",
                   \"-1h\", yesterday, @EPOCH).
    --prometheus F keep F as a node_exporter textfile (textfile collector):
                   xen_mcelog_records_total{severity=,boot=} (every
                   severity from the start, at 0),
                   xen_mcelog_bank_records_total{severity=,bank=,socket=},
                   xen_mcelog_page_corrected_errors_total{socket=,page=},
                   xen_mcelog_overflows_total (records lost: the device's
                   MCE_GETCLEAR_FLAGS said MCE_OVERFLOW, also logged at
                   err), the time of the last record, and the reader's
                   liveness: xen_mcelog_reader_up, its start time, its last
                   read (tools.md, \"Metrics and alerts\"); from the device,
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
                   \"recovery\" (null when unknown). Schema: tools.md,
                   \"JSON schema\".
    -x, --hex      a hex dump of each record's 128 bytes, with offsets.
    --raw          the records' bytes, unchanged (to save a dump:
                   xen-mcelog-dump --raw > saved.bin; read it back with
                   xen-mcelog-dump saved.bin).

EXIT STATUS
    0  success (also when there were no records)
    1  the input ended in a partial record (the whole records were printed);
       --summary, --errors: journal lines that should be records could not
       be read (the others were counted)
    2  usage error
    3  the input could not be opened or read (the message says why: module
       not loaded, root needed, debugfs not mounted); --summary, --errors:
       journalctl could not be run or failed
    4  --follow --count N --timeout S: fewer than N records arrived in time

EXAMPLES
    xen-mcelog-dump --decode --debugfs     look without taking anything
    xen-mcelog-dump --json --follow        stream to a log shipper
    xen-mcelog-dump --json --follow --prometheus \\
        /var/lib/prometheus/node-exporter/xen_mcelog.prom
                                           the same, and keep counters
    xen-mcelog-dump --raw > mce.bin        save (consumes) the queued records
    xen-mcelog-dump --summary --since -7d  the last week of the journal

SEE ALSO
    mcelog(8), xmc-inject --help, modinfo xen_mcelog";

pub(crate) fn usage(msg: &str) -> ExitCode {
    eprintln!("xen-mcelog-dump: {msg} (see xen-mcelog-dump --help)");
    ExitCode::from(2)
}

/// What to do about the common failures.
pub(crate) fn hint(path: &str, e: &io::Error) -> String {
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
