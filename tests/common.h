/* SPDX-License-Identifier: MIT */
/* Helpers shared by the guest-level tests. */
#ifndef UMM_TEST_COMMON_H
#define UMM_TEST_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#include "include/umm.h"
#include "tests/tap.h"

#define PG UMM_PAGE_SIZE

/*
 * Guest code, run under umm_guest_call, is not instrumented by
 * ThreadSanitizer: TSan takes the host mmap() of a guest page as a write
 * of it, and a thread touching a page another thread's fault mapped is
 * ordered after that by the host page table, which TSan cannot see. Guest
 * memory is the guest's business; TSan checks umm's own data.
 */
#define GUEST_CODE __attribute__((no_sanitize("thread"), noinline))

/* A guest access to run under umm_guest_call. */
struct access {
	volatile uint8_t *p;	/* host address */
	uint8_t val;		/* written, or read back */
	int write;
};

/*
 * Read (write=0) or write one byte of guest memory at @va in @mm through
 * the window. Returns 0, or the guest signal with *fault filled.
 */
int guest_access(struct umm_mm *mm, uint64_t va, int write, uint8_t *val,
		 siginfo_t *fault);
int guest_read(struct umm_mm *mm, uint64_t va, uint8_t *val);
int guest_write(struct umm_mm *mm, uint64_t va, uint8_t val);
/* Fill / check [va, va+len) with a pattern seeded by @seed. */
int guest_fill(struct umm_mm *mm, uint64_t va, uint64_t len, unsigned seed);
int guest_check(struct umm_mm *mm, uint64_t va, uint64_t len, unsigned seed);

/* Every host mapping of @mm agrees with its guest pte (umm_mm_check). */
void check_mm_coherent(struct umm_mm *mm);

/* vm.max_map_count, or 0 when it cannot be read. */
unsigned long read_max_map_count(void);
/*
 * Host VMAs meeting [lo, hi) in /proc/self/maps: all of them, and in
 * *mapped (if not NULL) those not reserved (---p). -1 on failure.
 */
long count_maps(uintptr_t lo, uintptr_t hi, long *mapped);

/* The invariant every test ends with: every frame is free again. */
void check_frames_free(struct umm_phys *phys);

#endif
