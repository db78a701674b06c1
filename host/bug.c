// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>

#include "host/host.h"

void host_bug(const char *file, const char *func, int line, const char *what)
{
	fprintf(stderr, "umm: BUG at %s:%d in %s(): %s\n", file, line, func,
		what);
	abort();
}
