/*
 * digest.h - content digests of the files a snapshot trusts (thaw run --verify-digest).
 *
 * Size, mtime and inode catch every ordinary change to a mapped file; a file
 * rewritten in place and touched back to its old mtime slips past them.  With
 * the option, the snapshot directory holds digests.json: the SHA-256 of every
 * regular file the snapshot maps, executes or holds open read-only, and a
 * start recomputes them before it restores.
 */
#ifndef THAW_RUNTIME_DIGEST_H
#define THAW_RUNTIME_DIGEST_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "image/image.h"
#include "runtime.h"

struct run_root;

#define DIGEST_FILE "digests.json"

/* --verify-digest or THAW_VERIFY_DIGEST=1 (any value but "" and "0"). */
bool digest_wanted(const struct runtime_run_opts *opts);

/*
 * Writes DIR/digests.json for the snapshot in DIR (not yet published).
 * Paths are the program's: inside rr's root with --root (rr NULL: the host's).
 * A file of an --image is not read: its digest is the index's
 * (root_image_digest()), so every --image snapshot has digests for free.
 * Returns 0 or -errno (logged); a file that cannot be read is left out, so a
 * later check says so instead of restoring.
 */
int digest_record(const char *dir, const struct run_root *rr);

/*
 * Why the snapshot img in dir cannot be trusted by content, or NULL when every
 * file hashes as recorded (caller frees): "/path changed (content digest)",
 * or that the snapshot has no digests.
 */
char *digest_check(const char *dir, const struct image *img, const struct run_root *rr);

/*
 * digests.json's contents (untrusted): *ret gets, per file table index below
 * nr_files, its recorded SHA-256 in hex or NULL, pointing into root (caller
 * frees the array, not the strings).  -EBADMSG on a wrong version, a bad
 * index or a digest that is not 64 lowercase hex digits.
 */
int digest_parse(json_t *root, uint32_t nr_files, const char ***ret);

#endif
