/*
 * store-dir.c - a whole snapshot directory into the store and back out.
 *
 * put: every regular file of the directory (pages.img, data.img, the
 * manifest files ...) is cut into chunks by content, a store manifest lists
 * them in name order, and the name is pointed at it last, so a reader never
 * sees a name whose chunks are not all stored.  The disk tier's lock is held
 * shared meanwhile, so gc's sweep waits for the writer.
 *
 * get: the files are rebuilt in DIR.tmp-XXXXXX (0700, files 0600, zero
 * chunks left as holes), fsynced, and published with one rename(); on any
 * error the temporary directory is removed and DIR is never touched, so a
 * failed get leaves nothing half-written behind.
 */
#define LOG_TAG "store"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/lifeline.h"
#include "base/io.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/trust.h"
#include "store/store-internal.h"

#define GET_BATCH 64

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Adds the regular files of dir (sub "" for itself, or one subdirectory),
 * subdirectories once.  dfd is dir, checked (base/trust.h): what goes into the
 * store is restored by root later, so it must be what only root (or we) wrote.
 */
static int list_level(const char *dir, int dfd, const char *sub, char **names, size_t *n)
{
	char path[PATH_MAX], name[PATH_MAX], what[PATH_MAX + 32];
	struct dirent *e;
	struct stat st;
	DIR *dp;
	int fd, rc = 0;

	snprintf(what, sizeof(what), "snapshot directory %s", dir);
	if (*sub)
		rc = trust_openat_dir(what, dfd, sub, &fd);
	else if ((fd = dup(dfd)) < 0)
		rc = log_errno("%s", dir);
	if (rc)
		return rc == -ENOENT || rc == -ENOTDIR ? -EINVAL : rc;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return log_errno("%s", what);
	}
	while ((e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(name, sizeof(name), "%s%s%s", sub, *sub ? "/" : "", e->d_name);
		if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
			rc = -ENAMETOOLONG;
			break;
		}
		if (fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = log_errno("%s", path);
			break;
		}
		if (S_ISDIR(st.st_mode) && !*sub) {
			/* a tree's snapshot: one directory per process besides the root */
			rc = list_level(dir, dfd, e->d_name, names, n);
			if (rc)
				break;
			continue;
		}
		if (!S_ISREG(st.st_mode) || strlen(name) > STORE_MAX_FILE_NAME) {
			log_error("%s: only regular files (and one level of directories) go into "
				  "the store",
				  path);
			rc = -EINVAL;
			break;
		}
		if (*n == STORE_MAX_FILES) {
			log_error("snapshot directory %s: more than %d files", dir, STORE_MAX_FILES);
			rc = -E2BIG;
			break;
		}
		names[*n] = strdup(name);
		if (!names[(*n)++]) {
			rc = -ENOMEM;
			break;
		}
	}
	closedir(dp);
	return rc;
}

static int list_files(const char *dir, int dfd, char ***ret, size_t *nr)
{
	char **names;
	size_t n = 0;
	int rc;

	names = calloc(STORE_MAX_FILES, sizeof(*names));
	if (!names)
		return -ENOMEM;
	rc = list_level(dir, dfd, "", names, &n);
	if (rc) {
		while (n)
			free(names[--n]);
		free(names);
		return rc;
	}
	qsort(names, n, sizeof(*names), by_name);
	*ret = names;
	*nr = n;
	return 0;
}

/* Makes the subdirectories (0700) that the files of a tree's snapshot live in. */
int store_make_subdirs(int dfd, const struct store_manifest *m, const char *dir)
{
	uint32_t i;

	for (i = 0; i < m->nr_files; i++) {
		const char *slash = strchr(m->files[i].name, '/');
		char sub[STORE_MAX_FILE_NAME + 1];

		if (!slash)
			continue;
		snprintf(sub, sizeof(sub), "%.*s", (int)(slash - m->files[i].name), m->files[i].name);
		if (mkdirat(dfd, sub, 0700) < 0 && errno != EEXIST)
			return log_errno("%s/%s", dir, sub);
	}
	return 0;
}

/* Removes the files of m and their subdirectories from dfd. */
void store_remove_files(int dfd, const struct store_manifest *m)
{
	uint32_t i;

	for (i = 0; dfd >= 0 && i < m->nr_files; i++) {
		const char *slash = strchr(m->files[i].name, '/');
		char sub[STORE_MAX_FILE_NAME + 1];

		unlinkat(dfd, m->files[i].name, 0);
		if (!slash)
			continue;
		snprintf(sub, sizeof(sub), "%.*s", (int)(slash - m->files[i].name), m->files[i].name);
		unlinkat(dfd, sub, AT_REMOVEDIR);
	}
}

static int put_file(struct store *s, const char *dir, int dfd, const char *name,
		    struct store_file *f)
{
	char path[PATH_MAX], what[PATH_MAX + 32];
	struct stat st;
	void *map = NULL;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(what, sizeof(what), "snapshot directory %s", dir);
	fd = trust_openat_file(what, dfd, name, &st);
	if (fd < 0) {
		if (fd == -ENOENT)
			log_error("%s: gone while it was put", path);
		return fd;
	}
	f->name = strdup(name);
	f->mode = st.st_mode & 0777;
	rc = -ENOMEM;
	if (!f->name)
		goto out;
	rc = 0;
	if (st.st_size == 0)
		goto out;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		map = NULL;
		rc = log_errno("mmap %s", path);
		goto out;
	}
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	rc = store_put_buf(s, f, map, (size_t)st.st_size);
	if (rc)
		log_error("%s: could not store: %s", path, strerror(-rc));
out:
	if (map)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return rc;
}

/* The bytes of the files of a snapshot directory, for progress: 0 if unknown. */
static uint64_t dir_bytes(int dfd, char **names, size_t n)
{
	uint64_t sum = 0;
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++)
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	return sum;
}

int store_put_dir(struct store *s, const char *dir, const char *name, struct store_digest *ret)
{
	struct store_tier *disk = store_disk_tier(s);
	struct store_manifest m = { 0 };
	char **names = NULL, ctxbuf[STORE_NAME_MAX + 16], what[PATH_MAX + 32];
	size_t n = 0, i;
	int dfd = -1, rc;

	if (!store_name_valid(name)) {
		log_error("snapshot name '%.*s': use letters, digits and . _ - + @ : (not first .)",
			  STORE_NAME_MAX, name);
		return -EINVAL;
	}
	snprintf(ctxbuf, sizeof(ctxbuf), "snapshot %s", name);
	s->context = ctxbuf;
	snprintf(what, sizeof(what), "snapshot directory %s", dir);
	rc = trust_open_dir(what, dir, &dfd);
	if (rc == -ENOENT || rc == -ENOTDIR)
		log_error("%s: %s", what, strerror(-rc));
	if (rc)
		goto out;
	rc = list_files(dir, dfd, &names, &n);
	if (rc)
		goto out;
	if (disk) {
		rc = store_disk_lock(disk, false);
		if (rc)
			goto out;
	}
	m.files = calloc(n ? n : 1, sizeof(*m.files));
	rc = -ENOMEM;
	if (!m.files)
		goto unlock;
	m.created = (int64_t)time(NULL);
	progress_begin("put", dir_bytes(dfd, names, n));
	for (i = 0, rc = 0; i < n && !rc; i++) {
		rc = put_file(s, dir, dfd, names[i], &m.files[i]);
		m.nr_files++;
	}
	if (!rc)
		rc = store_manifest_put(s, &m, ret);
	/* the name is the commit: never made for a thaw command that is gone */
	if (!rc)
		fault_point("store-name");
	if (!rc)
		rc = lifeline_check();
	if (!rc)
		rc = store_name_set(s, name, ret);
	progress_end();
unlock:
	if (disk)
		store_disk_unlock(disk);
out:
	for (i = 0; i < m.nr_files; i++) {
		free(m.files[i].name);
		free(m.files[i].chunks);
	}
	free(m.files);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (dfd >= 0)
		close(dfd);
	s->context = NULL;
	return rc;
}

/* Rebuilds one file from its chunks, a batch of contiguous chunks at a time. */
static int get_file(struct store *s, int dfd, const char *dir, const struct store_file *f)
{
	uint8_t *buf = NULL, *outs[GET_BATCH];
	size_t i = 0, n, bytes;
	int fd, rc = 0;

	fd = openat(dfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return log_errno("%s/%s", dir, f->name);
	if (ftruncate(fd, (off_t)f->size) < 0) {
		rc = log_errno("%s/%s", dir, f->name);
		goto out;
	}
	buf = malloc((size_t)GET_BATCH * 4 * s->chunk_avg > STORE_CHUNK_MAX_LIMIT ?
			     (size_t)GET_BATCH * STORE_CHUNK_MAX_LIMIT :
			     (size_t)GET_BATCH * 4 * s->chunk_avg);
	rc = -ENOMEM;
	if (!buf)
		goto out;
	rc = 0;
	while (i < f->nr_chunks && !rc) {
		if (f->chunks[i].flags & STORE_CHUNK_ZERO) {
			progress_add(f->chunks[i].len);
			i++; /* a hole already (and a file may end in one) */
			continue;
		}
		for (n = 0, bytes = 0; i + n < f->nr_chunks && n < GET_BATCH; n++) {
			const struct store_chunk_ref *r = &f->chunks[i + n];

			if ((r->flags & STORE_CHUNK_ZERO) || r->len > 4 * s->chunk_avg)
				break;
			outs[n] = buf + bytes;
			bytes += r->len;
		}
		if (n == 0) { /* a chunk larger than this store cuts: alone, own buffer */
			uint8_t *big = malloc(f->chunks[i].len);

			if (!big)
				rc = -ENOMEM;
			if (!rc)
				rc = store_read_chunks(s, f->name, &f->chunks[i], 1, &big);
			if (!rc)
				rc = io_pwrite_all(fd, big, f->chunks[i].len, f->chunks[i].off);
			progress_add(f->chunks[i].len);
			free(big);
			i++;
			continue;
		}
		rc = store_read_chunks(s, f->name, &f->chunks[i], n, outs);
		if (!rc)
			rc = io_pwrite_all(fd, buf, bytes, f->chunks[i].off);
		progress_add(bytes);
		i += n;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (rc && rc != -ENOENT && rc != -EBADMSG && rc != -EKEYREJECTED && rc != -ENOKEY)
		log_error("%s/%s: %s", dir, f->name, strerror(-rc));
out:
	free(buf);
	close(fd);
	return rc;
}

static void remove_tmp(const char *tmp, int dfd, const struct store_manifest *m)
{
	store_remove_files(dfd, m);
	rmdir(tmp);
}

int store_get_dir(struct store *s, const char *name, const char *dir)
{
	struct store_manifest *m = NULL;
	char tmp[PATH_MAX], ctxbuf[STORE_NAME_MAX + 16];
	struct store_digest d;
	struct stat st;
	uint32_t i;
	int dfd = -1, rc;

	snprintf(ctxbuf, sizeof(ctxbuf), "snapshot %s", name);
	s->context = ctxbuf;
	if (lstat(dir, &st) == 0) {
		log_error("%s already exists: a snapshot is not written over another", dir);
		rc = -EEXIST;
		goto out;
	}
	rc = store_name_get(s, name, &d);
	if (rc)
		goto out;
	rc = store_manifest_get(s, &d, &m);
	if (rc)
		goto out;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dir) >= (int)sizeof(tmp)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	if (!mkdtemp(tmp)) {
		rc = log_errno("cannot create a directory beside %s", dir);
		goto out;
	}
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = log_errno("%s", tmp);
		goto fail;
	}
	rc = store_make_subdirs(dfd, m, tmp);
	progress_begin("get", 0);
	for (i = 0; i < m->nr_files; i++)
		progress_more(m->files[i].size);
	for (i = 0; i < m->nr_files && !rc; i++)
		rc = get_file(s, dfd, tmp, &m->files[i]);
	progress_end();
	for (i = 0; i < m->nr_files && !rc; i++)
		if (fchmodat(dfd, m->files[i].name, 0600, 0) < 0)
			rc = log_errno("%s/%s", tmp, m->files[i].name);
	if (rc)
		goto fail;
	if (fsync(dfd) < 0 || rename(tmp, dir) < 0) {
		rc = log_errno("cannot publish %s", dir);
		goto fail;
	}
	goto out;
fail:
	remove_tmp(tmp, dfd, m);
out:
	if (dfd >= 0)
		close(dfd);
	store_manifest_free(m);
	s->context = NULL;
	return rc;
}
