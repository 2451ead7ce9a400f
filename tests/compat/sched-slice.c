/* compat: restore */
/*
 * sched-slice.c - a fair thread's own slice (sched_setattr with
 * sched_runtime under SCHED_OTHER, Linux 6.12+) stays; a thread that asked
 * for none keeps the kernel's default.
 */
#include <sched.h>

#include "compat.h"
#include "sched.h"
#include "threads.h"

#define SLICE 7000000ull

static struct compat_thread worker;
static uint64_t base;

static int setup(void)
{
	struct sched_attr_v0 a;
	int ret;

	if (compat_thread_start(&worker))
		return -1;
	ret = sched_get(0, &a);
	base = a.runtime;
	if (!ret)
		ret = sched_set(worker.tid, SCHED_OTHER, 0, 0, 0, SLICE, 0, 0);
	if (!ret)
		ret = sched_get(worker.tid, &a);
	if (ret || a.runtime != SLICE || !base || base == SLICE) {
		printf("SKIP: this kernel has no slice of its own per thread\n");
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sched_attr_v0 a, self;
	int ret = sched_get(worker.tid, &a);

	if (!ret)
		ret = sched_get(0, &self);
	if (ret)
		return FAILED("sched_getattr: %s", strerror(-ret));
	if (a.runtime != SLICE)
		return FAILED("tid %d: slice %llu ns, want %llu", worker.tid,
			      (unsigned long long)a.runtime, SLICE);
	if (self.runtime != base)
		return FAILED("the main thread's slice is %llu ns, want the default %llu",
			      (unsigned long long)self.runtime, (unsigned long long)base);
	return 0;
}
