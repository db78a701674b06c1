/* SPDX-License-Identifier: MIT */
/*
 * um/: the guest kernel's host side. The only place signal handlers live.
 */
#ifndef UMM_UM_H
#define UMM_UM_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "include/umm.h"
#include "mm/mm.h"

/*
 * Windows: which host address range belongs to which guest mm, for the
 * SIGSEGV handler. Lock-free lookup (the handler may run anywhere).
 * um_window_add returns 0 or -ENOSPC.
 */
int um_window_add(uintptr_t base, uint64_t size, struct mm *mm);
void um_window_del(struct mm *mm);

/* Install the SIGSEGV handler (once). 0 or -errno. */
int um_signals_init(void);

/* umm subcommands: argc/argv after the subcommand name. Exit status. */
int um_demo_main(int argc, char **argv);
int um_bench_main(int argc, char **argv);
int um_run_main(int argc, char **argv);

/* umm run's work, for the CLI and the bench (um/run.c). */
struct um_run_args {
	const char *root; /* the guest root, or NULL: no files */
	const char *path; /* the first program: a host path */
	char *const *argv, *const *envp; /* NULL-terminated */
	unsigned long mem_mib; /* guest physical memory */
	FILE *trace; /* each syscall and fault, or NULL */
	FILE *stats; /* the figures at exit, or NULL */
	struct umm_stats *mm_stats; /* if set: every mm's counters, summed */
};
/* The first process's wait status, or -errno when it did not start. */
int um_run(const struct um_run_args *args);

#endif
