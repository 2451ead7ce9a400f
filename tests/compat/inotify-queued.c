/* compat: refuse bytes of inotify events are queued */
/*
 * inotify-queued.c - an inotify instance with events not yet read is
 * refused (reading them would take them from the program), and they are
 * still there for the program afterwards.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "compat.h"

static int ifd = -1;

static int setup(void)
{
	char dir[] = "/tmp/thaw-compat-inotify-q-XXXXXX", path[96];
	int fd;

	if (!mkdtemp(dir))
		return -1;
	ifd = inotify_init1(0);
	if (ifd < 0 || inotify_add_watch(ifd, dir, IN_CREATE) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/x", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	return fd < 0 ? -1 : close(fd);
}

static int check(char *why, size_t whylen)
{
	struct pollfd p = { ifd, POLLIN, 0 };

	if (poll(&p, 1, 0) != 1)
		return FAILED("the queued event is gone");
	return 0;
}
