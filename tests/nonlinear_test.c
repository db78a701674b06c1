// SPDX-License-Identifier: MIT
/*
 * remap_file_pages: nonlinear layouts (compared with the host kernel's own
 * remap_file_pages where it has one), the per-page protections of
 * UMM_MAP_MANYPROTS (seed 002), and nonlinear vmas through mprotect,
 * munmap, fork, truncation and MADV_DONTNEED.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/common.h"

#ifndef MAP_NONBLOCK
#define MAP_NONBLOCK 0x10000
#endif

#define NPAGES 64

static struct umm_phys *phys;

/* A shmem file of @n pages, page i filled with the byte i + 1. */
static struct umm_file *numbered_file(struct umm_mm *mm, unsigned int n)
{
	struct umm_file *f = umm_shmem_new(phys, n * PG);
	long a;
	unsigned int i;

	if (!f)
		BAIL_OUT("umm_shmem_new");
	a = umm_mmap(mm, 0, n * PG, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (a < 0)
		BAIL_OUT("mmap of the file: %ld", a);
	for (i = 0; i < n; i++)
		if (guest_write(mm, (uint64_t)a + i * PG, (uint8_t)(i + 1)))
			BAIL_OUT("fill");
	umm_munmap(mm, (uint64_t)a, n * PG);
	return f;
}

/* The same natively: a memfd of @n pages, page i filled with i + 1. */
static int numbered_memfd(unsigned int n)
{
	int fd = memfd_create("nonlinear", 0);
	uint8_t *p;
	unsigned int i;

	if (fd < 0 || ftruncate(fd, n * PG))
		BAIL_OUT("memfd");
	p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		BAIL_OUT("mmap memfd");
	for (i = 0; i < n; i++)
		p[i * PG] = (uint8_t)(i + 1);
	munmap(p, n * PG);
	return fd;
}

static long host_rfp(void *start, size_t size, int prot, size_t pgoff,
		     int flags)
{
	long r = syscall(SYS_remap_file_pages, start, size, prot, pgoff, flags);

	return r < 0 ? -errno : r;
}

static uint8_t rd(struct umm_mm *mm, uint64_t va)
{
	uint8_t v = 0xee;

	if (guest_read(mm, va, &v))
		return 0xee;
	return v;
}

/* The layout: what each page reads, against the host doing the same. */
static void test_legacy_layout(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = numbered_file(mm, NPAGES);
	int fd = numbered_memfd(NPAGES);
	uint8_t *h = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			  fd, 0);
	long a = umm_mmap(mm, 0, 16 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			  f, 0);
	/* (page, pgoff, pages): a few remaps, overlapping and not */
	static const unsigned int remaps[][3] = {
		{0, 40, 1}, {3, 10, 4}, {5, 63, 1}, {15, 0, 1}, {8, 20, 2},
		{4, 4, 1},
	};
	unsigned int i, bad = 0;

	if (h == MAP_FAILED || a < 0)
		BAIL_OUT("setup");
	for (i = 0; i < sizeof(remaps) / sizeof(remaps[0]); i++) {
		long hr = host_rfp(h + remaps[i][0] * PG, remaps[i][2] * PG, 0,
				   remaps[i][1], 0);
		long ur = umm_remap_file_pages(mm, (uint64_t)a + remaps[i][0] * PG,
					       remaps[i][2] * PG, 0,
					       remaps[i][1], 0);

		is(ur, hr, "remap page %u to pgoff %u (%u pages): host %ld, "
		   "umm %ld", remaps[i][0], remaps[i][1], remaps[i][2], hr,
		   ur);
	}
	for (i = 0; i < 16; i++) {
		uint8_t u = rd(mm, (uint64_t)a + i * PG);

		if (u != h[i * PG]) {
			diag("page %u: host %u, umm %u", i, h[i * PG], u);
			bad++;
		}
	}
	ok(!bad, "every page reads what the host's remap_file_pages gives");
	ok(rd(mm, (uint64_t)a) == 41 && rd(mm, (uint64_t)a + 15 * PG) == 1,
	   "page 0 reads file page 40, page 15 file page 0");

	/* Writes go to the file page the pte names. */
	is(guest_write(mm, (uint64_t)a + 5 * PG + 1, 0x5a), 0,
	   "write through the page remapped to pgoff 63");
	h[5 * PG + 1] = 0x5a;
	{
		long b = umm_mmap(mm, 0, NPAGES * PG, PROT_READ, MAP_SHARED, f,
				  0);

		is(rd(mm, (uint64_t)b + 63 * PG + 1), 0x5a,
		   "a linear mapping of the file sees it at pgoff 63");
		umm_munmap(mm, (uint64_t)b, NPAGES * PG);
	}
	check_mm_coherent(mm);
	is(umm_munmap(mm, (uint64_t)a, 16 * PG), 0, "munmap the nonlinear vma");
	munmap(h, 16 * PG);
	close(fd);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* Errors, the host's beside umm's where the host has the same call. */
static void test_errors(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = numbered_file(mm, NPAGES);
	int fd = numbered_memfd(NPAGES);
	uint8_t *hs = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			   fd, 0);
	uint8_t *hp = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			   fd, 0);
	uint8_t *ha = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *hsa = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long us = umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			   f, 0);
	long up = umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			   f, 0);
	long ua = umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	long usa = umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, NULL, 0);
	struct {
		const char *what;
		int kind; /* 0 shared file, 1 private, 2 anon, 3 shared anon */
		uint64_t off, size;
		int prot;
		uint64_t pgoff;
		int flags;
	} c[] = {
		{"a shared file mapping", 0, 0, PG, 0, 3, 0},
		{"prot without MANYPROTS", 0, 0, PG, PROT_READ, 3, 0},
		{"a private file mapping", 1, 0, PG, 0, 3, 0},
		{"private anonymous memory", 2, 0, PG, 0, 3, 0},
		{"shared anonymous memory (shmem)", 3, 0, PG, 0, 3, 0},
		{"zero size", 0, 0, 0, 0, 3, 0},
		{"a size under a page (rounds to 0)", 0, 0, 100, 0, 3, 0},
		{"an unaligned start (rounded down)", 0, 100, PG, 0, 3, 0},
		{"an unaligned size (rounded down)", 0, 0, PG + 100, 0, 3, 0},
		{"past the vma's end", 0, 7 * PG, 2 * PG, 0, 3, 0},
		{"the whole vma", 0, 0, 8 * PG, 0, 3, 0},
		{"pgoff that wraps", 0, 0, 2 * PG, 0, ~0ULL, 0},
		{"MAP_NONBLOCK", 0, 0, PG, 0, 5, MAP_NONBLOCK},
		{"pgoff past EOF", 0, 0, PG, 0, 1000, 0},
	};
	unsigned int i;

	if (hs == MAP_FAILED || hp == MAP_FAILED || ha == MAP_FAILED ||
	    hsa == MAP_FAILED || us < 0 || up < 0 || ua < 0 || usa < 0)
		BAIL_OUT("setup");
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t *hb[] = {hs, hp, ha, hsa};
		long ub[] = {us, up, ua, usa};
		long hr = host_rfp(hb[c[i].kind] + c[i].off, c[i].size,
				   c[i].prot, c[i].pgoff, c[i].flags);
		long ur = umm_remap_file_pages(
			mm, (uint64_t)ub[c[i].kind] + c[i].off, c[i].size,
			c[i].prot, c[i].pgoff, c[i].flags);

		is(ur, hr, "%s: host %ld, umm %ld", c[i].what, hr, ur);
	}
	is(umm_remap_file_pages(mm, (uint64_t)us, PG, 0, 1ULL << 32, 0),
	   -EOVERFLOW, "a pgoff a pte cannot hold: EOVERFLOW");
	is(umm_remap_file_pages(mm, (uint64_t)us, 2 * PG, 0,
				(1ULL << 32) - 1, 0),
	   -EOVERFLOW, "a range that runs past it: EOVERFLOW");
	is(umm_remap_file_pages(mm, (uint64_t)us, PG, PROT_READ | 0x10, 3,
				UMM_MAP_MANYPROTS),
	   -EINVAL, "MANYPROTS with an unknown prot bit: EINVAL");
	is(umm_remap_file_pages(mm, 0x10000, PG, 0, 0, 0), -EINVAL,
	   "no vma at all: EINVAL");
	is(umm_remap_file_pages(mm, 0x10000, PG, 0, 1ULL << 40, 0), -EINVAL,
	   "no vma and a pgoff a pte cannot hold: EINVAL first, as the host");
	check_mm_coherent(mm);
	munmap(hs, 8 * PG);
	munmap(hp, 8 * PG);
	munmap(ha, 8 * PG);
	munmap(hsa, 8 * PG);
	close(fd);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* A guest fault's signal and code at @va. */
static int fault_code(struct umm_mm *mm, uint64_t va, int write)
{
	siginfo_t si;
	uint8_t v = 1;
	int sig = guest_access(mm, va, write, &v, &si);

	if (!sig)
		return 0;
	if (si.si_addr != umm_host_addr(mm, va) &&
	    (uint64_t)(uintptr_t)si.si_addr != va)
		diag("si_addr %p for va %#llx", si.si_addr,
		     (unsigned long long)va);
	return sig * 100 + si.si_code;
}

#define SEGV_ACC (SIGSEGV * 100 + SEGV_ACCERR)
#define BUS_ADR	 (SIGBUS * 100 + BUS_ADRERR)

static void test_manyprots(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = numbered_file(mm, NPAGES);
	long a = umm_mmap(mm, 0, NPAGES * PG, PROT_NONE, MAP_SHARED, f, 0);
	const int rw = PROT_READ | PROT_WRITE;
	struct umm_stats st;
	uint64_t free0;

	if (a < 0)
		BAIL_OUT("mmap");
	is(fault_code(mm, (uint64_t)a, 0), SEGV_ACC,
	   "a PROT_NONE mapping: a read is SEGV_ACCERR");
	is(umm_remap_file_pages(mm, (uint64_t)a + 3 * PG, PG, rw, 7,
				UMM_MAP_MANYPROTS),
	   0, "open page 3 read-write onto pgoff 7, the vma staying NONE");
	is(rd(mm, (uint64_t)a + 3 * PG), 8, "page 3 reads pgoff 7");
	is(fault_code(mm, (uint64_t)a + 3 * PG, 1), 0, "and takes a write");
	is(fault_code(mm, (uint64_t)a + 2 * PG, 0), SEGV_ACC,
	   "page 2 is still PROT_NONE");
	is(fault_code(mm, (uint64_t)a + 4 * PG, 0), SEGV_ACC,
	   "page 4 is still PROT_NONE");
	is(umm_remap_file_pages(mm, (uint64_t)a + 4 * PG, PG, PROT_READ, 4,
				UMM_MAP_MANYPROTS),
	   0, "page 4 read-only, linear pgoff");
	is(rd(mm, (uint64_t)a + 4 * PG), 5, "page 4 reads");
	is(fault_code(mm, (uint64_t)a + 4 * PG, 1), SEGV_ACC,
	   "a write to it: SEGV_ACCERR");
	is(umm_remap_file_pages(mm, (uint64_t)a + 3 * PG, PG, PROT_READ, 7,
				UMM_MAP_MANYPROTS),
	   0, "page 3 narrowed to read-only in place");
	is(fault_code(mm, (uint64_t)a + 3 * PG, 1), SEGV_ACC,
	   "its host mapping narrowed too: the write is refused");
	is(rd(mm, (uint64_t)a + 3 * PG + 1), 0,
	   "and it still reads pgoff 7 (written earlier: byte 1 was 1)");

	/* A file pte keeps its protection until the fault. */
	free0 = umm_phys_frames_free(phys);
	umm_mm_stats(mm, &st);
	is(umm_remap_file_pages(mm, (uint64_t)a + 10 * PG, PG, PROT_READ, 50,
				UMM_MAP_MANYPROTS | MAP_NONBLOCK),
	   0, "MAP_NONBLOCK onto a cached page");
	is(umm_phys_frames_free(phys), free0, "no frame allocated for it");
	is(fault_code(mm, (uint64_t)a + 10 * PG, 1), SEGV_ACC,
	   "a write to the file pte: SEGV_ACCERR, judged by its own prot");
	is(rd(mm, (uint64_t)a + 10 * PG), 51, "a read maps pgoff 50");

	/* Beyond what the vma may ever allow: EPERM. */
	{
		struct umm_file *ro = umm_file_open(phys, "/proc/self/exe");
		long b;

		if (!ro)
			BAIL_OUT("umm_file_open");
		b = umm_mmap(mm, 0, 2 * PG, PROT_READ, MAP_SHARED, ro, 0);
		ok(b > 0, "a read-only file mapped shared");
		is(umm_remap_file_pages(mm, (uint64_t)b, PG, 0, 1, 0), -EINVAL,
		   "legacy remap of it: EINVAL (as Linux: it is not "
		   "VM_SHARED, it can never write)");
		is(umm_remap_file_pages(mm, (uint64_t)b, PG, PROT_WRITE, 1,
					UMM_MAP_MANYPROTS),
		   -EPERM, "MANYPROTS write on it (no VM_MAYWRITE): EPERM");
		is(umm_remap_file_pages(mm, (uint64_t)b, PG, PROT_READ, 1,
					UMM_MAP_MANYPROTS),
		   0, "MANYPROTS read: fine");
		umm_munmap(mm, (uint64_t)b, 2 * PG);
		umm_file_put(ro);
	}

	/* mprotect clears MANYPROTS: every page takes its protection. */
	is(umm_mprotect(mm, (uint64_t)a, NPAGES * PG, PROT_READ), 0,
	   "mprotect the whole vma read-only");
	is(rd(mm, (uint64_t)a), 1, "page 0 (PROT_NONE before) now reads");
	is(fault_code(mm, (uint64_t)a + 3 * PG, 1), SEGV_ACC,
	   "page 3 (once read-write) refuses a write");
	is(rd(mm, (uint64_t)a + 3 * PG), 1,
	   "the nonlinear layout survives mprotect (page 3: pgoff 7, its "
	   "first byte written 1 above)");
	is(rd(mm, (uint64_t)a + 10 * PG), 51, "page 10 still reads pgoff 50");
	is(umm_mprotect(mm, (uint64_t)a, NPAGES * PG, PROT_NONE), 0,
	   "mprotect PROT_NONE");
	is(fault_code(mm, (uint64_t)a + 3 * PG, 0), SEGV_ACC,
	   "prohibiting mprotect is enforced on the remapped page too");
	is(fault_code(mm, (uint64_t)a + 10 * PG, 0), SEGV_ACC,
	   "and on the file pte");
	check_mm_coherent(mm);
	umm_munmap(mm, (uint64_t)a, NPAGES * PG);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* Host operations: contiguous runs still merge. */
static void test_host_merge(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = numbered_file(mm, 256);
	long a = umm_mmap(mm, 0, 128 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			  f, 0);
	unsigned int i, bad = 0;

	if (a < 0)
		BAIL_OUT("mmap");
	is(umm_remap_file_pages(mm, (uint64_t)a, 64 * PG, 0, 192, 0), 0,
	   "remap 64 pages onto pgoff 192-255 (contiguous)");
	for (i = 0; i < 64; i++)
		bad += rd(mm, (uint64_t)a + i * PG) != (uint8_t)(193 + i);
	ok(!bad, "each reads its page");
	is(umm_host_vmas(mm), 1,
	   "touched: one host VMA for the 64 (contiguous, same prot)");
	for (i = 0; i < 64; i++)
		umm_remap_file_pages(mm, (uint64_t)a + i * PG, PG, 0,
				     (i * 37) % 256, 0);
	for (i = 0, bad = 0; i < 64; i++)
		bad += rd(mm, (uint64_t)a + i * PG) !=
		       (uint8_t)((i * 37) % 256 + 1);
	ok(!bad, "scattered remaps read their pages");
	check_mm_coherent(mm);
	umm_munmap(mm, (uint64_t)a, 128 * PG);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* fork, truncation and MADV_DONTNEED keep working on nonlinear vmas. */
static void test_fork_truncate_dontneed(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32), *child;
	struct umm_file *f = numbered_file(mm, NPAGES);
	long a = umm_mmap(mm, 0, 16 * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			  f, 0);

	if (a < 0)
		BAIL_OUT("mmap");
	umm_remap_file_pages(mm, (uint64_t)a, PG, 0, 40, 0);
	umm_remap_file_pages(mm, (uint64_t)a + PG, PG, 0, 50, MAP_NONBLOCK);
	umm_remap_file_pages(mm, (uint64_t)a + 2 * PG, PG, PROT_READ, 60,
			     UMM_MAP_MANYPROTS | MAP_NONBLOCK);
	is(rd(mm, (uint64_t)a), 41, "parent: page 0 reads pgoff 40");

	child = umm_fork(mm);
	if (!child)
		BAIL_OUT("fork");
	is(rd(child, (uint64_t)a), 41, "child: page 0 reads pgoff 40");
	is(rd(child, (uint64_t)a + PG), 51,
	   "child: page 1 (a file pte at fork) reads pgoff 50");
	is(fault_code(child, (uint64_t)a + 2 * PG, 1), SEGV_ACC,
	   "child: page 2 keeps its own read-only protection");
	is(rd(child, (uint64_t)a + 2 * PG), 61, "and reads pgoff 60");
	is(guest_write(child, (uint64_t)a + 5, 0x77), 0, "child writes page 0");
	is(rd(mm, (uint64_t)a + 5), 0x77, "shared: the parent sees it");
	check_mm_coherent(child);
	umm_mm_put(child);

	/* MADV_DONTNEED: the layout survives, contents come from the file. */
	is(umm_madvise(mm, (uint64_t)a, 16 * PG, MADV_DONTNEED), 0,
	   "MADV_DONTNEED the nonlinear vma");
	is(rd(mm, (uint64_t)a), 41, "page 0 still reads pgoff 40");
	is(rd(mm, (uint64_t)a + 5), 0x77, "with what was written there");
	is(fault_code(mm, (uint64_t)a + 2 * PG, 1), SEGV_ACC,
	   "page 2 keeps its protection");
	is(rd(mm, (uint64_t)a + 3 * PG), 4, "an untouched page: linear");

	/* Truncation: pages past the end go, later faults SIGBUS. */
	is(umm_file_truncate(f, 45 * PG), 0, "truncate the file to 45 pages");
	is(rd(mm, (uint64_t)a), 41, "page 0 (pgoff 40) stays");
	is(fault_code(mm, (uint64_t)a + PG, 0), BUS_ADR,
	   "page 1 (pgoff 50, past the end): SIGBUS");
	is(fault_code(mm, (uint64_t)a + 2 * PG, 0), BUS_ADR,
	   "page 2 (pgoff 60): SIGBUS");
	is(rd(mm, (uint64_t)a + 4 * PG), 5, "a linear page below the end");
	check_mm_coherent(mm);
	umm_munmap(mm, (uint64_t)a, 16 * PG);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/*
 * Two threads fault the same manyprots pte at once, round after round: the
 * second finds it fixed and returns, never a spurious SIGSEGV.
 */
struct racer {
	struct umm_mm *mm;
	uint64_t va;
	pthread_barrier_t *start, *done;
	unsigned int rounds, sigs;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	unsigned int i;

	for (i = 0; i < r->rounds; i++) {
		uint8_t v;

		pthread_barrier_wait(r->start);
		if (guest_read(r->mm, r->va, &v) || v != 8)
			r->sigs++;
		pthread_barrier_wait(r->done);
	}
	return NULL;
}

static void test_racing_faults(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = numbered_file(mm, NPAGES);
	long a = umm_mmap(mm, 0, NPAGES * PG, PROT_NONE, MAP_SHARED, f, 0);
	pthread_barrier_t start, done;
	struct racer r[2];
	pthread_t t[2];
	unsigned int i, rounds = 500;

	if (a < 0)
		BAIL_OUT("mmap");
	pthread_barrier_init(&start, NULL, 3);
	pthread_barrier_init(&done, NULL, 3);
	for (i = 0; i < 2; i++) {
		r[i] = (struct racer){mm, (uint64_t)a + 9 * PG, &start, &done,
				      rounds, 0};
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (i = 0; i < rounds; i++) {
		/* Back to a file pte the host does not hold, then race. */
		umm_remap_file_pages(mm, (uint64_t)a + 9 * PG, PG, PROT_NONE,
				     7, UMM_MAP_MANYPROTS | MAP_NONBLOCK);
		umm_remap_file_pages(mm, (uint64_t)a + 9 * PG, PG, PROT_READ,
				     7, UMM_MAP_MANYPROTS | MAP_NONBLOCK);
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	is(r[0].sigs + r[1].sigs, 0,
	   "%u rounds of two threads faulting one manyprots pte: no "
	   "spurious signal", rounds);
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&done);
	check_mm_coherent(mm);
	umm_munmap(mm, (uint64_t)a, NPAGES * PG);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/*
 * Remaps while the host space keeps resetting (a budget of 64 host VMAs,
 * scattered file pages): a page the host mapped after a reset in the same
 * flush is still held, and a remap of it must drop it. Every read sees
 * the file page its pte names.
 */
static void test_remap_across_resets(void)
{
	const unsigned int n = 512;
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = numbered_file(mm, n);
	unsigned long budget = umm_host_vma_budget();
	unsigned int i, bad = 0, where[512];
	unsigned int seed = 12345;
	long a;

	a = umm_mmap(mm, 0, n * PG, PROT_READ, MAP_SHARED, f, 0);
	ok(a > 0, "a shared mapping of %u pages", n);
	ok(umm_set_host_vma_budget(64) == 0, "a budget of 64 host VMAs");
	for (i = 0; i < n; i++)
		where[i] = i;
	for (i = 0; i < 20000; i++) {
		unsigned int pg = (seed = seed * 1103515245 + 12345) >> 8;
		unsigned int to = (seed = seed * 1103515245 + 12345) >> 8;
		int flags = (i & 1) ? 0 : MAP_NONBLOCK;

		pg %= n;
		to %= n;
		if (umm_remap_file_pages(mm, (uint64_t)a + pg * PG, PG, 0, to,
					 flags)) {
			bad++;
			continue;
		}
		where[pg] = to;
		pg = (seed = seed * 1103515245 + 12345) >> 8;
		pg %= n;
		if (rd(mm, (uint64_t)a + pg * PG) != (uint8_t)(where[pg] + 1))
			bad++;
	}
	for (i = 0; i < n; i++)
		if (rd(mm, (uint64_t)a + i * PG) != (uint8_t)(where[i] + 1))
			bad++;
	ok(bad == 0, "20000 remaps and reads: every page reads its file page "
	   "(%u wrong)", bad);
	check_mm_coherent(mm);
	ok(umm_set_host_vma_budget(budget) == 0, "the budget restored");
	umm_munmap(mm, (uint64_t)a, n * PG);
	umm_file_put(f);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/*
 * umm_remap_file_pages_many: the same layout as the single calls made one
 * by one, on two mms side by side; with UMM_REMAP_FLUSH, past the ceiling,
 * the host drops the span and the pages come back at their touch, reading
 * the same; errors stop at the first range that fails, and with it.
 */
static void test_many(void)
{
	struct umm_mm *one = umm_mm_new(phys, 1ULL << 32);
	struct umm_mm *many = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = numbered_file(one, NPAGES);
	const uint64_t len = NPAGES * PG;
	struct umm_remap r[NPAGES];
	long a1 = umm_mmap(one, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED, f,
			   0);
	long a2 = umm_mmap(many, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			   f, 0);
	struct umm_stats s0, s1;
	unsigned int i, n, bad = 0, round;
	uint64_t x = 12345;
	long got;

	if (a1 < 0 || a2 < 0)
		BAIL_OUT("mmap");
	/* 8 ranges flushed (under the ceiling), 48 not, 48 flushed */
	static const unsigned int nrs[] = {8, 48, 48};
	static const int flushes[] = {UMM_REMAP_FLUSH, 0, UMM_REMAP_FLUSH};

	for (round = 0; round < 3; round++) {
		/* every page read, so the host holds them all */
		for (i = 0; i < NPAGES; i++)
			if (rd(one, (uint64_t)a1 + i * PG) !=
				    rd(many, (uint64_t)a2 + i * PG))
				bad++;
		n = nrs[round];
		for (i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			r[i] = (struct umm_remap){
				.start = (uint64_t)a2 + (x >> 33) % NPAGES * PG,
				.size = PG * (1 + (x >> 20) % 2),
				.pgoff = (x >> 40) % (NPAGES - 1),
			};
			if (r[i].start + r[i].size > (uint64_t)a2 + len)
				r[i].size = PG;
			if (umm_remap_file_pages(one,
						 r[i].start - (uint64_t)a2 +
							 (uint64_t)a1,
						 r[i].size, 0, r[i].pgoff, 0))
				BAIL_OUT("umm_remap_file_pages");
		}
		umm_mm_stats(many, &s0);
		got = umm_remap_file_pages_many(many, r, n, flushes[round]);
		umm_mm_stats(many, &s1);
		is(got, (long)n, "%u ranges remapped in one call%s", n,
		   flushes[round] ? ", UMM_REMAP_FLUSH" : "");
		is(s1.remap_drops - s0.remap_drops, round == 2 ? 1U : 0U,
		   round == 2 ? "past the ceiling: the host dropped the span once"
		   : round ? "no flush: each page replaced, no drop"
			   : "under the ceiling: each page replaced, no drop");
		check_mm_coherent(many);
		for (i = 0; i < NPAGES; i++)
			if (rd(one, (uint64_t)a1 + i * PG) !=
				    rd(many, (uint64_t)a2 + i * PG))
				bad++;
		ok(!bad, "every page reads as after the same remaps one by one");
	}

	/* A write through a page brought back goes to its file page. */
	is(guest_write(many, r[0].start + 7, 0x77), 0,
	   "a write through a remapped page");
	is(rd(one, r[0].start - (uint64_t)a2 + (uint64_t)a1 + 7), 0x77,
	   "the other mm sees it where the same pgoff is mapped");

	/* Errors: the first range that fails stops the call. */
	r[0] = (struct umm_remap){(uint64_t)a2, PG, 5, 0};
	r[1] = (struct umm_remap){(uint64_t)a2 + PG, PG, 6, 0};
	r[2] = (struct umm_remap){(uint64_t)a2 + len, PG, 7, 0}; /* outside */
	r[3] = (struct umm_remap){(uint64_t)a2 + 2 * PG, PG, 8, 0};
	is(umm_remap_file_pages_many(many, r, 4, 0), 2,
	   "a range outside the vma: the two before it were done");
	ok(rd(many, (uint64_t)a2) == 6 && rd(many, (uint64_t)a2 + PG) == 7 &&
		   rd(many, (uint64_t)a2 + 2 * PG) != 9,
	   "they were, and the one after it was not");
	is(umm_remap_file_pages_many(many, r + 2, 2, 0), -EINVAL,
	   "the first range fails: -EINVAL");
	r[0].prot = PROT_READ;
	is(umm_remap_file_pages_many(many, r, 1, 0), -EINVAL,
	   "a prot without UMM_MAP_MANYPROTS: -EINVAL, as the single call");
	is(umm_remap_file_pages_many(many, r, 0, 0), 0, "no ranges: 0");
	is(umm_remap_file_pages_many(many, NULL, 1, 0), -EFAULT,
	   "no array: -EFAULT");
	check_mm_coherent(many);
	umm_munmap(one, (uint64_t)a1, len);
	umm_munmap(many, (uint64_t)a2, len);
	umm_file_put(f);
	umm_mm_put(one);
	umm_mm_put(many);
	check_frames_free(phys);
}

int main(void)
{
	phys = umm_phys_new(64 << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new");
	test_legacy_layout();
	test_errors();
	test_manyprots();
	test_host_merge();
	test_fork_truncate_dontneed();
	test_racing_faults();
	test_remap_across_resets();
	test_many();
	umm_phys_put(phys);
	return done_testing();
}
