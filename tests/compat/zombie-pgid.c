/* compat: restore */
/*
 * zombie-pgid.c - a zombie that had joined a process group led by a live
 * sibling comes back in that group, still a zombie, with its exit status.
 */
#include <sys/wait.h>
#include <unistd.h>

#include <sys/prctl.h>

#include "compat.h"

static pid_t leader, zombie;

static int stat_field(pid_t pid, int field, long *out, char *state)
{
	char path[64], buf[512], *p;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	*state = p[2];
	/* field 3 is the state; count spaces from there */
	for (p += 2, i = 3; i < field && p; i++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -1;
	*out = strtol(p + 1, NULL, 10);
	return 0;
}

static int setup(void)
{
	int go[2];
	char c;

	if (pipe(go))
		return -1;
	leader = fork();
	if (leader == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the program, whatever ends it */
		setpgid(0, 0);
		for (;;)
			pause();
	}
	if (leader < 0 || setpgid(leader, leader))
		return -1;
	zombie = fork();
	if (zombie == 0) {
		if (setpgid(0, leader))
			_exit(99);
		_exit(42);
	}
	if (zombie < 0)
		return -1;
	/* wait until it is a zombie, without reaping it */
	for (;;) {
		siginfo_t si = { 0 };

		if (waitid(P_PID, zombie, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == zombie)
			break;
	}
	(void)c;
	close(go[0]);
	close(go[1]);
	return 0;
}

static int check(char *why, size_t whylen)
{
	siginfo_t si = { 0 };
	long pgrp;
	char state;

	if (stat_field(zombie, 5, &pgrp, &state))
		return FAILED("zombie %d: no /proc/%d/stat", zombie, zombie);
	if (state != 'Z')
		return FAILED("zombie %d is in state %c", zombie, state);
	if (pgrp != leader)
		return FAILED("zombie %d is in process group %ld, want %d (its live sibling's)",
			      zombie, pgrp, leader);
	if (waitid(P_PID, zombie, &si, WEXITED | WNOWAIT) || si.si_code != CLD_EXITED ||
	    si.si_status != 42)
		return FAILED("zombie %d: exit status %d (code %d), want 42", zombie, si.si_status,
			      si.si_code);
	if (stat_field(leader, 5, &pgrp, &state) || pgrp != leader)
		return FAILED("the leader %d is in group %ld", leader, pgrp);
	return 0;
}
