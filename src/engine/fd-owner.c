/*
 * fd-owner.c - who an fd signals: its owner (F_SETOWN, F_SETOWN_EX: a
 * thread, a process or a process group), its signal (F_SETSIG) and
 * signal-driven I/O (O_ASYNC), dump and restore halves.
 *
 * Dump: F_GETOWN_EX and F_GETSIG on our pidfd_getfd() copy (the same open
 * file description) give the owner as our PID namespace numbers it; the
 * owner must be a thread or process of the snapshot, or a process group one
 * of them leads, and is recorded with its number in the snapshot's
 * namespace.  An owner outside (the parent of the tree, another program) is
 * refused: nothing there would get the signal after a restore.  An owner that
 * has exited reads as none, as it does for the program.
 *
 * Restore: in the restored process stopped on the restorer's final trap (all
 * of the tree exists by then, threads included), after its leases (which
 * make the process the owner): F_SETOWN_EX, F_SETSIG, then O_ASYNC through
 * F_SETFL on the fd at its own number, because the kernel registers the fd
 * number for signal-driven I/O when O_ASYNC is switched on (si_fd), and
 * open() takes O_ASYNC without registering anything.  The owner's
 * credentials (F_GETOWNER_UIDS), which decide whether the signal may reach a
 * process of another user, become those of the restored process as it
 * makes these calls.
 */
#define LOG_TAG "fds"

#include "engine/fd-owner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fds.h"
#include "engine/proc.h"

static const char *const owner_names[] = { "thread", "process", "process group" };
/* enum image_owner_type -> F_OWNER_* */
static const int owner_types[] = { F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP };

/* ---------------------------------------------------------------- dump */

static bool in_snapshot(const struct fd_dump_ctx *ctx, pid_t pid)
{
	size_t i;

	if (pid == ctx->pid)
		return true;
	for (i = 0; ctx->tree && i < ctx->tree->nr_pids; i++)
		if (ctx->tree->pids[i] == pid)
			return true;
	return false;
}

/* The owner host (of F_OWNER_* type) in the snapshot's namespace, or an error naming p. */
static int owner_to_snapshot(const struct fd_dump_ctx *ctx, const struct fd_probe *p, int type,
			     pid_t host, uint32_t *ret_type, pid_t *ret_pid)
{
	uint32_t t = type == F_OWNER_TID ? IMAGE_OWNER_TID :
		     type == F_OWNER_PGRP ? IMAGE_OWNER_PGRP : IMAGE_OWNER_PID;
	struct proc_status st;
	struct proc_stat sp;

	if (type != F_OWNER_TID && type != F_OWNER_PID && type != F_OWNER_PGRP)
		return fd_dump_error(ctx, p, -ENOTSUP, "its owner is of unknown type %d", type);
	/* a group's number is its leader's pid: the group exists after a restore if he does */
	if (proc_read_status(host, 0, &st) < 0 || !in_snapshot(ctx, t == IMAGE_OWNER_TID ? st.tgid
											 : host))
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "its owner (F_SETOWN) is %s %d, which is not %s of the "
				     "snapshot: nothing would get its signals after a restore",
				     owner_names[t], host,
				     t == IMAGE_OWNER_PGRP ? "led by a process" : "part");
	if (t == IMAGE_OWNER_PGRP && (proc_read_stat(host, 0, &sp) < 0 || sp.pgrp != host))
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "its owner (F_SETOWN) is process group %d, whose leader has "
				     "left it: it cannot be made again",
				     host);
	*ret_type = t;
	*ret_pid = st.nspid_n ? st.nspid[st.nspid_n - 1] : host;
	return 0;
}

int owners_dump(const struct fd_dump_ctx *ctx)
{
	uint32_t i;
	int ret;

	for (i = 0; i < ctx->nr_probes; i++) {
		const struct fd_probe *p = &ctx->probes[i];
		struct image_fd_owner o = { .fd = p->fd, .type = IMAGE_OWNER_TID }, *slot;
		struct f_owner_ex ex = { 0 };

		/* fds_dump_tree() made img->fds from the probes, one for one, in order */
		if (i >= ctx->img->nr_fds || ctx->img->fds[i].fd != p->fd)
			return fd_dump_error(ctx, p, -EINVAL, "no image fd for it");
		/* thaw restore's own fds stand in for these: their owner is not ours to set */
		if (ctx->img->fds[i].kind == IMAGE_FD_INHERIT)
			continue;
		/* an O_PATH fd takes no fcntl but F_GETFD/F_SETFD/F_GETFL/F_DUPFD: no owner */
		if (p->info.flags & O_PATH)
			continue;
		if (fcntl(p->local, F_GETOWN_EX, &ex) < 0)
			return fd_dump_error(ctx, p, -errno, "F_GETOWN_EX: %s", strerror(errno));
		o.sig = fcntl(p->local, F_GETSIG);
		if (o.sig < 0 || o.sig > IMAGE_NR_SIGNALS)
			return fd_dump_error(ctx, p, o.sig < 0 ? -errno : -ERANGE,
					     "F_GETSIG gives %d", o.sig);
		if (ex.pid) {
			ret = owner_to_snapshot(ctx, p, ex.type, ex.pid, &o.type, &o.pid);
			if (ret < 0)
				return ret;
		}
		if (!o.pid && !o.sig)
			continue;
		slot = image_new_fd_owner(ctx->img);
		if (!slot)
			return -ENOMEM;
		*slot = o;
		log_debug("pid %d fd %d (%s): owner %s %d, signal %d", ctx->pid, p->fd, p->link,
			  owner_names[o.type], o.pid, o.sig);
	}
	return 0;
}

/* ------------------------------------------------------------- restore */

/* fcntl(fd, cmd, arg) in fz's leader; arg, when data is given, points at a copy of it there. */
static int remote_fcntl(struct frozen *fz, int fd, int cmd, uint64_t arg, void *data, size_t len,
			long *ret_result)
{
	uint64_t args[6] = { (uint64_t)fd, (uint64_t)cmd, data ? INJECT_SCRATCH : arg, 0, 0, 0 };

	return inject_syscall(fz, fz->pid, SYS_fcntl, args, data, len, ret_result);
}

static bool has_lease(const struct image *img, int fd)
{
	uint32_t i;

	for (i = 0; i < img->nr_locks; i++)
		if (img->locks[i].fd == fd && img->locks[i].kind == IMAGE_LOCK_LEASE)
			return true;
	return false;
}

static const struct image_fd_owner *owner_of(const struct image *img, int fd)
{
	uint32_t i;

	for (i = 0; i < img->nr_fd_owners; i++)
		if (img->fd_owners[i].fd == fd)
			return &img->fd_owners[i];
	return NULL;
}

/* The owner and signal of f (none: none, even where a lease made the process the owner). */
static int restore_owner(struct frozen *fz, const struct image *img, const struct image_fd *f)
{
	const struct image_fd_owner *o = owner_of(img, f->fd);
	struct f_owner_ex ex = { F_OWNER_PID, 0 };
	long result = 0;
	int ret = 0;

	if (!o && !has_lease(img, f->fd))
		return 0;
	if (o && o->pid) {
		ex.type = owner_types[o->type];
		ex.pid = o->pid;
	}
	ret = remote_fcntl(fz, f->fd, F_SETOWN_EX, 0, &ex, sizeof(ex), &result);
	if (ret == 0 && result == 0 && o && o->sig)
		ret = remote_fcntl(fz, f->fd, F_SETSIG, (uint64_t)o->sig, NULL, 0, &result);
	if (ret < 0)
		return ret;
	if (result < 0) {
		log_error("pid %d fd %d: setting its owner (%s %d) and signal %d: %s", fz->pid,
			  f->fd, o ? owner_names[o->type] : "none", o ? o->pid : 0, o ? o->sig : 0,
			  strerror((int)-result));
		return (int)result;
	}
	return 0;
}

static int restore_async(struct frozen *fz, const struct image_fd *f)
{
	long flags, result;
	int ret;

	ret = remote_fcntl(fz, f->fd, F_GETFL, 0, NULL, 0, &flags);
	if (ret == 0 && flags >= 0)
		ret = remote_fcntl(fz, f->fd, F_SETFL, (uint64_t)flags | O_ASYNC, NULL, 0, &result);
	if (ret < 0)
		return ret;
	if (flags < 0 || result < 0) {
		log_error("pid %d fd %d: switching on O_ASYNC: %s", fz->pid, f->fd,
			  strerror((int)-(flags < 0 ? flags : result)));
		return flags < 0 ? (int)flags : (int)result;
	}
	return 0;
}

int owners_restore(struct frozen *fz, const struct image *img)
{
	uint32_t i;
	int ret;

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if (f->kind == IMAGE_FD_INHERIT)
			continue;
		ret = restore_owner(fz, img, f);
		if (ret == 0 && (f->flags & O_ASYNC))
			ret = restore_async(fz, f);
		if (ret < 0)
			return ret;
	}
	return 0;
}
