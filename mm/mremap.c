// SPDX-License-Identifier: MIT
/*
 * mremap, as Linux 6.18's: shrink (unmap the tail), grow in place when the
 * space after the vma is free, else move (MREMAP_MAYMOVE), to a given place
 * (MREMAP_FIXED, which unmaps what is there first) or to one found as mmap
 * finds it; MREMAP_DONTUNMAP leaves the old range mapped and empty. A
 * MREMAP_FIXED move of the same size may span several vmas and the gaps
 * between them (Linux 6.17+): each vma moves on its own, the gaps kept.
 *
 * The new range passes every check mmap's does (seed 004): the task size,
 * mmap_min_addr, and, growing in place, no existing mapping.
 *
 * A move moves page-table entries, not pages: frames, map counts, pins
 * and anon-exclusive state go with the pte, file ptes of a nonlinear vma
 * keep their pgoff and protection. The host follows: the old range is
 * unmapped in one call, and what the host held there is mapped at the new
 * place in the same flush (one call per run of contiguous frames), so the
 * guest takes no fault for pages it had touched. (The host's own mremap
 * would carry its page tables along, but it leaves a hole in the window's
 * reservation to fill again and needs the old range in one host VMA: no
 * fewer calls. Mapped anew, the host refills its page tables by its own
 * fault-around, about 0.16 us a page when touched again; populating them
 * at once measured slower.)
 *
 * Context: takes mm->lock. Errors, checks and their order are Linux's; a
 * failure after the first side effect (MREMAP_FIXED's unmap of the target,
 * a shrink before a move) leaves that side effect done, as in Linux.
 */
#include <errno.h>
#include <sys/mman.h>

#include "mm/internal.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#define MREMAP_VALID (MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)

struct remap {
	struct mm *mm;
	struct vma *vma; /* holds addr; stale after any change of the tree */
	uint64_t addr, old_len, new_len, new_addr;
	int flags;
};

/* MREMAP_FIXED or MREMAP_DONTUNMAP: the mapping gets a new address. */
static bool remap_implies_new_addr(const struct remap *r)
{
	return r->flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
}

static bool remap_overlaps(const struct remap *r)
{
	return r->addr + r->old_len > r->new_addr &&
	       r->new_addr + r->new_len > r->addr;
}

/* Linux's check_mremap_params: before the lock, before any vma is seen. */
static int remap_check_params(const struct remap *r)
{
	uint64_t task_size = r->mm->task_size;

	if (r->flags & ~MREMAP_VALID)
		return -EINVAL;
	if (r->addr & ~PAGE_MASK)
		return -EINVAL;
	/* A zero old_len duplicates a shared mapping; a zero new_len is no map. */
	if (!r->new_len)
		return -EINVAL;
	if (r->new_len > task_size)
		return -EINVAL;
	if (!remap_implies_new_addr(r))
		return 0;
	if (r->new_addr > task_size - r->new_len)
		return -EINVAL;
	if (r->new_addr & ~PAGE_MASK)
		return -EINVAL;
	if (!(r->flags & MREMAP_MAYMOVE))
		return -EINVAL;
	if ((r->flags & MREMAP_DONTUNMAP) && r->old_len != r->new_len)
		return -EINVAL;
	if (remap_overlaps(r))
		return -EINVAL;
	return 0;
}

/*
 * Linux's check_prep_vma: what the vma at addr allows. Only a remap that
 * maps new space (grows or moves) needs more than a vma at addr.
 */
static int remap_check_vma(const struct remap *r)
{
	struct vma *vma = r->vma;
	uint64_t old_len = r->old_len, pgoff;

	if (!vma)
		return -EFAULT;
	if (r->new_len <= r->old_len && !remap_implies_new_addr(r))
		return 0;
	/* Duplicating a private mapping would not share a page: refused. */
	if (!old_len && !(vma->flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;
	/* A shrink may unmap across vmas; what moves is new_len of it. */
	if (r->new_len < old_len)
		old_len = r->new_len;
	if (old_len > vma->end - r->addr)
		return -EFAULT;
	if (r->new_len == old_len)
		return 0;
	pgoff = vma_pgoff(vma, r->addr);
	if (pgoff + (r->new_len >> PAGE_SHIFT) < pgoff)
		return -EINVAL;
	return 0;
}

/* munmap's own checks on [start, start+len), then the unmap. */
static int remap_unmap(struct mm *mm, uint64_t start, uint64_t len)
{
	if (start > mm->task_size || len > mm->task_size - start)
		return -EINVAL;
	if (!len)
		return -EINVAL;
	return do_munmap_locked(mm, start, start + len);
}

/* After a change of the tree: the vma holding addr again. */
static int remap_relookup(struct remap *r)
{
	r->vma = vma_lookup(r->mm, r->addr);
	return r->vma ? 0 : -EFAULT;
}

/* ---- moving page-table entries ---- */

struct move_arg {
	struct mm *mm;
	uint64_t old_addr, new_addr;
};

static int alloc_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	(void)ptes, (void)va, (void)nr, (void)arg;
	return 0;
}

/*
 * Move each pte of a table's run to its new address. The new ptes are
 * unknown to the host there: a page the host held at the old address
 * (or was about to) is marked new, so that the flush maps it at once.
 */
static int move_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	struct move_arg *m = arg;
	unsigned int i;

	for (i = 0; i < nr; i++, va += PAGE_SIZE) {
		pte_t pte = ptes[i], *dst;
		bool held;

		if (pte_none(pte))
			continue;
		dst = pte_lookup(&m->mm->pt, va - m->old_addr + m->new_addr);
		BUG_ON(!dst || !pte_none(*dst));
		held = pte_present(pte) && pte_young(pte) &&
		       ((pte & (_PAGE_HOST | _PAGE_MAYHOST)) ||
			pte_changed(pte));
		pte &= ~(_PAGE_CHG_BITS | _PAGE_HOST | _PAGE_MAYHOST);
		if (held)
			pte |= _PAGE_NEWPAGE;
		set_pte(dst, pte);
		set_pte(&ptes[i], 0);
	}
	return 0;
}

/*
 * Linux's copy_vma: the vma for [new_addr, new_addr+new_len), merged with
 * its new neighbours where it can. An anonymous vma that never had a page
 * takes the pgoff of its new place (and so merges as a fresh mapping
 * would); one with pages keeps its pages' index. Returns its index or
 * -ENOMEM.
 */
static long copy_vma(struct remap *r)
{
	struct vma *vma = r->vma, *new;
	uint64_t pgoff = vma_pgoff(vma, r->addr);
	int err;

	if (vma_is_anon(vma) && !vma->anon_vma)
		pgoff = r->new_addr >> PAGE_SHIFT;
	new = vma_new(r->mm, r->new_addr, r->new_addr + r->new_len, vma->flags,
		      vma->file, pgoff);
	if (!new)
		return -ENOMEM;
	new->anon_vma = vma->anon_vma;
	new->anon_forked = vma->anon_forked;
	err = vma_insert(r->mm, new);
	if (err) {
		vma_free(new);
		return err;
	}
	return vma_merge(r->mm, vma_index(r->mm, r->new_addr));
}

/*
 * Linux's move_vma: copy the vma, move its ptes, then unmap the old range
 * (MREMAP_DONTUNMAP: empty it, the vma stays). Returns the new address.
 */
static long move_vma(struct remap *r)
{
	struct mm *mm = r->mm;
	struct move_arg m = {mm, r->addr, r->new_addr};
	uint64_t old_end = r->addr + r->old_len;
	bool whole = r->vma->start == r->addr && r->vma->end == old_end;
	long ret;
	int err;

	/* The copy may not merge and the unmap may split: two more vmas. */
	if (mm->nr_vmas + 2 > MM_MAX_MAP_COUNT)
		return -ENOMEM;
	/* Tables first, so that nothing can fail once ptes move. */
	err = pgtable_walk(&mm->pt, r->new_addr, r->new_addr + r->old_len, true,
			   alloc_ptes, NULL);
	if (err)
		return err;
	ret = copy_vma(r);
	if (ret < 0)
		return ret;
	r->vma = NULL; /* the copy may have merged with it */
	pgtable_walk(&mm->pt, r->addr, old_end, false, move_ptes, &m);
	tlb_update_range(&mm->pt, mm->as, r->new_addr, r->new_addr + r->old_len,
			 0);
	if (!(r->flags & MREMAP_DONTUNMAP)) {
		/* Nothing is left to zap: this unmaps vmas and the host. */
		if (r->old_len)
			do_munmap_locked(mm, r->addr, old_end);
		return (long)r->new_addr;
	}
	tlb_zap_range(&mm->pt, mm->as, r->addr, old_end);
	/*
	 * Linux's dontunmap_complete: a vma whose every page went keeps no
	 * anon_vma (unlink_anon_vmas), and merges as a fresh one again.
	 */
	if (whole && remap_relookup(r) == 0 && r->vma->start == r->addr &&
	    r->vma->end == old_end) {
		r->vma->anon_vma = 0;
		r->vma->anon_forked = false;
	}
	return (long)r->new_addr;
}

/* Linux's vrm_set_new_addr: where mmap would put it (hint or fixed). */
static int remap_set_new_addr(struct remap *r)
{
	uint64_t hint = remap_implies_new_addr(r) ? r->new_addr : 0;
	long ret = get_unmapped_area(r->mm, hint, r->new_len,
				     (r->flags & MREMAP_FIXED) ? MAP_FIXED : 0);

	if (ret < 0)
		return (int)ret;
	r->new_addr = (uint64_t)ret;
	return 0;
}

/* Linux's mremap_to: a move to a new address (given or found). */
static long mremap_to(struct remap *r)
{
	int err;

	if (r->flags & MREMAP_FIXED) {
		/* The target goes first, as MAP_FIXED's does, then checks. */
		err = remap_unmap(r->mm, r->new_addr, r->new_len);
		if (err)
			return err;
		err = remap_relookup(r);
		if (err)
			return err;
	}
	if (r->new_len < r->old_len) {
		err = remap_unmap(r->mm, r->addr + r->new_len,
				  r->old_len - r->new_len);
		if (err)
			return err;
		err = remap_relookup(r);
		if (err)
			return err;
		r->old_len = r->new_len;
	}
	err = remap_set_new_addr(r);
	if (err)
		return err;
	return move_vma(r);
}

/*
 * Can the vma grow by @delta where it is? Nothing mapped in the way, and
 * the whole of it as a MAP_FIXED mmap would accept it (task size,
 * mmap_min_addr): Linux's vma_expandable.
 */
static bool vma_expandable(struct mm *mm, struct vma *vma, uint64_t delta)
{
	uint64_t end = vma->end + delta;
	unsigned int i;

	if (end < vma->end)
		return false;
	i = vma_index(mm, vma->end);
	if (i < mm->nr_vmas && mm->vmas[i]->start < end)
		return false;
	return get_unmapped_area(mm, vma->start, end - vma->start, MAP_FIXED) >=
	       0;
}

/* Grow in place if the range ends the vma and the space after is free. */
static long expand_vma(struct remap *r)
{
	struct vma *vma = r->vma;
	uint64_t delta = r->new_len - r->old_len;
	int err;

	if (vma->end - r->addr == r->old_len &&
	    vma_expandable(r->mm, vma, delta)) {
		vma->end += delta;
		vma_merge(r->mm, vma_index(r->mm, vma->start));
		return (long)r->addr;
	}
	if (!(r->flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	err = remap_set_new_addr(r);
	if (err)
		return err;
	return move_vma(r);
}

/* Linux's mremap_at: resize where it is, or move when it must and may. */
static long mremap_at(struct remap *r)
{
	int err;

	if (r->new_len == r->old_len)
		return (long)r->addr;
	if (r->new_len < r->old_len) {
		err = remap_unmap(r->mm, r->addr + r->new_len,
				  r->old_len - r->new_len);
		return err ? err : (long)r->addr;
	}
	return expand_vma(r);
}

/*
 * Linux's remap_move: MREMAP_FIXED without a change of size moves every
 * vma in [addr, addr+old_len), each to the same offset from new_addr, so
 * the gaps between them are kept. A gap at the start: -EFAULT. Returns
 * where the first went; an error stops it after the vmas already moved.
 */
static long remap_move(struct remap *r)
{
	uint64_t start = r->addr, end = r->addr + r->old_len;
	uint64_t target = r->new_addr, last_end = 0;
	long ret = -EFAULT, moved;
	bool seen = false;
	unsigned int i = vma_index(r->mm, start);

	while (i < r->mm->nr_vmas && r->mm->vmas[i]->start < end) {
		struct vma *vma = r->mm->vmas[i];
		uint64_t addr = vma->start > start ? vma->start : start;
		uint64_t len = (vma->end < end ? vma->end : end) - addr;
		int err;

		if (!seen && start < vma->start)
			return -EFAULT;
		if (seen)
			target += vma->start - last_end;
		last_end = vma->end;
		r->vma = vma;
		r->addr = addr;
		r->new_addr = target;
		r->old_len = r->new_len = len;
		err = remap_check_vma(r);
		if (err)
			return err;
		moved = mremap_to(r);
		if (moved < 0)
			return moved;
		if (!seen)
			ret = moved;
		seen = true;
		target = (uint64_t)moved + len;
		/* On past the vma as it was: DONTUNMAP leaves it in place. */
		i = vma_index(r->mm, last_end);
	}
	return ret;
}

long mm_mremap(struct mm *mm, uint64_t addr, uint64_t old_len, uint64_t new_len,
	       int flags, uint64_t new_addr)
{
	struct remap r = {
		.mm = mm,
		.addr = addr,
		.old_len = PAGE_ALIGN(old_len),
		.new_len = PAGE_ALIGN(new_len),
		.new_addr = new_addr,
		.flags = flags,
	};
	long ret;

	ret = remap_check_params(&r);
	if (ret)
		return ret;
	mm_lock(mm);
	/* Room for the worst case: both unmaps and the move split. */
	ret = -ENOMEM;
	if (mm->nr_vmas + 4 > MM_MAX_MAP_COUNT)
		goto out;
	if ((flags & MREMAP_FIXED) && r.old_len == r.new_len) {
		ret = remap_move(&r);
		goto out;
	}
	r.vma = vma_lookup(mm, addr);
	ret = remap_check_vma(&r);
	if (ret)
		goto out;
	ret = remap_implies_new_addr(&r) ? mremap_to(&r) : mremap_at(&r);
out:
	mm_sync_locked(mm);
	mm_unlock(mm);
	return ret;
}
