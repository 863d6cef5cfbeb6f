// SPDX-License-Identifier: GPL-2.0-only

//! The module's own counters (`XMC_GET_STATS`) as textfile families
//! (`xen_mcelog_module_*`): counted by the module since it was loaded, not
//! carried over by the tool.

use std::fmt::Write as _;

use crate::sys::DeviceStats;

/// Prefix of the families of the module's own counters ([`module_metrics`]).
pub const MODULE_PREFIX: &str = "xen_mcelog_module_";

/// The module's own counters, read from the device (`XMC_GET_STATS`), as
/// textfile families: `xen_mcelog_module_*`, counters `_total` and gauges,
/// named as Prometheus' naming guide asks (/docs/practices/naming/). They
/// are the module's: they count since it was loaded (a reload is a counter
/// reset, which `increase()` handles) and are not carried over by the tool.
/// `xen_mcelog_module_loaded` (the liveness gauges) is the tool's probe of
/// /sys/module, present with or without these.
pub fn module_metrics(m: &DeviceStats) -> String {
    let mut s = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let name = format!("{MODULE_PREFIX}{name}");
        let _ = write!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (labels, v) in samples {
            if labels.is_empty() {
                let _ = writeln!(s, "{name} {v}");
            } else {
                let _ = writeln!(s, "{name}{{{labels}}} {v}");
            }
        }
    };
    let counters: [(&str, &str, u64); 12] = [
        (
            "records_pushed_total",
            "Records the module stored in its ring since it was loaded (from Xen, from ERST, \
             written to the device).",
            m.ring_pushed,
        ),
        (
            "records_popped_total",
            "Records taken from the module's ring since it was loaded: by readers, and by the \
             drain making room (traced_only_dropped_records_total).",
            m.ring_popped,
        ),
        (
            "ring_rejected_records_total",
            "Records the full ring refused: the drain leaves them in Xen and stores them \
             later, a write gets ENOSPC. Not a loss.",
            m.ring_rejected_full,
        ),
        (
            "xen_records_stored_total",
            "Records from Xen's telemetry queues stored in the ring.",
            m.stored,
        ),
        (
            "backpressure_total",
            "Drains that stopped because the ring had no room for an entry (it waits in Xen).",
            m.backpressure,
        ),
        (
            "malformed_entries_total",
            "Xen telemetry entries that were malformed (stored as far as valid, acked).",
            m.malformed,
        ),
        (
            "unknown_cpu_entries_total",
            "Xen telemetry entries from an APIC id XEN_MC_physcpuinfo does not list.",
            m.unknown_cpu,
        ),
        (
            "xen_fetch_failures_total",
            "XEN_MC_fetch hypercalls that failed (retried at the next event or timer).",
            m.fetch_errors,
        ),
        (
            "xen_ack_failures_total",
            "XEN_MC_fetch|XEN_MC_ACK hypercalls that failed (the entry is stored again).",
            m.ack_errors,
        ),
        (
            "previous_boot_records_imported_total",
            "Fatal machine checks of a previous boot the module read from ERST at load.",
            m.previous_boot_imported,
        ),
        (
            "previous_boot_records_erased_total",
            "Previous-boot records delivered and gone from ERST.",
            m.previous_boot_erased,
        ),
        (
            "traced_only_dropped_records_total",
            "Records the drain took out of the full ring to make room while no file had the \
             device open, each delivered to a consumer of the tracepoint (rasdaemon) before. \
             Not a loss.",
            m.traced_only_dropped,
        ),
    ];
    for (name, help, v) in counters {
        family(name, "counter", help, &[("", v)]);
    }
    family(
        "xen_entries_fetched_total",
        "counter",
        "Entries fetched from Xen's telemetry queues (an entry waiting for room counts at \
         each fetch).",
        &[
            ("queue=\"urgent\"", m.fetched_urgent),
            ("queue=\"nonurgent\"", m.fetched_nonurgent),
        ],
    );
    family(
        "xen_entries_acked_total",
        "counter",
        "Entries acknowledged to Xen (freed in Xen's pool) after all their records were stored.",
        &[
            ("queue=\"urgent\"", m.acked_urgent),
            ("queue=\"nonurgent\"", m.acked_nonurgent),
        ],
    );
    family(
        "overflows_total",
        "counter",
        "Times the module raised MCE_OVERFLOW, by reason: an entry Xen marked incomplete or \
         whose banks were dropped (records lost), or Xen's pool may have filled while the \
         ring was full (Xen drops telemetry then). Counted whoever clears the flag.",
        &[
            ("reason=\"incomplete\"", m.overflow_incomplete),
            ("reason=\"dropped_banks\"", m.overflow_dropped_banks),
            ("reason=\"xen_pool\"", m.overflow_xen_pool),
        ],
    );
    let gauges: [(&str, &str, u64); 5] = [
        (
            "ring_capacity",
            "Records the module's ring holds (ring_size).",
            m.ring_capacity,
        ),
        (
            "ring_used",
            "Records in the module's ring now, not yet read.",
            m.ring_len,
        ),
        (
            "previous_boot_records_pending",
            "Previous-boot records still in ERST, to be erased once delivered.",
            m.previous_boot_pending,
        ),
        (
            "previous_boot_records_given_up",
            "Previous-boot records delivered but left in ERST after failed erases (they come \
             again at the next load).",
            m.previous_boot_given_up,
        ),
        (
            "open_files",
            "Open files of /dev/xen_mcelog (more than one reader splits the records).",
            m.open_files,
        ),
    ];
    for (name, help, v) in gauges {
        family(name, "gauge", help, &[("", v)]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prom::{Counters, Liveness};

    #[test]
    fn module_metrics_name_every_counter() {
        let m = DeviceStats {
            ring_capacity: 1024,
            ring_len: 2,
            ring_pushed: 7,
            ring_popped: 5,
            ring_rejected_full: 3,
            fetched_urgent: 11,
            fetched_nonurgent: 12,
            acked_urgent: 13,
            acked_nonurgent: 14,
            stored: 6,
            backpressure: 1,
            malformed: 15,
            unknown_cpu: 16,
            cpu_refreshes: 17,
            fetch_errors: 18,
            ack_errors: 19,
            overflow_incomplete: 20,
            overflow_dropped_banks: 21,
            overflow_xen_pool: 22,
            previous_boot_imported: 23,
            previous_boot_pending: 24,
            previous_boot_erased: 25,
            previous_boot_given_up: 26,
            open_files: 27,
            traced_only_dropped: 28,
        };
        let t = module_metrics(&m);
        for l in [
            "xen_mcelog_module_records_pushed_total 7",
            "xen_mcelog_module_records_popped_total 5",
            "xen_mcelog_module_ring_rejected_records_total 3",
            "xen_mcelog_module_xen_records_stored_total 6",
            "xen_mcelog_module_backpressure_total 1",
            "xen_mcelog_module_malformed_entries_total 15",
            "xen_mcelog_module_unknown_cpu_entries_total 16",
            "xen_mcelog_module_xen_fetch_failures_total 18",
            "xen_mcelog_module_xen_ack_failures_total 19",
            "xen_mcelog_module_previous_boot_records_imported_total 23",
            "xen_mcelog_module_previous_boot_records_erased_total 25",
            "xen_mcelog_module_traced_only_dropped_records_total 28",
            "xen_mcelog_module_xen_entries_fetched_total{queue=\"urgent\"} 11",
            "xen_mcelog_module_xen_entries_fetched_total{queue=\"nonurgent\"} 12",
            "xen_mcelog_module_xen_entries_acked_total{queue=\"urgent\"} 13",
            "xen_mcelog_module_xen_entries_acked_total{queue=\"nonurgent\"} 14",
            "xen_mcelog_module_overflows_total{reason=\"incomplete\"} 20",
            "xen_mcelog_module_overflows_total{reason=\"dropped_banks\"} 21",
            "xen_mcelog_module_overflows_total{reason=\"xen_pool\"} 22",
            "xen_mcelog_module_ring_capacity 1024",
            "xen_mcelog_module_ring_used 2",
            "xen_mcelog_module_previous_boot_records_pending 24",
            "xen_mcelog_module_previous_boot_records_given_up 26",
            "xen_mcelog_module_open_files 27",
        ] {
            assert!(t.lines().any(|s| s == l), "{l}\n{t}");
        }
        // Counters end in _total, gauges do not; each family once, its
        // HELP and TYPE before its samples.
        let mut names = Vec::new();
        for l in t.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let (name, kind) = l.split_once(' ').unwrap();
            assert_eq!(name.ends_with("_total"), kind == "counter", "{l}");
            assert!(name.starts_with(MODULE_PREFIX));
            names.push(name);
        }
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(n, 20);
        // The tool's own counters do not take them back at a restart:
        // they are the module's (a reload resets them).
        // (Counters' other fields are private to prom::counters.)
        let mut c = Counters::default();
        c.overflows = 2;
        let text = c.render(&Liveness::default()) + &t;
        assert_eq!(Counters::restore(&text), c);
    }
}
