/*
 * fd-file.c - regular files, directories, character devices and terminals.
 *
 * Files are referenced by path and validated before restore (size and mtime
 * must not have changed).  A deleted file has its contents saved (the
 * "ghost" approach: link-remap would fail on tmpfs and leave names behind)
 * and is recreated with O_TMPFILE, so it is nameless again.  Character
 * devices are limited to those whose state is nothing (/dev/null and
 * friends); a terminal on stdio is inherited from thaw restore, because the
 * program's original terminal may not exist any more.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/io.h"
#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fds.h"

/* Character devices that carry no state: reopening them by path is a faithful restore. */
static bool is_stateless_chr(dev_t rdev)
{
	unsigned int mi = minor(rdev);

	/* mem major: 3 null, 5 zero, 7 full, 8 random, 9 urandom */
	return major(rdev) == 1 && (mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9);
}

/* Bytes of a deleted file are saved in pieces of at most this: one blob each. */
#define EXTENT_PIECE (8u << 20)

static int add_extent(struct image *img, struct image_file *file, const char *display,
		      uint64_t off, const void *data, size_t len)
{
	struct image_extent *x;
	int ret;

	if (file->nr_extents >= IMAGE_MAX_EXTENTS) {
		log_error("deleted file %s: more than %d data extents", display, IMAGE_MAX_EXTENTS);
		return -EFBIG;
	}
	x = realloc(file->extents, (file->nr_extents + 1) * sizeof(*x));
	if (!x)
		return -ENOMEM;
	file->extents = x;
	x = &file->extents[file->nr_extents];
	x->off = off;
	ret = image_add_blob(img, data, len, &x->data);
	if (ret) {
		log_error("deleted file %s: saving contents: %s", display, strerror(-ret));
		return ret;
	}
	file->nr_extents++;
	return 0;
}

/*
 * Saves the data of a deleted file, extent by extent (SEEK_DATA/SEEK_HOLE),
 * into img->files[idx]: holes stay holes, and a large sparse file costs only
 * its data.
 */
static int save_extents(struct image *img, uint32_t idx, const char *path, const char *display)
{
	uint64_t size = img->files[idx].size, pos = 0, saved = 0;
	char *buf = NULL;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno("deleted file %s: open %s", display, path);
	buf = malloc(EXTENT_PIECE);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (pos < size) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0) {
			ret = log_errno("deleted file %s: SEEK_DATA", display);
			goto out;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			ret = log_errno("deleted file %s: SEEK_HOLE", display);
			goto out;
		}
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		for (pos = (uint64_t)data; pos < (uint64_t)hole;) {
			size_t len = (uint64_t)hole - pos < EXTENT_PIECE ? (size_t)((uint64_t)hole - pos) :
									    EXTENT_PIECE;

			saved += len;
			if (saved > FILES_MAX_DELETED) {
				log_error("deleted file %s holds more than %llu bytes of data; thaw "
					  "saves deleted files of at most that",
					  display, (unsigned long long)FILES_MAX_DELETED);
				ret = -EFBIG;
				goto out;
			}
			ret = io_pread_all(fd, buf, len, pos);
			if (ret)
				log_error("deleted file %s: reading %zu bytes at %llu: %s%s", display,
					  len, (unsigned long long)pos, strerror(-ret),
					  ret == -EIO ? " (it shrank while being saved)" : "");
			if (!ret)
				ret = add_extent(img, &img->files[idx], display, pos, buf, len);
			if (ret)
				goto out;
			pos += len;
		}
	}
out:
	free(buf);
	close(fd);
	return ret;
}

int files_add(struct image *img, pid_t pid, const char *path_for_open, const char *display_path,
	      bool is_deleted)
{
	struct image_file file = { 0 };
	struct stat st;
	uint32_t i;
	int ret;

	if (stat(path_for_open, &st))
		return log_errno("pid %d: %s: stat %s", pid, display_path, path_for_open);
	for (i = 0; i < img->nr_files; i++) {
		const struct image_file *f = &img->files[i];

		if (f->dev != st.st_dev || f->ino != st.st_ino)
			continue;
		/* one deleted inode is one file, whichever of its names it was opened by */
		if (!strcmp(f->path, display_path) || (is_deleted && f->is_deleted))
			return (int)i;
		/* a name was unlinked, but the file is still linked here: use that name */
		if (is_deleted && !f->is_deleted && st.st_nlink > 0)
			return (int)i;
	}
	if (strnlen(display_path, IMAGE_MAX_PATH) >= IMAGE_MAX_PATH) {
		log_error("pid %d: path too long: %.64s...", pid, display_path);
		return -ENAMETOOLONG;
	}
	if (is_deleted && S_ISREG(st.st_mode) && st.st_nlink > 0) {
		log_error("pid %d: %s: this name was unlinked, but the file still has %lu other "
			  "link(s) that the process does not hold open: thaw cannot name them",
			  pid, display_path, (unsigned long)st.st_nlink);
		return -ENOTSUP;
	}
	file.path = (char *)display_path; /* image_file_index() keeps its own copy */
	file.size = (uint64_t)st.st_size;
	file.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	file.ino = st.st_ino;
	file.dev = st.st_dev;
	file.mode = st.st_mode;
	file.rdev = st.st_rdev;
	file.is_deleted = is_deleted;
	/* a POSIX shm object held open: its bytes go with the shmem objects */
	if (!is_deleted && S_ISREG(st.st_mode) &&
	    !strncmp(display_path, IMAGE_SHMEM_DEV_SHM, strlen(IMAGE_SHMEM_DEV_SHM))) {
		ret = shmem_dump(img, pid, path_for_open, st.st_ino);
		if (ret < 0)
			return ret;
	}
	if (is_deleted) {
		if (!S_ISREG(st.st_mode)) {
			if (!strcmp(display_path, "/[aio]"))
				log_error("pid %d: %s: an AIO context (io_setup) is not supported",
					  pid, display_path);
			else
				log_error("pid %d: %s: deleted, and not a regular file", pid,
					  display_path);
			return -ENOTSUP;
		}
		file.uid = st.st_uid;
		file.gid = st.st_gid;
	}
	ret = image_file_index(img, &file);
	if (ret < 0) {
		log_error("pid %d: %s: adding to the image: %s", pid, display_path, strerror(-ret));
		return ret;
	}
	if (is_deleted) {
		int err = save_extents(img, (uint32_t)ret, path_for_open, display_path);

		if (err)
			return err;
	}
	return ret;
}

/* Strips the " (deleted)" the kernel appends to the link of an unlinked file. */
static void strip_deleted(char *path)
{
	static const char suffix[] = " (deleted)";
	size_t n = strlen(path), s = sizeof(suffix) - 1;

	if (n > s && !strcmp(path + n - s, suffix))
		path[n - s] = '\0';
}

int file_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	char proc_path[64], display[PATH_MAX];
	bool deleted = false;
	int idx;

	if (S_ISCHR(p->st.st_mode)) {
		if (isatty(p->local)) {
			if (p->fd > 2)
				return fd_dump_error(ctx, p, -ENOTSUP,
						     "a terminal is only supported on fds 0-2, "
						     "where the restored program gets thaw's own");
			out->kind = IMAGE_FD_INHERIT;
			out->inherit.from = p->fd;
			return 0;
		}
		if (!is_stateless_chr(p->st.st_rdev))
			return fd_dump_error(ctx, p, -ENOTSUP,
					     "character device %u:%u is not supported",
					     major(p->st.st_rdev), minor(p->st.st_rdev));
		out->kind = IMAGE_FD_CHR;
	} else if (S_ISDIR(p->st.st_mode)) {
		out->kind = IMAGE_FD_DIR;
	} else {
		out->kind = IMAGE_FD_FILE;
		deleted = p->st.st_nlink == 0;
	}
	if (out->flags & O_PATH)
		out->pos = 0;
	fd_probe_path(ctx, p, proc_path, sizeof(proc_path));
	snprintf(display, sizeof(display), "%s", p->link);
	if (deleted)
		strip_deleted(display);
	else if (p->st.st_nlink == 0 && S_ISDIR(p->st.st_mode))
		return fd_dump_error(ctx, p, -ENOTSUP, "the directory was removed");
	idx = files_add(ctx->img, ctx->pid, proc_path, display, deleted);
	if (idx < 0)
		return fd_dump_error(ctx, p, idx, "cannot record the file");
	out->file = idx;
	return 0;
}

int file_recreate_deleted(const struct image *img, uint32_t idx)
{
	const struct image_file *file = &img->files[idx];
	struct timespec times[2] = { { 0, UTIME_OMIT },
				     { file->mtime_ns / 1000000000, file->mtime_ns % 1000000000 } };
	char dir[PATH_MAX], *slash;
	struct stat st;
	uint32_t i;
	int fd, ret;

	if (times[1].tv_nsec < 0) { /* before 1970: the remainder has the dividend's sign */
		times[1].tv_sec--;
		times[1].tv_nsec += 1000000000;
	}
	snprintf(dir, sizeof(dir), "%s", file->path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	if (!slash || slash == dir || stat(dir, &st) || !S_ISDIR(st.st_mode))
		snprintf(dir, sizeof(dir), "/tmp");
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_errno("deleted file %s: O_TMPFILE in %s", file->path, dir);
	for (i = 0; i < file->nr_extents; i++) {
		const struct image_extent *x = &file->extents[i];
		void *data = NULL;

		ret = image_read_blob(img, &x->data, &data);
		if (!ret)
			ret = io_pwrite_all(fd, data, x->data.len, x->off);
		free(data);
		if (ret) {
			log_error("deleted file %s: restoring its bytes at %llu: %s", file->path,
				  (unsigned long long)x->off, strerror(-ret));
			goto fail;
		}
	}
	/*
	 * Size, then owner (chown clears set-id bits), then mode, and the mtime
	 * last: every write before it moves it.
	 */
	if (ftruncate(fd, (off_t)file->size) || fchown(fd, file->uid, file->gid) ||
	    fchmod(fd, file->mode & 07777) || futimens(fd, times)) {
		ret = log_errno("deleted file %s: setting its size, owner, mode and mtime",
				file->path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

/* The nameless copy of a deleted file: made once per file and shared by every fd on it. */
static int deleted_file_fd(struct fd_restore_ctx *ctx, const struct image_fd *f,
			   const struct image_file *file)
{
	int fd;

	if (ctx->file_fds[f->file] >= 0)
		return ctx->file_fds[f->file];
	fd = file_recreate_deleted(ctx->img, (uint32_t)f->file);
	if (fd < 0)
		return fd_restore_error(f, fd, "deleted file %s: cannot recreate it", file->path);
	fd = fd_to_scratch(ctx, fd);
	if (fd < 0)
		return fd_restore_error(f, fd, "deleted file %s: moving it out of the way",
					file->path);
	ctx->file_fds[f->file] = fd;
	return fd;
}

/*
 * A file the program only ever opened write-only, and does not map, is its
 * output (a log, a redirected stdout): its contents cannot have shaped the
 * program's state, and it grows while the program runs on, so restore does
 * not hold it to its dumped size and mtime, and recreates it if it is gone.
 */
int file_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	const struct image_file *file;
	/*
	 * f_flags never holds creation flags; O_TMPFILE's bit would be refused
	 * here; O_ASYNC is switched on at the end, once the fd has its owner and
	 * number (fd-owner.c): open() would take the flag without registering.
	 */
	int flags = (int)(f->flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_ASYNC |
						  (O_TMPFILE & ~O_DIRECTORY)));
	struct stat st;
	int fd, src, err;

	if (f->file < 0 || (uint32_t)f->file >= ctx->img->nr_files)
		return fd_restore_error(f, -EINVAL, "file index %d out of range", f->file);
	file = &ctx->img->files[f->file];
	if (file->is_deleted) {
		src = deleted_file_fd(ctx, f, file);
		if (src < 0)
			return src;
		/* a new description with the dumped access mode and flags */
		fd = fd_reopen(src, flags & ~O_NOATIME);
		if (fd < 0)
			return fd_restore_error(f, -errno, "reopening deleted %s: %s", file->path,
						strerror(errno));
	} else {
		fd = open(file->path, (flags & ~O_NOATIME) | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && errno == ENOENT && image_file_is_output(ctx->img, f->file)) {
			log_warn("%s (fd %d) is gone; created it anew", file->path, f->fd);
			fd = open(file->path, (flags & ~O_NOATIME) | O_CLOEXEC | O_NOCTTY | O_CREAT,
				  file->mode & 0777);
		}
		if (fd < 0)
			return fd_restore_error(f, -errno, "open %s: %s", file->path,
						strerror(errno));
	}
	if (fstat(fd, &st)) {
		err = fd_restore_error(f, -errno, "fstat: %s", strerror(errno));
		goto fail;
	}
	if ((st.st_mode & S_IFMT) != (file->mode & S_IFMT) ||
	    (S_ISCHR(st.st_mode) && st.st_rdev != file->rdev)) {
		err = fd_restore_error(f, -ESTALE, "%s is not the file it was (mode %o rdev %llx)",
				       file->path, st.st_mode, (unsigned long long)st.st_rdev);
		goto fail;
	}
	if (!(flags & O_PATH)) {
		err = fd_set_flags_pos(fd, f, f->kind != IMAGE_FD_CHR);
		if (err)
			goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return err;
}

/* Made again in the restore's private /dev/shm: nothing of the host's to compare. */
int files_validate(const struct image *img)
{
	struct stat st;
	uint32_t i;
	int ret = 0;

	for (i = 0; i < img->nr_files; i++) {
		const struct image_file *f = &img->files[i];
		int64_t mtime;

		if (f->is_deleted || image_file_is_shm_object(img, f))
			continue;
		if (image_file_is_output(img, (int32_t)i)) {
			if (stat(f->path, &st) == 0 && !S_ISREG(st.st_mode)) {
				log_error("%s changed since the snapshot: no longer a regular file",
					  f->path);
				ret = -ESTALE;
			}
			continue;
		}
		if (stat(f->path, &st)) {
			log_error("%s changed since the snapshot: %s", f->path, strerror(errno));
			ret = -ESTALE;
			continue;
		}
		mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if ((st.st_mode & S_IFMT) != (f->mode & S_IFMT)) {
			log_error("%s changed since the snapshot: type %o -> %o", f->path,
				  f->mode & S_IFMT, st.st_mode & S_IFMT);
			ret = -ESTALE;
		} else if (S_ISCHR(st.st_mode)) {
			if (st.st_rdev != f->rdev) {
				log_error("%s changed since the snapshot: device %u:%u -> %u:%u",
					  f->path, major(f->rdev), minor(f->rdev),
					  major(st.st_rdev), minor(st.st_rdev));
				ret = -ESTALE;
			}
		} else if (S_ISREG(st.st_mode)) {
			/* directories and FIFOs change mtime in normal use: type is enough */
			if ((uint64_t)st.st_size != f->size) {
				log_error("%s changed since the snapshot: size %llu -> %llu", f->path,
					  (unsigned long long)f->size,
					  (unsigned long long)st.st_size);
				ret = -ESTALE;
			} else if (mtime != f->mtime_ns) {
				log_error("%s changed since the snapshot: mtime %lld -> %lld ns",
					  f->path, (long long)f->mtime_ns, (long long)mtime);
				ret = -ESTALE;
			}
		}
	}
	return ret;
}
