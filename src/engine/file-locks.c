/*
 * file-locks.c - file locks and leases, dump and restore halves (see
 * file-locks.h for who owns which kind and why they are taken where they are).
 *
 * Dump: the kernel lists in /proc/PID/fdinfo/N every lock taken through that
 * open file description (POSIX ones only where this process owns them), with
 * absolute offsets: the whence of the fcntl() that took it is already
 * resolved.  A description several fds share shows its locks on each of them;
 * kcmp() tells which are one, and the lock is kept once, on the lowest fd.
 * /proc/locks is read as well, so that a POSIX lock of the process that no fd
 * shows is refused rather than dropped.  A blocked F_SETLKW is not a lock:
 * the thread is inside the call, and restore re-executes it.
 *
 * Restore: an injected fcntl() or flock() per lock, non-blocking, in the
 * restored process; a conflict means someone else took the lock meanwhile,
 * and the restore fails rather than come back without it.
 */
#define LOG_TAG "locks"

#include "engine/file-locks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/proc.h"

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

static const char *const kind_names[] = { "POSIX", "OFD", "flock", "lease" };

static const char *kind_name(uint32_t kind)
{
	return kind < IMAGE_LOCK_KIND_COUNT ? kind_names[kind] : "unknown";
}

/* "POSIX write lock on bytes 10-29", "OFD read lock on bytes 100 to the end", "read lease" */
static const char *describe(const struct image_lock *l, char *buf, size_t len)
{
	const char *type = l->type == IMAGE_LOCK_WRITE ? "write" : "read";

	if (l->kind == IMAGE_LOCK_LEASE)
		snprintf(buf, len, "%s lease", type);
	else if (l->kind == IMAGE_LOCK_FLOCK)
		snprintf(buf, len, "flock %s lock", type);
	else if (!l->len)
		snprintf(buf, len, "%s %s lock on bytes %llu to the end", kind_name(l->kind), type,
			 (unsigned long long)l->start);
	else
		snprintf(buf, len, "%s %s lock on bytes %llu-%llu", kind_name(l->kind), type,
			 (unsigned long long)l->start, (unsigned long long)(l->start + l->len - 1));
	return buf;
}

/* ---------------------------------------------------------------- dump */

static const struct image_fd *image_fd_of(const struct image *img, int fd)
{
	uint32_t i;

	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd == fd)
			return &img->fds[i];
	return NULL;
}

/* The process maps the object f is open on (a file or a memfd). */
static bool is_mapped(const struct image *img, const struct image_fd *f)
{
	uint32_t i;

	for (i = 0; i < img->nr_vmas; i++) {
		const struct image_vma *v = &img->vmas[i];

		if ((f->kind == IMAGE_FD_FILE && v->file >= 0 && v->file == f->file) ||
		    (f->kind == IMAGE_FD_MEMFD && v->shmem >= 0 && v->shmem == f->memfd.shmem))
			return true;
	}
	return false;
}

/* What of a lock line cannot come back, or NULL. */
static const char *unrestorable(const struct fdinfo_lock *l)
{
	switch (l->kind) {
	case FDINFO_LOCK_POSIX:
	case FDINFO_LOCK_OFD:
	case FDINFO_LOCK_FLOCK:
		if (l->mode == FDINFO_LOCK_MANDATORY)
			return "mandatory locks are not supported";
		if (l->mode != FDINFO_LOCK_ADVISORY)
			return "a lock in an unknown state cannot be restored";
		break;
	case FDINFO_LOCK_LEASE:
		if (l->mode == FDINFO_LEASE_BREAKING)
			return "a lease being broken cannot be restored (dump again once the "
			       "lease break is over)";
		if (l->mode != FDINFO_LEASE_ACTIVE)
			return "a lease in an unknown state cannot be restored";
		break;
	case FDINFO_LOCK_DELEG:
		return "an NFS delegation cannot be restored";
	default:
		return "a lock of an unknown kind cannot be restored";
	}
	if (l->type != F_RDLCK && l->type != F_WRLCK)
		return "a lock that is neither a read nor a write lock cannot be restored";
	return NULL;
}

/* Turns one "lock:" line of probe p into an image_lock (out); ctx for messages. */
static int lock_from_line(const struct fd_dump_ctx *ctx, const struct fd_probe *p,
			  const struct fdinfo_lock *l, struct image_lock *out)
{
	static const uint32_t kinds[] = { [FDINFO_LOCK_POSIX] = IMAGE_LOCK_POSIX,
					  [FDINFO_LOCK_OFD] = IMAGE_LOCK_OFD,
					  [FDINFO_LOCK_FLOCK] = IMAGE_LOCK_FLOCK,
					  [FDINFO_LOCK_LEASE] = IMAGE_LOCK_LEASE };
	const struct image_fd *f = image_fd_of(ctx->img, p->fd);
	const char *why = unrestorable(l);

	if (why)
		return fd_dump_error(ctx, p, -ENOTSUP, "%s", why);
	if (l->ino != (uint64_t)p->st.st_ino || l->dev_major != major(p->st.st_dev) ||
	    l->dev_minor != minor(p->st.st_dev))
		return fd_dump_error(ctx, p, -EIO, "its fdinfo shows a lock on another file");
	*out = (struct image_lock){ .fd = p->fd, .kind = kinds[l->kind],
				    .type = l->type == F_WRLCK ? IMAGE_LOCK_WRITE
							       : IMAGE_LOCK_READ };
	if (out->kind == IMAGE_LOCK_POSIX || out->kind == IMAGE_LOCK_OFD) {
		out->start = l->start;
		out->len = l->end == FDINFO_LOCK_EOF ? 0 : l->end - l->start + 1;
	}
	if (!f || !(f->kind == IMAGE_FD_FILE || f->kind == IMAGE_FD_MEMFD ||
		    (f->kind == IMAGE_FD_DIR && out->kind != IMAGE_LOCK_LEASE)))
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "a %s lock on a %s cannot be restored: thaw restores locks on "
				     "files, directories and memfds only",
				     kind_name(out->kind), f ? image_fd_kind_name(f->kind) : "file");
	/* restore maps the file through descriptions of its own: a write lease allows none */
	if (out->kind == IMAGE_LOCK_LEASE && out->type == IMAGE_LOCK_WRITE && is_mapped(ctx->img, f))
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "a write lease on a file the process also maps cannot be "
				     "restored");
	return 0;
}

/* An earlier fd of the process holds the same description and shows the same lock. */
static bool seen_before(const struct fd_dump_ctx *ctx, const struct fd_probe *p,
			const struct image_lock *l)
{
	uint32_t i;

	for (i = 0; i < ctx->img->nr_locks; i++) {
		const struct image_lock *o = &ctx->img->locks[i];
		const struct fd_probe *q;

		if (o->kind != l->kind || o->type != l->type || o->start != l->start ||
		    o->len != l->len || o->fd == p->fd)
			continue;
		q = fd_probe_find(ctx, o->fd);
		if (q && q->st.st_ino == p->st.st_ino && q->st.st_dev == p->st.st_dev &&
		    syscall(SYS_kcmp, ctx->pid, ctx->pid, KCMP_FILE, o->fd, p->fd) == 0)
			return true;
	}
	return false;
}

/* Is l (a POSIX lock of /proc/locks) one that some fd's fdinfo showed? */
static bool shown_by_an_fd(const struct fd_dump_ctx *ctx, const struct fdinfo_lock *l)
{
	uint32_t i, k;

	for (i = 0; i < ctx->nr_probes; i++) {
		const struct fdinfo *info = &ctx->probes[i].info;

		for (k = 0; k < info->nr_locks; k++) {
			const struct fdinfo_lock *m = &info->locks[k];

			if (m->kind == l->kind && m->type == l->type && m->ino == l->ino &&
			    m->dev_major == l->dev_major && m->dev_minor == l->dev_minor &&
			    m->start == l->start && m->end == l->end)
				return true;
		}
	}
	return false;
}

/*
 * The kernel lists a POSIX lock in the fdinfo of the description it was taken
 * through, and closing any fd of the file drops the process's POSIX locks on
 * it, so every one should show.  One that does not is refused, not dropped.
 */
static int check_all_posix_shown(const struct fd_dump_ctx *ctx)
{
	struct fdinfo_lock *all = NULL;
	size_t n = 0, i;
	int ret;

	ret = proc_read_locks(&all, &n);
	if (ret < 0) {
		log_error("pid %d: cannot read /proc/locks to check its locks", ctx->pid);
		return ret;
	}
	for (i = 0; i < n; i++) {
		const struct fdinfo_lock *l = &all[i];

		if (l->kind != FDINFO_LOCK_POSIX || l->is_waiter || l->pid != ctx->pid ||
		    shown_by_an_fd(ctx, l))
			continue;
		log_error("pid %d: it holds a POSIX lock on inode %llu of device %x:%x (bytes "
			  "%llu-%lld) that none of its fds shows; it cannot be restored",
			  ctx->pid, (unsigned long long)l->ino, l->dev_major, l->dev_minor,
			  (unsigned long long)l->start,
			  l->end == FDINFO_LOCK_EOF ? -1ll : (long long)l->end);
		ret = -ENOTSUP;
		break;
	}
	free(all);
	return ret;
}

int locks_dump(const struct fd_dump_ctx *ctx)
{
	uint32_t i, k;
	int ret;

	for (i = 0; i < ctx->nr_probes; i++) {
		const struct fd_probe *p = &ctx->probes[i];

		for (k = 0; k < p->info.nr_locks; k++) {
			struct image_lock l, *slot;
			char what[96];

			if (p->info.locks[k].is_waiter)
				continue;
			ret = lock_from_line(ctx, p, &p->info.locks[k], &l);
			if (ret < 0)
				return ret;
			if (seen_before(ctx, p, &l))
				continue;
			slot = image_new_lock(ctx->img);
			if (!slot)
				return -ENOMEM;
			*slot = l;
			log_debug("pid %d fd %d (%s): %s", ctx->pid, p->fd, p->link,
				  describe(&l, what, sizeof(what)));
		}
	}
	return check_all_posix_shown(ctx);
}

/* ------------------------------------------------------------- restore */

/* Takes lock l in fz's leader; *ret_result is what the call returned. */
static int take(struct frozen *fz, const struct image_lock *l, long *ret_result)
{
	struct flock fl = { .l_type = l->type == IMAGE_LOCK_WRITE ? F_WRLCK : F_RDLCK,
			    .l_whence = SEEK_SET,
			    .l_start = (off_t)l->start,
			    .l_len = (off_t)l->len };
	uint64_t args[6] = { (uint64_t)l->fd, 0, 0, 0, 0, 0 };

	switch (l->kind) {
	case IMAGE_LOCK_POSIX:
	case IMAGE_LOCK_OFD:
		args[1] = l->kind == IMAGE_LOCK_POSIX ? F_SETLK : F_OFD_SETLK;
		args[2] = INJECT_SCRATCH;
		return inject_syscall(fz, fz->pid, SYS_fcntl, args, &fl, sizeof(fl), ret_result);
	case IMAGE_LOCK_FLOCK:
		args[1] = (l->type == IMAGE_LOCK_WRITE ? LOCK_EX : LOCK_SH) | LOCK_NB;
		return inject_syscall(fz, fz->pid, SYS_flock, args, NULL, 0, ret_result);
	case IMAGE_LOCK_LEASE:
		args[1] = F_SETLEASE;
		args[2] = l->type == IMAGE_LOCK_WRITE ? F_WRLCK : F_RDLCK;
		return inject_syscall(fz, fz->pid, SYS_fcntl, args, NULL, 0, ret_result);
	default:
		return -EINVAL;
	}
}

int locks_restore(struct frozen *fz, const struct image *img)
{
	uint32_t pass, i;
	long result;
	int ret;

	/* leases last: nothing may open the file after them */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < img->nr_locks; i++) {
			const struct image_lock *l = &img->locks[i];
			char what[96];

			if ((l->kind == IMAGE_LOCK_LEASE) != (pass == 1))
				continue;
			ret = take(fz, l, &result);
			if (ret < 0)
				return ret;
			if (result == 0)
				continue;
			log_error("pid %d fd %d: taking back its %s: %s%s", fz->pid, l->fd,
				  describe(l, what, sizeof(what)), strerror((int)-result),
				  result == -EAGAIN || result == -EWOULDBLOCK
					  ? l->kind == IMAGE_LOCK_LEASE
						    ? " (another process has the file open)"
						    : " (another process holds a conflicting lock)"
					  : "");
			return (int)result;
		}
	return 0;
}
