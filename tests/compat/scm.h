/*
 * scm.h - for the compat tests of messages queued in Unix sockets: send a
 * message carrying an fd (SCM_RIGHTS), and see whether the first message
 * queued carries one, without taking it (MSG_PEEK, no room for fds), or
 * which credentials it comes with.
 */
#ifndef THAW_TESTS_SCM_H
#define THAW_TESTS_SCM_H

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCM_TEST_MAX_FDS 8

/* sends len bytes of data on sock (to, if not NULL) with fd attached; 0 or -1 */
static __attribute__((unused)) int send_fd(int sock, const void *data, size_t len, int fd, const struct sockaddr *to,
		   socklen_t tolen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov,
			      .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == (ssize_t)len ? 0 : -1;
}

/* sends len bytes of data on sock with the nr fds attached (none: a plain send); 0 or -1 */
static __attribute__((unused)) int send_fds(int sock, const void *data, size_t len, const int *fds,
					    int nr)
{
	union {
		char buf[CMSG_SPACE(SCM_TEST_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nr > 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(nr * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nr * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nr * sizeof(int));
	}
	return sendmsg(sock, &msg, 0) == (ssize_t)len ? 0 : -1;
}

/*
 * Receives (or, with MSG_PEEK in flags, peeks at) what one recvmsg of up to
 * len bytes gives on sock: the bytes into buf, the fds into fds (their
 * number in *nr, at most SCM_TEST_MAX_FDS; a truncated control is -1).
 * Returns the bytes, or -1.
 */
static __attribute__((unused)) ssize_t recv_fds(int sock, void *buf, size_t len, int *fds, int *nr,
						int flags)
{
	union {
		char buf[CMSG_SPACE(SCM_TEST_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &msg, flags | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	*nr = 0;
	if (n < 0 || (msg.msg_flags & MSG_CTRUNC))
		return -1;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nr = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), *nr * sizeof(int));
		}
	return n;
}

static __attribute__((unused)) void close_fds(const int *fds, int nr)
{
	for (int i = 0; i < nr; i++)
		close(fds[i]);
}

/* 1 if the first message queued on sock carries fds, 0 if not, -1 if none is queued */
static __attribute__((unused)) int peek_has_fds(int sock)
{
	char buf[64];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (recvmsg(sock, &msg, MSG_PEEK | MSG_DONTWAIT) < 0)
		return -1;
	return (msg.msg_flags & MSG_CTRUNC) != 0;
}

/*
 * The credentials the first message queued on sock comes with (the socket
 * asks for them: SO_PASSCRED): 0, or -1 if no message or no credentials.
 */
static __attribute__((unused)) int peek_creds(int sock, struct ucred *ret)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	char data[64];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;

	if (recvmsg(sock, &msg, MSG_PEEK | MSG_DONTWAIT) < 0)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_CREDENTIALS)
		return -1;
	memcpy(ret, CMSG_DATA(c), sizeof(*ret));
	return 0;
}

#endif
