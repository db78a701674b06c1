// SPDX-License-Identifier: MIT
/*
 * The differential test: random sequences of guest calls, run natively in a
 * fresh child process and on umm at the same guest addresses, compared after
 * every step. The host kernel is the oracle.
 *
 * A sequence is generated from its seed. Its steps are mmap (private and
 * shared, anonymous and of two shmem files, A and B: memfds natively; hints,
 * MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE, every protection), munmap,
 * mprotect, madvise, truncation of a file, remap_file_pages, mremap, reads
 * and writes of one byte, a scan (one byte of every page of the region) and
 * a fork: the child scans, writes, and its layout is compared at once, or
 * it is kept and scanned beside the parent at the scans that follow (so
 * that what the parent does after the fork is seen not to reach it).
 * umm's fault-around is 16, 1 or 64, chosen by the seed.
 * Every address lies in a region at REGION, the same numbers natively and
 * in the guest; the child checks that the region is free in its address
 * space (umm's windows lie elsewhere) before it starts.
 *
 * Compared after each step: the result (value or -errno; an mmap result
 * outside the region compares as "elsewhere"), the byte read or the signal
 * with its si_code and si_addr, and, after a call, the layout of the region:
 * /proc/self/maps against umm_maps, normalised to start-end, permissions,
 * private or shared, and the backing ('a' private anonymous, 'z' shared
 * anonymous, 'F' a file, with its offset), line by line: umm merges vmas
 * as Linux does (anon_vma ancestry, VM_ACCOUNT), so the vma boundaries
 * must agree too. Once a remap_file_pages succeeded, neighbouring lines
 * that one mapping could have been are coalesced, and file offsets are no
 * longer compared: the host (4.0+) emulates a nonlinear vma with one vma
 * per run, umm keeps one nonlinear vma (--strict-layout: raw lines even
 * then). Contents are compared by the reads instead.
 * Two artefacts of that emulation are taken out: see nat_rfp() (the host
 * drops madvise flags) and known_difference() (it remaps over vmas).
 *
 * After each step umm_mm_check holds (every host mapping agrees with its
 * pte), and once the mm and its files are gone every frame is free.
 *
 * A divergence prints the seed and both sides, and the sequence shrinks
 * (steps are dropped while it still diverges at a step of the same kind)
 * to a reproducer printed as C-like lines.
 *
 * Options: --seqs N (env DIFF_SEQS), --seed S (first seed; env DIFF_SEED),
 * --steps N, --one SEED (replay one sequence, verbose), --kinds
 * +mremap,-fork,... (turn kinds on and off), --budget N (the host VMA
 * budget), --no-check (umm_mm_check only at the end of a sequence, not
 * after every step), --strict-layout, -v.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_NONBLOCK
#define MAP_NONBLOCK 0x10000
#endif
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

#define REGION	     0x10000000ULL /* the guest addresses, natively too */
#define REGION_SIZE  (64ULL << 20) /* reserved natively, compared */
#define NPG	     64 /* pages the steps aim at */
#define MAXLEN	     16 /* pages per call, at most */
#define NSCAN	     (NPG + MAXLEN) /* pages a scan reads */
#define FILE_PAGES   32
#define TASK_SIZE    (1ULL << 32)
#define MAX_STEPS    200
#define LAYOUT_MAX   4096
#define ELSEWHERE    (1L << 62) /* an address outside the region */
#define SEED_A	     0x11
#define SEED_B	     0x55
#define SMALL_BUDGET 64 /* host VMAs: resets come often */

/* ---- kinds of steps ---- */

enum kind {
	K_MMAP,
	K_MUNMAP,
	K_MPROTECT,
	K_MADVISE,
	K_READ,
	K_WRITE,
	K_TRUNCATE,
	K_SCAN,
	K_FORK,
	K_RFP,
	K_MREMAP,
	/* variants of the kinds above, chosen inside them */
	K_MADV_REMOVE,
	K_MADV_POPULATE,
	K_RFP_BIGOFF,
	K_RFP_SPAN,
	K_RFP_RESET,
	K_RFP_MREMAP,
	NR_KINDS
};

/*
 * Default on: what umm implements and agrees on. A kind whose call umm
 * does not implement (-ENOSYS; -EINVAL for advice) is skipped with a note
 * (umm_has). rfp_span is a known difference, off: see
 * known_difference(). rfp_bigoff (file pages past 2^32) is off: umm's file
 * ptes hold 32 bits of pgoff, -EOVERFLOW where the host maps (documented).
 * rfp_reset: remap_file_pages in the third of the sequences run under a
 * small host VMA budget (host resets); on since a remapped page no longer
 * shows its old contents after a reset (_PAGE_MAYHOST); -rfp_reset keeps
 * remap_file_pages out of that third.
 * rfp_mremap: remap_file_pages in the same sequence as mremap and
 * MADV_REMOVE; off, so that a sequence has one or the other: the host
 * emulates a nonlinear vma with many linear ones, which mremap (-EFAULT
 * across them; a move keeps each one's offsets) and MADV_REMOVE (allowed;
 * Linux before 4.0 refused a nonlinear vma, as umm does) see otherwise
 * than umm's one nonlinear vma.
 */
static struct kind_info {
	const char *name;
	bool on;
	int weight;
} kinds[NR_KINDS] = {
	[K_MMAP] = {"mmap", true, 20},
	[K_MUNMAP] = {"munmap", true, 5},
	[K_MPROTECT] = {"mprotect", true, 10},
	[K_MADVISE] = {"madvise", true, 7},
	[K_READ] = {"read", true, 16},
	[K_WRITE] = {"write", true, 14},
	[K_TRUNCATE] = {"truncate", true, 3},
	[K_SCAN] = {"scan", true, 2},
	[K_FORK] = {"fork", true, 2},
	[K_RFP] = {"remap_file_pages", true, 7},
	[K_MREMAP] = {"mremap", true, 10},
	[K_MADV_REMOVE] = {"madv_remove", true, 0},
	[K_MADV_POPULATE] = {"madv_populate", true, 0},
	[K_RFP_BIGOFF] = {"rfp_bigoff", false, 0},
	[K_RFP_SPAN] = {"rfp_span", false, 0},
	[K_RFP_RESET] = {"rfp_reset", true, 0},
	[K_RFP_MREMAP] = {"rfp_mremap", false, 0},
};

struct step {
	enum kind kind;
	uint64_t addr, len, len2, addr2, off;
	int prot, flags, arg; /* arg: advice, file (0 A, 1 B), byte, offset */
};

/* What one side saw at one step. */
struct res {
	long ret; /* call result; a read's byte */
	int sig, code; /* an access's signal and si_code, or 0 */
	long sigoff; /* si_addr - the address accessed */
	bool has_layout;
	int16_t scan[NSCAN]; /* scan, fork: each page read */
	int16_t cwrite[NSCAN]; /* fork: each page written in the child */
	long ccheck; /* fork, scan: umm_mm_check of the child (umm) */
	bool has_kscan; /* scan: a kept fork child was scanned too */
	int16_t kscan[NSCAN]; /* scan: each page the kept child read */
	bool span; /* rfp: the range is not inside one vma (umm) */
	long mmcheck; /* umm_mm_check after the step (umm, --check) */
	char layout[LAYOUT_MAX];
	char clayout[LAYOUT_MAX]; /* fork: the child's */
};

/* The native side's log: shared with the child that runs the sequence. */
struct native_log {
	int nr_done;
	int failed; /* the child could not start: why */
	char why[256];
	struct res res[MAX_STEPS];
};

static struct umm_phys *phys;
static struct native_log *nlog;
static struct res *ures;
static int verbose, strict_layout, check_each = 1, nr_steps = 60;
static unsigned long nr_incoherent, nr_leaky;
static uint64_t cur_seed;
static volatile int umm_at_step;
static unsigned long budget;

/* Statistics, to show the sequences reach what they aim at. */
static struct {
	unsigned long steps, calls_ok, calls_err, reads, signals, forks, rfp_ok;
	unsigned long mmaps_ok, seqs, kscans, resets, mremap_ok;
} stats;

/* ---- the generator ---- */

static uint64_t rng;

static uint64_t rnd64(void)
{
	/* splitmix64 */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rnd(unsigned int n)
{
	return (unsigned int)(rnd64() % n);
}

/*
 * Where earlier mmaps of the sequence went (as generated, whether or not
 * they succeed): later steps aim there more often than not, so that they
 * meet mappings rather than holes.
 */
static struct {
	uint64_t addr, len;
	const struct step *step;
} gen_maps[MAX_STEPS];
static unsigned int gen_nr_maps;

static uint64_t gen_page(void)
{
	unsigned int i;

	if (!gen_nr_maps || rnd(3) == 0)
		return REGION + (uint64_t)rnd(NPG) * PG;
	/* the latest mmaps more often: they are more likely still there */
	i = rnd(2) ? rnd(gen_nr_maps)
		   : gen_nr_maps - 1 - rnd(gen_nr_maps < 4 ? gen_nr_maps : 4);
	return (gen_maps[i].addr & ~(PG - 1)) +
	       (uint64_t)rnd((unsigned int)(gen_maps[i].len / PG) + 2) * PG;
}

/* Kinds left out of this sequence (see rfp_mremap). */
static bool seq_off[NR_KINDS];

static bool kind_on(enum kind k)
{
	return kinds[k].on && !seq_off[k];
}

static uint64_t gen_addr(void)
{
	uint64_t a = gen_page();

	if (!rnd(40))
		a += 1 + rnd(PG - 1);
	return a;
}

static uint64_t gen_len(unsigned int max_pages)
{
	unsigned int r = rnd(40);

	if (!r)
		return 0;
	if (r == 1)
		return (1 + rnd(max_pages)) * PG - 1 - rnd(PG - 1);
	if (r < 25)
		return (1 + rnd(4)) * PG;
	return (1 + rnd(max_pages)) * PG;
}

static int gen_prot(void)
{
	static const int prots[] = {
		PROT_NONE,
		PROT_READ,
		PROT_READ,
		PROT_READ | PROT_WRITE,
		PROT_READ | PROT_WRITE,
		PROT_READ | PROT_WRITE,
		PROT_READ | PROT_WRITE,
		PROT_READ | PROT_EXEC,
		PROT_WRITE,
		PROT_EXEC,
		PROT_READ | PROT_WRITE | PROT_EXEC,
	};

	return prots[rnd(sizeof(prots) / sizeof(prots[0]))];
}

/* A byte offset in a page: the edges and the middle, mostly. */
static uint64_t gen_byte(void)
{
	static const uint64_t offs[] = {0, 1, 7, 2048, 4095};

	return rnd(4) ? offs[rnd(5)] : rnd(PG);
}

#define PAGE_UP(x) (((x) + PG - 1) & ~(PG - 1))

/*
 * brk-like growth: the mapping an earlier mmap made, extended by a new one
 * right after its end, of the same kind (and the file's next pages), as a
 * heap grows: it should merge.
 */
static bool gen_grow(struct step *s)
{
	const struct step *m;

	if (!gen_nr_maps || rnd(6))
		return false;
	m = gen_maps[gen_nr_maps - 1 - rnd(gen_nr_maps < 3 ? gen_nr_maps : 3)]
		    .step;
	*s = *m;
	s->addr = PAGE_UP(m->addr + m->len);
	s->len = (1 + rnd(4)) * PG;
	s->off = m->arg < 0 ? 0 : m->off + PAGE_UP(m->len);
	s->flags =
		(m->flags & ~(MAP_FIXED | MAP_POPULATE)) | MAP_FIXED_NOREPLACE;
	return true;
}

/* brk-like shrinking: the last pages of what an earlier mmap made. */
static bool gen_shrink(struct step *s)
{
	const struct step *m;
	uint64_t end, nr;

	if (!gen_nr_maps || rnd(4))
		return false;
	m = gen_maps[gen_nr_maps - 1 - rnd(gen_nr_maps < 3 ? gen_nr_maps : 3)]
		    .step;
	end = PAGE_UP(m->addr + m->len);
	nr = 1 + rnd((unsigned int)(PAGE_UP(m->len) / PG) + 1);
	s->addr = end - nr * PG;
	s->len = nr * PG;
	return true;
}

static void gen_mmap(struct step *s)
{
	static const int place[] = {0, MAP_FIXED, MAP_FIXED,
				    MAP_FIXED_NOREPLACE};
	unsigned int type = rnd(8);

	gen_maps[gen_nr_maps].step = s;
	if (gen_grow(s)) {
		gen_maps[gen_nr_maps].addr = s->addr;
		gen_maps[gen_nr_maps++].len = s->len;
		return;
	}
	s->addr = gen_addr();
	s->len = gen_len(MAXLEN);
	s->prot = gen_prot();
	s->flags = place[rnd(4)];
	if (!rnd(8))
		s->flags |= MAP_POPULATE;
	/* 0-2 private anonymous, 3 shared anonymous, 4-7 a file */
	if (type < 4) {
		s->flags |= type < 3 ? MAP_PRIVATE | MAP_ANONYMOUS
				     : MAP_SHARED | MAP_ANONYMOUS;
		s->arg = -1;
		gen_maps[gen_nr_maps].addr = s->addr;
		gen_maps[gen_nr_maps++].len = s->len;
		return;
	}
	s->flags |= (type & 1) ? MAP_PRIVATE : MAP_SHARED;
	s->arg = rnd(2);
	s->off = (uint64_t)rnd(FILE_PAGES + 4) * PG;
	if (!rnd(40))
		s->off += 1 + rnd(PG - 1);
	gen_maps[gen_nr_maps].addr = s->addr;
	gen_maps[gen_nr_maps++].len = s->len;
}

static int gen_advice(void)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_DONTNEED,	MADV_DONTNEED,	 MADV_DONTFORK,
		MADV_DOFORK,   MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_NORMAL,
		MADV_RANDOM,   MADV_SEQUENTIAL, MADV_WILLNEED,
	};

	if (kind_on(K_MADV_REMOVE) && !rnd(6))
		return MADV_REMOVE;
	if (kinds[K_MADV_POPULATE].on && !rnd(6))
		return rnd(2) ? MADV_POPULATE_READ : MADV_POPULATE_WRITE;
	return advice[rnd(sizeof(advice) / sizeof(advice[0]))];
}

static void gen_rfp(struct step *s)
{
	s->addr = gen_addr();
	s->len = gen_len(8);
	s->prot = rnd(30) ? 0 : PROT_READ;
	s->off = rnd(FILE_PAGES + 4);
	if (kinds[K_RFP_BIGOFF].on && !rnd(5))
		s->off = (1ULL << 32) + rnd(64);
	s->flags = rnd(3) ? 0 : MAP_NONBLOCK;
}

static void gen_mremap(struct step *s)
{
	static const int fl[] = {
		0,
		0,
		MREMAP_MAYMOVE,
		MREMAP_MAYMOVE,
		MREMAP_MAYMOVE | MREMAP_FIXED,
		MREMAP_MAYMOVE | MREMAP_FIXED,
		MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
		MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		MREMAP_FIXED,
	};
	const struct step *m;

	s->flags = fl[rnd(sizeof(fl) / sizeof(fl[0]))];
	s->len2 = gen_len(MAXLEN);
	s->addr2 = gen_addr();
	if (!gen_nr_maps || rnd(3) == 0) {
		s->addr = gen_addr();
		s->len = rnd(20) ? gen_len(MAXLEN) : 0;
		return;
	}
	/* mostly what an earlier mmap made, whole or its first pages */
	m = gen_maps[gen_nr_maps - 1 - rnd(gen_nr_maps < 4 ? gen_nr_maps : 4)]
		    .step;
	s->addr = m->addr & ~(PG - 1);
	s->len = rnd(3) ? PAGE_UP(m->len)
			: (1 + rnd((unsigned int)(PAGE_UP(m->len) / PG) + 1)) *
				  PG;
}

static enum kind gen_kind(void)
{
	int total = 0, r, k;

	for (k = 0; k < NR_KINDS; k++)
		total += kind_on((enum kind)k) ? kinds[k].weight : 0;
	r = (int)rnd((unsigned int)total);
	for (k = 0; k < NR_KINDS; k++) {
		if (!kind_on((enum kind)k))
			continue;
		r -= kinds[k].weight;
		if (r < 0)
			break;
	}
	return (enum kind)k;
}

static void gen_step(struct step *s)
{
	memset(s, 0, sizeof(*s));
	s->kind = gen_kind();
	switch (s->kind) {
	case K_MMAP:
		gen_mmap(s);
		break;
	case K_MUNMAP:
		if (gen_shrink(s))
			break;
		s->addr = gen_addr();
		s->len = gen_len(MAXLEN);
		break;
	case K_MPROTECT:
		s->addr = gen_addr();
		s->len = gen_len(MAXLEN);
		s->prot = gen_prot();
		break;
	case K_MADVISE:
		s->addr = gen_addr();
		s->len = gen_len(MAXLEN);
		s->arg = gen_advice();
		break;
	case K_READ:
	case K_WRITE:
		s->addr = (rnd(8) ? gen_page() : REGION + rnd(NSCAN) * PG) +
			  gen_byte();
		s->arg = (int)rnd(256);
		break;
	case K_TRUNCATE:
		s->arg = rnd(2);
		s->len = (uint64_t)rnd(FILE_PAGES + 8) * PG;
		if (!rnd(4))
			s->len += rnd(PG);
		break;
	case K_SCAN:
	case K_FORK:
		s->off = gen_byte();
		s->arg = (int)rnd(256);
		/* a child kept, to be scanned beside the parent later */
		s->flags = s->kind == K_FORK && rnd(2);
		break;
	case K_RFP:
		gen_rfp(s);
		break;
	case K_MREMAP:
		gen_mremap(s);
		break;
	default:
		BAIL_OUT("kind %d", s->kind);
	}
}

/* umm's fault-around for the sequence: the default 16 mostly, or 1 or 64. */
static unsigned int seq_fault_around = 16;

static int gen_seq(uint64_t seed, struct step *steps)
{
	static const unsigned int fa[] = {16, 16, 1, 64};
	int i;

	rng = seed * 0x2545f4914f6cdd1dULL + 1;
	gen_nr_maps = 0;
	seq_fault_around = fa[rnd(4)];
	memset(seq_off, 0, sizeof(seq_off));
	if (kinds[K_RFP].on && !kinds[K_RFP_MREMAP].on &&
	    (kinds[K_MREMAP].on || kinds[K_MADV_REMOVE].on)) {
		if (rnd(2))
			seq_off[K_RFP] = true;
		else
			seq_off[K_MREMAP] = seq_off[K_MADV_REMOVE] = true;
	}
	for (i = 0; i < nr_steps; i++) {
		gen_step(&steps[i]);
		/* a few mappings first, for the rest to meet */
		while (i < 3 && kinds[K_MMAP].on && steps[i].kind != K_MMAP)
			gen_step(&steps[i]);
	}
	/* Every sequence ends with a look at every page. */
	memset(&steps[i], 0, sizeof(steps[i]));
	steps[i].kind = K_SCAN;
	return i + 1;
}

static bool changes_layout(enum kind k)
{
	return k != K_READ && k != K_WRITE && k != K_SCAN;
}

/* ---- layouts ---- */

struct vline {
	uint64_t start, end, off, dev, ino;
	char perms[5];
	char cls;
};

/* Parse one maps line; false for a malformed one. */
static bool parse_line(const char *p, struct vline *v, const char **next)
{
	char *e;
	unsigned long maj, min;
	const char *nl = strchr(p, '\n');
	const char *name;

	*next = nl ? nl + 1 : p + strlen(p);
	v->start = strtoull(p, &e, 16);
	if (*e != '-')
		return false;
	v->end = strtoull(e + 1, &e, 16);
	if (*e != ' ')
		return false;
	memcpy(v->perms, e + 1, 4);
	v->perms[4] = 0;
	v->off = strtoull(e + 6, &e, 16);
	maj = strtoul(e + 1, &e, 16);
	min = strtoul(e + 1, &e, 16);
	v->dev = maj << 8 | min;
	v->ino = strtoull(e + 1, &e, 10);
	name = e;
	while (*name == ' ')
		name++;
	if (!strncmp(name, "/dev/zero", 9))
		v->cls = 'z';
	else if (!strncmp(name, "/memfd:", 7))
		v->cls = 'F';
	else if (!v->ino && *name == '\n')
		v->cls = 'a';
	else
		v->cls = '?';
	return true;
}

static size_t emit_line(const struct vline *v, bool nonlinear, char *out,
			size_t n)
{
	int w;

	if (n >= LAYOUT_MAX - 1)
		return n;
	if (v->cls == 'a' || nonlinear)
		w = snprintf(out + n, LAYOUT_MAX - n,
			     "%" PRIx64 "-%" PRIx64 " %s %c\n", v->start,
			     v->end, v->perms, v->cls);
	else
		w = snprintf(out + n, LAYOUT_MAX - n,
			     "%" PRIx64 "-%" PRIx64 " %s %c@%" PRIx64 "\n",
			     v->start, v->end, v->perms, v->cls, v->off);
	n += (size_t)w;
	return n < LAYOUT_MAX ? n : LAYOUT_MAX - 1;
}

/* Could @a and the line after it, @b, be one mapping? */
static bool mergeable(const struct vline *a, const struct vline *b,
		      bool nonlinear)
{
	return a->end == b->start && !strcmp(a->perms, b->perms) &&
	       a->cls == b->cls &&
	       (a->cls == 'a' || nonlinear ||
		a->off + (a->end - a->start) == b->off);
}

/*
 * The region's lines of a maps text, normalised into @out. Files are 'F'
 * whichever they are (umm_maps shows no inode for shmem files; the reads
 * tell A from B). @nonlinear: offsets are not compared (and pieces of a
 * file coalesce whatever their offsets).
 */
static void normalise_layout(const char *maps, bool nonlinear, char *out)
{
	struct vline cur = {0}, v;
	const char *p, *next;
	bool have = false;
	size_t n = 0;

	out[0] = 0;
	for (p = maps; *p; p = next) {
		if (!parse_line(p, &v, &next))
			continue;
		if (v.end <= REGION || v.start >= REGION + REGION_SIZE)
			continue;
		if (have && nonlinear && !strict_layout &&
		    mergeable(&cur, &v, nonlinear)) {
			cur.end = v.end;
			continue;
		}
		if (have)
			n = emit_line(&cur, nonlinear, out, n);
		cur = v;
		have = true;
	}
	if (have)
		emit_line(&cur, nonlinear, out, n);
}

/* ---- the native side: runs in a child, raw system calls ---- */

static long sys_ret(long r)
{
	return r == -1 ? -errno : r;
}

static long in_region(long r)
{
	if (r < 0)
		return r;
	if ((uint64_t)r < REGION || (uint64_t)r >= REGION + REGION_SIZE)
		return ELSEWHERE;
	return r;
}

static sigjmp_buf nat_jmp;
static volatile int nat_sig, nat_code;
static volatile uint64_t nat_addr;

static void nat_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	nat_sig = sig;
	nat_code = si->si_code;
	nat_addr = (uint64_t)si->si_addr;
	siglongjmp(nat_jmp, 1);
}

/* One byte at @addr: read (or write @val); the byte, or -1 and nat_sig. */
static int nat_touch(uint64_t addr, int write, uint8_t val)
{
	volatile uint8_t *p = (volatile uint8_t *)addr;

	nat_sig = 0;
	if (sigsetjmp(nat_jmp, 1))
		return -1;
	if (write) {
		*p = val;
		return 0;
	}
	return *p;
}

static int16_t encode_access(int r, int sig, int code, uint64_t siaddr,
			     uint64_t addr)
{
	if (r >= 0)
		return (int16_t)r;
	return (int16_t)(0x1000 + sig * 16 + code +
			 (siaddr != addr ? 0x4000 : 0));
}

static char nat_maps[1 << 18];

static void nat_layout(bool nonlinear, char *out)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	size_t n = 0;
	ssize_t r;

	if (fd < 0) {
		strcpy(out, "(no maps)");
		return;
	}
	while (n < sizeof(nat_maps) - 1 &&
	       (r = read(fd, nat_maps + n, sizeof(nat_maps) - 1 - n)) > 0)
		n += (size_t)r;
	nat_maps[n] = 0;
	close(fd);
	normalise_layout(nat_maps, nonlinear, out);
}

static void nat_scan(uint64_t off, int16_t *out, int write, uint8_t val)
{
	unsigned int i;

	for (i = 0; i < NSCAN; i++) {
		uint64_t a = REGION + i * PG + off;
		int r = nat_touch(a, write, val);

		out[i] = encode_access(r, nat_sig, nat_code, nat_addr, a);
	}
}

/*
 * A fork child kept alive (K_FORK with flags 1): it reports its layout,
 * then scans itself whenever the parent's sequence scans, until the pipe
 * closes. nat_kept_cmd: the parent's end, or -1.
 */
static int nat_kept_cmd = -1, nat_kept_ack = -1;
static pid_t nat_kept_pid;

static void nat_kept_drop(void)
{
	int status;

	if (nat_kept_cmd < 0)
		return;
	close(nat_kept_cmd);
	close(nat_kept_ack);
	waitpid(nat_kept_pid, &status, 0);
	nat_kept_cmd = nat_kept_ack = -1;
}

static void nat_kept_scan(uint64_t off, struct res *r)
{
	uint64_t cmd[2] = {off, (uint64_t)(r - nlog->res)};
	char c;

	if (nat_kept_cmd < 0)
		return;
	if (write(nat_kept_cmd, cmd, sizeof(cmd)) != sizeof(cmd) ||
	    read(nat_kept_ack, &c, 1) != 1)
		r->ret = -1;
}

static void nat_kept_loop(int cmdfd, int ackfd)
{
	uint64_t cmd[2];

	while (read(cmdfd, cmd, sizeof(cmd)) == sizeof(cmd)) {
		struct res *r = &nlog->res[cmd[1]];

		nat_scan(cmd[0], r->kscan, 0, 0);
		if (write(ackfd, "k", 1) != 1)
			break;
	}
	_exit(0);
}

static long nat_fork_keep(struct res *r, bool nonlinear)
{
	int cmd[2], ack[2];
	pid_t pid;
	char c;

	nat_kept_drop();
	if (pipe(cmd) || pipe(ack))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		close(cmd[1]);
		close(ack[0]);
		nat_layout(nonlinear, r->clayout);
		if (write(ack[1], "k", 1) != 1)
			_exit(1);
		nat_kept_loop(cmd[0], ack[1]);
	}
	close(cmd[0]);
	close(ack[1]);
	nat_kept_cmd = cmd[1];
	nat_kept_ack = ack[0];
	nat_kept_pid = pid;
	return read(nat_kept_ack, &c, 1) == 1 ? 0 : -1;
}

static void nat_fork(const struct step *s, struct res *r, bool nonlinear)
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		r->ret = -errno;
		return;
	}
	if (!pid) {
		nat_scan(s->off, r->scan, 0, 0);
		nat_scan(s->off, r->cwrite, 1, (uint8_t)s->arg);
		nat_layout(nonlinear, r->clayout);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	r->ret = WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/*
 * The host's remap_file_pages (4.0+) is an mmap over the range: the new vma
 * has lost the madvise flags of the old one, and a later remap over it and
 * its neighbour fails for their different flags. Linux before 4.0 kept
 * them, and so does umm. The flags the sequences set are given back:
 * VM_DONTCOPY (MADV_DONTFORK, "dc" in smaps), VM_SEQ_READ ("sr") and
 * VM_RAND_READ ("rr").
 */
static const struct {
	const char *flag;
	int advice;
} nat_kept[] = {
	{" dc", MADV_DONTFORK},
	{" sr", MADV_SEQUENTIAL},
	{" rr", MADV_RANDOM},
};

#define NR_KEPT (sizeof(nat_kept) / sizeof(nat_kept[0]))

struct kept {
	uint64_t start, end;
	int advice;
};

static char nat_smaps[1 << 20];

/* Where [start, end) has the flags nat_kept lists: up to @max ranges. */
static unsigned int nat_kept_ranges(uint64_t start, uint64_t end,
				    struct kept *out, unsigned int max)
{
	int fd = open("/proc/self/smaps", O_RDONLY);
	uint64_t vs = 0, ve = 0;
	unsigned int nr = 0, k;
	const char *p, *nl;
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return 0;
	while (n < sizeof(nat_smaps) - 1 &&
	       (r = read(fd, nat_smaps + n, sizeof(nat_smaps) - 1 - n)) > 0)
		n += (size_t)r;
	nat_smaps[n] = 0;
	close(fd);
	for (p = nat_smaps; *p; p = nl ? nl + 1 : p + strlen(p)) {
		char *e;
		uint64_t a = strtoull(p, &e, 16);

		nl = strchr(p, '\n');
		if (*e == '-') {
			vs = a;
			ve = strtoull(e + 1, NULL, 16);
			continue;
		}
		if (strncmp(p, "VmFlags:", 8) || ve <= start || vs >= end)
			continue;
		for (k = 0; k < NR_KEPT && nr < max; k++) {
			e = strstr(p, nat_kept[k].flag);
			if (!e || (nl && e > nl))
				continue;
			out[nr].start = vs > start ? vs : start;
			out[nr].end = ve < end ? ve : end;
			out[nr++].advice = nat_kept[k].advice;
		}
	}
	return nr;
}

static long nat_rfp(const struct step *s)
{
	static struct kept kept[NSCAN * NR_KEPT];
	uint64_t start = s->addr & ~(PG - 1);
	unsigned int nr = nat_kept_ranges(start, start + (s->len & ~(PG - 1)),
					  kept, NSCAN * NR_KEPT),
		     i;
	long r = sys_ret(syscall(SYS_remap_file_pages, s->addr, s->len,
				 (long)s->prot, s->off, (long)s->flags));

	for (i = 0; !r && i < nr; i++)
		syscall(SYS_madvise, kept[i].start, kept[i].end - kept[i].start,
			(long)kept[i].advice);
	return r;
}

static long nat_step(const struct step *s, struct res *r, const int fd[2],
		     bool nonlinear)
{
	int t;

	switch (s->kind) {
	case K_MMAP:
		return in_region(sys_ret(
			syscall(SYS_mmap, s->addr, s->len, (long)s->prot,
				(long)s->flags,
				(long)(s->arg < 0 ? -1 : fd[s->arg]), s->off)));
	case K_MUNMAP:
		return sys_ret(syscall(SYS_munmap, s->addr, s->len));
	case K_MPROTECT:
		return sys_ret(
			syscall(SYS_mprotect, s->addr, s->len, (long)s->prot));
	case K_MADVISE:
		return sys_ret(
			syscall(SYS_madvise, s->addr, s->len, (long)s->arg));
	case K_READ:
	case K_WRITE:
		t = nat_touch(s->addr, s->kind == K_WRITE, (uint8_t)s->arg);
		if (t < 0) {
			r->sig = nat_sig;
			r->code = nat_code;
			r->sigoff = (long)(nat_addr - s->addr);
			return 0;
		}
		return t;
	case K_TRUNCATE:
		return sys_ret(syscall(SYS_ftruncate, fd[s->arg], s->len));
	case K_SCAN:
		nat_scan(s->off, r->scan, 0, 0);
		r->has_kscan = nat_kept_cmd >= 0;
		nat_kept_scan(s->off, r);
		return r->ret;
	case K_FORK:
		if (s->flags)
			return nat_fork_keep(r, nonlinear);
		nat_fork(s, r, nonlinear);
		return r->ret;
	case K_RFP:
		return nat_rfp(s);
	case K_MREMAP:
		return in_region(
			sys_ret(syscall(SYS_mremap, s->addr, s->len, s->len2,
					(long)s->flags, s->addr2)));
	default:
		return -ENOSYS;
	}
}

/* A file of FILE_PAGES filled with guest_fill's pattern for @seed. */
static int nat_file(const char *name, unsigned int seed)
{
	static uint8_t buf[FILE_PAGES * PG];
	int fd = (int)syscall(SYS_memfd_create, name, 0);
	uint64_t i;

	if (fd < 0)
		return -1;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)((i >> 12) * 31 + (i & 0xfff) * 7 + seed);
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return -1;
	return fd;
}

static void nat_child(const struct step *steps, int n)
{
	struct sigaction sa = {.sa_sigaction = nat_handler,
			       .sa_flags = SA_SIGINFO | SA_NODEFER};
	int fd[2], i;
	bool nonlinear = false;
	long r;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	/* The region must be free here: no umm window, nothing else. */
	r = sys_ret(syscall(SYS_mmap, REGION, REGION_SIZE, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			    -1, 0));
	if (r != (long)REGION) {
		snprintf(nlog->why, sizeof(nlog->why),
			 "the region %#llx+%#llx is not free natively: %ld",
			 REGION, REGION_SIZE, r);
		nlog->failed = 1;
		_exit(1);
	}
	syscall(SYS_munmap, REGION, REGION_SIZE);
	fd[0] = nat_file("A", SEED_A);
	fd[1] = nat_file("B", SEED_B);
	if (fd[0] < 0 || fd[1] < 0) {
		snprintf(nlog->why, sizeof(nlog->why), "memfd: %s",
			 strerror(errno));
		nlog->failed = 1;
		_exit(1);
	}
	for (i = 0; i < n; i++) {
		struct res *res = &nlog->res[i];

		res->sig = res->code = 0;
		res->sigoff = 0;
		res->ret = 0;
		res->has_kscan = false;
		res->ret = nat_step(&steps[i], res, fd, nonlinear);
		if (steps[i].kind == K_RFP && res->ret == 0)
			nonlinear = true;
		res->has_layout = changes_layout(steps[i].kind);
		if (res->has_layout)
			nat_layout(nonlinear, res->layout);
		nlog->nr_done = i + 1;
	}
	nat_kept_drop();
	_exit(0);
}

/* Run @steps natively: the number of steps done (nlog->res). */
static int run_native(const struct step *steps, int n)
{
	int status;
	pid_t pid;

	nlog->nr_done = 0;
	nlog->failed = 0;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		BAIL_OUT("fork: %s", strerror(errno));
	if (!pid)
		nat_child(steps, n);
	if (waitpid(pid, &status, 0) != pid)
		BAIL_OUT("waitpid: %s", strerror(errno));
	if (nlog->failed)
		BAIL_OUT("native side: %s", nlog->why);
	return nlog->nr_done;
}

/* ---- the umm side ---- */

static char umm_maps_buf[1 << 16];

static void umm_layout(struct umm_mm *mm, bool nonlinear, char *out)
{
	FILE *f = fmemopen(umm_maps_buf, sizeof(umm_maps_buf), "w");

	if (!f)
		BAIL_OUT("fmemopen");
	if (umm_maps(mm, f))
		strcpy(umm_maps_buf, "(umm_maps failed)");
	fputc(0, f);
	fclose(f);
	umm_maps_buf[sizeof(umm_maps_buf) - 1] = 0;
	normalise_layout(umm_maps_buf, nonlinear, out);
}

static void umm_scan(struct umm_mm *mm, uint64_t off, int16_t *out, int write,
		     uint8_t val)
{
	unsigned int i;

	for (i = 0; i < NSCAN; i++) {
		uint64_t a = REGION + i * PG + off;
		uint8_t v = val;
		siginfo_t si;
		int sig = guest_access(mm, a, write, &v, &si);

		out[i] = sig ? encode_access(-1, sig, si.si_code,
					     (uint64_t)si.si_addr, a)
			     : (int16_t)(write ? 0 : v);
	}
}

/* Fill file @f from the guest (mapped outside the region, then unmapped). */
static void umm_file_setup(struct umm_mm *mm, struct umm_file *f,
			   unsigned int seed)
{
	long a = umm_mmap(mm, 0, FILE_PAGES * PG, PROT_READ | PROT_WRITE,
			  MAP_SHARED, f, 0);

	if (a < 0 || in_region(a) != ELSEWHERE)
		BAIL_OUT("mapping a file to fill it: %ld", a);
	if (guest_fill(mm, (uint64_t)a, FILE_PAGES * PG, seed) ||
	    umm_munmap(mm, (uint64_t)a, FILE_PAGES * PG))
		BAIL_OUT("filling a file");
}

struct umm_side {
	struct umm_mm *mm;
	struct umm_file *file[2];
	struct umm_mm *kept; /* a fork child kept (K_FORK with flags 1) */
};

static void umm_fork_step(struct umm_side *u, const struct step *s,
			  struct res *r, bool nonlinear)
{
	struct umm_mm *child = umm_fork(u->mm);

	if (!child) {
		r->ret = -errno;
		return;
	}
	if (s->flags) {
		if (u->kept)
			umm_mm_put(u->kept);
		u->kept = child;
		umm_layout(child, nonlinear, r->clayout);
		r->ret = 0;
		return;
	}
	umm_scan(child, s->off, r->scan, 0, 0);
	umm_scan(child, s->off, r->cwrite, 1, (uint8_t)s->arg);
	umm_layout(child, nonlinear, r->clayout);
	r->ccheck = umm_mm_check(child);
	umm_mm_put(child);
	r->ret = 0;
}

/* Is [start, end) not inside one vma of @mm? */
static bool umm_spans(struct umm_mm *mm, uint64_t start, uint64_t end)
{
	FILE *f = fmemopen(umm_maps_buf, sizeof(umm_maps_buf), "w");
	const char *p, *next;
	struct vline v;

	if (!f)
		BAIL_OUT("fmemopen");
	umm_maps(mm, f);
	fputc(0, f);
	fclose(f);
	umm_maps_buf[sizeof(umm_maps_buf) - 1] = 0;
	for (p = umm_maps_buf; *p; p = next)
		if (parse_line(p, &v, &next) && v.start <= start &&
		    end <= v.end)
			return false;
	return true;
}

static long umm_step(struct umm_side *u, const struct step *s, struct res *r,
		     bool nonlinear)
{
	struct umm_mm *mm = u->mm;
	siginfo_t si;
	uint8_t v;
	int sig;

	switch (s->kind) {
	case K_MMAP:
		return in_region(
			umm_mmap(mm, s->addr, s->len, s->prot, s->flags,
				 s->arg < 0 ? NULL : u->file[s->arg], s->off));
	case K_MUNMAP:
		return umm_munmap(mm, s->addr, s->len);
	case K_MPROTECT:
		return umm_mprotect(mm, s->addr, s->len, s->prot);
	case K_MADVISE:
		return umm_madvise(mm, s->addr, s->len, s->arg);
	case K_READ:
	case K_WRITE:
		v = (uint8_t)s->arg;
		sig = guest_access(mm, s->addr, s->kind == K_WRITE, &v, &si);
		if (sig) {
			r->sig = sig;
			r->code = si.si_code;
			r->sigoff = (long)((uint64_t)si.si_addr - s->addr);
			return 0;
		}
		return s->kind == K_WRITE ? 0 : v;
	case K_TRUNCATE:
		return umm_file_truncate(u->file[s->arg], s->len);
	case K_SCAN:
		umm_scan(mm, s->off, r->scan, 0, 0);
		r->has_kscan = u->kept;
		if (u->kept) {
			umm_scan(u->kept, s->off, r->kscan, 0, 0);
			r->ccheck = umm_mm_check(u->kept);
		}
		return 0;
	case K_FORK:
		umm_fork_step(u, s, r, nonlinear);
		return r->ret;
	case K_RFP:
		r->span =
			umm_spans(mm, s->addr & ~(PG - 1),
				  (s->addr & ~(PG - 1)) + (s->len & ~(PG - 1)));
		return umm_remap_file_pages(mm, s->addr, s->len, s->prot,
					    s->off, s->flags);
	case K_MREMAP:
		return in_region(umm_mremap(mm, s->addr, s->len, s->len2,
					    s->flags, s->addr2));
	default:
		return -ENOSYS;
	}
}

/*
 * Run @steps on umm into ures. Returns umm_mm_check's count at the end
 * (0: coherent) in *incoherent, and whether every frame came back.
 */
static bool run_umm(const struct step *steps, int n, long *incoherent)
{
	struct umm_side u;
	struct umm_stats st;
	bool nonlinear = false;
	int i;

	u.mm = umm_mm_new(phys, TASK_SIZE);
	if (!u.mm || umm_mm_set_fault_around(u.mm, seq_fault_around))
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	if ((uint64_t)umm_host_addr(u.mm, 0) < REGION + REGION_SIZE &&
	    (uint64_t)umm_host_addr(u.mm, 0) + TASK_SIZE > REGION)
		BAIL_OUT("umm's window holds the native region");
	u.file[0] = umm_shmem_new(phys, FILE_PAGES * PG);
	u.file[1] = umm_shmem_new(phys, FILE_PAGES * PG);
	if (!u.file[0] || !u.file[1])
		BAIL_OUT("umm_shmem_new");
	umm_file_setup(u.mm, u.file[0], SEED_A);
	umm_file_setup(u.mm, u.file[1], SEED_B);
	u.kept = NULL;
	for (i = 0; i < n; i++) {
		struct res *r = &ures[i];

		r->sig = r->code = 0;
		r->sigoff = 0;
		r->ccheck = 0;
		r->span = false;
		r->has_kscan = false;
		umm_at_step = i;
		r->ret = umm_step(&u, &steps[i], r, nonlinear);
		if (steps[i].kind == K_RFP && r->ret == 0)
			nonlinear = true;
		r->has_layout = changes_layout(steps[i].kind);
		if (r->has_layout)
			umm_layout(u.mm, nonlinear, r->layout);
		r->mmcheck = check_each ? umm_mm_check(u.mm) : 0;
	}
	*incoherent = umm_mm_check(u.mm);
	umm_mm_stats(u.mm, &st);
	stats.resets += st.host_resets;
	if (u.kept)
		umm_mm_put(u.kept);
	umm_mm_put(u.mm);
	umm_file_put(u.file[0]);
	umm_file_put(u.file[1]);
	return umm_phys_frames_free(phys) == umm_phys_frames_total(phys);
}

/* ---- printing ---- */

static const char *prot_str(int prot, char *buf)
{
	buf[0] = 0;
	if (!prot)
		return "PROT_NONE";
	if (prot & PROT_READ)
		strcat(buf, "|PROT_READ");
	if (prot & PROT_WRITE)
		strcat(buf, "|PROT_WRITE");
	if (prot & PROT_EXEC)
		strcat(buf, "|PROT_EXEC");
	return buf + 1;
}

static const char *mmap_flags_str(int flags, char *buf)
{
	strcpy(buf, (flags & MAP_SHARED) ? "MAP_SHARED" : "MAP_PRIVATE");
	if (flags & MAP_ANONYMOUS)
		strcat(buf, "|MAP_ANONYMOUS");
	if (flags & MAP_FIXED)
		strcat(buf, "|MAP_FIXED");
	if (flags & MAP_FIXED_NOREPLACE)
		strcat(buf, "|MAP_FIXED_NOREPLACE");
	if (flags & MAP_POPULATE)
		strcat(buf, "|MAP_POPULATE");
	return buf;
}

static const char *advice_str(int a)
{
	switch (a) {
	case MADV_DONTNEED:
		return "MADV_DONTNEED";
	case MADV_DONTFORK:
		return "MADV_DONTFORK";
	case MADV_DOFORK:
		return "MADV_DOFORK";
	case MADV_WIPEONFORK:
		return "MADV_WIPEONFORK";
	case MADV_KEEPONFORK:
		return "MADV_KEEPONFORK";
	case MADV_NORMAL:
		return "MADV_NORMAL";
	case MADV_RANDOM:
		return "MADV_RANDOM";
	case MADV_SEQUENTIAL:
		return "MADV_SEQUENTIAL";
	case MADV_WILLNEED:
		return "MADV_WILLNEED";
	case MADV_REMOVE:
		return "MADV_REMOVE";
	case MADV_POPULATE_READ:
		return "MADV_POPULATE_READ";
	case MADV_POPULATE_WRITE:
		return "MADV_POPULATE_WRITE";
	default:
		return "?";
	}
}

static const char *mremap_flags_str(int flags, char *buf)
{
	buf[0] = 0;
	if (!flags)
		return "0";
	if (flags & MREMAP_MAYMOVE)
		strcat(buf, "|MREMAP_MAYMOVE");
	if (flags & MREMAP_FIXED)
		strcat(buf, "|MREMAP_FIXED");
	if (flags & MREMAP_DONTUNMAP)
		strcat(buf, "|MREMAP_DONTUNMAP");
	return buf + 1;
}

/* A step as a line of C. */
static void step_str(const struct step *s, char *out, size_t size)
{
	char b1[80], b2[80];

	switch (s->kind) {
	case K_MMAP:
		if (s->arg < 0)
			snprintf(out, size,
				 "mmap(%#" PRIx64 ", %#" PRIx64
				 ", %s, %s, -1, 0)",
				 s->addr, s->len, prot_str(s->prot, b1),
				 mmap_flags_str(s->flags, b2));
		else
			snprintf(out, size,
				 "mmap(%#" PRIx64 ", %#" PRIx64
				 ", %s, %s, file%c, %#" PRIx64 ")",
				 s->addr, s->len, prot_str(s->prot, b1),
				 mmap_flags_str(s->flags, b2), 'A' + s->arg,
				 s->off);
		break;
	case K_MUNMAP:
		snprintf(out, size, "munmap(%#" PRIx64 ", %#" PRIx64 ")",
			 s->addr, s->len);
		break;
	case K_MPROTECT:
		snprintf(out, size, "mprotect(%#" PRIx64 ", %#" PRIx64 ", %s)",
			 s->addr, s->len, prot_str(s->prot, b1));
		break;
	case K_MADVISE:
		snprintf(out, size, "madvise(%#" PRIx64 ", %#" PRIx64 ", %s)",
			 s->addr, s->len, advice_str(s->arg));
		break;
	case K_READ:
		snprintf(out, size, "*(uint8_t *)%#" PRIx64, s->addr);
		break;
	case K_WRITE:
		snprintf(out, size, "*(uint8_t *)%#" PRIx64 " = %d", s->addr,
			 s->arg);
		break;
	case K_TRUNCATE:
		snprintf(out, size, "ftruncate(file%c, %#" PRIx64 ")",
			 'A' + s->arg, s->len);
		break;
	case K_SCAN:
		snprintf(out, size,
			 "scan(+%#" PRIx64 ") /* read that byte of "
			 "every page, in a kept fork child too */",
			 s->off);
		break;
	case K_FORK:
		if (s->flags)
			snprintf(out, size,
				 "fork_keep() /* a child kept: the "
				 "scans that follow read it too */");
		else
			snprintf(out, size,
				 "fork_check(+%#" PRIx64 ", %d) /* "
				 "the child reads, then writes, that byte of "
				 "every page */",
				 s->off, s->arg);
		break;
	case K_RFP:
		snprintf(out, size,
			 "remap_file_pages(%#" PRIx64 ", %#" PRIx64
			 ", %d, %#" PRIx64 ", %s)",
			 s->addr, s->len, s->prot, s->off,
			 s->flags ? "MAP_NONBLOCK" : "0");
		break;
	case K_MREMAP:
		snprintf(out, size,
			 "mremap(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64
			 ", %s, %#" PRIx64 ")",
			 s->addr, s->len, s->len2,
			 mremap_flags_str(s->flags, b1), s->addr2);
		break;
	default:
		snprintf(out, size, "?");
	}
}

static void ret_str(const struct step *s, const struct res *r, char *out,
		    size_t size)
{
	if ((s->kind == K_READ || s->kind == K_WRITE) && r->sig)
		snprintf(out, size, "signal %d si_code %d si_addr %+ld", r->sig,
			 r->code, r->sigoff);
	else if (r->ret == ELSEWHERE)
		snprintf(out, size, "(outside the region)");
	else if (r->ret < 0 && r->ret > -4096)
		snprintf(out, size, "-%s",
			 strerrorname_np((int)-r->ret)
				 ? strerrorname_np((int)-r->ret)
				 : "?");
	else
		snprintf(out, size, "%#lx", r->ret);
}

static void access_str(int16_t x, char *out, size_t size)
{
	int v = (x & 0x3fff) - 0x1000;

	if (x < 0x1000)
		snprintf(out, size, "%d", x);
	else
		snprintf(out, size, "signal %d si_code %d%s", v / 16, v % 16,
			 x & 0x4000 ? " (si_addr differs)" : "");
}

/* The pages a scan saw differently. */
static void print_scan_diff(const int16_t *a, const int16_t *b)
{
	char sa[64], sb[64];
	unsigned int i;

	for (i = 0; i < NSCAN; i++) {
		if (a[i] == b[i])
			continue;
		access_str(a[i], sa, sizeof(sa));
		access_str(b[i], sb, sizeof(sb));
		diag("  page %#llx: native %s, umm %s", REGION + i * PG, sa,
		     sb);
	}
}

/* ---- comparing ---- */

enum what {
	SAME,
	RESULT,
	SCAN,
	CWRITE,
	KSCAN,
	LAYOUT,
	CLAYOUT,
	CCHECK,
	MMCHECK,
	MISSING
};

static const char *what_str[] = {
	"",
	"result",
	"pages read",
	"pages written by the fork child",
	"pages read by the kept fork child",
	"layout",
	"the fork child's layout",
	"umm_mm_check of the fork child",
	"umm_mm_check after the step",
	"native step (the child died)",
};

static enum what compare_step(const struct step *s, const struct res *n,
			      const struct res *u)
{
	if (n->ret != u->ret || n->sig != u->sig || n->code != u->code ||
	    n->sigoff != u->sigoff)
		return RESULT;
	if ((s->kind == K_SCAN || (s->kind == K_FORK && !s->flags)) &&
	    memcmp(n->scan, u->scan, sizeof(n->scan)))
		return SCAN;
	if (s->kind == K_FORK && !s->flags &&
	    memcmp(n->cwrite, u->cwrite, sizeof(n->cwrite)))
		return CWRITE;
	if (n->has_kscan != u->has_kscan ||
	    (n->has_kscan && memcmp(n->kscan, u->kscan, sizeof(n->kscan))))
		return KSCAN;
	if (n->has_layout && strcmp(n->layout, u->layout))
		return LAYOUT;
	if (s->kind == K_FORK && strcmp(n->clayout, u->clayout))
		return CLAYOUT;
	if (u->ccheck)
		return CCHECK;
	if (u->mmcheck)
		return MMCHECK;
	return SAME;
}

/*
 * A difference known and chosen, not a bug to report: the host (4.0+)
 * remaps a range over neighbouring vmas of one file with equal flags, as
 * its emulation of nonlinear mappings by many vmas needs; umm keeps one
 * nonlinear vma, as Linux did before 4.0, and takes a range inside one vma
 * only (-EINVAL). Where umm's vmas split the range, the sequence stops
 * being compared there (counted), unless rfp_span is on.
 */
static bool known_difference(const struct step *s, const struct res *n,
			     const struct res *u)
{
	return !kinds[K_RFP_SPAN].on && s->kind == K_RFP && !n->ret &&
	       u->ret == -EINVAL && u->span;
}

static bool known_hit;
static unsigned long nr_known;

/* Where the sequence diverges, or -1; *what says how. */
static int first_divergence(const struct step *steps, int n, enum what *what,
			    long *incoherent, bool *frames_ok)
{
	int done = run_native(steps, n), i;

	known_hit = false;

	*frames_ok = run_umm(steps, n, incoherent);
	for (i = 0; i < n; i++) {
		if (i >= done) {
			*what = MISSING;
			return i;
		}
		*what = compare_step(&steps[i], &nlog->res[i], &ures[i]);
		if (*what == RESULT &&
		    known_difference(&steps[i], &nlog->res[i], &ures[i])) {
			known_hit = true;
			return -1;
		}
		if (*what != SAME)
			return i;
	}
	return -1;
}

static void print_divergence(const struct step *s, int i, enum what what)
{
	const struct res *n = &nlog->res[i], *u = &ures[i];
	char line[256], rn[128], ru[128];

	step_str(s, line, sizeof(line));
	diag("step %d: %s", i, line);
	diag("differs in: %s", what_str[what]);
	if (what == MISSING)
		return;
	ret_str(s, n, rn, sizeof(rn));
	ret_str(s, u, ru, sizeof(ru));
	diag("  native: %s", rn);
	diag("  umm:    %s", ru);
	if (what == SCAN || what == CWRITE || what == KSCAN) {
		const int16_t *a = what == SCAN	    ? n->scan
				   : what == CWRITE ? n->cwrite
						    : n->kscan;
		const int16_t *b = what == SCAN	    ? u->scan
				   : what == CWRITE ? u->cwrite
						    : u->kscan;

		print_scan_diff(a, b);
	}
	if (what == LAYOUT || what == CLAYOUT) {
		printf("# native layout:\n%s",
		       what == LAYOUT ? n->layout : n->clayout);
		printf("# umm layout:\n%s",
		       what == LAYOUT ? u->layout : u->clayout);
	}
	if (what == CCHECK)
		diag("  umm_mm_check of the child: %ld", u->ccheck);
	if (what == MMCHECK)
		diag("  umm_mm_check: %ld host pages disagree with their ptes",
		     u->mmcheck);
}

static void print_seq(const struct step *steps, int n, int mark)
{
	char line[256], rn[128], ru[128];
	int i;

	for (i = 0; i < n; i++) {
		step_str(&steps[i], line, sizeof(line));
		if (i < nlog->nr_done)
			ret_str(&steps[i], &nlog->res[i], rn, sizeof(rn));
		else
			strcpy(rn, "(not run)");
		ret_str(&steps[i], &ures[i], ru, sizeof(ru));
		printf("#   %s; /* native %s, umm %s */%s\n", line, rn, ru,
		       i == mark ? "  <-- differs" : "");
	}
}

/*
 * Delta debugging: drop chunks of steps while the sequence still diverges
 * at a step of the same kind. Returns the new length.
 */
static int shrink(struct step *steps, int n, int at)
{
	static struct step trial[MAX_STEPS + 1];
	enum kind kind = steps[at].kind;
	int chunk, start, m, j, d;
	enum what what;
	long inc;
	bool fr;

	n = at + 1;
	for (chunk = n / 2; chunk >= 1; chunk /= 2) {
		for (start = 0; start < n;) {
			if (n <= 1)
				break;
			m = 0;
			for (j = 0; j < n; j++)
				if (j < start || j >= start + chunk)
					trial[m++] = steps[j];
			d = first_divergence(trial, m, &what, &inc, &fr);
			if (d >= 0 && trial[d].kind == kind) {
				memcpy(steps, trial, sizeof(*steps) * (d + 1));
				n = d + 1;
			} else {
				start += chunk;
			}
		}
	}
	return n;
}

/*
 * umm aborts on a broken invariant: say which sequence and step it was, so
 * that --one can replay it.
 */
static void on_abort(int sig)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
			 "\n# umm aborted at step %d of seed %" PRIu64
			 " (replay with --one %" PRIu64 " and the same "
			 "options)\n",
			 umm_at_step, cur_seed, cur_seed);

	if (write(1, msg, (size_t)n) < 0)
		n = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run one sequence; false when it diverged (reported). */
static bool run_seq(uint64_t seed)
{
	static struct step steps[MAX_STEPS + 1];
	int n, at, i;
	enum what what;
	long incoherent;
	bool frames_ok;
	char kindlist[256] = "";

	cur_seed = seed;
	n = gen_seq(seed, steps);

	at = first_divergence(steps, n, &what, &incoherent, &frames_ok);
	stats.seqs++;
	nr_known += known_hit;
	for (i = 0; i < n && at < 0; i++) {
		const struct res *r = &ures[i];

		stats.steps++;
		switch (steps[i].kind) {
		case K_READ:
		case K_WRITE:
			stats.reads++;
			stats.signals += r->sig != 0;
			break;
		case K_FORK:
			stats.forks++;
			break;
		case K_SCAN:
			stats.kscans += r->has_kscan;
			break;
		default:
			if (r->ret < 0)
				stats.calls_err++;
			else
				stats.calls_ok++;
			stats.mmaps_ok +=
				steps[i].kind == K_MMAP && r->ret >= 0;
			stats.rfp_ok += steps[i].kind == K_RFP && !r->ret;
			stats.mremap_ok +=
				steps[i].kind == K_MREMAP && r->ret >= 0;
		}
	}
	if (verbose && at < 0)
		print_seq(steps, n, -1);
	if (at < 0 && !incoherent && frames_ok)
		return true;
	for (i = 0; i < NR_KINDS; i++)
		if (kinds[i].on)
			snprintf(kindlist + strlen(kindlist),
				 sizeof(kindlist) - strlen(kindlist), "%s%s",
				 kindlist[0] ? "," : "", kinds[i].name);
	diag("seed %" PRIu64 " (kinds %s; budget %lu; umm fault-around %u):",
	     seed, kindlist, budget ? budget : umm_host_vma_budget(),
	     seq_fault_around);
	if (at < 0) {
		diag("umm_mm_check at the end: %ld; every frame free: %s",
		     incoherent, frames_ok ? "yes" : "no");
		nr_incoherent += incoherent != 0;
		nr_leaky += !frames_ok;
		print_seq(steps, n, -1);
		return false;
	}
	nr_incoherent += what == MMCHECK;
	print_divergence(&steps[at], at, what);
	n = shrink(steps, n, at);
	at = first_divergence(steps, n, &what, &incoherent, &frames_ok);
	diag("shrunk to %d steps (replay the whole with --one %" PRIu64 "%s):",
	     n, seed, budget == SMALL_BUDGET ? " --budget 64" : "");
	print_seq(steps, n, at);
	if (at >= 0)
		print_divergence(&steps[at], at, what);
	return false;
}

/* ---- kinds umm does not implement yet ---- */

/* Does umm implement the call behind @k? (-ENOSYS, or -EINVAL for advice.) */
static bool umm_has(enum kind k)
{
	struct umm_mm *mm = umm_mm_new(phys, TASK_SIZE);
	long a, r = 0;

	if (!mm)
		BAIL_OUT("umm_mm_new");
	a = umm_mmap(mm, REGION, 2 * PG, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	if (a != (long)REGION)
		BAIL_OUT("probe mmap: %ld", a);
	switch (k) {
	case K_MREMAP:
		r = umm_mremap(mm, REGION, PG, 2 * PG, 0, 0);
		break;
	case K_MADV_REMOVE:
		r = umm_madvise(mm, REGION, PG, MADV_REMOVE);
		break;
	case K_MADV_POPULATE:
		r = umm_madvise(mm, REGION, PG, MADV_POPULATE_READ);
		break;
	default:
		break;
	}
	umm_mm_put(mm);
	return r != -ENOSYS && (k == K_MREMAP || r != -EINVAL);
}

static void set_kinds(const char *arg)
{
	char *s = strdup(arg), *tok, *save = NULL;
	int k;

	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		bool on = *tok != '-';

		if (*tok == '+' || *tok == '-')
			tok++;
		for (k = 0; k < NR_KINDS; k++)
			if (!strcmp(kinds[k].name, tok) ||
			    (!strcmp(tok, "rfp") && k == K_RFP))
				break;
		if (k == NR_KINDS)
			BAIL_OUT("unknown kind %s", tok);
		kinds[k].on = on;
	}
	free(s);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: diff_test [--seqs N] [--seed S] [--steps N] [--one SEED]\n"
		"                 [--kinds +kind,-kind,...] [--budget N]\n"
		"                 [--no-check] [--strict-layout] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long nr_seqs = 300, i, failed = 0;
	uint64_t seed = 1, one = 0;
	bool have_one = false, budget_given, rfp_on = kinds[K_RFP].on;
	const char *env;
	int a, k;

	if ((env = getenv("DIFF_SEQS")))
		nr_seqs = strtoul(env, NULL, 0);
	if ((env = getenv("DIFF_SEED")))
		seed = strtoull(env, NULL, 0);
	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--seqs") && a + 1 < argc)
			nr_seqs = strtoul(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--seed") && a + 1 < argc)
			seed = strtoull(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--steps") && a + 1 < argc)
			nr_steps = atoi(argv[++a]);
		else if (!strcmp(argv[a], "--one") && a + 1 < argc) {
			one = strtoull(argv[++a], NULL, 0);
			have_one = true;
		} else if (!strcmp(argv[a], "--kinds") && a + 1 < argc)
			set_kinds(argv[++a]);
		else if (!strcmp(argv[a], "--budget") && a + 1 < argc)
			budget = strtoul(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--no-check"))
			check_each = 0;
		else if (!strcmp(argv[a], "--strict-layout"))
			strict_layout = 1;
		else if (!strcmp(argv[a], "-v"))
			verbose = 1;
		else
			usage();
	}
	if (nr_steps < 1 || nr_steps > MAX_STEPS)
		usage();

	signal(SIGABRT, on_abort);
	phys = umm_phys_new(64ULL << 20);
	nlog = mmap(NULL, sizeof(*nlog), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ures = calloc(MAX_STEPS + 1, sizeof(*ures));
	if (!phys || nlog == MAP_FAILED || !ures)
		BAIL_OUT("setup: %s", strerror(errno));
	budget_given = budget;
	if (budget && umm_set_host_vma_budget(budget))
		BAIL_OUT("budget %lu", budget);
	for (k = K_MREMAP; k <= K_MADV_POPULATE; k++) {
		if (kinds[k].on && !umm_has((enum kind)k)) {
			diag("umm does not implement %s yet: skipped",
			     kinds[k].name);
			kinds[k].on = false;
		}
	}

	if (have_one) {
		verbose = 1;
		ok(run_seq(one), "sequence %" PRIu64 " agrees", one);
	} else {
		for (i = 0; i < nr_seqs; i++) {
			/*
			 * The last third under a small budget, unless one was
			 * given: host mappings reset and refill.
			 */
			if (!budget_given && i == nr_seqs - nr_seqs / 3) {
				budget = SMALL_BUDGET;
				if (umm_set_host_vma_budget(budget))
					BAIL_OUT("budget");
				rfp_on = kinds[K_RFP].on;
				kinds[K_RFP].on =
					rfp_on && kinds[K_RFP_RESET].on;
			}
			failed += !run_seq(seed + i);
		}
		if (!budget_given)
			kinds[K_RFP].on = rfp_on;
		ok(!(failed - nr_incoherent - nr_leaky),
		   "%lu sequences of %d steps from seed %" PRIu64
		   " agree with the host kernel (%lu differ)",
		   nr_seqs, nr_steps, seed, failed - nr_incoherent - nr_leaky);
		ok(!nr_incoherent, "umm_mm_check holds after every sequence%s",
		   check_each ? " and every step" : "");
		ok(!nr_leaky, "every frame is free after every sequence");
		diag("%lu steps: %lu calls succeeded, %lu failed, %lu accesses "
		     "(%lu signals), %lu forks (%lu scans of a kept child); "
		     "%lu mmaps, %lu mremaps and %lu remap_file_pages "
		     "succeeded; %lu host "
		     "resets",
		     stats.steps, stats.calls_ok, stats.calls_err, stats.reads,
		     stats.signals, stats.forks, stats.kscans, stats.mmaps_ok,
		     stats.mremap_ok, stats.rfp_ok, stats.resets);
		if (nr_known)
			diag("%lu sequences stopped at a known difference "
			     "(rfp_span: a remap over two vmas of umm)",
			     nr_known);
		/* The sequences must reach what they aim at, or agree vacuously. */
		ok(nr_seqs < 50 ||
			   (stats.mmaps_ok > nr_seqs &&
			    stats.signals > nr_seqs / 4 &&
			    stats.reads > stats.signals &&
			    (!kinds[K_RFP].on || stats.rfp_ok > 0) &&
			    (!kinds[K_MREMAP].on || stats.mremap_ok > 0) &&
			    (!kinds[K_FORK].on ||
			     (stats.forks > 0 && stats.kscans > 0))),
		   "the sequences map, fault, read, fork and remap");
	}
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
