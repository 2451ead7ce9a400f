/* compat: restore */
/*
 * sock-opts-tcp.c - options set on a TCP listener and on an unbound TCP v6
 * socket come back as getsockopt() showed them: SO_PRIORITY, SO_MARK,
 * SO_LINGER, timeouts, SO_RCVLOWAT, a locked receive buffer (SO_BUF_LOCK),
 * SO_BINDTODEVICE, IP_TOS, IP_TTL, keepalive (TCP_KEEPCNT, TCP_KEEPIDLE,
 * TCP_KEEPINTVL), TCP_CONGESTION, TCP_USER_TIMEOUT, TCP_DEFER_ACCEPT,
 * TCP_FASTOPEN, TCP_MAXSEG, TCP_NOTSENT_LOWAT, IPV6_TCLASS, IPV6_V6ONLY ...
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/time.h>
#include <unistd.h>

#include "compat.h"
#include "sockopts.h"

static int lfd = -1, v6 = -1;

static int setup(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { .l_onoff = 1, .l_linger = 7 };
	struct timeval rcv = { 1, 500000 }, snd = { 2, 250000 };
	int r = 0;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	v6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (lfd < 0 || v6 < 0) {
		perror("socket");
		return -1;
	}
	/* before bind, as a program does */
	r |= SET_BYTES(lfd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
	r |= SET(lfd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (r || bind(lfd, (struct sockaddr *)&in, sizeof(in)) || listen(lfd, 8)) {
		perror("bind/listen");
		return -1;
	}
	r |= SET(lfd, SOL_SOCKET, SO_MARK, 42);
	r |= SET_BYTES(lfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	r |= SET_BYTES(lfd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
	r |= SET_BYTES(lfd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
	r |= SET(lfd, SOL_SOCKET, SO_RCVLOWAT, 10);
	r |= SET(lfd, SOL_SOCKET, SO_OOBINLINE, 1);
	r |= SET(lfd, SOL_SOCKET, SO_KEEPALIVE, 1);
	r |= SET(lfd, SOL_SOCKET, SO_RCVBUF, 65536);
	r |= WATCH(lfd, SOL_SOCKET, SO_BUF_LOCK);
	r |= WATCH(lfd, SOL_SOCKET, SO_SNDBUF);
	r |= SET(lfd, IPPROTO_IP, IP_TOS, 0x10);
	r |= SET(lfd, IPPROTO_IP, IP_TTL, 33);
	r |= SET(lfd, SOL_SOCKET, SO_PRIORITY, 5); /* after IP_TOS, which sets it too */
	r |= SET(lfd, IPPROTO_TCP, TCP_KEEPCNT, 5);
	r |= SET(lfd, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	r |= SET(lfd, IPPROTO_TCP, TCP_KEEPINTVL, 13);
	r |= SET(lfd, IPPROTO_TCP, TCP_NODELAY, 1);
	r |= SET(lfd, IPPROTO_TCP, TCP_SYNCNT, 3);
	r |= SET(lfd, IPPROTO_TCP, TCP_LINGER2, 20);
	r |= SET(lfd, IPPROTO_TCP, TCP_USER_TIMEOUT, 12345);
	r |= SET(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5);
	r |= SET(lfd, IPPROTO_TCP, TCP_FASTOPEN, 16);
	r |= SET(lfd, IPPROTO_TCP, TCP_MAXSEG, 1000);
	r |= SET(lfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4096);
	r |= SET_BYTES(lfd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4);

	r |= SET(v6, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	r |= SET(v6, IPPROTO_IPV6, IPV6_TCLASS, 0x20);
	r |= SET(v6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 17);
	r |= SET(v6, SOL_SOCKET, SO_SNDBUF, 32768);
	r |= SET(v6, SOL_SOCKET, SO_BUF_LOCK, 1); /* the size stays, the receive side unlocked */
	r |= WATCH(v6, SOL_SOCKET, SO_RCVBUF);
	r |= SET(v6, IPPROTO_TCP, TCP_CORK, 1);
	r |= SET(v6, IPPROTO_TCP, TCP_QUICKACK, 0);
	r |= SET(v6, IPPROTO_TCP, TCP_WINDOW_CLAMP, 40000);
	return r || watch_final() ? -1 : 0;
}

static int check(char *why, size_t whylen)
{
	return check_watched(why, whylen);
}
