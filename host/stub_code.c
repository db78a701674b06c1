// SPDX-License-Identifier: MIT
/*
 * Code that runs in a stub child: the boot path (run from this program's
 * text in the child just after the clone) and the stub itself (the
 * umm_stub_text section, copied into the stub area's code pages and run
 * from there after the child has unmapped everything else).
 *
 * Built as its own library (Makefile.am: libhoststub.a) without sanitizers,
 * stack protector (its canary lives in the parent's TLS, which the child
 * unmaps), jump tables or builtins, and with general registers only, so
 * that the stub section refers to nothing outside itself: no calls, no
 * data, no constants in .rodata. tests/stub_code.sh checks that the
 * section's object code carries no relocation. Everything the stub needs
 * comes through the shared page at its fixed address.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <time.h>

#include "host/stub.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#ifndef CLONE_PARENT
#define CLONE_PARENT 0x8000
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define STUB_TEXT   __attribute__((section("umm_stub_text"), used, noinline))
#define STUB_INLINE static inline __attribute__((always_inline))

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED)

/* ---- the stub (umm_stub_text) ---- */

STUB_INLINE uint32_t load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

STUB_INLINE void store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

STUB_INLINE void stub_exit(long code)
{
	for (;;)
		stub_syscall3(SYS_exit_group, code, 0, 0);
}

/*
 * A mapping call, counted. Returns 0 or -errno (mmap's address is not
 * wanted: every mapping is MAP_FIXED).
 */
STUB_INLINE long stub_mcall(struct stub_page *d, long nr, long a, long b,
			    long c, long e, long f, long g)
{
	long r = stub_syscall6(nr, a, b, c, e, f, g);

	d->syscalls++;
	return stub_failed(r) ? r : 0;
}

/* As the local backend's map (host/local.c): one call, populated. */
STUB_INLINE long stub_map(struct stub_page *d, const struct host_op *op)
{
	long populate = op->flags & HOST_OP_POPULATE ? MAP_POPULATE : 0;

	return stub_mcall(d, SYS_mmap, (long)op->va, (long)op->len, op->prot,
			  MAP_SHARED | MAP_FIXED | populate, HOST_STUB_PHYS_FD,
			  (long)op->off);
}

/*
 * [va, va+len) back to reserved. Below min_addr nothing can be reserved
 * (only a privileged child maps there at all): unmapped instead.
 */
STUB_INLINE long stub_unmap(struct stub_page *d, long va, long len)
{
	long min = (long)d->min_addr, err;

	if (va < min) {
		long low = len < min - va ? len : min - va;

		err = stub_mcall(d, SYS_munmap, va, low, 0, 0, 0, 0);
		if (err)
			return err;
		va += low;
		len -= low;
	}
	if (len <= 0)
		return 0;
	return stub_mcall(d, SYS_mmap, va, len, PROT_NONE, RESERVE_FLAGS, -1,
			  0);
}

/*
 * The kernel's ucontext (x86-64), the part the stub reads and writes: the
 * C library's ucontext_t begins the same way.
 */
struct stub_ucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	uint64_t ss_sp;
	uint32_t ss_flags;
	uint32_t ss_pad;
	uint64_t ss_size;
	uint64_t
		gregs[23]; /* r8 .. rip, eflags (18), csgsfs, err, trapno, .. */
	uint64_t fpstate; /* 0: the FPU state is reset at rt_sigreturn */
	uint64_t reserved1[8];
	uint64_t sigmask;
};

#define STUB_NR_REGS	18 /* struct host_regs, but fs_base */
#define STUB_REG_CSGSFS 18
#define STUB_REG_ERR	19
#define STUB_REG_TRAPNO 20

/* The signals the guest can raise; everything else stays blocked. */
#define STUB_GUEST_SIGNALS                                  \
	((1ULL << (SIGSEGV - 1)) | (1ULL << (SIGSYS - 1)) | \
	 (1ULL << (SIGBUS - 1)) | (1ULL << (SIGILL - 1)) |  \
	 (1ULL << (SIGFPE - 1)) | (1ULL << (SIGTRAP - 1)) | \
	 (1ULL << (HOST_STUB_INTERRUPT - 1)))

#define STUB_ARCH_SET_FS 0x1002

/* rt_sigreturn, the restorer of the stub's handlers (no vdso here). */
__asm__(".pushsection umm_stub_text,\"ax\",@progbits\n"
	"stub_restorer:\n\t"
	"mov $15, %eax\n\t" /* SYS_rt_sigreturn */
	"syscall\n\t"
	"ud2\n\t"
	".popsection");
extern const char stub_restorer[] __attribute__((visibility("hidden")));

/*
 * Into @uc, the registers the kernel left in handoff, and the FS base
 * loaded when it changed. A failed arch_prctl (a non-canonical base) is
 * the kernel's mistake: the guest runs with the old base.
 */
STUB_INLINE void stub_load_regs(struct stub_page *d, struct stub_ucontext *uc)
{
	const uint64_t *r = &d->handoff.regs.r8;
	struct stub_handoff *h = &d->handoff;
	int i;

	for (i = 0; i < STUB_NR_REGS; i++) {
		uc->gregs[i] = r[i];
		__asm__ volatile("" ::: "memory"); /* not a memcpy */
	}
	if (!h->fs_loaded || h->fs_base != h->regs.fs_base) {
		if (!stub_failed(stub_syscall3(SYS_arch_prctl, STUB_ARCH_SET_FS,
					       (long)h->regs.fs_base, 0))) {
			h->fs_base = h->regs.fs_base;
			h->fs_loaded = 1;
		}
	}
}

/* The FPU state's software bytes (Linux's struct _fpx_sw_bytes). */
#define STUB_FPX_SW	  464 /* offset in the xsave area */
#define STUB_FPX_MAGIC1	  0x46505853U
#define STUB_FPX_LEGACY	  512 /* the fxsave area alone */
#define STUB_UC_FP_XSTATE 0x1

/*
 * Bytes of the FPU state at @fp that the host kernel laid out (its
 * extended size, or the legacy area when it does not use xsave), at most
 * the FPU area. Read again at each use: nothing here trusts a length the
 * guest could have written.
 */
STUB_INLINE uint32_t stub_fpu_size(const uint32_t *fp)
{
	uint32_t n = STUB_FPX_LEGACY;

	if (fp[STUB_FPX_SW / 4] == STUB_FPX_MAGIC1)
		n = fp[STUB_FPX_SW / 4 + 1];
	return n < HOST_STUB_FPU_MAX ? n : HOST_STUB_FPU_MAX;
}

/* @n bytes (a multiple of 4) from @src to @dst: not a memcpy. */
STUB_INLINE void stub_copy32(uint32_t *dst, const uint32_t *src, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n / 4; i++) {
		dst[i] = src[i];
		__asm__ volatile("" ::: "memory");
	}
}

/*
 * Load the state the kernel put in the FPU area (handoff.fpu_load bytes,
 * checked by it) into the xsave area @fp of a frame whose own size is
 * @room, and take the request.
 */
STUB_INLINE void stub_fpu_load(struct stub_page *d, uint32_t *fp, uint32_t room)
{
	uint32_t n = d->handoff.fpu_load;

	d->handoff.fpu_load = 0;
	if (n > room)
		n = room;
	stub_copy32(fp, (const uint32_t *)HOST_STUB_FPU, n);
}

/* STUB_CMD_FPU_GET: the state of the handler's frame into the FPU area. */
STUB_INLINE void stub_fpu_get(struct stub_page *d, struct stub_ucontext *uc)
{
	const uint32_t *fp = (const uint32_t *)uc->fpstate;
	uint32_t n = 0;

	if (fp) {
		n = stub_fpu_size(fp);
		stub_copy32((uint32_t *)HOST_STUB_FPU, fp, n);
	}
	d->handoff.fpu_len = n;
	d->done = 0;
	d->err = fp ? 0 : -ENOENT;
}

/* The installed syscall filter: prctl(PR_SET_NO_NEW_PRIVS), then mode 2. */
STUB_INLINE void stub_filter(struct stub_page *d)
{
	struct {
		uint16_t len;
		uint16_t pad[3];
		uint64_t insns;
	} prog;
	long err;

	prog.len = (uint16_t)d->nr_ops;
	prog.pad[0] = prog.pad[1] = prog.pad[2] = 0;
	prog.insns = (uint64_t)d->filter;
	err = d->nr_ops > STUB_FILTER_MAX ? -EINVAL : 0;
	if (!err)
		err = stub_syscall6(SYS_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1,
				    0, 0, 0, 0);
	if (!err)
		err = stub_syscall3(SYS_prctl, 22 /* set the filter */,
				    2 /* mode: filter */, (long)&prog);
	d->done = 0;
	d->err = (int32_t)err;
}

STUB_INLINE long stub_op(struct stub_page *d, const struct host_op *op)
{
	long va = (long)op->va, len = (long)op->len;
	long populate = (op->flags & HOST_OP_POPULATE) ? MAP_POPULATE : 0;

	if (op->kind <= HOST_OP_MAP_ZERO && op->va < d->min_addr)
		d->flags |= STUB_LOW_MAPPED; /* a reset must unmap it */
	if (op->kind == HOST_OP_MAP)
		return stub_map(d, op);
	if (op->kind == HOST_OP_MAP_ZERO)
		return stub_mcall(d, SYS_mmap, va, len, op->prot & ~PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
					  populate,
				  -1, 0);
	if (op->kind == HOST_OP_UNMAP)
		return stub_unmap(d, va, len);
	if (op->kind == HOST_OP_PROTECT) {
		if (op->gen != d->gen)
			return 0; /* a reset dropped the range since */
		return stub_mcall(d, SYS_mprotect, va, len, op->prot, 0, 0, 0);
	}
	return -EINVAL;
}

STUB_INLINE void stub_batch(struct stub_page *d)
{
	uint32_t i, nr = d->nr_ops;
	long err = 0;

	if (nr > STUB_OPS)
		nr = STUB_OPS;
	for (i = 0; i < nr; i++) {
		err = stub_op(d, &d->ops[i]);
		if (err)
			break;
	}
	d->done = i;
	d->err = (int32_t)err;
}

/*
 * The guest range back to reserved: one call (two if a privileged child
 * mapped below min_addr), or, past vm.max_map_count
 * (where even the split of a reservation fails), unmap and map again. No
 * other thread maps in the child, so nothing can land in between.
 */
STUB_INLINE void stub_reset(struct stub_page *d)
{
	long start = (long)d->min_addr, len = (long)d->size - start;
	long err = 0;

	if (d->flags & STUB_LOW_MAPPED) {
		err = stub_mcall(d, SYS_munmap, 0, start, 0, 0, 0, 0);
		if (!err)
			d->flags &= ~STUB_LOW_MAPPED;
	}
	if (!err && len > 0) {
		err = stub_mcall(d, SYS_mmap, start, len, PROT_NONE,
				 RESERVE_FLAGS, -1, 0);
		if (err == -ENOMEM) {
			err = stub_mcall(d, SYS_munmap, start, len, 0, 0, 0, 0);
			if (!err)
				err = stub_mcall(d, SYS_mmap, start, len,
						 PROT_NONE, RESERVE_FLAGS, -1,
						 0);
		}
	}
	d->done = 0;
	d->err = (int32_t)err;
}

/*
 * Wait for a request after @last: spin, then sleep. The sleep has a
 * timeout so that a stub whose kernel died (it is then a child of init)
 * leaves. (PR_SET_PDEATHSIG would fire when the thread that cloned it
 * exits, not the process.)
 */
STUB_INLINE uint32_t stub_wait(struct stub_page *d, uint32_t last)
{
	uint32_t spin = d->spin;

	if (d->spin_across) {
		uint32_t cpu = stub_cpu_now();

		store(&d->stub_cpu, cpu);
		if (load(&d->kernel_cpu) == cpu)
			spin = 0; /* the kernel needs this CPU to answer */
	}
	for (;;) {
		struct timespec ts; /* no initializer: it could be in .rodata */
		uint32_t i, seq;

		ts.tv_sec = 1;
		ts.tv_nsec = 0;

		for (i = 0;; i++) {
			seq = load(&d->req);
			if (seq != last)
				return seq;
			if (i >= spin)
				break;
			__asm__ volatile("pause");
		}
		spin = 0;
		store(&d->stub_waiting, 1);
		if (load(&d->req) == last) {
			long r;

			d->futex_calls++;
			r = stub_syscall4(SYS_futex, (long)&d->req, FUTEX_WAIT,
					  last, (long)&ts);
			if (r == -ETIMEDOUT &&
			    stub_syscall3(SYS_getppid, 0, 0, 0) != d->boot_ppid)
				stub_exit(0);
		}
		store(&d->stub_waiting, 0);
	}
}

STUB_INLINE void stub_ack(struct stub_page *d, uint32_t seq)
{
	store(&d->ack, seq);
	if (load(&d->kernel_waiting)) {
		d->futex_calls++;
		stub_syscall3(SYS_futex, (long)&d->ack, FUTEX_WAKE, 1);
	}
}

/* Close every file but the physical memory file. */
STUB_INLINE long stub_close_files(void)
{
	long r = stub_syscall3(SYS_close_range, 0, HOST_STUB_PHYS_FD - 1, 0);
	long fd;

	if (r != -ENOSYS)
		return r ? r
			 : stub_syscall3(SYS_close_range, HOST_STUB_PHYS_FD + 1,
					 ~0U, 0);
	for (fd = 0; fd < 4096; fd++) /* before Linux 5.9 */
		if (fd != HOST_STUB_PHYS_FD)
			stub_syscall3(SYS_close, fd, 0, 0);
	return 0;
}

/*
 * Carry out one request other than RESUME (the main loop and the handler
 * serve the same ones).
 */
STUB_INLINE void stub_serve(struct stub_page *d)
{
	if (d->cmd == STUB_CMD_BATCH)
		stub_batch(d);
	else if (d->cmd == STUB_CMD_RESET)
		stub_reset(d);
	else if (d->cmd == STUB_CMD_FILTER)
		stub_filter(d);
	else
		d->err = -EINVAL;
}

/*
 * The handler of every signal the guest raises, on the stub's stack: hand
 * the registers and the event over (acknowledging the RESUME that ran the
 * guest), serve requests until the next RESUME, and return into the guest
 * with the registers of handoff.
 */
static STUB_TEXT void stub_signal(int sig, void *info, void *ctx)
{
	struct stub_page *d = (struct stub_page *)HOST_STUB_PAGE;
	struct stub_ucontext *uc = ctx;
	const char *si = info;
	struct host_event *ev = &d->handoff.ev;
	uint64_t *r = &d->handoff.regs.r8;
	uint32_t seq = load(&d->req);
	int i;

	for (i = 0; i < STUB_NR_REGS; i++) {
		r[i] = uc->gregs[i];
		__asm__ volatile("" ::: "memory"); /* not a memcpy */
	}
	if (d->handoff.fsgsbase) {
		uint64_t fs;

		__asm__ volatile("rdfsbase %0" : "=r"(fs));
		d->handoff.fs_base = fs;
		d->handoff.fs_loaded = 1;
	}
	d->handoff.regs.fs_base = d->handoff.fs_base;
	ev->signo = sig;
	ev->code = *(const int32_t *)(si + 8);
	ev->err = uc->gregs[STUB_REG_ERR];
	ev->trapno = uc->gregs[STUB_REG_TRAPNO];
	ev->addr = *(const uint64_t *)(si + 16); /* si_addr, _call_addr */
	ev->nr = 0;
	ev->arch = 0;
	if (sig == SIGSYS) {
		ev->kind = HOST_EVENT_SYSCALL;
		ev->nr = (uint64_t)(int64_t) * (const int32_t *)(si + 24);
		ev->arch = *(const uint32_t *)(si + 28);
	} else if (sig == SIGSEGV && ev->trapno == 14) {
		ev->kind = HOST_EVENT_FAULT;
	} else {
		ev->kind = HOST_EVENT_SIGNAL;
	}
	d->handoff.nr_events++;
	stub_ack(d, seq);
	for (;;) {
		seq = stub_wait(d, seq);
		if (d->cmd == STUB_CMD_RESUME)
			break;
		if (d->cmd == STUB_CMD_BATCH_RESUME) {
			stub_batch(d);
			if (!d->err)
				break;
			stub_ack(d, seq);
			continue;
		}
		if (d->cmd == STUB_CMD_FPU_GET)
			stub_fpu_get(d, uc);
		else
			stub_serve(d);
		stub_ack(d, seq);
	}
	stub_load_regs(d, uc);
	if (d->handoff.fpu_load && uc->fpstate)
		stub_fpu_load(d, (uint32_t *)uc->fpstate,
			      stub_fpu_size((const uint32_t *)uc->fpstate));
}

/*
 * The first entry into the guest: a signal frame of our own on the stack,
 * and rt_sigreturn from it. The FPU starts clean (no fpstate), or with the
 * state the kernel left in the FPU area (handoff.fpu_load: a fork), from
 * an xsave area in the frame, 64-byte aligned as xrstor wants.
 */
STUB_INLINE __attribute__((noreturn)) void stub_enter(struct stub_page *d)
{
	struct stub_ucontext frame;
	uint64_t *w = (uint64_t *)&frame;
	uint32_t fpu[(HOST_STUB_FPU_MAX + 64) / 4];
	unsigned int i;

	for (i = 0; i < sizeof(frame) / 8; i++) {
		w[i] = 0;
		__asm__ volatile("" ::: "memory"); /* not a memset */
	}
	frame.ss_sp = HOST_STUB_STACK;
	frame.ss_size = HOST_STUB_STACK_PAGES * PAGE_SIZE;
	frame.gregs[STUB_REG_CSGSFS] = 0x33 | (0x2bULL << 48); /* cs, ss */
	frame.sigmask = ~STUB_GUEST_SIGNALS;
	stub_load_regs(d, &frame);
	if (d->handoff.fpu_load) {
		uint32_t *fp = (uint32_t *)(((uint64_t)fpu + 63) & ~63ULL);

		stub_fpu_load(d, fp, HOST_STUB_FPU_MAX);
		frame.fpstate = (uint64_t)fp;
		frame.uc_flags = STUB_UC_FP_XSTATE;
	}
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "mov $15, %%eax\n\t" /* SYS_rt_sigreturn */
			 "syscall\n\t"
			 "ud2"
			 :
			 : "r"(&frame)
			 : "memory");
	__builtin_unreachable();
}

/* The handler, on the stub's stack, for every signal the guest raises. */
STUB_INLINE long stub_handlers(void)
{
	struct {
		uint64_t handler, flags, restorer, mask;
	} sa;
	struct {
		uint64_t sp;
		uint32_t flags, pad;
		uint64_t size;
	} ss;
	long err;
	int sig;

	ss.sp = HOST_STUB_STACK;
	ss.flags = 0;
	ss.pad = 0;
	ss.size = HOST_STUB_STACK_PAGES * PAGE_SIZE;
	err = stub_syscall3(SYS_sigaltstack, (long)&ss, 0, 0);
	sa.handler = (uint64_t)stub_signal;
	sa.flags = SA_SIGINFO | SA_ONSTACK | 0x04000000 /* SA_RESTORER */;
	sa.restorer = (uint64_t)stub_restorer;
	sa.mask = ~0ULL;
	for (sig = 1; !err && sig < 64; sig++)
		if (STUB_GUEST_SIGNALS & (1ULL << (sig - 1)))
			err = stub_syscall4(SYS_rt_sigaction, sig, (long)&sa, 0,
					    8);
	return err;
}

static STUB_TEXT __attribute__((noreturn)) void stub_spawned(const char *path);

/*
 * clone(flags, stack_top, pidfd, 0, 0), the child on @stack_top: it
 * returns from the syscall there with 0 in rax, r9 and rbx kept, and
 * calls fn(arg); it never comes back. The parent gets the pid or -errno.
 */
STUB_INLINE long stub_clone_call(long flags, void *stack_top, int *pidfd,
				 void *arg, const void *fn)
{
	register long r9 __asm__("r9") = (long)arg;
	long ret;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r9, %%rdi\n\t"
			 "call *%%rbx\n\t"
			 "ud2\n"
			 "1:"
			 : "=a"(ret)
			 : "0"((long)SYS_clone), "D"(flags), "S"(stack_top),
			   "d"(pidfd), "r"(r9), "b"(fn)
			 : "rcx", "r11", "r10", "r8", "memory");
	return ret;
}

/*
 * STUB_CMD_SPAWN, in the zygote: fork a child of the kernel onto a fresh
 * private page (STUB_SPAWN_STACK) that holds a copy of spawn_path, and
 * drop the page here again. With CLONE_PARENT the child is the kernel's:
 * it reaps it, and the child's parent is boot_ppid, as a cloned child's.
 * Its exit signal is the zygote's (SIGCHLD).
 */
STUB_INLINE void stub_spawn(struct stub_page *d)
{
	char *page = (char *)STUB_SPAWN_STACK;
	long r;
	int i;

	r = stub_syscall6(SYS_mmap, STUB_SPAWN_STACK, PAGE_SIZE,
			  PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (!stub_failed(r)) {
		for (i = 0; i < STUB_SPAWN_PATH - 1 && d->spawn_path[i]; i++) {
			page[i] = d->spawn_path[i];
			__asm__ volatile("" ::: "memory"); /* not a memcpy */
		}
		page[i] = 0;
		/* The child runs stub_spawned(page) on the private page. */
		r = stub_clone_call(CLONE_PARENT | SIGCHLD, page + PAGE_SIZE,
				    NULL, page, (const void *)stub_spawned);
		stub_syscall3(SYS_munmap, STUB_SPAWN_STACK, PAGE_SIZE, 0);
	}
	d->spawn_pid = stub_failed(r) ? 0 : (int32_t)r;
	d->err = stub_failed(r) ? (int32_t)r : 0;
	d->done = 0;
}

/*
 * The stub, entered on its own stack from its own code pages. It drops what
 * the child still holds of the kernel's image (or of the zygote's spawn
 * page): every mapping outside the stub area (the guest range is mapped on
 * request only) and every file but the physical memory file, acknowledges
 * the boot request, and then serves requests until it is killed.
 */
static STUB_TEXT __attribute__((noreturn)) void stub_main(struct stub_page *d)
{
	uint32_t seq = load(&d->req);
	long err;

	err = stub_close_files();
	if (!err)
		err = stub_syscall3(SYS_munmap, 0, HOST_STUB_START, 0);
	if (!err && HOST_STUB_USED_END < HOST_STUB_END)
		err = stub_syscall3(SYS_munmap, HOST_STUB_USED_END,
				    HOST_STUB_END - HOST_STUB_USED_END, 0);
	if (!err)
		err = stub_handlers();
	d->err = (int32_t)err;
	d->done = 0;
	stub_ack(d, seq);
	if (err)
		stub_exit(1);
	for (;;) {
		seq = stub_wait(d, seq);
		if (d->cmd == STUB_CMD_RESUME)
			stub_enter(d); /* acknowledged at the guest's event */
		if (d->cmd == STUB_CMD_BATCH_RESUME) {
			stub_batch(d);
			if (!d->err)
				stub_enter(d);
		} else if (d->cmd == STUB_CMD_SPAWN)
			stub_spawn(d);
		else
			stub_serve(d);
		stub_ack(d, seq);
	}
}

STUB_TEXT __attribute__((noreturn)) void host_stub_entry(struct stub_page *d)
{
	stub_main(d);
}

/*
 * A child of the zygote, on the private page the zygote forked it onto
 * (@path at its bottom), its stub area still the zygote's file: map the
 * stub file at @path over it (the code is the same bytes at the same
 * offsets, so this runs on) and boot from the stub's entry on its own
 * stack, which drops the page and the file's descriptor and sets the
 * handlers (the zygote's, inherited) and their stack again. A failure ends
 * the child; the kernel sees it gone.
 */
static STUB_TEXT __attribute__((noreturn)) void stub_spawned(const char *path)
{
	struct {
		uint64_t sp;
		uint32_t flags, pad;
		uint64_t size;
	} ss;
	long fd, r;

	fd = stub_syscall3(SYS_open, (long)path, O_RDWR | O_CLOEXEC, 0);
	r = fd;
	if (!stub_failed(r))
		r = stub_syscall6(SYS_mmap, HOST_STUB_CODE,
				  HOST_STUB_CODE_PAGES * PAGE_SIZE,
				  PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
				  fd, 0);
	if (!stub_failed(r))
		r = stub_syscall6(SYS_mmap, HOST_STUB_PAGE,
				  HOST_STUB_USED_END - HOST_STUB_PAGE,
				  PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_FIXED, fd,
				  HOST_STUB_PAGE_OFF);
	if (!stub_failed(r)) {
		/*
		 * The zygote's sigaltstack is the stack the stub boots on: the
		 * stub could not set it again while it runs there (EPERM).
		 */
		ss.sp = 0;
		ss.flags = SS_DISABLE;
		ss.pad = 0;
		ss.size = 0;
		r = stub_syscall3(SYS_sigaltstack, (long)&ss, 0, 0);
	}
	if (stub_failed(r))
		stub_exit(1);
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "call *%1\n\t"
			 "ud2"
			 :
			 : "r"(HOST_STUB_STACK_TOP), "r"(stub_main),
			   "D"(HOST_STUB_PAGE)
			 : "memory");
	__builtin_unreachable();
}

/* ---- the boot path: this program's text, in the child ---- */

extern const char __start_umm_stub_text[], __stop_umm_stub_text[];

const void *host_stub_code(uint64_t *len, uint32_t *entry)
{
	*len = (uint64_t)(__stop_umm_stub_text - __start_umm_stub_text);
	*entry = (uint32_t)((const char *)host_stub_entry -
			    __start_umm_stub_text);
	return __start_umm_stub_text;
}

/*
 * In the child, on the stack of the kernel's view of the stub file (@pd is
 * its shared page): block every signal (the kernel's handlers are about to
 * be unmapped), drop the C library's rseq registration, map the stub area at its fixed address, over whatever the
 * kernel had there (its main stack, if the stack is not randomised), move
 * the physical memory file to its fixed number, and jump to the stub on its
 * own stack. A failure is reported in the shared page and ends the child.
 */
static __attribute__((noreturn, used)) void stub_boot(struct stub_page *pd)
{
	uint64_t mask = ~0ULL;
	long r;

	r = stub_syscall4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&mask, 0, 8);
	if (!r && stub_syscall3(SYS_getppid, 0, 0, 0) != pd->boot_ppid)
		r = -ESRCH; /* the kernel is gone already */
	if (!r && pd->boot_rseq) {
		r = stub_syscall4(SYS_rseq, (long)pd->boot_rseq,
				  pd->boot_rseq_len, 1 /* UNREGISTER */,
				  pd->boot_rseq_sig);
		if (r == -EINVAL && pd->boot_rseq_len != 32) /* glibc 2.40+ */
			r = stub_syscall4(SYS_rseq, (long)pd->boot_rseq, 32, 1,
					  pd->boot_rseq_sig);
	}
	if (!r)
		r = stub_syscall6(SYS_mmap, HOST_STUB_CODE,
				  HOST_STUB_CODE_PAGES * PAGE_SIZE,
				  PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
				  pd->boot_stub_fd, 0);
	if (!stub_failed(r))
		r = stub_syscall6(SYS_mmap, HOST_STUB_PAGE,
				  HOST_STUB_USED_END - HOST_STUB_PAGE,
				  PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_FIXED, pd->boot_stub_fd,
				  HOST_STUB_PAGE_OFF);
	if (!stub_failed(r) && pd->boot_phys_fd != HOST_STUB_PHYS_FD)
		r = stub_syscall3(SYS_dup2, pd->boot_phys_fd, HOST_STUB_PHYS_FD,
				  0);
	if (stub_failed(r)) {
		pd->err = (int32_t)r;
		stub_exit(1);
	}
	/* The same file page as @pd, at its fixed address now. */
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "call *%1\n\t"
			 "ud2"
			 :
			 : "r"(HOST_STUB_STACK_TOP),
			   "r"(HOST_STUB_CODE + pd->boot_entry),
			   "D"(HOST_STUB_PAGE)
			 : "memory");
	__builtin_unreachable();
}

static long stub_clone(long flags, void *stack_top, struct stub_page *page,
		       int *pidfd)
{
	/* A new process, not a thread: it runs stub_boot(page). */
	return stub_clone_call(flags, stack_top, pidfd, page,
			       (const void *)stub_boot);
}

long host_stub_clone(void *stack_top, struct stub_page *page, int *pidfd)
{
	long ret = stub_clone(SIGCHLD | CLONE_PIDFD, stack_top, page, pidfd);

	if (ret != -EINVAL)
		return ret;
	*pidfd = -1; /* before Linux 5.2 */
	return stub_clone(SIGCHLD, stack_top, page, NULL);
}
