/* compat: restore */
/*
 * sock-scm-dgram.c - datagrams carrying fds queued on a Unix datagram pair:
 * an empty one (0 bytes, FIONREAD counts nothing) with an eventfd, one
 * without fds, and one with a memfd and the same eventfd again.  Only the
 * messages hold these files.  After the restore the receiver receives the
 * three in order: the eventfd with its count (both copies one description),
 * the memfd with its bytes and offset.
 */
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 };
static bool restored;

static int setup(void)
{
	int efd = eventfd(5, EFD_CLOEXEC | EFD_NONBLOCK), mfd = memfd_create("scm", MFD_CLOEXEC);
	int two[2] = { mfd, efd };

	if (efd < 0 || mfd < 0 || write(mfd, "memfd-data", 10) != 10 ||
	    lseek(mfd, 3, SEEK_SET) != 3 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) ||
	    send_fds(sv[1], "", 0, &efd, 1) || send_fds(sv[1], "x", 1, NULL, 0) ||
	    send_fds(sv[1], "yy", 2, two, 2)) {
		perror("setup");
		return -1;
	}
	close(efd);
	close(mfd);
	return 0;
}

static int check_eventfd(int fd, char *why, size_t whylen)
{
	char link[64], path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = '\0', strcmp(link, "anon_inode:[eventfd]")))
		return FAILED("the first fd in flight is not an eventfd");
	if (!(fcntl(fd, F_GETFL) & O_NONBLOCK))
		return FAILED("the eventfd in flight lost O_NONBLOCK");
	return 0;
}

static int check(char *why, size_t whylen)
{
	int fds[SCM_TEST_MAX_FDS], more[SCM_TEST_MAX_FDS], nr, nr2, flags = restored ? 0 : MSG_PEEK;
	char buf[64];
	uint64_t count = 0;
	ssize_t n;
	int ret;

	/* before the dump, only the first is peeked at (the peek installs copies) */
	n = recv_fds(sv[0], buf, sizeof(buf), fds, &nr, flags);
	if (n != 0 || nr != 1)
		return FAILED("the first datagram has %zd bytes and %d fds, not 0 and 1", n, nr);
	ret = check_eventfd(fds[0], why, whylen);
	if (!restored) {
		close_fds(fds, nr);
		restored = true;
		return ret;
	}
	if (ret || read(fds[0], &count, sizeof(count)) != sizeof(count) || count != 5) {
		close_fds(fds, nr);
		return ret ? ret : FAILED("the eventfd in flight counts %llu, not 5",
					  (unsigned long long)count);
	}
	n = recv_fds(sv[0], buf, sizeof(buf), more, &nr2, 0);
	close_fds(more, nr2);
	if (n != 1 || buf[0] != 'x' || nr2) {
		close_fds(fds, nr);
		return FAILED("the second datagram has %zd bytes and %d fds", n, nr2);
	}
	n = recv_fds(sv[0], buf, sizeof(buf), more, &nr2, 0);
	if (n != 2 || memcmp(buf, "yy", 2) || nr2 != 2)
		ret = FAILED("the third datagram has %zd bytes and %d fds", n, nr2);
	else if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, more[1], fds[0]) != 0)
		ret = FAILED("the eventfd sent twice came back as two descriptions");
	else if (lseek(more[0], 0, SEEK_CUR) != 3 || pread(more[0], buf, 10, 0) != 10 ||
		 memcmp(buf, "memfd-data", 10))
		ret = FAILED("the memfd in flight lost its offset or bytes");
	close_fds(more, nr2);
	close_fds(fds, nr);
	return ret;
}
