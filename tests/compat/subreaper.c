/* compat: restore */
/*
 * subreaper.c - a child subreaper (PR_SET_CHILD_SUBREAPER) still adopts its
 * orphans: after the restore, its child exits and the grandchild it leaves
 * must become the subreaper's child, not init's.
 */
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static pid_t child, grandchild;
static int checks;

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

static int setup(void)
{
	int fds[2];

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) || pipe(fds)) {
		perror("setup");
		return -1;
	}
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		pid_t g = fork();

		if (g == 0)
			for (;;)
				pause();
		if (write(fds[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (read(fds[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild)) {
		perror("reading the grandchild's pid");
		return -1;
	}
	close(fds[0]);
	return 0;
}

static int check(char *why, size_t whylen)
{
	int is_subreaper = 0, i;
	pid_t ppid;

	if (prctl(PR_GET_CHILD_SUBREAPER, &is_subreaper, 0, 0, 0) || !is_subreaper)
		return FAILED("PR_GET_CHILD_SUBREAPER is %d, want 1", is_subreaper);
	if ((ppid = parent_of(grandchild)) != child)
		return FAILED("the grandchild %d has parent %d, want %d", grandchild, ppid, child);
	if (checks++ == 0)
		return 0; /* before the dump: the tree must stay as it is */
	/* orphan the grandchild; bounded wait for the kernel to reparent it */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	for (i = 0; i < 2000; i++) {
		ppid = parent_of(grandchild);
		if (ppid != child)
			break;
		poll(NULL, 0, 10);
	}
	kill(grandchild, SIGKILL);
	if (ppid != getpid())
		return FAILED("the orphaned grandchild went to %d, not to the subreaper %d", ppid,
			      getpid());
	waitpid(grandchild, NULL, 0);
	return 0;
}
