// SPDX-License-Identifier: MIT
/*
 * fork and copy-on-write, checked in both processes: a page written before
 * fork is seen by the child; then each writes its own copy and sees only
 * its own value, in a private anonymous page, 64 pages, a global and the
 * stack; a shared page is seen by both; the parent waits and checks the
 * child's exit status (the child's verdict) and getppid.
 *
 * The two processes take turns through a word in a shared page (no pipe:
 * this is a test of memory alone), so each check runs after the other
 * process has written.
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "guest.h"

#define PG    4096UL
#define NPAGE 64

static int global = 1;

static volatile int *turn; /* in a MAP_SHARED page */

static void turn_give(int to)
{
	__atomic_store_n(turn, to, __ATOMIC_RELEASE);
}

/* Wait until it is our turn; 30 s at most. */
static void turn_wait(int me)
{
	struct timespec ts = {0, 1000 * 1000};

	for (int i = 0; __atomic_load_n(turn, __ATOMIC_ACQUIRE) != me; i++) {
		if (i == 30000) {
			errno = ETIMEDOUT;
			die("waiting for the other process");
		}
		nanosleep(&ts, NULL);
	}
}

static int pages_are(const char *p, char base)
{
	for (size_t i = 0; i < NPAGE; i++)
		if (p[i * PG] != (char)(base + i) || p[i * PG + PG - 1] != (char)(base + i))
			return 0;
	return 1;
}

static void pages_write(char *p, char base)
{
	for (size_t i = 0; i < NPAGE; i++) {
		p[i * PG] = (char)(base + i);
		p[i * PG + PG - 1] = (char)(base + i);
	}
}

int main(void)
{
	volatile int on_stack = 10;
	pid_t parent = getpid();

	guest_name = "forkcow";
	char *page = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *many = mmap(NULL, NPAGE * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *shared = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *untouched = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || many == MAP_FAILED || shared == MAP_FAILED ||
	    untouched == MAP_FAILED)
		die("mmap");
	turn = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	if (turn == MAP_FAILED)
		die("mmap");

	strcpy(page, "before fork");
	pages_write(many, 'A');
	strcpy(shared, "shared");
	global = 2;

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		guest_name = "forkcow child";
		check(getppid() == parent, "getppid is the parent's pid");
		check(getpid() != parent, "the child has a pid of its own");
		check(!strcmp(page, "before fork"), "sees the page written before fork");
		check(pages_are(many, 'A'), "sees 64 pages written before fork");
		check(global == 2 && on_stack == 10, "sees the global and the stack");
		check(untouched[0] == 0, "an untouched page reads zero");
		strcpy(page, "child");
		pages_write(many, 'a');
		global = 3;
		on_stack = 30;
		untouched[0] = 'c';
		strcpy(shared, "from the child");
		turn_give(1);
		turn_wait(2);
		check(!strcmp(page, "child"), "sees its own copy of the page");
		check(pages_are(many, 'a'), "sees its own 64 pages");
		check(global == 3 && on_stack == 30, "sees its own global and stack");
		check(untouched[0] == 'c', "sees its own first write to an untouched page");
		check(!strcmp(shared, "from the parent"),
		      "sees the parent's write to the shared page");
		_exit(guest_exit());
	}

	turn_wait(1);
	check(!strcmp(page, "before fork"), "the child's write is not seen in the parent");
	check(pages_are(many, 'A'), "the child's 64 page writes are not seen");
	check(global == 2 && on_stack == 10, "the child's global and stack writes are not seen");
	check(untouched[0] == 0, "the child's first write to an untouched page is not seen");
	check(!strcmp(shared, "from the child"), "the child's write to the shared page is seen");
	strcpy(page, "parent");
	pages_write(many, '0');
	global = 4;
	on_stack = 40;
	strcpy(shared, "from the parent");
	turn_give(2);

	int status;
	struct rusage ru;
	pid_t w = wait4(pid, &status, 0, &ru);
	check(w == pid, "wait4 returns the child (%d, want %d)", (int)w, (int)pid);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child exited 0: it passed (status %#x)", status);
	check(!strcmp(page, "parent") && pages_are(many, '0') && global == 4 &&
		      on_stack == 40,
	      "the parent sees its own values after the child exited");
	errno = 0;
	check(wait4(-1, &status, 0, NULL) == -1 && errno == ECHILD,
	      "wait4 with no children left: ECHILD");

	/* An exit status other than 0 arrives as it was given. */
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(42);
	check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 42,
	      "a child's _exit(42) is reported as 42 (status %#x)", status);
	return guest_exit();
}
