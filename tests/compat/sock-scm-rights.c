/* compat: refuse a queued message carries file descriptors \(SCM_RIGHTS\) */
/*
 * sock-scm-rights.c - an fd in flight (sent with SCM_RIGHTS, not yet
 * received) on a Unix stream pair: thaw cannot restore what is in flight,
 * and says so by name; the program can still receive it.
 */
#include <fcntl.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 };

static int setup(void)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    send_fd(sv[1], "fd", 2, null, NULL, 0)) {
		perror("SCM_RIGHTS");
		return -1;
	}
	close(null);
	return 0;
}

static int check(char *why, size_t whylen)
{
	return peek_has_fds(sv[0]) == 1 ? 0 : FAILED("the fd in flight is gone");
}
