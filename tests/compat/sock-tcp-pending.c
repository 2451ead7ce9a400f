/* compat: refuse pid [0-9]+ fd [0-9]+ .*TCP listener on 127\.0\.0\.1:[0-9]+: 1 connection waiting to be accepted */
/*
 * sock-tcp-pending.c - a TCP listener with a connection waiting in its
 * accept queue.  The waiting connection has no fd: thaw cannot read its TCP
 * state without accepting it, nor put it back into a queue at restore.
 * Before, the dump dropped it with a warning and the restored listener's
 * queue was empty (its client talking to nobody); now the dump refuses, naming
 * the pid, the fd, the address and the count, and the program can still
 * accept the connection and talk over it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include "compat.h"

static int lst = -1, conn = -1;

static int setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	lst = socket(AF_INET, SOCK_STREAM, 0);
	conn = socket(AF_INET, SOCK_STREAM, 0);
	if (lst < 0 || conn < 0 || bind(lst, (struct sockaddr *)&a, sizeof(a)) || listen(lst, 4) ||
	    getsockname(lst, (struct sockaddr *)&a, &len) ||
	    connect(conn, (struct sockaddr *)&a, sizeof(a))) {
		perror("connection");
		return -1;
	}
	return 0;
}

/* Without accepting (check runs twice): TCP_INFO of a listener counts its accept queue. */
static int check(char *why, size_t whylen)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	struct pollfd pfd = { .fd = lst, .events = POLLIN };

	if (getsockopt(lst, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return FAILED("TCP_INFO of the listener: %s", strerror(errno));
	if (ti.tcpi_state != TCP_LISTEN || ti.tcpi_unacked != 1)
		return FAILED("the listener is in state %u with %u connections waiting, not "
			      "listening with 1", ti.tcpi_state, ti.tcpi_unacked);
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
		return FAILED("accept() would block");
	len = sizeof(ti);
	if (getsockopt(conn, IPPROTO_TCP, TCP_INFO, &ti, &len) || ti.tcpi_state != TCP_ESTABLISHED)
		return FAILED("the client is not connected");
	return 0;
}
