// SPDX-License-Identifier: GPL-2.0-only

//! `xen-mcelog-dump --summary` and `--errors`: the machine checks that
//! xen-mcelog-json.service wrote into the journal, at a glance, as
//! `ras-mc-ctl --summary` and `--errors` show rasdaemon's users what its
//! database holds. journald is the store: nothing is kept here, and the
//! device is not touched (nothing is consumed).
//!
//! What the service writes (tools/systemd/xen-mcelog-json.service,
//! `xen-mcelog-dump --follow --json`): on stdout one JSON object a line and
//! record (the README's "JSON schema"); on stderr, into the same journal,
//! its own lines (start-up, errors, the `retire: ` lines of page
//! retirement, with a `<N>` priority prefix journald strips); systemd adds
//! its lines about the unit. `journalctl -o json` prints each journal entry
//! as one JSON object whose `MESSAGE` is that line: a string, or an array
//! of its bytes when it is not valid UTF-8 (systemd's journalctl(1),
//! "json"). An entry whose MESSAGE starts with `{` is a record; one that
//! does not read as a record (a damaged line, a field missing) is counted
//! as unreadable and reported, never fatal; every other entry is skipped.
//!
//! The pure part: journal lines -> [`History`] -> the two texts, host
//! tested. [`run`] runs journalctl (the program named by
//! `XMC_JOURNALCTL`, for tests, else `journalctl` from `PATH`).

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

use crate::args::parse_hex;
use crate::decode::utc;
use crate::xen::{severity, SEVERITIES};

/// The unit whose journal is read.
pub const UNIT: &str = "xen-mcelog-json.service";
/// Names another program to run instead of `journalctl` (tests).
pub const JOURNALCTL_ENV: &str = "XMC_JOURNALCTL";
/// MCi_STATUS.ADDRV: MCi_ADDR is valid.
const ADDRV: u64 = 1 << 58;
/// The reasons kept of unreadable entries (the rest are counted).
const REASONS_KEPT: usize = 3;

/// What is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--summary`: counts per severity, socket, bank and page.
    Summary,
    /// `--errors`: one line a record.
    Errors,
}

/// One machine-check record of the journal, as much as the two texts show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Seconds since the epoch: the record's `time` (the module's wall clock
    /// when it fetched the record from Xen), else the journal entry's time;
    /// 0 when neither is known.
    pub time: u64,
    /// The JSON `severity` (from `status` and `mcgcap` when it has none).
    pub severity: String,
    /// The CPU mcelog shows (Xen's physical CPU).
    pub cpu: Option<u64>,
    /// `socketid`.
    pub socket: Option<u64>,
    /// The MCA bank.
    pub bank: u64,
    /// MCi_STATUS.
    pub status: u64,
    /// MCi_ADDR as reported, when ADDRV says it is valid.
    pub addr: Option<u64>,
    /// The machine address (`maddr`), when the record has one.
    pub maddr: Option<u64>,
    /// The rest of the JSON in words: class, status bits, the Xen side.
    pub decoded: String,
}

/// What a journal entry is.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A record.
    Record(Box<Record>),
    /// Not a record (another line of the service, systemd's, not JSON).
    Other,
    /// A line that should be a record but does not read as one: why.
    Unreadable(String),
}

/// The records of the journal, in its order (oldest first).
#[derive(Debug, Default)]
pub struct History {
    /// The records read.
    pub records: Vec<Record>,
    /// Entries that should have been records and could not be read.
    pub unreadable: u64,
    /// Why, for the first few of them.
    pub reasons: Vec<String>,
}

/// The arguments for journalctl: every entry of the unit, JSON, in full
/// (`--all`: fields longer than 4096 bytes would be null), only MESSAGE
/// besides the fields always printed (`__REALTIME_TIMESTAMP` ...), and
/// `--since` as journalctl understands it.
pub fn journalctl_args(since: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = [
        "-o",
        "json",
        "--no-pager",
        "--all",
        "--output-fields=MESSAGE",
        "-u",
        UNIT,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(s) = since {
        // One argument, so that a TIME starting with `-` (`-1h`) is a value.
        a.push(format!("--since={s}"));
    }
    a
}

/// One line of `journalctl -o json`.
pub fn parse_entry(line: &str) -> Entry {
    let line = line.trim();
    // journalctl's own lines on stdout (`-- No entries --`) are not JSON.
    if !line.starts_with('{') {
        return Entry::Other;
    }
    let e: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(err) => return Entry::Unreadable(format!("journal entry is not JSON: {err}")),
    };
    let usec = e
        .get("__REALTIME_TIMESTAMP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u64>().ok());
    let secs = usec.map_or(0, |u| u / 1_000_000);
    let msg = match e.get("MESSAGE") {
        Some(Value::String(s)) => s.clone(),
        // Not valid UTF-8: the bytes.
        Some(Value::Array(a)) => {
            let bytes: Option<Vec<u8>> = a
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            match bytes {
                Some(b) => String::from_utf8_lossy(&b).into_owned(),
                None => return Entry::Other,
            }
        }
        _ => return Entry::Other,
    };
    if !msg.trim_start().starts_with('{') {
        return Entry::Other;
    }
    match parse_record(&msg, secs) {
        Ok(r) => Entry::Record(Box::new(r)),
        Err(why) if secs == 0 => Entry::Unreadable(why),
        Err(why) => Entry::Unreadable(format!("{}: {why}", utc(secs))),
    }
}

/// A record's JSON line (`xen-mcelog-dump --json`); `journal_secs` is the
/// journal entry's time (0: unknown).
pub fn parse_record(msg: &str, journal_secs: u64) -> Result<Record, String> {
    let v: Value = serde_json::from_str(msg).map_err(|e| format!("record is not JSON: {e}"))?;
    let o = v.as_object().ok_or("record is not a JSON object")?;
    let need = |k: &str| format!("record has no valid \"{k}\"");
    let status = hex(o, "status").ok_or_else(|| need("status"))?;
    let bank = o
        .get("bank")
        .and_then(Value::as_u64)
        .ok_or_else(|| need("bank"))?;
    let sev = match o.get("severity") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => severity(status, hex(o, "mcgcap").unwrap_or(0)).to_string(),
        Some(_) => return Err(need("severity")),
    };
    let time = match o.get("time").and_then(Value::as_u64) {
        Some(t) if t != 0 => t,
        _ => journal_secs,
    };
    Ok(Record {
        time,
        severity: sev,
        cpu: o.get("cpu").and_then(Value::as_u64),
        socket: o.get("socketid").and_then(Value::as_u64),
        bank,
        status,
        addr: hex(o, "addr").filter(|_| status & ADDRV != 0),
        maddr: hex(o, "maddr"),
        decoded: decoded(o),
    })
}

/// A `hex` field (`"0x.."`; a plain number is taken too).
fn hex(o: &Map<String, Value>, k: &str) -> Option<u64> {
    match o.get(k)? {
        Value::String(s) => parse_hex(s).ok(),
        v => v.as_u64(),
    }
}

/// A `strings` field, joined with commas; `None` when absent or empty.
fn strs(o: &Map<String, Value>, k: &str) -> Option<String> {
    let a = o.get(k)?.as_array()?;
    let v: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
    (!v.is_empty()).then(|| v.join(","))
}

/// The JSON's words, as `key=value` tokens in the form of the dump line:
/// `class=` `bits=` `addr_space=` `domid=` (the page's owner) `maddr=`
/// (guest addresses) `xen_flags=` `recovery=` `result=` `mfn=`, and
/// `injected` for a record written into the device.
fn decoded(o: &Map<String, Value>) -> String {
    let mut t = Vec::new();
    if let Some(c) = o.get("class").and_then(Value::as_str) {
        t.push(format!("class={c}"));
    }
    if let Some(b) = strs(o, "status_bits") {
        t.push(format!("bits={b}"));
    }
    let space = o.get("addr_space").and_then(Value::as_str);
    if let Some(s) = space {
        t.push(format!("addr_space={s}"));
    }
    if let Some(d) = o.get("domid").and_then(Value::as_u64) {
        t.push(format!("domid={d}"));
    }
    if space == Some("guest") {
        if let Some(m) = hex(o, "maddr") {
            t.push(format!("maddr={m:#x}"));
        }
    }
    if let Some(f) = strs(o, "xen_flags") {
        t.push(format!("xen_flags={f}"));
    }
    if let Some(r) = o.get("recovery").and_then(Value::as_object) {
        t.push(format!(
            "recovery={}",
            strs(r, "action").unwrap_or_else(|| "none".into())
        ));
        t.push(format!(
            "result={}",
            strs(r, "result").unwrap_or_else(|| "none".into())
        ));
        if let Some(m) = hex(r, "mfn") {
            t.push(format!("mfn={m:#x}"));
        }
    }
    if o.get("injected").and_then(Value::as_bool) == Some(true) {
        t.push("injected".into());
    }
    t.join(" ")
}

impl History {
    /// Takes in one line of `journalctl -o json`.
    pub fn add_line(&mut self, line: &str) {
        match parse_entry(line) {
            Entry::Record(r) => self.records.push(*r),
            Entry::Other => {}
            Entry::Unreadable(why) => {
                self.unreadable += 1;
                if self.reasons.len() < REASONS_KEPT {
                    self.reasons.push(why);
                }
            }
        }
    }

    /// The history of a whole `journalctl -o json` output.
    pub fn from_text(text: &str) -> History {
        let mut h = History::default();
        text.lines().for_each(|l| h.add_line(l));
        h
    }

    /// What could not be read, for stderr; `None` when all could.
    pub fn unreadable_note(&self) -> Option<String> {
        if self.unreadable == 0 {
            return None;
        }
        let mut s = if self.unreadable == 1 {
            format!(
                "1 journal entry of {UNIT} that should be a machine-check record could not be \
                 read (left out above)"
            )
        } else {
            format!(
                "{} journal entries of {UNIT} that should be machine-check records could not \
                 be read (left out above)",
                self.unreadable
            )
        };
        for r in &self.reasons {
            s.push_str(&format!("\n  {r}"));
        }
        if self.unreadable > self.reasons.len() as u64 {
            s.push_str("\n  ...");
        }
        Some(s)
    }

    /// The severities present: the known ones in their order, then others.
    fn severities(&self) -> Vec<String> {
        let mut v: Vec<String> = SEVERITIES
            .iter()
            .filter(|s| self.records.iter().any(|r| r.severity == **s))
            .map(|s| s.to_string())
            .collect();
        let mut other: Vec<String> = self
            .records
            .iter()
            .filter(|r| !SEVERITIES.contains(&r.severity.as_str()))
            .map(|r| r.severity.clone())
            .collect();
        other.sort();
        other.dedup();
        v.extend(other);
        v
    }

    /// `--summary`: the records per severity, socket, socket and bank, and
    /// machine page. `since` is `--since`, for the title.
    pub fn summary(&self, since: Option<&str>) -> String {
        let from = since.map_or(String::new(), |s| format!(" since {s}"));
        let n = self.records.len();
        if n == 0 {
            return format!("No machine-check records in the journal of {UNIT}{from}.\n");
        }
        let mut s = format!(
            "Machine checks in the journal of {UNIT}{from}: {n} {}",
            if n == 1 { "record" } else { "records" }
        );
        let times = self.records.iter().map(|r| r.time).filter(|&t| t != 0);
        match (times.clone().min(), times.max()) {
            (Some(a), Some(b)) if a == b => s.push_str(&format!(", {}", utc(a))),
            (Some(a), Some(b)) => s.push_str(&format!(", {} to {}", utc(a), utc(b))),
            _ => {}
        }
        s.push_str(".\n");
        let sevs = self.severities();

        s.push_str("\nBy severity:\n");
        let by_sev = tally(&self.records, |r| Some(r.severity.clone()));
        let rows: Vec<Vec<String>> = sevs
            .iter()
            .map(|v| {
                let c = &by_sev[v];
                vec![v.clone(), c.total.to_string(), time_cell(c.last)]
            })
            .collect();
        s.push_str(&table(
            "  ",
            &["SEVERITY", "RECORDS", "LAST (UTC)"],
            &rows,
            &[1],
        ));

        s.push_str("\nBy socket:\n");
        let t = tally(&self.records, |r| Some(r.socket));
        s.push_str(&count_table(
            &["SOCKET"],
            &t,
            |so| vec![opt_cell(*so)],
            &sevs,
            false,
        ));

        s.push_str("\nBy bank:\n");
        let t = tally(&self.records, |r| Some((r.socket, r.bank)));
        let key = |(so, b): &(Option<u64>, u64)| vec![opt_cell(*so), b.to_string()];
        s.push_str(&count_table(&["SOCKET", "BANK"], &t, key, &sevs, false));

        s.push_str("\nBy memory page (4 KiB, machine address):\n");
        let pages = tally(&self.records, |r| r.maddr.map(|a| a & !0xFFF));
        if pages.is_empty() {
            s.push_str("  (no record has a machine address)\n");
        } else {
            let key = |p: &u64| vec![format!("{p:#x}")];
            s.push_str(&count_table(&["PAGE"], &pages, key, &sevs, true));
            let without = self.records.iter().filter(|r| r.maddr.is_none()).count();
            if without > 0 {
                s.push_str(&format!(
                    "  ({without} {} no machine address)\n",
                    if without == 1 {
                        "record has"
                    } else {
                        "records have"
                    }
                ));
            }
        }
        s
    }

    /// `--errors`: one line a record, oldest first.
    pub fn errors(&self, since: Option<&str>) -> String {
        if self.records.is_empty() {
            let from = since.map_or(String::new(), |s| format!(" since {s}"));
            return format!("No machine-check records in the journal of {UNIT}{from}.\n");
        }
        let rows: Vec<Vec<String>> = self
            .records
            .iter()
            .map(|r| {
                vec![
                    time_cell(r.time),
                    r.severity.clone(),
                    opt_cell(r.cpu),
                    opt_cell(r.socket),
                    r.bank.to_string(),
                    format!("{:#x}", r.status),
                    r.addr.map_or("-".into(), |a| format!("{a:#x}")),
                    r.decoded.clone(),
                ]
            })
            .collect();
        table(
            "",
            &[
                "TIME (UTC)",
                "SEVERITY",
                "CPU",
                "SOCKET",
                "BANK",
                "STATUS",
                "ADDRESS",
                "DECODED",
            ],
            &rows,
            &[2, 3, 4],
        )
    }
}

/// Records of one key: in all, per severity, and the time of the last.
#[derive(Default)]
struct Counts {
    total: u64,
    by_sev: BTreeMap<String, u64>,
    last: u64,
}

fn tally<K: Ord>(recs: &[Record], key: impl Fn(&Record) -> Option<K>) -> BTreeMap<K, Counts> {
    let mut m: BTreeMap<K, Counts> = BTreeMap::new();
    for r in recs {
        if let Some(k) = key(r) {
            let c = m.entry(k).or_default();
            c.total += 1;
            *c.by_sev.entry(r.severity.clone()).or_insert(0) += 1;
            c.last = c.last.max(r.time);
        }
    }
    m
}

/// The table of `counts`: the key's columns (`key_head`, the cells from
/// `key`), RECORDS, one column per severity of `sevs`; with `last` (a page:
/// the key left-aligned) the time of the last record too.
fn count_table<K>(
    key_head: &[&str],
    counts: &BTreeMap<K, Counts>,
    key: impl Fn(&K) -> Vec<String>,
    sevs: &[String],
    last: bool,
) -> String {
    let mut head: Vec<String> = key_head.iter().map(|h| h.to_string()).collect();
    head.push("RECORDS".into());
    head.extend(sevs.iter().map(|s| s.to_uppercase()));
    let numbers = head.len();
    if last {
        head.push("LAST (UTC)".into());
    }
    let rows: Vec<Vec<String>> = counts
        .iter()
        .map(|(k, c)| {
            let mut row = key(k);
            row.push(c.total.to_string());
            row.extend(
                sevs.iter()
                    .map(|v| c.by_sev.get(v).copied().unwrap_or(0).to_string()),
            );
            if last {
                row.push(time_cell(c.last));
            }
            row
        })
        .collect();
    let first = if last { key_head.len() } else { 0 };
    let right: Vec<usize> = (first..numbers).collect();
    table("  ", &head, &rows, &right)
}

/// A date and time without the ` UTC` (the column head says it).
fn time_cell(t: u64) -> String {
    if t == 0 {
        "-".into()
    } else {
        utc(t).trim_end_matches(" UTC").to_string()
    }
}

fn opt_cell(v: Option<u64>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}

/// Rows under a head, each line indented by `indent`, columns two spaces
/// apart; the columns in `right` right-aligned (numbers). The last column
/// is not padded.
fn table<S: AsRef<str>>(indent: &str, head: &[S], rows: &[Vec<String>], right: &[usize]) -> String {
    let head: Vec<String> = head.iter().map(|h| h.as_ref().to_string()).collect();
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let last = head.len() - 1;
    let line = |cells: &[String]| {
        let mut l = String::from(indent);
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i].saturating_sub(c.chars().count());
            if right.contains(&i) {
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            } else {
                l.push_str(c);
                if i != last {
                    l.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                l.push_str("  ");
            }
        }
        l.truncate(l.trim_end().len());
        l.push('\n');
        l
    };
    let mut s = line(&head);
    for r in rows {
        s.push_str(&line(r));
    }
    s
}

/// Runs journalctl for the unit's entries and reads them. `program`:
/// journalctl, or what `XMC_JOURNALCTL` names. Its stderr is the user's
/// (its own hints: no permission to read the system journal, a TIME it
/// does not understand).
pub fn read_journal(program: &str, since: Option<&str>) -> Result<History, String> {
    let mut child = Command::new(program)
        .args(journalctl_args(since))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut h = History::default();
    let mut r = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => h.add_line(&String::from_utf8_lossy(&buf)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("reading the output of {program}: {e}"));
            }
        }
    }
    let st = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if !st.success() {
        return Err(format!("{program} failed ({st})"));
    }
    Ok(h)
}

/// `xen-mcelog-dump --summary|--errors [--since TIME]`: prints the text on
/// `out`, notes on `err`. Returns the exit status: 0, 1 when some entries
/// that should be records could not be read (the rest are shown), 3 when
/// journalctl could not be run or failed.
pub fn run(mode: Mode, since: Option<&str>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let program = std::env::var(JOURNALCTL_ENV).unwrap_or_else(|_| String::from("journalctl"));
    let h = match read_journal(&program, since) {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(
                err,
                "xen-mcelog-dump: {e}\n  --summary and --errors read the journal of {UNIT} \
                 with journalctl (systemd), as root or in group systemd-journal or adm"
            );
            return 3;
        }
    };
    let text = match mode {
        Mode::Summary => h.summary(since),
        Mode::Errors => h.errors(since),
    };
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        // Output closed early (`| head`): not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return 0,
        Err(e) => {
            let _ = writeln!(err, "xen-mcelog-dump: {e}");
            return 3;
        }
    }
    match h.unreadable_note() {
        Some(n) => {
            let _ = writeln!(err, "xen-mcelog-dump: {n}");
            1
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
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

    /// The README's example line, exactly as the service wrote it in the
    /// sandbox (tools-fleet): a corrected #MC, bank 2, machine address.
    const README_LINE: &str = "{\"cpu\":0,\"extcpu\":0,\"bank\":2,\"status\":\"0x9c0000000000017a\",\
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
            text_entry(t0 + 19_512_034, 1102, README_LINE),
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
        let mut bytes = README_LINE.as_bytes().to_vec();
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
            text_entry(t, 1, &README_LINE[..200]),
            // A JSON object without the fields of a record.
            text_entry(t, 2, "{\"hello\":1}"),
            // `bank` of the wrong type.
            text_entry(t, 3, &README_LINE.replace("\"bank\":2", "\"bank\":\"2\"")),
            // `status` not a hex number.
            text_entry(t, 4, &README_LINE.replace("0x9c0000000000017a", "0xzz")),
            // journalctl's output itself damaged.
            "{\"MESSAGE\":".into(),
            text_entry(t, 5, README_LINE),
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
        assert!(
            s.contains("  SOCKET  RECORDS  CORRECTED  UNCORRECTED-RECOVERABLE  FATAL  DEFERRED\n")
        );
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
}
