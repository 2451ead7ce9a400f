/*
 * keyfile.h - a secret key given to thaw in a file (--key-file).
 *
 * One key serves a store's encryption (docs/store.md) and a snapshot's
 * signature (docs/security.md); each use derives its own subkey from it.
 */
#ifndef THAW_BASE_KEYFILE_H
#define THAW_BASE_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define KEY_FILE_BYTES 32

/*
 * Reads a key file: 32 raw bytes, or 64 hex digits (a trailing newline
 * allowed).  Like every file thaw trusts, it must be a regular file that
 * nobody but root or the caller can have written (base/trust.h).  Logs
 * what is wrong and returns -errno.
 */
int key_file_load(const char *path, uint8_t key[KEY_FILE_BYTES])
	__attribute__((warn_unused_result));

/* A key file's n bytes: 0, or -EINVAL with key zeroed (not logged). */
int key_file_parse(const uint8_t *buf, size_t n, uint8_t key[KEY_FILE_BYTES])
	__attribute__((warn_unused_result));

#endif
