// SPDX-License-Identifier: MIT
/*
 * Four-level page tables. Tables are host memory (not guest frames), one
 * 4 KiB page of 512 entries each; an upper entry is the next table's host
 * address | _PAGE_PRESENT.
 *
 * Readers may walk the tables with no lock at all (pgtable_read_begin/end,
 * liburcu's memb flavour): a table taken out of the tree is freed only
 * after a grace period, when no walk that could have reached it is left.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define UMM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UMM_TSAN 1
#endif
#endif
/*
 * liburcu's read-side primitives inline (MIT code may: it is
 * LGPL-compatible): as calls into the library, with its TLS through
 * __tls_get_addr, a software-TLB fill cost a fifth more. Not under
 * ThreadSanitizer, which would then see liburcu's own lockless words.
 */
#ifndef UMM_TSAN
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>

#include "arch/pgtable.h"

#ifdef UMM_TSAN
#include <sanitizer/tsan_interface.h>
#define tsan_release(p) __tsan_release(p)
#define tsan_acquire(p) __tsan_acquire(p)
#else
#define tsan_release(p) ((void)(p))
#define tsan_acquire(p) ((void)(p))
#endif

/*
 * ThreadSanitizer does not see liburcu's grace periods: each walk's end
 * is a release of rcu_tsan_sync, and a freeing after a grace period
 * acquires it.
 */
static char rcu_tsan_sync;

void pgtable_read_end(void)
{
	tsan_release(&rcu_tsan_sync);
	urcu_memb_read_unlock();
}

void pgtable_read_begin(void)
{
	urcu_memb_read_lock();
}

static __thread bool reader_registered;
static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;

static void reader_exit(void *arg)
{
	(void)arg;
	urcu_memb_unregister_thread();
	reader_registered = false;
}

static void tables_reclaim(void);

static pid_t setup_pid;

/*
 * Tables still waiting at exit are freed, so that nothing looks leaked;
 * not in a child forked since (its copy of liburcu's registry, and of
 * locks another thread may have held, are not to be trusted).
 */
static void rcu_at_exit(void)
{
	if (getpid() == setup_pid)
		tables_reclaim();
}

static void reader_setup(void)
{
	setup_pid = getpid();
	pthread_key_create(&reader_key, reader_exit);
	atexit(rcu_at_exit);
}

void pgtable_reader_register(void)
{
	if (reader_registered)
		return;
	pthread_once(&reader_once, reader_setup);
	urcu_memb_register_thread();
	/* unregistered as the thread ends (a non-NULL value runs it) */
	pthread_setspecific(reader_key, &reader_registered);
	reader_registered = true;
}

bool pgtable_reader_registered(void)
{
	return reader_registered;
}

#define LEVEL_SHIFT(l) (PAGE_SHIFT + 9 * (l)) /* l = 0 for ptes */
#define LEVEL_SIZE(l)  (1ULL << LEVEL_SHIFT(l))
#define INDEX(va, l)   (((va) >> LEVEL_SHIFT(l)) & (PTRS_PER_TABLE - 1))

/*
 * Freed tables are kept (up to TABLE_CACHE of them, process-wide) and given
 * out again: a fresh table is fresh heap the host must fault in, about as
 * dear as the work of copying the 512 entries it will hold, and fork-exit
 * cycles free and make the same tables over and over. Linux keeps
 * page-table pages on per-cpu lists for the same reason.
 */
#define TABLE_CACHE 1024

static pthread_mutex_t table_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static void *table_cache[TABLE_CACHE]; /* under table_cache_lock */
static unsigned int table_cache_nr;

static uint64_t *table_alloc(struct pgtable *pt)
{
	uint64_t *t = NULL;

	pthread_mutex_lock(&table_cache_lock);
	if (table_cache_nr)
		t = table_cache[--table_cache_nr];
	pthread_mutex_unlock(&table_cache_lock);
	if (!t)
		t = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	if (t) {
		memset(t, 0, PAGE_SIZE);
		__atomic_add_fetch(&pt->nr_tables, 1, __ATOMIC_RELAXED);
	}
	return t;
}

/* Back to the cache, or to the heap. */
static void table_release(uint64_t *t)
{
	pthread_mutex_lock(&table_cache_lock);
	if (table_cache_nr < TABLE_CACHE) {
		table_cache[table_cache_nr++] = t;
		t = NULL;
	}
	pthread_mutex_unlock(&table_cache_lock);
	free(t);
}

/* A table is out of this tree now, never walked in it again. */
static void table_free(struct pgtable *pt, uint64_t *t)
{
	__atomic_sub_fetch(&pt->nr_tables, 1, __ATOMIC_RELAXED);
	table_release(t);
}

/*
 * Tables taken out of a tree wait here, untouched (a walk may still be
 * reading one), until DEFER_MAX of them are freed together after one grace
 * period: a wait for the readers per so many tables, in the writer that
 * fills the list. (Not liburcu's call_rcu: its hand-over to a thread of
 * its own is invisible to ThreadSanitizer, which then sees races.)
 */
#define DEFER_MAX 256

static pthread_mutex_t defer_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t **deferred; /* under defer_lock */
static unsigned int nr_deferred, cap_deferred;

/* Wait until every lockless walk that began before has ended. */
static void grace_period(void)
{
	pgtable_reader_register();
	urcu_memb_synchronize_rcu();
	tsan_acquire(&rcu_tsan_sync);
}

/* Free every table waiting, after a grace period. Context: no lock held. */
static void tables_reclaim(void)
{
	uint64_t **list;
	unsigned int i, nr;

	pthread_mutex_lock(&defer_lock);
	list = deferred;
	nr = nr_deferred;
	deferred = NULL;
	nr_deferred = cap_deferred = 0;
	pthread_mutex_unlock(&defer_lock);
	if (!nr)
		return;
	grace_period();
	for (i = 0; i < nr; i++)
		table_release(list[i]);
	free(list);
}

/* Free @t, just taken out of @pt's tree, once no lockless walk can be in it. */
static void table_free_deferred(struct pgtable *pt, uint64_t *t)
{
	unsigned int nr;

	__atomic_sub_fetch(&pt->nr_tables, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&defer_lock);
	if (nr_deferred == cap_deferred) {
		unsigned int cap = cap_deferred ? 2 * cap_deferred : DEFER_MAX;
		uint64_t **n = realloc(deferred, cap * sizeof(*n));

		if (!n) { /* wait for the grace period here */
			pthread_mutex_unlock(&defer_lock);
			grace_period();
			table_release(t);
			return;
		}
		deferred = n;
		cap_deferred = cap;
	}
	deferred[nr_deferred++] = t;
	nr = nr_deferred;
	pthread_mutex_unlock(&defer_lock);
	pthread_once(&reader_once, reader_setup);
	if (nr >= DEFER_MAX)
		tables_reclaim();
}

static inline uint64_t *entry_table(uint64_t e)
{
	return (uint64_t *)(uintptr_t)(e & PTE_PFN_MASK);
}

int pgtable_init(struct pgtable *pt)
{
	pt->nr_tables = 0;
	pt->host_gen = 0;
	pt->tlbs = NULL;
	pt->stlb_wait = false;
	pt->pgd = table_alloc(pt);
	return pt->pgd ? 0 : -ENOMEM;
}

static void destroy_level(struct pgtable *pt, uint64_t *t, int level)
{
	unsigned int i;

	for (i = 0; i < PTRS_PER_TABLE; i++) {
		if (level == 0) {
			BUG_ON(!pte_none(t[i]));
			continue;
		}
		if (t[i])
			destroy_level(pt, entry_table(t[i]), level - 1);
	}
	table_free_deferred(pt, t);
}

void pgtable_destroy(struct pgtable *pt)
{
	if (pt->pgd)
		destroy_level(pt, pt->pgd, PGTABLE_LEVELS - 1);
	pt->pgd = NULL;
	BUG_ON(pt->nr_tables);
}

pte_t *pte_lookup(struct pgtable *pt, uint64_t va)
{
	uint64_t *t = pt->pgd;
	int l;

	for (l = PGTABLE_LEVELS - 1; l > 0; l--) {
		uint64_t e =
			__atomic_load_n(&t[INDEX(va, l)], __ATOMIC_ACQUIRE);

		if (!e)
			return NULL;
		t = entry_table(e);
	}
	return &t[INDEX(va, 0)];
}

/*
 * The table entry @e points to, made if there is none. Faults under the
 * mm's read lock allocate at once: the first to publish its table wins,
 * the others free theirs. NULL when out of memory.
 */
static uint64_t *entry_alloc(struct pgtable *pt, uint64_t *e)
{
	uint64_t old = __atomic_load_n(e, __ATOMIC_ACQUIRE);
	uint64_t *n;

	if (old)
		return entry_table(old);
	n = table_alloc(pt);
	if (!n)
		return NULL;
	if (__atomic_compare_exchange_n(
		    e, &old, (uint64_t)(uintptr_t)n | _PAGE_PRESENT, false,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return n;
	table_free(pt, n);
	return entry_table(old);
}

pte_t *pte_alloc(struct pgtable *pt, uint64_t va)
{
	uint64_t *t = pt->pgd;
	int l;

	for (l = PGTABLE_LEVELS - 1; l > 0; l--) {
		t = entry_alloc(pt, &t[INDEX(va, l)]);
		if (!t)
			return NULL;
	}
	return &t[INDEX(va, 0)];
}

static int walk_level(struct pgtable *pt, uint64_t *t, int level,
		      uint64_t start, uint64_t end, bool alloc, pte_range_fn fn,
		      void *arg)
{
	uint64_t va = start;
	int err;

	if (level == 0)
		return fn(&t[INDEX(start, 0)], start,
			  (unsigned int)((end - start) >> PAGE_SHIFT), arg);
	while (va < end) {
		uint64_t next = (va | (LEVEL_SIZE(level) - 1)) + 1;
		uint64_t *e = &t[INDEX(va, level)];
		uint64_t *n;

		if (next > end || next == 0)
			next = end;
		if (alloc)
			n = entry_alloc(pt, e);
		else
			n = entry_table(__atomic_load_n(e, __ATOMIC_ACQUIRE));
		if (!n) {
			if (alloc)
				return -ENOMEM;
			goto skip;
		}
		err = walk_level(pt, n, level - 1, va, next, alloc, fn, arg);
		if (err)
			return err;
skip:
		va = next;
	}
	return 0;
}

int pgtable_walk(struct pgtable *pt, uint64_t start, uint64_t end, bool alloc,
		 pte_range_fn fn, void *arg)
{
	BUG_ON(start & ~PAGE_MASK || end & ~PAGE_MASK);
	if (start >= end)
		return 0;
	BUG_ON(end > (1ULL << GUEST_VA_BITS));
	return walk_level(pt, pt->pgd, PGTABLE_LEVELS - 1, start, end, alloc,
			  fn, arg);
}

static bool table_empty(const uint64_t *t)
{
	unsigned int i;

	for (i = 0; i < PTRS_PER_TABLE; i++)
		if (t[i])
			return false;
	return true;
}

/*
 * Free, below the table @t of @level that covers [tstart, tstart + its
 * size), the tables inside [floor, ceiling) touching [start, end).
 */
static void free_level(struct pgtable *pt, uint64_t *t, int level,
		       uint64_t start, uint64_t end, uint64_t floor,
		       uint64_t ceiling)
{
	uint64_t va = start & ~(LEVEL_SIZE(level) - 1);

	for (; va < end; va += LEVEL_SIZE(level)) {
		uint64_t *e = &t[INDEX(va, level)];
		uint64_t lo = va, hi = va + LEVEL_SIZE(level);
		uint64_t *child;

		if (!*e)
			continue;
		child = entry_table(*e);
		if (level > 1)
			free_level(pt, child, level - 1,
				   start > lo ? start : lo, end < hi ? end : hi,
				   floor, ceiling);
		/* The child table maps [lo, hi): free it if nothing else can. */
		if (lo < floor || hi > ceiling)
			continue;
		if (level == 1)
			BUG_ON(!table_empty(child));
		else if (!table_empty(child))
			continue;
		__atomic_store_n(e, 0, __ATOMIC_RELEASE);
		table_free_deferred(pt, child);
	}
}

void pgtable_free_range(struct pgtable *pt, uint64_t start, uint64_t end,
			uint64_t floor, uint64_t ceiling)
{
	if (start >= end)
		return;
	free_level(pt, pt->pgd, PGTABLE_LEVELS - 1, start, end, floor, ceiling);
}
