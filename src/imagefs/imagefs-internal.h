/*
 * imagefs-internal.h - what the files of the imagefs layer share: the sizes
 * of the index's records (docs/imagefs.md) and the index writer.
 */
#ifndef THAW_IMAGEFS_IMAGEFS_INTERNAL_H
#define THAW_IMAGEFS_IMAGEFS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "imagefs/imagefs.h"

#define IX_HEADER 64
#define IX_CHUNK 40
#define IX_INODE 64
#define IX_DIRENT 16
#define IX_EXTENT 16
#define IX_XATTR 16

/* Encodes ix (the derived fields are ignored); *ret is malloc'd. */
int imagefs_index_encode(const struct imagefs_index *ix, uint8_t **ret, size_t *ret_len);
/* The order of names in a directory and of xattr names: bytes, then length. */
int imagefs_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

#endif
