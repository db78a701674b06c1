// SPDX-License-Identifier: MIT
/*
 * The local backend: a guest address space is a window of this process,
 * reserved PROT_NONE; host address = window base + va. A mapping goes back
 * to "reserved" by mapping fresh PROT_NONE anonymous memory over it, so the
 * window is never left open for something else to be mapped into.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "host/host.h"
#include "host/internal.h"

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/*
 * Map a run of frames. On the fault path (HOST_OP_POPULATE) the host fills
 * its page tables in the same call: MAP_POPULATE read-faults the pages,
 * and for a writable shared mapping of the memfd (shmem: no write
 * notification) that leaves them writable, so the guest's first write
 * takes no host fault either (measured: no minor fault on a write after
 * it; one call where mmap + MADV_POPULATE_WRITE took two, page_fault1
 * 0.78 -> 0.61x the host).
 */
static int local_map(struct host_as *as, const struct host_op *op, void *addr)
{
	bool populate = op->flags & HOST_OP_POPULATE;
	void *p;

	count_syscalls(as, 1);
	p = mmap(addr, op->len, op->prot,
		 MAP_SHARED | MAP_FIXED | (populate ? MAP_POPULATE : 0),
		 phys_fd(as->phys), (off_t)op->off);
	return p == MAP_FAILED ? -errno : 0;
}

static int local_op(struct host_as *as, const struct host_op *op)
{
	void *addr = (void *)(as->base + op->va);
	int populate = (op->flags & HOST_OP_POPULATE) ? MAP_POPULATE : 0;
	void *p;

	if (host_op_stale(as, op))
		return 0;
	switch (op->kind) {
	case HOST_OP_MAP:
		return local_map(as, op, addr);
	case HOST_OP_MAP_ZERO:
		BUG_ON(op->prot & PROT_WRITE);
		p = mmap(addr, op->len, op->prot,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | populate, -1,
			 0);
		break;
	case HOST_OP_UNMAP:
		p = mmap(addr, op->len, PROT_NONE, RESERVE_FLAGS | MAP_FIXED,
			 -1, 0);
		break;
	case HOST_OP_PROTECT:
		count_syscalls(as, 1);
		return mprotect(addr, op->len, op->prot) ? -errno : 0;
	default:
		BUG_ON(1);
	}
	count_syscalls(as, 1);
	return p == MAP_FAILED ? -errno : 0;
}

static int local_apply(struct host_as *as, const struct host_op *ops,
		       unsigned int nr, unsigned int *done)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		int err = local_op(as, &ops[i]);

		if (err) {
			*done = i;
			return err;
		}
	}
	*done = nr;
	return 0;
}

/*
 * Called from any thread (a reset drops every space's mappings), so the
 * counter is bumped atomically.
 */
static int local_reset(struct host_as *as)
{
	void *base = (void *)as->base;
	void *p;

	count_syscalls(as, 1);
	p = mmap(base, as->size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0);
	if (p != MAP_FAILED)
		return 0;
	if (errno != ENOMEM)
		return -errno;
	/*
	 * The process is past vm.max_map_count (a split may take it one
	 * over, and then the host refuses every mmap): unmapping whole VMAs
	 * needs no split and brings the count down; then reserve again. Until
	 * the second call the range is not ours: another thread's mmap could
	 * land there, which NOREPLACE notices (and nothing can then mend).
	 */
	count_syscalls(as, 2);
	if (munmap(base, as->size) < 0)
		return -errno;
	p = mmap(base, as->size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED_NOREPLACE,
		 -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (p != base) /* an old kernel without NOREPLACE put it elsewhere */
		return -EEXIST;
	return 0;
}

static void local_destroy(struct host_as *as)
{
	munmap((void *)as->base, as->size);
}

static const struct host_backend local_backend = {
	.name = "local",
	.apply = local_apply,
	.concurrent = true,
	.reset = local_reset,
	.destroy = local_destroy,
};

struct host_as *host_as_new_local(struct phys *phys, uint64_t size)
{
	struct host_as *as;
	void *base;

	if (!size || size & ~PAGE_MASK) {
		errno = EINVAL;
		return NULL;
	}
	as = calloc(1, sizeof(*as));
	if (!as)
		return NULL;
	base = mmap(NULL, size, PROT_NONE, RESERVE_FLAGS, -1, 0);
	if (base == MAP_FAILED) {
		free(as);
		return NULL;
	}
	as->backend = &local_backend;
	as->phys = phys;
	as->size = size;
	as->base = (uintptr_t)base;
	host_as_register(as);
	return as;
}
