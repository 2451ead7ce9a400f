/*
 * config.h - thaw's configuration files: defaults for options that every
 * command would otherwise need on its command line.
 *
 * /etc/thaw/config (the system's), then $XDG_CONFIG_HOME/thaw/config or
 * ~/.config/thaw/config (the user's, root's too), each optional; the user's
 * values win over the system's, environment variables over both, and
 * command-line flags over everything (the CLI applies that order).
 *
 * The format is strict on purpose: "key = value" lines, "#" starting a
 * comment line, blank lines (a " #" in a value is refused: it would be a
 * comment there in most formats); every other line, an unknown key, a key given
 * twice in one file or a value that is not what the key takes is an error
 * naming the file and line.  A file chooses the key file root signs and
 * encrypts with, so it is read only when nobody but root or the caller can
 * have written it (base/trust.h).
 */
#ifndef THAW_BASE_CONFIG_H
#define THAW_BASE_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_BYTES (64u << 10)
#define CONFIG_MAX_VALUE 4096

enum config_key {
	CONFIG_STORE, /* store: a directory or an http(s):// or s3:// URL (--store) */
	CONFIG_S3_ENDPOINT, /* s3-endpoint: an http(s):// URL (--s3-endpoint) */
	CONFIG_CACHE, /* cache: an absolute directory in front of a URL store (--cache) */
	CONFIG_KEY_FILE, /* key-file: an absolute path (--key-file) */
	CONFIG_NR_KEYS,
};

struct config {
	char *value[CONFIG_NR_KEYS]; /* NULL: not set */
};

/* "store", "s3-endpoint", ...: the name a key has in a file */
const char *config_key_name(enum config_key key);

/*
 * Parses a file's len bytes into c: each key found replaces c's value (so
 * parsing the system's file, then the user's, leaves the user's values on
 * top).  Logs "FILE:LINE: ..." and returns -EINVAL on the first error, with c
 * holding the values set before it.
 */
int config_parse(const char *file, const char *buf, size_t len, struct config *c)
	__attribute__((warn_unused_result));

/* Reads path if it exists (0 if not), checked like every trusted file, and parses it. */
int config_load(const char *path, struct config *c) __attribute__((warn_unused_result));

void config_free(struct config *c);

#endif
