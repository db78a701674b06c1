// SPDX-License-Identifier: MIT
/*
 * Guest faults arrive as host SIGSEGV. The handler runs on the faulting
 * thread's own stack (no sigaltstack: liburcu's memb flavour, used for the
 * lock-free walks, does not allow read-side sections there), finds the
 * window the address is in, and runs the guest fault. An access the guest
 * mm refuses unwinds to umm_guest_call() with the guest signal; an address
 * in no window, or a SIGSEGV sent rather than raised by a fault, goes to
 * whatever handler was installed before ours.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "include/umm.h"
#include "mm/mm.h"
#include "um/um.h"

#ifndef __x86_64__
#error "umm reads the fault kind from x86-64's page-fault error code"
#endif

#define X86_PF_WRITE 0x2
#define X86_PF_INSTR 0x10

#define MAX_WINDOWS 4096

struct um_window {
	uintptr_t base; /* atomic; 0: slot free */
	uintptr_t end;
	struct mm *mm;
};

static struct um_window windows[MAX_WINDOWS];
static unsigned int windows_used; /* high-water mark; atomic */
static pthread_mutex_t windows_lock = PTHREAD_MUTEX_INITIALIZER;

int um_window_add(uintptr_t base, uint64_t size, struct mm *mm)
{
	unsigned int i;

	pthread_mutex_lock(&windows_lock);
	for (i = 0; i < MAX_WINDOWS; i++)
		if (!__atomic_load_n(&windows[i].base, __ATOMIC_RELAXED))
			break;
	if (i == MAX_WINDOWS) {
		pthread_mutex_unlock(&windows_lock);
		return -ENOSPC;
	}
	windows[i].end = base + size;
	windows[i].mm = mm;
	__atomic_store_n(&windows[i].base, base, __ATOMIC_RELEASE);
	if (i >= windows_used)
		__atomic_store_n(&windows_used, i + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&windows_lock);
	return 0;
}

void um_window_del(struct mm *mm)
{
	unsigned int i;

	pthread_mutex_lock(&windows_lock);
	for (i = 0; i < windows_used; i++)
		if (windows[i].mm == mm)
			__atomic_store_n(&windows[i].base, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&windows_lock);
}

static struct mm *window_find(uintptr_t addr, uintptr_t *base)
{
	unsigned int i, n = __atomic_load_n(&windows_used, __ATOMIC_ACQUIRE);

	for (i = 0; i < n; i++) {
		uintptr_t b =
			__atomic_load_n(&windows[i].base, __ATOMIC_ACQUIRE);

		if (b && addr >= b && addr < windows[i].end) {
			*base = b;
			return windows[i].mm;
		}
	}
	return NULL;
}

/* The umm_guest_call this thread is in, innermost first. */
struct guest_call {
	sigjmp_buf env;
	siginfo_t info;
};
static __thread struct guest_call *current_call;

static struct sigaction old_segv;
static pthread_once_t signals_once = PTHREAD_ONCE_INIT;
static int signals_err;

static void say(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));

	(void)r;
}

/* Sent by kill, raise, sigqueue...: no fault, si_addr holds no address. */
static bool sent_by_user(const siginfo_t *si)
{
	return si->si_code <= 0;
}

/* Not ours: hand it to the handler that was there before. */
static void chain(int sig, siginfo_t *si, void *ctx)
{
	if (old_segv.sa_flags & SA_SIGINFO) {
		if (old_segv.sa_sigaction) {
			old_segv.sa_sigaction(sig, si, ctx);
			return;
		}
	} else if (old_segv.sa_handler != SIG_DFL &&
		   old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
		return;
	}
	if (sent_by_user(si)) {
		/*
		 * Nothing is retried: ignore it, or raise it again under the
		 * default action (pending until this handler returns). Only
		 * then does our handler go, as the process goes with it.
		 */
		if (old_segv.sa_handler == SIG_IGN)
			return;
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		return;
	}
	/*
	 * A fault: the access is retried and kills the process, as the
	 * kernel forces a fault's SIGSEGV even when it is ignored.
	 */
	signal(SIGSEGV, SIG_DFL);
}

static void um_sigsegv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uintptr_t addr = (uintptr_t)si->si_addr, base;
	int saved_errno = errno;
	struct guest_call *call;
	struct mm *mm;
	long err;
	int access, gsig, code;

	mm = sent_by_user(si) ? NULL : window_find(addr, &base);
	if (!mm) {
		chain(sig, si, ctx);
		errno = saved_errno;
		return;
	}
	err = uc->uc_mcontext.gregs[REG_ERR];
	access = (err & X86_PF_WRITE)	? PROT_WRITE
		 : (err & X86_PF_INSTR) ? PROT_EXEC
					: PROT_READ;
	gsig = mm_handle_fault(mm, addr - base, access, &code);
	if (!gsig) {
		errno = saved_errno;
		return;
	}
	call = current_call;
	if (!call) {
		say("umm: guest fault outside umm_guest_call\n");
		chain(sig, si, ctx);
		errno = saved_errno;
		return;
	}
	memset(&call->info, 0, sizeof(call->info));
	call->info.si_signo = gsig;
	call->info.si_code = code;
	call->info.si_addr = (void *)(addr - base);
	siglongjmp(call->env, 1);
}

static void signals_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = um_sigsegv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) < 0)
		signals_err = -errno;
}

int um_signals_init(void)
{
	pthread_once(&signals_once, signals_setup);
	return signals_err;
}

int umm_guest_call(struct umm_mm *mm, void (*fn)(void *), void *arg,
		   siginfo_t *fault)
{
	struct guest_call call, *prev = current_call;

	(void)mm;
	/* Its faults may then look without a lock first (mm_handle_fault). */
	mm_thread_register();
	if (sigsetjmp(call.env, 1)) {
		current_call = prev;
		if (fault)
			*fault = call.info;
		return call.info.si_signo;
	}
	current_call = &call;
	fn(arg);
	current_call = prev;
	return 0;
}
