/*
 * fd-socket-diag.c - sock_diag netlink queries for the socket dump.
 *
 * Which socket a Unix socket is connected to, the backlog a listening
 * socket was given, which directions were shut down (shutdown(2)) and the
 * inode of a Unix socket's file are not visible through getsockopt(); the
 * kernel's sock_diag interface (what `ss` uses) reports them by inode
 * without touching the socket, so the stopped program observes nothing.  These
 * functions stay silent; fd-socket.c logs with the fd in context.
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

#define DIAG_BUF 32768

static int diag_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : fd;
}

static int diag_send(int fd, void *req, size_t len)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };

	if (sendto(fd, req, len, 0, (struct sockaddr *)&nl, sizeof(nl)) != (ssize_t)len)
		return -errno ? -errno : -EIO;
	return 0;
}

/* Walks the attributes after a unix_diag_msg. */
static void unix_attrs(const struct nlmsghdr *h, struct sock_diag_info *ret)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a = (const struct rtattr *)(m + 1);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

	for (; len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len)) {
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
}

/* Walks the attributes after an inet_diag_msg. */
static void inet_attrs(const struct nlmsghdr *h, struct sock_diag_info *ret)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a = (const struct rtattr *)(m + 1);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

	for (; len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == INET_DIAG_SHUTDOWN && RTA_PAYLOAD(a) >= 1)
			ret->shutdown = *(const uint8_t *)RTA_DATA(a);
}

int sock_diag_unix(uint64_t ino, struct sock_diag_info *ret)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_ino = (uint32_t)ino,
		       .udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_VFS,
		       .udiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } },
	};
	static char buf[DIAG_BUF] __attribute__((aligned(8)));
	struct nlmsghdr *h;
	ssize_t n;
	int fd, err;

	memset(ret, 0, sizeof(*ret));
	if (ino > UINT32_MAX)
		return -EOVERFLOW;
	fd = diag_open();
	if (fd < 0)
		return fd;
	err = diag_send(fd, &req, sizeof(req));
	if (err)
		goto out;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	err = -ENOENT;
	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			err = e->error ? e->error : -ENOENT;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
			continue;
		if (((const struct unix_diag_msg *)NLMSG_DATA(h))->udiag_ino != (uint32_t)ino)
			continue;
		unix_attrs(h, ret);
		err = 0;
		break;
	}
out:
	close(fd);
	return err;
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
	static char buf[DIAG_BUF] __attribute__((aligned(8)));
	int fd, err, found = -ENOENT;
	bool done = false;

	memset(ret, 0, sizeof(*ret));
	fd = diag_open();
	if (fd < 0)
		return fd;
	err = diag_send(fd, &req, sizeof(req));
	/* read the whole dump even after a match: the socket is closed either way */
	while (!err && !done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error ? e->error : -EIO;
				break;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->idiag_inode != ino)
				continue;
			ret->backlog = m->idiag_wqueue;
			ret->pending = m->idiag_rqueue;
			inet_attrs(h, ret);
			found = 0;
		}
	}
	close(fd);
	return err ? err : found;
}
