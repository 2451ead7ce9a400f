/*
 * image-bind.c - what makes the files of a snapshot one snapshot.
 *
 * A snapshot is several files (docs/image-format.md), and a directory can
 * end up holding files of different dumps: copied by hand, half replaced,
 * mixed by a tool.  Each would pass its own checks.  So at dump time every
 * snapshot gets a random id that the header of every binary file repeats,
 * and the manifest records the size and SHA-256 of every other file
 * ("parts"); a tree's root records its children's manifests, and each child
 * its own files.  The hashes of pages.img and data.img are taken as they
 * are written (both are only ever appended to); pages.img's is over its
 * segments (below).
 *
 * A restore checks what it can without reading more than it reads anyway
 * (docs/security.md): the manifest's crc, pages.idx's SHA-256 (the index is
 * small and read whole), the id and exact size of pages.img and data.img,
 * and then every page run's crc (from the SHA-256-bound index) and every
 * blob's crc as the restore reads them.  image_verify() reads everything and
 * checks the SHA-256 of pages.img and data.img too: what thaw inspect runs.
 */
#define LOG_TAG "image"
/* SHA-256 through the low-level functions: see image_sha256() */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/hex.h"
#include "base/io.h"
#include "base/log.h"
#include "base/trust.h"
#include "image/image-internal.h"
#include "image/image-record.h"

#define HASH_CHUNK (1u << 20)
#define MAX_REPORTS 8 /* image_verify: problems named before it only counts them */

/* ---- hashing ---- */

/*
 * A restore hashes its manifest and its page index with OpenSSL's low-level
 * SHA-256 functions, not EVP: a process's first EVP digest loads OpenSSL's
 * configuration and default provider first, which took longer than both
 * hashes together (1.1 ms against 0.2 ms for 300 KB, measured), on the path
 * of every restore.  The low-level functions run the same code (SHA-NI where
 * the CPU has it) with nothing to set up; OpenSSL 3 deprecates them but
 * keeps them, and Debian 12's libcrypto3 has them.
 */
int image_sha256_parts(const void *a, size_t alen, const void *b, size_t blen,
		       uint8_t out[IMAGE_SHA256_SIZE])
{
	SHA256_CTX c;

	if (!SHA256_Init(&c) || !SHA256_Update(&c, a, alen) || (blen && !SHA256_Update(&c, b, blen)) ||
	    !SHA256_Final(out, &c))
		return -EINVAL;
	return 0;
}

int image_sha256(const void *p, size_t len, uint8_t out[IMAGE_SHA256_SIZE])
{
	return image_sha256_parts(p, len, NULL, 0, out);
}

/* SHA-256 of a whole file through fd (pread: the offset stays), and its length. */
static int sha256_fd(int fd, uint8_t out[IMAGE_SHA256_SIZE], uint64_t *ret_size)
{
	unsigned char *buf = malloc(HASH_CHUNK);
	uint64_t off = 0;
	SHA256_CTX c;
	int ret = -ENOMEM;
	ssize_t n;

	if (!buf || !SHA256_Init(&c))
		goto out;
	while ((n = pread(fd, buf, HASH_CHUNK, (off_t)off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		SHA256_Update(&c, buf, (size_t)n);
		off += (uint64_t)n;
	}
	SHA256_Final(out, &c);
	*ret_size = off;
	ret = 0;
out:
	free(buf);
	return ret;
}

/*
 * pages.img is the one large file of a snapshot, as large as the memory it
 * holds, and one SHA-256 runs at 1-2 GB/s: hashed as a whole it took as long
 * as copying the pages.  So its digest is the SHA-256 of the SHA-256s of its
 * 4 MiB segments, one after the other, and the segments are hashed by
 * threads side by side: behind the writer while a dump writes (they map
 * what has been written, the page cache itself: a read back into a buffer
 * cost as much CPU as the hashing, measured on workload A), and all at once
 * by a reader that checks the file (with pread: a file that shrinks under a
 * mapping would kill the reader with SIGBUS, and a reader's file is not its
 * own; the writer's is, in its locked directory, and only grows).
 */
#define SEGMENT (4u << 20)
#define MAX_HASHERS 8

struct image_hash {
	int fd;
	bool segmented; /* pages.img: segments on threads; else one SHA-256 in line */
	bool mapped; /* segments are read through a mapping of fd (the writer's own file) */
	SHA256_CTX sha; /* in line */
	uint32_t nr_threads;
	pthread_t threads[MAX_HASHERS];
	pthread_mutex_t lock;
	pthread_cond_t more;
	/* under lock */
	uint64_t written; /* bytes appended so far */
	bool closing; /* nothing more comes */
	uint64_t next; /* the next segment to hash */
	uint8_t (*segs)[IMAGE_SHA256_SIZE]; /* each segment's SHA-256 */
	uint64_t nr_segs_alloc;
	int err; /* the first error of a thread */
};

/* Waits for a whole segment (or the last, once closing) and takes it; false: none is left. */
static bool take_segment(struct image_hash *h, uint64_t *seg, uint64_t *len)
{
	bool got = false;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		uint64_t off = h->next * SEGMENT;

		if (h->written >= off + SEGMENT || (h->closing && h->written > off)) {
			*seg = h->next++;
			*len = h->written - off < SEGMENT ? h->written - off : SEGMENT;
			got = true;
			break;
		}
		if (h->closing)
			break;
		pthread_cond_wait(&h->more, &h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return got;
}

static int put_segment(struct image_hash *h, uint64_t seg, const uint8_t sha[IMAGE_SHA256_SIZE])
{
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	if (seg >= h->nr_segs_alloc) {
		uint64_t n = h->nr_segs_alloc ? 2 * h->nr_segs_alloc : 256;
		void *p;

		while (n <= seg)
			n *= 2;
		p = realloc(h->segs, n * IMAGE_SHA256_SIZE);
		if (p) {
			h->segs = p;
			h->nr_segs_alloc = n;
		} else {
			ret = -ENOMEM;
		}
	}
	if (!ret)
		memcpy(h->segs[seg], sha, IMAGE_SHA256_SIZE);
	else if (!h->err)
		h->err = ret;
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/*
 * The SHA-256 of len bytes at off, read HASH_CHUNK at a time into buf, or
 * with mapped through a mapping of the range (off is a multiple of SEGMENT);
 * a file that cannot be mapped is read.
 */
static int sha256_range(int fd, unsigned char *buf, uint64_t off, uint64_t len, bool mapped,
			uint8_t out[IMAGE_SHA256_SIZE])
{
	SHA256_CTX c;
	uint64_t done = 0;
	int err = 0;

	SHA256_Init(&c);
	if (mapped) {
		void *p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)off);

		if (p != MAP_FAILED) {
			SHA256_Update(&c, p, len);
			SHA256_Final(out, &c);
			munmap(p, len);
			return 0;
		}
	}
	while (!err && done < len) {
		size_t n = len - done > HASH_CHUNK ? HASH_CHUNK : (size_t)(len - done);

		err = io_pread_all(fd, buf, n, off + done);
		if (!err)
			SHA256_Update(&c, buf, n);
		done += n;
	}
	SHA256_Final(out, &c);
	return err;
}

static void *hash_segments(void *arg)
{
	struct image_hash *h = arg;
	unsigned char *buf = malloc(HASH_CHUNK);
	uint8_t sha[IMAGE_SHA256_SIZE];
	uint64_t seg, len;
	int err = buf ? 0 : -ENOMEM;

	/* after an error the segments are still taken, so that the others finish */
	while (take_segment(h, &seg, &len)) {
		if (!err)
			err = sha256_range(h->fd, buf, seg * SEGMENT, len, h->mapped, sha);
		if (!err)
			err = put_segment(h, seg, sha);
		if (err) {
			pthread_mutex_lock(&h->lock);
			if (!h->err)
				h->err = err;
			pthread_mutex_unlock(&h->lock);
		}
	}
	free(buf);
	return NULL;
}

static uint32_t hasher_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	/* beside the thread that writes (or waits): at least one, at most MAX_HASHERS */
	return cpus <= 2 ? 1 : cpus - 1 > MAX_HASHERS ? MAX_HASHERS : (uint32_t)(cpus - 1);
}

static struct image_hash *hash_new(int fd, bool segmented, bool mapped)
{
	struct image_hash *h = calloc(1, sizeof(*h));
	sigset_t all, old;

	if (!h || !SHA256_Init(&h->sha)) {
		free(h);
		return NULL;
	}
	h->fd = fd;
	h->segmented = segmented;
	h->mapped = mapped;
	if (!segmented)
		return h;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->more, NULL);
	/* signals stay with the thread that handles them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (h->nr_threads = 0; h->nr_threads < hasher_threads(); h->nr_threads++)
		if (pthread_create(&h->threads[h->nr_threads], NULL, hash_segments, h))
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return h; /* with no thread started, hash_stop() does all the work */
}

/*
 * Nothing more comes: the caller hashes segments beside the threads (alone,
 * if none could be started) until every one is done.  Returns the first
 * error.
 */
static int hash_stop(struct image_hash *h)
{
	uint32_t i;

	if (!h->segmented)
		return 0;
	pthread_mutex_lock(&h->lock);
	h->closing = true;
	pthread_cond_broadcast(&h->more);
	pthread_mutex_unlock(&h->lock);
	hash_segments(h);
	for (i = 0; i < h->nr_threads; i++)
		pthread_join(h->threads[i], NULL);
	h->nr_threads = 0;
	return h->err;
}

static int hash_final(struct image_hash *h, uint8_t out[IMAGE_SHA256_SIZE])
{
	uint64_t nr;
	int ret;

	if (!h)
		return -ENOMEM;
	if (!h->segmented) {
		SHA256_Final(out, &h->sha);
		return 0;
	}
	ret = hash_stop(h);
	nr = (h->written + SEGMENT - 1) / SEGMENT;
	if (!ret && nr > h->nr_segs_alloc)
		ret = -EIO; /* cannot be: every segment was put */
	return ret ? ret : image_sha256(h->segs, nr * IMAGE_SHA256_SIZE, out);
}

static void hash_free(struct image_hash *h)
{
	if (!h)
		return;
	hash_stop(h);
	if (h->segmented) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->more);
	}
	OPENSSL_cleanse(&h->sha, sizeof(h->sha));
	free(h->segs);
	free(h);
}

/* pages.img's digest (above) from its fd, read by threads side by side. */
static int segments_fd(int fd, uint8_t out[IMAGE_SHA256_SIZE], uint64_t *ret_size)
{
	struct image_hash *h;
	struct stat st;
	int ret;

	if (fstat(fd, &st))
		return -errno;
	h = hash_new(fd, true, false);
	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	h->written = (uint64_t)st.st_size;
	pthread_cond_broadcast(&h->more);
	pthread_mutex_unlock(&h->lock);
	ret = hash_final(h, out);
	hash_free(h);
	*ret_size = (uint64_t)st.st_size;
	return ret;
}

int image_hash_begin(struct image *img)
{
	size_t got = 0;
	ssize_t n;

	while (got < IMAGE_ID_SIZE) {
		n = getrandom(img->parts.id + got, IMAGE_ID_SIZE - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return log_errno("snapshot %s: getrandom", img->path);
		got += (size_t)n;
	}
	img->pages_hash = hash_new(img->pages_fd, true, true);
	img->data_hash = hash_new(img->data_fd, false, false);
	if (!img->pages_hash || !img->data_hash) {
		log_error("out of memory for a SHA-256 context");
		return -ENOMEM;
	}
	return 0;
}

int image_hash_append(struct image_hash *h, const void *p, size_t len)
{
	if (!h)
		return -EINVAL;
	if (!h->segmented) {
		SHA256_Update(&h->sha, p, len);
		return 0;
	}
	/* written already: the threads read it back */
	pthread_mutex_lock(&h->lock);
	h->written += len;
	pthread_cond_broadcast(&h->more);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void image_hash_end(struct image *img)
{
	hash_free(img->pages_hash);
	hash_free(img->data_hash);
	img->pages_hash = img->data_hash = NULL;
}

/* ---- headers ---- */

void image_put_header(unsigned char *h, const char *magic, const uint8_t id[IMAGE_ID_SIZE])
{
	memcpy(h, magic, 8);
	h[8] = IMAGE_FORMAT_VERSION; /* u32 little-endian */
	h[9] = h[10] = h[11] = 0;
	memset(h + 12, 0, 4); /* reserved */
	memcpy(h + IMAGE_HEADER_ID_OFF, id, IMAGE_ID_SIZE);
}

int image_check_header(const struct image *img, const char *file, const unsigned char *h,
		       size_t len, const char *magic)
{
	char a[2 * IMAGE_ID_SIZE + 1], b[2 * IMAGE_ID_SIZE + 1];
	uint32_t version = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 |
			   (uint32_t)h[11] << 24;
	size_t i;

	if (memcmp(h, magic, 8)) {
		log_error("snapshot %s: %s: bad magic", img->path, file);
		return -EINVAL;
	}
	if (version != IMAGE_FORMAT_VERSION) {
		log_error("snapshot %s: %s: format version %u, but this thaw reads version %d",
			  img->path, file, version, IMAGE_FORMAT_VERSION);
		return -EINVAL;
	}
	if (memcmp(h + IMAGE_HEADER_ID_OFF, img->parts.id, IMAGE_ID_SIZE)) {
		log_error("snapshot %s: %s belongs to another snapshot (id %s; the manifest's is "
			  "%s)",
			  img->path, file, hex_encode(h + IMAGE_HEADER_ID_OFF, IMAGE_ID_SIZE, a),
			  hex_encode(img->parts.id, IMAGE_ID_SIZE, b));
		return -EINVAL;
	}
	for (i = 12; i < len; i++)
		if ((i < IMAGE_HEADER_ID_OFF || i >= IMAGE_HEADER_ID_OFF + IMAGE_ID_SIZE) && h[i]) {
			log_error("snapshot %s: %s: reserved header byte %zu is not zero", img->path,
				  file, i);
			return -EINVAL;
		}
	return 0;
}

/* ---- parts: writing ---- */

const struct image_part *image_find_part(const struct image *img, const char *name)
{
	uint32_t i;

	for (i = 0; i < img->parts.nr_files; i++)
		if (!strcmp(img->parts.files[i].name, name))
			return &img->parts.files[i];
	return NULL;
}

static struct image_part *add_part(struct image *img, const char *name, uint64_t size)
{
	struct image_part *p = &img->parts.files[img->parts.nr_files];

	p->name = strdup(name);
	if (!p->name) {
		log_error("out of memory");
		return NULL;
	}
	p->size = size;
	img->parts.nr_files++;
	return p;
}

/* The SHA-256 of a child's published manifest, inside the unpublished root. */
static int hash_child_manifest(struct image *img, const char *name, struct image_part *p)
{
	uint64_t size;
	int fd, ret;

	fd = openat(img->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return log_errno("snapshot %s: %s", img->tmp_path, name);
	ret = sha256_fd(fd, p->sha256, &size);
	close(fd);
	if (ret) {
		log_error("snapshot %s: %s: %s", img->tmp_path, name, strerror(-ret));
		return ret;
	}
	p->size = size;
	return 0;
}

int image_bind(struct image *img, const void *idx, size_t idx_len)
{
	struct image_part *p;
	char name[IMAGE_PART_NAME_MAX];
	uint32_t i, nr = 3;
	double t0;
	int ret;

	for (i = 0; i < img->nr_children; i++)
		nr += !img->children[i].is_zombie;
	for (i = 0; i < img->parts.nr_files; i++)
		free(img->parts.files[i].name);
	free(img->parts.files);
	img->parts.nr_files = 0;
	img->parts.files = calloc(nr, sizeof(*img->parts.files));
	if (!img->parts.files) {
		log_error("out of memory");
		return -ENOMEM;
	}
	p = add_part(img, "pages.idx", idx_len);
	if (!p || image_sha256(idx, idx_len, p->sha256))
		return -ENOMEM;
	p = add_part(img, "pages.img", IMAGE_PAGE_SIZE + img->pages_bytes);
	if (!p)
		return -ENOMEM;
	t0 = now_ms();
	ret = hash_final(img->pages_hash, p->sha256);
	if (ret) {
		log_error("snapshot %s: pages.img: reading it back to hash it: %s", img->tmp_path,
			  strerror(-ret));
		return ret;
	}
	log_debug("snapshot %s: %.1f ms waited at publish for pages.img's digest threads",
		  img->path, now_ms() - t0);
	p = add_part(img, "data.img", img->data_bytes);
	if (!p || hash_final(img->data_hash, p->sha256))
		return -ENOMEM;
	image_hash_end(img);
	/* a tree: the children were published into this directory first */
	for (i = 0; i < img->nr_children; i++) {
		if (img->children[i].is_zombie)
			continue;
		snprintf(name, sizeof(name), IMAGE_CHILD_DIR_FMT "/manifest.json",
			 img->children[i].pid);
		p = add_part(img, name, 0);
		if (!p)
			return -ENOMEM;
		ret = hash_child_manifest(img, name, p);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- parts: reading ---- */

int image_check_bound(const struct image *img)
{
	static const char *const own[] = { "pages.idx", "pages.img", "data.img" };
	char name[IMAGE_PART_NAME_MAX];
	uint32_t i, k;
	int pid;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (!image_find_part(img, own[i])) {
			log_error("snapshot %s: manifest.json: parts: no record of %s, so nothing "
				  "binds it to this manifest",
				  img->path, own[i]);
			return -EINVAL;
		}
	for (i = 0; i < img->parts.nr_files; i++) {
		pid = image_part_pid(img->parts.files[i].name);
		if (pid < 0)
			continue;
		for (k = 0; k < img->nr_children; k++)
			if (img->children[k].pid == pid && !img->children[k].is_zombie)
				break;
		if (k == img->nr_children) {
			log_error("snapshot %s: manifest.json: parts: %s, but pid %d is no live "
				  "process of the tree",
				  img->path, img->parts.files[i].name, pid);
			return -EINVAL;
		}
	}
	for (k = 0; k < img->nr_children; k++) {
		if (img->children[k].is_zombie)
			continue;
		snprintf(name, sizeof(name), IMAGE_CHILD_DIR_FMT "/manifest.json",
			 img->children[k].pid);
		if (!image_find_part(img, name)) {
			log_error("snapshot %s: manifest.json: parts: no record of %s", img->path,
				  name);
			return -EINVAL;
		}
	}
	return 0;
}

int image_check_part(const struct image *img, const char *name, uint64_t size,
		     const uint8_t *sha256)
{
	const struct image_part *p = image_find_part(img, name);
	char a[2 * IMAGE_SHA256_SIZE + 1], b[2 * IMAGE_SHA256_SIZE + 1];

	if (!p)
		return -EINVAL; /* image_check_bound() said so */
	if (size != p->size) {
		log_error("snapshot %s: %s: %" PRIu64 " bytes, but the manifest says %" PRIu64
			  ": damaged, or not this snapshot's",
			  img->path, name, size, p->size);
		return -EINVAL;
	}
	if (sha256 && memcmp(sha256, p->sha256, IMAGE_SHA256_SIZE)) {
		log_error("snapshot %s: %s: SHA-256 %s does not match the manifest's %s: damaged, "
			  "edited, or not this snapshot's",
			  img->path, name, hex_encode(sha256, IMAGE_SHA256_SIZE, a),
			  hex_encode(p->sha256, IMAGE_SHA256_SIZE, b));
		return -EINVAL;
	}
	return 0;
}

static int check_bytes(const struct image *img);

int image_read_child(const struct image *root, const struct image_child *c,
		     struct image **ret_img)
{
	char sub[32], name[IMAGE_PART_NAME_MAX], path[PATH_MAX], what[PATH_MAX + 16];
	struct image *img;
	int fd, ret;

	*ret_img = NULL;
	snprintf(sub, sizeof(sub), IMAGE_CHILD_DIR_FMT, c->pid);
	snprintf(name, sizeof(name), "%s/manifest.json", sub);
	snprintf(what, sizeof(what), "snapshot %s", root->path);
	if (snprintf(path, sizeof(path), "%s/%s", root->path, sub) >= (int)sizeof(path)) {
		log_error("snapshot %s: path too long", root->path);
		return -ENAMETOOLONG;
	}
	ret = trust_openat_dir(what, root->dir_fd, sub, &fd);
	if (ret == -ENOENT || ret == -ENOTDIR) {
		log_error("snapshot %s: %s: missing (the image of pid %d of the tree)", root->path,
			  sub, c->pid);
		return -EINVAL;
	}
	if (ret)
		return ret;
	ret = image_read_at(fd, path, &img);
	if (ret)
		return ret;
	if (image_check_part(root, name, img->manifest_size, img->manifest_sha256) ||
	    (root->is_signed == IMAGE_SIGNED_WITH_BYTES && check_bytes(img))) {
		image_free(img);
		return -EINVAL;
	}
	img->is_signed = root->is_signed; /* through the root's signature */
	*ret_img = img;
	return 0;
}

/* ---- reading everything ---- */

struct verify {
	const struct image *img;
	unsigned problems;
};

static void problem(struct verify *v)
{
	if (++v->problems == MAX_REPORTS)
		log_error("snapshot %s: more problems are counted, not named", v->img->path);
}

static void verify_file(struct verify *v, const char *name, int fd)
{
	uint8_t sha[IMAGE_SHA256_SIZE];
	uint64_t size;
	int ret = strcmp(name, "pages.img") ? sha256_fd(fd, sha, &size) : segments_fd(fd, sha, &size);

	if (ret) {
		log_error("snapshot %s: reading %s: %s", v->img->path, name, strerror(-ret));
		problem(v);
	} else if (image_check_part(v->img, name, size, sha)) {
		problem(v);
	}
}

/* A small part read by name (workset.idx): a restore warns, inspect counts it as damage. */
static void verify_named(struct verify *v, const char *name)
{
	char what[PATH_MAX + 16];
	struct stat st;
	int fd;

	snprintf(what, sizeof(what), "snapshot %s", v->img->path);
	fd = trust_openat_file(what, v->img->dir_fd, name, &st);
	if (fd < 0) {
		log_error("snapshot %s: %s: %s", v->img->path, name, strerror(-fd));
		problem(v);
		return;
	}
	verify_file(v, name, fd);
	close(fd);
}

static void verify_runs(struct verify *v)
{
	const struct image *img = v->img;
	unsigned char *buf = malloc(IMAGE_MAX_RUN_PAGES * IMAGE_PAGE_SIZE);
	uint64_t i;

	if (!buf) {
		log_error("out of memory");
		problem(v);
		return;
	}
	for (i = 0; i < img->nr_runs; i++) {
		const struct image_page_run *r = &img->runs[i];
		size_t len = (size_t)r->npages * IMAGE_PAGE_SIZE, got = 0;
		ssize_t n;

		if (r->flags & IMAGE_RUN_ZERO)
			continue;
		while (got < len) {
			n = pread(img->pages_fd, buf + got, len - got, (off_t)(r->off + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got == len && crc32c_pages(0, buf, len) == r->crc)
			continue;
		if (v->problems < MAX_REPORTS)
			log_error("snapshot %s: pages.img: run %" PRIu64 " (vaddr 0x%" PRIx64
				  ", %u pages at offset %" PRIu64 "): %s: the page data is damaged",
				  img->path, i, r->vaddr, r->npages, r->off,
				  got == len ? "crc mismatch" : "short read");
		problem(v);
	}
	free(buf);
}

static int verify_blob(void *arg, const char *what, const struct image_blob *b)
{
	struct verify *v = arg;
	void *data;

	(void)what;
	if (!b->len)
		return 0;
	if (image_read_blob(v->img, b, &data)) /* names the blob */
		problem(v);
	else
		free(data);
	return 0;
}

int image_verify(const struct image *img)
{
	struct verify v = { img, 0 };

	verify_file(&v, "pages.img", img->pages_fd);
	verify_file(&v, "data.img", img->data_fd);
	if (image_find_part(img, IMAGE_WORKSET_FILE))
		verify_named(&v, IMAGE_WORKSET_FILE);
	verify_runs(&v);
	image_for_each_blob(img, verify_blob, &v);
	return v.problems ? -EINVAL : 0;
}

/* ---- signatures (thaw dump --key-file) ---- */

/*
 * manifest.sig: 64 hex digits and a newline, HMAC-SHA-256 under a subkey
 * of the key file's key, of the SHA-256 of manifest.json.  The manifest
 * binds every other file, so this signs the snapshot (a tree's root signs
 * its children's manifests through its parts).
 */
#define SIG_FILE "manifest.sig"
#define SIG_LEN (2 * IMAGE_SHA256_SIZE + 1)

static int signature(const uint8_t key[IMAGE_KEY_SIZE], const uint8_t manifest[IMAGE_SHA256_SIZE],
		     char out[SIG_LEN + 1])
{
	static const char label[] = "thaw manifest signature";
	uint8_t subkey[IMAGE_SHA256_SIZE], mac[IMAGE_SHA256_SIZE];
	unsigned int len = sizeof(subkey);

	if (!HMAC(EVP_sha256(), key, IMAGE_KEY_SIZE, (const uint8_t *)label, sizeof(label) - 1,
		  subkey, &len) ||
	    !HMAC(EVP_sha256(), subkey, sizeof(subkey), manifest, IMAGE_SHA256_SIZE, mac, &len)) {
		OPENSSL_cleanse(subkey, sizeof(subkey));
		log_error("HMAC-SHA-256 failed");
		return -ENOMEM;
	}
	OPENSSL_cleanse(subkey, sizeof(subkey));
	hex_encode(mac, sizeof(mac), out);
	out[SIG_LEN - 1] = '\n';
	out[SIG_LEN] = '\0';
	return 0;
}

int image_sign(const char *dir, const uint8_t key[IMAGE_KEY_SIZE])
{
	char sig[SIG_LEN + 1], tmp[32];
	struct image *img;
	int fd, ret;

	ret = image_read(dir, &img); /* what is signed is what a reader would accept */
	if (ret)
		return ret;
	ret = signature(key, img->manifest_sha256, sig);
	if (ret)
		goto out;
	snprintf(tmp, sizeof(tmp), SIG_FILE ".tmp-%d", (int)getpid());
	fd = openat(img->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = log_errno("snapshot %s: cannot create %s", dir, tmp);
		goto out;
	}
	if (write(fd, sig, SIG_LEN) != SIG_LEN || fsync(fd)) {
		ret = log_errno("snapshot %s: writing %s", dir, SIG_FILE);
		close(fd);
		unlinkat(img->dir_fd, tmp, 0);
		goto out;
	}
	close(fd);
	if (renameat(img->dir_fd, tmp, img->dir_fd, SIG_FILE) || fsync(img->dir_fd)) {
		ret = log_errno("snapshot %s: publishing %s", dir, SIG_FILE);
		unlinkat(img->dir_fd, tmp, 0);
	}
out:
	image_free(img);
	return ret;
}

/* The pages and data of img and, for a tree, of every child are hashed in full. */
static int check_bytes(const struct image *img)
{
	struct verify v = { img, 0 };

	verify_file(&v, "pages.img", img->pages_fd);
	verify_file(&v, "data.img", img->data_fd);
	if (image_find_part(img, IMAGE_WORKSET_FILE))
		verify_named(&v, IMAGE_WORKSET_FILE);
	return v.problems ? -EINVAL : 0;
}

int image_read_signed(const char *dir, const uint8_t key[IMAGE_KEY_SIZE], bool with_bytes,
		      struct image **ret_img)
{
	char want[SIG_LEN + 1], have[SIG_LEN + 1] = { 0 }, what[PATH_MAX + 16];
	struct image *img;
	struct stat st;
	int fd, ret;

	*ret_img = NULL;
	ret = image_read(dir, &img);
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "snapshot %s", dir);
	fd = trust_openat_file(what, img->dir_fd, SIG_FILE, &st);
	if (fd == -ENOENT)
		log_error("snapshot %s: no %s: it is not signed, and a key was given", dir,
			  SIG_FILE);
	if (fd < 0) {
		ret = fd == -ENOENT ? -EPERM : fd;
		goto fail;
	}
	ret = st.st_size == SIG_LEN && pread(fd, have, SIG_LEN, 0) == SIG_LEN ? 0 : -EINVAL;
	close(fd);
	if (!ret)
		ret = signature(key, img->manifest_sha256, want);
	if (!ret && CRYPTO_memcmp(want, have, SIG_LEN))
		ret = -EPERM;
	if (ret) {
		log_error("snapshot %s: %s does not sign this manifest with this key: refusing it",
			  dir, SIG_FILE);
		goto fail;
	}
	/* a key means the files may lie where others can write: crcs are no proof */
	img->is_signed = with_bytes ? IMAGE_SIGNED_WITH_BYTES : IMAGE_SIGNED;
	if (with_bytes && check_bytes(img)) {
		ret = -EINVAL;
		goto fail;
	}
	*ret_img = img;
	return 0;
fail:
	image_free(img);
	return ret;
}
