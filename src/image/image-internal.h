/*
 * image-internal.h - what the files of the image layer share and nobody else
 * needs: the semantic checks that both the reader (on untrusted bytes) and the
 * writer (so that it never publishes what the reader would refuse) run.
 */
#ifndef THAW_IMAGE_IMAGE_INTERNAL_H
#define THAW_IMAGE_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

/* Little-endian integers of the binary files (pages.idx, workset.idx). */
static inline void image_put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void image_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t image_get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t image_get_le64(const unsigned char *p)
{
	return (uint64_t)image_get_le32(p) | (uint64_t)image_get_le32(p + 4) << 32;
}

/* Elements allocated for an array of n: growers double from here. */
size_t image_array_capacity(size_t n);

/*
 * Checks every count, index, address, path and enum of a parsed or built
 * image (not the page runs, not blob ranges against data.img).  Writes the
 * first problem to err and returns -EINVAL; silent otherwise.
 */
int image_validate(const struct image *img, char *err, size_t errlen);

/* Checks every blob of img lies inside a data.img of data_size bytes. */
int image_validate_blobs(const struct image *img, uint64_t data_size, char *err, size_t errlen);

/*
 * Checks the page runs: aligned, sorted, non-overlapping, each inside one
 * VMA and, for runs with bytes, inside a pages.img of pages_size bytes.
 */
int image_validate_runs(const struct image *img, uint64_t pages_size, char *err, size_t errlen);

/* The pid of a part named "proc-PID/manifest.json" (one spelling only), or -1. */
int image_part_pid(const char *name);

/*
 * Calls fn for every blob of img (the hand-written fields and the tables'),
 * with a name for people; stops at the first non-zero return.
 */
int image_for_each_blob(const struct image *img,
			int (*fn)(void *arg, const char *what, const struct image_blob *b),
			void *arg);

/*
 * Headers (docs/image-format.md).  pages.img starts with one header page and
 * data.img with a 32-byte header: magic, u32 version, 4 reserved bytes, the
 * snapshot's id, then zeros; run and blob offsets count from the file's
 * start.  pages.idx has a header of its own (image.c).
 */
#define IMAGE_PAGES_MAGIC "THAWPAGE"
#define IMAGE_DATA_MAGIC "THAWDATA"
#define IMAGE_IDX_MAGIC "THAWIDX1"
#define IMAGE_HEADER_ID_OFF 16u
#define IMAGE_DATA_HEADER_SIZE 32u
#define IMAGE_IDX_HEADER_SIZE 48u
#define IMAGE_IDX_ID_OFF 24u
#define IMAGE_IDX_ENTRY_SIZE 32u
#define IMAGE_MAX_MANIFEST (256u << 20)

/* pages.idx of img->runs (docs/image-format.md), calloc'd: the caller frees it. */
unsigned char *image_index_encode(const struct image *img, size_t *ret_size);
/*
 * pages.idx's len bytes into img->runs: a header of this snapshot (magic,
 * version, zero reserved bytes, its id, crc) holding as many runs as the
 * manifest says (img->nr_runs) and as the bytes hold; the entries' crc, zero
 * padding and SHA-256 against the manifest's record of pages.idx; each run
 * in one VMA, sorted, within pages_size (pages.img's size).  -EINVAL said,
 * naming the snapshot, with img->nr_runs 0.
 */
int image_index_decode(struct image *img, const unsigned char *idx, size_t len,
		       uint64_t pages_size);

/* ---- image-bind.c: what binds the files of a snapshot together ---- */

int image_sha256(const void *p, size_t len, uint8_t out[IMAGE_SHA256_SIZE]);
/* The SHA-256 of a followed by b (blen may be 0). */
int image_sha256_parts(const void *a, size_t alen, const void *b, size_t blen,
		       uint8_t out[IMAGE_SHA256_SIZE]);
/* Writing: a fresh random id, and SHA-256 contexts for pages.img and data.img. */
int image_hash_begin(struct image *img);
int image_hash_append(struct image_hash *h, const void *p, size_t len);
void image_hash_end(struct image *img);
/* A pages.img or data.img header: magic, version, reserved zero, id (the rest left alone). */
void image_put_header(unsigned char *h, const char *magic, const uint8_t id[IMAGE_ID_SIZE]);
/* Checks such a header of len bytes: magic, version, id, and zero everywhere else. */
int image_check_header(const struct image *img, const char *file, const unsigned char *h,
		       size_t len, const char *magic);
/* Publishing: fills img->parts from the index built, the hashes and the children's manifests. */
int image_bind(struct image *img, const void *idx, size_t idx_len);
const struct image_part *image_find_part(const struct image *img, const char *name);
/* Reading: the manifest binds its own three files and exactly its live children's manifests. */
int image_check_bound(const struct image *img);
/* A file's size (and SHA-256, unless NULL) against its part; logs a mismatch. */
int image_check_part(const struct image *img, const char *name, uint64_t size,
		     const uint8_t *sha256);
/* image_read() of a directory already opened and checked (dir_fd is taken over). */
int image_read_at(int dir_fd, const char *dir, struct image **ret_img);

#endif
