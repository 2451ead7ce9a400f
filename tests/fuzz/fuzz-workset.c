/*
 * fuzz-workset.c - fuzz target for the reader of workset.idx, the working set
 * a lazy restore recorded into a snapshot (image_workset_decode(),
 * src/image/image-workset.c): which page ranges of which process a later
 * lazy restore copies first.
 *
 * Input: one byte of flags, then the bytes of workset.idx.  The flags let the
 * fuzzer past the checks random bytes never pass:
 *   bit 0  the two crcs are recomputed first;
 *   bit 1  the header carries the snapshot's id (else whatever the bytes say).
 * Beyond "no crash": an accepted record has at most IMAGE_MAX_WORKSET
 * entries, each a page-aligned range of 1..256 pages inside the user address
 * space of a plausible pid, and the writer encodes it back to the very bytes
 * read; a refused one leaves no entries.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/workset/ (written
 * by the standalone build: fuzz-workset --seeds DIR).  With -DFUZZ_STANDALONE,
 * tests/fuzz/standalone.h drives it over built-in records.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "image/image.h"

#define FIX_CRCS 1u
#define SET_ID 2u
#define HEADER 48u
#define ID_OFF 24u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t snapshot_id[IMAGE_ID_SIZE] = { 0x74, 0x68, 0x61, 0x77, 9, 8, 7, 6,
						    5,	  4,	3,    2,    1, 0, 11, 12 };

static void put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void check_accepted(const struct image_workset *ws, const uint8_t *rec, size_t len)
{
	unsigned char *again;
	size_t again_len = 0;
	uint32_t i;

	if (ws->nr > IMAGE_MAX_WORKSET)
		abort();
	for (i = 0; i < ws->nr; i++) {
		const struct image_workset_entry *e = &ws->entries[i];

		if (e->vaddr % IMAGE_PAGE_SIZE || !e->npages || e->npages > IMAGE_MAX_RUN_PAGES ||
		    e->vaddr + (uint64_t)e->npages * IMAGE_PAGE_SIZE > IMAGE_ADDR_LIMIT ||
		    e->pid <= 0)
			abort();
	}
	again = image_workset_encode(ws, snapshot_id, &again_len);
	if (!again) /* only on ENOMEM */
		return;
	if (again_len != len || memcmp(again, rec, len))
		abort(); /* what the reader accepts is exactly what the writer writes */
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_workset ws = { 0 };
	char err[256];
	uint8_t *rec, flags;
	size_t len;
	int ret;

	log_set_level(-1);
	if (!size)
		return 0;
	flags = data[0];
	len = size - 1;
	/* an exact-size copy: ASan sees a read one byte past the input */
	rec = malloc(len ? len : 1);
	if (!rec)
		return 0;
	memcpy(rec, data + 1, len);
	if ((flags & SET_ID) && len >= HEADER)
		memcpy(rec + ID_OFF, snapshot_id, IMAGE_ID_SIZE);
	if ((flags & FIX_CRCS) && len >= HEADER) {
		put_le32(rec + 40, crc32c(rec + HEADER, len - HEADER));
		put_le32(rec + 44, crc32c(rec, 44));
	}
	ret = image_workset_decode(rec, len, snapshot_id, &ws, err, sizeof(err));
	if (ret == 0)
		check_accepted(&ws, rec, len);
	else if ((ret != -EINVAL && ret != -ENOMEM) || ws.nr || ws.entries || !err[0])
		abort();
	image_workset_release(&ws);
	free(rec);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '\0', '\x01', '\x02', '\x10', '\x20', '\x40', '\x7f', '\x80', '\xfe', '\xff'
#include "standalone.h"

/* Entries encoded by the writer, behind flags that keep them whole. */
static size_t sample(const struct image_workset_entry *e, uint32_t nr, uint8_t **ret)
{
	struct image_workset ws = { nr, (struct image_workset_entry *)e };
	unsigned char *rec;
	size_t len = 0;
	uint8_t *in;

	rec = image_workset_encode(&ws, snapshot_id, &len);
	in = malloc(len + 1);
	if (!rec || !in)
		abort();
	in[0] = 0;
	memcpy(in + 1, rec, len);
	free(rec);
	*ret = in;
	return len + 1;
}

static const struct image_workset_entry heap[] = {
	{ 0x600000, 256, 1 },
	{ 0x7ffc00000000, 1, 1 },
	{ 0x500000, 16, 1 },
};
static const struct image_workset_entry tree[] = {
	{ 0x600000, 4, 1 },
	{ 0x600000, 4, 2 },
	{ 0x7f0000000000, 256, 3 },
	{ 0x401000, 2, 2 },
};

static const struct {
	const char *name;
	const struct image_workset_entry *entries;
	uint32_t nr;
} samples[] = {
	{ "heap", heap, 3 },
	{ "tree", tree, 4 },
	{ "empty", NULL, 0 },
};

/* The samples must be accepted, or their edits test only refusals. */
static void check_samples(void)
{
	struct image_workset ws;
	char err[256];
	size_t i, len;
	uint8_t *in;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		len = sample(samples[i].entries, samples[i].nr, &in);
		if (image_workset_decode(in + 1, len - 1, snapshot_id, &ws, err, sizeof(err))) {
			fprintf(stderr, "fuzz-workset: sample %s refused: %s\n", samples[i].name,
				err);
			abort();
		}
		image_workset_release(&ws);
		free(in);
	}
}

static int write_seeds(const char *dir)
{
	size_t i, len;
	uint8_t *in;
	int failed = 0;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		len = sample(samples[i].entries, samples[i].nr, &in);
		failed |= write_seed(dir, samples[i].name, in, len);
		free(in);
	}
	return failed;
}

int main(int argc, char **argv)
{
	size_t runs = 0, i, len;
	uint8_t *in;

	check_samples();
	if (argc == 3 && !strcmp(argv[1], "--seeds"))
		return write_seeds(argv[2]);
	if (argc > 1)
		return run_named_files("fuzz-workset", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		len = sample(samples[i].entries, samples[i].nr, &in);
		runs += mutate_sample((const char *)in, len, 5000);
		in[0] = FIX_CRCS | SET_ID; /* edits that reach the entries themselves */
		runs += mutate_sample((const char *)in, len, 5000);
		free(in);
	}
	runs += run_corpus("tests/fuzz/corpus/workset");
	printf("fuzz-workset: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
