/* compat: restore */
/*
 * deleted-holes.c - an unlinked file held open keeps its holes, its size, its
 * mode, owner and mtime, and its offset (SEEK_DATA/SEEK_HOLE, fstat).  It is
 * sparse and larger than 1 GiB (data at 0 and past 2 GiB), as a database's
 * preallocated file is: only its data counts against the limit.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

#define MiB (1024 * 1024)
#define TAIL ((off_t)2048 * MiB + 3 * MiB) /* past 2 GiB */
#define SIZE ((off_t)3072 * MiB)
static int fd = -1;
static const struct timespec mtime = { 1600000000, 123456789 };

static int setup(void)
{
	char path[] = "/tmp/thaw-compat-holes-XXXXXX";
	struct timespec times[2] = { { 0, UTIME_OMIT }, mtime };

	fd = mkstemp(path);
	if (fd < 0 || unlink(path)) {
		perror("mkstemp");
		return -1;
	}
	/* data at 0 and past 2 GiB, a hole between, a hole at the end */
	if (pwrite(fd, "head", 4, 0) != 4 || pwrite(fd, "tail", 4, TAIL) != 4 ||
	    ftruncate(fd, SIZE) || fchmod(fd, 0640) || fchown(fd, 1234, 4321) ||
	    futimens(fd, times) || lseek(fd, 5, SEEK_SET) != 5) {
		perror("setting up the deleted file");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct stat st;
	char buf[4];
	off_t hole;

	if (fstat(fd, &st))
		return FAILED("fstat: %s", strerror(errno));
	if (st.st_nlink != 0)
		return FAILED("nlink %lu, want 0", (unsigned long)st.st_nlink);
	if (st.st_size != SIZE)
		return FAILED("size %lld, want %lld", (long long)st.st_size, (long long)SIZE);
	if ((st.st_mode & 07777) != 0640 || st.st_uid != 1234 || st.st_gid != 4321)
		return FAILED("mode %o owner %u:%u, want 640 1234:4321", st.st_mode & 07777,
			      st.st_uid, st.st_gid);
	if (st.st_mtim.tv_sec != mtime.tv_sec || st.st_mtim.tv_nsec != mtime.tv_nsec)
		return FAILED("mtime %lld.%09ld, want %lld.%09ld", (long long)st.st_mtim.tv_sec,
			      st.st_mtim.tv_nsec, (long long)mtime.tv_sec, mtime.tv_nsec);
	/* a hole is at most a few blocks of allocation: the 3 GiB must not be written out */
	if (st.st_blocks * 512 > 2 * MiB)
		return FAILED("%lld bytes allocated: the holes were filled",
			      (long long)st.st_blocks * 512);
	if (lseek(fd, 0, SEEK_CUR) != 5)
		return FAILED("offset %lld, want 5", (long long)lseek(fd, 0, SEEK_CUR));
	hole = lseek(fd, 0, SEEK_HOLE); /* moves the offset: put back below */
	if (lseek(fd, 5, SEEK_SET) != 5)
		return FAILED("lseek: %s", strerror(errno));
	if (hole <= 0 || hole >= TAIL)
		return FAILED("first hole at %lld, want one before the tail", (long long)hole);
	if (pread(fd, buf, 4, TAIL) != 4 || memcmp(buf, "tail", 4) ||
	    pread(fd, buf, 4, 0) != 4 || memcmp(buf, "head", 4))
		return FAILED("contents differ");
	return 0;
}
