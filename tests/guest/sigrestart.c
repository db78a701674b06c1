// SPDX-License-Identifier: MIT
/*
 * Calls a handled signal interrupts: with SA_RESTART a blocking read of a
 * pipe and a wait4 go on after the handler (the read gets the byte, wait4
 * the child); without it they fail with EINTR. pause returns EINTR either
 * way, as Linux has it.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "guest.h"

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	got = sig;
}

static void handler(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction");
}

static void nap(void)
{
	struct timespec ts = {0, 30 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

/* A child that signals us, then (if @fd >= 0) writes a byte, then exits. */
static pid_t poke(int fd)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (!pid) {
		nap();
		kill(getppid(), SIGUSR1);
		nap();
		if (fd >= 0 && write(fd, "x", 1) != 1)
			_exit(1);
		_exit(0);
	}
	return pid;
}

int main(void)
{
	int p[2], st;
	ssize_t r;
	pid_t pid;
	char c;

	guest_name = "sigrestart";
	if (pipe(p))
		die("pipe");

	handler(SA_RESTART);
	got = 0;
	pid = poke(p[1]);
	r = read(p[0], &c, 1);
	check(r == 1 && c == 'x' && got == SIGUSR1,
	      "SA_RESTART: the read goes on after the handler (%zd)", r);
	waitpid(pid, NULL, 0);

	got = 0;
	pid = poke(-1);
	check(waitpid(pid, &st, 0) == pid && got == SIGUSR1,
	      "SA_RESTART: wait4 goes on after the handler");

	handler(0);
	got = 0;
	pid = poke(p[1]);
	r = read(p[0], &c, 1);
	check(r == -1 && errno == EINTR && got == SIGUSR1,
	      "no SA_RESTART: the read fails with EINTR (%zd, %s)", r,
	      errname(r < 0 ? errno : 0));
	r = read(p[0], &c, 1);
	check(r == 1 && c == 'x', "and the byte is read after it");
	waitpid(pid, NULL, 0);

	got = 0;
	pid = poke(-1);
	r = waitpid(pid, &st, 0);
	check(r == -1 && errno == EINTR, "no SA_RESTART: wait4 fails with EINTR");
	waitpid(pid, NULL, 0);

	handler(SA_RESTART);
	got = 0;
	pid = poke(-1);
	r = pause();
	check(r == -1 && errno == EINTR && got == SIGUSR1,
	      "pause: EINTR even with SA_RESTART");
	waitpid(pid, NULL, 0);
	return guest_exit();
}
