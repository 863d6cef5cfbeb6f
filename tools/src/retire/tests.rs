// SPDX-License-Identifier: GPL-2.0-only

//! The fixtures the parts' tests share (a corrected memory error, a fake
//! Xen that offlines pages as Xen does, a policy's configuration), and the
//! tests that span parts (the policy's counts across a restart through the
//! state file).

use std::fs;

use xmc_core::mcinfo::DOMID_INVALID;
use xmc_core::record::{Mce, XenInfo, ADDR_SPACE_MACHINE, VENDOR_INTEL};

use super::{Config, Hypervisor, Outcome, Retirer, State};
use crate::scratch::Scratch;
use crate::xenpage::tests::{FakePages, St};
use crate::xenpage::{self, XenPages};

/// A corrected memory-controller read error at `addr`, Intel.
pub(super) fn ce(addr: u64) -> (Mce, XenInfo) {
    let m = Mce {
        status: 0x9C00_0000_0000_009F,
        misc: 0x86,
        addr,
        cpuvendor: VENDOR_INTEL,
        ..Mce::default()
    };
    let x = XenInfo {
        addr_space: ADDR_SPACE_MACHINE,
        domid: DOMID_INVALID,
        ..XenInfo::default()
    };
    (m, x)
}

/// Xen as xen/common/page_alloc.c offlines pages ([`FakePages`]), with
/// xen-hptool on top. `calls`: what changes something (`offline`,
/// `online`: the sysctl; `hptool`: xen-hptool mem-offline, `suspend
/// domN` when it suspends a guest); `asked`: the queries (`status`:
/// the sysctl's, `query`: mem-status).
#[derive(Default)]
pub(super) struct FakeXen {
    pub(super) x: FakePages,
    /// Xen's own frames (the sysctl answers -EPERM).
    pub(super) refuse: Vec<u64>,
    /// dom0's frames.
    pub(super) owned: Vec<u64>,
    pub(super) calls: Vec<String>,
    pub(super) asked: Vec<String>,
    /// The sysctl cannot be made (e.g. a Xen with another interface).
    pub(super) no_sysctl: bool,
    /// Why the page-owner probe cannot answer, if it cannot.
    pub(super) probe_fault: Option<ProbeFault>,
    /// A domain created, and given this frame, right after the next
    /// listing of Xen's domains (the listing does not have it).
    pub(super) born: Option<(u16, u64)>,
    /// Domains created so far by `ProbeFault::Churn`.
    pub(super) churned: u16,
}

/// Each way the page-owner probe can fail to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProbeFault {
    /// `XMC_PAGE_OWNER` fails with this errno (`ENOTTY`: a module older
    /// than the ioctl; `EOPNOTSUPP`: not set up at load; `EIO`: stopped;
    /// `EPERM`, `EBUSY`: the device refused the caller).
    Errno(i32),
    /// No /dev/xen_mcelog (the module is not loaded).
    NoDevice,
    /// Xen answers this for every question (`-EACCES` from FLASK,
    /// `-EPERM` from the dummy XSM policy for a dom0 that is not the
    /// control domain, `-EINVAL`, `-ENOSYS`).
    Xen(i32),
    /// Xen refuses its list of domains (the page-offline sysctl works).
    NoList,
    /// A new domain at every listing.
    Churn,
}

impl FakeXen {
    /// A Xen whose list of domains has these guests running (besides
    /// the owners of its pages).
    pub(super) fn running(domains: &[u16]) -> Self {
        FakeXen {
            x: FakePages {
                domains: domains.to_vec(),
                ..FakePages::default()
            },
            ..FakeXen::default()
        }
    }

    fn setup(&mut self, mfn: u64) {
        if self.owned.contains(&mfn) && !self.x.pages.contains_key(&mfn) {
            self.x.give(mfn, Some(0));
        }
        if self.refuse.contains(&mfn) && !self.x.xen.contains(&mfn) {
            self.x.xen.push(mfn);
        }
    }
}

impl XenPages for FakeXen {
    fn guests(&mut self) -> Result<Vec<u16>, String> {
        if self.no_sysctl || self.probe_fault == Some(ProbeFault::NoList) {
            return Err("Xen refused XEN_SYSCTL_getdomaininfolist".into());
        }
        let mut listed = self.x.guests()?;
        if let Some((d, mfn)) = self.born.take() {
            self.x.give(mfn, Some(d));
        }
        if self.probe_fault == Some(ProbeFault::Churn) {
            self.churned += 1;
            listed.extend(1000..1000 + self.churned);
        }
        Ok(listed)
    }

    fn owner_is(&mut self, mfn: u64, domid: u16) -> Result<xenpage::Answer, xenpage::NotAsked> {
        let answer = match self.probe_fault {
            Some(ProbeFault::Errno(e)) => Err(xenpage::device_error("/dev/xen_mcelog", e, domid)),
            Some(ProbeFault::NoDevice) => Err(xenpage::NotAsked {
                why: xenpage::NoAnswer::Device,
                text: "cannot open /dev/xen_mcelog: No such file or directory (os error 2)".into(),
            }),
            Some(ProbeFault::Xen(rc)) => Ok(xmc_chardev::decisions::owner::answer(rc)),
            _ => {
                self.setup(mfn);
                return self.x.owner_is(mfn, domid);
            }
        };
        self.x.probes.push(format!("owner {mfn:#x} d{domid}"));
        answer
    }

    fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
        if self.no_sysctl {
            return Err("Xen refused XEN_SYSCTL_page_offline_op".into());
        }
        self.setup(mfn);
        match op {
            xenpage::PageOp::Query => self.asked.push(format!("status {mfn:#x}")),
            xenpage::PageOp::Offline => self.calls.push(format!("offline {mfn:#x}")),
            xenpage::PageOp::Online => self.calls.push(format!("online {mfn:#x}")),
        }
        self.x.page_op(op, mfn)
    }
}

impl Hypervisor for FakeXen {
    fn offline(&mut self, mfn: u64) -> Outcome {
        self.calls.push(format!("hptool {mfn:#x}"));
        self.setup(mfn);
        let r = self.x.page_op(xenpage::PageOp::Offline, mfn).unwrap();
        if r.rc != 0 {
            return Outcome::Refused("XEN_PAGE".into());
        }
        match xenpage::owner(r.status) {
            Some(d) if xenpage::is_guest(d) => {
                // xen-hptool suspends the guest and exchanges the page.
                self.calls.push(format!("suspend dom{d}"));
                self.x.pages.insert(mfn, St::Offlined);
                Outcome::Offlined
            }
            Some(d) => Outcome::Pending(Some(u32::from(d))),
            None => Outcome::Offlined,
        }
    }
    fn query(&mut self, mfn: u64) -> Result<u32, String> {
        self.asked.push(format!("query {mfn:#x}"));
        self.setup(mfn);
        Ok(self.x.status(mfn))
    }
}

/// A configuration whose state file is a fresh one of its own in `dir`
/// (the test's [`Scratch`]): offline requests write it first.
pub(super) fn cfg(dir: &Scratch, action: &str) -> Config {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let state = dir.join(format!("{}.state", N.fetch_add(1, Ordering::Relaxed)));
    Config::parse(&format!(
        "action = {action}\nmemory-ce-threshold = 3 / 24h\nmax-offlines = 2 / 1h\n\
         state-file = {}\n",
        state.display()
    ))
    .unwrap()
}

pub(super) fn feed(
    r: &mut Retirer,
    hv: &mut FakeXen,
    addr: u64,
    n: usize,
    now: u64,
) -> Vec<String> {
    let mut logs = Vec::new();
    let (m, x) = ce(addr);
    for _ in 0..n {
        r.record(&m, &x, now, hv, &mut |l, s| {
            logs.push(format!("<{}>{s}", l as u8))
        });
    }
    logs
}

// The tests that span parts.

#[test]
fn counts_survive_a_restart_through_the_state_file() {
    let tmp = Scratch::new("retire");
    let mut hv = FakeXen::default();
    let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
    feed(&mut r, &mut hv, 0x3A5B_1000, 2, 100);
    let text = r.state.render();
    let st = State::parse(&text).unwrap();
    assert_eq!(st, r.state);
    let mut r2 = Retirer::new(cfg(&tmp, "offline"), st);
    feed(&mut r2, &mut hv, 0x3A5B_1000, 1, 200);
    assert_eq!(hv.calls, ["offline 0x3a5b1"]);
    assert!(State::parse("junk\n").is_err());
    assert!(State::parse("xen-mcelog-retire 1\npage 12 state=x\n").is_err());
    assert!(State::parse("xen-mcelog-retire 1\npage 0x12 state=bogus\n").is_err());
    let f = tmp.join("retire.state");
    r2.state.save(&f).unwrap();
    assert_eq!(
        State::parse(&fs::read_to_string(&f).unwrap()).unwrap(),
        r2.state
    );
}
