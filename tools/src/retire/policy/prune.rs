// SPDX-License-Identifier: GPL-2.0-only

//! The bounded page table: counting pages whose bucket drained are
//! forgotten, and past [`MAX_PAGES`] the pages whose loss costs no decision
//! ([`EVICTABLE`]), counted and summed up in the log.

use super::{Retirer, EVICTABLE, MAX_PAGES};
use crate::retire::{Level, PageState};

/// Evictions from a full table are logged at most once per this many
/// seconds (one summary line; the textfile counts each).
const EVICT_LOG_INTERVAL: u64 = 60;

impl Retirer {
    /// Forgets the counting pages whose bucket has drained (no drain for a
    /// whole window: the next error would find it empty, as on a new page)
    /// and, past [`MAX_PAGES`], pages in [`EVICTABLE`]'s order.
    pub fn prune(&mut self, now: u64, log: &mut dyn FnMut(Level, String)) {
        self.prune_to(now, MAX_PAGES, log);
    }

    /// [`Retirer::prune`] down to `limit` pages: past it, the counting
    /// pages that drained longest ago, then dry-run, refused and failed
    /// pages, each state's longest unchanged first. Pages retired
    /// (offlined, pending), deferred or left to a guest are never
    /// forgotten. Each page forgotten to make room is counted by state
    /// ([`Retirer::evicted`]) and summed up in the log (at most one line a
    /// minute).
    pub(super) fn prune_to(&mut self, now: u64, limit: usize, log: &mut dyn FnMut(Level, String)) {
        let w = self.cfg.threshold.secs;
        let before = self.state.pages.len();
        self.state
            .pages
            .retain(|_, p| p.state != PageState::Counting || now.saturating_sub(p.since) < w);
        if self.state.pages.len() != before {
            self.dirty = true;
        }
        for (i, st) in EVICTABLE.into_iter().enumerate() {
            if self.state.pages.len() <= limit {
                break;
            }
            let mut idle: Vec<(u64, u64)> = self
                .state
                .pages
                .iter()
                .filter(|(_, p)| p.state == st)
                .map(|(m, p)| {
                    (
                        if st == PageState::Counting {
                            p.since
                        } else {
                            p.changed
                        },
                        *m,
                    )
                })
                .collect();
            idle.sort_unstable();
            let extra = self.state.pages.len() - limit;
            for (_, mfn) in idle.into_iter().take(extra) {
                self.state.pages.remove(&mfn);
                self.evicted[i] += 1;
                self.evicted_unlogged[i] += 1;
                self.dirty = true;
            }
        }
        self.log_evictions(now, log);
    }

    /// The evictions since the last summary, when there are any and the
    /// last summary is [`EVICT_LOG_INTERVAL`] old (or there was none).
    fn log_evictions(&mut self, now: u64, log: &mut dyn FnMut(Level, String)) {
        if self.evicted_unlogged.iter().all(|&n| n == 0)
            || self
                .evict_logged_at
                .is_some_and(|t| now.saturating_sub(t) < EVICT_LOG_INTERVAL)
        {
            return;
        }
        self.evict_logged_at = Some(now);
        let what: Vec<String> = EVICTABLE
            .iter()
            .zip(std::mem::take(&mut self.evicted_unlogged))
            .filter(|(_, n)| *n > 0)
            .map(|(st, n)| format!("{n} {}", st.name()))
            .collect();
        log(
            Level::Warning,
            format!(
                "the table of {MAX_PAGES} pages is full: forgot {} page(s) to make room, \
                 longest unchanged first (retired, deferred and guest pages are never \
                 forgotten; xen_mcelog_retire_evicted_pages_total)",
                what.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::ROOM;
    use crate::retire::tests::{ce, cfg, feed, FakeXen};
    use crate::retire::{Level, Page, PageState, Retirer, State, MAX_PAGES};
    use crate::scratch::Scratch;

    #[test]
    fn drained_and_surplus_pages_are_forgotten_the_total_is_not() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 2, 100);
        feed(&mut r, &mut hv, 0x3A5C_1000, 3, 100);
        r.prune(100 + 86399, &mut |_, _| {});
        assert_eq!(r.state.pages.len(), 2);
        r.dirty = false;
        r.prune(100 + 86400, &mut |_, _| {});
        // The drained counting page goes; the offlined one stays.
        assert_eq!(r.state.pages.keys().copied().collect::<Vec<_>>(), [0x3A5C1]);
        assert!(r.dirty);
        assert!(r.metrics().contains("xen_mcelog_retire_errors_total 5\n"));
        assert_eq!(State::parse(&r.state.render()).unwrap(), r.state);
        // A bounded table: the oldest counting pages make room (ROOM of
        // them at once).
        for i in 0..(MAX_PAGES as u64 + 10) {
            feed(&mut r, &mut hv, (0x10_0000 + i) << 12, 1, 200_000 + i);
        }
        assert_eq!(r.state.pages.len(), MAX_PAGES - ROOM + 11);
        assert_eq!(r.evicted, [ROOM as u64, 0, 0, 0]);
        assert!(r.state.pages.contains_key(&0x3A5C1));
        assert!(!r.state.pages.contains_key(&0x10_0000));
        assert!(r
            .state
            .pages
            .contains_key(&(0x10_0000 + MAX_PAGES as u64 + 9)));
    }

    /// A page of `state` changed at `t`, for tables built by hand.
    fn page_in(state: PageState, t: u64) -> Page {
        let mut p = Page::new(t);
        p.state = state;
        p
    }

    #[test]
    fn a_full_table_forgets_only_what_costs_no_decision_and_says_so() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen::default();
        let mut logs = Vec::new();
        let mut log = |l: Level, s: String| logs.push(format!("<{}>{s}", l as u8));
        // Full of dry-run verdicts (and one page of each state that is
        // never forgotten): a new page forgets the oldest verdicts.
        let mut r = Retirer::new(cfg(&tmp, "dry-run"), State::default());
        let keep = [
            PageState::Offlined,
            PageState::Pending,
            PageState::Guest,
            PageState::Deferred,
        ];
        for (i, st) in keep.into_iter().enumerate() {
            r.state.pages.insert(0x1000 + i as u64, page_in(st, 1));
        }
        for i in 0..(MAX_PAGES - keep.len()) as u64 {
            r.state
                .pages
                .insert(0x10_0000 + i, page_in(PageState::DryRun, 1000 + i));
        }
        let (m, x) = ce(0x7777_7000);
        r.record(&m, &x, 50_000, &mut hv, &mut log);
        assert_eq!(r.state.pages.len(), MAX_PAGES - ROOM + 1);
        assert_eq!(r.evicted, [0, ROOM as u64, 0, 0]);
        assert!(r.state.pages.contains_key(&0x77777));
        assert!(!r.state.pages.contains_key(&0x10_0000));
        for i in 0..keep.len() as u64 {
            assert!(r.state.pages.contains_key(&(0x1000 + i)));
        }
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_evicted_pages_total{state=\"dry_run\"} 256\n"));
        assert!(
            logs.iter().any(|l| l
                .starts_with("<4>the table of 16384 pages is full: forgot 256 dry_run page(s)")),
            "{logs:?}"
        );

        // Full of pages that are never forgotten: the error counts in the
        // total and as untracked, logged once, and nothing is forgotten.
        let mut logs = Vec::new();
        let mut log = |l: Level, s: String| logs.push(format!("<{}>{s}", l as u8));
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        for i in 0..MAX_PAGES as u64 {
            r.state
                .pages
                .insert(0x10_0000 + i, page_in(keep[i as usize % 4], 1000));
        }
        let before = r.state.pages.clone();
        for a in [0x7777_7000, 0x7777_8000, 0x7777_7000] {
            let (m, x) = ce(a);
            r.record(&m, &x, 50_000, &mut hv, &mut log);
        }
        assert_eq!(r.state.pages, before);
        assert_eq!((r.untracked, r.state.errors, r.evicted), (3, 3, [0; 4]));
        assert!(r.dirty);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_untracked_errors_total 3\n"));
        let untracked: Vec<_> = logs.iter().filter(|l| l.contains("not tracked")).collect();
        assert_eq!(untracked.len(), 1, "{logs:?}");
        assert!(untracked[0]
            .starts_with("<3>page 0x77777: corrected memory error at 0x77777000 not tracked"));
        assert!(hv.calls.is_empty());
    }
}
