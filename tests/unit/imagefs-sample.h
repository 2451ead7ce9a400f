/*
 * imagefs-sample.h - a small image index with every kind of entry, shared by
 * tests/unit/test-imagefs.c and tests/fuzz/fuzz-imagefs.c (its encoding is
 * the fuzzer's first sample).
 *
 *   /            inode 0, xattr user.a=1
 *   /a           inode 1, 15 bytes: 10 from chunk 0 at 3, then 5 of hole; also /d/b
 *   /d           inode 2
 *   /d/b         inode 1 (a hard link)
 *   /d/l         inode 3, symlink -> ../a
 *   /f           inode 4, fifo
 */
#ifndef THAW_TESTS_IMAGEFS_SAMPLE_H
#define THAW_TESTS_IMAGEFS_SAMPLE_H

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imagefs/imagefs-internal.h"
#include "imagefs/imagefs.h"

/* strings: "a" 0, "d" 1, "f" 2, "b" 3, "l" 4, "../a" 5..8, "user.a" 9..14, "1" 15 */
static const char sample_strings[] = "adfbl../auser.a1";

static __attribute__((unused)) int sample_index(uint8_t **ret, size_t *len)
{
	static struct imagefs_chunk chunks[1] = { { .len = 64 } };
	static struct imagefs_inode inodes[5] = {
		{ .mode = S_IFDIR | 0755, .first = 0, .count = 3, .first_xattr = 0, .nr_xattrs = 1 },
		{ .mode = S_IFREG | 0644, .size = 15, .first = 0, .count = 2, .first_xattr = 1 },
		{ .mode = S_IFDIR | 0700, .uid = 7, .gid = 8, .first = 3, .count = 2,
		  .first_xattr = 1 },
		{ .mode = S_IFLNK | 0777, .size = 4, .target_off = 5, .target_len = 4,
		  .first_xattr = 1 },
		{ .mode = S_IFIFO | 0600, .first_xattr = 1 },
	};
	static struct imagefs_dirent dirents[5] = {
		{ .parent = 0, .ino = 1, .name_off = 0, .name_len = 1 },
		{ .parent = 0, .ino = 2, .name_off = 1, .name_len = 1 },
		{ .parent = 0, .ino = 4, .name_off = 2, .name_len = 1 },
		{ .parent = 2, .ino = 1, .name_off = 3, .name_len = 1 },
		{ .parent = 2, .ino = 3, .name_off = 4, .name_len = 1 },
	};
	static struct imagefs_extent extents[2] = {
		{ .chunk = 0, .off = 3, .len = 10 },
		{ .chunk = IMAGEFS_HOLE, .off = 0, .len = 5 },
	};
	static struct imagefs_xattr xattrs[1] = {
		{ .name_off = 9, .name_len = 6, .value_off = 15, .value_len = 1 },
	};
	struct imagefs_index ix = {
		.nr_inodes = 5, .nr_dirents = 5, .nr_chunks = 1, .nr_extents = 2, .nr_xattrs = 1,
		.inodes = inodes, .dirents = dirents, .chunks = chunks, .extents = extents,
		.xattrs = xattrs, .strings = (char *)sample_strings,
		.strings_size = sizeof(sample_strings) - 1,
	};

	memset(&chunks[0].digest, 0xab, sizeof(chunks[0].digest));
	return imagefs_index_encode(&ix, ret, len);
}

#endif
