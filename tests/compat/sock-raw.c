/* compat: refuse pid [0-9]+ fd [0-9]+ \(socket:\[[0-9]+\]\): a raw socket \(type 3\) is not supported */
/*
 * sock-raw.c - a raw IPv4 socket (ICMP) with IP_HDRINCL: thaw keeps TCP,
 * UDP and ICMP datagram sockets, not raw ones.  The dump refuses, naming the
 * fd; the socket keeps its option.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;

static int setup(void)
{
	int one = 1;

	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0 && errno == EPERM) {
		printf("SKIP: no CAP_NET_RAW for a raw socket\n");
		exit(77);
	}
	if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) {
		perror("raw socket");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, IPPROTO_IP, IP_HDRINCL, &v, &len) || v != 1)
		return FAILED("IP_HDRINCL reads %d", v);
	return 0;
}
