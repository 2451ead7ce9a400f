/* compat: refuse a queued message carries the credentials \(SO_PASSCRED\) of pid [0-9]+ uid [0-9]+, another process */
/*
 * sock-scm-creds-other.c - a message queued with the credentials of another
 * process, a child that sent it and is gone, on a Unix pair whose reader
 * asked for them (SO_PASSCRED): restore sends credentials as the restored
 * process, and that pid no longer exists.  Refused by name; the program
 * still reads them.
 */
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 };
static pid_t sender;

static int setup(void)
{
	int on = 1, status;
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) ||
	    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on))) {
		perror("SO_PASSCRED");
		return -1;
	}
	child = fork();
	if (child == 0)
		_exit(send(sv[1], "who", 3, 0) == 3 ? 0 : 1);
	if (child < 0 || waitpid(child, &status, 0) != child || status) {
		perror("sender");
		return -1;
	}
	sender = child;
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct ucred cred;

	if (peek_creds(sv[0], &cred))
		return FAILED("the message or its credentials are gone");
	return cred.pid == sender ? 0 : FAILED("the credentials are pid %d's", cred.pid);
}
