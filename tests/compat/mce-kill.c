/* compat: restore */
/*
 * mce-kill.c - the machine-check kill policy is per thread: early on the
 * main thread, late on one thread, the system default on another
 * (PR_MCE_KILL_GET per thread).
 */
#include <sys/prctl.h>

#include "compat.h"
#include "threads.h"

static struct compat_thread late, dflt;

static long get_policy(void *arg)
{
	(void)arg;
	return prctl(PR_MCE_KILL_GET, 0, 0, 0, 0);
}

static long set_policy(void *arg)
{
	return prctl(PR_MCE_KILL, PR_MCE_KILL_SET, (unsigned long)arg, 0, 0) ? -errno : 0;
}

static int setup(void)
{
	if (compat_thread_start(&late) || compat_thread_start(&dflt))
		return -1;
	/* dflt was created before: it keeps the default */
	if (set_policy((void *)PR_MCE_KILL_EARLY) ||
	    compat_call(&late, set_policy, (void *)PR_MCE_KILL_LATE)) {
		perror("PR_MCE_KILL");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	long got;

	if ((got = get_policy(NULL)) != PR_MCE_KILL_EARLY)
		return FAILED("the main thread's policy is %ld, want early (%d)", got,
			      PR_MCE_KILL_EARLY);
	if ((got = compat_call(&late, get_policy, NULL)) != PR_MCE_KILL_LATE)
		return FAILED("a thread's policy is %ld, want late (%d)", got, PR_MCE_KILL_LATE);
	if ((got = compat_call(&dflt, get_policy, NULL)) != PR_MCE_KILL_DEFAULT)
		return FAILED("a thread's policy is %ld, want the default (%d)", got,
			      PR_MCE_KILL_DEFAULT);
	return 0;
}
