// SPDX-License-Identifier: MIT
/*
 * A SIGSEGV handler (SA_SIGINFO) that mends the fault and returns, so the
 * access is retried and succeeds: a write to a read-only page (SEGV_ACCERR,
 * mprotect read-write), a read of a PROT_NONE page (SEGV_ACCERR, mprotect
 * read), a write to an unmapped page (SEGV_MAPERR, mmap it). The handler
 * checks si_signo, si_code and si_addr; each fault is taken exactly once.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#include "guest.h"

#define PG 4096UL

static volatile sig_atomic_t faults;
static volatile sig_atomic_t bad_info;
static char *volatile expect_addr;
static volatile int expect_code;
static volatile int fix_prot;
static volatile int fix_map;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	char *page = (char *)((uintptr_t)si->si_addr & ~(PG - 1));

	(void)uc;
	faults++;
	if (sig != SIGSEGV || si->si_signo != SIGSEGV ||
	    si->si_code != expect_code || si->si_addr != expect_addr)
		bad_info = 1;
	if (faults > 3)
		_exit(3); /* not mended: do not loop for ever */
	if (fix_map)
		mmap(page, PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	else
		mprotect(page, PG, fix_prot);
}

static void expect(char *addr, int code, int prot, int map)
{
	faults = 0;
	bad_info = 0;
	expect_addr = addr;
	expect_code = code;
	fix_prot = prot;
	fix_map = map;
}

int main(void)
{
	struct sigaction sa;

	guest_name = "segvhandler";
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		die("sigaction");

	char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 'z', 3 * PG);

	if (mprotect(p, PG, PROT_READ))
		die("mprotect");
	expect(p + 100, SEGV_ACCERR, PROT_READ | PROT_WRITE, 0);
	((volatile char *)p)[100] = 'w';
	check(faults == 1 && !bad_info,
	      "write to a read-only page: one SIGSEGV, SEGV_ACCERR at the address (%d faults)",
	      (int)faults);
	check(p[100] == 'w' && p[99] == 'z', "the write was retried and landed");

	if (mprotect(p + PG, PG, PROT_NONE))
		die("mprotect");
	expect(p + PG + 8, SEGV_ACCERR, PROT_READ, 0);
	char c = ((volatile char *)p)[PG + 8];
	check(faults == 1 && !bad_info,
	      "read of a PROT_NONE page: one SIGSEGV, SEGV_ACCERR at the address (%d faults)",
	      (int)faults);
	check(c == 'z', "the read was retried and saw the contents");

	if (munmap(p + 2 * PG, PG))
		die("munmap");
	expect(p + 2 * PG + 16, SEGV_MAPERR, 0, 1);
	((volatile char *)p)[2 * PG + 16] = 'm';
	check(faults == 1 && !bad_info,
	      "write to an unmapped page: one SIGSEGV, SEGV_MAPERR at the address (%d faults)",
	      (int)faults);
	check(p[2 * PG + 16] == 'm' && p[2 * PG] == 0,
	      "the handler's fresh page took the retried write");
	return guest_exit();
}
