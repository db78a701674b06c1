// SPDX-License-Identifier: MIT
/*
 * Unit tests of arch/: the pte helpers, the four-level tables (alloc,
 * lookup, walk, free_range) and tlb_update_range, whose host operations are
 * checked exactly against a recording host address space.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/pgtable.h"
#include "arch/tlb.h"
#include "host/host.h"
#include "tests/tap.h"

#define PG PAGE_SIZE
#define TOP (1ULL << GUEST_VA_BITS)
#define PMD_SIZE (1ULL << 21)
#define PUD_SIZE (1ULL << 30)
#define PGD_SIZE (1ULL << 39)

static struct phys *phys;

/* ---- pte helpers ---- */

static void test_pte_helpers(void)
{
	const pte_t rw = pte_prot_bits(PROT_READ | PROT_WRITE);
	pte_t pte, m;

	is(pte_prot_bits(PROT_NONE), _PAGE_PROTNONE, "PROT_NONE: PROTNONE");
	is(pte_prot_bits(PROT_READ), _PAGE_PRESENT | _PAGE_USER | _PAGE_NX,
	   "PROT_READ: present, user, NX");
	is(rw, _PAGE_PRESENT | _PAGE_USER | _PAGE_RW | _PAGE_NX,
	   "PROT_READ|PROT_WRITE: present, user, RW, NX");
	is(pte_prot_bits(PROT_READ | PROT_EXEC), _PAGE_PRESENT | _PAGE_USER,
	   "PROT_READ|PROT_EXEC: no NX");

	pte = pte_mk(0x12345, rw);
	is(pte_pfn(pte), 0x12345, "pte_pfn gives back the frame");
	is(pte, (0x12345ULL << PAGE_SHIFT) | rw | _PAGE_NEWPAGE,
	   "pte_mk: frame, prot bits and NEWPAGE");
	is(pte_pfn(pte_mk(0xffffffffU, rw)), 0xffffffffU,
	   "the largest u32 pfn round-trips");
	ok(pte_present(pte), "a PRESENT pte is present");
	ok(pte_present(pte_mk(7, _PAGE_PROTNONE)), "a PROTNONE pte is present");
	ok(!pte_present(0), "an empty pte is not");
	ok(!pte_present(_PAGE_NEWPAGE | _PAGE_ACCESSED),
	   "neither is one without PRESENT or PROTNONE");
	ok(pte_none(0) && !pte_none(pte), "pte_none");
	ok(pte_changed(pte), "a new pte is changed");
	ok(!pte_changed(pte & ~_PAGE_NEWPAGE), "without marks it is not");

	pte = (pte & ~_PAGE_NEWPAGE) | _PAGE_ACCESSED | _PAGE_DIRTY |
	      _PAGE_SPECIAL;
	m = pte_modify(pte, pte_prot_bits(PROT_READ));
	is(pte_pfn(m), 0x12345, "pte_modify keeps the frame");
	ok(pte_young(m) && pte_dirty(m) && pte_special(m),
	   "and accessed, dirty and special");
	ok(!pte_write(m), "drops RW");
	is(m & _PAGE_CHG_BITS, _PAGE_NEWPROT, "and marks NEWPROT only");
	m = pte_modify(pte, _PAGE_PROTNONE);
	ok(pte_present(m) && !(m & _PAGE_PRESENT),
	   "pte_modify to PROTNONE: present, not accessible");
	is(pte_pfn(m), 0x12345, "the frame kept");
	m = pte_modify(pte_mk(9, _PAGE_PROTNONE), rw);
	ok((m & _PAGE_PRESENT) && !(m & _PAGE_PROTNONE),
	   "pte_modify from PROTNONE: PROTNONE cleared");
	ok(m & _PAGE_NEWPAGE, "NEWPAGE kept until the host knows the page");

	pte = pte_mk(3, rw) & ~_PAGE_NEWPAGE;
	is(pte_mkyoung(pte), pte | _PAGE_ACCESSED | _PAGE_NEWPROT,
	   "pte_mkyoung marks NEWPROT");
	is(pte_mkyoung(pte | _PAGE_ACCESSED), pte | _PAGE_ACCESSED,
	   "already young: unchanged");
	is(pte_mkdirty(pte), pte | _PAGE_DIRTY | _PAGE_NEWPROT,
	   "pte_mkdirty marks NEWPROT");
	is(pte_wrprotect(pte), (pte & ~_PAGE_RW) | _PAGE_NEWPROT,
	   "pte_wrprotect marks NEWPROT");
	is(pte_wrprotect(pte & ~_PAGE_RW), pte & ~_PAGE_RW,
	   "already read-only: unchanged");
	is(pte_mkwrite(pte & ~_PAGE_RW), pte | _PAGE_NEWPROT,
	   "pte_mkwrite marks NEWPROT");

	/* What the host may allow. */
	pte = pte_mk(3, rw);
	is(pte_host_prot(pte), PROT_NONE, "not accessed: no host access");
	is(pte_host_prot(pte | _PAGE_ACCESSED), PROT_READ,
	   "accessed, not dirty: read only");
	is(pte_host_prot(pte | _PAGE_ACCESSED | _PAGE_DIRTY),
	   PROT_READ | PROT_WRITE, "accessed and dirty: read-write");
	is(pte_host_prot(pte_mk(3, pte_prot_bits(PROT_READ)) | _PAGE_ACCESSED |
			 _PAGE_DIRTY), PROT_READ,
	   "dirty but not RW: read only");
	is(pte_host_prot(pte_mk(3, pte_prot_bits(PROT_READ | PROT_EXEC)) |
			 _PAGE_ACCESSED), PROT_READ | PROT_EXEC,
	   "without NX: exec");
	is(pte_host_prot(pte_mk(3, pte_prot_bits(PROT_READ | PROT_WRITE |
						 PROT_EXEC)) |
			 _PAGE_ACCESSED | _PAGE_DIRTY),
	   PROT_READ | PROT_WRITE | PROT_EXEC, "rwx, accessed and dirty: rwx");
	is(pte_host_prot(pte_mk(3, _PAGE_PROTNONE) | _PAGE_ACCESSED |
			 _PAGE_DIRTY), PROT_NONE, "PROTNONE: no host access");

	ok(pte_allows(pte, PROT_READ) && pte_allows(pte, PROT_WRITE),
	   "pte_allows read and write of a RW pte");
	ok(!pte_allows(pte, PROT_EXEC), "not exec under NX");
	ok(!pte_allows(pte_mk(3, _PAGE_PROTNONE), PROT_READ),
	   "nothing through PROTNONE");
}

/* ---- tables ---- */

static void test_alloc_lookup(void)
{
	static const struct {
		uint64_t va;
		uint64_t tables;	/* after pte_alloc of it */
	} addrs[] = {
		{ 0, 4 },			/* pud, pmd, pte */
		{ 0x1000, 4 },			/* same pte table */
		{ 0x200000, 5 },		/* new pte table */
		{ 0x40000000, 7 },		/* new pmd, pte */
		{ 0x8000000000ULL, 10 },	/* new pud, pmd, pte */
		{ TOP - PG, 13 },		/* pgd slot 511: all new */
	};
	struct pgtable pt;
	pte_t *p[6];
	unsigned int i;

	is(pgtable_init(&pt), 0, "pgtable_init");
	is(pt.nr_tables, 1, "the pgd alone");
	for (i = 0; i < 6; i++) {
		ok(!pte_lookup(&pt, addrs[i].va) || i == 1,
		   "%#llx: no pte before pte_alloc",
		   (unsigned long long)addrs[i].va);
		p[i] = pte_alloc(&pt, addrs[i].va);
		ok(p[i] != NULL, "pte_alloc(%#llx)",
		   (unsigned long long)addrs[i].va);
		is(pt.nr_tables, addrs[i].tables, "%llu tables",
		   (unsigned long long)addrs[i].tables);
		*p[i] = pte_mk(100 + i, pte_prot_bits(PROT_READ));
	}
	ok(p[1] == p[0] + 1, "0x1000 is the next entry after 0");
	is(pte_alloc(&pt, 0x1000) - p[1], 0, "pte_alloc again: the same pte");
	is(pt.nr_tables, 13, "and no new table");
	for (i = 0; i < 6; i++) {
		ok(pte_lookup(&pt, addrs[i].va) == p[i] &&
		   pte_pfn(*p[i]) == 100 + i,
		   "pte_lookup(%#llx) finds the pte with its frame",
		   (unsigned long long)addrs[i].va);
	}
	ok(pte_lookup(&pt, 0x5000) == p[0] + 5 && pte_none(*(p[0] + 5)),
	   "an untouched pte of an existing table: found, none");
	ok(!pte_lookup(&pt, 0x400000), "a pte of a missing table: NULL");
	ok(!pte_lookup(&pt, 0x80000000ULL), "a missing pmd: NULL");
	ok(!pte_lookup(&pt, 0x10000000000ULL), "a missing pud: NULL");
	ok(pte_lookup(&pt, 0x40000000 + 511 * PG) == p[3] + 511,
	   "the last pte of a table");
	for (i = 0; i < 6; i++)
		*p[i] = 0;
	pgtable_destroy(&pt);
	is(pt.nr_tables, 0, "pgtable_destroy frees every table");
	ok(pt.pgd == NULL, "and the pgd");
}

struct chunk {
	pte_t *ptes;
	uint64_t va;
	unsigned int nr;
};

struct walk_log {
	struct chunk c[16];
	unsigned int n;
	int stop_at;		/* return 99 from this call (1-based) */
	bool bad;		/* a pte not what pte_lookup gives */
	struct pgtable *pt;
};

static int log_chunk(pte_t *ptes, uint64_t va, unsigned int nr, void *arg)
{
	struct walk_log *w = arg;
	unsigned int i;

	if (w->n < 16)
		w->c[w->n] = (struct chunk){ ptes, va, nr };
	w->n++;
	for (i = 0; i < nr; i++)
		if (pte_lookup(w->pt, va + i * PG) != &ptes[i])
			w->bad = true;
	return (int)w->n == w->stop_at ? 99 : 0;
}

static int is_chunk(struct walk_log *w, unsigned int i, uint64_t va,
		    unsigned int nr)
{
	if (i < w->n && w->c[i].va == va && w->c[i].nr == nr)
		return 1;
	if (i < w->n)
		diag("chunk %u: va %#llx nr %u", i,
		     (unsigned long long)w->c[i].va, w->c[i].nr);
	return 0;
}

static void test_walk(void)
{
	struct pgtable pt;
	struct walk_log w;
	uint64_t a = 2 * PMD_SIZE - 3 * PG;	/* 3 pages before a table end */
	unsigned int i;

	if (pgtable_init(&pt))
		BAIL_OUT("pgtable_init");

	memset(&w, 0, sizeof(w));
	w.pt = &pt;
	is(pgtable_walk(&pt, a, a + 8 * PG, false, log_chunk, &w), 0,
	   "walk without alloc over nothing: 0");
	is(w.n, 0, "no calls");
	is(pt.nr_tables, 1, "no tables made");
	is(pgtable_walk(&pt, a, a, true, log_chunk, &w), 0, "empty range: 0");
	is(w.n, 0, "no calls, even with alloc");

	/* 3 pages in one pte table, 5 in the next. */
	is(pgtable_walk(&pt, a, a + 8 * PG, true, log_chunk, &w), 0,
	   "walk with alloc");
	is(w.n, 2, "two chunks");
	ok(is_chunk(&w, 0, a, 3), "3 ptes up to the end of the first table");
	ok(is_chunk(&w, 1, 2 * PMD_SIZE, 5), "5 ptes of the next");
	ok(!w.bad, "each chunk holds exactly the ptes of its addresses");
	is(pt.nr_tables, 5, "pgd, pud, pmd and two pte tables");

	/* Mark the 8 ptes and check the walk hands out those very ptes. */
	for (i = 0; i < 8; i++)
		*pte_lookup(&pt, a + i * PG) = pte_mk(50 + i, 0);
	memset(&w, 0, sizeof(w));
	w.pt = &pt;
	is(pgtable_walk(&pt, a + PG, a + 7 * PG, false, log_chunk, &w), 0,
	   "walk the middle 6");
	ok(is_chunk(&w, 0, a + PG, 2) && is_chunk(&w, 1, 2 * PMD_SIZE, 4),
	   "2 + 4 ptes");
	ok(w.n == 2 && pte_pfn(w.c[0].ptes[0]) == 51 &&
	   pte_pfn(w.c[1].ptes[3]) == 56, "the ptes hold frames 51 .. 56");

	/* A range across a missing pte table, a missing pmd and pud. */
	memset(&w, 0, sizeof(w));
	w.pt = &pt;
	is(pgtable_walk(&pt, 0, PGD_SIZE + PG, false, log_chunk, &w), 0,
	   "walk [0, 512 GiB + 1 page) without alloc");
	ok(w.n == 2 && is_chunk(&w, 0, PMD_SIZE, 512) &&
	   is_chunk(&w, 1, 2 * PMD_SIZE, 512),
	   "only the two tables that exist, whole: 2 chunks of 512");
	ok(!w.bad, "with the right ptes");
	is(pt.nr_tables, 5, "and nothing allocated");

	/* Across a pgd boundary, with alloc. */
	memset(&w, 0, sizeof(w));
	w.pt = &pt;
	is(pgtable_walk(&pt, PGD_SIZE - 2 * PG, PGD_SIZE + PG, true, log_chunk,
			&w), 0, "walk across a pgd slot with alloc");
	ok(w.n == 2 && is_chunk(&w, 0, PGD_SIZE - 2 * PG, 2) &&
	   is_chunk(&w, 1, PGD_SIZE, 1), "2 + 1 ptes");
	is(pt.nr_tables, 10, "2 + 3 new tables");
	/* Up to the top of the address space. */
	memset(&w, 0, sizeof(w));
	w.pt = &pt;
	is(pgtable_walk(&pt, TOP - PG, TOP, true, log_chunk, &w), 0,
	   "walk the last page of the address space");
	ok(w.n == 1 && is_chunk(&w, 0, TOP - PG, 1), "one chunk of 1");
	is(pt.nr_tables, 13, "3 new tables");

	/* A non-zero return stops the walk. */
	memset(&w, 0, sizeof(w));
	w.pt = &pt;
	w.stop_at = 1;
	is(pgtable_walk(&pt, a, a + 8 * PG, false, log_chunk, &w), 99,
	   "fn's non-zero return is returned");
	is(w.n, 1, "and stops the walk after the first chunk");

	for (i = 0; i < 8; i++)
		*pte_lookup(&pt, a + i * PG) = 0;
	pgtable_free_range(&pt, 0, TOP, 0, TOP);
	is(pt.nr_tables, 1, "free_range of everything: the pgd left");
	pgtable_destroy(&pt);
	is(pt.nr_tables, 0, "destroyed");
}

static void test_free_range(void)
{
	const uint64_t a = 0x40000000;	/* first pte of a fresh pmd */
	const uint64_t b = a + PMD_SIZE;	/* the next pte table */
	struct pgtable pt;

	if (pgtable_init(&pt))
		BAIL_OUT("pgtable_init");
	*pte_alloc(&pt, a) = pte_mk(1, 0);
	*pte_alloc(&pt, a + PG) = pte_mk(2, 0);
	*pte_alloc(&pt, b) = pte_mk(3, 0);
	is(pt.nr_tables, 5, "pgd, pud, pmd, two pte tables");

	/* The neighbour at a + PG shares the pte table: keep it. */
	*pte_lookup(&pt, a) = 0;
	pgtable_free_range(&pt, a, a + PG, 0, a + PG);
	is(pt.nr_tables, 5, "emptied a, neighbour above at a + PG: kept");
	ok(pte_lookup(&pt, a + PG) && pte_pfn(*pte_lookup(&pt, a + PG)) == 2,
	   "the neighbour's pte is intact");

	/* A neighbour below, ending at a: its table is [a - ...) no more. */
	*pte_lookup(&pt, a + PG) = 0;
	pgtable_free_range(&pt, a + PG, a + 2 * PG, a + PG, TOP);
	is(pt.nr_tables, 5, "floor inside the pte table: kept");
	pgtable_free_range(&pt, a + PG, a + 2 * PG, a, b);
	is(pt.nr_tables, 4, "floor and ceiling at its edges: the pte table "
	   "is freed");
	ok(!pte_lookup(&pt, a), "its ptes are gone");
	ok(pte_lookup(&pt, b) && pte_pfn(*pte_lookup(&pt, b)) == 3,
	   "the other pte table of the pmd stays, with its pte");

	/* The pmd still maps b: with no bounds it is kept while not empty. */
	pgtable_free_range(&pt, a, b, 0, TOP);
	is(pt.nr_tables, 4, "nothing more to free under [a, b)");
	*pte_lookup(&pt, b) = 0;
	pgtable_free_range(&pt, b, b + PG, 0, b + PMD_SIZE);
	is(pt.nr_tables, 3, "ceiling at the end of b's table: it goes, the "
	   "pmd (up to 2 GiB) stays");
	pgtable_free_range(&pt, b, b + PG, PUD_SIZE, 2 * PUD_SIZE);
	is(pt.nr_tables, 2, "bounds around the pmd: the pmd goes, the pud "
	   "stays");
	pgtable_free_range(&pt, b, b + PG, 0, TOP);
	is(pt.nr_tables, 1, "no bounds: the pud goes too");
	ok(!pte_lookup(&pt, b), "nothing left to look up");
	pgtable_free_range(&pt, 0, TOP, 0, TOP);
	is(pt.nr_tables, 1, "freeing an empty table: the pgd stays");
	pgtable_destroy(&pt);
}

/* ---- tlb_update_range against the record backend ---- */

static unsigned int nr_recorded(struct host_as *as)
{
	unsigned int nr;

	host_as_recorded(as, &nr);
	return nr;
}

static int is_op(struct host_as *as, unsigned int i, int kind, uint64_t va,
		 uint64_t len, uint64_t off, int prot, int flags)
{
	unsigned int nr;
	const struct host_op *op = host_as_recorded(as, &nr);

	if (i >= nr) {
		diag("op %u: only %u recorded", i, nr);
		return 0;
	}
	op += i;
	if (op->kind == kind && op->va == va && op->len == len &&
	    op->off == off && op->prot == prot && op->flags == flags)
		return 1;
	diag("op %u: kind %d va %#llx len %#llx off %#llx prot %d flags %d",
	     i, op->kind, (unsigned long long)op->va,
	     (unsigned long long)op->len, (unsigned long long)op->off,
	     op->prot, op->flags);
	return 0;
}

/* Set @nr ptes from @va to frames pfns[i] with @bits, allocating tables. */
static void set_ptes(struct pgtable *pt, uint64_t va, const uint32_t *pfns,
		     unsigned int nr, pte_t bits)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		pte_t *p = pte_alloc(pt, va + i * PG);

		if (!p)
			BAIL_OUT("pte_alloc");
		*p = pte_mk(pfns[i], bits);
	}
}

static void clear_ptes(struct pgtable *pt, uint64_t va, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		pte_t *p = pte_lookup(pt, va + i * PG);

		if (p)
			*p = 0;
	}
}

static void update(struct pgtable *pt, struct host_as *as, uint64_t start,
		   uint64_t end, unsigned int flags)
{
	host_as_clear_record(as);
	tlb_update_range(pt, as, start, end, flags);
	tlb_sync(pt, as);
}

static void test_tlb(void)
{
	const int rw = PROT_READ | PROT_WRITE;
	const pte_t rwad = pte_prot_bits(rw) | _PAGE_ACCESSED | _PAGE_DIRTY;
	const uint64_t va = 0x10000;
	struct host_as *as = host_as_new_record(phys, TOP);
	uint32_t pfns[8], p[8];
	struct pgtable pt;
	unsigned int i, nr;
	uint64_t off;
	bool bad;

	if (!as || pgtable_init(&pt))
		BAIL_OUT("setup: %s", strerror(errno));
	if (phys_alloc(phys, 0, 8, pfns) != 8)
		BAIL_OUT("phys_alloc");
	for (bad = false, i = 1; i < 8; i++)
		bad |= pfns[i] != pfns[0] + i;
	ok(!bad, "8 contiguous frames from %u", pfns[0]);
	off = (uint64_t)pfns[0] << PAGE_SHIFT;

	/* 8 ptes, contiguous frames, accessed+dirty+RW, new: one MAP. */
	set_ptes(&pt, va, pfns, 8, rwad);
	host_as_clear_record(as);
	tlb_update_range(&pt, as, va, va + 8 * PG, 0);
	is(nr_recorded(as), 0, "nothing carried out before the sync");
	host_as_flush(as);
	is(nr_recorded(as), 1, "8 contiguous pages: exactly one op");
	ok(is_op(as, 0, HOST_OP_MAP, va, 8 * PG, off, rw, 0),
	   "MAP va %#llx, 8 pages, at the first frame, read-write",
	   (unsigned long long)va);
	for (bad = false, i = 0; i < 8; i++)
		bad |= *pte_lookup(&pt, va + i * PG) !=
		       ((pte_mk(pfns[i], rwad) & ~_PAGE_CHG_BITS) | _PAGE_HOST);
	ok(!bad, "the marks are cleared, _PAGE_HOST set, nothing else "
	   "changed");
	update(&pt, as, va, va + 8 * PG, 0);
	is(nr_recorded(as), 0, "a second update queues nothing");

	/* The same across a pte table boundary still merges. */
	set_ptes(&pt, PMD_SIZE - 4 * PG, pfns, 8, rwad);
	update(&pt, as, PMD_SIZE - 4 * PG, PMD_SIZE + 4 * PG, 0);
	is(nr_recorded(as), 1, "across a pte table boundary: one op");
	ok(is_op(as, 0, HOST_OP_MAP, PMD_SIZE - 4 * PG, 8 * PG, off, rw, 0),
	   "MAP of 8 pages");
	clear_ptes(&pt, PMD_SIZE - 4 * PG, 8);

	/* Only the range asked for. */
	set_ptes(&pt, va, pfns, 8, rwad);
	update(&pt, as, va + 2 * PG, va + 4 * PG, 0);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_MAP, va + 2 * PG, 2 * PG, off + 2 * PG, rw, 0),
	   "a sub-range: only its 2 pages");
	ok(pte_changed(*pte_lookup(&pt, va + PG)) &&
	   pte_changed(*pte_lookup(&pt, va + 4 * PG)),
	   "the ptes outside keep their marks");
	update(&pt, as, va, va + 8 * PG, 0);
	ok(nr_recorded(as) == 2 &&
	   is_op(as, 0, HOST_OP_MAP, va, 2 * PG, off, rw, 0) &&
	   is_op(as, 1, HOST_OP_MAP, va + 4 * PG, 4 * PG, off + 4 * PG, rw, 0),
	   "and go out on the next update: 2 ops around the gap");

	/* Frames not contiguous: one op per run. */
	p[0] = pfns[0];
	p[1] = pfns[1];
	p[2] = pfns[5];
	p[3] = pfns[6];
	p[4] = pfns[2];
	p[5] = pfns[2];
	p[6] = pfns[3];
	p[7] = pfns[4];
	set_ptes(&pt, va, p, 8, rwad);
	update(&pt, as, va, va + 8 * PG, 0);
	is(nr_recorded(as), 4, "frames 0 1 5 6 2 2 3 4: 4 runs");
	ok(is_op(as, 0, HOST_OP_MAP, va, 2 * PG, off, rw, 0) &&
	   is_op(as, 1, HOST_OP_MAP, va + 2 * PG, 2 * PG, off + 5 * PG, rw, 0) &&
	   is_op(as, 2, HOST_OP_MAP, va + 4 * PG, PG, off + 2 * PG, rw, 0) &&
	   is_op(as, 3, HOST_OP_MAP, va + 5 * PG, 3 * PG, off + 2 * PG, rw, 0),
	   "MAP 0-1, MAP 5-6, MAP 2, MAP 2-4");

	/* Protections differ: a clean page maps read-only; exec without NX. */
	set_ptes(&pt, va, pfns, 8, rwad);
	*pte_lookup(&pt, va + 3 * PG) &= ~_PAGE_DIRTY;
	*pte_lookup(&pt, va + 4 * PG) &= ~_PAGE_NX;
	update(&pt, as, va, va + 8 * PG, 0);
	is(nr_recorded(as), 4, "a clean page and an exec page split the run");
	ok(is_op(as, 0, HOST_OP_MAP, va, 3 * PG, off, rw, 0) &&
	   is_op(as, 1, HOST_OP_MAP, va + 3 * PG, PG, off + 3 * PG,
		 PROT_READ, 0) &&
	   is_op(as, 2, HOST_OP_MAP, va + 4 * PG, PG, off + 4 * PG,
		 rw | PROT_EXEC, 0) &&
	   is_op(as, 3, HOST_OP_MAP, va + 5 * PG, 3 * PG, off + 5 * PG, rw, 0),
	   "MAP rw, MAP r (clean), MAP rwx (no NX), MAP rw");

	/* NEWPROT only: the first write makes it writable on the host. */
	*pte_lookup(&pt, va + 3 * PG) = pte_mkdirty(*pte_lookup(&pt,
							va + 3 * PG));
	update(&pt, as, va, va + 8 * PG, 0);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_PROTECT, va + 3 * PG, PG, 0, rw, 0),
	   "pte_mkdirty of the clean page the host holds: one PROTECT, "
	   "read-write now");

	/* Write-protect all 8, as fork does: one PROTECT for the run. */
	for (i = 0; i < 8; i++) {
		pte_t *q = pte_lookup(&pt, va + i * PG);

		*q = pte_wrprotect(*q);
	}
	update(&pt, as, va, va + 8 * PG, 0);
	ok(nr_recorded(as) == 3 &&
	   is_op(as, 0, HOST_OP_PROTECT, va, 4 * PG, 0, PROT_READ, 0) &&
	   is_op(as, 1, HOST_OP_PROTECT, va + 4 * PG, PG, 0,
		 PROT_READ | PROT_EXEC, 0) &&
	   is_op(as, 2, HOST_OP_PROTECT, va + 5 * PG, 3 * PG, 0, PROT_READ,
		 0) &&
	   host_as_recorded(as, &nr)[0].gen == host_as_gen(as),
	   "8 write-protected ptes: PROTECT r (4 pages, generation %u), r-x "
	   "(the exec page), r (3 pages)",
	   host_as_gen(as));

	/* The fault path asks for a filled host: a MAP, not a PROTECT. */
	*pte_lookup(&pt, va) = pte_mkwrite(*pte_lookup(&pt, va));
	update(&pt, as, va, va + PG, TLB_POPULATE);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_MAP, va, PG, off, rw, HOST_OP_POPULATE),
	   "NEWPROT on the fault path: MAP with POPULATE");

	/* After a reset, _PAGE_HOST is not trusted: a MAP again. */
	pt.host_gen = host_as_gen(as) - 1;
	*pte_lookup(&pt, va + PG) = pte_mkwrite(*pte_lookup(&pt, va + PG));
	update(&pt, as, va, va + 8 * PG, 0);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_MAP, va + PG, PG, off + PG, rw, 0),
	   "NEWPROT at another reset generation: MAP");
	ok(pt.host_gen == host_as_gen(as) &&
	   !(*pte_lookup(&pt, va + 7 * PG) & _PAGE_HOST) &&
	   (*pte_lookup(&pt, va + PG) & _PAGE_HOST),
	   "the other ptes forgot _PAGE_HOST; the one mapped again has it");

	/* Present but not accessed: the host must not map it. */
	set_ptes(&pt, va, pfns, 8, pte_prot_bits(rw));
	update(&pt, as, va, va + 8 * PG, 0);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_UNMAP, va, 8 * PG, 0, 0, 0),
	   "8 present ptes, not accessed: one UNMAP");

	/* pte_modify to PROTNONE: UNMAP, frame kept in the pte. */
	set_ptes(&pt, va, pfns, 8, rwad);
	update(&pt, as, va, va + 8 * PG, 0);
	for (i = 2; i < 4; i++) {
		pte_t *q = pte_lookup(&pt, va + i * PG);

		*q = pte_modify(*q, _PAGE_PROTNONE);
	}
	update(&pt, as, va, va + 8 * PG, 0);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_UNMAP, va + 2 * PG, 2 * PG, 0, 0, 0),
	   "PROTNONE ptes: UNMAP of those 2 pages");
	ok(pte_pfn(*pte_lookup(&pt, va + 2 * PG)) == pfns[2] &&
	   !pte_changed(*pte_lookup(&pt, va + 2 * PG)),
	   "the pte keeps its frame, marks cleared");
	set_ptes(&pt, va, pfns, 1, _PAGE_PROTNONE | _PAGE_ACCESSED);
	update(&pt, as, va, va + PG, 0);
	ok(nr_recorded(as) == 1 && is_op(as, 0, HOST_OP_UNMAP, va, PG, 0, 0, 0),
	   "a new PROTNONE pte, accessed: UNMAP");

	/* The zero page: anonymous zeros, never writable. */
	for (i = 0; i < 8; i++)
		p[i] = PHYS_ZERO_PFN;
	set_ptes(&pt, va, p, 4, pte_prot_bits(PROT_READ) | _PAGE_SPECIAL |
				       _PAGE_ACCESSED);
	set_ptes(&pt, va + 4 * PG, p, 4, rwad | _PAGE_SPECIAL);
	update(&pt, as, va, va + 8 * PG, 0);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_MAP_ZERO, va, 8 * PG, 0, PROT_READ, 0),
	   "8 zero-page ptes (4 of them RW+dirty): one MAP_ZERO, read-only");

	/* TLB_POPULATE. */
	set_ptes(&pt, va, pfns, 4, rwad);
	set_ptes(&pt, va + 4 * PG, p, 4, rwad | _PAGE_SPECIAL);
	update(&pt, as, va, va + 8 * PG, TLB_POPULATE);
	ok(nr_recorded(as) == 2 &&
	   is_op(as, 0, HOST_OP_MAP, va, 4 * PG, off, rw, HOST_OP_POPULATE) &&
	   is_op(as, 1, HOST_OP_MAP_ZERO, va + 4 * PG, 4 * PG, 0, PROT_READ,
		 HOST_OP_POPULATE),
	   "TLB_POPULATE sets HOST_OP_POPULATE on MAP and MAP_ZERO");
	set_ptes(&pt, va, pfns, 1, pte_prot_bits(rw));
	update(&pt, as, va, va + PG, TLB_POPULATE);
	ok(nr_recorded(as) == 1 && is_op(as, 0, HOST_OP_UNMAP, va, PG, 0, 0, 0),
	   "but not on UNMAP");

	/* tlb_zap_range. */
	host_as_clear_record(as);
	tlb_zap_range(&pt, as, va, va + 8 * PG);
	tlb_zap_range(&pt, as, va + 8 * PG, va + 8 * PG);
	tlb_sync(&pt, as);
	ok(nr_recorded(as) == 1 &&
	   is_op(as, 0, HOST_OP_UNMAP, va, 8 * PG, 0, 0, 0),
	   "tlb_zap_range: one UNMAP; an empty range: nothing");

	/* A range with no tables at all queues nothing, allocates nothing. */
	i = (unsigned int)pt.nr_tables;
	update(&pt, as, 0x7000000000ULL, 0x7000000000ULL + 64 * PG, 0);
	is(nr_recorded(as), 0, "update of a range without tables: nothing");
	is(pt.nr_tables, i, "and no tables made");

	clear_ptes(&pt, va, 8);
	pgtable_free_range(&pt, 0, TOP, 0, TOP);
	is(pt.nr_tables, 1, "all tables freed");
	pgtable_destroy(&pt);
	host_as_free(as);
	phys_put_many(phys, pfns, 8);
}

int main(void)
{
	phys = phys_new(256 * PG);
	if (!phys)
		BAIL_OUT("phys_new: %s", strerror(errno));
	test_pte_helpers();
	test_alloc_lookup();
	test_walk();
	test_free_range();
	test_tlb();
	is(phys_nr_free(phys), phys_nr_frames(phys),
	   "every frame of physical memory is free again");
	phys_free(phys);
	return done_testing();
}
