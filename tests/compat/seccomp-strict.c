/* compat: refuse seccomp strict mode */
/*
 * seccomp-strict.c - a thread in seccomp strict mode may make no system call
 * but read, write, exit and sigreturn: the first call a dump injected into it
 * would kill the process.  The dump must refuse before injecting anything,
 * and the program, thread included, runs on.
 */
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

static pid_t strict_tid;
static int ready[2], block[2];

static void *strict(void *arg)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	char c;

	(void)arg;
	if (write(ready[1], &tid, sizeof(tid)) != sizeof(tid) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
		return NULL;
	/* read is allowed: wait here for good */
	while (read(block[0], &c, 1) >= 0)
		;
	syscall(SYS_exit, 0);
	return NULL;
}

static int setup(void)
{
	pthread_t t;
	int i;

	if (pipe(ready) || pipe(block) || pthread_create(&t, NULL, strict, NULL) ||
	    read(ready[0], &strict_tid, sizeof(strict_tid)) != sizeof(strict_tid)) {
		perror("starting the strict thread");
		return -1;
	}
	for (i = 0; i < 1000 && status_number(strict_tid, "Seccomp") != 1; i++)
		usleep(1000);
	return 0;
}

static int check(char *why, size_t whylen)
{
	long mode = status_number(strict_tid, "Seccomp");

	if (mode != 1)
		return FAILED("the strict thread %d shows Seccomp %ld, want 1", strict_tid, mode);
	return 0;
}
