// SPDX-License-Identifier: MIT
/*
 * vforkexec [PROG]: vfork, the one clone with CLONE_VFORK's promise: the
 * parent does not run again until the child has exited or exec'd. A
 * child that _exits 5 (its status arrives; a word it set in a shared page
 * before is seen at once by the parent); with PROG, a child that execs
 * PROG ("hello") and whose exit 0 arrives.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "guest.h"

static volatile int *word; /* in a MAP_SHARED page */

static int wait_for(pid_t pid)
{
	int status = -1;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

int main(int argc, char **argv)
{
	int st;

	guest_name = "vforkexec";
	word = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (word == MAP_FAILED)
		die("mmap");

	pid_t pid = vfork();
	if (pid < 0)
		die("vfork");
	if (pid == 0) {
		*word = 1;
		_exit(5);
	}
	check(*word == 1, "the parent runs after the vfork child exited");
	st = wait_for(pid);
	check(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 5,
	      "the vfork child's _exit(5) arrives (status %#x)", st);

	if (argc > 1) {
		char *cargv[] = {argv[1], "from", "vfork", NULL};
		char *cenvp[] = {"VFORK=1", NULL};

		pid = vfork();
		if (pid < 0)
			die("vfork");
		if (pid == 0) {
			execve(argv[1], cargv, cenvp);
			_exit(127);
		}
		st = wait_for(pid);
		check(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "a vfork child execs %s, which exits 0 (status %#x)", argv[1], st);
	}
	return guest_exit();
}
