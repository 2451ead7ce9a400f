/* compat: restore */
/*
 * sched-deadline.c - a SCHED_DEADLINE thread keeps its runtime, deadline
 * and period (sched_getattr(2)); the host must admit its bandwidth again.
 */
#include <sched.h>

#include "compat.h"
#include "sched.h"
#include "threads.h"

#define RUNTIME 2000000ull
#define DEADLINE 30000000ull
#define PERIOD 100000000ull

static struct compat_thread worker;

static int setup(void)
{
	int ret;

	if (compat_thread_start(&worker))
		return -1;
	ret = sched_set(worker.tid, SCHED_DEADLINE, 0, 0, 0, RUNTIME, DEADLINE, PERIOD);
	if (ret) {
		printf("SKIP: sched_setattr SCHED_DEADLINE: %s\n", strerror(-ret));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sched_attr_v0 a;
	int ret = sched_get(worker.tid, &a);

	if (ret)
		return FAILED("sched_getattr: %s", strerror(-ret));
	if (a.policy != SCHED_DEADLINE || a.runtime != RUNTIME || a.deadline != DEADLINE ||
	    a.period != PERIOD)
		return FAILED("tid %d: policy %u runtime %llu deadline %llu period %llu, want "
			      "deadline %llu/%llu/%llu",
			      worker.tid, a.policy, (unsigned long long)a.runtime,
			      (unsigned long long)a.deadline, (unsigned long long)a.period,
			      RUNTIME, DEADLINE, PERIOD);
	return 0;
}
