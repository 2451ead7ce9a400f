/*
 * file-locks.h - what the compat tests of file locks and leases share
 * (posix-lock.c, ofd-lock.c, flock.c, lease.c): scratch files, and three
 * ways to look at a lock from inside the program: a forked child asking
 * F_GETLK (another owner sees the conflict), the fdinfo "lock:" lines of an
 * fd, and /proc/locks.  Include after compat.h; it supplies check(), which
 * runs the test's check_locks().
 */
#ifndef THAW_TESTS_COMPAT_FILE_LOCKS_H
#define THAW_TESTS_COMPAT_FILE_LOCKS_H

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SCRATCH 4
static char scratch_paths[MAX_SCRATCH][64];
static int nr_scratch, nr_checks;

/* A new file of size bytes under /tmp, opened with flags; its path goes to path[64]. */
static __attribute__((unused)) int scratch_file(char *path, size_t size, int flags)
{
	char zeros[512] = { 0 };
	int fd;

	snprintf(path, 64, "/tmp/thaw-compat-lock-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return -1;
	}
	if (nr_scratch < MAX_SCRATCH)
		strcpy(scratch_paths[nr_scratch++], path);
	while (size) {
		size_t n = size < sizeof(zeros) ? size : sizeof(zeros);

		if (write(fd, zeros, n) != (ssize_t)n) {
			perror("write");
			return -1;
		}
		size -= n;
	}
	close(fd);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		perror(path);
	return fd;
}

/* Called at the end of check(): the second check is the last, the files can go. */
static __attribute__((unused)) void scratch_done(void)
{
	int i;

	if (++nr_checks < 2)
		return;
	for (i = 0; i < nr_scratch; i++)
		unlink(scratch_paths[i]);
}

/*
 * A child opens path and asks cmd (F_GETLK or F_OFD_GETLK) about a lock of
 * type on [start, start + len): *ret is the conflicting lock it sees
 * (l_type F_UNLCK: none).  0, or 1 with a reason in why (as check() does).
 */
static __attribute__((unused)) int probe_lock(const char *path, int cmd, short type, off_t start,
					      off_t len, struct flock *ret, char *why,
					      size_t whylen)
{
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return FAILED("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return FAILED("fork: %s", strerror(errno));
	if (pid == 0) {
		struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start,
				    .l_len = len };
		int fd = open(path, O_RDWR);

		if (fd < 0 || fcntl(fd, cmd, &fl))
			_exit(1);
		_exit(write(pipefd[1], &fl, sizeof(fl)) == sizeof(fl) ? 0 : 1);
	}
	close(pipefd[1]);
	n = read(pipefd[0], ret, sizeof(*ret));
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid || n != sizeof(*ret))
		return FAILED("the child could not ask about %s", path);
	return 0;
}

/* How many fdinfo "lock:" lines of fd contain needle. */
static __attribute__((unused)) int fdinfo_locks(int fd, const char *needle)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !strncmp(line, "lock:", 5) && strstr(line, needle);
	fclose(f);
	return n;
}

/* How many lines of /proc/locks contain needle: locks held, or (waiters) blocked requests. */
static __attribute__((unused)) int proc_locks(const char *needle, bool waiters)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/locks", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !strstr(line, "->") != waiters && strstr(line, needle);
	fclose(f);
	return n;
}

/*
 * /proc/locks lists want locks of pid (-1: OFD locks) on fd's file: 0, or 1
 * with the reason in why.
 */
static __attribute__((unused)) int expect_proc_locks(int fd, long pid, int want, char *why,
						     size_t whylen)
{
	struct stat st;
	char id[96];
	int n;

	if (fstat(fd, &st))
		return FAILED("fstat of fd %d: %s", fd, strerror(errno));
	/* " PID maj:min:ino " as lock_get_status() prints it */
	snprintf(id, sizeof(id), " %ld %02x:%02x:%lu ", pid, major(st.st_dev), minor(st.st_dev),
		 (unsigned long)st.st_ino);
	n = proc_locks(id, false);
	if (n != want)
		return FAILED("/proc/locks lists %d locks with '%s', want %d", n, id, want);
	return 0;
}

/* The test's own check, which check() runs before it lets the scratch files go. */
static int check_locks(char *why, size_t whylen);

static int check(char *why, size_t whylen)
{
	int ret = check_locks(why, whylen);

	scratch_done();
	return ret;
}

#endif
