// SPDX-License-Identifier: MIT
/*
 * execve: the ELF loader and the switch to the new program.
 *
 * Static x86-64 executables only, fixed-address (ET_EXEC) or static-PIE
 * (ET_DYN without PT_INTERP, loaded at Linux's ELF_ET_DYN_BASE, two thirds
 * of the task size). Each PT_LOAD is a private mapping of the file, so its
 * pages come from the file's page cache and are shared by every process
 * that runs the file until one writes; the bss is zeroed to the end of the
 * last file page and continues as anonymous memory; the heap begins after
 * it.
 *
 * The new program is built in a new mm over a new stub child, from the
 * arguments in the old mm (mm_exec_args), and nothing of the caller
 * changes until all of it worked: a failed exec returns to the caller with
 * its mm, files and signal handlers as they were.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "um/exec.h"
#include "um/fs.h"
#include "um/task.h"

#define MAX_PHDRS (65536 / sizeof(Elf64_Phdr))

struct image {
	uint64_t entry, phdr, phnum, base;
};

static int elf_prot(uint32_t p_flags)
{
	return (p_flags & PF_R ? PROT_READ : 0) |
	       (p_flags & PF_W ? PROT_WRITE : 0) |
	       (p_flags & PF_X ? PROT_EXEC : 0);
}

/* Map one PT_LOAD of @file at @bias into @mm. 0 or -errno. */
static int load_segment(struct mm *mm, struct file *file, const Elf64_Phdr *ph,
			uint64_t bias, uint64_t *brk)
{
	uint64_t va = bias + ph->p_vaddr, start = va & PAGE_MASK;
	uint64_t file_end = va + ph->p_filesz, mem_end = va + ph->p_memsz;
	uint64_t zero_end = PAGE_ALIGN(file_end);
	int prot = elf_prot(ph->p_flags);
	long ret;

	if (ph->p_filesz) {
		ret = mm_mmap(mm, start, zero_end - start, prot,
			      MAP_PRIVATE | MAP_FIXED, file,
			      ph->p_offset - (va - start));
		if (ret < 0)
			return (int)ret;
		/* The rest of the last file page is bss: zero it. */
		if (mem_end > file_end && zero_end > file_end &&
		    (prot & PROT_WRITE)) {
			static const char zeros[PAGE_SIZE];

			if (um_copy_to_guest(mm, file_end, zeros,
					     zero_end - file_end))
				return -EFAULT;
		}
	} else {
		zero_end = start;
	}
	if (PAGE_ALIGN(mem_end) > zero_end) {
		ret = mm_mmap(mm, zero_end, PAGE_ALIGN(mem_end) - zero_end,
			      prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			      NULL, 0);
		if (ret < 0)
			return (int)ret;
	}
	if (PAGE_ALIGN(mem_end) > *brk)
		*brk = PAGE_ALIGN(mem_end);
	return 0;
}

/* Check the headers of a static x86-64 program. 0 or -ENOEXEC. */
static int elf_check(const Elf64_Ehdr *eh, const Elf64_Phdr *ph,
		     uint64_t task_size)
{
	unsigned int i, loads = 0;

	for (i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP)
			return -ENOEXEC; /* dynamic: no loader here */
		if (ph[i].p_type != PT_LOAD)
			continue;
		loads++;
		if ((ph[i].p_vaddr - ph[i].p_offset) & ~PAGE_MASK ||
		    ph[i].p_filesz > ph[i].p_memsz ||
		    ph[i].p_memsz > task_size ||
		    ph[i].p_vaddr > task_size - ph[i].p_memsz)
			return -ENOEXEC;
	}
	return loads ? 0 : -ENOEXEC;
}

/*
 * The headers of @file, checked, into @eh and *@php (to free): 0, -ENOEXEC
 * or -ENOMEM. Before anything is made for the new image.
 */
static int elf_headers(struct file *file, uint64_t task_size, Elf64_Ehdr *eh,
		       Elf64_Phdr **php)
{
	Elf64_Phdr *ph;
	int err;

	if (file_read(file, eh, sizeof(*eh), 0) != (ssize_t)sizeof(*eh) ||
	    memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 ||
	    (eh->e_type != ET_EXEC && eh->e_type != ET_DYN) ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || !eh->e_phnum ||
	    eh->e_phnum > MAX_PHDRS)
		return -ENOEXEC;
	ph = calloc(eh->e_phnum, sizeof(*ph));
	if (!ph)
		return -ENOMEM;
	err = -ENOEXEC;
	if (file_read(file, ph, eh->e_phnum * sizeof(*ph), eh->e_phoff) ==
	    (ssize_t)(eh->e_phnum * sizeof(*ph)))
		err = elf_check(eh, ph, task_size);
	if (err) {
		free(ph);
		return err;
	}
	*php = ph;
	return 0;
}

/* Map the image whose headers elf_headers() read. */
static int elf_load(struct mm *mm, struct file *file, const Elf64_Ehdr *ehp,
		    const Elf64_Phdr *ph, struct image *img)
{
	uint64_t task_size = mm_task_size(mm), bias = 0, brk = 0, lo = ~0ULL;
	const Elf64_Ehdr eh = *ehp;
	unsigned int i;
	int err;

	for (i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < lo)
			lo = ph[i].p_vaddr;
	if (eh.e_type == ET_DYN)
		bias = ((task_size / 3 * 2) & PAGE_MASK) - (lo & PAGE_MASK);
	img->phdr = 0;
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_PHDR)
			img->phdr = bias + ph[i].p_vaddr;
		if (ph[i].p_type != PT_LOAD)
			continue;
		err = load_segment(mm, file, &ph[i], bias, &brk);
		if (err)
			return err;
		if (!img->phdr && eh.e_phoff >= ph[i].p_offset &&
		    eh.e_phoff - ph[i].p_offset < ph[i].p_filesz)
			img->phdr = bias + ph[i].p_vaddr + eh.e_phoff -
				    ph[i].p_offset;
	}
	mm_set_brk(mm, brk);
	img->entry = bias + eh.e_entry;
	img->phnum = eh.e_phnum;
	img->base = bias;
	return 0;
}

/*
 * Fill the auxiliary vector mm_exec_args left zeroed above envp's NULL,
 * and put AT_RANDOM's bytes and AT_PLATFORM's string in its unused tail.
 */
static int write_auxv(struct mm *mm, uint64_t sp, const struct image *img)
{
	uint64_t words[UMM_AUXV_WORDS] = {0}, argc, p, at;
	unsigned int n = 0;

	if (um_copy_from_guest(mm, &argc, sp, 8))
		return -EFAULT;
	at = sp + 8 * (argc + 2); /* envp[0] */
	do {
		if (um_copy_from_guest(mm, &p, at, 8))
			return -EFAULT;
		at += 8;
	} while (p);
#define AUX(type, val)                        \
	do {                                  \
		words[n++] = (type);          \
		words[n++] = (uint64_t)(val); \
	} while (0)
	AUX(AT_PHDR, img->phdr);
	AUX(AT_PHENT, sizeof(Elf64_Phdr));
	AUX(AT_PHNUM, img->phnum);
	AUX(AT_PAGESZ, PAGE_SIZE);
	AUX(AT_BASE, 0);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, img->entry);
	AUX(AT_UID, getuid());
	AUX(AT_EUID, geteuid());
	AUX(AT_GID, getgid());
	AUX(AT_EGID, getegid());
	AUX(AT_SECURE, 0);
	AUX(AT_CLKTCK, sysconf(_SC_CLK_TCK));
	AUX(AT_HWCAP, getauxval(AT_HWCAP));
	AUX(AT_HWCAP2, getauxval(AT_HWCAP2));
	AUX(AT_MINSIGSTKSZ, getauxval(AT_MINSIGSTKSZ));
	AUX(AT_RANDOM, at + 8 * (UMM_AUXV_WORDS - 3));
	AUX(AT_PLATFORM, at + 8 * (UMM_AUXV_WORDS - 1));
	AUX(AT_NULL, 0);
#undef AUX
	if (getrandom(&words[UMM_AUXV_WORDS - 3], 16, 0) != 16)
		return -EIO;
	memcpy(&words[UMM_AUXV_WORDS - 1], "x86_64", 7);
	if (um_copy_to_guest(mm, at, words, sizeof(words)))
		return -EFAULT;
	return 0;
}

struct mm *um_exec_mm(struct um_kernel *k, struct file *file, struct mm *old,
		      uint64_t argv, uint64_t envp, struct host_regs *regs,
		      int *errp)
{
	struct exec_args *args;
	struct host_as *as = NULL;
	struct mm *mm = NULL;
	Elf64_Phdr *ph = NULL;
	struct image img = {0};
	Elf64_Ehdr eh;
	uint64_t sp;
	long err;

	/*
	 * The arguments first (EFAULT, E2BIG), as Linux copies them before it
	 * looks at the file; then a file that is no program costs no space
	 * (a host process).
	 */
	args = mm_exec_args_gather(old, argv, envp, &err);
	if (args)
		err = elf_headers(file, k->task_size, &eh, &ph);
	if (!err) {
		as = um_space_get(k, false, errp);
		err = as ? 0 : *errp;
	}
	if (!err) {
		mm = mm_new(k->mem, as, k->task_size);
		if (!mm) {
			err = -errno;
			host_as_free(as);
		}
	}
	if (!err)
		err = elf_load(mm, file, &eh, ph, &img);
	if (!err)
		err = mm_exec_args_place(old, args, mm, &sp);
	if (!err)
		err = write_auxv(mm, sp, &img);
	free(ph);
	mm_exec_args_free(args);
	if (err) {
		mm_put(mm);
		*errp = (int)err;
		return NULL;
	}
	um_prefault(mm, img.entry, false);
	memset(regs, 0, sizeof(*regs));
	regs->rip = img.entry;
	regs->rsp = sp;
	regs->eflags = 0x202; /* IF, and the reserved bit 1 */
	return mm;
}
