/*
 * repo-dir.c - a plain directory of snapshots.
 *
 * The repository is a directory (0700) holding, per launch key, the snapshot
 * directory KEY/ written by the engine and a metadata file KEY.json (0600):
 * name, key, command, created, size, times restored, the control fd number,
 * whether stdout is thaw run's pipe (--snap-on-stdout) and the key's ingredients.  Metadata is replaced with write-to-temporary +
 * rename, and a snapshot directory with one RENAME_EXCHANGE, so a reader
 * sees the old or the new one, never half of either.  A snapshot is
 * published as KEY/ and then made visible by KEY.json; until then it is
 * locked (flock), and so is a temporary metadata file: what a killed thaw
 * run left half done (KEY/ without KEY.json, KEY.json.tmp-PID, a dump-XXXXXX
 * staging directory) has a free lock, and the next snapshot sweeps it.
 * Metadata is untrusted input (repo-meta.c): every field is type-checked and bounded.
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
#include "repo/repo-internal.h"

int repo_dir_load(const char *store, const char *key, struct repo_meta *m)
{
	char path[PATH_MAX];

	memset(m, 0, sizeof(*m));
	if (!repo_key_valid(key))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s.json", store, key);
	return repo_meta_load_file(path, key, m);
}

int repo_dir_save(const char *store, const struct repo_meta *m)
{
	char path[PATH_MAX], *text = repo_meta_to_json(m);
	int ret;

	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s.json", store, m->key);
	ret = repo_write_file_atomic(path, text);
	free(text);
	return ret;
}

/* Calls fn for every loadable metadata file; stops when fn returns non-zero. */
int repo_dir_for_each(const char *store, int (*fn)(struct repo_meta *m, void *arg), void *arg)
{
	DIR *d = opendir(store);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : log_errno("opening the store %s", store);
	while (!ret && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char key[REPO_KEY_LEN + 1];
		struct repo_meta m;

		if (len != REPO_KEY_LEN + 5 || strcmp(de->d_name + REPO_KEY_LEN, ".json"))
			continue;
		memcpy(key, de->d_name, REPO_KEY_LEN);
		key[REPO_KEY_LEN] = '\0';
		if (repo_dir_load(store, key, &m))
			continue;
		ret = fn(&m, arg);
		repo_meta_release(&m);
	}
	closedir(d);
	return ret < 0 ? ret : 0;
}

static int found_one(struct repo_meta *m, void *arg)
{
	(void)m;
	*(bool *)arg = true;
	return -ECANCELED; /* one is enough */
}

bool repo_dir_has_snapshots(const char *store)
{
	bool found = false;

	if (repo_dir_for_each(store, found_one, &found) && !found)
		return false;
	return found;
}

struct newest {
	const char *name, *skip_key;
	struct repo_meta *best;
	bool found;
};

static int pick_newest(struct repo_meta *m, void *arg)
{
	struct newest *n = arg;

	if (strcmp(m->name, n->name) || (n->skip_key && !strcmp(m->key, n->skip_key)))
		return 0;
	if (n->found && n->best->created_ns >= m->created_ns)
		return 0;
	if (n->found)
		repo_meta_release(n->best);
	*n->best = *m;
	memset(m, 0, sizeof(*m));
	n->found = true;
	return 0;
}

int repo_dir_newest_named(const char *store, const char *name, const char *skip_key,
			   struct repo_meta *m)
{
	struct newest n = { .name = name, .skip_key = skip_key, .best = m };
	int ret;

	memset(m, 0, sizeof(*m));
	ret = repo_dir_for_each(store, pick_newest, &n);
	if (ret)
		return ret;
	return n.found ? 0 : -ENOENT;
}

int repo_dir_mkdir(const char *store)
{
	int ret = make_dirs(store);

	if (ret < 0)
		log_error("creating the store %s: %s", store, strerror(-ret));
	return ret;
}

/* Removes a snapshot directory: plain files, and a process tree's proc-PID/ subdirectories. */
int repo_dir_remove_tree(const char *dir)
{
	int ret = rm_tree(AT_FDCWD, dir, 1);

	return ret == -ENOENT ? 0 : ret;
}

/* KEY (not KEY.json, nor anything else) */
static bool is_key_dir_name(const char *name)
{
	return strlen(name) == REPO_KEY_LEN && repo_key_valid(name);
}

/* KEY.json.tmp-PID */
static bool is_meta_tmp_name(const char *name)
{
	const char *tmp = strstr(name, ".json.tmp-");

	return tmp && tmp - name == REPO_KEY_LEN;
}

void repo_dir_sweep(const char *store)
{
	char meta[REPO_KEY_LEN + sizeof(".json")];
	struct dirent *de;
	DIR *d = opendir(store);
	int fd, removed = 0;

	while (d && (de = readdir(d))) {
		bool is_dir = is_key_dir_name(de->d_name);

		if (!is_dir && !is_meta_tmp_name(de->d_name))
			continue;
		snprintf(meta, sizeof(meta), "%.*s.json", REPO_KEY_LEN, de->d_name);
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

int repo_dir_lock_dir(const char *dir)
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

int repo_dir_publish(const char *store, const char *staged, const char *key)
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
	if (repo_dir_remove_tree(staged))
		log_warn("could not remove the replaced snapshot %s", staged);
	return 0;
}

uint64_t repo_dir_size(const char *dir)
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

int repo_dir_remove_key(const char *store, const char *key)
{
	char path[PATH_MAX];
	int ret;

	if (!repo_key_valid(key))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s.json", store, key);
	/* metadata first: without it the directory is never restored */
	if (unlink(path) && errno != ENOENT)
		return log_errno("removing %s", path);
	snprintf(path, sizeof(path), "%s/%s", store, key);
	ret = repo_dir_remove_tree(path);
	if (ret)
		log_error("removing %s: %s", path, strerror(-ret));
	return ret;
}
