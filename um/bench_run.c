// SPDX-License-Identifier: MIT
/*
 * umm bench run: issue 6's figures, a guest program on the guest kernel
 * (umm run) beside the same program run natively by the host.
 *
 *   run_syscall   a guest syscall round trip (getppid in a loop)
 *   run_fault     a guest page fault (one page written per 64 KiB of a
 *                 fresh anonymous region, so no fault maps another's page)
 *   run_touch     a sequential first touch (every page, fault-around on):
 *                 page_fault1's work on the stub backend
 *   run_fork      fork + exit + wait4
 *   run_forkexec  fork + execve of a small static program + wait4
 *   run_sigsys    run_syscall's guest against the floor of trapping syscalls
 *                 at all: a host process whose getppid a seccomp filter
 *                 traps into its own SIGSYS handler, which answers
 *   run_sigsegv   run_fault's guest against the floor of faults by signal:
 *                 a host process whose SIGSEGV handler maps a page of a
 *                 memfd (MAP_POPULATE) where it faulted
 *
 * The program is a few dozen instructions written here and wrapped in a
 * static ELF at run time, so the bench needs no compiler. Both sides run
 * the same file: natively through fork and execve, on umm through
 * um_run() with the file's directory as the guest root. Each repetition
 * runs the program twice, with N operations and with none, and takes the
 * difference: what remains is the operations, without either side's
 * process start and exit. The program exits 1 when a child did not exit 0
 * (an exec that failed, say), and the scenario then reports an error.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "um/bench.h"
#include "um/um.h"

#define PROG_VA 0x400000ULL

/*
 * The program: argc > 1 (an exec'd child) exits at once; otherwise the
 * mode and count in its data words select the loop. Position-independent.
 */
__asm__(".pushsection .rodata.bench_prog,\"a\"\n"
	"bench_prog:\n\t"
	"mov (%rsp), %r12\n\t"
	"cmp $1, %r12\n\t"
	"jg 9f\n\t"
	"lea bench_prog_data(%rip), %rbx\n\t"
	"mov 0(%rbx), %r13\n\t"
	"mov 8(%rbx), %r14\n\t"
	"test %r14, %r14\n\t"
	"jz 9f\n\t"
	"cmp $1, %r13\n\t"
	"je 2f\n\t"
	"cmp $2, %r13\n\t"
	"je 3f\n\t"
	"cmp $3, %r13\n\t"
	"je 4f\n\t"
	"cmp $4, %r13\n\t"
	"je 5f\n"
	/* 0: getppid */
	"1: mov $110, %eax\n\t"
	"syscall\n\t"
	"dec %r14\n\t"
	"jnz 1b\n\t"
	"jmp 9f\n"
	/* 1: mmap N * 64 KiB, write one byte per 64 KiB */
	"2: mov $16, %ecx\n\t"
	"jmp 22f\n"
	/* 4: mmap N * 4 KiB, write every page: a sequential first touch */
	"5: mov $12, %ecx\n"
	"22: mov $1, %r15d\n\t"
	"shl %cl, %r15\n\t" /* the stride, kept across the syscall */
	"mov %r14, %rsi\n\t"
	"shl %cl, %rsi\n\t"
	"xor %edi, %edi\n\t"
	"mov $3, %edx\n\t"
	"mov $0x22, %r10d\n\t"
	"mov $-1, %r8\n\t"
	"xor %r9d, %r9d\n\t"
	"mov $9, %eax\n\t"
	"syscall\n\t"
	"cmp $-4096, %rax\n\t"
	"ja 8f\n"
	"21: movb $1, (%rax)\n\t"
	"add %r15, %rax\n\t"
	"dec %r14\n\t"
	"jnz 21b\n\t"
	"jmp 9f\n"
	/* 2: fork, the child exits, wait4 */
	"3: mov $57, %eax\n\t"
	"syscall\n\t"
	"test %rax, %rax\n\t"
	"jz 9f\n\t"
	"js 8f\n\t"
	"mov %rax, %rdi\n\t"
	"lea -16(%rsp), %rsi\n\t" /* the status, in the red zone */
	"xor %edx, %edx\n\t"
	"xor %r10d, %r10d\n\t"
	"mov $61, %eax\n\t"
	"syscall\n\t"
	"cmpl $0, -16(%rsp)\n\t" /* the child exited 0 */
	"jne 8f\n\t"
	"dec %r14\n\t"
	"jnz 3b\n\t"
	"jmp 9f\n"
	/* 3: fork, the child execs argv[0] "x", wait4 */
	"4: mov 8(%rsp), %r15\n"
	"41: mov $57, %eax\n\t"
	"syscall\n\t"
	"test %rax, %rax\n\t"
	"js 8f\n\t"
	"jnz 42f\n\t"
	"push $0\n\t"
	"lea bench_prog_x(%rip), %rax\n\t"
	"push %rax\n\t"
	"push %r15\n\t"
	"mov %rsp, %rsi\n\t"
	"mov %r15, %rdi\n\t"
	"lea bench_prog_zero(%rip), %rdx\n\t"
	"mov $59, %eax\n\t"
	"syscall\n\t"
	"jmp 8f\n"
	"42: mov %rax, %rdi\n\t"
	"lea -16(%rsp), %rsi\n\t"
	"xor %edx, %edx\n\t"
	"xor %r10d, %r10d\n\t"
	"mov $61, %eax\n\t"
	"syscall\n\t"
	"cmpl $0, -16(%rsp)\n\t" /* the exec'd program exited 0 */
	"jne 8f\n\t"
	"dec %r14\n\t"
	"jnz 41b\n\t"
	"jmp 9f\n"
	"8: mov $1, %edi\n\t"
	"mov $231, %eax\n\t"
	"syscall\n"
	"9: xor %edi, %edi\n\t"
	"mov $231, %eax\n\t"
	"syscall\n\t"
	"ud2\n\t"
	".balign 8\n"
	"bench_prog_data: .quad 0, 0\n"
	"bench_prog_zero: .quad 0\n"
	"bench_prog_x: .asciz \"x\"\n"
	"bench_prog_end:\n"
	".popsection");
extern const char bench_prog[], bench_prog_data[], bench_prog_end[];

enum { MODE_SYSCALL, MODE_FAULT, MODE_FORK, MODE_FORKEXEC, MODE_TOUCH };

struct run_bench {
	char dir[64]; /* the guest root: holds prog */
	char path[96];
};

/* The program as a static ELF file in @path, with @mode and @n. */
static int write_prog(const char *path, uint64_t mode, uint64_t n)
{
	size_t code = (size_t)(bench_prog_end - bench_prog);
	size_t hdr = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
	size_t off = (hdr + 15) & ~(size_t)15, total = off + code;
	size_t data = off + (size_t)(bench_prog_data - bench_prog);
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
	uint8_t *img;
	int fd, err = 0;

	img = calloc(1, total);
	if (!img)
		return -ENOMEM;
	eh = (Elf64_Ehdr *)img;
	ph = (Elf64_Phdr *)(img + sizeof(*eh));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = PROG_VA + off;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_flags = PF_R | PF_X;
	ph->p_offset = 0;
	ph->p_vaddr = ph->p_paddr = PROG_VA;
	ph->p_filesz = ph->p_memsz = total;
	ph->p_align = 4096;
	memcpy(img + off, bench_prog, code);
	memcpy(img + data, &mode, 8);
	memcpy(img + data + 8, &n, 8);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, img, total) != (ssize_t)total)
		err = -errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	free(img);
	return err;
}

static int run_setup(struct bench_ctx *ctx)
{
	struct run_bench *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	ctx->priv = b;
	strcpy(b->dir, "/tmp/umm-bench-run.XXXXXX");
	if (!mkdtemp(b->dir))
		return -errno;
	snprintf(b->path, sizeof(b->path), "%s/prog", b->dir);
	return 0;
}

static void run_teardown(struct bench_ctx *ctx)
{
	struct run_bench *b = ctx->priv;

	if (!b)
		return;
	unlink(b->path);
	rmdir(b->dir);
	free(b);
	ctx->priv = NULL;
}

/*
 * The program with @n operations, on umm (@guest: its mms' counters in
 * @st) or natively: ns, or -errno.
 */
static int64_t run_once(struct bench_ctx *ctx, bool guest, uint64_t n,
			struct umm_stats *st)
{
	struct run_bench *b = ctx->priv;
	char *argv_guest[] = {(char *)"/prog", NULL};
	char *argv_host[] = {b->path, NULL};
	char *envp[] = {NULL};
	uint64_t t0, t1;
	int err, status;
	pid_t pid;

	err = write_prog(b->path, (uint64_t)ctx->arg, n);
	if (err)
		return err;
	t0 = bench_now_ns();
	if (guest) {
		struct um_run_args a = {
			.root = b->dir,
			.path = b->path,
			.argv = argv_guest,
			.envp = envp,
			.mem_mib = 1024,
			.mm_stats = st,
		};

		status = um_run(&a);
		if (status < 0)
			return status;
	} else {
		pid = fork();
		if (pid < 0)
			return -errno;
		if (!pid) {
			execve(b->path, argv_host, envp);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			return -errno;
	}
	t1 = bench_now_ns();
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return -ECHILD;
	return (int64_t)(t1 - t0);
}

static int run_side(struct bench_ctx *ctx, struct bench_sample *s, bool guest)
{
	struct umm_stats st_full = {0}, st_empty = {0};
	uint64_t *a = (uint64_t *)&s->st, *f = (uint64_t *)&st_full;
	uint64_t *e = (uint64_t *)&st_empty;
	int64_t full, empty;
	size_t i;

	full = run_once(ctx, guest, ctx->iters, &st_full);
	if (full < 0)
		return (int)full;
	empty = run_once(ctx, guest, 0, &st_empty);
	if (empty < 0)
		return (int)empty;
	s->ns = full > empty ? (uint64_t)(full - empty) : 1;
	s->ops = ctx->iters;
	/* the operations' counters: the run's less the empty run's */
	for (i = 0; guest && i < offsetof(struct umm_stats, guest_vmas) / 8;
	     i++)
		a[i] = f[i] > e[i] ? f[i] - e[i] : 0;
	return 0;
}

static int run_guest(struct bench_ctx *ctx, struct bench_sample *s)
{
	return run_side(ctx, s, true);
}

static int run_native(struct bench_ctx *ctx, struct bench_sample *s)
{
	return run_side(ctx, s, false);
}

/*
 * The floors: what the same work costs a host process that serves its own
 * trapped syscalls and faults from signal handlers, with no kernel in
 * another process to hand them to. Each run is a child of ours (a seccomp
 * filter cannot be taken back), timed from here with @n operations and
 * with none, as run_side() does.
 */
static void floor_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_RAX] = 1; /* getppid's answer */
}

static volatile uint8_t *floor_base;
static uint64_t floor_len;
static int floor_fd;

static void floor_sigsegv(int sig, siginfo_t *si, void *ucv)
{
	uint64_t off = ((uint64_t)si->si_addr - (uint64_t)floor_base) &
		       ~(uint64_t)4095;

	(void)sig;
	(void)ucv;
	if (off >= floor_len) /* not ours: no mapping over whatever it is */
		_exit(5);
	if (mmap((void *)(floor_base + off), 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, floor_fd,
		 (off_t)(off >> 4)) == MAP_FAILED)
		_exit(2);
}

/* The child's work: async-signal-safe calls only (we may have threads). */
static void floor_child(long mode, uint64_t n)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = 4, .filter = insns};
	struct sigaction sa;
	uint64_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO;
	if (mode == MODE_SYSCALL) {
		sa.sa_sigaction = floor_sigsys;
		if (sigaction(SIGSYS, &sa, NULL) ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(3);
		for (i = 0; i < n; i++)
			if (syscall(SYS_getppid) != 1)
				_exit(4);
		_exit(0);
	}
	/* One page in each 64 KiB, as the guest's: 1/16 of the size. */
	floor_fd = (int)syscall(SYS_memfd_create, "floor", 0);
	if (floor_fd < 0 || ftruncate(floor_fd, (off_t)(n << 12)))
		_exit(3);
	floor_len = (n ? n : 1) << 16;
	floor_base = mmap(NULL, floor_len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	sa.sa_sigaction = floor_sigsegv;
	if (floor_base == MAP_FAILED || sigaction(SIGSEGV, &sa, NULL))
		_exit(3);
	for (i = 0; i < n; i++)
		floor_base[i << 16] = 1;
	_exit(0);
}

static int64_t floor_once(long mode, uint64_t n)
{
	uint64_t t0 = bench_now_ns();
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid)
		floor_child(mode, n);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return -ECHILD;
	return (int64_t)(bench_now_ns() - t0);
}

static int run_floor(struct bench_ctx *ctx, struct bench_sample *s)
{
	int64_t full = floor_once(ctx->arg, ctx->iters);
	int64_t empty = full < 0 ? 0 : floor_once(ctx->arg, 0);

	if (full < 0)
		return (int)full;
	if (empty < 0)
		return (int)empty;
	s->ns = full > empty ? (uint64_t)(full - empty) : 1;
	s->ops = ctx->iters;
	return 0;
}

#define RUN_SCENARIO_WITH(nm, mode, desc, nat, u, it, itq, native_fn) \
	const struct bench_scenario bench_##nm = {                    \
		.name = #nm,                                          \
		.what = desc,                                         \
		.native_what = nat,                                   \
		.unit = u,                                            \
		.iters = it,                                          \
		.iters_quick = itq,                                   \
		.arg = mode,                                          \
		.setup = run_setup,                                   \
		.teardown = run_teardown,                             \
		.guest = run_guest,                                   \
		.native = native_fn,                                  \
	}
#define RUN_SCENARIO(nm, mode, desc, nat, u, it, itq) \
	RUN_SCENARIO_WITH(nm, mode, desc, nat, u, it, itq, run_native)

RUN_SCENARIO(run_syscall, MODE_SYSCALL,
	     "guest getppid under umm run (a trapped syscall's round trip)",
	     "the same program run natively", "syscall", 200000, 20000);
RUN_SCENARIO(run_fault, MODE_FAULT,
	     "guest page fault under umm run (one page per 64 KiB)",
	     "the same program run natively", "fault", 20000, 2000);
RUN_SCENARIO(run_touch, MODE_TOUCH,
	     "sequential first touch under umm run (the stub backend; "
	     "page_fault1 is the local one)",
	     "the same program run natively", "page", 65536, 4096);
RUN_SCENARIO(run_fork, MODE_FORK, "guest fork + exit + wait4 under umm run",
	     "the same program run natively", "fork", 300, 30);
RUN_SCENARIO(run_forkexec, MODE_FORKEXEC,
	     "guest fork + execve of a small static program + wait4",
	     "the same program run natively", "exec", 200, 20);
RUN_SCENARIO_WITH(
	run_sigsys, MODE_SYSCALL,
	"guest getppid under umm run, against the floor of its design",
	"a host process trapping its own getppid (seccomp "
	"SECCOMP_RET_TRAP) into its SIGSYS handler",
	"syscall", 200000, 20000, run_floor);
RUN_SCENARIO_WITH(
	run_sigsegv, MODE_FAULT,
	"guest page fault under umm run, against the floor of its design",
	"a host process whose SIGSEGV handler maps the page it faulted "
	"on (a memfd page, MAP_POPULATE)",
	"fault", 20000, 2000, run_floor);
