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

#endif
