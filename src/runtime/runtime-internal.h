/*
 * runtime-internal.h - what the files of the runtime layer share.
 *
 *   key.c       the launch key: its ingredients, their digest, what changed
 *   snapstore.c the plain store: one snapshot directory + one metadata file per key
 *   chunkstore.c the chunk store (src/store): one store name per key, metadata inside
 *   events.c    `snapshot created …` / `cold start: …` lines and JSON events
 *   run.c       starting, snapshotting, restoring and waiting
 *   trigger.c   snapshot points outside the program: a port, a URL, warm-up
 *   control.c   what the program asks over the control socket
 *   root.c      --root: the program's own root under a throw-away overlay
 */
#ifndef THAW_RUNTIME_INTERNAL_H
#define THAW_RUNTIME_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "runtime.h"

struct store;
struct imagefs_image;

/* bumped when the meaning of a snapshot or of the control protocol changes */
#define RUNTIME_FORMAT_VERSION 1
#define RUNTIME_KEY_LEN 24 /* hex digits of the SHA-256 kept as the key */
#define RUNTIME_CONTROL_FD 1023 /* or RLIMIT_NOFILE's soft limit - 1 when lower */

void runtime_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * thaw run --root DIR[:PATH] (root.c): the tree DIR as the program's root
 * (or mounted at PATH beside the host's root) under an overlay whose upper
 * layer is a tmpfs of the program's namespace.
 */
struct run_root {
	char lower[PATH_MAX]; /* the tree, resolved: the overlay's lower layer */
	char mountpoint[PATH_MAX]; /* "": the program's root; else where the tree is mounted */
	char base[64]; /* /run/thaw/roots/root-XXXXXX, a tmpfs of thaw run's namespace */
	char sdk[PATH_MAX]; /* the Python SDK on the host, bound into the root; "": none */
	int lock; /* flock on base while thaw run lives */
	int lower_fd; /* O_PATH of lower: paths of the root resolve inside it */
	/* --image: lower is the image's FUSE mount at base/image */
	char image_name[256];
	char image_id[65]; /* SHA-256 of its index: the image's identity */
	struct store *store;
	struct imagefs_image *image; /* its index, for the files' content digests */
	pid_t server; /* the FUSE server, thaw run's child; -1: none */
};
/*
 * Checks spec (DIR or DIR:PATH), moves thaw run into a mount namespace of
 * its own (before any thread exists) and makes base.  -errno, said.
 */
int root_prepare(struct run_root *rr, const char *spec, const char *sdk);
/*
 * --image NAME[:PATH]: the same, with the image NAME of the store cfg
 * mounted (FUSE, a child of thaw run that dies with it) as the tree.
 */
struct store_config;
int root_prepare_image(struct run_root *rr, const char *spec, const struct store_config *cfg,
		       const char *sdk);
/*
 * --image: the content digest of the image's file at path (the program's),
 * from the index (root.c says how); -ENOENT when the file is not the image's.
 */
int root_image_digest(const struct run_root *rr, const char *path, char hex[65]);
void root_release(struct run_root *rr);
/*
 * In an init just made with CLONE_NEWNS (the cold start's, or the engine's
 * as engine_restore_opts.enter_root): the overlay, /proc, /dev, /sys, /tmp,
 * pivot_root.  Raw-clone safe.  0 or -errno, logged.
 */
int root_enter(void *arg);
/* Where the program finds the Python SDK, or NULL. */
const char *root_python_sdk(const struct run_root *rr);
/* Opens / stats path as the program sees it (rr NULL: the host's); -errno. */
int root_open(const struct run_root *rr, const char *path, int flags);
int root_stat(const struct run_root *rr, const char *path, struct stat *st);
/* execvp's search for cmd inside the root: the path the program will run (caller frees). */
char *root_find_exe(const struct run_root *rr, const char *cmd);

/*
 * Ingredients of the launch key, as a JSON object (stored in the metadata so
 * that a later start can say what changed).  With rr (--root), the executable
 * and working directory are the program's, inside its root, and the root is
 * an ingredient.  *ret_exe gets the resolved
 * executable path (caller frees).  Returns -ENOENT when the command is not found.
 */
int key_ingredients(const struct runtime_run_opts *opts, const struct run_root *rr, json_t **ret,
		    char **ret_exe);
void key_digest(json_t *ingredients, char key[RUNTIME_KEY_LEN + 1]);
/* What differs between the stored ingredients and these, for people; caller frees. */
char *key_explain(json_t *stored, json_t *now);

struct snap_meta {
	char *name;
	char key[RUNTIME_KEY_LEN + 1];
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

void snap_meta_release(struct snap_meta *m);
bool runtime_key_valid(const char *key);
/*
 * KEY.json's contents and back; the parser bounds and type-checks every field.
 * key: the key the metadata must say, or NULL to take the one it says; either
 * way a valid key (runtime_key_valid), or -EBADMSG.
 */
char *snap_meta_to_json(const struct snap_meta *m);
int snap_meta_from_json(json_t *root, const char *key, struct snap_meta *m);
int runtime_write_file_atomic(const char *path, const char *text);
/* Loads STORE/KEY.json; -ENOENT when there is none. */
int snapstore_load(const char *store, const char *key, struct snap_meta *m);
/* Loads metadata from a file of a store, refusing one root could not trust (base/trust.h). */
int snap_meta_load_file(const char *path, const char *key, struct snap_meta *m);
int snapstore_save(const char *store, const struct snap_meta *m);
/* The newest snapshot named name, other than skip_key; -ENOENT when none. */
int snapstore_newest_named(const char *store, const char *name, const char *skip_key,
			   struct snap_meta *m);
int snapstore_mkdir(const char *store);
/* Publishes the dumped directory staged as key: replaces an older one atomically. */
int snapstore_publish(const char *store, const char *staged, const char *key);
/* An exclusive flock on dir, held through the returned fd; -errno (said) on failure. */
int snapstore_lock_dir(const char *dir);
/* Removes what killed thaw runs left half done in store (never what a live one holds). */
void snapstore_sweep(const char *store);
uint64_t snapstore_dir_size(const char *dir);
int snapstore_remove_key(const char *store, const char *key);
int snapstore_remove_tree(const char *dir);
/* The directory holds at least one plain snapshot's metadata. */
bool snapstore_has_snapshots(const char *store);

/*
 * The chunk store (chunkstore.c).  Every function logs its errors (run.c
 * captures them as cold-start reasons); -ENOENT: no such snapshot.
 */
struct chunkstore;
/* location is a URL or a directory initialised as a chunk store. */
bool chunkstore_is(const char *location);
int chunkstore_open(const struct runtime_store_opts *o, const char *location,
		    struct chunkstore **ret);
void chunkstore_close(struct chunkstore *cs);
/*
 * Closes the store's connections (libcurl's sockets are not close-on-exec):
 * before a program is started or restored, which must not inherit them.
 */
void chunkstore_release(struct chunkstore *cs);
const char *chunkstore_label(const struct chunkstore *cs);
int chunkstore_load(struct chunkstore *cs, const char *key, struct snap_meta *m);
int chunkstore_newest_named(struct chunkstore *cs, const char *name, const char *skip_key,
			    struct snap_meta *m);
/* A private directory beside the local tier for engine_dump (store_snap_stage); its path in buf. */
int chunkstore_stage(struct chunkstore *cs, char *buf, size_t len, int *ret_lock);
/* Adds m as run.json to the staged snapshot and puts it under the key's name. */
int chunkstore_publish(struct chunkstore *cs, const char *staged, const struct snap_meta *m);
struct store_snap_restore;
/* Opens the key's snapshot for a restore (store_snap_restore_open). */
int chunkstore_restore_open(struct chunkstore *cs, const char *key, struct store_snap_restore **ret);
/* The metadata inside a rebuilt copy. */
int chunkstore_copy_meta(const char *dir, const char *key, struct snap_meta *m);
int chunkstore_for_each(struct chunkstore *cs, int (*fn)(struct snap_meta *m, void *arg),
			void *arg);
int chunkstore_remove_key(struct chunkstore *cs, const char *key);


/*
 * A snapshot point the program does not know about (--snap-on-port,
 * --snap-on-http; --snap-on-stdout matches in run.c and starts one with
 * the condition met).  A thread waits for the condition, sends the warm-up
 * requests, waits the delay, and makes trigger_fd() readable.
 */
struct trigger;
int trigger_start(struct trigger **ret, const struct runtime_run_opts *opts, pid_t program,
		  bool condition_met, double deadline_ms);
int trigger_fd(const struct trigger *t);
/* Once trigger_fd() is readable: 0 to snapshot now, or -errno with *reason why not. */
int trigger_result(struct trigger *t, const char **reason);
/* Stops the thread (it gives up at once) and frees; NULL is fine. */
void trigger_stop(struct trigger *t);
bool trigger_port_listening(pid_t pid, int port);

/* The control protocol (control.c): one datagram from the program, hostile bytes. */
#define CONTROL_MAX_REQUEST 256 /* longer datagrams are unknown requests, not read */
enum control_request {
	CONTROL_NONE, /* nothing was waiting */
	CONTROL_CLOSED, /* the program closed its end (or the socket failed) */
	CONTROL_SNAPSHOT, /* exactly "snapshot" */
	CONTROL_UNKNOWN, /* anything else: answered "failed: unknown request" */
};
enum control_request control_parse(const void *msg, size_t len);
/* Reads one datagram from our end of the control socket (non-blocking) and says what it asks. */
enum control_request control_read(int sock);

#endif
