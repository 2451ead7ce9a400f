/* compat: refuse flock lock on a pipe cannot be restored */
/*
 * flock-pipe.c - a lock on something thaw recreates rather than reopens (here
 * flock(2) on a pipe) is refused at dump, naming the fd, and the program keeps
 * its lock.
 */
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "compat.h"
#include "file-locks.h"

static int pipefd[2];

static int setup(void)
{
	if (pipe(pipefd) || flock(pipefd[0], LOCK_EX | LOCK_NB)) {
		perror("flock on a pipe");
		return -1;
	}
	return 0;
}

static int check_locks(char *why, size_t whylen)
{
	if (fdinfo_locks(pipefd[0], "FLOCK  ADVISORY  WRITE") != 1)
		return FAILED("fdinfo of fd %d does not show the lock", pipefd[0]);
	return 0;
}
