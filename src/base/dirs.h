/*
 * dirs.h - make a directory with its parents, remove one with what is in it,
 * make a private one that lives only as long as its maker.
 *
 * Snapshots and stores are private directories (0700).  Snapshots are
 * directories of plain files, with one level of subdirectories for a process
 * tree (proc-PID/); several layers remove them (an unpublished dump, a
 * replaced thaw run snapshot, a store's rebuilt files).  Symbolic links are
 * removed, never followed.
 */
#ifndef THAW_BASE_DIRS_H
#define THAW_BASE_DIRS_H

#include <stddef.h>

/*
 * Creates path and each missing parent, mode 0700 (existing ones stay as
 * they are).  Returns 0 or -errno; the caller says which path failed.
 */
int make_dirs(const char *path);

/*
 * Removes the directory name (relative to parent_fd, or AT_FDCWD) with
 * everything in it, subdirectories down to depth levels.  Returns 0, or
 * -errno of removing name itself (-ENOENT when it did not exist).
 */
int rm_tree(int parent_fd, const char *name, int depth);

/*
 * Staging directories (a dump before it is published, a store's staging
 * area) must not outlive a thaw that is killed, nor be removed under a
 * live one.  make_locked_dir() makes one with mkdtemp(template) and holds
 * an exclusive flock on it through *ret_fd (O_CLOEXEC) for as long as the
 * maker keeps that fd, that is until it closes it or dies.  Returns 0 or
 * -errno; the caller says what failed.
 */
int make_locked_dir(char *template, int *ret_fd) __attribute__((warn_unused_result));

/*
 * Removes each directory of parent named prefix + six characters (what
 * mkdtemp makes of prefix"XXXXXX") that the caller owns, with what is in it
 * down to depth levels, if its lock can be taken: its maker is gone.  One
 * whose maker runs is never touched.  Returns how many were removed.
 */
int sweep_locked_dirs(const char *parent, const char *prefix, int depth);

/*
 * Where a dump is written before it goes into a store: parent/dump-XXXXXX,
 * locked through *ret_lock, with "<it>/snapshot" (not there yet, as
 * engine_dump wants) put into buf.  The staging directories of dumps that
 * were killed are swept first (and by gc: STAGING_PREFIX).
 * remove_staging_dir() removes the snapshot, its staging directory, and
 * lets go of the lock.
 */
#define STAGING_PREFIX "dump-"
int make_staging_dir(const char *parent, char *buf, size_t len, int *ret_lock)
	__attribute__((warn_unused_result));
void remove_staging_dir(const char *staged, int lock);

#endif
