// SPDX-License-Identifier: GPL-2.0-only

//! `xen-mcelog-dump --prometheus FILE`: a node_exporter textfile (textfile
//! collector: `--collector.textfile.directory`) of counters of the records
//! read, the reader's liveness and the module's loss signal. The file is
//! rewritten whole after each batch and at each heartbeat: written to
//! `FILE.tmp` in the same directory, then renamed over `FILE`, so the
//! collector never reads half a file (the `.tmp` name does not end in
//! `.prom` and is not collected).
//!
//! Names and types follow Prometheus' naming guide
//! (/docs/practices/naming/: base units, `_total` counters, `_seconds`
//! times, `_timestamp_seconds` for Unix times) and node_exporter's
//! collectors (`node_boot_time_seconds`, `node_textfile_mtime_seconds`).
//!
//! Restarts: the counters are carried over. At start the tool reads its
//! own previous FILE back ([`Counters::restore`]): the file is already
//! written atomically and durably, lives in node_exporter's persistent
//! textfile directory, and so a series never goes back to 0 when the
//! service or the host restarts (the host reset by a fatal machine check
//! is exactly when the next value matters). Every series an alert reads
//! exists from the first write at 0 (each severity, each boot), so the
//! first record is an increase. `xen_mcelog_start_time_seconds` says when
//! the reader started; a lost FILE is an ordinary counter reset that
//! `increase()` handles.
//!
//! Cardinality: severity (6 values) x boot (2); bank x socket x severity as
//! the hardware has them (MCG_CAP.Count banks per CPU, a few sockets);
//! memory pages at most [`MAX_PAGES`] per file, further pages counted under
//! `page="other"` of their socket.
//!
//! The parts: the tool's counters and liveness (`counters`), the module's
//! counters (`module`), and the atomic file write (`atomic`), which the
//! retirement state file and the GRUB snippet use too.

mod atomic;
mod counters;
mod module;

pub use atomic::{tmp_path, write_atomic};
pub use counters::{
    mark_down, Counters, Liveness, BANK_METRIC, BOOTS, LAST_RECORD_METRIC, MAX_PAGES, METRIC,
    OVERFLOW_METRIC, PAGE_METRIC, UP_METRIC,
};
pub use module::{module_metrics, MODULE_PREFIX};
