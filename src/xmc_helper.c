// SPDX-License-Identifier: GPL-2.0
/*
 * xmc_helper: hypercalls and VIRQ binding for xen_mcelog (see xmc_helper.h).
 * The interrupt handler only calls back into Rust, which schedules the work.
 */
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/interrupt.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include <acpi/apei.h>
#include <linux/cper.h>

#include <xen/xen.h>
#include <xen/events.h>
#include <xen/interface/xen.h>
#include <xen/interface/event_channel.h>
#include <xen/interface/version.h>
#include <xen/interface/xen-mca.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/hypervisor.h>

#include "xmc_helper.h"

/* The tracepoint is defined here, and only here. */
#define CREATE_TRACE_POINTS
#include "xmc_trace.h"

static_assert(sizeof(struct mc_info) == XMC_MC_INFO_SIZE);
static_assert(sizeof(struct mcinfo_logical_cpu) == XMC_LOGICAL_CPU_SIZE);
static_assert(sizeof(struct xen_mc) == XMC_XEN_MC_SIZE);
static_assert(XMC_XEN_EXTRAVERSION_LEN == XEN_EXTRAVERSION_LEN);
static_assert(XMC_MC_FETCHFAILED == XEN_MC_FETCHFAILED);
static_assert(XMC_MC_NODATA == XEN_MC_NODATA);
/* The record handed to the tracepoint is the Rust record::Mce: uapi layout. */
static_assert(sizeof(struct mce) == 128);
static_assert(offsetof(struct mce, cpuvendor) == 56);
static_assert(offsetof(struct mce, cpuid) == 60);
static_assert(offsetof(struct mce, cs) == 64);
static_assert(offsetof(struct mce, extcpu) == 68);
static_assert(offsetof(struct mce, mcgcap) == 80);
static_assert(offsetof(struct mce, ppin) == 104);
static_assert(offsetof(struct mce, microcode) == 112);
static_assert(offsetof(struct mce, kflags) == 120);
/* And record::XenInfo. */
static_assert(sizeof(struct xmc_xen_info) == 32);
static_assert(offsetof(struct xmc_xen_info, xen_cpu) == 16);
static_assert(offsetof(struct xmc_xen_info, domid) == 24);
static_assert(offsetof(struct xmc_xen_info, flags) == 31);

int xmc_domain_kind(void)
{
	if (!xen_domain())
		return XMC_DOM_NATIVE;
	if (!xen_initial_domain())
		return XMC_DOM_DOMU;
	if (!xen_pv_domain())
		return XMC_DOM_PVH_DOM0;
	return XMC_DOM_PV_DOM0;
}

int xmc_xen_version(__u32 *version, void *extra)
{
	struct xen_extraversion ev;
	int ret;

	/* XENVER_version returns the version itself, never 0 from a real Xen. */
	ret = HYPERVISOR_xen_version(XENVER_version, NULL);
	if (ret <= 0)
		return ret ? ret : -ENODEV;
	*version = ret;
	memset(&ev, 0, sizeof(ev));
	ret = HYPERVISOR_xen_version(XENVER_extraversion, &ev);
	if (ret)
		return ret;
	memcpy(extra, ev.extraversion, XMC_XEN_EXTRAVERSION_LEN);
	return 0;
}

/* HYPERVISOR_mca() stamps XEN_MCA_INTERFACE_VERSION before every call. */
int xmc_physcpuinfo_count(__u32 *ncpus)
{
	struct xen_mc mc;
	int ret;

	memset(&mc, 0, sizeof(mc));
	mc.cmd = XEN_MC_physcpuinfo;
	set_xen_guest_handle(mc.u.mc_physcpuinfo.info, NULL);
	ret = HYPERVISOR_mca(&mc);
	if (!ret)
		*ncpus = mc.u.mc_physcpuinfo.ncpus;
	return ret;
}

int xmc_physcpuinfo(void *buf, __u32 capacity, __u32 *ncpus)
{
	struct xen_mc mc;
	int ret;

	if (!capacity)
		return -EINVAL;
	memset(&mc, 0, sizeof(mc));
	mc.cmd = XEN_MC_physcpuinfo;
	mc.u.mc_physcpuinfo.ncpus = capacity;
	set_xen_guest_handle(mc.u.mc_physcpuinfo.info, buf);
	ret = HYPERVISOR_mca(&mc);
	if (!ret)
		*ncpus = min(mc.u.mc_physcpuinfo.ncpus, capacity);
	return ret;
}

int xmc_mc_fetch(int urgent, void *buf, __u64 *fetch_id, __u32 *out_flags)
{
	struct xen_mc mc;
	int ret;

	memset(&mc, 0, sizeof(mc));
	mc.cmd = XEN_MC_fetch;
	mc.u.mc_fetch.flags = urgent ? XEN_MC_URGENT : XEN_MC_NONURGENT;
	set_xen_guest_handle(mc.u.mc_fetch.data, buf);
	ret = HYPERVISOR_mca(&mc);
	*out_flags = mc.u.mc_fetch.flags;
	*fetch_id = mc.u.mc_fetch.fetch_id;
	return ret;
}

int xmc_mc_ack(int urgent, __u64 fetch_id)
{
	struct xen_mc mc;

	memset(&mc, 0, sizeof(mc));
	mc.cmd = XEN_MC_fetch;
	mc.u.mc_fetch.flags = (urgent ? XEN_MC_URGENT : XEN_MC_NONURGENT) | XEN_MC_ACK;
	mc.u.mc_fetch.fetch_id = fetch_id;
	return HYPERVISOR_mca(&mc);
}

int xmc_virq_probe(void)
{
	struct evtchn_bind_virq bind = { .virq = VIRQ_MCA, .vcpu = 0 };
	struct evtchn_close close;
	int ret;

	ret = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bind);
	if (ret)
		return ret;
	close.port = bind.port;
	ret = HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
	return ret ? ret : 0;
}

static irqreturn_t xmc_virq_handler(int irq, void *cookie)
{
	xmc_rust_virq(cookie);
	return IRQ_HANDLED;
}

int xmc_virq_bind(void *cookie)
{
	return bind_virq_to_irqhandler(VIRQ_MCA, 0, xmc_virq_handler, 0,
				       "xen_mcelog", cookie);
}

void xmc_virq_unbind(int irq, void *cookie)
{
	unbind_from_irqhandler(irq, cookie);
}

void xmc_trace_record(const void *mce, const struct xmc_xen_info *xen, __u64 seq)
{
	trace_xen_mce_record(mce, xen, seq);
}

bool xmc_trace_enabled(void)
{
	return trace_xen_mce_record_enabled();
}

/*
 * Bumped when the event gets its first consumer and when it loses its last
 * (xmc_trace_reg/unreg, under tracepoints_mutex, before the static key is
 * switched). A trace call between two reads of the same value with the key
 * on at both ends reached the consumer that was there all along: a consumer
 * leaving and another coming during the call changes it.
 */
static atomic_t xmc_trace_changes = ATOMIC_INIT(0);

unsigned int xmc_trace_epoch(void)
{
	unsigned int e;

	/* After the caller's look at the key; pairs with xmc_trace_reg/unreg. */
	smp_rmb();
	e = atomic_read(&xmc_trace_changes);
	/* Before the caller's next look at the key. */
	smp_rmb();
	return e;
}

/* Protects xmc_trace_cookie against the module's load and unload. */
static DEFINE_SPINLOCK(xmc_trace_lock);
static void *xmc_trace_cookie;

void xmc_trace_set_cookie(void *cookie)
{
	spin_lock(&xmc_trace_lock);
	xmc_trace_cookie = cookie;
	spin_unlock(&xmc_trace_lock);
}

/*
 * Called by the tracing core (tracepoint_add_func(), under
 * tracepoints_mutex) before the first probe is attached. Enabling the
 * event in tracefs takes no reference to the module, so this can run while
 * the module loads or unloads (until the GOING notifier removes the
 * event): the cookie is set only once the pipeline exists and cleared,
 * under the lock, before it goes, and the pipeline's work items are
 * disabled before that.
 */
int xmc_trace_reg(void)
{
	atomic_inc(&xmc_trace_changes);
	/* The bump is visible before the static key switches. */
	smp_mb__after_atomic();
	spin_lock(&xmc_trace_lock);
	if (xmc_trace_cookie)
		xmc_rust_trace_wanted(xmc_trace_cookie);
	spin_unlock(&xmc_trace_lock);
	return 0;
}

void xmc_trace_unreg(void)
{
	atomic_inc(&xmc_trace_changes);
	/* The bump is visible before the static key switches. */
	smp_mb__after_atomic();
}

#if IS_ENABLED(CONFIG_ACPI_APEI)
/*
 * A listing holds a reference on Linux's ERST id cache from begin to end
 * (drivers/acpi/apei/erst.c): the cache is compacted only when none is
 * held, so *pos stays valid between xmc_erst_next_ids() calls, and each id
 * is listed once. Linux lists at most ERST_RECORD_ID_CACHE_SIZE_MAX ids.
 */
int xmc_erst_begin(int *pos)
{
	if (erst_disable)
		return -ENODEV;
	return erst_get_record_id_begin(pos);
}

int xmc_erst_next_ids(int *pos, __u64 *ids, __u32 max)
{
	u32 n = 0;
	u64 id;
	int rc;

	max = min_t(u32, max, INT_MAX);
	/* erst_get_record_id_next() BUG()s on a listing that ended (*pos < 0). */
	while (n < max && *pos >= 0) {
		rc = erst_get_record_id_next(pos, &id);
		if (rc)
			return n ? n : rc;
		if (id == APEI_ERST_INVALID_RECORD_ID)
			break;
		ids[n++] = id;
	}
	return n;
}

void xmc_erst_end(void)
{
	erst_get_record_id_end();
}

long xmc_erst_read(__u64 id, void *buf, __u32 len)
{
	if (erst_disable)
		return -ENODEV;
	if (len < sizeof(struct cper_record_header))
		return -EINVAL;
	return erst_read(id, buf, len);
}

int xmc_erst_clear(__u64 id)
{
	if (erst_disable)
		return -ENODEV;
	return erst_clear(id);
}
#else
int xmc_erst_begin(int *pos)
{
	return -ENODEV;
}

int xmc_erst_next_ids(int *pos, __u64 *ids, __u32 max)
{
	return -ENODEV;
}

void xmc_erst_end(void)
{
}

long xmc_erst_read(__u64 id, void *buf, __u32 len)
{
	return -ENODEV;
}

int xmc_erst_clear(__u64 id)
{
	return -ENODEV;
}
#endif
