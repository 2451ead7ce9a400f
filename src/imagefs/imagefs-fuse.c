/*
 * imagefs-fuse.c - serves an image as a read-only FUSE filesystem
 * (libfuse3, low-level API, multi-threaded).
 *
 * Inode numbers are index inodes + 1 (FUSE's root is 1).  Lookup, getattr,
 * readdir, readlink and xattrs answer from the index alone; only read needs
 * chunks.  The image never changes, so entries and attributes are cached by
 * the kernel for a year and every open keeps the page cache: warm reads
 * never reach this process.
 *
 * A chunk is fetched through the store's tiers (RAM -> disk cache -> remote,
 * each copy verified by SHA-256 before it is used, bad copies discarded)
 * on a store handle taken from a pool (a handle serves one thread at a
 * time).  Concurrent readers of one chunk share one fetch: the first marks
 * the chunk's slot FETCHING, the others wait on a condition variable, with a
 * deadline; the fetched bytes stay in the slot while a reader holds them and
 * in the store's bounded RAM tier (and disk cache) after.  A chunk no tier
 * has a good copy of is remembered as bad: one line (the store's), then EIO.  A fetch itself is
 * bounded by the HTTP tier's timeout and retries, and a waiter by
 * fetch_timeout_ms: whatever happens to the store, every request is
 * answered (EIO at worst), so the kernel is never left waiting on us.
 */
#define LOG_TAG "imagefs"
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fuse3/fuse_lowlevel.h>

#include "base/log.h"
#include "imagefs/imagefs.h"

#define CACHE_TIMEOUT (365.0 * 86400) /* the image never changes */
#define RAM_DEFAULT (256ull << 20)
#define FETCH_TIMEOUT_DEFAULT 60000
#define HTTP_TIMEOUT_DEFAULT 10000 /* x (retries + 1) stays below the fetch timeout */
#define POOL_MAX 64

/*
 * BAD: no tier has a good copy (corrupt everywhere, or absent): said once,
 * by the store, and every later read of the chunk fails at once, so that
 * the kernel's retries and readahead of one bad range make no more fetches
 * and no more lines.  Other failures (a server down or slow) are not
 * remembered: the next read tries again.
 */
enum { SLOT_IDLE, SLOT_FETCHING, SLOT_READY, SLOT_BAD };

struct slot {
	uint8_t *data; /* READY: the verified plaintext, held by refs readers */
	uint32_t refs;
	uint32_t gen; /* fetches finished: a waiter tells its fetch's outcome by it */
	int rc; /* outcome of the last failed fetch */
	uint8_t state;
};

struct fs {
	struct imagefs_image *img;
	const struct imagefs_index *ix;
	struct store_config cfg;
	uint64_t *ext_off; /* file offset of each extent */
	uint32_t *name_of; /* a dirent naming each inode (for messages) */
	uint32_t *owner; /* a file using each chunk (names a prefetched chunk) */
	struct slot *slots;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct store *pool[POOL_MAX];
	size_t nr_pool;
	unsigned fetch_timeout_ms;
	/* recording: chunk numbers in the order reads first wanted them */
	bool recording;
	uint8_t *seen;
	uint32_t *rec;
	size_t nr_rec, cap_rec;
	/* prefetch */
	pthread_t *pf_threads;
	unsigned nr_pf;
	uint32_t pf_next;
	bool pf_failed; /* the store could not be reached: the prefetch gave up */
	volatile bool stopping;
	uint64_t fetches, fetch_bytes;
	/* a shared mount: detached once its lock has been free for idle_exit_s */
	pthread_t idle_thread;
	bool idle_started, idle_locked;
	int idle_fd;
	unsigned idle_exit_s;
	const char *mountpoint;
	pthread_mutex_t idle_lock;
	pthread_cond_t idle_cond;
};

static struct store *pool_get(struct fs *fs)
{
	struct store *s = NULL;

	pthread_mutex_lock(&fs->lock);
	if (fs->nr_pool)
		s = fs->pool[--fs->nr_pool];
	pthread_mutex_unlock(&fs->lock);
	if (!s && store_open(&fs->cfg, &s))
		return NULL;
	return s;
}

static void pool_put(struct fs *fs, struct store *s)
{
	pthread_mutex_lock(&fs->lock);
	if (fs->nr_pool < POOL_MAX) {
		fs->pool[fs->nr_pool++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&fs->lock);
	store_close(s);
}

/* "/path/of/inode" from the names (the first name of a hard-linked file). */
static void path_of(const struct fs *fs, uint32_t ino, char *out, size_t cap)
{
	const struct imagefs_index *ix = fs->ix;
	char tmp[PATH_MAX];
	size_t pos = sizeof(tmp) - 1;
	unsigned depth = 0;

	tmp[pos] = 0;
	while (ino && depth++ < 4096) {
		const struct imagefs_dirent *de = &ix->dirents[fs->name_of[ino]];

		if (de->name_len + 1 > pos)
			break;
		pos -= de->name_len;
		memcpy(tmp + pos, ix->strings + de->name_off, de->name_len);
		tmp[--pos] = '/';
		ino = de->parent;
	}
	snprintf(out, cap, "%s", tmp[pos] ? tmp + pos : "/");
}

static void record(struct fs *fs, uint32_t chunk)
{
	if (!fs->recording || fs->seen[chunk / 8] & (1u << (chunk % 8)))
		return;
	fs->seen[chunk / 8] |= (uint8_t)(1u << (chunk % 8));
	if (fs->nr_rec == fs->cap_rec) {
		size_t cap = fs->cap_rec ? 2 * fs->cap_rec : 1024;
		uint32_t *v = realloc(fs->rec, cap * sizeof(*v));

		if (!v)
			return;
		fs->rec = v;
		fs->cap_rec = cap;
	}
	fs->rec[fs->nr_rec++] = chunk;
}

static int fetch(struct fs *fs, uint32_t chunk, uint32_t ino, uint8_t **ret)
{
	struct store_chunk_ref ref = fs->img->data->chunks[chunk];
	char path[PATH_MAX];
	struct store_file f = { .name = path, .size = ref.len, .nr_chunks = 1, .chunks = &ref };
	struct store *s;
	uint8_t *buf;
	int rc;

	path_of(fs, ino, path, sizeof(path));
	ref.off = 0;
	buf = malloc(ref.len);
	s = buf ? pool_get(fs) : NULL;
	if (!s) {
		free(buf);
		return -ENOMEM;
	}
	rc = store_read_file(s, &f, 0, buf, ref.len);
	pool_put(fs, s);
	if (rc) {
		/* the store has named the chunk, the file and what was wrong */
		free(buf);
		return rc;
	}
	*ret = buf;
	return 0;
}

/* A failure that is the chunk's (no good copy anywhere), not the way to it's. */
static bool chunk_bad(int rc)
{
	return rc == -EBADMSG || rc == -ENOENT || rc == -EKEYREJECTED || rc == -ENOKEY;
}

/*
 * The verified bytes of a chunk, fetched once however many threads ask;
 * release with put_chunk().  ino names the file for messages.
 */
static int get_chunk(struct fs *fs, uint32_t chunk, uint32_t ino, bool is_read,
		     const uint8_t **ret)
{
	struct slot *sl = &fs->slots[chunk];
	struct timespec deadline;
	uint8_t *data = NULL;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += fs->fetch_timeout_ms / 1000;
	deadline.tv_nsec += (long)(fs->fetch_timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&fs->lock);
	if (is_read)
		record(fs, chunk);
	for (;;) {
		uint32_t gen = sl->gen;

		if (sl->state == SLOT_READY) {
			sl->refs++;
			*ret = sl->data;
			pthread_mutex_unlock(&fs->lock);
			return 0;
		}
		if (sl->state == SLOT_BAD) {
			rc = sl->rc;
			pthread_mutex_unlock(&fs->lock);
			return rc;
		}
		if (sl->state == SLOT_IDLE)
			break; /* ours to fetch */
		while (sl->state == SLOT_FETCHING && sl->gen == gen && !rc)
			rc = pthread_cond_timedwait(&fs->cond, &fs->lock, &deadline);
		if (rc == ETIMEDOUT) {
			char hex[STORE_DIGEST_HEX], path[PATH_MAX];

			pthread_mutex_unlock(&fs->lock);
			store_digest_hex(&fs->ix->chunks[chunk].digest, hex);
			path_of(fs, ino, path, sizeof(path));
			log_error("image %s: chunk %s (%s): no answer within %u ms: the read fails "
				  "with EIO", fs->img->name, hex, path, fs->fetch_timeout_ms);
			return -ETIMEDOUT;
		}
		rc = 0;
		if (sl->gen == gen + 1 && sl->state != SLOT_READY && sl->rc) {
			/* the fetch we waited for failed, and has said so */
			rc = sl->rc;
			pthread_mutex_unlock(&fs->lock);
			return rc;
		}
		/* READY: share it; IDLE after a good fetch already released: fetch again (RAM tier) */
	}
	sl->state = SLOT_FETCHING;
	pthread_mutex_unlock(&fs->lock);

	rc = fetch(fs, chunk, ino, &data);

	pthread_mutex_lock(&fs->lock);
	sl->gen++;
	if (rc) {
		sl->state = chunk_bad(rc) ? SLOT_BAD : SLOT_IDLE;
		sl->rc = rc;
	} else {
		sl->state = SLOT_READY;
		sl->rc = 0;
		sl->data = data;
		sl->refs = 1;
		*ret = data;
		fs->fetches++;
		fs->fetch_bytes += fs->ix->chunks[chunk].len;
	}
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

static void put_chunk(struct fs *fs, uint32_t chunk)
{
	struct slot *sl = &fs->slots[chunk];
	uint8_t *drop = NULL;

	pthread_mutex_lock(&fs->lock);
	if (!--sl->refs) {
		/* the RAM tier (bounded) and the disk cache keep it from here */
		drop = sl->data;
		sl->data = NULL;
		sl->state = SLOT_IDLE;
	}
	pthread_mutex_unlock(&fs->lock);
	free(drop);
}

static struct fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* FUSE inode -> index inode, or -1 when out of range. */
static int64_t inode_of(const struct fs *fs, fuse_ino_t ino)
{
	return ino >= 1 && ino <= fs->ix->nr_inodes ? (int64_t)ino - 1 : -1;
}

static void fill_stat(const struct fs *fs, uint32_t i, struct stat *st)
{
	const struct imagefs_inode *n = &fs->ix->inodes[i];

	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)i + 1;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((S_ISREG(n->mode) ? n->stored : n->size) + 511) / 512;
	st->st_mtim.tv_sec = n->mtime;
	st->st_mtim.tv_nsec = n->mtime_nsec;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = FS(req);
	struct fuse_entry_param e;
	int64_t dir = inode_of(fs, parent), i;

	if (dir < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	i = imagefs_lookup(fs->ix, (uint32_t)dir, name, strlen(name));
	memset(&e, 0, sizeof(e));
	if (i == -ENOENT) {
		/* inode 0: a negative entry the kernel keeps (imports probe many absent names) */
		e.entry_timeout = CACHE_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (i < 0) {
		fuse_reply_err(req, (int)-i);
		return;
	}
	e.ino = (fuse_ino_t)i + 1;
	e.generation = 1;
	e.attr_timeout = CACHE_TIMEOUT;
	e.entry_timeout = CACHE_TIMEOUT;
	fill_stat(fs, (uint32_t)i, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	int64_t i = inode_of(fs, ino);
	struct stat st;

	(void)fi;
	if (i < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(fs, (uint32_t)i, &st);
	fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	int64_t i = inode_of(fs, ino);
	char target[IMAGEFS_TARGET_MAX + 1];
	const struct imagefs_inode *n;

	if (i < 0 || !S_ISLNK(fs->ix->inodes[i].mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = &fs->ix->inodes[i];
	memcpy(target, fs->ix->strings + n->target_off, n->target_len);
	target[n->target_len] = 0;
	fuse_reply_readlink(req, target);
}

/*
 * Opens carry no state here (reads name the inode), so the kernel is told
 * once that there is no open (ENOSYS): it then opens files and directories
 * without asking, keeps their page cache and caches directory listings
 * (FOPEN_KEEP_CACHE, FOPEN_CACHE_DIR), and sends no release either, which
 * saves two round trips per open (a restore opens every library it maps).
 * The mount is read-only: the kernel refuses a write open itself.
 */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

/* Offsets: 1 after ".", 2 after "..", 2 + k + 1 after the directory's k-th entry. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	int64_t i = inode_of(fs, ino);
	const struct imagefs_inode *d;
	char *buf, name[IMAGEFS_NAME_MAX + 1];
	size_t pos = 0;

	(void)fi;
	if (i < 0 || off < 0 || !S_ISDIR(fs->ix->inodes[i].mode)) {
		fuse_reply_err(req, i < 0 || off < 0 ? EINVAL : ENOTDIR);
		return;
	}
	d = &fs->ix->inodes[i];
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	while ((uint64_t)off < 2 + (uint64_t)d->count) {
		struct stat st = { 0 };
		size_t need;

		if (off < 2) {
			uint32_t target = off == 0 ? (uint32_t)i : d->parent;

			snprintf(name, sizeof(name), "%s", off == 0 ? "." : "..");
			st.st_ino = (ino_t)target + 1;
			st.st_mode = S_IFDIR;
		} else {
			const struct imagefs_dirent *de = &fs->ix->dirents[d->first + (off - 2)];

			memcpy(name, fs->ix->strings + de->name_off, de->name_len);
			name[de->name_len] = 0;
			st.st_ino = (ino_t)de->ino + 1;
			st.st_mode = fs->ix->inodes[de->ino].mode & S_IFMT;
		}
		need = fuse_add_direntry(req, buf + pos, size - pos, name, &st, off + 1);
		if (need > size - pos)
			break;
		pos += need;
		off++;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

/* The first extent of inode i that ends after off. */
static uint32_t find_extent(const struct fs *fs, const struct imagefs_inode *n, uint64_t off)
{
	uint32_t lo = n->first, hi = n->first + n->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (fs->ext_off[mid] + fs->ix->extents[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = FS(req);
	int64_t i = inode_of(fs, ino);
	const struct imagefs_inode *n;
	uint64_t pos, end;
	uint32_t e;
	uint8_t *buf;
	int rc = 0;

	(void)fi;
	if (i < 0 || off < 0 || !S_ISREG(fs->ix->inodes[i].mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = &fs->ix->inodes[i];
	if ((uint64_t)off >= n->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	end = (uint64_t)off + size < n->size ? (uint64_t)off + size : n->size;
	buf = malloc(end - (uint64_t)off);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pos = (uint64_t)off;
	for (e = find_extent(fs, n, pos); pos < end && e < n->first + n->count && !rc; e++) {
		const struct imagefs_extent *x = &fs->ix->extents[e];
		uint64_t xoff = fs->ext_off[e], from = pos - xoff;
		uint64_t len = xoff + x->len < end ? xoff + x->len - pos : end - pos;
		const uint8_t *data;

		if (x->chunk == IMAGEFS_HOLE) {
			memset(buf + (pos - (uint64_t)off), 0, len);
		} else {
			rc = get_chunk(fs, x->chunk, (uint32_t)i, true, &data);
			if (rc)
				break;
			memcpy(buf + (pos - (uint64_t)off), data + x->off + from, len);
			put_chunk(fs, x->chunk);
		}
		pos += len;
	}
	if (rc)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_buf(req, (char *)buf, end - (uint64_t)off);
	free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = FS(req);
	int64_t i = inode_of(fs, ino);
	const struct imagefs_inode *n;
	uint32_t x;

	if (!fs->ix->nr_xattrs) {
		/* none in the image: the kernel stops asking (overlayfs asks at every lookup) */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (i < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	n = &fs->ix->inodes[i];
	for (x = n->first_xattr; x < n->first_xattr + n->nr_xattrs; x++) {
		const struct imagefs_xattr *xa = &fs->ix->xattrs[x];

		if (xa->name_len != strlen(name) ||
		    memcmp(fs->ix->strings + xa->name_off, name, xa->name_len))
			continue;
		if (!size)
			fuse_reply_xattr(req, xa->value_len);
		else if (size < xa->value_len)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, fs->ix->strings + xa->value_off, xa->value_len);
		return;
	}
	fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = FS(req);
	int64_t i = inode_of(fs, ino);
	const struct imagefs_inode *n;
	size_t total = 0, pos = 0;
	uint32_t x;
	char *buf;

	if (i < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	n = &fs->ix->inodes[i];
	for (x = n->first_xattr; x < n->first_xattr + n->nr_xattrs; x++)
		total += fs->ix->xattrs[x].name_len + 1;
	if (!size) {
		fuse_reply_xattr(req, total);
		return;
	}
	if (size < total) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	buf = malloc(total ? total : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (x = n->first_xattr; x < n->first_xattr + n->nr_xattrs; x++) {
		const struct imagefs_xattr *xa = &fs->ix->xattrs[x];

		memcpy(buf + pos, fs->ix->strings + xa->name_off, xa->name_len);
		pos += xa->name_len;
		buf[pos++] = 0;
	}
	fuse_reply_buf(req, buf, total);
	free(buf);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = FS(req);
	struct statvfs sv;
	uint64_t bytes = 0;

	(void)ino;
	for (uint32_t c = 0; c < fs->ix->nr_chunks; c++)
		bytes += fs->ix->chunks[c].len;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = (bytes + 4095) / 4096;
	sv.f_files = fs->ix->nr_inodes;
	sv.f_namemax = IMAGEFS_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want &= ~FUSE_CAP_READDIRPLUS;
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_open,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
};

static void *prefetch_main(void *arg)
{
	struct fs *fs = arg;

	while (!fs->stopping && !__atomic_load_n(&fs->pf_failed, __ATOMIC_RELAXED)) {
		uint32_t k = __atomic_fetch_add(&fs->pf_next, 1, __ATOMIC_RELAXED);
		const uint8_t *data;
		uint32_t chunk;
		int rc;

		if (k >= fs->img->nr_prefetch)
			break;
		chunk = fs->img->prefetch[k];
		/* fetched once, verified, kept in the RAM tier and disk cache for the reads */
		rc = get_chunk(fs, chunk, fs->owner[chunk], false, &data);
		if (!rc) {
			put_chunk(fs, chunk);
		} else if (!chunk_bad(rc) &&
			   !__atomic_exchange_n(&fs->pf_failed, true, __ATOMIC_RELAXED)) {
			/* a server down: no use asking it for every chunk, each with retries */
			log_warn("image %s: prefetch stopped after %u of %u chunks: %s (reads "
				 "fetch what they need)", fs->img->name, k, fs->img->nr_prefetch,
				 strerror(-rc));
		}
	}
	return NULL;
}

static void start_prefetch(struct fs *fs, unsigned threads)
{
	unsigned t;

	if (!fs->img->nr_prefetch)
		return;
	fs->pf_threads = calloc(threads, sizeof(*fs->pf_threads));
	if (!fs->pf_threads)
		return;
	for (t = 0; t < threads; t++) {
		if (pthread_create(&fs->pf_threads[t], NULL, prefetch_main, fs))
			break;
		fs->nr_pf++;
	}
	log_debug("image %s: prefetching %u chunks on %u threads", fs->img->name,
		  fs->img->nr_prefetch, fs->nr_pf);
}

static void stop_prefetch(struct fs *fs)
{
	fs->stopping = true;
	for (unsigned t = 0; t < fs->nr_pf; t++)
		pthread_join(fs->pf_threads[t], NULL);
	free(fs->pf_threads);
}

/*
 * A shared mount's users hold a shared flock on its lock file.  Once the
 * server could take it exclusively for idle_exit_s seconds running, no
 * one has used the mount since: it detaches the mount (its session then
 * ends: nothing holds the filesystem) and keeps the lock until it exits,
 * so that a user arriving meanwhile waits and then mounts anew.
 */
static void *idle_main(void *arg)
{
	struct fs *fs = arg;
	struct timespec now, free_since = { 0 }, tick;
	bool was_free = false;

	pthread_mutex_lock(&fs->idle_lock);
	while (!fs->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (flock(fs->idle_fd, LOCK_EX | LOCK_NB) < 0) {
			was_free = false;
		} else if (!was_free) {
			was_free = true;
			free_since = now;
			flock(fs->idle_fd, LOCK_UN);
		} else if (now.tv_sec - free_since.tv_sec >= (time_t)fs->idle_exit_s) {
			log_debug("image %s: unused for %u s: detaching %s", fs->img->name,
				  fs->idle_exit_s, fs->mountpoint);
			if (umount2(fs->mountpoint, MNT_DETACH) < 0)
				log_warn("image %s: detaching %s: %s", fs->img->name,
					 fs->mountpoint, strerror(errno));
			fs->idle_locked = true;
			break; /* the lock stays taken until the process ends */
		} else {
			flock(fs->idle_fd, LOCK_UN);
		}
		tick = now;
		tick.tv_sec++;
		pthread_cond_timedwait(&fs->idle_cond, &fs->idle_lock, &tick);
	}
	pthread_mutex_unlock(&fs->idle_lock);
	return NULL;
}

static void stop_idle(struct fs *fs)
{
	if (!fs->idle_started)
		return;
	pthread_mutex_lock(&fs->idle_lock);
	fs->stopping = true;
	pthread_cond_broadcast(&fs->idle_cond);
	pthread_mutex_unlock(&fs->idle_lock);
	pthread_join(fs->idle_thread, NULL);
	fs->idle_started = false;
}

/*
 * A shared mount's server ending: with the lock taken (no user, none
 * coming in), its files go.  Busy: they stay for whoever holds it.
 */
static void shared_cleanup(struct fs *fs, const struct imagefs_mount_opts *o)
{
	struct stat st;

	if (fs->idle_fd < 0 || (!fs->idle_locked && flock(fs->idle_fd, LOCK_EX | LOCK_NB) < 0))
		return;
	rmdir(o->mountpoint); /* EBUSY if something is mounted there again */
	if (o->pid_path)
		unlink(o->pid_path);
	if (o->log_path && stat(o->log_path, &st) == 0 && st.st_size == 0)
		unlink(o->log_path);
	unlink(o->idle_lock);
}

/* Derived tables: each extent's file offset, a name for each inode. */
static int fs_prepare(struct fs *fs)
{
	const struct imagefs_index *ix = fs->ix;
	uint32_t i, e;

	fs->ext_off = calloc(ix->nr_extents ? ix->nr_extents : 1, sizeof(*fs->ext_off));
	fs->name_of = calloc(ix->nr_inodes, sizeof(*fs->name_of));
	fs->slots = calloc(ix->nr_chunks ? ix->nr_chunks : 1, sizeof(*fs->slots));
	fs->owner = calloc(ix->nr_chunks ? ix->nr_chunks : 1, sizeof(*fs->owner));
	if (!fs->ext_off || !fs->name_of || !fs->slots || !fs->owner)
		return -ENOMEM;
	for (i = 0; i < ix->nr_inodes; i++) {
		const struct imagefs_inode *n = &ix->inodes[i];
		uint64_t off = 0;

		if (!S_ISREG(n->mode))
			continue;
		for (e = n->first; e < n->first + n->count; e++) {
			uint32_t c = ix->extents[e].chunk;

			fs->ext_off[e] = off;
			off += ix->extents[e].len;
			if (c != IMAGEFS_HOLE && !fs->owner[c])
				fs->owner[c] = i;
		}
	}
	for (i = ix->nr_dirents; i-- > 0;)
		fs->name_of[ix->dirents[i].ino] = i;
	if (fs->recording) {
		fs->seen = calloc((ix->nr_chunks + 7) / 8 + 1, 1);
		if (!fs->seen)
			return -ENOMEM;
	}
	return 0;
}

static void fs_release(struct fs *fs)
{
	size_t i;

	for (i = 0; i < fs->nr_pool; i++)
		store_close(fs->pool[i]);
	for (i = 0; fs->slots && fs->ix && i < fs->ix->nr_chunks; i++)
		free(fs->slots[i].data);
	free(fs->slots);
	free(fs->ext_off);
	free(fs->name_of);
	free(fs->owner);
	free(fs->seen);
	free(fs->rec);
	imagefs_image_free(fs->img);
	pthread_mutex_destroy(&fs->lock);
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->idle_lock);
	pthread_cond_destroy(&fs->idle_cond);
	if (fs->idle_fd >= 0)
		close(fs->idle_fd);
}

static int write_record(const struct fs *fs, const char *path)
{
	FILE *f = fopen(path, "we");
	size_t i;

	if (!f)
		return log_errno("record %s", path);
	for (i = 0; i < fs->nr_rec; i++) {
		uint8_t b[4] = { (uint8_t)fs->rec[i], (uint8_t)(fs->rec[i] >> 8),
				 (uint8_t)(fs->rec[i] >> 16), (uint8_t)(fs->rec[i] >> 24) };

		fwrite(b, 1, 4, f);
	}
	if (fclose(f))
		return log_errno("record %s", path);
	return 0;
}

/*
 * A dead server's mount answers ENOTCONN (ECONNABORTED for a request that was
 * waiting when it died): detach it so that a new one can take its place.
 */
static int clean_stale(const char *mountpoint)
{
	struct statvfs sv;
	struct stat st;

	/* statfs: a stat may be answered from the attributes the kernel cached */
	if (stat(mountpoint, &st) == 0 && statvfs(mountpoint, &sv) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		log_error("mount point %s: not a directory", mountpoint);
		return -ENOTDIR;
	}
	if (errno != ENOTCONN && errno != ECONNABORTED)
		return log_errno("mount point %s", mountpoint);
	log_warn("mount point %s: a stale mount (its server is gone): detached", mountpoint);
	if (umount2(mountpoint, MNT_DETACH) < 0)
		return log_errno("mount point %s: detach the stale mount", mountpoint);
	return 0;
}

static void fuse_log_to_thaw(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;

	if (level > FUSE_LOG_WARNING)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[len - 1] = 0;
	log_warn("libfuse: %s", line);
}

int imagefs_serve(const struct imagefs_mount_opts *o)
{
	struct fs fs = { .fetch_timeout_ms = o->fetch_timeout_ms ? o->fetch_timeout_ms :
								    FETCH_TIMEOUT_DEFAULT,
			 .idle_fd = -1, .idle_exit_s = o->idle_exit_s, .mountpoint = o->mountpoint };
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct store *s = NULL;
	char opts[STORE_NAME_MAX + 128];
	char *argv[] = { "thaw", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int rc;

	pthread_mutex_init(&fs.lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&fs.cond, &ca);
		pthread_cond_init(&fs.idle_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_mutex_init(&fs.idle_lock, NULL);
	fs.cfg = *o->store;
	fs.cfg.ram_limit = o->ram_limit ? o->ram_limit : RAM_DEFAULT;
	if (!fs.cfg.http_timeout_ms)
		fs.cfg.http_timeout_ms = HTTP_TIMEOUT_DEFAULT;
	fs.recording = o->record != NULL;
	rc = store_open(&fs.cfg, &s);
	if (rc)
		goto out;
	rc = imagefs_image_open(s, o->name, &fs.img);
	if (rc)
		goto out;
	fs.ix = fs.img->index;
	if (o->expect_id && memcmp(o->expect_id->b, fs.ix->id.b, sizeof(fs.ix->id.b))) {
		log_error("image %s changed in the store while it was being mounted", o->name);
		rc = -ESTALE;
		goto out;
	}
	rc = fs_prepare(&fs);
	if (rc)
		goto out;
	fs.pool[fs.nr_pool++] = s;
	s = NULL;
	rc = clean_stale(o->mountpoint);
	if (rc)
		goto out;
	snprintf(opts, sizeof(opts),
		 "ro,allow_other,default_permissions,fsname=thaw-image:%s,subtype=thaw", o->name);
	fuse_set_log_func(fuse_log_to_thaw);
	se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	if (!se) {
		log_error("image %s: cannot start a FUSE session", o->name);
		rc = -EIO;
		goto out;
	}
	if (fuse_session_mount(se, o->mountpoint)) {
		log_error("image %s: cannot mount at %s (is /dev/fuse there?)", o->name,
			  o->mountpoint);
		rc = -EIO;
		goto out;
	}
	if (fuse_set_signal_handlers(se)) {
		rc = -EIO;
		goto unmount;
	}
	if (!o->no_prefetch)
		start_prefetch(&fs, o->prefetch_threads ? o->prefetch_threads : 8);
	if (o->idle_lock) {
		fs.idle_fd = open(o->idle_lock, O_RDONLY | O_CLOEXEC);
		if (fs.idle_fd < 0 || pthread_create(&fs.idle_thread, NULL, idle_main, &fs))
			log_warn("image %s: %s: %s: the mount stays until unmounted", o->name,
				 o->idle_lock, strerror(errno));
		else
			fs.idle_started = true;
	}
	log_info("image %s (%u files, %u chunks) mounted at %s", o->name, fs.ix->nr_inodes,
		 fs.ix->nr_chunks, o->mountpoint);
	if (o->pid_path) {
		FILE *pf = fopen(o->pid_path, "we");

		if (pf) {
			fprintf(pf, "%d\n", (int)getpid());
			fclose(pf);
		}
	}
	if (o->ready_fd >= 0) {
		if (write(o->ready_fd, "1", 1) != 1)
			log_warn("image %s: could not say the mount is ready", o->name);
		close(o->ready_fd);
	}
	if (o->log_path) {
		int lf = open(o->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (lf >= 0) {
			dup2(lf, STDERR_FILENO);
			close(lf);
		}
	}
	loop = fuse_loop_cfg_create();
	if (!loop) {
		rc = -ENOMEM;
		goto signals;
	}
	fuse_loop_cfg_set_max_threads(loop, o->threads ? o->threads : 16);
	/* idle workers stay: a restore's burst of requests needs no new threads */
	fuse_loop_cfg_set_idle_threads(loop, o->threads ? o->threads : 16);
	rc = fuse_session_loop_mt(se, loop) ? -EIO : 0;
	log_debug("image %s: %llu chunk fetches, %llu bytes", o->name,
		  (unsigned long long)fs.fetches, (unsigned long long)fs.fetch_bytes);
signals:
	stop_idle(&fs);
	stop_prefetch(&fs);
	fuse_remove_signal_handlers(se);
unmount:
	fuse_session_unmount(se);
	shared_cleanup(&fs, o);
	if (!rc && o->record)
		rc = write_record(&fs, o->record);
out:
	if (loop)
		fuse_loop_cfg_destroy(loop);
	if (se)
		fuse_session_destroy(se);
	store_close(s);
	fs_release(&fs);
	fuse_opt_free_args(&args);
	return rc;
}

int imagefs_mount_spawn(const struct imagefs_mount_opts *o, pid_t *ret_pid)
{
	struct imagefs_mount_opts child = *o;
	int pfd[2], status;
	pid_t pid;
	char c;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return log_errno("pipe");
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return log_errno("fork");
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		close(pfd[0]);
		setsid();
		/* stdout too: a caller reading it ($(thaw image mount ...)) sees its end */
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		/*
		 * Nothing of the caller's stays open in a server that may outlive it
		 * (a pipe's reader would wait for its end, a lock would stay taken).
		 */
		if (dup2(pfd[1], 3) < 0)
			_exit(1);
		close_range(4, ~0u, 0);
		child.ready_fd = 3;
		_exit(imagefs_serve(&child) ? 1 : 0);
	}
	close(pfd[1]);
	do
		n = read(pfd[0], &c, 1);
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == 1) {
		*ret_pid = pid;
		return 0;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* exit 1: imagefs_serve() failed and said why, on the stderr it shares with us */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
		log_error("image %s: the FUSE server exited before the mount was ready", o->name);
	return -EIO;
}

int imagefs_umount(const char *mountpoint)
{
	if (umount2(mountpoint, 0) == 0)
		return 0;
	if (errno == EBUSY) {
		log_warn("%s is busy: detached, it goes when the last user leaves", mountpoint);
		if (umount2(mountpoint, MNT_DETACH) == 0)
			return 0;
	}
	return log_errno("unmount %s", mountpoint);
}
