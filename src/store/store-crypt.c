/*
 * store-crypt.c - encryption at rest: the key, derivations, AES-256-GCM.
 *
 * Convergent encryption, so that equal chunks still deduplicate under one
 * key: a chunk's AES key and nonce are HMAC-SHA256(key, label || digest) of
 * its plaintext digest, and it is stored under HMAC(key, "id" || digest),
 * which tells the server nothing about the plaintext digest.  The price of
 * convergence is that someone with the key can tell whether a store holds a
 * given chunk; without it the store leaks only sizes and equality.
 */
#define LOG_TAG "store"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/keyfile.h"
#include "base/log.h"
#include "store/store-internal.h"

/* A key file holds 32 raw bytes or 64 hex digits (base/keyfile.h). */
int store_key_load(const char *path, struct store_key *key)
{
	return key_file_load(path, key->k);
}

void store_key_derive(const struct store_key *key, const char *label, const void *data,
		      size_t len, uint8_t out[32])
{
	uint8_t msg[64 + 64];
	size_t l = strlen(label);
	unsigned int olen = 32;

	if (l > 64)
		l = 64;
	if (len > 64)
		len = 64;
	memcpy(msg, label, l);
	memcpy(msg + l, data, len);
	HMAC(EVP_sha256(), key->k, sizeof(key->k), msg, l + len, out, &olen);
}

void store_key_object_id(const struct store_key *key, const struct store_digest *d,
			 char id[STORE_ID_MAX])
{
	struct store_digest h;

	store_key_derive(key, "thaw chunk id", d->b, sizeof(d->b), h.b);
	store_digest_hex(&h, id);
}

static int gcm(bool enc, const struct store_key *key, const char *label, const uint8_t nonce[12],
	       const void *aad, size_t aad_len, const void *in, size_t len, uint8_t *out)
{
	uint8_t k[32];
	EVP_CIPHER_CTX *ctx;
	int n, rc = -EIO;

	if (len > INT32_MAX)
		return -EFBIG;
	store_key_derive(key, label, nonce, 12, k);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, k, nonce, enc) != 1)
		goto out;
	if (aad_len && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (enc) {
		if (EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 ||
		    EVP_CipherFinal_ex(ctx, out + n, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CHUNK_TAG_SIZE, out + len) != 1)
			goto out;
	} else {
		if (len < CHUNK_TAG_SIZE)
			goto bad;
		len -= CHUNK_TAG_SIZE;
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CHUNK_TAG_SIZE,
					(uint8_t *)in + len) != 1 ||
		    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
			goto out;
		if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1)
			goto bad;
	}
	rc = 0;
	goto out;
bad:
	rc = -EKEYREJECTED;
out:
	OPENSSL_cleanse(k, sizeof(k));
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/*
 * The AES key is derived from the master key, the label and the nonce; for
 * chunks the nonce itself derives from the digest, so one key per content.
 * out holds len + 16 bytes (the tag goes last).
 */
int store_seal(const struct store_key *key, const char *label, const uint8_t nonce[12],
	       const void *aad, size_t aad_len, const void *in, size_t len, uint8_t *out)
{
	return gcm(true, key, label, nonce, aad, aad_len, in, len, out);
}

/* in is ciphertext + tag; out holds len - 16 bytes; -EKEYREJECTED when the tag fails. */
int store_open_sealed(const struct store_key *key, const char *label, const uint8_t nonce[12],
		      const void *aad, size_t aad_len, const void *in, size_t len, uint8_t *out)
{
	return gcm(false, key, label, nonce, aad, aad_len, in, len, out);
}
