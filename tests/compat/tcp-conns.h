/*
 * tcp-conns.h - what compat/tcp-established and compat/tcp-refused-after
 * share: established TCP connections over IPv4 and IPv6 loopback, both ends
 * in the program, with bytes in flight both ways (tcp-established.c says
 * which).  The first check looks at the queues only; a later one (after a
 * restore, or after a refused dump) reads every byte, checks each arrived
 * once and in order, and talks on both ways.
 */
#ifndef THAW_TESTS_TCP_CONNS_H
#define THAW_TESTS_TCP_CONNS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp-bytes.h"


#define S2C 3000 /* bytes the server sends and the client leaves unread */

static struct conn {
	int family, lfd, cli, srv;
	size_t c2s; /* bytes the client managed to send */
} conns[2];
static int nr_conns, nr_checks;

static int open_conn(struct conn *c, int family)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) :
					    sizeof(struct sockaddr_in6);
	int small = 4096, fl;
	unsigned char buf[4096];
	size_t i;
	ssize_t n;

	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	c->family = family;
	c->lfd = socket(family, SOCK_STREAM, 0);
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&ss, len)) {
		if (family == AF_INET6)
			return 1; /* no IPv6 here: IPv4 alone */
		perror("listener");
		return -1;
	}
	/* the accepted socket inherits the small receive buffer */
	setsockopt(c->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	c->cli = socket(family, SOCK_STREAM, 0);
	if (listen(c->lfd, 4) || getsockname(c->lfd, (struct sockaddr *)&ss, &len) ||
	    c->cli < 0 || connect(c->cli, (struct sockaddr *)&ss, len)) {
		perror("connect");
		return -1;
	}
	c->srv = accept(c->lfd, NULL, NULL);
	if (c->srv < 0) {
		perror("accept");
		return -1;
	}
	for (i = 0; i < S2C; i++)
		buf[i] = pattern(i, 1);
	if (send(c->srv, buf, S2C, 0) != S2C) {
		perror("send");
		return -1;
	}
	/* the client sends until the server's window is full and its own buffer too */
	fl = fcntl(c->cli, F_GETFL);
	fcntl(c->cli, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(c->c2s + i, 2);
		n = send(c->cli, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		c->c2s += (size_t)n;
	}
	fcntl(c->cli, F_SETFL, fl);
	/* the client at a second fd too: one socket, its unsent bytes sent once */
	if (dup(c->cli) < 0) {
		perror("dup");
		return -1;
	}
	usleep(100000); /* let loopback settle: acks, window updates */
	return 0;
}

static int tcp_conns_setup(void)
{
	int ret = open_conn(&conns[0], AF_INET);

	if (ret)
		return -1;
	nr_conns = 1;
	ret = open_conn(&conns[1], AF_INET6);
	if (ret < 0)
		return -1;
	nr_conns = ret ? 1 : 2;
	return 0;
}

static int queue_len(int fd, unsigned long req)
{
	int n = -1;

	return ioctl(fd, req, &n) ? -1 : n;
}

static int check_conn(struct conn *c, char *why, size_t whylen)
{
	const char *fam = c->family == AF_INET ? "IPv4" : "IPv6";
	int inq = queue_len(c->srv, SIOCINQ), outq = queue_len(c->cli, SIOCOUTQ);
	int cinq = queue_len(c->cli, SIOCINQ);
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char msg[8] = "";

	if (getsockopt(c->cli, IPPROTO_TCP, TCP_INFO, &ti, &len) || ti.tcpi_state != TCP_ESTABLISHED)
		return FAILED("%s: the client is not connected", fam);
	if (inq < 0 || outq < 0 || (size_t)inq + (size_t)outq != c->c2s)
		return FAILED("%s: %d bytes queued at the server and %d at the client, %zu were sent",
			      fam, inq, outq, c->c2s);
	if (cinq != S2C)
		return FAILED("%s: %d bytes queued at the client, %d were sent", fam, cinq, S2C);
	if (nr_checks < 2)
		return 0; /* the first check, before the dump, leaves the queues as they are */
	/* after the restore: every byte once, then new bytes both ways */
	if (read_all(c->cli, S2C, 1, why, whylen, "server to client") ||
	    read_all(c->srv, c->c2s, 2, why, whylen, "client to server"))
		return 1;
	if (send(c->cli, "ping", 4, 0) != 4 || recv(c->srv, msg, 4, MSG_WAITALL) != 4 ||
	    memcmp(msg, "ping", 4) || send(c->srv, "pong", 4, 0) != 4 ||
	    recv(c->cli, msg, 4, MSG_WAITALL) != 4 || memcmp(msg, "pong", 4))
		return FAILED("%s: ping-pong after the restore: %s", fam, strerror(errno));
	return 0;
}

static int tcp_conns_check(char *why, size_t whylen)
{
	int i;

	nr_checks++;
	for (i = 0; i < nr_conns; i++)
		if (check_conn(&conns[i], why, whylen))
			return 1;
	if (nr_checks >= 2) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd, afd;

		/* the listener, on the port the server end has too, still accepts */
		if (getsockname(conns[0].lfd, (struct sockaddr *)&ss, &len))
			return FAILED("getsockname: %s", strerror(errno));
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len))
			return FAILED("connecting to the listener: %s", strerror(errno));
		afd = accept(conns[0].lfd, NULL, NULL);
		if (afd < 0)
			return FAILED("accept: %s", strerror(errno));
		close(afd);
		close(fd);
	}
	return 0;
}

#endif
