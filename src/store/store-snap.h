/*
 * store-snap.h - snapshots through the store, for thaw dump/restore/run.
 *
 * The engine writes plain snapshot directories.  These helpers sit between
 * it and the store: a dump is staged in a private directory on the store's
 * own filesystem and then put (the name is written last, so it appears only
 * once the whole snapshot is stored); a restore rebuilds the small files in
 * a private directory on tmpfs and streams the pages from the chunks
 * straight into the restored processes (the engine's page source).  An addition to store.h's interface, kept apart because its
 * owner keeps that header.
 */
#ifndef THAW_STORE_STORE_SNAP_H
#define THAW_STORE_STORE_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/page-fill.h"
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
 * header page.  The caller passes store_snap_restore_start and _fill, with
 * the handle, as the engine's page source: start begins decoding and
 * verifying the chunks on one thread per CPU (at least 4 behind a URL)
 * while the engine builds the processes; fill writes them straight into
 * the restored processes once their memory is mapped.  store_snap_restore_close() removes the directory
 * and, behind a URL, first writes the chunks it fetched to the local cache
 * (call it once the program runs: the engine's on_restored).  Any error
 * names the chunk and the snapshot, and leaves nothing behind.
 */
struct store_snap_restore;

int store_snap_restore_open(const struct store_config *cfg, const char *name, const char *parent,
			    struct store_snap_restore **ret) __attribute__((warn_unused_result));
const char *store_snap_restore_dir(const struct store_snap_restore *r);
int store_snap_restore_start(void *r);
int store_snap_restore_fill(void *r, const struct page_fill_proc *procs, uint32_t nr);
void store_snap_restore_close(struct store_snap_restore *r);

/*
 * Removes name from a directory store (cfg->dir without a URL); the objects
 * it reached stay until gc finds them unnamed.  -EOPNOTSUPP behind a URL:
 * the HTTP tier has no delete.  -ENOENT when there is no such name.
 */
int store_snap_unname(const struct store_config *cfg, const char *name)
	__attribute__((warn_unused_result));

#endif
