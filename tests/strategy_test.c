// SPDX-License-Identifier: MIT
/*
 * The benchmark strategies (umm_mm_set_host_merge, umm_phys_set_scatter,
 * fault-around) change what the host is asked, never what the guest sees:
 * one workload under each, the same contents, coherent host mappings, and
 * the host call and VMA counts moving the way each strategy says.
 */
#include <errno.h>
#include <string.h>

#include "tests/common.h"

#define NR_PAGES 256

struct outcome {
	uint64_t syscalls;
	long vmas; /* host VMAs after the fill */
	int data_ok;
};

/* Fill, protect half, punch a hole, check: under one strategy. */
static void run(struct umm_phys *phys, bool merge, bool scatter,
		unsigned int fault_around, struct outcome *o)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_stats st;
	uint64_t a;
	long r;
	uint8_t v = 0;

	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	umm_phys_set_scatter(phys, scatter);
	umm_mm_set_host_merge(mm, merge);
	umm_mm_set_fault_around(mm, fault_around);
	r = umm_mmap(mm, 0, NR_PAGES * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	ok(r > 0, "merge %d scatter %d fault-around %u: mmap", merge, scatter,
	   fault_around);
	a = (uint64_t)r;
	o->data_ok = guest_fill(mm, a, NR_PAGES * PG, 11) == 0;
	o->vmas = umm_host_vmas(mm);
	o->data_ok &= umm_mprotect(mm, a, NR_PAGES / 2 * PG, PROT_READ) == 0;
	o->data_ok &= umm_munmap(mm, a + 200 * PG, 8 * PG) == 0;
	o->data_ok &= guest_check(mm, a, 200 * PG, 11) == 0;
	/* the pattern runs on from the start: seed for page 208 */
	o->data_ok &=
		guest_check(mm, a + 208 * PG, 48 * PG, 11 + 208 * 31) == 0;
	o->data_ok &= guest_read(mm, a + 201 * PG, &v) == SIGSEGV;
	o->data_ok &= guest_write(mm, a + PG, 1) == SIGSEGV;
	o->data_ok &= guest_write(mm, a + 130 * PG, 1) == 0;
	umm_mm_stats(mm, &st);
	o->syscalls = st.host_syscalls;
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_phys_set_scatter(phys, false);
}

int main(void)
{
	struct umm_phys *phys = umm_phys_new(4 * NR_PAGES * PG);
	struct outcome base, nomerge, scatter, both, nofa;

	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	run(phys, true, false, 16, &base);
	run(phys, false, false, 16, &nomerge);
	run(phys, true, true, 16, &scatter);
	run(phys, false, true, 16, &both);
	run(phys, true, false, 1, &nofa);

	ok(base.data_ok, "default strategy: contents, protections and hole "
			 "as the guest made them");
	ok(nomerge.data_ok, "merging off: the same");
	ok(scatter.data_ok, "scattered frames: the same");
	ok(both.data_ok, "both: the same");
	ok(nofa.data_ok, "fault-around off: the same");
	ok(base.vmas <= 4, "default: a handful of host VMAs for one vma (%ld)",
	   base.vmas);
	ok(nomerge.syscalls >= NR_PAGES,
	   "merging off: at least a host call per page (%llu for %d pages)",
	   (unsigned long long)nomerge.syscalls, NR_PAGES);
	ok(nomerge.syscalls >= 8 * base.syscalls,
	   "merging off: 8x the host calls or more (%llu against %llu)",
	   (unsigned long long)nomerge.syscalls,
	   (unsigned long long)base.syscalls);
	ok(nomerge.vmas == base.vmas,
	   "merging off: the host kernel merges the VMAs itself (%ld)",
	   nomerge.vmas);
	ok(scatter.vmas >= NR_PAGES / 2,
	   "scattered frames: host VMAs follow pages, not vmas (%ld)",
	   scatter.vmas);
	ok(scatter.syscalls > base.syscalls,
	   "scattered frames: more host calls (%llu against %llu)",
	   (unsigned long long)scatter.syscalls,
	   (unsigned long long)base.syscalls);
	ok(nofa.syscalls > base.syscalls,
	   "fault-around off: more host calls (%llu against %llu)",
	   (unsigned long long)nofa.syscalls,
	   (unsigned long long)base.syscalls);
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
