// SPDX-License-Identifier: GPL-2.0-only

//! A page past its threshold: the rate limit, then Xen asked who owns the
//! page right before the offline request (with `guest-pages = skip` first
//! xen_mcelog's page-owner probe, which marks nothing), a guest's page left
//! to the guest, a page whose owner the probe could not tell held back, and
//! Xen's outcome applied to the page's state.

use super::{Retirer, MAX_ATTEMPTS, PENDING_RECHECK};
use crate::retire::Page;
use crate::retire::{status_text, Hypervisor, Level, Outcome, PageState};
use crate::xenpage::{
    self, Claim, GuestOwner, Mark, NoAnswer, NotAsked, PG_OFFLINE_STATUS_OFFLINED,
};

/// The end of the line that leaves a page to a guest: what happens next
/// ([`Retirer::tick`] asks again every [`PENDING_RECHECK`] seconds).
const RECHECK_GUEST: &str = "asked again every 10 minutes through xen_mcelog's page-owner probe, \
                             which marks nothing, and offlined once no guest owns it";
const _: () = assert!(PENDING_RECHECK == 600);

/// Why [`Retirer::ask_and_offline`] sent nothing to Xen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NotSent {
    /// Xen could not be asked (no /dev/xen/privcmd, an interface version
    /// Xen refused); why.
    Xen(String),
    /// `guest-pages = skip`, and xen_mcelog's page-owner probe could not
    /// tell whether a guest owns the page: held back, logged
    /// ([`Retirer::hold_back`]).
    OwnerUnknown,
}

/// Whether a page held back once still is: `deferred`, or a retired page
/// still to be asked about after a reboot.
fn still_held(pages: &std::collections::BTreeMap<u64, Page>, unchecked: &[u64], mfn: u64) -> bool {
    unchecked.contains(&mfn)
        || pages
            .get(&mfn)
            .is_some_and(|p| p.state == PageState::Deferred)
}

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
            // Not an attempt: deferred, asked about again at every tick
            // (Retirer::tick) until the probe answers.
            Err(NotSent::OwnerUnknown) => self.set(mfn, PageState::Deferred, now),
            Err(NotSent::Xen(e)) => self.apply(
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
    /// `Err`: nothing was sent to Xen's page code, why: Xen could not be
    /// asked (with `guest-pages = skip`; with `offline` xen-hptool is run
    /// then), or the owner probe could not tell whether a guest owns it.
    pub(super) fn ask_and_offline(
        &mut self,
        mfn: u64,
        why: &str,
        again: bool,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) -> Result<Option<Outcome>, NotSent> {
        let guests = self.cfg.guest_pages;
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
        let claim = match self.claim(hv, mfn, guests, &lead, now, log) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(None),
            Err(NotSent::Xen(e)) if guests => {
                // guest-pages = offline: the owner does not decide.
                // xen-hptool may act on the page from here on.
                self.checkpoint(mfn, log);
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

    /// [`xenpage::claim`], with `guest-pages = skip` the owner probe
    /// between its query and its offline request
    /// ([`xenpage::guest_owner`]): a page the probe finds a guest's is left
    /// to it before anything is sent (`None`, logged as `leave_to_guest`
    /// does). When the probe cannot tell (whatever the reason: an old
    /// module, the probe off or stopped, no device, no list of domains, an
    /// answer of Xen's other than yes, no or no such domain, domains created
    /// at every listing), nothing is sent either: [`NotSent::OwnerUnknown`],
    /// [`Retirer::hold_back`]. Only then the state is checkpointed and the
    /// offline request sent.
    fn claim(
        &mut self,
        hv: &mut dyn Hypervisor,
        mfn: u64,
        guests: bool,
        why: &str,
        now: u64,
        log: &mut dyn FnMut(Level, String),
    ) -> Result<Option<Claim>, NotSent> {
        if let Some(c) = xenpage::check(hv, mfn).map_err(NotSent::Xen)? {
            self.owner_unknown.remove(&mfn);
            return Ok(Some(c));
        }
        if !guests {
            match xenpage::guest_owner(hv, mfn) {
                GuestOwner::Guest(domid) => {
                    self.owner_unknown.remove(&mfn);
                    if self.become_guest(mfn, domid, now) {
                        log(
                            Level::Warning,
                            format!(
                                "{why}: in use by domain {domid}, not offlined: domain {domid} \
                                 owns it now (xen_mcelog's page-owner probe; no offline request \
                                 sent), left to the guest (guest-pages = skip: xen-hptool would \
                                 suspend the guest to exchange the page); {RECHECK_GUEST}"
                            ),
                        );
                    }
                    return Ok(None);
                }
                GuestOwner::NoGuest => {
                    self.owner_unknown.remove(&mfn);
                }
                GuestOwner::Unknown(e) => {
                    self.hold_back(mfn, e, why, log);
                    return Err(NotSent::OwnerUnknown);
                }
            }
        }
        // Xen may act on the page from here on.
        self.checkpoint(mfn, log);
        xenpage::request(hv, mfn, guests)
            .map(Some)
            .map_err(NotSent::Xen)
    }

    /// `guest-pages = skip`, and the page-owner probe could not tell
    /// whether a guest owns `mfn`: no offline request. Xen's page-offline
    /// sysctl would tell, by marking a guest's page offline-pending, and
    /// that mark on a running PV domU's page hung dom0 (Xen 4.20.4,
    /// docs/page-retirement.md); so a page is only offlined once the probe
    /// has said that no guest owns it. The caller keeps the page where it
    /// is asked about again every minute ([`Retirer::tick`]): `deferred`,
    /// or a retired page still to be offlined again after a reboot, with
    /// no attempt counted. Logged when the first page is held back for a
    /// reason (what, why, what to do; again once no page is held back for
    /// it any more) and when a page starts being held back.
    fn hold_back(&mut self, mfn: u64, e: NotAsked, why: &str, log: &mut dyn FnMut(Level, String)) {
        self.prune_held_back();
        let reason_news = !self.owner_unknown.values().any(|&r| r == e.why);
        let page_news = self.owner_unknown.insert(mfn, e.why).is_none();
        if reason_news {
            log(
                Level::Warning,
                format!(
                    "the page-owner probe cannot answer ({}): with guest-pages = skip no page \
                     is offlined while it cannot tell whether a guest owns the page (Xen's \
                     page-offline sysctl would mark a guest's page, which hung dom0 with a PV \
                     domU): such pages are held back and asked about again every minute \
                     (xen_mcelog_retire_owner_unknown_pages); to fix: {}",
                    e.text,
                    e.why.remedy()
                ),
            );
        }
        if page_news {
            log(
                Level::Warning,
                format!(
                    "{why}: not offlined, no offline request sent: whether a guest owns it is \
                     unknown (the page-owner probe cannot answer: {}); asked again every minute",
                    e.text
                ),
            );
        }
    }

    /// Forgets the held-back pages that are not any more: neither
    /// `deferred` nor a retired page still to be asked about.
    fn prune_held_back(&mut self) {
        let (pages, unchecked) = (&self.state.pages, &self.unchecked);
        self.owner_unknown
            .retain(|&m, _| still_held(pages, unchecked, m));
    }

    /// The held-back pages ([`Retirer::hold_back`]) by reason, for the
    /// metrics, in [`NoAnswer::LABELS`]' order.
    pub(super) fn held_back(&self) -> [usize; NoAnswer::LABELS.len()] {
        let mut n = [0; NoAnswer::LABELS.len()];
        for (&m, r) in &self.owner_unknown {
            if still_held(&self.state.pages, &self.unchecked, m) {
                if let Some(i) = NoAnswer::LABELS.iter().position(|&l| l == r.label()) {
                    n[i] += 1;
                }
            }
        }
        n
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
                     suspend the guest to exchange the page); {RECHECK_GUEST}"
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
                     page); {RECHECK_GUEST}"
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
mod tests;
