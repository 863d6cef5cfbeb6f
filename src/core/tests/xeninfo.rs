// SPDX-License-Identifier: GPL-2.0-only

//! The Xen-side facts kept next to each record (`mcinfo::xen_info`): domain,
//! machine- vs guest-physical address, recovery action and result, Xen's
//! physical CPU. Images are built the way Xen's Intel recovery writes them
//! (`mcaction.c:mc_memerr_dhandler`): for a page owned by a guest, the BANK's
//! `mc_domid` becomes the owner, `mc_addr` the guest-physical address, and the
//! machine frame is only in the RECOVERY record.

mod common;

use common::{CpuEntry, InfoBuilder};
use xmc_core::mcinfo::{self, *};
use xmc_core::record::*;

const T: u64 = 1_700_000_000;

// Xen public/sysctl.h: results of offline_page(), as RECOVERY carries them.
const PG_OFFLINE_OFFLINED: u64 = mcinfo::PG_OFFLINE_OFFLINED as u64;
const PG_OFFLINE_PENDING: u64 = mcinfo::PG_OFFLINE_PENDING as u64;
const PG_OFFLINE_OWNED: u64 = mcinfo::PG_OFFLINE_OWNED as u64;
const PG_OFFLINE_OWNER_SHIFT: u32 = mcinfo::PG_OFFLINE_OWNER_SHIFT;

/// SRAO memory error (VAL|UC|EN|MISCV|ADDRV|S), MCACOD 0x17a.
const SRAO: u64 = 0xBD00_0000_0000_017A;
/// Corrected memory error with ADDRV and MISCV.
const CE: u64 = 0x9C00_0000_0000_017A;
/// Corrected error without ADDRV.
const CE_NO_ADDR: u64 = 0x9000_0000_0000_0136;

const GUEST: u16 = 3;
const GFN: u64 = 0x1234;
const MFN: u64 = 0x2_0000;

fn cpus() -> Vec<LogicalCpu> {
    vec![
        CpuEntry::intel(0, 0).parsed(),
        CpuEntry::intel(5, 0x12).parsed(),
    ]
}

fn global(domid: u16, flags: u32) -> Global {
    Global {
        domid,
        vcpuid: 1,
        socketid: 0,
        coreid: 0,
        core_threadid: 0,
        apicid: 0x12,
        flags,
        gstatus: 0x5,
    }
}

fn bank(n: u16, domid: u16, status: u64, addr: u64) -> Bank {
    Bank {
        bank: n,
        domid,
        status,
        addr,
        misc: 0x86,
        ctrl2: 0,
        tsc: 0,
    }
}

fn page_offline(bank: u16, mfn: u64, status: u64) -> Recovery {
    Recovery {
        bank,
        action_flags: 0, // mci_action_add_pageoffline() leaves it 0
        action_types: MC_ACTION_PAGE_OFFLINE,
        mfn,
        status,
    }
}

fn convert_all(info: &[u8; MC_INFO_LEN], urgent: bool) -> Vec<XenRecord> {
    let mut out = [Mce::default(); MAX_BANKS_PER_INFO];
    let c = convert(info, &cpus(), T, &mut out);
    (0..c.written)
        .map(|i| XenRecord {
            mce: out[i],
            xen: xen_info(&c, i, &out[i], urgent),
        })
        .collect()
}

#[test]
fn guest_page_error_with_recovery_is_guest_physical() {
    let owned =
        PG_OFFLINE_OWNED | PG_OFFLINE_PENDING | (u64::from(GUEST) << PG_OFFLINE_OWNER_SHIFT);
    let gaddr = GFN << 12 | 0x567;
    let info = InfoBuilder::new()
        .global(&global(GUEST, MC_FLAG_MCE | MC_FLAG_RECOVERABLE))
        .bank(&bank(7, GUEST, SRAO, gaddr))
        .recovery(&page_offline(7, MFN, owned))
        .build();
    let recs = convert_all(&info, true);
    assert_eq!(recs.len(), 1);
    let r = recs[0];
    // The mcelog record is what Xen reported, unchanged.
    assert_eq!(r.mce.addr, gaddr);
    assert_eq!(r.mce.status, SRAO);
    assert_eq!(r.mce.bank, 7);
    assert_eq!(r.mce.extcpu, 5);
    assert_eq!(
        r.xen,
        XenInfo {
            mfn: MFN,
            rec_status: owned,
            xen_cpu: 5,
            mc_flags: MC_FLAG_MCE | MC_FLAG_RECOVERABLE,
            domid: GUEST,
            running_domid: GUEST,
            addr_space: ADDR_SPACE_GUEST,
            rec_types: MC_ACTION_PAGE_OFFLINE,
            rec_flags: 0,
            flags: XEN_INFO_RECOVERY | XEN_INFO_URGENT,
        }
    );
    assert_eq!(r.xen.machine_addr(&r.mce), Some(MFN << 12 | 0x567));
    assert_eq!(r.xen.addr_space_name(), "guest");
}

#[test]
fn free_page_offlined_stays_machine_physical() {
    let info = InfoBuilder::new()
        .global(&global(DOMID_INVALID, MC_FLAG_MCE | MC_FLAG_RECOVERABLE))
        .bank(&bank(7, DOMID_INVALID, SRAO, MFN << 12 | 0x40))
        .recovery(&Recovery {
            action_flags: REC_ACTION_RECOVERED,
            ..page_offline(7, MFN, PG_OFFLINE_OFFLINED)
        })
        .build();
    let r = convert_all(&info, true)[0];
    assert_eq!(r.xen.addr_space, ADDR_SPACE_MACHINE);
    assert_eq!(r.xen.machine_addr(&r.mce), Some(MFN << 12 | 0x40));
    assert_eq!(r.xen.rec_status, PG_OFFLINE_OFFLINED);
    assert_eq!(r.xen.rec_flags, REC_ACTION_RECOVERED);
    assert!(r.xen.has_recovery());
}

#[test]
fn xen_owned_page_is_machine_physical_even_if_frames_differ() {
    // DOMID_XEN is not a guest: Xen never rewrites its own addresses.
    let info = InfoBuilder::new()
        .global(&global(DOMID_INVALID, MC_FLAG_MCE))
        .bank(&bank(7, DOMID_XEN, SRAO, 0x9999_9000))
        .recovery(&page_offline(7, MFN, PG_OFFLINE_PENDING))
        .build();
    assert_eq!(
        convert_all(&info, true)[0].xen.addr_space,
        ADDR_SPACE_MACHINE
    );
}

#[test]
fn polled_errors_without_recovery() {
    let info = InfoBuilder::new()
        .global(&global(DOMID_INVALID, MC_FLAG_POLLED | MC_FLAG_CORRECTABLE))
        .bank(&bank(2, DOMID_INVALID, CE, 0x2000_0000))
        .bank(&bank(3, 0, CE_NO_ADDR, 0))
        .build();
    let recs = convert_all(&info, false);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].xen.addr_space, ADDR_SPACE_MACHINE);
    assert_eq!(recs[0].xen.domid, DOMID_INVALID);
    assert_eq!(recs[0].xen.running_domid, DOMID_INVALID);
    assert_eq!(recs[0].xen.mc_flags, MC_FLAG_POLLED | MC_FLAG_CORRECTABLE);
    assert_eq!(recs[0].xen.flags, 0, "non-urgent, no recovery");
    assert_eq!(recs[0].xen.xen_cpu, 5);
    // The page at a polled bank's address belongs to dom0 here.
    assert_eq!(recs[1].xen.domid, 0);
    assert_eq!(recs[1].xen.addr_space, ADDR_SPACE_NONE);
    assert_eq!(recs[1].xen.machine_addr(&recs[1].mce), None);
}

#[test]
fn recovery_applies_only_to_its_own_bank() {
    let owned =
        PG_OFFLINE_OWNED | PG_OFFLINE_PENDING | (u64::from(GUEST) << PG_OFFLINE_OWNER_SHIFT);
    let info = InfoBuilder::new()
        .global(&global(GUEST, MC_FLAG_MCE | MC_FLAG_RECOVERABLE))
        .bank(&bank(1, GUEST, CE, 0x7777_7000))
        .bank(&bank(7, GUEST, SRAO, GFN << 12))
        .recovery(&Recovery {
            action_types: MC_ACTION_CPU_OFFLINE,
            ..page_offline(7, 0x0003_0002_0000_0001, 0)
        })
        .recovery(&page_offline(7, MFN, owned))
        .build();
    let recs = convert_all(&info, true);
    assert!(!recs[0].xen.has_recovery());
    assert_eq!(recs[0].xen.addr_space, ADDR_SPACE_MACHINE);
    // The page-offline record is preferred over the CPU-offline one.
    assert_eq!(recs[1].xen.rec_types, MC_ACTION_PAGE_OFFLINE);
    assert_eq!(recs[1].xen.mfn, MFN);
    assert_eq!(recs[1].xen.addr_space, ADDR_SPACE_GUEST);
}

#[test]
fn off_by_8_truncated_recovery_still_gives_the_machine_frame() {
    // GLOBAL + EXTENDED + 4 BANK + RECOVERY ends at data byte 768: the
    // RECOVERY's status is cut, its mfn is delivered.
    let mut b = InfoBuilder::new()
        .global(&global(GUEST, MC_FLAG_MCE | MC_FLAG_RECOVERABLE))
        .extended(&[(0x180, 1)]);
    for n in 0..3 {
        b = b.bank(&bank(n, DOMID_INVALID, CE, 0x1000 * u64::from(n + 1)));
    }
    let b = b
        .bank(&bank(3, GUEST, SRAO, GFN << 12 | 0x8))
        .recovery(&page_offline(3, MFN, PG_OFFLINE_OWNED | PG_OFFLINE_PENDING));
    assert_eq!(b.offset(), 768);
    let recs = convert_all(&b.build(), true);
    assert_eq!(recs.len(), 4);
    let x = recs[3].xen;
    assert_eq!(
        x.flags,
        XEN_INFO_RECOVERY | XEN_INFO_RECOVERY_TRUNCATED | XEN_INFO_URGENT
    );
    assert_eq!(x.rec_status, 0);
    assert_eq!(x.mfn, MFN);
    assert_eq!(x.addr_space, ADDR_SPACE_GUEST);
    assert_eq!(x.machine_addr(&recs[3].mce), Some(MFN << 12 | 0x8));
    for r in &recs[..3] {
        assert_eq!(r.xen.addr_space, ADDR_SPACE_MACHINE);
        assert!(!r.xen.has_recovery());
    }
}

#[test]
fn the_mcelog_bytes_do_not_depend_on_the_xen_info() {
    // Same bank with and without the recovery record: identical 128 bytes.
    let owned =
        PG_OFFLINE_OWNED | PG_OFFLINE_PENDING | (u64::from(GUEST) << PG_OFFLINE_OWNER_SHIFT);
    let base = InfoBuilder::new()
        .global(&global(GUEST, MC_FLAG_MCE | MC_FLAG_RECOVERABLE))
        .bank(&bank(7, GUEST, SRAO, GFN << 12));
    let with = base.clone_with_recovery(&page_offline(7, MFN, owned));
    let a = convert_all(&base.build(), true)[0];
    let b = convert_all(&with, true)[0];
    assert_eq!(a.mce.to_bytes(), b.mce.to_bytes());
    assert_ne!(a.xen, b.xen);
}

trait CloneWithRecovery {
    fn clone_with_recovery(&self, r: &Recovery) -> [u8; MC_INFO_LEN];
}

impl CloneWithRecovery for InfoBuilder {
    fn clone_with_recovery(&self, r: &Recovery) -> [u8; MC_INFO_LEN] {
        // InfoBuilder is consumed by its methods: rebuild from the bytes.
        let mut info = self.build();
        let off = MC_INFO_HEADER_LEN + self.offset();
        let mut rec = vec![0u8; MCINFO_RECOVERY_LEN];
        rec[0..2].copy_from_slice(&MC_TYPE_RECOVERY.to_le_bytes());
        rec[2..4].copy_from_slice(&(MCINFO_RECOVERY_LEN as u16).to_le_bytes());
        rec[4..6].copy_from_slice(&r.bank.to_le_bytes());
        rec[6] = r.action_flags;
        rec[7] = r.action_types;
        rec[8..16].copy_from_slice(&r.mfn.to_le_bytes());
        rec[16..24].copy_from_slice(&r.status.to_le_bytes());
        info[off..off + MCINFO_RECOVERY_LEN].copy_from_slice(&rec);
        let n = u32::from_le_bytes(info[0..4].try_into().unwrap()) + 1;
        info[0..4].copy_from_slice(&n.to_le_bytes());
        info
    }
}

#[test]
fn user_written_records() {
    let r = XenRecord::user(Mce {
        status: CE,
        ..Mce::default()
    });
    assert_eq!(r.xen.addr_space, ADDR_SPACE_UNKNOWN);
    assert_eq!(r.xen.machine_addr(&r.mce), None);
    assert_eq!(r.xen.flags, XEN_INFO_USER);
}
