/* compat: refuse pid [0-9]+ fd [0-9]+ \(.*\): a removed FIFO is not supported */
/*
 * fifo-removed.c - a FIFO held open (read and write, a byte in it) after its
 * name was removed: restore reopens a FIFO by its path, which is gone, and
 * an anonymous pipe would not be the same object to whoever else holds it.
 * The dump refuses, naming the fd; the FIFO and its byte are still there.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;

static int setup(void)
{
	char dir[] = "/tmp/thaw-fifo-XXXXXX", path[64];

	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/fifo", dir);
	if (mkfifo(path, 0600) || (fd = open(path, O_RDWR)) < 0 || write(fd, "x", 1) != 1) {
		perror(path);
		return -1;
	}
	unlink(path);
	rmdir(dir);
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct stat st;
	int n = 0;

	if (fstat(fd, &st) || !S_ISFIFO(st.st_mode) || st.st_nlink)
		return FAILED("fd %d is no removed FIFO any more", fd);
	if (ioctl(fd, FIONREAD, &n) || n != 1)
		return FAILED("the FIFO holds %d bytes, not 1", n);
	return 0;
}
