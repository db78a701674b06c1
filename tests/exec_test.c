// SPDX-License-Identifier: MIT
/*
 * exec's arguments through the public API (seed 004): argv and envp built
 * in an old mm (strings and pointer arrays written through its window) are
 * copied by umm_exec_args onto the stack of a new mm, checked word by word
 * at *sp; Linux's limits (E2BIG), exact at the byte and compared with the
 * host kernel's own execve of /bin/true in a child; EFAULT for every kind
 * of bad pointer; after every failure the old mm is exactly as it was and
 * the new one has no vma.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common.h"

#define TASK_SIZE (1ULL << 32)
/* Linux's: 32 pages for one string, a quarter of the 8 MiB stack for all. */
#define MAX_ARG_STRLEN (32 * PG)
#define ARG_LIMIT (2ULL << 20)
#define NATIVE_EXE "/bin/true"
/* A string array as the functions here take it. */
#define CV(v) ((const char *const *)(v))

static struct umm_phys *phys;

static struct umm_mm *mm_new_size(uint64_t task_size)
{
	struct umm_mm *mm = umm_mm_new(phys, task_size);

	if (!mm)
		BAIL_OUT("umm_mm_new: %s", strerror(errno));
	return mm;
}

static struct umm_mm *mm_new(void)
{
	return mm_new_size(TASK_SIZE);
}

static uint64_t map_fixed(struct umm_mm *mm, uint64_t va, uint64_t len,
			  int prot, int flags, struct umm_file *file)
{
	long a = umm_mmap(mm, va, len, prot, flags | MAP_FIXED, file, 0);

	if (a != (long)va)
		BAIL_OUT("umm_mmap at %#llx: %ld", (unsigned long long)va, a);
	return va;
}

/* ---- guest memory, through the window ---- */

struct copy {
	uint8_t *guest;
	const uint8_t *src;
	uint8_t *dst;
	size_t len;
};

static void do_copy(void *arg)
{
	struct copy *c = arg;
	volatile uint8_t *g = c->guest;
	size_t i;

	for (i = 0; i < c->len; i++) {
		if (c->src)
			g[i] = c->src[i];
		else
			c->dst[i] = g[i];
	}
}

static int guest_put(struct umm_mm *mm, uint64_t va, const void *buf,
		     size_t len)
{
	struct copy c = { umm_host_addr(mm, va), buf, NULL, len };
	siginfo_t si;

	return umm_guest_call(mm, do_copy, &c, &si);
}

static int guest_get(struct umm_mm *mm, uint64_t va, void *buf, size_t len)
{
	struct copy c = { umm_host_addr(mm, va), NULL, buf, len };
	siginfo_t si;

	return umm_guest_call(mm, do_copy, &c, &si);
}

/* Where the test writes strings and arrays in the old mm. */
struct arena {
	struct umm_mm *mm;
	uint64_t cur, end;
};

static uint64_t put_bytes(struct arena *ar, const void *buf, size_t len)
{
	uint64_t va = ar->cur;

	if (ar->cur + len > ar->end)
		BAIL_OUT("arena full");
	if (guest_put(ar->mm, va, buf, len))
		BAIL_OUT("guest_put at %#llx", (unsigned long long)va);
	ar->cur += len;
	return va;
}

static uint64_t put_str(struct arena *ar, const char *s)
{
	return put_bytes(ar, s, strlen(s) + 1);
}

/* A NULL-terminated array of @n guest pointers, 8-byte aligned. */
static uint64_t put_vec(struct arena *ar, const uint64_t *p, size_t n)
{
	uint64_t zero = 0, va;

	ar->cur = (ar->cur + 7) & ~7ULL;
	va = n ? put_bytes(ar, p, n * 8) : ar->cur;
	put_bytes(ar, &zero, 8);
	return va;
}

/* Strings and their array at once. */
static uint64_t put_strv(struct arena *ar, const char *const *s, size_t n)
{
	uint64_t *p = calloc(n + 1, 8), va;
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = put_str(ar, s[i]);
	va = put_vec(ar, p, n);
	free(p);
	return va;
}

static char *maps_of(struct umm_mm *mm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out || umm_maps(mm, out))
		BAIL_OUT("umm_maps");
	fclose(out);
	return buf;
}

static bool state_zero(struct umm_page *page)
{
	struct umm_page_state st;

	umm_page_state(page, &st);
	return st.zero_page;
}

/* ---- the old mm, before and after ---- */

struct snap {
	struct umm_mm *mm;
	char *maps;
	uint64_t va, len;
	uint8_t *mem;
};

static void snap_take(struct snap *s, struct umm_mm *mm, uint64_t va,
		      uint64_t len)
{
	s->mm = mm;
	s->maps = maps_of(mm);
	s->va = va;
	s->len = len;
	s->mem = malloc(len);
	if (!s->mem || guest_get(mm, va, s->mem, len))
		BAIL_OUT("snapshot");
}

/* The old mm is exactly as it was: its vmas and its memory. */
static void snap_check(struct snap *s, const char *what)
{
	char *maps = maps_of(s->mm);
	uint8_t *mem = malloc(s->len);
	bool same;

	ok(!strcmp(maps, s->maps), "%s: the old mm's maps are unchanged",
	   what);
	same = mem && !guest_get(s->mm, s->va, mem, s->len) &&
	       !memcmp(mem, s->mem, s->len);
	ok(same, "%s: the old mm's memory is unchanged", what);
	free(maps);
	free(mem);
}

static void snap_free(struct snap *s)
{
	free(s->maps);
	free(s->mem);
}

static void expect_no_vmas(struct umm_mm *mm, const char *what)
{
	char *maps = maps_of(mm);
	struct umm_stats st;

	umm_mm_stats(mm, &st);
	ok(!maps[0] && st.guest_vmas == 0, "%s: the new mm has no vma", what);
	if (maps[0])
		diag("maps: %s", maps);
	free(maps);
}

static const char *errname(long err)
{
	switch (err) {
	case -E2BIG:
		return "E2BIG";
	case -EFAULT:
		return "EFAULT";
	case -ENOMEM:
		return "ENOMEM";
	case -EINVAL:
		return "EINVAL";
	case 0:
		return "0";
	}
	return "?";
}

/*
 * An exec that must fail with @err: into a fresh new mm, which must come
 * out of it with no vma, and the old mm (snapshot @s) as it was.
 */
static void expect_fail(struct snap *s, uint64_t argv, uint64_t envp,
			long err, const char *what)
{
	struct umm_mm *new = mm_new();
	uint64_t sp = 0x5a5a;

	is(umm_exec_args(s->mm, argv, envp, new, &sp), err, "%s: %s", what,
	   errname(err));
	is(sp, 0x5a5a, "%s: *sp not written", what);
	expect_no_vmas(new, what);
	snap_check(s, what);
	check_mm_coherent(s->mm);
	check_mm_coherent(new);
	umm_mm_put(new);
}

/* ---- the layout at *sp ---- */

/*
 * Check the new stack at @sp against the strings @argv and @envp, word
 * by word: argc, argv[], NULL, envp[], NULL, UMM_AUXV_WORDS zeros; the
 * strings above them, argv[0] lowest, packed, the last ending 8 bytes
 * below the top, which are zero.
 */
static void check_stack(struct umm_mm *new, uint64_t sp,
			const char *const *argv, size_t argc,
			const char *const *envp, size_t envc,
			const char *what)
{
	uint64_t top = TASK_SIZE;
	size_t words = 1 + argc + 1 + envc + 1 + UMM_AUXV_WORDS, i, n;
	uint64_t *w = calloc(words, 8);
	uint64_t lo, expect;
	uint8_t *str;
	bool ptrs_ok = true, strs_ok = true, aux_ok = true;
	char *maps, *last, line[128];
	unsigned long long vs, ve;

	is(sp & 15, 0, "%s: sp is 16-byte aligned", what);
	ok(sp < top && sp > top - (4ULL << 20), "%s: sp just below the top",
	   what);
	if (!w || guest_get(new, sp, w, words * 8)) {
		ok(0, "%s: read the stack", what);
		free(w);
		return;
	}
	is(w[0], argc, "%s: argc at *sp", what);
	is(w[1 + argc], 0, "%s: NULL after argv", what);
	is(w[2 + argc + envc], 0, "%s: NULL after envp", what);
	for (i = 0; i < UMM_AUXV_WORDS; i++)
		aux_ok = aux_ok && !w[3 + argc + envc + i];
	ok(aux_ok, "%s: %d zero words for the auxiliary vector", what,
	   UMM_AUXV_WORDS);

	/* The strings, read back at once from the lowest to the top. */
	lo = argc ? w[1] : envc ? w[2 + argc] : top - 8;
	ok(lo >= sp + words * 8 && lo <= top - 8,
	   "%s: the strings lie above the vectors, below the top", what);
	if (lo < sp + words * 8 || lo > top - 8) {
		free(w);
		return;
	}
	str = malloc(top - lo);
	if (!str || guest_get(new, lo, str, top - lo))
		BAIL_OUT("read the strings");
	expect = lo;
	for (i = 0; i < argc + envc; i++) {
		const char *s = i < argc ? argv[i] : envp[i - argc];
		uint64_t p = w[i < argc ? 1 + i : 2 + i];

		n = strlen(s) + 1;
		if (p != expect || p + n > top - 8 ||
		    memcmp(str + (p - lo), s, n)) {
			if (ptrs_ok && strs_ok)
				diag("%s[%zu] at %#llx, want %#llx", i < argc ?
				     "argv" : "envp", i < argc ? i : i - argc,
				     (unsigned long long)p,
				     (unsigned long long)expect);
			if (p != expect)
				ptrs_ok = false;
			else
				strs_ok = false;
			break;
		}
		expect += n;
	}
	ok(ptrs_ok, "%s: each pointer is where its string is, packed upwards "
	   "from argv[0]", what);
	ok(strs_ok, "%s: each string copied with its NUL", what);
	is(expect, top - 8, "%s: the last string ends 8 bytes below the top",
	   what);
	ok(!memcmp(str + (top - 8 - lo), "\0\0\0\0\0\0\0\0", 8),
	   "%s: and those 8 bytes are zero", what);
	free(str);
	free(w);

	/* The last vma: the stack, from below sp up to the top of the mm. */
	maps = maps_of(new);
	last = maps;
	for (i = 0; maps[i]; i++)
		if (maps[i] == '\n' && maps[i + 1])
			last = maps + i + 1;
	ok(sscanf(last, "%llx-%llx %127s", &vs, &ve, line) == 3 &&
	   ve == top && vs <= (sp & ~(PG - 1)) && !(vs & (PG - 1)) &&
	   !strcmp(line, "rw-p"),
	   "%s: a rw-p stack vma from below sp to the top", what);
	free(maps);
}

static size_t count_vmas(struct umm_mm *mm)
{
	char *maps = maps_of(mm);
	size_t i, n = 0;

	for (i = 0; maps[i]; i++)
		n += maps[i] == '\n';
	free(maps);
	return n;
}

static void check_stack_usable(struct umm_mm *new, uint64_t sp, const char *what)
{
	uint8_t v = 0;

	is(guest_write(new, sp - 8, 0x77), 0,
	   "%s: the new mm's guest writes below sp", what);
	is(guest_read(new, sp - 8, &v), 0, "%s: and reads it back", what);
	is(v, 0x77, "%s: the value written", what);
}

/* ---- the host kernel's own execve, in a child ---- */

static bool have_native(void)
{
	return access(NATIVE_EXE, X_OK) == 0;
}

/*
 * execve(@path, @argv, @envp) in a child with an 8 MiB stack limit:
 * the exit status, or -errno when execve failed.
 */
static int native_exec(const char *path, const char *const *argv,
		       const char *const *envp)
{
	int fds[2], err = 0, status;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return -1000;
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 8 << 20, 8 << 20 };

		setrlimit(RLIMIT_STACK, &rl);
		/* the system call itself: glibc's execve wants argv non-NULL */
		syscall(SYS_execve, path, argv, envp);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(fds[1]);
	if (read(fds[0], &err, sizeof(err)) != sizeof(err))
		err = 0;
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1000;
	return err ? -err : WEXITSTATUS(status);
}

/* ---- tests ---- */

static void test_layout(void)
{
	static const char *const argv[] = { "/sbin/prog", "-x", "hello world", "" };
	static const char *const envp[] = { "HOME=/root", "A=1", "PATH=/bin:/usr" };
	struct umm_mm *old = mm_new(), *new = mm_new();
	uint64_t a = map_fixed(old, 0x10000000, 4 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	struct arena ar = { old, a + 100, a + 4 * PG };
	uint64_t av, ev, sp = 0;
	struct snap s;
	long ret;

	av = put_strv(&ar, argv, 4);
	ev = put_strv(&ar, envp, 3);
	snap_take(&s, old, a, 4 * PG);
	ret = umm_exec_args(old, av, ev, new, &sp);
	is(ret, 0, "exec of 4 args and 3 environment strings");
	check_stack(new, sp, argv, 4, envp, 3, "layout");
	is(count_vmas(new), 1, "the stack is the new mm's only vma");
	check_stack_usable(new, sp, "layout");
	snap_check(&s, "after a successful exec");
	check_mm_coherent(old);
	check_mm_coherent(new);

	/* The stack grows down like any VM_GROWSDOWN vma. */
	{
		char *maps = maps_of(new);
		unsigned long long vs = 0;
		uint8_t v;

		sscanf(maps, "%llx", &vs);
		free(maps);
		is(guest_write(new, vs - 3 * PG, 1), 0,
		   "the new stack grows down on a fault below it");
		maps = maps_of(new);
		sscanf(maps, "%llx", &vs);
		free(maps);
		ok(guest_read(new, vs, &v) == 0, "it grew");
	}
	snap_free(&s);
	check_mm_coherent(old);
	check_mm_coherent(new);
	umm_mm_put(new);
	umm_mm_put(old);
	check_frames_free(phys);
}

/*
 * An empty or NULL argv: Linux (5.18+) gives the program argc 1 and one
 * empty string, so argv[1] is never envp[0]. Checked natively by exec'ing
 * this very program with argv NULL (main reports argc in its exit status).
 */
#define ARGC_PROBE "UMM_EXEC_TEST_ARGC_PROBE=1"

static void test_empty(void)
{
	static const char *const probe_env[] = { ARGC_PROBE, NULL };
	static const char *const no_args[] = { NULL };
	static const char *const envp[] = { "E=1" };
	static const char *const empty[] = { "" };
	struct umm_mm *old = mm_new(), *new;
	uint64_t a = map_fixed(old, 0x10000000, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	struct arena ar = { old, a, a + PG };
	uint64_t nullv = put_vec(&ar, NULL, 0), ev = put_strv(&ar, envp, 1);
	uint64_t sp = 0;

	is(native_exec("/proc/self/exe", NULL, probe_env), 101,
	   "native: argv NULL gives argc 1, argv[0] \"\"");
	is(native_exec("/proc/self/exe", no_args, probe_env), 101,
	   "native: argv {NULL} gives argc 1, argv[0] \"\"");

	new = mm_new();
	is(umm_exec_args(old, 0, 0, new, &sp), 0, "argv and envp NULL");
	check_stack(new, sp, empty, 1, NULL, 0, "NULL, NULL");
	umm_mm_put(new);
	new = mm_new();
	is(umm_exec_args(old, nullv, nullv, new, &sp), 0,
	   "argv and envp empty arrays");
	check_stack(new, sp, empty, 1, NULL, 0, "{NULL}, {NULL}");
	umm_mm_put(new);
	new = mm_new();
	is(umm_exec_args(old, 0, ev, new, &sp), 0,
	   "argv NULL, one environment string");
	check_stack(new, sp, empty, 1, envp, 1, "NULL, {E=1}");
	check_mm_coherent(new);
	umm_mm_put(new);
	check_mm_coherent(old);
	umm_mm_put(old);
	check_frames_free(phys);
}

static void free_strv(char **s)
{
	size_t i;

	for (i = 0; s && s[i]; i++)
		free(s[i]);
	free(s);
}

/* @n strings whose lengths, NUL included, are @lens. */
static uint64_t put_sized(struct arena *ar, const size_t *lens, size_t n,
			  char ***host)
{
	char **s = calloc(n + 1, sizeof(*s));
	size_t i;
	uint64_t va;

	for (i = 0; i < n; i++) {
		s[i] = malloc(lens[i]);
		memset(s[i], 'a' + (int)(i % 26), lens[i] - 1);
		s[i][lens[i] - 1] = 0;
	}
	va = put_strv(ar, CV(s), n);
	if (host)
		*host = s;
	else
		free_strv(s);
	return va;
}

static long exec_once(struct umm_mm *old, uint64_t av, uint64_t ev,
		      uint64_t *spp)
{
	struct umm_mm *new = mm_new();
	uint64_t sp = 0;
	long ret = umm_exec_args(old, av, ev, new, &sp);

	if (ret)
		expect_no_vmas(new, errname(ret));
	check_mm_coherent(new);
	umm_mm_put(new);
	if (spp)
		*spp = sp;
	return ret;
}

/*
 * Lengths for @argc strings whose sum with Linux's pointer accounting
 * ((argc + envc) * 8) is exactly @total: 128 KiB ones, the rest spread.
 */
static void fill_lens(size_t *lens, size_t argc, uint64_t total)
{
	uint64_t left = total - argc * 8;
	size_t i;

	for (i = 0; i < argc; i++) {
		size_t rest = argc - i - 1;
		uint64_t want = left - rest;	/* each later one >= 1 */

		lens[i] = want > MAX_ARG_STRLEN ? MAX_ARG_STRLEN : want;
		if (rest && left - lens[i] > rest * MAX_ARG_STRLEN)
			BAIL_OUT("fill_lens");
		left -= lens[i];
	}
	/* Spread the tail over the last two so neither is tiny. */
	if (argc >= 2 && lens[argc - 1] == 1) {
		size_t sum = lens[argc - 2] + 1;

		lens[argc - 2] = sum / 2;
		lens[argc - 1] = sum - sum / 2;
	}
}

static void test_limits(void)
{
	struct umm_mm *old = mm_new();
	uint64_t a = map_fixed(old, 0x10000000, 6ULL << 20,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	struct arena ar = { old, a, a + (6ULL << 20) };
	size_t lens[17], one;
	char **host;
	uint64_t av, ev, sp, mark;
	struct snap s;
	int native = have_native();
	long ret;

	/* One string: 128 KiB with its NUL is the most. */
	one = MAX_ARG_STRLEN;
	av = put_sized(&ar, &one, 1, &host);
	is(exec_once(old, av, 0, NULL), 0,
	   "one argv string of exactly 128 KiB, NUL included");
	if (native)
		is(native_exec(NATIVE_EXE, CV(host), NULL), 0,
		   "native: the same execve works");
	free_strv(host);
	is(exec_once(old, 0, av, NULL), 0, "the same in envp");
	one = MAX_ARG_STRLEN + 1;
	av = put_sized(&ar, &one, 1, &host);
	snap_take(&s, old, a, ar.cur - a);
	expect_fail(&s, av, 0, -E2BIG, "one argv string a byte longer");
	expect_fail(&s, 0, av, -E2BIG, "one envp string a byte longer");
	if (native)
		is(native_exec(NATIVE_EXE, CV(host), NULL), -E2BIG,
		   "native: E2BIG too");
	free_strv(host);
	snap_free(&s);

	/*
	 * All of it: strings plus 8 bytes a pointer, at most a quarter of
	 * the 8 MiB stack limit. Natively the executable's path is copied
	 * first and counts too: 10 bytes for "/bin/true".
	 */
	ar.cur = a;
	fill_lens(lens, 17, ARG_LIMIT);
	av = put_sized(&ar, lens, 17, &host);
	is(exec_once(old, av, 0, &sp), 0,
	   "17 strings, 2 MiB exactly with their pointers");
	if (native) {
		is(native_exec(NATIVE_EXE, CV(host), NULL), -E2BIG,
		   "native: E2BIG, the path's 10 bytes tip it over");
		host[16][lens[16] - 1 - 10] = 0;
		is(native_exec(NATIVE_EXE, CV(host), NULL), 0,
		   "native: 10 bytes fewer work");
		host[16][lens[16] - 1 - 10] = 'q';
		host[16][lens[16] - 1 - 9] = 0;
		is(native_exec(NATIVE_EXE, CV(host), NULL), -E2BIG,
		   "native: 9 fewer do not");
	}
	free_strv(host);
	{
		struct umm_mm *new = mm_new();
		char **h;

		ar.cur = a;
		av = put_sized(&ar, lens, 17, &h);
		is(umm_exec_args(old, av, 0, new, &sp), 0, "again, kept");
		check_stack(new, sp, CV(h), 17, NULL, 0, "2 MiB");
		free_strv(h);
		check_mm_coherent(new);
		umm_mm_put(new);
	}
	lens[16]++;
	ar.cur = a;
	av = put_sized(&ar, lens, 17, NULL);
	snap_take(&s, old, a, ar.cur - a);
	expect_fail(&s, av, 0, -E2BIG, "one byte more");
	snap_free(&s);

	/* The same split between argv and envp: envp's pointers count too. */
	lens[16]--;
	ar.cur = a;
	av = put_sized(&ar, lens, 9, NULL);
	ev = put_sized(&ar, lens + 9, 8, NULL);
	is(exec_once(old, av, ev, NULL), 0,
	   "9 argv and 8 envp strings, 2 MiB exactly");
	ar.cur = a;
	av = put_sized(&ar, lens, 9, NULL);
	lens[16]++;
	ev = put_sized(&ar, lens + 9, 8, NULL);
	lens[16]--;
	snap_take(&s, old, a, ar.cur - a);
	expect_fail(&s, av, ev, -E2BIG, "split, one byte more");
	snap_free(&s);

	/*
	 * argv NULL: the empty argv[0] Linux adds counts, a pointer and a
	 * byte; so 16 envp strings reach 2 MiB as 17 argv strings do.
	 */
	{
		size_t el[16];

		memcpy(el, lens, 15 * sizeof(*el));
		el[15] = lens[15] + lens[16] - 1;
		ar.cur = a;
		ev = put_sized(&ar, el, 16, &host);
		is(exec_once(old, 0, ev, NULL), 0,
		   "argv NULL, 16 envp strings: 2 MiB exactly with the "
		   "empty argv[0]");
		if (native) {
			host[15][el[15] - 1 - 10] = 0;
			is(native_exec(NATIVE_EXE, NULL, CV(host)), 0,
			   "native: the same, less the path's 10 bytes");
			host[15][el[15] - 1 - 10] = 'q';
			host[15][el[15] - 1 - 9] = 0;
			is(native_exec(NATIVE_EXE, NULL, CV(host)), -E2BIG,
			   "native: a byte more: E2BIG");
		}
		free_strv(host);
		el[15]++;
		ar.cur = a;
		ev = put_sized(&ar, el, 16, NULL);
		snap_take(&s, old, a, ar.cur - a);
		expect_fail(&s, 0, ev, -E2BIG, "argv NULL, one byte more");
		snap_free(&s);
	}

	/*
	 * Many empty strings: 9 bytes each (a pointer, a NUL). 233016 fit in
	 * 2 MiB, 233017 do not; natively one fewer, for the path.
	 */
	ar.cur = a;
	mark = put_str(&ar, "");
	{
		size_t n = 233017, i;
		uint64_t *p = malloc(n * 8);
		const char **h = calloc(n + 1, sizeof(*h));
		struct timespec t0, t1;

		for (i = 0; i < n; i++) {
			p[i] = mark;
			h[i] = "";
		}
		av = put_vec(&ar, p, n - 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ret = exec_once(old, av, 0, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		is(ret, 0, "233016 empty strings: 2 MiB less 8 bytes (%.0f ms)",
		   (t1.tv_sec - t0.tv_sec) * 1e3 +
		   (t1.tv_nsec - t0.tv_nsec) / 1e6);
		ar.cur = av;
		av = put_vec(&ar, p, n);
		is(exec_once(old, av, 0, NULL), -E2BIG,
		   "233017 empty strings: E2BIG");
		if (native) {
			h[n - 1] = NULL;
			is(native_exec(NATIVE_EXE, CV(h), NULL), -E2BIG,
			   "native: 233016 empty strings: E2BIG (the path)");
			h[n - 2] = NULL;
			is(native_exec(NATIVE_EXE, CV(h), NULL), 0,
			   "native: 233015 work");
		}
		/* So many pointers that they alone reach the limit. */
		n = ARG_LIMIT / 8;
		p = realloc(p, n * 8);
		for (i = 0; i < n; i++)
			p[i] = mark;
		ar.cur = av;
		av = put_vec(&ar, p, n);
		snap_take(&s, old, a, ar.cur - a);
		expect_fail(&s, av, 0, -E2BIG,
			    "262144 pointers, 2 MiB of pointers alone");
		snap_free(&s);
		free(p);
		free(h);
	}
	check_mm_coherent(old);
	umm_mm_put(old);
	check_frames_free(phys);
}

/*
 * Bad pointers: EFAULT, the old mm as it was, the new one empty. The old
 * mm: an arena (64 pages) with an unmapped page after it, then a page
 * that is readable, a PROT_NONE page, a page that is PROT_WRITE only and
 * one PROT_EXEC only (which an x86 Linux program can read, so exec reads
 * them too).
 */
static void test_efault(void)
{
	static const char *const ok_env[] = { "OK=1" };
	static const char *const bad2[] = { "x", (char *)8, NULL };
	struct umm_mm *old = mm_new();
	uint64_t a = 0x10000000, end = a + 64 * PG, pre = end + PG;
	uint64_t none = pre + PG, wonly = none + PG, xonly = none + 2 * PG;
	struct arena ar = { old, a, end };
	uint64_t good, ev, p[4], av;
	char *big;
	struct snap s;
	int native = have_native();

	map_fixed(old, a, 64 * PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	map_fixed(old, pre, 4 * PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	guest_put(old, none - 3, "abcnone", 8);
	guest_put(old, wonly, "write-only", 11);
	guest_put(old, xonly, "exec-only", 10);
	umm_mprotect(old, none, PG, PROT_NONE);
	umm_mprotect(old, wonly, PG, PROT_WRITE);
	umm_mprotect(old, xonly, PG, PROT_EXEC);
	good = put_str(&ar, "good");
	ev = put_strv(&ar, ok_env, 1);
	big = malloc(MAX_ARG_STRLEN + 1);
	memset(big, 'b', MAX_ARG_STRLEN);
	big[MAX_ARG_STRLEN] = 0;

	/* a string running to the end of the arena, an array too */
	guest_put(old, end - 5, "trunc", 5);
	p[0] = good;
	p[1] = good;
	guest_put(old, end - 21, p, 16);
	snap_take(&s, old, a, 64 * PG);

	expect_fail(&s, 0x20000000, ev, -EFAULT, "argv array unmapped");
	expect_fail(&s, good, 0x20000000, -EFAULT, "envp array unmapped");
	expect_fail(&s, none, 0, -EFAULT, "argv array in a PROT_NONE page");
	expect_fail(&s, ~0ULL - 3, 0, -EFAULT,
		    "argv array at the end of the 64-bit space");
	expect_fail(&s, TASK_SIZE - 8, 0, -EFAULT, "argv array at task_size");
	expect_fail(&s, end - 21, 0, -EFAULT,
		    "argv array running off the end of its mapping");
	expect_fail(&s, 0, end - 21, -EFAULT,
		    "envp array running off the end of its mapping");
	ar.cur = (ar.cur + 7) & ~7ULL;
	av = ar.cur;

#define BAD_STRING(ptr, what)                                              \
	do {                                                                \
		uint64_t v_[3] = { good, (ptr), 0 };                        \
		ar.cur = av;                                                \
		put_bytes(&ar, v_, sizeof(v_));                             \
		snap_take(&s, old, a, 64 * PG);                             \
		expect_fail(&s, av, 0, -EFAULT, "argv: " what);             \
		expect_fail(&s, ev, av, -EFAULT, "envp: " what);            \
		snap_free(&s);                                              \
	} while (0)

	snap_free(&s);
	BAD_STRING(0x20000000, "a string pointer to an unmapped page");
	BAD_STRING(none, "a string in a PROT_NONE page");
	BAD_STRING(end - 5, "a string running into an unmapped page");
	BAD_STRING(none - 3, "a string running into a PROT_NONE page");
	BAD_STRING(TASK_SIZE - 1, "a string pointer at task_size");
	BAD_STRING(~0ULL - 1, "a string pointer at the end of the space");
	if (native)
		is(native_exec(NATIVE_EXE, bad2, NULL), -EFAULT,
		   "native: a bad string pointer is EFAULT");

	/* What x86 Linux lets a program read, exec reads. */
	{
		uint64_t v[4] = { good, wonly, xonly, 0 };
		static const char *const want[] = { "good", "write-only",
					      "exec-only" };
		struct umm_mm *new = mm_new();
		uint64_t sp = 0;

		ar.cur = av;
		put_bytes(&ar, v, sizeof(v));
		is(umm_exec_args(old, av, 0, new, &sp), 0,
		   "strings in PROT_WRITE-only and PROT_EXEC-only pages");
		check_stack(new, sp, want, 3, NULL, 0, "write/exec-only");
		check_mm_coherent(new);
		umm_mm_put(new);
	}

	/*
	 * Which error first, as Linux: both arrays are read before any
	 * string, then envp's strings before argv's, each last first.
	 */
	{
		uint64_t bigva, v[3];

		ar.cur = av;
		bigva = put_str(&ar, big);
		v[0] = good;
		v[1] = bigva;
		v[2] = 0;
		av = put_vec(&ar, v, 2);
		v[1] = 0x20000000;
		ev = put_vec(&ar, v, 2);
		v[0] = bigva;
		v[1] = 0;
		snap_take(&s, old, a, 64 * PG);
		expect_fail(&s, ev, av, -E2BIG,
			    "a bad argv string, a long envp string: E2BIG");
		expect_fail(&s, av, ev, -EFAULT,
			    "a long argv string, a bad envp string: EFAULT");
		expect_fail(&s, 0x20000000, av, -EFAULT,
			    "a bad argv array, a long envp string: EFAULT");
		expect_fail(&s, av, end - 21, -EFAULT,
			    "a long argv string, an envp array off its "
			    "mapping: EFAULT");
		snap_free(&s);
		if (native) {
			const char *const lng[] = { "x", big, NULL };
			const char *const badp[] = { (char *)8, NULL };

			is(native_exec(NATIVE_EXE, badp, lng), -E2BIG,
			   "native: a bad argv string, a long envp string: "
			   "E2BIG");
			is(native_exec(NATIVE_EXE, lng, badp), -EFAULT,
			   "native: a long argv string, a bad envp string: "
			   "EFAULT");
			is(native_exec(NATIVE_EXE, (const char *const *)8, lng), -EFAULT,
			   "native: a bad argv array: EFAULT");
		}
	}
	free(big);
	check_mm_coherent(old);
	umm_mm_put(old);
	check_frames_free(phys);
}

static void test_einval_enomem(void)
{
	static const char *const argv[] = { "prog", "arg" };
	struct umm_mm *old = mm_new(), *new;
	uint64_t a = map_fixed(old, 0x10000000, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	struct arena ar = { old, a, a + PG };
	uint64_t av = put_strv(&ar, argv, 2), sp = 0x5a5a;
	struct snap s, n;
	char *before;
	long b;

	snap_take(&s, old, a, PG);
	is(umm_exec_args(old, av, 0, old, &sp), -EINVAL, "old == new: EINVAL");
	is(sp, 0x5a5a, "*sp not written");
	snap_check(&s, "EINVAL");

	/* Something at the top of the new mm already. */
	new = mm_new();
	map_fixed(new, TASK_SIZE - PG, PG, PROT_READ,
		  MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	snap_take(&n, new, TASK_SIZE - PG, PG);
	is(umm_exec_args(old, av, 0, new, &sp), -ENOMEM,
	   "a new mm with a mapping at its top: ENOMEM");
	snap_check(&n, "ENOMEM (new)");
	snap_check(&s, "ENOMEM");
	snap_free(&n);
	check_mm_coherent(new);
	umm_mm_put(new);

	/* ... or just below the top, where the stack would be. */
	new = mm_new();
	map_fixed(new, TASK_SIZE - 8 * PG, PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	before = maps_of(new);
	is(umm_exec_args(old, av, 0, new, &sp), -ENOMEM,
	   "a mapping 8 pages below the top: ENOMEM");
	{
		char *after = maps_of(new);

		ok(!strcmp(before, after), "the new mm's maps are unchanged");
		free(after);
	}
	free(before);
	check_mm_coherent(new);
	umm_mm_put(new);

	/* Far below is fine; a second exec into the same mm is not. */
	new = mm_new();
	map_fixed(new, TASK_SIZE - (64ULL << 20), PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	b = umm_exec_args(old, av, 0, new, &sp);
	is(b, 0, "a mapping 64 MiB below the top is in no way");
	check_stack(new, sp, argv, 2, NULL, 0, "below a mapping");
	is(count_vmas(new), 2, "the mapping and the stack");
	before = maps_of(new);
	is(umm_exec_args(old, av, 0, new, &sp), -ENOMEM,
	   "a second exec into the same new mm: ENOMEM");
	{
		char *after = maps_of(new);

		ok(!strcmp(before, after), "its maps are unchanged");
		free(after);
	}
	free(before);
	check_mm_coherent(new);
	umm_mm_put(new);
	snap_check(&s, "after all");
	snap_free(&s);
	check_mm_coherent(old);
	umm_mm_put(old);
	check_frames_free(phys);
}

/*
 * A small new mm (1 MiB, the least umm_mm_new takes): a stack that would
 * reach below mmap_min_addr (64 KiB) or wrap below 0 is ENOMEM, not a
 * vma out of bounds.
 */
static void test_small_new_mm(void)
{
	struct umm_mm *old = mm_new(), *new;
	uint64_t a = map_fixed(old, 0x10000000, 2ULL << 20,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	struct arena ar = { old, a, a + (2ULL << 20) };
	size_t lens[8];
	uint64_t av, sp = 0;
	char **h;
	int i;

	for (i = 0; i < 8; i++)
		lens[i] = 120 << 10;
	av = put_sized(&ar, lens, 8, NULL);
	new = mm_new_size(1ULL << 20);
	is(umm_exec_args(old, av, 0, new, &sp), -ENOMEM,
	   "960 KiB of strings into a 1 MiB mm: ENOMEM");
	expect_no_vmas(new, "1 MiB mm, 960 KiB");
	check_mm_coherent(new);
	umm_mm_put(new);
	ar.cur = a;
	av = put_sized(&ar, lens, 7, NULL);
	new = mm_new_size(1ULL << 20);
	is(umm_exec_args(old, av, 0, new, &sp), -ENOMEM,
	   "840 KiB: the stack's room to grow would reach below 64 KiB");
	expect_no_vmas(new, "1 MiB mm, 840 KiB");
	check_mm_coherent(new);
	umm_mm_put(new);
	ar.cur = a;
	for (i = 0; i < 4; i++)
		lens[i] = 100 << 10;
	av = put_sized(&ar, lens, 4, &h);
	new = mm_new_size(1ULL << 20);
	is(umm_exec_args(old, av, 0, new, &sp), 0, "400 KiB fit");
	ok(sp < (1ULL << 20) && sp > (1ULL << 19), "sp in the upper half");
	free_strv(h);
	check_mm_coherent(new);
	umm_mm_put(new);
	check_mm_coherent(old);
	umm_mm_put(old);
	check_frames_free(phys);
}

/* Strings and an array across page boundaries, in several kinds of vma. */
static void test_straddle(void)
{
	char path[] = "/tmp/umm-exec-XXXXXX";
	struct umm_mm *old = mm_new(), *new = mm_new();
	uint64_t a = 0x10000000;
	struct arena ar = { old, a, a + 8 * PG };
	struct umm_file *sh = umm_shmem_new(phys, PG), *f;
	const char *argv[8], *envp[3];
	char *longs = malloc(3 * PG + 100);
	uint64_t v[8], ev[3], av, evv, sp = 0, s, z, fm;
	int fd = mkstemp(path);
	struct snap sn;

	if (fd < 0 || write(fd, "from a file\0", 12) != 12)
		BAIL_OUT("host file");
	f = umm_file_open(phys, path);
	map_fixed(old, a, 8 * PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	s = map_fixed(old, a + 16 * PG, PG, PROT_READ | PROT_WRITE, MAP_SHARED,
		      sh);
	z = map_fixed(old, a + 18 * PG, PG, PROT_READ,
		      MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	fm = map_fixed(old, a + 20 * PG, PG, PROT_READ, MAP_PRIVATE, f);
	guest_put(old, s, "in shmem", 9);

	/* "straddle" across the first page boundary, the array across the next */
	ar.cur = a + PG - 3;
	v[0] = put_str(&ar, "straddle");
	memset(longs, 'L', 3 * PG + 99);
	longs[3 * PG + 99] = 0;
	ar.cur = a + PG + 50;	/* to a + 4 * PG + 150 */
	v[1] = put_str(&ar, longs);
	v[2] = s;
	v[3] = z;	/* an untouched anonymous page: "" */
	v[4] = fm;
	v[5] = fm + 5;
	v[6] = 0;
	argv[0] = "straddle";
	argv[1] = longs;
	argv[2] = "in shmem";
	argv[3] = "";
	argv[4] = "from a file";
	argv[5] = "a file";
	ar.cur = a + 7 * PG - 20;	/* unaligned, across a page boundary */
	av = put_bytes(&ar, v, 7 * 8);
	ar.cur = a + 5 * PG - 2;
	ev[0] = put_str(&ar, "E=across");
	ev[1] = v[0];
	ev[2] = 0;
	envp[0] = "E=across";
	envp[1] = "straddle";
	ar.cur = a + 6 * PG - 12;
	evv = put_bytes(&ar, ev, 24);
	snap_take(&sn, old, a, 8 * PG);
	is(umm_exec_args(old, av, evv, new, &sp), 0,
	   "strings and arrays across page boundaries, in anonymous, shmem, "
	   "zero-page and file vmas");
	check_stack(new, sp, argv, 6, envp, 2, "straddling");
	snap_check(&sn, "straddling");
	{
		struct umm_page *pg;

		is(umm_gup(old, z, 1, UMM_FOLL_GET, &pg), 1, "GUP the page "
		   "the empty string came from");
		ok(state_zero(pg), "still the zero page: exec only read it");
		umm_put_page(pg);
	}
	snap_free(&sn);
	check_mm_coherent(old);
	check_mm_coherent(new);
	umm_mm_put(new);
	umm_mm_put(old);
	umm_file_put(f);
	umm_file_put(sh);
	close(fd);
	unlink(path);
	free(longs);
	check_frames_free(phys);
}

static void test_many(void)
{
	enum { ARGC = 10000, ENVC = 1000 };
	struct umm_mm *old = mm_new(), *new = mm_new();
	uint64_t a = map_fixed(old, 0x10000000, 1ULL << 20,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, NULL);
	struct arena ar = { old, a, a + (1ULL << 20) };
	char **argv = calloc(ARGC + 1, sizeof(char *));
	char **envp = calloc(ENVC + 1, sizeof(char *));
	uint64_t av, ev, sp = 0;
	struct timespec t0, t1;
	long ret;
	int i;

	for (i = 0; i < ARGC; i++)
		if (asprintf(&argv[i], "arg%d", i) < 0)
			BAIL_OUT("asprintf");
	for (i = 0; i < ENVC; i++)
		if (asprintf(&envp[i], "VAR%d=%x", i, i * 7919) < 0)
			BAIL_OUT("asprintf");
	av = put_strv(&ar, CV(argv), ARGC);
	ev = put_strv(&ar, CV(envp), ENVC);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = umm_exec_args(old, av, ev, new, &sp);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	is(ret, 0, "10000 args and 1000 environment strings (%.1f ms)",
	   (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	check_stack(new, sp, CV(argv), ARGC, CV(envp), ENVC, "10000 args");
	free_strv(argv);
	free_strv(envp);
	check_mm_coherent(old);
	check_mm_coherent(new);
	umm_mm_put(new);
	umm_mm_put(old);
	check_frames_free(phys);
}

int main(int argc, char **argv)
{
	if (getenv("UMM_EXEC_TEST_ARGC_PROBE"))
		_exit(argc + (argc >= 1 && argv[0] && !argv[0][0] ? 100 : 0));
	phys = umm_phys_new(128ULL << 20);
	if (!phys)
		BAIL_OUT("umm_phys_new: %s", strerror(errno));
	if (!have_native())
		diag("no %s: native comparisons skipped", NATIVE_EXE);
	test_layout();
	test_empty();
	test_limits();
	test_efault();
	test_einval_enomem();
	test_small_new_mm();
	test_straddle();
	test_many();
	check_frames_free(phys);
	umm_phys_put(phys);
	return done_testing();
}
