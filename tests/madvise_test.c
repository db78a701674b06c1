// SPDX-License-Identifier: MIT
/*
 * madvise, differentially: every case runs natively, as a raw madvise(2) on
 * the host kernel, and as umm_madvise in a guest, and the two must agree.
 * As in errno_test.c, the host kernel is the oracle, asked at run time, and
 * addresses are offsets into a scratch region reserved PROT_NONE on each
 * side (B, the side's scratch base; TOP, its TASK_SIZE).
 *
 * What a call did is compared too, by what it shows:
 *
 * - contents: MADV_DONTNEED empties private pages (anonymous ones read
 *   zero, private file pages read the file again) and leaves shared ones;
 *   MADV_REMOVE punches the file for every mapping of it, in this mm or a
 *   forked one; MADV_POPULATE_WRITE copies a private file page, READ does
 *   not. Natively the page is read in this process, in the guest through
 *   umm_guest_call;
 * - what is populated: natively as mincore says, in the guest whether a
 *   read takes no fault (MADV_POPULATE_*, MADV_WILLNEED);
 * - fork: MADV_WIPEONFORK, MADV_DONTFORK and their undoing show in a child.
 *   Natively this process forks and the child reads (a SIGSEGV is caught
 *   there and reported with its si_code); in the guest umm_fork makes the
 *   child mm, which is read the same way and put again;
 * - vmas: advice that changes a vma's flags splits it, and merges it back
 *   when the flags agree again. Natively the lines of /proc/self/maps in a
 *   part of the scratch are counted, in the guest the lines of umm_maps.
 *
 * A hole in the range gives ENOMEM after the rest of the range was advised,
 * so each hole case checks the mapped part changed. A split past the map
 * count limit is EAGAIN (test_map_limit fills both sides to their limit).
 * What happens to pinned pages is checked in umm alone (test_pinned): the
 * host cannot pin from user space.
 *
 * On purpose, umm differs for nonlinear vmas (remap_file_pages), which
 * Linux has emulated with linear ones since 4.0: MADV_REMOVE refuses them
 * as Linux did before (checked in umm alone).
 *
 * Known differences umm cannot fix in mm/madvise.c are TAP TODO lines (see
 * todo()): they show without failing the suite, and fail it once they pass,
 * so that the TODO is taken away. They are advice Linux knows and umm does
 * not implement, and vma flags umm's mmap does not set (VM_LOCKED for
 * MAP_LOCKED, VM_DROPPABLE and VM_DONTDUMP for MAP_DROPPABLE).
 *
 * Every test gets a fresh guest (physical memory, mm, files), and ends
 * with check_mm_coherent on each mm and check_frames_free.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common.h"

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define SHANON (MAP_SHARED | MAP_ANONYMOUS)

#define GUEST_TASK_SIZE (1ULL << 32)
#define SCRATCH (1ULL << 30)
#define SLOT(n) ((uint64_t)(n) << 20)	/* a MiB of scratch per test */
#define FILE_PAGES 8
#define MAX_PEEK 8

/* An mmap result outside the scratch region: compared as "somewhere". */
#define ELSEWHERE (1L << 62)

struct side {
	uint64_t base;	/* the scratch region */
	uint64_t task;	/* TASK_SIZE */
};

static struct side nat, gst;
static struct umm_phys *phys;
static struct umm_mm *mm;
static struct umm_file *shm, *rof;
static int memfd = -1, rofd = -1;
static char rof_path[] = "/tmp/umm-madvise-XXXXXX";
/* A shared page where native children leave what they saw. */
static volatile long *shared;

enum file_kind { NOFILE, MEMFD, ROFILE };

struct res {
	long n, g;
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

static long nat_madvise(uint64_t addr, uint64_t len, int advice)
{
	return sys_ret(syscall(SYS_madvise, addr, len, (long)advice));
}

static int nat_fd(enum file_kind f)
{
	return f == MEMFD ? memfd : f == ROFILE ? rofd : -1;
}

static struct umm_file *gst_file(enum file_kind f)
{
	return f == MEMFD ? shm : f == ROFILE ? rof : NULL;
}

/* A probe's result: the byte read, or this for the signal it raised. */
static long sigcode(int sig, int code)
{
	return -(long)((sig << 8) | (code & 0xff));
}

/*
 * Pages are read natively in this process: every page read is mapped
 * readable, and a native fault here would be a bug of the test (umm's
 * handler would not know the address and the test would die of it).
 */
static long nat_peek(uint64_t addr)
{
	return *(volatile uint8_t *)addr;
}

static void nat_poke(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)addr = v;
}

static long gst_peek(struct umm_mm *m, uint64_t va)
{
	siginfo_t si;
	uint8_t v = 0;
	int sig = guest_access(m, va, 0, &v, &si);

	return sig ? sigcode(sig, si.si_code) : v;
}

/*
 * Run one call on both sides. The expressions may use B, the side's scratch
 * base, and TOP, its TASK_SIZE.
 */
#define SIDE(s)                                \
	uint64_t B = (s).base, TOP = (s).task; \
	(void)B;                               \
	(void)TOP

#define BOTH(nat_expr, gst_expr)           \
	({                                 \
		struct res _r = { 0, 0 };  \
		{                          \
			SIDE(nat);         \
			_r.n = (nat_expr); \
		}                          \
		{                          \
			SIDE(gst);         \
			_r.g = (gst_expr); \
		}                          \
		_r;                        \
	})

#define MADVISE(addr, len, advice)                        \
	BOTH(nat_madvise((addr), (len), (advice)),        \
	     umm_madvise(mm, (addr), (len), (advice)))
#define PEEK(addr) BOTH(nat_peek(addr), gst_peek(mm, (addr)))

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

static const char *si_code_name(int sig, int code)
{
	if (sig == SIGSEGV && code == SEGV_MAPERR)
		return "SEGV_MAPERR";
	if (sig == SIGSEGV && code == SEGV_ACCERR)
		return "SEGV_ACCERR";
	if (sig == SIGBUS && code == BUS_ADRERR)
		return "BUS_ADRERR";
	return NULL;
}

static void show(char *buf, size_t size, long v, enum kind kind)
{
	const char *name, *code;

	if (kind == PROBE && v < 0) {
		int sig = (int)(-v >> 8), c = (int)(-v & 0xff);

		name = sigabbrev_np(sig);
		code = si_code_name(sig, c);
		if (code)
			snprintf(buf, size, "SIG%s/%s", name ? name : "?",
				 code);
		else
			snprintf(buf, size, "SIG%s/%d", name ? name : "?", c);
	} else if (kind == PROBE) {
		snprintf(buf, size, "%#lx", v);
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
		snprintf(buf, size, "%ld", v);
	}
}

static int compare_va(long n, long g, enum kind kind, const char *fmt,
		      va_list ap)
{
	char name[256], sn[64], sg[64];

	vsnprintf(name, sizeof(name), fmt, ap);
	show(sn, sizeof(sn), n, kind);
	show(sg, sizeof(sg), g, kind);
	if (n == g)
		return ok(1, "%s: %s on both", name, sn);
	return ok(0, "%s: native %s, umm %s", name, sn, sg);
}

static int __attribute__((format(printf, 4, 5)))
compare(long n, long g, enum kind kind, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = compare_va(n, g, kind, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * A difference umm knows of and mm/madvise.c cannot fix: TAP's TODO, so it
 * shows without failing the suite; once umm agrees, the line passes
 * unexpectedly, which fails the suite, so the TODO gets taken away.
 */
static void __attribute__((format(printf, 5, 6)))
todo(long n, long g, enum kind kind, const char *why, const char *fmt, ...)
{
	char name[256], sn[64], sg[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	show(sn, sizeof(sn), n, kind);
	show(sg, sizeof(sg), g, kind);
	if (n == g)
		printf("ok %d - %s: %s on both # TODO %s\n", ++tap_n, name, sn,
		       why);
	else
		printf("not ok %d - %s: native %s, umm %s # TODO %s\n",
		       ++tap_n, name, sn, sg, why);
	fflush(stdout);
}

#define same(r, ...) compare((r).n, (r).g, VAL, __VA_ARGS__)
#define same_probe(r, ...) compare((r).n, (r).g, PROBE, __VA_ARGS__)

/* ---- setting up the same mappings on both sides ---- */

/* Map [B+off, +len) MAP_FIXED on both sides. */
static void map_both(uint64_t off, uint64_t len, int prot, int flags,
		     enum file_kind f, uint64_t foff, const char *what)
{
	long n = nat_mmap(nat.base + off, len, prot, flags | MAP_FIXED,
			  nat_fd(f), foff);
	long g = umm_mmap(mm, gst.base + off, len, prot, flags | MAP_FIXED,
			  gst_file(f), foff);

	compare(norm(n, &nat), norm(g, &gst), ADDR, "mmap %s", what);
}

/* As map_both, for setting up many cases: a failure ends the test. */
static void map_quiet(uint64_t off, uint64_t len, int prot, int flags,
		      enum file_kind f, uint64_t foff)
{
	long n = nat_mmap(nat.base + off, len, prot, flags | MAP_FIXED,
			  nat_fd(f), foff);
	long g = umm_mmap(mm, gst.base + off, len, prot, flags | MAP_FIXED,
			  gst_file(f), foff);

	if (n != (long)(nat.base + off) || g != (long)(gst.base + off))
		BAIL_OUT("mmap at B+%#llx: native %ld, umm %ld",
			 (unsigned long long)off, n, g);
}

/* Give [B+off, +len) back to the PROT_NONE reservation on both sides. */
static void reserve(uint64_t off, uint64_t len)
{
	int flags = ANON | MAP_FIXED | MAP_NORESERVE;

	if (nat_mmap(nat.base + off, len, PROT_NONE, flags, -1, 0) < 0 ||
	    umm_mmap(mm, gst.base + off, len, PROT_NONE, flags, NULL, 0) < 0)
		BAIL_OUT("cannot restore the scratch reservation");
}

static void hole(uint64_t off, uint64_t len)
{
	if (nat_munmap(nat.base + off, len) || umm_munmap(mm, gst.base + off,
							  len))
		BAIL_OUT("cannot punch a hole in the scratch");
}

/* Write @v at B+off on both sides. */
static void poke(uint64_t off, uint8_t v)
{
	int sig;

	nat_poke(nat.base + off, v);
	sig = guest_write(mm, gst.base + off, v);
	if (sig)
		ok(0, "umm: writing B+%#llx raised signal %d",
		   (unsigned long long)off, sig);
}

/* Write 0x40 + i at the start of each of the pages @nr_pages from @off. */
static void poke_pages(uint64_t off, unsigned int nr_pages,
		       const unsigned int *skip, unsigned int nr_skip)
{
	unsigned int i, j;

	for (i = 0; i < nr_pages; i++) {
		for (j = 0; j < nr_skip && skip[j] != i; j++)
			;
		if (j == nr_skip)
			poke(off + i * PG, (uint8_t)(0x40 + i));
	}
}

/* ---- what a forked child sees ---- */

static sigjmp_buf child_env;
static volatile unsigned int child_i;

static void child_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	shared[child_i] = sigcode(sig, si->si_code);
	siglongjmp(child_env, 1);
}

/* In a native child: read each B+offs[i] into shared[i], signals caught. */
static void nat_child_body(const uint64_t *offs, unsigned int nr)
{
	struct sigaction sa = { .sa_sigaction = child_fault,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	prctl(PR_SET_DUMPABLE, 0);	/* no core file */
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	for (child_i = 0; child_i < nr; child_i++) {
		if (!sigsetjmp(child_env, 1))
			shared[child_i] = nat_peek(nat.base + offs[child_i]);
	}
}

static void nat_child_wait(pid_t pid, const char *what)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		BAIL_OUT("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		BAIL_OUT("the native child %s failed (status %#x)", what,
			 status);
}

/* Natively: fork, and read each B+offs[i] in the child. */
static void nat_child_reads(const uint64_t *offs, unsigned int nr,
			    long *out)
{
	unsigned int i;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!pid) {
		nat_child_body(offs, nr);
		_exit(0);
	}
	nat_child_wait(pid, "reading");
	for (i = 0; i < nr; i++)
		out[i] = shared[i];
}

/* In the guest: umm_fork, read in the child mm, check it, put it. */
static void gst_child_reads(const uint64_t *offs, unsigned int nr,
			    long *out)
{
	struct umm_mm *child = umm_fork(mm);
	unsigned int i;

	if (!child)
		BAIL_OUT("umm_fork: %s", strerror(errno));
	for (i = 0; i < nr; i++)
		out[i] = gst_peek(child, gst.base + offs[i]);
	check_mm_coherent(child);
	umm_mm_put(child);
}

static void child_reads(const char *what, const uint64_t *offs,
			unsigned int nr)
{
	long n[MAX_PEEK], g[MAX_PEEK];
	unsigned int i;

	if (nr > MAX_PEEK)
		BAIL_OUT("child_reads: too many offsets");
	nat_child_reads(offs, nr, n);
	gst_child_reads(offs, nr, g);
	for (i = 0; i < nr; i++)
		compare(n[i], g[i], PROBE, "%s: a forked child reads B+%#llx",
			what, (unsigned long long)offs[i]);
}

#define OFFS(...) ((const uint64_t[]){ __VA_ARGS__ })
#define NR_OFFS(...) (sizeof(OFFS(__VA_ARGS__)) / sizeof(uint64_t))
/* After a fork, compare what the child reads at each scratch offset. */
#define CHILD_READS(what, ...) \
	child_reads(what, OFFS(__VA_ARGS__), NR_OFFS(__VA_ARGS__))

/*
 * A child forked before a call and read after it, to see what the call did
 * to another mm: hold_child forks on both sides and each child reads
 * B+offs[i] (so its page tables map them); held_reads has each read them
 * again and compares.
 */
struct held {
	pid_t pid;
	int go;	/* the native child reads again when this pipe speaks */
	struct umm_mm *child;
};

static void hold_child(struct held *h, const uint64_t *offs, unsigned int nr)
{
	unsigned int i;
	int fds[2];
	char c;

	if (nr > MAX_PEEK || pipe(fds))
		BAIL_OUT("hold_child: %s", strerror(errno));
	fflush(stdout);
	h->pid = fork();
	if (h->pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!h->pid) {
		close(fds[1]);
		nat_child_body(offs, nr);
		if (read(fds[0], &c, 1) != 1)
			_exit(1);
		nat_child_body(offs, nr);
		_exit(0);
	}
	close(fds[0]);
	h->go = fds[1];
	h->child = umm_fork(mm);
	if (!h->child)
		BAIL_OUT("umm_fork: %s", strerror(errno));
	for (i = 0; i < nr; i++)
		gst_peek(h->child, gst.base + offs[i]);
}

static void held_reads(struct held *h, const char *what,
		       const uint64_t *offs, unsigned int nr)
{
	unsigned int i;

	if (write(h->go, "", 1) != 1)
		BAIL_OUT("write: %s", strerror(errno));
	close(h->go);
	nat_child_wait(h->pid, "held");
	for (i = 0; i < nr; i++)
		compare(shared[i], gst_peek(h->child, gst.base + offs[i]),
			PROBE, "%s: a child forked before reads B+%#llx", what,
			(unsigned long long)offs[i]);
	check_mm_coherent(h->child);
	umm_mm_put(h->child);
}

#define HOLD_CHILD(h, ...) hold_child(h, OFFS(__VA_ARGS__), NR_OFFS(__VA_ARGS__))
#define HELD_READS(h, what, ...) \
	held_reads(h, what, OFFS(__VA_ARGS__), NR_OFFS(__VA_ARGS__))

/* ---- what is populated ---- */

/* Every fault umm counted and every host operation it queued. */
static uint64_t gst_work(struct umm_mm *m)
{
	struct umm_stats st;

	umm_mm_stats(m, &st);
	return st.fault_anon_zero + st.fault_anon + st.fault_file +
	       st.fault_cow + st.fault_wp_reuse + st.fault_dirty +
	       st.fault_young + st.fault_host_miss + st.fault_sigsegv +
	       st.fault_sigbus +
	       st.host_ops;
}

/*
 * Is the page at @addr in memory, mapped for this process? Natively as
 * mincore says; in the guest, whether a read of it goes without a fault
 * (the host maps it: the guest pte is there and the host knows it). The
 * guest's read maps the page if it was not: ask once, at the end of a case.
 */
static long nat_resident(uint64_t addr)
{
	unsigned char v;

	return mincore((void *)addr, PG, &v) ? -errno : v & 1;
}

static long gst_resident(uint64_t va)
{
	uint64_t before = gst_work(mm);
	long r = gst_peek(mm, va);

	return r < 0 ? r : gst_work(mm) == before;
}

#define RESIDENT(addr) BOTH(nat_resident(addr), gst_resident(addr))

/* ---- counting vmas ---- */

/* Lines of a maps file whose range meets [lo, hi). */
static long count_vmas(FILE *f, uint64_t lo, uint64_t hi)
{
	unsigned long long s, e;
	char *line = NULL;
	size_t cap = 0;
	long n = 0;

	while (getline(&line, &cap, f) > 0)
		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && s < hi &&
		    e > lo)
			n++;
	free(line);
	return n;
}

static long nat_vmas(uint64_t off, uint64_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n;

	if (!f)
		return -errno;
	n = count_vmas(f, nat.base + off, nat.base + off + len);
	fclose(f);
	return n;
}

static long gst_vmas(uint64_t off, uint64_t len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	long n;
	int err;

	if (!f)
		return -errno;
	err = umm_maps(mm, f);
	fclose(f);
	if (err || !size) {
		free(buf);
		return err;
	}
	f = fmemopen(buf, size, "r");
	n = f ? count_vmas(f, gst.base + off, gst.base + off + len) : -errno;
	if (f)
		fclose(f);
	free(buf);
	return n;
}

/* The vmas that [B+off, +len) meets, on each side. */
#define VMAS(off, len) BOTH(nat_vmas((off), (len)), gst_vmas((off), (len)))

/* ---- a fresh guest for each test ---- */

static void guest_begin(void)
{
	long r;

	phys = umm_phys_new(64ULL << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	mm = umm_mm_new(phys, GUEST_TASK_SIZE);
	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	r = umm_mmap(mm, 0, SCRATCH, PROT_NONE, ANON | MAP_NORESERVE, NULL, 0);
	if (r < 0)
		BAIL_OUT("guest scratch: %s", strerror((int)-r));
	gst.base = (uint64_t)r;
	shm = umm_shmem_new(phys, FILE_PAGES * PG);
	rof = umm_file_open(phys, rof_path);
	if (!shm || !rof)
		BAIL_OUT("umm files: %s", strerror(errno));
}

static void guest_end(void)
{
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(shm);
	umm_file_put(rof);
	check_frames_free(phys);
	umm_phys_put(phys);
	mm = NULL;
	shm = rof = NULL;
	phys = NULL;
}

/* ---- arguments ---- */

static const struct advice {
	int advice;
	const char *name;
} supported[] = {
	{ MADV_NORMAL, "MADV_NORMAL" },
	{ MADV_RANDOM, "MADV_RANDOM" },
	{ MADV_SEQUENTIAL, "MADV_SEQUENTIAL" },
	{ MADV_WILLNEED, "MADV_WILLNEED" },
	{ MADV_DONTNEED, "MADV_DONTNEED" },
	{ MADV_FREE, "MADV_FREE" },
	{ MADV_DONTFORK, "MADV_DONTFORK" },
	{ MADV_DOFORK, "MADV_DOFORK" },
	{ MADV_HUGEPAGE, "MADV_HUGEPAGE" },
	{ MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE" },
	{ MADV_DONTDUMP, "MADV_DONTDUMP" },
	{ MADV_DODUMP, "MADV_DODUMP" },
	{ MADV_WIPEONFORK, "MADV_WIPEONFORK" },
	{ MADV_KEEPONFORK, "MADV_KEEPONFORK" },
	{ MADV_COLD, "MADV_COLD" },
	{ MADV_PAGEOUT, "MADV_PAGEOUT" },
	{ MADV_REMOVE, "MADV_REMOVE" },
	{ MADV_POPULATE_READ, "MADV_POPULATE_READ" },
	{ MADV_POPULATE_WRITE, "MADV_POPULATE_WRITE" },
	{ MADV_DONTNEED_LOCKED, "MADV_DONTNEED_LOCKED" },
};

/*
 * Advice Linux knows that umm does not implement: umm refuses it as
 * unknown (-EINVAL). Where the host accepts it, the difference is a TODO;
 * where the host refuses it too (a kernel without it, or a check that
 * happens to give -EINVAL as well), it is compared as usual. @unsafe
 * advice acts on real memory when the host has it (this test runs as root):
 * it is only given with len 0 or a bad address.
 */
static const struct lacking {
	int advice;
	const char *name;
	bool unsafe;
	const char *why;
} lacking[] = {
	{ MADV_MERGEABLE, "MADV_MERGEABLE", false,
	  "umm has no KSM (VM_MERGEABLE)" },
	{ MADV_UNMERGEABLE, "MADV_UNMERGEABLE", false,
	  "umm has no KSM (VM_MERGEABLE)" },
	{ MADV_COLLAPSE, "MADV_COLLAPSE", false,
	  "umm has no transparent huge pages" },
	{ MADV_GUARD_INSTALL, "MADV_GUARD_INSTALL", false,
	  "umm has no guard-region ptes" },
	{ MADV_GUARD_REMOVE, "MADV_GUARD_REMOVE", false,
	  "umm has no guard-region ptes" },
	{ MADV_HWPOISON, "MADV_HWPOISON", true,
	  "umm has no memory-failure injection" },
	{ MADV_SOFT_OFFLINE, "MADV_SOFT_OFFLINE", true,
	  "umm has no memory-failure injection" },
};

/* Values no kernel knows as advice. */
static const int unknown[] = {
	5, 6, 7, 26, 27, 99, 104, 1000, 0x104, 0x10004, -1, INT_MIN, INT_MAX,
};

static void test_args(void)
{
	uint64_t s = SLOT(1), h = s + 5 * PG;	/* h: a hole */
	unsigned int i;

	diag("madvise: arguments");
	map_both(s, 4 * PG, RW, ANON, NOFILE, 0, "four pages");
	hole(h, PG);
	same(MADVISE(B + s + 1, PG, MADV_DONTNEED), "unaligned start");
	same(MADVISE(B + s + PG / 2, PG, MADV_NORMAL),
	     "start in the middle of a page");
	same(MADVISE(B + s + 1, 0, MADV_DONTNEED),
	     "unaligned start, len 0 (the start is checked first)");
	same(MADVISE(B + s, 0, MADV_DONTNEED), "len 0");
	same(MADVISE(B + h, 0, MADV_DONTNEED), "len 0 in a hole");
	same(MADVISE(B + h, PG, MADV_DONTNEED), "a hole");
	same(MADVISE(B + s, 1, MADV_DONTNEED), "len 1: a page");
	same(MADVISE(B + s, 4 * PG - 1, MADV_DONTNEED),
	     "len rounded up to the end of the mapping");
	same(MADVISE(B + s, 4 * PG + 1, MADV_DONTNEED),
	     "len rounded up a page past the mapping");
	same(MADVISE(B + s, ~0ULL, MADV_DONTNEED),
	     "len ~0 (rounds up to 0)");
	same(MADVISE(B + s, ~0ULL - PG, MADV_DONTNEED),
	     "len ~0 - 4096 (end wraps)");
	same(MADVISE(B + s, -(B + s), MADV_DONTNEED), "len wrapping to 0");
	same(MADVISE(B + s, -(B + s) - 100, MADV_DONTNEED),
	     "len wrapping to 0 once page-aligned");
	same(MADVISE(B + s, 0, 0x7fffffff), "len 0, unknown advice");
	/* As far as it goes: harmless advice, it crosses this process. */
	same(MADVISE(B + s, -(B + s) - PG, MADV_WILLNEED),
	     "MADV_WILLNEED up to 2^64 - 4096: holes on the way");
	same(MADVISE(TOP, PG, MADV_DONTNEED), "at TASK_SIZE");
	same(MADVISE(TOP, 0, MADV_DONTNEED), "at TASK_SIZE, len 0");
	same(MADVISE(TOP + PG, PG, MADV_DONTNEED), "past TASK_SIZE");
	same(MADVISE(~0ULL & ~(PG - 1), PG, MADV_DONTNEED),
	     "the last page of the address space (end wraps)");
	same(MADVISE(~0ULL & ~(PG - 1), 0, MADV_DONTNEED),
	     "the last page of the address space, len 0");
	same(MADVISE(0, PG, MADV_DONTNEED), "page 0");

	diag("madvise: unknown advice");
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		int a = unknown[i];

		same(MADVISE(B + s, PG, a), "advice %d on a mapping", a);
		same(MADVISE(B + s, 0, a), "advice %d, len 0", a);
		same(MADVISE(B + s + 1, PG, a), "advice %d, unaligned", a);
		same(MADVISE(B + h, PG, a), "advice %d on a hole", a);
	}

	diag("madvise: the advice umm supports");
	for (i = 0; i < sizeof(supported) / sizeof(supported[0]); i++) {
		const struct advice *a = &supported[i];

		same(MADVISE(B + s, 4 * PG, a->advice), "%s", a->name);
		same(MADVISE(B + s, 0, a->advice), "%s, len 0", a->name);
		same(MADVISE(B + s + 1, PG, a->advice), "%s, unaligned",
		     a->name);
		same(MADVISE(B + h, PG, a->advice), "%s on a hole", a->name);
		same(MADVISE(B + h - PG, 2 * PG, a->advice),
		     "%s on a page and the hole after it", a->name);
	}
	reserve(s, 8 * PG);

	/*
	 * A TODO only where the host accepts the advice: umm's -EINVAL then
	 * differs. The unaligned start is -EINVAL on both either way.
	 */
	diag("madvise: advice Linux knows and umm does not implement");
	map_both(s, 4 * PG, RW, ANON, NOFILE, 0, "four private pages");
	map_both(s + 8 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd");
	hole(h, PG);
	for (i = 0; i < sizeof(lacking) / sizeof(lacking[0]); i++) {
		const struct lacking *l = &lacking[i];
		struct res r;

		r = MADVISE(B + s + 1, PG, l->advice);
		same(r, "%s, unaligned", l->name);
		r = MADVISE(B + s, 0, l->advice);
		if (r.n != -EINVAL)
			todo(r.n, r.g, VAL, l->why, "%s, len 0", l->name);
		else
			same(r, "%s, len 0", l->name);
		if (l->unsafe)
			continue;
		r = MADVISE(B + h, PG, l->advice);
		if (r.n != -EINVAL)
			todo(r.n, r.g, VAL, l->why, "%s on a hole", l->name);
		else
			same(r, "%s on a hole", l->name);
		r = MADVISE(B + s, 4 * PG, l->advice);
		if (r.n != -EINVAL)
			todo(r.n, r.g, VAL, l->why,
			     "%s on private anonymous memory", l->name);
		else
			same(r, "%s on private anonymous memory", l->name);
		r = MADVISE(B + s + 8 * PG, 2 * PG, l->advice);
		if (r.n != -EINVAL)
			todo(r.n, r.g, VAL, l->why, "%s on a shared memfd",
			     l->name);
		else
			same(r, "%s on a shared memfd", l->name);
	}
	reserve(s, 16 * PG);
}

/* ---- every advice on every kind of mapping ---- */

static const struct mapping_kind {
	const char *name;
	int prot, flags;
	enum file_kind file;
	uint64_t foff;
} kinds[] = {
	{ "private anonymous memory", RW, ANON, NOFILE, 0 },
	{ "read-only private anonymous memory", PROT_READ, ANON, NOFILE, 0 },
	{ "write-only private anonymous memory", PROT_WRITE, ANON, NOFILE, 0 },
	{ "PROT_NONE private anonymous memory", PROT_NONE, ANON, NOFILE, 0 },
	{ "a MAP_GROWSDOWN stack", RW, ANON | MAP_GROWSDOWN, NOFILE, 0 },
	{ "shared anonymous memory", RW, SHANON, NOFILE, 0 },
	{ "a shared memfd", RW, MAP_SHARED, MEMFD, 0 },
	{ "a read-only shared memfd", PROT_READ, MAP_SHARED, MEMFD, 0 },
	{ "a PROT_NONE shared memfd", PROT_NONE, MAP_SHARED, MEMFD, 0 },
	{ "a private memfd", RW, MAP_PRIVATE, MEMFD, 0 },
	{ "a private read-only file", PROT_READ, MAP_PRIVATE, ROFILE, 0 },
	{ "a shared read-only file", PROT_READ, MAP_SHARED, ROFILE, 0 },
	/* The last of the three pages lies past the end of the file (the
	 * read-only file has two pages: so do its kinds above). */
	{ "a shared memfd ending past EOF", RW, MAP_SHARED, MEMFD,
	  (FILE_PAGES - 2) * PG },
};

/*
 * Each advice on each kind of mapping, three pages of it: on the middle
 * page, then on the middle page, the last one and a hole after them. The
 * result, the vmas, what the middle page reads after (but after MADV_FREE,
 * see test_free) and, for the fork advice, what a child reads. umm's host
 * mappings are checked after each call, reported once per kind.
 */
static void test_matrix(void)
{
	uint64_t s = SLOT(9), mid = s + PG;
	unsigned int k, i;

	diag("madvise: every advice on every kind of mapping");
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct mapping_kind *m = &kinds[k];
		long bad = 0;

		for (i = 0; i < sizeof(supported) / sizeof(supported[0]);
		     i++) {
			const struct advice *a = &supported[i];
			bool peek = m->prot && a->advice != MADV_FREE;

			map_quiet(s, 3 * PG, m->prot, m->flags, m->file,
				  m->foff);
			if (m->prot & PROT_WRITE)
				poke(mid, (uint8_t)(0x50 + i));
			same(MADVISE(B + mid, PG, a->advice),
			     "%s of the middle of %s", a->name, m->name);
			bad += umm_mm_check(mm);
			same(VMAS(s, 3 * PG), "%s of %s: vmas after it",
			     a->name, m->name);
			if (peek)
				same_probe(PEEK(B + mid),
					   "%s of %s: the page reads",
					   a->name, m->name);
			if (a->advice == MADV_DONTFORK ||
			    a->advice == MADV_WIPEONFORK)
				CHILD_READS(a->name, mid);
			hole(s + 3 * PG, PG);
			same(MADVISE(B + mid, 3 * PG, a->advice),
			     "%s of the end of %s and a hole", a->name,
			     m->name);
			bad += umm_mm_check(mm);
			if (peek)
				same_probe(PEEK(B + mid),
					   "%s of %s and a hole: the page reads",
					   a->name, m->name);
			reserve(s, 4 * PG);
		}
		is(bad, 0, "%s: umm's host mappings agreed after each call",
		   m->name);
	}
}

/* ---- holes ---- */

static void test_holes(void)
{
	static const unsigned int holes[] = { 0, 3, 7 };
	uint64_t s = SLOT(2);

	diag("madvise: holes");
	map_both(s, 8 * PG, RW, ANON, NOFILE, 0, "eight pages");
	hole(s, PG);
	hole(s + 3 * PG, PG);
	hole(s + 7 * PG, PG);
	/* [hole][1][2][hole][4][5][6][hole] */
	poke_pages(s, 8, holes, 3);
	same(MADVISE(B + s, 3 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of a range starting in a hole");
	same_probe(PEEK(B + s + PG), "the page after the hole was zapped");
	same_probe(PEEK(B + s + 2 * PG), "and the next");
	same_probe(PEEK(B + s + 4 * PG), "the page past the range was not");

	poke_pages(s, 8, holes, 3);
	same(MADVISE(B + s + PG, 5 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of a range with a hole in the middle");
	same_probe(PEEK(B + s + 2 * PG), "the page before the hole was zapped");
	same_probe(PEEK(B + s + 4 * PG), "the page after the hole too");
	same_probe(PEEK(B + s + 5 * PG), "and the last page in the range");
	same_probe(PEEK(B + s + 6 * PG), "the page past the range was not");

	poke_pages(s, 8, holes, 3);
	same(MADVISE(B + s + 4 * PG, 4 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of a range ending in a hole");
	same_probe(PEEK(B + s + 4 * PG), "the mapping was zapped");
	same_probe(PEEK(B + s + 6 * PG), "to its end");
	same_probe(PEEK(B + s + PG), "the mapping before was not");
	same(MADVISE(B + s + 3 * PG, PG, MADV_DONTNEED),
	     "MADV_DONTNEED of a hole alone");
	same(MADVISE(B + s, 8 * PG, MADV_WILLNEED),
	     "MADV_WILLNEED over holes");

	poke_pages(s, 8, holes, 3);
	same(MADVISE(B + s, 8 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK over holes");
	same(VMAS(s, 8 * PG), "vmas after it");
	CHILD_READS("MADV_WIPEONFORK over holes", s + PG, s + 2 * PG,
		    s + 4 * PG, s + 6 * PG);
	same_probe(PEEK(B + s + PG), "the parent keeps its data");
	same(MADVISE(B + s + PG, 5 * PG, MADV_KEEPONFORK),
	     "MADV_KEEPONFORK with a hole in the middle");
	same(VMAS(s, 8 * PG), "vmas after it");
	CHILD_READS("MADV_KEEPONFORK with a hole in the middle", s + PG,
		    s + 5 * PG, s + 6 * PG);
	same(MADVISE(B + s + 4 * PG, 4 * PG, MADV_DONTFORK),
	     "MADV_DONTFORK of a range ending in a hole");
	CHILD_READS("MADV_DONTFORK ending in a hole", s + PG, s + 4 * PG,
		    s + 6 * PG);
	same(MADVISE(B + s, 8 * PG, MADV_DOFORK), "MADV_DOFORK over holes");
	same(VMAS(s, 8 * PG), "vmas after it");
	CHILD_READS("MADV_DOFORK over holes", s + PG, s + 4 * PG, s + 6 * PG);
	same(MADVISE(B + s, 8 * PG, MADV_FREE), "MADV_FREE over holes");
	reserve(s, 8 * PG);
}

/* A range that runs past the last vma: Linux's walk finds no vma at all. */
static void test_past_last_vma(void)
{
	struct res r;

	diag("madvise: past the last mapping");
	r = BOTH(nat_mmap(TOP - PG, PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0),
		 umm_mmap(mm, TOP - PG, PG, RW, ANON | MAP_FIXED_NOREPLACE,
			  NULL, 0));
	if (r.n == -EEXIST) {
		/* The host's stack may hold its last page. */
		ok(1, "# SKIP the host's last page is taken");
		if (r.g >= 0)
			umm_munmap(mm, (uint64_t)r.g, PG);
		return;
	}
	if (!compare(r.n < 0 ? r.n : r.n - (long)nat.task,
		     r.g < 0 ? r.g : r.g - (long)gst.task, VAL,
		     "mmap the last page below TASK_SIZE (TASK_SIZE + result)"))
		BAIL_OUT("cannot map the last page");
	nat_poke(nat.task - PG, 0x33);
	guest_write(mm, gst.task - PG, 0x33);
	same(MADVISE(TOP - PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of the last page and past TASK_SIZE");
	same_probe(PEEK(TOP - PG), "the last page was zapped");
	same(MADVISE(TOP - 2 * PG, 2 * PG, MADV_RANDOM),
	     "MADV_RANDOM of a hole and the last page");
	nat_munmap(nat.task - PG, PG);
	umm_munmap(mm, gst.task - PG, PG);
}

/* ---- MADV_WIPEONFORK ---- */

static void test_wipeonfork(void)
{
	uint64_t s = SLOT(3);

	diag("madvise: MADV_WIPEONFORK");
	map_both(s, 4 * PG, RW, ANON, NOFILE, 0, "four private pages");
	poke_pages(s, 4, NULL, 0);
	same(MADVISE(B + s, 4 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of private anonymous memory");
	same(VMAS(s, 4 * PG), "vmas after it");
	CHILD_READS("MADV_WIPEONFORK", s, s + 3 * PG + 100);
	same_probe(PEEK(B + s), "the parent keeps its data");
	same(MADVISE(B + s, 4 * PG, MADV_WIPEONFORK), "MADV_WIPEONFORK again");
	same(MADVISE(B + s, 4 * PG, MADV_KEEPONFORK), "MADV_KEEPONFORK");
	CHILD_READS("MADV_KEEPONFORK", s, s + 3 * PG);
	same(MADVISE(B + s + PG, 2 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of the middle pages");
	same(VMAS(s, 4 * PG), "vmas after it");
	CHILD_READS("MADV_WIPEONFORK of the middle", s, s + PG, s + 2 * PG,
		    s + 3 * PG);
	same(MADVISE(B + s, 4 * PG, MADV_KEEPONFORK),
	     "MADV_KEEPONFORK of the whole mapping");
	same(VMAS(s, 4 * PG), "vmas after it");

	map_both(s + 8 * PG, 2 * PG, RW, SHANON, NOFILE, 0,
		 "shared anonymous memory");
	poke(s + 8 * PG, 0x81);
	same(MADVISE(B + s + 8 * PG, 2 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of shared anonymous memory");
	map_both(s + 12 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd");
	poke(s + 12 * PG, 0x82);
	same(MADVISE(B + s + 12 * PG, 2 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of a shared memfd");
	map_both(s + 16 * PG, 2 * PG, RW, MAP_PRIVATE, MEMFD, 0,
		 "a private memfd");
	poke(s + 16 * PG + PG, 0x83);
	same(MADVISE(B + s + 16 * PG, 2 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of a private file mapping");
	map_both(s + 20 * PG, 2 * PG, PROT_READ, MAP_PRIVATE, ROFILE, 0,
		 "a private read-only file");
	same(MADVISE(B + s + 20 * PG, 2 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of a private read-only file");
	CHILD_READS("MADV_WIPEONFORK refused", s + 8 * PG, s + 12 * PG,
		    s + 17 * PG, s + 20 * PG);

	/* [private anonymous][shared memfd]: the first is done, then -EINVAL */
	map_both(s + 24 * PG, 2 * PG, RW, ANON, NOFILE, 0,
		 "private pages before a shared memfd");
	map_both(s + 26 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 2 * PG,
		 "the shared memfd");
	poke(s + 24 * PG, 0x84);
	poke(s + 26 * PG, 0x85);
	same(MADVISE(B + s + 24 * PG, 4 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of private memory, then a shared memfd");
	CHILD_READS("MADV_WIPEONFORK stopped at the memfd", s + 24 * PG,
		    s + 26 * PG);
	same(MADVISE(B + s + 24 * PG, 4 * PG, MADV_KEEPONFORK),
	     "MADV_KEEPONFORK of both");
	CHILD_READS("MADV_KEEPONFORK of both", s + 24 * PG, s + 26 * PG);

	/* [shared memfd][private anonymous]: -EINVAL first, nothing done */
	map_both(s + 34 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 4 * PG,
		 "a shared memfd before private pages");
	map_both(s + 36 * PG, 2 * PG, RW, ANON, NOFILE, 0, "the private pages");
	poke(s + 36 * PG, 0x86);
	same(MADVISE(B + s + 34 * PG, 4 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of a shared memfd, then private memory");
	CHILD_READS("MADV_WIPEONFORK stopped at the memfd first", s + 36 * PG);

	same(MADVISE(B + s + 30 * PG, 2 * PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of the PROT_NONE reservation");
	same(VMAS(s + 28 * PG, 6 * PG), "vmas after it");
	same(MADVISE(B + s + 30 * PG, 2 * PG, MADV_KEEPONFORK),
	     "MADV_KEEPONFORK of it");
	same(VMAS(s + 28 * PG, 6 * PG), "vmas after it");
	reserve(s, 40 * PG);
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

/*
 * MAP_DROPPABLE gives Linux's vma VM_DROPPABLE | VM_WIPEONFORK |
 * VM_DONTDUMP. umm's mmap sets VM_WIPEONFORK only and has no VM_DROPPABLE,
 * so madvise cannot refuse what Linux refuses on droppable memory, and
 * MADV_DONTDUMP changes (and splits) a vma Linux leaves alone. Last in its
 * test: after these, the two sides' flags differ.
 */
static void test_droppable(void)
{
	const char *no_droppable = "umm's mmap has no VM_DROPPABLE (mm/mmap.c)";
	const char *no_dontdump =
		"umm's MAP_DROPPABLE does not set VM_DONTDUMP (mm/mmap.c)";
	uint64_t s = SLOT(4);
	struct res r;

	diag("madvise: MAP_DROPPABLE memory");
	if (!host_has_droppable()) {
		ok(1, "# SKIP the host kernel predates MAP_DROPPABLE");
		return;
	}
	map_both(s, 4 * PG, RW, MAP_DROPPABLE | MAP_ANONYMOUS, NOFILE, 0,
		 "droppable memory");
	poke_pages(s, 4, NULL, 0);
	CHILD_READS("MAP_DROPPABLE", s, s + 3 * PG);
	same(MADVISE(B + s + PG, PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of its second page (it is wiped already)");
	same(VMAS(s, 4 * PG), "vmas after it");
	same(MADVISE(B + s + PG, PG, MADV_NOHUGEPAGE),
	     "MADV_NOHUGEPAGE of its second page");
	same(VMAS(s, 4 * PG), "vmas after it");
	same(MADVISE(B + s, 4 * PG, MADV_NOHUGEPAGE), "MADV_NOHUGEPAGE of all");
	same(VMAS(s, 4 * PG), "vmas after it");
	same(MADVISE(B + s, 4 * PG, MADV_FREE), "MADV_FREE of it");
	same(MADVISE(B + s, 4 * PG, MADV_DONTNEED), "MADV_DONTNEED of it");
	same_probe(PEEK(B + s), "it reads zero");
	r = MADVISE(B + s + PG, PG, MADV_DONTDUMP);
	same(r, "MADV_DONTDUMP of its second page");
	r = VMAS(s, 4 * PG);
	todo(r.n, r.g, VAL, no_dontdump, "vmas after it");
	r = MADVISE(B + s, 4 * PG, MADV_DODUMP);
	todo(r.n, r.g, VAL, no_droppable, "MADV_DODUMP of droppable memory");
	poke_pages(s, 4, NULL, 0);
	r = MADVISE(B + s, 4 * PG, MADV_KEEPONFORK);
	todo(r.n, r.g, VAL, no_droppable,
	     "MADV_KEEPONFORK of droppable memory");
	r = VMAS(s, 4 * PG);
	same(r, "vmas after it");
	reserve(s, 8 * PG);
}

/* ---- MADV_DONTFORK, MADV_DOFORK ---- */

static void test_dontfork(void)
{
	uint64_t s = SLOT(5);

	diag("madvise: MADV_DONTFORK, MADV_DOFORK");
	map_both(s, 4 * PG, RW, ANON, NOFILE, 0, "four private pages");
	poke_pages(s, 4, NULL, 0);
	same(MADVISE(B + s, 4 * PG, MADV_DONTFORK), "MADV_DONTFORK");
	same(VMAS(s, 4 * PG), "vmas after it");
	CHILD_READS("MADV_DONTFORK", s, s + 3 * PG);
	same_probe(PEEK(B + s), "the parent keeps its data");
	same(MADVISE(B + s, 4 * PG, MADV_DOFORK), "MADV_DOFORK");
	CHILD_READS("MADV_DOFORK", s, s + 3 * PG);
	same(MADVISE(B + s + PG, 2 * PG, MADV_DONTFORK),
	     "MADV_DONTFORK of the middle pages");
	same(VMAS(s, 4 * PG), "vmas after it");
	CHILD_READS("MADV_DONTFORK of the middle", s, s + PG, s + 2 * PG,
		    s + 3 * PG);
	same(MADVISE(B + s, 4 * PG, MADV_DOFORK),
	     "MADV_DOFORK of the whole mapping");
	same(VMAS(s, 4 * PG), "vmas after it");
	CHILD_READS("MADV_DOFORK of the whole mapping", s + PG, s + 2 * PG);
	/* Both: not copied at all, so nothing to wipe. */
	same(MADVISE(B + s, 4 * PG, MADV_WIPEONFORK), "MADV_WIPEONFORK");
	same(MADVISE(B + s, 2 * PG, MADV_DONTFORK),
	     "and MADV_DONTFORK of half of it");
	CHILD_READS("MADV_WIPEONFORK and MADV_DONTFORK", s, s + 3 * PG);
	same(MADVISE(B + s, 4 * PG, MADV_KEEPONFORK), "MADV_KEEPONFORK");
	same(MADVISE(B + s, 4 * PG, MADV_DOFORK), "MADV_DOFORK");
	same(VMAS(s, 4 * PG), "vmas after both");

	map_both(s + 8 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd");
	map_both(s + 12 * PG, 2 * PG, RW, SHANON, NOFILE, 0,
		 "shared anonymous memory");
	map_both(s + 16 * PG, 2 * PG, PROT_READ, MAP_PRIVATE, ROFILE, 0,
		 "a private read-only file");
	poke(s + 8 * PG, 0x91);
	poke(s + 12 * PG, 0x92);
	same(MADVISE(B + s + 8 * PG, 10 * PG, MADV_DONTFORK),
	     "MADV_DONTFORK of shared and file mappings, and what is between");
	CHILD_READS("MADV_DONTFORK of shared and file mappings", s + 8 * PG,
		    s + 12 * PG, s + 16 * PG);
	same(MADVISE(B + s + 8 * PG, 10 * PG, MADV_DOFORK),
	     "MADV_DOFORK of them");
	CHILD_READS("MADV_DOFORK of shared and file mappings", s + 8 * PG,
		    s + 12 * PG, s + 16 * PG);
	reserve(s, 24 * PG);
}

/* ---- MADV_DONTNEED ---- */

static void test_dontneed(void)
{
	const char *no_locked =
		"umm's mmap ignores MAP_LOCKED: no VM_LOCKED (mm/mmap.c)";
	uint64_t s = SLOT(6);
	struct res r;

	diag("madvise: MADV_DONTNEED");
	map_both(s, 2 * PG, RW, ANON, NOFILE, 0, "two private pages");
	poke(s, 0x5a);
	poke(s + PG + 7, 0x5b);
	same(MADVISE(B + s, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of private anonymous memory");
	same_probe(PEEK(B + s), "it reads zero");
	same_probe(PEEK(B + s + PG + 7), "the second page too");
	poke(s, 0x5c);
	same_probe(PEEK(B + s), "a write after it sticks");
	poke(s + PG, 0x5d);
	same(MADVISE(B + s + PG, PG, MADV_DONTNEED),
	     "MADV_DONTNEED of the second page");
	same_probe(PEEK(B + s), "the first keeps its data");
	same_probe(PEEK(B + s + PG), "the second reads zero");
	same(VMAS(s, 2 * PG), "no vma was split");
	same(MADVISE(B + s, 2 * PG, MADV_DONTNEED), "MADV_DONTNEED again");

	map_both(s + 4 * PG, 2 * PG, PROT_READ, ANON, NOFILE, 0,
		 "read-only private pages");
	same_probe(PEEK(B + s + 4 * PG), "read (the zero page)");
	same(MADVISE(B + s + 4 * PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of the zero page");
	same_probe(PEEK(B + s + 4 * PG), "it reads zero");
	same(MADVISE(B + s + 8 * PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of the PROT_NONE reservation");

	/* The file's contents, written through a shared mapping. */
	map_both(s + 16 * PG, FILE_PAGES * PG, RW, MAP_SHARED, MEMFD, 0,
		 "the memfd shared");
	poke(s + 16 * PG, 'A');
	poke(s + 17 * PG, 'a');
	map_both(s + 32 * PG, 2 * PG, RW, MAP_PRIVATE, MEMFD, 0,
		 "the memfd private");
	same_probe(PEEK(B + s + 32 * PG), "the private mapping reads the file");
	poke(s + 32 * PG, 'B');
	same_probe(PEEK(B + s + 32 * PG), "a write makes a private copy");
	same_probe(PEEK(B + s + 16 * PG), "the file does not see it");
	same(MADVISE(B + s + 32 * PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of the private file mapping");
	same_probe(PEEK(B + s + 32 * PG),
		   "the private copy is gone: it reads the file again");
	poke(s + 16 * PG, 'C');
	same_probe(PEEK(B + s + 32 * PG), "and follows the file");
	same(MADVISE(B + s + 16 * PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of the shared memfd");
	same_probe(PEEK(B + s + 16 * PG), "the shared page keeps its data");
	same_probe(PEEK(B + s + 17 * PG), "so does the next");

	map_both(s + 40 * PG, 2 * PG, RW, SHANON, NOFILE, 0,
		 "shared anonymous memory");
	poke(s + 40 * PG, 'S');
	same(MADVISE(B + s + 40 * PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of shared anonymous memory");
	same_probe(PEEK(B + s + 40 * PG), "it keeps its data");

	map_both(s + 44 * PG, 2 * PG, RW, MAP_PRIVATE, ROFILE, 0,
		 "a private read-only file, writable");
	same_probe(PEEK(B + s + 44 * PG), "it reads the file");
	poke(s + 44 * PG, 'y');
	same_probe(PEEK(B + s + 44 * PG), "a write makes a private copy");
	same(MADVISE(B + s + 44 * PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of it");
	same_probe(PEEK(B + s + 44 * PG), "it reads the file again");

	/* The read-only file has 2 pages: the third is past its end. */
	map_both(s + 52 * PG, 3 * PG, PROT_READ, MAP_PRIVATE, ROFILE, 0,
		 "a read-only file, a page longer than it");
	same(MADVISE(B + s + 54 * PG, PG, MADV_WILLNEED),
	     "MADV_WILLNEED of the page past its end");
	same(MADVISE(B + s + 54 * PG, PG, MADV_DONTNEED),
	     "MADV_DONTNEED of the page past its end");
	same(MADVISE(B + s + 52 * PG, 3 * PG, MADV_PAGEOUT),
	     "MADV_PAGEOUT of all of it");
	same_probe(PEEK(B + s + 53 * PG), "it reads the file");

	/* [private anonymous][shared memfd], one call. */
	map_both(s + 48 * PG, 2 * PG, RW, ANON, NOFILE, 0,
		 "private pages before a shared memfd");
	map_both(s + 50 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 2 * PG,
		 "the shared memfd");
	poke(s + 48 * PG, 0x61);
	poke(s + 50 * PG, 0x62);
	same(MADVISE(B + s + 48 * PG, 4 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of private memory and a shared memfd");
	same_probe(PEEK(B + s + 48 * PG), "the private page reads zero");
	same_probe(PEEK(B + s + 50 * PG), "the shared page keeps its data");
	same(VMAS(s, 56 * PG), "vmas after all that");

	/* Linux refuses to zap locked pages; umm cannot tell they are. */
	diag("madvise: MAP_LOCKED memory");
	map_both(s + 60 * PG, PG, RW, ANON | MAP_LOCKED, NOFILE, 0,
		 "a locked page");
	poke(s + 60 * PG, 0x71);
	r = MADVISE(B + s + 60 * PG, PG, MADV_DONTNEED);
	todo(r.n, r.g, VAL, no_locked, "MADV_DONTNEED of a locked page");
	r = PEEK(B + s + 60 * PG);
	todo(r.n, r.g, PROBE, no_locked, "it keeps its data");
	r = MADVISE(B + s + 60 * PG, PG, MADV_FREE);
	todo(r.n, r.g, VAL, no_locked, "MADV_FREE of a locked page");
	r = MADVISE(B + s + 60 * PG, PG, MADV_COLD);
	todo(r.n, r.g, VAL, no_locked, "MADV_COLD of a locked page");
	r = MADVISE(B + s + 60 * PG, PG, MADV_PAGEOUT);
	todo(r.n, r.g, VAL, no_locked, "MADV_PAGEOUT of a locked page");
	same(MADVISE(B + s + 60 * PG, PG, MADV_WILLNEED),
	     "MADV_WILLNEED of a locked page");
	same(MADVISE(B + s + 60 * PG, PG, MADV_DONTNEED_LOCKED),
	     "MADV_DONTNEED_LOCKED of a locked page");
	same_probe(PEEK(B + s + 60 * PG), "it reads zero");
	map_both(s + 62 * PG, PG, RW, MAP_SHARED | MAP_LOCKED, MEMFD,
		 (FILE_PAGES - 1) * PG, "a locked shared memfd page");
	poke(s + 62 * PG, 0x72);
	r = MADVISE(B + s + 62 * PG, PG, MADV_REMOVE);
	todo(r.n, r.g, VAL, no_locked, "MADV_REMOVE of a locked page");
	reserve(s, 64 * PG);
}

/* ---- MADV_FREE ---- */

/*
 * MADV_FREE frees lazily: Linux keeps the data until memory runs short,
 * umm never reclaims and keeps it. Linux may read zero under memory
 * pressure, so natively either is accepted; umm must keep the data.
 */
static void test_free(void)
{
	uint64_t s = SLOT(7);
	struct res r;

	diag("madvise: MADV_FREE");
	map_both(s, 2 * PG, RW, ANON, NOFILE, 0, "two private pages");
	poke(s, 0x21);
	same(MADVISE(B + s, 2 * PG, MADV_FREE),
	     "MADV_FREE of private anonymous memory");
	r = PEEK(B + s);
	ok(r.g == 0x21 && (r.n == 0x21 || r.n == 0),
	   "the page keeps its data until reclaim: native %#lx, umm %#lx",
	   r.n, r.g);
	poke(s, 0x22);
	same_probe(PEEK(B + s), "a write after it sticks");
	same(VMAS(s, 2 * PG), "no vma was split");

	map_both(s + 4 * PG, 2 * PG, RW, SHANON, NOFILE, 0,
		 "shared anonymous memory");
	poke(s + 4 * PG, 0x23);
	same(MADVISE(B + s + 4 * PG, 2 * PG, MADV_FREE),
	     "MADV_FREE of shared anonymous memory");
	same_probe(PEEK(B + s + 4 * PG), "it keeps its data");
	map_both(s + 8 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd");
	same(MADVISE(B + s + 8 * PG, 2 * PG, MADV_FREE),
	     "MADV_FREE of a shared memfd");
	map_both(s + 12 * PG, 2 * PG, RW, MAP_PRIVATE, MEMFD, 0,
		 "a private memfd");
	poke(s + 12 * PG, 0x24);
	same(MADVISE(B + s + 12 * PG, 2 * PG, MADV_FREE),
	     "MADV_FREE of a private file mapping");
	same_probe(PEEK(B + s + 12 * PG), "it keeps its private copy");
	map_both(s + 16 * PG, 2 * PG, PROT_READ, MAP_PRIVATE, ROFILE, 0,
		 "a private read-only file");
	same(MADVISE(B + s + 16 * PG, 2 * PG, MADV_FREE),
	     "MADV_FREE of a private read-only file");

	map_both(s + 20 * PG, 2 * PG, RW, ANON, NOFILE, 0,
		 "private pages before a shared memfd");
	map_both(s + 22 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 2 * PG,
		 "the shared memfd");
	same(MADVISE(B + s + 20 * PG, 4 * PG, MADV_FREE),
	     "MADV_FREE of private memory, then a shared memfd");
	hole(s + 19 * PG, PG);
	same(MADVISE(B + s + 19 * PG, 3 * PG, MADV_FREE),
	     "MADV_FREE of a hole, then private memory");
	hole(s + 21 * PG, PG);
	same(MADVISE(B + s + 21 * PG, 2 * PG, MADV_FREE),
	     "MADV_FREE of a hole, then a shared memfd");
	same(MADVISE(B + s + 28 * PG, 2 * PG, MADV_FREE),
	     "MADV_FREE of the PROT_NONE reservation");
	reserve(s, 32 * PG);
}

/* ---- MADV_REMOVE ---- */

static long nat_remap(uint64_t addr, uint64_t len, uint64_t pgoff)
{
	return sys_ret(syscall(SYS_remap_file_pages, addr, len, 0L, pgoff,
			       0L));
}

/*
 * MADV_REMOVE punches the file: every mapping of it, in this mm or a
 * forked one, reads zero there after, private copies made before stay,
 * and umm's frames of the hole are free at once. umm refuses a nonlinear
 * vma as Linux did before 4.0 (since then Linux emulates remap_file_pages
 * with linear vmas, which it punches): checked in umm alone.
 */
static void test_remove(void)
{
	uint64_t s = SLOT(10), a = s, b = s + 8 * PG, p = s + 16 * PG;
	uint64_t n = s + 24 * PG, free_before;
	struct held h;

	diag("madvise: MADV_REMOVE");
	map_both(a, 4 * PG, RW, MAP_SHARED, MEMFD, 0, "a shared memfd");
	map_both(b, 4 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a second shared mapping of it");
	map_both(p, 4 * PG, RW, MAP_PRIVATE, MEMFD, 0,
		 "a private mapping of it");
	poke_pages(a, 4, NULL, 0);
	poke(p + 2 * PG, 'p');
	same_probe(PEEK(B + b + PG), "the second mapping reads page 1");
	same_probe(PEEK(B + p + PG), "the private mapping reads page 1");
	HOLD_CHILD(&h, a + PG, a + 3 * PG, b + 2 * PG, p + 2 * PG);
	free_before = umm_phys_frames_free(phys);
	same(MADVISE(B + a + PG, 2 * PG, MADV_REMOVE),
	     "MADV_REMOVE of pages 1-2 of the shared mapping");
	is(umm_phys_frames_free(phys) - free_before, 2,
	   "umm: the two frames of the hole are free");
	check_mm_coherent(mm);
	HELD_READS(&h, "MADV_REMOVE", a + PG, a + 3 * PG, b + 2 * PG,
		   p + 2 * PG);
	same_probe(PEEK(B + a), "page 0 keeps its data");
	same_probe(PEEK(B + a + PG), "page 1 reads zero");
	same_probe(PEEK(B + a + 3 * PG), "page 3 keeps its data");
	same_probe(PEEK(B + b + PG), "the second mapping reads zero at page 1");
	same_probe(PEEK(B + b + 2 * PG), "and at page 2");
	same_probe(PEEK(B + p + PG), "the private mapping reads the hole");
	same_probe(PEEK(B + p + 2 * PG), "its private copy of page 2 stays");
	poke(b + PG, 0x77);
	same_probe(PEEK(B + a + PG), "a write through one mapping fills the "
				     "hole for the other");
	same_probe(PEEK(B + p + PG), "and for the private one");
	check_mm_coherent(mm);

	/* [memfd page 4][hole][memfd page 6][private anonymous] */
	map_both(s + 32 * PG, PG, RW, MAP_SHARED, MEMFD, 4 * PG,
		 "a page of the memfd");
	map_both(s + 34 * PG, PG, RW, MAP_SHARED, MEMFD, 6 * PG,
		 "another, after a hole");
	map_both(s + 35 * PG, PG, RW, ANON, NOFILE, 0,
		 "a private page after it");
	poke(s + 32 * PG, 0x34);
	poke(s + 34 * PG, 0x36);
	poke(s + 35 * PG, 0x37);
	hole(s + 33 * PG, PG);
	same(MADVISE(B + s + 32 * PG, 3 * PG, MADV_REMOVE),
	     "MADV_REMOVE of a page, a hole and a page");
	same_probe(PEEK(B + s + 34 * PG), "the page after the hole reads zero");
	poke(s + 34 * PG, 0x36);
	same(MADVISE(B + s + 34 * PG, 2 * PG, MADV_REMOVE),
	     "MADV_REMOVE of it and the private page after it");
	same_probe(PEEK(B + s + 34 * PG), "it reads zero");
	same_probe(PEEK(B + s + 35 * PG), "the private page keeps its data");
	check_mm_coherent(mm);

	/* The memfd has FILE_PAGES pages: map two in it and one past it. */
	map_both(s + 40 * PG, 3 * PG, RW, MAP_SHARED, MEMFD,
		 (FILE_PAGES - 2) * PG, "the memfd's end and past it");
	poke(s + 41 * PG, 0x41);
	same(MADVISE(B + s + 40 * PG, 3 * PG, MADV_REMOVE),
	     "MADV_REMOVE up to past the end of the file");
	CHILD_READS("MADV_REMOVE up to past the end", s + 41 * PG, s + 42 * PG);

	map_both(s + 44 * PG, 2 * PG, RW, SHANON, NOFILE, 0,
		 "shared anonymous memory");
	poke(s + 45 * PG, 0x45);
	HOLD_CHILD(&h, s + 45 * PG);
	free_before = umm_phys_frames_free(phys);
	same(MADVISE(B + s + 44 * PG, 2 * PG, MADV_REMOVE),
	     "MADV_REMOVE of shared anonymous memory");
	is(umm_phys_frames_free(phys) - free_before, 1,
	   "umm: its frame is free");
	HELD_READS(&h, "MADV_REMOVE of shared anonymous memory", s + 45 * PG);
	same_probe(PEEK(B + s + 45 * PG), "it reads zero");
	check_mm_coherent(mm);

	/* umm alone: a software TLB loses the punched page too. */
	{
		struct umm_tlb *tlb = umm_tlb_new(mm, 16);
		volatile uint8_t *hp;

		if (!tlb)
			BAIL_OUT("umm_tlb_new: %s", strerror(errno));
		poke(a + 2 * PG, 0x52);
		hp = umm_tlb_lookup(tlb, gst.base + a + 2 * PG, PROT_READ);
		ok(hp && *hp == 0x52, "umm: a software TLB reads the page");
		is(umm_madvise(mm, gst.base + b + 2 * PG, PG, MADV_REMOVE), 0,
		   "umm: MADV_REMOVE of it through the second mapping");
		hp = umm_tlb_lookup(tlb, gst.base + a + 2 * PG, PROT_READ);
		ok(hp && *hp == 0, "umm: the software TLB reads the hole");
		umm_tlb_free(tlb);
	}

	diag("madvise: MADV_REMOVE and a nonlinear mapping");
	map_both(n, 4 * PG, RW, MAP_SHARED, MEMFD, 0, "the memfd to remap");
	same(BOTH(nat_remap(B + n, PG, 3),
		  umm_remap_file_pages(mm, B + n, PG, 0, 3, 0)),
	     "remap_file_pages of its page 0 to file page 3");
	poke(a + 3 * PG, 'Z');
	same_probe(PEEK(B + n), "it reads file page 3");
	same(MADVISE(B + a + 3 * PG, PG, MADV_REMOVE),
	     "MADV_REMOVE of file page 3 through a linear mapping");
	same_probe(PEEK(B + n), "the remapped page reads the hole");
	poke(a + 3 * PG, 'Y');
	same_probe(PEEK(B + n), "it still maps file page 3");
	is(umm_madvise(mm, gst.base + n, PG, MADV_REMOVE), -EINVAL,
	   "umm: MADV_REMOVE of a nonlinear page: -EINVAL, as Linux < 4.0");
	same_probe(PEEK(B + n), "which stays");
	check_mm_coherent(mm);
	reserve(s, 48 * PG);
}

/*
 * umm alone: a punch must reach an mm forked while it runs. One thread
 * forks the mm again and again while another punches the page the mm wrote
 * (or truncates the file and extends it again: the same zap of every mm);
 * once that returned, no mm, old or new, may still read the old page.
 */
#define RACE_CHILDREN 32

static struct umm_mm *race_children[RACE_CHILDREN];
static unsigned int race_nr;
static int race_stop; /* atomic */

static void *race_fork(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE) &&
	       race_nr < RACE_CHILDREN) {
		race_children[race_nr] = umm_fork(mm);
		if (!race_children[race_nr])
			break;
		__atomic_store_n(&race_nr, race_nr + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_remove_fork_race(void)
{
	uint64_t va = gst.base + SLOT(13);
	unsigned int round, i, stale = 0, forked = 0;
	pthread_t t;

	diag("madvise: MADV_REMOVE while the mm forks (umm only)");
	if (umm_mmap(mm, va, PG, RW, MAP_SHARED | MAP_FIXED, shm, 0) !=
	    (long)va)
		BAIL_OUT("mmap for the race");
	for (round = 0; round < 50; round++) {
		guest_write(mm, va, 0xaa);
		race_nr = 0;
		race_stop = 0;
		if (pthread_create(&t, NULL, race_fork, NULL))
			BAIL_OUT("pthread_create");
		while (!__atomic_load_n(&race_nr, __ATOMIC_ACQUIRE))
			sched_yield();
		if (round & 1) {
			umm_file_truncate(shm, 0);
			umm_file_truncate(shm, FILE_PAGES * PG);
		} else {
			umm_madvise(mm, va, PG, MADV_REMOVE);
		}
		__atomic_store_n(&race_stop, 1, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		stale += gst_peek(mm, va) != 0;
		for (i = 0; i < race_nr; i++) {
			stale += gst_peek(race_children[i], va) != 0;
			umm_mm_put(race_children[i]);
		}
		forked += race_nr;
	}
	ok(stale == 0, "umm: after MADV_REMOVE or a truncation no mm reads "
		       "the old page (%u stale of %u mms forked meanwhile)",
	   stale, forked);
	umm_munmap(mm, va, PG);
}

/* ---- MADV_POPULATE_READ, MADV_POPULATE_WRITE ---- */

/*
 * Populating faults pages in as the process's own accesses would: a read
 * leaves a private file mapping on the file's page, a write copies it. The
 * range is done in order up to the first page it cannot do (a hole:
 * ENOMEM, a vma that forbids the access: EINVAL, a fault that would raise a
 * signal: EFAULT), which RESIDENT shows.
 */
static void test_populate(void)
{
	uint64_t s = SLOT(11), before;
	unsigned int i;

	diag("madvise: MADV_POPULATE_READ, MADV_POPULATE_WRITE");
	map_both(s, 2 * PG, RW, MAP_SHARED, MEMFD, 4 * PG, "a shared memfd");
	map_both(s + 2 * PG, 2 * PG, RW, MAP_PRIVATE, MEMFD, 4 * PG,
		 "a private mapping of it");
	poke(s, 'r');
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_POPULATE_READ),
	     "MADV_POPULATE_READ of the private mapping");
	check_mm_coherent(mm);
	poke(s, 's');
	same_probe(PEEK(B + s + 2 * PG), "it still reads the file");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_POPULATE_WRITE),
	     "MADV_POPULATE_WRITE of it");
	check_mm_coherent(mm);
	poke(s, 't');
	poke(s + PG, 'u');
	same_probe(PEEK(B + s + 2 * PG), "it has its own copy now");
	same_probe(PEEK(B + s + 3 * PG), "of the second page too");

	/* umm alone: the point of populating is no fault after. */
	map_both(s + 8 * PG, 16 * PG, RW, ANON, NOFILE, 0,
		 "sixteen private pages");
	same(MADVISE(B + s + 8 * PG, 8 * PG, MADV_POPULATE_WRITE),
	     "MADV_POPULATE_WRITE of half of them");
	check_mm_coherent(mm);
	before = gst_work(mm);
	for (i = 0; i < 8; i++)
		guest_write(mm, gst.base + s + (8 + i) * PG, (uint8_t)i);
	is(gst_work(mm) - before, 0, "umm: writing them takes no fault");
	for (i = 8; i < 16; i++)
		guest_write(mm, gst.base + s + (8 + i) * PG, (uint8_t)i);
	ok(gst_work(mm) > before, "umm: writing the other half does");

	/* [0][hole][2][3]: 0 is populated, then ENOMEM */
	map_both(s + 24 * PG, 4 * PG, RW, ANON, NOFILE, 0, "four pages");
	hole(s + 25 * PG, PG);
	same(MADVISE(B + s + 24 * PG, 4 * PG, MADV_POPULATE_WRITE),
	     "MADV_POPULATE_WRITE of a page, a hole and two pages");
	same(RESIDENT(B + s + 24 * PG), "the page before the hole is in");
	same(RESIDENT(B + s + 26 * PG), "the page after it is not");

	/* [0][1] read-write, [2][3] PROT_NONE */
	map_both(s + 28 * PG, 2 * PG, RW, ANON, NOFILE, 0, "two pages");
	map_both(s + 30 * PG, 2 * PG, PROT_NONE, ANON, NOFILE, 0,
		 "two PROT_NONE pages after them");
	same(MADVISE(B + s + 28 * PG, 4 * PG, MADV_POPULATE_WRITE),
	     "MADV_POPULATE_WRITE of both");
	same(RESIDENT(B + s + 29 * PG), "the last writable page is in");

	/* The memfd's last page, then one past its end: a SIGBUS is EFAULT. */
	map_both(s + 32 * PG, 2 * PG, RW, MAP_SHARED, MEMFD,
		 (FILE_PAGES - 1) * PG, "the memfd's last page and past it");
	same(MADVISE(B + s + 32 * PG, 2 * PG, MADV_POPULATE_READ),
	     "MADV_POPULATE_READ up to past the end of the file");
	same(MADVISE(B + s + 32 * PG, 2 * PG, MADV_POPULATE_WRITE),
	     "MADV_POPULATE_WRITE of it");
	same(RESIDENT(B + s + 32 * PG), "the last page is in");

	/* A stack is not grown: the page below it is a hole. */
	map_both(s + 38 * PG, 2 * PG, RW, ANON | MAP_GROWSDOWN, NOFILE, 0,
		 "a MAP_GROWSDOWN stack");
	hole(s + 37 * PG, PG);
	same(MADVISE(B + s + 37 * PG, 2 * PG, MADV_POPULATE_WRITE),
	     "MADV_POPULATE_WRITE from the page below it");
	same(VMAS(s + 36 * PG, 4 * PG), "the stack did not grow");
	check_mm_coherent(mm);

	/* umm alone: a manyprots page populates as its own pte allows. */
	map_both(s + 40 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd");
	is(umm_remap_file_pages(mm, gst.base + s + 40 * PG, PG, PROT_READ, 0,
				UMM_MAP_MANYPROTS),
	   0, "umm: its first page made read-only (UMM_MAP_MANYPROTS)");
	is(umm_madvise(mm, gst.base + s + 40 * PG, 2 * PG,
		       MADV_POPULATE_READ),
	   0, "umm: MADV_POPULATE_READ of it");
	is(umm_madvise(mm, gst.base + s + 40 * PG, 2 * PG,
		       MADV_POPULATE_WRITE),
	   -EINVAL, "umm: MADV_POPULATE_WRITE of it: EINVAL");
	map_both(s + 42 * PG, 4 * PG, PROT_NONE, MAP_SHARED, MEMFD, 0,
		 "a PROT_NONE shared memfd");
	is(umm_remap_file_pages(mm, gst.base + s + 43 * PG, PG, RW, 1,
				UMM_MAP_MANYPROTS),
	   0, "umm: one page of it opened up");
	is(umm_madvise(mm, gst.base + s + 43 * PG, PG, MADV_POPULATE_WRITE), 0,
	   "umm: MADV_POPULATE_WRITE of that page");
	before = gst_work(mm);
	guest_write(mm, gst.base + s + 43 * PG, 0x43);
	is(gst_work(mm) - before, 0, "umm: writing it takes no fault");
	is(umm_madvise(mm, gst.base + s + 42 * PG, 2 * PG, MADV_POPULATE_READ),
	   -EINVAL, "umm: MADV_POPULATE_READ of the page before it: EINVAL");
	check_mm_coherent(mm);
	reserve(s, 48 * PG);
}

/* ---- MADV_WILLNEED ---- */

/*
 * WILLNEED brings in what the file holds, which umm maps at once: a later
 * read needs no fault. A shmem file's holes stay holes (Linux's shmem
 * WILLNEED only swaps in), and anonymous memory has nothing to bring in.
 */
static void test_willneed(void)
{
	uint64_t s = SLOT(12), free_before;

	diag("madvise: MADV_WILLNEED");
	map_both(s, 2 * PG, PROT_READ, MAP_PRIVATE, ROFILE, 0,
		 "a read-only file");
	same(MADVISE(B + s, 2 * PG, MADV_WILLNEED), "MADV_WILLNEED of it");
	check_mm_coherent(mm);
	same(RESIDENT(B + s + PG), "its second page is in");
	same_probe(PEEK(B + s + PG), "and reads the file");

	map_both(s + 4 * PG, 4 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd");
	map_both(s + 8 * PG, 4 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a second mapping of it");
	poke(s + 4 * PG, 0x44);
	poke(s + 5 * PG, 0x45);
	free_before = umm_phys_frames_free(phys);
	same(MADVISE(B + s + 8 * PG, 4 * PG, MADV_WILLNEED),
	     "MADV_WILLNEED of the second mapping");
	is(umm_phys_frames_free(phys), free_before,
	   "umm: the file's holes got no frame");
	check_mm_coherent(mm);
	same(RESIDENT(B + s + 9 * PG), "a page of the file is in");
	same(RESIDENT(B + s + 11 * PG), "a hole of the file is not");
	same_probe(PEEK(B + s + 9 * PG), "the page reads the file");

	map_both(s + 12 * PG, 2 * PG, RW, ANON, NOFILE, 0,
		 "two private pages");
	same(MADVISE(B + s + 12 * PG, 2 * PG, MADV_WILLNEED),
	     "MADV_WILLNEED of private anonymous memory");
	same(RESIDENT(B + s + 13 * PG), "it brought nothing in");
	poke(s + 12 * PG, 0x46);
	same(MADVISE(B + s + 12 * PG, 2 * PG, MADV_WILLNEED),
	     "MADV_WILLNEED of it written");
	same_probe(PEEK(B + s + 12 * PG), "it keeps its data");
	check_mm_coherent(mm);

	/* umm alone: a manyprots page is brought in if it may be read. */
	map_both(s + 16 * PG, 4 * PG, PROT_NONE, MAP_SHARED, MEMFD, 0,
		 "a PROT_NONE shared memfd");
	is(umm_remap_file_pages(mm, gst.base + s + 17 * PG, 2 * PG, PROT_READ,
				1, UMM_MAP_MANYPROTS | MAP_NONBLOCK),
	   0, "umm: two pages of it opened up on file pages 1-2, not mapped");
	is(umm_madvise(mm, gst.base + s + 16 * PG, 4 * PG, MADV_WILLNEED), 0,
	   "umm: MADV_WILLNEED of all of it");
	is(gst_resident(gst.base + s + 17 * PG), 1,
	   "umm: the file's page opened up is in");
	is(gst_resident(gst.base + s + 18 * PG), 0,
	   "umm: the file's hole opened up is not");
	check_mm_coherent(mm);
	reserve(s, 20 * PG);
}

/* ---- vmas split and merge ---- */

/*
 * Advice that changes a vma's flags on part of it splits it; when its
 * pieces' flags agree again they merge. Compared where Linux and umm agree
 * by design: the pieces of one vma (which share Linux's anon_vma) and file
 * mappings at consecutive offsets. They differ by design for two private
 * anonymous vmas mapped apart and both written before they meet: Linux
 * gave each its own anon_vma and never merges them, umm has no anon_vma
 * and merges any neighbours with the same flags. Not compared here.
 */
static void test_split(void)
{
	uint64_t s = SLOT(8);

	diag("madvise: splitting and merging vmas");
	map_both(s, 8 * PG, RW, ANON, NOFILE, 0, "eight private pages");
	poke_pages(s, 8, NULL, 0);
	same(VMAS(s, 8 * PG), "vmas at first");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_RANDOM),
	     "MADV_RANDOM of pages 2-3");
	same(VMAS(s, 8 * PG), "the vma was split in three");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_RANDOM),
	     "MADV_RANDOM of them again");
	same(VMAS(s, 8 * PG), "nothing changed");
	same(MADVISE(B + s + 3 * PG, 2 * PG, MADV_SEQUENTIAL),
	     "MADV_SEQUENTIAL of pages 3-4");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s, 2 * PG, MADV_RANDOM),
	     "MADV_RANDOM of pages 0-1: they join page 2");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s, 8 * PG, MADV_NORMAL), "MADV_NORMAL of all");
	same(VMAS(s, 8 * PG), "merged back into one");
	same_probe(PEEK(B + s + 3 * PG), "the data stayed");
	same(MADVISE(B + s, PG, MADV_DONTDUMP), "MADV_DONTDUMP of page 0");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s, 8 * PG, MADV_DODUMP), "MADV_DODUMP of all");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s + 6 * PG, 2 * PG, MADV_HUGEPAGE),
	     "MADV_HUGEPAGE of pages 6-7");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s, 8 * PG, MADV_NOHUGEPAGE), "MADV_NOHUGEPAGE of all");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s, 8 * PG, MADV_HUGEPAGE), "MADV_HUGEPAGE of all");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s + 3 * PG, 2 * PG, MADV_DONTFORK),
	     "MADV_DONTFORK of pages 3-4");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s, 8 * PG, MADV_DOFORK), "MADV_DOFORK of all");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s + 7 * PG, PG, MADV_WIPEONFORK),
	     "MADV_WIPEONFORK of page 7");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s, 8 * PG, MADV_KEEPONFORK), "MADV_KEEPONFORK of all");
	same(VMAS(s, 8 * PG), "vmas after it");
	same_probe(PEEK(B + s + 7 * PG), "the data stayed");
	same(MADVISE(B + s + PG, PG, MADV_RANDOM), "MADV_RANDOM of page 1");
	same(MADVISE(B + s + 3 * PG, PG, MADV_RANDOM), "of page 3");
	same(MADVISE(B + s + 5 * PG, PG, MADV_RANDOM), "of page 5");
	same(VMAS(s, 8 * PG), "vmas after them");
	same(MADVISE(B + s, 8 * PG, MADV_SEQUENTIAL),
	     "MADV_SEQUENTIAL of all: each piece merges with the last");
	same(VMAS(s, 8 * PG), "vmas after it");
	same(MADVISE(B + s + 2 * PG, 3 * PG, MADV_DONTFORK),
	     "MADV_DONTFORK of pages 2-4");
	same(MADVISE(B + s + PG, 6 * PG, MADV_DONTDUMP),
	     "MADV_DONTDUMP of pages 1-6");
	same(VMAS(s, 8 * PG), "vmas after them");
	same(MADVISE(B + s, 8 * PG, MADV_DOFORK), "MADV_DOFORK of all");
	same(MADVISE(B + s, 8 * PG, MADV_DODUMP), "MADV_DODUMP of all");
	same(MADVISE(B + s, 8 * PG, MADV_NORMAL), "MADV_NORMAL of all");
	same(VMAS(s, 8 * PG), "merged back into one");
	same_probe(PEEK(B + s + 5 * PG), "the data stayed");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_WILLNEED),
	     "MADV_WILLNEED of pages 2-3");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_COLD),
	     "MADV_COLD of pages 2-3");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_PAGEOUT),
	     "MADV_PAGEOUT of pages 2-3");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_DONTNEED),
	     "MADV_DONTNEED of pages 2-3");
	same(MADVISE(B + s + 2 * PG, 2 * PG, MADV_FREE),
	     "MADV_FREE of pages 2-3");
	same(VMAS(s, 8 * PG), "none of those split the vma");

	map_both(s + 16 * PG, 4 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd");
	same(MADVISE(B + s + 17 * PG, 2 * PG, MADV_RANDOM),
	     "MADV_RANDOM of its middle");
	same(VMAS(s + 16 * PG, 4 * PG), "vmas after it");
	same(MADVISE(B + s + 16 * PG, 4 * PG, MADV_NORMAL),
	     "MADV_NORMAL of all of it");
	same(VMAS(s + 16 * PG, 4 * PG), "merged back");
	map_both(s + 24 * PG, 4 * PG, RW, MAP_PRIVATE, MEMFD, 0,
		 "a private memfd");
	poke(s + 25 * PG, 0x31);
	same(MADVISE(B + s + 24 * PG, PG, MADV_SEQUENTIAL),
	     "MADV_SEQUENTIAL of its first page");
	same(VMAS(s + 24 * PG, 4 * PG), "vmas after it");
	same(MADVISE(B + s + 24 * PG, 4 * PG, MADV_NORMAL),
	     "MADV_NORMAL of all of it");
	same(VMAS(s + 24 * PG, 4 * PG), "merged back");

	same(MADVISE(B + s + 40 * PG, PG, MADV_RANDOM),
	     "MADV_RANDOM of a page of the PROT_NONE reservation");
	same(VMAS(s + 36 * PG, 8 * PG), "vmas after it");
	same(MADVISE(B + s + 36 * PG, 8 * PG, MADV_NORMAL),
	     "MADV_NORMAL around it");
	same(VMAS(s + 36 * PG, 8 * PG), "merged back");

	/* Two vmas and a hole: each advised, the hole reported. */
	map_both(s + 48 * PG, 2 * PG, RW, ANON, NOFILE, 0, "two pages");
	hole(s + 50 * PG, PG);
	map_both(s + 51 * PG, 2 * PG, RW, MAP_SHARED, MEMFD, 0,
		 "a shared memfd after a hole");
	same(MADVISE(B + s + 49 * PG, 3 * PG, MADV_SEQUENTIAL),
	     "MADV_SEQUENTIAL of a page, the hole and a page");
	same(VMAS(s + 48 * PG, 5 * PG), "both were split");
	same(MADVISE(B + s + 48 * PG, 5 * PG, MADV_NORMAL),
	     "MADV_NORMAL of them");
	same(VMAS(s + 48 * PG, 5 * PG), "both merged back");
	reserve(s, 56 * PG);
}

/* ---- pinned pages (umm only) ---- */

/*
 * The host cannot pin from user space, so this is umm alone, against
 * Linux's behaviour: MADV_DONTNEED drops the pte of a pinned page, not the
 * page. The pin keeps the old page and its data, the guest faults in a new
 * one; the page stays anon-exclusive, so unpinning it is no bug. A
 * MADV_WIPEONFORK or MADV_DONTFORK range is not copied for a child even
 * when pinned (fork copies other pinned pages at once).
 */
static void test_pinned(void)
{
	struct umm_page_state st;
	struct umm_page *pg[2];
	struct umm_mm *child;
	unsigned long bugs;
	uint64_t a;
	long r;

	diag("madvise: pinned pages (umm only)");
	r = umm_mmap(mm, 0, 4 * PG, RW, ANON, NULL, 0);
	if (r < 0)
		BAIL_OUT("mmap: %s", strerror((int)-r));
	a = (uint64_t)r;
	guest_write(mm, a, 0x11);
	guest_write(mm, a + 2 * PG, 0x12);
	guest_write(mm, a + 3 * PG, 0x13);
	is(umm_gup(mm, a, 1, UMM_FOLL_PIN | UMM_FOLL_WRITE, pg), 1,
	   "umm: pin a page for writing");
	is(umm_madvise(mm, a, 2 * PG, MADV_DONTNEED), 0,
	   "umm: MADV_DONTNEED of it");
	is(gst_peek(mm, a), 0, "umm: the guest reads zero");
	is(((uint8_t *)umm_page_addr(pg[0]))[0], 0x11,
	   "umm: the pin keeps the old page and its data");
	umm_page_state(pg[0], &st);
	ok(st.pincount == 1 && st.mapcount == 0 && st.anon_exclusive,
	   "umm: it is pinned, exclusive, mapped by no pte");
	guest_write(mm, a, 0x14);
	is(((uint8_t *)umm_page_addr(pg[0]))[0], 0x11,
	   "umm: a guest write goes to the new page");
	bugs = umm_gup_unpin_bugs();
	umm_unpin(pg, 1, true);
	is(umm_gup_unpin_bugs(), bugs, "umm: unpinning it is no bug");

	is(umm_gup(mm, a + 2 * PG, 2, UMM_FOLL_PIN, pg), 2,
	   "umm: pin two pages read-only");
	is(umm_madvise(mm, a + 2 * PG, PG, MADV_WIPEONFORK), 0,
	   "umm: MADV_WIPEONFORK of the first");
	is(umm_madvise(mm, a + 3 * PG, PG, MADV_DONTFORK), 0,
	   "umm: MADV_DONTFORK of the second");
	child = umm_fork(mm);
	if (!child)
		BAIL_OUT("umm_fork: %s", strerror(errno));
	is(gst_peek(child, a + 2 * PG), 0, "umm: the child's first is wiped");
	is(gst_peek(child, a + 3 * PG), sigcode(SIGSEGV, SEGV_MAPERR),
	   "umm: the child has no second");
	is(gst_peek(child, a), 0x14, "umm: the child has the page before");
	check_mm_coherent(child);
	umm_mm_put(child);
	guest_write(mm, a + 2 * PG, 0x15);
	is(((uint8_t *)umm_page_addr(pg[0]))[0], 0x15,
	   "umm: the pin still sees what the parent writes");
	is(gst_peek(mm, a + 3 * PG), 0x13, "umm: the parent keeps the second");
	bugs = umm_gup_unpin_bugs();
	umm_unpin(pg, 2, false);
	is(umm_gup_unpin_bugs(), bugs, "umm: unpinning them is no bug");
}

/* ---- splits at the map count limit ---- */

/*
 * Fill an address space until a split fails: [start, end) is one PROT_NONE
 * vma whose pages get, one by one, alternating protections, so that each
 * step splits off exactly one vma. Once the count reaches the limit the
 * next split fails, and the count stays at the limit. Returns the first
 * page not given a protection of its own (the start of the rest of the
 * vma), or 0.
 */
static uint64_t nat_fill_map_count(uint64_t start, uint64_t end)
{
	uint64_t va;

	for (va = start; va < end - 8 * PG; va += PG) {
		int prot = (va / PG) & 1 ? PROT_READ : RW;
		long r = sys_ret(syscall(SYS_mprotect, va, PG, (long)prot));

		if (r == -ENOMEM)
			return va;
		if (r)
			return 0;
	}
	return 0;
}

static uint64_t gst_fill_map_count(uint64_t start, uint64_t end)
{
	uint64_t va;

	for (va = start; va < end - 8 * PG; va += PG) {
		int prot = (va / PG) & 1 ? PROT_READ : RW;
		int r = umm_mprotect(mm, va, PG, prot);

		if (r == -ENOMEM)
			return va;
		if (r)
			return 0;
	}
	return 0;
}

#define LIMIT_CASES 7

static const char *const limit_names[LIMIT_CASES] = {
	"at the map count limit, MADV_RANDOM of the middle of a vma",
	"at the limit, MADV_RANDOM of the tail of a vma (one split)",
	"at the limit, MADV_RANDOM of a whole vma (no split)",
	"at the limit, MADV_NORMAL of it again",
	"at the limit, MADV_DONTNEED of the middle of a vma (no split)",
	"at the limit, MADV_NORMAL of the middle of a vma (no change)",
	"at the limit, MADV_RANDOM of a whole vma and part of the next",
};

/* The cases, from @rest, the first page of the big vma's rest. */
static void limit_cases(uint64_t rest, uint64_t end, struct umm_mm *m,
			long *out)
{
	const uint64_t a[LIMIT_CASES] = {
		rest + 2 * PG, rest + 2 * PG, rest - PG,     rest - PG,
		rest + 2 * PG, rest + 2 * PG, rest - PG,
	};
	const uint64_t l[LIMIT_CASES] = {
		2 * PG, end - rest - 2 * PG, PG, PG, 2 * PG, 2 * PG, 3 * PG,
	};
	const int adv[LIMIT_CASES] = {
		MADV_RANDOM,   MADV_RANDOM, MADV_RANDOM, MADV_NORMAL,
		MADV_DONTNEED, MADV_NORMAL, MADV_RANDOM,
	};
	unsigned int i;

	for (i = 0; i < LIMIT_CASES; i++)
		out[i] = m ? umm_madvise(m, a[i], l[i], adv[i]) :
			     nat_madvise(a[i], l[i], adv[i]);
}

/* vm.max_map_count, or 0. */
static unsigned long host_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	unsigned long n = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

/*
 * Linux's madvise turns a split's -ENOMEM at the map count limit into
 * -EAGAIN, unlike munmap and mprotect. The guest's limit is Linux's default
 * (65530) whatever the host's, which does not matter: each side is filled
 * to its own limit.
 */
#define GUEST_FILL_LEN (512ULL << 20)

static void test_map_limit(void)
{
	unsigned long max = host_max_map_count();
	uint64_t rest, len = (max + 64) * PG;
	long g[LIMIT_CASES], r;
	unsigned int i;
	int status;
	pid_t pid;

	diag("madvise: splits at the map count limit");
	if (!max || max > (1UL << 20)) {
		ok(1, "# SKIP vm.max_map_count is %lu: too long to fill", max);
		return;
	}
	/*
	 * Natively in a child: it has the map count to itself (no other
	 * thread maps anything meanwhile), and its mappings go with it.
	 */
	shared[LIMIT_CASES] = -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!pid) {
		r = nat_mmap(0, len, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
		rest = r < 0 ? 0 : nat_fill_map_count((uint64_t)r, r + len);
		if (rest) {
			limit_cases(rest, r + len, NULL, (long *)shared);
			shared[LIMIT_CASES] = 0;
		}
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		BAIL_OUT("waitpid: %s", strerror(errno));
	if (!ok(shared[LIMIT_CASES] == 0,
		"native: the vmas reach the map count limit"))
		return;

	r = umm_mmap(mm, 0, GUEST_FILL_LEN, PROT_NONE, ANON | MAP_NORESERVE,
		     NULL, 0);
	if (r < 0)
		BAIL_OUT("guest fill region: %s", strerror((int)-r));
	rest = gst_fill_map_count((uint64_t)r, r + GUEST_FILL_LEN);
	if (!ok(rest, "umm: the guest's vmas reach the map count limit"))
		return;
	limit_cases(rest, r + GUEST_FILL_LEN, mm, g);
	for (i = 0; i < LIMIT_CASES; i++)
		compare(shared[i], g[i], VAL, "%s", limit_names[i]);
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
	memfd = memfd_create("umm-madvise", MFD_CLOEXEC);
	if (rofd < 0 || memfd < 0 || ftruncate(memfd, FILE_PAGES * PG) < 0)
		BAIL_OUT("files: %s", strerror(errno));
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

/* The memfd's contents are the test's to set: zero them between tests. */
static void reset_memfd(void)
{
	if (ftruncate(memfd, 0) < 0 || ftruncate(memfd, FILE_PAGES * PG) < 0)
		BAIL_OUT("memfd: %s", strerror(errno));
}

static void run(void (*test)(void))
{
	reset_memfd();
	guest_begin();
	test();
	guest_end();
}

int main(void)
{
	long r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	nat.task = native_task_size();
	gst.task = GUEST_TASK_SIZE;
	r = nat_mmap(0, SCRATCH, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
	if (r < 0)
		BAIL_OUT("native scratch: %s", strerror((int)-r));
	nat.base = (uint64_t)r;
	r = nat_mmap(0, PG, RW, SHANON, -1, 0);
	if (r < 0)
		BAIL_OUT("shared page: %s", strerror((int)-r));
	shared = (volatile long *)r;
	setup_files();

	run(test_args);
	run(test_matrix);
	run(test_holes);
	run(test_past_last_vma);
	run(test_wipeonfork);
	run(test_droppable);
	run(test_dontfork);
	run(test_dontneed);
	run(test_free);
	run(test_remove);
	run(test_remove_fork_race);
	run(test_populate);
	run(test_willneed);
	run(test_split);
	run(test_pinned);
	run(test_map_limit);

	nat_munmap(nat.base, SCRATCH);
	nat_munmap((uint64_t)shared, PG);
	close(memfd);
	close(rofd);
	unlink(rof_path);
	return done_testing();
}
