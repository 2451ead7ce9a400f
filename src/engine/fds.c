/*
 * fds.c - dump and restore of a process's file descriptors: the driver.
 *
 * Dump: every fd is probed once through a pidfd_getfd() copy (the same open
 * file description as the target's, so it is only ever inspected: fstat,
 * pread, tee, fdinfo, never read or lseek), classified by its /proc link and
 * mode, and handed to the dump half of its kind (fd-*.c).
 *
 * Restore (in the helper, before the restorer blob replaces its memory): the
 * numbers above every image fd, up to min_fd, are scratch space.  Every
 * object is first created there (so that nothing the helper still needs,
 * like its stderr, is overwritten early), then dup3()'d to its number in one
 * pass; epoll sets come last because EPOLL_CTL_ADD needs every target at its
 * number.  Whatever else is below min_fd is closed.
 */
#define LOG_TAG "fds"

#include "engine/fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif

/* ---------------------------------------------------------------- dump */

int fd_dump_error(const struct fd_dump_ctx *ctx, const struct fd_probe *p, int err,
		  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("pid %d fd %d (%s): %s", ctx->pid, p->fd, p->link, msg);
	return err;
}

const struct fd_probe *fd_probe_find(const struct fd_dump_ctx *ctx, int fd)
{
	uint32_t lo = 0, hi = ctx->nr_probes;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ctx->probes[mid].fd == fd)
			return &ctx->probes[mid];
		if (ctx->probes[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The fd numbers of pid, sorted. Caller frees *ret. */
static int list_fds(pid_t pid, int **ret, uint32_t *ret_nr)
{
	char path[64];
	struct dirent *de;
	uint32_t nr = 0, cap = 64;
	int *fds, *nfds, ret_err = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return log_errno("pid %d: cannot list %s", pid, path);
	fds = malloc(cap * sizeof(*fds));
	if (!fds) {
		ret_err = -ENOMEM;
		goto out;
	}
	while ((errno = 0, de = readdir(dir))) {
		char *end;
		long n;

		if (de->d_name[0] == '.')
			continue;
		n = strtol(de->d_name, &end, 10);
		if (*end || n < 0 || n > INT32_MAX)
			continue;
		if (nr == IMAGE_MAX_FDS) {
			log_error("pid %d: more than %d fds", pid, IMAGE_MAX_FDS);
			ret_err = -E2BIG;
			goto out;
		}
		if (nr == cap) {
			cap *= 2;
			nfds = realloc(fds, cap * sizeof(*fds));
			if (!nfds) {
				ret_err = -ENOMEM;
				goto out;
			}
			fds = nfds;
		}
		fds[nr++] = (int)n;
	}
	if (errno) {
		ret_err = log_errno("pid %d: reading %s", pid, path);
		goto out;
	}
	qsort(fds, nr, sizeof(*fds), cmp_int);
	*ret = fds;
	*ret_nr = nr;
	fds = NULL;
out:
	free(fds);
	closedir(dir);
	return ret_err;
}

static int probe_fd(pid_t pid, int pidfd, int fd, struct fd_probe *p)
{
	char path[64], *buf = NULL;
	size_t len, off;
	ssize_t n;
	int ret;

	p->fd = fd;
	p->local = -1;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, p->link, sizeof(p->link) - 1);
	if (n < 0)
		return log_errno("pid %d fd %d: readlink %s", pid, fd, path);
	p->link[n] = '\0';
	p->local = (int)syscall(__NR_pidfd_getfd, pidfd, fd, 0);
	if (p->local < 0)
		return log_errno("pid %d fd %d (%s): pidfd_getfd", pid, fd, p->link);
	if (fstat(p->local, &p->st))
		return log_errno("pid %d fd %d (%s): fstat", pid, fd, p->link);
	ret = fdinfo_read(pid, fd, &buf, &len);
	if (ret) {
		log_error("pid %d fd %d (%s): reading fdinfo: %s", pid, fd, p->link,
			  strerror(-ret));
		return ret;
	}
	ret = fdinfo_parse(buf, len, &p->info, &off);
	if (ret)
		log_error("pid %d fd %d (%s): fdinfo unreadable at byte %zu: %s", pid, fd, p->link,
			  off, strerror(-ret));
	free(buf);
	return ret;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* Kinds we know and refuse, with what to tell people. */
static const struct {
	const char *prefix;
	const char *why;
} unsupported[] = {
	{ "anon_inode:[io_uring]", "io_uring is not supported (disable it in the program)" },
	{ "anon_inode:inotify", "inotify is not supported yet" },
	{ "anon_inode:[fanotify]", "fanotify is not supported" },
	{ "anon_inode:[userfaultfd]", "userfaultfd is not supported" },
	{ "anon_inode:[perf_event]", "perf events are not supported" },
	{ "anon_inode:bpf", "bpf objects are not supported" },
	{ "anon_inode:[pidfd]", "pidfds are not supported" },
	{ "pidfd:", "pidfds are not supported" },
	{ "/dev/nvidia", "GPU device fds must be closed by the GPU checkpoint first" },
};

static int dump_one(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	const char *link = p->link;
	size_t i;

	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (has_prefix(link, unsupported[i].prefix))
			return fd_dump_error(ctx, p, -ENOTSUP, "%s", unsupported[i].why);

	if (link[0] == '/') {
		if (S_ISREG(p->st.st_mode) && has_prefix(link, "/memfd:") && p->st.st_nlink == 0)
			return memfd_dump(ctx, p, out);
		if (S_ISREG(p->st.st_mode) || S_ISDIR(p->st.st_mode) || S_ISCHR(p->st.st_mode))
			return file_dump(ctx, p, out);
		if (S_ISFIFO(p->st.st_mode))
			return pipe_dump(ctx, p, out);
		if (S_ISSOCK(p->st.st_mode))
			return socket_dump(ctx, p, out);
		if (S_ISBLK(p->st.st_mode))
			return fd_dump_error(ctx, p, -ENOTSUP, "block devices are not supported");
	} else if (has_prefix(link, "socket:[") && S_ISSOCK(p->st.st_mode)) {
		return socket_dump(ctx, p, out);
	} else if (has_prefix(link, "pipe:[")) {
		return pipe_dump(ctx, p, out);
	} else if (!strcmp(link, "anon_inode:[eventfd]")) {
		return eventfd_dump(ctx, p, out);
	} else if (!strcmp(link, "anon_inode:[eventpoll]")) {
		return epoll_dump(ctx, p, out);
	} else if (!strcmp(link, "anon_inode:[signalfd]")) {
		return signalfd_dump(ctx, p, out);
	} else if (!strcmp(link, "anon_inode:[timerfd]")) {
		return timerfd_dump(ctx, p, out);
	}
	return fd_dump_error(ctx, p, -ENOTSUP, "this kind of file is not supported");
}

static bool is_external(int fd, const int *external, size_t nr_external)
{
	size_t i;

	for (i = 0; i < nr_external; i++)
		if (external[i] == fd)
			return true;
	return false;
}

int fds_dump(pid_t pid, struct image *img, const int *external, size_t nr_external)
{
	return fds_dump_with(pid, img, external, nr_external, false);
}

int fds_dump_with(pid_t pid, struct image *img, const int *external, size_t nr_external,
		  bool tcp_close)
{
	struct fd_dump_ctx ctx = { .pid = pid, .img = img, .tcp_close = tcp_close };
	int *numbers = NULL, pidfd, ret;
	uint32_t nr = 0, i;

	pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0)
		return log_errno("pid %d: pidfd_open", pid);
	ret = list_fds(pid, &numbers, &nr);
	if (ret)
		goto out;
	ctx.probes = calloc(nr ? nr : 1, sizeof(*ctx.probes));
	if (!ctx.probes) {
		ret = -ENOMEM;
		goto out;
	}
	/* Probe everything first: pipes and epoll need to see the other fds. */
	for (i = 0; i < nr; i++) {
		ctx.nr_probes = i + 1;
		ret = probe_fd(pid, pidfd, numbers[i], &ctx.probes[i]);
		if (ret)
			goto out;
	}
	for (i = 0; i < nr; i++) {
		struct fd_probe *p = &ctx.probes[i];
		struct image_fd f = { 0 }, *slot;

		f.fd = p->fd;
		f.cloexec = p->info.flags & O_CLOEXEC;
		f.flags = p->info.flags & ~(uint32_t)O_CLOEXEC;
		f.pos = p->info.pos;
		f.file = -1;
		if (is_external(p->fd, external, nr_external)) {
			f.kind = IMAGE_FD_INHERIT;
			f.inherit.from = p->fd;
			ret = 0;
		} else {
			ret = dump_one(&ctx, p, &f);
		}
		if (ret)
			goto out;
		slot = image_new_fd(img);
		if (!slot) {
			if (f.kind == IMAGE_FD_EPOLL)
				free(f.epoll.watches);
			ret = -ENOMEM;
			goto out;
		}
		*slot = f;
		log_debug("pid %d fd %d (%s): %s", pid, f.fd, p->link, image_fd_kind_name(f.kind));
	}
	ret = 0;
out:
	for (i = 0; i < ctx.nr_probes; i++) {
		if (ctx.probes[i].local >= 0)
			close(ctx.probes[i].local);
		fdinfo_release(&ctx.probes[i].info);
	}
	free(ctx.probes);
	free(numbers);
	close(pidfd);
	return ret;
}

/* ------------------------------------------------------------- restore */

int fd_restore_error(const struct image_fd *f, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("restoring fd %d (%s): %s", f->fd, image_fd_kind_name(f->kind), msg);
	return err;
}

int fd_to_scratch(const struct fd_restore_ctx *ctx, int fd)
{
	int moved, err;

	if (fd < 0)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, ctx->base);
	err = errno;
	close(fd);
	return moved < 0 ? -err : moved;
}

int fd_reopen(int fd, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, flags | O_CLOEXEC);
}

/* The status flags F_SETFL can change; O_ASYNC would also need an owner, which we do not keep. */
#define SETFL_MASK (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME)

int fd_set_flags_pos(int fd, const struct image_fd *f, bool seek)
{
	int cur = fcntl(fd, F_GETFL);

	if (cur < 0)
		return fd_restore_error(f, -errno, "F_GETFL: %s", strerror(errno));
	if (((uint32_t)cur & SETFL_MASK) != (f->flags & SETFL_MASK) &&
	    fcntl(fd, F_SETFL, ((uint32_t)cur & ~SETFL_MASK) | (f->flags & SETFL_MASK)))
		return fd_restore_error(f, -errno, "F_SETFL %#o: %s", f->flags, strerror(errno));
	if (seek && f->pos > INT64_MAX)
		return fd_restore_error(f, -EINVAL, "offset %llu out of range",
					(unsigned long long)f->pos);
	if (seek && lseek(fd, (off_t)f->pos, SEEK_SET) < 0)
		return fd_restore_error(f, -errno, "lseek to %llu: %s",
					(unsigned long long)f->pos, strerror(errno));
	return 0;
}

static int check_image_fds(const struct image *img, int min_fd)
{
	uint32_t i;

	if (img->nr_fds > IMAGE_MAX_FDS)
		return -E2BIG;
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if (f->fd < 0 || f->fd >= min_fd || (i && f->fd <= img->fds[i - 1].fd)) {
			log_error("image fd %d: out of order or not below %d", f->fd, min_fd);
			return -EINVAL;
		}
		if (f->kind >= IMAGE_FD_KIND_COUNT) {
			log_error("image fd %d: unknown kind %u", f->fd, f->kind);
			return -EINVAL;
		}
		if (f->kind == IMAGE_FD_INHERIT && f->inherit.from != f->fd) {
			log_error("image fd %d: inherits from fd %d, not its own number", f->fd,
				  f->inherit.from);
			return -EINVAL;
		}
	}
	return 0;
}

static int open_one(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	switch (f->kind) {
	case IMAGE_FD_FILE:
	case IMAGE_FD_DIR:
	case IMAGE_FD_CHR:
		return file_open(ctx, f, ret_fd);
	case IMAGE_FD_PIPE:
	case IMAGE_FD_FIFO:
		return pipe_open(ctx, f, ret_fd);
	case IMAGE_FD_INHERIT:
		*ret_fd = fcntl(f->inherit.from, F_DUPFD_CLOEXEC, 0);
		if (*ret_fd < 0)
			return fd_restore_error(f, -errno, "thaw restore has no fd %d to give: %s",
						f->inherit.from, strerror(errno));
		return 0;
	case IMAGE_FD_EVENTFD:
		return eventfd_open(ctx, f, ret_fd);
	case IMAGE_FD_SIGNALFD:
		return signalfd_open(ctx, f, ret_fd);
	case IMAGE_FD_TIMERFD:
		return timerfd_open(ctx, f, ret_fd);
	case IMAGE_FD_MEMFD:
		return memfd_open(ctx, f, ret_fd);
	case IMAGE_FD_SOCKET:
		return socket_open(ctx, f, ret_fd);
	default:
		return fd_restore_error(f, -EINVAL, "cannot be opened here");
	}
}

/* Moves fd to f->fd (closing fd) with the dumped close-on-exec bit. */
static int place(int fd, const struct image_fd *f)
{
	if (fd == f->fd) {
		if (fcntl(fd, F_SETFD, f->cloexec ? FD_CLOEXEC : 0))
			return fd_restore_error(f, -errno, "F_SETFD: %s", strerror(errno));
		return 0;
	}
	if (dup3(fd, f->fd, f->cloexec ? O_CLOEXEC : 0) < 0) {
		int err = errno;

		close(fd);
		return fd_restore_error(f, -err, "dup3 to its number: %s", strerror(err));
	}
	close(fd);
	return 0;
}

/* Closes every number in [first, last]. */
static void close_numbers(int first, int last)
{
	if (first > last)
		return;
	if (syscall(__NR_close_range, (unsigned int)first, (unsigned int)last, 0) == 0)
		return;
	for (int n = first; n <= last; n++)
		close(n);
}

/* Epoll sets in an order where every epoll target exists first (epoll can nest). */
static int restore_epolls(struct fd_restore_ctx *ctx, bool *placed)
{
	const struct image *img = ctx->img;
	bool progress = true;
	uint32_t left = 0, i;
	int ret, fd;

	for (i = 0; i < img->nr_fds; i++)
		left += img->fds[i].kind == IMAGE_FD_EPOLL;
	while (left && progress) {
		progress = false;
		for (i = 0; i < img->nr_fds; i++) {
			const struct image_fd *f = &img->fds[i];
			uint32_t w, j;
			bool ready = true;

			if (f->kind != IMAGE_FD_EPOLL || placed[i])
				continue;
			for (w = 0; w < f->epoll.nr_watches && ready; w++) {
				for (j = 0; j < img->nr_fds; j++)
					if (img->fds[j].fd == f->epoll.watches[w].tfd)
						break;
				/* a missing target is epoll_open()'s error to report */
				if (j < img->nr_fds && img->fds[j].kind == IMAGE_FD_EPOLL && !placed[j])
					ready = false;
			}
			if (!ready)
				continue;
			ret = epoll_open(ctx, f, &fd);
			if (ret)
				return ret;
			ret = place(fd, f);
			if (ret)
				return ret;
			placed[i] = true;
			progress = true;
			left--;
		}
	}
	if (left) {
		log_error("epoll sets watch each other in a cycle");
		return -ELOOP;
	}
	return 0;
}

int fds_restore(const struct image *img, const int *shmem_fds, int min_fd)
{
	struct fd_restore_ctx ctx = { .img = img, .shmem_fds = shmem_fds, .min_fd = min_fd };
	int *tmp = NULL, next, prev, ret, raw;
	bool *placed = NULL;
	uint32_t i;

	ret = check_image_fds(img, min_fd);
	if (ret)
		return ret;
	ctx.base = img->nr_fds ? img->fds[img->nr_fds - 1].fd + 1 : 0;
	tmp = malloc((img->nr_fds + 1) * sizeof(*tmp));
	placed = calloc(img->nr_fds + 1, sizeof(*placed));
	ctx.file_fds = malloc((img->nr_files + 1) * sizeof(*ctx.file_fds));
	ctx.pipes = calloc(img->nr_fds + 1, sizeof(*ctx.pipes));
	if (!tmp || !placed || !ctx.file_fds || !ctx.pipes) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < img->nr_fds; i++)
		tmp[i] = -1;
	for (i = 0; i < img->nr_files; i++)
		ctx.file_fds[i] = -1;

	/* Scratch space: nothing of ours or the caller's lives in [base, min_fd). */
	close_numbers(ctx.base, min_fd - 1);

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if (f->kind == IMAGE_FD_EPOLL)
			continue;
		ret = open_one(&ctx, f, &raw);
		if (ret)
			goto out;
		tmp[i] = fcntl(raw, F_DUPFD_CLOEXEC, ctx.base);
		if (tmp[i] < 0) {
			ret = fd_restore_error(f, -errno, "F_DUPFD above %d: %s", ctx.base,
					       strerror(errno));
			close(raw);
			goto out;
		}
		close(raw);
	}
	/* All objects exist: move them onto their numbers in one sweep. */
	for (i = 0; i < img->nr_fds; i++) {
		if (tmp[i] < 0)
			continue;
		ret = place(tmp[i], &img->fds[i]);
		tmp[i] = -1;
		if (ret)
			goto out;
		placed[i] = true;
	}
	ret = restore_epolls(&ctx, placed);
	if (ret)
		goto out;

	for (i = 0; i < img->nr_files; i++)
		if (ctx.file_fds[i] >= 0) {
			close(ctx.file_fds[i]);
			ctx.file_fds[i] = -1;
		}
	next = ctx.base;
	ret = pipes_finish(&ctx, &next);
	if (ret)
		goto out;
	/* Whatever of the helper's own is left below base goes. */
	prev = -1;
	for (i = 0; i < img->nr_fds; i++) {
		close_numbers(prev + 1, img->fds[i].fd - 1);
		prev = img->fds[i].fd;
	}
	ret = 0;
out:
	if (tmp)
		for (i = 0; i < img->nr_fds; i++)
			if (tmp[i] >= 0)
				close(tmp[i]);
	if (ctx.file_fds)
		for (i = 0; i < img->nr_files; i++)
			if (ctx.file_fds[i] >= 0)
				close(ctx.file_fds[i]);
	if (ctx.pipes)
		pipes_release(&ctx);
	sockets_release(&ctx);
	free(ctx.pipes);
	free(ctx.file_fds);
	free(placed);
	free(tmp);
	return ret;
}
