// SPDX-License-Identifier: MIT
/*
 * fpbad: a signal handler that spoils the FPU state of its own frame
 * before it returns, in a child per way of spoiling it; what Linux makes
 * of each at rt_sigreturn:
 *
 *   none       (the frame untouched) the state before the signal, back;
 *   mxcsr      a reserved MXCSR bit: SIGSEGV (the CPU refuses it);
 *   xstate_bv  a feature the CPU lacks in the xsave header: SIGSEGV;
 *   xcomp_bv   a nonzero xcomp_bv (bit 63 clear): SIGSEGV;
 *   garbage    the legacy area and header all 0xff: SIGSEGV;
 *   magic1     the software bytes' magic gone: the legacy area only (xmm7
 *              as the frame says);
 *   magic2     FP_XSTATE_MAGIC2 gone: the same;
 *   null       fpstate NULL: the FPU state of a new process (MXCSR 0x1f80);
 *   unmapped   fpstate pointing nowhere: SIGSEGV.
 *
 * Each verdict is what Linux does, so the native run proves it and the
 * umm run must print the same; whatever the guest writes, umm survives.
 * x86-64 only.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>

#include "guest.h"

#define MXCSR_RC_DOWN 0x3f80u
#define XMM7_BEFORE   0x1111111111111111ULL
#define XMM7_FRAME    0x7777777777777777ULL

static const char *mode;

static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t v;

	(void)sig;
	(void)si;
	/* What the handler itself changes: the frame must undo it. */
	__asm__ volatile("pxor %%xmm7, %%xmm7" ::: "xmm7");
	v = 0x1f80 | (2u << 13);
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
	if (!fp)
		_exit(20); /* no FPU state in the frame: not Linux */
	if (!strcmp(mode, "mxcsr")) {
		memcpy(&v, fp + 24, 4);
		v |= 1u << 31;
		memcpy(fp + 24, &v, 4);
	} else if (!strcmp(mode, "xstate_bv")) {
		fp[512 + 7] |= 0x40; /* bit 62 */
	} else if (!strcmp(mode, "xcomp_bv")) {
		fp[512 + 8] = 1;
	} else if (!strcmp(mode, "garbage")) {
		memset(fp, 0xff, 512 + 64);
	} else if (!strcmp(mode, "magic1") || !strcmp(mode, "magic2")) {
		uint64_t x = XMM7_FRAME;
		uint32_t size;

		memcpy(fp + 160 + 7 * 16, &x, 8);
		memcpy(&size, fp + 464 + 16, 4); /* xstate_size */
		if (!strcmp(mode, "magic1"))
			memset(fp + 464, 0, 4);
		else
			memset(fp + size, 0, 4);
	} else if (!strcmp(mode, "null")) {
		uc->uc_mcontext.fpregs = NULL;
	} else if (!strcmp(mode, "unmapped")) {
		uc->uc_mcontext.fpregs = (void *)64;
	}
}

/* In the child: xmm7 and MXCSR set, a signal to itself; 0 when as wanted. */
static int child(void)
{
	struct sigaction sa;
	uint64_t in = XMM7_BEFORE, out;
	uint32_t mx = MXCSR_RC_DOWN, mx_after;
	long rax = SYS_kill;
	int bad = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return 30;
	__asm__ volatile("ldmxcsr %0" : : "m"(mx));
	__asm__ volatile("movq %[in], %%xmm7\n\t"
			 "syscall\n\t"
			 "movq %%xmm7, %[out]"
			 : [out] "=r"(out), "+a"(rax)
			 : [in] "r"(in), "D"((long)getpid()), "S"((long)SIGUSR1)
			 : "rcx", "r11", "rdx", "xmm7", "memory");
	__asm__ volatile("stmxcsr %0" : "=m"(mx_after));
	if (!strcmp(mode, "none"))
		bad = out != XMM7_BEFORE || mx_after != MXCSR_RC_DOWN;
	else if (!strcmp(mode, "magic1") || !strcmp(mode, "magic2"))
		bad = out != XMM7_FRAME || mx_after != MXCSR_RC_DOWN;
	else if (!strcmp(mode, "null"))
		bad = out != 0 || mx_after != 0x1f80;
	else
		bad = 1; /* should not have come back */
	return bad ? 10 : 0;
}

static void run(const char *m, int want_sig)
{
	int status;
	pid_t pid;

	mode = m;
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(child());
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (want_sig)
		check(WIFSIGNALED(status) && WTERMSIG(status) == want_sig,
		      "%s: rt_sigreturn kills the child with signal %d "
		      "(status %#x)",
		      m, want_sig, status);
	else
		check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: the child goes on with the state Linux gives it "
		      "(status %#x)",
		      m, status);
}

int main(void)
{
	guest_name = "fpbad";
	run("none", 0);
	run("mxcsr", SIGSEGV);
	run("xstate_bv", SIGSEGV);
	run("xcomp_bv", SIGSEGV);
	run("garbage", SIGSEGV);
	run("magic1", 0);
	run("magic2", 0);
	run("null", 0);
	run("unmapped", SIGSEGV);
	return guest_exit();
}
