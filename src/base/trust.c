/*
 * trust.c - checks that nobody but root or the caller can have written a
 * directory and what thaw reads in it (trust.h).
 */
#define LOG_TAG "trust"

#include "base/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

#define MAX_DEPTH 4096 /* directories above one: more is a loop, not a path */

enum place {
	PLACE_FILE, /* a file thaw reads */
	PLACE_DIR, /* the directory thaw reads, or one inside it */
	PLACE_ABOVE, /* a directory above it: the sticky bit makes group/other write harmless */
};

/* The path an fd was opened at, for messages only. */
static const char *fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	if (n <= 0)
		return "(a directory above it)";
	buf[n] = '\0';
	return buf;
}

/* 0 when st can only have been written by root or the caller; else logs why and -EPERM/-EINVAL. */
static int check(const char *what, const char *name, const struct stat *st, enum place place)
{
	uid_t me = geteuid();

	if (place == PLACE_FILE && !S_ISREG(st->st_mode)) {
		log_error("%s: %s is not a regular file", what, name);
		return -EINVAL;
	}
	if (place != PLACE_FILE && !S_ISDIR(st->st_mode)) {
		log_error("%s: %s is not a directory", what, name);
		return -EINVAL;
	}
	if (st->st_uid != 0 && st->st_uid != me) {
		log_error("%s: %s is owned by uid %u, not by root%s: refusing to trust it", what,
			  name, (unsigned)st->st_uid, me ? " or the caller" : "");
		return -EPERM;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(place == PLACE_ABOVE && (st->st_mode & S_ISVTX))) {
		log_error("%s: %s is writable by %s (mode %04o%s): refusing to trust it", what, name,
			  st->st_mode & S_IWOTH ? "others" : "its group",
			  (unsigned)(st->st_mode & 07777),
			  place == PLACE_ABOVE ? ", not sticky" : "");
		return -EPERM;
	}
	return 0;
}

/* Every directory above fd, up to the root, through "..": the ones the kernel resolves. */
static int check_above(const char *what, int fd)
{
	struct stat st, up_st;
	char buf[PATH_MAX];
	int cur = fd, up, depth, ret = 0;

	if (fstat(fd, &st))
		return log_errno("%s: fstat", what);
	for (depth = 0; depth < MAX_DEPTH; depth++) {
		up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (up < 0) {
			ret = log_errno("%s: opening a directory above it", what);
			break;
		}
		if (fstat(up, &up_st)) {
			ret = log_errno("%s: fstat of a directory above it", what);
			close(up);
			break;
		}
		if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino) {
			close(up); /* the root: its own parent */
			break;
		}
		ret = check(what, fd_path(up, buf, sizeof(buf)), &up_st, PLACE_ABOVE);
		if (cur != fd)
			close(cur);
		cur = up;
		st = up_st;
		if (ret)
			break;
	}
	if (cur != fd)
		close(cur);
	if (!ret && depth == MAX_DEPTH) {
		log_error("%s: more than %d directories above it", what, MAX_DEPTH);
		ret = -ELOOP;
	}
	return ret;
}

int trust_open_dir(const char *what, const char *path, int *ret_fd)
{
	struct stat st;
	int fd, ret;

	*ret_fd = -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT && ret != -ENOTDIR)
			log_error("%s: %s: %s", what, path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st))
		ret = log_errno("%s: fstat %s", what, path);
	else
		ret = check(what, path, &st, PLACE_DIR);
	if (!ret)
		ret = check_above(what, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}

int trust_openat_dir(const char *what, int dir_fd, const char *name, int *ret_fd)
{
	struct stat st;
	int fd, ret;

	*ret_fd = -1;
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			log_error("%s: %s is a symbolic link", what, name);
		else if (ret != -ENOENT && ret != -ENOTDIR)
			log_error("%s: %s: %s", what, name, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st))
		ret = log_errno("%s: fstat %s", what, name);
	else
		ret = check(what, name, &st, PLACE_DIR);
	if (ret) {
		close(fd);
		return ret;
	}
	*ret_fd = fd;
	return 0;
}

/* Walks the directories of a relative path "a/b/file" down from dir_fd, each checked. */
static int open_parents(const char *what, int dir_fd, const char *name, const char **ret_base,
			int *ret_fd)
{
	const char *p = name, *slash;
	char part[NAME_MAX + 1];
	int fd = -1, next, ret;

	*ret_fd = -1;
	while ((slash = strchr(p, '/'))) {
		if (slash > p && (size_t)(slash - p) <= NAME_MAX)
			snprintf(part, sizeof(part), "%.*s", (int)(slash - p), p);
		if (slash == p || (size_t)(slash - p) > NAME_MAX || !strcmp(part, "..") ||
		    !strcmp(part, ".")) {
			log_error("%s: %s: not a plain relative path", what, name);
			ret = -EINVAL;
			goto fail;
		}
		ret = trust_openat_dir(what, fd >= 0 ? fd : dir_fd, part, &next);
		if (ret == -ENOTDIR) {
			log_error("%s: %s (in %s) is not a directory", what, part, name);
			ret = -EINVAL;
		}
		if (ret)
			goto fail;
		if (fd >= 0)
			close(fd);
		fd = next;
		p = slash + 1;
	}
	*ret_base = p;
	*ret_fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return ret;
}

int trust_openat_file(const char *what, int dir_fd, const char *name, struct stat *ret_st)
{
	const char *base;
	int sub_fd, fd, ret;

	/* a file a level or two down (a tree's proc-PID/, a store's fan-out): each level checked */
	ret = open_parents(what, dir_fd, name, &base, &sub_fd);
	if (ret)
		return ret;
	fd = openat(sub_fd >= 0 ? sub_fd : dir_fd, base,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			log_error("%s: %s is a symbolic link", what, name);
		else if (ret != -ENOENT)
			log_error("%s: %s: %s", what, name, strerror(-ret));
		goto out;
	}
	if (fstat(fd, ret_st))
		ret = log_errno("%s: fstat %s", what, name);
	else
		ret = check(what, name, ret_st, PLACE_FILE);
	if (ret)
		close(fd);
	else
		ret = fd;
out:
	if (sub_fd >= 0)
		close(sub_fd);
	return ret;
}

int trust_open_file(const char *what, const char *path, struct stat *ret_st)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int dir_fd, ret;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return -ENAMETOOLONG;
	ret = trust_open_dir(what, dir, &dir_fd);
	if (ret == -ENOTDIR) {
		log_error("%s: %s is not a directory", what, dir);
		ret = -EINVAL;
	}
	if (ret)
		return ret;
	ret = trust_openat_file(what, dir_fd, slash ? slash + 1 : path, ret_st);
	close(dir_fd);
	return ret;
}
