// SPDX-License-Identifier: MIT
/*
 * Files and their page cache: shmem files (zero-filled, read/write) and
 * read-only host files whose pages are read into frames on first use. The
 * cache holds one reference to each of its frames; each pte mapping a frame
 * holds another.
 *
 * Lock order: mm->lock, then file->lock. Truncation therefore never holds
 * file->lock while it takes an mm's lock: it publishes the new size first
 * (so no fault maps past it again), then zaps each mm, then frees the cache.
 * Punching a hole (MADV_REMOVE) frees the cache first, then zaps each mm.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm/internal.h"

#define LEAF_PAGES PTRS_PER_TABLE

static struct file *file_alloc(struct mem *mem, const char *name)
{
	struct file *file = calloc(1, sizeof(*file));

	if (!file)
		return NULL;
	file->name = strdup(name);
	if (!file->name) {
		free(file);
		return NULL;
	}
	file->mem = mem;
	mem_get(mem);
	file->refcount = 1;
	file->host_fd = -1;
	pthread_mutex_init(&file->lock, NULL);
	return file;
}

struct file *file_shmem_new(struct mem *mem, uint64_t size)
{
	struct file *file;

	if (size > (FILE_MAX_PAGES << PAGE_SHIFT)) {
		errno = EFBIG;
		return NULL;
	}
	file = file_alloc(mem, "/memfd:umm-shmem (deleted)");
	if (!file)
		return NULL;
	file->size = size;
	file->writable = true;
	return file;
}

/*
 * The file of host fd @fd, which it owns from then on (closed on failure
 * too). NULL and errno: EISDIR, EACCES (not a regular file), EBADF (not
 * open for reading), EFBIG.
 */
static struct file *file_host_take(struct mem *mem, int fd, const char *name)
{
	struct file *file;
	struct stat st;
	int fl, err;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		goto out_close;
	if ((fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY) {
		errno = EBADF; /* its pages could not be read in */
		goto out_close;
	}
	if (fstat(fd, &st) < 0)
		goto out_close;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
		goto out_close;
	}
	if ((uint64_t)st.st_size > (FILE_MAX_PAGES << PAGE_SHIFT)) {
		errno = EFBIG;
		goto out_close;
	}
	file = file_alloc(mem, name);
	if (!file)
		goto out_close;
	file->host_fd = fd;
	file->size = (uint64_t)st.st_size;
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	return file;

out_close:
	err = errno;
	close(fd);
	errno = err;
	return NULL;
}

struct file *file_host_open(struct mem *mem, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	return file_host_take(mem, fd, path);
}

struct file *file_host_fdopen(struct mem *mem, int fd, const char *name)
{
	/* Its own fd: pread needs no offset, so sharing one is harmless. */
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (dup_fd < 0)
		return NULL;
	return file_host_take(mem, dup_fd, name);
}

void file_get(struct file *file)
{
	__atomic_add_fetch(&file->refcount, 1, __ATOMIC_RELAXED);
}

uint64_t file_size(struct file *file)
{
	uint64_t size;

	pthread_mutex_lock(&file->lock);
	size = file->size;
	pthread_mutex_unlock(&file->lock);
	return size;
}

static uint32_t *cache_slot(struct file *file, uint64_t pgoff, bool alloc)
{
	uint64_t leaf = pgoff / LEAF_PAGES;

	if (leaf >= file->nr_leaves) {
		uint64_t n = file->nr_leaves ? file->nr_leaves : 1;
		uint32_t **c;

		if (!alloc)
			return NULL;
		while (n <= leaf)
			n *= 2;
		c = realloc(file->cache, n * sizeof(*c));
		if (!c)
			return NULL;
		memset(c + file->nr_leaves, 0,
		       (n - file->nr_leaves) * sizeof(*c));
		file->cache = c;
		file->nr_leaves = n;
	}
	if (!file->cache[leaf]) {
		if (!alloc)
			return NULL;
		file->cache[leaf] = calloc(LEAF_PAGES, sizeof(uint32_t));
		if (!file->cache[leaf])
			return NULL;
	}
	return &file->cache[leaf][pgoff % LEAF_PAGES];
}

/* Fill a new frame with the file's page @pgoff. Context: file->lock. */
static int read_page_locked(struct file *file, uint64_t pgoff, uint32_t pfn)
{
	uint8_t *dst = phys_kaddr(file->mem->phys, pfn);
	uint64_t done = 0;

	while (done < PAGE_SIZE) {
		ssize_t n = pread(file->host_fd, dst + done, PAGE_SIZE - done,
				  (off_t)((pgoff << PAGE_SHIFT) + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -EIO;
		if (n == 0) /* the rest of the frame stays zero */
			break;
		done += (uint64_t)n;
	}
	return 0;
}

int file_get_page(struct file *file, uint64_t pgoff, uint32_t *pfnp)
{
	uint32_t *slot, hint = 0, pfn;
	int err = 0;

	pthread_mutex_lock(&file->lock);
	if (pgoff >= file_pages(file)) {
		err = -EFAULT;
		goto out;
	}
	slot = cache_slot(file, pgoff, true);
	if (!slot) {
		err = -ENOMEM;
		goto out;
	}
	if (*slot) {
		phys_get(file->mem->phys, *slot);
		*pfnp = *slot;
		goto out;
	}
	if (pgoff) {
		uint32_t *prev = cache_slot(file, pgoff - 1, false);

		if (prev && *prev)
			hint = *prev + 1;
	}
	if (!phys_alloc(file->mem->phys, hint, 1, &pfn)) {
		err = -ENOMEM;
		goto out;
	}
	pfn_page(file->mem, pfn)->flags = 0;
	pfn_page(file->mem, pfn)->index = (uint32_t)pgoff; /* < 2^32 pages */
	if (file->host_fd >= 0) {
		err = read_page_locked(file, pgoff, pfn);
		if (err) {
			phys_put(file->mem->phys, pfn);
			goto out;
		}
	}
	*slot = pfn;
	phys_get(file->mem->phys, pfn);
	*pfnp = pfn;
out:
	pthread_mutex_unlock(&file->lock);
	return err;
}

void file_find_pages(struct file *file, uint64_t pgoff, unsigned int nr,
		     uint32_t *pfns)
{
	unsigned int i;

	pthread_mutex_lock(&file->lock);
	for (i = 0; i < nr; i++) {
		uint32_t *slot = pgoff + i < file_pages(file)
					 ? cache_slot(file, pgoff + i, false)
					 : NULL;

		pfns[i] = slot ? *slot : 0;
		if (pfns[i])
			phys_get(file->mem->phys, pfns[i]);
	}
	pthread_mutex_unlock(&file->lock);
}

void file_link_vma(struct file *file, struct vma *vma)
{
	pthread_mutex_lock(&file->lock);
	vma->file_prev = NULL;
	vma->file_next = file->vmas;
	if (file->vmas)
		file->vmas->file_prev = vma;
	file->vmas = vma;
	pthread_mutex_unlock(&file->lock);
}

void file_unlink_vma(struct file *file, struct vma *vma)
{
	pthread_mutex_lock(&file->lock);
	if (vma->file_prev)
		vma->file_prev->file_next = vma->file_next;
	else
		file->vmas = vma->file_next;
	if (vma->file_next)
		vma->file_next->file_prev = vma->file_prev;
	pthread_mutex_unlock(&file->lock);
}

/* Drop the cache of pages [from, to). Context: file->lock held. */
static void cache_drop_range_locked(struct file *file, uint64_t from,
				    uint64_t to)
{
	uint64_t leaf, pgoff;
	unsigned int i;

	for (leaf = from / LEAF_PAGES;
	     leaf < file->nr_leaves && leaf * LEAF_PAGES < to; leaf++) {
		uint32_t *l = file->cache[leaf];

		if (!l)
			continue;
		for (i = 0; i < LEAF_PAGES; i++) {
			pgoff = leaf * LEAF_PAGES + i;
			if (pgoff < from || pgoff >= to || !l[i])
				continue;
			phys_put(file->mem->phys, l[i]);
			l[i] = 0;
		}
		if (leaf * LEAF_PAGES >= from &&
		    (leaf + 1) * LEAF_PAGES <= to) {
			free(l);
			file->cache[leaf] = NULL;
		}
	}
}

/*
 * Add to @mms (*nrp of them) each mm mapping @file not in it yet, with a
 * reference. Returns the array, grown. Context: file->lock held.
 */
static struct mm **file_mms_locked(struct file *file, struct mm **mms,
				   unsigned int *nrp)
{
	unsigned int nr = *nrp, n = 0, i;
	struct vma *vma;

	for (vma = file->vmas; vma; vma = vma->file_next)
		n++;
	mms = realloc(mms, (nr + n + 1) * sizeof(*mms));
	BUG_ON(!mms);
	for (vma = file->vmas; vma; vma = vma->file_next) {
		for (i = 0; i < nr && mms[i] != vma->mm; i++)
			;
		/* An mm being torn down unmaps its vmas anyway. */
		if (i == nr && mm_tryget(vma->mm))
			mms[nr++] = vma->mm;
	}
	*nrp = nr;
	return mms;
}

static void zap_mm_file(struct mm *mm, struct file *file, uint64_t first,
			uint64_t last, bool even_cows)
{
	unsigned int i;

	mm_lock(mm);
	for (i = 0; i < mm->nr_vmas; i++)
		if (mm->vmas[i]->file == file)
			zap_file_range_locked(mm, mm->vmas[i], first, last,
					      even_cows);
	mm_sync_locked(mm);
	mm_unlock(mm);
}

/*
 * Zap the pages [first, last) of @file in every mm mapping it, once the
 * file no longer hands them out. An mm forked meanwhile from one not zapped
 * yet has copied its ptes: so the mms are looked up again until no new one
 * shows up. Fork links the child's vmas to the file before it copies a pte,
 * under the parent's lock, so a child forked before its parent was zapped
 * is found on the next pass, and one forked after copies nothing to zap.
 * Context: no mm lock held.
 */
static void file_zap_all(struct file *file, uint64_t first, uint64_t last,
			 bool even_cows)
{
	unsigned int nr = 0, zapped = 0, i;
	struct mm **mms = NULL;

	for (;;) {
		pthread_mutex_lock(&file->lock);
		mms = file_mms_locked(file, mms, &nr);
		pthread_mutex_unlock(&file->lock);
		if (nr == zapped)
			break;
		for (; zapped < nr; zapped++)
			zap_mm_file(mms[zapped], file, first, last, even_cows);
	}
	/* Held to the end: a freed mm's address may come back as a new mm. */
	for (i = 0; i < nr; i++)
		mm_put(mms[i]);
	free(mms);
}

int file_truncate(struct file *file, uint64_t size)
{
	uint64_t old_pages, new_pages;

	if (!file->writable)
		return -EINVAL;
	if (size > (FILE_MAX_PAGES << PAGE_SHIFT))
		return -EFBIG;
	pthread_mutex_lock(&file->lock);
	old_pages = file_pages(file);
	if (size < file->size && size & ~PAGE_MASK) {
		uint32_t *slot = cache_slot(file, size >> PAGE_SHIFT, false);

		if (slot && *slot) /* the tail of the last page reads 0 */
			memset((uint8_t *)phys_kaddr(file->mem->phys, *slot) +
				       (size & ~PAGE_MASK),
			       0, PAGE_SIZE - (size & ~PAGE_MASK));
	}
	file->size = size;
	new_pages = file_pages(file);
	pthread_mutex_unlock(&file->lock);
	if (new_pages >= old_pages)
		return 0;
	/* Private copies go too, as Linux's truncate does. */
	file_zap_all(file, new_pages, UINT64_MAX, true);
	pthread_mutex_lock(&file->lock);
	cache_drop_range_locked(file, file_pages(file), UINT64_MAX);
	pthread_mutex_unlock(&file->lock);
	return 0;
}

/*
 * Unlike truncate, nothing stops a fault from mapping the hole's pages
 * again while the mms are zapped one by one. So the cache goes first: a
 * fault from then on finds a hole and maps a new zero page (which the zap
 * may drop again, harmlessly: the cache keeps it), never the old one, and
 * the zap then drops every old page still mapped. Linux's shmem_fallocate
 * unmaps before and after it truncates, to the same end.
 */
int file_punch_hole(struct file *file, uint64_t pgoff, uint64_t nr_pages)
{
	uint64_t last = pgoff + nr_pages;

	BUG_ON(!file->writable);
	pthread_mutex_lock(&file->lock);
	cache_drop_range_locked(file, pgoff, last);
	pthread_mutex_unlock(&file->lock);
	/* Private copies stay: Linux's punch unmaps with even_cows off. */
	file_zap_all(file, pgoff, last, false);
	return 0;
}

void file_put(struct file *file)
{
	uint64_t leaf;

	if (!file || __atomic_sub_fetch(&file->refcount, 1, __ATOMIC_ACQ_REL))
		return;
	BUG_ON(file->vmas);
	cache_drop_range_locked(file, 0, UINT64_MAX);
	for (leaf = 0; leaf < file->nr_leaves; leaf++)
		free(file->cache[leaf]);
	free(file->cache);
	if (file->host_fd >= 0)
		close(file->host_fd);
	pthread_mutex_destroy(&file->lock);
	mem_put(file->mem);
	free(file->name);
	free(file);
}

ssize_t file_read(struct file *file, void *buf, size_t len, uint64_t off)
{
	struct phys *phys = file->mem->phys;
	uint64_t size = file_size(file);
	uint8_t *b = buf;
	size_t done = 0;

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		uint64_t pos = off + done;
		size_t in = (size_t)(pos & ~PAGE_MASK), n = PAGE_SIZE - in;
		uint32_t pfn;
		int err;

		if (n > len - done)
			n = len - done;
		err = file_get_page(file, pos >> PAGE_SHIFT, &pfn);
		if (err)
			return done ? (ssize_t)done : err;
		memcpy(b + done, (uint8_t *)phys_kaddr(phys, pfn) + in, n);
		phys_put(phys, pfn);
		done += n;
	}
	return (ssize_t)done;
}
