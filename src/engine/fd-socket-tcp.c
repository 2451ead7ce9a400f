/*
 * fd-socket-tcp.c - established TCP connections, kept through TCP_REPAIR.
 *
 * Dump puts the pidfd_getfd() duplicate in repair mode (CAP_NET_ADMIN):
 * the kernel then shows where each queue starts (TCP_QUEUE_SEQ), lets the
 * send queue be peeked as well as the receive queue, and gives the window
 * (TCP_REPAIR_WINDOW), the MSS clamp and the timestamp clock.  The
 * duplicate and the program's fd are one socket: repair mode stays on
 * until the dump ends (fds_dump_tcp_finish()).  If the program dies
 * (a dump that kills), its close in repair mode sends neither FIN nor RST,
 * so the peer sees nothing; if it runs on, repair is turned off again.
 *
 * Restore makes a socket in repair mode, binds it (repair mode lets a port
 * in use by a listener be bound), sets both queues' sequence numbers,
 * connects (no SYN in repair mode), sets the options the handshake agreed,
 * the timestamp clock, the bytes of each queue and the window, and turns
 * repair off, which sends a window probe: the peer answers with its own
 * state.  Bytes never sent go through the normal path after that.
 *
 * Between dump and restore no socket owns the connection: a segment the
 * peer sends then is answered with RST by the host.  Nothing here holds
 * the peer off (docs/sockets.md says what a user must do).
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fd-socket.h"
#include "engine/fds.h"

/* The duplicates of the sockets this dump put in repair mode. */
static int *held;
static size_t nr_held, cap_held;

static int set_int(int fd, int name, int val)
{
	return setsockopt(fd, IPPROTO_TCP, name, &val, sizeof(val)) ? -errno : 0;
}

static int get_int(int fd, int name, int *val)
{
	socklen_t len = sizeof(*val);

	*val = 0;
	return getsockopt(fd, IPPROTO_TCP, name, val, &len) ? -errno : 0;
}

void fds_dump_tcp_finish(bool resume)
{
	size_t i;

	for (i = 0; i < nr_held; i++) {
		if (resume && set_int(held[i], TCP_REPAIR, TCP_REPAIR_OFF))
			log_error("a TCP connection stays in repair mode: %s", strerror(errno));
		close(held[i]);
	}
	free(held);
	held = NULL;
	nr_held = cap_held = 0;
}

/* One of ours: this dump put the socket of inode ino in repair mode (another fd of it). */
static bool is_held(uint64_t ino)
{
	struct stat st;
	size_t i;

	for (i = 0; i < nr_held; i++)
		if (!fstat(held[i], &st) && st.st_ino == ino)
			return true;
	return false;
}

/* Keeps a duplicate of fd so that its repair mode can be turned off at the end. */
static int hold(int fd)
{
	int *n, dup;

	if (nr_held == cap_held) {
		n = realloc(held, (cap_held ? cap_held * 2 : 8) * sizeof(*held));
		if (!n)
			return -ENOMEM;
		held = n;
		cap_held = cap_held ? cap_held * 2 : 8;
	}
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return -errno;
	held[nr_held++] = dup;
	return 0;
}

/* Peeks len bytes of the queue TCP_REPAIR_QUEUE selected into a blob; *got: how many there were. */
static int peek_bytes(struct fd_dump_ctx *ctx, struct fd_probe *p, uint32_t len, bool exact,
		      struct image_blob *ret, uint32_t *got)
{
	char *buf;
	ssize_t n;
	int err;

	*got = 0;
	if (!len)
		return 0;
	if (len > IMAGE_MAX_SOCK_QUEUE)
		return fd_dump_error(ctx, p, -E2BIG, "more than %u bytes queued on the connection",
				     IMAGE_MAX_SOCK_QUEUE);
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	n = recv(p->local, buf, len, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 || (exact && (uint32_t)n != len)) {
		err = fd_dump_error(ctx, p, n < 0 ? -errno : -EIO, "peeking at %u queued bytes: %s",
				    len, n < 0 ? strerror(errno) : "short");
		free(buf);
		return err;
	}
	*got = (uint32_t)n;
	/* kept in a read-back too: --verify compares them by content (image_tcp_ran_on) */
	err = n ? image_add_blob_kept(ctx->img, buf, (size_t)n, ret) : 0;
	free(buf);
	return err;
}

/*
 * The receive queue: it starts at copied_seq (the program, frozen, reads
 * nothing) = rcv_nxt - SIOCINQ, read twice to see no byte arrive between.
 * Its peek is done with the peek offset off (a peek would move it).
 */
static int dump_recv_queue(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_sock_tcp *t)
{
	int seq1, seq2, inq, off = -1, zero = 0, tries, err;
	socklen_t len = sizeof(off);
	uint32_t got;

	for (tries = 0; tries < 100; tries++) {
		if (get_int(p->local, TCP_QUEUE_SEQ, &seq1) || ioctl(p->local, SIOCINQ, &inq) ||
		    get_int(p->local, TCP_QUEUE_SEQ, &seq2))
			return fd_dump_error(ctx, p, -errno, "the receive queue: %s",
					     strerror(errno));
		if (seq1 == seq2)
			break;
	}
	if (seq1 != seq2 || inq < 0)
		return fd_dump_error(ctx, p, -EAGAIN, "bytes keep arriving on the connection");
	t->rcv_seq = (uint32_t)seq1 - (uint32_t)inq;
	if (getsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &off, &len))
		off = -1;
	if (off >= 0 && setsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)))
		return fd_dump_error(ctx, p, -errno, "SO_PEEK_OFF: %s", strerror(errno));
	err = peek_bytes(ctx, p, (uint32_t)inq, true, &t->recv_queue, &got);
	if (off >= 0 && setsockopt(p->local, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) && !err)
		err = fd_dump_error(ctx, p, -errno, "putting SO_PEEK_OFF back: %s",
				    strerror(errno));
	return err;
}

/*
 * The send queue ends at write_seq (the program writes nothing); acks may
 * still shrink it from the front while it is read, so where it starts is
 * counted back from the bytes the peek gave.  Bytes kept that the peer had
 * acknowledged meanwhile are sent again and dropped by it as duplicates.
 */
static int dump_send_queue(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_sock_tcp *t)
{
	int seq, outq, unsent, err;
	uint32_t got;

	if (get_int(p->local, TCP_QUEUE_SEQ, &seq) || ioctl(p->local, SIOCOUTQ, &outq) ||
	    ioctl(p->local, SIOCOUTQNSD, &unsent) || outq < 0 || unsent < 0)
		return fd_dump_error(ctx, p, -errno, "the send queue: %s", strerror(errno));
	err = peek_bytes(ctx, p, (uint32_t)outq, false, &t->send_queue, &got);
	if (err)
		return err;
	t->snd_seq = (uint32_t)seq - got;
	t->unsent = (uint32_t)unsent < got ? (uint32_t)unsent : got;
	return 0;
}

int tcp_conn_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct image_sock_tcp *t = &out->sock.attrs.tcp;
	struct tcp_repair_window w;
	struct tcp_info ti;
	socklen_t len;
	int ret, val;

	/* a socket at several fds is in repair mode from the first; else the program's own */
	if (!is_held(out->sock.ino)) {
		if (!get_int(p->local, TCP_REPAIR, &val) && val)
			return fd_dump_error(ctx, p, -ENOTSUP, "the program has the connection in "
					     "repair mode (TCP_REPAIR): thaw cannot keep it");
		ret = hold(p->local);
		if (ret)
			return fd_dump_error(ctx, p, ret, "keeping the connection: %s",
					     strerror(-ret));
	}
	if (set_int(p->local, TCP_REPAIR, TCP_REPAIR_ON))
		return fd_dump_error(ctx, p, -errno, "TCP_REPAIR: %s (keeping a TCP connection "
				     "needs CAP_NET_ADMIN; dump with --tcp-close to have it come "
				     "back reset)", strerror(errno));
	len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(p->local, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return fd_dump_error(ctx, p, -errno, "TCP_INFO: %s", strerror(errno));
	if (ti.tcpi_state != TCP_ESTABLISHED)
		return fd_dump_error(ctx, p, -ENOTSUP, "the TCP connection ended while it was "
				     "dumped (state %u)", ti.tcpi_state);
	t->options = ti.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
	if (t->options & TCPI_OPT_WSCALE) {
		t->snd_wscale = ti.tcpi_snd_wscale;
		t->rcv_wscale = ti.tcpi_rcv_wscale;
	}
	ret = get_int(p->local, TCP_MAXSEG, &val);
	if (ret || val <= 0 || val > 65535)
		return fd_dump_error(ctx, p, ret ? ret : -EIO, "TCP_MAXSEG: %s (%d)",
				     strerror(ret ? -ret : EIO), val);
	t->mss = (uint32_t)val;
	if (get_int(p->local, TCP_TIMESTAMP, &val))
		return fd_dump_error(ctx, p, -errno, "TCP_TIMESTAMP: %s", strerror(errno));
	t->timestamp = (uint32_t)val;
	/* the window first: rcv_wup it gives is not past the rcv_nxt the queue gives */
	len = sizeof(w);
	if (getsockopt(p->local, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &len) || len != sizeof(w))
		return fd_dump_error(ctx, p, -errno, "TCP_REPAIR_WINDOW: %s", strerror(errno));
	t->snd_wl1 = w.snd_wl1;
	t->snd_wnd = w.snd_wnd;
	t->max_window = w.max_window;
	t->rcv_wnd = w.rcv_wnd;
	t->rcv_wup = w.rcv_wup;
	if (set_int(p->local, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE))
		return fd_dump_error(ctx, p, -errno, "TCP_REPAIR_QUEUE: %s", strerror(errno));
	ret = dump_recv_queue(ctx, p, t);
	if (!ret && set_int(p->local, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE))
		ret = fd_dump_error(ctx, p, -errno, "TCP_REPAIR_QUEUE: %s", strerror(errno));
	if (!ret)
		ret = dump_send_queue(ctx, p, t);
	set_int(p->local, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
	return ret;
}

/* ------------------------------------------------------------- restore */

/* Writes bytes into the queue TCP_REPAIR_QUEUE selected (or the normal path, out of repair). */
static int write_queue(const struct image_fd *f, int fd, const uint8_t *data, uint64_t len,
		       const char *what)
{
	uint64_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			return fd_restore_error(f, n < 0 ? -errno : -EIO, "writing %llu bytes of the "
						"%s: %s", (unsigned long long)(len - off), what,
						n < 0 ? strerror(errno) : "nothing written");
		off += (uint64_t)n;
	}
	return 0;
}

static int set_seqs_connect(const struct image_fd *f, int fd)
{
	const struct image_sock_tcp *t = &f->sock.attrs.tcp;
	struct sockaddr_storage ss = { 0 };

	if (set_int(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) ||
	    set_int(fd, TCP_QUEUE_SEQ, (int)t->rcv_seq) ||
	    set_int(fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) ||
	    set_int(fd, TCP_QUEUE_SEQ, (int)t->snd_seq))
		return fd_restore_error(f, -errno, "TCP_QUEUE_SEQ: %s", strerror(errno));
	memcpy(&ss, f->sock.peer, f->sock.peer_len);
	if (connect(fd, (struct sockaddr *)&ss, f->sock.peer_len))
		return fd_restore_error(f, -errno, "connect in repair mode: %s", strerror(errno));
	return 0;
}

static int set_options(const struct image_fd *f, int fd)
{
	const struct image_sock_tcp *t = &f->sock.attrs.tcp;
	struct tcp_repair_opt o[4];
	int n = 0;

	o[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, t->mss };
	if (t->options & TCPI_OPT_WSCALE)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW,
						  t->snd_wscale | t->rcv_wscale << 16 };
	if (t->options & TCPI_OPT_SACK)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (t->options & TCPI_OPT_TIMESTAMPS)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, (socklen_t)(n * sizeof(o[0]))))
		return fd_restore_error(f, -errno, "TCP_REPAIR_OPTIONS: %s", strerror(errno));
	if (set_int(fd, TCP_TIMESTAMP, (int)t->timestamp))
		return fd_restore_error(f, -errno, "TCP_TIMESTAMP: %s", strerror(errno));
	return 0;
}

static int set_window(const struct image_fd *f, int fd)
{
	const struct image_sock_tcp *t = &f->sock.attrs.tcp;
	struct tcp_repair_window w = {
		.snd_wl1 = t->snd_wl1,
		.snd_wnd = t->snd_wnd,
		.max_window = t->max_window,
		.rcv_wnd = t->rcv_wnd,
		.rcv_wup = t->rcv_wup,
	};

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)))
		return fd_restore_error(f, -errno, "TCP_REPAIR_WINDOW: %s", strerror(errno));
	return 0;
}

/* The receive queue and the sent part of the send queue, in repair mode; the rest: tcp_conns_resume(). */
static int fill_queues(struct fd_restore_ctx *ctx, const struct image_fd *f, int fd)
{
	const struct image_sock_tcp *t = &f->sock.attrs.tcp;
	uint8_t *rq = NULL, *sq = NULL;
	int ret = 0, room;
	uint64_t sent;

	if (t->recv_queue.len)
		ret = image_read_blob(ctx->img, &t->recv_queue, (void **)&rq);
	if (!ret && t->send_queue.len)
		ret = image_read_blob(ctx->img, &t->send_queue, (void **)&sq);
	if (ret) {
		ret = fd_restore_error(f, ret, "reading the queued bytes: %s", strerror(-ret));
		goto out;
	}
	if (t->unsent > t->send_queue.len) {
		ret = fd_restore_error(f, -EINVAL, "more bytes unsent than queued");
		goto out;
	}
	/* room for it all; the program's sizes come back with its options after */
	room = (int)(t->recv_queue.len + t->send_queue.len) * 2 + 65536;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof(room));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof(room));
	sent = t->send_queue.len - t->unsent;
	if (set_int(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE))
		ret = fd_restore_error(f, -errno, "TCP_REPAIR_QUEUE: %s", strerror(errno));
	if (!ret)
		ret = write_queue(f, fd, rq, t->recv_queue.len, "receive queue");
	if (!ret && set_int(fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE))
		ret = fd_restore_error(f, -errno, "TCP_REPAIR_QUEUE: %s", strerror(errno));
	if (!ret)
		ret = write_queue(f, fd, sq, sent, "send queue");
	if (!ret)
		ret = set_window(f, fd);
	if (!ret && set_int(fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE))
		ret = fd_restore_error(f, -errno, "TCP_REPAIR_QUEUE: %s", strerror(errno));
out:
	free(rq);
	free(sq);
	return ret;
}

/*
 * The connection, still in repair mode (tcp_conns_resume() ends it once
 * every process of the tree has its sockets: a peer in the snapshot must
 * exist before anything is sent to it), with the options of
 * SOCKOPT_BEFORE_BIND set; the caller sets the rest.
 */
int tcp_conn_restore(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	struct sockaddr_storage ss = { 0 };
	int fd, ret, def_rcv, def_snd;
	socklen_t len = sizeof(int);

	if (f->sock.addr_len > sizeof(ss) || f->sock.peer_len > sizeof(ss) || !f->sock.peer_len)
		return fd_restore_error(f, -EINVAL, "a TCP connection without its addresses");
	fd = socket(f->sock.family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return fd_restore_error(f, -errno, "socket: %s", strerror(errno));
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &def_rcv, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &def_snd, &len);
	ret = sockopts_apply(fd, f, SOCKOPT_BEFORE_BIND);
	/* after SO_REUSEADDR: repair mode lets the port be bound though a listener has it */
	if (!ret && set_int(fd, TCP_REPAIR, TCP_REPAIR_ON))
		ret = fd_restore_error(f, -errno, "TCP_REPAIR: %s (restoring a TCP connection "
				       "needs CAP_NET_ADMIN)", strerror(errno));
	memcpy(&ss, f->sock.addr, f->sock.addr_len);
	if (!ret && bind(fd, (struct sockaddr *)&ss, f->sock.addr_len))
		ret = fd_restore_error(f, -errno, "bind: %s", strerror(errno));
	if (!ret)
		ret = set_seqs_connect(f, fd);
	if (!ret)
		ret = set_options(f, fd);
	if (!ret)
		ret = fill_queues(ctx, f, fd);
	/* the kernel's own buffer sizes again, unlocked: the options set the program's */
	if (!ret && (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){ def_rcv / 2 }, sizeof(int)) ||
		     setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){ def_snd / 2 }, sizeof(int)) ||
		     setsockopt(fd, SOL_SOCKET, SO_BUF_LOCK, &(int){ 0 }, sizeof(int))))
		ret = fd_restore_error(f, -errno, "buffer sizes: %s", strerror(errno));
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * One connection of the restored process pid, through a pidfd_getfd() copy:
 * repair off (a window probe tells the peer we are back), the program's
 * SO_REUSEADDR (leaving repair mode clears it), then the bytes it had
 * never sent, through the normal path, with room made for them.
 */
static int resume_one(int pidfd, const struct image *img, const struct image_fd *f)
{
	const struct image_sock_tcp *t = &f->sock.attrs.tcp;
	int fd, ret = 0, size = 0, lock = 0, room, reuse, repair = 1;
	socklen_t len = sizeof(int);
	int64_t v = 0;
	uint8_t *sq = NULL;

	fd = (int)syscall(SYS_pidfd_getfd, pidfd, f->fd, 0);
	if (fd < 0)
		return fd_restore_error(f, -errno, "taking the connection back: %s",
					strerror(errno));
	/* one socket at several fds (dup, fork): resumed at the first, once */
	if (!get_int(fd, TCP_REPAIR, &repair) && !repair) {
		close(fd);
		return 0;
	}
	sockopts_value(f, SOL_SOCKET, SO_REUSEADDR, &v);
	reuse = v != 0;
	if (set_int(fd, TCP_REPAIR, TCP_REPAIR_OFF) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse)))
		ret = fd_restore_error(f, -errno, "turning TCP_REPAIR off: %s", strerror(errno));
	if (!ret && t->unsent) {
		ret = image_read_blob(img, &t->send_queue, (void **)&sq);
		if (ret || t->unsent > t->send_queue.len)
			ret = fd_restore_error(f, ret ? ret : -EINVAL, "the unsent bytes: %s",
					       strerror(ret ? -ret : EINVAL));
	}
	if (!ret && t->unsent) {
		getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len);
		len = sizeof(int);
		getsockopt(fd, SOL_SOCKET, SO_BUF_LOCK, &lock, &len);
		room = (int)t->send_queue.len * 2 + 65536;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof(room));
		ret = write_queue(f, fd, sq + t->send_queue.len - t->unsent, t->unsent,
				  "unsent bytes");
		size /= 2; /* what SO_SNDBUF gives is twice what it was given */
		if (!ret && (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) ||
			     setsockopt(fd, SOL_SOCKET, SO_BUF_LOCK, &lock, sizeof(lock))))
			ret = fd_restore_error(f, -errno, "putting SO_SNDBUF back: %s",
					       strerror(errno));
	}
	free(sq);
	close(fd);
	return ret;
}

int tcp_conns_resume(pid_t pid, const struct image *img)
{
	int pidfd = -1, ret = 0;
	uint32_t i;

	for (i = 0; !ret && i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if (f->kind != IMAGE_FD_SOCKET || f->sock.state != IMAGE_SOCK_TCP)
			continue;
		if (pidfd < 0) {
			pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
			if (pidfd < 0) {
				ret = -errno;
				log_error("pid %d: pidfd_open: %s", pid, strerror(errno));
				break;
			}
		}
		ret = resume_one(pidfd, img, f);
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}
