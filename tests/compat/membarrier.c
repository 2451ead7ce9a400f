/* compat: restore */
/*
 * membarrier.c - registrations for expedited membarrier (global, private,
 * private sync-core) stay: MEMBARRIER_CMD_GET_REGISTRATIONS (Linux 6.3)
 * lists them, and a private expedited barrier, which needs the
 * registration, still succeeds.
 */
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

#define GET_REGISTRATIONS (1 << 9)
#define WANT                                                                                       \
	(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED |   \
	 MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)

static long membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

static int setup(void)
{
	if (membarrier(GET_REGISTRATIONS) < 0) {
		printf("SKIP: no MEMBARRIER_CMD_GET_REGISTRATIONS: %s\n", strerror(errno));
		exit(77);
	}
	if (membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) ||
	    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) ||
	    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)) {
		printf("SKIP: membarrier registration: %s\n", strerror(errno));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	long got = membarrier(GET_REGISTRATIONS);

	if (got != WANT)
		return FAILED("registrations are 0x%lx, want 0x%x", got, WANT);
	if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return FAILED("MEMBARRIER_CMD_PRIVATE_EXPEDITED: %s", strerror(errno));
	return 0;
}
