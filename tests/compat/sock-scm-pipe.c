/* compat: restore */
/*
 * sock-scm-pipe.c - the read end of a pipe in flight on a Unix seqpacket
 * pair, with bytes buffered in the pipe; the process closed its own read
 * end and keeps the write end.  After the restore the receiver gets the
 * read end: it reads what was buffered, then what the kept write end
 * writes now (one pipe).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 }, wr = -1;
static bool restored;

static int setup(void)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) || write(p[1], "hello", 5) != 5 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) || send_fds(sv[1], "pipe", 4, &p[0], 1)) {
		perror("setup");
		return -1;
	}
	close(p[0]);
	wr = p[1];
	return 0;
}

static int check(char *why, size_t whylen)
{
	int fds[SCM_TEST_MAX_FDS], nr, ret = 0;
	char buf[16];
	struct stat st;
	ssize_t n = recv_fds(sv[0], buf, sizeof(buf), fds, &nr, restored ? 0 : MSG_PEEK);

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
	return ret;
}
