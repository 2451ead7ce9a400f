/*
 * rmtree.h - remove a directory and what is in it.
 *
 * Snapshots are directories of plain files, with one level of
 * subdirectories for a process tree (proc-PID/); several layers remove them
 * (an unpublished dump, a replaced thaw run snapshot, a store's rebuilt
 * copy).  Symbolic links are removed, never followed.
 */
#ifndef THAW_BASE_RMTREE_H
#define THAW_BASE_RMTREE_H

/*
 * Removes the directory name (relative to parent_fd, or AT_FDCWD) with
 * everything in it, subdirectories down to depth levels.  Returns 0, or
 * -errno of removing name itself (-ENOENT when it did not exist).
 */
int rm_tree(int parent_fd, const char *name, int depth);

#endif
