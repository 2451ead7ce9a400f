/* compat: restore */
/*
 * posix-timers.c - POSIX timers (timer_create) come back with their ids,
 * clocks, signals, sigev_values and targets (/proc/self/timers reads the
 * same), with the time they had left, and fire after the restore:
 *   periodic   CLOCK_MONOTONIC, SIGEV_SIGNAL with a sival, every 50 ms
 *   thread     CLOCK_MONOTONIC, SIGEV_THREAD_ID to a second thread, every 50 ms
 *   none       CLOCK_BOOTTIME, SIGEV_NONE, 1000 s left then every 7 s
 *   off        CLOCK_REALTIME, SIGEV_SIGNAL, never armed
 *   wall       CLOCK_REALTIME, armed for an absolute time an hour ahead: it
 *              keeps that deadline
 * A timer deleted before the dump leaves a hole in the ids.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"

#define SIG_PERIODIC (SIGRTMIN + 1)
#define SIG_THREAD (SIGRTMIN + 2)
#define SIVAL_PERIODIC 0x5eed
#define SIVAL_THREAD 0x7ead

static timer_t periodic, thread_timer, none, off, wall;
static struct timespec wall_deadline;
static pid_t second_tid;
static volatile int thread_hits, thread_value, thread_tid_seen;
static char timers_before[8192];

static void *second_thread(void *arg)
{
	sigset_t set;
	siginfo_t si;

	(void)arg;
	second_tid = (pid_t)syscall(SYS_gettid);
	sigemptyset(&set);
	sigaddset(&set, SIG_THREAD);
	for (;;) {
		if (sigwaitinfo(&set, &si) != SIG_THREAD)
			continue;
		thread_value = si.si_value.sival_int;
		thread_tid_seen = (int)syscall(SYS_gettid);
		__atomic_add_fetch(&thread_hits, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static int make_timer(clockid_t clock, int notify, int sig, int value, timer_t *t)
{
	struct sigevent sev = { .sigev_notify = notify, .sigev_signo = sig };

	sev.sigev_value.sival_int = value;
	if (notify == SIGEV_THREAD_ID)
		sev._sigev_un._tid = second_tid;
	if (timer_create(clock, &sev, t)) {
		perror("timer_create");
		return -1;
	}
	return 0;
}

static int arm(timer_t t, int flags, time_t sec, long nsec, time_t isec, long insec)
{
	struct itimerspec its = { { isec, insec }, { sec, nsec } };

	if (timer_settime(t, flags, &its, NULL)) {
		perror("timer_settime");
		return -1;
	}
	return 0;
}

/* /proc/self/timers with its records sorted: the kernel lists them in no set order. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_timers(char *out, size_t outlen)
{
	char text[8192], *recs[64], *p;
	size_t n = 0, len = 0, i;
	FILE *f = fopen("/proc/self/timers", "r");

	if (!f)
		return -1;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = 0;
	for (p = strstr(text, "ID: "); p && n < 64; p = strstr(p + 1, "\nID: "))
		recs[n++] = p[0] == '\n' ? p + 1 : p;
	for (i = 0; i < n; i++)
		if (i + 1 < n)
			recs[i + 1][-1] = 0;
	qsort(recs, n, sizeof(recs[0]), cmp_str);
	out[0] = 0;
	for (i = 0; i < n; i++) {
		strncat(out, recs[i], outlen - strlen(out) - 2);
		strcat(out, "\n");
	}
	return 0;
}

static int setup(void)
{
	pthread_t th;
	sigset_t set;
	timer_t gone;

	sigemptyset(&set);
	sigaddset(&set, SIG_PERIODIC);
	sigaddset(&set, SIG_THREAD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) || pthread_create(&th, NULL, second_thread, NULL)) {
		perror("setup");
		return -1;
	}
	while (!__atomic_load_n(&second_tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	if (make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGALRM, 0, &gone) ||
	    make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIG_PERIODIC, SIVAL_PERIODIC, &periodic) ||
	    make_timer(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIG_THREAD, SIVAL_THREAD, &thread_timer) ||
	    make_timer(CLOCK_BOOTTIME, SIGEV_NONE, 0, 0, &none) ||
	    make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 3, 3, &off) ||
	    make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 4, 4, &wall) ||
	    timer_delete(gone))
		return -1;
	clock_gettime(CLOCK_REALTIME, &wall_deadline);
	wall_deadline.tv_sec += 3600;
	if (arm(periodic, 0, 0, 50000000, 0, 50000000) ||
	    arm(thread_timer, 0, 0, 50000000, 0, 50000000) || arm(none, 0, 1000, 0, 7, 0) ||
	    arm(wall, TIMER_ABSTIME, wall_deadline.tv_sec, wall_deadline.tv_nsec, 0, 0))
		return -1;
	return read_timers(timers_before, sizeof(timers_before));
}

static int check(char *why, size_t whylen)
{
	struct timespec five = { 5, 0 }, now;
	struct itimerspec its;
	char timers_now[8192];
	siginfo_t si;
	sigset_t set;
	int hits, i;
	int64_t drift;

	if (read_timers(timers_now, sizeof(timers_now)))
		return FAILED("cannot read /proc/self/timers");
	if (strcmp(timers_now, timers_before))
		return FAILED("/proc/self/timers was\n%sand is\n%s", timers_before, timers_now);
	/* the periodic one fires, with its value */
	sigemptyset(&set);
	sigaddset(&set, SIG_PERIODIC);
	if (sigtimedwait(&set, &si, &five) != SIG_PERIODIC)
		return FAILED("the periodic timer did not fire within 5 s");
	if (si.si_code != SI_TIMER || si.si_value.sival_int != SIVAL_PERIODIC)
		return FAILED("the periodic timer's signal came with code %d value %#x", si.si_code,
			      si.si_value.sival_int);
	/* the thread's one reaches that thread */
	hits = __atomic_load_n(&thread_hits, __ATOMIC_SEQ_CST);
	for (i = 0; i < 5000 && __atomic_load_n(&thread_hits, __ATOMIC_SEQ_CST) == hits; i++)
		usleep(1000);
	if (__atomic_load_n(&thread_hits, __ATOMIC_SEQ_CST) == hits)
		return FAILED("the SIGEV_THREAD_ID timer did not fire within 5 s");
	if (thread_value != SIVAL_THREAD || thread_tid_seen != second_tid)
		return FAILED("the SIGEV_THREAD_ID timer reached tid %d with %#x, want %d with %#x",
			      thread_tid_seen, thread_value, second_tid, SIVAL_THREAD);
	if (timer_gettime(none, &its))
		return FAILED("timer_gettime of the SIGEV_NONE timer: %s", strerror(errno));
	if (its.it_interval.tv_sec != 7 || its.it_interval.tv_nsec ||
	    (!its.it_value.tv_sec && !its.it_value.tv_nsec) || its.it_value.tv_sec > 1000)
		return FAILED("the SIGEV_NONE timer is %ld.%09ld every %ld.%09ld",
			      (long)its.it_value.tv_sec, its.it_value.tv_nsec,
			      (long)its.it_interval.tv_sec, its.it_interval.tv_nsec);
	if (timer_gettime(off, &its))
		return FAILED("timer_gettime of the disarmed timer: %s", strerror(errno));
	if (its.it_value.tv_sec || its.it_value.tv_nsec || its.it_interval.tv_sec)
		return FAILED("the disarmed timer is armed");
	if (timer_gettime(wall, &its) || clock_gettime(CLOCK_REALTIME, &now))
		return FAILED("timer_gettime of the wall-clock timer: %s", strerror(errno));
	drift = ((int64_t)now.tv_sec + its.it_value.tv_sec - wall_deadline.tv_sec) * 1000000000 +
		now.tv_nsec + its.it_value.tv_nsec - wall_deadline.tv_nsec;
	if (drift > 1000000000 || drift < -1000000000)
		return FAILED("the wall-clock timer's deadline moved by %lld ns", (long long)drift);
	return 0;
}
