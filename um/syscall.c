// SPDX-License-Identifier: MIT
/*
 * The guest's syscall table, and the memory, process and time calls. The
 * file calls are in um/fs.c, the signal calls in um/ksignal.c.
 *
 * Every call runs on the calling task's thread with k->lock held, takes
 * its arguments as the x86-64 syscall ABI passes them, and returns the
 * value or -errno, as Linux's would. A call that replaces the registers
 * (execve, rt_sigreturn, exit) sets t->regs_set.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "um/exec.h"
#include "um/fs.h"
#include "um/kernel.h"
#include "um/task.h"

#define ARCH_SET_FS   0x1002
#define ARCH_GET_FS   0x1003
#define TASK_SIZE_MAX 0x7ffffffff000ULL

/* ---- memory ---- */

static long sys_brk(struct um_task *t, const uint64_t *a)
{
	return mm_brk(t->mm, a[0]);
}

static long sys_mmap(struct um_task *t, const uint64_t *a)
{
	int flags = (int)a[3], err = 0;
	struct file *file = NULL;
	long ret;

	if (a[5] & ~PAGE_MASK)
		return -EINVAL;
	/* umm's own flag is not the guest's to pass. */
	if (flags & UMM_MAP_DONTFORK) {
		if ((flags & MAP_TYPE) == MAP_SHARED_VALIDATE)
			return -EOPNOTSUPP;
		flags &= ~UMM_MAP_DONTFORK;
	}
	if (!(flags & MAP_ANONYMOUS)) {
		file = um_fs_mmap_file(t, (int)a[4], &err);
		if (!file)
			return err;
	}
	ret = mm_mmap(t->mm, a[0], a[1], (int)a[2], flags, file, a[5]);
	if (file)
		file_put(file);
	return ret;
}

static long sys_munmap(struct um_task *t, const uint64_t *a)
{
	return mm_munmap(t->mm, a[0], a[1]);
}

static long sys_mprotect(struct um_task *t, const uint64_t *a)
{
	return mm_mprotect(t->mm, a[0], a[1], (int)a[2]);
}

static long sys_mremap(struct um_task *t, const uint64_t *a)
{
	return mm_mremap(t->mm, a[0], a[1], a[2], (int)a[3], a[4]);
}

static long sys_madvise(struct um_task *t, const uint64_t *a)
{
	return mm_madvise(t->mm, a[0], a[1], (int)a[2]);
}

static long sys_remap_file_pages(struct um_task *t, const uint64_t *a)
{
	return mm_remap_file_pages(t->mm, a[0], a[1], (int)a[2], a[3],
				   (int)a[4]);
}

static long sys_msync(struct um_task *t, const uint64_t *a)
{
	return mm_msync(t->mm, a[0], a[1], (int)a[2]);
}

static long sys_mincore(struct um_task *t, const uint64_t *a)
{
	enum { CHUNK = 4096 };
	uint64_t start = a[0], pages, n;
	unsigned char *vec;
	long err = 0;

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (a[1] > mm_task_size(t->mm) || start > mm_task_size(t->mm) - a[1])
		return -ENOMEM;
	pages = PAGE_ALIGN(a[1]) >> PAGE_SHIFT;
	vec = malloc(CHUNK);
	if (!vec)
		return -EAGAIN;
	for (n = 0; n < pages && !err; n += CHUNK) {
		uint64_t nr = pages - n < CHUNK ? pages - n : CHUNK;

		err = mm_mincore(t->mm, start + (n << PAGE_SHIFT),
				 nr << PAGE_SHIFT, vec);
		if (!err && um_copy_to_guest(t->mm, a[2] + n, vec, nr))
			err = -EFAULT;
	}
	free(vec);
	return err;
}

/* ---- processes ---- */

static long sys_getpid(struct um_task *t, const uint64_t *a)
{
	return t->pid;
}

static long sys_getppid(struct um_task *t, const uint64_t *a)
{
	return t->parent ? t->parent->pid : 0;
}

static long sys_set_tid_address(struct um_task *t, const uint64_t *a)
{
	t->clear_child_tid = a[0];
	return t->pid;
}

static long sys_exit_group(struct um_task *t, const uint64_t *a)
{
	um_task_exit(t, (int)(a[0] & 0xff) << 8);
	t->regs_set = true;
	return 0;
}

#define CLONE_SUPPORTED                                                     \
	(CSIGNAL | CLONE_VFORK | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | \
	 CLONE_CHILD_CLEARTID | CLONE_SETTLS)

/*
 * fork, vfork and clone without CLONE_VM: a child task in a new stub child
 * over a copy-on-write copy of the mm. A vfork parent waits until the child
 * execs or exits (the memory is copied, not shared: a program that does
 * only what vfork allows cannot tell).
 */
static long do_fork(struct um_task *t, uint64_t flags, uint64_t newsp,
		    uint64_t ptid, uint64_t ctid, uint64_t tls)
{
	uint8_t fpu[HOST_STUB_FPU_MAX] __attribute__((aligned(64)));
	struct um_kernel *k = t->k;
	struct host_as *as;
	struct um_task *c;
	size_t fpu_len;
	struct mm *mm;
	int err, pid;

	if (flags & ~(uint64_t)CLONE_SUPPORTED)
		return -ENOSYS; /* threads and shared tables: not here */
	if (k->nr_tasks >= UM_MAX_TASKS)
		return -EAGAIN; /* each task is a host process and a thread */
	/*
	 * The parent's FPU state (MXCSR, the x87 control word, every
	 * register) for the child's first entry, asked for while the
	 * parent's stub still spins; where the host cannot tell it, the
	 * child starts with a fresh one.
	 */
	fpu_len = sizeof(fpu);
	if (host_stub_fpu_get(mm_host_as(t->mm), fpu, &fpu_len))
		fpu_len = 0;
	as = um_space_get(k, true, &err);
	if (!as)
		return err == -ENOMEM ? -ENOMEM : -EAGAIN;
	mm = mm_fork(t->mm, as);
	if (!mm) {
		host_as_free(as);
		return -ENOMEM;
	}
	c = um_task_alloc(k);
	if (!c) {
		mm_put(mm);
		return -ENOMEM;
	}
	c->mm = mm;
	c->parent = t;
	c->files = um_files_fork(t->files);
	c->cwd = strdup(t->cwd);
	if (!c->files || !c->cwd) {
		um_task_free(c);
		return -ENOMEM;
	}
	c->regs = t->regs;
	um_syscall_return(&c->regs, 0);
	if (fpu_len)
		host_stub_fpu_set(as, fpu, fpu_len);
	if (newsp)
		c->regs.rsp = newsp;
	/*
	 * The child's copy of its stack top first (below a new stack's top:
	 * a clone's stack pointer is the end of its stack), then the
	 * parent's reuse.
	 */
	um_prefault(mm, c->regs.rsp - (newsp ? 1 : 0), true);
	um_prefault(mm, c->regs.rip, false);
	um_prefault(t->mm, t->regs.rsp, true);
	if (flags & CLONE_SETTLS)
		c->regs.fs_base = tls;
	memcpy(c->actions, t->actions, sizeof(c->actions));
	memcpy(c->comm, t->comm, sizeof(c->comm));
	c->blocked = t->blocked;
	pid = c->pid;
	if (flags & CLONE_CHILD_SETTID)
		um_copy_to_guest(mm, ctid, &pid, 4);
	if (flags & CLONE_PARENT_SETTID)
		um_copy_to_guest(t->mm, ptid, &pid, 4);
	if (flags & CLONE_CHILD_CLEARTID)
		c->clear_child_tid = ctid;
	c->vforked = flags & CLONE_VFORK;
	err = um_task_start(c);
	if (err) {
		um_task_free(c);
		return -EAGAIN;
	}
	k->stats.forks++;
	if (flags & CLONE_VFORK)
		while (!c->vfork_done && !t->stopping)
			pthread_cond_wait(&k->changed, &k->lock);
	return pid;
}

static long sys_fork(struct um_task *t, const uint64_t *a)
{
	return do_fork(t, SIGCHLD, 0, 0, 0, 0);
}

static long sys_vfork(struct um_task *t, const uint64_t *a)
{
	return do_fork(t, CLONE_VFORK | SIGCHLD, 0, 0, 0, 0);
}

/* x86-64 clone: flags, newsp, parent_tid, child_tid, tls. */
static long sys_clone(struct um_task *t, const uint64_t *a)
{
	return do_fork(t, a[0], a[1], a[2], a[3], a[4]);
}

void um_task_set_comm(struct um_task *t, const char *path)
{
	const char *base = strrchr(path, '/');

	memset(t->comm, 0, sizeof(t->comm));
	strncpy(t->comm, base ? base + 1 : path, sizeof(t->comm) - 1);
}

static long sys_execve(struct um_task *t, const uint64_t *a)
{
	struct um_kernel *k = t->k;
	char *path = malloc(PATH_MAX);
	struct host_regs regs;
	struct file *file;
	struct mm *mm, *old;
	uint32_t zero = 0;
	long len;
	int err = 0, i;

	if (!path)
		return -ENOMEM;
	len = um_strncpy_from_guest(t->mm, path, a[0], PATH_MAX);
	if (len < 0) {
		free(path);
		return len;
	}
	file = um_fs_open_exec(t, path, &err);
	if (!file) {
		free(path);
		return err;
	}
	mm = um_exec_mm(k, file, t->mm, a[1], a[2], &regs, &err);
	file_put(file);
	if (!mm) {
		free(path);
		return err;
	}
	um_task_set_comm(t, path);
	free(path);
	/* The point of no return. */
	if (t->clear_child_tid)
		um_copy_to_guest(t->mm, t->clear_child_tid, &zero, 4);
	t->clear_child_tid = 0;
	old = t->mm;
	t->mm = mm;
	um_account_mm(k, old);
	um_mm_put(k, old);
	t->regs = regs;
	t->regs_set = true;
	um_files_exec(t->files);
	for (i = 0; i < UM_NSIG; i++)
		if (t->actions[i].handler != (uint64_t)SIG_IGN)
			t->actions[i] = (struct um_sigaction){0};
	/* A vfork parent waits for it; other waiters need not wake. */
	if (t->vforked && !t->vfork_done)
		pthread_cond_broadcast(&k->changed);
	t->vfork_done = true;
	k->stats.execs++;
	return 0;
}

static bool wait_match(struct um_task *c, int pid)
{
	return pid > 0 ? c->pid == pid : true; /* no process groups */
}

static long sys_wait4(struct um_task *t, const uint64_t *a)
{
	struct um_kernel *k = t->k;
	int pid = (int)a[0], options = (int)a[2], status, cpid;
	struct um_task *c, *zombie;
	bool any;

	if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE |
			__WNOTHREAD))
		return -EINVAL;
	for (;;) {
		any = false;
		zombie = NULL;
		for (c = k->tasks; c; c = c->next) {
			if (c->parent != t || !wait_match(c, pid))
				continue;
			any = true;
			if (c->state == UM_TASK_ZOMBIE) {
				zombie = c;
				break;
			}
		}
		if (!any)
			return -ECHILD;
		if (zombie)
			break;
		if (options & WNOHANG)
			return 0;
		if (um_signal_pending(t))
			return -UM_ERESTARTSYS;
		pthread_cond_wait(&k->changed, &k->lock);
	}
	status = zombie->wait_status;
	cpid = zombie->pid;
	um_task_free(zombie);
	if (a[3]) {
		struct rusage ru;

		memset(&ru, 0, sizeof(ru));
		if (um_copy_to_guest(t->mm, a[3], &ru, sizeof(ru)))
			return -EFAULT;
	}
	if (a[1] && um_copy_to_guest(t->mm, a[1], &status, 4))
		return -EFAULT;
	return cpid;
}

static long send_one(struct um_task *t, struct um_task *to, int sig, int code)
{
	if (to->state == UM_TASK_ZOMBIE || !sig)
		return 0;
	um_signal_send(to, sig);
	if (to->pending & (1ULL << (sig - 1))) {
		to->info[sig - 1].pid = t->pid;
		to->info[sig - 1].code = code;
	}
	return 0;
}

static long sys_kill(struct um_task *t, const uint64_t *a)
{
	int pid = (int)a[0], sig = (int)a[1];
	struct um_task *to, *next;
	bool found = false;

	if (sig < 0 || sig > UM_NSIG)
		return -EINVAL;
	if (pid > 0) {
		to = um_task_find(t->k, pid);
		return to ? send_one(t, to, sig, SI_USER) : -ESRCH;
	}
	/* No process groups: 0 and -pgrp mean every task, -1 all but init. */
	for (to = t->k->tasks; to; to = next) {
		next = to->next;
		if (pid == -1 && (to == t->k->init || to == t))
			continue;
		found = true;
		send_one(t, to, sig, SI_USER);
	}
	return found ? 0 : -ESRCH;
}

static long sys_tkill(struct um_task *t, const uint64_t *a)
{
	int sig = (int)a[1];
	struct um_task *to = um_task_find(t->k, (int)a[0]);

	if ((int)a[0] <= 0 || sig < 0 || sig > UM_NSIG)
		return -EINVAL;
	return to ? send_one(t, to, sig, SI_TKILL) : -ESRCH;
}

static long sys_tgkill(struct um_task *t, const uint64_t *a)
{
	uint64_t b[2] = {a[1], a[2]};

	if ((int)a[0] <= 0)
		return -EINVAL;
	if ((int)a[0] != (int)a[1])
		return -ESRCH; /* one thread per process */
	return sys_tkill(t, b);
}

static long sys_arch_prctl(struct um_task *t, const uint64_t *a)
{
	switch (a[0]) {
	case ARCH_SET_FS:
		if (a[1] >= TASK_SIZE_MAX)
			return -EPERM;
		t->regs.fs_base = a[1];
		return 0;
	case ARCH_GET_FS:
		return um_copy_to_guest(t->mm, a[1], &t->regs.fs_base, 8)
			       ? -EFAULT
			       : 0;
	default:
		return -EINVAL;
	}
}

/* ---- identity, time, randomness ---- */

static long sys_uname(struct um_task *t, const uint64_t *a)
{
	struct utsname u, host;

	memset(&u, 0, sizeof(u));
	if (uname(&host) < 0)
		return -EFAULT;
	strcpy(u.sysname, "Linux");
	strcpy(u.nodename, "umm");
	memcpy(u.release, host.release, sizeof(u.release));
	strcpy(u.version, "#1 umm guest kernel");
	strcpy(u.machine, "x86_64");
	strcpy(u.domainname, "(none)");
	return um_copy_to_guest(t->mm, a[0], &u, sizeof(u)) ? -EFAULT : 0;
}

static long sys_getuid(struct um_task *t, const uint64_t *a)
{
	return getuid();
}

static long sys_geteuid(struct um_task *t, const uint64_t *a)
{
	return geteuid();
}

static long sys_getgid(struct um_task *t, const uint64_t *a)
{
	return getgid();
}

static long sys_getegid(struct um_task *t, const uint64_t *a)
{
	return getegid();
}

/* No supplementary groups. */
static long sys_getgroups(struct um_task *t, const uint64_t *a)
{
	return (int)a[0] < 0 ? -EINVAL : 0;
}

#define UM_PR_SET_NAME 15
#define UM_PR_GET_NAME 16

static long sys_prctl(struct um_task *t, const uint64_t *a)
{
	char name[16];
	long len;

	switch (a[0]) {
	case UM_PR_SET_NAME:
		len = um_strncpy_from_guest(t->mm, name, a[1], sizeof(name));
		if (len == -ENAMETOOLONG) { /* cut, as Linux does */
			if (um_copy_from_guest(t->mm, name, a[1],
					       sizeof(name) - 1))
				return -EFAULT;
			len = sizeof(name) - 1;
		}
		if (len < 0)
			return len;
		memset(t->comm, 0, sizeof(t->comm));
		memcpy(t->comm, name, (size_t)len);
		return 0;
	case UM_PR_GET_NAME:
		return um_copy_to_guest(t->mm, a[1], t->comm, sizeof(t->comm))
			       ? -EFAULT
			       : 0;
	default:
		return -EINVAL;
	}
}

static long sys_getpgrp(struct um_task *t, const uint64_t *a)
{
	return t->k->init ? t->k->init->pid : 1; /* one process group */
}

static long sys_getrandom(struct um_task *t, const uint64_t *a)
{
	char buf[256];
	uint64_t done = 0;
	ssize_t n;

	if (a[2] & ~(uint64_t)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	while (done < a[1]) {
		size_t want =
			a[1] - done < sizeof(buf) ? a[1] - done : sizeof(buf);

		n = getrandom(buf, want, GRND_NONBLOCK);
		if (n <= 0)
			break;
		if (um_copy_to_guest(t->mm, a[0] + done, buf, (size_t)n))
			return done ? (long)done : -EFAULT;
		done += (uint64_t)n;
		if (done >= (32ULL << 20))
			break; /* Linux's cap on one call */
	}
	return (long)done;
}

static long sys_clock_gettime(struct um_task *t, const uint64_t *a)
{
	struct timespec ts;

	if (clock_gettime((clockid_t)a[0], &ts) < 0)
		return -errno;
	return um_copy_to_guest(t->mm, a[1], &ts, sizeof(ts)) ? -EFAULT : 0;
}

static long sys_clock_getres(struct um_task *t, const uint64_t *a)
{
	struct timespec ts;

	if (clock_getres((clockid_t)a[0], &ts) < 0)
		return -errno;
	if (a[1] && um_copy_to_guest(t->mm, a[1], &ts, sizeof(ts)))
		return -EFAULT;
	return 0;
}

static long sys_gettimeofday(struct um_task *t, const uint64_t *a)
{
	struct timespec ts;
	struct {
		int64_t sec, usec;
	} tv;
	int32_t tz[2] = {0, 0};

	clock_gettime(CLOCK_REALTIME, &ts);
	tv.sec = ts.tv_sec;
	tv.usec = ts.tv_nsec / 1000;
	if (a[0] && um_copy_to_guest(t->mm, a[0], &tv, sizeof(tv)))
		return -EFAULT;
	if (a[1] && um_copy_to_guest(t->mm, a[1], tz, sizeof(tz)))
		return -EFAULT;
	return 0;
}

static long sys_time(struct um_task *t, const uint64_t *a)
{
	int64_t now = (int64_t)time(NULL);

	if (a[0] && um_copy_to_guest(t->mm, a[0], &now, 8))
		return -EFAULT;
	return (long)now;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * Sleep on @clock until @deadline (absolute) or a signal: 0 or -EINTR,
 * with what was left in *left.
 */
static long sleep_until(struct um_task *t, clockid_t clock, int64_t deadline,
			int64_t *left)
{
	struct timespec now;
	int64_t ms;
	int ret;

	for (;;) {
		clock_gettime(clock, &now);
		*left = deadline - ts_ns(&now);
		if (*left <= 0) {
			*left = 0;
			return 0;
		}
		ms = (*left + 999999) / 1000000;
		ret = um_task_wait_fd(t, -1, 0,
				      ms > 1000000 ? 1000000 : (int)ms);
		if (ret == -UM_ERESTARTSYS) {
			clock_gettime(clock, &now);
			*left = deadline - ts_ns(&now);
			if (*left < 0)
				*left = 0;
			return -EINTR;
		}
	}
}

static long do_nanosleep(struct um_task *t, clockid_t clock, bool abs,
			 uint64_t req_va, uint64_t rem_va)
{
	struct timespec req, now, rem;
	int64_t left, deadline;
	long ret;

	if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC &&
	    clock != CLOCK_BOOTTIME && clock != CLOCK_TAI)
		return -EINVAL;
	if (um_copy_from_guest(t->mm, &req, req_va, sizeof(req)))
		return -EFAULT;
	if (req.tv_sec < 0 || req.tv_nsec < 0 || req.tv_nsec >= 1000000000)
		return -EINVAL;
	clock_gettime(clock, &now);
	deadline = abs ? ts_ns(&req) : ts_ns(&now) + ts_ns(&req);
	ret = sleep_until(t, clock, deadline, &left);
	if (ret == -EINTR && !abs && rem_va) {
		rem.tv_sec = left / 1000000000;
		rem.tv_nsec = left % 1000000000;
		if (um_copy_to_guest(t->mm, rem_va, &rem, sizeof(rem)))
			return -EFAULT;
	}
	return ret;
}

static long sys_nanosleep(struct um_task *t, const uint64_t *a)
{
	return do_nanosleep(t, CLOCK_MONOTONIC, false, a[0], a[1]);
}

static long sys_clock_nanosleep(struct um_task *t, const uint64_t *a)
{
	return do_nanosleep(t, (clockid_t)a[0], a[1] & TIMER_ABSTIME, a[2],
			    a[3]);
}

/* pause: until a signal that is not ignored runs its handler or kills. */
static long sys_pause(struct um_task *t, const uint64_t *a)
{
	while (um_task_wait_fd(t, -1, 0, -1) != -UM_ERESTARTSYS)
		;
	return -UM_ERESTARTNOHAND;
}

static long sys_sched_yield(struct um_task *t, const uint64_t *a)
{
	return 0;
}

static long sys_umask(struct um_task *t, const uint64_t *a)
{
	return 022; /* nothing is created: the root is read-only */
}

static long sys_prlimit64(struct um_task *t, const uint64_t *a)
{
	struct rlimit r;

	if (a[0] && (int)a[0] != t->pid)
		return um_task_find(t->k, (int)a[0]) ? -EPERM : -ESRCH;
	if (a[1] >= RLIM_NLIMITS)
		return -EINVAL;
	if (a[3]) {
		r.rlim_cur = r.rlim_max = RLIM_INFINITY;
		if (a[1] == RLIMIT_STACK)
			r.rlim_cur = 8 << 20;
		if (a[1] == RLIMIT_NOFILE)
			r.rlim_cur = r.rlim_max = 1024;
		if (um_copy_to_guest(t->mm, a[3], &r, sizeof(r)))
			return -EFAULT;
	}
	return a[2] ? -EPERM : 0; /* limits are fixed */
}

static long sys_getrlimit(struct um_task *t, const uint64_t *a)
{
	uint64_t b[4] = {0, a[0], 0, a[1]};

	return sys_prlimit64(t, b);
}

static long sys_getrusage(struct um_task *t, const uint64_t *a)
{
	struct rusage ru;

	if ((int)a[0] != RUSAGE_SELF && (int)a[0] != RUSAGE_CHILDREN &&
	    (int)a[0] != RUSAGE_THREAD)
		return -EINVAL;
	memset(&ru, 0, sizeof(ru));
	return um_copy_to_guest(t->mm, a[1], &ru, sizeof(ru)) ? -EFAULT : 0;
}

/* One thread per process: no one to wake, and no one to wait for. */
static long sys_futex(struct um_task *t, const uint64_t *a)
{
	uint32_t val;

	switch (a[1] & FUTEX_CMD_MASK) {
	case FUTEX_WAKE:
		return 0;
	case FUTEX_WAIT:
		if (um_copy_from_guest(t->mm, &val, a[0], 4))
			return -EFAULT;
		return val != (uint32_t)a[2] ? -EAGAIN : -ENOSYS;
	default:
		return -ENOSYS;
	}
}

/* ---- the table ---- */

struct um_syscall_desc {
	const char *name;
	um_syscall_fn *fn;
	unsigned int nargs;
};

#define SC(nr, fn, n) [SYS_##nr] = {#nr, fn, n}
static const struct um_syscall_desc table[UM_NR_SYSCALLS] = {
	SC(read, um_sys_read, 3),
	SC(write, um_sys_write, 3),
	SC(open, um_sys_open, 3),
	SC(close, um_sys_close, 1),
	SC(stat, um_sys_stat, 2),
	SC(fstat, um_sys_fstat, 2),
	SC(lstat, um_sys_lstat, 2),
	SC(lseek, um_sys_lseek, 3),
	SC(mmap, sys_mmap, 6),
	SC(mprotect, sys_mprotect, 3),
	SC(munmap, sys_munmap, 2),
	SC(brk, sys_brk, 1),
	SC(rt_sigaction, um_sys_rt_sigaction, 4),
	SC(rt_sigprocmask, um_sys_rt_sigprocmask, 4),
	SC(rt_sigreturn, um_sys_rt_sigreturn, 0),
	SC(ioctl, um_sys_ioctl, 3),
	SC(pread64, um_sys_pread64, 4),
	SC(readv, um_sys_readv, 3),
	SC(writev, um_sys_writev, 3),
	SC(access, um_sys_access, 2),
	SC(pipe, um_sys_pipe, 1),
	SC(sched_yield, sys_sched_yield, 0),
	SC(mremap, sys_mremap, 5),
	SC(msync, sys_msync, 3),
	SC(mincore, sys_mincore, 3),
	SC(madvise, sys_madvise, 3),
	SC(dup, um_sys_dup, 1),
	SC(dup2, um_sys_dup2, 2),
	SC(pause, sys_pause, 0),
	SC(nanosleep, sys_nanosleep, 2),
	SC(getpid, sys_getpid, 0),
	SC(clone, sys_clone, 5),
	SC(fork, sys_fork, 0),
	SC(vfork, sys_vfork, 0),
	SC(execve, sys_execve, 3),
	SC(exit, sys_exit_group, 1),
	SC(wait4, sys_wait4, 4),
	SC(kill, sys_kill, 2),
	SC(uname, sys_uname, 1),
	SC(fcntl, um_sys_fcntl, 3),
	SC(getdents64, um_sys_getdents64, 3),
	SC(getcwd, um_sys_getcwd, 2),
	SC(chdir, um_sys_chdir, 1),
	SC(fchdir, um_sys_fchdir, 1),
	SC(readlink, um_sys_readlink, 3),
	SC(umask, sys_umask, 1),
	SC(gettimeofday, sys_gettimeofday, 2),
	SC(getrlimit, sys_getrlimit, 2),
	SC(getrusage, sys_getrusage, 2),
	SC(getuid, sys_getuid, 0),
	SC(getgid, sys_getgid, 0),
	SC(geteuid, sys_geteuid, 0),
	SC(getegid, sys_getegid, 0),
	SC(getppid, sys_getppid, 0),
	SC(getpgrp, sys_getpgrp, 0),
	SC(getgroups, sys_getgroups, 2),
	SC(prctl, sys_prctl, 5),
	SC(rt_sigpending, um_sys_rt_sigpending, 2),
	SC(rt_sigsuspend, um_sys_rt_sigsuspend, 2),
	SC(arch_prctl, sys_arch_prctl, 2),
	SC(gettid, sys_getpid, 0),
	SC(tkill, sys_tkill, 2),
	SC(time, sys_time, 1),
	SC(futex, sys_futex, 6),
	SC(set_tid_address, sys_set_tid_address, 1),
	SC(remap_file_pages, sys_remap_file_pages, 5),
	SC(clock_gettime, sys_clock_gettime, 2),
	SC(clock_getres, sys_clock_getres, 2),
	SC(clock_nanosleep, sys_clock_nanosleep, 4),
	SC(exit_group, sys_exit_group, 1),
	SC(tgkill, sys_tgkill, 3),
	SC(openat, um_sys_openat, 4),
	SC(newfstatat, um_sys_newfstatat, 4),
	SC(readlinkat, um_sys_readlinkat, 4),
	SC(faccessat, um_sys_faccessat, 3),
	SC(dup3, um_sys_dup3, 3),
	SC(pipe2, um_sys_pipe2, 2),
	SC(prlimit64, sys_prlimit64, 4),
	SC(getrandom, sys_getrandom, 3),
	SC(statx, um_sys_statx, 5),
	SC(mkdir, um_sys_mkdir, 2),
	SC(mkdirat, um_sys_mkdirat, 3),
	SC(rmdir, um_sys_unlink, 1),
	SC(unlink, um_sys_unlink, 1),
	SC(unlinkat, um_sys_unlinkat, 3),
	SC(rename, um_sys_rename, 2),
	SC(renameat, um_sys_renameat, 4),
	SC(renameat2, um_sys_renameat, 5),
	SC(symlink, um_sys_symlink, 2),
	SC(symlinkat, um_sys_symlinkat, 3),
	SC(link, um_sys_symlink, 2), /* the new name in a[1] too */
	SC(linkat, um_sys_linkat, 5),
	SC(mknod, um_sys_mkdir, 3),
	SC(mknodat, um_sys_mkdirat, 4),
	SC(chmod, um_sys_chmod, 2),
	SC(fchmod, um_sys_fchmod, 2),
	SC(fchmodat, um_sys_fchmodat, 3),
	SC(chown, um_sys_chmod, 3),
	SC(fchown, um_sys_fchmod, 3),
	SC(lchown, um_sys_lchown, 3),
	SC(fchownat, um_sys_fchownat, 5),
	SC(truncate, um_sys_chmod, 2),
	SC(ftruncate, um_sys_ftruncate, 2),
	SC(utimensat, um_sys_utimensat, 4),
};

const char *um_syscall_name(long nr)
{
	return nr >= 0 && nr < UM_NR_SYSCALLS && table[nr].name ? table[nr].name
								: NULL;
}

static void trace_syscall(struct um_task *t, const struct um_event *ev,
			  long ret)
{
	const char *name = um_syscall_name(ev->nr);
	unsigned int i, n = name ? table[ev->nr].nargs : 6;
	FILE *f = t->k->trace;

	if (name)
		fprintf(f, "[%d] %s(", t->pid, name);
	else
		fprintf(f, "[%d] syscall_%ld(", t->pid, ev->nr);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%#" PRIx64, i ? ", " : "", ev->args[i]);
	if (t->regs_set)
		fprintf(f, ")\n");
	else if (ret < 0 && ret > -4096)
		fprintf(f, ") = -%s\n",
			strerrorname_np((int)-ret) ? strerrorname_np((int)-ret)
						   : "?");
	else
		fprintf(f, ") = %#lx\n", ret);
}

void um_syscall(struct um_task *t, const struct um_event *ev)
{
	struct um_kernel *k = t->k;
	long nr = ev->nr, ret;

	t->regs_set = false;
	t->nr_syscalls++;
	if (nr >= 0 && nr < UM_NR_SYSCALLS)
		k->stats.syscalls[nr]++;
	if (nr >= 0 && nr < UM_NR_SYSCALLS && table[nr].fn) {
		ret = table[nr].fn(t, ev->args);
	} else {
		k->stats.unknown++;
		ret = -ENOSYS;
	}
	t->restart = 0;
	if (ret == -UM_ERESTARTSYS || ret == -UM_ERESTARTNOHAND) {
		/* EINTR, unless delivery restarts it (um/ksignal.c) */
		t->restart = ret;
		t->restart_nr = nr;
		ret = -EINTR;
	}
	if (k->trace)
		trace_syscall(t, ev, ret);
	if (!t->regs_set)
		um_syscall_return(&t->regs, ret);
}
