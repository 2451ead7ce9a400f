/* compat: refuse pid [0-9]+: its controlling terminal /dev/pts/[0-9]+ is a pty of the snapshot, but its session leader [0-9]+ is not in the snapshot */
/*
 * pty-leader-outside.c - the program holds a pseudo-terminal's master and
 * slave and is a member of the session that terminal controls, whose leader (its parent,
 * which made the session and acquired the terminal) stays outside the
 * snapshot: the leader names the program with "ROOT" (compat.h) and run.sh
 * dumps that.  A restore could make the pty again, but not give it to a
 * session whose leader it does not restore: the dump refuses, naming the
 * process, and the program runs on with its terminal.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static int master = -1;
static char name[64];

static int setup(void)
{
	int slave, go[2], status;
	pid_t member;
	char c;

	if (setsid() < 0) {
		printf("SKIP: started as a process group leader: no session of its own\n");
		exit(77);
	}
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) ||
	    ptsname_r(master, name, sizeof(name))) {
		perror("posix_openpt");
		return -1;
	}
	slave = open(name, O_RDWR); /* the session leader's first terminal: its controlling one */
	if (slave < 0 || pipe(go)) {
		perror(name);
		return -1;
	}
	member = fork();
	if (member < 0)
		return -1;
	if (member == 0) {
		/* the member goes on as the program (READY, the check) once it is named */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		close(go[0]);
		return 0;
	}
	/* the leader: names the member, and lives as long as it, outside the snapshot */
	close(master);
	close(slave);
	close(go[0]);
	printf("ROOT %d\n", (int)member);
	if (write(go[1], "g", 1) != 1)
		_exit(2);
	close(go[1]);
	while (waitpid(member, &status, 0) < 0)
		if (errno != EINTR)
			_exit(2);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static int check(char *why, size_t whylen)
{
	pid_t sid = 0;
	const char *now = ptsname(master);

	if (!now || strcmp(now, name))
		return FAILED("the master is %s, not %s's", now ? now : strerror(errno), name);
	/* asked on the master: the session its slave controls */
	if (ioctl(master, TIOCGSID, &sid))
		return FAILED("TIOCGSID on the master: %s", strerror(errno));
	if (sid != getsid(0) || sid == getpid())
		return FAILED("%s controls session %d; the program is in %d, led by %d", name, sid,
			      (int)getpid(), getsid(0));
	return 0;
}
