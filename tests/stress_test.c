// SPDX-License-Identifier: MIT
/*
 * Stress: several threads running guest code in one mm at once (issue 5's
 * "Concurrent faults"). Each part checks an outcome, not a timing:
 *
 *   firsttouch  threads first-touch the same pages and neighbouring pages
 *               of fresh mappings: no signal, every byte as written;
 *   munmap      accesses racing munmap/mmap/mprotect/madvise: each ends as
 *               success or the right SIGSEGV, and no write lands in a frame
 *               that was freed (sentinel mappings, and a second mm on the
 *               same memory, reuse them: fresh frames must read zero and
 *               keep what is written);
 *   mprotect    writers against mprotect(PROT_READ): no write lands after
 *               it returns, each refusal is SEGV_ACCERR at the writer's
 *               address;
 *   fork        writers keep (seq, v, ~v) records in their pages while the
 *               main thread forks: the child sees whole records, from
 *               between the writes done before fork and those after, and
 *               its pages do not change;
 *   softtlb     vCPUs writing through software TLBs while the main thread
 *               mprotects, munmaps, madvises and forks: no write lands
 *               after a narrowing change returns (watched through the old
 *               frame itself, held with umm_gup);
 *   gup         threads pin their own pages for writing (FOLL_PIN) and
 *               write through the pin, or write as the guest and read
 *               back through GUP, while other threads fault in the same
 *               page tables and the main thread forks: the guest always
 *               reads what went through the pin (it is the page the guest
 *               keeps, seed 003) and no unpin finds its page shared;
 *   scatter     threads touch three times the budget of scattered pages
 *               (with --long: three times vm.max_map_count, default
 *               budget): the window's host VMAs stay within the budget.
 *
 * Every part ends with every frame free. Under ThreadSanitizer the
 * guest code is uninstrumented (GUEST_CODE): TSan checks umm's data.
 * Options: --long (the long runs,
 * `make stress`), --threads=N (2..64, default 4; or UMM_STRESS_THREADS),
 * --only=part,part (or UMM_STRESS_ONLY). Faults, GUP and software TLB
 * fills run side by side under the mm's read lock (mm/internal.h).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/common.h"

#define MAX_THREADS 64

/*
 * What threads share on purpose (counters, flags, frames watched through
 * the linear map) is read and written with relaxed atomics, so
 * ThreadSanitizer reports only umm's own races. Guest code (GUEST_CODE,
 * not instrumented: see tests/common.h) uses volatile accesses instead,
 * as GCC instruments atomics even there.
 */
#define RD(x)	 __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WR(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define INC(x)	 WR(x, RD(x) + 1) /* one writer */

static unsigned int nthreads = 4;
static int long_run;
static const char *only;

static double now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245 + 12345;
	return *s >> 8;
}

static unsigned int pick(unsigned int quick, unsigned int slow)
{
	return long_run ? slow : quick;
}

static int selected(const char *part)
{
	const char *p = only;
	size_t n = strlen(part);

	if (!p || !*p)
		return 1;
	while (*p) {
		if (!strncmp(p, part, n) && (p[n] == ',' || !p[n]))
			return 1;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return 0;
}

static void start_threads(pthread_t *th, unsigned int n, void *(*fn)(void *),
			  void *args, size_t size)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, fn, (char *)args + i * size))
			BAIL_OUT("pthread_create");
}

static void join_threads(pthread_t *th, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

/* An 8-byte guest read; 0 or the signal. */
struct peek {
	volatile uint64_t *p;
	uint64_t v;
};

static GUEST_CODE void do_peek(void *arg)
{
	struct peek *k = arg;

	k->v = *k->p;
}

static int peek64(struct umm_mm *mm, uint64_t va, uint64_t *v)
{
	struct peek k = {umm_host_addr(mm, va), 0};
	siginfo_t si;
	int sig = umm_guest_call(mm, do_peek, &k, &si);

	*v = k.v;
	return sig;
}

/* Wait until @cond holds, at most @secs; whether it did. */
#define wait_until(cond, secs)                            \
	({                                                \
		double _end = now() + (secs);             \
		int _ok;                                  \
		while (!(_ok = !!(cond)) && now() < _end) \
			sched_yield();                    \
		_ok;                                      \
	})

/* ---- 1: concurrent first touch ---- */

#define FT_BASE 0x10000000ULL

struct ft {
	struct umm_mm *mm;
	uint8_t *base;
	unsigned int npages, t, round;
	int same; /* every thread touches every page */
	pthread_barrier_t *bar;
	int sig;
	siginfo_t si;
	unsigned long nonzero; /* own byte read non-zero before the write */
};

/* Where thread @t writes in page @i, and what. */
static unsigned int ft_off(unsigned int t, unsigned int i)
{
	return t * 64 + (i * 8) % 64;
}

static uint8_t ft_val(unsigned int round, unsigned int i, unsigned int t)
{
	return (uint8_t)(1 + (round * 131 + i * 7 + t * 29) % 255);
}

static int ft_mine(const struct ft *a, unsigned int i, unsigned int t)
{
	return a->same || i % nthreads == t;
}

static GUEST_CODE void ft_guest(void *arg)
{
	struct ft *a = arg;
	unsigned int i;

	for (i = 0; i < a->npages; i++) {
		volatile uint8_t *p;

		if (!ft_mine(a, i, a->t))
			continue;
		p = a->base + (uint64_t)i * PG + ft_off(a->t, i);
		/* half the touches read first: the zero page, then COW */
		if ((a->t + i) & 1 && *p)
			a->nonzero++;
		*p = ft_val(a->round, i, a->t);
	}
}

static void *ft_thread(void *arg)
{
	struct ft *a = arg;

	pthread_barrier_wait(a->bar);
	a->sig = umm_guest_call(a->mm, ft_guest, a, &a->si);
	return NULL;
}

/* Compare guest pages with what the threads wrote, in a guest call. */
struct ft_check {
	struct ft *a;
	uint8_t *want;
	unsigned long bad_pages;
};

static GUEST_CODE void ft_check_guest(void *arg)
{
	struct ft_check *c = arg;
	struct ft *a = c->a;
	unsigned int i, t;

	for (i = 0; i < a->npages; i++) {
		memset(c->want, 0, PG);
		for (t = 0; t < nthreads; t++)
			if (ft_mine(a, i, t))
				c->want[ft_off(t, i)] = ft_val(a->round, i, t);
		if (memcmp(a->base + (uint64_t)i * PG, c->want, PG))
			c->bad_pages++;
	}
}

static void test_first_touch(struct umm_phys *phys)
{
	unsigned int rounds = pick(100, 2000), npages = pick(256, 1024);
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct ft a[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	pthread_barrier_t bar;
	unsigned long sigs = 0, nonzero = 0, bad = 0, faults = 0;
	unsigned int r, t;
	uint8_t *want = malloc(PG);
	struct umm_stats st;

	pthread_barrier_init(&bar, NULL, nthreads);
	for (r = 0; r < rounds; r++) {
		int same = r & 1;
		struct ft_check c = {a, want, 0};
		siginfo_t si;
		long va;

		/* fault-around on (16) and off (1), by turns of two */
		umm_mm_set_fault_around(mm, r & 2 ? 1 : 16);
		va = umm_mmap(mm, FT_BASE, (uint64_t)npages * PG,
			      PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
		if (va != (long)FT_BASE)
			BAIL_OUT("first touch: mmap %ld", va);
		for (t = 0; t < nthreads; t++)
			a[t] = (struct ft){mm,	   umm_host_addr(mm, FT_BASE),
					   npages, t,
					   r,	   same,
					   &bar};
		start_threads(th, nthreads, ft_thread, a, sizeof(a[0]));
		join_threads(th, nthreads);
		for (t = 0; t < nthreads; t++) {
			if (a[t].sig && sigs++ < 5)
				diag("round %u thread %u: signal %d code %d "
				     "addr %p",
				     r, t, a[t].sig, a[t].si.si_code,
				     a[t].si.si_addr);
			nonzero += a[t].nonzero;
		}
		if (umm_guest_call(mm, ft_check_guest, &c, &si))
			BAIL_OUT("first touch: the check faulted");
		if (c.bad_pages && bad++ < 5)
			diag("round %u (%s pages): %lu pages not as written", r,
			     same ? "same" : "different", c.bad_pages);
		if (r == rounds - 1)
			check_mm_coherent(mm);
		umm_munmap(mm, FT_BASE, (uint64_t)npages * PG);
	}
	umm_mm_stats(mm, &st);
	faults = st.faults_taken;
	/* how often a fault found its page fixed by another thread's */
	diag("first touch: %llu of the faults found the pte and host fixed "
	     "already (spurious), %llu found the host without the page",
	     (unsigned long long)st.fault_spurious,
	     (unsigned long long)st.fault_host_miss);
	is(sigs, 0,
	   "first touch: %u rounds of %u threads over %u fresh pages, no "
	   "spurious signal (%lu faults)",
	   rounds, nthreads, npages, faults);
	/*
	 * Each thread touches each of its pages once or twice (a read
	 * first, then a write): a fault per touch at the very most. Many
	 * more is a storm of faults that find nothing to do, a fault that
	 * took a pte as fixed before the host had it.
	 */
	ok(faults <= 2ULL * rounds * nthreads * npages,
	   "first touch: at most a fault per touch (%lu faults, %u touches)",
	   faults, 2 * rounds * nthreads * npages);
	is(nonzero, 0, "first touch: a byte read before its first write was 0");
	is(bad, 0,
	   "first touch: every page holds exactly what each thread wrote "
	   "(same pages and neighbouring pages)");
	pthread_barrier_destroy(&bar);
	free(want);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* ---- 2: faults racing munmap ---- */

#define MU_BASE	  0x20000000ULL
#define MU_PAGES  64
#define SEN_BASE  0x30000000ULL /* shmem sentinel */
#define SEN2_BASE 0x38000000ULL /* anonymous sentinel */
#define SEN_PAGES 32

struct mu {
	struct umm_mm *mm;
	unsigned int seed;
	int *stop;
	unsigned long ok, maperr, accerr, bad;
};

/* One access, as guest_access(). */
struct mu_access {
	volatile uint8_t *p;
	uint8_t val;
	int write;
};

static GUEST_CODE void mu_guest(void *arg)
{
	struct mu_access *a = arg;

	if (a->write)
		*a->p = a->val;
	else
		a->val = *a->p;
}

static void *mu_toucher(void *arg)
{
	struct mu *m = arg;
	unsigned int s = m->seed;

	while (!RD(*m->stop)) {
		uint64_t va =
			MU_BASE + (rnd(&s) % MU_PAGES) * PG + rnd(&s) % PG;
		int write = rnd(&s) % 4 != 0;
		struct mu_access a = {umm_host_addr(m->mm, va),
				      (uint8_t)(rnd(&s) | 1), write};
		siginfo_t si;
		int sig = umm_guest_call(m->mm, mu_guest, &a, &si);

		if (!sig)
			m->ok++;
		else if (sig == SIGSEGV && si.si_code == SEGV_MAPERR &&
			 (uint64_t)si.si_addr == va)
			m->maperr++;
		else if (sig == SIGSEGV && si.si_code == SEGV_ACCERR &&
			 (uint64_t)si.si_addr == va)
			m->accerr++;
		else if (m->bad++ < 3)
			diag("access %#llx (%s): signal %d code %d addr %p",
			     (unsigned long long)va, write ? "write" : "read",
			     sig, si.si_code, si.si_addr);
		if (sig)
			sched_yield(); /* as a guest taking its signal */
	}
	return NULL;
}

/*
 * A second mm on the same physical memory, taking fresh frames all the
 * time (soon the ones the racing mm frees): each must come zero-filled,
 * and keep what was written to it. A frame freed while the racing mm's
 * window could still reach it shows up here.
 */
#define SEN3_BASE 0x40000000ULL

struct fresh {
	uint8_t *base;
	unsigned int npages;
	unsigned long dirty;
};

static GUEST_CODE void fresh_guest(void *arg)
{
	struct fresh *f = arg;
	unsigned int i, k;

	for (i = 0; i < f->npages; i++)
		f->base[(uint64_t)i * PG] = 1; /* allocate */
	for (i = 0; i < f->npages; i++)
		for (k = 1; k < PG; k++)
			if (((volatile uint8_t *)f->base)[(uint64_t)i * PG + k])
				f->dirty++;
}

struct other {
	struct umm_phys *phys;
	int *stop;
	unsigned long rounds, dirty, changed;
};

static void *other_mm_thread(void *arg)
{
	struct other *o = arg;
	struct umm_mm *mm = umm_mm_new(o->phys, 1ULL << 32);
	uint64_t len = SEN_PAGES * PG;

	if (!mm)
		BAIL_OUT("munmap race: a second mm");
	while (!RD(*o->stop)) {
		struct fresh f = {umm_host_addr(mm, SEN3_BASE), SEN_PAGES, 0};
		siginfo_t si;

		umm_mmap(mm, SEN3_BASE, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
		if (umm_guest_call(mm, fresh_guest, &f, &si))
			BAIL_OUT("munmap race: the second mm faulted");
		if (f.dirty && o->dirty++ < 3)
			diag("a fresh frame held %lu non-zero bytes", f.dirty);
		guest_fill(mm, SEN3_BASE, len, (unsigned int)o->rounds);
		sched_yield();
		if (guest_check(mm, SEN3_BASE, len, (unsigned int)o->rounds) &&
		    o->changed++ < 3)
			diag("the second mm's pages changed under it");
		umm_munmap(mm, SEN3_BASE, len);
		o->rounds++;
	}
	umm_mm_put(mm);
	return NULL;
}

static void test_munmap_race(void)
{
	/* small, so freed frames are soon reused by the sentinels */
	struct umm_phys *phys = umm_phys_new(2 << 20);
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct umm_file *work = umm_shmem_new(phys, MU_PAGES * PG);
	struct umm_file *sen = umm_shmem_new(phys, SEN_PAGES * PG);
	unsigned int ops = pick(400, 20000), i, s = 7, gen = 1;
	unsigned int nt = nthreads - 1;
	struct mu m[MAX_THREADS];
	pthread_t th[MAX_THREADS], other_th;
	struct other other;
	int stop = 0;
	unsigned long ok_ = 0, maperr = 0, accerr = 0, bad = 0, checks = 0;
	unsigned long sen_bad = 0;
	uint64_t len = SEN_PAGES * PG;

	if (!phys || !mm || !work || !sen)
		BAIL_OUT("munmap race: setup");
	umm_mmap(mm, MU_BASE, MU_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	umm_mmap(mm, SEN_BASE, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, sen, 0);
	umm_mmap(mm, SEN2_BASE, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	guest_fill(mm, SEN_BASE, len, gen);
	guest_fill(mm, SEN2_BASE, len, gen + 1000);
	for (i = 0; i < nt; i++)
		m[i] = (struct mu){mm, 1000 + i, &stop};
	start_threads(th, nt, mu_toucher, m, sizeof(m[0]));
	other = (struct other){phys, &stop};
	start_threads(&other_th, 1, other_mm_thread, &other, sizeof(other));
	for (i = 0; i < ops; i++) {
		uint64_t pg = MU_BASE + (rnd(&s) % MU_PAGES) * PG;
		uint64_t n = 1 + rnd(&s) % 16, end = MU_BASE + MU_PAGES * PG;
		uint64_t plen = (pg + n * PG > end ? end - pg : n * PG);
		unsigned int op = rnd(&s) % 16;

		switch (op) {
		case 0 ... 4:
			umm_munmap(mm, pg, plen);
			sched_yield();
			umm_mmap(mm, pg, plen, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
				 0);
			break;
		case 5 ... 6:
			/* replaced without a munmap in between */
			umm_mmap(mm, pg, plen, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, work, pg - MU_BASE);
			break;
		case 7:
			umm_mmap(mm, pg, plen, PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
				 0);
			break;
		case 8 ... 9:
			umm_madvise(mm, pg, plen, MADV_DONTNEED);
			break;
		case 10:
			umm_mprotect(mm, pg, plen, PROT_READ);
			sched_yield();
			umm_mprotect(mm, pg, plen, PROT_READ | PROT_WRITE);
			break;
		default:
			/*
			 * The sentinels: check them, then free their frames
			 * and fill fresh ones (likely frames the touchers had
			 * a moment ago).
			 */
			checks++;
			if (guest_check(mm, SEN_BASE, len, gen) ||
			    guest_check(mm, SEN2_BASE, len, gen + 1000)) {
				if (sen_bad++ < 3)
					diag("op %u: a sentinel changed", i);
			}
			gen++;
			umm_file_truncate(sen, 0);
			umm_file_truncate(sen, len);
			guest_fill(mm, SEN_BASE, len, gen);
			umm_munmap(mm, SEN2_BASE, len);
			umm_mmap(mm, SEN2_BASE, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
				 0);
			guest_fill(mm, SEN2_BASE, len, gen + 1000);
			break;
		}
	}
	WR(stop, 1);
	join_threads(th, nt);
	join_threads(&other_th, 1);
	if (guest_check(mm, SEN_BASE, len, gen) ||
	    guest_check(mm, SEN2_BASE, len, gen + 1000))
		sen_bad++;
	for (i = 0; i < nt; i++) {
		ok_ += m[i].ok;
		maperr += m[i].maperr;
		accerr += m[i].accerr;
		bad += m[i].bad;
	}
	is(bad, 0,
	   "munmap race: %u changes against %u threads: each access "
	   "succeeded (%lu) or got SEGV_MAPERR (%lu) / SEGV_ACCERR (%lu) at "
	   "its address",
	   ops, nt, ok_, maperr, accerr);
	ok(ok_ > 0 && maperr > 0, "munmap race: both outcomes happened");
	is(sen_bad, 0,
	   "munmap race: the sentinels (%lu checks, refilled from freed "
	   "frames each time) saw no stray write",
	   checks + 1);
	ok(other.rounds > 0 && !other.dirty && !other.changed,
	   "munmap race: a second mm took fresh frames %lu times: each came "
	   "zero-filled (%lu not) and kept what it was given (%lu not)",
	   other.rounds, other.dirty, other.changed);
	check_mm_coherent(mm);
	umm_munmap(mm, 0, 1ULL << 32);
	umm_file_put(work);
	umm_file_put(sen);
	umm_mm_put(mm);
	check_frames_free(phys);
	umm_phys_put(phys);
}

/* ---- 3: mprotect storms against writers ---- */

#define MP_BASE 0x40000000ULL

struct mp {
	struct umm_mm *mm;
	uint64_t va; /* the writer's 8 bytes */
	volatile uint64_t *p;
	uint64_t next; /* last value written */
	unsigned long refused, bad;
	int *stop;
};

static GUEST_CODE void mp_guest(void *arg)
{
	struct mp *w = arg;

	while (!RD(*w->stop)) {
		uint64_t v = RD(w->next) + 1;

		*w->p = v;
		WR(w->next, v);
	}
}

static void *mp_writer(void *arg)
{
	struct mp *w = arg;

	while (!RD(*w->stop)) {
		siginfo_t si;
		int sig = umm_guest_call(w->mm, mp_guest, w, &si);

		if (!sig)
			continue;
		if (sig == SIGSEGV && si.si_code == SEGV_ACCERR &&
		    (uint64_t)si.si_addr == w->va) {
			INC(w->refused);
			/* a guest would take its signal: let others run */
			sched_yield();
		} else if (w->bad++ < 3)
			diag("writer %#llx: signal %d code %d addr %p",
			     (unsigned long long)w->va, sig, si.si_code,
			     si.si_addr);
	}
	return NULL;
}

static void test_mprotect_storm(struct umm_phys *phys)
{
	unsigned int rounds = pick(30, 3000), nt = nthreads - 1, r, t;
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct mp w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int stop = 0;
	unsigned long late = 0, idle = 0, bad = 0, refused = 0, writes = 0;
	double t0, longest = 0;

	/* three pages; the writers share the middle one, which is split */
	umm_mmap(mm, MP_BASE, 3 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	for (t = 0; t < nt; t++) {
		uint64_t va = MP_BASE + PG + t * 64;

		w[t] = (struct mp){mm, va,   umm_host_addr(mm, va), 0, 0,
				   0,  &stop};
	}
	start_threads(th, nt, mp_writer, w, sizeof(w[0]));
	for (r = 0; r < rounds; r++) {
		uint64_t v0[MAX_THREADS], v1, ref0[MAX_THREADS];
		uint64_t start = r % 3 == 0 ? MP_BASE : MP_BASE + PG;
		uint64_t len = r % 3 == 0 ? 3 * PG : PG;

		for (t = 0; t < nt; t++) {
			uint64_t n = RD(w[t].next);

			wait_until(RD(w[t].next) > n + 4, 1.0);
		}
		umm_mprotect(mm, start, len, PROT_READ);
		for (t = 0; t < nt; t++) {
			ref0[t] = RD(w[t].refused);
			if (peek64(mm, w[t].va, &v0[t]))
				BAIL_OUT("mprotect storm: a read faulted");
		}
		/* each writer is refused twice after mprotect returned */
		t0 = now();
		for (t = 0; t < nt; t++)
			if (!wait_until(RD(w[t].refused) >= ref0[t] + 2, 5.0))
				idle++;
		if (now() - t0 > longest)
			longest = now() - t0;
		for (t = 0; t < nt; t++) {
			if (peek64(mm, w[t].va, &v1))
				BAIL_OUT("mprotect storm: a read faulted");
			if (v1 != v0[t] && late++ < 3)
				diag("round %u writer %u: %llu after mprotect "
				     "returned, then %llu",
				     r, t, (unsigned long long)v0[t],
				     (unsigned long long)v1);
		}
		umm_mprotect(mm, start, len, PROT_READ | PROT_WRITE);
	}
	WR(stop, 1);
	join_threads(th, nt);
	for (t = 0; t < nt; t++) {
		bad += w[t].bad;
		refused += w[t].refused;
		writes += w[t].next;
	}
	is(late, 0,
	   "mprotect storm: %u mprotect(PROT_READ)s against %u writers: "
	   "no write landed after one returned (%lu writes)",
	   rounds, nt, writes);
	is(bad, 0,
	   "mprotect storm: every refusal was SEGV_ACCERR at the writer's "
	   "address (%lu)",
	   refused);
	is(idle, 0,
	   "mprotect storm: every writer tried while read-only (the longest "
	   "wait %.3f s)",
	   longest);
	check_mm_coherent(mm);
	umm_munmap(mm, MP_BASE, 3 * PG);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* ---- 4: fork while other threads write ---- */

#define FK_BASE	 0x50000000ULL
#define FK_PAGES 4 /* per writer */
#define FK_SEQ	 0 /* word offsets in a page: seq first, */
#define FK_B	 8 /* then ~v, */
#define FK_A	 504 /* then v, written first: a copy tears */

struct fk {
	struct umm_mm *mm;
	volatile uint64_t *page[FK_PAGES];
	uint64_t done; /* writes complete */
	int *stop;
	int sig;
};

static GUEST_CODE void fk_guest(void *arg)
{
	struct fk *w = arg;

	while (!RD(*w->stop)) {
		uint64_t v = RD(w->done) + 1;
		volatile uint64_t *p = w->page[v % FK_PAGES];

		p[FK_SEQ] = 2 * v - 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		p[FK_A] = v;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		p[FK_B] = ~v;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		p[FK_SEQ] = 2 * v;
		WR(w->done, v);
	}
}

static void *fk_writer(void *arg)
{
	struct fk *w = arg;
	siginfo_t si;

	w->sig = umm_guest_call(w->mm, fk_guest, w, &si);
	return NULL;
}

/* The child's records, read in a guest call. */
struct fk_snap {
	struct fk *w;
	unsigned int nt;
	uint8_t *parent0, *child0;
	uint64_t rec[MAX_THREADS][FK_PAGES][3];
};

static GUEST_CODE void fk_snap_guest(void *arg)
{
	struct fk_snap *s = arg;
	unsigned int t, j;

	for (t = 0; t < s->nt; t++)
		for (j = 0; j < FK_PAGES; j++) {
			uint64_t off = (uint64_t)((uint8_t *)s->w[t].page[j] -
						  s->parent0);
			volatile uint64_t *p =
				(volatile uint64_t *)(s->child0 + off);

			s->rec[t][j][0] = p[FK_SEQ];
			s->rec[t][j][1] = p[FK_A];
			s->rec[t][j][2] = p[FK_B];
		}
}

static void test_fork_writers(struct umm_phys *phys)
{
	unsigned int rounds = pick(20, 1000), nt = nthreads - 1, r, t, j;
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct fk w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int stop = 0;
	unsigned long torn = 0, range = 0, changed = 0, busy = 0, sigs = 0;
	struct fk_snap *s0 = calloc(1, sizeof(*s0));
	struct fk_snap *s1 = calloc(1, sizeof(*s1));
	uint8_t *base = umm_host_addr(mm, FK_BASE);

	umm_mmap(mm, FK_BASE, (uint64_t)nt * FK_PAGES * PG,
		 PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	for (t = 0; t < nt; t++) {
		w[t] = (struct fk){.mm = mm, .stop = &stop};
		for (j = 0; j < FK_PAGES; j++)
			w[t].page[j] =
				(volatile uint64_t *)(base +
						      ((uint64_t)t * FK_PAGES +
						       j) * PG);
	}
	start_threads(th, nt, fk_writer, w, sizeof(w[0]));
	for (r = 0; r < rounds; r++) {
		uint64_t before[MAX_THREADS], after[MAX_THREADS];
		struct umm_mm *child;
		siginfo_t si;

		for (t = 0; t < nt; t++) {
			uint64_t n = RD(w[t].done);

			wait_until(RD(w[t].done) > n + FK_PAGES + 2, 1.0);
			before[t] = RD(w[t].done);
		}
		child = umm_fork(mm);
		if (!child)
			BAIL_OUT("fork: %s", strerror(errno));
		for (t = 0; t < nt; t++)
			after[t] = RD(w[t].done);
		*s0 = (struct fk_snap){w, nt, base,
				       umm_host_addr(child, FK_BASE)};
		*s1 = *s0;
		if (umm_guest_call(child, fk_snap_guest, s0, &si))
			BAIL_OUT("fork: reading the child faulted");
		usleep(300);
		if (umm_guest_call(child, fk_snap_guest, s1, &si))
			BAIL_OUT("fork: reading the child faulted");
		for (t = 0; t < nt; t++)
			for (j = 0; j < FK_PAGES; j++) {
				uint64_t *c = s0->rec[t][j], v = c[1];
				uint64_t lo = before[t] >= FK_PAGES
						      ? before[t] - FK_PAGES + 1
						      : 0;

				if (memcmp(c, s1->rec[t][j],
					   sizeof(s0->rec[0][0])) &&
				    changed++ < 3)
					diag("round %u: the child's page %u/%u "
					     "changed after fork returned",
					     r, t, j);
				if (c[0] & 1) {
					/* a write in progress at the fork */
					busy++;
					v = (c[0] + 1) / 2;
					if (v < lo || v > after[t] + 1)
						range++;
					continue;
				}
				if ((c[0] != 2 * v || c[2] != ~v) && torn++ < 3)
					diag("round %u: page %u/%u torn: seq "
					     "%llu v %llu ~v %llx",
					     r, t, j, (unsigned long long)c[0],
					     (unsigned long long)v,
					     (unsigned long long)c[2]);
				/* 0: never written, only before FK_PAGES */
				if (((v && v % FK_PAGES != j) || v < lo ||
				     v > after[t] + 1) &&
				    range++ < 3)
					diag("round %u: page %u/%u holds %llu, "
					     "writes done %llu before fork, "
					     "%llu after",
					     r, t, j, (unsigned long long)v,
					     (unsigned long long)before[t],
					     (unsigned long long)after[t]);
			}
		if (r == rounds / 2)
			check_mm_coherent(child);
		umm_mm_put(child);
	}
	WR(stop, 1);
	join_threads(th, nt);
	for (t = 0; t < nt; t++)
		sigs += w[t].sig != 0;
	is(sigs, 0, "fork: the writers took no signal");
	is(torn, 0,
	   "fork: %u forks against %u writers: the child never saw a torn "
	   "record (%lu writes in progress)",
	   rounds, nt, busy);
	is(range, 0,
	   "fork: each child record is one written between the writes done "
	   "before fork and those done after");
	is(changed, 0,
	   "fork: the child's pages did not change after fork "
	   "returned");
	check_mm_coherent(mm);
	umm_mm_put(mm);
	free(s0);
	free(s1);
	check_frames_free(phys);
}

/* ---- 5: software TLBs under changes ---- */

#define ST_BASE 0x60000000ULL

struct vcpu {
	struct umm_mm *mm;
	uint64_t va; /* its own page */
	uint64_t next, lookups, refused;
	int *stop;
	struct umm_tlb_stats st;
};

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct umm_tlb *t = umm_tlb_new(c->mm, 64);

	if (!t)
		BAIL_OUT("umm_tlb_new");
	while (!RD(*c->stop)) {
		/* a second page too: fills and evictions, not only hits */
		uint64_t *p = umm_tlb_lookup(t, c->va, PROT_WRITE);

		if (p) {
			WR(*p, RD(c->next) + 1);
			INC(c->next);
		} else {
			INC(c->refused);
			sched_yield();
		}
		p = umm_tlb_lookup(t, c->va + 64 * PG, PROT_READ);
		if (p)
			(void)RD(*p);
		INC(c->lookups);
	}
	umm_tlb_quiesce(t);
	umm_tlb_stats(t, &c->st);
	umm_tlb_free(t);
	return NULL;
}

/* The first word of a frame, through the linear map. */
static uint64_t frame_word(struct umm_page *pg)
{
	return RD(*(uint64_t *)umm_page_addr(pg));
}

/* Wait until each vCPU made @n more lookups; how many did not. */
static unsigned int vcpus_move_on(struct vcpu *c, unsigned int nt,
				  unsigned int n)
{
	uint64_t l0[MAX_THREADS];
	unsigned int t, idle = 0;

	for (t = 0; t < nt; t++)
		l0[t] = RD(c[t].lookups);
	for (t = 0; t < nt; t++)
		if (!wait_until(RD(c[t].lookups) >= l0[t] + n, 5.0))
			idle++;
	return idle;
}

static void test_softtlb_stress(struct umm_phys *phys)
{
	unsigned int rounds = pick(16, 2000), nt = nthreads - 1, r, t;
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	struct vcpu c[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int stop = 0;
	unsigned long late[4] = {0}, idle = 0, writes = 0, refused = 0;
	unsigned long shootdowns = 0, waits = 0;
	static const char *const what[4] = {"mprotect", "munmap",
					    "MADV_DONTNEED", "fork"};
	uint64_t len = 128 * PG;

	umm_mmap(mm, ST_BASE, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL, 0);
	for (t = 0; t < nt; t++)
		c[t] = (struct vcpu){
			.mm = mm, .va = ST_BASE + t * PG, .stop = &stop};
	start_threads(th, nt, vcpu_thread, c, sizeof(c[0]));
	for (r = 0; r < rounds; r++) {
		unsigned int op = r % 4;
		struct umm_page *pg[MAX_THREADS];
		uint64_t v0[MAX_THREADS], v1;
		struct umm_mm *child = NULL;

		for (t = 0; t < nt; t++) {
			uint64_t n = RD(c[t].next);

			wait_until(RD(c[t].next) > n + 4, 1.0);
		}
		switch (op) {
		case 0:
			umm_mprotect(mm, ST_BASE, len, PROT_READ);
			for (t = 0; t < nt; t++)
				peek64(mm, c[t].va, &v0[t]);
			break;
		case 1:
		case 2:
			/* hold the frames, to watch them after the change */
			for (t = 0; t < nt; t++)
				if (umm_gup(mm, c[t].va, 1, UMM_FOLL_GET,
					    &pg[t]) != 1)
					BAIL_OUT("gup");
			if (op == 1)
				umm_munmap(mm, ST_BASE, len);
			else
				umm_madvise(mm, ST_BASE, len, MADV_DONTNEED);
			for (t = 0; t < nt; t++)
				v0[t] = frame_word(pg[t]);
			break;
		case 3:
			child = umm_fork(mm);
			if (!child)
				BAIL_OUT("fork");
			for (t = 0; t < nt; t++)
				peek64(child, c[t].va, &v0[t]);
			break;
		}
		idle += vcpus_move_on(c, nt, 3);
		for (t = 0; t < nt; t++) {
			switch (op) {
			case 0:
				peek64(mm, c[t].va, &v1);
				break;
			case 1:
			case 2:
				v1 = frame_word(pg[t]);
				umm_put_page(pg[t]);
				break;
			default:
				peek64(child, c[t].va, &v1);
				break;
			}
			if (v1 != v0[t] && late[op]++ < 3)
				diag("round %u vCPU %u: %llu after %s "
				     "returned, then %llu",
				     r, t, (unsigned long long)v0[t], what[op],
				     (unsigned long long)v1);
		}
		if (op == 0)
			umm_mprotect(mm, ST_BASE, len, PROT_READ | PROT_WRITE);
		else if (op == 1)
			umm_mmap(mm, ST_BASE, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
				 0);
		umm_mm_put(child);
	}
	WR(stop, 1);
	join_threads(th, nt);
	for (t = 0; t < nt; t++) {
		writes += c[t].next;
		refused += c[t].refused;
		shootdowns += c[t].st.shootdowns;
		waits += c[t].st.shootdown_waits;
	}
	for (r = 0; r < 4; r++)
		is(late[r], 0,
		   "software TLB: no write through a TLB landed after %s "
		   "returned (%u vCPUs, %u rounds)",
		   what[r], nt, rounds);
	is(idle, 0, "software TLB: every vCPU ran between the reads");
	ok(refused > 0 && shootdowns > 0,
	   "software TLB: %lu writes, %lu refused, %lu shootdowns, %lu "
	   "waits",
	   writes, refused, shootdowns, waits);
	check_mm_coherent(mm);
	umm_munmap(mm, ST_BASE, len);
	umm_mm_put(mm);
	check_frames_free(phys);
}

/* ---- 6: a scattered workload past vm.max_map_count ---- */

#define SC_WRITE_EVERY 16 /* one touched page in 16 is written */

struct sc {
	struct umm_mm *mm;
	uint8_t *base;
	uint64_t nr; /* touched pages: every other page of 2 * nr */
	unsigned int t;
	int check;
	int sig;
	uint64_t bad;
	unsigned int *finished;
};

static uint64_t sc_val(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ULL | 1;
}

static GUEST_CODE void sc_guest(void *arg)
{
	struct sc *s = arg;
	uint64_t i;

	/* a stride that spreads each thread's pages over the region */
	for (i = s->t; i < s->nr; i += nthreads) {
		uint64_t k = (i * 7919) % s->nr;
		volatile uint64_t *p =
			(volatile uint64_t *)(s->base + 2 * k * PG +
					      (k % 512) * 8);

		if (k % SC_WRITE_EVERY) {
			if (*p)
				s->bad++;
		} else if (!s->check) {
			*p = sc_val(k);
		} else if (*p != sc_val(k)) {
			s->bad++;
		}
	}
}

static void *sc_thread(void *arg)
{
	struct sc *s = arg;
	siginfo_t si;

	s->sig = umm_guest_call(s->mm, sc_guest, s, &si);
	__atomic_add_fetch(s->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_scatter(void)
{
	unsigned long max_map = read_max_map_count();
	unsigned long dflt = umm_host_vma_budget();
	unsigned long budget = long_run ? dflt : 1024, nr, vmas;
	struct umm_phys *phys;
	struct umm_mm *mm;
	struct sc s[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	long max_vmas = 0, va;
	uint64_t bad = 0, sigs = 0;
	struct umm_stats st;
	int pass;
	double t0 = now();

	if (!max_map) {
		ok(0, "scatter: read /proc/sys/vm/max_map_count");
		return;
	}
	nr = 3 * (long_run ? max_map : budget);
	if (!long_run)
		is(umm_set_host_vma_budget(budget), 0, "scatter: budget %lu",
		   budget);
	budget = umm_host_vma_budget();
	/* gcd(7919, nr) must be 1 for the stride to visit every page */
	if (nr % 7919 == 0)
		nr++;
	phys = umm_phys_new((nr / SC_WRITE_EVERY + 1024) * PG);
	mm = umm_mm_new(phys, 1ULL << 36);
	if (!phys || !mm)
		BAIL_OUT("scatter: setup");
	umm_mm_set_fault_around(mm, 1);
	va = umm_mmap(mm, 0, 2 * nr * PG, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, NULL, 0);
	if (va < 0)
		BAIL_OUT("scatter: mmap %ld", va);
	for (pass = 0; pass < 2; pass++) {
		unsigned int t, finished = 0;

		for (t = 0; t < nthreads; t++)
			s[t] = (struct sc){
				mm,   umm_host_addr(mm, (uint64_t)va),
				nr,   t,
				pass, 0,
				0,    &finished};
		start_threads(th, nthreads, sc_thread, s, sizeof(s[0]));
		/* watch the window's host VMAs while the threads run */
		while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) <
		       nthreads) {
			long n = umm_host_vmas(mm);

			if (n > max_vmas)
				max_vmas = n;
			usleep(10000);
		}
		join_threads(th, nthreads);
		for (t = 0; t < nthreads; t++) {
			bad += s[t].bad;
			sigs += s[t].sig != 0;
		}
	}
	vmas = (unsigned long)umm_host_vmas(mm);
	umm_mm_stats(mm, &st);
	is(sigs, 0,
	   "scatter: %u threads touched %lu scattered pages (3 x %s) twice, "
	   "no signal",
	   nthreads, nr, long_run ? "vm.max_map_count" : "the budget");
	is(bad, 0,
	   "scatter: every page read back as written (1 in %d "
	   "written, the rest the zero page)",
	   SC_WRITE_EVERY);
	ok(max_vmas > 0 && (unsigned long)max_vmas <= budget && vmas <= budget,
	   "scatter: the window's host VMAs stayed within the budget of %lu "
	   "(at most %ld seen, %lu at the end)",
	   budget, max_vmas, vmas);
	ok(st.host_evictions + st.host_resets > 0 && st.host_vmas_all <= budget,
	   "scatter: the budget was enforced (%llu evictions, %llu resets; "
	   "%llu host VMAs counted with the reservation between them at the "
	   "end)",
	   (unsigned long long)st.host_evictions,
	   (unsigned long long)st.host_resets,
	   (unsigned long long)st.host_vmas_all);
	diag("scatter: %.2f s, %llu anonymous and %llu zero-page faults",
	     now() - t0, (unsigned long long)st.fault_anon,
	     (unsigned long long)st.fault_anon_zero);
	umm_munmap(mm, (uint64_t)va, 2 * nr * PG);
	umm_mm_put(mm);
	check_frames_free(phys);
	umm_phys_put(phys);
	umm_set_host_vma_budget(dflt);
}

static void usage(void)
{
	fprintf(stderr, "usage: stress_test [--long] [--threads=N] "
			"[--only=firsttouch,munmap,mprotect,fork,softtlb,"
			"gup,scatter]\n");
	exit(2);
}

/* ---- 7: GUP beside faults and fork ---- */

#define GU_BASE	 0x70000000ULL
#define GU_PAGES 1024 /* two pte tables */

struct gu {
	struct umm_mm *mm;
	unsigned int t, nt, seed;
	int *stop;
	unsigned long pins, writes, bad, errs;
};

static GUEST_CODE void gu_write(void *arg)
{
	struct peek *k = arg;

	*k->p = k->v;
}

/* The page of thread @t's @n-th own page. */
static uint64_t gu_va(const struct gu *g, unsigned int n)
{
	return GU_BASE + (uint64_t)(n * g->nt + g->t) * PG;
}

static void *gu_thread(void *arg)
{
	struct gu *g = arg;
	uint64_t seq = (uint64_t)g->t << 40;

	while (!RD(*g->stop)) {
		unsigned int n = rnd(&g->seed) % (GU_PAGES / g->nt);
		uint64_t va = gu_va(g, n), v = 0;
		struct umm_page *pg;
		siginfo_t si;

		seq++;
		if (rnd(&g->seed) & 1) {
			/* through a pin, then as the guest reads it */
			if (umm_gup(g->mm, va, 1, UMM_FOLL_PIN | UMM_FOLL_WRITE,
				    &pg) != 1) {
				INC(g->errs);
				continue;
			}
			*(volatile uint64_t *)umm_page_addr(pg) = seq - 1;
			/* held a while, for forks to meet it pinned */
			sched_yield();
			*(volatile uint64_t *)umm_page_addr(pg) = seq;
			umm_unpin(&pg, 1, true);
			INC(g->pins);
			if (peek64(g->mm, va, &v) || v != seq)
				INC(g->bad);
		} else {
			/* as the guest, then through a reference */
			struct peek k = {umm_host_addr(g->mm, va), seq};

			if (umm_guest_call(g->mm, gu_write, &k, &si) ||
			    umm_gup(g->mm, va, 1, UMM_FOLL_GET, &pg) != 1) {
				INC(g->errs);
				continue;
			}
			v = *(volatile uint64_t *)umm_page_addr(pg);
			umm_put_page(pg);
			INC(g->writes);
			if (v != seq)
				INC(g->bad);
		}
	}
	return NULL;
}

static void test_gup_stress(struct umm_phys *phys)
{
	unsigned int forks = pick(40, 2000), nt = nthreads - 1, t, f;
	unsigned long want = pick(4000, 200000), done = 0;
	struct umm_mm *mm = umm_mm_new(phys, 1ULL << 32);
	unsigned long bugs = umm_gup_unpin_bugs(), pins = 0, writes = 0;
	unsigned long bad = 0, errs = 0;
	struct gu g[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int stop = 0;

	if (nt < 2)
		nt = 2;
	if (umm_mmap(mm, GU_BASE, GU_PAGES * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, NULL,
		     0) != (long)GU_BASE)
		BAIL_OUT("gup: mmap");
	for (t = 0; t < nt; t++)
		g[t] = (struct gu){mm, t, nt, 77 + t, &stop, 0, 0, 0, 0};
	start_threads(th, nt, gu_thread, g, sizeof(g[0]));
	/* forks, and at least @want pins and writes beside them */
	for (f = 0; f < forks || done < want; f++) {
		struct umm_mm *child = umm_fork(mm);

		if (!child)
			BAIL_OUT("gup: fork");
		sched_yield();
		umm_mm_put(child);
		for (done = 0, t = 0; t < nt; t++)
			done += RD(g[t].pins) + RD(g[t].writes);
	}
	WR(stop, 1);
	join_threads(th, nt);
	for (t = 0; t < nt; t++) {
		pins += g[t].pins;
		writes += g[t].writes;
		bad += g[t].bad;
		errs += g[t].errs;
	}
	ok(pins > 0 && writes > 0,
	   "gup: %u threads pinned (%lu) and wrote (%lu) beside %u forks", nt,
	   pins, writes, f);
	is(errs, 0, "gup: every pin and reference was got, every write done");
	is(bad, 0,
	   "gup: the guest read what went through each pin, and each "
	   "reference what the guest wrote");
	is(umm_gup_unpin_bugs() - bugs, 0,
	   "gup: no unpin found its page shared (a copy the pin missed)");
	check_mm_coherent(mm);
	umm_munmap(mm, GU_BASE, GU_PAGES * PG);
	umm_mm_put(mm);
	check_frames_free(phys);
}

int main(int argc, char **argv)
{
	struct umm_phys *phys;
	const char *e;
	int i;

	if ((e = getenv("UMM_STRESS_THREADS")))
		nthreads = (unsigned int)atoi(e);
	only = getenv("UMM_STRESS_ONLY");
	if ((e = getenv("UMM_STRESS_LONG")) && *e && *e != '0')
		long_run = 1;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--long"))
			long_run = 1;
		else if (!strncmp(argv[i], "--threads=", 10))
			nthreads = (unsigned int)atoi(argv[i] + 10);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = (unsigned int)atoi(argv[++i]);
		else if (!strncmp(argv[i], "--only=", 7))
			only = argv[i] + 7;
		else
			usage();
	}
	if (nthreads < 2 || nthreads > MAX_THREADS)
		usage();
	diag("%u threads, %s run", nthreads, long_run ? "long" : "short");

	phys = umm_phys_new(256 << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new");
	if (selected("firsttouch"))
		test_first_touch(phys);
	if (selected("munmap"))
		test_munmap_race();
	if (selected("mprotect"))
		test_mprotect_storm(phys);
	if (selected("fork"))
		test_fork_writers(phys);
	if (selected("softtlb"))
		test_softtlb_stress(phys);
	if (selected("gup"))
		test_gup_stress(phys);
	if (selected("scatter"))
		test_scatter();
	umm_phys_put(phys);
	return done_testing();
}
