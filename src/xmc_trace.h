/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_mcelog:xen_mce_record, one event per machine-check record that
 * xen_mcelog stored in its ring (Xen's telemetry, fetched by dom0).
 *
 * The first fields carry exactly the names and types of mce:mce_record
 * (include/trace/events/mce.h), so tools that read that event by field name
 * (rasdaemon's MCE handler) decode this one unchanged; v_data, the vendor
 * data of AMD SMCA records, is there and empty (Xen collects none). "cpu" is Xen's
 * physical CPU, as struct mce's extcpu is here. Then Xen's own: seq (the
 * ring's sequence number, as the debugfs records view shows it), domid,
 * running_domid, xen_cpu, addr_space, mc_flags, and the recovery entry Xen
 * appended for this bank (rec_types, rec_flags, mfn, rec_status).
 *
 * Out-of-tree trace header: TRACE_INCLUDE_PATH is "." and Kbuild adds
 * -I$(src)/src, so define_trace.h finds this file again. CREATE_TRACE_POINTS
 * is defined in xmc_helper.c only.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM xen_mcelog

#if !defined(_XMC_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _XMC_TRACE_H

#include <linux/tracepoint.h>
#include <asm/mce.h>

#include "xmc_helper.h"

/*
 * xmc_trace_reg() runs when the event gets its first consumer (rasdaemon
 * enabling it in its tracefs instance, or a user), before that consumer is
 * attached: it asks the module to trace, once the event is on, the fatal
 * machine checks of a previous boot that it stored at load (xmc_helper.c).
 */
TRACE_EVENT_FN(xen_mce_record,

	TP_PROTO(const struct mce *m, const struct xmc_xen_info *x, u64 seq),

	TP_ARGS(m, x, seq),

	TP_STRUCT__entry(
		/* mce:mce_record's fields, same names and types */
		__field(u64, mcgcap)
		__field(u64, mcgstatus)
		__field(u64, status)
		__field(u64, addr)
		__field(u64, misc)
		__field(u64, synd)
		__field(u64, ipid)
		__field(u64, ip)
		__field(u64, tsc)
		__field(u64, ppin)
		__field(u64, walltime)
		__field(u32, cpu)
		__field(u32, cpuid)
		__field(u32, apicid)
		__field(u32, socketid)
		__field(u8, cs)
		__field(u8, bank)
		__field(u8, cpuvendor)
		__field(u32, microcode)
		/* mce_record's vendor data (AMD SMCA); Xen collects none */
		__dynamic_array(u8, v_data, 0)
		/* Xen's */
		__field(u64, seq)
		__field(u64, mfn)
		__field(u64, rec_status)
		__field(u32, xen_cpu)
		__field(u32, mc_flags)
		__field(u16, domid)
		__field(u16, running_domid)
		__field(u8, addr_space)
		__field(u8, rec_types)
		__field(u8, rec_flags)
		__field(u8, xen_flags)
	),

	TP_fast_assign(
		__entry->mcgcap		= m->mcgcap;
		__entry->mcgstatus	= m->mcgstatus;
		__entry->status		= m->status;
		__entry->addr		= m->addr;
		__entry->misc		= m->misc;
		__entry->synd		= m->synd;
		__entry->ipid		= m->ipid;
		__entry->ip		= m->ip;
		__entry->tsc		= m->tsc;
		__entry->ppin		= m->ppin;
		__entry->walltime	= m->time;
		__entry->cpu		= m->extcpu;
		__entry->cpuid		= m->cpuid;
		__entry->apicid		= m->apicid;
		__entry->socketid	= m->socketid;
		__entry->cs		= m->cs;
		__entry->bank		= m->bank;
		__entry->cpuvendor	= m->cpuvendor;
		__entry->microcode	= m->microcode;
		__entry->seq		= seq;
		__entry->mfn		= x->mfn;
		__entry->rec_status	= x->rec_status;
		__entry->xen_cpu	= x->xen_cpu;
		__entry->mc_flags	= x->mc_flags;
		__entry->domid		= x->domid;
		__entry->running_domid	= x->running_domid;
		__entry->addr_space	= x->addr_space;
		__entry->rec_types	= x->rec_types;
		__entry->rec_flags	= x->rec_flags;
		__entry->xen_flags	= x->flags;
	),

	TP_printk("CPU: %d, MCGc/s: %llx/%llx, MC%d: %016llx, IPID: %016llx, ADDR: %016llx, MISC: %016llx, SYND: %016llx, RIP: %02x:<%016llx>, TSC: %llx, PPIN: %llx, vendor: %u, CPUID: %x, time: %llu, socket: %u, APIC: %x, microcode: %x, seq: %llu, domid: %u, running_domid: %u, xen_cpu: %u, addr_space: %s, mc_flags: %x, recovery: %x/%x mfn: %llx status: %llx, xen_flags: %x",
		__entry->cpu,
		__entry->mcgcap, __entry->mcgstatus,
		__entry->bank, __entry->status,
		__entry->ipid,
		__entry->addr,
		__entry->misc,
		__entry->synd,
		__entry->cs, __entry->ip,
		__entry->tsc,
		__entry->ppin,
		__entry->cpuvendor,
		__entry->cpuid,
		__entry->walltime,
		__entry->socketid,
		__entry->apicid,
		__entry->microcode,
		__entry->seq,
		__entry->domid,
		__entry->running_domid,
		__entry->xen_cpu,
		__print_symbolic(__entry->addr_space,
				 { XMC_ADDR_SPACE_NONE, "none" },
				 { XMC_ADDR_SPACE_MACHINE, "machine" },
				 { XMC_ADDR_SPACE_GUEST, "guest" },
				 { XMC_ADDR_SPACE_UNKNOWN, "unknown" }),
		__entry->mc_flags,
		__entry->rec_types, __entry->rec_flags,
		__entry->mfn, __entry->rec_status,
		__entry->xen_flags),

	xmc_trace_reg, xmc_trace_unreg
);

#endif /* _XMC_TRACE_H */

/* Outside the guard: define_trace.h re-reads this file. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE xmc_trace
#include <trace/define_trace.h>
