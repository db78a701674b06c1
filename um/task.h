/* SPDX-License-Identifier: MIT */
/*
 * Guest code in a stub child (um/task.c): the syscall filter installed
 * there, and running the guest until its next trapped syscall or fault.
 */
#ifndef UMM_UM_TASK_H
#define UMM_UM_TASK_H

#include <stdint.h>

#include "host/host.h"
#include "mm/mm.h"

enum um_event_kind {
	UM_EVENT_SYSCALL = 1, /* nr, args[]; answer with um_syscall_return */
	UM_EVENT_FAULT, /* addr, access (PROT_READ, PROT_WRITE, PROT_EXEC) */
	UM_EVENT_SIGNAL, /* signo, code: a trap that is no page fault */
	UM_EVENT_INTERRUPT, /* host_stub_interrupt stopped the guest */
};

struct um_event {
	enum um_event_kind kind;
	long nr; /* the syscall number; -1 for a call of another ABI */
	uint64_t args[6];
	uint64_t addr; /* the faulting address */
	int access; /* the access that faulted */
	bool present; /* the page was mapped (a protection fault) */
	int signo, code;
	unsigned long nr_faults; /* um_task_run_mm: faults fixed on the way */
};

/*
 * Install the syscall filter in @as's child (a stub space): from the
 * stub's code pages the calls the stub makes are allowed and every other
 * one kills the child; from anywhere else every call traps to the stub's
 * handler and comes back as a UM_EVENT_SYSCALL. Once, before the first
 * um_task_run. 0 or -errno.
 */
int um_task_filter(struct host_as *as);
/*
 * The host space of a guest task: a stub child over @phys covering
 * [0, @size), its syscall filter installed, its batches sent with the
 * next resume (host_stub_set_defer: a fault is one round trip). NULL and
 * *err (-errno).
 */
struct host_as *um_task_space_new(struct phys *phys, uint64_t size, int *err);
/*
 * Run the guest of @as from @regs until its next event: then @regs holds
 * its registers and @ev says what happened. 0 or -errno (-ESRCH: the child
 * died).
 */
int um_task_run(struct host_as *as, struct host_regs *regs,
		struct um_event *ev);
/*
 * As um_task_run for the guest of @mm (over a stub space): its faults go to
 * mm_handle_fault, and the guest goes on where the mm fixes them. Returns
 * at a syscall, a signal, or a fault the mm refuses (UM_EVENT_FAULT with
 * signo SIGSEGV or SIGBUS and the si_code the guest would see).
 * Context: takes mm's lock for each fault.
 */
int um_task_run_mm(struct mm *mm, struct host_regs *regs, struct um_event *ev);
/*
 * Copy between guest memory at @va in @mm and @buf, as copy_from_user and
 * copy_to_user do: through get_user_pages, so an absent page is faulted in
 * and one the guest may not read (write) stops the copy. Returns the bytes
 * not copied: 0 when all were. Context: takes mm's lock.
 */
size_t um_copy_from_guest(struct mm *mm, void *buf, uint64_t va, size_t len);
size_t um_copy_to_guest(struct mm *mm, uint64_t va, const void *buf,
			size_t len);
/* A syscall's result in @regs, as the syscall instruction leaves them. */
void um_syscall_return(struct host_regs *regs, long ret);

#endif
