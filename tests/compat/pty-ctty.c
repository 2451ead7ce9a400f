/* compat: refuse controlling terminal /dev/pts/[0-9]+ is a pty of the snapshot */
/*
 * pty-ctty.c - a child in its own session whose controlling terminal is the
 * slave of a pty its parent holds the master of (a terminal multiplexer,
 * script(1)): restoring the controlling terminal is not supported yet, so
 * the dump is refused rather than bring the child back without it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "compat.h"

static int master = -1;
static pid_t child;

static int setup(void)
{
	char name[64], byte;
	int slave;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) ||
	    ptsname_r(master, name, sizeof(name))) {
		perror("posix_openpt");
		return -1;
	}
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setsid();
		slave = open(name, O_RDWR); /* the session leader's first tty: its ctty */
		if (slave < 0 || write(slave, "R", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (read(master, &byte, 1) != 1) {
		perror("waiting for the child");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", child);
	if (access(path, F_OK))
		return FAILED("the child is gone");
	if (!ptsname(master))
		return FAILED("the master is gone: %s", strerror(errno));
	return 0;
}
