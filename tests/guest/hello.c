// SPDX-License-Identifier: MIT
/* The first guest: a greeting, and what arrived in argv and envp. */
#include "guest.h"

int main(int argc, char **argv, char **envp)
{
	int envc = 0;

	while (envp[envc])
		envc++;
	say("hello, world\n");
	say("argc=%d envc=%d\n", argc, envc);
	for (int i = 1; i < argc; i++)
		say("argv[%d]=%s\n", i, argv[i]);
	return argv[argc] == NULL ? 0 : 1;
}
