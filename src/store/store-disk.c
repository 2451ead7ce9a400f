/*
 * store-disk.c - the local disk tier: a directory several thaw processes
 * share.
 *
 *   DIR/chunks/ab/abcd...   one file per chunk (header + stored bytes)
 *   DIR/manifests/abcd...   manifests by digest
 *   DIR/names/NAME          "<manifest digest>\n"
 *   DIR/tmp/                where every object is written before rename()
 *   DIR/lock                flock: writers shared, gc exclusive
 *   DIR/evict.lock          flock: one evictor at a time
 * Objects appear whole or not at all (write to tmp, rename); a crash leaves
 * at most a stray file in tmp/ and, without fsync, perhaps a torn chunk
 * under its final name, which the crc and digest checks of every read catch.
 * With a size limit (a cache in front of a remote store) the least recently
 * read chunks go first: reads refresh the atime explicitly, since relatime
 * would not.  mtime is refreshed by writers that find a chunk already there,
 * which is what gc's grace period looks at.
 */
#define LOG_TAG "store"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/dirs.h"
#include "base/io.h"
#include "base/log.h"
#include "base/trust.h"
#include "store/store-internal.h"

struct disk_tier {
	struct store_tier t;
	char root[PATH_MAX - 128];
	uint64_t limit, used;
	bool used_known;
	int lock_fd;
	int root_fd; /* the directory, checked once: every read goes through it */
	/* chunks/, checked once as well and held: a chunk is read from its fan-out
	 * directory down, three system calls fewer for each of a restore's thousands */
	int chunks_fd;
	char chunks_label[sizeof(((struct store_tier *)0)->label) + 8];
};

static struct disk_tier *D(struct store_tier *t)
{
	return (struct disk_tier *)t;
}

static void obj_path(struct disk_tier *d, int kind, const char *id, char *out, size_t cap)
{
	if (kind == STORE_OBJ_CHUNK)
		snprintf(out, cap, "%s/chunks/%.2s/%s", d->root, id, id);
	else
		snprintf(out, cap, "%s/manifests/%s", d->root, id);
}

/*
 * The same path relative to the directory reads go through (chunks/ for a
 * chunk, the tier's own for the rest), which it returns, with its label.
 */
static int obj_rel(struct disk_tier *d, int kind, const char *id, char *out, size_t cap,
		   const char **label)
{
	if (kind == STORE_OBJ_CHUNK) {
		snprintf(out, cap, "%.2s/%s", id, id);
		*label = d->chunks_label;
		return d->chunks_fd;
	}
	snprintf(out, cap, "manifests/%s", id);
	*label = d->t.label;
	return d->root_fd;
}

/*
 * Reads a whole file of at most max bytes; -EFBIG when it is larger.  It is
 * opened relative to the checked directory of the tier (base/trust.h): a
 * link, a FIFO, or a file someone else could have written is -EBADMSG, a
 * bad copy like a corrupt one (logged here, with why).
 */
static int read_file(const char *label, int dir_fd, const char *rel, size_t max,
		     struct store_buf *out, bool touch_atime)
{
	struct stat st;
	size_t got = 0;
	int fd, rc;

	fd = trust_openat_file(label, dir_fd, rel, &st);
	if (fd < 0)
		return fd == -ENOENT || fd == -ENOMEM || fd == -EMFILE || fd == -ENFILE ? fd :
										     -EBADMSG;
	rc = -EFBIG;
	if ((uint64_t)st.st_size > max)
		goto out;
	rc = store_buf_reserve(out, (size_t)st.st_size + 1);
	if (rc)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, out->data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EBADMSG;
			goto out;
		}
		got += (size_t)n;
	}
	out->len = got;
	if (touch_atime) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_NOW }, { .tv_nsec = UTIME_OMIT } };

		futimens(fd, ts);
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Writes data to DIR/tmp and renames it to path; fsync when durable matters. */
static int write_atomic(struct disk_tier *d, const char *path, const void *data, size_t len,
			bool durable)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s/tmp/obj.XXXXXX", d->root);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return log_errno("%s: cannot create a temporary file", d->t.label);
	while (off < len) {
		ssize_t n = write(fd, (const uint8_t *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = log_errno("%s: write %s", d->t.label, tmp);
			goto fail;
		}
		off += (size_t)n;
	}
	if (durable && fsync(fd) < 0) {
		rc = log_errno("%s: fsync %s", d->t.label, tmp);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		rc = -errno;
		if (rc == -ENOENT) { /* the fan-out directory is created on first use */
			char dir[PATH_MAX];
			char *slash;

			snprintf(dir, sizeof(dir), "%s", path);
			slash = strrchr(dir, '/');
			*slash = 0;
			if ((mkdir(dir, 0700) == 0 || errno == EEXIST) && rename(tmp, path) == 0)
				return 0;
		}
		log_errno("%s: rename to %s", d->t.label, path);
		unlink(tmp);
		return rc;
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return rc;
}

/*
 * A chunk whose stored size says it may be kept plain (codec none, not
 * encrypted: header + exactly plain_len bytes) has its header read into out
 * and its body straight into plain, the caller's buffer: one copy fewer than
 * a read and a decode's memcpy (returns 1).  Anything else is read whole into
 * out (returns 0), as disk_get does.
 */
static int disk_get_plain(struct store_tier *t, const char *id, size_t max,
			  struct store_buf *out, void *plain, size_t plain_len)
{
	struct disk_tier *d = D(t);
	const char *label;
	char rel[128];
	struct stat st;
	int dir_fd = obj_rel(d, STORE_OBJ_CHUNK, id, rel, sizeof(rel), &label), fd, rc;

	fd = trust_openat_file(label, dir_fd, rel, &st);
	if (fd < 0)
		return fd == -ENOENT || fd == -ENOMEM || fd == -EMFILE || fd == -ENFILE ? fd :
										     -EBADMSG;
	rc = -EBADMSG; /* too big to be what it claims: corrupt, not fatal */
	if ((uint64_t)st.st_size > max)
		goto out;
	rc = store_buf_reserve(out, (size_t)st.st_size + 1);
	if (rc)
		goto out;
	if ((uint64_t)st.st_size == CHUNK_HEADER_SIZE + (uint64_t)plain_len) {
		/* header and body in one call; a short read is read again whole, below */
		struct iovec iov[2] = { { out->data, CHUNK_HEADER_SIZE }, { plain, plain_len } };

		if (preadv(fd, iov, 2, 0) == (ssize_t)st.st_size) {
			out->len = (size_t)st.st_size;
			if (store_chunk_codec(out->data, CHUNK_HEADER_SIZE) == STORE_CODEC_NONE &&
			    !store_chunk_encrypted(out->data)) {
				out->len = CHUNK_HEADER_SIZE;
				rc = 1;
			} else { /* the size of a plain one, but coded: decoded from out */
				memcpy(out->data + CHUNK_HEADER_SIZE, plain, plain_len);
				rc = 0;
			}
			goto touch;
		}
	}
	rc = io_pread_all(fd, out->data, (size_t)st.st_size, 0) ? -EBADMSG : 0;
	out->len = (size_t)st.st_size;
touch:
	if (rc >= 0 && d->limit) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_NOW }, { .tv_nsec = UTIME_OMIT } };

		futimens(fd, ts);
	}
out:
	close(fd);
	return rc;
}

static int disk_get(struct store_tier *t, int kind, const char *id, size_t max,
		    struct store_buf *out)
{
	const char *label;
	char rel[128];
	int dir_fd = obj_rel(D(t), kind, id, rel, sizeof(rel), &label), rc;

	rc = read_file(label, dir_fd, rel, max, out, D(t)->limit != 0);
	if (rc == -EFBIG)
		rc = -EBADMSG; /* too big to be what it claims: corrupt, not fatal */
	else if (rc && rc != -ENOENT && rc != -EBADMSG)
		log_error("%s: read %s: %s", label, rel, strerror(-rc));
	return rc;
}

static int usage_add(const char *id, const char *path, void *arg)
{
	struct stat st;

	(void)id;
	if (stat(path, &st) == 0)
		*(uint64_t *)arg += (uint64_t)st.st_blocks * 512;
	return 0;
}

struct lru_entry {
	int64_t atime;
	uint64_t size;
	char path[PATH_MAX - 64];
};

struct lru_list {
	struct lru_entry *v;
	size_t n, cap;
};

static int lru_add(const char *id, const char *path, void *arg)
{
	struct lru_list *l = arg;
	struct stat st;

	(void)id;
	if (stat(path, &st) < 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct lru_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].atime = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
	l->v[l->n].size = (uint64_t)st.st_blocks * 512;
	snprintf(l->v[l->n].path, sizeof(l->v[0].path), "%s", path);
	l->n++;
	return 0;
}

static int by_atime(const void *a, const void *b)
{
	const struct lru_entry *x = a, *y = b;

	return x->atime < y->atime ? -1 : x->atime > y->atime;
}

/*
 * Brings the chunks under 90% of the limit, oldest atime first.  One process
 * evicts at a time; the others go on (the limit is soft by one eviction).
 */
static void evict(struct disk_tier *d)
{
	struct lru_list l = { 0 };
	uint64_t used = 0, target = d->limit / 10 * 9;
	char path[PATH_MAX];
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/evict.lock", d->root);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto out;
	if (store_disk_scan(&d->t, STORE_OBJ_CHUNK, lru_add, &l))
		goto out;
	for (i = 0; i < l.n; i++)
		used += l.v[i].size;
	qsort(l.v, l.n, sizeof(l.v[0]), by_atime);
	for (i = 0; i < l.n && used > target; i++) {
		if (unlink(l.v[i].path) == 0)
			used -= l.v[i].size;
	}
	log_debug("%s: evicted %zu chunks, %llu bytes left", d->t.label, i,
		  (unsigned long long)used);
	d->used = used;
out:
	free(l.v);
	close(fd);
}

static int disk_put(struct store_tier *t, int kind, const char *id, const void *data, size_t len)
{
	struct disk_tier *d = D(t);
	char path[PATH_MAX];
	int rc;

	obj_path(d, kind, id, path, sizeof(path));
	rc = write_atomic(d, path, data, len, kind == STORE_OBJ_MANIFEST);
	if (rc || kind != STORE_OBJ_CHUNK || !d->limit)
		return rc;
	if (!d->used_known) {
		store_disk_scan(t, STORE_OBJ_CHUNK, usage_add, &d->used);
		d->used_known = true;
	} else {
		d->used += (len + 4095) & ~(size_t)4095;
	}
	if (d->used > d->limit)
		evict(d);
	return 0;
}

static int disk_has(struct store_tier *t, int kind, const char *id)
{
	char path[PATH_MAX];

	obj_path(D(t), kind, id, path, sizeof(path));
	if (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return log_errno("%s: touch %s", t->label, path);
}

static void disk_discard(struct store_tier *t, int kind, const char *id)
{
	char path[PATH_MAX];

	obj_path(D(t), kind, id, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_errno("%s: remove bad copy %s", t->label, path);
}

static int disk_name_get(struct store_tier *t, const char *name, struct store_buf *out)
{
	char rel[STORE_NAME_MAX + 16];
	int rc;

	snprintf(rel, sizeof(rel), "names/%s", name);
	rc = read_file(t->label, D(t)->root_fd, rel, STORE_NAME_FILE_MAX, out, false);
	if (rc == -EFBIG)
		rc = -EBADMSG;
	return rc;
}

static int disk_name_set(struct store_tier *t, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/names/%s", D(t)->root, name);
	return write_atomic(D(t), path, data, len, true);
}

static void disk_free(struct store_tier *t)
{
	if (D(t)->lock_fd >= 0)
		close(D(t)->lock_fd);
	if (D(t)->root_fd >= 0)
		close(D(t)->root_fd);
	if (D(t)->chunks_fd >= 0)
		close(D(t)->chunks_fd);
	free(t);
}

static const struct store_tier_ops disk_ops = {
	.get = disk_get,
	.get_plain = disk_get_plain,
	.put = disk_put,
	.has = disk_has,
	.discard = disk_discard,
	.name_get = disk_name_get,
	.name_set = disk_name_set,
	.free = disk_free,
};

bool store_tier_is_disk(const struct store_tier *t)
{
	return t->ops == &disk_ops;
}

const char *store_disk_root(struct store_tier *t)
{
	return D(t)->root;
}

int store_disk_lock(struct store_tier *t, bool exclusive)
{
	struct disk_tier *d = D(t);
	char path[PATH_MAX];

	if (d->lock_fd < 0) {
		snprintf(path, sizeof(path), "%s/lock", d->root);
		d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (d->lock_fd < 0)
			return log_errno("%s: open %s", t->label, path);
	}
	while (flock(d->lock_fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		if (errno != EINTR)
			return log_errno("%s: lock", t->label);
	return 0;
}

void store_disk_unlock(struct store_tier *t)
{
	if (D(t)->lock_fd >= 0)
		flock(D(t)->lock_fd, LOCK_UN);
}

static bool is_hex_id(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == 0;
}

static int scan_dir(const char *dir, int (*fn)(const char *, const char *, void *), void *arg)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dp;
	int rc = 0;

	dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while (!rc && (e = readdir(dp))) {
		if (!is_hex_id(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc = fn(e->d_name, path, arg);
	}
	closedir(dp);
	return rc;
}

int store_disk_scan(struct store_tier *t, int kind,
		    int (*fn)(const char *id, const char *path, void *arg), void *arg)
{
	struct disk_tier *d = D(t);
	char dir[PATH_MAX];
	int i, rc;

	if (kind == STORE_OBJ_MANIFEST) {
		snprintf(dir, sizeof(dir), "%s/manifests", d->root);
		return scan_dir(dir, fn, arg);
	}
	for (i = 0; i < 256; i++) {
		snprintf(dir, sizeof(dir), "%s/chunks/%02x", d->root, i);
		rc = scan_dir(dir, fn, arg);
		if (rc)
			return rc;
	}
	return 0;
}

struct store_tier *store_disk_open(const char *dir, uint64_t limit, bool cache)
{
	static const char *const subdirs[] = { "chunks", "manifests", "names", "tmp" };
	struct disk_tier *d;
	char path[PATH_MAX];
	size_t i;
	int rc;

	if (strlen(dir) >= sizeof(d->root)) {
		log_error("store directory %.64s...: path too long", dir);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->t.ops = &disk_ops;
	d->t.local = true;
	d->lock_fd = d->root_fd = d->chunks_fd = -1;
	d->limit = limit;
	snprintf(d->root, sizeof(d->root), "%s", dir);
	snprintf(d->t.label, sizeof(d->t.label), "%s %.240s", cache ? "cache" : "store", dir);
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		rc = make_dirs(path);
		if (rc) {
			log_error("store directory %s: cannot create %s: %s", dir, subdirs[i],
				  strerror(-rc));
			free(d);
			return NULL;
		}
	}
	/* its chunks become a restored process's memory: only root (or we) may have written them */
	if (trust_open_dir(d->t.label, dir, &d->root_fd)) {
		free(d);
		return NULL;
	}
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		int fd;

		if (trust_openat_dir(d->t.label, d->root_fd, subdirs[i], &fd)) {
			disk_free(&d->t);
			return NULL;
		}
		if (i == 0)
			d->chunks_fd = fd; /* subdirs[0]: chunks */
		else
			close(fd);
	}
	snprintf(d->chunks_label, sizeof(d->chunks_label), "%s/chunks", d->t.label);
	return &d->t;
}
