/*
 * runtime.h - thaw run: the snapshot lifecycle of one program.
 *
 * runtime_run() starts a command in its own PID namespace (thaw's init as
 * PID 1, the command as PID 2) with a control socket at the fd number in
 * THAW_CONTROL_FD.  When the command reaches its snapshot point (the SDK
 * sends "snapshot"), thaw snapshots it into the store under its launch key
 * and lets it run on.  A later start whose launch key matches restores that
 * snapshot instead, after checking every file it mapped or held open; any
 * mismatch or failure is a cold start with the reason printed.  The
 * protocol and the store layout are in docs/runtime.md.
 */
#ifndef THAW_RUNTIME_RUNTIME_H
#define THAW_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "repo/repo.h"

struct runtime_run_opts {
	struct repo_opts store; /* where its snapshots are kept (repo/repo.h) */
	const char *name; /* NULL: derived from the command */
	bool no_snapshot; /* neither restore nor snapshot: a plain start under thaw */
	bool verify_digest; /* also compare file contents by SHA-256 (or THAW_VERIFY_DIGEST=1) */
	bool verify; /* restores read back and compared before they run (engine_restore_opts) */
	bool lazy; /* restores from a plain directory store are lazy (engine_restore_opts) */
	bool fixed_layout; /* start CMD without address-space randomisation; part of the key */
	const char *root; /* DIR or DIR:PATH: the program's files from DIR (docs/runtime.md); NULL */
	const char *image; /* NAME or NAME:PATH: the same from an image (ImageFS); NULL */
	const char *image_store; /* the image's store; NULL: store.location, then thaw image's */
	/*
	 * --image-keep: seconds the image's shared mount stays after its last
	 * user; 0: 600; < 0: no shared mount, thaw run's own server
	 */
	int image_keep_s;
	const char *json_events; /* append JSON lines here, or NULL */
	const char *const *env_ignore; /* names (NAME or PREFIX*) left out of the key */
	size_t nr_env_ignore;
	const char *const *env_keep; /* names (globs) of runtime_env_left_out put back in */
	size_t nr_env_keep;
	char *const *argv; /* the command, NULL-terminated */
	/* snapshot points for programs without the SDK (docs/runtime.md); 0/NULL: none */
	const char *snap_on_stdout; /* POSIX ERE: the first line of CMD's stdout matching */
	int snap_on_port; /* CMD listens on this TCP port */
	const char *snap_on_http; /* this URL answers 2xx */
	double snap_delay_s; /* wait after the condition (and warm-up) */
	double snap_timeout_s; /* give up on the condition after this; 0: 120 */
	const char *const *warmup_urls; /* GET each of these, in order, ... */
	size_t nr_warmup_urls;
	unsigned warmup_count; /* ... this many times before the snapshot */
};

/*
 * The variables left out of the launch key unless --env-keep names them
 * (globs, NULL-terminated): per-invocation by nature (_, SHLVL, TERM, SSH_* ...).
 */
extern const char *const runtime_env_left_out[];

/*
 * Runs the command to its end.  Returns 0 with *ret_status its exit status
 * (128+signal when killed), or -errno when it could not be started at all
 * (*ret_status then says what the CLI should exit with: 127 not found ...).
 */
int runtime_run(const struct runtime_run_opts *opts, int *ret_status)
	__attribute__((warn_unused_result));

/*
 * Events (events.c): one line for people on stderr ("thaw: cold start: ..."),
 * and the same as a JSON line {"event": TYPE, "time_ms", "message", ...} in
 * the --json-events file, each in one write() so that several processes can
 * share a file.  thaw serve emits its own through these, and relays its
 * workers' (each a thaw run) with events_write_json.
 */
struct events {
	int json_fd; /* -1: none */
	double t0_ms;
};

int events_open(struct events *ev, const char *path);
void events_close(struct events *ev);
/* Prints "thaw: TEXT" for people and a JSON line {"event": type, ...fields}; takes fields. */
void events_emit(struct events *ev, const char *type, json_t *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Only the JSON line, obj as it is (its "event" set by the caller); does not take obj. */
void events_write_json(struct events *ev, json_t *obj);

#endif
