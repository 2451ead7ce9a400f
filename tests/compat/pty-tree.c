/* compat: restore */
/*
 * pty-tree.c - the parent holds a pseudo-terminal's master (on a high fd),
 * a forked child in its own session has the slave as fds 0-2 and as its
 * controlling terminal, its group in the foreground (script(1), a terminal
 * multiplexer).  After the restore the pty is the same one in both
 * (ptsname, the child's fd 0 is the parent's pty), the child's termios and
 * window size are kept, a line goes through the child and back, and the
 * child (asked through the pty) still has the pty as /dev/tty with its
 * group in the foreground.  The child's fds 0-2 must not become thaw
 * restore's own terminal: the pty is part of the snapshot.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "compat.h"

static int master = -1;
static char name[64];
static pid_t child;

/*
 * The child echoes every line it reads back, upper-cased first letter; to
 * "?" it says whether the pty is its controlling terminal with its group in
 * the foreground.
 */
static void child_main(void)
{
	char buf[64];
	ssize_t n;
	int tty;

	for (;;) {
		n = read(0, buf, sizeof(buf));
		if (n <= 0)
			_exit(0);
		if (buf[0] == '?') {
			tty = open("/dev/tty", O_RDWR);
			n = 3;
			memcpy(buf, tty >= 0 && tcgetpgrp(tty) == getpgrp() ? "ok\n" : "no\n", 3);
			if (tty >= 0)
				close(tty);
		} else if (buf[0] >= 'a' && buf[0] <= 'z')
			buf[0] -= 32;
		if (write(1, buf, (size_t)n) != n)
			_exit(1);
	}
}

static int setup(void)
{
	struct winsize ws = { .ws_row = 40, .ws_col = 132 };
	struct termios t;
	int slave;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) ||
	    ptsname_r(master, name, sizeof(name))) {
		perror("posix_openpt");
		return -1;
	}
	master = fcntl(master, F_DUPFD_CLOEXEC, 20);
	if (master < 0 || ioctl(master, TIOCSWINSZ, &ws)) {
		perror("master");
		return -1;
	}
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setsid();
		slave = open(name, O_RDWR); /* the session leader's first tty: its ctty */
		if (slave < 0 || tcgetattr(slave, &t))
			_exit(1);
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHOCTL);
		t.c_oflag &= ~(tcflag_t)ONLCR;
		if (tcsetattr(slave, TCSANOW, &t) || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 ||
		    dup2(slave, 2) < 0)
			_exit(1);
		if (slave > 2)
			close(slave);
		if (write(1, "R", 1) != 1)
			_exit(1);
		child_main();
	}
	/* the child's word that its fds 0-2 are the slave */
	if (read(master, &t, 1) != 1) {
		perror("waiting for the child");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	char path[64], buf[64] = "", now[64];
	struct stat ss, cs;
	struct winsize ws;
	ssize_t n;
	pid_t fg;

	if (ptsname_r(master, now, sizeof(now)) || strcmp(now, name))
		return FAILED("ptsname is %s, was %s", now, name);
	snprintf(path, sizeof(path), "/proc/%d/fd/0", child);
	if (stat(name, &ss) || stat(path, &cs))
		return FAILED("stat of %s or %s: %s", name, path, strerror(errno));
	if (ss.st_rdev != cs.st_rdev)
		return FAILED("the child's fd 0 is not the parent's pty %s", name);
	if (ioctl(master, TIOCGWINSZ, &ws) || ws.ws_row != 40 || ws.ws_col != 132)
		return FAILED("window size %ux%u, was 132x40", ws.ws_col, ws.ws_row);
	if (write(master, "hello\n", 6) != 6)
		return FAILED("write to the master: %s", strerror(errno));
	n = read(master, buf, sizeof(buf) - 1);
	if (n != 6 || memcmp(buf, "Hello\n", 6))
		return FAILED("the child answered %zd bytes \"%s\" (echo or onlcr back?)", n,
			      n > 0 ? buf : "");
	if (ioctl(master, TIOCGPGRP, &fg) || fg != child)
		return FAILED("the foreground group is %d, not the child's %d", fg, child);
	if (write(master, "?\n", 2) != 2 || read(master, buf, sizeof(buf)) != 3 ||
	    memcmp(buf, "ok\n", 3))
		return FAILED("the child has lost its controlling terminal or the foreground");
	return 0;
}
