/*
 * fuzz-proc.c - fuzz target for the /proc parsers (maps, smaps, stat, status and its
 * credential lines, limits).
 *
 * With libFuzzer: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE
 * -Isrc tests/fuzz/fuzz-proc.c src/engine/proc.c src/base/log.c, seeds in
 * tests/fuzz/corpus/proc/.  With -DFUZZ_STANDALONE it has its own main(): the
 * files named on the command line are run once each; with none, every
 * truncation and a deterministic set of byte mutations of built-in real
 * samples are run, then the seeds of tests/fuzz/corpus/proc/ (when run from
 * the top of the tree) with random edits of each.  It exits 0 when nothing crashed; a broken invariant
 * aborts.  Every input is copied to a buffer of its exact size so that ASan
 * catches a read one byte past it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_maps(const struct proc_map *m, size_t n, size_t len)
{
	size_t i;

	/* The shortest VMA header, "0-1000 ---p 0 0:0 0", is 19 bytes. */
	if (n > len / 19 + 1)
		abort();
	for (i = 0; i < n; i++)
		if (m[i].start >= m[i].end || !m[i].name || strlen(m[i].name) > len)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	struct proc_rlimit limits[PROC_NR_RLIMITS];
	struct proc_creds creds;
	struct proc_status status;
	struct proc_stat stat;
	struct proc_map *maps;
	struct proc_timer *timers;
	size_t n, i;

	if (!text)
		return 0;
	memcpy(text, data, size);
	if (proc_parse_smaps(text, size, &maps, &n) == 0) {
		check_maps(maps, n, size);
		proc_maps_free(maps, n);
	} else if (maps || n) {
		abort();
	}
	if (proc_parse_maps(text, size, &maps, &n) == 0) {
		check_maps(maps, n, size);
		proc_maps_free(maps, n);
	}
	if (proc_parse_stat(text, size, &stat) == 0 && (stat.pid <= 0 || !memchr(stat.comm, 0, 64)))
		abort();
	if (proc_parse_status(text, size, &status) == 0 &&
	    (status.nspid_n < 1 || status.nspid_n > PROC_NS_LEVELS_MAX))
		abort();
	if (proc_parse_timers(text, size, &timers, &n) == 0) {
		for (i = 0; i < n; i++)
			if (timers[i].id < 0 || timers[i].target < 0 || (timers[i].notify & ~PROC_TIMER_NOTIFY_TID) > 2)
				abort();
		free(timers);
	} else if (timers) {
		abort();
	}
	if (proc_parse_creds(text, size, &creds) == 0) {
		if (creds.nr_groups > PROC_MAX_GROUPS || (creds.nr_groups && !creds.groups))
			abort();
		proc_creds_release(&creds);
	} else if (creds.groups || creds.nr_groups) {
		abort();
	}
	if (proc_parse_limits(text, size, limits) == 0)
		for (n = 0; n < PROC_NR_RLIMITS; n++)
			if (limits[n].cur > limits[n].max)
				abort();
	free(text);
	return 0;
}

#ifdef FUZZ_STANDALONE

#include <dirent.h>
#include <stdbool.h>

static const char sample_smaps[] =
	"55b02747e000-55b02749f000 rw-p 00000000 00:00 0                          [heap]\n"
	"Size:                132 kB\n"
	"Rss:                  16 kB\n"
	"Anonymous:            16 kB\n"
	"Swap:                  0 kB\n"
	"Locked:                0 kB\n"
	"THPeligible:           0\n"
	"VmFlags: rd wr mr mw me ac \n"
	"7fb9e7756000-7fb9e7757000 r--s 00000000 fe:00 10952897                   /tmp/a file\\012x\n"
	"Rss:                   4 kB\n"
	"VmFlags: rd sh mr mw me ms \n"
	"7fb9e775c000-7fb9e775d000 rw-s 00000000 00:01 24                         /memfd:m (deleted)\n"
	"Anonymous:             0 kB\n"
	"VmFlags: rd wr sh mr mw me ms \n"
	"7fb9e775f000-7fb9e7763000 r--p 00000000 00:00 0                          [vvar]\n"
	"VmFlags: rd mr pf io de dd \n"
	"7fb9e7763000-7fb9e7765000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
	"VmFlags: rd mr pf io de dd \n"
	"7ffe7e273000-7ffe7e294000 rw-p 00000000 00:00 0                          [stack]\n"
	"VmFlags: rd wr mr mw me gd ac \n";

static const char sample_stat[] =
	"7959 (a) b (c) S 1 7949 5472 0 -1 4194560 117 0 0 0 0 0 0 0 20 0 1 0 227027 6778880 329 "
	"18446744073709551615 94214408122368 94214408123649 140731015049440 0 0 0 0 6 0 1 0 0 17 "
	"0 0 0 0 0 0 94214408134096 94214408134784 94215061626880 140731015051934 "
	"140731015051941 140731015051941 140731015053297 0\n";

static const char sample_status[] = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t7241\n"
				    "PPid:\t7235\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
				    "NStgid:\t7241\t3\nNSpid:\t7241\t3\nThreads:\t1\nSigQ:\t0/96365\n"
				    "SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"
				    "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
				    "SigCgt:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n";

/* Bytes that steer the parsers: separators, digits, escapes, the end of comm. */
#define FUZZ_INTERESTING '\n', ' ', '\t', '-', ':', ')', '(', '\\', '0', 'f', '9', '\0', 'p', 's', '/', '\xff'
#include "standalone.h"

int main(int argc, char **argv)
{
	size_t runs = 0;

	log_set_level(LOG_ERROR);
	if (argc > 1)
		return run_named_files("fuzz-proc", argc, argv);
	runs += mutate_sample(sample_smaps, sizeof(sample_smaps) - 1, 20000);
	runs += mutate_sample(sample_stat, sizeof(sample_stat) - 1, 20000);
	runs += mutate_sample(sample_status, sizeof(sample_status) - 1, 20000);
	runs += run_corpus("tests/fuzz/corpus/proc");
	printf("fuzz-proc: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
