/* compat: refuse a connection waiting to be accepted: its client has closed */
/*
 * sock-unix-pending-closed.c - a connection waiting in a Unix listener's
 * accept queue whose client sent a request and closed: what it sent sits in
 * a socket no fd reaches, so thaw cannot keep it, and dropping it would
 * lose the request silently.  The dump refuses, and the server can still
 * accept it and read the request.
 */
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"

static int lst = -1;

static int setup(void)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t len;
	int c = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "thaw-compat-pending-closed-%d",
		 getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(un.sun_path + 1));
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lst < 0 || c < 0 || bind(lst, (struct sockaddr *)&un, len) || listen(lst, 4) ||
	    connect(c, (struct sockaddr *)&un, len) || write(c, "GET", 3) != 3) {
		perror("sockets");
		return -1;
	}
	close(c);
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct pollfd p = { .fd = lst, .events = POLLIN };

	return poll(&p, 1, 0) == 1 ? 0 : FAILED("the connection waiting is gone");
}
