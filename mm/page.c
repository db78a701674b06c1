// SPDX-License-Identifier: MIT
/* Page state: map counts, pins and the anon-exclusive bit. */
#include <pthread.h>

#include "mm/internal.h"

static pthread_mutex_t mems_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem *mems; /* protected by mems_lock */

void mem_register(struct mem *mem)
{
	pthread_mutex_lock(&mems_lock);
	mem->next = mems;
	mems = mem;
	pthread_mutex_unlock(&mems_lock);
}

void mem_unregister(struct mem *mem)
{
	struct mem **p;

	pthread_mutex_lock(&mems_lock);
	for (p = &mems; *p; p = &(*p)->next) {
		if (*p == mem) {
			*p = mem->next;
			break;
		}
	}
	pthread_mutex_unlock(&mems_lock);
}

struct mem *page_mem(struct page *page)
{
	struct mem *mem;

	pthread_mutex_lock(&mems_lock);
	for (mem = mems; mem; mem = mem->next)
		if (page >= mem->pages && page < mem->pages + mem->nr_pages)
			break;
	pthread_mutex_unlock(&mems_lock);
	BUG_ON(!mem);
	return mem;
}

void page_add_map(struct mem *mem, uint32_t pfn)
{
	__atomic_add_fetch(&pfn_page(mem, pfn)->mapcount, 1, __ATOMIC_ACQ_REL);
}

void page_remove_map(struct mem *mem, uint32_t pfn)
{
	uint32_t old = __atomic_fetch_sub(&pfn_page(mem, pfn)->mapcount, 1,
					  __ATOMIC_ACQ_REL);

	BUG_ON(old == 0);
}

void page_new_anon(struct mem *mem, uint32_t pfn)
{
	struct page *page = pfn_page(mem, pfn);

	BUG_ON(page_mapcount(page) || page_pincount(page));
	page_set_flags(page, PG_anon | PG_anon_exclusive);
}

void page_state(struct page *page, struct umm_page_state *st)
{
	struct mem *mem = page_mem(page);
	uint32_t pfn = page_pfn(mem, page);
	uint32_t flags = page_flags(page);

	st->pfn = pfn;
	st->refcount = phys_refcount(mem->phys, pfn);
	st->mapcount = page_mapcount(page);
	st->pincount = page_pincount(page);
	st->anon = pfn != PHYS_ZERO_PFN && (flags & PG_anon);
	st->anon_exclusive = st->anon && (flags & PG_anon_exclusive);
	st->zero_page = pfn == PHYS_ZERO_PFN;
}
