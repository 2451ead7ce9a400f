/* compat: refuse messages are queued on it */
/*
 * sock-dgram-queued.c - an empty datagram carrying an fd, queued on a bound
 * Unix datagram socket (not a pair end): it counts 0 bytes (FIONREAD), and
 * was dropped without a word.  thaw restores the queues of pair ends only:
 * the dump refuses this one, and the program can still receive it.
 */
#include <fcntl.h>
#include <stddef.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int srv = -1;

static int setup(void)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t len;
	int cli = socket(AF_UNIX, SOCK_DGRAM, 0), null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "thaw-compat-scm-dgram-%d", getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(un.sun_path + 1));
	srv = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (srv < 0 || cli < 0 || null < 0 || bind(srv, (struct sockaddr *)&un, len) ||
	    send_fd(cli, "", 0, null, (struct sockaddr *)&un, len)) {
		perror("SCM_RIGHTS");
		return -1;
	}
	close(null);
	close(cli);
	return 0;
}

static int check(char *why, size_t whylen)
{
	return peek_has_fds(srv) == 1 ? 0 : FAILED("the datagram carrying an fd is gone");
}
