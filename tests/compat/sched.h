/*
 * sched.h - sched_setattr(2) and sched_getattr(2) for compat tests (glibc
 * 2.36 has no wrappers), and a check of one thread against what it was given.
 */
#ifndef THAW_TESTS_COMPAT_SCHED_H
#define THAW_TESTS_COMPAT_SCHED_H

#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sched_attr_v0 {
	uint32_t size;
	uint32_t policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#define FLAG_RESET_ON_FORK 0x01

static inline int sched_set(pid_t tid, uint32_t policy, uint64_t flags, int nice, uint32_t prio,
		     uint64_t runtime, uint64_t deadline, uint64_t period)
{
	struct sched_attr_v0 a = { sizeof(a), policy, flags, nice, prio, runtime, deadline, period };

	return syscall(SYS_sched_setattr, tid, &a, 0) ? -errno : 0;
}

static inline int sched_get(pid_t tid, struct sched_attr_v0 *a)
{
	memset(a, 0, sizeof(*a));
	return syscall(SYS_sched_getattr, tid, a, sizeof(*a), 0) ? -errno : 0;
}

#endif
