/*
 * cli.h - the subcommands of thaw; each returns the process exit code.
 * The conventions every command follows are described at the top of cli.c.
 */
#ifndef THAW_CLI_CLI_H
#define THAW_CLI_CLI_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "runtime/runtime.h"
#include "store/store.h"

/* Exit statuses of every command (each --help says which it uses, under "Exit status"). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* main.c, once it knows the command: names it in every error line, decides colour. */
void cli_begin(const char *name);
const char *cli_command(void);
bool cli_colour(int fd);
/* "thaw COMMAND: error: ..." on stderr; returns CLI_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "thaw COMMAND: error: ..." (fmt may be NULL), then usage(stderr); returns CLI_USAGE. */
int cli_usage_error(void (*usage)(FILE *out), const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * *val, when unset, from $env (env may be NULL; an empty value is unset), else
 * from the configuration files (base/config.h); it may stay NULL.  -errno if
 * a configuration file is bad (logged, naming the file and line).
 */
int cli_default(const char **val, const char *env, enum config_key key)
	__attribute__((warn_unused_result));

/*
 * thaw run's and thaw snapshots' store: location and S3 endpoint as above;
 * the files' cache and key file as defaults the runtime uses only where they
 * apply (a chunk store; a URL for the cache), since --cache and --key-file
 * on a plain store are errors.
 */
int cli_store_defaults(struct repo_opts *o) __attribute__((warn_unused_result));

/*
 * A store location as the user gave it (NULL: none, fine): a URL must be
 * http(s):// or s3:// (another scheme is not taken for a directory); with
 * must_exist, a directory must already be there, so that a command that only
 * reads a store does not make an empty one at a mistyped path; without, what
 * is there must be a directory.  CLI_FAIL, said as "no such store DIR", or 0.
 */
int cli_store_location(const char *location, bool must_exist);

/* --json-events FILE: progress as JSON lines appended to FILE; CLI_FAIL if it cannot be opened. */
int cli_progress_json(const char *path);
/* "1.5 MiB" */
const char *cli_human(uint64_t bytes, char buf[32]);

/* The Options: lines of thaw dump and thaw restore for a snapshot in a store. */
#define CLI_HELP_SNAPSHOT_STORE                                                          \
	"  --name NAME         the snapshot's name in the store\n"                        \
	"  --cache DIR         the local cache in front of a URL store (default\n"        \
	"                      ~/.cache/thaw/chunks)\n"                                   \
	"  --s3-endpoint URL   the server of an s3://BUCKET/PREFIX store (default\n"      \
	"                      $THAW_S3_ENDPOINT, else AWS)\n"                            \
	"  --s3-style STYLE    path or virtual addressing of an s3:// store\n"

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

/*
 * --verify, or THAW_VERIFY set to anything but "" and "0" (the test suite
 * sets it, so that every restore it makes is verified).
 */
static inline bool cli_verify_wanted(bool flag)
{
	const char *env = getenv("THAW_VERIFY");

	return flag || (env && *env && strcmp(env, "0"));
}

/* A decimal option value: 0, or -EINVAL unless the whole string is a number. */
static inline int cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end ? -EINVAL : 0;
}

/* --compress none|lz4|zstd[:LEVEL] */
static inline int cli_parse_codec(const char *s, int *codec, int *level)
{
	if (!strcmp(s, "none"))
		*codec = STORE_CODEC_NONE;
	else if (!strcmp(s, "lz4"))
		*codec = STORE_CODEC_LZ4;
	else if (!strncmp(s, "zstd", 4) && (!s[4] || s[4] == ':')) {
		*codec = STORE_CODEC_ZSTD;
		*level = s[4] == ':' ? atoi(s + 5) : 3;
		if (*level < 1 || *level > 19)
			return -EINVAL;
	} else
		return -EINVAL;
	return 0;
}

int cmd_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_image(int argc, char **argv);

#endif
