// SPDX-License-Identifier: MIT
/*
 * Guest code in a stub child (um/task.c over host/stub.c): it runs at its
 * own addresses in the child, its syscalls trap to the kernel (this
 * process) instead of reaching the host, and its faults come back as
 * events with the address and the access. The guest programs are a few
 * instructions of position-independent x86-64 assembly, kept in this
 * program's read-only data and copied into a frame mapped at a guest va.
 */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"
#include "host/stub.h"
#include "mm/mm.h"
#include "tests/tap.h"
#include "um/task.h"

#define PG    PAGE_SIZE
#define SPACE (64ULL << 20)
#define CODE  0x400000ULL
#define DATA  0x600000ULL

/* Guest programs: from label to label_end, run from their first byte. */
#define GUEST(name, text)                                             \
	__asm__(".pushsection .rodata.guest,\"a\"\n" #name ":\n" text \
		"\n" #name "_end:\n.popsection");                     \
	extern const char name[], name##_end[]

/* Stores rax (0x1234) at DATA, then ud2; rdx <- fs:0. */
GUEST(guest_store, "mov %fs:0, %rdx\n\t"
		   "mov $0x1234, %eax\n\t"
		   "mov $0x600000, %ebx\n\t"
		   "mov %rax, (%rbx)\n\t"
		   "ud2");

/*
 * write(1, msg, len); r12 <- openat(AT_FDCWD, "/etc/passwd", O_RDONLY);
 * a byte stored at 0x700000 (unmapped); exit_group(7).
 */
GUEST(guest_hello, "mov $1, %eax\n\t"
		   "mov $1, %edi\n\t"
		   "lea 1f(%rip), %rsi\n\t"
		   "mov $(2f - 1f), %edx\n\t"
		   "syscall\n\t"
		   "mov %rax, %r13\n\t"
		   "mov $257, %eax\n\t"
		   "mov $-100, %rdi\n\t"
		   "lea 2f(%rip), %rsi\n\t"
		   "xor %edx, %edx\n\t"
		   "syscall\n\t"
		   "mov %rax, %r12\n\t"
		   "mov $0x700000, %ebx\n\t"
		   "movb $0x5a, (%rbx)\n\t"
		   "mov $231, %eax\n\t"
		   "mov $7, %edi\n\t"
		   "syscall\n\t"
		   "ud2\n"
		   "1: .ascii \"hello from the guest\\n\"\n"
		   "2: .asciz \"/etc/passwd\"");

/* getppid() r15 times, then exit_group(rax of the last). */
GUEST(guest_getppid, "1: mov $110, %eax\n\t"
		     "syscall\n\t"
		     "dec %r15\n\t"
		     "jnz 1b\n\t"
		     "mov %rax, %rdi\n\t"
		     "mov $231, %eax\n\t"
		     "syscall\n\t"
		     "ud2");

/*
 * Writes i + 1 to the first byte of each of 64 pages at DATA, sums them
 * back into rdi and calls getpid; then stores into 0x800000 and 0x900000
 * (3-byte stores); exit_group(0x42).
 */
GUEST(guest_touch, "mov $0x600000, %ebx\n\t"
		   "mov $64, %ecx\n\t"
		   "mov $1, %al\n"
		   "1: mov %al, (%rbx)\n\t"
		   "inc %al\n\t"
		   "add $4096, %rbx\n\t"
		   "dec %ecx\n\t"
		   "jnz 1b\n\t"
		   "mov $0x600000, %ebx\n\t"
		   "mov $64, %ecx\n\t"
		   "xor %edx, %edx\n"
		   "2: movzbl (%rbx), %eax\n\t"
		   "add %eax, %edx\n\t"
		   "add $4096, %rbx\n\t"
		   "dec %ecx\n\t"
		   "jnz 2b\n\t"
		   "mov %rdx, %rdi\n\t"
		   "mov $39, %eax\n\t"
		   "syscall\n\t"
		   "mov $0x800000, %ebx\n\t"
		   "movb $1, (%rbx)\n\t"
		   "mov $0x900000, %ebx\n\t"
		   "movb $1, (%rbx)\n\t"
		   "mov $231, %eax\n\t"
		   "mov $0x42, %edi\n\t"
		   "syscall\n\t"
		   "ud2");

/* int $0x80 (i386 getpid), an x32 getpid, wrfsbase 0x500000; ud2 */
GUEST(guest_abi, "mov $20, %eax\n\t"
		 "int $0x80\n\t"
		 "mov $0x40000027, %eax\n\t"
		 "syscall\n\t"
		 "mov $0x500000, %eax\n\t"
		 "wrfsbase %rax\n\t"
		 "ud2");

/* One store into each of r15 pages from 0x1000000; exit_group(0). */
GUEST(guest_stream, "mov $0x1000000, %ebx\n"
		    "1: movb $1, (%rbx)\n\t"
		    "add $4096, %rbx\n\t"
		    "dec %r15\n\t"
		    "jnz 1b\n\t"
		    "xor %edi, %edi\n\t"
		    "mov $231, %eax\n\t"
		    "syscall\n\t"
		    "ud2");

/*
 * write(1, msg, len); read(0, DATA, 16); r12 <- the first 8 bytes read;
 * r13 <- write(1, 0x900000, 4) (unmapped); exit_group(0).
 */
GUEST(guest_io, "mov $1, %eax\n\t"
		"mov $1, %edi\n\t"
		"lea 1f(%rip), %rsi\n\t"
		"mov $(2f - 1f), %edx\n\t"
		"syscall\n\t"
		"xor %eax, %eax\n\t"
		"xor %edi, %edi\n\t"
		"mov $0x600000, %esi\n\t"
		"mov $16, %edx\n\t"
		"syscall\n\t"
		"mov 0x600000, %r12\n\t"
		"mov $1, %eax\n\t"
		"mov $1, %edi\n\t"
		"mov $0x900000, %esi\n\t"
		"mov $4, %edx\n\t"
		"syscall\n\t"
		"mov %rax, %r13\n\t"
		"xor %edi, %edi\n\t"
		"mov $231, %eax\n\t"
		"syscall\n\t"
		"ud2\n"
		"1: .ascii \"through the guest mm\\n\"\n"
		"2:");

/* A loop that never ends: r15 counts its rounds. */
GUEST(guest_spin, "1: inc %r15\n\t"
		  "jmp 1b");

/* openat through the stub's own syscall instruction at rbx. */
GUEST(guest_jump, "mov $257, %eax\n\t"
		  "mov $-100, %rdi\n\t"
		  "xor %esi, %esi\n\t"
		  "xor %edx, %edx\n\t"
		  "jmp *%rbx");

/*
 * ud2; then rax <- xmm0, rbx <- MXCSR (through DATA), xmm1 <- a pattern,
 * MXCSR <- 0x5f80 (rounding up); ud2.
 */
GUEST(guest_fpu, "ud2\n\t"
		 "movq %xmm0, %rax\n\t"
		 "stmxcsr 0x600000\n\t"
		 "mov 0x600000, %ebx\n\t"
		 "movabs $0x1122334455667788, %rcx\n\t"
		 "movq %rcx, %xmm1\n\t"
		 "movl $0x5f80, 0x600008\n\t"
		 "ldmxcsr 0x600008\n\t"
		 "ud2");

static struct host_as *space_new(struct phys *phys)
{
	struct host_as *as = host_as_new_stub(phys, SPACE);

	if (!as)
		BAIL_OUT("host_as_new_stub: %s", strerror(errno));
	return as;
}

/* A fresh frame mapped at @va with @prot; its pfn. */
static uint32_t map_frame(struct host_as *as, struct phys *phys, uint64_t va,
			  int prot)
{
	uint32_t pfn;

	if (phys_alloc(phys, 0, 1, &pfn) != 1)
		BAIL_OUT("phys_alloc");
	host_as_queue(as, HOST_OP_MAP, va, PG, (uint64_t)pfn << PAGE_SHIFT,
		      prot, 0);
	host_as_flush(as);
	return pfn;
}

/* @code copied into a frame mapped r-x at CODE. */
static uint32_t load_code(struct host_as *as, struct phys *phys,
			  const char *code, const char *end)
{
	uint32_t pfn;

	if (phys_alloc(phys, 0, 1, &pfn) != 1)
		BAIL_OUT("phys_alloc");
	memcpy(phys_kaddr(phys, pfn), code, (size_t)(end - code));
	host_as_queue(as, HOST_OP_MAP, CODE, PG, (uint64_t)pfn << PAGE_SHIFT,
		      PROT_READ | PROT_EXEC, 0);
	host_as_flush(as);
	return pfn;
}

/* The files the child holds, but the physical memory file. */
static int child_other_files(int pid)
{
	char name[64];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(name, sizeof(name), "/proc/%d/fd", pid);
	dir = opendir(name);
	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.' &&
		    atoi(de->d_name) != HOST_STUB_PHYS_FD)
			n++;
	closedir(dir);
	return n;
}

static void test_resume(struct phys *phys)
{
	struct host_as *as = space_new(phys);
	struct host_regs regs = {0};
	uint32_t code, data;
	struct um_event ev;
	uint64_t magic = 0x0123456789abcdefULL;
	uint64_t store;
	int err;

	code = load_code(as, phys, guest_store, guest_store_end);
	memcpy((char *)phys_kaddr(phys, code) + 0x800, &magic, 8);
	regs.rip = CODE;
	regs.r12 = 0xfeedf00d;
	regs.fs_base = CODE + 0x800;
	err = um_task_run(as, &regs, &ev);
	is(err, 0, "the guest runs in the child (no filter yet)");
	ok(ev.kind == UM_EVENT_FAULT && ev.addr == DATA &&
		   ev.access == PROT_WRITE && !ev.present,
	   "its store at an unmapped va: a write fault at %#llx",
	   (unsigned long long)ev.addr);
	ok(regs.rax == 0x1234 && regs.rbx == DATA && regs.r12 == 0xfeedf00d,
	   "with the guest's registers (rax %#llx), ours kept (r12)",
	   (unsigned long long)regs.rax);
	ok(regs.rdx == magic, "fs:0 read through the FS base we gave");
	ok(regs.rip == CODE + (guest_store_end - guest_store) - 5,
	   "rip at the faulting store");

	data = map_frame(as, phys, DATA, PROT_READ | PROT_WRITE);
	err = um_task_run(as, &regs, &ev);
	memcpy(&store, phys_kaddr(phys, data), 8);
	ok(!err && ev.kind == UM_EVENT_SIGNAL && ev.signo == SIGILL &&
		   regs.rip == CODE + (guest_store_end - guest_store) - 2,
	   "mapped by a batch, the store is retried and the guest reaches "
	   "its ud2 (SIGILL)");
	is(store, 0x1234, "the store landed in the frame");

	regs.rip = 0x900000;
	err = um_task_run(as, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_FAULT && ev.addr == 0x900000 &&
		   ev.access == PROT_EXEC,
	   "a jump to an unmapped va: an exec fault there");
	regs.rip = DATA; /* mapped, not executable */
	err = um_task_run(as, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_FAULT && ev.addr == DATA &&
		   ev.access == PROT_EXEC && ev.present,
	   "a jump into rw- memory: an exec fault on a present page");
	regs.rip = CODE;
	regs.rsp = DATA + PG;
	err = um_task_run(as, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SIGNAL && ev.signo == SIGILL,
	   "resumed again from the start: to ud2 (the page is mapped now)");

	host_as_free(as);
	phys_put(phys, code);
	phys_put(phys, data);
}

/* The guest's string at @va, read through the frame behind CODE. */
static const char *guest_str(struct phys *phys, uint32_t code, uint64_t va,
			     uint64_t len)
{
	if (va < CODE || va + len > CODE + PG)
		return NULL;
	return (const char *)phys_kaddr(phys, code) + (va - CODE);
}

static void test_syscalls(struct phys *phys)
{
	struct host_as *as = space_new(phys);
	int pid = host_stub_pid(as), fds[2];
	struct host_regs regs = {0};
	uint32_t code, data = 0;
	struct um_event ev;
	char out[64] = {0};
	const char *path = NULL;
	int err, exit_code = -1, files = -1, nr_events = 0;
	bool faulted = false, wrote = false;

	if (pipe(fds) < 0)
		BAIL_OUT("pipe");
	is(um_task_filter(as), 0, "the syscall filter is installed");
	code = load_code(as, phys, guest_hello, guest_hello_end);
	regs.rip = CODE;
	while (exit_code < 0 && nr_events < 10) {
		err = um_task_run(as, &regs, &ev);
		if (err) {
			diag("um_task_run: %s", strerror(-err));
			break;
		}
		nr_events++;
		if (ev.kind == UM_EVENT_SYSCALL && ev.nr == SYS_write) {
			const char *buf =
				guest_str(phys, code, ev.args[1], ev.args[2]);
			long ret = -EFAULT;

			if (buf && ev.args[0] == 1 && ev.args[2] < sizeof(out))
				ret = write(fds[1], buf, ev.args[2]);
			wrote = true;
			um_syscall_return(&regs, ret);
		} else if (ev.kind == UM_EVENT_SYSCALL && ev.nr == SYS_openat) {
			path = guest_str(phys, code, ev.args[1], 12);
			files = child_other_files(pid);
			um_syscall_return(&regs, -EACCES);
		} else if (ev.kind == UM_EVENT_SYSCALL &&
			   ev.nr == SYS_exit_group) {
			exit_code = (int)ev.args[0];
		} else if (ev.kind == UM_EVENT_FAULT && !faulted) {
			faulted = true;
			ok(ev.addr == 0x700000 && ev.access == PROT_WRITE,
			   "the store at 0x700000: a write fault there");
			data = map_frame(as, phys, 0x700000,
					 PROT_READ | PROT_WRITE);
		} else {
			diag("unexpected event %d (nr %ld, signal %d)", ev.kind,
			     ev.nr, ev.signo);
			break;
		}
	}
	ok(wrote && read(fds[0], out, sizeof(out) - 1) == 21 &&
		   !strcmp(out, "hello from the guest\n"),
	   "write(1, ..): a SYSCALL event; the kernel wrote the guest's "
	   "buffer, read through its frame");
	is(regs.r13, 21, "the guest got write's count back in rax");
	ok(path && !strcmp(path, "/etc/passwd"),
	   "openat(\"/etc/passwd\"): a SYSCALL event with the guest's path");
	is(files, 0, "the child never opened it (/proc/pid/fd)");
	is((long)regs.r12, -EACCES, "the guest got the kernel's answer");
	ok(faulted && data && ((uint8_t *)phys_kaddr(phys, data))[0] == 0x5a,
	   "after the fault was fixed, the guest's store landed");
	is(exit_code, 7, "exit_group(7): a SYSCALL event, the task ends");
	is(nr_events, 4, "4 events: write, openat, the fault, exit_group");

	close(fds[0]);
	close(fds[1]);
	host_as_free(as);
	phys_put(phys, code);
	if (data)
		phys_put(phys, data);
}

/* The address of a syscall instruction in the stub's code pages. */
static uint64_t stub_syscall_insn(void)
{
	uint64_t len, i;
	uint32_t entry;
	const uint8_t *p = host_stub_code(&len, &entry);

	for (i = 0; i + 1 < len; i++)
		if (p[i] == 0x0f && p[i + 1] == 0x05)
			return HOST_STUB_START + i;
	return 0;
}

static void test_hostile(struct phys *phys)
{
	struct host_as *as = space_new(phys);
	struct host_regs regs = {0};
	struct um_event ev;
	uint32_t code;
	int err;

	is(um_task_filter(as), 0, "filter");
	code = load_code(as, phys, guest_jump, guest_jump_end);
	regs.rip = CODE;
	regs.rbx = stub_syscall_insn();
	ok(regs.rbx, "a syscall instruction in the stub's code at %#llx",
	   (unsigned long long)regs.rbx);
	err = um_task_run(as, &regs, &ev);
	is(err, -ESRCH,
	   "openat made from the stub's code pages: the child is killed");
	host_as_free(as);
	phys_put(phys, code);
}

/* Calls of other ABIs trap too; the FS base the guest sets is seen. */
static void test_abi(struct phys *phys)
{
	struct host_as *as = space_new(phys);
	struct host_regs regs = {0};
	bool fsgsbase = getauxval(AT_HWCAP2) & 0x2 /* HWCAP2_FSGSBASE */;
	struct um_event ev;
	uint32_t code;
	int err;

	is(um_task_filter(as), 0, "filter");
	code = load_code(as, phys, guest_abi, guest_abi_end);
	regs.rip = CODE;
	err = um_task_run(as, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SYSCALL && ev.nr == -1,
	   "int $0x80: trapped, no syscall of ours (nr -1)");
	um_syscall_return(&regs, -ENOSYS);
	err = um_task_run(as, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SYSCALL && ev.nr == -1,
	   "an x32 syscall: trapped, nr -1");
	um_syscall_return(&regs, -ENOSYS);
	err = um_task_run(as, &regs, &ev);
	if (!fsgsbase) {
		ok(!err && ev.kind == UM_EVENT_SIGNAL && ev.signo == SIGILL &&
			   regs.rip == CODE + (guest_abi_end - guest_abi) - 7,
		   "no FSGSBASE here: wrfsbase raises SIGILL");
	} else {
		ok(!err && ev.kind == UM_EVENT_SIGNAL && ev.signo == SIGILL &&
			   regs.fs_base == 0x500000,
		   "the FS base the guest wrote (wrfsbase) comes back in "
		   "the registers");
	}
	host_as_free(as);
	phys_put(phys, code);
}

static void *interrupt_later(void *arg)
{
	struct timespec ts = {.tv_nsec = 20 * 1000 * 1000};

	nanosleep(&ts, NULL);
	return (void *)(intptr_t)host_stub_interrupt(arg);
}

/* A guest that never traps is stopped from another thread. */
static void test_interrupt(struct phys *phys)
{
	struct host_as *as = space_new(phys);
	struct host_regs regs = {0};
	struct um_event ev;
	uint64_t rounds;
	pthread_t t;
	void *ret;
	uint32_t code;
	int err;

	is(um_task_filter(as), 0, "filter");
	code = load_code(as, phys, guest_spin, guest_spin_end);
	regs.rip = CODE;
	if (pthread_create(&t, NULL, interrupt_later, as))
		BAIL_OUT("pthread_create");
	err = um_task_run(as, &regs, &ev);
	pthread_join(t, &ret);
	ok(!ret && !err && ev.kind == UM_EVENT_INTERRUPT && regs.rip >= CODE &&
		   regs.rip < CODE + 5 && regs.r15 > 1000,
	   "a guest in an endless loop, interrupted from another thread "
	   "after %llu rounds",
	   (unsigned long long)regs.r15);
	rounds = regs.r15;
	is(host_stub_interrupt(as), 0, "an interrupt while it is stopped");
	err = um_task_run(as, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_INTERRUPT && regs.r15 - rounds < 1000,
	   "takes effect as soon as it resumes (%llu rounds)",
	   (unsigned long long)(regs.r15 - rounds));
	host_as_free(as);
	phys_put(phys, code);
}

/* The FPU state's fields the tests below read and write. */
#define FPU_FCW	  0
#define FPU_MXCSR 24
#define FPU_XMM0  160
#define FPU_XMM1  176
#define FPU_SW	  464
#define FPU_BV	  512

static uint64_t fpu_u64(const uint8_t *buf, size_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, 8);
	return v;
}

static void fpu_put(uint8_t *buf, size_t off, uint64_t v, size_t len)
{
	memcpy(buf + off, &v, len);
}

/* Run guest_fpu from its second part: 0 when it reached its last ud2. */
static int fpu_run(struct host_as *as, struct host_regs *regs)
{
	struct um_event ev;
	int err;

	regs->rip = CODE + 2;
	err = um_task_run(as, regs, &ev);
	if (err)
		return err;
	return ev.kind == UM_EVENT_SIGNAL && ev.signo == SIGILL &&
			       regs->rip ==
				       CODE + (guest_fpu_end - guest_fpu) - 2
		       ? 0
		       : -EIO;
}

/*
 * host_stub_fpu_get/set: a state set before the first run and at a
 * resume reaches the guest's registers, what the guest changes comes back,
 * and no state a guest could write harms the child.
 */
static void test_fpu(struct phys *phys)
{
	static uint8_t buf[HOST_STUB_FPU_MAX], saved[HOST_STUB_FPU_MAX],
		bad[HOST_STUB_FPU_MAX];
	size_t n = host_fpu_size(), len = sizeof(buf), small = 100;
	struct host_regs regs = {0};
	struct host_as *as;
	struct um_event ev;
	uint32_t code, data;
	unsigned int i, taken = 0, refused = 0, survived = 0;
	uint64_t trips;
	int err;

	if (!n) {
		ok(1, "# SKIP the host has no xsave");
		return;
	}
	as = space_new(phys);
	code = load_code(as, phys, guest_fpu, guest_fpu_end);
	data = map_frame(as, phys, DATA, PROT_READ | PROT_WRITE);
	is(host_stub_fpu_get(as, buf, &small), -ENOSPC,
	   "fpu_get into 100 bytes: -ENOSPC");
	is(small, n, "saying how many it needs (%zu)", n);
	err = host_stub_fpu_get(as, buf, &len);
	ok(!err && len == n && (uint32_t)fpu_u64(buf, FPU_MXCSR) == 0x1f80 &&
		   (uint16_t)fpu_u64(buf, FPU_FCW) == 0x37f,
	   "before the first run: a new process's state (MXCSR 0x1f80, "
	   "FCW 0x37f)");

	/* xstate_bv's SSE bit: else xrstor gives the xmm registers afresh. */
	buf[FPU_BV] |= 0x2;
	fpu_put(buf, FPU_XMM0, 0xa0a0a0a0a0a0a0a0ULL, 8);
	fpu_put(buf, FPU_MXCSR, 0x3f80, 4);
	is(host_stub_fpu_set(as, buf, n), 0, "fpu_set before the first run");
	memset(buf, 0, n);
	err = host_stub_fpu_get(as, buf, &len);
	ok(!err && fpu_u64(buf, FPU_XMM0) == 0xa0a0a0a0a0a0a0a0ULL,
	   "fpu_get gives back the state set, not yet taken");
	regs.rip = CODE;
	err = um_task_run(as, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SIGNAL && ev.signo == SIGILL,
	   "the guest runs to its first ud2");
	is(fpu_run(as, &regs), 0, "and to its last");
	ok(regs.rax == 0xa0a0a0a0a0a0a0a0ULL && regs.rbx == 0x3f80,
	   "it started with the xmm0 and MXCSR set (%#llx, %#llx)",
	   (unsigned long long)regs.rax, (unsigned long long)regs.rbx);
	err = host_stub_fpu_get(as, buf, &len);
	ok(!err && fpu_u64(buf, FPU_XMM1) == 0x1122334455667788ULL &&
		   (uint32_t)fpu_u64(buf, FPU_MXCSR) == 0x5f80 &&
		   fpu_u64(buf, FPU_XMM0) == 0xa0a0a0a0a0a0a0a0ULL,
	   "fpu_get after it changed xmm1 and MXCSR: the guest's own");
	memcpy(saved, buf, n);

	fpu_put(buf, FPU_XMM0, 0xb0b0b0b0b0b0b0b0ULL, 8);
	fpu_put(buf, FPU_MXCSR, 0x1f80, 4);
	is(host_stub_fpu_set(as, buf, n), 0, "fpu_set while it is stopped");
	trips = as->stats.round_trips;
	is(fpu_run(as, &regs), 0, "it runs on");
	ok(regs.rax == 0xb0b0b0b0b0b0b0b0ULL && regs.rbx == 0x1f80,
	   "with the state set (%#llx, %#llx)", (unsigned long long)regs.rax,
	   (unsigned long long)regs.rbx);
	is(as->stats.round_trips - trips, 1,
	   "carried by the resume: no round trip of its own");

	memcpy(bad, saved, n);
	fpu_put(bad, FPU_MXCSR, 0x80001f80, 4);
	is(host_stub_fpu_set(as, bad, n), -EINVAL,
	   "a reserved MXCSR bit: -EINVAL");
	memcpy(bad, saved, n);
	bad[FPU_BV + 7] |= 0x40;
	is(host_stub_fpu_set(as, bad, n), -EINVAL, "xstate_bv bit 62: -EINVAL");
	memcpy(bad, saved, n);
	bad[FPU_BV + 8] = 1;
	is(host_stub_fpu_set(as, bad, n), -EINVAL, "xcomp_bv 1: -EINVAL");
	is(host_stub_fpu_set(as, saved, 100), -EINVAL, "100 bytes: -EINVAL");
	is(fpu_run(as, &regs), 0, "it runs on");
	ok(regs.rax == 0xb0b0b0b0b0b0b0b0ULL && regs.rbx == 0x5f80,
	   "with its own state: the refused ones changed nothing");

	memcpy(bad, saved, n);
	memset(bad + FPU_SW, 0, 4);
	fpu_put(bad, FPU_XMM0, 0xc0c0c0c0c0c0c0c0ULL, 8);
	is(host_stub_fpu_set(as, bad, 512), 0,
	   "no FP_XSTATE_MAGIC1: taken, 512 bytes");
	ok(!fpu_run(as, &regs) && regs.rax == 0xc0c0c0c0c0c0c0c0ULL &&
		   regs.rbx == 0x5f80,
	   "its legacy part reaches the guest");
	is(host_stub_fpu_set(as, NULL, 0), 0, "fpu_set of the initial state");
	ok(!fpu_run(as, &regs) && regs.rax == 0 && regs.rbx == 0x1f80,
	   "xmm0 0 and MXCSR 0x1f80 again");

	srand(6);
	for (i = 0; i < 300; i++) {
		unsigned int j, flips = 1 + (unsigned int)rand() % 8;

		memcpy(bad, saved, n);
		for (j = 0; j < flips; j++)
			bad[(size_t)rand() % (rand() % 2 ? 640 : n)] ^=
				(uint8_t)(1 + rand() % 255);
		if (host_stub_fpu_set(as, bad, n)) {
			refused++;
			continue;
		}
		taken++;
		if (!fpu_run(as, &regs))
			survived++;
	}
	ok(taken + refused == 300 && survived == taken,
	   "300 damaged states: %u refused, %u taken, the guest ran on with "
	   "each",
	   refused, taken);
	host_as_free(as);
	phys_put(phys, code);
	phys_put(phys, data);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

#define ROUNDS 2000

/* Pin this thread and the child to CPUs @a and @b (-1: any). */
static int pin(int child, int a, int b)
{
	cpu_set_t set;
	int i, c, err = 0;

	for (i = 0; i < 2; i++) {
		int cpu = i ? b : a;

		CPU_ZERO(&set);
		for (c = 0; c < CPU_SETSIZE; c++)
			if (cpu < 0 || c == cpu)
				CPU_SET(c, &set);
		err |= sched_setaffinity(i ? child : 0, sizeof(set), &set);
	}
	return err;
}

/*
 * The median round trip of a trapped getppid, resume to the next trap, in
 * ns, with both sides on CPUs @a and @b (-1: any); 0 if pinning failed.
 * *right: every call was trapped and answered.
 */
static double trap_ns(struct phys *phys, int a, int b, bool *right)
{
	static double t[ROUNDS];
	struct host_as *as = space_new(phys);
	struct host_regs regs = {0};
	struct um_event ev;
	uint32_t code;
	int n = 0, err = 0;
	double median = 0;

	*right = !um_task_filter(as);
	code = load_code(as, phys, guest_getppid, guest_getppid_end);
	regs.rip = CODE;
	regs.r15 = ROUNDS;
	if (pin(host_stub_pid(as), a, b))
		goto out;
	for (;;) {
		double t0 = now_ns();

		err = um_task_run(as, &regs, &ev);
		if (err || ev.kind != UM_EVENT_SYSCALL)
			break;
		if (n && n <= ROUNDS)
			t[n - 1] = now_ns() - t0; /* one guest round trip */
		if (ev.nr != SYS_getppid)
			break;
		if (regs.r15 != (uint64_t)(ROUNDS - n))
			*right = false;
		n++;
		um_syscall_return(&regs, 4242);
	}
	if (err || ev.kind != UM_EVENT_SYSCALL || ev.nr != SYS_exit_group ||
	    ev.args[0] != 4242 || n != ROUNDS)
		*right = false;
	qsort(t, ROUNDS - 1, sizeof(double), cmp_double);
	median = t[(ROUNDS - 1) / 2];
out:
	pin(0, -1, -1);
	host_as_free(as);
	phys_put(phys, code);
	return median;
}

static void test_cost(struct phys *phys)
{
	static double native[ROUNDS];
	bool right, all = true;
	double one, two, any, nat;
	int i;

	one = trap_ns(phys, 0, 0, &right);
	all &= right || !one;
	two = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? trap_ns(phys, 0, 1, &right)
						: 0;
	all &= right || !two;
	any = trap_ns(phys, -1, -1, &right);
	all &= right;
	ok(all,
	   "%d getppid calls trapped, each answered by the kernel, "
	   "3 times",
	   ROUNDS);
	for (i = 0; i < ROUNDS; i++) {
		double t0 = now_ns();

		syscall(SYS_getppid);
		native[i] = now_ns() - t0;
	}
	qsort(native, ROUNDS, sizeof(double), cmp_double);
	nat = native[ROUNDS / 2];
	diag("trapped getppid, resume to next trap, medians of %d: one CPU "
	     "%.2f us, two CPUs %.2f us, unpinned %.2f us; native getppid "
	     "%.3f us (unpinned: %.0fx)",
	     ROUNDS, one / 1e3, two / 1e3, any / 1e3, nat / 1e3, any / nat);
}

#define PRIV_ANON (MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)

/*
 * guest_touch in @mm: its code at CODE (written through GUP, then r-x),
 * 64 data pages at DATA and a read-only page at 0x800000. 0, or the
 * number of the step that failed.
 */
static int touch_guest_load(struct mm *mm)
{
	struct page *page;

	if (mm_mmap(mm, CODE, PG, PROT_READ | PROT_WRITE, PRIV_ANON, NULL, 0) !=
	    (long)CODE)
		return 1;
	if (mm_mmap(mm, DATA, 64 * PG, PROT_READ | PROT_WRITE, PRIV_ANON, NULL,
		    0) != (long)DATA)
		return 2;
	if (mm_mmap(mm, 0x800000, PG, PROT_READ, PRIV_ANON, NULL, 0) !=
	    0x800000)
		return 3;
	if (mm_gup(mm, CODE, 1, UMM_FOLL_WRITE | UMM_FOLL_GET, &page) != 1)
		return 4;
	memcpy(page_kaddr(page), guest_touch,
	       (size_t)(guest_touch_end - guest_touch));
	page_put(page);
	return mm_mprotect(mm, CODE, PG, PROT_READ | PROT_EXEC) ? 5 : 0;
}

/*
 * A guest mm over a stub space: its faults go to mm_handle_fault, whose
 * batches map the pages in the child while the stub waits in its handler.
 */
static void test_mm(void)
{
	struct mem *mem = mem_new(256 * PG);
	struct host_regs regs = {0};
	struct host_as *as;
	struct um_event ev;
	struct phys *phys;
	struct mm *mm;
	int err;

	if (!mem)
		BAIL_OUT("mem_new: %s", strerror(errno));
	phys = mem_phys(mem);
	as = space_new(phys);
	mm = mm_new(mem, as, SPACE);
	if (!mm)
		BAIL_OUT("mm_new: %s", strerror(errno));
	is(um_task_filter(as), 0, "an mm over a stub space; filter");
	is(touch_guest_load(mm), 0,
	   "code, 64 data pages and a read-only page mapped in the mm; the "
	   "code, written through GUP, made r-x");

	regs.rip = CODE;
	err = um_task_run_mm(mm, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SYSCALL && ev.nr == SYS_getpid &&
		   ev.args[0] == 64 * 65 / 2,
	   "the guest wrote 64 pages and read them back (sum %llu) on "
	   "faults the mm fixed",
	   (unsigned long long)ev.args[0]);
	ok(ev.nr_faults >= 2 && ev.nr_faults <= 65,
	   "%lu faults fixed on the way (code, data; fault-around)",
	   ev.nr_faults);
	is(mm_check_host(mm), 0, "the child's mappings agree with the ptes");

	um_syscall_return(&regs, 1);
	err = um_task_run_mm(mm, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_FAULT && ev.addr == 0x800000 &&
		   ev.access == PROT_WRITE && ev.signo == SIGSEGV &&
		   ev.code == SEGV_ACCERR,
	   "a store into the read-only vma: refused, SIGSEGV/SEGV_ACCERR");
	regs.rip += 3; /* the guest "handles" it: past the store */
	err = um_task_run_mm(mm, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_FAULT && ev.addr == 0x900000 &&
		   ev.signo == SIGSEGV && ev.code == SEGV_MAPERR,
	   "a store outside any vma: SIGSEGV/SEGV_MAPERR");
	regs.rip += 3;
	err = um_task_run_mm(mm, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SYSCALL && ev.nr == SYS_exit_group &&
		   ev.args[0] == 0x42,
	   "and the guest goes on to exit_group(0x42)");

	mm_put(mm);
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "mm_put: every frame of the mm is free again");
	mem_put(mem);
}

/*
 * host_stub_set_defer: a fault's batch rides on the resume that follows
 * it, one round trip a fault; the child's mappings agree with the ptes
 * once a walk has carried out what waits; a batch that fails at the
 * resume resets the space and the guest goes on, refaulting.
 */
static void test_defer(void)
{
	struct mem *mem = mem_new(256 * PG);
	struct host_regs regs = {0};
	uint64_t trips, resets;
	struct host_as *as;
	struct um_event ev;
	struct phys *phys;
	struct mm *mm;
	int err;

	if (!mem)
		BAIL_OUT("mem_new: %s", strerror(errno));
	phys = mem_phys(mem);
	as = space_new(phys);
	mm = mm_new(mem, as, SPACE);
	if (!mm || um_task_filter(as) || mm_set_fault_around(mm, 1))
		BAIL_OUT("mm_new: %s", strerror(errno));
	host_stub_set_defer(as, true);
	trips = as->stats.round_trips;
	if (touch_guest_load(mm))
		BAIL_OUT("touch_guest_load");
	is(as->stats.round_trips - trips, 0,
	   "before the first run too: loading the code waits for the first "
	   "resume");

	regs.rip = CODE;
	err = um_task_run_mm(mm, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SYSCALL && ev.args[0] == 64 * 65 / 2,
	   "deferred batches: the guest wrote and read back its 64 pages");
	ok(ev.nr_faults >= 64 &&
		   as->stats.round_trips - trips <= ev.nr_faults + 1,
	   "%llu round trips for %lu faults and the event: one a fault",
	   (unsigned long long)(as->stats.round_trips - trips), ev.nr_faults);
	is(mm_check_host(mm), 0,
	   "the child's mappings agree with the ptes (a walk carries out "
	   "what waits first)");

	/* A batch that fails at the resume: a file offset mmap refuses. */
	resets = as->stats.resets;
	host_as_queue(as, HOST_OP_MAP, 0x700000, PG, 1, PROT_READ, 0);
	host_as_flush(as);
	um_syscall_return(&regs, 1);
	err = um_task_run_mm(mm, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_FAULT && ev.addr == 0x800000 &&
		   ev.signo == SIGSEGV,
	   "a batch that failed at the resume: the guest still goes on");
	is(as->stats.resets - resets, 1, "after one reset of the space");
	is(mm_check_host(mm), 0, "and the child's mappings agree again");

	host_stub_set_defer(as, false);
	mm_put(mm);

	/* One that fails at the first resume: the same, from a fresh space. */
	as = space_new(phys);
	mm = mm_new(mem, as, SPACE);
	if (!mm || um_task_filter(as) || mm_set_fault_around(mm, 1))
		BAIL_OUT("mm_new: %s", strerror(errno));
	host_stub_set_defer(as, true);
	if (touch_guest_load(mm))
		BAIL_OUT("touch_guest_load");
	host_as_queue(as, HOST_OP_MAP, 0x700000, PG, 1, PROT_READ, 0);
	host_as_flush(as);
	resets = as->stats.resets;
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE;
	err = um_task_run_mm(mm, &regs, &ev);
	ok(!err && ev.kind == UM_EVENT_SYSCALL && ev.args[0] == 64 * 65 / 2,
	   "a batch that failed at the first resume: the guest runs, "
	   "refaulting its code");
	is(as->stats.resets - resets, 1, "after one reset of the space");
	is(mm_check_host(mm), 0, "and the child's mappings agree");
	host_stub_set_defer(as, false);
	mm_put(mm);
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "every frame of the mms is free again");
	mem_put(mem);
}

/*
 * A kernel's write and read: the guest's buffers reached through its mm
 * (um_copy_from_guest, um_copy_to_guest), not through frames we know.
 */
static void test_copy(void)
{
	struct mem *mem = mem_new(64 * PG);
	struct host_regs regs = {0};
	struct um_event ev;
	struct page *page;
	char out[64] = {0}, buf[32];
	struct mm *mm;
	int err = 0, events = 0;
	uint64_t r12;

	if (!mem)
		BAIL_OUT("mem_new: %s", strerror(errno));
	mm = mm_new(mem, space_new(mem_phys(mem)), SPACE);
	if (!mm || um_task_filter(mm_host_as(mm)) ||
	    mm_mmap(mm, CODE, PG, PROT_READ | PROT_EXEC, PRIV_ANON, NULL, 0) !=
		    (long)CODE ||
	    mm_mmap(mm, DATA, PG, PROT_READ | PROT_WRITE, PRIV_ANON, NULL, 0) !=
		    (long)DATA ||
	    mm_gup(mm, CODE, 1, UMM_FOLL_WRITE | UMM_FOLL_FORCE | UMM_FOLL_GET,
		   &page) != 1)
		BAIL_OUT("test_copy: setup");
	memcpy(page_kaddr(page), guest_io, (size_t)(guest_io_end - guest_io));
	page_put(page);
	regs.rip = CODE;
	while (!err && events++ < 8) {
		err = um_task_run_mm(mm, &regs, &ev);
		if (err || ev.kind != UM_EVENT_SYSCALL)
			break;
		if (ev.nr == SYS_exit_group)
			break;
		if (ev.nr == SYS_write && ev.args[2] <= sizeof(buf)) {
			size_t left = um_copy_from_guest(mm, buf, ev.args[1],
							 ev.args[2]);

			if (!left)
				memcpy(out + strlen(out), buf, ev.args[2]);
			um_syscall_return(&regs,
					  left ? -EFAULT : (long)ev.args[2]);
		} else if (ev.nr == SYS_read && ev.args[2] == 16) {
			size_t left = um_copy_to_guest(mm, ev.args[1],
						       "0123456789abcdef", 16);

			um_syscall_return(&regs, left ? -EFAULT : 16);
		} else {
			um_syscall_return(&regs, -ENOSYS);
		}
	}
	memcpy(&r12, "01234567", 8);
	ok(!err && ev.kind == UM_EVENT_SYSCALL && ev.nr == SYS_exit_group,
	   "the guest ran to exit_group");
	is(strcmp(out, "through the guest mm\n"), 0,
	   "write: the kernel read the guest's buffer through its mm");
	ok(regs.r12 == r12,
	   "read: the kernel wrote into a page the guest had not touched, "
	   "the guest read it back");
	is((long)regs.r13, -EFAULT, "write of an unmapped buffer: -EFAULT");
	mm_put(mm);
	mem_put(mem);
}

#define FAULT_PAGES 512

/*
 * The guest touches FAULT_PAGES fresh pages, with fault-around @around:
 * the time per page in ns, and the faults taken in *faults.
 */
static double fault_ns(unsigned int around, unsigned long *faults)
{
	struct mem *mem = mem_new((FAULT_PAGES + 64) * PG);
	struct host_regs regs = {0};
	struct page *page;
	struct um_event ev;
	struct mm *mm;
	double t0, t;
	int err;

	if (!mem)
		BAIL_OUT("mem_new: %s", strerror(errno));
	mm = mm_new(mem, space_new(mem_phys(mem)), SPACE);
	if (!mm || um_task_filter(mm_host_as(mm)) ||
	    mm_set_fault_around(mm, around) ||
	    mm_mmap(mm, CODE, PG, PROT_READ | PROT_WRITE | PROT_EXEC, PRIV_ANON,
		    NULL, 0) != (long)CODE ||
	    mm_mmap(mm, 0x1000000, FAULT_PAGES * PG, PROT_READ | PROT_WRITE,
		    PRIV_ANON, NULL, 0) != 0x1000000 ||
	    mm_gup(mm, CODE, 1, UMM_FOLL_WRITE | UMM_FOLL_GET, &page) != 1)
		BAIL_OUT("fault_ns: setup");
	memcpy(page_kaddr(page), guest_stream,
	       (size_t)(guest_stream_end - guest_stream));
	page_put(page);
	/* The code page in the child first (if GUP left it out): at ud2. */
	regs.rip = CODE + (guest_stream_end - guest_stream) - 2;
	err = um_task_run_mm(mm, &regs, &ev);
	if (!err && (ev.kind != UM_EVENT_SIGNAL || ev.signo != SIGILL))
		err = -EIO;
	regs.rip = CODE;
	regs.r15 = FAULT_PAGES;
	t0 = now_ns();
	err |= um_task_run_mm(mm, &regs, &ev);
	t = now_ns() - t0;
	*faults = ev.nr_faults;
	if (err || ev.kind != UM_EVENT_SYSCALL || ev.nr != SYS_exit_group)
		*faults = 0;
	mm_put(mm);
	mem_put(mem);
	return t / FAULT_PAGES;
}

/* Native: the host's fault on fresh anonymous and shmem pages, per page. */
static double native_fault_ns(bool shared)
{
	volatile char *p;
	double t0, t;
	int i;

	p = mmap(NULL, FAULT_PAGES * PG, PROT_READ | PROT_WRITE,
		 (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		BAIL_OUT("mmap");
	t0 = now_ns();
	for (i = 0; i < FAULT_PAGES; i++)
		p[i * PG] = 1;
	t = now_ns() - t0;
	munmap((void *)p, FAULT_PAGES * PG);
	return t / FAULT_PAGES;
}

static void test_fault_cost(void)
{
	unsigned long f1, f16;
	double one = fault_ns(1, &f1), around = fault_ns(16, &f16);

	ok(f1 == FAULT_PAGES && f16 >= 1 && f16 < FAULT_PAGES,
	   "%d pages touched: %lu faults without fault-around, %lu with 16",
	   FAULT_PAGES, f1, f16);
	diag("guest page fault through the stub, per page touched: %.2f us "
	     "(a fault each), %.2f us (fault-around 16); native first touch "
	     "%.2f us anonymous, %.2f us shmem",
	     one / 1e3, around / 1e3, native_fault_ns(false) / 1e3,
	     native_fault_ns(true) / 1e3);
}

int main(void)
{
	struct phys *phys = phys_new(256 * PG);

	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	test_resume(phys);
	test_syscalls(phys);
	test_hostile(phys);
	test_abi(phys);
	test_interrupt(phys);
	test_fpu(phys);
	test_cost(phys);
	test_mm();
	test_defer();
	test_copy();
	test_fault_cost();
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "every frame of physical memory is free again");
	phys_free(phys);
	return done_testing();
}
