/* SPDX-License-Identifier: MIT */
/*
 * umm: a user-mode-Linux-style guest memory manager.
 *
 * A guest's "physical" memory is one memfd (struct umm_phys). A guest address
 * space (struct umm_mm) is a window of this process, reserved PROT_NONE,
 * whose pages are mapped from that file on demand: guest code touches
 * umm_host_addr(mm, va), the host raises SIGSEGV, umm runs the guest fault
 * and maps the page, the access is retried.
 *
 * Guest calls take Linux's constants (PROT_*, MAP_*) and return what the
 * Linux system call would: a value >= 0, or -errno. The guest behaves as an
 * unprivileged Linux process: addresses below 64 KiB (mmap_min_addr) are
 * refused with -EPERM.
 *
 * Constructors return NULL and set errno on failure.
 */
#ifndef UMM_H
#define UMM_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct umm_phys;
struct umm_mm;
struct umm_file;

#define UMM_PAGE_SIZE 4096ULL

/* Physical memory: a sparse memfd of @bytes (rounded up to pages). */
struct umm_phys *umm_phys_new(uint64_t bytes);
void umm_phys_put(struct umm_phys *phys);
uint64_t umm_phys_frames_free(struct umm_phys *phys);
uint64_t umm_phys_frames_total(struct umm_phys *phys);

/*
 * A guest address space on the local backend: guest addresses
 * [0, task_size) live at umm_host_addr(mm, 0) + va in this process.
 * task_size is rounded up to a page; it must lie in [1 MiB,
 * UMM_TASK_SIZE_MAX]: above it, just below 2^47, lie the pages of the stub
 * that holds a guest address space in a child process (the stub backend),
 * which no guest mapping may cover (mmap, mremap and brk stop at the task
 * size, as Linux's do at TASK_SIZE; seed 004).
 */
#define UMM_TASK_SIZE_MAX 0x7fffffff0000ULL
struct umm_mm *umm_mm_new(struct umm_phys *phys, uint64_t task_size);
void umm_mm_put(struct umm_mm *mm);
void *umm_host_addr(struct umm_mm *mm, uint64_t va);

/*
 * Pages allocated around an anonymous write fault (aligned block, within
 * the vma), and present file pages mapped around a file fault, in one host
 * operation. 1 turns fault-around off. Default 16. Returns 0 or -EINVAL
 * (nr_pages must be a power of two in [1, 512]).
 */
int umm_mm_set_fault_around(struct umm_mm *mm, unsigned int nr_pages);

/*
 * Strategies, to measure what each design choice buys (umm bench); the
 * defaults are the fast ones, and neither changes what the guest sees.
 * Host merging (default on): neighbouring host operations (contiguous
 * addresses and file offsets, one protection) go out as one host call;
 * off, every page costs its own call. Scatter (default off): frames are
 * allocated so that no two in a row are neighbours in the file, so guest
 * runs cannot merge into one host mapping. 0.
 */
int umm_mm_set_host_merge(struct umm_mm *mm, bool merge);
int umm_phys_set_scatter(struct umm_phys *phys, bool scatter);
/*
 * The frame pool (default on: half the memory, at most 256 MiB):
 * freed frames, up to @bytes of them, are kept resident and zeroed instead
 * of given back to the host at once, and handed out first, so a guest that
 * frees and touches again costs the host a memset, not a page freed and a
 * page allocated. 0: every freed frame goes back to the host at once;
 * UMM_POOL_DEFAULT: the default cap. The pool is free guest memory that
 * stays in the host's RSS. 0.
 */
#define UMM_POOL_DEFAULT UINT64_MAX
int umm_phys_set_pool(struct umm_phys *phys, uint64_t bytes);

/* Files: shmem (read/write, zero-filled) or a read-only host file. */
struct umm_file *umm_shmem_new(struct umm_phys *phys, uint64_t size);
struct umm_file *umm_file_open(struct umm_phys *phys, const char *host_path);
/* 0, -EINVAL (read-only file), -EFBIG (size too large). */
int umm_file_truncate(struct umm_file *file, uint64_t size);
uint64_t umm_file_size(struct umm_file *file);
void umm_file_put(struct umm_file *file);

/*
 * umm's own mmap flag: set VM_DONTCOPY (MADV_DONTFORK) atomically with the
 * mapping, so no fork can copy it between mmap and madvise (seed 000).
 * A bit Linux does not use on x86-64.
 */
#define UMM_MAP_DONTFORK 0x2000000

/* Guest memory calls: Linux's arguments and results. */
long umm_mmap(struct umm_mm *mm, uint64_t addr, uint64_t len, int prot,
	      int flags, struct umm_file *file, uint64_t off);
int umm_munmap(struct umm_mm *mm, uint64_t addr, uint64_t len);
int umm_mprotect(struct umm_mm *mm, uint64_t addr, uint64_t len, int prot);
/* Linux's brk: the new break, or the old one when the change is refused. */
long umm_brk(struct umm_mm *mm, uint64_t brk);
/*
 * madvise with Linux's MADV_* values and errnos. Supported: NORMAL,
 * RANDOM, SEQUENTIAL, WILLNEED, DONTNEED, DONTNEED_LOCKED, FREE, REMOVE,
 * POPULATE_READ, POPULATE_WRITE, DONTFORK, DOFORK, HUGEPAGE, NOHUGEPAGE,
 * DONTDUMP, DODUMP, WIPEONFORK, KEEPONFORK, COLD, PAGEOUT; others:
 * -EINVAL. A hole in the range: -ENOMEM, after the rest (POPULATE_*: at
 * the hole). REMOVE: -EACCES unless a shared mapping of a writable file,
 * -EINVAL on anonymous private or nonlinear mappings. POPULATE_*: -EINVAL
 * where the mapping forbids the access, -EFAULT where the fault would
 * raise a signal.
 */
int umm_madvise(struct umm_mm *mm, uint64_t addr, uint64_t len, int advice);

/*
 * mremap with Linux's MREMAP_* flags (MAYMOVE, FIXED, DONTUNMAP) and
 * errnos: the new address, or -errno. Moving moves page-table entries, not
 * page contents.
 */
long umm_mremap(struct umm_mm *mm, uint64_t old_addr, uint64_t old_len,
		uint64_t new_len, int flags, uint64_t new_addr);

/*
 * remap_file_pages: map the pages of a MAP_SHARED file mapping's file from
 * @pgoff at [start, start+size), nonlinearly. As Linux: @prot must be 0 and
 * the pages take the vma's protection; start and size are rounded down to
 * pages; -EINVAL for a zero size, a private or anonymous mapping, or a
 * range outside one vma. With UMM_MAP_MANYPROTS in @flags, @prot (PROT_*)
 * applies to these pages alone, bounded by what the mapping may ever allow
 * (its VM_MAY* bits: -EPERM beyond), not by its current protection. A file
 * page past what a pte can hold: -EOVERFLOW. MAP_NONBLOCK: set the
 * entries without faulting pages in. MANYPROTS also takes a MAP_SHARED
 * mapping of a file opened read-only (which Linux's call refuses: it is not
 * VM_SHARED), where PROT_WRITE is -EPERM. A fault on a manyprots mapping is
 * judged by the page's own protection. mprotect gives every page of its
 * range the new protection. 0 or -errno.
 */
#define UMM_MAP_MANYPROTS 0x4000000
int umm_remap_file_pages(struct umm_mm *mm, uint64_t start, uint64_t size,
			 int prot, uint64_t pgoff, int flags);

/*
 * Several remap_file_pages at once, as a guest kernel refilling its TLB or
 * switching page tables makes them: @nr ranges, each taken as
 * umm_remap_file_pages takes its arguments (@flags for all), in order,
 * under one lock and with one host update. Returns how many ranges were
 * remapped: @nr, or those before the first that failed; -errno when the
 * first fails (and 0 for @nr 0). A range that fails for want of memory
 * (-ENOMEM) may have remapped its first pages, as the single call may.
 *
 * UMM_REMAP_FLUSH in @flags is the caller's TLB flush: where the ranges
 * replace 32 or more pages the host may hold in one mapping (counted a
 * remap at a time; x86 Linux flushes its whole TLB past 33 pages), the
 * host drops every page of that mapping from the first such page to the
 * last, in one call, instead of replacing each: any of them comes back at
 * its next touch, a fault each. Without it, each such page is replaced,
 * neighbours merged.
 */
#define UMM_REMAP_FLUSH 0x8000000
struct umm_remap {
	uint64_t start, size;
	uint64_t pgoff;
	int prot;
};
long umm_remap_file_pages_many(struct umm_mm *mm, const struct umm_remap *r,
			       unsigned int nr, int flags);

/*
 * fork: a child mm in a window of its own. Vmas are copied but VM_DONTCOPY
 * ones (MADV_DONTFORK, UMM_MAP_DONTFORK); VM_WIPEONFORK ones are empty in
 * the child; shared mappings share frames; private pages are shared
 * copy-on-write, except pages pinned with UMM_FOLL_PIN, which the child
 * gets a copy of at once. NULL and errno on failure.
 */
struct umm_mm *umm_fork(struct umm_mm *parent);

/*
 * get_user_pages: references to the frames behind guest pages of any mm
 * (it need not be running), faulting them in as needed.
 *
 * UMM_FOLL_WRITE     the kernel will write: the page is made writable
 *                    (COW broken); a read-only vma: -EFAULT, unless
 * UMM_FOLL_FORCE     and the vma is private and may be written: the page
 *                    is copied into an exclusive page the guest still
 *                    cannot write (ptrace's poke)
 * UMM_FOLL_GET       a reference: drop with umm_put_page()
 * UMM_FOLL_PIN       a pin, for DMA-like access: drop with umm_unpin(). A
 *                    read-only pin of an anonymous page that may be shared,
 *                    or of the zero page, unshares it first, so the pin
 *                    sees what the guest writes; fork copies pinned pages.
 * UMM_FOLL_LONGTERM  with UMM_FOLL_PIN: held for long
 *
 * Exactly one of GET and PIN (unless @pages is NULL: then the pages are
 * only faulted in). Returns the number of pages got (fewer than asked when
 * a later page fails), or -EFAULT when the first fails (no vma, or an
 * access the vma refuses), -EINVAL for bad flags, -ENOMEM.
 */
#define UMM_FOLL_WRITE	  0x01
#define UMM_FOLL_FORCE	  0x10
#define UMM_FOLL_GET	  0x04
#define UMM_FOLL_PIN	  0x40000
#define UMM_FOLL_LONGTERM 0x100
#define UMM_FOLL_ALL                                                     \
	(UMM_FOLL_WRITE | UMM_FOLL_FORCE | UMM_FOLL_GET | UMM_FOLL_PIN | \
	 UMM_FOLL_LONGTERM)

struct umm_page;
long umm_gup(struct umm_mm *mm, uint64_t start, long nr_pages,
	     unsigned int gup_flags, struct umm_page **pages);
/* Drop pins; @dirty: the kernel wrote to the pages. */
void umm_unpin(struct umm_page **pages, long nr_pages, bool dirty);
void umm_put_page(struct umm_page *page);
/* The kernel's address of the frame (the linear map of physical memory). */
void *umm_page_addr(struct umm_page *page);

/* A frame's counts, for tests and debugging. */
struct umm_page_state {
	uint32_t pfn;
	uint32_t refcount; /* ptes + page cache + GUP references + pins */
	uint32_t mapcount; /* ptes mapping it */
	uint32_t pincount; /* UMM_FOLL_PIN pins */
	bool anon, anon_exclusive, zero_page;
};
void umm_page_state(struct umm_page *page, struct umm_page_state *st);
/*
 * Times a pinned page was unpinned while no longer anon-exclusive: a pin
 * that may have lost sight of the guest's page (a bug; logged too).
 */
unsigned long umm_gup_unpin_bugs(void);

/*
 * exec's arguments: the NULL-terminated arrays @argv and @envp of guest
 * string pointers in @old are copied, through remote GUP, onto a new stack
 * vma at the top of @new (which must have nothing mapped there), in Linux's
 * initial-stack layout: argc at *sp, then argv[], NULL, envp[], NULL, then
 * UMM_AUXV_WORDS zero words for the auxiliary vector, then the strings.
 * -E2BIG past Linux's limits (a quarter of the 8 MiB stack limit for all
 * of it, 128 KiB for one string), -EFAULT for a bad pointer, -ENOMEM,
 * -EINVAL (old == new). @old is only read; on failure @new is as it was.
 */
#define UMM_AUXV_WORDS 64
long umm_exec_args(struct umm_mm *old, uint64_t argv, uint64_t envp,
		   struct umm_mm *new, uint64_t *sp);

/*
 * Run guest code: fn(arg) on this thread. Guest faults are handled as they
 * come. Returns 0 when fn returned; otherwise the guest signal (SIGSEGV or
 * SIGBUS) that a fault the guest mm refused raised, with fault->si_signo,
 * fault->si_code as Linux sets them and fault->si_addr the guest address.
 * fn is abandoned at the faulting access (siglongjmp), so it must not hold
 * locks or own resources it has not released. Safe from several threads.
 */
int umm_guest_call(struct umm_mm *mm, void (*fn)(void *), void *arg,
		   siginfo_t *fault);

/* The guest's mappings in /proc/PID/maps format. 0 or -errno. */
int umm_maps(struct umm_mm *mm, FILE *out);

/* What an mm did: faults by kind and what it cost the host. */
struct umm_stats {
	uint64_t fault_anon_zero; /* read fault mapped the zero page */
	uint64_t fault_anon; /* fresh anonymous frames */
	uint64_t fault_file; /* file page mapped (shared or read) */
	uint64_t fault_cow; /* private copy made on write */
	uint64_t fault_wp_reuse; /* write fault reused the frame */
	uint64_t fault_dirty; /* write to a clean writable page */
	/*
	 * Touch of a page not marked accessed (after a remap, a populate, a
	 * host drop): the accessed bit, set as hardware would set it
	 */
	uint64_t fault_young;
	uint64_t fault_host_miss; /* pte was fine, host had dropped it */
	/* another vCPU's fault had fixed the pte and the host: nothing to do */
	uint64_t fault_spurious;
	uint64_t fault_sigsegv;
	uint64_t fault_sigbus;
	uint64_t pages_faulted_around; /* neighbours mapped with a fault */
	/*
	 * Faults the guest took (host SIGSEGVs, software TLB misses the pte
	 * refused). The kinds above count these and the faults umm makes
	 * itself: get_user_pages, MADV_POPULATE_*, `umm run`'s fork and exec
	 * touching ahead for the guest.
	 */
	uint64_t faults_taken;
	/* Spans umm_remap_file_pages_many had the host drop whole. */
	uint64_t remap_drops;
	uint64_t host_ops; /* operations queued */
	uint64_t host_syscalls; /* system calls that carried them */
	uint64_t host_resets; /* times every host mapping was dropped */
	/*
	 * The host mappings as a TLB (the window's own figures): fills (map
	 * operations carried out, and their pages), evictions (host mappings
	 * dropped, least recently filled first, to stay under the budget or
	 * after a host refusal, and their pages), operations merged into a
	 * neighbour's host call (host calls saved by merging).
	 */
	uint64_t host_fills;
	uint64_t host_fill_pages;
	uint64_t host_evictions;
	uint64_t host_evicted_pages;
	uint64_t host_merged;
	/* Counters above, levels now below (guest_vmas first). */
	uint64_t guest_vmas;
	/*
	 * Host VMAs the window holds now, as umm counts them: mappings, and
	 * with the reserved pieces between them (what the budget counts).
	 */
	uint64_t host_vmas;
	uint64_t host_vmas_all;
};
void umm_mm_stats(struct umm_mm *mm, struct umm_stats *stats);

/*
 * Host VMAs this mm's window holds now, read from /proc/self/maps: the
 * mappings of guest pages, not counting the PROT_NONE reservation.
 * -errno on failure.
 */
long umm_host_vmas(struct umm_mm *mm);

/*
 * The host VMA budget shared by every window of this process. Host mappings
 * are a cache: umm counts the host VMAs each window holds, and when a flush
 * would take the process past the budget, it evicts the least recently
 * filled mappings (the flushing window's first) down to three quarters of
 * it; later faults refill them. Default: half of vm.max_map_count. 0 or
 * -EINVAL (below 64, or above vm.max_map_count).
 */
int umm_set_host_vma_budget(unsigned long nr_vmas);

/*
 * Check the invariant behind the host cache: every host mapping of this
 * mm's window maps the frame its guest pte maps (zeros for the zero page)
 * and allows no more than the pte does. Returns the number of host pages
 * that disagree (0: coherent; details on stderr), or -errno. Slow: for
 * tests and debugging.
 */
long umm_mm_check(struct umm_mm *mm);
unsigned long umm_host_vma_budget(void);

/*
 * Software TLBs, for emulators that translate every guest access (QEMU's
 * softmmu does): per vCPU, a table of guest page -> host pointer (through
 * the physical memory's linear map), filled from the mm's page tables.
 *
 * umm_tlb_new: @entries a power of two in [16, 65536]; NULL and errno
 * (EINVAL, ENOMEM). The TLB starts on @mm and holds a reference to each
 * mm it has entries for (up to 8, least recently switched-to dropped).
 *
 * umm_tlb_lookup: @access is PROT_READ, PROT_WRITE or PROT_EXEC. Returns
 * the host address of @va, faulting as the guest access would on a miss;
 * NULL with errno EFAULT when the guest would get a signal, EINVAL for a
 * bad @access. The pointer may be used for accesses within @va's page
 * until the calling thread's next umm call (a lookup, or anything else).
 * One thread looks up through a TLB at a time (its vCPU); a vCPU that
 * stops looking up for a while (waits, sleeps) calls umm_tlb_quiesce
 * first, or changes to the mm wait for it. Every change of the mm that
 * narrows access (munmap, mprotect, fork's write-protect, copy-on-write,
 * MADV_DONTNEED, remap, truncation) removes the page from every TLB and
 * waits until no vCPU can still use it before it returns.
 *
 * umm_tlb_switch: look up in @mm's address space from now on; entries of
 * the others stay (tagged), so switching back needs no flush.
 * umm_tlb_flush_asid: drop @mm's entries, and the TLB's reference to it
 * unless it is the current mm. 0 or -ENOENT.
 * umm_tlb_free: by its vCPU thread, or once that thread has exited.
 */
struct umm_tlb;
struct umm_tlb_stats {
	uint64_t hits, misses, victim_hits; /* victim hits count as hits */
	uint64_t fills_read, fills_write, fills_exec;
	uint64_t faults; /* misses the page tables could not serve */
	uint64_t flushes_all, flushes_page, flushes_range, flushes_asid;
	uint64_t shootdowns; /* entries removed by changes of the mm */
	uint64_t flushes_elided; /* flushes that found nothing to remove */
	uint64_t shootdown_waits; /* changes that waited for this vCPU */
	uint32_t entries;
};
struct umm_tlb *umm_tlb_new(struct umm_mm *mm, unsigned int entries);
void umm_tlb_free(struct umm_tlb *tlb);
void *umm_tlb_lookup(struct umm_tlb *tlb, uint64_t va, int access);
void umm_tlb_quiesce(struct umm_tlb *tlb);
int umm_tlb_switch(struct umm_tlb *tlb, struct umm_mm *mm);
void umm_tlb_flush_all(struct umm_tlb *tlb);
void umm_tlb_flush_page(struct umm_tlb *tlb, uint64_t va);
void umm_tlb_flush_range(struct umm_tlb *tlb, uint64_t start, uint64_t end);
int umm_tlb_flush_asid(struct umm_tlb *tlb, struct umm_mm *mm);
void umm_tlb_stats(struct umm_tlb *tlb, struct umm_tlb_stats *stats);

const char *umm_version(void);

#ifdef __cplusplus
}
#endif
#endif /* UMM_H */
