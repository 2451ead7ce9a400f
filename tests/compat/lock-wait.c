/* compat: restore */
/*
 * lock-wait.c - a child blocked in F_SETLKW on a POSIX lock its parent holds.
 * The wait is not a lock: the dump records the child inside fcntl() and the
 * restore makes it issue the call again.  After the restore the parent lets
 * go of the lock, and the child must get it and say so.
 */
#include <poll.h>

#include "compat.h"
#include "file-locks.h"

static char path[64];
static int fd = -1, got_lock = -1;
static pid_t child;

static int setup(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int report[2], i;

	fd = scratch_file(path, 16, O_RDWR);
	if (fd < 0 || pipe(report) || fcntl(fd, F_SETLK, &fl)) {
		perror("setup");
		return -1;
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return -1;
	}
	if (child == 0) {
		int cfd = open(path, O_RDWR);

		close(report[0]);
		if (cfd < 0 || fcntl(cfd, F_SETLKW, &fl))
			_exit(1);
		_exit(write(report[1], "g", 1) == 1 ? 0 : 1);
	}
	close(report[1]);
	got_lock = report[0];
	/* until the child waits: /proc/locks shows it behind our lock */
	for (i = 0; i < 1000 && proc_locks("POSIX", true) < 1; i++)
		poll(NULL, 0, 10);
	return 0;
}

static int check_locks(char *why, size_t whylen)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	struct pollfd p = { .fd = got_lock, .events = POLLIN };
	bool restored = nr_checks > 0;
	char c = 0;

	/* the child still waits: before the dump, and after the restore gave us our lock back */
	if (poll(&p, 1, restored ? 200 : 0) != 0)
		return FAILED("the child got the lock while it was ours");
	if (!restored)
		return 0;
	if (fcntl(fd, F_SETLK, &fl))
		return FAILED("unlocking: %s", strerror(errno));
	if (poll(&p, 1, 20000) != 1 || read(got_lock, &c, 1) != 1 || c != 'g')
		return FAILED("the child never got the lock we gave up");
	return 0;
}
