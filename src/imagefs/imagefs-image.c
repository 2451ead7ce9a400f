/*
 * imagefs-image.c - images as objects of a store: open (name -> manifest ->
 * index, cross-checked), list, remove, and the recorded start kept beside
 * the index.
 *
 * An image's store manifest holds exactly "imagefs.index", "imagefs.data"
 * and optionally "imagefs.prefetch"; the data file's chunk list must be the
 * index's chunk table, entry for entry, since reads go by the index and gc
 * goes by the manifest.
 */
#define LOG_TAG "imagefs"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "imagefs/imagefs.h"

#define PREFETCH_MAX ((uint64_t)IMAGEFS_MAX_CHUNKS * 4)

bool imagefs_name_valid(const char *name)
{
	char sname[STORE_NAME_MAX + 2];

	if (!name || strlen(name) > STORE_NAME_MAX - strlen(IMAGEFS_NAME_PREFIX))
		return false;
	snprintf(sname, sizeof(sname), IMAGEFS_NAME_PREFIX "%s", name);
	return name[0] && name[0] != '.' && store_name_valid(sname);
}

void imagefs_image_free(struct imagefs_image *img)
{
	if (!img)
		return;
	free(img->name);
	store_manifest_free(img->m);
	imagefs_index_free(img->index);
	free(img->prefetch);
	free(img);
}

static const struct store_file *find_file(const struct store_manifest *m, const char *name)
{
	for (uint32_t i = 0; i < m->nr_files; i++)
		if (!strcmp(m->files[i].name, name))
			return &m->files[i];
	return NULL;
}

static int read_whole(struct store *s, const struct store_file *f, uint64_t max, uint8_t **ret)
{
	uint8_t *buf;
	int rc;

	if (f->size > max)
		return -EFBIG;
	buf = malloc(f->size ? f->size : 1);
	if (!buf)
		return -ENOMEM;
	rc = store_read_file(s, f, 0, buf, f->size);
	if (rc) {
		free(buf);
		return rc;
	}
	*ret = buf;
	return 0;
}

/* The manifest's data file must list exactly the index's chunks. */
static int check_data(const char *name, const struct imagefs_index *ix,
		      const struct store_file *data)
{
	uint32_t i;

	if (data->nr_chunks != ix->nr_chunks) {
		log_error("image %s: the store lists %u chunks, the index %u", name,
			  data->nr_chunks, ix->nr_chunks);
		return -EBADMSG;
	}
	for (i = 0; i < ix->nr_chunks; i++) {
		const struct store_chunk_ref *r = &data->chunks[i];

		if ((r->flags & STORE_CHUNK_ZERO) || r->len != ix->chunks[i].len ||
		    memcmp(&r->digest, &ix->chunks[i].digest, sizeof(r->digest))) {
			log_error("image %s: chunk %u of the store's list is not the index's", name,
				  i);
			return -EBADMSG;
		}
	}
	return 0;
}

static int read_prefetch(struct store *s, struct imagefs_image *img, const struct store_file *f)
{
	uint8_t *buf = NULL;
	uint64_t i;
	int rc;

	if (f->size % 4) {
		log_error("image %s: recorded start of %llu bytes, not whole entries", img->name,
			  (unsigned long long)f->size);
		return -EBADMSG;
	}
	rc = read_whole(s, f, PREFETCH_MAX, &buf);
	if (rc == -EFBIG)
		log_error("image %s: recorded start too large", img->name);
	if (rc)
		return rc;
	img->nr_prefetch = (uint32_t)(f->size / 4);
	img->prefetch = calloc(img->nr_prefetch ? img->nr_prefetch : 1, sizeof(uint32_t));
	if (!img->prefetch) {
		free(buf);
		return -ENOMEM;
	}
	for (i = 0; i < img->nr_prefetch; i++) {
		const uint8_t *p = buf + 4 * i;
		uint32_t c = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			     (uint32_t)p[3] << 24;

		if (c >= img->index->nr_chunks) {
			log_error("image %s: recorded start names chunk %u of %u", img->name, c,
				  img->index->nr_chunks);
			free(buf);
			return -EBADMSG;
		}
		img->prefetch[i] = c;
	}
	free(buf);
	return 0;
}

int imagefs_image_open(struct store *s, const char *name, struct imagefs_image **ret)
{
	char sname[STORE_NAME_MAX + 1], why[256];
	const struct store_file *fi, *fp;
	struct imagefs_image *img;
	uint8_t *bytes = NULL;
	int rc;

	if (!imagefs_name_valid(name)) {
		log_error("image name '%.*s' is not valid", STORE_NAME_MAX, name);
		return -EINVAL;
	}
	snprintf(sname, sizeof(sname), IMAGEFS_NAME_PREFIX "%s", name);
	img = calloc(1, sizeof(*img));
	if (!img || !(img->name = strdup(name))) {
		free(img);
		return -ENOMEM;
	}
	rc = store_name_lookup(s, sname, &img->manifest);
	if (rc == -ENOENT)
		log_error("no image %s in %s", name, store_label(s));
	if (!rc)
		rc = store_manifest_get(s, &img->manifest, &img->m);
	if (rc)
		goto fail;
	fi = find_file(img->m, IMAGEFS_FILE_INDEX);
	img->data = find_file(img->m, IMAGEFS_FILE_DATA);
	fp = find_file(img->m, IMAGEFS_FILE_PREFETCH);
	rc = -EBADMSG;
	if (!fi || !img->data || img->m->nr_files != 2u + !!fp) {
		log_error("image %s: store name %s is not an image (its files are not %s, %s[, %s])",
			  name, sname, IMAGEFS_FILE_INDEX, IMAGEFS_FILE_DATA, IMAGEFS_FILE_PREFETCH);
		goto fail;
	}
	rc = read_whole(s, fi, IMAGEFS_INDEX_MAX, &bytes);
	if (rc == -EFBIG)
		log_error("image %s: index of %llu bytes, more than %u", name,
			  (unsigned long long)fi->size, IMAGEFS_INDEX_MAX);
	if (rc)
		goto fail;
	rc = imagefs_index_parse(bytes, fi->size, &img->index, why, sizeof(why));
	if (rc == -EBADMSG)
		log_error("image %s: index refused: %s", name, why);
	if (rc)
		goto fail;
	rc = check_data(name, img->index, img->data);
	if (!rc && fp)
		rc = read_prefetch(s, img, fp);
	if (rc)
		goto fail;
	free(bytes);
	*ret = img;
	return 0;
fail:
	free(bytes);
	imagefs_image_free(img);
	return rc;
}

int imagefs_image_list(struct store *s, char ***ret, size_t *nr)
{
	size_t plen = strlen(IMAGEFS_NAME_PREFIX), n = 0, i, k = 0;
	char **names = NULL;
	int rc;

	rc = store_name_list(s, &names, &n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		if (strncmp(names[i], IMAGEFS_NAME_PREFIX, plen)) {
			free(names[i]);
			continue;
		}
		memmove(names[i], names[i] + plen, strlen(names[i]) - plen + 1);
		names[k++] = names[i];
	}
	*ret = names;
	*nr = k;
	return 0;
}

int imagefs_image_remove(struct store *s, const char *name)
{
	char sname[STORE_NAME_MAX + 1];
	struct store_digest d;
	int rc;

	if (!imagefs_name_valid(name)) {
		log_error("image name '%.*s' is not valid", STORE_NAME_MAX, name);
		return -EINVAL;
	}
	snprintf(sname, sizeof(sname), IMAGEFS_NAME_PREFIX "%s", name);
	rc = store_name_lookup(s, sname, &d);
	if (rc == -ENOENT)
		log_error("no image %s in %s", name, store_label(s));
	return rc ?: store_name_remove(s, sname);
}

int imagefs_image_set_prefetch(struct store *s, const char *name, const uint32_t *chunks,
			       uint32_t n)
{
	struct store_file files[3] = { 0 }, *pf = &files[2];
	struct store_manifest m = { .nr_files = 3, .files = files };
	struct imagefs_image *img = NULL;
	char sname[STORE_NAME_MAX + 1];
	struct store_digest md;
	uint8_t *bytes;
	uint32_t i;
	int rc;

	bytes = malloc(n ? (size_t)n * 4 : 1);
	if (!bytes)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		bytes[4 * i] = (uint8_t)chunks[i];
		bytes[4 * i + 1] = (uint8_t)(chunks[i] >> 8);
		bytes[4 * i + 2] = (uint8_t)(chunks[i] >> 16);
		bytes[4 * i + 3] = (uint8_t)(chunks[i] >> 24);
	}
	rc = store_write_lock(s);
	if (rc)
		goto out_free;
	rc = imagefs_image_open(s, name, &img);
	if (rc)
		goto out;
	for (i = 0; i < n; i++) {
		if (chunks[i] >= img->index->nr_chunks) {
			log_error("image %s: recorded chunk %u of %u", name, chunks[i],
				  img->index->nr_chunks);
			rc = -EINVAL;
			goto out;
		}
	}
	files[0] = *find_file(img->m, IMAGEFS_FILE_INDEX);
	files[1] = *img->data;
	pf->name = IMAGEFS_FILE_PREFETCH;
	pf->mode = 0644;
	rc = store_put_buf(s, pf, bytes, (size_t)n * 4);
	if (!rc)
		rc = store_manifest_put(s, &m, &md);
	snprintf(sname, sizeof(sname), IMAGEFS_NAME_PREFIX "%s", name);
	if (!rc)
		rc = store_name_set(s, sname, &md);
out:
	store_write_unlock(s);
	free(pf->chunks);
	imagefs_image_free(img);
out_free:
	free(bytes);
	return rc;
}
