/* SPDX-License-Identifier: MIT */
/*
 * mm/: guest memory management. What um/ (and the public API) may call.
 * Every call that takes a guest range returns what Linux's system call
 * would: a value >= 0, or -errno.
 */
#ifndef UMM_MM_H
#define UMM_MM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "arch/softtlb.h"
#include "host/host.h"
#include "include/umm.h"

struct mem; /* guest physical memory: struct umm_phys */
struct mm;
struct file;

/* NULL and errno. */
struct mem *mem_new(uint64_t bytes);
void mem_put(struct mem *mem);
struct phys *mem_phys(struct mem *mem);

/*
 * A guest mm over the host space @as (which it owns from then on). NULL and
 * errno (EINVAL for a task size outside [1 MiB, 2^47)).
 */
struct mm *mm_new(struct mem *mem, struct host_as *as, uint64_t task_size);
void mm_get(struct mm *mm);
/*
 * fork: a child mm over the new host space @as (which it owns from then
 * on), sharing the parent's pages copy-on-write. NULL and errno (ENOMEM).
 */
struct mm *mm_fork(struct mm *parent, struct host_as *as);
void mm_put(struct mm *mm);
/*
 * mm_put, but when it was the last reference, the mm's host space is
 * handed back, discarded (nothing more carried out there; a stub space's
 * child killed, its mappings going with it), its frames free, for the
 * caller to host_as_free() when it likes: a stub space's child is then
 * reaped, which waits for the host to tear it down. NULL otherwise.
 */
struct host_as *mm_put_keep_space(struct mm *mm);
struct host_as *mm_host_as(struct mm *mm);
uint64_t mm_task_size(struct mm *mm);
int mm_set_fault_around(struct mm *mm, unsigned int nr_pages);
void mm_stats(struct mm *mm, struct umm_stats *stats);

/*
 * Handle a guest fault at @va for @access (PROT_READ, PROT_WRITE or
 * PROT_EXEC). Returns 0 when the access may be retried, or the guest signal
 * (SIGSEGV, SIGBUS) with *si_code set. Context: takes mm's lock; the caller
 * must not hold it (a fault with it held is a bug of umm: it aborts).
 */
int mm_handle_fault(struct mm *mm, uint64_t va, int access, int *si_code);
/*
 * The calling thread may walk page tables without a lock (RCU): faults it
 * takes look for a pte another thread fixed before taking any lock. For
 * threads that run guest code; normal context, not a signal handler.
 */
void mm_thread_register(void);

long mm_mmap(struct mm *mm, uint64_t addr, uint64_t len, int prot, int flags,
	     struct file *file, uint64_t off);
int mm_munmap(struct mm *mm, uint64_t addr, uint64_t len);
int mm_mprotect(struct mm *mm, uint64_t addr, uint64_t len, int prot);
long mm_brk(struct mm *mm, uint64_t brk);
int mm_maps_show(struct mm *mm, FILE *out);
int mm_madvise(struct mm *mm, uint64_t start, uint64_t len, int advice);
long mm_mremap(struct mm *mm, uint64_t old_addr, uint64_t old_len,
	       uint64_t new_len, int flags, uint64_t new_addr);
int mm_remap_file_pages(struct mm *mm, uint64_t start, uint64_t size, int prot,
			uint64_t pgoff, int flags);
long mm_remap_file_pages_many(struct mm *mm, const struct umm_remap *r,
			      unsigned int nr, int flags);
/*
 * mincore: one byte per page of [start, start + len) into @vec (a kernel
 * buffer of PAGE_ALIGN(len) / PAGE_SIZE bytes), 1 when the page is in
 * core. 0, -EINVAL (unaligned start), -ENOMEM (a page in no vma).
 */
long mm_mincore(struct mm *mm, uint64_t start, uint64_t len,
		unsigned char *vec);
/* msync: 0, -EINVAL (flags, alignment), -ENOMEM (a hole in the range). */
int mm_msync(struct mm *mm, uint64_t start, uint64_t len, int flags);
/* Where the heap begins (exec: the end of the program's bss). */
void mm_set_brk(struct mm *mm, uint64_t start);

/* get_user_pages (UMM_FOLL_* flags): pages got, or -errno. */
struct page;
long mm_gup(struct mm *mm, uint64_t start, long nr_pages,
	    unsigned int gup_flags, struct page **pages);
void page_put(struct page *page);
void page_unpin(struct page *page, bool dirty);
void *page_kaddr(struct page *page);
unsigned long gup_unpin_bugs(void);
void page_state(struct page *page, struct umm_page_state *st);

/* exec's arguments: see umm_exec_args. 0 or -errno. */
long mm_exec_args(struct mm *old, uint64_t argv, uint64_t envp, struct mm *new,
		  uint64_t *sp);
/*
 * The same in two steps, for an exec that must judge its arguments before
 * it looks at the file's format, as Linux does: gather reads them in @old
 * (NULL and *err: -EFAULT, -E2BIG, -ENOMEM), place writes the new stack
 * from them (a string changed since: as it reads then), free lets go.
 */
struct exec_args;
struct exec_args *mm_exec_args_gather(struct mm *old, uint64_t argv,
				      uint64_t envp, long *err);
long mm_exec_args_place(struct mm *old, struct exec_args *a, struct mm *new,
			uint64_t *sp);
void mm_exec_args_free(struct exec_args *a);
/*
 * Host pages that disagree with their guest pte (0: the host cache is
 * coherent), or -errno. Context: takes mm's lock; slow (reads maps).
 */
long mm_check_host(struct mm *mm);

/* Files. NULL and errno. */
struct file *file_shmem_new(struct mem *mem, uint64_t size);
struct file *file_host_open(struct mem *mem, const char *path);
/*
 * As file_host_open, from host fd @fd, already open for reading (the file
 * keeps a dup of it); @name is what maps show. Also EBADF: @fd is not open,
 * or not for reading.
 */
struct file *file_host_fdopen(struct mem *mem, int fd, const char *name);
void file_get(struct file *file);
void file_put(struct file *file);
int file_truncate(struct file *file, uint64_t size);
uint64_t file_size(struct file *file);
/*
 * Read up to @len bytes at @off through the file's page cache (kernel_read):
 * the bytes read (0 at or past the end) or -errno.
 */
ssize_t file_read(struct file *file, void *buf, size_t len, uint64_t off);

/*
 * Copy between @buf and guest memory at @va of @mm, as a kernel's
 * copy_to_user/copy_from_user (@write: into the guest), through GUP.
 * Returns the bytes not copied. Takes the mm lock.
 */
size_t mm_access_remote(struct mm *mm, uint64_t va, void *buf, size_t len,
			bool write);

/* Software TLBs (mm/softtlb.c, arch/softtlb.h). */
struct mm_tlb;
struct mm_tlb *mm_tlb_new(struct mm *mm, unsigned int entries);
void mm_tlb_free(struct mm_tlb *t);
void mm_tlb_switch(struct mm_tlb *t, struct mm *mm);
int mm_tlb_flush_asid(struct mm_tlb *t, struct mm *mm);
void mm_tlb_flush_all(struct mm_tlb *t);
void mm_tlb_flush_page(struct mm_tlb *t, uint64_t va);
void mm_tlb_flush_range(struct mm_tlb *t, uint64_t start, uint64_t end);
void mm_tlb_stats(struct mm_tlb *t, struct umm_tlb_stats *stats);
/* The slow path of a lookup. */
void *mm_tlb_miss(struct mm_tlb *t, uint64_t va, int access);

static inline void *mm_tlb_lookup(struct mm_tlb *t, uint64_t va, int access)
{
	/* struct soft_tlb is the first member of struct mm_tlb */
	struct soft_tlb *s = (struct soft_tlb *)t;
	int kind = stlb_kind(access);
	void *host;

	if (kind >= 0) {
		host = stlb_lookup(s, va, kind);
		if (host)
			return host;
	}
	return mm_tlb_miss(t, va, access);
}

static inline void mm_tlb_quiesce(struct mm_tlb *t)
{
	stlb_quiesce((struct soft_tlb *)t);
}

#endif
