/* compat: refuse foreground process group of its controlling terminal /dev/pts/[0-9]+ is [0-9]+, not the session leader's own */
/*
 * pty-ctty.c - a child in its own session whose controlling terminal is the
 * slave of a pty its parent holds the master of, with the foreground given
 * to another group (a grandchild's, as a shell does for a job): the
 * foreground group is only restored when it is the leader's own, so the
 * dump is refused rather than bring the session back with another.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include "compat.h"

static int master = -1;
static pid_t child;

static int setup(void)
{
	char name[64], byte;
	pid_t job;
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
		if (slave < 0)
			_exit(1);
		job = fork();
		if (job == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			setpgid(0, 0);
			for (;;)
				pause();
		}
		if (job < 0 || setpgid(job, job) || tcsetpgrp(slave, job) ||
		    write(slave, "R", 1) != 1)
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
