/*
 * digest.c - content digests of the files a snapshot trusts (thaw run --verify-digest).
 *
 * The digests live in the snapshot directory (digests.json) rather than in
 * KEY.json: they describe that directory's image (entries name its file
 * table indices), they are replaced with it atomically when a cold start
 * re-snapshots, and they travel with it to any store.  Every file is
 * streamed through OpenSSL's SHA-256 in 1 MiB reads, whatever its size: the
 * cost is the files' total size at a few hundred MB/s to a few GB/s, which
 * for torch's shared libraries is seconds.  That is why it is opt-in.
 */
#define LOG_TAG "run"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/trust.h"
#include "digest.h"
#include "runtime-internal.h"

#define DIGEST_VERSION 1
#define DIGEST_META_MAX (16u << 20) /* digests.json: 64-byte digests of at most a few 10^4 files */
#define READ_CHUNK (1u << 20)

bool digest_wanted(const struct runtime_run_opts *opts)
{
	const char *env = getenv("THAW_VERIFY_DIGEST");

	return opts->verify_digest || (env && *env && strcmp(env, "0"));
}

/* The files a restore trusts: as run.c's check, mapped, the executable, or open read-only. */
static bool trusted(const struct image *img, uint32_t idx)
{
	const struct image_file *f = &img->files[idx];
	uint32_t i;

	if (f->is_deleted || !S_ISREG(f->mode) || !f->path)
		return false;
	if (img->proc.exe == (int32_t)idx)
		return true;
	for (i = 0; i < img->nr_vmas; i++)
		if (img->vmas[i].file == (int32_t)idx)
			return true;
	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].file == (int32_t)idx && img->fds[i].kind == IMAGE_FD_FILE &&
		    (img->fds[i].flags & O_ACCMODE) == O_RDONLY)
			return true;
	return false;
}

/* SHA-256 of the regular file at path as 64 hex digits; *bytes counts what was read. */
static int hash_file(const struct run_root *rr, const char *path, EVP_MD_CTX *ctx, unsigned char *buf, char hex[65],
		     uint64_t *bytes)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	/* a file of an image (--image): its digest is in the index, nothing to read */
	if (root_image_digest(rr, path, hex) == 0)
		return 0;
	/* O_NONBLOCK: a FIFO put where the file was must not hang the start */
	fd = root_open(rr, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = read(fd, buf, READ_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			ret = -ENOMEM;
			break;
		}
		*bytes += (uint64_t)n;
	}
	close(fd);
	if (ret == 0 && (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32))
		ret = -EIO;
	for (i = 0; ret == 0 && i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return ret;
}

int digest_record(const char *dir, const struct run_root *rr)
{
	char path[PATH_MAX], hex[65], *text = NULL;
	struct image *img = NULL;
	unsigned char *buf = NULL;
	EVP_MD_CTX *ctx = NULL;
	json_t *root = NULL, *files;
	uint64_t bytes = 0;
	double t0 = now_ms();
	uint32_t i, nr = 0;
	int ret, fd = -1;

	ret = image_read(dir, &img);
	if (ret < 0)
		return ret;
	buf = malloc(READ_CHUNK);
	ctx = EVP_MD_CTX_new();
	files = json_array();
	root = json_pack("{s:i, s:o}", "version", DIGEST_VERSION, "files", files);
	if (!buf || !ctx || !root) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < img->nr_files; i++) {
		const char *p = img->files[i].path;
		json_t *e, *jp;
		int err;

		if (!trusted(img, i))
			continue;
		err = hash_file(rr, p, ctx, buf, hex, &bytes);
		if (err < 0) {
			/* left out: a start with the option then refuses instead of trusting it */
			log_warn("no content digest of %s: %s", p, strerror(-err));
			continue;
		}
		e = json_pack("{s:I, s:s}", "file", (json_int_t)i, "sha256", hex);
		/* the path only where it is UTF-8 (jansson's rule); the index is what counts */
		jp = json_string(p);
		if (e && jp)
			json_object_set_new(e, "path", jp);
		else
			json_decref(jp);
		if (!e || json_array_append_new(files, e)) {
			ret = -ENOMEM;
			goto out;
		}
		nr++;
	}
	text = json_dumps(root, JSON_INDENT(1));
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, DIGEST_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd)) {
		ret = log_errno("writing %s", path);
		goto out;
	}
	log_info("content digests of %u files (%.1f MiB) in %.0f ms", nr,
		 (double)bytes / (1 << 20), now_ms() - t0);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(root);
	EVP_MD_CTX_free(ctx);
	free(buf);
	image_free(img);
	return ret;
}

int digest_parse(json_t *root, uint32_t nr_files, const char ***ret)
{
	json_t *files = json_object_get(root, "files"), *e;
	const char **by_index;
	size_t k;

	*ret = NULL;
	if (json_integer_value(json_object_get(root, "version")) != DIGEST_VERSION ||
	    !json_is_array(files))
		return -EBADMSG;
	by_index = calloc(nr_files ? nr_files : 1, sizeof(*by_index));
	if (!by_index)
		return -ENOMEM;
	json_array_foreach(files, k, e) {
		json_int_t idx = json_integer_value(json_object_get(e, "file"));
		const char *hex = json_string_value(json_object_get(e, "sha256"));

		if (!json_is_integer(json_object_get(e, "file")) || idx < 0 ||
		    idx >= (json_int_t)nr_files || !hex || strlen(hex) != 64 ||
		    strspn(hex, "0123456789abcdef") != 64) {
			free(by_index);
			return -EBADMSG;
		}
		by_index[idx] = hex;
	}
	*ret = by_index;
	return 0;
}

/* DIR/digests.json, parsed for img (digest_parse); *ret_root holds the strings. */
static int load_digests(const char *dir, const struct image *img, const char ***ret,
			json_t **ret_root)
{
	char path[PATH_MAX];
	json_error_t jerr;
	struct stat st;
	json_t *root;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, DIGEST_FILE);
	fd = trust_open_file("thaw run's store", path, &st);
	if (fd < 0)
		return fd;
	root = st.st_size > DIGEST_META_MAX ? NULL :
					      json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (!root)
		return -EBADMSG;
	rc = digest_parse(root, img->nr_files, ret);
	if (rc) {
		json_decref(root);
		return rc;
	}
	*ret_root = root;
	return 0;
}

char *digest_check(const char *dir, const struct image *img, const struct run_root *rr)
{
	char hex[65], *out = NULL;
	const char **want = NULL;
	json_t *root = NULL;
	unsigned char *buf = NULL;
	EVP_MD_CTX *ctx = NULL;
	uint64_t bytes = 0;
	uint32_t i;
	int ret;

	ret = load_digests(dir, img, &want, &root);
	if (ret == -ENOENT)
		return strdup("the snapshot has no content digests (taken without --verify-digest)");
	if (ret < 0) {
		if (asprintf(&out, "the snapshot's %s is unreadable: %s", DIGEST_FILE,
			     strerror(-ret)) < 0)
			out = NULL;
		return out ? out : strdup("content digests unreadable");
	}
	buf = malloc(READ_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		out = strdup("out of memory for content digests");
		goto out;
	}
	for (i = 0; i < img->nr_files && !out; i++) {
		const char *p = img->files[i].path;

		if (!trusted(img, i))
			continue;
		if (!want[i])
			ret = asprintf(&out, "%s has no recorded content digest", p);
		else if (hash_file(rr, p, ctx, buf, hex, &bytes) < 0 || strcmp(hex, want[i]))
			ret = asprintf(&out, "%s changed (content digest)", p);
		else
			continue;
		if (ret < 0)
			out = strdup("a file changed (content digest)");
	}
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	free(want);
	json_decref(root);
	return out;
}
