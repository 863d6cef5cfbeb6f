// SPDX-License-Identifier: GPL-2.0-only

//! What was decided but is not done yet: at start, retired pages Xen put
//! back in service (the host rebooted) offlined again; every minute, pages
//! deferred by the rate limit, pages left to a guest, pending pages and
//! retired pages Xen could not be asked about yet.

use super::offline::NotSent;
use super::{Retirer, PENDING_RECHECK};
use crate::retire::{Action, Hypervisor, Level, PageState};
use crate::xenpage::PG_OFFLINE_STATUS_OFFLINED;

impl Retirer {
    /// At start: pages offlined before that Xen reports online again (the
    /// host rebooted: Xen forgets offlined pages) are offlined again, outside
    /// the rate limit (they were decided before), whatever the action: a
    /// switch to `off` or `dry-run` stops new decisions, it does not return
    /// known-bad pages to service. `retired-pages = forget` (with `off` or
    /// `dry-run`) drops them from the state instead, each logged.
    pub fn resume(
        &mut self,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) {
        let retired = self.frames_in(&[PageState::Offlined, PageState::Pending]);
        if self.cfg.action != Action::Offline && self.cfg.forget_retired {
            for mfn in retired {
                self.state.pages.remove(&mfn);
                self.dirty = true;
                self.urgent = true;
                log(
                    Level::Notice,
                    format!(
                        "page {mfn:#x}: retired before, forgotten (retired-pages = forget): not \
                         offlined again; back in service after the next reboot of the host"
                    ),
                );
            }
            return;
        }
        if self.cfg.action != Action::Offline && retired.is_empty() {
            return;
        }
        self.observe(now, log);
        self.unchecked = retired;
        self.check_retired(now, hv, log, true, true);
        self.last_recheck = now;
        self.tick(now, hv, log);
    }

    /// Asks Xen about the retired pages not checked yet since the start;
    /// those Xen has online again are offlined again, each after Xen said
    /// who owns it now ([`Retirer::ask_and_offline`]): one a guest owns
    /// (`guest-pages = skip`) is left to it, state `guest`, and stays on the
    /// list, asked about again when `due` (every [`PENDING_RECHECK`]
    /// seconds) and offlined again, outside the rate limit, once it is free
    /// or dom0's. (Only while the service runs: after a restart such a page
    /// is an ordinary `guest` page, whose offline counts in `max-offlines`.)
    /// A page Xen cannot be asked about (at boot the service may start
    /// before dom0 can make hypercalls: no /dev/xen/privcmd yet) stays for
    /// the next tick; only the first failure is logged. So does a page
    /// whose owner the page-owner probe cannot tell (`guest-pages = skip`,
    /// [`Retirer::hold_back`]), its state unchanged.
    fn check_retired(
        &mut self,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
        first: bool,
        due: bool,
    ) {
        let mut left = Vec::new();
        // (A copy: while the pages are asked about, the list still says
        // which are retired pages to offline again: hold_back's upkeep.)
        for mfn in self.unchecked.clone() {
            let was = self.state.pages.get(&mfn).map(|p| p.state);
            if was == Some(PageState::Guest) && !due {
                left.push(mfn);
                continue;
            }
            let why = format!("page {mfn:#x}: retired before");
            match self.ask_and_offline(mfn, &why, true, now, hv, log) {
                Ok(Some(out)) => {
                    let out = crate::grub::kept_out_at_boot(mfn, out, &self.boot_badpages, log);
                    let before = self.state.offlines.len();
                    self.apply(mfn, out, now, log);
                    // A re-offline is not a new decision: not counted.
                    self.state.offlines.truncate(before);
                }
                Ok(None) => {
                    if self.state.pages.get(&mfn).map(|p| p.state) == Some(PageState::Guest) {
                        left.push(mfn);
                    }
                }
                Err(NotSent::OwnerUnknown) => left.push(mfn),
                Err(NotSent::Xen(e)) => {
                    if first {
                        log(
                            Level::Err,
                            format!(
                                "page {mfn:#x}: cannot ask Xen (tried again every minute): {e}"
                            ),
                        );
                    }
                    left.push(mfn);
                }
            }
        }
        self.unchecked = left;
    }

    /// Periodic work: deferred pages when the rate limit allows again;
    /// every [`PENDING_RECHECK`] seconds, guest pages (Xen asked again who
    /// owns them) and pending pages Xen may have finished with.
    pub fn tick(&mut self, now: u64, hv: &mut dyn Hypervisor, log: &mut dyn FnMut(Level, String)) {
        if self.cfg.action == Action::Off && self.unchecked.is_empty() {
            return;
        }
        self.observe(now, log);
        if self.cfg.action != Action::Off {
            self.prune(now, log);
        }
        let due = now.saturating_sub(self.last_recheck) >= PENDING_RECHECK;
        // Retired pages Xen could not be asked about at start, or left to a
        // guest since, any action.
        if !self.unchecked.is_empty() {
            self.check_retired(now, hv, log, false, due);
        }
        if self.cfg.action != Action::Offline {
            if due {
                self.last_recheck = now;
            }
            return;
        }
        // (Taken before the deferred pages: one Xen has just said a guest
        // owns is not asked again in the same tick.)
        // Pages left to a guest are asked about again: with guest-pages =
        // offline xen-hptool exchanges them now; with skip the page-owner
        // probe asks who owns each (it marks nothing: no request reaches a
        // page a guest still owns, and such a page stays quietly where it
        // is), and one the guest has freed (given back, or the guest was
        // destroyed) is offlined as any other. Until the probe, Xen's only
        // owner query (its page-offline sysctl) marked the page, and marking
        // a running PV domU's page hung dom0 (Xen 4.20.4): then such a page
        // waited for its next error.
        let guests = if due {
            self.frames_in(&[PageState::Guest])
        } else {
            Vec::new()
        };
        for mfn in self.frames_in(&[PageState::Deferred]) {
            if self.budget(now) == 0 {
                break;
            }
            let why = format!("page {mfn:#x}: deferred earlier, max-offlines allows it now");
            self.try_offline(mfn, &why, now, hv, log);
        }
        if !due {
            return;
        }
        self.last_recheck = now;
        for mfn in guests {
            if self.unchecked.contains(&mfn) {
                continue;
            }
            if self.budget(now) == 0 {
                break;
            }
            let owner = self.state.pages[&mfn].owner;
            let why = format!("page {mfn:#x}: left to domain {owner} earlier");
            self.try_offline(mfn, &why, now, hv, log);
        }
        for mfn in self.frames_in(&[PageState::Pending]) {
            if let Ok(s) = hv.query(mfn) {
                if s & PG_OFFLINE_STATUS_OFFLINED != 0 {
                    self.set(mfn, PageState::Offlined, now);
                    log(
                        Level::Notice,
                        format!("page {mfn:#x}: offlined by Xen (was pending)"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::retire::tests::{ce, cfg, feed, FakeXen, ProbeFault};
    use crate::retire::{Config, Hypervisor, Outcome, PageState, Retirer, State, PENDING_RECHECK};
    use crate::scratch::Scratch;
    use crate::xenpage::{self, tests::St, XenPages};

    #[test]
    fn resume_offlines_again_what_a_reboot_put_back() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        let st = r.state.clone();
        // Reboot: Xen forgot.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), st);
        let mut logs = Vec::new();
        r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(hv.asked, ["status 0x3a5b1"]);
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert!(
            logs[0].starts_with(
                "page 0x3a5b1: retired before, but Xen reports it 0x0 [online] (the host rebooted?): \
                 offlining it again through Xen"
            ),
            "{logs:?}"
        );
        assert_eq!(logs[1], "page 0x3a5b1: offlined by Xen");
        assert_eq!(r.state.offlines, [100]);
        // Still offlined: nothing to do.
        hv.calls.clear();
        hv.asked.clear();
        r.resume(5001, &mut hv, &mut |_, _| {});
        assert_eq!(hv.asked, ["status 0x3a5b1"]);
        assert!(hv.calls.is_empty());
    }

    #[test]
    fn after_a_reboot_a_retired_page_a_guest_owns_now_is_left_to_it() {
        let tmp = Scratch::new("retire");
        const P: u64 = 0x3A5B1;
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, P << 12, 3, 100);
        let st = r.state.clone();
        for action in ["offline", "off"] {
            // Reboot: Xen forgot, and domain 7 got the page before the
            // service started.
            let mut hv = FakeXen::default();
            hv.x.give(P, Some(7));
            let mut r = Retirer::new(cfg(&tmp, action), st.clone());
            let mut logs = Vec::new();
            r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
            // The probe finds domain 7's page: no offline request.
            assert!(hv.calls.is_empty(), "{action}: {:?}", hv.calls);
            assert_eq!(hv.x.st(P), St::InUse(Some(7)));
            assert_eq!(r.state.pages[&P].state, PageState::Guest);
            assert_eq!(
                logs,
                [
                    "page 0x3a5b1: retired before, but Xen reports it 0x0 [online] (the host \
                     rebooted?): in use by domain 7, not offlined: domain 7 owns it now \
                     (xen_mcelog's page-owner probe; no offline request sent), left to the guest \
                     (guest-pages = skip: xen-hptool would suspend the guest to exchange the \
                     page); asked again every 10 minutes through xen_mcelog's page-owner \
                     probe, which marks nothing, and offlined once no guest owns it"
                ]
            );
            assert!(r
                .metrics()
                .contains("xen_mcelog_retire_pages{state=\"guest\"} 1\n"));
            // Every minute: not asked; every 10 minutes: asked, quiet.
            let asked = |hv: &FakeXen| hv.calls.len() + hv.x.probes.len();
            let n = asked(&hv);
            r.tick(5060, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(asked(&hv), n);
            r.tick(5000 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(asked(&hv), 2 * n);
            assert_eq!(logs.len(), 1, "{logs:?}");
            // The guest went: offlined again, outside the rate limit.
            hv.x.free(P);
            r.tick(5000 + 2 * PENDING_RECHECK, &mut hv, &mut |_, s| {
                logs.push(s)
            });
            assert_eq!(hv.x.st(P), St::Offlined);
            assert_eq!(r.state.pages[&P].state, PageState::Offlined);
            assert_eq!(logs[2], "page 0x3a5b1: offlined by Xen");
            assert_eq!(r.state.offlines, [100]);
            assert!(!hv.calls.iter().any(|c| c.starts_with("hptool")));
        }
        // guest-pages = offline: xen-hptool exchanges it, as before.
        let mut c = cfg(&tmp, "offline");
        c.guest_pages = true;
        let mut hv = FakeXen::default();
        hv.x.give(P, Some(7));
        let mut r = Retirer::new(c, st);
        r.resume(5000, &mut hv, &mut |_, _| {});
        assert_eq!(
            hv.calls,
            ["offline 0x3a5b1", "hptool 0x3a5b1", "suspend dom7"]
        );
        assert_eq!(r.state.pages[&P].state, PageState::Offlined);
    }

    /// Three errors in page `p` at 100..103 s while domain 5 owns it (the
    /// records name it): left to the guest, Xen not asked. The log so far.
    fn left_to_domain_5(r: &mut Retirer, hv: &mut FakeXen, p: u64) -> Vec<String> {
        hv.x.give(p, Some(5));
        let (m, mut x) = ce(p << 12);
        x.domid = 5;
        let mut logs = Vec::new();
        for i in 0..3 {
            r.record(&m, &x, 100 + i, hv, &mut |_, s| logs.push(s));
        }
        assert_eq!(r.state.pages[&p].state, PageState::Guest);
        assert!(hv.calls.is_empty() && hv.x.probes.is_empty());
        logs
    }

    #[test]
    fn a_page_left_to_a_guest_is_offlined_once_the_guest_freed_it() {
        let tmp = Scratch::new("retire");
        const P: u64 = 0x3A5B1;
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let mut logs = left_to_domain_5(&mut r, &mut hv, P);
        let n = logs.len();
        // Every minute: not asked. Every 10 minutes: the probe asks (no
        // mark), the guest still owns it: nothing sent, nothing said.
        r.tick(160, &mut hv, &mut |_, s| logs.push(s));
        assert!(hv.x.probes.is_empty());
        r.tick(100 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(hv.x.probes.len(), 1);
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(hv.x.st(P), St::InUse(Some(5)));
        assert_eq!(r.state.pages[&P].state, PageState::Guest);
        assert_eq!(logs.len(), n, "{logs:?}");
        // The guest freed it (or was destroyed): offlined at the next
        // re-check, an offline of the budget like any other.
        hv.x.free(P);
        r.tick(100 + 2 * PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert_eq!(hv.x.st(P), St::Offlined);
        assert_eq!(r.state.pages[&P].state, PageState::Offlined);
        assert_eq!(r.state.offlines, [100 + 2 * PENDING_RECHECK]);
        assert_eq!(
            logs[n..],
            [
                "page 0x3a5b1: left to domain 5 earlier: offlining it through Xen (its \
                 page-offline sysctl, as xen-hptool mem-offline 0x3a5b1; not owned by a guest)",
                "page 0x3a5b1: offlined by Xen"
            ]
        );
        assert!(!hv.calls.iter().any(|c| c.starts_with("hptool")));
    }

    #[test]
    fn a_page_left_to_a_guest_waits_while_the_probe_cannot_answer() {
        let tmp = Scratch::new("retire");
        const P: u64 = 0x3A5B1;
        // Domain 5 runs (Xen lists it, also once it freed the page).
        let mut hv = FakeXen::running(&[5]);
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let mut logs = left_to_domain_5(&mut r, &mut hv, P);
        let n = logs.len();
        // The guest freed the page, but at the re-check the probe cannot
        // answer (a module older than the tools): nothing is sent, and
        // the page is held back as any page whose owner is unknown, said
        // once, counted for the alert, asked again every minute.
        hv.x.free(P);
        hv.probe_fault = Some(ProbeFault::Errno(libc::ENOTTY));
        r.tick(100 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(hv.x.st(P), St::Free);
        assert_eq!(r.state.pages[&P].state, PageState::Deferred);
        assert_eq!(logs.len(), n + 2, "{logs:?}");
        assert!(logs[n].starts_with("the page-owner probe cannot answer ("));
        assert!(
            logs[n + 1].starts_with(
                "page 0x3a5b1: left to domain 5 earlier: not offlined, no offline request \
                 sent: whether a guest owns it is unknown"
            ),
            "{logs:?}"
        );
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_owner_unknown_pages{reason=\"old_module\"} 1\n"));
        r.tick(160 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(logs.len(), n + 2, "{logs:?}");
        // The probe answers again (the module that came with the tools
        // loaded): offlined at the next minute, an offline of the budget.
        hv.probe_fault = None;
        r.tick(220 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert_eq!(r.state.pages[&P].state, PageState::Offlined);
        assert_eq!(r.state.offlines, [220 + PENDING_RECHECK]);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_owner_unknown_pages{reason=\"old_module\"} 0\n"));
    }

    #[test]
    fn after_a_reboot_a_retired_page_whose_owner_is_unknown_waits() {
        let tmp = Scratch::new("retire");
        const P: u64 = 0x3A5B1;
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, P << 12, 3, 100);
        let st = r.state.clone();
        for (fault, label) in [
            (ProbeFault::Errno(libc::ENOTTY), "old_module"),
            (ProbeFault::Errno(libc::EIO), "stopped"),
            (ProbeFault::NoList, "domain_list"),
            (ProbeFault::Xen(-13), "xen_refused"),
        ] {
            // Reboot: Xen forgot, domain 7 got the page, and the probe
            // cannot answer (a module older than the tools, ...): no
            // offline request, which would mark domain 7's page; the page
            // stays retired in the state and is asked about every minute.
            let mut hv = FakeXen::running(&[3]);
            hv.probe_fault = Some(fault);
            hv.x.give(P, Some(7));
            let mut r = Retirer::new(cfg(&tmp, "offline"), st.clone());
            let mut logs = Vec::new();
            r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
            assert!(hv.calls.is_empty(), "{fault:?}: {:?}", hv.calls);
            assert_eq!(hv.x.st(P), St::InUse(Some(7)));
            assert_eq!(r.state.pages[&P].state, PageState::Offlined);
            assert_eq!(logs.len(), 2, "{fault:?}: {logs:?}");
            assert!(logs[0].starts_with("the page-owner probe cannot answer ("));
            assert!(
                logs[1].starts_with(
                    "page 0x3a5b1: retired before, but Xen reports it 0x0 [online] (the host \
                     rebooted?): not offlined, no offline request sent: whether a guest owns it \
                     is unknown"
                ),
                "{logs:?}"
            );
            assert!(r.metrics().contains(&format!(
                "xen_mcelog_retire_owner_unknown_pages{{reason=\"{label}\"}} 1\n"
            )));
            // Asked every minute, quietly; even once the guest freed it,
            // nothing is sent while the probe cannot say so.
            let n = hv.asked.len();
            r.tick(5060, &mut hv, &mut |_, s| logs.push(s));
            hv.x.free(P);
            r.tick(5120, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.asked.len(), n + 2, "{fault:?}");
            assert!(hv.calls.is_empty(), "{fault:?}: {:?}", hv.calls);
            assert_eq!(logs.len(), 2, "{fault:?}: {logs:?}");
            // The probe answers (the module reloaded, ...): offlined
            // again, outside the rate limit.
            hv.probe_fault = None;
            r.tick(5180, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls, ["offline 0x3a5b1"], "{fault:?}");
            assert_eq!(hv.x.st(P), St::Offlined);
            assert_eq!(r.state.pages[&P].state, PageState::Offlined);
            assert_eq!(logs[3], "page 0x3a5b1: offlined by Xen");
            assert_eq!(r.state.offlines, [100]);
        }
    }

    #[test]
    fn frames_xen_kept_out_at_boot_stay_retired() {
        let tmp = Scratch::new("retire");
        // persist = grub: after the reboot Xen's badpage= holds the page
        // (xen/common/page_alloc.c init_boot_pages: bootmem_region_zap), never
        // freed into its heap: in use, no owner. Xen reports it neither
        // offlined nor pending; offlining it again fails as an anonymous page
        // (Xen marks it offline-pending), which for such a frame means it is
        // out of service: still offlined.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A6C_2000, 3, 100);
        let st = r.state.clone();
        for (boot, kept) in [
            ("console=com1 badpage=0x3a5b1", true),
            ("console=com1", false),
        ] {
            let mut hv = FakeXen::default();
            hv.x.give(0x3a5b1, None);
            let mut r = Retirer::new(cfg(&tmp, "offline"), st.clone());
            r.boot_badpages = crate::grub::xen_badpages(boot);
            let mut logs = Vec::new();
            r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls, ["offline 0x3a5b1", "offline 0x3a6c2"]);
            assert_eq!(hv.x.st(0x3a5b1), St::Offlining(None));
            let state = r.state.pages[&0x3a5b1].state;
            if kept {
                assert!(
                    logs.iter().any(|l| l.starts_with(
                        "page 0x3a5b1: kept out of Xen's allocator since boot (badpage= on Xen's \
                         command line)"
                    )),
                    "{logs:?}"
                );
                assert_eq!(state, PageState::Offlined);
                assert_eq!(crate::grub::retired_frames(&r.state).len(), 2);
            } else {
                // Not on Xen's command line: an anonymous page is a refusal.
                assert_eq!(state, PageState::Refused, "{logs:?}");
            }
            assert_eq!(r.state.pages[&0x3a6c2].state, PageState::Offlined);
            assert_eq!(r.state.offlines, [100, 100]);
        }
    }

    #[test]
    fn off_or_dry_run_keeps_retired_pages_out_of_service() {
        let tmp = Scratch::new("retire");
        // Two pages retired with action = offline, then the action switched.
        let mut hv = FakeXen {
            owned: vec![0x3A5C2],
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, 100);
        let st = r.state.clone();
        for action in ["off", "dry-run"] {
            // The host rebooted: Xen forgot; the service offlines them again.
            let mut hv = FakeXen::default();
            let mut r = Retirer::new(cfg(&tmp, action), st.clone());
            let d = r.describe();
            if action == "off" {
                assert!(
                    d.starts_with("page retirement is off (action = off)"),
                    "{d}"
                );
                assert!(
                    d.contains("; 2 pages retired before kept out of service (offlined again after a reboot; retired-pages = forget"),
                    "{d}"
                );
            }
            let mut logs = Vec::new();
            r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls, ["offline 0x3a5b1", "offline 0x3a5c2"], "{action}");
            assert!(
                logs[0].contains("page 0x3a5b1: retired before, but Xen reports it"),
                "{logs:?}"
            );
            // Not new offlines: the budget is untouched; nothing else moves.
            assert_eq!(r.state.offlines, st.offlines);
            assert_eq!(r.state.pages[&0x3A5D3], st.pages[&0x3A5D3]);
            // Off still counts nothing.
            if action == "off" {
                feed(&mut r, &mut hv, 0x3A5D_3000, 5, 5100);
                assert_eq!(r.state.pages[&0x3A5D3], st.pages[&0x3A5D3]);
            }
        }
        // Off with Xen not answering yet at start: the next ticks retry.
        struct Later(u32, FakeXen);
        impl XenPages for Later {
            fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
                self.0 += 1;
                if self.0 <= 2 {
                    return Err("no privcmd".into());
                }
                self.1.page_op(op, mfn)
            }
            fn guests(&mut self) -> Result<Vec<u16>, String> {
                self.1.guests()
            }
        }
        impl Hypervisor for Later {
            fn offline(&mut self, mfn: u64) -> Outcome {
                self.1.offline(mfn)
            }
            fn query(&mut self, mfn: u64) -> Result<u32, String> {
                self.0 += 1;
                if self.0 <= 2 {
                    return Err("no privcmd".into());
                }
                self.1.query(mfn)
            }
        }
        let mut later = Later(0, FakeXen::default());
        let mut r = Retirer::new(cfg(&tmp, "off"), st.clone());
        r.resume(5000, &mut later, &mut |_, _| {});
        r.tick(5060, &mut later, &mut |_, _| {});
        assert!(
            later.1.calls.contains(&"offline 0x3a5b1".to_string()),
            "{:?}",
            later.1.calls
        );
        assert!(
            later.1.calls.contains(&"offline 0x3a5c2".to_string()),
            "{:?}",
            later.1.calls
        );
        // An empty state with action = off: nothing, not even a state file.
        let mut r = Retirer::new(cfg(&tmp, "off"), State::default());
        r.resume(5000, &mut hv, &mut |_, _| {});
        r.tick(5060, &mut hv, &mut |_, _| {});
        assert!(!r.dirty && r.describe() == "page retirement is off (action = off)");
    }

    #[test]
    fn retired_pages_forget_returns_them_after_the_next_reboot() {
        let tmp = Scratch::new("retire");
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, 100);
        let st = r.state.clone();
        let c = Config::parse("action = off\nretired-pages = forget\n").unwrap();
        assert!(c.forget_retired);
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(c, st);
        assert_eq!(r.describe(), "page retirement is off (action = off)");
        let mut logs = Vec::new();
        r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(
            logs,
            [
                "page 0x3a5b1: retired before, forgotten (retired-pages = forget): not offlined \
              again; back in service after the next reboot of the host"
            ]
        );
        assert_eq!(r.state.pages.keys().copied().collect::<Vec<_>>(), [0x3A5D3]);
        assert!(r.dirty);
        // Only with off or dry-run; keep is the default.
        assert!(Config::parse("action = dry-run\nretired-pages = forget").is_ok());
        assert!(Config::parse("action = offline\nretired-pages = forget")
            .unwrap_err()
            .contains("use it with action = off or dry-run"));
        assert!(
            !Config::parse("retired-pages = keep")
                .unwrap()
                .forget_retired
        );
        assert!(Config::parse("retired-pages = maybe").is_err());
    }

    #[test]
    fn resume_waits_for_xen_to_answer() {
        let tmp = Scratch::new("retire");
        // At boot: no /dev/xen/privcmd yet, xen-hptool cannot ask.
        struct Early(Option<FakeXen>);
        impl XenPages for Early {
            fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
                self.0
                    .as_mut()
                    .map_or(Err("no privcmd".into()), |h| h.page_op(op, mfn))
            }
            fn guests(&mut self) -> Result<Vec<u16>, String> {
                self.0
                    .as_mut()
                    .map_or(Err("no privcmd".into()), |h| h.guests())
            }
        }
        impl Hypervisor for Early {
            fn offline(&mut self, mfn: u64) -> Outcome {
                self.0
                    .as_mut()
                    .map_or(Outcome::Failed("no privcmd".into()), |h| h.offline(mfn))
            }
            fn query(&mut self, mfn: u64) -> Result<u32, String> {
                self.0
                    .as_mut()
                    .map_or(Err("no privcmd".into()), |h| h.query(mfn))
            }
        }
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        let mut r = Retirer::new(cfg(&tmp, "offline"), r.state.clone());
        let mut early = Early(None);
        let mut logs = Vec::new();
        r.resume(5000, &mut early, &mut |_, s| logs.push(s));
        r.tick(5060, &mut early, &mut |_, s| logs.push(s));
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert!(logs[0].contains("cannot ask Xen (tried again every minute): no privcmd"));
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        // privcmd is there: the next tick offlines it again, once.
        early.0 = Some(FakeXen::default());
        r.tick(5120, &mut early, &mut |_, s| logs.push(s));
        r.tick(5180, &mut early, &mut |_, s| logs.push(s));
        assert_eq!(early.0.as_ref().unwrap().calls, ["offline 0x3a5b1"]);
        assert!(logs[1].contains("offlining it again"), "{logs:?}");
    }
}
