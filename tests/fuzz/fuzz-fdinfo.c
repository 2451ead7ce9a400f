/*
 * fuzz-fdinfo.c - fuzz target for the /proc/PID/fdinfo/N parser (fdinfo.c):
 * every kind's lines (pipes, eventfd, epoll tfds, signalfd, timerfd, locks,
 * inotify watches with their file handles, pidfds).
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/fdinfo/ (the
 * built-in samples: fuzz-fdinfo --seeds DIR).  With
 * -DFUZZ_STANDALONE, tests/fuzz/standalone.h drives it over built-in real
 * samples.  Beyond "no crash": a parse that succeeds leaves every count
 * within its bound, and a failure reports the offset of a line inside the
 * input.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/fdinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees a read one byte past the input */
	char *text = malloc(size ? size : 1);
	struct fdinfo info;
	size_t off = 0;
	uint32_t i;
	int ret;

	if (!text)
		return 0;
	memcpy(text, data, size);
	ret = fdinfo_parse(text, size, &info, &off);
	if (ret == 0) {
		if (info.nr_tfds > FDINFO_MAX_TFDS || info.nr_inotify > FDINFO_MAX_TFDS ||
		    (info.has_pid && info.pid == 0) || info.nspid_depth > 32)
			abort();
		for (i = 0; i < info.nr_inotify; i++)
			if (info.inotify[i].wd < 1 ||
			    info.inotify[i].handle_bytes > FDINFO_MAX_HANDLE)
				abort();
		fdinfo_release(&info);
	} else if (ret != -EINVAL && ret != -E2BIG && ret != -ENOMEM) {
		abort();
	} else if (off > size) {
		abort();
	}
	free(text);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '\n', ' ', '\t', ':', '-', '0', 'f', 'x', '>', '(', ')', ',', '\0', '\xff'
#include "standalone.h"

static const char *const samples[] = {
	"pos:\t0\nflags:\t04001\nmnt_id:\t16\nino:\t9654\n",
	"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1039\neventfd-count:                7\n"
	"eventfd-id: 1\neventfd-semaphore: 1\n",
	"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1039\ntfd:        5 events:       19 data: "
	"       5  pos:0 ino:2a52 sdev:c\ntfd:        4 events: 80000019 data: 7fff0000000004"
	"  pos:0 ino:2a51 sdev:c\n",
	"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1039\nsigmask:\t0000000000014002\n",
	"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1039\nclockid: 1\nticks: 3\nsettime flags: 01\n"
	"it_value: (0, 999)\nit_interval: (0, 1000000)\n",
	"pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t1039\ninotify wd:2 ino:35d sdev:fe00000 mask:2 "
	"ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:5d03000000000000\n"
	"inotify wd:1 ino:3c51a sdev:fe00000 mask:fff ignored_mask:0\n",
	"pos:\t0\nflags:\t02004002\nmnt_id:\t4\nino:\t130051\nPid:\t32713\nNSpid:\t32713\t12\t2\n",
	"pos:\t4\nflags:\t0102002\nmnt_id:\t27\nino:\t1\n"
	"lock:\t1: POSIX  ADVISORY  WRITE 42 08:01:1 0 EOF\n"
	"lock:\t2: FLOCK  ADVISORY  READ 42 08:01:1 0 EOF\n",
};

int main(int argc, char **argv)
{
	size_t runs = 0, i;

	log_set_level(LOG_ERROR);
	if (argc == 3 && !strcmp(argv[1], "--seeds")) {
		int failed = 0;

		for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
			char name[16];

			snprintf(name, sizeof(name), "sample-%zu", i);
			failed |= write_seed(argv[2], name, samples[i], strlen(samples[i]));
		}
		return failed;
	}
	if (argc > 1)
		return run_named_files("fuzz-fdinfo", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		runs += mutate_sample(samples[i], strlen(samples[i]), 5000);
	runs += run_corpus("tests/fuzz/corpus/fdinfo");
	printf("fuzz-fdinfo: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
