/*
 * fds-roundtrip.c - a program to snapshot: holds one fd of every kind thaw
 * supports, each in a state that a wrong restore would change, and checks
 * them all when told to.
 *
 * It sets up its fds, prints "ready" and waits for SIGUSR1.  The driver
 * snapshots it while it waits (and kills it), restores it, then sends
 * SIGUSR1; the program checks every fd and exits 0, or prints the first
 * check that failed and exits 1.  Usage: fds-roundtrip [scratch-dir]
 * (default /tmp); it removes what it made there before exiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

static const char pipe_bytes[] = "bytes in flight";
static const char memfd_bytes[] = "memfd content";
static const char deleted_bytes[] = "deleted file data";
static volatile sig_atomic_t go;
static int failures;

#define CHECK(cond, what)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fds-roundtrip: %s (line %d, errno %d)\n", what,          \
				__LINE__, errno);                                                  \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 600, 0 } };
	struct epoll_event ev, evs[4];
	struct stat st;
	sigset_t mask;
	char path[4096], buf[64];
	int p[2], efd, ep, tfd, mfd, dfd, afd, sfd, n;
	struct signalfd_siginfo si;
	uint64_t count;

	signal(SIGUSR1, on_usr1);
	if (pipe(p))
		return 2;
	if (write(p[1], pipe_bytes, sizeof(pipe_bytes)) != sizeof(pipe_bytes))
		return 2;
	efd = eventfd(5, EFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.u64 = 0xfeed;
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	timerfd_settime(tfd, 0, &its, NULL);
	mfd = memfd_create("roundtrip", MFD_ALLOW_SEALING);
	if (write(mfd, memfd_bytes, sizeof(memfd_bytes)) != sizeof(memfd_bytes))
		return 2;
	fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	snprintf(path, sizeof(path), "%s/fds-roundtrip-deleted.%d", dir, getpid());
	dfd = open(path, O_CREAT | O_RDWR | O_EXCL, 0600);
	if (dfd < 0 || write(dfd, deleted_bytes, sizeof(deleted_bytes)) != sizeof(deleted_bytes))
		return 2;
	unlink(path);
	lseek(dfd, 3, SEEK_SET);
	snprintf(path, sizeof(path), "%s/fds-roundtrip-append.%d", dir, getpid());
	afd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_TRUNC, 0600);
	if (afd < 0 || write(afd, "0123456789", 10) != 10)
		return 2;
	lseek(afd, 4, SEEK_SET);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK);

	printf("ready\n");
	fflush(stdout);
	while (!go)
		pause();

	CHECK(ioctl(p[0], FIONREAD, &n) == 0 && n == sizeof(pipe_bytes), "pipe lost its bytes");
	CHECK(read(p[0], buf, sizeof(buf)) == sizeof(pipe_bytes) && !memcmp(buf, pipe_bytes, n),
	      "pipe bytes differ");
	CHECK(epoll_wait(ep, evs, 4, 0) == 1 && evs[0].data.u64 == 0xfeed,
	      "epoll does not report the eventfd");
	CHECK(fcntl(ep, F_GETFD) == FD_CLOEXEC, "epoll lost FD_CLOEXEC");
	CHECK(read(efd, &count, sizeof(count)) == sizeof(count) && count == 5,
	      "eventfd count differs");
	CHECK(timerfd_gettime(tfd, &its) == 0 && its.it_value.tv_sec > 0 &&
		      its.it_interval.tv_sec == 1,
	      "timerfd disarmed");
	CHECK(fcntl(mfd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "memfd seals differ");
	CHECK(pread(mfd, buf, sizeof(buf), 0) == sizeof(memfd_bytes) &&
		      !memcmp(buf, memfd_bytes, sizeof(memfd_bytes)),
	      "memfd contents differ");
	CHECK(lseek(mfd, 0, SEEK_CUR) == sizeof(memfd_bytes), "memfd offset differs");
	CHECK(fstat(dfd, &st) == 0 && st.st_nlink == 0, "deleted file has a name");
	CHECK(lseek(dfd, 0, SEEK_CUR) == 3, "deleted file offset differs");
	CHECK(pread(dfd, buf, sizeof(buf), 0) == sizeof(deleted_bytes) &&
		      !memcmp(buf, deleted_bytes, sizeof(deleted_bytes)),
	      "deleted file contents differ");
	CHECK(lseek(afd, 0, SEEK_CUR) == 4, "append file offset differs");
	CHECK(fcntl(afd, F_GETFL) & O_APPEND, "append file lost O_APPEND");
	CHECK(write(afd, "x", 1) == 1 && lseek(afd, 0, SEEK_CUR) == 11, "O_APPEND write misplaced");
	CHECK(fcntl(sfd, F_GETFL) & O_NONBLOCK, "signalfd lost O_NONBLOCK");
	CHECK(read(sfd, &si, sizeof(si)) < 0 && errno == EAGAIN, "signalfd reads something");
	unlink(path);
	if (failures)
		return 1;
	printf("fds ok\n");
	return 0;
}
