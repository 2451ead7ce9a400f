/* compat: restore */
/*
 * ioprio.c - I/O priorities are per thread: best-effort level 2 on the main
 * thread, idle on one thread, realtime level 3 on another, one left at the
 * default (ioprio_get(IOPRIO_WHO_PROCESS, tid)).
 */
#include "compat.h"
#include "threads.h"

#define WHO_PROCESS 1
#define PRIO(class, level) (((class) << 13) | (level))

static struct compat_thread threads[3];
static const int want[4] = { PRIO(2, 2), PRIO(3, 0), PRIO(1, 3), 0 };

static pid_t tid_of(int i)
{
	return i ? threads[i - 1].tid : (pid_t)syscall(SYS_gettid);
}

static int setup(void)
{
	int i;

	for (i = 0; i < 3; i++)
		if (compat_thread_start(&threads[i]))
			return -1;
	for (i = 0; i < 3; i++)
		if (syscall(SYS_ioprio_set, WHO_PROCESS, tid_of(i), want[i])) {
			printf("SKIP: ioprio_set 0x%x: %s\n", want[i], strerror(errno));
			exit(77);
		}
	return 0;
}

static int check(char *why, size_t whylen)
{
	long got;
	int i;

	for (i = 0; i < 4; i++) {
		got = syscall(SYS_ioprio_get, WHO_PROCESS, tid_of(i));
		if (got != want[i])
			return FAILED("thread %d (tid %d) has I/O priority 0x%lx, want 0x%x", i,
				      tid_of(i), got, want[i]);
	}
	return 0;
}
