/* compat: restore */
/*
 * timerslack.c - timer slack is per thread: the main thread at 123456 ns,
 * one thread at 1 ms, one left at what it inherited (PR_GET_TIMERSLACK, each
 * thread asking for itself).
 */
#include <sys/prctl.h>

#include "compat.h"
#include "threads.h"

static struct compat_thread slack, inherited;
static long inherited_slack;

static long get_slack(void *arg)
{
	(void)arg;
	return prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
}

static long set_slack(void *arg)
{
	return prctl(PR_SET_TIMERSLACK, (unsigned long)arg, 0, 0, 0) ? -errno : 0;
}

static int setup(void)
{
	if (compat_thread_start(&slack) || compat_thread_start(&inherited))
		return -1;
	inherited_slack = compat_call(&inherited, get_slack, NULL);
	if (set_slack((void *)123456ul) || compat_call(&slack, set_slack, (void *)1000000ul)) {
		perror("PR_SET_TIMERSLACK");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	long got;

	if ((got = get_slack(NULL)) != 123456)
		return FAILED("the main thread's timer slack is %ld ns, want 123456", got);
	if ((got = compat_call(&slack, get_slack, NULL)) != 1000000)
		return FAILED("a thread's timer slack is %ld ns, want 1000000", got);
	if ((got = compat_call(&inherited, get_slack, NULL)) != inherited_slack)
		return FAILED("an untouched thread's timer slack is %ld ns, want %ld", got,
			      inherited_slack);
	return 0;
}
