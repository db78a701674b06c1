// SPDX-License-Identifier: MIT
/*
 * mprotect, as Linux's do_mprotect_pkey: vmas are split at the ends of the
 * range and merged again afterwards; present ptes take the new protection
 * and are marked for the host. A hole in the range stops it with -ENOMEM
 * after the vmas before the hole were changed, as Linux does.
 */
#include <errno.h>
#include <sys/mman.h>

#include "mm/internal.h"

#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif

struct change_arg {
	struct mm *mm;
	unsigned long vm_flags;
	int prot; /* PROT_* of vm_flags */
};

static int change_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	struct change_arg *c = arg;
	pte_t wp = vma_pte_prot(c->vm_flags, false);
	pte_t rw = vma_pte_prot(c->vm_flags, true);
	unsigned int i;

	for (i = 0; i < nr; i++) {
		pte_t pte = ptes[i];
		bool writable;

		if (pte_file(pte)) { /* nonlinear: the page it names stays */
			set_pte(&ptes[i],
				pgoff_to_pte(pte_to_pgoff(pte), c->prot));
			continue;
		}
		if (!pte_present(pte))
			continue;
		/*
		 * An exclusive dirty anonymous page stays writable: no one
		 * else can see it, so a copy-on-write fault would only reuse
		 * it (Linux's can_change_pte_writable).
		 */
		writable =
			!pte_special(pte) && pte_dirty(pte) &&
			page_anon_exclusive(pfn_page(c->mm->mem, pte_pfn(pte)));
		set_pte(&ptes[i],
			pte_modify(pte, pte_special(pte) ? wp & ~_PAGE_RW
					: writable	 ? rw
							 : wp));
	}
	return 0;
}

/* Give [start, end) of the vma at @idx @newflags. Context: mm->lock held. */
static int mprotect_fixup(struct mm *mm, unsigned int *idx, uint64_t start,
			  uint64_t end, unsigned long newflags)
{
	struct change_arg c = {.mm = mm};
	int err;

	/* Every page of a manyprots vma takes the new protection (seed 002). */
	newflags &= ~VM_MANYPROTS;
	c.vm_flags = newflags;
	if (newflags == mm->vmas[*idx]->flags)
		return 0;
	err = vma_isolate(mm, idx, start, end);
	if (err)
		return err;
	mm->vmas[*idx]->flags = newflags;
	c.prot = vma_guest_prot(mm->vmas[*idx]);
	pgtable_walk(&mm->pt, start, end, false, change_ptes, &c);
	tlb_update_range(&mm->pt, mm->as, start, end, 0);
	*idx = vma_merge(mm, *idx);
	return 0;
}

int mm_mprotect(struct mm *mm, uint64_t start, uint64_t len, int prot)
{
	unsigned long vm_prot = 0, newflags;
	uint64_t end, tmp;
	unsigned int i;
	int err;

	/* Linux refuses both directions first, even for len 0. */
	if ((prot & (PROT_GROWSDOWN | PROT_GROWSUP)) ==
	    (PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end <= start)
		return -ENOMEM;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM |
		     PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (prot & PROT_READ)
		vm_prot |= VM_READ;
	if (prot & PROT_WRITE)
		vm_prot |= VM_WRITE;
	if (prot & PROT_EXEC)
		vm_prot |= VM_EXEC;

	mm_lock(mm);
	err = -ENOMEM;
	i = vma_index(mm, start);
	if (i == mm->nr_vmas)
		goto out;
	if (prot & PROT_GROWSDOWN) {
		if (mm->vmas[i]->start >= end)
			goto out;
		start = mm->vmas[i]->start;
		err = -EINVAL;
		if (!(mm->vmas[i]->flags & VM_GROWSDOWN))
			goto out;
	} else {
		if (mm->vmas[i]->start > start)
			goto out;
		/* x86 has no VM_GROWSUP: no vma grows up. */
		err = -EINVAL;
		if (prot & PROT_GROWSUP)
			goto out;
	}
	err = 0;
	for (tmp = start; i < mm->nr_vmas && mm->vmas[i]->start < end; i++) {
		struct vma *vma = mm->vmas[i];

		if (vma->start > tmp) {
			err = -ENOMEM;
			break;
		}
		newflags = vm_prot | (vma->flags & ~VM_ACCESS_FLAGS);
		/*
		 * Linux charges a private mapping made writable, and gives
		 * the charge back on the way down only while no anonymous
		 * page exists. VM_ACCOUNT changes no access, but vmas that
		 * differ in it do not merge, so the layout shows it.
		 */
		if (newflags & VM_WRITE) {
			if (!(vma->flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED |
					    VM_NORESERVE)))
				newflags |= VM_ACCOUNT;
		} else if ((vma->flags & VM_ACCOUNT) && vma_is_anon(vma) &&
			   !vma->anon_vma) {
			newflags &= ~VM_ACCOUNT;
		}
		/* VM_MAY* is VM_* << 4: nothing beyond what the vma may. */
		if ((newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS) {
			err = -EACCES;
			break;
		}
		tmp = vma->end < end ? vma->end : end;
		err = mprotect_fixup(mm, &i,
				     vma->start > start ? vma->start : start,
				     tmp, newflags);
		if (err)
			break;
		tmp = mm->vmas[i]->end < end ? mm->vmas[i]->end : end;
	}
	if (!err && tmp < end)
		err = -ENOMEM;
out:
	mm_sync_locked(mm);
	mm_unlock(mm);
	return err;
}
