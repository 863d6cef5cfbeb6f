// SPDX-License-Identifier: GPL-2.0-only

//! A model of Xen's page offlining ([`FakePages`]: xen/common/page_alloc.c's
//! `offline_page`, `online_page` and `query_page_offline`, for frames whose
//! owner a test sets and changes), which page retirement's tests use too,
//! and the tests of [`claim`](super::claim) and the sysctl's image against it.

use super::*;
use std::collections::BTreeMap;

/// A frame in the fake Xen: page_alloc.c's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum St {
    /// In the allocator.
    Free,
    /// In use; its owner.
    InUse(Option<u16>),
    /// Offline-pending (`PGC_state_offlining`); its owner.
    Offlining(Option<u16>),
    /// Out of the allocator.
    Offlined,
}

/// Xen's page offlining as xen/common/page_alloc.c does it
/// (`offline_page`, `online_page`, `query_page_offline`), for frames
/// whose owner the test sets and changes. Frames not set are free.
#[derive(Debug, Default)]
pub struct FakePages {
    pub pages: BTreeMap<u64, St>,
    pub broken: Vec<u64>,
    /// Xen's own frames (`is_xen_fixed_mfn`).
    pub xen: Vec<u64>,
    /// Not conventional RAM.
    pub no_ram: Vec<u64>,
    /// The ops, `offline 0x..`, `online 0x..`, `query 0x..`.
    pub ops: Vec<String>,
    /// Domains crashed by Xen (`offline_page` on a broken owned page).
    pub crashed: Vec<u16>,
    /// Domains that own nothing here (those owning a frame exist anyway).
    pub domains: Vec<u16>,
    /// The owner probe's questions, `owner 0x.. d..` (`XMC_PAGE_OWNER`).
    pub probes: Vec<String>,
}

impl FakePages {
    pub fn st(&self, mfn: u64) -> St {
        *self.pages.get(&mfn).unwrap_or(&St::Free)
    }
    /// `dom` allocates the free frame (or `None`: Xen's anonymous use).
    pub fn give(&mut self, mfn: u64, dom: Option<u16>) {
        assert_eq!(self.st(mfn), St::Free, "frame {mfn:#x} not free");
        self.pages.insert(mfn, St::InUse(dom));
    }
    /// The owner frees it (free_heap_pages: offline-pending goes offline).
    pub fn free(&mut self, mfn: u64) {
        let s = match self.st(mfn) {
            St::Offlining(_) | St::Offlined => St::Offlined,
            _ => St::Free,
        };
        self.pages.insert(mfn, s);
    }
    /// query_page_offline's bits.
    pub fn status(&self, mfn: u64) -> u32 {
        let mut s = match self.st(mfn) {
            St::Offlining(_) => PG_OFFLINE_STATUS_OFFLINE_PENDING,
            St::Offlined => PG_OFFLINE_STATUS_OFFLINED,
            _ => 0,
        };
        if self.broken.contains(&mfn) {
            s |= PG_OFFLINE_STATUS_BROKEN;
        }
        s
    }
}

impl FakePages {
    /// The frame's owner, in use or offline-pending.
    pub fn owner_of(&self, mfn: u64) -> Option<u16> {
        match self.st(mfn) {
            St::InUse(o) | St::Offlining(o) => o,
            _ => None,
        }
    }
}

impl XenPages for FakePages {
    /// The domains listed, and those owning a frame, but dom0.
    fn guests(&mut self) -> Result<Vec<u16>, String> {
        let mut d: Vec<u16> = self
            .domains
            .iter()
            .copied()
            .chain(self.pages.keys().filter_map(|&m| self.owner_of(m)))
            .filter(|&d| is_guest(d))
            .collect();
        d.sort_unstable();
        d.dedup();
        Ok(d)
    }

    /// xen/arch/x86/mm.c `get_page_from_l1e` for a read-only entry: mapped
    /// (0) only for the owner; a free or offlined page has no owner
    /// (`-EBUSY`), and so has another domain's; not RAM: `-EPERM`.
    fn owner_is(&mut self, mfn: u64, domid: u16) -> Result<Answer, NotAsked> {
        self.probes.push(format!("owner {mfn:#x} d{domid}"));
        let listed = self.guests().unwrap_or_default();
        let rc = if self.no_ram.contains(&mfn) {
            -1
        } else if self.owner_of(mfn) == Some(domid) {
            0
        } else if !listed.contains(&domid) {
            -3
        } else {
            -16
        };
        Ok(xmc_chardev::decisions::owner::answer(rc))
    }

    fn page_op(&mut self, op: PageOp, mfn: u64) -> Result<Reply, String> {
        let name = match op {
            PageOp::Offline => "offline",
            PageOp::Online => "online",
            PageOp::Query => "query",
        };
        self.ops.push(format!("{name} {mfn:#x}"));
        let einval = -i64::from(libc::EINVAL);
        let ok = |status| Ok(Reply { rc: 0, status });
        if self.no_ram.contains(&mfn) {
            let status = if op == PageOp::Offline {
                PG_OFFLINE_FAILED | PG_OFFLINE_NOT_CONV_RAM
            } else {
                0x0101_0101
            };
            return Ok(Reply { rc: einval, status });
        }
        let broken = self.broken.contains(&mfn);
        match op {
            PageOp::Query => ok(self.status(mfn)),
            PageOp::Offline => {
                if self.xen.contains(&mfn) {
                    return Ok(Reply {
                        rc: -i64::from(libc::EPERM),
                        status: PG_OFFLINE_XENPAGE | PG_OFFLINE_FAILED | 0x7FF2 << 16,
                    });
                }
                let owner = match self.st(mfn) {
                    St::InUse(o) | St::Offlining(o) => o,
                    _ => None,
                };
                if let (true, Some(d)) = (broken, owner) {
                    self.crashed.push(d);
                    return ok(PG_OFFLINE_AGAIN);
                }
                let next = match self.st(mfn) {
                    St::Free | St::Offlined => St::Offlined,
                    St::InUse(o) | St::Offlining(o) => St::Offlining(o),
                };
                self.pages.insert(mfn, next);
                match next {
                    St::Offlined => ok(PG_OFFLINE_OFFLINED),
                    _ => match owner {
                        Some(d) => ok(PG_OFFLINE_OWNED | PG_OFFLINE_PENDING | u32::from(d) << 16),
                        None => ok(PG_OFFLINE_ANONYMOUS | PG_OFFLINE_FAILED | 0x7FF4 << 16),
                    },
                }
            }
            PageOp::Online => {
                if broken {
                    return Ok(Reply {
                        rc: einval,
                        status: PG_OFFLINE_FAILED | (1 << 13),
                    });
                }
                match self.st(mfn) {
                    St::Offlined => {
                        self.pages.insert(mfn, St::Free);
                        ok(PG_OFFLINE_OFFLINED)
                    }
                    St::Offlining(o) => {
                        self.pages.insert(mfn, St::InUse(o));
                        ok(PG_OFFLINE_OFFLINED)
                    }
                    _ => ok(0),
                }
            }
        }
    }
}

#[test]
fn sysctl_image_is_xen_sysctl_page_offline_op() {
    let b = sysctl_image(0x15, PageOp::Query, 0x3A5B1, 0x1122_3344_5566_7788);
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    assert_eq!(b.len(), 136);
    assert_eq!(
        (
            u32_at(0),
            u32_at(4),
            u32_at(8),
            u32_at(12),
            u32_at(16),
            u32_at(20)
        ),
        (14, 0x15, 3, 0x3A5B1, 0x3A5B1, 0)
    );
    assert_eq!(
        u64::from_le_bytes(b[24..32].try_into().unwrap()),
        0x1122_3344_5566_7788
    );
    assert!(b[32..].iter().all(|&x| x == 0));
    assert_eq!(
        sysctl_image(0x16, PageOp::Offline, 1, 0)[4..12],
        [0x16, 0, 0, 0, 1, 0, 0, 0]
    );
    assert_eq!(owner(0x0005_1004), Some(5));
    assert_eq!(owner(0x2), None);
    assert!(is_guest(5) && !is_guest(0) && !is_guest(0x7FF2));
}

#[test]
fn a_free_page_goes_in_one_step_a_guests_page_stays_the_guests() {
    let mut x = FakePages::default();
    assert_eq!(claim(&mut x, 0x100, false), Ok(Claim::Offlined));
    assert_eq!(x.ops, ["query 0x100", "offline 0x100"]);
    assert_eq!(x.st(0x100), St::Offlined);
    // Asked again: Xen has it; nothing sent.
    x.ops.clear();
    assert_eq!(
        claim(&mut x, 0x100, false),
        Ok(Claim::Already(PG_OFFLINE_STATUS_OFFLINED))
    );
    assert_eq!(x.ops, ["query 0x100"]);
    // A guest's page: marked, then the mark taken back: in use as before.
    x.give(0x200, Some(5));
    x.ops.clear();
    assert_eq!(
        claim(&mut x, 0x200, false),
        Ok(Claim::Guest {
            domid: 5,
            mark: Mark::Withdrawn
        })
    );
    assert_eq!(
        x.ops,
        [
            "query 0x200",
            "offline 0x200",
            "query 0x200",
            "online 0x200"
        ]
    );
    assert_eq!(x.st(0x200), St::InUse(Some(5)));
    // guest-pages = offline: the mark stays for xen-hptool.
    assert_eq!(
        claim(&mut x, 0x200, true),
        Ok(Claim::Guest {
            domid: 5,
            mark: Mark::Kept
        })
    );
    assert_eq!(x.st(0x200), St::Offlining(Some(5)));
    // dom0's page: offline-pending, Xen offlines it when dom0 frees it.
    x.give(0x300, Some(0));
    assert_eq!(claim(&mut x, 0x300, false), Ok(Claim::Pending(0)));
    x.free(0x300);
    assert_eq!(x.st(0x300), St::Offlined);
    assert!(x.crashed.is_empty());
}

#[test]
fn what_xen_refuses_and_what_is_never_asked() {
    let mut x = FakePages {
        xen: vec![0x10],
        no_ram: vec![0xFE000],
        broken: vec![0x400],
        ..FakePages::default()
    };
    assert!(
        matches!(claim(&mut x, 0x10, false), Ok(Claim::Refused(w)) if w.starts_with("Xen's own page"))
    );
    assert!(
        matches!(claim(&mut x, 0xFE000, false), Ok(Claim::Refused(w)) if w.contains("no conventional RAM"))
    );
    // A broken page a guest holds: never asked to go (Xen would crash it).
    x.give(0x400, Some(7));
    x.ops.clear();
    assert!(matches!(claim(&mut x, 0x400, true), Ok(Claim::Refused(w)) if w.contains("broken")));
    assert_eq!(x.ops, ["query 0x400"]);
    assert!(x.crashed.is_empty());
    // In use without an owner: refused; Xen keeps it offline-pending.
    x.give(0x500, None);
    assert!(
        matches!(claim(&mut x, 0x500, false), Ok(Claim::Refused(w)) if w.starts_with("an anonymous page"))
    );
    assert_eq!(x.st(0x500), St::Offlining(None));
    // Another error is not a refusal: tried again later.
    struct Fault;
    impl XenPages for Fault {
        fn page_op(&mut self, _: PageOp, _: u64) -> Result<Reply, String> {
            Ok(Reply {
                rc: -i64::from(libc::EFAULT),
                status: u32::MAX,
            })
        }
    }
    assert!(matches!(
        claim(&mut Fault, 0x700, false),
        Ok(Claim::Failed(_))
    ));
    // Beyond the sysctl's 32-bit frame numbers: nothing sent.
    x.ops.clear();
    assert!(matches!(
        claim(&mut x, 1 << 32, false),
        Ok(Claim::Refused(_))
    ));
    assert!(x.ops.is_empty());
}

#[test]
fn a_page_freed_while_marked_stays_offlined() {
    // The guest frees the page between Xen's answer and the withdrawal.
    struct Freeing(FakePages);
    impl XenPages for Freeing {
        fn page_op(&mut self, op: PageOp, mfn: u64) -> Result<Reply, String> {
            let r = self.0.page_op(op, mfn);
            if op == PageOp::Offline {
                self.0.free(mfn);
            }
            r
        }
    }
    let mut x = Freeing(FakePages::default());
    x.0.give(0x600, Some(3));
    assert_eq!(claim(&mut x, 0x600, false), Ok(Claim::Offlined));
    assert_eq!(x.0.st(0x600), St::Offlined);
    assert!(!x.0.ops.iter().any(|o| o.starts_with("online")));
}

#[test]
fn domainlist_image_is_xen_sysctl_getdomaininfolist() {
    let b = domainlist_image(0x15, 0x40, 64, 0x1122_3344_5566_7788);
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    assert_eq!(b.len(), SYSCTL_LEN);
    assert_eq!((u32_at(0), u32_at(4)), (6, 0x15));
    assert_eq!(u16::from_le_bytes([b[8], b[9]]), 0x40);
    assert_eq!(u32_at(12), 64);
    assert_eq!(
        u64::from_le_bytes(b[16..24].try_into().unwrap()),
        0x1122_3344_5566_7788
    );
    // num_domains (out) and the rest: 0.
    assert!(b[24..].iter().all(|&x| x == 0));
    // The records: 112 bytes each, the domain id first.
    let mut buf = vec![0xAAu8; 3 * DOMAININFO_LEN];
    for (i, d) in [0u16, 5, 0x7FEF].iter().enumerate() {
        buf[i * DOMAININFO_LEN..i * DOMAININFO_LEN + 2].copy_from_slice(&d.to_le_bytes());
    }
    assert_eq!(domain_ids(&buf, 3), [0, 5, 0x7FEF]);
    assert_eq!(domain_ids(&buf, 2), [0, 5]);
    assert_eq!(domain_ids(&buf[..200], 3), [0]);
}

#[test]
fn the_list_is_trusted_without_flask_enforcing() {
    let b = owner::getenforce_image();
    // struct xen_flask_op: cmd FLASK_GETENFORCE, interface version 1, the
    // union zero.
    assert_eq!(b[0..8], [2, 0, 0, 0, 1, 0, 0, 0]);
    assert!(b[8..].iter().all(|&x| x == 0));
    // No FLASK (the dummy policy lists every domain to dom0), or FLASK
    // permissive: the list is whole.
    assert_eq!(owner::list_complete(-i64::from(libc::ENOSYS)), Ok(()));
    assert_eq!(owner::list_complete(0), Ok(()));
    // FLASK enforcing may hide guests from it; any other answer: unknown.
    assert!(owner::list_complete(1)
        .unwrap_err()
        .contains("FLASK policy is enforcing"));
    assert!(owner::list_complete(-i64::from(libc::EFAULT))
        .unwrap_err()
        .contains("answered -14"));
}

#[test]
fn the_probe_asks_each_guest_until_one_owns_the_page() {
    let mut x = FakePages {
        domains: vec![2, 4],
        ..FakePages::default()
    };
    // No guest owns it: every domain asked, the list read again.
    assert_eq!(guest_owner(&mut x, 0x100), GuestOwner::NoGuest);
    assert_eq!(x.probes, ["owner 0x100 d2", "owner 0x100 d4"]);
    // dom0's page: no guest's either (dom0 is never asked).
    x.give(0x200, Some(0));
    x.probes.clear();
    assert_eq!(guest_owner(&mut x, 0x200), GuestOwner::NoGuest);
    assert_eq!(x.probes.len(), 2);
    // A guest's: asked in domid order until it answers.
    x.give(0x300, Some(4));
    x.probes.clear();
    assert_eq!(guest_owner(&mut x, 0x300), GuestOwner::Guest(4));
    assert_eq!(x.probes, ["owner 0x300 d2", "owner 0x300 d4"]);
    // Nothing was marked or sent to the page-offline sysctl.
    assert!(x.ops.is_empty());
    assert_eq!(x.st(0x300), St::InUse(Some(4)));
    // No guests at all: nothing to ask.
    let mut empty = FakePages::default();
    assert_eq!(guest_owner(&mut empty, 0x100), GuestOwner::NoGuest);
    assert!(empty.probes.is_empty());
    // Without a list, or without the probe, or with an answer Xen should
    // not give: unknown, why said.
    struct NoList;
    impl XenPages for NoList {
        fn page_op(&mut self, _: PageOp, _: u64) -> Result<Reply, String> {
            unreachable!()
        }
    }
    assert!(
        matches!(guest_owner(&mut NoList, 1), GuestOwner::Unknown(w) if w.why == NoAnswer::NoList && w.text.starts_with("cannot list Xen's domains"))
    );
    struct Odd(i32, Vec<u16>);
    impl XenPages for Odd {
        fn page_op(&mut self, _: PageOp, _: u64) -> Result<Reply, String> {
            unreachable!()
        }
        fn guests(&mut self) -> Result<Vec<u16>, String> {
            Ok(vec![0, 3, 4, 0x7FF0])
        }
        fn owner_is(&mut self, _: u64, d: u16) -> Result<Answer, NotAsked> {
            assert!(d == 3 || d == 4, "dom0 and Xen's own ids are never asked");
            self.1.push(d);
            Ok(xmc_chardev::decisions::owner::answer(self.0))
        }
    }
    let mut odd = Odd(-22, Vec::new());
    assert_eq!(
        guest_owner(&mut odd, 1),
        GuestOwner::Unknown(NotAsked {
            why: NoAnswer::Xen(-22),
            text: "XMC_PAGE_OWNER: Xen answered -22 for domain 3 (Invalid argument)".into()
        })
    );
    // The first such answer decides: domain 4 is not asked.
    assert_eq!(odd.1, [3]);
    // -EPERM about conventional RAM (guest_owner's only frames): an XSM
    // denial or DOMID_IO's frame, the same for every domain: unknown too,
    // never "no guest".
    let mut xsm = Odd(-1, Vec::new());
    assert_eq!(
        guest_owner(&mut xsm, 1),
        GuestOwner::Unknown(NotAsked {
            why: NoAnswer::Xen(-1),
            text: "XMC_PAGE_OWNER: Xen answered -1 for domain 3 (Operation not permitted) about \
                   a frame it reports as conventional RAM"
                .into()
        })
    );
    assert_eq!(xsm.1, [3]);
    // -EACCES: a FLASK policy's denial (module doc): unknown at once.
    let mut flask = Odd(-13, Vec::new());
    assert_eq!(
        guest_owner(&mut flask, 1),
        GuestOwner::Unknown(NotAsked {
            why: NoAnswer::Xen(-13),
            text: "XMC_PAGE_OWNER: Xen answered -13 for domain 3 (Permission denied)".into()
        })
    );
    assert_eq!(flask.1, [3]);
}

#[test]
fn the_devices_errors_say_why_the_probe_cannot_answer() {
    let why = |e| device_error("/dev/xen_mcelog", e, 3).why;
    assert_eq!(why(libc::ENOTTY), NoAnswer::OldModule);
    assert_eq!(why(libc::EOPNOTSUPP), NoAnswer::NotSetUp);
    assert_eq!(why(libc::EIO), NoAnswer::Stopped);
    for e in [libc::EPERM, libc::EBUSY, libc::EINVAL, libc::EFAULT] {
        assert_eq!(why(e), NoAnswer::Device, "{e}");
    }
    assert_eq!(
        device_error("/dev/xen_mcelog", libc::EBUSY, 3).text,
        "/dev/xen_mcelog: XMC_PAGE_OWNER for domain 3: Device or resource busy (os error 16)"
    );
    // One label per kind (the metrics), each with something to do.
    let all = [
        NoAnswer::OldModule,
        NoAnswer::NotSetUp,
        NoAnswer::Stopped,
        NoAnswer::Device,
        NoAnswer::NoList,
        NoAnswer::Xen(-13),
        NoAnswer::Churn,
    ];
    let labels: Vec<&str> = all.iter().map(|w| w.label()).collect();
    assert_eq!(labels, NoAnswer::LABELS);
    assert!(all.iter().all(|w| !w.remedy().is_empty()));
    // Xen's refusals: one label, a remedy per cause (module doc).
    for e in [-1, -13, -22, -38] {
        assert_eq!(NoAnswer::Xen(e).label(), "xen_refused", "{e}");
    }
    // -EPERM: the dummy XSM policy (dom0 not the control domain) or a
    // frame of DOMID_IO's; never FLASK's.
    let eperm = NoAnswer::Xen(-1).remedy();
    assert!(
        eperm.starts_with("Xen's dummy XSM policy refuses dom0's mmu_update")
            && eperm.contains("(dom0 is not the control domain)")
            && eperm.contains("DOMID_IO's (the first MiB)")
            && !eperm.contains("FLASK"),
        "{eperm}"
    );
    // -EACCES: a FLASK policy without mmu map_read on the guest's type.
    let eacces = NoAnswer::Xen(-13).remedy();
    assert!(
        eacces.starts_with("Xen's FLASK policy refuses dom0's mmu_update on a guest's pages")
            && eacces.contains("mmu { map_read }")
            && eacces.contains("xl loadpolicy")
            && !eacces.contains("DOMID_IO"),
        "{eacces}"
    );
    // Anything else: not an answer the probe expects.
    for e in [-22, -38, -16000] {
        assert_eq!(
            NoAnswer::Xen(e).remedy(),
            "an answer Xen 4.20 does not give here: please report it",
            "{e}"
        );
    }
}
