// SPDX-License-Identifier: MIT
/*
 * umm bench tlb: the software TLB (umm_tlb_lookup) against the host's own
 * TLB, which is what a plain load through a pointer costs; and concurrent
 * first-touch faults with one and two threads against the host's.
 *
 *   stlb_seq          lookups walking a working set that fits the TLB
 *   stlb_random       random lookups over a set that fits
 *   stlb_thrash       random lookups over 16 times the TLB's reach
 *   stlb_fill         a flushed TLB refilled page by page (miss + fill)
 *   fault_threads1/2  threads first-touching their share of a region
 *
 * Each lookup is followed by an 8-byte load through the pointer, so the
 * native side does the same loads through a plain pointer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "um/bench.h"

#define PG	  4096ULL
#define RW	  (PROT_READ | PROT_WRITE)
#define ANON	  (MAP_PRIVATE | MAP_ANONYMOUS)
#define STLB_SIZE 256 /* entries of the TLB under test */
#define LOOKUPS	  (1u << 20)
#define STLB_SEQ  (1L << 32) /* in ctx->arg: walk the pages in order */

struct stlb_bench {
	struct umm_mm *mm;
	struct umm_tlb *tlb;
	uint64_t va, pages;
	uint8_t *native; /* the same pages, natively */
	uint32_t *order; /* page per lookup */
	uint64_t nr;
};

/*
 * A region of @pages pages, written through the TLB (umm) and natively,
 * and the order of LOOKUPS page accesses over it.
 */
static int stlb_setup(struct bench_ctx *ctx)
{
	struct stlb_bench *b = calloc(1, sizeof(*b));
	uint64_t i;
	long a;

	if (!b)
		return -ENOMEM;
	ctx->priv = b;
	b->pages = (uint64_t)(ctx->arg & ~STLB_SEQ);
	b->nr = ctx->iters ? ctx->iters : LOOKUPS;
	b->mm = bench_mm_new(ctx);
	if (!b->mm)
		return -errno;
	a = umm_mmap(b->mm, 0, b->pages * PG, RW, ANON, NULL, 0);
	if (a < 0)
		return (int)a;
	b->va = (uint64_t)a;
	b->tlb = umm_tlb_new(b->mm, STLB_SIZE);
	if (!b->tlb)
		return -errno;
	b->native = mmap(NULL, b->pages * PG, RW, ANON | MAP_POPULATE, -1, 0);
	if (b->native == MAP_FAILED) {
		b->native = NULL;
		return -errno;
	}
	for (i = 0; i < b->pages; i++) {
		uint64_t *p =
			umm_tlb_lookup(b->tlb, b->va + i * PG, PROT_WRITE);

		if (!p)
			return -errno;
		*p = i;
		*(uint64_t *)(b->native + i * PG) = i;
	}
	b->order = malloc(b->nr * sizeof(*b->order));
	if (!b->order)
		return -ENOMEM;
	if (ctx->arg & STLB_SEQ) { /* in order, round and round */
		for (i = 0; i < b->nr; i++)
			b->order[i] = (uint32_t)(i % b->pages);
	} else {
		uint32_t s = 12345;

		for (i = 0; i < b->nr; i++) {
			s = s * 1103515245 + 12345;
			b->order[i] = (s >> 8) % (uint32_t)b->pages;
		}
	}
	umm_tlb_quiesce(b->tlb);
	return 0;
}

static void stlb_teardown(struct bench_ctx *ctx)
{
	struct stlb_bench *b = ctx->priv;

	if (!b)
		return;
	umm_tlb_free(b->tlb);
	umm_mm_put(b->mm);
	if (b->native)
		munmap(b->native, b->pages * PG);
	free(b->order);
	free(b);
	ctx->priv = NULL;
}

static int stlb_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct stlb_bench *b = ctx->priv;
	struct umm_tlb_stats t0, t1;
	uint64_t i, sum = 0, start;

	umm_tlb_stats(b->tlb, &t0);
	start = bench_now_ns();
	for (i = 0; i < b->nr; i++) {
		uint64_t off = (i * 64) % PG & ~7ULL;
		const uint64_t *p = umm_tlb_lookup(
			b->tlb, b->va + b->order[i] * PG + off, PROT_READ);

		if (!p)
			return -errno;
		sum += *p;
	}
	s->ns = bench_now_ns() - start;
	umm_tlb_quiesce(b->tlb);
	umm_tlb_stats(b->tlb, &t1);
	s->ops = b->nr;
	s->tlb_lookups = (t1.hits + t1.misses) - (t0.hits + t0.misses);
	s->tlb_hits = t1.hits - t0.hits;
	__asm__ volatile("" : : "r"(sum));
	return 0;
}

static int stlb_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct stlb_bench *b = ctx->priv;
	uint64_t i, sum = 0, start;

	start = bench_now_ns();
	for (i = 0; i < b->nr; i++) {
		uint64_t off = (i * 64) % PG & ~7ULL;
		const volatile uint64_t *p =
			(const uint64_t *)(b->native + b->order[i] * PG + off);

		sum += *p;
	}
	s->ns = bench_now_ns() - start;
	s->ops = b->nr;
	__asm__ volatile("" : : "r"(sum));
	return 0;
}

/* A lookup scenario: @arg pages, STLB_SEQ for walking them in order. */
#define STLB_SCENARIO(var, nm, desc, mib, n, n_quick, pages)    \
	const struct bench_scenario var = {                     \
		.name = nm,                                     \
		.what = desc,                                   \
		.native_what = "loads through a plain pointer", \
		.unit = "lookup",                               \
		.size = mib,                                    \
		.size_quick = mib,                              \
		.iters = n,                                     \
		.iters_quick = n_quick,                         \
		.arg = pages,                                   \
		.setup = stlb_setup,                            \
		.teardown = stlb_teardown,                      \
		.guest = stlb_guest,                            \
		.native = stlb_native,                          \
	}

STLB_SCENARIO(bench_stlb_seq, "stlb_seq",
	      "software TLB lookups walking 64 pages (TLB of 256)", 1, LOOKUPS,
	      LOOKUPS / 8, STLB_SEQ | (STLB_SIZE / 4));
STLB_SCENARIO(bench_stlb_random, "stlb_random",
	      "software TLB lookups at random over 128 pages", 1, LOOKUPS,
	      LOOKUPS / 8, STLB_SIZE / 2);
STLB_SCENARIO(bench_stlb_thrash, "stlb_thrash",
	      "software TLB lookups at random over 4096 pages (misses "
	      "refill from the page tables)",
	      16, LOOKUPS / 4, LOOKUPS / 32, STLB_SIZE * 16);

/* ---- stlb_fill: miss and fill, page by page after a flush ---- */

static int fill_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct stlb_bench *b = ctx->priv;
	struct umm_tlb_stats t0, t1;
	uint64_t i, sum = 0, start;

	umm_tlb_flush_all(b->tlb);
	umm_tlb_stats(b->tlb, &t0);
	start = bench_now_ns();
	for (i = 0; i < STLB_SIZE; i++) {
		const uint64_t *p =
			umm_tlb_lookup(b->tlb, b->va + i * PG, PROT_READ);

		if (!p)
			return -errno;
		sum += *p;
	}
	s->ns = bench_now_ns() - start;
	umm_tlb_quiesce(b->tlb);
	umm_tlb_stats(b->tlb, &t1);
	s->ops = STLB_SIZE;
	s->tlb_lookups = (t1.hits + t1.misses) - (t0.hits + t0.misses);
	s->tlb_hits = t1.hits - t0.hits;
	__asm__ volatile("" : : "r"(sum));
	return 0;
}

const struct bench_scenario bench_stlb_fill = {
	.name = "stlb_fill",
	.what = "a flushed software TLB refilled, 256 pages (miss + fill "
		"each)",
	.native_what = NULL,
	.unit = "fill",
	.size = 1,
	.size_quick = 1,
	.iters = 1,
	.iters_quick = 1,
	.arg = STLB_SIZE,
	.setup = stlb_setup,
	.teardown = stlb_teardown,
	.guest = fill_guest,
};

/* ---- fault_threads: threads first-touching their share of a region ---- */

struct toucher {
	struct umm_mm *mm; /* NULL: native */
	volatile uint8_t *p;
	uint64_t pages;
	int err;
};

static void touch_share(void *arg)
{
	struct toucher *t = arg;
	uint64_t i;

	for (i = 0; i < t->pages; i++)
		t->p[i * PG] = 1;
}

static void *toucher_main(void *arg)
{
	struct toucher *t = arg;
	siginfo_t si;

	if (t->mm) {
		if (umm_guest_call(t->mm, touch_share, t, &si))
			t->err = -EFAULT;
	} else {
		touch_share(t);
	}
	return NULL;
}

/* Run @nr touchers over [p, p + size) split evenly; ns. */
static uint64_t touch_threads(struct umm_mm *mm, uint8_t *p, uint64_t size,
			      unsigned int nr, int *err)
{
	struct toucher t[2];
	pthread_t th[2];
	uint64_t start, share = size / PG / nr;
	unsigned int i;

	for (i = 0; i < nr; i++)
		t[i] = (struct toucher){mm, p + i * share * PG, share, 0};
	start = bench_now_ns();
	for (i = 1; i < nr; i++)
		pthread_create(&th[i], NULL, toucher_main, &t[i]);
	toucher_main(&t[0]);
	for (i = 1; i < nr; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < nr; i++)
		if (t[i].err)
			*err = t[i].err;
	return bench_now_ns() - start;
}

static int threads_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct umm_mm *mm = bench_mm_new(ctx);
	struct umm_stats st;
	int err = 0;
	long a;

	if (!mm)
		return -errno;
	a = umm_mmap(mm, 0, ctx->size, RW, ANON, NULL, 0);
	if (a < 0) {
		umm_mm_put(mm);
		return (int)a;
	}
	umm_mm_stats(mm, &st);
	s->ns = touch_threads(mm, umm_host_addr(mm, (uint64_t)a), ctx->size,
			      (unsigned int)ctx->arg, &err);
	s->ops = ctx->size / PG;
	bench_stats_since(mm, &st, s);
	bench_sample_vmas(mm, s);
	umm_munmap(mm, (uint64_t)a, ctx->size);
	umm_mm_put(mm);
	return err;
}

static int threads_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	uint8_t *p = mmap(NULL, ctx->size, RW, ANON, -1, 0);
	int err = 0;

	if (p == MAP_FAILED)
		return -errno;
	s->ns = touch_threads(NULL, p, ctx->size, (unsigned int)ctx->arg, &err);
	s->ops = ctx->size / PG;
	munmap(p, ctx->size);
	return err;
}

const struct bench_scenario bench_fault_threads1 = {
	.name = "fault_threads1",
	.what = "one thread first-touching a private anonymous region",
	.native_what = "the same natively",
	.unit = "page",
	.size = 128,
	.size_quick = 8,
	.arg = 1,
	.guest = threads_guest,
	.native = threads_native,
};

const struct bench_scenario bench_fault_threads2 = {
	.name = "fault_threads2",
	.what = "two threads first-touching halves of a private anonymous "
		"region",
	.native_what = "the same natively",
	.unit = "page",
	.size = 128,
	.size_quick = 8,
	.arg = 2,
	.guest = threads_guest,
	.native = threads_native,
};
