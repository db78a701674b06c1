// SPDX-License-Identifier: MIT
/*
 * mmap, munmap and brk, with Linux's checks in Linux's order (do_mmap,
 * do_vmi_munmap, brk) so that each bad call fails with the errno Linux
 * gives it. Each call checks everything before its first side effect.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mm/internal.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#define MAP_TYPE_MASK 0x0f

/* The flags MAP_SHARED_VALIDATE accepts: Linux's LEGACY_MAP_MASK. */
#define LEGACY_MAP_MASK                                                     \
	(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | \
	 MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED |     \
	 MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK |             \
	 MAP_HUGETLB)

static bool range_free(struct mm *mm, uint64_t start, uint64_t end)
{
	unsigned int i = vma_index(mm, start);

	return i == mm->nr_vmas || mm->vmas[i]->start >= end;
}

/* Highest gap of @len below mmap_base, else lowest above it. */
static long unmapped_area(struct mm *mm, uint64_t len)
{
	uint64_t gap_end = mm->mmap_base, gap_start;
	unsigned int i = vma_index(mm, gap_end);

	if (i < mm->nr_vmas && mm->vmas[i]->start < gap_end)
		gap_end = mm->vmas[i]->start;
	while (i-- > 0) {
		gap_start = mm->vmas[i]->end;
		if (gap_end - gap_start >= len)
			return (long)(gap_end - len);
		gap_end = mm->vmas[i]->start;
	}
	if (gap_end >= MM_MMAP_MIN_ADDR + len)
		return (long)(gap_end - len);
	/* Bottom-up above the base, as Linux falls back to. */
	gap_start = mm->mmap_base;
	for (i = vma_index(mm, gap_start); i < mm->nr_vmas; i++) {
		if (mm->vmas[i]->start >= gap_start + len)
			return (long)gap_start;
		gap_start = mm->vmas[i]->end;
	}
	if (mm->task_size - gap_start >= len)
		return (long)gap_start;
	return -ENOMEM;
}

static long get_unmapped_area(struct mm *mm, uint64_t addr, uint64_t len,
			      int flags)
{
	if (len > mm->task_size - MM_MMAP_MIN_ADDR)
		return -ENOMEM;
	if (flags & MAP_FIXED) {
		if (addr > mm->task_size - len)
			return -ENOMEM;
		if (addr & ~PAGE_MASK)
			return -EINVAL;
		if (addr < MM_MMAP_MIN_ADDR)	/* unprivileged */
			return -EPERM;
		return (long)addr;
	}
	if (addr) {
		addr = PAGE_ALIGN(addr);
		if (addr && addr <= mm->task_size - len &&
		    addr >= MM_MMAP_MIN_ADDR && range_free(mm, addr, addr + len))
			return (long)addr;
	}
	return unmapped_area(mm, len);
}

static unsigned long calc_vm_prot_bits(int prot)
{
	unsigned long f = 0;

	if (prot & PROT_READ)
		f |= VM_READ;
	if (prot & PROT_WRITE)
		f |= VM_WRITE;
	if (prot & PROT_EXEC)
		f |= VM_EXEC;
	return f;
}

/* The vm_flags and file of a mapping, or -errno. */
static int mmap_flags(int prot, int flags, struct file *file,
		      unsigned long *vm_flags)
{
	*vm_flags = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE |
		    VM_MAYEXEC;
	if (flags & MAP_NORESERVE)
		*vm_flags |= VM_NORESERVE;
	if (file) {
		switch (flags & MAP_TYPE_MASK) {
		case MAP_SHARED:
			flags &= LEGACY_MAP_MASK;
			/* fall through */
		case MAP_SHARED_VALIDATE:
			if (flags & ~LEGACY_MAP_MASK)
				return -EOPNOTSUPP;
			if ((prot & PROT_WRITE) && !file->writable)
				return -EACCES;
			*vm_flags |= VM_SHARED | VM_MAYSHARE;
			if (!file->writable)
				*vm_flags &= ~(VM_MAYWRITE | VM_SHARED);
			return 0;
		case MAP_PRIVATE:
			return 0;
		default:
			return -EINVAL;
		}
	}
	switch (flags & MAP_TYPE_MASK) {
	case MAP_SHARED:
	case MAP_SHARED_VALIDATE:
		*vm_flags |= VM_SHARED | VM_MAYSHARE;
		return 0;
	case MAP_PRIVATE:
		return 0;
	default:
		return -EINVAL;
	}
}

/* Place a new vma on [addr, addr+len). Context: mm->lock held. */
static long mmap_region(struct mm *mm, uint64_t addr, uint64_t len,
			unsigned long vm_flags, struct file *file,
			uint64_t pgoff, int flags)
{
	struct file *anon_shared = NULL;
	struct vma *vma;
	unsigned int idx;
	int err;

	if (!file && (vm_flags & VM_SHARED)) {
		/* Shared anonymous memory is a shmem object of its own. */
		anon_shared = file_shmem_new(mm->mem, len);
		if (!anon_shared)
			return -ENOMEM;
		free(anon_shared->name);
		anon_shared->name = strdup("/dev/zero (deleted)");
		file = anon_shared;
		pgoff = 0;
	}
	vma = vma_new(mm, addr, addr + len, vm_flags, file, pgoff);
	if (anon_shared)
		file_put(anon_shared);	/* the vma holds it now */
	if (!vma)
		return -ENOMEM;
	if (flags & MAP_FIXED) {
		err = do_munmap_locked(mm, addr, addr + len);
		if (err)
			goto out_free;
	}
	err = vma_insert(mm, vma);
	if (err)
		goto out_free;
	idx = vma_merge(mm, vma_index(mm, addr));
	vma = mm->vmas[idx];
	if ((flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE)
		populate_range_locked(mm, vma, addr, addr + len);
	return (long)addr;

out_free:
	if (vma->file)
		file_put(vma->file);
	free(vma);
	return err;
}

long mm_mmap(struct mm *mm, uint64_t addr, uint64_t len, int prot, int flags,
	     struct file *file, uint64_t off)
{
	unsigned long vm_flags;
	uint64_t pgoff;
	long ret;
	int err;

	if (off & ~PAGE_MASK)
		return -EINVAL;
	if (flags & MAP_ANONYMOUS)
		file = NULL;
	else if (!file)
		return -EBADF;
	if (!len)
		return -EINVAL;
	/* A file's frames live in its own memory: it cannot be mapped here. */
	if (file && file->mem != mm->mem)
		return -EINVAL;
	if (flags & MAP_FIXED_NOREPLACE)
		flags |= MAP_FIXED;
	if (!(flags & MAP_FIXED)) {
		addr &= PAGE_MASK;
		if (addr && addr < MM_MMAP_MIN_ADDR)
			addr = MM_MMAP_MIN_ADDR;
	}
	len = PAGE_ALIGN(len);
	if (!len)
		return -ENOMEM;
	pgoff = off >> PAGE_SHIFT;
	if (pgoff + (len >> PAGE_SHIFT) < pgoff)
		return -EOVERFLOW;

	mm_lock(mm);
	ret = -ENOMEM;
	if (mm->nr_vmas > MM_MAX_MAP_COUNT)
		goto out;
	ret = get_unmapped_area(mm, addr, len, flags);
	if (ret < 0)
		goto out;
	addr = (uint64_t)ret;
	ret = -EEXIST;
	if ((flags & MAP_FIXED_NOREPLACE) && !range_free(mm, addr, addr + len))
		goto out;
	err = mmap_flags(prot, flags, file, &vm_flags);
	ret = err;
	if (err)
		goto out;
	ret = -EOVERFLOW;
	if (file && pgoff + (len >> PAGE_SHIFT) > FILE_MAX_PAGES)
		goto out;
	if (!file && !(vm_flags & VM_SHARED))
		pgoff = addr >> PAGE_SHIFT;
	ret = mmap_region(mm, addr, len, vm_flags, file, pgoff, flags);
out:
	mm_sync_locked(mm);
	mm_unlock(mm);
	return ret;
}

/*
 * Unmap [start, end), splitting the vmas at either end. 0 or -ENOMEM
 * (the split would pass the map count); nothing is changed on error.
 * Context: mm->lock held. The caller syncs.
 */
int do_munmap_locked(struct mm *mm, uint64_t start, uint64_t end)
{
	unsigned int i = vma_index(mm, start), j;
	uint64_t floor, ceiling, zstart, zend;
	struct vma *vma;
	int err;

	if (i == mm->nr_vmas || mm->vmas[i]->start >= end)
		return 0;
	vma = mm->vmas[i];
	if (vma->start < start) {
		if (end < vma->end && mm->nr_vmas >= MM_MAX_MAP_COUNT)
			return -ENOMEM;
		err = vma_split(mm, i, start);
		if (err)
			return err;
		i++;
	}
	j = vma_index(mm, end);
	if (j < mm->nr_vmas && mm->vmas[j]->start < end) {
		err = vma_split(mm, j, end);
		if (err)
			return err;	/* the first split is harmless */
		j++;
	}
	zstart = mm->vmas[i]->start;
	zend = mm->vmas[j - 1]->end;
	floor = i ? mm->vmas[i - 1]->end : 0;
	ceiling = j < mm->nr_vmas ? mm->vmas[j]->start : 1ULL << GUEST_VA_BITS;
	for (; j > i; j--) {
		vma = mm->vmas[j - 1];
		zap_range_locked(mm, vma, vma->start, vma->end);
		vma_remove(mm, j - 1);
	}
	pgtable_free_range(&mm->pt, zstart, zend, floor, ceiling);
	return 0;
}

int mm_munmap(struct mm *mm, uint64_t addr, uint64_t len)
{
	int err;

	if (addr & ~PAGE_MASK || addr > mm->task_size ||
	    len > mm->task_size - addr)
		return -EINVAL;
	len = PAGE_ALIGN(len);
	if (!len)
		return -EINVAL;
	mm_lock(mm);
	err = do_munmap_locked(mm, addr, addr + len);
	mm_sync_locked(mm);
	mm_unlock(mm);
	return err;
}

/* Grow the heap over [start, end). Context: mm->lock held. */
static int do_brk(struct mm *mm, uint64_t start, uint64_t end)
{
	unsigned long flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE |
			      VM_MAYEXEC;
	struct vma *vma;
	int err;

	if (mm->nr_vmas > MM_MAX_MAP_COUNT)
		return -ENOMEM;
	vma = vma_new(mm, start, end, flags, NULL, start >> PAGE_SHIFT);
	if (!vma)
		return -ENOMEM;
	err = vma_insert(mm, vma);
	if (err) {
		free(vma);
		return err;
	}
	vma_merge(mm, vma_index(mm, start));
	return 0;
}

long mm_brk(struct mm *mm, uint64_t brk)
{
	uint64_t newbrk, oldbrk;
	unsigned int i;
	long ret;

	mm_lock(mm);
	ret = (long)mm->brk;
	if (brk < mm->start_brk || brk > mm->task_size)
		goto out;
	newbrk = PAGE_ALIGN(brk);
	oldbrk = PAGE_ALIGN(mm->brk);
	if (newbrk == oldbrk) {
		mm->brk = brk;
	} else if (brk <= mm->brk) {
		if (do_munmap_locked(mm, newbrk, oldbrk))
			goto out;
		mm->brk = brk;
	} else {
		/* Keep a page free below the next mapping, as Linux does. */
		i = vma_index(mm, oldbrk);
		if (newbrk > mm->task_size - PAGE_SIZE ||
		    (i < mm->nr_vmas && mm->vmas[i]->start < newbrk + PAGE_SIZE))
			goto out;
		if (do_brk(mm, oldbrk, newbrk))
			goto out;
		mm->brk = brk;
	}
	ret = (long)mm->brk;
out:
	mm_sync_locked(mm);
	mm_unlock(mm);
	return ret;
}
