// SPDX-License-Identifier: MIT
/*
 * The fault path and the unmapping of pages.
 *
 * A guest fault is handled in three steps: judge the access against the vma,
 * fix the pte (allocate, share, copy, or only mark it accessed/dirty), then
 * queue host operations for the block of ptes around it (fault-around) so
 * the neighbours need no fault of their own. The caller syncs.
 *
 * Anonymous write faults allocate frames for every empty (or zero-page) pte
 * of the aligned fault-around block at once, contiguous in the file so the
 * host maps the whole block with one mmap and fills its page tables then
 * (MAP_POPULATE): a host fault costs more than the allocation it saves.
 *
 * Context for everything here: mm->lock held. A fault may run under the
 * read lock, beside others (see "Locking" in mm/internal.h): it changes
 * ptes of its own pte table only, under that table's lock, and carries
 * out its host operations before dropping it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "mm/internal.h"

struct fault {
	struct mm *mm;
	struct vma *vma;
	uint64_t va;
	unsigned int flags; /* FAULT_FLAG_* */
	bool shared; /* under the mm's read lock: beside other faults */
	pte_t *ptep;
	/* the fault-around block: [start, end), ptes[0] maps start */
	uint64_t start, end;
	pte_t *ptes;
	struct gather *gather; /* frames to drop after the host sync */
};

/*
 * The pte of @va, a neighbour of the fault's page in its vma, for the
 * guesses below (0 when there is none). Beside other faults, a neighbour
 * in another pte table is read under that table's lock if it is free at
 * once, else taken as none: the lock order has no place for two.
 */
static pte_t neighbour_pte(struct fault *vmf, uint64_t va)
{
	pthread_mutex_t *ptl = mm_ptl(vmf->mm, va);
	bool other;
	pte_t *p, pte;

	if (va < vmf->vma->start || va >= vmf->vma->end)
		return 0;
	other = vmf->shared && ptl != mm_ptl(vmf->mm, vmf->va);
	if (other && pthread_mutex_trylock(ptl))
		return 0;
	p = pte_lookup(&vmf->mm->pt, va);
	pte = p ? *p : 0;
	if (other)
		pthread_mutex_unlock(ptl);
	return pte;
}

static void fault_block(struct fault *vmf)
{
	uint64_t size = (uint64_t)vmf->mm->fault_around << PAGE_SHIFT;

	vmf->start = vmf->va & ~(size - 1);
	vmf->end = vmf->start + size;
	if (vmf->start < vmf->vma->start)
		vmf->start = vmf->vma->start;
	if (vmf->end > vmf->vma->end)
		vmf->end = vmf->vma->end;
	/* The block lies within one pte table: size <= 512 pages, aligned. */
	vmf->ptes = vmf->ptep - ((vmf->va - vmf->start) >> PAGE_SHIFT);
}

static unsigned int block_pages(const struct fault *vmf)
{
	return (unsigned int)((vmf->end - vmf->start) >> PAGE_SHIFT);
}

static bool pte_is_zero_page(pte_t pte)
{
	return pte_present(pte) && pte_special(pte) &&
	       pte_pfn(pte) == PHYS_ZERO_PFN;
}

/* A frame to follow the page before @va, so runs stay contiguous. */
static uint32_t anon_hint(struct fault *vmf, unsigned int idx)
{
	uint64_t va = vmf->start + ((uint64_t)idx << PAGE_SHIFT);
	pte_t prev;

	if (va <= vmf->vma->start)
		return 0;
	prev = idx ? vmf->ptes[idx - 1] : neighbour_pte(vmf, va - PAGE_SIZE);
	if (!pte_present(prev) || pte_special(prev))
		return 0;
	return pte_pfn(prev) + 1;
}

/* Install a fresh anonymous frame at @ptep. */
static void set_anon_pte(struct fault *vmf, pte_t *ptep, uint32_t pfn,
			 pte_t prot)
{
	page_new_anon(vmf->mm->mem, pfn);
	page_add_map(vmf->mm->mem, pfn);
	set_pte(ptep, pte_mk(pfn, prot));
}

/* Does @va hold a page of its own (not none, not the zero page)? */
static bool anon_page_at(struct fault *vmf, uint64_t va)
{
	pte_t p = neighbour_pte(vmf, va);

	return pte_present(p) && !pte_is_zero_page(p);
}

/*
 * Is the guest writing its way through the region (a neighbour already
 * has its page)? Then the whole block is worth its frames now. A write
 * off on its own gets one page, as on Linux: no zeroing of pages nobody
 * may touch, and no frame the guest never asked for. A region written
 * from its start takes one fault more than it would with blocks from the
 * first page, a region touched once (mmap2) sixteen pages less. (A block
 * is cheaper than its pages' faults once about five of its sixteen pages
 * are used: sequential writes fill it, writes scattered at random often
 * do not.)
 */
static bool anon_streaming(struct fault *vmf)
{
	uint64_t va = vmf->va & PAGE_MASK;

	return anon_page_at(vmf, va - PAGE_SIZE) ||
	       anon_page_at(vmf, va + PAGE_SIZE);
}

/*
 * Write to an anonymous page that is empty or the zero page: a fresh frame
 * for it and, when the guest streams, for every such pte of the block.
 * Returns 0 or -ENOMEM.
 */
static int do_anonymous_write(struct fault *vmf)
{
	unsigned int i, n = 0, want = 0, first = ~0U, got;
	uint32_t pfns[PTRS_PER_TABLE];
	pte_t prot = vma_pte_prot(vmf->vma->flags, true) | _PAGE_ACCESSED |
		     _PAGE_DIRTY;

	vma_anon_prepare(vmf->mm, vmf->vma);
	if (!anon_streaming(vmf)) {
		unsigned int idx =
			(unsigned int)((vmf->va - vmf->start) >> PAGE_SHIFT);

		if (!phys_alloc(vmf->mm->mem->phys, anon_hint(vmf, idx), 1,
				pfns))
			return -ENOMEM;
		set_anon_pte(vmf, vmf->ptep, pfns[0], prot);
		count_event(vmf->mm, fault_anon, 1);
		return 0;
	}
	for (i = 0; i < block_pages(vmf); i++) {
		pte_t pte = vmf->ptes[i];

		if (pte_none(pte) || pte_is_zero_page(pte)) {
			if (first == ~0U)
				first = i;
			want++;
		}
	}
	got = phys_alloc(vmf->mm->mem->phys, anon_hint(vmf, first), want, pfns);
	if (got < want) {
		/* Memory is short: only the page the guest touched. */
		if (got > 1)
			phys_put_many(vmf->mm->mem->phys, pfns + 1, got - 1);
		if (!got)
			return -ENOMEM;
		set_anon_pte(vmf, vmf->ptep, pfns[0], prot);
		count_event(vmf->mm, fault_anon, 1);
		return 0;
	}
	for (i = 0; i < block_pages(vmf); i++) {
		pte_t pte = vmf->ptes[i];

		if (!pte_none(pte) && !pte_is_zero_page(pte))
			continue;
		set_anon_pte(vmf, &vmf->ptes[i], pfns[n++], prot);
	}
	count_event(vmf->mm, fault_anon, 1);
	count_event(vmf->mm, pages_faulted_around, got - 1);
	return 0;
}

/* Read of an empty anonymous page: the zero page, for the block. */
static void do_anonymous_read(struct fault *vmf)
{
	pte_t zero = pte_mk(PHYS_ZERO_PFN,
			    vma_pte_prot(vmf->vma->flags, false) & ~_PAGE_RW) |
		     _PAGE_SPECIAL | _PAGE_ACCESSED;
	unsigned int i, n = 0;

	for (i = 0; i < block_pages(vmf); i++) {
		if (pte_none(vmf->ptes[i])) {
			set_pte(&vmf->ptes[i], zero);
			n++;
		}
	}
	count_event(vmf->mm, fault_anon_zero, 1);
	count_event(vmf->mm, pages_faulted_around, n - 1);
}

/*
 * A private exclusive copy of @src (the zero page: a zeroed frame) at the
 * faulting pte, writable when the fault writes to a writable vma. An
 * unsharing fault leaves it write-protected; a forced write (GUP's
 * FOLL_FORCE into a read-only vma) leaves it read-only but dirty, the
 * mark that it is the guest's own copy. 0 or -ENOMEM.
 */
static int copy_page_to_new(struct fault *vmf, uint32_t src)
{
	struct phys *phys = vmf->mm->mem->phys;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	uint32_t pfn;
	pte_t prot;

	vma_anon_prepare(vmf->mm, vmf->vma);
	if (!phys_alloc(phys,
			anon_hint(vmf, (unsigned int)((vmf->va - vmf->start) >>
						      PAGE_SHIFT)),
			1, &pfn))
		return -ENOMEM;
	if (src != PHYS_ZERO_PFN)
		phys_copy(phys, pfn, src, 1);
	prot = vma_pte_prot(vmf->vma->flags, write) | _PAGE_ACCESSED;
	if (write)
		prot |= _PAGE_DIRTY;
	set_anon_pte(vmf, vmf->ptep, pfn, prot);
	count_event(vmf->mm, fault_cow, 1);
	return 0;
}

/* Map the cached pages of the file around a file fault. */
static void file_fault_around(struct fault *vmf, pte_t prot)
{
	uint32_t pfns[PTRS_PER_TABLE];
	unsigned int i, n = block_pages(vmf);

	if (n <= 1)
		return;
	file_find_pages(vmf->vma->file, vma_pgoff(vmf->vma, vmf->start), n,
			pfns);
	for (i = 0; i < n; i++) {
		if (!pfns[i])
			continue;
		if (!pte_none(vmf->ptes[i])) {
			phys_put(vmf->mm->mem->phys, pfns[i]);
			continue;
		}
		page_add_map(vmf->mm->mem, pfns[i]);
		set_pte(&vmf->ptes[i], pte_mk(pfns[i], prot) | _PAGE_ACCESSED);
		count_event(vmf->mm, pages_faulted_around, 1);
	}
}

/* An empty pte of a file vma. 0, -EFAULT (past EOF) or -ENOMEM. */
static int do_file_fault(struct fault *vmf)
{
	struct vma *vma = vmf->vma;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	uint32_t pfn;
	pte_t prot;
	int err;

	err = file_get_page(vma->file, vma_pgoff(vma, vmf->va), &pfn);
	if (err)
		return err;
	if (write && !vma_is_shared(vma)) {
		err = copy_page_to_new(vmf, pfn);
		phys_put(vmf->mm->mem->phys, pfn); /* never mapped */
		return err;
	}
	prot = vma_pte_prot(vma->flags, false);
	page_add_map(vmf->mm->mem, pfn);
	set_pte(vmf->ptep,
		pte_mk(pfn, prot) | _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0));
	count_event(vmf->mm, fault_file, 1);
	/*
	 * A write to a shared file mapping is usually one of many: the
	 * cached neighbours are mapped dirty too, so the writes to come take
	 * no fault of their own. umm writes no page back, so the dirty bit
	 * only decides what the host may do; a guest cannot tell.
	 */
	if (write && (vma->flags & VM_WRITE))
		prot |= _PAGE_DIRTY;
	file_fault_around(vmf, prot);
	return 0;
}

int nonlinear_pte_prot(const struct vma *vma, pte_t pte)
{
	if (pte_file(pte))
		return pte_file_prot(pte);
	if (pte_present(pte))
		return pte_guest_prot(pte);
	return vma_guest_prot(vma);
}

/* Map the cached pages of the file ptes around a nonlinear fault. */
static void nonlinear_fault_around(struct fault *vmf)
{
	bool manyprots = vmf->vma->flags & VM_MANYPROTS;
	unsigned int i;

	for (i = 0; i < block_pages(vmf); i++) {
		pte_t pte = vmf->ptes[i];
		uint32_t pfn;
		int prot;

		if (!pte_file(pte))
			continue;
		file_find_pages(vmf->vma->file, pte_to_pgoff(pte), 1, &pfn);
		if (!pfn)
			continue;
		prot = manyprots ? pte_file_prot(pte)
				 : vma_guest_prot(vmf->vma);
		page_add_map(vmf->mm->mem, pfn);
		set_pte(&vmf->ptes[i],
			pte_mk(pfn, pte_prot_bits(prot)) | _PAGE_ACCESSED);
		count_event(vmf->mm, pages_faulted_around, 1);
	}
}

/*
 * A file pte of a nonlinear vma: the page it names, with its own protection
 * (manyprots) or the vma's. 0, -EFAULT (past EOF) or -ENOMEM.
 */
static int do_nonlinear_fault(struct fault *vmf)
{
	pte_t pte = *vmf->ptep;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	int prot = (vmf->vma->flags & VM_MANYPROTS) ? pte_file_prot(pte)
						    : vma_guest_prot(vmf->vma);
	uint32_t pfn;
	int err;

	err = file_get_page(vmf->vma->file, pte_to_pgoff(pte), &pfn);
	if (err)
		return err;
	page_add_map(vmf->mm->mem, pfn);
	set_pte(vmf->ptep, pte_mk(pfn, pte_prot_bits(prot)) | _PAGE_ACCESSED |
				   (write ? _PAGE_DIRTY : 0));
	count_event(vmf->mm, fault_file, 1);
	nonlinear_fault_around(vmf);
	return 0;
}

/*
 * May the faulting pte keep its anonymous page? When the page is exclusive,
 * or when the counts prove that no one else can reach it: one reference
 * (this pte's), so no other pte, page-cache slot, GUP reference or pin.
 */
static bool wp_can_reuse(struct fault *vmf, struct page *page, uint32_t pfn)
{
	if (!page_anon(page))
		return false;
	if (page_anon_exclusive(page))
		return true;
	if (phys_refcount(vmf->mm->mem->phys, pfn) != 1)
		return false;
	page_set(page, PG_anon_exclusive);
	return true;
}

/* A page a write would have to copy: anonymous, shared with someone. */
static bool pte_needs_cow(struct fault *vmf, pte_t pte)
{
	struct page *page;

	if (!(pte & _PAGE_PRESENT) || pte_write(pte) || pte_special(pte))
		return false;
	page = pfn_page(vmf->mm->mem, pte_pfn(pte));
	return page_anon(page) && !page_anon_exclusive(page) &&
	       phys_refcount(vmf->mm->mem->phys, pte_pfn(pte)) > 1;
}

/*
 * COW fault-around: a write to a page shared after fork copies every such
 * page of the block at once, into contiguous frames (copied in runs by the
 * host, mapped by one host call). A later write to a neighbour then costs
 * no fault: after a fork, the writer usually writes on (and the copies
 * are what that write would have made). Returns 0 or -ENOMEM, and
 * -EAGAIN when frames are short (the caller copies the one page).
 */
static int do_cow_block(struct fault *vmf)
{
	unsigned int i, k = 0, got, run;
	unsigned int idx[PTRS_PER_TABLE];
	uint32_t src[PTRS_PER_TABLE], dst[PTRS_PER_TABLE];
	struct phys *phys = vmf->mm->mem->phys;
	pte_t prot = vma_pte_prot(vmf->vma->flags, true) | _PAGE_ACCESSED |
		     _PAGE_DIRTY;

	for (i = 0; i < block_pages(vmf); i++) {
		if (!pte_needs_cow(vmf, vmf->ptes[i]))
			continue;
		idx[k] = i;
		src[k++] = pte_pfn(vmf->ptes[i]);
	}
	if (k <= 1)
		return -EAGAIN;
	vma_anon_prepare(vmf->mm, vmf->vma);
	got = phys_alloc(phys, anon_hint(vmf, idx[0]), k, dst);
	if (got < k) {
		if (got)
			phys_put_many(phys, dst, got);
		return -EAGAIN;
	}
	for (i = 0; i < k; i += run) {
		for (run = 1; i + run < k && src[i + run] == src[i] + run &&
			      dst[i + run] == dst[i] + run;
		     run++)
			;
		phys_copy(phys, dst[i], src[i], run);
	}
	for (i = 0; i < k; i++) {
		set_anon_pte(vmf, &vmf->ptes[idx[i]], dst[i], prot);
		page_remove_map(vmf->mm->mem, src[i]);
		gather_add(vmf->gather, src[i]); /* dropped after sync */
	}
	count_event(vmf->mm, fault_cow, 1);
	count_event(vmf->mm, pages_faulted_around, k - 1);
	return 0;
}

/* Is @va's page writable already: a copy made, or never shared? */
static bool page_writable_at(struct fault *vmf, uint64_t va)
{
	pte_t p = neighbour_pte(vmf, va);

	return (p & _PAGE_PRESENT) && pte_write(p);
}

/*
 * Does the writer stream: is a neighbour written already? Then the block's
 * shared pages are copied at once; a write off on its own copies its page
 * alone. (Not the region's first page, unlike anon_streaming: the copies
 * of a block are writable neighbours, so one guess would set off every
 * block after it.)
 */
static bool cow_streaming(struct fault *vmf)
{
	uint64_t va = vmf->va & PAGE_MASK;

	return page_writable_at(vmf, va - PAGE_SIZE) ||
	       page_writable_at(vmf, va + PAGE_SIZE);
}

/*
 * A write (or unshare) fault on a present, write-protected page of a
 * private vma: reuse the page in place when it is ours alone, else copy it
 * into a new exclusive frame. Linux's do_wp_page.
 */
static int do_wp_page(struct fault *vmf)
{
	pte_t pte = *vmf->ptep;
	uint32_t pfn = pte_pfn(pte);
	struct page *page;
	int err;

	if (pte_is_zero_page(pte)) {
		if (vmf->flags & FAULT_FLAG_UNSHARE)
			return copy_page_to_new(vmf, PHYS_ZERO_PFN);
		return do_anonymous_write(vmf);
	}
	page = pfn_page(vmf->mm->mem, pfn);
	if (wp_can_reuse(vmf, page, pfn)) {
		if (vmf->flags & FAULT_FLAG_WRITE) {
			pte = pte_mkdirty(pte_mkyoung(pte));
			if (vmf->vma->flags & VM_WRITE)
				pte = pte_mkwrite(pte);
			set_pte(vmf->ptep, pte);
		}
		count_event(vmf->mm, fault_wp_reuse, 1);
		return 0;
	}
	if ((vmf->flags & FAULT_FLAG_WRITE) && (vmf->vma->flags & VM_WRITE) &&
	    page_anon(page) && cow_streaming(vmf)) {
		err = do_cow_block(vmf);
		if (err != -EAGAIN)
			return err;
	}
	err = copy_page_to_new(vmf, pfn);
	if (!err) {
		page_remove_map(vmf->mm->mem, pfn);
		gather_add(vmf->gather, pfn); /* dropped after sync */
	}
	return err;
}

/* Present pte, access allowed: the host lacks it or it was clean/old. */
static void do_host_refill(struct fault *vmf, int access)
{
	pte_t pte = *vmf->ptep;
	pte_t new = pte_mkyoung(pte);
	unsigned int i;

	if (access & PROT_WRITE)
		new = pte_mkdirty(new);
	if (new != pte) {
		set_pte(vmf->ptep, new);
		if ((access & PROT_WRITE) && !pte_dirty(pte))
			count_event(vmf->mm, fault_dirty, 1);
		else
			count_event(vmf->mm, fault_young, 1);
		return;
	}
	/*
	 * Faults beside others: two vCPUs touched the page at once, and the
	 * first fixed it. (A fault alone never meets a pte it could have
	 * reached without faulting, unless the host dropped the page.)
	 */
	if (vmf->shared && pte_host_holds(vmf->mm, pte, access)) {
		count_event(vmf->mm, fault_spurious, 1);
		return;
	}
	/* The host dropped it: likely its neighbours too. */
	count_event(vmf->mm, fault_host_miss, 1);
	for (i = 0; i < block_pages(vmf); i++) {
		pte_t p = vmf->ptes[i];

		if (pte_present(p) && pte_young(p))
			set_pte(&vmf->ptes[i], p | _PAGE_NEWPAGE);
	}
}

/* Does @prot (PROT_*) allow @access (PROT_READ, PROT_WRITE or PROT_EXEC)? */
static bool prot_allows(int prot, int access)
{
	if (access & PROT_WRITE)
		return prot & PROT_WRITE;
	if (access & PROT_EXEC)
		return prot & PROT_EXEC;
	return prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
}

static bool vma_allows(const struct vma *vma, int access)
{
	return prot_allows(vma_guest_prot(vma), access);
}

static int fault_signal(struct mm *mm, int sig, int code, int *si_code)
{
	if (sig == SIGSEGV)
		count_event(mm, fault_sigsegv, 1);
	else
		count_event(mm, fault_sigbus, 1);
	*si_code = code;
	return sig;
}

/*
 * The vma for a fault at @va, growing a stack down to it if it may (which
 * only a writer may do: NULL with *retry set under the read lock).
 */
static struct vma *find_vma_grow(struct mm *mm, uint64_t va, bool *retry)
{
	unsigned int i;

	if (va >= mm->task_size)
		return NULL;
	i = vma_index(mm, va);
	if (i == mm->nr_vmas)
		return NULL;
	if (mm->vmas[i]->start <= va)
		return mm->vmas[i];
	if (!(mm->vmas[i]->flags & VM_GROWSDOWN))
		return NULL;
	if (!mm->exclusive) {
		*retry = true;
		return NULL;
	}
	if (expand_stack_locked(mm, i, va))
		return NULL;
	return mm->vmas[i];
}

static int fault_access(unsigned int flags)
{
	if (flags & FAULT_FLAG_WRITE)
		return PROT_WRITE;
	if (flags & FAULT_FLAG_INSTRUCTION)
		return PROT_EXEC;
	return PROT_READ;
}

/* The pte is found and its table locked: fix it. As handle_mm_fault. */
static int do_fault(struct fault *vmf, int *si_code)
{
	struct mm *mm = vmf->mm;
	unsigned int flags = vmf->flags;
	int access = fault_access(flags);
	pte_t pte = *vmf->ptep;
	int err = 0;

	/*
	 * A manyprots vma is judged by the pte alone: each page has its own
	 * protection, whatever the vma's (seed 002). A pte another thread
	 * just fixed is judged as fixed.
	 */
	if ((vmf->vma->flags & VM_MANYPROTS) && !(flags & FAULT_FLAG_REMOTE) &&
	    !prot_allows(nonlinear_pte_prot(vmf->vma, pte), access))
		return fault_signal(mm, SIGSEGV, SEGV_ACCERR, si_code);

	if (pte_file(pte)) {
		err = do_nonlinear_fault(vmf);
	} else if (pte_none(pte)) {
		if (!vma_is_anon(vmf->vma))
			err = do_file_fault(vmf);
		else if (flags & FAULT_FLAG_WRITE)
			err = do_anonymous_write(vmf);
		else
			do_anonymous_read(vmf);
	} else if ((flags & FAULT_FLAG_UNSHARE) && pte_present(pte)) {
		/*
		 * pte_present(), not _PAGE_PRESENT, here and for the write
		 * below: a PROT_NONE pte maps a page too, and GUP's FOLL_FORCE
		 * reaches it (ptrace's poke, a forced R/O pin). Linux's
		 * do_wp_page copies or unshares it as any other, the copy
		 * keeping the vma's PROT_NONE; the guest itself never gets
		 * here for it, the vma refused its access above.
		 */
		err = do_wp_page(vmf);
	} else if (pte_allows(pte, access)) {
		do_host_refill(vmf, access);
	} else if ((flags & FAULT_FLAG_WRITE) && pte_present(pte) &&
		   !vma_is_shared(vmf->vma)) {
		err = do_wp_page(vmf);
	} else {
		return fault_signal(mm, SIGSEGV, SEGV_ACCERR, si_code);
	}
	if (err == -ENOMEM)
		return -ENOMEM;
	if (err) /* past the end of the file */
		return fault_signal(mm, SIGBUS, BUS_ADRERR, si_code);
	return 0;
}

/*
 * A fault's own batch and gather, beside other faults: per thread, not on
 * the stack, which is the guest thread's in the SIGSEGV handler (a fault
 * never nests: mm_handle_fault refuses one with an mm lock held). A fault
 * frees at most a block of frames.
 */
static __thread struct fault_scratch {
	uint32_t frames[PTRS_PER_TABLE];
	struct host_batch batch;
} scratch;

int handle_mm_fault_locked(struct mm *mm, uint64_t va, unsigned int flags,
			   int *si_code)
{
	struct gather own = {scratch.frames, 0, PTRS_PER_TABLE, true};
	struct fault vmf = {.mm = mm,
			    .va = va & PAGE_MASK,
			    .flags = flags,
			    .shared = !mm->exclusive};
	struct host_batch *batch = &scratch.batch;
	pthread_mutex_t *ptl;
	bool retry = false;
	int ret;

	vmf.vma = find_vma_grow(mm, va, &retry);
	if (retry)
		return FAULT_RETRY;
	if (!vmf.vma)
		return fault_signal(mm, SIGSEGV, SEGV_MAPERR, si_code);
	/* GUP checked a remote or forced access against the vma itself. */
	if (!(flags & FAULT_FLAG_REMOTE) && !(vmf.vma->flags & VM_MANYPROTS) &&
	    !vma_allows(vmf.vma, fault_access(flags)))
		return fault_signal(mm, SIGSEGV, SEGV_ACCERR, si_code);
	vmf.ptep = pte_alloc(&mm->pt, vmf.va);
	if (!vmf.ptep)
		return -ENOMEM;
	fault_block(&vmf);
	/*
	 * Beside other faults, its own batch and gather, carried out before
	 * the table's lock goes; alone, the writer's queue, which its caller
	 * syncs.
	 */
	vmf.gather = vmf.shared ? &own : &mm->gather;
	ptl = mm_ptl(mm, vmf.va);
	pthread_mutex_lock(ptl);
	ret = do_fault(&vmf, si_code);
	if (!vmf.shared) {
		tlb_update_range(&mm->pt, mm->as, vmf.start, vmf.end,
				 TLB_POPULATE);
		pthread_mutex_unlock(ptl);
		return ret;
	}
	batch->nr = 0;
	/* before the ptes' _PAGE_HOST bits: see fault_fixed_lockless */
	__atomic_add_fetch(&mm->flushing[mm_ptl_index(vmf.va)], 1,
			   __ATOMIC_RELAXED);
	tlb_sync_shared(
		&mm->pt, mm->as, batch,
		tlb_update_shared(&mm->pt, mm->as, batch, vmf.start, vmf.end));
	__atomic_sub_fetch(&mm->flushing[mm_ptl_index(vmf.va)], 1,
			   __ATOMIC_RELEASE);
	pthread_mutex_unlock(ptl);
	if (own.nr)
		phys_put_many(mm->mem->phys, own.pfns, own.nr);
	return ret;
}

int handle_fault_locked(struct mm *mm, uint64_t va, int access, int *si_code)
{
	unsigned int flags = 0;
	int sig;

	if (access & PROT_WRITE)
		flags |= FAULT_FLAG_WRITE;
	else if (access & PROT_EXEC)
		flags |= FAULT_FLAG_INSTRUCTION;
	sig = handle_mm_fault_locked(mm, va, flags, si_code);
	if (sig == FAULT_RETRY)
		return sig;
	/* Linux's OOM killer would end the task: the guest gets SIGBUS. */
	if (sig == -ENOMEM)
		sig = fault_signal(mm, SIGBUS, BUS_ADRERR, si_code);
	return sig;
}

static int zap_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	struct mm *mm = arg;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		pte_t pte = ptes[i];

		if (pte_none(pte))
			continue;
		if (pte_present(pte) && !pte_special(pte)) {
			page_remove_map(mm->mem, pte_pfn(pte));
			gather_add(&mm->gather, pte_pfn(pte));
		}
		set_pte(&ptes[i], 0);
	}
	return 0;
}

void unmap_range_locked(struct mm *mm, uint64_t start, uint64_t end)
{
	pgtable_walk(&mm->pt, start, end, false, zap_ptes, mm);
	tlb_zap_range(&mm->pt, mm->as, start, end);
}

struct file_zap {
	struct mm *mm;
	uint64_t first, last; /* pages of pgoff in [first, last) go */
	bool nonlinear; /* keep the layout: a file pte in each page's place */
	bool even_cows; /* private copies go too (truncate) */
};

/*
 * Drop the file pages of [first, last) that these ptes map, as Linux's
 * zap_pte_range does for unmap_mapping_range: in a nonlinear vma each such
 * page becomes the file pte that names it, with its protection (its layout
 * survives; Linux's details->nonlinear_vma); elsewhere the pte is emptied.
 * Private anonymous copies stay unless even_cows. File ptes stay.
 */
static int zap_file_ptes(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	struct file_zap *z = arg;
	struct mem *mem = z->mm->mem;
	unsigned int i;

	(void)va;
	for (i = 0; i < nr; i++) {
		pte_t pte = ptes[i];
		uint32_t pfn = pte_pfn(pte);
		struct page *page;

		if (!pte_present(pte) || pte_special(pte))
			continue;
		page = pfn_page(mem, pfn);
		if (page_anon(page)) {
			if (!z->even_cows)
				continue;
		} else if (page->index < z->first || page->index >= z->last) {
			continue;
		}
		page_remove_map(mem, pfn);
		gather_add(&z->mm->gather, pfn);
		if (z->nonlinear)
			set_pte(&ptes[i],
				pgoff_to_pte(page->index, pte_guest_prot(pte)) |
					_PAGE_NEWPAGE);
		else /* empty, marked: the update unmaps it and clears it */
			set_pte(&ptes[i], _PAGE_NEWPAGE);
	}
	return 0;
}

static void zap_file_ptes_range(struct mm *mm, uint64_t start, uint64_t end,
				struct file_zap *z)
{
	pgtable_walk(&mm->pt, start, end, false, zap_file_ptes, z);
	tlb_update_range(&mm->pt, mm->as, start, end, 0);
}

void zap_nonlinear_locked(struct mm *mm, struct vma *vma, uint64_t start,
			  uint64_t end, uint64_t first_pgoff)
{
	struct file_zap z = {.mm = mm,
			     .first = first_pgoff,
			     .last = UINT64_MAX,
			     .nonlinear = true};

	(void)vma;
	zap_file_ptes_range(mm, start, end, &z);
}

void zap_file_range_locked(struct mm *mm, struct vma *vma, uint64_t first,
			   uint64_t last, bool even_cows)
{
	struct file_zap z = {.mm = mm,
			     .first = first,
			     .last = last,
			     .nonlinear = vma->flags & VM_NONLINEAR,
			     .even_cows = even_cows};
	uint64_t start = vma->start, end = vma->end;

	if (z.nonlinear) { /* any page may sit anywhere */
		zap_file_ptes_range(mm, start, end, &z);
		return;
	}
	if (first >= vma_pgoff(vma, end) || last <= vma->pgoff)
		return;
	if (first > vma->pgoff)
		start += (first - vma->pgoff) << PAGE_SHIFT;
	if (last < vma_pgoff(vma, end))
		end = vma->start + ((last - vma->pgoff) << PAGE_SHIFT);
	if (even_cows || vma_is_shared(vma))
		unmap_range_locked(mm, start, end);
	else
		zap_file_ptes_range(mm, start, end, &z);
}

void zap_range_locked(struct mm *mm, struct vma *vma, uint64_t start,
		      uint64_t end)
{
	if (vma->flags & VM_NONLINEAR)
		zap_nonlinear_locked(mm, vma, start, end, 0);
	else
		unmap_range_locked(mm, start, end);
}

void populate_range_locked(struct mm *mm, struct vma *vma, uint64_t start,
			   uint64_t end)
{
	int access = PROT_READ;
	uint64_t va;
	int code;

	if ((vma->flags & (VM_WRITE | VM_SHARED)) == VM_WRITE)
		access = PROT_WRITE;
	if (!(vma->flags & VM_ACCESS_FLAGS))
		return;
	for (va = start; va < end; va += PAGE_SIZE) {
		pte_t *ptep = pte_lookup(&mm->pt, va);

		if (ptep && pte_allows(*ptep, access))
			continue;
		if (handle_fault_locked(mm, va, access, &code))
			break; /* as Linux: populate errors are ignored */
	}
}
