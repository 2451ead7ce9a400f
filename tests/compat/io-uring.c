/* compat: refuse io_uring is not supported */
/*
 * io-uring.c - an io_uring instance is refused at dump, naming the fd, and the
 * program runs on unharmed.
 */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

static int ring = -1;

static int setup(void)
{
	struct io_uring_params p = { 0 };

	ring = (int)syscall(SYS_io_uring_setup, 4, &p);
	if (ring < 0) {
		/* a kernel without io_uring (or with it disabled) has nothing to refuse */
		printf("SKIP: io_uring_setup: %s\n", strerror(errno));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	if (fcntl(ring, F_GETFD) < 0)
		return FAILED("the ring fd %d is gone: %s", ring, strerror(errno));
	return 0;
}
