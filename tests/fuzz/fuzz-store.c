/*
 * fuzz-store.c - fuzz target for what the chunk store reads from its tiers:
 * snapshot manifests (store_manifest_decode) and stored chunks with their
 * headers (store_chunk_decode: header, crc, codec, decompression, digest).
 *
 * Input: one byte that chooses, then
 *   even: a manifest's bytes;
 *   odd:  the chunk's plaintext length (4 bytes, little-endian, at most
 *         1 MiB), the SHA-256 its plaintext must have (32 bytes), then the
 *         stored chunk as a tier would hand it over; with bit 1 set as well,
 *         the manifest says it is encrypted and the store has a key (a
 *         fixed one, which the encrypted seeds were sealed with).
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/store/ (written by
 * the standalone build: fuzz-store --seeds DIR).  With
 * -DFUZZ_STANDALONE, tests/fuzz/standalone.h drives it over built-in samples
 * (a manifest, and one chunk per codec, plain and encrypted).  Beyond "no crash": an accepted
 * manifest encodes and decodes back to the same bytes; a chunk that decodes
 * has the digest it was asked for.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/store-internal.h"
#include "store/store.h"

#define MAX_PLAIN (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_manifest(const uint8_t *data, size_t size)
{
	struct store_manifest *m = NULL, *again = NULL;
	struct store_buf b1 = { 0 }, b2 = { 0 };

	if (store_manifest_decode("fuzz", data, size, &m))
		return;
	if (store_manifest_encode(m, &b1) || store_manifest_decode("fuzz", b1.data, b1.len, &again) ||
	    store_manifest_encode(again, &b2))
		abort(); /* the store must read back what it writes */
	if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len))
		abort();
	store_buf_release(&b1);
	store_buf_release(&b2);
	store_manifest_free(m);
	store_manifest_free(again);
}

static const struct store_key fixed_key = { { 't', 'h', 'a', 'w', ' ', 'f', 'u', 'z', 'z', ' ',
						'k', 'e', 'y' } };

static void fuzz_chunk(const uint8_t *data, size_t size, bool encrypted)
{
	struct store_chunk_ref ref = { 0 };
	struct store_digest got;
	const char *why = NULL;
	uint32_t len;
	uint8_t *out;
	int ret;

	if (size < 4 + sizeof(ref.digest))
		return;
	memcpy(&len, data, 4);
	if (len > MAX_PLAIN)
		return;
	ref.len = len;
	ref.flags = encrypted ? STORE_CHUNK_ENCRYPTED : 0;
	memcpy(&ref.digest, data + 4, sizeof(ref.digest));
	data += 4 + sizeof(ref.digest);
	size -= 4 + sizeof(ref.digest);
	out = malloc(len ? len : 1);
	if (!out)
		return;
	/* as a local tier reads it (crc, no rehash): only memory safety to check */
	if (store_chunk_decode(encrypted ? &fixed_key : NULL, &ref, data, size, out, false, &why) &&
	    (!why || !*why))
		abort();
	ret = store_chunk_decode(encrypted ? &fixed_key : NULL, &ref, data, size, out, true, &why);
	if (ret == 0) {
		store_sha256(out, len, &got);
		if (memcmp(&got, &ref.digest, sizeof(got)))
			abort(); /* decoded bytes that are not what was asked for */
	} else if (!why || !*why) {
		abort(); /* a refusal always says why */
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees a read one byte past the input */
	uint8_t *copy;

	log_set_level(-1); /* refusals are the point: no line each */
	if (!size)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (copy[0] & 1)
		fuzz_chunk(copy + 1, size - 1, copy[0] & 2);
	else
		fuzz_manifest(copy + 1, size - 1);
	free(copy);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '"', '{', '}', '[', ']', ':', ',', '0', '9', 'f', '\0', '\xff', '\x80', '\x01'
#include "standalone.h"

/* A sample input: selector byte, then the bytes of what it chooses. */
static size_t sample_chunk(int codec, bool encrypted, uint8_t **ret)
{
	static char plain[9000];
	struct store_chunk_ref ref = { 0 };
	struct store_buf stored = { 0 };
	uint32_t len = sizeof(plain);
	uint8_t *in;
	size_t i;

	for (i = 0; i < sizeof(plain); i++)
		plain[i] = (char)("thaw chunk "[i % 11] + (i / 1000));
	ref.len = len;
	ref.flags = encrypted ? STORE_CHUNK_ENCRYPTED : 0;
	store_sha256(plain, len, &ref.digest);
	if (store_chunk_encode(encrypted ? &fixed_key : NULL, codec, 1, &ref, plain, &stored))
		abort();
	{
		static char back[sizeof(plain)];
		const char *why = NULL;

		/* the sample itself must decode, or the mutations test only refusals */
		if (store_chunk_decode(encrypted ? &fixed_key : NULL, &ref, stored.data, stored.len,
				       back, true, &why) ||
		    memcmp(back, plain, sizeof(plain)))
			abort();
	}
	in = malloc(1 + 4 + sizeof(ref.digest) + stored.len);
	if (!in)
		abort();
	in[0] = encrypted ? 3 : 1;
	memcpy(in + 1, &len, 4);
	memcpy(in + 5, &ref.digest, sizeof(ref.digest));
	memcpy(in + 5 + sizeof(ref.digest), stored.data, stored.len);
	*ret = in;
	i = 5 + sizeof(ref.digest) + stored.len;
	store_buf_release(&stored);
	return i;
}

/* A manifest as the store writes it: two files, a zero chunk, a data chunk. */
static size_t sample_manifest(uint8_t **ret)
{
	struct store_chunk_ref chunks[2] = { { .len = 20 }, { .len = 8192, .flags = STORE_CHUNK_ZERO } };
	struct store_file files[2] = { { .name = "manifest.json", .size = 20, .mode = 0600,
					 .nr_chunks = 1, .chunks = &chunks[0] },
				       { .name = "pages.img", .size = 8192, .mode = 0600,
					 .nr_chunks = 1, .chunks = &chunks[1] } };
	struct store_manifest m = { .nr_files = 2, .files = files, .created = 1764800000 };
	struct store_buf b = { 0 };
	uint8_t *in;
	size_t len;

	store_sha256("twenty bytes of data", 20, &chunks[0].digest);
	chunks[1].off = 0;
	if (store_manifest_encode(&m, &b))
		abort();
	{
		struct store_manifest *back = NULL;

		if (store_manifest_decode("sample", b.data, b.len, &back))
			abort(); /* the sample itself must be accepted */
		store_manifest_free(back);
	}
	in = malloc(1 + b.len);
	if (!in)
		abort();
	in[0] = 0;
	memcpy(in + 1, b.data, b.len);
	len = 1 + b.len;
	store_buf_release(&b);
	*ret = in;
	return len;
}

int main(int argc, char **argv)
{
	static const int codecs[] = { STORE_CODEC_NONE, STORE_CODEC_LZ4, STORE_CODEC_ZSTD };
	static const char *const names[] = { "chunk-none",	   "chunk-none-encrypted",
					     "chunk-lz4",	   "chunk-lz4-encrypted",
					     "chunk-zstd",	   "chunk-zstd-encrypted" };
	const char *seeds = argc == 3 && !strcmp(argv[1], "--seeds") ? argv[2] : NULL;
	size_t runs = 0, i, len;
	uint8_t *in;
	int failed = 0;

	if (argc > 1 && !seeds)
		return run_named_files("fuzz-store", argc, argv);
	len = sample_manifest(&in);
	if (seeds)
		failed |= write_seed(seeds, "manifest", in, len);
	else
		runs += mutate_sample((const char *)in, len, 20000);
	free(in);
	for (i = 0; i < 2 * sizeof(codecs) / sizeof(codecs[0]); i++) {
		len = sample_chunk(codecs[i / 2], i % 2, &in);
		if (seeds)
			failed |= write_seed(seeds, names[i], in, len);
		else
			runs += mutate_sample((const char *)in, len, 3000);
		free(in);
	}
	if (seeds)
		return failed;
	runs += run_corpus("tests/fuzz/corpus/store");
	printf("fuzz-store: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
