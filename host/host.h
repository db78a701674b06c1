/* SPDX-License-Identifier: MIT */
/*
 * host/: the host side. It speaks of a file, offsets, host addresses and
 * batches of host mapping operations; it knows nothing of guests. It is the
 * only code that calls mmap, mprotect, munmap, fallocate or memfd_create.
 */
#ifndef UMM_HOST_H
#define UMM_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT    12
#define PAGE_SIZE     (1ULL << PAGE_SHIFT)
#define PAGE_MASK     (~(PAGE_SIZE - 1))
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & PAGE_MASK)

/* A broken invariant of umm itself: report where, and abort. */
#define BUG_ON(cond)                                                   \
	do {                                                           \
		if (__builtin_expect(!!(cond), 0))                     \
			host_bug(__FILE__, __func__, __LINE__, #cond); \
	} while (0)
/*
 * A full memory barrier on every running thread of this process (membarrier).
 * 0, or -errno when the host has none (ENOSYS, or EPERM in a sandbox): then
 * the caller's threads must fence for themselves.
 */
int host_barrier_all(void);

void host_bug(const char *file, const char *func, int line, const char *what)
	__attribute__((noreturn));

/* ---- physical memory: one memfd, a frame allocator, a linear map ---- */

struct phys;

/*
 * Frame 0 is the zero page: never allocated, never freed, always zero.
 * Frames come back from phys_alloc zero-filled.
 */
#define PHYS_ZERO_PFN  0U
#define PHYS_FILE_NAME "umm-phys" /* the memfd's name */

/* A memfd of @bytes; NULL and errno (EINVAL, ENOMEM, or memfd's) on failure. */
struct phys *phys_new(uint64_t bytes);
void phys_free(struct phys *phys);
int phys_fd(const struct phys *phys);
uint64_t phys_nr_frames(const struct phys *phys); /* excluding the zero page */
uint64_t phys_nr_free(const struct phys *phys);

/* Kernel address of a frame through the linear mapping. */
void *phys_kaddr(const struct phys *phys, uint32_t pfn);

/*
 * Allocate up to @nr zero-filled frames with a reference count of one each,
 * preferring a run that starts at @hint (a pfn, 0 for none) and frames that
 * are contiguous. Returns the number allocated (0 when memory is full) and
 * writes them to @pfns. Context: any; takes the allocator lock.
 */
unsigned int phys_alloc(struct phys *phys, uint32_t hint, unsigned int nr,
			uint32_t *pfns);
/*
 * Copy @nr frames from @src to @dst (runs of each). In the host kernel
 * (copy_file_range), so neither frame need be mapped here: a first touch
 * of each through the linear map would cost a host fault apiece, more than
 * the copy.
 */
void phys_copy(struct phys *phys, uint32_t dst, uint32_t src, unsigned int nr);
/*
 * Scatter allocation: each frame handed out leaves a free frame after it,
 * and hints and free runs are ignored, so that no two frames allocated one
 * after the other are contiguous in the file. A strategy to measure what
 * contiguity buys (umm bench), never a default. Context: any.
 */
void phys_set_scatter(struct phys *phys, bool scatter);
/*
 * The pool of freed frames kept resident and zeroed instead of punched out
 * of the file, up to @max_frames (default: half the memory, at most
 * 256 MiB; 0: none); the allocator hands them out first. Lowering
 * the cap keeps what is pooled (it drains as frames are taken).
 */
void phys_set_pool(struct phys *phys, uint64_t max_frames);
uint64_t phys_pool_default(const struct phys *phys);
uint64_t phys_nr_pooled(struct phys *phys);
void phys_get(struct phys *phys, uint32_t pfn);
unsigned int phys_refcount(const struct phys *phys, uint32_t pfn);
/*
 * Drop one reference to each of @nr frames. Frames whose count falls to zero
 * have their memory given back to the host (one fallocate per run) and
 * become free. The caller must have removed every host mapping of them.
 */
void phys_put_many(struct phys *phys, const uint32_t *pfns, unsigned int nr);
static inline void phys_put(struct phys *phys, uint32_t pfn)
{
	phys_put_many(phys, &pfn, 1);
}

/* ---- host address spaces and their batched operations ---- */

enum host_op_kind {
	HOST_OP_MAP, /* map file [off, off+len) at va with prot */
	HOST_OP_MAP_ZERO, /* map zeros, read-only (prot without WRITE) */
	HOST_OP_UNMAP, /* back to reserved: no access */
	HOST_OP_PROTECT, /* change prot of a range the host holds mapped */
};

/*
 * An eviction or a reset drops mappings of a space behind its user's back,
 * so a HOST_OP_PROTECT names the reset generation (host_as_gen()) at which
 * its caller knew the range to be mapped. When one came since, the host
 * cannot trust it (mprotect of a dropped range would open the reservation):
 * it drops the range instead, or skips the op when nothing there is mapped.
 */

#define HOST_OP_POPULATE 0x1 /* fill host page tables now (fault path) */

struct host_op {
	uint8_t kind;
	uint8_t flags;
	uint8_t prot;
	uint32_t gen; /* HOST_OP_PROTECT: see above */
	uint64_t va;
	uint64_t len;
	uint64_t off;
};

struct host_as;
struct vmamap;

/* The host VMAs one host process holds: its spaces count against it. */
struct host_vma_acct {
	unsigned long held; /* sum of its spaces' stats.vmas; atomic */
	unsigned long pending; /* room batches in flight asked; atomic */
};

/*
 * How a backend carries out a batch. Returns 0 or -errno of the first op
 * that failed, with *done set to the number of ops completed before it.
 * The backend counts the host calls it makes in as->stats.syscalls.
 */
struct host_backend {
	const char *name;
	int (*apply)(struct host_as *as, const struct host_op *ops,
		     unsigned int nr, unsigned int *done);
	/* Drop every mapping: the whole space back to reserved. 0 or -errno. */
	int (*reset)(struct host_as *as);
	void (*destroy)(struct host_as *as);
	/*
	 * Optional: drop every mapping for good, more cheaply than reset when
	 * the space is never used again (a stub's child ends). Else reset.
	 */
	void (*discard)(struct host_as *as);
	/*
	 * apply may run in several threads at once on one space, for ranges
	 * that do not overlap (the local backend: the host kernel orders its
	 * own mmaps). Else flushes of one space are carried out one by one.
	 */
	bool concurrent;
	/*
	 * The space is a host process of its own (a stub's child): its VMAs
	 * count against that process's limit, not this one's, and no other
	 * space's eviction touches it.
	 */
	bool own_process;
};

/*
 * Written by the space's owner, and by evictions and resets from other
 * threads (atomically): read them with relaxed atomic loads.
 */
struct host_stats {
	uint64_t ops; /* operations queued */
	uint64_t merged; /* of which merged into the one before: calls saved */
	uint64_t syscalls; /* host calls that carried them */
	uint64_t resets; /* whole-space drops (last resort) */
	uint64_t round_trips; /* stub backend: requests to the child */
	uint64_t fills; /* MAP and MAP_ZERO operations carried out */
	uint64_t fill_pages; /* pages they mapped */
	uint64_t evictions; /* mappings (host VMAs) dropped for room */
	uint64_t evicted_pages; /* pages they held */
	uint64_t vmas; /* host VMAs meeting the space now, reserved included */
	uint64_t vmas_mapped; /* of which mappings */
};

#define HOST_AS_QUEUE 64

/*
 * A batch of operations, queued (and merged) in order and carried out by
 * one flush. A space has one of its own for its owner (host_as_queue);
 * callers that share a space each fill their own (host_batch_queue).
 */
struct host_batch {
	unsigned int nr;
	struct host_op ops[HOST_AS_QUEUE];
};

struct host_as {
	const struct host_backend *backend;
	struct phys *phys;
	uint64_t size; /* addresses [0, size) */
	uintptr_t base; /* local backend: window base; else 0 */
	void *priv; /* backend's own */
	struct host_as *next_all; /* list of every space, for resets */
	struct host_as *prev_all;
	/*
	 * Taken for reading while a batch is carried out, for writing by an
	 * eviction or a reset, which bump reset_gen (read atomically, written
	 * under it). The VMA map is the owner's under it for reading.
	 */
	pthread_rwlock_t reset_lock;
	uint32_t reset_gen;
	struct vmamap *vmamap; /* the host VMAs it holds (host/vmamap.c) */
	struct host_vma_acct
		*acct; /* its process's: &own_acct, or this one's */
	struct host_vma_acct own_acct;
	bool no_merge; /* one host call per page: see host_as_set_merge() */
	bool discarded; /* host_as_discard(): nothing more is carried out */
	/*
	 * model_lock: the VMA map and the fill counts, against flushes of
	 * the space from several threads at once (host_batch_flush); with a
	 * backend that cannot apply concurrently, the apply too. Inside
	 * reset_lock.
	 */
	pthread_mutex_t model_lock;
	struct host_batch queue; /* the owner's */
	struct host_stats stats;
};

/*
 * A local address space: a window of @size bytes reserved PROT_NONE in this
 * process. NULL and errno on failure.
 */
struct host_as *host_as_new_local(struct phys *phys, uint64_t size);
/*
 * A recording address space: operations are carried out on nothing and kept
 * in order, for tests of the layers above. host_as_recorded() returns the
 * log; host_as_clear_record() empties it.
 */
struct host_as *host_as_new_record(struct phys *phys, uint64_t size);
const struct host_op *host_as_recorded(struct host_as *as, unsigned int *nr);
void host_as_clear_record(struct host_as *as);

void host_as_free(struct host_as *as);
/*
 * The space will carry out nothing more: every mapping is dropped now (a
 * stub space's child is killed, and reaped when the space is freed; a
 * local window goes back to reserved) and operations queued from now on
 * are discarded. For an owner about to let go of the space and of the
 * frames it mapped, which may then go at once (mm_put). Context: the
 * caller serialises use of @as.
 */
void host_as_discard(struct host_as *as);

/*
 * Queue an operation. Adjacent operations merge (same kind, prot and flags,
 * contiguous va and, for maps, contiguous file offset). A full queue is
 * flushed first. Context: the caller serialises use of @as.
 */
void host_as_queue(struct host_as *as, enum host_op_kind kind, uint64_t va,
		   uint64_t len, uint64_t off, int prot, unsigned int flags);

/*
 * Queue an operation into a batch of the caller's own (host_as_queue's
 * merging; a full batch is flushed first), and carry a batch out
 * (host_as_flush's handling of the budget and of refusals). For threads
 * that share a space: each may flush its own batch while others flush
 * theirs and the owner its queue, provided that no two of these batches
 * touch overlapping ranges at once (the caller orders those). Context:
 * any; host_as_discard() excluded.
 */
void host_batch_queue(struct host_as *as, struct host_batch *b,
		      enum host_op_kind kind, uint64_t va, uint64_t len,
		      uint64_t off, int prot, unsigned int flags);
void host_batch_flush(struct host_as *as, struct host_batch *b);

/*
 * Merging on (the default) or off. Off, every operation is queued page by
 * page and none merges, so each page costs its own host call: a strategy
 * to measure what merged batches buy (umm bench), with the same results.
 * Context: any (read atomically); operations queued before keep their form.
 */
void host_as_set_merge(struct host_as *as, bool merge);

/*
 * Queue a change of protection of [va, va+len), which the caller knew to be
 * mapped (whole) at reset generation @gen: skipped if a reset came since.
 */
void host_as_queue_protect(struct host_as *as, uint64_t va, uint64_t len,
			   int prot, uint32_t gen);
/*
 * The same for @pages pages from @va, counted as that many operations
 * queued page by page (and merged): the figures of a run queued whole are
 * those of its pages queued one by one.
 */
void host_as_queue_protect_pages(struct host_as *as, uint64_t va,
				 uint64_t pages, int prot, uint32_t gen);

/* The space's reset generation: bumped each time its mappings are dropped. */
static inline uint32_t host_as_gen(struct host_as *as)
{
	return __atomic_load_n(&as->reset_gen, __ATOMIC_ACQUIRE);
}

/*
 * Carry out every queued operation. Host refusals (ENOMEM, EAGAIN) and the
 * VMA budget are handled by dropping host mappings (they are a cache) and
 * going on; it never fails. Dropping evicts the least recently filled
 * mappings, of @as first and then of the other spaces in the same host
 * process, until that process holds three quarters of its budget (a
 * quarter less than it held, on a refusal); when that fails, every such
 * space is reset. A stub space is a process of its own: it counts against
 * the budget alone, and only its owner ever touches it. Each space that loses
 * a mapping has its reset generation bumped. Context: the caller
 * serialises use of @as; it takes the global space lock.
 */
void host_as_flush(struct host_as *as);

/*
 * Host VMAs mapped in [base, base+size) now, from /proc/self/maps (a stub
 * space: /proc/<child>/maps). -EOPNOTSUPP for a record space.
 */
long host_as_count_vmas(struct host_as *as);

/*
 * Call @fn for each host mapping in the space now (reservations skipped):
 * fn(va, len, prot, file, off, arg), where @file says it maps the physical
 * memory file at @off (else it maps zeros). A non-zero return stops the
 * walk and is returned. Local and stub backends (-EOPNOTSUPP otherwise);
 * reads /proc/.../maps, so it is for checks, not for hot paths.
 */
typedef int (*host_vma_fn)(uint64_t va, uint64_t len, int prot, bool file,
			   uint64_t off, void *arg);
int host_as_walk_vmas(struct host_as *as, host_vma_fn fn, void *arg);

/*
 * Call @fn for each host mapping the space holds as its VMA map counts
 * them (what host_as_walk_vmas should find, for the local backend): each
 * a host VMA, neighbours the host would merge merged. Any backend.
 * Context: as host_as_flush.
 */
int host_as_walk_model(struct host_as *as, host_vma_fn fn, void *arg);
/*
 * Host VMAs of every space held in this process (not the stub spaces, each
 * a process of its own), as their VMA maps count them.
 */
unsigned long host_vmas_held(void);

/* ---- the stub backend: a guest space in a child process (host/stub.c) ---- */

/*
 * The stub's pages lie at [HOST_STUB_START, HOST_STUB_END) in every stub
 * child, just below the top of x86-64 user space (2^47 - 4 KiB with 4-level
 * page tables): a stub space covers at most [0, HOST_STUB_START), and guest
 * mappings must stay out of the stub area. Nor can a child map below the
 * host's vm.mmap_min_addr (host_stub_min_addr()): a map op there fails
 * with -EPERM, as the same mmap of a Linux process does.
 */
#define HOST_STUB_START 0x7fffffff0000ULL
#define HOST_STUB_END	0x7ffffffff000ULL

/*
 * A space whose mappings live in a child process of its own: guest va ==
 * host va there, nothing else mapped but the stub area. Takes the pre-started
 * child when one waits for @phys (see host_stub_prestart). NULL and errno
 * (EINVAL for a size that is 0, unaligned or past HOST_STUB_START; ENOMEM;
 * EAGAIN or ESRCH when no child could be started). A space whose child has
 * died carries out nothing: its batches fail with -ESRCH.
 */
struct host_as *host_as_new_stub(struct phys *phys, uint64_t size);
/* The child process of a stub space; -1 for other backends. */
int host_stub_pid(struct host_as *as);
uint64_t host_stub_min_addr(void);
/*
 * Start a child to wait for the next space over @phys (a pool of one),
 * unless one waits already; host_as_new_stub takes it. Call it where the
 * caller would otherwise wait (after a fork or exec, once the guest runs):
 * the clone costs about as much as the child's boot. 0 or -errno.
 * host_stub_pool_drain() ends it (phys_free does so for its phys).
 * host_stub_pool_pid() is the waiting child's pid, or -1.
 */
int host_stub_prestart(struct phys *phys);
/*
 * Let batches made while the guest of @as does not run (it waits in the
 * stub's handler at a fault or syscall, or has not run yet) wait for the
 * next host_stub_resume, which carries them in its own round trip: one
 * round trip for a fault, not two, and none for an exec's new stack. The
 * child's mappings then lag the space's until that resume; nothing runs
 * there before it, and host_as_walk_vmas and host_as_count_vmas carry the
 * batch out first. Off: it is carried out now. A batch that fails at the
 * resume resets the space before the guest runs. Context: the owner.
 */
void host_stub_set_defer(struct host_as *as, bool on);
void host_stub_pool_drain(void);
int host_stub_pool_pid(void);
/*
 * Children are made by a zygote, a small stub child of the last phys a
 * space was made for that forks itself (cheaper than a clone of this
 * process), where it works; else cloned from this process. Off: always
 * cloned (and the zygote ends). host_stub_pool_drain() ends the zygote too
 * (phys_free does so for its phys). host_stub_zygote_pid() is its pid, or
 * -1. Context: any thread.
 */
void host_stub_set_zygote(bool on);
int host_stub_zygote_pid(void);
/*
 * Polls of the shared word before a futex sleep, both sides (default 2000,
 * ~20 us), made only while the other side is awake on another CPU when
 * @across_cpus (the default, where the CPU tells its number cheaply).
 */
void host_stub_set_spin(unsigned int polls, bool across_cpus);

/*
 * Running code in a stub space's child (its guest). The stub's code pages
 * are [HOST_STUB_START, HOST_STUB_CODE_END): a syscall filter tells the
 * stub's own calls from the guest's by the instruction pointer (the address
 * after the syscall instruction, in (HOST_STUB_START, HOST_STUB_CODE_END]).
 *
 * The registers of the guest, in the order of the x86-64 signal frame.
 */
#define HOST_STUB_CODE_END (HOST_STUB_START + 0x4000)

struct host_regs {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint64_t fs_base;
};

enum host_event_kind {
	HOST_EVENT_SYSCALL = 1, /* a trapped syscall: nr, regs.rip after it */
	HOST_EVENT_FAULT, /* a page fault: addr, err (page-fault error code) */
	HOST_EVENT_SIGNAL, /* any other synchronous signal: signo, code */
};

/* The page-fault error code's bits (x86). */
#define HOST_PF_PRESENT 0x1
#define HOST_PF_WRITE	0x2
#define HOST_PF_USER	0x4
#define HOST_PF_INSTR	0x10

struct host_event {
	uint32_t kind; /* enum host_event_kind */
	int32_t signo;
	int32_t code; /* si_code */
	uint32_t arch; /* HOST_EVENT_SYSCALL: the audit arch of the call */
	uint64_t nr; /* HOST_EVENT_SYSCALL: the syscall number */
	uint64_t addr; /* HOST_EVENT_FAULT: the address */
	uint64_t err; /* the page-fault error code */
	uint64_t trapno;
};

/*
 * Install a syscall filter in the child: @nr classic BPF instructions
 * (struct sock_filter, opaque here), checked by the host kernel. Before
 * the first host_stub_resume; once only. Its program must allow, from the
 * stub's code pages, the calls host_stub_syscalls() lists. 0 or -errno
 * (-EINVAL: too long; -ESRCH: the child is gone; the host's refusal).
 */
int host_stub_set_filter(struct host_as *as, const void *insns,
			 unsigned int nr);
/* The syscall numbers the stub makes once it serves requests. */
const int *host_stub_syscalls(unsigned int *nr);
/*
 * Run the child's guest from @regs until its next trapped syscall, fault
 * or signal: then @regs holds its registers and @ev says what happened.
 * Batches may be applied before the next resume. 0, -ESRCH when the child
 * died (killed, or a bug of the stub), -EIO when its answer is malformed,
 * -EINVAL for a space of another backend.
 */
int host_stub_resume(struct host_as *as, struct host_regs *regs,
		     struct host_event *ev);
/*
 * Stop the guest of @as: its host_stub_resume returns with a
 * HOST_EVENT_SIGNAL of HOST_EVENT_INTERRUPT (SIGVTALRM). Sent while the
 * guest does not run, it takes effect at the next resume, at once.
 * Context: any thread, also while another waits in host_stub_resume;
 * not once host_as_free may have begun.
 * 0 or -errno.
 */
int host_stub_interrupt(struct host_as *as);
#define HOST_EVENT_INTERRUPT 26 /* SIGVTALRM */

/*
 * The FPU state of a stub space's guest (x87, SSE, AVX and the rest the
 * host's xsave holds), in the format the host kernel puts in a signal
 * frame (Linux's uc_mcontext.fpstate): a standard-format xsave area whose
 * legacy part carries, at offset 464, the software bytes (FP_XSTATE_MAGIC1,
 * the extended size, the features, the xsave size), and FP_XSTATE_MAGIC2
 * right after the area: host_fpu_size() bytes in all. It fits in
 * HOST_STUB_FPU_MAX bytes (the stub's FPU area), or the calls below fail
 * with -EOPNOTSUPP.
 */
#define HOST_STUB_FPU_MAX 8192
/* Bytes of the host's FPU state; 0 when the host has no xsave. */
size_t host_fpu_size(void);
/*
 * The bytes of a state beginning with @head (its first 512 bytes) that
 * host_stub_fpu_set reads: host_fpu_size() when its software bytes say
 * xsave (FP_XSTATE_MAGIC1), else 512 (the legacy fxsave area only), as
 * Linux's rt_sigreturn reads a frame's fpstate.
 */
size_t host_fpu_len(const void *head);
/*
 * The FPU state @as's guest runs with at its next resume, into @buf of
 * *@len bytes; *@len becomes its size. It is the state set since the
 * guest's last event, else the state the guest stopped with (one round
 * trip to the child), else, before its first run, the state a new process
 * starts with (MXCSR 0x1f80, x87 control word 0x37f, registers zero).
 * 0 or -errno: -ENOSPC (*@len too small: *@len says what is needed),
 * -EOPNOTSUPP (the host's state has no xsave or does not fit the FPU
 * area), -ESRCH (the child is gone), -EIO (its answer is malformed),
 * -EINVAL (@as is not a stub space).
 * Context: the guest is stopped (between host_stub_resume calls).
 */
int host_stub_fpu_get(struct host_as *as, void *buf, size_t *len);
/*
 * Give @as's guest the FPU state @buf of @len bytes (host_fpu_len of it at
 * least) from its next resume on, or the state a new process starts with
 * when @buf is NULL; carried by that resume, no round trip of its own.
 * The state is checked as cheaply as the host kernel's rt_sigreturn does
 * and as the CPU's xrstor would: software bytes that do not say xsave, or
 * whose sizes or FP_XSTATE_MAGIC2 are wrong, give the legacy part only
 * (x87 and SSE; the rest starts afresh), as Linux does; features the
 * software bytes leave out start afresh too. 0 or -errno: -EINVAL for a
 * state the CPU refuses (MXCSR reserved bits against the host's mask,
 * xstate_bv features the host lacks, a compacted or dirty xsave header,
 * @len too short), where Linux's rt_sigreturn sends SIGSEGV, or for a
 * space that is not a stub space; -EOPNOTSUPP as host_stub_fpu_get.
 * Nothing changes on failure.
 * Context: the guest is stopped (between host_stub_resume calls).
 */
int host_stub_fpu_set(struct host_as *as, const void *buf, size_t len);

/* The process-wide VMA budget (see umm_set_host_vma_budget). */
int host_set_vma_budget(unsigned long nr);
unsigned long host_vma_budget(void);
unsigned long host_max_map_count(void);

#endif /* UMM_HOST_H */
