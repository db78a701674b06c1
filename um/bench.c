// SPDX-License-Identifier: MIT
/*
 * umm bench: the core. It runs each scenario (um/bench_mm.c, bench_nl.c)
 * under a strategy, a warm-up and then N repetitions, each repetition the
 * guest run and the native run back to back (their order alternating), so
 * that the ratio is taken pair by pair and a burst of noise on a shared
 * machine skews one pair, not the result. Figures are medians with the
 * spread (min-max) over the repetitions; output is a table, JSON, or a
 * gnuplot chart.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "um/bench.h"
#include "um/um.h"

#define MAX_REPS 63

/*
 * bench_stats_*() walk struct umm_stats as counters up to guest_vmas, the
 * first of the levels (taken as they are at the end).
 */
#define STATS_COUNTERS \
	(offsetof(struct umm_stats, guest_vmas) / sizeof(uint64_t))
_Static_assert(offsetof(struct umm_stats, guest_vmas) % sizeof(uint64_t) == 0,
	       "umm_stats: only uint64_t counters before guest_vmas");
_Static_assert(sizeof(struct umm_stats) % sizeof(uint64_t) == 0,
	       "umm_stats: only uint64_t fields");

/* ---- helpers for the scenarios ---- */

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint32_t *bench_order(uint64_t n, bool random)
{
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	uint64_t i, x = 0x9e3779b97f4a7c15ULL;

	if (!order)
		return NULL;
	for (i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	for (i = n ? n - 1 : 0; random && i > 0; i--) {
		uint64_t j;
		uint32_t t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = x % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	return order;
}

struct umm_mm *bench_mm_new(struct bench_ctx *ctx)
{
	struct umm_mm *mm = umm_mm_new(ctx->phys, 1ULL << 36);

	if (!mm)
		return NULL;
	umm_mm_set_host_merge(mm, ctx->cfg.merge);
	umm_mm_set_fault_around(mm, ctx->cfg.fault_around);
	return mm;
}

void bench_sample_vmas(struct umm_mm *mm, struct bench_sample *s)
{
	struct umm_stats st;
	long n = umm_host_vmas(mm);

	umm_mm_stats(mm, &st);
	if (n > s->peak_vmas) {
		s->peak_vmas = n;
		s->guest_vmas = (long)st.guest_vmas;
	} else if (!s->guest_vmas) {
		s->guest_vmas = (long)st.guest_vmas;
	}
}

void bench_stats_add(struct umm_mm *mm, struct bench_sample *s)
{
	struct umm_stats st;
	const uint64_t *b = (const uint64_t *)&st;
	uint64_t *a = (uint64_t *)&s->acc;
	unsigned int i;

	umm_mm_stats(mm, &st);
	for (i = 0; i < STATS_COUNTERS; i++)
		a[i] += b[i];
}

void bench_stats_since(struct umm_mm *mm, const struct umm_stats *before,
		       struct bench_sample *s)
{
	const uint64_t *b = (const uint64_t *)before;
	uint64_t *a = (uint64_t *)&s->st;
	unsigned int i;

	umm_mm_stats(mm, &s->st);
	/* the levels from guest_vmas on stay as they are now */
	for (i = 0; i < STATS_COUNTERS; i++)
		a[i] = a[i] - b[i] + ((const uint64_t *)&s->acc)[i];
}

/* ---- the scenarios and strategies ---- */

struct bench_entry {
	const struct bench_scenario *sc;
	const char *variant; /* NULL: the configured strategies */
	/* overrides; -1: as configured */
	int merge, scatter, fault_around, host_mmap, pool;
};

#define BASE(s)                                \
	{                                      \
		&(s), NULL, -1, -1, -1, -1, -1 \
	}
#define VARIANT(s, v, m, c, f, h)       \
	{                               \
		&(s), v, m, c, f, h, -1 \
	}
#define VARIANT_POOL(s, v, p)              \
	{                                  \
		&(s), v, -1, -1, -1, -1, p \
	}

static const struct bench_entry entries[] = {
	BASE(bench_page_fault1),
	VARIANT(bench_page_fault1, "fault-around=off", -1, -1, 1, -1),
	VARIANT(bench_page_fault1, "merge=off", 0, -1, -1, -1),
	VARIANT(bench_page_fault1, "scatter", -1, 1, -1, -1),
	VARIANT_POOL(bench_page_fault1, "pool=off", 0),
	BASE(bench_page_fault2),
	BASE(bench_page_fault3),
	BASE(bench_mmap1),
	BASE(bench_mmap2),
	BASE(bench_fault_isolated),
	VARIANT(bench_fault_isolated, "fault-around=off", -1, -1, 1, -1),
	BASE(bench_tlb_remap),
	VARIANT(bench_tlb_remap, "host=mmap", -1, -1, -1, 1),
	BASE(bench_tlb_cycle),
	VARIANT(bench_tlb_cycle, "merge=off", 0, -1, -1, -1),
	VARIANT(bench_tlb_cycle, "scatter", -1, 1, -1, -1),
	BASE(bench_tlb_mprotect),
	BASE(bench_fork),
	BASE(bench_cow),
	BASE(bench_cow_isolated),
	BASE(bench_fork_heavy),
	BASE(bench_scattered),
	VARIANT(bench_scattered, "fault-around=off", -1, -1, 1, -1),
	BASE(bench_nonlinear),
	VARIANT(bench_nonlinear, "host=mmap", -1, -1, -1, 1),
	BASE(bench_nonlinear_again),
	BASE(bench_nonlinear_touch),
	BASE(bench_nonlinear_nonblock),
	BASE(bench_nonlinear_batch),
	BASE(bench_nonlinear_batch_keep),
	BASE(bench_nonlinear_batch_touch),
	BASE(bench_stlb_seq),
	BASE(bench_stlb_random),
	BASE(bench_stlb_thrash),
	BASE(bench_stlb_fill),
	BASE(bench_fault_threads1),
	BASE(bench_fault_threads2),
	BASE(bench_run_syscall),
	BASE(bench_run_fault),
	BASE(bench_run_touch),
	BASE(bench_run_fork),
	BASE(bench_run_forkexec),
	BASE(bench_run_sigsys),
	BASE(bench_run_sigsegv),
};

#define NR_ENTRIES (sizeof(entries) / sizeof(entries[0]))

struct bench_opts {
	struct bench_cfg cfg; /* the configured strategies */
	unsigned int reps;
	uint64_t size; /* MiB; 0: each scenario's own */
	bool quick, json, list, variants;
	const char *plot;
	bool selected[NR_ENTRIES];
};

struct result {
	const struct bench_entry *e;
	char name[96];
	struct bench_cfg cfg;
	uint64_t size; /* bytes */
	unsigned int iters, reps;
	uint64_t ops; /* per repetition */
	double g[MAX_REPS], n[MAX_REPS], r[MAX_REPS]; /* ns/op; ratio */
	double calls[MAX_REPS]; /* host syscalls per op */
	bool native;
	long peak_vmas, guest_vmas, budget;
	struct umm_stats st; /* the last repetition */
	uint64_t tlb_lookups, tlb_hits; /* the last repetition */
	long rss_guest, rss_native; /* kB, peak over the repetitions */
	int err;
	const char *err_side;
	int native_err; /* the host refused the native run: -errno */
};

/* ---- peak RSS: VmHWM, reset before each run through clear_refs ---- */

static bool rss_resettable;

static void rss_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

	rss_resettable = fd >= 0 && write(fd, "5", 1) == 1;
	if (fd >= 0)
		close(fd);
}

static long rss_peak_kb(void)
{
	char line[256];
	long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct figure {
	double med, min, max;
};

static struct figure summarize(const double *v, unsigned int n)
{
	double s[MAX_REPS];
	struct figure f = {0, 0, 0};

	if (!n)
		return f;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	f.min = s[0];
	f.max = s[n - 1];
	f.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	return f;
}

/* ---- running ---- */

static void progress(const struct bench_opts *o, unsigned int k,
		     unsigned int nr, const char *name, unsigned int rep)
{
	if (!isatty(STDERR_FILENO))
		return;
	if (!name) {
		fprintf(stderr, "\r%70s\r", "");
		return;
	}
	fprintf(stderr, "\r  [%u/%u] %-36s %s %u/%u   ", k, nr, name,
		rep ? "repetition" : "warm-up   ", rep, o->reps);
}

static struct bench_cfg entry_cfg(const struct bench_entry *e,
				  const struct bench_cfg *base)
{
	struct bench_cfg c = *base;

	if (e->merge >= 0)
		c.merge = e->merge;
	if (e->scatter >= 0)
		c.scatter = e->scatter;
	if (e->fault_around >= 0)
		c.fault_around = (unsigned int)e->fault_around;
	if (e->host_mmap >= 0)
		c.host_mmap = e->host_mmap;
	if (e->pool >= 0)
		c.pool = e->pool;
	return c;
}

static void run_side(struct bench_ctx *ctx, bool guest, struct result *res,
		     struct bench_sample *s, long *rss)
{
	const struct bench_scenario *sc = res->e->sc;
	long kb;
	int err;

	memset(s, 0, sizeof(*s));
	rss_reset();
	err = guest ? sc->guest(ctx, s) : sc->native(ctx, s);
	kb = rss_peak_kb();
	if (kb > *rss)
		*rss = kb;
	if (!err && (!s->ops || !s->ns))
		err = -EIO;
	/* A host that refuses the native work (seccomp, an old call gone):
	 * umm's figures stand alone, without a ratio. */
	if (!guest && (err == -ENOSYS || err == -EPERM || err == -EACCES)) {
		res->native = false;
		res->native_err = err;
		return;
	}
	if (err && !res->err) {
		res->err = err;
		res->err_side = guest ? "umm" : "native";
	}
}

static void run_entry(const struct bench_opts *o, struct result *res,
		      unsigned int k, unsigned int nr)
{
	const struct bench_scenario *sc = res->e->sc;
	struct bench_ctx ctx = {
		.size = res->size,
		.iters = res->iters,
		.cfg = res->cfg,
		.arg = sc->arg,
	};
	unsigned int i;

	ctx.phys = umm_phys_new(3 * res->size + (64ULL << 20));
	if (!ctx.phys) {
		res->err = -errno;
		res->err_side = "setup";
		return;
	}
	umm_phys_set_scatter(ctx.phys, res->cfg.scatter);
	umm_phys_set_pool(ctx.phys, res->cfg.pool ? UMM_POOL_DEFAULT : 0);
	if (sc->setup && (res->err = sc->setup(&ctx)))
		res->err_side = "setup";
	for (i = 0; i <= o->reps && !res->err; i++) { /* 0: the warm-up */
		struct bench_sample g, n;
		bool native_first = i % 2;

		progress(o, k, nr, res->name, i);
		if (native_first && res->native)
			run_side(&ctx, false, res, &n, &res->rss_native);
		run_side(&ctx, true, res, &g, &res->rss_guest);
		if (!native_first && res->native)
			run_side(&ctx, false, res, &n, &res->rss_native);
		if (res->err || !i)
			continue;
		res->ops = g.ops;
		res->g[i - 1] = (double)g.ns / (double)g.ops;
		res->calls[i - 1] = (double)g.st.host_syscalls / (double)g.ops;
		if (res->native) {
			res->n[i - 1] = (double)n.ns / (double)n.ops;
			res->r[i - 1] = res->g[i - 1] / res->n[i - 1];
		}
		if (g.peak_vmas >= res->peak_vmas) {
			res->peak_vmas = g.peak_vmas;
			res->guest_vmas = g.guest_vmas;
		}
		res->budget = g.budget ? g.budget : (long)umm_host_vma_budget();
		res->st = g.st;
		res->tlb_lookups = g.tlb_lookups;
		res->tlb_hits = g.tlb_hits;
	}
	if (sc->teardown)
		sc->teardown(&ctx);
	if (!res->err &&
	    umm_phys_frames_free(ctx.phys) != umm_phys_frames_total(ctx.phys)) {
		res->err = -EUCLEAN;
		res->err_side = "frames leaked";
	}
	umm_phys_put(ctx.phys);
}

/* ---- goals ---- */

struct goal {
	const char *name;
	const char *target;
	double value;
	int met; /* 1, 0, or -1: not measured in this run */
	char how[160];
};

static const struct result *find(const struct result *res, unsigned int nr,
				 const char *name)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (!res[i].err && !strcmp(res[i].name, name))
			return &res[i];
	return NULL;
}

static unsigned int eval_goals(const struct result *res, unsigned int nr,
			       struct goal *g)
{
	const struct result *a, *b;
	unsigned int n = 0;

	a = find(res, nr, "page_fault1");
	g[n] = (struct goal){"page_fault1_ratio", "<= 1.0", 0, -1, ""};
	if (a && a->native) {
		g[n].value = summarize(a->r, a->reps).med;
		g[n].met = g[n].value <= 1.0;
		snprintf(g[n].how, sizeof(g[n].how),
			 "umm/native ns per page, median of pairs");
	}
	n++;

	a = find(res, nr, "tlb_cycle");
	b = find(res, nr, "tlb_cycle:merge=off");
	g[n] = (struct goal){"merged_syscalls", ">= 10x fewer", 0, -1, ""};
	if (a && b && summarize(a->calls, a->reps).med > 0) {
		double m = summarize(a->calls, a->reps).med;
		double p = summarize(b->calls, b->reps).med;

		g[n].value = p / m;
		g[n].met = g[n].value >= 10;
		snprintf(g[n].how, sizeof(g[n].how),
			 "tlb_cycle host calls per page: %.3f merged, %.3f "
			 "one per page",
			 m, p);
	}
	n++;

	a = find(res, nr, "page_fault1");
	g[n] = (struct goal){"page_fault1_vmas", "<= guest vmas + 2", 0, -1,
			     ""};
	if (a) {
		g[n].value = (double)a->peak_vmas;
		g[n].met = a->peak_vmas <= a->guest_vmas + 2;
		snprintf(g[n].how, sizeof(g[n].how),
			 "host VMAs at the peak %ld, guest vmas %ld",
			 a->peak_vmas, a->guest_vmas);
	}
	n++;

	a = find(res, nr, "scattered");
	g[n] = (struct goal){"scattered_vmas", "<= budget", 0, -1, ""};
	if (a) {
		g[n].value = (double)a->peak_vmas;
		g[n].met = a->peak_vmas <= a->budget;
		snprintf(g[n].how, sizeof(g[n].how),
			 "host VMAs at the peak %ld (sampled %d times), budget "
			 "%ld, resident pages %llu",
			 a->peak_vmas, 16, a->budget,
			 (unsigned long long)a->ops);
	}
	n++;

	/*
	 * The same pattern of remaps, as umm takes it best: 64 a call, as a
	 * guest kernel's TLB refill makes them (the host has one call a
	 * page); one a call, nonlinear, said beside it.
	 */
	a = find(res, nr, "nonlinear_batch");
	b = find(res, nr, "nonlinear");
	if (!a || !a->native)
		a = b, b = NULL;
	g[n] = (struct goal){"nonlinear_rate", ">= 2x the host's rfp", 0, -1,
			     ""};
	if (a && a->native && !a->cfg.host_mmap) {
		double r = summarize(a->r, a->reps).med;

		g[n].value = 1 / r;
		g[n].met = g[n].value >= 2;
		snprintf(g[n].how, sizeof(g[n].how),
			 "remaps/s, umm over the host's remap_file_pages, "
			 "median of pairs, %s",
			 b ? "64 remaps a call (nonlinear_batch)"
			   : "one remap a call");
		if (b && b->native && !b->cfg.host_mmap)
			snprintf(g[n].how + strlen(g[n].how),
				 sizeof(g[n].how) - strlen(g[n].how),
				 "; one a call (nonlinear): %.2fx",
				 1 / summarize(b->r, b->reps).med);
	}
	n++;
	return n;
}

/* ---- the environment ---- */

struct env {
	char kernel[256];
	char cpu[128];
	long nproc;
	unsigned long max_map_count;
	double load;
};

static void get_env(struct env *e)
{
	struct utsname u;
	char line[512];
	FILE *f;

	memset(e, 0, sizeof(*e));
	if (!uname(&u))
		snprintf(e->kernel, sizeof(e->kernel), "%s %s %s", u.sysname,
			 u.release, u.machine);
	strcpy(e->cpu, "unknown");
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(e->cpu, sizeof(e->cpu), "%s", c + 2);
			e->cpu[strcspn(e->cpu, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	e->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%lu", &e->max_map_count) != 1)
			e->max_map_count = 0;
		fclose(f);
	}
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &e->load) != 1)
			e->load = 0;
		fclose(f);
	}
}

static const char *build_config(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return "gcc " __VERSION__ ", ASan";
#elif defined(__OPTIMIZE__)
	return "cc " __VERSION__ ", optimised";
#else
	return "cc " __VERSION__ ", not optimised";
#endif
}

/* ---- output: the table ---- */

static void cfg_string(const struct bench_cfg *c, char *buf, size_t len)
{
	snprintf(buf, len,
		 "merge=%s alloc=%s fault-around=%u host-remap=%s pool=%s",
		 c->merge ? "on" : "off", c->scatter ? "scatter" : "contig",
		 c->fault_around, c->host_mmap ? "mmap" : "rfp",
		 c->pool ? "on" : "off");
}

static uint64_t faults_total(const struct umm_stats *st)
{
	return st->fault_anon_zero + st->fault_anon + st->fault_file +
	       st->fault_cow + st->fault_wp_reuse + st->fault_dirty +
	       st->fault_young + st->fault_host_miss + st->fault_spurious;
}

/* Guest faults by kind in the last repetition, the kinds that occurred. */
static void print_faults(const struct result *res, unsigned int nr)
{
	unsigned int i, k;

	printf("\nguest faults by kind (one repetition):\n");
	for (i = 0; i < nr; i++) {
		const struct umm_stats *st = &res[i].st;
		const struct {
			const char *name;
			uint64_t n;
		} kinds[] = {
			{"zero", st->fault_anon_zero},
			{"anon", st->fault_anon},
			{"file", st->fault_file},
			{"cow", st->fault_cow},
			{"reuse", st->fault_wp_reuse},
			{"dirty", st->fault_dirty},
			{"young", st->fault_young},
			{"host-miss", st->fault_host_miss},
			{"spurious", st->fault_spurious},
			{"SIGSEGV", st->fault_sigsegv},
			{"SIGBUS", st->fault_sigbus},
			{"pages mapped around", st->pages_faulted_around},
			{"host resets", st->host_resets},
			{"host evictions", st->host_evictions},
		};
		bool any = false;

		if (res[i].err)
			continue;
		printf("  %-32s", res[i].name);
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if (!kinds[k].n)
				continue;
			printf("%s %s %llu", any ? "," : "", kinds[k].name,
			       (unsigned long long)kinds[k].n);
			any = true;
		}
		/* The rest umm made itself (GUP, populate, prefault). */
		if (faults_total(st) + st->fault_sigsegv + st->fault_sigbus)
			printf("; the guest took %llu",
			       (unsigned long long)st->faults_taken);
		if (res[i].tlb_lookups) {
			printf("%s software TLB hits %llu of %llu (%.1f%%)",
			       any ? "," : "",
			       (unsigned long long)res[i].tlb_hits,
			       (unsigned long long)res[i].tlb_lookups,
			       100.0 * (double)res[i].tlb_hits /
				       (double)res[i].tlb_lookups);
			any = true;
		}
		printf("%s\n", any ? "" : " none");
	}
}

static void print_table(const struct bench_opts *o, const struct env *e,
			const struct result *res, unsigned int nr,
			const struct goal *g, unsigned int ng)
{
	char cfg[128];
	unsigned int i;

	cfg_string(&o->cfg, cfg, sizeof(cfg));
	printf("umm bench %s: %ld CPUs, %s, %s, vm.max_map_count %lu, load "
	       "%.2f\n%u repetitions after a warm-up, median [min-max]; "
	       "strategies: %s\n\n",
	       umm_version(), e->nproc, e->cpu, e->kernel, e->max_map_count,
	       e->load, o->reps, cfg);
	printf("%-32s %6s %22s %10s %9s %18s %8s %11s %7s %11s\n", "scenario",
	       "MiB", "umm ns/op [min-max]", "umm ops/s", "host ns",
	       "ratio [min-max]", "calls/op", "VMAs (vmas)", "flt/op",
	       "RSS MiB u/h");
	for (i = 0; i < nr; i++) {
		const struct result *r = &res[i];
		struct figure gf = summarize(r->g, r->reps);
		struct figure nf = summarize(r->n, r->reps);
		struct figure rf = summarize(r->r, r->reps);
		char vmas[32];

		if (r->err) {
			printf("%-32s %6llu  failed (%s): %s\n", r->name,
			       (unsigned long long)(r->size >> 20), r->err_side,
			       strerror(-r->err));
			continue;
		}
		snprintf(vmas, sizeof(vmas), "%ld (%ld)", r->peak_vmas,
			 r->guest_vmas);
		printf("%-32s %6llu %8.0f [%5.0f-%5.0f] %10.0f", r->name,
		       (unsigned long long)(r->size >> 20), gf.med, gf.min,
		       gf.max, 1e9 / gf.med);
		if (r->native)
			printf(" %9.0f %6.2f [%4.2f-%4.2f]", nf.med, rf.med,
			       rf.min, rf.max);
		else
			printf(" %9s %18s", r->native_err ? "refused" : "-",
			       "-");
		printf(" %8.2f %11s %7.3f %5ld/%-5ld\n",
		       summarize(r->calls, r->reps).med, vmas,
		       (double)faults_total(&r->st) / (double)r->ops,
		       r->rss_guest >> 10, r->native ? r->rss_native >> 10 : 0);
	}
	print_faults(res, nr);
	printf("\ngoals (this run, this machine):\n");
	for (i = 0; i < ng; i++) {
		if (g[i].met < 0) {
			printf("  %-20s %-22s not measured (scenario not run)\n",
			       g[i].name, g[i].target);
			continue;
		}
		printf("  %-20s %-22s %8.2f  %-5s  %s\n", g[i].name,
		       g[i].target, g[i].value, g[i].met ? "met" : "UNMET",
		       g[i].how);
	}
	printf("\nratio: umm ns/op over the host's for the same work, "
	       "repetition by repetition\n(< 1: umm is faster). calls/op: "
	       "host system calls per guest operation.\nVMAs: host VMAs of "
	       "the window at the peak (guest vmas then). flt/op: guest\n"
	       "faults per operation. RSS: the process's peak (VmHWM, reset "
	       "through\n/proc/self/clear_refs before each run%s), umm / "
	       "host. --list says what each\nscenario does.\n",
	       rss_resettable ? "" : "; not resettable here: lifetime peak");
}

/* ---- output: JSON ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, const char *key, double v, bool comma)
{
	fprintf(f, "\"%s\": %.6g%s", key, isfinite(v) ? v : -1.0,
		comma ? ", " : "");
}

static void json_figure(FILE *f, const char *key, struct figure x)
{
	fprintf(f, "\"%s\": %.6g, \"%s_min\": %.6g, \"%s_max\": %.6g", key,
		x.med, key, x.min, key, x.max);
}

static void json_result(FILE *f, const struct result *r)
{
	struct figure gf = summarize(r->g, r->reps);
	char cfg[128];

	fprintf(f, "    {\"name\": ");
	json_str(f, r->name);
	fprintf(f, ", \"scenario\": ");
	json_str(f, r->e->sc->name);
	fprintf(f, ", \"variant\": ");
	json_str(f, r->e->variant ? r->e->variant : "");
	fprintf(f, ",\n     \"what\": ");
	json_str(f, r->e->sc->what);
	fprintf(f, ", \"native\": ");
	json_str(f, r->native ? r->e->sc->native_what : "");
	if (r->native_err) {
		fprintf(f, ", \"native_error\": ");
		json_str(f, strerror(-r->native_err));
	}
	fprintf(f, ", \"unit\": ");
	json_str(f, r->e->sc->unit);
	cfg_string(&r->cfg, cfg, sizeof(cfg));
	fprintf(f,
		",\n     \"configuration\": {\"merge\": %s, \"alloc\": "
		"\"%s\", \"fault_around\": %u, \"host_remap\": \"%s\", "
		"\"pool\": %s, \"size_mib\": %llu, \"iterations\": %u, "
		"\"repetitions\": %u, \"ops_per_repetition\": %llu},\n",
		r->cfg.merge ? "true" : "false",
		r->cfg.scatter ? "scatter" : "contig", r->cfg.fault_around,
		r->cfg.host_mmap ? "mmap" : "rfp",
		r->cfg.pool ? "true" : "false",
		(unsigned long long)(r->size >> 20), r->iters, r->reps,
		(unsigned long long)r->ops);
	if (r->err) {
		fprintf(f, "     \"error\": ");
		json_str(f, strerror(-r->err));
		fprintf(f, "}");
		return;
	}
	fprintf(f, "     \"figures\": {");
	json_num(f, "ops_per_s", 1e9 / gf.med, true);
	json_num(f, "ops_per_s_min", 1e9 / gf.max, true);
	json_num(f, "ops_per_s_max", 1e9 / gf.min, true);
	json_figure(f, "ns_per_op", gf);
	if (r->native) {
		struct figure nf = summarize(r->n, r->reps);

		fprintf(f, ",\n       ");
		json_num(f, "native_ops_per_s", 1e9 / nf.med, true);
		json_figure(f, "native_ns_per_op", nf);
		fprintf(f, ", ");
		json_figure(f, "ratio", summarize(r->r, r->reps));
		fprintf(f, ", ");
		json_num(f, "native_peak_rss_kb", (double)r->rss_native, false);
	}
	fprintf(f, ",\n       ");
	json_num(f, "peak_rss_kb", (double)r->rss_guest, false);
	fprintf(f, "},\n     \"counts\": {");
	json_num(f, "host_syscalls_per_op", summarize(r->calls, r->reps).med,
		 true);
	json_num(f, "host_vmas_peak", (double)r->peak_vmas, true);
	json_num(f, "guest_vmas_at_peak", (double)r->guest_vmas, true);
	json_num(f, "host_vma_budget", (double)r->budget, true);
	json_num(f, "host_resets", (double)r->st.host_resets, true);
	json_num(f, "host_evictions", (double)r->st.host_evictions, true);
	json_num(f, "host_evicted_pages", (double)r->st.host_evicted_pages,
		 true);
	json_num(f, "host_fills", (double)r->st.host_fills, true);
	json_num(f, "host_merged", (double)r->st.host_merged, true);
	json_num(f, "host_ops", (double)r->st.host_ops, true);
	json_num(f, "host_syscalls", (double)r->st.host_syscalls, true);
	json_num(f, "tlb_lookups", (double)r->tlb_lookups, true);
	json_num(f, "tlb_hits", (double)r->tlb_hits, false);
	fprintf(f, "},\n     \"faults\": {");
	json_num(f, "anon_zero", (double)r->st.fault_anon_zero, true);
	json_num(f, "anon", (double)r->st.fault_anon, true);
	json_num(f, "file", (double)r->st.fault_file, true);
	json_num(f, "cow", (double)r->st.fault_cow, true);
	json_num(f, "wp_reuse", (double)r->st.fault_wp_reuse, true);
	json_num(f, "dirty", (double)r->st.fault_dirty, true);
	json_num(f, "young", (double)r->st.fault_young, true);
	json_num(f, "host_miss", (double)r->st.fault_host_miss, true);
	json_num(f, "spurious", (double)r->st.fault_spurious, true);
	json_num(f, "sigsegv", (double)r->st.fault_sigsegv, true);
	json_num(f, "sigbus", (double)r->st.fault_sigbus, true);
	json_num(f, "pages_faulted_around", (double)r->st.pages_faulted_around,
		 true);
	json_num(f, "taken", (double)r->st.faults_taken, false);
	fprintf(f, "}}");
}

static void print_json(const struct bench_opts *o, const struct env *e,
		       const struct result *res, unsigned int nr,
		       const struct goal *g, unsigned int ng)
{
	unsigned int i;

	printf("{\"environment\": {\"kernel\": ");
	json_str(stdout, e->kernel);
	printf(", \"cpu_model\": ");
	json_str(stdout, e->cpu);
	printf(", \"nproc\": %ld, \"vm_max_map_count\": %lu, "
	       "\"loadavg_1min\": %.2f,\n  \"umm_version\": ",
	       e->nproc, e->max_map_count, e->load);
	json_str(stdout, umm_version());
	printf(", \"build\": ");
	json_str(stdout, build_config());
	printf(", \"repetitions\": %u, \"quick\": %s, \"rss_method\": ",
	       o->reps, o->quick ? "true" : "false");
	json_str(stdout, rss_resettable
				 ? "VmHWM after resetting it through "
				   "/proc/self/clear_refs before each run"
				 : "VmHWM (lifetime peak: clear_refs refused)");
	printf("},\n \"scenarios\": [\n");
	for (i = 0; i < nr; i++) {
		json_result(stdout, &res[i]);
		printf("%s\n", i + 1 < nr ? "," : "");
	}
	printf(" ],\n \"goals\": [\n");
	for (i = 0; i < ng; i++) {
		printf("    {\"name\": \"%s\", \"target\": ", g[i].name);
		json_str(stdout, g[i].target);
		printf(", \"met\": %s, \"value\": %.6g, \"how\": ",
		       g[i].met < 0 ? "null"
		       : g[i].met   ? "true"
				    : "false",
		       g[i].value);
		json_str(stdout, g[i].how);
		printf("}%s\n", i + 1 < ng ? "," : "");
	}
	printf(" ]}\n");
}

/* ---- output: a chart through gnuplot ---- */

/* gnuplot's path, found in $PATH now, or NULL. */
static char *find_gnuplot(void)
{
	const char *path = getenv("PATH");
	char *dirs, *d, *save = NULL;
	static char found[4096];

	if (!path)
		return NULL;
	dirs = strdup(path);
	for (d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof(found), "%s/gnuplot", *d ? d : ".");
		if (!access(found, X_OK)) {
			free(dirs);
			return found;
		}
	}
	free(dirs);
	return NULL;
}

static int plot(const char *gnuplot, const char *png, const struct result *res,
		unsigned int nr)
{
	char data[] = "/tmp/umm-bench-XXXXXX";
	int fd = mkstemp(data), status;
	unsigned int i, rows = 0;
	FILE *f, *gp;
	pid_t pid;
	int pfd[2];

	if (fd < 0 || !(f = fdopen(fd, "w")))
		return -1;
	for (i = 0; i < nr; i++) {
		if (res[i].err || !res[i].native)
			continue;
		fprintf(f, "\"%s\" %g %g %g\n", res[i].name,
			summarize(res[i].r, res[i].reps).med,
			summarize(res[i].r, res[i].reps).min,
			summarize(res[i].r, res[i].reps).max);
		rows++;
	}
	fclose(f);
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[0], 0);
		close(pfd[1]);
		execl(gnuplot, "gnuplot", (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	if (pid < 0) {
		close(pfd[1]);
		unlink(data);
		return -1;
	}
	gp = fdopen(pfd[1], "w");
	if (!gp) { /* gnuplot reads EOF and exits */
		close(pfd[1]);
		waitpid(pid, &status, 0);
		unlink(data);
		return -1;
	}
	fprintf(gp,
		"set terminal png size %u,600\nset output '%s'\n"
		"set title 'umm bench: time per operation, umm over the host "
		"kernel (median, min-max; < 1: umm faster)'\n"
		"set logscale y\nset yrange [0.01:100]\nset grid y\n"
		"set rmargin 14\nset bmargin 14\n"
		"set xtics rotate by -40 noenhanced\nset key off\n"
		"set style fill solid 0.5\nset boxwidth 0.6\n"
		"plot '%s' using 0:2:xtic(1) with boxes, "
		"'' using 0:2:3:4 with yerrorbars lc rgb 'black' pt 0, "
		"1 with lines lc rgb 'red'\n",
		rows * 45 + 300, png, data);
	fclose(gp);
	waitpid(pid, &status, 0);
	unlink(data);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/* ---- options ---- */

static void list(void)
{
	unsigned int i;

	printf("scenarios (name[:strategy]); each runs on umm and natively "
	       "in the same invocation:\n");
	for (i = 0; i < NR_ENTRIES; i++) {
		const struct bench_scenario *sc = entries[i].sc;

		if (entries[i].variant) {
			printf("  %s:%s\n", sc->name, entries[i].variant);
			continue;
		}
		printf("  %-22s %s (%llu MiB", sc->name, sc->what,
		       (unsigned long long)sc->size);
		if (sc->iters)
			printf(", %u times", sc->iters);
		printf(")\n  %-22s   host: %s\n", "",
		       sc->native_what ? sc->native_what : "none");
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: umm bench [options] [SCENARIO...]\n"
		"  SCENARIO         a name from --list (with its strategy "
		"variants), name:variant,\n"
		"                   or fault, fork (old names), tlb (software TLB and\n"
		"                   threaded faults), run (guest programs on the\n"
		"                   guest kernel, umm run); default: all\n"
		"  --list           name the scenarios and what each does\n"
		"  --quick          small sizes, 3 repetitions: seconds\n"
		"  --reps N         repetitions after the warm-up (default 5, "
		"max %d)\n"
		"  --size MiB       region size of every scenario (default: "
		"each its own)\n"
		"  --json           JSON instead of the table\n"
		"  --plot FILE.png  draw the ratios with gnuplot\n"
		"  --no-variants    only the configured strategies\n"
		"strategies (umm's defaults first):\n"
		"  --merge on|off           merged host calls, or one per "
		"page\n"
		"  --alloc contig|scatter   frames of a guest run contiguous, "
		"or not\n"
		"  --fault-around N         pages per anonymous fault (1: "
		"off; default 16)\n"
		"  --host-remap rfp|mmap    the host's side of nonlinear "
		"scenarios\n"
		"  --pool on|off            freed frames kept zeroed for reuse "
		"(default on)\n",
		MAX_REPS);
}

static bool select_name(struct bench_opts *o, const char *arg)
{
	bool any = false;
	unsigned int i;

	for (i = 0; i < NR_ENTRIES; i++) {
		const struct bench_entry *e = &entries[i];
		const char *n = e->sc->name;
		size_t l = strlen(n);
		bool hit;

		if (!strcmp(arg, "fault"))
			hit = !strncmp(n, "page_fault1", 11) ||
			      !strcmp(n, "fault_isolated");
		else if (!strcmp(arg, "fork"))
			hit = !strcmp(n, "fork_heavy") || !strcmp(n, "fork") ||
			      !strncmp(n, "cow", 3);
		else if (!strcmp(arg, "run"))
			hit = !strncmp(n, "run_", 4);
		else if (!strcmp(arg, "nonlinear"))
			hit = !strncmp(n, "nonlinear", 9);
		else if (!strcmp(arg, "tlb"))
			hit = !strncmp(n, "stlb_", 5) ||
			      !strncmp(n, "fault_threads", 13);
		else if (!strncmp(arg, n, l) && arg[l] == ':')
			hit = e->variant && !strcmp(arg + l + 1, e->variant);
		else
			hit = !strcmp(arg, n);
		if (hit)
			o->selected[i] = any = true;
	}
	return any;
}

static int on_off(const char *s, const char *on, const char *off, bool *v)
{
	if (!strcmp(s, on))
		*v = true;
	else if (!strcmp(s, off))
		*v = false;
	else
		return -1;
	return 0;
}

static int parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"reps", required_argument, NULL, 'r'},
		{"size", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"plot", required_argument, NULL, 'p'},
		{"list", no_argument, NULL, 'l'},
		{"no-variants", no_argument, NULL, 'n'},
		{"merge", required_argument, NULL, 'm'},
		{"alloc", required_argument, NULL, 'a'},
		{"fault-around", required_argument, NULL, 'f'},
		{"host-remap", required_argument, NULL, 'R'},
		{"pool", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool reps_set = false, any = false;
	unsigned int i;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qr:s:jp:lnh", longopts, NULL)) !=
	       -1) {
		int bad = 0;

		switch (c) {
		case 'q':
			o->quick = true;
			break;
		case 'r':
			o->reps = (unsigned int)atoi(optarg);
			reps_set = true;
			break;
		case 's':
			o->size = strtoull(optarg, NULL, 0);
			bad = !o->size || o->size > 16384;
			break;
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->plot = optarg;
			break;
		case 'l':
			o->list = true;
			break;
		case 'n':
			o->variants = false;
			break;
		case 'm':
			bad = on_off(optarg, "on", "off", &o->cfg.merge);
			break;
		case 'a':
			bad = on_off(optarg, "scatter", "contig",
				     &o->cfg.scatter);
			break;
		case 'f':
			o->cfg.fault_around = (unsigned int)atoi(optarg);
			bad = !o->cfg.fault_around ||
			      o->cfg.fault_around > 512 ||
			      (o->cfg.fault_around & (o->cfg.fault_around - 1));
			break;
		case 'R':
			bad = on_off(optarg, "mmap", "rfp", &o->cfg.host_mmap);
			break;
		case 'P':
			bad = on_off(optarg, "on", "off", &o->cfg.pool);
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return -1;
		}
		if (bad)
			return -1;
	}
	if (o->quick && !reps_set)
		o->reps = 3;
	if (o->reps < 1 || o->reps > MAX_REPS)
		return -1;
	for (; optind < argc; optind++) {
		if (!select_name(o, argv[optind])) {
			fprintf(stderr,
				"umm bench: no scenario '%s' "
				"(--list names them)\n",
				argv[optind]);
			return -1;
		}
		any = true;
	}
	for (i = 0; i < NR_ENTRIES && !any; i++)
		o->selected[i] = true;
	for (i = 0; i < NR_ENTRIES && !o->variants; i++)
		if (entries[i].variant)
			o->selected[i] = false;
	return 0;
}

int um_bench_main(int argc, char **argv)
{
	struct bench_opts o = {
		.cfg = {.merge = true, .fault_around = 16, .pool = true},
		.reps = 5,
		.variants = true,
	};
	struct result *res;
	struct goal goals[8];
	const char *gnuplot = NULL;
	unsigned int i, nr = 0, ng, k = 0;
	struct env env;
	int err;

	err = parse(argc, argv, &o);
	if (err) {
		if (err < 0)
			usage(stderr);
		return err < 0 ? 2 : 0;
	}
	if (o.list) {
		list();
		return 0;
	}
	if (o.plot) {
		gnuplot = find_gnuplot();
		if (!gnuplot) {
			fprintf(stderr, "umm bench: --plot needs gnuplot, "
					"which is not in PATH (Debian: apt-get "
					"install gnuplot-nox)\n");
			return 1;
		}
	}
	/* umm's handler first, so native runs that borrow SIGSEGV restore it */
	if (um_signals_init()) {
		fprintf(stderr, "umm bench: cannot install handlers\n");
		return 1;
	}
	get_env(&env);
	res = calloc(NR_ENTRIES, sizeof(*res));
	if (!res)
		return 1;
	for (i = 0; i < NR_ENTRIES; i++) {
		const struct bench_scenario *sc = entries[i].sc;
		struct result *r;

		if (!o.selected[i])
			continue;
		r = &res[nr++];
		r->e = &entries[i];
		r->cfg = entry_cfg(r->e, &o.cfg);
		r->reps = o.reps;
		r->native = sc->native != NULL;
		r->size = (o.size    ? o.size
			   : o.quick ? sc->size_quick
				     : sc->size)
			  << 20;
		r->iters = o.quick ? sc->iters_quick : sc->iters;
		snprintf(r->name, sizeof(r->name), "%s%s%s", sc->name,
			 r->e->variant ? ":" : "",
			 r->e->variant ? r->e->variant : "");
	}
	for (i = 0; i < nr; i++)
		run_entry(&o, &res[i], ++k, nr);
	progress(&o, 0, 0, NULL, 0);
	ng = eval_goals(res, nr, goals);
	if (o.json)
		print_json(&o, &env, res, nr, goals, ng);
	else
		print_table(&o, &env, res, nr, goals, ng);
	err = 0;
	for (i = 0; i < nr; i++)
		err |= res[i].err;
	if (o.plot && plot(gnuplot, o.plot, res, nr)) {
		fprintf(stderr, "umm bench: gnuplot failed to draw %s\n",
			o.plot);
		err = 1;
	}
	free(res);
	return err ? 1 : 0;
}
