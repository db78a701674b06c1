// SPDX-License-Identifier: MIT
/*
 * hostile MODE PID: raw syscalls (syscall(2), no libc wrapper in the way)
 * that reach for the host. MODE is "guest" under `umm run`, "host" when
 * run natively: the same calls, and what each must give in that place.
 *
 *                                              guest          host
 *   openat(AT_FDCWD, "/etc/passwd")            ENOENT         a descriptor
 *   kill(PID, SIGKILL), PID a host process     ESRCH          0 (it dies)
 *   fstat(3), mmap of fd 3 (the stub's         EBADF          EBADF (the
 *     physical memory file)                                   test closes 3)
 *   syscalls 400, 1000, -1                     ENOSYS         ENOSYS
 *   mmap MAP_FIXED of [0x7fffffff0000,+64K)    fails          ENOMEM
 *   mremap MREMAP_FIXED onto it, 64 KiB        fails          EINVAL
 *   the same with one page (stub pages only)   fails          not run
 *   mprotect/munmap over the stub pages        no effect      not run
 *   ptrace(PTRACE_TRACEME)                     ENOSYS/EPERM   0
 *
 * "guest" also checks that syscalls still work after the attempts (the
 * stub that carries them is intact). The test checks from outside that
 * PID is alive after the guest run and dead after the native one.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "guest.h"

#define STUB  0x7fffffff0000UL
#define PG    4096UL

static int guest;

/* What a raw syscall gave: the value or -errno. */
static long raw(long r)
{
	return r == -1 ? -errno : r;
}

static void expect_fail(long r, const char *what)
{
	check(r < 0, "%s: refused (got %s)", what,
	      r < 0 ? errname((int)-r) : "success");
}

int main(int argc, char **argv)
{
	long r;

	guest_name = "hostile";
	if (argc != 3 || (strcmp(argv[1], "guest") && strcmp(argv[1], "host"))) {
		say("usage: hostile guest|host PID\n");
		return 2;
	}
	guest = !strcmp(argv[1], "guest");
	pid_t victim = (pid_t)atol(argv[2]);

	r = raw(syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY));
	if (guest)
		check(r == -ENOENT, "openat /etc/passwd: ENOENT (got %ld)", r);
	else
		check(r >= 0, "openat /etc/passwd: opens on the host (got %ld)", r);
	if (r >= 0)
		close((int)r);

	r = raw(syscall(SYS_kill, victim, SIGKILL));
	if (guest)
		check(r == -ESRCH, "kill(host pid %d, SIGKILL): ESRCH (got %ld)",
		      (int)victim, r);
	else
		check(r == 0, "kill(pid %d, SIGKILL): 0 on the host (got %ld)",
		      (int)victim, r);

	struct stat st;
	r = raw(syscall(SYS_fstat, 3, &st));
	check(r == -EBADF, "fstat(3): EBADF, no descriptor 3 (got %ld)", r);
	r = raw(syscall(SYS_mmap, 0, PG, PROT_READ | PROT_WRITE, MAP_SHARED, 3, 0));
	check(r == -EBADF, "mmap of fd 3: EBADF (got %ld)", r);

	check(raw(syscall(400)) == -ENOSYS, "syscall 400: ENOSYS");
	check(raw(syscall(1000)) == -ENOSYS, "syscall 1000: ENOSYS");
	check(raw(syscall(-1)) == -ENOSYS, "syscall -1: ENOSYS");

	r = raw(syscall(SYS_mmap, STUB, 0x10000, PROT_READ | PROT_WRITE | PROT_EXEC,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	if (guest)
		expect_fail(r, "mmap MAP_FIXED over [0x7fffffff0000, +64 KiB)");
	else
		check(r == -ENOMEM, "mmap MAP_FIXED over [0x7fffffff0000, +64 KiB): ENOMEM (got %ld)", r);

	char *src = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED)
		die("mmap");
	memset(src, 'h', 0x10000);
	r = raw(syscall(SYS_mremap, src, 0x10000, 0x10000,
			MREMAP_MAYMOVE | MREMAP_FIXED, STUB));
	if (guest)
		expect_fail(r, "mremap MREMAP_FIXED onto [0x7fffffff0000, +64 KiB)");
	else
		check(r == -EINVAL, "mremap MREMAP_FIXED onto [0x7fffffff0000, +64 KiB): EINVAL (got %ld)", r);
	check(src[0] == 'h' && src[0xffff] == 'h', "the mremap source is intact");

	if (guest) {
		r = raw(syscall(SYS_mmap, STUB, PG, PROT_READ | PROT_WRITE | PROT_EXEC,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		expect_fail(r, "mmap MAP_FIXED of the stub's first page");
		r = raw(syscall(SYS_mmap, STUB + 4 * PG, PG, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		expect_fail(r, "mmap MAP_FIXED of the stub's shared page");
		r = raw(syscall(SYS_mmap, STUB - PG, 2 * PG, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		expect_fail(r, "mmap MAP_FIXED straddling the stub's start");
		r = raw(syscall(SYS_mremap, src, PG, PG,
				MREMAP_MAYMOVE | MREMAP_FIXED, STUB));
		expect_fail(r, "mremap MREMAP_FIXED onto the stub's first page");
		r = raw(syscall(SYS_mremap, src, PG, PG,
				MREMAP_MAYMOVE | MREMAP_FIXED, STUB + 4 * PG));
		expect_fail(r, "mremap MREMAP_FIXED onto the stub's shared page");
		check(src[0] == 'h', "the mremap source is still intact");
		r = raw(syscall(SYS_mprotect, STUB, 4 * PG,
				PROT_READ | PROT_WRITE | PROT_EXEC));
		expect_fail(r, "mprotect of the stub's code");
		syscall(SYS_munmap, STUB, 0xf000);
		syscall(SYS_madvise, STUB, 0xf000, MADV_DONTNEED);
		check(getpid() > 0 && raw(syscall(SYS_getppid)) >= 0,
		      "syscalls still work after munmap/madvise over the stub");
		char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		check(p != MAP_FAILED && (p[0] = 1) == 1, "faults still work too");
	}

	/* Last: natively this makes the parent our tracer. */
	r = raw(syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0));
	if (guest)
		check(r == -ENOSYS || r == -EPERM,
		      "ptrace(PTRACE_TRACEME): ENOSYS or EPERM (got %ld)", r);
	else
		check(r == 0, "ptrace(PTRACE_TRACEME): 0 on the host (got %ld)", r);
	return guest_exit();
}
