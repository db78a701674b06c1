// SPDX-License-Identifier: MIT
/*
 * fork: a child mm that shares the parent's pages. Page tables are copied,
 * not pages: shared mappings share frames, private pages become
 * copy-on-write in both (write-protected, anon-exclusive cleared). Two
 * exceptions, after Linux 5.19+:
 *
 *  - a pinned anonymous page (FOLL_PIN) is copied for the child at once, so
 *    the parent's page stays exclusive and writable and whoever holds the
 *    pin keeps seeing what the parent writes (seed 003);
 *  - VM_DONTCOPY vmas are not copied, VM_WIPEONFORK vmas are copied empty
 *    (seed 000).
 *
 * The parent's host mappings of pages that became copy-on-write are
 * write-protected through the usual pte marks, so each run of them costs
 * one host call. The child's host window starts empty: its ptes carry no
 * marks, and its first touches refill the host mappings.
 */
#include <errno.h>
#include <string.h>

#include "mm/internal.h"

struct copy_arg {
	struct mm *parent, *child;
	struct vma *vma;
	int err;
};

/* The child's copy of a pinned anonymous page; 0 or -ENOMEM. */
static int copy_pinned_page(struct copy_arg *c, pte_t pte, pte_t *dst)
{
	struct phys *phys = c->parent->mem->phys;
	uint32_t pfn;

	if (!phys_alloc(phys, 0, 1, &pfn))
		return -ENOMEM;
	phys_copy(phys, pfn, pte_pfn(pte), 1);
	page_new_anon(c->child->mem, pfn);
	page_add_map(c->child->mem, pfn);
	set_pte(dst, pte_copy_clean(((pte_t)pfn << PTE_PFN_SHIFT) |
				    (pte & ~PTE_PFN_MASK)));
	return 0;
}

static int copy_ptes(pte_t *src, uint64_t va, unsigned int nr, void *arg)
{
	struct copy_arg *c = arg;
	bool cow = !vma_is_shared(c->vma);
	pte_t *dst = pte_alloc(&c->child->pt, va);
	unsigned int i;

	if (!dst)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		pte_t pte = src[i];
		uint32_t pfn = pte_pfn(pte);
		struct page *page;

		if (pte_file(pte)) { /* nonlinear: the same layout */
			set_pte(&dst[i], pte_copy_clean(pte));
			continue;
		}
		if (pte_none(pte) || !pte_present(pte))
			continue;
		if (pte_special(pte)) { /* the zero page */
			set_pte(&dst[i], pte_copy_clean(pte));
			continue;
		}
		page = pfn_page(c->parent->mem, pfn);
		if (cow && page_anon(page) && page_pincount(page)) {
			int err = copy_pinned_page(c, pte, &dst[i]);

			if (err)
				return err;
			continue;
		}
		if (cow) {
			if (page_anon_exclusive(page)) /* no locked op if not */
				page_clear(page, PG_anon_exclusive);
			pte = pte_wrprotect(pte);
			set_pte(&src[i],
				pte); /* NEWPROT when it was writable */
		}
		phys_get(c->parent->mem->phys, pfn);
		page_add_map(c->parent->mem, pfn);
		set_pte(&dst[i], pte_copy_clean(pte));
	}
	return 0;
}

/* Copy @vma into @child. Context: both mms locked. 0 or -ENOMEM. */
static int dup_vma(struct mm *parent, struct mm *child, struct vma *vma)
{
	struct copy_arg c = {.parent = parent, .child = child, .vma = vma};
	struct vma *new = vma_new(child, vma->start, vma->end, vma->flags,
				  vma->file, vma->pgoff);
	int err;

	if (!new)
		return -ENOMEM;
	/* Linux's anon_vma_fork: an anon_vma of the child's own, chained. */
	if (vma->anon_vma && !(vma->flags & VM_WIPEONFORK)) {
		new->anon_vma = anon_vma_new_id();
		new->anon_forked = true;
	}
	err = vma_insert(child, new);
	if (err) {
		vma_free(new);
		return err;
	}
	if (vma->flags & VM_WIPEONFORK)
		return 0;
	err = pgtable_walk(&parent->pt, vma->start, vma->end, false, copy_ptes,
			   &c);
	/* Write-protect the parent's host mappings of what became COW. */
	tlb_update_range(&parent->pt, parent->as, vma->start, vma->end, 0);
	return err;
}

struct mm *mm_fork(struct mm *parent, struct host_as *as)
{
	struct mm *child = mm_new(parent->mem, as, parent->task_size);
	unsigned int i;
	int err = 0;

	if (!child) {
		host_as_free(as);
		return NULL;
	}
	mm_lock(parent);
	mm_lock(child); /* new: no one else can hold it */
	child->mmap_base = parent->mmap_base;
	child->start_brk = parent->start_brk;
	child->brk = parent->brk;
	child->fault_around = parent->fault_around;
	for (i = 0; i < parent->nr_vmas && !err; i++) {
		if (parent->vmas[i]->flags & VM_DONTCOPY)
			continue;
		err = dup_vma(parent, child, parent->vmas[i]);
	}
	parent->count.forks++;
	mm_sync_locked(parent);
	mm_unlock(child);
	mm_unlock(parent);
	if (err) {
		/* The parent's pages stay COW-shared: harmless, they reuse. */
		mm_put(child);
		errno = -err;
		return NULL;
	}
	return child;
}
