// SPDX-License-Identifier: MIT
/*
 * execve that fails leaves its caller whole: "execfail DATA DIR" tries a
 * file that is no program (DATA: ENOEXEC), a directory (DIR: EACCES), a
 * path that does not exist (ENOENT) and a bad argv pointer (EFAULT), many
 * times over, and checks after each that its memory, its stack and its
 * open file are what they were.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "guest.h"

#define ROUNDS 50

static char *const good_argv[] = {(char *)"x", NULL};
static char *const envp[] = {NULL};

/* Everything the process had before the execs, still there? */
static int intact(const unsigned char *heap, int fd, int canary)
{
	char c;

	for (int i = 0; i < 64 * 4096; i += 4096)
		if (heap[i] != (unsigned char)(i / 4096 + 1))
			return 0;
	return canary == 0x5eed && lseek(fd, 0, SEEK_SET) == 0 &&
	       read(fd, &c, 1) == 1;
}

int main(int argc, char **argv)
{
	char *const *volatile bad_argv = (char *const *)8; /* unmapped */
	int canary = 0x5eed, fd, i, whole = 1;
	unsigned char *heap;

	guest_name = "execfail";
	if (argc < 3)
		die("usage: execfail DATA DIR");
	heap = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = open(argv[1], O_RDONLY);
	if (heap == MAP_FAILED || fd < 0)
		die("setup");
	for (i = 0; i < 64 * 4096; i += 4096)
		heap[i] = (unsigned char)(i / 4096 + 1);
	CHECK_ERRNO(execve(argv[1], good_argv, envp), ENOEXEC,
		    "execve of a file that is no program");
	CHECK_ERRNO(execve(argv[2], good_argv, envp), EACCES,
		    "execve of a directory");
	CHECK_ERRNO(execve("/no/such/program", good_argv, envp), ENOENT,
		    "execve of a path that does not exist");
	CHECK_ERRNO(execve(argv[1], bad_argv, envp), EFAULT,
		    "execve with argv at a bad address");
	for (i = 0; i < ROUNDS; i++) {
		execve(argv[1], good_argv, envp);
		execve(argv[2], good_argv, envp);
		whole &= intact(heap, fd, canary);
	}
	check(whole && intact(heap, fd, canary),
	      "after %d rounds of them the process is whole", ROUNDS);
	return guest_exit();
}
