/*
 * fuzz-s3.c - fuzz target for the readers of an S3 server's XML answers
 * (src/store/store-s3.c): a ListObjectsV2 page (store_s3_parse_list) and an
 * error document's Code (store_s3_error_code), both hostile input.
 *
 * Input: the answer's bytes.  Beyond "no crash": a page that parses holds
 * at most max-keys entries, each a NUL-terminated, non-empty key within
 * S3's 1024 bytes; a truncated page has a continuation token; a Code is a
 * NUL-terminated string within its buffer.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/s3/.  With
 * -DFUZZ_STANDALONE, tests/fuzz/standalone.h drives it over built-in answers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct s3_list_page page;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[64];
	size_t i;

	if (store_s3_parse_list(data, size, &page) == 0) {
		if (page.nr > S3_LIST_PAGE_MAX || (page.truncated && !page.next_token[0]) ||
		    !memchr(page.next_token, 0, sizeof(page.next_token)))
			abort();
		for (i = 0; i < page.nr; i++)
			if (!page.v[i].key[0] || !memchr(page.v[i].key, 0, sizeof(page.v[i].key)))
				abort();
	}
	memset(code, 'x', sizeof(code));
	store_s3_error_code(data, size, code, sizeof(code));
	if (!memchr(code, 0, sizeof(code)))
		abort();
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '<', '>', '/', '&', ';', '"', '=', '!', '[', ']', ' ', 'x', '\0', '\xff'
#include "standalone.h"

static const char *const samples[] = {
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>thaw</Name><Prefix>p/names/"
	"</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
	"<Contents><Key>p/names/a</Key><LastModified>2026-12-04T21:08:22.000Z</LastModified>"
	"<ETag>&quot;0b2f&quot;</ETag><Size>65</Size><StorageClass>STANDARD</StorageClass>"
	"</Contents><Contents><Key>p/names/b+1</Key><Size>65</Size></Contents></ListBucketResult>",
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code>"
	"<Message></Message><RequestId>tx0000</RequestId></Error>",
	"<!DOCTYPE a [<!ENTITY b \"c\">]><ListBucketResult><Contents><Key>&b;</Key></Contents>"
	"</ListBucketResult>",
};

int main(int argc, char **argv)
{
	size_t runs = 0, i;

	if (argc > 1)
		return run_named_files("fuzz-s3", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		runs += mutate_sample(samples[i], strlen(samples[i]), 5000);
	runs += run_corpus("tests/fuzz/corpus/s3");
	printf("fuzz-s3: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
