/*
 * fuzz-config.c - fuzz target for the parser of thaw's configuration files
 * (config_parse(), src/base/config.c), which choose the store and the key
 * file root uses.
 *
 * Input: a file's bytes.  Beyond "no crash", three checks: a value accepted
 * is bounded, has no control character and no space at either end, and has
 * the form its key takes (the check written apart here); parsing the same
 * bytes again gives the same values; and the accepted values written back as
 * "key = value" lines parse to themselves.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/config/.  With
 * -DFUZZ_STANDALONE, tests/fuzz/standalone.h drives it over built-in files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static void check_value(int k, const char *v)
{
	size_t i, n = strlen(v);

	if (!n || n > CONFIG_MAX_VALUE || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
	    v[n - 1] == '\t')
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
			abort();
	if (k == CONFIG_S3_ENDPOINT && !starts(v, "http://") && !starts(v, "https://"))
		abort();
	if ((k == CONFIG_CACHE || k == CONFIG_KEY_FILE) && v[0] != '/')
		abort();
	if (k == CONFIG_STORE && v[0] != '/' && !starts(v, "http://") && !starts(v, "https://") &&
	    !starts(v, "s3://"))
		abort();
}

static int same(const struct config *a, const struct config *b)
{
	int k;

	for (k = 0; k < CONFIG_NR_KEYS; k++)
		if (!a->value[k] != !b->value[k] ||
		    (a->value[k] && strcmp(a->value[k], b->value[k])))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config a = { 0 }, b = { 0 }, c = { 0 };
	char *copy, *text;
	size_t len = 0;
	int k, ra, rb;

	log_set_level(-1); /* refusals are the point: no line each */
	if (size > CONFIG_MAX_BYTES + 1)
		size = CONFIG_MAX_BYTES + 1;
	copy = malloc(size ? size : 1); /* exact size: ASan sees a read past the input */
	text = malloc(CONFIG_NR_KEYS * (CONFIG_MAX_VALUE + 32));
	if (!copy || !text)
		abort();
	memcpy(copy, data, size);
	ra = config_parse("fuzz", copy, size, &a);
	rb = config_parse("fuzz", copy, size, &b);
	if (ra != rb || !same(&a, &b))
		abort();
	for (k = 0; k < CONFIG_NR_KEYS; k++) {
		if (!a.value[k])
			continue;
		check_value(k, a.value[k]);
		len += (size_t)sprintf(text + len, "%s = %s\n", config_key_name(k), a.value[k]);
	}
	if (config_parse("again", text, len, &c) || !same(&a, &c))
		abort();
	config_free(&a);
	config_free(&b);
	config_free(&c);
	free(text);
	free(copy);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '=', '#', ' ', '\t', '\n', '/', ':', '\0', '\r', '\xff'
#include "standalone.h"

static const char *const samples[] = {
	"store = s3://bucket/prefix\ns3-endpoint = http://127.0.0.1:9000\n"
	"# a comment\ncache = /var/cache/thaw\nkey-file = /etc/thaw/key\n",
	"  store=/srv/thaw  \n\n\t# x\nstore = https://h/s\n",
};

int main(int argc, char **argv)
{
	size_t runs = 0, i;

	if (argc > 1)
		return run_named_files("fuzz-config", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		runs += mutate_sample(samples[i], strlen(samples[i]), 5000);
	runs += run_corpus("tests/fuzz/corpus/config");
	printf("fuzz-config: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
