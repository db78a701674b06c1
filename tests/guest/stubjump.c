// SPDX-License-Identifier: MIT
/*
 * stubjump [OFFSET]: jump to 0x7fffffff0000 + OFFSET, where umm keeps its
 * stub's code (host/host.h, HOST_STUB_START). Natively nothing is mapped
 * there; under `umm run` the guest must be killed (any signal) and umm
 * must report it as 128+signal, not crash. Getting back is a failure.
 */
#include <stdint.h>

#include "guest.h"

int main(int argc, char **argv)
{
	uintptr_t off = argc > 1 ? strtoul(argv[1], NULL, 0) : 0;

	guest_name = "stubjump";
	say("stubjump: jumping to %#lx\n", (unsigned long)(0x7fffffff0000UL + off));
	((void (*)(void))(0x7fffffff0000UL + off))();
	say("stubjump: FAIL: came back\n");
	return 1;
}
