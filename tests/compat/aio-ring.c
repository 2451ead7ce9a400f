/* compat: refuse pid [0-9]+: /\[aio\]: an AIO context \(io_setup\) is not supported */
/*
 * aio-ring.c - a kernel AIO context (io_setup), whose ring is mapped into
 * the process: the context and its requests live in the kernel, which has
 * no way to make one again at the same address.  The dump refuses, naming
 * the mapping; the context still answers io_getevents.
 */
#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"

static aio_context_t ctx;

static int setup(void)
{
	if (syscall(SYS_io_setup, 8, &ctx)) {
		perror("io_setup");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct io_event ev;
	struct timespec zero = { 0, 0 };

	if (syscall(SYS_io_getevents, ctx, 0, 1, &ev, &zero) < 0)
		return FAILED("io_getevents: %s", strerror(errno));
	return 0;
}
