// SPDX-License-Identifier: MIT
/*
 * Host address spaces: a queue of mapping operations, merged as they are
 * queued and carried out by a backend in one batch per flush.
 *
 * Host mappings are only a cache of the guest page tables: a TLB. Each
 * space keeps a model of the host VMAs it holds (host/vmamap.c), so the
 * process counts them exactly against its VMA budget. When a batch could
 * take the process past the budget, or the host refuses a mapping (ENOMEM
 * at vm.max_map_count, EAGAIN), the least recently filled mappings are
 * evicted, of the flushing space first, then of the others, down to three
 * quarters of the budget, so that eviction comes in batches and seldom;
 * later faults refill what is used. Only when eviction fails does every
 * space drop all its mappings (a reset, one call each). Dropping only
 * narrows what the host allows, so it is always safe, even against a
 * concurrent flush.
 *
 * Lock order: spaces_lock, then one space's reset_lock. A space's owner
 * never takes spaces_lock with its own reset_lock held.
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
/* The VMAs of the spaces held in this process (local, record). */
static struct host_vma_acct this_process;

/* An operation adds at most two host VMAs: its own and a split. */
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

unsigned long host_vmas_held(void)
{
	return __atomic_load_n(&this_process.held, __ATOMIC_RELAXED);
}

static void stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/*
 * The space's counts from its VMA map, into its stats and the process's
 * sum. Context: as->reset_lock (owner reading, or writing).
 */
static void count_vmas(struct host_as *as)
{
	struct vmamap *m = as->vmamap;
	uint64_t old = __atomic_exchange_n(&as->stats.vmas, m->nr_runs,
					   __ATOMIC_RELAXED);

	__atomic_store_n(&as->stats.vmas_mapped, m->nr_mapped,
			 __ATOMIC_RELAXED);
	__atomic_add_fetch(&as->acct->held, m->nr_runs - old, __ATOMIC_RELAXED);
}

void host_as_register(struct host_as *as)
{
	as->vmamap = malloc(sizeof(*as->vmamap));
	BUG_ON(!as->vmamap);
	vmamap_init(as->vmamap, as->size);
	pthread_rwlock_init(&as->reset_lock, NULL);
	pthread_mutex_init(&as->model_lock, NULL);
	/* A space in a process of its own counts against that one's limit. */
	as->acct = as->backend->own_process ? &as->own_acct : &this_process;
	pthread_mutex_lock(&spaces_lock);
	as->next_all = spaces;
	as->prev_all = NULL;
	if (spaces)
		spaces->prev_all = as;
	spaces = as;
	count_vmas(as);
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
	__atomic_sub_fetch(&as->acct->held,
			   __atomic_load_n(&as->stats.vmas, __ATOMIC_RELAXED),
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
	pthread_mutex_destroy(&as->model_lock);
	vmamap_destroy(as->vmamap);
	free(as->vmamap);
	free(as);
}

/* Bump the generation: the space lost mappings. Context: reset_lock (w). */
static void bump_gen(struct host_as *as)
{
	__atomic_store_n(&as->reset_gen, as->reset_gen + 1, __ATOMIC_RELEASE);
}

/* Drop every mapping of @as. Context: as->reset_lock held for writing. */
static void reset_space_locked(struct host_as *as)
{
	int err;

	bump_gen(as); /* and after: see evict_space */
	err = as->backend->reset(as);

	if (err) {
		fprintf(stderr,
			"umm: cannot drop the %s space's host mappings: %s\n",
			as->backend->name, strerror(-err));
		BUG_ON(err);
	}
	bump_gen(as);
	vmamap_reset(as->vmamap);
	count_vmas(as);
	stat_add(&as->stats.resets, 1);
}

void host_as_reset(struct host_as *as)
{
	pthread_rwlock_wrlock(&as->reset_lock);
	reset_space_locked(as);
	pthread_rwlock_unlock(&as->reset_lock);
}

void host_as_discard(struct host_as *as)
{
	as->queue.nr = 0;
	pthread_rwlock_wrlock(&as->reset_lock);
	if (as->backend->discard) {
		as->backend->discard(as);
		bump_gen(as);
		vmamap_reset(as->vmamap);
		count_vmas(as);
	} else {
		reset_space_locked(as);
	}
	as->discarded = true;
	pthread_rwlock_unlock(&as->reset_lock);
}

/*
 * Drop every host mapping of every space: the last resort. Context:
 * spaces_lock held; the other spaces' owners may be queueing and flushing
 * meanwhile: each is reset under its reset_lock.
 */
static void reset_all_locked(struct host_vma_acct *acct)
{
	struct host_as *as;

	for (as = spaces; as; as = as->next_all) {
		if (as->acct != acct)
			continue;
		pthread_rwlock_wrlock(&as->reset_lock);
		reset_space_locked(as);
		pthread_rwlock_unlock(&as->reset_lock);
	}
}

static void reset_all(struct host_vma_acct *acct)
{
	pthread_mutex_lock(&spaces_lock);
	reset_all_locked(acct);
	pthread_mutex_unlock(&spaces_lock);
}

/* The process holding @as holds more than @target VMAs. */
static bool over(struct host_as *as, unsigned long target)
{
	return __atomic_load_n(&as->acct->held, __ATOMIC_RELAXED) > target;
}

static int cmp_op_va(const void *a, const void *b)
{
	const struct host_op *x = a, *y = b;

	return x->va < y->va ? -1 : x->va > y->va;
}

/*
 * Turn @nr victims, planned on the VMA map already, into UNMAP ops in
 * address order, one per run of victims with only reservation between
 * them (one host call drops them all). Returns the number of ops.
 */
static unsigned int coalesce_victims(struct host_as *as, struct host_op *v,
				     unsigned int nr)
{
	unsigned int i, n = 0;

	if (!nr)
		return 0;
	qsort(v, nr, sizeof(*v), cmp_op_va);
	for (i = 1; i < nr; i++) {
		uint64_t end = v[i].va + v[i].len;

		if (vmamap_reserved(as->vmamap, v[n].va, end - v[n].va))
			v[n].len = end - v[n].va;
		else
			v[++n] = v[i];
	}
	return n + 1;
}

/*
 * Plan on the VMA map the eviction of up to @max of the least recently
 * filled mappings of @as, until the process holds at most @target. Writes
 * them to @v and returns how many; counts them in *pages.
 */
static unsigned int plan_victims(struct host_as *as, unsigned long target,
				 struct host_op *v, unsigned int max,
				 uint64_t *pages)
{
	unsigned int nr;

	for (nr = 0; nr < max && over(as, target); nr++) {
		struct host_op *op = &v[nr];

		if (!vmamap_evict_oldest(as->vmamap, &op->va, &op->len))
			break;
		op->kind = HOST_OP_UNMAP;
		op->flags = 0;
		op->prot = PROT_NONE;
		op->gen = 0;
		op->off = 0;
		count_vmas(as);
		*pages += op->len >> PAGE_SHIFT;
	}
	return nr;
}

/* Carry out @nr ops, a queue's worth at a time. 0 or -errno. */
static int apply_all(struct host_as *as, const struct host_op *ops,
		     unsigned int nr)
{
	unsigned int start, done;
	int err = 0;

	for (start = 0; !err && start < nr; start += HOST_AS_QUEUE)
		err = as->backend->apply(
			as, ops + start,
			nr - start < HOST_AS_QUEUE ? nr - start : HOST_AS_QUEUE,
			&done);
	return err;
}

/*
 * Evict the least recently filled mappings of @as until the process holds
 * at most @target host VMAs or @as holds no mapping. The victims are
 * planned on the VMA map, all at once where memory allows (the more there
 * are, the more lie next to each other with only reservation between, and
 * go in one host call), and then carried out; if the host refuses to drop
 * a mapping (past vm.max_map_count even a reservation's mmap fails), the
 * whole space is reset instead. Context: not under as->reset_lock; the
 * caller is @as's owner or holds spaces_lock.
 */
static void evict_space(struct host_as *as, unsigned long target)
{
	struct host_op small[HOST_AS_QUEUE], *v;
	uint64_t runs = 0, pages = 0;
	unsigned int nr, max;
	int err = 0;

	pthread_rwlock_wrlock(&as->reset_lock);
	/*
	 * Bumped before the first unmap too, as a seqcount: a user that
	 * trusts what it knew at the generation (mm's lockless look for a
	 * fixed fault) sees a change as soon as a mapping may be gone.
	 */
	if (over(as, target) && as->vmamap->nr_mapped)
		bump_gen(as);
	max = (unsigned int)as->vmamap->nr_mapped;
	v = max > HOST_AS_QUEUE ? malloc(max * sizeof(*v)) : NULL;
	if (!v) {
		v = small;
		max = HOST_AS_QUEUE;
	}
	while (!err && over(as, target) && as->vmamap->nr_mapped) {
		nr = plan_victims(as, target, v, max, &pages);
		runs += nr;
		err = apply_all(as, v, coalesce_victims(as, v, nr));
	}
	if (v != small)
		free(v);
	if (runs)
		bump_gen(as);
	if (err)
		reset_space_locked(as);
	pthread_rwlock_unlock(&as->reset_lock);
	stat_add(&as->stats.evictions, runs);
	stat_add(&as->stats.evicted_pages, pages);
}

/* Evict until the process holds at most @target: @as first, then others. */
static void evict(struct host_as *as, unsigned long target)
{
	struct host_as *other;

	evict_space(as, target);
	if (!over(as, target))
		return;
	/* Only spaces of the same host process: they share its limit. */
	pthread_mutex_lock(&spaces_lock);
	for (other = spaces; other && over(as, target); other = other->next_all)
		if (other != as && other->acct == as->acct)
			evict_space(other, target);
	pthread_mutex_unlock(&spaces_lock);
}

/*
 * Make room under the budget for a batch of @nr operations, and claim it
 * until release_room(): an eviction down to three quarters of the budget
 * when the VMAs held and the room other batches claimed leave too little.
 */
static unsigned long claim_room(struct host_as *as, unsigned int nr)
{
	unsigned long need = (unsigned long)nr * VMAS_PER_OP;
	unsigned long budget = host_vma_budget();
	unsigned long target = budget - budget / 4;

	if (__atomic_load_n(&as->acct->held, __ATOMIC_RELAXED) +
		    __atomic_load_n(&as->acct->pending, __ATOMIC_RELAXED) +
		    need >
	    budget) {
		if (target + need > budget)
			target = need < budget ? budget - need : 0;
		evict(as, target);
	}
	__atomic_add_fetch(&as->acct->pending, need, __ATOMIC_RELAXED);
	return need;
}

static void release_room(struct host_as *as, unsigned long need)
{
	__atomic_sub_fetch(&as->acct->pending, need, __ATOMIC_RELAXED);
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
static void queue_pages(struct host_as *as, struct host_batch *b,
			enum host_op_kind kind, uint64_t va, uint64_t len,
			uint64_t off, int prot, unsigned int flags)
{
	uint64_t done;

	for (done = 0; done < len; done += PAGE_SIZE) {
		struct host_op *op;

		if (b->nr == HOST_AS_QUEUE)
			host_batch_flush(as, b);
		op = &b->ops[b->nr++];
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
static void queue_op(struct host_as *as, struct host_batch *b,
		     enum host_op_kind kind, uint64_t va, uint64_t len,
		     uint64_t off, int prot, unsigned int flags)
{
	struct host_op *op;

	BUG_ON(va + len > as->size || va + len < va || !len);
	if (as->discarded)
		return;
	stat_add(&as->stats.ops, 1);
	if (__atomic_load_n(&as->no_merge, __ATOMIC_RELAXED)) {
		queue_pages(as, b, kind, va, len, off, prot, flags);
		return;
	}
	if (b->nr) {
		op = &b->ops[b->nr - 1];
		if (can_merge(op, kind, va, off, prot, flags)) {
			op->len += len;
			stat_add(&as->stats.merged, 1);
			return;
		}
	}
	if (b->nr == HOST_AS_QUEUE)
		host_batch_flush(as, b);
	op = &b->ops[b->nr++];
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
	queue_op(as, &as->queue, kind, va, len, off, prot, flags);
}

void host_batch_queue(struct host_as *as, struct host_batch *b,
		      enum host_op_kind kind, uint64_t va, uint64_t len,
		      uint64_t off, int prot, unsigned int flags)
{
	BUG_ON(kind == HOST_OP_PROTECT);
	queue_op(as, b, kind, va, len, off, prot, flags);
}

void host_as_queue_protect(struct host_as *as, uint64_t va, uint64_t len,
			   int prot, uint32_t gen)
{
	queue_op(as, &as->queue, HOST_OP_PROTECT, va, len, gen, prot, 0);
}

void host_as_queue_protect_pages(struct host_as *as, uint64_t va,
				 uint64_t pages, int prot, uint32_t gen)
{
	bool merge = !__atomic_load_n(&as->no_merge, __ATOMIC_RELAXED);

	queue_op(as, &as->queue, HOST_OP_PROTECT, va, pages << PAGE_SHIFT, gen,
		 prot, 0);
	/* queue_op counted one op, and its merge into the one before */
	if (pages > 1 && !as->discarded) {
		stat_add(&as->stats.ops, pages - 1);
		if (merge)
			stat_add(&as->stats.merged, pages - 1);
	}
}

/*
 * The most operations one batch may carry: its room (two VMAs an op) must
 * fit in the quarter of the budget an eviction leaves free.
 */
static unsigned int batch_max(void)
{
	unsigned long n = host_vma_budget() / (4 * VMAS_PER_OP);

	if (n > HOST_AS_QUEUE)
		return HOST_AS_QUEUE;
	return n ? (unsigned int)n : 1;
}

/* Does an op of @ops[0, i) map something into [va, va+len)? */
static bool mapped_before(const struct host_op *ops, unsigned int i,
			  uint64_t va, uint64_t len)
{
	while (i--)
		if (ops[i].kind != HOST_OP_UNMAP &&
		    ops[i].kind != HOST_OP_PROTECT && ops[i].va < va + len &&
		    va < ops[i].va + ops[i].len)
			return true;
	return false;
}

/*
 * A PROTECT queued before an eviction or reset of its range cannot be
 * trusted: where the host holds nothing (and no op before it in the batch
 * maps anything), the backend skips it as stale; anywhere else, part of
 * the range may have been dropped and part not, so the op drops it all
 * (an eviction of its own: the next fault maps it again). Context:
 * as->reset_lock held for reading.
 */
static void fix_stale_protects(struct host_as *as, struct host_op *ops,
			       unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct host_op *op = &ops[i];

		if (!host_op_stale(as, op))
			continue;
		if (vmamap_reserved(as->vmamap, op->va, op->len) &&
		    !mapped_before(ops, i, op->va, op->len))
			continue;
		op->kind = HOST_OP_UNMAP;
		op->prot = PROT_NONE;
		op->gen = 0;
	}
}

/*
 * What the backend did with @ops: @done carried out, then @failed (if not
 * NULL) refused, maybe half done. Context: as->reset_lock for reading.
 */
static void model_ops(struct host_as *as, const struct host_op *ops,
		      unsigned int done, const struct host_op *failed)
{
	unsigned int i;

	for (i = 0; i < done; i++) {
		if (host_op_stale(as, &ops[i]))
			continue;
		vmamap_apply(as->vmamap, &ops[i]);
		if (ops[i].kind == HOST_OP_MAP ||
		    ops[i].kind == HOST_OP_MAP_ZERO) {
			stat_add(&as->stats.fills, 1);
			stat_add(&as->stats.fill_pages,
				 ops[i].len >> PAGE_SHIFT);
		}
	}
	if (failed)
		vmamap_unknown(as->vmamap, failed->va, failed->len);
	count_vmas(as);
}

/* Evictions tried on host refusals before every space is reset. */
#define REFUSALS_EVICT 4
/* Refusals after which resets have not helped either: a bug. */
#define REFUSALS_MAX 8

/*
 * The host refused an op for lack of room. Evict a quarter of what umm
 * holds (at least one VMA, so that a small holding goes whole); after
 * REFUSALS_EVICT evictions, reset every space.
 */
static void make_room_after_refusal(struct host_as *as, unsigned int refusals)
{
	unsigned long held = __atomic_load_n(&as->acct->held, __ATOMIC_RELAXED);

	if (refusals > REFUSALS_EVICT) {
		reset_all(as->acct);
		return;
	}
	evict(as, held < 4 ? 0 : held - held / 4);
}

/* Carry out @nr operations within the budget. */
static void flush_batch(struct host_as *as, struct host_op *ops,
			unsigned int nr)
{
	unsigned int start = 0, refusals = 0;
	unsigned long room = claim_room(as, nr);

	while (start < nr) {
		unsigned int done = 0;
		int err;

		/* No eviction may drop a range between a PROTECT's check and it. */
		pthread_rwlock_rdlock(&as->reset_lock);
		pthread_mutex_lock(&as->model_lock);
		fix_stale_protects(as, ops + start, nr - start);
		if (as->backend->concurrent)
			pthread_mutex_unlock(&as->model_lock);
		err = as->backend->apply(as, ops + start, nr - start, &done);
		if (as->backend->concurrent)
			pthread_mutex_lock(&as->model_lock);
		model_ops(as, ops + start, done,
			  err ? &ops[start + done] : NULL);
		pthread_mutex_unlock(&as->model_lock);
		pthread_rwlock_unlock(&as->reset_lock);

		start += done;
		if (!err)
			break;
		/* The backend's process is gone (stub): nothing to map. */
		if (err == -ESRCH)
			break;
		/* A refusal for lack of room: drop some of the cache, go on. */
		if ((err != -ENOMEM && err != -EAGAIN) ||
		    ++refusals > REFUSALS_MAX) {
			fprintf(stderr,
				"umm: host refused %s op at %#llx: %s\n",
				as->backend->name,
				(unsigned long long)ops[start].va,
				strerror(-err));
			BUG_ON(1);
		}
		make_room_after_refusal(as, refusals);
	}
	release_room(as, room);
}

void host_batch_flush(struct host_as *as, struct host_batch *b)
{
	unsigned int start = 0, max = batch_max();

	if (as->discarded) {
		b->nr = 0;
		return;
	}
	while (start < b->nr) {
		unsigned int nr = b->nr - start;

		if (nr > max)
			nr = max;
		flush_batch(as, b->ops + start, nr);
		start += nr;
	}
	b->nr = 0;
}

void host_as_flush(struct host_as *as)
{
	host_batch_flush(as, &as->queue);
}

/*
 * The maps of the process that holds @as: this one for a local space, the
 * child for a stub space (at base 0). NULL and *err otherwise.
 */
static FILE *maps_open(struct host_as *as, int *err)
{
	char name[64];
	int pid;
	FILE *f;

	if (as->base) {
		f = fopen("/proc/self/maps", "r");
	} else {
		host_stub_sync(as); /* what waits for the resume, first */
		pid = host_stub_pid(as);
		if (pid <= 0) {
			*err = -EOPNOTSUPP;
			return NULL;
		}
		snprintf(name, sizeof(name), "/proc/%d/maps", pid);
		f = fopen(name, "r");
	}
	if (!f)
		*err = -errno;
	return f;
}

long host_as_count_vmas(struct host_as *as)
{
	char line[512];
	long n = 0;
	FILE *f;
	int err;

	f = maps_open(as, &err);
	if (!f)
		return err;
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

	f = maps_open(as, &err);
	if (!f)
		return err;
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

struct walk_model {
	host_vma_fn fn;
	void *arg;
};

static int walk_model_run(uint64_t va, uint64_t len, int kind, int prot,
			  uint64_t off, void *arg)
{
	struct walk_model *w = arg;

	if (kind != VRUN_FILE && kind != VRUN_ZERO)
		return 0;
	return w->fn(va, len, prot, kind == VRUN_FILE, off, w->arg);
}

int host_as_walk_model(struct host_as *as, host_vma_fn fn, void *arg)
{
	struct walk_model w = {fn, arg};
	int err;

	pthread_rwlock_rdlock(&as->reset_lock);
	err = vmamap_walk(as->vmamap, walk_model_run, &w);
	pthread_rwlock_unlock(&as->reset_lock);
	return err;
}
