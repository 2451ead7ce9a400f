/*
 * fd-memfd.c - memfd fds.  The object itself (name, size, contents, seals)
 * is a shmem object (shmem.c), shared with any MAP_SHARED mapping of it; an
 * fd is a new open of that object with its own flags and offset.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fds.h"
#include "engine/shmem.h"

int memfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	char path[64];
	int idx;

	fd_probe_path(ctx, p, path, sizeof(path));
	idx = shmem_dump(ctx->img, ctx->pid, path, p->st.st_ino);
	if (idx < 0)
		return fd_dump_error(ctx, p, idx, "cannot save the memfd");
	out->kind = IMAGE_FD_MEMFD;
	out->memfd.shmem = idx;
	return 0;
}

/*
 * Is f the one writable description of its memfd?  memfd_create() hands out
 * a description that, unlike any later open() of the memfd, is not counted
 * as a writer of the inode, so the program may execute the memfd (execveat)
 * while holding it; a reopen would make that fail with ETXTBSY.  Which
 * description memfd_create() made is not visible, but when the process holds
 * one writable description only, and the memfd is its alone (not made for
 * several processes of a tree), it is that one, or one as good for the
 * program: it gets the description the restore made with memfd_create().
 */
static bool is_creators(const struct fd_restore_ctx *ctx, const struct image_fd *f)
{
	const struct image *img = ctx->img;
	uint32_t i;

	/* memfd_create() makes O_RDWR descriptions */
	if ((f->flags & O_ACCMODE) != O_RDWR ||
	    fd_shared_find(ctx->shared, FD_SHARED_SHMEM, img->shmems[f->memfd.shmem].ino) >= 0)
		return false;
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *o = &img->fds[i];

		if (o != f && o->kind == IMAGE_FD_MEMFD && o->memfd.shmem == f->memfd.shmem &&
		    (o->flags & O_ACCMODE) != O_RDONLY && (!f->share || o->share != f->share))
			return false;
	}
	return true;
}

/*
 * A memfd only in flight (no fd of the process, no mapping, no other process
 * holds it) gets its seals now, before its message takes it: the end of the
 * restore seals through an fd or mapping of the process (restore.c).
 */
static int seal_in_flight(const struct fd_restore_ctx *ctx, const struct image_fd *f)
{
	const struct image *img = ctx->img;
	const struct image_shmem *s = &img->shmems[f->memfd.shmem];
	int fd = ctx->shmem_fds[f->memfd.shmem], cur;
	uint32_t i;

	if (f->fd >= 0 || !s->is_memfd || !s->seals ||
	    fd_shared_find(ctx->shared, FD_SHARED_SHMEM, s->ino) >= 0)
		return 0;
	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd >= 0 && img->fds[i].kind == IMAGE_FD_MEMFD &&
		    img->fds[i].memfd.shmem == f->memfd.shmem)
			return 0;
	for (i = 0; i < img->nr_vmas; i++)
		if (img->vmas[i].kind == IMAGE_VMA_SHMEM && img->vmas[i].shmem == f->memfd.shmem)
			return 0;
	cur = fcntl(fd, F_GET_SEALS);
	if ((cur < 0 || ((uint32_t)cur & s->seals) != s->seals) &&
	    fcntl(fd, F_ADD_SEALS, s->seals) < 0)
		return fd_restore_error(f, -errno, "adding seals %#x to the memfd in flight: %s",
					s->seals, strerror(errno));
	return 0;
}

int memfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	int flags = (int)(f->flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_LARGEFILE));
	int fd, ret;

	if (f->memfd.shmem < 0 || (uint32_t)f->memfd.shmem >= ctx->img->nr_shmems ||
	    !ctx->shmem_fds || ctx->shmem_fds[f->memfd.shmem] < 0)
		return fd_restore_error(f, -EINVAL, "shmem %d was not restored", f->memfd.shmem);
	if (ctx->img->shmems[f->memfd.shmem].is_memfd && is_creators(ctx, f))
		fd = fcntl(ctx->shmem_fds[f->memfd.shmem], F_DUPFD_CLOEXEC, 0);
	else
		fd = fd_reopen(ctx->shmem_fds[f->memfd.shmem], flags);
	if (fd < 0)
		return fd_restore_error(f, -errno, "reopening memfd: %s", strerror(errno));
	ret = seal_in_flight(ctx, f);
	if (!ret)
		ret = fd_set_flags_pos(fd, f, true);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}
