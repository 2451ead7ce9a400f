/*
 * fd-epoll.c - epoll sets: the interest list, one watch per "tfd:" line.
 *
 * The tfd number in fdinfo is the number the file had when it was added, and
 * a watch's key is that number and the file together.  If the program dup'd
 * the fd and closed the original, or closed it and opened something else
 * under the same number, the number no longer leads to the file: each watch
 * is checked against the file now at that number (kcmp KCMP_EPOLL_TFD, and
 * the inode the line names), and when that is not it, another fd of the
 * process holding the watched file is found the same way and recorded
 * ("via").  Restore runs after every other fd sits at its number: it points
 * tfd at the file for the moment of EPOLL_CTL_ADD (moving whatever sits
 * there aside and back), so the watch has its old key.  A watched file no fd
 * of the process holds (only another process does) is refused.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
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
		uint32_t k;

		w[i].via = -1;
		ret = target ? watch_matches(ctx, p, t, target) : 0;
		/* the number lies: which fd holds the file now? */
		for (k = 0; ret == 0 && k < ctx->nr_probes; k++) {
			ret = watch_matches(ctx, p, t, &ctx->probes[k]);
			if (ret > 0)
				w[i].via = ctx->probes[k].fd;
		}
		if (ret <= 0) {
			free(w);
			return fd_dump_error(ctx, p, ret ? ret : -ESTALE,
					     "watches a file (ino %llx, added as fd %d) that no fd "
					     "of this process holds any more",
					     (unsigned long long)t->ino, t->tfd);
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

/*
 * Adds watch w to epfd under its old number tfd, which now holds another
 * file or nothing: tfd points at the file of w->via for the moment, and
 * whatever sat at tfd (with its close-on-exec bit) is put back.
 */
static int add_via(struct fd_restore_ctx *ctx, const struct image_fd *f, int epfd,
		   const struct image_epoll_watch *w, struct epoll_event *ev)
{
	int aside = -1, fdflags = fcntl(w->tfd, F_GETFD), ret = 0;

	if (fdflags >= 0) {
		aside = fcntl(w->tfd, F_DUPFD_CLOEXEC, ctx->base);
		if (aside < 0)
			return fd_restore_error(f, -errno, "moving fd %d aside: %s", w->tfd,
						strerror(errno));
	}
	if (dup2(w->via, w->tfd) < 0)
		ret = fd_restore_error(f, -errno, "dup2 %d to %d: %s", w->via, w->tfd,
				       strerror(errno));
	else if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->tfd, ev))
		ret = fd_restore_error(f, -errno, "EPOLL_CTL_ADD fd %d (the file of fd %d): %s",
				       w->tfd, w->via, strerror(errno));
	if (aside < 0) {
		close(w->tfd);
		return ret;
	}
	if (dup3(aside, w->tfd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0 && !ret)
		ret = fd_restore_error(f, -errno, "putting fd %d back: %s", w->tfd,
				       strerror(errno));
	close(aside);
	return ret;
}

int epoll_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	uint32_t i;
	int fd, ret;

	/* in the scratch range: a watch added via another fd borrows a number below it */
	fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return fd_restore_error(f, -errno, "epoll_create1: %s", strerror(errno));
	fd = fd_to_scratch(ctx, fd);
	if (fd < 0)
		return fd_restore_error(f, fd, "moving the epoll fd up: %s", strerror(-fd));
	for (i = 0; i < f->epoll.nr_watches; i++) {
		const struct image_epoll_watch *w = &f->epoll.watches[i];
		struct epoll_event ev = { .events = w->events, .data.u64 = w->data };
		int holder = w->via >= 0 ? w->via : w->tfd;

		if (!image_has_fd(ctx->img, holder) || holder == f->fd) {
			ret = fd_restore_error(f, -EINVAL, "watch on fd %d, which is not restored",
					       holder);
			goto fail;
		}
		if (w->via >= 0) {
			ret = add_via(ctx, f, fd, w, &ev);
			if (ret)
				goto fail;
			continue;
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
