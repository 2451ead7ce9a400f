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
#define FDINFO_MAX_LOCKS 65536

/* One "tfd:" line of an epoll fd. */
struct fdinfo_tfd {
	int32_t tfd;
	uint32_t events;
	uint64_t data;
	uint64_t pos;
	uint64_t ino;
	uint32_t sdev; /* kernel dev_t encoding: major << 20 | minor */
};

/*
 * One file lock as the kernel prints it (fs/locks.c, lock_get_status()): a
 * "lock:" line of fdinfo, which lists the locks taken through this open file
 * description (POSIX ones only where the process owns them), or a line of
 * /proc/locks, which lists every lock of the system, waiters included:
 *   1: POSIX  ADVISORY  WRITE 28893 fe:00:10953704 10 29
 *   2: OFDLCK ADVISORY  READ -1 fe:00:10953706 0 EOF
 *   3: FLOCK  ADVISORY  WRITE 28893 fe:00:10953705 0 EOF
 *   4: LEASE  ACTIVE    READ 28893 fe:00:10953707 0 EOF
 *   4: -> POSIX  ADVISORY  WRITE 22212 fe:00:10953704 10 29   (blocked waiter)
 */
enum fdinfo_lock_kind {
	FDINFO_LOCK_POSIX, /* fcntl F_SETLK: owned by the process */
	FDINFO_LOCK_OFD, /* fcntl F_OFD_SETLK: owned by the open file description */
	FDINFO_LOCK_FLOCK, /* flock(2): owned by the open file description */
	FDINFO_LOCK_LEASE, /* fcntl F_SETLEASE */
	FDINFO_LOCK_DELEG, /* an NFS server's delegation */
	FDINFO_LOCK_ACCESS, /* a transient check of a lock being taken */
	FDINFO_LOCK_UNKNOWN,
};

enum fdinfo_lock_mode {
	FDINFO_LOCK_ADVISORY,
	FDINFO_LOCK_MANDATORY, /* kernels before 5.15 */
	FDINFO_LOCK_NOINODE,
	FDINFO_LEASE_ACTIVE,
	FDINFO_LEASE_BREAKING, /* being broken: the type shown is the one it breaks to */
	FDINFO_LEASE_BREAKER, /* the entry of whoever breaks one */
	FDINFO_LOCK_MODE_UNKNOWN,
};

#define FDINFO_LOCK_EOF UINT64_MAX /* end of a lock that runs to the end of the file */

struct fdinfo_lock {
	uint32_t kind; /* enum fdinfo_lock_kind */
	uint32_t mode; /* enum fdinfo_lock_mode */
	int32_t type; /* F_RDLCK, F_WRLCK or F_UNLCK */
	bool is_waiter; /* "->": a blocked request, not a lock held */
	int32_t pid; /* -1 for OFD locks; as the reader's PID namespace sees it */
	uint32_t dev_major, dev_minor; /* of the filesystem, hex in the text */
	uint64_t ino;
	uint64_t start, end; /* absolute, end inclusive or FDINFO_LOCK_EOF */
};

/*
 * Parses one lock as lock_get_status() prints it, from the "N:" id to the end
 * of the line (exclusive end); fills *ret.  0 or -EINVAL.
 */
int fdinfo_parse_lock(const char *p, const char *end, struct fdinfo_lock *ret)
	__attribute__((warn_unused_result));

/* One "inotify wd:" line: a watch, and the file handle of its inode. */
#define FDINFO_MAX_HANDLE 128 /* MAX_HANDLE_SZ */
struct fdinfo_inotify {
	int32_t wd;
	uint64_t ino;
	uint32_t sdev; /* kernel dev_t encoding: major << 20 | minor */
	uint32_t mask, ignored_mask;
	uint32_t handle_bytes; /* 0: the kernel gave no handle */
	int32_t handle_type;
	uint8_t handle[FDINFO_MAX_HANDLE];
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

	uint32_t nr_inotify;
	struct fdinfo_inotify *inotify; /* malloc'd; fdinfo_release() frees */

	bool has_pid; /* a pidfd */
	int32_t pid; /* "Pid:" in the reader's namespace; -1 once the process is gone */
	int32_t nspid_inner; /* the last "NSpid:" value: its pid in its own namespace */
	uint32_t nspid_depth; /* how many values "NSpid:" lists */

	uint32_t nr_locks;
	struct fdinfo_lock *locks; /* "lock:" lines; malloc'd; fdinfo_release() frees */
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
