/* compat: refuse a file in flight \(SCM_RIGHTS\) in its socket queues is open in pid [0-9]+ too */
/*
 * sock-scm-tree.c - a file in flight on a Unix pair of the process whose open
 * file description a child of the process holds as an fd too: each process
 * makes its own files at restore, so the two could not be one description
 * again.  Refused by name; the program still has it in flight.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 };

static int setup(void)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t child;

	if (null < 0) {
		perror("/dev/null");
		return -1;
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return -1;
	}
	if (child == 0) {
		/* holds the description until the program goes */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || send_fds(sv[1], "t", 1, &null, 1)) {
		perror("SCM_RIGHTS");
		return -1;
	}
	close(null);
	return 0;
}

static int check(char *why, size_t whylen)
{
	return peek_has_fds(sv[0]) == 1 ? 0 : FAILED("the fd in flight is gone");
}
