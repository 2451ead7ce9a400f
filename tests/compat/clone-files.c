/* compat: refuse shares its fd table \(clone CLONE_FILES\) with pid */
/*
 * clone-files.c - two processes sharing one fd table (clone(CLONE_FILES))
 * cannot be made again so: the dump is refused, naming both, and they still
 * share it afterwards (kcmp KCMP_FILES).
 */
#include <linux/kcmp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/prctl.h>

#include "compat.h"

static pid_t child;
static char stack[64 * 1024] __attribute__((aligned(16)));

static int child_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the program, whatever ends it */
	for (;;)
		pause();
	return 0;
}

static int setup(void)
{
	child = clone(child_main, stack + sizeof(stack), CLONE_FILES | SIGCHLD, NULL);
	if (child < 0) {
		perror("clone");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	long same = syscall(SYS_kcmp, getpid(), child, KCMP_FILES, 0, 0);

	if (same < 0)
		return FAILED("kcmp: %s", strerror(errno));
	if (same != 0)
		return FAILED("pid %d and its CLONE_FILES child %d no longer share their fd table",
			      getpid(), child);
	return 0;
}
