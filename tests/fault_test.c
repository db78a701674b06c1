// SPDX-License-Identifier: MIT
/*
 * Guest signals and the SIGSEGV handler, through the public API: the
 * si_code and si_addr of every kind of refused access (read, write,
 * instruction fetch, a store across a page boundary), SIGBUS past the end
 * of a truncated file, nested and concurrent guest calls, mms side by side,
 * faults outside every window and SIGSEGVs sent by raise() going to the
 * handler that was there first, the access kind read from the fault, and
 * umm_maps' format against the host's own /proc/self/maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
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

static long map_anon(struct umm_mm *mm, uint64_t addr, uint64_t len, int prot)
{
	return umm_mmap(mm, addr, len, prot,
			MAP_PRIVATE | MAP_ANONYMOUS | (addr ? MAP_FIXED : 0),
			NULL, 0);
}

/* A guest access that must be refused: signal, si_code and exact si_addr. */
static void expect_signal(struct umm_mm *mm, uint64_t va, int write, int sig,
			  int code, const char *what)
{
	siginfo_t si;
	uint8_t v = 0x77;
	int got;

	memset(&si, 0, sizeof(si));
	got = guest_access(mm, va, write, &v, &si);
	is(got, sig, "%s: %s", what, sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
	is(si.si_signo, sig, "%s: si_signo", what);
	is(si.si_code, code, "%s: si_code %s", what,
	   sig == SIGBUS ? (code == BUS_ADRERR ? "BUS_ADRERR" : "BUS_?") :
	   code == SEGV_MAPERR ? "SEGV_MAPERR" :
	   code == SEGV_ACCERR ? "SEGV_ACCERR" : "SEGV_?");
	is((uint64_t)(uintptr_t)si.si_addr, va, "%s: si_addr is the guest "
	   "address %#llx", what, (unsigned long long)va);
}

static uint8_t read_byte(struct umm_mm *mm, uint64_t va, int *sig)
{
	uint8_t v = 0xee;

	*sig = guest_read(mm, va, &v);
	return v;
}

/* ---- handlers installed before umm's (each in a child of its own) ---- */

static volatile uint8_t *native_page;

static void own_sigaction(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (sig == SIGSEGV && si->si_code == SI_TKILL)
		_exit(46);	/* raise()d: no address to look at */
	if (sig == SIGSEGV && si->si_addr == (void *)native_page &&
	    si->si_code == SEGV_ACCERR)
		_exit(42);
	_exit(43);
}

static void own_handler(int sig)
{
	_exit(sig == SIGSEGV ? 44 : 45);
}

enum prior { PRIOR_SIGINFO, PRIOR_HANDLER, PRIOR_DFL, PRIOR_IGN };
enum touch {
	TOUCH_NATIVE,	/* a native PROT_NONE page */
	TOUCH_WINDOW,	/* a refused guest address, outside umm_guest_call */
	TOUCH_RAISE,	/* no fault: raise(SIGSEGV), then use umm again */
};

/*
 * In the child: install @prior before umm's handler exists, check that
 * guest faults still reach umm, then do @touch.
 */
static void child_touch(enum prior prior, enum touch touch)
{
	struct umm_phys *cphys;
	struct umm_mm *mm;
	struct sigaction sa;
	struct rlimit nocore = { 0, 0 };
	siginfo_t si;
	uint8_t v = 0;
	long a;

	alarm(20);	/* a fault loop here fails the parent's test */
	setrlimit(RLIMIT_CORE, &nocore);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	switch (prior) {
	case PRIOR_SIGINFO:
		sa.sa_sigaction = own_sigaction;
		sa.sa_flags = SA_SIGINFO;
		break;
	case PRIOR_HANDLER:
		sa.sa_handler = own_handler;
		break;
	case PRIOR_DFL:
		sa.sa_handler = SIG_DFL;
		break;
	case PRIOR_IGN:
		sa.sa_handler = SIG_IGN;
		break;
	}
	if (sigaction(SIGSEGV, &sa, NULL))
		_exit(2);
	native_page = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	if (native_page == MAP_FAILED)
		_exit(3);
	cphys = umm_phys_new(4ULL << 20);
	mm = cphys ? umm_mm_new(cphys, 1ULL << 32) : NULL;
	if (!mm)
		_exit(4);
	a = map_anon(mm, 0, 64 * PG, PROT_READ | PROT_WRITE);
	if (a < 0)
		_exit(5);
	/* umm's handler is in front: guest faults are still the guest's. */
	if (guest_write(mm, (uint64_t)a + 10, 0x5a) ||
	    guest_read(mm, (uint64_t)a + 10, &v) || v != 0x5a)
		_exit(6);
	if (guest_access(mm, (uint64_t)a + 64 * PG, 0, &v, &si) != SIGSEGV ||
	    si.si_code != SEGV_MAPERR)
		_exit(7);
	switch (touch) {
	case TOUCH_NATIVE:
		*native_page = 1;
		break;
	case TOUCH_WINDOW:	/* no umm_guest_call to return to */
		*(volatile uint8_t *)umm_host_addr(mm, (uint64_t)a + 68 * PG) =
			1;
		break;
	case TOUCH_RAISE:
		raise(SIGSEGV);
		if (prior == PRIOR_DFL)
			_exit(9);	/* it should have killed */
		/* Ignored: umm must still be in front (a page the host has
		 * not mapped yet: another fault-around block). */
		if (guest_write(mm, (uint64_t)a + 40 * PG, 0x6b) ||
		    guest_read(mm, (uint64_t)a + 40 * PG, &v) || v != 0x6b)
			_exit(8);
		_exit(0);
	}
	_exit(1);	/* the access went through: nobody refused it */
}

static int run_child(enum prior prior, enum touch touch)
{
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!pid) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)	/* umm says why it gave up: not TAP */
			dup2(fd, STDERR_FILENO);
		child_touch(prior, touch);
	}
	if (waitpid(pid, &status, 0) != pid)
		BAIL_OUT("waitpid: %s", strerror(errno));
	return status;
}

/* Must run before this process makes its first mm: it forks children
 * that install their handlers before umm installs its own. */
static void test_chain(void)
{
	int st;

	st = run_child(PRIOR_SIGINFO, TOUCH_NATIVE);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 42,
	   "SIGSEGV outside every window: the SA_SIGINFO handler installed "
	   "before umm's runs, with si_addr and si_code (status %#x)", st);
	st = run_child(PRIOR_HANDLER, TOUCH_NATIVE);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 44,
	   "a plain sa_handler installed before umm's runs (status %#x)", st);
	st = run_child(PRIOR_DFL, TOUCH_NATIVE);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	   "no handler before umm's: the process dies of SIGSEGV "
	   "(status %#x)", st);
	st = run_child(PRIOR_IGN, TOUCH_NATIVE);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	   "SIG_IGN before umm's: a real fault still kills (status %#x)", st);
	st = run_child(PRIOR_DFL, TOUCH_WINDOW);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	   "a refused guest access outside umm_guest_call kills with "
	   "SIGSEGV, it does not loop (status %#x)", st);
	/* A SIGSEGV that no fault raised: si_addr holds no address. */
	st = run_child(PRIOR_SIGINFO, TOUCH_RAISE);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 46,
	   "raise(SIGSEGV) goes to the handler installed before umm's, as "
	   "SI_TKILL (status %#x)", st);
	st = run_child(PRIOR_DFL, TOUCH_RAISE);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	   "raise(SIGSEGV) with no handler before umm's kills, as it would "
	   "without umm (status %#x)", st);
	st = run_child(PRIOR_IGN, TOUCH_RAISE);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "raise(SIGSEGV) under SIG_IGN is ignored, and umm still handles "
	   "guest faults after it (status %#x)", st);
}

/* ---- si_code and si_addr ---- */

static void test_maperr(void)
{
	struct umm_mm *mm = mm_new();
	struct umm_stats st;
	long a = map_anon(mm, 0, 8 * PG, PROT_READ | PROT_WRITE);

	ok(a > 0, "anonymous mapping of 8 pages");
	expect_signal(mm, (uint64_t)a + 8 * PG + 123, 0, SIGSEGV, SEGV_MAPERR,
		      "read just past the mapping");
	expect_signal(mm, (uint64_t)a - PG + 4095, 1, SIGSEGV, SEGV_MAPERR,
		      "write to the last byte before it");
	expect_signal(mm, 0, 0, SIGSEGV, SEGV_MAPERR, "read of guest NULL");
	expect_signal(mm, (1ULL << 32) - 1, 1, SIGSEGV, SEGV_MAPERR,
		      "write to the last byte of the address space");
	is(umm_munmap(mm, (uint64_t)a + 3 * PG, PG), 0, "punch a hole");
	expect_signal(mm, (uint64_t)a + 3 * PG + 7, 1, SIGSEGV, SEGV_MAPERR,
		      "write into the hole");
	is(guest_write(mm, (uint64_t)a + 2 * PG + 4095, 1), 0,
	   "the byte before the hole is still writable");
	is(guest_write(mm, (uint64_t)a + 4 * PG, 1), 0,
	   "and the byte after it");
	umm_mm_stats(mm, &st);
	is(st.fault_sigsegv, 5, "five SIGSEGVs counted");
	is(st.fault_sigbus, 0, "no SIGBUS counted");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

static void test_accerr(void)
{
	struct umm_mm *mm = mm_new();
	uint64_t ro, none, rw, wo, xo;
	int sig;

	ro = (uint64_t)map_anon(mm, 0, 2 * PG, PROT_READ);
	none = (uint64_t)map_anon(mm, 0, 2 * PG, PROT_NONE);
	rw = (uint64_t)map_anon(mm, 0, 2 * PG, PROT_READ | PROT_WRITE);
	expect_signal(mm, ro + 17, 1, SIGSEGV, SEGV_ACCERR,
		      "first access a write to PROT_READ");
	is(read_byte(mm, ro + 17, &sig), 0, "PROT_READ reads zero");
	expect_signal(mm, ro + PG - 1, 1, SIGSEGV, SEGV_ACCERR,
		      "write to PROT_READ after a read mapped it");
	expect_signal(mm, none + PG + 5, 0, SIGSEGV, SEGV_ACCERR,
		      "read of PROT_NONE");
	expect_signal(mm, none, 1, SIGSEGV, SEGV_ACCERR, "write to PROT_NONE");

	/* The host mapping must narrow with the guest's protection. */
	is(guest_write(mm, rw + 100, 0xab), 0, "write to a read-write page");
	is(umm_mprotect(mm, rw, 2 * PG, PROT_READ), 0,
	   "mprotect it PROT_READ");
	expect_signal(mm, rw + 100, 1, SIGSEGV, SEGV_ACCERR,
		      "write to the page the host had mapped writable");
	is(read_byte(mm, rw + 100, &sig), 0xab, "its contents are unchanged");
	is(umm_mprotect(mm, rw, 2 * PG, PROT_NONE), 0, "then PROT_NONE");
	expect_signal(mm, rw + 100, 0, SIGSEGV, SEGV_ACCERR,
		      "read of the page the host had mapped readable");
	is(umm_mprotect(mm, rw, 2 * PG, PROT_READ | PROT_WRITE), 0,
	   "back to read-write");
	is(read_byte(mm, rw + 100, &sig), 0xab, "contents kept");

	/* As on x86 Linux: write and exec imply read. */
	wo = (uint64_t)map_anon(mm, 0, PG, PROT_WRITE);
	xo = (uint64_t)map_anon(mm, 0, PG, PROT_EXEC);
	is(guest_write(mm, wo + 1, 0x31), 0, "PROT_WRITE only: writable");
	is(read_byte(mm, wo + 1, &sig), 0x31, "and readable");
	is(sig, 0, "without a signal");
	is(read_byte(mm, xo + 1, &sig), 0, "PROT_EXEC only: readable");
	is(sig, 0, "without a signal");
	expect_signal(mm, xo + 2, 1, SIGSEGV, SEGV_ACCERR,
		      "write to PROT_EXEC only");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* An 8-byte store across a page boundary, as guest code may make. */
struct straddle {
	uint8_t *p;
	uint64_t val;
};

static void do_straddle(void *arg)
{
	struct straddle *s = arg;

	/* One instruction, whatever the compiler or sanitizer would do. */
	__asm__ volatile("movq %1, (%0)" : : "r"(s->p), "r"(s->val) : "memory");
}

static void test_straddle(void)
{
	struct umm_mm *mm = mm_new();
	uint64_t a = (uint64_t)map_anon(mm, 0, 3 * PG, PROT_READ | PROT_WRITE);
	struct straddle s = { umm_host_addr(mm, a + PG - 4),
			      0x8877665544332211ULL };
	siginfo_t si;
	uint8_t v[8];
	int i, sig, good = 0;

	umm_mm_set_fault_around(mm, 1);
	is(guest_write(mm, a + PG - 8, 1), 0, "first page mapped");
	is(umm_guest_call(mm, do_straddle, &s, &si), 0,
	   "a store across into a page not mapped yet: handled");
	for (i = 0; i < 8; i++)
		guest_read(mm, a + PG - 4 + (uint64_t)i, &v[i]);
	for (i = 0; i < 8; i++)
		good += v[i] == (uint8_t)(s.val >> (8 * i));
	is(good, 8, "all eight bytes landed, on both pages");
	is(umm_munmap(mm, a + 2 * PG, PG), 0, "unmap the third page");
	s.p = umm_host_addr(mm, a + 2 * PG - 4);
	memset(&si, 0, sizeof(si));
	sig = umm_guest_call(mm, do_straddle, &s, &si);
	is(sig, SIGSEGV, "a store across into an unmapped page: SIGSEGV");
	ok(si.si_code == SEGV_MAPERR &&
	   (uint64_t)(uintptr_t)si.si_addr == a + 2 * PG,
	   "SEGV_MAPERR at the first byte of the unmapped page, as the "
	   "host reports it");
	for (i = 0; i < 4; i++)
		guest_read(mm, a + 2 * PG - 4 + (uint64_t)i, &v[i]);
	ok(!v[0] && !v[1] && !v[2] && !v[3],
	   "and the faulting store wrote nothing");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* Call the guest code at arg (a host address) as a function. */
static void do_call(void *arg)
{
	void (*fn)(void) = (void (*)(void))(uintptr_t)arg;

	fn();
}

static int guest_exec(struct umm_mm *mm, uint64_t va, siginfo_t *si)
{
	memset(si, 0, sizeof(*si));
	return umm_guest_call(mm, do_call, umm_host_addr(mm, va), si);
}

static void test_exec(void)
{
	struct umm_mm *mm = mm_new();
	long a = map_anon(mm, 0, 2 * PG, PROT_READ | PROT_WRITE);
	uint64_t code = (uint64_t)a + PG + 64;
	siginfo_t si;
	uint8_t v = 0;
	int sig;

	is(guest_write(mm, code, 0xc3), 0, "copy a ret into a read-write page");
	sig = guest_exec(mm, code, &si);
	is(sig, SIGSEGV, "calling it: SIGSEGV");
	is(si.si_code, SEGV_ACCERR, "with SEGV_ACCERR (instruction fetch)");
	is((uint64_t)(uintptr_t)si.si_addr, code,
	   "at the guest address of the instruction");
	is(umm_mprotect(mm, (uint64_t)a, 2 * PG, PROT_READ | PROT_EXEC), 0,
	   "mprotect PROT_READ|PROT_EXEC");
	is(guest_exec(mm, code, &si), 0, "now the call returns");
	guest_read(mm, code, &v);
	is(v, 0xc3, "the code is still there");
	is(umm_mprotect(mm, (uint64_t)a, 2 * PG, PROT_READ), 0,
	   "mprotect PROT_READ");
	sig = guest_exec(mm, code, &si);
	ok(sig == SIGSEGV && si.si_code == SEGV_ACCERR,
	   "executing it again is refused: the host dropped PROT_EXEC");
	sig = guest_exec(mm, (uint64_t)a + 2 * PG, &si);
	ok(sig == SIGSEGV && si.si_code == SEGV_MAPERR &&
	   (uint64_t)(uintptr_t)si.si_addr == (uint64_t)a + 2 * PG,
	   "calling an unmapped address: SEGV_MAPERR at it");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* ---- SIGBUS past the end of a shmem file ---- */

static void test_truncate(void)
{
	struct umm_mm *mm = mm_new();
	struct umm_file *f = umm_shmem_new(phys, 8 * PG);
	uint64_t end = 5 * PG + 100, a, b, p, free0;
	struct umm_stats st;
	int sig;

	ok(f != NULL, "a shmem file of 8 pages");
	a = (uint64_t)umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
			       MAP_SHARED, f, 0);
	b = (uint64_t)umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
			       MAP_SHARED, f, 0);
	p = (uint64_t)umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE, f, 0);
	ok((long)a > 0 && (long)b > 0 && (long)p > 0,
	   "mapped twice shared, once private");
	is(guest_fill(mm, a, 8 * PG, 5), 0, "fill the file");
	is(guest_check(mm, p, 8 * PG, 5), 0, "the private mapping reads it");
	is(guest_write(mm, p + 7 * PG + 1, 0x99), 0,
	   "a private copy of the last page");
	free0 = umm_phys_frames_free(phys);
	is(umm_file_truncate(f, end), 0, "truncate to 5 pages + 100 bytes "
	   "while mapped");
	is(umm_file_size(f), end, "the new size");
	is(umm_phys_frames_free(phys), free0 + 3,
	   "the two pages past the end and the private copy are freed");
	is(guest_check(mm, a, end, 5), 0, "everything before the end is kept");
	is(read_byte(mm, a + end - 1, &sig), (uint8_t)((5 * 31 + 99 * 7 + 5)),
	   "the last byte before the end");
	is(read_byte(mm, a + end, &sig), 0, "the truncated part of the last "
	   "page reads zero");
	is(sig, 0, "without a signal");
	is(read_byte(mm, b + 6 * PG - 1, &sig), 0,
	   "through the other mapping too, to the end of the page");
	is(read_byte(mm, p + end + 1, &sig), 0, "and the private mapping");
	expect_signal(mm, a + 6 * PG, 0, SIGBUS, BUS_ADRERR,
		      "read of the first page past the end");
	expect_signal(mm, a + 7 * PG + 4000, 1, SIGBUS, BUS_ADRERR,
		      "write to the last page");
	expect_signal(mm, b + 6 * PG + 1, 0, SIGBUS, BUS_ADRERR,
		      "read through the other shared mapping");
	expect_signal(mm, p + 7 * PG + 1, 0, SIGBUS, BUS_ADRERR,
		      "read of the private copy past the end");
	umm_mm_stats(mm, &st);
	is(st.fault_sigbus, 4, "four SIGBUSes counted");

	is(umm_file_truncate(f, 8 * PG), 0, "grow the file back to 8 pages");
	is(read_byte(mm, a + 6 * PG, &sig), 0, "the grown pages read zero");
	is(sig, 0, "without a signal");
	is(read_byte(mm, p + 7 * PG + 1, &sig), 0,
	   "the private copy is gone: zero");
	is(read_byte(mm, b + end + 10, &sig), 0,
	   "the truncated tail of page 5 still reads zero");
	is(guest_write(mm, b + 7 * PG + 2, 0x42), 0,
	   "a grown page is writable");
	is(read_byte(mm, a + 7 * PG + 2, &sig), 0x42,
	   "and shared between the mappings");
	is(guest_check(mm, a, end, 5), 0, "the data before the old end kept");
	umm_munmap(mm, a, 8 * PG);
	umm_munmap(mm, b, 8 * PG);
	umm_munmap(mm, p, 8 * PG);
	umm_file_put(f);
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* ---- nested guest calls ---- */

struct nest {
	struct umm_mm *mm;
	uint64_t va;		/* a read-write page */
	uint64_t hole;		/* unmapped */
	int level;		/* how deep to go */
	int sig_inner, sig_ok;
	siginfo_t si_inner;
	int steps;
};

static void nest_fn(void *arg)
{
	struct nest *n = arg;
	volatile uint8_t *p = umm_host_addr(n->mm, n->va);
	uint8_t v = 0;

	p[n->level] = (uint8_t)(n->level + 1);
	n->steps++;
	if (n->level == 1) {
		n->level++;
		/* A successful inner call, then one the guest refuses. */
		n->sig_ok = umm_guest_call(n->mm, nest_fn, n, NULL);
		n->sig_inner = guest_access(n->mm, n->hole + 3, 0, &v,
					    &n->si_inner);
		n->steps++;
		/* The outer call's own fault: returns to the outer call. */
		*(volatile uint8_t *)umm_host_addr(n->mm, n->hole + 9) = 1;
		n->steps += 100;	/* never reached */
	}
}

static void test_nested(void)
{
	struct umm_mm *mm = mm_new();
	struct nest n = { .mm = mm, .level = 1 };
	siginfo_t si;
	uint8_t v = 0;
	int sig;

	n.va = (uint64_t)map_anon(mm, 0, PG, PROT_READ | PROT_WRITE);
	n.hole = n.va + 16 * PG;
	memset(&si, 0, sizeof(si));
	sig = umm_guest_call(mm, nest_fn, &n, &si);
	is(n.sig_ok, 0, "an inner call that faults only to map returns 0");
	is(n.sig_inner, SIGSEGV, "a refused access in an inner call "
	   "returns SIGSEGV to the inner call");
	ok(n.si_inner.si_code == SEGV_MAPERR &&
	   (uint64_t)(uintptr_t)n.si_inner.si_addr == n.hole + 3,
	   "with its own si_code and si_addr");
	is(n.steps, 3, "the outer call went on after the inner one");
	is(sig, SIGSEGV, "the outer call's own fault returns to it");
	is((uint64_t)(uintptr_t)si.si_addr, n.hole + 9,
	   "with the outer fault's address");
	guest_read(mm, n.va + 1, &v);
	is(v, 2, "the outer call's write happened");
	guest_read(mm, n.va + 2, &v);
	is(v, 3, "the inner call's write happened");
	expect_signal(mm, n.hole, 1, SIGSEGV, SEGV_MAPERR,
		      "a later call still gets its own fault");
	is(guest_write(mm, n.va, 9), 0, "and a later call without a fault "
	   "returns 0");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* ---- several threads on one mm ---- */

#define NTHREADS 4
#define REGION_PAGES 37	/* not a fault-around multiple: blocks straddle */
#define COMMON_PAGES 64
#define ITERS 30

struct worker {
	pthread_t thread;
	struct umm_mm *mm;
	pthread_barrier_t *barrier;
	int id;
	uint64_t region, common, hole;
	int bad_map, bad_fresh, bad_fill, bad_check, bad_segv, bad_common;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	uint64_t len = REGION_PAGES * PG;
	int i, j;

	pthread_barrier_wait(w->barrier);
	/* First touches of the common pages race with the other threads. */
	for (j = 0; j < COMMON_PAGES; j++) {
		int pg = (j + w->id * COMMON_PAGES / NTHREADS) % COMMON_PAGES;

		if (guest_write(w->mm, w->common + pg * PG + w->id,
				(uint8_t)(w->id + 1)))
			w->bad_common++;
	}
	for (i = 0; i < ITERS; i++) {
		unsigned int seed = (unsigned int)(w->id * 1000 + i);
		uint64_t hole = w->hole + (uint64_t)w->id * PG + i;
		siginfo_t si;
		uint8_t v = 0xff;

		/* A fresh mapping over the old: its pages must read zero. */
		if (map_anon(w->mm, w->region, len, PROT_READ | PROT_WRITE) !=
		    (long)w->region)
			w->bad_map++;
		v = 0xff;
		if (guest_read(w->mm, w->region + (i % REGION_PAGES) * PG,
			       &v) || v)
			w->bad_fresh++;
		if (guest_fill(w->mm, w->region, len, seed))
			w->bad_fill++;
		if (guest_check(w->mm, w->region, len, seed))
			w->bad_check++;
		memset(&si, 0, sizeof(si));
		if (guest_access(w->mm, hole, i & 1, &v, &si) != SIGSEGV ||
		    si.si_code != SEGV_MAPERR ||
		    (uint64_t)(uintptr_t)si.si_addr != hole)
			w->bad_segv++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct umm_mm *mm = mm_new();
	struct worker w[NTHREADS];
	pthread_barrier_t barrier;
	uint64_t base, common, hole;
	int i, j, bad = 0, created = 0, churn = 0;
	long tmp;

	base = (uint64_t)map_anon(mm, 0x10000000, NTHREADS * REGION_PAGES * PG,
				  PROT_READ | PROT_WRITE);
	common = (uint64_t)map_anon(mm, 0x20000000, COMMON_PAGES * PG,
				    PROT_READ | PROT_WRITE);
	hole = 0x30000000;
	pthread_barrier_init(&barrier, NULL, NTHREADS + 1);
	memset(w, 0, sizeof(w));
	for (i = 0; i < NTHREADS; i++) {
		w[i].mm = mm;
		w[i].barrier = &barrier;
		w[i].id = i;
		w[i].region = base + (uint64_t)i * REGION_PAGES * PG;
		w[i].common = common;
		w[i].hole = hole;
		if (!pthread_create(&w[i].thread, NULL, worker_fn, &w[i]))
			created++;
	}
	is(created, NTHREADS, "%d threads started", NTHREADS);
	if (created != NTHREADS)
		BAIL_OUT("pthread_create");
	pthread_barrier_wait(&barrier);
	/* Meanwhile, mm-wide changes elsewhere in the same mm. */
	for (j = 0; j < 200; j++) {
		tmp = map_anon(mm, 0, 3 * PG, PROT_READ | PROT_WRITE);
		if (tmp > 0 && !umm_munmap(mm, (uint64_t)tmp, 3 * PG))
			churn++;
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(w[i].thread, NULL);
	pthread_barrier_destroy(&barrier);
	is(churn, 200, "the main thread mapped and unmapped meanwhile");
	for (i = 0; i < NTHREADS; i++) {
		ok(!w[i].bad_map && !w[i].bad_fresh && !w[i].bad_fill &&
		   !w[i].bad_check && !w[i].bad_common,
		   "thread %d: %d rounds of map, fill, check all right "
		   "(bad: map %d fresh %d fill %d check %d common %d)", i,
		   ITERS, w[i].bad_map, w[i].bad_fresh, w[i].bad_fill,
		   w[i].bad_check, w[i].bad_common);
		is(w[i].bad_segv, 0, "thread %d: each of its own unmapped "
		   "accesses gave SEGV_MAPERR at its own address", i);
	}
	for (i = 0; i < NTHREADS; i++)
		is(guest_check(mm, w[i].region, REGION_PAGES * PG,
			       (unsigned int)(i * 1000 + ITERS - 1)), 0,
		   "thread %d's region holds its last fill", i);
	for (j = 0; j < COMMON_PAGES; j++)
		for (i = 0; i < NTHREADS; i++) {
			uint8_t v = 0;

			if (guest_read(mm, common + j * PG + i, &v) ||
			    v != i + 1)
				bad++;
		}
	is(bad, 0, "every thread's racing first writes to the common pages "
	   "landed on the same frames");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* ---- two mms side by side ---- */

static void test_two_mms(void)
{
	struct umm_mm *m1 = mm_new(), *m2 = mm_new();
	struct umm_file *f = umm_shmem_new(phys, 4 * PG);
	uint64_t va = 0x40000000, sva = 0x50000000;
	int sig;

	ok(umm_host_addr(m1, va) != umm_host_addr(m2, va),
	   "two mms: different windows");
	is(map_anon(m1, va, 4 * PG, PROT_READ | PROT_WRITE), (long)va,
	   "map the same va in the first");
	is(map_anon(m2, va, 4 * PG, PROT_READ | PROT_WRITE), (long)va,
	   "and in the second");
	is(guest_write(m1, va + 10, 0x11), 0, "write in the first");
	is(read_byte(m2, va + 10, &sig), 0,
	   "the second does not see it at the same va");
	is(guest_write(m2, va + 10, 0x22), 0, "write in the second");
	is(read_byte(m1, va + 10, &sig), 0x11, "the first keeps its own");
	is(guest_fill(m1, va, 4 * PG, 1), 0, "fill the first");
	is(guest_fill(m2, va, 4 * PG, 2), 0, "fill the second");
	is(guest_check(m1, va, 4 * PG, 1), 0, "the first holds its data");
	is(guest_check(m2, va, 4 * PG, 2), 0, "the second holds its data");
	is(umm_munmap(m2, va + PG, PG), 0, "unmap a page in the second only");
	expect_signal(m2, va + PG + 1, 0, SIGSEGV, SEGV_MAPERR,
		      "the second faults there");
	is(read_byte(m1, va + PG + 1, &sig), (uint8_t)(31 + 7 + 1),
	   "the first still reads it");
	is(umm_mmap(m1, sva, 4 * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_FIXED, f, 0), (long)sva,
	   "a shmem file mapped in the first");
	is(umm_mmap(m2, sva, 4 * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_FIXED, f, 0), (long)sva,
	   "and in the second");
	is(guest_write(m1, sva + 3 * PG, 0x33), 0, "write through the first");
	is(read_byte(m2, sva + 3 * PG, &sig), 0x33,
	   "a shared file is shared between mms");
	check_mm_coherent(m1);
	umm_mm_put(m1);
	is(guest_check(m2, va + 2 * PG, 2 * PG, 2 + 2 * 31), 0,
	   "the second keeps its data after the first is gone");
	is(read_byte(m2, sva + 3 * PG, &sig), 0x33, "and the file's");
	check_mm_coherent(m2);
	umm_mm_put(m2);
	umm_file_put(f);
}

/* ---- the access kind comes from the fault ---- */

static void do_atomic_add(void *arg)
{
	__atomic_fetch_add((uint64_t *)arg, 1, __ATOMIC_SEQ_CST);
}

static void test_fault_kind(void)
{
	struct umm_mm *mm = mm_new();
	struct umm_file *f = umm_shmem_new(phys, 4 * PG);
	struct umm_stats st;
	uint64_t a, s, p;

	a = (uint64_t)map_anon(mm, 0, 64 * PG, PROT_READ | PROT_WRITE);
	is(guest_write(mm, a + 5, 1), 0, "a write to a fresh anonymous page");
	umm_mm_stats(mm, &st);
	is(st.fault_anon, 1, "one anonymous fault");
	is(st.fault_anon_zero, 0, "not a zero-page read fault first");
	is(st.fault_cow + st.fault_wp_reuse + st.fault_dirty +
		   st.fault_young + st.fault_host_miss,
	   0, "and no second fault after it");
	is(st.faults_taken, 1, "the guest took one fault");
	is(guest_read(mm, a + 40 * PG, &(uint8_t){ 0 }), 0,
	   "a read of another block");
	is(guest_write(mm, a + 40 * PG, 1), 0, "then a write to it");
	umm_mm_stats(mm, &st);
	ok(st.fault_anon_zero == 1 && st.fault_anon == 2,
	   "read: zero page; write: fresh frame (zero %llu, anon %llu)",
	   (unsigned long long)st.fault_anon_zero,
	   (unsigned long long)st.fault_anon);

	is(umm_guest_call(mm, do_atomic_add, umm_host_addr(mm, a + 20 * PG),
			  NULL), 0, "an atomic add to a fresh page");
	umm_mm_stats(mm, &st);
	ok(st.fault_anon_zero == 1 && st.fault_anon == 3,
	   "a read-modify-write faults once, as a write (zero %llu, anon "
	   "%llu)", (unsigned long long)st.fault_anon_zero,
	   (unsigned long long)st.fault_anon);

	s = (uint64_t)umm_mmap(mm, 0, 4 * PG, PROT_READ | PROT_WRITE,
			       MAP_SHARED, f, 0);
	p = (uint64_t)umm_mmap(mm, 0, 4 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE, f, 0);
	is(umm_mm_set_fault_around(mm, 1), 0, "fault-around off");
	is(guest_write(mm, s + PG, 2), 0, "a first write to a shared page");
	umm_mm_stats(mm, &st);
	ok(st.fault_file == 1 && st.fault_dirty == 0,
	   "one file fault, no dirtying fault after it (file %llu, dirty "
	   "%llu)", (unsigned long long)st.fault_file,
	   (unsigned long long)st.fault_dirty);
	is(guest_write(mm, p + 2 * PG, 3), 0,
	   "a first write to a private file page");
	umm_mm_stats(mm, &st);
	ok(st.fault_cow == 1 && st.fault_file == 1,
	   "one copy on write, no read fault first (cow %llu, file %llu)",
	   (unsigned long long)st.fault_cow,
	   (unsigned long long)st.fault_file);
	/* Writes across a shared file, its pages cached: one per block. */
	{
		struct umm_stats s0, s1;
		uint64_t w = (uint64_t)umm_mmap(mm, 0, 64 * PG,
						PROT_READ | PROT_WRITE,
						MAP_SHARED, f, 0);
		unsigned int i, bad = 0;
		uint8_t v;

		umm_mm_set_fault_around(mm, 16);
		umm_file_truncate(f, 64 * PG);
		for (i = 0; i < 64; i++) /* cache the pages, then drop them */
			guest_read(mm, w + i * PG, &v);
		umm_madvise(mm, w, 64 * PG, MADV_DONTNEED);
		umm_mm_stats(mm, &s0);
		for (i = 0; i < 64; i++)
			bad += guest_write(mm, w + i * PG, (uint8_t)i) != 0;
		umm_mm_stats(mm, &s1);
		ok(!bad && s1.fault_file - s0.fault_file <= 5 &&
			   s1.fault_dirty == s0.fault_dirty,
		   "64 writes across a cached shared file: a fault per "
		   "16-page block (5 at most), the neighbours mapped writable "
		   "(file %llu, dirty %llu)",
		   (unsigned long long)(s1.fault_file - s0.fault_file),
		   (unsigned long long)(s1.fault_dirty - s0.fault_dirty));
		for (i = 0; i < 64; i++)
			bad += guest_read(mm, w + i * PG, &v) ||
			       v != (uint8_t)i;
		ok(!bad, "and each page reads back what was written");
		umm_munmap(mm, w, 64 * PG);
	}
	is(umm_mm_set_fault_around(mm, 3), -EINVAL,
	   "fault-around of 3 pages: EINVAL");
	is(umm_mm_set_fault_around(mm, 1024), -EINVAL,
	   "fault-around of 1024 pages: EINVAL");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(f);
}

/* ---- umm_maps ---- */

/* The column where /proc/self/maps starts names on this host. */
static int host_name_column(void)
{
	char line[512];
	int col = -1;
	FILE *m = fopen("/proc/self/maps", "r");

	while (m && fgets(line, sizeof(line), m)) {
		char *name = strstr(line, "[stack]");

		if (name) {
			col = (int)(name - line);
			break;
		}
	}
	if (m)
		fclose(m);
	return col;
}

/* The "dev inode" fields of the host's line for @addr. */
static int host_dev_ino(void *addr, char *out, size_t size)
{
	char line[512];
	int found = -1;
	FILE *m = fopen("/proc/self/maps", "r");

	while (m && fgets(line, sizeof(line), m)) {
		unsigned long lo, hi, off, ino;
		char perms[8], dev[16];

		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms,
			   &off, dev, &ino) == 6 && lo == (uintptr_t)addr) {
			snprintf(out, size, "%s %lu", dev, ino);
			found = 0;
			break;
		}
	}
	if (m)
		fclose(m);
	return found;
}

/*
 * Whether the host names a mapping that starts right at the break
 * "[heap]": Linux before 6.6 did (vm_start <= brk), vma_is_initial_heap()
 * since does not (vm_start < brk). 1 or 0; -1 when it cannot be tried.
 */
static int host_heap_at_brk(void)
{
	uintptr_t brk = (uintptr_t)sbrk(0);
	char line[512];
	int named = -1;
	FILE *m;
	void *p;

	if (brk & (PG - 1))
		return -1;
	/* Read-only, so that it does not merge with the heap below. */
	p = mmap((void *)brk, PG, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)brk) {
		if (p != MAP_FAILED)
			munmap(p, PG);
		return -1;
	}
	m = fopen("/proc/self/maps", "r");
	while (m && fgets(line, sizeof(line), m)) {
		unsigned long lo;

		if (sscanf(line, "%lx-", &lo) == 1 && lo == brk) {
			named = strstr(line, "[heap]") != NULL;
			break;
		}
	}
	if (m)
		fclose(m);
	munmap(p, PG);
	return named;
}

/* The line of @maps that starts at @start, without its newline. */
static const char *maps_line(const char *maps, uint64_t start, char *buf,
			     size_t size)
{
	char want[32];
	const char *l;

	snprintf(want, sizeof(want), "%08llx-", (unsigned long long)start);
	for (l = maps; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (!strncmp(l, want, strlen(want))) {
			size_t n = strcspn(l, "\n");

			if (n >= size)
				n = size - 1;
			memcpy(buf, l, n);
			buf[n] = 0;
			return buf;
		}
	}
	buf[0] = 0;
	return buf;
}

/* What Linux's show_map_vma prints. */
static void expect_line(char *buf, size_t size, uint64_t start, uint64_t end,
			const char *perms, uint64_t off, const char *devino,
			const char *name, int col)
{
	int n = snprintf(buf, size, "%08llx-%08llx %s %08llx %s ",
			 (unsigned long long)start, (unsigned long long)end,
			 perms, (unsigned long long)off, devino);

	if (name)
		snprintf(buf + n, size - (size_t)n, "%*s%s",
			 n < col ? col - n : 0, "", name);
}

static void test_maps(void)
{
	struct umm_mm *mm = mm_new();
	struct umm_file *f = umm_shmem_new(phys, 8 * PG);
	struct umm_file *hf;
	char path[] = "/tmp/umm-maps-XXXXXX", got[512], want[512], devino[64];
	char *maps = NULL, *l;
	size_t maps_len = 0;
	int col = host_name_column(), fd = mkstemp(path), bad = 0, host_heap;
	uint64_t a, s, h, nat, b0, pg0 = 0;
	FILE *out;

	ok(col > 0, "the host's maps name column (%d)", col);
	ok(fd >= 0 && ftruncate(fd, 4 * PG) == 0, "a host file");
	hf = umm_file_open(phys, path);
	ok(hf != NULL, "opened read-only");
	nat = (uint64_t)(uintptr_t)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd,
					PG);
	ok(host_dev_ino((void *)(uintptr_t)nat, devino, sizeof(devino)) == 0,
	   "the host's dev and inode for it: %s", devino);

	a = (uint64_t)map_anon(mm, 0, 3 * PG, PROT_READ | PROT_WRITE);
	s = (uint64_t)umm_mmap(mm, 0, 4 * PG, PROT_READ | PROT_WRITE,
			       MAP_SHARED, f, 2 * PG);
	h = (uint64_t)umm_mmap(mm, 0, 2 * PG, PROT_READ, MAP_PRIVATE, hf, PG);
	b0 = (uint64_t)umm_brk(mm, 0);
	is(umm_brk(mm, b0 + 2 * PG), (long)(b0 + 2 * PG), "grow the heap");
	out = open_memstream(&maps, &maps_len);
	is(umm_maps(mm, out), 0, "umm_maps");
	fclose(out);

	expect_line(want, sizeof(want), a, a + 3 * PG, "rw-p", 0, "00:00 0",
		    NULL, col);
	is(strcmp(maps_line(maps, a, got, sizeof(got)), want), 0,
	   "private anonymous: '%s'", got);
	maps_line(maps, s, got, sizeof(got));
	ok(!strncmp(got + 18, "rw-s 00002000 ", 14),
	   "shared file at offset 2 pages: '%s'", got);
	ok(strstr(got, "memfd") != NULL && (int)(strstr(got, "/memfd") - got)
	   == col, "named, at the host's column");
	expect_line(want, sizeof(want), h, h + 2 * PG, "r--p", PG, devino,
		    path, col);
	is(strcmp(maps_line(maps, h, got, sizeof(got)), want), 0,
	   "private host file: dev, inode, offset and path as the host "
	   "shows them: '%s'", got);
	expect_line(want, sizeof(want), b0, b0 + 2 * PG, "rw-p", 0, "00:00 0",
		    "[heap]", col);
	is(strcmp(maps_line(maps, b0, got, sizeof(got)), want), 0,
	   "the brk heap: '%s'", got);
	for (l = maps; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		unsigned long long lo, hi, off, ino;
		unsigned int maj, min;
		char perms[8];

		if (sscanf(l, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms,
			   &off, &maj, &min, &ino) != 7 || lo >= hi ||
		    lo < pg0 || strlen(perms) != 4)
			bad++;
		pg0 = hi;
	}
	is(bad, 0, "every line parses as /proc/PID/maps, in address order");
	is(umm_mprotect(mm, a, PG, PROT_NONE), 0, "mprotect a page PROT_NONE");
	free(maps);
	maps = NULL;
	out = open_memstream(&maps, &maps_len);
	umm_maps(mm, out);
	fclose(out);
	expect_line(want, sizeof(want), a, a + PG, "---p", 0, "00:00 0",
		    NULL, col);
	is(strcmp(maps_line(maps, a, got, sizeof(got)), want), 0,
	   "split off, PROT_NONE: '%s'", got);
	free(maps);

	/* The same as the host: a mapping right at the break. */
	host_heap = host_heap_at_brk();
	is(umm_mmap(mm, b0 + 2 * PG, PG, PROT_READ,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0),
	   (long)(b0 + 2 * PG), "a read-only mapping right at the break");
	maps = NULL;
	out = open_memstream(&maps, &maps_len);
	umm_maps(mm, out);
	fclose(out);
	maps_line(maps, b0 + 2 * PG, got, sizeof(got));
	if (host_heap < 0)
		printf("ok %d # SKIP cannot map at this process's break\n",
		       ++tap_n);
	else
		ok((strstr(got, "[heap]") != NULL) == host_heap,
		   "%s [heap], as the host: '%s'",
		   host_heap ? "named" : "not named", got);
	free(maps);
	munmap((void *)(uintptr_t)nat, PG);
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(f);
	umm_file_put(hf);
	close(fd);
	unlink(path);
}

/*
 * Fault-around fills a block only for a guest that streams: isolated
 * writes get a page each (anonymous or copy-on-write), sequential writes
 * a fault per block.
 */
static void test_streaming(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32), *child;
	struct umm_stats s0, s1;
	unsigned int i, bad = 0;
	uint64_t a;

	a = (uint64_t)umm_mmap(mm, 0, 256 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	umm_mm_stats(mm, &s0);
	for (i = 1; i < 256; i += 32) /* off on their own */
		bad += guest_write(mm, a + i * PG, 1) != 0;
	umm_mm_stats(mm, &s1);
	ok(!bad && s1.fault_anon - s0.fault_anon == 8 &&
		   s1.pages_faulted_around == s0.pages_faulted_around,
	   "8 isolated writes: 8 faults, a page each (anon %llu, around "
	   "%llu)",
	   (unsigned long long)(s1.fault_anon - s0.fault_anon),
	   (unsigned long long)(s1.pages_faulted_around -
				s0.pages_faulted_around));
	for (i = 0; i < 256; i++)
		bad += guest_write(mm, a + i * PG, (uint8_t)i) != 0;
	umm_mm_stats(mm, &s0);
	ok(!bad && s0.fault_anon - s1.fault_anon <= 17,
	   "then 256 sequential writes: about one fault per block (%llu)",
	   (unsigned long long)(s0.fault_anon - s1.fault_anon));

	child = umm_fork(mm);
	umm_mm_stats(child, &s0);
	for (i = 3; i < 256; i += 32)
		bad += guest_write(child, a + i * PG, 0xcc) != 0;
	umm_mm_stats(child, &s1);
	ok(!bad && s1.fault_cow - s0.fault_cow == 8 &&
		   s1.pages_faulted_around == s0.pages_faulted_around,
	   "after fork, 8 isolated writes copy 8 pages (cow %llu, around "
	   "%llu)",
	   (unsigned long long)(s1.fault_cow - s0.fault_cow),
	   (unsigned long long)(s1.pages_faulted_around -
				s0.pages_faulted_around));
	for (i = 128; i < 192; i++)
		bad += guest_write(child, a + i * PG, 0xdd) != 0;
	umm_mm_stats(child, &s0);
	ok(!bad && s0.fault_cow - s1.fault_cow <= 6,
	   "64 sequential writes copy by blocks (%llu faults)",
	   (unsigned long long)(s0.fault_cow - s1.fault_cow));
	for (i = 0; i < 256; i++) {
		uint8_t v, want = (uint8_t)i;

		if (i >= 128 && i < 192)
			want = 0xdd;
		else if (i % 32 == 3)
			want = 0xcc;
		bad += guest_read(child, a + i * PG, &v) || v != want;
		bad += guest_read(mm, a + i * PG, &v) || v != (uint8_t)i;
	}
	ok(!bad, "the child reads its writes, the parent its own");
	check_mm_coherent(mm);
	check_mm_coherent(child);
	umm_mm_put(child);
	umm_mm_put(mm);
}

int main(void)
{
	alarm(60);	/* a fault loop must fail the test, not hang it */
	test_chain();	/* first: before this process makes any mm */
	phys = umm_phys_new(64ULL << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	test_maperr();
	test_accerr();
	test_exec();
	test_straddle();
	test_truncate();
	test_nested();
	test_threads();
	test_two_mms();
	test_fault_kind();
	test_maps();
	test_streaming();
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
