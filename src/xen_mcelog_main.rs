// SPDX-License-Identifier: GPL-2.0

//! xen_mcelog: the Xen dom0 machine-check log.
//!
//! Xen's telemetry queue -> VIRQ_MCA -> the C helper's irq handler ->
//! [`xmc_rust_virq`] -> the drain work item -> `XEN_MC_fetch` -> converter
//! (`mcinfo`) -> ring (`ring`, via `chardev::Log`) -> `XEN_MC_fetch|ACK` ->
//! readers of `/dev/xen_mcelog` (`chardev`).
//!
//! This crate root only wires the parts: module parameters, load and unload,
//! the work items and the VIRQ callback. The parts are: the safe wrappers of
//! the C helper (`hypercall`) and of the workqueue calls the kernel crate
//! lacks (`work`), the pure converter (`record`, `mcinfo`), the
//! pure drain algorithm (`drain`) and its kernel environment (`drain_env`),
//! the fatal machine checks Xen saved in ERST before a reset (`erst`, the
//! pure parser of its records, and `erst_tracker`, their pure bookkeeping;
//! `previous_boot`, their import at load and erasure once delivered), the
//! pure ring (`ring`), the device (`chardev`, with its pure `decisions`),
//! the debug views (`debugfs_views`), Xen's known defects (`xen_version`),
//! the page-owner probe behind `XMC_PAGE_OWNER` (`page_owner`, over the C
//! side's `xmc_owner.c`) and the kernel crate's differences between the
//! kernels built for (`compat`).
//!
//! Where they are: this folder, `src/`, is the kernel crate: this root, the
//! kernel glue (`hypercall`, `work`, `drain_env`, `previous_boot`,
//! `debugfs_views`, `page_owner`, `compat`) and the C helpers
//! (`xmc_helper.c` and `xmc_owner.c`, with their header and the
//! tracepoint's `xmc_trace.h`). The pure parts are included
//! by path from folders of their own, each also a host crate that tests
//! them: `core/` (`record`, `mcinfo`, `drain`, `erst`, `erst_tracker`,
//! `xen_version`; the crate `xmc-core`), `../ring/` (`ring`) and
//! `../chardev/` (`decisions`, beside the device `chardev`, which is kernel
//! code).

use kernel::{
    prelude::*,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
        new_mutex,
        Arc,
        ArcBorrow,
        Mutex, //
    },
    time::msecs_to_jiffies,
    workqueue::{
        impl_has_delayed_work,
        impl_has_work,
        new_delayed_work,
        new_work,
        DelayedWork,
        Work,
        WorkItem, //
    },
};

mod compat;

mod hypercall;

mod work;

// The pure modules below are `pub` for their host crates; the module includes them privately.
#[allow(unreachable_pub)]
#[path = "../ring/ring.rs"]
mod ring;

#[allow(unreachable_pub)]
#[path = "core/record.rs"]
mod record;

#[allow(unreachable_pub)]
#[path = "core/mcinfo.rs"]
mod mcinfo;

#[allow(unreachable_pub)]
#[path = "core/drain.rs"]
mod drain;

#[allow(unreachable_pub)]
#[path = "core/erst.rs"]
mod erst;

#[allow(unreachable_pub)]
#[path = "core/erst_tracker.rs"]
mod erst_tracker;

#[allow(unreachable_pub)]
#[path = "core/xen_version.rs"]
mod xen_version;

mod previous_boot;

mod drain_env;

#[allow(unreachable_pub)]
#[path = "../chardev/decisions.rs"]
mod decisions;

#[path = "../chardev/device.rs"]
mod chardev;

mod debugfs_views;

// Kernel glue too: the page-owner probe behind `XMC_PAGE_OWNER` (its C
// side is `xmc_owner.c`).
mod page_owner;

use chardev::{
    Log,
    RingStorage, //
};
use drain_env::{
    Drainer,
    Next, //
};
use hypercall::{
    TraceWanted,
    VirqBinding, //
};
use record::{
    Mce,
    XenRecord, //
};

module! {
    type: XenMcelog,
    name: "xen_mcelog",
    authors: ["xen_mcelog developers"],
    description: "Xen dom0 machine-check log (/dev/xen_mcelog)",
    license: "GPL",
    params: {
        ring_size: u32 {
            default: 1024,
            description: "Ring capacity in 128-byte records (power of two, 16..=1048576; default 1024)",
        },
        drop_traced: u32 {
            default: 0,
            description: "1: while no file has /dev/xen_mcelog open, a full ring drops the oldest records already traced to a consumer of xen_mcelog:xen_mce_record (rasdaemon alone) instead of leaving Xen's telemetry queued (default 0: keep all)",
        },
        drain_period_ms: u32 {
            default: 5000,
            description: "Period of the safety-net drain of Xen's queues in milliseconds (0 = off; default 5000)",
        },
    },
}

// SAFETY: `Mce` is `#[repr(C)]` with only integer fields and no padding
// (record/mce.rs asserts its size and offsets), so every byte is initialised.
unsafe impl ring::Pod for Mce {}

// SAFETY: `XenRecord` is `#[repr(C)]` of `Mce` (128 bytes, see above) and
// `XenInfo` (32 bytes of integers whose offsets record/xen.rs asserts: no
// padding), and record/xen.rs asserts its size is their sum: every byte is
// an initialised integer byte, and there are no pointers.
unsafe impl ring::Pod for XenRecord {}

/// The telemetry pipeline: what the VIRQ callback, the work items, the
/// device and the debug views share.
#[pin_data]
struct Pipeline {
    #[pin]
    log: Log,
    #[pin]
    drainer: Mutex<Drainer>,
    #[pin]
    kick: Work<Pipeline, 1>,
    #[pin]
    tick: DelayedWork<Pipeline, 2>,
    /// Traces the previous-boot records for a new consumer of the event.
    #[pin]
    retrace: DelayedWork<Pipeline, 3>,
    /// Attempts `retrace` has left to find the event's new consumer
    /// attached (0: none wanted).
    retrace_left: Atomic<u32>,
    period_jiffies: usize,
    /// Set once load can no longer fail, cleared at unload before the work
    /// items are disabled. While clear, a kick queues no drain (a VIRQ or a
    /// read during load must not queue work that would outlive a failed
    /// load), a drain that starts returns at once, and a running drain
    /// stores (and acks) no entry whose store begins after it saw the flag
    /// clear. A check is not a barrier: a kick or a store already past it
    /// completes; at unload, [`Pipeline::stop`] disabling the work items
    /// (cancel, wait) is what ends the drains.
    running: Atomic<bool>,
    /// Previous-boot records from ERST not yet erased there.
    #[pin]
    previous: previous_boot::PreviousBoot,
    /// `XMC_PAGE_OWNER`'s probe; `None` when it could not be set up (the
    /// ioctl answers `EOPNOTSUPP`). Freed with the pipeline, after the
    /// device is gone; its drop may sleep, so the last reference to the
    /// pipeline must go in process context ([`page_owner::OwnerProbe`]).
    owner: Option<page_owner::OwnerProbe>,
}

impl_has_work! {
    impl HasWork<Self, 1> for Pipeline { self.kick }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self, 2> for Pipeline { self.tick }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self, 3> for Pipeline { self.retrace }
}

impl WorkItem<1> for Pipeline {
    type Pointer = Arc<Pipeline>;

    fn run(this: Arc<Pipeline>) {
        this.run_drain();
    }
}

impl WorkItem<2> for Pipeline {
    type Pointer = Arc<Pipeline>;

    fn run(this: Arc<Pipeline>) {
        this.run_drain();
        Pipeline::arm_tick(this);
    }
}

impl WorkItem<3> for Pipeline {
    type Pointer = Arc<Pipeline>;

    fn run(this: Arc<Pipeline>) {
        this.run_retrace();
    }
}

/// How often, and how far apart, `retrace` looks for the event's new
/// consumer: the registration callback runs before the tracing core
/// attaches it, which can wait for an RCU grace period
/// (kernel/tracepoint.c, tracepoint_add_func).
const RETRACE_ATTEMPTS: u32 = 50;
const RETRACE_MS: u32 = 20;

impl Pipeline {
    /// Queues a drain, once the module runs (a no-op before load completed
    /// and once unload began).
    fn kick(this: ArcBorrow<'_, Self>) {
        if !this.running.load(Acquire) {
            return;
        }
        // Err means already queued (that run will see our records too), or
        // disabled by unload.
        let _ = work::system_dfl_queue().enqueue::<Arc<Pipeline>, 1>(this.into());
    }

    /// Queues the periodic safety-net drain, unless it is off
    /// (`drain_period_ms=0`); a no-op once unload disabled it.
    fn arm_tick(this: Arc<Self>) {
        if this.period_jiffies == 0 {
            return;
        }
        let period = this.period_jiffies;
        let _ = work::system_dfl_queue().enqueue_delayed::<Arc<Pipeline>, 2>(this, period);
    }

    /// The event got its first consumer: trace the previous-boot records
    /// for it once it is attached (`retrace`).
    fn retrace(this: ArcBorrow<'_, Self>) {
        this.retrace_left.store(RETRACE_ATTEMPTS, Relaxed);
        if !this.running.load(Acquire) {
            // Load has not finished: it queues the retrace once running.
            return;
        }
        let _ = work::system_dfl_queue().enqueue_delayed::<Arc<Pipeline>, 3>(this.into(), 0);
    }

    fn run_retrace(self: Arc<Self>) {
        if !self.running.load(Acquire) {
            return;
        }
        // The previous-boot records first (the oldest), then what the drain
        // stored while the event had no consumer. One lock after the other.
        if self.previous.trace_untraced() && self.drainer.lock().retrace(&self.log) {
            self.retrace_left.store(0, Relaxed);
            self.previous.erase_taken(&self.log);
            // What is delivered now may make room in a full log that
            // nobody has open: a drain waiting for space tries again.
            if self.log.drain_waiting() {
                Pipeline::kick(self.as_arc_borrow());
            }
            return;
        }
        // Not attached yet: look again shortly, a bounded number of times
        // (the periodic drain looks too).
        let left = self.retrace_left.load(Relaxed);
        if left > 1 {
            self.retrace_left.store(left - 1, Relaxed);
            let delay = msecs_to_jiffies(RETRACE_MS) as usize;
            let _ = work::system_dfl_queue().enqueue_delayed::<Arc<Pipeline>, 3>(self, delay);
        }
    }

    fn run_drain(self: &Arc<Self>) {
        if !self.running.load(Acquire) {
            return;
        }
        self.previous.trace_untraced();
        self.previous.erase_taken(&self.log);
        let settled = self.previous.settled_end();
        let next = self.drainer.lock().run(&self.log, &self.running, settled);
        if let Next::Again = next {
            Pipeline::kick(self.as_arc_borrow());
        }
    }
}

impl chardev::Backend for Pipeline {
    fn log(&self) -> &Log {
        &self.log
    }

    fn kick_drain(this: ArcBorrow<'_, Self>) {
        Pipeline::kick(this);
    }

    fn taken(this: ArcBorrow<'_, Self>) {
        // The drain work erases what was taken (erst_clear sleeps, and may
        // take long on real firmware: not in the reader's read()).
        if this.previous.outstanding() {
            Pipeline::kick(this);
        }
    }

    fn stats(&self, s: &mut decisions::stats::DeviceStats) {
        // One lock after the other, never nested.
        self.drainer.lock().stats_into(s);
        let p = self.previous.counts();
        s.previous_boot_imported = p.imported;
        s.previous_boot_pending = p.pending;
        s.previous_boot_erased = p.erased;
        s.previous_boot_given_up = p.given_up;
    }

    fn page_owner(
        &self,
        q: decisions::owner::Query,
    ) -> core::result::Result<i32, decisions::Errno> {
        self.owner
            .as_ref()
            .ok_or(decisions::Errno::Eopnotsupp)?
            .ask(q)
    }
}

/// Called by the C helper's VIRQ_MCA handler, in hard-irq context: only
/// schedules the drain.
///
/// # Safety
///
/// `cookie` is the pointer given to [`VirqBinding::bind`]: `Arc::as_ptr` of
/// the module's `Arc<Pipeline>`, which the module holds until the binding is
/// dropped (unbind waits for a running handler).
#[no_mangle]
unsafe extern "C" fn xmc_rust_virq(cookie: *mut c_void) {
    // SAFETY: `cookie` points to a live `Pipeline` owned by an `Arc`
    // (function contract).
    let pipeline = unsafe { ArcBorrow::<Pipeline>::from_raw(cookie.cast::<Pipeline>().cast_const()) };
    Pipeline::kick(pipeline);
}

/// Called by the C helper when `xen_mcelog:xen_mce_record` gets its first
/// consumer (with the helper's lock held): only schedules the tracing of
/// the previous-boot records.
///
/// # Safety
///
/// `cookie` is the pointer given to [`TraceWanted::arm`]: `Arc::as_ptr` of
/// the module's `Arc<Pipeline>`, which the module holds until the
/// `TraceWanted` is dropped (which waits for a callback in progress).
#[no_mangle]
unsafe extern "C" fn xmc_rust_trace_wanted(cookie: *mut c_void) {
    // SAFETY: `cookie` points to a live `Pipeline` owned by an `Arc`
    // (function contract).
    let pipeline = unsafe { ArcBorrow::<Pipeline>::from_raw(cookie.cast::<Pipeline>().cast_const()) };
    Pipeline::retrace(pipeline);
}

/// The loaded module. Fields drop in this order: the device and the debug
/// views go first (nothing can reach the pipeline through them any more),
/// then the tracepoint callback is disarmed and VIRQ_MCA is unbound, then
/// the pipeline is released.
#[pin_data(PinnedDrop)]
struct XenMcelog {
    #[pin]
    dev: chardev::Registration<Pipeline>,
    #[pin]
    views: debugfs_views::Views,
    trace_wanted: TraceWanted,
    virq: VirqBinding,
    pipeline: Arc<Pipeline>,
}

impl XenMcelog {
    fn new_pipeline(cpus: KVVec<mcinfo::LogicalCpu>) -> Result<Arc<Pipeline>> {
        let size: u32 = compat::param(module_parameters::ring_size.value());
        if !(16..=1 << 20).contains(&size) || !size.is_power_of_two() {
            pr_err!("not loading: ring_size={size} must be a power of two in 16..=1048576\n");
            return Err(EINVAL);
        }
        // Up to 2^20 slots of 192 bytes: kvmalloc (vmalloc beyond kmalloc's limit).
        let mut slots = RingStorage::with_capacity(size as usize, GFP_KERNEL)?;
        for _ in 0..size {
            slots.push(ring::Slot::new(), GFP_KERNEL)?;
        }
        let period_ms: u32 = compat::param(module_parameters::drain_period_ms.value());
        let drop_traced: u32 = compat::param(module_parameters::drop_traced.value());
        if drop_traced > 1 {
            pr_err!("not loading: drop_traced={drop_traced} must be 0 or 1\n");
            return Err(EINVAL);
        }
        let drainer = Drainer::new(cpus, drop_traced == 1)?;
        // Not a reason to refuse the load: the log works without it.
        // `xmc_owner_new` said why, in one line (`page-owner probe
        // unavailable: ...`).
        let owner = page_owner::OwnerProbe::new().ok();
        Arc::pin_init(
            try_pin_init!(Pipeline {
                log <- Log::new(slots)?,
                drainer <- new_mutex!(drainer, "xen_mcelog::drain"),
                kick <- new_work!("xen_mcelog::kick"),
                tick <- new_delayed_work!("xen_mcelog::tick"),
                retrace <- new_delayed_work!("xen_mcelog::retrace"),
                retrace_left: Atomic::new(0),
                period_jiffies: msecs_to_jiffies(period_ms) as usize,
                running: Atomic::new(false),
                previous <- previous_boot::PreviousBoot::new(),
                owner,
            }),
            GFP_KERNEL,
        )
    }
}

impl kernel::InPlaceModule for XenMcelog {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // Every step that can fail comes before the device and the debug
        // views exist, so no open file can hold the module when init fails;
        // the drains start only once nothing can fail any more.
        try_pin_init!(Self {
            pipeline: {
                hypercall::require_pv_dom0()?;
                let cpus = hypercall::read_physcpuinfo().inspect_err(|e| {
                    pr_err!("not loading: XEN_MC_physcpuinfo failed ({})\n", e.to_errno());
                })?;
                hypercall::require_virq_free()?;
                pr_info!("Xen reports {} physical CPUs (XEN_MC_physcpuinfo)\n", cpus.len());
                let pipeline = Self::new_pipeline(cpus)?;
                // The fatal machine checks Xen saved before the last reset:
                // stored before the device exists, so they are its first
                // records.
                pipeline
                    .previous
                    .import(&pipeline.log, pipeline.drainer.lock().cpus());
                pipeline
            },
            // SAFETY: the cookie stays valid until `virq` is dropped: the
            // module owns `pipeline`, which drops after `virq`.
            virq: unsafe { VirqBinding::bind(Arc::as_ptr(pipeline).cast_mut().cast()) }
                .inspect_err(|e| {
                    pr_err!("not loading: binding VIRQ_MCA failed ({})\n", e.to_errno());
                })?,
            // SAFETY: the cookie stays valid until `trace_wanted` is
            // dropped: the module owns `pipeline`, which drops after it.
            trace_wanted: unsafe { TraceWanted::arm(Arc::as_ptr(pipeline).cast_mut().cast()) },
            dev <- chardev::Registration::register(c"xen_mcelog", module, pipeline.clone()),
            views <- debugfs_views::Views::new(module, pipeline),
        })
        .pin_chain(|this| {
            let pipeline = &this.pipeline;
            // Xen releases with known machine-check defects (xen_version.rs;
            // its types implement core's Display, which the kernel's fmt!
            // takes through `format_args!`).
            if let Some(xen) = hypercall::xen_version() {
                pr_info!("running on Xen {}\n", format_args!("{xen}"));
                let cpu = xen_version::BootCpu::of(pipeline.drainer.lock().cpus());
                for w in xen_version::warnings(xen, cpu) {
                    pr_warn!("{}\n", format_args!("{w}"));
                }
            }
            // Records may be queued since boot (Xen does not signal them
            // again): drain now, then every drain_period_ms.
            pipeline.running.store(true, Release);
            Pipeline::kick(pipeline.as_arc_borrow());
            // A consumer of the event that came during load: its callback
            // could not queue the retrace yet.
            if pipeline.retrace_left.load(Relaxed) != 0 {
                Pipeline::retrace(pipeline.as_arc_borrow());
            }
            Pipeline::arm_tick(pipeline.clone());
            pr_info!(
                "ready: /dev/xen_mcelog, ring of {} records, VIRQ_MCA on irq {}\n",
                pipeline.log.ring().capacity(),
                this.virq.irq()
            );
            Ok(())
        })
    }
}

impl Pipeline {
    /// Stops the drains for good: nothing can queue or arm them after this
    /// returns, and no drain stores or acks anything any more.
    fn stop(self: &Arc<Self>) {
        self.running.store(false, Release);
        work::disable_sync(self, &self.tick);
        work::disable_sync(self, &self.retrace);
        work::disable_sync(self, &self.kick);
    }
}

#[pinned_drop]
impl PinnedDrop for XenMcelog {
    fn drop(self: Pin<&mut Self>) {
        let pipeline = &self.pipeline;
        pipeline.stop();
        pipeline.previous.unload(&pipeline.log);
        let st = pipeline.drainer.lock().state.stats;
        pr_info!(
            "unloaded: fetched {}+{}, stored {}, acked {}+{}, backpressure {}, malformed {}\n",
            st.fetched[0],
            st.fetched[1],
            st.stored,
            st.acked[0],
            st.acked[1],
            st.backpressure,
            st.malformed
        );
        // Records still in the ring were acked to Xen and never read: say
        // how many are lost, never silently.
        let left = pipeline.log.ring().len();
        if left != 0 {
            pr_warn!("unloaded with {left} unread records in the ring: they are lost\n");
        }
    }
}
