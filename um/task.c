// SPDX-License-Identifier: MIT
/*
 * Guest code in a stub child, seen from the kernel: the syscall filter (the
 * only use of libseccomp) and the loop that runs the guest until it traps.
 *
 * The filter is two programs in one. A prefix, written here, tells the
 * stub's own calls from the guest's by the instruction pointer: a call
 * whose return address lies in (HOST_STUB_START, HOST_STUB_CODE_END] comes
 * from the stub's code pages (the address after a syscall instruction is
 * never the first byte, so a guest's syscall in the last two bytes below
 * the stub area does not pass); any other call returns SECCOMP_RET_TRAP.
 * libseccomp's program follows: the stub's calls allowed, every other one
 * (a guest that jumped into the stub's code, or a bug of the stub) kills
 * the child.
 */
#include <errno.h>
#include <signal.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "um/task.h"

#define IP_LO offsetof(struct seccomp_data, instruction_pointer)
#define IP_HI (IP_LO + 4)

/* libseccomp's program, exported through a pipe (2.5 has no _mem). */
static int filter_export(scmp_filter_ctx ctx, struct sock_filter *buf,
			 unsigned int max, unsigned int *nr)
{
	int fds[2], err;
	ssize_t len;

	if (pipe(fds) < 0)
		return -errno;
	err = seccomp_export_bpf(ctx, fds[1]);
	close(fds[1]);
	len = err ? 0 : read(fds[0], buf, max * sizeof(*buf));
	if (!err && len < 0)
		err = -errno;
	else if (!err && (len <= 0 || len % sizeof(*buf) ||
			  (size_t)len == max * sizeof(*buf)))
		err = -E2BIG; /* empty, torn, or possibly cut short */
	close(fds[0]);
	*nr = len > 0 ? (unsigned int)(len / sizeof(*buf)) : 0;
	return err;
}

static int filter_build(struct sock_filter *prog, unsigned int max,
			unsigned int *nr)
{
	const uint64_t lo = HOST_STUB_START + 1, hi = HOST_STUB_CODE_END;
	struct sock_filter prefix[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, IP_HI),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(lo >> 32), 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, IP_LO),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)lo, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)hi, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JA | BPF_K, 1, 0, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
	const unsigned int nr_prefix = sizeof(prefix) / sizeof(prefix[0]);
	const int *calls;
	unsigned int i, n, nr_calls;
	scmp_filter_ctx ctx;
	int err = 0;

	_Static_assert((HOST_STUB_START + 1) >> 32 == HOST_STUB_CODE_END >> 32,
		       "the stub's code range in one 4 GiB block");
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -ENOMEM;
	calls = host_stub_syscalls(&nr_calls);
	for (i = 0; !err && i < nr_calls; i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
	/* The child sets no_new_privs itself, from its own code. */
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (!err)
		err = filter_export(ctx, prog + nr_prefix, max - nr_prefix, &n);
	seccomp_release(ctx);
	if (err)
		return err;
	memcpy(prog, prefix, sizeof(prefix));
	*nr = nr_prefix + n;
	return 0;
}

int um_task_filter(struct host_as *as)
{
	struct sock_filter prog[256];
	unsigned int nr;
	int err;

	err = filter_build(prog, 256, &nr);
	if (err)
		return err;
	return host_stub_set_filter(as, prog, nr);
}

struct host_as *um_task_space_new(struct phys *phys, uint64_t size, int *err)
{
	struct host_as *as = host_as_new_stub(phys, size);

	if (!as) {
		*err = -errno;
		return NULL;
	}
	*err = um_task_filter(as);
	if (*err) {
		host_as_free(as);
		return NULL;
	}
	host_stub_set_defer(as, true);
	return as;
}

static void event_from_host(const struct host_regs *regs,
			    const struct host_event *hev, struct um_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->signo = hev->signo;
	ev->code = hev->code;
	switch (hev->kind) {
	case HOST_EVENT_SYSCALL:
		ev->kind = UM_EVENT_SYSCALL;
		/* int $0x80 (i386) and x32 calls: no syscall of ours. */
		ev->nr = hev->arch == AUDIT_ARCH_X86_64 && hev->nr < 0x40000000
				 ? (long)hev->nr
				 : -1;
		ev->args[0] = regs->rdi;
		ev->args[1] = regs->rsi;
		ev->args[2] = regs->rdx;
		ev->args[3] = regs->r10;
		ev->args[4] = regs->r8;
		ev->args[5] = regs->r9;
		break;
	case HOST_EVENT_FAULT:
		ev->kind = UM_EVENT_FAULT;
		ev->addr = hev->addr;
		ev->present = hev->err & HOST_PF_PRESENT;
		if (hev->err & HOST_PF_INSTR)
			ev->access = PROT_EXEC;
		else if (hev->err & HOST_PF_WRITE)
			ev->access = PROT_WRITE;
		else
			ev->access = PROT_READ;
		break;
	default:
		ev->kind = hev->signo == HOST_EVENT_INTERRUPT &&
					   hev->code == SI_USER
				   ? UM_EVENT_INTERRUPT
				   : UM_EVENT_SIGNAL;
		ev->addr = hev->addr;
		break;
	}
}

int um_task_run(struct host_as *as, struct host_regs *regs, struct um_event *ev)
{
	struct host_event hev;
	int err;

	err = host_stub_resume(as, regs, &hev);
	if (err)
		return err;
	event_from_host(regs, &hev, ev);
	return 0;
}

void um_syscall_return(struct host_regs *regs, long ret)
{
	regs->rax = (uint64_t)ret;
	regs->rcx = regs->rip; /* as the syscall instruction leaves them */
	regs->r11 = regs->eflags;
}

int um_task_run_mm(struct mm *mm, struct host_regs *regs, struct um_event *ev)
{
	unsigned long faults = 0;
	int err, sig, code;

	for (;;) {
		err = um_task_run(mm_host_as(mm), regs, ev);
		if (err)
			return err;
		ev->nr_faults = faults;
		if (ev->kind != UM_EVENT_FAULT)
			return 0;
		code = 0;
		sig = mm_handle_fault(mm, ev->addr, ev->access, &code);
		if (sig) {
			ev->signo = sig;
			ev->code = code;
			return 0;
		}
		ev->nr_faults = ++faults;
	}
}

size_t um_copy_from_guest(struct mm *mm, void *buf, uint64_t va, size_t len)
{
	return mm_access_remote(mm, va, buf, len, false);
}

size_t um_copy_to_guest(struct mm *mm, uint64_t va, const void *buf, size_t len)
{
	return mm_access_remote(mm, va, (void *)buf, len, true);
}
