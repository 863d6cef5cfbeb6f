// SPDX-License-Identifier: GPL-2.0-only

//! Predictive page retirement for Xen hosts (`xen-mcelog-dump --follow
//! --retire CONFIG`): corrected memory errors are counted per machine page
//! (4 KiB frame) in mcelog's leaky bucket; when a page's bucket overflows
//! (`memory-ce-threshold = N / window`, N >= 2) the page is offlined by Xen
//! through the page-offline sysctl of Xen's own tool (`xen-hptool
//! mem-offline`; xen-hptool itself only for a guest's page with `guest-pages
//! = offline`), at most `max-offlines` per period. Off until
//! configured; `action = dry-run` only logs. The counts, the pages' states
//! and the recent offlines are kept in a state file, so a restart of the
//! service or a reload of the module loses nothing.
//!
//! Only the record's machine address is used (the Xen side of an extended
//! record, [`XenInfo::machine_addr`]): dom0's pseudo-physical pages and a
//! guest's addresses are never involved.
//!
//! Time: every time the policy uses or keeps is wall-clock Unix seconds (the
//! state file outlives reboots, where no monotonic clock survives, and the
//! driver stamps each record with the wall clock). An error counts at its
//! record's stamp, so a backlog read at start keeps its spacing; the stamp is
//! clamped to [the page bucket's last drain, now]. A clock that goes back
//! (e.g. years ahead at boot, then stepped back by NTP) would leave times in
//! the future, blocking `max-offlines` and stopping buckets from draining
//! until the clock caught up: a `now` before the latest time seen makes all
//! later times `now` (logged when 60 s or more). A step forward cannot be told
//! from time passing and counts as elapsed: buckets drain and the
//! `max-offlines` period may end early (no page is offlined that did not
//! cross its threshold).
//!
//! Who owns a page is asked right before every offline request (the first
//! crossing, deferred and guest pages retried by [`Retirer::tick`], retired
//! pages offlined again after a reboot). With `guest-pages = skip`, after
//! Xen's status query ([`xenpage::check`]), xen_mcelog's page-owner probe
//! asks each guest whether it owns the page ([`xenpage::guest_owner`],
//! `XMC_PAGE_OWNER`), which marks nothing: a guest's page is left to the
//! guest with no offline request, and so is, for now, a page whose owner the
//! probe cannot tell (an old module, the probe off, no device, no list of
//! domains, an unexpected answer of Xen's: held back, asked about again
//! every minute). Then [`xenpage::request`], the page-offline sysctl
//! xen-hptool uses, whose answer names the owner: a free page or dom0's
//! goes in that same step; a guest's page (one a guest got after its answer
//! to the probe) is left to the guest (Xen's mark taken back at once) and
//! xen-hptool, which suspends the guest to exchange the page, is never run;
//! with `guest-pages = offline` xen-hptool then exchanges it. The owner in
//! the error record only says who held the page when the error was seen.
//!
//! Everything but [`HpTool`] (which runs the program, makes the sysctls and
//! the ioctl) and [`load_state`]'s file handling is pure and host-tested.
//!
//! The parts, each with its tests: the configuration file (`config`), which
//! records count (`classify`), the pages' state and its file (`state`), the
//! policy (`policy`, itself in parts), Xen's side and xen-hptool (`hptool`),
//! and rasdaemon's own page offlining on dom0 (`rasdaemon`); the tests'
//! shared fixtures are in `tests`. The log's [`Level`], which every part
//! logs with, is here.
//!
//! [`XenInfo::machine_addr`]: xmc_core::record::XenInfo::machine_addr
//! [`xenpage::check`]: crate::xenpage::check
//! [`xenpage::guest_owner`]: crate::xenpage::guest_owner
//! [`xenpage::request`]: crate::xenpage::request

mod classify;
mod config;
mod hptool;
mod policy;
mod rasdaemon;
mod state;
#[cfg(test)]
mod tests;

pub use classify::{cpu_family, memory_ce_frame, usable_address};
pub use config::{window, Action, Config, Rate, DEFAULT_CONFIG, DEFAULT_HPTOOL, DEFAULT_STATE};
pub use hptool::{
    classify, parse_status, status_text, HpTool, Hypervisor, Outcome, HPTOOL_TIMEOUT,
};
pub use policy::{
    Retirer, EVICTABLE, MAX_ATTEMPTS, MAX_PAGES, PENDING_RECHECK, STATE_SAVE_INTERVAL,
};
pub use rasdaemon::{dom0_offline_warnings, rasdaemon_page_action, RASDAEMON_DEFAULTS};
pub use state::{aside_path, load_state, Page, PageState, State};

/// Log priorities (syslog's numbers, for the journal's `<N>` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// LOG_ERR.
    Err = 3,
    /// LOG_WARNING.
    Warning = 4,
    /// LOG_NOTICE.
    Notice = 5,
    /// LOG_INFO.
    Info = 6,
}
