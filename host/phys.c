// SPDX-License-Identifier: MIT
/*
 * Guest physical memory: one memfd, sparse until frames are used, a linear
 * mapping of all of it for the kernel, and a frame allocator.
 *
 * The allocator is a bitmap of free frames searched next-fit from a cursor,
 * so that frames handed out one after another are contiguous in the file:
 * contiguous guest pages on contiguous file offsets merge into one host VMA.
 * Freed frames are punched out of the file, so the host's memory use follows
 * the guest's and a frame is zero when it is next handed out; except for a
 * pool of them, up to a cap, kept resident and zeroed through the linear
 * map instead (phys_set_pool): the host's work for a frame that goes and
 * comes back is then a memset, not a hole punched, a page cache page
 * freed, and a new one allocated and zeroed at the next map. The
 * allocator hands pooled frames out first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/host.h"
#include "host/internal.h"

#define BITS 64

struct phys {
	int fd;
	uint64_t nr_total; /* frames in the file, zero page included */
	uint8_t *kmap; /* linear mapping of the whole file */
	uint32_t *refcount; /* atomic */
	pthread_mutex_t lock; /* protects free_map, cursor, nr_free */
	uint64_t *free_map; /* bit set: frame is free */
	uint64_t cursor;
	uint64_t nr_free; /* written under lock, read by phys_nr_free without */
	bool scatter; /* see phys_set_scatter() */
	/* The pool: free frames kept resident and zero. Under lock. */
	uint64_t *pool_map; /* bit set: a free frame in the pool */
	uint64_t nr_pooled, pool_max, pool_cursor;
};

static bool frame_free(const struct phys *phys, uint64_t pfn)
{
	return phys->free_map[pfn / BITS] & (1ULL << (pfn % BITS));
}

static void frame_take(struct phys *phys, uint64_t pfn)
{
	uint64_t bit = 1ULL << (pfn % BITS);

	if (phys->pool_map[pfn / BITS] & bit) {
		phys->pool_map[pfn / BITS] &= ~bit;
		phys->nr_pooled--;
	}
	phys->free_map[pfn / BITS] &= ~(1ULL << (pfn % BITS));
	__atomic_store_n(&phys->nr_free, phys->nr_free - 1, __ATOMIC_RELAXED);
	__atomic_store_n(&phys->refcount[pfn], 1, __ATOMIC_RELAXED);
}

/*
 * The first frame at or after @from whose bit in @map is @set, or
 * nr_total. Context: lock held.
 */
static uint64_t next_bit_locked(const struct phys *phys, const uint64_t *map,
				bool set, uint64_t from)
{
	uint64_t nwords = (phys->nr_total + BITS - 1) / BITS;
	uint64_t w = from / BITS, flip = set ? 0 : ~0ULL;
	uint64_t word;

	if (from >= phys->nr_total)
		return phys->nr_total;
	word = (map[w] ^ flip) & (~0ULL << (from % BITS));
	while (!word) {
		if (++w >= nwords)
			return phys->nr_total;
		word = map[w] ^ flip;
	}
	from = w * BITS + (uint64_t)__builtin_ctzll(word);
	return from < phys->nr_total ? from : phys->nr_total;
}

/* The first free frame at or after @from, or nr_total. Context: lock held. */
static uint64_t next_free_locked(const struct phys *phys, uint64_t from)
{
	return next_bit_locked(phys, phys->free_map, true, from);
}

/* Frames a run that lost its next frame looks for to start again. */
#define PHYS_RUN_ROOM 512

/*
 * The first run of @n frames set in @map (free frames, or pooled ones) that
 * starts in [lo, hi) (it may end past @hi), or nr_total when there is
 * none. Context: lock held.
 */
static uint64_t find_run_in_locked(const struct phys *phys, const uint64_t *map,
				   uint64_t lo, uint64_t hi, uint64_t n)
{
	uint64_t start = next_bit_locked(phys, map, true, lo);

	while (start < hi) {
		uint64_t end = next_bit_locked(phys, map, false, start);

		if (end - start >= n)
			return start;
		start = next_bit_locked(phys, map, true, end);
	}
	return phys->nr_total;
}

static uint64_t find_run_locked(const struct phys *phys, uint64_t lo,
				uint64_t hi, uint64_t n)
{
	return find_run_in_locked(phys, phys->free_map, lo, hi, n);
}

struct phys *phys_new(uint64_t bytes)
{
	struct phys *phys;
	uint64_t nwords, pfn;
	int err;

	bytes = PAGE_ALIGN(bytes);
	if (bytes < 2 * PAGE_SIZE || bytes >> PAGE_SHIFT > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	phys = calloc(1, sizeof(*phys));
	if (!phys)
		return NULL;
	phys->nr_total = bytes >> PAGE_SHIFT;
	phys->fd = memfd_create(PHYS_FILE_NAME, MFD_CLOEXEC);
	if (phys->fd < 0)
		goto out_free;
	if (ftruncate(phys->fd, (off_t)bytes) < 0)
		goto out_close;
	phys->kmap = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_NORESERVE, phys->fd, 0);
	if (phys->kmap == MAP_FAILED)
		goto out_close;
	nwords = (phys->nr_total + BITS - 1) / BITS;
	phys->refcount = calloc(phys->nr_total, sizeof(*phys->refcount));
	phys->free_map = calloc(nwords, sizeof(*phys->free_map));
	phys->pool_map = calloc(nwords, sizeof(*phys->pool_map));
	if (!phys->refcount || !phys->free_map || !phys->pool_map)
		goto out_unmap;
	phys->pool_max = phys_pool_default(phys);
	phys->pool_cursor = 1;
	for (pfn = 1; pfn < phys->nr_total; pfn++)
		phys->free_map[pfn / BITS] |= 1ULL << (pfn % BITS);
	phys->nr_free = phys->nr_total - 1;
	phys->refcount[PHYS_ZERO_PFN] = 1; /* never freed */
	phys->cursor = 1;
	pthread_mutex_init(&phys->lock, NULL);
	return phys;

out_unmap:
	err = errno;
	free(phys->refcount);
	free(phys->free_map);
	free(phys->pool_map);
	munmap(phys->kmap, bytes);
	errno = err;
out_close:
	err = errno;
	close(phys->fd);
	errno = err;
out_free:
	err = errno;
	free(phys);
	errno = err;
	return NULL;
}

void phys_free(struct phys *phys)
{
	if (!phys)
		return;
	host_stub_pool_forget(phys);
	munmap(phys->kmap, phys->nr_total << PAGE_SHIFT);
	close(phys->fd);
	free(phys->refcount);
	free(phys->free_map);
	free(phys->pool_map);
	pthread_mutex_destroy(&phys->lock);
	free(phys);
}

int phys_fd(const struct phys *phys)
{
	return phys->fd;
}

uint64_t phys_nr_frames(const struct phys *phys)
{
	return phys->nr_total - 1;
}

uint64_t phys_nr_free(const struct phys *phys)
{
	return __atomic_load_n(&phys->nr_free, __ATOMIC_RELAXED);
}

void *phys_kaddr(const struct phys *phys, uint32_t pfn)
{
	BUG_ON(pfn >= phys->nr_total);
	return phys->kmap + ((uint64_t)pfn << PAGE_SHIFT);
}

uint64_t phys_pool_default(const struct phys *phys)
{
	uint64_t max = (256ULL << 20) >> PAGE_SHIFT; /* at most 256 MiB */

	return phys->nr_total / 2 < max ? phys->nr_total / 2 : max;
}

void phys_set_pool(struct phys *phys, uint64_t max_frames)
{
	pthread_mutex_lock(&phys->lock);
	phys->pool_max = max_frames;
	pthread_mutex_unlock(&phys->lock);
}

uint64_t phys_nr_pooled(struct phys *phys)
{
	uint64_t n;

	pthread_mutex_lock(&phys->lock);
	n = phys->nr_pooled;
	pthread_mutex_unlock(&phys->lock);
	return n;
}

/* A run of @n pooled frames, from the pool's cursor on. Context: lock. */
static uint64_t find_pool_run_locked(const struct phys *phys, uint64_t n)
{
	uint64_t run = find_run_in_locked(phys, phys->pool_map,
					  phys->pool_cursor, phys->nr_total, n);

	if (run >= phys->nr_total)
		run = find_run_in_locked(phys, phys->pool_map, 1,
					 phys->pool_cursor, n);
	return run;
}

/*
 * Take a run of @nr pooled frames (resident and zero), so that what the
 * guest gets stays contiguous: @room frames into a pooled run of twice
 * @room if there is one (see phys_alloc), else the first run after the
 * pool's cursor that holds them. The number taken (0 or @nr). Context:
 * lock held.
 */
static unsigned int alloc_pooled_locked(struct phys *phys, unsigned int nr,
					uint32_t *pfns, unsigned int room)
{
	uint64_t run = phys->nr_total, pfn;
	unsigned int got = 0;

	if (room > nr) {
		run = find_pool_run_locked(phys, 2 * room);
		if (run < phys->nr_total)
			run += room;
	}
	if (run >= phys->nr_total)
		run = find_pool_run_locked(phys, nr);
	if (run >= phys->nr_total)
		return 0;
	for (pfn = run; got < nr; pfn++) {
		frame_take(phys, pfn);
		pfns[got++] = (uint32_t)pfn;
	}
	phys->pool_cursor = pfn < phys->nr_total ? pfn : 1;
	phys->cursor = phys->pool_cursor;
	return got;
}

void phys_set_scatter(struct phys *phys, bool scatter)
{
	pthread_mutex_lock(&phys->lock);
	phys->scatter = scatter;
	pthread_mutex_unlock(&phys->lock);
}

/*
 * Scatter: next-fit, stepping over one frame after each taken, so no two
 * frames handed out in a row are neighbours (until the file is so full that
 * only neighbours are left). Context: lock held.
 */
static unsigned int alloc_scattered_locked(struct phys *phys, unsigned int nr,
					   uint32_t *pfns)
{
	uint64_t pfn = phys->cursor, scanned = 0;
	unsigned int got = 0;

	while (got < nr && phys->nr_free && scanned <= 2 * phys->nr_total) {
		uint64_t next = next_free_locked(phys, pfn);

		if (next >= phys->nr_total) { /* wrap */
			scanned +=
				pfn < phys->nr_total ? phys->nr_total - pfn : 0;
			pfn = 1;
			continue;
		}
		scanned += next - pfn + 2;
		frame_take(phys, next);
		pfns[got++] = (uint32_t)next;
		pfn = next + 2;
	}
	phys->cursor = pfn < phys->nr_total ? pfn : 1;
	return got;
}

/* A run of @n free frames, from the cursor on. Context: lock held. */
static uint64_t find_free_run_locked(const struct phys *phys, uint64_t n)
{
	uint64_t run = find_run_locked(phys, phys->cursor, phys->nr_total, n);

	if (run >= phys->nr_total)
		run = find_run_locked(phys, 1, phys->cursor, n);
	return run;
}

unsigned int phys_alloc(struct phys *phys, uint32_t hint, unsigned int nr,
			uint32_t *pfns)
{
	unsigned int got = 0, room = 0;
	uint64_t pfn, scanned = 0;

	pthread_mutex_lock(&phys->lock);
	if (phys->scatter) {
		got = alloc_scattered_locked(phys, nr, pfns);
		pthread_mutex_unlock(&phys->lock);
		return got;
	}
	if (hint && hint < phys->nr_total) {
		for (pfn = hint;
		     got < nr && pfn < phys->nr_total && frame_free(phys, pfn);
		     pfn++) {
			frame_take(phys, pfn);
			pfns[got++] = (uint32_t)pfn;
		}
		if (got)
			phys->cursor = pfn;
	}
	/*
	 * The frame after the caller's run is gone: another writer grows its
	 * own run there (two vCPUs first-touching their halves of a region
	 * would alternate blocks, a host VMA each). Start a new run in the
	 * middle of a free stretch of twice PHYS_RUN_ROOM, if there is one:
	 * room to grow for the caller, and for whoever took the frame after
	 * the cursor, which is where the stretch may begin.
	 */
	if (hint && !got && nr < PHYS_RUN_ROOM)
		room = PHYS_RUN_ROOM;
	/* Then the pool's frames, resident and zero already. */
	if (got < nr && phys->nr_pooled)
		got += alloc_pooled_locked(phys, nr - got, pfns + got, room);
	/*
	 * Next-fit alone takes the first free frames after the cursor, holes
	 * and all, once the allocator has wrapped: look for a run that holds
	 * the rest first, so contiguous guest pages stay one host VMA. Only
	 * when there is none are the frames scattered.
	 */
	if (got < nr && (nr - got > 1 || room > nr)) {
		uint64_t run = phys->nr_total;

		if (room > nr) {
			run = find_free_run_locked(phys, 2 * room);
			if (run < phys->nr_total)
				run += room;
		}
		if (run >= phys->nr_total)
			run = find_free_run_locked(phys, nr - got);
		if (run < phys->nr_total) {
			for (pfn = run; got < nr; pfn++) {
				frame_take(phys, pfn);
				pfns[got++] = (uint32_t)pfn;
			}
			phys->cursor = pfn;
		}
	}
	pfn = phys->cursor;
	while (got < nr && phys->nr_free && scanned <= phys->nr_total) {
		uint64_t next = next_free_locked(phys, pfn);

		if (next >= phys->nr_total) { /* wrap once */
			scanned += phys->nr_total - pfn;
			pfn = 1;
			continue;
		}
		scanned += next - pfn + 1;
		frame_take(phys, next);
		pfns[got++] = (uint32_t)next;
		pfn = next + 1;
	}
	phys->cursor = pfn < phys->nr_total ? pfn : 1;
	pthread_mutex_unlock(&phys->lock);
	return got;
}

void phys_get(struct phys *phys, uint32_t pfn)
{
	uint32_t old =
		__atomic_fetch_add(&phys->refcount[pfn], 1, __ATOMIC_RELAXED);

	BUG_ON(old == 0);
}

unsigned int phys_refcount(const struct phys *phys, uint32_t pfn)
{
	return __atomic_load_n(&phys->refcount[pfn], __ATOMIC_RELAXED);
}

static int cmp_pfn(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Give a run of dead frames back to the allocator: the first ones the pool
 * has room for zeroed and kept, the rest punched out of the file.
 */
static void release_run(struct phys *phys, uint32_t first, uint32_t n)
{
	uint32_t keep = 0;
	uint64_t pfn;

	pthread_mutex_lock(&phys->lock);
	if (!phys->scatter && phys->nr_pooled < phys->pool_max) {
		keep = phys->pool_max - phys->nr_pooled < n
			       ? (uint32_t)(phys->pool_max - phys->nr_pooled)
			       : n;
		phys->nr_pooled += keep; /* claimed: no one else fills it */
	}
	pthread_mutex_unlock(&phys->lock);
	if (keep)
		memset(phys_kaddr(phys, first), 0, (size_t)keep << PAGE_SHIFT);
	if (keep < n &&
	    fallocate(phys->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(first + keep) << PAGE_SHIFT,
		      (off_t)(n - keep) << PAGE_SHIFT) < 0) {
		/* Cannot give it back: zero it so it is fit for reuse. */
		memset(phys_kaddr(phys, first + keep), 0,
		       (size_t)(n - keep) << PAGE_SHIFT);
	}
	pthread_mutex_lock(&phys->lock);
	for (pfn = first; pfn < (uint64_t)first + n; pfn++) {
		BUG_ON(frame_free(phys, pfn));
		phys->free_map[pfn / BITS] |= 1ULL << (pfn % BITS);
		if (pfn < (uint64_t)first + keep)
			phys->pool_map[pfn / BITS] |= 1ULL << (pfn % BITS);
	}
	/* read without the lock by phys_nr_free(): atomically */
	__atomic_store_n(&phys->nr_free, phys->nr_free + n, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&phys->lock);
}

void phys_put_many(struct phys *phys, const uint32_t *pfns, unsigned int nr)
{
	uint32_t stack[256], *dead = stack;
	unsigned int i, ndead = 0;

	if (nr > 256) {
		dead = malloc(nr * sizeof(*dead));
		BUG_ON(!dead);
	}
	for (i = 0; i < nr; i++) {
		uint32_t pfn = pfns[i];
		uint32_t old;

		BUG_ON(pfn == PHYS_ZERO_PFN || pfn >= phys->nr_total);
		old = __atomic_fetch_sub(&phys->refcount[pfn], 1,
					 __ATOMIC_ACQ_REL);
		BUG_ON(old == 0);
		if (old == 1)
			dead[ndead++] = pfn;
	}
	if (ndead > 1)
		qsort(dead, ndead, sizeof(*dead), cmp_pfn);
	for (i = 0; i < ndead;) {
		unsigned int j = i + 1;

		while (j < ndead && dead[j] == dead[j - 1] + 1)
			j++;
		release_run(phys, dead[i], j - i);
		i = j;
	}
	if (dead != stack)
		free(dead);
}

void phys_copy(struct phys *phys, uint32_t dst, uint32_t src, unsigned int nr)
{
	loff_t in = (loff_t)src << PAGE_SHIFT, out = (loff_t)dst << PAGE_SHIFT;
	size_t left = (size_t)nr << PAGE_SHIFT;

	BUG_ON(dst + nr > phys->nr_total || src + nr > phys->nr_total);
	while (left) {
		ssize_t n =
			copy_file_range(phys->fd, &in, phys->fd, &out, left, 0);

		if (n <= 0)
			break;
		left -= (size_t)n;
	}
	if (left) /* no copy_file_range here: through the linear map */
		memcpy(phys->kmap + out, phys->kmap + in, left);
}
