// SPDX-License-Identifier: MIT
/*
 * Host VMA exhaustion: a guest that touches more scattered pages than the
 * host allows mappings (vm.max_map_count) still works, because host
 * mappings are a cache that umm evicts and refills under its VMA budget;
 * and when the host refuses a mapping first, because the process itself
 * used its VMAs up. The full-size run (70k pages, default budget) takes
 * about 5 s, under AddressSanitizer too, so it is part of make check.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common.h"

static struct umm_phys *phys;
static unsigned long max_map_count;

static double now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/*
 * Guest code: one 8-byte value in each of @nr pages, every other page
 * (so no two touched pages are adjacent), at a place in the page that
 * moves with the index.
 */
struct scatter {
	uint8_t *base;		/* host address of guest page 0 */
	uint64_t first, nr;	/* page indices [first, first + nr) */
	uint64_t salt;
	int check;
	uint64_t bad;
};

static volatile uint64_t *slot(const struct scatter *s, uint64_t i)
{
	return (volatile uint64_t *)(s->base + 2 * i * PG + (i % 512) * 8);
}

static uint64_t value(const struct scatter *s, uint64_t i)
{
	return (i << 16) ^ s->salt;
}

static void do_scatter(void *arg)
{
	struct scatter *s = arg;
	uint64_t i;

	for (i = s->first; i < s->first + s->nr; i++) {
		if (!s->check)
			*slot(s, i) = value(s, i);
		else if (*slot(s, i) != value(s, i))
			s->bad++;
	}
}

/* Run [first, first + nr) of a scatter; the guest signal or 0. */
static int scatter(struct umm_mm *mm, uint64_t va, uint64_t first,
		   uint64_t nr, uint64_t salt, int check, uint64_t *bad)
{
	struct scatter s = { umm_host_addr(mm, va), first, nr, salt, check,
			     0 };
	siginfo_t si;
	int sig = umm_guest_call(mm, do_scatter, &s, &si);

	*bad += s.bad;
	return sig;
}

/*
 * Touch @nr scattered pages with fault-around off (one host mapping per
 * fault), checking the host VMA count every @chunk pages; then read every
 * page back.
 */
static void run_scatter(uint64_t nr, uint64_t chunk, const char *what)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 36);
	unsigned long budget = umm_host_vma_budget();
	uint64_t len = 2 * nr * PG, i, bad = 0;
	long va, vmas, max_vmas = 0;
	struct umm_stats st;
	int sigs = 0;
	double t0 = now();

	ok(mm != NULL, "%s: an mm", what);
	if (!mm)
		return;
	is(umm_mm_set_fault_around(mm, 1), 0, "%s: fault-around off", what);
	va = umm_mmap(mm, 0, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, NULL, 0);
	ok(va > 0, "%s: a guest region of %llu pages", what,
	   (unsigned long long)(2 * nr));
	for (i = 0; i < nr; i += chunk) {
		uint64_t n = nr - i < chunk ? nr - i : chunk;

		if (scatter(mm, (uint64_t)va, i, n, 0x5eed, 0, &bad))
			sigs++;
		vmas = umm_host_vmas(mm);
		if (vmas > max_vmas || vmas < 0)
			max_vmas = vmas < 0 ? (long)budget : vmas;
	}
	is(sigs, 0, "%s: %llu scattered pages written without a guest "
	   "signal", what, (unsigned long long)nr);
	ok(max_vmas > 0 && (unsigned long)max_vmas < budget,
	   "%s: the window's host VMAs stayed below the budget of %lu (at "
	   "most %ld)", what, budget, max_vmas);
	umm_mm_stats(mm, &st);
	ok(st.host_evictions > 0, "%s: host mappings were evicted (%llu "
	   "mappings, %llu pages)", what,
	   (unsigned long long)st.host_evictions,
	   (unsigned long long)st.host_evicted_pages);
	is(st.host_resets, 0, "%s: evictions did the work, not resets", what);
	is(st.fault_anon, nr, "%s: one anonymous fault per page", what);
	is(st.pages_faulted_around, 0, "%s: no page mapped around a fault",
	   what);
	ok(st.host_syscalls >= nr, "%s: at least one host call per page (%llu)",
	   what, (unsigned long long)st.host_syscalls);
	is(scatter(mm, (uint64_t)va, 0, nr, 0x5eed, 1, &bad), 0,
	   "%s: every page read back without a guest signal", what);
	is(bad, 0, "%s: every page holds the value written to it", what);
	umm_mm_stats(mm, &st);
	ok(st.fault_host_miss > 0, "%s: dropped pages were refilled by "
	   "faults (%llu)", what, (unsigned long long)st.fault_host_miss);
	vmas = umm_host_vmas(mm);
	ok(vmas > 0 && (unsigned long)vmas < budget,
	   "%s: after the read back too (%ld)", what, vmas);
	is(umm_munmap(mm, (uint64_t)va, len), 0, "%s: munmap", what);
	is(umm_host_vmas(mm), 0, "%s: no host VMA left in the window", what);
	check_mm_coherent(mm);
	umm_mm_put(mm);
	diag("%s: %.2f s", what, now() - t0);
}

/* ---- two mms under a low budget ---- */

#define LOW_BUDGET 256

static void test_two_mms_alternate(void)
{
	struct umm_mm *m[2] = { umm_mm_new(phys, 1ULL << 32),
				umm_mm_new(phys, 1ULL << 32) };
	uint64_t nr = 4 * LOW_BUDGET, i, bad[2] = { 0, 0 };
	uint64_t salt[2] = { 0xaaaa, 0xbbbb };
	long va[2], vmas, max_vmas = 0;
	struct umm_stats st;
	int k, sigs = 0;

	is(umm_set_host_vma_budget(LOW_BUDGET), 0, "budget lowered to %d",
	   LOW_BUDGET);
	is(umm_host_vma_budget(), LOW_BUDGET, "and read back");
	for (k = 0; k < 2; k++) {
		umm_mm_set_fault_around(m[k], 1);
		va[k] = umm_mmap(m[k], 0x10000000, 2 * nr * PG,
				 PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
				 0);
	}
	ok(va[0] == 0x10000000 && va[1] == 0x10000000,
	   "two mms, a region at the same address in each");
	for (i = 0; i < nr; i++) {
		for (k = 0; k < 2; k++)
			if (scatter(m[k], (uint64_t)va[k], i, 1, salt[k], 0,
				    &bad[k]))
				sigs++;
		if (i % 64 == 0) {
			vmas = umm_host_vmas(m[0]) + umm_host_vmas(m[1]);
			if (vmas > max_vmas)
				max_vmas = vmas;
		}
	}
	is(sigs, 0, "%llu scattered pages written in each, alternately",
	   (unsigned long long)nr);
	ok(max_vmas > 0 && max_vmas <= LOW_BUDGET,
	   "the two windows together stayed within the budget (at most %ld)",
	   max_vmas);
	for (k = 0; k < 2; k++) {
		umm_mm_stats(m[k], &st);
		ok(st.host_evictions > 0 && !st.host_resets,
		   "mm %d: evicted and refilled (%llu evictions, %llu "
		   "resets)", k, (unsigned long long)st.host_evictions,
		   (unsigned long long)st.host_resets);
		is(scatter(m[k], (uint64_t)va[k], 0, nr, salt[k], 1, &bad[k]),
		   0, "mm %d: every page read back", k);
		is(bad[k], 0, "mm %d: keeps its own data", k);
	}
	/* The other order: reading one refills it, dropping the other's. */
	is(scatter(m[0], (uint64_t)va[0], 0, nr, salt[0], 1, &bad[0]) +
	   scatter(m[1], (uint64_t)va[1], 0, nr, salt[1], 1, &bad[1]) +
	   bad[0] + bad[1], 0, "both read back again");
	check_mm_coherent(m[0]);
	umm_mm_put(m[0]);
	check_mm_coherent(m[1]);
	umm_mm_put(m[1]);
}

/* The same from two threads at once: resets land in mid-flush. */
struct racer {
	pthread_t thread;
	struct umm_mm *mm;
	uint64_t va, nr, salt, bad;
	int sigs;
};

static void *racer_fn(void *arg)
{
	struct racer *r = arg;
	uint64_t i;
	int round;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < r->nr; i += 8)
			if (scatter(r->mm, r->va, i, 8, r->salt + round, 0,
				    &r->bad))
				r->sigs++;
		if (scatter(r->mm, r->va, 0, r->nr, r->salt + round, 1,
			    &r->bad))
			r->sigs++;
	}
	return NULL;
}

/* Two threads, each with an mm of its own or (@shared) both on one. */
static void test_threads(bool shared)
{
	const char *how = shared ? "one mm" : "two mms";
	struct racer r[2];
	struct umm_stats st;
	int k, started = 0;

	memset(r, 0, sizeof(r));
	for (k = 0; k < 2; k++) {
		r[k].mm = shared && k ? r[0].mm : umm_mm_new(phys, 1ULL << 32);
		umm_mm_set_fault_around(r[k].mm, 1);
		r[k].nr = 8 * LOW_BUDGET;
		r[k].salt = 0x1000 * (uint64_t)(k + 1);
		r[k].va = (uint64_t)umm_mmap(r[k].mm, 0, 2 * r[k].nr * PG,
					     PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, NULL,
					     0);
	}
	for (k = 0; k < 2; k++)
		if (!pthread_create(&r[k].thread, NULL, racer_fn, &r[k]))
			started++;
	if (started != 2)
		BAIL_OUT("pthread_create");
	for (k = 0; k < 2; k++)
		pthread_join(r[k].thread, NULL);
	for (k = 0; k < 2; k++) {
		umm_mm_stats(r[k].mm, &st);
		ok(!r[k].sigs && !r[k].bad && st.host_evictions > 0,
		   "%s, thread %d: %llu scattered pages written and read back "
		   "twice while the other thread forced evictions (signals "
		   "%d, bad %llu, evictions %llu, resets %llu)", how, k,
		   (unsigned long long)r[k].nr, r[k].sigs,
		   (unsigned long long)r[k].bad,
		   (unsigned long long)st.host_evictions,
		   (unsigned long long)st.host_resets);
	}
	check_mm_coherent(r[0].mm);
	umm_mm_put(r[0].mm);
	if (!shared)
		umm_mm_put(r[1].mm);
}

/* mm->map_count: the lines of /proc/self/maps but the vsyscall gate. */
static long count_host_vmas(void)
{
	char line[512];
	long n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strstr(line, "[vsyscall]"))
			n++;
	fclose(f);
	return n;
}

/*
 * Bring the process to exactly @target host VMAs with native mappings of
 * its own: a shared anonymous region (it never merges with a neighbour),
 * one page at its start made readable (+1), then isolated pages (+2 each).
 * Returns the count reached.
 */
static long fill_host_vmas(long target)
{
	long n = count_host_vmas(), pages = 2 * (target - n) + 8, next = 2;
	uint8_t *r;
	int round;

	if (n < 0 || pages < 8)
		return n;
	r = mmap(NULL, (size_t)pages * PG, PROT_NONE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return -1;
	for (round = 0; round < 4; round++) {
		n = count_host_vmas();
		if (n < 0 || n >= target)
			break;
		if ((target - n) & 1 && round == 0 &&
		    mprotect(r, PG, PROT_READ))
			return -1;
		else if (!((target - n) & 1) || round)
			for (; n + 1 < target && next < pages - 1; next += 2) {
				if (mprotect(r + next * PG, PG, PROT_READ))
					return -1;
				n += 2;
			}
	}
	return count_host_vmas();
}

/*
 * The application itself has used the host's VMAs up to @short_by below
 * vm.max_map_count; the guest then touches scattered pages. Each takes two
 * host VMAs (the page and the split of the reservation), so the host
 * refuses one, and umm has to drop its window's mappings and go on. When
 * the last mapping that fitted took the count one above the limit (Linux
 * lets a split go "just above its limit temporarily"), every mmap fails
 * until something is unmapped, the reset's own mmap over the window too.
 * In a child, so that an abort is a failed test and not the end of this
 * program. The exit code says what went wrong.
 */
static int host_full_child(long short_by)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	uint64_t bad = 0, va;
	struct umm_stats st;
	long target = (long)max_map_count - short_by;
	int i;

	if (!mm)
		return 2;
	umm_mm_set_fault_around(mm, 1);
	va = (uint64_t)umm_mmap(mm, 0, 64 * PG, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	if ((long)va < 0)
		return 3;
	/* Page tables and the first mapping made before counting. */
	if (scatter(mm, va, 0, 1, 0x99, 0, &bad))
		return 4;
	for (i = 0; i < 3 && count_host_vmas() != target; i++)
		if (fill_host_vmas(target) < 0)
			return 5;
	if (count_host_vmas() != target)
		return 6;
	/* Pages 2 * (4, 8, 12): each in the middle of the reservation. */
	if (scatter(mm, va, 4, 1, 0x99, 0, &bad) ||
	    scatter(mm, va, 8, 1, 0x99, 0, &bad) ||
	    scatter(mm, va, 12, 1, 0x99, 0, &bad))
		return 7;
	if (scatter(mm, va, 0, 1, 0x99, 1, &bad) ||
	    scatter(mm, va, 4, 1, 0x99, 1, &bad) ||
	    scatter(mm, va, 8, 1, 0x99, 1, &bad) ||
	    scatter(mm, va, 12, 1, 0x99, 1, &bad) || bad)
		return 8;
	umm_mm_stats(mm, &st);
	printf("# at vm.max_map_count - %ld: %llu evictions, %llu resets\n",
	       short_by, (unsigned long long)st.host_evictions,
	       (unsigned long long)st.host_resets);
	fflush(stdout);
	/*
	 * Two short: evicting a mapping (a whole host VMA, no split) makes
	 * room. One short: even that mmap fails, so a reset must (its
	 * munmap needs no room).
	 */
	if (short_by > 1 ? st.host_resets || !st.host_evictions
			 : !st.host_resets)
		return 9;
	if (umm_mm_check(mm))
		return 10;
	umm_mm_put(mm);
	return 0;
}

static int run_host_full(long short_by)
{
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!pid) {
		struct rlimit nocore = { 0, 0 };

		setrlimit(RLIMIT_CORE, &nocore);
		_exit(host_full_child(short_by));
	}
	waitpid(pid, &status, 0);
	return status;
}

static void test_host_full(void)
{
	int st;

	st = run_host_full(2);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "the process at vm.max_map_count - 2 host VMAs: the host refuses "
	   "a guest page, umm evicts its oldest mappings (no reset), the "
	   "guest goes on (status %#x)", st);
#ifdef __SANITIZE_THREAD__
	/* TSan's runtime maps and unmaps for itself, and aborts there. */
	printf("ok %d - at vm.max_map_count - 1 # SKIP under "
	       "ThreadSanitizer\n", ++tap_n);
#else
	st = run_host_full(1);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "at vm.max_map_count - 1: the first guest page takes the count "
	   "one above the limit, where even an eviction's mmap fails; umm "
	   "resets its window (munmap) and goes on (status %#x)", st);
#endif
}

/* ---- the budget's bounds ---- */

static void test_budget_errors(unsigned long dflt)
{
	is(umm_set_host_vma_budget(10), -EINVAL, "a budget of 10: EINVAL");
	is(umm_set_host_vma_budget(0), -EINVAL, "a budget of 0: EINVAL");
	is(umm_set_host_vma_budget(63), -EINVAL, "a budget of 63: EINVAL");
	is(umm_host_vma_budget(), LOW_BUDGET, "a refused budget changes "
	   "nothing");
	is(umm_set_host_vma_budget(64), 0, "a budget of 64 is accepted");
	is(umm_host_vma_budget(), 64, "and read back");
	is(umm_set_host_vma_budget(dflt), 0, "the default budget restored");
	is(umm_host_vma_budget(), max_map_count / 2,
	   "the default is half of vm.max_map_count");
}

int main(void)
{
	unsigned long dflt;
	uint64_t nr;

	alarm(120);	/* a fault loop fails the test, not hangs it */
	max_map_count = read_max_map_count();
	if (!max_map_count)
		BAIL_OUT("cannot read /proc/sys/vm/max_map_count");
	diag("vm.max_map_count = %lu", max_map_count);
	nr = max_map_count + 4096;
	phys = umm_phys_new((nr + 4096) * PG);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	dflt = umm_host_vma_budget();
	is(dflt, max_map_count / 2,
	   "the default budget is half of vm.max_map_count");
	run_scatter(nr, 4096, "default budget, more pages than "
		    "vm.max_map_count");
	test_host_full();
	test_two_mms_alternate();
	test_threads(false);
	test_threads(true);
	test_budget_errors(dflt);
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
