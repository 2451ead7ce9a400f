/* compat: restore */
/*
 * sock-scm-pipe.c - the read end of a pipe in flight on a Unix seqpacket
 * pair, with bytes buffered in the pipe; the process closed its own read
 * end and keeps the write end.  Then, in a second message, one end of a
 * Unix stream pair with bytes queued to it, whose other end the process
 * keeps.  After the restore the receiver gets the read end: it reads what
 * was buffered, then what the kept write end writes now (one pipe); and the
 * socket end: it reads its bytes and talks with the kept end.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 }, wr = -1, kept = -1;
static bool restored;

static int setup(void)
{
	int p[2], pair[2];

	if (pipe2(p, O_CLOEXEC) || write(p[1], "hello", 5) != 5 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) || send_fds(sv[1], "pipe", 4, &p[0], 1) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, pair) || write(pair[0], "ping", 4) != 4 ||
	    send_fds(sv[1], "sock", 4, &pair[1], 1)) {
		perror("setup");
		return -1;
	}
	close(p[0]);
	close(pair[1]);
	wr = p[1];
	kept = pair[0];
	return 0;
}

/* The second message: the socket end in flight, connected to the kept end. */
static int check_socket(char *why, size_t whylen)
{
	int fds[SCM_TEST_MAX_FDS], nr, ret = 0;
	char buf[16];
	ssize_t n = recv_fds(sv[0], buf, sizeof(buf), fds, &nr, 0);

	if (n != 4 || memcmp(buf, "sock", 4) || nr != 1)
		return FAILED("the second message has %zd bytes and %d fds", n, nr);
	if (read(fds[0], buf, sizeof(buf)) != 4 || memcmp(buf, "ping", 4))
		ret = FAILED("the socket in flight lost the bytes queued to it");
	else if (write(fds[0], "pong", 4) != 4 || read(kept, buf, sizeof(buf)) != 4 ||
		 memcmp(buf, "pong", 4))
		ret = FAILED("the socket in flight is not the pair of the kept end");
	close_fds(fds, nr);
	return ret;
}

static int check(char *why, size_t whylen)
{
	int fds[SCM_TEST_MAX_FDS], nr, ret = 0;
	char buf[16];
	struct stat st;
	bool after = restored;
	ssize_t n = recv_fds(sv[0], buf, sizeof(buf), fds, &nr, after ? 0 : MSG_PEEK);

	if (n != 4 || memcmp(buf, "pipe", 4) || nr != 1)
		return FAILED("the message has %zd bytes and %d fds, not \"pipe\" and 1", n, nr);
	if (fstat(fds[0], &st) || !S_ISFIFO(st.st_mode) ||
	    (fcntl(fds[0], F_GETFL) & O_ACCMODE) != O_RDONLY)
		ret = FAILED("the fd in flight is not a pipe's read end");
	else if (!restored)
		restored = true;
	else if (read(fds[0], buf, sizeof(buf)) != 5 || memcmp(buf, "hello", 5))
		ret = FAILED("the pipe in flight lost its buffered bytes");
	else if (write(wr, "more", 4) != 4 || read(fds[0], buf, sizeof(buf)) != 4 ||
		 memcmp(buf, "more", 4))
		ret = FAILED("the pipe in flight is not the one the kept write end writes to");
	close_fds(fds, nr);
	return ret || !after ? ret : check_socket(why, whylen);
}
