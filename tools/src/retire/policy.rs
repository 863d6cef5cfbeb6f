// SPDX-License-Identifier: GPL-2.0-only

//! The policy ([`Retirer`]): each corrected memory error counted in its
//! page's bucket, a page past the threshold offlined through Xen (or, in a
//! dry run, only logged), at most `max-offlines` per period, with every time
//! it keeps taken from the wall clock and kept sane when the clock steps
//! back. Its parts: asking Xen and applying the outcome (`offline`), the
//! state file's writes (`save`), the bounded page table (`prune`), the
//! retries at start and every minute (`retry`) and the textfile (`metrics`).

mod metrics;
mod offline;
mod prune;
mod retry;
mod save;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use xmc_core::record::{Mce, XenInfo};

use super::{memory_ce_frame, window, Action, Config, Hypervisor, Level, Page, PageState, State};
use crate::xenpage;

/// A page whose offlining failed for an unknown reason is tried this many
/// times in all (at each new overflow of its bucket), then left alone.
pub const MAX_ATTEMPTS: u32 = 3;
/// How often pages Xen left offline-pending are asked about again (seconds).
pub const PENDING_RECHECK: u64 = 600;
/// At most this many pages are tracked: past it, room is made by
/// forgetting the pages whose loss costs no decision ([`EVICTABLE`], each
/// state's longest unchanged first); pages retired, deferred or left to a
/// guest are never forgotten: while the table holds only those, an error on
/// a new page is counted in the total and as untracked (logged). A failing
/// DIMM gives a few pages; thousands at once is a failing channel or DIMM,
/// which page retirement does not fix.
pub const MAX_PAGES: usize = 16384;
/// The states a full table may forget, in this order: a counting page
/// (it counts again from zero), a dry-run verdict (the page is judged
/// again), a refusal (Xen is asked again at the next crossing and refuses
/// again) and a failure (it gets its attempts again).
pub const EVICTABLE: [PageState; 4] = [
    PageState::Counting,
    PageState::DryRun,
    PageState::Refused,
    PageState::Failed,
];
/// Under a storm the state file is written at most once per this interval
/// (monotonic time): counts, drains, dry-run verdicts and deferrals are
/// coalesced, and a crash (SIGKILL, a reset) loses at most this much of
/// them: pages count again, none Xen took. Everything Xen is asked to do
/// is written at once: the state before every offline request
/// ([`Retirer::checkpoint`]) and the outcome right after; and always when
/// the service stops.
pub const STATE_SAVE_INTERVAL: Duration = Duration::from_secs(10);
/// A full table makes room for this many pages at once, so that a storm
/// of new pages sorts the table once per this many records, not per
/// record.
const ROOM: usize = MAX_PAGES / 64;

/// The policy: a configuration and its state.
pub struct Retirer {
    /// The configuration.
    pub cfg: Config,
    /// Counts and pages.
    pub state: State,
    /// The state changed since the last save.
    pub dirty: bool,
    /// Xen was asked to offline a page ([`Retirer::checkpoint`]), or
    /// retired pages were forgotten: the next [`Retirer::save_if_due`]
    /// writes at once.
    pub urgent: bool,
    /// Writes of the state file since the start (checkpoints included).
    pub state_writes: u64,
    /// Monotonic time of the last write ([`Retirer::save_if_due`]'s clock).
    last_save: Option<Duration>,
    /// The last write failed (logged once until one succeeds).
    save_failing: bool,
    /// Pages forgotten to make room in a full table, by state
    /// ([`EVICTABLE`]'s order), since the start.
    pub evicted: [u64; 4],
    /// Evictions not logged yet, and when the last summary was logged.
    evicted_unlogged: [u64; 4],
    evict_logged_at: Option<u64>,
    /// Errors on pages that could not be tracked (the table full of pages
    /// that are never forgotten), since the start.
    pub untracked: u64,
    /// The table is full of pages never forgotten (logged when it starts).
    full_logged: bool,
    /// With `guest-pages = skip`, the pages held back because the
    /// page-owner probe could not tell whether a guest owns them, and why
    /// (`offline`'s `hold_back`: each reason logged with the first page
    /// held back for it).
    owner_unknown: BTreeMap<u64, xenpage::NoAnswer>,
    last_recheck: u64,
    /// The latest time the policy has seen or holds (`None` until the
    /// first call): a `now` before it means the clock went back.
    high_water: Option<u64>,
    /// Retired pages Xen could not be asked about yet since the start.
    unchecked: Vec<u64>,
    /// The frames the running Xen kept out of its allocator from boot on
    /// (its command line's `badpage=`, [`crate::grub::xen_badpages`]), as
    /// inclusive ranges: offlining one again fails as "anonymous", which
    /// then means it is out of service ([`crate::grub::kept_out_at_boot`]).
    pub boot_badpages: Vec<(u64, u64)>,
}

impl Retirer {
    /// A policy with `cfg` and a state read before.
    pub fn new(cfg: Config, state: State) -> Retirer {
        Retirer {
            cfg,
            state,
            dirty: false,
            urgent: false,
            state_writes: 0,
            last_save: None,
            save_failing: false,
            evicted: [0; 4],
            evicted_unlogged: [0; 4],
            evict_logged_at: None,
            untracked: 0,
            full_logged: false,
            owner_unknown: BTreeMap::new(),
            last_recheck: 0,
            high_water: None,
            unchecked: Vec::new(),
            boot_badpages: Vec::new(),
        }
    }

    /// What is configured, for the log at start.
    pub fn describe(&self) -> String {
        let c = &self.cfg;
        match c.action {
            Action::Off => {
                let retired = self
                    .frames_in(&[PageState::Offlined, PageState::Pending])
                    .len();
                let mut d = String::from("page retirement is off (action = off)");
                if retired > 0 && !c.forget_retired {
                    let _ = write!(
                        d,
                        "; {retired} page{} retired before kept out of service (offlined again \
                         after a reboot; retired-pages = forget, or their lines removed from {}, \
                         returns them)",
                        if retired == 1 { "" } else { "s" },
                        c.state.display()
                    );
                }
                d
            }
            _ => format!(
                "page retirement: action = {}, memory-ce-threshold = {}, max-offlines = {}, \
                 {} pages known ({} offlined, {} pending) in {}",
                c.action.name(),
                c.threshold,
                c.max_offlines,
                self.state.pages.len(),
                self.count(PageState::Offlined),
                self.count(PageState::Pending),
                c.state.display()
            ),
        }
    }

    fn count(&self, s: PageState) -> usize {
        self.state.pages.values().filter(|p| p.state == s).count()
    }

    /// The frames of the pages in one of `states`, in frame order.
    fn frames_in(&self, states: &[PageState]) -> Vec<u64> {
        self.state
            .pages
            .iter()
            .filter(|(_, p)| states.contains(&p.state))
            .map(|(m, _)| *m)
            .collect()
    }

    fn set(&mut self, mfn: u64, s: PageState, now: u64) {
        if let Some(p) = self.state.pages.get_mut(&mfn) {
            if p.state != s {
                p.state = s;
                p.changed = now;
            }
        }
        self.dirty = true;
    }

    /// Offlines left in the current period (the list is pruned).
    fn budget(&mut self, now: u64) -> u32 {
        let r = self.cfg.max_offlines;
        self.state
            .offlines
            .retain(|&t| now.saturating_sub(t) < r.secs);
        let used = u32::try_from(self.state.offlines.len()).unwrap_or(u32::MAX);
        r.count.saturating_sub(used)
    }

    /// Takes `now` (wall clock) for the policy. Every time the policy keeps
    /// is wall-clock (the state file outlives reboots; the driver stamps
    /// records with the wall clock), so a clock that goes back, e.g. a clock
    /// years ahead stepped back by NTP, would leave times in the future:
    /// `max-offlines` blocked and buckets not draining until the clock
    /// catches up. A `now` before the latest time seen makes every later
    /// time the policy holds `now` (at most one period of `max-offlines`
    /// and one window of a bucket are then counted from the step). A step
    /// forward cannot be told from time really passing (a restart after a
    /// long stop looks the same): it counts as elapsed, so buckets drain and
    /// the `max-offlines` period may end early; no page is offlined that
    /// did not cross its threshold.
    fn observe(&mut self, now: u64, log: &mut dyn FnMut(Level, String)) {
        let high = *self.high_water.get_or_insert_with(|| {
            let st = &self.state;
            st.pages
                .values()
                .flat_map(|p| [p.since, p.changed])
                .chain(st.offlines.iter().copied())
                .max()
                .unwrap_or(0)
        });
        self.high_water = Some(now);
        if now >= high {
            return;
        }
        for p in self.state.pages.values_mut() {
            p.since = p.since.min(now);
            p.changed = p.changed.min(now);
        }
        for t in &mut self.state.offlines {
            *t = (*t).min(now);
        }
        self.last_recheck = self.last_recheck.min(now);
        self.dirty = true;
        if high - now >= 60 {
            log(
                Level::Warning,
                format!(
                    "the clock is {} s behind the latest time in the state (stepped back?): \
                     later times are taken as now",
                    high - now
                ),
            );
        }
    }

    /// One record read from the device.
    pub fn record(
        &mut self,
        m: &Mce,
        x: &XenInfo,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) {
        if self.cfg.action == Action::Off {
            return;
        }
        let Some(mfn) = memory_ce_frame(m, x) else {
            return;
        };
        self.observe(now, log);
        let t = self.cfg.threshold;
        if !self.state.pages.contains_key(&mfn) && self.state.pages.len() >= MAX_PAGES {
            self.prune_to(now, MAX_PAGES - ROOM, log);
            if self.state.pages.len() >= MAX_PAGES {
                // Only pages that are never forgotten: this one is not
                // tracked (its error counts in the total).
                self.state.errors += 1;
                self.untracked += 1;
                self.dirty = true;
                if !self.full_logged {
                    self.full_logged = true;
                    log(
                        Level::Err,
                        format!(
                            "page {mfn:#x}: corrected memory error at {:#x} not tracked: the \
                             table of {MAX_PAGES} pages holds only pages retired, deferred or \
                             left to a guest, which are never forgotten (a failing channel or \
                             DIMM, which page retirement does not fix); further such errors are \
                             counted in xen_mcelog_retire_untracked_errors_total",
                            m.addr
                        ),
                    );
                }
                return;
            }
        }
        if self.state.pages.len() < MAX_PAGES {
            self.full_logged = false;
        }
        // The error counts at the time the driver stamped the record (a
        // backlog read at start keeps its spacing), clamped to
        // [bucket's start, now]: a stamp in the future (the clock went back
        // since) is now, one before the bucket's last drain is that drain.
        let at = if m.time == 0 || m.time > now {
            now
        } else {
            m.time
        };
        let p = self.state.pages.entry(mfn).or_insert_with(|| {
            let mut p = Page::new(now);
            p.since = at;
            p
        });
        let full = p.account(t, at.max(p.since));
        p.owner = x.domid;
        self.state.errors += 1;
        self.dirty = true;
        let (state, level, errors) = (p.state, p.count, p.errors);
        let ma = m.addr;
        match state {
            PageState::Offlined | PageState::Pending | PageState::Refused => {
                log(
                    Level::Info,
                    format!(
                        "page {mfn:#x}: corrected memory error at {ma:#x} ({errors} in all); the \
                         page is already {}",
                        state.name()
                    ),
                );
                return;
            }
            PageState::Failed if self.state.pages[&mfn].attempts >= MAX_ATTEMPTS => {
                log(
                    Level::Warning,
                    format!(
                        "page {mfn:#x}: corrected memory error at {ma:#x} ({errors} in all); \
                         offlining failed {MAX_ATTEMPTS} times, not retried"
                    ),
                );
                return;
            }
            _ => {}
        }
        if !full {
            log(
                Level::Info,
                format!(
                    "page {mfn:#x}: corrected memory error at {ma:#x}, {level} of {} within {}",
                    t.count,
                    window(t.secs)
                ),
            );
            return;
        }
        let why = format!(
            "page {mfn:#x}: {} corrected memory errors within memory-ce-threshold {}",
            t.count, t
        );
        if self.cfg.action == Action::DryRun {
            self.set(mfn, PageState::DryRun, now);
            log(
                Level::Warning,
                format!("{why}: dry run, would offline it (xen-hptool mem-offline {mfn:#x})"),
            );
            return;
        }
        if !self.cfg.guest_pages && xenpage::is_guest(x.domid) {
            // Xen named the page's owner when it logged the error
            // (`mc_domid`, from the page's owner): a guest's page is left
            // to it without a word to Xen (no probe needed). A later record
            // without a guest owner (the guest freed it) retries.
            self.leave_to_guest_by_record(mfn, x.domid, &why, now, log);
            return;
        }
        self.try_offline(mfn, &why, now, hv, log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retire::tests::{ce, cfg, feed, FakeXen};
    use crate::retire::Config;
    use crate::scratch::Scratch;

    #[test]
    fn threshold_offlines_once_and_other_pages_stay() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 2, 100);
        assert_eq!(hv.calls, Vec::<String>::new());
        assert!(
            l[1].contains("page 0x3a5b1: corrected memory error at 0x3a5b1000, 2 of 3 within 24h"),
            "{l:?}"
        );
        feed(&mut r, &mut hv, 0x3A5C_2000, 2, 100);
        let l = feed(&mut r, &mut hv, 0x3A5B_1040, 1, 110);
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert!(l[0].starts_with("<4>page 0x3a5b1: 3 corrected memory errors within memory-ce-threshold 3 / 24h: offlining it"), "{l:?}");
        assert_eq!(l[1], "<5>page 0x3a5b1: offlined by Xen");
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        assert_eq!(r.state.pages[&0x3A5C2].state, PageState::Counting);
        // The N+1th error: counted, nothing more asked of Xen.
        let l = feed(&mut r, &mut hv, 0x3A5B_1080, 1, 120);
        assert_eq!(hv.calls.len(), 1);
        assert!(l[0].contains("already offlined"), "{l:?}");
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"offlined\"} 1\n"));
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"counting\"} 1\n"));
        assert!(r.metrics().contains("xen_mcelog_retire_errors_total 6\n"));
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_action{action=\"offline\"} 1\n"));
    }

    #[test]
    fn off_counts_nothing_and_dry_run_only_logs() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "off"), State::default());
        assert!(feed(&mut r, &mut hv, 0x3A5B_1000, 5, 100).is_empty());
        assert!(r.state.pages.is_empty() && !r.dirty);
        let mut r = Retirer::new(cfg(&tmp, "dry-run"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert!(
            l[2].contains("dry run, would offline it (xen-hptool mem-offline 0x3a5b1)"),
            "{l:?}"
        );
        assert!(hv.calls.is_empty());
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::DryRun);
        // Switching to offline does not act on the dry run's past verdict.
        r.cfg = cfg(&tmp, "offline");
        r.resume(200, &mut hv, &mut |_, _| {});
        assert!(hv.calls.is_empty());
    }

    /// `n` errors on the page of `addr`, stamped by the driver at `stamp`,
    /// read at `now`.
    fn feed_at(r: &mut Retirer, hv: &mut FakeXen, addr: u64, stamp: u64, now: u64) -> Vec<String> {
        let mut logs = Vec::new();
        let (mut m, x) = ce(addr);
        m.time = stamp;
        r.record(&m, &x, now, hv, &mut |l, s| {
            logs.push(format!("<{}>{s}", l as u8))
        });
        logs
    }

    const T: u64 = 1_800_000_000;
    const YEARS: u64 = 5 * 365 * 86400;

    #[test]
    fn a_clock_stepped_back_blocks_nothing_for_long() {
        let tmp = Scratch::new("retire");
        // The clock was five years ahead (an RTC set wrong): two pages
        // offlined, one error counted on a third, then the service restarts.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, T + YEARS);
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, T + YEARS);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, T + YEARS);
        let st = State::parse(&r.state.render()).unwrap();
        // NTP stepped it back. max-offlines (2 / 1h) is used up for the hour
        // after the step, not for five years.
        let mut r = Retirer::new(cfg(&tmp, "offline"), st);
        let mut logs = Vec::new();
        r.resume(T, &mut hv, &mut |_, s| logs.push(s));
        assert!(
            logs.iter().any(|l| l.contains(&format!(
                "the clock is {YEARS} s behind the latest time in the state (stepped back?)"
            ))),
            "{logs:?}"
        );
        let l = feed(&mut r, &mut hv, 0x3A5E_4000, 3, T + 10);
        assert!(
            l[2].contains("deferred, max-offlines 2 / 1h reached (next possible in 3590 s)"),
            "{l:?}"
        );
        r.tick(T + 3599, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        r.tick(T + 3600, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Offlined);
        // The bucket of the page counted in the future drains again: its
        // second error a day after the step finds the first drained.
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, T + 20);
        assert_eq!(r.state.pages[&0x3A5D3].count, 2);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, T + 20 + 86400);
        assert_eq!(r.state.pages[&0x3A5D3].count, 1);
        assert_eq!(r.state.pages[&0x3A5D3].state, PageState::Counting);
        // Nothing the state holds is after now any more.
        assert!(r.state.offlines.iter().all(|&t| t <= T + 3600));
        assert!(r.state.pages.values().all(|p| p.since <= T + 20 + 86400));
    }

    #[test]
    fn a_clock_stepped_forward_counts_as_time_passed() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, T);
        feed(&mut r, &mut hv, 0x3A5C_2000, 2, T);
        feed(&mut r, &mut hv, 0x3A5D_3000, 3, T);
        feed(&mut r, &mut hv, 0x3A5E_4000, 3, T);
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        // Five years forward: the rate limit's period is over, the deferred
        // page goes; the drained counting page is forgotten, the offlined
        // pages never are.
        r.tick(T + YEARS, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Offlined);
        assert!(!r.state.pages.contains_key(&0x3A5C2));
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        // A record the driver stamped before the step but read after it
        // counts at its stamp: an old error, drained by the next.
        feed_at(&mut r, &mut hv, 0x3A5F_5000, T + 5, T + YEARS + 10);
        assert_eq!(r.state.pages[&0x3A5F5].since, T + 5);
        feed_at(&mut r, &mut hv, 0x3A5F_5000, T + YEARS + 20, T + YEARS + 20);
        assert_eq!(r.state.pages[&0x3A5F5].count, 1);
        // A stamp before the bucket's last drain counts at that drain.
        feed_at(&mut r, &mut hv, 0x3A5F_5000, T + 6, T + YEARS + 30);
        assert_eq!(
            (r.state.pages[&0x3A5F5].count, r.state.pages[&0x3A5F5].since),
            (2, T + YEARS + 20)
        );
        // A stamp in the future (the clock went back after it) counts now.
        feed_at(&mut r, &mut hv, 0x3A60_6000, T + 2 * YEARS, T + YEARS + 40);
        assert_eq!(r.state.pages[&0x3A606].since, T + YEARS + 40);
    }

    #[test]
    fn a_backlog_read_at_start_counts_at_its_own_times() {
        // memory-ce-threshold 3 / 1h: three errors two hours apart each,
        // queued in the device while the service was stopped, read at once.
        let c = Config::parse("action = offline\nmemory-ce-threshold = 3 / 1h\n").unwrap();
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(c, State::default());
        for stamp in [T, T + 7200, T + 14400] {
            feed_at(&mut r, &mut hv, 0x3A5B_1000, stamp, T + 18000);
        }
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Counting);
        assert_eq!(r.state.pages[&0x3A5B1].count, 1);
        // Three within the hour do cross it, backlog or not.
        for stamp in [T + 20000, T + 20010, T + 20020] {
            feed_at(&mut r, &mut hv, 0x3A5C_2000, stamp, T + 21000);
        }
        assert_eq!(hv.calls, ["offline 0x3a5c2"]);
    }
}
