/* compat: restore */
/*
 * pty-pair.c - one process holds a pseudo-terminal's master and slave on fds
 * above 2: the slave in raw mode with a window size, the master in packet
 * mode off.  After the restore the slave has the same name (ptsname), the
 * same termios and size, and bytes go both ways.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "compat.h"

static int master = -1, slave = -1;
static char name[64];
static struct termios want;

static int setup(void)
{
	struct winsize ws = { .ws_row = 33, .ws_col = 101, .ws_xpixel = 7, .ws_ypixel = 9 };

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) ||
	    ptsname_r(master, name, sizeof(name))) {
		perror("posix_openpt");
		return -1;
	}
	slave = open(name, O_RDWR | O_NOCTTY);
	if (slave < 0 || tcgetattr(slave, &want)) {
		perror(name);
		return -1;
	}
	/* fds above 2 for both, whatever the runner left open */
	master = fcntl(master, F_DUPFD, 10);
	slave = fcntl(slave, F_DUPFD, 11);
	cfmakeraw(&want);
	want.c_cc[VMIN] = 1;
	want.c_cc[VTIME] = 3;
	cfsetospeed(&want, B9600);
	cfsetispeed(&want, B9600);
	if (master < 0 || slave < 0 || tcsetattr(slave, TCSANOW, &want) ||
	    ioctl(master, TIOCSWINSZ, &ws)) {
		perror("setting the pty up");
		return -1;
	}
	return tcgetattr(slave, &want);
}

static int roundtrip(int from, int to, const char *msg, char *why, size_t whylen)
{
	char buf[32] = "";
	ssize_t n;

	if (write(from, msg, strlen(msg)) != (ssize_t)strlen(msg))
		return FAILED("write of %s: %s", msg, strerror(errno));
	n = read(to, buf, sizeof(buf) - 1);
	if (n != (ssize_t)strlen(msg) || memcmp(buf, msg, strlen(msg)))
		return FAILED("sent %s, read %zd bytes \"%s\"", msg, n, n > 0 ? buf : "");
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct termios now;
	struct winsize ws;
	char now_name[64];

	if (ptsname_r(master, now_name, sizeof(now_name)) || strcmp(now_name, name))
		return FAILED("ptsname is %s, was %s", now_name, name);
	if (tcgetattr(slave, &now))
		return FAILED("tcgetattr: %s", strerror(errno));
	if (now.c_iflag != want.c_iflag || now.c_oflag != want.c_oflag ||
	    now.c_cflag != want.c_cflag || now.c_lflag != want.c_lflag ||
	    memcmp(now.c_cc, want.c_cc, NCCS) || cfgetospeed(&now) != B9600)
		return FAILED("termios changed: lflag %#x (was %#x), cflag %#x (was %#x)",
			      now.c_lflag, want.c_lflag, now.c_cflag, want.c_cflag);
	if (ioctl(slave, TIOCGWINSZ, &ws) || ws.ws_row != 33 || ws.ws_col != 101 ||
	    ws.ws_xpixel != 7 || ws.ws_ypixel != 9)
		return FAILED("window size %ux%u (was 101x33)", ws.ws_col, ws.ws_row);
	if (roundtrip(master, slave, "to-slave", why, whylen) ||
	    roundtrip(slave, master, "to-master", why, whylen))
		return 1;
	return 0;
}
