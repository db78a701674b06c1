// SPDX-License-Identifier: MIT
/*
 * The invariant behind the host cache: every host mapping agrees with the
 * guest pte it caches. It maps the pte's frame (or zeros for the zero
 * page) and allows no more than the pte does now.
 */
#include <errno.h>
#include <stdio.h>

#include "mm/internal.h"

struct check {
	struct mm *mm;
	long bad;
};

static void report(struct check *c, uint64_t va, const char *what, pte_t pte)
{
	if (c->bad++ < 8)
		fprintf(stderr,
			"umm: host mapping at guest %#llx %s (pte %#llx)\n",
			(unsigned long long)va, what, (unsigned long long)pte);
}

static int check_vma(uint64_t va, uint64_t len, int prot, bool file,
		     uint64_t off, void *arg)
{
	struct check *c = arg;
	uint64_t end = va + len;

	for (; va < end; va += PAGE_SIZE, off += PAGE_SIZE) {
		pte_t *ptep = pte_lookup(&c->mm->pt, va);
		pte_t pte = ptep ? *ptep : 0;

		if (!pte_present(pte)) {
			report(c, va, "has no pte", pte);
			continue;
		}
		if (prot & ~pte_host_prot(pte))
			report(c, va, "allows more than its pte", pte);
		if (pte_changed(pte))
			report(c, va, "has a pte still marked for the host",
			       pte);
		if (file && (pte_special(pte) ||
			     (uint64_t)pte_pfn(pte) << PAGE_SHIFT != off))
			report(c, va, "maps another frame", pte);
		if (!file &&
		    !(pte_special(pte) && pte_pfn(pte) == PHYS_ZERO_PFN))
			report(c, va, "maps zeros, its pte a frame", pte);
	}
	return 0;
}

long mm_check_host(struct mm *mm)
{
	struct check c = {.mm = mm};
	int err;

	mm_lock(mm);
	err = host_as_walk_vmas(mm->as, check_vma, &c);
	mm_unlock(mm);
	return err ? err : c.bad;
}
