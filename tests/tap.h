/* SPDX-License-Identifier: MIT */
/*
 * A small TAP producer. A test program prints "1..N" at the end
 * (done_testing) and exits non-zero if anything failed, so a crash can
 * never read as a pass.
 */
#ifndef UMM_TAP_H
#define UMM_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Defined in tests/common.c: one count for the whole program. */
extern int tap_n, tap_failed;

static inline int __attribute__((format(printf, 4, 5)))
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is(got, want, ...)                                                  \
	({                                                                  \
		long long _g = (long long)(got), _w = (long long)(want);    \
		int _r = ok(_g == _w, __VA_ARGS__);                         \
		if (!_r)                                                    \
			printf("#   got %lld (%#llx), want %lld (%#llx)\n", \
			       _g, _g, _w, _w);                             \
		_r;                                                         \
	})
#define diag(...)                                   \
	do {                                        \
		printf("# ");                       \
		printf(__VA_ARGS__);                \
		printf("\n");                       \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#define BAIL_OUT(...)                         \
	do {                                  \
		printf("Bail out! ");         \
		printf(__VA_ARGS__);          \
		printf("\n");                 \
		fflush(stdout);               \
		exit(1);                      \
	} while (0)

#endif
