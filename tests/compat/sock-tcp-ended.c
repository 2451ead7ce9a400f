/* compat: refuse TCP connection .* close: thaw keeps established connections only */
/*
 * sock-tcp-ended.c - a TCP connection that has ended (both sides closed: the
 * socket is in state CLOSE, shut down both ways, and reads the end of the
 * stream) is a connection, not a fresh socket: the dump refuses it like any
 * other connection (with --tcp-close it would come back reset).  Before,
 * it came back as a new unconnected socket, on which a read fails with
 * ENOTCONN.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "compat.h"

static int conn = -1;

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? -1 : ti.tcpi_state;
}

static int setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int lst = socket(AF_INET, SOCK_STREAM, 0), acc, i;

	conn = socket(AF_INET, SOCK_STREAM, 0);
	if (lst < 0 || conn < 0 || bind(lst, (struct sockaddr *)&a, sizeof(a)) || listen(lst, 1) ||
	    getsockname(lst, (struct sockaddr *)&a, &len) ||
	    connect(conn, (struct sockaddr *)&a, sizeof(a))) {
		perror("connection");
		return -1;
	}
	acc = accept(lst, NULL, NULL);
	if (acc < 0 || shutdown(conn, SHUT_WR)) {
		perror("accept");
		return -1;
	}
	close(acc);
	close(lst);
	for (i = 0; i < 200 && tcp_state(conn) != TCP_CLOSE; i++)
		usleep(10000);
	return 0;
}

static int check(char *why, size_t whylen)
{
	char c;
	ssize_t n = recv(conn, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (tcp_state(conn) != TCP_CLOSE)
		return FAILED("the connection is in state %d, not CLOSE", tcp_state(conn));
	if (n != 0)
		return FAILED("a read gives %zd (%s), not the end of the stream", n,
			      n < 0 ? strerror(errno) : "data");
	return 0;
}
