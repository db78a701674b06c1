// SPDX-License-Identifier: MIT
/*
 * mremap against the host kernel. Each scenario is a short script of calls
 * (mmap, munmap, mprotect, mremap, reads and writes of single bytes, and
 * "compare the layout here") at fixed addresses of a 256 MiB region. It runs
 * natively in a forked child, then in a umm guest at the same guest
 * addresses, and every step must agree: the return value or errno, the
 * byte read or the signal, and the region's lines of /proc/self/maps
 * against umm_maps (device and inode left out). Nothing expected is
 * written down here: the host kernel answers.
 *
 * Where the two must differ on purpose the cases run on umm alone, against
 * what Linux documents: addresses below mmap_min_addr (this test runs as
 * root, the guest is an unprivileged process) and the guest's own task
 * size. Then the parts no native run can show: pages moved with their
 * frames (COW after fork, pins, nonlinear file ptes), the host mappings
 * following without a fault, and every frame free at the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#define MV MREMAP_MAYMOVE
#define FX (MREMAP_MAYMOVE | MREMAP_FIXED)
#define DU MREMAP_DONTUNMAP

#define P PG
#define RW (PROT_READ | PROT_WRITE)
/*
 * The region, at the same address on both sides: below 2 GiB, where
 * AddressSanitizer keeps application memory (it reserves 8 GiB).
 */
#define R 0x40000000ULL
#define REGION (256ULL << 20)
#define TASK (1ULL << 34) /* the guest's task size */
#define NATIVE_TOP 0x7ffffffff000ULL
#define FILE_PAGES 64
#define MIN_ADDR 0x10000ULL

/* An address result outside the region: compared as "somewhere else". */
#define ELSEWHERE (1L << 62)

enum kind { END, MMAP, MMAPGD, MMAPSH, MMAPF, MMAPFP, UNMAP, PROT, MREMAP, RD, WR, MAPS,
	    FORK };

/* Where an address is counted from. */
enum { BR = -1 /* the region */, BT = -2 /* TASK_SIZE */ };

struct op {
	enum kind k;
	int base; /* BR, BT, or the index of an earlier op whose address */
	uint64_t a, len, len2;
	int flags; /* prot, mremap flags, or the byte written */
	int nbase; /* mremap: new_addr's base */
	uint64_t na;
};

#define O_MMAP(a, l, p)	   {MMAP, BR, a, l, 0, p, 0, 0}
#define O_MMAPGD(a, l)	   {MMAPGD, BR, a, l, 0, RW, 0, 0}
#define O_MMAPSH(a, l)	   {MMAPSH, BR, a, l, 0, RW, 0, 0}
#define O_MMAPF(a, l, o)   {MMAPF, BR, a, l, o, RW, 0, 0}
#define O_MMAPFP(a, l, o)  {MMAPFP, BR, a, l, o, RW, 0, 0}
#define O_UNMAP(a, l)	   {UNMAP, BR, a, l, 0, 0, 0, 0}
#define O_PROT(a, l, p)	   {PROT, BR, a, l, 0, p, 0, 0}
#define O_MR(a, ol, nl, f, na) {MREMAP, BR, a, ol, nl, f, BR, na}
#define O_MRX(b, a, ol, nl, f, nb, na) {MREMAP, b, a, ol, nl, f, nb, na}
#define O_RD(a)		   {RD, BR, a, 0, 0, 0, 0, 0}
#define O_RDX(b, a)	   {RD, b, a, 0, 0, 0, 0, 0}
#define O_WR(a, v)	   {WR, BR, a, 0, 0, v, 0, 0}
#define O_WRX(b, a, v)	   {WR, b, a, 0, 0, v, 0, 0}
#define O_MAPS		   {MAPS, BR, 0, 0, 0, 0, 0, 0}
/* Go on in a forked child (umm: in umm_fork's mm). */
#define O_FORK		   {FORK, BR, 0, 0, 0, 0, 0, 0}

#define MAX_OPS	 48
#define MAPS_LEN 4096

struct scenario {
	const char *name;
	struct op ops[MAX_OPS];
};

/* What each step gave on one side: raw values (addresses unnormalised). */
struct run {
	long res[MAX_OPS];
	char maps[MAX_OPS][MAPS_LEN];
};

static struct run *nat; /* shared with the native child */
static struct run gst;
static struct umm_phys *phys;
static int memfd = -1;

/* ---- helpers for both sides ---- */

static bool is_addr_op(enum kind k)
{
	return k == MMAP || k == MMAPGD || k == MMAPSH || k == MMAPF || k == MMAPFP ||
	       k == MREMAP;
}

static uint64_t resolve(const long *res, uint64_t top, int base, uint64_t a)
{
	if (base == BR)
		return R + a;
	if (base == BT)
		return top + a; /* a is a negative offset, two's complement */
	return (uint64_t)res[base] + a;
}

/* "start-end perms offset name" for the region's lines of a maps text. */
static void maps_filter(FILE *in, char *out, size_t size)
{
	char line[512], perms[8], name[256];
	unsigned long long s, e, off;
	size_t n = 0;

	out[0] = 0;
	while (fgets(line, sizeof(line), in)) {
		name[0] = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255[^\n]", &s,
			   &e, perms, &off, name) < 4)
			continue;
		if (s < R || e > R + REGION)
			continue;
		n += (size_t)snprintf(out + n, size - n, "%llx-%llx %s %llx %s\n",
				      s - R, e - R, perms, off, name);
		if (n >= size)
			break;
	}
}

static long norm(const struct op *op, long v)
{
	if (!is_addr_op(op->k) || v < 0)
		return v;
	if ((uint64_t)v >= R && (uint64_t)v < R + REGION)
		return (long)((uint64_t)v - R);
	return ELSEWHERE;
}

/* ---- the native side ---- */

static sigjmp_buf nat_jmp;
static volatile int nat_sig;

static void nat_handler(int sig)
{
	nat_sig = sig;
	siglongjmp(nat_jmp, 1);
}

static long sys_ret(long r)
{
	return r == -1 ? -errno : r;
}

static long nat_access(uint64_t addr, int write, int val)
{
	volatile uint8_t *p = (volatile uint8_t *)addr;

	nat_sig = 0;
	if (sigsetjmp(nat_jmp, 1))
		return -nat_sig;
	if (write) {
		*p = (uint8_t)val;
		return 0;
	}
	return *p;
}

/* The script goes on in a child; this process waits and passes on how it
 * ended. */
static long nat_fork(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		_exit(3);
	if (!pid)
		return 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		_exit(4);
	_exit(WEXITSTATUS(status));
}

static long nat_step(const struct op *op, const long *res)
{
	uint64_t a = resolve(res, NATIVE_TOP, op->base, op->a);
	int fl = MAP_FIXED;

	switch (op->k) {
	case MMAP:
		return sys_ret(syscall(SYS_mmap, a, op->len, op->flags,
				       MAP_PRIVATE | MAP_ANONYMOUS | fl, -1, 0));
	case MMAPGD:
		return sys_ret(syscall(SYS_mmap, a, op->len, op->flags,
				       MAP_PRIVATE | MAP_ANONYMOUS |
					       MAP_GROWSDOWN | fl,
				       -1, 0));
	case MMAPSH:
		return sys_ret(syscall(SYS_mmap, a, op->len, op->flags,
				       MAP_SHARED | MAP_ANONYMOUS | fl, -1, 0));
	case MMAPF:
		return sys_ret(syscall(SYS_mmap, a, op->len, op->flags,
				       MAP_SHARED | fl, memfd, op->len2));
	case MMAPFP:
		return sys_ret(syscall(SYS_mmap, a, op->len, op->flags,
				       MAP_PRIVATE | fl, memfd, op->len2));
	case UNMAP:
		return sys_ret(syscall(SYS_munmap, a, op->len));
	case PROT:
		return sys_ret(syscall(SYS_mprotect, a, op->len, op->flags));
	case MREMAP:
		return sys_ret(syscall(SYS_mremap, a, op->len, op->len2,
				       op->flags,
				       resolve(res, NATIVE_TOP, op->nbase,
					       op->na)));
	case RD:
		return nat_access(a, 0, 0);
	case WR:
		return nat_access(a, 1, op->flags);
	case FORK:
		return nat_fork();
	default:
		return 0;
	}
}

static void nat_run(const struct scenario *sc)
{
	int status, i;
	pid_t pid;

	memset(nat, 0, sizeof(*nat));
	if (ftruncate(memfd, 0) || ftruncate(memfd, FILE_PAGES * P))
		BAIL_OUT("ftruncate: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!pid) {
		prctl(PR_SET_DUMPABLE, 0);
		signal(SIGSEGV, nat_handler);
		signal(SIGBUS, nat_handler);
		munmap((void *)R, REGION);
		for (i = 0; sc->ops[i].k != END; i++) {
			nat->res[i] = nat_step(&sc->ops[i], nat->res);
			if (sc->ops[i].k == MAPS) {
				FILE *f = fopen("/proc/self/maps", "r");

				if (!f)
					_exit(2);
				maps_filter(f, nat->maps[i], MAPS_LEN);
				fclose(f);
			}
		}
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		BAIL_OUT("the native run of %s failed (status %#x)", sc->name,
			 status);
}

/* ---- the guest side ---- */

static struct umm_mm *gst_parent; /* kept until the scenario ends */

static long gst_step(struct umm_mm **mmp, struct umm_file *shm,
		     const struct op *op, const long *res)
{
	struct umm_mm *mm = *mmp;
	uint64_t a = resolve(res, TASK, op->base, op->a);
	int fl = MAP_FIXED;
	siginfo_t si;
	uint8_t v;
	int sig;

	switch (op->k) {
	case MMAP:
		return umm_mmap(mm, a, op->len, op->flags,
				MAP_PRIVATE | MAP_ANONYMOUS | fl, NULL, 0);
	case MMAPGD:
		return umm_mmap(mm, a, op->len, op->flags,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN |
					fl,
				NULL, 0);
	case MMAPSH:
		return umm_mmap(mm, a, op->len, op->flags,
				MAP_SHARED | MAP_ANONYMOUS | fl, NULL, 0);
	case MMAPF:
		return umm_mmap(mm, a, op->len, op->flags, MAP_SHARED | fl, shm,
				op->len2);
	case MMAPFP:
		return umm_mmap(mm, a, op->len, op->flags, MAP_PRIVATE | fl,
				shm, op->len2);
	case UNMAP:
		return umm_munmap(mm, a, op->len);
	case PROT:
		return umm_mprotect(mm, a, op->len, op->flags);
	case MREMAP:
		return umm_mremap(mm, a, op->len, op->len2, op->flags,
				  resolve(res, TASK, op->nbase, op->na));
	case RD:
		sig = guest_access(mm, a, 0, &v, &si);
		return sig ? -sig : v;
	case WR:
		v = (uint8_t)op->flags;
		sig = guest_access(mm, a, 1, &v, &si);
		return sig ? -sig : 0;
	case FORK:
		*mmp = umm_fork(mm);
		if (!*mmp)
			BAIL_OUT("umm_fork: %s", strerror(errno));
		if (gst_parent)
			BAIL_OUT("one fork per scenario");
		gst_parent = mm;
		return 0;
	default:
		return 0;
	}
}

static void gst_maps(struct umm_mm *mm, char *out)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	umm_maps(mm, f);
	fclose(f);
	f = fmemopen(buf, size, "r");
	maps_filter(f, out, MAPS_LEN);
	fclose(f);
	free(buf);
}

static void run_scenario(const struct scenario *sc)
{
	struct umm_mm *mm = umm_mm_new(phys, TASK);
	struct umm_file *shm = umm_shmem_new(phys, FILE_PAGES * P);
	long bad = 0;
	int i, diffs = 0;

	if (!mm || !shm)
		BAIL_OUT("umm_mm_new / umm_shmem_new: %s", strerror(errno));
	nat_run(sc);
	memset(&gst, 0, sizeof(gst));
	for (i = 0; sc->ops[i].k != END; i++) {
		const struct op *op = &sc->ops[i];
		long n, g;

		gst.res[i] = gst_step(&mm, shm, op, gst.res);
		if (umm_mm_check(mm))
			bad++;
		if (op->k == MAPS) {
			gst_maps(mm, gst.maps[i]);
			if (strcmp(nat->maps[i], gst.maps[i])) {
				diffs++;
				diag("%s, step %d: layouts differ\n"
				     "# native:\n%s# umm:\n%s",
				     sc->name, i, nat->maps[i], gst.maps[i]);
			}
			continue;
		}
		n = norm(op, nat->res[i]);
		g = norm(op, gst.res[i]);
		if (n != g) {
			diffs++;
			diag("%s, step %d (kind %d): native %ld, umm %ld",
			     sc->name, i, op->k, n, g);
		}
	}
	/* On a difference, or asked (MREMAP_TEST_VERBOSE), every step. */
	if (diffs || getenv("MREMAP_TEST_VERBOSE"))
		for (int j = 0; j < i; j++)
			diag("step %d: native %ld, umm %ld\n%s", j, nat->res[j],
			     gst.res[j], nat->maps[j]);
	ok(!diffs, "%s: every step as on the host (%d steps)", sc->name, i);
	is(bad, 0, "%s: the host cache stayed coherent at every step",
	   sc->name);
	umm_file_put(shm);
	umm_mm_put(mm);
	umm_mm_put(gst_parent);
	gst_parent = NULL;
}

/* ---- the scenarios ---- */

static const struct scenario scenarios[] = {
	/* Linux keeps VM_ACCOUNT on mprotect(PROT_READ) once written. */
	{"mprotect of a written and an unwritten mapping (VM_ACCOUNT)", {
		O_MMAP(0, 2 * P, RW), O_WR(0, 1), O_PROT(0, 2 * P, PROT_READ),
		O_MMAP(2 * P, 2 * P, PROT_READ), O_MAPS,
		O_MMAP(8 * P, 2 * P, RW), O_PROT(8 * P, 2 * P, PROT_READ),
		O_MMAP(10 * P, 2 * P, PROT_READ), O_MAPS,
		O_PROT(8 * P, 4 * P, RW), O_MMAP(12 * P, P, RW), O_MAPS,
		O_MR(0, 2 * P, 2 * P, FX, 16 * P), O_MAPS}},
	{"shrink", {
		O_MMAP(0, 8 * P, RW), O_WR(0, 1), O_WR(2 * P, 2),
		O_WR(5 * P, 5), O_MR(0, 8 * P, 3 * P, 0, 0), O_MAPS,
		O_RD(0), O_RD(2 * P), O_RD(5 * P),
		O_MR(0, 3 * P, 3 * P, 0, 0), O_MR(0, 3 * P + 1, P + 1, 0, 0),
		O_MAPS, O_RD(P)}},
	{"shrink across vmas and a hole", {
		O_MMAP(0, 2 * P, RW), O_MMAP(2 * P, 2 * P, PROT_READ),
		O_MMAP(6 * P, 2 * P, RW), O_MR(0, 8 * P, P, 0, 0), O_MAPS,
		O_MMAP(10 * P, 2 * P, RW), O_MR(11 * P, 4 * P, P, 0, 0),
		O_MR(11 * P, -P, P, 0, 0), O_MAPS}},
	{"grow in place", {
		O_MMAP(0, 2 * P, RW), O_WR(P, 7), O_MR(0, 2 * P, 6 * P, 0, 0),
		O_MAPS, O_RD(P), O_RD(5 * P), O_WR(5 * P, 9), O_RD(5 * P),
		O_MR(0, 6 * P, 7 * P + 1, 0, 0), O_MAPS, O_RD(7 * P)}},
	{"grow in place merges with the next vma", {
		O_MMAP(0, 2 * P, RW), O_MMAP(4 * P, 2 * P, RW),
		O_MR(0, 2 * P, 4 * P, 0, 0), O_MAPS,
		O_MMAP(8 * P, 2 * P, RW), O_WR(8 * P, 1),
		O_MMAP(12 * P, 2 * P, RW), O_WR(12 * P, 2),
		O_MR(8 * P, 2 * P, 4 * P, 0, 0), O_MAPS}},
	{"grow blocked: ENOMEM, or a move", {
		O_MMAP(0, 2 * P, RW), O_WR(0, 3), O_WR(P, 4),
		O_MMAP(3 * P, P, PROT_READ), O_MR(0, 2 * P, 4 * P, 0, 0),
		O_MR(0, P, 2 * P, 0, 0), O_MAPS,
		O_MR(0, 2 * P, 4 * P, MV, 0), O_MAPS, O_RDX(7, 0),
		O_RDX(7, P), O_RDX(7, 3 * P), O_RD(0)}},
	{"grow a piece inside a vma: it moves", {
		O_MMAP(0, 6 * P, RW), O_WR(2 * P, 5), O_WR(3 * P, 6),
		O_MR(2 * P, 2 * P, 3 * P, MV, 0), O_MAPS, O_RDX(3, 0),
		O_RDX(3, P), O_RDX(3, 2 * P), O_RD(2 * P)}},
	{"fixed move of a never-touched part, and back", {
		O_MMAP(0, 4 * P, RW), O_MR(0, 2 * P, 2 * P, FX, 10 * P), O_MAPS,
		O_MR(10 * P, 2 * P, 2 * P, FX, 0), O_MAPS}},
	{"fixed move of a touched part, and back", {
		O_MMAP(0, 4 * P, RW), O_WR(0, 1), O_WR(P, 2), O_WR(3 * P, 4),
		O_MR(0, 2 * P, 2 * P, FX, 10 * P), O_MAPS, O_RD(10 * P),
		O_RD(11 * P), O_RD(0), O_MR(10 * P, 2 * P, 2 * P, FX, 0),
		O_MAPS, O_RD(0), O_RD(P), O_RD(3 * P)}},
	{"fixed move next to another vma", {
		O_MMAP(0, 2 * P, RW), O_MMAP(4 * P, 2 * P, RW), O_WR(0, 1),
		O_WR(4 * P, 2), O_MR(4 * P, 2 * P, 2 * P, FX, 2 * P), O_MAPS,
		O_MMAP(10 * P, 2 * P, RW), O_MMAP(14 * P, 2 * P, RW),
		O_WR(10 * P, 1), O_MR(14 * P, 2 * P, 2 * P, FX, 12 * P),
		O_MAPS, O_MMAP(20 * P, 2 * P, RW), O_MMAP(24 * P, 2 * P, RW),
		O_WR(24 * P, 1), O_MR(24 * P, 2 * P, 2 * P, FX, 22 * P),
		O_MAPS, O_RD(22 * P)}},
	{"fixed move onto mappings", {
		O_MMAP(0, 2 * P, RW), O_WR(0, 0x61), O_WR(P, 0x62),
		O_MMAP(10 * P, 4 * P, RW), O_WR(10 * P, 0x71),
		O_WR(13 * P, 0x72), O_MR(0, 2 * P, 2 * P, FX, 11 * P), O_MAPS,
		O_RD(10 * P), O_RD(11 * P), O_RD(12 * P), O_RD(13 * P),
		O_RD(0), O_MMAPF(20 * P, 4 * P, 0),
		O_MR(11 * P, P, 3 * P, FX, 21 * P), O_MAPS, O_RD(21 * P),
		O_RD(23 * P), O_RD(20 * P)}},
	{"fixed move with a shrink or a grow", {
		O_MMAP(0, 4 * P, RW), O_WR(0, 1), O_WR(3 * P, 4),
		O_MR(0, 4 * P, 2 * P, FX, 10 * P), O_MAPS, O_RD(10 * P),
		O_RD(3 * P), O_MR(10 * P, 2 * P, 5 * P, FX, 20 * P), O_MAPS,
		O_RD(20 * P), O_RD(24 * P)}},
	{"overlapping or misplaced targets", {
		O_MMAP(0, 4 * P, RW), O_MR(0, 4 * P, 4 * P, FX, 2 * P),
		O_MR(0, 4 * P, 4 * P, FX, 0), O_MR(P, 2 * P, 2 * P, FX, 0),
		O_MR(P, 2 * P, 4 * P, FX, 2 * P), O_MR(0, 2 * P, 3 * P, FX, P),
		O_MR(0, 2 * P, 2 * P, FX, 10 * P + 1),
		O_MR(0, 2 * P, 2 * P, MREMAP_FIXED, 10 * P),
		O_MR(0, 0, 2 * P, FX, 10 * P), O_MAPS}},
	{"bad arguments", {
		O_MMAP(0, 4 * P, RW), O_MR(0, P, 2 * P, 8, 0),
		O_MR(0, P, 2 * P, 0x10 | MV, 0), O_MR(1, P, 2 * P, 0, 0),
		O_MR(0, P, 0, 0, 0), O_MR(0, P, 1, 0, 0),
		O_MR(0, P, -P + 1, MV, 0), O_MR(8 * P, P, 2 * P, MV, 0),
		O_MR(2 * P, 3 * P, 4 * P, MV, 0), O_MR(2 * P, 3 * P, 3 * P, 0, 0),
		O_MR(0, 2 * P, 2 * P, DU, 10 * P),
		O_MR(0, 2 * P, 3 * P, MV | DU, 10 * P),
		O_MR(0, 0, 2 * P, MV, 0), O_MR(P, 2 * P, 2 * P, MV, 10 * P),
		O_MAPS}},
	{"old_len 0 duplicates a shared mapping", {
		O_MMAPSH(0, 4 * P), O_WR(P, 0x55), O_MR(0, 0, 2 * P, 0, 0),
		O_MR(P, 0, 2 * P, MV, 0), O_RDX(3, 0),
		O_MR(0, 0, 4 * P, FX, 10 * P), O_MAPS, O_WR(11 * P, 0x66),
		O_RD(P), O_MMAPF(20 * P, 4 * P, 0), O_WR(22 * P, 0x77),
		O_MR(20 * P, 0, 2 * P, FX, 30 * P), O_MAPS, O_RD(30 * P),
		O_MMAPFP(40 * P, 2 * P, 0), O_MR(40 * P, 0, P, FX, 50 * P),
		O_MAPS}},
	{"DONTUNMAP", {
		O_MMAP(0, 4 * P, RW), O_WR(0, 1), O_WR(3 * P, 4),
		O_MR(0, 4 * P, 4 * P, FX | DU, 10 * P), O_MAPS, O_RD(0),
		O_RD(3 * P), O_RD(10 * P), O_RD(13 * P), O_WR(P, 2),
		O_MR(P, 2 * P, 2 * P, MV | DU, 20 * P), O_MAPS, O_RD(20 * P),
		O_RD(P), O_MMAP(4 * P, 2 * P, RW), O_MAPS,
		O_MMAP(50 * P, 2 * P, RW), O_MMAP(52 * P, 2 * P, PROT_READ),
		O_MMAP(55 * P, 2 * P, RW), O_WR(51 * P, 5), O_WR(55 * P, 6),
		O_MR(50 * P, 7 * P, 7 * P, FX | DU, 60 * P), O_MAPS,
		O_RD(51 * P), O_RD(61 * P), O_RD(65 * P), O_RD(55 * P)}},
	{"DONTUNMAP of shared and file mappings", {
		O_MMAPSH(0, 2 * P), O_WR(0, 0x11),
		O_MR(0, 2 * P, 2 * P, FX | DU, 10 * P), O_RD(0), O_RD(10 * P),
		O_MMAPF(20 * P, 2 * P, 4 * P), O_WR(20 * P, 0x22),
		O_MR(20 * P, 2 * P, 2 * P, FX | DU, 30 * P), O_RD(20 * P),
		O_RD(30 * P), O_MMAPFP(40 * P, 2 * P, 4 * P), O_WR(40 * P, 0x33),
		O_MR(40 * P, 2 * P, 2 * P, FX | DU, 50 * P), O_RD(40 * P),
		O_RD(50 * P), O_MAPS}},
	{"a fixed move across vmas and gaps", {
		O_MMAP(0, 2 * P, RW), O_MMAP(4 * P, 2 * P, RW),
		O_MMAP(6 * P, 2 * P, PROT_READ), O_MMAP(10 * P, 2 * P, RW),
		O_WR(P, 1), O_WR(5 * P, 2), O_WR(10 * P, 3),
		O_MR(P, 10 * P, 10 * P, FX, 20 * P), O_MAPS, O_RD(20 * P),
		O_RD(24 * P), O_RD(29 * P), O_RD(30 * P),
		O_MR(22 * P, 4 * P, 4 * P, FX, 40 * P), O_MAPS,
		O_MR(27 * P, 4 * P, 4 * P, FX, 50 * P), O_MAPS,
		O_MR(60 * P, 4 * P, 4 * P, FX, 70 * P)}},
	{"move shared file pages", {
		O_MMAPF(0, 8 * P, 8 * P), O_WR(2 * P, 0x42), O_WR(5 * P, 0x45),
		O_MR(2 * P, 4 * P, 4 * P, FX, 20 * P), O_MAPS, O_RD(20 * P),
		O_RD(23 * P), O_MMAPF(40 * P, 8 * P, 8 * P), O_RD(42 * P),
		O_RD(45 * P), O_MR(20 * P, 4 * P, 4 * P, FX, 2 * P), O_MAPS,
		O_MR(2 * P, 4 * P, 6 * P, MV, 0), O_RDX(12, 0),
		O_RDX(12, 5 * P), O_MAPS}},
	{"moves of split and reprotected vmas", {
		O_MMAP(0, 8 * P, RW), O_WR(0, 1), O_PROT(2 * P, 2 * P, PROT_READ),
		O_MR(2 * P, 2 * P, 2 * P, FX, 20 * P), O_MAPS,
		O_PROT(20 * P, 2 * P, RW), O_MR(20 * P, 2 * P, 2 * P, FX, 2 * P),
		O_MAPS, O_MMAP(30 * P, 4 * P, PROT_READ),
		O_MR(30 * P, 4 * P, 4 * P, FX, 8 * P), O_MAPS,
		O_PROT(8 * P, 4 * P, RW), O_MAPS}},
	{"past TASK_SIZE", {
		O_MMAP(0, 2 * P, RW), O_MR(0, 2 * P, 2 * P, FX, 0),
		O_MRX(BR, 0, 2 * P, 2 * P, FX, BT, -P),
		O_MRX(BR, 0, 2 * P, 2 * P, FX, BT, P),
		O_MRX(BR, 0, 2 * P, 2 * P, DU | MV, BT, -P), O_MAPS,
		O_MR(0, 2 * P, NATIVE_TOP + P, MV, 0)}},
	{"anon_vmas shared with a neighbour, or not", {
		O_MMAP(0, 2 * P, RW), O_WR(0, 1), O_PROT(0, 2 * P, PROT_READ),
		O_MMAP(2 * P, 2 * P, RW), O_WR(2 * P, 2), O_MAPS,
		O_PROT(0, 2 * P, RW), O_MAPS, O_MMAP(10 * P, 2 * P, RW),
		O_WR(10 * P, 1), O_MMAP(14 * P, 2 * P, RW), O_WR(14 * P, 2),
		O_MMAP(12 * P, 2 * P, RW), O_MAPS,
		O_MR(12 * P, 2 * P, 2 * P, FX, 30 * P),
		O_MR(30 * P, 2 * P, 2 * P, FX, 12 * P), O_MAPS,
		O_MMAP(20 * P, 2 * P, RW), O_WR(20 * P, 1),
		O_MMAP(22 * P, 2 * P, PROT_READ), O_PROT(22 * P, 2 * P, RW),
		O_MAPS}},
	{"grow up to a stack's guard gap", {
		O_MMAP(0, 2 * P, RW),
		O_MMAPGD(8 * P, 2 * P),
		O_MR(0, 2 * P, 8 * P, 0, 0), O_MAPS,
		O_MR(0, 8 * P, 9 * P, 0, 0), O_MAPS,
		O_MMAPGD(300 * P, 2 * P), O_WR(301 * P, 3),
		O_MR(300 * P, 2 * P, 2 * P, FX, 400 * P), O_RD(399 * P),
		O_RD(396 * P), O_MAPS, O_RD(401 * P),
		O_MR(396 * P, 6 * P, 8 * P, 0, 0), O_MAPS,
		O_MR(396 * P, 8 * P, 8 * P, FX, 200 * P), O_RD(199 * P),
		O_MAPS}},
	{"after fork: a forked anon_vma merges with none", {
		O_MMAP(0, 2 * P, RW), O_WR(0, 1), O_MMAP(4 * P, 2 * P, RW),
		O_MMAP(10 * P, 2 * P, RW), O_WR(10 * P, 2),
		O_MMAP(20 * P, 2 * P, RW), O_FORK,
		O_MR(4 * P, 2 * P, 2 * P, FX, 2 * P), O_MAPS,
		O_MR(10 * P, 2 * P, 2 * P, FX, 22 * P), O_MAPS, O_RD(0),
		O_RD(22 * P), O_WR(22 * P, 3), O_RD(22 * P),
		O_MMAP(30 * P, 2 * P, RW), O_WR(30 * P, 4),
		O_MMAP(32 * P, 2 * P, RW), O_WR(32 * P, 5), O_MAPS}},
	{"a fixed move within its own vma", {
		O_MMAP(0, 8 * P, RW), O_WR(0, 1), O_WR(P, 2), O_WR(6 * P, 7),
		O_MR(0, 2 * P, 2 * P, FX, 5 * P), O_MAPS, O_RD(5 * P),
		O_RD(6 * P), O_RD(7 * P), O_MR(5 * P, 2 * P, 2 * P, FX, 0),
		O_MAPS, O_MMAP(20 * P, 8 * P, RW),
		O_MR(20 * P, 2 * P, 2 * P, FX, 25 * P), O_MAPS,
		O_MR(25 * P, 2 * P, 2 * P, FX, 20 * P), O_MAPS,
		O_MMAP(40 * P, 8 * P, RW), O_WR(41 * P, 9),
		O_MR(40 * P, 2 * P, 2 * P, FX | DU, 44 * P), O_MAPS,
		O_RD(41 * P), O_RD(45 * P)}},
	{"PROT_NONE and read-only mappings", {
		O_MMAP(0, 4 * P, PROT_NONE), O_MR(0, 4 * P, 6 * P, 0, 0),
		O_MAPS, O_RD(5 * P), O_MMAP(10 * P, 2 * P, RW),
		O_WR(10 * P, 8), O_PROT(10 * P, 2 * P, PROT_READ),
		O_MR(10 * P, 2 * P, 2 * P, FX, 20 * P), O_RD(20 * P),
		O_WR(20 * P, 1), O_MR(20 * P, 2 * P, 3 * P, 0, 0), O_MAPS,
		O_MR(20 * P, 3 * P, 3 * P, FX, 6 * P), O_MAPS, O_RD(6 * P)}},
	{NULL, {{0}}},
};

/* ---- random scripts ---- */

static unsigned int rnd_state;

static unsigned int rnd(unsigned int n)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return (rnd_state >> 16) % n;
}

/*
 * A random script in a 48-page window: mappings (private, shared, of the
 * file) read-write, mprotects (whose VM_ACCOUNT tells some layouts apart),
 * mremaps of every kind, reads and writes, at most one fork, the layout
 * after each mremap.
 */
static void random_scenario(struct scenario *sc, unsigned int seed)
{
	static const int flags[] = {0,	MV, FX, FX, FX | DU, MV | DU, DU,
				    MV, FX, 0,	MREMAP_FIXED};
	unsigned int i = 0;
	bool forked = false;

	rnd_state = seed;
	memset(sc->ops, 0, sizeof(sc->ops));
	while (i + 3 < MAX_OPS) { /* room for a last MAPS and END */
		uint64_t a = rnd(48) * P, len = (rnd(8) + 1) * P;
		struct op *op = &sc->ops[i++];

		switch (rnd(10)) {
		case 0:
		case 1:
			*op = (struct op)O_MMAP(a, len, RW);
			if (!rnd(4))
				op->k = rnd(2) ? MMAPSH : MMAPF;
			op->len2 = rnd(8) * P;
			break;
		case 2:
			if (rnd(2)) {
				static const int prots[] = {PROT_NONE,
							    PROT_READ, RW};

				*op = (struct op)O_PROT(a, len, prots[rnd(3)]);
				break;
			}
			*op = (struct op)O_UNMAP(a, len);
			break;
		case 3:
		case 4:
		case 5:
		case 6:
			*op = (struct op)O_MR(a, rnd(12) ? len : 0,
					      (rnd(8) + 1) * P,
					      flags[rnd(sizeof(flags) /
							sizeof(flags[0]))],
					      rnd(48) * P);
			if (!(op->flags & MREMAP_DONTUNMAP) && !rnd(3))
				op->len2 = op->len;
			if (op->flags & MREMAP_DONTUNMAP)
				op->len2 = op->len;
			sc->ops[i++] = (struct op)O_MAPS;
			break;
		case 7:
			if (!forked && !rnd(6)) {
				*op = (struct op)O_FORK;
				forked = true;
				break;
			}
			/* fall through */
		case 8:
			*op = (struct op)O_WR(a + rnd(P), (int)rnd(255) + 1);
			break;
		default:
			*op = (struct op)O_RD(a + rnd(P));
			break;
		}
	}
	sc->ops[i++] = (struct op)O_MAPS;
}

static void test_random(unsigned int nr)
{
	static struct scenario sc;
	static char name[64];
	unsigned int seed;

	sc.name = name;
	for (seed = 1; seed <= nr; seed++) {
		snprintf(name, sizeof(name), "random script, seed %u", seed);
		random_scenario(&sc, seed);
		run_scenario(&sc);
	}
}

/* ---- umm alone ---- */

static struct umm_mm *new_mm(void)
{
	struct umm_mm *mm = umm_mm_new(phys, TASK);

	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	return mm;
}

/* The guest's limits: mmap_min_addr and its own task size (seed 004). */
static void test_forbidden_ranges(void)
{
	struct umm_mm *mm = new_mm();
	long a = umm_mmap(mm, R, 4 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS, NULL,
			  0);
	long top;

	is(a, (long)R, "an anonymous mapping");
	guest_write(mm, R, 0x5a);
	is(umm_mremap(mm, R, P, P, FX, 0x1000), -EPERM,
	   "fixed move below mmap_min_addr: EPERM, as mmap(MAP_FIXED) there");
	is(umm_mremap(mm, R, 2 * P, 2 * P, FX, MIN_ADDR - P), -EPERM,
	   "a target starting below it and running above: EPERM");
	is(umm_mremap(mm, R, P, P, MV | DU, 0x2000), -EPERM,
	   "a DONTUNMAP hint below it is taken as it is, and refused");
	is(umm_mremap(mm, R, P, P, FX, MIN_ADDR), (long)MIN_ADDR,
	   "a fixed move to mmap_min_addr itself is fine");
	is(umm_mremap(mm, MIN_ADDR, P, P, FX, R), (long)R, "and back");
	is(umm_mremap(mm, R, P, P, FX, TASK - P), (long)(TASK - P),
	   "to the last page below the task size");
	is(umm_mremap(mm, TASK - P, P, 2 * P, 0, 0), -ENOMEM,
	   "growing it in place would pass the task size: ENOMEM");
	top = umm_mremap(mm, TASK - P, P, 2 * P, MV, 0);
	ok(top > 0 && (uint64_t)top + 2 * P <= TASK,
	   "with MAYMOVE it moves below the task size");
	is(umm_mremap(mm, R + P, P, P, FX, TASK - P + 0x0), (long)(TASK - P),
	   "the top page again");
	is(umm_mremap(mm, R + 2 * P, P, P, FX, TASK), -EINVAL,
	   "a target at the task size: EINVAL");
	is(umm_mremap(mm, R + 2 * P, P, 2 * P, FX, TASK - P), -EINVAL,
	   "a target running past it: EINVAL");
	is(umm_mremap(mm, R + 2 * P, P, TASK + P, MV, 0), -EINVAL,
	   "a length past it: EINVAL");
	is(umm_mremap(mm, R + 2 * P, P, TASK, MV, 0), -ENOMEM,
	   "a length of all of it: no room, ENOMEM");
	{
		uint8_t v = 0;

		is(guest_read(mm, (uint64_t)top, &v), 0,
		   "the page moved twice reads");
		is(v, 0x5a, "what was written before the moves");
	}
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/*
 * The heap is a vma like any other (Linux's brk keeps its own pointer):
 * it grows in place by mremap, moves away, and brk then maps afresh.
 */
static void test_heap(void)
{
	struct umm_mm *mm = new_mm();
	long b0 = umm_brk(mm, 0);
	uint8_t v = 0;
	char *maps = NULL;
	size_t size = 0;
	FILE *f;

	is(umm_brk(mm, (uint64_t)b0 + 4 * P), b0 + 4 * (long)P, "brk: 4 pages");
	guest_write(mm, (uint64_t)b0 + P, 0x33);
	is(umm_mremap(mm, (uint64_t)b0, 4 * P, 8 * P, 0, 0), b0,
	   "mremap grows the heap vma in place");
	is(umm_brk(mm, (uint64_t)b0 + 6 * P), b0 + 4 * (long)P,
	   "brk cannot grow into it: the old break stays");
	f = open_memstream(&maps, &size);
	umm_maps(mm, f);
	fclose(f);
	ok(strstr(maps, "[heap]") != NULL, "it is still the [heap]");
	free(maps);
	is(umm_mremap(mm, (uint64_t)b0, 8 * P, 8 * P, FX, R), (long)R,
	   "move the heap away");
	guest_read(mm, R + P, &v);
	is(v, 0x33, "its contents went with it");
	is(umm_brk(mm, (uint64_t)b0 + 5 * P), b0 + 5 * (long)P,
	   "brk maps afresh where the heap was");
	guest_read(mm, (uint64_t)b0 + 4 * P, &v);
	is(v, 0, "a fresh page");
	is(guest_read(mm, (uint64_t)b0 + P, &v), SIGSEGV,
	   "below the old break nothing is mapped any more");
	is(umm_brk(mm, (uint64_t)b0), b0, "brk shrinks back");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/*
 * Linux refuses an mremap that could split past vm.max_map_count (65530 in
 * umm) before it does anything: 4 vmas of headroom, 2 more before a move.
 */
static void test_map_count(void)
{
	struct umm_mm *mm = new_mm();
	const unsigned int max = 65530;
	uint64_t va = R;
	unsigned int n;
	struct umm_stats st;
	long err = 0;

	for (n = 0; n < max - 4 && !err; n++, va += P)
		err = umm_mmap(mm, va, P, n & 1 ? PROT_READ : RW,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
			       0) < 0;
	umm_mm_stats(mm, &st);
	is(st.guest_vmas, max - 4, "65526 vmas");
	is(umm_mremap(mm, R, P, P, FX, va + P), (long)(va + P),
	   "with 4 to spare a move goes");
	umm_mmap(mm, R, P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
		 0);
	umm_mmap(mm, va + 3 * P, P, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	umm_mm_stats(mm, &st);
	is(st.guest_vmas, max - 2, "65528 vmas");
	is(umm_mremap(mm, R, P, P, FX, va + 10 * P), -ENOMEM,
	   "with 2 to spare a move is refused: ENOMEM");
	is(umm_mremap(mm, R + 2 * P, P, P / 2, 0, 0), -ENOMEM,
	   "and so is a shrink (Linux checks first, whatever the call)");
	umm_mm_stats(mm, &st);
	is(st.guest_vmas, max - 2, "nothing changed");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* Moving pages that fork shares copy-on-write, in the parent and child. */
static void test_cow_after_fork(void)
{
	struct umm_mm *mm = new_mm(), *child;
	struct umm_stats st;
	uint8_t v;
	long a;

	umm_mmap(mm, R, 8 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 NULL, 0);
	guest_fill(mm, R, 8 * P, 1);
	child = umm_fork(mm);
	ok(child != NULL, "fork");
	a = umm_mremap(mm, R, 8 * P, 8 * P, FX, R + 100 * P);
	is(a, (long)(R + 100 * P), "the parent moves its shared pages");
	is(guest_check(mm, R + 100 * P, 8 * P, 1), 0,
	   "parent: the contents moved with them");
	guest_write(mm, R + 102 * P, 0xee);
	is(guest_check(child, R, 8 * P, 1), 0,
	   "child: a write by the parent after the move is copied, not seen");
	a = umm_mremap(child, R + 4 * P, 4 * P, 8 * P, FX, R + 200 * P);
	is(a, (long)(R + 200 * P), "the child moves half and grows it");
	guest_write(child, R + 200 * P, 0xcc);
	guest_read(mm, R + 104 * P, &v);
	is(v, (uint8_t)(4 * 31 + 1), "parent: the child's write is not seen");
	guest_read(mm, R + 102 * P, &v);
	is(v, 0xee, "parent: its own write is kept");
	is(guest_check(child, R, 4 * P, 1), 0, "child: the half left in place");
	guest_read(child, R + 201 * P, &v);
	is(v, (uint8_t)(5 * 31 + 1), "child: the moved half");
	guest_read(child, R + 206 * P, &v);
	is(v, 0, "child: the grown part reads zero");
	umm_mm_stats(mm, &st);
	check_mm_coherent(mm);
	check_mm_coherent(child);
	umm_mm_put(child);
	umm_mm_put(mm);
}

/* A pinned page moves with its pte: the pin and the guest still agree. */
static void test_pinned(void)
{
	struct umm_mm *mm = new_mm();
	struct umm_page *pg;
	struct umm_page_state st;
	uint8_t v, *k;

	umm_mmap(mm, R, 4 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 NULL, 0);
	guest_fill(mm, R, 4 * P, 2);
	is(umm_gup(mm, R + P, 1, UMM_FOLL_PIN | UMM_FOLL_WRITE, &pg), 1,
	   "pin page 1");
	is(umm_mremap(mm, R, 4 * P, 6 * P, FX, R + 50 * P), (long)(R + 50 * P),
	   "move and grow the mapping");
	k = umm_page_addr(pg);
	k[7] = 0x99;
	guest_read(mm, R + 51 * P + 7, &v);
	is(v, 0x99, "the guest sees a write through the pin at the new place");
	guest_write(mm, R + 51 * P + 8, 0x98);
	is(k[8], 0x98, "the pin sees the guest's write there");
	umm_page_state(pg, &st);
	ok(st.mapcount == 1 && st.pincount == 1 && st.anon_exclusive,
	   "one pte maps it, pinned, still anon-exclusive");
	umm_unpin(&pg, 1, true);
	is(umm_gup_unpin_bugs(), 0, "no unpin of a page that lost exclusivity");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* Nonlinear file ptes move as they are: each page keeps pgoff and prot. */
static void test_nonlinear(void)
{
	struct umm_mm *mm = new_mm();
	struct umm_file *f = umm_shmem_new(phys, 16 * P);
	struct umm_mm *w = new_mm();
	siginfo_t si;
	uint8_t v;
	int i, bad = 0, sig;

	/* Write each file page's number into it through a linear mapping. */
	umm_mmap(w, R, 16 * P, RW, MAP_SHARED | MAP_FIXED, f, 0);
	for (i = 0; i < 16; i++)
		guest_write(w, R + (uint64_t)i * P, (uint8_t)(0x40 + i));
	umm_mm_put(w);

	umm_mmap(mm, R, 8 * P, RW, MAP_SHARED | MAP_FIXED, f, 0);
	for (i = 0; i < 8; i++)
		umm_remap_file_pages(mm, R + (uint64_t)i * P, P, 0, 15 - i,
				     MAP_NONBLOCK * (i & 1));
	is(umm_remap_file_pages(mm, R + 2 * P, P, PROT_READ, 3,
				UMM_MAP_MANYPROTS),
	   0, "page 2: pgoff 3, read-only of its own");
	guest_read(mm, R + 5 * P, &v); /* one present page, others file ptes */
	is(umm_mremap(mm, R, 8 * P, 8 * P, FX, R + 40 * P), (long)(R + 40 * P),
	   "move the nonlinear vma");
	for (i = 0; i < 8; i++) {
		guest_read(mm, R + 40 * P + (uint64_t)i * P, &v);
		if (v != (uint8_t)(0x40 + (i == 2 ? 3 : 15 - i)))
			bad++;
	}
	is(bad, 0, "every page reads the file page it was remapped to");
	v = 1;
	sig = guest_access(mm, R + 42 * P, 1, &v, &si);
	ok(sig == SIGSEGV && si.si_code == SEGV_ACCERR,
	   "page 2 keeps its own read-only protection");
	is(guest_write(mm, R + 43 * P, 0x77), 0, "page 3 takes a write");
	is(umm_mremap(mm, R + 40 * P, 8 * P, 10 * P, 0, 0), (long)(R + 40 * P),
	   "grow it in place");
	guest_read(mm, R + 49 * P, &v);
	is(v, 0x40 + 9, "a grown page is linear: pgoff 9");
	is(umm_mremap(mm, R + 43 * P, P, P, MV | DU, R + 60 * P),
	   (long)(R + 60 * P), "DONTUNMAP one page of it");
	guest_read(mm, R + 60 * P, &v);
	is(v, 0x77, "the moved page is file page 12 with the write");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(f);
}

/* The host mappings follow: touched pages need no fault after a move. */
static void test_host_follows(void)
{
	struct umm_mm *mm = new_mm();
	struct umm_stats a, b;
	long n;

	umm_mmap(mm, R, 64 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 NULL, 0);
	guest_fill(mm, R, 64 * P, 3);
	umm_mm_stats(mm, &a);
	is(umm_mremap(mm, R, 64 * P, 64 * P, FX, R + 1000 * P),
	   (long)(R + 1000 * P), "move 64 touched pages");
	umm_mm_stats(mm, &b);
	ok(b.host_syscalls - a.host_syscalls <= 4,
	   "in at most 4 host calls (%llu)",
	   (unsigned long long)(b.host_syscalls - a.host_syscalls));
	is(guest_check(mm, R + 1000 * P, 64 * P, 3), 0, "the contents moved");
	umm_mm_stats(mm, &a);
	n = (long)(a.faults_taken - b.faults_taken);
	is(n, 0, "reading and writing them again takes no fault");
	n = umm_host_vmas(mm);
	is(n, 1, "one host VMA for the 64 moved pages");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

int main(void)
{
	const struct scenario *sc;

	nat = mmap(NULL, sizeof(*nat), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memfd = memfd_create("umm-shmem", 0);
	phys = umm_phys_new(64ULL << 20);
	if (nat == MAP_FAILED || memfd < 0 || !phys)
		BAIL_OUT("setup: %s", strerror(errno));
	for (sc = scenarios; sc->name; sc++)
		run_scenario(sc);
	test_random(getenv("MREMAP_TEST_SEEDS") ?
			    (unsigned int)atoi(getenv("MREMAP_TEST_SEEDS")) :
			    60);
	test_forbidden_ranges();
	test_heap();
	test_map_count();
	test_cow_after_fork();
	test_pinned();
	test_nonlinear();
	test_host_follows();
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
