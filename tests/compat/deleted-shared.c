/* compat: restore */
/*
 * deleted-shared.c - one unlinked inode held by two fds opened through two of
 * its names, and mapped shared and private, comes back as one inode: a write
 * through either fd is seen through the other and through the mappings (on
 * pages the private mapping has not copied).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

static int fd1 = -1, fd2 = -1;
static char *shared, *private_map;

static int setup(void)
{
	char path[] = "/tmp/thaw-compat-shared-XXXXXX", link2[64];

	fd1 = mkstemp(path);
	snprintf(link2, sizeof(link2), "%s-2", path);
	if (fd1 < 0 || link(path, link2) || ftruncate(fd1, 2 * 4096)) {
		perror("setting up");
		return -1;
	}
	fd2 = open(link2, O_RDWR);
	if (fd2 < 0 || unlink(path) || unlink(link2)) {
		perror("second name");
		return -1;
	}
	shared = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
	private_map = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd2, 0);
	if (shared == MAP_FAILED || private_map == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	strcpy(shared, "written before the dump");
	private_map[4096] = 'c'; /* the private mapping's second page is its own copy */
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct stat st1, st2;
	char buf[32] = "";

	if (fstat(fd1, &st1) || fstat(fd2, &st2))
		return FAILED("fstat: %s", strerror(errno));
	if (st1.st_ino != st2.st_ino || st1.st_dev != st2.st_dev)
		return FAILED("fds %d and %d are two files (inodes %lu, %lu), were one", fd1, fd2,
			      (unsigned long)st1.st_ino, (unsigned long)st2.st_ino);
	if (strcmp(shared, "written before the dump") || private_map[4096] != 'c')
		return FAILED("the mappings lost their contents");
	if (pwrite(fd2, "through fd2", 12, 64) != 12 || pread(fd1, buf, 12, 64) != 12 ||
	    strcmp(buf, "through fd2"))
		return FAILED("a write through fd %d is not seen through fd %d", fd2, fd1);
	if (strcmp(shared + 64, "through fd2"))
		return FAILED("a write through fd %d is not seen through the shared mapping", fd2);
	if (strcmp(private_map + 64, "through fd2"))
		return FAILED("a write through fd %d is not seen through the private mapping", fd2);
	if (pwrite(fd1, "x", 1, 4096) != 1 || private_map[4096] != 'c')
		return FAILED("the private mapping's own page changed");
	/* put it back for the next check */
	return pwrite(fd1, "\0\0\0\0\0\0\0\0\0\0\0\0", 12, 64) != 12 ? FAILED("reset") : 0;
}
