// SPDX-License-Identifier: MIT
/*
 * get_user_pages through the public API: flag checks, ranges with holes,
 * FOLL_FORCE's copy-on-write into read-only private mappings (seed 001) and
 * its refusals, the zero page, read-only pins that unshare first (seed
 * 003), pins that outlive the mapping, exact page counts, and page-cache
 * frames of shmem mappings. Every GUP here is remote: no guest code runs
 * while it works. Where Linux is the reference, the native behaviour was
 * read through /proc/self/mem (FOLL_FORCE) and is compared at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/common.h"

static struct umm_phys *phys;

static struct umm_mm *mm_new(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);

	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	return mm;
}

static uint64_t map(struct umm_mm *mm, uint64_t len, int prot, int flags,
		    struct umm_file *file)
{
	long a = umm_mmap(mm, 0, len, prot, flags, file, 0);

	if (a < 0)
		BAIL_OUT("umm_mmap: %s", strerror((int)-a));
	return (uint64_t)a;
}

static uint64_t map_anon(struct umm_mm *mm, uint64_t len, int prot)
{
	return map(mm, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, NULL);
}

static struct umm_page_state state(struct umm_page *page)
{
	struct umm_page_state st;

	memset(&st, 0xff, sizeof(st));
	umm_page_state(page, &st);
	return st;
}

static uint8_t *kaddr(struct umm_page *page)
{
	return umm_page_addr(page);
}

static uint8_t peek(struct umm_mm *mm, uint64_t va)
{
	uint8_t v = 0xee;

	if (guest_read(mm, va, &v))
		return 0xee;
	return v;
}

static uint64_t frames_used(void)
{
	return umm_phys_frames_total(phys) - umm_phys_frames_free(phys);
}

/* A host file of @len bytes of 'f', ending in "tail", opened in umm. */
static struct umm_file *host_file(char *path, uint64_t len, int *fdp)
{
	char *buf = malloc(len);
	int fd = mkstemp(path);
	struct umm_file *f;

	if (!buf || fd < 0)
		BAIL_OUT("host file: %s", strerror(errno));
	memset(buf, 'f', len);
	memcpy(buf + len - 4, "tail", 4);
	if (write(fd, buf, len) != (ssize_t)len)
		BAIL_OUT("write: %s", strerror(errno));
	free(buf);
	f = umm_file_open(phys, path);
	if (!f)
		BAIL_OUT("umm_file_open: %s", strerror(errno));
	*fdp = fd;
	return f;
}

static bool host_file_unchanged(int fd, uint64_t len)
{
	char *buf = malloc(len);
	bool same = buf && pread(fd, buf, len, 0) == (ssize_t)len;
	uint64_t i;

	for (i = 0; same && i < len - 4; i++)
		same = buf[i] == 'f';
	same = same && !memcmp(buf + len - 4, "tail", 4);
	free(buf);
	return same;
}

static void expect_accerr(struct umm_mm *mm, uint64_t va, int write,
			  const char *what)
{
	siginfo_t si;
	uint8_t v = 0x66;

	memset(&si, 0, sizeof(si));
	is(guest_access(mm, va, write, &v, &si), SIGSEGV, "%s: SIGSEGV", what);
	is(si.si_code, SEGV_ACCERR, "%s: SEGV_ACCERR", what);
}

/* ---- flags ---- */

static void test_flags(void)
{
	struct umm_mm *mm = mm_new();
	uint64_t a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	struct umm_page *pg[4] = { NULL };
	struct umm_stats st0, st;
	unsigned int bit;
	bool all_einval = true;

	umm_mm_stats(mm, &st0);
	is(umm_gup(mm, a, 1, UMM_FOLL_GET | UMM_FOLL_PIN, pg), -EINVAL,
	   "GET and PIN together: EINVAL");
	is(umm_gup(mm, a, 1, UMM_FOLL_GET | UMM_FOLL_LONGTERM, pg), -EINVAL,
	   "LONGTERM with GET: EINVAL");
	is(umm_gup(mm, a, 1, UMM_FOLL_LONGTERM, NULL), -EINVAL,
	   "LONGTERM without PIN, no pages: EINVAL");
	for (bit = 0; bit < 32; bit++) {
		unsigned int f = 1U << bit;

		if (f & UMM_FOLL_ALL)
			continue;
		if (umm_gup(mm, a, 1, UMM_FOLL_GET | f, pg) != -EINVAL ||
		    umm_gup(mm, a, 1, f, NULL) != -EINVAL) {
			all_einval = false;
			diag("unknown flag %#x accepted", f);
		}
	}
	ok(all_einval, "each unknown flag bit: EINVAL, with or without pages");
	is(umm_gup(mm, a, 1, 0, pg), -EINVAL, "pages without GET/PIN: EINVAL");
	is(umm_gup(mm, a, 1, UMM_FOLL_WRITE | UMM_FOLL_FORCE, pg), -EINVAL,
	   "pages with WRITE|FORCE but no GET/PIN: EINVAL");
	is(umm_gup(mm, a, -1, UMM_FOLL_GET, pg), -EINVAL,
	   "a negative nr_pages: EINVAL");
	is(umm_gup(mm, a, 0, UMM_FOLL_GET | UMM_FOLL_PIN, pg), -EINVAL,
	   "bad flags are refused before nr_pages 0 is looked at");
	ok(!pg[0], "no page handed out by a refused call");
	umm_mm_stats(mm, &st);
	ok(st.fault_anon_zero == st0.fault_anon_zero &&
	   st.fault_anon == st0.fault_anon, "refused calls fault nothing in");

	is(umm_gup(mm, a, 0, UMM_FOLL_GET, pg), 0, "nr_pages 0: 0");
	is(umm_gup(mm, a, 0, UMM_FOLL_PIN, NULL), 0,
	   "nr_pages 0 with no pages array: 0");
	is(umm_gup(mm, 0x1000, 0, UMM_FOLL_GET, pg), 0,
	   "nr_pages 0 at an unmapped address: 0, not EFAULT");

	is(umm_gup(mm, a, 4, 0, NULL), 4,
	   "no pages array and no GET/PIN: faults 4 pages in for reading");
	umm_mm_stats(mm, &st);
	ok(st.fault_anon_zero > st0.fault_anon_zero,
	   "through a zero-page fault");
	is(frames_used(), 0, "reading takes no frame");
	is(umm_gup(mm, a, 4, UMM_FOLL_WRITE, NULL), 4,
	   "no pages array with WRITE: faults 4 pages in for writing");
	is(frames_used(), 4, "4 frames allocated");
	is(peek(mm, a + 3 * PG + 9), 0, "the guest reads zeros there");
	is(guest_write(mm, a + 2 * PG, 7), 0, "and writes without a COW fault");
	umm_mm_stats(mm, &st);
	is(st.fault_cow, 0, "no copy on write was needed");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* ---- ranges ---- */

static void test_ranges(void)
{
	struct umm_mm *mm = mm_new();
	uint64_t a = map_anon(mm, 6 * PG, PROT_READ | PROT_WRITE);
	struct umm_page *pg[8];
	long n;
	int i;

	guest_fill(mm, a, 6 * PG, 5);
	is(umm_munmap(mm, a + 3 * PG, PG), 0, "a hole at page 3 of 6");
	is(umm_gup(mm, a + 3 * PG, 1, UMM_FOLL_GET, pg), -EFAULT,
	   "no vma at the first page: EFAULT");
	is(umm_gup(mm, a + 3 * PG, 2, UMM_FOLL_GET, pg), -EFAULT,
	   "no vma at the first page, a vma at the second: EFAULT");
	is(umm_gup(mm, 0, 1, UMM_FOLL_GET, pg), -EFAULT, "address 0: EFAULT");
	is(umm_gup(mm, 1ULL << 32, 1, UMM_FOLL_GET, pg), -EFAULT,
	   "at task_size: EFAULT");
	is(umm_gup(mm, ~0ULL - 5, 1, UMM_FOLL_GET, pg), -EFAULT,
	   "the last page of the 64-bit space: EFAULT");
	is(umm_gup(mm, a, 1L << 52, 0, NULL), 3,
	   "a count whose byte length wraps stops at the first hole");

	n = umm_gup(mm, a, 6, UMM_FOLL_GET, pg);
	is(n, 3, "a range that runs into a hole: the 3 pages before it");
	for (i = 0; i < n && i < 3; i++) {
		ok(kaddr(pg[i])[0] == (uint8_t)(i * 31 + 5),
		   "page %d is the guest's page %d", i, i);
		umm_put_page(pg[i]);
	}
	n = umm_gup(mm, a + 4 * PG, 4, UMM_FOLL_PIN, pg);
	is(n, 2, "a range that runs off the end of the last vma: 2");
	umm_unpin(pg, n, false);

	n = umm_gup(mm, a + PG + 123, 1, UMM_FOLL_GET, pg);
	is(n, 1, "an unaligned start");
	ok(kaddr(pg[0])[0] == (uint8_t)(31 + 5) &&
	   kaddr(pg[0])[123] == (uint8_t)(31 + 123 * 7 + 5),
	   "gives the page containing it, from its first byte");
	umm_put_page(pg[0]);
	n = umm_gup(mm, a + 3 * PG - 1, 2, UMM_FOLL_GET, pg);
	is(n, 1, "unaligned, 2 pages, the second in the hole: 1");
	ok(n >= 1 && kaddr(pg[0])[0] == (uint8_t)(2 * 31 + 5),
	   "the page of the start address");
	for (i = 0; i < n; i++)
		umm_put_page(pg[i]);

	/* Neighbouring vmas with different protections count as one range. */
	is(umm_mprotect(mm, a + PG, PG, PROT_READ), 0,
	   "page 1 made read-only (3 vmas before the hole)");
	n = umm_gup(mm, a, 3, UMM_FOLL_GET, pg);
	is(n, 3, "reading across the three vmas: 3");
	for (i = 0; i < n; i++)
		umm_put_page(pg[i]);
	n = umm_gup(mm, a, 3, UMM_FOLL_GET | UMM_FOLL_WRITE, pg);
	is(n, 1, "writing: stops at the read-only vma");
	for (i = 0; i < n; i++)
		umm_put_page(pg[i]);
	is(umm_gup(mm, a + PG, 1, UMM_FOLL_GET | UMM_FOLL_WRITE, pg), -EFAULT,
	   "FOLL_WRITE on a PROT_READ private page: EFAULT");
	is(umm_gup(mm, a + PG, 1, UMM_FOLL_WRITE, NULL), -EFAULT,
	   "and without a pages array");
	is(umm_mprotect(mm, a + PG, PG, PROT_NONE), 0, "page 1 PROT_NONE");
	is(umm_gup(mm, a + PG, 1, UMM_FOLL_GET, pg), -EFAULT,
	   "a read of PROT_NONE without FOLL_FORCE: EFAULT");
	n = umm_gup(mm, a, 3, UMM_FOLL_PIN, pg);
	is(n, 1, "a read range stops at the PROT_NONE page");
	umm_unpin(pg, n, false);
	is(peek(mm, a + 2 * PG), (uint8_t)(2 * 31 + 5),
	   "the guest's pages are as they were");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* A file mapping that runs past the end of the file: EFAULT (SIGBUS). */
static void test_past_eof(void)
{
	char path[] = "/tmp/umm-gup-XXXXXX";
	struct umm_mm *mm = mm_new();
	struct umm_file *sh = umm_shmem_new(phys, PG + 10);
	int fd;
	struct umm_file *f = host_file(path, PG + 10, &fd);
	struct umm_page *pg[4];
	uint64_t a = map(mm, 4 * PG, PROT_READ, MAP_PRIVATE, f);
	uint64_t b = map(mm, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	long n;

	n = umm_gup(mm, a, 4, UMM_FOLL_GET, pg);
	is(n, 2, "private file mapping of a 2-page file: 2 of 4 pages");
	ok(n == 2 && !memcmp(kaddr(pg[1]) + 6, "tail", 4) &&
	   kaddr(pg[1])[10] == 0, "the last page: the file's tail, then zeros");
	umm_put_page(pg[0]);
	umm_put_page(pg[1]);
	is(umm_gup(mm, a + 2 * PG, 1, UMM_FOLL_GET, pg), -EFAULT,
	   "wholly past the end of the file: EFAULT");
	n = umm_gup(mm, b, 4, UMM_FOLL_GET | UMM_FOLL_WRITE, pg);
	is(n, 2, "writing a shared shmem mapping: 2 of 4 pages");
	umm_put_page(pg[0]);
	umm_put_page(pg[1]);
	is(umm_gup(mm, b + 3 * PG, 1, UMM_FOLL_PIN | UMM_FOLL_WRITE, pg),
	   -EFAULT, "past its end: EFAULT");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(f);
	umm_file_put(sh);
	close(fd);
	unlink(path);
	check_frames_free(phys);
}

/*
 * The host kernel as the oracle: one byte read or written at @p through
 * /proc/self/mem, which GUPs with FOLL_FORCE. 1, or -errno (EIO where GUP
 * refused).
 */
static int native_mem(void *p, int write, char *b)
{
	int fd = open("/proc/self/mem", O_RDWR), err;
	ssize_t n;

	if (fd < 0)
		return -1000;
	n = write ? pwrite(fd, b, 1, (off_t)(uintptr_t)p)
		  : pread(fd, b, 1, (off_t)(uintptr_t)p);
	err = errno;
	close(fd);
	return n == 1 ? 1 : -err;
}

/* A forced write into a native PROT_READ mapping: 1 when it lands. */
static int native_force_write(int flags, int fd)
{
	char *p = mmap(NULL, PG, PROT_READ, flags, fd, 0);
	char b = 'N';
	int n;

	if (p == MAP_FAILED)
		return -1000;
	n = native_mem(p, 1, &b);
	if (n == 1 && p[0] != 'N')
		n = -2000;
	munmap(p, PG);
	return n;
}

/* ---- FOLL_FORCE ---- */

/*
 * FOLL_WRITE|FOLL_FORCE on a PROT_READ private page at @va (ptrace's poke):
 * the page becomes a private exclusive copy, the kernel's write lands in
 * it, and the guest still cannot write.
 */
static void force_write(struct umm_mm *mm, uint64_t va, uint8_t old,
			const char *what)
{
	unsigned int flags = UMM_FOLL_GET | UMM_FOLL_WRITE | UMM_FOLL_FORCE;
	struct umm_page *pg, *again;
	struct umm_page_state st;

	is(umm_gup(mm, va, 1, UMM_FOLL_GET | UMM_FOLL_WRITE, &pg), -EFAULT,
	   "%s: FOLL_WRITE alone: EFAULT", what);
	if (!is(umm_gup(mm, va, 1, flags, &pg), 1,
		"%s: FOLL_WRITE|FOLL_FORCE succeeds", what))
		return;
	st = state(pg);
	ok(st.anon && st.anon_exclusive && !st.zero_page,
	   "%s: the page is a private exclusive anonymous copy", what);
	is(st.mapcount, 1, "%s: mapped once", what);
	is(st.refcount, 2, "%s: the pte's reference and ours", what);
	is(kaddr(pg)[1], old, "%s: the copy holds the old contents", what);
	kaddr(pg)[0] = 0xa5;
	is(peek(mm, va), 0xa5, "%s: the guest reads the kernel's write", what);
	is(peek(mm, va + 1), old, "%s: and the rest as it was", what);
	expect_accerr(mm, va, 1, what);
	is(umm_gup(mm, va, 1, flags, &again), 1,
	   "%s: forcing again", what);
	is(state(again).pfn, st.pfn, "%s: reuses the copy", what);
	umm_put_page(again);
	umm_put_page(pg);
	is(state(pg).refcount, 1, "%s: put: the pte's reference left", what);
}

static void test_force_anon(void)
{
	struct umm_mm *mm = mm_new(), *child;
	uint64_t a = map_anon(mm, 4 * PG, PROT_READ);
	uint64_t b = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	uint64_t used;

	is(native_force_write(MAP_PRIVATE | MAP_ANONYMOUS, -1), 1,
	   "native: a forced write into PROT_READ private anon works");
	force_write(mm, a, 0, "untouched PROT_READ anon");
	peek(mm, a + 2 * PG);
	force_write(mm, a + 2 * PG, 0, "PROT_READ anon, zero page mapped");
	guest_fill(mm, b, 4 * PG, 9);
	umm_mprotect(mm, b, 4 * PG, PROT_READ);
	force_write(mm, b, 9 + 7, "PROT_READ anon with data");

	/* A page shared with a child: the force copies, the child keeps it. */
	child = umm_fork(mm);
	ok(child != NULL, "fork");
	used = frames_used();
	force_write(mm, b + PG, (uint8_t)(31 + 7 + 9),
		    "PROT_READ anon shared with a child");
	is(frames_used(), used + 1, "one frame for the copy");
	is(peek(child, b + PG), (uint8_t)(31 + 9),
	   "the child still reads its page");
	/* guest_fill's pattern PG further on: the seed plus 31 per page. */
	is(guest_check(child, b + PG, 3 * PG, 9 + 31), 0,
	   "the child's pages are all unchanged");
	check_mm_coherent(child);
	umm_mm_put(child);
	check_mm_coherent(mm);
	umm_mm_put(mm);
	check_frames_free(phys);
}

static void test_force_file(void)
{
	char path[] = "/tmp/umm-gup-XXXXXX";
	struct umm_mm *mm = mm_new();
	int fd;
	struct umm_file *f = host_file(path, 3 * PG, &fd);
	struct umm_file *sh = umm_shmem_new(phys, 2 * PG);
	uint64_t a = map(mm, 3 * PG, PROT_READ, MAP_PRIVATE, f);
	uint64_t fs = map(mm, 3 * PG, PROT_READ, MAP_SHARED, f);
	uint64_t s = map(mm, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	uint64_t p;
	struct umm_page *cache, *pg;

	{
		int rofd = open(path, O_RDONLY);

		is(native_force_write(MAP_PRIVATE, rofd), 1,
		   "native: a forced write into a PROT_READ private mapping "
		   "of a read-only file works");
		close(rofd);
		ok(host_file_unchanged(fd, 3 * PG),
		   "native: and leaves the file as it was");
	}
	force_write(mm, a, 'f', "untouched private file page");
	peek(mm, a + PG);
	force_write(mm, a + PG, 'f', "private file page mapped");
	is(peek(mm, fs), 'f', "a shared mapping of the file still reads it");
	is(umm_gup(mm, fs + PG, 1, UMM_FOLL_GET, &cache), 1,
	   "the page-cache frame, through the shared mapping");
	is(umm_gup(mm, a + PG, 1, UMM_FOLL_GET, &pg), 1,
	   "the private copy");
	ok(state(cache).pfn != state(pg).pfn && !state(cache).anon,
	   "two frames: the file's and the copy");
	is(kaddr(cache)[0], 'f', "the page cache is unchanged");
	umm_put_page(cache);
	umm_put_page(pg);
	ok(host_file_unchanged(fd, 3 * PG), "the host file is unchanged");

	/* A private mapping of shmem: the shmem file is not written either. */
	guest_fill(mm, s, 2 * PG, 4);
	p = map(mm, 2 * PG, PROT_READ, MAP_PRIVATE, sh);
	force_write(mm, p + PG, (uint8_t)(31 + 7 + 4),
		    "private mapping of shmem");
	is(guest_check(mm, s, 2 * PG, 4), 0,
	   "the shmem file's shared mapping is unchanged");

	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(f);
	umm_file_put(sh);
	close(fd);
	unlink(path);
	check_frames_free(phys);
}

/* Shared mappings are never forced: is_cow_mapping is false. */
static void test_force_shared(void)
{
	char path[] = "/tmp/umm-gup-XXXXXX";
	unsigned int flags = UMM_FOLL_GET | UMM_FOLL_WRITE | UMM_FOLL_FORCE;
	struct umm_mm *mm = mm_new();
	int fd;
	struct umm_file *f = host_file(path, PG, &fd);
	struct umm_file *sh = umm_shmem_new(phys, PG);
	uint64_t a = map(mm, PG, PROT_READ, MAP_SHARED, f);
	uint64_t b = map(mm, PG, PROT_READ, MAP_SHARED, sh);
	uint64_t c = map(mm, PG, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, NULL);
	struct umm_page *pg;
	int rofd = open(path, O_RDONLY), mfd = memfd_create("gup", 0);

	if (ftruncate(mfd, PG))
		BAIL_OUT("memfd: %s", strerror(errno));
	is(native_force_write(MAP_SHARED, rofd), -EIO,
	   "native: a forced write, shared mapping of a read-only file: "
	   "refused");
	is(native_force_write(MAP_SHARED, mfd), -EIO,
	   "native: shared PROT_READ mapping of a writable memfd: refused");
	is(native_force_write(MAP_SHARED | MAP_ANONYMOUS, -1), -EIO,
	   "native: shared PROT_READ anonymous mapping: refused");
	close(rofd);
	close(mfd);
	is(umm_gup(mm, a, 1, flags, &pg), -EFAULT,
	   "FOLL_FORCE write, shared mapping of a read-only host file: "
	   "EFAULT");
	peek(mm, a);
	is(umm_gup(mm, a, 1, flags, &pg), -EFAULT, "also once it is mapped");
	is(umm_gup(mm, b, 1, flags, &pg), -EFAULT,
	   "shared PROT_READ mapping of writable shmem: EFAULT");
	is(umm_gup(mm, c, 1, flags, &pg), -EFAULT,
	   "shared PROT_READ anonymous mapping: EFAULT");
	is(umm_gup(mm, a, 1, UMM_FOLL_GET | UMM_FOLL_FORCE, &pg), 1,
	   "a forced read is fine");
	is(kaddr(pg)[0], 'f', "and sees the file");
	umm_put_page(pg);
	ok(host_file_unchanged(fd, PG), "the host file is unchanged");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(f);
	umm_file_put(sh);
	close(fd);
	unlink(path);
	check_frames_free(phys);
}

/*
 * PROT_NONE with FOLL_FORCE. Linux (read and write through /proc/self/mem,
 * which uses FOLL_FORCE, checked in a native mapping below): a forced read
 * of a PROT_NONE mapping succeeds, it only needs VM_MAYREAD; a forced write
 * into a private one succeeds too (it is a COW mapping), the guest still
 * cannot touch the page.
 */
static int native_force(int write, int with_data)
{
	char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char b = 'N';
	int n;

	if (p == MAP_FAILED)
		return -1000;
	if (with_data)
		p[0] = 'd';
	mprotect(p, PG, PROT_NONE);
	n = native_mem(p, write, &b);
	mprotect(p, PG, PROT_READ);
	if (n == 1 && write)
		n = p[0] == 'N' ? 1 : -2000;
	else if (n == 1)
		n = b == (with_data ? 'd' : 0) ? 1 : -2000;
	munmap(p, PG);
	return n;
}

static void test_force_protnone(void)
{
	struct umm_mm *mm = mm_new(), *child;
	struct umm_file *sh = umm_shmem_new(phys, PG);
	uint64_t a = map_anon(mm, 4 * PG, PROT_NONE);
	uint64_t u = map_anon(mm, 4 * PG, PROT_NONE);
	uint64_t b = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	uint64_t s = map(mm, PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	unsigned int rd = UMM_FOLL_GET | UMM_FOLL_FORCE;
	unsigned int wr = rd | UMM_FOLL_WRITE;
	unsigned long bugs = umm_gup_unpin_bugs();
	struct umm_page *pg;
	struct umm_page_state st;
	long n;

	/* No fault-around: "untouched" must stay so next to a faulted page. */
	umm_mm_set_fault_around(mm, 1);
	is(native_force(0, 0), 1, "native: a forced read of PROT_NONE works");
	is(native_force(0, 1), 1, "native: and sees the data there");
	is(native_force(1, 1), 1, "native: a forced write into private "
	   "PROT_NONE works");

	is(umm_gup(mm, a, 1, UMM_FOLL_GET, &pg), -EFAULT,
	   "PROT_NONE read without FOLL_FORCE: EFAULT");
	is(umm_gup(mm, a, 1, UMM_FOLL_GET | UMM_FOLL_WRITE, &pg), -EFAULT,
	   "PROT_NONE write without FOLL_FORCE: EFAULT");
	n = umm_gup(mm, a, 1, rd, &pg);
	is(n, 1, "PROT_NONE, untouched, forced read: as Linux, succeeds");
	if (n == 1) {
		ok(state(pg).zero_page, "the zero page");
		umm_put_page(pg);
	}
	expect_accerr(mm, a, 0, "PROT_NONE after a forced read");

	guest_fill(mm, b, 4 * PG, 3);
	umm_mprotect(mm, b, 4 * PG, PROT_NONE);
	n = umm_gup(mm, b + PG, 1, rd, &pg);
	is(n, 1, "PROT_NONE with data, forced read: succeeds");
	if (n == 1) {
		is(kaddr(pg)[0], (uint8_t)(31 + 3), "and sees the data");
		umm_put_page(pg);
	}

	n = umm_gup(mm, u + 2 * PG, 1, wr, &pg);
	is(n, 1, "PROT_NONE, untouched, forced write: as Linux, succeeds");
	if (n == 1) {
		st = state(pg);
		ok(st.anon && st.anon_exclusive, "into an exclusive page");
		kaddr(pg)[0] = 0x3c;
		umm_put_page(pg);
	}
	expect_accerr(mm, u + 2 * PG, 0, "PROT_NONE after a forced write");
	n = umm_gup(mm, b + 2 * PG, 1, wr, &pg);
	is(n, 1, "PROT_NONE with data, forced write: as Linux, succeeds");
	if (n == 1) {
		st = state(pg);
		ok(st.anon && st.anon_exclusive, "into the exclusive page");
		kaddr(pg)[0] = 0x3d;
		umm_put_page(pg);
	}
	n = umm_gup(mm, a, 1, wr, &pg);
	is(n, 1, "PROT_NONE, zero page mapped, forced write: as Linux, "
	   "succeeds");
	if (n == 1) {
		st = state(pg);
		ok(st.anon && st.anon_exclusive && !st.zero_page,
		   "into an exclusive copy of the zero page");
		kaddr(pg)[1] = 0x3e;
		umm_put_page(pg);
	}
	umm_mprotect(mm, u, 4 * PG, PROT_READ);
	umm_mprotect(mm, b, 4 * PG, PROT_READ);
	is(peek(mm, u + 2 * PG), 0x3c, "made readable: the forced write shows");
	is(peek(mm, b + 2 * PG), 0x3d, "and the one into the page with data");
	is(peek(mm, b + 2 * PG + 1), (uint8_t)(2 * 31 + 7 + 3),
	   "which kept the rest");
	umm_mprotect(mm, a, PG, PROT_READ);
	is(peek(mm, a + 1), 0x3e, "and the one into the zero page's place");
	umm_mprotect(mm, a, PG, PROT_NONE);

	/*
	 * Forced read-only pins of PROT_NONE pages: Linux unshares a page
	 * fork shares (gup_must_unshare); umm unshares the zero page too, as
	 * it does for any read-only pin.
	 */
	n = umm_gup(mm, a + 3 * PG, 1, UMM_FOLL_PIN | UMM_FOLL_FORCE, &pg);
	is(n, 1, "a forced R/O pin of an untouched PROT_NONE page");
	if (n == 1) {
		st = state(pg);
		ok(st.anon_exclusive && !st.zero_page && st.pincount == 1,
		   "pins an exclusive page, not the zero page");
		umm_unpin(&pg, 1, false);
	}
	umm_mprotect(mm, b, 4 * PG, PROT_NONE);
	child = umm_fork(mm);
	n = umm_gup(mm, b + 3 * PG, 1, UMM_FOLL_PIN | UMM_FOLL_FORCE, &pg);
	is(n, 1, "a forced R/O pin of a fork-shared PROT_NONE page");
	if (n == 1) {
		st = state(pg);
		ok(st.anon_exclusive && st.mapcount == 1,
		   "unshares it first, as Linux's gup_must_unshare");
		is(kaddr(pg)[0], (uint8_t)(3 * 31 + 3), "a copy of its data");
		umm_unpin(&pg, 1, false);
	}
	is(peek(child, b + 3 * PG), 0xee, "the child's page is PROT_NONE too");
	umm_mprotect(child, b, 4 * PG, PROT_READ);
	is(peek(child, b + 3 * PG), (uint8_t)(3 * 31 + 3),
	   "and holds the same data");
	is(umm_gup_unpin_bugs(), bugs, "no unpin of a shared page");
	check_mm_coherent(child);
	umm_mm_put(child);

	/* PROT_NONE shared shmem: a forced read gives the page cache. */
	guest_write(mm, s, 0x42);
	umm_mprotect(mm, s, PG, PROT_NONE);
	is(umm_gup(mm, s, 1, rd, &pg), 1, "shared PROT_NONE, forced read");
	is(kaddr(pg)[0], 0x42, "the shmem page");
	umm_put_page(pg);
	is(umm_gup(mm, s, 1, UMM_FOLL_PIN | UMM_FOLL_FORCE, &pg), 1,
	   "shared PROT_NONE, forced R/O pin: nothing to unshare");
	umm_unpin(&pg, 1, false);
	is(umm_gup(mm, s, 1, wr, &pg), -EFAULT,
	   "shared PROT_NONE, forced write: EFAULT (not a COW mapping)");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(sh);
	check_frames_free(phys);
}

/* ---- the zero page and read-only pins ---- */

static void test_zero_page(void)
{
	struct umm_mm *mm = mm_new();
	uint64_t a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	unsigned long bugs = umm_gup_unpin_bugs();
	struct umm_page *pg[2], *pin;
	struct umm_page_state st, st2;
	uint8_t zeros[64] = { 0 };

	is(umm_gup(mm, a, 1, UMM_FOLL_GET, pg), 1,
	   "FOLL_GET read of an untouched anonymous page");
	st = state(pg[0]);
	ok(st.zero_page && !st.anon && !st.anon_exclusive,
	   "is the zero page");
	ok(!memcmp(kaddr(pg[0]), zeros, sizeof(zeros)) &&
	   !memcmp(kaddr(pg[0]) + PG - 64, zeros, 64), "which reads zeros");
	is(frames_used(), 0, "no frame taken");
	is(umm_gup(mm, a + PG, 1, UMM_FOLL_GET, pg + 1), 1,
	   "another untouched page");
	is(state(pg[1]).pfn, st.pfn, "the same zero page");
	umm_put_page(pg[0]);
	umm_put_page(pg[1]);
	st2 = state(pg[0]);
	is(st2.refcount, st.refcount, "puts leave the zero page's count");
	is(frames_used(), 0, "and take nothing");
	is(peek(mm, a), 0, "the guest reads zeros");

	/* A read-only pin of the zero page unshares it (seed 001's RDMA). */
	is(umm_gup(mm, a, 1, UMM_FOLL_PIN, &pin), 1, "R/O pin of the zero page");
	st = state(pin);
	ok(!st.zero_page && st.anon && st.anon_exclusive,
	   "unshared first: an exclusive anonymous page");
	ok(st.refcount == 2 && st.mapcount == 1 && st.pincount == 1,
	   "refcount 2, mapcount 1, pincount 1 (%u %u %u)", st.refcount,
	   st.mapcount, st.pincount);
	is(frames_used(), 1, "one frame");
	is(kaddr(pin)[100], 0, "holding zeros");
	is(guest_write(mm, a + 100, 0x11), 0, "the guest writes the page");
	is(kaddr(pin)[100], 0x11, "the pin sees the guest's write");
	kaddr(pin)[200] = 0x22;
	is(peek(mm, a + 200), 0x22, "the guest sees the write through the pin");
	is(state(pin).pfn, st.pfn, "the guest's write reused the pinned page");
	umm_unpin(&pin, 1, true);
	is(umm_gup_unpin_bugs(), bugs, "unpin: no bug reported");
	is(state(pin).refcount, 1, "the pte's reference is left");

	/* The untouched page is unshared by a pin the same way. */
	is(umm_gup(mm, a + 3 * PG, 1, UMM_FOLL_PIN | UMM_FOLL_LONGTERM, &pin),
	   1, "R/O long-term pin of an untouched page");
	ok(!state(pin).zero_page && state(pin).anon_exclusive,
	   "is an exclusive page too");
	is(guest_write(mm, a + 3 * PG, 0x33), 0, "the guest writes it");
	is(kaddr(pin)[0], 0x33, "the pin sees it");
	umm_unpin(&pin, 1, false);
	is(umm_gup_unpin_bugs(), bugs, "no bug reported");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	check_frames_free(phys);
}

static void test_pin_fork_shared(void)
{
	struct umm_mm *mm = mm_new(), *child;
	uint64_t a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	unsigned long bugs = umm_gup_unpin_bugs();
	struct umm_page *get, *pin, *cpin;
	struct umm_page_state st, shared;

	guest_fill(mm, a, 4 * PG, 2);
	child = umm_fork(mm);
	ok(child != NULL, "fork");
	is(umm_gup(mm, a, 1, UMM_FOLL_GET, &get), 1, "GET of a shared page");
	shared = state(get);
	ok(shared.anon && !shared.anon_exclusive && shared.mapcount == 2,
	   "shared: not exclusive, mapped twice");
	is(shared.refcount, 3, "refcount: two ptes and ours");
	is(umm_gup(mm, a, 1, UMM_FOLL_PIN, &pin), 1,
	   "a R/O pin of the same page");
	st = state(pin);
	ok(st.pfn != shared.pfn && st.anon_exclusive && st.mapcount == 1,
	   "unshares it first: a new exclusive page");
	ok(st.refcount == 2 && st.pincount == 1, "refcount 2, pincount 1");
	st = state(get);
	ok(st.mapcount == 1 && st.refcount == 2,
	   "the old page: the child's pte and our GET");
	umm_put_page(get);
	is(guest_write(mm, a + 5, 0x55), 0, "the parent writes the page");
	is(kaddr(pin)[5], 0x55, "the pin sees the parent's write");
	is(peek(child, a + 5), (uint8_t)(5 * 7 + 2), "the child does not");
	kaddr(pin)[6] = 0x66;
	is(peek(mm, a + 6), 0x66, "the parent sees a write through the pin");
	is(peek(child, a + 6), (uint8_t)(6 * 7 + 2), "the child does not");

	/* The child's pin unshares too: the frame is the child's alone. */
	is(umm_gup(child, a + PG, 1, UMM_FOLL_PIN, &cpin), 1,
	   "the child pins a page shared with the parent");
	ok(state(cpin).anon_exclusive && state(cpin).mapcount == 1,
	   "exclusive to the child");
	is(guest_write(child, a + PG, 0x77), 0, "the child writes it");
	is(kaddr(cpin)[0], 0x77, "its pin sees the write");
	is(peek(mm, a + PG), (uint8_t)(31 + 2), "the parent does not");

	/* A GET does not unshare: it does not promise to see later writes. */
	is(umm_gup(mm, a + 2 * PG, 1, UMM_FOLL_GET, &get), 1,
	   "GET of another shared page");
	ok(!state(get).anon_exclusive && state(get).mapcount == 2,
	   "stays shared");
	umm_put_page(get);
	umm_unpin(&pin, 1, true);
	umm_unpin(&cpin, 1, false);
	is(umm_gup_unpin_bugs(), bugs, "unpins: no bug reported");
	is(guest_check(child, a + 2 * PG, 2 * PG, 2 + 2 * 31), 0,
	   "the child's other pages are as forked");
	check_mm_coherent(child);
	umm_mm_put(child);
	check_mm_coherent(mm);
	umm_mm_put(mm);
	check_frames_free(phys);
}

static void test_pin_rw(void)
{
	struct umm_mm *mm = mm_new(), *child;
	uint64_t a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	unsigned int rw = UMM_FOLL_PIN | UMM_FOLL_WRITE;
	unsigned long bugs = umm_gup_unpin_bugs();
	struct umm_page *pg[4];
	struct umm_page_state st;
	int i;

	is(umm_gup(mm, a, 4, rw | UMM_FOLL_LONGTERM, pg), 4,
	   "R/W long-term pin of 4 untouched pages");
	st = state(pg[0]);
	ok(st.anon_exclusive && st.pincount == 1 && st.refcount == 2,
	   "exclusive, pinned once, refcount 2");
	for (i = 0; i < 4; i++)
		memset(kaddr(pg[i]), 0x10 + i, PG);
	is(peek(mm, a + 3 * PG + 4095), 0x13,
	   "the guest sees the writes through the pins");
	is(guest_write(mm, a + PG + 1, 0x99), 0, "the guest writes");
	is(kaddr(pg[1])[1], 0x99, "the pin sees it");

	/* Fork copies pinned pages for the child: the pin stays the parent's. */
	child = umm_fork(mm);
	is(peek(child, a + PG + 1), 0x99, "a child forked now has the data");
	ok(state(pg[1]).anon_exclusive && state(pg[1]).mapcount == 1,
	   "but the pinned page stayed the parent's alone");
	is(guest_write(mm, a + PG + 2, 0x98), 0, "the parent writes again");
	is(kaddr(pg[1])[2], 0x98, "the pin sees it");
	is(peek(child, a + PG + 2), 0x11, "the child does not");
	umm_unpin(pg, 4, true);
	is(umm_gup_unpin_bugs(), bugs, "no bug reported");
	check_mm_coherent(child);
	umm_mm_put(child);
	check_mm_coherent(mm);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/*
 * A R/O long-term pin of a page-cache page in a private writable mapping
 * breaks COW first (Linux's gup_must_unshare for FOLL_LONGTERM), so the
 * pin sees what the guest later writes there. A short-term one need not.
 */
static void test_pin_private_file(void)
{
	struct umm_mm *mm = mm_new();
	struct umm_file *sh = umm_shmem_new(phys, 2 * PG);
	uint64_t s = map(mm, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	uint64_t p = map(mm, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, sh);
	uint64_t r = map(mm, 2 * PG, PROT_READ, MAP_SHARED, sh);
	unsigned long bugs = umm_gup_unpin_bugs();
	struct umm_page *pin, *cache;

	guest_fill(mm, s, 2 * PG, 6);
	is(umm_gup(mm, s, 1, UMM_FOLL_GET, &cache), 1, "the page-cache frame");
	is(umm_gup(mm, p, 1, UMM_FOLL_PIN, &pin), 1,
	   "short-term R/O pin through the private mapping");
	is(state(pin).pfn, state(cache).pfn, "pins the page-cache frame");
	umm_unpin(&pin, 1, false);
	is(umm_gup(mm, p + PG, 1, UMM_FOLL_PIN | UMM_FOLL_LONGTERM, &pin), 1,
	   "long-term R/O pin through the private mapping");
	ok(state(pin).anon_exclusive, "is an exclusive anonymous copy");
	is(kaddr(pin)[0], (uint8_t)(31 + 6), "of the file's data");
	is(guest_write(mm, p + PG, 0x44), 0, "the guest writes its copy");
	is(kaddr(pin)[0], 0x44, "the long-term pin sees it");
	is(peek(mm, s + PG), (uint8_t)(31 + 6), "the file does not");
	umm_unpin(&pin, 1, false);
	is(umm_gup(mm, r, 1, UMM_FOLL_PIN | UMM_FOLL_LONGTERM, &pin), 1,
	   "long-term R/O pin of a shared mapping");
	is(state(pin).pfn, state(cache).pfn, "is the page-cache frame");
	umm_unpin(&pin, 1, false);
	umm_put_page(cache);
	is(umm_gup_unpin_bugs(), bugs, "no bug reported");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(sh);
	check_frames_free(phys);
}

/* ---- remote GUP, pins after munmap, counts ---- */

static void test_remote(void)
{
	struct umm_mm *mm = mm_new(), *child;
	uint64_t a = map_anon(mm, 8 * PG, PROT_READ | PROT_WRITE);
	struct umm_page *pg[8];
	struct umm_stats st;
	long n;
	int i;

	n = umm_gup(mm, a, 8, UMM_FOLL_GET | UMM_FOLL_WRITE, pg);
	is(n, 8, "GUP for writing on an mm that never ran guest code");
	for (i = 0; i < n; i++) {
		memset(kaddr(pg[i]), 0, PG);
		kaddr(pg[i])[i] = (uint8_t)(0x80 + i);
		umm_put_page(pg[i]);
	}
	umm_mm_stats(mm, &st);
	ok(st.fault_anon >= 1 && st.fault_sigsegv == 0,
	   "the faults were handled for it (%llu anonymous)",
	   (unsigned long long)st.fault_anon);
	check_mm_coherent(mm);
	is(peek(mm, a + 7 * PG + 7), 0x87,
	   "guest code run later sees the kernel's writes");

	/* A child that never ran: its COW is broken by the GUP alone. */
	child = umm_fork(mm);
	n = umm_gup(child, a + 2 * PG, 1, UMM_FOLL_GET | UMM_FOLL_WRITE, pg);
	is(n, 1, "GUP for writing on a forked child that never ran");
	ok(state(pg[0]).anon_exclusive && state(pg[0]).mapcount == 1,
	   "breaks COW: the child's own page");
	kaddr(pg[0])[2] = 0x01;
	umm_put_page(pg[0]);
	is(peek(child, a + 2 * PG + 2), 0x01, "the child sees the write");
	is(peek(mm, a + 2 * PG + 2), 0x82, "the parent does not");
	umm_mm_stats(child, &st);
	is(st.fault_cow, 1, "one COW fault in the child");
	check_mm_coherent(child);
	umm_mm_put(child);
	check_mm_coherent(mm);
	umm_mm_put(mm);
	check_frames_free(phys);
}

static void test_pin_munmap(void)
{
	struct umm_mm *mm = mm_new();
	struct umm_file *sh = umm_shmem_new(phys, 4 * PG);
	uint64_t a = map_anon(mm, 4 * PG, PROT_READ | PROT_WRITE);
	uint64_t s = map(mm, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	unsigned long bugs = umm_gup_unpin_bugs();
	struct umm_page *pin, *get, *spin;
	struct umm_page_state st;

	guest_fill(mm, a, 4 * PG, 8);
	guest_fill(mm, s, 4 * PG, 1);
	is(umm_gup(mm, a + PG, 1, UMM_FOLL_PIN, &pin), 1, "pin a page");
	is(umm_gup(mm, a + 2 * PG, 1, UMM_FOLL_GET, &get), 1, "GET another");
	is(umm_gup(mm, s + 3 * PG, 1, UMM_FOLL_PIN | UMM_FOLL_WRITE, &spin), 1,
	   "pin a shmem page");
	is(umm_munmap(mm, a, 4 * PG), 0, "munmap the anonymous mapping");
	is(umm_munmap(mm, s, 4 * PG), 0, "munmap the shmem mapping");
	umm_file_put(sh);
	st = state(pin);
	ok(st.refcount == 1 && st.mapcount == 0 && st.pincount == 1,
	   "the pinned frame: refcount 1, mapcount 0, pincount 1");
	st = state(get);
	ok(st.refcount == 1 && st.mapcount == 0 && st.pincount == 0,
	   "the GET frame: refcount 1, mapcount 0");
	st = state(spin);
	ok(st.refcount == 1 && st.mapcount == 0 && st.pincount == 1,
	   "the shmem frame, file gone: refcount 1, pincount 1");
	is(frames_used(), 3, "three frames are alive, held by GUP alone");
	is(kaddr(pin)[0], (uint8_t)(31 + 8), "the pinned data is intact");
	is(kaddr(spin)[0], (uint8_t)(3 * 31 + 1), "the shmem data too");
	umm_unpin(&pin, 1, true);
	is(frames_used(), 2, "unpin frees the pinned frame");
	umm_put_page(get);
	umm_unpin(&spin, 1, true);
	is(frames_used(), 0, "put and unpin free the others");
	is(umm_gup_unpin_bugs(), bugs, "no bug reported");

	/* A pin outlives the whole mm. */
	a = map_anon(mm, PG, PROT_READ | PROT_WRITE);
	guest_write(mm, a, 0xab);
	is(umm_gup(mm, a, 1, UMM_FOLL_PIN | UMM_FOLL_LONGTERM, &pin), 1,
	   "pin a page of an mm");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	is(frames_used(), 1, "the mm is gone, the pinned frame is not");
	is(kaddr(pin)[0], 0xab, "and holds its data");
	umm_unpin(&pin, 1, false);
	is(umm_gup_unpin_bugs(), bugs, "no bug reported");
	check_frames_free(phys);
}

static void expect_counts(struct umm_page *page, uint32_t ref, uint32_t map,
			  uint32_t pin, const char *what)
{
	struct umm_page_state st = state(page);

	ok(st.refcount == ref && st.mapcount == map && st.pincount == pin,
	   "%s: refcount %u, mapcount %u, pincount %u", what, ref, map, pin);
	if (st.refcount != ref || st.mapcount != map || st.pincount != pin)
		diag("got %u %u %u", st.refcount, st.mapcount, st.pincount);
}

static void test_counts(void)
{
	struct umm_mm *mm = mm_new(), *child;
	struct umm_file *sh = umm_shmem_new(phys, 4 * PG);
	uint64_t a = map_anon(mm, PG, PROT_READ | PROT_WRITE);
	uint64_t s1, s2;
	struct umm_page *g1, *g2, *p1, *p2, *x;
	unsigned long bugs = umm_gup_unpin_bugs();

	guest_write(mm, a, 1);
	umm_gup(mm, a, 1, UMM_FOLL_GET, &g1);
	expect_counts(g1, 2, 1, 0, "anon page, one GET");
	umm_gup(mm, a, 1, UMM_FOLL_GET | UMM_FOLL_WRITE, &g2);
	expect_counts(g2, 3, 1, 0, "two GETs");
	umm_gup(mm, a, 1, UMM_FOLL_PIN, &p1);
	expect_counts(p1, 4, 1, 1, "and a pin");
	umm_gup(mm, a, 1, UMM_FOLL_PIN | UMM_FOLL_WRITE | UMM_FOLL_LONGTERM,
		&p2);
	expect_counts(p2, 5, 1, 2, "and two pins");
	ok(state(g1).pfn == state(p2).pfn, "all the same frame");
	umm_put_page(g1);
	expect_counts(p1, 4, 1, 2, "one GET put");
	umm_unpin(&p1, 1, false);
	expect_counts(p2, 3, 1, 1, "one pin dropped");
	child = umm_fork(mm);
	expect_counts(p2, 3, 1, 1, "fork copied the pinned page for the child");
	umm_unpin(&p2, 1, true);
	expect_counts(g2, 2, 1, 0, "pins dropped");
	umm_put_page(g2);
	umm_gup(mm, a, 1, UMM_FOLL_GET, &g1);
	expect_counts(g1, 2, 1, 0, "a page not pinned at fork: not shared");
	umm_put_page(g1);
	umm_mm_put(child);

	/* Without a pin, fork shares the page: two ptes. */
	child = umm_fork(mm);
	umm_gup(mm, a, 1, UMM_FOLL_GET, &g1);
	expect_counts(g1, 3, 2, 0, "shared with a child, one GET");
	umm_put_page(g1);
	umm_mm_put(child);
	umm_gup(mm, a, 1, UMM_FOLL_GET, &g1);
	expect_counts(g1, 2, 1, 0, "the child gone");
	umm_put_page(g1);

	/* shmem: the page cache holds one reference of its own. */
	umm_mm_set_fault_around(mm, 1);
	s1 = map(mm, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	s2 = map(mm, 4 * PG, PROT_READ, MAP_SHARED, sh);
	umm_gup(mm, s1 + PG, 1, UMM_FOLL_GET, &g1);
	expect_counts(g1, 3, 1, 0, "shmem page, one pte, one GET");
	umm_gup(mm, s2 + PG, 1, UMM_FOLL_PIN, &p1);
	expect_counts(p1, 5, 2, 1, "two ptes, a GET and a pin");
	umm_gup(mm, s1 + 2 * PG, 1, UMM_FOLL_GET, &x);
	expect_counts(x, 3, 1, 0, "its neighbour, faulted alone");
	umm_put_page(x);
	umm_put_page(g1);
	umm_unpin(&p1, 1, false);
	expect_counts(p1, 3, 2, 0, "all dropped: cache and two ptes");
	umm_munmap(mm, s2, 4 * PG);
	expect_counts(p1, 2, 1, 0, "one mapping gone");
	umm_munmap(mm, s1, 4 * PG);
	expect_counts(p1, 1, 0, 0, "both: the page cache's reference");
	is(umm_gup_unpin_bugs(), bugs, "no bug reported");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(sh);
	check_frames_free(phys);
}

/* GUP over shmem mappings gives the page-cache frame, whichever mapping. */
static void test_shmem(void)
{
	struct umm_mm *mm = mm_new(), *other = mm_new();
	struct umm_file *sh = umm_shmem_new(phys, 4 * PG);
	uint64_t s1 = map(mm, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	uint64_t s2 = map(mm, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sh);
	uint64_t s3 = map(other, 4 * PG, PROT_READ, MAP_SHARED, sh);
	uint64_t p = map(mm, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, sh);
	struct umm_page *g[4];
	struct umm_page *w;

	is(umm_gup(mm, s1 + 2 * PG, 1, UMM_FOLL_GET | UMM_FOLL_WRITE, &g[0]),
	   1, "GUP for writing through one shared mapping");
	is(umm_gup(mm, s2 + 2 * PG, 1, UMM_FOLL_PIN, &g[1]), 1,
	   "R/O pin through another");
	is(umm_gup(other, s3 + 2 * PG, 1, UMM_FOLL_GET, &g[2]), 1,
	   "GET through a mapping in another mm");
	is(umm_gup(mm, p + 2 * PG, 1, UMM_FOLL_GET, &g[3]), 1,
	   "GET through a private mapping never written");
	ok(state(g[0]).pfn == state(g[1]).pfn &&
	   state(g[0]).pfn == state(g[2]).pfn &&
	   state(g[0]).pfn == state(g[3]).pfn,
	   "one frame, the page cache's, through all four");
	ok(!state(g[0]).anon, "not anonymous");
	is(state(g[0]).mapcount, 4, "mapped by four ptes");
	memcpy(kaddr(g[0]) + 10, "shm", 3);
	is(peek(mm, s2 + 2 * PG + 10), 's', "the other mapping sees the write");
	is(peek(other, s3 + 2 * PG + 11), 'h', "the other mm sees it");
	is(peek(mm, p + 2 * PG + 12), 'm', "the private mapping sees it");
	is(guest_write(mm, p + 2 * PG, 0x5), 0,
	   "the guest writes the private mapping");
	is(umm_gup(mm, p + 2 * PG, 1, UMM_FOLL_GET, &w), 1, "GUP it again");
	ok(state(w).pfn != state(g[0]).pfn && state(w).anon_exclusive,
	   "now its own anonymous copy");
	umm_put_page(w);
	is(guest_write(other, s3, 1), SIGSEGV,
	   "the read-only shared mapping stays read-only");
	umm_put_page(g[0]);
	umm_unpin(&g[1], 1, true);
	umm_put_page(g[2]);
	umm_put_page(g[3]);
	is(kaddr(g[0])[10], 's', "the page cache keeps the frame");
	check_mm_coherent(mm);
	check_mm_coherent(other);
	umm_mm_put(mm);
	umm_mm_put(other);
	umm_file_put(sh);
	check_frames_free(phys);
}

/*
 * Out of guest memory: GUP gets what it can, then fails with -ENOMEM, as
 * Linux does for VM_FAULT_OOM (umm.h promises it too).
 */
static void test_enomem(void)
{
	struct umm_phys *small = umm_phys_new(64 * PG);
	struct umm_mm *mm = small ? umm_mm_new(small, 1ULL << 32) : NULL;
	uint64_t total = small ? umm_phys_frames_total(small) : 0;
	struct umm_page *pg;
	long a, n;

	if (!mm)
		BAIL_OUT("a small phys: %s", strerror(errno));
	a = umm_mmap(mm, 0, 2 * total * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	n = umm_gup(mm, (uint64_t)a, (long)(2 * total), UMM_FOLL_WRITE, NULL);
	is(n, (long)total, "writing twice as many pages as there are "
	   "frames: every frame, then a short count");
	is(umm_phys_frames_free(small), 0, "physical memory is full");
	n = umm_gup(mm, (uint64_t)a + total * PG, 1,
		    UMM_FOLL_GET | UMM_FOLL_WRITE, &pg);
	is(n, -ENOMEM, "the first page failing for want of memory: ENOMEM");
	is(umm_gup(mm, (uint64_t)a + total * PG, 1, UMM_FOLL_GET, &pg), 1,
	   "a read still gets the zero page");
	umm_put_page(pg);
	is(peek(mm, (uint64_t)a + (total - 1) * PG), 0,
	   "the guest reads the last page got");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	is(umm_phys_frames_free(small), total,
	   "every frame of the small phys is free again");
	umm_phys_put(small);
}

int main(void)
{
	phys = umm_phys_new(64ULL << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	test_flags();
	test_ranges();
	test_past_eof();
	test_force_anon();
	test_force_file();
	test_force_shared();
	test_force_protnone();
	test_zero_page();
	test_pin_fork_shared();
	test_pin_rw();
	test_pin_private_file();
	test_remote();
	test_pin_munmap();
	test_counts();
	test_shmem();
	test_enomem();
	is(umm_gup_unpin_bugs(), 0, "no pin ever lost sight of its page");
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
