/* compat: refuse pid [0-9]+: the foreground process group of its controlling terminal /dev/pts/[0-9]+ is [0-9]+, which no process of the snapshot is in: not supported */
/*
 * pty-fg-outside.c - the program leads a session whose controlling terminal
 * is a pty it holds, and the foreground belongs to a job that has left the
 * program's tree (its parent exited: it went to a subreaper or init, and is
 * still in the session).  A restore gives the foreground back through a
 * process of the foreground group, and none is in the snapshot: the dump
 * refuses, naming the process, and the job keeps the foreground.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "compat.h"

static int master = -1, slave = -1;
static pid_t job;

static int setup(void)
{
	int link[2], stay[2], status;
	char name[64];
	pid_t middle;

	if (setsid() < 0) {
		printf("SKIP: started as a process group leader: no session of its own\n");
		exit(77);
	}
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) ||
	    ptsname_r(master, name, sizeof(name)) || (slave = open(name, O_RDWR)) < 0 ||
	    pipe(link) || pipe(stay)) {
		perror("pty");
		return -1;
	}
	middle = fork();
	if (middle < 0)
		return -1;
	if (middle == 0) {
		pid_t j = fork();

		if (j == 0) {
			/* the job: a group of its own in the session, until the program is gone */
			char c;

			close(stay[1]);
			j = getpid();
			if (setpgid(0, 0) || write(link[1], &j, sizeof(j)) != sizeof(j))
				_exit(1);
			while (read(stay[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		_exit(j < 0); /* and the job leaves the program's tree */
	}
	close(stay[0]);
	close(link[1]);
	if (waitpid(middle, &status, 0) != middle || status ||
	    read(link[0], &job, sizeof(job)) != sizeof(job) || tcsetpgrp(slave, job)) {
		perror("the job");
		return -1;
	}
	close(link[0]);
	return 0;
}

static int check(char *why, size_t whylen)
{
	pid_t fg = tcgetpgrp(slave);

	if (fg != job)
		return FAILED("the foreground group is %d, not the job's %d", fg, job);
	if (getpgid(job) != job || getsid(job) != getpid())
		return FAILED("the job %d left its group or the session", job);
	return 0;
}
