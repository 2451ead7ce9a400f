/*
 * imagefs-push.c - packs a directory tree into the store as an image.
 *
 * The tree is walked breadth first (so directories get their inode numbers,
 * and write their entries, in the order the index wants), without following
 * links and without crossing into other mounts (a mount point is kept as an
 * empty directory).  Contents go through the store's chunker:
 *   - a large file is cut on its own, so identical large files in any two
 *     images are the same chunks; its holes (SEEK_HOLE) are hole extents and
 *     are never read;
 *   - files up to IMAGEFS_SMALL_MAX are packed one after another into a pack
 *     that is then cut like a file, so a directory of small .py files costs a
 *     few chunks rather than one object each.  A pack ends after a file whose
 *     content hash falls under a threshold proportional to its size, so pack
 *     boundaries depend on the files themselves, not on what came before:
 *     two trees that share a run of files resynchronise after one boundary
 *     and share those packs.
 * Every distinct non-zero chunk is listed once in the index's chunk table
 * and in the manifest's "imagefs.data" file, which is what keeps it from gc.
 */
#define LOG_TAG "imagefs"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/log.h"
#include "base/progress.h"
#include "imagefs/imagefs-internal.h"
#include "imagefs/imagefs.h"

#define IMAGEFS_SMALL_MAX (64u << 10)
#define PACK_MAX (1u << 20)
#define READ_PIECE (32u << 20) /* a chunk boundary is forced between pieces */
#define HOLE_PIECE (1u << 30)

struct extents {
	struct imagefs_extent *v;
	uint32_t n, cap;
};

struct pending {
	uint32_t ino;
	size_t off, len;
};

struct hardlink {
	dev_t dev;
	ino_t ino;
	uint32_t inode;
};

struct builder {
	struct store *s;
	dev_t dev;
	struct imagefs_push_stats *st;
	struct imagefs_inode *inodes;
	struct extents *exts; /* per inode */
	size_t nr_inodes, cap_inodes;
	struct imagefs_dirent *dirents;
	size_t nr_dirents, cap_dirents;
	struct imagefs_xattr *xattrs;
	size_t nr_xattrs, cap_xattrs;
	char *strings;
	size_t strings_size, cap_strings;
	struct imagefs_chunk *chunks;
	uint32_t *chunk_flags;
	size_t nr_chunks, cap_chunks, cap_flags;
	uint32_t *hash; /* chunk index + 1, open addressing on the digest */
	size_t hash_cap;
	struct hardlink *links;
	size_t nr_links, cap_links;
	uint8_t *pack;
	size_t pack_len;
	struct pending *pend;
	size_t nr_pend, cap_pend;
	char **queue; /* directories to read, by path, in inode order */
	uint32_t *queue_ino;
	size_t q_head, q_tail, q_cap;
	size_t avg;
};

/* Grows *v (of elem-byte items, capacity *cap) to hold need items. */
static int grow(void *v, size_t *cap, size_t need, size_t elem)
{
	void **pv = v, *nv;
	size_t ncap;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*pv, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*pv = nv;
	*cap = ncap;
	return 0;
}

static int add_string(struct builder *b, const void *s, size_t len, uint32_t *off)
{
	if (b->strings_size + len > IMAGEFS_INDEX_MAX / 2) {
		log_error("the tree's names, targets and xattrs exceed %u bytes",
			  IMAGEFS_INDEX_MAX / 2);
		return -EFBIG;
	}
	if (grow(&b->strings, &b->cap_strings, b->strings_size + len + 1, 1))
		return -ENOMEM;
	if (len)
		memcpy(b->strings + b->strings_size, s, len);
	*off = (uint32_t)b->strings_size;
	b->strings_size += len;
	return 0;
}

static size_t hash_slot(const struct store_digest *d, size_t cap)
{
	uint64_t h;

	memcpy(&h, d->b, sizeof(h));
	return (size_t)h & (cap - 1);
}

static int rehash(struct builder *b)
{
	size_t cap = b->hash_cap ? 2 * b->hash_cap : 1024, i;
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (i = 0; i < b->nr_chunks; i++) {
		size_t s = hash_slot(&b->chunks[i].digest, cap);

		while (h[s])
			s = (s + 1) & (cap - 1);
		h[s] = (uint32_t)i + 1;
	}
	free(b->hash);
	b->hash = h;
	b->hash_cap = cap;
	return 0;
}

/* The chunk table index of a stored chunk, added on first sight. */
static int intern_chunk(struct builder *b, const struct store_chunk_ref *r, uint32_t *ret)
{
	size_t s;

	if ((b->nr_chunks + 1) * 2 > b->hash_cap && rehash(b))
		return -ENOMEM;
	s = hash_slot(&r->digest, b->hash_cap);
	for (; b->hash[s]; s = (s + 1) & (b->hash_cap - 1)) {
		const struct imagefs_chunk *c = &b->chunks[b->hash[s] - 1];

		if (!memcmp(&c->digest, &r->digest, sizeof(c->digest)) && c->len == r->len) {
			*ret = b->hash[s] - 1;
			return 0;
		}
	}
	if (b->nr_chunks >= IMAGEFS_MAX_CHUNKS) {
		log_error("more than %u distinct chunks in one image", IMAGEFS_MAX_CHUNKS);
		return -EFBIG;
	}
	if (grow(&b->chunks, &b->cap_chunks, b->nr_chunks + 1, sizeof(*b->chunks)) ||
	    grow(&b->chunk_flags, &b->cap_flags, b->nr_chunks + 1, sizeof(*b->chunk_flags)))
		return -ENOMEM;
	b->chunks[b->nr_chunks].digest = r->digest;
	b->chunks[b->nr_chunks].len = r->len;
	b->chunk_flags[b->nr_chunks] = r->flags;
	b->hash[s] = (uint32_t)b->nr_chunks + 1;
	*ret = (uint32_t)b->nr_chunks++;
	b->st->chunks++;
	b->st->chunk_bytes += r->len;
	return 0;
}

static int add_extent(struct builder *b, uint32_t ino, uint32_t chunk, uint32_t off, uint32_t len)
{
	struct extents *e = &b->exts[ino];
	size_t cap = e->cap;

	if (chunk == IMAGEFS_HOLE && e->n && e->v[e->n - 1].chunk == IMAGEFS_HOLE &&
	    e->v[e->n - 1].len <= HOLE_PIECE - len) {
		e->v[e->n - 1].len += len; /* neighbouring zero chunks: one hole */
		return 0;
	}
	if (grow(&e->v, &cap, e->n + 1, sizeof(*e->v)))
		return -ENOMEM;
	e->cap = (uint32_t)cap;
	e->v[e->n++] = (struct imagefs_extent){ .chunk = chunk, .off = off, .len = len };
	return 0;
}

/* Adds the extents of bytes [off, off + len) of what file (its refs) holds to inode ino. */
static int map_range(struct builder *b, uint32_t ino, const struct store_file *f, uint64_t off,
		     uint64_t len)
{
	uint64_t end = off + len;
	uint32_t i;
	int rc;

	for (i = 0; i < f->nr_chunks && off < end; i++) {
		const struct store_chunk_ref *r = &f->chunks[i];
		uint64_t from, to;
		uint32_t idx = IMAGEFS_HOLE;

		if (r->off + r->len <= off || r->off >= end)
			continue;
		from = off > r->off ? off : r->off;
		to = end < r->off + r->len ? end : r->off + r->len;
		if (!(r->flags & STORE_CHUNK_ZERO)) {
			rc = intern_chunk(b, r, &idx);
			if (rc)
				return rc;
		}
		rc = add_extent(b, ino, idx, idx == IMAGEFS_HOLE ? 0 : (uint32_t)(from - r->off),
				(uint32_t)(to - from));
		if (rc)
			return rc;
	}
	return 0;
}

static int put_piece(struct builder *b, const void *data, size_t len, struct store_file *f)
{
	f->size = 0;
	f->nr_chunks = 0;
	return store_put_buf(b->s, f, data, len);
}

static int flush_pack(struct builder *b)
{
	struct store_file f = { .name = "pack" };
	size_t i;
	int rc;

	if (!b->pack_len)
		return 0;
	rc = put_piece(b, b->pack, b->pack_len, &f);
	for (i = 0; i < b->nr_pend && !rc; i++)
		rc = map_range(b, b->pend[i].ino, &f, b->pend[i].off, b->pend[i].len);
	free(f.chunks);
	b->pack_len = 0;
	b->nr_pend = 0;
	return rc;
}

static int read_all(int fd, const char *path, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return log_errno("%s: read", path);
		if (n == 0) {
			log_error("%s: shorter than its size: it changed while being pushed", path);
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

static int add_small(struct builder *b, uint32_t ino, int fd, const char *path, size_t size)
{
	struct store_digest d;
	uint32_t h;
	int rc;

	if (!b->pack && !(b->pack = malloc(PACK_MAX + IMAGEFS_SMALL_MAX)))
		return -ENOMEM;
	rc = read_all(fd, path, b->pack + b->pack_len, size, 0);
	if (rc)
		return rc;
	if (grow(&b->pend, &b->cap_pend, b->nr_pend + 1, sizeof(*b->pend)))
		return -ENOMEM;
	b->pend[b->nr_pend++] = (struct pending){ .ino = ino, .off = b->pack_len, .len = size };
	store_sha256(b->pack + b->pack_len, size, &d);
	b->pack_len += size;
	memcpy(&h, d.b, sizeof(h));
	/* a boundary with probability size/avg: packs of about avg bytes */
	if ((uint64_t)h * b->avg < (uint64_t)size << 32 || b->pack_len >= PACK_MAX)
		return flush_pack(b);
	return 0;
}

static int add_large(struct builder *b, uint32_t ino, int fd, const char *path, uint64_t size)
{
	struct store_file f = { .name = (char *)path };
	uint8_t *buf = NULL;
	uint64_t pos = 0;
	int rc = 0;

	buf = malloc(READ_PIECE);
	if (!buf)
		return -ENOMEM;
	while (pos < size && !rc) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;
		uint64_t end;

		if (data < 0 && errno == ENXIO)
			data = (off_t)size; /* only a hole is left */
		else if (data < 0) {
			rc = log_errno("%s: SEEK_DATA", path);
			break;
		}
		if ((uint64_t)data > size)
			data = (off_t)size;
		while (pos < (uint64_t)data && !rc) {
			uint64_t n = (uint64_t)data - pos < HOLE_PIECE ? (uint64_t)data - pos : HOLE_PIECE;

			rc = add_extent(b, ino, IMAGEFS_HOLE, 0, (uint32_t)n);
			pos += n;
		}
		if (pos >= size || rc)
			break;
		hole = lseek(fd, (off_t)pos, SEEK_HOLE);
		end = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
		while (pos < end && !rc) {
			size_t n = end - pos < READ_PIECE ? (size_t)(end - pos) : READ_PIECE;

			rc = read_all(fd, path, buf, n, (off_t)pos);
			if (!rc)
				rc = put_piece(b, buf, n, &f);
			if (!rc)
				rc = map_range(b, ino, &f, 0, n);
			pos += n;
		}
	}
	free(buf);
	free(f.chunks);
	return rc;
}

static int add_contents(struct builder *b, uint32_t ino, const char *path, const struct stat *st)
{
	struct stat now;
	int fd, rc;

	if (!st->st_size)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return log_errno("%s: open", path);
	/*
	 * The file opened must be the one lstat saw: whoever can write the tree
	 * could swap a directory above it for a symbolic link in between, and the
	 * image would hold another file's bytes under this one's owner and mode.
	 */
	if (fstat(fd, &now) < 0) {
		rc = log_errno("%s: fstat", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(now.st_mode) || now.st_dev != st->st_dev || now.st_ino != st->st_ino ||
	    now.st_size != st->st_size) {
		log_error("%s: changed while it was being pushed (another file or size now)", path);
		close(fd);
		return -ESTALE;
	}
	if ((uint64_t)st->st_size <= IMAGEFS_SMALL_MAX)
		rc = add_small(b, ino, fd, path, (size_t)st->st_size);
	else
		rc = add_large(b, ino, fd, path, (uint64_t)st->st_size);
	close(fd);
	return rc;
}

static int by_cstr(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	return imagefs_name_cmp(x, strlen(x), y, strlen(y));
}

static int add_xattrs(struct builder *b, uint32_t ino, const char *path)
{
	char *list = NULL, **names = NULL, *value = NULL;
	ssize_t len, vlen;
	size_t n = 0, i;
	char *p;
	int rc = 0;

	len = llistxattr(path, NULL, 0);
	if (len <= 0)
		return len < 0 && errno != ENOTSUP && errno != ENODATA ?
			       log_errno("%s: listxattr", path) : 0;
	list = malloc((size_t)len);
	value = malloc(IMAGEFS_XATTR_VALUE_MAX);
	if (!list || !value) {
		rc = -ENOMEM;
		goto out;
	}
	len = llistxattr(path, list, (size_t)len);
	if (len < 0) {
		rc = log_errno("%s: listxattr", path);
		goto out;
	}
	for (p = list; p < list + len; p += strlen(p) + 1)
		n++;
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names) {
		rc = -ENOMEM;
		goto out;
	}
	for (p = list, i = 0; p < list + len; p += strlen(p) + 1)
		names[i++] = p;
	qsort(names, n, sizeof(*names), by_cstr);
	b->inodes[ino].first_xattr = (uint32_t)b->nr_xattrs;
	for (i = 0; i < n && !rc; i++) {
		struct imagefs_xattr *x;
		size_t nlen = strlen(names[i]);

		vlen = lgetxattr(path, names[i], value, IMAGEFS_XATTR_VALUE_MAX);
		if (vlen < 0) {
			rc = log_errno("%s: getxattr %s", path, names[i]);
			break;
		}
		if (!nlen || nlen > IMAGEFS_XATTR_NAME_MAX) {
			log_error("%s: xattr name of %zu bytes", path, nlen);
			rc = -EINVAL;
			break;
		}
		if (grow(&b->xattrs, &b->cap_xattrs, b->nr_xattrs + 1, sizeof(*b->xattrs))) {
			rc = -ENOMEM;
			break;
		}
		x = &b->xattrs[b->nr_xattrs];
		x->name_len = (uint32_t)nlen;
		x->value_len = (uint32_t)vlen;
		rc = add_string(b, names[i], nlen, &x->name_off);
		if (!rc)
			rc = add_string(b, value, (size_t)vlen, &x->value_off);
		if (!rc) {
			b->nr_xattrs++;
			b->inodes[ino].nr_xattrs++;
		}
	}
out:
	free(list);
	free(names);
	free(value);
	return rc;
}

static int enqueue(struct builder *b, const char *path, uint32_t ino)
{
	if (grow(&b->queue, &b->q_cap, b->q_tail + 1, sizeof(*b->queue)) ||
	    !(b->queue_ino = realloc(b->queue_ino, b->q_cap * sizeof(*b->queue_ino))) ||
	    !(b->queue[b->q_tail] = strdup(path)))
		return -ENOMEM;
	b->queue_ino[b->q_tail++] = ino;
	return 0;
}

static int64_t find_link(const struct builder *b, const struct stat *st)
{
	for (size_t i = 0; i < b->nr_links; i++)
		if (b->links[i].dev == st->st_dev && b->links[i].ino == st->st_ino)
			return b->links[i].inode;
	return -1;
}

/* A new inode for what path is (st: its lstat). */
static int add_inode(struct builder *b, const char *path, const struct stat *st, bool descend,
		     uint32_t *ret)
{
	struct imagefs_inode *n;
	uint32_t ino = (uint32_t)b->nr_inodes;
	size_t cap = b->cap_inodes;
	int rc;

	if (b->nr_inodes >= IMAGEFS_MAX_INODES) {
		log_error("%s: more than %u inodes in one image", path, IMAGEFS_MAX_INODES);
		return -EFBIG;
	}
	if (grow(&b->inodes, &b->cap_inodes, b->nr_inodes + 1, sizeof(*b->inodes)) ||
	    grow(&b->exts, &cap, b->nr_inodes + 1, sizeof(*b->exts)))
		return -ENOMEM;
	n = &b->inodes[ino];
	memset(n, 0, sizeof(*n));
	memset(&b->exts[ino], 0, sizeof(b->exts[ino]));
	b->nr_inodes++;
	n->mode = st->st_mode & (S_IFMT | 07777);
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->mtime = st->st_mtim.tv_sec;
	n->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	n->first_xattr = (uint32_t)b->nr_xattrs;
	rc = add_xattrs(b, ino, path);
	if (rc)
		return rc;
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		n->size = (uint64_t)st->st_size;
		b->st->files++;
		b->st->bytes += n->size;
		rc = add_contents(b, ino, path, st);
		break;
	case S_IFLNK: {
		char target[IMAGEFS_TARGET_MAX + 1];
		ssize_t len = readlink(path, target, sizeof(target));

		if (len < 0)
			return log_errno("%s: readlink", path);
		if (len == 0 || len > IMAGEFS_TARGET_MAX) {
			log_error("%s: symlink target of %zd bytes", path, len);
			return -ENAMETOOLONG;
		}
		rc = add_string(b, target, (size_t)len, &b->inodes[ino].target_off);
		b->inodes[ino].target_len = (uint32_t)len;
		b->inodes[ino].size = (uint64_t)len;
		b->st->symlinks++;
		break;
	}
	case S_IFDIR:
		b->st->dirs++;
		if (descend)
			rc = enqueue(b, path, ino);
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (major(st->st_rdev) > 0xfff || minor(st->st_rdev) > 0xfffff) {
			log_error("%s: device number out of range", path);
			return -ERANGE;
		}
		n->rdev = (uint32_t)st->st_rdev;
		b->st->others++;
		break;
	default:
		b->st->others++;
		break;
	}
	if (!rc && !S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		if (grow(&b->links, &b->cap_links, b->nr_links + 1, sizeof(*b->links)))
			return -ENOMEM;
		b->links[b->nr_links++] =
			(struct hardlink){ .dev = st->st_dev, .ino = st->st_ino, .inode = ino };
	}
	*ret = ino;
	return rc;
}

static int read_names(const char *path, char ***ret, size_t *nr)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *dp = opendir(path);

	if (!dp)
		return log_errno("%s: opendir", path);
	while ((errno = 0, e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (grow(&v, &cap, n + 1, sizeof(*v)) || !(v[n] = strdup(e->d_name))) {
			errno = ENOMEM;
			break;
		}
		n++;
	}
	if (errno) {
		int err = log_errno("%s: readdir", path);

		while (n)
			free(v[--n]);
		free(v);
		closedir(dp);
		return err;
	}
	closedir(dp);
	if (n)
		qsort(v, n, sizeof(*v), by_cstr);
	*ret = v;
	*nr = n;
	return 0;
}

static int walk_dir(struct builder *b, const char *path, uint32_t dir)
{
	char **names = NULL, child[PATH_MAX];
	size_t n = 0, i;
	int rc;

	rc = read_names(path, &names, &n);
	if (rc)
		return rc;
	b->inodes[dir].first = (uint32_t)b->nr_dirents;
	b->inodes[dir].count = (uint32_t)n;
	for (i = 0; i < n && !rc; i++) {
		struct imagefs_dirent *de;
		struct stat st;
		int64_t link;
		uint32_t ino;
		size_t nlen = strlen(names[i]);

		if (nlen > IMAGEFS_NAME_MAX ||
		    snprintf(child, sizeof(child), "%s/%s", path, names[i]) >= (int)sizeof(child)) {
			log_error("%s/%s: name too long", path, names[i]);
			rc = -ENAMETOOLONG;
			break;
		}
		if (lstat(child, &st) < 0) {
			rc = log_errno("%s: lstat", child);
			break;
		}
		link = S_ISDIR(st.st_mode) || st.st_nlink < 2 ? -1 : find_link(b, &st);
		if (link >= 0) {
			ino = (uint32_t)link;
			b->st->hardlinks++;
		} else {
			/* another mount: its root's attributes, none of its contents */
			rc = add_inode(b, child, &st, st.st_dev == b->dev, &ino);
			if (rc)
				break;
		}
		if (b->nr_dirents >= IMAGEFS_MAX_DIRENTS) {
			log_error("%s: more than %u names in one image", child, IMAGEFS_MAX_DIRENTS);
			rc = -EFBIG;
			break;
		}
		if (grow(&b->dirents, &b->cap_dirents, b->nr_dirents + 1, sizeof(*b->dirents))) {
			rc = -ENOMEM;
			break;
		}
		de = &b->dirents[b->nr_dirents];
		de->parent = dir;
		de->ino = ino;
		de->name_len = (uint32_t)nlen;
		rc = add_string(b, names[i], nlen, &de->name_off);
		if (!rc)
			b->nr_dirents++;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void builder_release(struct builder *b)
{
	size_t i;

	for (i = 0; i < b->nr_inodes; i++)
		free(b->exts[i].v);
	for (i = b->q_head; i < b->q_tail; i++)
		free(b->queue[i]);
	free(b->inodes);
	free(b->exts);
	free(b->dirents);
	free(b->xattrs);
	free(b->strings);
	free(b->chunks);
	free(b->chunk_flags);
	free(b->hash);
	free(b->links);
	free(b->pack);
	free(b->pend);
	free(b->queue);
	free(b->queue_ino);
}

/*
 * The index from what the walk gathered (ix borrows the builder's tables):
 * extents laid out in inode order, each directory's entries where the walk
 * wrote them (directories were read in inode order, so in order too).
 */
static int build_index(struct builder *b, struct imagefs_index *ix)
{
	uint64_t total = 0;
	uint32_t pos = 0, next_dirent = 0;
	size_t i;

	for (i = 0; i < b->nr_inodes; i++)
		total += b->exts[i].n;
	if (total > IMAGEFS_MAX_EXTENTS) {
		log_error("more than %u extents in one image", IMAGEFS_MAX_EXTENTS);
		return -EFBIG;
	}
	memset(ix, 0, sizeof(*ix));
	ix->extents = malloc(total ? total * sizeof(*ix->extents) : 1);
	if (!ix->extents)
		return -ENOMEM;
	for (i = 0; i < b->nr_inodes; i++) {
		struct imagefs_inode *n = &b->inodes[i];

		if (S_ISREG(n->mode)) {
			n->first = pos;
			n->count = b->exts[i].n;
			if (n->count)
				memcpy(ix->extents + pos, b->exts[i].v, n->count * sizeof(*ix->extents));
			pos += n->count;
		} else if (S_ISDIR(n->mode)) {
			n->first = next_dirent;
			next_dirent += n->count;
		}
	}
	ix->nr_inodes = (uint32_t)b->nr_inodes;
	ix->nr_dirents = (uint32_t)b->nr_dirents;
	ix->nr_chunks = (uint32_t)b->nr_chunks;
	ix->nr_extents = pos;
	ix->nr_xattrs = (uint32_t)b->nr_xattrs;
	ix->inodes = b->inodes;
	ix->dirents = b->dirents;
	ix->chunks = b->chunks;
	ix->xattrs = b->xattrs;
	ix->strings = b->strings;
	ix->strings_size = (uint32_t)b->strings_size;
	return 0;
}

/* Walks the tree and fills the builder; the pack is flushed at the end. */
static int walk(struct builder *b, const char *root)
{
	struct stat st;
	uint32_t ino;
	int rc;

	if (lstat(root, &st) < 0)
		return log_errno("image root %s", root);
	if (!S_ISDIR(st.st_mode)) {
		log_error("image root %s: not a directory", root);
		return -ENOTDIR;
	}
	b->dev = st.st_dev;
	rc = add_inode(b, root, &st, true, &ino);
	while (!rc && b->q_head < b->q_tail) {
		rc = walk_dir(b, b->queue[b->q_head], b->queue_ino[b->q_head]);
		free(b->queue[b->q_head++]);
	}
	if (!rc)
		rc = flush_pack(b);
	return rc;
}

int imagefs_push(struct store *s, const char *root, const char *name,
		 struct imagefs_push_stats *stats, struct store_digest *ret_id)
{
	struct imagefs_push_stats local = { 0 };
	struct builder b = { .s = s, .st = stats ? stats : &local, .avg = STORE_CHUNK_AVG_DEFAULT };
	struct imagefs_index ix, *back = NULL;
	struct store_file files[2] = { { .name = IMAGEFS_FILE_INDEX, .mode = 0644 },
				       { .name = IMAGEFS_FILE_DATA, .mode = 0644 } };
	struct store_manifest m = { .nr_files = 2, .files = files };
	struct store_digest md;
	char sname[STORE_NAME_MAX + 1], why[256];
	uint8_t *bytes = NULL;
	size_t len = 0, i;
	int rc;

	memset(b.st, 0, sizeof(*b.st));
	memset(&ix, 0, sizeof(ix));
	if (!imagefs_name_valid(name)) {
		log_error("image name '%.*s': use letters, digits and . _ - + @ : (not first .), "
			  "at most %zu", STORE_NAME_MAX, name,
			  STORE_NAME_MAX - strlen(IMAGEFS_NAME_PREFIX));
		return -EINVAL;
	}
	snprintf(sname, sizeof(sname), IMAGEFS_NAME_PREFIX "%s", name);
	rc = store_write_lock(s);
	if (rc)
		return rc;
	progress_begin("push", 0); /* the bytes stored as the walk finds them; no total */
	rc = walk(&b, root);
	if (!rc)
		rc = build_index(&b, &ix);
	if (!rc)
		rc = imagefs_index_encode(&ix, &bytes, &len);
	if (rc == -EFBIG)
		log_error("image %s: the index would exceed %u bytes", name, IMAGEFS_INDEX_MAX);
	if (rc)
		goto out;
	/* what is stored must be what every reader accepts */
	rc = imagefs_index_parse(bytes, len, &back, why, sizeof(why));
	if (rc) {
		log_error("image %s: the index just built is refused (%s): a bug", name, why);
		rc = -EIO;
		goto out;
	}
	b.st->index_bytes = len;
	rc = store_put_buf(s, &files[0], bytes, len);
	if (rc)
		goto out;
	files[1].chunks = calloc(b.nr_chunks ? b.nr_chunks : 1, sizeof(*files[1].chunks));
	rc = -ENOMEM;
	if (!files[1].chunks)
		goto out;
	for (i = 0; i < b.nr_chunks; i++) {
		struct store_chunk_ref *r = &files[1].chunks[i];

		r->digest = b.chunks[i].digest;
		r->len = b.chunks[i].len;
		r->flags = b.chunk_flags[i];
		r->off = files[1].size;
		files[1].size += r->len;
	}
	files[1].nr_chunks = (uint32_t)b.nr_chunks;
	/* created 0: the same tree gives the same manifest, so a second push stores nothing */
	rc = store_manifest_put(s, &m, &md);
	if (!rc)
		rc = store_name_set(s, sname, &md);
	if (!rc && ret_id)
		*ret_id = back->id;
out:
	progress_end();
	store_write_unlock(s);
	imagefs_index_free(back);
	free(ix.extents);
	free(bytes);
	free(files[0].chunks);
	free(files[1].chunks);
	builder_release(&b);
	return rc;
}
