/*
 * store-snap.h - snapshots through the store, for thaw dump/restore/run.
 *
 * The engine writes plain snapshot directories.  These helpers sit between
 * it and the store: a dump is staged in a private directory on the store's
 * own filesystem and then put (the name is written last, so it appears only
 * once the whole snapshot is stored); a restore rebuilds the small files in
 * a private directory on tmpfs and streams the pages files' bytes from the
 * chunks to the caller's sink (repo/repo-pages.c makes that the engine's
 * page source).  An addition to store.h's interface, kept apart because its
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
 * Makes a private (0700) staging directory beside the store's local tier
 * (make_staging_dir, base/dirs.h: locked through *ret_lock, the ones of
 * killed dumps swept) and puts "<it>/snapshot" into buf.
 */
int store_snap_stage(const struct store_config *cfg, char *buf, size_t len, int *ret_lock)
	__attribute__((warn_unused_result));

/* Removes a staged snapshot: the files of dir, dir, and its staging parent. */
void store_snap_remove(const char *dir);

/*
 * A restore from the store.  store_snap_restore_open() rebuilds every file
 * of snapshot name but the pages in a new private directory under parent
 * (NULL: /dev/shm, else $TMPDIR, else /tmp), where the engine reads the
 * snapshot; each pages.img there is a sparse placeholder holding only its
 * header page.  store_snap_restore_start() begins decoding and verifying
 * the pages files' chunks on one thread per CPU (at least 4 behind a URL);
 * decoded bytes are held (up to a bound) until store_snap_restore_deliver()
 * names where each pages file goes: then every byte of those files is
 * handed to sink, once, on the restore's threads and the caller's, and it
 * returns when all are.  The store knows files and bytes only: what a sink
 * does with them (repo/repo.h writes them into restored processes) is the
 * caller's.  store_snap_restore_close() removes the directory and, behind a
 * URL, first writes the chunks it fetched to the local cache (call it once
 * the program runs).  Any error names the chunk and the snapshot, and
 * leaves nothing behind.
 */
struct store_snap_restore;

/* The bytes [off, off + len) of a destination's file, in buf; 0 or -errno (fails the restore). */
typedef int (*store_snap_sink_fn)(void *arg, uint64_t off, const uint8_t *buf, uint64_t len);

struct store_snap_range {
	uint64_t off, len;
};

struct store_snap_dest {
	const char *file; /* a pages file of the snapshot: "pages.img", "proc-PID/pages.img" */
	void *arg; /* handed to the sink with its bytes */
	/* if set (sorted, none overlapping) and not started: only these bytes are wanted */
	const struct store_snap_range *ranges;
	size_t nr_ranges;
};

int store_snap_restore_open(const struct store_config *cfg, const char *name, const char *parent,
			    struct store_snap_restore **ret) __attribute__((warn_unused_result));
const char *store_snap_restore_dir(const struct store_snap_restore *r);
/* The snapshot's name in the store. */
const char *store_snap_restore_name(const struct store_snap_restore *r);
int store_snap_restore_start(struct store_snap_restore *r) __attribute__((warn_unused_result));
/* The size of the snapshot's file name; -ENOENT (said) when it has none. */
int store_snap_restore_file_size(const struct store_snap_restore *r, const char *name,
				 uint64_t *size) __attribute__((warn_unused_result));
/* Starts if not started; -ENOENT for a file the snapshot lacks, -EINVAL for one named twice. */
int store_snap_restore_deliver(struct store_snap_restore *r, const struct store_snap_dest *dests,
			       uint32_t nr, store_snap_sink_fn sink)
	__attribute__((warn_unused_result));
void store_snap_restore_close(struct store_snap_restore *r);

/*
 * A lazy restore from the store (docs/lazy-restore.md).  A destination with
 * ranges, delivered without store_snap_restore_start(), has only the chunks
 * that hold those bytes of its file decoded (what lies outside lazy
 * memory).  The page server, in a process of its own, calls reader_open
 * once (a store handle of its own), then read for bytes of a file, fetched
 * (behind a URL, into the local cache on the way) and verified on demand,
 * and put to add small files to the snapshot: its name then names a
 * manifest that has them too, every other file's chunks shared.
 */
struct store_snap_file {
	const char *name;
	const void *data;
	size_t len;
};
int store_snap_restore_reader_open(struct store_snap_restore *r)
	__attribute__((warn_unused_result));
int store_snap_restore_read(struct store_snap_restore *r, const char *file, uint64_t off,
			    void *buf, size_t len) __attribute__((warn_unused_result));
int store_snap_restore_put(struct store_snap_restore *r, const struct store_snap_file *files,
			   uint32_t nr) __attribute__((warn_unused_result));

/*
 * Removes name from a directory store (cfg->dir without a URL); the objects
 * it reached stay until gc finds them unnamed.  -EOPNOTSUPP behind a URL:
 * the HTTP tier has no delete.  -ENOENT when there is no such name.
 */
int store_snap_unname(const struct store_config *cfg, const char *name)
	__attribute__((warn_unused_result));

#endif
