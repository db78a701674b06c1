/* SPDX-License-Identifier: MIT */
/*
 * The software TLB: per vCPU, a direct-mapped table of guest page ->
 * host pointer translations with a small victim table, in the spirit of
 * QEMU's cputlb. An entry holds one comparator per access kind (read,
 * write, execute) and an addend: a hit is a compare and an add.
 *
 * Entries are tagged with an address-space slot (up to STLB_SLOTS guest
 * page tables per TLB), so switching between guest mms needs no flush.
 * Each page table keeps the list of TLBs with entries for it; every change
 * of a pte that the host hears of (tlb_update_range, tlb_zap_range) shoots
 * the page down in those TLBs, and tlb_sync() waits until every vCPU that
 * may still be using such an entry has moved on. So a page table change
 * is complete in every TLB before the mm call that made it returns, and a
 * frame is never freed while a TLB can reach it.
 *
 * The contract with the vCPU (the one thread that calls stlb_lookup on a
 * TLB): a pointer from a lookup may be used until that thread's next
 * lookup, or until stlb_quiesce(). A vCPU that stops looking up for a
 * while (waits, sleeps, makes mm calls) calls stlb_quiesce() first, or
 * shootdowns wait for it.
 *
 * How the wait works: each lookup stores an even, increasing epoch
 * before it reads an entry; quiescing stores an odd one. A shooter clears
 * the entries, issues a process-wide memory barrier (host_barrier_all),
 * then reads each TLB's epoch: odd means idle; even means the vCPU may be
 * using what it read in that lookup, and the shooter waits for the epoch
 * to move. The barrier is what lets the lookup itself go without one.
 *
 * Locking: stlb->lock (a spinlock) serialises writes of entries (fills,
 * victim swaps, invalidations); the lookup's fast path takes nothing. A
 * page table's TLB list is protected by the lock that protects its ptes.
 */
#ifndef UMM_ARCH_SOFTTLB_H
#define UMM_ARCH_SOFTTLB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "arch/pgtable.h"

#define STLB_SLOTS	 8
#define STLB_VICTIMS	 8
#define STLB_MIN_ENTRIES 16
#define STLB_MAX_ENTRIES 65536
#define STLB_INVALID	 (~0ULL) /* matches no page | slot */

enum stlb_kind { STLB_READ, STLB_WRITE, STLB_EXEC, STLB_KINDS };

struct stlb_entry {
	uint64_t cmp[STLB_KINDS]; /* page | slot, or STLB_INVALID */
	uintptr_t addend; /* host pointer = addend + va */
};

struct soft_tlb;

/* A TLB's link in a page table's list: one per slot. */
struct stlb_link {
	struct soft_tlb *tlb;
	unsigned int slot;
	struct stlb_link *next;
};

struct stlb_stats {
	uint64_t hits, misses, victim_hits;
	uint64_t fills[STLB_KINDS];
	uint64_t flush_all, flush_page, flush_range, flush_asid;
	uint64_t shootdowns, elided, waits;
};

struct soft_tlb {
	/* read by the fast path, written by the vCPU */
	struct stlb_entry *table;
	uint64_t mask; /* entries - 1 */
	uint64_t cur; /* current slot */
	uint64_t epoch; /* atomic: even in a lookup, odd when idle */
	uint64_t local; /* the vCPU's copy of epoch */
	uint64_t hits;
	struct stlb_stats st; /* under lock, but hits above */

	pthread_spinlock_t lock;
	struct stlb_entry victim[STLB_VICTIMS];
	unsigned int victim_next;
	struct stlb_link links[STLB_SLOTS];
	pthread_t owner;
	bool has_owner;
};

/* 0, or -EINVAL (entries not a power of two in range) or -ENOMEM. */
int stlb_init(struct soft_tlb *t, unsigned int entries);
void stlb_destroy(struct soft_tlb *t);

/* Set by host_barrier_all's absence: lookups fence themselves. */
extern bool stlb_fence_lookups;

static inline int stlb_kind(int access)
{
	switch (access) {
	case PROT_READ:
		return STLB_READ;
	case PROT_WRITE:
		return STLB_WRITE;
	case PROT_EXEC:
		return STLB_EXEC;
	}
	return -1;
}

/* Enter a lookup: from here the vCPU may hold what it reads. */
static inline void stlb_enter(struct soft_tlb *t)
{
	t->local += 2;
	/* release: the vCPU's accesses through the last lookup come first */
	__atomic_store_n(&t->epoch, t->local, __ATOMIC_RELEASE);
	if (stlb_fence_lookups)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/*
 * The fast path: the host pointer for @va, or NULL for a miss (the caller
 * goes on to fill). @kind from stlb_kind(). Context: the vCPU thread.
 */
static inline void *stlb_lookup(struct soft_tlb *t, uint64_t va, int kind)
{
	struct stlb_entry *e = &t->table[(va >> PAGE_SHIFT) & t->mask];

	stlb_enter(t);
	if (__atomic_load_n(&e->cmp[kind], __ATOMIC_RELAXED) ==
	    ((va & PAGE_MASK) | t->cur)) {
		/* one writer; read by umm_tlb_stats from any thread */
		__atomic_store_n(&t->hits, t->hits + 1, __ATOMIC_RELAXED);
		return (void *)(e->addend + va);
	}
	return NULL;
}

/* The idle state: shootdowns do not wait for this vCPU until its next lookup. */
static inline void stlb_quiesce(struct soft_tlb *t)
{
	__atomic_store_n(&t->epoch, t->local | 1, __ATOMIC_RELEASE);
}

/*
 * The TLB this thread last filled through: every mm lock quiesces it, so a
 * vCPU that makes an mm call (or faults in a window) never holds up a
 * shootdown while it waits for the lock. A TLB is freed by its vCPU, or
 * after that thread has exited or filled through another TLB.
 */
extern __thread struct soft_tlb *stlb_current;

static inline void stlb_quiesce_current(void)
{
	if (stlb_current)
		stlb_quiesce(stlb_current);
}

/* Back from idle, before using a fill: see stlb_fill. */
static inline void stlb_resume(struct soft_tlb *t)
{
	t->local += 2;
	__atomic_store_n(&t->epoch, t->local, __ATOMIC_SEQ_CST);
}

/*
 * A full barrier: the epoch stored again with a locked exchange, which on
 * x86 orders a store before a later load as a fence does, in a form
 * ThreadSanitizer accepts (it has no fences). For a fill without the lock,
 * between its entry and its second read of the pte.
 */
static inline void stlb_barrier(struct soft_tlb *t)
{
	__atomic_exchange_n(&t->epoch, t->local, __ATOMIC_SEQ_CST);
}

/*
 * The slow path, after a fast-path miss: search the victims (swapping a hit
 * into the table). Returns the host pointer or NULL.
 */
void *stlb_victim_lookup(struct soft_tlb *t, uint64_t va, int kind);
/*
 * Install a translation of @va's page in the current slot for the access
 * kinds in @kinds (a mask of 1 << STLB_*), to the host page at @host.
 * Context: the vCPU, holding the lock of the pte it read (its table's, or
 * the mm's), and resumed (stlb_resume) before that lock is dropped; or,
 * with no lock, resumed first, and reading the pte again after it with a
 * full barrier between (see mm/softtlb.c's lockless fill).
 */
void stlb_fill(struct soft_tlb *t, uint64_t va, unsigned int kinds, void *host);
/*
 * Take back the entry of @va that a fill without the lock just made, from
 * a pte that changed meanwhile (not a flush: no count). The vCPU.
 */
void stlb_unfill(struct soft_tlb *t, uint64_t va);

/* The vCPU's own flushes of the current slot (flush_all: every slot). */
void stlb_flush_all(struct soft_tlb *t);
void stlb_flush_page(struct soft_tlb *t, uint64_t va);
void stlb_flush_range(struct soft_tlb *t, uint64_t start, uint64_t end);
void stlb_flush_slot(struct soft_tlb *t, unsigned int slot);

/*
 * Registration of slot @slot of @t with page table @pt, and its removal
 * (which flushes the slot). Context: the lock protecting @pt's ptes.
 */
void stlb_attach(struct pgtable *pt, struct soft_tlb *t, unsigned int slot);
void stlb_detach(struct pgtable *pt, struct soft_tlb *t, unsigned int slot);

/*
 * Shootdowns, from arch/tlb.c: drop @va's page (or [start, end)) from
 * every TLB attached to @pt (true if some TLB held it), and wait for the
 * vCPUs that may hold it (stlb_shoot_wait: if any shootdown hit since the
 * last wait). Context: the lock protecting @pt's ptes (a fault under the
 * mm's read lock: the table's lock, and the list is stable).
 *
 * stlb_wait_vcpus: the wait alone, for a caller that knows it shot down
 * entries (one of several faults at once: another's stlb_shoot_wait may
 * have taken the mark).
 */
bool stlb_shoot_page(struct pgtable *pt, uint64_t va);
bool stlb_shoot_range(struct pgtable *pt, uint64_t start, uint64_t end);
void stlb_shoot_wait(struct pgtable *pt);
void stlb_wait_vcpus(struct pgtable *pt);

#endif
