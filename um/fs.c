// SPDX-License-Identifier: MIT
/*
 * PLACEHOLDER until the files layer lands: the host's stdio only.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "um/fs.h"
#include "um/task.h"

struct um_files {
	int refcount;
};

struct um_files *um_files_new(void)
{
	struct um_files *f = calloc(1, sizeof(*f));

	if (f)
		f->refcount = 1;
	return f;
}

struct um_files *um_files_fork(struct um_files *files)
{
	return um_files_new();
}

void um_files_put(struct um_files *files)
{
	if (files && !--files->refcount)
		free(files);
}

void um_files_exec(struct um_files *files)
{
}

struct um_file_cache *um_file_cache_new(void)
{
	return calloc(1, 1);
}

void um_file_cache_free(struct um_file_cache *cache)
{
	free(cache);
}

struct file *um_fs_open_exec(struct um_task *t, const char *path, int *err)
{
	*err = -ENOENT;
	return NULL;
}

struct file *um_fs_mmap_file(struct um_task *t, int fd, int *err)
{
	*err = -EBADF;
	return NULL;
}

long um_sys_write(struct um_task *t, const uint64_t *a)
{
	char buf[4096];
	size_t n = a[2] < sizeof(buf) ? a[2] : sizeof(buf);
	ssize_t w;

	if (a[0] != 1 && a[0] != 2)
		return -EBADF;
	if (um_copy_from_guest(t->mm, buf, a[1], n))
		return -EFAULT;
	w = write((int)a[0], buf, n);
	return w < 0 ? -errno : w;
}

long um_sys_writev(struct um_task *t, const uint64_t *a)
{
	uint64_t iov[2], b[3] = {a[0], 0, 0};
	long total = 0, n;
	uint64_t i;

	for (i = 0; i < a[2]; i++) {
		if (um_copy_from_guest(t->mm, iov, a[1] + 16 * i, 16))
			return -EFAULT;
		b[1] = iov[0];
		b[2] = iov[1];
		if (!iov[1])
			continue;
		n = um_sys_write(t, b);
		if (n < 0)
			return total ? total : n;
		total += n;
	}
	return total;
}

#define NOSYS(name)                                              \
	long um_sys_##name(struct um_task *t, const uint64_t *a) \
	{                                                        \
		return -ENOSYS;                                  \
	}
NOSYS(read)
NOSYS(readv)
NOSYS(pread64)
NOSYS(open)
NOSYS(openat)
NOSYS(close)
NOSYS(lseek)
NOSYS(fstat)
NOSYS(stat)
NOSYS(lstat)
NOSYS(newfstatat)
NOSYS(access)
NOSYS(faccessat)
NOSYS(dup)
NOSYS(dup2)
NOSYS(dup3)
NOSYS(pipe)
NOSYS(pipe2)
NOSYS(ioctl)
NOSYS(fcntl)
NOSYS(getcwd)
NOSYS(chdir)
NOSYS(fchdir)
NOSYS(getdents64)
NOSYS(readlink)
NOSYS(readlinkat)
