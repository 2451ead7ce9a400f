/* compat: refuse pid [0-9]+ fd [0-9]+ \(socket:\[[0-9]+\]\): a netlink socket \(family 16\) is not supported */
/*
 * sock-netlink.c - a netlink socket (rtnetlink, bound, subscribed to link
 * events): its bindings and subscriptions live in the kernel's netlink
 * tables, which thaw does not read.  The dump refuses, naming the fd; the
 * socket still answers a request.
 */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;

static int setup(void)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("netlink");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
	} req = { { sizeof(req), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 }, { AF_UNSPEC } };
	char buf[8192];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;

	if (send(fd, &req, sizeof(req), 0) != sizeof(req))
		return FAILED("sending RTM_GETLINK: %s", strerror(errno));
	if (recv(fd, buf, sizeof(buf), 0) < (ssize_t)sizeof(*h) || h->nlmsg_seq != 1)
		return FAILED("no answer to RTM_GETLINK: %s", strerror(errno));
	return 0;
}
