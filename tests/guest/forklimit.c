// SPDX-License-Identifier: MIT
/*
 * A fork bomb, bounded: fork children that wait until a fork fails; under
 * umm run the kernel refuses with EAGAIN at its task limit (each guest
 * process is a host process and a thread) long before @max. Then every
 * child is killed and reaped. Run only under umm run: natively the host's
 * own limit may be far away.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "guest.h"

int main(int argc, char **argv)
{
	int max = argc > 1 ? atoi(argv[1]) : 2000, n = 0, err = 0, i, reaped = 0;
	pid_t *kids = calloc((size_t)max, sizeof(*kids));

	guest_name = "forklimit";
	if (!kids)
		die("calloc");
	while (n < max) {
		pid_t p = fork();

		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0) {
			err = errno;
			break;
		}
		kids[n++] = p;
	}
	check(n < max && err == EAGAIN,
	      "fork fails with EAGAIN before %d children (%d, %s)", max, n,
	      errname(err));
	for (i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (i = 0; i < n; i++) {
		int st;

		if (waitpid(kids[i], &st, 0) == kids[i] && WIFSIGNALED(st))
			reaped++;
	}
	check(reaped == n, "every child killed and reaped (%d of %d)", reaped,
	      n);
	free(kids);
	return guest_exit();
}
