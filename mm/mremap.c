// SPDX-License-Identifier: MIT
/* Work in progress (issue 4): not yet built. */
#include <errno.h>

#include "mm/internal.h"

long mm_mremap(struct mm *mm, uint64_t old_addr, uint64_t old_len,
	       uint64_t new_len, int flags, uint64_t new_addr)
{
	(void)mm, (void)old_addr, (void)old_len, (void)new_len, (void)flags;
	(void)new_addr;
	return -ENOSYS;
}
