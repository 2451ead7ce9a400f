/*
 * image.c - writing a snapshot directory and reading one back.
 *
 * Writing: image_create() makes DIR.tmp-XXXXXX next to DIR, locked while
 * it is written (and removes the ones killed dumps left there); the dump
 * appends bulk bytes to data.img and page data to pages.img as it goes, and
 * image_publish() writes the page index and the manifest, fsyncs everything
 * and renames the directory into place, so a snapshot either exists whole or
 * not at all.
 *
 * Reading: image_read() trusts nothing.  manifest.crc guards the manifest
 * against bit rot, the manifest is parsed and validated
 * (image-manifest.c, image-validate.c), every blob is checked against the
 * real size of data.img and every page run against pages.img and the VMAs.
 * Page bytes themselves are checked by the restorer, which reads them anyway
 * (run crcs), and blob bytes by image_read_blob().
 */
#define LOG_TAG "image"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>


#include "base/crc32c.h"
#include "base/io.h"
#include "base/log.h"
#include "base/dirs.h"
#include "base/trust.h"
#include "image/image-internal.h"
#include "image/image-record.h"

#define ERRLEN 512

/* ---- small helpers ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static struct image *image_alloc(void)
{
	struct image *img = calloc(1, sizeof(*img));

	if (!img) {
		log_error("out of memory");
		return NULL;
	}
	img->dir_fd = img->pages_fd = img->data_fd = -1;
	img->proc.exe = -1;
	img->version = IMAGE_FORMAT_VERSION;
	return img;
}

/* ---- growers ---- */

/*
 * Arrays grow by doubling; the capacity is not stored but derived from the
 * count (image_array_capacity), which the reader also allocates by.
 */
static void *grow(void **arr, uint32_t *nr, size_t size, uint32_t max, const char *what)
{
	size_t cap = image_array_capacity(*nr);
	char *p;

	if (*nr >= max) {
		log_error("too many %s: at most %u", what, max);
		return NULL;
	}
	if (*nr == cap) {
		size_t new_cap = cap ? cap * 2 : 16;

		p = realloc(*arr, new_cap * size);
		if (!p) {
			log_error("out of memory for %zu %s", new_cap, what);
			return NULL;
		}
		*arr = p;
	}
	p = (char *)*arr + (size_t)*nr * size;
	memset(p, 0, size);
	(*nr)++;
	return p;
}

#define GROW(arr, nr, max, what) grow((void **)&(arr), &(nr), sizeof(*(arr)), max, what)

struct image_thread *image_new_thread(struct image *img)
{
	return GROW(img->threads, img->nr_threads, IMAGE_MAX_THREADS, "threads");
}

/*
 * Index fields start at -1 ("none"), not 0: index 0 is a real file, and a
 * forgotten assignment must not silently point an anonymous VMA or a pipe at it.
 */
struct image_vma *image_new_vma(struct image *img)
{
	struct image_vma *v = GROW(img->vmas, img->nr_vmas, IMAGE_MAX_VMAS, "VMAs");

	if (v)
		v->file = v->shmem = -1;
	return v;
}

struct image_guard *image_new_guard(struct image *img)
{
	return GROW(img->guards, img->nr_guards, IMAGE_MAX_VMAS, "guard regions");
}

struct image_fd *image_new_fd(struct image *img)
{
	struct image_fd *f = GROW(img->fds, img->nr_fds, IMAGE_MAX_FDS, "fds");

	if (f)
		f->file = -1;
	return f;
}

struct image_shmem *image_new_shmem(struct image *img)
{
	return GROW(img->shmems, img->nr_shmems, IMAGE_MAX_SHMEMS, "shmem objects");
}

struct image *image_alloc_empty(void)
{
	return image_alloc();
}

bool image_file_is_output(const struct image *img, int32_t idx)
{
	bool written = false;
	uint32_t i;

	if (img->proc.exe == idx)
		return false;
	for (i = 0; i < img->nr_vmas; i++)
		if (img->vmas[i].file == idx)
			return false;
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if (f->kind != IMAGE_FD_FILE || f->file != idx)
			continue;
		if ((f->flags & O_ACCMODE) != O_WRONLY)
			return false;
		written = true;
	}
	return written;
}

bool image_file_is_shm_object(const struct image *img, const struct image_file *f)
{
	uint32_t i;

	for (i = 0; i < img->nr_shmems; i++)
		if (img->shmems[i].path && img->shmems[i].ino == f->ino &&
		    !strcmp(img->shmems[i].path, f->path))
			return true;
	return false;
}

struct image *image_alloc_fingerprint(void)
{
	struct image *img = image_alloc();

	if (img)
		img->keeps_no_bytes = true;
	return img;
}

bool image_takes_pages(const struct image *img)
{
	return !img->keeps_no_bytes;
}

struct image_child *image_new_child(struct image *img)
{
	return GROW(img->children, img->nr_children, IMAGE_MAX_CHILDREN, "child processes");
}

struct image_lock *image_new_lock(struct image *img)
{
	return GROW(img->locks, img->nr_locks, IMAGE_MAX_LOCKS, "file locks");
}

struct image_fd_owner *image_new_fd_owner(struct image *img)
{
	return GROW(img->fd_owners, img->nr_fd_owners, IMAGE_MAX_FDS, "fd owners");
}

struct image_seccomp_filter *image_new_seccomp_filter(struct image *img)
{
	return GROW(img->seccomp_filters, img->nr_seccomp_filters, IMAGE_MAX_SECCOMP_FILTERS,
		    "seccomp filters");
}

int image_file_index(struct image *img, const struct image_file *file)
{
	struct image_file *f;
	uint32_t i;

	if (!file->path || !file->path[0] || strnlen(file->path, IMAGE_MAX_PATH) >= IMAGE_MAX_PATH) {
		log_error("file path empty or longer than %d bytes", IMAGE_MAX_PATH - 1);
		return -EINVAL;
	}
	for (i = 0; i < img->nr_files; i++) {
		f = &img->files[i];
		if (f->dev == file->dev && f->ino == file->ino && !strcmp(f->path, file->path))
			return (int)i;
	}
	f = GROW(img->files, img->nr_files, IMAGE_MAX_FILES, "files");
	if (!f)
		return -ENOMEM;
	*f = *file;
	f->path = strdup(file->path);
	if (!f->path) {
		img->nr_files--;
		log_error("out of memory");
		return -ENOMEM;
	}
	return (int)(img->nr_files - 1);
}

void image_fd_release(struct image_fd *f)
{
	if (f->kind == IMAGE_FD_EPOLL) {
		free(f->epoll.watches);
		f->epoll.watches = NULL;
		f->epoll.nr_watches = 0;
	} else if (f->kind == IMAGE_FD_SOCKET) {
		image_record_release(&image_sock_attrs_record, &f->sock.attrs);
	}
}

void image_close_flight(struct image *img)
{
	uint32_t i;

	for (i = 0; i < img->nr_flight_fds; i++)
		if (img->flight_fds[i] >= 0)
			close(img->flight_fds[i]);
	free(img->flight_fds);
	img->flight_fds = NULL;
	img->nr_flight_fds = 0;
}

void image_free(struct image *img)
{
	uint32_t i;

	if (!img)
		return;
	close_fd(&img->dir_fd);
	close_fd(&img->pages_fd);
	close_fd(&img->data_fd);
	image_close_flight(img);
	for (i = 0; i < img->nr_kept; i++)
		free(img->kept[i].data);
	free(img->kept);
	/* first: records live in fds and threads too */
	image_sections_release(img);
	for (i = 0; i < img->nr_vmas; i++)
		free(img->vmas[i].name);
	for (i = 0; i < img->nr_fds; i++)
		image_fd_release(&img->fds[i]);
	for (i = 0; i < img->nr_shmems; i++) {
		free(img->shmems[i].name);
		free(img->shmems[i].path);
		free(img->shmems[i].extents);
	}
	free(img->proc.cwd);
	free(img->threads);
	free(img->vmas);
	free(img->guards);
	free(img->fds);
	free(img->shmems);
	free(img->runs);
	image_workset_release(&img->workset);
	free(img->path);
	free(img->tmp_path);
	image_hash_end(img);
	free(img);
}

/* ---- writing ---- */

static int open_new(struct image *img, const char *name)
{
	int fd = openat(img->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return log_errno("snapshot %s: cannot create %s", img->tmp_path, name);
	return fd;
}

/* DIR.tmp-XXXXXX left by dumps into DIR that were killed: never one still being written. */
static void sweep_stale(const char *dir)
{
	char parent[PATH_MAX], prefix[NAME_MAX + 1];
	const char *base = strrchr(dir, '/');
	int n;

	if (!base) {
		strcpy(parent, ".");
		base = dir;
	} else {
		snprintf(parent, sizeof(parent), "%.*s", base == dir ? 1 : (int)(base - dir), dir);
		base++;
	}
	if (!*base || snprintf(prefix, sizeof(prefix), "%s.tmp-", base) >= (int)sizeof(prefix))
		return;
	n = sweep_locked_dirs(parent, prefix, 1);
	if (n)
		log_info("snapshot %s: removed %d unfinished cop%s left by killed dumps", dir, n,
			 n == 1 ? "y" : "ies");
}

/* Appends to pages.img or data.img, hashing it: both only ever grow at their end. */
static int append(int fd, struct image_hash *sha, const void *buf, size_t len, uint64_t off)
{
	int err = io_pwrite_all(fd, buf, len, off);

	return err ? err : image_hash_append(sha, buf, len);
}

int image_create(const char *dir, struct image **ret_img)
{
	unsigned char header[IMAGE_PAGE_SIZE] = { 0 };
	struct image *img;
	struct stat st;
	int ret;

	*ret_img = NULL;
	if (!dir || !dir[0] || strlen(dir) > PATH_MAX - 16) {
		log_error("snapshot path empty or too long");
		return -EINVAL;
	}
	if (lstat(dir, &st) == 0) {
		log_error("snapshot %s: already exists", dir);
		return -EEXIST;
	}
	img = image_alloc();
	if (!img)
		return -ENOMEM;
	img->path = strdup(dir);
	if (!img->path || asprintf(&img->tmp_path, "%s.tmp-XXXXXX", dir) < 0) {
		img->tmp_path = NULL;
		log_error("out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	sweep_stale(dir);
	/* locked while we write it: a later dump removes it only once we are gone */
	ret = make_locked_dir(img->tmp_path, &img->dir_fd);
	if (ret < 0) {
		/* a missing parent is the user's to fix: the temporary name would only confuse */
		if (ret == -ENOENT || ret == -ENOTDIR)
			log_error("snapshot %s: cannot create it: %s", dir, strerror(-ret));
		else
			log_error("snapshot %s: cannot create %s: %s", dir, img->tmp_path,
				  strerror(-ret));
		free(img->tmp_path);
		img->tmp_path = NULL; /* nothing to remove */
		goto fail;
	}
	img->pages_fd = ret = open_new(img, "pages.img");
	if (ret < 0)
		goto fail;
	img->data_fd = ret = open_new(img, "data.img");
	if (ret < 0)
		goto fail;
	ret = image_hash_begin(img);
	if (ret)
		goto fail;
	image_put_header(header, IMAGE_PAGES_MAGIC, img->parts.id);
	ret = append(img->pages_fd, img->pages_hash, header, sizeof(header), 0);
	if (ret) {
		log_error("snapshot %s: pages.img: %s", img->tmp_path, strerror(-ret));
		goto fail;
	}
	memset(header, 0, IMAGE_DATA_HEADER_SIZE);
	image_put_header(header, IMAGE_DATA_MAGIC, img->parts.id);
	ret = append(img->data_fd, img->data_hash, header, IMAGE_DATA_HEADER_SIZE, 0);
	if (ret) {
		log_error("snapshot %s: data.img: %s", img->tmp_path, strerror(-ret));
		goto fail;
	}
	img->data_bytes = IMAGE_DATA_HEADER_SIZE;
	*ret_img = img;
	return 0;
fail:
	image_abort(img);
	return ret;
}

int image_add_blob(struct image *img, const void *data, size_t len, struct image_blob *ret)
{
	int err;

	memset(ret, 0, sizeof(*ret));
	if (!len)
		return 0;
	if (img->keeps_no_bytes) {
		*ret = (struct image_blob){ img->data_bytes, len, crc32c(data, len) };
		img->data_bytes += len;
		return 0;
	}
	err = append(img->data_fd, img->data_hash, data, len, img->data_bytes);
	if (err) {
		log_error("snapshot %s: data.img: writing %zu bytes at %" PRIu64 ": %s",
			  img->tmp_path, len, img->data_bytes, strerror(-err));
		return err;
	}
	ret->off = img->data_bytes;
	ret->len = len;
	ret->crc = crc32c(data, len);
	img->data_bytes += len;
	return 0;
}

static struct image_page_run *new_run(struct image *img)
{
	size_t cap = image_array_capacity(img->nr_runs);
	struct image_page_run *p;

	if (img->nr_runs >= IMAGE_ADDR_LIMIT / IMAGE_PAGE_SIZE) {
		log_error("too many page runs");
		return NULL;
	}
	if (img->nr_runs == cap) {
		size_t new_cap = cap ? cap * 2 : 16;

		p = realloc(img->runs, new_cap * sizeof(*p));
		if (!p) {
			log_error("out of memory for %zu page runs", new_cap);
			return NULL;
		}
		img->runs = p;
	}
	p = &img->runs[img->nr_runs++];
	memset(p, 0, sizeof(*p));
	return p;
}

static const struct image_vma *vma_of(const struct image *img, uint64_t addr)
{
	uint32_t lo = 0, hi = img->nr_vmas;

	/* VMAs are added in address order while dumping */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (addr < img->vmas[mid].start)
			hi = mid;
		else if (addr >= img->vmas[mid].end)
			lo = mid + 1;
		else
			return &img->vmas[mid];
	}
	return NULL;
}

/*
 * A new chunk may extend the last run when it continues it in memory and in
 * pages.img, and both lie in the same known VMA: readers require every run
 * to be inside a single VMA.
 */
static bool can_extend(const struct image *img, const struct image_page_run *last, uint64_t vaddr,
		       uint32_t flags, uint64_t off)
{
	uint64_t last_end = last->vaddr + (uint64_t)last->npages * IMAGE_PAGE_SIZE;
	const struct image_vma *v;

	if (last->flags != flags || last_end != vaddr || last->npages >= IMAGE_MAX_RUN_PAGES)
		return false;
	if (!(flags & IMAGE_RUN_ZERO) && last->off + (uint64_t)last->npages * IMAGE_PAGE_SIZE != off)
		return false;
	v = vma_of(img, last->vaddr);
	return v && vaddr < v->end;
}

/* Checks a page run before it is added; logs what is wrong with it. */
static int check_run(const struct image *img, uint64_t vaddr, bool has_data, uint32_t npages,
		     uint32_t flags)
{
	uint64_t bytes = (uint64_t)npages * IMAGE_PAGE_SIZE;

	if (img->keeps_no_bytes) {
		log_error("page data added to an image that keeps no bytes");
		return -EINVAL;
	}
	if ((vaddr & (IMAGE_PAGE_SIZE - 1)) || vaddr >= IMAGE_ADDR_LIMIT ||
	    bytes > IMAGE_ADDR_LIMIT - vaddr || (flags & ~(IMAGE_RUN_ZERO | IMAGE_RUN_INHERITED)) ||
	    (flags == (IMAGE_RUN_ZERO | IMAGE_RUN_INHERITED)) ||
	    (!(flags & IMAGE_RUN_ZERO) && !has_data)) {
		log_error("snapshot %s: bad page run: vaddr 0x%" PRIx64 ", %u pages, flags 0x%x",
			  img->tmp_path, vaddr, npages, flags);
		return -EINVAL;
	}
	return 0;
}

/*
 * Records npages at vaddr whose bytes lie at off in pages.img (none for a
 * zero run), extending the last run where it can.  Each run's crc is taken
 * from the bytes (data) or chained from their page words (words).
 */
static int record_runs(struct image *img, uint64_t vaddr, uint32_t npages, uint32_t flags,
		       uint64_t off, const unsigned char *data, const uint32_t *words)
{
	bool is_zero = flags & IMAGE_RUN_ZERO;

	while (npages) {
		struct image_page_run *run = img->nr_runs ? &img->runs[img->nr_runs - 1] : NULL;
		uint32_t n;

		if (run && can_extend(img, run, vaddr, flags, off)) {
			n = IMAGE_MAX_RUN_PAGES - run->npages;
		} else {
			run = new_run(img);
			if (!run)
				return -ENOMEM;
			run->vaddr = vaddr;
			run->off = is_zero ? 0 : off;
			run->flags = flags;
			n = IMAGE_MAX_RUN_PAGES;
		}
		if (n > npages)
			n = npages;
		if (!is_zero && data) {
			run->crc = crc32c_pages(run->crc, data, (size_t)n * IMAGE_PAGE_SIZE);
			data += (size_t)n * IMAGE_PAGE_SIZE;
		} else if (!is_zero) {
			run->crc = crc32c_update(run->crc, words, (size_t)n * sizeof(*words));
			words += n;
		}
		if (!is_zero)
			off += (uint64_t)n * IMAGE_PAGE_SIZE;
		run->npages += n;
		vaddr += (uint64_t)n * IMAGE_PAGE_SIZE;
		npages -= n;
	}
	return 0;
}

int image_add_pages(struct image *img, uint64_t vaddr, const void *data, uint32_t npages,
		    uint32_t flags)
{
	uint64_t bytes = (uint64_t)npages * IMAGE_PAGE_SIZE;
	uint64_t off = IMAGE_PAGE_SIZE + img->pages_bytes;
	int err;

	if (!npages)
		return 0;
	err = check_run(img, vaddr, data != NULL, npages, flags);
	if (err)
		return err;
	if (!(flags & IMAGE_RUN_ZERO)) {
		err = append(img->pages_fd, img->pages_hash, data, bytes, off);
		if (err) {
			log_error("snapshot %s: pages.img: writing %" PRIu64 " bytes for 0x%" PRIx64
				  ": %s",
				  img->tmp_path, bytes, vaddr, strerror(-err));
			return err;
		}
		img->pages_bytes += bytes;
	}
	return record_runs(img, vaddr, npages, flags, off, data, NULL);
}

int image_reserve_pages(struct image *img, uint64_t vaddr, uint32_t npages, uint32_t flags,
			const uint32_t *words, uint64_t *ret_off)
{
	uint64_t off = IMAGE_PAGE_SIZE + img->pages_bytes;
	int err;

	*ret_off = off;
	if (!npages)
		return 0;
	err = check_run(img, vaddr, words != NULL, npages, flags);
	if (err)
		return err;
	img->pages_bytes += (uint64_t)npages * IMAGE_PAGE_SIZE;
	return record_runs(img, vaddr, npages, flags, off, NULL, words);
}

int image_pages_fd(const struct image *img)
{
	return img->pages_fd;
}

int image_pages_written(struct image *img, uint64_t bytes)
{
	return image_hash_append(img->pages_hash, NULL, bytes);
}

static int cmp_runs(const void *a, const void *b)
{
	const struct image_page_run *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* Writes a whole small file in the unpublished directory and fsyncs it. */
static int write_file(struct image *img, const char *name, const void *data, size_t len)
{
	int fd, ret;

	fd = open_new(img, name);
	if (fd < 0)
		return fd;
	ret = io_pwrite_all(fd, data, len, 0);
	if (ret)
		log_error("snapshot %s: writing %s: %s", img->tmp_path, name, strerror(-ret));
	else if (fsync(fd))
		ret = log_errno("snapshot %s: fsync %s", img->tmp_path, name);
	close(fd);
	return ret;
}

unsigned char *image_index_encode(const struct image *img, size_t *ret_size)
{
	size_t size = IMAGE_IDX_HEADER_SIZE + (size_t)img->nr_runs * IMAGE_IDX_ENTRY_SIZE;
	unsigned char *buf = calloc(1, size), *e;
	uint64_t i;

	if (!buf) {
		log_error("out of memory for a %zu-byte page index", size);
		return NULL;
	}
	for (i = 0; i < img->nr_runs; i++) {
		const struct image_page_run *r = &img->runs[i];

		e = buf + IMAGE_IDX_HEADER_SIZE + i * IMAGE_IDX_ENTRY_SIZE;
		image_put_le64(e, r->vaddr);
		image_put_le64(e + 8, r->off);
		image_put_le32(e + 16, r->npages);
		image_put_le32(e + 20, r->flags);
		image_put_le32(e + 24, r->crc);
	}
	memcpy(buf, IMAGE_IDX_MAGIC, 8);
	image_put_le32(buf + 8, IMAGE_FORMAT_VERSION);
	image_put_le64(buf + 16, img->nr_runs);
	memcpy(buf + IMAGE_IDX_ID_OFF, img->parts.id, IMAGE_ID_SIZE);
	image_put_le32(buf + 40, crc32c(buf + IMAGE_IDX_HEADER_SIZE, size - IMAGE_IDX_HEADER_SIZE));
	image_put_le32(buf + 44, crc32c(buf, 44));
	*ret_size = size;
	return buf;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return log_errno("cannot open %s", path);
	if (fsync(fd))
		ret = log_errno("fsync %s", path);
	close(fd);
	return ret;
}

int image_publish(struct image *img)
{
	char err[ERRLEN], crc_text[16], *json, *parent, *slash;
	unsigned char *idx;
	size_t idx_size;
	int ret;

	if (!img->tmp_path) {
		log_error("snapshot %s: not open for writing", img->path ? img->path : "?");
		return -EINVAL;
	}
	qsort(img->runs, img->nr_runs, sizeof(*img->runs), cmp_runs);
	/* never publish what image_read() would refuse */
	if (image_validate(img, err, sizeof(err)) ||
	    image_validate_blobs(img, img->data_bytes, err, sizeof(err)) ||
	    image_validate_runs(img, IMAGE_PAGE_SIZE + img->pages_bytes, err, sizeof(err))) {
		log_error("snapshot %s: refusing to publish an invalid image: %s", img->path, err);
		return -EINVAL;
	}
	idx = image_index_encode(img, &idx_size);
	if (!idx)
		return -ENOMEM;
	/* the manifest records the size and SHA-256 of every other file */
	ret = image_bind(img, idx, idx_size);
	if (!ret)
		ret = write_file(img, "pages.idx", idx, idx_size);
	free(idx);
	if (ret)
		return ret;
	json = image_manifest_to_json(img, 0);
	if (!json) {
		log_error("snapshot %s: cannot encode manifest.json (out of memory)", img->path);
		return -ENOMEM;
	}
	ret = write_file(img, "manifest.json", json, strlen(json));
	if (!ret) {
		snprintf(crc_text, sizeof(crc_text), "%08x\n", crc32c(json, strlen(json)));
		ret = write_file(img, "manifest.crc", crc_text, strlen(crc_text));
	}
	free(json);
	if (ret)
		return ret;
	if (fsync(img->pages_fd) || fsync(img->data_fd) || fsync(img->dir_fd))
		return log_errno("snapshot %s: fsync", img->tmp_path);
	/* RENAME_NOREPLACE: a DIR that appeared meanwhile is someone else's, never replaced */
	if (renameat2(AT_FDCWD, img->tmp_path, AT_FDCWD, img->path, RENAME_NOREPLACE))
		return log_errno("snapshot %s: cannot publish %s", img->path, img->tmp_path);
	free(img->tmp_path);
	img->tmp_path = NULL;

	parent = strdup(img->path);
	if (!parent) {
		log_error("out of memory");
		return -ENOMEM;
	}
	while ((slash = strrchr(parent, '/')) && slash != parent && !slash[1])
		*slash = '\0'; /* "a/b/" names b */
	slash = strrchr(parent, '/');
	if (!slash)
		strcpy(parent, ".");
	else
		slash[slash == parent] = '\0';
	ret = fsync_path(parent);
	free(parent);
	return ret;
}

static void remove_tmp(struct image *img)
{
	/* a tree's snapshot holds the other processes' directories, published or not */
	int ret = rm_tree(AT_FDCWD, img->tmp_path, 1);

	if (ret && ret != -ENOENT)
		log_warn("snapshot %s: cannot remove %s: %s", img->path, img->tmp_path,
			 strerror(-ret));
}

void image_abort(struct image *img)
{
	if (!img)
		return;
	close_fd(&img->pages_fd);
	close_fd(&img->data_fd);
	close_fd(&img->dir_fd);
	if (img->tmp_path)
		remove_tmp(img);
	image_free(img);
}

/* ---- reading ---- */

/*
 * Every file of a snapshot is opened relative to the directory checked by
 * image_read(): no link followed, no blocking on a FIFO, regular files
 * only, and nobody but root or the caller can have written it (base/trust.h).
 */
static int open_in(struct image *img, const char *name, struct stat *st)
{
	char what[PATH_MAX + 16];
	int fd;

	snprintf(what, sizeof(what), "snapshot %s", img->path);
	fd = trust_openat_file(what, img->dir_fd, name, st);
	if (fd == -ENOENT) {
		log_error("snapshot %s: %s: No such file (a missing part)", img->path, name);
		return -EINVAL; /* a missing part is a corrupt snapshot */
	}
	return fd;
}

static int read_manifest(struct image *img, char **ret_text, size_t *ret_len)
{
	char crc_text[32] = { 0 }, *text = NULL;
	struct stat st;
	uint32_t want;
	size_t len;
	int fd, ret;

	if (faccessat(img->dir_fd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) && errno == ENOENT) {
		log_error("no manifest.json: %s is not a snapshot", img->path);
		return -ENOENT;
	}
	fd = open_in(img, "manifest.json", &st);
	if (fd < 0)
		return fd;
	if (st.st_size <= 0 || (uint64_t)st.st_size > IMAGE_MAX_MANIFEST) {
		log_error("snapshot %s: manifest.json: size %lld is not 1..%u bytes", img->path,
			  (long long)st.st_size, IMAGE_MAX_MANIFEST);
		ret = -EINVAL;
		goto out;
	}
	len = (size_t)st.st_size;
	text = malloc(len + 1);
	if (!text) {
		log_error("out of memory for manifest.json");
		ret = -ENOMEM;
		goto out;
	}
	ret = io_pread_all(fd, text, len, 0);
	if (ret) {
		log_error("snapshot %s: reading manifest.json: %s", img->path, strerror(-ret));
		goto out;
	}
	text[len] = '\0';
	close(fd);
	fd = open_in(img, "manifest.crc", &st);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	if (st.st_size != 9 || io_pread_all(fd, crc_text, 9, 0) || crc_text[8] != '\n' ||
	    strspn(crc_text, "0123456789abcdefABCDEF") != 8) {
		log_error("snapshot %s: manifest.crc: not 8 hex digits and a newline", img->path);
		ret = -EINVAL;
		goto out;
	}
	want = (uint32_t)strtoul(crc_text, NULL, 16);
	if (crc32c(text, len) != want) {
		log_error("snapshot %s: manifest.json: crc 0x%08x does not match manifest.crc "
			  "(0x%08x): the manifest is damaged",
			  img->path, crc32c(text, len), want);
		ret = -EINVAL;
		goto out;
	}
	*ret_text = text;
	*ret_len = len;
	text = NULL;
out:
	free(text);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Entries of pages.idx: their crc, zero padding, and the whole file's SHA-256 against the manifest. */
static int check_index_bytes(struct image *img, const unsigned char *header,
			     const unsigned char *entries, size_t size)
{
	uint8_t sha[IMAGE_SHA256_SIZE];
	uint64_t i;

	if (crc32c(entries, size) != image_get_le32(header + 40)) {
		log_error("snapshot %s: pages.idx: entries crc mismatch: the index is damaged",
			  img->path);
		return -EINVAL;
	}
	for (i = 0; i < size / IMAGE_IDX_ENTRY_SIZE; i++)
		if (image_get_le32(entries + i * IMAGE_IDX_ENTRY_SIZE + 28)) {
			log_error("snapshot %s: pages.idx: run %" PRIu64 ": padding is not zero",
				  img->path, i);
			return -EINVAL;
		}
	if (image_sha256_parts(header, IMAGE_IDX_HEADER_SIZE, entries, size, sha)) {
		log_error("snapshot %s: pages.idx: SHA-256 failed", img->path);
		return -EINVAL;
	}
	/* an edited index with its crcs recomputed still fails here */
	return image_check_part(img, "pages.idx", IMAGE_IDX_HEADER_SIZE + size, sha);
}

int image_index_decode(struct image *img, const unsigned char *idx, size_t len,
		       uint64_t pages_size)
{
	const unsigned char *header = idx, *buf = idx + IMAGE_IDX_HEADER_SIZE;
	uint64_t nr, manifest_runs = img->nr_runs, i;
	char err[ERRLEN];
	size_t size;
	int ret;

	img->nr_runs = 0;
	if (len < IMAGE_IDX_HEADER_SIZE) {
		log_error("snapshot %s: pages.idx: truncated header (%zu bytes)", img->path, len);
		return -EINVAL;
	}
	if (memcmp(header, IMAGE_IDX_MAGIC, 8)) {
		log_error("snapshot %s: pages.idx: bad magic", img->path);
		return -EINVAL;
	}
	if (crc32c(header, 44) != image_get_le32(header + 44)) {
		log_error("snapshot %s: pages.idx: header crc mismatch", img->path);
		return -EINVAL;
	}
	if (image_get_le32(header + 8) != IMAGE_FORMAT_VERSION) {
		log_error("snapshot %s: pages.idx: format version %u, but this thaw reads version %d",
			  img->path, image_get_le32(header + 8), IMAGE_FORMAT_VERSION);
		return -EINVAL;
	}
	if (image_get_le32(header + 12)) {
		log_error("snapshot %s: pages.idx: reserved header bytes are not zero", img->path);
		return -EINVAL;
	}
	if (memcmp(header + IMAGE_IDX_ID_OFF, img->parts.id, IMAGE_ID_SIZE)) {
		log_error("snapshot %s: pages.idx belongs to another snapshot (its id is not the "
			  "manifest's)",
			  img->path);
		return -EINVAL;
	}
	nr = image_get_le64(header + 16);
	size = len - IMAGE_IDX_HEADER_SIZE;
	if (nr > size / IMAGE_IDX_ENTRY_SIZE || size != nr * IMAGE_IDX_ENTRY_SIZE) {
		log_error("snapshot %s: pages.idx: %" PRIu64 " runs do not match the file size %zu "
			  "(truncated?)",
			  img->path, nr, len);
		return -EINVAL;
	}
	if (nr != manifest_runs) {
		log_error("snapshot %s: pages.idx holds %" PRIu64 " runs, manifest.json says %" PRIu64,
			  img->path, nr, manifest_runs);
		return -EINVAL;
	}
	ret = check_index_bytes(img, header, buf, size);
	if (ret)
		return ret;
	free(img->runs);
	img->runs = calloc(image_array_capacity(nr) ? image_array_capacity(nr) : 1,
			   sizeof(*img->runs));
	if (!img->runs) {
		log_error("out of memory for %" PRIu64 " page runs", nr);
		return -ENOMEM;
	}
	for (i = 0; i < nr; i++) {
		const unsigned char *e = buf + i * IMAGE_IDX_ENTRY_SIZE;

		img->runs[i].vaddr = image_get_le64(e);
		img->runs[i].off = image_get_le64(e + 8);
		img->runs[i].npages = image_get_le32(e + 16);
		img->runs[i].flags = image_get_le32(e + 20);
		img->runs[i].crc = image_get_le32(e + 24);
	}
	img->nr_runs = nr;
	if (image_validate_runs(img, pages_size, err, sizeof(err))) {
		log_error("snapshot %s: pages.idx: %s", img->path, err);
		img->nr_runs = 0;
		return -EINVAL;
	}
	return 0;
}

/* pages.idx, no bigger than the manifest's runs take, read whole and decoded. */
static int read_index(struct image *img, uint64_t pages_size)
{
	/* the manifest bounds its runs by the address space: no overflow */
	uint64_t most = IMAGE_IDX_HEADER_SIZE + img->nr_runs * IMAGE_IDX_ENTRY_SIZE;
	unsigned char *buf = NULL;
	struct stat st;
	size_t len;
	int fd, ret;

	fd = open_in(img, "pages.idx", &st);
	if (fd < 0)
		return fd;
	ret = -EINVAL;
	if ((uint64_t)st.st_size > most) {
		log_error("snapshot %s: pages.idx: %lld bytes, more than the %" PRIu64 " runs of "
			  "manifest.json take (%" PRIu64 ")",
			  img->path, (long long)st.st_size, img->nr_runs, most);
		goto out;
	}
	len = (size_t)st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf) {
		log_error("out of memory for a %zu-byte page index", len);
		ret = -ENOMEM;
		goto out;
	}
	if (io_pread_all(fd, buf, len, 0)) {
		log_error("snapshot %s: pages.idx: short read", img->path);
		goto out;
	}
	ret = image_index_decode(img, buf, len, pages_size);
out:
	if (ret)
		img->nr_runs = 0;
	free(buf);
	close(fd);
	return ret;
}

/*
 * pages.img or data.img: exactly the size the manifest records, and a header
 * of this snapshot (header_len bytes: the rest of pages.img's header page
 * must be zero too).  The fd goes to *ret_fd either way, for image_free().
 */
static int open_bulk(struct image *img, const char *name, const char *magic, size_t header_len,
		     int *ret_fd, uint64_t *ret_size)
{
	unsigned char *header;
	struct stat st;
	int ret;

	*ret_fd = open_in(img, name, &st);
	if (*ret_fd < 0) {
		ret = *ret_fd;
		*ret_fd = -1;
		return ret;
	}
	*ret_size = (uint64_t)st.st_size;
	if (image_check_part(img, name, *ret_size, NULL))
		return -EINVAL;
	header = malloc(header_len);
	if (!header) {
		log_error("out of memory");
		return -ENOMEM;
	}
	if (*ret_size < header_len || io_pread_all(*ret_fd, header, header_len, 0)) {
		log_error("snapshot %s: %s: missing or short header", img->path, name);
		ret = -EINVAL;
	} else {
		ret = image_check_header(img, name, header, header_len, magic);
	}
	free(header);
	return ret;
}

static int check_pages_img(struct image *img, uint64_t *ret_size)
{
	int ret = open_bulk(img, "pages.img", IMAGE_PAGES_MAGIC, IMAGE_PAGE_SIZE, &img->pages_fd,
			    ret_size);

	if (ret)
		return ret;
	if (img->pages_bytes != *ret_size - IMAGE_PAGE_SIZE) {
		log_error("snapshot %s: pages.img: the manifest says %" PRIu64 " bytes of pages, the "
			  "file holds %" PRIu64,
			  img->path, img->pages_bytes, *ret_size - IMAGE_PAGE_SIZE);
		return -EINVAL;
	}
	return 0;
}

int image_read_at(int dir_fd, const char *dir, struct image **ret_img)
{
	struct image *img = NULL;
	char err[ERRLEN], *text = NULL, *path = NULL;
	uint64_t pages_size = 0;
	size_t len = 0;
	int ret;

	*ret_img = NULL;
	path = strdup(dir);
	img = image_alloc();
	if (!path || !img) {
		log_error("out of memory");
		close(dir_fd);
		free(path);
		image_free(img);
		return -ENOMEM;
	}
	img->dir_fd = dir_fd;
	img->path = path;
	ret = read_manifest(img, &text, &len);
	if (ret)
		goto fail;
	/* from_json resets the struct: keep the handles aside */
	img->dir_fd = -1;
	img->path = NULL;
	ret = image_manifest_from_json(img, text, len, err, sizeof(err));
	img->dir_fd = dir_fd;
	img->path = path;
	if (ret) {
		log_error("snapshot %s: manifest.json: %s", dir, err);
		goto fail;
	}
	/* a tree's root binds this manifest by its digest (image_read_child) */
	ret = image_sha256(text, len, img->manifest_sha256);
	img->manifest_size = len;
	if (!ret)
		ret = image_check_bound(img);
	if (!ret)
		ret = open_bulk(img, "data.img", IMAGE_DATA_MAGIC, IMAGE_DATA_HEADER_SIZE,
			       &img->data_fd, &img->data_bytes);
	if (ret)
		goto fail;
	ret = image_validate_blobs(img, img->data_bytes, err, sizeof(err));
	if (ret) {
		log_error("snapshot %s: manifest.json: %s", dir, err);
		goto fail;
	}
	ret = check_pages_img(img, &pages_size);
	if (ret)
		goto fail;
	ret = read_index(img, pages_size);
	if (ret)
		goto fail;
	image_workset_read(img);
	free(text);
	*ret_img = img;
	return 0;
fail:
	free(text);
	image_free(img);
	return ret;
}

int image_read(const char *dir, struct image **ret_img)
{
	char what[PATH_MAX + 16];
	int dir_fd, ret;

	*ret_img = NULL;
	if (snprintf(what, sizeof(what), "snapshot %s", dir) >= (int)sizeof(what)) {
		log_error("snapshot path too long");
		return -ENAMETOOLONG;
	}
	/* root will run what the snapshot says: only root (or the caller) may have written it */
	ret = trust_open_dir(what, dir, &dir_fd);
	if (ret == -ENOENT)
		log_error("snapshot %s: no such directory", dir);
	else if (ret == -ENOTDIR)
		log_error("%s is not a snapshot (not a directory)", dir);
	if (ret)
		return ret;
	return image_read_at(dir_fd, dir, ret_img);
}

int image_add_blob_kept(struct image *img, const void *data, size_t len, struct image_blob *ret)
{
	struct image_kept_blob *k;
	int err = image_add_blob(img, data, len, ret);

	if (err || !len || !img->keeps_no_bytes)
		return err;
	k = GROW(img->kept, img->nr_kept, IMAGE_MAX_FDS, "kept blobs");
	if (!k)
		return -ENOMEM;
	k->off = ret->off;
	k->data = malloc(len);
	if (!k->data) {
		img->nr_kept--;
		return -ENOMEM;
	}
	memcpy(k->data, data, len);
	return 0;
}

/* A blob of an image that keeps no bytes: only a kept one has its bytes. */
static int read_kept_blob(const struct image *img, const struct image_blob *blob, void **ret)
{
	uint32_t i;

	for (i = 0; blob->len && i < img->nr_kept; i++)
		if (img->kept[i].off == blob->off) {
			*ret = malloc(blob->len ? (size_t)blob->len : 1);
			if (!*ret)
				return -ENOMEM;
			memcpy(*ret, img->kept[i].data, (size_t)blob->len);
			return 0;
		}
	if (!blob->len) {
		*ret = malloc(1);
		return *ret ? 0 : -ENOMEM;
	}
	log_error("a fingerprint image has no bytes of its blob at %" PRIu64, blob->off);
	return -EINVAL;
}

int image_read_blob(const struct image *img, const struct image_blob *blob, void **ret_data)
{
	void *buf;
	int ret;

	*ret_data = NULL;
	if (img->keeps_no_bytes)
		return read_kept_blob(img, blob, ret_data);
	if (blob->off > img->data_bytes || blob->len > img->data_bytes - blob->off ||
	    blob->len > SIZE_MAX - 1) {
		log_error("snapshot %s: data.img: blob at offset %" PRIu64 " (%" PRIu64 " bytes) "
			  "extends past the end (size %" PRIu64 ")",
			  img->path, blob->off, blob->len, img->data_bytes);
		return -EINVAL;
	}
	buf = malloc(blob->len ? (size_t)blob->len : 1);
	if (!buf) {
		log_error("out of memory for a %" PRIu64 "-byte blob", blob->len);
		return -ENOMEM;
	}
	ret = io_pread_all(img->data_fd, buf, (size_t)blob->len, blob->off);
	if (ret) {
		log_error("snapshot %s: data.img: reading blob at offset %" PRIu64 ": %s", img->path,
			  blob->off, strerror(-ret));
		free(buf);
		return ret == -EIO ? -EINVAL : ret;
	}
	if (crc32c(buf, (size_t)blob->len) != blob->crc) {
		log_error("snapshot %s: data.img: blob at offset %" PRIu64 " (%" PRIu64 " bytes): crc "
			  "mismatch: the data is damaged",
			  img->path, blob->off, blob->len);
		free(buf);
		return -EINVAL;
	}
	*ret_data = buf;
	return 0;
}
