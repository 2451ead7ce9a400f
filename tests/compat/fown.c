/* compat: restore */
/*
 * fown.c - signal-driven I/O comes back: who an fd signals (F_SETOWN,
 * F_SETOWN_EX), with which signal (F_SETSIG) and O_ASYNC.
 *   - pipe A: owner this process, SIGRTMIN+1;
 *   - socket pair B: owner a second thread (F_OWNER_TID), SIGRTMIN+2, which
 *     only that thread takes (it reports what it got over pipe R);
 *   - pipe C: owner this process's group (it leads its own), plain SIGIO.
 * A write to each must deliver its signal to its owner (with si_fd naming
 * the fd where F_SETSIG asked for one): before the dump and after the restore.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"

static int pipe_a[2], pair_b[2], pipe_c[2], report[2];
static pid_t thread_tid;

static void block(int sig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The owner of pair_b: reports the si_fd of every SIGRTMIN+2 it takes. */
static void *owner_thread(void *arg)
{
	sigset_t set;
	siginfo_t si;
	int fd;

	(void)arg;
	thread_tid = gettid();
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 2);
	for (;;) {
		if (sigwaitinfo(&set, &si) < 0)
			continue;
		fd = si.si_fd;
		if (write(report[1], &fd, sizeof(fd)) != sizeof(fd))
			return NULL;
	}
}

static int own(int fd, int type, pid_t pid, int sig)
{
	struct f_owner_ex ex = { .type = type, .pid = pid };

	if (fcntl(fd, F_SETOWN_EX, &ex) || (sig && fcntl(fd, F_SETSIG, sig)) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK)) {
		perror("fcntl");
		return -1;
	}
	return 0;
}

static int setup(void)
{
	struct timespec tick = { 0, 1000 * 1000 };
	pthread_t th;

	/* every signal here is taken with sigtimedwait/sigwaitinfo: blocked everywhere */
	block(SIGRTMIN + 1);
	block(SIGRTMIN + 2);
	block(SIGIO);
	if (setpgid(0, 0) || pipe(pipe_a) || pipe(pipe_c) || pipe(report) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, pair_b)) {
		perror("setup");
		return -1;
	}
	if (pthread_create(&th, NULL, owner_thread, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return -1;
	}
	while (!__atomic_load_n(&thread_tid, __ATOMIC_SEQ_CST))
		nanosleep(&tick, NULL);
	return own(pipe_a[0], F_OWNER_PID, getpid(), SIGRTMIN + 1) ||
	       own(pair_b[0], F_OWNER_TID, thread_tid, SIGRTMIN + 2) ||
	       own(pipe_c[0], F_OWNER_PGRP, getpgrp(), 0);
}

/*
 * Writes to wfd, then takes sig from the process's queue: with si_fd rfd, or
 * for plain SIGIO (no F_SETSIG) without siginfo, as the kernel sends it.
 */
static int expect_signal(int wfd, int rfd, int sig, char *why, size_t whylen)
{
	struct timespec limit = { 10, 0 };
	sigset_t set;
	siginfo_t si;
	char c;

	sigemptyset(&set);
	sigaddset(&set, sig);
	if (write(wfd, "x", 1) != 1)
		return FAILED("write to fd %d: %s", wfd, strerror(errno));
	if (sigtimedwait(&set, &si, &limit) != sig)
		return FAILED("no signal %d for fd %d: %s", sig, rfd, strerror(errno));
	if (sig != SIGIO && (si.si_fd != rfd || si.si_code != POLL_IN))
		return FAILED("signal %d names fd %d (code %d), want fd %d (POLL_IN)", sig,
			      si.si_fd, si.si_code, rfd);
	if (read(rfd, &c, 1) != 1)
		return FAILED("read of fd %d: %s", rfd, strerror(errno));
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct f_owner_ex ex;
	struct pollfd p = { .fd = report[0], .events = POLLIN };
	int fd = -1;
	char c;

	if (fcntl(pipe_a[0], F_GETOWN) != getpid() || fcntl(pipe_a[0], F_GETSIG) != SIGRTMIN + 1)
		return FAILED("fd %d: owner %d signal %d, want %d and %d", pipe_a[0],
			      fcntl(pipe_a[0], F_GETOWN), fcntl(pipe_a[0], F_GETSIG), getpid(),
			      SIGRTMIN + 1);
	if (fcntl(pair_b[0], F_GETOWN_EX, &ex) || ex.type != F_OWNER_TID || ex.pid != thread_tid)
		return FAILED("fd %d: owner type %d pid %d, want thread %d", pair_b[0], ex.type,
			      ex.pid, thread_tid);
	if (fcntl(pipe_c[0], F_GETOWN) != -getpgrp())
		return FAILED("fd %d: owner %d, want group %d", pipe_c[0],
			      fcntl(pipe_c[0], F_GETOWN), getpgrp());
	if (!(fcntl(pipe_a[0], F_GETFL) & O_ASYNC) || !(fcntl(pair_b[0], F_GETFL) & O_ASYNC))
		return FAILED("O_ASYNC is off");
	if (expect_signal(pipe_a[1], pipe_a[0], SIGRTMIN + 1, why, whylen) ||
	    expect_signal(pipe_c[1], pipe_c[0], SIGIO, why, whylen))
		return 1;
	/* the thread's signal: only it can take it; it says which fd it named */
	if (write(pair_b[1], "y", 1) != 1)
		return FAILED("write to the socket: %s", strerror(errno));
	if (poll(&p, 1, 10000) != 1 || read(report[0], &fd, sizeof(fd)) != sizeof(fd))
		return FAILED("the owner thread got no SIGRTMIN+2");
	if (fd != pair_b[0])
		return FAILED("the owner thread's signal names fd %d, want %d", fd, pair_b[0]);
	if (read(pair_b[0], &c, 1) != 1)
		return FAILED("read of the socket: %s", strerror(errno));
	return 0;
}
