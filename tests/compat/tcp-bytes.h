/*
 * tcp-bytes.h - the byte pattern the TCP compat tests send (byte i of a
 * stream salted s is (7i + s) mod 251), and a reader that checks it: every
 * byte once, in order, and nothing after.  Needs compat.h's FAILED().
 */
#ifndef THAW_TESTS_TCP_BYTES_H
#define THAW_TESTS_TCP_BYTES_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static unsigned char pattern(size_t i, int salt)
{
	return (unsigned char)((i * 7 + (size_t)salt) % 251);
}

/* Reads exactly len bytes (waiting at most 10 s for each) and compares them with the pattern. */
static int read_all(int fd, size_t len, int salt, char *why, size_t whylen, const char *what)
{
	unsigned char buf[8192];
	size_t got = 0, i;
	ssize_t n;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 10000) != 1)
			return FAILED("%s: %zu of %zu bytes, then nothing", what, got, len);
		n = recv(fd, buf, len - got < sizeof(buf) ? len - got : sizeof(buf), 0);
		if (n <= 0)
			return FAILED("%s: read after %zu of %zu bytes: %s", what, got, len,
				      n ? strerror(errno) : "end of stream");
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != pattern(got + i, salt))
				return FAILED("%s: byte %zu is wrong", what, got + i);
		got += (size_t)n;
	}
	n = recv(fd, buf, 1, MSG_DONTWAIT);
	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		return FAILED("%s: more than the %zu bytes sent", what, len);
	return 0;
}

#endif
