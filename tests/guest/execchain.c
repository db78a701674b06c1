// SPDX-License-Identifier: MIT
/*
 * execchain N SELF: fork, exec SELF with N-1 in the child, wait for it;
 * N levels deep. Every exec'd level checks that argv and envp arrived
 * intact (an empty string, spaces, a long string, the exact count), and
 * the auxiliary vector a C library reads; a failed exec leaves the caller
 * as it was. SELF is the path of this program as the caller sees it (the
 * guest path under `umm run --root`). Each level's exit status is its
 * verdict and its child's: exit 0 when the whole chain passed.
 */
#include <sys/auxv.h>
#include <sys/wait.h>

#include "guest.h"

#define LONG_LEN 300

static char long_arg[LONG_LEN + 1];
static char long_env[LONG_LEN + 6];
static int survivor = 1;

static void make_long(void)
{
	for (int i = 0; i < LONG_LEN; i++)
		long_arg[i] = (char)('a' + i % 26);
	long_arg[LONG_LEN] = 0;
	snprintf(long_env, sizeof(long_env), "LONG=%s", long_arg);
}

static void check_args(int depth, int argc, char **argv, char **envp)
{
	char want[32];
	int envc = 0;

	while (envp[envc])
		envc++;
	snprintf(want, sizeof(want), "depth=%d", depth);
	check(argc == 7, "level %d: argc 7 (got %d)", depth, argc);
	if (argc != 7)
		return;
	check(!strcmp(argv[3], "") && !strcmp(argv[4], "two words") &&
		      !strcmp(argv[5], long_arg) && !strcmp(argv[6], want) &&
		      argv[7] == NULL,
	      "level %d: argv intact", depth);
	snprintf(want, sizeof(want), "EXECCHAIN=%d", depth);
	check(envc == 3 && !strcmp(envp[0], want) && !strcmp(envp[1], "EMPTY=") &&
		      !strcmp(envp[2], long_env),
	      "level %d: envp intact (%d strings)", depth, envc);
	check(getauxval(AT_PAGESZ) == 4096 && getauxval(AT_ENTRY) != 0 &&
		      getauxval(AT_PHDR) != 0 && getauxval(AT_RANDOM) != 0,
	      "level %d: auxv has AT_PAGESZ, AT_ENTRY, AT_PHDR, AT_RANDOM", depth);
}

int main(int argc, char **argv, char **envp)
{
	char depth_arg[16], depth_word[32], depth_env[32];

	guest_name = "execchain";
	if (argc < 3) {
		say("usage: execchain N SELF\n");
		return 2;
	}
	int n = atoi(argv[1]);
	make_long();
	if (argc > 3)
		check_args(n, argc, argv, envp);
	if (n <= 0)
		return guest_exit();

	char *nargv[] = {argv[2], depth_arg, argv[2], "", "two words",
			 long_arg, depth_word, NULL};
	char *nenvp[] = {depth_env, "EMPTY=", long_env, NULL};
	snprintf(depth_arg, sizeof(depth_arg), "%d", n - 1);
	snprintf(depth_word, sizeof(depth_word), "depth=%d", n - 1);
	snprintf(depth_env, sizeof(depth_env), "EXECCHAIN=%d", n - 1);

	errno = 0;
	int r = execve("/nonexistent/execchain", nargv, nenvp);
	check(r == -1 && errno == ENOENT && survivor == 1 && n == atoi(argv[1]),
	      "level %d: a failed exec returns ENOENT and leaves the caller intact", n);

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execve(argv[2], nargv, nenvp);
		say("execchain: FAIL: level %d: execve %s: %s\n", n, argv[2],
		    errname(errno));
		_exit(3);
	}
	int status;
	pid_t w = waitpid(pid, &status, 0);
	check(w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "level %d: level %d exited 0 (status %#x)", n, n - 1, status);
	return guest_exit();
}
