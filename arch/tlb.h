/* SPDX-License-Identifier: MIT */
/*
 * The host mappings are the guest's TLB. The mm writes ptes and marks them
 * new page / new protection; these functions turn the marked ptes into
 * queued host operations (arch/tlb.c), and tlb_sync() carries the queue
 * out. The mm calls tlb_sync() once per guest fault or guest call.
 */
#ifndef UMM_ARCH_TLB_H
#define UMM_ARCH_TLB_H

#include "arch/pgtable.h"
#include "host/host.h"

#define TLB_POPULATE 0x1 /* fault path: have the host fill it now */

/*
 * Queue host operations for every marked pte of [start, end) and clear the
 * marks. Context: the caller holds the lock that protects these ptes.
 */
void tlb_update_range(struct pgtable *pt, struct host_as *as, uint64_t start,
		      uint64_t end, unsigned int flags);
/*
 * The same for a fault that shares the page table with others (the mm's
 * read lock, and the lock of the one pte table holding [start, end)):
 * operations go into the caller's batch @b, as a fault's (the host fills
 * its page tables); no pte outside [start, end) is read or written, so
 * no _PAGE_HOST bit is turned into _PAGE_MAYHOST after an eviction (that
 * is tlb_host_resync's, under the write lock). Safe, as the fault path
 * uses a _PAGE_HOST bit only where pgtable_host_gen() is the space's
 * generation (it maps, never protects, and trusts a pte fixed by another
 * fault only then).
 * Returns whether a software TLB entry was shot down. tlb_sync_shared
 * carries the batch out and, if @shot, waits for the vCPUs; before the
 * table's lock is dropped, so that host operations on a page come in the
 * order of its pte's changes.
 */
bool tlb_update_shared(struct pgtable *pt, struct host_as *as,
		       struct host_batch *b, uint64_t start, uint64_t end);
void tlb_sync_shared(struct pgtable *pt, struct host_as *as,
		     struct host_batch *b, bool shot);
/*
 * After an eviction or a reset of @as: every _PAGE_HOST bit becomes
 * _PAGE_MAYHOST and the tables take the space's generation, so that the
 * bits set from now on are trusted again (tlb_update_range does it first
 * too). Context: the caller holds every pte (the mm's write lock).
 */
void tlb_host_resync(struct pgtable *pt, struct host_as *as);
/*
 * The range is gone from the guest: queue its unmapping from the host (and
 * drop it from the software TLBs). Context: as tlb_update_range.
 */
void tlb_zap_range(struct pgtable *pt, struct host_as *as, uint64_t start,
		   uint64_t end);
/*
 * Carry out what is queued, and wait until no vCPU can still use a
 * software TLB entry shot down since the last sync (arch/softtlb.h).
 */
void tlb_sync(struct pgtable *pt, struct host_as *as);

#endif
