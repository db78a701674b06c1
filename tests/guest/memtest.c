// SPDX-License-Identifier: MIT
/*
 * The memory calls a guest makes, each checked against what Linux does:
 * mmap, mprotect, mremap (grow, move, MREMAP_FIXED, shrink), munmap, brk
 * growth and shrink, madvise(MADV_DONTNEED), mincore and msync, with their
 * contents and their errnos. One line per check; exit 0 when all pass.
 *
 * brk is the raw syscall: musl's sbrk() refuses anything but 0, and no
 * malloc runs here to share the break with. So is mprotect where its
 * errno is checked: musl's wrapper rounds the address down.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "guest.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PG 4096UL

static char *map(size_t len, int prot, int flags)
{
	char *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* A free range of len bytes: mapped, then unmapped again. */
static char *hole(size_t len)
{
	char *p = map(len, PROT_NONE, MAP_PRIVATE);

	munmap(p, len);
	return p;
}

static int mapped(void *p)
{
	unsigned char v;

	return mincore(p, PG, &v) == 0;
}

/* Every byte of [p, p + len) equals c. */
static int all(const char *p, size_t len, char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static void test_mmap(void)
{
	char *p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	check(all(p, 4 * PG, 0), "mmap: fresh anonymous memory reads zero");
	memset(p, 'a', 4 * PG);
	check(all(p, 4 * PG, 'a'), "mmap: 4 pages written and read back");
	CHECK_ERRNO(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		    EINVAL, "mmap: length 0");
	CHECK_ERRNO(mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL,
		    "mmap: neither MAP_SHARED nor MAP_PRIVATE");
	CHECK_ERRNO(mmap(p + 1, PG, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		    EINVAL, "mmap: MAP_FIXED at an unaligned address");
	CHECK_ERRNO(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, -1, 0), EBADF,
		    "mmap: a file mapping of fd -1");
	CHECK_ERRNO(mmap(p, PG, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
		    EEXIST, "mmap: MAP_FIXED_NOREPLACE over a mapping");
	check(all(p, 4 * PG, 'a'), "mmap: the refused calls left the contents");

	char *q = mmap(p + PG, PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check(q == p + PG && all(q, PG, 0) && all(p, PG, 'a') &&
		      all(p + 2 * PG, 2 * PG, 'a'),
	      "mmap: MAP_FIXED replaces one page with zeroes, the rest kept");

	char *big = map(16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	for (size_t i = 0; i < (16 << 20); i += PG)
		big[i] = (char)(i / PG);
	int ok = 1;
	for (size_t i = 0; i < (16 << 20); i += PG)
		ok &= big[i] == (char)(i / PG) && big[i + 1] == 0;
	check(ok, "mmap: 16 MiB touched page by page and read back");
	check(munmap(big, 16 << 20) == 0, "munmap: 16 MiB");

	char *s = map(2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);
	memset(s, 's', 2 * PG);
	check(all(s, 2 * PG, 's'), "mmap: shared anonymous memory");
	munmap(s, 2 * PG);
	munmap(p, 4 * PG);
}

static void test_mprotect(void)
{
	char *p = map(3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	memset(p, 'm', 3 * PG);
	check(mprotect(p + PG, PG, PROT_READ) == 0, "mprotect: middle page read-only");
	check(all(p, 3 * PG, 'm'), "mprotect: contents kept through mprotect");
	check(mprotect(p, 3 * PG, PROT_NONE) == 0 &&
		      mprotect(p, 3 * PG, PROT_READ | PROT_WRITE) == 0,
	      "mprotect: PROT_NONE and back");
	p[PG] = 'n';
	check(p[PG] == 'n' && all(p + 2 * PG, PG, 'm'),
	      "mprotect: writable again, contents kept");
	/* The raw call: musl's mprotect() rounds the address down. */
	CHECK_ERRNO(syscall(SYS_mprotect, p + 1, PG, PROT_READ), EINVAL,
		    "mprotect: unaligned address");
	CHECK_ERRNO(syscall(SYS_mprotect, p, PG, 0x1000), EINVAL,
		    "mprotect: unknown prot bit");
	char *h = hole(2 * PG);
	CHECK_ERRNO(mprotect(h, PG, PROT_READ), ENOMEM, "mprotect: unmapped range");
	munmap(p, 3 * PG);
}

static void test_munmap(void)
{
	char *p = map(3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	memset(p, 'u', 3 * PG);
	CHECK_ERRNO(munmap(p + 1, PG), EINVAL, "munmap: unaligned address");
	CHECK_ERRNO(munmap(p, 0), EINVAL, "munmap: length 0");
	check(munmap(p + PG, PG) == 0, "munmap: the middle page");
	check(!mapped(p + PG) && mapped(p) && mapped(p + 2 * PG),
	      "munmap: a hole between two mapped pages (mincore)");
	check(all(p, PG, 'u') && all(p + 2 * PG, PG, 'u'),
	      "munmap: both sides keep their contents");
	check(munmap(p + PG, PG) == 0, "munmap: an unmapped range is no error");
	munmap(p, 3 * PG);
}

static void test_mremap(void)
{
	/* Grow in place: room made by unmapping what follows. */
	char *p = map(8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	munmap(p + 2 * PG, 6 * PG);
	memset(p, 'r', 2 * PG);
	char *q = mremap(p, 2 * PG, 4 * PG, 0);
	check(q == p, "mremap: grow in place (got %p, want %p)", (void *)q, (void *)p);
	if (q == p)
		check(all(p, 2 * PG, 'r') && all(p + 2 * PG, 2 * PG, 0),
		      "mremap: grown in place: old contents, new pages zero");

	/* A page mapped right after blocks growth in place. */
	char *b = mmap(p + 4 * PG, PG, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (b != p + 4 * PG)
		die("mmap blocker");
	CHECK_ERRNO(mremap(p, 4 * PG, 6 * PG, 0), ENOMEM,
		    "mremap: grow without room and without MREMAP_MAYMOVE");

	/* Move. */
	q = mremap(p, 4 * PG, 6 * PG, MREMAP_MAYMOVE);
	if (check(q != MAP_FAILED && q != p, "mremap: MREMAP_MAYMOVE moves it")) {
		check(all(q, 2 * PG, 'r') && all(q + 2 * PG, 4 * PG, 0),
		      "mremap: moved: contents kept, new pages zero");
		check(!mapped(p), "mremap: moved: the old address is unmapped");
		q[5 * PG] = 'x';
		check(q[5 * PG] == 'x', "mremap: moved: the grown tail is writable");
	} else {
		q = p;
	}
	munmap(b, PG);

	/* MREMAP_FIXED onto a mapping of its own: replaces it. */
	char *t = map(6 * PG, PROT_READ, MAP_PRIVATE);
	char *f = mremap(q, 6 * PG, 6 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	if (check(f == t, "mremap: MREMAP_FIXED to a chosen address")) {
		check(all(f, 2 * PG, 'r') && f[5 * PG] == 'x',
		      "mremap: MREMAP_FIXED: contents arrive");
		check(!mapped(q), "mremap: MREMAP_FIXED: the source is unmapped");
		q = f;
	}
	CHECK_ERRNO(mremap(q, PG, PG, MREMAP_FIXED, hole(PG)), EINVAL,
		    "mremap: MREMAP_FIXED without MREMAP_MAYMOVE");
	CHECK_ERRNO(mremap(q, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
			   q + 2 * PG),
		    EINVAL, "mremap: MREMAP_FIXED onto an overlapping range");
	CHECK_ERRNO(mremap(q + 1, PG, 2 * PG, MREMAP_MAYMOVE), EINVAL,
		    "mremap: unaligned address");
	CHECK_ERRNO(mremap(q, PG, 0, MREMAP_MAYMOVE), EINVAL, "mremap: new size 0");
	CHECK_ERRNO(mremap(hole(PG), PG, 2 * PG, MREMAP_MAYMOVE), EFAULT,
		    "mremap: an unmapped source");

	/* Shrink. */
	char *s = mremap(q, 6 * PG, PG, 0);
	check(s == q && all(q, PG, 'r') && !mapped(q + PG) && !mapped(q + 5 * PG),
	      "mremap: shrink to one page, the tail unmapped");
	munmap(q, PG);
}

static uintptr_t sys_brk(uintptr_t addr)
{
	return (uintptr_t)syscall(SYS_brk, addr);
}

static void test_brk(void)
{
	uintptr_t start = sys_brk(0);
	uintptr_t base = (start + PG - 1) & ~(PG - 1);
	char *h = (char *)base;

	check(start != 0 && start != (uintptr_t)-1, "brk: brk(0) gives the break");
	check(sys_brk(base + 64 * 1024) == base + 64 * 1024, "brk: grow by 64 KiB");
	check(all(h, 64 * 1024, 0), "brk: new heap reads zero");
	memset(h, 'b', 64 * 1024);
	check(all(h, 64 * 1024, 'b'), "brk: heap written and read back");
	check(sys_brk(base + 16 * 1024) == base + 16 * 1024, "brk: shrink to 16 KiB");
	check(!mapped(h + 16 * 1024) && mapped(h),
	      "brk: shrunk: the top is unmapped, the bottom mapped");
	check(sys_brk(base + 64 * 1024) == base + 64 * 1024, "brk: grow again");
	check(all(h, 16 * 1024, 'b') && all(h + 16 * 1024, 48 * 1024, 0),
	      "brk: grown again: kept below the old break, zero above");
	check(sys_brk(4096) == base + 64 * 1024,
	      "brk: below the start of the heap: refused, break unchanged");

	/* A mapping in the way: brk refuses to grow over it. */
	char *w = mmap(h + 128 * 1024, PG, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (w == h + 128 * 1024) {
		check(sys_brk(base + 192 * 1024) == base + 64 * 1024,
		      "brk: refused over a mapping, break unchanged");
		munmap(w, PG);
	} else {
		say("memtest: skip: brk over a mapping (address taken)\n");
		if (w != MAP_FAILED)
			munmap(w, PG);
	}
	check(sys_brk(start) == start, "brk: back to where it started");
}

static void test_madvise(void)
{
	char *p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	char *s = map(2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);

	memset(p, 'd', 4 * PG);
	memset(s, 'h', 2 * PG);
	check(madvise(p + PG, 2 * PG, MADV_DONTNEED) == 0, "madvise: MADV_DONTNEED");
	check(all(p + PG, 2 * PG, 0) && all(p, PG, 'd') && all(p + 3 * PG, PG, 'd'),
	      "madvise: MADV_DONTNEED zeroes private anonymous pages, only those");
	check(madvise(s, 2 * PG, MADV_DONTNEED) == 0 && all(s, 2 * PG, 'h'),
	      "madvise: MADV_DONTNEED keeps shared anonymous contents");
	check(madvise(p, 4 * PG, MADV_WILLNEED) == 0, "madvise: MADV_WILLNEED");
	CHECK_ERRNO(madvise(p + 1, PG, MADV_DONTNEED), EINVAL,
		    "madvise: unaligned address");
	CHECK_ERRNO(madvise(p, PG, 12345), EINVAL, "madvise: unknown advice");
	CHECK_ERRNO(madvise(hole(2 * PG), PG, MADV_DONTNEED), ENOMEM,
		    "madvise: unmapped range");
	munmap(p, 4 * PG);
	munmap(s, 2 * PG);
}

static void test_mincore_msync(void)
{
	char *p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	unsigned char vec[4] = {0xff, 0xff, 0xff, 0xff};

	p[0] = 1;
	check(mincore(p, 4 * PG, vec) == 0, "mincore: 4 pages");
	check(vec[0] & 1, "mincore: a written page is resident");
	check((vec[0] | vec[1] | vec[2] | vec[3]) <= 1,
	      "mincore: only bit 0 is used (%#x %#x %#x %#x)", vec[0], vec[1],
	      vec[2], vec[3]);
	CHECK_ERRNO(mincore(p + 1, PG, vec), EINVAL, "mincore: unaligned address");
	CHECK_ERRNO(mincore(hole(PG), PG, vec), ENOMEM, "mincore: unmapped range");
	CHECK_ERRNO(mincore(p, PG, (unsigned char *)hole(PG)), EFAULT,
		    "mincore: an unmapped vector");

	check(msync(p, 4 * PG, MS_SYNC) == 0, "msync: MS_SYNC");
	check(msync(p, PG, MS_ASYNC | MS_INVALIDATE) == 0,
	      "msync: MS_ASYNC|MS_INVALIDATE");
	CHECK_ERRNO(msync(p, PG, MS_SYNC | MS_ASYNC), EINVAL,
		    "msync: MS_SYNC and MS_ASYNC");
	CHECK_ERRNO(msync(p + 1, PG, MS_SYNC), EINVAL, "msync: unaligned address");
	CHECK_ERRNO(msync(hole(PG), PG, MS_SYNC), ENOMEM, "msync: unmapped range");
	munmap(p, 4 * PG);
}

/*
 * A syscall that reads or writes a bad guest pointer gets EFAULT. Only
 * calls that need no file: the reads into pipes are in pipes.c, a path
 * in bad memory in readfile.c.
 */
static void test_efault(void)
{
	char *bad = hole(PG);
	char *none = map(PG, PROT_NONE, MAP_PRIVATE);
	char *ro = map(PG, PROT_READ, MAP_PRIVATE);

	CHECK_ERRNO(write(1, bad, 16), EFAULT, "write: from an unmapped buffer");
	CHECK_ERRNO(write(1, none, 16), EFAULT, "write: from a PROT_NONE buffer");
	CHECK_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, ro), EFAULT,
		    "clock_gettime: into a read-only page");
	CHECK_ERRNO(syscall(SYS_uname, bad), EFAULT, "uname: into an unmapped page");
	CHECK_ERRNO(syscall(SYS_getrandom, ro, 16, 0), EFAULT,
		    "getrandom: into a read-only page");
	CHECK_ERRNO(syscall(SYS_nanosleep, bad, NULL), EFAULT,
		    "nanosleep: a request in unmapped memory");
	CHECK_ERRNO(syscall(SYS_rt_sigaction, SIGUSR1, none, NULL, 8), EFAULT,
		    "rt_sigaction: an action in a PROT_NONE page");
	CHECK_ERRNO(syscall(SYS_wait4, -1, bad, WNOHANG, NULL), ECHILD,
		    "wait4: no child (ECHILD before the status pointer matters)");
	check(all(ro, PG, 0), "the read-only page is still zero");
	munmap(none, PG);
	munmap(ro, PG);
}

int main(void)
{
	guest_name = "memtest";
	test_mmap();
	test_mprotect();
	test_munmap();
	test_mremap();
	test_brk();
	test_madvise();
	test_mincore_msync();
	test_efault();
	return guest_exit();
}
