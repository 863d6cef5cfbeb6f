// SPDX-License-Identifier: GPL-2.0

//! `/dev/xen_mcelog`: the misc device and its `file_operations`.
//!
//! The kernel crate's `miscdevice` never sets `fops.owner` (rmmod while the
//! node is open would be a use-after-free) and has no `poll`, so the device
//! has its own `file_operations`. In binder's style, each `extern "C"`
//! trampoline only turns raw pointers into the kernel crate's safe types and
//! calls safe code; every decision (buffer sizes, errnos, O_EXCL, flags) is in
//! the pure `decisions` module, which the host tests.

use crate::{
    record::{
        Mce,
        XenRecord,
        RECORD_LEN,
        XEN_VIEW_LEN, //
    },
    ring::{
        backpressure::Backpressure,
        Ring,
        Slot, //
    },
    decisions::{
        self,
        owner,
        stats::DeviceStats,
        Errno,
        FileFormat,
        Flags,
        OpenGate,
        RecordFormat,
        Request, //
    },
};
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::to_result,
    fs::File,
    prelude::*,
    sync::{
        poll::{
            PollCondVar,
            PollTable, //
        },
        Arc,
        ArcBorrow, //
    },
    types::Opaque,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

// The device's record lengths are the record layout's.
const _: () = assert!(decisions::MCELOG_RECORD_LEN == RECORD_LEN);
const _: () = assert!(decisions::XEN_RECORD_LEN == XEN_VIEW_LEN);

/// Storage of the ring: kvmalloc'ed, so that every documented `ring_size`
/// (up to 2^20 slots of 192 bytes) can be allocated (vmalloc beyond what
/// kmalloc can give).
pub(crate) type RingStorage = KVVec<Slot<XenRecord>>;

/// The ring of records (each the 128-byte mcelog record plus Xen's side
/// facts), in storage the module allocates at load.
pub(crate) type McelogRing = Ring<XenRecord, RingStorage>;

/// Converts an errno decided by `decisions` into a kernel error.
fn to_kernel_error(e: Errno) -> Error {
    Error::from_errno(e.as_neg())
}

/// Where the drain's store of an entry's records ended.
pub(crate) enum Stored {
    /// All records are in the ring; the sequence number of the first (the
    /// others follow one by one).
    At(u64),
    /// No room for all of them; nothing was stored. `retry`: a reader freed
    /// space meanwhile and may not have seen that the drain waits, so the
    /// caller must run the drain again; otherwise the next reader that frees
    /// space kicks it ([`Backend::kick_drain`]).
    Full {
        /// Run the drain again now.
        retry: bool,
    },
}

/// The log the device serves: the ring, the overflow flags, the open gate,
/// the wait queue of pollers and the backpressure hand-off between the
/// drain and the readers.
#[pin_data]
pub(crate) struct Log {
    ring: McelogRing,
    flags: Flags,
    gate: OpenGate,
    backpressure: Backpressure,
    #[pin]
    readers: PollCondVar,
}

impl Log {
    /// A log over `storage` (its length is the capacity: a power of two).
    pub(crate) fn new(storage: RingStorage) -> Result<impl PinInit<Self, Error>> {
        let ring = Ring::new(storage).map_err(|_| EINVAL)?;
        Ok(try_pin_init!(Self {
            ring,
            flags: Flags::new(),
            gate: OpenGate::new(),
            backpressure: Backpressure::new(),
            readers <- kernel::new_poll_condvar!("xen_mcelog::readers"),
        }))
    }

    /// The ring (for the drain, statistics and debug dumps).
    pub(crate) fn ring(&self) -> &McelogRing {
        &self.ring
    }

    /// The MCE_GETCLEAR_FLAGS flags.
    pub(crate) fn flags(&self) -> &Flags {
        &self.flags
    }

    /// Stores all of `recs` or none of them, and wakes pollers when stored.
    /// Returns the sequence number of the first record (the others follow
    /// one by one), `None` when there is no room for all.
    pub(crate) fn store_all(&self, recs: &[XenRecord]) -> Option<u64> {
        let first = self.ring.try_push_all(recs).ok()?;
        if !recs.is_empty() {
            self.readers.notify_all();
        }
        Some(first)
    }

    /// The drain's store: as [`Log::store_all`], and when there is no room,
    /// the drain is marked as waiting for space (`ring::backpressure`).
    pub(crate) fn store_from_xen(&self, recs: &[XenRecord]) -> Stored {
        let token = self.backpressure.token();
        match self.store_all(recs) {
            Some(first) => Stored::At(first),
            None => Stored::Full {
                retry: self.backpressure.stalled(token),
            },
        }
    }

    /// The drain's making of room (`drain::Env::drop_oldest`): takes record
    /// `seq`, which the drain knows delivered to a consumer of the
    /// tracepoint, out of the ring if it is still the oldest. The drain
    /// asked the open gate just before: no file had the device open. An
    /// open that comes between that look and this take does not get this
    /// one record (it was delivered; the drain looks at the gate again
    /// before taking another): the open counts from after it. Not a
    /// release of space for `backpressure`: the drain itself made it.
    pub(crate) fn drop_delivered(&self, seq: u64) -> bool {
        self.ring.try_take(seq)
    }

    /// The drain emptied Xen's queues: it no longer waits for space.
    pub(crate) fn drain_resolved(&self) {
        self.backpressure.resolved();
    }

    /// Open files of the device, and whether one holds it exclusively.
    pub(crate) fn open_files(&self) -> (u32, bool) {
        (self.gate.open_count(), self.gate.is_exclusive())
    }

    /// Whether the drain waits for a reader to free space.
    pub(crate) fn drain_waiting(&self) -> bool {
        self.backpressure.is_waiting()
    }
}

/// What the device needs from the rest of the module.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The log this device serves.
    fn log(&self) -> &Log;
    /// A read released space while the drain waits for it: run the drain.
    fn kick_drain(this: ArcBorrow<'_, Self>);
    /// A read took records (after their copy to the reader succeeded).
    fn taken(this: ArcBorrow<'_, Self>);
    /// The counters of the rest of the module (the drain's, the previous
    /// boot's) into `s`, for `XMC_GET_STATS`; the device adds the ring's
    /// and its own afterwards. May sleep (it takes their locks).
    fn stats(&self, s: &mut DeviceStats);
    /// `XMC_PAGE_OWNER`: Xen's `mmu_update` result for `q`
    /// (`chardev/owner.rs`), or the module's own errno (`EOPNOTSUPP`: no
    /// probe; `EIO`: it stopped). May sleep.
    fn page_owner(&self, q: owner::Query) -> core::result::Result<i32, Errno>;
}

/// The registered misc device, with its own `file_operations`.
///
/// # Invariants
///
/// `misc` is registered with `misc_register()` and points at `fops`, both
/// pinned in this struct; it is deregistered exactly once, in drop.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<B: Backend> {
    #[pin]
    fops: Opaque<bindings::file_operations>,
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    backend: Arc<B>,
}

// SAFETY: `misc_deregister` may be called from any thread; the C structs are
// only written before registration.
unsafe impl<B: Backend> Send for Registration<B> {}
// SAFETY: `&self` gives no access to the C structs.
unsafe impl<B: Backend> Sync for Registration<B> {}

impl<B: Backend> Registration<B> {
    /// Registers `/dev/<name>` (dynamic minor, mode 0600) served by `backend`.
    pub(crate) fn register(
        name: &'static CStr,
        module: &'static ThisModule,
        backend: Arc<B>,
    ) -> impl PinInit<Self, Error> {
        // pin-init runs the initialisers in the order written. The device is
        // usable the instant `misc_register` returns (udev starts a reader
        // exactly then), so everything `open` reads is initialised before
        // it: `backend` and `fops` first, `misc` last.
        try_pin_init!(&this in Self {
            backend,
            fops <- Opaque::ffi_init(move |slot: *mut bindings::file_operations| {
                // SAFETY: all zeroes is a valid `file_operations`.
                let mut f: bindings::file_operations = unsafe { core::mem::zeroed() };
                f.owner = module.as_ptr();
                f.open = Some(Fops::<B>::open);
                f.release = Some(Fops::<B>::release);
                f.read = Some(Fops::<B>::read);
                f.write = Some(Fops::<B>::write);
                f.poll = Some(Fops::<B>::poll);
                f.unlocked_ioctl = Some(Fops::<B>::ioctl);
                f.compat_ioctl = bindings::compat_ptr_ioctl;
                f.llseek = Some(bindings::noop_llseek);
                // SAFETY: `slot` is valid for writes during initialisation.
                unsafe { slot.write(f) };
            }),
            misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                // SAFETY: all zeroes is a valid `miscdevice`.
                let mut m: bindings::miscdevice = unsafe { core::mem::zeroed() };
                m.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                m.name = name.as_char_ptr();
                m.mode = 0o600;
                // SAFETY: `this` is the struct being initialised; `fops` was
                // initialised above and is pinned with it.
                m.fops = unsafe { Opaque::cast_into(&raw const (*this.as_ptr()).fops) };
                // SAFETY: `slot` is valid for writes during initialisation.
                unsafe { slot.write(m) };
                // SAFETY: `slot` holds a valid miscdevice that stays pinned until
                // drop, which deregisters it.
                to_result(unsafe { bindings::misc_register(slot) })?;
                debug_window();
                Ok::<(), Error>(())
            }),
        })
    }
}

/// Widens the window between the device becoming visible and `register`
/// returning, in builds for the debug kernel only (`XMC_DEBUG_WINDOWS=y`, see
/// Kbuild): the sandbox's `openrace` case opens and reads the node in a tight
/// loop across repeated loads, so anything `open` reads that is initialised
/// after `misc_register` would be found (and oops) there.
fn debug_window() {
    #[cfg(xmc_debug_windows)]
    {
        pr_info!("debug build: 50 ms pause after misc_register\n");
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(50));
    }
}

#[pinned_drop]
impl<B: Backend> PinnedDrop for Registration<B> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `misc` is registered (type invariant).
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// True when the calling task has CAP_SYS_ADMIN.
fn is_admin() -> bool {
    // SAFETY: `capable` only inspects the current task's credentials.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as c_int) }
}

fn is_exclusive(file: &File) -> bool {
    file.flags() & bindings::O_EXCL != 0
}

// The safe halves of the file operations.

fn open<B: Backend>(backend: &B, exclusive: bool) -> Result {
    backend
        .log()
        .gate
        .try_open(exclusive)
        .map_err(to_kernel_error)
}

/// Ends an open (a release, or an open that failed after the gate let it
/// in). The last one lets the drain make room again in a full log (records
/// delivered to a consumer of the tracepoint may go with `drop_traced=1`,
/// `drain::Env::keep_all`): a drain waiting for space is kicked, as no
/// read will kick it now (and the periodic drain may be off).
///
/// Store buffering with the drain: the gate's update is a fully ordered
/// RMW (`Word::update`, `atomic_try_cmpxchg`) before the relaxed look at
/// the drain's mark; the drain marks itself waiting, `smp_mb()`
/// (`Backpressure::stalled`), then looks at the gate. One of the two sees
/// the other's store: the drain makes room itself, or it is kicked here.
fn end_open<B: Backend>(backend: &Arc<B>, exclusive: bool) {
    let log = backend.log();
    log.gate.release(exclusive);
    if log.gate.open_count() == 0 && log.drain_waiting() {
        B::kick_drain(backend.as_arc_borrow());
    }
}

/// Per open file: the backend, whether this open was the O_EXCL one, and
/// which records its `read()` returns.
struct OpenFile<B> {
    backend: Arc<B>,
    exclusive: bool,
    format: FileFormat,
}

/// Copies one record in `format` to the user buffer at `dst`.
fn copy_record(dst: UserPtr, format: RecordFormat, seq: u64, rec: &XenRecord) -> Result {
    let mut w = UserSlice::new(dst, format.record_len()).writer();
    match format {
        RecordFormat::Mcelog => w.write_slice(&rec.mce.to_bytes()),
        RecordFormat::Xen => w.write_slice(&rec.view_bytes(seq)),
    }
}

/// Reads whole records of the file's format, oldest first; 0 at once when
/// empty (never blocks).
///
/// Each record is copied to the user buffer before it is taken from the
/// ring: a copy that fails (bad pointer, the reader killed while the copy
/// waits on a page fault) leaves it where it was, the oldest record under
/// its sequence number, for the next read. Records already copied belong to
/// the reader, as with any read(2). When another reader takes the record
/// first, the next one overwrites the copy.
fn read<B: Backend>(of: &OpenFile<B>, buf: UserPtr, count: usize) -> Result<usize> {
    let log = of.backend.log();
    let format = of.format.get();
    let len = format.record_len();
    let want = decisions::read_plan(count, len, log.ring.len()).map_err(to_kernel_error)?;
    let mut done = 0usize;
    while done < want {
        let Some((seq, rec)) = log.ring.peek() else { break };
        if let Err(e) = copy_record(buf.wrapping_byte_add(done * len), format, seq, &rec) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        if log.ring.try_take(seq) {
            done += 1;
        }
    }
    if done > 0 {
        B::taken(of.backend.as_arc_borrow());
        if log.backpressure.released() {
            B::kick_drain(of.backend.as_arc_borrow());
        }
    }
    Ok(done * len)
}

/// Injects whole records (CAP_SYS_ADMIN), all or nothing, each marked
/// injected and with `kflags` cleared (`Mce::from_user_bytes`).
fn write<B: Backend>(backend: &B, buf: UserPtr, count: usize) -> Result<usize> {
    let n = decisions::write_plan(count, RECORD_LEN, is_admin()).map_err(to_kernel_error)?;
    // More than the whole ring can never fit: refuse before allocating.
    decisions::write_fits(n, backend.log().ring.capacity()).map_err(to_kernel_error)?;
    let mut r = UserSlice::new(buf, count).reader();
    // Up to the ring's capacity: kvmalloc, as the ring.
    let mut recs = KVVec::with_capacity(n, GFP_KERNEL)?;
    let mut raw = [0u8; RECORD_LEN];
    for _ in 0..n {
        r.read_slice(&mut raw)?;
        recs.push(XenRecord::user(Mce::from_user_bytes(&raw)), GFP_KERNEL)?;
    }
    if backend.log().store_all(&recs).is_none() {
        return Err(to_kernel_error(Errno::Enospc));
    }
    Ok(count)
}

fn ioctl<B: Backend>(of: &OpenFile<B>, cmd: u32, arg: usize) -> Result<isize> {
    let log = of.backend.log();
    match decisions::decode_request(cmd, is_admin).map_err(to_kernel_error)? {
        Request::Value(op) => {
            let log_len = u32::try_from(log.ring.capacity()).unwrap_or(u32::MAX);
            let value = decisions::ioctl_value(op, log_len, &log.flags, &of.format);
            UserSlice::new(UserPtr::from_addr(arg), 4)
                .writer()
                .write(&value)?;
        }
        Request::Stats { len } => copy_stats(&*of.backend, UserPtr::from_addr(arg), len)?,
        Request::PageOwner => page_owner(&*of.backend, UserPtr::from_addr(arg))?,
    }
    Ok(0)
}

/// `XMC_PAGE_OWNER`: the caller's question, validated before Xen is
/// asked; Xen's result copied back in the same struct.
fn page_owner<B: Backend>(backend: &B, arg: UserPtr) -> Result {
    let mut raw = [0u8; owner::PAGE_OWNER_LEN];
    UserSlice::new(arg, owner::PAGE_OWNER_LEN)
        .reader()
        .read_slice(&mut raw)?;
    let q = owner::decode(&raw).map_err(to_kernel_error)?;
    let xen_rc = backend.page_owner(q).map_err(to_kernel_error)?;
    UserSlice::new(arg, owner::PAGE_OWNER_LEN)
        .writer()
        .write_slice(&owner::encode(q, xen_rc))
}

/// `XMC_GET_STATS`: one snapshot of the module's counters, its first `len`
/// bytes (the caller's `_IOC_SIZE`, at most the struct's) copied to `dst`.
/// Takes nothing from the ring and clears nothing.
///
/// The rest of the module's counters are read first, then the ring's: a
/// record the drain counted as stored is in the ring's `pushed` already,
/// so `stored <= ring_pushed` in every snapshot; `ring_pushed`,
/// `ring_popped` and `ring_len` are one consistent triple
/// (`Ring::stats`).
///
/// A frame of its own (the counters and their byte image, about 400
/// bytes): not inlined into `ioctl`, which the `int` ioctls share.
#[inline(never)]
fn copy_stats<B: Backend>(backend: &B, dst: UserPtr, len: usize) -> Result {
    let mut s = DeviceStats::default();
    backend.stats(&mut s);
    let log = backend.log();
    let r = log.ring.stats();
    s.ring_capacity = u64::try_from(log.ring.capacity()).unwrap_or(u64::MAX);
    s.ring_len = r.len;
    s.ring_pushed = r.pushed;
    s.ring_popped = r.popped;
    s.ring_rejected_full = r.rejected_full;
    s.open_files = u64::from(log.gate.open_count());
    let bytes = s.encode(len);
    let bytes = bytes.get(..len).ok_or(EINVAL)?;
    UserSlice::new(dst, len).writer().write_slice(bytes)
}

/// Readable when `read` can return a record now: the oldest record is
/// published (`Ring::readable`). Not `!is_empty()`: a producer's claimed
/// slot counts from its claim, but `read` cannot take it (nor anything
/// behind it) until the producer has published it, and producers run
/// preemptible (the drain's work item, `write`), so a poller told
/// "readable" then would read 0 until the producer ran again (mcelog polls,
/// then reads, and would spin).
///
/// No wake-up is lost: `register_wait` queues us on `readers` under its
/// lock before the check, and `Log::store_all` notifies `readers` (taking
/// the same lock, `__wake_up` in kernel/sched/wait.c) after `try_push_all`
/// returned, i.e. after publishing. Either the notify finds us queued, or
/// its lock section came first and the unlock/lock pair orders the
/// publication before our check. A record published behind an unpublished
/// one wakes us too early; the older record's producer notifies again.
fn poll<B: Backend>(backend: &B, file: &File, table: PollTable<'_>) -> u32 {
    let log = backend.log();
    table.register_wait(file, &log.readers);
    decisions::poll_mask(log.ring.readable())
}

/// The `extern "C"` trampolines.
struct Fops<B>(PhantomData<B>);

impl<B: Backend> Fops<B> {
    /// # Safety
    ///
    /// Called by the VFS for a file of this misc device being opened.
    unsafe extern "C" fn open(inode: *mut bindings::inode, raw: *mut bindings::file) -> c_int {
        // SAFETY: `misc_open()` set private_data to our `miscdevice`, which is
        // the `misc` field of a live `Registration<B>`; it cannot be
        // deregistered during this call.
        let reg = unsafe {
            let misc = (*raw).private_data.cast::<Opaque<bindings::miscdevice>>();
            &*kernel::container_of!(misc, Registration<B>, misc)
        };
        // SAFETY: the file is valid and being opened; no fdget_pos region.
        let file = unsafe { File::from_raw_file(raw) };
        // The VFS clears O_EXCL from f_flags after open, so remember it here.
        let exclusive = is_exclusive(file);
        if let Err(e) = open(&*reg.backend, exclusive) {
            return e.to_errno();
        }
        let of = OpenFile {
            backend: reg.backend.clone(),
            exclusive,
            format: FileFormat::new(),
        };
        let of = match KBox::new(of, GFP_KERNEL) {
            Ok(of) => of,
            Err(_) => {
                end_open(&reg.backend, exclusive);
                return ENOMEM.to_errno();
            }
        };
        // SAFETY: valid inode and file being opened.
        let ret = unsafe { bindings::nonseekable_open(inode, raw) };
        if ret != 0 {
            end_open(&reg.backend, exclusive);
            return ret;
        }
        // SAFETY: open may set private_data; every other trampoline reads it
        // back as this `OpenFile<B>`, and release frees it.
        unsafe { (*raw).private_data = KBox::into_raw(of).cast() };
        0
    }

    /// # Safety
    ///
    /// Called by the VFS when the last reference to an opened file goes.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, raw: *mut bindings::file) -> c_int {
        // SAFETY: private_data is the `OpenFile<B>` stored by open; release
        // owns it and nothing uses it afterwards.
        let of = unsafe { KBox::from_raw((*raw).private_data.cast::<OpenFile<B>>()) };
        end_open(&of.backend, of.exclusive);
        0
    }

    /// # Safety
    ///
    /// `raw` is an open file of this device, and the returned reference is
    /// used only during the file operation that received `raw`.
    unsafe fn open_file<'a>(raw: *mut bindings::file) -> &'a OpenFile<B> {
        // SAFETY: private_data is the `OpenFile<B>` stored by open, alive
        // until release, which cannot run during another file operation.
        unsafe { &*(*raw).private_data.cast::<OpenFile<B>>() }
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file of this device.
    unsafe extern "C" fn read(
        raw: *mut bindings::file,
        buf: *mut c_char,
        count: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `raw` is an open file of this device; used during this call.
        let of = unsafe { Self::open_file(raw) };
        match read(of, UserPtr::from_ptr(buf.cast()), count) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file of this device.
    unsafe extern "C" fn write(
        raw: *mut bindings::file,
        buf: *const c_char,
        count: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `raw` is an open file of this device; used during this call.
        let of = unsafe { Self::open_file(raw) };
        match write(&*of.backend, UserPtr::from_ptr(buf.cast_mut().cast()), count) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file of this device.
    unsafe extern "C" fn ioctl(raw: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: `raw` is an open file of this device; used during this call.
        let of = unsafe { Self::open_file(raw) };
        match ioctl(of, cmd, arg) {
            Ok(v) => v as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file of this device.
    unsafe extern "C" fn poll(
        raw: *mut bindings::file,
        wait: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: `raw` is an open file of this device; used during this call.
        let of = unsafe { Self::open_file(raw) };
        // SAFETY: the file is valid for this call.
        let file = unsafe { File::from_raw_file(raw) };
        // SAFETY: the VFS passes a valid (possibly null) poll table.
        let table = unsafe { PollTable::from_raw(wait) };
        poll(&*of.backend, file, table)
    }
}
