/* compat: restore */
/*
 * sock-opts-unix.c - options of Unix sockets come back: on a stream pair
 * with bytes queued, SO_PEEK_OFF (a peek after the restore starts where the
 * program's offset says), SO_RCVTIMEO, SO_PRIORITY, a locked send buffer;
 * on a datagram pair, SO_PASSCRED (set after a datagram was queued: that
 * one carries no credentials, before and after), SO_SNDTIMEO and
 * SO_RCVLOWAT; on a listener, SO_RCVBUF and SO_PASSSEC.
 */
#include <stddef.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"
#include "sockopts.h"

static int sv[2] = { -1, -1 }, dg[2] = { -1, -1 }, lfd = -1;

static int setup(void)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct timeval tv = { 3, 0 };
	int r = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg)) {
		perror("socketpair");
		return -1;
	}
	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "thaw-compat-sock-opts-%d", getpid());
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&un,
			    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
					strlen(un.sun_path + 1))) ||
	    listen(lfd, 4)) {
		perror("listener");
		return -1;
	}
	if (write(sv[1], "0123456789", 10) != 10) {
		perror("write");
		return -1;
	}
	r |= SET(sv[0], SOL_SOCKET, SO_PEEK_OFF, 3);
	r |= SET_BYTES(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	r |= SET(sv[0], SOL_SOCKET, SO_PRIORITY, 4);
	r |= SET(sv[1], SOL_SOCKET, SO_SNDBUF, 30000);
	r |= WATCH(sv[1], SOL_SOCKET, SO_BUF_LOCK);
	r |= SET_BYTES(dg[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r |= SET(dg[1], SOL_SOCKET, SO_RCVLOWAT, 7);
	/* queued before SO_PASSCRED: it carries no credentials (pid 0) */
	if (send(dg[0], "q", 1, 0) != 1) {
		perror("send");
		return -1;
	}
	r |= SET(dg[1], SOL_SOCKET, SO_PASSCRED, 1);
	r |= SET(lfd, SOL_SOCKET, SO_RCVBUF, 40000);
	r |= SET(lfd, SOL_SOCKET, SO_PASSSEC, 1);
	return r || watch_final() ? -1 : 0;
}

static int check(char *why, size_t whylen)
{
	struct ucred cred;
	char buf[8] = "";
	ssize_t n;

	if (check_watched(why, whylen))
		return 1;
	/* the peek offset in use: it starts at byte 3 and moves on */
	n = recv(sv[0], buf, 3, MSG_PEEK | MSG_DONTWAIT);
	if (n != 3 || memcmp(buf, "345", 3))
		return FAILED("a peek read %zd bytes \"%.3s\", want \"345\"", n, buf);
	if (setsockopt(sv[0], SOL_SOCKET, SO_PEEK_OFF, &(int){ 3 }, sizeof(int)))
		return FAILED("SO_PEEK_OFF: %s", strerror(errno));
	if (peek_creds(dg[1], &cred))
		return FAILED("the datagram queued before SO_PASSCRED, or its SCM_CREDENTIALS, "
			      "is gone");
	return cred.pid ? FAILED("the datagram carries the credentials of pid %d", cred.pid) : 0;
}
