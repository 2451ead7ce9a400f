/*
 * store-cut.c - where a file is cut into chunks.
 *
 * Snapshots of two processes hold the same memory at different offsets of
 * pages.img (a run's place depends on everything dumped before it), so fixed
 * offsets would not find it twice.  The cut points depend on content only,
 * at page granularity: a chunk ends after a page whose CRC-32C has its low
 * bits all set (on average every avg / 4 KiB pages), between a zero page and
 * a non-zero one (so runs of zero pages become all-zero chunks that are not
 * stored), or at 4 * avg.  A chunk is at least avg / 4 long unless a zero
 * boundary or the end of the data comes first.  docs/store.md has the
 * measurements behind the default average of 256 KiB.
 */
#include <string.h>

#include "base/crc32c.h"
#include "store/store-internal.h"

bool store_is_zero(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = 0;
	size_t i;

	while (len && ((uintptr_t)p & 7)) {
		if (*p++)
			return false;
		len--;
	}
	for (i = 0; i + 64 <= len; i += 64) {
		const uint64_t *q = (const uint64_t *)(const void *)(p + i);

		acc |= q[0] | q[1] | q[2] | q[3] | q[4] | q[5] | q[6] | q[7];
		if (acc)
			return false;
	}
	for (; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Length of the chunk that starts at data. */
size_t store_cut_next(const uint8_t *data, size_t len, size_t avg)
{
	size_t min = avg / 4, max = avg * 4, mask = avg / STORE_PAGE - 1, off = 0;
	bool zero;

	if (len <= STORE_PAGE)
		return len;
	zero = store_is_zero(data, STORE_PAGE);
	while (off < len) {
		size_t n = len - off < STORE_PAGE ? len - off : STORE_PAGE;
		bool page_zero = store_is_zero(data + off, n);

		if (page_zero != zero)
			return off;
		off += n;
		if (off >= max)
			return max;
		if (!zero && off >= min && (crc32c(data + off - n, n) & mask) == mask)
			return off;
	}
	return len;
}
