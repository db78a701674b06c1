/* SPDX-License-Identifier: MIT */
/*
 * arch/: the guest MMU. An x86-64-style four-level page table of 4 KiB
 * pages (48-bit guest addresses), the pte layout, and (tlb.h) the flush that
 * turns changed ptes into host operations.
 *
 * pte layout:
 *
 *   63  62..52  51.............12  11  10  9   8   6   5   2   1   0
 *   NX  (free)  frame number      SPC NPR NPG PNO  D   A   U   RW  P
 *
 * P    maps a frame the guest may access (with RW, NX)
 * PNO  maps a frame the guest may not access (PROT_NONE): pte_present()
 *      is true for P or PNO, as on x86
 * A/D  accessed / dirty: the host maps a page only once it is accessed,
 *      and writable only once it is dirty, so both stay exact
 * NPG  "new page": the host does not know this frame is here yet
 * NPR  "new protection": the host still has the old protection
 * SPC  special: no struct page behind it (the zero page)
 *
 * Upper-level entries hold the host address of the next table | P.
 */
#ifndef UMM_ARCH_PGTABLE_H
#define UMM_ARCH_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "host/host.h"

typedef uint64_t pte_t;

#define _PAGE_PRESENT  (1ULL << 0)
#define _PAGE_RW       (1ULL << 1)
#define _PAGE_USER     (1ULL << 2)
#define _PAGE_ACCESSED (1ULL << 5)
#define _PAGE_DIRTY    (1ULL << 6)
#define _PAGE_PROTNONE (1ULL << 8)
#define _PAGE_NEWPAGE  (1ULL << 9)
#define _PAGE_NEWPROT  (1ULL << 10)
#define _PAGE_SPECIAL  (1ULL << 11)
/*
 * Software: the host holds this pte's frame mapped (with some protection),
 * true as of the host space's reset generation in struct pgtable. Lets a
 * change of protection alone be an mprotect instead of a new mapping.
 */
#define _PAGE_HOST (1ULL << 52)
/*
 * Software: the host may hold this pte's frame. What _PAGE_HOST becomes
 * after an eviction or a reset in the host space: an eviction drops only
 * some mappings, and a mapping made after it in the same flush is still
 * there, so "not known to be held" is not "not held".
 * Good enough to know a remap must drop the old page, not for an mprotect.
 */
#define _PAGE_MAYHOST (1ULL << 57)
#define _PAGE_NX      (1ULL << 63)

#define PTE_PFN_SHIFT PAGE_SHIFT
#define PTE_PFN_MASK  0x000ffffffffff000ULL
#define _PAGE_PROT_BITS \
	(_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_PROTNONE | _PAGE_NX)
#define _PAGE_CHG_BITS (_PAGE_NEWPAGE | _PAGE_NEWPROT)

#define PTRS_PER_TABLE 512
#define PGTABLE_LEVELS 4
#define GUEST_VA_BITS  48

static inline bool pte_none(pte_t pte)
{
	return pte == 0;
}
static inline bool pte_present(pte_t pte)
{
	return pte & (_PAGE_PRESENT | _PAGE_PROTNONE);
}
static inline uint32_t pte_pfn(pte_t pte)
{
	return (uint32_t)((pte & PTE_PFN_MASK) >> PTE_PFN_SHIFT);
}
static inline bool pte_write(pte_t pte)
{
	return pte & _PAGE_RW;
}
static inline bool pte_young(pte_t pte)
{
	return pte & _PAGE_ACCESSED;
}
static inline bool pte_dirty(pte_t pte)
{
	return pte & _PAGE_DIRTY;
}
static inline bool pte_special(pte_t pte)
{
	return pte & _PAGE_SPECIAL;
}
static inline bool pte_changed(pte_t pte)
{
	return pte & _PAGE_CHG_BITS;
}
/*
 * Nonlinear "file" ptes, as Linux had before 4.0: a pte that is not present
 * in a nonlinear vma keeps the file page it maps (pgoff, bits 12-43) and,
 * for VM_MANYPROTS vmas, its own protection (PROT_* in bits 53-55), so a
 * later fault knows what to map and how. Not present, not PROTNONE.
 */
#define _PAGE_FILE	    (1ULL << 7)
#define PTE_FILE_MAX_BITS   32
#define PTE_FILE_PROT_SHIFT 53
#define PTE_FILE_PROT_MASK  (7ULL << PTE_FILE_PROT_SHIFT)

static inline bool pte_file(pte_t pte)
{
	return (pte & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_FILE)) ==
	       _PAGE_FILE;
}
/* @pgoff < 1 << PTE_FILE_MAX_BITS; @prot: PROT_READ|WRITE|EXEC or NONE. */
static inline pte_t pgoff_to_pte(uint64_t pgoff, int prot)
{
	return (pgoff << PAGE_SHIFT) | _PAGE_FILE |
	       ((pte_t)(prot & 7) << PTE_FILE_PROT_SHIFT);
}
static inline uint64_t pte_to_pgoff(pte_t pte)
{
	return (pte >> PAGE_SHIFT) & ((1ULL << PTE_FILE_MAX_BITS) - 1);
}
static inline int pte_file_prot(pte_t pte)
{
	return (int)((pte & PTE_FILE_PROT_MASK) >> PTE_FILE_PROT_SHIFT);
}
/* The PROT_* value a present (or PROTNONE) pte gives the guest. */
static inline int pte_guest_prot(pte_t pte)
{
	int prot;

	if (!(pte & _PAGE_PRESENT))
		return PROT_NONE;
	prot = PROT_READ;
	if (pte & _PAGE_RW)
		prot |= PROT_WRITE;
	if (!(pte & _PAGE_NX))
		prot |= PROT_EXEC;
	return prot;
}

/* @pte as copied into another page table: unknown to that one's host. */
static inline pte_t pte_copy_clean(pte_t pte)
{
	return pte & ~(_PAGE_CHG_BITS | _PAGE_HOST | _PAGE_MAYHOST);
}

/* The pte protection bits for a PROT_* value (write as given). */
static inline pte_t pte_prot_bits(int prot)
{
	pte_t bits;

	if (!(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
		return _PAGE_PROTNONE;
	bits = _PAGE_PRESENT | _PAGE_USER;
	if (prot & PROT_WRITE)
		bits |= _PAGE_RW;
	if (!(prot & PROT_EXEC))
		bits |= _PAGE_NX;
	return bits;
}

static inline pte_t pte_mk(uint32_t pfn, pte_t prot_bits)
{
	return ((pte_t)pfn << PTE_PFN_SHIFT) | prot_bits | _PAGE_NEWPAGE;
}

/* New protection, same frame, accessed/dirty and special kept. */
static inline pte_t pte_modify(pte_t pte, pte_t prot_bits)
{
	return (pte & ~_PAGE_PROT_BITS) | prot_bits | _PAGE_NEWPROT;
}

static inline pte_t pte_mkyoung(pte_t pte)
{
	return pte & _PAGE_ACCESSED ? pte
				    : pte | _PAGE_ACCESSED | _PAGE_NEWPROT;
}
static inline pte_t pte_mkdirty(pte_t pte)
{
	return pte & _PAGE_DIRTY ? pte : pte | _PAGE_DIRTY | _PAGE_NEWPROT;
}
static inline pte_t pte_mkwrite(pte_t pte)
{
	return pte & _PAGE_RW ? pte : pte | _PAGE_RW | _PAGE_NEWPROT;
}
static inline pte_t pte_wrprotect(pte_t pte)
{
	return pte & _PAGE_RW ? (pte & ~_PAGE_RW) | _PAGE_NEWPROT : pte;
}

/* Does @pte let the guest make this access (PROT_READ/WRITE/EXEC)? */
static inline bool pte_allows(pte_t pte, int access)
{
	if (!(pte & _PAGE_PRESENT))
		return false;
	if ((access & PROT_WRITE) && !(pte & _PAGE_RW))
		return false;
	if ((access & PROT_EXEC) && (pte & _PAGE_NX))
		return false;
	return true;
}

/*
 * What the host may allow for @pte now: never more than the guest pte, and
 * nothing the host would let happen unseen (first access, first write).
 */
static inline int pte_host_prot(pte_t pte)
{
	int prot;

	if (!(pte & _PAGE_PRESENT) || !(pte & _PAGE_ACCESSED))
		return PROT_NONE;
	prot = PROT_READ;
	if ((pte & _PAGE_RW) && (pte & _PAGE_DIRTY))
		prot |= PROT_WRITE;
	if (!(pte & _PAGE_NX))
		prot |= PROT_EXEC;
	return prot;
}

/*
 * Writing a pte of a live table: one store, as readers may walk the
 * tables without a lock (pte_read_lockless, under the RCU read lock).
 * Release and acquire (plain moves on x86): a lockless reader that sees a
 * pte sees what its writer wrote before it (mm/: the marks that say the
 * host does not have it yet). Linux's set_pte and ptep_get_lockless.
 */
static inline void set_pte(pte_t *ptep, pte_t pte)
{
	__atomic_store_n(ptep, pte, __ATOMIC_RELEASE);
}
static inline pte_t pte_read_lockless(const pte_t *ptep)
{
	return __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
}

/* ---- tables ---- */

struct stlb_link;

struct pgtable {
	uint64_t *pgd;
	uint64_t nr_tables; /* table pages, pgd included */
	uint32_t host_gen; /* reset generation its _PAGE_HOST bits are from */
	/* software TLBs with entries for these ptes (arch/softtlb.h) */
	struct stlb_link *tlbs;
	bool stlb_wait; /* a shootdown hit: wait before the change returns */
};

/*
 * Lockless walks (RCU, liburcu's memb flavour): between begin and end, a
 * thread may walk the tables with no lock (pte_lookup, pte_read_lockless)
 * while writers change them; a table a writer takes out is freed after
 * every such walk that began before has ended. Only a registered thread
 * may walk so; registering is for normal context (not a signal handler),
 * once per thread, and the thread is unregistered as it ends. A walk reads
 * each pte once and trusts nothing it saw after the end.
 */
void pgtable_reader_register(void);
bool pgtable_reader_registered(void);
void pgtable_read_begin(void);
void pgtable_read_end(void);

/*
 * The reset generation the tables' _PAGE_HOST bits are true at (written
 * under the mm's write lock, read by faults beside each other).
 */
static inline uint32_t pgtable_host_gen(struct pgtable *pt)
{
	return __atomic_load_n(&pt->host_gen, __ATOMIC_RELAXED);
}

/* 0 or -ENOMEM. */
int pgtable_init(struct pgtable *pt);
/* Free every table. The caller has emptied every pte. */
void pgtable_destroy(struct pgtable *pt);

/* The pte for @va, or NULL when its table does not exist. */
pte_t *pte_lookup(struct pgtable *pt, uint64_t va);
/* The pte for @va, allocating tables; NULL when out of memory. */
pte_t *pte_alloc(struct pgtable *pt, uint64_t va);

/*
 * Call @fn for each run of ptes of [start, end) that share one pte table:
 * fn(ptes, va of ptes[0], nr, arg). With @alloc, missing tables are made
 * (-ENOMEM on failure); without, ranges without a table are skipped. A
 * non-zero return from fn stops the walk and is returned.
 */
typedef int (*pte_range_fn)(pte_t *ptes, uint64_t va, unsigned int nr,
			    void *arg);
int pgtable_walk(struct pgtable *pt, uint64_t start, uint64_t end, bool alloc,
		 pte_range_fn fn, void *arg);

/*
 * Free the tables that only map addresses within [floor, ceiling) and cover
 * some of [start, end), as Linux's free_pgd_range does after an unmap. Every
 * pte of [start, end) must be none.
 */
void pgtable_free_range(struct pgtable *pt, uint64_t start, uint64_t end,
			uint64_t floor, uint64_t ceiling);

#endif /* UMM_ARCH_PGTABLE_H */
