/*
 * test-s3.c - unit tests of the store's S3 pieces: SigV4 signatures as the
 * S3 tier has libcurl make them, against AWS's published examples (captured
 * by a one-request server on the loopback); the ListObjectsV2 and error
 * document reader on good and hostile XML; where s3://BUCKET/PREFIX goes,
 * path and virtual-host style, and whose credentials sign.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "store/store-internal.h"

/* ---- SigV4 ---- */

struct catcher {
	int fd;
	char req[8192];
};

/* Accepts one connection, keeps its request head, answers 200. */
static void *catch_one(void *arg)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	struct catcher *c = arg;
	size_t got = 0;
	int fd = accept(c->fd, NULL, NULL);

	if (fd < 0)
		return NULL;
	while (got < sizeof(c->req) - 1 && !strstr(c->req, "\r\n\r\n")) {
		ssize_t n = read(fd, c->req + got, sizeof(c->req) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		c->req[got] = 0;
	}
	if (write(fd, ok, sizeof(ok) - 1) < 0)
		c->req[0] = 0;
	close(fd);
	return NULL;
}

/*
 * Sends GET url through the S3 tier's signing setup, connecting to a local
 * catcher instead of host:80, and returns the Authorization header sent.
 */
static void signed_auth(const struct store_s3 *s3, const char *host, const char *url,
			const char *const *headers, char *auth, size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct curl_slist *hl = NULL, *ct = NULL;
	struct catcher c = { 0 };
	char connect_to[300];
	pthread_t th;
	const char *p, *e;
	CURL *h;

	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c.fd >= 0);
	assert_int_equal(bind(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(c.fd, 1), 0);
	assert_int_equal(getsockname(c.fd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(pthread_create(&th, NULL, catch_one, &c), 0);
	snprintf(connect_to, sizeof(connect_to), "%s:80:127.0.0.1:%u", host, ntohs(sa.sin_port));
	ct = curl_slist_append(NULL, connect_to);
	for (; *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	h = curl_easy_init();
	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CONNECT_TO, ct);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	store_s3_sign(s3, h);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_cleanup(h);
	curl_slist_free_all(hl);
	curl_slist_free_all(ct);
	pthread_join(th, NULL);
	close(c.fd);
	p = strcasestr(c.req, "\r\nAuthorization: ");
	assert_non_null(p);
	p += 17;
	e = strstr(p, "\r\n");
	assert_non_null(e);
	snprintf(auth, cap, "%.*s", (int)(e - p), p);
}

static void test_sigv4_vectors(void **state)
{
	struct store_s3 s3 = { 0 };
	char auth[1024];

	(void)state;
	assert_int_equal(curl_dl_load(), 0);
	/* AWS's S3 documentation, "Signature calculation: GET Object" */
	snprintf(s3.sigv4, sizeof(s3.sigv4), "aws:amz:us-east-1:s3");
	snprintf(s3.key_id, sizeof(s3.key_id), "AKIAIOSFODNN7EXAMPLE");
	snprintf(s3.secret, sizeof(s3.secret), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	signed_auth(&s3, "examplebucket.s3.amazonaws.com",
		    "http://examplebucket.s3.amazonaws.com/test.txt",
		    (const char *const[]){ "Range: bytes=0-9",
					   "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
					   "x-amz-date: 20130524T000000Z", NULL },
		    auth, sizeof(auth));
	assert_non_null(strstr(auth, "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"));
	assert_non_null(strstr(auth, "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"));
	assert_non_null(strstr(auth, "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
	/* AWS's SigV4 test suite, get-vanilla */
	snprintf(s3.sigv4, sizeof(s3.sigv4), "aws:amz:us-east-1:service");
	snprintf(s3.key_id, sizeof(s3.key_id), "AKIDEXAMPLE");
	snprintf(s3.secret, sizeof(s3.secret), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
	signed_auth(&s3, "example.amazonaws.com", "http://example.amazonaws.com/",
		    (const char *const[]){ "X-Amz-Date: 20150830T123600Z", NULL }, auth, sizeof(auth));
	assert_non_null(strstr(auth, "SignedHeaders=host;x-amz-date"));
	assert_non_null(strstr(auth, "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

/* ---- XML ---- */

static struct s3_list_page page;

static int parse_str(const char *xml)
{
	return store_s3_parse_list(xml, strlen(xml), &page);
}

static void test_list_parse(void **state)
{
	char *big;
	size_t i, off;

	(void)state;
	assert_int_equal(parse_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				   "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				   "<Name>b</Name><Prefix>p/names/</Prefix><KeyCount>2</KeyCount>"
				   "<IsTruncated>true</IsTruncated>"
				   "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
				   "<Contents><Key>p/names/a</Key><LastModified>2026-12-04T21:08:22.000Z</LastModified>"
				   "<ETag>&quot;x&quot;</ETag><Size>65</Size></Contents>"
				   "<Contents><Key>p/names/b&amp;c</Key><Size>65</Size></Contents>"
				   "</ListBucketResult>"),
			 0);
	assert_int_equal(page.nr, 2);
	assert_true(page.truncated);
	assert_string_equal(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	assert_string_equal(page.v[0].key, "p/names/a");
	assert_int_equal(page.v[0].modified, 1796418502);
	assert_int_equal(page.v[0].size, 65);
	assert_string_equal(page.v[1].key, "p/names/b&c");
	assert_int_equal(page.v[1].modified, -1);
	/* the last page */
	assert_int_equal(parse_str("<ListBucketResult><IsTruncated>false</IsTruncated>"
				   "</ListBucketResult>"),
			 0);
	assert_int_equal(page.nr, 0);
	assert_false(page.truncated);
	/* hostile: more to come and no token; not XML; an entity; a document type;
	 * too deep; a key past S3's 1024 bytes; a key that is empty */
	assert_int_equal(parse_str("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"),
			 -EBADMSG);
	assert_int_equal(parse_str("<ListBucketResult><Contents><Key>a</Key>"), -EBADMSG);
	assert_int_equal(parse_str("HTTP/1.1 200 OK"), -EBADMSG);
	assert_int_equal(parse_str("<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">"
				   "<!ENTITY b \"&a;&a;&a;&a;\">]><ListBucketResult><Contents>"
				   "<Key>&b;</Key></Contents></ListBucketResult>"),
			 -EBADMSG);
	assert_int_equal(parse_str("<ListBucketResult><a><b><c><d><e><f><g><h><i>x</i></h></g></f>"
				   "</e></d></c></b></a></ListBucketResult>"),
			 -EBADMSG);
	assert_int_equal(parse_str("<ListBucketResult><Contents><Key></Key></Contents>"
				   "</ListBucketResult>"),
			 -EBADMSG);
	big = malloc(S3_XML_MAX + 100);
	assert_non_null(big);
	off = (size_t)sprintf(big, "<ListBucketResult><Contents><Key>");
	memset(big + off, 'k', 1025);
	strcpy(big + off + 1025, "</Key></Contents></ListBucketResult>");
	assert_int_equal(parse_str(big), -EBADMSG);
	/* more keys in one page than max-keys allows */
	off = (size_t)sprintf(big, "<ListBucketResult>");
	for (i = 0; i <= S3_LIST_PAGE_MAX; i++)
		off += (size_t)sprintf(big + off, "<Contents><Key>k%zu</Key></Contents>", i);
	strcpy(big + off, "</ListBucketResult>");
	assert_int_equal(parse_str(big), -EBADMSG);
	/* larger than any answer thaw reads */
	memset(big, ' ', S3_XML_MAX + 10);
	assert_int_equal(store_s3_parse_list(big, S3_XML_MAX + 10, &page), -EFBIG);
	free(big);
}

static void test_error_code(void **state)
{
	static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchBucket"
				  "</Code><Message>x</Message><BucketName>b</BucketName></Error>";
	char code[64];

	(void)state;
	store_s3_error_code(doc, strlen(doc), code, sizeof(code));
	assert_string_equal(code, "NoSuchBucket");
	store_s3_error_code("<html>nginx</html>", 18, code, sizeof(code));
	assert_string_equal(code, "");
	store_s3_error_code("<Error><Code>Slow", 17, code, sizeof(code));
	assert_string_equal(code, "");
}

/* ---- where, and who ---- */

static int s3_config(const char *url, const char *endpoint, const char *style,
		     struct store_s3 *s3, char *base)
{
	struct store_config cfg;

	store_config_init(&cfg);
	cfg.url = url;
	cfg.s3_endpoint = endpoint;
	cfg.s3_style = style;
	return store_s3_config(&cfg, s3, base, 2048);
}

static void test_config(void **state)
{
	struct store_s3 *s3 = calloc(1, sizeof(*s3));
	char base[2048], dir[] = "/tmp/thaw-test-s3.XXXXXX", path[PATH_MAX];
	FILE *f;

	(void)state;
	assert_non_null(s3);
	unsetenv("THAW_S3_ENDPOINT");
	unsetenv("THAW_S3_STYLE");
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	setenv("AWS_REGION", "eu-west-3", 1);
	unsetenv("AWS_SESSION_TOKEN");
	assert_int_equal(s3_config("s3://bkt/a/b/", "http://127.0.0.1:9000/", NULL, s3, base), 0);
	assert_string_equal(base, "http://127.0.0.1:9000/bkt/a/b");
	assert_string_equal(s3->prefix, "a/b/");
	assert_string_equal(s3->bucket_url, "http://127.0.0.1:9000/bkt");
	assert_string_equal(s3->sigv4, "aws:amz:eu-west-3:s3");
	assert_int_equal(s3_config("s3://bkt", "https://s3.example:9000", "virtual", s3, base), 0);
	assert_string_equal(base, "https://bkt.s3.example:9000");
	assert_string_equal(s3->prefix, "");
	assert_int_equal(s3_config("s3://bkt/p", NULL, NULL, s3, base), 0);
	assert_string_equal(base, "https://bkt.s3.eu-west-3.amazonaws.com/p");
	/* refused: bucket names S3 does not allow, prefixes that climb or need encoding,
	 * an endpoint that is not http(s) or carries userinfo */
	assert_int_equal(s3_config("s3://AB", NULL, NULL, s3, base), -EINVAL);
	assert_int_equal(s3_config("s3://b_c/x", NULL, NULL, s3, base), -EINVAL);
	assert_int_equal(s3_config("s3://bkt/../x", NULL, NULL, s3, base), -EINVAL);
	assert_int_equal(s3_config("s3://bkt/a//b", NULL, NULL, s3, base), -EINVAL);
	assert_int_equal(s3_config("s3://bkt/a b", NULL, NULL, s3, base), -EINVAL);
	assert_int_equal(s3_config("s3://bkt", "ftp://x", NULL, s3, base), -EINVAL);
	assert_int_equal(s3_config("s3://bkt", "http://u@x", NULL, s3, base), -EINVAL);
	assert_int_equal(s3_config("s3://bkt", NULL, "sideways", s3, base), -EINVAL);
	/* credentials that would break a header */
	setenv("AWS_SESSION_TOKEN", "a\r\nX-Evil: 1", 1);
	assert_int_equal(s3_config("s3://bkt", NULL, NULL, s3, base), -EINVAL);
	/* the credentials file, by profile */
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/credentials", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[default]\naws_access_key_id=D\naws_secret_access_key=d\n"
	      "# a comment\n[ other ]\n  aws_access_key_id =  OTHER  \naws_secret_access_key = o/s+k\n"
	      "aws_session_token = tok\n",
	      f);
	fclose(f);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_PROFILE", "other", 1);
	assert_int_equal(s3_config("s3://bkt", NULL, NULL, s3, base), 0);
	assert_string_equal(s3->key_id, "OTHER");
	assert_string_equal(s3->secret, "o/s+k");
	assert_string_equal(s3->token, "tok");
	setenv("AWS_PROFILE", "missing", 1);
	assert_int_equal(s3_config("s3://bkt", NULL, NULL, s3, base), -EINVAL);
	unlink(path);
	assert_int_equal(s3_config("s3://bkt", NULL, NULL, s3, base), -ENOENT);
	rmdir(dir);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_PROFILE");
	free(s3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigv4_vectors),
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_error_code),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
