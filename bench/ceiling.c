/*
 * ceiling.c - the memory-copy ceiling a restore is measured against.
 *
 * A restore must at least move every dumped byte into freshly faulted
 * anonymous memory.  This measures the best one thread does at that on this
 * machine: a warm source buffer of BYTES is copied with memcpy into a fresh
 * anonymous mapping of the same size, page faults included, RUNS times.
 * Prints one JSON object: {"bytes":..,"runs_gbps":[..],"median_gbps":..}
 * with GB = 1e9 bytes.
 *
 *   ceiling BYTES [RUNS]      RUNS defaults to 5
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define MAX_RUNS 101

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void *map_anon(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "ceiling: mmap %zu bytes: %s\n", bytes, strerror(errno));
		return NULL;
	}
	return p;
}

int main(int argc, char **argv)
{
	double gbps[MAX_RUNS];
	unsigned long long bytes;
	uint64_t *src;
	size_t i;
	long runs = 5;
	char *end;
	int r;

	if (argc < 2 || argc > 3)
		goto usage;
	errno = 0;
	bytes = strtoull(argv[1], &end, 10);
	if (errno || *end || bytes < 4096 || bytes > (1ULL << 42))
		goto usage;
	if (argc == 3) {
		runs = strtol(argv[2], &end, 10);
		if (*end || runs < 1 || runs > MAX_RUNS)
			goto usage;
	}
	bytes &= ~4095ULL;

	src = map_anon(bytes);
	if (!src)
		return 1;
	/* non-zero and varied, so nothing can shortcut the copy */
	for (i = 0; i < bytes / sizeof(*src); i++)
		src[i] = (i * 0x9e3779b97f4a7c15ULL) | 1;

	for (r = 0; r < runs; r++) {
		void *dst = map_anon(bytes);
		double t0, t1;

		if (!dst)
			return 1;
		t0 = now_s();
		memcpy(dst, src, bytes);
		t1 = now_s();
		/* keep the copy observable so the compiler cannot drop it */
		if (((volatile uint64_t *)dst)[bytes / sizeof(uint64_t) - 1] == 0)
			fprintf(stderr, "ceiling: copy lost\n");
		munmap(dst, bytes);
		gbps[r] = bytes / 1e9 / (t1 - t0);
	}

	printf("{\"bytes\": %llu, \"runs_gbps\": [", bytes);
	for (r = 0; r < runs; r++)
		printf("%s%.3f", r ? ", " : "", gbps[r]);
	qsort(gbps, runs, sizeof(gbps[0]), cmp_double);
	printf("], \"median_gbps\": %.3f}\n",
	       runs % 2 ? gbps[runs / 2] : (gbps[runs / 2 - 1] + gbps[runs / 2]) / 2);
	munmap(src, bytes);
	return 0;

usage:
	fprintf(stderr, "usage: ceiling BYTES [RUNS]   (4096 <= BYTES <= 4 TiB, 1 <= RUNS <= %d)\n",
		MAX_RUNS);
	return 2;
}
