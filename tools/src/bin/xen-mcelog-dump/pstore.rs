// SPDX-License-Identifier: GPL-2.0-only

//! `--pstore`: Xen's saved machine checks among pstore's files (the fatal
//! ones Xen wrote into ERST before a reset), printed as records.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xmc_core::erst::{XenSavedMce, XEN_MCE_LEN};
use xmc_tools::RECORD_LEN;

use crate::printer::{Item, Printer};
use crate::Out;

/// Where pstore shows ERST records, and where systemd-pstore keeps them.
const PSTORE_DIRS: [&str; 2] = ["/sys/fs/pstore", "/var/lib/systemd/pstore"];

/// `--pstore`: Xen's saved MCE records among pstore's files.
pub(crate) fn pstore(dir: Option<&str>, out: Out) -> ExitCode {
    let dirs: Vec<&str> = dir.map_or(PSTORE_DIRS.to_vec(), |d| vec![d]);
    let mut files = Vec::new();
    for d in &dirs {
        match pstore_files(Path::new(d)) {
            Ok(mut f) => files.append(&mut f),
            Err(e) if dir.is_none() && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("xen-mcelog-dump: {d}: {e}");
                return ExitCode::from(3);
            }
        }
    }
    files.sort();
    let mut recs = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = name
            .rsplit('-')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        match std::fs::read(f) {
            Ok(b) => match XenSavedMce::parse(&b, id) {
                Some(s) => recs.push(s.to_record(&[])),
                None => eprintln!(
                    "xen-mcelog-dump: {}: {} bytes, not Xen's struct mce ({XEN_MCE_LEN} bytes): skipped",
                    f.display(),
                    b.len()
                ),
            },
            Err(e) => eprintln!("xen-mcelog-dump: {}: {e}", f.display()),
        }
    }
    let bytes: Vec<[u8; RECORD_LEN]> = recs.iter().map(|(m, _)| m.to_bytes()).collect();
    let items: Vec<Item> = recs
        .iter()
        .zip(&bytes)
        .map(|((m, x), b)| Item {
            mce: *m,
            raw: b,
            xen: Some((0, *x)),
        })
        .collect();
    let mut p = Printer {
        out,
        w: io::BufWriter::new(io::stdout().lock()),
        printed: 0,
        prom: None,
        retire: None,
    };
    match p.emit(&items, None).and_then(|()| p.w.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {e}");
            ExitCode::from(3)
        }
    }
}

/// The `mce-*` files in `dir` and its direct subdirectories (systemd-pstore
/// may group what it archives in one directory per boot).
fn pstore_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            for e2 in std::fs::read_dir(&p)?.flatten() {
                if e2.file_name().to_string_lossy().starts_with("mce-") {
                    out.push(e2.path());
                }
            }
        } else if e.file_name().to_string_lossy().starts_with("mce-") {
            out.push(p);
        }
    }
    Ok(out)
}
