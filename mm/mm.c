// SPDX-License-Identifier: MIT
/* The mm object, guest physical memory, and the lock and sync around them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"

static __thread int mm_locks_held;

struct mem *mem_new(uint64_t bytes)
{
	struct mem *mem = calloc(1, sizeof(*mem));
	int err;

	if (!mem)
		return NULL;
	mem->phys = phys_new(bytes);
	if (!mem->phys)
		goto out_free;
	mem->nr_pages = phys_nr_frames(mem->phys) + 1;
	mem->pages = calloc(mem->nr_pages, sizeof(*mem->pages));
	if (!mem->pages)
		goto out_phys;
	mem->refcount = 1;
	mem_register(mem);
	return mem;

out_phys:
	phys_free(mem->phys);
out_free:
	err = errno;
	free(mem);
	errno = err;
	return NULL;
}

void mem_get(struct mem *mem)
{
	__atomic_add_fetch(&mem->refcount, 1, __ATOMIC_RELAXED);
}

void mem_put(struct mem *mem)
{
	if (!mem || __atomic_sub_fetch(&mem->refcount, 1, __ATOMIC_ACQ_REL))
		return;
	mem_unregister(mem);
	phys_free(mem->phys);
	free(mem->pages);
	free(mem);
}

struct phys *mem_phys(struct mem *mem)
{
	return mem->phys;
}

static void mm_init_locks(struct mm *mm)
{
	pthread_rwlockattr_t attr;
	unsigned int i;

	/* Writers first: a stream of faults must not starve an munmap. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&mm->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&mm->anon_lock, NULL);
	for (i = 0; i < MM_PTLOCKS; i++)
		pthread_mutex_init(&mm->ptl[i], NULL);
}

static void mm_destroy_locks(struct mm *mm)
{
	unsigned int i;

	pthread_rwlock_destroy(&mm->lock);
	pthread_mutex_destroy(&mm->anon_lock);
	for (i = 0; i < MM_PTLOCKS; i++)
		pthread_mutex_destroy(&mm->ptl[i]);
}

struct mm *mm_new(struct mem *mem, struct host_as *as, uint64_t task_size)
{
	struct mm *mm;

	if (task_size < (1ULL << 20) || task_size >= (1ULL << 47) ||
	    task_size & ~PAGE_MASK || as->size < task_size) {
		errno = EINVAL;
		return NULL;
	}
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	if (pgtable_init(&mm->pt)) {
		free(mm);
		errno = ENOMEM;
		return NULL;
	}
	mem_get(mem);
	mm->mem = mem;
	mm->as = as;
	mm->refcount = 1;
	mm_init_locks(mm);
	mm->task_size = task_size;
	/* Below the top, leaving room for a stack, as Linux's mmap_base. */
	mm->mmap_base = task_size - (task_size / 8 < (128ULL << 20)
					     ? PAGE_ALIGN(task_size / 8)
					     : (128ULL << 20));
	mm->start_brk = mm->brk = PAGE_ALIGN(task_size / 8);
	mm->fault_around = 16;
	return mm;
}

void mm_get(struct mm *mm)
{
	__atomic_add_fetch(&mm->refcount, 1, __ATOMIC_RELAXED);
}

bool mm_tryget(struct mm *mm)
{
	int old = __atomic_load_n(&mm->refcount, __ATOMIC_RELAXED);

	do {
		if (!old)
			return false;
	} while (!__atomic_compare_exchange_n(&mm->refcount, &old, old + 1,
					      false, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

void mm_put(struct mm *mm)
{
	struct host_as *as = mm_put_keep_space(mm);

	if (as)
		host_as_free(as);
}

struct host_as *mm_put_keep_space(struct mm *mm)
{
	struct host_as *as;

	if (!mm || __atomic_sub_fetch(&mm->refcount, 1, __ATOMIC_ACQ_REL))
		return NULL;
	mm_lock(mm);
	/* No host call for what goes: the space goes first, whole. */
	host_as_discard(mm->as);
	do_munmap_locked(mm, 0, mm->task_size);
	mm_sync_locked(mm);
	mm_unlock(mm);
	BUG_ON(mm->nr_vmas);
	pgtable_destroy(&mm->pt);
	as = mm->as;
	free(mm->vmas);
	free(mm->gather.pfns);
	mm_destroy_locks(mm);
	mem_put(mm->mem);
	free(mm);
	return as;
}

struct host_as *mm_host_as(struct mm *mm)
{
	return mm->as;
}

uint64_t mm_task_size(struct mm *mm)
{
	return mm->task_size;
}

int mm_set_fault_around(struct mm *mm, unsigned int nr_pages)
{
	if (!nr_pages || nr_pages > PTRS_PER_TABLE ||
	    (nr_pages & (nr_pages - 1)))
		return -EINVAL;
	mm_lock(mm);
	mm->fault_around = nr_pages;
	mm_unlock(mm);
	return 0;
}

void mm_lock(struct mm *mm)
{
	stlb_quiesce_current();
	pthread_rwlock_wrlock(&mm->lock);
	/* before any pte it writes (set_pte): see fault_fixed_lockless */
	__atomic_store_n(&mm->exclusive, true, __ATOMIC_RELAXED);
	mm_locks_held++;
}

void mm_unlock(struct mm *mm)
{
	mm_locks_held--;
	__atomic_store_n(&mm->exclusive, false, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&mm->lock);
}

void mm_read_lock(struct mm *mm)
{
	stlb_quiesce_current();
	pthread_rwlock_rdlock(&mm->lock);
	mm_locks_held++;
}

void mm_read_unlock(struct mm *mm)
{
	mm_locks_held--;
	pthread_rwlock_unlock(&mm->lock);
}

void mm_lock_two(struct mm *a, struct mm *b)
{
	if ((uintptr_t)a > (uintptr_t)b) {
		struct mm *t = a;

		a = b;
		b = t;
	}
	mm_lock(a);
	mm_lock(b);
}

void gather_add(struct gather *g, uint32_t pfn)
{
	if (g->nr == g->cap) {
		BUG_ON(g->fixed);
		g->cap = g->cap ? 2 * g->cap : 256;
		g->pfns = realloc(g->pfns, g->cap * sizeof(*g->pfns));
		BUG_ON(!g->pfns);
	}
	g->pfns[g->nr++] = pfn;
}

void mm_sync_locked(struct mm *mm)
{
	BUG_ON(!mm->exclusive);
	tlb_sync(&mm->pt, mm->as);
	if (mm->gather.nr) {
		phys_put_many(mm->mem->phys, mm->gather.pfns, mm->gather.nr);
		mm->gather.nr = 0;
	}
}

void mm_thread_register(void)
{
	pgtable_reader_register();
}

/*
 * Is the fault already fixed: the pte allows @access and the host holds it
 * so (another vCPU's fault got there first)? A walk with no lock, under
 * RCU: the answer may be stale the moment it is given, which is harmless,
 * as a wrong "fixed" only sends the guest back to fault again, and what
 * made it wrong (an eviction, a writer's change) makes the next look
 * answer "not fixed".
 */
static bool fault_fixed_lockless(struct mm *mm, uint64_t va, int access)
{
	pte_t *ptep, pte = 0;

	if (!pgtable_reader_registered() || va >= mm->task_size)
		return false;
	pgtable_read_begin();
	ptep = pte_lookup(&mm->pt, va);
	if (ptep)
		pte = pte_read_lockless(ptep);
	pgtable_read_end();
	if (!pte_allows(pte, access) || !pte_host_holds(mm, pte, access))
		return false;
	/*
	 * _PAGE_HOST comes before the host call that makes it true: by a
	 * fault under the table's lock, or a writer before its sync. Either
	 * marks itself before it writes ptes (release stores): the pte read
	 * here (an acquire load) shows the mark, read after it.
	 */
	return !__atomic_load_n(&mm->exclusive, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&mm->flushing[mm_ptl_index(va)],
				__ATOMIC_RELAXED);
}

int mm_handle_fault(struct mm *mm, uint64_t va, int access, int *si_code)
{
	int sig;

	/* A fault with an mm lock held is kernel code touching a window. */
	BUG_ON(mm_locks_held);
	count_event(mm, faults_taken, 1);
	if (fault_fixed_lockless(mm, va, access)) {
		count_event(mm, fault_spurious, 1);
		return 0;
	}
	mm_read_lock(mm);
	sig = handle_fault_locked(mm, va, access, si_code);
	mm_read_unlock(mm);
	/*
	 * The host dropped mappings since the tables' _PAGE_HOST bits were
	 * made true: until the write lock makes them so again, no fault
	 * can tell a page another fixed from one the host lacks.
	 */
	if (pgtable_host_gen(&mm->pt) != host_as_gen(mm->as)) {
		mm_lock(mm);
		tlb_host_resync(&mm->pt, mm->as);
		mm_unlock(mm);
	}
	if (sig != FAULT_RETRY)
		return sig;
	/* The stack grows: the vmas change. */
	mm_lock(mm);
	sig = handle_fault_locked(mm, va, access, si_code);
	mm_sync_locked(mm);
	mm_unlock(mm);
	return sig;
}

/* A host counter other threads may bump (evictions, resets). */
static uint64_t stat_read(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void mm_stats(struct mm *mm, struct umm_stats *s)
{
	memset(s, 0, sizeof(*s));
	mm_lock(mm);
	s->fault_anon_zero = stat_read(&mm->count.fault_anon_zero);
	s->fault_anon = stat_read(&mm->count.fault_anon);
	s->fault_file = stat_read(&mm->count.fault_file);
	s->fault_cow = stat_read(&mm->count.fault_cow);
	s->fault_wp_reuse = stat_read(&mm->count.fault_wp_reuse);
	s->fault_dirty = stat_read(&mm->count.fault_dirty);
	s->fault_young = stat_read(&mm->count.fault_young);
	s->fault_host_miss = stat_read(&mm->count.fault_host_miss);
	s->fault_spurious = stat_read(&mm->count.fault_spurious);
	s->fault_sigsegv = stat_read(&mm->count.fault_sigsegv);
	s->fault_sigbus = stat_read(&mm->count.fault_sigbus);
	s->pages_faulted_around = stat_read(&mm->count.pages_faulted_around);
	s->faults_taken = stat_read(&mm->count.faults_taken);
	s->remap_drops = stat_read(&mm->count.remap_drops);
	s->host_ops = stat_read(&mm->as->stats.ops);
	s->host_syscalls = stat_read(&mm->as->stats.syscalls);
	s->host_resets = stat_read(&mm->as->stats.resets);
	s->guest_vmas = mm->nr_vmas;
	s->host_fills = stat_read(&mm->as->stats.fills);
	s->host_fill_pages = stat_read(&mm->as->stats.fill_pages);
	s->host_evictions = stat_read(&mm->as->stats.evictions);
	s->host_evicted_pages = stat_read(&mm->as->stats.evicted_pages);
	s->host_vmas = stat_read(&mm->as->stats.vmas_mapped);
	s->host_vmas_all = stat_read(&mm->as->stats.vmas);
	s->host_merged = stat_read(&mm->as->stats.merged);
	mm_unlock(mm);
}
