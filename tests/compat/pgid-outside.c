/* compat: restore */
/*
 * pgid-outside.c - children in process groups led by processes outside the
 * snapshot: one in the group the program was started in (led by whoever
 * started it) while the program leads a group of its own, as a shell's job
 * may; one in a group whose leader has exited (a group lives on without its
 * leader).  Before, both came back in their parent's group (only --verify
 * saw it); the restore now makes each group again with its id and puts them
 * back in it, while the program keeps leading its own.
 */
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static pid_t started_in, gone_leader, in_started, in_gone;

/* A child that stays until the program is gone, in process group pgid. */
static pid_t child_in(pid_t pgid)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the program, whatever ends it */
		if (setpgid(0, pgid))
			_exit(99);
		for (;;)
			pause();
	}
	if (pid > 0)
		setpgid(pid, pgid ? pgid : pid); /* from both sides: whoever is first */
	return pid;
}

static int setup(void)
{
	started_in = getpgrp();
	if (started_in == getpid()) {
		printf("SKIP: started as a process group leader\n");
		exit(77);
	}
	if (setpgid(0, 0))
		return -1;
	in_started = child_in(started_in);
	gone_leader = child_in(0); /* setpgid(0, 0): leads a group of its own */
	if (in_started < 0 || gone_leader < 0)
		return -1;
	in_gone = child_in(gone_leader);
	if (in_gone < 0)
		return -1;
	/* the leader goes; its group lives on with in_gone */
	if (kill(gone_leader, SIGKILL) || waitpid(gone_leader, NULL, 0) != gone_leader)
		return -1;
	return 0;
}

static int check(char *why, size_t whylen)
{
	if (getpgrp() != getpid())
		return FAILED("the program is in group %d, not its own %d", getpgrp(), getpid());
	if (getpgid(in_started) != started_in)
		return FAILED("child %d is in group %d, not %d (the one the program was started "
			      "in)", in_started, getpgid(in_started), started_in);
	if (getpgid(in_gone) != gone_leader)
		return FAILED("child %d is in group %d, not %d (its leader exited)", in_gone,
			      getpgid(in_gone), gone_leader);
	if (kill(-gone_leader, 0) || kill(gone_leader, 0) == 0)
		return FAILED("group %d has no member, or its leader %d is alive", gone_leader,
			      gone_leader);
	return 0;
}
