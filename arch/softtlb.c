// SPDX-License-Identifier: MIT
/* The software TLB: see arch/softtlb.h for the design and the contract. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "arch/softtlb.h"

bool stlb_fence_lookups;
__thread struct soft_tlb *stlb_current;

static void entry_clear(struct stlb_entry *e)
{
	unsigned int k;

	for (k = 0; k < STLB_KINDS; k++)
		__atomic_store_n(&e->cmp[k], STLB_INVALID, __ATOMIC_RELAXED);
}

static bool entry_empty(const struct stlb_entry *e)
{
	return e->cmp[STLB_READ] == STLB_INVALID &&
	       e->cmp[STLB_WRITE] == STLB_INVALID &&
	       e->cmp[STLB_EXEC] == STLB_INVALID;
}

/* Does @e translate a page of slot @slot in [start, end)? */
static bool entry_in(const struct stlb_entry *e, unsigned int slot,
		     uint64_t start, uint64_t end)
{
	unsigned int k;

	for (k = 0; k < STLB_KINDS; k++) {
		uint64_t c = e->cmp[k];

		if (c != STLB_INVALID && (c & ~PAGE_MASK) == slot &&
		    (c & PAGE_MASK) >= start && (c & PAGE_MASK) < end)
			return true;
	}
	return false;
}

int stlb_init(struct soft_tlb *t, unsigned int entries)
{
	unsigned int i;

	if (entries < STLB_MIN_ENTRIES || entries > STLB_MAX_ENTRIES ||
	    (entries & (entries - 1)))
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	t->table = malloc(entries * sizeof(*t->table));
	if (!t->table)
		return -ENOMEM;
	t->mask = entries - 1;
	for (i = 0; i < entries; i++)
		entry_clear(&t->table[i]);
	for (i = 0; i < STLB_VICTIMS; i++)
		entry_clear(&t->victim[i]);
	for (i = 0; i < STLB_SLOTS; i++) {
		t->links[i].tlb = t;
		t->links[i].slot = i;
	}
	t->local = 0; /* even: the epochs of lookups */
	t->epoch = 1; /* idle */
	pthread_spin_init(&t->lock, PTHREAD_PROCESS_PRIVATE);
	/* STLB_FENCE=1: the fenced lookups, as without membarrier (tests) */
	if (host_barrier_all() || getenv("STLB_FENCE"))
		stlb_fence_lookups = true;
	return 0;
}

void stlb_destroy(struct soft_tlb *t)
{
	if (stlb_current == t)
		stlb_current = NULL;
	pthread_spin_destroy(&t->lock);
	free(t->table);
}

void *stlb_victim_lookup(struct soft_tlb *t, uint64_t va, int kind)
{
	uint64_t tag = (va & PAGE_MASK) | t->cur;
	struct stlb_entry *e = &t->table[(va >> PAGE_SHIFT) & t->mask];
	void *host = NULL;
	unsigned int i;

	pthread_spin_lock(&t->lock);
	t->st.misses++;
	for (i = 0; i < STLB_VICTIMS; i++) {
		struct stlb_entry *v = &t->victim[i];
		struct stlb_entry tmp;

		if (v->cmp[kind] != tag)
			continue;
		/* Swap it in; what it displaces becomes the victim. */
		tmp = *e;
		*e = *v;
		*v = tmp;
		t->st.victim_hits++;
		host = (void *)(e->addend + va);
		break;
	}
	pthread_spin_unlock(&t->lock);
	return host;
}

void stlb_fill(struct soft_tlb *t, uint64_t va, unsigned int kinds, void *host)
{
	uint64_t tag = (va & PAGE_MASK) | t->cur;
	struct stlb_entry *e = &t->table[(va >> PAGE_SHIFT) & t->mask];
	unsigned int k;

	pthread_spin_lock(&t->lock);
	/* The entry goes to the victims unless it is this page's already. */
	if (!entry_empty(e) &&
	    !entry_in(e, (unsigned int)t->cur, va & PAGE_MASK,
		      (va & PAGE_MASK) + PAGE_SIZE)) {
		t->victim[t->victim_next] = *e;
		t->victim_next = (t->victim_next + 1) % STLB_VICTIMS;
	}
	entry_clear(e);
	e->addend = (uintptr_t)host - (va & PAGE_MASK);
	for (k = 0; k < STLB_KINDS; k++)
		if (kinds & (1U << k)) {
			__atomic_store_n(&e->cmp[k], tag, __ATOMIC_RELEASE);
			t->st.fills[k]++;
		}
	pthread_spin_unlock(&t->lock);
}

/* Clear the entries of @slot in [start, end); how many were live. */
static unsigned int clear_range_locked(struct soft_tlb *t, unsigned int slot,
				       uint64_t start, uint64_t end)
{
	uint64_t nr = (end - start) >> PAGE_SHIFT;
	unsigned int i, n = 0;

	if (nr <= t->mask + 1) {
		uint64_t va;

		for (va = start; va < end; va += PAGE_SIZE) {
			struct stlb_entry *e =
				&t->table[(va >> PAGE_SHIFT) & t->mask];

			if (entry_in(e, slot, va, va + PAGE_SIZE)) {
				entry_clear(e);
				n++;
			}
		}
	} else {
		for (i = 0; i <= t->mask; i++)
			if (entry_in(&t->table[i], slot, start, end)) {
				entry_clear(&t->table[i]);
				n++;
			}
	}
	for (i = 0; i < STLB_VICTIMS; i++)
		if (entry_in(&t->victim[i], slot, start, end)) {
			entry_clear(&t->victim[i]);
			n++;
		}
	return n;
}

void stlb_flush_all(struct soft_tlb *t)
{
	unsigned int i;

	pthread_spin_lock(&t->lock);
	for (i = 0; i <= t->mask; i++)
		entry_clear(&t->table[i]);
	for (i = 0; i < STLB_VICTIMS; i++)
		entry_clear(&t->victim[i]);
	t->st.flush_all++;
	pthread_spin_unlock(&t->lock);
}

void stlb_unfill(struct soft_tlb *t, uint64_t va)
{
	pthread_spin_lock(&t->lock);
	va &= PAGE_MASK;
	clear_range_locked(t, (unsigned int)t->cur, va, va + PAGE_SIZE);
	pthread_spin_unlock(&t->lock);
}

void stlb_flush_page(struct soft_tlb *t, uint64_t va)
{
	pthread_spin_lock(&t->lock);
	va &= PAGE_MASK;
	if (clear_range_locked(t, (unsigned int)t->cur, va, va + PAGE_SIZE))
		t->st.flush_page++;
	else
		t->st.elided++;
	pthread_spin_unlock(&t->lock);
}

void stlb_flush_range(struct soft_tlb *t, uint64_t start, uint64_t end)
{
	start &= PAGE_MASK;
	end = (end + PAGE_SIZE - 1) & PAGE_MASK;
	if (start >= end)
		return;
	pthread_spin_lock(&t->lock);
	if (clear_range_locked(t, (unsigned int)t->cur, start, end))
		t->st.flush_range++;
	else
		t->st.elided++;
	pthread_spin_unlock(&t->lock);
}

void stlb_flush_slot(struct soft_tlb *t, unsigned int slot)
{
	pthread_spin_lock(&t->lock);
	clear_range_locked(t, slot, 0, PAGE_MASK);
	t->st.flush_asid++;
	pthread_spin_unlock(&t->lock);
}

void stlb_attach(struct pgtable *pt, struct soft_tlb *t, unsigned int slot)
{
	struct stlb_link *l = &t->links[slot];

	l->next = pt->tlbs;
	pt->tlbs = l;
}

void stlb_detach(struct pgtable *pt, struct soft_tlb *t, unsigned int slot)
{
	struct stlb_link **p;

	for (p = &pt->tlbs; *p; p = &(*p)->next)
		if (*p == &t->links[slot]) {
			*p = (*p)->next;
			break;
		}
	stlb_flush_slot(t, slot);
}

/* Clear [start, end) in one attached TLB; mark it for the wait. */
static bool shoot_one(struct pgtable *pt, struct stlb_link *l, uint64_t start,
		      uint64_t end)
{
	struct soft_tlb *t = l->tlb;
	bool hit;

	pthread_spin_lock(&t->lock);
	hit = clear_range_locked(t, l->slot, start, end);
	if (hit) {
		t->st.shootdowns++;
		__atomic_store_n(&pt->stlb_wait, true, __ATOMIC_RELAXED);
	} else {
		t->st.elided++;
	}
	pthread_spin_unlock(&t->lock);
	return hit;
}

bool stlb_shoot_page(struct pgtable *pt, uint64_t va)
{
	struct stlb_link *l;
	bool hit = false;

	va &= PAGE_MASK;
	for (l = pt->tlbs; l; l = l->next)
		hit |= shoot_one(pt, l, va, va + PAGE_SIZE);
	return hit;
}

bool stlb_shoot_range(struct pgtable *pt, uint64_t start, uint64_t end)
{
	struct stlb_link *l;
	bool hit = false;

	for (l = pt->tlbs; l; l = l->next)
		hit |= shoot_one(pt, l, start & PAGE_MASK, end);
	return hit;
}

/* Has the vCPU of @t left the lookup it was in when we read @epoch? */
static bool moved_on(struct soft_tlb *t, uint64_t epoch)
{
	return (epoch & 1) ||
	       __atomic_load_n(&t->epoch, __ATOMIC_ACQUIRE) != epoch;
}

void stlb_shoot_wait(struct pgtable *pt)
{
	if (__atomic_exchange_n(&pt->stlb_wait, false, __ATOMIC_RELAXED))
		stlb_wait_vcpus(pt);
}

void stlb_wait_vcpus(struct pgtable *pt)
{
	struct stlb_link *l;
	pthread_t self = pthread_self();

	if (!stlb_fence_lookups)
		host_barrier_all();
	for (l = pt->tlbs; l; l = l->next) {
		struct soft_tlb *t = l->tlb;
		uint64_t epoch;
		unsigned int spins = 0;

		/* A vCPU making this change is not in a lookup. */
		if (t->has_owner && pthread_equal(t->owner, self))
			continue;
		epoch = __atomic_load_n(&t->epoch, __ATOMIC_ACQUIRE);
		if (moved_on(t, epoch))
			continue;
		__atomic_fetch_add(&t->st.waits, 1, __ATOMIC_RELAXED);
		while (!moved_on(t, epoch))
			if (++spins > 100)
				sched_yield();
	}
}
