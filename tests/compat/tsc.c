/* compat: restore */
/*
 * tsc.c - PR_SET_TSC is per thread: one thread has rdtsc fault
 * (PR_TSC_SIGSEGV), the main thread keeps it (PR_GET_TSC per thread).
 */
#include <sys/prctl.h>

#include "compat.h"
#include "threads.h"

static struct compat_thread faulting;

static long get_tsc(void *arg)
{
	int mode = -1;

	(void)arg;
	return prctl(PR_GET_TSC, &mode, 0, 0, 0) ? -errno : mode;
}

static long set_sigsegv(void *arg)
{
	(void)arg;
	return prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) ? -errno : 0;
}

static int setup(void)
{
	long ret;

	if (compat_thread_start(&faulting))
		return -1;
	ret = compat_call(&faulting, set_sigsegv, NULL);
	if (ret) {
		printf("SKIP: PR_SET_TSC: %s\n", strerror((int)-ret));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	long got;

	if ((got = get_tsc(NULL)) != PR_TSC_ENABLE)
		return FAILED("the main thread's TSC mode is %ld, want PR_TSC_ENABLE", got);
	if ((got = compat_call(&faulting, get_tsc, NULL)) != PR_TSC_SIGSEGV)
		return FAILED("the faulting thread's TSC mode is %ld, want PR_TSC_SIGSEGV", got);
	return 0;
}
