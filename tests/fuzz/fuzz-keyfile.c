/*
 * fuzz-keyfile.c - fuzz target for the reader of a key file (--key-file:
 * key_file_parse(), src/base/keyfile.c), the secret that encrypts a store
 * and signs snapshots.
 *
 * Input: the file's bytes (the reader takes at most 130 of them).  Beyond
 * "no crash", an oracle written apart: exactly 32 bytes are the key as
 * they are; else, without trailing CR and LF, exactly 64 hex digits of
 * either case are the key; anything else is refused with the key zeroed,
 * so that no half-read key is ever used.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/keyfile/.  With
 * -DFUZZ_STANDALONE, tests/fuzz/standalone.h drives it over built-in keys.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/keyfile.h"

#define READ_MAX 130 /* what key_file_load() reads */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A hex digit's value by lookup (not by arithmetic, as the reader does), or -1. */
static int digit(uint8_t c)
{
	static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
	const char *p;

	if (!c)
		return -1;
	if ((p = strchr(lower, c)))
		return (int)(p - lower);
	if ((p = strchr(upper, c)))
		return (int)(p - upper);
	return -1;
}

/* The oracle: 0 and the key, or -EINVAL. */
static int oracle(const uint8_t *p, size_t n, uint8_t key[KEY_FILE_BYTES])
{
	size_t i;

	if (n == KEY_FILE_BYTES) {
		memcpy(key, p, n);
		return 0;
	}
	while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (n != 2 * KEY_FILE_BYTES)
		return -EINVAL;
	for (i = 0; i < KEY_FILE_BYTES; i++) {
		if (digit(p[2 * i]) < 0 || digit(p[2 * i + 1]) < 0)
			return -EINVAL;
		key[i] = (uint8_t)(digit(p[2 * i]) * 16 + digit(p[2 * i + 1]));
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[KEY_FILE_BYTES], want[KEY_FILE_BYTES], zero[KEY_FILE_BYTES] = { 0 }, *copy;
	int ret;

	if (size > READ_MAX)
		size = READ_MAX;
	/* an exact-size copy: ASan sees a read one byte past the input */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(key, 0xa5, sizeof(key));
	ret = key_file_parse(copy, size, key);
	if (ret != oracle(copy, size, want))
		abort();
	if (ret == 0 && memcmp(key, want, sizeof(key)))
		abort(); /* a key other than the file's */
	if (ret && memcmp(key, zero, sizeof(key)))
		abort(); /* a refused key left behind */
	free(copy);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '0', '9', 'a', 'f', 'A', 'F', 'g', 'G', '/', ':', '@', '`', '\n', '\r', \
			 '\0', '\xff'
#include "standalone.h"

static const char *const samples[] = {
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
	"0123456789ABCDEFabcdef0123456789ABCDEFabcdef0123456789abcdefABCD\r\n",
	"thirty-two raw bytes of a key!!!",
};

int main(int argc, char **argv)
{
	size_t runs = 0, i;

	if (argc > 1)
		return run_named_files("fuzz-keyfile", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		runs += mutate_sample(samples[i], strlen(samples[i]), 5000);
	runs += run_corpus("tests/fuzz/corpus/keyfile");
	printf("fuzz-keyfile: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
