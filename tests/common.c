// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "tests/common.h"

int tap_n, tap_failed;

static GUEST_CODE void do_access(void *arg)
{
	struct access *a = arg;

	if (a->write)
		*a->p = a->val;
	else
		a->val = *a->p;
}

int guest_access(struct umm_mm *mm, uint64_t va, int write, uint8_t *val,
		 siginfo_t *fault)
{
	struct access a = { .p = umm_host_addr(mm, va), .write = write };
	siginfo_t si;
	int sig;

	if (write)
		a.val = *val;
	sig = umm_guest_call(mm, do_access, &a, fault ? fault : &si);
	if (!sig && !write)
		*val = a.val;
	return sig;
}

int guest_read(struct umm_mm *mm, uint64_t va, uint8_t *val)
{
	return guest_access(mm, va, 0, val, NULL);
}

int guest_write(struct umm_mm *mm, uint64_t va, uint8_t val)
{
	return guest_access(mm, va, 1, &val, NULL);
}

struct fill {
	uint8_t *p;
	uint64_t len;
	unsigned seed;
	int check;
	int bad;
};

static uint8_t pattern(uint64_t i, unsigned seed)
{
	return (uint8_t)((i >> 12) * 31 + (i & 0xfff) * 7 + seed);
}

static GUEST_CODE void do_fill(void *arg)
{
	struct fill *f = arg;
	uint64_t i;

	for (i = 0; i < f->len; i++) {
		if (!f->check)
			f->p[i] = pattern(i, f->seed);
		else if (f->p[i] != pattern(i, f->seed))
			f->bad++;
	}
}

int guest_fill(struct umm_mm *mm, uint64_t va, uint64_t len, unsigned seed)
{
	struct fill f = { umm_host_addr(mm, va), len, seed, 0, 0 };
	siginfo_t si;

	return umm_guest_call(mm, do_fill, &f, &si);
}

int guest_check(struct umm_mm *mm, uint64_t va, uint64_t len, unsigned seed)
{
	struct fill f = { umm_host_addr(mm, va), len, seed, 1, 0 };
	siginfo_t si;
	int sig = umm_guest_call(mm, do_fill, &f, &si);

	return sig ? -sig : f.bad;
}

void check_mm_coherent(struct umm_mm *mm)
{
	is(umm_mm_check(mm), 0,
	   "every host mapping agrees with its guest pte");
}

void check_frames_free(struct umm_phys *phys)
{
	is(umm_phys_frames_free(phys), umm_phys_frames_total(phys),
	   "every frame of physical memory is free again");
}

unsigned long read_max_map_count(void)
{
	unsigned long n = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (!f || fscanf(f, "%lu", &n) != 1)
		n = 0;
	if (f)
		fclose(f);
	return n;
}

long count_maps(uintptr_t lo, uintptr_t hi, long *mapped)
{
	char line[512];
	long n = 0, m = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3)
			continue;
		if (b <= lo || a >= hi)
			continue;
		n++;
		if (strcmp(perms, "---p"))
			m++;
	}
	fclose(f);
	if (mapped)
		*mapped = m;
	return n;
}
