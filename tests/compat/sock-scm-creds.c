/* compat: restore */
/*
 * sock-scm-creds.c - messages queued with the credentials of their sender,
 * the process itself, on Unix pairs whose readers asked for them
 * (SO_PASSCRED): a datagram, and on a stream two pieces, one sent before
 * SO_PASSCRED (it carries none: pid 0) and one after.  After the restore
 * each reads back with the restored process's own pid, uid and gid, and
 * the stream's reads still stop where the credentials change.
 */
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int dg[2] = { -1, -1 }, st[2] = { -1, -1 };
static bool restored;

static int setup(void)
{
	int on = 1;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || socketpair(AF_UNIX, SOCK_STREAM, 0, st) ||
	    send(st[1], "none", 4, 0) != 4 ||
	    setsockopt(dg[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) ||
	    setsockopt(st[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) ||
	    send(dg[1], "who", 3, 0) != 3 || send(st[1], "mine", 4, 0) != 4) {
		perror("SO_PASSCRED");
		return -1;
	}
	return 0;
}

/* One read (or peek) of up to len bytes with its credentials: the bytes, or -1. */
static ssize_t read_creds(int sock, char *buf, size_t len, struct ucred *cred, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &msg, flags | MSG_DONTWAIT);

	c = n < 0 ? NULL : CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_CREDENTIALS)
		return -1;
	memcpy(cred, CMSG_DATA(c), sizeof(*cred));
	return n;
}

static bool own(const struct ucred *c)
{
	return c->pid == getpid() && c->uid == getuid() && c->gid == getgid();
}

static int check(char *why, size_t whylen)
{
	struct ucred cred;
	char buf[16];
	ssize_t n;

	if (peek_creds(dg[0], &cred) || !own(&cred))
		return FAILED("the datagram's credentials are pid %d uid %u, not its own",
			      cred.pid, cred.uid);
	if (!restored) {
		restored = true;
		return 0;
	}
	n = read_creds(st[0], buf, sizeof(buf), &cred, 0);
	if (n != 4 || memcmp(buf, "none", 4) || cred.pid != 0)
		return FAILED("the stream's first read gave %zd bytes with pid %d, not 4 with none",
			      n, cred.pid);
	n = read_creds(st[0], buf, sizeof(buf), &cred, 0);
	if (n != 4 || memcmp(buf, "mine", 4) || !own(&cred))
		return FAILED("the stream's second read gave %zd bytes with pid %d, not its own",
			      n, cred.pid);
	return 0;
}
