// SPDX-License-Identifier: GPL-2.0-only

//! Tests of the offline step: the owner check before each request, the
//! attempts, and what each answer of Xen leaves in the state.

use crate::retire::tests::{ce, cfg, feed, FakeXen, ProbeFault};
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

/// The owner probe's questions about page `mfn`.
fn probed(hv: &FakeXen, mfn: u64) -> Vec<String> {
    let m = format!("{mfn:#x} ");
    hv.x.probes
        .iter()
        .filter(|c| c.contains(&m))
        .cloned()
        .collect()
}

/// `max-offlines` 2 / 1h used up at 100; page `P` crosses at 200 while
/// free (the record names no owner): deferred, nothing asked of Xen.
fn defer(tmp: &Scratch, hv: &mut FakeXen, p: u64) -> Retirer {
    let mut r = Retirer::new(cfg(tmp, "offline"), State::default());
    feed(&mut r, hv, 0x3A5B_1000, 3, 100);
    feed(&mut r, hv, 0x3A5C_2000, 3, 100);
    let l = feed(&mut r, hv, p << 12, 3, 200);
    assert!(
        l[2].contains("deferred, max-offlines 2 / 1h reached"),
        "{l:?}"
    );
    assert_eq!(r.state.pages[&p].state, PageState::Deferred);
    assert!(reached(hv, p).is_empty());
    r
}

#[test]
fn a_page_free_when_deferred_and_a_guests_at_retry_gets_no_offline_request() {
    let tmp = Scratch::new("retire");
    const P: u64 = 0x3A5D3;
    let mut hv = FakeXen::running(&[3, 7]);
    let mut r = defer(&tmp, &mut hv, P);
    // A minute later domain 5 has it.
    hv.x.give(P, Some(5));
    let mut logs = Vec::new();
    r.tick(3000, &mut hv, &mut |_, s| logs.push(s));
    assert!(probed(&hv, P).is_empty(), "the rate limit still holds");
    r.tick(3700, &mut hv, &mut |_, s| logs.push(s));
    // Asked right before acting, Xen's query, then the probe, domain by
    // domain until one owns it: domain 5. No offline request, no mark,
    // xen-hptool never run, nothing suspended.
    assert!(reached(&hv, P).is_empty(), "{:?}", hv.calls);
    assert_eq!(hv.asked.last().unwrap(), &format!("status {P:#x}"));
    assert_eq!(
        probed(&hv, P),
        [format!("owner {P:#x} d3"), format!("owner {P:#x} d5")]
    );
    assert_eq!(hv.x.st(P), St::InUse(Some(5)));
    assert_eq!(r.state.pages[&P].state, PageState::Guest);
    assert_eq!(r.state.pages[&P].owner, 5);
    assert_eq!(
        logs,
        [format!(
            "page {P:#x}: deferred earlier, max-offlines allows it now: in use by domain 5, \
             not offlined: domain 5 owns it now (xen_mcelog's page-owner probe; no offline \
             request sent), left to the guest (guest-pages = skip: xen-hptool would suspend \
             the guest to exchange the page); asked again every 10 minutes through \
             xen_mcelog's page-owner probe, which marks nothing, and offlined once no guest \
             owns it"
        )]
    );
    // Not an offline: the budget is untouched.
    assert!(r.state.offlines.is_empty(), "{:?}", r.state.offlines);
    assert!(r
        .metrics()
        .contains("xen_mcelog_retire_pages{state=\"guest\"} 1\n"));
    // The re-check asks again through the probe (no mark): still
    // domain 5's, so nothing is sent and nothing said.
    r.tick(3700 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
    assert_eq!(probed(&hv, P).len(), 4);
    assert!(reached(&hv, P).is_empty(), "{:?}", hv.calls);
    assert_eq!(logs.len(), 1, "{logs:?}");
    // The guest frees it: at the next re-check every domain says no,
    // Xen's list is read again, unchanged: offlined, no error needed.
    hv.x.free(P);
    r.tick(3700 + 2 * PENDING_RECHECK, &mut hv, &mut |_, s| {
        logs.push(s)
    });
    assert_eq!(reached(&hv, P), [format!("offline {P:#x}")]);
    assert_eq!(hv.x.st(P), St::Offlined);
    assert_eq!(r.state.pages[&P].state, PageState::Offlined);
    assert!(
        logs.iter().any(|x| x.contains("offlined by Xen")),
        "{logs:?}"
    );
    assert!(!hv
        .calls
        .iter()
        .any(|c| c.starts_with("hptool") || c.starts_with("suspend")));
    assert!(hv.x.crashed.is_empty());
}

/// Every way the page-owner probe cannot answer (FakeXen's model), the
/// reason's label and what the log line names.
const FAULTS: [(ProbeFault, &str, &str); 12] = [
    (
        ProbeFault::Errno(libc::ENOTTY),
        "old_module",
        "/dev/xen_mcelog has no XMC_PAGE_OWNER (ENOTTY: a xen_mcelog older than these tools)",
    ),
    (
        ProbeFault::Errno(libc::EOPNOTSUPP),
        "not_set_up",
        "xen_mcelog could not set up its page-owner probe at load (EOPNOTSUPP",
    ),
    (
        ProbeFault::Errno(libc::EIO),
        "stopped",
        "xen_mcelog's page-owner probe stopped (EIO",
    ),
    (
        ProbeFault::Errno(libc::EPERM),
        "device",
        "XMC_PAGE_OWNER for domain 3: Operation not permitted",
    ),
    (
        ProbeFault::Errno(libc::EBUSY),
        "device",
        "XMC_PAGE_OWNER for domain 3: Device or resource busy",
    ),
    (
        ProbeFault::NoDevice,
        "device",
        "cannot open /dev/xen_mcelog: No such file or directory",
    ),
    (
        ProbeFault::NoList,
        "domain_list",
        "cannot list Xen's domains: Xen refused XEN_SYSCTL_getdomaininfolist",
    ),
    (
        ProbeFault::Xen(-13),
        "xen_refused",
        "Xen answered -13 for domain 3 (Permission denied)",
    ),
    (
        ProbeFault::Xen(-1),
        "xen_refused",
        "Xen answered -1 for domain 3 (Operation not permitted) about a frame it reports \
         as conventional RAM",
    ),
    (
        ProbeFault::Xen(-22),
        "xen_refused",
        "Xen answered -22 for domain 3 (Invalid argument)",
    ),
    (
        ProbeFault::Xen(-38),
        "xen_refused",
        "Xen answered -38 for domain 3 (Function not implemented)",
    ),
    (
        ProbeFault::Churn,
        "domain_churn",
        "new domains at each of 3 listings of Xen's domains",
    ),
];

#[test]
fn when_the_probe_cannot_answer_no_offline_request_is_sent() {
    let tmp = Scratch::new("retire");
    // A page crosses its threshold; its record names no owner; domain 5
    // owns it (with domains created at every listing: a free page, as
    // any owner would be found). For each way the probe can fail to
    // answer: nothing reaches the page, no attempt is counted, the page
    // waits as deferred, asked about again every minute; the reason is
    // said once, the page once; the textfile counts it.
    const P: u64 = 0x3A5D3;
    const Q: u64 = 0x3A5E4;
    for (fault, label, text) in FAULTS {
        let churn = fault == ProbeFault::Churn;
        let mut hv = FakeXen::running(&[3]);
        hv.probe_fault = Some(fault);
        if !churn {
            hv.x.give(P, Some(5));
        }
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let l = feed(&mut r, &mut hv, P << 12, 3, 100);
        assert!(hv.calls.is_empty(), "{fault:?}: {:?}", hv.calls);
        assert_eq!(hv.asked, [format!("status {P:#x}")], "{fault:?}");
        assert_eq!(r.state.pages[&P].state, PageState::Deferred, "{fault:?}");
        assert_eq!(r.state.pages[&P].attempts, 0, "{fault:?}");
        assert!(r.state.offlines.is_empty(), "{fault:?}");
        // No offline request: not even the checkpoint before one.
        assert_eq!(r.state_writes, 0, "{fault:?}");
        assert_eq!(l.len(), 4, "{fault:?}: {l:?}");
        assert!(
            l[2].starts_with("<4>the page-owner probe cannot answer (")
                && l[2].contains(text)
                && l[2].contains(
                    "with guest-pages = skip no page is offlined while it cannot tell whether \
                     a guest owns the page"
                )
                && l[2].contains("; to fix: "),
            "{fault:?}: {l:?}"
        );
        // Xen's refusals: the fix for that error (-EPERM the dummy XSM
        // policy or DOMID_IO's frame, -EACCES FLASK, others reported).
        if let ProbeFault::Xen(rc) = fault {
            let fix = format!("; to fix: {}", xenpage::NoAnswer::Xen(rc).remedy());
            assert!(l[2].ends_with(&fix), "{fault:?}: {l:?}");
            let cause = match rc {
                -1 => "dummy XSM policy",
                -13 => "FLASK policy",
                _ => "please report it",
            };
            assert!(l[2].contains(cause), "{fault:?}: {l:?}");
        }
        assert!(
            l[3].starts_with(&format!(
                "<4>page {P:#x}: 3 corrected memory errors within memory-ce-threshold 3 / 24h: \
                 not offlined, no offline request sent: whether a guest owns it is unknown \
                 (the page-owner probe cannot answer: "
            )) && l[3].contains(text)
                && l[3].ends_with("); asked again every minute"),
            "{fault:?}: {l:?}"
        );
        let held = format!("xen_mcelog_retire_owner_unknown_pages{{reason=\"{label}\"}} 1\n");
        assert!(r.metrics().contains(&held), "{fault:?}: {}", r.metrics());
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"deferred\"} 1\n"));
        // Every minute: asked again, quietly, still nothing sent.
        let mut logs = Vec::new();
        for t in [160, 220, 280] {
            r.tick(t, &mut hv, &mut |_, s| logs.push(s));
        }
        assert!(logs.is_empty(), "{fault:?}: {logs:?}");
        assert!(hv.calls.is_empty(), "{fault:?}: {:?}", hv.calls);
        assert_eq!(hv.asked.len(), 4, "{fault:?}");
        assert_eq!(r.state.pages[&P].attempts, 0, "{fault:?}");
        // The probe answers again (the module reloaded, the policy
        // fixed, the domains settled): the page is decided, without
        // the offline request for the guest's page.
        hv.probe_fault = None;
        r.tick(340, &mut hv, &mut |_, s| logs.push(s));
        if churn {
            assert_eq!(hv.calls, [format!("offline {P:#x}")], "{fault:?}");
            assert_eq!(r.state.pages[&P].state, PageState::Offlined);
        } else {
            assert!(hv.calls.is_empty(), "{fault:?}: {:?}", hv.calls);
            assert_eq!(r.state.pages[&P].state, PageState::Guest, "{fault:?}");
            assert!(
                logs[0].contains("domain 5 owns it now (xen_mcelog's page-owner probe"),
                "{logs:?}"
            );
        }
        assert!(
            r.metrics().contains(&held.replace("} 1\n", "} 0\n")),
            "{fault:?}: {}",
            r.metrics()
        );
        // The same failure later, another page: no page is held back
        // for it any more, so it is said again.
        hv.probe_fault = Some(fault);
        let l = feed(&mut r, &mut hv, Q << 12, 3, 400);
        assert!(
            l[2].starts_with("<4>the page-owner probe cannot answer (") && l[2].contains(text),
            "{fault:?}: {l:?}"
        );
        assert!(!hv.calls.iter().any(|c| c.ends_with(&format!("{Q:#x}"))));
        assert_eq!(r.state.pages[&Q].state, PageState::Deferred);
        assert!(hv.x.crashed.is_empty());
    }
}

#[test]
fn each_reason_is_said_once_while_pages_are_held_back_for_it() {
    let tmp = Scratch::new("retire");
    // A module without the probe: two pages cross, minutes apart, both
    // held back; the reason is said with the first only. Then the
    // device goes away (another reason): said too, once.
    let mut hv = FakeXen::running(&[3]);
    hv.probe_fault = Some(ProbeFault::Errno(libc::ENOTTY));
    let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
    let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
    assert_eq!(l.len(), 4, "{l:?}");
    let l = feed(&mut r, &mut hv, 0x3A5C_2000, 3, 200);
    assert_eq!(l.len(), 3, "{l:?}");
    assert!(
        l[2].contains("page 0x3a5c2: 3 corrected memory errors"),
        "{l:?}"
    );
    assert!(r
        .metrics()
        .contains("xen_mcelog_retire_owner_unknown_pages{reason=\"old_module\"} 2\n"));
    hv.probe_fault = Some(ProbeFault::NoDevice);
    let mut logs = Vec::new();
    r.tick(260, &mut hv, &mut |_, s| logs.push(s));
    r.tick(320, &mut hv, &mut |_, s| logs.push(s));
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].starts_with("the page-owner probe cannot answer (cannot open /dev/xen_mcelog"),
        "{logs:?}"
    );
    assert!(r
        .metrics()
        .contains("xen_mcelog_retire_owner_unknown_pages{reason=\"device\"} 2\n"));
    assert!(r
        .metrics()
        .contains("xen_mcelog_retire_owner_unknown_pages{reason=\"old_module\"} 0\n"));
    assert!(hv.calls.is_empty(), "{:?}", hv.calls);
    // guest-pages = offline does not ask the probe: xen-hptool, as
    // before.
    let mut c = cfg(&tmp, "offline");
    c.guest_pages = true;
    let mut r = Retirer::new(c, State::default());
    hv.x.give(0x3A5D3, Some(5));
    feed(&mut r, &mut hv, 0x3A5D_3000, 3, 100);
    assert_eq!(
        hv.calls,
        ["offline 0x3a5d3", "hptool 0x3a5d3", "suspend dom5"]
    );
}

#[test]
fn a_domain_created_between_listing_and_probing_is_asked_too() {
    let tmp = Scratch::new("retire");
    // Domain 3 runs; the page is free at the first listing; domain 9 is
    // created right after it and gets the page. Domain 3 says no; the
    // list is read again, domain 9 is new: asked, it owns the page.
    const P: u64 = 0x3A5D3;
    let mut hv = FakeXen::running(&[3]);
    hv.born = Some((9, P));
    let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
    let l = feed(&mut r, &mut hv, P << 12, 3, 100);
    assert_eq!(
        hv.x.probes,
        [format!("owner {P:#x} d3"), format!("owner {P:#x} d9")]
    );
    assert!(reached(&hv, P).is_empty(), "{:?}", hv.calls);
    assert_eq!(r.state.pages[&P].state, PageState::Guest);
    assert!(
        l[2].contains(
            "in use by domain 9, not offlined: domain 9 owns it now (xen_mcelog's \
                       page-owner probe; no offline request sent)"
        ),
        "{l:?}"
    );
    // Domains created at every listing: the probe gives up after
    // MAX_LISTINGS (the owner unknown: no offline request).
    struct Busy(FakeXen, u16);
    impl XenPages for Busy {
        fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
            self.0.page_op(op, mfn)
        }
        fn guests(&mut self) -> Result<Vec<u16>, String> {
            self.1 += 1;
            Ok((1..=self.1).collect())
        }
        fn owner_is(&mut self, mfn: u64, d: u16) -> Result<xenpage::Answer, xenpage::NotAsked> {
            self.0.owner_is(mfn, d)
        }
    }
    let mut b = Busy(FakeXen::default(), 0);
    assert_eq!(
        xenpage::guest_owner(&mut b, P),
        xenpage::GuestOwner::Unknown(xenpage::NotAsked {
            why: xenpage::NoAnswer::Churn,
            text: format!(
                "new domains at each of {} listings of Xen's domains",
                xenpage::MAX_LISTINGS
            )
        })
    );
    assert_eq!(b.0.x.probes.len(), xenpage::MAX_LISTINGS);
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
