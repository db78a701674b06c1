// SPDX-License-Identifier: MIT
/*
 * Guest signals: sending, the default actions, and handlers run on the
 * guest's stack in Linux's x86-64 rt_sigframe, so that the C library's
 * restorer and rt_sigreturn find what they expect.
 *
 * The frame carries the general registers, the signal mask, the siginfo
 * and, as Linux's get_sigframe lays it out, the FPU state (the host's
 * xsave format, host.h) 64-byte aligned above the frame, which
 * rt_sigreturn gives back to the guest. Signals are delivered when a
 * task's thread is about to resume its guest: after a syscall, a fault or
 * an interrupt.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "um/kernel.h"
#include "um/task.h"

#define SIGBIT(sig)	(1ULL << ((sig)-1))
#define UNBLOCKABLE	(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP))
#define UM_SA_RESTORER	0x04000000
#define UM_SA_ONSTACK	0x08000000
#define UM_SA_RESTART	0x10000000
#define UM_SA_NODEFER	0x40000000
#define UM_SA_RESETHAND 0x80000000
#define UM_SA_SIGINFO	0x00000004
#define UM_UC_FP_XSTATE 0x1

/* Linux's struct sigcontext (x86-64): 256 bytes. */
struct um_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate;
	uint64_t reserved[8];
};

struct um_ucontext {
	uint64_t flags, link;
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
	struct um_sigcontext mc;
	uint64_t sigmask;
};

struct um_kinfo {
	int32_t signo, err, code, pad;
	union {
		uint64_t addr; /* SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP */
		struct {
			int32_t pid;
			uint32_t uid;
			int32_t status; /* SIGCHLD */
		} kill;
		uint8_t bytes[112];
	} u;
};

struct um_sigframe {
	uint64_t pretcode; /* the restorer: the handler's return address */
	struct um_ucontext uc;
	struct um_kinfo info;
};

_Static_assert(sizeof(struct um_sigcontext) == 256, "struct sigcontext");
_Static_assert(offsetof(struct um_ucontext, mc) == 40, "uc_mcontext");
_Static_assert(sizeof(struct um_kinfo) == 128, "siginfo_t");
_Static_assert(offsetof(struct um_sigframe, info) == 8 + 304, "rt_sigframe");

static bool sig_default_ignored(int sig)
{
	return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
	       sig == SIGCONT || sig == SIGSTOP || sig == SIGTSTP ||
	       sig == SIGTTIN || sig == SIGTTOU;
}

static bool sig_dumps_core(int sig)
{
	return sig == SIGQUIT || sig == SIGILL || sig == SIGTRAP ||
	       sig == SIGABRT || sig == SIGBUS || sig == SIGFPE ||
	       sig == SIGSEGV || sig == SIGXCPU || sig == SIGXFSZ ||
	       sig == SIGSYS;
}

static bool sig_ignored(struct um_task *t, int sig)
{
	uint64_t h = t->actions[sig - 1].handler;

	return sig != SIGKILL &&
	       (h == (uint64_t)SIG_IGN ||
		(h == (uint64_t)SIG_DFL && sig_default_ignored(sig)));
}

/* Stop @t's guest (or its wait) so its thread sees what changed. */
static void task_kick(struct um_task *t)
{
	uint64_t one = 1;

	if (write(t->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: it is awake anyway */
	}
	if (t->mm)
		host_stub_interrupt(mm_host_as(t->mm));
	pthread_cond_broadcast(&t->k->changed);
}

void um_signal_send(struct um_task *t, int sig)
{
	if (t->state == UM_TASK_ZOMBIE || t->stopping)
		return;
	if (sig == SIGKILL) {
		um_task_exit(t, SIGKILL);
		task_kick(t);
		return;
	}
	if (sig_ignored(t, sig) && !(t->blocked & SIGBIT(sig)))
		return; /* discarded, as Linux's sig_ignored() */
	t->pending |= SIGBIT(sig);
	t->info[sig - 1] = (struct um_siginfo){.code = SI_USER};
	if (!(t->blocked & SIGBIT(sig)))
		task_kick(t);
}

void um_signal_force(struct um_task *t, int sig, int code, uint64_t addr)
{
	struct um_sigaction *act = &t->actions[sig - 1];

	/* Blocked or ignored, a trap cannot be deferred: the default action. */
	if ((t->blocked & SIGBIT(sig)) || act->handler == (uint64_t)SIG_IGN) {
		t->blocked &= ~SIGBIT(sig);
		act->handler = (uint64_t)SIG_DFL;
	}
	t->pending |= SIGBIT(sig);
	t->info[sig - 1] =
		(struct um_siginfo){.code = code, .addr = addr, .pid = 0};
}

static void frame_regs(struct um_sigcontext *mc, const struct host_regs *r)
{
	mc->r8 = r->r8;
	mc->r9 = r->r9;
	mc->r10 = r->r10;
	mc->r11 = r->r11;
	mc->r12 = r->r12;
	mc->r13 = r->r13;
	mc->r14 = r->r14;
	mc->r15 = r->r15;
	mc->rdi = r->rdi;
	mc->rsi = r->rsi;
	mc->rbp = r->rbp;
	mc->rbx = r->rbx;
	mc->rdx = r->rdx;
	mc->rax = r->rax;
	mc->rcx = r->rcx;
	mc->rsp = r->rsp;
	mc->rip = r->rip;
	mc->eflags = r->eflags;
	mc->cs = 0x33;
	mc->ss = 0x2b;
}

/*
 * The guest's FPU state below @sp, 64-byte aligned as xsave wants: its
 * address in *@fpstate, or 0 when the host cannot tell it (the frame
 * then has none, and the handler's changes stay). The new sp, or 0 when
 * the guest's stack cannot take it.
 */
static uint64_t setup_fpstate(struct um_task *t, uint64_t sp, uint64_t *fpstate)
{
	uint8_t buf[HOST_STUB_FPU_MAX] __attribute__((aligned(64)));
	size_t len = sizeof(buf);

	*fpstate = 0;
	if (host_stub_fpu_get(mm_host_as(t->mm), buf, &len))
		return sp;
	sp = (sp - len) & ~63ULL;
	if (um_copy_to_guest(t->mm, sp, buf, len))
		return 0;
	*fpstate = sp;
	return sp;
}

/* Run @t's handler for @sig: 0, or -EFAULT when the frame cannot be written. */
static int setup_frame(struct um_task *t, int sig)
{
	struct um_sigaction *act = &t->actions[sig - 1];
	struct um_siginfo *si = &t->info[sig - 1];
	struct um_sigframe f;
	uint64_t sp, fpstate;

	/* Below the red zone: the FPU state, then the frame. */
	sp = setup_fpstate(t, t->regs.rsp - 128, &fpstate);
	if (!sp)
		return -EFAULT;
	memset(&f, 0, sizeof(f));
	f.uc.mc.fpstate = fpstate;
	if (fpstate)
		f.uc.flags = UM_UC_FP_XSTATE;
	f.pretcode = act->flags & UM_SA_RESTORER ? act->restorer : 0;
	frame_regs(&f.uc.mc, &t->regs);
	f.uc.mc.oldmask = t->restore_blocked ? t->saved_blocked : t->blocked;
	f.uc.mc.cr2 = si->addr;
	f.uc.mc.trapno = sig == SIGSEGV ? 14 : 0;
	f.uc.sigmask = f.uc.mc.oldmask;
	f.uc.ss_flags = SS_DISABLE;
	f.info.signo = sig;
	f.info.code = si->code;
	if (si->code == SI_USER || si->code == SI_TKILL)
		f.info.u.kill.pid = si->pid;
	else
		f.info.u.addr = si->addr;

	/* Aligned as after a call. */
	sp = ((sp - sizeof(f)) & ~15ULL) - 8;
	if (um_copy_to_guest(t->mm, sp, &f, sizeof(f)))
		return -EFAULT;
	t->regs.rsp = sp;
	t->regs.rip = act->handler;
	t->regs.rdi = (uint64_t)sig;
	t->regs.rsi = sp + offsetof(struct um_sigframe, info);
	t->regs.rdx = sp + offsetof(struct um_sigframe, uc);
	t->regs.rax = 0;
	t->regs.eflags &= ~0x400ULL; /* DF clear, as the ABI wants */
	t->blocked |= act->mask & ~UNBLOCKABLE;
	if (!(act->flags & UM_SA_NODEFER))
		t->blocked |= SIGBIT(sig);
	if (act->flags & UM_SA_RESETHAND)
		act->handler = (uint64_t)SIG_DFL;
	return 0;
}

/*
 * A syscall a signal interrupted: restarted (the syscall instruction again,
 * with its number) or EINTR, as @handler says (NULL: no handler runs).
 */
static void syscall_restart(struct um_task *t, const struct um_sigaction *act)
{
	bool again = act ? t->restart == -UM_ERESTARTSYS &&
				     (act->flags & UM_SA_RESTART)
			 : true;

	if (!t->restart)
		return;
	if (again) {
		t->regs.rip -= 2; /* syscall: 0f 05 */
		t->regs.rax = (uint64_t)t->restart_nr;
	}
	t->restart = 0;
}

void um_signal_deliver(struct um_task *t)
{
	uint64_t ready = t->pending & ~t->blocked;
	int sig;

	while (ready && !t->stopping) {
		sig = __builtin_ctzll(ready) + 1;
		t->pending &= ~SIGBIT(sig);
		ready &= ~SIGBIT(sig);
		if (sig_ignored(t, sig))
			continue;
		t->k->stats.signals++;
		if (t->actions[sig - 1].handler == (uint64_t)SIG_DFL) {
			um_task_exit(t, sig | (sig_dumps_core(sig) ? 0x80 : 0));
			return;
		}
		syscall_restart(t, &t->actions[sig - 1]);
		if (setup_frame(t, sig)) {
			/* No stack for the frame: Linux's force_sigsegv. */
			um_task_exit(t, SIGSEGV | 0x80);
		}
		t->restore_blocked = false; /* the frame has the mask */
		return; /* one frame at a time: the handler runs first */
	}
	if (!t->stopping)
		syscall_restart(t, NULL); /* no handler ran: the call again */
	if (t->restore_blocked) { /* rt_sigsuspend ran no handler */
		t->blocked = t->saved_blocked;
		t->restore_blocked = false;
	}
}

/*
 * The FPU state at @fpstate for the guest's next resume; none (NULL): the
 * state a new process starts with, as Linux. 0, or -EFAULT when it cannot
 * be read or the CPU would refuse it (host_stub_fpu_set checks what
 * Linux's rt_sigreturn and xrstor check): the caller sends SIGSEGV, as
 * Linux's rt_sigreturn does for a bad frame, and the guest keeps the
 * handler's FPU state. A frame whose software bytes do not say xsave
 * gives back its legacy part only (x87, SSE), as Linux.
 */
static int restore_fpstate(struct um_task *t, uint64_t fpstate)
{
	uint8_t buf[HOST_STUB_FPU_MAX];
	struct host_as *as = mm_host_as(t->mm);
	size_t len;

	if (!fpstate) {
		host_stub_fpu_set(as, NULL, 0);
		return 0;
	}
	if (um_copy_from_guest(t->mm, buf, fpstate, 512))
		return -EFAULT;
	len = host_fpu_len(buf);
	if (len > 512 &&
	    um_copy_from_guest(t->mm, buf + 512, fpstate + 512, len - 512))
		return -EFAULT;
	return host_stub_fpu_set(as, buf, len) == -EINVAL ? -EFAULT : 0;
}

long um_sys_rt_sigreturn(struct um_task *t, const uint64_t *a)
{
	struct host_regs *r = &t->regs;
	struct um_ucontext uc;

	/* The handler's ret popped pretcode: rsp is at the ucontext. */
	if (um_copy_from_guest(t->mm, &uc, r->rsp, sizeof(uc))) {
		um_signal_force(t, SIGSEGV, SI_KERNEL, 0);
		t->regs_set = true;
		return 0;
	}
	r->r8 = uc.mc.r8;
	r->r9 = uc.mc.r9;
	r->r10 = uc.mc.r10;
	r->r11 = uc.mc.r11;
	r->r12 = uc.mc.r12;
	r->r13 = uc.mc.r13;
	r->r14 = uc.mc.r14;
	r->r15 = uc.mc.r15;
	r->rdi = uc.mc.rdi;
	r->rsi = uc.mc.rsi;
	r->rbp = uc.mc.rbp;
	r->rbx = uc.mc.rbx;
	r->rdx = uc.mc.rdx;
	r->rax = uc.mc.rax;
	r->rcx = uc.mc.rcx;
	r->rsp = uc.mc.rsp;
	r->rip = uc.mc.rip;
	/* The user-changeable flags only (Linux's FIX_EFLAGS). */
	r->eflags = (r->eflags & ~0x50dd5ULL) | (uc.mc.eflags & 0x50dd5ULL);
	t->blocked = uc.sigmask & ~UNBLOCKABLE;
	t->regs_set = true;
	if (restore_fpstate(t, uc.mc.fpstate))
		um_signal_force(t, SIGSEGV, SI_KERNEL, 0);
	return 0;
}

long um_sys_rt_sigaction(struct um_task *t, const uint64_t *a)
{
	int sig = (int)a[0];
	struct um_sigaction act;

	if (a[3] != 8 || sig < 1 || sig > UM_NSIG)
		return -EINVAL;
	if (a[1] && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	if (a[1] && um_copy_from_guest(t->mm, &act, a[1], sizeof(act)))
		return -EFAULT;
	if (a[2] &&
	    um_copy_to_guest(t->mm, a[2], &t->actions[sig - 1], sizeof(act)))
		return -EFAULT;
	if (a[1]) {
		act.mask &= ~UNBLOCKABLE;
		t->actions[sig - 1] = act;
		/* Now ignored: a pending one is dropped (Linux, POSIX). */
		if (sig_ignored(t, sig))
			t->pending &= ~SIGBIT(sig);
	}
	return 0;
}

long um_sys_rt_sigprocmask(struct um_task *t, const uint64_t *a)
{
	uint64_t set, old = t->blocked;

	if (a[3] != 8)
		return -EINVAL;
	if (a[1]) {
		if (um_copy_from_guest(t->mm, &set, a[1], 8))
			return -EFAULT;
		set &= ~UNBLOCKABLE;
		switch (a[0]) {
		case SIG_BLOCK:
			t->blocked |= set;
			break;
		case SIG_UNBLOCK:
			t->blocked &= ~set;
			break;
		case SIG_SETMASK:
			t->blocked = set;
			break;
		default:
			return -EINVAL;
		}
	}
	/* As Linux: a bad oldset is EFAULT, the new mask stays. */
	if (a[2] && um_copy_to_guest(t->mm, a[2], &old, 8))
		return -EFAULT;
	return 0;
}

/*
 * rt_sigsuspend: wait with @mask until a signal runs a handler (whose
 * frame restores the old mask) or kills; -EINTR.
 */
long um_sys_rt_sigsuspend(struct um_task *t, const uint64_t *a)
{
	uint64_t mask;

	if (a[1] != 8)
		return -EINVAL;
	if (um_copy_from_guest(t->mm, &mask, a[0], 8))
		return -EFAULT;
	t->saved_blocked = t->blocked;
	t->restore_blocked = true;
	t->blocked = mask & ~UNBLOCKABLE;
	while (um_task_wait_fd(t, -1, 0, -1) != -UM_ERESTARTSYS)
		;
	return -UM_ERESTARTNOHAND;
}

long um_sys_rt_sigpending(struct um_task *t, const uint64_t *a)
{
	uint64_t set = t->pending & t->blocked;

	if (a[1] > 8)
		return -EINVAL;
	if (um_copy_to_guest(t->mm, a[0], &set, (size_t)a[1]))
		return -EFAULT;
	return 0;
}
