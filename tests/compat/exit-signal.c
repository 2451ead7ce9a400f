/* compat: refuse a child created with exit signal 10 instead of SIGCHLD \(clone\) is not supported */
/*
 * exit-signal.c - a child made by clone(2) with SIGUSR1 as its exit signal is
 * refused by name: a restore would make it with SIGCHLD, and its parent
 * would wait for a signal that never comes.
 */
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static pid_t child;
static char stack[64 * 1024];

static int child_main(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

static int setup(void)
{
	child = clone(child_main, stack + sizeof(stack), SIGUSR1, NULL);
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
