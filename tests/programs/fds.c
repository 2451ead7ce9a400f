/*
 * fds.c - a program that holds one file descriptor of every kind thaw
 * supports, each in a state worth keeping, and checks them when asked
 * (SIGUSR1).
 *
 *   fds WORKDIR
 *
 * Regular files (O_APPEND with an offset, read-only at an offset, a deleted
 * one with contents), a directory, /dev/null, a pipe and a FIFO with bytes
 * buffered, eventfds (a counter and a semaphore), an epoll set watching a
 * pipe and an eventfd with data values, a signalfd, an armed repeating
 * timerfd and a sealed memfd.  Each sits at a known fd number with known
 * flags.  After SIGUSR1 the program checks numbers, flags, offsets and
 * contents and uses every fd once, then prints PASS or FAIL lines.
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
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static char outbuf[1 << 14];
static volatile sig_atomic_t got_usr1;
static int failures;

#define FAILF(...)                                                                                 \
	do {                                                                                       \
		failures++;                                                                        \
		printf("FAIL: " __VA_ARGS__);                                                      \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			FAILF(__VA_ARGS__);                                                        \
	} while (0)

static void die(const char *what)
{
	printf("FAIL: setup: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static char workdir[2048];

/* Fixed fd numbers, so the check also proves each came back at its number. */
enum {
	FD_APPEND = 10,
	FD_RDONLY,
	FD_DIR,
	FD_DELETED,
	FD_NULL,
	FD_PIPE_R,
	FD_PIPE_W,
	FD_FIFO_R,
	FD_FIFO_W,
	FD_EVENT,
	FD_EVENT_SEM,
	FD_EPOLL,
	FD_EP_PIPE_R,
	FD_EP_PIPE_W,
	FD_EP_EVENT,
	FD_SIGNAL,
	FD_TIMER,
	FD_MEMFD,
	FD_END
};

#define RO_SIZE 16384
#define RO_OFFSET 1000
#define DEL_SIZE 20000
#define DEL_OFFSET 777
#define PIPE_BYTES 3000
#define FIFO_BYTES 1500
#define MEMFD_SIZE (5 * 4096)
#define APPEND_LINE "append line\n"

static unsigned char byte_at(uint64_t seed, size_t off)
{
	return (unsigned char)((off * 131 + seed * 7 + (off >> 8)) & 0xff);
}

static void fill(unsigned char *p, size_t len, uint64_t seed, size_t base)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = byte_at(seed, base + i);
}

static int same(const unsigned char *p, size_t len, uint64_t seed, size_t base)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != byte_at(seed, base + i))
			return 0;
	return 1;
}

/* Moves fd to the number want (closing the old one). */
static void place(int fd, int want)
{
	if (fd < 0)
		die("open");
	if (fd == want)
		return;
	if (dup3(fd, want, fcntl(fd, F_GETFD) & FD_CLOEXEC ? O_CLOEXEC : 0) != want)
		die("dup3");
	close(fd);
}

static void write_file(const char *path, size_t len, uint64_t seed)
{
	unsigned char *buf = malloc(len);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (!buf || fd < 0)
		die(path);
	fill(buf, len, seed, 0);
	if (write(fd, buf, len) != (ssize_t)len)
		die("write");
	close(fd);
	free(buf);
}

static struct stat dir_st, del_st, null_st;
static off_t append_pos;
static int pipe_size;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void setup(void)
{
	char path[4096];
	unsigned char buf[PIPE_BYTES];
	struct epoll_event ev;
	struct itimerspec its = { { 0, 50000000 }, { 0, 50000000 } };
	sigset_t mask;
	int p[2], i;

	snprintf(path, sizeof(path), "%s/append.log", workdir);
	place(open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0644), FD_APPEND);
	for (i = 0; i < 5; i++)
		if (write(FD_APPEND, APPEND_LINE, strlen(APPEND_LINE)) < 0)
			die("write append");
	append_pos = lseek(FD_APPEND, 0, SEEK_CUR);

	snprintf(path, sizeof(path), "%s/readonly.dat", workdir);
	write_file(path, RO_SIZE, 1);
	place(open(path, O_RDONLY | O_CLOEXEC), FD_RDONLY);
	if (read(FD_RDONLY, buf, RO_OFFSET) != RO_OFFSET)
		die("read readonly");

	place(open(workdir, O_RDONLY | O_DIRECTORY), FD_DIR);
	fstat(FD_DIR, &dir_st);

	snprintf(path, sizeof(path), "%s/deleted.dat", workdir);
	write_file(path, DEL_SIZE, 2);
	place(open(path, O_RDWR), FD_DELETED);
	if (unlink(path) || lseek(FD_DELETED, DEL_OFFSET, SEEK_SET) != DEL_OFFSET)
		die("unlink");
	fstat(FD_DELETED, &del_st);

	place(open("/dev/null", O_RDWR), FD_NULL);
	fstat(FD_NULL, &null_st);

	/* a pipe with bytes in it, both ends held, a bigger buffer than default */
	if (pipe(p))
		die("pipe");
	place(p[0], FD_PIPE_R);
	place(p[1], FD_PIPE_W);
	fcntl(FD_PIPE_W, F_SETPIPE_SZ, 131072);
	pipe_size = fcntl(FD_PIPE_W, F_GETPIPE_SZ);
	fill(buf, PIPE_BYTES, 3, 0);
	if (write(FD_PIPE_W, buf, PIPE_BYTES) != PIPE_BYTES)
		die("write pipe");
	fcntl(FD_PIPE_R, F_SETFL, O_NONBLOCK);

	snprintf(path, sizeof(path), "%s/fifo", workdir);
	if (mkfifo(path, 0600))
		die("mkfifo");
	place(open(path, O_RDONLY | O_NONBLOCK), FD_FIFO_R);
	place(open(path, O_WRONLY), FD_FIFO_W);
	fill(buf, FIFO_BYTES, 4, 0);
	if (write(FD_FIFO_W, buf, FIFO_BYTES) != FIFO_BYTES)
		die("write fifo");

	place(eventfd(7, EFD_NONBLOCK), FD_EVENT);
	place(eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC), FD_EVENT_SEM);

	place(epoll_create1(0), FD_EPOLL);
	if (pipe2(p, O_NONBLOCK))
		die("pipe2");
	place(p[0], FD_EP_PIPE_R);
	place(p[1], FD_EP_PIPE_W);
	place(eventfd(0, EFD_NONBLOCK), FD_EP_EVENT);
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1111222233334444ull;
	if (epoll_ctl(FD_EPOLL, EPOLL_CTL_ADD, FD_EP_PIPE_R, &ev))
		die("epoll_ctl pipe");
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 0x5555666677778888ull;
	if (epoll_ctl(FD_EPOLL, EPOLL_CTL_ADD, FD_EP_EVENT, &ev))
		die("epoll_ctl eventfd");

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	place(signalfd(-1, &mask, SFD_NONBLOCK), FD_SIGNAL);

	place(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), FD_TIMER);
	if (timerfd_settime(FD_TIMER, 0, &its, NULL))
		die("timerfd_settime");

	place(memfd_create("thaw-fds", MFD_ALLOW_SEALING), FD_MEMFD);
	{
		unsigned char m[3 * 4096];

		fill(m, sizeof(m), 5, 0);
		if (ftruncate(FD_MEMFD, MEMFD_SIZE) || pwrite(FD_MEMFD, m, sizeof(m), 0) != sizeof(m))
			die("memfd");
		if (lseek(FD_MEMFD, 4096, SEEK_SET) != 4096 ||
		    fcntl(FD_MEMFD, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
			die("memfd seal");
	}
}

static int fd_is(int fd, mode_t type)
{
	struct stat st;

	return !fstat(fd, &st) && (st.st_mode & S_IFMT) == type;
}

static void check_fd_flags(int fd, const char *what, int acc, int want_fl, int cloexec)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0) {
		FAILF("%s: fd %d is not open", what, fd);
		return;
	}
	CHECK((fl & O_ACCMODE) == acc, "%s: access mode %#x, want %#x", what, fl & O_ACCMODE, acc);
	CHECK((fl & want_fl) == want_fl, "%s: flags %#x lack %#x", what, fl, want_fl);
	CHECK(!!(fdfl & FD_CLOEXEC) == cloexec, "%s: FD_CLOEXEC is %d", what, !!(fdfl & FD_CLOEXEC));
}

static void check_files(void)
{
	unsigned char buf[DEL_SIZE];
	struct stat st;
	int fd;

	check_fd_flags(FD_APPEND, "O_APPEND file", O_WRONLY, O_APPEND, 0);
	CHECK(lseek(FD_APPEND, 0, SEEK_CUR) == append_pos, "O_APPEND file: offset %lld, was %lld",
	      (long long)lseek(FD_APPEND, 0, SEEK_CUR), (long long)append_pos);
	CHECK(write(FD_APPEND, APPEND_LINE, strlen(APPEND_LINE)) == (ssize_t)strlen(APPEND_LINE) &&
		      !fstat(FD_APPEND, &st) &&
		      st.st_size == append_pos + (off_t)strlen(APPEND_LINE),
	      "O_APPEND file: write after restore did not append");

	check_fd_flags(FD_RDONLY, "read-only file", O_RDONLY, 0, 1);
	CHECK(lseek(FD_RDONLY, 0, SEEK_CUR) == RO_OFFSET, "read-only file: offset %lld",
	      (long long)lseek(FD_RDONLY, 0, SEEK_CUR));
	CHECK(read(FD_RDONLY, buf, 100) == 100 && same(buf, 100, 1, RO_OFFSET),
	      "read-only file: wrong bytes at its offset");

	CHECK(!fstat(FD_DIR, &st) && S_ISDIR(st.st_mode) && st.st_ino == dir_st.st_ino &&
		      st.st_dev == dir_st.st_dev,
	      "directory fd is not the same directory");
	fd = openat(FD_DIR, "readonly.dat", O_RDONLY);
	CHECK(fd >= 0, "openat through the directory fd failed");
	if (fd >= 0)
		close(fd);

	CHECK(!fstat(FD_DELETED, &st) && S_ISREG(st.st_mode) && st.st_nlink == 0 &&
		      st.st_size == DEL_SIZE,
	      "deleted file: nlink %lu size %lld", (unsigned long)st.st_nlink,
	      (long long)st.st_size);
	CHECK(lseek(FD_DELETED, 0, SEEK_CUR) == DEL_OFFSET, "deleted file: offset %lld",
	      (long long)lseek(FD_DELETED, 0, SEEK_CUR));
	CHECK(pread(FD_DELETED, buf, DEL_SIZE, 0) == DEL_SIZE && same(buf, DEL_SIZE, 2, 0),
	      "deleted file: contents differ");
	check_fd_flags(FD_DELETED, "deleted file", O_RDWR, 0, 0);

	CHECK(!fstat(FD_NULL, &st) && S_ISCHR(st.st_mode) && st.st_rdev == null_st.st_rdev &&
		      st.st_rdev == makedev(1, 3),
	      "/dev/null fd is not /dev/null");
	CHECK(write(FD_NULL, "x", 1) == 1, "/dev/null: write failed");
	check_fd_flags(FD_NULL, "/dev/null", O_RDWR, 0, 0);
}

static void check_pipes(void)
{
	unsigned char buf[PIPE_BYTES + 10];
	ssize_t n;

	CHECK(fd_is(FD_PIPE_R, S_IFIFO) && fd_is(FD_PIPE_W, S_IFIFO), "pipe fds are not pipes");
	check_fd_flags(FD_PIPE_R, "pipe read end", O_RDONLY, O_NONBLOCK, 0);
	check_fd_flags(FD_PIPE_W, "pipe write end", O_WRONLY, 0, 0);
	CHECK(fcntl(FD_PIPE_W, F_GETPIPE_SZ) == pipe_size, "pipe: capacity %d, was %d",
	      fcntl(FD_PIPE_W, F_GETPIPE_SZ), pipe_size);
	n = read(FD_PIPE_R, buf, sizeof(buf));
	CHECK(n == PIPE_BYTES && same(buf, PIPE_BYTES, 3, 0), "pipe: read %zd buffered bytes, want %d",
	      n, PIPE_BYTES);
	CHECK(write(FD_PIPE_W, "ping", 4) == 4 && read(FD_PIPE_R, buf, 10) == 4 &&
		      !memcmp(buf, "ping", 4),
	      "pipe: the two ends are not one pipe");

	check_fd_flags(FD_FIFO_R, "FIFO read end", O_RDONLY, O_NONBLOCK, 0);
	check_fd_flags(FD_FIFO_W, "FIFO write end", O_WRONLY, 0, 0);
	n = read(FD_FIFO_R, buf, sizeof(buf));
	CHECK(n == FIFO_BYTES && same(buf, FIFO_BYTES, 4, 0), "FIFO: read %zd buffered bytes, want %d",
	      n, FIFO_BYTES);
	CHECK(write(FD_FIFO_W, "pong", 4) == 4 && read(FD_FIFO_R, buf, 10) == 4 &&
		      !memcmp(buf, "pong", 4),
	      "FIFO: the two ends are not one FIFO");
}

static void check_events(void)
{
	struct epoll_event evs[4];
	struct signalfd_siginfo ssi;
	struct itimerspec its;
	uint64_t v = 0, ticks = 0;
	int i, n;

	check_fd_flags(FD_EVENT, "eventfd", O_RDWR, O_NONBLOCK, 0);
	CHECK(read(FD_EVENT, &v, 8) == 8 && v == 7, "eventfd: count %llu, want 7",
	      (unsigned long long)v);
	CHECK(read(FD_EVENT, &v, 8) < 0 && errno == EAGAIN, "eventfd: not reset by read");

	check_fd_flags(FD_EVENT_SEM, "semaphore eventfd", O_RDWR, O_NONBLOCK, 1);
	for (i = 0; i < 3; i++)
		CHECK(read(FD_EVENT_SEM, &v, 8) == 8 && v == 1,
		      "semaphore eventfd: read %d gave %llu", i, (unsigned long long)v);
	CHECK(read(FD_EVENT_SEM, &v, 8) < 0 && errno == EAGAIN,
	      "semaphore eventfd: count was more than 3");

	/* epoll: nothing ready yet; then each watched fd reports its own data */
	n = epoll_wait(FD_EPOLL, evs, 4, 0);
	CHECK(n == 0, "epoll: %d events ready before any write", n);
	CHECK(write(FD_EP_PIPE_W, "e", 1) == 1, "epoll pipe write");
	n = epoll_wait(FD_EPOLL, evs, 4, 1000);
	CHECK(n == 1 && evs[0].data.u64 == 0x1111222233334444ull && (evs[0].events & EPOLLIN),
	      "epoll: pipe event: n %d data %#llx", n, (unsigned long long)evs[0].data.u64);
	if (read(FD_EP_PIPE_R, &v, 1) != 1)
		FAILF("epoll pipe read");
	v = 5;
	CHECK(write(FD_EP_EVENT, &v, 8) == 8, "epoll eventfd write");
	n = epoll_wait(FD_EPOLL, evs, 4, 1000);
	CHECK(n == 1 && evs[0].data.u64 == 0x5555666677778888ull &&
		      evs[0].events == EPOLLIN,
	      "epoll: eventfd event: n %d data %#llx events %#x", n,
	      (unsigned long long)evs[0].data.u64, n > 0 ? evs[0].events : 0);
	n = epoll_wait(FD_EPOLL, evs, 4, 0);
	CHECK(n == 0, "epoll: EPOLLET lost, eventfd reported twice");

	/* signalfd: its mask, and it receives */
	kill(getpid(), SIGUSR2);
	CHECK(read(FD_SIGNAL, &ssi, sizeof(ssi)) == sizeof(ssi) && ssi.ssi_signo == SIGUSR2,
	      "signalfd: did not deliver SIGUSR2");
	{
		char line[256], path[64];
		FILE *f;
		int found = 0;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", FD_SIGNAL);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long long m;

			if (sscanf(line, "sigmask: %llx", &m) == 1) {
				found = 1;
				CHECK(m == ((1ull << (SIGUSR2 - 1)) | (1ull << (SIGRTMIN + 1 - 1))),
				      "signalfd: mask %#llx", m);
			}
		}
		if (f)
			fclose(f);
		CHECK(found, "signalfd: no sigmask in fdinfo");
	}

	/* timerfd: still armed with its interval, and ticking */
	CHECK(!timerfd_gettime(FD_TIMER, &its) && its.it_interval.tv_sec == 0 &&
		      its.it_interval.tv_nsec == 50000000 &&
		      (its.it_value.tv_sec || its.it_value.tv_nsec),
	      "timerfd: interval %ld.%09ld value %ld.%09ld", (long)its.it_interval.tv_sec,
	      its.it_interval.tv_nsec, (long)its.it_value.tv_sec, its.it_value.tv_nsec);
	if (read(FD_TIMER, &ticks, 8) != 8)
		ticks = 0; /* nothing expired since the last read: wait for a tick */
	{
		struct timespec ts = { 0, 200000000 };

		nanosleep(&ts, NULL);
	}
	CHECK(read(FD_TIMER, &ticks, 8) == 8 && ticks >= 1, "timerfd: no tick in 200 ms");

	/* memfd: contents, size, offset, seals */
	{
		unsigned char m[MEMFD_SIZE];
		char link[256], proc[64];
		ssize_t len;
		struct stat st;

		CHECK(!fstat(FD_MEMFD, &st) && st.st_size == MEMFD_SIZE, "memfd: size %lld",
		      (long long)st.st_size);
		CHECK(pread(FD_MEMFD, m, MEMFD_SIZE, 0) == MEMFD_SIZE && same(m, 3 * 4096, 5, 0),
		      "memfd: contents differ");
		for (i = 3 * 4096; i < MEMFD_SIZE; i++)
			if (m[i]) {
				FAILF("memfd: tail not zero at %d", i);
				break;
			}
		CHECK(lseek(FD_MEMFD, 0, SEEK_CUR) == 4096, "memfd: offset %lld",
		      (long long)lseek(FD_MEMFD, 0, SEEK_CUR));
		CHECK(fcntl(FD_MEMFD, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW),
		      "memfd: seals %#x", fcntl(FD_MEMFD, F_GET_SEALS));
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", FD_MEMFD);
		len = readlink(proc, link, sizeof(link) - 1);
		if (len > 0)
			link[len] = 0;
		CHECK(len > 0 && !strncmp(link, "/memfd:thaw-fds", 15), "memfd: name is %s",
		      len > 0 ? link : "?");
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	int fd;

	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	if (argc != 2) {
		fprintf(stderr, "usage: fds WORKDIR\n");
		return 2;
	}
	snprintf(workdir, sizeof(workdir), "%s", argv[1]);
	/* an fd we did not open would hide a wrong number (and is not ours to snapshot) */
	close_range(3, ~0u, 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	setup();
	printf("READY\n");
	fflush(stdout);
	while (!got_usr1) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	for (fd = 3; fd < FD_APPEND; fd++)
		CHECK(fcntl(fd, F_GETFD) < 0, "fd %d is open but was not", fd);
	check_files();
	check_pipes();
	check_events();
	printf(failures ? "FAIL: %d checks failed\n" : "PASS\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
