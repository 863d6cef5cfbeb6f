// SPDX-License-Identifier: GPL-2.0-only

//! A test's scratch directory, removed with everything in it when the test
//! is done, passed or failed (a failing assertion unwinds through the
//! drop), so that the tests leave nothing in the temporary directory. One
//! file for the unit tests (`src/lib.rs`) and the integration tests
//! (`mod scratch;`), included by path.
//!
//! Not the tempfile crate: Debian 13's (3.15.0) needs rustix 0.38.39 or
//! later as crates.io publishes it, and Debian 13 has 0.38.37, so
//! Cargo.lock could not hold the versions of the offline Debian build.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `$TMPDIR/xmc-NAME-PID-N`: new, empty, and unique in the process (tests
/// run in parallel); removed when dropped. A `&Path` to it (`Deref`).
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("xmc-{name}-{}-{n}", std::process::id()));
        // Only a killed run of a process with the same PID leaves one.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
