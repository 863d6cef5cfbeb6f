// SPDX-License-Identifier: GPL-2.0-only

//! Tests of [`super`]: real journal lines through the summary and the list.

use super::*;
use crate::format::json_record;
use crate::Mce;
use xmc_core::record::{
    XenInfo, ADDR_SPACE_GUEST, ADDR_SPACE_MACHINE, DOMID_NONE, XEN_INFO_PREVIOUS_BOOT,
    XEN_INFO_RECOVERY, XEN_INFO_URGENT,
};

/// A journal entry as `journalctl -o json --output-fields=MESSAGE`
/// prints it (systemd 257: the always-printed fields, then MESSAGE).
fn entry(usec: u64, seqnum: u64, message: &Value) -> String {
    format!(
        "{{\"__CURSOR\":\"s=2f7a8a1bd6b54d0c9a4d5d6c1f6b1a0e;i={seqnum:x};\
             b=8e1c2f5b3a6d4e7f9a0b1c2d3e4f5a6b;m=3b9aca0;t={usec:x};x=9f8e7d6c5b4a3928\",\
             \"__REALTIME_TIMESTAMP\":\"{usec}\",\"__MONOTONIC_TIMESTAMP\":\"62500000\",\
             \"_BOOT_ID\":\"8e1c2f5b3a6d4e7f9a0b1c2d3e4f5a6b\",\"__SEQNUM\":\"{seqnum}\",\
             \"__SEQNUM_ID\":\"2f7a8a1bd6b54d0c9a4d5d6c1f6b1a0e\",\"MESSAGE\":{message}}}"
    )
}

fn text_entry(usec: u64, seqnum: u64, line: &str) -> String {
    entry(usec, seqnum, &Value::String(line.into()))
}

/// docs/tools.md's example line, exactly as the service wrote it in the
/// sandbox (tools-fleet): a corrected #MC, bank 2, machine address.
const EXAMPLE_LINE: &str = "{\"cpu\":0,\"extcpu\":0,\"bank\":2,\"status\":\"0x9c0000000000017a\",\
        \"addr\":\"0x20000000\",\"misc\":\"0x86\",\"mcgstatus\":\"0x5\",\"ip\":\"0x0\",\"cs\":0,\
        \"tsc\":\"0x0\",\"time\":1795622719,\"cpuvendor\":0,\"cpuid\":\"0x506e3\",\"socketid\":0,\
        \"apicid\":0,\"mcgcap\":\"0x100010a\",\"synd\":\"0x0\",\"ipid\":\"0x0\",\"ppin\":\"0x0\",\
        \"microcode\":0,\"mce_severity\":0,\"finished\":1,\"inject_flags\":0,\"kflags\":\"0x0\",\
        \"injected\":false,\"class\":\"corrected\",\"status_bits\":[\"VAL\",\"EN\",\"MISCV\",\
        \"ADDRV\"],\"time_utc\":\"2026-11-25T16:05:19Z\",\"severity\":\"corrected\",\"seq\":5,\
        \"xen_cpu\":0,\"domid\":null,\"running_domid\":32767,\"addr_space\":\"machine\",\
        \"maddr\":\"0x20000000\",\"mc_flags\":\"0x41\",\"xen_flags\":[\"urgent\"],\"recovery\":null}";

/// What the service writes for `m` with its Xen side (format.rs, the
/// same function as `--json`).
fn line(m: &Mce, seq: u64, x: XenInfo) -> String {
    json_record(m, Some(&(seq, x)))
}

fn machine_ce(addr: u64, bank: u8, socketid: u32, time: u64) -> (Mce, XenInfo) {
    (
        Mce {
            status: 0x9C00_0000_0000_009F,
            addr,
            misc: 0x86,
            mcgstatus: 0,
            time,
            cpuid: 0x506E3,
            bank,
            extcpu: socketid * 4,
            socketid,
            mcgcap: 0x100_0C16,
            finished: 1,
            ..Mce::default()
        },
        XenInfo {
            xen_cpu: socketid * 4,
            mc_flags: 0x8,
            domid: DOMID_NONE,
            running_domid: 0x7FFF,
            addr_space: ADDR_SPACE_MACHINE,
            ..XenInfo::default()
        },
    )
}

/// A realistic journal: systemd's start line, the service's start-up
/// and retire lines, records of every kind, a stop and a restart.
fn journal() -> String {
    let t0 = 1_795_622_700_000_000u64;
    let mut j = vec![
        text_entry(
            t0,
            1100,
            "Started xen-mcelog-json.service - Xen dom0 machine checks (/dev/xen_mcelog) \
                 as JSON lines into the journal.",
        ),
        text_entry(
            t0 + 1000,
            1101,
            "retire: page retirement is off (action = off)",
        ),
        text_entry(t0 + 19_512_034, 1102, EXAMPLE_LINE),
    ];
    // Corrected memory errors: two on one page, one on another socket.
    let (m, x) = machine_ce(0x3A5B_2040, 7, 0, 1_795_622_800);
    j.push(text_entry(t0 + 100_000_000, 1103, &line(&m, 6, x)));
    let (m, x) = machine_ce(0x3A5B_2FC0, 7, 0, 1_795_622_900);
    j.push(text_entry(t0 + 200_000_000, 1104, &line(&m, 7, x)));
    let (m, x) = machine_ce(0x1_2345_6000, 9, 1, 1_795_623_000);
    j.push(text_entry(t0 + 300_000_000, 1105, &line(&m, 8, x)));
    // An SRAO in a guest's page, which Xen offlined (recovery entry).
    let srao = Mce {
        status: 0xBD00_0000_0000_00C0,
        addr: 0x7000_1040,
        misc: 0x86,
        mcgstatus: 0x5,
        time: 1_795_623_100,
        bank: 1,
        extcpu: 1,
        socketid: 0,
        mcgcap: 0x100_0C16,
        finished: 1,
        ..Mce::default()
    };
    let x = XenInfo {
        mfn: 0x3A6C2,
        rec_status: 0x1000 | 0x4 | (5 << 16),
        xen_cpu: 1,
        mc_flags: 0x44,
        domid: 5,
        running_domid: 0,
        addr_space: ADDR_SPACE_GUEST,
        rec_types: 0x1,
        rec_flags: 0x1,
        flags: XEN_INFO_RECOVERY | XEN_INFO_URGENT,
    };
    j.push(text_entry(t0 + 400_000_000, 1106, &line(&srao, 9, x)));
    j.push(text_entry(
        t0 + 400_001_000,
        1107,
        "Stopping xen-mcelog-json.service - Xen dom0 machine checks...",
    ));
    // The fatal #MC of a previous boot, from ERST, after the restart.
    let fatal = Mce {
        status: 0xB200_0000_0000_0402,
        mcgstatus: 0x4,
        time: 1_795_622_000,
        bank: 4,
        extcpu: 0,
        mcgcap: 0x100_0C16,
        finished: 1,
        ..Mce::default()
    };
    let x = XenInfo {
        xen_cpu: u32::MAX,
        domid: DOMID_NONE,
        running_domid: DOMID_NONE,
        flags: XEN_INFO_PREVIOUS_BOOT,
        ..XenInfo::default()
    };
    j.push(text_entry(t0 + 500_000_000, 1108, &line(&fatal, 1, x)));
    j.join("\n") + "\n"
}

#[test]
fn reads_the_records_and_skips_the_rest() {
    let h = History::from_text(&journal());
    assert_eq!(h.records.len(), 6, "{:?}", h.records);
    assert_eq!(h.unreadable, 0);
    assert_eq!(h.unreadable_note(), None);
    let r = &h.records[0];
    assert_eq!(
        r,
        &Record {
            time: 1_795_622_719,
            severity: "corrected".into(),
            cpu: Some(0),
            socket: Some(0),
            bank: 2,
            status: 0x9C00_0000_0000_017A,
            addr: Some(0x2000_0000),
            maddr: Some(0x2000_0000),
            decoded: "class=corrected bits=VAL,EN,MISCV,ADDRV addr_space=machine \
                          xen_flags=urgent"
                .into(),
        }
    );
    let srao = &h.records[4];
    assert_eq!(srao.severity, "uncorrected-recoverable");
    assert_eq!(srao.addr, Some(0x7000_1040));
    assert_eq!(srao.maddr, Some(0x3A6C_2040));
    assert_eq!(
        srao.decoded,
        "class=SRAO bits=VAL,UC,EN,MISCV,ADDRV,S addr_space=guest domid=5 maddr=0x3a6c2040 \
             xen_flags=recovery,urgent recovery=page_offline result=pending,owned mfn=0x3a6c2"
    );
    let fatal = &h.records[5];
    assert_eq!(fatal.severity, "fatal");
    assert_eq!((fatal.cpu, fatal.addr, fatal.maddr), (Some(0), None, None));
    assert_eq!(
        fatal.decoded,
        "class=fatal bits=VAL,UC,EN,PCC addr_space=none xen_flags=previous_boot"
    );
}

#[test]
fn summary_counts_per_severity_socket_bank_and_page() {
    let h = History::from_text(&journal());
    let s = h.summary(None);
    let want = "\
Machine checks in the journal of xen-mcelog-json.service: 6 records, 2026-11-25 15:53:20 UTC to 2026-11-25 16:11:40 UTC.

By severity:
  SEVERITY                 RECORDS  LAST (UTC)
  corrected                      4  2026-11-25 16:10:00
  uncorrected-recoverable        1  2026-11-25 16:11:40
  fatal                          1  2026-11-25 15:53:20

By socket:
  SOCKET  RECORDS  CORRECTED  UNCORRECTED-RECOVERABLE  FATAL
       0        5          3                        1      1
       1        1          1                        0      0

By bank:
  SOCKET  BANK  RECORDS  CORRECTED  UNCORRECTED-RECOVERABLE  FATAL
       0     1        1          0                        1      0
       0     2        1          1                        0      0
       0     4        1          0                        0      1
       0     7        2          2                        0      0
       1     9        1          1                        0      0

By memory page (4 KiB, machine address):
  PAGE         RECORDS  CORRECTED  UNCORRECTED-RECOVERABLE  FATAL  LAST (UTC)
  0x20000000         1          1                        0      0  2026-11-25 16:05:19
  0x3a5b2000         2          2                        0      0  2026-11-25 16:08:20
  0x3a6c2000         1          0                        1      0  2026-11-25 16:11:40
  0x123456000        1          1                        0      0  2026-11-25 16:10:00
  (1 record has no machine address)
";
    assert_eq!(s, want, "\n{s}");
    let one = History {
        records: h.records[..1].to_vec(),
        ..History::default()
    };
    assert!(one.summary(None).starts_with(
        "Machine checks in the journal of xen-mcelog-json.service: 1 record, \
             2026-11-25 16:05:19 UTC.\n"
    ));
    let s = h.summary(Some("-1h"));
    assert!(s.starts_with(
        "Machine checks in the journal of xen-mcelog-json.service since -1h: 6 records, "
    ));
}

#[test]
fn errors_one_line_a_record() {
    let h = History::from_text(&journal());
    let e = h.errors(None);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 7, "{e}");
    assert_eq!(
        lines[0],
        "TIME (UTC)           SEVERITY                 CPU  SOCKET  BANK  STATUS              \
             ADDRESS      DECODED"
    );
    assert_eq!(
        lines[1],
        "2026-11-25 16:05:19  corrected                  0       0     2  0x9c0000000000017a  \
             0x20000000   class=corrected bits=VAL,EN,MISCV,ADDRV addr_space=machine \
             xen_flags=urgent"
    );
    assert_eq!(
        lines[4],
        "2026-11-25 16:10:00  corrected                  4       1     9  0x9c0000000000009f  \
             0x123456000  class=corrected bits=VAL,EN,MISCV,ADDRV addr_space=machine"
    );
    assert!(lines[5].starts_with(
        "2026-11-25 16:11:40  uncorrected-recoverable    1       0     1  0xbd000000000000c0  \
             0x70001040   class=SRAO "
    ));
    assert_eq!(
        lines[6],
        "2026-11-25 15:53:20  fatal                      0       0     4  0xb200000000000402  \
             -            class=fatal bits=VAL,UC,EN,PCC addr_space=none xen_flags=previous_boot"
    );
}

#[test]
fn no_records_says_so() {
    let only_other = [
        text_entry(
            1,
            1,
            "Started xen-mcelog-json.service - Xen dom0 machine checks.",
        ),
        text_entry(2, 2, "retire: page retirement is off (action = off)"),
        // journalctl's own line when there is nothing (not JSON).
        "-- No entries --".into(),
        String::new(),
    ]
    .join("\n");
    for text in ["", only_other.as_str()] {
        let h = History::from_text(text);
        assert!(h.records.is_empty());
        assert_eq!(h.unreadable, 0);
        assert_eq!(
            h.summary(None),
            "No machine-check records in the journal of xen-mcelog-json.service.\n"
        );
        assert_eq!(
            h.errors(Some("today")),
            "No machine-check records in the journal of xen-mcelog-json.service since \
                 today.\n"
        );
    }
}

#[test]
fn a_message_of_bytes_is_read_too() {
    // Not valid UTF-8 anywhere (a byte 0xff after the object): journalctl
    // prints MESSAGE as an array of numbers.
    let mut bytes = EXAMPLE_LINE.as_bytes().to_vec();
    let bad = entry(
        1_795_622_719_000_000,
        7,
        &Value::Array(bytes.iter().map(|&b| Value::from(b)).collect()),
    );
    let h = History::from_text(&bad);
    assert_eq!(h.records.len(), 1);
    assert_eq!(h.records[0].bank, 2);
    bytes.push(0xFF);
    let bad = entry(
        1_795_622_719_000_000,
        8,
        &Value::Array(bytes.iter().map(|&b| Value::from(b)).collect()),
    );
    let h = History::from_text(&bad);
    assert_eq!(h.records.len(), 0);
    assert_eq!(h.unreadable, 1, "{:?}", h.reasons);
    // An array of something else (a field given twice): not a record.
    let two = entry(1, 9, &serde_json::json!(["a", "b"]));
    assert_eq!(parse_entry(&two), Entry::Other);
}

#[test]
fn unreadable_entries_are_counted_and_named() {
    let t = 1_795_622_719_000_000u64;
    let mut j = vec![
        // Cut short (a line journald split, a disk-full truncation).
        text_entry(t, 1, &EXAMPLE_LINE[..200]),
        // A JSON object without the fields of a record.
        text_entry(t, 2, "{\"hello\":1}"),
        // `bank` of the wrong type.
        text_entry(t, 3, &EXAMPLE_LINE.replace("\"bank\":2", "\"bank\":\"2\"")),
        // `status` not a hex number.
        text_entry(t, 4, &EXAMPLE_LINE.replace("0x9c0000000000017a", "0xzz")),
        // journalctl's output itself damaged.
        "{\"MESSAGE\":".into(),
        text_entry(t, 5, EXAMPLE_LINE),
    ];
    j.push(text_entry(t, 6, "[1,2]"));
    let h = History::from_text(&j.join("\n"));
    assert_eq!(h.records.len(), 1);
    assert_eq!(h.unreadable, 5);
    let note = h.unreadable_note().unwrap();
    assert!(
        note.starts_with(
            "5 journal entries of xen-mcelog-json.service that should be machine-check \
                 records could not be read (left out above)\n  2026-11-25 16:05:19 UTC: record \
                 is not JSON: "
        ),
        "{note}"
    );
    assert!(note.contains("\n  2026-11-25 16:05:19 UTC: record has no valid \"status\""));
    assert!(note.contains("\n  2026-11-25 16:05:19 UTC: record has no valid \"bank\""));
    assert!(note.ends_with("\n  ..."), "{note}");
    assert_eq!(note.lines().count(), 5);
    assert!(matches!(
        parse_entry("{\"MESSAGE\":"),
        Entry::Unreadable(w) if w.starts_with("journal entry is not JSON: ")
    ));
    // One without a journal time says so without one.
    let one = History::from_text(&text_entry(0, 1, "{}").replace("\"0\"", "\"x\""));
    assert_eq!(one.reasons, ["record has no valid \"status\""]);
}

#[test]
fn older_or_sparse_records() {
    // No severity (computed from status and mcgcap), no time (the
    // journal's), no Xen side (nulls), no class or bits.
    let r = parse_record(
        "{\"cpu\":3,\"bank\":5,\"status\":\"0xbd000000000000c0\",\"addr\":\"0x1000\",\
             \"mcgcap\":\"0x1000c16\",\"time\":0,\"maddr\":null,\"addr_space\":null}",
        1_795_622_719,
    )
    .unwrap();
    assert_eq!(r.severity, "uncorrected-recoverable");
    assert_eq!(r.time, 1_795_622_719);
    assert_eq!(
        (r.cpu, r.socket, r.addr, r.maddr),
        (Some(3), None, Some(0x1000), None)
    );
    assert_eq!(r.decoded, "");
    // Without MCG_CAP.SER_P the S/AR bits mean nothing.
    let r = parse_record("{\"bank\":0,\"status\":\"0xbd00000000000000\"}", 0).unwrap();
    assert_eq!(r.severity, "uncorrected-recoverable");
    let r = parse_record(
        "{\"bank\":0,\"status\":\"0xbd00000000000000\",\"mcgcap\":\"0x10a\"}",
        0,
    )
    .unwrap();
    assert_eq!(r.severity, "uncorrected");
    // A severity this version does not know is shown as it is, after
    // the known ones.
    let mut h = History::from_text(&journal());
    let mut r = h.records[0].clone();
    r.severity = "deferred".into();
    h.records.push(r);
    let s = h.summary(None);
    assert!(s.contains("\n  corrected                      4  "), "{s}");
    assert!(s.contains("\n  deferred                       1  2026-11-25 16:05:19\n"));
    assert!(s.contains("  SOCKET  RECORDS  CORRECTED  UNCORRECTED-RECOVERABLE  FATAL  DEFERRED\n"));
    // A record without a time at all.
    h.records[0].time = 0;
    assert!(h
        .errors(None)
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("-                    corrected"));
}

#[test]
fn journalctl_arguments() {
    assert_eq!(
        journalctl_args(None),
        [
            "-o",
            "json",
            "--no-pager",
            "--all",
            "--output-fields=MESSAGE",
            "-u",
            "xen-mcelog-json.service"
        ]
    );
    assert_eq!(journalctl_args(Some("-1h")).last().unwrap(), "--since=-1h");
}

#[test]
fn tables_align() {
    let t = table(
        "  ",
        &["A", "NUM", "LAST"],
        &[
            vec!["long name".into(), "1".into(), "x".into()],
            vec!["b".into(), "12345".into(), "".into()],
        ],
        &[1],
    );
    assert_eq!(
        t,
        "  A            NUM  LAST\n  long name      1  x\n  b          12345\n"
    );
}
