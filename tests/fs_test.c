// SPDX-License-Identifier: MIT
/*
 * The guest's files (um/fs.c), called as the kernel calls them: a kernel
 * and a task built by hand, the syscalls called directly with k->lock held
 * and guest buffers in an anonymous mapping of the task's mm. The guest
 * root is a temporary directory with files, a subdirectory and symlinks
 * that try to leave it (one to /etc/passwd: the root has an etc/passwd of
 * its own, so a lookup that stays inside reads that one).
 */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mm/mm.h"
#include "tests/common.h"
#include "um/fs.h"
#include "um/kernel.h"
#include "um/task.h"

#define TASK_SIZE (256ULL << 20)
#define GBUF_LEN  (2ULL << 20)
#define BIG_LEN	  (200 * 1024 + 123)

static struct um_kernel k;
static struct um_task task;
static struct mm *mm;
static uint64_t gbuf; /* guest: paths at +0, data at +64 KiB */
static char root[64];

#define GPATH  (gbuf)
#define GDATA  (gbuf + (64 << 10))
#define GAUX   (gbuf + (1 << 20))
#define GUNMAP (gbuf + GBUF_LEN + (1 << 20)) /* nothing mapped there */

static long sys_call(struct um_task *t, um_syscall_fn *fn, const uint64_t *a)
{
	long ret;

	pthread_mutex_lock(&k.lock);
	ret = fn(t, a);
	pthread_mutex_unlock(&k.lock);
	return ret;
}

#define SYS(fn, ...)	 sys_call(&task, fn, (const uint64_t[6]){__VA_ARGS__})
#define TSYS(t, fn, ...) sys_call(t, fn, (const uint64_t[6]){__VA_ARGS__})

/* A guest copy of @s at GPATH. */
static uint64_t gstr(const char *s)
{
	if (um_copy_to_guest(mm, GPATH, s, strlen(s) + 1))
		BAIL_OUT("cannot write the guest path");
	return GPATH;
}

static void gput(uint64_t va, const void *buf, size_t len)
{
	if (um_copy_to_guest(mm, va, buf, len))
		BAIL_OUT("cannot write guest memory at %#llx",
			 (unsigned long long)va);
}

static void gget(uint64_t va, void *buf, size_t len)
{
	if (um_copy_from_guest(mm, buf, va, len))
		BAIL_OUT("cannot read guest memory at %#llx",
			 (unsigned long long)va);
}

static long gopen(const char *path, int flags)
{
	return SYS(um_sys_open, gstr(path), (uint64_t)flags, 0);
}

static void gclose(long fd)
{
	SYS(um_sys_close, (uint64_t)fd);
}

static void put_file(const char *name, const void *data, size_t len,
		     mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		BAIL_OUT("cannot write %s", path);
	close(fd);
}

static void host_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", root, name);
}

/* The guest's tree, under the host directory @root. */
static void populate_root(void)
{
	char path[256];
	static char big[BIG_LEN];
	size_t i;

	put_file("hello.txt", "hello, world\n", 13, 0644);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 4096);
	put_file("big", big, sizeof(big), 0644);
	put_file("exe", "\177ELF not really", 15, 0755);
	host_path(path, sizeof(path), "sub");
	mkdir(path, 0755);
	put_file("sub/inner.txt", "inner\n", 6, 0644);
	host_path(path, sizeof(path), "etc");
	mkdir(path, 0755);
	put_file("etc/passwd", "guest passwd\n", 13, 0644);
	host_path(path, sizeof(path), "escape");
	if (symlink("/etc/passwd", path))
		BAIL_OUT("symlink: %s", strerror(errno));
	host_path(path, sizeof(path), "up");
	if (symlink("../../../../../../etc", path))
		BAIL_OUT("symlink");
	host_path(path, sizeof(path), "sublink");
	if (symlink("sub", path))
		BAIL_OUT("symlink");
	host_path(path, sizeof(path), "dangling");
	if (symlink("nothere", path))
		BAIL_OUT("symlink");
	host_path(path, sizeof(path), "dangling2");
	if (symlink("nodir/x", path))
		BAIL_OUT("symlink");
}

static void make_root(void)
{
	strcpy(root, "/tmp/umm-fs-XXXXXX");
	if (!mkdtemp(root))
		BAIL_OUT("mkdtemp: %s", strerror(errno));
	populate_root();
}

static void remove_root(void)
{
	static const char *const names[] = {
		"hello.txt", "big", "exe",     "sub/inner.txt", "etc/passwd",
		"escape",    "up",  "sublink", "dangling",	"dangling2",
	};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		host_path(path, sizeof(path), names[i]);
		unlink(path);
	}
	host_path(path, sizeof(path), "sub");
	rmdir(path);
	host_path(path, sizeof(path), "etc");
	rmdir(path);
	rmdir(root);
}

/* Read all of guest fd @fd into @buf (up to @size): the bytes, or -errno. */
static long gread_all(long fd, char *buf, size_t size)
{
	long n = SYS(um_sys_read, (uint64_t)fd, GDATA, size);

	if (n > 0)
		gget(GDATA, buf, (size_t)n);
	return n;
}

static void test_open_read(void)
{
	char buf[64], path[256];
	struct stat st, hst;
	long fd, n;

	fd = gopen("/hello.txt", O_RDONLY);
	is(fd, 3, "open: the lowest free fd (0-2 are stdio)");
	n = SYS(um_sys_read, (uint64_t)fd, GDATA, 5);
	is(n, 5, "read 5 bytes");
	gget(GDATA, buf, 5);
	ok(!memcmp(buf, "hello", 5), "read the file's bytes");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_CUR), 5,
	   "lseek SEEK_CUR: the offset moved");
	is(SYS(um_sys_lseek, (uint64_t)fd, 7, SEEK_SET), 7, "lseek SEEK_SET");
	n = gread_all(fd, buf, sizeof(buf));
	ok(n == 6 && !memcmp(buf, "world\n", 6), "read from there to EOF");
	is(SYS(um_sys_read, (uint64_t)fd, GDATA, 10), 0, "read at EOF: 0");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, 9), -EINVAL,
	   "lseek with a bad whence: EINVAL");
	is(SYS(um_sys_pread64, (uint64_t)fd, GDATA, 5, 7), 5, "pread64");
	gget(GDATA, buf, 5);
	ok(!memcmp(buf, "world", 5), "pread64 read at its offset");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_CUR), 13,
	   "pread64 leaves the offset");
	is(SYS(um_sys_pread64, (uint64_t)fd, GDATA, 5, (uint64_t)-1), -EINVAL,
	   "pread64 at a negative offset: EINVAL");

	is(SYS(um_sys_fstat, (uint64_t)fd, GDATA), 0, "fstat");
	gget(GDATA, &st, sizeof(st));
	host_path(path, sizeof(path), "hello.txt");
	stat(path, &hst);
	ok(S_ISREG(st.st_mode) && st.st_size == 13 && st.st_ino == hst.st_ino,
	   "fstat: the host file's struct stat");
	is(SYS(um_sys_fstat, (uint64_t)fd, GUNMAP), -EFAULT,
	   "fstat into an unmapped buffer: EFAULT");
	is(SYS(um_sys_close, (uint64_t)fd), 0, "close");
	is(SYS(um_sys_close, (uint64_t)fd), -EBADF, "close again: EBADF");
	is(SYS(um_sys_read, (uint64_t)fd, GDATA, 5), -EBADF,
	   "read of a closed fd: EBADF");
	is(SYS(um_sys_close, 5000), -EBADF, "close of fd 5000: EBADF");
}

/*
 * Calls whose result a read-only mount decides, each with what Linux
 * returns: the host kernel gives the same on a read-only tmpfs holding the
 * same tree (test_host_oracle), where it lets us mount one.
 */
enum { OP_OPEN, OP_STAT, OP_LSTAT, OP_ACCESS, OP_READLINK, OP_STATX };

static const struct ocase {
	int op;
	const char *path;
	int arg; /* open's flags, access's mode, readlink's size */
	long want; /* open: 0 for any fd */
} ocases[] = {
	{OP_OPEN, "/hello.txt", O_WRONLY, -EROFS},
	{OP_OPEN, "/hello.txt", O_RDWR, -EROFS},
	{OP_OPEN, "/hello.txt", O_ACCMODE, -EROFS},
	{OP_OPEN, "/hello.txt", O_RDONLY | O_TRUNC, -EROFS},
	{OP_OPEN, "/hello.txt", O_RDONLY | O_CREAT, 0},
	{OP_OPEN, "/hello.txt", O_RDONLY | O_CREAT | O_EXCL, -EEXIST},
	{OP_OPEN, "/hello.txt", O_WRONLY | O_CREAT, -EROFS},
	{OP_OPEN, "/hello.txt", O_RDONLY | O_CREAT | O_TRUNC, -EROFS},
	{OP_OPEN, "/hello.txt", O_RDONLY | O_EXCL, 0},
	{OP_OPEN, "/hello.txt", O_RDONLY | O_APPEND | O_NONBLOCK | O_SYNC, 0},
	{OP_OPEN, "/new", O_RDONLY | O_CREAT, -EROFS},
	{OP_OPEN, "/new", O_RDONLY | O_CREAT | O_EXCL | O_TRUNC, -EROFS},
	{OP_OPEN, "/new", O_RDONLY, -ENOENT},
	{OP_OPEN, "/nodir/new", O_RDONLY | O_CREAT, -ENOENT},
	{OP_OPEN, "/hello.txt/new", O_RDONLY | O_CREAT, -ENOTDIR},
	{OP_OPEN, "/new/", O_RDONLY | O_CREAT, -EISDIR},
	{OP_OPEN, "/sub/", O_RDONLY | O_CREAT, -EISDIR},
	{OP_OPEN, "/sub", O_RDONLY | O_CREAT, -EISDIR},
	{OP_OPEN, ".", O_RDONLY | O_CREAT, -EISDIR},
	{OP_OPEN, "/sub", O_WRONLY, -EISDIR},
	{OP_OPEN, "/sub", O_RDONLY | O_TRUNC, -EISDIR},
	{OP_OPEN, "/sub", O_RDONLY | O_CREAT | O_DIRECTORY, -EINVAL},
	{OP_OPEN, "/sub", O_RDONLY | O_DIRECTORY, 0},
	{OP_OPEN, "/sublink", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, -ENOTDIR},
	{OP_OPEN, "/sublink/", O_RDONLY | O_NOFOLLOW, 0},
	{OP_OPEN, "/hello.txt", O_RDONLY | O_DIRECTORY, -ENOTDIR},
	{OP_OPEN, "/hello.txt/", O_RDONLY, -ENOTDIR},
	{OP_OPEN, "/hello.txt/x", O_RDONLY, -ENOTDIR},
	{OP_OPEN, "/escape", O_RDONLY | O_NOFOLLOW, -ELOOP},
	{OP_OPEN, "/escape", O_RDONLY | O_CREAT | O_EXCL, -EEXIST},
	{OP_OPEN, "/escape", O_PATH | O_NOFOLLOW, 0},
	{OP_OPEN, "/hello.txt", O_PATH | O_RDWR | O_TRUNC | O_CREAT, 0},
	{OP_OPEN, "/new", O_PATH | O_CREAT, -ENOENT},
	{OP_OPEN, "/dangling", O_RDONLY | O_CREAT, -EROFS},
	{OP_OPEN, "/dangling2", O_RDONLY | O_CREAT, -ENOENT},
	{OP_OPEN, "/dangling", O_RDONLY, -ENOENT},
	{OP_OPEN, "/sub", O_TMPFILE | O_RDWR, -EROFS},
	{OP_OPEN, "/sub", O_TMPFILE | O_RDONLY, -EINVAL},
	{OP_OPEN, "/hello.txt", O_TMPFILE | O_RDWR, -ENOTDIR},
	{OP_OPEN, "/nope", O_TMPFILE | O_RDWR, -ENOENT},
	{OP_OPEN, "", O_RDONLY, -ENOENT},
	{OP_OPEN, "/../../etc/passwd", O_RDONLY, 0},
	{OP_STAT, "/escape", 0, 0},
	{OP_STAT, "/dangling", 0, -ENOENT},
	{OP_STAT, "/hello.txt/", 0, -ENOTDIR},
	{OP_STAT, "", 0, -ENOENT},
	{OP_LSTAT, "/dangling", 0, 0},
	{OP_LSTAT, "/sublink/", 0, 0},
	{OP_ACCESS, "/hello.txt", R_OK, 0},
	{OP_ACCESS, "/hello.txt", W_OK, -EROFS},
	{OP_ACCESS, "/hello.txt", X_OK, -EACCES},
	{OP_ACCESS, "/hello.txt", W_OK | X_OK, -EROFS},
	{OP_ACCESS, "/exe", X_OK, 0},
	{OP_ACCESS, "/sub", W_OK, -EROFS},
	{OP_ACCESS, "/escape", W_OK, -EROFS},
	{OP_ACCESS, "/dangling", F_OK, -ENOENT},
	{OP_ACCESS, "/hello.txt", 8, -EINVAL},
	{OP_READLINK, "/escape", 64, 11},
	{OP_READLINK, "/escape", 3, 3},
	{OP_READLINK, "/escape", 0, -EINVAL},
	{OP_READLINK, "/hello.txt", 64, -EINVAL},
	{OP_READLINK, "/sub", 64, -EINVAL},
	{OP_READLINK, "/nope", 64, -ENOENT},
	{OP_READLINK, "/sublink/", 64, -EINVAL},
	{OP_READLINK, "", 64, -ENOENT},
	{OP_STATX, "/escape", 0, 0},
	{OP_STATX, "/dangling", 0, -ENOENT},
	{OP_STATX, "/dangling", AT_SYMLINK_NOFOLLOW, 0},
	{OP_STATX, "", 0, -ENOENT},
	{OP_STATX, "", AT_EMPTY_PATH, 0},
	{OP_STATX, "/hello.txt", AT_STATX_SYNC_TYPE, -EINVAL},
	{OP_STATX, "/hello.txt", AT_STATX_DONT_SYNC, 0},
	{OP_STATX, "/hello.txt", 0x1, -EINVAL},
	{OP_STATX, "/hello.txt/", 0, -ENOTDIR},
};
#define NR_OCASES (sizeof(ocases) / sizeof(ocases[0]))

static const char *const op_names[] = {"open",	 "stat",     "lstat",
				       "access", "readlink", "statx"};

/* @c in the guest: open's fd as 0. */
static long ocase_um(const struct ocase *c)
{
	long r;

	switch (c->op) {
	case OP_OPEN:
		r = gopen(c->path, c->arg);
		if (r >= 0)
			gclose(r);
		return r >= 0 ? 0 : r;
	case OP_STAT:
		return SYS(um_sys_stat, gstr(c->path), GDATA);
	case OP_LSTAT:
		return SYS(um_sys_lstat, gstr(c->path), GDATA);
	case OP_ACCESS:
		return SYS(um_sys_access, gstr(c->path), (uint64_t)c->arg);
	case OP_STATX:
		return SYS(um_sys_statx, (uint64_t)AT_FDCWD, gstr(c->path),
			   (uint64_t)c->arg, STATX_BASIC_STATS, GDATA);
	default:
		return SYS(um_sys_readlink, gstr(c->path), GDATA,
			   (uint64_t)c->arg);
	}
}

/* @c on the host, in the read-only tree that is its root. */
static long ocase_host(const struct ocase *c)
{
	struct statx stx;
	struct stat st;
	char buf[64];
	long r;

	switch (c->op) {
	case OP_OPEN:
		r = open(c->path, c->arg, 0644);
		if (r >= 0)
			close((int)r);
		return r >= 0 ? 0 : -errno;
	case OP_STAT:
		return stat(c->path, &st) ? -errno : 0;
	case OP_LSTAT:
		return lstat(c->path, &st) ? -errno : 0;
	case OP_ACCESS:
		return access(c->path, c->arg) ? -errno : 0;
	case OP_STATX:
		return syscall(SYS_statx, AT_FDCWD, c->path, c->arg,
			       STATX_BASIC_STATS, &stx)
			       ? -errno
			       : 0;
	default:
		r = syscall(SYS_readlink, c->path, buf, (long)c->arg);
		return r < 0 ? -errno : r;
	}
}

static void write_map(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		_exit(2);
	close(fd);
}

/*
 * In a child: a user and mount namespace of its own, a tmpfs at @dir with
 * the guest's tree, remounted read-only, chroot'ed into; every case's
 * result into @out. Exits 0 when it could do all that.
 */
static void oracle_child(const char *dir, int out)
{
	long results[NR_OCASES];
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];
	size_t i;
	int null = open("/dev/null", O_WRONLY);

	dup2(null, 1); /* populate_root's BAIL_OUT: not in our TAP stream */
	dup2(null, 2);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS))
		_exit(2);
	write_map("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	write_map("/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	write_map("/proc/self/gid_map", map);
	if (mount("none", dir, "tmpfs", 0, "mode=0755"))
		_exit(2);
	strcpy(root, dir);
	populate_root();
	if (mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) ||
	    chdir(dir) || chroot(".") || chdir("/"))
		_exit(2);
	for (i = 0; i < NR_OCASES; i++)
		results[i] = ocase_host(&ocases[i]);
	if (write(out, results, sizeof(results)) != (ssize_t)sizeof(results))
		_exit(2);
	_exit(0);
}

/* Fill @results from the host kernel: 0, or -1 when it would not. */
static int host_oracle(long *results)
{
	char dir[] = "/tmp/umm-fs-ro-XXXXXX";
	int p[2], status, got = -1;
	pid_t pid;

	if (!mkdtemp(dir) || pipe(p))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		oracle_child(dir, p[1]);
	}
	close(p[1]);
	if (pid > 0 && read(p[0], results, NR_OCASES * sizeof(long)) ==
			       (ssize_t)(NR_OCASES * sizeof(long)))
		got = 0;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	rmdir(dir);
	return got;
}

static void test_oracle(void)
{
	static long host[NR_OCASES];
	int have_host = !host_oracle(host);
	size_t i;

	if (!have_host)
		diag("no read-only tmpfs in a user namespace here: the "
		     "host's answers are not compared");
	for (i = 0; i < NR_OCASES; i++) {
		const struct ocase *c = &ocases[i];
		long got = ocase_um(c);

		is(got, c->want, "%s(\"%s\", %#o): %ld", op_names[c->op],
		   c->path, c->arg, c->want);
		if (have_host)
			is(got, host[i], "%s(\"%s\", %#o): as the host's",
			   op_names[c->op], c->path, c->arg);
	}
}

static void test_open_errors(void)
{
	char *longp = malloc(PATH_MAX + 1);
	long fd;

	/* PATH_MAX counts the NUL: 4095 bytes of path pass, 4096 do not */
	memset(longp, '/', PATH_MAX);
	strcpy(longp + PATH_MAX - 1 - strlen("hello.txt"), "hello.txt");
	fd = gopen(longp, O_RDONLY);
	ok(fd >= 0, "a path of PATH_MAX - 1 bytes opens");
	gclose(fd);
	memset(longp, '/', PATH_MAX);
	strcpy(longp + PATH_MAX - strlen("hello.txt"), "hello.txt");
	is(gopen(longp, O_RDONLY), -ENAMETOOLONG,
	   "a path of PATH_MAX bytes: ENAMETOOLONG");
	free(longp);
	is(SYS(um_sys_open, GUNMAP, O_RDONLY, 0), -EFAULT,
	   "a path at an unmapped address: EFAULT");
	is(SYS(um_sys_open, 0, O_RDONLY, 0), -EFAULT, "a NULL path: EFAULT");

	fd = gopen("/hello.txt", O_RDONLY);
	is(SYS(um_sys_read, (uint64_t)fd, GUNMAP, 5), -EFAULT,
	   "read into an unmapped buffer: EFAULT");
	is(SYS(um_sys_read, (uint64_t)fd, TASK_SIZE - 2, 5), -EFAULT,
	   "read into a buffer past the task size: EFAULT");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_CUR), 0,
	   "a refused read leaves the offset");
	is(SYS(um_sys_write, (uint64_t)fd, GDATA, 5), -EBADF,
	   "write to a file of the root: EBADF");
	gclose(fd);
	fd = gopen("/sub", O_RDONLY);
	is(SYS(um_sys_read, (uint64_t)fd, GDATA, 5), -EISDIR,
	   "read of a directory: EISDIR");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_SET), 0,
	   "lseek of a directory");
	gclose(fd);

	fd = gopen("/escape", O_PATH | O_NOFOLLOW);
	ok(fd >= 0, "O_PATH | O_NOFOLLOW opens the symlink itself");
	is(SYS(um_sys_read, (uint64_t)fd, GDATA, 5), -EBADF,
	   "read of an O_PATH fd: EBADF");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_GETFL), O_PATH | O_NOFOLLOW,
	   "F_GETFL of O_PATH | O_NOFOLLOW, as Linux");
	is(SYS(um_sys_readlinkat, (uint64_t)fd, gstr(""), GDATA, 64), 11,
	   "readlinkat of an O_PATH symlink fd with an empty path");
	gclose(fd);
}

static void test_emfile(void)
{
	long fd = gopen("/hello.txt", O_RDONLY), d, last = -1, n = 0;

	while ((d = SYS(um_sys_dup, (uint64_t)fd)) >= 0) {
		last = d;
		n++;
	}
	is(d, -EMFILE, "dup until the table is full: EMFILE");
	is(last, 1023, "the last fd is 1023");
	is(gopen("/hello.txt", O_RDONLY), -EMFILE, "open: EMFILE");
	is(SYS(um_sys_pipe2, GDATA, 0), -EMFILE, "pipe2: EMFILE");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_DUPFD, 0), -EMFILE,
	   "F_DUPFD: EMFILE");
	gclose(last);
	is(SYS(um_sys_pipe2, GDATA, 0), -EMFILE,
	   "pipe2 with one fd free: EMFILE");
	for (d = 4; d < 1024; d++)
		gclose(d);
	gclose(fd);
	is(gopen("/hello.txt", O_RDONLY), 3, "all closed: fd 3 again");
	gclose(3);
}

/* Open @path in the guest and read it whole: 1 when it reads @want. */
static int reads(const char *path, const char *want)
{
	char buf[64];
	long fd = gopen(path, O_RDONLY), n;

	if (fd < 0) {
		diag("open(%s): %ld", path, fd);
		return 0;
	}
	n = gread_all(fd, buf, sizeof(buf) - 1);
	gclose(fd);
	if (n < 0)
		return 0;
	buf[n] = 0;
	return !strcmp(buf, want);
}

static void test_escape(void)
{
	ok(reads("/escape", "guest passwd\n"),
	   "a symlink to /etc/passwd reads the root's etc/passwd");
	ok(reads("/../../../../../etc/passwd", "guest passwd\n"),
	   "/../../.. stays at the root");
	ok(reads("/up/passwd", "guest passwd\n"),
	   "a symlink of ../../.. stays at the root");
	ok(reads("/sub/../../../etc/passwd", "guest passwd\n"),
	   "sub/../../.. stays at the root");
	is(gopen("/proc/self/exe", O_RDONLY), -ENOENT,
	   "/proc/self/exe does not exist");
	is(SYS(um_sys_readlink, gstr("/proc/self/exe"), GDATA, 64), -ENOENT,
	   "readlink /proc/self/exe: ENOENT");
}

static void test_cwd(void)
{
	char buf[64];
	long fd, dfd;

	is(SYS(um_sys_getcwd, GDATA, 64), 2, "getcwd: \"/\", 2 with its NUL");
	is(SYS(um_sys_chdir, gstr("sub")), 0, "chdir a relative path");
	is(SYS(um_sys_getcwd, GDATA, 64), 5, "getcwd: 5");
	gget(GDATA, buf, 5);
	ok(!strcmp(buf, "/sub"), "getcwd: /sub");
	is(SYS(um_sys_getcwd, GDATA, 4), -ERANGE, "getcwd too small: ERANGE");
	is(SYS(um_sys_getcwd, GUNMAP, 64), -EFAULT, "getcwd: EFAULT");
	ok(reads("inner.txt", "inner\n"), "a relative open from the cwd");
	ok(reads("../etc/passwd", "guest passwd\n"), "a relative ..");
	ok(reads("../../../etc/passwd", "guest passwd\n"),
	   "relative .. stays at the root");
	is(SYS(um_sys_chdir, gstr("..")), 0, "chdir ..");
	ok(!strcmp(task.cwd, "/"), "cwd: /");
	is(SYS(um_sys_chdir, gstr("/sublink")), 0, "chdir through a symlink");
	ok(!strcmp(task.cwd, "/sub"), "cwd: the physical path, /sub");
	is(SYS(um_sys_chdir, gstr("/up")), 0, "chdir to a symlink to ../..");
	ok(!strcmp(task.cwd, "/etc"), "cwd: /etc");
	is(SYS(um_sys_chdir, gstr("/hello.txt")), -ENOTDIR, "chdir: ENOTDIR");
	is(SYS(um_sys_chdir, gstr("/nope")), -ENOENT, "chdir: ENOENT");
	is(SYS(um_sys_chdir, gstr("")), -ENOENT, "chdir \"\": ENOENT");
	is(SYS(um_sys_chdir, GUNMAP), -EFAULT, "chdir: EFAULT");
	ok(!strcmp(task.cwd, "/etc"), "failed chdirs leave the cwd");

	dfd = gopen("/sub", O_RDONLY | O_DIRECTORY);
	fd = gopen("/hello.txt", O_RDONLY);
	is(SYS(um_sys_fchdir, (uint64_t)dfd), 0, "fchdir");
	ok(!strcmp(task.cwd, "/sub"), "fchdir: cwd /sub");
	is(SYS(um_sys_fchdir, (uint64_t)fd), -ENOTDIR,
	   "fchdir a file: ENOTDIR");
	is(SYS(um_sys_fchdir, 99), -EBADF, "fchdir: EBADF");
	SYS(um_sys_chdir, gstr("/"));
	is(SYS(um_sys_openat, (uint64_t)dfd, gstr("inner.txt"), O_RDONLY), 5,
	   "openat relative to a directory fd");
	gclose(5);
	is(SYS(um_sys_openat, (uint64_t)dfd, gstr("../../etc/passwd"),
	       O_RDONLY),
	   5, "openat: .. from a directory fd climbs to the root only");
	gread_all(5, buf, 13);
	ok(!memcmp(buf, "guest passwd\n", 13), "and reads the root's file");
	gclose(5);
	is(SYS(um_sys_openat, (uint64_t)fd, gstr("x"), O_RDONLY), -ENOTDIR,
	   "openat relative to a file fd: ENOTDIR");
	is(SYS(um_sys_openat, 99, gstr("x"), O_RDONLY), -EBADF,
	   "openat relative to a bad fd: EBADF");
	is(SYS(um_sys_openat, 99, gstr("/hello.txt"), O_RDONLY), 5,
	   "openat of an absolute path ignores the fd");
	gclose(5);
	is(SYS(um_sys_openat, (uint64_t)AT_FDCWD, gstr("sub/inner.txt"),
	       O_RDONLY),
	   5, "openat AT_FDCWD");
	gclose(5);
	gclose(fd);
	gclose(dfd);
}

static void test_stat(void)
{
	struct stat st, hst;
	char path[256], buf[64];
	long fd;

	host_path(path, sizeof(path), "etc/passwd");
	stat(path, &hst);
	is(SYS(um_sys_stat, gstr("/escape"), GDATA), 0, "stat a symlink");
	gget(GDATA, &st, sizeof(st));
	ok(st.st_ino == hst.st_ino, "stat follows it inside the root");
	is(SYS(um_sys_lstat, gstr("/escape"), GDATA), 0, "lstat");
	gget(GDATA, &st, sizeof(st));
	ok(S_ISLNK(st.st_mode) && st.st_size == 11, "lstat: the link itself");
	is(SYS(um_sys_newfstatat, (uint64_t)AT_FDCWD, gstr("escape"), GDATA,
	       AT_SYMLINK_NOFOLLOW),
	   0, "newfstatat AT_SYMLINK_NOFOLLOW");
	gget(GDATA, &st, sizeof(st));
	ok(S_ISLNK(st.st_mode), "newfstatat: the link itself");
	is(SYS(um_sys_newfstatat, (uint64_t)AT_FDCWD, gstr("escape"), GDATA,
	       0x1),
	   -EINVAL, "newfstatat bad flags: EINVAL");
	fd = gopen("/etc/passwd", O_RDONLY);
	is(SYS(um_sys_newfstatat, (uint64_t)fd, gstr(""), GDATA, AT_EMPTY_PATH),
	   0, "newfstatat AT_EMPTY_PATH");
	gget(GDATA, &st, sizeof(st));
	ok(st.st_ino == hst.st_ino, "newfstatat AT_EMPTY_PATH: the fd's file");
	is(SYS(um_sys_newfstatat, (uint64_t)fd, 0, GDATA, AT_EMPTY_PATH), 0,
	   "newfstatat AT_EMPTY_PATH with a NULL path");
	is(SYS(um_sys_newfstatat, (uint64_t)fd, gstr(""), GDATA, 0), -ENOENT,
	   "newfstatat \"\" without AT_EMPTY_PATH: ENOENT");
	is(SYS(um_sys_newfstatat, (uint64_t)fd, gstr("x"), GDATA, 0), -ENOTDIR,
	   "newfstatat relative to a file: ENOTDIR");
	gclose(fd);
	fd = gopen("/etc/passwd", O_RDONLY);
	is(SYS(um_sys_statx, (uint64_t)fd, gstr(""), AT_EMPTY_PATH,
	       STATX_BASIC_STATS, GDATA),
	   0, "statx AT_EMPTY_PATH");
	{
		struct statx stx;

		gget(GDATA, &stx, sizeof(stx));
		ok(stx.stx_ino == hst.st_ino && stx.stx_size == 13 &&
			   (stx.stx_mask & STATX_INO),
		   "statx: the fd's file");
	}
	is(SYS(um_sys_statx, (uint64_t)fd, 0, AT_EMPTY_PATH, STATX_BASIC_STATS,
	       GDATA),
	   0, "statx AT_EMPTY_PATH with a NULL path");
	is(SYS(um_sys_statx, (uint64_t)fd, gstr("x"), 0, STATX_BASIC_STATS,
	       GDATA),
	   -ENOTDIR, "statx relative to a file: ENOTDIR");
	is(SYS(um_sys_statx, (uint64_t)fd, gstr(""), AT_EMPTY_PATH,
	       STATX__RESERVED, GDATA),
	   -EINVAL, "statx of a reserved mask bit: EINVAL");
	is(SYS(um_sys_statx, (uint64_t)fd, gstr(""), AT_EMPTY_PATH,
	       STATX_BASIC_STATS, GUNMAP),
	   -EFAULT, "statx into an unmapped buffer: EFAULT");
	is(SYS(um_sys_statx, (uint64_t)AT_FDCWD, GUNMAP, 0xffff,
	       STATX_BASIC_STATS, GDATA),
	   -EINVAL, "statx of an unmapped path, bad flags: EINVAL first");
	is(SYS(um_sys_statx, 99, gstr(""), AT_EMPTY_PATH, STATX_BASIC_STATS,
	       GDATA),
	   -EBADF, "statx of a bad fd: EBADF");
	gclose(fd);
	is(SYS(um_sys_newfstatat, (uint64_t)AT_FDCWD, GUNMAP, GDATA, 0xffff),
	   -EINVAL, "newfstatat of an unmapped path, bad flags: EINVAL first");
	is(SYS(um_sys_stat, gstr("/nope"), GDATA), -ENOENT, "stat: ENOENT");
	is(SYS(um_sys_stat, gstr("/hello.txt"), GUNMAP), -EFAULT,
	   "stat: EFAULT");

	is(SYS(um_sys_access, gstr("/hello.txt"), R_OK), 0, "access R_OK");
	is(SYS(um_sys_access, gstr("/hello.txt"), F_OK), 0, "access F_OK");
	is(SYS(um_sys_access, gstr("/hello.txt"), W_OK), -EROFS,
	   "access W_OK: EROFS");
	is(SYS(um_sys_access, gstr("/sub"), W_OK | R_OK), -EROFS,
	   "access W_OK of a directory: EROFS");
	is(SYS(um_sys_access, gstr("/hello.txt"), X_OK), -EACCES,
	   "access X_OK of a file with no x bit: EACCES");
	is(SYS(um_sys_access, gstr("/exe"), X_OK), 0, "access X_OK");
	is(SYS(um_sys_access, gstr("/hello.txt"), 8), -EINVAL,
	   "access bad mode: EINVAL");
	is(SYS(um_sys_access, gstr("/nope"), F_OK), -ENOENT, "access: ENOENT");
	is(SYS(um_sys_faccessat, (uint64_t)AT_FDCWD, gstr("sub/inner.txt"),
	       R_OK),
	   0, "faccessat");

	is(SYS(um_sys_readlink, gstr("/escape"), GDATA, 64), 11, "readlink");
	gget(GDATA, buf, 11);
	ok(!memcmp(buf, "/etc/passwd", 11), "readlink: the link's text");
	is(SYS(um_sys_readlink, gstr("/escape"), GDATA, 4), 4,
	   "readlink truncates to the buffer");
	is(SYS(um_sys_readlink, gstr("/hello.txt"), GDATA, 64), -EINVAL,
	   "readlink of a file: EINVAL");
	is(SYS(um_sys_readlink, gstr("/escape"), GDATA, 0), -EINVAL,
	   "readlink with size 0: EINVAL");
	is(SYS(um_sys_readlink, gstr("/nope"), GDATA, 64), -ENOENT,
	   "readlink: ENOENT");
	is(SYS(um_sys_readlink, gstr("/escape"), GUNMAP, 64), -EFAULT,
	   "readlink: EFAULT");
	is(SYS(um_sys_readlink, gstr(""), GDATA, 64), -ENOENT,
	   "readlink \"\": ENOENT");
	fd = gopen("/sub", O_RDONLY);
	is(SYS(um_sys_readlinkat, (uint64_t)fd, gstr("../sublink"), GDATA, 64),
	   3, "readlinkat relative to a directory");
	gclose(fd);
}

static void test_dup_fcntl(void)
{
	long fd = gopen("/hello.txt", O_RDONLY), d;

	d = SYS(um_sys_dup, (uint64_t)fd);
	is(d, fd + 1, "dup: the lowest free fd");
	SYS(um_sys_read, (uint64_t)fd, GDATA, 5);
	is(SYS(um_sys_lseek, (uint64_t)d, 0, SEEK_CUR), 5,
	   "dup shares the offset");
	is(SYS(um_sys_dup2, (uint64_t)fd, 50), 50, "dup2");
	is(SYS(um_sys_lseek, 50, 0, SEEK_CUR), 5, "dup2 shares the offset");
	is(SYS(um_sys_dup2, (uint64_t)fd, (uint64_t)fd), fd,
	   "dup2 onto itself");
	is(SYS(um_sys_dup2, 99, 99), -EBADF, "dup2 of a bad fd onto itself");
	is(SYS(um_sys_dup2, 99, 5), -EBADF, "dup2 of a bad fd: EBADF");
	is(SYS(um_sys_dup2, (uint64_t)fd, 1024), -EBADF,
	   "dup2 to fd 1024: EBADF");
	is(SYS(um_sys_dup3, (uint64_t)fd, (uint64_t)fd, 0), -EINVAL,
	   "dup3 onto itself: EINVAL");
	is(SYS(um_sys_dup3, (uint64_t)fd, 60, O_NONBLOCK), -EINVAL,
	   "dup3 bad flags: EINVAL");
	is(SYS(um_sys_dup3, (uint64_t)fd, 60, O_CLOEXEC), 60, "dup3 O_CLOEXEC");
	is(SYS(um_sys_fcntl, 60, F_GETFD), FD_CLOEXEC, "F_GETFD: FD_CLOEXEC");
	is(SYS(um_sys_fcntl, 50, F_GETFD), 0, "F_GETFD: 0");
	is(SYS(um_sys_dup2, (uint64_t)d, 50), 50, "dup2 onto an open fd");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_DUPFD, 100), 100, "F_DUPFD");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_DUPFD_CLOEXEC, 100), 101,
	   "F_DUPFD_CLOEXEC: the lowest free from 100");
	is(SYS(um_sys_fcntl, 101, F_GETFD), FD_CLOEXEC,
	   "F_DUPFD_CLOEXEC sets FD_CLOEXEC");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_DUPFD, 1024), -EINVAL,
	   "F_DUPFD from 1024: EINVAL");
	is(SYS(um_sys_fcntl, 100, F_SETFD, FD_CLOEXEC), 0, "F_SETFD");
	is(SYS(um_sys_fcntl, 100, F_GETFD), FD_CLOEXEC, "F_SETFD took");
	is(SYS(um_sys_fcntl, 100, F_SETFD, 0), 0, "F_SETFD 0");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_GETFL), O_LARGEFILE,
	   "F_GETFL of a read-only file, as Linux");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_SETFL, O_NONBLOCK | O_RDWR), 0,
	   "F_SETFL O_NONBLOCK");
	is(SYS(um_sys_fcntl, (uint64_t)d, F_GETFL), O_LARGEFILE | O_NONBLOCK,
	   "F_GETFL of a dup sees it (one open file), not O_RDWR");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_GETLK, GDATA), -EINVAL,
	   "F_GETLK: EINVAL");
	is(SYS(um_sys_fcntl, 99, F_GETFD), -EBADF, "fcntl: EBADF");
	is(SYS(um_sys_ioctl, (uint64_t)fd, FIOCLEX), 0, "ioctl FIOCLEX");
	is(SYS(um_sys_fcntl, (uint64_t)fd, F_GETFD), FD_CLOEXEC,
	   "FIOCLEX set FD_CLOEXEC");
	is(SYS(um_sys_ioctl, (uint64_t)fd, FIONCLEX), 0, "ioctl FIONCLEX");
	is(SYS(um_sys_ioctl, 1, TCGETS, GDATA), -ENOTTY,
	   "ioctl TCGETS: ENOTTY");
	is(SYS(um_sys_ioctl, 1, TIOCGWINSZ, GDATA), -ENOTTY,
	   "ioctl TIOCGWINSZ: ENOTTY");
	is(SYS(um_sys_ioctl, (uint64_t)fd, 0x1234, GDATA), -ENOTTY,
	   "ioctl of anything else: ENOTTY");
	is(SYS(um_sys_ioctl, 99, TCGETS, GDATA), -EBADF, "ioctl: EBADF");

	um_files_exec(task.files);
	is(SYS(um_sys_fcntl, 60, F_GETFD), -EBADF,
	   "exec closed the cloexec fd 60");
	is(SYS(um_sys_fcntl, 101, F_GETFD), -EBADF, "and 101");
	is(SYS(um_sys_fcntl, 100, F_GETFD), 0, "and kept 100");
	is(SYS(um_sys_fcntl, 50, F_GETFD), 0, "and 50");
	is(SYS(um_sys_fcntl, 1, F_GETFD), 0, "and stdout");
	gclose(100);
	gclose(50);
	gclose(d);
	gclose(fd);
}

static void test_fork(void)
{
	struct um_task child = task;
	long fd = gopen("/hello.txt", O_RDONLY);

	pthread_mutex_lock(&k.lock);
	child.files = um_files_fork(task.files);
	pthread_mutex_unlock(&k.lock);
	ok(child.files != NULL, "um_files_fork");
	SYS(um_sys_read, (uint64_t)fd, GDATA, 3);
	is(TSYS(&child, um_sys_lseek, (uint64_t)fd, 0, SEEK_CUR), 3,
	   "a forked table shares the offset of the parent's file");
	is(TSYS(&child, um_sys_read, (uint64_t)fd, GDATA, 2), 2,
	   "the child reads on");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_CUR), 5,
	   "and the parent sees the child's offset");
	is(TSYS(&child, um_sys_close, (uint64_t)fd), 0, "the child closes");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_CUR), 5,
	   "the parent's fd stays open");
	pthread_mutex_lock(&k.lock);
	um_files_put(child.files);
	pthread_mutex_unlock(&k.lock);
	gclose(fd);
}

static void gpipe(int flags, long fds[2])
{
	int p[2];

	is(SYS(um_sys_pipe2, GAUX, (uint64_t)flags), 0, "pipe2(%#o)", flags);
	gget(GAUX, p, sizeof(p));
	fds[0] = p[0];
	fds[1] = p[1];
}

/* A second thread, sending a signal or draining a pipe. */
struct helper {
	struct um_task *t;
	long fd;
	size_t want, got;
	char *buf;
};

static void *send_signal(void *arg)
{
	struct helper *h = arg;
	uint64_t one = 1;
	struct timespec ts = {0, 50 * 1000 * 1000};

	nanosleep(&ts, NULL);
	pthread_mutex_lock(&k.lock);
	h->t->pending |= 1ULL << (SIGUSR1 - 1);
	pthread_mutex_unlock(&k.lock);
	if (write(h->t->wake_fd, &one, sizeof(one)) != sizeof(one))
		abort();
	return NULL;
}

static void *drain(void *arg)
{
	struct helper *h = arg;

	while (h->got < h->want) {
		long n = TSYS(h->t, um_sys_read, (uint64_t)h->fd, GAUX, 65536);

		if (n <= 0)
			break;
		gget(GAUX, h->buf + h->got, (size_t)n);
		h->got += (size_t)n;
	}
	return NULL;
}

static void test_pipes(void)
{
	static char big[300000], back[300000];
	struct um_task reader = task;
	struct helper h = {0};
	uint64_t v;
	pthread_t th;
	long p[2], n;
	char buf[16];
	size_t i;

	gpipe(0, p);
	is(SYS(um_sys_fcntl, (uint64_t)p[0], F_GETFL), O_RDONLY,
	   "F_GETFL of the read end, as Linux");
	is(SYS(um_sys_fcntl, (uint64_t)p[1], F_GETFL), O_WRONLY,
	   "F_GETFL of the write end");
	gput(GDATA, "abc", 3);
	is(SYS(um_sys_write, (uint64_t)p[1], GDATA, 3), 3, "write a pipe");
	is(SYS(um_sys_read, (uint64_t)p[0], GDATA + 100, 10), 3,
	   "read it: what is there, without waiting for more");
	gget(GDATA + 100, buf, 3);
	ok(!memcmp(buf, "abc", 3), "the bytes went through");
	is(SYS(um_sys_read, (uint64_t)p[1], GDATA, 3), -EBADF,
	   "read the write end: EBADF");
	is(SYS(um_sys_write, (uint64_t)p[0], GDATA, 3), -EBADF,
	   "write the read end: EBADF");
	is(SYS(um_sys_lseek, (uint64_t)p[0], 0, SEEK_CUR), -ESPIPE,
	   "lseek a pipe: ESPIPE");
	is(SYS(um_sys_pread64, (uint64_t)p[0], GDATA, 3, 0), -ESPIPE,
	   "pread64 a pipe: ESPIPE");
	is(SYS(um_sys_write, (uint64_t)p[1], GDATA, 0), 0, "write 0 bytes: 0");

	/* a blocked read, interrupted by a signal */
	h.t = &task;
	pthread_create(&th, NULL, send_signal, &h);
	is(SYS(um_sys_read, (uint64_t)p[0], GDATA, 10), -UM_ERESTARTSYS,
	   "a blocked read of an empty pipe: ERESTARTSYS at a signal (the "
	   "guest sees EINTR or a restart)");
	pthread_join(th, NULL);
	task.pending = 0;
	/* the wait may have drained it already */
	if (read(task.wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		BAIL_OUT("wake_fd");

	/* a large blocking write, drained by another task's thread */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i % 251);
	pthread_mutex_lock(&k.lock);
	reader.files = um_files_fork(task.files);
	pthread_mutex_unlock(&k.lock);
	h = (struct helper){
		.t = &reader, .fd = p[0], .want = sizeof(big), .buf = back};
	/* the reader's buffer at GAUX, the writer's at GDATA: one mm */
	gput(GDATA, big, 256 * 1024);
	pthread_create(&th, NULL, drain, &h);
	n = SYS(um_sys_write, (uint64_t)p[1], GDATA, 256 * 1024);
	is(n, 256 * 1024, "a blocking write larger than the pipe: all of it");
	gput(GDATA, big + 256 * 1024, sizeof(big) - 256 * 1024);
	n = SYS(um_sys_write, (uint64_t)p[1], GDATA, sizeof(big) - 256 * 1024);
	is(n, (long)(sizeof(big) - 256 * 1024), "and the rest");
	pthread_join(th, NULL);
	ok(h.got == sizeof(big) && !memcmp(big, back, sizeof(big)),
	   "the reader got every byte in order");
	pthread_mutex_lock(&k.lock);
	um_files_put(reader.files);
	pthread_mutex_unlock(&k.lock);

	/* EOF once every writer is gone (the fork's copy too) */
	gclose(p[1]);
	is(SYS(um_sys_read, (uint64_t)p[0], GDATA, 10), 0,
	   "read after the writer closed: EOF");
	gclose(p[0]);

	/* EPIPE and SIGPIPE */
	gpipe(O_CLOEXEC, p);
	is(SYS(um_sys_fcntl, (uint64_t)p[0], F_GETFD), FD_CLOEXEC,
	   "pipe2 O_CLOEXEC");
	gclose(p[0]);
	task.pending = 0;
	is(SYS(um_sys_write, (uint64_t)p[1], GDATA, 3), -EPIPE,
	   "write with no reader: EPIPE");
	ok(task.pending & (1ULL << (SIGPIPE - 1)), "and SIGPIPE is pending");
	task.pending = 0;
	gclose(p[1]);

	/* non-blocking: EAGAIN, partial, atomic up to PIPE_BUF */
	gpipe(O_NONBLOCK, p);
	is(SYS(um_sys_fcntl, (uint64_t)p[0], F_GETFL), O_RDONLY | O_NONBLOCK,
	   "F_GETFL shows O_NONBLOCK");
	is(SYS(um_sys_read, (uint64_t)p[0], GDATA, 10), -EAGAIN,
	   "read an empty O_NONBLOCK pipe: EAGAIN");
	gput(GDATA, big, 100000);
	n = SYS(um_sys_write, (uint64_t)p[1], GDATA, 100000);
	ok(n > 0 && n < 100000,
	   "a large write to an O_NONBLOCK pipe: partial (%ld)", n);
	is(SYS(um_sys_write, (uint64_t)p[1], GDATA, 1), -EAGAIN,
	   "a full pipe: EAGAIN");
	is(SYS(um_sys_read, (uint64_t)p[0], GDATA + 200000, 100), 100,
	   "read 100 bytes");
	is(SYS(um_sys_write, (uint64_t)p[1], GDATA, PIPE_BUF), -EAGAIN,
	   "a PIPE_BUF write that does not fit whole: EAGAIN, nothing written");
	n = SYS(um_sys_read, (uint64_t)p[0], GDATA + 200000, 65536);
	ok(n > 0, "drain");
	is(SYS(um_sys_write, (uint64_t)p[1], GDATA, PIPE_BUF), PIPE_BUF,
	   "then it fits whole");
	is(SYS(um_sys_fcntl, (uint64_t)p[0], F_SETFL, 0), 0,
	   "F_SETFL clears O_NONBLOCK");
	is(SYS(um_sys_fcntl, (uint64_t)p[0], F_GETFL), O_RDONLY,
	   "F_GETFL: no O_NONBLOCK");
	gclose(p[0]);
	gclose(p[1]);

	/* readv, writev */
	gpipe(0, p);
	{
		struct iovec iov[3] = {
			{(void *)(GDATA), 2},
			{(void *)(GDATA + 10), 0},
			{(void *)(GDATA + 20), 3},
		};

		gput(GDATA, "ab", 2);
		gput(GDATA + 20, "cde", 3);
		gput(GAUX, iov, sizeof(iov));
		is(SYS(um_sys_writev, (uint64_t)p[1], GAUX, 3), 5, "writev");
		iov[0] = (struct iovec){(void *)(GDATA + 100), 1};
		iov[1] = (struct iovec){(void *)(GDATA + 200), 10};
		gput(GAUX, iov, 2 * sizeof(iov[0]));
		is(SYS(um_sys_readv, (uint64_t)p[0], GAUX, 2), 5, "readv");
		gget(GDATA + 100, buf, 1);
		gget(GDATA + 200, buf + 1, 4);
		ok(!memcmp(buf, "abcde", 5), "readv scattered the bytes");
		is(SYS(um_sys_writev, (uint64_t)p[1], GAUX, 1025), -EINVAL,
		   "writev of 1025 buffers: EINVAL");
		is(SYS(um_sys_writev, (uint64_t)p[1], GUNMAP, 1), -EFAULT,
		   "writev of an unmapped iovec: EFAULT");
		iov[0] = (struct iovec){(void *)(GDATA), (size_t)-1};
		gput(GAUX, iov, sizeof(iov[0]));
		is(SYS(um_sys_writev, (uint64_t)p[1], GAUX, 1), -EINVAL,
		   "writev of a negative length: EINVAL");
		iov[0] = (struct iovec){(void *)(GUNMAP + (1ULL << 40)), 1};
		gput(GAUX, iov, sizeof(iov[0]));
		is(SYS(um_sys_writev, (uint64_t)p[1], GAUX, 1), -EFAULT,
		   "writev of a buffer past the task size: EFAULT");
		is(SYS(um_sys_writev, (uint64_t)p[1], GAUX, 0), 0,
		   "writev of no buffer: 0");
	}
	/* a read into a buffer whose second page is missing */
	gput(GDATA, big, 8192);
	is(SYS(um_sys_write, (uint64_t)p[1], GDATA, 8192), 8192, "write 8 KiB");
	is(SYS(um_sys_read, (uint64_t)p[0], gbuf + GBUF_LEN - 4096, 8192), 4096,
	   "read into a buffer half unmapped: the bytes that fit");
	is(SYS(um_sys_read, (uint64_t)p[0], GDATA + 100000, 8192), 4096,
	   "the rest is still in the pipe");
	gget(GDATA + 100000, back, 4096);
	ok(!memcmp(back, big + 4096, 4096), "not one byte lost");
	gclose(p[0]);
	gclose(p[1]);
	(void)n;
}

static void test_partial_file(void)
{
	long fd = gopen("/big", O_RDONLY);

	is(SYS(um_sys_read, (uint64_t)fd, gbuf + GBUF_LEN - 4096, 8192), 4096,
	   "read a file into a buffer half unmapped: the bytes that fit");
	is(SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_CUR), 4096,
	   "the offset moved by those alone");
	gclose(fd);
}

static void test_getdents(void)
{
	char buf[4096];
	long fd = gopen("/sub", O_RDONLY | O_DIRECTORY), n, off;
	int seen = 0;

	n = SYS(um_sys_getdents64, (uint64_t)fd, GDATA, sizeof(buf));
	ok(n > 0, "getdents64 of a directory");
	if (n > 0)
		gget(GDATA, buf, (size_t)n);
	for (off = 0; off < n;) {
		struct dirent64 *d = (struct dirent64 *)(buf + off);

		if (!strcmp(d->d_name, "inner.txt") && d->d_type == DT_REG)
			seen |= 1;
		if (!strcmp(d->d_name, "."))
			seen |= 2;
		if (!strcmp(d->d_name, ".."))
			seen |= 4;
		off += d->d_reclen;
	}
	is(seen, 7, "getdents64 lists ., .. and inner.txt");
	is(SYS(um_sys_getdents64, (uint64_t)fd, GDATA, sizeof(buf)), 0,
	   "then 0 at the end");
	SYS(um_sys_lseek, (uint64_t)fd, 0, SEEK_SET);
	is(SYS(um_sys_getdents64, (uint64_t)fd, GDATA, 10), -EINVAL,
	   "a buffer too small for one entry: EINVAL");
	is(SYS(um_sys_getdents64, (uint64_t)fd, GUNMAP, sizeof(buf)), -EFAULT,
	   "an unmapped buffer: EFAULT");
	n = SYS(um_sys_getdents64, (uint64_t)fd, GDATA, sizeof(buf));
	ok(n > 0, "the refused entries are listed again");
	gclose(fd);
	fd = gopen("/hello.txt", O_RDONLY);
	is(SYS(um_sys_getdents64, (uint64_t)fd, GDATA, sizeof(buf)), -ENOTDIR,
	   "getdents64 of a file: ENOTDIR");
	gclose(fd);
	is(SYS(um_sys_getdents64, 99, GDATA, sizeof(buf)), -EBADF,
	   "getdents64: EBADF");
}

static void test_mmap(void)
{
	static char want[BIG_LEN], got[BIG_LEN];
	struct file *f1, *f2, *f3;
	char path[256];
	long fd, p[2], dfd;
	int err = 0, hfd;
	long addr;

	host_path(path, sizeof(path), "big");
	hfd = open(path, O_RDONLY);
	if (read(hfd, want, sizeof(want)) != (ssize_t)sizeof(want))
		BAIL_OUT("read big");
	close(hfd);

	fd = gopen("/big", O_RDONLY);
	pthread_mutex_lock(&k.lock);
	f1 = um_fs_mmap_file(&task, (int)fd, &err);
	pthread_mutex_unlock(&k.lock);
	ok(f1 != NULL, "um_fs_mmap_file of a regular file");
	addr = mm_mmap(mm, 0, BIG_LEN, PROT_READ, MAP_PRIVATE, f1, 0);
	ok(addr > 0, "mm_mmap of it");
	gget((uint64_t)addr, got, sizeof(got));
	ok(!memcmp(want, got, sizeof(got)),
	   "the mapping shows the file's bytes");
	is(mm_munmap(mm, (uint64_t)addr, BIG_LEN), 0, "munmap");

	pthread_mutex_lock(&k.lock);
	f2 = um_fs_mmap_file(&task, (int)fd, &err);
	pthread_mutex_unlock(&k.lock);
	ok(f2 == f1, "the same file again: the same struct file");
	file_put(f2);
	gclose(fd);
	fd = gopen("/big", O_RDONLY);
	pthread_mutex_lock(&k.lock);
	f2 = um_fs_mmap_file(&task, (int)fd, &err);
	pthread_mutex_unlock(&k.lock);
	ok(f2 == f1, "opened anew: the same struct file");
	file_put(f2);
	file_put(f1);
	gclose(fd);

	pthread_mutex_lock(&k.lock);
	f1 = um_fs_open_exec(&task, "/exe", &err);
	f2 = um_fs_open_exec(&task, "exe", &err);
	pthread_mutex_unlock(&k.lock);
	ok(f1 && f1 == f2, "um_fs_open_exec twice: the same struct file");
	fd = gopen("/exe", O_RDONLY);
	pthread_mutex_lock(&k.lock);
	f3 = um_fs_mmap_file(&task, (int)fd, &err);
	pthread_mutex_unlock(&k.lock);
	ok(f3 == f1, "and um_fs_mmap_file of it too");
	file_put(f1);
	file_put(f2);
	file_put(f3);
	gclose(fd);

	pthread_mutex_lock(&k.lock);
	f1 = um_fs_open_exec(&task, "/hello.txt", &err);
	ok(!f1 && err == -EACCES, "exec of a file with no x bit: EACCES");
	f1 = um_fs_open_exec(&task, "/sub", &err);
	ok(!f1 && err == -EACCES, "exec of a directory: EACCES");
	f1 = um_fs_open_exec(&task, "/nope", &err);
	ok(!f1 && err == -ENOENT, "exec of nothing: ENOENT");
	f1 = um_fs_mmap_file(&task, 99, &err);
	ok(!f1 && err == -EBADF, "mmap of a bad fd: EBADF");
	f1 = um_fs_mmap_file(&task, 1, &err);
	/* as Linux's do_mmap: not open for reading comes first */
	ok(!f1 && err == ((fcntl(1, F_GETFL) & O_ACCMODE) == O_WRONLY
				  ? -EACCES
				  : -ENODEV),
	   "mmap of stdout: ENODEV, or EACCES if write-only");
	pthread_mutex_unlock(&k.lock);

	gpipe(0, p);
	dfd = gopen("/sub", O_RDONLY);
	pthread_mutex_lock(&k.lock);
	f1 = um_fs_mmap_file(&task, (int)p[0], &err);
	ok(!f1 && err == -ENODEV, "mmap of a pipe: ENODEV");
	f1 = um_fs_mmap_file(&task, (int)dfd, &err);
	ok(!f1 && err == -EACCES, "mmap of a directory: EACCES");
	pthread_mutex_unlock(&k.lock);
	gclose(p[0]);
	gclose(p[1]);
	gclose(dfd);
}

/* Drains host fd @fd, each read with k->lock held: it must be free. */
struct host_drain {
	int fd;
	size_t got;
	char *buf;
	size_t size;
};

static void *host_drain(void *arg)
{
	struct host_drain *d = arg;

	while (d->got < d->size) {
		ssize_t n;

		pthread_mutex_lock(&k.lock); /* the writer waits without it */
		pthread_mutex_unlock(&k.lock);
		n = read(d->fd, d->buf + d->got, d->size - d->got);
		if (n <= 0)
			break;
		d->got += (size_t)n;
	}
	return NULL;
}

/* The host's fds 0 and 1 replaced by pipes for a while. */
static void test_stdio_pipes(void)
{
	static char big[300000], back[300000];
	struct host_drain d = {.buf = back, .size = sizeof(big)};
	struct helper h = {.t = &task};
	int in[2], out[2], saved0, saved1;
	pthread_t th;
	char buf[8];
	uint64_t v;
	size_t i;

	if (pipe(in) || pipe(out))
		BAIL_OUT("pipe");
	fflush(stdout);
	saved0 = dup(0);
	saved1 = dup(1);
	dup2(in[0], 0);

	pthread_create(&th, NULL, send_signal, &h);
	is(SYS(um_sys_read, 0, GDATA, 8), -UM_ERESTARTSYS,
	   "a read of an empty stdin waits, and a signal interrupts it");
	pthread_join(th, NULL);
	task.pending = 0;
	if (read(task.wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		BAIL_OUT("wake_fd");
	if (write(in[1], "xyz", 3) != 3)
		BAIL_OUT("write");
	is(SYS(um_sys_read, 0, GDATA, 8), 3, "then reads what came");
	gget(GDATA, buf, 3);
	ok(!memcmp(buf, "xyz", 3), "stdin's bytes");
	is(SYS(um_sys_fcntl, 0, F_SETFL, O_NONBLOCK), 0,
	   "F_SETFL O_NONBLOCK on stdin");
	is(SYS(um_sys_read, 0, GDATA, 8), -EAGAIN, "an empty stdin: EAGAIN");
	ok(!(fcntl(0, F_GETFL) & O_NONBLOCK),
	   "the host's stdin stays blocking");
	SYS(um_sys_fcntl, 0, F_SETFL, 0);
	close(in[1]);
	is(SYS(um_sys_read, 0, GDATA, 8), 0, "stdin at EOF: 0");

	/* stdout a full pipe: the write waits without k->lock */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i % 253);
	dup2(out[1], 1);
	d.fd = out[0];
	pthread_create(&th, NULL, host_drain, &d);
	gput(GDATA, big, 256 * 1024);
	i = (size_t)SYS(um_sys_write, 1, GDATA, 256 * 1024);
	gput(GDATA, big + 256 * 1024, sizeof(big) - 256 * 1024);
	i += (size_t)SYS(um_sys_write, 1, GDATA, sizeof(big) - 256 * 1024);
	close(out[1]);
	dup2(saved1, 1);
	pthread_join(th, NULL);
	is(i, sizeof(big), "writes to a stdout pipe larger than it: all");
	ok(d.got == sizeof(big) && !memcmp(big, back, sizeof(big)),
	   "the host read every byte in order");
	close(out[0]);
	dup2(saved0, 0);
	close(saved0);
	close(saved1);
	close(in[0]);
}

static void test_stdio(void)
{
	static const char msg[] = "# a guest's write to fd 1 reaches the "
				  "host's stdout\n";

	fflush(stdout);
	gput(GDATA, msg, sizeof(msg) - 1);
	is(SYS(um_sys_write, 1, GDATA, sizeof(msg) - 1), (long)sizeof(msg) - 1,
	   "write to stdout");
	is(SYS(um_sys_fcntl, 1, F_GETFL) & O_NONBLOCK,
	   fcntl(1, F_GETFL) & O_NONBLOCK,
	   "F_GETFL of stdout: the host's flags");
	is(SYS(um_sys_fcntl, 1, F_SETFL, O_NONBLOCK), 0,
	   "F_SETFL O_NONBLOCK on stdout");
	ok(!(fcntl(1, F_GETFL) & O_NONBLOCK),
	   "the host's stdout stays blocking");
	ok(SYS(um_sys_fcntl, 1, F_GETFL) & O_NONBLOCK,
	   "the guest sees O_NONBLOCK");
	SYS(um_sys_fcntl, 1, F_SETFL, 0);
	is(SYS(um_sys_close, 1), 0, "close the guest's stdout");
	ok(fcntl(1, F_GETFD) >= 0, "the host's stays open");
	is(SYS(um_sys_dup2, 2, 1), 1, "dup2 stderr onto it");
}

static void test_no_root(void)
{
	int saved = k.root_fd;

	k.root_fd = -1;
	is(gopen("/hello.txt", O_RDONLY), -ENOENT, "no root: open ENOENT");
	is(SYS(um_sys_stat, gstr("/"), GDATA), -ENOENT, "no root: stat ENOENT");
	is(SYS(um_sys_chdir, gstr("/")), -ENOENT, "no root: chdir ENOENT");
	k.root_fd = saved;
}

int main(void)
{
	struct mem *mem;
	int fd;

	signal(SIGPIPE, SIG_IGN); /* as `umm run` does: EPIPE comes back */
	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			BAIL_OUT("cannot fill fd %d", fd);
	make_root();
	mem = mem_new(64ULL << 20);
	if (!mem)
		BAIL_OUT("mem_new");
	pthread_mutex_init(&k.lock, NULL);
	k.mem = mem;
	k.task_size = TASK_SIZE;
	k.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	k.file_cache = um_file_cache_new();
	mm = mm_new(mem, host_as_new_local(mem_phys(mem), TASK_SIZE),
		    TASK_SIZE);
	if (k.root_fd < 0 || !k.file_cache || !mm)
		BAIL_OUT("setting up the kernel");
	task.k = &k;
	task.pid = 1;
	task.mm = mm;
	task.files = um_files_new();
	task.cwd = strdup("/");
	task.wake_fd =
		eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* as um/kernel.c */
	if (!task.files || task.wake_fd < 0)
		BAIL_OUT("setting up the task");
	gbuf = (uint64_t)mm_mmap(mm, 0, GBUF_LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	if ((int64_t)gbuf < 0)
		BAIL_OUT("mm_mmap");

	test_open_read();
	test_open_errors();
	test_oracle();
	test_emfile();
	test_escape();
	test_cwd();
	test_stat();
	test_dup_fcntl();
	test_fork();
	test_pipes();
	test_partial_file();
	test_getdents();
	test_mmap();
	test_stdio_pipes();
	test_stdio();
	test_no_root();

	pthread_mutex_lock(&k.lock);
	um_files_put(task.files);
	pthread_mutex_unlock(&k.lock);
	free(task.cwd);
	close(task.wake_fd);
	mm_put(mm);
	um_file_cache_free(k.file_cache);
	close(k.root_fd);
	check_frames_free((struct umm_phys *)mem);
	mem_put(mem);
	remove_root();
	return done_testing();
}
