// SPDX-License-Identifier: MIT
/*
 * readfile PATH [EXPECTED]: cat PATH to stdout, and check the calls that
 * read it: open, fstat (a regular file of the right size), read to EOF,
 * lseek (SEEK_SET, SEEK_CUR, SEEK_END, past the end), a read at EOF; a
 * path that does not exist gives ENOENT, one in unmapped memory EFAULT.
 * With EXPECTED, the contents must equal it. Verdicts go to stderr, so
 * stdout is the file alone.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "guest.h"

static char buf[1 << 20];

int main(int argc, char **argv)
{
	struct stat st;
	ssize_t n, total = 0;

	guest_name = "readfile";
	if (argc < 2 || argc > 3) {
		say("usage: readfile PATH [EXPECTED]\n");
		return 2;
	}
	/* stdout carries the file: verdicts on stderr. */
	int out = dup(1);
	if (out < 0 || dup2(2, 1) < 0)
		die("dup");

	int fd = open(argv[1], O_RDONLY);
	if (!check(fd >= 0, "open %s (%s)", argv[1], fd < 0 ? errname(errno) : "ok"))
		return guest_exit();
	check(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), "fstat: a regular file");
	while ((n = read(fd, buf + total, sizeof(buf) - total)) > 0)
		total += n;
	check(n == 0, "read to EOF (last read %zd)", n);
	check(total == st.st_size, "read %zd bytes, fstat says %lld", total,
	      (long long)st.st_size);
	check(read(fd, buf + total, 1) == 0, "read at EOF gives 0");
	for (ssize_t done = 0; done < total; done += n) {
		n = write(out, buf + done, total - done);
		if (n <= 0)
			die("write");
	}
	if (argc == 3)
		check((size_t)total == strlen(argv[2]) &&
			      !memcmp(buf, argv[2], total),
		      "contents equal the expected %zu bytes", strlen(argv[2]));

	char c;
	check(lseek(fd, 0, SEEK_END) == total, "lseek SEEK_END gives the size");
	if (total >= 4) {
		check(lseek(fd, 3, SEEK_SET) == 3 && read(fd, &c, 1) == 1 &&
			      c == buf[3],
		      "lseek SEEK_SET 3, read the fourth byte");
		check(lseek(fd, -2, SEEK_CUR) == 2 && read(fd, &c, 1) == 1 &&
			      c == buf[2],
		      "lseek SEEK_CUR -2, read the third byte");
	}
	check(lseek(fd, total + 100, SEEK_SET) == total + 100 &&
		      read(fd, &c, 1) == 0,
	      "lseek past the end, read gives 0");
	CHECK_ERRNO(lseek(fd, -1, SEEK_SET), EINVAL, "lseek to a negative offset");
	CHECK_ERRNO(lseek(fd, 0, 12345), EINVAL, "lseek with an unknown whence");
	check(close(fd) == 0, "close");
	CHECK_ERRNO(read(fd, &c, 1), EBADF, "read of a closed descriptor");
	CHECK_ERRNO(open("/nonexistent/file", O_RDONLY), ENOENT,
		    "open of a path that does not exist");
	CHECK_ERRNO(syscall(SYS_openat, AT_FDCWD, (char *)8, O_RDONLY), EFAULT,
		    "openat of a path in unmapped memory");
	return guest_exit();
}
