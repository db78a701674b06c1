// SPDX-License-Identifier: MIT
/*
 * kill(child, SIGTERM) and wait4: a child asleep in nanosleep dies of
 * SIGTERM; a child spinning without a syscall dies of it too; a child with
 * a SIGTERM handler runs it (the handler exits 3); SIGKILL kills a child
 * that ignores SIGTERM. wait4 reports each; kill(pid, 0) probes a live
 * child and gives ESRCH once it is reaped. A child says it is ready (its
 * handler set) through a word in a shared page: no pipe needed.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "guest.h"

enum child { SLEEPER, SPINNER, HANDLER, IGNORER };

static volatile int *ready; /* in a MAP_SHARED page */

static void on_term(int sig)
{
	(void)sig;
	_exit(3);
}

static void __attribute__((noreturn)) child(enum child kind)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	if (kind == HANDLER) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGTERM, &sa, NULL))
			_exit(1);
	}
	if (kind == IGNORER)
		signal(SIGTERM, SIG_IGN);
	__atomic_store_n(ready, 1, __ATOMIC_RELEASE);
	if (kind == SPINNER)
		for (volatile unsigned long i = 0;; i++)
			;
	for (int i = 0; i < 6000; i++) /* a minute at most */
		nanosleep(&ts, NULL);
	_exit(1);
}

static pid_t start(enum child kind)
{
	struct timespec ts = {0, 1000 * 1000};

	__atomic_store_n(ready, 0, __ATOMIC_RELEASE);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		child(kind);
	for (int i = 0; !__atomic_load_n(ready, __ATOMIC_ACQUIRE); i++) {
		if (i == 30000) {
			errno = ETIMEDOUT;
			die("waiting for the child");
		}
		nanosleep(&ts, NULL);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int status = 0;
	struct rusage ru;

	if (wait4(pid, &status, 0, &ru) != pid)
		return -1;
	return status;
}

int main(void)
{
	int st;
	pid_t pid;

	guest_name = "sigterm";
	ready = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ready == MAP_FAILED)
		die("mmap");

	pid = start(SLEEPER);
	check(kill(pid, 0) == 0, "kill(child, 0): the child is there");
	check(kill(pid, SIGTERM) == 0, "kill(sleeping child, SIGTERM)");
	st = reap(pid);
	check(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	      "wait4: the sleeping child was killed by SIGTERM (status %#x)", st);
	CHECK_ERRNO(kill(pid, 0), ESRCH, "kill(reaped child, 0)");

	pid = start(SPINNER);
	check(kill(pid, SIGTERM) == 0, "kill(spinning child, SIGTERM)");
	st = reap(pid);
	check(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	      "wait4: the spinning child was killed by SIGTERM (status %#x)", st);

	pid = start(HANDLER);
	check(kill(pid, SIGTERM) == 0, "kill(child with a handler, SIGTERM)");
	st = reap(pid);
	check(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 3,
	      "wait4: the handler ran and exited 3 (status %#x)", st);

	pid = start(IGNORER);
	check(kill(pid, SIGTERM) == 0 && kill(pid, SIGKILL) == 0,
	      "kill(child ignoring SIGTERM, SIGTERM then SIGKILL)");
	st = reap(pid);
	check(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	      "wait4: SIGTERM ignored, SIGKILL killed it (status %#x)", st);
	return guest_exit();
}
