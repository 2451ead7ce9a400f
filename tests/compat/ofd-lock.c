/* compat: restore */
/*
 * ofd-lock.c - open file description locks (F_OFD_SETLK) come back on the
 * description that took them.  Two descriptions of one file: A holds a write
 * lock on bytes 0-9 and a read lock on the last 10 bytes (taken with
 * SEEK_END), B a read lock on bytes 100-199.  A child and each description
 * see the others' locks as conflicts (an OFD lock never conflicts with its own
 * description), fdinfo shows each lock on its own fd, /proc/locks all three.
 */
#include "compat.h"
#include "file-locks.h"

static char path[64];
static int fd_a = -1, fd_b = -1;

static int ofd_lock(int fd, short type, int whence, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = (short)whence, .l_start = start,
			    .l_len = len };

	if (fcntl(fd, F_OFD_SETLK, &fl)) {
		perror("F_OFD_SETLK");
		return -1;
	}
	return 0;
}

static int setup(void)
{
	fd_a = scratch_file(path, 64, O_RDWR);
	if (fd_a < 0)
		return -1;
	fd_b = open(path, O_RDONLY | O_CLOEXEC);
	if (fd_b < 0) {
		perror(path);
		return -1;
	}
	if (ofd_lock(fd_a, F_WRLCK, SEEK_SET, 0, 10) || ofd_lock(fd_a, F_RDLCK, SEEK_END, -10, 10) ||
	    ofd_lock(fd_b, F_RDLCK, SEEK_SET, 100, 100))
		return -1;
	return 0;
}

/* F_OFD_GETLK through fd (or, fd < 0, from a child's own description). */
static int ask(int fd, short type, off_t start, struct flock *got, char *why, size_t whylen)
{
	if (fd < 0)
		return probe_lock(path, F_OFD_GETLK, type, start, 1, got, why, whylen);
	*got = (struct flock){ .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = 1 };
	if (fcntl(fd, F_OFD_GETLK, got))
		return FAILED("F_OFD_GETLK on fd %d: %s", fd, strerror(errno));
	return 0;
}

static int check_locks(char *why, size_t whylen)
{
	static const struct {
		int which; /* 0 a child, 1 fd A, 2 fd B */
		short type;
		off_t at;
		short want_type;
		off_t want_start, want_len;
	} probes[] = {
		{ 0, F_RDLCK, 5, F_WRLCK, 0, 10 },    { 0, F_WRLCK, 60, F_RDLCK, 54, 10 },
		{ 0, F_WRLCK, 150, F_RDLCK, 100, 100 }, { 0, F_WRLCK, 30, F_UNLCK, 0, 0 },
		{ 1, F_WRLCK, 5, F_UNLCK, 0, 0 },     { 1, F_WRLCK, 150, F_RDLCK, 100, 100 },
		{ 2, F_RDLCK, 5, F_WRLCK, 0, 10 },    { 2, F_WRLCK, 150, F_UNLCK, 0, 0 },
	};
	struct flock got;
	size_t i;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		int fd = probes[i].which == 0 ? -1 : probes[i].which == 1 ? fd_a : fd_b;

		if (ask(fd, probes[i].type, probes[i].at, &got, why, whylen))
			return 1;
		if (got.l_type != probes[i].want_type)
			return FAILED("probe %zu: lock type %d, want %d", i, got.l_type,
				      probes[i].want_type);
		if (got.l_type != F_UNLCK &&
		    (got.l_start != probes[i].want_start || got.l_len != probes[i].want_len ||
		     got.l_pid != -1))
			return FAILED("probe %zu: lock %lld+%lld of pid %d, want %lld+%lld of -1", i,
				      (long long)got.l_start, (long long)got.l_len, got.l_pid,
				      (long long)probes[i].want_start,
				      (long long)probes[i].want_len);
	}
	if (fdinfo_locks(fd_a, "OFDLCK ADVISORY  WRITE") != 1 ||
	    fdinfo_locks(fd_a, "OFDLCK ADVISORY  READ") != 1 || fdinfo_locks(fd_a, "lock:") != 2)
		return FAILED("fdinfo of fd %d does not show its write and read lock", fd_a);
	if (fdinfo_locks(fd_b, " 100 199") != 1 || fdinfo_locks(fd_b, "lock:") != 1)
		return FAILED("fdinfo of fd %d does not show its lock on bytes 100-199", fd_b);
	return expect_proc_locks(fd_a, -1, 3, why, whylen);
}
