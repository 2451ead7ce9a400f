/* compat: refuse a lease being broken cannot be restored */
/*
 * lease-break.c - a lease in the middle of being broken (a child opened the
 * file and waits for the holder to give way) is refused at dump: the break's
 * progress lives in the kernel and cannot be recreated.  The program keeps
 * the lease, still breaking, and its child still waits.
 */
#include <signal.h>
#include <time.h>

#include "compat.h"
#include "file-locks.h"

static char path[64];
static int fd = -1;

static int setup(void)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	pid_t pid;
	int i;

	/* the break is announced with SIGIO: not to kill us */
	signal(SIGIO, SIG_IGN);
	fd = scratch_file(path, 16, O_RDONLY);
	if (fd < 0)
		return -1;
	if (fcntl(fd, F_SETLEASE, F_WRLCK)) {
		perror("F_SETLEASE");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		/* blocks until the lease is given up, broken by force, or its holder exits */
		open(path, O_RDONLY);
		_exit(0);
	}
	for (i = 0; i < 500 && fdinfo_locks(fd, "BREAKING") != 1; i++)
		nanosleep(&tick, NULL);
	return 0;
}

static int check_locks(char *why, size_t whylen)
{
	if (fdinfo_locks(fd, "LEASE  BREAKING") != 1)
		return FAILED("fdinfo of fd %d does not show the lease being broken", fd);
	return 0;
}
