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
	new->anon_vma = vma->anon_vma;
	new->anon_forked = vma->anon_forked;
	vma->end = addr;
	memmove(&mm->vmas[idx + 2], &mm->vmas[idx + 1],
		(mm->nr_vmas - idx - 1) * sizeof(*mm->vmas));
	mm->vmas[idx + 1] = new;
	mm->nr_vmas++;
	if (new->file)
		file_link_vma(new->file, new);
	return 0;
}

/*
 * May vmas with these anon_vmas become one? When they share one, or when
 * one has none and the other's is not a fork's (Linux 6.16+'s
 * is_mergeable_anon_vma and are_anon_vmas_compatible).
 */
static bool anon_vmas_compatible(const struct vma *a, const struct vma *b)
{
	if (a->anon_vma == b->anon_vma)
		return true;
	if (a->anon_vma && b->anon_vma)
		return false;
	return !(a->anon_vma && a->anon_forked) &&
	       !(b->anon_vma && b->anon_forked);
}

/*
 * Anonymous vmas check pgoff too, as Linux's do: it is start >> 12 until
 * mremap moves a vma that has pages, so a moved vma merges again only
 * where its pages' index lines up (back where it came from).
 */
static bool vma_can_merge(const struct vma *a, const struct vma *b)
{
	if (a->end != b->start || a->flags != b->flags || a->file != b->file)
		return false;
	if (!anon_vmas_compatible(a, b))
		return false;
	return vma_pgoff(a, a->end) == b->pgoff;
}

/* Make the vma at @idx and the next one a single vma. */
static void vma_join(struct mm *mm, unsigned int idx)
{
	struct vma *a = mm->vmas[idx], *b = mm->vmas[idx + 1];

	a->end = b->end;
	if (!a->anon_vma) {
		a->anon_vma = b->anon_vma;
		a->anon_forked = b->anon_forked;
	}
	vma_remove(mm, idx + 1);
}

/*
 * Both neighbours merge only if their anon_vmas agree too; else the one
 * before wins, as in Linux's vma_merge_new_range.
 */
unsigned int vma_merge(struct mm *mm, unsigned int idx)
{
	struct vma *vma = mm->vmas[idx];
	struct vma *prev = idx > 0 ? mm->vmas[idx - 1] : NULL;
	struct vma *next = idx + 1 < mm->nr_vmas ? mm->vmas[idx + 1] : NULL;
	bool left = prev && vma_can_merge(prev, vma);
	bool right = next && vma_can_merge(vma, next);

	if (left && right && !anon_vmas_compatible(prev, next))
		right = false;
	if (right)
		vma_join(mm, idx);
	if (left) {
		vma_join(mm, idx - 1);
		idx--;
	}
	return idx;
}

uint64_t anon_vma_new_id(void)
{
	static uint64_t last;

	return __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

/*
 * Could @a (just below @b) and @b share an anon_vma? Linux's
 * anon_vma_compatible: touching, the same file, flags equal but for
 * access, pages' index in line.
 */
static bool anon_vma_shareable(const struct vma *a, const struct vma *b)
{
	return a->end == b->start && a->file == b->file &&
	       !((a->flags ^ b->flags) & ~VM_ACCESS_FLAGS) &&
	       b->pgoff == vma_pgoff(a, b->start);
}

/*
 * A neighbour's anon_vma @vma may take, or 0: Linux's
 * find_mergeable_anon_vma, the next vma first, then the one before.
 * Context: as below.
 */
static uint64_t anon_vma_nearby(struct mm *mm, struct vma *vma)
{
	unsigned int i = vma_index(mm, vma->start);
	struct vma *n;

	BUG_ON(i >= mm->nr_vmas || mm->vmas[i] != vma);
	n = i + 1 < mm->nr_vmas ? mm->vmas[i + 1] : NULL;
	if (n && n->anon_vma && !n->anon_forked && anon_vma_shareable(vma, n))
		return n->anon_vma;
	n = i > 0 ? mm->vmas[i - 1] : NULL;
	if (n && n->anon_vma && !n->anon_forked && anon_vma_shareable(n, vma))
		return n->anon_vma;
	return 0;
}

/*
 * Faults beside each other set anon_vma under anon_lock (and read it
 * atomically outside it); a writer has the vmas to itself.
 */
void vma_anon_prepare(struct mm *mm, struct vma *vma)
{
	uint64_t id;

	if (__atomic_load_n(&vma->anon_vma, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&mm->anon_lock);
	if (!vma->anon_vma) {
		id = anon_vma_nearby(mm, vma);
		__atomic_store_n(&vma->anon_vma, id ? id : anon_vma_new_id(),
				 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&mm->anon_lock);
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
