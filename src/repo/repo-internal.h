/*
 * repo-internal.h - what the files of the repository layer share.
 *
 *   repo.c        the interface of repo.h: one repository, whichever kind
 *   repo-meta.c   a snapshot's metadata as JSON
 *   repo-dir.c    a plain directory: one snapshot directory + KEY.json per key
 *   repo-chunk.c  a chunk store (src/store): one store name per key, metadata inside
 *   repo-pages.c  a restore from the store as the engine's page source
 */
#ifndef THAW_REPO_INTERNAL_H
#define THAW_REPO_INTERNAL_H

#include <limits.h>

#include "repo/repo.h"

struct repo_chunk;

struct repo {
	char location[PATH_MAX - 128]; /* a directory (room for KEY.next-PID after it) or a URL */
	struct repo_chunk *cs; /* a chunk store; NULL: a plain directory */
};

/* Loads metadata from a file, refusing one root could not trust (base/trust.h). */
int repo_meta_load_file(const char *path, const char *key, struct repo_meta *m);
int repo_write_file_atomic(const char *path, const char *text);

/* A plain directory (repo-dir.c).  -ENOENT: no such snapshot. */
int repo_dir_load(const char *dir, const char *key, struct repo_meta *m);
int repo_dir_save(const char *dir, const struct repo_meta *m);
int repo_dir_for_each(const char *dir, int (*fn)(struct repo_meta *m, void *arg), void *arg);
int repo_dir_newest_named(const char *dir, const char *name, const char *skip_key,
			  struct repo_meta *m);
int repo_dir_mkdir(const char *dir);
/* Publishes the dumped directory staged as key: replaces an older one atomically. */
int repo_dir_publish(const char *dir, const char *staged, const char *key);
/* An exclusive flock on dir, held through the returned fd; -errno (said) on failure. */
int repo_dir_lock_dir(const char *dir);
/* Removes what killed thaw runs left half done in dir (never what a live one holds). */
void repo_dir_sweep(const char *dir);
uint64_t repo_dir_size(const char *dir);
int repo_dir_remove_key(const char *dir, const char *key);
/* Removes a snapshot directory: plain files, and a process tree's proc-PID/ subdirectories. */
int repo_dir_remove_tree(const char *dir);
/* The directory holds at least one plain snapshot's metadata. */
bool repo_dir_has_snapshots(const char *dir);

/*
 * A chunk store (repo-chunk.c).  Every function logs its errors (thaw run
 * captures them as cold-start reasons); -ENOENT: no such snapshot.
 */
/* location is a URL or a directory initialised as a chunk store. */
bool repo_chunk_is(const char *location);
/* connect: open the store now (its errors said now), else when first used. */
int repo_chunk_open(const struct repo_opts *o, const char *location, bool connect,
		    struct repo_chunk **ret);
void repo_chunk_close(struct repo_chunk *cs);
void repo_chunk_release(struct repo_chunk *cs);
const char *repo_chunk_label(const struct repo_chunk *cs);
int repo_chunk_load(struct repo_chunk *cs, const char *key, struct repo_meta *m);
int repo_chunk_newest_named(struct repo_chunk *cs, const char *name, const char *skip_key,
			    struct repo_meta *m);
/* A private directory beside the local tier for engine_dump (store_snap_stage); its path in buf. */
int repo_chunk_stage(struct repo_chunk *cs, char *buf, size_t len, int *ret_lock);
/* Adds m as run.json to the staged snapshot and puts it under the key's name. */
int repo_chunk_publish(struct repo_chunk *cs, const char *staged, const struct repo_meta *m);
int repo_chunk_put_named(struct repo_chunk *cs, const char *staged, const char *name,
			 struct store_digest *ret);
/* Opens the snapshot called sname (a store name) for a restore (store_snap_restore_open). */
int repo_chunk_restore_open(struct repo_chunk *cs, const char *sname,
			    struct store_snap_restore **ret);
/* The store name of key's snapshot. */
void repo_chunk_key_name(const char *key, char buf[STORE_NAME_MAX + 1]);
/* The metadata inside a rebuilt copy. */
int repo_chunk_copy_meta(const char *dir, const char *key, struct repo_meta *m);
int repo_chunk_for_each(struct repo_chunk *cs, int (*fn)(struct repo_meta *m, void *arg),
			void *arg);
int repo_chunk_remove_key(struct repo_chunk *cs, const char *key);

#endif
