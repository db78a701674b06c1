// SPDX-License-Identifier: MIT
/*
 * The VMA map of a host address space: a model of the host VMAs its range
 * [0, size) holds, kept as the operations are carried out, so that the VMA
 * budget counts what the host really holds instead of an upper bound.
 *
 * The model is a partition of the space into runs, each one host VMA:
 * reserved (the PROT_NONE reservation), a mapping of the physical memory
 * file at an offset, a mapping of zeros, or unknown (the range of an
 * operation the host refused: it may have done part of it). The host
 * kernel merges a new or re-protected VMA with a neighbour of the same
 * kind and protection (and, for the file, the next offset), and so does
 * the model, so that the number of runs is the number of host VMAs that
 * meet the range:
 *
 *   va:    0        4        5        8             12       size
 *          |reserved|file@40 |file@44 |reserved ... |zero r  |reserved|
 *                    \________________/
 *                      one run: offsets follow on, one prot
 *
 * A reserved run at an edge may merge on the host with a reservation of
 * its own outside the space; it is still one VMA that meets the range.
 *
 * Runs sit in a skip list ordered by address (neighbours through the
 * bottom level, both ways), and the mapped ones also in a list ordered by
 * when they were last filled (mapped), oldest first: eviction takes from
 * its head. A run split in two keeps its fill time in both halves; a merge
 * keeps the newer.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "host/internal.h"

struct vrun {
	uint64_t start, end;
	uint64_t off; /* VRUN_FILE: file offset of start */
	uint64_t stamp; /* fill time (mapped runs) */
	uint8_t kind; /* VRUN_* */
	uint8_t prot;
	uint8_t level; /* entries in next[] */
	struct vrun *prev; /* bottom level, NULL for the first run */
	struct vrun *lru_prev, *lru_next; /* mapped runs only */
	struct vrun *next[];
};

/*
 * Held: not the reservation, so it may be evicted. An unknown run goes in
 * line as a fill would, last: the op the host refused is tried again
 * right after the eviction its refusal brings, and sets it right; evicting
 * it first would split the reservation around it, the one thing a host at
 * its limit refuses.
 */
static bool vrun_held(const struct vrun *r)
{
	return r->kind != VRUN_RESERVED;
}

static struct vrun *vrun_alloc(unsigned int level)
{
	struct vrun *r = calloc(1, sizeof(*r) + level * sizeof(r->next[0]));

	/* A model that cannot grow cannot count: nothing sane to fall to. */
	BUG_ON(!r);
	r->level = (uint8_t)level;
	return r;
}

/* One level in two up, as in Pugh's skip lists; xorshift is enough. */
static unsigned int random_level(struct vmamap *m)
{
	unsigned int level = 1;
	uint32_t x = m->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	m->rng = x;
	while (level < VMAMAP_LEVELS && (x & 1)) {
		level++;
		x >>= 1;
	}
	return level;
}

/*
 * The first run that starts at or after @va; @update[l] gets the last
 * node of level l that starts before @va (the head when none does).
 */
static struct vrun *search(struct vmamap *m, uint64_t va, struct vrun **update)
{
	struct vrun *x = m->head;
	int l;

	for (l = VMAMAP_LEVELS - 1; l >= 0; l--) {
		while (x->next[l] && x->next[l]->start < va)
			x = x->next[l];
		update[l] = x;
	}
	return x->next[0];
}

/*
 * The run that holds @va (< size). The last one found is tried first, and
 * the one after it: an op's split at its end falls in the run its split
 * at its start made.
 */
static struct vrun *find(struct vmamap *m, uint64_t va)
{
	struct vrun *update[VMAMAP_LEVELS], *r = m->hint;

	if (r && r->start <= va) {
		if (va < r->end)
			return r;
		r = r->next[0];
		if (r && va < r->end) {
			m->hint = r;
			return r;
		}
	}
	r = search(m, va, update);
	if (!r || r->start != va) {
		BUG_ON(update[0] == m->head);
		r = update[0];
	}
	m->hint = r;
	return r;
}

/* Count @r in, now that it is linked. */
static void count_in(struct vmamap *m, struct vrun *r)
{
	m->nr_runs++;
	if (vrun_held(r))
		m->nr_mapped++;
}

/*
 * Link @n right after @c (no run between them). Where @c stands at least
 * as high as @n, it is @n's predecessor at every level and no search is
 * needed.
 */
static void link_after(struct vmamap *m, struct vrun *c, struct vrun *n)
{
	struct vrun *update[VMAMAP_LEVELS];
	unsigned int l;

	if (n->level > c->level)
		search(m, n->start, update);
	for (l = 0; l < n->level; l++) {
		struct vrun *p = l < c->level ? c : update[l];

		n->next[l] = p->next[l];
		p->next[l] = n;
	}
	n->prev = c;
	if (n->next[0])
		n->next[0]->prev = n;
	count_in(m, n);
}

static void link_first(struct vmamap *m, struct vrun *r)
{
	unsigned int l;

	for (l = 0; l < r->level; l++) {
		r->next[l] = m->head->next[l];
		m->head->next[l] = r;
	}
	r->prev = NULL;
	if (r->next[0])
		r->next[0]->prev = r;
	count_in(m, r);
}

/* ---- the fill-time list ---- */

static void lru_unlink(struct vmamap *m, struct vrun *r)
{
	if (r->lru_prev)
		r->lru_prev->lru_next = r->lru_next;
	else
		m->lru_first = r->lru_next;
	if (r->lru_next)
		r->lru_next->lru_prev = r->lru_prev;
	else
		m->lru_last = r->lru_prev;
	r->lru_prev = r->lru_next = NULL;
}

static void lru_insert_after(struct vmamap *m, struct vrun *pos, struct vrun *r)
{
	r->lru_prev = pos;
	r->lru_next = pos ? pos->lru_next : m->lru_first;
	if (r->lru_next)
		r->lru_next->lru_prev = r;
	else
		m->lru_last = r;
	if (pos)
		pos->lru_next = r;
	else
		m->lru_first = r;
}

/*
 * Unlink and free @r. Its neighbour before, when it stands at least as
 * high, is its predecessor at every level: no search then.
 */
static void unlink_run(struct vmamap *m, struct vrun *r)
{
	struct vrun *update[VMAMAP_LEVELS], *p = r->prev ? r->prev : m->head;
	unsigned int l;

	if (p->level < r->level)
		search(m, r->start, update);
	for (l = 0; l < r->level; l++) {
		struct vrun *q = l < p->level ? p : update[l];

		BUG_ON(q->next[l] != r);
		q->next[l] = r->next[l];
	}
	if (r->next[0])
		r->next[0]->prev = r->prev;
	if (m->hint == r)
		m->hint = r->prev;
	m->nr_runs--;
	if (vrun_held(r)) {
		m->nr_mapped--;
		lru_unlink(m, r);
	}
	free(r);
}

/* Make a run start at @va (< size) and return it. */
static struct vrun *split_at(struct vmamap *m, uint64_t va)
{
	struct vrun *r = find(m, va), *n;

	if (r->start == va)
		return r;
	n = vrun_alloc(random_level(m));
	n->start = va;
	n->end = r->end;
	n->kind = r->kind;
	n->prot = r->prot;
	n->stamp = r->stamp;
	n->off = r->kind == VRUN_FILE ? r->off + (va - r->start) : 0;
	r->end = va;
	link_after(m, r, n);
	if (vrun_held(n))
		lru_insert_after(m, r, n);
	return n;
}

/* Would the host merge @a and the run @b that follows it? */
static bool can_merge(const struct vrun *a, const struct vrun *b)
{
	if (a->kind != b->kind || a->kind == VRUN_UNKNOWN || a->prot != b->prot)
		return false;
	return a->kind != VRUN_FILE || a->off + (a->end - a->start) == b->off;
}

/* Merge @b into the run before it if the host would; the run @b is now. */
static struct vrun *merge_prev(struct vmamap *m, struct vrun *b)
{
	struct vrun *a = b->prev;

	if (!a || !can_merge(a, b))
		return b;
	a->end = b->end;
	if (vrun_held(a) && b->stamp > a->stamp) {
		/* a takes b's place in fill order: b is the newer */
		a->stamp = b->stamp;
		lru_unlink(m, a);
		lru_insert_after(m, b, a);
	}
	unlink_run(m, b);
	return a;
}

void vmamap_init(struct vmamap *m, uint64_t size)
{
	struct vrun *r;

	memset(m, 0, sizeof(*m));
	m->size = size;
	m->rng = 0x9e3779b9u;
	m->head = vrun_alloc(VMAMAP_LEVELS);
	r = vrun_alloc(random_level(m));
	r->end = size;
	r->kind = VRUN_RESERVED;
	link_first(m, r);
}

void vmamap_destroy(struct vmamap *m)
{
	struct vrun *r, *n;

	if (!m->head)
		return;
	for (r = m->head; r; r = n) {
		n = r->next[0];
		free(r);
	}
	m->head = NULL;
}

void vmamap_reset(struct vmamap *m)
{
	uint64_t size = m->size, clock = m->clock;

	vmamap_destroy(m);
	vmamap_init(m, size);
	m->clock = clock;
}

/* @r, held or not, becomes @kind: into or out of the fill-time list. */
static void set_kind(struct vmamap *m, struct vrun *r, int kind, int prot,
		     uint64_t off)
{
	if (vrun_held(r)) {
		lru_unlink(m, r);
		m->nr_mapped--;
	}
	r->kind = (uint8_t)kind;
	r->prot = (uint8_t)prot;
	r->off = kind == VRUN_FILE ? off : 0;
	if (vrun_held(r)) {
		r->stamp = ++m->clock;
		lru_insert_after(m, m->lru_last, r);
		m->nr_mapped++;
	}
}

/* Merge @r with the runs on either side where the host would. */
static void merge_both(struct vmamap *m, struct vrun *r)
{
	r = merge_prev(m, r);
	if (r->next[0])
		merge_prev(m, r->next[0]);
}

/* [start, end) becomes one run of @kind, merged with its neighbours. */
static void set_range(struct vmamap *m, uint64_t start, uint64_t end, int kind,
		      int prot, uint64_t off)
{
	struct vrun *r = split_at(m, start), *n;

	if (end < m->size)
		split_at(m, end);
	while ((n = r->next[0]) && n->start < end)
		unlink_run(m, n);
	r->end = end;
	set_kind(m, r, kind, prot, off);
	merge_both(m, r);
}

/* mprotect of [start, end): only where something is mapped. */
static void protect_range(struct vmamap *m, uint64_t start, uint64_t end,
			  int prot)
{
	struct vrun *first = split_at(m, start), *r;

	if (end < m->size)
		split_at(m, end);
	for (r = first; r && r->start < end; r = r->next[0])
		if (r->kind == VRUN_FILE || r->kind == VRUN_ZERO)
			r->prot = (uint8_t)prot;
	r = merge_prev(m, first);
	while (r->next[0] && r->next[0]->start <= end)
		r = merge_prev(m, r->next[0]);
}

void vmamap_apply(struct vmamap *m, const struct host_op *op)
{
	uint64_t end = op->va + op->len;

	switch (op->kind) {
	case HOST_OP_MAP:
		set_range(m, op->va, end, VRUN_FILE, op->prot, op->off);
		break;
	case HOST_OP_MAP_ZERO:
		set_range(m, op->va, end, VRUN_ZERO, op->prot, 0);
		break;
	case HOST_OP_UNMAP:
		set_range(m, op->va, end, VRUN_RESERVED, 0, 0);
		break;
	case HOST_OP_PROTECT:
		protect_range(m, op->va, end, op->prot);
		break;
	default:
		BUG_ON(1);
	}
}

void vmamap_unknown(struct vmamap *m, uint64_t va, uint64_t len)
{
	set_range(m, va, va + len, VRUN_UNKNOWN, 0, 0);
}

bool vmamap_reserved(struct vmamap *m, uint64_t va, uint64_t len)
{
	struct vrun *r = find(m, va);

	return r->kind == VRUN_RESERVED && r->end >= va + len;
}

bool vmamap_evict_oldest(struct vmamap *m, uint64_t *va, uint64_t *len)
{
	struct vrun *r = m->lru_first;

	if (!r)
		return false;
	*va = r->start;
	*len = r->end - r->start;
	set_kind(m, r, VRUN_RESERVED, PROT_NONE, 0);
	merge_both(m, r);
	return true;
}

int vmamap_walk(struct vmamap *m, vmamap_fn fn, void *arg)
{
	struct vrun *r;
	int err = 0;

	for (r = m->head->next[0]; r && !err; r = r->next[0])
		err = fn(r->start, r->end - r->start, r->kind, r->prot, r->off,
			 arg);
	return err;
}
