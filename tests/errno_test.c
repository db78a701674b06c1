// SPDX-License-Identifier: MIT
/*
 * mmap, munmap, mprotect and brk at their edges, differentially: every case
 * runs natively on the host kernel and in a umm guest, and the two must give
 * the same result. The host kernel is the oracle, asked at run time: no
 * expected errno is written down here. Two things differ on purpose and are
 * expressed relative to each side:
 *
 * - TASK_SIZE: cases name it TOP, which is the host's TASK_SIZE natively
 *   (0x7ffffffff000 with 4-level page tables) and the task_size given to
 *   umm_mm_new in the guest;
 * - mmap_min_addr: the guest is an unprivileged process, so MAP_FIXED below
 *   64 KiB fails with EPERM, while this test runs as root on the host and
 *   would be allowed. Those cases run on umm only, against that documented
 *   expectation (test_min_addr).
 *
 * Addresses are compared as offsets into a scratch region: 1 GiB reserved
 * PROT_NONE natively, and the same in the guest. Cases map, unmap and
 * protect at the same offsets of both (B, the side's scratch base, plus an
 * offset); a mapping placed outside the scratch compares as "elsewhere",
 * since the two address spaces are laid out differently. Breaks compare
 * relative to the break each side starts from. Whether a page can be read
 * or written is asked natively of a forked child, which dies of the signal
 * a guest gets, and in the guest through umm_guest_call.
 *
 * A difference that needs a fix outside mm/mmap.c and mm/mprotect.c is a
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#define MAP_UNKNOWN 0x200000	/* no mmap flag has this bit */
#define PROT_UNKNOWN 0x10	/* nor any prot */

#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define PAGE_UP(x) (((x) + PG - 1) & ~(PG - 1))

#define GUEST_TASK_SIZE (1ULL << 32)
#define MIN_ADDR 0x10000ULL	/* the guest's mmap_min_addr */
#define SCRATCH (1ULL << 30)
#define SLOT(n) ((uint64_t)(n) << 20)	/* a MiB of scratch per case */
#define FILE_PAGES 8

/* An mmap result outside the scratch region: compared as "somewhere". */
#define ELSEWHERE (1L << 62)

struct side {
	uint64_t base;	/* the scratch region */
	uint64_t task;	/* TASK_SIZE */
};

static struct side nat, gst;
static struct umm_phys *phys;
static struct umm_mm *mm;
static int memfd = -1, rofd = -1;
static struct umm_file *shm, *rof;
static char rof_path[] = "/tmp/umm-errno-XXXXXX";

enum file_kind { NOFILE, MEMFD, ROFILE };

/* One case's result on each side. */
struct res {
	long n, g;
	uint64_t nlen, glen;	/* mmap: the length asked, to undo it */
};

/* ---- the native side: raw system calls, so libc checks nothing ---- */

static long sys_ret(long r)
{
	return r == -1 ? -errno : r;
}

static long nat_mmap(uint64_t addr, uint64_t len, int prot, int flags,
		     int fd, uint64_t off)
{
	return sys_ret(syscall(SYS_mmap, addr, len, (long)prot, (long)flags,
			       (long)fd, off));
}

static long nat_munmap(uint64_t addr, uint64_t len)
{
	return sys_ret(syscall(SYS_munmap, addr, len));
}

static long nat_mprotect(uint64_t addr, uint64_t len, int prot)
{
	return sys_ret(syscall(SYS_mprotect, addr, len, (long)prot));
}

static long nat_brk(uint64_t brk)
{
	return syscall(SYS_brk, brk);
}

/*
 * Touch @addr in a forked child: the byte read (or 0 for a write), or
 * minus the signal that killed the child. A write stores the byte it read,
 * so that a shared page keeps its contents.
 */
static long nat_access(uint64_t addr, int write)
{
	volatile uint8_t *p = (volatile uint8_t *)addr;
	int status;
	uint8_t v;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!pid) {
		prctl(PR_SET_DUMPABLE, 0);	/* no core file */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		v = *p;
		if (write)
			*p = v;
		_exit(write ? 0 : v);
	}
	if (waitpid(pid, &status, 0) != pid)
		BAIL_OUT("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- the guest side ---- */

struct touch {
	volatile uint8_t *p;
	int write;
	uint8_t val;
};

/*
 * As nat_access: a write probe writes back the byte it read. The native
 * probe runs in a child, so private memory never changes there, and the
 * guest's must not either.
 */
static void do_touch(void *arg)
{
	struct touch *t = arg;

	t->val = *t->p;
	if (t->write)
		*t->p = t->val;
}

/* As nat_access, in the guest. */
static long gst_access(uint64_t va, int write)
{
	struct touch t = { umm_host_addr(mm, va), write, 0 };
	siginfo_t si;
	int sig = umm_guest_call(mm, do_touch, &t, &si);

	if (sig)
		return -sig;
	return write ? 0 : t.val;
}

static int nat_fd(enum file_kind f)
{
	return f == MEMFD ? memfd : f == ROFILE ? rofd : -1;
}

static struct umm_file *gst_file(enum file_kind f)
{
	return f == MEMFD ? shm : f == ROFILE ? rof : NULL;
}

/*
 * Run one call on both sides. The expressions may use B, the side's scratch
 * base, and TOP, its TASK_SIZE.
 */
#define SIDE(s)                                           \
	uint64_t B = (s).base, TOP = (s).task;            \
	(void)B;                                          \
	(void)TOP

#define BOTH(nat_expr, gst_expr)              \
	({                                    \
		struct res _r = { 0 };        \
		{                             \
			SIDE(nat);            \
			_r.n = (nat_expr);    \
		}                             \
		{                             \
			SIDE(gst);            \
			_r.g = (gst_expr);    \
		}                             \
		_r;                           \
	})

#define MMAP(addr, len, prot, flags, file, off)                             \
	({                                                                  \
		struct res _r = { 0 };                                      \
		{                                                           \
			SIDE(nat);                                          \
			_r.nlen = (len);                                    \
			_r.n = nat_mmap((addr), _r.nlen, (prot), (flags),   \
					nat_fd(file), (off));               \
		}                                                           \
		{                                                           \
			SIDE(gst);                                          \
			_r.glen = (len);                                    \
			_r.g = umm_mmap(mm, (addr), _r.glen, (prot),        \
					(flags), gst_file(file), (off));    \
		}                                                           \
		_r;                                                         \
	})

#define MUNMAP(addr, len) \
	BOTH(nat_munmap((addr), (len)), umm_munmap(mm, (addr), (len)))
#define MPROTECT(addr, len, prot)                    \
	BOTH(nat_mprotect((addr), (len), (prot)),    \
	     umm_mprotect(mm, (addr), (len), (prot)))
#define READ(addr) BOTH(nat_access((addr), 0), gst_access((addr), 0))
#define WRITE(addr) BOTH(nat_access((addr), 1), gst_access((addr), 1))

/* Give [B+off, +len) back to the PROT_NONE reservation on both sides. */
#define RESERVE(off, len)                                                  \
	BOTH(nat_mmap(B + (off), (len), PROT_NONE,                         \
		      ANON | MAP_FIXED | MAP_NORESERVE, -1, 0),            \
	     umm_mmap(mm, B + (off), (len), PROT_NONE,                     \
		      ANON | MAP_FIXED | MAP_NORESERVE, NULL, 0))
#define HOLE(off, len) MUNMAP(B + (off), (len))

/* ---- comparing ---- */

enum kind { VAL, ADDR, PROBE };

/* An mmap result as compared: an error, a scratch offset, or ELSEWHERE. */
static long norm(long r, const struct side *s)
{
	if (r < 0 && r >= -4095)
		return r;
	if ((uint64_t)r >= s->base && (uint64_t)r < s->base + SCRATCH)
		return r - (long)s->base;
	return ELSEWHERE;
}

static void show(char *buf, size_t size, long v, enum kind kind)
{
	const char *name;

	if (kind == PROBE && v < 0) {
		name = sigabbrev_np((int)-v);
		snprintf(buf, size, "SIG%s", name ? name : "?");
	} else if (kind == PROBE) {
		snprintf(buf, size, "%ld", v);
	} else if (v < 0 && v >= -4095) {
		name = strerrorname_np((int)-v);
		if (name)
			snprintf(buf, size, "-%s", name);
		else
			snprintf(buf, size, "-%ld", -v);
	} else if (kind == ADDR && v == ELSEWHERE) {
		snprintf(buf, size, "an address outside the scratch");
	} else if (kind == ADDR) {
		snprintf(buf, size, "B+%#lx", v);
	} else {
		snprintf(buf, size, "%#lx", v);
	}
}

static int __attribute__((format(printf, 4, 5)))
compare(long n, long g, enum kind kind, const char *fmt, ...)
{
	char name[256], sn[64], sg[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	show(sn, sizeof(sn), n, kind);
	show(sg, sizeof(sg), g, kind);
	if (n == g)
		return ok(1, "%s: %s on both", name, sn);
	return ok(0, "%s: native %s, umm %s", name, sn, sg);
}

#define same(r, ...) compare((r).n, (r).g, VAL, __VA_ARGS__)
#define same_addr(r, ...) \
	compare(norm((r).n, &nat), norm((r).g, &gst), ADDR, __VA_ARGS__)
#define same_probe(r, ...) compare((r).n, (r).g, PROBE, __VA_ARGS__)

/* Take back one side's successful mmap. */
static void undo_side(long r, uint64_t len, const struct side *s, bool native)
{
	long off = norm(r, s);

	if (r < 0 && r >= -4095)
		return;
	len = PAGE_UP(len);
	if (off == ELSEWHERE) {
		if (native)
			nat_munmap((uint64_t)r, len);
		else
			umm_munmap(mm, (uint64_t)r, len);
	} else if (native) {
		nat_mmap((uint64_t)r, len, PROT_NONE,
			 ANON | MAP_FIXED | MAP_NORESERVE, -1, 0);
	} else {
		umm_mmap(mm, (uint64_t)r, len, PROT_NONE,
			 ANON | MAP_FIXED | MAP_NORESERVE, NULL, 0);
	}
}

static void undo(struct res r)
{
	undo_side(r.n, r.nlen, &nat, true);
	undo_side(r.g, r.glen, &gst, false);
}

/* One mmap case: compare, then take back whatever it mapped. */
#define MMAP_CASE(addr, len, prot, flags, file, off, ...)                  \
	do {                                                               \
		struct res _c = MMAP(addr, len, prot, flags, file, off);   \
		same_addr(_c, __VA_ARGS__);                                \
		undo(_c);                                                  \
	} while (0)

/* ---- mmap ---- */

static void test_mmap_args(void)
{
	diag("mmap: arguments");
	MMAP_CASE(0, 0, RW, ANON, NOFILE, 0, "mmap len 0");
	MMAP_CASE(0, 0, RW, MAP_SHARED, MEMFD, 0, "mmap len 0 of a file");
	MMAP_CASE(0, PG, RW, MAP_SHARED, MEMFD, 123, "mmap unaligned offset");
	MMAP_CASE(0, PG, RW, ANON, NOFILE, PG + 1,
		  "mmap anonymous with an unaligned offset (checked first)");
	MMAP_CASE(0, 0, RW, MAP_SHARED, MEMFD, 1,
		  "mmap unaligned offset and len 0");
	MMAP_CASE(0, ~0ULL, RW, ANON, NOFILE, 0,
		  "mmap len ~0 (overflows when page-aligned)");
	MMAP_CASE(0, ~0ULL - PG, RW, ANON, NOFILE, 0,
		  "mmap len ~0 - 4096 (overflows when page-aligned)");
	MMAP_CASE(0, ~0ULL & ~(PG - 1), RW, ANON, NOFILE, 0,
		  "mmap len 2^64 - 4096");
	MMAP_CASE(0, TOP + PG, RW, ANON | MAP_NORESERVE, NOFILE, 0,
		  "mmap len TASK_SIZE + 4096");
	MMAP_CASE(B, ~0ULL, RW, ANON | MAP_FIXED, NOFILE, 0,
		  "mmap MAP_FIXED len ~0");
	MMAP_CASE(0, 0, RW, MAP_SHARED, NOFILE, 0,
		  "mmap len 0 without a file (EBADF first)");

	diag("mmap: offset overflow");
	MMAP_CASE(0, 2 * PG, RW, MAP_SHARED, MEMFD, 0x7ffffffffffff000ULL,
		  "mmap offset + len past the largest file offset");
	MMAP_CASE(0, PG, PROT_READ, MAP_PRIVATE, ROFILE, ~0ULL & ~(PG - 1),
		  "mmap offset 2^64 - 4096 of a read-only file");
	MMAP_CASE(0, PG, RW, MAP_SHARED, ROFILE, ~0ULL & ~(PG - 1),
		  "mmap offset overflow before EACCES");
	MMAP_CASE(0, PG, RW, 0, MEMFD, ~0ULL & ~(PG - 1),
		  "mmap offset overflow before a bad map type");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_UNKNOWN, MEMFD,
		  ~0ULL & ~(PG - 1),
		  "mmap offset overflow before EOPNOTSUPP");
	MMAP_CASE(0, PG, RW, ANON, NOFILE, ~0ULL & ~(PG - 1),
		  "mmap anonymous ignores a huge offset");
	MMAP_CASE(0, PG, RW, MAP_SHARED | MAP_ANONYMOUS, NOFILE,
		  ~0ULL & ~(PG - 1),
		  "mmap shared anonymous ignores a huge offset");

	diag("mmap: map type");
	MMAP_CASE(0, PG, RW, MAP_ANONYMOUS, NOFILE, 0,
		  "mmap anonymous, type 0 (neither shared nor private)");
	MMAP_CASE(0, PG, RW, MAP_ANONYMOUS | 0x0f, NOFILE, 0,
		  "mmap anonymous, type 0x0f");
	MMAP_CASE(0, PG, RW, MAP_ANONYMOUS | 0x04, NOFILE, 0,
		  "mmap anonymous, type 0x04");
	MMAP_CASE(0, PG, RW, 0, MEMFD, 0, "mmap file, type 0");
	MMAP_CASE(0, PG, RW, 0x0f, MEMFD, 0, "mmap file, type 0x0f");
	MMAP_CASE(0, PG, RW, MAP_DROPPABLE, MEMFD, 0,
		  "mmap file, MAP_DROPPABLE");
	MMAP_CASE(0, PG, RW, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_LOCKED,
		  NOFILE, 0, "mmap anonymous, MAP_DROPPABLE | MAP_LOCKED");
	MMAP_CASE(0, PG, RW, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_GROWSDOWN,
		  NOFILE, 0, "mmap anonymous, MAP_DROPPABLE | MAP_GROWSDOWN");
	MMAP_CASE(0, PG, RW, MAP_PRIVATE | MAP_UNKNOWN, MEMFD, 0,
		  "mmap private file, unknown flag bit ignored");
	MMAP_CASE(0, PG, RW, ANON | MAP_UNKNOWN, NOFILE, 0,
		  "mmap private anonymous, unknown flag bit ignored");
	MMAP_CASE(0, PG, RW, MAP_SHARED | MAP_GROWSDOWN, MEMFD, 0,
		  "mmap shared file, MAP_GROWSDOWN");
	MMAP_CASE(0, PG, RW, MAP_PRIVATE | MAP_GROWSDOWN, MEMFD, 0,
		  "mmap private file, MAP_GROWSDOWN");
	MMAP_CASE(0, PG, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN,
		  NOFILE, 0, "mmap shared anonymous, MAP_GROWSDOWN");
	MMAP_CASE(0, PG, RW, MAP_SHARED | MAP_HUGETLB, MEMFD, 0,
		  "mmap MAP_HUGETLB of a file that is not hugetlbfs");
	MMAP_CASE(TOP, PG, RW, MAP_SHARED | MAP_HUGETLB | MAP_FIXED, MEMFD, 0,
		  "mmap MAP_HUGETLB of such a file past TASK_SIZE "
		  "(EINVAL first)");

	diag("mmap: MAP_SHARED_VALIDATE");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE, MEMFD, 0,
		  "mmap MAP_SHARED_VALIDATE of a file");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_UNKNOWN, MEMFD, 0,
		  "mmap MAP_SHARED_VALIDATE, unknown flag bit");
	MMAP_CASE(0, PG, RW, MAP_SHARED | MAP_UNKNOWN, MEMFD, 0,
		  "mmap MAP_SHARED, unknown flag bit ignored");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_SYNC, MEMFD, 0,
		  "mmap MAP_SHARED_VALIDATE | MAP_SYNC of shmem");
	MMAP_CASE(0, PG, RW, MAP_SHARED | MAP_SYNC, MEMFD, 0,
		  "mmap MAP_SHARED | MAP_SYNC of shmem (ignored)");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_32BIT, MEMFD, 0,
		  "mmap MAP_SHARED_VALIDATE | MAP_32BIT");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_HUGE_2MB, MEMFD, 0,
		  "mmap MAP_SHARED_VALIDATE | MAP_HUGE_2MB");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_POPULATE, MEMFD, 0,
		  "mmap MAP_SHARED_VALIDATE | MAP_POPULATE");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_UNKNOWN, ROFILE, 0,
		  "mmap MAP_SHARED_VALIDATE, unknown bit, before EACCES");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, NOFILE, 0,
		  "mmap MAP_SHARED_VALIDATE of anonymous memory");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | MAP_UNKNOWN,
		  NOFILE, 0,
		  "mmap MAP_SHARED_VALIDATE of anonymous memory, unknown bit");

	diag("mmap: prot");
	MMAP_CASE(0, PG, PROT_READ | PROT_UNKNOWN, ANON, NOFILE, 0,
		  "mmap unknown prot bit");
	MMAP_CASE(0, PG, PROT_READ | PROT_SEM, ANON, NOFILE, 0,
		  "mmap PROT_SEM");
	MMAP_CASE(0, PG, PROT_READ | PROT_GROWSDOWN, ANON, NOFILE, 0,
		  "mmap PROT_GROWSDOWN");
	MMAP_CASE(0, PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP, ANON,
		  NOFILE, 0, "mmap PROT_GROWSDOWN | PROT_GROWSUP");
	MMAP_CASE(0, PG, -1, ANON, NOFILE, 0, "mmap prot -1");
}

static void test_mmap_files(void)
{
	struct res r;

	diag("mmap: files");
	MMAP_CASE(0, PG, RW, MAP_SHARED, ROFILE, 0,
		  "mmap MAP_SHARED | PROT_WRITE of a read-only file");
	MMAP_CASE(0, PG, PROT_WRITE, MAP_SHARED, ROFILE, 0,
		  "mmap MAP_SHARED, PROT_WRITE only, of a read-only file");
	MMAP_CASE(0, PG, RW, MAP_SHARED_VALIDATE, ROFILE, 0,
		  "mmap MAP_SHARED_VALIDATE | PROT_WRITE of a read-only file");
	MMAP_CASE(0, PG, PROT_READ, MAP_SHARED, ROFILE, 0,
		  "mmap MAP_SHARED | PROT_READ of a read-only file");
	MMAP_CASE(0, PG, PROT_READ | PROT_EXEC, MAP_SHARED, ROFILE, 0,
		  "mmap MAP_SHARED | PROT_EXEC of a read-only file");
	MMAP_CASE(0, PG, RW, MAP_PRIVATE, NOFILE, 0,
		  "mmap a file without MAP_ANONYMOUS and no file");
	MMAP_CASE(0, PG, RW, 0, NOFILE, 0,
		  "mmap no file, type 0 (EBADF first)");
	MMAP_CASE(0, PG, RW, MAP_PRIVATE, NOFILE, 1,
		  "mmap no file, unaligned offset (EINVAL first)");

	r = MMAP(B + SLOT(1), 2 * PG, RW, MAP_PRIVATE | MAP_FIXED, ROFILE, 0);
	same_addr(r, "mmap MAP_PRIVATE | PROT_WRITE of a read-only file");
	same_probe(READ(B + SLOT(1) + 5), "read it");
	same_probe(WRITE(B + SLOT(1) + 5), "write it (copy on write)");
	undo(r);

	r = MMAP(B + SLOT(1), 2 * PG, RW,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, ROFILE, 0);
	same_addr(r, "mmap MAP_ANONYMOUS ignores a read-only file");
	same_probe(READ(B + SLOT(1) + 5), "it reads zero, not the file");
	same_probe(WRITE(B + SLOT(1) + 5), "and is writable");
	undo(r);

	r = MMAP(B + SLOT(1), 2 * PG, RW, ANON | MAP_FIXED, MEMFD, 3 * PG);
	same_addr(r, "mmap MAP_ANONYMOUS ignores a file and its offset");
	same_probe(READ(B + SLOT(1)), "it reads zero");
	undo(r);

	r = MMAP(B + SLOT(1), FILE_PAGES * PG + PG, RW,
		 MAP_SHARED | MAP_FIXED, MEMFD, 0);
	same_addr(r, "mmap shared memfd, one page longer than the file");
	same_probe(WRITE(B + SLOT(1) + (FILE_PAGES - 1) * PG),
		   "its last page is writable");
	same_probe(READ(B + SLOT(1) + FILE_PAGES * PG),
		   "the page past the end of the file");
	undo(r);
}

static void test_mmap_fixed(void)
{
	uint64_t s = SLOT(2);
	struct res r;

	diag("mmap: MAP_FIXED and MAP_FIXED_NOREPLACE");
	MMAP_CASE(B + s + 123, PG, RW, ANON | MAP_FIXED, NOFILE, 0,
		  "mmap unaligned MAP_FIXED address");
	MMAP_CASE(B + s + 123, PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFILE, 0,
		  "mmap unaligned MAP_FIXED_NOREPLACE over a mapping");
	MMAP_CASE(B + s, PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFILE, 0,
		  "mmap MAP_FIXED_NOREPLACE over a mapping");
	MMAP_CASE(B + s, PG, RW, MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, NOFILE,
		  0, "mmap MAP_FIXED_NOREPLACE over a mapping, type 0");
	MMAP_CASE(B + s, PG, RW, MAP_SHARED | MAP_FIXED_NOREPLACE, MEMFD,
		  ~0ULL & ~(PG - 1),
		  "mmap MAP_FIXED_NOREPLACE over a mapping, offset overflow");

	HOLE(s, 4 * PG);
	MMAP_CASE(B + s, 4 * PG + PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFILE,
		  0, "mmap MAP_FIXED_NOREPLACE over a hole and a mapping");
	MMAP_CASE(B + s - PG, 2 * PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFILE,
		  0, "mmap MAP_FIXED_NOREPLACE over a mapping and a hole");
	MMAP_CASE(B + s, 4 * PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFILE, 0,
		  "mmap MAP_FIXED_NOREPLACE over a hole");
	HOLE(s, 4 * PG);
	MMAP_CASE(B + s, 4 * PG, RW,
		  MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE, MEMFD, 0,
		  "mmap MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE of a file");
	HOLE(s, 4 * PG);
	MMAP_CASE(B + s, 4 * PG, RW, MAP_SHARED | MAP_FIXED_NOREPLACE, MEMFD,
		  0, "mmap MAP_SHARED | MAP_FIXED_NOREPLACE of a file");
	HOLE(s, 4 * PG);
	MMAP_CASE(B + s, 4 * PG, RW, MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		  NOFILE, 0, "mmap MAP_FIXED_NOREPLACE over a hole, type 0");
	RESERVE(s, 4 * PG);

	r = MMAP(B + s, 2 * PG, RW, ANON | MAP_FIXED, NOFILE, 0);
	same_addr(r, "mmap MAP_FIXED over a mapping");
	same_probe(WRITE(B + s + PG), "it is writable");
	undo(r);

	diag("mmap: TASK_SIZE");
	MMAP_CASE(TOP, PG, RW, ANON | MAP_FIXED, NOFILE, 0,
		  "mmap MAP_FIXED at TASK_SIZE");
	MMAP_CASE(TOP - PG, 2 * PG, RW, ANON | MAP_FIXED, NOFILE, 0,
		  "mmap MAP_FIXED across TASK_SIZE");
	MMAP_CASE(TOP + 123, PG, RW, ANON | MAP_FIXED, NOFILE, 0,
		  "mmap unaligned MAP_FIXED past TASK_SIZE (ENOMEM first)");
	MMAP_CASE(TOP + PG, PG, RW, MAP_ANONYMOUS | MAP_FIXED, NOFILE, 0,
		  "mmap MAP_FIXED past TASK_SIZE, type 0 (ENOMEM first)");
	MMAP_CASE(TOP, PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFILE, 0,
		  "mmap MAP_FIXED_NOREPLACE at TASK_SIZE");
	MMAP_CASE(~0ULL & ~(PG - 1), PG, RW, ANON | MAP_FIXED, NOFILE, 0,
		  "mmap MAP_FIXED at 2^64 - 4096");
	MMAP_CASE(B, TOP, RW, ANON | MAP_FIXED | MAP_NORESERVE, NOFILE, 0,
		  "mmap MAP_FIXED of TASK_SIZE bytes from the scratch");
	MMAP_CASE(1, TOP - PG, RW, ANON | MAP_FIXED | MAP_NORESERVE, NOFILE, 0,
		  "mmap MAP_FIXED at 1 of TASK_SIZE - 4096 bytes "
		  "(fits: EINVAL for the address)");

	/* The host's stack may hold its last page: then nothing to compare. */
	r = MMAP(TOP - PG, PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFILE, 0);
	if (r.n == -EEXIST) {
		ok(1, "# SKIP the host's last page is taken");
	} else {
		is(r.n, (long)(nat.task - PG),
		   "native: MAP_FIXED_NOREPLACE of the last page");
		is(r.g, (long)(gst.task - PG),
		   "umm: MAP_FIXED_NOREPLACE of the last page");
	}
	undo(r);
}

/* 1 if @r is a mapping in x86's MAP_32BIT window, else the error or 0. */
static long in_32bit_window(long r)
{
	if (r < 0 && r >= -4095)
		return r;
	return r >= 0x40000000L && r < 0x80000000L;
}

static void test_mmap_hint(void)
{
	uint64_t s = SLOT(3);
	struct res r, r2;

	/*
	 * Where a moved mapping goes depends on each side's layout, so the
	 * only holes in the scratch are too small for it: both land outside.
	 */
	diag("mmap: hint addresses");
	HOLE(s, 4 * PG);
	MMAP_CASE(B + s, 2 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint at a hole: gets the hint");
	HOLE(s, 4 * PG);
	MMAP_CASE(B + s + PG + 123, PG, RW, ANON, NOFILE, 0,
		  "mmap unaligned hint at a hole: rounded down");
	HOLE(s, 4 * PG);
	MMAP_CASE(B + s, 4 * PG, RW, MAP_SHARED, MEMFD, 0,
		  "mmap file at a hint in a hole");
	HOLE(s, 4 * PG);
	MMAP_CASE(B + s + 2 * PG, 6 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint overlapping the mapping after a hole: moved");
	MMAP_CASE(B + s - 2 * PG, 6 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint overlapping the mapping before a hole: moved");
	RESERVE(s, 4 * PG);
	MMAP_CASE(B + s, PG, RW, ANON, NOFILE, 0,
		  "mmap hint at a mapping: moved");
	MMAP_CASE(TOP + PG, PG, RW, ANON, NOFILE, 0,
		  "mmap hint past TASK_SIZE: moved");
	MMAP_CASE(TOP - PG, 2 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint across TASK_SIZE: moved");

	diag("mmap: MAP_32BIT");
	r = MMAP(0, PG, RW, ANON | MAP_32BIT, NOFILE, 0);
	compare(in_32bit_window(r.n), in_32bit_window(r.g), VAL,
		"mmap MAP_32BIT lands in [1 GiB, 2 GiB)");
	r2 = r;
	undo(r);
	r = BOTH(nat_mmap((uint64_t)r2.n, PG, RW, ANON | MAP_32BIT, -1, 0),
		 umm_mmap(mm, (uint64_t)r2.g, PG, RW, ANON | MAP_32BIT, NULL,
			  0));
	r.nlen = r.glen = PG;
	ok(r.n == r2.n && r.g == r2.g,
	   "mmap MAP_32BIT at a free hint below 2 GiB gets the hint "
	   "(%#lx, %#lx)", r.n, r.g);
	undo(r);
	HOLE(s, 4 * PG);
	r = MMAP(B + s, PG, RW, ANON | MAP_32BIT, NOFILE, 0);
	compare(in_32bit_window(r.n), in_32bit_window(r.g), VAL,
		"mmap MAP_32BIT ignores a free hint above 2 GiB");
	undo(r);
	MMAP_CASE(B + s, PG, RW, ANON | MAP_32BIT | MAP_FIXED, NOFILE, 0,
		  "mmap MAP_32BIT | MAP_FIXED above 2 GiB");
	RESERVE(s, 4 * PG);
	MMAP_CASE(0, 3ULL << 30, RW, ANON | MAP_32BIT | MAP_NORESERVE, NOFILE,
		  0, "mmap MAP_32BIT of 3 GiB");
}

/*
 * MAP_GROWSDOWN: the vma is a stack. Nothing is placed in its guard gap
 * (256 pages below it) unless asked for with MAP_FIXED*, and mprotect
 * PROT_GROWSDOWN extends down to its start.
 */
static void test_growsdown(void)
{
	uint64_t s = SLOT(11), gap = 256 * PG;
	struct res r, r2;

	diag("mmap: MAP_GROWSDOWN");
	/*
	 * Below the stack, a hole of the guard gap and 4 pages more: too
	 * small for the 5-page mappings that must move elsewhere.
	 */
	HOLE(s - gap - 4 * PG, gap + 4 * PG);
	r = MMAP(B + s, 4 * PG, RW, ANON | MAP_GROWSDOWN | MAP_FIXED, NOFILE,
		 0);
	same_addr(r, "mmap MAP_GROWSDOWN");
	same_probe(WRITE(B + s), "it is writable");
	MMAP_CASE(B + s - 5 * PG, 5 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint right below it: moved out of the guard gap");
	MMAP_CASE(B + s - 64 * PG, 5 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint 64 pages below it: moved out of the guard gap");
	MMAP_CASE(B + s - gap - 4 * PG, 5 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint reaching a page into the guard gap: moved");
	MMAP_CASE(B + s - gap - 4 * PG, 4 * PG, RW, ANON, NOFILE, 0,
		  "mmap hint right below the guard gap: gets the hint");
	HOLE(s - gap - 4 * PG, 4 * PG);
	MMAP_CASE(B + s - 5 * PG, 5 * PG, RW, ANON | MAP_FIXED_NOREPLACE,
		  NOFILE, 0, "mmap MAP_FIXED_NOREPLACE in the guard gap");
	HOLE(s - 5 * PG, 5 * PG);
	same(MPROTECT(B + s + 2 * PG, PG, PROT_READ | PROT_GROWSDOWN),
	     "mprotect PROT_GROWSDOWN of its third page");
	same_probe(WRITE(B + s), "its first page changed");
	same_probe(WRITE(B + s + 3 * PG), "its last page did not");
	same(MPROTECT(B + s - PG, 2 * PG, RW | PROT_GROWSDOWN),
	     "mprotect PROT_GROWSDOWN from the hole below");
	same_probe(WRITE(B + s), "its first page is writable again");
	same(MPROTECT(B + s, PG, PROT_READ | PROT_GROWSUP),
	     "mprotect PROT_GROWSUP of it");
	/*
	 * Last: the native probe runs in a child, so the host's stack grows
	 * only there, while the guest's stays grown.
	 */
	r2 = READ(B + s - PG);
	compare(r2.n, r2.g, PROBE, "a read just below it grows the stack");
	r2 = READ(B + s - gap - 8 * PG);
	compare(r2.n, r2.g, PROBE, "a read in the PROT_NONE mapping below "
		"the hole does not grow it");
	undo(r);
	RESERVE(s - gap - 4 * PG, gap + 4 * PG);

	MMAP_CASE(0, 4 * PG, RW, ANON | MAP_GROWSDOWN, NOFILE, 0,
		  "mmap MAP_GROWSDOWN anywhere");
	MMAP_CASE(B + s, 4 * PG, RW, ANON | MAP_GROWSDOWN | MAP_FIXED, MEMFD,
		  0, "mmap MAP_GROWSDOWN ignores a file as anonymous memory");
}

/* MAP_DROPPABLE came with Linux 6.11: older hosts have no answer to give. */
static bool host_has_droppable(void)
{
	long r = nat_mmap(0, PG, RW, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);

	if (r < 0)
		return false;
	nat_munmap((uint64_t)r, PG);
	return true;
}

static void test_droppable(void)
{
	uint64_t s = SLOT(12);
	struct res r;

	diag("mmap: MAP_DROPPABLE");
	if (!host_has_droppable()) {
		ok(1, "# SKIP the host kernel predates MAP_DROPPABLE");
		return;
	}
	MMAP_CASE(0, PG, RW, MAP_DROPPABLE | MAP_ANONYMOUS, NOFILE, 0,
		  "mmap anonymous, MAP_DROPPABLE");
	r = MMAP(B + s, 4 * PG, RW, MAP_DROPPABLE | MAP_ANONYMOUS | MAP_FIXED,
		 NOFILE, 0);
	same_addr(r, "mmap MAP_DROPPABLE | MAP_FIXED");
	same_probe(WRITE(B + s + PG), "it is writable");
	same_probe(READ(B + s + 2 * PG), "it reads zero");
	same(MPROTECT(B + s, 4 * PG, PROT_READ), "mprotect it read-only");
	same_probe(WRITE(B + s + PG), "then a write faults");
	undo(r);
}

/* ---- munmap ---- */

static void test_munmap(void)
{
	uint64_t s = SLOT(4);
	struct res r;

	diag("munmap");
	same(MUNMAP(B + s + 1, PG), "munmap unaligned address");
	same(MUNMAP(B + s, 0), "munmap len 0");
	same(MUNMAP(B + s + 1, 0), "munmap unaligned address, len 0");
	same(MUNMAP(TOP - PG, 2 * PG), "munmap across TASK_SIZE");
	same(MUNMAP(TOP, PG), "munmap at TASK_SIZE");
	same(MUNMAP(TOP + PG, PG), "munmap past TASK_SIZE");
	same(MUNMAP(TOP, 0), "munmap at TASK_SIZE, len 0");
	same(MUNMAP(~0ULL & ~(PG - 1), PG), "munmap at 2^64 - 4096");
	same(MUNMAP(B + s, ~0ULL), "munmap len ~0");
	same(MUNMAP(B + s, TOP), "munmap TASK_SIZE bytes from the scratch");

	HOLE(s, 4 * PG);
	same(MUNMAP(B + s, 4 * PG), "munmap a hole");
	same(MUNMAP(B + s + PG, PG + 1), "munmap inside a hole");

	r = MMAP(B + s, 3 * PG, RW, ANON | MAP_FIXED, NOFILE, 0);
	same_addr(r, "mmap three pages to split");
	*(uint8_t *)(nat.base + s) = 1;
	*(uint8_t *)(nat.base + s + PG) = 2;
	*(uint8_t *)(nat.base + s + 2 * PG) = 3;
	guest_write(mm, gst.base + s, 1);
	guest_write(mm, gst.base + s + PG, 2);
	guest_write(mm, gst.base + s + 2 * PG, 3);
	same(MUNMAP(B + s + PG, PG), "munmap the middle page");
	same_probe(READ(B + s + PG), "the middle faults");
	same_probe(READ(B + s), "the first page keeps its data");
	same_probe(READ(B + s + 2 * PG), "the last page keeps its data");
	same_probe(WRITE(B + s + 2 * PG), "the last page is still writable");
	same(MUNMAP(B + s, 1), "munmap 1 byte: a page");
	same_probe(READ(B + s), "that page faults");
	same(MUNMAP(B + s, 3 * PG), "munmap over holes and a page");
	same_probe(READ(B + s + 2 * PG), "that page faults");
	RESERVE(s, 4 * PG);
}

/* ---- mprotect ---- */

static void test_mprotect_args(void)
{
	uint64_t s = SLOT(5);
	struct res r;

	diag("mprotect: arguments");
	r = MMAP(B + s, 4 * PG, RW, ANON | MAP_FIXED, NOFILE, 0);
	same_addr(r, "mmap four pages to protect");
	same(MPROTECT(B + s + 1, PG, PROT_READ), "mprotect unaligned start");
	same(MPROTECT(B + s, 0, PROT_READ), "mprotect len 0");
	same(MPROTECT(B + s + 1, 0, PROT_READ),
	     "mprotect unaligned start, len 0");
	same(MPROTECT(B + s, ~0ULL, PROT_READ), "mprotect len ~0");
	same(MPROTECT(B + s, -(B + s), PROT_READ),
	     "mprotect len wrapping to 0");
	same(MPROTECT(B + s, -(B + s) - 100, PROT_READ),
	     "mprotect len wrapping to 0 when page-aligned");
	same(MPROTECT(B + s, PG, PROT_READ | PROT_UNKNOWN),
	     "mprotect unknown prot bit");
	same(MPROTECT(B + s, 0, PROT_READ | PROT_UNKNOWN),
	     "mprotect unknown prot bit, len 0");
	same(MPROTECT(B + s, ~0ULL, PROT_READ | PROT_UNKNOWN),
	     "mprotect unknown prot bit, len ~0");
	same(MPROTECT(B + s + 1, PG, PROT_READ | PROT_UNKNOWN),
	     "mprotect unknown prot bit, unaligned start");
	same(MPROTECT(B + SLOT(6), PG, PROT_READ | PROT_UNKNOWN),
	     "mprotect unknown prot bit in a reservation");
	same(MPROTECT(B + s, PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP),
	     "mprotect PROT_GROWSDOWN | PROT_GROWSUP");
	same(MPROTECT(B + s, 0, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP),
	     "mprotect PROT_GROWSDOWN | PROT_GROWSUP, len 0");
	same(MPROTECT(B + s + 1, PG,
		      PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP),
	     "mprotect PROT_GROWSDOWN | PROT_GROWSUP, unaligned start");
	same(MPROTECT(B + s, ~0ULL, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP),
	     "mprotect PROT_GROWSDOWN | PROT_GROWSUP, len ~0");
	same(MPROTECT(B + s, PG, PROT_READ | PROT_GROWSDOWN),
	     "mprotect PROT_GROWSDOWN of a mapping that does not grow");
	same(MPROTECT(B + s, PG, PROT_READ | PROT_GROWSUP),
	     "mprotect PROT_GROWSUP of a mapping that does not grow");
	same(MPROTECT(B + s + PG, PG, PROT_READ | PROT_GROWSUP | PROT_SEM),
	     "mprotect PROT_GROWSUP | PROT_SEM");
	same_probe(WRITE(B + s), "after all that, still writable");
	same(MPROTECT(B + s, PG, PROT_READ | PROT_SEM), "mprotect PROT_SEM");
	same_probe(WRITE(B + s), "PROT_READ | PROT_SEM: write faults");
	same_probe(READ(B + s), "and read works");
	same(MPROTECT(B + s, PG, PROT_EXEC), "mprotect PROT_EXEC");
	same_probe(READ(B + s), "PROT_EXEC: read");
	same_probe(WRITE(B + s), "PROT_EXEC: write");
	same(MPROTECT(B + s, PG, PROT_NONE), "mprotect PROT_NONE");
	same_probe(READ(B + s), "PROT_NONE: read faults");
	same(MPROTECT(B + s, 4 * PG, -1), "mprotect prot -1");
	same(MPROTECT(B + s, 4 * PG, RW | PROT_EXEC),
	     "mprotect PROT_READ | PROT_WRITE | PROT_EXEC");
	same_probe(WRITE(B + s), "writable again");

	diag("mprotect: past TASK_SIZE");
	same(MPROTECT(TOP, PG, PROT_READ), "mprotect at TASK_SIZE");
	same(MPROTECT(TOP + PG, PG, PROT_READ), "mprotect past TASK_SIZE");
	same(MPROTECT(~0ULL & ~(PG - 1), PG, PROT_READ),
	     "mprotect of the last page of the address space (wraps)");
	same(MPROTECT(TOP, PG, PROT_READ | PROT_GROWSDOWN),
	     "mprotect PROT_GROWSDOWN at TASK_SIZE");
	undo(r);
}

static void test_mprotect_holes(void)
{
	uint64_t s = SLOT(7);
	struct res r;

	diag("mprotect: holes");
	r = MMAP(B + s, 8 * PG, RW, ANON | MAP_FIXED, NOFILE, 0);
	same_addr(r, "mmap eight pages");
	HOLE(s, PG);
	HOLE(s + 3 * PG, PG);
	HOLE(s + 7 * PG, PG);
	/* [hole][rw][rw][hole][rw][rw][rw][hole] */
	same(MPROTECT(B + s, 3 * PG, PROT_READ),
	     "mprotect of a range starting in a hole");
	same_probe(WRITE(B + s + PG), "the mapping after it is unchanged");
	same(MPROTECT(B + s, PG, PROT_READ), "mprotect of a hole");
	same(MPROTECT(B + s, 0, PROT_READ), "mprotect len 0 in a hole");
	same(MPROTECT(B + s, PG, PROT_READ | PROT_GROWSDOWN),
	     "mprotect PROT_GROWSDOWN of a hole");
	same(MPROTECT(B + s, 2 * PG, PROT_READ | PROT_GROWSDOWN),
	     "mprotect PROT_GROWSDOWN from a hole into a mapping");
	same(MPROTECT(B + s, 2 * PG, PROT_READ | PROT_GROWSUP),
	     "mprotect PROT_GROWSUP from a hole into a mapping");

	same(MPROTECT(B + s + PG, 4 * PG, PROT_READ),
	     "mprotect of a range with a hole in the middle");
	same_probe(WRITE(B + s + PG), "before the hole: write faults now");
	same_probe(WRITE(B + s + 2 * PG), "the page before the hole too");
	same_probe(READ(B + s + 2 * PG), "and can be read");
	same_probe(WRITE(B + s + 4 * PG), "after the hole: unchanged");

	same(MPROTECT(B + s + 4 * PG, 4 * PG, PROT_NONE),
	     "mprotect of a range ending in a hole");
	same_probe(READ(B + s + 6 * PG), "before the hole: PROT_NONE now");
	same(MPROTECT(B + s + 4 * PG, 3 * PG, RW),
	     "mprotect of the mapping alone");
	same_probe(WRITE(B + s + 6 * PG), "writable again");
	same(MPROTECT(B + s + PG, 6 * PG, RW),
	     "mprotect of mappings around a hole");
	same_probe(WRITE(B + s + PG), "the first one changed");
	RESERVE(s, 8 * PG);
}

static void test_mprotect_files(void)
{
	uint64_t s = SLOT(8);
	struct res r, f, p;

	diag("mprotect: files");
	r = MMAP(B + s, PG, PROT_READ, ANON | MAP_FIXED, NOFILE, 0);
	f = MMAP(B + s + PG, 2 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, ROFILE,
		 0);
	same_addr(f, "mmap a read-only file shared, after an anonymous page");
	same(MPROTECT(B + s + PG, 2 * PG, RW),
	     "mprotect PROT_WRITE of a shared read-only file");
	same(MPROTECT(B + s + PG, PG, PROT_WRITE),
	     "mprotect PROT_WRITE only of it");
	same(MPROTECT(B + s + PG, 2 * PG, PROT_READ | PROT_EXEC),
	     "mprotect PROT_EXEC of it");
	same(MPROTECT(B + s + PG, 2 * PG, PROT_NONE),
	     "mprotect PROT_NONE of it");
	same_probe(READ(B + s + PG), "it faults");
	same(MPROTECT(B + s + PG, 2 * PG, PROT_READ),
	     "mprotect PROT_READ of it");
	same_probe(READ(B + s + PG), "it reads the file");
	same(MPROTECT(B + s, 3 * PG, RW),
	     "mprotect PROT_WRITE of an anonymous page and the file");
	same_probe(WRITE(B + s), "the anonymous page changed");
	same_probe(WRITE(B + s + PG), "the file did not");

	p = MMAP(B + s + 4 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_FIXED,
		 ROFILE, 0);
	same_addr(p, "mmap a read-only file private");
	same(MPROTECT(B + s + 4 * PG, 2 * PG, RW),
	     "mprotect PROT_WRITE of a private read-only file");
	same_probe(WRITE(B + s + 4 * PG), "it is writable (copy on write)");
	same(MPROTECT(B + s + 4 * PG, 2 * PG, PROT_READ | PROT_EXEC),
	     "mprotect PROT_EXEC of it");
	same_probe(READ(B + s + 4 * PG), "it reads its copy");
	undo(p);

	p = MMAP(B + s + 4 * PG, 2 * PG, PROT_READ, MAP_SHARED | MAP_FIXED,
		 MEMFD, 0);
	same_addr(p, "mmap a memfd shared, read-only");
	same(MPROTECT(B + s + 4 * PG, 2 * PG, RW | PROT_EXEC),
	     "mprotect PROT_WRITE | PROT_EXEC of a shared memfd");
	same_probe(WRITE(B + s + 4 * PG), "it is writable");
	undo(p);
	undo(f);
	undo(r);
}

/* ---- brk ---- */

/*
 * A brk script, run natively and then in the guest. Addresses are relative
 * to the break the script starts from, page-aligned; results are too.
 */
enum brk_op { BRK, BRK_ABS, TOUCH, BLOCK, BLOCK_STACK, UNBLOCK, UNMAP };

#define ARG_ZERO 1		/* BRK_ABS: brk(0) */
#define ARG_BELOW_START 2	/* BRK_ABS: a page below the heap's start */
#define ARG_TOP 3		/* BRK_ABS: TASK_SIZE */
#define ARG_MAX 4		/* BRK_ABS: ~0 */

static const struct brk_step {
	enum brk_op op;
	int64_t arg;
	const char *name;
} brk_script[] = {
	{ BRK_ABS, ARG_ZERO, "brk(0) gives the current break" },
	{ BRK, 3 * PG + 5, "brk grows by 3 pages and 5 bytes" },
	{ TOUCH, 3 * PG + 4, "the last byte of the heap is writable" },
	{ TOUCH, 4 * PG, "the page past the break faults" },
	{ BRK_ABS, ARG_ZERO, "brk(0) after growing" },
	{ BRK, PG, "brk shrinks to one page" },
	{ TOUCH, PG, "the pages past the shrunk break are gone" },
	{ TOUCH, 0, "the page below it stays" },
	{ BRK, PG - 100, "brk shrinks within its page" },
	{ TOUCH, PG - 50, "that page stays" },
	{ BRK, PG, "brk grows within its page" },
	{ BLOCK, 8 * PG, "a mapping 8 pages up" },
	{ BRK, 8 * PG, "brk grows up to the mapping: refused, old break" },
	{ BRK, 7 * PG + 1, "brk grows to touch the mapping: refused" },
	{ BRK, 7 * PG, "brk grows to a page below the mapping" },
	{ BRK, 10 * PG, "brk grows over the mapping: refused" },
	{ TOUCH, 7 * PG - 1, "the heap reaches the page below it" },
	{ BRK_ABS, ARG_BELOW_START, "brk below the start of the heap" },
	{ BRK_ABS, ARG_TOP, "brk at TASK_SIZE" },
	{ BRK_ABS, ARG_MAX, "brk(~0)" },
	{ UNBLOCK, 8 * PG, "unmap the mapping" },
	{ BLOCK_STACK, 512 * PG, "a MAP_GROWSDOWN mapping 512 pages up" },
	{ BRK, 256 * PG, "brk grows into its guard gap: refused" },
	{ BRK, 255 * PG, "brk grows to a page below its guard gap" },
	{ TOUCH, 255 * PG - 1, "the heap reaches it" },
	{ BRK, 7 * PG - 100, "brk shrinks within a page of where it was" },
	{ UNBLOCK, 512 * PG, "unmap the MAP_GROWSDOWN mapping" },
	{ UNMAP, 7 * PG, "unmap the heap's pages behind brk's back" },
	{ BRK, 0, "brk shrinks over unmapped pages" },
	{ BRK, 8 * PG, "brk grows again" },
	{ TOUCH, 8 * PG - 1, "the new top page is writable" },
	{ BRK, 0, "brk shrinks to where it started" },
	{ TOUCH, 0, "the heap page is gone" },
};

#define BRK_STEPS (sizeof(brk_script) / sizeof(brk_script[0]))

/* Each step's result: a break relative to the start, a probe, an errno. */
static long brk_nat[BRK_STEPS];
static bool brk_nat_done;

static uint64_t brk_arg(const struct brk_step *st, uint64_t base,
			uint64_t start_brk, uint64_t task)
{
	if (st->op != BRK_ABS)
		return base + (uint64_t)st->arg;
	switch (st->arg) {
	case ARG_ZERO:
		return 0;
	case ARG_BELOW_START:
		return start_brk - PG;
	case ARG_TOP:
		return task;
	default:
		return ~0ULL;
	}
}

static int brk_block_flags(const struct brk_step *st)
{
	return ANON | MAP_FIXED_NOREPLACE |
	       (st->op == BLOCK_STACK ? MAP_GROWSDOWN : 0);
}

static long brk_rel(long brk, uint64_t base)
{
	return brk - (long)base;
}

/* The heap's start, from /proc/self/stat (field 47, start_brk). */
static uint64_t nat_start_brk(void)
{
	char buf[2048], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY), i;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* Field 3 follows ") "; start_brk is field 47. */
	for (i = 2; p && i < 47; i++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

/*
 * The native script runs first, before umm or anything else in this
 * process could call malloc (which moves the break with its own idea of
 * it): nothing here allocates, and the break is restored at the end.
 */
static void brk_native(void)
{
	uint64_t orig = (uint64_t)nat_brk(0), base = PAGE_UP(orig);
	uint64_t start_brk = nat_start_brk();
	unsigned int i;

	if (!start_brk || nat_brk(base) != (long)base)
		return;
	for (i = 0; i < BRK_STEPS; i++) {
		const struct brk_step *st = &brk_script[i];
		uint64_t a = brk_arg(st, base, start_brk, nat.task);

		switch (st->op) {
		case BRK:
		case BRK_ABS:
			brk_nat[i] = brk_rel(nat_brk(a), base);
			break;
		case TOUCH:
			brk_nat[i] = nat_access(a, 1);
			break;
		case BLOCK:
		case BLOCK_STACK:
			brk_nat[i] = nat_mmap(a, PG, RW, brk_block_flags(st),
					      -1, 0);
			if (brk_nat[i] >= 0)
				brk_nat[i] = 0;
			break;
		case UNBLOCK:
			brk_nat[i] = nat_munmap(a, PG);
			break;
		case UNMAP:
			brk_nat[i] = nat_munmap(base, a - base);
			break;
		}
	}
	nat_brk(base);
	nat_brk(orig);
	brk_nat_done = nat_brk(0) == (long)orig;
}

static void test_brk(void)
{
	uint64_t base = (uint64_t)umm_brk(mm, 0);
	unsigned int i;
	long g;

	diag("brk");
	if (!brk_nat_done) {
		ok(1, "# SKIP the native brk script could not run");
		return;
	}
	for (i = 0; i < BRK_STEPS; i++) {
		const struct brk_step *st = &brk_script[i];
		uint64_t a = brk_arg(st, base, base, gst.task);

		switch (st->op) {
		case BRK:
		case BRK_ABS:
			g = brk_rel(umm_brk(mm, a), base);
			compare(brk_nat[i], g, VAL, "%s (break - start)",
				st->name);
			break;
		case TOUCH:
			g = gst_access(a, 1);
			compare(brk_nat[i], g, PROBE, "%s", st->name);
			break;
		case BLOCK:
		case BLOCK_STACK:
			g = umm_mmap(mm, a, PG, RW, brk_block_flags(st), NULL,
				     0);
			compare(brk_nat[i], g >= 0 ? 0 : g, VAL, "%s",
				st->name);
			break;
		case UNBLOCK:
			compare(brk_nat[i], umm_munmap(mm, a, PG), VAL, "%s",
				st->name);
			break;
		case UNMAP:
			compare(brk_nat[i], umm_munmap(mm, base, a - base),
				VAL, "%s", st->name);
			break;
		}
	}
}

/* ---- what only the guest can show ---- */

/*
 * The guest is an unprivileged process with mmap_min_addr = 64 KiB
 * (include/umm.h). Natively this test runs as root, which may map there,
 * so these are checked against Linux's documented behaviour for an
 * unprivileged caller: MAP_FIXED below mmap_min_addr fails with EPERM
 * (security_mmap_addr), and a hint below it is raised to it
 * (round_hint_to_min).
 */
static void test_min_addr(void)
{
	long r;

	diag("mmap_min_addr (umm only: the host runs this as root)");
	is(umm_mmap(mm, PG, PG, RW, ANON | MAP_FIXED, NULL, 0), -EPERM,
	   "umm: MAP_FIXED at 4096 -> -EPERM");
	is(umm_mmap(mm, 0, PG, RW, ANON | MAP_FIXED, NULL, 0), -EPERM,
	   "umm: MAP_FIXED at 0 -> -EPERM");
	is(umm_mmap(mm, MIN_ADDR - PG, 2 * PG, RW, ANON | MAP_FIXED, NULL, 0),
	   -EPERM, "umm: MAP_FIXED across 64 KiB -> -EPERM");
	is(umm_mmap(mm, PG, PG, RW, ANON | MAP_FIXED_NOREPLACE, NULL, 0),
	   -EPERM, "umm: MAP_FIXED_NOREPLACE at 4096 -> -EPERM");
	is(umm_mmap(mm, 0, gst.task, RW, ANON | MAP_FIXED, NULL, 0), -EPERM,
	   "umm: MAP_FIXED at 0 of TASK_SIZE bytes -> -EPERM");
	is(umm_mmap(mm, PG + 1, PG, RW, ANON | MAP_FIXED, NULL, 0), -EINVAL,
	   "umm: unaligned MAP_FIXED at 4097 -> -EINVAL (before EPERM)");
	is(umm_mmap(mm, PG, PG, RW, MAP_ANONYMOUS | MAP_FIXED, NULL, 0),
	   -EPERM, "umm: MAP_FIXED at 4096, type 0 -> -EPERM (first)");
	r = umm_mmap(mm, PG, PG, RW, ANON, NULL, 0);
	is(r, (long)MIN_ADDR, "umm: hint 4096 -> 64 KiB");
	umm_munmap(mm, (uint64_t)r, PG);
	r = umm_mmap(mm, MIN_ADDR, PG, RW, ANON | MAP_FIXED, NULL, 0);
	is(r, (long)MIN_ADDR, "umm: MAP_FIXED at 64 KiB works");
	is(umm_munmap(mm, 0, MIN_ADDR + PG), 0, "umm: munmap from 0 works");
	is(umm_mprotect(mm, 0, PG, PROT_READ), -ENOMEM,
	   "umm: mprotect at 0 -> -ENOMEM (nothing there)");
}

/*
 * brk up to TASK_SIZE: natively the stack is always in the way. Linux's
 * brk refuses only a break past TASK_SIZE (check_brk_limits) or within a
 * page of the next mapping; with nothing above, the heap may end at
 * TASK_SIZE.
 */
static void test_brk_top(void)
{
	struct umm_mm *m = umm_mm_new(phys, GUEST_TASK_SIZE);
	long start = umm_brk(m, 0), r;

	diag("brk to TASK_SIZE (umm only: the host's stack is in the way)");
	is(umm_brk(m, GUEST_TASK_SIZE + 1), start,
	   "umm: brk past TASK_SIZE is refused");
	is(umm_brk(m, GUEST_TASK_SIZE), GUEST_TASK_SIZE,
	   "umm: brk up to TASK_SIZE with nothing above");
	r = umm_mmap(m, 0, PG, RW, ANON, NULL, 0);
	ok(r >= (long)MIN_ADDR && r < start,
	   "umm: then mmap finds room below the heap (%#lx)", r);
	is(umm_brk(m, (uint64_t)start), start, "umm: brk shrinks back");
	umm_mm_put(m);
}

/* ---- setup ---- */

static void setup_files(void)
{
	char buf[2 * PG];
	int fd = mkstemp(rof_path);

	memset(buf, 'x', sizeof(buf));
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		BAIL_OUT("temp file: %s", strerror(errno));
	close(fd);
	rofd = open(rof_path, O_RDONLY | O_CLOEXEC);
	memfd = memfd_create("umm-errno", MFD_CLOEXEC);
	if (rofd < 0 || memfd < 0 || ftruncate(memfd, FILE_PAGES * PG) < 0)
		BAIL_OUT("files: %s", strerror(errno));
	shm = umm_shmem_new(phys, FILE_PAGES * PG);
	rof = umm_file_open(phys, rof_path);
	if (!shm || !rof)
		BAIL_OUT("umm files: %s", strerror(errno));
}

/* TASK_SIZE natively: 47 bits, or 56 with 5-level page tables. */
static uint64_t native_task_size(void)
{
	long r = nat_mmap(1ULL << 47, PG, PROT_NONE,
			  ANON | MAP_FIXED_NOREPLACE, -1, 0);

	if (r < 0)
		return (1ULL << 47) - PG;
	nat_munmap((uint64_t)r, PG);
	return (1ULL << 56) - PG;
}

int main(void)
{
	long r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	nat.task = native_task_size();
	brk_native();

	phys = umm_phys_new(64ULL << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	mm = umm_mm_new(phys, GUEST_TASK_SIZE);
	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	gst.task = GUEST_TASK_SIZE;
	r = nat_mmap(0, SCRATCH, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
	if (r < 0)
		BAIL_OUT("native scratch: %s", strerror((int)-r));
	nat.base = (uint64_t)r;
	r = umm_mmap(mm, 0, SCRATCH, PROT_NONE, ANON | MAP_NORESERVE, NULL, 0);
	if (r < 0)
		BAIL_OUT("guest scratch: %s", strerror((int)-r));
	gst.base = (uint64_t)r;
	diag("native TASK_SIZE %#llx, scratch %#llx; guest TASK_SIZE %#llx, "
	     "scratch %#llx", (unsigned long long)nat.task,
	     (unsigned long long)nat.base, (unsigned long long)gst.task,
	     (unsigned long long)gst.base);
	setup_files();

	test_mmap_args();
	test_mmap_files();
	test_mmap_fixed();
	test_mmap_hint();
	test_growsdown();
	test_droppable();
	test_munmap();
	test_mprotect_args();
	test_mprotect_holes();
	test_mprotect_files();
	test_brk();
	test_min_addr();
	test_brk_top();

	nat_munmap(nat.base, SCRATCH);
	umm_mm_put(mm);
	umm_file_put(shm);
	umm_file_put(rof);
	close(memfd);
	close(rofd);
	unlink(rof_path);
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
