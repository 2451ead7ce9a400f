/*
 * fuzz-weights.c - fuzz target for what thaw reads from a program's GPU
 * weights region (src/gpu/weights.c): its registry and its agent's replies,
 * both written by the program and untrusted.
 *
 * Input: the first byte picks the reader (even: the registry, odd: a
 * reply, with the next 4 bytes as the sequence number expected); the rest
 * is what the program wrote.  Beyond "no crash": whatever is accepted holds
 * to the bounds thaw relies on (a thread and fds in range, distinct fds, at
 * most 2^50 bytes; a reply's status an -errno or 0 and its message a
 * printable, terminated string), and a reply is accepted only with the
 * expected sequence number.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/weights/.  With
 * -DFUZZ_STANDALONE, tests/fuzz/standalone.h drives it over built-in samples.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "gpu/gpu-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[128];
	uint8_t *copy;
	size_t i;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		struct tw_registry r;

		copy = malloc(size - 1 ? size - 1 : 1);
		if (!copy)
			return 0;
		memcpy(copy, data + 1, size - 1);
		if (weights_registry_parse(copy, size - 1, &r, why, sizeof(why)) == 0) {
			if (size - 1 != sizeof(r) || r.agent_tid <= 0 || r.req_fd < 0 ||
			    r.rep_fd < 0 || r.req_fd == r.rep_fd || r.bytes > 1ull << 50 ||
			    r.version != TW_VERSION)
				abort();
		} else if (!memchr(why, 0, sizeof(why))) {
			abort();
		}
		free(copy);
	} else {
		struct tw_reply r;
		uint32_t seq;
		int ret;

		if (size < 5)
			return 0;
		memcpy(&seq, data + 1, 4);
		copy = malloc(size - 5 ? size - 5 : 1);
		if (!copy)
			return 0;
		memcpy(copy, data + 5, size - 5);
		ret = weights_reply_parse(copy, size - 5, seq, &r, why, sizeof(why));
		if (ret == 0) {
			if (r.seq != seq || r.ret > 0 || r.ret < -4095 || r.bytes > 1ull << 50)
				abort();
			if (!memchr(r.msg, 0, sizeof(r.msg)))
				abort();
			for (i = 0; r.msg[i]; i++)
				if (r.msg[i] < 0x20 || r.msg[i] > 0x7e)
					abort();
		}
		free(copy);
	}
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '\0', '\x01', '\x02', '\x7f', '\x80', '\xff', 'T', 'W', 'R', 'P', '\n'
#include "standalone.h"

int main(int argc, char **argv)
{
	struct tw_registry reg = {.version = TW_VERSION,
				  .size = sizeof(reg),
				  .agent_tid = 99,
				  .req_fd = 5,
				  .rep_fd = 6,
				  .nr_segments = 2,
				  .bytes = 4 << 20};
	struct tw_reply rep = {.seq = 7, .ret = -12, .bytes = 1 << 30, .nr_segments = 2};
	char sample[1 + sizeof(rep) + 4];
	uint32_t seq = 7;
	size_t runs = 0;

	log_set_level(LOG_ERROR);
	if (argc > 1)
		return run_named_files("fuzz-weights", argc, argv);
	memcpy(reg.magic, TW_REGISTRY_MAGIC, 8);
	memcpy(rep.magic, TW_REPLY_MAGIC, 4);
	snprintf(rep.msg, sizeof(rep.msg), "GPU 0 has 1.00 GiB free");
	sample[0] = 0;
	memcpy(sample + 1, &reg, sizeof(reg));
	runs += mutate_sample(sample, 1 + sizeof(reg), 2000);
	sample[0] = 1;
	memcpy(sample + 1, &seq, 4);
	memcpy(sample + 5, &rep, sizeof(rep));
	runs += mutate_sample(sample, 5 + sizeof(rep), 2000);
	runs += run_corpus("tests/fuzz/corpus/weights");
	printf("fuzz-weights: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
