// SPDX-License-Identifier: GPL-2.0-only

//! Replacing a file atomically and durably (`FILE.tmp`, fsync, rename,
//! directory fsync): the textfile, and also the retirement state file and
//! the GRUB snippet.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
    use crate::scratch::Scratch;

    #[test]
    fn writes_atomically() {
        let dir = Scratch::new("prom");
        let f = dir.join("xen_mcelog.prom");
        assert_eq!(tmp_path(&f), dir.join("xen_mcelog.prom.tmp"));
        write_atomic(&f, &[b"a 1\n", b"b 2\n"]).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "a 1\nb 2\n");
        assert!(!tmp_path(&f).exists());
        // A directory that does not exist: an error, nothing left behind.
        assert!(write_atomic(&dir.join("nope/x.prom"), &[b"x"]).is_err());
    }
}
