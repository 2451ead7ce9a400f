/*
 * dirs.h - make a directory with its parents, remove one with what is in it.
 *
 * Snapshots and stores are private directories (0700).  Snapshots are
 * directories of plain files, with one level of subdirectories for a process
 * tree (proc-PID/); several layers remove them (an unpublished dump, a
 * replaced thaw run snapshot, a store's rebuilt files).  Symbolic links are
 * removed, never followed.
 */
#ifndef THAW_BASE_DIRS_H
#define THAW_BASE_DIRS_H

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

#endif
