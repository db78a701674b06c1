// SPDX-License-Identifier: MIT
/*
 * fork and copy-on-write, with GUP references and pins (Linux 5.19+
 * semantics: anon-exclusive pages, FAULT_FLAG_UNSHARE for read-only pins,
 * pinned pages copied at fork).
 *
 * The heart is a matrix in the spirit of Linux's selftests/mm/cow.c: for
 * anonymous memory in each state (fresh, zero page, written, shared with a
 * child, in the child, alone again after the child exited, after an
 * mprotect round trip, MADV_DONTFORK), take each kind of pin (R/O, R/W,
 * with and without FOLL_LONGTERM, and plain FOLL_GET references as the
 * control) on a few pages, then write through the guest, fork, write in
 * parent and child, and check after each step that the pin sees what the
 * pinning guest sees, that no mm sees another's private writes, and that
 * the page counts are what they must be. Around it: MADV_DONTFORK and
 * UMM_MAP_DONTFORK, MADV_WIPEONFORK and MAP_DROPPABLE, shared anonymous
 * and shmem memory, private file mappings, many vmas, fork chains, the
 * zero page, the reuse path, the write protection of the parent's host
 * mappings (and mprotect after fork), what fork copies besides vmas,
 * FOLL_FORCE after fork (into PROT_NONE memory too), and fork running out
 * of frames.
 *
 * The fault counts checked (umm_mm_stats) follow umm's COW fault-around:
 * a write fault on a shared page copies every shared page of its block,
 * so copies are counted in pages (fault_cow + pages_faulted_around).
 * Where the sharing itself is under test, fault-around is set to 1.
 *
 * Guest memory is only touched through the window inside umm_guest_call;
 * the kernel's view of a page is umm_page_addr of a reference to it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

#define TASK_SIZE (1ULL << 32)
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define ANY (-1)

static struct umm_phys *phys;

/* ---- page contents ---- */

/*
 * What a page holds after a write with @seed: a pattern that differs for
 * every seed and every @key (by default the page's guest page number, for
 * file pages their file offset), so a page that lands in the wrong place
 * or the wrong mm shows. Seed 0 is the zero page.
 */
static void pattern(uint8_t *buf, uint64_t key, unsigned int seed)
{
	unsigned int j;

	if (!seed) {
		memset(buf, 0, PG);
		return;
	}
	for (j = 0; j < PG; j++)
		buf[j] = (uint8_t)(seed * 0x9d + key * 0x3b + j * 7 + (j >> 8));
}

static bool page_holds(const uint8_t *p, uint64_t key, unsigned int seed)
{
	uint8_t want[PG];

	pattern(want, key, seed);
	return !memcmp(p, want, PG);
}

struct xfer {
	volatile uint64_t *g;
	uint64_t *buf;
	size_t words;
	int write;
};

static void do_xfer(void *arg)
{
	struct xfer *x = arg;
	size_t i;

	for (i = 0; i < x->words; i++) {
		if (x->write)
			x->g[i] = x->buf[i];
		else
			x->buf[i] = x->g[i];
	}
}

/* Copy @nr pages between @buf and @mm's guest at @va: 0 or the signal. */
static int guest_xfer(struct umm_mm *mm, uint64_t va, void *buf,
		      unsigned int nr, int write, siginfo_t *si)
{
	struct xfer x = { umm_host_addr(mm, va), buf, nr * PG / 8, write };
	siginfo_t dummy;

	return umm_guest_call(mm, do_xfer, &x, si ? si : &dummy);
}

/* The guest of @mm writes @seed's pattern to @nr pages from @va. */
static int gfillk(struct umm_mm *mm, uint64_t va, unsigned int nr,
		  uint64_t key, unsigned int seed)
{
	uint8_t *buf = malloc(nr * PG);
	unsigned int i;
	int sig;

	for (i = 0; i < nr; i++)
		pattern(buf + i * PG, key + i, seed);
	sig = guest_xfer(mm, va, buf, nr, 1, NULL);
	free(buf);
	return sig;
}

static int gfill(struct umm_mm *mm, uint64_t va, unsigned int nr,
		 unsigned int seed)
{
	return gfillk(mm, va, nr, va / PG, seed);
}

/*
 * Pages of [va, va + nr pages) whose contents, read by @mm's guest, are
 * not seeds[i]'s pattern (seeds NULL: @seed for all); -signal if a read
 * faulted.
 */
static int gcheck_model(struct umm_mm *mm, uint64_t va, unsigned int nr,
			uint64_t key, const unsigned int *seeds,
			unsigned int seed)
{
	uint8_t *buf = malloc(nr * PG);
	unsigned int i;
	int sig, bad = 0;

	sig = guest_xfer(mm, va, buf, nr, 0, NULL);
	for (i = 0; !sig && i < nr; i++) {
		unsigned int s = seeds ? seeds[i] : seed;

		if (!page_holds(buf + i * PG, key + i, s)) {
			if (!bad)
				diag("page %#llx: not seed %u's contents",
				     (unsigned long long)(va + i * PG), s);
			bad++;
		}
	}
	free(buf);
	return sig ? -sig : bad;
}

static int gcheckk(struct umm_mm *mm, uint64_t va, unsigned int nr,
		   uint64_t key, unsigned int seed)
{
	return gcheck_model(mm, va, nr, key, NULL, seed);
}

static int gcheck(struct umm_mm *mm, uint64_t va, unsigned int nr,
		  unsigned int seed)
{
	return gcheck_model(mm, va, nr, va / PG, NULL, seed);
}

/* ---- what the kernel sees through references ---- */

/* Pages of @pg (got at @va on) not holding @seed's pattern. */
static int pin_check(struct umm_page **pg, unsigned int nr, uint64_t va,
		     unsigned int seed)
{
	unsigned int i;
	int bad = 0;

	for (i = 0; i < nr; i++)
		bad += !page_holds(umm_page_addr(pg[i]), va / PG + i, seed);
	return bad;
}

/* Pages where the pin and @mm's guest at @va disagree; -signal. */
static int pin_coherent(struct umm_mm *mm, uint64_t va, struct umm_page **pg,
			unsigned int nr)
{
	uint8_t *buf = malloc(nr * PG);
	unsigned int i;
	int sig, bad = 0;

	sig = guest_xfer(mm, va, buf, nr, 0, NULL);
	for (i = 0; !sig && i < nr; i++)
		bad += !!memcmp(buf + i * PG, umm_page_addr(pg[i]), PG);
	free(buf);
	return sig ? -sig : bad;
}

/* The kernel writes @seed's pattern through @pg (got at @va on). */
static void pin_write(struct umm_page **pg, unsigned int nr, uint64_t va,
		      unsigned int seed)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		pattern(umm_page_addr(pg[i]), va / PG + i, seed);
}

/* ---- page state ---- */

static bool state_is(const struct umm_page_state *st, int ref, int map,
		     int pin, int excl)
{
	if ((ref == ANY || st->refcount == (uint32_t)ref) &&
	    (map == ANY || st->mapcount == (uint32_t)map) &&
	    (pin == ANY || st->pincount == (uint32_t)pin) &&
	    (excl == ANY || st->anon_exclusive == !!excl) && !st->zero_page)
		return true;
	diag("pfn %u: refcount %u mapcount %u pincount %u anon %d "
	     "exclusive %d zero %d; want %d %d %d %d", st->pfn, st->refcount,
	     st->mapcount, st->pincount, st->anon, st->anon_exclusive,
	     st->zero_page, ref, map, pin, excl);
	return false;
}

/* Each of @pg has these counts (ANY: any) and is anonymous. */
static bool pages_are(struct umm_page **pg, unsigned int nr, int ref,
		      int map, int pin, int excl)
{
	struct umm_page_state st;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		umm_page_state(pg[i], &st);
		if (!st.anon && !st.zero_page) {
			diag("pfn %u is not anonymous", st.pfn);
			return false;
		}
		if (!state_is(&st, ref, map, pin, excl))
			return false;
	}
	return true;
}

static bool pages_zero(struct umm_page **pg, unsigned int nr)
{
	struct umm_page_state st;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		umm_page_state(pg[i], &st);
		if (!st.zero_page)
			return false;
	}
	return true;
}

static uint32_t page_pfn(struct umm_page *pg)
{
	struct umm_page_state st;

	umm_page_state(pg, &st);
	return st.pfn;
}

/*
 * The state of the page @mm maps at @va (present: a read-only FOLL_GET
 * faults nothing in; forced, to see PROT_NONE pages too), its refcount
 * without our passing reference.
 */
static int va_state(struct umm_mm *mm, uint64_t va,
		    struct umm_page_state *st)
{
	struct umm_page *p;

	memset(st, 0, sizeof(*st));
	if (umm_gup(mm, va, 1, UMM_FOLL_GET | UMM_FOLL_FORCE, &p) != 1)
		return -1;
	umm_page_state(p, st);
	if (!st->zero_page)
		st->refcount--;
	umm_put_page(p);
	return 0;
}

static bool va_is(struct umm_mm *mm, uint64_t va, int ref, int map, int pin,
		  int excl)
{
	struct umm_page_state st;

	return !va_state(mm, va, &st) && state_is(&st, ref, map, pin, excl);
}

static bool va_zero(struct umm_mm *mm, uint64_t va)
{
	struct umm_page_state st;

	return !va_state(mm, va, &st) && st.zero_page;
}

static uint32_t va_pfn(struct umm_mm *mm, uint64_t va)
{
	struct umm_page_state st;

	return va_state(mm, va, &st) ? 0 : st.pfn;
}

/* ---- fault counts ---- */

struct counts {
	uint64_t cow, reuse, copied, anon, anon_zero, faults;
};

static void counts(struct umm_mm *mm, struct counts *c)
{
	struct umm_stats s;

	umm_mm_stats(mm, &s);
	c->cow = s.fault_cow;
	c->reuse = s.fault_wp_reuse;
	/*
	 * Pages copied: a COW fault copies the shared pages of its
	 * fault-around block at once (and counts the others as faulted
	 * around), so count pages, not faults, where only COW faults ran.
	 */
	c->copied = s.fault_cow + s.pages_faulted_around;
	c->anon = s.fault_anon;
	c->anon_zero = s.fault_anon_zero;
	c->faults = s.fault_anon_zero + s.fault_anon + s.fault_file +
		    s.fault_cow + s.fault_wp_reuse + s.fault_dirty +
		    s.fault_young + s.fault_host_miss + s.fault_sigsegv +
		    s.fault_sigbus;
}

#define DELTA(after, before, f) ((long long)((after).f - (before).f))

static struct umm_mm *new_mm(void)
{
	struct umm_mm *mm = umm_mm_new(phys, TASK_SIZE);

	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	return mm;
}

static uint64_t map_anon(struct umm_mm *mm, unsigned int nr, int flags)
{
	long a = umm_mmap(mm, 0, nr * PG, RW, flags, NULL, 0);

	if (a < 0)
		BAIL_OUT("umm_mmap: %s", strerror((int)-a));
	return (uint64_t)a;
}

/* Is @va inside a vma of @mm, by its maps? */
static bool maps_has(struct umm_mm *mm, uint64_t va)
{
	char *text = NULL, *line;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	bool found = false;

	if (!f || umm_maps(mm, f)) {
		if (f)
			fclose(f);
		free(text);
		return false;
	}
	fclose(f);
	for (line = text; line && *line; line = strchr(line, '\n')) {
		unsigned long long s, e;

		if (*line == '\n')
			line++;
		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && s <= va &&
		    va < e)
			found = true;
	}
	free(text);
	return found;
}

static char *maps_text(struct umm_mm *mm)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (f) {
		umm_maps(mm, f);
		fclose(f);
	}
	return text;
}

/* ---- the smoke test this file started as ---- */

static void test_smoke(void)
{
	struct umm_mm *p = new_mm(), *c, *c2;
	long a = umm_mmap(p, 0, 64 * PG, RW, ANON, NULL, 0);
	struct umm_page *pg[4];
	struct umm_page_state st;
	uint8_t v = 0;
	long n;

	is(guest_fill(p, (uint64_t)a, 64 * PG, 1), 0, "parent fills 64 pages");
	c = umm_fork(p);
	ok(c != NULL, "fork");
	is(guest_check(c, (uint64_t)a, 64 * PG, 1), 0, "the child sees them");
	is(guest_write(c, (uint64_t)a, 0x77), 0, "the child writes");
	guest_read(p, (uint64_t)a, &v);
	is(v, 1, "the parent does not see it");
	is(guest_write(p, (uint64_t)a + PG, 0x55), 0, "the parent writes");
	guest_read(c, (uint64_t)a + PG, &v);
	is(v, 32, "the child does not see it");
	n = umm_gup(p, (uint64_t)a + 2 * PG, 4, UMM_FOLL_PIN, pg);
	is(n, 4, "pin 4 pages R/O (unsharing them)");
	umm_page_state(pg[0], &st);
	ok(st.anon_exclusive && st.pincount == 1 && st.mapcount == 1,
	   "pinned page: exclusive, pinned once, mapped once");
	c2 = umm_fork(p);
	is(guest_write(p, (uint64_t)a + 2 * PG, 0x99), 0,
	   "the parent writes a pinned page after another fork");
	is(((uint8_t *)umm_page_addr(pg[0]))[0], 0x99, "the pin sees it");
	guest_read(c2, (uint64_t)a + 2 * PG, &v);
	is(v, 63, "the second child got a copy at fork");
	umm_unpin(pg, n, false);
	is(umm_gup_unpin_bugs(), 0, "no pin lost sight of its page");
	check_mm_coherent(p);
	check_mm_coherent(c);
	check_mm_coherent(c2);
	umm_mm_put(c);
	umm_mm_put(c2);
	umm_mm_put(p);
	check_frames_free(phys);
}

/* ---- the matrix: memory state x kind of pin ---- */

enum mem_state {
	S_FRESH,	/* never touched */
	S_ZERO,		/* read: the zero page */
	S_WRITTEN,	/* written: exclusive */
	S_FORK_PARENT,	/* written, then forked: the parent's view */
	S_FORK_CHILD,	/* the same, the child's view */
	S_CHILD_EXITED,	/* forked, the child gone: alone, not exclusive */
	S_MPROTECT,	/* written, PROT_READ, back to read-write */
	S_DONTFORK,	/* written, MADV_DONTFORK, forked */
	NR_STATES
};

static const char *const state_name[NR_STATES] = {
	"fresh", "zero page", "written", "after fork (parent)",
	"after fork (child)", "after the child exited",
	"after mprotect R/O and back", "MADV_DONTFORK and fork",
};

static const struct pin_kind {
	const char *name;
	unsigned int flags;
} pin_kinds[] = {
	{ "R/O pin", UMM_FOLL_PIN },
	{ "R/O longterm pin", UMM_FOLL_PIN | UMM_FOLL_LONGTERM },
	{ "R/W pin", UMM_FOLL_PIN | UMM_FOLL_WRITE },
	{ "R/W longterm pin",
	  UMM_FOLL_PIN | UMM_FOLL_WRITE | UMM_FOLL_LONGTERM },
	{ "R/O get (control)", UMM_FOLL_GET },
	{ "R/W get (control)", UMM_FOLL_GET | UMM_FOLL_WRITE },
};

#define NP	8	/* pages of the region */
#define PIN0	2	/* the first page pinned */
#define NPIN	3	/* pages pinned */

static void set_seeds(unsigned int *seeds, unsigned int from,
		      unsigned int nr, unsigned int seed)
{
	while (nr--)
		seeds[from++] = seed;
}

/*
 * Bring the region [a, a + NP pages) of @m into @s. Returns the mm the
 * pin is to be taken in (the child for S_FORK_CHILD), sets *other to an
 * mm that shares the pages, if one is kept, and the seeds each sees.
 */
static struct umm_mm *set_state(struct umm_mm *m, uint64_t a,
				enum mem_state s, struct umm_mm **other,
				unsigned int *pseed, const char *name)
{
	struct umm_mm *k;
	siginfo_t si;
	uint8_t v = 0;
	bool good = true;

	*other = NULL;
	*pseed = s == S_FRESH || s == S_ZERO ? 0 : 1;
	if (*pseed)
		good = !gfill(m, a, NP, 1);
	switch (s) {
	case S_FRESH:
		/* mmap allocates nothing (the last case freed every frame). */
		good = umm_phys_frames_free(phys) ==
		       umm_phys_frames_total(phys);
		break;
	case S_WRITTEN:
		good = good && va_is(m, a + PIN0 * PG, 1, 1, 0, 1);
		break;
	case S_ZERO:
		good = !gcheck(m, a, NP, 0) && va_zero(m, a + PIN0 * PG);
		break;
	case S_FORK_PARENT:
		*other = umm_fork(m);
		good = good && *other;
		break;
	case S_FORK_CHILD:
		k = umm_fork(m);
		if (!k)
			BAIL_OUT("fork: %s", strerror(errno));
		*other = m;
		m = k;
		break;
	case S_CHILD_EXITED:
		k = umm_fork(m);
		good = good && k && !gcheck(k, a, NP, 1) &&
		       va_is(m, a + PIN0 * PG, 2, 2, 0, 0);
		check_mm_coherent(k);
		umm_mm_put(k);
		good = good && va_is(m, a + PIN0 * PG, 1, 1, 0, 0);
		break;
	case S_MPROTECT:
		good = good && !umm_mprotect(m, a, NP * PG, PROT_READ) &&
		       guest_access(m, a, 1, &v, &si) == SIGSEGV &&
		       si.si_code == SEGV_ACCERR &&
		       !umm_mprotect(m, a, NP * PG, RW);
		break;
	case S_DONTFORK:
		good = good && !umm_madvise(m, a, NP * PG, MADV_DONTFORK);
		k = umm_fork(m);
		good = good && k && guest_access(k, a, 0, &v, &si) == SIGSEGV &&
		       si.si_code == SEGV_MAPERR;
		umm_mm_put(k);
		break;
	default:
		break;
	}
	ok(good, "%s: set up", name);
	return m;
}

static void matrix_case(enum mem_state s, const struct pin_kind *pk)
{
	const bool pin = pk->flags & UMM_FOLL_PIN;
	const bool rw = pk->flags & UMM_FOLL_WRITE;
	const bool longterm = pk->flags & UMM_FOLL_LONGTERM;
	/* The states the pages are in when they are pinned. */
	const bool zero_before = s == S_FRESH || s == S_ZERO;
	const bool shared_before = s == S_FORK_PARENT || s == S_FORK_CHILD;
	const bool excl_before =
		s == S_WRITTEN || s == S_MPROTECT || s == S_DONTFORK;
	const bool in_k = s != S_DONTFORK; /* does fork copy the region? */
	struct umm_mm *m = new_mm(), *pm, *other, *k;
	struct umm_page *pg[NPIN];
	uint32_t pfn_before[NPIN];
	unsigned int mseed[NP], kseed[NP], oseed = 0, pseed, gseed, i;
	struct counts c0, c1;
	bool live, good;
	char name[128];
	uint64_t a, pv;
	siginfo_t si;
	uint8_t v = 0;
	long n;

	snprintf(name, sizeof(name), "%s, %s", state_name[s], pk->name);
	a = map_anon(m, NP, ANON);
	pv = a + PIN0 * PG;
	pm = set_state(m, a, s, &other, &pseed, name);
	set_seeds(mseed, 0, NP, pseed);
	if (other)
		oseed = pseed;
	for (i = 0; s != S_FRESH && i < NPIN; i++)
		pfn_before[i] = va_pfn(pm, pv + i * PG);

	/* Pin, and what pinning did. */
	counts(pm, &c0);
	n = umm_gup(pm, pv, NPIN, pk->flags, pg);
	counts(pm, &c1);
	if (!is(n, NPIN, "%s: got %d pages", name, NPIN)) {
		if (n > 0 && pin)
			umm_unpin(pg, n, false);
		for (i = 0; n > 0 && !pin && i < (unsigned int)n; i++)
			umm_put_page(pg[i]);
		umm_mm_put(other);
		umm_mm_put(pm);
		return;
	}
	if (pin)
		ok(pages_are(pg, NPIN, 2, 1, 1, 1),
		   "%s: pinned pages: refcount 2, mapped once, pinned once, "
		   "exclusive", name);
	else if (rw)
		ok(pages_are(pg, NPIN, 2, 1, 0, 1),
		   "%s: a write reference gets an exclusive page", name);
	else if (zero_before)
		ok(pages_zero(pg, NPIN), "%s: a read reference gets the zero "
		   "page (no unsharing)", name);
	else if (shared_before)
		ok(pages_are(pg, NPIN, 3, 2, 0, 0),
		   "%s: a read reference leaves the page shared", name);
	else if (excl_before)
		ok(pages_are(pg, NPIN, 2, 1, 0, 1),
		   "%s: referenced page: refcount 2, exclusive", name);
	else
		ok(pages_are(pg, NPIN, 2, 1, 0, 0),
		   "%s: a read reference leaves the page not exclusive", name);
	if (s != S_FRESH) {
		/* Copied: unshared or COWed; pinned in place: reused. */
		bool same = excl_before || s == S_CHILD_EXITED || (!pin && !rw);

		for (good = true, i = 0; i < NPIN; i++)
			good = good && (page_pfn(pg[i]) == pfn_before[i]) == same;
		ok(good, "%s: %s", name,
		   same ? "the page mapped is the page got"
			: "the page got is a new exclusive copy");
	}
	if (s == S_CHILD_EXITED)
		ok(DELTA(c1, c0, cow) == 0 &&
		   DELTA(c1, c0, reuse) == (pin || rw ? NPIN : 0),
		   "%s: the pages alone are reused in place, not copied "
		   "(%lld reused, %lld copied)", name, DELTA(c1, c0, reuse),
		   DELTA(c1, c0, cow));
	if (shared_before && (pin || rw)) {
		ok(DELTA(c1, c0, cow) >= 1 && DELTA(c1, c0, reuse) == 0,
		   "%s: shared pages are copied before they are pinned", name);
		for (good = true, i = 0; i < NPIN; i++)
			good = good && va_pfn(other, pv + i * PG) ==
					       pfn_before[i] &&
			       va_is(other, pv + i * PG, 1, 1, 0, 0);
		ok(good, "%s: the page left behind is the other mm's alone",
		   name);
	}
	if (s == S_ZERO && pin && !rw)
		ok(va_zero(pm, a) && va_zero(pm, pv + NPIN * PG) &&
		   DELTA(c1, c0, anon) == 0,
		   "%s: unsharing copies only the pinned pages, the rest "
		   "stay the zero page", name);
	is(pin_coherent(pm, pv, pg, NPIN), 0,
	   "%s: the pin sees what the guest sees", name);
	is(pin_check(pg, NPIN, pv, pseed), 0, "%s: and that is the data",
	   name);
	/*
	 * A reference stays live (is the page the guest maps) while the
	 * guest has no reason to copy it: pins always; a GET only while its
	 * page is exclusive and no fork shares it.
	 */
	live = pin || rw || excl_before;
	gseed = pseed;

	/* 1. The pinning guest writes. */
	is(gfill(pm, a, NP, 2), 0, "%s: the guest writes", name);
	set_seeds(mseed, 0, NP, 2);
	if (live)
		gseed = 2;
	is(gcheck_model(pm, a, NP, a / PG, mseed, 0), 0,
	   "%s: the guest reads back its writes", name);
	is(pin_check(pg, NPIN, pv, gseed), 0, "%s: %s", name,
	   live ? "the pin sees the guest's write"
		: "the reference keeps the old page (why pins exist)");
	is(pin_coherent(pm, pv, pg, NPIN), live ? 0 : NPIN,
	   "%s: pin and guest %s", name, live ? "agree" : "parted");
	if (!live && zero_before)
		ok(pages_zero(pg, NPIN), "%s: the reference holds the zero "
		   "page", name);
	else if (!live && shared_before)
		ok(pages_are(pg, NPIN, 2, 1, 0, 0), "%s: the reference holds "
		   "the other mm's page", name);
	else if (!live)
		ok(pages_are(pg, NPIN, 1, 0, 0, 0), "%s: the reference holds "
		   "a page no one maps", name);
	if (other)
		is(gcheck(other, a, NP, oseed), 0,
		   "%s: the other mm does not see the write", name);

	/* 2. The kernel writes through a write reference. */
	if (rw) {
		pin_write(pg, NPIN, pv, 3);
		set_seeds(mseed, PIN0, NPIN, 3);
		gseed = 3;
		is(gcheck_model(pm, a, NP, a / PG, mseed, 0), 0,
		   "%s: the guest sees the kernel's write through it", name);
	}

	/* 3. Fork the pinning mm. */
	k = umm_fork(pm);
	if (!k)
		BAIL_OUT("fork: %s", strerror(errno));
	memcpy(kseed, mseed, sizeof(kseed));
	is(umm_mm_check(pm), 0, "%s: right after fork the parent's host "
	   "mappings agree with its (write-protected) ptes", name);
	if (pin)
		ok(pages_are(pg, NPIN, 2, 1, 1, 1),
		   "%s: after fork the pinned pages are still mapped once, "
		   "exclusive", name);
	else if (live && in_k)
		ok(pages_are(pg, NPIN, 3, 2, 0, 0),
		   "%s: fork shares a referenced page", name);
	else if (live)
		ok(pages_are(pg, NPIN, 2, 1, 0, 1),
		   "%s: fork leaves a DONTFORK page alone", name);
	if (in_k)
		ok(va_is(pm, a, 2, 2, 0, 0), "%s: after fork an unpinned page "
		   "is mapped twice, not exclusive", name);
	else
		ok(va_is(pm, a, 1, 1, 0, 1), "%s: after fork a DONTFORK page "
		   "is still mapped once, exclusive", name);
	if (in_k) {
		is(gcheck_model(k, a, NP, a / PG, kseed, 0), 0,
		   "%s: the child sees the memory as at fork", name);
		for (good = true, i = 0; i < NPIN; i++) {
			uint32_t kpfn = va_pfn(k, pv + i * PG);

			if (pin)
				good = good && kpfn != page_pfn(pg[i]) &&
				       va_is(k, pv + i * PG, 1, 1, 0, 1);
			else
				good = good && kpfn == va_pfn(pm, pv + i * PG) &&
				       (kpfn == page_pfn(pg[i])) == live;
		}
		ok(good, "%s: %s", name,
		   pin ? "the child has its own exclusive copy of each "
			 "pinned page"
		       : "fork shares the pages, referenced or not");
		ok(va_pfn(k, a) == va_pfn(pm, a),
		   "%s: an unpinned page is shared by fork", name);
	} else {
		ok(guest_access(k, a, 0, &v, &si) == SIGSEGV &&
		   si.si_code == SEGV_MAPERR,
		   "%s: the child has no such mapping (SEGV_MAPERR)", name);
	}

	/* 4. The child writes. */
	if (in_k) {
		counts(k, &c0);
		is(gfill(k, a, NP, 4), 0, "%s: the child writes", name);
		counts(k, &c1);
		set_seeds(kseed, 0, NP, 4);
		ok(DELTA(c1, c0, copied) == (pin ? NP - NPIN : NP) &&
		   DELTA(c1, c0, reuse) == 0,
		   "%s: the child copies exactly the shared pages "
		   "(%lld copied)", name, DELTA(c1, c0, copied));
		is(gcheck_model(pm, a, NP, a / PG, mseed, 0), 0,
		   "%s: the parent does not see the child's writes", name);
		is(pin_check(pg, NPIN, pv, gseed), 0,
		   "%s: nor does the pin", name);
		ok(va_is(pm, a, 1, 1, 0, 0), "%s: after the child's COW the "
		   "parent's page is mapped once, not yet exclusive", name);
		if (!pin && live)
			ok(pages_are(pg, NPIN, 2, 1, 0, 0), "%s: the "
			   "referenced page is the parent's alone", name);
	} else {
		is(guest_write(k, a, 1), SIGSEGV,
		   "%s: the child cannot write it", name);
	}

	/* 5. The parent writes. */
	counts(pm, &c0);
	is(gfill(pm, a, NP, 5), 0, "%s: the parent writes", name);
	counts(pm, &c1);
	set_seeds(mseed, 0, NP, 5);
	if (!in_k)
		ok(DELTA(c1, c0, faults) == 0,
		   "%s: no fault: fork left the parent's pages writable", name);
	else if (pin || !live)
		ok(DELTA(c1, c0, reuse) == (pin ? NP - NPIN : NP) &&
		   DELTA(c1, c0, copied) == 0,
		   "%s: the parent reuses every page the child copied "
		   "(%lld reused, %lld copied)", name, DELTA(c1, c0, reuse),
		   DELTA(c1, c0, copied));
	else
		ok(DELTA(c1, c0, reuse) == NP - NPIN &&
		   DELTA(c1, c0, copied) == NPIN,
		   "%s: the parent copies the referenced pages "
		   "(%lld reused, %lld copied)", name, DELTA(c1, c0, reuse),
		   DELTA(c1, c0, copied));
	if (live && (pin || !in_k))
		gseed = 5;
	else
		live = false;
	is(gcheck_model(pm, a, NP, a / PG, mseed, 0), 0,
	   "%s: the parent reads back its writes", name);
	is(pin_check(pg, NPIN, pv, gseed), 0, "%s: %s", name,
	   live ? "the pin sees the parent's write after fork"
		: "the reference still holds the old page");
	is(pin_coherent(pm, pv, pg, NPIN), live ? 0 : NPIN,
	   "%s: pin and guest %s", name, live ? "agree" : "parted");
	if (in_k)
		is(gcheck_model(k, a, NP, a / PG, kseed, 0), 0,
		   "%s: the child does not see the parent's writes", name);
	ok(va_is(pm, a, 1, 1, 0, 1), "%s: the parent's unpinned page is "
	   "exclusive again", name);
	if (pin)
		ok(pages_are(pg, NPIN, 2, 1, 1, 1), "%s: the pinned pages "
		   "are unchanged: mapped once, pinned, exclusive", name);
	else if (in_k && (rw || excl_before))
		ok(pages_are(pg, NPIN, 1, 0, 0, 0), "%s: the referenced page "
		   "is mapped by no one now", name);

	/* 6. The other mm sharing the original pages writes. */
	if (other) {
		is(gfill(other, a, NP, 6), 0, "%s: the other mm writes", name);
		oseed = 6;
		is(gcheck_model(pm, a, NP, a / PG, mseed, 0), 0,
		   "%s: the pinning mm does not see it", name);
		is(pin_check(pg, NPIN, pv, gseed), 0, "%s: nor does the pin",
		   name);
		is(gcheck(other, a, NP, oseed), 0,
		   "%s: the other mm reads back its write", name);
	}

	/* 7. Unpin, and everything goes. */
	is(umm_gup_unpin_bugs(), 0, "%s: no pin lost sight of its page",
	   name);
	check_mm_coherent(pm);
	check_mm_coherent(k);
	if (other)
		check_mm_coherent(other);
	if (longterm) {
		/* The pin outlives every mm that mapped its pages. */
		umm_mm_put(k);
		umm_mm_put(other);
		umm_mm_put(pm);
		ok(pages_are(pg, NPIN, 1, 0, 1, 1) &&
		   !pin_check(pg, NPIN, pv, gseed),
		   "%s: the pin outlives the mm, with the last data", name);
		umm_unpin(pg, NPIN, rw);
	} else {
		if (pin)
			umm_unpin(pg, NPIN, rw);
		else
			for (i = 0; i < NPIN; i++)
				umm_put_page(pg[i]);
		ok(va_is(pm, pv, 1, 1, 0, 1), "%s: unpinned: the page is "
		   "the guest's alone", name);
		umm_mm_put(k);
		umm_mm_put(other);
		umm_mm_put(pm);
	}
	is(umm_gup_unpin_bugs(), 0, "%s: unpinning found no bug", name);
	check_frames_free(phys);
}

static void test_matrix(void)
{
	unsigned int s, p;

	for (s = 0; s < NR_STATES; s++)
		for (p = 0; p < sizeof(pin_kinds) / sizeof(pin_kinds[0]); p++)
			matrix_case((enum mem_state)s, &pin_kinds[p]);
}

/* ---- fork and the vma flags ---- */

static void test_dontfork(void)
{
	struct umm_mm *m = new_mm(), *c, *c2;
	uint64_t a1 = map_anon(m, 4, ANON);
	uint64_t a2 = map_anon(m, 4, ANON | UMM_MAP_DONTFORK);
	uint64_t a3 = map_anon(m, 4, ANON);
	/* A guard between: a3 is a vma of its own, its own COW block. */
	long guard = umm_mmap(m, 0, PG, PROT_NONE, ANON, NULL, 0);
	uint64_t a4 = map_anon(m, 8, ANON);
	uint64_t holes[] = { a1, a1 + 3 * PG, a2, a2 + 3 * PG, a4 + 3 * PG,
			     a4 + 4 * PG };
	struct counts c0, c1;
	siginfo_t si;
	uint8_t v = 0;
	unsigned int i;
	bool good;

	ok(guard > 0 && a4 + 8 * PG == (uint64_t)guard &&
	   (uint64_t)guard + PG == a3, "dontfork: four regions");
	is(umm_madvise(m, a1, 4 * PG, MADV_DONTFORK), 0,
	   "dontfork: MADV_DONTFORK");
	is(umm_madvise(m, a4 + 3 * PG, 2 * PG, MADV_DONTFORK), 0,
	   "dontfork: MADV_DONTFORK on the middle of a vma");
	ok(!gfill(m, a1, 4, 1) && !gfill(m, a2, 4, 2) && !gfill(m, a3, 4, 3) &&
	   !gfill(m, a4, 8, 4), "dontfork: the parent writes every region");
	c = umm_fork(m);
	ok(c != NULL, "dontfork: fork");
	check_mm_coherent(m);
	for (good = true, i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		memset(&si, 0, sizeof(si));
		good = good && guest_access(c, holes[i], 0, &v, &si) == SIGSEGV &&
		       si.si_code == SEGV_MAPERR &&
		       (uint64_t)si.si_addr == holes[i];
	}
	ok(good, "dontfork: MADV_DONTFORK and UMM_MAP_DONTFORK memory is "
	   "absent in the child: SEGV_MAPERR at the address");
	ok(!maps_has(c, a1) && !maps_has(c, a2) && !maps_has(c, a4 + 3 * PG) &&
	   !maps_has(c, a4 + 4 * PG) && maps_has(c, a3) && maps_has(c, a4) &&
	   maps_has(c, a4 + 5 * PG), "dontfork: and absent from its maps");
	ok(!gcheck(c, a3, 4, 3) && !gcheck(c, a4, 3, 4) &&
	   !gcheck(c, a4 + 5 * PG, 3, 4),
	   "dontfork: the child sees the rest, either side of the hole");
	ok(va_is(m, a1, 1, 1, 0, 1) && va_is(m, a2, 1, 1, 0, 1) &&
	   va_is(m, a4 + 3 * PG, 1, 1, 0, 1) && va_is(m, a3, 2, 2, 0, 0),
	   "dontfork: the parent's DONTFORK pages stay exclusive, the rest "
	   "are shared");
	counts(m, &c0);
	ok(!gfill(m, a1, 4, 5) && !gfill(m, a2, 4, 6) &&
	   !gfill(m, a4 + 3 * PG, 2, 7), "dontfork: the parent writes them");
	counts(m, &c1);
	is(DELTA(c1, c0, faults), 0,
	   "dontfork: without a fault: fork did not write-protect them");
	counts(m, &c0);
	is(gfill(m, a3, 4, 8), 0, "dontfork: the parent writes shared pages");
	counts(m, &c1);
	is(DELTA(c1, c0, copied), 4, "dontfork: and copies them");
	is(gcheck(c, a3, 4, 3), 0, "dontfork: the child keeps its data");
	is(umm_mmap(c, a1, 4 * PG, RW, ANON | MAP_FIXED_NOREPLACE, NULL, 0),
	   (long)a1, "dontfork: the child can map where the hole is");
	is(gcheck(c, a1, 4, 0), 0, "dontfork: and finds zeros there");

	ok(!umm_madvise(m, a1, 4 * PG, MADV_DOFORK) &&
	   !umm_madvise(m, a2, 4 * PG, MADV_DOFORK),
	   "dontfork: MADV_DOFORK on both");
	c2 = umm_fork(m);
	ok(c2 && !gcheck(c2, a1, 4, 5) && !gcheck(c2, a2, 4, 6),
	   "dontfork: a later child gets them");
	ok(guest_access(c2, a4 + 3 * PG, 0, &v, &si) == SIGSEGV &&
	   si.si_code == SEGV_MAPERR, "dontfork: but not the rest");
	check_mm_coherent(m);
	check_mm_coherent(c);
	check_mm_coherent(c2);
	umm_mm_put(c);
	umm_mm_put(c2);
	umm_mm_put(m);
	check_frames_free(phys);
}

static void test_wipeonfork(void)
{
	struct umm_mm *m = new_mm(), *c, *g, *c2;
	uint64_t a = map_anon(m, 8, ANON), w = a + 2 * PG;
	uint64_t sh = map_anon(m, 1, MAP_SHARED | MAP_ANONYMOUS);
	uint64_t d = map_anon(m, 2, MAP_DROPPABLE | MAP_ANONYMOUS);
	struct umm_page *pg;
	struct counts c0, c1;

	is(gfill(m, a, 8, 1), 0, "wipeonfork: the parent writes 8 pages");
	is(umm_madvise(m, w, 4 * PG, MADV_WIPEONFORK), 0,
	   "wipeonfork: MADV_WIPEONFORK on 4 of them");
	is(umm_madvise(m, sh, PG, MADV_WIPEONFORK), -EINVAL,
	   "wipeonfork: not on shared memory (EINVAL)");
	is(gfill(m, d, 2, 1), 0, "wipeonfork: the parent writes MAP_DROPPABLE "
	   "memory");
	is(umm_gup(m, w + PG, 1, UMM_FOLL_PIN, &pg), 1,
	   "wipeonfork: pin a page of the wiped range");
	c = umm_fork(m);
	ok(c != NULL, "wipeonfork: fork");
	is(gcheck(c, w, 4, 0), 0, "wipeonfork: the child reads zeros");
	ok(va_zero(c, w) && va_zero(c, w + PG),
	   "wipeonfork: from the zero page");
	ok(!gcheck(c, a, 2, 1) && !gcheck(c, a + 6 * PG, 2, 1),
	   "wipeonfork: the rest is copied");
	ok(!gcheck(c, d, 2, 0) && !gcheck(m, d, 2, 1),
	   "wipeonfork: MAP_DROPPABLE memory is wiped in the child too");
	is(gcheck(m, a, 8, 1), 0, "wipeonfork: the parent keeps its data");
	ok(pages_are(&pg, 1, 2, 1, 1, 1), "wipeonfork: the pinned page is "
	   "the parent's alone");
	counts(m, &c0);
	is(gfill(m, w, 4, 2), 0, "wipeonfork: the parent writes the range");
	counts(m, &c1);
	is(DELTA(c1, c0, faults), 0, "wipeonfork: without a fault");
	is(pin_coherent(m, w + PG, &pg, 1), 0,
	   "wipeonfork: the pin sees the write");
	is(gfill(c, w, 4, 3), 0, "wipeonfork: the child writes the range");
	ok(!gcheck(m, w, 4, 2) && !gcheck(c, w, 4, 3),
	   "wipeonfork: neither sees the other's");
	g = umm_fork(c);
	ok(g && !gcheck(g, w, 4, 0) && !gcheck(g, a, 2, 1),
	   "wipeonfork: the child inherits the flag: its child reads zeros");
	is(umm_madvise(m, w, 4 * PG, MADV_KEEPONFORK), 0,
	   "wipeonfork: MADV_KEEPONFORK");
	c2 = umm_fork(m);
	ok(c2 && !gcheck(c2, w, 4, 2), "wipeonfork: a later child gets the "
	   "data");
	ok(pages_are(&pg, 1, 2, 1, 1, 1) && va_pfn(c2, w + PG) != page_pfn(pg),
	   "wipeonfork: and a copy of the pinned page");
	umm_unpin(&pg, 1, false);
	is(umm_gup_unpin_bugs(), 0, "wipeonfork: no pin lost sight of its "
	   "page");
	check_mm_coherent(m);
	check_mm_coherent(c);
	check_mm_coherent(g);
	check_mm_coherent(c2);
	umm_mm_put(g);
	umm_mm_put(c);
	umm_mm_put(c2);
	umm_mm_put(m);
	check_frames_free(phys);
}

/* ---- shared memory across fork ---- */

static void test_shared_anon(void)
{
	struct umm_mm *m = new_mm(), *c, *g;
	uint64_t a = map_anon(m, 8, MAP_SHARED | MAP_ANONYMOUS);
	struct umm_page_state st;
	struct umm_page *pg;
	struct counts c0, c1, k0;

	is(gfill(m, a, 4, 1), 0, "shared anon: the parent writes 4 of 8 pages");
	c = umm_fork(m);
	ok(c != NULL, "shared anon: fork");
	check_mm_coherent(m);
	ok(!gcheck(c, a, 4, 1) && !gcheck(c, a + 4 * PG, 4, 0),
	   "shared anon: the child sees the data, and zeros beyond");
	ok(!va_state(m, a, &st) && !st.anon && st.mapcount == 2 &&
	   st.refcount == 3, "shared anon: a page is mapped by both (and "
	   "cached): not anonymous, mapcount 2, refcount 3");
	counts(m, &c0);
	counts(c, &k0);
	is(gfill(m, a, 4, 2), 0, "shared anon: the parent writes again");
	counts(m, &c1);
	is(DELTA(c1, c0, faults), 0, "shared anon: without a fault: shared "
	   "pages are not write-protected by fork");
	is(gcheck(c, a, 4, 2), 0, "shared anon: the child sees the writes");
	is(gfill(c, a + 2 * PG, 4, 3), 0,
	   "shared anon: the child writes, also to pages first touched now");
	is(gcheck(m, a + 2 * PG, 4, 3), 0, "shared anon: the parent sees it");
	is(umm_gup(c, a + 6 * PG, 1, UMM_FOLL_PIN, &pg), 1,
	   "shared anon: the child pins a page R/O");
	umm_page_state(pg, &st);
	ok(!st.anon && st.pincount == 1, "shared anon: the page itself, not "
	   "a private copy");
	is(gfill(m, a + 6 * PG, 1, 4), 0, "shared anon: the parent writes it");
	is(pin_check(&pg, 1, a + 6 * PG, 4), 0,
	   "shared anon: the child's pin sees the parent's write");
	g = umm_fork(c);
	ok(g != NULL, "shared anon: the child forks");
	is(gfill(g, a + 7 * PG, 1, 5), 0, "shared anon: the grandchild writes");
	ok(!gcheck(m, a + 7 * PG, 1, 5) && !gcheck(c, a + 7 * PG, 1, 5),
	   "shared anon: parent and child see it");
	counts(m, &c1);
	counts(c, &c0);
	ok(c1.cow == 0 && c0.cow == 0, "shared anon: no mm made a copy");
	check_mm_coherent(m);
	umm_mm_put(m);
	is(gfill(c, a, 1, 6), 0, "shared anon: the parent gone, the child "
	   "writes");
	is(gcheck(g, a, 1, 6), 0, "shared anon: the grandchild sees it");
	umm_unpin(&pg, 1, false);
	is(umm_gup_unpin_bugs(), 0, "shared anon: no unpin bug");
	check_mm_coherent(c);
	check_mm_coherent(g);
	umm_mm_put(c);
	umm_mm_put(g);
	check_frames_free(phys);
}

static void test_shmem(void)
{
	struct umm_mm *m = new_mm(), *c, *q;
	struct umm_file *f = umm_shmem_new(phys, 8 * PG);
	long a = umm_mmap(m, 0, 8 * PG, RW, MAP_SHARED, f, 0);
	long b = umm_mmap(m, 0, 8 * PG, RW, MAP_PRIVATE, f, 0);
	uint64_t sa = (uint64_t)a, pb = (uint64_t)b;
	struct counts c0, c1;
	long qa;

	ok(f && a > 0 && b > 0, "shmem: a shared and a private mapping of "
	   "one shmem file");
	is(gfillk(m, sa, 8, 0, 1), 0, "shmem: the parent writes the file");
	is(gcheckk(m, pb, 8, 0, 1), 0, "shmem: the private mapping sees it");
	is(gfillk(m, pb, 1, 0, 2), 0, "shmem: a private write (COW)");
	is(gcheckk(m, sa, 1, 0, 1), 0, "shmem: the file is unchanged");
	c = umm_fork(m);
	ok(c != NULL, "shmem: fork");
	check_mm_coherent(m);
	ok(!gcheckk(c, sa, 8, 0, 1) && !gcheckk(c, pb, 1, 0, 2) &&
	   !gcheckk(c, pb + PG, 7, 1, 1),
	   "shmem: the child sees the file and the parent's private page");
	is(gfillk(c, sa + 3 * PG, 1, 3, 3), 0,
	   "shmem: the child writes the shared mapping");
	ok(!gcheckk(m, sa + 3 * PG, 1, 3, 3) &&
	   !gcheckk(m, pb + 3 * PG, 1, 3, 3) &&
	   !gcheckk(c, pb + 3 * PG, 1, 3, 3),
	   "shmem: both see it, in private pages not yet written too");
	is(gfillk(c, pb + 4 * PG, 1, 4, 4), 0, "shmem: the child writes a "
	   "private page");
	ok(!gcheckk(m, pb + 4 * PG, 1, 4, 1) && !gcheckk(m, sa + 4 * PG, 1, 4, 1),
	   "shmem: neither the parent nor the file sees it");
	is(gfillk(m, pb + 5 * PG, 1, 5, 5), 0, "shmem: the parent writes a "
	   "private page");
	ok(!gcheckk(c, pb + 5 * PG, 1, 5, 1) && !gcheckk(c, sa + 5 * PG, 1, 5, 1),
	   "shmem: neither the child nor the file sees it");
	is(gfillk(c, pb, 1, 0, 6), 0, "shmem: the child writes the private "
	   "page the parent had copied");
	is(gcheckk(m, pb, 1, 0, 2), 0, "shmem: the parent keeps its copy");
	counts(m, &c0);
	is(gfillk(m, pb, 1, 0, 7), 0, "shmem: the parent writes it");
	counts(m, &c1);
	ok(DELTA(c1, c0, reuse) == 1 && DELTA(c1, c0, cow) == 0,
	   "shmem: and reuses it: the child copied");
	is(gcheckk(c, sa, 1, 0, 1), 0, "shmem: the file is unchanged");
	is(umm_munmap(m, sa, 8 * PG), 0, "shmem: the parent unmaps the file");
	is(gfillk(c, sa + PG, 1, 1, 8), 0, "shmem: the child writes it");
	q = new_mm();
	qa = umm_mmap(q, 0, 8 * PG, PROT_READ, MAP_SHARED, f, 0);
	ok(qa > 0 && !gcheckk(q, (uint64_t)qa, 1, 0, 1) &&
	   !gcheckk(q, (uint64_t)qa + PG, 1, 1, 8) &&
	   !gcheckk(q, (uint64_t)qa + 2 * PG, 1, 2, 1) &&
	   !gcheckk(q, (uint64_t)qa + 3 * PG, 1, 3, 3) &&
	   !gcheckk(q, (uint64_t)qa + 4 * PG, 4, 4, 1),
	   "shmem: an unrelated mm sees exactly the shared writes");
	umm_file_put(f);
	check_mm_coherent(m);
	check_mm_coherent(c);
	check_mm_coherent(q);
	umm_mm_put(m);
	umm_mm_put(c);
	umm_mm_put(q);
	check_frames_free(phys);
}

static void test_private_file(void)
{
	char path[] = "/tmp/umm-cow-XXXXXX";
	int fd = mkstemp(path);
	uint8_t file[4 * PG], back[4 * PG];
	struct umm_mm *m = new_mm(), *c;
	struct umm_page_state st;
	struct umm_file *f;
	unsigned int i;
	long a, s;

	for (i = 0; i < 4; i++)
		pattern(file + i * PG, 100 + i, 9);
	ok(fd >= 0 && write(fd, file, sizeof(file)) == (ssize_t)sizeof(file),
	   "private file: a host file of 4 pages");
	f = umm_file_open(phys, path);
	ok(f != NULL, "private file: opened");
	a = umm_mmap(m, 0, 4 * PG, RW, MAP_PRIVATE, f, 0);
	ok(a > 0 && !gcheckk(m, (uint64_t)a, 4, 100, 9),
	   "private file: a private mapping reads the file");
	is(gfillk(m, (uint64_t)a, 1, 100, 1), 0,
	   "private file: the parent writes page 0 (COW)");
	c = umm_fork(m);
	ok(c != NULL, "private file: fork");
	check_mm_coherent(m);
	ok(!gcheckk(c, (uint64_t)a, 1, 100, 1) &&
	   !gcheckk(c, (uint64_t)a + PG, 3, 101, 9),
	   "private file: the child sees the parent's copy and the file");
	ok(!va_state(m, (uint64_t)a + PG, &st) && !st.anon && st.mapcount == 2,
	   "private file: a file page is mapped by both");
	ok(va_is(m, (uint64_t)a, 2, 2, 0, 0),
	   "private file: the private copy is shared, not exclusive");
	is(gfillk(c, (uint64_t)a + PG, 1, 101, 2), 0,
	   "private file: the child writes page 1");
	is(gfillk(m, (uint64_t)a + 2 * PG, 1, 102, 3), 0,
	   "private file: the parent writes page 2");
	is(gfillk(c, (uint64_t)a, 1, 100, 4), 0,
	   "private file: the child writes page 0");
	ok(!gcheckk(m, (uint64_t)a, 1, 100, 1) &&
	   !gcheckk(m, (uint64_t)a + PG, 1, 101, 9) &&
	   !gcheckk(m, (uint64_t)a + 2 * PG, 1, 102, 3) &&
	   !gcheckk(m, (uint64_t)a + 3 * PG, 1, 103, 9),
	   "private file: the parent sees its own writes only");
	ok(!gcheckk(c, (uint64_t)a, 1, 100, 4) &&
	   !gcheckk(c, (uint64_t)a + PG, 1, 101, 2) &&
	   !gcheckk(c, (uint64_t)a + 2 * PG, 1, 102, 9) &&
	   !gcheckk(c, (uint64_t)a + 3 * PG, 1, 103, 9),
	   "private file: the child sees its own writes only");
	s = umm_mmap(c, 0, 4 * PG, PROT_READ, MAP_SHARED, f, 0);
	ok(s > 0 && !gcheckk(c, (uint64_t)s, 4, 100, 9),
	   "private file: a shared mapping still sees the file");
	ok(pread(fd, back, sizeof(back), 0) == (ssize_t)sizeof(back) &&
	   !memcmp(back, file, sizeof(file)),
	   "private file: the host file is unchanged");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(m);
	umm_mm_put(c);
	umm_file_put(f);
	close(fd);
	unlink(path);
	check_frames_free(phys);
}

/* ---- the shape of what is forked ---- */

#define NR_VMAS 1000

static void test_many_vmas(void)
{
	struct umm_mm *m = new_mm(), *c;
	uint64_t a = map_anon(m, NR_VMAS, ANON);
	struct umm_stats ms, cs;
	struct counts c0, c1;
	char *mt, *ct;
	unsigned int i;
	int bad = 0;
	siginfo_t si;
	uint8_t v = 0;

	is(gfill(m, a, NR_VMAS, 1), 0, "many vmas: the parent writes %d pages",
	   NR_VMAS);
	for (i = 1; i < NR_VMAS; i += 2)
		bad += !!umm_mprotect(m, a + i * PG, PG, PROT_READ);
	umm_mm_stats(m, &ms);
	ok(!bad && ms.guest_vmas == NR_VMAS,
	   "many vmas: every other page read-only: %llu vmas",
	   (unsigned long long)ms.guest_vmas);
	c = umm_fork(m);
	ok(c != NULL, "many vmas: fork");
	umm_mm_stats(c, &cs);
	is(cs.guest_vmas, NR_VMAS, "many vmas: the child has as many");
	mt = maps_text(m);
	ct = maps_text(c);
	ok(mt && ct && !strcmp(mt, ct), "many vmas: the same maps");
	free(mt);
	free(ct);
	check_mm_coherent(m);
	is(gcheck(c, a, NR_VMAS, 1), 0, "many vmas: the child sees every page");
	counts(c, &c0);
	for (bad = 0, i = 0; i < NR_VMAS; i += 2)
		bad += !!gfill(c, a + i * PG, 1, 2);
	counts(c, &c1);
	ok(!bad && DELTA(c1, c0, copied) == NR_VMAS / 2,
	   "many vmas: the child writes the writable ones, copying each");
	ok(guest_access(c, a + PG, 1, &v, &si) == SIGSEGV &&
	   si.si_code == SEGV_ACCERR,
	   "many vmas: the read-only ones stay read-only (SEGV_ACCERR)");
	is(gcheck(m, a, NR_VMAS, 1), 0, "many vmas: the parent's are "
	   "unchanged");
	counts(m, &c0);
	for (bad = 0, i = 0; i < NR_VMAS; i += 2)
		bad += !!gfill(m, a + i * PG, 1, 3);
	counts(m, &c1);
	ok(!bad && DELTA(c1, c0, reuse) == NR_VMAS / 2 &&
	   DELTA(c1, c0, copied) == 0,
	   "many vmas: the parent writes them, reusing each");
	for (bad = 0, i = 0; i < NR_VMAS; i++)
		bad += !!gcheck(c, a + i * PG, 1, i % 2 ? 1 : 2) +
		       !!gcheck(m, a + i * PG, 1, i % 2 ? 1 : 3);
	is(bad, 0, "many vmas: each sees its own writes");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(c);
	umm_mm_put(m);
	check_frames_free(phys);
}

#define CHAIN 8
#define CHAIN_PAGES 16

/* The seed of page @i in generation @j: each wrote its own page. */
static unsigned int chain_seed(unsigned int j, unsigned int i)
{
	return i >= 1 && i <= j ? 10 + i : 1;
}

/* Each live generation sees its own model (@over[j]: it wrote it all). */
static bool chain_intact(struct umm_mm **mm, uint64_t a, const bool *gone,
			 const unsigned int *over)
{
	unsigned int seeds[CHAIN_PAGES], i, j;

	for (j = 0; j < CHAIN; j++) {
		if (gone[j])
			continue;
		for (i = 0; i < CHAIN_PAGES; i++)
			seeds[i] = over[j] ? over[j] : chain_seed(j, i);
		if (gcheck_model(mm[j], a, CHAIN_PAGES, a / PG, seeds, 0))
			return false;
	}
	return true;
}

static void test_fork_chain(void)
{
	struct umm_mm *mm[CHAIN];
	bool gone[CHAIN] = { false };
	unsigned int over[CHAIN] = { 0 }, j, k;
	uint64_t a;

	mm[0] = new_mm();
	/*
	 * One page per fault (the children inherit it): a COW fault then
	 * copies only the page written, and pages stay shared down the chain.
	 */
	umm_mm_set_fault_around(mm[0], 1);
	a = map_anon(mm[0], CHAIN_PAGES, ANON);
	is(gfill(mm[0], a, CHAIN_PAGES, 1), 0, "fork chain: the first writes");
	for (j = 1; j < CHAIN; j++) {
		mm[j] = umm_fork(mm[j - 1]);
		if (!mm[j])
			BAIL_OUT("fork: %s", strerror(errno));
		gfill(mm[j], a + j * PG, 1, 10 + j);
	}
	ok(chain_intact(mm, a, gone, over), "fork chain: %d generations, each sees "
	   "what it inherited and its own write", CHAIN);
	ok(va_is(mm[0], a + (CHAIN_PAGES - 1) * PG, CHAIN, CHAIN, 0, 0),
	   "fork chain: a page no one wrote is mapped by all %d", CHAIN);
	ok(va_is(mm[CHAIN - 1], a + 1 * PG, CHAIN - 1, CHAIN - 1, 0, 0),
	   "fork chain: a page written by the second by the %d after it",
	   CHAIN - 1);
	for (j = 0; j < CHAIN; j++)
		check_mm_coherent(mm[j]);
	umm_mm_put(mm[3]);
	gone[3] = true;
	umm_mm_put(mm[1]);
	gone[1] = true;
	ok(chain_intact(mm, a, gone, over), "fork chain: two in the middle exit, "
	   "the rest are intact");
	ok(va_is(mm[0], a + (CHAIN_PAGES - 1) * PG, CHAIN - 2, CHAIN - 2, 0, 0),
	   "fork chain: the page is mapped by %d now", CHAIN - 2);
	/* The last, then the first, write all of it. */
	for (k = 0; k < 2; k++) {
		j = k ? 0 : CHAIN - 1;
		is(gfill(mm[j], a, CHAIN_PAGES, 50 + j), 0,
		   "fork chain: generation %u writes every page", j);
		over[j] = 50 + j;
		ok(chain_intact(mm, a, gone, over), "fork chain: it reads back "
		   "its writes, no one else sees them");
	}
	for (j = 0; j < CHAIN; j++) {
		if (gone[j])
			continue;
		check_mm_coherent(mm[j]);
		umm_mm_put(mm[j]);
	}
	check_frames_free(phys);
}

/* ---- the zero page, reuse, and the parent's host mappings ---- */

static void test_zero_page_fork(void)
{
	struct umm_mm *m = new_mm(), *c;
	uint64_t a = map_anon(m, 8, ANON);
	struct counts c0, c1;
	struct umm_page *pg;

	/* One page per fault, so each zero-page pte stays as it is. */
	is(umm_mm_set_fault_around(m, 1), 0, "zero page: no fault-around");
	ok(!gcheck(m, a, 8, 0) && va_zero(m, a) && va_zero(m, a + 5 * PG),
	   "zero page: the parent reads the zero page");
	c = umm_fork(m);
	if (!c)
		BAIL_OUT("fork: %s", strerror(errno));
	counts(c, &c0);
	ok(!gcheck(c, a, 8, 0) && va_zero(c, a) && va_zero(c, a + 5 * PG),
	   "zero page: the child maps it too");
	counts(c, &c1);
	is(DELTA(c1, c0, anon_zero), 0,
	   "zero page: fork copied its ptes: the child's reads map nothing");
	check_mm_coherent(m);
	counts(m, &c0);
	is(gfill(m, a, 1, 1), 0, "zero page: the parent writes it after fork");
	counts(m, &c1);
	ok(DELTA(c1, c0, anon) == 1 && DELTA(c1, c0, cow) == 0,
	   "zero page: a fresh page, nothing to copy");
	ok(va_is(m, a, 1, 1, 0, 1), "zero page: exclusive to the parent");
	ok(!gcheck(c, a, 8, 0) && va_zero(c, a),
	   "zero page: the child still reads zeros");
	is(gfill(c, a + PG, 1, 2), 0, "zero page: the child writes another");
	ok(!gcheck(m, a + PG, 1, 0) && va_zero(m, a + PG),
	   "zero page: the parent still reads zeros there");
	is(umm_gup(c, a + 5 * PG, 1, UMM_FOLL_PIN, &pg), 1,
	   "zero page: the child pins a zero page R/O");
	ok(pages_are(&pg, 1, 2, 1, 1, 1), "zero page: unshared into an "
	   "exclusive page");
	is(gfill(c, a + 5 * PG, 1, 3), 0, "zero page: the child writes it");
	is(pin_check(&pg, 1, a + 5 * PG, 3), 0, "zero page: the pin sees it");
	ok(!gcheck(m, a + 5 * PG, 1, 0) && va_zero(m, a + 5 * PG),
	   "zero page: the parent does not");
	umm_unpin(&pg, 1, false);
	is(umm_gup_unpin_bugs(), 0, "zero page: no unpin bug");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(c);
	umm_mm_put(m);
	check_frames_free(phys);
}

static void test_reuse(void)
{
	struct umm_mm *m = new_mm(), *c;
	uint64_t a = map_anon(m, 4, ANON);
	struct counts c0, c1;
	struct umm_page *pg;
	uint32_t pfn[4];
	unsigned int i;

	is(gfill(m, a, 4, 1), 0, "reuse: the parent writes 4 pages");
	for (i = 0; i < 4; i++)
		pfn[i] = va_pfn(m, a + i * PG);

	c = umm_fork(m);
	umm_mm_put(c);
	ok(va_is(m, a, 1, 1, 0, 0), "reuse: after the child exited: mapped "
	   "once, not exclusive");
	counts(m, &c0);
	is(gfill(m, a, 1, 2), 0, "reuse: the parent writes");
	counts(m, &c1);
	ok(DELTA(c1, c0, reuse) == 1 && DELTA(c1, c0, copied) == 0,
	   "reuse: a write fault that reuses the page (fault_wp_reuse)");
	ok(va_pfn(m, a) == pfn[0] && va_is(m, a, 1, 1, 0, 1),
	   "reuse: in place, exclusive again");

	c = umm_fork(m);
	counts(c, &c0);
	is(gfill(c, a + PG, 1, 3), 0, "reuse: a second child writes");
	counts(c, &c1);
	ok(DELTA(c1, c0, cow) == 1 && DELTA(c1, c0, reuse) == 0,
	   "reuse: and copies");
	counts(m, &c0);
	is(gfill(m, a + PG, 1, 4), 0, "reuse: then the parent writes");
	counts(m, &c1);
	ok(DELTA(c1, c0, reuse) == 1 && DELTA(c1, c0, copied) == 0 &&
	   va_pfn(m, a + PG) == pfn[1],
	   "reuse: and reuses its page in place");
	umm_mm_put(c);

	c = umm_fork(m);
	counts(m, &c0);
	is(gfill(m, a + 2 * PG, 1, 5), 0, "reuse: the parent writes first");
	counts(m, &c1);
	ok(DELTA(c1, c0, cow) == 1 && va_pfn(m, a + 2 * PG) != pfn[2],
	   "reuse: and copies");
	counts(c, &c0);
	is(gfill(c, a + 2 * PG, 1, 6), 0, "reuse: then the child writes");
	counts(c, &c1);
	ok(DELTA(c1, c0, reuse) == 1 && DELTA(c1, c0, copied) == 0 &&
	   va_pfn(c, a + 2 * PG) == pfn[2],
	   "reuse: the child reuses the original page");
	ok(!gcheck(m, a + 2 * PG, 1, 5) && !gcheck(c, a + 2 * PG, 1, 6),
	   "reuse: each sees its own write");
	umm_mm_put(c);

	c = umm_fork(m);
	is(umm_madvise(c, a + 2 * PG, PG, MADV_DONTNEED), 0,
	   "reuse: a child drops a page with MADV_DONTNEED");
	counts(m, &c0);
	is(gfill(m, a + 2 * PG, 1, 8), 0, "reuse: the parent writes it");
	counts(m, &c1);
	ok(DELTA(c1, c0, reuse) == 1 && DELTA(c1, c0, copied) == 0,
	   "reuse: and reuses it, as if the child had exited");
	is(gcheck(c, a + 2 * PG, 1, 0), 0, "reuse: the child reads zeros");
	umm_mm_put(c);

	c = umm_fork(m);
	umm_mm_put(c);
	is(umm_gup(m, a + 3 * PG, 1, UMM_FOLL_GET, &pg), 1,
	   "reuse: a reference to a page alone again");
	counts(m, &c0);
	is(gfill(m, a + 3 * PG, 1, 7), 0, "reuse: the parent writes it");
	counts(m, &c1);
	ok(DELTA(c1, c0, cow) == 1 && DELTA(c1, c0, reuse) == 0 &&
	   va_pfn(m, a + 3 * PG) != page_pfn(pg),
	   "reuse: a page someone holds a reference to is copied");
	is(pin_check(&pg, 1, a + 3 * PG, 1), 0,
	   "reuse: the reference keeps the old data");
	ok(pages_are(&pg, 1, 1, 0, 0, 0), "reuse: in a page no one maps");
	umm_put_page(pg);
	check_mm_coherent(m);
	umm_mm_put(m);
	check_frames_free(phys);
}

static void test_wrprotect(void)
{
	struct umm_mm *m = new_mm(), *c;
	uint64_t a = map_anon(m, 32, ANON);
	struct counts c0, c1;
	uint8_t want[PG], v = 0;

	is(gfill(m, a, 32, 1), 0, "write-protect: the parent writes 32 pages");
	c = umm_fork(m);
	ok(c != NULL, "write-protect: fork");
	is(umm_mm_check(m), 0, "write-protect: right after fork no host "
	   "mapping of the parent allows more than its pte");
	counts(m, &c0);
	is(guest_write(m, a + 5 * PG, 0xaa), 0, "write-protect: the parent "
	   "writes");
	counts(m, &c1);
	ok(DELTA(c1, c0, cow) == 1 && DELTA(c1, c0, faults) == 1,
	   "write-protect: the write was a COW fault");
	pattern(want, a / PG + 5, 1);
	ok(!guest_read(c, a + 5 * PG, &v) && v == want[0],
	   "write-protect: the child does not see it");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(c);
	umm_mm_put(m);
	check_frames_free(phys);
}

/* After fork, an mprotect round trip must not make shared pages writable. */
static void test_mprotect_after_fork(void)
{
	struct umm_mm *m = new_mm(), *c;
	uint64_t a = map_anon(m, 8, ANON);
	struct counts c0, c1;

	is(gfill(m, a, 8, 1), 0, "mprotect after fork: the parent writes");
	c = umm_fork(m);
	if (!c)
		BAIL_OUT("fork: %s", strerror(errno));
	ok(!umm_mprotect(m, a, 8 * PG, PROT_READ) &&
	   !umm_mprotect(m, a, 8 * PG, RW),
	   "mprotect after fork: the parent goes read-only and back");
	check_mm_coherent(m);
	counts(m, &c0);
	is(gfill(m, a, 8, 2), 0, "mprotect after fork: the parent writes");
	counts(m, &c1);
	ok(DELTA(c1, c0, copied) == 8 && DELTA(c1, c0, reuse) == 0,
	   "mprotect after fork: the shared pages were still copied on write");
	is(gcheck(c, a, 8, 1), 0, "mprotect after fork: the child does not "
	   "see the writes");
	ok(!umm_mprotect(m, a, 8 * PG, PROT_READ) &&
	   !umm_mprotect(m, a, 8 * PG, RW),
	   "mprotect after fork: again, now the pages are the parent's");
	counts(m, &c0);
	is(gfill(m, a, 8, 3), 0, "mprotect after fork: the parent writes");
	counts(m, &c1);
	is(DELTA(c1, c0, faults), 0, "mprotect after fork: exclusive pages "
	   "stayed writable: no fault");
	ok(!umm_mprotect(c, a, 8 * PG, PROT_READ) &&
	   !umm_mprotect(c, a, 8 * PG, RW),
	   "mprotect after fork: the child goes read-only and back");
	counts(c, &c0);
	is(gfill(c, a, 8, 4), 0, "mprotect after fork: the child writes");
	counts(c, &c1);
	ok(DELTA(c1, c0, reuse) == 8 && DELTA(c1, c0, copied) == 0,
	   "mprotect after fork: its pages, alone but not yet exclusive, "
	   "are reused on write");
	ok(!gcheck(m, a, 8, 3) && !gcheck(c, a, 8, 4),
	   "mprotect after fork: each sees its own");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(c);
	umm_mm_put(m);
	check_frames_free(phys);
}

/* What fork copies besides vmas: the break, the mmap layout. */
static void test_fork_layout(void)
{
	struct umm_mm *m = new_mm(), *c;
	long b0 = umm_brk(m, 0), b1, ma, mc;
	long st = umm_mmap(m, 0, 4 * PG, RW, ANON | MAP_GROWSDOWN, NULL, 0);
	char *mt, *ct;

	b1 = umm_brk(m, (uint64_t)b0 + 3 * PG + 5);
	ok(b1 == b0 + 3 * (long)PG + 5 && !gfill(m, (uint64_t)b0, 3, 1),
	   "layout: the parent grows its heap and writes it");
	ok(st > 0 && !gfill(m, (uint64_t)st, 4, 2),
	   "layout: and a MAP_GROWSDOWN stack");
	c = umm_fork(m);
	if (!c)
		BAIL_OUT("fork: %s", strerror(errno));
	is(umm_brk(c, 0), b1, "layout: the child's break is the parent's");
	is(gcheck(c, (uint64_t)b0, 3, 1), 0, "layout: and its heap too");
	mt = maps_text(m);
	ct = maps_text(c);
	ok(mt && ct && !strcmp(mt, ct), "layout: the same maps");
	free(mt);
	free(ct);
	ok(!gfill(c, (uint64_t)st - PG, 1, 3) &&
	   maps_has(c, (uint64_t)st - PG) && !gcheck(c, (uint64_t)st, 4, 2),
	   "layout: the child's stack grows down on a touch below it");
	ok(!maps_has(m, (uint64_t)st - PG) && !gfill(m, (uint64_t)st - PG, 1, 4) &&
	   !gcheck(c, (uint64_t)st - PG, 1, 3),
	   "layout: the parent's grows on its own");
	ma = umm_mmap(m, 0, PG, RW, ANON, NULL, 0);
	mc = umm_mmap(c, 0, PG, RW, ANON, NULL, 0);
	ok(ma > 0 && ma == mc, "layout: mmap places alike in both");
	is(umm_brk(c, (uint64_t)b0 + PG), b0 + PG, "layout: the child "
	   "shrinks its heap");
	ok(umm_brk(m, 0) == b1 && !gcheck(m, (uint64_t)b0, 3, 1),
	   "layout: the parent's is as it was");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(c);
	umm_mm_put(m);
	check_frames_free(phys);
}

static void test_force_after_fork(void)
{
	struct umm_mm *m = new_mm(), *c;
	uint64_t a = map_anon(m, 2, ANON);
	struct umm_page *pg;
	uint8_t want[PG], v = 0;
	siginfo_t si;

	is(gfill(m, a, 2, 1), 0, "force: the parent writes");
	is(umm_mprotect(m, a, 2 * PG, PROT_READ), 0, "force: read-only");
	c = umm_fork(m);
	ok(c != NULL, "force: fork");
	is(umm_gup(c, a, 1, UMM_FOLL_WRITE | UMM_FOLL_FORCE | UMM_FOLL_GET,
		   &pg), 1, "force: a forced write reference in the child");
	ok(pages_are(&pg, 1, 2, 1, 0, 1) && page_pfn(pg) != va_pfn(m, a),
	   "force: to an exclusive copy of its own");
	((uint8_t *)umm_page_addr(pg))[0] = 0x42;
	umm_put_page(pg);
	pattern(want, a / PG, 1);
	ok(!guest_read(c, a, &v) && v == 0x42, "force: the child sees the "
	   "poke");
	ok(!guest_read(m, a, &v) && v == want[0], "force: the parent does "
	   "not");
	ok(guest_access(c, a, 1, &v, &si) == SIGSEGV &&
	   si.si_code == SEGV_ACCERR, "force: the guest still cannot write");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(c);
	umm_mm_put(m);
	check_frames_free(phys);
}

/*
 * FOLL_FORCE reaches PROT_NONE memory (Linux's check_vma_flags lets it, and
 * gup_can_follow_protnone follows the pte): a forced write into a PROT_NONE
 * page shared after fork copies it, as the host kernel does for a write
 * to /proc/self/mem; a forced R/O pin unshares it. The copies stay
 * PROT_NONE to the guest.
 */
static void test_force_protnone(void)
{
	struct umm_mm *m = new_mm(), *c;
	uint64_t a = map_anon(m, 2, ANON), b = map_anon(m, 1, ANON);
	struct umm_page *pg, *cp;
	uint8_t want[PG], v = 0;
	uint32_t shared;
	siginfo_t si;

	ok(!gfill(m, a, 2, 1) && !umm_mprotect(m, a, 2 * PG, PROT_NONE) &&
	   !umm_mprotect(m, b, PG, PROT_NONE), "force none: written, then "
	   "PROT_NONE");
	c = umm_fork(m);
	if (!c)
		BAIL_OUT("fork: %s", strerror(errno));
	shared = va_pfn(m, a);
	ok(shared && va_pfn(c, a) == shared, "force none: the page is shared");
	if (!is(umm_gup(c, a, 1, UMM_FOLL_PIN | UMM_FOLL_FORCE, &cp), 1,
	   "force none: a forced R/O pin in the child"))
		BAIL_OUT("force none: cannot go on");
	ok(pages_are(&cp, 1, 2, 1, 1, 1) && page_pfn(cp) != shared,
	   "force none: of an unshared, exclusive copy");
	if (!is(umm_gup(m, a, 1, UMM_FOLL_WRITE | UMM_FOLL_FORCE | UMM_FOLL_GET,
		   &pg), 1, "force none: a forced write in the parent"))
		BAIL_OUT("force none: cannot go on");
	ok(pages_are(&pg, 1, 2, 1, 0, 1) && page_pfn(pg) == shared,
	   "force none: reuses the page the child left");
	((uint8_t *)umm_page_addr(pg))[0] = 0x42;
	umm_put_page(pg);
	if (!is(umm_gup(m, a + PG, 1,
			UMM_FOLL_WRITE | UMM_FOLL_FORCE | UMM_FOLL_GET, &pg),
		1, "force none: a forced write to a page still shared"))
		BAIL_OUT("force none: cannot go on");
	ok(pages_are(&pg, 1, 2, 1, 0, 1) && page_pfn(pg) != va_pfn(c, a + PG),
	   "force none: copies it");
	((uint8_t *)umm_page_addr(pg))[0] = 0x43;
	umm_put_page(pg);
	ok(guest_access(m, a, 0, &v, &si) == SIGSEGV &&
	   si.si_code == SEGV_ACCERR, "force none: the guest still cannot "
	   "read it");
	ok(!umm_mprotect(m, a, 2 * PG, PROT_READ) &&
	   !umm_mprotect(c, a, 2 * PG, PROT_READ), "force none: both go "
	   "PROT_READ");
	ok(!guest_read(m, a, &v) && v == 0x42 && !guest_read(m, a + PG, &v) &&
	   v == 0x43, "force none: the parent sees the pokes");
	pattern(want, a / PG, 1);
	ok(!guest_read(c, a, &v) && v == want[0], "force none: the child does "
	   "not");
	is(pin_coherent(c, a, &cp, 1), 0, "force none: the child's pin sees "
	   "what it sees");
	is(gcheck(c, a + PG, 1, 1), 0, "force none: nor the other poke");
	if (!is(umm_gup(m, b, 1, UMM_FOLL_PIN | UMM_FOLL_FORCE, &pg), 1,
	   "force none: a forced R/O pin of memory never touched"))
		BAIL_OUT("force none: cannot go on");
	ok(pages_are(&pg, 1, 2, 1, 1, 1), "force none: unshares the zero "
	   "page");
	ok(!umm_mprotect(m, b, PG, RW) && !gfill(m, b, 1, 2) &&
	   !pin_check(&pg, 1, b, 2), "force none: made writable, the guest's "
	   "write shows through the pin");
	umm_unpin(&pg, 1, false);
	umm_unpin(&cp, 1, false);
	is(umm_gup_unpin_bugs(), 0, "force none: no unpin bug");
	check_mm_coherent(m);
	check_mm_coherent(c);
	umm_mm_put(c);
	umm_mm_put(m);
	check_frames_free(phys);
}

/* Fork needs frames for pinned pages; without them it fails cleanly. */
static void test_fork_enomem(void)
{
	struct umm_phys *small = umm_phys_new(40 * PG);
	struct umm_mm *m = small ? umm_mm_new(small, TASK_SIZE) : NULL, *c;
	struct umm_page *pg[16];
	uint64_t a, nr_free;
	long r;

	if (!m)
		BAIL_OUT("a small phys: %s", strerror(errno));
	r = umm_mmap(m, 0, 32 * PG, RW, ANON, NULL, 0);
	a = (uint64_t)r;
	ok(r > 0 && !gfill(m, a, 32, 1), "fork enomem: 32 of %llu frames "
	   "written", (unsigned long long)umm_phys_frames_total(small));
	is(umm_gup(m, a + 16 * PG, 16, UMM_FOLL_PIN, pg), 16,
	   "fork enomem: 16 pinned");
	nr_free = umm_phys_frames_free(small);
	errno = 0;
	c = umm_fork(m);
	ok(!c && errno == ENOMEM, "fork enomem: fork fails with ENOMEM");
	is(umm_phys_frames_free(small), nr_free,
	   "fork enomem: and gives back what it took");
	ok(pages_are(pg, 16, 2, 1, 1, 1), "fork enomem: the pinned pages "
	   "are as they were");
	is(gfill(m, a, 32, 2), 0, "fork enomem: the parent writes on");
	is(pin_check(pg, 16, a + 16 * PG, 2), 0,
	   "fork enomem: the pins see it");
	is(umm_phys_frames_free(small), nr_free,
	   "fork enomem: reusing its pages");
	umm_unpin(pg, 16, false);
	is(umm_gup_unpin_bugs(), 0, "fork enomem: no unpin bug");
	check_mm_coherent(m);
	umm_mm_put(m);
	check_frames_free(small);
	umm_phys_put(small);
}

int main(void)
{
	phys = umm_phys_new(64ULL << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	test_smoke();
	test_matrix();
	test_dontfork();
	test_wipeonfork();
	test_shared_anon();
	test_shmem();
	test_private_file();
	test_many_vmas();
	test_fork_chain();
	test_zero_page_fork();
	test_reuse();
	test_wrprotect();
	test_mprotect_after_fork();
	test_fork_layout();
	test_force_after_fork();
	test_force_protnone();
	test_fork_enomem();
	is(umm_gup_unpin_bugs(), 0, "no unpin bug in the whole run");
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
