// SPDX-License-Identifier: MIT
/*
 * Host sync, after UML's arch/um/kernel/tlb.c: walk the marked ptes and turn
 * each into a host operation; the host queue merges neighbours, so a run of
 * pages with contiguous frames and one protection costs one host call.
 *
 * The zero page is mapped as host anonymous memory (read-only), not as frame
 * 0 of the file: a run of zero pages then merges into one host VMA instead
 * of one per page.
 */
#include "arch/tlb.h"

struct update_arg {
	struct host_as *as;
	unsigned int op_flags;
};

static int update_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	struct update_arg *u = arg;
	unsigned int i;

	for (i = 0; i < nr; i++, va += PAGE_SIZE) {
		pte_t pte = ptes[i];
		int prot;

		if (!pte_changed(pte))
			continue;
		ptes[i] = pte & ~_PAGE_CHG_BITS;
		prot = pte_host_prot(pte);
		if (prot == PROT_NONE)
			host_as_queue(u->as, HOST_OP_UNMAP, va, PAGE_SIZE, 0, 0,
				      0);
		else if (pte_special(pte) && pte_pfn(pte) == PHYS_ZERO_PFN)
			host_as_queue(u->as, HOST_OP_MAP_ZERO, va, PAGE_SIZE, 0,
				      prot & ~PROT_WRITE, u->op_flags);
		else
			host_as_queue(u->as, HOST_OP_MAP, va, PAGE_SIZE,
				      (uint64_t)pte_pfn(pte) << PAGE_SHIFT,
				      prot, u->op_flags);
	}
	return 0;
}

void tlb_update_range(struct pgtable *pt, struct host_as *as, uint64_t start,
		      uint64_t end, unsigned int flags)
{
	struct update_arg u = {
		.as = as,
		.op_flags = (flags & TLB_POPULATE) ? HOST_OP_POPULATE : 0,
	};

	pgtable_walk(pt, start, end, false, update_ptes, &u);
}

void tlb_zap_range(struct host_as *as, uint64_t start, uint64_t end)
{
	if (start < end)
		host_as_queue(as, HOST_OP_UNMAP, start, end - start, 0, 0, 0);
}

void tlb_sync(struct host_as *as)
{
	host_as_flush(as);
}
