// SPDX-License-Identifier: MIT
/*
 * The guest's files (um/fs.h): descriptor tables, open files, paths under
 * the guest root, and the I/O syscalls.
 *
 * A guest's files are host files by design: a file under the root is a
 * host fd opened read-only, a pipe is a host pipe, fds 0-2 are the host's.
 * So this is the one file of um/ that makes host I/O calls on the guest's
 * behalf (openat2, read, write, pipe2, getdents64...). What keeps a guest
 * inside its root is the lookup: every path goes through openat2 with
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS from k->root_fd, so neither
 * "..", an absolute path nor a symlink leaves it; and nothing is opened
 * for writing, nor is a device, fifo or socket node opened at all.
 *
 * Locking: every function here runs with k->lock held, which guards the
 * descriptor tables, each open file's refcount and flags, the file cache
 * and t->cwd. It is dropped only while waiting (um_task_wait_fd) and
 * around a write to the host's stdio, which may block on a terminal or a
 * full pipe we must not make non-blocking (it is the user's). A syscall
 * holds a reference to its open file across either (fdget/ofile_put).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "um/fs.h"
#include "um/task.h"

#define UM_NR_OPEN	1024 /* RLIMIT_NOFILE: fds per table */
#define UM_IO_CHUNK	(64 * 1024) /* through the kernel buffer at a time */
#define UM_UIO_MAXIOV	1024
#define UM_MAX_RW_COUNT ((long)(INT_MAX & PAGE_MASK))

/* What an open file is. */
enum um_ofile_kind {
	UM_OFILE_STDIO, /* the host's fd 0, 1 or 2, passed through */
	UM_OFILE_REG, /* a regular file under the root, read-only */
	UM_OFILE_DIR, /* a directory under the root */
	UM_OFILE_PIPE, /* one end of a host pipe, O_NONBLOCK on the host */
	UM_OFILE_OTHER, /* O_PATH of anything else (a symlink...) */
};

/* An open file description: what dup and fork share. */
struct um_ofile {
	int refcount; /* k->lock */
	enum um_ofile_kind kind;
	int host_fd; /* owned, except for stdio's */
	/*
	 * The guest's status flags, as F_GETFL shows them: the access mode,
	 * O_NONBLOCK, O_APPEND... The host fd's own may differ (a pipe is
	 * always non-blocking on the host).
	 */
	int flags;
	uint64_t dev, ino; /* a regular file's, for the file cache */
};

/* A descriptor table: one task's, guarded by k->lock. */
struct um_files {
	struct um_ofile *fd[UM_NR_OPEN];
	bool cloexec[UM_NR_OPEN];
};

/*
 * One guest struct file per host (dev, ino), each with a reference held
 * until um_file_cache_free; the array is guarded by k->lock.
 */
struct um_cached_file {
	uint64_t dev, ino;
	struct file *file;
};

struct um_file_cache {
	struct um_cached_file *v;
	size_t nr, cap;
};

/* The guest's struct iovec (x86-64). */
struct um_iovec {
	uint64_t base, len;
};

/* ---- open files ---- */

static struct um_ofile *ofile_new(enum um_ofile_kind kind, int host_fd,
				  int flags)
{
	struct um_ofile *of = calloc(1, sizeof(*of));

	if (!of)
		return NULL;
	of->refcount = 1;
	of->kind = kind;
	of->host_fd = host_fd;
	of->flags = flags;
	return of;
}

static void ofile_get(struct um_ofile *of)
{
	of->refcount++;
}

static void ofile_put(struct um_ofile *of)
{
	if (!of || --of->refcount)
		return;
	if (of->kind != UM_OFILE_STDIO)
		close(of->host_fd);
	free(of);
}

static bool ofile_readable(struct um_ofile *of)
{
	int acc = of->flags & O_ACCMODE;

	return !(of->flags & O_PATH) && (acc == O_RDONLY || acc == O_RDWR);
}

static bool ofile_writable(struct um_ofile *of)
{
	int acc = of->flags & O_ACCMODE;

	return !(of->flags & O_PATH) && (acc == O_WRONLY || acc == O_RDWR);
}

static bool ofile_nonblock(struct um_ofile *of)
{
	return of->flags & O_NONBLOCK;
}

/* ---- descriptor tables ---- */

struct um_files *um_files_new(void)
{
	struct um_files *files = calloc(1, sizeof(*files));
	int fd;

	if (!files)
		return NULL;
	for (fd = 0; fd < 3; fd++) {
		/* The host's flags, less O_NONBLOCK: that one is the guest's. */
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0) /* not open on the host: not open in the guest */
			continue;
		files->fd[fd] = ofile_new(UM_OFILE_STDIO, fd,
					  fl & ~(O_NONBLOCK | O_PATH));
		if (!files->fd[fd]) {
			um_files_put(files);
			errno = ENOMEM;
			return NULL;
		}
	}
	return files;
}

struct um_files *um_files_fork(struct um_files *files)
{
	struct um_files *copy = malloc(sizeof(*copy));
	int fd;

	if (!copy) {
		errno = ENOMEM;
		return NULL;
	}
	*copy = *files;
	for (fd = 0; fd < UM_NR_OPEN; fd++)
		if (copy->fd[fd])
			ofile_get(copy->fd[fd]);
	return copy;
}

/* Every table belongs to one task (no CLONE_FILES): put frees it. */
void um_files_put(struct um_files *files)
{
	int fd;

	if (!files)
		return;
	for (fd = 0; fd < UM_NR_OPEN; fd++)
		ofile_put(files->fd[fd]);
	free(files);
}

void um_files_exec(struct um_files *files)
{
	int fd;

	for (fd = 0; fd < UM_NR_OPEN; fd++) {
		if (files->fd[fd] && files->cloexec[fd]) {
			ofile_put(files->fd[fd]);
			files->fd[fd] = NULL;
			files->cloexec[fd] = false;
		}
	}
}

/* The lowest free fd >= @from, or -EMFILE. */
static int fd_alloc(struct um_files *files, unsigned int from)
{
	unsigned int fd;

	for (fd = from; fd < UM_NR_OPEN; fd++)
		if (!files->fd[fd])
			return (int)fd;
	return -EMFILE;
}

/* Put @of (the caller's reference) at @fd, closing what was there. */
static void fd_install(struct um_files *files, int fd, struct um_ofile *of,
		       bool cloexec)
{
	struct um_ofile *old = files->fd[fd];

	files->fd[fd] = of;
	files->cloexec[fd] = cloexec;
	ofile_put(old);
}

/* @of at the lowest free fd: the fd, or -EMFILE (and @of put). */
static long fd_install_new(struct um_task *t, struct um_ofile *of, bool cloexec)
{
	int fd = fd_alloc(t->files, 0);

	if (fd < 0) {
		ofile_put(of);
		return fd;
	}
	fd_install(t->files, fd, of, cloexec);
	return fd;
}

/* The open file at guest fd @fd, with a reference; NULL: not open. */
static struct um_ofile *fdget(struct um_task *t, uint64_t fd)
{
	struct um_ofile *of;

	if ((unsigned int)fd >= UM_NR_OPEN)
		return NULL;
	of = t->files->fd[(unsigned int)fd];
	if (of)
		ofile_get(of);
	return of;
}

/* ---- paths ---- */

static void proc_fd_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/*
 * The guest path of host fd @fd, a file under the root, into @buf
 * (PATH_MAX bytes): its length, or -errno. Read back from /proc, so that
 * it is the path the host resolved, symlinks and ".." followed: what
 * Linux's getcwd reports.
 */
static long guest_path_of(struct um_kernel *k, int fd, char *buf)
{
	char proc[64], root[PATH_MAX];
	ssize_t rlen, plen;

	proc_fd_path(proc, sizeof(proc), k->root_fd);
	rlen = readlink(proc, root, sizeof(root));
	if (rlen < 0)
		return -errno;
	proc_fd_path(proc, sizeof(proc), fd);
	plen = readlink(proc, buf, PATH_MAX);
	if (plen < 0)
		return -errno;
	if (rlen >= PATH_MAX || plen >= PATH_MAX)
		return -ENAMETOOLONG;
	buf[plen] = 0;
	if (rlen == 1 && root[0] == '/') /* the guest root is the host's */
		return plen;
	if (plen < rlen || memcmp(buf, root, (size_t)rlen) ||
	    (plen > rlen && buf[rlen] != '/'))
		return -ENOENT; /* moved out of the root behind our back */
	if (plen == rlen) {
		strcpy(buf, "/");
		return 1;
	}
	memmove(buf, buf + rlen, (size_t)(plen - rlen) + 1);
	return plen - rlen;
}

/*
 * Copy the guest path at @va into @buf (PATH_MAX bytes): its length, or
 * -EFAULT, -ENAMETOOLONG, -ENOENT (empty, unless @empty_ok).
 */
static long path_from_guest(struct um_task *t, uint64_t va, char *buf,
			    bool empty_ok)
{
	long len = um_strncpy_from_guest(t->mm, buf, va, PATH_MAX);

	if (len == 0 && !empty_ok)
		return -ENOENT;
	return len;
}

/*
 * Open @path (absolute, in the guest) under the root as a host O_PATH fd,
 * with @oflags (O_NOFOLLOW, O_DIRECTORY). The fd, or -errno.
 */
static int root_open(struct um_kernel *k, const char *path, int oflags)
{
	struct open_how how = {
		.flags = (uint64_t)(oflags | O_PATH | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int tries = 0;
	long fd;

	if (k->root_fd < 0)
		return -ENOENT;
	/* EAGAIN: a ".." raced with a rename on the host; try again. */
	do
		fd = syscall(SYS_openat2, k->root_fd, path, &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR) && ++tries < 16);
	return fd < 0 ? -errno : (int)fd;
}

/*
 * The directory relative paths of @dirfd start from, into @buf (PATH_MAX
 * bytes): the cwd for AT_FDCWD. 0, -EBADF or -ENOTDIR.
 */
static long dirfd_path(struct um_task *t, int dirfd, char *buf)
{
	struct um_ofile *of;
	long len;

	if (dirfd == AT_FDCWD) {
		len = (long)strlen(t->cwd);
		if (len >= PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(buf, t->cwd, (size_t)len + 1);
		return 0;
	}
	of = fdget(t, (uint64_t)(unsigned int)dirfd);
	if (!of)
		return -EBADF;
	len = of->kind == UM_OFILE_DIR ? guest_path_of(t->k, of->host_fd, buf)
				       : -ENOTDIR;
	ofile_put(of);
	return len < 0 ? len : 0;
}

/*
 * Look guest path @path up relative to @dirfd: a host O_PATH fd (with
 * @oflags: O_NOFOLLOW, O_DIRECTORY), or -errno. A relative path is
 * joined to its directory's guest path first, so that ".." can climb to
 * the root and no further.
 */
static int path_lookup(struct um_task *t, int dirfd, const char *path,
		       int oflags)
{
	char *full;
	long err;
	int fd;

	if (t->k->root_fd < 0 || !*path)
		return -ENOENT;
	if (path[0] == '/')
		return root_open(t->k, path, oflags);
	full = malloc(2 * PATH_MAX + 2);
	if (!full)
		return -ENOMEM;
	err = dirfd_path(t, dirfd, full);
	if (err) {
		free(full);
		return (int)err;
	}
	strcat(full, "/");
	strcat(full, path);
	fd = root_open(t->k, full, oflags);
	free(full);
	return fd;
}

/* Open the file of O_PATH fd @fd for reading. The fd, or -errno. */
static int reopen_read(int fd, int oflags)
{
	char proc[64];
	int rfd;

	proc_fd_path(proc, sizeof(proc), fd);
	rfd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | oflags);
	return rfd < 0 ? -errno : rfd;
}

/* faccessat2 on O_PATH fd @fd itself: 0 or -errno (EACCES). */
static int fd_access(int fd, int mode)
{
	if (!mode)
		return 0;
	if (syscall(SYS_faccessat2, fd, "", mode, AT_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* ---- guest buffers ---- */

/* A guest buffer list being filled or drained. */
struct um_iter {
	struct mm *mm;
	struct um_iovec *iov;
	unsigned long nr, i;
	uint64_t off; /* into iov[i] */
	uint64_t left; /* bytes in all, at most UM_MAX_RW_COUNT */
	struct um_iovec one; /* read, write: one buffer */
};

static bool access_ok(struct um_task *t, uint64_t va, uint64_t len)
{
	uint64_t size = mm_task_size(t->mm);

	return len <= size && va <= size - len;
}

/* read, write: one buffer. 0 or -EFAULT (outside the task's space). */
static int iter_single(struct um_iter *it, struct um_task *t, uint64_t va,
		       uint64_t len)
{
	if (!access_ok(t, va, len))
		return -EFAULT;
	if (len > UM_MAX_RW_COUNT)
		len = UM_MAX_RW_COUNT;
	*it = (struct um_iter){.mm = t->mm, .nr = 1, .left = len};
	it->one = (struct um_iovec){.base = va, .len = len};
	it->iov = &it->one;
	return 0;
}

/*
 * readv, writev: import_iovec's checks. 0, -EINVAL (too many, a length
 * < 0), -EFAULT, -ENOMEM. The caller frees it->iov unless it is &it->one.
 */
static int iter_import(struct um_iter *it, struct um_task *t, uint64_t uiov,
		       uint64_t nr)
{
	uint64_t total = 0;
	unsigned long i;

	*it = (struct um_iter){.mm = t->mm, .iov = &it->one};
	if (nr > UM_UIO_MAXIOV)
		return -EINVAL;
	if (!nr)
		return 0;
	it->iov = malloc(nr * sizeof(*it->iov));
	if (!it->iov) {
		it->iov = &it->one;
		return -ENOMEM;
	}
	it->nr = nr;
	if (um_copy_from_guest(t->mm, it->iov, uiov, nr * sizeof(*it->iov)))
		return -EFAULT;
	for (i = 0; i < nr; i++) {
		struct um_iovec *v = &it->iov[i];

		if ((int64_t)v->len < 0)
			return -EINVAL;
		if (!access_ok(t, v->base, v->len))
			return -EFAULT;
		if (v->len > UM_MAX_RW_COUNT - total)
			v->len = UM_MAX_RW_COUNT - total;
		total += v->len;
	}
	it->left = total;
	return 0;
}

static void iter_free(struct um_iter *it)
{
	if (it->iov != &it->one)
		free(it->iov);
}

/* Bytes from here to the end of the current buffer (at most @max). */
static uint64_t iter_seg(struct um_iter *it, uint64_t max)
{
	uint64_t n;

	while (it->i < it->nr && it->off == it->iov[it->i].len) {
		it->i++;
		it->off = 0;
	}
	if (it->i == it->nr)
		return 0;
	n = it->iov[it->i].len - it->off;
	return n < max ? n : max;
}

static void iter_advance(struct um_iter *it, uint64_t n)
{
	it->off += n;
	it->left -= n;
}

/*
 * Copy @n bytes between @buf and the guest buffers (@to: into them),
 * advancing. Returns the bytes copied: fewer at a page the guest may not
 * read (write).
 */
static uint64_t iter_copy(struct um_iter *it, void *buf, uint64_t n, bool to)
{
	uint8_t *b = buf;
	uint64_t done = 0;

	while (done < n) {
		uint64_t seg = iter_seg(it, n - done), left;
		uint64_t va;

		if (!seg)
			break;
		va = it->iov[it->i].base + it->off;
		left = to ? um_copy_to_guest(it->mm, va, b + done, seg)
			  : um_copy_from_guest(it->mm, b + done, va, seg);
		iter_advance(it, seg - left);
		done += seg - left;
		if (left)
			break;
	}
	return done;
}

/*
 * How much of the next @n bytes of the current buffer the guest can take:
 * the pages are faulted in for writing first, so that bytes read from a
 * pipe or a terminal, which cannot be put back, are never lost to a bad
 * buffer.
 */
static uint64_t iter_probe_write(struct um_iter *it, uint64_t n)
{
	uint64_t va = it->iov[it->i].base + it->off;
	uint64_t first = va & PAGE_MASK;
	long nr_pages = (long)((PAGE_ALIGN(va + n) - first) >> PAGE_SHIFT);
	long got = mm_gup(it->mm, first, nr_pages, UMM_FOLL_WRITE, NULL);
	uint64_t ok;

	if (got <= 0)
		return 0;
	ok = first + ((uint64_t)got << PAGE_SHIFT) - va;
	return ok < n ? ok : n;
}

/* ---- reading and writing ---- */

static void *kbuf_alloc(uint64_t len)
{
	return malloc(len < UM_IO_CHUNK ? len : UM_IO_CHUNK);
}

/*
 * A regular file (or the host's stdio, for pread): at the host fd's offset
 * or at *@pos. A page the guest cannot take ends the read; the offset
 * goes back to what was taken, as Linux's does.
 */
static long read_file(struct um_ofile *of, struct um_iter *it,
		      const int64_t *pos)
{
	uint8_t *kbuf;
	long total = 0;

	if (!it->left)
		return 0;
	kbuf = kbuf_alloc(it->left);
	if (!kbuf)
		return -ENOMEM;
	while (it->left) {
		uint64_t n = it->left < UM_IO_CHUNK ? it->left : UM_IO_CHUNK;
		ssize_t r;
		uint64_t c;

		r = pos ? pread(of->host_fd, kbuf, n, *pos + total)
			: read(of->host_fd, kbuf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (!total)
				total = -errno;
			break;
		}
		if (r == 0)
			break;
		c = iter_copy(it, kbuf, (uint64_t)r, true);
		total += (long)c;
		if (c < (uint64_t)r) {
			if (!pos)
				lseek(of->host_fd, -(off_t)((uint64_t)r - c),
				      SEEK_CUR);
			if (!total)
				total = -EFAULT;
			break;
		}
		if ((uint64_t)r < n)
			break;
	}
	free(kbuf);
	return total;
}

/*
 * Wait until @of's host fd is ready for @events: 1, 0 (not ready and
 * @nonblock, or woken for nothing), or -UM_ERESTARTSYS (a signal).
 * Context: k->lock held; dropped while waiting.
 */
static int ofile_wait(struct um_task *t, struct um_ofile *of, short events,
		      bool nonblock)
{
	return um_task_wait_fd(t, of->host_fd, events, nonblock ? 0 : -1);
}

/*
 * A pipe or the host's stdio: as Linux's pipe_read, wait for something
 * to read unless O_NONBLOCK (-EAGAIN), then take what is there without
 * waiting for more. The host's stdio is waited on before each read, so
 * that the read never blocks with k->lock held.
 */
static long read_stream(struct um_task *t, struct um_ofile *of,
			struct um_iter *it)
{
	bool stdio = of->kind == UM_OFILE_STDIO;
	uint8_t *kbuf;
	long total = 0;

	if (!it->left)
		return 0;
	kbuf = kbuf_alloc(it->left);
	if (!kbuf)
		return -ENOMEM;
	for (;;) {
		uint64_t n = iter_seg(it, UM_IO_CHUNK);
		ssize_t r;
		int w;

		if (!n)
			break;
		n = iter_probe_write(it, n);
		if (!n) {
			if (!total)
				total = -EFAULT;
			break;
		}
		if (stdio) {
			w = ofile_wait(t, of, POLLIN,
				       total || ofile_nonblock(of));
			if (w < 0 && !total)
				total = w;
			if (w < 0 || (w == 0 && total))
				break;
			if (w == 0 && ofile_nonblock(of)) {
				total = -EAGAIN;
				break;
			}
			if (w == 0)
				continue;
		}
		r = read(of->host_fd, kbuf, n);
		if (r > 0) {
			/* probed: only a racing munmap could refuse it */
			total += (long)iter_copy(it, kbuf, (uint64_t)r, true);
			if ((uint64_t)r < n)
				break;
			continue;
		}
		if (r == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			if (!total)
				total = -errno;
			break;
		}
		if (total)
			break;
		if (ofile_nonblock(of)) {
			total = -EAGAIN;
			break;
		}
		w = ofile_wait(t, of, POLLIN, false);
		if (w < 0) {
			total = w;
			break;
		}
	}
	free(kbuf);
	return total;
}

/* One host write of @len bytes; the host's stdio without k->lock. */
static ssize_t stream_write_host(struct um_task *t, struct um_ofile *of,
				 const void *buf, size_t len)
{
	ssize_t r;
	int err;

	if (of->kind != UM_OFILE_STDIO)
		return write(of->host_fd, buf, len);
	/* POLLOUT said there is room: this blocks little, if at all. */
	um_kernel_unlock(t->k);
	r = write(of->host_fd, buf, len);
	err = errno;
	um_kernel_lock(t->k);
	errno = err;
	return r;
}

/*
 * A pipe or the host's stdio, as Linux's pipe_write: wait for room unless
 * O_NONBLOCK; no reader: SIGPIPE and -EPIPE. A write of up to PIPE_BUF
 * bytes is one host write, which a non-blocking host pipe does whole or
 * not at all (EAGAIN): so it stays atomic. Returns the bytes written, or
 * -errno when none were.
 */
static long write_stream(struct um_task *t, struct um_ofile *of,
			 struct um_iter *it)
{
	bool stdio = of->kind == UM_OFILE_STDIO;
	uint8_t *kbuf;
	long total = 0, err = 0;

	if (!it->left)
		return 0;
	kbuf = kbuf_alloc(it->left);
	if (!kbuf)
		return -ENOMEM;
	while (it->left && !err) {
		uint64_t n = it->left < UM_IO_CHUNK ? it->left : UM_IO_CHUNK;
		uint64_t c = iter_copy(it, kbuf, n, false), off = 0;

		if (!c) {
			err = -EFAULT;
			break;
		}
		while (off < c) {
			ssize_t r;
			int w;

			if (stdio) {
				w = ofile_wait(t, of, POLLOUT,
					       ofile_nonblock(of));
				if (w < 0 || (w == 0 && ofile_nonblock(of))) {
					err = w < 0 ? w : -EAGAIN;
					break;
				}
				if (w == 0)
					continue;
			}
			r = stream_write_host(t, of, kbuf + off, c - off);
			if (r > 0) {
				off += (uint64_t)r;
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EPIPE) {
				um_signal_send(t, SIGPIPE);
				err = -EPIPE;
				break;
			}
			if (r < 0 && errno != EAGAIN) {
				err = -errno;
				break;
			}
			if (ofile_nonblock(of)) {
				err = -EAGAIN;
				break;
			}
			w = ofile_wait(t, of, POLLOUT, false);
			if (w < 0) {
				err = w;
				break;
			}
		}
		total += (long)off;
		if (c < n && !err) /* a page the guest may not read */
			err = -EFAULT;
	}
	free(kbuf);
	return total ? total : err;
}

static long ofile_read(struct um_task *t, struct um_ofile *of,
		       struct um_iter *it)
{
	switch (of->kind) {
	case UM_OFILE_REG:
		return read_file(of, it, NULL);
	case UM_OFILE_DIR:
		return -EISDIR;
	case UM_OFILE_PIPE:
	case UM_OFILE_STDIO:
		return read_stream(t, of, it);
	default:
		return -EBADF;
	}
}

static long ofile_write(struct um_task *t, struct um_ofile *of,
			struct um_iter *it)
{
	switch (of->kind) {
	case UM_OFILE_PIPE:
	case UM_OFILE_STDIO:
		return write_stream(t, of, it);
	default: /* files under the root are never open for writing */
		return -EBADF;
	}
}

/* read and write: one buffer. */
static long do_read_write(struct um_task *t, const uint64_t *a, bool write)
{
	struct um_ofile *of = fdget(t, a[0]);
	struct um_iter it;
	long ret;

	if (!of)
		return -EBADF;
	if (write ? !ofile_writable(of) : !ofile_readable(of))
		ret = -EBADF;
	else
		ret = iter_single(&it, t, a[1], a[2]);
	if (!ret)
		ret = write ? ofile_write(t, of, &it) : ofile_read(t, of, &it);
	ofile_put(of);
	return ret;
}

long um_sys_read(struct um_task *t, const uint64_t *a)
{
	return do_read_write(t, a, false);
}

long um_sys_write(struct um_task *t, const uint64_t *a)
{
	return do_read_write(t, a, true);
}

static long do_readv_writev(struct um_task *t, const uint64_t *a, bool write)
{
	struct um_ofile *of = fdget(t, a[0]);
	struct um_iter it;
	long ret;

	if (!of)
		return -EBADF;
	if (!(write ? ofile_writable(of) : ofile_readable(of))) {
		ofile_put(of);
		return -EBADF;
	}
	ret = iter_import(&it, t, a[1], a[2]);
	if (!ret)
		ret = write ? ofile_write(t, of, &it) : ofile_read(t, of, &it);
	iter_free(&it);
	ofile_put(of);
	return ret;
}

long um_sys_readv(struct um_task *t, const uint64_t *a)
{
	return do_readv_writev(t, a, false);
}

long um_sys_writev(struct um_task *t, const uint64_t *a)
{
	return do_readv_writev(t, a, true);
}

long um_sys_pread64(struct um_task *t, const uint64_t *a)
{
	int64_t pos = (int64_t)a[3];
	struct um_ofile *of;
	struct um_iter it;
	long ret;

	if (pos < 0)
		return -EINVAL;
	of = fdget(t, a[0]);
	if (!of)
		return -EBADF;
	if (of->kind == UM_OFILE_PIPE)
		ret = -ESPIPE;
	else if (!ofile_readable(of))
		ret = -EBADF;
	else
		ret = iter_single(&it, t, a[1], a[2]);
	if (!ret && of->kind == UM_OFILE_DIR)
		ret = -EISDIR;
	else if (!ret) /* stdio: the host says ESPIPE, or reads a file */
		ret = read_file(of, &it, &pos);
	ofile_put(of);
	return ret;
}

/* ---- open and close ---- */

static enum um_ofile_kind kind_of_mode(mode_t mode)
{
	if (S_ISREG(mode))
		return UM_OFILE_REG;
	if (S_ISDIR(mode))
		return UM_OFILE_DIR;
	return UM_OFILE_OTHER;
}

/*
 * What O_CREAT of @path, which does not exist, returns on a read-only
 * mount: -EROFS where the file could be created (its directory exists),
 * -ENOENT or -ENOTDIR where it could not, -EISDIR for a trailing slash.
 * A dangling symlink is followed to the file it would create.
 */
static int creat_error(struct um_task *t, int dirfd, const char *path)
{
	struct {
		char path[PATH_MAX], dir[PATH_MAX], link[PATH_MAX];
	} *w = malloc(sizeof(*w));
	char *buf, *dir, *link;
	int hops, err = -ELOOP;

	if (!w)
		return -ENOMEM;
	buf = w->path;
	dir = w->dir;
	link = w->link;
	snprintf(buf, PATH_MAX, "%s", path);
	for (hops = 0; hops < 40; hops++) {
		size_t len = strlen(buf);
		char *slash, *last;
		ssize_t n;
		int pfd, lfd;

		if (len && buf[len - 1] == '/') {
			err = -EISDIR; /* if its directory exists */
			while (len > 1 && buf[len - 1] == '/')
				buf[--len] = 0;
		} else {
			err = -EROFS;
		}
		slash = strrchr(buf, '/');
		last = slash ? slash + 1 : buf;
		if (!slash)
			strcpy(dir, ".");
		else if (slash == buf)
			strcpy(dir, "/");
		else
			snprintf(dir, PATH_MAX, "%.*s", (int)(slash - buf),
				 buf);
		pfd = path_lookup(t, dirfd, dir, O_DIRECTORY);
		if (pfd < 0) {
			err = pfd;
			break;
		}
		if (err == -EISDIR) {
			close(pfd);
			break;
		}
		if (!strcmp(last, ".") || !strcmp(last, "..")) {
			close(pfd); /* a directory: it exists */
			err = -EISDIR;
			break;
		}
		/* one component, no "..": it stays in the directory */
		lfd = openat(pfd, last, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		n = lfd < 0 ? -1 : readlinkat(lfd, "", link, PATH_MAX - 1);
		if (lfd >= 0)
			close(lfd);
		if (n < 0) { /* no symlink there: it would be created */
			close(pfd);
			break;
		}
		link[n] = 0;
		/* the link's target, relative to the link's directory */
		if (link[0] != '/') {
			long dl = guest_path_of(t->k, pfd, dir);

			if (dl < 0 || (size_t)dl + 1 + (size_t)n >= PATH_MAX) {
				close(pfd);
				err = dl < 0 ? (int)dl : -ENAMETOOLONG;
				break;
			}
			memcpy(buf, dir, (size_t)dl);
			buf[dl] = '/';
			memcpy(buf + dl + 1, link, (size_t)n + 1);
		} else {
			strcpy(buf, link);
		}
		close(pfd);
		err = -ELOOP;
	}
	free(w);
	return err;
}

/*
 * Linux's checks of an open of an existing file on a read-only mount
 * (fs/namei.c do_open, may_open): 0 or -errno.
 */
static int may_open(const struct stat *st, int flags)
{
	bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);

	if ((flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if ((flags & O_CREAT) && S_ISDIR(st->st_mode))
		return -EISDIR;
	if (S_ISLNK(st->st_mode))
		return -ELOOP;
	if (S_ISREG(st->st_mode) && (flags & O_TRUNC))
		return -EROFS;
	if (S_ISDIR(st->st_mode))
		return write ? -EISDIR : 0;
	if (S_ISREG(st->st_mode))
		return write ? -EROFS : 0;
	/* The root is mounted nodev, and its fifos and sockets stay shut. */
	return S_ISSOCK(st->st_mode) ? -ENXIO : -EACCES;
}

/* The flags F_GETFL shows for a file opened with @flags. */
static int open_status_flags(int flags)
{
	if (flags & O_PATH)
		return flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW);
	return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)) |
	       O_LARGEFILE;
}

/*
 * Open the file of host O_PATH fd @pfd (whose stat is @st) as the guest
 * asked with @flags: an open file (consuming @pfd), or NULL with *err.
 */
static struct um_ofile *open_found(int pfd, const struct stat *st, int flags,
				   long *err)
{
	struct um_ofile *of;
	int fd = pfd;

	if (!(flags & O_PATH)) {
		*err = may_open(st, flags);
		fd = *err ? (int)*err
			  : reopen_read(pfd,
					S_ISDIR(st->st_mode) ? O_DIRECTORY : 0);
		close(pfd);
		if (fd < 0) {
			*err = fd;
			return NULL;
		}
	}
	of = ofile_new(kind_of_mode(st->st_mode), fd, open_status_flags(flags));
	if (!of) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	of->dev = st->st_dev;
	of->ino = st->st_ino;
	return of;
}

#define UM_VALID_OPEN_FLAGS                                                   \
	(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |       \
	 O_NONBLOCK | O_DSYNC | FASYNC | O_DIRECT | O_LARGEFILE |             \
	 O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | \
	 O_TMPFILE)

/* open, openat: build_open_flags, then the lookup, then may_open. */
static long do_open(struct um_task *t, int dirfd, uint64_t upath, int flags)
{
	char path[PATH_MAX];
	struct um_ofile *of;
	struct stat st;
	int lookup = 0, pfd, fd;
	long err;

	flags &= UM_VALID_OPEN_FLAGS; /* open(2) ignores unknown bits */
	if ((flags & O_DIRECTORY) && (flags & O_CREAT))
		return -EINVAL;
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		if ((flags & O_ACCMODE) == O_RDONLY)
			return -EINVAL;
	} else if (flags & O_TMPFILE & ~O_DIRECTORY) {
		return -EINVAL; /* __O_TMPFILE without O_DIRECTORY */
	}
	if (flags & O_PATH) /* beats everything else */
		flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	err = path_from_guest(t, upath, path, false);
	if (err < 0)
		return err;
	fd = fd_alloc(t->files, 0);
	if (fd < 0)
		return fd;

	if (flags & O_DIRECTORY)
		lookup |= O_DIRECTORY;
	/* O_CREAT | O_EXCL never follows a symlink: it exists (EEXIST) */
	if ((flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL)))
		lookup |= O_NOFOLLOW;
	pfd = path_lookup(t, dirfd, path, lookup);
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		/* a directory to make it in: there is none to write */
		if (pfd < 0)
			return pfd;
		close(pfd);
		return -EROFS;
	}
	if (pfd == -ENOENT && (flags & O_CREAT))
		return creat_error(t, dirfd, path);
	if (pfd < 0)
		return pfd;
	if (fstat(pfd, &st) < 0) {
		err = -errno;
		close(pfd);
		return err;
	}
	of = open_found(pfd, &st, flags, &err);
	if (!of)
		return err;
	fd_install(t->files, fd, of, flags & O_CLOEXEC);
	return fd;
}

long um_sys_open(struct um_task *t, const uint64_t *a)
{
	return do_open(t, AT_FDCWD, a[0], (int)a[1]);
}

long um_sys_openat(struct um_task *t, const uint64_t *a)
{
	return do_open(t, (int)a[0], a[1], (int)a[2]);
}

long um_sys_close(struct um_task *t, const uint64_t *a)
{
	unsigned int fd = (unsigned int)a[0];

	if (fd >= UM_NR_OPEN || !t->files->fd[fd])
		return -EBADF;
	fd_install(t->files, (int)fd, NULL, false);
	return 0;
}

long um_sys_lseek(struct um_task *t, const uint64_t *a)
{
	struct um_ofile *of = fdget(t, a[0]);
	unsigned int whence = (unsigned int)a[2];
	off_t r;
	long ret;

	if (!of)
		return -EBADF;
	if (of->flags & O_PATH)
		ret = -EBADF;
	else if (whence > SEEK_HOLE)
		ret = -EINVAL;
	else if (of->kind == UM_OFILE_PIPE)
		ret = -ESPIPE;
	else {
		r = lseek(of->host_fd, (off_t)a[1], (int)whence);
		ret = r < 0 ? -errno : (long)r;
	}
	ofile_put(of);
	return ret;
}

/* ---- stat, access, readlink ---- */

static long stat_to_guest(struct um_task *t, const struct stat *st, uint64_t va)
{
	/* struct stat: the same layout in guest and host (x86-64) */
	return um_copy_to_guest(t->mm, va, st, sizeof(*st)) ? -EFAULT : 0;
}

long um_sys_fstat(struct um_task *t, const uint64_t *a)
{
	struct um_ofile *of = fdget(t, a[0]);
	struct stat st;
	long ret;

	if (!of)
		return -EBADF;
	ret = fstat(of->host_fd, &st) < 0 ? -errno : 0;
	ofile_put(of);
	return ret ? ret : stat_to_guest(t, &st, a[1]);
}

/*
 * Copy the path of an *at call with @atflags into @buf (PATH_MAX bytes):
 * with AT_EMPTY_PATH it may be empty, or NULL (as Linux 6.11 allows). Its
 * length or -errno.
 */
static long path_from_guest_at(struct um_task *t, uint64_t upath, int atflags,
			       char *buf)
{
	if ((atflags & AT_EMPTY_PATH) && !upath) {
		buf[0] = 0;
		return 0;
	}
	return path_from_guest(t, upath, buf, atflags & AT_EMPTY_PATH);
}

/*
 * The file @path names at @dirfd, as a host fd the caller closes; @dirfd
 * itself for an empty path (AT_EMPTY_PATH). @atflags: AT_SYMLINK_NOFOLLOW.
 * The fd or -errno.
 */
static int lookup_at(struct um_task *t, int dirfd, const char *path,
		     int atflags)
{
	struct um_ofile *of;
	int fd;

	if (*path || dirfd == AT_FDCWD)
		return path_lookup(t, dirfd, *path ? path : ".",
				   atflags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW
								 : 0);
	of = fdget(t, (uint64_t)(unsigned int)dirfd);
	if (!of)
		return -EBADF;
	fd = fcntl(of->host_fd, F_DUPFD_CLOEXEC, 0);
	ofile_put(of);
	return fd < 0 ? -errno : fd;
}

/* stat, lstat, newfstatat: @atflags checked, into guest @ubuf. */
static long do_stat(struct um_task *t, int dirfd, uint64_t upath, uint64_t ubuf,
		    int atflags)
{
	char path[PATH_MAX];
	struct stat st;
	long err = path_from_guest_at(t, upath, atflags, path);
	int fd;

	if (err < 0)
		return err;
	fd = lookup_at(t, dirfd, path, atflags);
	if (fd < 0)
		return fd;
	err = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	return err ? err : stat_to_guest(t, &st, ubuf);
}

long um_sys_stat(struct um_task *t, const uint64_t *a)
{
	return do_stat(t, AT_FDCWD, a[0], a[1], 0);
}

long um_sys_lstat(struct um_task *t, const uint64_t *a)
{
	return do_stat(t, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW);
}

long um_sys_newfstatat(struct um_task *t, const uint64_t *a)
{
	int flags = (int)a[3];

	/* before the path: the host says EINVAL for both wrong */
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
		return -EINVAL;
	return do_stat(t, (int)a[0], a[1], a[2], flags);
}

long um_sys_statx(struct um_task *t, const uint64_t *a)
{
	int flags = (int)a[2];
	unsigned int mask = (unsigned int)a[3];
	char path[PATH_MAX];
	struct statx stx;
	long err;
	int fd;

	if ((mask & STATX__RESERVED) ||
	    (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
	    (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH |
		       AT_STATX_SYNC_TYPE)))
		return -EINVAL;
	err = path_from_guest_at(t, a[1], flags, path);
	if (err < 0)
		return err;
	fd = lookup_at(t, (int)a[0], path, flags);
	if (fd < 0)
		return fd;
	err = statx(fd, "", AT_EMPTY_PATH | (flags & AT_STATX_SYNC_TYPE), mask,
		    &stx)
		      ? -errno
		      : 0;
	close(fd);
	if (err)
		return err;
	/* struct statx: the same for guest and host */
	return um_copy_to_guest(t->mm, a[4], &stx, sizeof(stx)) ? -EFAULT : 0;
}

static long do_access(struct um_task *t, int dirfd, uint64_t upath, int mode)
{
	char path[PATH_MAX];
	struct stat st;
	long err;
	int fd;

	if (mode & ~(R_OK | W_OK | X_OK))
		return -EINVAL;
	err = path_from_guest(t, upath, path, false);
	if (err < 0)
		return err;
	fd = path_lookup(t, dirfd, path, 0);
	if (fd < 0)
		return fd;
	err = fstat(fd, &st) < 0 ? -errno : 0;
	/* sb_permission: writing a file of a read-only mount, first */
	if (!err && (mode & W_OK) &&
	    (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
		err = -EROFS;
	if (!err)
		err = fd_access(fd, mode);
	close(fd);
	return err;
}

long um_sys_access(struct um_task *t, const uint64_t *a)
{
	return do_access(t, AT_FDCWD, a[0], (int)a[1]);
}

long um_sys_faccessat(struct um_task *t, const uint64_t *a)
{
	return do_access(t, (int)a[0], a[1], (int)a[2]);
}

static long do_readlink(struct um_task *t, int dirfd, uint64_t upath,
			uint64_t ubuf, int size)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct um_ofile *of;
	ssize_t n;
	long len;
	int fd;

	if (size <= 0)
		return -EINVAL;
	len = path_from_guest(t, upath, path, true);
	if (len < 0)
		return len;
	if (!len) {
		/* @dirfd itself, an O_PATH fd of a symlink; else -ENOENT */
		if (dirfd == AT_FDCWD)
			return -ENOENT;
		of = fdget(t, (uint64_t)(unsigned int)dirfd);
		if (!of)
			return -EBADF;
		n = readlinkat(of->host_fd, "", link, sizeof(link));
		len = n < 0 ? -errno : n;
		ofile_put(of);
	} else {
		fd = path_lookup(t, dirfd, path, O_NOFOLLOW);
		if (fd < 0)
			return fd;
		n = readlinkat(fd, "", link, sizeof(link));
		/* ENOENT: the fd is no symlink */
		len = n < 0 ? (errno == ENOENT ? -EINVAL : -errno) : n;
		close(fd);
	}
	if (len < 0)
		return len;
	if (len > size)
		len = size;
	return um_copy_to_guest(t->mm, ubuf, link, (size_t)len) ? -EFAULT : len;
}

long um_sys_readlink(struct um_task *t, const uint64_t *a)
{
	return do_readlink(t, AT_FDCWD, a[0], a[1], (int)a[2]);
}

long um_sys_readlinkat(struct um_task *t, const uint64_t *a)
{
	return do_readlink(t, (int)a[0], a[1], a[2], (int)a[3]);
}

/* ---- descriptors ---- */

long um_sys_dup(struct um_task *t, const uint64_t *a)
{
	struct um_ofile *of = fdget(t, a[0]);

	if (!of)
		return -EBADF;
	return fd_install_new(t, of, false);
}

static long do_dup3(struct um_task *t, uint64_t oldfd, uint64_t newfd,
		    int flags)
{
	struct um_ofile *of;

	if (flags & ~O_CLOEXEC)
		return -EINVAL;
	if ((unsigned int)oldfd == (unsigned int)newfd)
		return -EINVAL;
	if ((unsigned int)newfd >= UM_NR_OPEN)
		return -EBADF;
	of = fdget(t, oldfd);
	if (!of)
		return -EBADF;
	fd_install(t->files, (int)(unsigned int)newfd, of, flags & O_CLOEXEC);
	return (unsigned int)newfd;
}

long um_sys_dup2(struct um_task *t, const uint64_t *a)
{
	if ((unsigned int)a[0] == (unsigned int)a[1]) {
		struct um_ofile *of = fdget(t, a[0]);

		if (!of)
			return -EBADF;
		ofile_put(of);
		return (unsigned int)a[1];
	}
	return do_dup3(t, a[0], a[1], 0);
}

long um_sys_dup3(struct um_task *t, const uint64_t *a)
{
	return do_dup3(t, a[0], a[1], (int)a[2]);
}

long um_sys_pipe2(struct um_task *t, const uint64_t *a)
{
	int flags = (int)a[1], host[2], fds[2];
	struct um_ofile *r, *w;

	if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
		return -EINVAL;
	/* Never blocking on the host: the guest's O_NONBLOCK is ours. */
	if (pipe2(host, O_CLOEXEC | O_NONBLOCK | (flags & O_DIRECT)) < 0)
		return -errno;
	r = ofile_new(UM_OFILE_PIPE, host[0], O_RDONLY | (flags & ~O_CLOEXEC));
	w = ofile_new(UM_OFILE_PIPE, host[1], O_WRONLY | (flags & ~O_CLOEXEC));
	if (!r || !w) {
		free(r);
		free(w);
		close(host[0]);
		close(host[1]);
		return -ENOMEM;
	}
	fds[0] = fd_alloc(t->files, 0);
	fds[1] =
		fds[0] < 0 ? -EMFILE : fd_alloc(t->files, (unsigned)fds[0] + 1);
	if (fds[1] < 0) {
		ofile_put(r);
		ofile_put(w);
		return -EMFILE;
	}
	if (um_copy_to_guest(t->mm, a[0], fds, sizeof(fds))) {
		ofile_put(r);
		ofile_put(w);
		return -EFAULT;
	}
	fd_install(t->files, fds[0], r, flags & O_CLOEXEC);
	fd_install(t->files, fds[1], w, flags & O_CLOEXEC);
	return 0;
}

long um_sys_pipe(struct um_task *t, const uint64_t *a)
{
	uint64_t args[2] = {a[0], 0};

	return um_sys_pipe2(t, args);
}

long um_sys_ioctl(struct um_task *t, const uint64_t *a)
{
	unsigned int fd = (unsigned int)a[0], cmd = (unsigned int)a[1];
	struct um_ofile *of = fdget(t, fd);
	long ret = -ENOTTY;
	int on;

	if (!of)
		return -EBADF;
	if (of->flags & O_PATH) {
		ofile_put(of);
		return -EBADF;
	}
	/*
	 * The generic ones every file has (fs/ioctl.c). The rest, TCGETS and
	 * TIOCGWINSZ included even on a terminal: -ENOTTY, as issue 6 asks
	 * (a guest's stdio is never a terminal it may drive).
	 */
	switch (cmd) {
	case FIOCLEX:
	case FIONCLEX:
		t->files->cloexec[fd] = cmd == FIOCLEX;
		ret = 0;
		break;
	case FIONBIO:
		if (um_copy_from_guest(t->mm, &on, a[2], sizeof(on))) {
			ret = -EFAULT;
			break;
		}
		of->flags =
			on ? of->flags | O_NONBLOCK : of->flags & ~O_NONBLOCK;
		ret = 0;
		break;
	}
	ofile_put(of);
	return ret;
}

/* What F_SETFL may change (fs/fcntl.c SETFL_MASK). */
#define UM_SETFL_MASK (O_APPEND | O_NONBLOCK | FASYNC | O_DIRECT | O_NOATIME)

long um_sys_fcntl(struct um_task *t, const uint64_t *a)
{
	unsigned int fd = (unsigned int)a[0];
	int cmd = (int)a[1], fl;
	struct um_ofile *of = fdget(t, fd);
	long ret;

	if (!of)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if ((unsigned int)a[2] >= UM_NR_OPEN) {
			ofile_put(of);
			return -EINVAL;
		}
		ret = fd_alloc(t->files, (unsigned int)a[2]);
		if (ret < 0) {
			ofile_put(of);
			return ret;
		}
		fd_install(t->files, (int)ret, of, cmd == F_DUPFD_CLOEXEC);
		return ret; /* our reference went to the new fd */
	case F_GETFD:
		ret = t->files->cloexec[fd] ? FD_CLOEXEC : 0;
		break;
	case F_SETFD:
		t->files->cloexec[fd] = a[2] & FD_CLOEXEC;
		ret = 0;
		break;
	case F_GETFL:
		ret = of->flags;
		if (of->kind == UM_OFILE_STDIO) {
			/* the host's, which may change under us */
			fl = fcntl(of->host_fd, F_GETFL);
			if (fl >= 0)
				ret = (fl & ~O_NONBLOCK) |
				      (of->flags & O_NONBLOCK);
		}
		break;
	case F_SETFL:
		if (of->flags & O_PATH) {
			ret = -EBADF;
			break;
		}
		/* Only O_NONBLOCK acts: nothing here is open for writing. */
		of->flags = (of->flags & ~UM_SETFL_MASK) |
			    ((int)a[2] & UM_SETFL_MASK);
		ret = 0;
		break;
	default:
		ret = (of->flags & O_PATH) ? -EBADF : -EINVAL;
		break;
	}
	ofile_put(of);
	return ret;
}

/* ---- directories ---- */

long um_sys_getcwd(struct um_task *t, const uint64_t *a)
{
	size_t len = strlen(t->cwd) + 1;

	if (a[1] < len)
		return -ERANGE;
	if (um_copy_to_guest(t->mm, a[0], t->cwd, len))
		return -EFAULT;
	return (long)len;
}

/* Make host O_PATH directory @fd the cwd. 0 or -errno. */
static long set_cwd(struct um_task *t, int fd)
{
	char path[PATH_MAX], *cwd;
	long err = fd_access(fd, X_OK);

	if (err)
		return err;
	err = guest_path_of(t->k, fd, path);
	if (err < 0)
		return err;
	cwd = strdup(path);
	if (!cwd)
		return -ENOMEM;
	free(t->cwd);
	t->cwd = cwd;
	return 0;
}

long um_sys_chdir(struct um_task *t, const uint64_t *a)
{
	char path[PATH_MAX];
	long err = path_from_guest(t, a[0], path, false);
	int fd;

	if (err < 0)
		return err;
	fd = path_lookup(t, AT_FDCWD, path, O_DIRECTORY);
	if (fd < 0)
		return fd;
	err = set_cwd(t, fd);
	close(fd);
	return err;
}

long um_sys_fchdir(struct um_task *t, const uint64_t *a)
{
	struct um_ofile *of = fdget(t, a[0]);
	long err;

	if (!of)
		return -EBADF;
	err = of->kind == UM_OFILE_DIR ? set_cwd(t, of->host_fd) : -ENOTDIR;
	ofile_put(of);
	return err;
}

long um_sys_getdents64(struct um_task *t, const uint64_t *a)
{
	struct um_ofile *of = fdget(t, a[0]);
	unsigned int count = (unsigned int)a[2];
	off_t pos;
	void *kbuf;
	long n;

	if (!of)
		return -EBADF;
	if (of->flags & O_PATH)
		n = -EBADF;
	else if (of->kind != UM_OFILE_DIR)
		n = -ENOTDIR;
	else if (!(kbuf = kbuf_alloc(count ? count : 1)))
		n = -ENOMEM;
	else {
		/* linux_dirent64: the same layout for guest and host */
		pos = lseek(of->host_fd, 0, SEEK_CUR);
		n = syscall(SYS_getdents64, of->host_fd, kbuf,
			    count < UM_IO_CHUNK ? count : UM_IO_CHUNK);
		if (n < 0)
			n = -errno;
		else if (n > 0 &&
			 um_copy_to_guest(t->mm, a[1], kbuf, (size_t)n)) {
			lseek(of->host_fd, pos, SEEK_SET); /* not taken */
			n = -EFAULT;
		}
		free(kbuf);
	}
	ofile_put(of);
	return n;
}

/* ---- the file cache: exec and mmap ---- */

struct um_file_cache *um_file_cache_new(void)
{
	return calloc(1, sizeof(struct um_file_cache));
}

void um_file_cache_free(struct um_file_cache *cache)
{
	size_t i;

	if (!cache)
		return;
	for (i = 0; i < cache->nr; i++)
		file_put(cache->v[i].file);
	free(cache->v);
	free(cache);
}

/*
 * The guest file of @fd, a regular file (dev, ino) opened for reading,
 * from the cache or new in it, named @name (NULL: its guest path); with a
 * reference. NULL and *err.
 */
static struct file *cache_get(struct um_kernel *k, int fd, uint64_t dev,
			      uint64_t ino, const char *name_in, int *err)
{
	struct um_file_cache *c = k->file_cache;
	char name[PATH_MAX];
	struct file *file;
	size_t i;

	for (i = 0; i < c->nr; i++) {
		if (c->v[i].dev == dev && c->v[i].ino == ino) {
			file_get(c->v[i].file);
			return c->v[i].file;
		}
	}
	if (c->nr == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct um_cached_file *v = realloc(c->v, cap * sizeof(*v));

		if (!v) {
			*err = -ENOMEM;
			return NULL;
		}
		c->v = v;
		c->cap = cap;
	}
	if (name_in)
		snprintf(name, sizeof(name), "%s", name_in);
	else if (guest_path_of(k, fd, name) < 0)
		strcpy(name, "?");
	file = file_host_fdopen(k->mem, fd, name);
	if (!file) {
		*err = -errno;
		return NULL;
	}
	c->v[c->nr++] = (struct um_cached_file){dev, ino, file};
	file_get(file);
	return file;
}

struct file *um_fs_open_exec(struct um_task *t, const char *path, int *err)
{
	struct file *file = NULL;
	struct stat st;
	int pfd, fd;

	if (strlen(path) >= PATH_MAX) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	pfd = path_lookup(t, AT_FDCWD, path, 0);
	if (pfd < 0) {
		*err = pfd;
		return NULL;
	}
	if (fstat(pfd, &st) < 0)
		*err = -errno;
	else if (!S_ISREG(st.st_mode))
		*err = -EACCES;
	else
		*err = fd_access(pfd, X_OK);
	if (!*err) {
		fd = reopen_read(pfd, 0);
		if (fd < 0) {
			*err = fd;
		} else {
			file = cache_get(t->k, fd, st.st_dev, st.st_ino, NULL,
					 err);
			close(fd);
		}
	}
	close(pfd);
	return file;
}

struct file *um_fs_open_host(struct um_kernel *k, const char *host_path,
			     int *err)
{
	struct file *file = NULL;
	struct stat st;
	int fd = open(host_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	if (fstat(fd, &st) < 0)
		*err = -errno;
	else if (!S_ISREG(st.st_mode))
		*err = S_ISDIR(st.st_mode) ? -EISDIR : -EACCES;
	else
		file = cache_get(k, fd, st.st_dev, st.st_ino, host_path, err);
	close(fd);
	return file;
}

struct file *um_fs_mmap_file(struct um_task *t, int fd, int *err)
{
	struct um_ofile *of = fdget(t, (uint64_t)(unsigned int)fd);
	struct file *file = NULL;

	if (!of) {
		*err = -EBADF;
		return NULL;
	}
	if ((of->flags & O_PATH) || !ofile_readable(of))
		*err = (of->flags & O_PATH) ? -EBADF : -EACCES;
	else if (of->kind == UM_OFILE_PIPE || of->kind == UM_OFILE_STDIO)
		*err = -ENODEV;
	else if (of->kind != UM_OFILE_REG)
		*err = -EACCES;
	else
		file = cache_get(t->k, of->host_fd, of->dev, of->ino, NULL,
				 err);
	ofile_put(of);
	return file;
}

/* ---- calls that would write the root: what a read-only mount answers ---- */

enum ro_kind {
	RO_CREATE, /* the parent must exist; an existing name: EEXIST */
	RO_REMOVE, /* the parent must exist */
	RO_MODIFY, /* the file itself must exist */
};

/*
 * What Linux answers for @kind on the guest path at @upath, the root being
 * mounted read-only (checked against a read-only tmpfs): ENOENT/ENOTDIR
 * from the lookup, EEXIST, or EROFS.
 */
static long ro_path(struct um_task *t, int dirfd, uint64_t upath,
		    enum ro_kind kind, bool follow)
{
	char *path = malloc(PATH_MAX), *slash;
	long err;
	int fd;

	if (!path)
		return -ENOMEM;
	err = path_from_guest(t, upath, path, false);
	if (err < 0)
		goto out;
	if (kind == RO_MODIFY) {
		fd = path_lookup(t, dirfd, path, follow ? 0 : O_NOFOLLOW);
		err = fd < 0 ? fd : -EROFS;
		goto out_close;
	}
	if (kind == RO_CREATE) {
		fd = path_lookup(t, dirfd, path, O_NOFOLLOW);
		if (fd >= 0) {
			err = -EEXIST;
			goto out_close;
		}
	}
	/* The parent: the path without its last component. */
	while (strlen(path) > 1 && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = 0;
	slash = strrchr(path, '/');
	if (!slash)
		strcpy(path, ".");
	else if (slash == path)
		path[1] = 0;
	else
		*slash = 0;
	fd = path_lookup(t, dirfd, path, O_DIRECTORY);
	err = fd < 0 ? fd : -EROFS;
out_close:
	if (fd >= 0)
		close(fd);
out:
	free(path);
	return err;
}

long um_sys_mkdir(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, AT_FDCWD, a[0], RO_CREATE, false);
}

long um_sys_mkdirat(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, (int)a[0], a[1], RO_CREATE, false);
}

long um_sys_unlink(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, AT_FDCWD, a[0], RO_REMOVE, false);
}

long um_sys_unlinkat(struct um_task *t, const uint64_t *a)
{
	if (a[2] & ~(uint64_t)AT_REMOVEDIR)
		return -EINVAL;
	return ro_path(t, (int)a[0], a[1], RO_REMOVE, false);
}

long um_sys_rename(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, AT_FDCWD, a[0], RO_REMOVE, false);
}

/* renameat and renameat2: old dirfd, old path, new dirfd, new path... */
long um_sys_renameat(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, (int)a[0], a[1], RO_REMOVE, false);
}

long um_sys_symlinkat(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, (int)a[1], a[2], RO_CREATE, false);
}

/* symlink and link: the new name in a[1]. */
long um_sys_symlink(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, AT_FDCWD, a[1], RO_CREATE, false);
}

long um_sys_linkat(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, (int)a[2], a[3], RO_CREATE, false);
}

/* chmod, chown and truncate: an existing file, followed, in a[0]. */
long um_sys_chmod(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, AT_FDCWD, a[0], RO_MODIFY, true);
}

long um_sys_fchmodat(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, (int)a[0], a[1], RO_MODIFY, true);
}

long um_sys_lchown(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, AT_FDCWD, a[0], RO_MODIFY, false);
}

long um_sys_fchownat(struct um_task *t, const uint64_t *a)
{
	return ro_path(t, (int)a[0], a[1], RO_MODIFY,
		       !(a[4] & AT_SYMLINK_NOFOLLOW));
}

/* An fd's metadata: EROFS for the root's files, nothing for the rest. */
static long ro_fd(struct um_task *t, uint64_t fd)
{
	struct um_ofile *of = fdget(t, fd);
	long err;

	if (!of)
		return -EBADF;
	err = of->kind == UM_OFILE_REG || of->kind == UM_OFILE_DIR ||
			      of->kind == UM_OFILE_OTHER
		      ? -EROFS
		      : 0;
	ofile_put(of);
	return err;
}

/* fchmod and fchown. */
long um_sys_fchmod(struct um_task *t, const uint64_t *a)
{
	return ro_fd(t, a[0]);
}

long um_sys_ftruncate(struct um_task *t, const uint64_t *a)
{
	struct um_ofile *of = fdget(t, a[0]);

	if (!of)
		return -EBADF;
	ofile_put(of);
	return -EINVAL; /* no file of the guest's is open for writing */
}

/* utimensat(dirfd, path, times, flags); a NULL path: the fd itself. */
long um_sys_utimensat(struct um_task *t, const uint64_t *a)
{
	if (a[3] & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	if (!a[1])
		return ro_fd(t, a[0]);
	return ro_path(t, (int)a[0], a[1], RO_MODIFY,
		       !(a[3] & AT_SYMLINK_NOFOLLOW));
}
