/* SPDX-License-Identifier: MIT */
/* execve's loader (um/exec.c). */
#ifndef UMM_UM_EXEC_H
#define UMM_UM_EXEC_H

#include "um/kernel.h"

/*
 * A new mm, over a new stub child, running the static ELF program @file
 * with the arguments at @argv and @envp of @old (guest pointers), and in
 * @regs the registers it starts with. NULL and *err: -ENOEXEC (not a
 * static x86-64 program), -E2BIG, -EFAULT, -ENOMEM. @old is only read.
 * Context: k->lock held.
 */
struct mm *um_exec_mm(struct um_kernel *k, struct file *file, struct mm *old,
		      uint64_t argv, uint64_t envp, struct host_regs *regs,
		      int *err);

#endif
