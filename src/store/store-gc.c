/*
 * store-gc.c - looking after a store: usage, verify, gc, and copying a
 * snapshot between stores (push/pull).
 *
 * gc is mark and sweep on the local disk tier: it marks every manifest a
 * name reaches and every chunk those manifests list, then removes unmarked
 * objects whose mtime is older than the grace period.  It holds the disk
 * lock exclusively while writers (store_put_dir) hold it shared, and
 * writers refresh the mtime of every chunk they find already stored, so a
 * chunk a concurrent writer is about to reference is either fresh or marked.
 * If any name's manifest cannot be read, gc stops before sweeping anything:
 * an unreadable manifest would otherwise look like garbage.  On S3 the same
 * marks are followed by a sweep of the bucket's listing (gc_remote()).
 */
#define LOG_TAG "store"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/dirs.h"
#include "base/log.h"
#include "base/progress.h"
#include "store/store-internal.h"

/* A set of object ids (open addressing, grows at half full). */
struct idset {
	char (*v)[STORE_ID_MAX];
	size_t n, cap;
};

static size_t id_hash(const char *id)
{
	size_t h = 0;
	int i;

	for (i = 0; i < 16; i++)
		h = h * 16 + (size_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	return h;
}

static bool idset_has(const struct idset *s, const char *id)
{
	size_t i;

	if (!s->cap)
		return false;
	for (i = id_hash(id) & (s->cap - 1); s->v[i][0]; i = (i + 1) & (s->cap - 1))
		if (!strcmp(s->v[i], id))
			return true;
	return false;
}

/* 1 when added, 0 when already there, -ENOMEM */
static int idset_add(struct idset *s, const char *id)
{
	size_t i;

	if (idset_has(s, id))
		return 0;
	if (2 * (s->n + 1) > s->cap) {
		struct idset bigger = { .cap = s->cap ? 2 * s->cap : 1024 };

		bigger.v = calloc(bigger.cap, sizeof(*bigger.v));
		if (!bigger.v)
			return -ENOMEM;
		for (i = 0; i < s->cap; i++)
			if (s->v[i][0])
				idset_add(&bigger, s->v[i]);
		free(s->v);
		*s = bigger;
	}
	for (i = id_hash(id) & (s->cap - 1); s->v[i][0]; i = (i + 1) & (s->cap - 1))
		;
	memcpy(s->v[i], id, STORE_ID_MAX);
	s->n++;
	return 1;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_name_list(struct store *s, char ***ret, size_t *nr)
{
	struct store_tier *t = store_origin(s);
	char path[PATH_MAX], **v = NULL, **nv;
	struct dirent *e;
	size_t n = 0;
	DIR *dp;

	if (!store_tier_is_disk(t)) {
		int rc;

		if (!t->ops->names) {
			log_error("%s: cannot list its names; ask for one by name", t->label);
			return -EOPNOTSUPP;
		}
		rc = t->ops->names(t, &v, &n);
		if (!rc && n)
			qsort(v, n, sizeof(*v), by_str);
		*ret = v;
		*nr = n;
		return rc;
	}
	snprintf(path, sizeof(path), "%s/names", store_disk_root(t));
	dp = opendir(path);
	if (!dp)
		return log_errno("%s", path);
	while ((e = readdir(dp))) {
		if (!store_name_valid(e->d_name))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(e->d_name))) {
			v = nv ? nv : v;
			while (n)
				free(v[--n]);
			free(v);
			closedir(dp);
			return -ENOMEM;
		}
		v = nv;
		n++;
	}
	closedir(dp);
	if (n)
		qsort(v, n, sizeof(*v), by_str);
	*ret = v;
	*nr = n;
	return 0;
}

int store_name_remove(struct store *s, const char *name)
{
	struct store_tier *t = store_origin(s);
	char path[PATH_MAX];

	if (!store_name_valid(name)) {
		log_error("name '%.*s' is not valid", STORE_NAME_MAX, name);
		return -EINVAL;
	}
	if (!store_tier_is_disk(t)) {
		log_error("%s: thaw removes names only in a local store", t->label);
		return -EOPNOTSUPP;
	}
	snprintf(path, sizeof(path), "%s/names/%s", store_disk_root(t), name);
	if (unlink(path) < 0) {
		if (errno == ENOENT) {
			log_error("no name %s in %s", name, t->label);
			return -ENOENT;
		}
		return log_errno("%s: remove %s", t->label, path);
	}
	return 0;
}

int store_write_lock(struct store *s)
{
	struct store_tier *disk = store_disk_tier(s);

	return disk ? store_disk_lock(disk, false) : 0;
}

void store_write_unlock(struct store *s)
{
	struct store_tier *disk = store_disk_tier(s);

	if (disk)
		store_disk_unlock(disk);
}

static void free_names(char **v, size_t n)
{
	while (n)
		free(v[--n]);
	free(v);
}

/* The names an operation covers: one, or all of them. */
static int names_of(struct store *s, const char *name, char ***ret, size_t *nr)
{
	if (!name)
		return store_name_list(s, ret, nr);
	*ret = calloc(1, sizeof(char *));
	if (!*ret || !((*ret)[0] = strdup(name))) {
		free(*ret);
		return -ENOMEM;
	}
	*nr = 1;
	return 0;
}

static int load(struct store *s, const char *name, struct store_digest *d,
		struct store_manifest **m)
{
	int rc = store_name_get(s, name, d);

	return rc ? rc : store_manifest_get(s, d, m);
}

int store_usage(struct store *s, const char *name, struct store_usage *u)
{
	struct store_tier *disk = store_disk_tier(s);
	struct idset seen = { 0 };
	char **names = NULL, id[STORE_ID_MAX], path[PATH_MAX];
	size_t nr = 0, i;
	uint32_t f, c;
	int rc;

	memset(u, 0, sizeof(*u));
	rc = names_of(s, name, &names, &nr);
	for (i = 0; i < nr && !rc; i++) {
		struct store_manifest *m = NULL;
		struct store_digest d;

		rc = load(s, names[i], &d, &m);
		for (f = 0; !rc && f < m->nr_files; f++) {
			for (c = 0; c < m->files[f].nr_chunks; c++) {
				const struct store_chunk_ref *r = &m->files[f].chunks[c];
				struct stat st;
				int added;

				u->logical += r->len;
				if (r->flags & STORE_CHUNK_ZERO)
					continue;
				u->nonzero += r->len;
				store_object_id(s, r, id);
				added = idset_add(&seen, id);
				if (added < 0) {
					rc = added;
					break;
				}
				if (!added)
					continue;
				u->unique += r->len;
				u->chunks++;
				if (!disk)
					continue;
				snprintf(path, sizeof(path), "%s/chunks/%.2s/%s",
					 store_disk_root(disk), id, id);
				if (stat(path, &st) == 0)
					u->stored += (uint64_t)st.st_size;
			}
		}
		store_manifest_free(m);
	}
	free_names(names, nr);
	free(seen.v);
	return rc;
}

/* The bytes of m's chunks that are stored (not zero), for progress. */
static uint64_t chunk_bytes(const struct store_manifest *m)
{
	uint64_t sum = 0;
	uint32_t f, c;

	for (f = 0; f < m->nr_files; f++)
		for (c = 0; c < m->files[f].nr_chunks; c++)
			if (!(m->files[f].chunks[c].flags & STORE_CHUNK_ZERO))
				sum += m->files[f].chunks[c].len;
	return sum;
}

int store_verify(struct store *s, const char *name, uint64_t *bad)
{
	char **names = NULL, ctxbuf[STORE_NAME_MAX + 16];
	uint8_t *buf = NULL;
	size_t nr = 0, i;
	uint32_t f, c;
	int rc, first = 0;

	*bad = 0;
	rc = names_of(s, name, &names, &nr);
	if (rc)
		return rc;
	buf = malloc(STORE_CHUNK_MAX_LIMIT);
	if (!buf) {
		free_names(names, nr);
		return -ENOMEM;
	}
	progress_begin("verify", 0); /* each snapshot adds its chunks' bytes */
	s->rehash = true; /* verify trusts no tier: every chunk's SHA-256 */
	for (i = 0; i < nr; i++) {
		struct store_manifest *m = NULL;
		struct store_digest d;

		snprintf(ctxbuf, sizeof(ctxbuf), "snapshot %s", names[i]);
		if (load(s, names[i], &d, &m)) {
			(*bad)++;
			continue;
		}
		s->context = ctxbuf;
		progress_more(chunk_bytes(m));
		for (f = 0; f < m->nr_files; f++) {
			for (c = 0; c < m->files[f].nr_chunks; c++) {
				const struct store_chunk_ref *r = &m->files[f].chunks[c];
				int vrc;

				if (r->flags & STORE_CHUNK_ZERO)
					continue;
				vrc = store_read_chunks(s, m->files[f].name, r, 1, &buf);
				progress_add(r->len);
				if (vrc) {
					(*bad)++;
					if (!first)
						first = vrc;
				}
			}
		}
		s->context = NULL;
		store_manifest_free(m);
	}
	progress_end();
	s->rehash = false;
	free(buf);
	free_names(names, nr);
	return *bad ? (first ? first : -EBADMSG) : 0;
}

struct sweep {
	struct idset *marked;
	time_t cutoff;
	uint64_t removed, freed;
};

static int sweep_one(const char *id, const char *path, void *arg)
{
	struct sweep *sw = arg;
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	progress_add((uint64_t)st.st_size); /* looked at: kept or removed */
	if (idset_has(sw->marked, id) || st.st_mtime > sw->cutoff)
		return 0;
	if (unlink(path) == 0) {
		sw->removed++;
		sw->freed += (uint64_t)st.st_size;
	}
	return 0;
}

static int mark(struct store *s, struct idset *chunks, struct idset *manifests)
{
	char **names = NULL, id[STORE_ID_MAX];
	size_t nr = 0, i;
	uint32_t f, c;
	int rc;

	rc = store_name_list(s, &names, &nr);
	for (i = 0; i < nr && !rc; i++) {
		struct store_manifest *m = NULL;
		struct store_digest d;

		rc = load(s, names[i], &d, &m);
		if (rc) {
			log_error("gc: snapshot %s cannot be read; nothing is swept", names[i]);
			break;
		}
		store_digest_hex(&d, id);
		rc = idset_add(manifests, id) < 0 ? -ENOMEM : 0;
		for (f = 0; !rc && f < m->nr_files; f++)
			for (c = 0; !rc && c < m->files[f].nr_chunks; c++) {
				if (m->files[f].chunks[c].flags & STORE_CHUNK_ZERO)
					continue;
				store_object_id(s, &m->files[f].chunks[c], id);
				rc = idset_add(chunks, id) < 0 ? -ENOMEM : 0;
			}
		store_manifest_free(m);
	}
	free_names(names, nr);
	return rc;
}

static void sweep_tmp(const char *root, time_t cutoff)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *dp;

	snprintf(path, sizeof(path), "%s/tmp", root);
	dp = opendir(path);
	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (strncmp(e->d_name, "obj.", 4))
			continue;
		snprintf(path, sizeof(path), "%s/tmp/%s", root, e->d_name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime <= cutoff)
			unlink(path);
	}
	closedir(dp);
}

#define REMOTE_SWEEP_BATCH 256 /* DELETEs sent at once */

struct remote_sweep {
	struct store_tier *t;
	int kind;
	struct idset *marked;
	int64_t cutoff;
	char (*ids)[STORE_ID_MAX];
	uint64_t sizes[REMOTE_SWEEP_BATCH];
	size_t n;
	uint64_t removed, freed;
	int rc;
};

static void remote_flush(struct remote_sweep *rs)
{
	int rcs[REMOTE_SWEEP_BATCH];
	size_t i;

	if (!rs->n)
		return;
	rs->t->ops->remove_many(rs->t, rs->kind, rs->n, rs->ids, rcs);
	for (i = 0; i < rs->n; i++) {
		if (rcs[i]) {
			if (!rs->rc)
				rs->rc = rcs[i];
			continue;
		}
		rs->removed++;
		rs->freed += rs->sizes[i];
	}
	rs->n = 0;
}

static int remote_one(const char *id, int64_t modified, uint64_t size, void *arg)
{
	struct remote_sweep *rs = arg;

	/* an object of unknown age is kept: it may be a writer's */
	if (idset_has(rs->marked, id) || modified < 0 || modified > rs->cutoff)
		return 0;
	snprintf(rs->ids[rs->n], STORE_ID_MAX, "%s", id);
	rs->sizes[rs->n++] = size;
	if (rs->n == REMOTE_SWEEP_BATCH)
		remote_flush(rs);
	return 0;
}

/*
 * gc of a remote (S3) tier: the same marks; the sweep lists chunks/ and
 * manifests/ (ListObjectsV2) and deletes what no name reaches and was last
 * modified before the grace period.  No lock: a writer that finds an object
 * older than S3_REFRESH_AGE copies it onto itself first, so a grace of at
 * least twice that leaves any writer that long to name what it reuses.
 */
static int gc_remote(struct store *s, struct store_tier *t, int64_t grace, uint64_t *removed,
		     uint64_t *freed)
{
	struct idset chunks = { 0 }, manifests = { 0 };
	struct remote_sweep rs = { .t = t };
	int rc;

	if (grace < 2 * store_s3_refresh_age()) {
		log_error("gc of %s: --grace must be at least %lld s (twice the age at which "
			  "writers refresh what they reuse)",
			  t->label, 2 * (long long)store_s3_refresh_age());
		return -EINVAL;
	}
	rs.ids = calloc(REMOTE_SWEEP_BATCH, sizeof(*rs.ids));
	if (!rs.ids)
		return -ENOMEM;
	rc = mark(s, &chunks, &manifests);
	rs.cutoff = (int64_t)time(NULL) - grace;
	if (!rc) {
		rs.kind = STORE_OBJ_CHUNK;
		rs.marked = &chunks;
		rc = t->ops->scan(t, STORE_OBJ_CHUNK, remote_one, &rs);
		remote_flush(&rs);
	}
	if (!rc && !rs.rc) {
		rs.kind = STORE_OBJ_MANIFEST;
		rs.marked = &manifests;
		rc = t->ops->scan(t, STORE_OBJ_MANIFEST, remote_one, &rs);
		remote_flush(&rs);
	}
	if (!rc && rs.rc) {
		log_error("gc of %s: could not delete every object: %s", t->label,
			  strerror(-rs.rc));
		rc = rs.rc;
	}
	*removed = rs.removed;
	*freed = rs.freed;
	free(rs.ids);
	free(chunks.v);
	free(manifests.v);
	return rc;
}

int store_gc(struct store *s, int64_t grace, uint64_t *removed, uint64_t *freed)
{
	struct store_tier *t = store_origin(s);
	struct idset chunks = { 0 }, manifests = { 0 };
	struct sweep sw = { 0 };
	int rc;

	if (t->sweepable)
		return gc_remote(s, t, grace, removed, freed);
	if (!store_tier_is_disk(t)) {
		log_error("gc works on a local store or S3, not on %s", t->label);
		return -EOPNOTSUPP;
	}
	rc = store_disk_lock(t, true);
	if (rc)
		return rc;
	rc = mark(s, &chunks, &manifests);
	if (rc)
		goto out;
	sw.cutoff = time(NULL) - (time_t)grace;
	sw.marked = &chunks;
	progress_begin("gc", 0); /* the bytes of the objects looked at; how many is not known */
	rc = store_disk_scan(t, STORE_OBJ_CHUNK, sweep_one, &sw);
	sw.marked = &manifests;
	if (!rc)
		rc = store_disk_scan(t, STORE_OBJ_MANIFEST, sweep_one, &sw);
	progress_end();
	sweep_tmp(store_disk_root(t), sw.cutoff);
	/* the staging directories of dumps that were killed: whatever their age */
	sweep_locked_dirs(store_disk_root(t), STAGING_PREFIX, 2);
	*removed = sw.removed;
	*freed = sw.freed;
out:
	store_disk_unlock(t);
	free(chunks.v);
	free(manifests.v);
	return rc;
}

/* The stored bytes of one chunk from the first tier of src whose copy checks out. */
static int fetch_stored(struct store *src, const struct store_chunk_ref *r, const char *id,
			struct store_buf *out, uint8_t *plain)
{
	const char *why;
	size_t i;
	int rc = -ENOENT;

	for (i = 0; i < src->nr_tiers; i++) {
		struct store_tier *t = src->tiers[i];

		rc = t->ops->get(t, STORE_OBJ_CHUNK, id, store_chunk_stored_max(r->len), out);
		if (rc == -ENOENT)
			continue;
		if (rc == 0)
			rc = store_chunk_decode(src->has_key ? &src->key : NULL, r, out->data,
						out->len, plain, true, &why);
		else
			why = "unreadable";
		if (rc == 0)
			return 0;
		log_warn("chunk %s in %s: %s", id, t->label, why);
	}
	log_error("chunk %s (%s): no good copy to copy", id, src->context);
	return rc;
}

int store_copy(struct store *src, struct store *dst, const char *name)
{
	struct store_buf mbytes = { 0 }, stored = { 0 };
	struct store_manifest *m = NULL;
	struct idset done = { 0 };
	char id[STORE_ID_MAX], ctxbuf[STORE_NAME_MAX + 16];
	struct store_digest d;
	uint8_t *plain = NULL;
	uint32_t f, c;
	size_t i;
	int rc;

	snprintf(ctxbuf, sizeof(ctxbuf), "snapshot %s", name);
	src->context = ctxbuf;
	rc = load(src, name, &d, &m);
	if (!rc)
		rc = store_manifest_get_bytes(src, &d, &mbytes);
	plain = malloc(STORE_CHUNK_MAX_LIMIT);
	if (!rc && !plain)
		rc = -ENOMEM;
	progress_begin("copy", rc ? 0 : chunk_bytes(m));
	for (f = 0; !rc && f < m->nr_files; f++) {
		for (c = 0; !rc && c < m->files[f].nr_chunks; c++) {
			const struct store_chunk_ref *r = &m->files[f].chunks[c];
			bool fetched = false;

			if (r->flags & STORE_CHUNK_ZERO)
				continue;
			progress_add(r->len); /* copied, or found there already */
			store_object_id(src, r, id);
			rc = idset_add(&done, id);
			if (rc <= 0)
				continue;
			rc = 0;
			for (i = 0; i < dst->nr_tiers && !rc; i++) {
				struct store_tier *t = dst->tiers[i];

				rc = t->ops->has(t, STORE_OBJ_CHUNK, id);
				if (rc)
					continue;
				if (!fetched)
					rc = fetch_stored(src, r, id, &stored, plain);
				fetched = true;
				if (!rc)
					rc = t->ops->put(t, STORE_OBJ_CHUNK, id, stored.data, stored.len);
			}
			if (rc == 1)
				rc = 0;
		}
	}
	store_digest_hex(&d, id);
	for (i = 0; !rc && i < dst->nr_tiers; i++)
		rc = dst->tiers[i]->ops->put(dst->tiers[i], STORE_OBJ_MANIFEST, id, mbytes.data,
					     mbytes.len);
	if (!rc)
		rc = store_name_set(dst, name, &d);
	progress_end();
	free(plain);
	free(done.v);
	store_buf_release(&mbytes);
	store_buf_release(&stored);
	store_manifest_free(m);
	src->context = NULL;
	return rc;
}
