/*
 * standalone.h - the fuzz targets' own driver, for builds without libFuzzer
 * (-DFUZZ_STANDALONE, as `make test` runs them): every truncation and every
 * single-byte change of a short sample (of a long one, a few thousand of
 * them), then seeded random edits (bit
 * flips, deletions, insertions of bytes that steer the parser, a digit that
 * grows a number, truncation), and the seeds of a corpus directory with
 * random edits of each.  The
 * target defines FUZZ_INTERESTING (a list of char constants) before
 * including this, and LLVMFuzzerTestOneInput().  Deterministic: the same
 * inputs every run.
 */
#ifndef THAW_TESTS_FUZZ_STANDALONE_H
#define THAW_TESTS_FUZZ_STANDALONE_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char interesting[] = { FUZZ_INTERESTING };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Every truncation and every single-byte change to a steering byte of a
 * short sample; of a long one about 1024 of each, at a stride from a random
 * start; then random edits.
 */
static size_t mutate_sample(const char *sample, size_t len, size_t random_runs)
{
	size_t cap = len * 2 + 16, runs = 0, i, k;
	bool exhaustive = len <= 4096;
	size_t step = exhaustive ? 1 : len / 1024 + 1;
	uint8_t *buf = malloc(cap);

	if (!buf)
		abort();
	for (i = exhaustive ? 0 : rng() % step; i <= len; i += step) {
		LLVMFuzzerTestOneInput((const uint8_t *)sample, i);
		runs++;
	}
	for (i = exhaustive ? 0 : rng() % step; i < len; i += step) {
		for (k = 0; k < (exhaustive ? sizeof(interesting) : 1); k++) {
			memcpy(buf, sample, len);
			buf[i] = (uint8_t)interesting[exhaustive ? k : rng() % sizeof(interesting)];
			LLVMFuzzerTestOneInput(buf, len);
			runs++;
		}
	}
	for (i = 0; i < random_runs; i++) {
		size_t cur = len, m, mutations = 1 + rng() % 8;

		memcpy(buf, sample, len);
		for (m = 0; m < mutations && cur; m++) {
			size_t at = rng() % cur;

			switch (rng() % 5) {
			case 0: /* flip a bit */
				buf[at] ^= (uint8_t)(1u << (rng() % 8));
				break;
			case 1: /* delete a byte */
				memmove(buf + at, buf + at + 1, cur - at - 1);
				cur--;
				break;
			case 2: /* insert an interesting byte */
				if (cur < cap) {
					memmove(buf + at + 1, buf + at, cur - at);
					buf[at] = (uint8_t)interesting[rng() % sizeof(interesting)];
					cur++;
				}
				break;
			case 3: /* a digit grows a number: counts, indexes, addresses, sizes */
				if (buf[at] >= '0' && buf[at] <= '9' && cur < cap) {
					memmove(buf + at + 1, buf + at, cur - at);
					buf[at] = (uint8_t)('1' + rng() % 9);
					cur++;
				}
				break;
			default: /* truncate */
				cur = at;
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, cur);
		runs++;
	}
	free(buf);
	return runs;
}

/* Runs path once and, with mutations > 0, that many random edits of it. */
static int run_file(const char *path, size_t mutations, size_t *runs)
{
	size_t cap = 1 << 20, len = 0, n;
	uint8_t *buf = malloc(cap);
	FILE *f;

	if (!buf)
		return -1;
	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		free(buf);
		return -1;
	}
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *bigger = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	++*runs;
	if (mutations)
		*runs += mutate_sample((const char *)buf, len, mutations);
	free(buf);
	return 0;
}

/* The seeds, when run from the top of the tree (as tests/run.sh does). */
static size_t run_corpus(const char *dir_path)
{
	char path[512];
	struct dirent *de;
	size_t runs = 0;
	DIR *dir;

	dir = opendir(dir_path);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
		if (run_file(path, 300, &runs) < 0)
			abort();
	}
	closedir(dir);
	return runs;
}

/* Writes one seed, DIR/NAME (for `fuzz-NAME --seeds DIR`): 0, or 1 said. */
static __attribute__((unused)) int write_seed(const char *dir, const char *name, const void *data,
					     size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}

/* The files named on the command line, once each: the exit status, or -1 when none are named. */
static int run_named_files(const char *target, int argc, char **argv)
{
	size_t runs = 0;
	int i, failed = 0;

	if (argc < 2)
		return -1;
	for (i = 1; i < argc; i++)
		failed |= run_file(argv[i], 0, &runs) < 0;
	printf("%s: %zu inputs, no crash\n", target, runs);
	return failed;
}

#endif
