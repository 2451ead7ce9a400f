/*
 * fd-socket-unix.c - what only Unix sockets have: a file in the filesystem,
 * and connections waiting in a listener's accept queue.
 *
 * A socket bound to a path has a file whose mode and owner are the
 * program's: dump finds it through the program's root (or working
 * directory, for a relative name) and knows it is the socket's own by the
 * inode sock_diag gives; restore makes it with its mode (the umask at
 * bind()) and gives it its owner through an O_PATH fd checked to be the
 * file just made.  A file removed after bind() is kept as removed.
 *
 * A client connected to a listener whose accept() has not taken it yet is
 * connected to a socket that has no inode: sock_diag lists the waiting
 * clients of every listener (UNIX_DIAG_ICONS), in accept order.  When the
 * listener and its clients are all in the process, fd-socket.c connects
 * them again at restore; anything else is refused here, by name.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fd-socket.h"
#include "engine/fds.h"

static bool in_process(const struct fd_dump_ctx *ctx, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_probes; i++)
		if (S_ISSOCK(ctx->probes[i].st.st_mode) && ctx->probes[i].st.st_ino == ino)
			return true;
	return false;
}

/* Another process of the tree holds socket ino too (fork shares descriptions). */
static bool held_elsewhere(const struct fd_dump_ctx *ctx, uint64_t ino)
{
	size_t i;

	for (i = 0; ctx->tree && i < ctx->tree->nr; i++)
		if (ctx->tree->ends[i].is_socket && ctx->tree->ends[i].ino == ino &&
		    ctx->tree->ends[i].pid != ctx->pid)
			return true;
	return false;
}

/*
 * Where a waiting connection's other side is, as the end of a refusal:
 * restore connects clients to their listener again, which needs both in the
 * process.
 */
static int refuse_waiting(struct fd_dump_ctx *ctx, struct fd_probe *p, const char *what,
			  uint64_t ino)
{
	if (!ino)
		return fd_dump_error(ctx, p, -ENOTSUP, "%s: its client has closed, and what it "
				     "sent cannot be read: thaw cannot restore it", what);
	return fd_dump_error(ctx, p, -ENOTSUP, "%s: socket:[%llu] is %s: thaw restores waiting "
			     "connections whose listener and client are in one process", what,
			     (unsigned long long)ino,
			     fd_tree_has(ctx, ino, true, NULL) ? "in another process of the tree" :
								 "outside the process");
}

/*
 * A Unix listener's connections waiting to be accepted come back when
 * their clients are in the process: restore connects them again, in order.
 * Any other is refused: dropping it would leave its client hanging.
 */
int sockunix_dump_waiting(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
			   uint32_t pending)
{
	struct image_sock_attrs *a = &out->sock.attrs;
	uint32_t nr = 0, i;
	int ret;

	if (!pending)
		return 0;
	a->pending = calloc(IMAGE_MAX_SOCK_PENDING, sizeof(*a->pending));
	if (!a->pending)
		return -ENOMEM;
	ret = sock_diag_unix_icons(out->sock.ino, a->pending, IMAGE_MAX_SOCK_PENDING, &nr);
	if (ret)
		return fd_dump_error(ctx, p, ret, "listing its %u waiting connections: %s", pending,
				     ret == -E2BIG ? "too many" : strerror(-ret));
	a->nr_pending = nr;
	for (i = 0; i < nr; i++) {
		if (held_elsewhere(ctx, a->pending[i]))
			return fd_dump_error(ctx, p, -ENOTSUP, "a connection waiting to be accepted "
					     "from socket:[%llu], which another process of the "
					     "tree shares: not supported",
					     (unsigned long long)a->pending[i]);
		if (!a->pending[i] || !in_process(ctx, a->pending[i]))
			return refuse_waiting(ctx, p, "a connection waiting to be accepted",
					      a->pending[i]);
	}
	if (nr && held_elsewhere(ctx, out->sock.ino))
		return fd_dump_error(ctx, p, -ENOTSUP, "a listener with connections waiting is "
				     "shared with another process of the tree: not supported");
	return 0;
}

/* A client whose connection waits in the accept queue of a listener of the process. */
int sockunix_dump_waiting_client(struct fd_dump_ctx *ctx, struct fd_probe *p,
				  struct image_fd *out, uint64_t listener)
{
	int outq = 0;

	if (!in_process(ctx, listener) || held_elsewhere(ctx, listener))
		return refuse_waiting(ctx, p, "connected, waiting to be accepted", listener);
	if (held_elsewhere(ctx, out->sock.ino))
		return fd_dump_error(ctx, p, -ENOTSUP, "a connection waiting to be accepted is "
				     "shared with another process of the tree: not supported");
	/* what it sent sits in a socket with no fd yet: nothing can peek at it */
	if (ioctl(p->local, SIOCOUTQ, &outq) || outq)
		return fd_dump_error(ctx, p, -ENOTSUP, "connected, waiting to be accepted, with "
				     "data sent that thaw cannot read");
	out->sock.state = IMAGE_SOCK_PENDING;
	out->sock.peer_ino = listener;
	return 0;
}

/* The path a Unix socket is bound to, NUL-terminated; "" for an abstract or no name. */
void sockunix_path(const struct image_fd *f, char *buf, size_t size)
{
	size_t off = offsetof(struct sockaddr_un, sun_path), n = 0;

	if (f->sock.addr_len > off && f->sock.addr[off])
		n = f->sock.addr_len - off;
	n = n < size ? n : size - 1;
	memcpy(buf, f->sock.addr + off, n);
	buf[n] = '\0';
}

/*
 * A Unix socket bound to a path: the mode and owner of its file, found
 * through the program's root (or working directory, for a relative name)
 * and known to be its own by the inode sock_diag gives.  A file removed
 * since is kept as such: restore binds, then removes it.  A file replaced
 * by another, or a relative name that no longer leads to it, is refused.
 */
int sockunix_dump_file(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
		       const struct sock_diag_info *di)
{
	struct image_sock_attrs *a = &out->sock.attrs;
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1], full[PATH_MAX];
	struct stat st;

	sockunix_path(out, name, sizeof(name));
	if (!name[0])
		return 0;
	snprintf(full, sizeof(full), "/proc/%d/%s/%s", ctx->pid, name[0] == '/' ? "root" : "cwd",
		 name);
	if (!lstat(full, &st) && S_ISSOCK(st.st_mode) && di->has_vfs &&
	    st.st_ino == di->vfs_ino && major(st.st_dev) == di->vfs_dev >> 20 &&
	    minor(st.st_dev) == (di->vfs_dev & 0xfffff)) {
		a->has_file = true;
		a->file_mode = st.st_mode & 07777;
		a->file_uid = st.st_uid;
		a->file_gid = st.st_gid;
		return 0;
	}
	if (name[0] != '/')
		return fd_dump_error(ctx, p, -ENOTSUP, "bound to the relative name %s, which no "
				     "longer leads to its socket file from the working directory",
				     name);
	if (!lstat(full, &st))
		return fd_dump_error(ctx, p, -ENOTSUP, "its socket file %s was replaced by another "
				     "file: thaw cannot bind the name again", name);
	if (errno != ENOENT && errno != ENOTDIR)
		return fd_dump_error(ctx, p, -errno, "%s: %s", name, strerror(errno));
	a->is_file_unlinked = true;
	return 0;
}

/* A socket file left by the dumped program: removed only if nothing listens on it. */
static int unlink_stale(const struct image_fd *f, const struct sockaddr_un *un, socklen_t len)
{
	struct stat st;
	int probe, err;

	if (lstat(un->sun_path, &st) || !S_ISSOCK(st.st_mode))
		return 0;
	probe = socket(AF_UNIX, f->sock.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return fd_restore_error(f, -errno, "socket: %s", strerror(errno));
	err = connect(probe, (const struct sockaddr *)un, len) ? errno : 0;
	close(probe);
	if (err != ECONNREFUSED)
		return fd_restore_error(f, -EADDRINUSE, "%s is in use by a live socket",
					un->sun_path);
	if (unlink(un->sun_path) && errno != ENOENT)
		return fd_restore_error(f, -errno, "removing stale %s: %s", un->sun_path,
					strerror(errno));
	return 0;
}

/*
 * The file a Unix socket fd was just bound to, opened O_PATH without
 * following links and known to be fd's own by the inode sock_diag gives.
 */
static int open_own_file(int fd, const struct image_fd *f, const char *path)
{
	struct sock_diag_info di;
	struct stat sock, file;
	int pfd, ret;

	pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return fd_restore_error(f, -errno, "its socket file %s: %s", path, strerror(errno));
	ret = fstat(fd, &sock) || fstat(pfd, &file) ? -errno : sock_diag_unix(sock.st_ino, &di);
	if (!ret && (!di.has_vfs || di.vfs_ino != file.st_ino || !S_ISSOCK(file.st_mode)))
		ret = -EEXIST;
	if (ret) {
		close(pfd);
		return fd_restore_error(f, ret, "%s is not the socket file it was just bound to",
					path);
	}
	return pfd;
}

/* The owner, then the mode (a chown may clear set-id bits) of the socket file. */
static int set_file_owner(int fd, const struct image_fd *f, const char *path)
{
	const struct image_sock_attrs *a = &f->sock.attrs;
	char self[64];
	struct stat st;
	int pfd, ret = 0;

	pfd = open_own_file(fd, f, path);
	if (pfd < 0)
		return pfd;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	if (fstat(pfd, &st) ||
	    ((st.st_uid != a->file_uid || st.st_gid != a->file_gid) &&
	     fchownat(pfd, "", a->file_uid, a->file_gid, AT_EMPTY_PATH)) ||
	    chmod(self, a->file_mode) || fstat(pfd, &st))
		ret = -errno;
	else if ((st.st_mode & 07777) != a->file_mode || st.st_uid != a->file_uid ||
		 st.st_gid != a->file_gid)
		ret = -EIO;
	close(pfd);
	if (ret)
		return fd_restore_error(f, ret, "giving %s mode %04o and owner %u:%u: %s", path,
					a->file_mode, a->file_uid, a->file_gid, strerror(-ret));
	return 0;
}

/* A socket file that had been removed when the program was dumped goes again. */
int sockunix_unlink_file(int fd, const struct image_fd *f)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	int pfd;

	sockunix_path(f, path, sizeof(path));
	if (!f->sock.attrs.is_file_unlinked || !path[0])
		return 0;
	pfd = open_own_file(fd, f, path);
	if (pfd < 0)
		return pfd;
	close(pfd);
	if (unlink(path))
		return fd_restore_error(f, -errno, "removing %s: %s", path, strerror(errno));
	return 0;
}

/*
 * A Unix socket's file is made with its mode: the umask decides the mode
 * bind() gives, so there is no moment with a wider one (a file to be
 * removed again is made private).  Its owner follows.
 */
int sockunix_bind_path(int fd, const struct image_fd *f, struct sockaddr_un *un, socklen_t len)
{
	const struct image_sock_attrs *a = &f->sock.attrs;
	struct stat st;
	mode_t old;
	int ret;

	if (a->is_file_unlinked && !lstat(un->sun_path, &st))
		return fd_restore_error(f, -EEXIST, "%s exists, where the socket's own file had "
					"been removed", un->sun_path);
	if (!a->is_file_unlinked) {
		ret = unlink_stale(f, un, len);
		if (ret)
			return ret;
	}
	old = umask(a->has_file ? ~a->file_mode & 0777 : 0777);
	ret = bind(fd, (struct sockaddr *)un, len) ? -errno : 0;
	umask(old);
	if (ret)
		return fd_restore_error(f, ret, "bind to %s: %s", un->sun_path, strerror(-ret));
	return a->has_file ? set_file_owner(fd, f, un->sun_path) : 0;
}
