// SPDX-License-Identifier: MIT
/*
 * The guest kernel's core: the kernel lock, waiting without it, and
 * reading strings from guest memory.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "um/kernel.h"
#include "um/task.h"

void um_kernel_unlock(struct um_kernel *k)
{
	pthread_mutex_unlock(&k->lock);
}

void um_kernel_lock(struct um_kernel *k)
{
	pthread_mutex_lock(&k->lock);
}

bool um_signal_pending(struct um_task *t)
{
	return t->stopping || (t->pending & ~t->blocked);
}

int um_task_wait_fd(struct um_task *t, int host_fd, short events,
		    int timeout_ms)
{
	struct pollfd fds[2] = {
		{.fd = host_fd, .events = events},
		{.fd = t->wake_fd, .events = POLLIN},
	};
	int n;

	if (um_signal_pending(t))
		return -EINTR;
	um_kernel_unlock(t->k);
	do
		n = poll(fds, 2, timeout_ms); /* fd -1: ignored */
	while (n < 0 && errno == EINTR);
	um_kernel_lock(t->k);
	if (um_signal_pending(t))
		return -EINTR;
	if (n < 0)
		return -errno;
	return n > 0 && fds[0].revents ? 1 : 0;
}

long um_strncpy_from_guest(struct mm *mm, char *buf, uint64_t va, size_t size)
{
	size_t done = 0;

	while (done < size) {
		/* up to the end of the page: the next one may not be there */
		size_t n = PAGE_SIZE - ((va + done) & ~PAGE_MASK);
		char *nul;

		if (n > size - done)
			n = size - done;
		if (um_copy_from_guest(mm, buf + done, va + done, n))
			return -EFAULT;
		nul = memchr(buf + done, 0, n);
		if (nul)
			return nul - buf;
		done += n;
	}
	return -ENAMETOOLONG;
}
