/* compat: refuse pid [0-9]+ fd [0-9]+ \(anon_inode:\[fanotify\]\): fanotify is not supported */
/*
 * fanotify.c - a fanotify group marking a directory: its marks live in the
 * kernel, and no interface lists them for thaw to make them again.  The
 * dump refuses, naming the fd; the group still reports an event.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;
static char dir[] = "/tmp/thaw-fan-XXXXXX";

static void remove_dir(void)
{
	rmdir(dir);
}

static int setup(void)
{
	fd = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_CLOEXEC, O_RDONLY);
	if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
		printf("SKIP: fanotify_init: %s\n", strerror(errno));
		exit(77);
	}
	if (fd < 0 || !mkdtemp(dir)) {
		perror("fanotify_init");
		return -1;
	}
	atexit(remove_dir);
	if (fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN | FAN_ONDIR | FAN_EVENT_ON_CHILD, AT_FDCWD,
			  dir)) {
		perror("fanotify_mark");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n;
	int d = open(dir, O_RDONLY | O_DIRECTORY);

	if (d < 0)
		return FAILED("opening %s: %s", dir, strerror(errno));
	close(d);
	n = read(fd, buf, sizeof(buf));
	if (n < (ssize_t)sizeof(struct fanotify_event_metadata))
		return FAILED("no event for opening the marked directory: %s", strerror(errno));
	/* each event comes with an fd of its own */
	for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n);
	     m = FAN_EVENT_NEXT(m, n))
		if (m->fd >= 0)
			close(m->fd);
	return 0;
}
