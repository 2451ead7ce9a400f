/*
 * trust.h - may thaw believe what a directory holds?
 *
 * thaw runs as root and turns files into running processes: whoever can
 * write a snapshot (or a store's chunks, which become a snapshot's memory)
 * chooses what root runs.  So a directory of such files is read only when
 * nobody but root, or the user running thaw, can have written it: the
 * directory itself, every file thaw reads in it and every directory above it
 * must be owned by root or by the caller, and none may be writable by group
 * or others.  A directory above may be, with the sticky bit (/tmp, /dev/shm):
 * there others may add names but not rename or remove ours.
 *
 * The checks are made on open descriptors, never on paths, so that what is
 * checked is what is read: the directory is opened once, the directories
 * above it are reached through "..", and everything in it is opened relative
 * to it (openat) without following a symbolic link and without blocking (a
 * FIFO where a file should be must not hang the reader), then accepted only
 * as a regular file.
 *
 * Every function logs what it refuses, naming `what` (e.g. "snapshot /x/y")
 * and the path, and returns -EPERM for a directory or file that may have been
 * written by someone else, -EINVAL for one that is not what it should be.
 * ENOENT (and ENOTDIR opening a directory) is returned silently: what a
 * missing file means is for the caller to say.
 */
#ifndef THAW_BASE_TRUST_H
#define THAW_BASE_TRUST_H

#include <sys/stat.h>

/* Opens the directory path (O_RDONLY) after checking it and every directory above it. */
int trust_open_dir(const char *what, const char *path, int *ret_fd)
	__attribute__((warn_unused_result));

/* Opens the directory name inside a checked dir_fd (no symbolic link), checked itself. */
int trust_openat_dir(const char *what, int dir_fd, const char *name, int *ret_fd)
	__attribute__((warn_unused_result));

/*
 * Opens the regular file name (a relative path) inside a checked dir_fd,
 * read-only, and checks it; its fstat in *ret_st.  Returns the fd or -errno.
 * Directories between dir_fd and the file are not followed when they are
 * symbolic links either.
 */
int trust_openat_file(const char *what, int dir_fd, const char *name, struct stat *ret_st)
	__attribute__((warn_unused_result));

/* The same for a file opened by path: its directory and those above it are checked too. */
int trust_open_file(const char *what, const char *path, struct stat *ret_st)
	__attribute__((warn_unused_result));

#endif
