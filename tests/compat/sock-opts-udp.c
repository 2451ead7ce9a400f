/* compat: restore */
/*
 * sock-opts-udp.c - options set on bound UDP sockets (v4 and v6) come back as
 * getsockopt() showed them: SO_BROADCAST, SO_TIMESTAMP, SO_TIMESTAMPING,
 * SO_MAX_PACING_RATE, SO_ZEROCOPY, a locked send buffer, IP_PKTINFO,
 * IP_RECVERR, IP_MULTICAST_*, IP_MTU_DISCOVER, IP_UNICAST_IF, UDP_SEGMENT,
 * UDP_GRO, and their IPV6_* counterparts.
 */
#include <arpa/inet.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>

#include "compat.h"
#include "sockopts.h"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

static int u4 = -1, u6 = -1;

static int setup(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	uint64_t rate = 1000000;
	int lo = (int)if_nametoindex("lo"), r = 0;

	u4 = socket(AF_INET, SOCK_DGRAM, 0);
	u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	if (u4 < 0 || u6 < 0 || bind(u4, (struct sockaddr *)&in, sizeof(in)) ||
	    bind(u6, (struct sockaddr *)&in6, sizeof(in6))) {
		perror("socket/bind");
		return -1;
	}
	r |= SET(u4, SOL_SOCKET, SO_BROADCAST, 1);
	r |= SET(u4, SOL_SOCKET, SO_TIMESTAMP, 1);
	r |= SET(u4, SOL_SOCKET, SO_TIMESTAMPING,
		 SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
	r |= SET_BYTES(u4, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof(rate));
	r |= SET(u4, SOL_SOCKET, SO_ZEROCOPY, 1);
	r |= SET(u4, SOL_SOCKET, SO_SNDBUF, 20000);
	r |= SET(u4, SOL_SOCKET, SO_INCOMING_CPU, 0);
	r |= SET(u4, SOL_SOCKET, SO_PEEK_OFF, 0);
	r |= SET(u4, IPPROTO_IP, IP_PKTINFO, 1);
	r |= SET(u4, IPPROTO_IP, IP_RECVERR, 1);
	r |= SET(u4, IPPROTO_IP, IP_RECVTTL, 1);
	r |= SET(u4, IPPROTO_IP, IP_RECVTOS, 1);
	r |= SET(u4, IPPROTO_IP, IP_MULTICAST_TTL, 7);
	r |= SET(u4, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
	r |= SET(u4, IPPROTO_IP, IP_MULTICAST_ALL, 0);
	r |= SET(u4, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
	r |= SET(u4, IPPROTO_IP, IP_UNICAST_IF, (int)htonl((uint32_t)lo));
	r |= SET(u4, IPPROTO_UDP, UDP_SEGMENT, 1200);
	r |= SET(u4, IPPROTO_UDP, UDP_GRO, 1);

	r |= SET(u6, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	r |= SET(u6, IPPROTO_IPV6, IPV6_RECVERR, 1);
	r |= SET(u6, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 5);
	r |= SET(u6, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
	r |= SET(u6, IPPROTO_IPV6, IPV6_MULTICAST_IF, lo);
	r |= SET(u6, IPPROTO_IPV6, IPV6_UNICAST_IF, (int)htonl((uint32_t)lo));
	r |= SET(u6, IPPROTO_IPV6, IPV6_DONTFRAG, 1);
	r |= SET(u6, IPPROTO_IPV6, IPV6_TCLASS, 0x48);
	r |= SET(u6, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	r |= SET(u6, SOL_SOCKET, SO_PRIORITY, 3);
	r |= SET(u6, SOL_SOCKET, SO_RCVBUF, 50000);
	r |= WATCH(u6, SOL_SOCKET, SO_BUF_LOCK);
	return r || watch_final() ? -1 : 0;
}

static int check(char *why, size_t whylen)
{
	return check_watched(why, whylen);
}
