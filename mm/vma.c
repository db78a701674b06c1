// SPDX-License-Identifier: MIT
/*
 * The vma tree: a sorted array of disjoint vmas, searched by bisection.
 * Lookups are O(log n), inserts and removals move pointers: cheap for the
 * few thousand vmas a guest has, and simple to walk in order.
 *
 * Context for everything here: mm->lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"

int vma_guest_prot(const struct vma *vma)
{
	int prot = 0;

	if (vma->flags & VM_READ)
		prot |= PROT_READ;
	if (vma->flags & VM_WRITE)
		prot |= PROT_WRITE;
	if (vma->flags & VM_EXEC)
		prot |= PROT_EXEC;
	return prot;
}

pte_t vma_pte_prot(unsigned long vm_flags, bool writable_page)
{
	int prot = 0;

	if (vm_flags & VM_READ)
		prot |= PROT_READ;
	if (vm_flags & VM_EXEC)
		prot |= PROT_EXEC;
	/* Private writable pages start write-protected: copy on write. */
	if ((vm_flags & VM_WRITE) && ((vm_flags & VM_SHARED) || writable_page))
		prot |= PROT_WRITE;
	else if (vm_flags & VM_WRITE)
		prot |= PROT_READ;
	return pte_prot_bits(prot);
}

unsigned int vma_index(struct mm *mm, uint64_t addr)
{
	unsigned int lo = 0, hi = mm->nr_vmas;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct vma *vma_lookup(struct mm *mm, uint64_t addr)
{
	unsigned int i = vma_index(mm, addr);

	if (i < mm->nr_vmas && mm->vmas[i]->start <= addr)
		return mm->vmas[i];
	return NULL;
}

struct vma *vma_new(struct mm *mm, uint64_t start, uint64_t end,
		    unsigned long flags, struct file *file, uint64_t pgoff)
{
	struct vma *vma = calloc(1, sizeof(*vma));

	if (!vma)
		return NULL;
	vma->start = start;
	vma->end = end;
	vma->flags = flags;
	vma->pgoff = pgoff;
	vma->mm = mm;
	if (file) {
		file_get(file);
		vma->file = file;
	}
	return vma;
}

void vma_free(struct vma *vma)
{
	if (vma->file)
		file_put(vma->file);
	free(vma);
}

static int vmas_reserve(struct mm *mm)
{
	struct vma **v;
	unsigned int cap;

	if (mm->nr_vmas < mm->cap_vmas)
		return 0;
	cap = mm->cap_vmas ? 2 * mm->cap_vmas : 16;
	v = realloc(mm->vmas, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	mm->vmas = v;
	mm->cap_vmas = cap;
	return 0;
}

int vma_insert(struct mm *mm, struct vma *vma)
{
	unsigned int i;

	if (vmas_reserve(mm))
		return -ENOMEM;
	i = vma_index(mm, vma->start);
	BUG_ON(i < mm->nr_vmas && mm->vmas[i]->start < vma->end);
	memmove(&mm->vmas[i + 1], &mm->vmas[i],
		(mm->nr_vmas - i) * sizeof(*mm->vmas));
	mm->vmas[i] = vma;
	mm->nr_vmas++;
	if (vma->file)
		file_link_vma(vma->file, vma);
	return 0;
}

void vma_remove(struct mm *mm, unsigned int idx)
{
	struct vma *vma = mm->vmas[idx];

	if (vma->file)
		file_unlink_vma(vma->file, vma);
	memmove(&mm->vmas[idx], &mm->vmas[idx + 1],
		(mm->nr_vmas - idx - 1) * sizeof(*mm->vmas));
	mm->nr_vmas--;
	vma_free(vma);
}

/*
 *    [ vma              )          [ vma   )[ new       )
 *    start    addr      end   ->   start   addr         end
 */
int vma_split(struct mm *mm, unsigned int idx, uint64_t addr)
{
	struct vma *vma = mm->vmas[idx];
	struct vma *new;

	BUG_ON(addr <= vma->start || addr >= vma->end || addr & ~PAGE_MASK);
	if (vmas_reserve(mm))
		return -ENOMEM;
	new = vma_new(mm, addr, vma->end, vma->flags, vma->file,
		      vma_pgoff(vma, addr));
	if (!new)
		return -ENOMEM;
	vma->end = addr;
	memmove(&mm->vmas[idx + 2], &mm->vmas[idx + 1],
		(mm->nr_vmas - idx - 1) * sizeof(*mm->vmas));
	mm->vmas[idx + 1] = new;
	mm->nr_vmas++;
	if (new->file)
		file_link_vma(new->file, new);
	return 0;
}

static bool vma_can_merge(const struct vma *a, const struct vma *b)
{
	if (a->end != b->start || a->flags != b->flags || a->file != b->file)
		return false;
	return vma_pgoff(a, a->end) == b->pgoff || !a->file;
}

unsigned int vma_merge(struct mm *mm, unsigned int idx)
{
	if (idx + 1 < mm->nr_vmas &&
	    vma_can_merge(mm->vmas[idx], mm->vmas[idx + 1])) {
		mm->vmas[idx]->end = mm->vmas[idx + 1]->end;
		vma_remove(mm, idx + 1);
	}
	if (idx > 0 && vma_can_merge(mm->vmas[idx - 1], mm->vmas[idx])) {
		mm->vmas[idx - 1]->end = mm->vmas[idx]->end;
		vma_remove(mm, idx);
		idx--;
	}
	return idx;
}

/*
 * Split the vma at *@idx so that [start, end), which lies within it, is a
 * vma of its own, at *@idx on return. 0 or -ENOMEM (a split past the map
 * count); the first split stays when the second fails, which is harmless.
 */
int vma_isolate(struct mm *mm, unsigned int *idx, uint64_t start, uint64_t end)
{
	struct vma *vma = mm->vmas[*idx];
	int err;

	if (vma->start < start) {
		if (mm->nr_vmas >= MM_MAX_MAP_COUNT)
			return -ENOMEM;
		err = vma_split(mm, *idx, start);
		if (err)
			return err;
		vma = mm->vmas[++*idx];
	}
	if (end < vma->end) {
		if (mm->nr_vmas >= MM_MAX_MAP_COUNT)
			return -ENOMEM;
		err = vma_split(mm, *idx, end);
		if (err)
			return err;
	}
	return 0;
}
