/* compat: restore */
/*
 * sock-scm-rights.c - fds in flight (sent with SCM_RIGHTS, not yet received)
 * on a Unix stream pair, between bytes sent without any: a file the
 * process also holds open (one open file description: one offset) and
 * /dev/null, which only the message holds.  After the restore the receiver
 * receives them: a read stops after the bytes that came with the fds, as
 * it did, the file is the same description as the process's own fd
 * (kcmp), with its offset, and the bytes after come next.
 */
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "compat.h"
#include "scm.h"

static int sv[2] = { -1, -1 }, file = -1;
static bool restored;

static int setup(void)
{
	char path[] = "/tmp/thaw-compat-scm-XXXXXX";
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC), fds[2];

	file = mkostemp(path, O_CLOEXEC);
	if (file < 0 || null < 0 || unlink(path) || write(file, "abcdef", 6) != 6 ||
	    lseek(file, 2, SEEK_SET) != 2 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("setup");
		return -1;
	}
	fds[0] = file;
	fds[1] = null;
	if (send_fds(sv[1], "one", 3, NULL, 0) || send_fds(sv[1], "fd", 2, fds, 2) ||
	    send_fds(sv[1], "tail", 4, NULL, 0)) {
		perror("SCM_RIGHTS");
		return -1;
	}
	close(null);
	return 0;
}

/* The two fds that came: the file, shared with ours, and /dev/null. */
static int check_fds(const int *fds, int nr, char *why, size_t whylen)
{
	struct stat st, nst;
	off_t at;

	if (nr != 2)
		return FAILED("%d fds came with the message, not 2", nr);
	if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, fds[0], file) != 0)
		return FAILED("the file in flight is not the description of fd %d", file);
	at = lseek(fds[0], 0, SEEK_CUR);
	if (at != 2 || lseek(fds[0], 4, SEEK_SET) != 4 || lseek(file, 0, SEEK_CUR) != 4 ||
	    lseek(file, 2, SEEK_SET) != 2)
		return FAILED("the offset of the file in flight is %lld, or not shared",
			      (long long)at);
	if (fstat(fds[1], &st) || stat("/dev/null", &nst) || !S_ISCHR(st.st_mode) ||
	    st.st_rdev != nst.st_rdev)
		return FAILED("the second fd in flight is not /dev/null");
	if ((fcntl(fds[1], F_GETFL) & O_ACCMODE) != O_RDONLY)
		return FAILED("/dev/null in flight is not read-only");
	if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, fds[1], file) == 0)
		return FAILED("/dev/null in flight is the file");
	return 0;
}

static int check(char *why, size_t whylen)
{
	char buf[64];
	int fds[SCM_TEST_MAX_FDS], nr, ret;
	ssize_t n;

	/* before the dump, a peek (which installs copies) leaves the queue as it is */
	n = recv_fds(sv[0], buf, sizeof(buf), fds, &nr, restored ? 0 : MSG_PEEK);
	if (n != 5 || memcmp(buf, "onefd", 5))
		return FAILED("the first read gave %zd bytes (%.*s), not \"onefd\"", n,
			      (int)(n > 0 ? n : 0), buf);
	ret = check_fds(fds, nr, why, whylen);
	close_fds(fds, nr);
	if (ret || !restored) {
		restored = true;
		return ret;
	}
	n = recv_fds(sv[0], buf, sizeof(buf), fds, &nr, 0);
	close_fds(fds, nr);
	if (n != 4 || memcmp(buf, "tail", 4) || nr)
		return FAILED("the second read gave %zd bytes and %d fds, not \"tail\"", n, nr);
	if (recv(sv[0], buf, 1, MSG_DONTWAIT) != -1)
		return FAILED("more is queued");
	return 0;
}
