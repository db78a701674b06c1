// SPDX-License-Identifier: MIT
/*
 * The host TLB: host mappings are a cache of the guest page tables under a
 * budget of host VMAs, which umm counts exactly (a model of what each
 * window holds) and keeps by evicting the least recently filled mappings.
 *
 * A guest reads one page in two of a region three times vm.max_map_count
 * pages long (the zero page: little memory) and writes one in 64 of them;
 * each page is a host VMA of its own. The run must end with every page
 * right, the window under the budget all along, the model agreeing with
 * /proc/self/maps, and evictions, not resets, doing the work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common.h"

/* Guest code: touch pages 2i of [first, first + nr), writing i % 64 == 0. */
struct sweep {
	volatile uint8_t *base;
	uint64_t first, nr;
	int check; /* read back what was written */
	uint64_t bad;
};

static uint64_t value(uint64_t i)
{
	return 0x5eed0000ULL ^ (i * 0x9e3779b97f4a7c15ULL);
}

static void do_sweep(void *arg)
{
	struct sweep *s = arg;
	uint64_t i;

	for (i = s->first; i < s->first + s->nr; i++) {
		volatile uint64_t *p =
			(volatile uint64_t *)(s->base + 2 * i * PG +
					      (i % 512) * 8);

		if (i % 64 == 0 && !s->check)
			*p = value(i);
		else if (*p != (i % 64 == 0 ? value(i) : 0))
			s->bad++;
	}
}

static int sweep(struct umm_mm *mm, uint64_t va, uint64_t first, uint64_t nr,
		 int check, uint64_t *bad)
{
	struct sweep s = {umm_host_addr(mm, va), first, nr, check, 0};
	siginfo_t si;
	int sig = umm_guest_call(mm, do_sweep, &s, &si);

	*bad += s.bad;
	return sig;
}

static void test_scatter_3x(struct umm_phys *phys, unsigned long max_map_count)
{
	const uint64_t nr = 3 * (uint64_t)max_map_count, chunk = 4096;
	unsigned long budget = umm_host_vma_budget();
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 36);
	uint64_t len = 2 * nr * PG, i, bad = 0;
	long va, all, mapped, max_all = 0, disagree = 0, samples = 0;
	uintptr_t lo, hi;
	struct umm_stats st;
	int sigs = 0;

	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	is(umm_mm_set_fault_around(mm, 1), 0,
	   "fault-around off: a host mapping per touched page");
	va = umm_mmap(mm, 0, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, NULL, 0);
	ok(va > 0, "a region of %llu pages", (unsigned long long)(2 * nr));
	if (va <= 0)
		return;
	lo = (uintptr_t)umm_host_addr(mm, 0);
	hi = lo + (1ULL << 36);
	for (i = 0; i < nr; i += chunk) {
		uint64_t n = nr - i < chunk ? nr - i : chunk;

		if (sweep(mm, (uint64_t)va, i, n, 0, &bad))
			sigs++;
		all = count_maps(lo, hi, &mapped);
		umm_mm_stats(mm, &st);
		if (all > max_all)
			max_all = all;
		if (all != (long)st.host_vmas_all ||
		    mapped != (long)st.host_vmas) {
			if (!disagree++)
				diag("after %llu pages: host %ld VMAs (%ld "
				     "mapped), umm counts %llu (%llu)",
				     (unsigned long long)(i + n), all, mapped,
				     (unsigned long long)st.host_vmas_all,
				     (unsigned long long)st.host_vmas);
		}
		samples++;
	}
	is(sigs, 0, "%llu pages touched (3 x vm.max_map_count), one in two, "
	   "no guest signal", (unsigned long long)nr);
	is(bad, 0, "every page read zero, but those written");
	ok(max_all > 0 && (unsigned long)max_all <= budget,
	   "the window's host VMAs stayed within the budget of %lu (at most "
	   "%ld, reserved pieces included)", budget, max_all);
	is(disagree, 0, "umm's count of the window's host VMAs agreed with "
	   "/proc/self/maps at each of %ld samples", samples);
	umm_mm_stats(mm, &st);
	ok(st.host_evictions > 0 && st.host_evicted_pages >= nr - budget,
	   "evictions did the work: %llu mappings, %llu pages",
	   (unsigned long long)st.host_evictions,
	   (unsigned long long)st.host_evicted_pages);
	is(st.host_resets, 0, "no reset");
	ok(st.host_fills >= nr && st.host_fill_pages >= nr,
	   "a fill per page at least (%llu fills, %llu pages)",
	   (unsigned long long)st.host_fills,
	   (unsigned long long)st.host_fill_pages);
	is(st.fault_anon_zero + st.fault_anon, nr,
	   "one guest fault per page: zero page or a fresh frame");

	/* The first pages were evicted long ago: reading refills them. */
	bad = 0;
	is(sweep(mm, (uint64_t)va, 0, nr, 1, &bad), 0,
	   "every page read back without a guest signal");
	is(bad, 0, "pages written before their eviction read back right");
	umm_mm_stats(mm, &st);
	ok(st.fault_host_miss > 0, "evicted pages came back through host "
	   "misses (%llu)", (unsigned long long)st.fault_host_miss);
	all = count_maps(lo, hi, &mapped);
	ok((unsigned long)all <= budget && all == (long)st.host_vmas_all &&
	   mapped == umm_host_vmas(mm) && mapped == (long)st.host_vmas,
	   "after the read back: %ld host VMAs (%ld mapped), as umm counts, "
	   "within the budget", all, mapped);
	check_mm_coherent(mm);
	is(umm_munmap(mm, (uint64_t)va, len), 0, "munmap");
	umm_mm_stats(mm, &st);
	ok(umm_host_vmas(mm) == 0 && st.host_vmas == 0,
	   "no host mapping left in the window, and umm knows it");
	umm_mm_put(mm);
}

int main(void)
{
	unsigned long max_map_count;
	struct umm_phys *phys;

	alarm(300); /* a fault loop fails the test, not hangs it */
	max_map_count = read_max_map_count();
	if (!max_map_count)
		BAIL_OUT("cannot read /proc/sys/vm/max_map_count");
	diag("vm.max_map_count = %lu, budget %lu", max_map_count,
	     umm_host_vma_budget());
	phys = umm_phys_new((3 * max_map_count / 64 + 4096) * PG);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	test_scatter_3x(phys, max_map_count);
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
