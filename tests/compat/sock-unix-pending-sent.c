/* compat: refuse waiting to be accepted, with data sent that thaw cannot read */
/*
 * sock-unix-pending-sent.c - a connection waiting in the accept queue of a
 * Unix listener bound to a path, whose client, in the process, has sent a
 * request: what it sent sits in a socket no fd reaches yet, so thaw cannot
 * keep it.  The dump refuses, and the server can still accept the
 * connection and read the request.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"

static struct sockaddr_un un = { .sun_family = AF_UNIX };
static int lst = -1, client = -1;

static void cleanup(void)
{
	unlink(un.sun_path);
}

static int setup(void)
{
	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/thaw-compat-pending-sent-%d", getpid());
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	client = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lst < 0 || client < 0 || bind(lst, (struct sockaddr *)&un, sizeof(un))) {
		perror(un.sun_path);
		return -1;
	}
	atexit(cleanup);
	if (listen(lst, 4) || connect(client, (struct sockaddr *)&un, sizeof(un)) ||
	    send(client, "GET", 3, 0) != 3) {
		perror("connect");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	static int calls;
	char buf[4] = "";
	int a;

	if (++calls == 1)
		return 0; /* the dump must leave the connection waiting: accepted after it */
	a = accept(lst, NULL, NULL);
	if (a < 0 || recv(a, buf, sizeof(buf), 0) != 3 || memcmp(buf, "GET", 3))
		return FAILED("the waiting connection or its request is gone");
	close(a);
	return 0;
}
