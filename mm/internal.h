/* SPDX-License-Identifier: MIT */
#ifndef UMM_MM_INTERNAL_H
#define UMM_MM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/pgtable.h"
#include "arch/softtlb.h"
#include "arch/tlb.h"
#include "host/host.h"
#include "mm/mm.h"

/* vm_flags: Linux's values, so VM_MAY* == VM_* << 4 holds. */
#define VM_NONE		0x00000000UL
#define VM_READ		0x00000001UL
#define VM_WRITE	0x00000002UL
#define VM_EXEC		0x00000004UL
#define VM_SHARED	0x00000008UL
#define VM_MAYREAD	0x00000010UL
#define VM_MAYWRITE	0x00000020UL
#define VM_MAYEXEC	0x00000040UL
#define VM_MAYSHARE	0x00000080UL
#define VM_GROWSDOWN	0x00000100UL
#define VM_SEQ_READ	0x00008000UL
#define VM_RAND_READ	0x00010000UL
#define VM_DONTCOPY	0x00020000UL
#define VM_ACCOUNT	0x00100000UL /* private writable: committed memory */
#define VM_NORESERVE	0x00200000UL
#define VM_NONLINEAR	0x00800000UL /* remap_file_pages (Linux < 4.0) */
#define VM_MANYPROTS	0x01000000UL /* nonlinear, a protection per pte */
#define VM_WIPEONFORK	0x02000000UL
#define VM_DONTDUMP	0x04000000UL
#define VM_HUGEPAGE	0x20000000UL
#define VM_NOHUGEPAGE	0x40000000UL
#define VM_ACCESS_FLAGS (VM_READ | VM_WRITE | VM_EXEC)

/* Linux's sysctl_max_map_count default: a guest gets the same. */
#define MM_MAX_MAP_COUNT 65530
#define MM_MMAP_MIN_ADDR 65536ULL
/* Linux's default RLIMIT_STACK: how far a VM_GROWSDOWN vma may grow. */
#define MM_STACK_LIMIT (8ULL << 20)

/* ---- page state: mm's view of each frame ---- */

/*
 * Each frame has a reference count (host/phys: one per pte, page-cache
 * slot, GUP reference and pin) and, here, its map count (ptes mapping it),
 * its pin count (FOLL_PIN references, each also one reference) and flags.
 * A frame may be mapped by several mms at once, each under its own lock,
 * so every field is changed atomically.
 *
 * PG_anon_exclusive (Linux 5.19+): this anonymous page is mapped by one
 * pte only and no one else can get at it, so a write fault may reuse it.
 * Cleared when fork shares it; set again when a fault proves it alone.
 */
#define PG_anon		  0x1
#define PG_anon_exclusive 0x2
#define PG_dirty	  0x4 /* written through a pin */

struct page {
	uint32_t flags; /* atomic */
	uint32_t mapcount; /* atomic */
	uint32_t pincount; /* atomic */
	uint32_t index; /* file pages: the page's pgoff in its file */
};

struct mem {
	struct phys *phys;
	struct page *pages; /* one per frame */
	uint64_t nr_pages;
	int refcount; /* atomic: users, mms and files */
	struct mem *next; /* every mem, for page_mem() */
};

static inline struct page *pfn_page(struct mem *mem, uint32_t pfn)
{
	return &mem->pages[pfn];
}
static inline uint32_t page_pfn(struct mem *mem, struct page *page)
{
	return (uint32_t)(page - mem->pages);
}
/* The mem a page belongs to. */
struct mem *page_mem(struct page *page);

static inline uint32_t page_flags(struct page *page)
{
	return __atomic_load_n(&page->flags, __ATOMIC_ACQUIRE);
}
static inline void page_set_flags(struct page *page, uint32_t flags)
{
	__atomic_store_n(&page->flags, flags, __ATOMIC_RELEASE);
}
static inline void page_set(struct page *page, uint32_t bits)
{
	__atomic_or_fetch(&page->flags, bits, __ATOMIC_ACQ_REL);
}
static inline void page_clear(struct page *page, uint32_t bits)
{
	__atomic_and_fetch(&page->flags, ~bits, __ATOMIC_ACQ_REL);
}
static inline bool page_anon(struct page *page)
{
	return page_flags(page) & PG_anon;
}
static inline bool page_anon_exclusive(struct page *page)
{
	return page_flags(page) & PG_anon_exclusive;
}
static inline uint32_t page_pincount(struct page *page)
{
	return __atomic_load_n(&page->pincount, __ATOMIC_ACQUIRE);
}
static inline uint32_t page_mapcount(struct page *page)
{
	return __atomic_load_n(&page->mapcount, __ATOMIC_ACQUIRE);
}
/* A pte now maps the frame (the caller holds its reference). */
void page_add_map(struct mem *mem, uint32_t pfn);
/* A pte no longer maps it (its reference is dropped after the sync). */
void page_remove_map(struct mem *mem, uint32_t pfn);
/* A fresh anonymous frame, exclusive to the pte about to map it. */
void page_new_anon(struct mem *mem, uint32_t pfn);

void mem_get(struct mem *mem);
void mem_register(struct mem *mem);
void mem_unregister(struct mem *mem);

/* ---- files ---- */

struct file {
	struct mem *mem;
	int refcount; /* atomic */
	pthread_mutex_t lock; /* size, cache, vmas; after mm->lock */
	uint64_t size;
	bool writable; /* opened for writing (shmem) */
	int host_fd; /* read-only host file, or -1 */
	char *name;
	uint64_t dev, ino;
	uint32_t **cache; /* cache[i][j]: pfn of pgoff i*512+j, 0: none */
	uint64_t nr_leaves;
	struct vma *vmas; /* every vma mapping this file */
};

#define FILE_MAX_PAGES (1ULL << 32)

/*
 * The frame caching @pgoff, read in or allocated as needed, with a
 * reference for the caller. 0, -EFAULT (past end of file: SIGBUS) or
 * -ENOMEM. Context: takes file->lock.
 */
int file_get_page(struct file *file, uint64_t pgoff, uint32_t *pfn);
/*
 * For @nr pages from @pgoff: the cached frame with a reference taken, or 0
 * where none is cached (or past the end). Context: takes file->lock.
 */
void file_find_pages(struct file *file, uint64_t pgoff, unsigned int nr,
		     uint32_t *pfns);
/*
 * Punch [pgoff, pgoff + nr_pages) out of a shmem file (fallocate's
 * PUNCH_HOLE | KEEP_SIZE): every mm mapping it loses those pages (private
 * copies stay), which read zero again; their frames are freed. 0.
 * Context: takes each mapping mm's lock: the caller holds none.
 */
int file_punch_hole(struct file *file, uint64_t pgoff, uint64_t nr_pages);
void file_link_vma(struct file *file, struct vma *vma);
void file_unlink_vma(struct file *file, struct vma *vma);
static inline uint64_t file_pages(const struct file *file)
{
	return (file->size + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

/* ---- vmas ---- */

struct vma {
	uint64_t start, end; /* [start, end) */
	unsigned long flags;
	/*
	 * File page of start; anonymous: start >> 12 when mapped, kept
	 * through mremap once the vma has an anon_vma (its pages' index).
	 */
	uint64_t pgoff;
	struct file *file;
	/*
	 * Linux's anon_vma, as far as merging sees it: 0 until the first
	 * anonymous page of the vma (or a neighbour's it may share), then an
	 * id that splits and moves keep. Two vmas with different ids never
	 * merge. anon_forked: the id came from fork (Linux's anon_vma_chain
	 * of more than one), which merges with no vma without one.
	 */
	uint64_t anon_vma;
	bool anon_forked;
	struct mm *mm;
	struct vma *file_prev, *file_next; /* file->vmas, under file->lock */
};

/* The pte protection bits a vma's flags give its pages. */
pte_t vma_pte_prot(unsigned long vm_flags, bool writable_page);
/* The PROT_* value of the vma's VM_READ/WRITE/EXEC. */
int vma_guest_prot(const struct vma *vma);
static inline bool vma_is_anon(const struct vma *vma)
{
	return !vma->file;
}
static inline bool vma_is_shared(const struct vma *vma)
{
	return vma->flags & VM_SHARED;
}
static inline uint64_t vma_pgoff(const struct vma *vma, uint64_t va)
{
	return vma->pgoff + ((va - vma->start) >> PAGE_SHIFT);
}

/* ---- the mm ---- */

struct mm_counters {
	uint64_t fault_anon_zero, fault_anon, fault_file, fault_cow;
	uint64_t fault_wp_reuse, fault_dirty, fault_young, fault_host_miss;
	uint64_t fault_spurious;
	uint64_t fault_sigsegv, fault_sigbus, pages_faulted_around;
	uint64_t faults_taken, remap_drops, forks;
};

/* Frames to drop once the host no longer maps them (after tlb_sync). */
struct gather {
	uint32_t *pfns;
	unsigned int nr, cap;
	bool fixed; /* pfns is the caller's array of cap: it never grows */
};

/*
 * Locking, the whole of it.
 *
 * mm->lock is Linux's mmap_lock, a reader-writer lock. Every call that
 * changes the vmas or ptes at large takes it for writing (mmap, munmap,
 * mprotect, mremap, madvise, remap_file_pages, brk, fork, exec, a fault
 * that grows the stack) and so do the readers of the whole (stats, maps,
 * mincore). The fault path, GUP and the software TLB fill take it for
 * reading and run at once in several threads (vCPUs). Under the read lock:
 *  - vmas, the vma array and page-table pages stay put: only writers
 *    change or free them; a table is added with a compare-and-swap;
 *  - a pte changes only under the lock of its pte table (mm_ptl(), striped
 *    over MM_PTLOCKS mutexes), which a fault holds from reading the pte
 *    until its host operations are carried out, so the host sees a page's
 *    changes in order; a fault that finds the pte fixed by another returns;
 *  - host operations go into the fault's own batch (host_batch_flush),
 *    frames it frees into its own gather; the space's queue and mm->gather
 *    are the writer's;
 *  - with no lock at all, under RCU, a fault first looks whether another
 *    fixed its pte already (mm_handle_fault); it trusts what it reads only
 *    when no writer holds the lock (mm->exclusive) and no fault is
 *    carrying out host operations under the pte's table lock
 *    (mm->flushing), as both mark ptes _PAGE_HOST before the host has them;
 *  - vma->anon_vma is set under anon_lock; counters are atomic.
 * Order: mm->lock (two mms: mm_lock_two), then one table lock, then
 * anon_lock, file->lock, the frame allocator, and host/'s locks. The fault
 * handler is never entered with an mm lock held (guest code holds none;
 * kernel code never touches a window).
 */
/*
 * Table locks are striped (table i of 2 MiB: lock i % MM_PTLOCKS), not one
 * per table: tables are whole pages of entries with no room for one. A
 * fault holds its lock across its host call, so a fault in one table
 * waits for another's in a table of the same stripe, 128 MiB apart.
 */
#define MM_PTLOCKS 64

struct mm {
	struct mem *mem;
	struct host_as *as;
	int refcount; /* atomic */
	pthread_rwlock_t lock;
	/*
	 * Held for writing (atomic: a lockless look reads it, see
	 * mm_handle_fault; under the lock, true only ever seen by its holder).
	 */
	bool exclusive;
	pthread_mutex_t anon_lock;
	pthread_mutex_t ptl[MM_PTLOCKS];
	/*
	 * Faults carrying out host operations under ptl[i] now (atomic): a
	 * pte's _PAGE_HOST is set before the host has the page.
	 */
	unsigned int flushing[MM_PTLOCKS];
	/* Under lock (for writing, or reading and as said above): */
	struct pgtable pt;
	struct vma **vmas; /* sorted by start, disjoint */
	unsigned int nr_vmas, cap_vmas;
	uint64_t task_size, mmap_base;
	uint64_t start_brk, brk;
	unsigned int fault_around; /* pages, power of two */
	struct gather gather;
	struct mm_counters count; /* atomic: count_event() */
};

#define count_event(mm, field, n) \
	__atomic_add_fetch(&(mm)->count.field, (n), __ATOMIC_RELAXED)

static inline unsigned int mm_ptl_index(uint64_t va)
{
	return (va >> (PAGE_SHIFT + 9)) % MM_PTLOCKS;
}

/* The lock of the pte table that maps @va. */
static inline pthread_mutex_t *mm_ptl(struct mm *mm, uint64_t va)
{
	return &mm->ptl[mm_ptl_index(va)];
}

/*
 * Has the host all that @access (PROT_*) to this pte needs, with nothing
 * pending? _PAGE_HOST says so only at the reset generation the page
 * table's bits are from: an eviction since may have taken the page.
 */
static inline bool pte_host_holds(struct mm *mm, pte_t pte, int access)
{
	return (pte & _PAGE_HOST) && !pte_changed(pte) &&
	       pgtable_host_gen(&mm->pt) == host_as_gen(mm->as) &&
	       (pte_host_prot(pte) & access) == access;
}

/* A reference unless the mm is already being torn down. */
bool mm_tryget(struct mm *mm);
/* For writing. */
void mm_lock(struct mm *mm);
void mm_unlock(struct mm *mm);
void mm_read_lock(struct mm *mm);
void mm_read_unlock(struct mm *mm);
/*
 * Two distinct mms, in address order: two threads locking the same pair
 * the other way round cannot deadlock.
 */
void mm_lock_two(struct mm *a, struct mm *b);
/* Carry out the host queue, then drop the gathered frames. Writers only. */
void mm_sync_locked(struct mm *mm);

/* vma.c. Context for all: mm->lock held. */
/* Index of the first vma ending above @addr (nr_vmas if none). */
unsigned int vma_index(struct mm *mm, uint64_t addr);
/* The vma containing @addr, or NULL. */
struct vma *vma_lookup(struct mm *mm, uint64_t addr);
struct vma *vma_new(struct mm *mm, uint64_t start, uint64_t end,
		    unsigned long flags, struct file *file, uint64_t pgoff);
/* Free a vma that is in no tree. */
void vma_free(struct vma *vma);
/* Put @vma in the tree (it overlaps nothing). 0 or -ENOMEM. */
int vma_insert(struct mm *mm, struct vma *vma);
/* Take the vma at @idx out of the tree and free it. */
void vma_remove(struct mm *mm, unsigned int idx);
/* Split the vma at @idx at @addr (inside it). 0 or -ENOMEM. */
int vma_split(struct mm *mm, unsigned int idx, uint64_t addr);
int vma_isolate(struct mm *mm, unsigned int *idx, uint64_t start, uint64_t end);
/* Merge the vma at @idx with compatible neighbours; its new index. */
unsigned int vma_merge(struct mm *mm, unsigned int idx);
/*
 * Give @vma an anon_vma before its first anonymous page: a compatible
 * neighbour's, else a new one (Linux's anon_vma_prepare).
 */
void vma_anon_prepare(struct mm *mm, struct vma *vma);
/* A new anon_vma id. */
uint64_t anon_vma_new_id(void);

/*
 * memory.c. Context: mm->lock held, for reading or writing. A fault under
 * the read lock carries out its own host operations; under the write lock
 * it queues them for the caller's sync.
 */
#define FAULT_FLAG_WRITE       0x01
#define FAULT_FLAG_INSTRUCTION 0x02
#define FAULT_FLAG_UNSHARE     0x04 /* copy if shared, keep it read-only */
#define FAULT_FLAG_REMOTE      0x08 /* GUP: the vma was checked already */

/*
 * A fault: 0, the guest signal with *si_code, -ENOMEM when memory ran out
 * (GUP returns it; a guest access gets SIGBUS), or, under the read lock
 * only, FAULT_RETRY: the stack must grow, which takes the write lock.
 */
#define FAULT_RETRY (-EAGAIN)
int handle_mm_fault_locked(struct mm *mm, uint64_t va, unsigned int flags,
			   int *si_code);
/* The PROT_* a manyprots vma's pte gives (none: the vma's own). */
int nonlinear_pte_prot(const struct vma *vma, pte_t pte);
/*
 * The same for a guest access (PROT_READ, PROT_WRITE or PROT_EXEC): 0, a
 * signal, or FAULT_RETRY.
 */
int handle_fault_locked(struct mm *mm, uint64_t va, int access, int *si_code);
/*
 * Drop the pages of [start, end) in @vma, gathering frames to drop, as
 * MADV_DONTNEED: the ptes are emptied, except in a nonlinear vma, whose
 * ptes keep the file page they name (its layout survives).
 */
void zap_range_locked(struct mm *mm, struct vma *vma, uint64_t start,
		      uint64_t end);
/* The same in a nonlinear vma for pages of pgoff >= @first_pgoff only. */
void zap_nonlinear_locked(struct mm *mm, struct vma *vma, uint64_t start,
			  uint64_t end, uint64_t first_pgoff);
/*
 * Drop what @vma maps of its file's pages [first, last), as Linux's
 * unmap_mapping_range: a nonlinear vma keeps its layout (file ptes);
 * private copies go only if @even_cows (truncate, not a hole punch).
 */
void zap_file_range_locked(struct mm *mm, struct vma *vma, uint64_t first,
			   uint64_t last, bool even_cows);
/* Empty every pte of [start, end), file ptes too (munmap). */
void unmap_range_locked(struct mm *mm, uint64_t start, uint64_t end);
/* Fault in [start, end) of @vma as MAP_POPULATE does. */
void populate_range_locked(struct mm *mm, struct vma *vma, uint64_t start,
			   uint64_t end);
void gather_add(struct gather *g, uint32_t pfn);

/*
 * gup.c, exec.c. Context: mm->lock held, for reading or writing (a writer
 * syncs after).
 */
long gup_locked(struct mm *mm, uint64_t start, long nr_pages,
		unsigned int gup_flags, struct page **pages);
int access_remote_locked(struct mm *mm, uint64_t va, void *buf, size_t len,
			 bool write);

/* mmap.c */
int do_munmap_locked(struct mm *mm, uint64_t start, uint64_t end);
/*
 * Where a mapping of @len may go, as mmap places it: @addr itself with
 * MAP_FIXED, else @addr as a hint, else a search. The address, or
 * -ENOMEM, -EINVAL (MAP_FIXED unaligned) or -EPERM (below mmap_min_addr).
 */
long get_unmapped_area(struct mm *mm, uint64_t addr, uint64_t len, int flags);
int expand_stack_locked(struct mm *mm, unsigned int idx, uint64_t addr);

#endif
