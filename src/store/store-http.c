/*
 * store-http.c - the remote tier: HTTP object storage.
 *
 *   GET/PUT/HEAD <base>/chunks/<id>, <base>/manifests/<id>, <base>/names/<name>
 * Any server that stores what is PUT and returns it on GET will do (nginx
 * with WebDAV PUT, S3-style gateways); an optional bearer token goes in the
 * Authorization header.  Batches run concurrently on one curl multi handle
 * (its connection cache keeps the connections alive), so a restore costs
 * about one round trip per http_parallel chunks, not one per chunk.
 *
 * Failures: a 5xx, a timeout or a broken connection is retried with
 * exponential backoff; a 404 is "absent"; any other 4xx is an error at once,
 * logged with the URL and status.  Responses are untrusted: a body larger
 * than the caller's bound aborts the transfer.
 *
 * s3://BUCKET/PREFIX is the same tier speaking S3 (store-s3.c says where and
 * who): every request is signed with SigV4 by libcurl; chunks and manifests
 * are put with If-None-Match: * (a 412 means another writer stored the same
 * content-addressed object first, which is success, and nothing is ever
 * overwritten by a second writer) except to repair a copy this process found
 * bad; a name is one PUT, which S3 makes visible whole or not at all; a 409
 * (concurrent conditional writes) is retried like a 5xx; error documents are
 * read (bounded, expat) for their Code, so that a wrong key or a missing
 * bucket says so; names are listed with ListObjectsV2, page by page.
 *
 * store_set_netns(): every batch runs with its thread in another network
 * namespace (setns() is per thread), so that curl's sockets and its resolver
 * threads, made during the batch, are made there; the thread comes back
 * after it.
 */
#define LOG_TAG "store"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CURL_DISABLE_TYPECHECK
#include "base/clock.h"
#include "base/curl-dl.h"
#include <openssl/crypto.h>

#include "base/log.h"
#include "store/store-internal.h"

enum { HTTP_GET, HTTP_PUT, HTTP_HEAD, HTTP_DELETE };

/* curl's receive buffer: a chunk in a few writes, not sixteen (its default is 16 KiB) */
#define HTTP_RECV_BUFFER (256L << 10)

struct http_tier {
	struct store_tier t;
	char base[2048];
	CURLM *multi;
	struct curl_slist *headers;
	struct curl_slist *headers_cond; /* S3: headers + If-None-Match: * */
	struct store_s3 *s3; /* NULL: plain HTTP */
	unsigned parallel, retries, backoff_ms, timeout_ms;
};

#define S3_ERROR_BODY_MAX 4096 /* of an error document kept to read its Code */

struct http_req {
	int method;
	bool cond; /* S3: If-None-Match: * */
	char url[6200]; /* base, or an S3 listing's bucket URL with its query */
	struct store_buf errbody; /* S3: an error document, bounded */
	const uint8_t *body;
	size_t body_len, body_off;
	struct store_buf *out;
	size_t max;
	bool too_big, want_errbody;
	bool keep_body; /* S3 CopyObject: a 200 may still carry an <Error> */
	struct curl_slist *hdrs; /* this request's own headers (owned), or NULL */
	int64_t mtime; /* HEAD on S3: Last-Modified, seconds; -1 unknown */
	int rc;
	unsigned attempts;
	uint64_t not_before;
	CURL *h;
	char err[CURL_ERROR_SIZE];
};

static struct http_tier *H(struct store_tier *t)
{
	return (struct http_tier *)t;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t n = size * nmemb;

	long status = 0;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	if (status && (status < 200 || status >= 300 || r->keep_body)) {
		/* S3's error documents say why; kept, bounded, to be read in finish() */
		if (r->want_errbody && r->errbody.len + n <= S3_ERROR_BODY_MAX &&
		    !store_buf_reserve(&r->errbody, r->errbody.len + n)) {
			memcpy(r->errbody.data + r->errbody.len, data, n);
			r->errbody.len += n;
		}
		/* an error page (nginx's 404: 150 bytes) is no object, and no reason to fail */
		return n;
	}
	if (r->method != HTTP_GET)
		return n; /* whatever a server says to a PUT is not kept */
	if (!r->out || r->out->len + n > r->max) {
		r->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (!r->out->len) {
		curl_off_t want = -1;

		/* the whole object at once: no copies as it grows (a bound checked above per write) */
		curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &want);
		if (want > 0 && (uint64_t)want <= r->max && store_buf_reserve(r->out, (size_t)want))
			return 0;
	}
	if (store_buf_reserve(r->out, r->out->len + n))
		return 0;
	memcpy(r->out->data + r->out->len, data, n);
	r->out->len += n;
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t n = size * nmemb;

	if (n > r->body_len - r->body_off)
		n = r->body_len - r->body_off;
	memcpy(buf, r->body + r->body_off, n);
	r->body_off += n;
	return n;
}

static int start(struct http_tier *ht, struct http_req *r)
{
	CURL *h = curl_easy_init();

	if (!h)
		return -ENOMEM;
	r->err[0] = 0;
	r->too_big = false;
	r->body_off = 0;
	r->errbody.len = 0;
	r->want_errbody = ht->s3 != NULL;
	if (r->out)
		r->out->len = 0;
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER,
			 r->hdrs ? r->hdrs : r->cond ? ht->headers_cond : ht->headers);
	if (ht->s3)
		store_s3_sign(ht->s3, h);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(ht->timeout_ms < 10000 ? ht->timeout_ms : 10000));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ht->timeout_ms);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, HTTP_RECV_BUFFER);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (r->method == HTTP_HEAD) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
	} else if (r->method == HTTP_DELETE) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (r->method == HTTP_PUT) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	}
	r->h = h;
	curl_multi_add_handle(ht->multi, h);
	return 0;
}

static const char *method_name(int m)
{
	return m == HTTP_GET ? "GET" : m == HTTP_PUT ? "PUT" : m == HTTP_HEAD ? "HEAD" : "DELETE";
}

/* What an S3 server's answer means, where it differs from plain HTTP; false: as HTTP. */
static bool s3_status(struct http_tier *ht, struct http_req *r, long status)
{
	char code[64] = "";

	if (r->errbody.len)
		store_s3_error_code(r->errbody.data, r->errbody.len, code, sizeof(code));
	if (status == 412 && r->cond) {
		r->rc = 0; /* another writer put this content-addressed object first */
		return true;
	}
	if (status == 404 && !strcmp(code, "NoSuchBucket")) {
		log_error("%s: bucket %s does not exist (%s %s: HTTP 404 NoSuchBucket)", ht->t.label,
			  ht->s3->bucket, method_name(r->method), r->url);
		r->rc = -ENXIO;
		return true;
	}
	if (status == 401 || status == 403) {
		log_error("%s: bucket %s refused %s %s: HTTP %ld%s%s (check the credentials, "
			  "region %s and the bucket's policy)",
			  ht->t.label, ht->s3->bucket, method_name(r->method), r->url, status,
			  code[0] ? " " : "", code, ht->s3->region);
		r->rc = -EACCES;
		return true;
	}
	if (status >= 400 && status < 500 && status != 404 && status != 409) {
		log_error("%s: bucket %s: %s %s: HTTP %ld%s%s", ht->t.label, ht->s3->bucket,
			  method_name(r->method), r->url, status, code[0] ? " " : "", code);
		r->rc = -EPROTO;
		return true;
	}
	return false;
}

/* Decides what a finished transfer means; true when it should be tried again. */
static bool finish(struct http_tier *ht, struct http_req *r, CURLcode cc)
{
	curl_off_t ft = -1;
	long status = 0;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	if (r->method == HTTP_HEAD && curl_easy_getinfo(r->h, CURLINFO_FILETIME_T, &ft) == CURLE_OK)
		r->mtime = ft;
	curl_multi_remove_handle(ht->multi, r->h);
	curl_easy_cleanup(r->h);
	r->h = NULL;
	r->attempts++;
	if (cc == CURLE_OK) {
		char code[64] = "";

		if (r->keep_body && status >= 200 && status < 300 && r->errbody.len)
			store_s3_error_code(r->errbody.data, r->errbody.len, code, sizeof(code));
		if (status >= 200 && status < 300 && !code[0]) {
			r->rc = 0;
			return false;
		}
		if (code[0]) {
			log_debug("%s: HTTP %ld with error %s", r->url, status, code);
			status = 500; /* S3 says a copy may fail after its 200: as a 5xx */
		} else if (ht->s3 && s3_status(ht, r, status))
			return false;
		if (status == 404) {
			r->rc = -ENOENT;
			return false;
		}
		if (status < 500 && status != 409) {
			log_error("%s: HTTP %ld from the server", r->url, status);
			r->rc = status == 401 || status == 403 ? -EACCES : -EPROTO;
			return false;
		}
		r->rc = -EIO; /* a 5xx (S3's 503 SlowDown: back off) or S3's 409: again */
	} else if (r->too_big) {
		log_error("%s: response larger than %zu bytes", r->url, r->max);
		r->rc = -EFBIG;
		return false;
	} else {
		r->rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
			cc == CURLE_COULDNT_CONNECT    ? -ECONNREFUSED :
							 -EIO;
	}
	if (r->attempts <= ht->retries) {
		unsigned delay = ht->backoff_ms << (r->attempts - 1);

		log_debug("%s: %s; retry %u in %u ms", r->url,
			  cc == CURLE_OK ? "server error" : (r->err[0] ? r->err : curl_easy_strerror(cc)),
			  r->attempts, delay);
		r->not_before = (uint64_t)now_ms() + delay;
		return true;
	}
	if (cc == CURLE_OK)
		log_error("%s: HTTP %ld after %u attempts", r->url, status, r->attempts);
	else
		log_error("%s: %s after %u attempts", r->url,
			  r->err[0] ? r->err : curl_easy_strerror(cc), r->attempts);
	return false;
}

static int store_netns = -1; /* store_set_netns(); set once, before any batch */

int store_set_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return log_errno("%s: the store's network namespace", path);
	if (store_netns >= 0)
		close(store_netns);
	store_netns = fd;
	return 0;
}

/* Into the store's network namespace; returns the thread's own to come back to, or -1. */
static int netns_enter(void)
{
	int self;

	if (store_netns < 0)
		return -1;
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		log_warn("/proc/thread-self/ns/net: %s; the store is reached from here",
			 strerror(errno));
		return -1;
	}
	if (setns(store_netns, CLONE_NEWNET)) {
		log_warn("entering the store's network namespace: %s", strerror(errno));
		close(self);
		return -1;
	}
	return self;
}

static void netns_leave(int self)
{
	if (self < 0)
		return;
	if (setns(self, CLONE_NEWNET)) {
		/* every later socket of this thread would be in the wrong namespace */
		log_error("returning from the store's network namespace: %s", strerror(errno));
		abort();
	}
	close(self);
}

/* Runs every request to its end (success, absence, error); each gets rc. */
static void run(struct http_tier *ht, struct http_req *reqs, size_t n)
{
	size_t next = 0, active = 0, done = 0, i;
	size_t *retry = calloc(n ? n : 1, sizeof(*retry)), nretry = 0;
	int ns;

	if (!retry) {
		for (i = 0; i < n; i++)
			reqs[i].rc = -ENOMEM;
		return;
	}
	ns = netns_enter();
	while (done < n) {
		uint64_t now = (uint64_t)now_ms(), wait = 100;
		CURLMsg *msg;
		int left, running;

		for (i = 0; i < nretry && active < ht->parallel;) {
			struct http_req *r = &reqs[retry[i]];

			if (r->not_before <= now) {
				if (start(ht, r)) {
					r->rc = -ENOMEM;
					done++;
				} else {
					active++;
				}
				retry[i] = retry[--nretry];
				continue;
			}
			if (r->not_before - now < wait)
				wait = r->not_before - now;
			i++;
		}
		while (next < n && active < ht->parallel) {
			if (start(ht, &reqs[next])) {
				reqs[next].rc = -ENOMEM;
				done++;
			} else {
				active++;
			}
			next++;
		}
		curl_multi_perform(ht->multi, &running);
		while ((msg = curl_multi_info_read(ht->multi, &left))) {
			struct http_req *r;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			active--;
			if (finish(ht, r, msg->data.result))
				retry[nretry++] = (size_t)(r - reqs);
			else
				done++;
		}
		if (done < n && active)
			curl_multi_poll(ht->multi, NULL, 0, (int)wait, NULL);
		else if (done < n && nretry)
			nanosleep(&(struct timespec){ .tv_nsec = (long)wait * 1000000 }, NULL);
	}
	netns_leave(ns);
	for (i = 0; i < n; i++) {
		store_buf_release(&reqs[i].errbody);
		curl_slist_free_all(reqs[i].hdrs);
		reqs[i].hdrs = NULL;
	}
	free(retry);
}

static void obj_url(struct http_tier *ht, int kind, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s/%s", ht->base, kind == STORE_OBJ_CHUNK ? "chunks" : "manifests",
		 id);
}

static void http_get_many(struct store_tier *t, int kind, size_t n, char (*ids)[STORE_ID_MAX],
			  size_t max, struct store_buf *outs, int *rcs)
{
	struct http_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t i;

	if (!reqs) {
		for (i = 0; i < n; i++)
			rcs[i] = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		reqs[i].method = HTTP_GET;
		obj_url(H(t), kind, ids[i], reqs[i].url, sizeof(reqs[i].url));
		reqs[i].out = &outs[i];
		reqs[i].max = max;
	}
	run(H(t), reqs, n);
	for (i = 0; i < n; i++)
		rcs[i] = reqs[i].rc;
	free(reqs);
}

/*
 * Objects this process found bad on a server (a chunk that failed its
 * check).  The server is not asked to delete them (other readers share it);
 * instead HEAD reports them absent to this process, so that its next put
 * overwrites them: thaw run's cold start after a bad chunk repairs the
 * server for every host.  Process-wide, as the restore's threads each have
 * a tier of their own; bounded, the oldest forgotten first.
 */
#define BAD_MAX 1024
static struct {
	pthread_mutex_t lock;
	struct bad_obj {
		uint64_t base; /* hash of the tier's base URL */
		char id[STORE_ID_MAX];
	} objs[BAD_MAX];
	size_t nr, next;
} bad = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t base_hash(const struct http_tier *ht)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	const char *p;

	for (p = ht->base; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return h;
}

static struct bad_obj *bad_find(uint64_t base, const char *id)
{
	size_t i;

	for (i = 0; i < bad.nr; i++)
		if (bad.objs[i].base == base && !strcmp(bad.objs[i].id, id))
			return &bad.objs[i];
	return NULL;
}

static bool is_bad(const struct http_tier *ht, const char *id)
{
	bool found;

	pthread_mutex_lock(&bad.lock);
	found = bad_find(base_hash(ht), id) != NULL;
	pthread_mutex_unlock(&bad.lock);
	return found;
}

static void set_bad(const struct http_tier *ht, const char *id, bool is)
{
	uint64_t base = base_hash(ht);
	struct bad_obj *o;

	pthread_mutex_lock(&bad.lock);
	o = bad_find(base, id);
	if (is && !o) {
		o = &bad.objs[bad.next];
		bad.next = (bad.next + 1) % BAD_MAX;
		if (bad.nr < BAD_MAX)
			bad.nr++;
		o->base = base;
		snprintf(o->id, sizeof(o->id), "%s", id);
	} else if (!is && o) {
		o->base = 0;
		o->id[0] = 0;
	}
	pthread_mutex_unlock(&bad.lock);
}

/*
 * gc's grace period counts from an object's Last-Modified; the disk tier's
 * has() touches a chunk a writer is about to reuse, and on S3 the same is a
 * copy of the object onto itself (no bytes travel).  Objects found present
 * and older than S3_REFRESH_AGE are refreshed; a chunk whose copy fails is
 * reported absent, so that the writer puts it again (unconditionally, over
 * its old self: the "bad" list), a manifest's failure is the has's error.
 */
static void s3_refresh(struct http_tier *ht, int kind, size_t n, char (*ids)[STORE_ID_MAX],
		       struct http_req *heads, int *rcs)
{
	struct http_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t *which = calloc(n ? n : 1, sizeof(*which)), m = 0, i;
	int64_t now = (int64_t)time(NULL), age = store_s3_refresh_age();
	char src[1200], hdr[1300];
	const struct curl_slist *l;

	for (i = 0; reqs && which && i < n; i++) {
		struct http_req *r = &reqs[m];

		if (rcs[i] != 1 || heads[i].mtime < 0 || now - heads[i].mtime < age)
			continue;
		r->method = HTTP_PUT;
		r->keep_body = true;
		obj_url(ht, kind, ids[i], r->url, sizeof(r->url));
		snprintf(src, sizeof(src), "/%s/%s%s/%s", ht->s3->bucket, ht->s3->prefix,
			 kind == STORE_OBJ_CHUNK ? "chunks" : "manifests", ids[i]);
		snprintf(hdr, sizeof(hdr), "x-amz-copy-source: %s", src);
		for (l = ht->headers; l; l = l->next)
			r->hdrs = curl_slist_append(r->hdrs, l->data);
		r->hdrs = curl_slist_append(r->hdrs, hdr);
		r->hdrs = curl_slist_append(r->hdrs, "x-amz-metadata-directive: REPLACE");
		which[m++] = i;
	}
	if (!reqs || !which) {
		for (i = 0; i < n; i++)
			if (rcs[i] == 1 && heads[i].mtime >= 0 && now - heads[i].mtime >= age)
				rcs[i] = -ENOMEM;
		goto out;
	}
	if (m)
		log_debug("%s: refreshing %zu objects older than %lld s", ht->t.label, m,
			  (long long)age);
	run(ht, reqs, m);
	for (i = 0; i < m; i++) {
		size_t k = which[i];

		if (!reqs[i].rc)
			continue;
		if (kind == STORE_OBJ_CHUNK) {
			set_bad(ht, ids[k], true);
			rcs[k] = 0;
		} else {
			rcs[k] = reqs[i].rc;
		}
	}
out:
	free(reqs);
	free(which);
}

static void http_has_many(struct store_tier *t, int kind, size_t n, char (*ids)[STORE_ID_MAX],
			  int *rcs)
{
	struct http_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t i;

	if (!reqs) {
		for (i = 0; i < n; i++)
			rcs[i] = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		reqs[i].method = HTTP_HEAD;
		reqs[i].mtime = -1;
		obj_url(H(t), kind, ids[i], reqs[i].url, sizeof(reqs[i].url));
	}
	run(H(t), reqs, n);
	for (i = 0; i < n; i++) {
		rcs[i] = reqs[i].rc == 0 ? 1 : reqs[i].rc == -ENOENT ? 0 : reqs[i].rc;
		if (rcs[i] == 1 && kind == STORE_OBJ_CHUNK && is_bad(H(t), ids[i]))
			rcs[i] = 0; /* there, but bad: to be put again */
	}
	if (H(t)->s3)
		s3_refresh(H(t), kind, n, ids, reqs, rcs);
	free(reqs);
}

static void http_put_many(struct store_tier *t, int kind, size_t n, char (*ids)[STORE_ID_MAX],
			  const struct store_buf *datas, int *rcs)
{
	struct http_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t i;

	if (!reqs) {
		for (i = 0; i < n; i++)
			rcs[i] = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		reqs[i].method = HTTP_PUT;
		obj_url(H(t), kind, ids[i], reqs[i].url, sizeof(reqs[i].url));
		/* S3: never over another writer's copy, except to repair one found bad */
		reqs[i].cond = H(t)->s3 && !(kind == STORE_OBJ_CHUNK && is_bad(H(t), ids[i]));
		reqs[i].body = datas[i].data;
		reqs[i].body_len = datas[i].len;
	}
	run(H(t), reqs, n);
	for (i = 0; i < n; i++) {
		rcs[i] = reqs[i].rc;
		if (!rcs[i] && kind == STORE_OBJ_CHUNK)
			set_bad(H(t), ids[i], false);
	}
	free(reqs);
}

static int http_get(struct store_tier *t, int kind, const char *id, size_t max,
		    struct store_buf *out)
{
	char ids[1][STORE_ID_MAX];
	int rc;

	snprintf(ids[0], STORE_ID_MAX, "%s", id);
	http_get_many(t, kind, 1, ids, max, out, &rc);
	return rc == -EFBIG ? -EBADMSG : rc;
}

static int http_put(struct store_tier *t, int kind, const char *id, const void *data, size_t len)
{
	struct store_buf b = { .data = (uint8_t *)data, .len = len };
	char ids[1][STORE_ID_MAX];
	int rc;

	snprintf(ids[0], STORE_ID_MAX, "%s", id);
	http_put_many(t, kind, 1, ids, &b, &rc);
	return rc;
}

static int http_has(struct store_tier *t, int kind, const char *id)
{
	char ids[1][STORE_ID_MAX];
	int rc;

	snprintf(ids[0], STORE_ID_MAX, "%s", id);
	http_has_many(t, kind, 1, ids, &rc);
	return rc;
}

/* A server is not asked to delete: this process's next put overwrites the bad copy. */
static void http_discard(struct store_tier *t, int kind, const char *id)
{
	if (kind == STORE_OBJ_CHUNK)
		set_bad(H(t), id, true);
}

/* A name's URL; S3 wants '+', '@' and ':' percent-encoded (SigV4 signs the encoded path). */
static void name_url(struct http_tier *ht, const char *name, char *out, size_t cap)
{
	char enc[3 * STORE_NAME_MAX + 1];

	if (!ht->s3 || store_s3_encode(name, false, enc, sizeof(enc)))
		snprintf(enc, sizeof(enc), "%s", name);
	if ((size_t)snprintf(out, cap, "%s/names/%s", ht->base, enc) >= cap)
		out[0] = 0; /* cannot happen: base and name are bounded; and "" fails to fetch */
}

static int http_name_get(struct store_tier *t, const char *name, struct store_buf *out)
{
	struct http_req r = { .method = HTTP_GET, .out = out, .max = STORE_NAME_FILE_MAX };

	name_url(H(t), name, r.url, sizeof(r.url));
	run(H(t), &r, 1);
	return r.rc == -EFBIG ? -EBADMSG : r.rc;
}

/* One PUT: a server (S3 too) makes it visible whole or not at all; the last writer wins. */
static int http_name_set(struct store_tier *t, const char *name, const void *data, size_t len)
{
	struct http_req r = { .method = HTTP_PUT, .body = data, .body_len = len };

	name_url(H(t), name, r.url, sizeof(r.url));
	run(H(t), &r, 1);
	return r.rc;
}

#define S3_LIST_PAGES_MAX 100000 /* 10^8 keys: a listing that does not end is an error */

/*
 * ListObjectsV2 of PREFIX + sub, page by page; fn gets each key less that
 * prefix.  The query is written in SigV4's canonical form (parameters sorted,
 * values encoded), which libcurl signs as it stands.
 */
static int s3_list(struct http_tier *ht, const char *sub,
		   int (*fn)(const char *rest, int64_t modified, uint64_t size, void *arg), void *arg)
{
	struct s3_list_page *pg = malloc(sizeof(*pg));
	struct store_buf body = { 0 };
	char full[600], pfx[1800], tok[3200];
	const char *mk = getenv("THAW_S3_MAX_KEYS"); /* smaller pages: for the tests */
	size_t pages = 0, i, plen;
	long max_keys = mk ? strtol(mk, NULL, 10) : S3_LIST_PAGE_MAX;
	int rc = -ENOMEM;

	if (!pg)
		return rc;
	if (max_keys < 1 || max_keys > S3_LIST_PAGE_MAX)
		max_keys = S3_LIST_PAGE_MAX;
	snprintf(full, sizeof(full), "%s%s", ht->s3->prefix, sub);
	plen = strlen(full);
	rc = store_s3_encode(full, false, pfx, sizeof(pfx));
	tok[0] = 0;
	while (!rc) {
		struct http_req r = { .method = HTTP_GET, .out = &body, .max = S3_XML_MAX };

		if (++pages > S3_LIST_PAGES_MAX) {
			log_error("%s: listing %s: more than %d pages", ht->t.label, full,
				  S3_LIST_PAGES_MAX);
			rc = -EFBIG;
			break;
		}
		if ((size_t)snprintf(r.url, sizeof(r.url), "%s/?%s%s%slist-type=2&max-keys=%ld&prefix=%s",
				     ht->s3->bucket_url, tok[0] ? "continuation-token=" : "", tok,
				     tok[0] ? "&" : "", max_keys, pfx) >= sizeof(r.url)) {
			rc = -ENAMETOOLONG;
			break;
		}
		run(ht, &r, 1);
		rc = r.rc;
		if (rc == -ENOENT)
			log_error("%s: listing %s: HTTP 404", ht->t.label, full);
		if (rc)
			break;
		rc = store_s3_parse_list(body.data, body.len, pg);
		if (rc) {
			log_error("%s: listing %s: not a ListObjectsV2 answer, or beyond its bounds",
				  ht->t.label, full);
			break;
		}
		for (i = 0; i < pg->nr && !rc; i++) {
			if (strncmp(pg->v[i].key, full, plen))
				continue; /* not under the prefix asked for: ignored */
			rc = fn(pg->v[i].key + plen, pg->v[i].modified, pg->v[i].size, arg);
		}
		if (rc || !pg->truncated)
			break;
		rc = store_s3_encode(pg->next_token, false, tok, sizeof(tok));
	}
	store_buf_release(&body);
	free(pg);
	return rc;
}

struct name_vec {
	char **v;
	size_t n;
};

static int add_name(const char *rest, int64_t modified, uint64_t size, void *arg)
{
	struct name_vec *nv = arg;
	char **v;

	(void)modified;
	(void)size;
	if (!store_name_valid(rest))
		return 0; /* not one of ours */
	v = realloc(nv->v, (nv->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	nv->v = v;
	if (!(v[nv->n] = strdup(rest)))
		return -ENOMEM;
	nv->n++;
	return 0;
}

struct scan_arg {
	int (*fn)(const char *id, int64_t modified, uint64_t size, void *arg);
	void *arg;
};

static int scan_one(const char *rest, int64_t modified, uint64_t size, void *arg)
{
	struct scan_arg *sa = arg;
	struct store_digest d;

	if (store_digest_parse(rest, &d))
		return 0; /* not an object of ours: never touched */
	return sa->fn(rest, modified, size, sa->arg);
}

static int http_scan(struct store_tier *t, int kind,
		     int (*fn)(const char *id, int64_t modified, uint64_t size, void *arg), void *arg)
{
	struct scan_arg sa = { fn, arg };

	if (!H(t)->s3)
		return -EOPNOTSUPP;
	return s3_list(H(t), kind == STORE_OBJ_CHUNK ? "chunks/" : "manifests/", scan_one, &sa);
}

static void http_remove_many(struct store_tier *t, int kind, size_t n,
			     char (*ids)[STORE_ID_MAX], int *rcs)
{
	struct http_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t i;

	for (i = 0; i < n; i++) {
		if (!reqs) {
			rcs[i] = -ENOMEM;
			continue;
		}
		reqs[i].method = HTTP_DELETE;
		obj_url(H(t), kind, ids[i], reqs[i].url, sizeof(reqs[i].url));
	}
	if (!reqs)
		return;
	run(H(t), reqs, n);
	for (i = 0; i < n; i++)
		rcs[i] = reqs[i].rc == -ENOENT ? 0 : reqs[i].rc;
	free(reqs);
}

static int http_names(struct store_tier *t, char ***ret, size_t *nr)
{
	struct name_vec nv = { 0 };
	int rc;

	if (!H(t)->s3) {
		log_error("%s: a remote store cannot list its names; ask for one by name",
			  t->label);
		return -EOPNOTSUPP;
	}
	rc = s3_list(H(t), "names/", add_name, &nv);
	if (rc) {
		while (nv.n)
			free(nv.v[--nv.n]);
		free(nv.v);
		return rc;
	}
	*ret = nv.v;
	*nr = nv.n;
	return 0;
}

static void http_free(struct store_tier *t)
{
	curl_multi_cleanup(H(t)->multi);
	curl_slist_free_all(H(t)->headers);
	curl_slist_free_all(H(t)->headers_cond);
	if (H(t)->s3)
		OPENSSL_cleanse(H(t)->s3, sizeof(*H(t)->s3));
	free(H(t)->s3);
	free(t);
}

static const struct store_tier_ops http_ops = {
	.get = http_get,
	.put = http_put,
	.has = http_has,
	.discard = http_discard,
	.name_get = http_name_get,
	.name_set = http_name_set,
	.get_many = http_get_many,
	.has_many = http_has_many,
	.put_many = http_put_many,
	.names = http_names,
	.scan = http_scan,
	.remove_many = http_remove_many,
	.free = http_free,
};

struct store_tier *store_http_open(const struct store_config *cfg)
{
	struct http_tier *ht;
	char auth[2200];
	size_t len = strlen(cfg->url);
	bool s3 = !strncmp(cfg->url, "s3://", 5);

	if (len >= sizeof(ht->base) ||
	    (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8) && !s3)) {
		log_error("store URL %.80s: want http(s)://host/path or s3://bucket/prefix",
			  cfg->url);
		return NULL;
	}
	if (!s3) {
		/* user:password@host: thaw names the URL in every line it logs about the store */
		const char *host = strstr(cfg->url, "://") + 3;

		if (memchr(host, '@', strcspn(host, "/?#"))) {
			log_error("store URL %.*s...: credentials in a URL would be logged with it; "
				  "give a bearer token with --token or $THAW_STORE_TOKEN",
				  (int)(host - cfg->url), cfg->url);
			return NULL;
		}
	}
	if (cfg->token && (strlen(cfg->token) > 1024 || strpbrk(cfg->token, "\r\n"))) {
		log_error("store URL %s: bad bearer token", cfg->url);
		return NULL;
	}
	if (curl_dl_load() < 0)
		return NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ht = calloc(1, sizeof(*ht));
	if (!ht)
		return NULL;
	ht->t.ops = &http_ops;
	if (s3) {
		ht->s3 = malloc(sizeof(*ht->s3));
		if (!ht->s3 || store_s3_config(cfg, ht->s3, ht->base, sizeof(ht->base))) {
			http_free(&ht->t);
			return NULL;
		}
		snprintf(ht->t.label, sizeof(ht->t.label), "store %.240s", cfg->url);
		ht->t.sweepable = true;
	} else {
		snprintf(ht->base, sizeof(ht->base), "%s", cfg->url);
		while (len > 0 && ht->base[len - 1] == '/')
			ht->base[--len] = 0;
		snprintf(ht->t.label, sizeof(ht->t.label), "store %.240s", ht->base);
	}
	ht->parallel = cfg->http_parallel ? cfg->http_parallel : 16;
	ht->retries = cfg->http_retries ? cfg->http_retries : 4;
	ht->backoff_ms = cfg->http_backoff_ms ? cfg->http_backoff_ms : 100;
	ht->timeout_ms = cfg->http_timeout_ms ? cfg->http_timeout_ms : 30000;
	ht->multi = curl_multi_init();
	/*
	 * No 100-continue round trip.  Not for S3: libcurl would sign the
	 * empty "Expect:" that only tells it to send none (curl adds its own,
	 * unsigned, only for bodies over 1 MiB)
	 */
	ht->headers = curl_slist_append(NULL, s3 ? "Accept: */*" : "Expect:");
	if (cfg->token && !s3) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->token);
		ht->headers = curl_slist_append(ht->headers, auth);
	}
	/*
	 * libcurl 7.88 signs the hash of an empty body unless told otherwise
	 * and sends no x-amz-content-sha256, which S3 requires; this header is
	 * both (docs/store.md: the bodies are checked by their digests anyway)
	 */
	if (s3)
		ht->headers = curl_slist_append(ht->headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (s3 && ht->s3->token[0]) {
		snprintf(auth, sizeof(auth), "x-amz-security-token: %s", ht->s3->token);
		ht->headers = curl_slist_append(ht->headers, auth);
	}
	if (s3 && ht->headers) {
		struct curl_slist *l;

		for (l = ht->headers; l; l = l->next)
			ht->headers_cond = curl_slist_append(ht->headers_cond, l->data);
		ht->headers_cond = curl_slist_append(ht->headers_cond, "If-None-Match: *");
	}
	if (!ht->multi || !ht->headers || (s3 && !ht->headers_cond)) {
		http_free(&ht->t);
		return NULL;
	}
	curl_multi_setopt(ht->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)ht->parallel);
	return &ht->t;
}
