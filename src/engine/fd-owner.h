/*
 * fd-owner.h - an fd's owner (F_SETOWN_EX), its signal (F_SETSIG) and
 * O_ASYNC: dumped through the probes of fds.c, set again by the restored
 * process itself (fd-owner.c says why there and then).
 */
#ifndef THAW_ENGINE_FD_OWNER_H
#define THAW_ENGINE_FD_OWNER_H

#include "engine/engine-internal.h"
#include "engine/fd-kinds.h"

/*
 * Dump: after every fd of ctx is in ctx->img->fds, records the owners and
 * signals of those thaw makes again into ctx->img->fd_owners.  An owner that
 * is not a thread or process of the snapshot, or a group one of them leads,
 * is an error naming the fd.
 */
int owners_dump(const struct fd_dump_ctx *ctx) __attribute__((warn_unused_result));

/*
 * Restore: in the process fz (its leader stopped on the restorer's final
 * trap, every process and thread of the tree made), after locks_restore():
 * sets each fd's owner and signal, then O_ASYNC where the fd had it.
 */
int owners_restore(struct frozen *fz, const struct image *img) __attribute__((warn_unused_result));

#endif
