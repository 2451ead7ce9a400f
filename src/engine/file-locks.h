/*
 * file-locks.h - file locks and leases: dumped from the fdinfo "lock:" lines
 * of every fd, taken again by the restored process itself.
 *
 * Who owns what decides where a lock can be taken back:
 *   - POSIX locks (F_SETLK) belong to the process (its fd table) and go away
 *     when the process closes ANY fd of the file; so the restored process
 *     takes them itself, and only once nothing of thaw's is closed in it
 *     any more: after the restorer blob, through an injected fcntl();
 *   - OFD locks (F_OFD_SETLK) and flock() locks belong to the open file
 *     description, which the fd at its number holds;
 *   - leases (F_SETLEASE) belong to the description too, but any open of the
 *     file for a conflicting access breaks them, thaw's own opens included
 *     (the files it maps), and setting one makes the process the fd's owner:
 *     so they come last, after every open, before the owners (fd-owner.c).
 * All of them are taken in the process stopped on the restorer's final trap,
 * by injected system calls, so that the owner is the restored process with
 * its final pid.
 */
#ifndef THAW_ENGINE_FILE_LOCKS_H
#define THAW_ENGINE_FILE_LOCKS_H

#include "engine/engine-internal.h"
#include "engine/fd-kinds.h"

/*
 * Dump: after every fd of ctx is in ctx->img->fds, records the locks their
 * probes show into ctx->img->locks.  What cannot come back exactly (a lease
 * being broken, a mandatory lock, a lock on a pipe, a socket or a file thaw
 * does not restore, a POSIX lock no fd shows) is an error naming the fd.
 */
int locks_dump(const struct fd_dump_ctx *ctx) __attribute__((warn_unused_result));

/*
 * Restore: takes every lock of img in the process fz (its leader stopped on
 * the restorer's final trap), locks first, then
 * leases.  A lock someone else holds meanwhile is an error naming it.
 */
int locks_restore(struct frozen *fz, const struct image *img) __attribute__((warn_unused_result));

#endif
