// SPDX-License-Identifier: MIT
/*
 * Children that die of SIGSEGV, reported to their parent by wait4: a write
 * to NULL, a read of a PROT_NONE page, a write to a read-only page, a call
 * into a page that is not executable, a write into the text. Each must
 * leave WIFSIGNALED with WTERMSIG == SIGSEGV; the parent lives on.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "guest.h"

#define PG 4096UL

enum how { NULL_WRITE, NONE_READ, RO_WRITE, NX_CALL, TEXT_WRITE };

static const char *const what[] = {
	[NULL_WRITE] = "a write to NULL",
	[NONE_READ] = "a read of a PROT_NONE page",
	[RO_WRITE] = "a write to a read-only page",
	[NX_CALL] = "a call into a page without PROT_EXEC",
	[TEXT_WRITE] = "a write into the program's text",
};

int main(void);

static void crash(enum how how)
{
	char *p;

	switch (how) {
	case NULL_WRITE:
		*(volatile int *)0 = 1;
		break;
	case NONE_READ:
		p = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		(void)*(volatile char *)p;
		break;
	case RO_WRITE:
		p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		*(volatile char *)p = 1;
		break;
	case NX_CALL:
		p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		p[0] = (char)0xc3; /* ret */
		((void (*)(void))p)();
		break;
	case TEXT_WRITE:
		*(volatile char *)(uintptr_t)main = 0;
		break;
	}
}

int main(void)
{
	guest_name = "segvparent";
	for (int how = NULL_WRITE; how <= TEXT_WRITE; how++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			crash(how);
			_exit(1);
		}
		int status;
		struct rusage ru;
		pid_t w = wait4(pid, &status, 0, &ru);
		check(w == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
		      "%s: the child is killed by SIGSEGV (status %#x)", what[how],
		      status);
	}
	return guest_exit();
}
