/* compat: refuse socket option IP_OPTIONS is set */
/*
 * sock-opts-refused.c - an option thaw cannot put back (IP options on every
 * packet, IP_OPTIONS) refuses the dump, naming it, and the program runs on
 * unharmed with its option still set.
 */
#include <netinet/in.h>
#include <netinet/ip.h>
#include <unistd.h>

#include "compat.h"
#include "sockopts.h"

static int fd = -1;

static int setup(void)
{
	static const unsigned char nops[4] = { IPOPT_NOP, IPOPT_NOP, IPOPT_NOP, IPOPT_END };

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	return SET_BYTES(fd, IPPROTO_IP, IP_OPTIONS, nops, sizeof(nops)) || watch_final() ? -1 : 0;
}

static int check(char *why, size_t whylen)
{
	return check_watched(why, whylen);
}
