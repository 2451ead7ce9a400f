/*
 * timers.c - what fires on its own: itimers, POSIX timers (timer_create),
 * and the arming of timerfds, at dump and as the very last step of a
 * restore.
 *
 * The values are visible only from inside (getitimer, timer_gettime,
 * timer_getoverrun): they are read with injected system calls (inject.c)
 * while the process is frozen.  A POSIX timer's id, clock, signal and
 * sigev_value and whom it notifies come from /proc/PID/timers.
 *
 * Restore creates the POSIX timers in the restorer blob, disarmed, with
 * their ids (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15; before that, ids are
 * handed out in sequence and the blob creates and deletes up to each) once
 * the threads a SIGEV_THREAD_ID timer signals exist.  Everything is armed
 * last, from thaw's init, once memory, threads, fds and signal actions are
 * back and every thread still has every signal blocked: a timer that fires
 * then only makes its signal pending, and the program sees it when its own
 * mask comes back with the registers.  Nothing can fire into the restorer.
 *
 * How time passes across a dump and a restore (docs/compatibility.md):
 * a timer resumes with the time it had left at the dump, as if the process
 * had been stopped for as long as the snapshot waited, except a timer of
 * the wall clock set for an absolute time (a POSIX timer on CLOCK_REALTIME,
 * _ALARM or TAI, which /proc cannot tell relative from absolute; a
 * TFD_TIMER_ABSTIME timerfd on CLOCK_REALTIME), which keeps its deadline:
 * if it passed meanwhile, the timer fires at once, counting the periods it
 * missed as overruns.
 */
#define LOG_TAG "timers"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"

#ifndef CLOCK_REALTIME_ALARM
#define CLOCK_REALTIME_ALARM 8
#endif
#ifndef CLOCK_TAI
#define CLOCK_TAI 11
#endif

static uint64_t ts_ns(const struct timespec *ts)
{
	if ((uint64_t)ts->tv_sec >= UINT64_MAX / 1000000000ull)
		return UINT64_MAX;
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static struct timespec ns_ts(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	return ts;
}

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
	ns = ts_ns(&now);
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

/* The CPU-clock pid of a clock id (CPUCLOCK_PID); 0 names the caller. */
static pid_t cpu_clock_pid(int clockid)
{
	return ~(clockid >> 3);
}

static bool is_thread_clock(int clockid)
{
	return clockid < 0 && (clockid & 4);
}

/* The snapshot's name of host thread tid of fz; 0 if it is none of its threads. */
static pid_t inner_tid(struct frozen *fz, pid_t tid)
{
	struct proc_status st;
	size_t i;

	for (i = 0; i < fz->nr_tids; i++)
		if (fz->tids[i] == tid)
			break;
	if (i == fz->nr_tids || proc_read_status(fz->pid, tid, &st) < 0)
		return 0;
	return st.nspid_n ? st.nspid[st.nspid_n - 1] : tid;
}

/* A CPU clock of the process or of one of its threads, as the process names them. */
static bool is_own_clock(struct frozen *fz, pid_t self, int clockid)
{
	pid_t pid = cpu_clock_pid(clockid);
	size_t i;

	if (clockid >= 0 || pid == 0 || pid == self)
		return true;
	for (i = 0; is_thread_clock(clockid) && i < fz->nr_tids; i++)
		if (inner_tid(fz, fz->tids[i]) == pid)
			return true;
	return false;
}

static int cmp_timer_id(const void *a, const void *b)
{
	const struct image_posix_timer *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* What /proc says of one timer, checked and in the snapshot's terms. */
static int describe_timer(struct frozen *fz, pid_t self, const struct proc_timer *pt,
			  struct image_posix_timer *t)
{
	static const uint32_t modes[3] = { IMAGE_TIMER_SIGNAL, IMAGE_TIMER_NONE,
					   IMAGE_TIMER_THREAD };

	t->id = pt->id;
	t->clockid = pt->clockid;
	t->signo = pt->signo;
	t->sigval = pt->sigval;
	t->notify = modes[pt->notify & ~PROC_TIMER_NOTIFY_TID];
	if (pt->notify & PROC_TIMER_NOTIFY_TID) {
		if (t->notify != IMAGE_TIMER_SIGNAL) {
			log_error("pid %d: POSIX timer %d: notify mode %d unknown", fz->pid, pt->id,
				  pt->notify);
			return -ENOTSUP;
		}
		t->notify = IMAGE_TIMER_THREAD_ID;
		t->tid = inner_tid(fz, pt->target);
		if (!t->tid) {
			log_error("pid %d: POSIX timer %d signals thread %d, not one of the process's",
				  fz->pid, pt->id, pt->target);
			return -ENOTSUP;
		}
	}
	if (!is_own_clock(fz, self, pt->clockid)) {
		log_error("pid %d: POSIX timer %d runs on the CPU clock of pid %d, outside the "
			  "process: not supported",
			  fz->pid, pt->id, cpu_clock_pid(pt->clockid));
		return -ENOTSUP;
	}
	if (is_thread_clock(pt->clockid) && cpu_clock_pid(pt->clockid) == 0 && fz->nr_tids > 1) {
		log_error("pid %d: POSIX timer %d runs on the CPU clock of the thread that "
			  "created it, which /proc does not name: not supported with %zu threads",
			  fz->pid, pt->id, fz->nr_tids);
		return -ENOTSUP;
	}
	return 0;
}

/* The time left, the interval and the overrun, from inside. */
static int read_timer(struct frozen *fz, struct image_posix_timer *t)
{
	uint64_t args[6] = { (uint64_t)t->id, INJECT_SCRATCH, 0, 0, 0, 0 };
	struct itimerspec its = { 0 };
	long res;
	int ret;

	ret = inject_syscall(fz, fz->pid, SYS_timer_gettime, args, &its, sizeof(its), &res);
	if (ret < 0)
		return ret;
	if (res < 0) {
		log_error("pid %d: timer_gettime of POSIX timer %d: %s", fz->pid, t->id,
			  strerror((int)-res));
		return (int)res;
	}
	t->value_ns = ts_ns(&its.it_value);
	t->interval_ns = ts_ns(&its.it_interval);
	if (t->value_ns && timer_clock_is_wall(t->clockid)) {
		ret = timer_deadline_ns(t->clockid, t->value_ns, &t->deadline_ns);
		if (ret < 0)
			return log_errno("pid %d: reading clock %d", fz->pid, t->clockid);
	}
	args[1] = 0;
	ret = inject_syscall(fz, fz->pid, SYS_timer_getoverrun, args, NULL, 0, &res);
	if (ret < 0)
		return ret;
	if (res < 0) {
		log_error("pid %d: timer_getoverrun of POSIX timer %d: %s", fz->pid, t->id,
			  strerror((int)-res));
		return (int)res;
	}
	t->overrun = (int32_t)res;
	return 0;
}

int posix_timers_dump(struct frozen *fz, struct image *img)
{
	struct proc_timer *pts = NULL;
	size_t n = 0, i;
	int ret;

	ret = proc_read_timers(fz->pid, &pts, &n);
	if (ret < 0 || !n)
		return ret;
	img->posix_timers = calloc(n, sizeof(*img->posix_timers));
	if (!img->posix_timers) {
		free(pts);
		return -ENOMEM;
	}
	img->nr_posix_timers = (uint32_t)n;
	for (i = 0; ret == 0 && i < n; i++)
		ret = describe_timer(fz, img->proc.pid, &pts[i], &img->posix_timers[i]);
	for (i = 0; ret == 0 && i < n; i++)
		ret = read_timer(fz, &img->posix_timers[i]);
	free(pts);
	if (ret == 0)
		qsort(img->posix_timers, n, sizeof(*img->posix_timers), cmp_timer_id);
	return ret;
}

static int arm_posix_timers(struct frozen *fz, const struct image *img)
{
	uint32_t i;
	int ret;

	for (i = 0; i < img->nr_posix_timers; i++) {
		const struct image_posix_timer *t = &img->posix_timers[i];
		uint64_t when = t->deadline_ns ? t->deadline_ns : t->value_ns;
		struct itimerspec its = { .it_value = ns_ts(when), .it_interval = ns_ts(t->interval_ns) };
		uint64_t args[6] = { (uint64_t)t->id, t->deadline_ns ? TIMER_ABSTIME : 0,
				     INJECT_SCRATCH, 0, 0, 0 };
		long res;

		if (!t->value_ns)
			continue; /* created disarmed */
		ret = inject_syscall(fz, fz->pid, SYS_timer_settime, args, &its, sizeof(its), &res);
		if (ret == 0 && res < 0) {
			log_error("pid %d: arming POSIX timer %d: %s", fz->pid, t->id,
				  strerror((int)-res));
			ret = (int)res;
		}
		if (ret < 0)
			return ret;
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

		if (!t->value_us && !t->interval_us)
			continue; /* disarmed, as a new process's are */
		/*
		 * A periodic ITIMER_REAL reads as no time left while its SIGALRM
		 * is pending: the kernel starts it again as that signal is taken.
		 * setitimer() drops the interval of a zero value: it fires at once
		 * instead, into the SIGALRM already pending, and waits the same way.
		 * (The CPU itimers keep an interval with a zero value as it is.)
		 */
		if (which == ITIMER_REAL && !t->value_us)
			it.it_value.tv_usec = 1;
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
	if (ret == 0)
		ret = arm_posix_timers(fz, img);
	for (i = 0; ret == 0 && i < img->nr_fds; i++)
		if (img->fds[i].kind == IMAGE_FD_TIMERFD)
			ret = timerfd_arm(fz, &img->fds[i]);
	return ret;
}
