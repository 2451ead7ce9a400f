/*
 * store-s3.c - what S3-compatible object storage adds to the HTTP tier:
 * where s3://BUCKET/PREFIX lives, whose credentials sign the requests, and
 * reading the XML that such a server answers with.
 *
 * The transfers themselves (concurrency, retries, bounds) are store-http.c's;
 * libcurl signs every request with SigV4 (CURLOPT_AWS_SIGV4), so no secret
 * is handled here beyond reading it.  Everything a server answers is hostile
 * input: listings and error documents are parsed with expat, bounded in
 * size, depth, keys and the length of every text, and a document type (the
 * door to entity expansion) stops the parse.
 */
#define LOG_TAG "store"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include <expat.h>

#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "base/log.h"
#include "store/store-internal.h"

#define CRED_FILE_MAX (64u << 10)
#define XML_DEPTH_MAX 8
#define XML_TEXT_MAX 1024 /* S3 keys are at most 1024 bytes */

static bool bucket_valid(const char *b, size_t n)
{
	size_t i;

	if (n < 3 || n > 63 || b[0] == '.' || b[0] == '-' || b[n - 1] == '.' || b[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '.' ||
		      b[i] == '-'))
			return false;
	return true;
}

/* A prefix of plain path segments: no encoding needed, nothing that climbs. */
static bool prefix_valid(const char *p)
{
	const char *seg = p;

	if (strlen(p) > 512)
		return false;
	for (; *p; p++) {
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-' || *p == '/'))
			return false;
		if (*p == '/' || !p[1]) {
			size_t len = (size_t)(p - seg) + (*p != '/');

			if (!len || (len == 1 && seg[0] == '.') ||
			    (len == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			seg = p + 1;
		}
	}
	return true;
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	memmove(s, s + strspn(s, " \t"), strlen(s + strspn(s, " \t")) + 1);
}

/* A credential is used whole or not at all: a cut one would only sign wrongly. */
static int copy_val(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

/*
 * The credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials):
 * "[profile]" sections of "key = value" lines; the profile is AWS_PROFILE or
 * "default".  Only the three keys thaw needs are read.
 */
static int read_cred_file(struct store_s3 *s3)
{
	const char *path = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
	const char *profile = getenv("AWS_PROFILE");
	char buf[PATH_MAX], line[4096];
	size_t total = 0;
	bool in = false;
	FILE *f;

	if (!profile || !*profile)
		profile = "default";
	if (!path || !*path) {
		snprintf(buf, sizeof(buf), "%s/.aws/credentials", home && *home ? home : "/root");
		path = buf;
	}
	f = fopen(path, "re");
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *eq;

		total += strlen(line);
		if (total > CRED_FILE_MAX || (!strchr(line, '\n') && !feof(f))) {
			log_error("%s: too large, or a line too long", path);
			fclose(f);
			return -EINVAL;
		}
		trim(line);
		if (line[0] == '[') {
			char *end = strchr(line, ']');

			if (end) {
				*end = 0;
				memmove(line, line + 1, strlen(line + 1) + 1);
				trim(line);
				in = !strcmp(line, profile);
			}
			continue;
		}
		eq = strchr(line, '=');
		if (!in || !eq || line[0] == '#' || line[0] == ';')
			continue;
		*eq = 0;
		trim(line);
		trim(eq + 1);
		if ((!strcmp(line, "aws_access_key_id") &&
		     copy_val(s3->key_id, sizeof(s3->key_id), eq + 1)) ||
		    (!strcmp(line, "aws_secret_access_key") &&
		     copy_val(s3->secret, sizeof(s3->secret), eq + 1)) ||
		    (!strcmp(line, "aws_session_token") &&
		     copy_val(s3->token, sizeof(s3->token), eq + 1))) {
			log_error("%s: %s is too long", path, line);
			fclose(f);
			return -EINVAL;
		}
	}
	fclose(f);
	if (!s3->key_id[0] || !s3->secret[0]) {
		log_error("%s: profile %s has no aws_access_key_id and aws_secret_access_key",
			  path, profile);
		return -EINVAL;
	}
	return 0;
}

static int credentials(struct store_s3 *s3)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN"), *region = getenv("AWS_REGION");
	int rc;

	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	snprintf(s3->region, sizeof(s3->region), "%s", region && *region ? region : "us-east-1");
	if (id && *id && secret && *secret) {
		if (copy_val(s3->key_id, sizeof(s3->key_id), id) ||
		    copy_val(s3->secret, sizeof(s3->secret), secret) ||
		    copy_val(s3->token, sizeof(s3->token), token ? token : "")) {
			log_error("s3://%s: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or "
				  "AWS_SESSION_TOKEN is too long",
				  s3->bucket);
			return -EINVAL;
		}
	} else {
		rc = read_cred_file(s3);
		if (rc == -ENOENT)
			log_error("s3://%s: no credentials: set AWS_ACCESS_KEY_ID and "
				  "AWS_SECRET_ACCESS_KEY, or write ~/.aws/credentials",
				  s3->bucket);
		if (rc)
			return rc;
	}
	/* they go into headers: nothing that could end one */
	if (strpbrk(s3->key_id, "\r\n:") || strpbrk(s3->secret, "\r\n") ||
	    strpbrk(s3->token, "\r\n") || strpbrk(s3->region, "\r\n:/ ") ||
	    strlen(s3->region) >= sizeof(s3->region) - 1) {
		log_error("s3://%s: the credentials or the region hold characters or lengths that "
			  "cannot be sent",
			  s3->bucket);
		return -EINVAL;
	}
	snprintf(s3->sigv4, sizeof(s3->sigv4), "aws:amz:%s:s3", s3->region);
	return 0;
}

int store_s3_config(const struct store_config *cfg, struct store_s3 *s3, char *base,
		    size_t cap)
{
	const char *url = cfg->url + 5, *slash = strchr(url, '/'), *ep = cfg->s3_endpoint;
	const char *style = cfg->s3_style;
	size_t blen = slash ? (size_t)(slash - url) : strlen(url), n;
	char prefix[520], endpoint[1024];
	bool vhost;
	int rc;

	memset(s3, 0, sizeof(*s3));
	if (!ep || !*ep)
		ep = getenv("THAW_S3_ENDPOINT");
	if (!style || !*style)
		style = getenv("THAW_S3_STYLE");
	if (!bucket_valid(url, blen)) {
		log_error("%.200s: want s3://BUCKET[/PREFIX], a bucket of 3-63 characters "
			  "[a-z0-9.-]",
			  cfg->url);
		return -EINVAL;
	}
	memcpy(s3->bucket, url, blen);
	snprintf(prefix, sizeof(prefix), "%s", slash ? slash + 1 : "");
	n = strlen(prefix);
	while (n && prefix[n - 1] == '/')
		prefix[--n] = 0;
	if (n && !prefix_valid(prefix)) {
		log_error("%.200s: the prefix may hold only [A-Za-z0-9._-] segments separated by /",
			  cfg->url);
		return -EINVAL;
	}
	snprintf(s3->prefix, sizeof(s3->prefix), "%s%s", prefix, n ? "/" : "");
	rc = credentials(s3);
	if (rc)
		return rc;
	if (style && *style && strcmp(style, "path") && strcmp(style, "virtual")) {
		log_error("S3 addressing style %.40s: want path or virtual", style);
		return -EINVAL;
	}
	/* AWS itself wants virtual-host style; other servers mostly path style */
	vhost = style && *style ? !strcmp(style, "virtual") : !(ep && *ep);
	if (ep && *ep) {
		n = strlen(ep);
		if (n >= sizeof(endpoint) || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) ||
		    strpbrk(ep, "?#@ \r\n")) {
			log_error("S3 endpoint %.200s: want http(s)://host[:port][/path]", ep);
			return -EINVAL;
		}
		snprintf(endpoint, sizeof(endpoint), "%s", ep);
		while (n && endpoint[n - 1] == '/')
			endpoint[--n] = 0;
	} else {
		snprintf(endpoint, sizeof(endpoint), "https://s3.%s.amazonaws.com", s3->region);
	}
	if (vhost) {
		const char *host = strstr(endpoint, "://") + 3;

		snprintf(s3->bucket_url, sizeof(s3->bucket_url), "%.*s%s.%s",
			 (int)(host - endpoint), endpoint, s3->bucket, host);
	} else {
		snprintf(s3->bucket_url, sizeof(s3->bucket_url), "%s/%s", endpoint, s3->bucket);
	}
	if ((size_t)snprintf(base, cap, "%s/%.*s", s3->bucket_url,
			     (int)(strlen(s3->prefix) ? strlen(s3->prefix) - 1 : 0),
			     s3->prefix) >= cap)
		return -ENAMETOOLONG;
	n = strlen(base);
	while (n && base[n - 1] == '/')
		base[--n] = 0;
	return 0;
}

/* ---- XML answers ---- */

struct xml_state {
	XML_Parser p;
	int depth;
	char path[XML_DEPTH_MAX][32]; /* element names from the root */
	char text[XML_TEXT_MAX + 1];
	size_t text_len;
	bool too_long, bad;
	struct s3_list_page *page; /* a listing, or NULL */
	char *code; /* an error document's Code, or NULL */
	size_t code_cap;
	/* the <Contents> being read */
	char key[XML_TEXT_MAX + 1];
	char modified[64];
	uint64_t size;
};

static void xml_fail(struct xml_state *x)
{
	x->bad = true;
	XML_StopParser(x->p, XML_FALSE);
}

static void on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_state *x = arg;
	const char *local = strchr(name, ' ') ? strrchr(name, ' ') + 1 : name;

	(void)attrs;
	if (x->depth >= XML_DEPTH_MAX) {
		xml_fail(x);
		return;
	}
	snprintf(x->path[x->depth++], sizeof(x->path[0]), "%s", local);
	x->text_len = 0;
	x->too_long = false;
	if (x->depth == 2 && !strcmp(local, "Contents")) {
		x->key[0] = 0;
		x->modified[0] = 0;
		x->size = 0;
	}
}

static void on_text(void *arg, const XML_Char *s, int len)
{
	struct xml_state *x = arg;

	if (len < 0 || x->text_len + (size_t)len > XML_TEXT_MAX) {
		x->too_long = true;
		return;
	}
	memcpy(x->text + x->text_len, s, (size_t)len);
	x->text_len += (size_t)len;
}

/* "2026-12-04T21:08:22.000Z" -> seconds since the epoch; -1 if it is not that */
static int64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (!end)
		return -1;
	return (int64_t)timegm(&tm);
}

static void on_end(void *arg, const XML_Char *name)
{
	struct xml_state *x = arg;
	struct s3_list_page *pg = x->page;
	const char *el;

	(void)name;
	if (x->depth <= 0)
		return;
	el = x->path[x->depth - 1];
	x->text[x->text_len] = 0;
	if (x->code && x->depth == 2 && !strcmp(el, "Code") && !x->too_long)
		snprintf(x->code, x->code_cap, "%.60s", x->text);
	if (pg && x->depth == 2 && !strcmp(x->path[0], "ListBucketResult")) {
		if (!strcmp(el, "IsTruncated")) {
			pg->truncated = !strcmp(x->text, "true");
		} else if (!strcmp(el, "NextContinuationToken")) {
			if (x->too_long || x->text_len >= sizeof(pg->next_token))
				xml_fail(x);
			else
				memcpy(pg->next_token, x->text, x->text_len + 1);
		} else if (!strcmp(el, "Contents")) {
			if (!x->key[0] || pg->nr >= S3_LIST_PAGE_MAX) {
				xml_fail(x);
			} else {
				struct s3_list_entry *e = &pg->v[pg->nr++];

				snprintf(e->key, sizeof(e->key), "%s", x->key);
				e->modified = parse_time(x->modified);
				e->size = x->size;
			}
		}
	}
	if (pg && x->depth == 3 && !strcmp(x->path[1], "Contents")) {
		if (!strcmp(el, "Key")) {
			if (x->too_long || !x->text_len)
				xml_fail(x);
			else
				memcpy(x->key, x->text, x->text_len + 1);
		} else if (!strcmp(el, "LastModified") && !x->too_long) {
			snprintf(x->modified, sizeof(x->modified), "%.60s", x->text);
		} else if (!strcmp(el, "Size") && !x->too_long) {
			char *end;
			unsigned long long v = strtoull(x->text, &end, 10);

			x->size = *end || x->text[0] == '-' ? 0 : v; /* only counted, never trusted */
		}
	}
	x->depth--;
	x->text_len = 0;
}

/* A document type is where entity definitions live: none is expected, none is read. */
static void on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	xml_fail(arg);
}

static void on_entity(void *arg, const XML_Char *name, int is_param, const XML_Char *value,
		      int value_len, const XML_Char *base, const XML_Char *sysid,
		      const XML_Char *pubid, const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	xml_fail(arg);
}

static int parse(struct xml_state *x, const void *data, size_t len)
{
	int ok;

	if (len > S3_XML_MAX)
		return -EFBIG;
	x->p = XML_ParserCreateNS(NULL, ' ');
	if (!x->p)
		return -ENOMEM;
	XML_SetUserData(x->p, x);
	XML_SetElementHandler(x->p, on_start, on_end);
	XML_SetCharacterDataHandler(x->p, on_text);
	XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
	XML_SetEntityDeclHandler(x->p, on_entity);
	ok = XML_Parse(x->p, data, (int)len, XML_TRUE) == XML_STATUS_OK;
	XML_ParserFree(x->p);
	return ok && !x->bad ? 0 : -EBADMSG;
}

int store_s3_parse_list(const void *xml, size_t len, struct s3_list_page *page)
{
	struct xml_state *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return -ENOMEM;
	page->nr = 0;
	page->truncated = false;
	page->next_token[0] = 0;
	x->page = page;
	rc = parse(x, xml, len);
	free(x);
	if (!rc && page->truncated && !page->next_token[0])
		rc = -EBADMSG; /* more to come, and no way to ask for it */
	return rc;
}

void store_s3_error_code(const void *xml, size_t len, char *code, size_t cap)
{
	struct xml_state *x = calloc(1, sizeof(*x));

	code[0] = 0;
	if (!x)
		return;
	x->code = code;
	x->code_cap = cap;
	if (parse(x, xml, len))
		code[0] = 0;
	free(x);
}

/* Percent-encodes everything but S3's unreserved characters (and '/' when keep_slash). */
int store_s3_encode(const char *in, bool keep_slash, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (keep_slash && c == '/')) {
			if (o + 1 >= cap)
				return -ENAMETOOLONG;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	return 0;
}

/*
 * libcurl (7.75 and later) computes the SigV4 signature per request:
 * canonical request over the method, path, query, the headers we set (the
 * session token, If-None-Match) plus host, x-amz-date and, for service s3,
 * x-amz-content-sha256 (UNSIGNED-PAYLOAD for an upload it streams).
 * tests/unit/test-s3.c checks it against AWS's published examples.
 */
void store_s3_sign(const struct store_s3 *s3, void *h)
{
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s3->key_id);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s3->secret);
}

int64_t store_s3_refresh_age(void)
{
	const char *e = getenv("THAW_S3_REFRESH_AGE");
	char *end;
	long long v;

	if (!e || !*e)
		return S3_REFRESH_AGE;
	v = strtoll(e, &end, 10);
	return *end || v < 0 || v > S3_REFRESH_AGE ? S3_REFRESH_AGE : (int64_t)v;
}
