/*
 * fd-timerfd.c - timerfd: clock, remaining time, interval, unread expirations.
 *
 * timerfd_gettime() on our copy of the fd does not consume anything (it only
 * moves a periodic timer that has fired forward, adding to its ticks), so it
 * is called first and the ticks are read from fdinfo after it.
 *
 * Restore creates the timer disarmed with the fds; timerfd_arm() arms it as
 * the very last step (timers.c says why, and how time passes across a
 * dump): for the time that was left, absolutely at now + remaining for an
 * absolute timer (keeping TFD_TIMER_CANCEL_ON_SET), or at its dumped
 * deadline for an absolute timer of the wall clock.  The expirations not
 * yet read come back after that with TFD_IOC_SET_TICKS, since arming a
 * timerfd clears them.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/engine-internal.h"
#include "engine/fd-kinds.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

#define NSEC_PER_SEC 1000000000ull

static uint64_t ts_to_ns(const struct timespec *ts)
{
	if ((uint64_t)ts->tv_sec >= UINT64_MAX / NSEC_PER_SEC)
		return UINT64_MAX;
	return (uint64_t)ts->tv_sec * NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

static struct timespec ns_to_ts(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NSEC_PER_SEC),
			       .tv_nsec = (long)(ns % NSEC_PER_SEC) };
	return ts;
}

int timerfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct itimerspec its;
	struct fdinfo info;
	char *buf = NULL;
	size_t len, off;
	int ret;

	if (timerfd_gettime(p->local, &its))
		return fd_dump_error(ctx, p, -errno, "timerfd_gettime: %s", strerror(errno));
	/* the ticks as they are after gettime's forwarding */
	ret = fdinfo_read(ctx->pid, p->fd, &buf, &len);
	if (ret)
		return fd_dump_error(ctx, p, ret, "reading fdinfo: %s", strerror(-ret));
	ret = fdinfo_parse(buf, len, &info, &off);
	free(buf);
	if (ret)
		return fd_dump_error(ctx, p, ret, "fdinfo unreadable at byte %zu", off);
	fdinfo_release(&info);
	if (!info.has_timerfd)
		return fd_dump_error(ctx, p, -EINVAL, "fdinfo has no clockid");
	out->kind = IMAGE_FD_TIMERFD;
	out->pos = 0;
	out->timerfd.clockid = info.clockid;
	out->timerfd.settime_flags = (int32_t)info.settime_flags;
	out->timerfd.ticks = info.ticks;
	out->timerfd.value_ns = ts_to_ns(&its.it_value);
	out->timerfd.interval_ns = ts_to_ns(&its.it_interval);
	if (out->timerfd.value_ns && (info.settime_flags & TFD_TIMER_ABSTIME) &&
	    timer_clock_is_wall(info.clockid)) {
		ret = timer_deadline_ns(info.clockid, out->timerfd.value_ns,
					&out->timerfd.deadline_ns);
		if (ret)
			return fd_dump_error(ctx, p, ret, "reading clock %d: %s", info.clockid,
					     strerror(-ret));
	}
	return 0;
}

int timerfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	int fd, ret;

	(void)ctx;
	fd = timerfd_create(f->timerfd.clockid, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return fd_restore_error(f, -errno, "timerfd_create clock %d: %s",
					f->timerfd.clockid, strerror(errno));
	ret = fd_set_flags_pos(fd, f, false);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}

int timerfd_arm_spec(const struct image_fd *f, int *ret_flags, struct itimerspec *ret_its)
{
	uint64_t value = f->timerfd.value_ns;
	struct timespec now;

	*ret_flags = f->timerfd.settime_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
	memset(ret_its, 0, sizeof(*ret_its));
	if (!value)
		return 0;
	if (f->timerfd.deadline_ns) {
		value = f->timerfd.deadline_ns;
	} else if (*ret_flags & TFD_TIMER_ABSTIME) {
		if (clock_gettime(f->timerfd.clockid, &now))
			return -errno;
		value = ts_to_ns(&now) > UINT64_MAX - value ? UINT64_MAX : ts_to_ns(&now) + value;
	}
	ret_its->it_value = ns_to_ts(value);
	ret_its->it_interval = ns_to_ts(f->timerfd.interval_ns);
	return 1;
}

int timerfd_arm(struct frozen *fz, const struct image_fd *f)
{
	uint64_t args[6] = { (uint64_t)f->fd, 0, INJECT_SCRATCH, 0, 0, 0 };
	uint64_t ticks = f->timerfd.ticks;
	struct itimerspec its;
	int flags, ret;
	long res = 0;

	ret = timerfd_arm_spec(f, &flags, &its);
	if (ret < 0)
		return log_errno("pid %d fd %d: reading clock %d", fz->pid, f->fd,
				 f->timerfd.clockid);
	if (ret) {
		args[1] = (uint64_t)flags;
		ret = inject_syscall(fz, fz->pid, SYS_timerfd_settime, args, &its, sizeof(its),
				     &res);
		if (ret)
			return ret;
		if (res < 0) {
			log_error("pid %d fd %d (timerfd): timerfd_settime: %s", fz->pid, f->fd,
				  strerror((int)-res));
			return (int)res;
		}
	}
	if (!ticks)
		return 0;
	args[1] = TFD_IOC_SET_TICKS;
	ret = inject_syscall(fz, fz->pid, SYS_ioctl, args, &ticks, sizeof(ticks), &res);
	if (ret)
		return ret;
	if (res < 0) {
		log_error("pid %d fd %d (timerfd): TFD_IOC_SET_TICKS %llu: %s", fz->pid, f->fd,
			  (unsigned long long)f->timerfd.ticks, strerror((int)-res));
		return (int)res;
	}
	return 0;
}
