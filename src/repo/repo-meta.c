/*
 * repo-meta.c - a snapshot's metadata (struct repo_meta): thaw run's record
 * of it, as JSON beside it (KEY.json, repo-dir.c) or inside it (run.json,
 * repo-chunk.c).  Untrusted input: every field is type-checked and bounded.
 */
#define LOG_TAG "store"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/trust.h"
#include "repo/repo-internal.h"

#define META_MAX (1u << 20)
#define META_NAME_MAX 255 /* thaw run's own names are shorter (struct run) */

void repo_meta_release(struct repo_meta *m)
{
	free(m->name);
	free(m->command);
	json_decref(m->ingredients);
	memset(m, 0, sizeof(*m));
}

bool repo_key_valid(const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
			return false;
	return i == REPO_KEY_LEN;
}

int repo_meta_from_json(json_t *root, const char *key, struct repo_meta *m)
{
	json_t *k = json_object_get(root, "key"), *name = json_object_get(root, "name"), *v;
	json_int_t fd;

	memset(m, 0, sizeof(*m));
	/* a key is a path component and 24 hex digits exactly: nothing else is copied as one */
	if (!json_is_string(k) || !repo_key_valid(json_string_value(k)) ||
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
		repo_meta_release(m);
		return -ENOMEM;
	}
	return 0;
}

int repo_meta_load_file(const char *path, const char *key, struct repo_meta *m)
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
	ret = repo_meta_from_json(root, key, m);
	json_decref(root);
	return ret;
}

/*
 * The temporary file is locked while it is written: one a killed thaw run
 * left has a free lock, and repo_dir_sweep() removes it.  A sweep that came
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

int repo_write_file_atomic(const char *path, const char *text)
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

char *repo_meta_to_json(const struct repo_meta *m)
{
	json_t *root;
	char *text;

	root = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:i, s:b, s:O}", "version",
			 REPO_META_VERSION, "name", m->name, "key", m->key, "command",
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
