// SPDX-License-Identifier: MIT
/*
 * Memory a process lets go of is free for the next: "fork ROUNDS MIB"
 * forks ROUNDS children one after another, each writing MIB MiB and
 * exiting, the parent reaping each before the next; "exec ROUNDS MIB SELF"
 * writes MIB MiB and execs itself (SELF: its path) ROUNDS times. Under `umm run --mem` with
 * room for two such processes but not three, it passes only if a child's
 * frames are free when wait4 returns, and the old image's when execve
 * returns (not once the host has torn the stub child down).
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "guest.h"

/* Write every page of @mib fresh MiB: 0, or -1 (the mmap failed). */
static int churn(size_t mib)
{
	size_t len = mib << 20, off;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	for (off = 0; off < len; off += 4096)
		m[off] = 1;
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : -1, i, bad = 0, st;
	size_t mib = argc > 3 ? (size_t)atoi(argv[3]) : 0;
	char left[16], *av[6];
	pid_t p;

	guest_name = "memchurn";
	if (argc < 4 || rounds < 0)
		die("usage: memchurn fork|exec ROUNDS MIB");
	if (!strcmp(argv[1], "exec")) {
		if (argc < 5)
			die("usage: memchurn exec ROUNDS MIB SELF");
		if (churn(mib))
			die("mmap");
		if (!rounds) {
			check(1, "every exec had the memory it wrote");
			return guest_exit();
		}
		snprintf(left, sizeof(left), "%d", rounds - 1);
		av[0] = argv[0];
		av[1] = argv[1];
		av[2] = left;
		av[3] = argv[3];
		av[4] = argv[4];
		av[5] = NULL;
		execv(argv[4], av);
		die("execv");
	}
	for (i = 0; i < rounds; i++) {
		p = fork();
		if (p == 0)
			_exit(churn(mib) ? 3 : 0);
		if (p < 0 || waitpid(p, &st, 0) != p)
			die("fork or waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	check(!bad, "every child wrote its memory and exited 0 (%d of %d "
		    "did not)", bad, rounds);
	return guest_exit();
}
