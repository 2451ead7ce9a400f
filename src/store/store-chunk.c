/*
 * store-chunk.c - a chunk as stored in a tier: header, compression,
 * encryption, and the checks every read makes.
 *
 * Layout (little-endian), then stored_size bytes:
 *   0  "THCK"     4  version (1)  5  codec  6  flags (1: encrypted)  7  0
 *   8  raw_size   12 stored_size  16 crc32c(stored bytes)  20 crc32c(bytes 0..19)
 * The crc catches a torn or flipped copy cheaply before any decompressor
 * sees it.  The SHA-256 of the decompressed bytes (the id: the only thing a
 * tier cannot forge) is checked when the bytes cross a trust boundary (a
 * remote tier, `thaw store verify`, a copy between stores); a copy read back
 * from a local tier was checked that way on its way in and is checked with
 * the crc alone (docs/store.md, "Trust").  An encrypted chunk holds
 * AES-256-GCM(compressed) + tag, with header bytes 0..11 as associated data,
 * which authenticates it on every read.
 */
#include <errno.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>

#include "base/crc32c.h"
#include "store/store-internal.h"

#define CHUNK_MAGIC "THCK"
#define CHUNK_VERSION 1
#define CHUNK_FLAG_ENCRYPTED 1u

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t store_chunk_stored_max(size_t raw)
{
	size_t lz = (size_t)LZ4_compressBound((int)raw), zs = ZSTD_compressBound(raw);

	return (lz > zs ? lz : zs) + CHUNK_TAG_SIZE + CHUNK_HEADER_SIZE;
}

int store_chunk_codec(const void *stored, size_t len)
{
	const uint8_t *h = stored;

	if (len < CHUNK_HEADER_SIZE || memcmp(h, CHUNK_MAGIC, 4))
		return -1;
	return h[5];
}

bool store_chunk_encrypted(const void *header)
{
	return ((const uint8_t *)header)[6] & CHUNK_FLAG_ENCRYPTED;
}

/* The header's own checks, and the sizes it states against the manifest. */
static int check_header(const uint8_t *h, const struct store_chunk_ref *ref, const char **why)
{
	*why = "bad header";
	if (memcmp(h, CHUNK_MAGIC, 4) || h[4] != CHUNK_VERSION || h[5] > STORE_CODEC_ZSTD ||
	    (h[6] & ~CHUNK_FLAG_ENCRYPTED) || h[7] || get32(h + 20) != crc32c(h, 20))
		return -EBADMSG;
	*why = "size does not match the manifest";
	if (get32(h + 8) != ref->len || ref->len == 0 || ref->len > STORE_CHUNK_MAX_LIMIT)
		return -EBADMSG;
	return 0;
}

int store_chunk_check_plain(const struct store_chunk_ref *ref, const void *header,
			    const void *body, const char **why)
{
	const uint8_t *h = header;
	int rc = check_header(h, ref, why);

	if (rc)
		return rc;
	*why = "not a plain chunk";
	if (h[5] != STORE_CODEC_NONE || (h[6] & CHUNK_FLAG_ENCRYPTED) ||
	    (ref->flags & STORE_CHUNK_ENCRYPTED) || get32(h + 12) != ref->len)
		return -EBADMSG;
	*why = "crc mismatch";
	if (get32(h + 16) != crc32c_long(body, ref->len))
		return -EBADMSG;
	*why = NULL;
	return 0;
}

static void chunk_nonce(const struct store_key *key, const struct store_digest *d,
			uint8_t nonce[12])
{
	uint8_t h[32];

	store_key_derive(key, "thaw chunk nonce", d->b, sizeof(d->b), h);
	memcpy(nonce, h, 12);
}

static size_t compress(int codec, int level, const void *in, size_t len, uint8_t *out,
		       size_t cap)
{
	size_t n;

	switch (codec) {
	case STORE_CODEC_LZ4:
		n = (size_t)LZ4_compress_fast(in, (char *)out, (int)len, (int)cap,
					      level > 0 ? level : 1);
		return n;
	case STORE_CODEC_ZSTD:
		n = ZSTD_compress(out, cap, in, len, level ? level : 3);
		return ZSTD_isError(n) ? 0 : n;
	}
	return 0;
}

int store_chunk_encode(const struct store_key *key, int codec, int level,
		       const struct store_chunk_ref *ref, const void *plain, struct store_buf *out)
{
	size_t cap = store_chunk_stored_max(ref->len), n = 0;
	uint8_t *h, *body, nonce[12];
	struct store_buf tmp = { 0 };
	int rc;

	if (ref->len == 0 || ref->len > STORE_CHUNK_MAX_LIMIT)
		return -EINVAL;
	rc = store_buf_reserve(out, cap);
	if (rc)
		return rc;
	h = out->data;
	body = h + CHUNK_HEADER_SIZE;
	if (codec != STORE_CODEC_NONE) {
		if (key) {
			rc = store_buf_reserve(&tmp, cap);
			if (rc)
				return rc;
			n = compress(codec, level, plain, ref->len, tmp.data, cap);
		} else {
			n = compress(codec, level, plain, ref->len, body, cap - CHUNK_HEADER_SIZE);
		}
	}
	if (n == 0 || n >= ref->len) { /* incompressible: keep it plain */
		codec = STORE_CODEC_NONE;
		n = ref->len;
		if (!key)
			memcpy(body, plain, n);
	}
	memcpy(h, CHUNK_MAGIC, 4);
	h[4] = CHUNK_VERSION;
	h[5] = (uint8_t)codec;
	h[6] = key ? CHUNK_FLAG_ENCRYPTED : 0;
	h[7] = 0;
	put32(h + 8, ref->len);
	if (key) {
		chunk_nonce(key, &ref->digest, nonce);
		rc = store_seal(key, "thaw chunk key", nonce, h, 12,
				codec == STORE_CODEC_NONE ? plain : tmp.data, n, body);
		store_buf_release(&tmp);
		if (rc)
			return rc;
		n += CHUNK_TAG_SIZE;
	}
	put32(h + 12, (uint32_t)n);
	put32(h + 16, crc32c_long(body, n));
	put32(h + 20, crc32c(h, 20));
	out->len = CHUNK_HEADER_SIZE + n;
	return 0;
}

static int decompress(int codec, const uint8_t *in, size_t n, void *out, size_t raw)
{
	size_t got;

	switch (codec) {
	case STORE_CODEC_NONE:
		if (n != raw)
			return -EBADMSG;
		memcpy(out, in, n);
		return 0;
	case STORE_CODEC_LZ4:
		return LZ4_decompress_safe((const char *)in, out, (int)n, (int)raw) == (int)raw ?
			       0 :
			       -EBADMSG;
	case STORE_CODEC_ZSTD:
		got = ZSTD_decompress(out, raw, in, n);
		return !ZSTD_isError(got) && got == raw ? 0 : -EBADMSG;
	}
	return -EBADMSG;
}

int store_chunk_decode(const struct store_key *key, const struct store_chunk_ref *ref,
		       const void *stored, size_t len, void *out, bool rehash, const char **why)
{
	const uint8_t *h = stored, *body = h + CHUNK_HEADER_SIZE;
	struct store_buf tmp = { 0 };
	struct store_digest d;
	uint8_t nonce[12];
	uint32_t raw, n;
	int codec, rc;

	*why = "short header";
	if (len < CHUNK_HEADER_SIZE)
		return -EBADMSG;
	rc = check_header(h, ref, why);
	if (rc)
		return rc;
	raw = get32(h + 8);
	n = get32(h + 12);
	codec = h[5];
	*why = "truncated";
	if (n != len - CHUNK_HEADER_SIZE || n > store_chunk_stored_max(raw))
		return -EBADMSG;
	/*
	 * Anything a decompressor or the cipher will parse is crc-checked
	 * first.  A plain (codec none, unencrypted) body that is rehashed is
	 * the chunk itself, checked by its SHA-256 below: the crc would check
	 * the same bytes again, weaker.  Without the rehash the crc is the check.
	 */
	*why = "crc mismatch";
	if ((!rehash || h[5] != STORE_CODEC_NONE || (h[6] & CHUNK_FLAG_ENCRYPTED)) &&
	    get32(h + 16) != crc32c_long(body, n))
		return -EBADMSG;
	if (!!(h[6] & CHUNK_FLAG_ENCRYPTED) != !!(ref->flags & STORE_CHUNK_ENCRYPTED)) {
		*why = "encryption flag does not match the manifest";
		return -EBADMSG;
	}
	if (h[6] & CHUNK_FLAG_ENCRYPTED) {
		*why = "encrypted, and no key given";
		if (!key)
			return -ENOKEY;
		*why = "bad size";
		if (n < CHUNK_TAG_SIZE)
			return -EBADMSG;
		rc = store_buf_reserve(&tmp, n);
		if (rc)
			return rc;
		chunk_nonce(key, &ref->digest, nonce);
		rc = store_open_sealed(key, "thaw chunk key", nonce, h, 12, body, n, tmp.data);
		if (rc) {
			*why = "wrong key or corrupted (GCM tag check failed)";
			store_buf_release(&tmp);
			return rc == -EKEYREJECTED ? rc : -EBADMSG;
		}
		body = tmp.data;
		n -= CHUNK_TAG_SIZE;
	}
	*why = "does not decompress";
	if (codec == STORE_CODEC_NONE && rehash) {
		/* hash the body while it is still in the cache from the read, then copy */
		rc = n == raw ? 0 : -EBADMSG;
		if (!rc)
			store_sha256(body, raw, &d);
		if (!rc && !memcmp(d.b, ref->digest.b, sizeof(d.b)))
			memcpy(out, body, raw);
	} else {
		rc = decompress(codec, body, n, out, raw);
		if (!rc && rehash)
			store_sha256(out, raw, &d);
	}
	store_buf_release(&tmp);
	if (rc)
		return rc;
	*why = "SHA-256 mismatch";
	if (rehash && memcmp(d.b, ref->digest.b, sizeof(d.b)))
		return -EBADMSG;
	*why = NULL;
	return 0;
}
