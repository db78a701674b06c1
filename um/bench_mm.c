// SPDX-License-Identifier: MIT
/*
 * umm bench scenarios: first-touch faults (will-it-scale's page_fault1-3),
 * mmap/munmap (mmap1, mmap2), an isolated fault against a bare host
 * SIGSEGV round trip, unmap/remap cycles and mprotect storms as a guest
 * kernel's TLB churn makes them, fork with COW, and scattered residency
 * past the host VMA budget. Each has a guest run and, where the host can
 * do the same work, a native one doing exactly that work.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "um/bench.h"

#define PG	   4096ULL
#define RW	   (PROT_READ | PROT_WRITE)
#define ANON	   (MAP_PRIVATE | MAP_ANONYMOUS)
#define TASK_SIZE  (1ULL << 36)
#define VMA_PHASES 16 /* host VMA samples during a touch */

/* ---- guest code: runs under umm_guest_call ---- */

void bench_touch_pages(void *arg)
{
	struct bench_touch *t = arg;
	uint64_t i;

	for (i = t->first; i < t->first + t->n; i++) {
		uint64_t pg = (t->order ? t->order[i] : i) * t->stride;

		if (t->write)
			t->base[pg * PG] = 1;
		else
			t->sum += t->base[pg * PG];
	}
}

/*
 * Touch @n pages of @mm from @base in @order, timed, in VMA_PHASES slices
 * with the host VMAs sampled between them (untimed). ns, or 0 on a guest
 * signal.
 */
static uint64_t guest_touch(struct umm_mm *mm, uint64_t base,
			    const uint32_t *order, uint64_t n, uint64_t stride,
			    struct bench_sample *s)
{
	struct bench_touch t = {
		.base = umm_host_addr(mm, base),
		.order = order,
		.stride = stride,
		.write = true,
	};
	uint64_t ns = 0, k;
	siginfo_t si;

	for (k = 0; k < VMA_PHASES; k++) {
		uint64_t t0;
		int sig;

		t.first = n * k / VMA_PHASES;
		t.n = n * (k + 1) / VMA_PHASES - t.first;
		t0 = bench_now_ns();
		sig = umm_guest_call(mm, bench_touch_pages, &t, &si);
		ns += bench_now_ns() - t0;
		if (sig)
			return 0;
		bench_sample_vmas(mm, s);
	}
	return ns;
}

static void native_touch(uint8_t *base, const uint32_t *order, uint64_t n,
			 uint64_t stride)
{
	struct bench_touch t = {
		.base = base,
		.order = order,
		.n = n,
		.stride = stride,
		.write = true,
	};

	bench_touch_pages(&t);
}

/* ---- page_fault1, 2, 3: touch every page of a fresh region, unmap ---- */

enum pf_kind { PF_ANON, PF_FILE_PRIVATE, PF_FILE_SHARED };

struct pf_priv {
	uint32_t *order;
	struct umm_file *file; /* umm's file */
	int fd; /* the host's */
};

static int pf_setup(struct bench_ctx *ctx)
{
	struct pf_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	ctx->priv = p;
	p->fd = -1;
	p->order = bench_order(ctx->size / PG, false);
	if (!p->order)
		return -ENOMEM;
	if (ctx->arg == PF_ANON)
		return 0;
	p->file = umm_shmem_new(ctx->phys, ctx->size);
	p->fd = memfd_create("umm-bench-pf", MFD_CLOEXEC);
	if (!p->file || p->fd < 0 || ftruncate(p->fd, (off_t)ctx->size))
		return -errno;
	return 0;
}

static void pf_teardown(struct bench_ctx *ctx)
{
	struct pf_priv *p = ctx->priv;

	if (!p)
		return;
	free(p->order);
	if (p->file)
		umm_file_put(p->file);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

static int pf_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	static const int flags[] = {ANON, MAP_PRIVATE, MAP_SHARED};
	struct pf_priv *p = ctx->priv;
	struct umm_mm *mm = bench_mm_new(ctx);
	uint64_t n = ctx->size / PG, t0, ns;
	struct umm_stats st;
	long a;

	if (!mm)
		return -errno;
	umm_mm_stats(mm, &st);
	t0 = bench_now_ns();
	a = umm_mmap(mm, 0, ctx->size, RW, flags[ctx->arg], p->file, 0);
	if (a < 0) {
		umm_mm_put(mm);
		return (int)a;
	}
	ns = bench_now_ns() - t0;
	t0 = guest_touch(mm, (uint64_t)a, p->order, n, 1, s);
	if (!t0) {
		umm_mm_put(mm);
		return -EFAULT;
	}
	ns += t0;
	t0 = bench_now_ns();
	umm_munmap(mm, (uint64_t)a, ctx->size);
	s->ns = ns + bench_now_ns() - t0;
	s->ops = n;
	bench_stats_since(mm, &st, s);
	umm_mm_put(mm);
	return 0;
}

static int pf_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	static const int flags[] = {ANON, MAP_PRIVATE, MAP_SHARED};
	struct pf_priv *p = ctx->priv;
	uint64_t t0 = bench_now_ns();
	void *b = mmap(NULL, ctx->size, RW, flags[ctx->arg],
		       ctx->arg == PF_ANON ? -1 : p->fd, 0);

	if (b == MAP_FAILED)
		return -errno;
	native_touch(b, p->order, ctx->size / PG, 1);
	munmap(b, ctx->size);
	s->ns = bench_now_ns() - t0;
	s->ops = ctx->size / PG;
	return 0;
}

const struct bench_scenario bench_page_fault1 = {
	.name = "page_fault1",
	.what = "mmap a private anonymous region, write every page, munmap",
	.native_what = "the same, natively",
	.unit = "page",
	.size = 128,
	.size_quick = 8,
	.arg = PF_ANON,
	.setup = pf_setup,
	.teardown = pf_teardown,
	.guest = pf_guest,
	.native = pf_native,
};

const struct bench_scenario bench_page_fault2 = {
	.name = "page_fault2",
	.what = "the same over a private mapping of a shmem file (COW)",
	.native_what = "the same over a memfd, natively",
	.unit = "page",
	.size = 128,
	.size_quick = 8,
	.arg = PF_FILE_PRIVATE,
	.setup = pf_setup,
	.teardown = pf_teardown,
	.guest = pf_guest,
	.native = pf_native,
};

const struct bench_scenario bench_page_fault3 = {
	.name = "page_fault3",
	.what = "the same over a shared mapping of a shmem file",
	.native_what = "the same over a memfd, natively",
	.unit = "page",
	.size = 128,
	.size_quick = 8,
	.arg = PF_FILE_SHARED,
	.setup = pf_setup,
	.teardown = pf_teardown,
	.guest = pf_guest,
	.native = pf_native,
};

/* ---- mmap1, mmap2: mmap + munmap of the region, touching one page ---- */

struct mmap_loop {
	struct umm_mm *mm;
	uint64_t size;
	unsigned int iters;
	bool touch;
	int err;
};

static void touch_one(void *p)
{
	*(volatile uint8_t *)p = 1;
}

/* Guest code, as a guest kernel's syscalls would run. */
static void mmap_loop(void *arg)
{
	struct mmap_loop *l = arg;
	unsigned int i;

	for (i = 0; i < l->iters && !l->err; i++) {
		long a = umm_mmap(l->mm, 0, l->size, RW, ANON, NULL, 0);

		if (a < 0) {
			l->err = (int)a;
			break;
		}
		if (l->touch)
			*(volatile uint8_t *)umm_host_addr(l->mm, (uint64_t)a) =
				1;
		l->err = umm_munmap(l->mm, (uint64_t)a, l->size);
	}
}

static int mmap_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct mmap_loop l = {
		.size = ctx->size,
		.iters = ctx->iters,
		.touch = ctx->arg,
	};
	struct umm_stats st;
	uint64_t t0;
	siginfo_t si;
	long a;
	int sig;

	l.mm = bench_mm_new(ctx);
	if (!l.mm)
		return -errno;
	/* one round untimed, to sample the host VMAs at its peak */
	a = umm_mmap(l.mm, 0, ctx->size, RW, ANON, NULL, 0);
	if (a < 0) {
		umm_mm_put(l.mm);
		return (int)a;
	}
	if (ctx->arg && umm_guest_call(l.mm, touch_one,
				       umm_host_addr(l.mm, (uint64_t)a), &si)) {
		umm_mm_put(l.mm);
		return -EFAULT;
	}
	bench_sample_vmas(l.mm, s);
	umm_munmap(l.mm, (uint64_t)a, ctx->size);
	umm_mm_stats(l.mm, &st);
	t0 = bench_now_ns();
	sig = umm_guest_call(l.mm, mmap_loop, &l, &si);
	s->ns = bench_now_ns() - t0;
	s->ops = ctx->iters;
	bench_stats_since(l.mm, &st, s);
	umm_mm_put(l.mm);
	return sig ? -EFAULT : l.err;
}

static int mmap_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	uint64_t t0 = bench_now_ns();
	unsigned int i;

	for (i = 0; i < ctx->iters; i++) {
		volatile uint8_t *b = mmap(NULL, ctx->size, RW, ANON, -1, 0);

		if (b == MAP_FAILED)
			return -errno;
		if (ctx->arg)
			*b = 1;
		munmap((void *)b, ctx->size);
	}
	s->ns = bench_now_ns() - t0;
	s->ops = ctx->iters;
	return 0;
}

const struct bench_scenario bench_mmap1 = {
	.name = "mmap1",
	.what = "mmap + munmap of a private anonymous region",
	.native_what = "the same, natively",
	.unit = "mmap+munmap",
	.size = 128,
	.size_quick = 128,
	.iters = 2000,
	.iters_quick = 200,
	.arg = 0,
	.guest = mmap_guest,
	.native = mmap_native,
};

const struct bench_scenario bench_mmap2 = {
	.name = "mmap2",
	.what = "the same, writing one page before the munmap",
	.native_what = "the same, natively",
	.unit = "mmap+munmap",
	.size = 128,
	.size_quick = 128,
	.iters = 1000,
	.iters_quick = 100,
	.arg = 1,
	.guest = mmap_guest,
	.native = mmap_native,
};

/* ---- fault_isolated: one fault, against the bare host round trip ---- */

#define ISO_STRIDE 64 /* pages between isolated faults */

static uintptr_t bare_base, bare_end;
static int bare_fd;

static void bare_handler(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t a = (uintptr_t)si->si_addr & ~4095UL;

	(void)ctx;
	if (a < bare_base || a >= bare_end) {
		signal(sig, SIG_DFL);
		return;
	}
	if (mmap((void *)a, 4096, RW, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
		 bare_fd, (off_t)(a - bare_base)) == MAP_FAILED)
		signal(sig, SIG_DFL);
}

static int iso_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct umm_mm *mm = bench_mm_new(ctx);
	uint64_t n = ctx->size / PG / ISO_STRIDE;
	struct umm_stats st;
	long a;

	if (!mm)
		return -errno;
	a = umm_mmap(mm, 0, ctx->size, RW, ANON, NULL, 0);
	if (a < 0) {
		umm_mm_put(mm);
		return (int)a;
	}
	umm_mm_stats(mm, &st);
	s->ns = guest_touch(mm, (uint64_t)a, NULL, n, ISO_STRIDE, s);
	s->ops = n;
	bench_stats_since(mm, &st, s);
	umm_mm_put(mm);
	return s->ns ? 0 : -EFAULT;
}

/* A SIGSEGV handler that mmaps one memfd page, the least a fault costs. */
static int iso_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	uint64_t n = ctx->size / PG / ISO_STRIDE, t0;
	struct sigaction sa, old;
	void *p;

	bare_fd = memfd_create("umm-bench-bare", MFD_CLOEXEC);
	if (bare_fd < 0 || ftruncate(bare_fd, (off_t)ctx->size) < 0)
		return -errno;
	p = mmap(NULL, ctx->size, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		close(bare_fd);
		return -errno;
	}
	bare_base = (uintptr_t)p;
	bare_end = bare_base + ctx->size;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = bare_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, &old);
	t0 = bench_now_ns();
	native_touch(p, NULL, n, ISO_STRIDE);
	s->ns = bench_now_ns() - t0;
	sigaction(SIGSEGV, &old, NULL);
	munmap(p, ctx->size);
	close(bare_fd);
	s->ops = n;
	return 0;
}

const struct bench_scenario bench_fault_isolated = {
	.name = "fault_isolated",
	.what = "write faults 64 pages apart (no neighbour to map around)",
	.native_what = "a bare SIGSEGV handler mapping one memfd page "
		       "(MAP_POPULATE)",
	.unit = "fault",
	.size = 64,
	.size_quick = 8,
	.guest = iso_guest,
	.native = iso_native,
};

/* ---- tlb_cycle: unmap/remap cycles, chunk by chunk ---- */

#define CYCLE_CHUNK 64 /* pages */

struct cycle {
	struct umm_mm *mm; /* NULL: native */
	uint8_t *base; /* native */
	uint64_t va, size;
	int err;
};

static void cycle_loop(void *arg)
{
	struct cycle *c = arg;
	const uint64_t chunk = CYCLE_CHUNK * PG;
	uint64_t off, i;

	for (off = 0; off < c->size && !c->err; off += chunk) {
		volatile uint8_t *p;

		if (c->mm) {
			long a;

			c->err = umm_munmap(c->mm, c->va + off, chunk);
			a = umm_mmap(c->mm, c->va + off, chunk, RW,
				     ANON | MAP_FIXED, NULL, 0);
			if (a < 0)
				c->err = (int)a;
			p = umm_host_addr(c->mm, c->va + off);
		} else {
			munmap(c->base + off, chunk);
			p = mmap(c->base + off, chunk, RW, ANON | MAP_FIXED, -1,
				 0);
			if (p == MAP_FAILED)
				c->err = -errno;
		}
		for (i = 0; i < CYCLE_CHUNK && !c->err; i++)
			p[i * PG] = 2;
	}
}

static int cycle_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct cycle c = {.mm = bench_mm_new(ctx), .size = ctx->size};
	struct umm_stats st;
	uint64_t t0;
	siginfo_t si;
	long a;
	int sig;

	if (!c.mm)
		return -errno;
	a = umm_mmap(c.mm, 0, ctx->size, RW, ANON | MAP_POPULATE, NULL, 0);
	if (a < 0) {
		umm_mm_put(c.mm);
		return (int)a;
	}
	c.va = (uint64_t)a;
	umm_mm_stats(c.mm, &st);
	t0 = bench_now_ns();
	sig = umm_guest_call(c.mm, cycle_loop, &c, &si);
	s->ns = bench_now_ns() - t0;
	s->ops = ctx->size / PG;
	bench_stats_since(c.mm, &st, s);
	bench_sample_vmas(c.mm, s);
	umm_mm_put(c.mm);
	return sig ? -EFAULT : c.err;
}

static int cycle_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct cycle c = {.size = ctx->size};
	uint64_t t0;

	c.base = mmap(NULL, ctx->size, RW, ANON | MAP_POPULATE, -1, 0);
	if (c.base == MAP_FAILED)
		return -errno;
	t0 = bench_now_ns();
	cycle_loop(&c);
	s->ns = bench_now_ns() - t0;
	s->ops = ctx->size / PG;
	munmap(c.base, ctx->size);
	return c.err;
}

const struct bench_scenario bench_tlb_cycle = {
	.name = "tlb_cycle",
	.what = "sequential churn: munmap, mmap again and write each 64-page "
		"chunk of a populated region",
	.native_what = "the same, natively",
	.unit = "page",
	.size = 64,
	.size_quick = 4,
	.guest = cycle_guest,
	.native = cycle_native,
};

/* ---- tlb_mprotect: mprotect storm over alternate pages ---- */

struct storm {
	struct umm_mm *mm; /* NULL: native */
	uint8_t *base;
	uint64_t va, pages;
	int phase;
	int err;
	uint8_t sum;
};

static int storm_prot(struct storm *st, uint64_t pg, int prot)
{
	if (st->mm)
		return umm_mprotect(st->mm, st->va + pg * PG, PG, prot);
	return mprotect(st->base + pg * PG, PG, prot) ? -errno : 0;
}

/* Phase 0: every other page read-only, all read. 1: back, written. */
static void storm_loop(void *arg)
{
	struct storm *st = arg;
	volatile uint8_t *p = st->mm ? umm_host_addr(st->mm, st->va) : st->base;
	uint64_t i;

	if (st->phase == 0) {
		for (i = 0; i < st->pages && !st->err; i += 2)
			st->err = storm_prot(st, i, PROT_READ);
		for (i = 0; i < st->pages && !st->err; i++)
			st->sum += p[i * PG];
		return;
	}
	for (i = 0; i < st->pages && !st->err; i += 2)
		st->err = storm_prot(st, i, RW);
	for (i = 0; i < st->pages && !st->err; i += 2)
		p[i * PG] = 3;
}

static int storm_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct storm st = {
		.mm = bench_mm_new(ctx),
		.pages = ctx->size / PG,
	};
	struct umm_stats s0;
	uint64_t t0, ns;
	siginfo_t si;
	long a;
	int sig;

	if (!st.mm)
		return -errno;
	a = umm_mmap(st.mm, 0, ctx->size, RW, ANON | MAP_POPULATE, NULL, 0);
	if (a < 0) {
		umm_mm_put(st.mm);
		return (int)a;
	}
	st.va = (uint64_t)a;
	umm_mm_stats(st.mm, &s0);
	t0 = bench_now_ns();
	sig = umm_guest_call(st.mm, storm_loop, &st, &si);
	ns = bench_now_ns() - t0;
	bench_sample_vmas(st.mm, s); /* the peak: every other page apart */
	st.phase = 1;
	t0 = bench_now_ns();
	sig |= umm_guest_call(st.mm, storm_loop, &st, &si);
	s->ns = ns + bench_now_ns() - t0;
	s->ops = st.pages; /* mprotect calls */
	bench_stats_since(st.mm, &s0, s);
	umm_mm_put(st.mm);
	return sig ? -EFAULT : st.err;
}

static int storm_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct storm st = {.pages = ctx->size / PG};
	uint64_t t0;

	st.base = mmap(NULL, ctx->size, RW, ANON | MAP_POPULATE, -1, 0);
	if (st.base == MAP_FAILED)
		return -errno;
	t0 = bench_now_ns();
	storm_loop(&st);
	st.phase = 1;
	storm_loop(&st);
	s->ns = bench_now_ns() - t0;
	s->ops = st.pages;
	munmap(st.base, ctx->size);
	return st.err;
}

const struct bench_scenario bench_tlb_mprotect = {
	.name = "tlb_mprotect",
	.what = "mprotect every other page read-only, read all, back to "
		"read-write, write",
	.native_what = "the same, natively",
	.unit = "mprotect",
	.size = 32,
	.size_quick = 2,
	.guest = storm_guest,
	.native = storm_native,
};

/* ---- fork_heavy: fork, COW-touch a share, exit, wait ---- */

#define FORK_SHARE 8 /* the child writes one page in FORK_SHARE */

static int fork_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct umm_mm *mm = bench_mm_new(ctx), *child;
	uint64_t pages = ctx->size / PG, ns = 0;
	struct umm_stats st;
	unsigned int i;
	siginfo_t si;
	long a;
	int sig = 0;

	if (!mm)
		return -errno;
	a = umm_mmap(mm, 0, ctx->size, RW, ANON | MAP_POPULATE, NULL, 0);
	if (a < 0) {
		umm_mm_put(mm);
		return (int)a;
	}
	umm_mm_stats(mm, &st);
	for (i = 0; i < ctx->iters && !sig; i++) {
		uint64_t t0 = bench_now_ns();
		struct bench_touch t = {.n = pages / FORK_SHARE,
					.stride = FORK_SHARE,
					.write = true};

		child = umm_fork(mm);
		if (!child) {
			umm_mm_put(mm);
			return -errno;
		}
		umm_mm_set_host_merge(child, ctx->cfg.merge);
		umm_mm_set_fault_around(child, ctx->cfg.fault_around);
		t.base = umm_host_addr(child, (uint64_t)a);
		sig = umm_guest_call(child, bench_touch_pages, &t, &si);
		ns += bench_now_ns() - t0;
		if (i == 0)
			bench_sample_vmas(child, s); /* untimed */
		bench_stats_add(child, s);
		t0 = bench_now_ns();
		umm_mm_put(child);
		ns += bench_now_ns() - t0;
	}
	s->ns = ns;
	s->ops = ctx->iters;
	bench_stats_since(mm, &st, s);
	umm_mm_put(mm);
	return sig ? -EFAULT : 0;
}

static int fork_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	uint64_t pages = ctx->size / PG, t0;
	uint8_t *p = mmap(NULL, ctx->size, RW, ANON | MAP_POPULATE, -1, 0);
	unsigned int i;
	int status, err = 0;

	if (p == MAP_FAILED)
		return -errno;
	t0 = bench_now_ns();
	for (i = 0; i < ctx->iters && !err; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			native_touch(p, NULL, pages / FORK_SHARE, FORK_SHARE);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			err = -ECHILD;
	}
	s->ns = bench_now_ns() - t0;
	s->ops = ctx->iters;
	munmap(p, ctx->size);
	return err;
}

const struct bench_scenario bench_fork_heavy = {
	.name = "fork_heavy",
	.what = "fork a guest with the region written; the child writes one "
		"page in 8 (COW) and exits",
	.native_what = "fork(2) of this process, the same in the child, "
		       "waitpid",
	.unit = "fork",
	.size = 32,
	.size_quick = 4,
	.iters = 10,
	.iters_quick = 3,
	.guest = fork_guest,
	.native = fork_native,
};

/* ---- scattered: random pages over more than the VMA budget allows ---- */

/*
 * One page in two, in random order, over a region of N pages, with the
 * host VMA budget at N/8: one host VMA per resident page would need N/2,
 * four times the budget.
 */
static int scat_setup(struct bench_ctx *ctx)
{
	uint64_t i, n = ctx->size / PG / 2;
	uint32_t *order = bench_order(n, true);

	if (!order)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		order[i] *= 2;
	ctx->priv = order;
	return 0;
}

static void scat_teardown(struct bench_ctx *ctx)
{
	free(ctx->priv);
}

static long scat_budget(struct bench_ctx *ctx)
{
	long b = (long)(ctx->size / PG / 8);

	return b < 64 ? 64 : b;
}

static int scat_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	unsigned long old = umm_host_vma_budget();
	struct umm_mm *mm;
	struct umm_stats st;
	long a;
	int err = 0;

	s->budget = scat_budget(ctx);
	if (umm_set_host_vma_budget((unsigned long)s->budget))
		return -EINVAL;
	mm = bench_mm_new(ctx);
	if (!mm) {
		err = -errno;
		goto out;
	}
	a = umm_mmap(mm, 0, ctx->size, RW, ANON, NULL, 0);
	if (a < 0) {
		err = (int)a;
		goto out_put;
	}
	umm_mm_stats(mm, &st);
	s->ns = guest_touch(mm, (uint64_t)a, ctx->priv, ctx->size / PG / 2, 1,
			    s);
	s->ops = ctx->size / PG / 2;
	bench_stats_since(mm, &st, s);
	if (!s->ns)
		err = -EFAULT;
out_put:
	umm_mm_put(mm);
out:
	umm_set_host_vma_budget(old);
	return err;
}

static int scat_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	uint64_t t0 = bench_now_ns();
	void *b = mmap(NULL, ctx->size, RW, ANON, -1, 0);

	if (b == MAP_FAILED)
		return -errno;
	native_touch(b, ctx->priv, ctx->size / PG / 2, 1);
	munmap(b, ctx->size);
	s->ns = bench_now_ns() - t0;
	s->ops = ctx->size / PG / 2;
	return 0;
}

const struct bench_scenario bench_scattered = {
	.name = "scattered",
	.what = "write one page in two in random order, host VMA budget "
		"pages/8",
	.native_what = "the same pages of an anonymous region, natively",
	.unit = "page",
	.size = 128,
	.size_quick = 8,
	.setup = scat_setup,
	.teardown = scat_teardown,
	.guest = scat_guest,
	.native = scat_native,
};
