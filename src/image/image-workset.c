/*
 * image-workset.c - workset.idx, the working set of a snapshot: the page
 * ranges a start of the program touched, in the order it touched them
 * (docs/lazy-restore.md, "Working set").
 *
 * The first lazy restore of a snapshot records it (engine/lazy.c); later
 * lazy restores copy those pages first, right after the program is
 * released, and the rest behind them.  The record is a part of the
 * snapshot like pages.idx: it repeats the snapshot's id and the root's
 * manifest records its size and SHA-256 ("parts").  It is written after the
 * snapshot was published, so adding it rewrites the manifest: the snapshot
 * directory is mirrored with hard links (the big files are not copied), the
 * new record and manifest are written into the mirror, and one
 * RENAME_EXCHANGE puts it in place; a reader sees the old snapshot or the
 * new one, never a manifest that does not bind its files.
 *
 * A record only orders the copies: every page still comes from pages.img
 * with its run's crc checked.  So a damaged record does not fail a restore:
 * image_read() says why in a warning and leaves it out (has_workset false,
 * workset_damaged true), and the next lazy restore records it again.
 */
#define LOG_TAG "image"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/dirs.h"
#include "base/io.h"
#include "base/log.h"
#include "base/trust.h"
#include "image/image-internal.h"

#define WS_MAGIC "THAWWSET"
#define WS_VERSION 1u
#define WS_HEADER_SIZE 48u
#define WS_ID_OFF 24u
#define WS_ENTRY_SIZE 16u
#define WS_PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT */

void image_workset_release(struct image_workset *ws)
{
	free(ws->entries);
	ws->entries = NULL;
	ws->nr = 0;
}

unsigned char *image_workset_encode(const struct image_workset *ws,
				    const uint8_t id[IMAGE_ID_SIZE], size_t *ret_size)
{
	size_t size = WS_HEADER_SIZE + (size_t)ws->nr * WS_ENTRY_SIZE;
	unsigned char *buf = calloc(1, size), *e;
	uint32_t i;

	if (!buf)
		return NULL;
	for (i = 0; i < ws->nr; i++) {
		e = buf + WS_HEADER_SIZE + (size_t)i * WS_ENTRY_SIZE;
		image_put_le64(e, ws->entries[i].vaddr);
		image_put_le32(e + 8, ws->entries[i].npages);
		image_put_le32(e + 12, (uint32_t)ws->entries[i].pid);
	}
	memcpy(buf, WS_MAGIC, 8);
	image_put_le32(buf + 8, WS_VERSION);
	image_put_le64(buf + 16, ws->nr);
	memcpy(buf + WS_ID_OFF, id, IMAGE_ID_SIZE);
	image_put_le32(buf + 40, crc32c(buf + WS_HEADER_SIZE, size - WS_HEADER_SIZE));
	image_put_le32(buf + 44, crc32c(buf, 44));
	*ret_size = size;
	return buf;
}

int image_workset_decode(const unsigned char *buf, size_t len, const uint8_t id[IMAGE_ID_SIZE],
			 struct image_workset *ws, char *err, size_t errlen)
{
	uint64_t nr, i;

	ws->nr = 0;
	ws->entries = NULL;
	if (len < WS_HEADER_SIZE) {
		snprintf(err, errlen, "truncated header (%zu bytes)", len);
		return -EINVAL;
	}
	if (memcmp(buf, WS_MAGIC, 8)) {
		snprintf(err, errlen, "bad magic");
		return -EINVAL;
	}
	if (crc32c(buf, 44) != image_get_le32(buf + 44)) {
		snprintf(err, errlen, "header crc mismatch");
		return -EINVAL;
	}
	if (image_get_le32(buf + 8) != WS_VERSION || image_get_le32(buf + 12)) {
		snprintf(err, errlen, "format version %u (this thaw reads %u) or reserved bytes set",
			 image_get_le32(buf + 8), WS_VERSION);
		return -EINVAL;
	}
	if (memcmp(buf + WS_ID_OFF, id, IMAGE_ID_SIZE)) {
		snprintf(err, errlen, "belongs to another snapshot (its id is not the manifest's)");
		return -EINVAL;
	}
	nr = image_get_le64(buf + 16);
	if (nr > IMAGE_MAX_WORKSET || len != WS_HEADER_SIZE + nr * WS_ENTRY_SIZE) {
		snprintf(err, errlen,
			 "%" PRIu64 " entries (at most %d) do not match the file size %zu", nr,
			 IMAGE_MAX_WORKSET, len);
		return -EINVAL;
	}
	if (crc32c(buf + WS_HEADER_SIZE, len - WS_HEADER_SIZE) != image_get_le32(buf + 40)) {
		snprintf(err, errlen, "entries crc mismatch");
		return -EINVAL;
	}
	ws->entries = calloc(nr ? nr : 1, sizeof(*ws->entries));
	if (!ws->entries) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < nr; i++) {
		const unsigned char *e = buf + WS_HEADER_SIZE + i * WS_ENTRY_SIZE;
		uint64_t vaddr = image_get_le64(e);
		uint32_t npages = image_get_le32(e + 8), pid = image_get_le32(e + 12);

		if (vaddr % IMAGE_PAGE_SIZE || vaddr >= IMAGE_ADDR_LIMIT || !npages ||
		    npages > IMAGE_MAX_RUN_PAGES ||
		    (uint64_t)npages * IMAGE_PAGE_SIZE > IMAGE_ADDR_LIMIT - vaddr || !pid ||
		    pid > WS_PID_MAX) {
			snprintf(err, errlen,
				 "entry %" PRIu64 " (pid %u, 0x%" PRIx64 ", %u pages) is no page "
				 "range of a process",
				 i, pid, vaddr, npages);
			image_workset_release(ws);
			return -EINVAL;
		}
		ws->entries[i] = (struct image_workset_entry){ vaddr, npages, (int32_t)pid };
	}
	ws->nr = (uint32_t)nr;
	return 0;
}

/* Whether pid is a live process of img's tree (its root or a child it records). */
static bool tree_has(const struct image *img, int32_t pid)
{
	uint32_t k;

	if (pid == img->proc.pid)
		return true;
	for (k = 0; k < img->nr_children; k++)
		if (img->children[k].pid == pid && !img->children[k].is_zombie)
			return true;
	return false;
}

/* Reads and checks workset.idx against its part; why it is refused goes to err. */
static int load(struct image *img, const struct image_part *p, char *err, size_t errlen)
{
	char what[PATH_MAX + 16];
	uint8_t sha[IMAGE_SHA256_SIZE];
	unsigned char *buf = NULL;
	struct stat st;
	uint32_t i;
	int fd, ret = -EINVAL;

	snprintf(what, sizeof(what), "snapshot %s", img->path);
	fd = trust_openat_file(what, img->dir_fd, IMAGE_WORKSET_FILE, &st);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(-fd));
		return fd;
	}
	if ((uint64_t)st.st_size != p->size ||
	    p->size > WS_HEADER_SIZE + (uint64_t)IMAGE_MAX_WORKSET * WS_ENTRY_SIZE) {
		snprintf(err, errlen, "%lld bytes, but the manifest says %" PRIu64,
			 (long long)st.st_size, p->size);
		goto out;
	}
	buf = malloc(p->size ? p->size : 1);
	if (!buf || io_pread_all(fd, buf, p->size, 0)) {
		snprintf(err, errlen, "%s", buf ? "short read" : "out of memory");
		goto out;
	}
	if (image_sha256(buf, p->size, sha) || memcmp(sha, p->sha256, IMAGE_SHA256_SIZE)) {
		snprintf(err, errlen, "its SHA-256 does not match the manifest's: damaged or edited");
		goto out;
	}
	ret = image_workset_decode(buf, p->size, img->parts.id, &img->workset, err, errlen);
	for (i = 0; ret == 0 && i < img->workset.nr; i++)
		if (!tree_has(img, img->workset.entries[i].pid)) {
			snprintf(err, errlen, "entry %u names pid %d, no live process of the tree", i,
				 img->workset.entries[i].pid);
			image_workset_release(&img->workset);
			ret = -EINVAL;
		}
out:
	free(buf);
	close(fd);
	return ret;
}

void image_workset_read(struct image *img)
{
	const struct image_part *p = image_find_part(img, IMAGE_WORKSET_FILE);
	char err[256];

	img->has_workset = false;
	img->workset_damaged = false;
	if (!p)
		return;
	if (load(img, p, err, sizeof(err)) == 0) {
		img->has_workset = true;
		return;
	}
	img->workset_damaged = true;
	log_warn("snapshot %s: %s: %s; it is left out (a lazy restore copies no working set "
		 "first, and records it again)",
		 img->path, IMAGE_WORKSET_FILE, err);
}

/* ---- adding the record to a published snapshot ---- */

/* Hard-links every file of directory from into to, but skip[]; proc-PID/ down to depth. */
static int link_files(int from, int to, const char *const *skip, size_t nr_skip, int depth)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	int ret = 0, sub_from, sub_to;
	size_t i;

	from = dup(from);
	if (from < 0)
		return -errno;
	d = fdopendir(from);
	if (!d) {
		close(from);
		return -errno;
	}
	while (ret == 0 && (de = readdir(d))) {
		bool skipped = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");

		for (i = 0; i < nr_skip && !skipped; i++)
			skipped = !strcmp(de->d_name, skip[i]);
		if (skipped || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISREG(st.st_mode)) {
			if (linkat(dirfd(d), de->d_name, to, de->d_name, 0))
				ret = -errno;
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			/* a tree's proc-PID/: its own files, linked as they are */
			if (mkdirat(to, de->d_name, 0700))
				ret = -errno;
			sub_from = openat(dirfd(d), de->d_name,
					  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			sub_to = openat(to, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (!ret && (sub_from < 0 || sub_to < 0))
				ret = -errno;
			if (!ret)
				ret = link_files(sub_from, sub_to, NULL, 0, depth - 1);
			if (!ret && fsync(sub_to))
				ret = -errno;
			if (sub_from >= 0)
				close(sub_from);
			if (sub_to >= 0)
				close(sub_to);
		}
	}
	closedir(d);
	return ret;
}

static int write_new(int dir_fd, const char *name, const void *data, size_t len)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), ret;

	if (fd < 0)
		return -errno;
	ret = io_pwrite_all(fd, data, len, 0);
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/* img->parts with workset.idx's record set to (size, sha), added if missing. */
static int set_part(struct image *img, uint64_t size, const uint8_t sha[IMAGE_SHA256_SIZE])
{
	struct image_part *files, *p = (struct image_part *)image_find_part(img, IMAGE_WORKSET_FILE);

	if (!p) {
		files = realloc(img->parts.files, (img->parts.nr_files + 1) * sizeof(*files));
		if (!files)
			return -ENOMEM;
		img->parts.files = files;
		p = &files[img->parts.nr_files];
		p->name = strdup(IMAGE_WORKSET_FILE);
		if (!p->name)
			return -ENOMEM;
		img->parts.nr_files++;
	}
	p->size = size;
	memcpy(p->sha256, sha, IMAGE_SHA256_SIZE);
	return 0;
}

void image_workset_files_release(struct image_workset_files *f)
{
	free(f->record);
	free(f->manifest);
	memset(f, 0, sizeof(*f));
}

int image_workset_files(struct image *img, const struct image_workset *ws,
			struct image_workset_files *out)
{
	uint8_t sha[IMAGE_SHA256_SIZE];

	memset(out, 0, sizeof(*out));
	if (faccessat(img->dir_fd, "manifest.sig", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		log_info("snapshot %s: signed: its manifest is not rewritten, no working set is "
			 "recorded",
			 img->path);
		return -EPERM;
	}
	out->record = image_workset_encode(ws, img->parts.id, &out->record_len);
	if (!out->record || image_sha256(out->record, out->record_len, sha) ||
	    set_part(img, out->record_len, sha))
		goto nomem;
	out->manifest = image_manifest_to_json(img, 0);
	if (!out->manifest)
		goto nomem;
	out->manifest_len = strlen(out->manifest);
	snprintf(out->crc, sizeof(out->crc), "%08x\n", crc32c(out->manifest, out->manifest_len));
	return 0;
nomem:
	log_error("snapshot %s: out of memory for its working set", img->path);
	image_workset_files_release(out);
	return -ENOMEM;
}

/* Fills the mirror: img's files linked, the new record and the manifest that binds it. */
static int build_mirror(struct image *img, int mirror_fd, const struct image_workset_files *f)
{
	static const char *const replaced[] = { "manifest.json", "manifest.crc",
						IMAGE_WORKSET_FILE };
	int ret;

	ret = link_files(img->dir_fd, mirror_fd, replaced, 3, 1);
	if (!ret)
		ret = write_new(mirror_fd, IMAGE_WORKSET_FILE, f->record, f->record_len);
	if (!ret)
		ret = write_new(mirror_fd, "manifest.json", f->manifest, f->manifest_len);
	if (!ret)
		ret = write_new(mirror_fd, "manifest.crc", f->crc, strlen(f->crc));
	if (!ret && fsync(mirror_fd))
		ret = -errno;
	return ret;
}

int image_workset_save(const char *dir, const struct image_workset *ws)
{
	struct image_workset_files f = { 0 };
	char *tmp = NULL, *parent = NULL, *slash;
	struct image *img = NULL;
	int lock = -1, mirror = -1, ret;

	/* one writer at a time: another one's record is as good as ours */
	lock = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lock < 0)
		return log_errno("snapshot %s", dir);
	if (flock(lock, LOCK_EX | LOCK_NB)) {
		log_info("snapshot %s: locked by another thaw: no working set recorded", dir);
		ret = -EBUSY;
		goto out;
	}
	/* read again, as any reader would: what it binds is what we link */
	ret = image_read(dir, &img);
	if (ret)
		goto out;
	if (img->has_workset) {
		/* another lazy restore of it recorded one meanwhile: the first stays */
		log_info("snapshot %s: has a working set already: this one is not kept", dir);
		ret = -EEXIST;
		goto out;
	}
	ret = image_workset_files(img, ws, &f);
	if (ret)
		goto out;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", dir) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ret = make_locked_dir(tmp, &mirror);
	if (ret) {
		log_error("snapshot %s: cannot create %s: %s", dir, tmp, strerror(-ret));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	ret = build_mirror(img, mirror, &f);
	if (ret) {
		log_error("snapshot %s: writing its working set into %s: %s", dir, tmp,
			  strerror(-ret));
		goto out;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE)) {
		ret = log_errno("snapshot %s: putting %s in its place", dir, tmp);
		goto out;
	}
	/* tmp is the old snapshot now; ours holds its lock until it is gone */
	parent = strdup(dir);
	if (parent && (slash = strrchr(parent, '/')) && slash != parent)
		*slash = '\0';
	else if (parent)
		strcpy(parent, slash ? "/" : ".");
	if (parent) {
		int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (pfd >= 0) {
			fsync(pfd);
			close(pfd);
		}
	}
out:
	if (tmp) {
		int err = rm_tree(AT_FDCWD, tmp, 1);

		if (err && err != -ENOENT)
			log_warn("snapshot %s: cannot remove %s: %s", dir, tmp, strerror(-err));
	}
	if (mirror >= 0)
		close(mirror);
	if (lock >= 0)
		close(lock);
	free(parent);
	free(tmp);
	image_workset_files_release(&f);
	image_free(img);
	return ret;
}
