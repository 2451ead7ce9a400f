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
#include <linux/kcmp.h>
#include <sys/socket.h>
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
#include "engine/fd-owner.h"
#include "engine/file-locks.h"
#include "engine/proc.h"

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
	if (p->fd < 0)
		log_error("pid %d fd %d: a file in flight on it (%s): %s", ctx->pid, p->via,
			  p->link, msg);
	else
		log_error("pid %d fd %d (%s): %s", ctx->pid, p->fd, p->link, msg);
	return err;
}

void fd_probe_path(const struct fd_dump_ctx *ctx, const struct fd_probe *p, char *buf,
		   size_t size)
{
	if (p->fd < 0)
		snprintf(buf, size, "/proc/%d/fd/%d", getpid(), p->local);
	else
		snprintf(buf, size, "/proc/%d/fd/%d", ctx->pid, p->fd);
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
	{ "anon_inode:[fanotify]", "fanotify is not supported" },
	{ "anon_inode:[userfaultfd]", "userfaultfd is not supported" },
	{ "anon_inode:[perf_event]", "perf events are not supported" },
	{ "anon_inode:bpf", "bpf objects are not supported" },
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
		if (pty_is_master(&p->st) ||
		    (pty_is_slave(&p->st) && !pty_slave_is_inherited(ctx, p)))
			return pty_dump(ctx, p, out);
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
	} else if (!strcmp(link, "anon_inode:inotify")) {
		return inotify_dump(ctx, p, out);
	} else if (!strcmp(link, "anon_inode:[pidfd]") || has_prefix(link, "pidfd:")) {
		return pidfd_dump(ctx, p, out);
	}
	if (S_ISLNK(p->st.st_mode)) /* open(O_PATH | O_NOFOLLOW) of a symbolic link */
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "an O_PATH fd on a symbolic link is not supported");
	return fd_dump_error(ctx, p, -ENOTSUP, "this kind of file is not supported");
}

/* ---- files in flight (SCM_RIGHTS) ---- */

/*
 * What a file in flight may be: a kind restore makes without an fd number
 * of its own.  Epoll sets and timerfds are tied to fd numbers, terminals are
 * thaw restore's, and a socket other than Unix is refused.
 */
static const char *flight_refusal(const struct fd_probe *q)
{
	const char *link = q->link;
	int domain = 0;
	socklen_t len = sizeof(domain);

	if (isatty(q->local))
		return "a terminal";
	if (q->info.nr_locks)
		return "a file holding locks";
	if (fcntl(q->local, F_GETOWN) != 0 || (q->info.flags & O_ASYNC))
		return "a file with an owner for its signals (F_SETOWN, O_ASYNC)";
	if (S_ISSOCK(q->st.st_mode))
		return getsockopt(q->local, SOL_SOCKET, SO_DOMAIN, &domain, &len) || domain != AF_UNIX
			       ? "a socket other than Unix" : NULL;
	if (link[0] == '/' && (pty_is_master(&q->st) || pty_is_slave(&q->st)))
		return "a pseudo-terminal";
	if ((link[0] == '/' && (S_ISREG(q->st.st_mode) || S_ISDIR(q->st.st_mode) ||
				S_ISCHR(q->st.st_mode) || S_ISFIFO(q->st.st_mode))) ||
	    has_prefix(link, "pipe:[") || !strcmp(link, "anon_inode:[eventfd]") ||
	    !strcmp(link, "anon_inode:[signalfd]"))
		return NULL;
	return "a file of this kind";
}

int fd_dump_flight(struct fd_dump_ctx *ctx, const struct fd_probe *via, int local, int32_t *ret)
{
	struct image *img = ctx->img;
	struct fd_probe q = { .via = via->fd, .local = local };
	struct image_fd f = { .file = -1 }, *nf;
	char path[64], *buf = NULL;
	const char *why;
	uint32_t k;
	size_t len, off;
	ssize_t n;
	int *nfds, err;

	for (k = 0; k < img->nr_flight_fds; k++)
		if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, local, img->flight_fds[k]) == 0) {
			close(local);
			*ret = -1 - (int32_t)k;
			return 0;
		}
	q.fd = -1 - (int32_t)k;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", local);
	n = readlink(path, q.link, sizeof(q.link) - 1);
	err = n < 0 || fstat(local, &q.st) ? -errno : 0;
	if (!err)
		err = fdinfo_read(getpid(), local, &buf, &len);
	q.link[n < 0 ? 0 : n] = '\0';
	if (!err)
		err = fdinfo_parse(buf, len, &q.info, &off);
	free(buf);
	if (err) {
		err = fd_dump_error(ctx, via, err, "reading a file in flight (%s): %s", q.link,
				    strerror(-err));
		goto out;
	}
	why = flight_refusal(&q);
	if (why) {
		err = fd_dump_error(ctx, &q, -ENOTSUP, "%s in flight is not supported", why);
		goto out;
	}
	f.fd = q.fd;
	f.flags = q.info.flags & ~(uint32_t)O_CLOEXEC;
	f.pos = q.info.pos;
	ctx->in_flight = true;
	err = dump_one(ctx, &q, &f);
	ctx->in_flight = false;
	if (err)
		goto out;
	nf = realloc(ctx->flight, (ctx->nr_flight + 1) * sizeof(*nf));
	nfds = nf ? realloc(img->flight_fds, (k + 1) * sizeof(*nfds)) : NULL;
	if (nf)
		ctx->flight = nf;
	if (!nfds) {
		err = -ENOMEM;
		goto out;
	}
	img->flight_fds = nfds;
	img->flight_fds[img->nr_flight_fds++] = local;
	ctx->flight[ctx->nr_flight++] = f;
	*ret = q.fd;
	local = -1;
	f = (struct image_fd){ 0 };
out:
	image_fd_release(&f);
	fdinfo_release(&q.info);
	if (local >= 0)
		close(local);
	return err;
}

static const struct image_fd *find_sock_of(const struct fd_dump_ctx *ctx, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < ctx->img->nr_fds + ctx->nr_flight; i++) {
		const struct image_fd *f = i < ctx->img->nr_fds ? &ctx->img->fds[i] :
								  &ctx->flight[i - ctx->img->nr_fds];

		if (f->kind == IMAGE_FD_SOCKET && f->sock.ino == ino)
			return f;
	}
	return NULL;
}

/*
 * Files in flight go first in img->fds (numbers -N .. -1).  A socket in
 * flight is made, at restore, before any socket's queue is filled: its pair
 * cannot have messages with fds queued.
 */
static int add_flight(struct fd_dump_ctx *ctx)
{
	struct image *img = ctx->img;
	uint32_t nr = img->nr_fds, k;
	const struct image_fd *peer;

	for (k = 0; k < ctx->nr_flight; k++) {
		const struct image_fd *f = &ctx->flight[k];

		if (f->kind != IMAGE_FD_SOCKET || f->sock.state != IMAGE_SOCK_PAIR)
			continue;
		peer = find_sock_of(ctx, f->sock.peer_ino);
		if (peer && peer->sock.attrs.nr_rights) {
			log_error("pid %d: socket:[%llu] in flight is the pair of socket:[%llu], "
				  "on which messages with fds are queued too: not supported",
				  ctx->pid, (unsigned long long)f->sock.ino,
				  (unsigned long long)peer->sock.ino);
			return -ENOTSUP;
		}
	}
	for (k = 0; k < ctx->nr_flight; k++)
		if (!image_new_fd(img))
			return -ENOMEM;
	memmove(img->fds + ctx->nr_flight, img->fds, nr * sizeof(*img->fds));
	for (k = 0; k < ctx->nr_flight; k++)
		img->fds[ctx->nr_flight - 1 - k] = ctx->flight[k];
	free(ctx->flight);
	ctx->flight = NULL;
	ctx->nr_flight = 0;
	return 0;
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
	return fds_dump_tree(pid, img, external, nr_external, false, NULL);
}

int fds_dump_with(pid_t pid, struct image *img, const int *external, size_t nr_external,
		  bool tcp_close)
{
	return fds_dump_tree(pid, img, external, nr_external, tcp_close, NULL);
}

static int scan_one(pid_t pid, struct fd_tree *t)
{
	int *numbers = NULL, ret;
	size_t nr = 0, i;

	ret = proc_list_fds(pid, &numbers, &nr);
	if (ret < 0)
		return ret;
	for (i = 0; i < nr; i++) {
		char path[64], link[64], *text = NULL, *flags;
		unsigned long long ino;
		struct fd_tree_end *e;
		size_t len;
		ssize_t n;
		bool is_socket, is_pty_master = false, is_pty_slave = false;
		unsigned int pts;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, numbers[i]);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "pipe:[%llu]", &ino) == 1)
			is_socket = false;
		else if (sscanf(link, "socket:[%llu]", &ino) == 1)
			is_socket = true;
		else if (!strcmp(link, "/dev/ptmx") || !strcmp(link, "/dev/pts/ptmx"))
			is_socket = false, is_pty_master = true, ino = UINT64_MAX;
		else if (sscanf(link, "/dev/pts/%u", &pts) == 1)
			is_socket = false, is_pty_slave = true, ino = pts;
		else
			continue;
		e = realloc(t->ends, (t->nr + 1) * sizeof(*e));
		if (!e) {
			ret = -ENOMEM;
			break;
		}
		t->ends = e;
		e = &t->ends[t->nr++];
		*e = (struct fd_tree_end){ ino, pid, 0, is_socket, is_pty_master, is_pty_slave };
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, numbers[i]);
		if (proc_read_file(path, &text, &len) == 0 && (flags = strstr(text, "flags:")))
			e->flags = (uint32_t)strtoul(flags + 6, NULL, 8);
		/* a master's index: fdinfo says it (Linux 5.x and later); UINT64_MAX = unknown */
		if (is_pty_master && text && (flags = strstr(text, "tty-index:")))
			e->ino = strtoull(flags + 10, NULL, 10);
		free(text);
	}
	free(numbers);
	return ret;
}

int fd_tree_scan(const pid_t *pids, size_t nr, struct fd_tree *ret)
{
	size_t i;
	int err;

	memset(ret, 0, sizeof(*ret));
	ret->root = nr ? pids[0] : 0;
	ret->pids = malloc((nr ? nr : 1) * sizeof(*pids));
	if (!ret->pids)
		return -ENOMEM;
	memcpy(ret->pids, pids, nr * sizeof(*pids));
	ret->nr_pids = nr;
	for (i = 0; i < nr; i++) {
		err = scan_one(pids[i], ret);
		if (err < 0) {
			fd_tree_free(ret);
			return log_errno("pid %d: listing its pipes and sockets", pids[i]);
		}
	}
	return 0;
}

void fd_tree_free(struct fd_tree *t)
{
	free(t->pids);
	free(t->ends);
	memset(t, 0, sizeof(*t));
}

bool fd_tree_has(const struct fd_dump_ctx *ctx, uint64_t ino, bool is_socket,
		 bool (*want)(uint32_t flags))
{
	size_t i;

	if (!ctx->tree)
		return false;
	for (i = 0; i < ctx->tree->nr; i++) {
		const struct fd_tree_end *e = &ctx->tree->ends[i];

		if (e->ino == ino && e->is_socket == is_socket && !e->is_pty_master && !e->is_pty_slave &&
		    (!want || want(e->flags)))
			return true;
	}
	return false;
}

bool fd_tree_has_pty(const struct fd_dump_ctx *ctx, uint32_t index, bool want_master)
{
	size_t i;

	if (!ctx->tree)
		return false;
	/* a master whose index fdinfo did not give might be this one: counted as held */
	for (i = 0; i < ctx->tree->nr; i++) {
		const struct fd_tree_end *e = &ctx->tree->ends[i];

		if (want_master ? e->is_pty_master && (e->ino == index || e->ino == UINT64_MAX)
				: e->is_pty_slave && e->ino == index)
			return true;
	}
	return false;
}

int fds_dump_tree(pid_t pid, struct image *img, const int *external, size_t nr_external,
		  bool tcp_close, const struct fd_tree *tree)
{
	struct fd_dump_ctx ctx = { .pid = pid, .img = img, .tcp_close = tcp_close, .tree = tree };
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
		slot = ret ? NULL : image_new_fd(img);
		if (!slot) {
			image_fd_release(&f);
			ret = ret ? ret : -ENOMEM;
			goto out;
		}
		*slot = f;
		log_debug("pid %d fd %d (%s): %s", pid, f.fd, p->link, image_fd_kind_name(f.kind));
	}
	ret = pty_dump_ctty(&ctx);
	if (ret == 0)
		ret = locks_dump(&ctx);
	if (ret == 0)
		ret = owners_dump(&ctx);
	if (ret == 0)
		ret = socket_dump_unsure_peers(&ctx);
	if (ret == 0)
		ret = add_flight(&ctx);
out:
	free(ctx.unsure);
	for (i = 0; i < ctx.nr_flight; i++)
		image_fd_release(&ctx.flight[i]);
	free(ctx.flight);
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

/*
 * The status flags F_SETFL can change here; O_ASYNC waits for the restored
 * process to switch it on at the fd's own number (fd-owner.c).
 */
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

		if (f->fd < -IMAGE_MAX_FDS || f->fd >= min_fd || (i && f->fd <= img->fds[i - 1].fd)) {
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
	case IMAGE_FD_PIDFD:
		return pidfd_restore_open(ctx, f, ret_fd);
	case IMAGE_FD_INOTIFY:
		return inotify_open(ctx, f, ret_fd);
	case IMAGE_FD_PTY:
		return pty_open(ctx, f, ret_fd);
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

/* An earlier fd of this image, or the tree, holds f's open file description already. */
static int shared_desc(const struct fd_restore_ctx *ctx, const int *tmp, uint32_t i)
{
	const struct image_fd *f = &ctx->img->fds[i];
	int fd = fd_shared_find(ctx->shared, FD_SHARED_DESC, f->share);
	uint32_t j;

	if (!f->share || f->kind == IMAGE_FD_EPOLL)
		return -1;
	for (j = 0; fd < 0 && j < i; j++)
		if (ctx->img->fds[j].share == f->share && tmp[j] >= 0)
			fd = tmp[j];
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, ctx->base);
}

int fds_restore(const struct image *img, const int *shmem_fds, const int *deleted_fds, int min_fd,
		const struct fd_shared *shared)
{
	struct fd_restore_ctx ctx = { .img = img, .shmem_fds = shmem_fds, .min_fd = min_fd,
				      .shared = shared };
	int *tmp = NULL, next, prev, ret, raw;
	bool *placed = NULL;
	uint32_t i;

	ret = check_image_fds(img, min_fd);
	if (ret)
		return ret;
	ctx.base = img->nr_fds && img->fds[img->nr_fds - 1].fd >= 0 ?
			   img->fds[img->nr_fds - 1].fd + 1 : 0;
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
	ctx.made = tmp;
	/* deleted files the caller made (and keeps) for its mappings: the fds share them */
	for (i = 0; i < img->nr_files; i++)
		ctx.file_fds[i] = deleted_fds ? deleted_fds[i] : -1;

	/* Scratch space: nothing of ours or the caller's lives in [base, min_fd). */
	close_numbers(ctx.base, min_fd - 1);

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if (f->kind == IMAGE_FD_EPOLL)
			continue;
		tmp[i] = shared_desc(&ctx, tmp, i);
		if (tmp[i] >= 0)
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
		if (tmp[i] >= 0 && img->fds[i].fd < 0) {
			close(tmp[i]); /* a file in flight: sent with its message, and no fd's */
			tmp[i] = -1;
			placed[i] = true;
		}
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
	ptys_release(&ctx); /* before pipes_finish reuses the scratch numbers */

	for (i = 0; i < img->nr_files; i++)
		if (ctx.file_fds[i] >= 0 && !(deleted_fds && deleted_fds[i] == ctx.file_fds[i])) {
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
		if (img->fds[i].fd < 0)
			continue; /* files in flight have no number */
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
			if (ctx.file_fds[i] >= 0 &&
			    !(deleted_fds && deleted_fds[i] == ctx.file_fds[i]))
				close(ctx.file_fds[i]);
	if (ctx.pipes)
		pipes_release(&ctx);
	sockets_release(&ctx);
	ptys_release(&ctx);
	free(ctx.pipes);
	free(ctx.file_fds);
	free(placed);
	free(tmp);
	return ret;
}

/* ------------------------------------------------------------------ trees */

int fd_shared_find(const struct fd_shared *shared, uint32_t type, uint64_t key)
{
	uint32_t i;

	for (i = 0; shared && i < shared->nr; i++)
		if (shared->objs[i].type == type && shared->objs[i].key == key)
			return shared->objs[i].fd;
	return -1;
}

void fd_shared_close(struct fd_shared *shared)
{
	uint32_t i;

	for (i = 0; i < shared->nr; i++)
		close(shared->objs[i].fd);
	free(shared->objs);
	memset(shared, 0, sizeof(*shared));
}

/* Takes fd (closing it) into the table at a number >= min_fd. */
static int shared_add(struct fd_shared *sh, uint32_t type, uint64_t key, int fd, int min_fd)
{
	struct fd_shared_obj *o;
	int moved;

	if (fd < 0)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
	close(fd);
	if (moved < 0)
		return log_errno("keeping a shared object above fd %d", min_fd);
	o = realloc(sh->objs, (sh->nr + 1) * sizeof(*o));
	if (!o) {
		close(moved);
		return -ENOMEM;
	}
	sh->objs = o;
	sh->objs[sh->nr++] = (struct fd_shared_obj){ type, key, moved };
	return 0;
}

/* What the tree's processes hold, to count who holds what. */
enum held { HELD_SHMEM, HELD_PIPE, HELD_SOCK, HELD_SHARE, HELD_PTY };

static bool holds(const struct image *img, enum held what, uint32_t kind, uint64_t key)
{
	uint32_t i;

	if (what == HELD_SHMEM) {
		for (i = 0; i < img->nr_shmems; i++)
			if (img->shmems[i].ino == key)
				return true;
		return false;
	}
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if ((what == HELD_PIPE && f->kind == kind && f->pipe.ino == key) ||
		    (what == HELD_SOCK && f->kind == IMAGE_FD_SOCKET && f->sock.ino == key) ||
		    (what == HELD_SHARE && f->share == key) ||
		    (what == HELD_PTY && f->kind == IMAGE_FD_PTY && f->pty.index == key))
			return true;
	}
	return false;
}

static bool held_elsewhere(struct image *const *imgs, uint32_t nr, uint32_t self, enum held what,
			   uint32_t kind, uint64_t key)
{
	uint32_t i;

	for (i = 0; i < nr; i++)
		if (i != self && holds(imgs[i], what, kind, key))
			return true;
	return false;
}

struct tree_ctx {
	struct fd_restore_ctx c;
	int *shmem_fds;
};

static int tree_ctx_init(struct tree_ctx *t, const struct image *img, int min_fd,
			 const struct fd_shared *sh)
{
	uint32_t i;

	memset(t, 0, sizeof(*t));
	t->c = (struct fd_restore_ctx){ .img = img, .shared = sh, .min_fd = min_fd, .base = min_fd };
	t->shmem_fds = malloc((img->nr_shmems + 1) * sizeof(int));
	t->c.file_fds = malloc((img->nr_files + 1) * sizeof(int));
	t->c.pipes = calloc(img->nr_fds + 1, sizeof(*t->c.pipes));
	if (!t->shmem_fds || !t->c.file_fds || !t->c.pipes)
		return -ENOMEM;
	for (i = 0; i < img->nr_shmems; i++)
		t->shmem_fds[i] = fd_shared_find(sh, FD_SHARED_SHMEM, img->shmems[i].ino);
	for (i = 0; i < img->nr_files; i++)
		t->c.file_fds[i] = -1;
	t->c.shmem_fds = t->shmem_fds;
	return 0;
}

static void tree_ctx_fini(struct tree_ctx *t)
{
	uint32_t i;

	if (t->c.file_fds)
		for (i = 0; i < t->c.img->nr_files; i++)
			if (t->c.file_fds[i] >= 0)
				close(t->c.file_fds[i]);
	if (t->c.pipes)
		pipes_release(&t->c);
	sockets_release(&t->c);
	ptys_release(&t->c);
	free(t->c.pipes);
	free(t->c.file_fds);
	free(t->shmem_fds);
}

static int prepare_shmems(struct image *const *imgs, uint32_t nr, int min_fd,
			  struct fd_shared *sh)
{
	uint32_t i, k;
	int ret;

	for (i = 0; i < nr; i++)
		for (k = 0; k < imgs[i]->nr_shmems; k++) {
			uint64_t ino = imgs[i]->shmems[k].ino;

			if (imgs[i]->shmems[k].is_sysv || fd_shared_find(sh, FD_SHARED_SHMEM, ino) >= 0 ||
			    !held_elsewhere(imgs, nr, i, HELD_SHMEM, 0, ino))
				continue;
			ret = shared_add(sh, FD_SHARED_SHMEM, ino, shmem_create(imgs[i], k, min_fd),
					 min_fd);
			if (ret < 0)
				return ret;
		}
	return 0;
}

static const struct image_fd *find_sock(struct image *const *imgs, uint32_t nr, uint64_t ino,
					uint32_t *ret_img)
{
	uint32_t i, k;

	for (i = 0; i < nr; i++)
		for (k = 0; k < imgs[i]->nr_fds; k++)
			if (imgs[i]->fds[k].kind == IMAGE_FD_SOCKET &&
			    imgs[i]->fds[k].sock.ino == ino) {
				*ret_img = i;
				return &imgs[i]->fds[k];
			}
	return NULL;
}

/* Pipes, FIFOs and socket pairs that more than one process holds. */
static int prepare_channels(struct image *const *imgs, uint32_t nr, int min_fd,
			    struct fd_shared *sh, struct tree_ctx *ctxs)
{
	uint32_t i, k, j;
	int ret, a, b;

	for (i = 0; i < nr; i++)
		for (k = 0; k < imgs[i]->nr_fds; k++) {
			const struct image_fd *f = &imgs[i]->fds[k], *peer;
			bool is_pipe = f->kind == IMAGE_FD_PIPE || f->kind == IMAGE_FD_FIFO;

			if (is_pipe) {
				uint32_t type = f->kind == IMAGE_FD_FIFO ? FD_SHARED_FIFO
									 : FD_SHARED_PIPE_RD;

				if (fd_shared_find(sh, type, f->pipe.ino) >= 0 ||
				    !held_elsewhere(imgs, nr, i, HELD_PIPE, f->kind, f->pipe.ino))
					continue;
				ret = pipe_make_shared(&ctxs[i].c, f, &a, &b);
				if (ret == 0)
					ret = shared_add(sh, type, f->pipe.ino, a, min_fd);
				else
					a = b = -1;
				if (ret == 0 && b >= 0)
					ret = shared_add(sh, FD_SHARED_PIPE_WR, f->pipe.ino, b, min_fd);
				if (ret < 0)
					return ret;
				continue;
			}
			if (f->kind != IMAGE_FD_SOCKET || f->sock.state != IMAGE_SOCK_PAIR ||
			    !f->sock.peer_ino || fd_shared_find(sh, FD_SHARED_SOCK, f->sock.ino) >= 0)
				continue;
			peer = find_sock(imgs, nr, f->sock.peer_ino, &j);
			if (!peer)
				return fd_restore_error(f, -EINVAL, "its peer socket:[%llu] is in no "
							"process of the snapshot",
							(unsigned long long)f->sock.peer_ino);
			if (j == i && !held_elsewhere(imgs, nr, i, HELD_SOCK, 0, f->sock.ino) &&
			    !held_elsewhere(imgs, nr, i, HELD_SOCK, 0, peer->sock.ino))
				continue;
			ret = socket_pair_shared(&ctxs[i].c, f, &ctxs[j].c, peer, &a, &b);
			if (ret == 0)
				ret = shared_add(sh, FD_SHARED_SOCK, f->sock.ino, a, min_fd);
			else
				b = -1;
			if (ret == 0)
				ret = shared_add(sh, FD_SHARED_SOCK, peer->sock.ino, b, min_fd);
			if (ret < 0)
				return ret;
		}
	return 0;
}

static bool is_ctty(struct image *const *imgs, uint32_t nr, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < nr; i++)
		if (imgs[i]->ctty.is_set && imgs[i]->ctty.index == index)
			return true;
	return false;
}

/*
 * Ptys with ends in more than one process, or that a session leader takes
 * as its controlling terminal before anything else is made: the master,
 * made once.
 */
static int prepare_ptys(struct image *const *imgs, uint32_t nr, int min_fd, struct fd_shared *sh)
{
	uint32_t i, k;
	int ret;

	for (i = 0; i < nr; i++)
		for (k = 0; k < imgs[i]->nr_fds; k++) {
			const struct image_fd *f = &imgs[i]->fds[k];

			if (f->kind != IMAGE_FD_PTY ||
			    fd_shared_find(sh, FD_SHARED_PTY, f->pty.index) >= 0 ||
			    (!held_elsewhere(imgs, nr, i, HELD_PTY, 0, f->pty.index) &&
			     !is_ctty(imgs, nr, f->pty.index)))
				continue;
			ret = pty_make_master(f);
			if (ret >= 0)
				ret = shared_add(sh, FD_SHARED_PTY, f->pty.index, ret, min_fd);
			if (ret < 0)
				return ret;
		}
	return 0;
}

/* Open file descriptions held by fds of more than one process. */
static int prepare_descs(struct image *const *imgs, uint32_t nr, int min_fd,
			 struct fd_shared *sh, struct tree_ctx *ctxs)
{
	uint32_t i, k;
	int ret, fd;

	for (i = 0; i < nr; i++)
		for (k = 0; k < imgs[i]->nr_fds; k++) {
			const struct image_fd *f = &imgs[i]->fds[k];

			if (!f->share || fd_shared_find(sh, FD_SHARED_DESC, f->share) >= 0 ||
			    !held_elsewhere(imgs, nr, i, HELD_SHARE, 0, f->share))
				continue;
			if (f->kind == IMAGE_FD_SOCKET && f->sock.state == IMAGE_SOCK_PAIR &&
			    fd_shared_find(sh, FD_SHARED_SOCK, f->sock.ino) >= 0)
				continue; /* the pair's end is the description */
			if (f->kind == IMAGE_FD_EPOLL)
				return fd_restore_error(f, -ENOTSUP, "an epoll set shared by several "
							"processes is not supported");
			ret = open_one(&ctxs[i].c, f, &fd);
			if (ret == 0)
				ret = shared_add(sh, FD_SHARED_DESC, f->share, fd, min_fd);
			if (ret < 0)
				return ret;
		}
	return 0;
}

int fds_tree_prepare(struct image *const *imgs, uint32_t nr, int min_fd, struct fd_shared *ret)
{
	struct tree_ctx *ctxs;
	uint32_t i;
	int err;

	memset(ret, 0, sizeof(*ret));
	err = prepare_shmems(imgs, nr, min_fd, ret);
	if (err < 0)
		goto fail;
	ctxs = calloc(nr, sizeof(*ctxs));
	if (!ctxs) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < nr && err == 0; i++)
		err = tree_ctx_init(&ctxs[i], imgs[i], min_fd, ret);
	if (err == 0)
		err = prepare_channels(imgs, nr, min_fd, ret, ctxs);
	if (err == 0)
		err = prepare_ptys(imgs, nr, min_fd, ret);
	if (err == 0)
		err = prepare_descs(imgs, nr, min_fd, ret, ctxs);
	for (i = 0; i < nr; i++)
		if (ctxs[i].c.img)
			tree_ctx_fini(&ctxs[i]);
	free(ctxs);
	if (err == 0)
		return 0;
fail:
	log_error("restoring what the processes of the tree share failed: %s", strerror(-err));
	fd_shared_close(ret);
	return err;
}
