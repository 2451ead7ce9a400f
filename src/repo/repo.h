/*
 * repo.h - the repository: where snapshots meet the store.
 *
 * A layer above the engine and the store (DESIGN.md, "Layers"): the store
 * knows chunks, files and bytes; the engine knows processes and asks a page
 * source for their memory; the repository keeps snapshots by launch key
 * and by name, and adapts the one to the other.  A repository is one of
 *   a plain directory   KEY/ (the engine's snapshot directory) and KEY.json
 *                       (its metadata) per key (repo-dir.c)
 *   a chunk store       the store of src/store, local or behind a URL: the
 *                       store names run-KEY and run-name-NAME (repo-chunk.c),
 *                       and the names thaw dump/restore --store give
 * and is used by thaw run (src/runtime), thaw dump/restore --store and
 * thaw snapshots (src/cli).  Errors are logged where they happen, with the
 * snapshot or store named; -ENOENT is "no such snapshot".
 */
#ifndef THAW_REPO_REPO_H
#define THAW_REPO_REPO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"
#include "store/store-snap.h"

#define REPO_KEY_LEN 24 /* hex digits of a launch key */
#define REPO_META_VERSION 1 /* "version" of the metadata written */

/*
 * Where snapshots live (docs/runtime.md, "Store"): a plain directory of
 * snapshot directories, or the content-addressed chunk store (src/store) -
 * a URL, a directory already initialised as one, or any directory with
 * chunk_store.
 */
struct repo_opts {
	const char *location; /* a directory or URL; NULL: $THAW_STORE or ~/.cache/thaw */
	const char *cache; /* chunk store behind a URL: the local cache; NULL: ~/.cache/thaw/chunks */
	const char *key_file; /* chunk store: encrypt chunks with this key, or NULL */
	const char *s3_endpoint, *s3_style; /* an s3:// store: where (NULL: $THAW_S3_*, AWS) */
	/* the configuration files' cache and key file: used by a chunk store only, unlike
	 * cache and key_file, which are errors on a plain store */
	const char *default_cache, *default_key_file;
	bool chunk_store; /* a new directory store becomes a chunk store */
	size_t chunk_size; /* chunk store: average chunk size of what is put; 0: the store's default */
};

/* A snapshot's metadata: thaw run's, kept beside it (KEY.json) or inside it (run.json). */
struct repo_meta {
	char *name;
	char key[REPO_KEY_LEN + 1];
	char *command;
	int64_t created; /* unix seconds */
	int64_t created_ns; /* the same, finer: which snapshot is newest */
	uint64_t size; /* bytes on disk */
	uint64_t restored; /* times restored */
	int control_fd;
	bool stdout_pipe; /* fd 1 was thaw run's relay pipe: a restore gives it a new one */
	bool restored_unknown; /* a chunk store keeps no restore count */
	json_t *ingredients;
};

void repo_meta_release(struct repo_meta *m);
bool repo_key_valid(const char *key);
/*
 * The metadata's JSON and back; the parser bounds and type-checks every
 * field.  key: the key the metadata must say, or NULL to take the one it
 * says; either way a valid key (repo_key_valid), or -EBADMSG.
 */
char *repo_meta_to_json(const struct repo_meta *m);
int repo_meta_from_json(json_t *root, const char *key, struct repo_meta *m)
	__attribute__((warn_unused_result));

/* The store directory: location, or $THAW_STORE, or ~/.cache/thaw. */
int repo_location(const char *location, char *buf, size_t len)
	__attribute__((warn_unused_result));

struct repo;

/*
 * Opens the repository o names (repo_location).  A URL or a directory
 * initialised as a chunk store is a chunk store; so is a new directory
 * with o->chunk_store; anything else is a plain directory.  With create
 * (thaw run), the options are checked against the kind (*ret_usage set
 * when they do not fit: a usage error) and the directory is made.
 */
int repo_open(const struct repo_opts *o, bool create, struct repo **ret, bool *ret_usage)
	__attribute__((warn_unused_result));
/* A chunk store at o->location, whatever it holds (thaw dump/restore --store). */
int repo_open_store(const struct repo_opts *o, struct repo **ret)
	__attribute__((warn_unused_result));
void repo_close(struct repo *repo);
/*
 * Closes the store's connections (libcurl's sockets are not close-on-exec):
 * before a program is started or restored, which must not inherit them.
 */
void repo_release(struct repo *repo);
bool repo_is_chunk_store(const struct repo *repo);
/* The directory or URL, for messages. */
const char *repo_label(const struct repo *repo);

/* The metadata under key; -ENOENT when there is none. */
int repo_load(struct repo *repo, const char *key, struct repo_meta *m)
	__attribute__((warn_unused_result));
/* The newest snapshot named name, other than skip_key; -ENOENT when none. */
int repo_newest_named(struct repo *repo, const char *name, const char *skip_key,
		      struct repo_meta *m) __attribute__((warn_unused_result));
/* fn for every readable snapshot (unreadable ones are not listed); stops when fn returns < 0. */
int repo_for_each(struct repo *repo, int (*fn)(struct repo_meta *m, void *arg), void *arg);
int repo_remove(struct repo *repo, const char *key) __attribute__((warn_unused_result));

/*
 * A private directory for engine_dump beside the snapshots, or beside the
 * chunk store's local tier; its path in buf, locked through *ret_lock
 * (base/dirs.h): what a killed dump staged is swept by the next one.
 */
int repo_stage(struct repo *repo, char *buf, size_t len, int *ret_lock)
	__attribute__((warn_unused_result));
/*
 * Publishes the snapshot staged under m->key with m as its metadata
 * (m->size set here): in a plain directory it is renamed into place, then
 * KEY.json makes it visible; into a chunk store run.json is added and the
 * whole put under run-KEY (run-name-NAME then points at it), and the staged
 * copy removed.  before_visible (if set) is called on the snapshot's
 * directory before any start can see it.
 */
int repo_publish(struct repo *repo, const char *staged, struct repo_meta *m,
		 void (*before_visible)(const char *dir, void *arg), void *arg)
	__attribute__((warn_unused_result));
/* Puts the staged snapshot under name (thaw dump --store); *ret its manifest's digest. */
int repo_put_named(struct repo *repo, const char *staged, const char *name,
		   struct store_digest *ret) __attribute__((warn_unused_result));
/* Counts a restore in the metadata (a plain directory; a chunk store keeps no count). */
void repo_count_restore(struct repo *repo, struct repo_meta *m);

/*
 * A restore: the directory the engine reads the snapshot from, and the page
 * source that fills its processes' memory (NULL: pages.img, as from a plain
 * directory).  From a chunk store the small files are rebuilt on tmpfs
 * ($THAW_RESTORE_TMPDIR, else /dev/shm, $TMPDIR, /tmp) and the pages
 * streamed from the chunks straight into the processes (store-snap.h,
 * repo-pages.c); repo_restore_close() removes the copy (call it once the
 * program runs: the engine's on_restored) and, behind a URL, first fills
 * the local cache.
 */
struct repo_restore;

/* The snapshot under key. */
int repo_restore_open(struct repo *repo, const char *key, struct repo_restore **ret)
	__attribute__((warn_unused_result));
/*
 * From a chunk store, *m is replaced by the copy's own run.json (the name
 * may have moved on since m was read); a plain directory's stays.
 */
int repo_restore_meta(struct repo_restore *rr, struct repo_meta *m)
	__attribute__((warn_unused_result));
/* The snapshot named name in a chunk store (thaw restore --store). */
int repo_restore_named(const struct repo_opts *o, const char *name, struct repo_restore **ret)
	__attribute__((warn_unused_result));
const char *repo_restore_dir(const struct repo_restore *rr);
const struct engine_page_source *repo_restore_pages(struct repo_restore *rr);
void repo_restore_close(struct repo_restore *rr);

/* thaw snapshots: one line per snapshot (or a JSON array). */
int repo_list(const struct repo_opts *o, FILE *out, bool json) __attribute__((warn_unused_result));
/* thaw snapshots rm: every snapshot with that name, or the one with that key (or key prefix). */
int repo_remove_matching(const struct repo_opts *o, const char *name_or_key, FILE *out)
	__attribute__((warn_unused_result));

/*
 * A restore from the store (store_snap_restore_open) as the engine's page
 * source: source.start begins decoding, source.fill writes each process's
 * data runs into it (process_vm_writev), its runs first checked against its
 * pages file.  Lives as long as the restore.
 */
struct repo_pages {
	struct engine_page_source source;
	struct store_snap_restore *sr;
};

void repo_pages_init(struct repo_pages *pg, struct store_snap_restore *sr);

#endif
