/*
 * fd-eventfd.c - eventfd: a 64-bit counter and the semaphore flag.
 *
 * The counter is read from fdinfo: reading the fd would consume it.  At
 * restore it is written back rather than passed to eventfd(), whose initial
 * value is only an unsigned int.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"

int eventfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	if (!p->info.has_eventfd)
		return fd_dump_error(ctx, p, -EINVAL, "fdinfo has no eventfd-count");
	out->kind = IMAGE_FD_EVENTFD;
	out->pos = 0;
	out->eventfd.count = p->info.eventfd_count;
	out->eventfd.is_semaphore = p->info.eventfd_semaphore;
	return 0;
}

int eventfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	uint64_t count = f->eventfd.count;
	int fd, ret;

	(void)ctx;
	/* the kernel's counter never reaches UINT64_MAX: a write of it is refused */
	if (count == UINT64_MAX)
		return fd_restore_error(f, -EINVAL, "count %llx out of range",
					(unsigned long long)count);
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK |
				(f->eventfd.is_semaphore ? EFD_SEMAPHORE : 0));
	if (fd < 0)
		return fd_restore_error(f, -errno, "eventfd: %s", strerror(errno));
	if (count && write(fd, &count, sizeof(count)) != sizeof(count)) {
		ret = fd_restore_error(f, -errno, "setting count %llu: %s",
				       (unsigned long long)count, strerror(errno));
		close(fd);
		return ret;
	}
	ret = fd_set_flags_pos(fd, f, false);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}
