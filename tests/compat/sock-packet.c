/* compat: refuse pid [0-9]+ fd [0-9]+ \(socket:\[[0-9]+\]\): a packet socket \(family 17\) is not supported */
/*
 * sock-packet.c - a packet socket (AF_PACKET) bound to the loopback
 * interface: its binding, ring and filters live in the kernel, which thaw
 * does not read.  The dump refuses, naming the fd; the socket is still
 * bound to the same interface.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1, ifindex;

static int setup(void)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };

	ifindex = (int)if_nametoindex("lo");
	a.sll_ifindex = ifindex;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0 && errno == EPERM) {
		printf("SKIP: no CAP_NET_RAW for a packet socket\n");
		exit(77);
	}
	if (!ifindex || fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("packet socket");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sockaddr_ll a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &len) || a.sll_ifindex != ifindex)
		return FAILED("the packet socket is not bound to lo (%d) any more", ifindex);
	return 0;
}
