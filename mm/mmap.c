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
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MAP_ABOVE4G
#define MAP_ABOVE4G 0x80
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << 26)
#endif
#define MAP_TYPE_MASK 0x0f

/* The flags MAP_SHARED_VALIDATE accepts: Linux's LEGACY_MAP_MASK (x86). */
#define LEGACY_MAP_MASK                                                       \
	(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS |               \
	 MAP_DENYWRITE | MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | \
	 MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK |           \
	 MAP_STACK | MAP_HUGETLB | MAP_32BIT | MAP_ABOVE4G | MAP_HUGE_2MB |   \
	 MAP_HUGE_1GB | UMM_MAP_DONTFORK)

/*
 * Linux's stack_guard_gap: no new mapping and no brk is placed this close
 * below a VM_GROWSDOWN vma, so that the stack keeps room to grow.
 */
#define STACK_GUARD_GAP (256ULL << PAGE_SHIFT)

/*
 * Grow the stack vma at @idx down to cover @addr, as Linux's
 * expand_downwards: never below mmap_min_addr, never within the guard gap
 * of an accessible vma below, never past the stack rlimit (Linux's default
 * 8 MiB). 0, -EPERM or -ENOMEM. Context: mm->lock held.
 */
int expand_stack_locked(struct mm *mm, unsigned int idx, uint64_t addr)
{
	struct vma *vma = mm->vmas[idx], *prev = idx ? mm->vmas[idx - 1] : NULL;

	addr &= PAGE_MASK;
	BUG_ON(!(vma->flags & VM_GROWSDOWN) || addr >= vma->start);
	if (addr < MM_MMAP_MIN_ADDR)
		return -EPERM;
	if (prev && prev->end > addr)
		return -ENOMEM;
	if (prev && !(prev->flags & VM_GROWSDOWN) &&
	    (prev->flags & VM_ACCESS_FLAGS) &&
	    addr - prev->end < STACK_GUARD_GAP)
		return -ENOMEM;
	if (vma->end - addr > MM_STACK_LIMIT)
		return -ENOMEM;
	vma->pgoff -= (vma->start - addr) >> PAGE_SHIFT;
	vma->start = addr;
	return 0;
}

/* Where the room below @vma ends: Linux's vm_start_gap. */
static uint64_t vma_start_gap(const struct vma *vma)
{
	if (!(vma->flags & VM_GROWSDOWN))
		return vma->start;
	return vma->start > STACK_GUARD_GAP ? vma->start - STACK_GUARD_GAP : 0;
}

/* No vma meets [start, end): MAP_FIXED_NOREPLACE ignores guard gaps. */
static bool range_free(struct mm *mm, uint64_t start, uint64_t end)
{
	unsigned int i = vma_index(mm, start);

	return i == mm->nr_vmas || mm->vmas[i]->start >= end;
}

/* A hint is taken if it keeps clear of the next vma and its guard gap. */
static bool hint_fits(struct mm *mm, uint64_t addr, uint64_t len)
{
	unsigned int i = vma_index(mm, addr);

	return i == mm->nr_vmas || addr + len <= vma_start_gap(mm->vmas[i]);
}

/* Lowest gap of @len in [low, high), or -ENOMEM. */
static long unmapped_area_bottomup(struct mm *mm, uint64_t len, uint64_t low,
				   uint64_t high)
{
	uint64_t gap_start = low;
	unsigned int i;

	for (i = vma_index(mm, low);
	     i < mm->nr_vmas && mm->vmas[i]->start < high; i++) {
		if (vma_start_gap(mm->vmas[i]) >= gap_start + len)
			return (long)gap_start;
		gap_start = mm->vmas[i]->end;
	}
	if (gap_start <= high && high - gap_start >= len)
		return (long)gap_start;
	return -ENOMEM;
}

/* Highest gap of @len below mmap_base, else lowest above it. */
static long unmapped_area(struct mm *mm, uint64_t len)
{
	uint64_t gap_end = mm->mmap_base, gap_start;
	unsigned int i = vma_index(mm, gap_end);

	if (i < mm->nr_vmas && vma_start_gap(mm->vmas[i]) < gap_end)
		gap_end = vma_start_gap(mm->vmas[i]);
	while (i-- > 0) {
		gap_start = mm->vmas[i]->end;
		/* A guard gap may reach below the vmas under its stack. */
		if (gap_end >= gap_start && gap_end - gap_start >= len)
			return (long)(gap_end - len);
		if (vma_start_gap(mm->vmas[i]) < gap_end)
			gap_end = vma_start_gap(mm->vmas[i]);
	}
	if (gap_end >= MM_MMAP_MIN_ADDR + len)
		return (long)(gap_end - len);
	/* Bottom-up above the base, as Linux falls back to. */
	return unmapped_area_bottomup(mm, len, mm->mmap_base, mm->task_size);
}

/*
 * x86's MAP_32BIT: the second GiB, bottom-up (Linux randomizes the start
 * within 32 MiB; umm's layout is not randomized). A guest too small for
 * that window searches from mmap_min_addr.
 */
#define MAP_32BIT_BEGIN 0x40000000ULL
#define MAP_32BIT_END	0x80000000ULL

static long unmapped_area_32bit(struct mm *mm, uint64_t addr, uint64_t len)
{
	uint64_t end =
		mm->task_size < MAP_32BIT_END ? mm->task_size : MAP_32BIT_END;
	uint64_t begin =
		MAP_32BIT_BEGIN < end ? MAP_32BIT_BEGIN : MM_MMAP_MIN_ADDR;

	if (len > end)
		return -ENOMEM;
	if (addr && addr <= end - len && hint_fits(mm, addr, len))
		return (long)addr;
	return unmapped_area_bottomup(mm, len, begin, end);
}

/*
 * Linux's __get_unmapped_area with x86's arch_get_unmapped_area_topdown;
 * mremap places its moves here too. Context: mm->lock held.
 */
long get_unmapped_area(struct mm *mm, uint64_t addr, uint64_t len, int flags)
{
	if (len > mm->task_size)
		return -ENOMEM;
	if (flags & MAP_FIXED) {
		if (addr > mm->task_size - len)
			return -ENOMEM;
		if (addr & ~PAGE_MASK)
			return -EINVAL;
		if (addr < MM_MMAP_MIN_ADDR) /* unprivileged */
			return -EPERM;
		return (long)addr;
	}
	if (flags & MAP_32BIT)
		return unmapped_area_32bit(mm, addr, len);
	if (addr) {
		addr = PAGE_ALIGN(addr);
		/*
		 * mmap raised a low hint to mmap_min_addr already; mremap's
		 * (MREMAP_DONTUNMAP) is taken as it is, and refused there as
		 * Linux's security_mmap_addr refuses it.
		 */
		if (addr && addr <= mm->task_size - len &&
		    hint_fits(mm, addr, len))
			return addr < MM_MMAP_MIN_ADDR ? -EPERM : (long)addr;
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

/*
 * Linux's calc_vm_flag_bits: what mmap's flags ask of the vma; and umm's
 * UMM_MAP_DONTFORK, so no fork can copy the vma before an madvise could.
 */
static unsigned long calc_vm_flag_bits(int flags)
{
	unsigned long f = 0;

	if (flags & MAP_GROWSDOWN)
		f |= VM_GROWSDOWN;
	if (flags & UMM_MAP_DONTFORK)
		f |= VM_DONTCOPY;
	return f;
}

/*
 * Check the map type against the file and add what it gives to @vm_flags,
 * as do_mmap's switch does: 0, -EOPNOTSUPP, -EACCES or -EINVAL.
 */
static int mmap_type(int prot, int flags, struct file *file,
		     unsigned long *vm_flags)
{
	if (file) {
		switch (flags & MAP_TYPE_MASK) {
		case MAP_SHARED:
			/* Old callers pass junk: ignored, not refused. */
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
			/* fall through */
		case MAP_PRIVATE:
			/* Only anonymous memory grows. */
			if (*vm_flags & VM_GROWSDOWN)
				return -EINVAL;
			return 0;
		default:
			return -EINVAL;
		}
	}
	/* Linux has no MAP_SHARED_VALIDATE case here: it is -EINVAL. */
	switch (flags & MAP_TYPE_MASK) {
	case MAP_SHARED:
		if (*vm_flags & VM_GROWSDOWN)
			return -EINVAL;
		*vm_flags |= VM_SHARED | VM_MAYSHARE;
		return 0;
	case MAP_DROPPABLE:
		/*
		 * Pages the kernel may drop under pressure. umm never drops
		 * them, which is allowed; what shows is that they are not
		 * reserved and a fork wipes them. Locked, stack or hugetlb
		 * droppable memory makes no sense.
		 */
		if (flags & (MAP_LOCKED | MAP_HUGETLB))
			return -EINVAL;
		if (*vm_flags & VM_GROWSDOWN)
			return -EINVAL;
		*vm_flags |= VM_NORESERVE | VM_WIPEONFORK;
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
		file_put(anon_shared); /* the vma holds it now */
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
	/* No umm file is on hugetlbfs. */
	if (file && (flags & MAP_HUGETLB))
		return -EINVAL;
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
	vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags) |
		   VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

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
	/* Linux checks the file's size limit before the map type. */
	ret = -EOVERFLOW;
	if (file && pgoff + (len >> PAGE_SHIFT) > FILE_MAX_PAGES)
		goto out;
	err = mmap_type(prot, flags, file, &vm_flags);
	ret = err;
	if (err)
		goto out;
	if (flags & MAP_NORESERVE)
		vm_flags |= VM_NORESERVE;
	/* Linux's accountable_mapping: only the merging rules see it. */
	if ((vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE)
		vm_flags |= VM_ACCOUNT;
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
			return err; /* the first split is harmless */
		j++;
	}
	zstart = mm->vmas[i]->start;
	zend = mm->vmas[j - 1]->end;
	floor = i ? mm->vmas[i - 1]->end : 0;
	ceiling = j < mm->nr_vmas ? mm->vmas[j]->start : 1ULL << GUEST_VA_BITS;
	for (; j > i; j--) {
		vma = mm->vmas[j - 1];
		unmap_range_locked(mm, vma->start, vma->end);
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
			      VM_MAYEXEC | VM_ACCOUNT;
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
		/* Nothing left to shrink: the heap was unmapped under brk. */
		i = vma_index(mm, newbrk);
		if (i == mm->nr_vmas || mm->vmas[i]->start >= oldbrk)
			goto out;
		if (do_munmap_locked(mm, newbrk, oldbrk))
			goto out;
		mm->brk = brk;
	} else {
		/*
		 * Keep a page free below the next mapping, and a stack's
		 * guard gap, as Linux does; TASK_SIZE itself needs no page.
		 */
		i = vma_index(mm, oldbrk);
		if (i < mm->nr_vmas &&
		    vma_start_gap(mm->vmas[i]) < newbrk + PAGE_SIZE)
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
