// SPDX-License-Identifier: GPL-2.0

//! Debug views under /sys/kernel/debug/xen_mcelog/, for debugging only (the
//! device is the interface): `stats`, `records`, and the binary `raw` and
//! `xen`. Non-destructive: they read the ring with its snapshot iterator,
//! which never yields a torn record.
//!
//! Each view is rendered **once per open**, into a buffer the open file
//! owns, and `read(2)` serves that buffer at the file offset: a reader that
//! needs several reads (1-byte reads, `read_to_end`) gets one consistent
//! snapshot with whole entries, whatever arrives meanwhile. (The kernel
//! crate's binary debugfs files call their writer again on every read, so a
//! second read would start in the middle of an entry of a newer snapshot.)

use crate::{
    record::{
        Mce,
        XenInfo,
        RECORD_LEN,
        XEN_VIEW_LEN, //
    },
    Pipeline,
};
use core::{
    fmt::{
        self,
        Write, //
    },
    marker::PhantomPinned,
};
use kernel::{
    bindings,
    prelude::*,
    sync::Arc,
    types::Opaque, //
};

/// A view's content while it is being rendered.
struct Buffer(KVVec<u8>);

impl Write for Buffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

// The views are rendered by functions that are never inlined into `render`:
// each needs a few hundred bytes of stack (a record copy, its byte image, the
// formatter's arguments), and inlined side by side they made `view_open` the
// module's largest frame.

/// `stats`: every pipeline and ring counter, plus the device flags.
#[inline(never)]
fn show_stats(s: &Pipeline, f: &mut impl Write) -> fmt::Result {
    let (st, t, episode, runs, untraced) = {
        let d = s.drainer.lock();
        (
            d.state.stats,
            d.timing,
            d.state.backpressured(),
            d.state.delivered.run_count(),
            d.state.untraced(),
        )
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
    writeln!(f, "overflow_incomplete {}", st.overflow_incomplete)?;
    writeln!(f, "overflow_dropped_banks {}", st.overflow_dropped_banks)?;
    writeln!(f, "overflow_xen_pool {}", st.overflow_xen_pool)?;
    writeln!(f, "traced_only_dropped {}", st.traced_only_dropped)?;
    writeln!(f, "traced_late {}", st.traced_late)?;
    writeln!(f, "delivered_runs {runs}")?;
    writeln!(f, "untraced_waiting {}", u8::from(untraced))?;
    writeln!(
        f,
        "trace_consumer {}",
        u8::from(crate::hypercall::trace_enabled())
    )?;
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
    writeln!(f, "backpressured {}", u8::from(log.drain_waiting()))?;
    writeln!(f, "backpressure_episode {}", u8::from(episode))?;
    let (open, exclusive) = log.open_files();
    writeln!(f, "open_files {open}")?;
    writeln!(f, "open_exclusive {}", u8::from(exclusive))
}

/// `records`: one line per record in the ring, oldest first.
#[inline(never)]
fn show_records(s: &Pipeline, f: &mut impl Write) -> fmt::Result {
    for (seq, r) in s.log.ring().snapshot() {
        show_record_mce(f, seq, &r.mce)?;
        show_record_xen(f, &r.mce, &r.xen)?;
    }
    Ok(())
}

// The two halves of a `records` line are frames of their own: each
// `write!` builds its arguments on the stack, and together, inlined into
// the loop, they made a frame of over 1 KiB with trixie's rustc.

/// The mcelog record's part of a `records` line.
#[inline(never)]
fn show_record_mce(f: &mut impl Write, seq: u64, m: &Mce) -> fmt::Result {
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
    )
}

/// Xen's side of a `records` line: which domain, which address space,
/// which recovery.
#[inline(never)]
fn show_record_xen(f: &mut impl Write, m: &Mce, x: &XenInfo) -> fmt::Result {
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
    writeln!(f, " xen_flags={:#x}", x.flags)
}

/// The views.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `stats`.
    Stats,
    /// `records`.
    Records,
    /// `raw`: the records as 128-byte `struct mce`s.
    Raw,
    /// `xen`: the records as [`XEN_VIEW_LEN`]-byte entries (`seq`, the
    /// 128-byte record, the 32-byte `XenInfo`; little-endian): the extended
    /// records of the device's `XMC_XEN_RECORDS`, without taking them.
    Xen,
}

/// Renders one view of `p`.
fn render(p: &Pipeline, kind: Kind) -> Result<KVVec<u8>> {
    let ring = p.log.ring();
    let entry_len = match kind {
        Kind::Raw => RECORD_LEN,
        Kind::Xen => XEN_VIEW_LEN,
        Kind::Stats | Kind::Records => 0,
    };
    let mut out = Buffer(KVVec::with_capacity(ring.len() * entry_len, GFP_KERNEL)?);
    match kind {
        Kind::Stats => show_stats(p, &mut out).map_err(|_| ENOMEM)?,
        Kind::Records => show_records(p, &mut out).map_err(|_| ENOMEM)?,
        Kind::Raw => show_raw(p, &mut out.0)?,
        Kind::Xen => show_xen(p, &mut out.0)?,
    }
    Ok(out.0)
}

/// `raw`: the records as 128-byte `struct mce`s.
#[inline(never)]
fn show_raw(p: &Pipeline, out: &mut KVVec<u8>) -> Result {
    for (_, r) in p.log.ring().snapshot() {
        out.extend_from_slice(&r.mce.to_bytes(), GFP_KERNEL)?;
    }
    Ok(())
}

/// `xen`: the records as [`XEN_VIEW_LEN`]-byte entries.
#[inline(never)]
fn show_xen(p: &Pipeline, out: &mut KVVec<u8>) -> Result {
    for (seq, r) in p.log.ring().snapshot() {
        out.extend_from_slice(&r.view_bytes(seq), GFP_KERNEL)?;
    }
    Ok(())
}

/// One file of the directory: what its `open` renders (its `i_private`).
struct ViewFile {
    pipeline: Arc<Pipeline>,
    kind: Kind,
}

/// The directory /sys/kernel/debug/xen_mcelog/ and its views.
///
/// # Invariants
///
/// `dir` is the directory's dentry (or an error pointer if debugfs is
/// unavailable), removed with everything in it in drop. Its files point at
/// `fops` and at `files`, both pinned here. `fops.owner` is the module, so
/// an open view holds the module (and with it this struct) until release.
#[pin_data(PinnedDrop)]
pub(crate) struct Views {
    #[pin]
    fops: Opaque<bindings::file_operations>,
    files: [ViewFile; 4],
    dir: *mut bindings::dentry,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: `dir` is only passed to `debugfs_remove`, which may run on any
// thread; `fops` is written only before the files exist.
unsafe impl Send for Views {}
// SAFETY: `&Views` gives access to nothing but the (`Sync`) `files`.
unsafe impl Sync for Views {}

/// The file names, in the order of `Views::files`.
const NAMES: [&CStr; 4] = [c"stats", c"records", c"raw", c"xen"];

impl Views {
    /// Creates /sys/kernel/debug/xen_mcelog/ and its views of `pipeline`
    /// (quietly nothing if debugfs is unavailable).
    pub(crate) fn new(
        module: &'static ThisModule,
        pipeline: &Arc<Pipeline>,
    ) -> impl PinInit<Self, Error> {
        let file = |kind| ViewFile {
            pipeline: pipeline.clone(),
            kind,
        };
        let files = [
            file(Kind::Stats),
            file(Kind::Records),
            file(Kind::Raw),
            file(Kind::Xen),
        ];
        try_pin_init!(&this in Self {
            fops <- Opaque::ffi_init(move |slot: *mut bindings::file_operations| {
                // SAFETY: all zeroes is a valid `file_operations`.
                let mut f: bindings::file_operations = unsafe { core::mem::zeroed() };
                f.owner = module.as_ptr();
                f.open = Some(view_open);
                f.read = Some(view_read);
                f.release = Some(view_release);
                f.llseek = Some(bindings::default_llseek);
                // SAFETY: `slot` is valid for writes during initialisation.
                unsafe { slot.write(f) };
            }),
            files,
            dir: {
                // SAFETY: a static name and no parent: a top-level directory.
                let dir = unsafe {
                    bindings::debugfs_create_dir(c"xen_mcelog".as_char_ptr(), core::ptr::null_mut())
                };
                // SAFETY: `this` is the struct being initialised; `fops` and
                // `files` were initialised above and are pinned with it.
                let (fops, files) = unsafe {
                    let me = this.as_ptr();
                    (
                        Opaque::cast_into(&raw const (*me).fops).cast_const(),
                        &raw const (*me).files,
                    )
                };
                for (i, name) in NAMES.iter().enumerate() {
                    // SAFETY: `name` is a C string; `dir` is a directory or
                    // an error pointer (then debugfs creates nothing); the
                    // data (one entry of `files`) and `fops` stay valid until
                    // drop removes the directory, and open files keep the
                    // module, so this struct, alive (type invariant).
                    unsafe {
                        bindings::debugfs_create_file_full(
                            name.as_char_ptr(),
                            0o400,
                            dir,
                            files.cast::<ViewFile>().add(i).cast_mut().cast(),
                            core::ptr::null(),
                            fops,
                        )
                    };
                }
                dir
            },
            _pin: PhantomPinned,
        })
    }
}

#[pinned_drop]
impl PinnedDrop for Views {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `dir` came from `debugfs_create_dir` (type invariant);
        // removal waits for running file operations of its files.
        unsafe { bindings::debugfs_remove(self.dir) };
    }
}

/// `open`: renders the view once, into a buffer the file owns.
///
/// # Safety
///
/// Called by debugfs for a file of [`Views`]: `i_private` is its `ViewFile`.
unsafe extern "C" fn view_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `i_private` is the `ViewFile` this file was created with,
    // alive while the file exists (`Views` invariants).
    let vf = unsafe { &*(*inode).i_private.cast::<ViewFile>() };
    let content = match render(&vf.pipeline, vf.kind).and_then(|b| Ok(KBox::new(b, GFP_KERNEL)?)) {
        Ok(b) => b,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: open may set private_data; read and release use it as this
    // buffer, and release frees it.
    unsafe { (*file).private_data = KBox::into_raw(content).cast() };
    0
}

/// `read`: the open's snapshot from the file offset on.
///
/// # Safety
///
/// Called by the VFS on a file opened by [`view_open`].
unsafe extern "C" fn view_read(
    file: *mut bindings::file,
    buf: *mut c_char,
    count: usize,
    pos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: private_data is the buffer `view_open` stored, alive until
    // release, which cannot run during a read.
    let content = unsafe { &*(*file).private_data.cast::<KVVec<u8>>() };
    // SAFETY: `buf`/`count` are the user buffer of this read and `pos` its
    // offset; the source is `content.len()` initialised bytes.
    unsafe {
        bindings::simple_read_from_buffer(
            buf.cast(),
            count,
            pos,
            content.as_ptr().cast(),
            content.len(),
        )
    }
}

/// `release`: frees the open's snapshot.
///
/// # Safety
///
/// Called by the VFS when the last reference to a file opened by
/// [`view_open`] goes.
unsafe extern "C" fn view_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: private_data is the buffer `view_open` stored; nothing uses it
    // after release.
    drop(unsafe { KBox::from_raw((*file).private_data.cast::<KVVec<u8>>()) });
    0
}
