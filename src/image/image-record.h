/*
 * image-record.h - records of the manifest described once, as tables.
 *
 * Each kind of state a snapshot keeps (credentials, process attributes,
 * timers, locks, ...) is a C struct in image.h and one struct image_record
 * here: a table of its fields with their JSON names, types, places in the
 * struct and bounds.  One encoder and one decoder (image-manifest.c) walk the
 * table, so a field is named once and the writer and the reader cannot
 * drift; the decoder bounds every value before it lands in the struct.  What
 * a table cannot say (one field constraining another) goes into the
 * record's check().
 *
 * A section (struct image_section) hangs a record off struct image, once or
 * as an array, under a key of the manifest's top level.  image_sections[]
 * is the one list of them: the manifest codec, image_free() and the blob
 * checks all walk it, so a new kind of state is a struct, a record and one
 * line in that list.
 *
 * Layer-private: nothing outside src/image/ includes this.
 */
#ifndef THAW_IMAGE_IMAGE_RECORD_H
#define THAW_IMAGE_IMAGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

enum image_ftype {
	IMAGE_F_U32, /* uint32_t, decimal, in [min, max] */
	IMAGE_F_U64, /* uint64_t, decimal (or "0x..." past INT64_MAX), in [min, max] */
	IMAGE_F_I32, /* int32_t, in [min, max] */
	IMAGE_F_I64, /* int64_t, in [min, max] */
	IMAGE_F_HEX32, /* uint32_t as "0x...": masks, flag words; in [min, max] */
	IMAGE_F_HEX64, /* uint64_t as "0x...": masks, capability sets; in [min, max] */
	IMAGE_F_BOOL, /* bool */
	IMAGE_F_OCTAL, /* uint32_t as "0644": modes; at most max */
	IMAGE_F_ENUM, /* uint32_t: one of names[], written as the name */
	IMAGE_F_FLAGS, /* uint32_t: bit i named names[i], written as a list of names */
	IMAGE_F_BLOB, /* struct image_blob: a range of data.img */
	IMAGE_F_STR, /* char *: malloc'd, NUL-free, shorter than max bytes; NULL = absent */
	IMAGE_F_BYTES, /* uint8_t[N], N <= 64: exactly 2N hex digits (ids, digests) */
	IMAGE_F_RECORD, /* a struct described by sub, embedded at off */
	IMAGE_F_ARRAY, /* T *at off, uint32_t count at count_off, at most max elements */
	IMAGE_F_TYPE_COUNT
};

struct image_record;

struct image_field {
	const char *name;
	uint8_t type; /* enum image_ftype */
	bool is_optional; /* absent reads as zero; zero is not written */
	size_t off; /* offsetof the member */
	size_t size; /* sizeof the member: checked against type by image_records_check() */
	int64_t min; /* integers */
	uint64_t max; /* integers and scalar array elements (as uint64_t), OCTAL, STR length */
	const char *const *names; /* ENUM, FLAGS */
	uint32_t nr_names;
	const struct image_record *sub; /* RECORD; ARRAY of objects */
	uint8_t elem_type; /* ARRAY of scalars (sub == NULL): their enum image_ftype */
	size_t elem_size; /* ARRAY: sizeof one element */
	size_t count_off; /* ARRAY: offsetof its uint32_t count */
	uint32_t max_count; /* ARRAY: at most this many elements */
};

struct image_record {
	const char *name; /* for people and errors: "creds" */
	size_t size; /* sizeof the struct */
	const struct image_field *fields;
	uint32_t nr_fields;
	/* cross-field checks on a decoded (or about to be written) record; NULL if none */
	int (*check)(const void *rec, const char *where, char *err, size_t errlen);
};

#define IMAGE_MEMBER_SIZE(st, m) sizeof(((st *)0)->m)

/* Field builders: IMAGE_FIELD(struct, member, type, designated initialisers...) */
#define IMAGE_FIELD(st, m, t, ...)                                                                 \
	{ .name = #m, .type = (t), .off = offsetof(st, m), .size = IMAGE_MEMBER_SIZE(st, m),       \
	  __VA_ARGS__ }
#define IMAGE_U32(st, m, lo, hi) IMAGE_FIELD(st, m, IMAGE_F_U32, .min = (lo), .max = (hi))
#define IMAGE_U64(st, m, lo, hi) IMAGE_FIELD(st, m, IMAGE_F_U64, .min = (lo), .max = (hi))
#define IMAGE_I32(st, m, lo, hi) IMAGE_FIELD(st, m, IMAGE_F_I32, .min = (lo), .max = (hi))
#define IMAGE_I64(st, m, lo, hi) IMAGE_FIELD(st, m, IMAGE_F_I64, .min = (lo), .max = (hi))
#define IMAGE_HEX32(st, m) IMAGE_FIELD(st, m, IMAGE_F_HEX32, .max = UINT32_MAX)
#define IMAGE_HEX64(st, m) IMAGE_FIELD(st, m, IMAGE_F_HEX64, .max = UINT64_MAX)
#define IMAGE_BOOL(st, m) IMAGE_FIELD(st, m, IMAGE_F_BOOL, .max = 1)
#define IMAGE_OCTAL(st, m, hi) IMAGE_FIELD(st, m, IMAGE_F_OCTAL, .max = (hi))
#define IMAGE_ENUM(st, m, nm)                                                                      \
	IMAGE_FIELD(st, m, IMAGE_F_ENUM, .names = (nm), .nr_names = sizeof(nm) / sizeof((nm)[0]))
#define IMAGE_FLAGS(st, m, nm)                                                                     \
	IMAGE_FIELD(st, m, IMAGE_F_FLAGS, .names = (nm), .nr_names = sizeof(nm) / sizeof((nm)[0]))
#define IMAGE_BLOB(st, m) IMAGE_FIELD(st, m, IMAGE_F_BLOB, .is_optional = true)
#define IMAGE_STR(st, m, maxlen) IMAGE_FIELD(st, m, IMAGE_F_STR, .is_optional = true, .max = (maxlen))
#define IMAGE_BYTES(st, m) IMAGE_FIELD(st, m, IMAGE_F_BYTES)
#define IMAGE_RECORD(st, m, rec) IMAGE_FIELD(st, m, IMAGE_F_RECORD, .sub = &(rec))
/* An array of records: T *m with its uint32_t count in member cnt. */
#define IMAGE_ARRAY(st, m, cnt, rec, maxn)                                                         \
	IMAGE_FIELD(st, m, IMAGE_F_ARRAY, .is_optional = true, .sub = &(rec),                     \
		    .max_count = (maxn), .elem_size = sizeof(*((st *)0)->m), .count_off = offsetof(st, cnt))
/* An array of scalars of type t. */
#define IMAGE_SCALARS(st, m, cnt, t, lo, hi, maxn)                                                 \
	IMAGE_FIELD(st, m, IMAGE_F_ARRAY, .is_optional = true, .elem_type = (t), .min = (lo),     \
		    .max = (hi), .max_count = (maxn), .elem_size = sizeof(*((st *)0)->m),          \
		    .count_off = offsetof(st, cnt))
#define IMAGE_OPTIONAL .is_optional = true

#define IMAGE_RECORD_DEF(var, st, fieldtab, checkfn)                                               \
	const struct image_record var = { .name = #st, .size = sizeof(struct st),                 \
					  .fields = (fieldtab),                                    \
					  .nr_fields = sizeof(fieldtab) / sizeof((fieldtab)[0]),   \
					  .check = (checkfn) }

/* A record hung off struct image: once (count_off == 0) or as an array. */
struct image_section {
	const char *key; /* in the manifest's top level */
	const struct image_record *rec;
	size_t off; /* offsetof(struct image, ...): the struct, or its array pointer */
	size_t count_off; /* arrays: offsetof the uint32_t count; 0 = a single record */
	uint32_t max; /* arrays: at most this many */
};

/*
 * Kinds of fd whose state (the union member of struct image_fd at off) is a
 * record: written as {"kind": NAME, ..., NAME: {record}}.  NULL rec: the
 * kind is written by hand in image-manifest.c.
 */
struct image_fd_kind_record {
	const struct image_record *rec;
	size_t off;
};
extern const struct image_fd_kind_record image_fd_kind_records[IMAGE_FD_KIND_COUNT];

extern const struct image_section image_sections[];
/* struct image_fd.sock.attrs: written and read by the socket case of the fd codec */
extern const struct image_record image_sock_attrs_record;
extern const uint32_t image_nr_sections;

/* Records that hang off struct image_thread rather than struct image. */
extern const struct image_record image_thread_attrs_record;

/* Runs rec's check() and those of the records inside it; 0 or -EINVAL with err filled. */
int image_record_check(const struct image_record *rec, const void *obj, const char *where,
		       char *err, size_t errlen);

/*
 * Records hung off each struct image_thread (off and count_off count from
 * the thread, not the image): the per-thread counterpart of image_sections,
 * walked by the thread's encoder and decoder, image_free() and the checks.
 */
extern const struct image_section image_thread_sections[];
extern const uint32_t image_nr_thread_sections;

/* Parts of the older, hand-written records that are described by tables too. */
extern const struct image_record image_regs_record; /* struct image_regs: threads[].regs */
extern const struct image_record image_mm_record; /* struct image_mm: process.mm */
extern const struct image_record image_file_record; /* struct image_file: files[] */

/* A scalar field's value as stored at p: unsigned (size 1, 4 or 8), or signed (I32, I64). */
uint64_t image_load_uint(const void *p, size_t size);
int64_t image_load_int(const void *p, uint8_t type);

/*
 * Compares two records of one table field by field (image-compare.c), with
 * the exceptions that image_compare() applies.  false when alike; true with
 * the first difference in diff, named by its path under where:
 * "children[2].pgid: 7 restored, 5 dumped".
 */
bool image_record_differs(const struct image_record *rec, const void *dumped,
			  const void *restored, const char *where, char *diff, size_t difflen);

/*
 * Checks every record reachable from image_sections: sizes agree with types,
 * bounds are sane, names are given.  0 or -EINVAL with the first mistake in
 * err; the unit tests run it, so a wrong table never ships.
 */
int image_records_check(char *err, size_t errlen);

/* Frees what decoding allocated inside one record (arrays, strings), recursively. */
void image_record_release(const struct image_record *rec, void *obj);

/* Calls fn for each blob inside one record, recursively; stops at the first non-zero. */
int image_record_blobs(const struct image_record *rec, const void *obj, const char *where,
		       int (*fn)(void *arg, const char *what, const struct image_blob *b),
		       void *arg);

/*
 * Walks image_sections for one image: release everything, check every blob,
 * run every record's check() (the writer's side of what dec_record checks).
 */
int image_sections_check(const struct image *img, char *err, size_t errlen);
void image_sections_release(struct image *img);
int image_sections_blobs(const struct image *img,
			 int (*fn)(void *arg, const char *what, const struct image_blob *b),
			 void *arg);

#endif
