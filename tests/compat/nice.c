/* compat: restore */
/*
 * nice.c - nice values are per thread: the main thread at 7, one thread at
 * -3 (lower than thaw runs with: needs CAP_SYS_NICE at restore too), one at
 * 19, one left at 0 (getpriority(PRIO_PROCESS, tid)).
 */
#include <sys/resource.h>

#include "compat.h"
#include "threads.h"

#define NR_THREADS 3
static const int want[NR_THREADS + 1] = { 7, -3, 19, 0 };
static struct compat_thread threads[NR_THREADS];

static long set_nice(void *arg)
{
	return setpriority(PRIO_PROCESS, 0, (int)(long)arg) ? -errno : 0;
}

static pid_t tid_of(int i)
{
	return i ? threads[i - 1].tid : (pid_t)syscall(SYS_gettid);
}

static int setup(void)
{
	long ret;
	int i;

	for (i = 0; i < NR_THREADS; i++)
		if (compat_thread_start(&threads[i]))
			return -1;
	for (i = 0; i <= NR_THREADS; i++) {
		ret = i ? compat_call(&threads[i - 1], set_nice, (void *)(long)want[i])
			: set_nice((void *)(long)want[0]);
		if (ret) {
			printf("SKIP: setpriority %d: %s\n", want[i], strerror((int)-ret));
			exit(77);
		}
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int i, got;

	for (i = 0; i <= NR_THREADS; i++) {
		errno = 0;
		got = getpriority(PRIO_PROCESS, (id_t)tid_of(i));
		if (errno)
			return FAILED("getpriority tid %d: %s", tid_of(i), strerror(errno));
		if (got != want[i])
			return FAILED("thread %d (tid %d) has nice %d, want %d", i, tid_of(i), got,
				      want[i]);
	}
	return 0;
}
