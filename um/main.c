// SPDX-License-Identifier: MIT
/* The umm command. */
#include <stdio.h>
#include <string.h>

#include "include/umm.h"
#include "um/um.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: umm <command> [options]\n"
		"\n"
		"commands:\n"
		"  demo              run a guest workload and show what umm did:\n"
		"                    faults by kind, host operations and merging,\n"
		"                    host VMAs against guest vmas, frames, maps\n"
		"  run PROGRAM ...   run a static Linux program on the guest\n"
		"                    kernel (run --help)\n"
		"  bench             the mapping-churn suite: each scenario on\n"
		"                    umm beside the host kernel doing the same\n"
		"                    work (bench --list, bench --help)\n"
		"\n"
		"options:\n"
		"  -h, --help        this help\n"
		"  -V, --version     the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("umm %s\n", umm_version());
		return 0;
	}
	if (!strcmp(argv[1], "demo"))
		return um_demo_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "run"))
		return um_run_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return um_bench_main(argc - 1, argv + 1);
	fprintf(stderr, "umm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
