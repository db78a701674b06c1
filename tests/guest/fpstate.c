// SPDX-License-Identifier: MIT
/*
 * fpstate MODE: the registers a guest keeps across what the kernel does
 * behind its back, as Linux keeps them.
 *
 *   regs    every register the syscall ABI preserves (all but rax, rcx,
 *           r11), and xmm registers, across syscalls (known and unknown)
 *           and across a page fault the kernel mends without a signal;
 *   signal  xmm registers and the SSE control word (MXCSR: the rounding
 *           mode) across a SIGSEGV handler that changes them: the signal
 *           frame saves them and rt_sigreturn puts them back;
 *   fork    the rounding mode (MXCSR and the x87 control word) set before
 *           fork is the child's too.
 *
 * x86-64 only: inline assembly on globals, so no register allocation
 * can get in the way.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "guest.h"

#define NREGS 12
static const char *const reg_names[NREGS] = {
	"rbx", "rbp", "rdx", "rsi", "rdi", "r8", "r9", "r10",
	"r12", "r13", "r14", "r15",
};

/* Read by the assembly below: keep the names. */
uint64_t fp_in[NREGS + 2], fp_out[NREGS + 2];
uint64_t fp_nr;
char *fp_addr;

/* Load rbx..r15 and xmm7/xmm9 from fp_in, syscall fp_nr, store them to fp_out. */
static void syscall_with_regs(void)
{
	__asm__ volatile(
		"push %%rbp\n\tpush %%rbx\n\tpush %%r12\n\tpush %%r13\n\t"
		"push %%r14\n\tpush %%r15\n\t"
		"movq fp_in+96(%%rip), %%xmm7\n\tmovq fp_in+104(%%rip), %%xmm9\n\t"
		"movq fp_in+0(%%rip), %%rbx\n\tmovq fp_in+8(%%rip), %%rbp\n\t"
		"movq fp_in+16(%%rip), %%rdx\n\tmovq fp_in+24(%%rip), %%rsi\n\t"
		"movq fp_in+32(%%rip), %%rdi\n\tmovq fp_in+40(%%rip), %%r8\n\t"
		"movq fp_in+48(%%rip), %%r9\n\tmovq fp_in+56(%%rip), %%r10\n\t"
		"movq fp_in+64(%%rip), %%r12\n\tmovq fp_in+72(%%rip), %%r13\n\t"
		"movq fp_in+80(%%rip), %%r14\n\tmovq fp_in+88(%%rip), %%r15\n\t"
		"movq fp_nr(%%rip), %%rax\n\t"
		"syscall\n\t"
		"movq %%rbx, fp_out+0(%%rip)\n\tmovq %%rbp, fp_out+8(%%rip)\n\t"
		"movq %%rdx, fp_out+16(%%rip)\n\tmovq %%rsi, fp_out+24(%%rip)\n\t"
		"movq %%rdi, fp_out+32(%%rip)\n\tmovq %%r8, fp_out+40(%%rip)\n\t"
		"movq %%r9, fp_out+48(%%rip)\n\tmovq %%r10, fp_out+56(%%rip)\n\t"
		"movq %%r12, fp_out+64(%%rip)\n\tmovq %%r13, fp_out+72(%%rip)\n\t"
		"movq %%r14, fp_out+80(%%rip)\n\tmovq %%r15, fp_out+88(%%rip)\n\t"
		"movq %%xmm7, fp_out+96(%%rip)\n\tmovq %%xmm9, fp_out+104(%%rip)\n\t"
		"pop %%r15\n\tpop %%r14\n\tpop %%r13\n\tpop %%r12\n\t"
		"pop %%rbx\n\tpop %%rbp\n\t"
		:
		:
		: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "xmm7", "xmm9", "memory");
}

/* Load r12..r15 and xmm7/xmm9 from fp_in, write one byte at fp_addr, store them. */
static void store_with_regs(void)
{
	__asm__ volatile(
		"push %%r12\n\tpush %%r13\n\tpush %%r14\n\tpush %%r15\n\t"
		"movq fp_in+96(%%rip), %%xmm7\n\tmovq fp_in+104(%%rip), %%xmm9\n\t"
		"movq fp_in+64(%%rip), %%r12\n\tmovq fp_in+72(%%rip), %%r13\n\t"
		"movq fp_in+80(%%rip), %%r14\n\tmovq fp_in+88(%%rip), %%r15\n\t"
		"movq fp_addr(%%rip), %%rax\n\t"
		"movb $1, (%%rax)\n\t"
		"movq %%r12, fp_out+64(%%rip)\n\tmovq %%r13, fp_out+72(%%rip)\n\t"
		"movq %%r14, fp_out+80(%%rip)\n\tmovq %%r15, fp_out+88(%%rip)\n\t"
		"movq %%xmm7, fp_out+96(%%rip)\n\tmovq %%xmm9, fp_out+104(%%rip)\n\t"
		"pop %%r15\n\tpop %%r14\n\tpop %%r13\n\tpop %%r12\n\t"
		:
		:
		: "rax", "xmm7", "xmm9", "memory");
}

static void fill_in(void)
{
	for (int i = 0; i < NREGS + 2; i++)
		fp_in[i] = 0x0101010101010101ULL * (uint64_t)(i + 1);
	memset(fp_out, 0, sizeof(fp_out));
}

static int same(int first, int last, const char *what)
{
	int ok = 1;

	for (int i = first; i <= last; i++) {
		if (fp_in[i] == fp_out[i])
			continue;
		say("fpstate: %s: %s is %#llx, was %#llx\n", what,
		    i < NREGS ? reg_names[i] : i == NREGS ? "xmm7" : "xmm9",
		    (unsigned long long)fp_out[i], (unsigned long long)fp_in[i]);
		ok = 0;
	}
	return ok;
}

static void test_regs(void)
{
	static const struct {
		long nr;
		const char *name;
	} calls[] = {
		{SYS_getpid, "getpid"},
		{SYS_getppid, "getppid"},
		{SYS_sched_yield, "sched_yield"},
		{400, "unknown syscall 400"},
	};

	for (unsigned int i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		fill_in();
		fp_nr = (uint64_t)calls[i].nr;
		syscall_with_regs();
		check(same(0, NREGS + 1, calls[i].name),
		      "%s keeps rbx, rbp, rdx, rsi, rdi, r8-r10, r12-r15, xmm7, xmm9",
		      calls[i].name);
	}
	fp_addr = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fp_addr == MAP_FAILED)
		die("mmap");
	fill_in();
	store_with_regs();
	check(same(8, NREGS + 1, "first touch") && fp_addr[0] == 1,
	      "a first-touch fault keeps r12-r15, xmm7, xmm9");
}

static uint32_t mxcsr_get(void)
{
	uint32_t v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void mxcsr_set(uint32_t v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static uint16_t fpucw_get(void)
{
	uint16_t v;

	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void fpucw_set(uint16_t v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}

#define MXCSR_RC_DOWN (1u << 13)
#define MXCSR_RC_MASK (3u << 13)

static volatile int handled;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	handled++;
	/* What a handler's memset or printf("%f") may leave behind. */
	__asm__ volatile("pxor %%xmm7, %%xmm7\n\tpxor %%xmm9, %%xmm9" ::: "xmm7", "xmm9");
	mxcsr_set((mxcsr_get() & ~MXCSR_RC_MASK) | (3u << 13));
	mprotect((void *)((uintptr_t)si->si_addr & ~4095UL), 4096,
		 PROT_READ | PROT_WRITE);
}

static void test_signal(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		die("sigaction");
	fp_addr = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fp_addr == MAP_FAILED)
		die("mmap");
	uint32_t before = (mxcsr_get() & ~MXCSR_RC_MASK) | MXCSR_RC_DOWN;
	mxcsr_set(before);
	fill_in();
	store_with_regs();
	uint32_t after = mxcsr_get();
	mxcsr_set(before & ~MXCSR_RC_MASK);
	check(handled == 1 && fp_addr[0] == 1, "the handler ran once, the store landed");
	check(same(8, NREGS - 1, "handler"), "r12-r15 across a handler that changes them");
	check(same(NREGS, NREGS + 1, "handler"),
	      "xmm7, xmm9 across a handler that zeroes them");
	check(after == before, "MXCSR, rounding down, across a handler that changes it (%#x, want %#x)",
	      after, before);
}

static void test_fork(void)
{
	uint32_t mx = (mxcsr_get() & ~MXCSR_RC_MASK) | MXCSR_RC_DOWN;
	uint16_t cw = (uint16_t)((fpucw_get() & ~0x0c00) | 0x0400); /* x87: down */

	mxcsr_set(mx);
	fpucw_set(cw);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit((mxcsr_get() == mx ? 0 : 1) | (fpucw_get() == cw ? 0 : 2));
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		die("waitpid");
	check(!(WEXITSTATUS(status) & 1), "the child has the parent's MXCSR, rounding down");
	check(!(WEXITSTATUS(status) & 2),
	      "the child has the parent's x87 control word, rounding down");
	check(mxcsr_get() == mx && fpucw_get() == cw, "the parent keeps both");
}

int main(int argc, char **argv)
{
	guest_name = "fpstate";
	if (argc != 2) {
		say("usage: fpstate regs|signal|fork\n");
		return 2;
	}
	if (!strcmp(argv[1], "regs"))
		test_regs();
	else if (!strcmp(argv[1], "signal"))
		test_signal();
	else if (!strcmp(argv[1], "fork"))
		test_fork();
	else
		return 2;
	return guest_exit();
}
