/*
 * fd-inotify.c - inotify instances: their watches, by watch descriptor.
 *
 * fdinfo lists each watch with its wd, mask, the inode's number and device,
 * and a file handle of the inode.  Dump turns the handle back into a path
 * (open_by_handle_at on the inode's mount, then the path the kernel gives
 * that fd), checks the path still leads to that inode, and keeps path, inode
 * and mask.  Restore adds the watches in wd order to a new instance; the
 * kernel hands out wds one after another (cyclically, from 1), so a gap in
 * the dumped wds is skipped by adding and removing a watch on a scratch
 * memfd, and each wd is checked to come out as it was.
 *
 * Refused, by name: events queued and not yet read (reading them would take
 * them from the program), a watch on an inode that no path reaches any more
 * (deleted), or on a filesystem that gives no file handles.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"

/* At most this many wds may be skipped to reach the dumped ones. */
#define INOTIFY_MAX_SKIP (1u << 20)

/* Unescapes a mountinfo path field (\040 for a space, \011, \012, \134) in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* An O_PATH fd on the inode of watch w, through a mount of its device; or -errno. */
static int open_watched(const struct fdinfo_inotify *w)
{
	unsigned int want_major = w->sdev >> 20, want_minor = w->sdev & 0xfffff;
	struct file_handle *fh;
	char line[4096];
	FILE *f;
	int fd = -ENOENT;

	fh = malloc(sizeof(*fh) + w->handle_bytes);
	if (!fh)
		return -ENOMEM;
	fh->handle_bytes = w->handle_bytes;
	fh->handle_type = w->handle_type;
	memcpy(fh->f_handle, w->handle, w->handle_bytes);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		free(fh);
		return -errno;
	}
	while (fd < 0 && fgets(line, sizeof(line), f)) {
		char mnt[4096];
		unsigned int ma, mi;
		int mfd;

		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &ma, &mi, mnt) != 3 || ma != want_major ||
		    mi != want_minor)
			continue;
		unescape(mnt);
		mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (mfd < 0)
			continue;
		fd = open_by_handle_at(mfd, fh, O_PATH | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		close(mfd);
	}
	fclose(f);
	free(fh);
	return fd;
}

/* The path of the inode of watch w, checked to lead to it; into out. */
static int watched_path(const struct fd_dump_ctx *ctx, const struct fd_probe *p,
			const struct fdinfo_inotify *w, char *out, size_t len)
{
	char link[64];
	struct stat st;
	ssize_t n;
	int fd;

	if (!w->handle_bytes)
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "watch %d (ino %llx): the filesystem gives no file handle", w->wd,
				     (unsigned long long)w->ino);
	fd = open_watched(w);
	if (fd < 0)
		return fd_dump_error(ctx, p, fd, "watch %d (ino %llx): cannot open its inode: %s",
				     w->wd, (unsigned long long)w->ino, strerror(-fd));
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, len - 1);
	close(fd);
	if (n < 0 || (size_t)n >= len - 1)
		return fd_dump_error(ctx, p, n < 0 ? -errno : -ENAMETOOLONG,
				     "watch %d: the path of its inode", w->wd);
	out[n] = '\0';
	if (out[0] != '/' || stat(out, &st) || st.st_ino != w->ino ||
	    st.st_dev != makedev(w->sdev >> 20, w->sdev & 0xfffff))
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "watch %d: its inode (ino %llx) is no longer reached by a "
				     "path (%s)",
				     w->wd, (unsigned long long)w->ino, out);
	return 0;
}

static int cmp_wd(const void *a, const void *b)
{
	const struct image_inotify_watch *x = a, *y = b;

	return (x->wd > y->wd) - (x->wd < y->wd);
}

int inotify_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct image_inotify_watch *ws;
	char path[IMAGE_MAX_PATH];
	uint32_t i, n = p->info.nr_inotify;
	int queued = 0, ret;

	if (ioctl(p->local, FIONREAD, &queued))
		return fd_dump_error(ctx, p, -errno, "FIONREAD: %s", strerror(errno));
	if (queued)
		return fd_dump_error(ctx, p, -EBUSY,
				     "%d bytes of inotify events are queued: reading them would "
				     "take them from the program",
				     queued);
	if (n > IMAGE_MAX_WATCHES)
		return fd_dump_error(ctx, p, -E2BIG, "%u watches, at most %d supported", n,
				     IMAGE_MAX_WATCHES);
	ws = calloc(n ? n : 1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct fdinfo_inotify *w = &p->info.inotify[i];

		ret = watched_path(ctx, p, w, path, sizeof(path));
		if (ret)
			goto fail;
		ws[i] = (struct image_inotify_watch){ .wd = w->wd,
						      .ino = w->ino,
						      .dev = makedev(w->sdev >> 20, w->sdev & 0xfffff),
						      .mask = w->mask,
						      .path = strdup(path) };
		if (!ws[i].path) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	qsort(ws, n, sizeof(*ws), cmp_wd);
	out->kind = IMAGE_FD_INOTIFY;
	out->pos = 0;
	out->inotify.nr_watches = n;
	out->inotify.watches = ws;
	return 0;
fail:
	for (i = 0; i < n; i++)
		free(ws[i].path);
	free(ws);
	return ret;
}

/*
 * Reads away what the instance has queued: the IN_IGNORED of each skipped
 * watch (and anything the watches added so far saw meanwhile: events while
 * the program is not running are lost anyway, as between dump and restore).
 */
static int drain(const struct image_fd *f, int ifd)
{
	char buf[4096];
	int flags = fcntl(ifd, F_GETFL);

	if (flags < 0 || fcntl(ifd, F_SETFL, flags | O_NONBLOCK))
		return fd_restore_error(f, -errno, "F_SETFL: %s", strerror(errno));
	while (read(ifd, buf, sizeof(buf)) > 0)
		;
	if (errno != EAGAIN)
		return fd_restore_error(f, -errno, "reading skipped events: %s", strerror(errno));
	return fcntl(ifd, F_SETFL, flags) ? fd_restore_error(f, -errno, "F_SETFL: %s",
							     strerror(errno)) :
					    0;
}

/* Adds and removes a watch on the scratch inode until the next wd is want. */
static int skip_to(const struct image_fd *f, int ifd, const char *scratch, int *next, int want,
		   uint32_t *skipped)
{
	while (*next < want) {
		int wd = inotify_add_watch(ifd, scratch, IN_ATTRIB);

		if (wd < 0)
			return fd_restore_error(f, -errno, "skipping to wd %d: %s", want,
						strerror(errno));
		inotify_rm_watch(ifd, wd);
		*next = wd + 1;
		if (++*skipped > INOTIFY_MAX_SKIP)
			return fd_restore_error(f, -E2BIG, "wd %d lies more than %u wds ahead", want,
						INOTIFY_MAX_SKIP);
		if (*next == want)
			return drain(f, ifd);
	}
	return 0;
}

static int add_watches(const struct image_fd *f, int ifd)
{
	const struct image_inotify *in = &f->inotify;
	char scratch[64];
	uint32_t i, skipped = 0;
	int next = 1, mfd, ret = 0;

	mfd = memfd_create("thaw-inotify-skip", MFD_CLOEXEC);
	if (mfd < 0)
		return fd_restore_error(f, -errno, "memfd_create: %s", strerror(errno));
	snprintf(scratch, sizeof(scratch), "/proc/self/fd/%d", mfd);
	for (i = 0; !ret && i < in->nr_watches; i++) {
		const struct image_inotify_watch *w = &in->watches[i];
		struct stat st;
		int wd;

		if (stat(w->path, &st) || st.st_ino != w->ino || st.st_dev != w->dev) {
			ret = fd_restore_error(f, -ESTALE,
					       "watch %d: %s is no longer the inode watched (ino %llx)",
					       w->wd, w->path, (unsigned long long)w->ino);
			break;
		}
		ret = skip_to(f, ifd, scratch, &next, w->wd, &skipped);
		if (ret)
			break;
		wd = inotify_add_watch(ifd, w->path, w->mask);
		if (wd != w->wd)
			ret = fd_restore_error(f, wd < 0 ? -errno : -EINVAL,
					       "watch on %s came back as wd %d, want %d%s%s", w->path,
					       wd, w->wd, wd < 0 ? ": " : "",
					       wd < 0 ? strerror(errno) : "");
		next = w->wd + 1;
	}
	close(mfd);
	return ret;
}

int inotify_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	int fd, ret;

	(void)ctx;
	fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0)
		return fd_restore_error(f, -errno, "inotify_init1: %s", strerror(errno));
	ret = add_watches(f, fd);
	if (!ret)
		ret = fd_set_flags_pos(fd, f, false);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}
