// SPDX-License-Identifier: MIT
/*
 * Software TLBs over guest mms: the address-space slots of a TLB (each
 * holding a reference to its mm and attached to its page table) and the
 * fill, which walks the page tables under the mm's read lock and faults as
 * a guest access would. The table itself and its shootdowns are arch's
 * (arch/softtlb.h).
 *
 * A fill also leaves the page mapped in the host window, as the fault path
 * does: one set of page tables serves both kinds of TLB.
 */
#include <errno.h>
#include <stdlib.h>

#include "mm/internal.h"

struct mm_tlb {
	struct soft_tlb stlb; /* first: mm/mm.h's inline lookup casts */
	struct mm *slot_mm[STLB_SLOTS];
	uint64_t slot_used[STLB_SLOTS]; /* last switch, for eviction */
	uint64_t clock;
	uint64_t faults;
};

static void slot_attach(struct mm_tlb *t, unsigned int slot, struct mm *mm)
{
	mm_get(mm);
	mm_lock(mm);
	stlb_attach(&mm->pt, &t->stlb, slot);
	mm_unlock(mm);
	t->slot_mm[slot] = mm;
	t->slot_used[slot] = ++t->clock;
}

static void slot_release(struct mm_tlb *t, unsigned int slot)
{
	struct mm *mm = t->slot_mm[slot];

	mm_lock(mm);
	stlb_detach(&mm->pt, &t->stlb, slot);
	mm_unlock(mm);
	t->slot_mm[slot] = NULL;
	mm_put(mm);
}

struct mm_tlb *mm_tlb_new(struct mm *mm, unsigned int entries)
{
	struct mm_tlb *t = calloc(1, sizeof(*t));
	int err;

	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	err = stlb_init(&t->stlb, entries);
	if (err) {
		free(t);
		errno = -err;
		return NULL;
	}
	slot_attach(t, 0, mm);
	return t;
}

void mm_tlb_free(struct mm_tlb *t)
{
	unsigned int i;

	if (!t)
		return;
	for (i = 0; i < STLB_SLOTS; i++)
		if (t->slot_mm[i])
			slot_release(t, i);
	stlb_destroy(&t->stlb);
	free(t);
}

static int slot_of(struct mm_tlb *t, struct mm *mm)
{
	unsigned int i;

	for (i = 0; i < STLB_SLOTS; i++)
		if (t->slot_mm[i] == mm)
			return (int)i;
	return -1;
}

void mm_tlb_switch(struct mm_tlb *t, struct mm *mm)
{
	int slot = slot_of(t, mm);
	unsigned int i;

	if (slot < 0) {
		/* A free slot, else the least recently used one. */
		slot = 0;
		for (i = 0; i < STLB_SLOTS; i++) {
			if (!t->slot_mm[i]) {
				slot = (int)i;
				break;
			}
			if (t->slot_used[i] < t->slot_used[slot])
				slot = (int)i;
		}
		if (t->slot_mm[slot])
			slot_release(t, (unsigned int)slot);
		slot_attach(t, (unsigned int)slot, mm);
	}
	t->slot_used[slot] = ++t->clock;
	t->stlb.cur = (uint64_t)slot;
}

int mm_tlb_flush_asid(struct mm_tlb *t, struct mm *mm)
{
	int slot = slot_of(t, mm);

	if (slot < 0)
		return -ENOENT;
	/* Not current: let go of the mm as well (its reference, its list). */
	if ((uint64_t)slot != t->stlb.cur)
		slot_release(t, (unsigned int)slot);
	else
		stlb_flush_slot(&t->stlb, (unsigned int)slot);
	return 0;
}

void mm_tlb_flush_all(struct mm_tlb *t)
{
	stlb_flush_all(&t->stlb);
}

void mm_tlb_flush_page(struct mm_tlb *t, uint64_t va)
{
	stlb_flush_page(&t->stlb, va);
}

void mm_tlb_flush_range(struct mm_tlb *t, uint64_t start, uint64_t end)
{
	stlb_flush_range(&t->stlb, start, end);
}

/* The kinds of access a pte allows without a fault (1 << STLB_*). */
static unsigned int pte_kinds(pte_t pte)
{
	int prot = pte_host_prot(pte);
	unsigned int kinds = 0;

	if (pte_special(pte))
		prot &= ~PROT_WRITE; /* the zero page */
	if (prot & PROT_READ)
		kinds |= 1U << STLB_READ;
	if (prot & PROT_WRITE)
		kinds |= 1U << STLB_WRITE;
	if (prot & PROT_EXEC)
		kinds |= 1U << STLB_EXEC;
	return kinds;
}

/*
 * Fill under the mm's read lock, beside faults and other fills: the pte is
 * read, and the entry made, under its table's lock, which every change of
 * the pte takes (or the write lock); so a shootdown of a change comes
 * after the fill or the fill sees the change.
 */
static void *tlb_fill(struct mm_tlb *t, struct mm *mm, uint64_t va, int kind,
		      bool *fault)
{
	pthread_mutex_t *ptl = mm_ptl(mm, va);
	pte_t *ptep;
	unsigned int kinds = 0;
	void *host = NULL;

	pthread_mutex_lock(ptl);
	ptep = pte_lookup(&mm->pt, va);
	if (ptep)
		kinds = pte_kinds(*ptep);
	if (kinds & (1U << kind)) {
		host = phys_kaddr(mm->mem->phys, pte_pfn(*ptep));
		/* In a lookup again before the lock goes: see stlb_fill. */
		stlb_resume(&t->stlb);
		stlb_fill(&t->stlb, va, kinds, host);
		*fault = false;
	}
	pthread_mutex_unlock(ptl);
	return host ? (char *)host + (va & ~PAGE_MASK) : NULL;
}

/*
 * The fill without a lock, when the pte allows the access already: walk
 * under RCU, make the entry, then read the pte again. A change of the pte
 * stores it before the shootdown clears entries under the TLB's lock, and
 * the fill makes its entry under that lock before it reads again (a full
 * barrier between): so either the shootdown comes after the entry and
 * clears it, or the second read sees the change, and the fill takes its
 * entry back and goes the locked way. Returns the host pointer or NULL.
 */
static void *tlb_fill_lockless(struct mm_tlb *t, struct mm *mm, uint64_t va,
			       int kind)
{
	pte_t *ptep, pte = 0;
	unsigned int kinds = 0;
	void *host = NULL;

	pgtable_read_begin();
	ptep = pte_lookup(&mm->pt, va);
	if (ptep)
		pte = pte_read_lockless(ptep);
	if (pte_present(pte))
		kinds = pte_kinds(pte);
	if (kinds & (1U << kind)) {
		host = phys_kaddr(mm->mem->phys, pte_pfn(pte));
		stlb_resume(&t->stlb);
		stlb_fill(&t->stlb, va, kinds, host);
		stlb_barrier(&t->stlb);
		if (pte_read_lockless(ptep) != pte) {
			stlb_unfill(&t->stlb, va);
			stlb_quiesce(&t->stlb);
			host = NULL;
		}
	}
	pgtable_read_end();
	return host ? (char *)host + (va & ~PAGE_MASK) : NULL;
}

void *mm_tlb_miss(struct mm_tlb *t, uint64_t va, int access)
{
	int kind = stlb_kind(access);
	struct mm *mm;
	void *host;
	bool fault = true;
	int si_code, sig;

	if (kind < 0) {
		stlb_quiesce(&t->stlb);
		errno = EINVAL;
		return NULL;
	}
	host = stlb_victim_lookup(&t->stlb, va, kind);
	if (host)
		return host;
	mm = t->slot_mm[t->stlb.cur];
	if (va >= mm->task_size) {
		stlb_quiesce(&t->stlb);
		errno = EFAULT;
		return NULL;
	}
	if (!t->stlb.has_owner ||
	    !pthread_equal(t->stlb.owner, pthread_self())) {
		t->stlb.owner = pthread_self();
		t->stlb.has_owner = true;
	}
	stlb_current = &t->stlb;
	pgtable_reader_register();
	host = tlb_fill_lockless(t, mm, va, kind);
	if (host)
		return host;
	mm_read_lock(mm); /* quiesces: a shootdown now need not wait for us */
	host = tlb_fill(t, mm, va, kind, &fault);
	if (!fault) {
		mm_read_unlock(mm);
		return host;
	}
	__atomic_store_n(&t->faults, t->faults + 1, __ATOMIC_RELAXED);
	count_event(mm, faults_taken, 1);
	sig = handle_fault_locked(mm, va, access, &si_code);
	if (sig == FAULT_RETRY) { /* the stack grows */
		mm_read_unlock(mm);
		mm_lock(mm);
		sig = handle_fault_locked(mm, va, access, &si_code);
		mm_sync_locked(mm);
		mm_unlock(mm);
		mm_read_lock(mm);
	}
	if (!sig)
		host = tlb_fill(t, mm, va, kind, &fault);
	mm_read_unlock(mm);
	if (!host)
		errno = EFAULT;
	return host;
}

void mm_tlb_stats(struct mm_tlb *t, struct umm_tlb_stats *s)
{
	struct stlb_stats st;

	pthread_spin_lock(&t->stlb.lock);
	st = t->stlb.st;
	pthread_spin_unlock(&t->stlb.lock);
	s->hits = __atomic_load_n(&t->stlb.hits, __ATOMIC_RELAXED) +
		  st.victim_hits;
	s->misses = st.misses - st.victim_hits;
	s->victim_hits = st.victim_hits;
	s->fills_read = st.fills[STLB_READ];
	s->fills_write = st.fills[STLB_WRITE];
	s->fills_exec = st.fills[STLB_EXEC];
	s->faults = __atomic_load_n(&t->faults, __ATOMIC_RELAXED);
	s->flushes_all = st.flush_all;
	s->flushes_page = st.flush_page;
	s->flushes_range = st.flush_range;
	s->flushes_asid = st.flush_asid;
	s->shootdowns = st.shootdowns;
	s->flushes_elided = st.elided;
	s->shootdown_waits =
		__atomic_load_n(&t->stlb.st.waits, __ATOMIC_RELAXED);
	s->entries = (uint32_t)(t->stlb.mask + 1);
}
