/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xmc_helper: the C side of xen_mcelog. Only what Rust cannot reach without
 * copying x86/Xen internals: the static inline hypercalls, the
 * xen_*_domain() macros and the VIRQ binding. Primitive types only; the
 * Rust declarations are generated from this header by bindgen (Kbuild).
 */
#ifndef XMC_HELPER_H
#define XMC_HELPER_H

#include <linux/types.h>

/* What kind of domain we run in (xmc_domain_kind). */
#define XMC_DOM_NATIVE   0 /* no Xen at all */
#define XMC_DOM_DOMU     1 /* a Xen guest that is not the initial domain */
#define XMC_DOM_PVH_DOM0 2 /* initial domain, but not PV: no `mca` hypercall */
#define XMC_DOM_PV_DOM0  3 /* the only kind we serve */

/* Sizes of the Xen ABI structures (checked by static_assert in the C file). */
#define XMC_MC_INFO_SIZE     768
#define XMC_LOGICAL_CPU_SIZE 304

int xmc_domain_kind(void);

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
 * hypercall's return value; *out_flags gets Xen's flags (0 OK, 1 FETCHFAILED,
 * 2 NODATA) and *fetch_id the entry's cookie.
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
/* bind_virq_to_irqhandler(VIRQ_MCA, 0, ...); returns the irq or -errno. */
int xmc_virq_bind(void *cookie);
void xmc_virq_unbind(int irq, void *cookie);

#endif
