/*
 * store-manifest.c - a snapshot's manifest: its files and their chunks,
 * stored by the SHA-256 of its bytes; and names, the mutable references to
 * manifests.
 *
 * The manifest is JSON (people read it with jq when something is wrong):
 *   {"format":1,"type":"thaw-store-manifest","created":T,
 *    "files":[{"name":"pages.img","size":N,"mode":384,
 *              "chunks":[["<sha256>",LEN,FLAGS] or [null,LEN,1 (zero)] ...]}]}
 * With a key it is sealed whole (AES-256-GCM under a key derived for
 * manifests, random nonce) in an envelope "THMENC01" nonce ciphertext tag,
 * so the server sees neither the plaintext digests nor the file layout; a
 * wrong key fails the tag and is reported as such.
 *
 * Every reader treats the bytes as untrusted: sizes, counts, names, flags
 * and the sum of chunk lengths are checked before anything is used.
 */
#define LOG_TAG "store"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "base/log.h"
#include "store/store-internal.h"

#define ENVELOPE_MAGIC "THMENC01"
#define ENVELOPE_HEAD (8 + 12)
#define MANIFEST_FORMAT 1

void store_manifest_free(struct store_manifest *m)
{
	uint32_t i;

	if (!m)
		return;
	for (i = 0; i < m->nr_files; i++) {
		free(m->files[i].name);
		free(m->files[i].chunks);
	}
	free(m->files);
	free(m);
}

int store_manifest_encode(const struct store_manifest *m, struct store_buf *out)
{
	json_t *root = json_object(), *files = json_array();
	char hex[STORE_DIGEST_HEX];
	uint32_t i, j;
	char *text = NULL;
	int rc = -ENOMEM;

	if (!root || !files)
		goto out;
	json_object_set_new(root, "format", json_integer(MANIFEST_FORMAT));
	json_object_set_new(root, "type", json_string("thaw-store-manifest"));
	json_object_set_new(root, "created", json_integer(m->created));
	for (i = 0; i < m->nr_files; i++) {
		const struct store_file *f = &m->files[i];
		json_t *jf = json_object(), *chunks = json_array();

		if (!jf || !chunks) {
			json_decref(jf);
			json_decref(chunks);
			goto out;
		}
		json_object_set_new(jf, "name", json_string(f->name));
		json_object_set_new(jf, "size", json_integer((json_int_t)f->size));
		json_object_set_new(jf, "mode", json_integer(f->mode));
		for (j = 0; j < f->nr_chunks; j++) {
			const struct store_chunk_ref *r = &f->chunks[j];

			store_digest_hex(&r->digest, hex);
			json_array_append_new(chunks,
					      json_pack("[oII]",
							r->flags & STORE_CHUNK_ZERO ? json_null() :
										      json_string(hex),
							(json_int_t)r->len, (json_int_t)r->flags));
		}
		json_object_set_new(jf, "chunks", chunks);
		json_array_append_new(files, jf);
	}
	json_object_set(root, "files", files);
	text = json_dumps(root, JSON_COMPACT);
	if (!text)
		goto out;
	out->len = 0;
	rc = store_buf_reserve(out, strlen(text));
	if (!rc) {
		memcpy(out->data, text, strlen(text));
		out->len = strlen(text);
	}
out:
	free(text);
	json_decref(files);
	json_decref(root);
	return rc;
}

static bool component_ok(const char *s, size_t len)
{
	return len && memchr(s, '/', len) == NULL && !(len == 1 && s[0] == '.') &&
	       !(len == 2 && s[0] == '.' && s[1] == '.');
}

/* "pages.img", or one level down for a process of a tree: "proc-42/pages.img". */
static bool file_name_ok(const char *s, size_t len)
{
	const char *slash;

	if (!len || len > STORE_MAX_FILE_NAME || strlen(s) != len)
		return false;
	slash = memchr(s, '/', len);
	if (!slash)
		return component_ok(s, len);
	return component_ok(s, (size_t)(slash - s)) &&
	       component_ok(slash + 1, len - (size_t)(slash - s) - 1);
}

static int decode_file(const char *what, json_t *jf, struct store_file *f)
{
	json_t *name = json_object_get(jf, "name"), *size = json_object_get(jf, "size");
	json_t *mode = json_object_get(jf, "mode"), *chunks = json_object_get(jf, "chunks");
	uint64_t sum = 0;
	size_t j, n;

	if (!json_is_string(name) || !file_name_ok(json_string_value(name), json_string_length(name)) ||
	    !json_is_integer(size) || json_integer_value(size) < 0 || !json_is_integer(mode) ||
	    json_integer_value(mode) < 0 || json_integer_value(mode) > 0777 ||
	    !json_is_array(chunks)) {
		log_error("%s: a file entry is malformed", what);
		return -EBADMSG;
	}
	n = json_array_size(chunks);
	if (n > STORE_MAX_CHUNKS) {
		log_error("%s: file %s has %zu chunks, more than %u", what, json_string_value(name),
			  n, STORE_MAX_CHUNKS);
		return -EBADMSG;
	}
	f->name = strdup(json_string_value(name));
	f->chunks = calloc(n ? n : 1, sizeof(*f->chunks));
	if (!f->name || !f->chunks)
		return -ENOMEM;
	f->size = (uint64_t)json_integer_value(size);
	f->mode = (uint32_t)json_integer_value(mode);
	for (j = 0; j < n; j++) {
		json_t *c = json_array_get(chunks, j), *d = json_array_get(c, 0);
		json_t *len = json_array_get(c, 1), *flags = json_array_get(c, 2);
		struct store_chunk_ref *r = &f->chunks[j];
		json_int_t l, fl;

		if (!json_is_array(c) || json_array_size(c) != 3 || !json_is_integer(len) ||
		    !json_is_integer(flags))
			goto bad;
		l = json_integer_value(len);
		fl = json_integer_value(flags);
		if (l <= 0 || l > STORE_CHUNK_MAX_LIMIT ||
		    (fl != 0 && fl != STORE_CHUNK_ZERO && fl != STORE_CHUNK_ENCRYPTED))
			goto bad;
		if (fl == STORE_CHUNK_ZERO ? !json_is_null(d) :
					     !json_is_string(d) ||
						     store_digest_parse(json_string_value(d),
									&r->digest))
			goto bad;
		r->len = (uint32_t)l;
		r->flags = (uint32_t)fl;
		r->off = sum;
		sum += (uint64_t)l;
	}
	f->nr_chunks = (uint32_t)n;
	if (sum != f->size) {
		log_error("%s: file %s: chunks add up to %llu bytes, not %llu", what, f->name,
			  (unsigned long long)sum, (unsigned long long)f->size);
		return -EBADMSG;
	}
	return 0;
bad:
	log_error("%s: file %s: chunk %zu is malformed", what, json_string_value(name), j);
	return -EBADMSG;
}

int store_manifest_decode(const char *what, const void *data, size_t len,
			  struct store_manifest **ret)
{
	struct store_manifest *m = NULL;
	json_t *root, *files, *created;
	json_error_t err;
	size_t i, j, n;
	int rc = -EBADMSG;

	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		log_error("%s: not JSON: %s at byte %d", what, err.text, err.position);
		return -EBADMSG;
	}
	files = json_object_get(root, "files");
	created = json_object_get(root, "created");
	if (!json_is_integer(json_object_get(root, "format")) ||
	    json_integer_value(json_object_get(root, "format")) != MANIFEST_FORMAT ||
	    !json_is_array(files) || !json_is_integer(created)) {
		log_error("%s: not a format %d store manifest", what, MANIFEST_FORMAT);
		goto out;
	}
	n = json_array_size(files);
	if (n > STORE_MAX_FILES) {
		log_error("%s: %zu files, more than %d", what, n, STORE_MAX_FILES);
		goto out;
	}
	rc = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->files = calloc(n ? n : 1, sizeof(*m->files))))
		goto out;
	m->created = json_integer_value(created);
	for (i = 0; i < n; i++) {
		m->nr_files++;
		rc = decode_file(what, json_array_get(files, i), &m->files[i]);
		if (rc)
			goto out;
		for (j = 0; j < i; j++) {
			if (!strcmp(m->files[j].name, m->files[i].name)) {
				log_error("%s: file %s appears twice", what, m->files[i].name);
				rc = -EBADMSG;
				goto out;
			}
		}
	}
	*ret = m;
	m = NULL;
	rc = 0;
out:
	store_manifest_free(m);
	json_decref(root);
	return rc;
}

int store_manifest_put(struct store *s, const struct store_manifest *m, struct store_digest *ret)
{
	struct store_buf text = { 0 }, env = { 0 }, *bytes = &text;
	char id[STORE_ID_MAX];
	size_t i;
	int rc;

	rc = store_manifest_encode(m, &text);
	if (rc)
		goto out;
	if (s->has_key) {
		uint8_t *nonce;

		rc = store_buf_reserve(&env, ENVELOPE_HEAD + text.len + CHUNK_TAG_SIZE);
		if (rc)
			goto out;
		nonce = env.data + 8;
		memcpy(env.data, ENVELOPE_MAGIC, 8);
		if (RAND_bytes(nonce, 12) != 1) {
			rc = -EIO;
			goto out;
		}
		rc = store_seal(&s->key, "thaw manifest key", nonce, env.data, 8, text.data,
				text.len, env.data + ENVELOPE_HEAD);
		if (rc)
			goto out;
		env.len = ENVELOPE_HEAD + text.len + CHUNK_TAG_SIZE;
		bytes = &env;
	}
	store_sha256(bytes->data, bytes->len, ret);
	store_digest_hex(ret, id);
	for (i = 0; i < s->nr_tiers && !rc; i++) {
		struct store_tier *t = s->tiers[i];

		if (t->ops->has(t, STORE_OBJ_MANIFEST, id) != 1)
			rc = t->ops->put(t, STORE_OBJ_MANIFEST, id, bytes->data, bytes->len);
		if (rc)
			log_error("manifest %s: cannot store in %s: %s", id, t->label, strerror(-rc));
	}
out:
	store_buf_release(&text);
	store_buf_release(&env);
	return rc;
}

/* The stored bytes of a manifest, checked against its digest, through the tiers. */
int store_manifest_get_bytes(struct store *s, const struct store_digest *d, struct store_buf *out)
{
	struct store_digest got;
	char id[STORE_ID_MAX];
	size_t i, j;
	int rc = -ENOENT;

	store_digest_hex(d, id);
	for (i = 0; i < s->nr_tiers; i++) {
		struct store_tier *t = s->tiers[i];

		rc = t->ops->get(t, STORE_OBJ_MANIFEST, id, STORE_MANIFEST_MAX, out);
		if (rc == -ENOENT)
			continue;
		if (rc && rc != -EBADMSG)
			return rc;
		if (rc == 0) {
			store_sha256(out->data, out->len, &got);
			if (!memcmp(got.b, d->b, sizeof(got.b))) {
				for (j = 0; j < i; j++)
					s->tiers[j]->ops->put(s->tiers[j], STORE_OBJ_MANIFEST, id,
							      out->data, out->len);
				return 0;
			}
		}
		log_warn("manifest %s in %s: SHA-256 mismatch or oversized; discarded", id, t->label);
		t->ops->discard(t, STORE_OBJ_MANIFEST, id);
		rc = -EBADMSG;
	}
	log_error("manifest %s: %s", id,
		  rc == -ENOENT ? "not in the store" : "no tier has a good copy");
	return rc;
}

int store_manifest_get(struct store *s, const struct store_digest *d, struct store_manifest **ret)
{
	struct store_buf bytes = { 0 }, plain = { 0 };
	char id[STORE_ID_MAX], what[STORE_ID_MAX + 16];
	int rc;

	store_digest_hex(d, id);
	snprintf(what, sizeof(what), "manifest %.16s", id);
	rc = store_manifest_get_bytes(s, d, &bytes);
	if (rc)
		goto out;
	if (bytes.len >= 8 && !memcmp(bytes.data, ENVELOPE_MAGIC, 8)) {
		if (!s->has_key) {
			log_error("manifest %s is encrypted: a key file is needed (--key-file)", id);
			rc = -ENOKEY;
			goto out;
		}
		rc = -EBADMSG;
		if (bytes.len < ENVELOPE_HEAD + CHUNK_TAG_SIZE)
			goto out;
		rc = store_buf_reserve(&plain, bytes.len);
		if (rc)
			goto out;
		rc = store_open_sealed(&s->key, "thaw manifest key", bytes.data + 8, bytes.data, 8,
				       bytes.data + ENVELOPE_HEAD, bytes.len - ENVELOPE_HEAD,
				       plain.data);
		if (rc) {
			log_error("manifest %s: wrong key or corrupted (GCM tag check failed)", id);
			rc = -EKEYREJECTED;
			goto out;
		}
		plain.len = bytes.len - ENVELOPE_HEAD - CHUNK_TAG_SIZE;
		rc = store_manifest_decode(what, plain.data, plain.len, ret);
	} else {
		rc = store_manifest_decode(what, bytes.data, bytes.len, ret);
	}
out:
	store_buf_release(&bytes);
	store_buf_release(&plain);
	return rc;
}

int store_name_set(struct store *s, const char *name, const struct store_digest *d)
{
	struct store_tier *t = store_origin(s);
	char line[STORE_DIGEST_HEX + 1];
	int rc;

	if (!store_name_valid(name)) {
		log_error("snapshot name '%.*s': use letters, digits and . _ - + @ : (not first .)",
			  STORE_NAME_MAX, name);
		return -EINVAL;
	}
	store_digest_hex(d, line);
	strcat(line, "\n");
	rc = t->ops->name_set(t, name, line, strlen(line));
	if (rc)
		log_error("name %s: cannot write in %s: %s", name, t->label, strerror(-rc));
	return rc;
}

/* quiet: -ENOENT is not logged (the caller says what is missing, in its terms) */
static int name_get(struct store *s, const char *name, struct store_digest *ret, bool quiet)
{
	struct store_tier *t = store_origin(s);
	struct store_buf b = { 0 };
	int rc;

	if (!store_name_valid(name)) {
		log_error("snapshot name '%.*s' is not valid", STORE_NAME_MAX, name);
		return -EINVAL;
	}
	rc = t->ops->name_get(t, name, &b);
	if (rc == -ENOENT) {
		if (!quiet)
			log_error("no snapshot %s in %s", name, t->label);
		goto out;
	}
	if (rc == 0 && store_buf_reserve(&b, STORE_DIGEST_HEX + 1))
		rc = -ENOMEM;
	if (rc == 0) {
		if (b.len == STORE_DIGEST_HEX && b.data[64] == '\n')
			b.len--;
		b.data[b.len < 64 ? b.len : 64] = 0;
		if (b.len != 64 || store_digest_parse((char *)b.data, ret))
			rc = -EBADMSG;
	}
	if (rc)
		log_error("snapshot %s: name in %s is unreadable: %s", name, t->label,
			  rc == -EBADMSG ? "not a digest" : strerror(-rc));
out:
	store_buf_release(&b);
	return rc;
}

int store_name_get(struct store *s, const char *name, struct store_digest *ret)
{
	return name_get(s, name, ret, false);
}

int store_name_lookup(struct store *s, const char *name, struct store_digest *ret)
{
	return name_get(s, name, ret, true);
}

const char *store_label(struct store *s)
{
	return store_origin(s)->label;
}
