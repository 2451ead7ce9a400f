/*
 * fd-timerfd.c - timerfd: clock, remaining time, interval, unread expirations.
 *
 * timerfd_gettime() on our copy of the fd does not consume anything (it only
 * moves a periodic timer that has fired forward, adding to its ticks), so it
 * is called first and the ticks are read from fdinfo after it.  Restore arms
 * the timer for the time that was left: an absolute timer is re-armed
 * absolutely at now + remaining, keeping TFD_TIMER_CANCEL_ON_SET; the
 * expirations not yet read come back with TFD_IOC_SET_TICKS.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
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
	return 0;
}

int timerfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	struct itimerspec its = { 0 };
	int flags = f->timerfd.settime_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
	struct timespec now;
	uint64_t value = f->timerfd.value_ns;
	int fd, ret;

	(void)ctx;
	fd = timerfd_create(f->timerfd.clockid, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return fd_restore_error(f, -errno, "timerfd_create clock %d: %s",
					f->timerfd.clockid, strerror(errno));
	if (value) {
		if (flags & TFD_TIMER_ABSTIME) {
			if (clock_gettime(f->timerfd.clockid, &now)) {
				ret = fd_restore_error(f, -errno, "clock_gettime: %s",
						       strerror(errno));
				goto fail;
			}
			value = ts_to_ns(&now) > UINT64_MAX - value ? UINT64_MAX :
								      ts_to_ns(&now) + value;
		}
		its.it_value = ns_to_ts(value);
		its.it_interval = ns_to_ts(f->timerfd.interval_ns);
		if (timerfd_settime(fd, flags, &its, NULL)) {
			ret = fd_restore_error(f, -errno, "timerfd_settime: %s", strerror(errno));
			goto fail;
		}
	}
	if (f->timerfd.ticks && ioctl(fd, TFD_IOC_SET_TICKS, &f->timerfd.ticks)) {
		ret = fd_restore_error(f, -errno, "TFD_IOC_SET_TICKS %llu: %s",
				       (unsigned long long)f->timerfd.ticks, strerror(errno));
		goto fail;
	}
	ret = fd_set_flags_pos(fd, f, false);
	if (ret)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return ret;
}
