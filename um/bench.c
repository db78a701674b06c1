// SPDX-License-Identifier: MIT
/*
 * umm bench fault: what a guest fault costs, beside the host kernel doing
 * the same work natively in the same run. Each figure is the median of
 * several repetitions after a warm-up, with the spread; ratios are taken
 * pair by pair (umm's run i against the host's run i), so that a burst of
 * noise on a shared machine skews one pair, not the ratio.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "include/umm.h"
#include "um/um.h"

struct bench_opts {
	uint64_t size; /* bytes of the region */
	unsigned int reps;
	unsigned int stride; /* pages between isolated faults */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

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
	double s[64];
	struct figure f;

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	f.min = s[0];
	f.max = s[n - 1];
	f.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	return f;
}

/* A fixed pseudo-random order of @n page indices. */
static uint32_t *page_order(uint64_t n, bool random)
{
	uint32_t *order = malloc(n * sizeof(*order));
	uint64_t i, x = 0x9e3779b97f4a7c15ULL;

	if (!order)
		return NULL;
	for (i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	for (i = n - 1; random && i > 0; i--) {
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

struct touch {
	volatile uint8_t *base;
	const uint32_t *order;
	uint64_t n;
	uint64_t stride; /* pages */
};

static void touch_pages(void *arg)
{
	struct touch *t = arg;
	uint64_t i;

	for (i = 0; i < t->n; i++)
		t->base[((uint64_t)t->order[i] * t->stride) << 12] = 1;
}

/* Host: first touch of a fresh private anonymous region. ns per page. */
static double native_touch(uint64_t size, const uint32_t *order,
			   uint64_t stride)
{
	uint64_t n = (size >> 12) / stride, t0;
	struct touch t = {.order = order, .n = n, .stride = stride};
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	t.base = p;
	t0 = now_ns();
	touch_pages(&t);
	t0 = now_ns() - t0;
	munmap(p, size);
	return (double)t0 / (double)n;
}

struct guest_run {
	double ns; /* per page touched */
	double syscalls; /* host syscalls per guest fault */
	double faults; /* guest faults per page touched */
	long host_vmas;
};

/* umm: the same on a guest mm. */
static int guest_touch(struct umm_phys *phys, uint64_t size,
		       const uint32_t *order, uint64_t stride,
		       unsigned int fault_around, struct guest_run *r)
{
	uint64_t n = (size >> 12) / stride, t0, faults;
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 36);
	struct touch t = {.order = order, .n = n, .stride = stride};
	struct umm_stats s0, s1;
	siginfo_t si;
	long a;
	int sig;

	if (!mm)
		return -errno;
	umm_mm_set_fault_around(mm, fault_around);
	a = umm_mmap(mm, 0, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	if (a < 0) {
		umm_mm_put(mm);
		return (int)a;
	}
	t.base = umm_host_addr(mm, (uint64_t)a);
	umm_mm_stats(mm, &s0);
	t0 = now_ns();
	sig = umm_guest_call(mm, touch_pages, &t, &si);
	t0 = now_ns() - t0;
	umm_mm_stats(mm, &s1);
	r->host_vmas = umm_host_vmas(mm);
	umm_mm_put(mm);
	if (sig)
		return -EFAULT;
	faults = (s1.fault_anon + s1.fault_anon_zero + s1.fault_host_miss +
		  s1.fault_dirty) -
		 (s0.fault_anon + s0.fault_anon_zero + s0.fault_host_miss +
		  s0.fault_dirty);
	r->ns = (double)t0 / (double)n;
	r->faults = (double)faults / (double)n;
	r->syscalls = faults ? (double)(s1.host_syscalls - s0.host_syscalls) /
				       (double)faults
			     : 0;
	return 0;
}

/* ---- the bare host round trip: SIGSEGV, mmap one page, return ---- */

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
	if (mmap((void *)a, 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, bare_fd,
		 (off_t)(a - bare_base)) == MAP_FAILED)
		signal(sig, SIG_DFL);
}

/* ns per fault for @n faults @stride pages apart. */
static double bare_round_trip(const uint32_t *order, uint64_t n,
			      uint64_t stride)
{
	uint64_t size = n * stride * 4096, t0;
	struct sigaction sa, old;
	struct touch t = {.order = order, .n = n, .stride = stride};
	void *p;

	bare_fd = memfd_create("umm-bench", MFD_CLOEXEC);
	if (bare_fd < 0 || ftruncate(bare_fd, (off_t)size) < 0)
		return -1;
	p = mmap(NULL, size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	bare_base = (uintptr_t)p;
	bare_end = bare_base + size;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = bare_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, &old);
	t.base = p;
	t0 = now_ns();
	touch_pages(&t);
	t0 = now_ns() - t0;
	sigaction(SIGSEGV, &old, NULL);
	munmap(p, size);
	close(bare_fd);
	return (double)t0 / (double)n;
}

static void print_row(const char *what, struct figure g, struct figure h,
		      struct figure ratio)
{
	printf("  %-40s %9.0f [%6.0f-%6.0f] %9.0f [%6.0f-%6.0f] %6.2f\n", what,
	       g.med, g.min, g.max, h.med, h.min, h.max, ratio.med);
}

static void progress(const char *what, unsigned int i, unsigned int n)
{
	if (!isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\r  %-40s %u/%u ", what, i, n);
	if (i == n)
		fprintf(stderr, "\r%60s\r", "");
}

static int bench_fault(const struct bench_opts *o)
{
	uint64_t pages = o->size >> 12, iso_n = pages / o->stride;
	uint32_t *seq = page_order(pages, false),
		 *rnd = page_order(pages, true);
	struct umm_phys *phys = umm_phys_new(o->size * 2);
	double g[6][64], h[3][64], r[6][64], sys_seq[64], flt_seq[64];
	long vmas = 0;
	unsigned int i, k;
	struct guest_run gr;
	int err = 0;

	if (!seq || !rnd || !phys) {
		fprintf(stderr, "umm bench: out of memory\n");
		return 1;
	}
	printf("umm bench fault: %llu MiB region, %u repetitions after a "
	       "warm-up; median [min-max]\n",
	       (unsigned long long)(o->size >> 20), o->reps);
	for (i = 0; i <= o->reps && !err; i++) {
		unsigned int j = i ? i - 1 : 0; /* run 0 is the warm-up */

		progress("measuring", i, o->reps);
		h[0][j] = native_touch(o->size, seq, 1);
		err |= guest_touch(phys, o->size, seq, 1, 16, &gr);
		g[0][j] = gr.ns;
		sys_seq[j] = gr.syscalls;
		flt_seq[j] = gr.faults;
		vmas = gr.host_vmas;
		h[1][j] = native_touch(o->size, rnd, 1);
		err |= guest_touch(phys, o->size, rnd, 1, 16, &gr);
		g[1][j] = gr.ns;
		err |= guest_touch(phys, o->size, seq, 1, 1, &gr);
		g[2][j] = gr.ns;
		h[2][j] = bare_round_trip(seq, iso_n, o->stride);
		err |= guest_touch(phys, o->size, seq, o->stride, 1, &gr);
		g[3][j] = gr.ns;
		err |= guest_touch(phys, o->size, seq, o->stride, 16, &gr);
		g[4][j] = gr.ns;
		r[0][j] = g[0][j] / h[0][j];
		r[1][j] = g[1][j] / h[1][j];
		r[2][j] = g[2][j] / h[0][j];
		r[3][j] = g[3][j] / h[2][j];
		r[4][j] = g[4][j] / h[2][j];
	}
	progress("measuring", o->reps, o->reps);
	if (err) {
		fprintf(stderr, "umm bench: a guest run failed (%s)\n",
			strerror(-err));
		return 1;
	}
	printf("\n  %-40s %26s %26s %6s\n", "", "umm", "host", "ratio");
	print_row("first touch, sequential (ns/page)", summarize(g[0], o->reps),
		  summarize(h[0], o->reps), summarize(r[0], o->reps));
	print_row("first touch, random (ns/page)", summarize(g[1], o->reps),
		  summarize(h[1], o->reps), summarize(r[1], o->reps));
	print_row("  same, fault-around off, sequential",
		  summarize(g[2], o->reps), summarize(h[0], o->reps),
		  summarize(r[2], o->reps));
	print_row("isolated fault (ns) vs SIGSEGV+mmap",
		  summarize(g[3], o->reps), summarize(h[2], o->reps),
		  summarize(r[3], o->reps));
	print_row("  same, fault-around 16", summarize(g[4], o->reps),
		  summarize(h[2], o->reps), summarize(r[4], o->reps));
	for (k = 0; k < o->reps; k++)
		g[5][k] = sys_seq[k];
	printf("\n  host syscalls per guest fault (sequential): %.2f\n",
	       summarize(g[5], o->reps).med);
	for (k = 0; k < o->reps; k++)
		g[5][k] = flt_seq[k] * 1000;
	printf("  guest faults per 1000 pages (sequential):   %.1f\n",
	       summarize(g[5], o->reps).med);
	printf("  host VMAs after sequential touch: %ld (guest vmas: 1)\n",
	       vmas);
	printf("\n  host = the host kernel: first touch of a private anonymous "
	       "region,\n  or a bare SIGSEGV handler that mmaps one memfd page "
	       "(MAP_POPULATE).\n  isolated = %u pages apart. ratio < 1: umm "
	       "is faster.\n",
	       o->stride);
	if (umm_phys_frames_free(phys) != umm_phys_frames_total(phys)) {
		fprintf(stderr, "umm bench: frames leaked\n");
		err = 1;
	}
	umm_phys_put(phys);
	free(seq);
	free(rnd);
	return err ? 1 : 0;
}

/* ---- umm bench fork ---- */

struct fork_run {
	double fork_ns; /* the fork itself */
	double cow_ns; /* per page, first write after fork */
	double iso_ns; /* per fault, one page in every 64 */
	double iso1_ns; /* the same, fault-around off */
};

static void touch_fill(void *arg)
{
	struct touch *t = arg;
	uint64_t i;

	for (i = 0; i < t->n; i++)
		t->base[(uint64_t)i * t->stride << 12] += 1;
}

/* Host: a process with @size touched forks; the parent then COW-writes. */
static int native_fork(uint64_t size, struct fork_run *r)
{
	uint64_t n = size >> 12, t0, t1;
	struct touch t = {.n = n, .stride = 1};
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int go[2], st;
	pid_t pid;
	char c = 0;

	if (p == MAP_FAILED || pipe(go) < 0)
		return -1;
	memset(p, 1, size);
	t.base = p;
	t0 = now_ns();
	pid = fork();
	if (pid == 0) { /* keep the pages shared until the parent is done */
		ssize_t rd = read(go[0], &c, 1);

		_exit(rd == 1 ? 0 : 1);
	}
	t1 = now_ns();
	if (pid < 0)
		return -1;
	r->fork_ns = (double)(t1 - t0);
	t0 = now_ns();
	touch_fill(&t);
	r->cow_ns = (double)(now_ns() - t0) / (double)n;
	if (write(go[1], &c, 1) != 1)
		return -1;
	waitpid(pid, &st, 0);
	/* isolated: a fresh fork, every 64th page */
	pid = fork();
	if (pid == 0) {
		ssize_t rd = read(go[0], &c, 1);

		_exit(rd == 1 ? 0 : 1);
	}
	t.n = n / 64;
	t.stride = 64;
	t0 = now_ns();
	touch_fill(&t);
	r->iso_ns = (double)(now_ns() - t0) / (double)t.n;
	if (write(go[1], &c, 1) != 1)
		return -1;
	waitpid(pid, &st, 0);
	close(go[0]);
	close(go[1]);
	munmap(p, size);
	return 0;
}

/* umm: the same with a guest mm and umm_fork. */
static int guest_fork(struct umm_phys *phys, uint64_t size, struct fork_run *r)
{
	uint64_t n = size >> 12, t0, t1;
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 36), *child;
	struct touch t = {.n = n, .stride = 1};
	siginfo_t si;
	long a;
	int sig = 0;

	if (!mm)
		return -errno;
	a = umm_mmap(mm, 0, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, NULL, 0);
	if (a < 0) {
		umm_mm_put(mm);
		return (int)a;
	}
	t.base = umm_host_addr(mm, (uint64_t)a);
	sig |= umm_guest_call(mm, touch_fill, &t, &si);
	t0 = now_ns();
	child = umm_fork(mm);
	t1 = now_ns();
	if (!child) {
		umm_mm_put(mm);
		return -errno;
	}
	r->fork_ns = (double)(t1 - t0);
	t0 = now_ns();
	sig |= umm_guest_call(mm, touch_fill, &t, &si);
	r->cow_ns = (double)(now_ns() - t0) / (double)n;
	umm_mm_put(child);
	child = umm_fork(mm);
	if (!child) {
		umm_mm_put(mm);
		return -errno;
	}
	t.n = n / 64;
	t.stride = 64;
	t0 = now_ns();
	sig |= umm_guest_call(mm, touch_fill, &t, &si);
	r->iso_ns = (double)(now_ns() - t0) / (double)t.n;
	umm_mm_put(child);
	child = umm_fork(mm);
	if (!child) {
		umm_mm_put(mm);
		return -errno;
	}
	umm_mm_set_fault_around(mm, 1);
	t0 = now_ns();
	sig |= umm_guest_call(mm, touch_fill, &t, &si);
	r->iso1_ns = (double)(now_ns() - t0) / (double)t.n;
	umm_mm_put(child);
	umm_mm_put(mm);
	return sig ? -EFAULT : 0;
}

static int bench_fork(const struct bench_opts *o)
{
	double g[4][64], h[3][64], r[4][64];
	struct fork_run gr = {0}, hr = {0};
	struct umm_phys *phys;
	unsigned int i;
	int err = 0;

	printf("umm bench fork: %llu MiB touched, %u repetitions after a "
	       "warm-up; median [min-max]\n",
	       (unsigned long long)(o->size >> 20), o->reps);
	/* The host's runs first, in a process without umm's memory yet. */
	for (i = 0; i <= o->reps && !err; i++) {
		progress("host", i, o->reps);
		err = native_fork(o->size, &hr);
		if (i) {
			h[0][i - 1] = hr.fork_ns / 1000;
			h[1][i - 1] = hr.cow_ns;
			h[2][i - 1] = hr.iso_ns;
		}
	}
	progress("host", o->reps, o->reps);
	phys = umm_phys_new(o->size * 3);
	if (!phys)
		err = -errno;
	for (i = 0; i <= o->reps && !err; i++) {
		progress("umm", i, o->reps);
		err = guest_fork(phys, o->size, &gr);
		if (i) {
			g[0][i - 1] = gr.fork_ns / 1000;
			g[1][i - 1] = gr.cow_ns;
			g[2][i - 1] = gr.iso_ns;
			g[3][i - 1] = gr.iso1_ns;
		}
	}
	progress("umm", o->reps, o->reps);
	if (err) {
		fprintf(stderr, "umm bench fork: a run failed (%s)\n",
			strerror(err < 0 ? -err : errno));
		return 1;
	}
	for (i = 0; i < o->reps; i++) {
		r[0][i] = g[0][i] / h[0][i];
		r[1][i] = g[1][i] / h[1][i];
		r[2][i] = g[2][i] / h[2][i];
		r[3][i] = g[3][i] / h[2][i];
	}
	printf("\n  %-40s %26s %26s %6s\n", "", "umm", "host", "ratio");
	print_row("fork (us)", summarize(g[0], o->reps),
		  summarize(h[0], o->reps), summarize(r[0], o->reps));
	print_row("first write after fork (ns/page)", summarize(g[1], o->reps),
		  summarize(h[1], o->reps), summarize(r[1], o->reps));
	print_row("isolated COW fault, fault-around off (ns)",
		  summarize(g[3], o->reps), summarize(h[2], o->reps),
		  summarize(r[3], o->reps));
	print_row("  same, fault-around 16 (copies 16)",
		  summarize(g[2], o->reps), summarize(h[2], o->reps),
		  summarize(r[2], o->reps));
	printf("\n  host = fork(2) of this process with the same memory "
	       "touched; its COW faults\n  in the parent while the child "
	       "lives. isolated = one page in 64.\n");
	if (umm_phys_frames_free(phys) != umm_phys_frames_total(phys)) {
		fprintf(stderr, "umm bench: frames leaked\n");
		err = 1;
	}
	umm_phys_put(phys);
	return err ? 1 : 0;
}

/* ---- umm bench nonlinear: remap_file_pages of single pages ---- */

#ifndef MAP_NONBLOCK
#define MAP_NONBLOCK 0x10000
#endif

/* The pattern: remap page[i] to file page pgoff[i], read-only if ro[i]. */
struct remap_pattern {
	uint64_t n;
	uint32_t *page, *pgoff;
	uint8_t *ro;
};

static int make_pattern(struct remap_pattern *p, uint64_t pages)
{
	uint64_t i, x = 0x2545f4914f6cdd1dULL;

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
	return 0;
}

static void free_pattern(struct remap_pattern *p)
{
	free(p->page);
	free(p->pgoff);
	free(p->ro);
}

enum nl_kind {
	NL_HOST_RFP, /* the host's remap_file_pages, prot 0 */
	NL_HOST_RFP_NB, /* the same with MAP_NONBLOCK */
	NL_HOST_MMAP, /* the host: mmap(MAP_FIXED) of the page, its prot */
	NL_UMM_RFP, /* umm, legacy call */
	NL_UMM_RFP_NB, /* umm, MAP_NONBLOCK */
	NL_UMM_MANY, /* umm, UMM_MAP_MANYPROTS, its prot */
	NL_KINDS
};

/* What the remaps meet. */
enum nl_mode {
	NL_FIRST, /* every page mapped and touched before */
	NL_AGAIN, /* the same pattern again: nothing touched since */
	NL_TOUCH, /* as NL_FIRST, each remap followed by a read of the page */
	NL_MODES
};

static long host_rfp(void *start, size_t size, size_t pgoff, int flags)
{
	return syscall(SYS_remap_file_pages, start, size, 0, pgoff, flags);
}

static int native_loop(volatile uint8_t *b, const struct remap_pattern *p,
		       int fd, enum nl_kind kind, bool touch)
{
	const int rw = PROT_READ | PROT_WRITE;
	uint8_t sum = 0;
	uint64_t i;

	for (i = 0; i < p->n; i++) {
		volatile uint8_t *va = b + ((uint64_t)p->page[i] << 12);
		int err;

		if (kind == NL_HOST_RFP || kind == NL_HOST_RFP_NB)
			err = host_rfp((void *)va, 4096, p->pgoff[i],
				       kind == NL_HOST_RFP_NB ? MAP_NONBLOCK
							      : 0) < 0;
		else
			err = mmap((void *)va, 4096, p->ro[i] ? PROT_READ : rw,
				   MAP_SHARED | MAP_FIXED, fd,
				   (off_t)p->pgoff[i] << 12) == MAP_FAILED;
		if (err)
			return -1;
		if (touch)
			sum += *va;
	}
	return sum & 0; /* read, not used */
}

/* The pattern natively. ns per remap, or -1. */
static double native_remaps(const struct remap_pattern *p, int fd,
			    enum nl_kind kind, enum nl_mode mode)
{
	uint64_t size = p->n << 12, i, t0;
	volatile uint8_t *b =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint8_t sum = 0;
	int err = 0;

	if (b == MAP_FAILED)
		return -1;
	for (i = 0; i < p->n; i++) /* the host holds every page */
		sum += b[i << 12];
	if (mode == NL_AGAIN)
		err = native_loop(b, p, fd, kind, false);
	t0 = now_ns();
	if (!err)
		err = native_loop(b, p, fd, kind, mode == NL_TOUCH);
	t0 = now_ns() - t0;
	munmap((void *)b, size);
	(void)sum;
	return err ? -1 : (double)t0 / (double)p->n;
}

struct guest_remaps {
	struct umm_mm *mm;
	uint64_t base;
	const struct remap_pattern *p;
	enum nl_kind kind;
	bool touch;
	int err;
	uint8_t sum;
};

/* Run as guest code, as a guest kernel's TLB refill would. */
static void guest_remap_loop(void *arg)
{
	struct guest_remaps *g = arg;
	const struct remap_pattern *p = g->p;
	uint64_t i;

	for (i = 0; i < p->n && !g->err; i++) {
		uint64_t va = g->base + ((uint64_t)p->page[i] << 12);
		int prot = 0, flags = 0;

		if (g->kind == NL_UMM_MANY) {
			prot = p->ro[i] ? PROT_READ : PROT_READ | PROT_WRITE;
			flags = UMM_MAP_MANYPROTS;
		} else if (g->kind == NL_UMM_RFP_NB) {
			flags = MAP_NONBLOCK;
		}
		g->err = umm_remap_file_pages(g->mm, va, 4096, prot,
					      p->pgoff[i], flags);
		if (g->touch)
			g->sum += *(volatile uint8_t *)umm_host_addr(g->mm, va);
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

/* The same on umm: ns per remap, host calls per remap in *syscalls. */
static double umm_remaps(struct umm_phys *phys, struct umm_file *f,
			 const struct remap_pattern *p, enum nl_kind kind,
			 enum nl_mode mode, double *syscalls)
{
	struct guest_remaps g = {.p = p, .kind = kind};
	uint64_t size = p->n << 12, t0;
	struct umm_stats s0, s1;
	siginfo_t si;
	long a;
	int sig;

	g.mm = umm_mm_new(phys, 1ULL << 36);
	if (!g.mm)
		return -1;
	a = umm_mmap(g.mm, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (a < 0) {
		umm_mm_put(g.mm);
		return -1;
	}
	g.base = (uint64_t)a;
	sig = umm_guest_call(g.mm, guest_read_all, &g, &si);
	if (mode == NL_AGAIN)
		sig |= umm_guest_call(g.mm, guest_remap_loop, &g, &si);
	g.touch = mode == NL_TOUCH;
	umm_mm_stats(g.mm, &s0);
	t0 = now_ns();
	sig |= umm_guest_call(g.mm, guest_remap_loop, &g, &si);
	t0 = now_ns() - t0;
	umm_mm_stats(g.mm, &s1);
	umm_mm_put(g.mm);
	*syscalls =
		(double)(s1.host_syscalls - s0.host_syscalls) / (double)p->n;
	return sig || g.err ? -1 : (double)t0 / (double)p->n;
}

static int bench_nonlinear(const struct bench_opts *o)
{
	static const char *const names[NL_KINDS] = {
		[NL_HOST_RFP] = "host remap_file_pages",
		[NL_HOST_RFP_NB] = "host remap_file_pages, MAP_NONBLOCK",
		[NL_HOST_MMAP] = "host mmap(MAP_FIXED) per page",
		[NL_UMM_RFP] = "umm remap_file_pages",
		[NL_UMM_RFP_NB] = "umm remap_file_pages, MAP_NONBLOCK",
		[NL_UMM_MANY] = "umm, MANYPROTS (1 in 4 read-only)",
	};
	double v[NL_MODES][NL_KINDS][64], sc[NL_MODES][NL_KINDS][64];
	double r[NL_MODES][NL_KINDS][64];
	struct remap_pattern p;
	struct umm_phys *phys = NULL;
	struct umm_file *f = NULL;
	unsigned int i, k, t;
	int fd, err = 0;

	if (make_pattern(&p, o->size >> 12))
		return 1;
	fd = memfd_create("umm-bench-nonlinear", 0);
	if (fd < 0 || ftruncate(fd, (off_t)o->size)) {
		perror("umm bench nonlinear: memfd");
		return 1;
	}
	phys = umm_phys_new(o->size * 2);
	f = phys ? umm_shmem_new(phys, o->size) : NULL;
	if (!f) {
		fprintf(stderr, "umm bench nonlinear: %s\n", strerror(errno));
		return 1;
	}
	printf("umm bench nonlinear: %llu remaps of single pages of a %llu "
	       "MiB shared mapping\nto random file pages, %u repetitions "
	       "after a warm-up; median [min-max]\n",
	       (unsigned long long)p.n, (unsigned long long)(o->size >> 20),
	       o->reps);
	for (i = 0; i <= o->reps && !err; i++) {
		progress("remaps", i, o->reps);
		for (t = 0; t < NL_MODES; t++) {
			for (k = 0; k < NL_KINDS && !err; k++) {
				double ns, calls = 0;

				if (k <= NL_HOST_MMAP)
					ns = native_remaps(&p, fd, k, t);
				else
					ns = umm_remaps(phys, f, &p, k, t,
							&calls);
				err = ns < 0;
				if (i) {
					v[t][k][i - 1] = ns;
					sc[t][k][i - 1] = calls;
				}
			}
		}
	}
	progress("remaps", o->reps, o->reps);
	if (err) {
		fprintf(stderr, "umm bench nonlinear: a run failed\n");
		return 1;
	}
	for (t = 0; t < NL_MODES; t++)
		for (k = 0; k < NL_KINDS; k++)
			for (i = 0; i < o->reps; i++)
				r[t][k][i] =
					v[t][k][i] /
					v[t][k == NL_HOST_RFP_NB ||
							     k == NL_UMM_RFP_NB
						     ? NL_HOST_RFP_NB
						     : NL_HOST_RFP][i];
	for (t = 0; t < NL_MODES; t++) {
		static const char *const modes[NL_MODES] = {
			[NL_FIRST] = "remaps of pages all touched before",
			[NL_AGAIN] = "the same remaps again, nothing touched "
				     "since",
			[NL_TOUCH] =
				"each remap followed by a read of the page",
		};

		printf("\n  %s\n  %-40s %26s %9s %10s\n", modes[t], "",
		       "ns per remap", "vs rfp", "host calls");
		for (k = 0; k < NL_KINDS; k++) {
			struct figure g = summarize(v[t][k], o->reps);
			struct figure q = summarize(r[t][k], o->reps);
			struct figure c = summarize(sc[t][k], o->reps);

			printf("  %-40s %9.0f [%6.0f-%6.0f] %9.2f ", names[k],
			       g.med, g.min, g.max, q.med);
			if (k >= NL_UMM_RFP)
				printf("%10.2f\n", c.med);
			else
				printf("%10s\n", "1");
		}
	}
	printf("\n  vs rfp: ns per remap against the host's remap_file_pages "
	       "with the same\n  flags, pair by pair (< 0.5: more than twice "
	       "its rate). host calls: per\n  remap.\n");
	umm_file_put(f);
	if (umm_phys_frames_free(phys) != umm_phys_frames_total(phys)) {
		fprintf(stderr, "umm bench: frames leaked\n");
		err = 1;
	}
	umm_phys_put(phys);
	close(fd);
	free_pattern(&p);
	return err ? 1 : 0;
}

static void bench_usage(FILE *out)
{
	fprintf(out, "usage: umm bench fault|fork|nonlinear [--quick] "
		     "[--reps N] [--size MiB]\n"
		     "  fault       guest faults against host faults\n"
		     "  fork        fork and copy-on-write against the host's\n"
		     "  nonlinear   remap_file_pages of single pages against "
		     "the host's\n"
		     "  --quick     small sizes, 3 repetitions (seconds)\n"
		     "  --reps N    repetitions after the warm-up (default 5, "
		     "max 63)\n"
		     "  --size MiB  region size (default 64)\n");
}

int um_bench_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"reps", required_argument, NULL, 'r'},
		{"size", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench_opts o = {.size = 64ULL << 20, .reps = 5, .stride = 64};
	int (*run)(const struct bench_opts *);
	int c;

	if (argc >= 2 && !strcmp(argv[1], "fault"))
		run = bench_fault;
	else if (argc >= 2 && !strcmp(argv[1], "fork"))
		run = bench_fork;
	else if (argc >= 2 && !strcmp(argv[1], "nonlinear"))
		run = bench_nonlinear;
	else {
		if (argc >= 2 &&
		    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			bench_usage(stdout);
			return 0;
		}
		bench_usage(stderr);
		return 2;
	}
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qr:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.size = 8ULL << 20;
			o.reps = 3;
			break;
		case 'r':
			o.reps = (unsigned int)atoi(optarg);
			break;
		case 's':
			o.size = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (o.reps < 1 || o.reps > 63 || o.size < (1ULL << 20) ||
	    o.size > (16ULL << 30)) {
		bench_usage(stderr);
		return 2;
	}
	/* umm's handler first, so the bare run can restore it. */
	if (um_signals_init()) {
		fprintf(stderr, "umm bench: cannot install handlers\n");
		return 1;
	}
	return run(&o);
}
