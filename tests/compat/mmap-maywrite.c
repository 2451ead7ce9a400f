/* compat: restore */
/*
 * mmap-maywrite.c - a shared mapping made read-only of a file opened
 * read-write may be made writable again (mprotect), and two mappings of one
 * file with different protections keep them.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compat.h"

static char path[] = "/tmp/thaw-compat-maywrite-XXXXXX";
static char *ro, *rw;

static int setup(void)
{
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, 4 * 4096)) {
		perror("mkstemp");
		return -1;
	}
	ro = mmap(NULL, 2 * 4096, PROT_READ, MAP_SHARED, fd, 0);
	rw = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * 4096);
	close(fd);
	if (ro == MAP_FAILED || rw == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	strcpy(rw, "second half");
	return 0;
}

static int check(char *why, size_t whylen)
{
	if (strcmp(rw, "second half"))
		return FAILED("the writable mapping lost its contents");
	if (mprotect(ro, 2 * 4096, PROT_READ | PROT_WRITE))
		return FAILED("mprotect(PROT_WRITE) of the read-only shared mapping: %s",
			      strerror(errno));
	strcpy(ro, "now written");
	if (mprotect(ro, 2 * 4096, PROT_READ))
		return FAILED("mprotect back: %s", strerror(errno));
	return 0;
}
