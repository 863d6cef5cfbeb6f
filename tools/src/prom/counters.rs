// SPDX-License-Identifier: GPL-2.0-only

//! The tool's own series: the records read (by severity and boot, by bank
//! and socket, corrected memory errors by page), carried across restarts
//! by reading the previous file back, and the reader's liveness, which
//! `--mark-down` sets to down in a file the reader left.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use xmc_core::record::{XenInfo, XEN_INFO_PREVIOUS_BOOT};

use crate::retire::memory_ce_frame;
use crate::xen::{severity, SEVERITIES};
use crate::Mce;

/// Records by severity and boot (the alerts' series, all present from the start).
pub const METRIC: &str = "xen_mcelog_records_total";
/// Records by severity, MCA bank and socket.
pub const BANK_METRIC: &str = "xen_mcelog_bank_records_total";
/// Corrected memory errors by socket and machine page.
pub const PAGE_METRIC: &str = "xen_mcelog_page_corrected_errors_total";
/// Times the module's ring overflowed (records lost).
pub const OVERFLOW_METRIC: &str = "xen_mcelog_overflows_total";
/// When the last record of a severity and boot was read.
pub const LAST_RECORD_METRIC: &str = "xen_mcelog_last_record_timestamp_seconds";
/// 1 while the reader runs; 0 once it stopped.
pub const UP_METRIC: &str = "xen_mcelog_reader_up";

/// Values of the `boot` label: the record is of this boot of the host, or
/// Xen kept it across a reset (`XEN_INFO_PREVIOUS_BOOT`: the host was reset
/// by that machine check).
pub const BOOTS: [&str; 2] = ["current", "previous"];

/// At most this many `(socket, page)` series; further pages are counted
/// under `page="other"`. A healthy host has none; a failing DIMM a few
/// pages (retired one by one); a page counted since a restart keeps its
/// series.
pub const MAX_PAGES: usize = 64;

/// The record-derived state, carried across restarts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Per `(severity, boot)`.
    records: BTreeMap<(&'static str, &'static str), u64>,
    /// Unix time of the last record per `(severity, boot)`.
    last: BTreeMap<(&'static str, &'static str), u64>,
    /// Per `(severity, bank, socket)`.
    banks: BTreeMap<(&'static str, u8, u32), u64>,
    /// Corrected memory errors per `(socket, page frame)`; `None`: other pages.
    pages: BTreeMap<(u32, Option<u64>), u64>,
    /// MCE_OVERFLOW seen (MCE_GETCLEAR_FLAGS).
    pub overflows: u64,
}

/// The reader's liveness, rewritten at each heartbeat (not carried over).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// 1 while the reader runs.
    pub up: bool,
    /// When it started (Unix seconds).
    pub start: u64,
    /// Its last read(2) of the device (Unix seconds; 0: none yet).
    pub last_read: u64,
    /// `/sys/module/xen_mcelog` exists.
    pub module_loaded: bool,
    /// `/sys/hypervisor/type` says xen.
    pub xen_running: bool,
}

impl Liveness {
    /// Module and hypervisor as this host has them now.
    pub fn probe(&mut self) {
        self.module_loaded = Path::new("/sys/module/xen_mcelog").exists();
        self.xen_running =
            fs::read_to_string("/sys/hypervisor/type").is_ok_and(|t| t.trim() == "xen");
    }
}

fn sev_static(s: &str) -> Option<&'static str> {
    SEVERITIES.iter().copied().find(|v| *v == s)
}

fn boot_static(s: &str) -> Option<&'static str> {
    BOOTS.iter().copied().find(|v| *v == s)
}

/// A sample's labels, `(name, value)`.
type Labels<'a> = Vec<(&'a str, &'a str)>;

/// `name{k="v",...} value` split into its parts (our own simple labels:
/// no escapes, no spaces).
fn parse_sample(line: &str) -> Option<(&str, Labels<'_>, f64)> {
    let (metric, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match metric.split_once('{') {
        Some((n, rest)) => (n, rest.strip_suffix('}')?),
        None => (metric, ""),
    };
    let mut kv = Vec::new();
    for p in labels.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=')?;
        kv.push((k, v.strip_prefix('"')?.strip_suffix('"')?));
    }
    Some((name, kv, value))
}

fn label<'a>(kv: &[(&str, &'a str)], k: &str) -> Option<&'a str> {
    kv.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
}

impl Counters {
    /// Counts one record read at `now`, with its Xen side if known.
    pub fn add(&mut self, m: &Mce, x: Option<&XenInfo>, now: u64) {
        let sev = severity(m.status, m.mcgcap);
        let boot = BOOTS[usize::from(x.is_some_and(|x| x.flags & XEN_INFO_PREVIOUS_BOOT != 0))];
        *self.records.entry((sev, boot)).or_insert(0) += 1;
        self.last.insert((sev, boot), now);
        *self.banks.entry((sev, m.bank, m.socketid)).or_insert(0) += 1;
        // The pages page retirement counts: corrected memory errors of this
        // boot at a machine address.
        if let Some(frame) = x.and_then(|x| memory_ce_frame(m, x)) {
            let key = (m.socketid, Some(frame));
            let key = if self.pages.contains_key(&key) || self.known_pages() < MAX_PAGES {
                key
            } else {
                (m.socketid, None)
            };
            *self.pages.entry(key).or_insert(0) += 1;
        }
    }

    fn known_pages(&self) -> usize {
        self.pages.keys().filter(|(_, p)| p.is_some()).count()
    }

    /// The counters of a textfile this tool wrote before (a previous run):
    /// unknown lines and families are ignored, so a damaged or foreign file
    /// only loses what cannot be read. A file of the earlier layout
    /// (`xen_mcelog_records_total` by severity, bank and socket) is taken
    /// in too.
    pub fn restore(text: &str) -> Counters {
        let mut c = Counters::default();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, kv, v)) = parse_sample(l) else {
                continue;
            };
            if !(v.is_finite() && v >= 0.0) {
                continue;
            }
            let n = v as u64;
            // The seeded zeros come back with every render.
            if n == 0 {
                continue;
            }
            let sev = label(&kv, "severity").and_then(sev_static);
            let boot = label(&kv, "boot").map_or(Some("current"), boot_static);
            let bank = label(&kv, "bank").and_then(|b| b.parse::<u8>().ok());
            let socket = label(&kv, "socket").and_then(|s| s.parse::<u32>().ok());
            match name {
                METRIC => {
                    if let (Some(s), Some(b)) = (sev, boot) {
                        *c.records.entry((s, b)).or_insert(0) += n;
                    }
                    // The earlier layout: by bank and socket in one family.
                    if let (Some(s), Some(b), Some(so)) = (sev, bank, socket) {
                        *c.banks.entry((s, b, so)).or_insert(0) += n;
                    }
                }
                BANK_METRIC => {
                    if let (Some(s), Some(b), Some(so)) = (sev, bank, socket) {
                        c.banks.insert((s, b, so), n);
                    }
                }
                PAGE_METRIC => {
                    let page = match label(&kv, "page") {
                        Some("other") => Some(None),
                        Some(p) => p
                            .strip_prefix("0x")
                            .and_then(|h| u64::from_str_radix(h, 16).ok())
                            .map(Some),
                        None => None,
                    };
                    if let (Some(so), Some(p)) = (socket, page) {
                        c.pages.insert((so, p), n);
                    }
                }
                OVERFLOW_METRIC => c.overflows = n,
                LAST_RECORD_METRIC => {
                    if let (Some(s), Some(b)) = (sev, boot) {
                        c.last.insert((s, b), n);
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// The record counters and liveness, in the exposition format: HELP and
    /// TYPE once per family, then its samples, sorted.
    pub fn render(&self, live: &Liveness) -> String {
        let mut s = String::new();
        let head = |s: &mut String, name: &str, kind: &str, help: &str| {
            let _ = write!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        };
        head(
            &mut s,
            METRIC,
            "counter",
            "Machine-check records read from xen_mcelog, by severity and boot (previous: \
             kept by Xen across a reset). Carried over restarts.",
        );
        for sev in SEVERITIES {
            for boot in BOOTS {
                let n = self.records.get(&(sev, boot)).copied().unwrap_or(0);
                let _ = writeln!(s, "{METRIC}{{severity=\"{sev}\",boot=\"{boot}\"}} {n}");
            }
        }
        head(
            &mut s,
            LAST_RECORD_METRIC,
            "gauge",
            "Unix time the last record of a severity and boot was read (0: none).",
        );
        for sev in SEVERITIES {
            for boot in BOOTS {
                let t = self.last.get(&(sev, boot)).copied().unwrap_or(0);
                let _ = writeln!(
                    s,
                    "{LAST_RECORD_METRIC}{{severity=\"{sev}\",boot=\"{boot}\"}} {t}"
                );
            }
        }
        head(
            &mut s,
            BANK_METRIC,
            "counter",
            "Machine-check records read from xen_mcelog, by severity, MCA bank and socket. \
             Carried over restarts.",
        );
        for ((sev, bank, socket), n) in &self.banks {
            let _ = writeln!(
                s,
                "{BANK_METRIC}{{severity=\"{sev}\",bank=\"{bank}\",socket=\"{socket}\"}} {n}"
            );
        }
        head(
            &mut s,
            PAGE_METRIC,
            "counter",
            "Corrected memory errors by socket and machine page frame (as page retirement \
             counts them; at most 64 pages, then page=\"other\"). Carried over restarts.",
        );
        for ((socket, page), n) in &self.pages {
            let page = page.map_or("other".to_string(), |p| format!("{p:#x}"));
            let _ = writeln!(
                s,
                "{PAGE_METRIC}{{socket=\"{socket}\",page=\"{page}\"}} {n}"
            );
        }
        head(
            &mut s,
            OVERFLOW_METRIC,
            "counter",
            "Times the module's ring was found overflowed (MCE_GETCLEAR_FLAGS: \
             MCE_OVERFLOW): records were lost. Carried over restarts.",
        );
        let _ = writeln!(s, "{OVERFLOW_METRIC} {}", self.overflows);
        let gauges: [(&str, &str, u64); 5] = [
            (
                UP_METRIC,
                "1 while xen-mcelog-dump reads the device; 0 once it stopped.",
                u64::from(live.up),
            ),
            (
                "xen_mcelog_start_time_seconds",
                "Unix time the reader started.",
                live.start,
            ),
            (
                "xen_mcelog_last_read_timestamp_seconds",
                "Unix time of the reader's last read of the device (at least every \
                 heartbeat while it runs).",
                live.last_read,
            ),
            (
                "xen_mcelog_module_loaded",
                "1 when the xen_mcelog module is loaded.",
                u64::from(live.module_loaded),
            ),
            (
                "xen_mcelog_xen_running",
                "1 when the host runs on Xen (/sys/hypervisor/type).",
                u64::from(live.xen_running),
            ),
        ];
        for (name, help, v) in gauges {
            head(&mut s, name, "gauge", help);
            let _ = writeln!(s, "{name} {v}");
        }
        s
    }
}

/// A textfile `text` as the reader left it, with `xen_mcelog_reader_up 0`
/// and the module's state now (`xen-mcelog-dump --mark-down`, for
/// ExecStopPost: the reader was killed before it could say so itself).
/// Everything else is kept as it was.
pub fn mark_down(text: &str, module_loaded: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for l in text.lines() {
        if l.starts_with(&format!("{UP_METRIC} ")) {
            let _ = writeln!(out, "{UP_METRIC} 0");
        } else if l.starts_with("xen_mcelog_module_loaded ") {
            let _ = writeln!(out, "xen_mcelog_module_loaded {}", u8::from(module_loaded));
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmc_core::record::ADDR_SPACE_MACHINE;

    fn rec(status: u64, bank: u8, socketid: u32) -> Mce {
        Mce {
            status,
            bank,
            socketid,
            mcgcap: 0x100_010A,
            ..Mce::default()
        }
    }

    /// A corrected memory-controller error at machine address `addr`
    /// (Intel, physical address mode in MISC), with its Xen side.
    fn mem_ce(addr: u64, socketid: u32, flags: u8) -> (Mce, XenInfo) {
        let m = Mce {
            status: 0x9C00_0000_0000_009F,
            addr,
            misc: 0x86,
            bank: 7,
            socketid,
            cpuvendor: 0,
            mcgcap: 0x100_010A,
            ..Mce::default()
        };
        let x = XenInfo {
            addr_space: ADDR_SPACE_MACHINE,
            flags,
            ..XenInfo::default()
        };
        (m, x)
    }

    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect()
    }

    #[test]
    fn every_alert_series_exists_from_the_start_at_0() {
        let t = Counters::default().render(&Liveness {
            up: true,
            start: 1_700_000_000,
            ..Liveness::default()
        });
        assert_eq!(samples(&t, METRIC).len(), SEVERITIES.len() * BOOTS.len());
        assert!(samples(&t, METRIC).iter().all(|l| l.ends_with(" 0")));
        assert!(t.contains("xen_mcelog_records_total{severity=\"fatal\",boot=\"previous\"} 0\n"));
        assert!(t.contains(
            "xen_mcelog_last_record_timestamp_seconds{severity=\"fatal\",boot=\"current\"} 0\n"
        ));
        assert!(t.contains("\nxen_mcelog_overflows_total 0\n"));
        assert!(t.contains("\nxen_mcelog_reader_up 1\n"));
        assert!(t.contains("\nxen_mcelog_start_time_seconds 1700000000\n"));
        assert!(samples(&t, BANK_METRIC).is_empty());
        // Each family once, HELP before TYPE before its samples.
        let types: Vec<&str> = t.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), types.len());
    }

    #[test]
    fn counts_by_severity_boot_bank_and_page() {
        let mut c = Counters::default();
        for m in [
            rec(0x9C00_0000_0000_017A, 2, 0),
            rec(0x9C00_0000_0000_017A, 2, 0),
            rec(0x9C00_0000_0000_017A, 1, 1),
            rec(0xBD00_0000_0000_00C0, 7, 0),
            rec(0xBF20_0000_8000_017A, 10, 0),
        ] {
            c.add(&m, None, 100);
        }
        let (m, x) = mem_ce(0x1234_5040, 1, 0);
        c.add(&m, Some(&x), 200);
        c.add(&m, Some(&x), 201);
        // Kept by Xen across a reset: a previous-boot record, no page.
        let (mut m2, x2) = mem_ce(0x1234_5040, 1, XEN_INFO_PREVIOUS_BOOT);
        m2.status = 0xBF20_0000_8000_017A;
        c.add(&m2, Some(&x2), 300);
        let t = c.render(&Liveness::default());
        for l in [
            "xen_mcelog_records_total{severity=\"corrected\",boot=\"current\"} 5",
            "xen_mcelog_records_total{severity=\"fatal\",boot=\"current\"} 1",
            "xen_mcelog_records_total{severity=\"fatal\",boot=\"previous\"} 1",
            "xen_mcelog_records_total{severity=\"uncorrected-recoverable\",boot=\"current\"} 1",
            "xen_mcelog_last_record_timestamp_seconds{severity=\"corrected\",boot=\"current\"} 201",
            "xen_mcelog_last_record_timestamp_seconds{severity=\"fatal\",boot=\"previous\"} 300",
            "xen_mcelog_last_record_timestamp_seconds{severity=\"invalid\",boot=\"current\"} 0",
        ] {
            assert!(t.lines().any(|s| s == l), "{l}\n{t}");
        }
        assert_eq!(
            samples(&t, BANK_METRIC),
            [
                "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"1\",socket=\"1\"} 1",
                "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 2",
                "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"7\",socket=\"1\"} 2",
                "xen_mcelog_bank_records_total{severity=\"fatal\",bank=\"7\",socket=\"1\"} 1",
                "xen_mcelog_bank_records_total{severity=\"fatal\",bank=\"10\",socket=\"0\"} 1",
                "xen_mcelog_bank_records_total{severity=\"uncorrected-recoverable\",bank=\"7\",socket=\"0\"} 1",
            ]
        );
        assert_eq!(
            samples(&t, PAGE_METRIC),
            ["xen_mcelog_page_corrected_errors_total{socket=\"1\",page=\"0x12345\"} 2"]
        );
    }

    #[test]
    fn pages_are_bounded() {
        let mut c = Counters::default();
        for i in 0..(MAX_PAGES as u64 + 10) {
            let (m, x) = mem_ce(0x1000_0000 + (i << 12), 0, 0);
            c.add(&m, Some(&x), 1);
        }
        // A page already known keeps its own series.
        let (m, x) = mem_ce(0x1000_0000, 0, 0);
        c.add(&m, Some(&x), 1);
        let t = c.render(&Liveness::default());
        let pages = samples(&t, PAGE_METRIC);
        assert_eq!(pages.len(), MAX_PAGES + 1);
        assert!(pages
            .contains(&"xen_mcelog_page_corrected_errors_total{socket=\"0\",page=\"0x10000\"} 2"));
        assert!(pages
            .contains(&"xen_mcelog_page_corrected_errors_total{socket=\"0\",page=\"other\"} 10"));
    }

    #[test]
    fn restores_what_it_wrote() {
        let mut c = Counters::default();
        c.add(&rec(0xBF20_0000_8000_017A, 10, 0), None, 100);
        let (m, x) = mem_ce(0x1234_5040, 1, 0);
        c.add(&m, Some(&x), 200);
        c.overflows = 3;
        let live = Liveness {
            up: true,
            start: 5,
            last_read: 6,
            ..Liveness::default()
        };
        let t = c.render(&live);
        assert_eq!(Counters::restore(&t), c);
        // Then counting goes on from there.
        let mut r = Counters::restore(&t);
        r.add(&rec(0xBF20_0000_8000_017A, 10, 0), None, 300);
        let t2 = r.render(&live);
        assert!(t2.contains("xen_mcelog_records_total{severity=\"fatal\",boot=\"current\"} 2\n"));
        assert!(t2.contains(
            "xen_mcelog_bank_records_total{severity=\"fatal\",bank=\"10\",socket=\"0\"} 2\n"
        ));
        assert!(t2.contains("\nxen_mcelog_overflows_total 3\n"));
        // Garbage and foreign lines cost only themselves.
        let r = Counters::restore("garbage\nxen_mcelog_overflows_total x\nfoo 1\n");
        assert_eq!(r, Counters::default());
    }

    #[test]
    fn restores_the_earlier_layout() {
        let old = "# TYPE xen_mcelog_records_total counter\n\
             xen_mcelog_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 2\n\
             xen_mcelog_records_total{severity=\"corrected\",bank=\"1\",socket=\"1\"} 1\n\
             xen_mcelog_records_total{severity=\"fatal\",bank=\"10\",socket=\"0\"} 1\n";
        let t = Counters::restore(old).render(&Liveness::default());
        assert!(t.contains("xen_mcelog_records_total{severity=\"corrected\",boot=\"current\"} 3\n"));
        assert!(t.contains("xen_mcelog_records_total{severity=\"fatal\",boot=\"current\"} 1\n"));
        assert!(t.contains(
            "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 2\n"
        ));
    }

    #[test]
    fn marks_down_keeping_the_rest() {
        let t = Counters::default().render(&Liveness {
            up: true,
            start: 5,
            last_read: 6,
            module_loaded: true,
            xen_running: true,
        }) + "xen_mcelog_retire_pages{state=\"failed\"} 1\n";
        let d = mark_down(&t, false);
        assert!(d.contains("\nxen_mcelog_reader_up 0\n"));
        assert!(d.contains("\nxen_mcelog_module_loaded 0\n"));
        assert!(d.contains("\nxen_mcelog_last_read_timestamp_seconds 6\n"));
        assert!(d.ends_with("xen_mcelog_retire_pages{state=\"failed\"} 1\n"));
        assert_eq!(d.lines().count(), t.lines().count());
    }
}
