// SPDX-License-Identifier: GPL-2.0-only

//! `xen-mcelog-dump --summary` and `--errors` as a user runs them, with a
//! fake journalctl (`XMC_JOURNALCTL`) that prints a saved
//! `journalctl -o json` of xen-mcelog-json.service: the arguments journalctl
//! gets, the text, the exit codes, journalctl failing or missing, and the
//! refusals of bad command lines.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use xmc_core::record::{XenInfo, ADDR_SPACE_MACHINE, DOMID_NONE, XEN_INFO_URGENT};
use xmc_tools::format::json_record;
use xmc_tools::Mce;

mod scratch;
use scratch::Scratch;

const DUMP: &str = env!("CARGO_BIN_EXE_xen-mcelog-dump");

/// A journalctl in `d` that saves its arguments (one a line) in `d/args`,
/// prints `d/journal.json` and exits with `rc`, saying `msg` on stderr
/// first when given.
fn fake_journalctl(d: &Path, journal: &str, rc: i32, msg: &str) -> PathBuf {
    std::fs::write(d.join("journal.json"), journal).unwrap();
    let p = d.join("journalctl");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}/args'\n[ -z '{msg}' ] || echo '{msg}' >&2\n\
             cat '{0}/journal.json'\nexit {rc}\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn run_with(journalctl: &Path, args: &[&str]) -> Output {
    Command::new(DUMP)
        .args(args)
        .env("XMC_JOURNALCTL", journalctl)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A journal entry as `journalctl -o json --output-fields=MESSAGE` prints it.
fn entry(usec: u64, seqnum: u64, message: &str) -> String {
    format!(
        "{{\"__CURSOR\":\"s=2f7a8a1bd6b54d0c9a4d5d6c1f6b1a0e;i={seqnum:x};\
         b=8e1c2f5b3a6d4e7f9a0b1c2d3e4f5a6b;m=3b9aca0;t={usec:x};x=9f8e7d6c5b4a3928\",\
         \"__REALTIME_TIMESTAMP\":\"{usec}\",\"__MONOTONIC_TIMESTAMP\":\"62500000\",\
         \"_BOOT_ID\":\"8e1c2f5b3a6d4e7f9a0b1c2d3e4f5a6b\",\"__SEQNUM\":\"{seqnum}\",\
         \"__SEQNUM_ID\":\"2f7a8a1bd6b54d0c9a4d5d6c1f6b1a0e\",\"MESSAGE\":{}}}",
        Value::String(message.into())
    )
}

/// Corrected errors in bank 3 as the system test injects them (QEMU's
/// `mce 0 3 0x9c0000000000017a 0 ADDR 0x86`), the JSON line the service
/// writes for each (format.rs, the same code as `--json`).
fn corrected(addr: u64, seq: u64, time: u64) -> String {
    let m = Mce {
        status: 0x9C00_0000_0000_017A,
        addr,
        misc: 0x86,
        mcgstatus: 0x5,
        time,
        cpuid: 0x506E3,
        bank: 3,
        finished: 1,
        mcgcap: 0x100_010A,
        ..Mce::default()
    };
    let x = XenInfo {
        xen_cpu: 0,
        mc_flags: 0x41,
        domid: DOMID_NONE,
        running_domid: 0x7FFF,
        addr_space: ADDR_SPACE_MACHINE,
        flags: XEN_INFO_URGENT,
        ..XenInfo::default()
    };
    json_record(&m, Some(&(seq, x)))
}

fn journal() -> String {
    let t = 1_795_622_700_000_000u64;
    [
        entry(
            t,
            1,
            "Started xen-mcelog-json.service - Xen dom0 machine checks (/dev/xen_mcelog) as \
             JSON lines into the journal.",
        ),
        entry(t + 1, 2, "retire: page retirement is off (action = off)"),
        entry(t + 19_000_000, 3, &corrected(0x3A5B_1000, 1, 1_795_622_719)),
        entry(t + 80_000_000, 4, &corrected(0x3A5B_1040, 2, 1_795_622_780)),
        entry(t + 90_000_000, 5, &corrected(0x3A6C_2000, 3, 1_795_622_790)),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn summary_and_errors_from_the_journal() {
    let d = Scratch::new("history-ok");
    let j = fake_journalctl(&d, &journal(), 0, "");
    let args = || std::fs::read_to_string(d.join("args")).unwrap();

    let o = run_with(&j, &["--summary"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert_eq!(
        args(),
        "-o\njson\n--no-pager\n--all\n--output-fields=MESSAGE\n-u\nxen-mcelog-json.service\n"
    );
    let s = stdout(&o);
    assert!(
        s.starts_with(
            "Machine checks in the journal of xen-mcelog-json.service: 3 records, \
             2026-11-25 16:05:19 UTC to 2026-11-25 16:06:30 UTC.\n"
        ),
        "{s}"
    );
    assert!(
        s.contains("\n  corrected        3  2026-11-25 16:06:30\n"),
        "{s}"
    );
    assert!(
        s.contains("\n  SOCKET  BANK  RECORDS  CORRECTED\n       0     3        3          3\n")
    );
    assert!(
        s.contains("\n  0x3a5b1000        2          2  2026-11-25 16:06:20\n"),
        "{s}"
    );
    assert!(
        s.contains("\n  0x3a6c2000        1          1  2026-11-25 16:06:30\n"),
        "{s}"
    );

    for since in [&["--since", "-1h"][..], &["--since=-1h"]] {
        let mut a = vec!["--errors"];
        a.extend_from_slice(since);
        let o = run_with(&j, &a);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            args().ends_with("\n-u\nxen-mcelog-json.service\n--since=-1h\n"),
            "{}",
            args()
        );
        let e = stdout(&o);
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(lines[0].starts_with("TIME (UTC)  "), "{e}");
        assert_eq!(
            lines[2],
            "2026-11-25 16:06:20  corrected    0       0     3  0x9c0000000000017a  0x3a5b1040  \
             class=corrected bits=VAL,EN,MISCV,ADDRV addr_space=machine xen_flags=urgent"
        );
    }
}

#[test]
fn no_records_unreadable_ones_and_journalctl_failing() {
    let d = Scratch::new("history-odd");
    // Nothing but the service's own lines (and journalctl's, as a user who
    // may not read the system journal sees it).
    let only =
        entry(1, 1, "retire: page retirement is off (action = off)") + "\n-- No entries --\n";
    for text in ["", only.as_str()] {
        let j = fake_journalctl(&d, text, 0, "");
        for mode in ["--summary", "--errors"] {
            let o = run_with(&j, &[mode]);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert_eq!(
                stdout(&o),
                "No machine-check records in the journal of xen-mcelog-json.service.\n"
            );
        }
    }

    // A damaged record among good ones: the rest are shown, exit 1, and
    // stderr says what could not be read.
    let damaged = journal() + &entry(1_795_622_800_000_000, 9, "{\"cpu\":0,\"bank\":3,\"stat");
    let j = fake_journalctl(&d, &damaged, 0, "");
    let o = run_with(&j, &["--errors"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 4);
    assert!(
        stderr(&o).starts_with(
            "xen-mcelog-dump: 1 journal entry of xen-mcelog-json.service that should be a \
             machine-check record could not be read (left out above)\n  \
             2026-11-25 16:06:40 UTC: record is not JSON: "
        ),
        "{}",
        stderr(&o)
    );

    // journalctl refuses (a TIME it does not understand): its message, ours, exit 3.
    let j = fake_journalctl(&d, "", 1, "Failed to parse timestamp: bogus");
    let o = run_with(&j, &["--summary", "--since", "bogus"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    let e = stderr(&o);
    assert!(
        e.starts_with("Failed to parse timestamp: bogus\nxen-mcelog-dump: "),
        "{e}"
    );
    assert!(e.contains("journalctl failed (exit status: 1)"), "{e}");

    // No journalctl at all.
    let o = run_with(Path::new("/nonexistent/journalctl"), &["--summary"]);
    assert_eq!(o.status.code(), Some(3));
    let e = stderr(&o);
    assert!(
        e.starts_with(
            "xen-mcelog-dump: cannot run /nonexistent/journalctl: No such file or directory"
        ),
        "{e}"
    );
    assert!(
        e.contains("journal of xen-mcelog-json.service with journalctl"),
        "{e}"
    );
}

#[test]
fn bad_command_lines_are_refused() {
    // Refused before journalctl runs: it would fail the test if it ran.
    let d = Scratch::new("history-usage");
    let j = fake_journalctl(&d, "", 7, "journalctl ran");
    for args in [
        &["--summary", "--errors"][..],
        &["--since", "-1h"],
        &["--json", "--since=today"],
        &["--summary", "--json"],
        &["--errors", "--follow"],
        &["--summary", "/dev/xen_mcelog"],
        &["--errors", "--since"],
        &["--summary", "--since", "a", "--since", "b"],
    ] {
        let o = run_with(&j, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("journalctl ran"), "{args:?}");
        assert!(
            stderr(&o).contains("(see xen-mcelog-dump --help)"),
            "{args:?}"
        );
    }
    let o = run_with(&j, &["--help"]);
    assert!(stdout(&o).contains("--summary") && stdout(&o).contains("--errors"));
}
