// SPDX-License-Identifier: MIT
/*
 * The guest kernel's core: the kernel lock, waiting without it, and
 * reading strings from guest memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "um/fs.h"
#include "um/kernel.h"
#include "um/task.h"

#ifndef MADV_POPULATE_READ /* Linux 5.14; glibc 2.35 */
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

static void *worker_thread(void *arg)
{
	struct um_kernel *k = arg;
	struct host_as *as;
	int err;

	pthread_mutex_lock(&k->worker_lock);
	for (;;) {
		if (k->nr_spares < k->want_spares && !k->spare_failed &&
		    !k->worker_quit) {
			/* First the spares: a fork may be waiting for one. */
			k->spare_making = true;
			pthread_mutex_unlock(&k->worker_lock);
			as = um_task_space_new(mem_phys(k->mem), k->task_size,
					       &err);
			pthread_mutex_lock(&k->worker_lock);
			if (as)
				k->spares[k->nr_spares++] = as;
			k->spare_failed = !as;
			k->spare_making = false;
			pthread_cond_broadcast(&k->spare_made);
			continue;
		}
		if (k->nr_dead) {
			as = k->dead[--k->nr_dead];
			pthread_mutex_unlock(&k->worker_lock);
			host_as_free(as);
			pthread_mutex_lock(&k->worker_lock);
			continue;
		}
		if (k->worker_quit)
			break;
		pthread_cond_wait(&k->worker_cond, &k->worker_lock);
	}
	while (k->nr_spares) {
		as = k->spares[--k->nr_spares];
		pthread_mutex_unlock(&k->worker_lock);
		host_as_free(as);
		pthread_mutex_lock(&k->worker_lock);
	}
	pthread_mutex_unlock(&k->worker_lock);
	return NULL;
}

int um_worker_start(struct um_kernel *k)
{
	int err;

	pthread_mutex_init(&k->worker_lock, NULL);
	pthread_cond_init(&k->worker_cond, NULL);
	pthread_cond_init(&k->spare_made, NULL);
	k->want_spares = 1; /* the first fork asks for more */
	err = pthread_create(&k->worker, NULL, worker_thread, k);
	k->worker_started = !err;
	return -err;
}

void um_worker_stop(struct um_kernel *k)
{
	if (!k->worker_started)
		return;
	pthread_mutex_lock(&k->worker_lock);
	k->worker_quit = true;
	pthread_cond_signal(&k->worker_cond);
	pthread_mutex_unlock(&k->worker_lock);
	pthread_join(k->worker, NULL);
	k->worker_started = false;
	pthread_cond_destroy(&k->worker_cond);
	pthread_cond_destroy(&k->spare_made);
	pthread_mutex_destroy(&k->worker_lock);
}

struct host_as *um_space_get(struct um_kernel *k, bool fork, int *err)
{
	struct host_as *as = NULL;

	if (k->worker_started) {
		pthread_mutex_lock(&k->worker_lock);
		/* One on the way is sooner than one more made beside it. */
		while (!k->nr_spares && k->spare_making)
			pthread_cond_wait(&k->spare_made, &k->worker_lock);
		if (k->nr_spares) /* the oldest: the others may still spin */
			as = k->spares[0];
		for (unsigned int i = 1; i < k->nr_spares; i++)
			k->spares[i - 1] = k->spares[i];
		k->nr_spares -= !!as;
		if (fork) /* an exec may follow */
			k->want_spares = UM_SPARES;
		pthread_cond_signal(&k->worker_cond);
		pthread_mutex_unlock(&k->worker_lock);
	}
	if (as)
		return as;
	/*
	 * None, and the worker's last try failed: try here, and let the
	 * worker try again only once a try succeeds (near a host limit, two
	 * tries at once would fight for the last process).
	 */
	as = um_task_space_new(mem_phys(k->mem), k->task_size, err);
	if (as && k->worker_started) {
		pthread_mutex_lock(&k->worker_lock);
		k->spare_failed = false;
		pthread_cond_signal(&k->worker_cond);
		pthread_mutex_unlock(&k->worker_lock);
	}
	return as;
}

void um_mm_put(struct um_kernel *k, struct mm *mm)
{
	struct host_as *as;

	/* Frames free now (a wait4 or the exec's caller may need them). */
	um_kernel_unlock(k);
	as = mm_put_keep_space(mm);
	um_kernel_lock(k);
	if (as && k->worker_started) {
		pthread_mutex_lock(&k->worker_lock);
		if (k->nr_dead < UM_DEAD_SPACES) {
			k->dead[k->nr_dead++] = as;
			as = NULL;
			pthread_cond_signal(&k->worker_cond);
		}
		pthread_mutex_unlock(&k->worker_lock);
	}
	if (as) { /* a host process's teardown: not under the kernel lock */
		um_kernel_unlock(k);
		host_as_free(as);
		um_kernel_lock(k);
	}
}

void um_kernel_unlock(struct um_kernel *k)
{
	pthread_mutex_unlock(&k->lock);
}

void um_kernel_lock(struct um_kernel *k)
{
	pthread_mutex_lock(&k->lock);
}

bool um_signal_pending(struct um_task *t)
{
	return t->stopping || (t->pending & ~t->blocked);
}

int um_task_wait_fd(struct um_task *t, int host_fd, short events,
		    int timeout_ms)
{
	struct pollfd fds[2] = {
		{.fd = host_fd, .events = events},
		{.fd = t->wake_fd, .events = POLLIN},
	};
	uint64_t count;
	int n, err;

	for (;;) {
		if (um_signal_pending(t))
			return -UM_ERESTARTSYS;
		um_kernel_unlock(t->k);
		n = poll(fds, 2, timeout_ms); /* fd -1: ignored */
		err = errno;
		um_kernel_lock(t->k);
		if (n < 0 && err != EINTR)
			return -err;
		if (n > 0 && fds[1].revents &&
		    read(t->wake_fd, &count, sizeof(count)) < 0) {
			/* drained by another wait already */
		}
		if (um_signal_pending(t))
			return -UM_ERESTARTSYS;
		if (n > 0 && fds[0].revents)
			return 1;
		if (n == 0)
			return 0;
		/* a wake for a signal since handled: wait on (time restarts) */
	}
}

long um_strncpy_from_guest(struct mm *mm, char *buf, uint64_t va, size_t size)
{
	size_t done = 0;

	while (done < size) {
		/* up to the end of the page: the next one may not be there */
		size_t n = PAGE_SIZE - ((va + done) & ~PAGE_MASK);
		char *nul;

		if (n > size - done)
			n = size - done;
		if (um_copy_from_guest(mm, buf + done, va + done, n))
			return -EFAULT;
		nul = memchr(buf + done, 0, n);
		if (nul)
			return nul - buf;
		done += n;
	}
	return -ENAMETOOLONG;
}

void um_account_mm(struct um_kernel *k, struct mm *mm)
{
	struct host_as *as = mm_host_as(mm);
	struct phys *phys = mem_phys(k->mem);
	struct umm_stats s;
	uint64_t *sum = (uint64_t *)&k->stats.mm, *add = (uint64_t *)&s;
	uint64_t used = phys_nr_frames(phys) - phys_nr_free(phys);
	size_t i;

	mm_stats(mm, &s);
	/* the counters, not the levels (guest_vmas and after) */
	for (i = 0; i < offsetof(struct umm_stats, guest_vmas) / 8; i++)
		sum[i] += add[i];
	k->stats.round_trips +=
		__atomic_load_n(&as->stats.round_trips, __ATOMIC_RELAXED);
	if (s.host_vmas_all > k->stats.peak_vmas)
		k->stats.peak_vmas = s.host_vmas_all;
	if (used > k->stats.peak_frames)
		k->stats.peak_frames = used;
}

void um_prefault(struct mm *mm, uint64_t addr, bool write)
{
	/* MADV_POPULATE_*: no stack growth, no signal; an error is ignored. */
	mm_madvise(mm, addr & ~(uint64_t)(PAGE_SIZE - 1), PAGE_SIZE,
		   write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

struct um_task *um_task_find(struct um_kernel *k, int pid)
{
	struct um_task *t;

	for (t = k->tasks; t; t = t->next)
		if (t->pid == pid)
			return t;
	return NULL;
}

struct um_task *um_task_alloc(struct um_kernel *k)
{
	struct um_task *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->wake_fd < 0) {
		free(t);
		return NULL;
	}
	t->k = k;
	t->pid = k->next_pid++;
	t->next = k->tasks;
	k->tasks = t;
	k->nr_tasks++;
	return t;
}

void um_task_free(struct um_task *t)
{
	struct um_task **p;

	for (p = &t->k->tasks; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			t->k->nr_tasks--;
			break;
		}
	/* Its thread may still let go of its mm: that takes it without us. */
	if (t->thread_started) {
		um_kernel_unlock(t->k);
		pthread_join(t->thread, NULL);
		um_kernel_lock(t->k);
	}
	if (t->mm) {
		um_account_mm(t->k, t->mm);
		mm_put(t->mm);
	}
	if (t->files)
		um_files_put(t->files);
	close(t->wake_fd);
	free(t->cwd);
	free(t);
}

void um_task_exit(struct um_task *t, int wait_status)
{
	if (t->stopping)
		return;
	t->stopping = true;
	t->wait_status = wait_status;
}

/*
 * The end of @t, on its own thread: it lets go of its memory and files,
 * its children go to the first task, and its parent learns of it. The mm
 * goes last, without the kernel lock; its frames are free before this
 * thread ends (um_task_free, the parent's reaping, joins it), and its stub
 * child's teardown, a host process's, is the worker's.
 */
static void task_release(struct um_task *t)
{
	struct um_kernel *k = t->k;
	struct mm *mm = t->mm;
	struct um_task *c;
	uint32_t zero = 0;

	if (t->clear_child_tid)
		um_copy_to_guest(mm, t->clear_child_tid, &zero, 4);
	um_account_mm(k, mm);
	t->mm = NULL;
	um_files_put(t->files);
	t->files = NULL;
	for (c = k->tasks; c; c = c->next)
		if (c->parent == t)
			c->parent =
				k->init != t && k->init &&
						k->init->state != UM_TASK_ZOMBIE
					? k->init
					: NULL;
	t->state = UM_TASK_ZOMBIE;
	t->vfork_done = true;
	if (t->parent)
		um_signal_send(t->parent, SIGCHLD);
	if (t == k->init) /* as a pid namespace's init: the rest go too */
		for (c = k->tasks; c; c = c->next)
			if (c != t)
				um_signal_send(c, SIGKILL);
	pthread_cond_broadcast(&k->changed);
	/*
	 * The first task's end is everyone's: its frames, and the others',
	 * will not be used again, so zeroing them for the pool is waste.
	 */
	if (t == k->init)
		phys_set_pool(mem_phys(k->mem), 0);
	um_mm_put(k, mm);
	k->nr_threads--;
	pthread_cond_broadcast(&k->changed);
}

/*
 * Run @t's guest until an event the kernel must see; fix the faults the
 * mm can fix on the way. 0, or -ESRCH when the child died under it.
 * Context: without k->lock; only @t's thread touches its registers.
 */
static int run_guest(struct um_task *t, struct mm *mm, struct um_event *ev)
{
	struct um_kernel *k = t->k;
	int err, sig, code;

	for (;;) {
		err = um_task_run(mm_host_as(mm), &t->regs, ev);
		if (err)
			return err;
		if (ev->kind != UM_EVENT_FAULT)
			return 0;
		__atomic_add_fetch(&k->stats.faults, 1, __ATOMIC_RELAXED);
		t->nr_faults++;
		code = 0;
		sig = mm_handle_fault(mm, ev->addr, ev->access, &code);
		if (k->trace)
			fprintf(k->trace,
				"[%d] fault %#" PRIx64 " %s%s -> %s\n", t->pid,
				ev->addr,
				ev->access == PROT_WRITE  ? "write"
				: ev->access == PROT_EXEC ? "exec"
							  : "read",
				ev->present ? " (present)" : "",
				sig == SIGSEGV	? "SIGSEGV"
				: sig == SIGBUS ? "SIGBUS"
						: "fixed");
		if (sig) {
			ev->signo = sig;
			ev->code = code;
			return 0;
		}
	}
}

static void *task_thread(void *arg)
{
	struct um_task *t = arg;
	struct um_kernel *k = t->k;
	struct um_event ev;
	struct mm *mm;
	int err;

	um_kernel_lock(k);
	for (;;) {
		um_signal_deliver(t);
		if (t->stopping)
			break;
		mm = t->mm;
		um_kernel_unlock(k);
		err = run_guest(t, mm, &ev);
		um_kernel_lock(k);
		if (err) {
			/* The child is gone (killed by the host): so is the task. */
			um_task_exit(t, SIGKILL);
			break;
		}
		switch (ev.kind) {
		case UM_EVENT_SYSCALL:
			um_syscall(t, &ev);
			break;
		case UM_EVENT_FAULT:
		case UM_EVENT_SIGNAL:
			if (k->trace && ev.kind == UM_EVENT_SIGNAL)
				fprintf(k->trace,
					"[%d] signal %d code %d at %#" PRIx64
					"\n",
					t->pid, ev.signo, ev.code, t->regs.rip);
			um_signal_force(t, ev.signo, ev.code, ev.addr);
			break;
		case UM_EVENT_INTERRUPT:
			break;
		}
	}
	task_release(t);
	um_kernel_unlock(k);
	return NULL;
}

int um_task_start(struct um_task *t)
{
	int err = pthread_create(&t->thread, NULL, task_thread, t);

	if (err)
		return -err;
	t->thread_started = true;
	t->k->nr_threads++;
	return 0;
}
