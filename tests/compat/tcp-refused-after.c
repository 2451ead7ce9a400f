/* compat: refuse socket option IP_OPTIONS is set */
/*
 * tcp-refused-after.c - a dump that fails after it has put the program's TCP
 * connections in repair mode (a socket with IP_OPTIONS, at a higher fd, is
 * refused after them) takes them out of it again: the program, unharmed,
 * reads every byte in flight and talks on both ways (tcp-conns.h).  A
 * connection left in repair mode would fail its reads (EPERM).
 */
#include <netinet/ip.h>

#include "compat.h"
#include "tcp-conns.h"

static int setup(void)
{
	unsigned char nops[4] = { IPOPT_NOP, IPOPT_NOP, IPOPT_NOP, IPOPT_NOP };
	int fd;

	if (tcp_conns_setup())
		return -1;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_OPTIONS, nops, sizeof(nops))) {
		perror("IP_OPTIONS");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	return tcp_conns_check(why, whylen);
}
