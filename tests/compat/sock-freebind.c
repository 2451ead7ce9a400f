/* compat: restore */
/*
 * sock-freebind.c - sockets bound to addresses this host does not have, which
 * IP_FREEBIND and IPV6_FREEBIND allow: restore must set them before bind().
 * A TCP listener on 192.0.2.1 (TEST-NET-1) and a UDP socket on 2001:db8::1
 * come back bound there, with the option still on.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "compat.h"
#include "sockopts.h"

static int tcp = -1, udp6 = -1;
static struct sockaddr_in in4 = { .sin_family = AF_INET };
static struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

static int setup(void)
{
	socklen_t len;
	int r = 0;

	tcp = socket(AF_INET, SOCK_STREAM, 0);
	udp6 = socket(AF_INET6, SOCK_DGRAM, 0);
	if (tcp < 0 || udp6 < 0) {
		perror("socket");
		return -1;
	}
	r |= SET(tcp, IPPROTO_IP, IP_FREEBIND, 1);
	r |= SET(udp6, IPPROTO_IPV6, IPV6_FREEBIND, 1);
	inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	if (r || bind(tcp, (struct sockaddr *)&in4, sizeof(in4)) || listen(tcp, 4) ||
	    bind(udp6, (struct sockaddr *)&in6, sizeof(in6))) {
		perror("bind");
		return -1;
	}
	len = sizeof(in4);
	getsockname(tcp, (struct sockaddr *)&in4, &len);
	len = sizeof(in6);
	getsockname(udp6, (struct sockaddr *)&in6, &len);
	return watch_final();
}

static int check(char *why, size_t whylen)
{
	struct sockaddr_in a;
	struct sockaddr_in6 b;
	socklen_t la = sizeof(a), lb = sizeof(b);
	int acc = 0;
	socklen_t l = sizeof(acc);

	if (check_watched(why, whylen))
		return 1;
	if (getsockname(tcp, (struct sockaddr *)&a, &la) || memcmp(&a, &in4, sizeof(a)))
		return FAILED("the TCP socket is not bound to 192.0.2.1:%u", ntohs(in4.sin_port));
	if (getsockopt(tcp, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) || !acc)
		return FAILED("the TCP socket is not listening");
	if (getsockname(udp6, (struct sockaddr *)&b, &lb) || memcmp(&b, &in6, sizeof(b)))
		return FAILED("the UDP socket is not bound to [2001:db8::1]:%u",
			      ntohs(in6.sin6_port));
	return 0;
}
