/*
 * test-crc32c.c - unit tests of src/base/crc32c.c: crc32c_long() gives the
 * standard CRC-32C, the value of crc32c(), for every length around its
 * rounds (3 x 4 KiB) and every alignment of the start, on random bytes and
 * on the published check value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/crc32c.h"

static void test_check_value(void **state)
{
	(void)state;
	/* RFC 3720's CRC-32C of "123456789" */
	assert_int_equal(crc32c("123456789", 9), 0xe3069283);
	assert_int_equal(crc32c_long("123456789", 9), 0xe3069283);
}

static void test_same_as_crc32c(void **state)
{
	static const size_t lens[] = { 0, 1, 7, 8, 4095, 12287, 12288, 12289, 12295, 12296,
				       24575, 24576, 24583, 3 * 4096 * 5 + 123, 65536,
				       262144, 262151, (1 << 20) + 3 };
	size_t size = (1 << 20) + 16, i, off;
	unsigned char *buf = malloc(size);
	unsigned seed = 17;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < size; i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (unsigned char)(seed >> 16);
	}
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (off = 0; off < 8; off++)
			assert_int_equal(crc32c_long(buf + off, lens[i]), crc32c(buf + off, lens[i]));
	/* a flipped bit in any stream of a round changes it */
	for (off = 0; off < 3 * 4096; off += 4095) {
		uint32_t was = crc32c_long(buf, 262144);

		buf[off] ^= 0x10;
		assert_int_not_equal(crc32c_long(buf, 262144), was);
		assert_int_equal(crc32c_long(buf, 262144), crc32c(buf, 262144));
		buf[off] ^= 0x10;
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_same_as_crc32c),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
