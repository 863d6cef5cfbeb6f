/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xmc_helper: the C side of xen_mcelog. Only what Rust cannot reach without
 * copying x86/Xen internals: the static inline hypercalls, the
 * xen_*_domain() macros, the VIRQ binding, the page-owner probe's
 * page-table entry (xmc_owner.c), the firmware's ERST and the tracepoint.
 * Primitive types only; the Rust declarations are generated from this
 * header by bindgen (Kbuild).
 */
#ifndef XMC_HELPER_H
#define XMC_HELPER_H

#include <linux/types.h>

/* What kind of domain we run in (xmc_domain_kind). */
#define XMC_DOM_NATIVE   0 /* no Xen at all */
#define XMC_DOM_DOMU     1 /* a Xen guest that is not the initial domain */
#define XMC_DOM_PVH_DOM0 2 /* initial domain, but not PV: no `mca` hypercall */
#define XMC_DOM_PV_DOM0  3 /* the only kind we serve */

/*
 * Sizes of the Xen ABI structures (checked by static_assert in the C file
 * against Xen's headers, and in Rust against the walker's constants).
 */
#define XMC_MC_INFO_SIZE     768
#define XMC_LOGICAL_CPU_SIZE 304
#define XMC_XEN_MC_SIZE      152

/* sizeof(xen_extraversion_t) (checked against Linux's XEN_EXTRAVERSION_LEN). */
#define XMC_XEN_EXTRAVERSION_LEN 16

/* XEN_MC_fetch output flags (checked against Xen's headers in the C file). */
#define XMC_MC_FETCHFAILED 0x1
#define XMC_MC_NODATA      0x2

int xmc_domain_kind(void);

/*
 * Xen's version: *version gets XENVER_version (major << 16 | minor), extra
 * XENVER_extraversion (XMC_XEN_EXTRAVERSION_LEN bytes, NUL padded: ".4",
 * ".5-pre", "-unstable"). Returns 0, or -errno when Xen answers neither.
 */
int xmc_xen_version(__u32 *version, void *extra);

/* XEN_MC_physcpuinfo, call 1: number of Xen physical CPUs online. */
int xmc_physcpuinfo_count(__u32 *ncpus);
/*
 * XEN_MC_physcpuinfo, call 2: fill buf (capacity * 304 bytes) and return the
 * number of entries written in *ncpus. capacity must be >= the count of call 1.
 */
int xmc_physcpuinfo(void *buf, __u32 capacity, __u32 *ncpus);

/*
 * XEN_MC_fetch without ACK on one queue (urgent != 0: XEN_MC_URGENT, else
 * XEN_MC_NONURGENT). Copies the oldest entry (768 bytes) to buf. Returns the
 * hypercall's return value; *out_flags gets Xen's flags (0 OK,
 * XMC_MC_FETCHFAILED, XMC_MC_NODATA) and *fetch_id the entry's cookie.
 */
int xmc_mc_fetch(int urgent, void *buf, __u64 *fetch_id, __u32 *out_flags);
/* XEN_MC_fetch | XEN_MC_ACK: frees the entry fetch_id at the head of the queue. */
int xmc_mc_ack(int urgent, __u64 fetch_id);

/*
 * Is VIRQ_MCA free? Asks Xen directly with EVTCHNOP_bind_virq and closes the
 * port again: 0 when it was free, -EEXIST when somebody (the built-in
 * CONFIG_XEN_MCE_LOG driver) holds it, another -errno on failure. Never
 * touches Linux's irq bookkeeping, so a running driver is left intact.
 */
int xmc_virq_probe(void);
#ifndef __BINDGEN__
/*
 * Implemented in Rust (src/xen_mcelog_main.rs, an `unsafe extern "C" fn`):
 * schedules the drain work. cookie is the one xmc_virq_bind() was given,
 * valid until xmc_virq_unbind() returned.
 */
void xmc_rust_virq(void *cookie);
#endif

/* bind_virq_to_irqhandler(VIRQ_MCA, 0, ...); returns the irq or -errno. */
int xmc_virq_bind(void *cookie);
void xmc_virq_unbind(int irq, void *cookie);

/*
 * The page-owner probe (src/xmc_owner.c; docs/page-retirement.md, "The owner
 * probe"): does domain domid own machine frame mfn? xmc_owner_new sets up
 * the module's one L1 page-table entry and checks it, returning a cookie for
 * the other two, or NULL with *err = -errno (logged, in one line); a Xen PV
 * domain only. xmc_owner_probe (may sleep) returns 0 with *xen_rc = Xen's
 * mmu_update result (0: mapped, i.e. owned), or -EIO without asking Xen
 * when the entry is not empty. The caller validates mfn and domid
 * (chardev/owner.rs). xmc_owner_free undoes xmc_owner_new (NULL: nothing);
 * it may sleep (vunmap): process context only.
 */
void *xmc_owner_new(int *err);
int xmc_owner_probe(void *cookie, __u64 mfn, __u16 domid, int *xen_rc);
void xmc_owner_free(void *cookie);

/*
 * What Xen says about a record beyond struct mce, kept next to it in the
 * ring. Same layout as the Rust record::XenInfo (32 bytes; both sides assert
 * it). Field meanings: see record/xen.rs.
 */
struct xmc_xen_info {
	__u64 mfn;          /* RECOVERY page_offline.mfn: the machine frame */
	__u64 rec_status;   /* RECOVERY page_offline.status (PG_OFFLINE_*) */
	__u32 xen_cpu;      /* Xen physical CPU (mc_cpunr), not a dom0 vCPU */
	__u32 mc_flags;     /* GLOBAL mc_flags (MC_FLAG_*) */
	__u16 domid;        /* BANK mc_domid: owner of the page at addr */
	__u16 running_domid;/* GLOBAL mc_domid: domain running at detection */
	__u8 addr_space;    /* XMC_ADDR_SPACE_* */
	__u8 rec_types;     /* RECOVERY action_types (MC_ACTION_*), 0 = none */
	__u8 rec_flags;     /* RECOVERY action_flags (REC_ACTION_*) */
	__u8 flags;         /* XMC_XEN_INFO_* */
};

#define XMC_ADDR_SPACE_NONE    0 /* MCi_STATUS.ADDRV clear */
#define XMC_ADDR_SPACE_MACHINE 1 /* machine (host-physical) address */
#define XMC_ADDR_SPACE_GUEST   2 /* guest-physical of domid (vMCE); see mfn */
#define XMC_ADDR_SPACE_UNKNOWN 3 /* written by userspace */

/*
 * The firmware's ERST, for the fatal machine checks Xen saved there before a
 * reset (erst.rs). All but xmc_erst_end return -ENODEV when the kernel or
 * the platform has no (enabled) ERST.
 * xmc_erst_begin: begins a listing of the records' ids at *pos
 * (erst_get_record_id_begin: -EINTR with a signal pending).
 * xmc_erst_next_ids: the next ids of the listing at *pos, up to max, into
 * ids; returns how many (0 once the listing ended) or -errno.
 * xmc_erst_end: ends the listing (once per successful xmc_erst_begin).
 * xmc_erst_read: copies record id into buf when it fits in len bytes;
 * returns its length (also when it does not fit: then nothing is copied),
 * or -errno (-ENOENT: cleared meanwhile).
 * xmc_erst_clear: erases record id.
 */
int xmc_erst_begin(int *pos);
int xmc_erst_next_ids(int *pos, __u64 *ids, __u32 max);
void xmc_erst_end(void);
long xmc_erst_read(__u64 id, void *buf, __u32 len);
int xmc_erst_clear(__u64 id);

/*
 * Fires the xen_mcelog:xen_mce_record tracepoint for one record just stored
 * in the ring: mce points at its 128-byte struct mce image (uapi layout),
 * seq is its ring sequence number. Never calls into the x86 MCE code.
 */
void xmc_trace_record(const void *mce, const struct xmc_xen_info *xen, __u64 seq);
/* Whether the tracepoint has a consumer now (its static key is on). */
bool xmc_trace_enabled(void);
/*
 * Changes whenever the tracepoint gets its first consumer or loses its last:
 * equal before and after a trace call, with the key on at both reads, means
 * the same consumer was there throughout.
 */
unsigned int xmc_trace_epoch(void);
/*
 * The cookie xmc_rust_trace_wanted() gets when the event gets its first
 * consumer; NULL (the initial value) for none. Once
 * xmc_trace_set_cookie(NULL) returned, no callback uses the old cookie.
 */
void xmc_trace_set_cookie(void *cookie);
#ifndef __BINDGEN__
/* The tracepoint's registration callbacks (TRACE_EVENT_FN in xmc_trace.h). */
int xmc_trace_reg(void);
void xmc_trace_unreg(void);
/*
 * Implemented in Rust (src/xen_mcelog_main.rs): schedules the tracing of
 * the previous-boot records not traced yet. Called with a spinlock held.
 */
void xmc_rust_trace_wanted(void *cookie);
#endif

#endif
