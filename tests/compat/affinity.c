/* compat: restore */
/*
 * affinity.c - CPU affinity is per thread: the main thread bound to the
 * last CPU, one thread to the first, one left where it was started
 * (sched_getaffinity(2) per TID).  Needs two CPUs here, and at restore.
 */
#include <sched.h>

#include "compat.h"
#include "threads.h"

static struct compat_thread bound, free_thread;
static cpu_set_t started, want_main, want_bound;

static int getaff(pid_t tid, cpu_set_t *set)
{
	CPU_ZERO(set);
	return sched_getaffinity(tid, sizeof(*set), set);
}

static int setup(void)
{
	int first = -1, last = -1, c;

	if (compat_thread_start(&bound) || compat_thread_start(&free_thread))
		return -1;
	if (getaff(0, &started)) {
		perror("sched_getaffinity");
		return -1;
	}
	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &started)) {
			if (first < 0)
				first = c;
			last = c;
		}
	if (first == last) {
		printf("SKIP: one CPU only\n");
		exit(77);
	}
	CPU_ZERO(&want_main);
	CPU_SET(last, &want_main);
	CPU_ZERO(&want_bound);
	CPU_SET(first, &want_bound);
	if (sched_setaffinity(0, sizeof(want_main), &want_main) ||
	    sched_setaffinity(bound.tid, sizeof(want_bound), &want_bound)) {
		perror("sched_setaffinity");
		return -1;
	}
	return 0;
}

static int lowest(const cpu_set_t *set)
{
	int c;

	for (c = 0; c < CPU_SETSIZE && !CPU_ISSET(c, set); c++)
		;
	return c;
}

static int check_one(const char *name, pid_t tid, const cpu_set_t *want, char *why, size_t whylen)
{
	cpu_set_t got;

	if (getaff(tid, &got))
		return FAILED("sched_getaffinity %s: %s", name, strerror(errno));
	if (!CPU_EQUAL(&got, want))
		return FAILED("%s (tid %d) may run on %d CPUs from %d, want %d from %d", name, tid,
			      CPU_COUNT(&got), lowest(&got), CPU_COUNT(want), lowest(want));
	return 0;
}

static int check(char *why, size_t whylen)
{
	return check_one("the main thread", (pid_t)syscall(SYS_gettid), &want_main, why, whylen) ||
	       check_one("the bound thread", bound.tid, &want_bound, why, whylen) ||
	       check_one("the free thread", free_thread.tid, &started, why, whylen);
}
