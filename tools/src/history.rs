// SPDX-License-Identifier: GPL-2.0-only

//! `xen-mcelog-dump --summary` and `--errors`: the machine checks that
//! xen-mcelog-json.service wrote into the journal, at a glance, as
//! `ras-mc-ctl --summary` and `--errors` show rasdaemon's users what its
//! database holds. journald is the store: nothing is kept here, and the
//! device is not touched (nothing is consumed).
//!
//! What the service writes (tools/systemd/xen-mcelog-json.service,
//! `xen-mcelog-dump --follow --json`): on stdout one JSON object a line and
//! record (docs/tools.md, "JSON schema"); on stderr, into the same journal,
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
//!
//! Why one file of about 600 lines: the journal reader, the counting and the
//! two renderings are one command's and share [`History`]; its tests are in
//! `history/tests.rs`.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

use crate::args::parse_hex;
use crate::decode::utc;
use crate::xen::{severity, SEVERITIES};
use xmc_core::record::MCI_STATUS_ADDRV;

/// The unit whose journal is read.
pub const UNIT: &str = "xen-mcelog-json.service";
/// Names another program to run instead of `journalctl` (tests).
pub const JOURNALCTL_ENV: &str = "XMC_JOURNALCTL";
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
        addr: hex(o, "addr").filter(|_| status & MCI_STATUS_ADDRV != 0),
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
mod tests;
