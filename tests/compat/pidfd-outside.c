/* compat: refuse pidfd of pid [0-9]+, which is not this process */
/*
 * pidfd-outside.c - a pidfd on a process outside the snapshot (here the
 * program's own parent, the test's shell) is refused, naming it.
 */
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;

static int setup(void)
{
	fd = (int)syscall(SYS_pidfd_open, getppid(), 0);
	if (fd < 0) {
		perror("pidfd_open");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	if (fcntl(fd, F_GETFD) < 0)
		return FAILED("the pidfd is gone: %s", strerror(errno));
	return 0;
}
