/*
 * store-internal.h - what the files of the store layer share: the growable
 * buffer, the chunk codec, the tier interface and the store object.
 *
 * Tiers that keep stored bytes (disk, HTTP) implement struct store_tier_ops
 * and deal only in opaque objects named by a hex id; everything that knows
 * what the bytes mean (headers, compression, encryption, digests) is in
 * store-chunk.c and store.c, so a tier cannot hand out unverified data.
 */
#ifndef THAW_STORE_STORE_INTERNAL_H
#define THAW_STORE_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_ID_MAX 65 /* hex id + NUL */
#define CHUNK_HEADER_SIZE 24
#define CHUNK_TAG_SIZE 16
#define STORE_NAME_FILE_MAX 128

struct store_buf {
	uint8_t *data;
	size_t len, cap;
};
int store_buf_reserve(struct store_buf *b, size_t cap);
void store_buf_release(struct store_buf *b);

enum store_obj { STORE_OBJ_CHUNK, STORE_OBJ_MANIFEST };

struct store_tier;
struct store_tier_ops {
	/* -ENOENT when absent; out is filled (bounded by max) otherwise */
	int (*get)(struct store_tier *t, int kind, const char *id, size_t max,
		   struct store_buf *out);
	/* optional, chunks of a local tier: 1 header in out, plain body in plain; 0 as get */
	int (*get_plain)(struct store_tier *t, const char *id, size_t max, struct store_buf *out,
			 void *plain, size_t plain_len);
	int (*put)(struct store_tier *t, int kind, const char *id, const void *data, size_t len);
	/* 1 present (and refreshed for gc), 0 absent, < 0 error */
	int (*has)(struct store_tier *t, int kind, const char *id);
	void (*discard)(struct store_tier *t, int kind, const char *id);
	int (*name_get)(struct store_tier *t, const char *name, struct store_buf *out);
	int (*name_set)(struct store_tier *t, const char *name, const void *data, size_t len);
	/* optional batch forms (HTTP: concurrent requests); rcs[i] as the single forms */
	void (*get_many)(struct store_tier *t, int kind, size_t n, char (*ids)[STORE_ID_MAX],
			 size_t max, struct store_buf *outs, int *rcs);
	void (*has_many)(struct store_tier *t, int kind, size_t n, char (*ids)[STORE_ID_MAX],
			 int *rcs);
	void (*put_many)(struct store_tier *t, int kind, size_t n, char (*ids)[STORE_ID_MAX],
			 const struct store_buf *datas, int *rcs);
	/* optional: the names it holds (valid ones only), unsorted */
	int (*names)(struct store_tier *t, char ***ret, size_t *nr);
	/* optional, a remote tier's gc: every object of kind with its age and size; removal */
	int (*scan)(struct store_tier *t, int kind,
		    int (*fn)(const char *id, int64_t modified, uint64_t size, void *arg), void *arg);
	void (*remove_many)(struct store_tier *t, int kind, size_t n, char (*ids)[STORE_ID_MAX],
			    int *rcs);
	void (*free)(struct store_tier *t);
};

struct store_tier {
	const struct store_tier_ops *ops;
	char label[256]; /* "store DIR|URL", or "cache DIR" in front of a URL: for messages */
	int codec, level;
	/*
	 * Local: what it holds was verified (SHA-256) on the way in and is kept
	 * where only its owner can write (src/base/trust.c); reads check the crc
	 * (or GCM tag), not the digest.  A remote tier's copies are rehashed.
	 */
	bool local;
	bool sweepable; /* a remote tier whose scan and remove_many work (S3): gc_remote() */
};

struct store_tier *store_disk_open(const char *dir, uint64_t limit, bool cache);
int store_disk_lock(struct store_tier *t, bool exclusive);
void store_disk_unlock(struct store_tier *t);
/* calls fn for every object file of kind; stops on a non-zero return */
int store_disk_scan(struct store_tier *t, int kind,
		    int (*fn)(const char *id, const char *path, void *arg), void *arg);
bool store_tier_is_disk(const struct store_tier *t);
const char *store_disk_root(struct store_tier *t);

struct store_tier *store_http_open(const struct store_config *cfg);

/* S3 (store-s3.c): where s3://BUCKET/PREFIX lives and who signs for it. */
struct store_s3 {
	char bucket[64];
	char prefix[520]; /* "" or "a/b/" */
	char bucket_url[2048]; /* ENDPOINT/BUCKET (path style) or scheme://BUCKET.host */
	char region[64];
	char sigv4[96]; /* CURLOPT_AWS_SIGV4: "aws:amz:REGION:s3" */
	char key_id[256], secret[256], token[2048];
};
/* Fills s3 from cfg and the environment; base gets the URL objects hang off. */
int store_s3_config(const struct store_config *cfg, struct store_s3 *s3, char *base,
		    size_t cap);
#define S3_LIST_PAGE_MAX 1000 /* keys in one ListObjectsV2 answer (max-keys) */
/*
 * A writer that finds an object older than this has S3 copy it onto itself
 * (its age starts again), so gc's grace period, at least twice this, covers
 * a writer for this long between finding an object and naming what uses it.
 */
#define S3_REFRESH_AGE 1800
/* S3_REFRESH_AGE, or $THAW_S3_REFRESH_AGE (seconds, for the tests) */
int64_t store_s3_refresh_age(void);
#define S3_XML_MAX (4u << 20) /* bytes of one XML answer */
struct s3_list_entry {
	char key[1025];
	int64_t modified; /* seconds since the epoch; -1 unknown */
	uint64_t size; /* as the server says: for the figures gc prints */
};
struct s3_list_page {
	size_t nr;
	bool truncated;
	char next_token[1025];
	struct s3_list_entry v[S3_LIST_PAGE_MAX];
};
int store_s3_parse_list(const void *xml, size_t len, struct s3_list_page *page);
/* An S3 error document's Code ("" when it is not one). */
void store_s3_error_code(const void *xml, size_t len, char *code, size_t cap);
int store_s3_encode(const char *in, bool keep_slash, char *out, size_t cap);
/* Has libcurl sign every request of the easy handle h (a CURL *) with SigV4. */
void store_s3_sign(const struct store_s3 *s3, void *h);

/* RAM tier: plaintext chunks by object id, LRU bounded by bytes. */
struct store_ram;
struct store_ram *store_ram_new(uint64_t limit);
/* The process's RAM tier, which every store handle with a ram_limit shares (the largest limit). */
struct store_ram *store_ram_shared(uint64_t limit);
void store_ram_free(struct store_ram *r);
bool store_ram_get(struct store_ram *r, const char *id, void *out, size_t len);
void store_ram_put(struct store_ram *r, const char *id, const void *data, size_t len);

/* Page-granular content-defined cutting (store-cut.c). */
size_t store_cut_next(const uint8_t *data, size_t len, size_t avg);
bool store_is_zero(const void *data, size_t len);

/* Encryption key material (store-crypt.c). */
struct store_key {
	uint8_t k[32];
};
int store_key_load(const char *path, struct store_key *key);
void store_key_object_id(const struct store_key *key, const struct store_digest *d,
			 char id[STORE_ID_MAX]);
int store_seal(const struct store_key *key, const char *label, const uint8_t nonce[12],
	       const void *aad, size_t aad_len, const void *in, size_t len, uint8_t *out);
int store_open_sealed(const struct store_key *key, const char *label, const uint8_t nonce[12],
		      const void *aad, size_t aad_len, const void *in, size_t len, uint8_t *out);
void store_key_derive(const struct store_key *key, const char *label, const void *data,
		      size_t len, uint8_t out[32]);

/* Chunk codec (store-chunk.c).  encode: plaintext -> header + stored bytes. */
int store_chunk_encode(const struct store_key *key, int codec, int level,
		       const struct store_chunk_ref *ref, const void *plain, struct store_buf *out);
/*
 * decode: checks header, crc, decrypts, decompresses into out (ref->len) and,
 * with rehash, the SHA-256 (without: a copy from a local tier, the crc and a
 * GCM tag are the checks; docs/store.md "Trust");
 * returns -EBADMSG (corrupt), -EKEYREJECTED (GCM tag), -ENOKEY; why names the failure
 */
int store_chunk_decode(const struct store_key *key, const struct store_chunk_ref *ref,
		       const void *stored, size_t len, void *out, bool rehash, const char **why);
size_t store_chunk_stored_max(size_t raw);
/* codec of an encoded chunk, or -1 */
int store_chunk_codec(const void *stored, size_t len);
bool store_chunk_encrypted(const void *header);
/* checks a plain chunk read as header + body apart (get_plain): header, sizes, body crc */
int store_chunk_check_plain(const struct store_chunk_ref *ref, const void *header,
			    const void *body, const char **why);

struct store {
	struct store_config cfg;
	size_t chunk_avg;
	struct store_ram *ram;
	struct store_tier *tiers[2]; /* disk, then remote; the last is the origin */
	size_t nr_tiers;
	bool has_key;
	struct store_key key;
	const char *context; /* "snapshot NAME" while a named operation runs */
	bool rehash; /* check every chunk's SHA-256, from local tiers too (verify, copy) */
	/*
	 * If set, a chunk that a tier behind the first had is offered here
	 * (verified, with its stored bytes) instead of being written to the
	 * tiers in front; true: taken (stored is then empty), the caller fills
	 * it in later with store_disk_fill_stored().
	 */
	bool (*keep_fetched)(void *arg, const char *id, const struct store_chunk_ref *ref,
			     struct store_buf *stored);
	void *keep_fetched_arg;
};

void store_object_id(const struct store *s, const struct store_chunk_ref *ref,
		     char id[STORE_ID_MAX]);
/* Reads n chunks into outs (each ref->len bytes), through the tiers. */
int store_read_chunks(struct store *s, const char *file, const struct store_chunk_ref *refs,
		      size_t n, uint8_t **outs);
/* Writes a chunk kept by keep_fetched into the disk tier (re-encoded for its codec). */
int store_disk_fill_stored(struct store *s, const char *id, const struct store_chunk_ref *ref,
			   const struct store_buf *stored);
struct store_tier *store_origin(struct store *s);
struct store_tier *store_disk_tier(struct store *s);
int store_manifest_encode(const struct store_manifest *m, struct store_buf *out);
int store_manifest_decode(const char *what, const void *data, size_t len,
			  struct store_manifest **ret);
int store_manifest_get_bytes(struct store *s, const struct store_digest *d,
			     struct store_buf *out);

/* store-dir.c: a tree's snapshot keeps each other process's files in a subdirectory */
int store_make_subdirs(int dfd, const struct store_manifest *m, const char *dir);
void store_remove_files(int dfd, const struct store_manifest *m);

#endif
