/*
 * fd-pipe.c - pipes and FIFOs, with the bytes buffered in them.
 *
 * Dump: the buffered bytes are copied without consuming them: tee() from a
 * read end of the pipe into a private pipe of the same capacity, then read
 * the private pipe.  Reading the target's pipe, even through a freshly
 * opened read end, would take the bytes away from it.  Every fd of one pipe
 * shares its inode number; the bytes are stored once, on the lowest fd.
 * Stdio on a pipe whose other end the process does not hold (a shell
 * pipeline, a supervisor's log pipe) is inherited from thaw restore instead.
 *
 * Restore: one pipe (or one FIFO, opened O_RDWR|O_NONBLOCK so that opening
 * it never blocks) per inode, capacity first, then the bytes written back;
 * each fd is a new open of it through /proc/self/fd, so that every fd has its
 * own status flags as it had before.  See fds.h for what becomes of the end
 * that was held outside the process.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fds.h"

static bool is_anon_pipe(const struct fd_probe *p)
{
	return S_ISFIFO(p->st.st_mode) && !strncmp(p->link, "pipe:[", 6);
}

static bool reads(uint32_t flags)
{
	return (flags & O_ACCMODE) != O_WRONLY;
}

static bool writes(uint32_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

/* Stdio on an anonymous pipe whose other end lives outside the process. */
static bool pipe_is_inherited(const struct fd_dump_ctx *ctx, const struct fd_probe *p)
{
	uint32_t i;

	if (p->fd > 2 || !is_anon_pipe(p))
		return false;
	for (i = 0; i < ctx->nr_probes; i++) {
		const struct fd_probe *q = &ctx->probes[i];

		if (q == p || !is_anon_pipe(q) || q->st.st_ino != p->st.st_ino)
			continue;
		if (reads(p->info.flags) ? writes(q->info.flags) : reads(q->info.flags))
			return false;
	}
	/* the other end held by another process of the tree: restored with it */
	return !fd_tree_has(ctx, p->st.st_ino, false, reads(p->info.flags) ? writes : reads);
}

/* Copies the bytes buffered in the pipe that rd reads, without consuming them. */
static int peek_pipe(struct fd_dump_ctx *ctx, struct fd_probe *p, int rd, uint32_t capacity,
		     struct image_blob *ret)
{
	int priv[2], queued = 0, err = 0;
	ssize_t n, got = 0;
	char *buf;

	if (ioctl(rd, FIONREAD, &queued))
		return fd_dump_error(ctx, p, -errno, "FIONREAD: %s", strerror(errno));
	if (queued <= 0)
		return 0;
	if ((uint32_t)queued > capacity)
		return fd_dump_error(ctx, p, -EIO, "%d bytes buffered in a pipe of %u", queued,
				     capacity);
	if (pipe2(priv, O_NONBLOCK | O_CLOEXEC))
		return fd_dump_error(ctx, p, -errno, "pipe2: %s", strerror(errno));
	buf = malloc((size_t)queued);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	/* the private pipe needs as many slots as the target's: tee copies buffer by buffer */
	if (fcntl(priv[1], F_SETPIPE_SZ, capacity) < 0) {
		err = fd_dump_error(ctx, p, -errno, "F_SETPIPE_SZ %u: %s", capacity,
				    strerror(errno));
		goto out;
	}
	n = tee(rd, priv[1], (size_t)queued, SPLICE_F_NONBLOCK);
	if (n != queued) {
		err = fd_dump_error(ctx, p, n < 0 ? -errno : -EIO,
				    "tee copied %zd of %d buffered bytes: %s", n, queued,
				    n < 0 ? strerror(errno) : "short");
		goto out;
	}
	while (got < queued) {
		n = read(priv[0], buf + got, (size_t)(queued - got));
		if (n <= 0) {
			err = fd_dump_error(ctx, p, n < 0 ? -errno : -EIO, "reading the copy: %s",
					    n < 0 ? strerror(errno) : "short");
			goto out;
		}
		got += n;
	}
	err = image_add_blob(ctx->img, buf, (size_t)queued, ret);
	if (err)
		fd_dump_error(ctx, p, err, "saving %d buffered bytes: %s", queued, strerror(-err));
out:
	free(buf);
	close(priv[0]);
	close(priv[1]);
	return err;
}

int pipe_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	const struct fd_probe *rd = NULL;
	char proc_path[64];
	int capacity, fd, ret;
	uint32_t i;
	bool first = true;

	if (pipe_is_inherited(ctx, p)) {
		out->kind = IMAGE_FD_INHERIT;
		out->inherit.from = p->fd;
		return 0;
	}
	out->kind = is_anon_pipe(p) ? IMAGE_FD_PIPE : IMAGE_FD_FIFO;
	out->pos = 0;
	out->pipe.ino = p->st.st_ino;
	out->pipe.is_write_end = !reads(p->info.flags);
	capacity = fcntl(p->local, F_GETPIPE_SZ);
	if (capacity <= 0)
		return fd_dump_error(ctx, p, capacity < 0 ? -errno : -EIO, "F_GETPIPE_SZ: %s",
				     strerror(errno));
	out->pipe.capacity = (uint32_t)capacity;
	fd_probe_path(ctx, p, proc_path, sizeof(proc_path));
	if (out->kind == IMAGE_FD_FIFO) {
		if (p->st.st_nlink == 0)
			return fd_dump_error(ctx, p, -ENOTSUP, "a removed FIFO is not supported");
		ret = files_add(ctx->img, ctx->pid, proc_path, p->link, false);
		if (ret < 0)
			return fd_dump_error(ctx, p, ret, "cannot record the FIFO");
		out->file = ret;
	}

	/*
	 * The bytes go with the first fd of the pipe that is not inherited; a
	 * file in flight comes before every fd, but leaves them to an fd.
	 */
	for (i = 0; i < ctx->nr_probes && (p->fd < 0 || ctx->probes[i].fd < p->fd); i++) {
		const struct fd_probe *q = &ctx->probes[i];

		if (S_ISFIFO(q->st.st_mode) && q->st.st_ino == p->st.st_ino &&
		    q->st.st_dev == p->st.st_dev && !pipe_is_inherited(ctx, q))
			first = false;
	}
	for (i = 0; first && i < ctx->nr_flight; i++)
		if (ctx->flight[i].kind == out->kind && ctx->flight[i].pipe.ino == out->pipe.ino)
			first = false;
	if (!first)
		return 0;
	for (i = 0; i < ctx->nr_probes && !rd; i++) {
		const struct fd_probe *q = &ctx->probes[i];

		if (S_ISFIFO(q->st.st_mode) && q->st.st_ino == p->st.st_ino &&
		    q->st.st_dev == p->st.st_dev && reads(q->info.flags))
			rd = q;
	}
	if (rd)
		return peek_pipe(ctx, p, rd->local, out->pipe.capacity, &out->pipe.data);
	/* Only write ends here: a read end of our own, to tee from; it takes nothing. */
	fd = open(proc_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fd_dump_error(ctx, p, -errno, "opening a read end: %s", strerror(errno));
	ret = peek_pipe(ctx, p, fd, out->pipe.capacity, &out->pipe.data);
	close(fd);
	return ret;
}

static int pipe_fill(struct fd_restore_ctx *ctx, const struct image_fd *f, struct restore_pipe *rp)
{
	const struct image *img = ctx->img;
	uint32_t capacity = 0, i;
	void *data;
	ssize_t n;
	int cur, ret;

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *g = &img->fds[i];

		if (g->kind != rp->kind || g->pipe.ino != rp->ino)
			continue;
		if (g->pipe.capacity > capacity)
			capacity = g->pipe.capacity;
		rp->has_rd_fd |= reads(g->flags);
		rp->has_wr_fd |= writes(g->flags);
	}
	cur = fcntl(rp->wr, F_GETPIPE_SZ);
	if (capacity && cur >= 0 && (uint32_t)cur != capacity &&
	    fcntl(rp->wr, F_SETPIPE_SZ, capacity) < 0)
		return fd_restore_error(f, -errno, "F_SETPIPE_SZ %u: %s", capacity,
					strerror(errno));
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *g = &img->fds[i];

		if (g->kind != rp->kind || g->pipe.ino != rp->ino || !g->pipe.data.len)
			continue;
		ret = image_read_blob(img, &g->pipe.data, &data);
		if (ret)
			return fd_restore_error(f, ret, "reading the pipe's bytes: %s",
						strerror(-ret));
		n = write(rp->wr, data, g->pipe.data.len);
		free(data);
		if (n != (ssize_t)g->pipe.data.len)
			return fd_restore_error(f, n < 0 ? -errno : -ENOSPC,
						"writing %llu buffered bytes back: %s",
						(unsigned long long)g->pipe.data.len,
						n < 0 ? strerror(errno) : "short write");
	}
	return 0;
}

static int pipe_create(struct fd_restore_ctx *ctx, const struct image_fd *f,
		       struct restore_pipe *rp)
{
	const struct image_file *file;
	struct stat st;
	int ends[2];

	rp->ino = f->pipe.ino;
	rp->kind = f->kind;
	rp->rd = rp->wr = -1;
	if (f->kind == IMAGE_FD_PIPE) {
		if (pipe2(ends, O_NONBLOCK | O_CLOEXEC))
			return fd_restore_error(f, -errno, "pipe2: %s", strerror(errno));
		rp->rd = fd_to_scratch(ctx, ends[0]);
		rp->wr = fd_to_scratch(ctx, ends[1]);
		if (rp->rd < 0 || rp->wr < 0)
			return fd_restore_error(f, rp->rd < 0 ? rp->rd : rp->wr,
						"moving the pipe out of the way");
	} else {
		if (f->file < 0 || (uint32_t)f->file >= ctx->img->nr_files)
			return fd_restore_error(f, -EINVAL, "file index %d out of range", f->file);
		file = &ctx->img->files[f->file];
		rp->rd = fd_to_scratch(ctx, open(file->path, O_RDWR | O_NONBLOCK | O_CLOEXEC));
		if (rp->rd < 0)
			return fd_restore_error(f, -errno, "open FIFO %s: %s", file->path,
						strerror(errno));
		rp->wr = rp->rd;
		if (fstat(rp->rd, &st) || !S_ISFIFO(st.st_mode))
			return fd_restore_error(f, -ESTALE, "%s is no longer a FIFO", file->path);
	}
	return pipe_fill(ctx, f, rp);
}

int pipe_make_shared(struct fd_restore_ctx *ctx, const struct image_fd *f, int *rd, int *wr)
{
	struct restore_pipe rp = { 0 };
	int ret = pipe_create(ctx, f, &rp);

	*rd = *wr = -1;
	if (!ret) {
		*rd = rp.rd;
		*wr = rp.wr == rp.rd ? -1 : rp.wr;
		return 0;
	}
	if (rp.rd >= 0)
		close(rp.rd);
	if (rp.wr >= 0 && rp.wr != rp.rd)
		close(rp.wr);
	return ret;
}

/* The tree made this pipe already: take copies of its ends. */
static int pipe_from_tree(struct fd_restore_ctx *ctx, const struct image_fd *f,
			  struct restore_pipe *rp)
{
	int rd, wr;

	if (f->kind == IMAGE_FD_FIFO) {
		rd = wr = fd_shared_find(ctx->shared, FD_SHARED_FIFO, f->pipe.ino);
	} else {
		rd = fd_shared_find(ctx->shared, FD_SHARED_PIPE_RD, f->pipe.ino);
		wr = fd_shared_find(ctx->shared, FD_SHARED_PIPE_WR, f->pipe.ino);
	}
	if (rd < 0 || wr < 0)
		return 1;
	*rp = (struct restore_pipe){ .ino = f->pipe.ino, .kind = f->kind, .is_shared = true };
	rp->rd = fd_to_scratch(ctx, fcntl(rd, F_DUPFD_CLOEXEC, 0));
	rp->wr = rd == wr ? rp->rd : fd_to_scratch(ctx, fcntl(wr, F_DUPFD_CLOEXEC, 0));
	if (rp->rd < 0 || rp->wr < 0)
		return fd_restore_error(f, -EMFILE, "taking the tree's pipe:[%llu]",
					(unsigned long long)f->pipe.ino);
	return 0;
}

int pipe_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	struct restore_pipe *rp = NULL;
	uint32_t i, accmode = f->flags & O_ACCMODE;
	int fd, ret;

	for (i = 0; i < ctx->nr_pipes && !rp; i++)
		if (ctx->pipes[i].ino == f->pipe.ino && ctx->pipes[i].kind == f->kind)
			rp = &ctx->pipes[i];
	if (!rp) {
		rp = &ctx->pipes[ctx->nr_pipes++];
		ret = pipe_from_tree(ctx, f, rp);
		if (ret == 1)
			ret = pipe_create(ctx, f, rp);
		if (ret)
			return ret;
	}
	if (accmode != O_RDONLY && accmode != O_WRONLY && accmode != O_RDWR)
		return fd_restore_error(f, -EINVAL, "access mode %o", accmode);
	/* a new open, not a dup: this fd's status flags are its own */
	fd = fd_reopen(accmode == O_WRONLY ? rp->wr : rp->rd, (int)accmode | O_NONBLOCK);
	if (fd < 0)
		return fd_restore_error(f, -errno, "reopening the pipe: %s", strerror(errno));
	ret = fd_set_flags_pos(fd, f, false);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}

int pipes_finish(struct fd_restore_ctx *ctx, int *next_fd)
{
	uint32_t i;
	int keep, n;

	for (i = 0; i < ctx->nr_pipes; i++) {
		struct restore_pipe *rp = &ctx->pipes[i];

		keep = -1;
		if (rp->kind == IMAGE_FD_PIPE && !rp->is_shared && rp->has_rd_fd != rp->has_wr_fd) {
			keep = rp->has_rd_fd ? rp->wr : rp->rd;
			if (keep == rp->wr)
				rp->wr = -1;
			else
				rp->rd = -1;
		}
		if (rp->rd >= 0)
			close(rp->rd);
		if (rp->wr >= 0 && rp->wr != rp->rd)
			close(rp->wr);
		rp->rd = rp->wr = -1;
		if (keep < 0)
			continue;
		/* the other end was outside the process: it stays, so the peer looks alive */
		n = fcntl(keep, F_DUPFD_CLOEXEC, ctx->base);
		if (n < 0) {
			n = log_errno("pipe:[%llu]: keeping its outside end",
				      (unsigned long long)rp->ino);
			close(keep);
			return n;
		}
		close(keep);
		log_info("pipe:[%llu]: its end outside the process stays open as fd %d",
			 (unsigned long long)rp->ino, n);
		if (n >= *next_fd)
			*next_fd = n + 1;
	}
	return 0;
}

void pipes_release(struct fd_restore_ctx *ctx)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_pipes; i++) {
		struct restore_pipe *rp = &ctx->pipes[i];

		if (rp->rd >= 0)
			close(rp->rd);
		if (rp->wr >= 0 && rp->wr != rp->rd)
			close(rp->wr);
		rp->rd = rp->wr = -1;
	}
}
