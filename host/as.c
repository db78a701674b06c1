// SPDX-License-Identifier: MIT
/*
 * Host address spaces: a queue of mapping operations, merged as they are
 * queued and carried out by a backend in one batch per flush.
 *
 * Host mappings are only a cache of the guest page tables, so when the host
 * refuses one (ENOMEM at vm.max_map_count, EAGAIN) or a flush would take the
 * process past its VMA budget, every space drops all its mappings (one call
 * each) and later faults refill what is used. Dropping only narrows what the
 * host allows, so it is always safe, even against a concurrent flush.
 *
 * VMA accounting is an upper bound: an operation adds at most two host
 * VMAs (its own and the split of what it lands in).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "host/host.h"
#include "host/internal.h"

static pthread_mutex_t spaces_lock = PTHREAD_MUTEX_INITIALIZER;
static struct host_as *spaces; /* protected by spaces_lock */
static unsigned long vma_budget; /* 0: not read yet */
static unsigned long vma_estimate; /* sum over spaces; atomic */

#define VMAS_PER_OP 2

unsigned long host_max_map_count(void)
{
	unsigned long n = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 65530;
		fclose(f);
	}
	return n;
}

unsigned long host_vma_budget(void)
{
	unsigned long b = __atomic_load_n(&vma_budget, __ATOMIC_RELAXED);

	if (!b) {
		b = host_max_map_count() / 2;
		__atomic_store_n(&vma_budget, b, __ATOMIC_RELAXED);
	}
	return b;
}

int host_set_vma_budget(unsigned long nr)
{
	if (nr < 64 || nr > host_max_map_count())
		return -EINVAL;
	__atomic_store_n(&vma_budget, nr, __ATOMIC_RELAXED);
	return 0;
}

void host_as_register(struct host_as *as)
{
	pthread_rwlock_init(&as->reset_lock, NULL);
	pthread_mutex_lock(&spaces_lock);
	as->next_all = spaces;
	as->prev_all = NULL;
	if (spaces)
		spaces->prev_all = as;
	spaces = as;
	as->stats.vma_estimate = 1;
	__atomic_add_fetch(&vma_estimate, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&spaces_lock);
}

static void host_as_unregister(struct host_as *as)
{
	pthread_mutex_lock(&spaces_lock);
	if (as->prev_all)
		as->prev_all->next_all = as->next_all;
	else
		spaces = as->next_all;
	if (as->next_all)
		as->next_all->prev_all = as->prev_all;
	__atomic_sub_fetch(
		&vma_estimate,
		__atomic_load_n(&as->stats.vma_estimate, __ATOMIC_RELAXED),
		__ATOMIC_RELAXED);
	pthread_mutex_unlock(&spaces_lock);
}

void host_as_free(struct host_as *as)
{
	if (!as)
		return;
	host_as_unregister(as);
	as->backend->destroy(as);
	pthread_rwlock_destroy(&as->reset_lock);
	free(as);
}

/*
 * Drop every host mapping of every space. Context: spaces_lock held; the
 * other spaces' owners may be queueing and flushing meanwhile, so their
 * counters are only touched atomically, and each space's estimate leaves
 * the global sum exactly as it is reset (an add racing with it lands in
 * both or in neither).
 */
static void reset_all_locked(void)
{
	struct host_as *as;

	for (as = spaces; as; as = as->next_all) {
		unsigned long old;
		int err;

		pthread_rwlock_wrlock(&as->reset_lock);
		err = as->backend->reset(as);
		__atomic_store_n(&as->reset_gen, as->reset_gen + 1,
				 __ATOMIC_RELEASE);
		pthread_rwlock_unlock(&as->reset_lock);

		if (err) {
			fprintf(stderr,
				"umm: cannot drop the %s space's host "
				"mappings: %s\n",
				as->backend->name, strerror(-err));
			BUG_ON(err);
		}
		__atomic_add_fetch(&as->stats.resets, 1, __ATOMIC_RELAXED);
		old = __atomic_exchange_n(&as->stats.vma_estimate, 1,
					  __ATOMIC_RELAXED);
		__atomic_sub_fetch(&vma_estimate, old - 1, __ATOMIC_RELAXED);
	}
}

static void reset_all(void)
{
	pthread_mutex_lock(&spaces_lock);
	reset_all_locked();
	pthread_mutex_unlock(&spaces_lock);
}

/* Make room for @nr operations under the budget. */
static void reserve_vmas(struct host_as *as, unsigned int nr)
{
	unsigned long add = (unsigned long)nr * VMAS_PER_OP;

	if (__atomic_load_n(&vma_estimate, __ATOMIC_RELAXED) + add >
	    host_vma_budget())
		reset_all();
	__atomic_add_fetch(&as->stats.vma_estimate, add, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vma_estimate, add, __ATOMIC_RELAXED);
}

static bool can_merge(const struct host_op *last, enum host_op_kind kind,
		      uint64_t va, uint64_t off, int prot, unsigned int flags)
{
	if (last->kind != kind || last->prot != prot || last->flags != flags ||
	    last->va + last->len != va)
		return false;
	if (kind == HOST_OP_PROTECT)
		return last->gen == (uint32_t)off;
	return kind != HOST_OP_MAP || last->off + last->len == off;
}

/* Merging off: one op per page, each its own host call. */
static void queue_pages(struct host_as *as, enum host_op_kind kind, uint64_t va,
			uint64_t len, uint64_t off, int prot,
			unsigned int flags)
{
	uint64_t done;

	for (done = 0; done < len; done += PAGE_SIZE) {
		struct host_op *op;

		if (as->nr_queued == HOST_AS_QUEUE)
			host_as_flush(as);
		op = &as->queue[as->nr_queued++];
		op->kind = (uint8_t)kind;
		op->flags = (uint8_t)flags;
		op->prot = (uint8_t)prot;
		op->va = va + done;
		op->len = PAGE_SIZE;
		op->off = kind == HOST_OP_MAP ? off + done : 0;
		op->gen = kind == HOST_OP_PROTECT ? (uint32_t)off : 0;
	}
}

/* For HOST_OP_PROTECT, @off carries the generation. */
static void queue_op(struct host_as *as, enum host_op_kind kind, uint64_t va,
		     uint64_t len, uint64_t off, int prot, unsigned int flags)
{
	struct host_op *op;

	BUG_ON(va + len > as->size || va + len < va || !len);
	as->stats.ops++;
	if (__atomic_load_n(&as->no_merge, __ATOMIC_RELAXED)) {
		queue_pages(as, kind, va, len, off, prot, flags);
		return;
	}
	if (as->nr_queued) {
		op = &as->queue[as->nr_queued - 1];
		if (can_merge(op, kind, va, off, prot, flags)) {
			op->len += len;
			return;
		}
	}
	if (as->nr_queued == HOST_AS_QUEUE)
		host_as_flush(as);
	op = &as->queue[as->nr_queued++];
	op->kind = (uint8_t)kind;
	op->flags = (uint8_t)flags;
	op->prot = (uint8_t)prot;
	op->va = va;
	op->len = len;
	op->off = kind == HOST_OP_PROTECT ? 0 : off;
	op->gen = kind == HOST_OP_PROTECT ? (uint32_t)off : 0;
}

void host_as_set_merge(struct host_as *as, bool merge)
{
	__atomic_store_n(&as->no_merge, !merge, __ATOMIC_RELAXED);
}

void host_as_queue(struct host_as *as, enum host_op_kind kind, uint64_t va,
		   uint64_t len, uint64_t off, int prot, unsigned int flags)
{
	BUG_ON(kind == HOST_OP_PROTECT); /* host_as_queue_protect() */
	queue_op(as, kind, va, len, off, prot, flags);
}

void host_as_queue_protect(struct host_as *as, uint64_t va, uint64_t len,
			   int prot, uint32_t gen)
{
	queue_op(as, HOST_OP_PROTECT, va, len, gen, prot, 0);
}

/*
 * The most operations one batch may carry. A reset brings the estimate down
 * to one VMA per space; one batch must then fit in the budget with room to
 * spare for the other spaces, or the reset could not bring the process back
 * under it (a full queue alone may add 2 * HOST_AS_QUEUE VMAs).
 */
static unsigned int batch_max(void)
{
	unsigned long n = host_vma_budget() / (2 * VMAS_PER_OP);

	if (n > HOST_AS_QUEUE)
		return HOST_AS_QUEUE;
	return n ? (unsigned int)n : 1;
}

/* Carry out @nr operations within the budget. */
static void flush_batch(struct host_as *as, const struct host_op *ops,
			unsigned int nr)
{
	unsigned int start = 0, retries = 0;

	reserve_vmas(as, nr);
	while (start < nr) {
		unsigned int done = 0;
		int err;

		/* No reset may drop a range between a PROTECT's check and it. */
		pthread_rwlock_rdlock(&as->reset_lock);
		err = as->backend->apply(as, ops + start, nr - start, &done);
		pthread_rwlock_unlock(&as->reset_lock);

		start += done;
		if (!err)
			break;
		/* A refusal for lack of room: drop the cache and go on. */
		if ((err != -ENOMEM && err != -EAGAIN) || ++retries > 8) {
			fprintf(stderr,
				"umm: host refused %s op at %#llx: %s\n",
				as->backend->name,
				(unsigned long long)ops[start].va,
				strerror(-err));
			BUG_ON(1);
		}
		reset_all();
		/* The reset forgot what is still to come: count it again. */
		reserve_vmas(as, nr - start);
	}
}

void host_as_flush(struct host_as *as)
{
	unsigned int start = 0, max = batch_max();

	while (start < as->nr_queued) {
		unsigned int nr = as->nr_queued - start;

		if (nr > max)
			nr = max;
		flush_batch(as, as->queue + start, nr);
		start += nr;
	}
	as->nr_queued = 0;
}

long host_as_count_vmas(struct host_as *as)
{
	char line[512];
	long n = 0;
	FILE *f;

	if (!as->base)
		return -EOPNOTSUPP;
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (lo >= as->base && hi <= as->base + as->size &&
		    strcmp(perms, "---p") != 0)
			n++;
	}
	fclose(f);
	return n;
}

int host_as_walk_vmas(struct host_as *as, host_vma_fn fn, void *arg)
{
	char line[512], path[256];
	int err = 0;
	FILE *f;

	if (!as->base)
		return -EOPNOTSUPP;
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return -errno;
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;
		char perms[8];
		int prot = 0;

		path[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %255s", &lo, &hi,
			   perms, &off, path) < 4)
			continue;
		if (lo < as->base || hi > as->base + as->size ||
		    !strcmp(perms, "---p"))
			continue;
		if (perms[0] == 'r')
			prot |= PROT_READ;
		if (perms[1] == 'w')
			prot |= PROT_WRITE;
		if (perms[2] == 'x')
			prot |= PROT_EXEC;
		err = fn(lo - as->base, hi - lo, prot,
			 strstr(path, PHYS_FILE_NAME) != NULL, off, arg);
	}
	fclose(f);
	return err;
}
