/* SPDX-License-Identifier: MIT */
/*
 * The stub backend's contract between the kernel (this process) and the
 * stub (a child process holding a guest address space): where the stub's
 * pages lie in the child, the page they share, and raw system calls for
 * code that runs in the child with no C library.
 *
 * Included by host/stub.c (the kernel side) and host/stub_code.c (the code
 * that runs in the child, built without sanitizers or stack protector).
 *
 * The stub area in the child, a file of its own ("umm-stub") mapped at
 * HOST_STUB_START (host/host.h):
 *
 *   HOST_STUB_START +0x0000  code, HOST_STUB_CODE_PAGES, r-x, copied from
 *                            the umm_stub_text section of this program
 *                   +0x4000  the shared page (struct stub_page), rw-
 *                   +0x5000  the stub's stack, HOST_STUB_STACK_PAGES, rw-
 *                   +0xd000  the FPU area, HOST_STUB_FPU_PAGES, rw-: the
 *                            guest's FPU state (an xsave area in the
 *                            host's signal-frame format) on its way in
 *                            or out, up to HOST_STUB_END
 *
 * The kernel maps the same file's shared page and stack (not the code) at
 * an address of its own; the stack part serves as the child's first stack
 * while it boots, before the stub area exists at its fixed address.
 *
 * A child starts one of two ways. Cloned from the kernel (host_stub_clone):
 * it copies the kernel's whole address space and then unmaps it. Or
 * spawned by the zygote, a stub child that serves only STUB_CMD_SPAWN: it
 * forks itself (CLONE_PARENT: the new child is the kernel's, which reaps
 * it), which copies only the stub area. The new child starts on a private
 * page the zygote mapped below the stub area (STUB_SPAWN_STACK), opens the
 * stub file the kernel made for it through /proc/<kernel>/fd/<n> (the path
 * in spawn_path), maps it over the zygote's (the code is the same bytes at
 * the same offsets) and boots as a cloned child does from the stub's
 * entry on. Either way the child then holds the same.
 */
#ifndef UMM_HOST_STUB_H
#define UMM_HOST_STUB_H

#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "host/host.h"

#define HOST_STUB_CODE_PAGES  4
#define HOST_STUB_STACK_PAGES 8
#define HOST_STUB_CODE	      HOST_STUB_START
#define HOST_STUB_PAGE	      (HOST_STUB_CODE + HOST_STUB_CODE_PAGES * PAGE_SIZE)
#define HOST_STUB_STACK	      (HOST_STUB_PAGE + PAGE_SIZE)
#define HOST_STUB_STACK_TOP \
	(HOST_STUB_STACK + HOST_STUB_STACK_PAGES * PAGE_SIZE)
#define HOST_STUB_FPU	    HOST_STUB_STACK_TOP
#define HOST_STUB_FPU_PAGES (HOST_STUB_FPU_MAX / PAGE_SIZE)
#define HOST_STUB_USED_END  (HOST_STUB_FPU + HOST_STUB_FPU_MAX)
/* The file: code, then the shared page and the stack. */
#define HOST_STUB_FILE_SIZE (HOST_STUB_USED_END - HOST_STUB_START)
#define HOST_STUB_PAGE_OFF  (HOST_STUB_PAGE - HOST_STUB_START)

_Static_assert(HOST_STUB_USED_END <= HOST_STUB_END, "the stub area's pages");
_Static_assert(HOST_STUB_FPU_MAX % PAGE_SIZE == 0, "the FPU area in pages");

/*
 * The signal host_stub_interrupt sends: caught by the stub while the guest
 * runs (blocked otherwise, so it waits for the next resume).
 */
#define HOST_STUB_INTERRUPT SIGVTALRM

/* The child's only file descriptor: the physical memory file. */
#define HOST_STUB_PHYS_FD 3

/* Commands, in stub_page.cmd. */
enum stub_cmd {
	STUB_CMD_BOOT = 1, /* first request: the stub reports it is up */
	STUB_CMD_BATCH, /* carry out ops[0, nr_ops) */
	STUB_CMD_RESET, /* [min_addr, size) back to reserved (PROT_NONE) */
	STUB_CMD_FILTER, /* install the syscall filter filter[0, nr_ops) */
	/*
	 * Return into the guest with the registers of handoff. Acknowledged
	 * at the guest's next event (trapped syscall, fault, signal), with
	 * its registers and the event in handoff.
	 */
	STUB_CMD_RESUME,
	/*
	 * Served only in the handler (else -ENOENT): copy the FPU state of
	 * the guest's frame into the FPU area; its length in fpu_len.
	 */
	STUB_CMD_FPU_GET,
	/*
	 * Carry out ops[0, nr_ops) as BATCH does, then, if all went, enter
	 * the guest as RESUME does (acknowledged at its next event); if one
	 * failed, acknowledge with err and done at once and stay where it
	 * was: in the handler, or in the main loop before the first entry.
	 */
	STUB_CMD_BATCH_RESUME,
	/*
	 * Served only in the main loop of a stub no guest has run in (the
	 * zygote): fork a child of the kernel that boots from the stub file
	 * at spawn_path; its pid in spawn_pid.
	 */
	STUB_CMD_SPAWN,
};

/* The zygote's private page for a new child's first stack and its path. */
#define STUB_SPAWN_STACK (HOST_STUB_START - PAGE_SIZE)
#define STUB_SPAWN_PATH	 256

/* The filter, in the ops area: classic BPF instructions (8 bytes each). */
#define STUB_FILTER_MAX (STUB_OPS * sizeof(struct host_op) / 8)

struct stub_handoff {
	struct host_regs regs;
	struct host_event ev;
	/* the stub's own: the guest's FS base as it last knew it */
	uint64_t fs_base;
	uint32_t fs_loaded;
	uint32_t nr_events;
	/*
	 * Set by the kernel: the CPU and the host let user code read and
	 * write the FS base (rdfsbase/wrfsbase; HWCAP2_FSGSBASE), so the
	 * guest may change it without a syscall, and the stub reads it back.
	 */
	uint32_t fsgsbase;
	/*
	 * Set by the kernel before a RESUME: bytes of the FPU area to load
	 * into the guest's FPU (checked by the kernel already), 0: keep it.
	 * The stub clears it once it has taken them.
	 */
	uint32_t fpu_load;
	/* Written by the stub at STUB_CMD_FPU_GET: bytes it saved. */
	uint32_t fpu_len;
	uint32_t pad;
};

/* stub_page.flags, kept by the stub */
#define STUB_LOW_MAPPED 0x2 /* something was mapped below min_addr */

#define STUB_OPS HOST_AS_QUEUE

/*
 * The shared page. One request at a time, kernel to stub:
 *
 *   kernel: write cmd and its arguments; req = seq (seq_cst); if
 *           stub_waiting, FUTEX_WAKE(req). Spin on ack, then set
 *           kernel_waiting and FUTEX_WAIT(ack) with a timeout, checking
 *           that the child lives at each timeout.
 *   stub:   spin on req, then set stub_waiting and FUTEX_WAIT(req); carry
 *           out cmd; write err, done; ack = seq (seq_cst); if
 *           kernel_waiting, FUTEX_WAKE(ack).
 *
 * With spin_across, a side spins only when the other is awake on another
 * CPU (kernel_cpu, stub_cpu): spinning for a side that shares our CPU only
 * delays it, and one that sleeps takes longer to wake than a spin lasts.
 *
 * Each side announces that it sleeps before it checks the word a last time
 * (Dekker), so a wake is made only to a sleeper and never lost. The words
 * lie in a MAP_SHARED file page: shared (not private) futexes.
 *
 * The page is writable in the child, so once guest code runs there the
 * kernel reads nothing from it it does not check (done <= nr_ops, err a
 * small negative errno).
 *
 * Faults and syscalls: STUB_CMD_RESUME enters the guest through
 * rt_sigreturn of a frame built on the stub's stack. The guest's next
 * SIGSEGV, SIGSYS (a trapped syscall), SIGBUS, SIGILL, SIGFPE or SIGTRAP
 * runs the stub's handler on the stub's stack (sigaltstack): it copies the
 * registers of its signal frame and what the signal says into handoff,
 * acknowledges the RESUME, then serves commands as the main loop does (the
 * kernel may send batches while it handles the event) until the next
 * STUB_CMD_RESUME, copies the registers back into the frame and returns
 * through rt_sigreturn (its own restorer: the child has no vdso).
 *
 * The guest's FPU state lies in the xsave area of the handler's frame,
 * which the host kernel restores at that rt_sigreturn: STUB_CMD_FPU_GET
 * copies it out into the FPU area, and a RESUME with handoff.fpu_load set
 * copies the area into it (at the first entry, into the frame the stub
 * builds). The plain syscall path copies no FPU state.
 */
struct stub_page {
	/* kernel -> stub */
	uint32_t req; /* sequence number of the request posted */
	uint32_t stub_waiting; /* the stub sleeps on req */
	/* stub -> kernel */
	uint32_t ack; /* sequence number of the last request carried out */
	uint32_t kernel_waiting; /* the kernel sleeps on ack */

	uint32_t cmd; /* enum stub_cmd */
	uint32_t nr_ops; /* STUB_CMD_BATCH */
	uint32_t gen; /* reset generation: stale PROTECTs are skipped */
	uint32_t spin; /* polls of the other side's word before sleeping */
	uint64_t min_addr; /* lowest address the child may map */
	uint64_t size; /* the guest range is [0, size) */

	/* results, written by the stub */
	int32_t err; /* 0 or -errno of the first op that failed */
	uint32_t done; /* ops carried out before it */
	uint32_t flags; /* STUB_LOW_MAPPED */
	uint32_t spin_across; /* spin only when the other side runs elsewhere */
	uint64_t syscalls; /* mapping calls made, cumulative */
	uint64_t futex_calls; /* futex waits and wakes made, cumulative */
	int32_t spawn_pid; /* STUB_CMD_SPAWN: the new child */
	uint32_t pad1;

	/* boot: written by the kernel before the child starts */
	int32_t boot_stub_fd; /* the stub file */
	int32_t boot_phys_fd; /* the physical memory file */
	int32_t boot_ppid; /* the kernel's pid: the stub leaves when orphaned */
	uint32_t boot_entry; /* offset of host_stub_entry in the code */
	uint64_t boot_code_len; /* bytes of code */
	/*
	 * The C library's rseq area of the thread that cloned the child: the
	 * child inherits its registration, and the host kernel would kill it
	 * with SIGSEGV when it updates the area once it is unmapped.
	 */
	uint64_t boot_rseq;
	uint32_t boot_rseq_len;
	uint32_t boot_rseq_sig;

	uint32_t kernel_cpu; /* where each side ran when it last posted */
	uint32_t stub_cpu;

	union {
		struct host_op ops[STUB_OPS];
		uint64_t filter[STUB_FILTER_MAX];
		char spawn_path[STUB_SPAWN_PATH]; /* NUL-terminated */
	};

	/* the registers handed over at a fault or syscall */
	struct stub_handoff handoff;
};

_Static_assert(HOST_STUB_CODE_END ==
		       HOST_STUB_CODE + HOST_STUB_CODE_PAGES * PAGE_SIZE,
	       "host.h's end of the stub's code");
_Static_assert(sizeof(struct stub_page) <= PAGE_SIZE,
	       "the shared page is one page");

/*
 * Raw system calls, inlined into their callers so that code copied to the
 * stub area calls nothing outside itself. Return the kernel's value:
 * n >= 0, or -errno.
 */
static inline __attribute__((always_inline)) long
stub_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/*
 * The CPU this runs on, without a system call: rdtscp's TSC_AUX, which
 * Linux sets to the CPU number (and the node above bit 12). Only where the
 * CPU has rdtscp (host/stub.c checks before asking for spin_across).
 */
static inline __attribute__((always_inline)) uint32_t stub_cpu_now(void)
{
	uint32_t lo, hi, aux;

	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	(void)lo;
	(void)hi;
	return aux & 0xfff;
}

#define stub_syscall3(nr, a, b, c)    stub_syscall6(nr, a, b, c, 0, 0, 0)
#define stub_syscall4(nr, a, b, c, d) stub_syscall6(nr, a, b, c, d, 0, 0)

static inline __attribute__((always_inline)) int stub_failed(long ret)
{
	return (unsigned long)ret > -4096UL;
}

/* In host/stub_code.c. */

/* The stub's entry, run in the child from its code pages. */
void host_stub_entry(struct stub_page *d) __attribute__((noreturn));

/* The stub's code: where it lies in this program, and its entry's offset. */
const void *host_stub_code(uint64_t *len, uint32_t *entry);
/*
 * Start a child (a clone without CLONE_VM) that boots on the stack below
 * @stack_top: it maps the stub area from page->boot_stub_fd and jumps to
 * the stub, which carries out the boot request. Returns the child's pid
 * or -errno, with a pidfd for it in *pidfd (-1 where the host has none).
 * Context: any thread; the child runs no code of the C library.
 */
long host_stub_clone(void *stack_top, struct stub_page *page, int *pidfd);

#endif
