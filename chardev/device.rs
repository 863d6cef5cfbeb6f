// SPDX-License-Identifier: GPL-2.0

//! `/dev/xen_mcelog`: the misc device and its `file_operations`.
//!
//! The kernel crate's `miscdevice` never sets `fops.owner` (rmmod while the
//! node is open would be a use-after-free) and has no `poll`, so the device
//! has its own `file_operations`. In binder's style, each `extern "C"`
//! trampoline only turns raw pointers into the kernel crate's safe types and
//! calls safe code; every decision (buffer sizes, errnos, O_EXCL, flags) is in
//! the pure `semantics` module, which the host tests.

use crate::{
    record::{
        Mce,
        XenRecord,
        RECORD_LEN, //
    },
    ring::{
        Ring,
        Slot, //
    },
    semantics::{
        self,
        Errno,
        Flags,
        OpenGate, //
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

/// The ring of records (each the 128-byte mcelog record plus Xen's side
/// facts, of which readers get only the former), in storage the module
/// allocates at load.
pub(crate) type McelogRing = Ring<XenRecord, KVec<Slot<XenRecord>>>;

/// Converts a pure-logic errno into a kernel error.
fn kerr(e: Errno) -> Error {
    Error::from_errno(e.as_neg())
}

/// The log the device serves: the ring, the overflow flags, the open gate
/// and the wait queue of pollers.
#[pin_data]
pub(crate) struct Log {
    ring: McelogRing,
    flags: Flags,
    gate: OpenGate,
    #[pin]
    readers: PollCondVar,
}

impl Log {
    /// A log over `storage` (its length is the capacity: a power of two).
    pub(crate) fn new(storage: KVec<Slot<XenRecord>>) -> Result<impl PinInit<Self, Error>> {
        let ring = Ring::new(storage).map_err(|_| EINVAL)?;
        Ok(try_pin_init!(Self {
            ring,
            flags: Flags::new(),
            gate: OpenGate::new(),
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
}

/// What the device needs from the rest of the module.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The log this device serves.
    fn log(&self) -> &Log;
    /// A read freed space in the ring: resume a drain that stopped for room.
    fn space_freed(this: ArcBorrow<'_, Self>);
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
        try_pin_init!(&this in Self {
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
                to_result(unsafe { bindings::misc_register(slot) })
            }),
            backend,
        })
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
    backend.log().gate.try_open(exclusive).map_err(kerr)
}

/// Per open file: the backend, and whether this open was the O_EXCL one.
struct OpenFile<B> {
    backend: Arc<B>,
    exclusive: bool,
}

/// Reads whole records, oldest first; 0 at once when empty (never blocks).
fn read<B: Backend>(backend: ArcBorrow<'_, B>, buf: UserPtr, count: usize) -> Result<usize> {
    let log = backend.log();
    let want = semantics::read_plan(count, RECORD_LEN, log.ring.len()).map_err(kerr)?;
    let mut w = UserSlice::new(buf, count).writer();
    let mut done = 0usize;
    while done < want {
        let Some((_seq, rec)) = log.ring.try_pop() else { break };
        if let Err(e) = w.write_slice(&rec.mce.to_bytes()) {
            // Never lose a record to a bad user buffer: put it back (at the tail).
            if log.ring.try_push(rec).is_err() {
                log.flags.set_overflow();
            }
            if done == 0 {
                return Err(e);
            }
            break;
        }
        done += 1;
    }
    if done > 0 {
        B::space_freed(backend);
    }
    Ok(done * RECORD_LEN)
}

/// Injects whole records (CAP_SYS_ADMIN), all or nothing.
fn write<B: Backend>(backend: &B, buf: UserPtr, count: usize) -> Result<usize> {
    let n = semantics::write_plan(count, RECORD_LEN, is_admin()).map_err(kerr)?;
    // More than the whole ring can never fit: refuse before allocating.
    semantics::write_fits(n, backend.log().ring.capacity()).map_err(kerr)?;
    let mut r = UserSlice::new(buf, count).reader();
    let mut recs = KVec::with_capacity(n, GFP_KERNEL)?;
    let mut raw = [0u8; RECORD_LEN];
    for _ in 0..n {
        r.read_slice(&mut raw)?;
        let mut rec = Mce::from_bytes(&raw);
        rec.mark_injected();
        recs.push(XenRecord::user(rec), GFP_KERNEL)?;
    }
    if backend.log().store_all(&recs).is_none() {
        return Err(kerr(Errno::Enospc));
    }
    Ok(count)
}

fn ioctl<B: Backend>(backend: &B, cmd: u32, arg: usize) -> Result<isize> {
    let log = backend.log();
    let op = semantics::decode_ioctl(cmd, is_admin()).map_err(kerr)?;
    let log_len = u32::try_from(log.ring.capacity()).unwrap_or(u32::MAX);
    let value = semantics::ioctl_value(op, RECORD_LEN as u32, log_len, &log.flags);
    UserSlice::new(UserPtr::from_addr(arg), 4).writer().write(&value)?;
    Ok(0)
}

fn poll<B: Backend>(backend: &B, file: &File, table: PollTable<'_>) -> u32 {
    let log = backend.log();
    table.register_wait(file, &log.readers);
    semantics::poll_mask(!log.ring.is_empty())
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
        };
        let of = match KBox::new(of, GFP_KERNEL) {
            Ok(of) => of,
            Err(_) => {
                reg.backend.log().gate.release(exclusive);
                return ENOMEM.to_errno();
            }
        };
        // SAFETY: valid inode and file being opened.
        let ret = unsafe { bindings::nonseekable_open(inode, raw) };
        if ret != 0 {
            reg.backend.log().gate.release(exclusive);
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
        of.backend.log().gate.release(of.exclusive);
        0
    }

    /// # Safety
    ///
    /// `raw` is an open file of this device.
    unsafe fn backend<'a>(raw: *mut bindings::file) -> ArcBorrow<'a, B> {
        // SAFETY: private_data is the `OpenFile<B>` stored by open, alive
        // until release, which cannot run during another file operation.
        let of = unsafe { &*(*raw).private_data.cast::<OpenFile<B>>() };
        of.backend.as_arc_borrow()
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
        // SAFETY: `raw` is an open file of this device.
        let b = unsafe { Self::backend(raw) };
        match read(b, UserPtr::from_ptr(buf.cast()), count) {
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
        // SAFETY: `raw` is an open file of this device.
        let b = unsafe { Self::backend(raw) };
        match write(&*b, UserPtr::from_ptr(buf.cast_mut().cast()), count) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file of this device.
    unsafe extern "C" fn ioctl(raw: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: `raw` is an open file of this device.
        let b = unsafe { Self::backend(raw) };
        match ioctl(&*b, cmd, arg) {
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
        // SAFETY: `raw` is an open file of this device.
        let b = unsafe { Self::backend(raw) };
        // SAFETY: the file is valid for this call.
        let file = unsafe { File::from_raw_file(raw) };
        // SAFETY: the VFS passes a valid (possibly null) poll table.
        let table = unsafe { PollTable::from_raw(wait) };
        poll(&*b, file, table)
    }
}
