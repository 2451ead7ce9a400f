/*
 * fd-socket.c - sockets: Unix, TCP and UDP over IPv4 and IPv6.
 *
 * Dump looks at a pidfd_getfd() copy only through calls that change nothing
 * the program can observe: getsockopt, getsockname, getpeername, sock_diag
 * (fd-socket-diag.c) and MSG_PEEK under a peek offset that is put back.
 * What comes back (docs/sockets.md):
 *   - Unix pair ends (socketpair, or both ends of an accepted connection)
 *     whose other end is in the process too, with the bytes or messages
 *     queued on each end; an end whose peer was closed comes back with its
 *     queue and a closed peer.  A Unix stream connected to a socket outside
 *     the process is an error naming it.
 *   - listening sockets (Unix with filesystem or abstract names, TCP v4/v6)
 *     with their backlog; bound and unbound sockets; datagram sockets
 *     connected by address (UDP, a Unix name such as /dev/log) reconnect.
 *   - an established TCP connection comes back whole (fd-socket-tcp.c,
 *     TCP_REPAIR), or, when the dump was asked to close them (--tcp-close),
 *     as a connection its peer reset; one in another state (closing) is
 *     an error naming both ends unless --tcp-close.
 * Connections waiting in a Unix listener's accept queue come back when
 * their clients are in the process (connected again, in order), and are
 * refused otherwise; a TCP listener's are dropped with a warning: their
 * clients talk to a process that no longer exists.  The
 * directions shut down come back (sock_diag shows them), applied last; a
 * pending error is kept where it is a Unix peer's ECONNRESET, refused
 * elsewhere.  Options, multicast groups and filters: fd-socket-opts.c.
 *
 * Restore runs in the helper, in the caller's network namespace, before the
 * program's memory is rebuilt: a listener is listening again before the
 * program runs, so no connection is refused in between.
 */
#define LOG_TAG "fds"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fd-socket.h"
#include "engine/fds.h"

#define PEEK_CHUNK (256u << 10)
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76 /* newer than the Debian 12 headers */
#endif
#define MAX_QUEUED_MSGS (1u << 20)

/* 127.0.0.1:80, [::1]:80, /path, @abstract, or "unbound". */
static const char *addr_str(int family, const void *addr, uint32_t len, char *buf, size_t size)
{
	const uint8_t *b = addr;
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_in6 in6;
	struct sockaddr_in in4;
	size_t off = offsetof(struct sockaddr_un, sun_path), i, o = 0;

	if (family == AF_INET && len >= sizeof(in4)) {
		memcpy(&in4, addr, sizeof(in4));
		inet_ntop(AF_INET, &in4.sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in4.sin_port));
	} else if (family == AF_INET6 && len >= sizeof(in6)) {
		memcpy(&in6, addr, sizeof(in6));
		inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6.sin6_port));
	} else if (family == AF_UNIX && len > off) {
		for (i = off; i < len && o + 1 < size && (i == off || b[i]); i++)
			buf[o++] = i == off && !b[i] ? '@' : (b[i] >= 32 && b[i] < 127) ? (char)b[i] : '?';
		buf[o] = '\0';
	} else {
		snprintf(buf, size, "unbound");
	}
	return buf;
}

static int get_int_opt(int fd, int level, int name, int *val)
{
	socklen_t len = sizeof(*val);

	*val = 0;
	return getsockopt(fd, level, name, val, &len) ? -errno : 0;
}

/*
 * The bytes (stream) or messages (datagram, seqpacket: u32 length + bytes)
 * queued for reading on fd, peeked under SO_PEEK_OFF so that every message
 * is seen; the peek offset is put back as it was.
 */
/*
 * What a peeked message carries besides its bytes.  Restore can send again
 * a message with nothing, with credentials that are none (sent while
 * nobody asked for them: pid 0), or with fds (SCM_RIGHTS): the peek
 * installs copies of them in thaw, which go to *fds (at most
 * IMAGE_MAX_RIGHTS_FDS, in order).  Anything else is refused; the fds are
 * the caller's to close even then.
 */
static int check_ancillary(const struct fd_dump_ctx *ctx, const struct fd_probe *p,
			   struct msghdr *msg, const char *asked, int *fds, uint32_t *nr_fds,
			   struct ucred *ret_cred)
{
	struct cmsghdr *c;
	struct ucred cred = { 0 };
	int err = 0, fd;
	size_t i;

	*nr_fds = 0;
	ret_cred->pid = 0;
	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			for (i = 0; CMSG_LEN((i + 1) * sizeof(int)) <= c->cmsg_len; i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (*nr_fds < IMAGE_MAX_RIGHTS_FDS)
					fds[(*nr_fds)++] = fd;
				else
					close(fd);
			}
			continue;
		}
		if (err)
			continue;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS ||
		    c->cmsg_len < CMSG_LEN(sizeof(cred))) {
			err = fd_dump_error(ctx, p, -ENOTSUP, "a queued message carries control "
					    "data %d/%d: not supported", c->cmsg_level,
					    c->cmsg_type);
			continue;
		}
		memcpy(&cred, CMSG_DATA(c), sizeof(cred));
		/* the process's own come back as the restored process's own */
		if (cred.pid && cred.pid != ctx->pid)
			err = fd_dump_error(ctx, p, -ENOTSUP, "a queued message carries the "
					    "credentials (SO_PASSCRED) of pid %d uid %u, another "
					    "process: thaw cannot send them again", cred.pid, cred.uid);
		else
			*ret_cred = cred;
	}
	if (!err && (msg->msg_flags & MSG_CTRUNC))
		err = fd_dump_error(ctx, p, -ENOTSUP, "a queued message carries more control "
				    "data than file descriptors (SCM_RIGHTS)%s", asked);
	return err;
}

static void close_all(const int *fds, uint32_t nr)
{
	uint32_t i;

	for (i = 0; i < nr; i++)
		close(fds[i]);
}

/* Closes the fds a peek installed. */
static void close_peeked(struct msghdr *msg)
{
	struct cmsghdr *c;
	size_t i;
	int fd;

	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (i = 0; CMSG_LEN((i + 1) * sizeof(int)) <= c->cmsg_len; i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
			}
}

/* Room for a message's credentials and the most fds one can carry. */
union peek_control {
	char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(IMAGE_MAX_RIGHTS_FDS * sizeof(int))];
	struct cmsghdr align;
};

/* Another process of the tree holds socket ino. */
static bool tree_holds_elsewhere(const struct fd_dump_ctx *ctx, uint64_t ino)
{
	size_t i;

	for (i = 0; ino && ctx->tree && i < ctx->tree->nr; i++)
		if (ctx->tree->ends[i].is_socket && ctx->tree->ends[i].ino == ino &&
		    ctx->tree->ends[i].pid != ctx->pid)
			return true;
	return false;
}

/* A queued message (at, len as in add_rights) carries the process's own credentials. */
static int add_creds(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
		     uint64_t at, uint32_t len, const struct ucred *cred)
{
	struct image_sock_attrs *a = &out->sock.attrs;
	struct image_sock_creds *r;

	if (tree_holds_elsewhere(ctx, out->sock.ino) ||
	    tree_holds_elsewhere(ctx, out->sock.peer_ino))
		return fd_dump_error(ctx, p, -ENOTSUP, "messages with credentials (SO_PASSCRED) "
				     "are queued on a socket pair another process of the tree "
				     "holds too: not supported");
	if (a->nr_creds >= IMAGE_MAX_SOCK_RIGHTS)
		return fd_dump_error(ctx, p, -E2BIG, "more than %u queued messages carry "
				     "credentials", IMAGE_MAX_SOCK_RIGHTS);
	r = realloc(a->creds, (a->nr_creds + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	a->creds = r;
	a->creds[a->nr_creds++] = (struct image_sock_creds){ at, len, cred->uid, cred->gid };
	return 0;
}

/*
 * The fds a queued message carries, at (message index, or stream offset
 * with the piece's len): each a file in flight (fd_dump_flight), named in
 * out's rights.  fds are taken (kept or closed) in every case.
 */
static int add_rights(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
		      uint64_t at, uint32_t len, int *fds, uint32_t nr)
{
	struct image_sock_attrs *a = &out->sock.attrs;
	struct image_sock_rights *r;
	uint32_t i;
	int err = 0;

	if (ctx->in_flight)
		err = fd_dump_error(ctx, p, -ENOTSUP, "a socket in flight has messages carrying "
				    "file descriptors queued on it: not supported");
	else if (tree_holds_elsewhere(ctx, out->sock.ino) ||
		 tree_holds_elsewhere(ctx, out->sock.peer_ino))
		err = fd_dump_error(ctx, p, -ENOTSUP, "messages carrying file descriptors are "
				    "queued on a socket pair another process of the tree holds "
				    "too: not supported");
	else if (a->nr_rights >= IMAGE_MAX_SOCK_RIGHTS)
		err = fd_dump_error(ctx, p, -E2BIG, "more than %u queued messages carry file "
				    "descriptors", IMAGE_MAX_SOCK_RIGHTS);
	r = err ? NULL : realloc(a->rights, (a->nr_rights + 1) * sizeof(*r));
	if (!err && !r)
		err = -ENOMEM;
	if (err) {
		close_all(fds, nr);
		return err;
	}
	a->rights = r;
	r = &a->rights[a->nr_rights++];
	*r = (struct image_sock_rights){ .at = at, .len = len };
	r->fds = calloc(nr, sizeof(*r->fds));
	if (!r->fds) {
		close_all(fds, nr);
		return -ENOMEM;
	}
	for (i = 0; i < nr; i++) {
		err = fd_dump_flight(ctx, p, fds[i], &r->fds[r->nr_fds]);
		if (err) {
			close_all(fds + i + 1, nr - i - 1);
			return err;
		}
		r->nr_fds++;
	}
	return 0;
}

/* What the socket asks to receive with each message that the peek cannot take. */
static const char *asks_for(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (!getsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &v, &len) && v)
		return " or a pidfd (SO_PASSPIDFD)";
	len = sizeof(v);
	if (!getsockopt(fd, SOL_SOCKET, SO_PASSSEC, &v, &len) && v)
		return " or a security label (SO_PASSSEC)";
	return "";
}

static int peek_queue(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
		      bool has_error, bool is_shut_rd)
{
	struct image_blob *ret = &out->sock.queue;
	int type = out->sock.type;
	size_t cap = PEEK_CHUNK + 4, used = 0, bytes = 0;
	int old_off, zero = 0, off_none = -1, err = 0, inq = -1;
	bool head;
	int fds[IMAGE_MAX_RIGHTS_FDS];
	uint32_t nr_fds;
	struct ucred cred = { 0 };
	const char *asked = asks_for(p->local);
	uint32_t nr_msgs = 0;
	char *buf, *nbuf;

	memset(ret, 0, sizeof(*ret));
	/*
	 * A peek past the last byte returns a pending error and clears it: with
	 * one pending, stop at the bytes SIOCINQ counts.  A seqpacket queue may
	 * end in empty messages SIOCINQ does not count: refused then.
	 */
	if (has_error && (type != SOCK_STREAM || ioctl(p->local, SIOCINQ, &inq) || inq < 0))
		return fd_dump_error(ctx, p, -ENOTSUP, "a socket error is pending on a %s: thaw "
				     "cannot restore it", type == SOCK_STREAM ? "stream whose "
				     "queue it cannot count" : "seqpacket socket");
	if (get_int_opt(p->local, SOL_SOCKET, SO_PEEK_OFF, &old_off))
		return fd_dump_error(ctx, p, -ENOTSUP, "socket has no peek offset: %s",
				     strerror(errno));
	/*
	 * An empty message peeked at once (by the program too) is passed over
	 * by every later peek under an offset: the message at the head is
	 * peeked without one first, and taken from there if it is empty.
	 */
	head = type != SOCK_STREAM && !is_shut_rd;
	if (setsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, head ? &off_none : &zero, sizeof(zero)))
		return fd_dump_error(ctx, p, -errno, "SO_PEEK_OFF: %s", strerror(errno));
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		union peek_control control;
		struct iovec iov;
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
				      .msg_controllen = sizeof(control.buf) };
		size_t hdr = type == SOCK_STREAM ? 0 : 4;
		ssize_t n;

		if (cap - used < PEEK_CHUNK + hdr) {
			if (cap > IMAGE_MAX_SOCK_QUEUE) {
				err = fd_dump_error(ctx, p, -E2BIG,
						    "more than %u bytes queued on the socket",
						    IMAGE_MAX_SOCK_QUEUE);
				goto out;
			}
			nbuf = realloc(buf, cap * 2);
			if (!nbuf) {
				err = -ENOMEM;
				goto out;
			}
			buf = nbuf;
			cap *= 2;
		}
		if (inq >= 0 && bytes >= (size_t)inq)
			break;
		iov.iov_base = buf + used + hdr;
		iov.iov_len = PEEK_CHUNK;
		n = recvmsg(p->local, &msg, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (head) {
			head = false;
			if (setsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero))) {
				err = fd_dump_error(ctx, p, -errno, "SO_PEEK_OFF: %s",
						    strerror(errno));
				if (n >= 0)
					close_peeked(&msg);
				goto out;
			}
			if (n > 0) {
				close_peeked(&msg); /* the walk under the offset sees it */
				continue;
			}
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			err = fd_dump_error(ctx, p, -errno, "peeking at queued data: %s",
					    strerror(errno));
			goto out;
		}
		if (msg.msg_flags & MSG_TRUNC) {
			err = fd_dump_error(ctx, p, -ENOTSUP, "a queued message is larger than %u "
					    "bytes: not supported", PEEK_CHUNK);
			goto out;
		}
		err = check_ancillary(ctx, p, &msg, asked, fds, &nr_fds, &cred);
		if (err) {
			close_all(fds, nr_fds);
			goto out;
		}
		if (n == 0 && type == SOCK_STREAM)
			break; /* the peer is gone and the queue is empty */
		/*
		 * A stream peek that brings fds stops after the piece sent with
		 * them, and may begin with bytes sent before without any: no
		 * peek tells where the piece began, so all go back as one.
		 */
		if (nr_fds)
			err = add_rights(ctx, p, out, type == SOCK_STREAM ? bytes : nr_msgs,
					 type == SOCK_STREAM ? (uint32_t)n : 0, fds, nr_fds);
		if (!err && cred.pid)
			err = add_creds(ctx, p, out, type == SOCK_STREAM ? bytes : nr_msgs,
					type == SOCK_STREAM ? (uint32_t)n : 0, &cred);
		if (err)
			goto out;
		/*
		 * An empty message peeks as 0 bytes and the peek offset moves past
		 * it; on a seqpacket socket shut for reading, 0 is also the end.
		 */
		if (n == 0 && is_shut_rd && type == SOCK_SEQPACKET) {
			err = fd_dump_error(ctx, p, -ENOTSUP, "an empty message is queued on a "
					    "socket shut for reading: thaw cannot tell it from the "
					    "end of the queue");
			goto out;
		}
		if (hdr) {
			uint32_t len = (uint32_t)n;

			memcpy(buf + used, &len, 4); /* little-endian on x86-64 */
			if (++nr_msgs > MAX_QUEUED_MSGS) {
				err = fd_dump_error(ctx, p, -E2BIG, "too many messages queued");
				goto out;
			}
		}
		used += hdr + (size_t)n;
		bytes += (size_t)n;
	}
	if (used)
		err = image_add_blob(ctx->img, buf, used, ret);
out:
	free(buf);
	if (setsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off)) && !err)
		err = fd_dump_error(ctx, p, -errno, "putting SO_PEEK_OFF back: %s",
				    strerror(errno));
	return err;
}

static bool has_probe_ino(const struct fd_dump_ctx *ctx, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_probes; i++)
		if (S_ISSOCK(ctx->probes[i].st.st_mode) && ctx->probes[i].st.st_ino == ino)
			return true;
	for (i = 0; i < ctx->nr_flight; i++)
		if (ctx->flight[i].kind == IMAGE_FD_SOCKET && ctx->flight[i].sock.ino == ino)
			return true;
	return fd_tree_has(ctx, ino, true, NULL);
}

/*
 * A pair end whose peer is nowhere yet may have it in flight on a socket
 * dumped later: checked at the end (fds.c), refused then as out says.
 */
static int peer_unsure(struct fd_dump_ctx *ctx, const struct fd_probe *p, const struct image_fd *out,
		       uint64_t peer_ino)
{
	struct fd_unsure_peer *u = realloc(ctx->unsure, (ctx->nr_unsure + 1) * sizeof(*u));
	char peer[160];

	if (!u)
		return -ENOMEM;
	ctx->unsure = u;
	u = &ctx->unsure[ctx->nr_unsure++];
	u->p = p;
	u->peer_ino = peer_ino;
	if (out->sock.type != SOCK_DGRAM)
		snprintf(u->why, sizeof(u->why), "Unix socket connected to socket:[%llu] (%s) "
			 "outside the process", (unsigned long long)peer_ino,
			 addr_str(AF_UNIX, out->sock.peer, out->sock.peer_len, peer, sizeof(peer)));
	else
		snprintf(u->why, sizeof(u->why), "datagram socket connected to unnamed "
			 "socket:[%llu] outside the process", (unsigned long long)peer_ino);
	return 0;
}

int socket_dump_unsure_peers(const struct fd_dump_ctx *ctx)
{
	uint32_t i, k;

	for (i = 0; i < ctx->nr_unsure; i++) {
		const struct fd_unsure_peer *u = &ctx->unsure[i];

		for (k = 0; k < ctx->nr_flight; k++)
			if (ctx->flight[k].kind == IMAGE_FD_SOCKET &&
			    ctx->flight[k].sock.ino == u->peer_ino)
				break;
		if (k == ctx->nr_flight)
			return fd_dump_error(ctx, u->p, -ENOTSUP, "%s", u->why);
	}
	return 0;
}

/* poll() bits of the duplicate, now: POLLERR (an error or error-queue message), POLLRDHUP. */
static short poll_now(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, 0) == 1 ? pfd.revents : 0;
}

static int dump_unix(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
		     bool is_listening)
{
	struct sock_diag_info di;
	uint64_t listener;
	char peer[160];
	int ret, inq = 0;
	bool has_error = poll_now(p->local) & POLLERR, is_unsure;

	ret = sock_diag_unix(out->sock.ino, &di);
	if (ret)
		return fd_dump_error(ctx, p, ret, "sock_diag for Unix socket: %s (is unix_diag "
					     "available?)", strerror(-ret));
	out->sock.attrs.shutdown = di.shutdown;
	/*
	 * A Unix socket's only error is ECONNRESET, left by a peer that closed
	 * with data unread: kept for a pair end whose peer is gone (restore
	 * makes its peer close the same way), refused elsewhere.
	 */
	if (has_error && (is_listening || !di.has_peer || di.peer_ino ||
			  out->sock.type == SOCK_DGRAM))
		return fd_dump_error(ctx, p, -ENOTSUP, "a socket error is pending: thaw cannot "
				     "restore it");
	out->sock.attrs.is_reset_by_peer = has_error;
	if (is_listening) {
		out->sock.state = IMAGE_SOCK_LISTEN;
		out->sock.backlog = di.backlog;
		ret = sockunix_dump_waiting(ctx, p, out, di.pending);
		return ret ? ret : sockunix_dump_file(ctx, p, out, &di);
	}
	/* a client waiting to be accepted is connected to a socket that has no inode yet */
	if (di.has_peer && !di.peer_ino && out->sock.type != SOCK_DGRAM &&
	    !sock_diag_unix_listener_of(out->sock.ino, &listener))
		return sockunix_dump_waiting_client(ctx, p, out, listener);
	/* a peer in flight on a socket not dumped yet: made a pair, checked at the end */
	is_unsure = di.has_peer && di.peer_ino && !ctx->in_flight && !has_probe_ino(ctx, di.peer_ino) &&
		    (out->sock.type != SOCK_DGRAM || !out->sock.peer_len);
	if (is_unsure && (ret = peer_unsure(ctx, p, out, di.peer_ino)))
		return ret;
	if (di.has_peer && (!di.peer_ino || is_unsure || has_probe_ino(ctx, di.peer_ino))) {
		/* a pair within the process, or an end whose peer has been closed */
		out->sock.state = IMAGE_SOCK_PAIR;
		out->sock.peer_ino = di.peer_ino;
		out->sock.peer_len = 0;
		return peek_queue(ctx, p, out, has_error, di.shutdown & IMAGE_SOCK_SHUT_RD);
	}
	if (di.has_peer && out->sock.type != SOCK_DGRAM)
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "Unix socket connected to socket:[%llu] (%s) outside the "
				     "process",
				     (unsigned long long)di.peer_ino,
				     addr_str(AF_UNIX, out->sock.peer, out->sock.peer_len, peer,
					      sizeof(peer)));
	if (di.has_peer && !out->sock.peer_len)
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "datagram socket connected to unnamed socket:[%llu] outside "
				     "the process",
				     (unsigned long long)di.peer_ino);
	/* a named peer (like /dev/log) is connected to again by name at restore */
	out->sock.state = out->sock.addr_len > offsetof(struct sockaddr_un, sun_path) ?
				  IMAGE_SOCK_BOUND :
				  IMAGE_SOCK_UNBOUND;
	/*
	 * Not FIONREAD: an empty datagram (which may carry fds) counts 0 bytes.
	 * POLLIN, unless the socket is shut for reading (then always POLLIN): a
	 * peek of nothing answers EAGAIN for an empty datagram queue only.
	 */
	if (di.shutdown & IMAGE_SOCK_SHUT_RD ? recv(p->local, &inq, 0, MSG_PEEK | MSG_DONTWAIT) >= 0 :
					       (poll_now(p->local) & POLLIN) != 0)
		return fd_dump_error(ctx, p, -ENOTSUP, "messages are queued on it: thaw restores "
				     "the queues of socket pairs only");
	return sockunix_dump_file(ctx, p, out, &di);
}

static const char *tcp_state_name(int state)
{
	static const char *const names[] = {
		"?", "established", "syn-sent", "syn-recv", "fin-wait1", "fin-wait2",
		"time-wait", "close", "close-wait", "last-ack", "listen", "closing",
	};
	const int nr = (int)(sizeof(names) / sizeof(names[0]));

	return state > 0 && state < nr ? names[state] : "?";
}

/*
 * A TCP socket in state CLOSE was never connected, or its connection ended
 * (reset, refused, or closed both ways): the kernel then shut it down in
 * both directions and may hold its error.  An ended one is a connection
 * like the others (refused, or reset with --tcp-close), not a fresh socket.
 * sock_diag shows a bound one's shutdown; poll shows the receive side of any.
 */
static bool ended_connection(int fd, const struct image_fd *out)
{
	struct sock_diag_info di;

	if (poll_now(fd) & (POLLERR | POLLRDHUP))
		return true;
	return !sock_diag_inet(out->sock.family, IPPROTO_TCP, 1u << TCP_CLOSE | 1u << 13,
			       out->sock.ino, &di) &&
	       di.shutdown; /* 13: TCP_BOUND_INACTIVE, a bound socket that is not listening */
}

static int dump_inet(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
		     bool is_listening)
{
	struct sock_diag_info di;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char a[160], b[160];
	int ret;
	bool has_port = false;

	if (out->sock.addr_len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;

		memcpy(&in, out->sock.addr, sizeof(in)); /* the port sits at the same place in v6 */
		has_port = in.sin_port != 0;
	}
	if (out->sock.type == SOCK_DGRAM) {
		out->sock.state = has_port ? IMAGE_SOCK_BOUND : IMAGE_SOCK_UNBOUND;
		if (poll_now(p->local) & POLLERR)
			return fd_dump_error(ctx, p, -ENOTSUP, "a socket error or a message of its "
					     "error queue is pending: thaw cannot restore it");
		if (out->sock.protocol != IPPROTO_UDP && out->sock.protocol != IPPROTO_UDPLITE)
			return 0; /* ICMP: no sock_diag to show a shutdown; docs/sockets.md */
		ret = sock_diag_inet(out->sock.family, out->sock.protocol, ~0u, out->sock.ino, &di);
		if (ret == -ENOENT && !has_port) {
			/* sock_diag lists bound UDP sockets only; poll shows the read side */
			di.shutdown = poll_now(p->local) & POLLRDHUP ? IMAGE_SOCK_SHUT_RD : 0;
			ret = 0;
		}
		if (ret)
			return fd_dump_error(ctx, p, ret, "sock_diag for a UDP socket: %s (is "
					     "udp_diag available?)", strerror(-ret));
		out->sock.attrs.shutdown = di.shutdown;
		return 0; /* queued datagrams are dropped, as a network may drop them */
	}
	if (out->sock.type != SOCK_STREAM || out->sock.protocol != IPPROTO_TCP)
		return fd_dump_error(ctx, p, -ENOTSUP, "socket type %d protocol %d not supported",
				     out->sock.type, out->sock.protocol);
	if (is_listening) {
		out->sock.state = IMAGE_SOCK_LISTEN;
		ret = sock_diag_inet(out->sock.family, IPPROTO_TCP, 1u << TCP_LISTEN,
				     out->sock.ino, &di);
		if (ret)
			return fd_dump_error(ctx, p, ret, "sock_diag for a TCP listener: %s (is "
					     "inet_diag available?): its backlog and accept queue "
					     "cannot be read", strerror(-ret));
		out->sock.backlog = di.backlog;
		/*
		 * A connection waiting to be accepted has no fd: its TCP state
		 * cannot be read without accepting it, and no interface puts
		 * a connection back into an accept queue.  Dropping it would
		 * leave its client talking to a process that never answers.
		 */
		addr_str(out->sock.family, out->sock.addr, out->sock.addr_len, a, sizeof(a));
		if (di.pending)
			return fd_dump_error(ctx, p, -ENOTSUP, "TCP listener on %s: %u connection%s "
					     "waiting to be accepted: thaw cannot restore them "
					     "(dump once the program has accepted them)", a,
					     di.pending, di.pending == 1 ? "" : "s");
		return 0;
	}
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(p->local, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return fd_dump_error(ctx, p, -errno, "TCP_INFO: %s", strerror(errno));
	if (ti.tcpi_state == TCP_CLOSE && !ended_connection(p->local, out)) {
		out->sock.state = has_port ? IMAGE_SOCK_BOUND : IMAGE_SOCK_UNBOUND;
		out->sock.peer_len = 0;
		return 0;
	}
	addr_str(out->sock.family, out->sock.addr, out->sock.addr_len, a, sizeof(a));
	addr_str(out->sock.family, out->sock.peer, out->sock.peer_len, b, sizeof(b));
	if (!ctx->tcp_close && ti.tcpi_state == TCP_ESTABLISHED) {
		/* kept whole: fd-socket-tcp.c, once the options are read */
		out->sock.state = IMAGE_SOCK_TCP;
		ret = sock_diag_inet(out->sock.family, IPPROTO_TCP, 1u << TCP_ESTABLISHED,
				     out->sock.ino, &di);
		if (ret)
			return fd_dump_error(ctx, p, ret, "sock_diag for a TCP connection: %s",
					     strerror(-ret));
		out->sock.attrs.shutdown = di.shutdown;
		return 0;
	}
	if (!ctx->tcp_close)
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "TCP connection %s -> %s %s: thaw keeps established "
				     "connections only (dump with --tcp-close to have it come "
				     "back reset)",
				     a, b, tcp_state_name(ti.tcpi_state));
	log_info("pid %d fd %d: TCP connection %s -> %s %s: dumped as closed (--tcp-close)",
		 ctx->pid, p->fd, a, b, tcp_state_name(ti.tcpi_state));
	out->sock.state = IMAGE_SOCK_RESET;
	return 0;
}

int socket_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family, type, protocol, acc = 0, ret;

	if (get_int_opt(p->local, SOL_SOCKET, SO_DOMAIN, &family) ||
	    get_int_opt(p->local, SOL_SOCKET, SO_TYPE, &type) ||
	    get_int_opt(p->local, SOL_SOCKET, SO_PROTOCOL, &protocol))
		return fd_dump_error(ctx, p, -errno, "socket domain/type: %s", strerror(errno));
	if (family != AF_UNIX && family != AF_INET && family != AF_INET6)
		return fd_dump_error(ctx, p, -ENOTSUP, "%s (family %d) is not supported",
				     family == AF_NETLINK ? "a netlink socket" :
				     family == AF_PACKET ? "a packet socket" : "a socket of this family",
				     family);
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return fd_dump_error(ctx, p, -ENOTSUP, "%s (type %d) is not supported",
				     type == SOCK_RAW ? "a raw socket" : "a socket of this type", type);
	out->kind = IMAGE_FD_SOCKET;
	out->pos = 0;
	out->sock.family = family;
	out->sock.type = type;
	out->sock.protocol = protocol;
	out->sock.ino = p->st.st_ino;
	len = sizeof(ss);
	if (getsockname(p->local, (struct sockaddr *)&ss, &len))
		return fd_dump_error(ctx, p, -errno, "getsockname: %s", strerror(errno));
	out->sock.addr_len = len < IMAGE_SOCK_ADDR_MAX ? len : IMAGE_SOCK_ADDR_MAX;
	memcpy(out->sock.addr, &ss, out->sock.addr_len);
	len = sizeof(ss);
	if (!getpeername(p->local, (struct sockaddr *)&ss, &len)) {
		out->sock.peer_len = len < IMAGE_SOCK_ADDR_MAX ? len : IMAGE_SOCK_ADDR_MAX;
		memcpy(out->sock.peer, &ss, out->sock.peer_len);
	}
	get_int_opt(p->local, SOL_SOCKET, SO_ACCEPTCONN, &acc);
	ret = family == AF_UNIX ? dump_unix(ctx, p, out, acc) : dump_inet(ctx, p, out, acc);
	if (!ret)
		ret = sockopts_dump(ctx, p, out);
	/* last: repair mode shows in the options (TCP_REPAIR), and stays on */
	return ret || out->sock.state != IMAGE_SOCK_TCP ? ret : tcp_conn_dump(ctx, p, out);
}

/* ------------------------------------------------------------- restore */

/*
 * The directions shut down, last: nothing can be sent through a socket
 * after SHUT_WR, and the queues are in by now.  A Unix socket's bits are
 * read back from sock_diag; shutting down one end of a pair marks the other.
 */
static int set_shutdown(int fd, const struct image_fd *f)
{
	uint32_t bits = f->sock.attrs.shutdown;
	struct sock_diag_info di;
	struct stat st;

	if (!bits)
		return 0;
	/* SHUT_RD 0 is RCV_SHUTDOWN 1, SHUT_WR 1 is SEND_SHUTDOWN 2, SHUT_RDWR 2 both */
	if (shutdown(fd, (int)bits - 1) && errno != ENOTCONN)
		return fd_restore_error(f, -errno, "shutdown: %s", strerror(errno));
	if (f->sock.family != AF_UNIX)
		return 0;
	if (fstat(fd, &st) || sock_diag_unix(st.st_ino, &di) || (di.shutdown & bits) != bits)
		return fd_restore_error(f, -EIO, "shutdown %u does not read back", bits);
	return 0;
}

/* The options kept (sockopts_apply), the shutdown, then the status flags. */
static int set_opts(int fd, const struct image_fd *f, enum sockopt_phase phase)
{
	int ret = sockopts_apply(fd, f, phase);

	if (!ret && phase != SOCKOPT_BEFORE_BIND)
		ret = set_shutdown(fd, f);
	return ret ? ret : fd_set_flags_pos(fd, f, false);
}

static int set_reuseaddr(const struct image_fd *f, int fd, int64_t on)
{
	int v = on != 0;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)))
		return fd_restore_error(f, -errno, "SO_REUSEADDR: %s", strerror(errno));
	return 0;
}

static int new_socket(const struct image_fd *f)
{
	int fd = socket(f->sock.family, f->sock.type | SOCK_CLOEXEC, f->sock.protocol);

	if (fd < 0)
		return fd_restore_error(f, -errno, "socket(%d, %d, %d): %s", f->sock.family,
					f->sock.type, f->sock.protocol, strerror(errno));
	return fd;
}

static int bind_addr(int fd, const struct image_fd *f)
{
	struct sockaddr_storage ss = { 0 };
	char a[160];

	memcpy(&ss, f->sock.addr, f->sock.addr_len);
	if (f->sock.family == AF_UNIX && f->sock.addr_len > offsetof(struct sockaddr_un, sun_path) &&
	    f->sock.addr[offsetof(struct sockaddr_un, sun_path)])
		return sockunix_bind_path(fd, f, (struct sockaddr_un *)&ss, f->sock.addr_len);
	if (bind(fd, (struct sockaddr *)&ss, f->sock.addr_len))
		return fd_restore_error(f, -errno, "bind to %s: %s",
					addr_str(f->sock.family, f->sock.addr, f->sock.addr_len, a,
						 sizeof(a)),
					strerror(errno));
	return 0;
}

static int connect_waiting(struct fd_restore_ctx *ctx, const struct image_fd *l);

/*
 * A socket with a name or none: made, bound, listening (with its waiting
 * clients connected) or connected (a datagram socket to its peer, a
 * waiting client to its listener), as it was.
 */
static int restore_named(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	bool is_tcp = f->sock.family != AF_UNIX && f->sock.type == SOCK_STREAM;
	bool is_named = f->sock.addr_len > sizeof(sa_family_t);
	int64_t reuse = 0;
	char a[160];
	int fd, ret;

	ret = sockopts_check(f);
	if (ret)
		return ret;
	fd = new_socket(f);
	if (fd < 0)
		return fd;
	ret = sockopts_apply(fd, f, SOCKOPT_BEFORE_BIND);
	/*
	 * A TCP port whose old connections sit in TIME-WAIT cannot be bound
	 * without SO_REUSEADDR; the program's own setting is put back after
	 * listen(), where it no longer decides anything for us.
	 */
	if (!ret && is_tcp)
		ret = set_reuseaddr(f, fd, 1);
	if (!ret && f->sock.state != IMAGE_SOCK_UNBOUND &&
	    (f->sock.state != IMAGE_SOCK_PENDING || is_named))
		ret = bind_addr(fd, f);
	if (!ret && f->sock.state == IMAGE_SOCK_LISTEN && listen(fd, (int)f->sock.backlog))
		ret = fd_restore_error(f, -errno, "listen: %s", strerror(errno));
	if (!ret && f->sock.attrs.nr_pending)
		ret = connect_waiting(ctx, f);
	if (!ret)
		ret = sockunix_unlink_file(fd, f);
	if (!ret && f->sock.peer_len &&
	    (f->sock.type == SOCK_DGRAM || f->sock.state == IMAGE_SOCK_PENDING)) {
		struct sockaddr_storage ss = { 0 };

		memcpy(&ss, f->sock.peer, f->sock.peer_len);
		if (connect(fd, (struct sockaddr *)&ss, f->sock.peer_len))
			ret = fd_restore_error(f, -errno, "connect to %s: %s",
					       addr_str(f->sock.family, f->sock.peer,
							f->sock.peer_len, a, sizeof(a)),
					       strerror(errno));
	}
	if (!ret)
		ret = set_opts(fd, f, SOCKOPT_AFTER_BIND);
	if (!ret && is_tcp) {
		sockopts_value(f, SOL_SOCKET, SO_REUSEADDR, &reuse);
		ret = set_reuseaddr(f, fd, reuse);
	}
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * A TCP connection dumped with --tcp-close: a loopback connection whose
 * accepting side is closed with SO_LINGER 0, so that the peer's RST is
 * already there when the program runs: its next read fails with
 * ECONNRESET, later ones see EOF, writes fail with EPIPE, as after a reset.
 */
static int restore_reset(const struct image_fd *f, int *ret_fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = f->sock.family == AF_INET ? sizeof(struct sockaddr_in) :
						      sizeof(struct sockaddr_in6);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct pollfd pfd;
	int lfd, cfd = -1, afd = -1, ret = 0;

	ss.ss_family = (sa_family_t)f->sock.family;
	if (f->sock.family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	lfd = new_socket(f);
	if (lfd < 0)
		return lfd;
	cfd = new_socket(f);
	if (cfd < 0) {
		ret = cfd;
		goto out;
	}
	if (bind(lfd, (struct sockaddr *)&ss, len) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &len) ||
	    connect(cfd, (struct sockaddr *)&ss, len)) {
		ret = fd_restore_error(f, -errno, "loopback connection to reset: %s",
				       strerror(errno));
		goto out;
	}
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0 || setsockopt(afd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))) {
		ret = fd_restore_error(f, -errno, "accepting the connection to reset: %s",
				       strerror(errno));
		goto out;
	}
	close(afd);
	afd = -1;
	pfd = (struct pollfd){ .fd = cfd, .events = POLLIN };
	if (poll(&pfd, 1, 1000) != 1 || !(pfd.revents & (POLLERR | POLLHUP))) {
		ret = fd_restore_error(f, -ETIMEDOUT, "the reset did not arrive");
		goto out;
	}
	ret = set_opts(cfd, f, SOCKOPT_ALL);
out:
	if (afd >= 0)
		close(afd);
	close(lfd);
	if (ret) {
		if (cfd >= 0)
			close(cfd);
		return ret;
	}
	*ret_fd = cfd;
	return 0;
}

/*
 * An established connection (fd-socket-tcp.c), then its options, in repair
 * mode: tcp_conns_resume() ends it, and puts the program's SO_REUSEADDR back.
 */
static int restore_tcp(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	int fd, ret;

	ret = tcp_conn_restore(ctx, f, &fd);
	if (ret)
		return ret;
	ret = set_opts(fd, f, SOCKOPT_AFTER_BIND);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}

/* The files in flight of r, made already (they come first in img->fds), into fds. */
static int flight_fds(const struct fd_restore_ctx *ctx, const struct image_fd *f,
		      const struct image_sock_rights *r, int *fds)
{
	uint32_t i, k;

	for (i = 0; i < r->nr_fds; i++) {
		for (k = 0; k < ctx->img->nr_fds && ctx->img->fds[k].fd != r->fds[i]; k++)
			;
		if (k == ctx->img->nr_fds || !ctx->made || ctx->made[k] < 0)
			return fd_restore_error(f, -EINVAL, "file in flight %d is %s", r->fds[i],
						k == ctx->img->nr_fds ? "not in the snapshot" :
									"not made before its message");
		fds[i] = ctx->made[k];
	}
	return 0;
}

/*
 * Sends n bytes at p through fd, with the files in flight of r and the
 * credentials of cr (the process's own: the helper's pid is the restored
 * process's) where not NULL: one message, a datagram or a stream piece.
 */
static ssize_t send_piece(struct fd_restore_ctx *ctx, const struct image_fd *f, int fd,
			  const uint8_t *p, uint64_t n, const struct image_sock_rights *r,
			  const struct image_sock_creds *cr)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(IMAGE_MAX_RIGHTS_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)p, n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control };
	struct ucred cred;
	struct cmsghdr *c;
	int fds[IMAGE_MAX_RIGHTS_FDS], ret;

	memset(&control, 0, sizeof(control));
	if (cr)
		msg.msg_controllen += CMSG_SPACE(sizeof(cred));
	if (r)
		msg.msg_controllen += CMSG_SPACE(r->nr_fds * sizeof(int));
	c = CMSG_FIRSTHDR(&msg);
	if (cr) {
		cred = (struct ucred){ getpid(), cr->uid, cr->gid };
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(cred));
		memcpy(CMSG_DATA(c), &cred, sizeof(cred));
		c = CMSG_NXTHDR(&msg, c);
	}
	if (r) {
		if (r->nr_fds > IMAGE_MAX_RIGHTS_FDS)
			return fd_restore_error(f, -EINVAL, "%u fds in one message", r->nr_fds);
		ret = flight_fds(ctx, f, r, fds);
		if (ret)
			return ret;
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(r->nr_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, r->nr_fds * sizeof(int));
	}
	if (!msg.msg_controllen)
		msg.msg_control = NULL;
	ret = (int)sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	return ret < 0 ? -errno : ret;
}

/* Sends a dumped queue through fd so that its peer has it to read, fds in flight with it. */
static int fill_queue(struct fd_restore_ctx *ctx, const struct image_fd *f, int fd)
{
	const struct image_blob *q = &f->sock.queue;
	const struct image_sock_attrs *a = &f->sock.attrs;
	const struct image_sock_rights *r;
	const struct image_sock_creds *cr;
	uint8_t *data = NULL;
	uint64_t off = 0, msgs = 0;
	uint32_t next = 0, next_cr = 0;
	int ret, room, old_size, old_lock;

	if (!q->len)
		return 0;
	ret = image_read_blob(ctx->img, q, (void **)&data);
	if (ret)
		return fd_restore_error(f, ret, "reading queued data: %s", strerror(-ret));
	/*
	 * Room for it all whatever the dumped buffer sizes; fd's own size and
	 * lock (SO_BUF_LOCK) are put back after, for its options to decide.
	 */
	if (get_int_opt(fd, SOL_SOCKET, SO_SNDBUF, &old_size) ||
	    get_int_opt(fd, SOL_SOCKET, SO_BUF_LOCK, &old_lock)) {
		ret = fd_restore_error(f, -errno, "SO_SNDBUF: %s", strerror(errno));
		goto out;
	}
	room = q->len > INT32_MAX / 4 ? INT32_MAX / 4 : (int)q->len * 2 + 65536;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof(room));
	while (off < q->len) {
		uint64_t n = q->len - off;
		const uint8_t *p = data + off;
		ssize_t sent;

		r = next < a->nr_rights ? &a->rights[next] : NULL;
		cr = next_cr < a->nr_creds ? &a->creds[next_cr] : NULL;
		if (f->sock.type == SOCK_STREAM && (r || cr)) {
			/* the next piece with fds or credentials, or the bytes before it */
			uint64_t at = r && (!cr || r->at < cr->at) ? r->at : cr->at;
			uint32_t len = r && r->at == at ? r->len : cr->len;

			if (at < off || at + len > q->len || (r && r->at == at && r->len != len) ||
			    (cr && cr->at == at && cr->len != len) ||
			    (r && r->at > at && r->at < at + len) ||
			    (cr && cr->at > at && cr->at < at + len)) {
				ret = fd_restore_error(f, -EINVAL, "queue: a piece with fds or "
						       "credentials at byte %llu",
						       (unsigned long long)at);
				goto out;
			}
			n = at > off ? at - off : len;
			if (r && r->at != off)
				r = NULL;
			if (cr && cr->at != off)
				cr = NULL;
		}
		if (f->sock.type != SOCK_STREAM) {
			uint32_t mlen;

			if (n < 4) {
				ret = fd_restore_error(f, -EINVAL, "queue: truncated message header");
				goto out;
			}
			memcpy(&mlen, p, 4);
			if (mlen > n - 4) {
				ret = fd_restore_error(f, -EINVAL, "queue: message of %u bytes at %llu",
						       mlen, (unsigned long long)off);
				goto out;
			}
			p += 4;
			n = mlen;
			off += 4;
			if (r && r->at != msgs)
				r = NULL;
			if (cr && cr->at != msgs)
				cr = NULL;
			msgs++;
		}
		sent = send_piece(ctx, f, fd, p, n, r, cr);
		if (sent < 0 ||
		    (f->sock.type == SOCK_STREAM && !r && !cr ? sent == 0 : (uint64_t)sent != n)) {
			ret = fd_restore_error(f, sent < 0 ? (int)sent : -EIO,
					       "queueing %llu bytes: %s", (unsigned long long)n,
					       sent < 0 ? strerror((int)-sent) : "short send");
			goto out;
		}
		off += (uint64_t)sent;
		next += r != NULL;
		next_cr += cr != NULL;
	}
	if (next < a->nr_rights || next_cr < a->nr_creds) {
		ret = fd_restore_error(f, -EINVAL, "queue: %u messages with fds in flight or "
				       "credentials are not in it",
				       a->nr_rights - next + a->nr_creds - next_cr);
		goto out;
	}
	old_size /= 2; /* what SO_SNDBUF gives is twice what it was given */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &old_size, sizeof(old_size)) ||
	    setsockopt(fd, SOL_SOCKET, SO_BUF_LOCK, &old_lock, sizeof(old_lock)))
		ret = fd_restore_error(f, -errno, "putting SO_SNDBUF back: %s", strerror(errno));
out:
	free(data);
	return ret;
}

static const struct image_fd *find_ino(const struct image *img, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].kind == IMAGE_FD_SOCKET && img->fds[i].sock.ino == ino)
			return &img->fds[i];
	return NULL;
}

/*
 * The first end of a pair met makes the pair, fills both queues and keeps
 * the other end (in scratch) for when its fd comes; an end whose peer was
 * closed gets a pair whose other end is closed once the queue is in.
 */
int socket_pair_shared(struct fd_restore_ctx *ctx, const struct image_fd *f,
		       struct fd_restore_ctx *peer_ctx, const struct image_fd *peer, int *ret_f,
		       int *ret_peer)
{
	int sv[2], ret;

	ret = sockopts_check(f);
	if (!ret)
		ret = sockopts_check(peer);
	if (ret)
		return ret;
	if (peer->sock.state != IMAGE_SOCK_PAIR || peer->sock.peer_ino != f->sock.ino ||
	    peer->sock.type != f->sock.type)
		return fd_restore_error(f, -EINVAL, "its peer socket:[%llu] is not its pair end",
					(unsigned long long)f->sock.peer_ino);
	if (socketpair(AF_UNIX, f->sock.type | SOCK_CLOEXEC, 0, sv))
		return fd_restore_error(f, -errno, "socketpair: %s", strerror(errno));
	ret = fill_queue(ctx, f, sv[1]);
	if (!ret)
		ret = fill_queue(peer_ctx, peer, sv[0]);
	if (!ret)
		ret = set_opts(sv[0], f, SOCKOPT_ALL);
	if (!ret)
		ret = set_opts(sv[1], peer, SOCKOPT_ALL);
	if (ret) {
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	*ret_f = sv[0];
	*ret_peer = sv[1];
	return 0;
}

/*
 * An end whose peer was closed: its peer is closed now, after the queue is
 * in.  A peer that closed with data unread left ECONNRESET behind (the
 * next read after the data fails with it): closing a peer with a byte
 * queued to it does the same.
 */
static int close_peer(const struct image_fd *f, int sv[2])
{
	if (f->sock.attrs.is_reset_by_peer &&
	    send(sv[0], "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		return fd_restore_error(f, -errno, "a byte for its peer to leave unread: %s",
					strerror(errno));
	close(sv[1]);
	sv[1] = -1;
	if (f->sock.attrs.is_reset_by_peer && !(poll_now(sv[0]) & POLLERR))
		return fd_restore_error(f, -EIO, "its peer's close left no ECONNRESET");
	return 0;
}

/*
 * Sockets made before their fd's turn (a pair's other end, a listener with
 * its waiting clients) wait here, complete, in the scratch range.
 */
static int keep_end(struct fd_restore_ctx *ctx, const struct image_fd *f, int fd)
{
	if (!ctx->sock_ends) {
		ctx->sock_ends = calloc(ctx->img->nr_fds, sizeof(*ctx->sock_ends));
		if (!ctx->sock_ends) {
			close(fd);
			return -ENOMEM;
		}
	}
	fd = fd_to_scratch(ctx, fd);
	if (fd < 0 || ctx->nr_sock_ends >= ctx->img->nr_fds) {
		if (fd >= 0)
			close(fd);
		return fd_restore_error(f, fd < 0 ? fd : -EINVAL, "keeping it until its fd's turn");
	}
	ctx->sock_ends[ctx->nr_sock_ends].ino = f->sock.ino;
	ctx->sock_ends[ctx->nr_sock_ends].fd = fd;
	ctx->nr_sock_ends++;
	return 0;
}

static bool take_end(struct fd_restore_ctx *ctx, uint64_t ino, int *ret_fd)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_sock_ends; i++)
		if (ctx->sock_ends[i].ino == ino && ctx->sock_ends[i].fd >= 0) {
			*ret_fd = ctx->sock_ends[i].fd;
			ctx->sock_ends[i].fd = -1;
			return true;
		}
	return false;
}

static int restore_pair(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	const struct image_fd *peer = NULL;
	int sv[2], ret, shared;

	/* a pair with an end in another process of the tree: made once for all */
	shared = fd_shared_find(ctx->shared, FD_SHARED_SOCK, f->sock.ino);
	if (shared >= 0) {
		*ret_fd = fcntl(shared, F_DUPFD_CLOEXEC, 0);
		if (*ret_fd < 0)
			return fd_restore_error(f, -errno, "taking the tree's socket: %s",
						strerror(errno));
		return 0;
	}
	if (f->sock.peer_ino) {
		peer = find_ino(ctx->img, f->sock.peer_ino);
		if (!peer || peer == f || peer->sock.state != IMAGE_SOCK_PAIR ||
		    peer->sock.peer_ino != f->sock.ino || peer->sock.type != f->sock.type)
			return fd_restore_error(f, -EINVAL, "its peer socket:[%llu] is not in the "
						"image as its pair end",
						(unsigned long long)f->sock.peer_ino);
		ret = sockopts_check(peer);
		if (ret)
			return ret;
	}
	if (socketpair(AF_UNIX, f->sock.type | SOCK_CLOEXEC, 0, sv))
		return fd_restore_error(f, -errno, "socketpair: %s", strerror(errno));
	ret = fill_queue(ctx, f, sv[1]);
	if (!ret && peer)
		ret = fill_queue(ctx, peer, sv[0]);
	if (!ret && !peer)
		ret = close_peer(f, sv);
	if (!ret)
		ret = set_opts(sv[0], f, SOCKOPT_ALL);
	if (!ret && peer)
		ret = set_opts(sv[1], peer, SOCKOPT_ALL);
	if (!ret && peer) {
		ret = keep_end(ctx, peer, sv[1]);
		sv[1] = -1;
	}
	if (ret) {
		close(sv[0]);
		if (sv[1] >= 0)
			close(sv[1]);
		return ret;
	}
	*ret_fd = sv[0];
	return 0;
}

/*
 * A listener's clients waiting to be accepted connect again, in the order
 * accept() will take them, before anything else can connect (the listener
 * is not in use yet) and before a removed socket file goes again; each is
 * kept until its fd's turn.
 */
static int connect_waiting(struct fd_restore_ctx *ctx, const struct image_fd *l)
{
	const struct image_fd *c;
	uint32_t i;
	int fd, ret;

	for (i = 0; i < l->sock.attrs.nr_pending; i++) {
		c = find_ino(ctx->img, l->sock.attrs.pending[i]);
		if (!c || c->sock.state != IMAGE_SOCK_PENDING || c->sock.peer_ino != l->sock.ino)
			return fd_restore_error(l, -EINVAL, "waiting client socket:[%llu] is not in "
						"the image", (unsigned long long)l->sock.attrs.pending[i]);
		ret = restore_named(ctx, c, &fd);
		if (!ret)
			ret = keep_end(ctx, c, fd);
		if (ret)
			return ret;
	}
	return 0;
}

/* A waiting client is made with its listener, which is kept until its own turn. */
static int restore_waiting(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	const struct image_fd *l = find_ino(ctx->img, f->sock.peer_ino);
	int fd, ret;

	if (!l || l->sock.state != IMAGE_SOCK_LISTEN || l->sock.family != AF_UNIX)
		return fd_restore_error(f, -EINVAL, "its listener socket:[%llu] is not in the image",
					(unsigned long long)f->sock.peer_ino);
	ret = restore_named(ctx, l, &fd);
	if (!ret)
		ret = keep_end(ctx, l, fd);
	if (ret)
		return ret;
	if (!take_end(ctx, f->sock.ino, ret_fd))
		return fd_restore_error(f, -EINVAL, "its listener socket:[%llu] does not list it",
					(unsigned long long)f->sock.peer_ino);
	return 0;
}

int socket_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	int ret;

	if (f->sock.addr_len > sizeof(struct sockaddr_storage) ||
	    f->sock.peer_len > sizeof(struct sockaddr_storage))
		return fd_restore_error(f, -EINVAL, "address too long");
	ret = sockopts_check(f);
	if (ret)
		return ret;
	if (take_end(ctx, f->sock.ino, ret_fd))
		return 0; /* made already, with its pair or its listener */
	switch (f->sock.state) {
	case IMAGE_SOCK_PAIR:
		return restore_pair(ctx, f, ret_fd);
	case IMAGE_SOCK_RESET:
		return restore_reset(f, ret_fd);
	case IMAGE_SOCK_PENDING:
		return restore_waiting(ctx, f, ret_fd);
	case IMAGE_SOCK_TCP:
		return restore_tcp(ctx, f, ret_fd);
	case IMAGE_SOCK_UNBOUND:
	case IMAGE_SOCK_BOUND:
	case IMAGE_SOCK_LISTEN:
		return restore_named(ctx, f, ret_fd);
	default:
		return fd_restore_error(f, -EINVAL, "socket state %u unknown", f->sock.state);
	}
}

void sockets_release(struct fd_restore_ctx *ctx)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_sock_ends; i++)
		if (ctx->sock_ends[i].fd >= 0)
			close(ctx->sock_ends[i].fd);
	free(ctx->sock_ends);
	ctx->sock_ends = NULL;
	ctx->nr_sock_ends = 0;
}
