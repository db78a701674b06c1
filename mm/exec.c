// SPDX-License-Identifier: MIT
/*
 * exec's argument pages (seed 004): argv and envp are read from the old mm
 * and written onto a new stack at the top of the new mm, both through
 * remote GUP, in the layout Linux gives a new process:
 *
 *   top ->  8 bytes of zero
 *           envp strings, argv strings (argv[0] lowest)
 *           (16-byte aligned below them)
 *           auxv space: UMM_AUXV_WORDS words of zero (AT_NULL)
 *           NULL, envp[envc-1] ... envp[0]    (upwards: envp[0] lowest)
 *           NULL, argv[argc-1] ... argv[0]
 *   sp  ->  argc
 *
 * Everything is read and checked before the new mm is touched, and the old
 * mm is only read: a failed exec leaves both as they were (the caller
 * throws the new one away).
 *
 * The old mm is read as the program's own loads would read it (Linux
 * copies argv and envp with copy_from_user in the caller): on x86 a page
 * that may be written or executed may be read, so only a PROT_NONE vma or
 * no vma is EFAULT. GUP alone would want VM_READ.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"

#define MAX_ARG_STRLEN	(32 * PAGE_SIZE) /* Linux's, NUL included */
#define MAX_ARG_STRINGS 0x7fffffffL
/*
 * Linux's bprm_stack_limits: min(3/4 of _STK_LIM, RLIMIT_STACK / 4), at
 * least ARG_MAX (128 KiB): 2 MiB with the default 8 MiB stack limit.
 */
#define ARG_LIMIT    (MM_STACK_LIMIT / 4)
#define STACK_EXPAND (128ULL << 10) /* room to grow, as setup_arg_pages */

/*
 * The GUP flags to read @va as a guest load would: FOLL_FORCE stands in
 * for VM_READ where the vma allows some other access (check_vma_flags then
 * wants VM_MAYREAD, which every vma has), never for a PROT_NONE vma.
 */
static unsigned int load_flags(struct mm *mm, uint64_t va)
{
	struct vma *vma = vma_lookup(mm, va);

	if (vma && !(vma->flags & VM_READ) && (vma->flags & VM_ACCESS_FLAGS))
		return UMM_FOLL_FORCE;
	return 0;
}

/*
 * Copy between @buf and guest memory of @mm, page by page through GUP.
 * @load: read as the guest's own loads would (load_flags). Returns the
 * bytes not copied, as copy_from_user does.
 */
static size_t copy_locked(struct mm *mm, uint64_t va, void *buf, size_t len,
			  bool write, bool load)
{
	unsigned int flags = UMM_FOLL_GET | (write ? UMM_FOLL_WRITE : 0);
	uint8_t *b = buf;

	while (len) {
		size_t off = va & ~PAGE_MASK, n = PAGE_SIZE - off;
		struct page *page;
		uint8_t *k;
		long got;

		if (n > len)
			n = len;
		got = gup_locked(mm, va, 1,
				 flags | (load ? load_flags(mm, va) : 0),
				 &page);
		if (got != 1)
			break;
		k = (uint8_t *)page_kaddr(page) + off;
		if (write)
			memcpy(k, b, n);
		else
			memcpy(b, k, n);
		page_put(page);
		va += n;
		b += n;
		len -= n;
	}
	return len;
}

/* The same, all or nothing: 0 or -EFAULT. */
static int access_locked(struct mm *mm, uint64_t va, void *buf, size_t len,
			 bool write, bool load)
{
	return copy_locked(mm, va, buf, len, write, load) ? -EFAULT : 0;
}

size_t mm_access_remote(struct mm *mm, uint64_t va, void *buf, size_t len,
			bool write)
{
	size_t left;

	mm_read_lock(mm);
	left = copy_locked(mm, va, buf, len, write, false);
	mm_read_unlock(mm);
	return left;
}

/* Copy between @buf and guest memory of @mm. 0 or -EFAULT. */
int access_remote_locked(struct mm *mm, uint64_t va, void *buf, size_t len,
			 bool write)
{
	return access_locked(mm, va, buf, len, write, false);
}

/* Read the old mm as its program could. 0 or -EFAULT. */
static int read_old_locked(struct mm *mm, uint64_t va, void *buf, size_t len)
{
	if (va + len < va)
		return -EFAULT;
	return access_locked(mm, va, buf, len, false, true);
}

/*
 * Length of the guest string at @va with its NUL, reading at most @max
 * bytes: like strnlen_user, max + 1 when it is longer. -EFAULT.
 */
static long strnlen_remote(struct mm *mm, uint64_t va, long max)
{
	long n = 0;

	while (n < max) {
		char chunk[256];
		size_t want = 256 - ((va + (uint64_t)n) & 255);
		size_t i;

		if ((long)want > max - n)
			want = (size_t)(max - n);
		if (va + (uint64_t)n < va ||
		    read_old_locked(mm, va + (uint64_t)n, chunk, want))
			return -EFAULT;
		for (i = 0; i < want; i++)
			if (!chunk[i])
				return n + (long)i + 1;
		n += (long)want;
	}
	return max + 1;
}

struct strings {
	long count;
	uint64_t *ptrs; /* guest addresses in the old mm; 0: "" */
	long *lens; /* with the NUL */
};

/*
 * Read a NULL-terminated array of string pointers. 0, -EFAULT, -E2BIG,
 * -ENOMEM. Every pointer is read, as Linux's count() does, so a bad one
 * is EFAULT however long the array; but no more are kept than fit in
 * ARG_LIMIT, since more than that is E2BIG anyway: a guest cannot make
 * umm allocate gigabytes for an array of pointers.
 */
static int read_ptrs(struct mm *mm, uint64_t array, struct strings *s)
{
	long cap = 0;

	s->count = 0;
	if (!array) /* Linux takes a NULL argv or envp as empty */
		return 0;
	for (;;) {
		uint64_t va = array + (uint64_t)s->count * 8, p;

		if (va < array || read_old_locked(mm, va, &p, 8))
			return -EFAULT;
		if (!p)
			return 0;
		if (s->count >= MAX_ARG_STRINGS)
			return -E2BIG;
		if (s->count >= (long)(ARG_LIMIT / 8)) {
			s->count++; /* counted, not kept */
			continue;
		}
		if (s->count == cap) {
			uint64_t *n;

			cap = cap ? 2 * cap : 16;
			n = realloc(s->ptrs, (size_t)cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			s->ptrs = n;
		}
		s->ptrs[s->count++] = p;
	}
}

/*
 * Linux 5.18+ gives a program run with an empty argv one empty string as
 * argv[0], so that argv[1] is never envp[0] (CVE-2021-4034's confusion);
 * bprm_stack_limits counts its pointer. It is copied after argv's strings,
 * so it lies lowest, and counts against the limit as any string does.
 * 0, -E2BIG, -ENOMEM.
 */
static int add_empty_arg(struct strings *argv, uint64_t *total)
{
	if (++*total > ARG_LIMIT)
		return -E2BIG;
	free(argv->ptrs);
	free(argv->lens);
	argv->ptrs = calloc(1, sizeof(*argv->ptrs));
	argv->lens = calloc(1, sizeof(*argv->lens));
	if (!argv->ptrs || !argv->lens)
		return -ENOMEM;
	argv->ptrs[0] = 0; /* the kernel's "", not read from the old mm */
	argv->lens[0] = 1;
	argv->count = 1;
	return 0;
}

/* The lengths of the strings, last first, as copy_strings goes. */
static int measure(struct mm *mm, struct strings *s, uint64_t *total)
{
	long i;

	s->lens = calloc((size_t)(s->count ? s->count : 1), sizeof(long));
	if (!s->lens)
		return -ENOMEM;
	for (i = s->count - 1; i >= 0; i--) {
		long len = strnlen_remote(mm, s->ptrs[i], MAX_ARG_STRLEN);

		if (len < 0)
			return (int)len;
		if (len > (long)MAX_ARG_STRLEN)
			return -E2BIG;
		s->lens[i] = len;
		*total += (uint64_t)len;
		if (*total > ARG_LIMIT)
			return -E2BIG;
	}
	return 0;
}

/* Copy @s's strings from @old to @new at @dst, filling @vec with where. */
static int copy_strings(struct mm *old, struct mm *new, struct strings *s,
			uint64_t *dst, uint64_t *vec)
{
	long i;

	for (i = 0; i < s->count; i++) {
		char *tmp = malloc((size_t)s->lens[i]);
		int err;

		if (!tmp)
			return -ENOMEM;
		tmp[0] = 0;
		err = s->ptrs[i] ? read_old_locked(old, s->ptrs[i], tmp,
						   (size_t)s->lens[i])
				 : 0;
		if (!err && tmp[s->lens[i] - 1]) /* changed under us */
			err = -EFAULT;
		if (!err)
			err = access_remote_locked(new, *dst, tmp,
						   (size_t)s->lens[i], true);
		free(tmp);
		if (err)
			return err;
		vec[i] = *dst;
		*dst += (uint64_t)s->lens[i];
	}
	return 0;
}

/*
 * Where the new stack goes below @top: the strings (@str_size bytes, 8
 * bytes of zero above them), the @words of the vectors below them at *sp,
 * and the vma from *start, STACK_EXPAND below sp's page for the stack to
 * grow. 0, or -ENOMEM when that reaches below mmap_min_addr: a small mm
 * (1 MiB at least) need not hold the 2 MiB the strings may take, and none
 * of these differences may wrap.
 */
static int stack_layout(uint64_t top, uint64_t str_size, uint64_t words,
			uint64_t *sp, uint64_t *start)
{
	uint64_t s, p;

	if (top < MM_MMAP_MIN_ADDR + 8 + str_size)
		return -ENOMEM;
	s = (top - 8 - str_size) & ~15ULL;
	if (s < MM_MMAP_MIN_ADDR + words * 8)
		return -ENOMEM;
	p = (s - words * 8) & ~15ULL;
	if ((p & PAGE_MASK) < MM_MMAP_MIN_ADDR + STACK_EXPAND)
		return -ENOMEM;
	*sp = p;
	*start = (p & PAGE_MASK) - STACK_EXPAND;
	return 0;
}

/* The stack vma [start, top) of @new. Context: new->lock held. */
static int make_stack(struct mm *new, uint64_t start, uint64_t top)
{
	unsigned long flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE |
			      VM_MAYEXEC | VM_GROWSDOWN;
	struct vma *vma;
	int err;

	if (vma_index(new, start) != new->nr_vmas)
		return -ENOMEM; /* something is mapped at the top already */
	vma = vma_new(new, start, top, flags, NULL, start >> PAGE_SHIFT);
	if (!vma)
		return -ENOMEM;
	err = vma_insert(new, vma);
	if (err)
		vma_free(vma);
	return err;
}

/* Write the pointer area at @sp. */
static int write_vectors(struct mm *new, uint64_t sp, struct strings *argv,
			 struct strings *envp, uint64_t *av, uint64_t *ev)
{
	size_t words = 1 + (size_t)argv->count + 1 + (size_t)envp->count + 1 +
		       UMM_AUXV_WORDS;
	uint64_t *w = calloc(words, sizeof(*w));
	size_t k = 0;
	long i;
	int err;

	if (!w)
		return -ENOMEM;
	w[k++] = (uint64_t)argv->count;
	for (i = 0; i < argv->count; i++)
		w[k++] = av[i];
	k++; /* NULL */
	for (i = 0; i < envp->count; i++)
		w[k++] = ev[i];
	/* NULL, then the auxv words: zero (AT_NULL) until a loader fills them */
	err = access_remote_locked(new, sp, w, words * sizeof(*w), true);
	free(w);
	return err;
}

/*
 * Read and measure the arguments in @old, as Linux's count() and
 * copy_strings() judge them: *@total bytes for the strings and pointers,
 * *@ptr_size of them pointers. 0, -EFAULT, -E2BIG, -ENOMEM. Context:
 * old's lock held.
 */
static int gather_args(struct mm *old, uint64_t argv_va, uint64_t envp_va,
		       struct strings *argv, struct strings *envp,
		       uint64_t *total, uint64_t *ptr_size)
{
	int err = read_ptrs(old, argv_va, argv);

	if (!err)
		err = read_ptrs(old, envp_va, envp);
	if (err)
		return err;
	/*
	 * Room for the pointers first, then the strings (bprm_stack_limits);
	 * an empty argv will get one empty string, its pointer counted here.
	 */
	*ptr_size = ((uint64_t)(argv->count ? argv->count : 1) +
		     (uint64_t)envp->count) *
		    8;
	if (*ptr_size >= ARG_LIMIT)
		return -E2BIG;
	*total = *ptr_size;
	err = measure(old, envp, total);
	if (!err)
		err = measure(old, argv, total);
	if (!err && !argv->count)
		err = add_empty_arg(argv, total);
	return err;
}

static void strings_free(struct strings *s)
{
	free(s->ptrs);
	free(s->lens);
}

/* The arguments as gathered in the old mm, for the new stack. */
struct exec_args {
	struct strings argv, envp;
	uint64_t total, ptr_size;
};

void mm_exec_args_free(struct exec_args *a)
{
	if (!a)
		return;
	strings_free(&a->argv);
	strings_free(&a->envp);
	free(a);
}

struct exec_args *mm_exec_args_gather(struct mm *old, uint64_t argv_va,
				      uint64_t envp_va, long *errp)
{
	struct exec_args *a = calloc(1, sizeof(*a));
	int err;

	if (!a) {
		*errp = -ENOMEM;
		return NULL;
	}
	mm_lock(old);
	err = gather_args(old, argv_va, envp_va, &a->argv, &a->envp, &a->total,
			  &a->ptr_size);
	mm_sync_locked(old);
	mm_unlock(old);
	if (err) {
		mm_exec_args_free(a);
		*errp = err;
		return NULL;
	}
	return a;
}

/* The new stack from @a. Context: both mms locked for writing. */
static long place_args(struct mm *old, struct exec_args *a, struct mm *new,
		       uint64_t *sp_out)
{
	uint64_t top = new->task_size, sp, start, dst;
	uint64_t strings = a->total - a->ptr_size;
	uint64_t *av = NULL, *ev = NULL;
	int err;

	err = stack_layout(top, strings,
			   1 + (uint64_t)a->argv.count + 1 +
				   (uint64_t)a->envp.count + 1 + UMM_AUXV_WORDS,
			   &sp, &start);
	if (err)
		return err;
	av = calloc((size_t)a->argv.count + 1, sizeof(*av));
	ev = calloc((size_t)a->envp.count + 1, sizeof(*ev));
	err = -ENOMEM;
	if (!av || !ev)
		goto out;
	err = make_stack(new, start, top);
	if (err)
		goto out;
	dst = top - 8 - strings;
	err = copy_strings(old, new, &a->argv, &dst, av);
	if (!err)
		err = copy_strings(old, new, &a->envp, &dst, ev);
	if (!err)
		err = write_vectors(new, sp, &a->argv, &a->envp, av, ev);
	if (err)
		/* a string that moved or vanished: E2BIG or EFAULT, as read */
		do_munmap_locked(new, start, top);
	else
		*sp_out = sp;
out:
	free(av);
	free(ev);
	return err;
}

long mm_exec_args_place(struct mm *old, struct exec_args *a, struct mm *new,
			uint64_t *sp)
{
	long err;

	if (old == new)
		return -EINVAL;
	mm_lock_two(old, new);
	err = place_args(old, a, new, sp);
	mm_sync_locked(new);
	mm_unlock(new);
	mm_sync_locked(old);
	mm_unlock(old);
	return err;
}

long mm_exec_args(struct mm *old, uint64_t argv_va, uint64_t envp_va,
		  struct mm *new, uint64_t *sp)
{
	struct exec_args *a;
	long err;

	if (old == new)
		return -EINVAL;
	a = mm_exec_args_gather(old, argv_va, envp_va, &err);
	if (!a)
		return err;
	err = mm_exec_args_place(old, a, new, sp);
	mm_exec_args_free(a);
	return err;
}
