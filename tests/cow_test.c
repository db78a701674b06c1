// SPDX-License-Identifier: MIT
/* fork and copy-on-write: a first smoke test; the matrix comes next. */
#include <errno.h>
#include <string.h>

#include "tests/common.h"

int main(void)
{
	struct umm_phys *ph = umm_phys_new(64 << 20);
	struct umm_mm *p = umm_mm_new(ph, 1ULL << 32), *c, *c2;
	long a = umm_mmap(p, 0, 64 * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
	struct umm_page *pg[4];
	struct umm_page_state st;
	uint8_t v = 0;
	long n;

	is(guest_fill(p, (uint64_t)a, 64 * PG, 1), 0, "parent fills 64 pages");
	c = umm_fork(p);
	ok(c != NULL, "fork");
	is(guest_check(c, (uint64_t)a, 64 * PG, 1), 0, "the child sees them");
	is(guest_write(c, (uint64_t)a, 0x77), 0, "the child writes");
	guest_read(p, (uint64_t)a, &v);
	is(v, 1, "the parent does not see it");
	is(guest_write(p, (uint64_t)a + PG, 0x55), 0, "the parent writes");
	guest_read(c, (uint64_t)a + PG, &v);
	is(v, 32, "the child does not see it");
	n = umm_gup(p, (uint64_t)a + 2 * PG, 4, UMM_FOLL_PIN, pg);
	is(n, 4, "pin 4 pages R/O (unsharing them)");
	umm_page_state(pg[0], &st);
	ok(st.anon_exclusive && st.pincount == 1 && st.mapcount == 1,
	   "pinned page: exclusive, pinned once, mapped once");
	c2 = umm_fork(p);
	is(guest_write(p, (uint64_t)a + 2 * PG, 0x99), 0,
	   "the parent writes a pinned page after another fork");
	is(((uint8_t *)umm_page_addr(pg[0]))[0], 0x99, "the pin sees it");
	guest_read(c2, (uint64_t)a + 2 * PG, &v);
	is(v, 63, "the second child got a copy at fork");
	umm_unpin(pg, n, false);
	is(umm_gup_unpin_bugs(), 0, "no pin lost sight of its page");
	check_mm_coherent(p);
	check_mm_coherent(c);
	check_mm_coherent(c2);
	umm_mm_put(c);
	umm_mm_put(c2);
	umm_mm_put(p);
	check_frames_free(ph);
	umm_phys_put(ph);
	return done_testing();
}
