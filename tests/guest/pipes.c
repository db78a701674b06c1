// SPDX-License-Identifier: MIT
/*
 * Pipes between processes: a child writes 256 KiB (four times a pipe's
 * buffer, so writer and reader must take turns), the parent reads to EOF
 * and checks every byte; a child whose stdout is a pipe (dup2) prints into
 * it; dup gives the lowest free descriptor; pipe2(O_CLOEXEC); writing to a
 * pipe without readers gives EPIPE (SIGPIPE ignored); reads into bad
 * memory give EFAULT.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "guest.h"

#define TOTAL (256 * 1024)

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 4096);
}

static int reap(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

static void test_stream(void)
{
	static unsigned char buf[TOTAL + 1];
	int fds[2];

	if (pipe(fds))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		static unsigned char out[TOTAL];

		close(fds[0]);
		for (size_t i = 0; i < TOTAL; i++)
			out[i] = pattern(i);
		for (size_t done = 0; done < TOTAL;) {
			size_t chunk = TOTAL - done < 10000 ? TOTAL - done : 10000;
			ssize_t n = write(fds[1], out + done, chunk);
			if (n <= 0)
				_exit(1);
			done += n;
		}
		_exit(0);
	}
	close(fds[1]);
	size_t total = 0;
	ssize_t n;
	while ((n = read(fds[0], buf + total, sizeof(buf) - total)) > 0)
		total += n;
	int same = total == TOTAL;
	for (size_t i = 0; same && i < TOTAL; i++)
		same = buf[i] == pattern(i);
	check(n == 0, "read until EOF once the writer exited");
	check(same, "256 KiB through the pipe, every byte (%zu read)", total);
	check(reap(pid), "the writer exited 0");
	close(fds[0]);
}

static void test_dup2(void)
{
	char buf[64];
	int fds[2];

	if (pipe(fds))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (dup2(fds[1], 1) != 1)
			_exit(1);
		close(fds[0]);
		close(fds[1]);
		if (write(1, "through stdout", 14) != 14)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	ssize_t total = 0, n;
	while ((n = read(fds[0], buf + total, sizeof(buf) - 1 - total)) > 0)
		total += n;
	buf[total] = 0;
	check(!strcmp(buf, "through stdout"),
	      "dup2 onto stdout in a child: the parent reads what it wrote (\"%s\")", buf);
	check(reap(pid), "the dup2 child exited 0");
	close(fds[0]);
}

static void test_fds(void)
{
	int fds[2];

	if (pipe(fds))
		die("pipe");
	int lowest = fds[0] < fds[1] ? fds[0] : fds[1];
	close(lowest);
	int d = dup(lowest == fds[0] ? fds[1] : fds[0]);
	check(d == lowest, "dup gives the lowest free descriptor (%d, want %d)", d, lowest);
	check(dup2(d, d) == d, "dup2 of a descriptor onto itself");
	CHECK_ERRNO(dup2(1000000, 5), EBADF, "dup2 of a bad descriptor");
	close(fds[0]);
	close(fds[1]);

	check(pipe2(fds, O_CLOEXEC) == 0 &&
		      (fcntl(fds[0], F_GETFD) & FD_CLOEXEC) &&
		      (fcntl(fds[1], F_GETFD) & FD_CLOEXEC),
	      "pipe2(O_CLOEXEC) sets close-on-exec on both ends");
	signal(SIGPIPE, SIG_IGN);
	close(fds[0]);
	CHECK_ERRNO(write(fds[1], "x", 1), EPIPE, "write to a pipe without readers");
	close(fds[1]);
	CHECK_ERRNO(write(fds[1], "x", 1), EBADF, "write to a closed descriptor");
}

/* Reads into bad guest memory: EFAULT, and the bytes stay in the pipe. */
static void test_efault(void)
{
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char buf[16];
	int fds[2];

	if (ro == MAP_FAILED || bad == MAP_FAILED)
		die("mmap");
	munmap(bad, 4096);
	if (pipe(fds))
		die("pipe");
	if (write(fds[1], "0123456789abcdef", 16) != 16)
		die("write");
	CHECK_ERRNO(read(fds[0], ro, 16), EFAULT, "read: into a read-only buffer");
	CHECK_ERRNO(read(fds[0], bad, 16), EFAULT, "read: into an unmapped buffer");
	CHECK_ERRNO(syscall(SYS_pipe, bad), EFAULT, "pipe: into an unmapped array");
	check(read(fds[0], buf, 16) == 16 && !memcmp(buf, "0123456789abcdef", 16),
	      "read: the pipe's bytes are still there after the EFAULTs");
	close(fds[0]);
	close(fds[1]);
	munmap(ro, 4096);
}

int main(void)
{
	guest_name = "pipes";
	test_efault();
	test_stream();
	test_dup2();
	test_fds();
	return guest_exit();
}
