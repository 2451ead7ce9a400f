/*
 * test-imagefs.c - unit tests of the image index (src/imagefs/imagefs-index.c):
 * a sample round trip with its derived link counts and lookups, and hostile
 * indexes, each refused with a reason: bad magic and version, counts that
 * do not match the bytes, names with '/', NUL, "." or "..", unsorted or
 * repeated names, extents outside their chunk or not adding up to the size,
 * a directory with two names, unreachable inodes, strings out of bounds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imagefs-sample.h"

static void test_roundtrip(void **state)
{
	struct imagefs_index *ix = NULL;
	char why[256] = "";
	uint8_t *b;
	size_t len;

	(void)state;
	assert_int_equal(sample_index(&b, &len), 0);
	assert_int_equal(imagefs_index_parse(b, len, &ix, why, sizeof(why)), 0);
	assert_int_equal(ix->nr_inodes, 5);
	assert_int_equal(ix->inodes[0].nlink, 3); /* ., .. and d/.. */
	assert_int_equal(ix->inodes[1].nlink, 2); /* a and d/b */
	assert_int_equal(ix->inodes[2].nlink, 2);
	assert_int_equal(ix->inodes[2].parent, 0);
	assert_int_equal(ix->inodes[1].stored, 10);
	assert_int_equal(imagefs_resolve(ix, "/d/b"), 1);
	assert_int_equal(imagefs_resolve(ix, "d//l"), 3);
	assert_int_equal(imagefs_resolve(ix, "/"), 0);
	assert_int_equal(imagefs_resolve(ix, "/x"), -ENOENT);
	assert_int_equal(imagefs_resolve(ix, "/a/x"), -ENOTDIR);
	assert_int_equal(imagefs_lookup(ix, 0, "f", 1), 4);
	imagefs_index_free(ix);
	free(b);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Offsets in the sample's encoding. */
#define CHUNKS IX_HEADER
#define INODES (CHUNKS + 1 * IX_CHUNK)
#define DIRENTS (INODES + 5 * IX_INODE)
#define EXTENTS (DIRENTS + 5 * IX_DIRENT)
#define XATTRS (EXTENTS + 2 * IX_EXTENT)
#define STRINGS (XATTRS + 1 * IX_XATTR)

struct hostile {
	const char *what;
	size_t off; /* where to write */
	uint32_t value;
	int byte; /* >= 0: write this byte at off instead */
	const char *why; /* a piece of the reason */
};

static void test_hostile(void **state)
{
	static const struct hostile cases[] = {
		{ "magic", 0, 0, 'X', "magic" },
		{ "version", 8, 2, -1, "version" },
		{ "inode count", 16, 6, -1, "tables take" },
		{ "huge inode count", 16, 1u << 30, -1, "out of range" },
		{ "header reserved", 60, 1, -1, "reserved" },
		{ "chunk length 0", CHUNKS + 32, 0, -1, "chunk 0" },
		{ "name with /", STRINGS + 1, 0, '/', "bad name" },
		{ "name with NUL", STRINGS + 0, 0, 0, "bad name" },
		{ "name ..", DIRENTS + 8, 5, -1, "bad name" }, /* "a" -> ".." is at 5, len 1 "." */
		{ "name out of the table", DIRENTS + 8, 1000, -1, "bad name" },
		{ "unsorted names", DIRENTS + 16 + 8, 0, -1, "sorted" },
		{ "extent outside its chunk", EXTENTS + 4, 60, -1, "outside chunk" },
		{ "extent in no chunk", EXTENTS, 7, -1, "names chunk" },
		{ "size not the extents'", INODES + IX_INODE + 16, 16, -1, "add up" },
		{ "directory with two names", DIRENTS + 3 * IX_DIRENT + 4, 2, -1, "more than one" },
		{ "unreachable inode", DIRENTS + 2 * IX_DIRENT + 4, 1, -1, "not reachable" },
		{ "entry of the root", DIRENTS + 4, 0, -1, "out of range" },
		{ "parent not its directory", DIRENTS, 2, -1, "parent" },
		{ "bad type", INODES + 4 * IX_INODE, 0170600, -1, "mode" },
		{ "device on a fifo", INODES + 4 * IX_INODE + 12, 5, -1, "device" },
		{ "symlink target length", INODES + 3 * IX_INODE + 56, 3, -1, "size" },
		{ "target past the table", INODES + 3 * IX_INODE + 52, 14, -1, "target" },
		{ "xattr value out of bounds", XATTRS + 12, 2, -1, "xattr" },
		{ "xattrs not in inode order", INODES + IX_INODE + 44, 0, -1, "xattrs" },
		{ "root is a file", INODES, 0100644, -1, "" },
		{ "nanoseconds", INODES + 32, 1000000000u, -1, "nanoseconds" },
	};
	char why[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imagefs_index *ix = NULL;
		uint8_t *b;
		size_t len;
		int rc;

		assert_int_equal(sample_index(&b, &len), 0);
		if (cases[i].byte >= 0)
			b[cases[i].off] = (uint8_t)cases[i].byte;
		else
			put32(b + cases[i].off, cases[i].value);
		why[0] = 0;
		rc = imagefs_index_parse(b, len, &ix, why, sizeof(why));
		if (rc != -EBADMSG || !strstr(why, cases[i].why) || !why[0]) {
			fprintf(stderr, "case '%s': rc %d, why '%s'\n", cases[i].what, rc, why);
			fail();
		}
		free(b);
	}
}

static void test_truncated(void **state)
{
	struct imagefs_index *ix = NULL;
	char why[256];
	uint8_t *b;
	size_t len, cut;

	(void)state;
	assert_int_equal(sample_index(&b, &len), 0);
	for (cut = 0; cut < len; cut++)
		assert_int_equal(imagefs_index_parse(b, cut, &ix, why, sizeof(why)), -EBADMSG);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
