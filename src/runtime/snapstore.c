/*
 * snapstore.c - where thaw run keeps its snapshots.
 *
 * The store is a directory (0700) holding, per launch key, the snapshot
 * directory KEY/ written by the engine and a metadata file KEY.json (0600):
 * name, key, command, created, size, times restored, the control fd number,
 * whether stdout is thaw run's pipe (--snap-on-stdout) and the key's ingredients.  Metadata is replaced with write-to-temporary +
 * rename, and a snapshot directory with one RENAME_EXCHANGE, so a reader
 * sees the old or the new one, never half of either.  A snapshot is
 * published as KEY/ and then made visible by KEY.json; until then it is
 * locked (flock), and so is a temporary metadata file: what a killed thaw
 * run left half done (KEY/ without KEY.json, KEY.json.tmp-PID, a dump-XXXXXX
 * staging directory) has a free lock, and the next snapshot sweeps it.
 * Metadata is untrusted input: every field is type-checked and bounded.
 */
#define LOG_TAG "store"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/dirs.h"
#include "base/trust.h"
#include "runtime-internal.h"

#define META_MAX (1u << 20)
#define META_NAME_MAX 255 /* thaw run's own names are shorter (struct run) */

void snap_meta_release(struct snap_meta *m)
{
	free(m->name);
	free(m->command);
	json_decref(m->ingredients);
	memset(m, 0, sizeof(*m));
}

bool runtime_key_valid(const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
			return false;
	return i == RUNTIME_KEY_LEN;
}

int snap_meta_from_json(json_t *root, const char *key, struct snap_meta *m)
{
	json_t *k = json_object_get(root, "key"), *name = json_object_get(root, "name"), *v;
	json_int_t fd;

	memset(m, 0, sizeof(*m));
	/* a key is a path component and 24 hex digits exactly: nothing else is copied as one */
	if (!json_is_string(k) || !runtime_key_valid(json_string_value(k)) ||
	    (key && strcmp(json_string_value(k), key)) || !json_is_string(name) ||
	    json_string_length(name) > META_NAME_MAX ||
	    strlen(json_string_value(name)) != json_string_length(name))
		return -EBADMSG;
	memcpy(m->key, json_string_value(k), sizeof(m->key));
	m->name = strdup(json_string_value(name));
	v = json_object_get(root, "command");
	m->command = strdup(json_is_string(v) ? json_string_value(v) : "");
	m->created = json_integer_value(json_object_get(root, "created"));
	m->created_ns = json_integer_value(json_object_get(root, "created_ns"));
	m->size = (uint64_t)json_integer_value(json_object_get(root, "size"));
	m->restored = (uint64_t)json_integer_value(json_object_get(root, "restored"));
	/* bounded before it is made an int: 2^32 + 5 is not fd 5 */
	fd = json_integer_value(json_object_get(root, "control_fd"));
	m->control_fd = fd >= 3 && fd <= (1 << 20) ? (int)fd : -1;
	m->stdout_pipe = json_is_true(json_object_get(root, "stdout_pipe"));
	v = json_object_get(root, "ingredients");
	m->ingredients = json_is_object(v) ? json_incref(v) : NULL;
	if (!m->name || !m->command) {
		snap_meta_release(m);
		return -ENOMEM;
	}
	return 0;
}

int snap_meta_load_file(const char *path, const char *key, struct snap_meta *m)
{
	json_error_t jerr;
	json_t *root;
	struct stat st;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	/* not a link, not a FIFO, and written by nobody but root or us (base/trust.h) */
	fd = trust_open_file("thaw run's store", path, &st);
	if (fd < 0)
		return fd;
	if (st.st_size > META_MAX) {
		close(fd);
		return -EFBIG;
	}
	root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (!root)
		return -EBADMSG;
	ret = snap_meta_from_json(root, key, m);
	json_decref(root);
	return ret;
}

int snapstore_load(const char *store, const char *key, struct snap_meta *m)
{
	char path[PATH_MAX];

	memset(m, 0, sizeof(*m));
	if (!runtime_key_valid(key))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s.json", store, key);
	return snap_meta_load_file(path, key, m);
}

/*
 * The temporary file is locked while it is written: one a killed thaw run
 * left has a free lock, and snapstore_sweep() removes it.  A sweep that came
 * between our open and our flock has unlinked it: then it is made again.
 */
static int open_locked_tmp(const char *tmp)
{
	struct stat st;
	int fd, tries;

	for (tries = 0; tries < 16; tries++) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

int runtime_write_file_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX + 32];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, getpid());
	fd = open_locked_tmp(tmp);
	if (fd < 0) {
		errno = -fd;
		return log_errno("writing %s", tmp);
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) || close(fd)) {
		int err = log_errno("writing %s", tmp);

		unlink(tmp);
		return err;
	}
	if (rename(tmp, path)) {
		int err = log_errno("renaming %s", tmp);

		unlink(tmp);
		return err;
	}
	return 0;
}

char *snap_meta_to_json(const struct snap_meta *m)
{
	json_t *root;
	char *text;

	root = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:i, s:b, s:O}", "version",
			 RUNTIME_FORMAT_VERSION, "name", m->name, "key", m->key, "command",
			 m->command, "created", (json_int_t)m->created, "created_ns",
			 (json_int_t)m->created_ns, "size", (json_int_t)m->size, "restored",
			 (json_int_t)m->restored, "control_fd", m->control_fd, "stdout_pipe",
			 m->stdout_pipe, "ingredients",
			 m->ingredients ? m->ingredients : json_null());
	if (!root)
		return NULL;
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	return text;
}

int snapstore_save(const char *store, const struct snap_meta *m)
{
	char path[PATH_MAX], *text = snap_meta_to_json(m);
	int ret;

	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s.json", store, m->key);
	ret = runtime_write_file_atomic(path, text);
	free(text);
	return ret;
}

/* Calls fn for every loadable metadata file; stops when fn returns non-zero. */
static int for_each_meta(const char *store, int (*fn)(struct snap_meta *m, void *arg), void *arg)
{
	DIR *d = opendir(store);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : log_errno("opening the store %s", store);
	while (!ret && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char key[RUNTIME_KEY_LEN + 1];
		struct snap_meta m;

		if (len != RUNTIME_KEY_LEN + 5 || strcmp(de->d_name + RUNTIME_KEY_LEN, ".json"))
			continue;
		memcpy(key, de->d_name, RUNTIME_KEY_LEN);
		key[RUNTIME_KEY_LEN] = '\0';
		if (snapstore_load(store, key, &m))
			continue;
		ret = fn(&m, arg);
		snap_meta_release(&m);
	}
	closedir(d);
	return ret < 0 ? ret : 0;
}

static int found_one(struct snap_meta *m, void *arg)
{
	(void)m;
	*(bool *)arg = true;
	return -ECANCELED; /* one is enough */
}

bool snapstore_has_snapshots(const char *store)
{
	bool found = false;

	if (for_each_meta(store, found_one, &found) && !found)
		return false;
	return found;
}

struct newest {
	const char *name, *skip_key;
	struct snap_meta *best;
	bool found;
};

static int pick_newest(struct snap_meta *m, void *arg)
{
	struct newest *n = arg;

	if (strcmp(m->name, n->name) || (n->skip_key && !strcmp(m->key, n->skip_key)))
		return 0;
	if (n->found && n->best->created_ns >= m->created_ns)
		return 0;
	if (n->found)
		snap_meta_release(n->best);
	*n->best = *m;
	memset(m, 0, sizeof(*m));
	n->found = true;
	return 0;
}

int snapstore_newest_named(const char *store, const char *name, const char *skip_key,
			   struct snap_meta *m)
{
	struct newest n = { .name = name, .skip_key = skip_key, .best = m };
	int ret;

	memset(m, 0, sizeof(*m));
	ret = for_each_meta(store, pick_newest, &n);
	if (ret)
		return ret;
	return n.found ? 0 : -ENOENT;
}

int snapstore_mkdir(const char *store)
{
	int ret = make_dirs(store);

	if (ret < 0)
		log_error("creating the store %s: %s", store, strerror(-ret));
	return ret;
}

/* Removes a snapshot directory: plain files, and a process tree's proc-PID/ subdirectories. */
int snapstore_remove_tree(const char *dir)
{
	int ret = rm_tree(AT_FDCWD, dir, 1);

	return ret == -ENOENT ? 0 : ret;
}

/* KEY (not KEY.json, nor anything else) */
static bool is_key_dir_name(const char *name)
{
	return strlen(name) == RUNTIME_KEY_LEN && runtime_key_valid(name);
}

/* KEY.json.tmp-PID */
static bool is_meta_tmp_name(const char *name)
{
	const char *tmp = strstr(name, ".json.tmp-");

	return tmp && tmp - name == RUNTIME_KEY_LEN;
}

void snapstore_sweep(const char *store)
{
	char meta[RUNTIME_KEY_LEN + sizeof(".json")];
	struct dirent *de;
	DIR *d = opendir(store);
	int fd, removed = 0;

	while (d && (de = readdir(d))) {
		bool is_dir = is_key_dir_name(de->d_name);

		if (!is_dir && !is_meta_tmp_name(de->d_name))
			continue;
		snprintf(meta, sizeof(meta), "%.*s.json", RUNTIME_KEY_LEN, de->d_name);
		if (is_dir && faccessat(dirfd(d), meta, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* locked: its writer runs; once we hold the lock, look again */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (!is_dir)
				removed += unlinkat(dirfd(d), de->d_name, 0) == 0;
			else if (faccessat(dirfd(d), meta, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
				 errno == ENOENT)
				removed += rm_tree(dirfd(d), de->d_name, 1) == 0;
		}
		close(fd);
	}
	if (d)
		closedir(d);
	removed += sweep_locked_dirs(store, STAGING_PREFIX, 2);
	if (removed)
		log_info("%s: removed %d unfinished snapshot%s left by killed runs", store, removed,
			 removed == 1 ? "" : "s");
}

int snapstore_lock_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return log_errno("%s", dir);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int err = log_errno("locking %s", dir);

			close(fd);
			return err;
		}
	}
	return fd;
}

int snapstore_publish(const char *store, const char *staged, const char *key)
{
	char final[PATH_MAX];

	snprintf(final, sizeof(final), "%s/%s", store, key);
	if (rename(staged, final) == 0)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return log_errno("publishing %s as %s", staged, final);
	/* an older snapshot under this key (files changed): swap, then drop it */
	if (syscall(SYS_renameat2, AT_FDCWD, staged, AT_FDCWD, final, 2 /* RENAME_EXCHANGE */))
		return log_errno("replacing %s", final);
	if (snapstore_remove_tree(staged))
		log_warn("could not remove the replaced snapshot %s", staged);
	return 0;
}

uint64_t snapstore_dir_size(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0;
	struct stat st;

	while (d && (de = readdir(d)))
		if (!fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_blocks * 512;
	if (d)
		closedir(d);
	return total;
}

int snapstore_remove_key(const char *store, const char *key)
{
	char path[PATH_MAX];
	int ret;

	if (!runtime_key_valid(key))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s.json", store, key);
	/* metadata first: without it the directory is never restored */
	if (unlink(path) && errno != ENOENT)
		return log_errno("removing %s", path);
	snprintf(path, sizeof(path), "%s/%s", store, key);
	ret = snapstore_remove_tree(path);
	if (ret)
		log_error("removing %s: %s", path, strerror(-ret));
	return ret;
}

/* ------------------------------------------------------ thaw snapshots */

int runtime_store_dir(const char *store, char *buf, size_t len)
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

struct listing {
	FILE *out;
	json_t *array;
	size_t count;
};

static int list_one(struct snap_meta *m, void *arg)
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

/* The store o names: a plain directory (*ret_cs NULL) or an opened chunk store. */
static int open_listed(const struct runtime_store_opts *o, char *dir, size_t len,
		       struct chunkstore **ret_cs)
{
	int ret;

	*ret_cs = NULL;
	ret = runtime_store_dir(o->location, dir, len);
	if (ret)
		return ret;
	if (!chunkstore_is(dir))
		return 0;
	ret = chunkstore_open(o, dir, ret_cs);
	return ret;
}

static int for_each_in(const char *dir, struct chunkstore *cs,
		       int (*fn)(struct snap_meta *m, void *arg), void *arg)
{
	return cs ? chunkstore_for_each(cs, fn, arg) : for_each_meta(dir, fn, arg);
}

int runtime_list(const struct runtime_store_opts *o, FILE *out, bool json)
{
	struct listing l = { .out = out, .array = json ? json_array() : NULL };
	struct chunkstore *cs;
	char dir[PATH_MAX];
	int ret;

	ret = open_listed(o, dir, sizeof(dir), &cs);
	if (!ret)
		ret = for_each_in(dir, cs, list_one, &l);
	if (json) {
		if (!ret) {
			json_dumpf(l.array, out, JSON_INDENT(2));
			fputc('\n', out);
		}
		json_decref(l.array);
	} else if (!ret && !l.count) {
		fprintf(out, "no snapshots in %s\n", dir);
	}
	chunkstore_close(cs);
	return ret;
}

struct removal {
	const char *what;
	char (*keys)[RUNTIME_KEY_LEN + 1];
	size_t nr, cap;
};

static int match_one(struct snap_meta *m, void *arg)
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
	memcpy(r->keys[r->nr++], m->key, RUNTIME_KEY_LEN + 1);
	return 0;
}

int runtime_remove(const struct runtime_store_opts *o, const char *name_or_key, FILE *out)
{
	struct removal r = { .what = name_or_key };
	struct chunkstore *cs;
	char dir[PATH_MAX];
	size_t i;
	int ret;

	ret = open_listed(o, dir, sizeof(dir), &cs);
	if (!ret)
		ret = for_each_in(dir, cs, match_one, &r);
	if (!ret && !r.nr) {
		log_error("no snapshot named or keyed '%s' in %s", name_or_key, dir);
		ret = -ENOENT;
	}
	for (i = 0; !ret && i < r.nr; i++) {
		ret = cs ? chunkstore_remove_key(cs, r.keys[i]) : snapstore_remove_key(dir, r.keys[i]);
		if (!ret)
			fprintf(out, "removed %s\n", r.keys[i]);
	}
	free(r.keys);
	chunkstore_close(cs);
	return ret;
}
