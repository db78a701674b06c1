// SPDX-License-Identifier: MIT
/*
 * The guest root is a read-only mount: calls that would write it answer
 * what Linux answers on one (the errnos were taken from a read-only tmpfs
 * on the host): EROFS, EEXIST for a name that exists, ENOENT when the
 * lookup fails first. Run under umm run only, with the test's root (it
 * has /data/hello.txt and /data as a directory).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <utime.h>

#include "guest.h"

int main(void)
{
	const char *f = "/data/hello.txt";
	int fd;

	guest_name = "rofs";
	CHECK_ERRNO(mkdir("/data/new", 0755), EROFS, "mkdir of a new name");
	CHECK_ERRNO(mkdir("/data", 0755), EEXIST, "mkdir of an existing one");
	CHECK_ERRNO(mkdir("/nope/x", 0755), ENOENT, "mkdir under no parent");
	CHECK_ERRNO(unlink(f), EROFS, "unlink of a file");
	CHECK_ERRNO(unlink("/data/missing"), EROFS, "unlink of a missing name");
	CHECK_ERRNO(rmdir("/data"), EROFS, "rmdir");
	CHECK_ERRNO(rename(f, "/data/g"), EROFS, "rename");
	CHECK_ERRNO(utime(f, NULL), EROFS, "utime of a file");
	CHECK_ERRNO(utime("/data/missing", NULL), ENOENT,
		    "utime of a missing file");
	CHECK_ERRNO(chmod(f, 0600), EROFS, "chmod");
	CHECK_ERRNO(chmod("/data/missing", 0600), ENOENT,
		    "chmod of a missing file");
	CHECK_ERRNO(chown(f, 0, 0), EROFS, "chown");
	CHECK_ERRNO(symlink("x", "/data/s"), EROFS, "symlink");
	CHECK_ERRNO(link(f, "/data/l"), EROFS, "link");
	CHECK_ERRNO(truncate(f, 0), EROFS, "truncate");
	CHECK_ERRNO(open("/data/new", O_WRONLY | O_CREAT, 0644), EROFS,
		    "open O_CREAT of a new name");
	fd = open(f, O_RDONLY);
	if (fd < 0)
		die("open");
	CHECK_ERRNO(ftruncate(fd, 0), EINVAL, "ftruncate of a read-only fd");
	CHECK_ERRNO(fchmod(fd, 0600), EROFS, "fchmod");
	close(fd);
	return guest_exit();
}
