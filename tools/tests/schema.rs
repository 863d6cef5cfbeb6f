// SPDX-License-Identifier: GPL-2.0-only

//! `xen-mcelog-dump --json` against the schema documented in docs/tools.md
//! ("## JSON schema": a table of field, type, meaning), read from that
//! document itself so the two cannot drift apart; and the decoding of
//! synthetic records with a Xen side: a guest-page error with a RECOVERY
//! entry (page offlined, owner domain), a machine-address corrected error,
//! a record written by userspace, and one without a Xen side. Also the
//! `--prometheus` textfile's format.
//!
//! The JSON parser and validator are hand-written (a few dozen lines): no
//! dependency for one test.
//!
//! Why one file of about 720 lines: it is one check, the tool's output
//! against what docs/tools.md documents of it (the JSON schema, the
//! textfile's metrics table); the JSON parser, the schema reader and the validator
//! (the first 400 lines) exist for its JSON tests alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xmc_core::record::{
    Mce, XenInfo, XenRecord, ADDR_SPACE_GUEST, ADDR_SPACE_MACHINE, DOMID_NONE, XEN_INFO_RECOVERY,
    XEN_INFO_URGENT,
};

mod scratch;
use scratch::Scratch;

const DUMP: &str = env!("CARGO_BIN_EXE_xen-mcelog-dump");
/// The administrators' document of the tools: the JSON schema and the metrics.
const TOOLS_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/tools.md");

/// One `## ` section of docs/tools.md, up to the next heading of any level.
fn tools_doc_section(title: &str) -> String {
    let doc = std::fs::read_to_string(TOOLS_DOC).expect("docs/tools.md");
    let section = doc
        .split(&format!("\n## {title}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/tools.md has no '## {title}' section"));
    section.split("\n#").next().unwrap().to_string()
}

// ---- a minimal JSON parser ----

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    /// Kept as written (integers are checked as such).
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    /// In order, duplicates kept (so they can be refused).
    Obj(Vec<(String, Json)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at {}", p.i));
        }
        Ok(v)
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", c as char, self.i))
        }
    }
    fn lit(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'n') => self.lit("null", Json::Null),
            Some(b't') => self.lit("true", Json::Bool(true)),
            Some(b'f') => self.lit("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(v));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(v));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    v.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(v));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let st = self.i;
                while self.i < self.s.len() && b"-+.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                Ok(Json::Num(
                    String::from_utf8_lossy(&self.s[st..self.i]).into_owned(),
                ))
            }
            _ => Err(format!("bad value at {}", self.i)),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = String::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    out.push(match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'n' => '\n',
                        b't' => '\t',
                        _ => return Err(format!("unsupported escape \\{}", e as char)),
                    });
                }
                c if c < 0x20 => return Err("control character in string".into()),
                c => out.push(c as char),
            }
        }
        Err("unterminated string".into())
    }
}

// ---- the documented schema ----

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Integer,
    Hex,
    Str,
    Bool,
    Strs,
    Object,
    OneOf(Vec<String>),
}

#[derive(Debug)]
struct Field {
    /// `name` or `parent.name`.
    path: String,
    ty: Ty,
    nullable: bool,
}

/// The rows of docs/tools.md's "## JSON schema" table.
fn documented_schema() -> Vec<Field> {
    let section = tools_doc_section("JSON schema");
    let mut fields = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let path = cells[1].trim_matches('`').to_string();
        let (ty, nullable) = match cells[2].strip_suffix(" or null") {
            Some(t) => (t, true),
            None => (cells[2], false),
        };
        let ty = match ty {
            "integer" => Ty::Integer,
            "hex" => Ty::Hex,
            "string" => Ty::Str,
            "boolean" => Ty::Bool,
            "strings" => Ty::Strs,
            "object" => Ty::Object,
            t => Ty::OneOf(
                t.strip_prefix("one of: ")
                    .unwrap_or_else(|| panic!("unknown type {t:?} in docs/tools.md row {line}"))
                    .split(", ")
                    .map(String::from)
                    .collect(),
            ),
        };
        fields.push(Field { path, ty, nullable });
    }
    assert!(fields.len() > 40, "schema table not found: {fields:?}");
    fields
}

/// Checks `v` against the fields under `prefix` ("" for the top level):
/// the same keys in the same order, no duplicates, each of its type.
fn validate(v: &Json, schema: &[Field], prefix: &str) -> Result<(), String> {
    let Json::Obj(members) = v else {
        return Err(format!("{prefix}: not an object"));
    };
    let want: Vec<&Field> = schema
        .iter()
        .filter(|f| match f.path.rsplit_once('.') {
            Some((p, _)) => p == prefix,
            None => prefix.is_empty(),
        })
        .collect();
    let name = |f: &Field| f.path.rsplit('.').next().unwrap().to_string();
    let got: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    let want_names: Vec<String> = want.iter().map(|f| name(f)).collect();
    if got != want_names {
        return Err(format!(
            "{prefix}: fields {got:?}, documented {want_names:?}"
        ));
    }
    for ((k, val), f) in members.iter().zip(&want) {
        let ok = match (val, &f.ty) {
            (Json::Null, _) => f.nullable,
            (Json::Num(n), Ty::Integer) => n.parse::<u64>().is_ok(),
            (Json::Str(s), Ty::Hex) => s.strip_prefix("0x").is_some_and(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }),
            (Json::Str(_), Ty::Str) | (Json::Bool(_), Ty::Bool) => true,
            (Json::Arr(a), Ty::Strs) => a.iter().all(|x| matches!(x, Json::Str(_))),
            (Json::Str(s), Ty::OneOf(set)) => set.contains(s),
            (Json::Obj(_), Ty::Object) => {
                validate(val, schema, &f.path)?;
                true
            }
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{prefix}.{k}: {val:?} is not {:?} (nullable {})",
                f.ty, f.nullable
            ));
        }
    }
    Ok(())
}

fn get<'a>(v: &'a Json, path: &str) -> &'a Json {
    let mut cur = v;
    for k in path.split('.') {
        let Json::Obj(m) = cur else {
            panic!("{path}: not an object")
        };
        cur = &m
            .iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("no {path}"))
            .1;
    }
    cur
}
fn s(v: &str) -> Json {
    Json::Str(v.into())
}
fn n(v: u64) -> Json {
    Json::Num(v.to_string())
}
fn strs(v: &[&str]) -> Json {
    Json::Arr(v.iter().map(|x| s(x)).collect())
}

// ---- synthetic records ----

const GUEST: u16 = 5;
const MFN: u64 = 0x12_3456;

/// An SRAO memory error in a page of domain 5: Xen offlined the machine
/// page, rewrote `addr` to the guest's frame and set the bank's domain.
fn guest_page_srao() -> XenRecord {
    XenRecord {
        mce: Mce {
            status: 0xBD00_0000_0000_00C0,
            addr: 0x0004_0000 | 0x240, // guest frame 0x40, offset 0x240
            misc: 0x86,
            mcgstatus: 0x5,
            time: 1_795_620_745,
            cpuid: 0x506E3,
            bank: 7,
            cpu: 1,
            extcpu: 1,
            socketid: 1,
            apicid: 2,
            finished: 1,
            mcgcap: 0x100_010A,
            ..Mce::default()
        },
        xen: XenInfo {
            mfn: MFN,
            // PG_OFFLINE_OWNED | PG_OFFLINE_PENDING, owner 5
            rec_status: 0x1000 | 0x4 | (u64::from(GUEST) << 16),
            xen_cpu: 1,
            mc_flags: 0x44,
            domid: GUEST,
            running_domid: 0,
            addr_space: ADDR_SPACE_GUEST,
            rec_types: 0x1,
            rec_flags: 0x1,
            flags: XEN_INFO_RECOVERY | XEN_INFO_URGENT,
        },
    }
}

/// A corrected error at a machine address, found by the poller.
fn machine_corrected() -> XenRecord {
    XenRecord {
        mce: Mce {
            status: 0x9C00_0000_0000_017A,
            addr: 0x2000_0000,
            misc: 0x86,
            mcgstatus: 0x5,
            bank: 2,
            finished: 1,
            mcgcap: 0x100_010A,
            ..Mce::default()
        },
        xen: XenInfo {
            xen_cpu: 0,
            mc_flags: 0x8,
            domid: DOMID_NONE,
            running_domid: DOMID_NONE,
            addr_space: ADDR_SPACE_MACHINE,
            ..XenInfo::default()
        },
    }
}

fn user_written() -> XenRecord {
    let mut m = Mce {
        status: 0x9C00_0000_0000_017A,
        addr: 0x5A00_0000,
        bank: 3,
        extcpu: 1,
        ..Mce::default()
    };
    m.mark_injected();
    XenRecord::user(m)
}

fn run(args: &[&str]) -> Output {
    let o = Command::new(DUMP).args(args).output().expect("runs");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The three records as a saved debugfs `xen` view, in `dir`.
fn view_file(dir: &Path) -> PathBuf {
    let bytes = [
        guest_page_srao().view_bytes(41),
        machine_corrected().view_bytes(42),
        user_written().view_bytes(43),
    ]
    .concat();
    let p = dir.join("view");
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn json_matches_the_documented_schema() {
    let schema = documented_schema();
    let tmp = Scratch::new("schema");
    let f = view_file(&tmp);
    let o = run(&["--json", "--xen-view", f.to_str().unwrap()]);
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let mut objs = Vec::new();
    for l in &lines {
        let v = Parser::parse(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        validate(&v, &schema, "").unwrap_or_else(|e| panic!("{e}\n{l}"));
        objs.push(v);
    }
    // Without the Xen side (a saved device dump): the same schema, nulls.
    let recorded = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sandbox-corrected-srao.bin"
    );
    let o = run(&["--json", recorded]);
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        let v = Parser::parse(l).unwrap();
        validate(&v, &schema, "").unwrap_or_else(|e| panic!("{e}\n{l}"));
        for k in ["seq", "xen_cpu", "domid", "addr_space", "maddr", "recovery"] {
            assert_eq!(get(&v, k), &Json::Null, "{k}");
        }
    }
    // The validator refuses what the schema does not allow.
    let good = lines[1];
    for bad in [
        good.replace("\"bank\":2,", "\"bank\":\"2\","),
        good.replace("\"status\":\"0x9c0000000000017a\"", "\"status\":\"0x9C\""),
        good.replace("\"severity\":\"corrected\"", "\"severity\":\"mild\""),
        good.replace("\"injected\":false,", ""),
        good.replace("{\"cpu\":0,", "{\"cpu\":0,\"extra\":1,"),
        good.replace("\"recovery\":null", "\"recovery\":{}"),
        good.replace("\"time_utc\":null", "\"time_utc\":7"),
    ] {
        assert_ne!(bad, good);
        let v = Parser::parse(&bad).unwrap();
        assert!(validate(&v, &schema, "").is_err(), "accepted {bad}");
    }
}

#[test]
fn guest_page_record_with_recovery_decodes() {
    let tmp = Scratch::new("schema");
    let f = view_file(&tmp);
    let path = f.to_str().unwrap();
    let o = run(&["--json", "--xen-view", path]);
    let text = String::from_utf8(o.stdout).unwrap();
    let g = Parser::parse(text.lines().next().unwrap()).unwrap();
    for (k, want) in [
        ("bank", n(7)),
        ("status", s("0xbd000000000000c0")),
        ("addr", s("0x40240")),
        ("class", s("SRAO")),
        ("severity", s("uncorrected-recoverable")),
        ("seq", n(41)),
        ("xen_cpu", n(1)),
        ("domid", n(u64::from(GUEST))),
        ("running_domid", n(0)),
        ("addr_space", s("guest")),
        // The machine address: the recovery entry's frame, the page offset of addr.
        ("maddr", s("0x123456240")),
        ("mc_flags", s("0x44")),
        ("xen_flags", strs(&["recovery", "urgent"])),
        ("recovery.action", strs(&["page_offline"])),
        ("recovery.action_flags", strs(&["recovered"])),
        ("recovery.mfn", s("0x123456")),
        ("recovery.status", s("0x51004")),
        ("recovery.result", strs(&["pending", "owned"])),
        ("recovery.owner_domid", n(u64::from(GUEST))),
        ("recovery.truncated", Json::Bool(false)),
    ] {
        assert_eq!(get(&g, k), &want, "{k} in {g:?}");
    }
    let m = Parser::parse(text.lines().nth(1).unwrap()).unwrap();
    for (k, want) in [
        ("severity", s("corrected")),
        ("seq", n(42)),
        ("xen_cpu", n(0)),
        ("domid", Json::Null),
        ("addr_space", s("machine")),
        ("maddr", s("0x20000000")),
        ("xen_flags", strs(&[])),
        ("recovery", Json::Null),
    ] {
        assert_eq!(get(&m, k), &want, "{k} in {m:?}");
    }
    let u = Parser::parse(text.lines().nth(2).unwrap()).unwrap();
    for (k, want) in [
        ("injected", Json::Bool(true)),
        ("addr_space", s("unknown")),
        ("maddr", Json::Null),
        ("xen_flags", strs(&["user"])),
    ] {
        assert_eq!(get(&u, k), &want, "{k} in {u:?}");
    }

    // The same record in the line and decoded forms.
    let o = run(&["--xen-view", path, "--count", "1"]);
    let line = String::from_utf8(o.stdout).unwrap();
    assert!(
        line.trim_end().ends_with(
            " seq=41 xen_cpu=1 domid=5 running_domid=0 addr_space=guest maddr=0x123456240 \
             recovery=page_offline result=pending,owned mfn=0x123456"
        ),
        "{line}"
    );
    let o = run(&["--decode", "--xen-view", path, "--count", "1"]);
    let d = String::from_utf8(o.stdout).unwrap();
    for want in [
        "record 1: uncorrected, software recoverable, action optional (SRAO)\n",
        "  addr       0x40240 (guest-physical, domain 5)\n",
        "  xen        seq 41  Xen CPU 1  page owner 5  running 0 (dom0)\n",
        "  addr space guest-physical address of domain 5: Xen rewrote it for the guest's vMCE; \
         machine address 0x123456240\n",
        "  xen flags  mc_flags 0x44 [recoverable mce]  recovery urgent\n",
        "  recovery   page_offline [recovered]: mfn 0x123456, result 0x51004 (pending owned, \
         owner dom 5)\n",
    ] {
        assert!(d.contains(want), "missing {want:?} in\n{d}");
    }
    // --raw of the view gives the 128-byte records, as the device would.
    let o = run(&["--raw", "--xen-view", path]);
    assert_eq!(o.stdout.len(), 3 * 128);
    assert_eq!(o.stdout[..128], guest_page_srao().mce.to_bytes());
}

#[test]
fn prometheus_textfile_format() {
    let tmp = Scratch::new("schema");
    let f = view_file(&tmp);
    let prom = tmp.join("xen_mcelog.prom");
    run(&[
        "--json",
        "--xen-view",
        f.to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&prom).unwrap();
    // The exposition format: each family's HELP and TYPE once, then its
    // samples name{labels} value.
    let mut family = "";
    let mut families = Vec::new();
    for l in text.lines() {
        if let Some(h) = l.strip_prefix("# HELP ") {
            family = h.split(' ').next().unwrap();
            assert!(!families.contains(&family), "{family} twice:\n{text}");
            families.push(family);
        } else if let Some(t) = l.strip_prefix("# TYPE ") {
            let (n, kind) = t.split_once(' ').unwrap();
            assert_eq!(n, family, "{l}");
            assert!(kind == "counter" || kind == "gauge", "{l}");
            assert_eq!(kind == "counter", n.ends_with("_total"), "{l}");
        } else {
            let (metric, value) = l.rsplit_once(' ').unwrap();
            assert!(value.parse::<u64>().is_ok(), "{l}");
            assert!(
                metric == family || metric.starts_with(&format!("{family}{{")),
                "{l} outside its family {family}"
            );
        }
    }
    assert_eq!(families[0], "xen_mcelog_records_total");
    let samples = |name: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect()
    };
    // Every severity and boot from the start, at 0 unless counted.
    let by_sev = samples("xen_mcelog_records_total");
    assert_eq!(by_sev.len(), 2 * xmc_tools::xen::SEVERITIES.len());
    for l in [
        "xen_mcelog_records_total{severity=\"corrected\",boot=\"current\"} 2",
        "xen_mcelog_records_total{severity=\"uncorrected-recoverable\",boot=\"current\"} 1",
        "xen_mcelog_records_total{severity=\"fatal\",boot=\"previous\"} 0",
    ] {
        assert!(by_sev.contains(&l), "{l}\n{text}");
    }
    assert_eq!(
        samples("xen_mcelog_bank_records_total"),
        [
            "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 1",
            "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"3\",socket=\"0\"} 1",
            "xen_mcelog_bank_records_total{severity=\"uncorrected-recoverable\",bank=\"7\",socket=\"1\"} 1",
        ]
    );
    // The run ended: the reader is down; the tool's own health last.
    assert_eq!(samples("xen_mcelog_reader_up"), ["xen_mcelog_reader_up 0"]);
    assert_eq!(
        samples("xen_mcelog_overflows_total"),
        ["xen_mcelog_overflows_total 0"]
    );
    assert_eq!(
        text.lines().rev().take(3).collect::<Vec<_>>(),
        [
            "xen_mcelog_textfile_write_failures_total 0",
            "# TYPE xen_mcelog_textfile_write_failures_total counter",
            "# HELP xen_mcelog_textfile_write_failures_total Writes of this textfile that failed \
             since the start.",
        ]
    );
    // A second run carries the counters over.
    run(&[
        "--json",
        "--xen-view",
        f.to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    let text2 = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text2.contains(
            "\nxen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 2\n"
        ),
        "{text2}"
    );
    assert!(!tmp.join("xen_mcelog.prom.tmp").exists());
    // An unwritable place (node_exporter not installed): an optional
    // output, so the records are printed all the same, the reason on stderr.
    let o = Command::new(DUMP)
        .args([
            "--xen-view",
            f.to_str().unwrap(),
            "--prometheus",
            "/nonexistent/dir/x.prom",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        e.matches("--prometheus /nonexistent/dir/x.prom: cannot write the textfile")
            .count(),
        1,
        "{e}"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
}

/// docs/tools.md "Metrics and alerts": its table names every family the textfile
/// has, with the same type and labels, and every family it names without
/// "with `--retire`" is in the textfile. The module's own families
/// (`XMC_GET_STATS`, read from the device only, not from a saved view) are
/// those `prom::module_metrics` writes.
#[test]
fn documented_metrics_table_matches_the_textfile() {
    let sec = tools_doc_section("Metrics and alerts");
    // | `name` | type | labels | meaning |
    let mut doc = std::collections::BTreeMap::new();
    for l in sec.lines().filter(|l| l.starts_with("| `xen_mcelog_")) {
        let c: Vec<&str> = l.split('|').map(str::trim).collect();
        let name = c[1].trim_matches('`');
        let mut labels: Vec<&str> = c[3].split(", ").filter(|s| !s.is_empty()).collect();
        labels.sort_unstable();
        doc.insert(
            name.to_string(),
            (
                c[2].to_string(),
                labels,
                c[4].starts_with("with `--retire`"),
            ),
        );
    }
    assert!(doc.len() >= 10, "{doc:?}");
    let tmp = Scratch::new("schema");
    let f = view_file(&tmp);
    let prom = tmp.join("xen_mcelog.prom");
    run(&[
        "--xen-view",
        f.to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&prom).unwrap()
        + &xmc_tools::prom::module_metrics(&xmc_tools::sys::DeviceStats::default());
    let mut seen = Vec::new();
    for l in text.lines() {
        if let Some(t) = l.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').unwrap();
            let (dkind, _, _) = doc
                .get(name)
                .unwrap_or_else(|| panic!("docs/tools.md lacks {name}"));
            assert_eq!(dkind, kind, "{name}");
            seen.push(name.to_string());
        } else if !l.starts_with('#') {
            let metric = l.rsplit_once(' ').unwrap().0;
            let (name, labels) = metric.split_once('{').unwrap_or((metric, "}"));
            let mut keys: Vec<&str> = labels
                .trim_end_matches('}')
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap().0)
                .collect();
            keys.sort_unstable();
            assert_eq!(doc[name].1, keys, "{l}");
        }
    }
    for (name, (_, _, retire)) in &doc {
        assert!(
            *retire || seen.contains(name),
            "docs/tools.md names {name}, the textfile lacks it"
        );
    }
}
