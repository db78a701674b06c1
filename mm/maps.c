// SPDX-License-Identifier: MIT
/* A guest mm's vmas in /proc/PID/maps format (fs/proc/task_mmu.c). */
#include <errno.h>
#include <inttypes.h>

#include "mm/internal.h"

static void show_vma(struct mm *mm, struct vma *vma, FILE *out)
{
	const char *name = NULL;
	uint64_t off = 0, dev = 0, ino = 0;
	int len;

	if (vma->file) {
		name = vma->file->name;
		off = vma->pgoff << PAGE_SHIFT;
		dev = vma->file->dev;
		ino = vma->file->ino;
	} else if (vma->start < mm->brk && vma->end > mm->start_brk) {
		/* Linux's vma_is_initial_heap (6.6+). */
		name = "[heap]";
	}
	len = fprintf(out,
		      "%08" PRIx64 "-%08" PRIx64 " %c%c%c%c %08" PRIx64
		      " %02x:%02x %" PRIu64 " ",
		      vma->start, vma->end, vma->flags & VM_READ ? 'r' : '-',
		      vma->flags & VM_WRITE ? 'w' : '-',
		      vma->flags & VM_EXEC ? 'x' : '-',
		      vma->flags & VM_MAYSHARE ? 's' : 'p', off,
		      (unsigned int)((dev >> 8) & 0xfff),
		      (unsigned int)(dev & 0xff), ino);
	if (name)
		fprintf(out, "%*s%s", len < 73 ? 73 - len : 0, "", name);
	fputc('\n', out);
}

int mm_maps_show(struct mm *mm, FILE *out)
{
	unsigned int i;
	int err = 0;

	mm_lock(mm);
	for (i = 0; i < mm->nr_vmas; i++)
		show_vma(mm, mm->vmas[i], out);
	if (ferror(out))
		err = -EIO;
	mm_unlock(mm);
	return err;
}
