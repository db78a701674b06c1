// SPDX-License-Identifier: MIT
/*
 * Tests of the stub backend (host/stub.c): a host address space held by a
 * child process. What the child holds is read from outside, as a debugger
 * would: /proc/<child>/maps for its mappings, /proc/<child>/fd for its
 * files, process_vm_readv/writev for its memory.
 */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"
#include "tests/tap.h"

#define PG    PAGE_SIZE
#define SPACE (64ULL << 20)
#define RW    (PROT_READ | PROT_WRITE)

/* ---- the child, seen from outside ---- */

struct vma {
	uint64_t lo, hi, off;
	char perms[8];
	char path[128];
};

#define MAX_VMAS 64

/* The child's mappings, in order. Returns how many, or -1. */
static int child_maps(int pid, struct vma *v, int max)
{
	char line[512], name[64];
	int n = 0;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%d/maps", pid);
	f = fopen(name, "r");
	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;

		v[n].path[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %127[^\n]", &lo, &hi,
			   v[n].perms, &off, v[n].path) < 4)
			continue;
		v[n].lo = lo;
		v[n].hi = hi;
		v[n].off = off;
		n++;
	}
	fclose(f);
	return n;
}

/* The child's mapping that holds @va, or NULL. */
static const struct vma *vma_at(const struct vma *v, int n, uint64_t va)
{
	int i;

	for (i = 0; i < n; i++)
		if (va >= v[i].lo && va < v[i].hi)
			return &v[i];
	return NULL;
}

/*
 * Whether @pid holds nothing but the stub area, [min, size) reserved or
 * mapped, and the vsyscall page (above user space: no process can drop it).
 * Prints what it found otherwise.
 */
static bool only_stub_and_guest(int pid, uint64_t size)
{
	struct vma v[MAX_VMAS];
	int i, n = child_maps(pid, v, MAX_VMAS);
	bool good = n > 0;

	for (i = 0; i < n; i++) {
		if (v[i].lo >= HOST_STUB_START && v[i].hi <= HOST_STUB_END)
			continue;
		if (v[i].lo >= host_stub_min_addr() && v[i].hi <= size)
			continue;
		if (!strcmp(v[i].path, "[vsyscall]"))
			continue;
		diag("unexpected: %lx-%lx %s %s", (unsigned long)v[i].lo,
		     (unsigned long)v[i].hi, v[i].perms, v[i].path);
		good = false;
	}
	return good;
}

static ssize_t child_read(int pid, uint64_t va, void *buf, size_t len)
{
	struct iovec local = {buf, len};
	struct iovec remote = {(void *)(uintptr_t)va, len};

	return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

static ssize_t child_write(int pid, uint64_t va, const void *buf, size_t len)
{
	struct iovec local = {(void *)buf, len};
	struct iovec remote = {(void *)(uintptr_t)va, len};

	return process_vm_writev(pid, &local, 1, &remote, 1, 0);
}

/* Does @pid end within a second (a zombie, or reaped)? */
static bool dies(int pid)
{
	char name[64], line[256];
	int i;

	snprintf(name, sizeof(name), "/proc/%d/stat", pid);
	for (i = 0; i < 1000; i++) {
		FILE *f = fopen(name, "r");
		char *p = NULL;

		if (!f)
			return true;
		if (fgets(line, sizeof(line), f))
			p = strrchr(line, ')');
		fclose(f);
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			return true;
		usleep(1000);
	}
	return false;
}

/* Whether @pid is gone: no process, not even a zombie. */
static bool gone(int pid)
{
	char name[64], line[256];
	bool zombie = false;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%d/stat", pid);
	f = fopen(name, "r");
	if (!f)
		return true;
	if (fgets(line, sizeof(line), f)) {
		char *p = strrchr(line, ')');

		zombie = p && p[1] == ' ' && p[2] == 'Z';
	}
	fclose(f);
	return !zombie && kill(pid, 0) < 0 && errno == ESRCH ? true : false;
}

/* The parent of @pid, or -1. */
static int parent_of(int pid)
{
	char name[64], line[256];
	int ppid = -1;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%d/stat", pid);
	f = fopen(name, "r");
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f)) {
		char *p = strrchr(line, ')');

		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
			ppid = -1;
	}
	fclose(f);
	return ppid;
}

/* The number of files @pid holds; each must be the physical memory file at fd 3. */
static int child_files(int pid, const char *who)
{
	char name[64], target[128];
	struct dirent *de;
	int files = 0;
	DIR *dir;

	snprintf(name, sizeof(name), "/proc/%d/fd", pid);
	dir = opendir(name);
	while (dir && (de = readdir(dir))) {
		char link[320];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		files++;
		snprintf(link, sizeof(link), "%s/%s", name, de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = 0;
		ok(atoi(de->d_name) == 3 && strstr(target, PHYS_FILE_NAME),
		   "%s: its file %s is the physical memory file (%s)", who,
		   de->d_name, target);
	}
	if (dir)
		closedir(dir);
	return files;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void fill(struct phys *phys, uint32_t pfn, uint8_t seed)
{
	uint8_t *p = phys_kaddr(phys, pfn);
	size_t i;

	for (i = 0; i < PG; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static bool same(const uint8_t *buf, uint8_t seed)
{
	size_t i;

	for (i = 0; i < PG; i++)
		if (buf[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

static struct host_as *stub_new(struct phys *phys)
{
	struct host_as *as = host_as_new_stub(phys, SPACE);

	if (!as)
		BAIL_OUT("host_as_new_stub: %s", strerror(errno));
	return as;
}

/* ---- tests ---- */

static void test_new(struct phys *phys, bool zygote)
{
	struct vma v[MAX_VMAS];
	struct host_as *as;
	const struct vma *x;
	int pid, n, zpid;

	errno = 0;
	ok(!host_as_new_stub(phys, 0) && errno == EINVAL, "size 0: EINVAL");
	errno = 0;
	ok(!host_as_new_stub(phys, PG + 1) && errno == EINVAL,
	   "unaligned size: EINVAL");
	errno = 0;
	ok(!host_as_new_stub(phys, HOST_STUB_START + PG) && errno == EINVAL,
	   "a size over the stub area: EINVAL");

	as = stub_new(phys);
	pid = host_stub_pid(as);
	zpid = host_stub_zygote_pid();
	ok(pid > 0 && pid != getpid(), "the space has a child process (%d)",
	   pid);
	if (zygote)
		ok(zpid > 0 && zpid != pid, "made by the zygote (%d)", zpid);
	else
		is(zpid, -1, "cloned: no zygote");
	is(parent_of(pid), getpid(), "the child is this process's");
	is(as->base, 0, "guest va == host va in the child: base 0");
	is(as->stats.round_trips, 1, "creating it cost one round trip");
	ok(only_stub_and_guest(pid, SPACE),
	   "the child holds only the stub area and the guest range");
	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, HOST_STUB_START);
	ok(x && !strcmp(x->perms, "r-xs") && strstr(x->path, "umm-stub"),
	   "stub code at HOST_STUB_START, r-x, from the stub file");
	x = vma_at(v, n, HOST_STUB_START + 4 * PG);
	ok(x && !strcmp(x->perms, "rw-s") && strstr(x->path, "umm-stub"),
	   "the shared page and stack above it, rw-");
	x = vma_at(v, n, host_stub_min_addr());
	ok(x && x->lo == host_stub_min_addr() && x->hi == SPACE &&
		   !strcmp(x->perms, "---p"),
	   "the guest range [mmap_min_addr %#llx, size) reserved, no access",
	   (unsigned long long)host_stub_min_addr());
	ok(!vma_at(v, n, 0), "nothing below mmap_min_addr");
	is(child_files(pid, "the child"), 1, "the child holds one file");

	if (zygote) {
		ok(only_stub_and_guest(zpid, 0),
		   "the zygote holds only the stub area");
		is(child_files(zpid, "the zygote"), 1,
		   "the zygote holds one file");
		is(parent_of(zpid), getpid(), "the zygote is this process's");
	}

	host_as_free(as);
	ok(gone(pid), "host_as_free: the child is killed and reaped");
}

/* The walk over the first mapping of test_map: returns 1 if it is right. */
static int walk_one(uint64_t va, uint64_t len, int prot, bool file,
		    uint64_t off, void *arg)
{
	return va == 0x100000 && len == 8 * PG && prot == RW && file &&
			       off == *(uint64_t *)arg
		       ? 1
		       : -1;
}

static void test_map(struct phys *phys)
{
	const uint64_t va = 0x100000;
	struct vma v[MAX_VMAS];
	uint8_t buf[PG], zero[PG] = {0};
	uint32_t pfns[8];
	struct host_as *as = stub_new(phys);
	int pid = host_stub_pid(as), n, i;
	uint64_t trips = as->stats.round_trips, sys = as->stats.syscalls;
	uint64_t wanted_off;
	const struct vma *x;
	bool good = true;

	if (phys_alloc(phys, 0, 8, pfns) != 8)
		BAIL_OUT("phys_alloc");
	for (i = 0; i < 8; i++) {
		fill(phys, pfns[i], (uint8_t)(i + 1));
		if (i && pfns[i] != pfns[0] + i)
			BAIL_OUT("frames not contiguous");
	}
	for (i = 0; i < 8; i++)
		host_as_queue(as, HOST_OP_MAP, va + i * PG, PG,
			      (uint64_t)(pfns[0] + i) << PAGE_SHIFT, RW, 0);
	is(as->queue.nr, 1, "8 contiguous pages queue as one op");
	host_as_flush(as);
	is(as->stats.round_trips - trips, 1, "one flush: one round trip");
	is(as->stats.syscalls - sys, 1, "one host call in the child");

	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, va);
	ok(x && x->lo == va && x->hi == va + 8 * PG &&
		   !strcmp(x->perms, "rw-s") &&
		   x->off == (uint64_t)pfns[0] << PAGE_SHIFT &&
		   strstr(x->path, PHYS_FILE_NAME),
	   "one VMA of 8 pages, rw-, of the physical file at frame %u",
	   pfns[0]);
	is(host_as_count_vmas(as), 1, "host_as_count_vmas reads the child's");
	wanted_off = (uint64_t)pfns[0] << PAGE_SHIFT;
	is(host_as_walk_vmas(as, walk_one, &wanted_off), 1,
	   "host_as_walk_vmas: va, length, prot, file and offset");
	for (i = 0; i < 8; i++) {
		if (child_read(pid, va + i * PG, buf, PG) != (ssize_t)PG ||
		    !same(buf, (uint8_t)(i + 1)))
			good = false;
	}
	ok(good, "the child sees each frame's contents at its va");

	fill(phys, pfns[3], 0x55);
	ok(child_read(pid, va + 3 * PG, buf, PG) == (ssize_t)PG &&
		   same(buf, 0x55),
	   "a frame written through the kernel's map is seen in the child");
	memset(buf, 0xab, 16);
	ok(child_write(pid, va + 5 * PG + 100, buf, 16) == 16 &&
		   ((uint8_t *)phys_kaddr(phys, pfns[5]))[100] == 0xab,
	   "a write in the child lands in the frame");

	/* protect the middle: three VMAs */
	trips = as->stats.round_trips;
	host_as_queue_protect(as, va + 2 * PG, 2 * PG, PROT_READ,
			      host_as_gen(as));
	host_as_queue_protect(as, va + 6 * PG, PG, PROT_NONE, host_as_gen(as));
	host_as_flush(as);
	is(as->stats.round_trips - trips, 1, "two protects: one round trip");
	is(host_as_count_vmas(as), (long)as->stats.vmas_mapped,
	   "the child's VMAs are what the space's VMA map counts");
	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, va + 2 * PG);
	ok(x && x->lo == va + 2 * PG && x->hi == va + 4 * PG &&
		   !strcmp(x->perms, "r--s"),
	   "pages 2-3 read-only");
	x = vma_at(v, n, va + 6 * PG);
	ok(x && x->lo == va + 6 * PG && x->hi == va + 7 * PG &&
		   !strcmp(x->perms, "---s"),
	   "page 6 no access, still the file's");
	x = vma_at(v, n, va + 4 * PG);
	ok(x && x->lo == va + 4 * PG && !strcmp(x->perms, "rw-s"),
	   "pages 4-5 still read-write");
	errno = 0;
	ok(child_write(pid, va + 2 * PG, buf, 1) < 0 && errno == EFAULT,
	   "process_vm_writev to a read-only page: EFAULT");

	/* a zero page, populated */
	host_as_queue(as, HOST_OP_MAP_ZERO, va + 16 * PG, PG, 0, PROT_READ,
		      HOST_OP_POPULATE);
	host_as_queue(as, HOST_OP_MAP, va + 20 * PG, PG,
		      (uint64_t)pfns[7] << PAGE_SHIFT, RW, HOST_OP_POPULATE);
	host_as_flush(as);
	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, va + 16 * PG);
	ok(x && !strcmp(x->perms, "r--p") && !strstr(x->path, "umm") &&
		   child_read(pid, va + 16 * PG, buf, PG) == (ssize_t)PG &&
		   !memcmp(buf, zero, PG),
	   "MAP_ZERO: private zeros, read-only");
	ok(child_read(pid, va + 20 * PG, buf, PG) == (ssize_t)PG &&
		   same(buf, 8),
	   "a populated map: frame 7 seen at a second va too");

	/* unmap everything: back to the reservation */
	trips = as->stats.round_trips;
	host_as_queue(as, HOST_OP_UNMAP, va, 8 * PG, 0, 0, 0);
	host_as_queue(as, HOST_OP_UNMAP, va + 16 * PG, 5 * PG, 0, 0, 0);
	host_as_flush(as);
	is(as->stats.round_trips - trips, 1, "two unmaps: one round trip");
	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, va);
	ok(x && !strcmp(x->perms, "---p") && x->lo <= va &&
		   x->hi >= va + 21 * PG,
	   "unmapped: the range is reserved again, no access");
	errno = 0;
	ok(child_read(pid, va, buf, 1) < 0 && errno == EFAULT,
	   "the child no longer reaches the frames");
	ok(only_stub_and_guest(pid, SPACE), "still nothing else mapped");
	is(host_as_count_vmas(as), 0, "host_as_count_vmas: none mapped");
	is(as->stats.vmas_mapped, 0, "and the VMA map agrees");

	host_as_free(as);
	phys_put_many(phys, pfns, 8);
}

#ifndef __SANITIZE_THREAD__
/* The host's own answer: 0 or -errno of a MAP_FIXED at @va here. */
static int host_map_at(int fd, uint64_t va)
{
	void *p = mmap((void *)(uintptr_t)va, PG, RW, MAP_SHARED | MAP_FIXED,
		       fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, PG);
	return 0;
}
#endif

static void test_errors(struct phys *phys)
{
	struct host_as *as = stub_new(phys);
	int pid = host_stub_pid(as);
	uint32_t pfn;
	struct host_op ops[3] = {
		{.kind = HOST_OP_MAP, .prot = RW, .va = 0x200000, .len = PG},
		{.kind = HOST_OP_PROTECT,
		 .prot = 0x10,
		 .va = 0x200000,
		 .len = PG},
		{.kind = HOST_OP_MAP, .prot = RW, .va = 0x300000, .len = PG},
	};
	struct vma v[MAX_VMAS];
	unsigned int done = 99;
	uint64_t trips = as->stats.round_trips;
	const struct vma *x;
	void *p;
	int err, n, want;

	if (phys_alloc(phys, 0, 1, &pfn) != 1)
		BAIL_OUT("phys_alloc");
	ops[0].off = ops[2].off = (uint64_t)pfn << PAGE_SHIFT;
	ops[1].gen = host_as_gen(as);

	/* The host's own answer to an unknown protection bit. */
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	want = mprotect(p, PG, 0x10) ? -errno : 0;
	munmap(p, PG);
	ok(want < 0, "(host: mprotect with prot 0x10: %s)", strerror(-want));
	err = as->backend->apply(as, ops, 3, &done);
	is(err, want, "a failing op reports the host's error");
	is(done, 1, "after the first op, reported done");
	is(as->stats.round_trips - trips, 1, "in one round trip");
	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, 0x300000);
	ok(vma_at(v, n, 0x200000) && x && !strcmp(x->perms, "---p"),
	   "the first op was carried out, the third not");

	/*
	 * Below vm.mmap_min_addr: whatever the host answers here. (Not
	 * under ThreadSanitizer, whose runtime aborts at a mapping at 0 in
	 * this process.)
	 */
#ifndef __SANITIZE_THREAD__
	want = host_map_at(phys_fd(phys), 0);
	ops[1] = ops[0];
	ops[1].va = 0;
	err = as->backend->apply(as, &ops[1], 1, &done);
	is(err, want, "a map at 0 answers as on the host (%s)",
	   want ? strerror(-want) : "allowed: privileged");
#endif

	ops[0].kind = 77;
	is(as->backend->apply(as, ops, 1, &done), -EINVAL,
	   "an unknown op: -EINVAL");
	is(done, 0, "none done");

	/* A PROTECT queued before a reset is skipped after it. */
	host_as_queue_protect(as, 0x200000, PG, PROT_NONE, host_as_gen(as));
	as->reset_gen++;
	host_as_flush(as);
	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, 0x200000);
	ok(x && !strcmp(x->perms, "rw-s"), "a stale protect is skipped");

	err = as->backend->reset(as);
	is(err, 0, "reset: 0");
	n = child_maps(pid, v, MAX_VMAS);
	x = vma_at(v, n, 0x200000);
	ok(x && x->lo == host_stub_min_addr() && x->hi == SPACE &&
		   !strcmp(x->perms, "---p"),
	   "reset: the guest range one reservation again");
	ok(!vma_at(v, n, 0), "reset: nothing below mmap_min_addr");
	ok(only_stub_and_guest(pid, SPACE), "reset: nothing else mapped");
	host_as_free(as);
	phys_put(phys, pfn);
}

static void test_dead(struct phys *phys)
{
	struct host_op op = {.kind = HOST_OP_MAP_ZERO,
			     .prot = PROT_READ,
			     .va = 0x100000,
			     .len = PG};
	struct host_as *as = stub_new(phys);
	int pid = host_stub_pid(as), err;
	unsigned int done = 99;
	double t;

	kill(pid, SIGKILL);
	t = now_us();
	err = as->backend->apply(as, &op, 1, &done);
	t = now_us() - t;
	is(err, -ESRCH, "a batch to a killed child: -ESRCH");
	is(done, 0, "nothing done");
	ok(t < 1e6, "noticed in %.1f ms, not hung on", t / 1e3);
	ok(gone(pid), "the dead child is reaped");
	is(as->backend->reset(as), 0, "a reset of a dead space: 0");
	host_as_queue(as, HOST_OP_MAP_ZERO, 0x100000, PG, 0, PROT_READ, 0);
	host_as_flush(as);
	ok(1, "a flush to a dead space returns (the batch is dropped)");
	host_as_free(as);
	ok(1, "and it is freed");

	as = stub_new(phys);
	pid = host_stub_pid(as);
	host_as_free(as);
	ok(gone(pid), "host_as_free leaves no zombie");

	/* discard: the child ends at once, and nothing more is carried out */
	as = stub_new(phys);
	pid = host_stub_pid(as);
	host_as_queue(as, HOST_OP_MAP_ZERO, 0x100000, PG, 0, PROT_READ, 0);
	host_as_flush(as);
	t = (double)as->stats.round_trips;
	host_as_discard(as);
	ok(dies(pid), "host_as_discard: the child is killed (it ends, and "
		      "waits to be reaped)");
	host_as_queue(as, HOST_OP_MAP_ZERO, 0x200000, PG, 0, PROT_READ, 0);
	host_as_flush(as);
	is(as->stats.round_trips, (uint64_t)t,
	   "after a discard, a flush makes no round trip");
	is(as->stats.vmas_mapped, 0, "and the space holds no mapping");
	host_as_free(as);
	ok(gone(pid), "a discarded space is freed: its child reaped");
}

/* A kernel that dies without freeing its spaces: their stubs leave. */
static void test_orphan(struct phys *phys)
{
	int fds[2], pid[2] = {-1, -1}, status, i;
	pid_t kernel;

	if (pipe(fds))
		BAIL_OUT("pipe");
	fflush(stdout);
	kernel = fork();
	if (kernel == 0) {
		struct host_as *as = host_as_new_stub(phys, SPACE);

		pid[0] = as ? host_stub_pid(as) : -1;
		pid[1] = host_stub_zygote_pid();
		if (write(fds[1], pid, sizeof(pid)) != sizeof(pid))
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], pid, sizeof(pid)) != sizeof(pid))
		pid[0] = -1;
	close(fds[0]);
	waitpid(kernel, &status, 0);
	ok(pid[0] > 0, "a child kernel made a stub space");
	for (i = 0; i < 300 && pid[0] > 0 && !gone(pid[0]); i++)
		usleep(10000);
	ok(pid[0] > 0 && gone(pid[0]),
	   "its stub leaves when the kernel is gone");
	if (pid[1] < 0)
		return;
	for (i = 0; i < 300 && !gone(pid[1]); i++)
		usleep(10000);
	ok(gone(pid[1]), "and so does its zygote");
}

static int cmp_double(const void *a, const void *b);

/*
 * The median time of host_as_new_stub over @n tries, in microseconds; in
 * *free_us, host_as_free's.
 */
static double new_us(struct phys *phys, int n, bool warm, double *free_us)
{
	double t[16], f[16];
	int i;

	for (i = 0; i < n && i < 16; i++) {
		struct host_as *as;

		t[i] = now_us();
		as = stub_new(phys);
		t[i] = now_us() - t[i];
		f[i] = now_us();
		host_as_free(as);
		f[i] = now_us() - f[i];
		if (warm) {
			host_stub_prestart(phys);
			usleep(5000); /* let the next spare boot */
		}
	}
	qsort(t, (size_t)i, sizeof(*t), cmp_double);
	qsort(f, (size_t)i, sizeof(*f), cmp_double);
	if (free_us)
		*free_us = f[i / 2];
	return t[i / 2];
}

/*
 * A fork of the kernel shares its pool's pointer, not its child: it must
 * neither take nor end the spare, nor use or end the zygote.
 */
static void fork_leaves_spare(struct phys *phys, int spare)
{
	int status = -1, zpid = host_stub_zygote_pid();
	pid_t k;

	fflush(stdout);
	k = fork();
	if (k == 0) {
		struct host_as *as = host_as_new_stub(phys, SPACE);
		int bad = !as || host_stub_pid(as) == spare ||
			  parent_of(host_stub_pid(as)) != getpid() ||
			  host_stub_zygote_pid() == zpid;

		host_as_free(as);
		host_stub_pool_drain();
		_exit(bad);
	}
	waitpid(k, &status, 0);
	is(status, 0, "a forked kernel makes a space of its own child");
	ok(!gone(spare) && host_stub_pool_pid() == spare,
	   "and leaves the spare to its parent");
	ok(zpid > 0 && !gone(zpid) && host_stub_zygote_pid() == zpid,
	   "and the zygote");
}

static void test_pool(struct phys *phys)
{
	struct phys *other;
	struct host_as *as;
	double cold, warm, clone, cold_free, clone_free;
	int spare, pid, zpid;

	is(host_stub_pool_pid(), -1, "no spare child before prestart");
	is(host_stub_prestart(phys), 0, "prestart: 0");
	spare = host_stub_pool_pid();
	ok(spare > 0, "a spare child waits (%d)", spare);
	as = stub_new(phys);
	is(host_stub_pid(as), spare, "the new space takes the spare child");
	is(host_stub_pool_pid(), -1, "the pool is empty then");
	is(host_stub_prestart(phys), 0, "prestart again: 0");
	pid = host_stub_pool_pid();
	ok(pid > 0 && pid != spare, "another spare is started (%d)", pid);
	is(host_stub_prestart(phys), 0, "prestart with a spare waiting: 0");
	is(host_stub_pool_pid(), pid, "and the same spare waits");
	fork_leaves_spare(phys, pid);
	ok(only_stub_and_guest(spare, SPACE),
	   "the spare's space holds only the stub and the guest range");
	host_as_free(as);

	warm = new_us(phys, 11, true, NULL);
	pid = host_stub_pool_pid();
	zpid = host_stub_zygote_pid();
	host_stub_pool_drain();
	ok(pid > 0 && gone(pid), "drain: the spare is killed and reaped");
	ok(zpid > 0 && gone(zpid), "drain: the zygote too");
	is(host_stub_pool_pid(), -1, "no spare after drain");
	is(host_stub_zygote_pid(), -1, "no zygote after drain");
	cold = new_us(phys, 11, false, &cold_free);
	host_stub_set_zygote(false);
	clone = new_us(phys, 11, false, &clone_free);
	host_stub_set_zygote(true);
	diag("host_as_new_stub, medians: %.0f us cold from the zygote, %.0f us "
	     "cold cloned (start, boot, reserve), %.0f us with a spare "
	     "waiting (reserve); host_as_free: %.0f us (zygote's child), "
	     "%.0f us (cloned)",
	     cold, clone, warm, cold_free, clone_free);
	/* A figure, not a check: timing on a shared machine is noise. */
	diag("a spare %s creating a space quicker here",
	     warm < cold ? "made" : "did not make");

	other = phys_new(64 * PG);
	if (!other)
		BAIL_OUT("phys_new");
	host_stub_prestart(other);
	spare = host_stub_pool_pid();
	as = stub_new(phys);
	ok(host_stub_pid(as) != spare,
	   "a spare for another phys is not handed out");
	host_as_free(as);
	phys_free(other);
	ok(spare > 0 && gone(spare), "phys_free ends the spare of its phys");
	is(host_stub_pool_pid(), -1, "and the pool is empty");

	other = phys_new(64 * PG);
	if (!other)
		BAIL_OUT("phys_new");
	as = host_as_new_stub(other, SPACE);
	zpid = host_stub_zygote_pid();
	ok(as && zpid > 0, "a space over another phys: a zygote of its own");
	host_as_free(as);
	phys_free(other);
	ok(zpid > 0 && gone(zpid), "phys_free ends the zygote of its phys");
	is(host_stub_zygote_pid(), -1, "and there is no zygote then");
}

/* Drop CAP_SYS_PTRACE from this process's effective set. */
static int drop_ptrace_cap(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[0].effective &= ~(1U << CAP_SYS_PTRACE);
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * The zygote's child cannot open its stub file through /proc: this
 * process is not dumpable, and lacks CAP_SYS_PTRACE. Run in a fork: the
 * space is made all the same, cloned, and the zygote is off from then on.
 * Exits 0, or a bit for each check that failed.
 */
static int fallback_kernel(struct phys *phys)
{
	struct host_op op = {.kind = HOST_OP_MAP_ZERO,
			     .prot = PROT_READ,
			     .va = 0x100000,
			     .len = PG};
	struct host_as *as;
	unsigned int done;
	int bad = 0;

	if (prctl(PR_SET_DUMPABLE, 0) || drop_ptrace_cap())
		return 64;
	as = host_as_new_stub(phys, SPACE);
	if (!as)
		return 1;
	if (host_stub_zygote_pid() != -1)
		bad |= 2;
	if (parent_of(host_stub_pid(as)) != getpid())
		bad |= 4;
	if (as->backend->apply(as, &op, 1, &done) || done != 1)
		bad |= 8;
	host_as_free(as);
	as = host_as_new_stub(phys, SPACE);
	if (!as || host_stub_zygote_pid() != -1)
		bad |= 16;
	host_as_free(as);
	host_stub_pool_drain();
	return bad;
}

static void test_zygote(struct phys *phys)
{
	struct host_as *as = stub_new(phys);
	int zpid = host_stub_zygote_pid(), z2, status = -1;
	pid_t k;

	host_as_free(as);
	ok(zpid > 0, "a zygote (%d)", zpid);
	kill(zpid, SIGKILL);
	as = stub_new(phys);
	z2 = host_stub_zygote_pid();
	ok(as && z2 > 0 && z2 != zpid,
	   "a killed zygote is replaced at the next space (%d)", z2);
	ok(gone(zpid), "and reaped");
	ok(only_stub_and_guest(host_stub_pid(as), SPACE),
	   "its child holds only the stub and the guest range");
	host_as_free(as);
	host_stub_set_zygote(false);
	ok(gone(z2), "host_stub_set_zygote(false) ends the zygote");
	is(host_stub_zygote_pid(), -1, "and none is started");
	host_stub_set_zygote(true);

	fflush(stdout);
	k = fork();
	if (k == 0)
		_exit(fallback_kernel(phys));
	waitpid(k, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a zygote's child that cannot open its file: the space is cloned "
	   "instead, and the zygote is off (%#x)",
	   status);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The median time of @n batches of @nr ops (0 or 1: a PROTECT toggling
 * between read-only and read-write), in microseconds.
 */
static double rtt_us(struct host_as *as, const struct host_op *proto,
		     unsigned int nr, int n)
{
	double *t = calloc((size_t)n, sizeof(*t)), med;
	unsigned int done;
	int i;

	if (!t)
		BAIL_OUT("calloc");
	for (i = 0; i < n; i++) {
		struct host_op op = *proto;
		double t0 = now_us();

		op.prot = (i & 1) ? PROT_READ : RW;
		if (as->backend->apply(as, &op, nr, &done))
			BAIL_OUT("apply failed");
		t[i] = now_us() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	med = t[n / 2];
	free(t);
	return med;
}

/* Pin this thread and the child to CPUs @a and @b (-1: any). */
static int pin(int child, int a, int b)
{
	cpu_set_t set;
	int i, err = 0;

	for (i = 0; i < 2; i++) {
		int cpu = i ? b : a;

		CPU_ZERO(&set);
		if (cpu < 0) {
			int c;

			for (c = 0; c < CPU_SETSIZE; c++)
				CPU_SET(c, &set);
		} else {
			CPU_SET(cpu, &set);
		}
		err |= sched_setaffinity(i ? child : 0, sizeof(set), &set);
	}
	return err;
}

/*
 * Round trips of 1-op batches by spin (fixed polls, then the default: 2000
 * polls only across CPUs), with both sides on one CPU, on two, and where
 * the host scheduler puts them.
 */
static void bench_spin(struct host_as *as, const struct host_op *op, int n)
{
	static const unsigned int spins[] = {0, 200, 2000, 2000};
	static const char *const where[] = {"one CPU", "two CPUs", "unpinned"};
	int pid = host_stub_pid(as), two = sysconf(_SC_NPROCESSORS_ONLN) > 1;
	double t[3][4] = {{0}};
	unsigned int i, w;

	for (i = 0; i < 4; i++) {
		host_stub_set_spin(spins[i], i == 3);
		if (!pin(pid, 0, 0))
			t[0][i] = rtt_us(as, op, 1, n);
		if (two && !pin(pid, 0, 1))
			t[1][i] = rtt_us(as, op, 1, n);
		pin(pid, -1, -1);
		t[2][i] = rtt_us(as, op, 1, n);
	}
	host_stub_set_spin(2000, true);
	diag("1-op round trip, medians of %d (us), by spin in polls:", n);
	diag("  %-10s %7s %7s %7s %7s", "", "0", "200", "2000", "default");
	for (w = 0; w < 3; w++)
		diag("  %-10s %7.1f %7.1f %7.1f %7.1f", where[w], t[w][0],
		     t[w][1], t[w][2], t[w][3]);
}

/* Round trips against a local call: a benchmark figure, not a check. */
static void test_bench(struct phys *phys)
{
	struct host_as *as = stub_new(phys), *local;
	struct host_op op = {.kind = HOST_OP_PROTECT, .len = PG};
	double empty, one, loc, spin_us;
	const int n = getenv("STUB_N") ? atoi(getenv("STUB_N")) : 1000;
	uint32_t pfn;
	int i;

	if (phys_alloc(phys, 0, 1, &pfn) != 1)
		BAIL_OUT("phys_alloc");
	local = host_as_new_local(phys, SPACE);
	if (!local)
		BAIL_OUT("host_as_new_local");
	host_as_queue(as, HOST_OP_MAP, 0x100000, PG,
		      (uint64_t)pfn << PAGE_SHIFT, RW, 0);
	host_as_flush(as);
	host_as_queue(local, HOST_OP_MAP, 0x100000, PG,
		      (uint64_t)pfn << PAGE_SHIFT, RW, 0);
	host_as_flush(local);
	op.va = 0x100000;
	op.gen = host_as_gen(as);

	rtt_us(as, &op, 1, 100); /* warm up */
	empty = rtt_us(as, &op, 0, n);
	one = rtt_us(as, &op, 1, n);
	bench_spin(as, &op, n / 4);
	op.gen = host_as_gen(local);
	loc = rtt_us(local, &op, 1, n);
	spin_us = now_us();
	for (i = 0; i < 2000; i++)
		__builtin_ia32_pause();
	spin_us = now_us() - spin_us;
	diag("a spin of 2000 polls lasts %.1f us here", spin_us);
	diag("stub round trip (default spin): empty batch %.1f us, "
	     "1 mprotect %.1f us; local backend, 1 mprotect: %.1f us",
	     empty, one, loc);
	ok(one > 0 && empty > 0 && loc > 0, "round trips measured");

	host_as_queue(as, HOST_OP_UNMAP, 0x100000, PG, 0, 0, 0);
	host_as_flush(as);
	host_as_queue(local, HOST_OP_UNMAP, 0x100000, PG, 0, 0, 0);
	host_as_flush(local);
	host_as_free(as);
	host_as_free(local);
	phys_put(phys, pfn);
}

/* Map @n isolated zero pages from @va (one page in two): 2n+1 VMAs. */
static void map_isolated(struct host_as *as, uint64_t va, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		host_as_queue(as, HOST_OP_MAP_ZERO, va + 2ULL * i * PG, PG, 0,
			      PROT_READ, 0);
	host_as_flush(as);
}

/*
 * A stub space is a host process of its own: its VMAs count against the
 * budget alone, not against this process's, and no other space's eviction
 * touches it (another thread's stub call into a space whose guest runs
 * would meet the stub busy with the guest).
 */
static void test_own_budget(struct phys *phys)
{
	unsigned long budget = host_vma_budget(), held;
	struct host_as *st = stub_new(phys);
	struct host_as *loc = host_as_new_local(phys, SPACE);

	if (!loc)
		BAIL_OUT("host_as_new_local: %s", strerror(errno));
	is(host_set_vma_budget(256), 0, "a budget of 256 VMAs");
	held = host_vmas_held();
	map_isolated(st, 0x100000, 100);
	is(st->stats.vmas_mapped, 100, "the stub space holds 100 mappings");
	is(host_vmas_held(), held,
	   "which do not count against this process's VMAs");
	map_isolated(loc, 0x100000, 150);
	ok(loc->stats.evictions > 0,
	   "a local space past the budget evicts (%llu)",
	   (unsigned long long)loc->stats.evictions);
	is(st->stats.evictions, 0, "but never the stub space's mappings");
	is(st->stats.vmas_mapped, 100, "which keeps its 100");
	held = loc->stats.vmas_mapped;
	map_isolated(st, 0x100000 + 200 * PG, 50);
	ok(st->stats.evictions > 0,
	   "the stub space past the budget on its own evicts its own (%llu)",
	   (unsigned long long)st->stats.evictions);
	is(loc->stats.vmas_mapped, held, "and not the local space's");
	ok(st->stats.vmas <= 256, "the stub space holds %llu VMAs <= 256",
	   (unsigned long long)st->stats.vmas);
	host_set_vma_budget(budget);
	host_as_free(loc);
	host_as_free(st);
}

int main(void)
{
	struct phys *phys = phys_new(1024 * PG);
	int i;

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		bool zygote = i == 0;

		diag("children %s", zygote ? "made by the zygote" : "cloned");
		host_stub_set_zygote(zygote);
		test_new(phys, zygote);
		test_map(phys);
		test_errors(phys);
		test_dead(phys);
		test_orphan(phys);
	}
	host_stub_set_zygote(true);
	test_zygote(phys);
	test_pool(phys);
	test_bench(phys);
	test_own_budget(phys);
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "every frame of physical memory is free again");
	phys_free(phys);
	return done_testing();
}
