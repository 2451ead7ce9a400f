/*
 * test-gpu.c - where a CUDA checkpoint put the device state (gpu.c,
 * gpu_state_ranges): the mappings it made or filled, neighbours merged,
 * none of the untouched ones; too many ranges to keep mean "unknown" (a lazy
 * restore then keeps the whole process eager).  No GPU is needed: the
 * mappings are given (test-image.c checks the manifest's gpu.state).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu/gpu-internal.h"
#include "image/image.h"

#define M 0x100000ull

static void test_state_ranges(void **state)
{
	/* heap grows, a new mapping, a device mapping replaced by anonymous memory */
	static const struct gpu_vma before[] = {
		{ 0x400000, 0x401000, 7, 4096 }, /* the program: untouched */
		{ 0x600000, 0x600000 + M, 0, 8192 }, /* heap: more resident after */
		{ 0x7f0000000000, 0x7f0000000000 + 2 * M, 99, 0 }, /* /dev/nvidia-uvm */
		{ 0x7ff000000000, 0x7ff000001000, 0, 4096 }, /* untouched */
	};
	static const struct gpu_vma after[] = {
		{ 0x400000, 0x401000, 7, 4096 },
		{ 0x600000, 0x600000 + M, 0, 65536 },
		{ 0x600000 + M, 0x600000 + 2 * M, 0, 4096 }, /* new, next to the heap: merged */
		{ 0x7f0000000000, 0x7f0000000000 + 2 * M, 0, 2 * M }, /* now anonymous */
		{ 0x7ff000000000, 0x7ff000001000, 0, 4096 },
	};
	struct image_gpu *g = calloc(1, sizeof(*g));

	(void)state;
	assert_non_null(g);
	gpu_state_ranges(before, 4, after, 5, g);
	assert_true(g->state_known);
	assert_int_equal(g->nr_state, 2);
	assert_int_equal(g->state[0].start, 0x600000);
	assert_int_equal(g->state[0].end, 0x600000 + 2 * M);
	assert_int_equal(g->state[1].start, 0x7f0000000000);
	assert_int_equal(g->state[1].end, 0x7f0000000000 + 2 * M);

	/* nothing changed: no state, but known */
	gpu_state_ranges(before, 4, before, 4, g);
	assert_true(g->state_known);
	assert_int_equal(g->nr_state, 0);
	free(g);
}

static void test_state_too_many(void **state)
{
	size_t n = 2 * IMAGE_MAX_GPU_STATE, i;
	struct gpu_vma *after = calloc(n, sizeof(*after));
	struct image_gpu *g = calloc(1, sizeof(*g));

	(void)state;
	assert_non_null(after);
	assert_non_null(g);
	for (i = 0; i < n; i++) /* new mappings with holes between: none merge */
		after[i] = (struct gpu_vma){ 0x10000000 + i * 2 * 4096, 0x10000000 + i * 2 * 4096 + 4096,
					     0, 4096 };
	gpu_state_ranges(NULL, 0, after, n, g);
	assert_false(g->state_known);
	assert_int_equal(g->nr_state, 0);
	free(after);
	free(g);
}

static void test_read_own_vmas(void **state)
{
	struct gpu_vma *v = NULL;
	size_t n = 0, i;

	(void)state;
	assert_int_equal(gpu_read_vmas(getpid(), &v, &n), 0);
	assert_true(n > 3);
	for (i = 0; i < n; i++) {
		assert_true(v[i].start < v[i].end);
		assert_true(i == 0 || v[i - 1].end <= v[i].start);
	}
	free(v);
}

/*
 * A mapped file's path long enough that a 1024-byte line buffer would cut it
 * where its name reads like a VMA line: the kernel puts the path at column 73
 * (after the padded "start-end perms offset dev inode"), so 950 more bytes
 * reach byte 1023.  No such VMA may come back.
 */
static void test_read_vmas_long_path(void **state)
{
	static const char fake[] = "7e0000100000-7e0000200000 rw-p 00000000 00:00 4242";
	char dir[1200], path[1300], seg[201];
	size_t n = 0, i, left;
	struct gpu_vma *v = NULL;
	void *map;
	int fd;

	(void)state;
	strcpy(dir, "/tmp/thaw-test-gpu-XXXXXX");
	assert_non_null(mkdtemp(dir));
	left = 950 - strlen(dir) - 1; /* path bytes before the fake, less the '/' before it */
	while (left > 0) {
		size_t len = left <= 201 ? left - 1 : 200; /* each directory costs len + '/' */

		memset(seg, 'd', len);
		seg[len] = 0;
		strcat(dir, "/");
		strcat(dir, seg);
		assert_int_equal(mkdir(dir, 0700), 0);
		left -= len + 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, fake);
	assert_int_equal(strlen(path) - strlen(fake), 950);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	map = mmap((void *)0x7e0000000000UL, 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	assert_true(map == (void *)0x7e0000000000UL);
	assert_int_equal(gpu_read_vmas(getpid(), &v, &n), 0);
	for (i = 0; i < n; i++)
		assert_true(v[i].start != 0x7e0000100000ULL);
	for (i = 0; i < n && v[i].start != 0x7e0000000000ULL; i++)
		;
	assert_true(i < n); /* the mapping itself is there */
	free(v);
	munmap(map, 4096);
	close(fd);
	unlink(path);
	while (strlen(dir) > strlen("/tmp/thaw-test-gpu-XXXXXX")) {
		assert_int_equal(rmdir(dir), 0);
		*strrchr(dir, '/') = 0;
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_ranges),
		cmocka_unit_test(test_state_too_many),
		cmocka_unit_test(test_read_own_vmas),
		cmocka_unit_test(test_read_vmas_long_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
