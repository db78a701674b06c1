// SPDX-License-Identifier: MIT
/*
 * Waiting for signals: sigsuspend with a mask that lets SIGUSR1 in runs
 * the handler and returns EINTR, and the mask from before the call is
 * back afterwards (the handler's frame restores it); pause returns EINTR
 * after a handler; a signal blocked at the time stays pending until it is
 * unblocked, and sigpending shows it.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "guest.h"

static volatile sig_atomic_t got;

static void on_usr(int sig)
{
	got = sig;
}

int main(void)
{
	struct sigaction sa;
	sigset_t usr1, none, cur, pend;
	pid_t pid;
	int r;

	guest_name = "sigwait";
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR2, &sa, NULL))
		die("sigaction");
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);

	/* A child sends SIGUSR1 while it is blocked: it waits as pending. */
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	sigpending(&pend);
	check(sigismember(&pend, SIGUSR1) == 1 && !got,
	      "SIGUSR1 blocked: pending, no handler yet");
	r = sigsuspend(&none);
	check(r == -1 && errno == EINTR && got == SIGUSR1,
	      "sigsuspend: the handler ran, EINTR (%d, %s)", r, errname(errno));
	sigprocmask(SIG_BLOCK, NULL, &cur);
	check(sigismember(&cur, SIGUSR1) == 1,
	      "after sigsuspend the old mask is back: SIGUSR1 blocked");

	/* pause: a child sends SIGUSR2, not blocked. */
	got = 0;
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	r = pause();
	check(r == -1 && errno == EINTR && got == SIGUSR2,
	      "pause: the handler ran, EINTR (%d, %s)", r, errname(errno));
	waitpid(pid, NULL, 0);

	/* Unblocking a pending signal delivers it at once. */
	got = 0;
	raise(SIGUSR1);
	check(!got, "raise(SIGUSR1) while blocked: not yet");
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	check(got == SIGUSR1, "unblocked: the handler ran");
	return guest_exit();
}
