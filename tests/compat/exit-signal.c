/* compat: refuse a child created with exit signal 10 instead of SIGCHLD \(clone\) is not supported */
/*
 * exit-signal.c - a child made by clone(2) with SIGUSR1 as its exit signal is
 * refused by name: a restore would make it with SIGCHLD, and its parent
 * would wait for a signal that never comes.
 */
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static pid_t child;
static char stack[64 * 1024];

static int child_main(void *arg)
{
	/* the runner kills the program it started: the child goes with it */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != *(pid_t *)arg)
		_exit(1);
	for (;;)
		pause();
	return 0;
}

static int setup(void)
{
	static pid_t parent;

	parent = getpid();
	child = clone(child_main, stack + sizeof(stack), SIGUSR1, &parent);
	if (child < 0) {
		perror("clone");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	if (kill(child, 0))
		return FAILED("the child %d is gone: %s", child, strerror(errno));
	return 0;
}
