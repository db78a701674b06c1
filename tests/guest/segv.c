// SPDX-License-Identifier: MIT
/* A guest that writes to NULL: it must die of SIGSEGV (exit 128+11 under
 * `umm run`). Getting past the write is a failure. */
#include "guest.h"

int main(void)
{
	guest_name = "segv";
	say("segv: writing to NULL\n");
	*(volatile int *)0 = 1;
	say("segv: FAIL: the write to NULL returned\n");
	return 1;
}
