/* compat: restore */
/*
 * pdeathsig.c - the parent-death signal is per thread: the main thread has
 * SIGWINCH, one thread SIGURG, one none (PR_GET_PDEATHSIG per thread).  And
 * it still fires: after the restore the child is killed, and the grandchild,
 * whose parent-death signal is SIGKILL, must die with it (the pipe it holds
 * reads EOF).
 */
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "compat.h"
#include "threads.h"

static struct compat_thread urg, none;
static pid_t child;
static int held, checks;

static long get_sig(void *arg)
{
	int sig = -1;

	(void)arg;
	return prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) ? -errno : sig;
}

static long set_sig(void *arg)
{
	return prctl(PR_SET_PDEATHSIG, (unsigned long)arg, 0, 0, 0) ? -errno : 0;
}

static int setup(void)
{
	int fds[2], ready[2];
	char c;

	if (compat_thread_start(&urg) || compat_thread_start(&none) || pipe(fds) || pipe(ready))
		return -1;
	if (set_sig((void *)SIGWINCH) || compat_call(&urg, set_sig, (void *)SIGURG)) {
		perror("PR_SET_PDEATHSIG");
		return -1;
	}
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		pid_t parent = getpid();

		close(fds[0]);
		close(ready[0]);
		if (fork() == 0) {
			/* the grandchild: the only writer of fds, gone when its parent goes */
			prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
			if (getppid() != parent || write(ready[1], "r", 1) != 1)
				_exit(1);
			close(ready[1]);
			for (;;)
				pause();
		}
		close(fds[1]);
		close(ready[1]);
		for (;;)
			pause();
	}
	close(fds[1]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "the grandchild did not start\n");
		return -1;
	}
	close(ready[0]);
	held = fds[0];
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct pollfd p = { .fd = held, .events = POLLIN };
	long got;

	if ((got = get_sig(NULL)) != SIGWINCH)
		return FAILED("the main thread's parent-death signal is %ld, want %d", got,
			      SIGWINCH);
	if ((got = compat_call(&urg, get_sig, NULL)) != SIGURG)
		return FAILED("a thread's parent-death signal is %ld, want %d", got, SIGURG);
	if ((got = compat_call(&none, get_sig, NULL)) != 0)
		return FAILED("an untouched thread's parent-death signal is %ld, want 0", got);
	if (checks++ == 0)
		return 0; /* before the dump: the tree must stay as it is */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* a bound on a liveness check, not a measurement */
	if (poll(&p, 1, 20000) != 1)
		return FAILED("the grandchild outlived its parent by 20 s: no parent-death signal");
	return 0;
}
