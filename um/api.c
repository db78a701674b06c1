// SPDX-License-Identifier: MIT
/* The public API (include/umm.h) over mm/ and host/. */
#include <errno.h>

#include "include/umm.h"
#include "mm/mm.h"
#include "um/um.h"

_Static_assert(UMM_TASK_SIZE_MAX == HOST_STUB_START,
	       "a guest's task size ends where the stub's pages begin");

static struct mem *MEM(struct umm_phys *p)
{
	return (struct mem *)p;
}
static struct mm *MM(struct umm_mm *m)
{
	return (struct mm *)m;
}
static struct file *FILE_(struct umm_file *f)
{
	return (struct file *)f;
}

struct umm_phys *umm_phys_new(uint64_t bytes)
{
	return (struct umm_phys *)mem_new(bytes);
}

void umm_phys_put(struct umm_phys *phys)
{
	mem_put(MEM(phys));
}

uint64_t umm_phys_frames_free(struct umm_phys *phys)
{
	return phys_nr_free(mem_phys(MEM(phys)));
}

uint64_t umm_phys_frames_total(struct umm_phys *phys)
{
	return phys_nr_frames(mem_phys(MEM(phys)));
}

struct umm_mm *umm_mm_new(struct umm_phys *phys, uint64_t task_size)
{
	struct host_as *as;
	struct mm *mm;
	int err;

	task_size = PAGE_ALIGN(task_size);
	if (!phys || task_size < (1ULL << 20) ||
	    task_size > UMM_TASK_SIZE_MAX) {
		errno = EINVAL;
		return NULL;
	}
	err = um_signals_init();
	if (err) {
		errno = -err;
		return NULL;
	}
	as = host_as_new_local(mem_phys(MEM(phys)), task_size);
	if (!as)
		return NULL;
	mm = mm_new(MEM(phys), as, task_size);
	if (!mm) {
		err = errno;
		host_as_free(as);
		errno = err;
		return NULL;
	}
	err = um_window_add(as->base, task_size, mm);
	if (err) {
		mm_put(mm);
		errno = -err;
		return NULL;
	}
	return (struct umm_mm *)mm;
}

void umm_mm_put(struct umm_mm *mm)
{
	if (!mm)
		return;
	um_window_del(MM(mm));
	mm_put(MM(mm));
}

void *umm_host_addr(struct umm_mm *mm, uint64_t va)
{
	return (void *)(mm_host_as(MM(mm))->base + va);
}

int umm_mm_set_fault_around(struct umm_mm *mm, unsigned int nr_pages)
{
	return mm_set_fault_around(MM(mm), nr_pages);
}

int umm_mm_set_host_merge(struct umm_mm *mm, bool merge)
{
	host_as_set_merge(mm_host_as(MM(mm)), merge);
	return 0;
}

int umm_phys_set_scatter(struct umm_phys *phys, bool scatter)
{
	phys_set_scatter(mem_phys(MEM(phys)), scatter);
	return 0;
}

int umm_phys_set_pool(struct umm_phys *phys, uint64_t bytes)
{
	struct phys *p = mem_phys(MEM(phys));

	phys_set_pool(p, bytes == UMM_POOL_DEFAULT ? phys_pool_default(p)
						   : bytes >> PAGE_SHIFT);
	return 0;
}

struct umm_file *umm_shmem_new(struct umm_phys *phys, uint64_t size)
{
	return (struct umm_file *)file_shmem_new(MEM(phys), size);
}

struct umm_file *umm_file_open(struct umm_phys *phys, const char *host_path)
{
	return (struct umm_file *)file_host_open(MEM(phys), host_path);
}

int umm_file_truncate(struct umm_file *file, uint64_t size)
{
	return file_truncate(FILE_(file), size);
}

uint64_t umm_file_size(struct umm_file *file)
{
	return file_size(FILE_(file));
}

void umm_file_put(struct umm_file *file)
{
	file_put(FILE_(file));
}

long umm_mmap(struct umm_mm *mm, uint64_t addr, uint64_t len, int prot,
	      int flags, struct umm_file *file, uint64_t off)
{
	return mm_mmap(MM(mm), addr, len, prot, flags, FILE_(file), off);
}

int umm_munmap(struct umm_mm *mm, uint64_t addr, uint64_t len)
{
	return mm_munmap(MM(mm), addr, len);
}

int umm_mprotect(struct umm_mm *mm, uint64_t addr, uint64_t len, int prot)
{
	return mm_mprotect(MM(mm), addr, len, prot);
}

long umm_brk(struct umm_mm *mm, uint64_t brk)
{
	return mm_brk(MM(mm), brk);
}

int umm_madvise(struct umm_mm *mm, uint64_t addr, uint64_t len, int advice)
{
	return mm_madvise(MM(mm), addr, len, advice);
}

long umm_mremap(struct umm_mm *mm, uint64_t old_addr, uint64_t old_len,
		uint64_t new_len, int flags, uint64_t new_addr)
{
	return mm_mremap(MM(mm), old_addr, old_len, new_len, flags, new_addr);
}

int umm_remap_file_pages(struct umm_mm *mm, uint64_t start, uint64_t size,
			 int prot, uint64_t pgoff, int flags)
{
	return mm_remap_file_pages(MM(mm), start, size, prot, pgoff, flags);
}

long umm_remap_file_pages_many(struct umm_mm *mm, const struct umm_remap *r,
			       unsigned int nr, int flags)
{
	if (!nr)
		return 0;
	if (!r)
		return -EFAULT;
	return mm_remap_file_pages_many(MM(mm), r, nr, flags);
}

struct umm_mm *umm_fork(struct umm_mm *parent)
{
	struct mm *p = MM(parent), *child;
	struct host_as *as;
	int err;

	as = host_as_new_local(mm_host_as(p)->phys, mm_task_size(p));
	if (!as)
		return NULL;
	child = mm_fork(p, as);
	if (!child)
		return NULL; /* the failed child freed @as */
	err = um_window_add(as->base, mm_task_size(child), child);
	if (err) {
		mm_put(child);
		errno = -err;
		return NULL;
	}
	return (struct umm_mm *)child;
}

static struct page *PAGE(struct umm_page *p)
{
	return (struct page *)p;
}

long umm_gup(struct umm_mm *mm, uint64_t start, long nr_pages,
	     unsigned int gup_flags, struct umm_page **pages)
{
	return mm_gup(MM(mm), start, nr_pages, gup_flags,
		      (struct page **)pages);
}

void umm_unpin(struct umm_page **pages, long nr_pages, bool dirty)
{
	long i;

	for (i = 0; i < nr_pages; i++)
		page_unpin(PAGE(pages[i]), dirty);
}

void umm_put_page(struct umm_page *page)
{
	page_put(PAGE(page));
}

void *umm_page_addr(struct umm_page *page)
{
	return page_kaddr(PAGE(page));
}

void umm_page_state(struct umm_page *page, struct umm_page_state *st)
{
	page_state(PAGE(page), st);
}

unsigned long umm_gup_unpin_bugs(void)
{
	return gup_unpin_bugs();
}

long umm_exec_args(struct umm_mm *old, uint64_t argv, uint64_t envp,
		   struct umm_mm *new, uint64_t *sp)
{
	return mm_exec_args(MM(old), argv, envp, MM(new), sp);
}

int umm_maps(struct umm_mm *mm, FILE *out)
{
	return mm_maps_show(MM(mm), out);
}

void umm_mm_stats(struct umm_mm *mm, struct umm_stats *stats)
{
	mm_stats(MM(mm), stats);
}

long umm_host_vmas(struct umm_mm *mm)
{
	return host_as_count_vmas(mm_host_as(MM(mm)));
}

long umm_mm_check(struct umm_mm *mm)
{
	return mm_check_host(MM(mm));
}

int umm_set_host_vma_budget(unsigned long nr_vmas)
{
	return host_set_vma_budget(nr_vmas);
}

unsigned long umm_host_vma_budget(void)
{
	return host_vma_budget();
}

const char *umm_version(void)
{
	return PACKAGE_VERSION;
}

static struct mm_tlb *TLB(struct umm_tlb *t)
{
	return (struct mm_tlb *)t;
}

struct umm_tlb *umm_tlb_new(struct umm_mm *mm, unsigned int entries)
{
	if (!mm) {
		errno = EINVAL;
		return NULL;
	}
	return (struct umm_tlb *)mm_tlb_new(MM(mm), entries);
}

void umm_tlb_free(struct umm_tlb *tlb)
{
	mm_tlb_free(TLB(tlb));
}

void *umm_tlb_lookup(struct umm_tlb *tlb, uint64_t va, int access)
{
	return mm_tlb_lookup(TLB(tlb), va, access);
}

void umm_tlb_quiesce(struct umm_tlb *tlb)
{
	mm_tlb_quiesce(TLB(tlb));
}

int umm_tlb_switch(struct umm_tlb *tlb, struct umm_mm *mm)
{
	if (!tlb || !mm)
		return -EINVAL;
	mm_tlb_switch(TLB(tlb), MM(mm));
	return 0;
}

void umm_tlb_flush_all(struct umm_tlb *tlb)
{
	mm_tlb_flush_all(TLB(tlb));
}

void umm_tlb_flush_page(struct umm_tlb *tlb, uint64_t va)
{
	mm_tlb_flush_page(TLB(tlb), va);
}

void umm_tlb_flush_range(struct umm_tlb *tlb, uint64_t start, uint64_t end)
{
	mm_tlb_flush_range(TLB(tlb), start, end);
}

int umm_tlb_flush_asid(struct umm_tlb *tlb, struct umm_mm *mm)
{
	return mm_tlb_flush_asid(TLB(tlb), MM(mm));
}

void umm_tlb_stats(struct umm_tlb *tlb, struct umm_tlb_stats *stats)
{
	mm_tlb_stats(TLB(tlb), stats);
}
