/* compat: refuse bytes are queued to be read .* pty */
/*
 * pty-queued.c - bytes written on a pseudo-terminal's master and not yet
 * read on its slave are refused (reading them would take them from the
 * program), and they are still there for the program afterwards.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "compat.h"

static int master = -1, slave = -1;

static int setup(void)
{
	char name[64];
	struct termios t;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) ||
	    ptsname_r(master, name, sizeof(name))) {
		perror("posix_openpt");
		return -1;
	}
	slave = open(name, O_RDWR | O_NOCTTY);
	if (slave < 0 || tcgetattr(slave, &t)) {
		perror(name);
		return -1;
	}
	cfmakeraw(&t);
	if (tcsetattr(slave, TCSANOW, &t) || write(master, "pending", 7) != 7) {
		perror("tcsetattr/write");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct pollfd p = { slave, POLLIN, 0 };

	if (poll(&p, 1, 1000) != 1)
		return FAILED("the queued bytes are gone");
	return 0;
}
