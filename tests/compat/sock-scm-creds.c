/* compat: refuse a queued message carries the credentials \(SO_PASSCRED\) */
/*
 * sock-scm-creds.c - a message queued with its sender's credentials on a Unix
 * pair whose reader asked for them (SO_PASSCRED): thaw cannot send them
 * again as they were, and says so; the program still reads them.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 };

static int setup(void)
{
	int on = 1;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) ||
	    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) ||
	    send(sv[1], "who", 3, 0) != 3) {
		perror("SO_PASSCRED");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct ucred cred;

	if (peek_creds(sv[0], &cred))
		return FAILED("the message or its credentials are gone");
	return cred.pid == getpid() ? 0 : FAILED("the credentials are pid %d's", cred.pid);
}
