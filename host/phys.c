// SPDX-License-Identifier: MIT
/*
 * Guest physical memory: one memfd, sparse until frames are used, a linear
 * mapping of all of it for the kernel, and a frame allocator.
 *
 * The allocator is a bitmap of free frames searched next-fit from a cursor,
 * so that frames handed out one after another are contiguous in the file:
 * contiguous guest pages on contiguous file offsets merge into one host VMA.
 * Freed frames are punched out of the file, so the host's memory use follows
 * the guest's and a frame is zero when it is next handed out.
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
};

static bool frame_free(const struct phys *phys, uint64_t pfn)
{
	return phys->free_map[pfn / BITS] & (1ULL << (pfn % BITS));
}

static void frame_take(struct phys *phys, uint64_t pfn)
{
	phys->free_map[pfn / BITS] &= ~(1ULL << (pfn % BITS));
	__atomic_store_n(&phys->nr_free, phys->nr_free - 1, __ATOMIC_RELAXED);
	__atomic_store_n(&phys->refcount[pfn], 1, __ATOMIC_RELAXED);
}

/* The first free frame at or after @from, or nr_total. Context: lock held. */
static uint64_t next_free_locked(const struct phys *phys, uint64_t from)
{
	uint64_t nwords = (phys->nr_total + BITS - 1) / BITS;
	uint64_t w = from / BITS;
	uint64_t word;

	if (from >= phys->nr_total)
		return phys->nr_total;
	word = phys->free_map[w] & (~0ULL << (from % BITS));
	while (!word) {
		if (++w >= nwords)
			return phys->nr_total;
		word = phys->free_map[w];
	}
	from = w * BITS + (uint64_t)__builtin_ctzll(word);
	return from < phys->nr_total ? from : phys->nr_total;
}

/* The first frame in use at or after @from, or nr_total. Context: lock held. */
static uint64_t next_used_locked(const struct phys *phys, uint64_t from)
{
	uint64_t nwords = (phys->nr_total + BITS - 1) / BITS;
	uint64_t w = from / BITS;
	uint64_t word;

	if (from >= phys->nr_total)
		return phys->nr_total;
	word = ~phys->free_map[w] & (~0ULL << (from % BITS));
	while (!word) {
		if (++w >= nwords)
			return phys->nr_total;
		word = ~phys->free_map[w];
	}
	from = w * BITS + (uint64_t)__builtin_ctzll(word);
	return from < phys->nr_total ? from : phys->nr_total;
}

/*
 * The first run of @n free frames that starts in [lo, hi) (it may end past
 * @hi), or nr_total when there is none. Context: lock held.
 */
static uint64_t find_run_locked(const struct phys *phys, uint64_t lo,
				uint64_t hi, uint64_t n)
{
	uint64_t start = next_free_locked(phys, lo);

	while (start < hi) {
		uint64_t end = next_used_locked(phys, start);

		if (end - start >= n)
			return start;
		start = next_free_locked(phys, end);
	}
	return phys->nr_total;
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
	if (!phys->refcount || !phys->free_map)
		goto out_unmap;
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

unsigned int phys_alloc(struct phys *phys, uint32_t hint, unsigned int nr,
			uint32_t *pfns)
{
	unsigned int got = 0;
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
	 * Next-fit alone takes the first free frames after the cursor, holes
	 * and all, once the allocator has wrapped: look for a run that holds
	 * the rest first, so contiguous guest pages stay one host VMA. Only
	 * when there is none are the frames scattered.
	 */
	if (nr - got > 1) {
		uint64_t run = find_run_locked(phys, phys->cursor,
					       phys->nr_total, nr - got);

		if (run >= phys->nr_total)
			run = find_run_locked(phys, 1, phys->cursor, nr - got);
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

/* Give a run of dead frames back to the host, then to the allocator. */
static void release_run(struct phys *phys, uint32_t first, uint32_t n)
{
	uint64_t pfn;

	if (fallocate(phys->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)first << PAGE_SHIFT, (off_t)n << PAGE_SHIFT) < 0) {
		/* Cannot give it back: zero it so it is fit for reuse. */
		memset(phys_kaddr(phys, first), 0, (size_t)n << PAGE_SHIFT);
	}
	pthread_mutex_lock(&phys->lock);
	for (pfn = first; pfn < (uint64_t)first + n; pfn++) {
		BUG_ON(frame_free(phys, pfn));
		phys->free_map[pfn / BITS] |= 1ULL << (pfn % BITS);
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
