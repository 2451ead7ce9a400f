/* compat: restore */
/*
 * sock-empty-msgs.c - empty messages queued between others on Unix seqpacket
 * and datagram pairs come back in their places: the reads after the restore
 * give 1 byte, 0 bytes, 1 byte, 0 bytes, then nothing.  The first check,
 * before the dump, only peeks; the one after the restore reads.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"

static int seq[2] = { -1, -1 }, dg[2] = { -1, -1 };

static int queue(int fd)
{
	return send(fd, "a", 1, 0) != 1 || send(fd, "", 0, 0) != 0 || send(fd, "b", 1, 0) != 1 ||
	       send(fd, "", 0, 0) != 0;
}

static int reads(int fd, const char *name, char *why, size_t whylen)
{
	static const ssize_t want[] = { 1, 0, 1, 0, -1 };
	char buf[8];
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n != want[i])
			return FAILED("%s: read %zu gives %zd, want %zd", name, i, n, want[i]);
	}
	return 0;
}

static int setup(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seq) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    queue(seq[1]) || queue(dg[1])) {
		perror("queue");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	static int calls;
	char c;

	if (++calls == 1)
		return recv(seq[0], &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1 &&
				       recv(dg[0], &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1 ?
			       0 :
			       FAILED("nothing queued");
	return reads(seq[0], "seqpacket", why, whylen) || reads(dg[0], "datagram", why, whylen);
}
