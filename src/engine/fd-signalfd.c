/*
 * fd-signalfd.c - signalfd: only its mask.  The signals it would read are
 * pending on the threads and the process, and come back with them.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"

int signalfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	if (!p->info.has_sigmask)
		return fd_dump_error(ctx, p, -EINVAL, "fdinfo has no sigmask");
	out->kind = IMAGE_FD_SIGNALFD;
	out->pos = 0;
	out->signalfd.mask = p->info.sigmask;
	return 0;
}

int signalfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	uint64_t mask = f->signalfd.mask;
	int fd, ret;

	(void)ctx;
	/*
	 * The raw system call: glibc's sigaddset() refuses the signals it keeps
	 * for itself (32, 33), which a program may still have put in its mask.
	 */
	fd = (int)syscall(SYS_signalfd4, -1, &mask, sizeof(mask), O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fd_restore_error(f, -errno, "signalfd mask %llx: %s",
					(unsigned long long)mask, strerror(errno));
	ret = fd_set_flags_pos(fd, f, false);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}
