/* compat: restore */
/*
 * lock-tree.c - locks in a tree of two processes: an flock taken by the parent
 * on a description the child inherited (one lock, shown by both), and POSIX
 * locks of each process on bytes of one file (each its own owner, with its
 * own pid).  The child leaves once the parent is gone.
 */
#include <sys/file.h>
#include <time.h>

#include "compat.h"
#include "file-locks.h"

static char path_a[64], path_b[64];
static int fd_a = -1, fd_b = -1;
static pid_t child;

static int posix_lock(int fd, off_t start, off_t len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start,
			    .l_len = len };

	return fcntl(fd, F_SETLK, &fl);
}

static void child_main(pid_t parent, int ready)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	int fd = open(path_b, O_RDWR | O_CLOEXEC);

	if (fd < 0 || posix_lock(fd, 0, 10) || write(ready, "k", 1) != 1)
		_exit(1);
	while (getppid() == parent)
		nanosleep(&tick, NULL);
	_exit(0);
}

static int setup(void)
{
	int ready[2];
	char c;

	fd_a = scratch_file(path_a, 16, O_RDWR);
	fd_b = scratch_file(path_b, 64, O_RDWR);
	if (fd_a < 0 || fd_b < 0 || pipe(ready))
		return -1;
	if (flock(fd_a, LOCK_EX | LOCK_NB) || posix_lock(fd_b, 10, 10)) {
		perror("locking");
		return -1;
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return -1;
	}
	if (child == 0)
		child_main(getppid(), ready[1]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "the child could not lock\n");
		return -1;
	}
	close(ready[0]);
	return 0;
}

static int check_locks(char *why, size_t whylen)
{
	char path[64], line[256];
	struct flock got;
	FILE *f;
	int n = 0;

	if (probe_lock(path_b, F_GETLK, F_RDLCK, 0, 1, &got, why, whylen))
		return 1;
	if (got.l_type != F_WRLCK || got.l_pid != child || got.l_start != 0 || got.l_len != 10)
		return FAILED("bytes 0-9: lock %d of pid %d on %lld+%lld, want the child's (%d)",
			      got.l_type, got.l_pid, (long long)got.l_start, (long long)got.l_len,
			      child);
	if (probe_lock(path_b, F_GETLK, F_RDLCK, 15, 1, &got, why, whylen))
		return 1;
	if (got.l_type != F_WRLCK || got.l_pid != getpid() || got.l_start != 10)
		return FAILED("bytes 10-19: lock %d of pid %d, want ours (%d)", got.l_type,
			      got.l_pid, getpid());
	if (fdinfo_locks(fd_a, "FLOCK  ADVISORY  WRITE") != 1)
		return FAILED("fdinfo of fd %d does not show the flock", fd_a);
	/* the child's fd_a is the same description: its fdinfo shows the flock too */
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", child, fd_a);
	f = fopen(path, "re");
	if (!f)
		return FAILED("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += !strncmp(line, "lock:", 5) && strstr(line, "FLOCK");
	fclose(f);
	if (n != 1)
		return FAILED("%s shows %d flock locks, want 1", path, n);
	return 0;
}
