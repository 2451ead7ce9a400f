/*
 * repo.c - one repository, whichever kind it is (repo.h): a plain
 * directory (repo-dir.c) or a chunk store (repo-chunk.c), for thaw run, thaw
 * dump/restore --store and thaw snapshots.
 */
#define LOG_TAG "store"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/dirs.h"
#include "base/log.h"
#include "repo/repo-internal.h"

int repo_location(const char *store, char *buf, size_t len)
{
	const char *home;
	int n;

	if (!store || !*store)
		store = getenv("THAW_STORE");
	if (store && *store)
		n = snprintf(buf, len, "%s", store);
	else if ((home = getenv("HOME")) && *home)
		n = snprintf(buf, len, "%s/.cache/thaw", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * A URL or a directory initialised as a chunk store is a chunk store; so is
 * a new directory with --chunk-store.  Anything else is a plain store, as
 * thaw run always had (docs/runtime.md, "Store").
 */
static int check_opts(const struct repo_opts *o, const char *location, bool *chunks)
{
	bool is_url = store_snap_is_url(location);

	if (!*chunks && o->chunk_store) {
		if (repo_dir_has_snapshots(location)) {
			log_error("%s holds plain snapshots of thaw run: --chunk-store needs a "
				  "directory of its own", location);
			return -EEXIST;
		}
		*chunks = true;
	}
	if (!*chunks && (o->cache || o->key_file || o->chunk_size)) {
		log_error("%s is a plain store: --cache, --key-file and --chunk-size need a chunk "
			  "store (a URL, or a directory with --chunk-store)", location);
		return -EINVAL;
	}
	if (o->cache && !is_url) {
		log_error("--cache is the local cache in front of a URL; %s is a directory", location);
		return -EINVAL;
	}
	return 0;
}

int repo_open(const struct repo_opts *o, bool create, struct repo **ret, bool *ret_usage)
{
	struct repo *repo = calloc(1, sizeof(*repo));
	bool chunks;
	int rc;

	*ret = NULL;
	if (ret_usage)
		*ret_usage = false;
	if (!repo)
		return -ENOMEM;
	rc = repo_location(o->location, repo->location, sizeof(repo->location));
	if (rc) {
		log_error("no store directory: set --store, THAW_STORE or HOME");
		goto fail;
	}
	chunks = repo_chunk_is(repo->location);
	if (create) {
		rc = check_opts(o, repo->location, &chunks);
		if (rc) {
			if (ret_usage)
				*ret_usage = true;
			goto fail;
		}
		if (!store_snap_is_url(repo->location))
			rc = repo_dir_mkdir(repo->location);
	}
	if (!rc && chunks)
		rc = repo_chunk_open(o, repo->location, true, &repo->cs);
	if (rc)
		goto fail;
	*ret = repo;
	return 0;
fail:
	repo_close(repo);
	return rc;
}

int repo_open_store(const struct repo_opts *o, struct repo **ret)
{
	struct repo *repo = calloc(1, sizeof(*repo));
	int rc;

	*ret = NULL;
	if (!repo)
		return -ENOMEM;
	snprintf(repo->location, sizeof(repo->location), "%s", o->location);
	rc = repo_chunk_open(o, o->location, true, &repo->cs);
	if (rc) {
		repo_close(repo);
		return rc;
	}
	*ret = repo;
	return 0;
}

void repo_close(struct repo *repo)
{
	if (!repo)
		return;
	repo_chunk_close(repo->cs);
	free(repo);
}

void repo_release(struct repo *repo)
{
	if (repo)
		repo_chunk_release(repo->cs);
}

bool repo_is_chunk_store(const struct repo *repo)
{
	return repo->cs;
}

const char *repo_label(const struct repo *repo)
{
	return repo->cs ? repo_chunk_label(repo->cs) : repo->location;
}

int repo_load(struct repo *repo, const char *key, struct repo_meta *m)
{
	return repo->cs ? repo_chunk_load(repo->cs, key, m) : repo_dir_load(repo->location, key, m);
}

int repo_newest_named(struct repo *repo, const char *name, const char *skip_key,
		      struct repo_meta *m)
{
	return repo->cs ? repo_chunk_newest_named(repo->cs, name, skip_key, m)
			: repo_dir_newest_named(repo->location, name, skip_key, m);
}

int repo_for_each(struct repo *repo, int (*fn)(struct repo_meta *m, void *arg), void *arg)
{
	return repo->cs ? repo_chunk_for_each(repo->cs, fn, arg)
			: repo_dir_for_each(repo->location, fn, arg);
}

int repo_remove(struct repo *repo, const char *key)
{
	return repo->cs ? repo_chunk_remove_key(repo->cs, key)
			: repo_dir_remove_key(repo->location, key);
}

/* ------------------------------------------------------ dump */

int repo_stage(struct repo *repo, char *buf, size_t len, int *ret_lock)
{
	int ret;

	if (repo->cs)
		return repo_chunk_stage(repo->cs, buf, len, ret_lock);
	repo_dir_sweep(repo->location);
	ret = make_staging_dir(repo->location, buf, len, ret_lock);
	if (ret < 0)
		log_error("cannot create a staging directory in %s: %s", repo->location,
			  strerror(-ret));
	return ret;
}

/* A plain directory: the snapshot renamed into place, then KEY.json, which makes it visible. */
static int publish_dir(struct repo *repo, const char *staged, struct repo_meta *m,
		       void (*before_visible)(const char *dir, void *arg), void *arg)
{
	char final[PATH_MAX];
	int ret, lock;

	/* locked until KEY.json makes it visible: a sweep takes it only if we are killed */
	lock = repo_dir_lock_dir(staged);
	if (lock < 0)
		return lock;
	ret = repo_dir_publish(repo->location, staged, m->key);
	if (ret < 0) {
		close(lock);
		return ret;
	}
	snprintf(final, sizeof(final), "%s/%s", repo->location, m->key);
	/* before KEY.json exists no start restores it: a start never sees half of it */
	if (before_visible)
		before_visible(final, arg);
	m->size = repo_dir_size(final);
	ret = repo_dir_save(repo->location, m);
	close(lock);
	return ret;
}

int repo_publish(struct repo *repo, const char *staged, struct repo_meta *m,
		 void (*before_visible)(const char *dir, void *arg), void *arg)
{
	int ret;

	if (!repo->cs)
		return publish_dir(repo, staged, m, before_visible, arg);
	/* a chunk store: all of it goes into the staged directory, which is put and removed */
	if (before_visible)
		before_visible(staged, arg);
	m->size = repo_dir_size(staged);
	ret = repo_chunk_publish(repo->cs, staged, m);
	repo_dir_remove_tree(staged);
	return ret;
}

int repo_put_named(struct repo *repo, const char *staged, const char *name,
		   struct store_digest *ret)
{
	if (!repo->cs) {
		log_error("%s: snapshots are put by name into a chunk store only", repo->location);
		return -EINVAL;
	}
	return repo_chunk_put_named(repo->cs, staged, name, ret);
}

void repo_count_restore(struct repo *repo, struct repo_meta *m)
{
	if (repo->cs)
		return;
	m->restored++;
	if (repo_dir_save(repo->location, m) < 0)
		log_warn("could not count the restore in %s/%s.json", repo->location, m->key);
}

/* ------------------------------------------------------ restore */

struct repo_restore {
	char dir[PATH_MAX];
	struct store_snap_restore *sr; /* from a chunk store; NULL: a plain directory */
	struct repo_chunk *own; /* repo_restore_named's store, closed with the restore */
	char key[REPO_KEY_LEN + 1]; /* repo_restore_open's; "": by name */
	struct repo_pages pages;
};

int repo_restore_open(struct repo *repo, const char *key, struct repo_restore **ret)
{
	struct repo_restore *rr = calloc(1, sizeof(*rr));
	char sname[STORE_NAME_MAX + 1];
	int rc;

	*ret = NULL;
	if (!rr)
		return -ENOMEM;
	if (!repo->cs) {
		snprintf(rr->dir, sizeof(rr->dir), "%s/%s", repo->location, key);
		*ret = rr;
		return 0;
	}
	repo_chunk_key_name(key, sname);
	rc = repo_chunk_restore_open(repo->cs, sname, &rr->sr);
	if (rc) {
		free(rr);
		return rc;
	}
	snprintf(rr->dir, sizeof(rr->dir), "%s", store_snap_restore_dir(rr->sr));
	snprintf(rr->key, sizeof(rr->key), "%s", key);
	repo_pages_init(&rr->pages, rr->sr);
	*ret = rr;
	return 0;
}

int repo_restore_meta(struct repo_restore *rr, struct repo_meta *m)
{
	if (!rr->sr || !rr->key[0])
		return 0;
	repo_meta_release(m);
	return repo_chunk_copy_meta(rr->dir, rr->key, m);
}

int repo_restore_named(const struct repo_opts *o, const char *name, struct repo_restore **ret)
{
	struct repo_restore *rr = calloc(1, sizeof(*rr));
	int rc;

	*ret = NULL;
	if (!rr)
		return -ENOMEM;
	rc = repo_chunk_open(o, o->location, false, &rr->own);
	if (!rc)
		rc = repo_chunk_restore_open(rr->own, name, &rr->sr);
	if (rc) {
		repo_restore_close(rr);
		return rc;
	}
	snprintf(rr->dir, sizeof(rr->dir), "%s", store_snap_restore_dir(rr->sr));
	repo_pages_init(&rr->pages, rr->sr);
	*ret = rr;
	return 0;
}

const char *repo_restore_dir(const struct repo_restore *rr)
{
	return rr->dir;
}

const struct engine_page_source *repo_restore_pages(struct repo_restore *rr)
{
	return rr->sr ? &rr->pages.source : NULL;
}

void repo_restore_close(struct repo_restore *rr)
{
	if (!rr)
		return;
	store_snap_restore_close(rr->sr);
	repo_chunk_close(rr->own);
	free(rr);
}

/* ------------------------------------------------------ thaw snapshots */

struct listing {
	FILE *out;
	json_t *array;
	size_t count;
};

static int list_one(struct repo_meta *m, void *arg)
{
	struct listing *l = arg;
	char when[32], restored[24];
	struct tm tm;
	time_t t = (time_t)m->created;

	l->count++;
	if (l->array) {
		json_array_append_new(l->array,
				      json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "name", m->name,
						"key", m->key, "command", m->command, "size",
						(json_int_t)m->size, "created", (json_int_t)m->created,
						"restored", m->restored_unknown ? json_null() :
						json_integer((json_int_t)m->restored)));
		return 0;
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (m->restored_unknown)
		snprintf(restored, sizeof(restored), "-");
	else
		snprintf(restored, sizeof(restored), "%llu", (unsigned long long)m->restored);
	if (l->count == 1)
		fprintf(l->out, "%-20s %-24s %10s  %-19s  %8s  %s\n", "NAME", "KEY", "SIZE",
			"CREATED", "RESTORED", "COMMAND");
	fprintf(l->out, "%-20s %-24s %6.1f MiB  %-19s  %8s  %s\n", m->name, m->key,
		(double)m->size / (1 << 20), when, restored, m->command);
	return 0;
}

int repo_list(const struct repo_opts *o, FILE *out, bool json)
{
	struct listing l = { .out = out, .array = json ? json_array() : NULL };
	struct repo *repo = NULL;
	int ret;

	ret = repo_open(o, false, &repo, NULL);
	if (!ret)
		ret = repo_for_each(repo, list_one, &l);
	if (json) {
		if (!ret) {
			json_dumpf(l.array, out, JSON_INDENT(2));
			fputc('\n', out);
		}
		json_decref(l.array);
	} else if (!ret && !l.count) {
		fprintf(out, "no snapshots in %s\n", repo->location);
	}
	repo_close(repo);
	return ret;
}

struct removal {
	const char *what;
	char (*keys)[REPO_KEY_LEN + 1];
	size_t nr, cap;
};

static int match_one(struct repo_meta *m, void *arg)
{
	struct removal *r = arg;
	size_t wl = strlen(r->what);

	if (strcmp(m->name, r->what) && (wl < 4 || strncmp(m->key, r->what, wl)))
		return 0;
	if (r->nr == r->cap) {
		void *more = realloc(r->keys, (r->cap * 2 + 8) * sizeof(*r->keys));

		if (!more)
			return -ENOMEM;
		r->keys = more;
		r->cap = r->cap * 2 + 8;
	}
	memcpy(r->keys[r->nr++], m->key, REPO_KEY_LEN + 1);
	return 0;
}

int repo_remove_matching(const struct repo_opts *o, const char *name_or_key, FILE *out)
{
	struct removal r = { .what = name_or_key };
	struct repo *repo = NULL;
	size_t i;
	int ret;

	ret = repo_open(o, false, &repo, NULL);
	if (!ret)
		ret = repo_for_each(repo, match_one, &r);
	if (!ret && !r.nr) {
		log_error("no snapshot named or keyed '%s' in %s", name_or_key, repo->location);
		ret = -ENOENT;
	}
	for (i = 0; !ret && i < r.nr; i++) {
		ret = repo_remove(repo, r.keys[i]);
		if (!ret)
			fprintf(out, "removed %s\n", r.keys[i]);
	}
	free(r.keys);
	repo_close(repo);
	return ret;
}
