/* compat: refuse pid [0-9]+ \(host pid [0-9]+\): it is in the process group [0-9]+ of the root, led outside the snapshot, and its parent [0-9]+ is not */
/*
 * pgid-root-group.c - the program stays in the process group it was started
 * in (led by whoever started it); a child leads a group of its own, and the
 * child's child goes back to the program's group.  A restore puts the
 * program in thaw restore's group, which no process inside the restore's
 * PID namespace can name: the grandchild could not join it, and would come
 * back in its parent's group.  The dump refuses, naming it.
 */
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static pid_t started_in, middle;
static int ready[2];

static int setup(void)
{
	char c;

	started_in = getpgrp();
	if (started_in == getpid()) {
		printf("SKIP: started as a process group leader\n");
		exit(77);
	}
	if (pipe(ready))
		return -1;
	middle = fork();
	if (middle == 0) {
		pid_t last;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		last = fork();
		if (last == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(setpgid(0, started_in) || write(ready[1], "r", 1) != 1 ? 99 : 0);
		}
		for (;;)
			pause(); /* last stays a zombie: a process of the tree all the same */
	}
	if (middle < 0 || read(ready[0], &c, 1) != 1)
		return -1;
	return 0;
}

static int check(char *why, size_t whylen)
{
	if (getpgrp() != started_in || getpgid(middle) != middle)
		return FAILED("groups changed: the program's %d, its child's %d", getpgrp(),
			      getpgid(middle));
	return 0;
}
