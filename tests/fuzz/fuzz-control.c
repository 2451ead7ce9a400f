/*
 * fuzz-control.c - fuzz target for what thaw run reads from the program over
 * its control socket (control_read(), src/runtime/control.c): hostile
 * datagrams of any length and bytes, empty ones, many in a row.
 *
 * Input: datagrams, each a 2-byte little-endian length and that many bytes
 * (the last one takes what is left).  Each is sent from the program's end
 * of a real SOCK_SEQPACKET socketpair and read at thaw run's end.  Beyond
 * "no crash": each reads as the snapshot request exactly when its bytes are
 * "snapshot", as an unknown request otherwise (an empty datagram included),
 * and never as the end; with nothing sent there is nothing to read; once
 * the program closed its end, the end is read.
 *
 * With libFuzzer (`make fuzz`), seeds in tests/fuzz/corpus/control/.  With
 * -DFUZZ_STANDALONE, tests/fuzz/standalone.h drives it over built-in
 * conversations.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "runtime/runtime-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum control_request expected(const uint8_t *msg, size_t len)
{
	return len == 8 && !memcmp(msg, "snapshot", 8) ? CONTROL_SNAPSHOT : CONTROL_UNKNOWN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, len;
	uint8_t *copy;
	int sv[2];

	/* the parser alone, on an exact-size copy of everything */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (control_parse(copy, size) != expected(copy, size))
		abort();
	free(copy);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		abort();
	if (control_read(sv[0]) != CONTROL_NONE)
		abort(); /* nothing sent, nothing read */
	while (off < size) {
		len = size - off >= 2 ? (size_t)(data[off] | data[off + 1] << 8) : 0;
		off += size - off >= 2 ? 2 : size - off;
		if (len > size - off)
			len = size - off;
		if (send(sv[1], data + off, len, MSG_NOSIGNAL) != (ssize_t)len)
			abort();
		if (control_read(sv[0]) != expected(data + off, len))
			abort();
		off += len;
	}
	if (control_read(sv[0]) != CONTROL_NONE)
		abort();
	close(sv[1]);
	if (control_read(sv[0]) != CONTROL_CLOSED)
		abort(); /* the program hung up */
	close(sv[0]);
	return 0;
}

#ifdef FUZZ_STANDALONE

#define FUZZ_INTERESTING '\0', '\x01', '\x08', '\xff', 's', 'n', 'a', 'p', 'h', 'o', 't', '\n'
#include "standalone.h"

/* conversations: [length][bytes]... */
static const struct {
	const char *bytes;
	size_t len;
} samples[] = {
	{ "\x08\x00snapshot", 10 },
	{ "\x08\x00snapshot\x08\x00snapshot\x00\x00\x0d\x00snapshot\0junk", 37 },
	{ "\x00\x00\x08\x00snapshot\x09\x00snapshot\n\x04\x00snap", 29 },
	{ "\x08\x01snapshot", 10 },
};

int main(int argc, char **argv)
{
	size_t runs = 0, i;

	log_set_level(LOG_ERROR);
	if (argc > 1)
		return run_named_files("fuzz-control", argc, argv);
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		runs += mutate_sample(samples[i].bytes, samples[i].len, 2000);
	runs += run_corpus("tests/fuzz/corpus/control");
	printf("fuzz-control: %zu inputs, no crash\n", runs);
	return 0;
}

#endif
