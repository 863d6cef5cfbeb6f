// SPDX-License-Identifier: GPL-2.0-only

//! A page past its threshold: the rate limit, then Xen asked who owns the
//! page right before the offline request, a guest's page left to the guest
//! (`guest-pages = skip`), and Xen's outcome applied to the page's state.

use super::{Retirer, MAX_ATTEMPTS};
use crate::retire::{status_text, Hypervisor, Level, Outcome, PageState};
use crate::xenpage::{self, Claim, Mark, PG_OFFLINE_STATUS_OFFLINED};

impl Retirer {
    /// Offlines `mfn` if the rate limit allows, else defers it. Xen is
    /// asked who owns the page right before (in the same step, for a free
    /// page: [`xenpage::claim`]); the error record's owner is not used.
    pub(super) fn try_offline(
        &mut self,
        mfn: u64,
        why: &str,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) {
        if self.budget(now) == 0 {
            let r = self.cfg.max_offlines;
            let next = self.state.offlines.first().map_or(now, |t| t + r.secs);
            if self.state.pages[&mfn].state != PageState::Deferred {
                log(
                    Level::Warning,
                    format!(
                        "{why}: deferred, max-offlines {r} reached (next possible in {} s)",
                        next.saturating_sub(now)
                    ),
                );
            }
            self.set(mfn, PageState::Deferred, now);
            return;
        }
        match self.ask_and_offline(mfn, why, false, now, hv, log) {
            Ok(Some(out)) => self.apply(mfn, out, now, log),
            Ok(None) => {}
            Err(e) => self.apply(
                mfn,
                Outcome::Failed(format!(
                    "cannot ask Xen who owns the page, so not offlined (guest-pages = skip): {e}"
                )),
                now,
                log,
            ),
        }
    }

    /// Asks Xen who owns `mfn` now and offlines it unless a guest does
    /// (`guest-pages = skip`); `why` opens the log lines; `again`: a page
    /// retired before that Xen has online (the host rebooted). The outcome
    /// for [`Retirer::apply`], or `None` when the page stays where it is
    /// (left to a guest, or Xen had it already: logged, its state set).
    /// `Err`: Xen could not be asked and, with `guest-pages = skip`,
    /// nothing was done.
    pub(super) fn ask_and_offline(
        &mut self,
        mfn: u64,
        why: &str,
        again: bool,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) -> Result<Option<Outcome>, String> {
        let guests = self.cfg.guest_pages;
        // Xen may act on the page from here on.
        self.checkpoint(mfn, log);
        // (Past its first query, xenpage::claim acts only on a page Xen
        // reports with none of its status bits: 0x0 [online].)
        let (lead, again) = if again {
            (
                format!(
                    "{why}, but Xen reports it {} (the host rebooted?)",
                    status_text(0)
                ),
                " again",
            )
        } else {
            (why.to_string(), "")
        };
        let claim = match xenpage::claim(hv, mfn, guests) {
            Ok(c) => c,
            Err(e) if guests => {
                // guest-pages = offline: the owner does not decide.
                log(
                    Level::Warning,
                    format!(
                        "{lead}: offlining it{again} through Xen (xen-hptool mem-offline \
                         {mfn:#x}; Xen's page-offline sysctl failed: {e})"
                    ),
                );
                return Ok(Some(hv.offline(mfn)));
            }
            Err(e) => return Err(e),
        };
        let out = match claim {
            Claim::Already(s) => {
                let st = if s & PG_OFFLINE_STATUS_OFFLINED != 0 {
                    PageState::Offlined
                } else {
                    PageState::Pending
                };
                if self.state.pages.get(&mfn).map(|p| p.state) != Some(st) {
                    log(
                        Level::Notice,
                        format!(
                            "{why}: Xen reports it {} already: nothing asked",
                            status_text(s)
                        ),
                    );
                }
                self.set(mfn, st, now);
                return Ok(None);
            }
            Claim::Guest { domid, mark } if !guests => {
                self.leave_to_guest(mfn, domid, mark, &lead, now, log);
                return Ok(None);
            }
            Claim::Guest { domid, .. } => {
                log(
                    Level::Warning,
                    format!(
                        "{lead}: domain {domid} owns it now: offlining it{again} through Xen \
                         (xen-hptool mem-offline {mfn:#x}, which suspends the guest to exchange \
                         the page: guest-pages = offline)"
                    ),
                );
                self.note_owner(mfn, domid);
                return Ok(Some(hv.offline(mfn)));
            }
            Claim::Offlined => Outcome::Offlined,
            Claim::Pending(d) => {
                self.note_owner(mfn, d);
                Outcome::Pending(Some(u32::from(d)))
            }
            Claim::Refused(w) => Outcome::Refused(w),
            Claim::Failed(w) => Outcome::Failed(w),
        };
        log(
            Level::Warning,
            format!(
                "{lead}: offlining it{again} through Xen (its page-offline sysctl, as xen-hptool \
                 mem-offline {mfn:#x}; not owned by a guest)"
            ),
        );
        Ok(Some(out))
    }

    /// `mfn` is left to guest `domid`: state `guest`, the owner noted.
    /// Whether that is news (a retry or error finding the same owner is
    /// quiet).
    fn become_guest(&mut self, mfn: u64, domid: u16, now: u64) -> bool {
        let news = self
            .state
            .pages
            .get(&mfn)
            .is_none_or(|p| p.state != PageState::Guest || p.owner != domid);
        self.note_owner(mfn, domid);
        self.set(mfn, PageState::Guest, now);
        news
    }

    fn note_owner(&mut self, mfn: u64, domid: u16) {
        if let Some(p) = self.state.pages.get_mut(&mfn) {
            p.owner = domid;
        }
    }

    /// Xen answered that guest `domid` owns `mfn` (`guest-pages = skip`):
    /// state `guest`, said when that is news (a retry finding the same
    /// owner is quiet).
    fn leave_to_guest(
        &mut self,
        mfn: u64,
        domid: u16,
        mark: Mark,
        why: &str,
        now: u64,
        log: &mut dyn FnMut(Level, String),
    ) {
        if let Mark::Stuck(e) = mark {
            self.note_owner(mfn, domid);
            self.set(mfn, PageState::Pending, now);
            log(
                Level::Err,
                format!(
                    "{why}: in use by domain {domid} (Xen's answer); Xen marked it \
                     offline-pending and did not take the mark back ({e}): Xen offlines it when \
                     the guest frees it; the guest is not suspended"
                ),
            );
            return;
        }
        if self.become_guest(mfn, domid, now) {
            log(
                Level::Warning,
                format!(
                    "{why}: in use by domain {domid}, not offlined: domain {domid} owns it now \
                     (Xen's answer), left to the guest (guest-pages = skip: xen-hptool would \
                     suspend the guest to exchange the page); a later error in it without a \
                     guest owner is acted on"
                ),
            );
        }
    }

    /// The error record names guest `domid` as the page's owner
    /// (`guest-pages = skip`): state `guest`, Xen not asked; said when news.
    pub(super) fn leave_to_guest_by_record(
        &mut self,
        mfn: u64,
        domid: u16,
        why: &str,
        now: u64,
        log: &mut dyn FnMut(Level, String),
    ) {
        if self.become_guest(mfn, domid, now) {
            log(
                Level::Warning,
                format!(
                    "{why}: in use by domain {domid}, not offlined: the error record names \
                     domain {domid} as its owner, left to the guest without asking Xen \
                     (guest-pages = skip: xen-hptool would suspend the guest to exchange the \
                     page); a later error in it without a guest owner is acted on"
                ),
            );
        }
    }

    pub(super) fn apply(
        &mut self,
        mfn: u64,
        out: Outcome,
        now: u64,
        log: &mut dyn FnMut(Level, String),
    ) {
        match out {
            Outcome::Offlined => {
                self.state.offlines.push(now);
                self.set(mfn, PageState::Offlined, now);
                log(Level::Notice, format!("page {mfn:#x}: offlined by Xen"));
            }
            Outcome::Pending(owner) => {
                self.state.offlines.push(now);
                self.set(mfn, PageState::Pending, now);
                let who = owner.map_or("its owner".to_string(), |d| format!("domain {d}"));
                log(
                    Level::Notice,
                    format!(
                        "page {mfn:#x}: offline-pending in Xen (in use by {who}; Xen offlines it \
                         when it is freed)"
                    ),
                );
            }
            Outcome::Refused(why) => {
                self.set(mfn, PageState::Refused, now);
                log(
                    Level::Err,
                    format!("page {mfn:#x}: Xen refused to offline it, not retried: {why}"),
                );
            }
            Outcome::Failed(why) => {
                if let Some(p) = self.state.pages.get_mut(&mfn) {
                    p.attempts += 1;
                }
                self.set(mfn, PageState::Failed, now);
                let n = self.state.pages.get(&mfn).map_or(0, |p| p.attempts);
                let again = if n < MAX_ATTEMPTS {
                    "tried again at the next threshold crossing"
                } else {
                    "not retried"
                };
                log(
                    Level::Err,
                    format!("page {mfn:#x}: offlining failed (attempt {n} of {MAX_ATTEMPTS}, {again}): {why}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::retire::tests::{ce, cfg, feed, FakeXen};
    use crate::retire::{
        Config, Hypervisor, Outcome, PageState, Retirer, State, MAX_ATTEMPTS, PENDING_RECHECK,
    };
    use crate::scratch::Scratch;
    use crate::xenpage::{self, tests::St, XenPages};

    #[test]
    fn a_guests_page_is_left_to_the_guest_unless_configured() {
        let tmp = Scratch::new("retire");
        // The error record names the guest that owns the page (Xen's
        // mc_domid, from the page's owner when it logged the error): left
        // to it without a word to Xen, whose owner query would mark it.
        let mut hv = FakeXen::default();
        hv.x.give(0x3A5B1, Some(5));
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let (m, mut x) = ce(0x3A5B_1000);
        let no_owner = x.domid;
        x.domid = 5;
        let mut logs = Vec::new();
        for i in 0..3 {
            r.record(&m, &x, 100 + i, &mut hv, &mut |_, s| logs.push(s));
        }
        assert!(hv.calls.is_empty(), "Xen asked: {:?}", hv.calls);
        assert_eq!(hv.x.st(0x3A5B1), St::InUse(Some(5)));
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Guest);
        assert_eq!(r.state.pages[&0x3A5B1].owner, 5);
        assert!(
            logs[2].contains(
                "in use by domain 5, not offlined: the error record names domain 5 as its \
                 owner, left to the guest without asking Xen (guest-pages = skip"
            ),
            "{logs:?}"
        );
        assert!(r.state.offlines.is_empty());
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"guest\"} 1\n"));
        assert_eq!(State::parse(&r.state.render()).unwrap(), r.state);
        // Three more errors in it while the guest still has it: still quiet.
        let n = logs.len();
        for i in 0..3 {
            r.record(&m, &x, 110 + i, &mut hv, &mut |_, s| logs.push(s));
        }
        assert!(hv.calls.is_empty());
        assert!(
            !logs[n..].iter().any(|l| l.contains("not offlined")),
            "{logs:?}"
        );
        // The guest freed it; errors logged since name no owner: Xen is
        // asked, and offlines the free page.
        hv.x.free(0x3A5B1);
        x.domid = no_owner;
        for i in 0..3 {
            r.record(&m, &x, 200 + i, &mut hv, &mut |_, _| {});
        }
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        // dom0's pages are asked to go (offline-pending); guests' with
        // guest-pages = offline, through xen-hptool, which suspends them.
        let mut c = cfg(&tmp, "offline");
        c.guest_pages = true;
        let mut r = Retirer::new(c, State::default());
        let mut hv = FakeXen {
            owned: vec![0x3A5C2],
            ..FakeXen::default()
        };
        hv.x.give(0x3A5B1, Some(5));
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, 100);
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert_eq!(
            hv.calls,
            [
                "offline 0x3a5c2",
                "offline 0x3a5b1",
                "hptool 0x3a5b1",
                "suspend dom5"
            ]
        );
        assert!(
            l[2].contains("domain 5 owns it now: offlining it through Xen (xen-hptool mem-offline 0x3a5b1, which suspends the guest"),
            "{l:?}"
        );
        assert_eq!(r.state.pages[&0x3A5C2].state, PageState::Pending);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        assert!(Config::parse("guest-pages = offline").unwrap().guest_pages);
        assert!(Config::parse("guest-pages = maybe").is_err());
    }

    /// The calls that reached page `mfn`.
    fn reached(hv: &FakeXen, mfn: u64) -> Vec<String> {
        let m = format!("{mfn:#x}");
        hv.calls
            .iter()
            .filter(|c| c.ends_with(&m))
            .cloned()
            .collect()
    }

    #[test]
    fn a_page_that_changes_owner_between_deferral_and_retry_is_asked_about_again() {
        let tmp = Scratch::new("retire");
        const P: u64 = 0x3A5D3;
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        // max-offlines 2 / 1h used up at 100.
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, 100);
        // P crosses while free (the record names no owner): deferred, Xen
        // not asked.
        let l = feed(&mut r, &mut hv, P << 12, 3, 200);
        assert!(
            l[2].contains("deferred, max-offlines 2 / 1h reached"),
            "{l:?}"
        );
        assert_eq!(r.state.pages[&P].state, PageState::Deferred);
        assert!(reached(&hv, P).is_empty());
        // A minute later domain 5 has it.
        hv.x.give(P, Some(5));
        let mut logs = Vec::new();
        r.tick(3000, &mut hv, &mut |_, s| logs.push(s));
        assert!(reached(&hv, P).is_empty(), "the rate limit still holds");
        r.tick(3700, &mut hv, &mut |_, s| logs.push(s));
        // Asked right before acting: domain 5 owns it; left to it, the
        // mark taken back, xen-hptool never run, nothing suspended.
        assert_eq!(
            reached(&hv, P),
            [format!("offline {P:#x}"), format!("online {P:#x}")]
        );
        assert_eq!(hv.x.st(P), St::InUse(Some(5)));
        assert_eq!(r.state.pages[&P].state, PageState::Guest);
        assert_eq!(r.state.pages[&P].owner, 5);
        assert_eq!(
            logs,
            [format!(
                "page {P:#x}: deferred earlier, max-offlines allows it now: in use by domain 5, \
                 not offlined: domain 5 owns it now (Xen's answer), left to the guest \
                 (guest-pages = skip: xen-hptool would suspend the guest to exchange the page); \
                 a later error in it without a guest owner is acted on"
            )]
        );
        // Not an offline: the budget is untouched.
        assert!(r.state.offlines.is_empty(), "{:?}", r.state.offlines);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"guest\"} 1\n"));
        // The recheck does not ask again (the sysctl would mark the guest's
        // page): quiet, untouched.
        r.tick(3700 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(reached(&hv, P).len(), 2);
        assert_eq!(logs.len(), 1, "{logs:?}");
        // The guest frees it; its next errors name no owner: offlined.
        hv.x.free(P);
        let l = feed(&mut r, &mut hv, P << 12, 3, 3700 + 2 * PENDING_RECHECK);
        assert_eq!(reached(&hv, P).last().unwrap(), &format!("offline {P:#x}"));
        assert_eq!(hv.x.st(P), St::Offlined);
        assert_eq!(r.state.pages[&P].state, PageState::Offlined);
        assert!(l.iter().any(|x| x.contains("offlined by Xen")), "{l:?}");
        assert!(!hv
            .calls
            .iter()
            .any(|c| c.starts_with("hptool") || c.starts_with("suspend")));
        assert!(hv.x.crashed.is_empty());
    }

    #[test]
    fn without_xens_answer_a_page_is_not_offlined_unless_guests_may_be() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen {
            no_sysctl: true,
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Failed);
        assert!(
            l[2].contains("cannot ask Xen who owns the page, so not offlined (guest-pages = skip)"),
            "{l:?}"
        );
        // guest-pages = offline: xen-hptool, as before.
        let mut c = cfg(&tmp, "offline");
        c.guest_pages = true;
        let mut r = Retirer::new(c, State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert_eq!(hv.calls, ["hptool 0x3a5b1"]);
        assert!(l[2].contains("offlining it through Xen (xen-hptool mem-offline 0x3a5b1; Xen's page-offline sysctl failed"), "{l:?}");
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
    }

    #[test]
    fn rate_limit_defers_then_tick_offlines() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen {
            owned: vec![0x3A5D3],
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5D_3000, 3, 200);
        assert_eq!(r.state.pages[&0x3A5D3].state, PageState::Pending);
        let l = feed(&mut r, &mut hv, 0x3A5E_4000, 3, 300);
        assert!(
            l[2].contains("deferred, max-offlines 2 / 1h reached (next possible in 3400 s)"),
            "{l:?}"
        );
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        assert_eq!(hv.calls.len(), 2);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"deferred\"} 1\n"));
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"pending\"} 1\n"));
        r.tick(3000, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        r.tick(3700, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Offlined);
        // Xen finished the pending page: the next recheck sees it.
        hv.x.free(0x3A5D3);
        r.tick(3700 + PENDING_RECHECK, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5D3].state, PageState::Offlined);
    }

    #[test]
    fn refused_is_final_and_failures_are_bounded() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen {
            refuse: vec![0x3A5B1],
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 9, 100);
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert!(l
            .iter()
            .any(|s| s.starts_with("<3>page 0x3a5b1: Xen refused to offline it, not retried")));
        // A refusal is not an offline: the budget is untouched.
        assert!(r.state.offlines.is_empty());

        struct Broken(u32);
        impl XenPages for Broken {
            fn page_op(&mut self, _: xenpage::PageOp, _: u64) -> Result<xenpage::Reply, String> {
                self.0 += 1;
                Err("cannot open /dev/xen/privcmd".into())
            }
        }
        impl Hypervisor for Broken {
            fn offline(&mut self, _: u64) -> Outcome {
                self.0 += 1;
                Outcome::Failed("no such file".into())
            }
            fn query(&mut self, _: u64) -> Result<u32, String> {
                Err("no".into())
            }
        }
        let mut b = Broken(0);
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let (m, x) = ce(0x3A5B_1000);
        for i in 0..30 {
            r.record(&m, &x, 100 + i, &mut b, &mut |_, _| {});
        }
        assert_eq!(b.0, MAX_ATTEMPTS);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"failed\"} 1\n"));
    }
}
