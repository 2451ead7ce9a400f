/*
 * imagefs-index.c - the image index: its binary encoding and a strict reader.
 *
 * The index is read from a store, whose bytes are not trusted (a server, a
 * shared cache): every count is bounded before anything is allocated, every
 * table's range is checked against the bytes that arrived, every string lies
 * inside the string table, names are plain components, each directory's
 * entries are sorted and unique, the tables are laid out in inode order (so
 * that checking them costs one pass, whatever the input), and the tree is
 * walked from the root so that every inode is reachable exactly as its
 * links say.  Layout: docs/imagefs.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imagefs/imagefs-internal.h"
#include "imagefs/imagefs.h"

static const char magic[8] = { 'T', 'H', 'A', 'W', 'I', 'M', 'G', 'X' };

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t index_size(const struct imagefs_index *ix)
{
	return IX_HEADER + (uint64_t)ix->nr_chunks * IX_CHUNK + (uint64_t)ix->nr_inodes * IX_INODE +
	       (uint64_t)ix->nr_dirents * IX_DIRENT + (uint64_t)ix->nr_extents * IX_EXTENT +
	       (uint64_t)ix->nr_xattrs * IX_XATTR + ix->strings_size;
}

int imagefs_index_encode(const struct imagefs_index *ix, uint8_t **ret, size_t *ret_len)
{
	uint64_t total = index_size(ix);
	uint8_t *b, *p;
	uint32_t i;

	if (total > IMAGEFS_INDEX_MAX)
		return -EFBIG;
	b = calloc(1, total);
	if (!b)
		return -ENOMEM;
	memcpy(b, magic, 8);
	put32(b + 8, IMAGEFS_INDEX_VERSION);
	put32(b + 12, IX_HEADER);
	put32(b + 16, ix->nr_inodes);
	put32(b + 20, ix->nr_dirents);
	put32(b + 24, ix->nr_chunks);
	put32(b + 28, ix->nr_extents);
	put32(b + 32, ix->nr_xattrs);
	put32(b + 36, ix->strings_size);
	put64(b + 40, total);
	p = b + IX_HEADER;
	for (i = 0; i < ix->nr_chunks; i++, p += IX_CHUNK) {
		memcpy(p, ix->chunks[i].digest.b, STORE_DIGEST_SIZE);
		put32(p + 32, ix->chunks[i].len);
	}
	for (i = 0; i < ix->nr_inodes; i++, p += IX_INODE) {
		const struct imagefs_inode *n = &ix->inodes[i];

		put32(p, n->mode);
		put32(p + 4, n->uid);
		put32(p + 8, n->gid);
		put32(p + 12, n->rdev);
		put64(p + 16, n->size);
		put64(p + 24, (uint64_t)n->mtime);
		put32(p + 32, n->mtime_nsec);
		put32(p + 36, n->first);
		put32(p + 40, n->count);
		put32(p + 44, n->first_xattr);
		put32(p + 48, n->nr_xattrs);
		put32(p + 52, n->target_off);
		put32(p + 56, n->target_len);
	}
	for (i = 0; i < ix->nr_dirents; i++, p += IX_DIRENT) {
		put32(p, ix->dirents[i].parent);
		put32(p + 4, ix->dirents[i].ino);
		put32(p + 8, ix->dirents[i].name_off);
		put32(p + 12, ix->dirents[i].name_len);
	}
	for (i = 0; i < ix->nr_extents; i++, p += IX_EXTENT) {
		put32(p, ix->extents[i].chunk);
		put32(p + 4, ix->extents[i].off);
		put32(p + 8, ix->extents[i].len);
	}
	for (i = 0; i < ix->nr_xattrs; i++, p += IX_XATTR) {
		put32(p, ix->xattrs[i].name_off);
		put32(p + 4, ix->xattrs[i].name_len);
		put32(p + 8, ix->xattrs[i].value_off);
		put32(p + 12, ix->xattrs[i].value_len);
	}
	if (ix->strings_size)
		memcpy(p, ix->strings, ix->strings_size);
	*ret = b;
	*ret_len = total;
	return 0;
}

void imagefs_index_free(struct imagefs_index *ix)
{
	if (!ix)
		return;
	free(ix->inodes);
	free(ix->dirents);
	free(ix->chunks);
	free(ix->extents);
	free(ix->xattrs);
	free(ix->strings);
	free(ix);
}

int imagefs_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int fail(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

#define FAIL(...) fail(why, why_len, __VA_ARGS__)

static bool str_ok(const struct imagefs_index *ix, uint32_t off, uint32_t len)
{
	return off <= ix->strings_size && len <= ix->strings_size - off;
}

static bool component_ok(const char *s, uint32_t len)
{
	if (!len || len > IMAGEFS_NAME_MAX || memchr(s, '/', len) || memchr(s, 0, len))
		return false;
	return !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

static bool type_ok(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO:
	case S_IFSOCK:
		return true;
	}
	return false;
}

/* Reads the fixed-size tables into the native structs (no cross checks yet). */
static void read_tables(struct imagefs_index *ix, const uint8_t *p)
{
	uint32_t i;

	for (i = 0; i < ix->nr_chunks; i++, p += IX_CHUNK) {
		memcpy(ix->chunks[i].digest.b, p, STORE_DIGEST_SIZE);
		ix->chunks[i].len = get32(p + 32);
	}
	for (i = 0; i < ix->nr_inodes; i++, p += IX_INODE) {
		struct imagefs_inode *n = &ix->inodes[i];

		n->mode = get32(p);
		n->uid = get32(p + 4);
		n->gid = get32(p + 8);
		n->rdev = get32(p + 12);
		n->size = get64(p + 16);
		n->mtime = (int64_t)get64(p + 24);
		n->mtime_nsec = get32(p + 32);
		n->first = get32(p + 36);
		n->count = get32(p + 40);
		n->first_xattr = get32(p + 44);
		n->nr_xattrs = get32(p + 48);
		n->target_off = get32(p + 52);
		n->target_len = get32(p + 56);
	}
	for (i = 0; i < ix->nr_dirents; i++, p += IX_DIRENT) {
		ix->dirents[i].parent = get32(p);
		ix->dirents[i].ino = get32(p + 4);
		ix->dirents[i].name_off = get32(p + 8);
		ix->dirents[i].name_len = get32(p + 12);
	}
	for (i = 0; i < ix->nr_extents; i++, p += IX_EXTENT) {
		ix->extents[i].chunk = get32(p);
		ix->extents[i].off = get32(p + 4);
		ix->extents[i].len = get32(p + 8);
	}
	for (i = 0; i < ix->nr_xattrs; i++, p += IX_XATTR) {
		ix->xattrs[i].name_off = get32(p);
		ix->xattrs[i].name_len = get32(p + 4);
		ix->xattrs[i].value_off = get32(p + 8);
		ix->xattrs[i].value_len = get32(p + 12);
	}
}

/* Reserved bytes must be zero, so that a later version can give them a meaning. */
static int check_reserved(const uint8_t *data, const struct imagefs_index *ix, char *why,
			  size_t why_len)
{
	const uint8_t *p = data + IX_HEADER;
	uint32_t i;

	for (i = 48; i < IX_HEADER; i++)
		if (data[i])
			return FAIL("header byte %u is reserved and not zero", i);
	for (i = 0; i < ix->nr_chunks; i++, p += IX_CHUNK)
		if (get32(p + 36))
			return FAIL("chunk %u: reserved field is not zero", i);
	for (i = 0; i < ix->nr_inodes; i++, p += IX_INODE)
		if (get32(p + 60))
			return FAIL("inode %u: reserved field is not zero", i);
	p += (size_t)ix->nr_dirents * IX_DIRENT;
	for (i = 0; i < ix->nr_extents; i++, p += IX_EXTENT)
		if (get32(p + 12))
			return FAIL("extent %u: reserved field is not zero", i);
	return 0;
}

static int check_chunks(const struct imagefs_index *ix, char *why, size_t why_len)
{
	for (uint32_t i = 0; i < ix->nr_chunks; i++)
		if (!ix->chunks[i].len || ix->chunks[i].len > STORE_CHUNK_MAX_LIMIT)
			return FAIL("chunk %u: length %u out of range", i, ix->chunks[i].len);
	return 0;
}

static int check_file(struct imagefs_index *ix, uint32_t i, uint32_t *next_extent, char *why,
		      size_t why_len)
{
	struct imagefs_inode *n = &ix->inodes[i];
	uint64_t sum = 0;
	uint32_t e;

	if (n->first != *next_extent || n->count > ix->nr_extents - n->first)
		return FAIL("inode %u: extents %u+%u are not the next ones (%u) of %u", i, n->first,
			    n->count, *next_extent, ix->nr_extents);
	for (e = n->first; e < n->first + n->count; e++) {
		const struct imagefs_extent *x = &ix->extents[e];

		if (!x->len)
			return FAIL("inode %u: extent %u is empty", i, e);
		if (x->chunk != IMAGEFS_HOLE) {
			if (x->chunk >= ix->nr_chunks)
				return FAIL("inode %u: extent %u names chunk %u of %u", i, e,
					    x->chunk, ix->nr_chunks);
			if (x->off > ix->chunks[x->chunk].len ||
			    x->len > ix->chunks[x->chunk].len - x->off)
				return FAIL("inode %u: extent %u (%u+%u) lies outside chunk %u (%u)",
					    i, e, x->off, x->len, x->chunk,
					    ix->chunks[x->chunk].len);
			n->stored += x->len;
		} else if (x->off) {
			return FAIL("inode %u: hole extent %u has an offset", i, e);
		}
		sum += x->len;
	}
	if (sum != n->size)
		return FAIL("inode %u: extents add up to %llu bytes, size is %llu", i,
			    (unsigned long long)sum, (unsigned long long)n->size);
	*next_extent += n->count;
	return 0;
}

static int check_dir(struct imagefs_index *ix, uint32_t i, uint32_t *next_dirent, char *why,
		     size_t why_len)
{
	const struct imagefs_inode *n = &ix->inodes[i];
	uint32_t d;

	if (n->size)
		return FAIL("inode %u: a directory with a size", i);
	if (n->first != *next_dirent || n->count > ix->nr_dirents - n->first)
		return FAIL("inode %u: entries %u+%u are not the next ones (%u) of %u", i, n->first,
			    n->count, *next_dirent, ix->nr_dirents);
	for (d = n->first; d < n->first + n->count; d++) {
		const struct imagefs_dirent *de = &ix->dirents[d];

		if (de->parent != i)
			return FAIL("entry %u: parent %u, but it lies in directory %u", d, de->parent,
				    i);
		if (!de->ino || de->ino >= ix->nr_inodes)
			return FAIL("entry %u: inode %u out of range", d, de->ino);
		if (!str_ok(ix, de->name_off, de->name_len) ||
		    !component_ok(ix->strings + de->name_off, de->name_len))
			return FAIL("entry %u of directory %u: bad name", d, i);
		if (d > n->first) {
			const struct imagefs_dirent *pr = &ix->dirents[d - 1];

			if (imagefs_name_cmp(ix->strings + pr->name_off, pr->name_len,
					     ix->strings + de->name_off, de->name_len) >= 0)
				return FAIL("entry %u of directory %u: names not sorted or repeated",
					    d, i);
		}
	}
	*next_dirent += n->count;
	return 0;
}

static int check_inodes(struct imagefs_index *ix, char *why, size_t why_len)
{
	uint32_t next_extent = 0, next_dirent = 0, next_xattr = 0, i, x;
	int rc;

	for (i = 0; i < ix->nr_inodes; i++) {
		struct imagefs_inode *n = &ix->inodes[i];
		uint32_t type = n->mode & S_IFMT;

		if (!type_ok(n->mode) || (n->mode & ~(S_IFMT | 07777)))
			return FAIL("inode %u: mode %o is not valid", i, n->mode);
		if (n->mtime_nsec >= 1000000000u)
			return FAIL("inode %u: mtime nanoseconds %u", i, n->mtime_nsec);
		if (type != S_IFCHR && type != S_IFBLK && n->rdev)
			return FAIL("inode %u: a device number on a non-device", i);
		if (type == S_IFLNK) {
			if (!n->target_len || n->target_len > IMAGEFS_TARGET_MAX ||
			    !str_ok(ix, n->target_off, n->target_len) ||
			    memchr(ix->strings + n->target_off, 0, n->target_len))
				return FAIL("inode %u: bad symlink target", i);
			if (n->size != n->target_len)
				return FAIL("inode %u: symlink size is not its target's length", i);
		} else if (n->target_off || n->target_len) {
			return FAIL("inode %u: a target on a non-symlink", i);
		}
		if (type == S_IFREG)
			rc = check_file(ix, i, &next_extent, why, why_len);
		else if (type == S_IFDIR)
			rc = check_dir(ix, i, &next_dirent, why, why_len);
		else if (n->first || n->count || (type != S_IFLNK && n->size))
			rc = FAIL("inode %u: contents on a special file", i);
		else
			rc = 0;
		if (rc)
			return rc;
		if (n->first_xattr != next_xattr || n->nr_xattrs > ix->nr_xattrs - n->first_xattr)
			return FAIL("inode %u: xattrs %u+%u are not the next ones (%u) of %u", i,
				    n->first_xattr, n->nr_xattrs, next_xattr, ix->nr_xattrs);
		for (x = n->first_xattr; x < n->first_xattr + n->nr_xattrs; x++) {
			const struct imagefs_xattr *xa = &ix->xattrs[x];
			const char *name = ix->strings + xa->name_off;

			if (!xa->name_len || xa->name_len > IMAGEFS_XATTR_NAME_MAX ||
			    xa->value_len > IMAGEFS_XATTR_VALUE_MAX ||
			    !str_ok(ix, xa->name_off, xa->name_len) ||
			    !str_ok(ix, xa->value_off, xa->value_len) ||
			    memchr(name, 0, xa->name_len))
				return FAIL("inode %u: xattr %u out of range", i, x);
			if (x > n->first_xattr) {
				const struct imagefs_xattr *pr = &ix->xattrs[x - 1];

				if (imagefs_name_cmp(ix->strings + pr->name_off, pr->name_len, name,
						     xa->name_len) >= 0)
					return FAIL("inode %u: xattr names not sorted or repeated",
						    i);
			}
		}
		next_xattr += n->nr_xattrs;
	}
	if (next_extent != ix->nr_extents || next_dirent != ix->nr_dirents ||
	    next_xattr != ix->nr_xattrs)
		return FAIL("tables hold entries no inode uses (extents %u/%u, entries %u/%u, "
			    "xattrs %u/%u)",
			    next_extent, ix->nr_extents, next_dirent, ix->nr_dirents, next_xattr,
			    ix->nr_xattrs);
	return 0;
}

/*
 * Walks the tree from the root: a directory has exactly one entry naming it
 * (so no loops and no directory hard links), every inode is reached, and
 * link counts come out of the entries.
 */
static int check_tree(struct imagefs_index *ix, char *why, size_t why_len)
{
	uint32_t *queue, head = 0, tail = 0, i, reached = 1;
	int rc = 0;

	if (!ix->nr_inodes || (ix->inodes[0].mode & S_IFMT) != S_IFDIR)
		return FAIL("inode 0 is not a directory");
	queue = malloc((size_t)ix->nr_inodes * sizeof(*queue));
	if (!queue)
		return -ENOMEM;
	for (i = 0; i < ix->nr_inodes; i++)
		ix->inodes[i].nlink = (ix->inodes[i].mode & S_IFMT) == S_IFDIR ? 2 : 0;
	ix->inodes[0].parent = 0;
	queue[tail++] = 0;
	while (head < tail) {
		const struct imagefs_inode *dir = &ix->inodes[queue[head++]];

		for (i = dir->first; i < dir->first + dir->count; i++) {
			struct imagefs_inode *c = &ix->inodes[ix->dirents[i].ino];

			if ((c->mode & S_IFMT) != S_IFDIR) {
				if (!c->nlink++)
					reached++;
				continue;
			}
			if (c->nlink != 2) {
				rc = FAIL("directory inode %u has more than one name",
					  ix->dirents[i].ino);
				goto out;
			}
			c->parent = ix->dirents[i].parent;
			c->nlink = 3; /* marks it reached; the 3rd link is undone below */
			ix->inodes[ix->dirents[i].parent].nlink++;
			reached++;
			queue[tail++] = ix->dirents[i].ino;
		}
	}
	if (reached != ix->nr_inodes) {
		rc = FAIL("%u of %u inodes are not reachable from the root", ix->nr_inodes - reached,
			  ix->nr_inodes);
		goto out;
	}
	for (i = 1; i < ix->nr_inodes; i++)
		if ((ix->inodes[i].mode & S_IFMT) == S_IFDIR)
			ix->inodes[i].nlink--;
out:
	free(queue);
	return rc;
}

int imagefs_index_parse(const void *data, size_t len, struct imagefs_index **ret, char *why,
			size_t why_len)
{
	const uint8_t *b = data;
	struct imagefs_index *ix;
	uint64_t total;
	int rc = -ENOMEM;

	if (len < IX_HEADER)
		return FAIL("%zu bytes: shorter than the header", len);
	if (memcmp(b, magic, 8))
		return FAIL("not an image index (magic)");
	if (get32(b + 8) != IMAGEFS_INDEX_VERSION)
		return FAIL("index version %u, this thaw reads %u", get32(b + 8),
			    IMAGEFS_INDEX_VERSION);
	if (get32(b + 12) != IX_HEADER || len > IMAGEFS_INDEX_MAX)
		return FAIL("header size %u or index size %zu out of range", get32(b + 12), len);
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	ix->nr_inodes = get32(b + 16);
	ix->nr_dirents = get32(b + 20);
	ix->nr_chunks = get32(b + 24);
	ix->nr_extents = get32(b + 28);
	ix->nr_xattrs = get32(b + 32);
	ix->strings_size = get32(b + 36);
	total = get64(b + 40);
	if (ix->nr_inodes > IMAGEFS_MAX_INODES || ix->nr_dirents > IMAGEFS_MAX_DIRENTS ||
	    ix->nr_chunks > IMAGEFS_MAX_CHUNKS || ix->nr_extents > IMAGEFS_MAX_EXTENTS ||
	    ix->nr_xattrs > IMAGEFS_MAX_XATTRS || ix->strings_size > IMAGEFS_INDEX_MAX) {
		rc = FAIL("a count is out of range");
		goto fail;
	}
	if (total != len || index_size(ix) != len) {
		rc = FAIL("the tables take %llu bytes, the header says %llu, %zu arrived",
			  (unsigned long long)index_size(ix), (unsigned long long)total, len);
		goto fail;
	}
	if ((ix->nr_inodes && !(ix->inodes = calloc(ix->nr_inodes, sizeof(*ix->inodes)))) ||
	    (ix->nr_dirents && !(ix->dirents = calloc(ix->nr_dirents, sizeof(*ix->dirents)))) ||
	    (ix->nr_chunks && !(ix->chunks = calloc(ix->nr_chunks, sizeof(*ix->chunks)))) ||
	    (ix->nr_extents && !(ix->extents = calloc(ix->nr_extents, sizeof(*ix->extents)))) ||
	    (ix->nr_xattrs && !(ix->xattrs = calloc(ix->nr_xattrs, sizeof(*ix->xattrs)))) ||
	    !(ix->strings = malloc(ix->strings_size ? ix->strings_size : 1)))
		goto fail;
	read_tables(ix, b + IX_HEADER);
	memcpy(ix->strings, b + len - ix->strings_size, ix->strings_size);
	rc = check_reserved(b, ix, why, why_len);
	if (!rc)
		rc = check_chunks(ix, why, why_len);
	if (!rc)
		rc = check_inodes(ix, why, why_len);
	if (!rc)
		rc = check_tree(ix, why, why_len);
	if (rc)
		goto fail;
	store_sha256(data, len, &ix->id);
	*ret = ix;
	return 0;
fail:
	if (rc == -ENOMEM)
		FAIL("out of memory");
	imagefs_index_free(ix);
	return rc;
}

int64_t imagefs_lookup(const struct imagefs_index *ix, uint32_t dir, const char *name, size_t len)
{
	const struct imagefs_inode *d;
	uint32_t lo, hi;

	if (dir >= ix->nr_inodes)
		return -ENOENT;
	d = &ix->inodes[dir];
	if ((d->mode & S_IFMT) != S_IFDIR)
		return -ENOTDIR;
	lo = d->first;
	hi = d->first + d->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct imagefs_dirent *de = &ix->dirents[mid];
		int c = imagefs_name_cmp(ix->strings + de->name_off, de->name_len, name, len);

		if (!c)
			return de->ino;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int64_t imagefs_resolve(const struct imagefs_index *ix, const char *path)
{
	int64_t ino = 0;

	while (*path) {
		const char *end;

		while (*path == '/')
			path++;
		if (!*path)
			break;
		end = strchrnul(path, '/');
		ino = imagefs_lookup(ix, (uint32_t)ino, path, (size_t)(end - path));
		if (ino < 0)
			return ino;
		path = end;
	}
	return ino;
}
