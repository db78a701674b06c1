// SPDX-License-Identifier: MIT
/*
 * Host sync, after UML's arch/um/kernel/tlb.c: walk the marked ptes and turn
 * each into a host operation; the host queue merges neighbours, so a run of
 * pages with contiguous frames and one protection costs one host call.
 *
 * The zero page is mapped as host anonymous memory (read-only), not as frame
 * 0 of the file: a run of zero pages then merges into one host VMA instead
 * of one per page.
 *
 * A pte whose protection alone changed, and whose frame the host holds
 * (_PAGE_HOST), becomes an mprotect rather than a new mapping: cheaper, and
 * the host keeps its page tables (fork write-protects the parent this way).
 * An eviction (of some mappings, least recently filled first) or a reset
 * (of all) drops host mappings without the page tables knowing, so
 * _PAGE_HOST is only trusted at the reset generation it was set in, which
 * either bumps; at another, every _PAGE_HOST bit becomes _PAGE_MAYHOST
 * first (the page may not have been evicted, or the host may have mapped
 * it again after the eviction, in the same flush).
 */
#include "arch/softtlb.h"
#include "arch/tlb.h"

struct update_arg {
	struct pgtable *pt;
	struct host_as *as;
	struct host_batch *batch; /* NULL: the space's own queue */
	unsigned int op_flags;
	bool protect; /* may use HOST_OP_PROTECT */
	bool shot; /* a software TLB entry went */
	uint32_t gen;
	/* A run of pages to protect alike, queued in one go (fork's pages). */
	uint64_t run_va, run_pages;
	int run_prot;
};

static void run_flush(struct update_arg *u)
{
	if (u->run_pages)
		host_as_queue_protect_pages(u->as, u->run_va, u->run_pages,
					    u->run_prot, u->gen);
	u->run_pages = 0;
}

static void update_queue(struct update_arg *u, enum host_op_kind kind,
			 uint64_t va, uint64_t off, int prot)
{
	unsigned int flags = kind == HOST_OP_UNMAP ? 0 : u->op_flags;

	run_flush(u); /* in the order of the pages */
	if (u->batch)
		host_batch_queue(u->as, u->batch, kind, va, PAGE_SIZE, off,
				 prot, flags);
	else
		host_as_queue(u->as, kind, va, PAGE_SIZE, off, prot, flags);
}

static int forget_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	unsigned int i;

	(void)va;
	(void)arg;
	for (i = 0; i < nr; i++)
		if (ptes[i] & _PAGE_HOST)
			set_pte(&ptes[i],
				(ptes[i] & ~_PAGE_HOST) | _PAGE_MAYHOST);
	return 0;
}

static int update_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	struct update_arg *u = arg;
	unsigned int i;

	for (i = 0; i < nr; i++, va += PAGE_SIZE) {
		pte_t pte = ptes[i];
		bool zero = pte_special(pte) && pte_pfn(pte) == PHYS_ZERO_PFN;
		int prot;

		if (!pte_changed(pte))
			continue;
		if (u->pt->tlbs && stlb_shoot_page(u->pt, va))
			u->shot = true;
		set_pte(&ptes[i], pte & ~_PAGE_CHG_BITS);
		prot = pte_host_prot(pte);
		if (zero)
			prot &= ~PROT_WRITE;
		if (prot == PROT_NONE) {
			update_queue(u, HOST_OP_UNMAP, va, 0, 0);
			set_pte(&ptes[i],
				ptes[i] & ~(_PAGE_HOST | _PAGE_MAYHOST));
			continue;
		}
		if (u->protect && (pte & _PAGE_HOST) &&
		    !(pte & _PAGE_NEWPAGE)) {
			if (u->run_pages &&
			    (u->run_prot != prot ||
			     u->run_va + (u->run_pages << PAGE_SHIFT) != va))
				run_flush(u);
			if (!u->run_pages) {
				u->run_va = va;
				u->run_prot = prot;
			}
			u->run_pages++;
			continue;
		}
		if (zero)
			update_queue(u, HOST_OP_MAP_ZERO, va, 0, prot);
		else
			update_queue(u, HOST_OP_MAP, va,
				     (uint64_t)pte_pfn(pte) << PAGE_SHIFT,
				     prot);
		set_pte(&ptes[i], (ptes[i] & ~_PAGE_MAYHOST) | _PAGE_HOST);
	}
	return 0;
}

void tlb_host_resync(struct pgtable *pt, struct host_as *as)
{
	uint32_t gen = host_as_gen(as);

	if (pgtable_host_gen(pt) == gen)
		return;
	pgtable_walk(pt, 0, 1ULL << GUEST_VA_BITS, false, forget_ptes, NULL);
	/* read without a lock by faults: see pgtable_host_gen */
	__atomic_store_n(&pt->host_gen, gen, __ATOMIC_RELAXED);
}

void tlb_update_range(struct pgtable *pt, struct host_as *as, uint64_t start,
		      uint64_t end, unsigned int flags)
{
	struct update_arg u = {
		.pt = pt,
		.as = as,
		.op_flags = (flags & TLB_POPULATE) ? HOST_OP_POPULATE : 0,
		/* the fault path wants the host's page tables filled: a map */
		.protect = !(flags & TLB_POPULATE),
	};

	tlb_host_resync(pt, as);
	/*
	 * The generation the bits are true at, as the resync left it: a
	 * drop after it makes both this batch's PROTECTs and the bits stale.
	 */
	u.gen = pgtable_host_gen(pt);
	pgtable_walk(pt, start, end, false, update_ptes, &u);
	run_flush(&u);
}

bool tlb_update_shared(struct pgtable *pt, struct host_as *as,
		       struct host_batch *b, uint64_t start, uint64_t end)
{
	struct update_arg u = {
		.pt = pt,
		.as = as,
		.batch = b,
		.op_flags = HOST_OP_POPULATE,
	};

	pgtable_walk(pt, start, end, false, update_ptes, &u);
	run_flush(&u);
	return u.shot;
}

void tlb_sync_shared(struct pgtable *pt, struct host_as *as,
		     struct host_batch *b, bool shot)
{
	host_batch_flush(as, b);
	if (shot)
		stlb_wait_vcpus(pt);
}

void tlb_zap_range(struct pgtable *pt, struct host_as *as, uint64_t start,
		   uint64_t end)
{
	if (start >= end)
		return;
	if (pt->tlbs)
		stlb_shoot_range(pt, start, end);
	host_as_queue(as, HOST_OP_UNMAP, start, end - start, 0, 0, 0);
}

void tlb_sync(struct pgtable *pt, struct host_as *as)
{
	host_as_flush(as);
	stlb_shoot_wait(pt);
}
