/*
 * fuzz-index.c - fuzz target for the reader of pages.idx, the page index of
 * a snapshot (image_index_decode(), src/image/image.c): which pages of which
 * VMA come back with which bytes of pages.img.
 *
 * Input: one byte of flags, then the bytes of pages.idx.  The flags let the
 * fuzzer past the checks that random bytes never pass, so that what lies
 * behind them is fuzzed too:
 *   bit 0  the two crcs of the index are recomputed first;
 *   bit 1  the manifest records the index's true size and SHA-256 (else
 *          those of an empty file);
 *   bit 2  the manifest counts as many runs as the header (else the high
 *          nibble of the flags);
 *   bit 3  pages.img holds 16 pages (else 512).
 * The manifest's other side is fixed: three VMAs and the snapshot's id.
 * Beyond "no crash": an accepted index has sorted runs, each in one VMA and
 * within pages.img, and the writer encodes them back to the very bytes
 * read; a refused one leaves no runs.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/index/ (written
 * by the standalone build: fuzz-index --seeds DIR).  With -DFUZZ_STANDALONE,
 * tests/fuzz/standalone.h drives it over built-in indexes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "image/image-internal.h"
#include "image/image.h"

#define FIX_CRCS 1u
#define BIND 2u
#define COUNT_FROM_HEADER 4u
#define SMALL_PAGES 8u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t snapshot_id[IMAGE_ID_SIZE] = { 0x74, 0x68, 0x61, 0x77, 1, 2, 3, 4,
						    5,	  6,	7,    8,    9, 10, 11, 12 };
static const struct {
	uint64_t start, end;
} vmas[] = {
	{ 0x400000, 0x402000 },
	{ 0x600000, 0x700000 },
	{ 0x7ffc00000000, 0x7ffc00021000 },
};

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* An image as manifest.json leaves it before pages.idx is read. */
static struct image *manifest_side(uint64_t nr_runs, uint64_t idx_size, const uint8_t *idx)
{
	struct image *img = image_alloc_empty();
	size_t i;

	if (!img)
		return NULL;
	img->path = strdup("fuzz");
	img->vmas = calloc(sizeof(vmas) / sizeof(vmas[0]), sizeof(*img->vmas));
	img->parts.files = calloc(1, sizeof(*img->parts.files));
	if (!img->path || !img->vmas || !img->parts.files) {
		image_free(img);
		return NULL;
	}
	img->nr_vmas = sizeof(vmas) / sizeof(vmas[0]);
	for (i = 0; i < img->nr_vmas; i++) {
		img->vmas[i].start = vmas[i].start;
		img->vmas[i].end = vmas[i].end;
		img->vmas[i].file = img->vmas[i].shmem = -1;
	}
	memcpy(img->parts.id, snapshot_id, IMAGE_ID_SIZE);
	img->parts.nr_files = 1;
	img->parts.files[0].name = strdup("pages.idx");
	img->parts.files[0].size = idx_size;
	if (!img->parts.files[0].name || image_sha256(idx, idx_size, img->parts.files[0].sha256)) {
		image_free(img);
		return NULL;
	}
	img->nr_runs = nr_runs;
	return img;
}

static void check_accepted(const struct image *img, const uint8_t *idx, size_t len,
			   uint64_t pages_size)
{
	uint64_t i, prev_end = 0;
	unsigned char *again;
	size_t again_len = 0, k;

	if (img->nr_runs != le64(idx + 16))
		abort();
	for (i = 0; i < img->nr_runs; i++) {
		const struct image_page_run *r = &img->runs[i];
		uint64_t bytes = (uint64_t)r->npages * IMAGE_PAGE_SIZE;

		if (!r->npages || r->npages > IMAGE_MAX_RUN_PAGES || r->vaddr < prev_end)
			abort();
		for (k = 0; k < sizeof(vmas) / sizeof(vmas[0]); k++)
			if (r->vaddr >= vmas[k].start && r->vaddr + bytes <= vmas[k].end)
				break;
		if (k == sizeof(vmas) / sizeof(vmas[0]))
			abort(); /* a run outside every VMA */
		if (!(r->flags & IMAGE_RUN_ZERO) &&
		    (r->off < IMAGE_PAGE_SIZE || r->off + bytes > pages_size))
			abort(); /* bytes outside pages.img */
		if ((r->flags & IMAGE_RUN_INHERITED) &&
		    ((r->flags & IMAGE_RUN_ZERO) || img->vmas[k].kind != IMAGE_VMA_ANON))
			abort(); /* inherited pages are data in private anonymous memory */
		prev_end = r->vaddr + bytes;
	}
	again = image_index_encode(img, &again_len);
	if (!again) /* only on ENOMEM */
		return;
	if (again_len != len || memcmp(again, idx, len))
		abort(); /* what the reader accepts is exactly what the writer writes */
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t pages_size, nr_runs;
	struct image *img;
	uint8_t *idx, flags;
	size_t len;
	int ret;

	log_set_level(-1); /* refusals are the point: no line each */
	if (!size)
		return 0;
	flags = data[0];
	len = size - 1;
	/* an exact-size copy: ASan sees a read one byte past the input */
	idx = malloc(len ? len : 1);
	if (!idx)
		return 0;
	memcpy(idx, data + 1, len);
	if ((flags & FIX_CRCS) && len >= IMAGE_IDX_HEADER_SIZE) {
		put_le32(idx + 40, crc32c(idx + IMAGE_IDX_HEADER_SIZE, len - IMAGE_IDX_HEADER_SIZE));
		put_le32(idx + 44, crc32c(idx, 44));
	}
	nr_runs = (flags & COUNT_FROM_HEADER) && len >= 24 ? le64(idx + 16) : flags >> 4;
	if (nr_runs >= IMAGE_ADDR_LIMIT / IMAGE_PAGE_SIZE)
		nr_runs = 0; /* the manifest reader bounds it so */
	pages_size = IMAGE_PAGE_SIZE * (1 + ((flags & SMALL_PAGES) ? 16 : 512));
	img = manifest_side(nr_runs, (flags & BIND) ? len : 0, (flags & BIND) ? idx : NULL);
	if (!img) {
		free(idx);
		return 0;
	}
	ret = image_index_decode(img, idx, len, pages_size);
	if (ret == 0)
		check_accepted(img, idx, len, pages_size);
	else if ((ret != -EINVAL && ret != -ENOMEM) || img->nr_runs)
		abort();
	image_free(img);
	free(idx);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '\0', '\x01', '\x02', '\x10', '\x20', '\x40', '\x60', '\x7f', '\x80', \
			 '\xfe', '\xff'
#include "standalone.h"

/* Runs encoded by the writer, behind flags that keep them whole. */
static size_t sample(const struct image_page_run *runs, uint64_t nr, uint8_t **ret)
{
	struct image *img = manifest_side(nr, 0, NULL);
	unsigned char *idx;
	size_t len = 0;
	uint8_t *in;

	if (!img)
		abort();
	img->runs = calloc(nr ? nr : 1, sizeof(*runs));
	if (!img->runs)
		abort();
	if (nr)
		memcpy(img->runs, runs, nr * sizeof(*runs));
	idx = image_index_encode(img, &len);
	in = malloc(len + 1);
	if (!idx || !in)
		abort();
	in[0] = BIND | COUNT_FROM_HEADER;
	memcpy(in + 1, idx, len);
	free(idx);
	image_free(img);
	*ret = in;
	return len + 1;
}

static const struct image_page_run runs_heap[] = {
	{ .vaddr = 0x400000, .off = 4096, .npages = 2, .crc = 0x1234 },
	{ .vaddr = 0x600000, .off = 3 * 4096, .npages = 256, .crc = 0xabcdef01 },
	{ .vaddr = 0x7ffc00020000, .npages = 1, .flags = IMAGE_RUN_ZERO },
};
static const struct image_page_run runs_one[] = {
	{ .vaddr = 0x7ffc00000000, .off = 4096, .npages = 16, .crc = 7 },
};
static const struct image_page_run runs_many[] = {
	{ .vaddr = 0x600000, .off = 4096, .npages = 1, .crc = 1 },
	{ .vaddr = 0x601000, .npages = 3, .flags = IMAGE_RUN_ZERO },
	{ .vaddr = 0x604000, .off = 2 * 4096, .npages = 4, .crc = 2 },
	{ .vaddr = 0x610000, .off = 6 * 4096, .npages = 2, .flags = IMAGE_RUN_INHERITED, .crc = 3 },
	{ .vaddr = 0x6ff000, .off = 8 * 4096, .npages = 1, .crc = 4 },
};

static const struct {
	const char *name;
	const struct image_page_run *runs;
	uint64_t nr;
} samples[] = {
	{ "three-vmas", runs_heap, 3 },
	{ "one-run", runs_one, 1 },
	{ "many-runs", runs_many, 5 },
	{ "empty", NULL, 0 },
};

/* The samples must be accepted, or their edits test only refusals. */
static void check_samples(void)
{
	size_t i, len;
	uint8_t *in;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct image *img;

		len = sample(samples[i].runs, samples[i].nr, &in);
		img = manifest_side(samples[i].nr, len - 1, in + 1);
		if (!img || image_index_decode(img, in + 1, len - 1, IMAGE_PAGE_SIZE * 513)) {
			fprintf(stderr, "fuzz-index: sample %s refused\n", samples[i].name);
			abort();
		}
		image_free(img);
		free(in);
	}
}

static int write_seeds(const char *dir)
{
	size_t i, len;
	uint8_t *in;
	int failed = 0;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		len = sample(samples[i].runs, samples[i].nr, &in);
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
		return run_named_files("fuzz-index", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		len = sample(samples[i].runs, samples[i].nr, &in);
		runs += mutate_sample((const char *)in, len, 5000);
		in[0] |= FIX_CRCS; /* edits that reach the runs themselves */
		runs += mutate_sample((const char *)in, len, 5000);
		free(in);
	}
	runs += run_corpus("tests/fuzz/corpus/index");
	printf("fuzz-index: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
