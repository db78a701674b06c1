// SPDX-License-Identifier: MIT
/*
 * umm bench scenarios of nonlinear layouts: remap_file_pages of single
 * pages to random file pages, as a guest kernel emulating its TLB in page
 * tables does it (seed 002), against the host kernel's remap_file_pages
 * (or mmap of the page, with the host_mmap strategy) on the same pattern.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "um/bench.h"

#define PG	  4096ULL
#define RW	  (PROT_READ | PROT_WRITE)
#define NL_PHASES 16 /* host VMA samples during the remaps */

#ifndef MAP_NONBLOCK
#define MAP_NONBLOCK 0x10000
#endif

/* What the remaps meet. */
enum nl_mode {
	NL_FIRST, /* every page mapped and touched before */
	NL_AGAIN, /* the same pattern again: nothing touched since */
	NL_TOUCH, /* as NL_FIRST, each remap followed by a read of the page */
	NL_MANY, /* tlb_remap: a PROT_NONE mapping, a prot per page, read */
	NL_NONBLOCK, /* as NL_FIRST, with MAP_NONBLOCK: nothing populated */
	/*
	 * As NL_FIRST, with a protection of its own for one page in four
	 * (read-only: MANYPROTS on umm, remap_file_pages and mprotect
	 * natively), NL_BATCH_SIZE remaps a call on umm.
	 */
	NL_BATCH,
	NL_BATCH_TOUCH, /* as NL_BATCH, then a read of each page remapped */
	NL_BATCH_KEEP, /* as NL_BATCH, without UMM_REMAP_FLUSH */
};

/* Remaps per umm_remap_file_pages_many call in the batch modes. */
#define NL_BATCH_SIZE 64

static bool nl_batched(enum nl_mode mode)
{
	return mode == NL_BATCH || mode == NL_BATCH_TOUCH ||
	       mode == NL_BATCH_KEEP;
}

/* The pattern: remap page[i] to file page pgoff[i], read-only if ro[i]. */
struct nl_priv {
	uint64_t n;
	uint32_t *page, *pgoff;
	uint8_t *ro;
	int fd; /* the host's file */
	struct umm_file *file; /* umm's */
};

static int nl_setup(struct bench_ctx *ctx)
{
	uint64_t i, x = 0x2545f4914f6cdd1dULL, pages = ctx->size / PG;
	struct nl_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	ctx->priv = p;
	p->fd = -1;
	p->n = pages;
	p->page = malloc(pages * sizeof(*p->page));
	p->pgoff = malloc(pages * sizeof(*p->pgoff));
	p->ro = malloc(pages);
	if (!p->page || !p->pgoff || !p->ro)
		return -ENOMEM;
	for (i = 0; i < pages; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p->page[i] = (uint32_t)(x % pages);
		p->pgoff[i] = (uint32_t)((x >> 24) % pages);
		p->ro[i] = ((x >> 48) & 3) == 0; /* one in four */
	}
	p->fd = memfd_create("umm-bench-nonlinear", MFD_CLOEXEC);
	if (p->fd < 0 || ftruncate(p->fd, (off_t)ctx->size))
		return -errno;
	p->file = umm_shmem_new(ctx->phys, ctx->size);
	return p->file ? 0 : -errno;
}

static void nl_teardown(struct bench_ctx *ctx)
{
	struct nl_priv *p = ctx->priv;

	if (!p)
		return;
	free(p->page);
	free(p->pgoff);
	free(p->ro);
	if (p->fd >= 0)
		close(p->fd);
	if (p->file)
		umm_file_put(p->file);
	free(p);
}

/* ---- natively ---- */

static long host_rfp(void *start, size_t size, size_t pgoff, int flags)
{
	return syscall(SYS_remap_file_pages, start, size, 0, pgoff, flags);
}

static int native_loop(volatile uint8_t *b, const struct nl_priv *p,
		       bool host_mmap, enum nl_mode mode)
{
	bool prots = mode == NL_MANY || nl_batched(mode);
	uint8_t sum = 0, *ro = NULL;
	uint64_t i, j;

	/* the protection each page has now: mprotect only what changes */
	if (nl_batched(mode) && !(ro = calloc(p->n, 1)))
		return -ENOMEM;
	for (i = 0; i < p->n; i++) {
		volatile uint8_t *va = b + ((uint64_t)p->page[i] << 12);
		int prot = prots && p->ro[i] ? PROT_READ : RW;

		if (host_mmap) {
			if (mmap((void *)va, PG, prot, MAP_SHARED | MAP_FIXED,
				 p->fd, (off_t)p->pgoff[i] << 12) == MAP_FAILED)
				goto fail;
		} else {
			if (host_rfp((void *)va, PG, p->pgoff[i],
				     mode == NL_NONBLOCK ? MAP_NONBLOCK : 0) <
			    0)
				goto fail;
			if (mode == NL_MANY && mprotect((void *)va, PG, prot))
				goto fail;
			if (ro && ro[p->page[i]] != p->ro[i]) {
				if (mprotect((void *)va, PG, prot))
					goto fail;
				ro[p->page[i]] = p->ro[i];
			}
		}
		if (mode == NL_TOUCH || mode == NL_MANY)
			sum += *va;
		/* the batch's reads after its remaps, as on umm */
		if (mode == NL_BATCH_TOUCH &&
		    ((i + 1) % NL_BATCH_SIZE == 0 || i + 1 == p->n))
			for (j = i - i % NL_BATCH_SIZE; j <= i; j++)
				sum += b[(uint64_t)p->page[j] << 12];
	}
	free(ro);
	return sum & 0; /* read, not used */
fail:
	j = (uint64_t)errno;
	free(ro);
	return -(int)j;
}

static int nl_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct nl_priv *p = ctx->priv;
	enum nl_mode mode = (enum nl_mode)ctx->arg;
	int prot = mode == NL_MANY ? PROT_NONE : RW;
	volatile uint8_t *b = mmap(NULL, ctx->size, prot, MAP_SHARED, p->fd, 0);
	uint64_t i, t0;
	uint8_t sum = 0;
	int err = 0;

	if (b == MAP_FAILED)
		return -errno;
	for (i = 0; mode != NL_MANY && i < p->n; i++)
		sum += b[i << 12]; /* the host holds every page */
	if (mode == NL_AGAIN)
		err = native_loop(b, p, ctx->cfg.host_mmap, mode);
	t0 = bench_now_ns();
	if (!err)
		err = native_loop(b, p, ctx->cfg.host_mmap, mode);
	s->ns = bench_now_ns() - t0;
	s->ops = p->n;
	munmap((void *)b, ctx->size);
	(void)sum;
	return err;
}

/* ---- on umm, as guest code, as a guest kernel's TLB refill would ---- */

struct guest_remaps {
	struct umm_mm *mm;
	uint64_t base;
	const struct nl_priv *p;
	uint64_t first, n; /* the slice of the pattern to run */
	enum nl_mode mode;
	int err;
	uint8_t sum;
};

static void guest_remap_loop(void *arg)
{
	struct guest_remaps *g = arg;
	const struct nl_priv *p = g->p;
	bool many = g->mode == NL_MANY;
	uint64_t i;

	for (i = g->first; i < g->first + g->n && !g->err; i++) {
		uint64_t va = g->base + ((uint64_t)p->page[i] << 12);
		int prot = many ? (p->ro[i] ? PROT_READ : RW) : 0;

		g->err = umm_remap_file_pages(g->mm, va, PG, prot, p->pgoff[i],
					      many ? UMM_MAP_MANYPROTS
					      : g->mode == NL_NONBLOCK
						      ? MAP_NONBLOCK
						      : 0);
		if (g->mode == NL_TOUCH || many)
			g->sum += *(volatile uint8_t *)umm_host_addr(g->mm, va);
	}
}

/* The batch modes: NL_BATCH_SIZE remaps a call. */
static void guest_remap_batches(void *arg)
{
	struct guest_remaps *g = arg;
	const struct nl_priv *p = g->p;
	struct umm_remap r[NL_BATCH_SIZE];
	uint64_t i, j, end = g->first + g->n;
	unsigned int k;
	long done;

	for (i = g->first; i < end && !g->err; i += k) {
		for (k = 0; k < NL_BATCH_SIZE && i + k < end; k++)
			r[k] = (struct umm_remap){
				.start = g->base +
					 ((uint64_t)p->page[i + k] << 12),
				.size = PG,
				.pgoff = p->pgoff[i + k],
				.prot = p->ro[i + k] ? PROT_READ : RW,
			};
		done = umm_remap_file_pages_many(
			g->mm, r, k,
			UMM_MAP_MANYPROTS |
				(g->mode == NL_BATCH_KEEP ? 0
							  : UMM_REMAP_FLUSH));
		if (done != (long)k)
			g->err = done < 0 ? (int)done : -EIO;
		for (j = 0; g->mode == NL_BATCH_TOUCH && j < k; j++)
			g->sum += *(volatile uint8_t *)umm_host_addr(
				g->mm, r[j].start);
	}
}

static void guest_read_all(void *arg)
{
	struct guest_remaps *g = arg;
	uint64_t i;

	for (i = 0; i < g->p->n; i++)
		g->sum += *(volatile uint8_t *)umm_host_addr(
			g->mm, g->base + (i << 12));
}

static int nl_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct guest_remaps g = {.p = ctx->priv, .mode = (int)ctx->arg};
	int prot = g.mode == NL_MANY ? PROT_NONE : RW;
	struct umm_stats st;
	uint64_t t0, k;
	siginfo_t si;
	long a;
	int sig = 0;

	g.mm = bench_mm_new(ctx);
	if (!g.mm)
		return -errno;
	a = umm_mmap(g.mm, 0, ctx->size, prot, MAP_SHARED, g.p->file, 0);
	if (a < 0) {
		umm_mm_put(g.mm);
		return (int)a;
	}
	g.base = (uint64_t)a;
	if (g.mode != NL_MANY)
		sig = umm_guest_call(g.mm, guest_read_all, &g, &si);
	g.n = g.p->n;
	if (g.mode == NL_AGAIN)
		sig |= umm_guest_call(g.mm, guest_remap_loop, &g, &si);
	umm_mm_stats(g.mm, &st);
	/* in slices, the host VMAs sampled between them (untimed) */
	for (k = 0; k < NL_PHASES && !sig; k++) {
		g.first = g.p->n * k / NL_PHASES;
		g.n = g.p->n * (k + 1) / NL_PHASES - g.first;
		t0 = bench_now_ns();
		sig |= umm_guest_call(g.mm,
				      nl_batched(g.mode) ? guest_remap_batches
							 : guest_remap_loop,
				      &g, &si);
		s->ns += bench_now_ns() - t0;
		bench_sample_vmas(g.mm, s);
	}
	s->ops = g.p->n;
	bench_stats_since(g.mm, &st, s);
	umm_mm_put(g.mm);
	return sig ? -EFAULT : g.err;
}

/* Every scenario here: a 64 MiB file (4 MiB quick), one remap an op. */
#define NL_SCENARIO(nm, mode, desc, nat)           \
	const struct bench_scenario bench_##nm = { \
		.name = #nm,                       \
		.what = desc,                      \
		.native_what = nat,                \
		.unit = "remap",                   \
		.size = 64,                        \
		.size_quick = 4,                   \
		.arg = mode,                       \
		.setup = nl_setup,                 \
		.teardown = nl_teardown,           \
		.guest = nl_guest,                 \
		.native = nl_native,               \
	}

NL_SCENARIO(tlb_remap, NL_MANY,
	    "remap single pages of a PROT_NONE shared mapping to random "
	    "file pages, a prot each (1 in 4 read-only), read each",
	    "remap_file_pages + mprotect per page (host_mmap: "
	    "mmap per page), read each");
NL_SCENARIO(nonlinear, NL_FIRST,
	    "remap_file_pages of single pages to random file pages, every "
	    "page touched before",
	    "the host's remap_file_pages on the same pattern "
	    "(host_mmap: mmap per page)");
NL_SCENARIO(nonlinear_again, NL_AGAIN,
	    "the same remaps a second time, nothing touched since",
	    "the host's remap_file_pages on the same pattern");
NL_SCENARIO(nonlinear_touch, NL_TOUCH,
	    "each remap followed by a read of the page",
	    "the host's remap_file_pages on the same pattern");
NL_SCENARIO(nonlinear_nonblock, NL_NONBLOCK,
	    "the nonlinear remaps with MAP_NONBLOCK (nothing populated)",
	    "the host's remap_file_pages with MAP_NONBLOCK");
NL_SCENARIO(nonlinear_batch, NL_BATCH,
	    "the nonlinear remaps, 1 page in 4 read-only (MANYPROTS), 64 a "
	    "call (umm_remap_file_pages_many with UMM_REMAP_FLUSH: past 32 "
	    "pages the host holds, one drop instead of a call each)",
	    "the host's remap_file_pages on the same pattern, a call each, "
	    "and mprotect where a page's protection changes");
NL_SCENARIO(nonlinear_batch_keep, NL_BATCH_KEEP,
	    "as nonlinear_batch without UMM_REMAP_FLUSH: each page the host "
	    "holds replaced, as one remap a call does",
	    "the host's remap_file_pages on the same pattern, a call each, "
	    "and mprotect where a page's protection changes");
NL_SCENARIO(nonlinear_batch_touch, NL_BATCH_TOUCH,
	    "as nonlinear_batch, then a read of each page remapped: the "
	    "dropped pages come back, a fault each",
	    "the host's remap_file_pages on the same pattern, then the reads");
