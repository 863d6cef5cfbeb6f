// SPDX-License-Identifier: GPL-2.0-only

//! The node_exporter textfile (`--prometheus`), shared by the reader and
//! page retirement's thread and rewritten whole after each change, and
//! `--mark-down`, which says in a textfile the reader left that it is down.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use xmc_tools::prom::{self, Counters, Liveness};
use xmc_tools::retire::Level;
use xmc_tools::sys::DeviceStats;

use crate::{log, unix_now};

/// The node_exporter textfile, shared by the reader (record counters) and
/// the retire thread (page states). An optional output: a failed write is
/// logged once, counted, and tried again at the next change.
pub(crate) struct Textfile {
    path: PathBuf,
    pub(crate) counters: Counters,
    pub(crate) live: Liveness,
    /// The last write (tried).
    pub(crate) written: Instant,
    /// `Retirer::metrics`, while page retirement has a configuration.
    pub(crate) retire: String,
    /// With `--retire`: whether the last load of its configuration failed.
    pub(crate) retire_config_error: Option<bool>,
    /// With `--retire`: xen-hptool runs killed at the timeout.
    pub(crate) hptool_timeouts: Option<u64>,
    /// Writes that failed since the start.
    failures: u64,
    /// The last write failed (and was logged).
    failing: bool,
    /// The module's own counters as last read (`XMC_GET_STATS`); `None`:
    /// not read (a saved file, a module without the ioctl).
    pub(crate) module: Option<DeviceStats>,
}

pub(crate) type Shared = Arc<Mutex<Textfile>>;

/// The textfile's lock (a panic elsewhere does not stop the counters).
pub(crate) fn lock(tf: &Shared) -> std::sync::MutexGuard<'_, Textfile> {
    tf.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Textfile {
    /// The counters a previous run left in `path` are carried over.
    pub(crate) fn new(path: PathBuf) -> Textfile {
        let counters = std::fs::read_to_string(&path)
            .map(|t| Counters::restore(&t))
            .unwrap_or_default();
        // Its first read follows at once: until then the start stands for
        // it (a 0 would look like a reader that never read).
        let now = unix_now();
        let mut live = Liveness {
            up: true,
            start: now,
            last_read: now,
            ..Liveness::default()
        };
        live.probe();
        Textfile {
            path,
            counters,
            live,
            written: Instant::now(),
            retire: String::new(),
            retire_config_error: None,
            hptool_timeouts: None,
            failures: 0,
            failing: false,
            module: None,
        }
    }

    /// The samples after the record counters: page retirement's, then the
    /// tool's own health.
    fn extra(&self) -> String {
        let mut s = self.retire.clone();
        if let Some(e) = self.retire_config_error {
            s.push_str(&format!(
                "# HELP xen_mcelog_retire_config_error 1 when the last load of the --retire \
                 configuration failed (at start: retirement off; at a reload: the previous \
                 configuration stays in force).\n# TYPE xen_mcelog_retire_config_error gauge\n\
                 xen_mcelog_retire_config_error {}\n",
                u8::from(e)
            ));
        }
        if let Some(t) = self.hptool_timeouts {
            s.push_str(&format!(
                "# HELP xen_mcelog_retire_hptool_timeouts_total xen-hptool runs killed at \
                 their timeout since the start.\n\
                 # TYPE xen_mcelog_retire_hptool_timeouts_total counter\n\
                 xen_mcelog_retire_hptool_timeouts_total {t}\n"
            ));
        }
        if let Some(m) = &self.module {
            s.push_str(&prom::module_metrics(m));
        }
        s.push_str(&format!(
            "# HELP xen_mcelog_textfile_write_failures_total Writes of this textfile that \
             failed since the start.\n# TYPE xen_mcelog_textfile_write_failures_total counter\n\
             xen_mcelog_textfile_write_failures_total {}\n",
            self.failures
        ));
        s
    }

    /// Rewrites the file; the first failure is logged at err, the first
    /// success after failures at notice.
    pub(crate) fn write(&mut self) {
        let body = self.counters.render(&self.live);
        let extra = self.extra();
        self.written = Instant::now();
        match prom::write_atomic(&self.path, &[body.as_bytes(), extra.as_bytes()]) {
            Ok(()) if self.failing => {
                self.failing = false;
                log(
                    Level::Notice,
                    format!(
                        "--prometheus {}: written again ({} writes failed before)",
                        self.path.display(),
                        self.failures
                    ),
                );
            }
            Ok(()) => {}
            Err(e) => {
                self.failures += 1;
                if !self.failing {
                    self.failing = true;
                    log(
                        Level::Err,
                        format!(
                            "--prometheus {}: cannot write the textfile: {e}; the records keep \
                             flowing, the textfile is tried again after each batch \
                             (xen_mcelog_textfile_write_failures_total)",
                            self.path.display()
                        ),
                    );
                }
            }
        }
    }
}

/// `--prometheus F --mark-down`: F with `xen_mcelog_reader_up 0` (ExecStopPost).
pub(crate) fn mark_down(path: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // Nothing to mark: no reader ever wrote it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {}: {e}", path.display());
            return ExitCode::from(3);
        }
    };
    let mut live = Liveness::default();
    live.probe();
    let down = prom::mark_down(&text, live.module_loaded);
    match prom::write_atomic(path, &[down.as_bytes()]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {}: {e}", path.display());
            ExitCode::from(3)
        }
    }
}
