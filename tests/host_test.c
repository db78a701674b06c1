// SPDX-License-Identifier: MIT
/*
 * Unit tests of host/: the physical memory file and its frame allocator,
 * the queue of host operations (against the record backend), the local
 * backend (against this process's own mappings) and the VMA budget.
 *
 * Accesses that must fault are made in a fork()ed child, so this process
 * needs no signal handler and a wrong mapping cannot take the test down.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/host.h"
#include "tests/common.h" /* count_maps */
#include "tests/tap.h"

/* ---- helpers ---- */

/*
 * Touch @p in a child: read (write=0) or write one byte. Returns the signal
 * that killed the child, or 0 when it exited normally, in which case *val
 * (if given) holds the byte read. -1 if the child could not be run.
 */
static int child_access(volatile uint8_t *p, int write, uint8_t *val)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		uint8_t v = 0;

		if (write)
			*p = 0xa5;
		else
			v = *p;
		_exit(v);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	if (val)
		*val = (uint8_t)WEXITSTATUS(status);
	return 0;
}

/* The perms of the VMA holding @addr, "" if none. */
static const char *maps_perms(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	static char perms[8];
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	perms[0] = 0;
	if (!f)
		return perms;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3)
			continue;
		if (addr >= a && addr < b) {
			*lo = a;
			*hi = b;
			fclose(f);
			return perms;
		}
	}
	perms[0] = 0;
	fclose(f);
	return perms;
}

static long file_blocks(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long)st.st_blocks;
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- physical memory ---- */

static void test_phys_new(void)
{
	struct phys *phys;

	errno = 0;
	ok(!phys_new(0) && errno == EINVAL, "phys_new(0): EINVAL");
	errno = 0;
	ok(!phys_new(PG) && errno == EINVAL,
	   "phys_new(one page): EINVAL (only the zero page)");
	errno = 0;
	ok(!phys_new(UINT64_MAX) && errno == EINVAL,
	   "phys_new(UINT64_MAX): EINVAL, no wrap-around to a small size");
	errno = 0;
	ok(!phys_new((UINT32_MAX + 2ULL) << PAGE_SHIFT) && errno == EINVAL,
	   "more frames than a u32 pfn holds: EINVAL");

	phys = phys_new(PG + 1);
	ok(phys != NULL, "phys_new(one page + 1) rounds up to two pages");
	if (phys) {
		uint32_t pfns[2] = {99, 99};

		is(phys_nr_frames(phys), 1, "one frame besides the zero page");
		is(phys_nr_free(phys), 1, "and it is free");
		ok(phys_fd(phys) >= 0, "a file descriptor");
		is(phys_refcount(phys, PHYS_ZERO_PFN), 1,
		   "the zero page holds a reference of its own");
		is(phys_alloc(phys, 0, 2, pfns), 1, "asked 2, got the only 1");
		is(pfns[0], 1, "frame 1, never the zero page");
		is(pfns[1], 99, "the second slot untouched");
		is(phys_alloc(phys, 0, 1, pfns), 0, "full: 0 frames");
		is(phys_alloc(phys, PHYS_ZERO_PFN, 1, pfns), 0,
		   "full, hint 0: still 0 frames");
		phys_put(phys, 1);
		is(phys_nr_free(phys), 1, "free again");
		phys_free(phys);
	}
	phys = phys_new(10 * PG - 1);
	ok(phys != NULL, "phys_new(10 pages - 1)");
	if (phys) {
		is(phys_nr_frames(phys), 9, "rounds up to 10 pages: 9 frames");
		phys_free(phys);
	}
	phys = phys_new(2 * PG);
	ok(phys != NULL, "phys_new(two pages): the smallest there is");
	phys_free(phys);
	phys_free(NULL);
	ok(1, "phys_free(NULL) is a no-op");
}

static void test_phys_alloc(void)
{
	struct phys *phys = phys_new(64 * PG);
	uint32_t pfns[64], more[8];
	unsigned int i, got, total;
	bool bad, seen[64] = {false};

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	is(phys_nr_frames(phys), 63, "64 pages: 63 frames");
	is(phys_nr_free(phys), 63, "all free");

	is(phys_alloc(phys, 0, 8, pfns), 8, "allocate 8");
	for (bad = false, i = 0; i < 8; i++)
		bad |= pfns[i] != 1 + i;
	ok(!bad, "8 contiguous frames 1..8");
	for (bad = false, i = 0; i < 8; i++)
		bad |= phys_refcount(phys, pfns[i]) != 1;
	ok(!bad, "each with a reference count of 1");
	is(phys_nr_free(phys), 55, "55 free");
	is(phys_alloc(phys, 0, 4, pfns), 4, "allocate 4 more");
	ok(pfns[0] == 9 && pfns[3] == 12, "they follow on: 9..12");

	is(phys_alloc(phys, 40, 2, pfns), 2, "allocate 2 with hint 40");
	ok(pfns[0] == 40 && pfns[1] == 41, "the hint is honoured: 40, 41");
	is(phys_alloc(phys, 0, 3, pfns), 3, "allocate 3 without a hint");
	ok(pfns[0] == 42 && pfns[1] == 43 && pfns[2] == 44,
	   "they continue after the hinted run: 42..44");
	is(phys_alloc(phys, 5, 1, pfns), 1, "hint at a frame in use");
	is(pfns[0], 45, "falls back to the next free frame");
	is(phys_alloc(phys, 1000, 1, pfns), 1, "hint past the end");
	is(pfns[0], 46, "is ignored");

	/* Take all the rest: 63 - 8 - 4 - 2 - 3 - 1 - 1 = 44. */
	got = phys_alloc(phys, 0, 64, pfns);
	is(got, 44, "asked 64 with 44 free: got 44");
	is(phys_nr_free(phys), 0, "none left");
	for (bad = false, i = 0; i < got; i++)
		bad |= pfns[i] == PHYS_ZERO_PFN || pfns[i] > 63;
	ok(!bad, "never the zero page, never past the end");
	for (bad = false, i = 0; i < got; i++) {
		bad |= seen[pfns[i] % 64];
		seen[pfns[i] % 64] = true;
	}
	ok(!bad, "each frame once");
	is(phys_alloc(phys, 0, 1, more), 0, "full: 0");
	is(phys_alloc(phys, 7, 1, more), 0, "full, with a hint: 0");

	/*
	 * Fragment: free 2, 4, 6 and the run 20..23. Asked for 4, a run of 4
	 * exists; contiguous frames make one host VMA, scattered ones four.
	 */
	phys_put(phys, 2);
	phys_put(phys, 4);
	phys_put(phys, 6);
	for (i = 20; i < 24; i++)
		phys_put(phys, i);
	is(phys_nr_free(phys), 7, "7 freed");
	is(phys_alloc(phys, 0, 4, more), 4, "allocate 4");
	ok(more[0] + 1 == more[1] && more[1] + 1 == more[2] &&
		   more[2] + 1 == more[3],
	   "contiguous frames when a free run exists (got %u %u %u %u)",
	   more[0], more[1], more[2], more[3]);
	is(phys_alloc(phys, 0, 4, more + 4), 3, "the other 3");
	is(phys_nr_free(phys), 0, "none left");

	/* Give everything back. */
	for (i = 1; i <= 63; i++)
		phys_put(phys, i);
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "after putting every frame, all 63 are free");
	total = phys_alloc(phys, 0, 63, pfns);
	is(total, 63, "and all 63 can be allocated again");
	phys_put_many(phys, pfns, total);
	is(phys_nr_free(phys), 63, "phys_put_many of all: all free");
	phys_free(phys);
}

/*
 * Two writers growing runs side by side: when one's next frame is taken,
 * its run starts again with room to grow, not right after the other's.
 */
static void test_phys_run_room(void)
{
	struct phys *phys = phys_new(8192 * PG);
	uint32_t a[16], b[16], c[16], d[16];
	unsigned int i;
	bool contiguous = true;

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	phys_set_pool(phys, 0);
	is(phys_alloc(phys, 0, 16, a), 16, "writer A: a block of 16");
	is(phys_alloc(phys, 0, 16, b), 16, "writer B: its own first block");
	is(b[0], a[15] + 1, "right after A's (%u)", b[0]);
	is(phys_alloc(phys, a[15] + 1, 16, c), 16,
	   "A again, its next frame taken by B");
	for (i = 1; i < 16; i++)
		contiguous &= c[i] == c[0] + i;
	ok(contiguous, "a run of its own (%u..%u)", c[0], c[15]);
	ok(c[0] >= b[15] + 1 + 512,
	   "with room for B to grow before it: starts at %u, B ends at %u",
	   c[0], b[15]);
	is(phys_alloc(phys, b[15] + 1, 16, d), 16, "B again");
	is(d[0], b[15] + 1, "B's run goes on where it was");
	phys_put_many(phys, a, 16);
	phys_put_many(phys, b, 16);
	phys_put_many(phys, c, 16);
	phys_put_many(phys, d, 16);
	is(phys_nr_free(phys), phys_nr_frames(phys), "all free again");
	phys_free(phys);
}

static void test_phys_zero_and_punch(void)
{
	struct phys *phys = phys_new(16 * PG);
	uint32_t pfns[15], pfn;
	unsigned int i;
	long blocks0, blocks1;
	bool bad;

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	phys_set_pool(phys,
		      0); /* every freed frame punched (see test_phys_pool) */
	/* Reading a hole of a shmem file gives it a page: read it first. */
	ok(all_zero(phys_kaddr(phys, PHYS_ZERO_PFN), PG),
	   "the zero page reads zero");
	blocks0 = file_blocks(phys_fd(phys));
	is(phys_alloc(phys, 0, 15, pfns), 15, "allocate all 15 frames");
	for (bad = false, i = 0; i < 15; i++)
		bad |= !all_zero(phys_kaddr(phys, pfns[i]), PG);
	ok(!bad, "fresh frames read zero");
	for (i = 0; i < 15; i++)
		memset(phys_kaddr(phys, pfns[i]), 0x5a, PG);
	blocks1 = file_blocks(phys_fd(phys));
	ok(blocks1 >= blocks0 + 15 * (long)(PG / 512),
	   "written frames take host memory (%ld -> %ld blocks)", blocks0,
	   blocks1);
	phys_put_many(phys, pfns, 15);
	is(file_blocks(phys_fd(phys)), blocks0,
	   "freed frames are punched: host memory back to %ld blocks", blocks0);
	is(phys_nr_free(phys), 15, "all free");

	/* The same frame again, through the hint: zero, though written. */
	is(phys_alloc(phys, 7, 1, &pfn), 1, "re-allocate frame 7");
	is(pfn, 7, "the same frame");
	ok(all_zero(phys_kaddr(phys, pfn), PG),
	   "a freed and re-allocated frame reads zero");
	is(phys_alloc(phys, 0, 15, pfns), 14, "and the other 14");
	for (bad = false, i = 0; i < 14; i++)
		bad |= !all_zero(phys_kaddr(phys, pfns[i]), PG);
	ok(!bad, "all read zero after reuse");
	phys_put_many(phys, pfns, 14);
	phys_put(phys, pfn);
	phys_free(phys);
}

/*
 * The pool: freed frames up to its cap stay resident, zeroed, and are
 * handed out first; past the cap they are punched; a cap of 0 punches all.
 */
static void test_phys_pool(void)
{
	struct phys *phys = phys_new(64 * PG);
	uint32_t pfns[16], again[4];
	long blocks0, blocks1;
	unsigned int i;
	bool bad;

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	is(phys_pool_default(phys), 32, "the default pool: half (32)");
	phys_set_pool(phys, 4);
	ok(all_zero(phys_kaddr(phys, PHYS_ZERO_PFN), PG), "zero page read");
	blocks0 = file_blocks(phys_fd(phys));
	is(phys_alloc(phys, 0, 16, pfns), 16, "16 frames");
	for (i = 0; i < 16; i++)
		memset(phys_kaddr(phys, pfns[i]), 0x5a, PG);
	phys_put_many(phys, pfns, 16);
	is(phys_nr_pooled(phys), 4, "4 freed frames pooled (the cap)");
	blocks1 = file_blocks(phys_fd(phys));
	is(blocks1, blocks0 + 4 * (long)(PG / 512),
	   "the pool's 4 stay resident, the other 12 are punched");
	is(phys_nr_free(phys), 63, "all free");
	is(phys_alloc(phys, 0, 4, again), 4, "4 frames again");
	for (bad = false, i = 0; i < 4; i++)
		bad |= again[i] != pfns[i] ||
		       !all_zero(phys_kaddr(phys, again[i]), PG);
	ok(!bad, "the pooled ones, first, and zero though they were written");
	is(phys_nr_pooled(phys), 0, "the pool is empty");
	is(file_blocks(phys_fd(phys)), blocks1,
	   "taking them costs the host no page");
	phys_set_pool(phys, 0);
	phys_put_many(phys, again, 4);
	is(phys_nr_pooled(phys), 0, "a cap of 0: nothing pooled");
	is(file_blocks(phys_fd(phys)), blocks0, "every frame punched");
	phys_free(phys);
}

static void test_phys_refcount(void)
{
	struct phys *phys = phys_new(1024 * PG);
	uint32_t a, pfns[400], dup[3];
	unsigned int i;

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	is(phys_alloc(phys, 0, 1, &a), 1, "allocate one frame");
	is(phys_refcount(phys, a), 1, "count 1");
	phys_get(phys, a);
	phys_get(phys, a);
	is(phys_refcount(phys, a), 3, "two phys_get: 3");
	phys_put(phys, a);
	is(phys_refcount(phys, a), 2, "phys_put: 2");
	is(phys_nr_free(phys), 1022, "still in use");
	dup[0] = a;
	dup[1] = a;
	phys_put_many(phys, dup, 2);
	is(phys_refcount(phys, a), 0, "phys_put_many of it twice: 0");
	is(phys_nr_free(phys), 1023, "and it is free");

	/* More than the 256 that phys_put_many sorts on its stack. */
	is(phys_alloc(phys, 0, 400, pfns), 400, "allocate 400");
	is(phys_nr_free(phys), 623, "623 free");
	for (i = 0; i < 400; i += 2)
		phys_get(phys, pfns[i]);
	/* Reverse order: runs are found after sorting. */
	for (i = 0; i < 200; i++) {
		uint32_t t = pfns[i];

		pfns[i] = pfns[399 - i];
		pfns[399 - i] = t;
	}
	phys_put_many(phys, pfns, 400);
	is(phys_nr_free(phys), 823,
	   "put 400, 200 of them held twice: 200 "
	   "freed");
	is(phys_refcount(phys, pfns[0]), 0, "a frame held once is free");
	is(phys_refcount(phys, pfns[1]), 1, "a frame held twice is at 1");
	for (i = 1; i < 400; i += 2)
		phys_put(phys, pfns[i]);
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "all frames free: phys_nr_free == phys_nr_frames");
	phys_free(phys);
}

/* ---- the queue, against the record backend ---- */

static struct host_as *record_new(struct phys *phys)
{
	struct host_as *as = host_as_new_record(phys, 1ULL << 32);

	if (!as)
		BAIL_OUT("host_as_new_record: %s", strerror(errno));
	return as;
}

/* Is op @i of the log exactly this? */
static int is_op(struct host_as *as, unsigned int i, int kind, uint64_t va,
		 uint64_t len, uint64_t off, int prot, int flags)
{
	unsigned int nr;
	const struct host_op *op = host_as_recorded(as, &nr);

	if (i >= nr) {
		diag("op %u: only %u recorded", i, nr);
		return 0;
	}
	op += i;
	if (op->kind == kind && op->va == va && op->len == len &&
	    op->off == off && op->prot == prot && op->flags == flags)
		return 1;
	diag("op %u: kind %d va %#llx len %#llx off %#llx prot %d flags %d", i,
	     op->kind, (unsigned long long)op->va, (unsigned long long)op->len,
	     (unsigned long long)op->off, op->prot, op->flags);
	return 0;
}

static unsigned int nr_recorded(struct host_as *as)
{
	unsigned int nr;

	host_as_recorded(as, &nr);
	return nr;
}

static void test_queue_merge(struct phys *phys)
{
	const int rw = PROT_READ | PROT_WRITE;
	struct host_as *as = record_new(phys);
	unsigned int i;

	is(as->stats.vmas, 1, "a new space counts one VMA: its reservation");
	is(host_as_count_vmas(as), -EOPNOTSUPP,
	   "count_vmas on a record space: -EOPNOTSUPP");
	host_as_flush(as);
	is(as->stats.syscalls, 0, "flushing an empty queue costs nothing");

	for (i = 0; i < 4; i++)
		host_as_queue(as, HOST_OP_MAP, 0x10000 + i * PG, PG,
			      (5 + i) * PG, rw, 0);
	is(as->queue.nr, 1, "4 contiguous maps queue as one op");
	is(nr_recorded(as), 0, "nothing carried out before the flush");
	host_as_flush(as);
	is(nr_recorded(as), 1, "one op carried out");
	ok(is_op(as, 0, HOST_OP_MAP, 0x10000, 4 * PG, 5 * PG, rw, 0),
	   "MAP va 0x10000 len 4 pages off 5 pages, read-write");
	is(as->stats.ops, 4, "stats.ops: 4 queued");
	is(as->stats.syscalls, 1, "stats.syscalls: 1");
	is(as->queue.nr, 0, "queue empty after the flush");
	host_as_clear_record(as);
	is(nr_recorded(as), 0, "clear_record empties the log");

	/* Things that must not merge. */
	host_as_queue(as, HOST_OP_MAP, 0, PG, 0, rw, 0);
	host_as_queue(as, HOST_OP_MAP, 2 * PG, PG, PG, rw, 0);
	is(as->queue.nr, 2, "a gap in va: no merge");
	host_as_flush(as);
	host_as_queue(as, HOST_OP_MAP, 0, PG, 0, rw, 0);
	host_as_queue(as, HOST_OP_MAP, PG, PG, 2 * PG, rw, 0);
	is(as->queue.nr, 2, "contiguous va, offset not contiguous: no merge");
	host_as_flush(as);
	host_as_queue(as, HOST_OP_MAP, PG, PG, PG, rw, 0);
	host_as_queue(as, HOST_OP_MAP, 2 * PG, PG, 0, rw, 0);
	is(as->queue.nr, 2, "offset going backwards: no merge");
	host_as_flush(as);
	host_as_queue(as, HOST_OP_MAP, 0, PG, 0, rw, 0);
	host_as_queue(as, HOST_OP_MAP, PG, PG, PG, PROT_READ, 0);
	is(as->queue.nr, 2, "a different prot: no merge");
	host_as_flush(as);
	host_as_queue(as, HOST_OP_MAP, 0, PG, 0, rw, 0);
	host_as_queue(as, HOST_OP_MAP, PG, PG, PG, rw, HOST_OP_POPULATE);
	is(as->queue.nr, 2, "different flags: no merge");
	host_as_flush(as);
	host_as_queue(as, HOST_OP_MAP, 0, PG, 0, PROT_READ, 0);
	host_as_queue(as, HOST_OP_MAP_ZERO, PG, PG, PG, PROT_READ, 0);
	host_as_queue(as, HOST_OP_UNMAP, 2 * PG, PG, 0, 0, 0);
	host_as_queue_protect(as, 3 * PG, PG, 0, host_as_gen(as));
	is(as->queue.nr, 4, "different kinds: no merge");
	host_as_flush(as);
	host_as_queue(as, HOST_OP_MAP, 0, PG, 0, rw, 0);
	host_as_queue(as, HOST_OP_UNMAP, PG, PG, 0, 0, 0);
	host_as_queue(as, HOST_OP_MAP, 2 * PG, PG, 2 * PG, rw, 0);
	is(as->queue.nr, 3, "only the last op merges: MAP UNMAP MAP is 3");
	host_as_flush(as);
	host_as_queue(as, HOST_OP_MAP, PG, PG, PG, rw, 0);
	host_as_queue(as, HOST_OP_MAP, 0, PG, 0, rw, 0);
	is(as->queue.nr, 2, "a page before the last: no merge");
	host_as_flush(as);
	is(nr_recorded(as), 2 + 2 + 2 + 2 + 2 + 4 + 3 + 2,
	   "every unmerged op carried out");
	host_as_clear_record(as);

	/* Things that merge. */
	host_as_queue(as, HOST_OP_UNMAP, 0x5000, PG, 0, 0, 0);
	host_as_queue(as, HOST_OP_UNMAP, 0x6000, 3 * PG, 123 * PG, 0, 0);
	host_as_queue(as, HOST_OP_UNMAP, 0x9000, PG, 7, 0, 0);
	is(as->queue.nr, 1, "UNMAP merges across contiguous va");
	host_as_queue(as, HOST_OP_MAP_ZERO, 0xa000, PG, 0, PROT_READ, 0);
	host_as_queue(as, HOST_OP_MAP_ZERO, 0xb000, PG, 0, PROT_READ, 0);
	host_as_queue(as, HOST_OP_MAP, 0xc000, 2 * PG, 8 * PG, rw,
		      HOST_OP_POPULATE);
	host_as_queue(as, HOST_OP_MAP, 0xe000, PG, 10 * PG, rw,
		      HOST_OP_POPULATE);
	host_as_queue_protect(as, 0xf000, PG, PROT_READ, host_as_gen(as));
	host_as_queue_protect(as, 0x10000, PG, PROT_READ, host_as_gen(as));
	is(as->queue.nr, 4, "UNMAP, MAP_ZERO x2, MAP x2, PROTECT x2: 4 ops");
	host_as_flush(as);
	ok(is_op(as, 0, HOST_OP_UNMAP, 0x5000, 5 * PG, 0, 0, 0),
	   "UNMAP 0x5000 + 5 pages, the first op's offset");
	ok(is_op(as, 1, HOST_OP_MAP_ZERO, 0xa000, 2 * PG, 0, PROT_READ, 0),
	   "MAP_ZERO 0xa000 + 2 pages");
	ok(is_op(as, 2, HOST_OP_MAP, 0xc000, 3 * PG, 8 * PG, rw,
		 HOST_OP_POPULATE),
	   "MAP 0xc000 + 3 pages at 8 pages, populate kept");
	ok(is_op(as, 3, HOST_OP_PROTECT, 0xf000, 2 * PG, 0, PROT_READ, 0),
	   "PROTECT 0xf000 + 2 pages");
	host_as_free(as);
}

static void test_queue_full(struct phys *phys)
{
	struct host_as *as = record_new(phys);
	unsigned int i;

	/* Every other page: nothing merges. */
	for (i = 0; i < HOST_AS_QUEUE; i++)
		host_as_queue(as, HOST_OP_MAP, 2 * i * PG, PG, i * PG,
			      PROT_READ, 0);
	is(as->queue.nr, HOST_AS_QUEUE, "64 ops queued");
	is(nr_recorded(as), 0, "none carried out yet");
	host_as_queue(as, HOST_OP_MAP, 2 * (HOST_AS_QUEUE - 1) * PG + PG, PG,
		      HOST_AS_QUEUE * PG, PROT_READ, 0);
	is(as->queue.nr, HOST_AS_QUEUE,
	   "a full queue still merges with its last op without a flush");
	is(nr_recorded(as), 0, "nothing carried out");
	host_as_queue(as, HOST_OP_MAP, 4 * HOST_AS_QUEUE * PG, PG, 0, PROT_READ,
		      0);
	is(nr_recorded(as), HOST_AS_QUEUE,
	   "the 65th op flushes the full queue first");
	is(as->queue.nr, 1, "and is queued alone");
	is(as->stats.syscalls, HOST_AS_QUEUE, "stats.syscalls: 64");
	ok(is_op(as, HOST_AS_QUEUE - 1, HOST_OP_MAP,
		 2 * (HOST_AS_QUEUE - 1) * PG, 2 * PG, (HOST_AS_QUEUE - 1) * PG,
		 PROT_READ, 0),
	   "the merged op went out whole");
	host_as_flush(as);
	is(nr_recorded(as), HOST_AS_QUEUE + 1, "65 ops carried out");
	ok(is_op(as, HOST_AS_QUEUE, HOST_OP_MAP, 4 * HOST_AS_QUEUE * PG, PG, 0,
		 PROT_READ, 0),
	   "the 65th last");
	is(as->stats.ops, HOST_AS_QUEUE + 2, "stats.ops: 66 queued");
	is(as->stats.syscalls, HOST_AS_QUEUE + 1, "stats.syscalls: 65");
	is(as->stats.resets, 0, "no resets");
	host_as_free(as);
}

/* Merging off: every page its own op, offsets and generations kept. */
static void test_queue_no_merge(struct phys *phys)
{
	const int rw = PROT_READ | PROT_WRITE;
	struct host_as *as = record_new(phys);
	uint32_t gen = host_as_gen(as);
	unsigned int i;
	bool bad = false;

	host_as_set_merge(as, false);
	for (i = 0; i < 4; i++)
		host_as_queue(as, HOST_OP_MAP, 0x10000 + i * PG, PG,
			      (5 + i) * PG, rw, HOST_OP_POPULATE);
	is(as->queue.nr, 4, "merging off: 4 contiguous maps stay 4 ops");
	host_as_queue(as, HOST_OP_UNMAP, 0x20000, 3 * PG, 0, 0, 0);
	is(as->queue.nr, 7, "an unmap of 3 pages is queued as 3 ops");
	host_as_queue_protect(as, 0x30000, 2 * PG, PROT_READ, gen);
	host_as_flush(as);
	is(nr_recorded(as), 9, "9 ops carried out");
	for (i = 0; i < 4; i++)
		bad |= !is_op(as, i, HOST_OP_MAP, 0x10000 + i * PG, PG,
			      (5 + i) * PG, rw, HOST_OP_POPULATE);
	ok(!bad, "each map one page at its own offset, populate kept");
	ok(is_op(as, 6, HOST_OP_UNMAP, 0x22000, PG, 0, 0, 0),
	   "the unmap's last page");
	ok(is_op(as, 8, HOST_OP_PROTECT, 0x31000, PG, 0, PROT_READ, 0),
	   "the protect's second page");
	is(as->stats.syscalls, 9, "stats.syscalls: one per page");
	is(as->stats.ops, 6, "stats.ops: the 6 ops queued");
	host_as_clear_record(as);

	/* A full queue is flushed page by page as it fills. */
	host_as_queue(as, HOST_OP_UNMAP, 0, (HOST_AS_QUEUE + 3) * PG, 0, 0, 0);
	is(nr_recorded(as), HOST_AS_QUEUE, "a long unmap flushes a full queue");
	is(as->queue.nr, 3, "and queues the rest");
	host_as_set_merge(as, true);
	host_as_queue(as, HOST_OP_UNMAP, (HOST_AS_QUEUE + 3) * PG, PG, 0, 0, 0);
	is(as->queue.nr, 3, "merging on again: the next page merges");
	host_as_flush(as);
	ok(is_op(as, HOST_AS_QUEUE + 2, HOST_OP_UNMAP, (HOST_AS_QUEUE + 2) * PG,
		 2 * PG, 0, 0, 0),
	   "into the last queued op");
	host_as_free(as);
}

/* Scatter allocation: no two frames in a row are neighbours. */
static void test_phys_scatter(void)
{
	struct phys *phys = phys_new(64 * PG);
	uint32_t pfns[63];
	unsigned int i, got;
	bool bad = false, seen[64] = {false};

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	phys_set_scatter(phys, true);
	is(phys_alloc(phys, 10, 8, pfns), 8, "scatter: allocate 8, hint 10");
	for (i = 1; i < 8; i++)
		bad |= pfns[i] == pfns[i - 1] + 1 || pfns[i] == pfns[i - 1] - 1;
	ok(!bad, "no two neighbours (%u %u %u ...)", pfns[0], pfns[1], pfns[2]);
	got = phys_alloc(phys, 0, 63, pfns + 8);
	is(got, 55, "the other 55 still come out");
	for (bad = false, i = 0; i < 63; i++) {
		bad |= pfns[i] == PHYS_ZERO_PFN || pfns[i] > 63 ||
		       seen[pfns[i]];
		seen[pfns[i]] = true;
	}
	ok(!bad, "each frame once, never the zero page");
	is(phys_nr_free(phys), 0, "none left");
	phys_put_many(phys, pfns, 63);
	phys_set_scatter(phys, false);
	is(phys_alloc(phys, 0, 8, pfns), 8, "scatter off: allocate 8");
	for (bad = false, i = 1; i < 8; i++)
		bad |= pfns[i] != pfns[i - 1] + 1;
	ok(!bad, "contiguous again");
	phys_put_many(phys, pfns, 8);
	is(phys_nr_free(phys), 63, "all free");
	phys_free(phys);
}

/* ---- the local backend ---- */

static void test_local_window(struct phys *phys)
{
	const uint64_t size = 64 * PG;
	struct host_as *as;
	uintptr_t lo = 0, hi = 0;
	uint8_t *base;

	errno = 0;
	ok(!host_as_new_local(phys, 0) && errno == EINVAL,
	   "host_as_new_local size 0: EINVAL");
	errno = 0;
	ok(!host_as_new_local(phys, PG + 1) && errno == EINVAL,
	   "host_as_new_local size not page aligned: EINVAL");

	as = host_as_new_local(phys, size);
	if (!as)
		BAIL_OUT("host_as_new_local: %s", strerror(errno));
	base = (uint8_t *)as->base;
	ok(as->base && !(as->base & ~PAGE_MASK), "a page-aligned window");
	is(as->size, size, "of the size asked");
	ok(!strcmp(maps_perms(as->base, &lo, &hi), "---p"),
	   "the window is reserved PROT_NONE in /proc/self/maps");
	ok(lo <= as->base && hi >= as->base + size,
	   "one VMA covers the whole window");
	is(host_as_count_vmas(as), 0, "count_vmas: 0 mapped");
	is(child_access(base, 0, NULL), SIGSEGV, "reading it: SIGSEGV");
	is(child_access(base + size - 1, 1, NULL), SIGSEGV,
	   "writing its last byte: SIGSEGV");
	host_as_free(as);
}

/*
 * Write a byte into each of @n pages from @p, without sanitizer
 * instrumentation: its shadow memory would take host faults of its own.
 */
static __attribute__((noinline, no_sanitize("address", "thread"))) void
write_pages_uninstrumented(volatile uint8_t *p, unsigned int n)
{
	unsigned int j;

	for (j = 0; j < n; j++)
		p[(size_t)j * PG] = (uint8_t)j;
}

static void test_local_map(struct phys *phys)
{
	const int rw = PROT_READ | PROT_WRITE;
	struct host_as *as = host_as_new_local(phys, 64 * PG);
	uint8_t *base, *k, v = 0;
	uint32_t pfn;

	if (!as)
		BAIL_OUT("host_as_new_local: %s", strerror(errno));
	base = (uint8_t *)as->base;
	if (phys_alloc(phys, 0, 1, &pfn) != 1)
		BAIL_OUT("phys_alloc");
	k = phys_kaddr(phys, pfn);
	memcpy(k + 100, "through the linear map", 23);

	host_as_queue(as, HOST_OP_MAP, 3 * PG, PG, (uint64_t)pfn << PAGE_SHIFT,
		      rw, 0);
	host_as_flush(as);
	is(as->stats.syscalls, 1, "one MAP: one syscall");
	ok(!memcmp(base + 3 * PG + 100, "through the linear map", 23),
	   "a write through phys_kaddr is seen through the window");
	memcpy(base + 3 * PG + 2000, "through the window", 19);
	ok(!memcmp(k + 2000, "through the window", 19),
	   "a write through the window is seen through phys_kaddr");
	is(host_as_count_vmas(as), 1, "count_vmas: 1");
	k[7] = 0x42;
	is(child_access(base + 3 * PG + 7, 0, &v), 0, "a child reads it");
	is(v, 0x42, "and sees the frame");
	is(child_access(base + 3 * PG + 8, 1, NULL), 0, "a child writes it");
	is(child_access(base + 2 * PG, 0, NULL), SIGSEGV,
	   "the page before is still reserved");
	is(child_access(base + 4 * PG, 0, NULL), SIGSEGV,
	   "the page after is still reserved");

	host_as_queue_protect(as, 3 * PG, PG, PROT_READ, host_as_gen(as));
	host_as_flush(as);
	is(child_access(base + 3 * PG + 7, 0, &v), 0,
	   "PROTECT read-only: reads work");
	is(v, 0x42, "the same frame");
	is(child_access(base + 3 * PG + 7, 1, NULL), SIGSEGV,
	   "writes: SIGSEGV");

	host_as_queue(as, HOST_OP_MAP, 3 * PG, PG, (uint64_t)pfn << PAGE_SHIFT,
		      PROT_READ, HOST_OP_POPULATE);
	host_as_flush(as);
	is(child_access(base + 3 * PG + 7, 0, &v), 0,
	   "MAP read-only with POPULATE over it: reads work");
	is(v, 0x42, "the same frame");
	is(child_access(base + 3 * PG + 7, 1, NULL), SIGSEGV,
	   "writes: SIGSEGV");

	host_as_queue(as, HOST_OP_MAP, 3 * PG, PG, (uint64_t)pfn << PAGE_SHIFT,
		      rw, HOST_OP_POPULATE);
	host_as_flush(as);
	base[3 * PG + 9] = 0x24;
	is(k[9], 0x24,
	   "MAP read-write with POPULATE: a write through the "
	   "window reaches the frame");
	is(child_access(base + 3 * PG + 7, 0, &v), 0, "a child reads it");
	is(v, 0x42, "the same frame");

	host_as_queue(as, HOST_OP_UNMAP, 3 * PG, PG, 0, 0, 0);
	host_as_flush(as);
	is(child_access(base + 3 * PG + 7, 0, NULL), SIGSEGV,
	   "after UNMAP: a read dies with SIGSEGV");
	is(host_as_count_vmas(as), 0, "count_vmas: 0 again");
	is(k[7], 0x42, "the frame keeps its data");

	memset(k, 0x77, PG);
	host_as_queue(as, HOST_OP_MAP_ZERO, 10 * PG, 2 * PG, 0, PROT_READ, 0);
	host_as_flush(as);
	ok(all_zero(base + 10 * PG, 2 * PG), "MAP_ZERO reads zero");
	is(child_access(base + 11 * PG, 1, NULL), SIGSEGV,
	   "and cannot be written");
	host_as_queue(as, HOST_OP_UNMAP, 0, 64 * PG, 0, 0, 0);
	host_as_flush(as);
	is(host_as_count_vmas(as), 0, "UNMAP of all: nothing mapped");

	/* A PROTECT from before a reset must not open the reservation. */
	host_as_queue_protect(as, 3 * PG, PG, PROT_READ, host_as_gen(as) - 1);
	host_as_flush(as);
	is(child_access(base + 3 * PG, 0, NULL), SIGSEGV,
	   "a PROTECT of an older generation is skipped");
	is(host_as_count_vmas(as), 0, "nothing mapped");

	/*
	 * Nor, where an eviction took other mappings and left its range,
	 * leave the old protection there: it drops the range.
	 */
	host_as_queue(as, HOST_OP_MAP, 5 * PG, 2 * PG,
		      (uint64_t)pfn << PAGE_SHIFT, rw, 0);
	host_as_flush(as);
	host_as_queue_protect(as, 5 * PG, PG, PROT_READ, host_as_gen(as) - 1);
	host_as_flush(as);
	is(child_access(base + 5 * PG, 1, NULL), SIGSEGV,
	   "a PROTECT of an older generation over a mapped page: no write");
	is(child_access(base + 5 * PG, 0, NULL), SIGSEGV,
	   "the page is dropped (the next fault maps it again)");
	is(child_access(base + 6 * PG, 1, NULL), 0,
	   "its neighbour, outside the PROTECT, keeps its mapping");
	host_as_queue(as, HOST_OP_UNMAP, 0, 64 * PG, 0, 0, 0);
	host_as_flush(as);
	/*
	 * A populated writable map (the fault path): the first writes take
	 * no host fault, though MAP_POPULATE only read-faults (shmem pages
	 * of a shared writable mapping are mapped writable). 16 pages, so
	 * that a stray fault of the process (a sanitizer's) is not taken for
	 * one of them.
	 */
	{
		struct rusage r0, r1;
		uint32_t run[16];
		unsigned int j;

		if (phys_alloc(phys, 0, 16, run) != 16)
			BAIL_OUT("phys_alloc");
		for (j = 1; j < 16; j++)
			if (run[j] != run[0] + j)
				BAIL_OUT("phys_alloc: not a run");
		host_as_queue(as, HOST_OP_MAP, 16 * PG, 16 * PG,
			      (uint64_t)run[0] << PAGE_SHIFT, rw,
			      HOST_OP_POPULATE);
		host_as_flush(as);
		getrusage(RUSAGE_SELF, &r0);
		write_pages_uninstrumented(base + 16 * PG, 16);
		getrusage(RUSAGE_SELF, &r1);
		ok(r1.ru_minflt - r0.ru_minflt < 4,
		   "a populated writable map: the first writes take no host "
		   "fault (%ld for 16 pages)",
		   r1.ru_minflt - r0.ru_minflt);
		host_as_queue(as, HOST_OP_UNMAP, 16 * PG, 16 * PG, 0, 0, 0);
		host_as_flush(as);
		phys_put_many(phys, run, 16);
	}

	/* discard: the window is reserved again and stays so */
	host_as_queue(as, HOST_OP_MAP, 5 * PG, PG, (uint64_t)pfn << PAGE_SHIFT,
		      rw, 0);
	host_as_flush(as);
	host_as_discard(as);
	is(child_access(base + 5 * PG, 0, NULL), SIGSEGV,
	   "host_as_discard: a mapped page is reserved again");
	host_as_queue(as, HOST_OP_MAP, 6 * PG, PG, (uint64_t)pfn << PAGE_SHIFT,
		      rw, 0);
	host_as_flush(as);
	is(child_access(base + 6 * PG, 0, NULL), SIGSEGV,
	   "after a discard, nothing queued is carried out");
	is(host_as_count_vmas(as), 0, "count_vmas after a discard: 0");
	host_as_free(as);
	phys_put(phys, pfn);
}

static void test_local_count(struct phys *phys)
{
	struct host_as *as = host_as_new_local(phys, 64 * PG);
	uint32_t pfns[10];
	uint64_t sys;
	unsigned int i;
	long all, mapped;
	bool bad;

	if (!as)
		BAIL_OUT("host_as_new_local: %s", strerror(errno));
	if (phys_alloc(phys, 0, 10, pfns) != 10)
		BAIL_OUT("phys_alloc");
	for (i = 0; i < 10; i++)
		*(uint32_t *)phys_kaddr(phys, pfns[i]) = 1000 + i;

	for (i = 0; i < 10; i++)
		host_as_queue(as, HOST_OP_MAP, (2 * i + 1) * PG, PG,
			      (uint64_t)pfns[i] << PAGE_SHIFT, PROT_READ, 0);
	host_as_flush(as);
	is(host_as_count_vmas(as), 10, "10 scattered single-page maps: 10");
	all = count_maps(as->base, as->base + as->size, &mapped);
	is(mapped, 10, "/proc/self/maps agrees");
	is(all, 21, "with 11 reserved pieces between them");
	for (bad = false, i = 0; i < 10; i++)
		bad |= *(uint32_t *)(as->base + (2 * i + 1) * PG) != 1000 + i;
	ok(!bad, "each page shows its own frame");
	host_as_queue(as, HOST_OP_UNMAP, 0, 64 * PG, 0, 0, 0);
	host_as_flush(as);
	is(host_as_count_vmas(as), 0, "unmapped again: 0");
	is(count_maps(as->base, as->base + as->size, NULL), 1,
	   "and the window is one reserved VMA again");

	/* phys_alloc gave 10 contiguous frames on this fresh phys. */
	for (bad = false, i = 1; i < 10; i++)
		bad |= pfns[i] != pfns[0] + i;
	ok(!bad, "the 10 frames are contiguous");
	sys = as->stats.syscalls;
	for (i = 0; i < 10; i++)
		host_as_queue(as, HOST_OP_MAP, (20 + i) * PG, PG,
			      (uint64_t)pfns[i] << PAGE_SHIFT,
			      PROT_READ | PROT_WRITE, 0);
	host_as_flush(as);
	is(as->stats.syscalls - sys, 1, "10 contiguous pages: one syscall");
	is(host_as_count_vmas(as), 1, "and one VMA");
	for (bad = false, i = 0; i < 10; i++)
		bad |= *(uint32_t *)(as->base + (20 + i) * PG) != 1000 + i;
	ok(!bad, "each page shows its own frame");
	host_as_queue(as, HOST_OP_UNMAP, 0, 64 * PG, 0, 0, 0);

	/* Contiguous va, offsets backwards: the host cannot merge them. */
	for (i = 0; i < 10; i++)
		host_as_queue(as, HOST_OP_MAP, (20 + i) * PG, PG,
			      (uint64_t)pfns[9 - i] << PAGE_SHIFT, PROT_READ,
			      0);
	host_as_flush(as);
	is(host_as_count_vmas(as), 10,
	   "10 contiguous pages, offsets backwards: 10 VMAs");
	host_as_free(as);
	phys_put_many(phys, pfns, 10);
}

/* Queue @nr maps of one page, every other page from @first, and flush. */
static void map_scattered(struct host_as *as, unsigned int first,
			  unsigned int nr, uint32_t pfn)
{
	unsigned int i;

	for (i = first; i < first + nr; i++)
		host_as_queue(as, HOST_OP_MAP, (2 * i + 1) * PG, PG,
			      (uint64_t)pfn << PAGE_SHIFT, PROT_READ, 0);
	host_as_flush(as);
}

static void test_vma_budget(struct phys *phys)
{
	const uint64_t size = 1024 * PG;
	unsigned long old = host_vma_budget();
	struct host_as *as, *rec;
	uint64_t ev, rec_ev;
	uint32_t pfn, gen, rec_gen;
	unsigned int nr = 300;
	long all, mapped;
	uint8_t *last;

	ok(old >= 64, "the default budget (%lu) is sane", old);
	is(host_vma_budget(), old, "reading it twice gives the same");
	is(host_set_vma_budget(63), -EINVAL, "a budget under 64: -EINVAL");
	is(host_set_vma_budget(host_max_map_count() + 1), -EINVAL,
	   "over vm.max_map_count: -EINVAL");
	is(host_vma_budget(), old, "refused settings leave it alone");
	is(host_set_vma_budget(64), 0, "set the budget to 64");
	is(host_vma_budget(), 64, "it reads back 64");

	as = host_as_new_local(phys, size);
	rec = host_as_new_record(phys, size);
	if (!as || !rec)
		BAIL_OUT("host_as_new: %s", strerror(errno));
	if (phys_alloc(phys, 0, 1, &pfn) != 1)
		BAIL_OUT("phys_alloc");
	memset(phys_kaddr(phys, pfn), 0x3c, PG);
	gen = host_as_gen(as);
	rec_gen = host_as_gen(rec);

	/* 27 scattered pages in the record space: 27 VMAs, 28 reserved. */
	map_scattered(rec, 0, 27, pfn);
	is(rec->stats.vmas, 55, "the record space counts 55 VMAs");
	is(rec->stats.vmas_mapped, 27, "27 of them mappings");
	is(rec->stats.evictions, 0, "nothing evicted yet");
	is(host_vmas_held(), 56, "the process counts 56 (the window's 1)");

	/* 8 more in the window: it has nothing to evict, the other pays. */
	map_scattered(as, 0, 8, pfn);
	ok(rec->stats.evictions > 0,
	   "a flush with no room evicts another space's mappings (%llu)",
	   (unsigned long long)rec->stats.evictions);
	is(as->stats.evictions, 0, "not its own: it had none");
	ok(host_as_gen(rec) != rec_gen, "the evicted space's generation moved");
	is(host_as_gen(as), gen, "the window's did not");
	is(as->stats.vmas_mapped, 8, "the window holds its 8 pages");
	ok(host_vmas_held() <= 64, "the process holds at most 64 (%lu)",
	   host_vmas_held());
	ok(nr_recorded(rec) == 28 &&
		   is_op(rec, 27, HOST_OP_UNMAP, PG,
			 (2 * rec->stats.evictions - 1) * PG, 0, 0, 0),
	   "the record space's first pages went first, in one UNMAP (only "
	   "reservation between them)");

	/* 300 scattered maps: the window evicts its own, oldest first. */
	rec_ev = rec->stats.evictions;
	ev = as->stats.evictions;
	map_scattered(as, 8, nr - 8, pfn);
	ok(as->stats.evictions > ev, "the budget forced evictions (%llu)",
	   (unsigned long long)(as->stats.evictions - ev));
	is(as->stats.resets + rec->stats.resets, 0, "and no reset");
	is(rec->stats.evictions, rec_ev,
	   "the flushing space evicts its own mappings first");
	ok(host_as_gen(as) != gen, "each eviction moves the generation");
	all = count_maps(as->base, as->base + size, &mapped);
	ok(mapped > 0 && host_as_count_vmas(as) == mapped,
	   "count_vmas (%ld) agrees with /proc/self/maps", mapped);
	is(as->stats.vmas_mapped, mapped, "so does the model");
	is(as->stats.vmas, all, "reserved pieces included (%ld)", all);
	ok(host_vmas_held() <= 64, "the process holds at most 64 (%lu)",
	   host_vmas_held());
	is(rec->stats.vmas_mapped, 27 - rec_ev,
	   "the other space kept what it had left (%llu mappings)",
	   (unsigned long long)(27 - rec_ev));
	last = (uint8_t *)as->base + (2 * nr - 1) * PG;
	is(*last, 0x3c, "the last page mapped is there");
	is(child_access((uint8_t *)as->base + PG, 0, NULL), SIGSEGV,
	   "the first one was evicted: SIGSEGV (it is a cache)");

	host_as_free(rec);
	host_as_free(as);
	phys_put(phys, pfn);
	is(host_set_vma_budget(old), 0, "restore the budget (%lu)", old);
	is(host_vma_budget(), old, "restored");
}

/* ---- the VMA map against /proc/self/maps ---- */

struct vma_rec {
	uint64_t va, len, off;
	int prot;
	bool file;
};

struct vma_list {
	struct vma_rec v[1024];
	unsigned int nr;
};

static int collect_vma(uint64_t va, uint64_t len, int prot, bool file,
		       uint64_t off, void *arg)
{
	struct vma_list *l = arg;

	if (l->nr == 1024)
		return -ENOSPC;
	l->v[l->nr++] = (struct vma_rec){va, len, file ? off : 0, prot, file};
	return 0;
}

static struct vma_list model_list, real_list;

/* Does the space's VMA map say what /proc/self/maps says? */
static bool model_agrees(struct host_as *as, const char *when)
{
	long all = count_maps(as->base, as->base + as->size, NULL);
	unsigned int i;

	model_list.nr = real_list.nr = 0;
	if (host_as_walk_model(as, collect_vma, &model_list) ||
	    host_as_walk_vmas(as, collect_vma, &real_list)) {
		diag("%s: a walk failed", when);
		return false;
	}
	if (all != (long)as->stats.vmas ||
	    model_list.nr != as->stats.vmas_mapped) {
		diag("%s: host %ld VMAs, model %llu (%u mapped, counted %llu)",
		     when, all, (unsigned long long)as->stats.vmas,
		     model_list.nr, (unsigned long long)as->stats.vmas_mapped);
		return false;
	}
	for (i = 0; i < model_list.nr || i < real_list.nr; i++) {
		const struct vma_rec *m = &model_list.v[i],
				     *r = &real_list.v[i];

		if (i < model_list.nr && i < real_list.nr && m->va == r->va &&
		    m->len == r->len && m->prot == r->prot &&
		    m->file == r->file && m->off == r->off)
			continue;
		diag("%s: mapping %u: model %#llx+%#llx prot %d %s@%#llx, "
		     "host %#llx+%#llx prot %d %s@%#llx",
		     when, i, (unsigned long long)m->va,
		     (unsigned long long)m->len, m->prot,
		     m->file ? "file" : "zero", (unsigned long long)m->off,
		     (unsigned long long)r->va, (unsigned long long)r->len,
		     r->prot, r->file ? "file" : "zero",
		     (unsigned long long)r->off);
		return false;
	}
	return true;
}

static void test_model_splits(struct phys *phys)
{
	struct host_as *as = host_as_new_local(phys, 64 * PG);
	const int rw = PROT_READ | PROT_WRITE;

	if (!as)
		BAIL_OUT("host_as_new_local: %s", strerror(errno));
	host_as_queue(as, HOST_OP_MAP, 10 * PG, 10 * PG, 100 * PG, rw, 0);
	host_as_flush(as);
	ok(model_agrees(as, "map") && as->stats.vmas == 3,
	   "10 pages mapped: one mapping between two reserved pieces");
	host_as_queue_protect(as, 14 * PG, PG, PROT_READ, host_as_gen(as));
	host_as_flush(as);
	ok(model_agrees(as, "protect") && as->stats.vmas == 5,
	   "a page in the middle protected: the mapping splits in three");
	host_as_queue_protect(as, 14 * PG, PG, rw, host_as_gen(as));
	host_as_flush(as);
	ok(model_agrees(as, "protect back") && as->stats.vmas == 3,
	   "protected back: the host merges them, so does the model");
	host_as_queue(as, HOST_OP_UNMAP, 12 * PG, 2 * PG, 0, 0, 0);
	host_as_flush(as);
	ok(model_agrees(as, "unmap") && as->stats.vmas == 5,
	   "two pages in the middle unmapped: a hole in the mapping");
	host_as_queue(as, HOST_OP_MAP, 12 * PG, 2 * PG, 102 * PG, rw, 0);
	host_as_flush(as);
	ok(model_agrees(as, "refill") && as->stats.vmas == 3,
	   "mapped again at the next offsets: one mapping again");
	host_as_queue(as, HOST_OP_MAP_ZERO, 20 * PG, 4 * PG, 0, PROT_READ, 0);
	host_as_queue(as, HOST_OP_MAP_ZERO, 24 * PG, 4 * PG, 0, PROT_READ, 0);
	host_as_flush(as);
	ok(model_agrees(as, "zero") && as->stats.vmas == 4,
	   "zeros next to the file: a mapping of their own");
	host_as_queue(as, HOST_OP_MAP, 9 * PG, PG, 200 * PG, PROT_READ, 0);
	host_as_flush(as);
	ok(model_agrees(as, "other off") && as->stats.vmas == 5,
	   "a page before it at an offset that does not follow: its own");
	host_as_free(as);
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

#define MODEL_PAGES 256

/* A PROTECT of part of what the model says is mapped: runs in a row. */
static bool queue_random_protect(struct host_as *as)
{
	static const int file_prots[] = {PROT_READ, PROT_READ | PROT_WRITE,
					 PROT_READ | PROT_EXEC};
	unsigned int first, last;
	uint64_t start, end;
	bool zero = false;
	int prot;

	model_list.nr = 0;
	host_as_walk_model(as, collect_vma, &model_list);
	if (!model_list.nr)
		return false;
	first = rnd(model_list.nr);
	for (last = first;
	     last + 1 < model_list.nr && rnd(2) &&
	     model_list.v[last + 1].va ==
		     model_list.v[last].va + model_list.v[last].len;
	     last++)
		;
	start = model_list.v[first].va +
		rnd((uint32_t)(model_list.v[first].len / PG)) * PG;
	end = model_list.v[last].va + model_list.v[last].len -
	      rnd((uint32_t)(model_list.v[last].len / PG)) * PG;
	if (end <= start)
		return false;
	for (; first <= last; first++)
		zero |= !model_list.v[first].file;
	prot = file_prots[rnd(zero ? 1 : 3) * (zero ? 2 : 1)];
	host_as_queue_protect(as, start, end - start, prot, host_as_gen(as));
	return true;
}

static void queue_random_op(struct host_as *as)
{
	uint64_t a = rnd(MODEL_PAGES), n = 1 + rnd(16);
	int prot = rnd(2) ? PROT_READ : PROT_READ | PROT_WRITE;

	if (a + n > MODEL_PAGES)
		n = MODEL_PAGES - a;
	switch (rnd(4)) {
	case 0:
	case 1: /* offsets that follow va (so neighbours merge), or not */
		host_as_queue(as, HOST_OP_MAP, a * PG, n * PG,
			      (a + (rnd(3) ? 300 : rnd(500))) * PG, prot, 0);
		break;
	case 2:
		host_as_queue(as, HOST_OP_MAP_ZERO, a * PG, n * PG, 0,
			      PROT_READ, 0);
		break;
	default:
		host_as_queue(as, HOST_OP_UNMAP, a * PG, n * PG, 0, 0, 0);
	}
}

static void test_model_random(struct phys *phys)
{
	struct host_as *as = host_as_new_local(phys, MODEL_PAGES * PG);
	unsigned int step, k, bad = 0, protects = 0;
	long max_vmas = 0;

	if (!as)
		BAIL_OUT("host_as_new_local: %s", strerror(errno));
	for (step = 0; step < 3000 && !bad; step++) {
		char when[32];

		/* a PROTECT first, while the model is what the host has */
		if (rnd(2) && queue_random_protect(as))
			protects++;
		for (k = rnd(4); k; k--)
			queue_random_op(as);
		host_as_flush(as);
		snprintf(when, sizeof(when), "step %u", step);
		if (!model_agrees(as, when))
			bad++;
		if ((long)as->stats.vmas > max_vmas)
			max_vmas = (long)as->stats.vmas;
	}
	is(bad, 0,
	   "3000 random batches of maps, zero maps, unmaps and "
	   "protects (%u): the VMA map agrees with /proc/self/maps after "
	   "each, mapping by mapping (up to %ld VMAs)",
	   protects, max_vmas);
	ok(protects > 500 && max_vmas > 20, "the sequences were not trivial");
	host_as_free(as);
}

/*
 * Threads sharing one space, each flushing batches of its own over its own
 * pages, at once: the host sees every op (each thread's last layout is
 * there), and the VMA map, updated from both, still matches the host's.
 */
#define BT_PAGES  64
#define BT_ROUNDS 2000

struct batch_thread {
	struct host_as *as;
	uint64_t first; /* page */
	uint32_t frames[4];
	unsigned int seed;
};

static unsigned int bt_rnd(struct batch_thread *t, unsigned int n)
{
	t->seed = t->seed * 1103515245u + 12345u;
	return (t->seed >> 8) % n;
}

static void *batch_thread_main(void *arg)
{
	struct batch_thread *t = arg;
	struct host_batch b = {.nr = 0};
	unsigned int r, k, i;

	for (r = 0; r < BT_ROUNDS; r++) {
		for (k = 1 + bt_rnd(t, 4); k; k--) {
			uint64_t va = (t->first + bt_rnd(t, BT_PAGES - 4)) * PG;
			uint64_t len = (1 + bt_rnd(t, 4)) * PG;

			switch (bt_rnd(t, 3)) {
			case 0:
				host_batch_queue(
					t->as, &b, HOST_OP_MAP, va, PG,
					(uint64_t)t->frames[bt_rnd(t, 4)] * PG,
					PROT_READ, 0);
				break;
			case 1:
				host_batch_queue(t->as, &b, HOST_OP_MAP_ZERO,
						 va, len, 0, PROT_READ, 0);
				break;
			default:
				host_batch_queue(t->as, &b, HOST_OP_UNMAP, va,
						 len, 0, 0, 0);
			}
		}
		host_batch_flush(t->as, &b);
	}
	/* Last, every page on this thread's first frame. */
	for (i = 0; i < BT_PAGES; i++)
		host_batch_queue(t->as, &b, HOST_OP_MAP, (t->first + i) * PG,
				 PG, (uint64_t)t->frames[0] * PG, PROT_READ, 0);
	host_batch_flush(t->as, &b);
	return NULL;
}

static void test_batch_threads(struct phys *phys)
{
	struct host_as *as = host_as_new_local(phys, 2 * BT_PAGES * PG);
	struct batch_thread t[2];
	pthread_t th;
	unsigned int i, k, wrong = 0;

	if (!as)
		BAIL_OUT("host_as_new_local: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		t[i] = (struct batch_thread){as, i * BT_PAGES, {0}, 7 + i};
		is(phys_alloc(phys, 0, 4, t[i].frames), 4,
		   "thread %u: 4 frames", i);
		for (k = 0; k < 4; k++)
			*(uint8_t *)phys_kaddr(phys, t[i].frames[k]) =
				(uint8_t)(0x10 * (i + 1) + k);
	}
	pthread_create(&th, NULL, batch_thread_main, &t[1]);
	batch_thread_main(&t[0]);
	pthread_join(th, NULL);
	for (i = 0; i < 2 * BT_PAGES; i++)
		wrong += *((volatile uint8_t *)as->base + i * PG) !=
			 (i < BT_PAGES ? 0x10 : 0x20);
	is(wrong, 0,
	   "two threads, %u batches each, flushed at once: every "
	   "page shows its thread's last mapping",
	   BT_ROUNDS);
	ok(model_agrees(as, "after the threads"),
	   "the VMA map agrees with /proc/self/maps (%llu VMAs)",
	   (unsigned long long)as->stats.vmas);
	host_as_free(as);
	for (i = 0; i < 2; i++)
		phys_put_many(phys, t[i].frames, 4);
}

int main(void)
{
	struct phys *phys;

	test_phys_new();
	test_phys_alloc();
	test_phys_run_room();
	test_phys_zero_and_punch();
	test_phys_pool();
	test_phys_refcount();
	test_phys_scatter();

	phys = phys_new(1024 * PG);
	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	test_queue_merge(phys);
	test_queue_full(phys);
	test_queue_no_merge(phys);
	test_local_window(phys);
	test_local_map(phys);
	test_local_count(phys);
	test_model_splits(phys);
	test_model_random(phys);
	test_batch_threads(phys);
	test_vma_budget(phys);
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "every frame of physical memory is free again");
	phys_free(phys);
	return done_testing();
}
