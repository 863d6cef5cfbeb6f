// SPDX-License-Identifier: GPL-2.0-only

//! The node_exporter textfile's part of page retirement: pages by state,
//! errors counted, the action in force, evictions, untracked errors, state
//! file writes and pages held back for want of the page-owner probe's
//! answer.

use std::fmt::Write as _;

use super::{Retirer, EVICTABLE};
use crate::retire::{Action, PageState};
use crate::xenpage::NoAnswer;

impl Retirer {
    /// The node_exporter textfile's part: pages by state, errors counted.
    pub fn metrics(&self) -> String {
        let mut s = String::from(
            "# HELP xen_mcelog_retire_pages Machine pages tracked by page retirement \
             (xen-mcelog-dump --retire), by state.\n# TYPE xen_mcelog_retire_pages gauge\n",
        );
        for st in PageState::ALL {
            let _ = writeln!(
                s,
                "xen_mcelog_retire_pages{{state=\"{}\"}} {}",
                st.name(),
                self.count(st)
            );
        }
        let errors = self.state.errors;
        let _ = write!(
            s,
            "# HELP xen_mcelog_retire_errors_total Corrected memory errors counted per machine \
             page (kept across restarts).\n# TYPE xen_mcelog_retire_errors_total counter\n\
             xen_mcelog_retire_errors_total {errors}\n\
             # HELP xen_mcelog_retire_action The configured action (1 for the one in force).\n\
             # TYPE xen_mcelog_retire_action gauge\n"
        );
        for a in [Action::Off, Action::DryRun, Action::Offline] {
            let _ = writeln!(
                s,
                "xen_mcelog_retire_action{{action=\"{}\"}} {}",
                a.name(),
                u8::from(self.cfg.action == a)
            );
        }
        s.push_str(
            "# HELP xen_mcelog_retire_evicted_pages_total Pages forgotten to make room in the \
             full table, by state (since the start).\n\
             # TYPE xen_mcelog_retire_evicted_pages_total counter\n",
        );
        for (st, n) in EVICTABLE.iter().zip(self.evicted) {
            let _ = writeln!(
                s,
                "xen_mcelog_retire_evicted_pages_total{{state=\"{}\"}} {n}",
                st.name()
            );
        }
        let _ = write!(
            s,
            "# HELP xen_mcelog_retire_untracked_errors_total Corrected memory errors on pages \
             not tracked: the table full of pages never forgotten (since the start).\n\
             # TYPE xen_mcelog_retire_untracked_errors_total counter\n\
             xen_mcelog_retire_untracked_errors_total {}\n\
             # HELP xen_mcelog_retire_state_writes_total Writes of the state file tried \
             since the start.\n# TYPE xen_mcelog_retire_state_writes_total counter\n\
             xen_mcelog_retire_state_writes_total {}\n",
            self.untracked, self.state_writes
        );
        s.push_str(
            "# HELP xen_mcelog_retire_owner_unknown_pages Pages not offlined because \
             xen_mcelog's page-owner probe could not tell whether a guest owns them \
             (guest-pages = skip), by reason; asked about again every minute.\n\
             # TYPE xen_mcelog_retire_owner_unknown_pages gauge\n",
        );
        for (label, n) in NoAnswer::LABELS.iter().zip(self.held_back()) {
            let _ = writeln!(
                s,
                "xen_mcelog_retire_owner_unknown_pages{{reason=\"{label}\"}} {n}"
            );
        }
        s
    }
}
