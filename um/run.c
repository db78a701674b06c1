// SPDX-License-Identifier: MIT
/*
 * umm run: boot the guest kernel with one static program as its first
 * process, and exit with that process's status.
 *
 * The program is a host path, loaded as a kernel loads its init from an
 * initrd; everything the guest opens or executes itself is looked up in
 * the guest root (--root, read-only), and without one the guest has no
 * files. Its arguments and the host's environment reach it through a
 * small boot mm in this process: the kernel's strings written there, then
 * copied by the exec path as any execve's are.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "um/exec.h"
#include "um/fs.h"
#include "um/kernel.h"
#include "um/task.h"
#include "um/um.h"

extern char **environ;

#define BOOT_SIZE (64ULL << 20)

static void usage(FILE *out)
{
	fprintf(out,
		"usage: umm run [options] PROGRAM [ARGS...]\n"
		"\n"
		"Run a static x86-64 Linux program as the first process of the\n"
		"guest kernel: each guest process in a stub child, its syscalls\n"
		"trapped and served by umm, its memory umm's. Exits with the\n"
		"program's status (128+signal when it was killed).\n"
		"\n"
		"options:\n"
		"  --root DIR   the guest's files: a read-only root for its opens\n"
		"               and execs (without it the guest has no files)\n"
		"  --trace      print each guest syscall and fault on stderr\n"
		"  --stats      print, at exit, faults, syscalls by number, host\n"
		"               operations and round trips, host VMAs, frames\n"
		"  --mem MIB    guest physical memory (default 4096)\n"
		"  -h, --help   this help\n");
}

/* Write @strs (NULL-terminated) into @boot; their array's address. */
static int boot_strings(struct mm *boot, char *const *strs, uint64_t *array)
{
	size_t n = 0, i, bytes = 0;
	uint64_t va, *ptrs;
	long base;
	int err = 0;

	while (strs[n])
		bytes += strlen(strs[n++]) + 1;
	if (bytes + (n + 1) * 8 > BOOT_SIZE / 4)
		return -E2BIG;
	base = mm_mmap(boot, 0, PAGE_ALIGN(bytes + (n + 1) * 8 + 1),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       NULL, 0);
	if (base < 0)
		return (int)base;
	ptrs = calloc(n + 1, 8);
	if (!ptrs)
		return -ENOMEM;
	va = (uint64_t)base + (n + 1) * 8;
	for (i = 0; i < n && !err; i++) {
		size_t len = strlen(strs[i]) + 1;

		ptrs[i] = va;
		if (um_copy_to_guest(boot, va, strs[i], len))
			err = -EFAULT;
		va += len;
	}
	if (!err && um_copy_to_guest(boot, (uint64_t)base, ptrs, (n + 1) * 8))
		err = -EFAULT;
	free(ptrs);
	*array = (uint64_t)base;
	return err;
}

/* The first task, running @path with @argv. 0 or -errno. */
static int boot_init(struct um_kernel *k, const char *path, char *const *argv,
		     char *const *envp)
{
	struct host_as *as;
	struct um_task *t;
	uint64_t av, ev;
	struct file *file;
	struct mm *boot;
	int err;

	file = um_fs_open_host(k, path, &err);
	if (!file)
		return err;
	as = host_as_new_local(mem_phys(k->mem), BOOT_SIZE);
	boot = as ? mm_new(k->mem, as, BOOT_SIZE) : NULL;
	if (!boot) {
		err = -errno;
		if (as)
			host_as_free(as);
		file_put(file);
		return err;
	}
	err = boot_strings(boot, argv, &av);
	if (!err)
		err = boot_strings(boot, envp, &ev);
	t = err ? NULL : um_task_alloc(k);
	if (!err && !t)
		err = -ENOMEM;
	if (t) {
		k->init = t;
		um_task_set_comm(t, path);
		t->files = um_files_new();
		t->cwd = strdup("/");
		if (!t->files || !t->cwd)
			err = -ENOMEM;
		if (!err)
			t->mm = um_exec_mm(k, file, boot, av, ev, &t->regs,
					   &err);
		if (!err)
			err = um_task_start(t);
		if (err) {
			k->init = NULL;
			um_task_free(t);
		}
	}
	mm_put(boot);
	file_put(file);
	return err;
}

static void print_stats(struct um_kernel *k, FILE *out)
{
	struct um_kstats *s = &k->stats;
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < UM_NR_SYSCALLS; i++)
		total += s->syscalls[i];
	fprintf(out,
		"umm run: %" PRIu64 " forks, %" PRIu64 " execs, %" PRIu64
		" signals delivered\n",
		s->forks, s->execs, s->signals);
	fprintf(out,
		"  guest faults: %" PRIu64 " taken; by kind, with the pages "
		"faulted in ahead for it: anon %" PRIu64 ", zero page %" PRIu64
		", file %" PRIu64 ", cow %" PRIu64 ", reuse %" PRIu64
		", SIGSEGV %" PRIu64 ", SIGBUS %" PRIu64 "\n",
		s->faults, s->mm.fault_anon, s->mm.fault_anon_zero,
		s->mm.fault_file, s->mm.fault_cow, s->mm.fault_wp_reuse,
		s->mm.fault_sigsegv, s->mm.fault_sigbus);
	fprintf(out,
		"  host: %" PRIu64 " operations in %" PRIu64 " calls (%" PRIu64
		" merged), %" PRIu64 " round trips to stubs, %" PRIu64
		" host VMAs at most in one "
		"process\n",
		s->mm.host_ops, s->mm.host_syscalls, s->mm.host_merged,
		s->round_trips, s->peak_vmas);
	fprintf(out,
		"  frames: %" PRIu64 " in use at most, %" PRIu64
		" in use at exit\n",
		s->peak_frames,
		phys_nr_frames(mem_phys(k->mem)) -
			phys_nr_free(mem_phys(k->mem)));
	fprintf(out, "  syscalls: %" PRIu64 " (%" PRIu64 " unknown: ENOSYS)\n",
		total, s->unknown);
	for (i = 0; i < UM_NR_SYSCALLS; i++)
		if (s->syscalls[i])
			fprintf(out, "    %4u %-20s %" PRIu64 "\n", i,
				um_syscall_name(i) ? um_syscall_name(i) : "?",
				s->syscalls[i]);
}

int um_run(const struct um_run_args *args)
{
	struct um_kernel *k;
	int err, status;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->changed, NULL);
	k->next_pid = 1;
	k->task_size = HOST_STUB_START;
	k->trace = args->trace;
	k->root_fd = -1;
	/* The guest's stdio is ours: 0, 1 and 2 must not be the root's fd. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			return -errno;
	if (args->root) {
		k->root_fd = open(args->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (k->root_fd < 0) {
			err = -errno;
			fprintf(stderr, "umm run: --root %s: %s\n", args->root,
				strerror(errno));
			free(k);
			return err;
		}
	}
	/* A guest writing to a closed pipe gets EPIPE and SIGPIPE; not us. */
	signal(SIGPIPE, SIG_IGN);
	k->mem = mem_new((uint64_t)args->mem_mib << 20);
	k->file_cache = k->mem ? um_file_cache_new() : NULL;
	if (!k->file_cache) {
		err = -errno;
		fprintf(stderr, "umm run: guest memory: %s\n", strerror(errno));
		status = err;
		goto out;
	}
	um_worker_start(k); /* without it, its work is done inline */
	um_kernel_lock(k);
	err = boot_init(k, args->path, args->argv, args->envp);
	if (err) {
		um_kernel_unlock(k);
		fprintf(stderr, "umm run: %s: %s%s\n", args->path,
			strerror(-err),
			err == -ENOEXEC ? " (static x86-64 programs only)"
					: "");
		status = err;
		goto out;
	}
	while (k->nr_threads)
		pthread_cond_wait(&k->changed, &k->lock);
	status = k->init->wait_status;
	while (k->tasks)
		um_task_free(k->tasks);
	um_kernel_unlock(k);
out:
	um_worker_stop(k);
	if (k->file_cache)
		um_file_cache_free(k->file_cache);
	if (args->stats)
		print_stats(k, args->stats);
	if (args->mm_stats)
		*args->mm_stats = k->stats.mm;
	if (k->mem)
		mem_put(k->mem);
	if (k->root_fd >= 0)
		close(k->root_fd);
	pthread_cond_destroy(&k->changed);
	pthread_mutex_destroy(&k->lock);
	free(k);
	return status;
}

int um_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"root", required_argument, NULL, 'r'},
		{"trace", no_argument, NULL, 't'},
		{"stats", no_argument, NULL, 's'},
		{"mem", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct um_run_args args = {.mem_mib = 4096, .envp = environ};
	int c, status;
	char *end;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			args.root = optarg;
			break;
		case 't':
			args.trace = stderr;
			break;
		case 's':
			args.stats = stderr;
			break;
		case 'm':
			errno = 0;
			args.mem_mib = strtoul(optarg, &end, 10);
			if (errno || *end || args.mem_mib < 16 ||
			    args.mem_mib > (1 << 20)) {
				fprintf(stderr, "umm run: bad --mem '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	args.path = argv[optind];
	args.argv = argv + optind;
	status = um_run(&args);
	if (status < 0) /* the program did not start: as a shell would say */
		return status == -ENOENT ? 127 : 126;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
