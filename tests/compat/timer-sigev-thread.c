/* compat: restore */
/*
 * timer-sigev-thread.c - SIGEV_THREAD timers (glibc: a helper thread waits
 * for signal 32 from a SIGEV_THREAD_ID timer and runs the function) armed
 * at the dump: one every 100 ms, and one that fires once, soon after the
 * dump.  Their signal must not reach the restorer; after the restore both
 * run their function with their value.
 */
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"

static timer_t periodic, once;
static volatile int periodic_runs, once_runs, bad_value;

static void on_periodic(union sigval v)
{
	if (v.sival_ptr != &periodic)
		bad_value = 1;
	__atomic_add_fetch(&periodic_runs, 1, __ATOMIC_SEQ_CST);
}

static void on_once(union sigval v)
{
	if (v.sival_ptr != &once)
		bad_value = 1;
	__atomic_add_fetch(&once_runs, 1, __ATOMIC_SEQ_CST);
}

static int make(timer_t *t, void (*fn)(union sigval), long first_ms, long every_ms)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = fn };
	struct itimerspec its = { { every_ms / 1000, (every_ms % 1000) * 1000000 },
				  { first_ms / 1000, (first_ms % 1000) * 1000000 } };

	sev.sigev_value.sival_ptr = t;
	if (timer_create(CLOCK_MONOTONIC, &sev, t) || timer_settime(*t, 0, &its, NULL)) {
		perror("timer");
		return -1;
	}
	return 0;
}

static int setup(void)
{
	/* once: after READY, the runner's pause and the dump, before anyone asks */
	return make(&periodic, on_periodic, 100, 100) || make(&once, on_once, 1500, 0);
}

static int wait_more(volatile int *counter, int than)
{
	int i;

	for (i = 0; i < 5000 && __atomic_load_n(counter, __ATOMIC_SEQ_CST) <= than; i++)
		usleep(1000);
	return __atomic_load_n(counter, __ATOMIC_SEQ_CST) > than;
}

static int check(char *why, size_t whylen)
{
	static int calls;
	struct itimerspec its;

	if (!wait_more(&periodic_runs, __atomic_load_n(&periodic_runs, __ATOMIC_SEQ_CST)))
		return FAILED("the periodic SIGEV_THREAD timer did not run within 5 s");
	if (timer_gettime(periodic, &its) || its.it_interval.tv_nsec != 100000000)
		return FAILED("timer_gettime of the periodic timer: %s", strerror(errno));
	if (++calls == 1)
		return 0; /* before the dump: the one-shot timer is still ahead */
	if (!wait_more(&once_runs, 0))
		return FAILED("the one-shot SIGEV_THREAD timer did not run");
	if (once_runs != 1)
		return FAILED("the one-shot SIGEV_THREAD timer ran %d times", once_runs);
	if (bad_value)
		return FAILED("a SIGEV_THREAD function got the wrong sigev_value");
	return 0;
}
