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

/* Add a new space to the list that resets walk. */
void host_as_register(struct host_as *as);

#endif
