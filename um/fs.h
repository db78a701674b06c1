/* SPDX-License-Identifier: MIT */
/*
 * The guest's files (um/fs.c): file descriptor tables, the guest root, and
 * the I/O syscalls. A guest sees three kinds of open file: the kernel's
 * own stdin, stdout and stderr (fds 0, 1, 2 of the first task), regular
 * files and directories opened read-only under the guest root, and pipes.
 *
 * Every function here is called with the kernel lock (k->lock) held; the
 * syscalls drop it (um_task_wait_fd) only to wait.
 */
#ifndef UMM_UM_FS_H
#define UMM_UM_FS_H

#include "um/kernel.h"

/* The first task's table: fds 0, 1, 2 on the host's. NULL and errno. */
struct um_files *um_files_new(void);
/* fork: a copy sharing the open files. NULL and errno. */
struct um_files *um_files_fork(struct um_files *files);
void um_files_put(struct um_files *files);
/* exec: close the descriptors marked close-on-exec. */
void um_files_exec(struct um_files *files);

/*
 * The guest file caches: one struct file per host (dev, ino), so that two
 * processes running or mapping the same file share its pages.
 */
struct um_file_cache *um_file_cache_new(void);
void um_file_cache_free(struct um_file_cache *cache);

/*
 * Open guest path @path (relative to @t's cwd) under the root for exec:
 * the guest file of a regular file, with a reference, or NULL and *err
 * (-ENOENT, -EACCES, -ENOEXEC...).
 */
struct file *um_fs_open_exec(struct um_task *t, const char *path, int *err);
/*
 * The first program, a host path outside the guest root, through the same
 * cache: a guest that executes it again from the root shares its pages.
 * With a reference, or NULL and *err.
 */
struct file *um_fs_open_host(struct um_kernel *k, const char *host_path,
			     int *err);
/*
 * The guest file behind descriptor @fd for mmap, with a reference: NULL
 * with *err -EBADF, -EACCES (not a regular file opened for reading),
 * -ENODEV (a pipe or terminal).
 */
struct file *um_fs_mmap_file(struct um_task *t, int fd, int *err);

/* The syscalls (um/syscall.c's table). */
um_syscall_fn um_sys_read, um_sys_write, um_sys_writev, um_sys_readv,
	um_sys_pread64, um_sys_open, um_sys_openat, um_sys_close, um_sys_lseek,
	um_sys_fstat, um_sys_stat, um_sys_lstat, um_sys_newfstatat,
	um_sys_access, um_sys_faccessat, um_sys_dup, um_sys_dup2, um_sys_dup3,
	um_sys_pipe, um_sys_pipe2, um_sys_ioctl, um_sys_fcntl, um_sys_getcwd,
	um_sys_chdir, um_sys_fchdir, um_sys_getdents64, um_sys_readlink,
	um_sys_readlinkat;
/* statx, which Rust's std and coreutils' ls and stat call. */
um_syscall_fn um_sys_statx;
/* Calls that would write the root: what a read-only mount answers. */
um_syscall_fn um_sys_mkdir, um_sys_mkdirat, um_sys_unlink, um_sys_unlinkat,
	um_sys_rename, um_sys_renameat, um_sys_symlink, um_sys_symlinkat,
	um_sys_linkat, um_sys_chmod, um_sys_fchmodat, um_sys_fchmod,
	um_sys_lchown, um_sys_fchownat, um_sys_ftruncate, um_sys_utimensat;

#endif
