/*
 * repo-chunk.c - snapshots in the content-addressed store.
 *
 * repo-dir.c keeps one plain snapshot directory per launch key.  Here the
 * same snapshots go into the chunk store of src/store (the one thaw dump and
 * thaw restore use with --store), local or behind a URL with a local cache:
 * chunks are deduplicated across snapshots, compressed, verified on every
 * read, and every host that reads the URL finds them.
 *
 * Each snapshot is one store name:
 *   run-KEY          the snapshot directory the engine wrote, plus run.json:
 *                    thaw run's metadata (repo-dir.c's KEY.json), which
 *                    travels with the snapshot, so another host needs nothing else
 *   run-name-NAME    the newest snapshot of that program name, so that a start
 *                    whose key has no snapshot can say what changed without
 *                    listing names (a remote store cannot)
 * A dump is staged beside the local tier and put (the name written last, so
 * a reader finds a whole snapshot or none); a restore rebuilds its small
 * files on tmpfs and the engine takes the pages from the store, straight
 * into the process (store_snap_restore_open); the files go once the program
 * runs.  Restore counts are not kept: the store is
 * shared, and a write per start would cost every start.  thaw dump and
 * restore --store name their snapshots themselves (repo_put_named).
 */
#define LOG_TAG "store"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "repo/repo-internal.h"
#include "store/store-snap.h"

#define META_FILE "run.json"
#define META_MAX (1u << 20)
#define KEY_PREFIX "run-"
#define NAME_PREFIX "run-name-"
#define NAME_PART_MAX 100 /* of the program name in run-name-NAME */

struct repo_chunk {
	struct store_config cfg;
	char *cfg_alloc; /* strings cfg points into */
	struct store *s; /* NULL while released: opened again when needed */
	bool is_url;
};

/* The store handle, opened on first use and again after repo_chunk_release(). */
static int handle(struct repo_chunk *cs)
{
	return cs->s ? 0 : store_open(&cs->cfg, &cs->s);
}

void repo_chunk_release(struct repo_chunk *cs)
{
	if (!cs)
		return;
	store_close(cs->s);
	cs->s = NULL;
}

static bool has_subdir(const char *dir, const char *sub)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

bool repo_chunk_is(const char *location)
{
	return store_snap_is_url(location) ||
	       (has_subdir(location, "names") && has_subdir(location, "chunks"));
}

int repo_chunk_open(const struct repo_opts *o, const char *location, bool connect,
		    struct repo_chunk **ret)
{
	struct repo_chunk *cs = calloc(1, sizeof(*cs));
	int rc;

	if (!cs)
		return -ENOMEM;
	cs->is_url = store_snap_is_url(location);
	rc = store_snap_config(location, o->cache ? o->cache : o->default_cache, &cs->cfg,
			       &cs->cfg_alloc);
	if (rc)
		goto fail;
	cs->cfg.key_file = o->key_file ? o->key_file : o->default_key_file;
	cs->cfg.s3_endpoint = o->s3_endpoint;
	cs->cfg.s3_style = o->s3_style;
	cs->cfg.chunk_avg = o->chunk_size;
	rc = connect ? handle(cs) : 0;
	if (rc)
		goto fail;
	*ret = cs;
	return 0;
fail:
	repo_chunk_close(cs);
	return rc;
}

void repo_chunk_close(struct repo_chunk *cs)
{
	if (!cs)
		return;
	store_close(cs->s);
	free(cs->cfg_alloc);
	free(cs);
}

const char *repo_chunk_label(const struct repo_chunk *cs)
{
	return cs->is_url ? cs->cfg.url : cs->cfg.dir;
}

void repo_chunk_key_name(const char *key, char buf[STORE_NAME_MAX + 1])
{
	snprintf(buf, STORE_NAME_MAX + 1, KEY_PREFIX "%s", key);
}

/* run-name-NAME, the name's characters outside the store's set made '_'. */
static void latest_name(const char *name, char buf[STORE_NAME_MAX + 1])
{
	size_t n = strlen(NAME_PREFIX), i;

	memcpy(buf, NAME_PREFIX, n);
	for (i = 0; i < NAME_PART_MAX && name[i]; i++) {
		char c = name[i];

		buf[n++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || strchr("._+@:-", c)) ? c : '_';
	}
	buf[n] = '\0';
}

/*
 * The metadata of the snapshot a manifest describes (sname: its store name,
 * for messages); key: what it must say, or NULL to take the one it says.
 */
static int meta_from_manifest(struct repo_chunk *cs, const struct store_digest *d,
			      const char *sname, const char *key, struct repo_meta *m)
{
	struct store_manifest *man = NULL;
	const struct store_file *f = NULL;
	json_error_t jerr;
	json_t *root;
	char *text = NULL;
	uint32_t i;
	int rc;

	rc = store_manifest_get(cs->s, d, &man);
	if (rc)
		return rc;
	for (i = 0; i < man->nr_files; i++)
		if (!strcmp(man->files[i].name, META_FILE))
			f = &man->files[i];
	rc = -EBADMSG;
	if (!f || f->size > META_MAX) {
		log_error("snapshot %s has no thaw run metadata (%s)", sname, META_FILE);
		goto out;
	}
	text = malloc(f->size + 1);
	rc = -ENOMEM;
	if (!text)
		goto out;
	rc = store_read_file(cs->s, f, 0, text, f->size);
	if (rc)
		goto out;
	root = json_loadb(text, f->size, JSON_REJECT_DUPLICATES, &jerr);
	rc = -EBADMSG;
	if (!root) {
		log_error("snapshot %s: %s: %s", sname, META_FILE, jerr.text);
		goto out;
	}
	/* run-name-NAME points at some key (key NULL): take the one the metadata says */
	rc = repo_meta_from_json(root, key, m);
	if (rc == -EBADMSG)
		log_error("snapshot %s: %s is damaged", sname, META_FILE);
	json_decref(root);
out:
	free(text);
	store_manifest_free(man);
	return rc;
}

int repo_chunk_load(struct repo_chunk *cs, const char *key, struct repo_meta *m)
{
	char name[STORE_NAME_MAX + 1];
	struct store_digest d;
	int rc;

	memset(m, 0, sizeof(*m));
	if (!repo_key_valid(key))
		return -EINVAL;
	rc = handle(cs);
	if (rc)
		return rc;
	repo_chunk_key_name(key, name);
	rc = store_name_get(cs->s, name, &d);
	if (rc)
		return rc;
	rc = meta_from_manifest(cs, &d, name, key, m);
	m->restored_unknown = true;
	return rc;
}

int repo_chunk_newest_named(struct repo_chunk *cs, const char *name, const char *skip_key,
			    struct repo_meta *m)
{
	char sname[STORE_NAME_MAX + 1];
	struct store_digest d;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = handle(cs);
	if (rc)
		return rc;
	latest_name(name, sname);
	rc = store_name_get(cs->s, sname, &d);
	if (rc)
		return rc;
	rc = meta_from_manifest(cs, &d, sname, NULL, m);
	if (rc)
		return rc;
	if (strcmp(m->name, name) || (skip_key && !strcmp(m->key, skip_key))) {
		repo_meta_release(m);
		return -ENOENT;
	}
	return 0;
}

int repo_chunk_stage(struct repo_chunk *cs, char *buf, size_t len, int *ret_lock)
{
	return store_snap_stage(&cs->cfg, buf, len, ret_lock);
}

int repo_chunk_publish(struct repo_chunk *cs, const char *staged, const struct repo_meta *m)
{
	char path[PATH_MAX], name[STORE_NAME_MAX + 1], *text = repo_meta_to_json(m);
	struct store_digest d;
	int rc;

	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s", staged, META_FILE);
	rc = repo_write_file_atomic(path, text);
	free(text);
	if (!rc)
		rc = handle(cs);
	if (rc)
		return rc;
	repo_chunk_key_name(m->key, name);
	rc = store_put_dir(cs->s, staged, name, &d);
	if (rc)
		return rc;
	latest_name(m->name, name);
	/* only explains a later changed key: not worth failing the snapshot for */
	if (store_name_set(cs->s, name, &d))
		log_warn("snapshot %s%s: could not name it %s", KEY_PREFIX, m->key, name);
	return 0;
}

int repo_chunk_put_named(struct repo_chunk *cs, const char *staged, const char *name,
			 struct store_digest *ret)
{
	int rc = handle(cs);

	return rc ? rc : store_put_dir(cs->s, staged, name, ret);
}

int repo_chunk_restore_open(struct repo_chunk *cs, const char *sname,
			    struct store_snap_restore **ret)
{
	return store_snap_restore_open(&cs->cfg, sname, getenv("THAW_RESTORE_TMPDIR"), ret);
}

int repo_chunk_copy_meta(const char *dir, const char *key, struct repo_meta *m)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, META_FILE);
	return repo_meta_load_file(path, key, m);
}

/* ------------------------------------------------------ thaw snapshots */

int repo_chunk_for_each(struct repo_chunk *cs, int (*fn)(struct repo_meta *m, void *arg),
			void *arg)
{
	char **names = NULL;
	size_t nr = 0, i, plen = strlen(KEY_PREFIX);
	int rc, ret = 0;

	rc = handle(cs);
	if (!rc)
		rc = store_name_list(cs->s, &names, &nr);
	if (rc)
		return rc;
	for (i = 0; i < nr; i++) {
		struct repo_meta m;

		if (ret || strncmp(names[i], KEY_PREFIX, plen) ||
		    !repo_key_valid(names[i] + plen))
			continue;
		/* a snapshot that cannot be read is not listed, as in a plain store */
		if (repo_chunk_load(cs, names[i] + plen, &m))
			continue;
		ret = fn(&m, arg);
		repo_meta_release(&m);
	}
	for (i = 0; i < nr; i++)
		free(names[i]);
	free(names);
	return ret < 0 ? ret : 0;
}

/* Drops the snapshot's names; its chunks stay until `thaw store gc` finds them unnamed. */
int repo_chunk_remove_key(struct repo_chunk *cs, const char *key)
{
	char name[STORE_NAME_MAX + 1], latest[STORE_NAME_MAX + 1];
	struct store_digest d, dl;
	struct repo_meta m;
	int rc;

	if (cs->is_url) {
		log_error("%s: a remote store cannot remove names", cs->cfg.url);
		return -EOPNOTSUPP;
	}
	rc = handle(cs);
	if (rc)
		return rc;
	repo_chunk_key_name(key, name);
	rc = store_name_get(cs->s, name, &d);
	if (rc)
		return rc;
	if (!repo_chunk_load(cs, key, &m)) {
		latest_name(m.name, latest);
		if (!store_name_get(cs->s, latest, &dl) && !memcmp(&d, &dl, sizeof(d)) &&
		    store_snap_unname(&cs->cfg, latest))
			log_warn("snapshot %s%s: %s was left in place", KEY_PREFIX, key, latest);
		repo_meta_release(&m);
	}
	return store_snap_unname(&cs->cfg, name);
}
