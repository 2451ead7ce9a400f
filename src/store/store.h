/*
 * store.h - the content-addressed snapshot store: the layer's whole interface.
 *
 * A snapshot directory goes into the store as a manifest plus chunks.  Files
 * are cut into chunks at page-granular, content-defined boundaries (see
 * store-cut.c; docs/store.md has the measurements behind the sizes), so the
 * same memory gives the same chunks wherever it sits in pages.img.  A chunk
 * is addressed by the SHA-256 of its uncompressed bytes; all-zero chunks are
 * never stored; stored chunks carry a small header (store-chunk.c) and are
 * compressed per tier.  A manifest (JSON, store-manifest.c) lists every file
 * and its chunks and is itself stored by the SHA-256 of its bytes; a name is
 * a small mutable file holding a manifest digest.
 *
 * Tiers are read in order - RAM, local disk, remote HTTP - and the tiers in
 * front are filled with what a later tier returned.  A read from the remote
 * tier (and every read of store_verify()) checks the digest; a read from a
 * local tier, whose chunks were verified on the way in, checks their crc (or
 * GCM tag).  A bad copy is discarded and the next tier asked.
 *
 * With a key file, chunks and manifests are encrypted at rest (AES-256-GCM,
 * convergent: the per-chunk key and nonce derive from the plaintext digest,
 * so equal chunks still deduplicate under one key; the chunk is stored under
 * HMAC(key, digest) so the server never sees plaintext digests).
 *
 * Functions return 0 or -errno and log once with the object named.
 */
#ifndef THAW_STORE_STORE_H
#define THAW_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_DIGEST_SIZE 32
#define STORE_DIGEST_HEX (2 * STORE_DIGEST_SIZE + 1)
#define STORE_PAGE 4096u
#define STORE_CHUNK_AVG_DEFAULT (256u << 10) /* docs/store.md: why 256 KiB */
#define STORE_CHUNK_MAX_LIMIT (16u << 20) /* no reader accepts a bigger chunk */
#define STORE_NAME_MAX 128
#define STORE_MAX_FILES 32768 /* files in one snapshot: a tree has five per process */
#define STORE_MAX_FILE_NAME 255
#define STORE_MAX_CHUNKS (1u << 24) /* chunks in one manifest */
#define STORE_MANIFEST_MAX (512u << 20) /* bytes of one manifest */

enum store_codec { STORE_CODEC_NONE = 0, STORE_CODEC_LZ4 = 1, STORE_CODEC_ZSTD = 2 };

struct store_digest {
	uint8_t b[STORE_DIGEST_SIZE];
};

/* One piece of a file.  ZERO: len zero bytes, nothing stored. */
#define STORE_CHUNK_ZERO (1u << 0)
#define STORE_CHUNK_ENCRYPTED (1u << 1)
struct store_chunk_ref {
	struct store_digest digest; /* SHA-256 of the plaintext; zero for ZERO */
	uint64_t off; /* offset in the file (derived: sum of the lengths before) */
	uint32_t len;
	uint32_t flags;
};

struct store_file {
	char *name; /* a plain file name, no '/' */
	uint64_t size;
	uint32_t mode; /* permission bits only */
	uint32_t nr_chunks;
	struct store_chunk_ref *chunks;
};

struct store_manifest {
	uint32_t nr_files;
	struct store_file *files;
	int64_t created; /* seconds since the epoch */
};

struct store_config {
	const char *dir; /* local disk tier: a directory, or NULL */
	uint64_t disk_limit; /* bytes of chunks kept on disk; 0: unbounded */
	const char *url; /* remote tier: http(s)://host/base or s3://bucket/prefix, or NULL */
	const char *s3_endpoint; /* s3://: http(s)://host[:port]; NULL: $THAW_S3_ENDPOINT or AWS */
	const char *s3_style; /* s3://: "path" or "virtual"; NULL: $THAW_S3_STYLE, else by endpoint */
	const char *token; /* bearer token for the remote tier, or NULL */
	uint64_t ram_limit; /* bytes; 0: no RAM tier (one per process, shared by its handles) */
	int disk_codec, disk_level; /* enum store_codec and its level */
	int remote_codec, remote_level;
	const char *key_file; /* 32-byte key (raw or 64 hex digits), or NULL */
	size_t chunk_avg; /* average chunk size, a power of two >= 16 KiB; 0: default */
	unsigned http_parallel; /* concurrent requests; 0: 16 */
	unsigned http_retries; /* retries after a 5xx or timeout; 0: default 4 */
	unsigned http_backoff_ms; /* first retry delay, doubled each time; 0: 100 */
	unsigned http_timeout_ms; /* per request; 0: 30000 */
};

/* Fills a config with the defaults (no tiers). */
void store_config_init(struct store_config *cfg);

struct store;

int store_open(const struct store_config *cfg, struct store **ret)
	__attribute__((warn_unused_result));
void store_close(struct store *store);

/* Digest helpers. */
void store_digest_hex(const struct store_digest *d, char out[STORE_DIGEST_HEX]);
int store_digest_parse(const char *hex, struct store_digest *d);
void store_sha256(const void *data, size_t len, struct store_digest *d);
bool store_name_valid(const char *name);
/* A location that names a remote tier: http://, https:// or s3:// (else a directory). */
bool store_is_remote(const char *location);

/*
 * The remote tier's connections (and name lookups) are made from the network
 * namespace at PATH (/proc/PID/ns/net) instead of the calling thread's: thaw
 * serve runs each worker's thaw run in a namespace with only loopback, and
 * its store is reached from serve's.  0 or -errno (logged).
 */
int store_set_netns(const char *path) __attribute__((warn_unused_result));

/*
 * Writing a file: store_put_buf() cuts data into chunks, stores the ones the
 * store lacks and appends the refs to file; several calls continue the same
 * file (a boundary is forced between calls, so call with large buffers).
 */
int store_put_buf(struct store *store, struct store_file *file, const void *data, size_t len)
	__attribute__((warn_unused_result));

/* Reads len bytes at off of a file described by a manifest; verifies every chunk. */
int store_read_file(struct store *store, const struct store_file *file, uint64_t off,
		    void *buf, size_t len) __attribute__((warn_unused_result));

/* Manifests and names. */
int store_manifest_put(struct store *store, const struct store_manifest *m,
		       struct store_digest *ret) __attribute__((warn_unused_result));
int store_manifest_get(struct store *store, const struct store_digest *d,
		       struct store_manifest **ret) __attribute__((warn_unused_result));
void store_manifest_free(struct store_manifest *m);
int store_name_set(struct store *store, const char *name, const struct store_digest *d)
	__attribute__((warn_unused_result));
int store_name_get(struct store *store, const char *name, struct store_digest *ret)
	__attribute__((warn_unused_result));
/* store_name_get() that leaves -ENOENT (no such name) unsaid, for the caller to say. */
int store_name_lookup(struct store *store, const char *name, struct store_digest *ret)
	__attribute__((warn_unused_result));
/* "store DIR|URL": the store as messages name it */
const char *store_label(struct store *store);
/* Names of the local disk tier (or of the remote tier without one), sorted; free each and the array. */
int store_name_list(struct store *store, char ***ret, size_t *nr)
	__attribute__((warn_unused_result));

/* Removes a name from a local store (its objects stay until gc). */
int store_name_remove(struct store *s, const char *name) __attribute__((warn_unused_result));
/*
 * A writer holds this (shared) from its first chunk to the name that commits
 * them, so that gc (which holds it exclusively) never sweeps what it writes;
 * nothing to hold without a local disk tier.
 */
int store_write_lock(struct store *s) __attribute__((warn_unused_result));
void store_write_unlock(struct store *s);

/* A whole snapshot directory in and out (out: tmp dir + rename, 0700/0600). */
int store_put_dir(struct store *store, const char *dir, const char *name,
		  struct store_digest *ret) __attribute__((warn_unused_result));
int store_get_dir(struct store *store, const char *name, const char *dir)
	__attribute__((warn_unused_result));

/* Maintenance (store-gc.c). */
struct store_usage {
	uint64_t logical; /* bytes of the files the names describe */
	uint64_t nonzero; /* of those, bytes in non-zero chunks */
	uint64_t unique; /* bytes (uncompressed) of distinct chunks */
	uint64_t stored; /* bytes the distinct chunks take on disk */
	uint64_t chunks; /* distinct chunks referenced */
	uint64_t disk_chunks; /* chunk files present on disk */
	uint64_t disk_bytes; /* their size */
};
int store_usage(struct store *store, const char *name, struct store_usage *ret)
	__attribute__((warn_unused_result));
/* Reads and checks every chunk of name (or of every name when NULL); *bad counts failures. */
int store_verify(struct store *store, const char *name, uint64_t *bad)
	__attribute__((warn_unused_result));
/* Sweeps disk objects no name reaches and older than grace seconds. */
int store_gc(struct store *store, int64_t grace, uint64_t *removed, uint64_t *freed)
	__attribute__((warn_unused_result));
/* Copies name and every object it needs from src to dst (stored bytes verbatim). */
int store_copy(struct store *src, struct store *dst, const char *name)
	__attribute__((warn_unused_result));

#endif
