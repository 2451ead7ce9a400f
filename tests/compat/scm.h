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
