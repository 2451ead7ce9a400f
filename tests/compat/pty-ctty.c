/* compat: restore */
/*
 * pty-ctty.c - a child in its own session whose controlling terminal is the
 * slave of a pty its parent holds the master of, with the foreground given
 * to another group (a grandchild's, as a shell does for a job).  Before, the
 * dump was refused; now the grandchild gives the foreground back to its
 * group once the restore has put it there, and the job is still in the
 * foreground.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include "compat.h"

static int master = -1;
static pid_t child, job;

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
		    dprintf(slave, "%d\n", job) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	/* the job's pid, as a line (the terminal writes it "\r\n") */
	for (;;) {
		if (read(master, &byte, 1) != 1) {
			perror("waiting for the child");
			return -1;
		}
		if (byte == '\n')
			break;
		if (byte >= '0' && byte <= '9')
			job = job * 10 + (byte - '0');
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	char path[64];
	pid_t fg = 0;

	snprintf(path, sizeof(path), "/proc/%d", child);
	if (access(path, F_OK))
		return FAILED("the child is gone");
	if (!ptsname(master))
		return FAILED("the master is gone: %s", strerror(errno));
	/* read on the master: the foreground group of its slave */
	if (ioctl(master, TIOCGPGRP, &fg))
		return FAILED("TIOCGPGRP on the master: %s", strerror(errno));
	if (fg != job)
		return FAILED("the foreground group of the terminal is %d, not the job's %d", fg,
			      job);
	if (kill(job, 0))
		return FAILED("the job %d is gone", job);
	return 0;
}
