/* compat: restore */
/*
 * tcp-established.c - established TCP connections over IPv4 and IPv6
 * loopback, both ends in the program, with bytes in flight both ways: the
 * client has sent more than the server's small receive buffer takes (some
 * bytes wait in the server's receive queue, the rest in the client's send
 * queue, unsent), and the server has sent bytes the client has not read.
 * After the restore every byte arrives once and in order, the connection
 * carries new bytes both ways, and the listener still accepts.  Before,
 * the dump refused the connections (TCP_REPAIR was not used).
 */
#include "compat.h"
#include "tcp-conns.h"

static int setup(void)
{
	return tcp_conns_setup();
}

static int check(char *why, size_t whylen)
{
	return tcp_conns_check(why, whylen);
}
