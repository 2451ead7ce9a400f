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

/* pages.img starts with one header page; run offsets count from the file's start. */
#define IMAGE_PAGES_MAGIC "THAWPAGE"
#define IMAGE_IDX_MAGIC "THAWIDX1"
#define IMAGE_IDX_HEADER_SIZE 32u
#define IMAGE_IDX_ENTRY_SIZE 32u
#define IMAGE_MAX_MANIFEST (256u << 20)

#endif
