// SPDX-License-Identifier: GPL-2.0
/*
 * xmc_owner: does domain D own machine frame M? (see xmc_helper.h, and
 * docs/page-retirement.md "The owner probe" for what Xen does with it).
 *
 * The module keeps one L1 page-table entry of its own: the entry of a
 * kernel address vmap() gave it for one page of its own. A probe writes a
 * read-only entry for M there with mmu_update, MMU_PT_UPDATE_NO_TRANSLATE
 * and foreigndom = D: Xen accepts it only if D owns M
 * (xen/arch/x86/mm.c get_page_from_l1e), taking one general reference,
 * which the clear right after drops. The address is never accessed while
 * the entry maps a foreign frame (only at load, through the module's own
 * page).
 *
 * Two rules from Xen's source: the entry must be empty before every probe
 * (mod_l1_entry rewrites an entry that already maps the frame without
 * checking the owner), and its machine address must be right (an address in
 * a page that is not a page table gets the value written raw). The address
 * is Linux's own for the entry (arbitrary_virt_to_machine of lookup_address,
 * as drivers/xen/xenbus/xenbus_client.c and __xen_set_pte derive it). Before
 * Xen writes anything, xmc_owner_new checks it without side effects
 * (xmc_owner_entry_ok: Linux's entry maps the page, the entry's page is a
 * page table pinned with Xen, and Xen's M2P maps the machine address back to
 * that page at the same offset); a failure leaves the probe off. Then Xen
 * clears the entry at that machine address once (xmc_owner_check): the read
 * through the address worked before and must fault after, with the entry
 * empty. That second check can only detect a wrong address after Xen wrote
 * there: it WARNs (tainting the kernel) and leaves the probe off.
 */
#include <linux/bug.h>
#include <linux/errno.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/page-flags.h>
#include <linux/pgtable.h>
#include <linux/preempt.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <xen/xen.h>
#include <xen/interface/xen.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/page.h>

#include "xmc_helper.h"

/* What the module's page holds, read back through the entry at load. */
#define XMC_OWNER_MAGIC 0x786d635f6f776e72ULL

/*
 * The probe's entry: present, read-only, accessed, no-execute, write-back,
 * not global (invalidated by address after each clear anyway).
 */
#define XMC_OWNER_PROT __pgprot(__PAGE_KERNEL_RO & ~_PAGE_GLOBAL)

/* Why the probe is off, in one line with what that means. */
#define xmc_owner_off(fmt, ...) \
	pr_err("xen_mcelog: page-owner probe unavailable: " fmt \
	       "; XMC_PAGE_OWNER answers EOPNOTSUPP, the log works\n", ##__VA_ARGS__)

struct xmc_owner {
	struct mutex lock;	/* one probe at a time: there is one entry */
	struct page *page;	/* the module's page, vmap()ed at va */
	void *va;		/* the kernel address of the entry */
	pte_t *ptep;		/* its entry in init_mm's tables */
	u64 pte_maddr;		/* the entry's machine address */
};

static int xmc_owner_write(struct xmc_owner *o, unsigned int cmd, u64 val,
			   domid_t dom)
{
	struct mmu_update u = { .ptr = o->pte_maddr | cmd, .val = val };

	return HYPERVISOR_mmu_update(&u, 1, NULL, dom);
}

/*
 * The address on every CPU dom0 ran on (the kernel's TLB flushes are not
 * exported to modules): MMUEXT_INVLPG_ALL, as xen_flush_tlb_one_user's
 * MMUEXT_INVLPG_LOCAL.
 */
static int xmc_owner_invlpg(struct xmc_owner *o)
{
	struct mmuext_op op = {
		.cmd = MMUEXT_INVLPG_ALL,
		.arg1.linear_addr = (unsigned long)o->va,
	};

	return HYPERVISOR_mmuext_op(&op, 1, NULL, DOMID_SELF);
}

/*
 * Reads through the entry: 0 and the value, or -EFAULT when unmapped (a PV
 * kernel's nofault read of a vmap()ed address, as set_aliased_prot in
 * arch/x86/xen/enlighten_pv.c does).
 */
static int xmc_owner_read(struct xmc_owner *o, u64 *v)
{
	return get_kernel_nofault(*v, (u64 *)o->va) ? -EFAULT : 0;
}

/*
 * Sets pte_maddr and checks it before Xen is asked to write there, without
 * side effects: Linux's entry maps the module's page; the entry lies in the
 * kernel's direct map (so arbitrary_virt_to_machine is virt_to_machine, the
 * P2M lookup), in a page Linux pinned with Xen as a page table
 * (xen_after_bootmem for init_mm's tables from boot, xen_alloc_ptpage for
 * those added since, arch/x86/xen/mmu_pv.c); and pte_maddr is at the
 * entry's offset in a machine frame that Xen's M2P maps back to that page
 * (mfn_to_pfn, which also checks the P2M the other way, asm/xen/page.h).
 */
static bool xmc_owner_entry_ok(struct xmc_owner *o)
{
	pte_t pte = ptep_get(o->ptep);
	struct page *pt;

	if (!pte_present(pte) || pte_mfn(pte) != virt_to_mfn(page_address(o->page))) {
		xmc_owner_off("the entry of %p does not map its page", o->va);
		return false;
	}
	if (!virt_addr_valid(o->ptep)) {
		xmc_owner_off("the entry of %p is outside the kernel's direct map", o->va);
		return false;
	}
	o->pte_maddr = arbitrary_virt_to_machine(o->ptep).maddr;
	pt = virt_to_page(o->ptep);
	if (!PagePinned(pt)) {
		xmc_owner_off("the entry of %p is not in a page table pinned with Xen", o->va);
		return false;
	}
	if (offset_in_page(o->pte_maddr) != offset_in_page(o->ptep) ||
	    mfn_to_pfn(PFN_DOWN(o->pte_maddr)) != page_to_pfn(pt)) {
		xmc_owner_off("Xen's M2P: machine address %#llx is not the entry of %p (pfn %#lx)",
			      o->pte_maddr, o->va, page_to_pfn(pt));
		return false;
	}
	return true;
}

/*
 * Xen clears the entry at pte_maddr; the read through va worked before and
 * faults after (with the address invalidated), and the entry reads empty:
 * pte_maddr is va's entry. Preemption off: one CPU's view throughout. Runs
 * after xmc_owner_entry_ok: what it finds wrong, Xen has already written.
 */
static int xmc_owner_check(struct xmc_owner *o)
{
	u64 v = 0;
	int rc;

	preempt_disable();
	rc = xmc_owner_read(o, &v);
	if (rc || v != XMC_OWNER_MAGIC) {
		xmc_owner_off("its page does not read back (%d, %#llx)", rc, v);
		rc = -EIO;
		goto out;
	}
	rc = xmc_owner_write(o, MMU_NORMAL_PT_UPDATE, 0, DOMID_SELF);
	if (rc) {
		xmc_owner_off("Xen did not clear the entry at machine address %#llx (%d)",
			      o->pte_maddr, rc);
		goto out;
	}
	rc = xmc_owner_invlpg(o);
	if (rc) {
		xmc_owner_off("MMUEXT_INVLPG_ALL failed (%d)", rc);
		goto out;
	}
	if (!pte_none(ptep_get(o->ptep))) {
		/* WARN taints the kernel (TAINT_WARN). */
		WARN(1, "xen_mcelog: page-owner probe unavailable: Xen cleared machine address %#llx, which is not the entry of %p: dom0 memory at that address was overwritten; XMC_PAGE_OWNER answers EOPNOTSUPP\n",
		     o->pte_maddr, o->va);
		rc = -EIO;
	} else if (!xmc_owner_read(o, &v)) {
		xmc_owner_off("%p still reads after its entry was cleared and invalidated",
			      o->va);
		rc = -EIO;
	}
out:
	preempt_enable();
	return rc;
}

void *xmc_owner_new(int *err)
{
	struct xmc_owner *o;
	unsigned int level;
	int rc = -EOPNOTSUPP;

	/* Writing PTEs through mmu_update is a PV domain's interface. */
	if (!xen_pv_domain()) {
		xmc_owner_off("not a Xen PV domain");
		goto fail;
	}
	rc = -ENOMEM;
	o = kzalloc_obj(*o);
	if (!o)
		goto nomem;
	mutex_init(&o->lock);
	o->page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!o->page)
		goto free;
	*(u64 *)page_address(o->page) = XMC_OWNER_MAGIC;
	o->va = vmap(&o->page, 1, VM_MAP, PAGE_KERNEL_RO);
	if (!o->va)
		goto free_page;
	rc = -EIO;
	o->ptep = lookup_address((unsigned long)o->va, &level);
	if (!o->ptep || level != PG_LEVEL_4K) {
		xmc_owner_off("no 4 KiB entry for %p", o->va);
		goto unmap;
	}
	if (!xmc_owner_entry_ok(o))
		goto unmap;
	rc = xmc_owner_check(o);
	if (rc)
		goto unmap;
	return o;

unmap:
	vunmap(o->va);
free_page:
	__free_page(o->page);
free:
	mutex_destroy(&o->lock);
	kfree(o);
nomem:
	if (rc == -ENOMEM)
		xmc_owner_off("out of memory");
fail:
	*err = rc;
	return NULL;
}

int xmc_owner_probe(void *cookie, __u64 mfn, __u16 domid, int *xen_rc)
{
	struct xmc_owner *o = cookie;
	int rc = 0;

	mutex_lock(&o->lock);
	if (!pte_none(ptep_get(o->ptep))) {
		rc = -EIO;
		goto out;
	}
	/* The reference lives only between the two hypercalls. */
	preempt_disable();
	*xen_rc = xmc_owner_write(o, MMU_PT_UPDATE_NO_TRANSLATE,
				  pte_val_ma(mfn_pte(mfn, XMC_OWNER_PROT)), domid);
	if (!*xen_rc) {
		int clear = xmc_owner_write(o, MMU_NORMAL_PT_UPDATE, 0, DOMID_SELF);
		int flush = xmc_owner_invlpg(o);

		if (clear)
			pr_err("xen_mcelog: page-owner probe: clearing the entry for frame %#llx of domain %u failed (%d): no more probes until the module is reloaded\n",
			       mfn, domid, clear);
		/* A stale TLB entry is harmless (docs/page-retirement.md, "TLB"). */
		if (flush)
			pr_err_ratelimited("xen_mcelog: page-owner probe: MMUEXT_INVLPG_ALL after frame %#llx of domain %u failed (%d)\n",
					   mfn, domid, flush);
	} else if (!pte_none(ptep_get(o->ptep))) {
		/* Xen 4.20 never writes on failure; if one did, probes stop. */
		pr_err("xen_mcelog: page-owner probe: Xen refused frame %#llx of domain %u (%d) but the entry is not empty: no more probes until the module is reloaded\n",
		       mfn, domid, *xen_rc);
	}
	preempt_enable();
out:
	mutex_unlock(&o->lock);
	return rc;
}

void xmc_owner_free(void *cookie)
{
	struct xmc_owner *o = cookie;

	if (!o)
		return;
	/*
	 * vunmap clears the entry through Linux if a probe could not. It may
	 * sleep (mm/vmalloc.c: might_sleep, BUG_ON(in_interrupt())): process
	 * context only (src/page_owner.rs, OwnerProbe).
	 */
	vunmap(o->va);
	__free_page(o->page);
	mutex_destroy(&o->lock);
	kfree(o);
}
