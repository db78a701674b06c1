/* SPDX-License-Identifier: MIT */
/*
 * umm bench: the scenarios and the core that runs them (um/bench.c). A
 * scenario does one repetition of its work on umm (guest) and, where the
 * host can do the same, natively (native); the core alternates the two,
 * repetition by repetition, and takes every figure from what they report.
 *
 * The bench files are the one place in um/ that calls mmap and friends
 * directly: the native runs are the host kernel doing the work itself.
 */
#ifndef UMM_UM_BENCH_H
#define UMM_UM_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "include/umm.h"

/* The strategies a run uses on umm (and natively, for host_mmap). */
struct bench_cfg {
	bool merge; /* host merging of neighbouring operations */
	bool scatter; /* scattered frame allocation */
	unsigned int fault_around; /* pages; 1: off */
	bool host_mmap; /* native nonlinear: mmap per page, not rfp */
	bool pool; /* freed frames kept resident and zeroed for reuse */
};

/* What one repetition of one side did. */
struct bench_sample {
	uint64_t ns; /* the timed work */
	uint64_t ops; /* guest operations in it */
	struct umm_stats st; /* umm: counters over the timed work */
	struct umm_stats acc; /* umm: of other mms, see bench_stats_add() */
	long peak_vmas; /* umm: host VMAs of the window at the peak */
	long guest_vmas; /* umm: guest vmas at that point */
	long budget; /* umm: the host VMA budget in force, 0: default */
	uint64_t tlb_lookups, tlb_hits; /* umm: software TLB scenarios */
};

struct bench_ctx {
	struct umm_phys *phys;
	uint64_t size; /* bytes */
	unsigned int iters; /* loop scenarios: iterations per repetition */
	struct bench_cfg cfg;
	long arg; /* the scenario's own */
	void *priv; /* set up by the scenario */
};

struct bench_scenario {
	const char *name;
	const char *what; /* one line */
	const char *native_what; /* what the host does instead, or NULL */
	const char *unit; /* an operation: "page", "remap", "fork", ... */
	uint64_t size, size_quick; /* MiB */
	unsigned int iters, iters_quick;
	long arg;
	int (*setup)(struct bench_ctx *ctx); /* optional; 0 or -errno */
	void (*teardown)(struct bench_ctx *ctx);
	int (*guest)(struct bench_ctx *ctx, struct bench_sample *s);
	int (*native)(struct bench_ctx *ctx, struct bench_sample *s);
};

extern const struct bench_scenario bench_page_fault1, bench_page_fault2,
	bench_page_fault3, bench_mmap1, bench_mmap2, bench_fault_isolated,
	bench_tlb_cycle, bench_tlb_mprotect, bench_fork_heavy, bench_scattered,
	bench_tlb_remap, bench_nonlinear, bench_nonlinear_again,
	bench_nonlinear_touch, bench_nonlinear_nonblock, bench_stlb_seq,
	bench_stlb_random, bench_stlb_thrash, bench_stlb_fill,
	bench_fault_threads1, bench_fault_threads2, bench_fork, bench_cow,
	bench_cow_isolated, bench_run_syscall, bench_run_fault, bench_run_fork,
	bench_run_forkexec, bench_run_touch, bench_run_sigsys,
	bench_run_sigsegv, bench_nonlinear_batch, bench_nonlinear_batch_keep,
	bench_nonlinear_batch_touch;

/* ---- helpers for the scenarios (um/bench.c, um/bench_mm.c) ---- */

/* Pages touched by bench_touch_pages (a guest call, or natively). */
struct bench_touch {
	volatile uint8_t *base;
	const uint32_t *order; /* NULL: in order */
	uint64_t first, n; /* entries of order[] */
	uint64_t stride; /* pages */
	bool write;
	uint8_t sum;
};
void bench_touch_pages(void *arg);

uint64_t bench_now_ns(void);
/* 0..n-1 in order, or shuffled by a fixed seed. NULL when out of memory. */
uint32_t *bench_order(uint64_t n, bool random);
/* A fresh mm with the run's strategies; NULL and errno. */
struct umm_mm *bench_mm_new(struct bench_ctx *ctx);
/* Record the window's host VMAs now if more than so far (untimed). */
void bench_sample_vmas(struct umm_mm *mm, struct bench_sample *s);
/* Add all of @mm's counters to s->st (an mm that lived in the run). */
void bench_stats_add(struct umm_mm *mm, struct bench_sample *s);
/* s->st = what @mm's counters did since @before. */
void bench_stats_since(struct umm_mm *mm, const struct umm_stats *before,
		       struct bench_sample *s);

#endif
