/*
 * fdinfo.h - parser of /proc/PID/fdinfo/N.
 *
 * The kernel prints one "key: value" line per field; which keys appear
 * depends on the kind of file (eventfd, epoll, signalfd, timerfd ...).  The
 * parser is pure: it takes the bytes, fills struct fdinfo and never logs, so
 * that the caller, who knows the pid and fd, reports the error once.  Every
 * number is bounded and a line it does not know is skipped (newer kernels add
 * lines), but a known line that does not parse is an error.
 */
#ifndef THAW_ENGINE_FDINFO_H
#define THAW_ENGINE_FDINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDINFO_MAX_BYTES (16u << 20) /* epoll with IMAGE_MAX_WATCHES fits */
#define FDINFO_MAX_TFDS 65536

/* One "tfd:" line of an epoll fd. */
struct fdinfo_tfd {
	int32_t tfd;
	uint32_t events;
	uint64_t data;
	uint64_t pos;
	uint64_t ino;
	uint32_t sdev; /* kernel dev_t encoding: major << 20 | minor */
};

struct fdinfo {
	uint64_t pos;
	uint32_t flags; /* f_flags, as printed (octal), O_CLOEXEC included */
	int32_t mnt_id;
	uint64_t ino;

	bool has_eventfd;
	uint64_t eventfd_count;
	bool eventfd_semaphore;

	bool has_sigmask;
	uint64_t sigmask; /* bit (sig - 1) */

	bool has_timerfd;
	int32_t clockid;
	uint64_t ticks;
	uint32_t settime_flags;
	uint64_t it_value_sec, it_value_nsec;
	uint64_t it_interval_sec, it_interval_nsec;

	uint32_t nr_tfds;
	struct fdinfo_tfd *tfds; /* malloc'd; fdinfo_release() frees */

	bool has_pid; /* a pidfd */
	int32_t pid; /* "Pid:" in the reader's namespace; -1 once the process is gone */
	int32_t nspid_inner; /* the last "NSpid:" value: its pid in its own namespace */
	uint32_t nspid_depth; /* how many values "NSpid:" lists */
};

/*
 * Parses len bytes of fdinfo text into *info (zeroed first).  Returns 0, or
 * -EINVAL with *err_off the offset of the offending line, or -ENOMEM/-E2BIG.
 */
int fdinfo_parse(const char *buf, size_t len, struct fdinfo *info, size_t *err_off)
	__attribute__((warn_unused_result));
void fdinfo_release(struct fdinfo *info);

/* Reads /proc/PID/fdinfo/FD whole, NUL-terminated; caller frees *ret_buf.  Returns -errno. */
int fdinfo_read(int pid, int fd, char **ret_buf, size_t *ret_len)
	__attribute__((warn_unused_result));

#endif
