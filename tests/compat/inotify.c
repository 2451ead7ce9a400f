/* compat: restore */
/*
 * inotify.c - an inotify instance keeps its watches with their wds (a gap
 * left by a removed watch included), their masks, and reports events on
 * them; nothing spurious is queued.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

static int ifd = -1, wd_dir, wd_file, wd_last;
static char dir[] = "/tmp/thaw-compat-inotify-XXXXXX", file[96], file2[96];

static int drain(void)
{
	char buf[4096];

	while (read(ifd, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static int setup(void)
{
	int gap, fd;

	if (!mkdtemp(dir))
		return -1;
	snprintf(file, sizeof(file), "%s/watched", dir);
	snprintf(file2, sizeof(file2), "%s/second", dir);
	if ((fd = open(file, O_CREAT | O_WRONLY, 0600)) < 0 || close(fd) ||
	    (fd = open(file2, O_CREAT | O_WRONLY, 0600)) < 0 || close(fd))
		return -1;
	ifd = inotify_init1(IN_NONBLOCK);
	wd_dir = inotify_add_watch(ifd, dir, IN_CREATE | IN_DELETE);
	wd_file = inotify_add_watch(ifd, file, IN_ATTRIB);
	gap = inotify_add_watch(ifd, "/", IN_ATTRIB);
	inotify_rm_watch(ifd, gap);
	wd_last = inotify_add_watch(ifd, file2, IN_MODIFY | IN_ONESHOT);
	if (ifd < 0 || wd_dir < 0 || wd_file < 0 || wd_last < 0) {
		perror("inotify");
		return -1;
	}
	return drain(); /* the IN_IGNORED of the removed watch */
}

static int check(char *why, size_t whylen)
{
	struct inotify_event *ev;
	char buf[4096], path[128];
	struct pollfd p = { ifd, POLLIN, 0 };
	ssize_t n;
	int fd;

	if (poll(&p, 1, 0) != 0)
		return FAILED("events queued before any change");
	if (inotify_add_watch(ifd, dir, IN_CREATE | IN_DELETE) != wd_dir ||
	    inotify_add_watch(ifd, file, IN_ATTRIB) != wd_file)
		return FAILED("the watches have other wds than %d and %d", wd_dir, wd_file);
	snprintf(path, sizeof(path), "%s/new", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || close(fd) || unlink(path) || chmod(file, 0640) || chmod(file, 0600))
		return FAILED("changing the files: %s", strerror(errno));
	n = read(ifd, buf, sizeof(buf));
	if (n <= 0)
		return FAILED("no events: %s", n < 0 ? strerror(errno) : "EOF");
	ev = (struct inotify_event *)buf;
	if (ev->wd != wd_dir || !(ev->mask & IN_CREATE) || strcmp(ev->name, "new"))
		return FAILED("first event wd %d mask %#x name %s, want wd %d IN_CREATE new",
			      ev->wd, ev->mask, ev->len ? ev->name : "", wd_dir);
	drain();
	return 0;
}
