// SPDX-License-Identifier: MIT
/*
 * Who a process is: prctl's name is the executed file's name, set and cut
 * to 15 bytes by PR_SET_NAME, kept across fork; an unknown prctl is
 * EINVAL; uname says Linux on x86_64; getgroups answers without failing.
 */
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "guest.h"

int main(void)
{
	char name[16] = {0};
	struct utsname u;
	int st;
	pid_t pid;

	guest_name = "ident";
	check(prctl(PR_GET_NAME, name) == 0 && !strcmp(name, "ident"),
	      "PR_GET_NAME: the file's name (%s)", name);
	check(prctl(PR_SET_NAME, "a-name-longer-than-fifteen") == 0,
	      "PR_SET_NAME");
	memset(name, 0, sizeof(name));
	prctl(PR_GET_NAME, name);
	check(!strcmp(name, "a-name-longer-t"), "cut to 15 bytes (%s)", name);
	pid = fork();
	if (!pid) {
		memset(name, 0, sizeof(name));
		prctl(PR_GET_NAME, name);
		_exit(strcmp(name, "a-name-longer-t") ? 1 : 0);
	}
	check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		      !WEXITSTATUS(st),
	      "a forked child keeps the name");
	CHECK_ERRNO(prctl(0x7fff0000, 0, 0, 0, 0), EINVAL, "an unknown prctl");
	check(uname(&u) == 0 && !strcmp(u.sysname, "Linux") &&
		      !strcmp(u.machine, "x86_64"),
	      "uname: Linux on x86_64");
	check(getgroups(0, NULL) >= 0, "getgroups answers");
	return guest_exit();
}
