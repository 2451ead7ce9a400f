/* compat: refuse pid [0-9]+ fd [0-9]+ \(.*\): an O_PATH fd on a symbolic link is not supported */
/*
 * opath-symlink.c - an O_PATH | O_NOFOLLOW fd on a symbolic link itself
 * (as a program that inspects links without following them holds one):
 * restore reopens files by their path and follows it.  The dump refuses,
 * naming the fd; the fd still refers to the link.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;
static char dir[] = "/tmp/thaw-lnk-XXXXXX", link_path[64];

static void remove_link(void)
{
	unlink(link_path);
	rmdir(dir);
}

static int setup(void)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(link_path, sizeof(link_path), "%s/l", dir);
	atexit(remove_link);
	if (symlink("/etc/hostname", link_path) ||
	    (fd = open(link_path, O_PATH | O_NOFOLLOW)) < 0) {
		perror(link_path);
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct stat st;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH) || !S_ISLNK(st.st_mode))
		return FAILED("fd %d is not the symlink any more", fd);
	return 0;
}
