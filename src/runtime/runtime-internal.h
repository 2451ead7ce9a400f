/*
 * runtime-internal.h - what the files of the runtime layer share.
 *
 *   key.c       the launch key: its ingredients, their digest, what changed
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
#define RUNTIME_KEY_LEN REPO_KEY_LEN /* hex digits of the SHA-256 kept as the key */
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
	/* MS_NOSUID, MS_NODEV, MS_NOEXEC: the overlay honours no more than its lower layer */
	unsigned long lower_flags;
	/* --image: lower is the image's FUSE mount at base/image */
	char image_name[256];
	char image_id[65]; /* SHA-256 of its index: the image's identity */
	struct store *store;
	struct imagefs_image *image; /* its index, for the files' content digests */
	pid_t server; /* the FUSE server, thaw run's child; -1: none (or shared) */
	int image_lock; /* a shared mount's lock, held shared while thaw run lives; -1 */
};
/*
 * Checks spec (DIR or DIR:PATH), moves thaw run into a mount namespace of
 * its own (before any thread exists) and makes base.  -errno, said.
 */
int root_prepare(struct run_root *rr, const char *spec, const char *sdk);
/*
 * --image NAME[:PATH]: the same, with the image NAME of the store cfg
 * mounted (FUSE) as the tree: a mount shared by the runs of that image
 * from that store, kept keep_s seconds after the last one (0: 600), or,
 * keep_s < 0, one of thaw run's own, whose server dies with it.
 */
struct store_config;
int root_prepare_image(struct run_root *rr, const char *spec, const struct store_config *cfg,
		       const char *sdk, int keep_s);
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
