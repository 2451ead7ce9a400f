/*
 * store.c - the store object: opening the tiers, and chunks in and out
 * through them.
 *
 * Reads go RAM, disk, remote; the first good copy wins and is written into
 * the tiers in front of the one that had it (re-encoded when their codecs
 * differ).  A copy that fails its checks is removed from its tier and the
 * next tier is asked; a good copy found behind bad ones is a warning that
 * names the bad copies, and when no tier has a good copy it is one error
 * line naming the chunk, the file, the snapshot and what each tier had.  Writes go to every
 * persistent tier that lacks the chunk; "has" refreshes a chunk's mtime so
 * that gc's grace period protects chunks a writer is about to reference.
 * Chunks move in batches so that the HTTP tier can run them concurrently.
 */
#define LOG_TAG "store"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/log.h"
#include "base/progress.h"
#include "store/store-internal.h"

#define BATCH 64 /* chunks per batch: bounds memory (BATCH * 4 * avg) */

int store_buf_reserve(struct store_buf *b, size_t cap)
{
	uint8_t *p;

	if (cap <= b->cap)
		return 0;
	if (cap < 2 * b->cap)
		cap = 2 * b->cap;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

void store_buf_release(struct store_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void store_sha256(const void *data, size_t len, struct store_digest *d)
{
	unsigned int n = sizeof(d->b);

	EVP_Digest(data, len, d->b, &n, EVP_sha256(), NULL);
}

void store_digest_hex(const struct store_digest *d, char out[STORE_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < STORE_DIGEST_SIZE; i++) {
		out[2 * i] = hex[d->b[i] >> 4];
		out[2 * i + 1] = hex[d->b[i] & 15];
	}
	out[2 * STORE_DIGEST_SIZE] = 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 64 lowercase hex digits. */
int store_digest_parse(const char *hex, struct store_digest *d)
{
	size_t i;

	for (i = 0; i < STORE_DIGEST_SIZE; i++) {
		int hi = hexval(hex[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		d->b[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * STORE_DIGEST_SIZE] ? -EINVAL : 0;
}

/* Names are file names on disk and URL path parts: a safe alphabet only. */
bool store_name_valid(const char *name)
{
	size_t i;

	if (!name || !name[0] || name[0] == '.' || strlen(name) > STORE_NAME_MAX)
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '+' || c == '@' || c == ':'))
			return false;
	}
	return true;
}

bool store_is_remote(const char *location)
{
	return !strncmp(location, "http://", 7) || !strncmp(location, "https://", 8) ||
	       !strncmp(location, "s3://", 5);
}

void store_config_init(struct store_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->disk_codec = STORE_CODEC_LZ4;
	cfg->disk_level = 1;
	cfg->remote_codec = STORE_CODEC_ZSTD;
	cfg->remote_level = 3;
}

int store_open(const struct store_config *cfg, struct store **ret)
{
	struct store *s;
	int rc = -EINVAL;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->chunk_avg = cfg->chunk_avg ? cfg->chunk_avg : STORE_CHUNK_AVG_DEFAULT;
	if (s->chunk_avg < (16u << 10) || (s->chunk_avg & (s->chunk_avg - 1)) ||
	    s->chunk_avg * 4 > STORE_CHUNK_MAX_LIMIT) {
		log_error("chunk size %zu: want a power of two from 16 KiB to 4 MiB", s->chunk_avg);
		goto fail;
	}
	if (!cfg->dir && !cfg->url) {
		log_error("a store needs a directory or a URL");
		goto fail;
	}
	if (cfg->key_file) {
		rc = store_key_load(cfg->key_file, &s->key);
		if (rc)
			goto fail;
		s->has_key = true;
	}
	rc = -ENOMEM;
	if (cfg->ram_limit && !(s->ram = store_ram_shared(cfg->ram_limit)))
		goto fail;
	rc = -EIO;
	if (cfg->dir) {
		s->tiers[s->nr_tiers] = store_disk_open(cfg->dir, cfg->url ? cfg->disk_limit : 0, cfg->url);
		if (!s->tiers[s->nr_tiers])
			goto fail;
		s->tiers[s->nr_tiers]->codec = cfg->disk_codec;
		s->tiers[s->nr_tiers++]->level = cfg->disk_level;
	}
	if (cfg->url) {
		s->tiers[s->nr_tiers] = store_http_open(cfg);
		if (!s->tiers[s->nr_tiers])
			goto fail;
		s->tiers[s->nr_tiers]->codec = cfg->remote_codec;
		s->tiers[s->nr_tiers++]->level = cfg->remote_level;
	}
	*ret = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nr_tiers; i++)
		s->tiers[i]->ops->free(s->tiers[i]);
	OPENSSL_cleanse(&s->key, sizeof(s->key));
	free(s);
}

struct store_tier *store_origin(struct store *s)
{
	return s->tiers[s->nr_tiers - 1];
}

struct store_tier *store_disk_tier(struct store *s)
{
	return s->nr_tiers && store_tier_is_disk(s->tiers[0]) ? s->tiers[0] : NULL;
}

void store_object_id(const struct store *s, const struct store_chunk_ref *ref,
		     char id[STORE_ID_MAX])
{
	if (ref->flags & STORE_CHUNK_ENCRYPTED)
		store_key_object_id(&s->key, &ref->digest, id);
	else
		store_digest_hex(&ref->digest, id);
}

static const struct store_key *key_of(const struct store *s)
{
	return s->has_key ? &s->key : NULL;
}

/*
 * Writes a verified chunk into tiers [0, upto), reusing its stored bytes
 * where the codec fits; plain is its plaintext, or NULL to decode it from
 * stored when a tier wants another codec.
 */
static int fill_front(struct store *s, size_t upto, const char *id,
		      const struct store_chunk_ref *ref, const void *plain,
		      const struct store_buf *stored)
{
	struct store_buf enc = { 0 };
	uint8_t *tmp = NULL;
	const char *why;
	size_t i;
	int codec = store_chunk_codec(stored->data, stored->len), rc = 0;

	for (i = 0; i < upto && !rc; i++) {
		struct store_tier *t = s->tiers[i];

		if (codec == t->codec || codec == STORE_CODEC_NONE) {
			rc = t->ops->put(t, STORE_OBJ_CHUNK, id, stored->data, stored->len);
			continue;
		}
		if (!plain) {
			tmp = malloc(ref->len);
			rc = !tmp ? -ENOMEM :
				    store_chunk_decode(key_of(s), ref, stored->data, stored->len, tmp,
						       false, &why);
			if (rc)
				break;
			plain = tmp;
		}
		rc = store_chunk_encode(ref->flags & STORE_CHUNK_ENCRYPTED ? key_of(s) : NULL,
					t->codec, t->level, ref, plain, &enc);
		if (!rc)
			rc = t->ops->put(t, STORE_OBJ_CHUNK, id, enc.data, enc.len);
		store_buf_release(&enc);
	}
	free(tmp);
	return rc;
}

int store_disk_fill_stored(struct store *s, const char *id, const struct store_chunk_ref *ref,
			   const struct store_buf *stored)
{
	if (!store_disk_tier(s))
		return -ENOENT;
	return fill_front(s, 1, id, ref, NULL, stored);
}

static const char *ctx(const struct store *s)
{
	return s->context ? s->context : "the store";
}

/* Appends "in TIER: WHY[; discarded]" to a chunk's list of bad copies (best effort). */
static void note_bad(char **list, const char *tier, const char *why, const char *what)
{
	char *more;

	if (asprintf(&more, "%s%sin %s: %s%s", *list ? *list : "", *list ? ", " : "", tier, why,
		     what) < 0)
		return;
	free(*list);
	*list = more;
}

int store_read_chunks(struct store *s, const char *file, const struct store_chunk_ref *refs,
		      size_t n, uint8_t **outs)
{
	char (*ids)[STORE_ID_MAX] = calloc(n ? n : 1, sizeof(*ids));
	char (*pids)[STORE_ID_MAX] = calloc(n ? n : 1, sizeof(*pids));
	struct store_buf *bufs = calloc(n ? n : 1, sizeof(*bufs));
	size_t *pend = calloc(n ? n : 1, sizeof(*pend)), npend = 0, i, j, ti;
	int *rcs = calloc(n ? n : 1, sizeof(*rcs)), *why_rc = calloc(n ? n : 1, sizeof(int));
	char **bad = calloc(n ? n : 1, sizeof(*bad)); /* the bad copies seen, per chunk */
	int rc = -ENOMEM;

	if (!ids || !pids || !bufs || !pend || !rcs || !why_rc || !bad)
		goto out;
	for (i = 0; i < n; i++) {
		if (refs[i].flags & STORE_CHUNK_ZERO) {
			memset(outs[i], 0, refs[i].len);
			continue;
		}
		if ((refs[i].flags & STORE_CHUNK_ENCRYPTED) && !s->has_key) {
			store_digest_hex(&refs[i].digest, ids[i]);
			log_error("chunk %.16s... (%s of %s) is encrypted: a key file is needed",
				  ids[i], file, ctx(s));
			rc = -ENOKEY;
			goto out;
		}
		store_object_id(s, &refs[i], ids[i]);
		if (s->ram && store_ram_get(s->ram, ids[i], outs[i], refs[i].len))
			continue;
		why_rc[i] = -ENOENT;
		pend[npend++] = i;
	}
	for (ti = 0; ti < s->nr_tiers && npend; ti++) {
		struct store_tier *t = s->tiers[ti];
		/* a local tier's plain chunks go straight into outs (the first tier: none to fill) */
		bool direct = !ti && t->local && !s->rehash && t->ops->get_plain;
		size_t left = 0;

		for (j = 0; j < npend; j++)
			memcpy(pids[j], ids[pend[j]], STORE_ID_MAX);
		if (t->ops->get_many) {
			struct store_buf *tb = calloc(npend, sizeof(*tb));

			if (!tb)
				goto out;
			t->ops->get_many(t, STORE_OBJ_CHUNK, npend, pids,
					 store_chunk_stored_max(STORE_CHUNK_MAX_LIMIT), tb, rcs);
			for (j = 0; j < npend; j++) {
				store_buf_release(&bufs[pend[j]]);
				bufs[pend[j]] = tb[j];
			}
			free(tb);
		} else {
			for (j = 0; j < npend; j++)
				rcs[j] = direct && !(refs[pend[j]].flags & STORE_CHUNK_ENCRYPTED) ?
						 t->ops->get_plain(t, pids[j],
								   store_chunk_stored_max(refs[pend[j]].len),
								   &bufs[pend[j]], outs[pend[j]],
								   refs[pend[j]].len) :
						 t->ops->get(t, STORE_OBJ_CHUNK, pids[j],
							     store_chunk_stored_max(refs[pend[j]].len),
							     &bufs[pend[j]]);
		}
		for (j = 0; j < npend; j++) {
			size_t k = pend[j];
			const char *why;
			int drc = rcs[j];

			if (drc == -EBADMSG) {
				why = "unreadable or oversized";
			} else if (drc == 1) {
				drc = store_chunk_check_plain(&refs[k], bufs[k].data, outs[k], &why);
			} else if (drc == 0) {
				drc = store_chunk_decode(key_of(s), &refs[k], bufs[k].data, bufs[k].len,
							 outs[k], s->rehash || !t->local, &why);
			} else {
				if (drc != -ENOENT)
					why_rc[k] = drc;
				pend[left++] = k;
				continue;
			}
			if (drc == 0) {
				if (bad[k])
					log_warn("chunk %s (%s of %s): %s; a good copy in %s", ids[k],
						 file, ctx(s), bad[k], t->label);
				if (s->ram)
					store_ram_put(s->ram, ids[k], outs[k], refs[k].len);
				if (!ti || !s->keep_fetched ||
				    !s->keep_fetched(s->keep_fetched_arg, ids[k], &refs[k], &bufs[k]))
					fill_front(s, ti, ids[k], &refs[k], outs[k], &bufs[k]);
				store_buf_release(&bufs[k]);
				continue;
			}
			note_bad(&bad[k], t->label, why,
				 drc == -EKEYREJECTED || drc == -ENOKEY ? "" : "; discarded");
			if (drc != -EKEYREJECTED && drc != -ENOKEY)
				t->ops->discard(t, STORE_OBJ_CHUNK, ids[k]);
			why_rc[k] = drc;
			pend[left++] = k;
		}
		npend = left;
	}
	rc = 0;
	for (j = 0; j < npend; j++) {
		size_t k = pend[j];

		log_error("chunk %s (%s of %s): no tier has a good copy%s%s%s", ids[k], file, ctx(s),
			  bad[k] ? " (" : "", bad[k] ? bad[k] : "", bad[k] ? ")" : "");
		if (!rc)
			rc = why_rc[k] == -ENOENT ? -ENOENT :
			     why_rc[k] == -EKEYREJECTED ? -EKEYREJECTED :
			     why_rc[k] == -EBADMSG ? -EBADMSG : why_rc[k] ? why_rc[k] : -EIO;
	}
out:
	for (i = 0; bufs && i < n; i++)
		store_buf_release(&bufs[i]);
	free(ids);
	free(pids);
	free(bufs);
	free(pend);
	free(rcs);
	free(why_rc);
	for (i = 0; bad && i < n; i++)
		free(bad[i]);
	free(bad);
	return rc;
}

/* Stores the chunks (refs filled, not zero) into every persistent tier that lacks them. */
static int put_chunks(struct store *s, const struct store_chunk_ref *refs,
		      const uint8_t *const *datas, size_t n)
{
	char (*ids)[STORE_ID_MAX] = calloc(n ? n : 1, sizeof(*ids));
	struct store_buf *encs = calloc(n ? n : 1, sizeof(*encs));
	int *rcs = calloc(n ? n : 1, sizeof(*rcs));
	size_t *miss = calloc(n ? n : 1, sizeof(*miss)), nmiss, i, j, ti;
	char (*mids)[STORE_ID_MAX] = calloc(n ? n : 1, sizeof(*mids));
	int rc = -ENOMEM;

	if (!ids || !encs || !rcs || !miss || !mids)
		goto out;
	for (i = 0; i < n; i++)
		store_object_id(s, &refs[i], ids[i]);
	rc = 0;
	for (ti = 0; ti < s->nr_tiers && !rc; ti++) {
		struct store_tier *t = s->tiers[ti];

		if (t->ops->has_many)
			t->ops->has_many(t, STORE_OBJ_CHUNK, n, ids, rcs);
		else
			for (i = 0; i < n; i++)
				rcs[i] = t->ops->has(t, STORE_OBJ_CHUNK, ids[i]);
		for (i = 0, nmiss = 0; i < n; i++) {
			if (rcs[i] < 0) {
				rc = rcs[i];
				break;
			}
			if (rcs[i] == 0)
				miss[nmiss++] = i;
		}
		for (j = 0; j < nmiss && !rc; j++) {
			size_t k = miss[j];

			rc = store_chunk_encode(key_of(s), t->codec, t->level, &refs[k], datas[k],
						&encs[j]);
			memcpy(mids[j], ids[k], STORE_ID_MAX);
		}
		if (rc) {
			/* j == 0: the tier's has() failed (and said why); nothing was encoded */
			if (j)
				log_error("chunk %s: cannot encode: %s", ids[miss[j - 1]],
					  strerror(-rc));
			break;
		}
		if (t->ops->put_many) {
			t->ops->put_many(t, STORE_OBJ_CHUNK, nmiss, mids, encs, rcs);
		} else {
			for (j = 0; j < nmiss; j++)
				rcs[j] = t->ops->put(t, STORE_OBJ_CHUNK, mids[j], encs[j].data,
						     encs[j].len);
		}
		for (j = 0; j < nmiss; j++)
			if (rcs[j] && !rc)
				rc = rcs[j];
		if (rc)
			log_error("%s: could not store every chunk: %s", t->label, strerror(-rc));
	}
out:
	for (i = 0; encs && i < n; i++)
		store_buf_release(&encs[i]);
	free(ids);
	free(encs);
	free(rcs);
	free(miss);
	free(mids);
	return rc;
}

static int add_ref(struct store_file *f, const struct store_chunk_ref *ref)
{
	struct store_chunk_ref *v;

	if (f->nr_chunks >= STORE_MAX_CHUNKS)
		return -EFBIG;
	if ((f->nr_chunks & (f->nr_chunks - 1)) == 0) {
		v = realloc(f->chunks, (f->nr_chunks ? 2 * (size_t)f->nr_chunks : 16) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->chunks = v;
	}
	f->chunks[f->nr_chunks++] = *ref;
	return 0;
}

int store_put_buf(struct store *s, struct store_file *file, const void *data, size_t len)
{
	const uint8_t *p = data, *datas[BATCH];
	struct store_chunk_ref refs[BATCH];
	size_t off = 0, n = 0, i;
	int rc = 0;

	while (off < len || n) {
		if (off < len && n < BATCH) {
			struct store_chunk_ref *r = &refs[n];
			size_t clen = store_cut_next(p + off, len - off, s->chunk_avg);

			memset(r, 0, sizeof(*r));
			r->off = file->size + off;
			r->len = (uint32_t)clen;
			if (store_is_zero(p + off, clen)) {
				r->flags = STORE_CHUNK_ZERO;
			} else {
				store_sha256(p + off, clen, &r->digest);
				if (s->has_key)
					r->flags = STORE_CHUNK_ENCRYPTED;
			}
			datas[n++] = p + off;
			off += clen;
			continue;
		}
		{
			struct store_chunk_ref sref[BATCH];
			const uint8_t *sdat[BATCH];
			size_t m = 0;

			for (i = 0; i < n; i++) {
				if (refs[i].flags & STORE_CHUNK_ZERO)
					continue;
				sref[m] = refs[i];
				sdat[m++] = datas[i];
			}
			rc = put_chunks(s, sref, sdat, m);
			if (rc)
				return rc;
			for (i = 0; i < n; i++) {
				rc = add_ref(file, &refs[i]);
				if (rc)
					return rc;
				progress_add(refs[i].len);
			}
			n = 0;
		}
	}
	file->size += len;
	return 0;
}

int store_read_file(struct store *s, const struct store_file *file, uint64_t off, void *buf,
		    size_t len)
{
	uint8_t *outs[BATCH], *tmp[BATCH] = { 0 };
	size_t lo = 0, hi = file->nr_chunks, i, n;
	uint64_t end = off + len;
	int rc = 0;

	if (off > file->size || len > file->size - off)
		return -EINVAL;
	while (lo < hi) { /* first chunk that ends after off */
		size_t mid = (lo + hi) / 2;

		if (file->chunks[mid].off + file->chunks[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo < file->nr_chunks && file->chunks[lo].off < end && !rc) {
		for (n = 0; n < BATCH && lo + n < file->nr_chunks && file->chunks[lo + n].off < end;
		     n++) {
			const struct store_chunk_ref *r = &file->chunks[lo + n];

			if (r->off >= off && r->off + r->len <= end) {
				outs[n] = (uint8_t *)buf + (r->off - off);
				continue;
			}
			tmp[n] = malloc(r->len);
			if (!tmp[n]) {
				rc = -ENOMEM;
				break;
			}
			outs[n] = tmp[n];
		}
		if (!rc)
			rc = store_read_chunks(s, file->name, &file->chunks[lo], n, outs);
		for (i = 0; i < n; i++) {
			const struct store_chunk_ref *r = &file->chunks[lo + i];

			if (tmp[i] && !rc) {
				uint64_t from = r->off > off ? r->off : off;
				uint64_t to = r->off + r->len < end ? r->off + r->len : end;

				memcpy((uint8_t *)buf + (from - off), tmp[i] + (from - r->off), to - from);
			}
			free(tmp[i]);
			tmp[i] = NULL;
		}
		lo += n;
	}
	return rc;
}
