/*
 * runtime-internal.h - what the files of the runtime layer share.
 *
 *   key.c       the launch key: its ingredients, their digest, what changed
 *   snapstore.c the store: one snapshot directory + one metadata file per key
 *   events.c    `snapshot created …` / `cold start: …` lines and JSON events
 *   run.c       starting, snapshotting, restoring and waiting
 *   trigger.c   snapshot points outside the program: a port, a URL, warm-up
 */
#ifndef THAW_RUNTIME_INTERNAL_H
#define THAW_RUNTIME_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime.h"

/* bumped when the meaning of a snapshot or of the control protocol changes */
#define RUNTIME_FORMAT_VERSION 1
#define RUNTIME_KEY_LEN 24 /* hex digits of the SHA-256 kept as the key */
#define RUNTIME_CONTROL_FD 1023 /* or RLIMIT_NOFILE's soft limit - 1 when lower */

void runtime_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * Ingredients of the launch key, as a JSON object (stored in the metadata so
 * that a later start can say what changed).  *ret_exe gets the resolved
 * executable path (caller frees).  Returns -ENOENT when the command is not found.
 */
int key_ingredients(const struct runtime_run_opts *opts, json_t **ret, char **ret_exe);
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
	json_t *ingredients;
};

void snap_meta_release(struct snap_meta *m);
/* Loads STORE/KEY.json; -ENOENT when there is none. */
int snapstore_load(const char *store, const char *key, struct snap_meta *m);
int snapstore_save(const char *store, const struct snap_meta *m);
/* The newest snapshot named name, other than skip_key; -ENOENT when none. */
int snapstore_newest_named(const char *store, const char *name, const char *skip_key,
			   struct snap_meta *m);
int snapstore_mkdir(const char *store);
/* Publishes the dumped directory staged as key: replaces an older one atomically. */
int snapstore_publish(const char *store, const char *staged, const char *key);
uint64_t snapstore_dir_size(const char *dir);
int snapstore_remove_key(const char *store, const char *key);

struct events {
	int json_fd; /* -1: none */
	double t0_ms;
};

int events_open(struct events *ev, const char *path);
void events_close(struct events *ev);
/* Prints "thaw: TEXT" for people and a JSON line {"event": type, ...fields}. */
void events_emit(struct events *ev, const char *type, json_t *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
double runtime_now_ms(void);

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

#endif
