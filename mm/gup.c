// SPDX-License-Identifier: MIT
/*
 * get_user_pages: references to the frames behind guest addresses, for the
 * kernel to read or write them through the linear map, on any mm (remote
 * GUP needs no running guest). The semantics are Linux 5.19+'s:
 *
 *  - FOLL_WRITE into a read-only vma fails, unless FOLL_FORCE and the vma
 *    is a private one that may be written (a COW mapping): then the page is
 *    copied into an exclusive anonymous page that the guest still cannot
 *    write (seed 001, the force-COW case);
 *  - a read-only FOLL_PIN of an anonymous page that may be shared, or of the
 *    zero page, first unshares it (FAULT_FLAG_UNSHARE), so the pinned frame
 *    is the one the guest keeps writing to (seed 003); so does a read-only
 *    FOLL_LONGTERM pin of a page-cache page in a private writable mapping;
 *  - a pin is a reference and a pincount; fork copies pinned pages.
 */
#include <errno.h>
#include <stdio.h>

#include "mm/internal.h"

static unsigned long unpin_bugs; /* atomic */

/* Linux's is_cow_mapping: private, and may be written. */
static bool vma_is_cow(const struct vma *vma)
{
	return (vma->flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
}

/* Linux's check_vma_flags. */
static int check_vma_flags(const struct vma *vma, unsigned int gup_flags)
{
	unsigned long f = vma->flags;

	if (gup_flags & UMM_FOLL_WRITE) {
		if (f & VM_WRITE)
			return 0;
		if (!(gup_flags & UMM_FOLL_FORCE))
			return -EFAULT;
		if (!vma_is_cow(vma))
			return -EFAULT;
		return 0;
	}
	if (f & VM_READ)
		return 0;
	if (!(gup_flags & UMM_FOLL_FORCE) || !(f & VM_MAYREAD))
		return -EFAULT;
	return 0;
}

/*
 * Does @pte give what GUP asks, as it stands? Returns 0 when it does, or
 * the FAULT_FLAG_* of the fault that would make it so.
 *
 * A PROT_NONE pte maps its frame as much as any other (pte_present): a
 * forced access got past check_vma_flags, so it follows the frame, as
 * Linux's follow_page_pte does on a vma that is not accessible. Testing
 * _PAGE_PRESENT instead sent a forced write into a private PROT_NONE page
 * that was already our own copy back to the fault handler, which refused
 * it (EFAULT), and let a forced read-only pin keep a page fork shares,
 * which the guest leaves behind on its next write.
 */
static unsigned int follow_pte(struct mm *mm, struct vma *vma, pte_t pte,
			       unsigned int gup_flags)
{
	struct page *page;

	if (!pte_present(pte))
		return (gup_flags & UMM_FOLL_WRITE) ? FAULT_FLAG_WRITE : 0;
	page = pte_special(pte) ? NULL : pfn_page(mm->mem, pte_pfn(pte));
	if (gup_flags & UMM_FOLL_WRITE) {
		if (pte_write(pte) && pte_dirty(pte))
			return 0;
		/* Linux's can_follow_write_pte: our own COWed copy. */
		if ((gup_flags & UMM_FOLL_FORCE) && !(vma->flags & VM_WRITE) &&
		    page && page_anon(page) && page_anon_exclusive(page) &&
		    pte_dirty(pte))
			return 0;
		return FAULT_FLAG_WRITE;
	}
	if (!(gup_flags & UMM_FOLL_PIN) || vma_is_shared(vma))
		return 0;
	/* A read-only pin must not see a page the guest may leave behind. */
	if (!page)
		return FAULT_FLAG_UNSHARE;
	if (page_anon(page))
		return page_anon_exclusive(page) ? 0 : FAULT_FLAG_UNSHARE;
	/*
	 * A page-cache page in a COW mapping: the guest's next write copies
	 * it. Linux's gup_must_unshare breaks COW now for a long-term pin
	 * only; a short-term pin does not promise to see later writes.
	 */
	if ((gup_flags & UMM_FOLL_LONGTERM) && vma_is_cow(vma))
		return FAULT_FLAG_UNSHARE;
	return 0;
}

/* Take GUP's reference to the frame @pte maps. */
static struct page *grab_page(struct mm *mm, pte_t pte, unsigned int flags)
{
	uint32_t pfn = pte_pfn(pte);
	struct page *page = pfn_page(mm->mem, pfn);

	if (pte_special(pte)) /* the zero page: no count to keep */
		return page;
	phys_get(mm->mem->phys, pfn);
	if (flags & UMM_FOLL_PIN)
		__atomic_add_fetch(&page->pincount, 1, __ATOMIC_ACQ_REL);
	return page;
}

/* One page: 0 with *pagep set, or -EFAULT / -ENOMEM. */
static int gup_one(struct mm *mm, uint64_t va, unsigned int gup_flags,
		   struct page **pagep)
{
	unsigned int tries;

	for (tries = 0; tries < 4; tries++) {
		struct vma *vma = vma_lookup(mm, va);
		pte_t *ptep;
		unsigned int fault;
		int err, code;

		if (!vma)
			return -EFAULT;
		err = check_vma_flags(vma, gup_flags);
		if (err)
			return err;
		/* The pte and its frame stay while its table is locked. */
		pthread_mutex_lock(mm_ptl(mm, va));
		ptep = pte_lookup(&mm->pt, va);
		fault = ptep ? follow_pte(mm, vma, *ptep, gup_flags)
			     : ((gup_flags & UMM_FOLL_WRITE) ? FAULT_FLAG_WRITE
							     : 0);
		if (ptep && pte_present(*ptep) && !fault) {
			if (pagep)
				*pagep = grab_page(mm, *ptep, gup_flags);
			pthread_mutex_unlock(mm_ptl(mm, va));
			return 0;
		}
		pthread_mutex_unlock(mm_ptl(mm, va));
		err = handle_mm_fault_locked(mm, va, fault | FAULT_FLAG_REMOTE,
					     &code);
		if (err)
			return err == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	/* Each fault makes the next follow succeed: this is a bug. */
	BUG_ON(1);
	return -EFAULT;
}

long gup_locked(struct mm *mm, uint64_t start, long nr_pages,
		unsigned int gup_flags, struct page **pages)
{
	long i;
	int err = 0;

	if (nr_pages < 0 || gup_flags & ~UMM_FOLL_ALL)
		return -EINVAL;
	if ((gup_flags & UMM_FOLL_GET) && (gup_flags & UMM_FOLL_PIN))
		return -EINVAL;
	if ((gup_flags & UMM_FOLL_LONGTERM) && !(gup_flags & UMM_FOLL_PIN))
		return -EINVAL;
	if (pages && !(gup_flags & (UMM_FOLL_GET | UMM_FOLL_PIN)))
		return -EINVAL;
	if (!nr_pages)
		return 0;
	start &= PAGE_MASK;
	if (start + ((uint64_t)nr_pages << PAGE_SHIFT) < start)
		return -EFAULT;
	for (i = 0; i < nr_pages; i++) {
		err = gup_one(mm, start + ((uint64_t)i << PAGE_SHIFT),
			      gup_flags, pages ? &pages[i] : NULL);
		if (err)
			break;
	}
	/* Pages got, or the error when the first one failed. */
	return i ? i : err;
}

long mm_gup(struct mm *mm, uint64_t start, long nr_pages,
	    unsigned int gup_flags, struct page **pages)
{
	long ret;

	/* Beside faults and other GUPs: see "Locking" in mm/internal.h. */
	mm_read_lock(mm);
	ret = gup_locked(mm, start, nr_pages, gup_flags, pages);
	mm_read_unlock(mm);
	return ret;
}

void page_put(struct page *page)
{
	struct mem *mem = page_mem(page);
	uint32_t pfn = page_pfn(mem, page);

	if (pfn != PHYS_ZERO_PFN)
		phys_put(mem->phys, pfn);
}

void page_unpin(struct page *page, bool dirty)
{
	struct mem *mem = page_mem(page);
	uint32_t pfn = page_pfn(mem, page);
	uint32_t old;

	if (pfn == PHYS_ZERO_PFN)
		return;
	/*
	 * A pinned anonymous page stays exclusive: fork copies it, a COW
	 * fault reuses it. If it is not, someone may have written to a copy
	 * the pin cannot see: the bug seed 003 is about.
	 */
	if (page_anon(page) && !page_anon_exclusive(page)) {
		__atomic_add_fetch(&unpin_bugs, 1, __ATOMIC_RELAXED);
		fprintf(stderr,
			"umm: BUG: unpinning frame %u, which is no "
			"longer anon-exclusive\n",
			pfn);
	}
	if (dirty)
		page_set(page, PG_dirty);
	old = __atomic_fetch_sub(&page->pincount, 1, __ATOMIC_ACQ_REL);
	BUG_ON(old == 0);
	phys_put(mem->phys, pfn);
}

unsigned long gup_unpin_bugs(void)
{
	return __atomic_load_n(&unpin_bugs, __ATOMIC_RELAXED);
}

void *page_kaddr(struct page *page)
{
	struct mem *mem = page_mem(page);

	return phys_kaddr(mem->phys, page_pfn(mem, page));
}
