/*
 * control.c - what thaw run reads from the program over the control socket
 * (docs/runtime.md, "Control protocol").
 *
 * The program is not trusted: a datagram may have any length and any bytes,
 * come again after the snapshot point, or be empty.  Only the exact bytes
 * "snapshot" ask for a snapshot; "snapshot" followed by a NUL and more, a
 * truncated datagram or an empty one is some other request, answered as
 * unknown, and never taken for the end of the conversation.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "runtime-internal.h"

#define REQUEST_SNAPSHOT "snapshot"

enum control_request control_parse(const void *msg, size_t len)
{
	if (len == sizeof(REQUEST_SNAPSHOT) - 1 && !memcmp(msg, REQUEST_SNAPSHOT, len))
		return CONTROL_SNAPSHOT;
	return CONTROL_UNKNOWN;
}

enum control_request control_read(int sock)
{
	char buf[CONTROL_MAX_REQUEST];
	struct pollfd p = { .fd = sock, .events = POLLRDHUP };
	ssize_t n;

	/* MSG_TRUNC: the datagram's whole length, so that a long one is not read as its start */
	n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? CONTROL_NONE : CONTROL_CLOSED;
	if ((size_t)n > sizeof(buf))
		return CONTROL_UNKNOWN;
	/* 0 is an empty datagram as well as the end: only a hung-up peer is the end */
	if (n == 0) {
		int ready;

		do /* a signal pending now is no hang-up: poll fails EINTR even with timeout 0 */
			ready = poll(&p, 1, 0);
		while (ready < 0 && errno == EINTR);
		if (ready < 0 || (ready > 0 && p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
			return CONTROL_CLOSED;
	}
	return control_parse(buf, (size_t)n);
}
