/*
 * fd-epoll.c - epoll sets: the interest list, one watch per "tfd:" line.
 *
 * The tfd number in fdinfo is the number the file had when it was added; if
 * the program dup'd it and closed the original, or closed it and opened
 * something else under the same number, the number lies.  Each watch is
 * therefore checked against the file now at that number (kcmp
 * KCMP_EPOLL_TFD, and the inode the line names); a stale one is an error,
 * not a watch silently attached to the wrong file.  Restore runs after every
 * other fd sits at its number, so EPOLL_CTL_ADD finds each target.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <linux/kcmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"

/* Is the file at tfd in pid the one epfd's watch was made on? */
static int watch_matches(const struct fd_dump_ctx *ctx, const struct fd_probe *ep,
			 const struct fdinfo_tfd *t, const struct fd_probe *target)
{
	struct kcmp_epoll_slot slot = { .efd = (uint32_t)ep->fd, .tfd = (uint32_t)t->tfd };
	dev_t sdev = makedev(t->sdev >> 20, t->sdev & 0xfffff);
	long r;

	if (t->ino != target->st.st_ino || sdev != target->st.st_dev)
		return 0;
	r = syscall(SYS_kcmp, ctx->pid, ctx->pid, KCMP_EPOLL_TFD, target->fd, &slot);
	if (r < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP ? 1 : -errno;
	return r == 0;
}

int epoll_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct image_epoll_watch *w;
	uint32_t i;
	int ret;

	if (p->info.nr_tfds > IMAGE_MAX_WATCHES)
		return fd_dump_error(ctx, p, -E2BIG, "%u watches, at most %d supported",
				     p->info.nr_tfds, IMAGE_MAX_WATCHES);
	w = calloc(p->info.nr_tfds ? p->info.nr_tfds : 1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (i = 0; i < p->info.nr_tfds; i++) {
		const struct fdinfo_tfd *t = &p->info.tfds[i];
		const struct fd_probe *target = fd_probe_find(ctx, t->tfd);

		ret = target ? watch_matches(ctx, p, t, target) : 0;
		if (ret <= 0) {
			free(w);
			return fd_dump_error(ctx, p, ret ? ret : -ESTALE,
					     "watches fd %d, which no longer refers to the file "
					     "it was added with (ino %llx): dup'd and closed?",
					     t->tfd, (unsigned long long)t->ino);
		}
		w[i].tfd = t->tfd;
		w[i].events = t->events;
		w[i].data = t->data;
	}
	out->kind = IMAGE_FD_EPOLL;
	out->pos = 0;
	out->epoll.nr_watches = p->info.nr_tfds;
	out->epoll.watches = w;
	return 0;
}

static bool image_has_fd(const struct image *img, int fd)
{
	uint32_t lo = 0, hi = img->nr_fds;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (img->fds[mid].fd == fd)
			return true;
		if (img->fds[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int epoll_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	uint32_t i;
	int fd, ret;

	fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return fd_restore_error(f, -errno, "epoll_create1: %s", strerror(errno));
	for (i = 0; i < f->epoll.nr_watches; i++) {
		const struct image_epoll_watch *w = &f->epoll.watches[i];
		struct epoll_event ev = { .events = w->events, .data.u64 = w->data };

		if (!image_has_fd(ctx->img, w->tfd) || w->tfd == f->fd) {
			ret = fd_restore_error(f, -EINVAL, "watch on fd %d, which is not restored",
					       w->tfd);
			goto fail;
		}
		if (epoll_ctl(fd, EPOLL_CTL_ADD, w->tfd, &ev)) {
			ret = fd_restore_error(f, -errno, "EPOLL_CTL_ADD fd %d events %x: %s",
					       w->tfd, w->events, strerror(errno));
			goto fail;
		}
	}
	ret = fd_set_flags_pos(fd, f, false);
	if (ret)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return ret;
}
