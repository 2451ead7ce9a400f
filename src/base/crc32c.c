/*
 * crc32c.c - CRC-32C of long buffers, three times as fast as crc32c().
 *
 * One crc32 step costs 3 cycles of latency but the CPU starts one every
 * cycle, so crc32c() runs at a third of what the instruction can do.  Here
 * each round of 3 x BLOCK bytes is summed as three independent streams and
 * the three registers are joined: the register is linear in its start
 * value, so the CRC of A B C from r is M(M(crc(r, A)) ^ crc(0, B)) ^
 * crc(0, C), where M is "BLOCK more zero bytes", a linear map of 32 bits
 * kept as four 256-entry tables (made once, from M of the 32 unit
 * vectors).  The value is the standard CRC-32C: the same as crc32c(), so
 * that what an older thaw recorded still checks (the store's chunks, their
 * headers say crc32c of the stored bytes).  Not for the restorer: it
 * needs libc (pthread_once).
 */
#include <pthread.h>

#include "base/crc32c.h"

#define BLOCK 4096 /* bytes of each stream per round */

static uint32_t shift_table[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* M(r): the raw register r after BLOCK zero bytes. */
__attribute__((target("sse4.2"))) static uint32_t zeros(uint32_t r)
{
	uint64_t c = r;
	size_t i;

	for (i = 0; i < BLOCK / 8; i++)
		c = __builtin_ia32_crc32di(c, 0);
	return (uint32_t)c;
}

static void make_shift_table(void)
{
	uint32_t unit[32];
	unsigned k, b, j;

	for (j = 0; j < 32; j++)
		unit[j] = zeros(1u << j);
	for (k = 0; k < 4; k++)
		for (b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (j = 0; j < 8; j++)
				if (b & (1u << j))
					v ^= unit[8 * k + j];
			shift_table[k][b] = v;
		}
}

static inline uint32_t shift(uint32_t r)
{
	return shift_table[0][r & 0xff] ^ shift_table[1][(r >> 8) & 0xff] ^
	       shift_table[2][(r >> 16) & 0xff] ^ shift_table[3][r >> 24];
}

__attribute__((target("sse4.2"))) uint32_t crc32c_long(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t head = (8 - ((uintptr_t)p & 7)) & 7;
	uint32_t crc;

	if (len < 3 * BLOCK + head)
		return crc32c(data, len);
	pthread_once(&shift_once, make_shift_table);
	crc = ~crc32c_update(0, p, head); /* the raw register, p aligned from here */
	p += head;
	len -= head;
	while (len >= 3 * BLOCK) {
		const uint64_t *w0 = (const uint64_t *)(const void *)p, *w1 = w0 + BLOCK / 8,
			       *w2 = w1 + BLOCK / 8;
		uint64_t c0 = crc, c1 = 0, c2 = 0;
		size_t i;

		for (i = 0; i < BLOCK / 8; i++) {
			c0 = __builtin_ia32_crc32di(c0, w0[i]);
			c1 = __builtin_ia32_crc32di(c1, w1[i]);
			c2 = __builtin_ia32_crc32di(c2, w2[i]);
		}
		crc = shift(shift((uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * BLOCK;
		len -= 3 * BLOCK;
	}
	return crc32c_update(~crc, p, len);
}
