// SPDX-License-Identifier: GPL-2.0

//! Fatal machine checks of an earlier boot, which Xen saved in the
//! firmware's ERST before the reset (`erst.rs` has the format).
//!
//! At load every Xen MCE record in ERST is converted and stored in the log
//! like a record from Xen's queues, marked `XEN_INFO_PREVIOUS_BOOT`, traced
//! and logged once. It stays in ERST until a reader took it from the device
//! (its copy to the reader succeeded): only then is it erased, so a record
//! is never lost to an unload, a crash or a reboot before anybody read it,
//! and it is not delivered again on every boot once somebody did. Records
//! that are not Xen's MCE records are never touched; nothing is written to
//! ERST.

use crate::{
    chardev::Log,
    erst::{
        self,
        MAX_RECORD_LEN, //
    },
    hypercall,
    mcinfo::LogicalCpu,
    record::XenRecord,
};
use kernel::prelude::*;

/// Most ERST records looked at per load (ERST stores are a few KiB to a few
/// hundred KiB; Xen writes one record per bank it logged at the panic).
const MAX_SCAN: usize = 64;

/// A stored previous-boot record still in ERST.
#[derive(Clone, Copy)]
struct Pending {
    seq: u64,
    erst_id: u64,
}

/// The previous-boot records stored in the log and not yet erased from ERST.
pub(crate) struct Saved {
    pending: KVec<Pending>,
}

impl Saved {
    /// Nothing pending (and what [`Saved::import`] falls back to).
    pub(crate) fn none() -> Saved {
        Saved { pending: KVec::new() }
    }

    /// Stores every Xen MCE record found in ERST into `log`. Never fails: a
    /// platform without ERST has none, other errors are logged and leave
    /// the records where they are for the next load.
    pub(crate) fn import(log: &Log, cpus: &[LogicalCpu]) -> Saved {
        let mut saved = Saved::none();
        let Ok(mut ids) = KVec::from_elem(0u64, MAX_SCAN, GFP_KERNEL) else {
            pr_warn!("no memory to look for saved fatal machine checks in ERST\n");
            return saved;
        };
        let n = match hypercall::erst_ids(&mut ids) {
            Ok(n) => n,
            Err(e) if e == ENODEV.to_errno() => return saved,
            Err(e) => {
                pr_warn!("cannot list ERST records ({e}): saved fatal machine checks stay there\n");
                return saved;
            }
        };
        let Ok(mut buf) = KBox::new([0u8; MAX_RECORD_LEN], GFP_KERNEL) else {
            return saved;
        };
        for &id in ids.iter().take(n) {
            let Ok(len) = hypercall::erst_read(id, &mut buf[..]) else {
                continue; // erased meanwhile (pstore), or unreadable: not ours to judge
            };
            let Some(s) = buf.get(..len).and_then(erst::xen_mce_record) else {
                continue; // not a record Xen wrote: left alone
            };
            let (mce, xen) = s.to_record(cpus);
            let rec = XenRecord { mce, xen };
            let Some(seq) = log.store_all(core::slice::from_ref(&rec)) else {
                pr_warn!(
                    "log full: saved fatal machine check (ERST record {id:#x}) left in ERST for the next load\n"
                );
                break;
            };
            hypercall::trace_record(&rec, seq);
            pr_err!(
                "fatal machine check of a previous boot (saved by Xen in ERST, record {id:#x}): CPU {} (APIC id {}) bank {} status {:#x} addr {:#x} mcgstatus {:#x} time {}; record {seq}\n",
                mce.extcpu as i32,
                mce.apicid,
                mce.bank,
                mce.status,
                mce.addr,
                mce.mcgstatus,
                mce.time
            );
            if saved.pending.push(Pending { seq, erst_id: id }, GFP_KERNEL).is_err() {
                // Cannot track it: it stays in ERST and comes again next load.
                pr_warn!("ERST record {id:#x} will be delivered again at the next load\n");
            }
        }
        saved
    }

    /// How many stored records are still in ERST.
    pub(crate) fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Erases from ERST the records a reader took from `log`.
    pub(crate) fn clear_taken(&mut self, log: &Log) {
        let mut i = 0;
        while let Some(p) = self.pending.get(i).copied() {
            if !log.ring().taken(p.seq) {
                i += 1;
                continue;
            }
            match hypercall::erst_clear(p.erst_id) {
                Ok(()) => pr_info!(
                    "previous-boot record {} read: erased from ERST (record {:#x})\n",
                    p.seq,
                    p.erst_id
                ),
                // Erased by somebody else (pstore) meanwhile: fine too.
                Err(e) if e == ENOENT.to_errno() => {}
                Err(e) => pr_warn!(
                    "erasing ERST record {:#x} failed ({e}): it will be delivered again next boot\n",
                    p.erst_id
                ),
            }
            let _ = self.pending.remove(i);
        }
    }

    /// At unload, after [`Saved::clear_taken`]: says what stays in ERST.
    pub(crate) fn report_unread(&self) {
        if !self.pending.is_empty() {
            pr_warn!(
                "{} previous-boot records not read: they stay in ERST and come again at the next load\n",
                self.pending.len()
            );
        }
    }
}
