/* compat: restore */
/*
 * sock-mcast.c - multicast groups joined by UDP sockets come back, with their
 * source filters: an IPv4 group from any source, an IPv4 group from one
 * source only (IP_ADD_SOURCE_MEMBERSHIP), an IPv6 group with one source
 * blocked (MCAST_BLOCK_SOURCE).  Checked with MCAST_MSFILTER, which answers
 * for one socket and one group.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include "compat.h"

static int u4 = -1, u6 = -1, lo;

/* The filter of fd in group: mode and number of sources, or -1 if not a member. */
static int filter_of(int fd, int level, const char *group, uint32_t *mode, uint32_t *nr)
{
	struct group_filter *gf = calloc(1, GROUP_FILTER_SIZE(8));
	socklen_t len = GROUP_FILTER_SIZE(8);
	int ret;

	gf->gf_interface = (uint32_t)lo;
	gf->gf_numsrc = 8;
	if (strchr(group, ':')) {
		gf->gf_group.ss_family = AF_INET6;
		inet_pton(AF_INET6, group, &((struct sockaddr_in6 *)&gf->gf_group)->sin6_addr);
	} else {
		gf->gf_group.ss_family = AF_INET;
		inet_pton(AF_INET, group, &((struct sockaddr_in *)&gf->gf_group)->sin_addr);
	}
	ret = getsockopt(fd, level, MCAST_MSFILTER, gf, &len) ? -1 : 0;
	*mode = gf->gf_fmode;
	*nr = gf->gf_numsrc;
	free(gf);
	return ret;
}

static int setup(void)
{
	struct ip_mreqn any = { .imr_ifindex = 0 };
	struct ip_mreq_source one = { 0 };
	struct group_source_req block = { 0 };
	struct group_req g6 = { 0 };

	lo = (int)if_nametoindex("lo");
	u4 = socket(AF_INET, SOCK_DGRAM, 0);
	u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	if (u4 < 0 || u6 < 0 || !lo) {
		perror("socket");
		return -1;
	}
	any.imr_ifindex = lo;
	inet_pton(AF_INET, "239.1.2.3", &any.imr_multiaddr);
	inet_pton(AF_INET, "239.4.5.6", &one.imr_multiaddr);
	inet_pton(AF_INET, "127.0.0.1", &one.imr_interface);
	inet_pton(AF_INET, "10.9.8.7", &one.imr_sourceaddr);
	g6.gr_interface = block.gsr_interface = (uint32_t)lo;
	g6.gr_group.ss_family = block.gsr_group.ss_family = AF_INET6;
	inet_pton(AF_INET6, "ff15::1234", &((struct sockaddr_in6 *)&g6.gr_group)->sin6_addr);
	block.gsr_group = g6.gr_group;
	block.gsr_source.ss_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::7", &((struct sockaddr_in6 *)&block.gsr_source)->sin6_addr);
	if (setsockopt(u4, IPPROTO_IP, IP_ADD_MEMBERSHIP, &any, sizeof(any)) ||
	    setsockopt(u4, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &one, sizeof(one)) ||
	    setsockopt(u6, IPPROTO_IPV6, MCAST_JOIN_GROUP, &g6, sizeof(g6)) ||
	    setsockopt(u6, IPPROTO_IPV6, MCAST_BLOCK_SOURCE, &block, sizeof(block))) {
		perror("joining");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	static const struct {
		int *fd, level;
		const char *group;
		uint32_t mode, nr;
	} want[] = {
		{ &u4, IPPROTO_IP, "239.1.2.3", MCAST_EXCLUDE, 0 },
		{ &u4, IPPROTO_IP, "239.4.5.6", MCAST_INCLUDE, 1 },
		{ &u6, IPPROTO_IPV6, "ff15::1234", MCAST_EXCLUDE, 1 },
	};
	uint32_t mode, nr;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (filter_of(*want[i].fd, want[i].level, want[i].group, &mode, &nr))
			return FAILED("not a member of %s on lo: %s", want[i].group,
				      strerror(errno));
		if (mode != want[i].mode || nr != want[i].nr)
			return FAILED("%s: filter mode %u with %u sources, want %u with %u",
				      want[i].group, mode, nr, want[i].mode, want[i].nr);
	}
	return 0;
}
