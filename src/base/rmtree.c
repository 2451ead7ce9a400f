/*
 * rmtree.c - remove a directory and what is in it (rmtree.h).
 */
#include "base/rmtree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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
