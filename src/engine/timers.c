/*
 * timers.c - what fires on its own: itimers, and the arming of timerfds, at
 * dump and as the very last step of a restore.
 *
 * The values are visible only from inside (getitimer): they are read with
 * injected system calls (inject.c) while the process is frozen.
 *
 * Restore arms them last, from thaw's init, once memory, threads, fds and
 * signal actions are back and every thread still has every signal blocked:
 * a timer that fires then only makes its signal pending, and the program
 * sees it when its own mask comes back with the registers.  Nothing can fire
 * into the restorer.
 *
 * How time passes across a dump and a restore (docs/compatibility.md):
 * a timer resumes with the time it had left at the dump, as if the process
 * had been stopped for as long as the snapshot waited, except a timer set
 * for an absolute time of the wall clock (a TFD_TIMER_ABSTIME timerfd on
 * CLOCK_REALTIME), which keeps its deadline: if it passed meanwhile, the
 * timer fires at once.
 */
#define LOG_TAG "timers"
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "base/log.h"
#include "engine-internal.h"

#ifndef CLOCK_REALTIME_ALARM
#define CLOCK_REALTIME_ALARM 8
#endif
#ifndef CLOCK_TAI
#define CLOCK_TAI 11
#endif

bool timer_clock_is_wall(int clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_REALTIME_ALARM ||
	       clockid == CLOCK_TAI;
}

int timer_deadline_ns(int clockid, uint64_t left_ns, uint64_t *ret_ns)
{
	struct timespec now;
	uint64_t ns;

	/* an alarm clock reads as the clock it wakes for */
	if (clock_gettime(clockid == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME : clockid, &now))
		return -errno;
	ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	*ret_ns = ns > UINT64_MAX - left_ns ? UINT64_MAX : ns + left_ns;
	return 0;
}

int itimers_dump(struct frozen *fz, struct image *img)
{
	uint64_t args[6] = { 0 };
	long res;
	int which, ret;

	for (which = 0; which < 3; which++) {
		struct itimerval it = { 0 };

		args[0] = (uint64_t)which;
		args[1] = INJECT_SCRATCH;
		ret = inject_syscall(fz, fz->pid, SYS_getitimer, args, &it, sizeof(it), &res);
		if (ret < 0)
			return ret;
		if (res < 0) {
			log_error("pid %d: getitimer %d: %s", fz->pid, which, strerror((int)-res));
			return (int)res;
		}
		img->proc.itimers[which].interval_us =
			(uint64_t)it.it_interval.tv_sec * 1000000 + (uint64_t)it.it_interval.tv_usec;
		img->proc.itimers[which].value_us =
			(uint64_t)it.it_value.tv_sec * 1000000 + (uint64_t)it.it_value.tv_usec;
	}
	return 0;
}

static int arm_itimers(struct frozen *fz, const struct image *img)
{
	static const char *const names[3] = { "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF" };
	int which, ret;

	for (which = 0; which < 3; which++) {
		const struct image_itimer *t = &img->proc.itimers[which];
		struct itimerval it = {
			.it_interval = { (time_t)(t->interval_us / 1000000),
					 (suseconds_t)(t->interval_us % 1000000) },
			.it_value = { (time_t)(t->value_us / 1000000),
				      (suseconds_t)(t->value_us % 1000000) },
		};
		uint64_t args[6] = { (uint64_t)which, INJECT_SCRATCH, 0, 0, 0, 0 };
		long res;

		if (!t->value_us)
			continue; /* disarmed, as a new process's are */
		ret = inject_syscall(fz, fz->pid, SYS_setitimer, args, &it, sizeof(it), &res);
		if (ret == 0 && res < 0) {
			log_error("pid %d: arming %s: %s", fz->pid, names[which],
				  strerror((int)-res));
			ret = (int)res;
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

int timers_arm(struct frozen *fz, const struct image *img)
{
	uint32_t i;
	int ret;

	ret = arm_itimers(fz, img);
	for (i = 0; ret == 0 && i < img->nr_fds; i++)
		if (img->fds[i].kind == IMAGE_FD_TIMERFD)
			ret = timerfd_arm(fz, &img->fds[i]);
	return ret;
}
