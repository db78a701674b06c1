// SPDX-License-Identifier: MIT
/*
 * A memory barrier on every running thread of this process, as Linux's
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) gives: after it, each
 * thread's earlier stores are visible and its later loads see ours. It lets
 * a hot path (the software TLB's lookup) do without a barrier of its own.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/host.h"

static pthread_once_t barrier_once = PTHREAD_ONCE_INIT;
static int barrier_err;

static void barrier_register(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		    0, 0))
		barrier_err = -errno;
}

int host_barrier_all(void)
{
	pthread_once(&barrier_once, barrier_register);
	if (barrier_err)
		return barrier_err;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		return -errno;
	return 0;
}
