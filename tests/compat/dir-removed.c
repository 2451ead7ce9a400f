/* compat: refuse pid [0-9]+ fd [0-9]+ \(.*\): the directory was removed */
/*
 * dir-removed.c - a directory held open after it was removed (rmdir): no
 * path reaches it any more, and a new empty directory would be another
 * one.  The dump refuses, naming the fd; the fd still holds the directory.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;

static int setup(void)
{
	char dir[] = "/tmp/thaw-dir-XXXXXX";

	if (!mkdtemp(dir) || (fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0 || rmdir(dir)) {
		perror(dir);
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISDIR(st.st_mode) || st.st_nlink)
		return FAILED("fd %d is no removed directory any more", fd);
	return 0;
}
