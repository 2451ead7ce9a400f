/* compat: restore */
/*
 * sock-filter.c - classic BPF socket filters (SO_ATTACH_FILTER) come back and
 * keep filtering: a UDP socket whose filter drops every datagram receives
 * nothing sent to it; a Unix datagram socket whose filter keeps only 2-byte
 * datagrams gets those and not longer ones; a locked filter (SO_LOCK_FILTER)
 * stays locked.
 */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <unistd.h>

#include "compat.h"

static int drop = -1, dg[2] = { -1, -1 };
static struct sockaddr_in drop_addr;

static struct sock_filter drop_all[] = {
	BPF_STMT(BPF_RET | BPF_K, 0),
};

/* accept a datagram of exactly 2 bytes, drop the rest */
static struct sock_filter only_two[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0xffff),
	BPF_STMT(BPF_RET | BPF_K, 0),
};

static int attach(int fd, struct sock_filter *insns, unsigned short n)
{
	struct sock_fprog prog = { .len = n, .filter = insns };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static int setup(void)
{
	socklen_t len = sizeof(drop_addr);
	int on = 1;

	drop_addr = (struct sockaddr_in){ .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	drop = socket(AF_INET, SOCK_DGRAM, 0);
	if (drop < 0 || bind(drop, (struct sockaddr *)&drop_addr, sizeof(drop_addr)) ||
	    getsockname(drop, (struct sockaddr *)&drop_addr, &len) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg)) {
		perror("sockets");
		return -1;
	}
	if (attach(drop, drop_all, 1) || attach(dg[0], only_two, 4) ||
	    setsockopt(dg[0], SOL_SOCKET, SO_LOCK_FILTER, &on, sizeof(on))) {
		perror("SO_ATTACH_FILTER");
		return -1;
	}
	return 0;
}

static int filter_len(int fd)
{
	socklen_t n = 0;

	return getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n) ? -1 : (int)n;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 200) == 1;
}

static int check(char *why, size_t whylen)
{
	int out = socket(AF_INET, SOCK_DGRAM, 0), locked = 0;
	socklen_t l = sizeof(locked);
	char buf[8];
	ssize_t n;

	if (filter_len(drop) != 1 || filter_len(dg[0]) != 4)
		return FAILED("filters of %d and %d instructions, want 1 and 4", filter_len(drop),
			      filter_len(dg[0]));
	if (getsockopt(dg[0], SOL_SOCKET, SO_LOCK_FILTER, &locked, &l) || !locked)
		return FAILED("the Unix socket's filter is not locked");
	if (out < 0 || sendto(out, "x", 1, 0, (struct sockaddr *)&drop_addr,
			      sizeof(drop_addr)) != 1)
		return FAILED("sending to the UDP socket: %s", strerror(errno));
	close(out);
	if (readable(drop))
		return FAILED("a datagram got through a filter that drops them all");
	if (send(dg[1], "long", 4, 0) != 4 || send(dg[1], "ok", 2, 0) != 2)
		return FAILED("sending on the Unix pair: %s", strerror(errno));
	n = recv(dg[0], buf, sizeof(buf), MSG_DONTWAIT);
	if (n != 2 || memcmp(buf, "ok", 2))
		return FAILED("the Unix socket read %zd bytes, want the 2-byte datagram only", n);
	if (readable(dg[0]))
		return FAILED("the Unix socket has more to read than the filter lets through");
	return 0;
}
