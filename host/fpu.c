// SPDX-License-Identifier: MIT
/*
 * The host's FPU state in its signal-frame format (host.h): what this CPU
 * and host kernel put there, and the checks a state must pass before the
 * host kernel's rt_sigreturn may be handed it in a stub's frame.
 *
 * Linux lays the frame's fpstate out as (arch/x86/kernel/fpu/signal.c):
 *
 *   +0     the legacy fxsave area (512 bytes): FCW, ..., MXCSR at +24,
 *          MXCSR_MASK at +28, the x87 and xmm registers;
 *   +464   in the legacy area's unused tail, struct _fpx_sw_bytes: magic1
 *          FP_XSTATE_MAGIC1, extended_size (xstate_size + 4), xfeatures,
 *          xstate_size;
 *   +512   the xsave header: xstate_bv, xcomp_bv (0: the standard format),
 *          reserved;
 *   +576   the extended components at their CPUID offsets;
 *   +xstate_size  FP_XSTATE_MAGIC2.
 *
 * xstate_size is that of the features a task may use without asking
 * (XCR0 less the dynamic ones, AMX tile data: Linux's user_size), not
 * CPUID's size for all of XCR0.
 */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "host/host.h"
#include "host/internal.h"

#define FPX_SW		464
#define FPX_MAGIC1	0x46505853U
#define FPX_MAGIC2	0x46505845U
#define FPX_LEGACY	512
#define FPX_HEADER	512
#define FPX_MIN_XSTATE	(FPX_LEGACY + 64)
#define FPX_MXCSR	24
#define FPX_MXCSR_MASK	28
#define XFEATURE_FPSSE	0x3ULL
#define CPUID_XSAVE_XFD 0x4 /* CPUID 0xd, i: ECX bit 2, XFD: dynamic */

struct fpx_sw_bytes {
	uint32_t magic1, extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size, padding[7];
};

static struct {
	uint32_t size; /* xstate_size; 0: no xsave */
	uint64_t xfeatures;
	uint32_t mxcsr_mask;
} fpu_host;
static pthread_once_t fpu_once = PTHREAD_ONCE_INIT;

static void fpu_probe(void)
{
	unsigned int a, b, c, d, i;
	uint8_t fx[512] __attribute__((aligned(16)));
	uint32_t lo, hi, mask;
	uint64_t xcr0, features = XFEATURE_FPSSE;
	uint32_t size = FPX_MIN_XSTATE;

	memset(fx, 0, sizeof(fx));
	__asm__ volatile("fxsave64 %0" : "=m"(fx));
	memcpy(&mask, fx + FPX_MXCSR_MASK, 4);
	fpu_host.mxcsr_mask = mask ? mask : 0xffbf; /* 0: the old default */
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = (uint64_t)hi << 32 | lo;
	for (i = 2; i < 63; i++) {
		if (!(xcr0 >> i & 1))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		if (c & CPUID_XSAVE_XFD)
			continue; /* dynamic: only for a task that asks */
		features |= 1ULL << i;
		if (b + a > size)
			size = b + a;
	}
	fpu_host.xfeatures = features;
	fpu_host.size = size;
}

/* xstate_size, or 0 when the host state will not do (no xsave, too big). */
static uint32_t fpu_xstate_size(void)
{
	pthread_once(&fpu_once, fpu_probe);
	if (fpu_host.size + 4 > HOST_STUB_FPU_MAX)
		return 0;
	return fpu_host.size;
}

size_t host_fpu_size(void)
{
	uint32_t n = fpu_xstate_size();

	return n ? n + 4 : 0;
}

size_t host_fpu_len(const void *head)
{
	uint32_t magic1;

	memcpy(&magic1, (const char *)head + FPX_SW, 4);
	if (magic1 != FPX_MAGIC1 || !fpu_xstate_size())
		return FPX_LEGACY;
	return host_fpu_size();
}

/* The software bytes and FP_XSTATE_MAGIC2 of the host's format, in @out. */
static void fpu_sw_bytes(uint8_t *out, uint32_t n)
{
	struct fpx_sw_bytes sw = {
		.magic1 = FPX_MAGIC1,
		.extended_size = n + 4,
		.xfeatures = fpu_host.xfeatures,
		.xstate_size = n,
	};
	uint32_t magic2 = FPX_MAGIC2;

	memcpy(out + FPX_SW, &sw, sizeof(sw));
	memcpy(out + n, &magic2, 4);
}

int host_fpu_init_state(void *out)
{
	uint32_t n = fpu_xstate_size(), mxcsr = 0x1f80;
	uint16_t fcw = 0x37f;
	uint8_t *o = out;

	if (!n)
		return -EOPNOTSUPP;
	memset(o, 0, n + 4);
	memcpy(o, &fcw, 2);
	memcpy(o + FPX_MXCSR, &mxcsr, 4);
	memcpy(o + FPX_MXCSR_MASK, &fpu_host.mxcsr_mask, 4);
	fpu_sw_bytes(o, n); /* xstate_bv 0: the rest in its initial state */
	return (int)(n + 4);
}

/*
 * Do the software bytes of @b (@len bytes) describe an xsave area? Linux's
 * check_xstate_in_sigframe: when not, only the legacy area is taken.
 */
static bool fpu_sw_valid(const uint8_t *b, size_t len, uint32_t n,
			 struct fpx_sw_bytes *sw)
{
	uint32_t magic2;

	memcpy(sw, b + FPX_SW, sizeof(*sw));
	if (sw->magic1 != FPX_MAGIC1 || sw->xstate_size < FPX_MIN_XSTATE ||
	    sw->xstate_size > n || sw->xstate_size > sw->extended_size ||
	    len < (size_t)sw->xstate_size + 4 || len < (size_t)n)
		return false;
	memcpy(&magic2, b + sw->xstate_size, 4);
	return magic2 == FPX_MAGIC2;
}

int host_fpu_check(void *out, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint32_t n = fpu_xstate_size(), mxcsr;
	uint64_t hdr[3];
	struct fpx_sw_bytes sw;
	uint8_t *o = out;

	if (!n)
		return -EOPNOTSUPP;
	if (len < FPX_LEGACY)
		return -EINVAL;
	memcpy(&mxcsr, b + FPX_MXCSR, 4);
	if (mxcsr & ~fpu_host.mxcsr_mask)
		return -EINVAL; /* fxrstor and xrstor: #GP */
	if (!fpu_sw_valid(b, len, n, &sw)) {
		/* Legacy only: x87 and SSE from it, the rest afresh. */
		memset(o + FPX_LEGACY, 0, n - FPX_LEGACY);
		memcpy(o, b, FPX_LEGACY);
		hdr[0] = XFEATURE_FPSSE;
		memcpy(o + FPX_HEADER, hdr, 8);
		fpu_sw_bytes(o, n);
		return (int)(n + 4);
	}
	memcpy(hdr, b + FPX_HEADER, sizeof(hdr));
	/* xrstor of the standard format: #GP for these */
	if (hdr[0] & ~fpu_host.xfeatures || hdr[1] || hdr[2])
		return -EINVAL;
	memcpy(o, b, n);
	hdr[0] &= sw.xfeatures; /* what the frame leaves out starts afresh */
	memcpy(o + FPX_HEADER, hdr, 8);
	fpu_sw_bytes(o, n);
	return (int)(n + 4);
}

int host_fpu_check_saved(const void *buf, size_t len)
{
	uint32_t n = fpu_xstate_size();
	struct fpx_sw_bytes sw;

	if (!n)
		return -EOPNOTSUPP;
	if (len != n + 4 || !fpu_sw_valid(buf, len, n, &sw) ||
	    sw.xstate_size != n || sw.extended_size != n + 4)
		return -EIO;
	if (sw.xfeatures != fpu_host.xfeatures)
		return -EOPNOTSUPP; /* the probe got the host wrong */
	return 0;
}
