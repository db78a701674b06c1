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

/*
 * The FPU state in the host's format (host/fpu.c). Each writes
 * host_fpu_size() bytes at @out and returns that many, or -errno:
 * -EOPNOTSUPP where host_fpu_size() is 0.
 * host_fpu_init_state: the state a new process starts with.
 * host_fpu_check: @buf (@len bytes) checked as host_stub_fpu_set says
 * (-EINVAL for what the CPU refuses) and made into one the host kernel's
 * rt_sigreturn takes whole.
 * host_fpu_check_saved: is @buf (@len bytes), which the host kernel saved
 * in a stub's frame, what this process thinks the host's format is? 0, or
 * -EIO (it is not: malformed) or -EOPNOTSUPP (the features differ).
 */
int host_fpu_init_state(void *out);
int host_fpu_check(void *out, const void *buf, size_t len);
int host_fpu_check_saved(const void *buf, size_t len);

/* Add a new space to the list that resets walk. */
void host_as_register(struct host_as *as);

/*
 * The VMA map (host/vmamap.c): a model of the host VMAs a space holds,
 * as runs of one kind each. Context: the space's owner under its
 * reset_lock for reading, or anyone under it for writing.
 */
enum vrun_kind {
	VRUN_RESERVED, /* the PROT_NONE reservation */
	VRUN_FILE, /* the physical memory file, at an offset */
	VRUN_ZERO, /* anonymous zeros, read-only */
	VRUN_UNKNOWN, /* an operation the host refused: part may be done */
};

#define VMAMAP_LEVELS 20

struct vrun;

struct vmamap {
	struct vrun *head; /* skip list sentinel */
	struct vrun *hint; /* the run last found, or NULL */
	uint64_t size;
	unsigned long nr_runs; /* host VMAs that meet the space */
	unsigned long nr_mapped; /* of which not reserved */
	/* runs not reserved, oldest fill first */
	struct vrun *lru_first, *lru_last;
	uint64_t clock; /* fills so far: the fill time of the next */
	uint32_t rng;
};

/* One reserved run over [0, size). */
void vmamap_init(struct vmamap *m, uint64_t size);
void vmamap_destroy(struct vmamap *m);
/* Back to one reserved run: the space was reset. */
void vmamap_reset(struct vmamap *m);
/* What @op, carried out, did to the host. */
void vmamap_apply(struct vmamap *m, const struct host_op *op);
/* The host refused an operation on [va, va+len): who knows what is there. */
void vmamap_unknown(struct vmamap *m, uint64_t va, uint64_t len);
/* Is [va, va+len) all reservation? */
bool vmamap_reserved(struct vmamap *m, uint64_t va, uint64_t len);
/*
 * Evict the least recently filled run not reserved: [va, va+len) becomes
 * reservation. False when there is none.
 */
bool vmamap_evict_oldest(struct vmamap *m, uint64_t *va, uint64_t *len);
/* fn(va, len, kind, prot, off, arg) for each run, in address order. */
typedef int (*vmamap_fn)(uint64_t va, uint64_t len, int kind, int prot,
			 uint64_t off, void *arg);
int vmamap_walk(struct vmamap *m, vmamap_fn fn, void *arg);

/*
 * Drop every mapping of @as now, as an eviction's last resort does (its
 * generation bumped, its VMA map emptied). Context: the owner, without
 * as->reset_lock.
 */
void host_as_reset(struct host_as *as);
/* A stub space: carry out the batch that waits for the next resume now. */
void host_stub_sync(struct host_as *as);

#endif
