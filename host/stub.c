// SPDX-License-Identifier: MIT
/*
 * The stub backend, kernel side: a guest address space is a child process
 * (as User-Mode Linux's SKAS mode), holding at the guest's own addresses
 * only what the guest has mapped, plus the stub area (host/stub.h). The
 * kernel posts each batch of operations in the page it shares with the
 * stub and waits for the result: one round trip per flush.
 *
 * Semantics are the local backend's, so both give the same results from the
 * same batches: the guest range [min_addr, size) is reserved PROT_NONE
 * (anonymous, MAP_NORESERVE) from the first reset on, HOST_OP_UNMAP and a
 * reset put ranges back to that reservation, and a stale PROTECT is skipped.
 * Pages below vm.mmap_min_addr can never be mapped in the child.
 *
 * A child that dies (killed from outside, or a bug of the stub) is noticed
 * at the next request: waits sleep with a timeout and check that the child
 * lives, so nothing hangs on a dead stub; its requests then fail with
 * -ESRCH and a reset of it succeeds (a dead process maps nothing). The
 * child is signalled and reaped through a pidfd (CLONE_PIDFD, or
 * pidfd_open for a child the zygote made), so a pid reused after someone
 * else reaped it is never hit; a fork of the kernel neither takes nor kills
 * its parent's children.
 *
 * Children are made by the zygote (host/stub.h), a stub child of one phys
 * that forks itself: a fork of a process that holds only the stub area,
 * instead of a clone of this whole process that must then unmap it. Where
 * the zygote cannot start, or a child it made fails to boot, children are
 * cloned from this process as before.
 */
#include <cpuid.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#include <time.h>
#include <unistd.h>

#include "host/host.h"
#include "host/internal.h"
#include "host/stub.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE 0x2
#endif

#define STUB_WAIT_NS 10000000L /* 10 ms between checks that the child lives */
/*
 * Polls before a futex sleep (about 20 us here), made only while the other
 * side is awake on another CPU (spin_across, where the CPU has rdtscp to
 * tell cheaply). Measured here (2 shared vCPUs, tests/stub_test): a round
 * trip costs ~2 us when both sides share a CPU and sleep at once, 40-80 us
 * when the host wakes the stub on the other CPU, and 0.9 us when both spin
 * there; spinning on one CPU costs ~53 us. So: 2.2 us on one CPU, 1.0 us
 * on two.
 */
#define STUB_SPIN_INIT 2000

struct stub {
	pid_t pid;
	int pidfd; /* signalled and waited for, so a reused pid is safe; or -1 */
	/*
	 * The stub file, kept open until the child has booted: a child the
	 * zygote made opens it through /proc/<us>/fd/<file_fd>. Or -1.
	 */
	int file_fd;
	bool spawned; /* made by the zygote */
	pid_t owner; /* the kernel process that started it */
	bool dead;
	bool killed; /* stub_discard: it runs no more; reaped by stub_free */
	uint32_t seq; /* of the last request posted */
	struct stub_page *page; /* our view of its shared page and stack */
	struct phys *phys;
	uint64_t syscalls; /* page->syscalls already counted */
	bool in_handler; /* the guest has run: it waits in the stub's handler */
	/*
	 * host_stub_set_defer(): batches made while the guest waits in the
	 * handler wait here for the next resume, which carries them
	 * (STUB_CMD_BATCH_RESUME). must_reset: a batch that waited failed
	 * after it was counted done; the space is reset before the guest
	 * runs again. Only the owner's thread touches them.
	 */
	bool defer, must_reset;
	unsigned int nr_deferred;
	struct host_op deferred[STUB_OPS];
	uint32_t
		fpu_pending; /* bytes of the FPU area set for the next resume */
};

static unsigned int stub_spin = STUB_SPIN_INIT; /* atomic */
static int stub_spin_across = -1; /* -1: not known yet; atomic */

/* The pool of one: a started child waiting for a space over pool_phys. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stub *pool_spare; /* protected by pool_lock */
static struct phys *pool_phys; /* refill for this phys; protected by it */

/*
 * The zygote, for zygote_phys. zygote_lock is held across its round trips
 * (one request at a time) and taken after pool_lock. zygote_off: not used
 * (host_stub_set_zygote, or a child it made failed to boot).
 */
static pthread_mutex_t zygote_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stub *zygote; /* protected by zygote_lock */
static struct phys *zygote_phys; /* protected by zygote_lock */
static bool zygote_off; /* protected by zygote_lock */

/* Whether the CPU has rdtscp (CPUID 0x80000001, EDX bit 27). */
static bool have_rdtscp(void)
{
	unsigned int a, b, c, d;

	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (d >> 27) & 1;
}

void host_stub_set_spin(unsigned int polls, bool across_cpus)
{
	__atomic_store_n(&stub_spin, polls, __ATOMIC_RELAXED);
	__atomic_store_n(&stub_spin_across, across_cpus && have_rdtscp(),
			 __ATOMIC_RELAXED);
}

/* Put the spin settings in the page; with spin_across, where we run. */
static bool spin_setup(struct stub_page *d)
{
	int across = __atomic_load_n(&stub_spin_across, __ATOMIC_RELAXED);

	if (across < 0) {
		across = have_rdtscp();
		__atomic_store_n(&stub_spin_across, across, __ATOMIC_RELAXED);
	}
	d->spin = __atomic_load_n(&stub_spin, __ATOMIC_RELAXED);
	d->spin_across = (uint32_t)across;
	if (across)
		__atomic_store_n(&d->kernel_cpu, stub_cpu_now(),
				 __ATOMIC_SEQ_CST);
	return across;
}

uint64_t host_stub_min_addr(void)
{
	static uint64_t min; /* 0: not read yet */
	unsigned long long v = 65536;
	uint64_t m = __atomic_load_n(&min, __ATOMIC_RELAXED);
	FILE *f;

	if (m)
		return m;
	f = fopen("/proc/sys/vm/mmap_min_addr", "r");
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 65536;
		fclose(f);
	}
	m = v ? PAGE_ALIGN(v) : PAGE_SIZE;
	__atomic_store_n(&min, m, __ATOMIC_RELAXED);
	return m;
}

static long futex(uint32_t *word, int op, uint32_t val,
		  const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* Reap the child, waiting for it or not (WNOHANG). 0: it still runs. */
static int stub_reap(struct stub *s, int flags)
{
	siginfo_t info;
	int r;

	if (s->pidfd < 0)
		return waitpid(s->pid, NULL, flags | __WALL);
	info.si_pid = 0;
	r = waitid(P_PIDFD, (id_t)s->pidfd, &info, flags | WEXITED | __WALL);
	return r < 0 ? r : info.si_pid;
}

/* Reap the child if it has died. Returns whether it still runs. */
static bool stub_alive(struct stub *s)
{
	int r;

	if (s->dead)
		return false;
	r = stub_reap(s, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return true;
	s->dead = true; /* reaped now, or by someone else (ECHILD) */
	return false;
}

/* Wait for the stub to carry out request @seq: spin @spin, then sleep. */
static int stub_wait(struct stub *s, uint32_t seq, unsigned int spin)
{
	struct stub_page *d = s->page;
	unsigned int i;

	for (i = 0; i < spin; i++) {
		if (__atomic_load_n(&d->ack, __ATOMIC_SEQ_CST) == seq)
			return 0;
		__builtin_ia32_pause();
	}
	__atomic_store_n(&d->kernel_waiting, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		struct timespec ts = {.tv_nsec = STUB_WAIT_NS};
		uint32_t ack = __atomic_load_n(&d->ack, __ATOMIC_SEQ_CST);

		if (ack == seq)
			break;
		if (futex(&d->ack, FUTEX_WAIT, ack, &ts) < 0 &&
		    errno == ETIMEDOUT && !stub_alive(s)) {
			__atomic_store_n(&d->kernel_waiting, 0,
					 __ATOMIC_RELAXED);
			return -ESRCH;
		}
	}
	__atomic_store_n(&d->kernel_waiting, 0, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Post @cmd (its arguments already in the page) and wait for it. 0, or
 * -ESRCH when the child is gone. The result is in the page.
 */
/*
 * Post @cmd and wait for its answer, spinning @extra polls more than the
 * set spin before sleeping (a request known to take longer).
 */
static int stub_call_spin(struct stub *s, uint32_t cmd, unsigned int extra)
{
	struct stub_page *d = s->page;

	unsigned int spin;
	bool across;

	if (s->dead || s->killed)
		return -ESRCH;
	d->cmd = cmd;
	across = spin_setup(d);
	spin = d->spin ? d->spin + extra : 0;
	__atomic_store_n(&d->req, ++s->seq, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->stub_waiting, __ATOMIC_SEQ_CST)) {
		futex(&d->req, FUTEX_WAKE, 1, NULL);
		if (across)
			spin = 0; /* it wakes slower than a spin lasts */
	} else if (across && __atomic_load_n(&d->stub_cpu, __ATOMIC_SEQ_CST) ==
				     d->kernel_cpu) {
		spin = 0; /* it waits for our CPU */
	}
	return stub_wait(s, s->seq, spin);
}

static int stub_call(struct stub *s, uint32_t cmd)
{
	return stub_call_spin(s, cmd, 0);
}

/*
 * The stub's result, not trusted (the page is writable in the child):
 * 0 or a -errno, and no more ops done than were asked for.
 */
static int stub_result(struct host_as *as, struct stub *s, unsigned int nr,
		       unsigned int *done)
{
	struct stub_page *d = s->page;
	uint64_t calls = d->syscalls;
	int err = d->err;

	count_syscalls(as, (unsigned int)(calls - s->syscalls));
	s->syscalls = calls;
	*done = d->done <= nr ? d->done : 0;
	if (err > 0 || err < -4095)
		return -EIO;
	return err;
}

/*
 * The polls to wait longer for a resume that first carries @nr ops of
 * s->deferred: each page it populates costs the child about a page fault
 * (a microsecond or two), and a sleep here costs 40-80 us to wake from on
 * a machine that idles its vCPUs. The stub's spin counts as a guess of
 * ~10 ns a poll; capped at 8x the set spin.
 */
static unsigned int deferred_spin(struct stub *s, unsigned int nr)
{
	uint64_t pages = 0;
	unsigned int i;

	for (i = 0; i < nr; i++)
		if ((s->deferred[i].flags & HOST_OP_POPULATE) &&
		    s->deferred[i].kind <= HOST_OP_MAP_ZERO)
			pages += s->deferred[i].len >> PAGE_SHIFT;
	pages *= 200;
	return pages > 8ULL * s->page->spin ? 8 * s->page->spin
					    : (unsigned int)pages;
}

/* Put the batch that waits in the shared page. */
static void stub_post_deferred(struct host_as *as, struct stub *s)
{
	struct stub_page *d = s->page;

	memcpy(d->ops, s->deferred, s->nr_deferred * sizeof(*s->deferred));
	d->nr_ops = s->nr_deferred;
	d->gen = as->reset_gen;
}

/*
 * Carry out the batch that waits, in a round trip of its own (something
 * else needs the child's mappings up to date first).
 */
static void stub_send_deferred(struct host_as *as, struct stub *s)
{
	unsigned int done, nr = s->nr_deferred;
	int err;

	if (!nr)
		return;
	stub_post_deferred(as, s);
	s->nr_deferred = 0;
	__atomic_add_fetch(&as->stats.round_trips, 1, __ATOMIC_RELAXED);
	err = stub_call(s, STUB_CMD_BATCH);
	if (!err)
		err = stub_result(as, s, nr, &done);
	if (err && err != -ESRCH)
		s->must_reset = true;
}

static int stub_apply(struct host_as *as, const struct host_op *ops,
		      unsigned int nr, unsigned int *done)
{
	struct stub *s = as->priv;
	struct stub_page *d = s->page;
	int err;

	BUG_ON(nr > STUB_OPS);
	*done = 0;
	/*
	 * The guest waits in the handler, or has not run yet, and nothing
	 * runs in the child before the next resume: the batch can wait for
	 * it, in order after any other waiting. Its frames may be freed
	 * meanwhile; the child cannot touch them before the batch is carried
	 * out.
	 */
	if (s->defer && !s->dead && s->nr_deferred + nr <= STUB_OPS) {
		memcpy(s->deferred + s->nr_deferred, ops, nr * sizeof(*ops));
		s->nr_deferred += nr;
		*done = nr;
		return 0;
	}
	stub_send_deferred(as, s);
	memcpy(d->ops, ops, nr * sizeof(*ops));
	d->nr_ops = nr;
	d->gen = as->reset_gen;
	__atomic_add_fetch(&as->stats.round_trips, 1, __ATOMIC_RELAXED);
	err = stub_call(s, STUB_CMD_BATCH);
	if (err)
		return err;
	return stub_result(as, s, nr, done);
}

/* Called from any thread; the caller excludes apply (reset_lock). */
static int stub_reset_space(struct host_as *as)
{
	struct stub *s = as->priv;
	unsigned int done;
	int err;

	s->nr_deferred = 0; /* what waited is dropped with the rest */
	s->page->size = as->size;
	__atomic_add_fetch(&as->stats.round_trips, 1, __ATOMIC_RELAXED);
	err = stub_call(s, STUB_CMD_RESET);
	if (!err)
		s->must_reset = false;
	if (err == -ESRCH)
		return 0; /* a dead process holds no mapping */
	if (err)
		return err;
	return stub_result(as, s, 0, &done);
}

/* Kill and reap the child; free its pages. */
static void stub_free(struct stub *s)
{
	if (!s)
		return;
	/* A fork of the kernel holds a copy of the struct, not the child. */
	if (!s->dead && s->owner == getpid()) {
		if (s->pidfd >= 0)
			syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL,
				0);
		else
			kill(s->pid, SIGKILL);
		while (stub_reap(s, 0) < 0 && errno == EINTR)
			;
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->file_fd >= 0)
		close(s->file_fd);
	munmap(s->page, HOST_STUB_USED_END - HOST_STUB_PAGE);
	free(s);
}

static void stub_destroy(struct host_as *as)
{
	stub_free(as->priv);
}

/*
 * The child ends now, without a round trip: killed, it runs no more, and a
 * guest that keeps to the stub's protocol waits in the stub when its space
 * is let go of, so its frames may go at once. (A hostile guest that forged
 * its event in the shared page runs on until the SIGKILL lands: see the
 * boundary in README.md.) Its reaping, which waits for the host to tear
 * the process down, is stub_free's, whenever the space is freed.
 */
static void stub_discard(struct host_as *as)
{
	struct stub *s = as->priv;

	s->nr_deferred = 0;
	s->must_reset = false;
	if (s->dead || s->owner != getpid())
		return;
	if (s->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
	else
		kill(s->pid, SIGKILL);
	s->killed = true;
}

static const struct host_backend stub_backend = {
	.name = "stub",
	.apply = stub_apply,
	.reset = stub_reset_space,
	.destroy = stub_destroy,
	.discard = stub_discard,
	.own_process = true,
};

void host_stub_sync(struct host_as *as)
{
	if (as->backend == &stub_backend)
		stub_send_deferred(as, as->priv);
}

void host_stub_set_defer(struct host_as *as, bool on)
{
	struct stub *s = as->priv;

	if (as->backend != &stub_backend)
		return;
	if (!on)
		stub_send_deferred(as, s);
	s->defer = on;
}

/*
 * The rseq area the C library registered for this thread (glibc 2.35+),
 * which a child cloned from it inherits.
 */
static void stub_rseq(struct stub_page *d)
{
#ifdef RSEQ_SIG
	char *tp;

	if (!__rseq_size)
		return;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
	d->boot_rseq = (uintptr_t)(tp + __rseq_offset);
	d->boot_rseq_len = __rseq_size;
	d->boot_rseq_sig = RSEQ_SIG;
#else
	(void)d;
#endif
}

/* A file for the stub area, its code copied in. Returns the fd or -errno. */
static int stub_file(void)
{
	uint64_t len;
	uint32_t entry;
	const void *code = host_stub_code(&len, &entry);
	int fd, err;

	if (len > HOST_STUB_CODE_PAGES * PAGE_SIZE)
		return -E2BIG;
	fd = memfd_create("umm-stub", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, HOST_STUB_FILE_SIZE) < 0 ||
	    pwrite(fd, code, len, 0) != (ssize_t)len) {
		err = errno ? -errno : -EIO;
		close(fd);
		return err;
	}
	return fd;
}

/*
 * A stub for @phys, not started: its file (in s->file_fd) and our view of
 * its shared page, the boot request posted. NULL and errno on failure.
 */
static struct stub *stub_prepare(struct phys *phys)
{
	struct stub_page *d;
	struct stub *s;
	uint64_t len;
	uint32_t entry;
	uintptr_t lo;
	int fd, err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	fd = stub_file();
	if (fd < 0) {
		err = -fd;
		goto out_free;
	}
	d = mmap(NULL, HOST_STUB_USED_END - HOST_STUB_PAGE,
		 PROT_READ | PROT_WRITE, MAP_SHARED, fd, HOST_STUB_PAGE_OFF);
	if (d == MAP_FAILED) {
		err = errno;
		goto out_close;
	}
	lo = (uintptr_t)d;
	if (lo + HOST_STUB_USED_END - HOST_STUB_PAGE > HOST_STUB_START) {
		/* The child's first stack would vanish under the stub area. */
		munmap(d, HOST_STUB_USED_END - HOST_STUB_PAGE);
		err = ENOMEM;
		goto out_close;
	}
	host_stub_code(&len, &entry);
	d->boot_stub_fd = fd;
	d->boot_phys_fd = phys_fd(phys);
	d->boot_ppid = getpid();
	d->boot_entry = entry;
	d->boot_code_len = len;
	d->min_addr = host_stub_min_addr();
	d->handoff.fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
	spin_setup(d);
	stub_rseq(d);
	d->cmd = STUB_CMD_BOOT;
	d->req = 1;
	s->seq = 1;
	s->page = d;
	s->phys = phys;
	s->owner = getpid();
	s->file_fd = fd;
	s->pidfd = -1;
	return s;

out_close:
	close(fd);
out_free:
	free(s);
	errno = err;
	return NULL;
}

/*
 * Start a child for @phys, cloned from this process. It boots on its own:
 * wait for it with stub_ready() before the first request. NULL and errno
 * on failure.
 */
static struct stub *stub_clone_start(struct phys *phys)
{
	struct stub *s = stub_prepare(phys);
	long pid;

	if (!s)
		return NULL;
	pid = host_stub_clone((char *)s->page +
				      (HOST_STUB_STACK_TOP - HOST_STUB_PAGE),
			      s->page, &s->pidfd);
	if (pid < 0) {
		s->pidfd = -1;
		s->dead = true; /* no child: nothing to kill */
		stub_free(s);
		errno = (int)-pid;
		return NULL;
	}
	s->pid = (pid_t)pid;
	close(s->file_fd); /* the child has its own copy until it maps it */
	s->file_fd = -1;
	return s;
}

/* Wait for a started child to be up. 0 or -errno (the child's own). */
static int stub_ready(struct stub *s)
{
	int err = stub_wait(s, 1, 0);

	if (!err)
		err = s->page->err;
	else if (s->page->err) /* it died reporting why */
		err = s->page->err;
	if (s->file_fd >= 0) { /* mapped by now, or never */
		close(s->file_fd);
		s->file_fd = -1;
	}
	return err;
}

/*
 * The zygote for @phys, started (cloned and booted) if there is none; one
 * for another phys, or a fork's copy of our parent's, is dropped first.
 * NULL when it is off or cannot start. Context: zygote_lock held.
 */
static struct stub *zygote_get_locked(struct phys *phys)
{
	struct stub *z = zygote;

	if (z &&
	    (zygote_phys != phys || z->owner != getpid() || !stub_alive(z))) {
		stub_free(z);
		zygote = z = NULL;
	}
	if (z || zygote_off)
		return z;
	z = stub_clone_start(phys);
	if (z && stub_ready(z)) {
		stub_free(z);
		z = NULL;
	}
	zygote = z;
	zygote_phys = phys;
	return z;
}

/*
 * Ask @z for a child that boots from @s's file; its pid in s->pid. 0 or
 * an errno (ESRCH: the zygote died). Context: zygote_lock held.
 */
static int zygote_spawn_locked(struct stub *z, struct stub *s)
{
	struct stub_page *zd = z->page;
	int err, n;

	n = snprintf(zd->spawn_path, sizeof(zd->spawn_path), "/proc/%d/fd/%d",
		     (int)getpid(), s->file_fd);
	BUG_ON(n < 0 || (size_t)n >= sizeof(zd->spawn_path));
	/*
	 * Not pinned: pinning the zygote to this thread's CPU made forks
	 * ~15% cheaper here, but its children then often shared a CPU with
	 * their kernel thread, and every syscall and fault paid for it (1.4
	 * -> 2.2 us a getppid round trip, 6.7 -> 8.3 us a fault).
	 */
	err = -stub_call(z, STUB_CMD_SPAWN);
	if (!err)
		err = -zd->err;
	if (!err && zd->spawn_pid <= 0)
		err = EIO;
	if (err)
		return err;
	s->pid = zd->spawn_pid;
	return 0;
}

/*
 * Start a child for @phys, forked by the zygote. As stub_clone_start; it
 * keeps the stub file open until stub_ready, since the child opens it
 * through /proc. NULL and errno when there is no zygote or it failed.
 */
static struct stub *stub_spawn_start(struct phys *phys)
{
	struct stub *z, *s;
	int err = EAGAIN, tries;

	s = stub_prepare(phys);
	if (!s)
		return NULL;
	pthread_mutex_lock(&zygote_lock);
	/* A zygote killed from outside is replaced, once. */
	for (tries = 0; tries < 2 && err == EAGAIN; tries++) {
		z = zygote_get_locked(phys);
		if (!z)
			break;
		err = zygote_spawn_locked(z, s);
		if (err == ESRCH)
			err = EAGAIN;
	}
	pthread_mutex_unlock(&zygote_lock);
	if (err) {
		s->dead = true; /* no child: nothing to kill */
		stub_free(s);
		errno = err;
		return NULL;
	}
	/* Our child (CLONE_PARENT): no one else reaps it, the pid is its. */
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	s->spawned = true;
	return s;
}

/* The zygote's child failed to boot: no more children from it. */
static void zygote_disable(void)
{
	struct stub *z;

	pthread_mutex_lock(&zygote_lock);
	zygote_off = true;
	z = zygote;
	zygote = NULL;
	zygote_phys = NULL;
	pthread_mutex_unlock(&zygote_lock);
	stub_free(z);
}

/* Start a child for @phys: from the zygote, or cloned. NULL and errno. */
static struct stub *stub_start(struct phys *phys)
{
	struct stub *s = stub_spawn_start(phys);

	return s ? s : stub_clone_start(phys);
}

/*
 * Take the waiting child if it serves @phys. The next one is started by the
 * next host_stub_prestart(), off the path of the caller that needs a space
 * now: the clone itself costs about as much as the child's boot.
 */
static struct stub *pool_take(struct phys *phys)
{
	struct stub *s = NULL;

	pthread_mutex_lock(&pool_lock);
	if (pool_phys == phys && pool_spare && pool_spare->owner == getpid()) {
		s = pool_spare;
		pool_spare = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	return s;
}

int host_stub_prestart(struct phys *phys)
{
	struct stub *old = NULL;
	int err = 0;

	pthread_mutex_lock(&pool_lock);
	if (pool_phys != phys || !pool_spare || pool_spare->owner != getpid()) {
		old = pool_spare;
		pool_phys = phys;
		pool_spare = stub_start(phys);
		if (!pool_spare)
			err = -errno;
	}
	pthread_mutex_unlock(&pool_lock);
	stub_free(old);
	return err;
}

void host_stub_pool_drain(void)
{
	struct stub *old, *z;

	pthread_mutex_lock(&pool_lock);
	old = pool_spare;
	pool_spare = NULL;
	pool_phys = NULL;
	pthread_mutex_unlock(&pool_lock);
	stub_free(old);
	pthread_mutex_lock(&zygote_lock);
	z = zygote;
	zygote = NULL;
	zygote_phys = NULL;
	pthread_mutex_unlock(&zygote_lock);
	stub_free(z);
}

/* phys_free: a waiting child holds the file; a new phys may reuse @phys. */
void host_stub_pool_forget(struct phys *phys)
{
	bool mine;

	pthread_mutex_lock(&pool_lock);
	mine = pool_phys == phys;
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_lock(&zygote_lock);
	mine |= zygote_phys == phys;
	pthread_mutex_unlock(&zygote_lock);
	if (mine)
		host_stub_pool_drain();
}

void host_stub_set_zygote(bool on)
{
	struct stub *z;

	pthread_mutex_lock(&zygote_lock);
	zygote_off = !on;
	z = on ? NULL : zygote;
	if (z) {
		zygote = NULL;
		zygote_phys = NULL;
	}
	pthread_mutex_unlock(&zygote_lock);
	stub_free(z);
}

int host_stub_zygote_pid(void)
{
	int pid;

	pthread_mutex_lock(&zygote_lock);
	pid = zygote && zygote->owner == getpid() ? zygote->pid : -1;
	pthread_mutex_unlock(&zygote_lock);
	return pid;
}

int host_stub_pool_pid(void)
{
	int pid;

	pthread_mutex_lock(&pool_lock);
	pid = pool_spare ? pool_spare->pid : -1;
	pthread_mutex_unlock(&pool_lock);
	return pid;
}

int host_stub_pid(struct host_as *as)
{
	if (as->backend != &stub_backend)
		return -1;
	return ((struct stub *)as->priv)->pid;
}

/* The calls of host/stub_code.c once the stub serves requests. */
static const int stub_calls[] = {
	SYS_futex,   SYS_mmap,	     SYS_munmap,       SYS_mprotect,
	SYS_getppid, SYS_exit_group, SYS_rt_sigreturn, SYS_arch_prctl,
};

const int *host_stub_syscalls(unsigned int *nr)
{
	*nr = sizeof(stub_calls) / sizeof(stub_calls[0]);
	return stub_calls;
}

int host_stub_set_filter(struct host_as *as, const void *insns, unsigned int nr)
{
	struct stub *s = as->priv;
	struct stub_page *d;
	unsigned int done;
	int err;

	if (as->backend != &stub_backend)
		return -EINVAL;
	d = s->page;
	if (!nr || nr > STUB_FILTER_MAX)
		return -EINVAL;
	memcpy(d->filter, insns, nr * 8ULL);
	d->nr_ops = nr;
	__atomic_add_fetch(&as->stats.round_trips, 1, __ATOMIC_RELAXED);
	err = stub_call(s, STUB_CMD_FILTER);
	if (err)
		return err;
	return stub_result(as, s, 0, &done);
}

int host_stub_resume(struct host_as *as, struct host_regs *regs,
		     struct host_event *ev)
{
	struct stub *s = as->priv;
	struct stub_handoff *h;
	int err;

	if (as->backend != &stub_backend)
		return -EINVAL;
	h = &s->page->handoff;
	for (;;) {
		unsigned int nr = s->nr_deferred, done;
		uint32_t cmd = nr ? STUB_CMD_BATCH_RESUME : STUB_CMD_RESUME;

		if (s->must_reset) /* before anything else runs there */
			host_as_reset(as);
		if (s->nr_deferred)
			stub_post_deferred(as, s);
		s->nr_deferred = 0;
		h->regs = *regs;
		/* ours, whatever the guest wrote there */
		h->fpu_load = s->fpu_pending;
		__atomic_add_fetch(&as->stats.round_trips, 1, __ATOMIC_RELAXED);
		err = stub_call_spin(s, cmd, deferred_spin(s, nr));
		if (err)
			return err;
		if (cmd == STUB_CMD_RESUME)
			break;
		/*
		 * The batch went and the guest ran, or one op failed and the
		 * stub stayed: then the space is reset and the guest resumed
		 * without it. (The guest can write err itself: then it is
		 * only resumed again from the same registers.)
		 */
		err = stub_result(as, s, nr, &done);
		if (!err)
			break;
		if (err == -ESRCH)
			return err;
		s->must_reset = true;
	}
	s->fpu_pending = 0; /* the stub took it with the RESUME */
	s->in_handler = true;
	/* Written by the child, where the guest may write too: checked. */
	*regs = h->regs;
	*ev = h->ev;
	if (ev->kind < HOST_EVENT_SYSCALL || ev->kind > HOST_EVENT_SIGNAL ||
	    ev->signo <= 0 || ev->signo >= 64)
		return -EIO;
	return 0;
}

/* Our view of the stub's FPU area. */
static void *stub_fpu_area(struct stub *s)
{
	return (char *)s->page + (HOST_STUB_FPU - HOST_STUB_PAGE);
}

int host_stub_fpu_get(struct host_as *as, void *buf, size_t *len)
{
	size_t n = host_fpu_size();
	struct stub *s = as->priv;
	unsigned int done;
	int err;

	if (as->backend != &stub_backend)
		return -EINVAL;
	if (!n)
		return -EOPNOTSUPP;
	if (*len < n) {
		*len = n;
		return -ENOSPC;
	}
	*len = n;
	if (s->fpu_pending) {
		/* Ours, written by host_stub_fpu_set: the guest has not run. */
		memcpy(buf, stub_fpu_area(s), n);
		return 0;
	}
	if (!s->in_handler) {
		err = host_fpu_init_state(buf);
		return err < 0 ? err : 0;
	}
	__atomic_add_fetch(&as->stats.round_trips, 1, __ATOMIC_RELAXED);
	err = stub_call(s, STUB_CMD_FPU_GET);
	if (!err)
		err = stub_result(as, s, 0, &done);
	if (err)
		return err == -ESRCH ? err : -EIO;
	/* Written by the child, where the guest may write too: checked. */
	if (s->page->handoff.fpu_len != n)
		return -EIO;
	memcpy(buf, stub_fpu_area(s), n);
	return host_fpu_check_saved(buf, n);
}

int host_stub_fpu_set(struct host_as *as, const void *buf, size_t len)
{
	uint8_t state[HOST_STUB_FPU_MAX] __attribute__((aligned(64)));
	struct stub *s = as->priv;
	int n;

	if (as->backend != &stub_backend)
		return -EINVAL;
	/* Checked in a copy: a refused state leaves a pending one whole. */
	n = buf ? host_fpu_check(state, buf, len) : host_fpu_init_state(state);
	if (n < 0)
		return n;
	memcpy(stub_fpu_area(s), state, (size_t)n);
	s->fpu_pending = (uint32_t)n; /* host_stub_resume hands it over */
	return 0;
}

_Static_assert(HOST_EVENT_INTERRUPT == HOST_STUB_INTERRUPT,
	       "host.h's interrupt signal");

int host_stub_interrupt(struct host_as *as)
{
	struct stub *s = as->priv;
	long r;

	if (as->backend != &stub_backend)
		return -EINVAL;
	if (s->pidfd >= 0)
		r = syscall(SYS_pidfd_send_signal, s->pidfd,
			    HOST_STUB_INTERRUPT, NULL, 0);
	else
		r = kill(s->pid, HOST_STUB_INTERRUPT);
	return r < 0 ? -errno : 0;
}

struct host_as *host_as_new_stub(struct phys *phys, uint64_t size)
{
	struct host_as *as;
	struct stub *s;
	int err;

	if (!size || size & ~PAGE_MASK || size > HOST_STUB_START) {
		errno = EINVAL;
		return NULL;
	}
	as = calloc(1, sizeof(*as));
	if (!as)
		return NULL;
	s = pool_take(phys);
	if (!s)
		s = stub_start(phys);
	if (!s) {
		err = errno;
		goto out_free;
	}
	err = -stub_ready(s);
	if (err && s->spawned) {
		/* It could not reach or map its file: clone them from now on. */
		stub_free(s);
		zygote_disable();
		s = stub_clone_start(phys);
		if (!s) {
			err = errno;
			goto out_free;
		}
		err = -stub_ready(s);
	}
	if (err)
		goto out_stub;
	as->backend = &stub_backend;
	as->phys = phys;
	as->size = size;
	as->priv = s;
	/* The guest range, reserved: the space's first round trip. */
	err = -stub_reset_space(as);
	if (!err && s->dead)
		err = ESRCH;
	if (err)
		goto out_stub;
	host_as_register(as);
	return as;

out_stub:
	stub_free(s);
out_free:
	free(as);
	errno = err;
	return NULL;
}
