// SPDX-License-Identifier: MIT
/* Guest-level tests of the fault path through the public API. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common.h"

static struct umm_phys *phys;

static void test_anon_rw(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_stats st;
	long a;
	uint8_t v = 0xff;

	a = umm_mmap(mm, 0, 64 * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	ok(a > 0, "anonymous mmap gives an address (%#lx)", a);
	is(guest_read(mm, (uint64_t)a + 5 * PG, &v), 0, "read fault handled");
	is(v, 0, "fresh anonymous memory reads zero (zero page)");
	umm_mm_stats(mm, &st);
	is(st.fault_anon_zero, 1, "one zero-page fault");
	is(umm_phys_frames_free(phys), umm_phys_frames_total(phys),
	   "reading the zero page takes no frame");
	is(guest_fill(mm, (uint64_t)a, 64 * PG, 7), 0, "write 64 pages");
	is(guest_check(mm, (uint64_t)a, 64 * PG, 7), 0,
	   "read after write sees every byte");
	umm_mm_stats(mm, &st);
	ok(st.fault_anon <= 8, "fault-around: %llu anonymous faults for 64 "
	   "pages", (unsigned long long)st.fault_anon);
	ok(umm_host_vmas(mm) <= 4, "a handful of host VMAs (%ld)",
	   umm_host_vmas(mm));
	is(umm_munmap(mm, (uint64_t)a, 64 * PG), 0, "munmap");
	is(umm_phys_frames_free(phys), umm_phys_frames_total(phys),
	   "munmap frees the frames");
	is(guest_read(mm, (uint64_t)a, &v), SIGSEGV, "unmapped: SIGSEGV");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

static void test_shared(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f = umm_shmem_new(phys, 8 * PG);
	long a, b;
	uint8_t v = 0;

	a = umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	b = umm_mmap(mm, 0, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	ok(a > 0 && b > 0 && a != b, "two shared mappings of one file");
	is(guest_fill(mm, (uint64_t)a, 8 * PG, 3), 0, "write through one");
	is(guest_check(mm, (uint64_t)b, 8 * PG, 3), 0,
	   "the other sees the writes");
	is(guest_write(mm, (uint64_t)b + 100, 0x5a), 0, "write through the other");
	guest_read(mm, (uint64_t)a + 100, &v);
	is(v, 0x5a, "and the first sees it");
	umm_munmap(mm, (uint64_t)a, 8 * PG);
	umm_munmap(mm, (uint64_t)b, 8 * PG);
	umm_file_put(f);
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

static void test_private_file(void)
{
	char path[] = "/tmp/umm-test-XXXXXX";
	int fd = mkstemp(path);
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *f;
	char buf[PG * 2], back[PG * 2];
	uint8_t v = 0;
	long a, b;
	siginfo_t si;

	memset(buf, 'x', sizeof(buf));
	buf[PG + 1] = 'y';
	ok(fd >= 0 && write(fd, buf, PG + 10) == (ssize_t)PG + 10,
	   "a host file of 1 page + 10 bytes");
	f = umm_file_open(phys, path);
	ok(f != NULL, "open it read-only");
	a = umm_mmap(mm, 0, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, f, 0);
	ok(a > 0, "private writable mapping of a read-only file");
	guest_read(mm, (uint64_t)a + PG + 1, &v);
	is(v, 'y', "file contents read through the mapping");
	guest_read(mm, (uint64_t)a + PG + 20, &v);
	is(v, 0, "past EOF within the last page reads zero");
	is(guest_write(mm, (uint64_t)a + 1, 'z'), 0, "write: copy on write");
	guest_read(mm, (uint64_t)a + 1, &v);
	is(v, 'z', "the writer sees its copy");
	b = umm_mmap(mm, 0, PG, PROT_READ, MAP_SHARED, f, 0);
	guest_read(mm, (uint64_t)b + 1, &v);
	is(v, 'x', "a shared mapping still sees the file");
	ok(pread(fd, back, PG + 10, 0) == (ssize_t)PG + 10 &&
	   !memcmp(back, buf, PG + 10), "the host file is unchanged");
	is(umm_mmap(mm, 0, PG, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0),
	   -EACCES, "PROT_WRITE shared of a read-only file: EACCES");
	is(umm_mprotect(mm, (uint64_t)b, PG, PROT_READ | PROT_WRITE), -EACCES,
	   "mprotect PROT_WRITE on it: EACCES");
	a = umm_mmap(mm, 0, 4 * PG, PROT_READ, MAP_PRIVATE, f, 0);
	is(guest_access(mm, (uint64_t)a + 2 * PG, 0, &v, &si), SIGBUS,
	   "past the end of the file: SIGBUS");
	is(si.si_code, BUS_ADRERR, "with BUS_ADRERR");
	is((uint64_t)si.si_addr, (uint64_t)a + 2 * PG, "at the guest address");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	umm_file_put(f);
	close(fd);
	unlink(path);
}

static void test_protect(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	siginfo_t si;
	uint8_t v = 1;
	long a = umm_mmap(mm, 0, 4 * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);

	guest_fill(mm, (uint64_t)a, 4 * PG, 1);
	is(umm_mprotect(mm, (uint64_t)a + PG, PG, PROT_NONE), 0,
	   "mprotect one page PROT_NONE");
	is(guest_access(mm, (uint64_t)a + PG + 8, 0, &v, &si), SIGSEGV,
	   "read of it: SIGSEGV");
	is(si.si_code, SEGV_ACCERR, "with SEGV_ACCERR");
	is((uint64_t)si.si_addr, (uint64_t)a + PG + 8, "at the guest address");
	is(umm_mprotect(mm, (uint64_t)a, 4 * PG, PROT_READ), 0,
	   "mprotect all PROT_READ");
	is(guest_access(mm, (uint64_t)a, 1, &v, &si), SIGSEGV,
	   "write: SIGSEGV");
	is(si.si_code, SEGV_ACCERR, "with SEGV_ACCERR");
	is(umm_mprotect(mm, (uint64_t)a, 4 * PG, PROT_READ | PROT_WRITE), 0,
	   "back to read-write");
	is(guest_check(mm, (uint64_t)a, 4 * PG, 1), 0, "contents kept");
	is(guest_write(mm, (uint64_t)a, 9), 0, "writable again");
	is(guest_access(mm, 1ULL << 31, 0, &v, &si), SIGSEGV, "unmapped read");
	is(si.si_code, SEGV_MAPERR, "with SEGV_MAPERR");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

static void test_brk(void)
{
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	long b0 = umm_brk(mm, 0), b1;

	ok(b0 > 0, "brk(0) gives the break");
	b1 = umm_brk(mm, (uint64_t)b0 + 3 * PG + 5);
	is(b1, b0 + 3 * PG + 5, "grow the break");
	is(guest_fill(mm, (uint64_t)b0, 3 * PG + 5, 2), 0, "heap is usable");
	is(umm_brk(mm, (uint64_t)b0 + PG), b0 + PG, "shrink it");
	is(guest_write(mm, (uint64_t)b0 + 2 * PG, 1), SIGSEGV,
	   "past the shrunk break: SIGSEGV");
	is(umm_brk(mm, (uint64_t)b0 - PG), b0 + PG,
	   "below the start: refused, old break");
	check_mm_coherent(mm);
	umm_mm_put(mm);
}

/* The task sizes umm_mm_new takes: up to where the stub's pages begin. */
static void test_task_size(void)
{
	errno = 0;
	ok(!umm_mm_new(phys, UMM_TASK_SIZE_MAX + PG) && errno == EINVAL,
	   "a task size over the stub's pages: EINVAL");
	errno = 0;
	ok(!umm_mm_new(phys, 1ULL << 47) && errno == EINVAL,
	   "a task size of 2^47: EINVAL");
	errno = 0;
	ok(!umm_mm_new(phys, (1ULL << 20) - PG) && errno == EINVAL,
	   "a task size under 1 MiB: EINVAL");
}

int main(void)
{
	phys = umm_phys_new(64ULL << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	test_anon_rw();
	test_shared();
	test_private_file();
	test_protect();
	test_brk();
	test_task_size();
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
