// SPDX-License-Identifier: MIT
/*
 * madvise, as Linux 6.18's: the range is walked vma by vma, each piece split
 * off as its flags change and merged again; a hole in the range gives
 * -ENOMEM once the rest was done. Hints umm has no use for (RANDOM,
 * SEQUENTIAL, HUGEPAGE, DONTDUMP, ...) still change the flags, and so split
 * vmas, as they do in Linux.
 *
 * What umm does with the advice that acts on pages:
 *
 *  DONTNEED, DONTNEED_LOCKED  private pages go (anonymous ones read zero
 *             again, file ones the file); shared ones stay in their file.
 *             umm has no VM_LOCKED, so the two are the same.
 *  FREE       nothing: Linux keeps a lazily freed page until memory runs
 *             short, and umm never reclaims, so the page keeps its data
 *             (Linux's answer as long as the host is not short of memory).
 *  WILLNEED   maps what the file holds (a host file's pages are read in,
 *             a shmem file's existing pages mapped): the host learns of
 *             them now, in merged runs, instead of at a fault each. Never
 *             an error but a hole: nothing is swapped, so anonymous memory
 *             has nothing to bring in (0, as Linux with CONFIG_SWAP; only
 *             a kernel without swap says -EBADF).
 *  COLD, PAGEOUT  accepted, nothing to do: nothing is swapped.
 *  REMOVE     punches the range out of the shmem file (mm/filemap.c),
 *             in every mapping of it.
 *  POPULATE_READ, POPULATE_WRITE  fault the range in as the guest's own
 *             reads or writes would (COW broken for WRITE). The range is
 *             not walked as the others: a hole stops it with -ENOMEM, a
 *             vma that forbids the access is -EINVAL, a fault that would
 *             raise a signal (past the end of a file) -EFAULT.
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
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif

static bool madvise_behavior_valid(int advice)
{
	switch (advice) {
	case MADV_NORMAL:
	case MADV_RANDOM:
	case MADV_SEQUENTIAL:
	case MADV_WILLNEED:
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
	case MADV_REMOVE:
	case MADV_POPULATE_READ:
	case MADV_POPULATE_WRITE:
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

/*
 * Can the file give the page at @pgoff without allocating or failing? A
 * host file's pages are read in (up to its end); a shmem file's hole would
 * be a new page, which WILLNEED does not make in Linux either.
 */
static bool willneed_page(struct file *file, uint64_t pgoff)
{
	uint32_t pfn;

	if (file->host_fd >= 0)
		return pgoff < (file_size(file) + PAGE_SIZE - 1) >> PAGE_SHIFT;
	file_find_pages(file, pgoff, 1, &pfn);
	if (!pfn)
		return false;
	phys_put(file->mem->phys, pfn);
	return true;
}

/* The PROT_* @pte of @vma gives: a manyprots vma's pages have their own. */
static int page_prot(const struct vma *vma, pte_t pte)
{
	if (vma->flags & VM_MANYPROTS)
		return nonlinear_pte_prot(vma, pte);
	return vma_guest_prot(vma);
}

/* MADV_WILLNEED: map what the file has for [start, end) by read faults. */
static void madvise_willneed(struct mm *mm, struct vma *vma, uint64_t start,
			     uint64_t end)
{
	uint64_t va, pgoff;
	int code;

	/* Nothing is swapped: anonymous memory has nothing to bring in. */
	if (vma_is_anon(vma))
		return;
	for (va = start; va < end; va += PAGE_SIZE) {
		pte_t *ptep = pte_lookup(&mm->pt, va);
		pte_t pte = ptep ? *ptep : 0;

		if (pte_host_holds(mm, pte, PROT_READ) ||
		    !(page_prot(vma, pte) & PROT_READ))
			continue;
		pgoff = pte_file(pte) ? pte_to_pgoff(pte) : vma_pgoff(vma, va);
		if (!pte_present(pte) && !willneed_page(vma->file, pgoff))
			continue;
		/* Errors are the guest's to meet at its own access. */
		handle_mm_fault_locked(mm, va, 0, &code);
	}
}

/*
 * MADV_REMOVE: punch [start, end) out of the vma's file, in every mapping
 * of it (mm/filemap.c). As Linux's madvise_remove drops mmap_lock for the
 * fallocate, mm->lock is dropped for the punch, which takes the lock of
 * each mm mapping the file, this one too: the caller looks its vma up
 * again. Nonlinear vmas are refused as Linux did before 4.0 (its pages are
 * not where vm_pgoff says; since 4.0 Linux has no nonlinear vmas).
 */
static int madvise_remove(struct mm *mm, struct vma *vma, uint64_t start,
			  uint64_t end)
{
	struct file *file = vma->file;
	uint64_t pgoff = vma_pgoff(vma, start);

	if (!file || (vma->flags & VM_NONLINEAR))
		return -EINVAL;
	/* Linux's vma_is_shared_maywrite: a writable file, shared. */
	if ((vma->flags & (VM_SHARED | VM_MAYWRITE)) !=
	    (VM_SHARED | VM_MAYWRITE))
		return -EACCES;
	file_get(file);
	mm_sync_locked(mm);
	mm_unlock(mm);
	file_punch_hole(file, pgoff, (end - start) >> PAGE_SHIFT);
	file_put(file);
	mm_lock(mm);
	return 0;
}

/*
 * MADV_POPULATE_READ/WRITE over the whole range, as Linux's
 * faultin_page_range: the faults a guest access makes, with GUP's checks
 * of the vma first (no stack grows). A manyprots vma is judged by each
 * page's own protection, as its faults are. 0, -ENOMEM (a hole, or out of
 * memory), -EINVAL (the vma forbids the access) or -EFAULT (the fault
 * raised a signal); what came before the failing page stays populated.
 */
static int madvise_populate(struct mm *mm, uint64_t start, uint64_t end,
			    bool write)
{
	int access = write ? PROT_WRITE : PROT_READ;
	uint64_t va;
	int err, code;

	for (va = start; va < end; va += PAGE_SIZE) {
		struct vma *vma = vma_lookup(mm, va);
		pte_t *ptep, pte;

		if (!vma)
			return -ENOMEM;
		ptep = pte_lookup(&mm->pt, va);
		pte = ptep ? *ptep : 0;
		if (!(page_prot(vma, pte) & access))
			return -EINVAL;
		if (pte_host_holds(mm, pte, access))
			continue;
		err = handle_mm_fault_locked(
			mm, va, write ? FAULT_FLAG_WRITE : 0, &code);
		if (err)
			return err == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	return 0;
}

/*
 * Apply @advice to [start, end) of the vma at *@idx. MADV_REMOVE drops
 * mm->lock meanwhile: *@idx is no longer to be trusted after it.
 */
static int madvise_vma(struct mm *mm, unsigned int *idx, uint64_t start,
		       uint64_t end, int advice)
{
	struct vma *vma = mm->vmas[*idx];
	long newflags;
	int err;

	switch (advice) {
	case MADV_FREE:
		/* Lazy freeing: only private anonymous memory. */
		if (vma->file || vma_is_shared(vma))
			return -EINVAL;
		return 0; /* kept until reclaim, which never comes */
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED: /* umm has no VM_LOCKED */
		zap_range_locked(mm, vma, start, end);
		return 0;
	case MADV_WILLNEED:
		madvise_willneed(mm, vma, start, end);
		return 0;
	case MADV_REMOVE:
		return madvise_remove(mm, vma, start, end);
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
	if (advice == MADV_POPULATE_READ || advice == MADV_POPULATE_WRITE) {
		err = madvise_populate(mm, start, end,
				       advice == MADV_POPULATE_WRITE);
		goto out_unlock;
	}
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
out_unlock:
	mm_sync_locked(mm);
	mm_unlock(mm);
	return err ? err : unmapped;
}
