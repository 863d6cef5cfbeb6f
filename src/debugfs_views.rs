// SPDX-License-Identifier: GPL-2.0

//! Debug views under /sys/kernel/debug/xen_mcelog/, for debugging only (the
//! device is the interface): `stats`, `records`, and the binary `raw` and
//! `xen`. Non-destructive: they read the ring with its snapshot iterator,
//! which never yields a torn record.

use crate::{
    record::{
        RECORD_LEN,
        XEN_VIEW_LEN, //
    },
};
use core::fmt;
use kernel::{
    debugfs,
    fs::file,
    prelude::*,
    sync::Arc,
    uaccess::UserSliceWriter,
};

/// What the views show: the module's state.
type Source = crate::Pipeline;

/// `stats`: every pipeline and ring counter, plus the device flags.
fn show_stats(s: &Arc<Source>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (st, t) = {
        let d = s.drainer.lock();
        (d.state.stats, d.timing)
    };
    let log = &s.log;
    // One snapshot: ring_pushed = ring_popped + ring_len exactly.
    let r = log.ring().stats();
    writeln!(f, "fetched_urgent {}", st.fetched[0])?;
    writeln!(f, "fetched_nonurgent {}", st.fetched[1])?;
    writeln!(f, "acked_urgent {}", st.acked[0])?;
    writeln!(f, "acked_nonurgent {}", st.acked[1])?;
    writeln!(f, "stored {}", st.stored)?;
    writeln!(f, "backpressure {}", st.backpressure)?;
    writeln!(f, "malformed {}", st.malformed)?;
    writeln!(f, "unknown_cpu {}", st.unknown_cpu)?;
    writeln!(f, "cpu_refreshes {}", st.cpu_refreshes)?;
    writeln!(f, "fetch_errors {}", st.fetch_errors)?;
    writeln!(f, "ack_errors {}", st.ack_errors)?;
    writeln!(f, "drain_runs {}", t.runs)?;
    writeln!(f, "drain_records {}", t.records)?;
    writeln!(f, "drain_ns {}", t.ns)?;
    writeln!(f, "drain_peak_records {}", t.peak_records)?;
    writeln!(f, "drain_peak_ns {}", t.peak_ns)?;
    writeln!(f, "ring_capacity {}", log.ring().capacity())?;
    writeln!(f, "ring_len {}", r.len)?;
    writeln!(f, "ring_pushed {}", r.pushed)?;
    writeln!(f, "ring_popped {}", r.popped)?;
    writeln!(f, "ring_rejected_full {}", r.rejected_full)?;
    writeln!(f, "flags {:#x}", log.flags().peek())?;
    writeln!(f, "backpressured {}", u8::from(log.drain_waiting()))
}

/// `records`: one line per record in the ring, oldest first.
fn show_records(s: &Arc<Source>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (seq, r) in s.log.ring().snapshot() {
        let (m, x) = (&r.mce, &r.xen);
        write!(
            f,
            "seq={seq} cpu={} bank={} status={:#x} addr={:#x} misc={:#x} mcgstatus={:#x} time={}{}",
            m.shown_cpu(),
            m.bank,
            m.status,
            m.addr,
            m.misc,
            m.mcgstatus,
            m.time,
            if m.is_injected() { " injected" } else { "" }
        )?;
        // Xen's side: which domain, which address space, which recovery.
        write!(
            f,
            " xen_cpu={} domid={} running_domid={} addr_space={} mc_flags={:#x}",
            x.xen_cpu,
            x.domid,
            x.running_domid,
            x.addr_space_name(),
            x.mc_flags
        )?;
        if let Some(ma) = x.machine_addr(m) {
            write!(f, " maddr={ma:#x}")?;
        }
        if x.has_recovery() {
            write!(
                f,
                " recovery={:#x}/{:#x} mfn={:#x} rec_status={:#x}",
                x.rec_types, x.rec_flags, x.mfn, x.rec_status
            )?;
        }
        writeln!(f, " xen_flags={:#x}", x.flags)?;
    }
    Ok(())
}

/// `raw`: the same records as 128-byte `struct mce`s.
struct RawView(Arc<Source>);

impl debugfs::BinaryWriter for RawView {
    fn write_to_slice(&self, w: &mut UserSliceWriter, off: &mut file::Offset) -> Result<usize> {
        let ring = self.0.log.ring();
        let mut buf = KVVec::with_capacity(ring.capacity() * RECORD_LEN, GFP_KERNEL)?;
        for (_, r) in ring.snapshot() {
            buf.extend_from_slice(&r.mce.to_bytes(), GFP_KERNEL)?;
        }
        w.write_slice_file(&buf, off)
    }
}

/// `xen`: the same records with their sequence number and Xen side, as
/// [`XEN_VIEW_LEN`]-byte entries (`seq`, the 128-byte record, the 32-byte
/// `XenInfo`; little-endian): the extended records of the device's
/// `XMC_XEN_RECORDS`, without taking them.
struct XenView(Arc<Source>);

impl debugfs::BinaryWriter for XenView {
    fn write_to_slice(&self, w: &mut UserSliceWriter, off: &mut file::Offset) -> Result<usize> {
        let ring = self.0.log.ring();
        let mut buf = KVVec::with_capacity(ring.capacity() * XEN_VIEW_LEN, GFP_KERNEL)?;
        for (seq, r) in ring.snapshot() {
            buf.extend_from_slice(&r.view_bytes(seq), GFP_KERNEL)?;
        }
        w.write_slice_file(&buf, off)
    }
}

/// The debugfs directory and its views (removed on drop).
#[pin_data]
pub(crate) struct Views {
    #[pin]
    stats: debugfs::File<Arc<Source>>,
    #[pin]
    records: debugfs::File<Arc<Source>>,
    #[pin]
    raw: debugfs::File<RawView>,
    #[pin]
    xen: debugfs::File<XenView>,
    dir: debugfs::Dir,
}

impl Views {
    /// Creates /sys/kernel/debug/xen_mcelog/ and its views of `source`
    /// (quietly nothing if debugfs is unavailable).
    pub(crate) fn new(source: &Arc<Source>) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(Self {
            dir: debugfs::Dir::new(c"xen_mcelog"),
            stats <- dir.read_callback_file(c"stats", source.clone(), &show_stats),
            records <- dir.read_callback_file(c"records", source.clone(), &show_records),
            raw <- dir.read_binary_file(c"raw", RawView(source.clone())),
            xen <- dir.read_binary_file(c"xen", XenView(source.clone())),
        })
    }
}
