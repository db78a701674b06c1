/* SPDX-License-Identifier: MIT */
#ifndef UMM_HOST_INTERNAL_H
#define UMM_HOST_INTERNAL_H

#include "host/host.h"

/*
 * Count host calls made for @as. Atomic: a reset started by another space's
 * flush counts its call here too.
 */
static inline void count_syscalls(struct host_as *as, unsigned int n)
{
	__atomic_add_fetch(&as->stats.syscalls, n, __ATOMIC_RELAXED);
}

/*
 * A PROTECT whose range a reset dropped since it was queued: the backend
 * skips it. Context: in apply, under as->reset_lock for reading.
 */
static inline bool host_op_stale(struct host_as *as, const struct host_op *op)
{
	return op->kind == HOST_OP_PROTECT && op->gen != as->reset_gen;
}

/* phys_free: end a pre-started stub child that holds @phys's file. */
void host_stub_pool_forget(struct phys *phys);

/* Add a new space to the list that resets walk. */
void host_as_register(struct host_as *as);

#endif
