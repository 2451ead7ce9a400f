/* compat: restore */
/*
 * flock.c - flock(2) locks come back on their open file descriptions: an
 * exclusive lock on file A, held by fd 3's description and a dup of it, and a
 * shared lock on file B.  A child cannot take A at all, can share B but not
 * own it; fdinfo shows each lock on every fd of its description, /proc/locks
 * one lock per file.
 */
#include <sys/file.h>

#include "compat.h"
#include "file-locks.h"

static char path_a[64], path_b[64];
static int fd_a = -1, fd_a2 = -1, fd_b = -1;

static int setup(void)
{
	fd_a = scratch_file(path_a, 16, O_RDWR);
	fd_b = scratch_file(path_b, 16, O_RDONLY);
	if (fd_a < 0 || fd_b < 0)
		return -1;
	fd_a2 = fcntl(fd_a, F_DUPFD_CLOEXEC, 20);
	if (fd_a2 < 0 || flock(fd_a, LOCK_EX | LOCK_NB) || flock(fd_b, LOCK_SH | LOCK_NB)) {
		perror("flock");
		return -1;
	}
	return 0;
}

/* A child opens path and tries flock(op | LOCK_NB): 0 or the errno it got. */
static int child_flock(const char *path, int op)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return errno;
	if (pid == 0) {
		int fd = open(path, O_RDONLY);

		if (fd < 0)
			_exit(255);
		_exit(flock(fd, op | LOCK_NB) ? errno : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 255;
	return WEXITSTATUS(status);
}

static int check_locks(char *why, size_t whylen)
{
	int err;

	if ((err = child_flock(path_a, LOCK_SH)) != EWOULDBLOCK)
		return FAILED("a child's shared flock of A: %s, want EWOULDBLOCK", strerror(err));
	if ((err = child_flock(path_b, LOCK_SH)) != 0)
		return FAILED("a child's shared flock of B: %s, want success", strerror(err));
	if ((err = child_flock(path_b, LOCK_EX)) != EWOULDBLOCK)
		return FAILED("a child's exclusive flock of B: %s, want EWOULDBLOCK",
			      strerror(err));
	if (fdinfo_locks(fd_a, "FLOCK  ADVISORY  WRITE") != 1 ||
	    fdinfo_locks(fd_a2, "FLOCK  ADVISORY  WRITE") != 1)
		return FAILED("fdinfo of fds %d and %d does not show the exclusive lock", fd_a,
			      fd_a2);
	if (fdinfo_locks(fd_b, "FLOCK  ADVISORY  READ") != 1)
		return FAILED("fdinfo of fd %d does not show the shared lock", fd_b);
	return expect_proc_locks(fd_a, getpid(), 1, why, whylen) ||
	       expect_proc_locks(fd_b, getpid(), 1, why, whylen);
}
