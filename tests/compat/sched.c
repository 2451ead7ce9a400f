/* compat: restore */
/*
 * sched.c - scheduling policies are per thread: SCHED_FIFO with
 * SCHED_RESET_ON_FORK and a nice value kept underneath, SCHED_RR,
 * SCHED_BATCH with a nice value, SCHED_IDLE, and the main thread left at
 * SCHED_OTHER (sched_getattr(2) and getpriority(2) per TID).
 */
#include <sched.h>

#include "compat.h"
#include "sched.h"
#include "threads.h"

static const struct want {
	const char *name;
	uint32_t policy;
	uint64_t flags;
	int nice; /* set under SCHED_OTHER first: an RT thread keeps it underneath */
	uint32_t prio;
} want[] = {
	{ "other", SCHED_OTHER, 0, 0, 0 },
	{ "fifo", SCHED_FIFO, FLAG_RESET_ON_FORK, 6, 10 },
	{ "rr", SCHED_RR, 0, -2, 5 },
	{ "batch", SCHED_BATCH, 0, 4, 0 },
	{ "idle", SCHED_IDLE, 0, 3, 0 },
};

#define NR (sizeof(want) / sizeof(want[0]))
static struct compat_thread threads[NR];

static pid_t tid_of(size_t i)
{
	return i ? threads[i].tid : (pid_t)syscall(SYS_gettid);
}

static int setup(void)
{
	size_t i;
	int ret;

	for (i = 1; i < NR; i++) {
		if (compat_thread_start(&threads[i]))
			return -1;
		ret = sched_set(tid_of(i), SCHED_OTHER, 0, want[i].nice, 0, 0, 0, 0);
		if (!ret)
			ret = sched_set(tid_of(i), want[i].policy, want[i].flags, want[i].nice,
					want[i].prio, 0, 0, 0);
		if (ret) {
			printf("SKIP: sched_setattr %s: %s\n", want[i].name, strerror(-ret));
			exit(77);
		}
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sched_attr_v0 a;
	size_t i;
	int nice, ret;

	for (i = 0; i < NR; i++) {
		ret = sched_get(tid_of(i), &a);
		if (ret)
			return FAILED("sched_getattr %s: %s", want[i].name, strerror(-ret));
		errno = 0;
		nice = getpriority(PRIO_PROCESS, (id_t)tid_of(i));
		if (errno)
			return FAILED("getpriority %s: %s", want[i].name, strerror(errno));
		if (a.policy != want[i].policy || a.flags != want[i].flags ||
		    a.priority != want[i].prio || nice != want[i].nice)
			return FAILED("thread %s (tid %d): policy %u flags 0x%llx priority %u nice "
				      "%d, want %u 0x%llx %u %d",
				      want[i].name, tid_of(i), a.policy, (unsigned long long)a.flags,
				      a.priority, nice, want[i].policy,
				      (unsigned long long)want[i].flags, want[i].prio, want[i].nice);
	}
	return 0;
}
