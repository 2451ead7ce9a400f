/*
 * store-snap.h - snapshots through the store, for thaw dump/restore/run.
 *
 * The engine reads and writes plain snapshot directories.  These helpers
 * sit between it and the store: a dump is staged in a private directory on
 * the store's own filesystem and then put (the name is written last, so it
 * appears only once the whole snapshot is stored); a restore rebuilds the
 * snapshot in a private directory on tmpfs (its pages on a tmpfs of their
 * own with huge pages), decoding chunks on several threads, and the engine
 * restores from that.  An addition to store.h's interface, kept apart because its
 * owner keeps that header.
 */
#ifndef THAW_STORE_STORE_SNAP_H
#define THAW_STORE_STORE_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* True for http:// and https:// locations. */
bool store_snap_is_url(const char *location);

/*
 * Fills cfg for location: a directory, or a URL with a local cache in front
 * (cache, or ~/.cache/thaw/chunks).  *ret_alloc holds strings cfg points
 * into: the caller frees it once the store is closed.
 */
int store_snap_config(const char *location, const char *cache, struct store_config *cfg,
		      char **ret_alloc) __attribute__((warn_unused_result));

/*
 * Makes a private (0700) directory beside the store's local tier for a dump
 * to be staged in, and puts "<it>/snapshot" (which must not exist yet, as
 * engine_dump wants) into buf.
 */
int store_snap_stage(const struct store_config *cfg, char *buf, size_t len)
	__attribute__((warn_unused_result));

/*
 * Removes a staged or materialised snapshot: the files of dir, dir, and a
 * staging parent; closes the fd of store_snap_pages_fd(dir).
 */
void store_snap_remove(const char *dir);

/*
 * Where store_snap_materialize_pages_apart() could, the rebuilt pages.img lies on a
 * tmpfs of its own with huge pages, reachable only through this fd (the
 * store layer's, until store_snap_remove(dir)); dir holds a placeholder of
 * the same size and first page, so that image_read(dir) succeeds, and the
 * caller puts this fd in place of the image's pages_fd (taking it out again
 * before it frees the image).  It is the only handle: a process forked while
 * it is open keeps the whole copy until it closes it.  -1: dir's own
 * pages.img is the copy.
 */
int store_snap_pages_fd(const char *dir);

struct store_snap_stats {
	uint64_t bytes; /* bytes of the files */
	uint64_t fetched; /* of those, bytes decoded from chunks (the rest are zero) */
	unsigned threads;
	double ms;
};

/*
 * Rebuilds snapshot name in a new private directory under parent (NULL:
 * /dev/shm, else $TMPDIR, else /tmp) on threads decoders (0: one per CPU,
 * at least 4 for a URL); the directory's path goes to buf.  On any error
 * nothing is left behind and the error names the chunk and the snapshot.
 */
int store_snap_materialize(const struct store_config *cfg, const char *name, const char *parent,
			   unsigned threads, char *buf, size_t len, struct store_snap_stats *stats)
	__attribute__((warn_unused_result));

/*
 * The same, but a large pages.img goes on a tmpfs of its own with huge
 * pages (dir holds a placeholder): for a caller that reads the image itself
 * and puts store_snap_pages_fd(dir) in as its pages_fd.  A caller that lets
 * the engine read dir must use store_snap_materialize().
 */
int store_snap_materialize_pages_apart(const struct store_config *cfg, const char *name,
				       const char *parent, unsigned threads, char *buf, size_t len,
				       struct store_snap_stats *stats)
	__attribute__((warn_unused_result));

/*
 * Removes name from a directory store (cfg->dir without a URL); the objects
 * it reached stay until gc finds them unnamed.  -EOPNOTSUPP behind a URL:
 * the HTTP tier has no delete.  -ENOENT when there is no such name.
 */
int store_snap_unname(const struct store_config *cfg, const char *name)
	__attribute__((warn_unused_result));

#endif
