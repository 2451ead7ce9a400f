/* compat: refuse a socket in flight has messages carrying file descriptors queued on it */
/*
 * sock-scm-nested.c - a Unix socket in flight whose own queue holds a message
 * carrying an fd (a socket passed with fds still in it): restore would have
 * to make files in flight inside files in flight.  Refused by name; the
 * program still receives the socket, and through it the fd.
 */
#include <fcntl.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 };

static int setup(void)
{
	int inner[2], null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, inner) || send_fds(inner[1], "n", 1, &null, 1) ||
	    send_fds(sv[1], "s", 1, &inner[0], 1)) {
		perror("setup");
		return -1;
	}
	close(null);
	close(inner[0]);
	close(inner[1]);
	return 0;
}

static int check(char *why, size_t whylen)
{
	int fds[SCM_TEST_MAX_FDS], inner[SCM_TEST_MAX_FDS], nr, nr2, ret = 0;
	char c;

	if (recv_fds(sv[0], &c, 1, fds, &nr, MSG_PEEK) != 1 || nr != 1)
		return FAILED("the socket in flight is gone");
	if (recv_fds(fds[0], &c, 1, inner, &nr2, MSG_PEEK) != 1 || nr2 != 1)
		ret = FAILED("the fd in flight in the socket in flight is gone");
	close_fds(inner, nr2);
	close_fds(fds, nr);
	return ret;
}
