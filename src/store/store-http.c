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
 */
#define LOG_TAG "store"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "base/log.h"
#include "store/store-internal.h"

enum { HTTP_GET, HTTP_PUT, HTTP_HEAD };

/* curl's receive buffer: a chunk in a few writes, not sixteen (its default is 16 KiB) */
#define HTTP_RECV_BUFFER (256L << 10)

struct http_tier {
	struct store_tier t;
	char base[2048];
	CURLM *multi;
	struct curl_slist *headers;
	unsigned parallel, retries, backoff_ms, timeout_ms;
};

struct http_req {
	int method;
	char url[2300];
	const uint8_t *body;
	size_t body_len, body_off;
	struct store_buf *out;
	size_t max;
	bool too_big;
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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t n = size * nmemb;

	long status = 0;

	if (r->method != HTTP_GET)
		return n; /* whatever a server says to a PUT is not kept */
	/* nor an error page: a 404's body (nginx: 150 bytes) is no object, and no reason to fail */
	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	if (status && (status < 200 || status >= 300))
		return n;
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
	if (r->out)
		r->out->len = 0;
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, ht->headers);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(ht->timeout_ms < 10000 ? ht->timeout_ms : 10000));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ht->timeout_ms);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, HTTP_RECV_BUFFER);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (r->method == HTTP_HEAD) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
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

/* Decides what a finished transfer means; true when it should be tried again. */
static bool finish(struct http_tier *ht, struct http_req *r, CURLcode cc)
{
	long status = 0;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(ht->multi, r->h);
	curl_easy_cleanup(r->h);
	r->h = NULL;
	r->attempts++;
	if (cc == CURLE_OK) {
		if (status >= 200 && status < 300) {
			r->rc = 0;
			return false;
		}
		if (status == 404) {
			r->rc = -ENOENT;
			return false;
		}
		if (status < 500) {
			log_error("%s: HTTP %ld from the server", r->url, status);
			r->rc = status == 401 || status == 403 ? -EACCES : -EPROTO;
			return false;
		}
		r->rc = -EIO;
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
		r->not_before = now_ms() + delay;
		return true;
	}
	if (cc == CURLE_OK)
		log_error("%s: HTTP %ld after %u attempts", r->url, status, r->attempts);
	else
		log_error("%s: %s after %u attempts", r->url,
			  r->err[0] ? r->err : curl_easy_strerror(cc), r->attempts);
	return false;
}

/* Runs every request to its end (success, absence, error); each gets rc. */
static void run(struct http_tier *ht, struct http_req *reqs, size_t n)
{
	size_t next = 0, active = 0, done = 0, i;
	size_t *retry = calloc(n ? n : 1, sizeof(*retry)), nretry = 0;

	if (!retry) {
		for (i = 0; i < n; i++)
			reqs[i].rc = -ENOMEM;
		return;
	}
	while (done < n) {
		uint64_t now = now_ms(), wait = 100;
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
		obj_url(H(t), kind, ids[i], reqs[i].url, sizeof(reqs[i].url));
	}
	run(H(t), reqs, n);
	for (i = 0; i < n; i++) {
		rcs[i] = reqs[i].rc == 0 ? 1 : reqs[i].rc == -ENOENT ? 0 : reqs[i].rc;
		if (rcs[i] == 1 && kind == STORE_OBJ_CHUNK && is_bad(H(t), ids[i]))
			rcs[i] = 0; /* there, but bad: to be put again */
	}
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

static int http_name_get(struct store_tier *t, const char *name, struct store_buf *out)
{
	struct http_req r = { .method = HTTP_GET, .out = out, .max = STORE_NAME_FILE_MAX };

	snprintf(r.url, sizeof(r.url), "%s/names/%s", H(t)->base, name);
	run(H(t), &r, 1);
	return r.rc == -EFBIG ? -EBADMSG : r.rc;
}

static int http_name_set(struct store_tier *t, const char *name, const void *data, size_t len)
{
	struct http_req r = { .method = HTTP_PUT, .body = data, .body_len = len };

	snprintf(r.url, sizeof(r.url), "%s/names/%s", H(t)->base, name);
	run(H(t), &r, 1);
	return r.rc;
}

static void http_free(struct store_tier *t)
{
	curl_multi_cleanup(H(t)->multi);
	curl_slist_free_all(H(t)->headers);
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
	.free = http_free,
};

struct store_tier *store_http_open(const struct store_config *cfg)
{
	struct http_tier *ht;
	char auth[1100];
	size_t len = strlen(cfg->url);

	if (len >= sizeof(ht->base) ||
	    (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8))) {
		log_error("store URL %.80s: want http(s)://host/path", cfg->url);
		return NULL;
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
	snprintf(ht->base, sizeof(ht->base), "%s", cfg->url);
	while (len > 0 && ht->base[len - 1] == '/')
		ht->base[--len] = 0;
	snprintf(ht->t.label, sizeof(ht->t.label), "http %.240s", ht->base);
	ht->parallel = cfg->http_parallel ? cfg->http_parallel : 16;
	ht->retries = cfg->http_retries ? cfg->http_retries : 4;
	ht->backoff_ms = cfg->http_backoff_ms ? cfg->http_backoff_ms : 100;
	ht->timeout_ms = cfg->http_timeout_ms ? cfg->http_timeout_ms : 30000;
	ht->multi = curl_multi_init();
	ht->headers = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
	if (cfg->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->token);
		ht->headers = curl_slist_append(ht->headers, auth);
	}
	if (!ht->multi || !ht->headers) {
		http_free(&ht->t);
		return NULL;
	}
	curl_multi_setopt(ht->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)ht->parallel);
	return &ht->t;
}
