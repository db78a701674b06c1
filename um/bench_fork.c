// SPDX-License-Identifier: MIT
/*
 * umm bench fork: issue 3's figures, each beside the host's.
 *
 *   fork          fork of a process with the region written (the fork
 *                 alone: page tables copied, the parent's host mappings
 *                 write-protected in merged runs)
 *   cow           the parent's first write to every page after a fork
 *   cow_isolated  the same, one page in 64 (no neighbour to copy around)
 *
 * The host's child waits on a pipe until the parent is done, so its pages
 * stay shared for the whole timed part, as the umm child's do.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "um/bench.h"

#define PG   4096ULL
#define RW   (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

struct fork_bench {
	struct umm_mm *mm;
	uint64_t va;
	uint8_t *native;
};

/* A guest and a native region of ctx->size, every page written. */
static int fork_setup(struct bench_ctx *ctx)
{
	struct fork_bench *b = calloc(1, sizeof(*b));
	struct bench_touch t = {.n = ctx->size / PG, .stride = 1, .write = 1};
	siginfo_t si;
	long a;

	if (!b)
		return -ENOMEM;
	ctx->priv = b;
	b->mm = bench_mm_new(ctx);
	if (!b->mm)
		return -errno;
	a = umm_mmap(b->mm, 0, ctx->size, RW, ANON, NULL, 0);
	if (a < 0)
		return (int)a;
	b->va = (uint64_t)a;
	t.base = umm_host_addr(b->mm, b->va);
	if (umm_guest_call(b->mm, bench_touch_pages, &t, &si))
		return -EFAULT;
	b->native = mmap(NULL, ctx->size, RW, ANON, -1, 0);
	if (b->native == MAP_FAILED) {
		b->native = NULL;
		return -errno;
	}
	memset(b->native, 1, ctx->size);
	return 0;
}

static void fork_teardown(struct bench_ctx *ctx)
{
	struct fork_bench *b = ctx->priv;

	if (!b)
		return;
	umm_mm_put(b->mm);
	if (b->native)
		munmap(b->native, ctx->size);
	free(b);
	ctx->priv = NULL;
}

/* A host child that holds the pages shared until *go is written. */
static pid_t native_child(int go[2])
{
	pid_t pid;

	if (pipe(go) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char c;
		ssize_t r = read(go[0], &c, 1);

		_exit(r == 1 ? 0 : 1);
	}
	return pid;
}

static int native_release(pid_t pid, int go[2])
{
	int status;
	char c = 0;
	int err = write(go[1], &c, 1) == 1 ? 0 : -EPIPE;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		err = -ECHILD;
	close(go[0]);
	close(go[1]);
	return err;
}

static int fork_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct fork_bench *b = ctx->priv;
	struct umm_stats st;
	unsigned int i;

	struct bench_touch t = {.base = umm_host_addr(b->mm, b->va),
				.n = ctx->size / PG,
				.stride = 1,
				.write = 1};
	siginfo_t si;

	struct umm_stats z;
	unsigned int k;

	for (i = 0; i < ctx->iters; i++) {
		uint64_t t0;
		struct umm_mm *child;

		/* untimed: every page writable again, for the fork to protect */
		if (umm_guest_call(b->mm, bench_touch_pages, &t, &si))
			return -EFAULT;
		umm_mm_stats(b->mm, &st);
		t0 = bench_now_ns();
		child = umm_fork(b->mm);
		s->ns += bench_now_ns() - t0;
		if (!child)
			return -errno;
		umm_mm_stats(b->mm, &z);
		/* the counters of the forks alone */
		for (k = 0; k < offsetof(struct umm_stats, guest_vmas) /
					sizeof(uint64_t);
		     k++)
			((uint64_t *)&s->acc)[k] +=
				((uint64_t *)&z)[k] - ((uint64_t *)&st)[k];
		umm_mm_put(child);
	}
	s->ops = ctx->iters;
	umm_mm_stats(b->mm, &st);
	bench_stats_since(b->mm, &st, s);
	return 0;
}

static int fork_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	unsigned int i;
	int go[2], err = 0;

	struct fork_bench *b = ctx->priv;

	for (i = 0; i < ctx->iters && !err; i++) {
		uint64_t t0;
		pid_t pid;

		memset(b->native, 2, ctx->size); /* untimed, as on umm */
		t0 = bench_now_ns();
		pid = native_child(go);

		s->ns += bench_now_ns() - t0;
		if (pid < 0)
			return -errno;
		err = native_release(pid, go);
	}
	s->ops = ctx->iters;
	return err;
}

const struct bench_scenario bench_fork = {
	.name = "fork",
	.what = "fork of a guest with the region written (the fork alone)",
	.native_what = "fork(2) of this process with the same memory "
		       "written",
	.unit = "fork",
	.size = 64,
	.size_quick = 4,
	.iters = 5,
	.iters_quick = 2,
	.setup = fork_setup,
	.teardown = fork_teardown,
	.guest = fork_guest,
	.native = fork_native,
};

/* ---- cow: the parent's first writes after a fork ---- */

static int cow_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct fork_bench *b = ctx->priv;
	uint64_t stride = (uint64_t)ctx->arg;
	struct bench_touch t = {
		.n = ctx->size / PG / stride, .stride = stride, .write = 1};
	struct umm_mm *child = umm_fork(b->mm);
	struct umm_stats st;
	uint64_t t0;
	siginfo_t si;
	int sig;

	if (!child)
		return -errno;
	t.base = umm_host_addr(b->mm, b->va);
	umm_mm_stats(b->mm, &st);
	t0 = bench_now_ns();
	sig = umm_guest_call(b->mm, bench_touch_pages, &t, &si);
	s->ns = bench_now_ns() - t0;
	s->ops = t.n;
	bench_stats_since(b->mm, &st, s);
	umm_mm_put(child);
	return sig ? -EFAULT : 0;
}

static int cow_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	struct fork_bench *b = ctx->priv;
	uint64_t stride = (uint64_t)ctx->arg;
	struct bench_touch t = {.base = b->native,
				.n = ctx->size / PG / stride,
				.stride = stride,
				.write = 1};
	int go[2];
	pid_t pid = native_child(go);
	uint64_t t0;

	if (pid < 0)
		return -errno;
	t0 = bench_now_ns();
	bench_touch_pages(&t);
	s->ns = bench_now_ns() - t0;
	s->ops = t.n;
	return native_release(pid, go);
}

const struct bench_scenario bench_cow = {
	.name = "cow",
	.what = "after a fork, the parent writes every page (first write "
		"each)",
	.native_what = "the same after fork(2), natively",
	.unit = "page",
	.size = 64,
	.size_quick = 4,
	.arg = 1,
	.setup = fork_setup,
	.teardown = fork_teardown,
	.guest = cow_guest,
	.native = cow_native,
};

const struct bench_scenario bench_cow_isolated = {
	.name = "cow_isolated",
	.what = "after a fork, the parent writes one page in 64",
	.native_what = "the same after fork(2), natively",
	.unit = "page",
	.size = 64,
	.size_quick = 4,
	.arg = 64,
	.setup = fork_setup,
	.teardown = fork_teardown,
	.guest = cow_guest,
	.native = cow_native,
};
