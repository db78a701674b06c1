// SPDX-License-Identifier: MIT
/*
 * mincore and msync: the two calls that only look at a range.
 *
 * mincore reports a page resident when a pte maps a frame, or, for a file
 * vma, when the file's cache holds the page the pte would map (Linux's
 * mincore_page: a file page is in core whether or not this mm maps it). A
 * nonlinear vma's absent pte names its own file page.
 *
 * msync has nothing to write back: shmem files live in guest memory and
 * host files are read-only. It checks what Linux checks, in Linux's order.
 */
#include <errno.h>
#include <sys/mman.h>

#include "mm/internal.h"

/* 1 when the page at @va of @vma is in core. Context: mm->lock held. */
static unsigned char mincore_page(struct mm *mm, struct vma *vma, uint64_t va)
{
	pte_t *ptep = pte_lookup(&mm->pt, va);
	pte_t pte = ptep ? *ptep : 0;
	uint64_t pgoff;
	uint32_t pfn;

	if (pte_present(pte))
		return 1;
	if (!vma->file)
		return 0;
	pgoff = pte_file(pte) ? pte_to_pgoff(pte) : vma_pgoff(vma, va);
	file_find_pages(vma->file, pgoff, 1, &pfn);
	if (!pfn)
		return 0;
	phys_put(mm->mem->phys, pfn);
	return 1;
}

long mm_mincore(struct mm *mm, uint64_t start, uint64_t len, unsigned char *vec)
{
	uint64_t end, va;
	struct vma *vma;
	size_t i = 0;

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (len > mm->task_size || start > mm->task_size - len)
		return -ENOMEM;
	end = start + PAGE_ALIGN(len);
	mm_lock(mm);
	for (va = start; va < end; va += PAGE_SIZE) {
		vma = vma_lookup(mm, va);
		if (!vma) {
			mm_unlock(mm);
			return -ENOMEM;
		}
		vec[i++] = mincore_page(mm, vma, va);
	}
	mm_unlock(mm);
	return 0;
}

int mm_msync(struct mm *mm, uint64_t start, uint64_t len, int flags)
{
	uint64_t end, va;
	unsigned int i;
	int err = 0;

	if (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	if ((flags & MS_ASYNC) && (flags & MS_SYNC))
		return -EINVAL;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end < start)
		return -ENOMEM;
	if (end == start)
		return 0;
	/* Every page of the range in some vma, else -ENOMEM (after the rest). */
	mm_lock(mm);
	va = start;
	i = vma_index(mm, start);
	for (; va < end; i++) {
		if (i == mm->nr_vmas) {
			err = -ENOMEM;
			break;
		}
		if (mm->vmas[i]->start > va)
			err = -ENOMEM;
		va = mm->vmas[i]->end;
	}
	mm_unlock(mm);
	return err;
}

void mm_set_brk(struct mm *mm, uint64_t start)
{
	mm_lock(mm);
	mm->start_brk = mm->brk = start;
	mm_unlock(mm);
}
