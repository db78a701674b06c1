// SPDX-License-Identifier: MIT
/*
 * umm demo: a small guest workload on the local backend, narrated. Each
 * scene runs guest code through umm_guest_call and shows what umm did for
 * it: faults by kind, host operations queued against host calls made,
 * host VMAs against guest vmas, frames in use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "include/umm.h"
#include "um/um.h"

struct demo {
	struct umm_phys *phys;
	struct umm_mm *mm;
	struct umm_stats last;
};

static void show_delta(struct demo *d)
{
	struct umm_stats s;

	umm_mm_stats(d->mm, &s);
#define D(f) ((unsigned long long)(s.f - d->last.f))
	printf("    faults: %llu anonymous, %llu zero-page, %llu file, "
	       "%llu copy-on-write,\n            %llu dirty, %llu young, %llu host "
	       "refill, "
	       "%llu SIGSEGV, %llu SIGBUS; %llu pages mapped around them\n",
	       D(fault_anon), D(fault_anon_zero), D(fault_file), D(fault_cow),
	       D(fault_dirty), D(fault_young), D(fault_host_miss),
	       D(fault_sigsegv), D(fault_sigbus), D(pages_faulted_around));
	printf("    host: %llu page-table changes queued, carried out by %llu "
	       "host calls\n",
	       D(host_ops), D(host_syscalls));
#undef D
	printf("    host VMAs in the window: %ld for %llu guest vmas; "
	       "frames in use: %llu of %llu\n",
	       umm_host_vmas(d->mm), (unsigned long long)s.guest_vmas,
	       (unsigned long long)(umm_phys_frames_total(d->phys) -
				    umm_phys_frames_free(d->phys)),
	       (unsigned long long)umm_phys_frames_total(d->phys));
	d->last = s;
}

struct fill {
	volatile uint8_t *p;
	uint64_t len;
	uint8_t val;
	uint64_t sum;
};

static void guest_write(void *arg)
{
	struct fill *f = arg;
	uint64_t i;

	for (i = 0; i < f->len; i += 4096)
		f->p[i] = f->val;
}

static void guest_read(void *arg)
{
	struct fill *f = arg;
	uint64_t i;

	for (f->sum = 0, i = 0; i < f->len; i += 4096)
		f->sum += f->p[i];
}

static int run(struct demo *d, uint64_t va, uint64_t len, bool write,
	       uint8_t val, uint64_t *sum)
{
	struct fill f = {umm_host_addr(d->mm, va), len, val, 0};
	siginfo_t si;
	int sig = umm_guest_call(d->mm, write ? guest_write : guest_read, &f,
				 &si);

	if (sig)
		printf("    guest got %s (si_code %s) at %#lx\n",
		       sig == SIGSEGV ? "SIGSEGV" : "SIGBUS",
		       sig == SIGBUS		   ? "BUS_ADRERR"
		       : si.si_code == SEGV_ACCERR ? "SEGV_ACCERR"
						   : "SEGV_MAPERR",
		       (unsigned long)si.si_addr);
	if (sum)
		*sum = f.sum;
	return sig;
}

static int scene_anon(struct demo *d)
{
	long a = umm_mmap(d->mm, 0, 16 << 20, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	uint64_t sum;

	if (a < 0)
		return (int)a;
	printf("\n1. mmap 16 MiB private anonymous at %#lx; the guest reads "
	       "every page\n",
	       a);
	run(d, (uint64_t)a, 16 << 20, false, 0, &sum);
	printf("    (reads see zeros: sum %llu; the zero page costs no "
	       "frame)\n",
	       (unsigned long long)sum);
	show_delta(d);
	printf("\n2. the guest writes every page of it\n");
	run(d, (uint64_t)a, 16 << 20, true, 1, NULL);
	show_delta(d);
	printf("\n3. mprotect the first MiB PROT_READ; the guest writes to "
	       "it\n");
	umm_mprotect(d->mm, (uint64_t)a, 1 << 20, PROT_READ);
	run(d, (uint64_t)a + 4096, 4096, true, 2, NULL);
	show_delta(d);
	printf("\n4. munmap the middle 8 MiB; the guest touches it\n");
	umm_munmap(d->mm, (uint64_t)a + (4 << 20), 8 << 20);
	run(d, (uint64_t)a + (5 << 20), 4096, false, 0, NULL);
	show_delta(d);
	return 0;
}

static int scene_files(struct demo *d)
{
	struct umm_file *f = umm_shmem_new(d->phys, 1 << 20);
	long a, b;
	uint64_t sum;

	if (!f)
		return -errno;
	a = umm_mmap(d->mm, 0, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, f,
		     0);
	b = umm_mmap(d->mm, 0, 1 << 20, PROT_READ, MAP_PRIVATE, f, 0);
	printf("\n5. a 1 MiB shmem file mapped shared at %#lx and private "
	       "at %#lx;\n   the guest writes through the shared one and "
	       "reads through the private one\n",
	       a, b);
	run(d, (uint64_t)a, 1 << 20, true, 3, NULL);
	run(d, (uint64_t)b, 1 << 20, false, 0, &sum);
	printf("    (the private mapping sees the writes: sum %llu = 3 x 256 "
	       "pages)\n",
	       (unsigned long long)sum);
	show_delta(d);
	printf("\n6. truncate the file to 512 KiB; the guest reads past the "
	       "new end\n");
	umm_file_truncate(f, 512 << 10);
	run(d, (uint64_t)a + (768 << 10), 4096, false, 0, NULL);
	show_delta(d);
	umm_file_put(f);
	return 0;
}

static int scene_brk(struct demo *d)
{
	long b0 = umm_brk(d->mm, 0),
	     b1 = umm_brk(d->mm, (uint64_t)b0 + (256 << 10));

	printf("\n7. brk: the heap grows from %#lx to %#lx; the guest writes "
	       "it\n",
	       b0, b1);
	run(d, (uint64_t)b0, 256 << 10, true, 4, NULL);
	show_delta(d);
	return 0;
}

static int scene_fork(struct demo *d)
{
	long a = umm_mmap(d->mm, 0, 4 << 20, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct demo child = {.phys = d->phys};
	uint64_t used0, sum;

	if (a < 0)
		return (int)a;
	run(d, (uint64_t)a, 4 << 20, true, 5, NULL);
	umm_mm_stats(d->mm, &d->last); /* counted from the fork on */
	used0 = umm_phys_frames_total(d->phys) - umm_phys_frames_free(d->phys);
	child.mm = umm_fork(d->mm);
	if (!child.mm)
		return -errno;
	umm_mm_stats(child.mm, &child.last);
	printf("\n8. the guest writes a new 4 MiB region, then forks: a child "
	       "mm at host %p\n   shares all of it copy-on-write (frames in use "
	       "before and after the fork:\n   %llu and %llu)\n",
	       umm_host_addr(child.mm, 0), (unsigned long long)used0,
	       (unsigned long long)(umm_phys_frames_total(d->phys) -
				    umm_phys_frames_free(d->phys)));
	printf("   the parent writes the first MiB of the 4 MiB region:\n");
	run(d, (uint64_t)a, 1 << 20, true, 6, NULL);
	show_delta(d);
	printf("   the child reads all of it (it still sees the old data), "
	       "then writes its last MiB:\n");
	run(&child, (uint64_t)a, 4 << 20, false, 0, &sum);
	printf("    (sum %llu = 5 x 1024 pages: the parent's writes are not "
	       "seen)\n",
	       (unsigned long long)sum);
	run(&child, (uint64_t)a + (3 << 20), 1 << 20, true, 7, NULL);
	show_delta(&child);
	umm_mm_put(child.mm);
	printf("   the child exits: frames in use %llu\n",
	       (unsigned long long)(umm_phys_frames_total(d->phys) -
				    umm_phys_frames_free(d->phys)));
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: umm demo\n"
		     "  Runs a guest workload on umm's local backend and shows "
		     "what happened.\n");
}

int um_demo_main(int argc, char **argv)
{
	struct demo d = {0};
	int err;

	if (argc > 1) {
		bool help =
			!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	d.phys = umm_phys_new(256ULL << 20);
	if (!d.phys) {
		perror("umm demo: umm_phys_new");
		return 1;
	}
	d.mm = umm_mm_new(d.phys, 1ULL << 32);
	if (!d.mm) {
		perror("umm demo: umm_mm_new");
		return 1;
	}
	printf("umm %s demo: a 4 GiB guest address space at host %p,\n"
	       "guest physical memory: a 256 MiB memfd (%llu frames, sparse)\n",
	       umm_version(), umm_host_addr(d.mm, 0),
	       (unsigned long long)umm_phys_frames_total(d.phys));
	err = scene_anon(&d);
	if (!err)
		err = scene_files(&d);
	if (!err)
		err = scene_brk(&d);
	if (!err)
		err = scene_fork(&d);
	if (err) {
		fprintf(stderr, "umm demo: %s\n", strerror(-err));
		return 1;
	}
	printf("\nThe guest's maps:\n");
	umm_maps(d.mm, stdout);
	umm_mm_put(d.mm);
	printf("\nAfter the mm is gone: %llu of %llu frames free.\n",
	       (unsigned long long)umm_phys_frames_free(d.phys),
	       (unsigned long long)umm_phys_frames_total(d.phys));
	err = umm_phys_frames_free(d.phys) != umm_phys_frames_total(d.phys);
	umm_phys_put(d.phys);
	return err;
}
