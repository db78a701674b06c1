// SPDX-License-Identifier: MIT
/* Work in progress (issue 4): not yet built. */
#include <errno.h>

#include "mm/internal.h"

int mm_remap_file_pages(struct mm *mm, uint64_t start, uint64_t size, int prot,
			uint64_t pgoff, int flags)
{
	(void)mm, (void)start, (void)size, (void)prot, (void)pgoff, (void)flags;
	return -ENOSYS;
}
