/*
 * dirs.c - make and remove directories, and staging ones that die with
 * their maker (dirs.h).
 */
#include "base/dirs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int make_dirs(const char *path)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int rm_tree(int parent_fd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		d = fdopendir(fd);
		if (!d) {
			close(fd);
		} else {
			while ((de = readdir(d))) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				if (unlinkat(dirfd(d), de->d_name, 0) && errno == EISDIR && depth > 0)
					rm_tree(dirfd(d), de->d_name, depth - 1);
			}
			closedir(d);
		}
	}
	return unlinkat(parent_fd, name, AT_REMOVEDIR) ? -errno : 0;
}

int make_locked_dir(char *template, int *ret_fd)
{
	char first[PATH_MAX];
	struct stat st;
	int tries, fd;

	if (snprintf(first, sizeof(first), "%s", template) >= (int)sizeof(first))
		return -ENAMETOOLONG;
	for (tries = 0; tries < 16; tries++) {
		strcpy(template, first);
		if (!mkdtemp(template))
			return -errno;
		fd = open(template, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			return -errno;
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				int err = -errno;

				close(fd);
				rmdir(template);
				return err;
			}
		}
		/*
		 * A sweeper that came between mkdtemp and flock took the lock
		 * of an empty directory and removed it: make another.
		 */
		if (fstat(fd, &st) == 0 && st.st_nlink > 0) {
			*ret_fd = fd;
			return 0;
		}
		close(fd);
	}
	return -EAGAIN;
}

int sweep_locked_dirs(const char *parent, const char *prefix, int depth)
{
	size_t len = strlen(prefix);
	struct dirent *de;
	struct stat st;
	int removed = 0;
	DIR *d;

	d = opendir(parent);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int fd;

		if (strncmp(de->d_name, prefix, len) || strlen(de->d_name) != len + 6)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* someone else's directory that looks like ours is not ours to remove */
		if (fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0 && rm_tree(dirfd(d), de->d_name, depth) == 0)
			removed++;
		close(fd);
	}
	closedir(d);
	return removed;
}

int make_staging_dir(const char *parent, char *buf, size_t len, int *ret_lock)
{
	int ret;

	/* a snapshot directory holds proc-PID/ (each perhaps proc-PID.tmp-XXXXXX/) */
	sweep_locked_dirs(parent, STAGING_PREFIX, 2);
	if (snprintf(buf, len, "%s/" STAGING_PREFIX "XXXXXX", parent) >= (int)len ||
	    strlen(buf) + sizeof("/snapshot") > len)
		return -ENAMETOOLONG;
	ret = make_locked_dir(buf, ret_lock);
	if (ret < 0)
		return ret;
	strcat(buf, "/snapshot");
	return 0;
}

void remove_staging_dir(const char *staged, int lock)
{
	char parent[PATH_MAX], *slash;

	rm_tree(AT_FDCWD, staged, 1);
	if (snprintf(parent, sizeof(parent), "%s", staged) < (int)sizeof(parent) &&
	    (slash = strrchr(parent, '/'))) {
		*slash = '\0';
		rmdir(parent);
	}
	if (lock >= 0)
		close(lock);
}
