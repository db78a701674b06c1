// SPDX-License-Identifier: MIT
/*
 * remap_file_pages: nonlinear file mappings, as Linux had them before 4.0,
 * and the per-page protections UML asked for (seed 002).
 *
 * A remap writes ptes and nothing else: each page of the range gets the
 * file page it now maps, present when the page is in the file's cache (or
 * is brought there: no MAP_NONBLOCK), else as a "file pte" that keeps the
 * pgoff and protection for the fault to come. The vma becomes VM_NONLINEAR
 * (and VM_MANYPROTS when a page may differ in protection from its vma).
 *
 * Host work is deferred and merged like any other. The host only hears of
 * a remap where it may hold the old page (_PAGE_HOST, or _PAGE_MAYHOST
 * after a reset). Without MAP_NONBLOCK it then maps the new page in its place and fills its page tables, as the
 * host's own remap_file_pages populates: one call, merged with its
 * neighbours', and no fault when the guest goes on to use the page. With
 * MAP_NONBLOCK it only drops the old page. Elsewhere the new pte is present
 * but not accessed, or a file pte, and the host learns of it at the first
 * touch: remapping pages the guest has not touched since costs no host call
 * at all.
 *
 * Context: takes mm->lock.
 */
#include <errno.h>
#include <sys/mman.h>

#include "mm/internal.h"
#include "include/umm.h"

#ifndef MAP_NONBLOCK
#define MAP_NONBLOCK 0x10000
#endif

/* May the vma ever allow @prot (its VM_MAY* bits)? */
static bool vma_may(const struct vma *vma, int prot)
{
	if ((prot & PROT_READ) && !(vma->flags & VM_MAYREAD))
		return false;
	if ((prot & PROT_WRITE) && !(vma->flags & VM_MAYWRITE))
		return false;
	if ((prot & PROT_EXEC) && !(vma->flags & VM_MAYEXEC))
		return false;
	return true;
}

/*
 * Point the pte at @va to file page @pgoff with @prot. The page it held is
 * dropped (after the sync); the host is told only if it held one.
 */
static int remap_one(struct mm *mm, struct vma *vma, uint64_t va,
		     uint64_t pgoff, int prot, bool populate, bool *was_held)
{
	pte_t *ptep = pte_alloc(&mm->pt, va);
	pte_t old, new;
	uint32_t pfn;
	bool held;

	if (!ptep)
		return -ENOMEM;
	old = *ptep;
	if (pte_present(old) && !pte_special(old)) {
		page_remove_map(mm->mem, pte_pfn(old));
		gather_add(&mm->gather, pte_pfn(old));
	}
	held = pte_present(old) &&
	       ((old & (_PAGE_HOST | _PAGE_MAYHOST)) || pte_changed(old));
	new = pgoff_to_pte(pgoff, prot);
	/* Populate errors are ignored, as mmap's are: the fault reports. */
	if (populate && !file_get_page(vma->file, pgoff, &pfn)) {
		page_add_map(mm->mem, pfn);
		new = pte_mk(pfn, pte_prot_bits(prot)) & ~_PAGE_CHG_BITS;
		/*
		 * The host must let go of the old page now: it may as well
		 * take the new one in the same call (marked accessed, as the
		 * hardware would on the access that comes next), sparing the
		 * guest a fault on it.
		 */
		if (held)
			new |= _PAGE_ACCESSED;
	}
	if (held)
		new |= _PAGE_NEWPAGE;
	set_pte(ptep, new);
	*was_held = held;
	return 0;
}

/*
 * Linux drops VM_SHARED from a MAP_SHARED mapping of a file it may not
 * write (VM_MAYSHARE stays): its legacy call refuses it. MANYPROTS takes
 * it, a mapping the guest made shared, so that its missing VM_MAYWRITE
 * means -EPERM for PROT_WRITE.
 */
static int remap_check(struct vma *vma, uint64_t start, uint64_t end, int prot,
		       int flags)
{
	unsigned long shared =
		(flags & UMM_MAP_MANYPROTS) ? VM_MAYSHARE : VM_SHARED;

	if (!vma || !vma->file || !(vma->flags & shared))
		return -EINVAL;
	if (start < vma->start || end > vma->end)
		return -EINVAL;
	if ((flags & UMM_MAP_MANYPROTS) && !vma_may(vma, prot))
		return -EPERM;
	return 0;
}

/*
 * Where the host may hold old pages a call replaces: the first and last of
 * them in one vma, and how many. With UMM_REMAP_FLUSH, past
 * REMAP_DROP_CEILING in one call, the host drops the span instead of
 * replacing each page, as a TLB flushes itself whole past a ceiling (x86
 * Linux's is 33 pages).
 */
#define REMAP_DROP_CEILING 32
#define REMAP_SPANS	   8

struct remap_span {
	struct vma *vma;
	uint64_t lo, hi; /* [lo, hi) */
	unsigned int nr;
};

struct remap_spans {
	struct remap_span s[REMAP_SPANS];
	unsigned int nr;
};

static void span_add(struct remap_spans *sp, struct vma *vma, uint64_t va)
{
	struct remap_span *s;
	unsigned int i;

	for (i = 0; i < sp->nr && sp->s[i].vma != vma; i++)
		;
	if (i == sp->nr) {
		if (sp->nr == REMAP_SPANS)
			return; /* that vma's pages are replaced one by one */
		sp->s[sp->nr++] = (struct remap_span){vma, va, va, 0};
	}
	s = &sp->s[i];
	if (va < s->lo)
		s->lo = va;
	if (va + PAGE_SIZE > s->hi)
		s->hi = va + PAGE_SIZE;
	s->nr++;
}

/* The host will hold none of these pages: nothing to tell it of them. */
static int forget_host(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	unsigned int i;

	(void)va;
	(void)arg;
	for (i = 0; i < nr; i++)
		if (ptes[i] & (_PAGE_HOST | _PAGE_MAYHOST | _PAGE_CHG_BITS))
			set_pte(&ptes[i],
				ptes[i] & ~(_PAGE_HOST | _PAGE_MAYHOST |
					    _PAGE_CHG_BITS));
	return 0;
}

/* Drop the spans past the ceiling: one host call each. */
static void drop_spans(struct mm *mm, const struct remap_spans *sp)
{
	unsigned int i;

	for (i = 0; i < sp->nr; i++) {
		const struct remap_span *s = &sp->s[i];

		if (s->nr < REMAP_DROP_CEILING)
			continue;
		tlb_zap_range(&mm->pt, mm->as, s->lo, s->hi);
		pgtable_walk(&mm->pt, s->lo, s->hi, false, forget_host, NULL);
		count_event(mm, remap_drops, 1);
	}
}

/*
 * One range's checks and ptes; the host is told by the caller. A page the
 * host may hold goes into @sp. Context: mm->lock held for writing.
 */
static int remap_locked(struct mm *mm, uint64_t start, uint64_t size, int prot,
			uint64_t pgoff, int flags, struct remap_spans *sp)
{
	bool manyprots = flags & UMM_MAP_MANYPROTS, held;
	uint64_t end, va, nr;
	struct vma *vma;
	int err = 0;

	if (manyprots ? (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) : prot)
		return -EINVAL;
	start &= PAGE_MASK;
	size &= PAGE_MASK;
	end = start + size;
	nr = size >> PAGE_SHIFT;
	if (end <= start || pgoff + nr < pgoff)
		return -EINVAL;
	vma = vma_lookup(mm, start);
	err = remap_check(vma, start, end, prot, flags);
	/* After the vma's checks, as the host's emulation judges a range. */
	if (!err && pgoff + nr > (1ULL << PTE_FILE_MAX_BITS))
		err = -EOVERFLOW;
	if (err)
		return err;
	if (!manyprots)
		prot = vma_guest_prot(vma);
	/* A remap that changes nothing Linux would see leaves it linear. */
	if (pgoff != vma_pgoff(vma, start) || manyprots)
		vma->flags |= VM_NONLINEAR;
	if (manyprots && prot != vma_guest_prot(vma))
		vma->flags |= VM_MANYPROTS;
	for (va = start; va < end && !err; va += PAGE_SIZE, pgoff++) {
		err = remap_one(mm, vma, va, pgoff, prot,
				!(flags & MAP_NONBLOCK), &held);
		if (!err && held && sp)
			span_add(sp, vma, va);
	}
	return err;
}

static unsigned int tlb_flags(int flags)
{
	return (flags & MAP_NONBLOCK) ? 0 : TLB_POPULATE;
}

int mm_remap_file_pages(struct mm *mm, uint64_t start, uint64_t size, int prot,
			uint64_t pgoff, int flags)
{
	struct umm_remap r = {start, size, pgoff, prot};
	long n = mm_remap_file_pages_many(mm, &r, 1, flags & ~UMM_REMAP_FLUSH);

	return n == 1 ? 0 : (int)n;
}

long mm_remap_file_pages_many(struct mm *mm, const struct umm_remap *r,
			      unsigned int nr, int flags)
{
	struct remap_spans sp = {.nr = 0};
	unsigned int i, done, touched;
	int err = 0;

	mm_lock(mm);
	for (done = 0; done < nr; done++) {
		err = remap_locked(mm, r[done].start, r[done].size,
				   r[done].prot, r[done].pgoff, flags,
				   (flags & UMM_REMAP_FLUSH) ? &sp : NULL);
		if (err)
			break;
	}
	/* A range that failed part way (-ENOMEM) has ptes to tell of too. */
	touched = done + (err == -ENOMEM);
	if (flags & UMM_REMAP_FLUSH)
		drop_spans(mm, &sp);
	for (i = 0; i < touched; i++)
		tlb_update_range(&mm->pt, mm->as, r[i].start & PAGE_MASK,
				 (r[i].start & PAGE_MASK) +
					 (r[i].size & PAGE_MASK),
				 tlb_flags(flags));
	mm_sync_locked(mm);
	mm_unlock(mm);
	return done || !err ? (long)done : err;
}
