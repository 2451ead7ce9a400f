/* compat: restore */
/*
 * posix-lock.c - POSIX record locks (fcntl F_SETLK) come back on the process:
 * a write lock on bytes 10-29 and a read lock from byte 100 to the end (taken
 * with SEEK_CUR from offset 50).  A forked child's F_GETLK sees them held by
 * this pid; the fd's fdinfo and /proc/locks list exactly these two.
 */
#include "compat.h"
#include "file-locks.h"

static char path[64];
static int fd = -1;

static int setup(void)
{
	struct flock w = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20 };
	struct flock r = { .l_type = F_RDLCK, .l_whence = SEEK_CUR, .l_start = 50, .l_len = 0 };

	fd = scratch_file(path, 4096, O_RDWR);
	if (fd < 0)
		return -1;
	if (lseek(fd, 50, SEEK_SET) != 50 || fcntl(fd, F_SETLK, &w) || fcntl(fd, F_SETLK, &r)) {
		perror("F_SETLK");
		return -1;
	}
	return 0;
}

/* What a child asks, and the conflicting lock it must be told about (F_UNLCK: none). */
static const struct {
	short type;
	off_t start, len;
	short want_type;
	off_t want_start, want_len;
} probes[] = {
	{ F_RDLCK, 15, 1, F_WRLCK, 10, 20 },
	{ F_WRLCK, 0, 10, F_UNLCK, 0, 0 },
	{ F_WRLCK, 30, 70, F_UNLCK, 0, 0 },
	{ F_WRLCK, 5000, 1, F_RDLCK, 100, 0 },
	{ F_RDLCK, 100, 0, F_UNLCK, 0, 0 },
};

static int check_locks(char *why, size_t whylen)
{
	struct flock got;
	size_t i;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (probe_lock(path, F_GETLK, probes[i].type, probes[i].start, probes[i].len, &got,
			       why, whylen))
			return 1;
		if (got.l_type != probes[i].want_type)
			return FAILED("probe %zu: lock type %d, want %d", i, got.l_type,
				      probes[i].want_type);
		if (got.l_type == F_UNLCK)
			continue;
		if (got.l_start != probes[i].want_start || got.l_len != probes[i].want_len ||
		    got.l_pid != getpid())
			return FAILED("probe %zu: lock %lld+%lld of pid %d, want %lld+%lld of %d", i,
				      (long long)got.l_start, (long long)got.l_len, got.l_pid,
				      (long long)probes[i].want_start,
				      (long long)probes[i].want_len, getpid());
	}
	if (fdinfo_locks(fd, "POSIX  ADVISORY  WRITE") != 1 ||
	    fdinfo_locks(fd, "POSIX  ADVISORY  READ") != 1 || fdinfo_locks(fd, "lock:") != 2)
		return FAILED("fdinfo of fd %d does not show one write and one read lock", fd);
	return expect_proc_locks(fd, getpid(), 2, why, whylen);
}
