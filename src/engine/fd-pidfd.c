/*
 * fd-pidfd.c - pidfds: a handle on a process (pidfd_open, clone3 CLONE_PIDFD).
 *
 * fdinfo names the process ("Pid:" as we see it, "NSpid:" down to its own
 * namespace).  At restore pidfd_open() of its pid in the snapshot's
 * namespace gives a pidfd on the same process, which must exist by then:
 * the process itself, its parent, or one of its children (a restore helper
 * makes its children, zombies included, before it opens its fds).  A pidfd
 * on anything else - a process outside the snapshot, a sibling or grandchild
 * that may not exist yet, a thread (PIDFD_THREAD), a process already reaped -
 * is refused at dump, naming it.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fds.h"
#include "engine/proc.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9 */
#endif

static int same_pid_ns(pid_t a, pid_t b)
{
	char path[64];
	struct stat sa, sb;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", a);
	if (stat(path, &sa))
		return -errno;
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", b);
	if (stat(path, &sb))
		return -errno;
	return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* The parent of pid as /proc/pid/status says, or -errno. */
static pid_t parent_of(pid_t pid)
{
	char path[64], line[128];
	pid_t ppid = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	fclose(f);
	return ppid;
}

int pidfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	pid_t target = p->info.pid, self = ctx->pid;
	bool is_child, is_parent;
	int same;

	if (!p->info.has_pid)
		return fd_dump_error(ctx, p, -EINVAL, "fdinfo of a pidfd has no Pid line");
	if (target < 0)
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "pidfd of a process that has exited and been reaped: cannot "
				     "be made again");
	if (p->info.flags & PIDFD_THREAD)
		return fd_dump_error(ctx, p, -ENOTSUP, "pidfd of a thread (PIDFD_THREAD): not "
						       "supported");
	same = same_pid_ns(target, self);
	if (same < 0)
		return fd_dump_error(ctx, p, same, "pidfd of pid %d: its namespace: %s", target,
				     strerror(-same));
	is_child = parent_of(target) == self;
	/* the root's parent is outside the snapshot */
	is_parent = ctx->tree && self != ctx->tree->root && parent_of(self) == target;
	if (!same || (target != self && !is_child && !is_parent))
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "pidfd of pid %d, which is not this process, its parent in "
				     "the snapshot or one of its children: not supported",
				     target);
	out->kind = IMAGE_FD_PIDFD;
	out->pos = 0;
	out->pidfd.pid = p->info.nspid_depth ? p->info.nspid_inner : target;
	return 0;
}

int pidfd_restore_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	int fd, ret;

	(void)ctx;
	fd = (int)syscall(SYS_pidfd_open, f->pidfd.pid, f->flags & O_NONBLOCK);
	if (fd < 0)
		return fd_restore_error(f, -errno, "pidfd_open(%d): %s", f->pidfd.pid,
					strerror(errno));
	if (fcntl(fd, F_SETFD, FD_CLOEXEC)) {
		ret = fd_restore_error(f, -errno, "F_SETFD: %s", strerror(errno));
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}
