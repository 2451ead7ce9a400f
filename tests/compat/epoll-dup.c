/* compat: restore */
/*
 * epoll-dup.c - an epoll watch whose fd was dup'd and closed keeps watching
 * its file (under its old number, as the kernel keys it), and a watch whose
 * number now holds another file is not confused with it.
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "compat.h"

static int ep = -1, moved = -1, other = -1, pfd[2];

static int setup(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1234 };
	int tfd;

	ep = epoll_create1(0);
	if (ep < 0 || pipe(pfd))
		return -1;
	tfd = pfd[0];
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev))
		return -1;
	moved = fcntl(tfd, F_DUPFD, 50);
	close(tfd);
	other = open("/dev/null", O_RDONLY); /* takes the old number */
	if (moved < 0 || other != tfd) {
		fprintf(stderr, "setup: moved %d other %d tfd %d\n", moved, other, tfd);
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct epoll_event ev;
	char byte;
	int n;

	n = epoll_wait(ep, &ev, 1, 0);
	if (n != 0)
		return FAILED("%d events before any write", n);
	if (write(pfd[1], "x", 1) != 1)
		return FAILED("write: %s", strerror(errno));
	n = epoll_wait(ep, &ev, 1, 0);
	if (n != 1 || ev.data.u64 != 0x1234)
		return FAILED("epoll_wait: %d events (data %llx), want the pipe's", n,
			      (unsigned long long)ev.data.u64);
	if (read(moved, &byte, 1) != 1)
		return FAILED("read: %s", strerror(errno));
	/* the key is the pipe with the old number: the file now at that number is not it */
	if (epoll_ctl(ep, EPOLL_CTL_DEL, other, NULL) == 0)
		return FAILED("fd %d (another file now) deleted the pipe's watch", other);
	return 0;
}
