/* compat: restore */
/*
 * sock-unix-pending.c - connections waiting in a Unix listener's accept
 * queue, whose clients are in the process, come back connected in the same
 * order: after the restore, accept() gives the server end of the first
 * client, then of the second; a listener whose socket file was removed
 * keeps its waiting client too.  (Before, the clients came back as sockets
 * whose peer had closed and accept() waited forever.)  The first check,
 * before the dump, only looks; the one after the restore accepts.
 */
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"

static int lst = -1, gone = -1, c1 = -1, c2 = -1, c3 = -1;
static struct sockaddr_un gone_addr = { .sun_family = AF_UNIX };

static int listen_on(int fd, const struct sockaddr_un *un, socklen_t len)
{
	return bind(fd, (const struct sockaddr *)un, len) || listen(fd, 8);
}

static int connect_to(int fd, const struct sockaddr_un *un, socklen_t len)
{
	return connect(fd, (const struct sockaddr *)un, len);
}

static int setup(void)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t len;

	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "thaw-compat-pending-%d", getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(un.sun_path + 1));
	snprintf(gone_addr.sun_path, sizeof(gone_addr.sun_path), "/tmp/thaw-compat-pending-%d",
		 getpid());
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	gone = socket(AF_UNIX, SOCK_STREAM, 0);
	c1 = socket(AF_UNIX, SOCK_STREAM, 0);
	c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	c3 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (listen_on(lst, &un, len) || listen_on(gone, &gone_addr, sizeof(gone_addr)) ||
	    connect_to(c1, &un, len) || connect_to(c2, &un, len) ||
	    connect_to(c3, &gone_addr, sizeof(gone_addr)) || unlink(gone_addr.sun_path)) {
		perror("sockets");
		return -1;
	}
	return 0;
}

/* accept on l within a second, and check that what client c writes arrives there */
static int accepts(int l, int c, const char *name, char *why, size_t whylen)
{
	struct pollfd p = { .fd = l, .events = POLLIN };
	char buf[8] = "";
	int a;

	if (poll(&p, 1, 1000) != 1)
		return FAILED("no connection to accept for %s", name);
	a = accept(l, NULL, NULL);
	if (a < 0)
		return FAILED("accept for %s: %s", name, strerror(errno));
	if (write(c, name, 2) != 2 || read(a, buf, sizeof(buf)) != 2 || memcmp(buf, name, 2))
		return FAILED("the connection accepted is not %s's (read \"%s\")", name, buf);
	close(a);
	return 0;
}

static int check(char *why, size_t whylen)
{
	static int calls;
	struct pollfd p[2] = { { .fd = lst, .events = POLLIN }, { .fd = gone, .events = POLLIN } };
	struct sockaddr_un peer;
	socklen_t len = sizeof(peer);

	if (getpeername(c3, (struct sockaddr *)&peer, &len) ||
	    strcmp(peer.sun_path, gone_addr.sun_path))
		return FAILED("the third client is not connected to %s", gone_addr.sun_path);
	if (!access(gone_addr.sun_path, F_OK))
		return FAILED("%s is there again", gone_addr.sun_path);
	if (++calls == 1)
		return poll(p, 2, 0) == 2 ? 0 : FAILED("no connections waiting");
	return accepts(lst, c1, "c1", why, whylen) || accepts(lst, c2, "c2", why, whylen) ||
	       accepts(gone, c3, "c3", why, whylen);
}
