/* compat: refuse its owner \(F_SETOWN\) is process [0-9]+, which is not part of the snapshot */
/*
 * fown-outside.c - an fd whose owner is a process outside the snapshot (here
 * the parent that started the program) is refused at dump: after a restore
 * nothing would get its signals.  The program keeps its owner.
 */
#include <fcntl.h>
#include <unistd.h>

#include "compat.h"

static int pipefd[2];
static pid_t parent;

static int setup(void)
{
	parent = getppid();
	if (pipe(pipefd) || fcntl(pipefd[0], F_SETOWN, parent)) {
		perror("F_SETOWN");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	if (fcntl(pipefd[0], F_GETOWN) != parent)
		return FAILED("fd %d: owner %d, want %d", pipefd[0], fcntl(pipefd[0], F_GETOWN),
			      parent);
	return 0;
}
