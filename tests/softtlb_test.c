// SPDX-License-Identifier: MIT
/*
 * Software TLBs: translations against the guest's own view (accesses
 * through the window), over random sequences of mm changes; address-space
 * tags; and shootdowns against a vCPU that keeps writing (mprotect, fork):
 * no write lands after the change returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/common.h"

static struct umm_phys *phys;

#define BASE  0x10000000ULL
#define NPAGE 64

static void test_basics(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_tlb *t;
	struct umm_tlb_stats st;
	uint8_t v = 0;
	uint8_t *p, *q;
	long a;

	errno = 0;
	ok(!umm_tlb_new(mm, 100) && errno == EINVAL,
	   "entries not a power of two: EINVAL");
	ok(!umm_tlb_new(mm, 8) && errno == EINVAL, "8 entries: EINVAL");
	ok(!umm_tlb_new(mm, 1 << 17) && errno == EINVAL,
	   "2^17 entries: EINVAL");
	t = umm_tlb_new(mm, 64);
	ok(t != NULL, "a TLB of 64 entries");

	errno = 0;
	ok(!umm_tlb_lookup(t, BASE, PROT_READ) && errno == EFAULT,
	   "nothing mapped: EFAULT");
	errno = 0;
	ok(!umm_tlb_lookup(t, BASE, 3) && errno == EINVAL,
	   "an access that is not one kind: EINVAL");
	ok(!umm_tlb_lookup(t, 1ULL << 40, PROT_READ) && errno == EFAULT,
	   "past the task size: EFAULT");

	a = umm_mmap(mm, BASE, NPAGE * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	is(a, (long)BASE, "an anonymous mapping");
	p = umm_tlb_lookup(t, BASE + 5, PROT_READ);
	ok(p && *p == 0, "a read of an untouched page: the zero page");
	q = umm_tlb_lookup(t, BASE + 5, PROT_WRITE);
	ok(q && q != p, "a write: a fresh frame, not the zero page");
	*q = 42;
	ok(!guest_read(mm, BASE + 5, &v) && v == 42,
	   "the guest sees the write through the TLB");
	p = umm_tlb_lookup(t, BASE + 5, PROT_READ);
	ok(p == q, "a read after it: the new frame (the zero page's entry "
		   "went)");
	ok(!guest_write(mm, BASE + 7, 9), "the guest writes");
	p = umm_tlb_lookup(t, BASE + 7, PROT_READ);
	ok(p && *p == 9, "the TLB reads it");
	ok(!umm_tlb_lookup(t, BASE + 7, PROT_EXEC) && errno == EFAULT,
	   "exec of a mapping without PROT_EXEC: EFAULT");

	umm_tlb_stats(t, &st);
	ok(st.hits >= 1 && st.misses >= 3 && st.fills_write >= 1 &&
		   st.entries == 64,
	   "stats: %llu hits, %llu misses, %llu write fills",
	   (unsigned long long)st.hits, (unsigned long long)st.misses,
	   (unsigned long long)st.fills_write);

	is(umm_mprotect(mm, BASE, NPAGE * PG, PROT_READ), 0, "mprotect read");
	errno = 0;
	ok(!umm_tlb_lookup(t, BASE + 5, PROT_WRITE) && errno == EFAULT,
	   "a write after mprotect(PROT_READ): EFAULT");
	p = umm_tlb_lookup(t, BASE + 5, PROT_READ);
	ok(p && *p == 42, "a read still works");
	is(umm_mprotect(mm, BASE, NPAGE * PG, PROT_NONE), 0, "mprotect none");
	ok(!umm_tlb_lookup(t, BASE + 5, PROT_READ), "a read: EFAULT");

	umm_tlb_stats(t, &st);
	ok(st.shootdowns >= 2, "the mprotects shot entries down (%llu)",
	   (unsigned long long)st.shootdowns);
	umm_tlb_flush_page(t, BASE + 40 * PG);
	umm_tlb_stats(t, &st);
	ok(st.flushes_elided >= 1, "a flush of a page not held is elided");

	is(umm_munmap(mm, BASE, NPAGE * PG), 0, "munmap");
	umm_tlb_free(t);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* ---- translations against the guest's view, over random changes ---- */

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245 + 12345;
	return *s >> 8;
}

static void test_random(unsigned int seed, unsigned int steps)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = umm_shmem_new(phys, NPAGE * PG);
	struct umm_tlb *t = umm_tlb_new(mm, 16);
	struct umm_mm *child = NULL;
	unsigned int i, bad = 0, hits = 0, denied = 0, s = seed;
	uint8_t val = 1;

	for (i = 0; i < steps; i++) {
		uint64_t va = BASE + (rnd(&s) % NPAGE) * PG + rnd(&s) % PG;
		uint64_t pg = BASE + (rnd(&s) % NPAGE) * PG;
		uint64_t len = (1 + rnd(&s) % 8) * PG;
		int prot = (int)(rnd(&s) % 4) &
			   (PROT_READ | PROT_WRITE); /* none, r, w->rw */
		unsigned int op = rnd(&s) % 100;
		uint8_t *p, g = 0;
		int sig;

		if (prot == PROT_WRITE)
			prot |= PROT_READ;
		if (op < 8) {
			umm_mmap(mm, pg, len, prot,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
				 0);
		} else if (op < 12) {
			umm_mmap(mm, pg, len, prot, MAP_SHARED | MAP_FIXED, f,
				 (pg - BASE) % (NPAGE * PG / 2));
		} else if (op < 16) {
			umm_munmap(mm, pg, len);
		} else if (op < 24) {
			umm_mprotect(mm, pg, len, prot);
		} else if (op < 28) {
			umm_madvise(mm, pg, len, MADV_DONTNEED);
		} else if (op < 30) {
			umm_remap_file_pages(mm, pg, PG, prot,
					     rnd(&s) % (NPAGE / 2),
					     UMM_MAP_MANYPROTS);
		} else if (op < 31) {
			umm_mremap(mm, pg, len, len, 3 /* MAYMOVE|FIXED */,
				   BASE + (rnd(&s) % NPAGE) * PG);
		} else if (op < 32) {
			/* fork, and a child that may live a while */
			umm_mm_put(child);
			child = umm_fork(mm);
		} else if (op < 66) {
			/* a read through the TLB against the guest's */
			p = umm_tlb_lookup(t, va, PROT_READ);
			sig = guest_read(mm, va, &g);
			if (!p != !!sig || (p && *p != g)) {
				if (bad++ < 5)
					diag("seed %u step %u: read %#llx: "
					     "tlb %s %d, guest sig %d val %d",
					     seed, i, (unsigned long long)va,
					     p ? "ok" : "fault", p ? *p : -1,
					     sig, g);
			}
			hits += !!p;
			denied += !p;
		} else {
			/* a write through the TLB, read by the guest */
			p = umm_tlb_lookup(t, va, PROT_WRITE);
			if (p) {
				val = (uint8_t)(val % 250 + 1);
				*p = val;
				sig = guest_read(mm, va, &g);
				if (sig || g != val) {
					if (bad++ < 5)
						diag("seed %u step %u: write "
						     "%#llx: guest sig %d "
						     "val %d, wrote %d",
						     seed, i,
						     (unsigned long long)va,
						     sig, g, val);
				}
				/* and the other way round */
				val = (uint8_t)(val % 250 + 1);
				if (!guest_write(mm, va, val) &&
				    (p = umm_tlb_lookup(t, va, PROT_READ)) &&
				    *p != val && bad++ < 5)
					diag("seed %u step %u: guest wrote "
					     "%d, tlb reads %d",
					     seed, i, val, *p);
			} else {
				sig = guest_write(mm, va, 0);
				if (!sig && bad++ < 5)
					diag("seed %u step %u: write %#llx: "
					     "tlb fault, guest wrote",
					     seed, i, (unsigned long long)va);
			}
		}
	}
	ok(bad == 0,
	   "seed %u: %u steps, every lookup agrees with the guest "
	   "(%u translated, %u refused, %u wrong)",
	   seed, steps, hits, denied, bad);
	check_mm_coherent(mm);
	umm_tlb_free(t);
	umm_mm_put(child);
	umm_munmap(mm, BASE, NPAGE * PG);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* ---- address-space tags ---- */

static void test_asids(void)
{
	struct umm_mm *a = umm_mm_new(phys, 1ULL << 32);
	struct umm_mm *b = umm_mm_new(phys, 1ULL << 32);
	struct umm_tlb *t = umm_tlb_new(a, 64);
	struct umm_tlb_stats s0, s1;
	uint8_t *pa, *pb;

	umm_mmap(a, BASE, PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	umm_mmap(b, BASE, PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	pa = umm_tlb_lookup(t, BASE, PROT_WRITE);
	*pa = 'a';
	is(umm_tlb_switch(t, b), 0, "switch to a second mm");
	pb = umm_tlb_lookup(t, BASE, PROT_WRITE);
	ok(pb && pb != pa, "the same address: the second mm's own frame");
	*pb = 'b';
	umm_tlb_switch(t, a);
	umm_tlb_stats(t, &s0);
	pa = umm_tlb_lookup(t, BASE, PROT_WRITE);
	umm_tlb_stats(t, &s1);
	ok(pa && *pa == 'a' && s1.hits == s0.hits + 1 &&
		   s1.misses == s0.misses,
	   "back on the first: a hit, no flush needed");
	umm_munmap(b, BASE, PG);
	umm_tlb_switch(t, b);
	ok(!umm_tlb_lookup(t, BASE, PROT_READ),
	   "munmap in the second mm removed its entry");
	umm_tlb_switch(t, a);
	ok(umm_tlb_lookup(t, BASE, PROT_READ) == pa,
	   "and left the first mm's alone");
	is(umm_tlb_flush_asid(t, b), 0, "flush the second mm's entries");
	is(umm_tlb_flush_asid(t, b), -ENOENT, "again: ENOENT");
	umm_mm_put(b); /* the TLB's reference went with its slot */
	umm_munmap(a, BASE, PG);
	umm_tlb_free(t);
	umm_mm_put(a);
	check_frames_free(phys);
}

/* ---- a vCPU writing while the mm changes ---- */

struct writer {
	struct umm_mm *mm;
	uint64_t va;
	volatile int stop;
	volatile unsigned long writes, refused;
	uint32_t next;
	struct umm_tlb_stats st;
	struct umm_tlb *volatile t;
};

static void *writer(void *arg)
{
	struct writer *w = arg;
	struct umm_tlb *t = umm_tlb_new(w->mm, 64);

	__atomic_store_n(&w->t, t, __ATOMIC_RELEASE);

	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		uint32_t *p = umm_tlb_lookup(t, w->va, PROT_WRITE);

		if (p) {
			*(volatile uint32_t *)p = ++w->next;
			__atomic_store_n(&w->writes, w->writes + 1,
					 __ATOMIC_RELAXED);
		} else {
			__atomic_store_n(&w->refused, w->refused + 1,
					 __ATOMIC_RELAXED);
		}
	}
	umm_tlb_quiesce(t);
	umm_tlb_stats(t, &w->st);
	umm_tlb_free(t);
	return NULL;
}

static uint32_t peek(struct umm_mm *mm, uint64_t va)
{
	uint32_t v = 0;
	uint8_t b;
	int i;

	for (i = 3; i >= 0; i--) {
		if (guest_read(mm, va + (uint64_t)i, &b))
			return 0;
		v = v << 8 | b;
	}
	return v;
}

static void test_writer_races(unsigned int rounds)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct writer w = {.mm = mm, .va = BASE};
	unsigned int i, late = 0, forks_bad = 0;
	pthread_t th;

	umm_mmap(mm, BASE, PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	pthread_create(&th, NULL, writer, &w);
	while (!__atomic_load_n(&w.t, __ATOMIC_ACQUIRE))
		sched_yield();
	for (i = 0; i < rounds; i++) {
		uint32_t v0, v1;
		unsigned long n0, n1;
		struct umm_mm *child;

		while (__atomic_load_n(&w.writes, __ATOMIC_RELAXED) <
		       (i + 1) * 20ul)
			sched_yield();
		struct umm_tlb_stats a, b;

		umm_tlb_stats(w.t, &a);
		umm_mprotect(mm, BASE, PG, PROT_READ);
		umm_tlb_stats(w.t, &b);
		n0 = __atomic_load_n(&w.writes, __ATOMIC_RELAXED);
		v0 = peek(mm, BASE);
		usleep(200);
		v1 = peek(mm, BASE);
		n1 = __atomic_load_n(&w.writes, __ATOMIC_RELAXED);
		if (v0 != v1 && late++ < 3)
			diag("round %u: %u after mprotect returned, %u later "
			     "(writes counted %lu, then %lu) shoot %llu elided %llu waits %llu",
			     i, v0, v1, n0, n1, (unsigned long long)(b.shootdowns - a.shootdowns),
			     (unsigned long long)(b.flushes_elided - a.flushes_elided),
			     (unsigned long long)(b.shootdown_waits - a.shootdown_waits));
		umm_mprotect(mm, BASE, PG, PROT_READ | PROT_WRITE);

		/* fork: the child's copy is a snapshot */
		child = umm_fork(mm);
		v0 = peek(child, BASE);
		usleep(200);
		v1 = peek(child, BASE);
		if (v0 != v1 && forks_bad++ < 3)
			diag("round %u: the child read %u, then %u", i, v0,
			     v1);
		umm_mm_put(child);
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	ok(late == 0,
	   "%u mprotect(PROT_READ)s against a writing vCPU: no write landed "
	   "after one returned (%lu writes, %lu refused)",
	   rounds, w.writes, w.refused);
	ok(forks_bad == 0,
	   "%u forks against a writing vCPU: each child kept its snapshot",
	   rounds);
	diag("vCPU: %llu hits, %llu misses, %llu shootdowns, %llu waits, "
	     "%llu elided",
	     (unsigned long long)w.st.hits, (unsigned long long)w.st.misses,
	     (unsigned long long)w.st.shootdowns,
	     (unsigned long long)w.st.shootdown_waits,
	     (unsigned long long)w.st.flushes_elided);
	ok(w.refused > 0, "the vCPU was refused while the page was read-only");
	check_mm_coherent(mm);
	umm_munmap(mm, BASE, PG);
	umm_mm_put(mm);
	check_frames_free(phys);
}

int main(void)
{
	unsigned int seed;

	phys = umm_phys_new(64 << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new");
	test_basics();
	for (seed = 1; seed <= 8; seed++)
		test_random(seed, 3000);
	test_asids();
	test_writer_races(200);
	/* Again with the lookups that fence themselves (no membarrier). */
	setenv("STLB_FENCE", "1", 1);
	test_writer_races(100);
	umm_phys_put(phys);
	return done_testing();
}
