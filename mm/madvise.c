// SPDX-License-Identifier: MIT
/*
 * madvise, as Linux's: the range is walked vma by vma, each piece split off
 * as its flags change and merged again; a hole in the range gives -ENOMEM
 * once the rest was done. Hints umm has no use for (RANDOM, SEQUENTIAL,
 * HUGEPAGE, DONTDUMP, ...) still change the flags, and so split vmas, as
 * they do in Linux.
 */
#include <errno.h>
#include <sys/mman.h>

#include "mm/internal.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_COLD
#define MADV_COLD    20
#define MADV_PAGEOUT 21
#endif

static bool madvise_behavior_valid(int advice)
{
	switch (advice) {
	case MADV_NORMAL:
	case MADV_RANDOM:
	case MADV_SEQUENTIAL:
	case MADV_WILLNEED:
	case MADV_DONTNEED:
	case MADV_FREE:
	case MADV_DONTFORK:
	case MADV_DOFORK:
	case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE:
	case MADV_DONTDUMP:
	case MADV_DODUMP:
	case MADV_WIPEONFORK:
	case MADV_KEEPONFORK:
	case MADV_COLD:
	case MADV_PAGEOUT:
		return true;
	default:
		return false;
	}
}

/* The flags @advice gives @vma, or -EINVAL. */
static long madvise_flags(const struct vma *vma, int advice)
{
	unsigned long f = vma->flags;

	switch (advice) {
	case MADV_NORMAL:
		return f & ~(VM_RAND_READ | VM_SEQ_READ);
	case MADV_RANDOM:
		return (f & ~VM_SEQ_READ) | VM_RAND_READ;
	case MADV_SEQUENTIAL:
		return (f & ~VM_RAND_READ) | VM_SEQ_READ;
	case MADV_DONTFORK:
		return f | VM_DONTCOPY;
	case MADV_DOFORK:
		return f & ~VM_DONTCOPY;
	case MADV_HUGEPAGE:
		return (f & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
	case MADV_NOHUGEPAGE:
		return (f & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
	case MADV_DONTDUMP:
		return f | VM_DONTDUMP;
	case MADV_DODUMP:
		return f & ~VM_DONTDUMP;
	case MADV_WIPEONFORK:
		/* Only private anonymous memory can be wiped. */
		if (vma->file || (f & VM_SHARED))
			return -EINVAL;
		return f | VM_WIPEONFORK;
	case MADV_KEEPONFORK:
		return f & ~VM_WIPEONFORK;
	default:
		return (long)f;
	}
}

/* Apply @advice to [start, end) of the vma at *@idx. */
static int madvise_vma(struct mm *mm, unsigned int *idx, uint64_t start,
		       uint64_t end, int advice)
{
	struct vma *vma = mm->vmas[*idx];
	long newflags;
	int err;

	switch (advice) {
	case MADV_FREE:
		/* Lazy freeing may free at once: only private anonymous. */
		if (vma->file || vma_is_shared(vma))
			return -EINVAL;
		/* fall through */
	case MADV_DONTNEED:
		zap_range_locked(mm, vma, start, end);
		return 0;
	case MADV_WILLNEED:
	case MADV_COLD:
	case MADV_PAGEOUT:
		return 0; /* nothing is swapped: nothing to do */
	}
	newflags = madvise_flags(vma, advice);
	if (newflags < 0)
		return (int)newflags;
	if ((unsigned long)newflags == vma->flags)
		return 0;
	/*
	 * A split past the map count is -ENOMEM, which madvise keeps for
	 * holes in the range: Linux reports it as -EAGAIN (a resource that
	 * may come free), and so must umm.
	 */
	err = vma_isolate(mm, idx, start, end);
	if (err)
		return err == -ENOMEM ? -EAGAIN : err;
	mm->vmas[*idx]->flags = (unsigned long)newflags;
	*idx = vma_merge(mm, *idx);
	return 0;
}

int mm_madvise(struct mm *mm, uint64_t start, uint64_t len_in, int advice)
{
	uint64_t len, end;
	unsigned int i;
	int err = 0, unmapped = 0;

	if (!madvise_behavior_valid(advice))
		return -EINVAL;
	if (start & ~PAGE_MASK)
		return -EINVAL;
	len = PAGE_ALIGN(len_in);
	if (len_in && !len)
		return -EINVAL;
	end = start + len;
	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;

	mm_lock(mm);
	i = vma_index(mm, start);
	while (start < end) {
		struct vma *vma;
		uint64_t tmp;

		if (i >= mm->nr_vmas) {
			err = -ENOMEM;
			break;
		}
		vma = mm->vmas[i];
		if (start < vma->start) {
			unmapped = -ENOMEM;
			start = vma->start;
			if (start >= end)
				break;
		}
		tmp = vma->end < end ? vma->end : end;
		err = madvise_vma(mm, &i, start, tmp, advice);
		if (err)
			break;
		start = tmp;
		i = vma_index(mm, start);
	}
	mm_sync_locked(mm);
	mm_unlock(mm);
	return err ? err : unmapped;
}
