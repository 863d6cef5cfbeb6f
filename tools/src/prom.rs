// SPDX-License-Identifier: GPL-2.0-only

//! `xen-mcelog-dump --prometheus FILE`: counters of the records it printed,
//! per severity, bank and socket, kept as a node_exporter textfile
//! (textfile collector: `--collector.textfile.directory`). The file is
//! rewritten whole after each batch: written to `FILE.tmp` in the same
//! directory, then renamed over `FILE`, so the collector never reads half a
//! file (the `.tmp` name does not end in `.prom` and is not collected).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use xmc_core::record::Mce;

use crate::xen::severity;

/// The metric's name.
pub const METRIC: &str = "xen_mcelog_records_total";

/// Counts per `(severity, bank, socket)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    counts: BTreeMap<(&'static str, u8, u32), u64>,
}

impl Counters {
    /// Counts one record.
    pub fn add(&mut self, m: &Mce) {
        *self
            .counts
            .entry((severity(m.status, m.mcgcap), m.bank, m.socketid))
            .or_insert(0) += 1;
    }

    /// The textfile: HELP and TYPE, then one sample per label set, sorted.
    pub fn render(&self) -> String {
        let mut s = format!(
            "# HELP {METRIC} Machine-check records read from xen_mcelog by xen-mcelog-dump \
             since it started, by severity, MCA bank and socket.\n# TYPE {METRIC} counter\n"
        );
        for ((sev, bank, socket), n) in &self.counts {
            s.push_str(&format!(
                "{METRIC}{{severity=\"{sev}\",bank=\"{bank}\",socket=\"{socket}\"}} {n}\n"
            ));
        }
        s
    }

    /// Rewrites `path` atomically with [`Counters::render`].
    pub fn write(&self, path: &Path) -> io::Result<()> {
        self.write_with(path, "")
    }

    /// The same, with more samples (`extra`, whole lines) after the counters.
    pub fn write_with(&self, path: &Path, extra: &str) -> io::Result<()> {
        write_atomic(path, &[self.render().as_bytes(), extra.as_bytes()])
    }
}

/// Replaces `path` with `parts`, atomically and durably: written to
/// `FILE.tmp`, synced, renamed over `FILE`, directory synced (a reader sees
/// the old file or the new one, never half of one; a failure leaves no
/// `.tmp` behind).
pub fn write_atomic(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let tmp = tmp_path(path);
    let mut f = fs::File::create(&tmp)?;
    for p in parts {
        f.write_all(p)?;
    }
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    // The rename itself survives a crash or reset only once the directory
    // is synced.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    fs::File::open(dir.unwrap_or(Path::new("."))).and_then(|d| d.sync_all())
}

/// `FILE.tmp`, next to `FILE` (rename is atomic only within a filesystem).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: u64, bank: u8, socketid: u32) -> Mce {
        Mce {
            status,
            bank,
            socketid,
            mcgcap: 0x100_010A,
            ..Mce::default()
        }
    }

    #[test]
    fn counts_and_renders_sorted() {
        let mut c = Counters::default();
        assert_eq!(c.render().lines().count(), 2);
        for m in [
            rec(0x9C00_0000_0000_017A, 2, 0),
            rec(0x9C00_0000_0000_017A, 2, 0),
            rec(0x9C00_0000_0000_017A, 1, 1),
            rec(0xBD00_0000_0000_00C0, 7, 0),
            rec(0xBF20_0000_8000_017A, 10, 0),
        ] {
            c.add(&m);
        }
        assert_eq!(
            c.render(),
            "# HELP xen_mcelog_records_total Machine-check records read from xen_mcelog by \
             xen-mcelog-dump since it started, by severity, MCA bank and socket.\n\
             # TYPE xen_mcelog_records_total counter\n\
             xen_mcelog_records_total{severity=\"corrected\",bank=\"1\",socket=\"1\"} 1\n\
             xen_mcelog_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 2\n\
             xen_mcelog_records_total{severity=\"fatal\",bank=\"10\",socket=\"0\"} 1\n\
             xen_mcelog_records_total{severity=\"uncorrected-recoverable\",bank=\"7\",socket=\"0\"} 1\n"
        );
    }

    #[test]
    fn writes_atomically() {
        let dir = std::env::temp_dir().join(format!("xmc-prom-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("xen_mcelog.prom");
        assert_eq!(tmp_path(&f), dir.join("xen_mcelog.prom.tmp"));
        let mut c = Counters::default();
        c.add(&rec(0x9C00_0000_0000_017A, 2, 0));
        c.write(&f).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), c.render());
        assert!(!tmp_path(&f).exists());
        c.add(&rec(0x9C00_0000_0000_017A, 2, 0));
        c.write(&f).unwrap();
        assert!(fs::read_to_string(&f)
            .unwrap()
            .contains("socket=\"0\"} 2\n"));
        // A directory that does not exist: an error, nothing left behind.
        assert!(c.write(&dir.join("nope/x.prom")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
