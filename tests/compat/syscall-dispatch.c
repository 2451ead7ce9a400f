/* compat: refuse syscall user dispatch \(PR_SET_SYSCALL_USER_DISPATCH\) is not supported */
/*
 * syscall-dispatch.c - a thread with syscall user dispatch on is refused by
 * name: restoring it would need the selector and the allowed range set again
 * in that thread.  The selector allows every call, so the program runs on.
 */
#include <sys/prctl.h>

#include "compat.h"
#include "threads.h"

#define SET_SYSCALL_USER_DISPATCH 59
#define SYS_DISPATCH_ON 1

static struct compat_thread dispatching;
static volatile char selector; /* SYSCALL_DISPATCH_FILTER_ALLOW */

static long turn_on(void *arg)
{
	(void)arg;
	return prctl(SET_SYSCALL_USER_DISPATCH, SYS_DISPATCH_ON, 0, 0, &selector) ? -errno : 0;
}

static int setup(void)
{
	long ret;

	if (compat_thread_start(&dispatching))
		return -1;
	ret = compat_call(&dispatching, turn_on, NULL);
	if (ret) {
		printf("SKIP: PR_SET_SYSCALL_USER_DISPATCH: %s\n", strerror((int)-ret));
		exit(77);
	}
	return 0;
}

static long answer(void *arg)
{
	(void)arg;
	return 42;
}

static int check(char *why, size_t whylen)
{
	long got = compat_call(&dispatching, answer, NULL);

	if (got != 42)
		return FAILED("the dispatching thread answered %ld", got);
	return 0;
}
