/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the guest programs that tests/guest.sh runs under `umm run`
 * and natively. Each program prints one line per check ("ok: ..." or
 * "FAIL: ..."), and its exit status is its verdict: 0 when every check
 * passed, 1 when one failed, 2 when it could not set up; a crash is a
 * signal, never 0 (libseccomp's test style, STYLE.md).
 *
 * Output goes straight to the descriptor (dprintf), unbuffered: nothing is
 * printed twice across fork, nothing is lost when a program dies.
 */
#ifndef UMM_TESTS_GUEST_H
#define UMM_TESTS_GUEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __attribute__((unused)) const char *guest_name = "guest";
static int guest_failures;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdprintf(1, fmt, ap);
	va_end(ap);
}

/*
 * One verdict line; returns ok so callers can skip what depends on it.
 * A trailing " (...)" in the message is detail (addresses, pids, values
 * got) for a failure: it is left out of an "ok" line, so a passing run
 * prints the same lines natively and under `umm run`.
 */
static int check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static __attribute__((unused)) int check(int ok, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t len = strlen(msg);
	char *detail = strrchr(msg, '(');
	if (ok && len && msg[len - 1] == ')' && detail && detail > msg &&
	    detail[-1] == ' ')
		detail[-1] = 0;
	say("%s: %s: %s\n", guest_name, ok ? "ok" : "FAIL", msg);
	if (!ok)
		guest_failures++;
	return ok;
}

/* errno names, so a verdict line reads the same under any C library. */
static __attribute__((unused)) const char *errname(int e)
{
	static char buf[2][16];
	static int which;

	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case E2BIG: return "E2BIG";
	case ENOEXEC: return "ENOEXEC";
	case EOVERFLOW: return "EOVERFLOW";
	}
	which ^= 1;
	snprintf(buf[which], sizeof(buf[which]), "E%d", e);
	return buf[which];
}

/*
 * A call that must fail with errno e: ret is what the call returned (-1 or
 * MAP_FAILED cast to long), err the errno right after it.
 */
static __attribute__((unused)) int check_errno(long ret, int err, int e, const char *what)
{
	return check(ret == -1 && err == e, "%s: -1/%s (got %ld/%s)", what,
		     errname(e), ret, ret == -1 ? errname(err) : "-");
}

#define CHECK_ERRNO(call, e, what)                      \
	do {                                            \
		long r_;                                \
		errno = 0;                              \
		r_ = (long)(call);                      \
		check_errno(r_, errno, (e), (what));    \
	} while (0)

/* The verdict as an exit status. */
static __attribute__((unused)) int guest_exit(void)
{
	say("%s: %s (%d failed)\n", guest_name, guest_failures ? "FAIL" : "PASS",
	    guest_failures);
	return guest_failures ? 1 : 0;
}

/* Set-up that cannot go on: exit 2, never a pass. */
static void __attribute__((noreturn, unused)) die(const char *what)
{
	say("%s: FAIL: %s: %s\n", guest_name, what, strerror(errno));
	_exit(2);
}

#endif
