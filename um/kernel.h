/* SPDX-License-Identifier: MIT */
/*
 * The guest kernel: guest processes (tasks), each in a stub child of its
 * own (um/task.c), with a syscall table (um/syscall.c), files (um/fs.c),
 * signals (um/ksignal.c) and the ELF loader (um/elf.c).
 *
 * One host thread per task runs it: the thread resumes the guest, handles
 * the event that stops it, resumes it again. Kernel state is guarded by
 * one lock, k->lock (the big kernel lock): a task's thread holds it while
 * it handles an event, and drops it while its guest runs and while it
 * waits (um_task_wait_fd, wait4, nanosleep). So guests run in parallel and
 * the kernel's own code does not.
 *
 * Lock order: k->lock, then an mm's lock (mm calls take it themselves).
 */
#ifndef UMM_UM_KERNEL_H
#define UMM_UM_KERNEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "host/host.h"
#include "mm/mm.h"

#define UM_NR_SYSCALLS 512
#define UM_NSIG	       64

struct um_files; /* a file descriptor table: um/fs.c */
struct um_file_cache; /* guest file objects by host (dev, ino): um/fs.c */

/* rt_sigaction's struct as the x86-64 ABI passes it. */
struct um_sigaction {
	uint64_t handler; /* SIG_DFL 0, SIG_IGN 1, or an address */
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

enum um_task_state {
	UM_TASK_RUNNING, /* its thread runs the guest or handles an event */
	UM_TASK_ZOMBIE, /* exited, its status not yet reaped by wait4 */
};

struct um_task {
	struct um_kernel *k;
	struct um_task *next; /* k->tasks */
	int pid;
	struct um_task *parent; /* NULL: the first task, or reparented */
	enum um_task_state state;
	int wait_status; /* as wait4 reports it, once a zombie */

	struct mm *mm;
	struct host_regs regs;
	uint64_t clear_child_tid; /* set_tid_address */

	struct um_files *files;
	char *cwd; /* the guest's working directory: absolute, normalized */

	/* Signals (um/ksignal.c). Bit n-1 is signal n. */
	uint64_t pending, blocked;
	struct um_sigaction actions[UM_NSIG];
	int wake_fd; /* eventfd: written when a signal is sent to the task */
	bool vfork_done; /* a vfork child exec'd or exited: wakes the parent */

	pthread_t thread;
	bool stopping; /* SIGKILL: leave at the next event */
};

struct um_kstats {
	uint64_t syscalls[UM_NR_SYSCALLS];
	uint64_t unknown; /* syscalls answered -ENOSYS */
	uint64_t faults, faults_fixed, signals;
	uint64_t forks, execs;
};

struct um_kernel {
	pthread_mutex_t lock; /* the big kernel lock: all of the below */
	pthread_cond_t changed; /* a task exited, or a vfork child let go */
	struct mem *mem;
	uint64_t task_size; /* each guest mm's size */
	int root_fd; /* O_PATH directory of the guest root; -1: no files */
	struct um_file_cache *file_cache;
	struct um_task *tasks;
	int next_pid;
	unsigned int nr_threads; /* task threads still running */
	FILE *trace; /* --trace: each syscall and fault; NULL: off */
	struct um_kstats stats;
};

/* Drop and take back the kernel lock around a host call that may block. */
void um_kernel_unlock(struct um_kernel *k);
void um_kernel_lock(struct um_kernel *k);

/*
 * Wait, without the kernel lock, until @host_fd is ready for @events
 * (poll's), @timeout_ms passes (-1: no limit), or a signal is sent to @t.
 * Returns 1 when ready, 0 on timeout, -EINTR for a signal.
 * Context: k->lock held; dropped while waiting.
 */
int um_task_wait_fd(struct um_task *t, int host_fd, short events,
		    int timeout_ms);
/* A signal @t does not block is pending (or it is being killed). */
bool um_signal_pending(struct um_task *t);
/*
 * Send signal @sig (1..64) to @t, as kill() does: SIGKILL ends it; another
 * is made pending and delivered at its next return to the guest (um/ksignal.c).
 * Context: k->lock held.
 */
void um_signal_send(struct um_task *t, int sig);

/*
 * Copy the NUL-terminated string at @va of @mm into @buf (at most @size
 * bytes, the NUL included). Its length, -EFAULT, or -ENAMETOOLONG.
 */
long um_strncpy_from_guest(struct mm *mm, char *buf, uint64_t va, size_t size);

/* A syscall: its arguments in a[0..5]; returns the value or -errno. */
typedef long um_syscall_fn(struct um_task *t, const uint64_t *a);

#endif
