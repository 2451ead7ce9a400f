/* compat: restore */
/*
 * memfd-private.c - a private mapping of a memfd stays copy-on-write over
 * that memfd: a write through the fd shows through the mapping on pages it
 * has not copied, and its own copied page stays its own.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "compat.h"

static int mfd = -1;
static char *map;

static int setup(void)
{
	mfd = memfd_create("compat-private", 0);
	if (mfd < 0 || ftruncate(mfd, 2 * 4096) || pwrite(mfd, "from the fd", 12, 0) != 12) {
		perror("memfd");
		return -1;
	}
	map = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	strcpy(map + 4096, "private copy");
	return 0;
}

static int check(char *why, size_t whylen)
{
	char buf[16] = "";

	if (strcmp(map, "from the fd") || strcmp(map + 4096, "private copy"))
		return FAILED("the mapping lost its bytes");
	if (pwrite(mfd, "changed via fd", 15, 100) != 15)
		return FAILED("pwrite: %s", strerror(errno));
	if (strcmp(map + 100, "changed via fd"))
		return FAILED("a write through the memfd is not seen through its private mapping");
	if (pread(mfd, buf, 12, 4096) != 12 || !memcmp(buf, "private copy", 12))
		return FAILED("the mapping's private page shows in the memfd");
	return pwrite(mfd, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15, 100) != 15 ? FAILED("reset") : 0;
}
