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
/*
 * Linux's restart codes, never seen by the guest: a call a signal
 * interrupted returns one, and delivery makes it EINTR or restarts it.
 * ERESTARTSYS: restarted when no handler runs or the handler has
 * SA_RESTART; ERESTARTNOHAND: only when no handler runs.
 */
#define UM_ERESTARTSYS	  512
#define UM_ERESTARTNOHAND 514
/* Tasks at once, zombies included: fork past it is EAGAIN (RLIMIT_NPROC). */
#define UM_MAX_TASKS 512
/* Spaces of gone mms waiting for the worker; past it, freed inline. */
#define UM_DEAD_SPACES 64
/*
 * Ready spaces the worker keeps once a task has forked (one before): for a
 * fork and the exec that follows it.
 */
#define UM_SPARES 2

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
	char comm[16]; /* prctl's name: exec's file name, cut to 15 bytes */

	/* Signals (um/ksignal.c). Bit n-1 is signal n. */
	uint64_t pending, blocked;
	uint64_t saved_blocked; /* rt_sigsuspend: the mask a handler restores */
	bool restore_blocked; /* saved_blocked is the frame's mask */
	struct um_sigaction actions[UM_NSIG];
	struct um_siginfo {
		int code; /* si_code */
		int pid; /* the sender (SI_USER) */
		uint64_t addr; /* the fault address */
	} info[UM_NSIG]; /* of each pending signal */
	int wake_fd; /* eventfd: written when a signal is sent to the task */
	bool vforked; /* made by vfork: its parent waits for vfork_done */
	bool vfork_done; /* a vfork child exec'd or exited: wakes the parent */

	pthread_t thread;
	bool thread_started;
	bool stopping; /* SIGKILL or exit: leave at the next event */
	bool regs_set; /* the syscall replaced the registers: no return value */
	long restart; /* a restart code the last syscall returned, or 0 */
	long restart_nr; /* and its number */
	uint64_t nr_syscalls, nr_faults;
};

struct um_kstats {
	uint64_t syscalls[UM_NR_SYSCALLS];
	uint64_t unknown; /* syscalls answered -ENOSYS */
	uint64_t faults; /* atomic: counted without the lock */
	uint64_t signals, forks, execs;
	/* Of every mm gone (um_account_mm): */
	struct umm_stats mm; /* summed */
	uint64_t round_trips, peak_vmas, peak_frames;
};

struct um_kernel {
	pthread_mutex_t lock; /* the big kernel lock: all of the below */
	pthread_cond_t changed; /* a task exited, or a vfork child let go */
	struct mem *mem;
	uint64_t task_size; /* each guest mm's size */
	int root_fd; /* O_PATH directory of the guest root; -1: no files */
	struct um_file_cache *file_cache;
	struct um_task *tasks;
	struct um_task *init; /* the first task: its exit ends the run */
	unsigned int nr_tasks; /* in k->tasks */
	int next_pid;
	unsigned int nr_threads; /* task threads still running */
	FILE *trace; /* --trace: each syscall and fault; NULL: off */
	struct um_kstats stats;

	/*
	 * The kernel's worker thread keeps ready address spaces for the next
	 * forks and execs (a stub child booted, its guest range reserved, the
	 * syscall filter in: three round trips to a child that sleeps between
	 * them) and frees the spaces of the mms that exits and execs let go of
	 * (reaping a stub child waits for a host process's teardown, ~80 us
	 * here), both off the path of the task that asked.
	 */
	pthread_t worker;
	pthread_mutex_t worker_lock; /* the fields below */
	pthread_cond_t worker_cond; /* work for the worker */
	pthread_cond_t spare_made; /* spare_making went false */
	bool worker_started, worker_quit;
	bool spare_making; /* the worker is making a spare */
	bool spare_failed; /* the last try failed: none until one succeeds */
	unsigned int nr_spares, want_spares;
	struct host_as *spares[UM_SPARES]; /* ready spaces, oldest first */
	unsigned int nr_dead;
	struct host_as *dead[UM_DEAD_SPACES]; /* for the worker to free */
};

/* A syscall: its arguments in a[0..5]; returns the value or -errno. */
typedef long um_syscall_fn(struct um_task *t, const uint64_t *a);

/*
 * Start and stop the worker thread (stopping ends the mms it still holds
 * and frees the spares). Without a worker, both jobs run inline. 0 or
 * -errno.
 */
int um_worker_start(struct um_kernel *k);
void um_worker_stop(struct um_kernel *k);

/*
 * A new task address space (the stub backend, the guest's filter in): the
 * oldest spare if there is one, else made now. @fork: for a fork (the
 * worker keeps UM_SPARES from then on). NULL and *err (-errno).
 */
struct host_as *um_space_get(struct um_kernel *k, bool fork, int *err);

/*
 * Let go of @mm, an mm no task uses: its frames are free when this
 * returns; its host space goes to the worker, whose reaping of a stub
 * child waits for the host process's teardown (without a worker, this
 * call waits). Context: the kernel lock held; dropped meanwhile.
 */
void um_mm_put(struct um_kernel *k, struct mm *mm);

/*
 * Fault in the page of @mm at @addr as a first touch by its guest would
 * (@write: a write), where its vma allows that; else nothing. For pages a
 * guest is all but sure to touch next (after fork, its stack top and the
 * code it returns to; after exec, its entry): a fault the guest takes
 * costs it a round trip to its stub, while this rides on its next resume.
 */
void um_prefault(struct mm *mm, uint64_t addr, bool write);

/* Drop and take back the kernel lock around a host call that may block. */
void um_kernel_unlock(struct um_kernel *k);
void um_kernel_lock(struct um_kernel *k);

/*
 * Wait, without the kernel lock, until @host_fd is ready for @events
 * (poll's), @timeout_ms passes (-1: no limit), or a signal is sent to @t.
 * Returns 1 when ready, 0 on timeout, -UM_ERESTARTSYS for a signal (a
 * syscall returns it as it is: delivery makes it EINTR or a restart).
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
 * A signal the guest's own code raised (a fault, ud2, int3...): delivered
 * before it runs again; blocked or ignored, it kills the task, as Linux's
 * force_sig. Context: k->lock held, from @t's thread.
 */
void um_signal_force(struct um_task *t, int sig, int code, uint64_t addr);
/*
 * Before @t's guest runs again: deliver a pending signal it does not block
 * (a handler's frame on its stack, or the default action). Context: k->lock
 * held, from @t's thread.
 */
void um_signal_deliver(struct um_task *t);
/* rt_sigreturn, rt_sigaction, rt_sigprocmask, sigaltstack. */
um_syscall_fn um_sys_rt_sigreturn, um_sys_rt_sigaction, um_sys_rt_sigprocmask,
	um_sys_rt_sigpending, um_sys_rt_sigsuspend;

/*
 * End @t with @wait_status (as wait4 reports it) at its next event: its
 * thread releases it. Context: k->lock held.
 */
void um_task_exit(struct um_task *t, int wait_status);
/* The task with @pid, or NULL (zombies included). Context: k->lock held. */
struct um_task *um_task_find(struct um_kernel *k, int pid);
/*
 * A new task with the next pid, in k->tasks, with nothing else set up;
 * um_task_start runs its thread; um_task_free takes it out and frees it
 * (its thread joined, what it still holds put). Context: k->lock held.
 */
struct um_task *um_task_alloc(struct um_kernel *k);
int um_task_start(struct um_task *t);
void um_task_free(struct um_task *t);

/* @t's comm from the path it executes (its last component). */
void um_task_set_comm(struct um_task *t, const char *path);

/* Handle a trapped syscall of @t (um/syscall.c). Context: k->lock held. */
struct um_event;
void um_syscall(struct um_task *t, const struct um_event *ev);
/* The name of syscall @nr, or NULL when the table has none. */
const char *um_syscall_name(long nr);
/* Add the figures of @mm, about to go, to k->stats. Context: k->lock. */
void um_account_mm(struct um_kernel *k, struct mm *mm);

/*
 * Copy the NUL-terminated string at @va of @mm into @buf (at most @size
 * bytes, the NUL included). Its length, -EFAULT, or -ENAMETOOLONG.
 */
long um_strncpy_from_guest(struct mm *mm, char *buf, uint64_t va, size_t size);

#endif
