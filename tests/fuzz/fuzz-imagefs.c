/*
 * fuzz-imagefs.c - fuzz target for the image index reader
 * (imagefs_index_parse), which reads what a store hands a mount.
 *
 * Input: the index's bytes.  With libFuzzer (`make fuzz`), seeds in
 * tests/fuzz/corpus/imagefs/.  With -DFUZZ_STANDALONE, tests/fuzz/standalone.h
 * drives it over the sample of tests/unit/imagefs-sample.h.  Beyond "no
 * crash": an accepted index encodes back to the same bytes, every path
 * resolves to the inode its entry names, every extent lies inside its chunk,
 * and a refusal always says why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/imagefs-sample.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct imagefs_index *ix, const uint8_t *data, size_t size)
{
	uint8_t *again = NULL;
	size_t len = 0;
	uint32_t i;

	if (imagefs_index_encode(ix, &again, &len) || len != size || memcmp(again, data, size))
		abort(); /* the reader must accept exactly what the writer writes */
	free(again);
	for (i = 0; i < ix->nr_dirents; i++) {
		const struct imagefs_dirent *de = &ix->dirents[i];

		if (imagefs_lookup(ix, de->parent, ix->strings + de->name_off, de->name_len) !=
		    de->ino)
			abort();
	}
	for (i = 0; i < ix->nr_extents; i++) {
		const struct imagefs_extent *x = &ix->extents[i];

		if (x->chunk != IMAGEFS_HOLE &&
		    (uint64_t)x->off + x->len > ix->chunks[x->chunk].len)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees a read one byte past the input */
	struct imagefs_index *ix = NULL;
	char why[256] = "";
	uint8_t *copy;
	int rc;

	log_set_level(-1);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	rc = imagefs_index_parse(copy, size, &ix, why, sizeof(why));
	if (rc == 0) {
		check_accepted(ix, copy, size);
		imagefs_index_free(ix);
	} else if (rc != -ENOMEM && !why[0]) {
		abort(); /* a refusal always says why */
	}
	free(copy);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '\0', '\xff', '\x01', '/', '.', '\x40', '\x80', '\x7f'
#include "standalone.h"

int main(int argc, char **argv)
{
	size_t runs = 0, len;
	uint8_t *in;

	if (argc > 1)
		return run_named_files("fuzz-imagefs", argc, argv);
	if (sample_index(&in, &len))
		abort();
	LLVMFuzzerTestOneInput(in, len);
	runs += 1 + mutate_sample((const char *)in, len, 30000);
	free(in);
	runs += run_corpus("tests/fuzz/corpus/imagefs");
	printf("fuzz-imagefs: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
