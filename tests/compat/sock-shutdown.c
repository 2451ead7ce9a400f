/* compat: restore */
/*
 * sock-shutdown.c - directions shut down with shutdown(2) stay shut: a UDP
 * socket shut for reading (poll says POLLRDHUP) and one shut for writing
 * (sendto fails with EPIPE), a Unix stream pair end shut for writing (its
 * peer sees the end of the stream after the bytes queued, and it can still
 * read), a Unix datagram socket shut for reading, a TCP listener shut for
 * reading (no longer listening, still bound), and a Unix pair end whose
 * peer closed with data unread (ECONNRESET pending: POLLERR).  Every check
 * looks without reading, so it can run before the dump too.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "compat.h"

static int udp_rd = -1, udp_wr = -1, sv[2] = { -1, -1 }, dg = -1, lst = -1, rst[2] = { -1, -1 };
static struct sockaddr_in lst_addr;

static short revents(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static int setup(void)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(lst_addr);

	udp_rd = socket(AF_INET, SOCK_DGRAM, 0);
	udp_wr = socket(AF_INET, SOCK_DGRAM, 0);
	dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	lst = socket(AF_INET, SOCK_STREAM, 0);
	if (udp_rd < 0 || udp_wr < 0 || dg < 0 || lst < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_STREAM, 0, rst) ||
	    bind(udp_rd, (struct sockaddr *)&lo, sizeof(lo)) ||
	    bind(lst, (struct sockaddr *)&lo, sizeof(lo)) || listen(lst, 4) ||
	    getsockname(lst, (struct sockaddr *)&lst_addr, &len)) {
		perror("sockets");
		return -1;
	}
	/* UDP and unconnected sockets answer ENOTCONN, and are shut down all the same */
	shutdown(udp_rd, SHUT_RD);
	shutdown(udp_wr, SHUT_WR);
	shutdown(dg, SHUT_RD);
	if (write(sv[0], "abc", 3) != 3 || shutdown(sv[0], SHUT_WR) || shutdown(lst, SHUT_RD)) {
		perror("shutdown");
		return -1;
	}
	/* rst[1] closes with "unread" unread: rst[0] gets "hi", then ECONNRESET */
	if (write(rst[1], "hi", 2) != 2 || write(rst[0], "unread", 6) != 6) {
		perror("write");
		return -1;
	}
	close(rst[1]);
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in a;
	socklen_t la = sizeof(a), l = sizeof(int);
	char buf[8] = "";
	int acc = -1;

	if (!(revents(udp_rd) & POLLRDHUP))
		return FAILED("the UDP socket shut for reading is not (poll: %#x)", revents(udp_rd));
	if (sendto(udp_wr, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&dst, sizeof(dst)) >= 0 ||
	    errno != EPIPE)
		return FAILED("sending on the UDP socket shut for writing: %s",
			      errno == EPIPE ? "it sent" : strerror(errno));
	if (!(revents(dg) & POLLRDHUP))
		return FAILED("the Unix datagram socket shut for reading is not");
	if (send(sv[0], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0 || errno != EPIPE)
		return FAILED("sending on the Unix end shut for writing: %s", strerror(errno));
	if (revents(sv[0]) & POLLRDHUP)
		return FAILED("the Unix end shut for writing is shut for reading too");
	if (!(revents(sv[1]) & POLLRDHUP) || recv(sv[1], buf, sizeof(buf), MSG_PEEK) != 3 ||
	    memcmp(buf, "abc", 3))
		return FAILED("its peer does not see \"abc\" then the end of the stream");
	if (getsockopt(lst, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) || acc)
		return FAILED("the TCP socket shut for reading still listens (%d)", acc);
	if (getsockname(lst, (struct sockaddr *)&a, &la) || a.sin_port != lst_addr.sin_port)
		return FAILED("the TCP socket shut for reading lost its port");
	if (!(revents(rst[0]) & POLLERR) || recv(rst[0], buf, sizeof(buf), MSG_PEEK) != 2)
		return FAILED("the end whose peer closed with data unread: poll %#x, want POLLERR "
			      "and \"hi\" to read", revents(rst[0]));
	return 0;
}
