// SPDX-License-Identifier: MIT
/*
 * The recording backend: carries out nothing and keeps every operation it
 * is given, in order, so tests of mm/ and arch/ can assert the exact host
 * calls a guest operation makes. A reset is recorded as an unmap of all.
 */
#include <errno.h>
#include <stdlib.h>

#include "host/host.h"
#include "host/internal.h"

struct record {
	struct host_op *log;
	unsigned int nr, cap;
};

static void record_one(struct record *r, const struct host_op *op)
{
	if (r->nr == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->log = realloc(r->log, r->cap * sizeof(*r->log));
		BUG_ON(!r->log);
	}
	r->log[r->nr++] = *op;
}

static int record_apply(struct host_as *as, const struct host_op *ops,
			unsigned int nr, unsigned int *done)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (!host_op_stale(as, &ops[i]))
			record_one(as->priv, &ops[i]);
	count_syscalls(as, nr); /* as if each were one host call */
	*done = nr;
	return 0;
}

static int record_reset(struct host_as *as)
{
	struct host_op op = {.kind = HOST_OP_UNMAP, .va = 0, .len = as->size};

	record_one(as->priv, &op);
	return 0;
}

static void record_destroy(struct host_as *as)
{
	struct record *r = as->priv;

	free(r->log);
	free(r);
}

static const struct host_backend record_backend = {
	.name = "record",
	.apply = record_apply,
	.reset = record_reset,
	.destroy = record_destroy,
};

struct host_as *host_as_new_record(struct phys *phys, uint64_t size)
{
	struct host_as *as = calloc(1, sizeof(*as));

	if (!as)
		return NULL;
	as->priv = calloc(1, sizeof(struct record));
	if (!as->priv) {
		free(as);
		return NULL;
	}
	as->backend = &record_backend;
	as->phys = phys;
	as->size = size;
	host_as_register(as);
	return as;
}

const struct host_op *host_as_recorded(struct host_as *as, unsigned int *nr)
{
	struct record *r = as->priv;

	*nr = r->nr;
	return r->log;
}

void host_as_clear_record(struct host_as *as)
{
	struct record *r = as->priv;

	r->nr = 0;
}
