/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum on every piece of snapshot
 * data.  Computed with the SSE4.2 crc32 instruction (8 bytes per step, about
 * 8 GB/s); the same code is built into the freestanding restorer, so it uses
 * no libc.  Snapshots are only restored on CPUs with SSE4.2 (checked by the
 * CPU-feature validation, and thaw itself is built for x86-64 v2).
 */
#ifndef THAW_BASE_CRC32C_H
#define THAW_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

__attribute__((target("sse4.2"))) static inline uint32_t crc32c_update(uint32_t crc,
									const void *data,
									size_t len)
{
	const unsigned char *p = data;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		c = __builtin_ia32_crc32di(c, *(const uint64_t *)(const void *)p);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

static inline uint32_t crc32c(const void *data, size_t len)
{
	return crc32c_update(0, data, len);
}

/*
 * The same value as crc32c(), about three times as fast on long buffers
 * (three streams joined: crc32c.c; not in the restorer, which has no libc).
 */
uint32_t crc32c_long(const void *data, size_t len);

/*
 * The checksum of page data, about three times faster than crc32c_update:
 * one 8-byte crc32 step costs 3 cycles of latency but the CPU can start one
 * every cycle, so each 4 KiB page is summed as four independent 1 KiB
 * streams, folded into one word per page (crc32c_page_word), and the page
 * words are chained with CRC-32C so that order and every page count.  len
 * must be a multiple of 4096; calls can be chained like crc32c_update (start
 * from 0).  A run's checksum is therefore also crc32c_update over the words
 * of its pages, taken apart (what the dump's copiers do, mem.c).
 */
__attribute__((target("sse4.2"))) static inline uint32_t crc32c_page_word(const void *page)
{
	const uint64_t *w = page;
	uint64_t c0 = ~0u, c1 = ~0u, c2 = ~0u, c3 = ~0u;
	size_t j;

	for (j = 0; j < 128; j++) {
		c0 = __builtin_ia32_crc32di(c0, w[j]);
		c1 = __builtin_ia32_crc32di(c1, w[128 + j]);
		c2 = __builtin_ia32_crc32di(c2, w[256 + j]);
		c3 = __builtin_ia32_crc32di(c3, w[384 + j]);
	}
	return (uint32_t)c0 ^ (((uint32_t)c1 << 8) | ((uint32_t)c1 >> 24)) ^
	       (((uint32_t)c2 << 16) | ((uint32_t)c2 >> 16)) ^
	       (((uint32_t)c3 << 24) | ((uint32_t)c3 >> 8));
}

__attribute__((target("sse4.2"))) static inline uint32_t crc32c_pages(uint32_t crc,
								       const void *data,
								       size_t len)
{
	const unsigned char *p = data;
	size_t pages = len / 4096, i;

	for (i = 0; i < pages; i++, p += 4096) {
		uint32_t page = crc32c_page_word(p);

		crc = crc32c_update(crc, &page, sizeof(page));
	}
	return crc;
}

#endif
