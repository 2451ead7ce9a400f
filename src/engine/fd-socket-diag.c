/*
 * fd-socket-diag.c - sock_diag netlink queries for the socket dump.
 *
 * Which socket a Unix socket is connected to, the backlog a listening
 * socket was given, which clients wait in its accept queue, which
 * directions were shut down (shutdown(2)) and the inode of a Unix socket's
 * file are not visible through getsockopt(); the kernel's sock_diag
 * interface (what `ss` uses) reports them by inode without touching the
 * socket, so the stopped program observes nothing.  These functions stay
 * silent; fd-socket.c logs with the fd in context.
 */
#define LOG_TAG "fds"

#include "engine/fd-socket.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* a listener's UNIX_DIAG_ICONS is 4 bytes a client: room for IMAGE_MAX_SOCK_PENDING of them */
#define DIAG_BUF 65536

/*
 * Sends req and calls fn on each sock_diag message of the answer (every
 * part of a dump) until fn returns non-zero; that value, 0 at the end, or
 * -errno.  The whole answer is read either way: the socket is closed after.
 */
static int diag_walk(const void *req, size_t len, int (*fn)(const struct nlmsghdr *h, void *arg),
		     void *arg)
{
	static char buf[DIAG_BUF] __attribute__((aligned(8)));
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	bool is_dump = ((const struct nlmsghdr *)req)->nlmsg_flags & NLM_F_DUMP, done = false;
	int fd, err = 0, found = 0;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	if (sendto(fd, req, len, 0, (struct sockaddr *)&nl, sizeof(nl)) != (ssize_t)len)
		err = -errno ? -errno : -EIO;
	while (!err && !done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		done = !is_dump;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error ? e->error : -ENOENT;
				break;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && !found)
				found = fn(h, arg);
		}
	}
	close(fd);
	return err ? err : found;
}

/* The attributes after a message of len bytes at the start of h's payload. */
#define for_each_attr(a, h, msglen, left)                                                          \
	for (a = (const struct rtattr *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(msglen)),       \
	    left = (int)h->nlmsg_len - (int)NLMSG_LENGTH(msglen);                                  \
	     left > 0 && RTA_OK(a, left); a = RTA_NEXT(a, left))

struct unix_query {
	uint32_t ino;
	struct sock_diag_info *info;
};

static int unix_one(const struct nlmsghdr *h, void *arg)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	struct unix_query *q = arg;
	struct sock_diag_info *ret = q->info;
	const struct rtattr *a;
	int left;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->udiag_ino != q->ino)
		return 0;
	for_each_attr(a, h, sizeof(*m), left) {
		if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
			uint32_t ino;

			memcpy(&ino, RTA_DATA(a), sizeof(ino));
			ret->has_peer = true;
			ret->peer_ino = ino;
		} else if (a->rta_type == UNIX_DIAG_SHUTDOWN && RTA_PAYLOAD(a) >= 1) {
			ret->shutdown = *(const uint8_t *)RTA_DATA(a);
		} else if (a->rta_type == UNIX_DIAG_VFS &&
			   RTA_PAYLOAD(a) >= sizeof(struct unix_diag_vfs)) {
			struct unix_diag_vfs vfs;

			memcpy(&vfs, RTA_DATA(a), sizeof(vfs));
			ret->has_vfs = true;
			ret->vfs_ino = vfs.udiag_vfs_ino;
			ret->vfs_dev = vfs.udiag_vfs_dev;
		} else if (a->rta_type == UNIX_DIAG_RQLEN &&
			   RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
			struct unix_diag_rqlen rq;

			memcpy(&rq, RTA_DATA(a), sizeof(rq));
			/* for a listener: pending connections and the backlog */
			ret->pending = rq.udiag_rqueue;
			ret->backlog = rq.udiag_wqueue;
		}
	}
	return 1;
}

static int unix_request(uint64_t ino, uint32_t show, int (*fn)(const struct nlmsghdr *h, void *arg),
			void *arg)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_ino = (uint32_t)ino,
		       .udiag_show = show,
		       .udiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } },
	};
	int ret;

	if (ino > UINT32_MAX)
		return -EOVERFLOW;
	ret = diag_walk(&req, sizeof(req), fn, arg);
	return ret < 0 ? ret : ret ? 0 : -ENOENT;
}

int sock_diag_unix(uint64_t ino, struct sock_diag_info *ret)
{
	struct unix_query q = { (uint32_t)ino, ret };

	memset(ret, 0, sizeof(*ret));
	return unix_request(ino, UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_VFS, unix_one, &q);
}

/* UNIX_DIAG_ICONS of a listener message: the inodes of its waiting clients, in order. */
struct icons {
	uint32_t ino; /* the listener asked for, or 0: any */
	uint64_t *list;
	uint32_t max, nr;
	uint64_t client; /* sock_diag_unix_listener_of(): the client looked for */
	uint64_t listener; /* ... and the listener found */
};

static int icons_of(const struct nlmsghdr *h, void *arg)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	struct icons *q = arg;
	const struct rtattr *a;
	uint32_t i, n, ino;
	int left;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || (q->ino && m->udiag_ino != q->ino))
		return 0;
	for_each_attr(a, h, sizeof(*m), left) {
		if (a->rta_type != UNIX_DIAG_ICONS)
			continue;
		n = (uint32_t)(RTA_PAYLOAD(a) / sizeof(uint32_t));
		for (i = 0; i < n; i++) {
			memcpy(&ino, (const char *)RTA_DATA(a) + i * sizeof(ino), sizeof(ino));
			if (q->client && ino == q->client) {
				q->listener = m->udiag_ino;
				return 1;
			}
			if (q->list && q->nr < q->max)
				q->list[q->nr] = ino;
			q->nr++;
		}
	}
	return q->client ? 0 : 1;
}

int sock_diag_unix_icons(uint64_t ino, uint64_t *list, uint32_t max, uint32_t *ret_nr)
{
	struct icons q = { .ino = (uint32_t)ino, .list = list, .max = max };
	int ret = unix_request(ino, UDIAG_SHOW_ICONS, icons_of, &q);

	*ret_nr = q.nr;
	return ret ? ret : q.nr > max ? -E2BIG : 0;
}

int sock_diag_unix_listener_of(uint64_t client, uint64_t *ret_listener)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = 1u << TCP_LISTEN,
		       .udiag_show = UDIAG_SHOW_ICONS },
	};
	struct icons q = { .client = client };
	int ret;

	if (!client || client > UINT32_MAX)
		return -ENOENT;
	ret = diag_walk(&req, sizeof(req), icons_of, &q);
	if (ret < 0)
		return ret;
	*ret_listener = q.listener;
	return ret ? 0 : -ENOENT;
}

struct inet_query {
	uint64_t ino;
	struct sock_diag_info *info;
};

static int inet_one(const struct nlmsghdr *h, void *arg)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	struct inet_query *q = arg;
	const struct rtattr *a;
	int left;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->idiag_inode != q->ino)
		return 0;
	q->info->backlog = m->idiag_wqueue;
	q->info->pending = m->idiag_rqueue;
	for_each_attr(a, h, sizeof(*m), left)
		if (a->rta_type == INET_DIAG_SHUTDOWN && RTA_PAYLOAD(a) >= 1)
			q->info->shutdown = *(const uint8_t *)RTA_DATA(a);
	return 1;
}

int sock_diag_inet(int family, int protocol, uint32_t states, uint64_t ino,
		   struct sock_diag_info *ret)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = (uint8_t)family, .sdiag_protocol = (uint8_t)protocol,
		       .idiag_states = states },
	};
	struct inet_query q = { ino, ret };
	int err;

	memset(ret, 0, sizeof(*ret));
	err = diag_walk(&req, sizeof(req), inet_one, &q);
	return err < 0 ? err : err ? 0 : -ENOENT;
}
