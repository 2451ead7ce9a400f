/* compat: refuse a file of this kind in flight is not supported */
/*
 * sock-scm-epoll.c - an epoll set in flight on a Unix pair: its watches name
 * fds by number, which a file outside every fd table cannot be given back.
 * Refused by name; the program still receives it.
 */
#include <sys/epoll.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 };

static int setup(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || send_fds(sv[1], "e", 1, &ep, 1)) {
		perror("setup");
		return -1;
	}
	close(ep);
	return 0;
}

static int check(char *why, size_t whylen)
{
	return peek_has_fds(sv[0]) == 1 ? 0 : FAILED("the epoll set in flight is gone");
}
