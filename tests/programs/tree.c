/*
 * tree.c - a process tree with shared resources that thaw must bring back
 * whole, and that checks itself when asked (SIGUSR1).
 *
 *   tree WORKDIR
 *
 * Shape (P = the root, which becomes a session leader):
 *
 *   P ── Z   zombie: exits 7 at once, P does not wait for it until after restore
 *   └─ C     own process group, a second thread
 *      └─ G  own session (setsid), so its own group too
 *
 * Shared between them, set up before READY:
 *   - a pipe P -> C with PIPE_BYTES bytes buffered in it (C reads nothing yet);
 *   - a file opened by P before fork (one open file description: P wrote
 *     FILE_START bytes, so every process sees offset FILE_START);
 *   - a socketpair P <-> C with one message queued in each direction;
 *   - a FIFO in WORKDIR, C writes, G reads, FIFO_BYTES bytes buffered;
 *   - MAP_SHARED|MAP_ANONYMOUS memory and a memfd (mapped and held as an fd)
 *     filled with a pattern by P, seen by all three;
 *   - a result pipe every process writes its verdict lines to, P reads.
 *
 * On SIGUSR1, P forwards it to C and C to G; every process checks getpid(),
 * getppid(), getpgrp(), getsid(), the pattern of both shared mappings, the
 * shared file offset and the bytes queued for it; then they write to each
 * other and check the other side sees it: P writes a token into the shared
 * memory and the memfd mapping and new bytes into the pipe, tells C "go" on
 * the socketpair; C checks them, answers with its own token in shared memory,
 * a pwrite into the memfd and CHILD_WRITE bytes written through the shared
 * file description (P then sees the offset move), and "ack"; C writes new
 * bytes into the FIFO, G reads them and leaves its token in shared memory.
 * C checks its thread still runs with its TID.  P reaps the zombie (exit
 * status 7 or FAIL), collects the other two's verdicts over the result pipe
 * and prints PASS only if every check passed in every process, else the
 * FAIL lines naming what differed.  Exit 0 or 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHM_SIZE      (1 << 20)
#define MEMFD_SIZE    (256 << 10)
#define PIPE_BYTES    3000
#define FIFO_BYTES    2000
#define FILE_START    100
#define CHILD_WRITE   50
#define ZOMBIE_STATUS 7
#define WAIT_MS	      4000

/* the first page of the shared memory is for after-restore exchanges */
struct hdr {
	uint64_t p2c, c2p, g2p;
};

static char outbuf[1 << 14];
static volatile sig_atomic_t got_usr1;
static const char *role = "parent";
static int failures;
static int result_w = -1; /* write end of the result pipe (C and G) */

static uint64_t seed;
static pid_t pid_p, pid_c, pid_g, pid_z;
static char *shm, *mfd_map;
static int mfd = -1, file_fd = -1;
static int pipe_pc[2], sock_pc[2], result[2], fifo_fd = -1;
static char fifo_path[4096], file_path[4096];

/* thread of C */
static volatile pid_t thread_tid0, thread_tid_now;
static volatile unsigned long thread_ticks;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

/* One verdict line: P prints it, C and G send it over the result pipe. */
static void report(const char *fmt, ...)
{
	char line[512], body[400];
	va_list ap;
	size_t i;
	int n;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	/* one line per verdict: bytes from the program's channels are shown escaped */
	n = snprintf(line, sizeof(line), "FAIL: %s: ", role);
	for (i = 0; body[i] && n < (int)sizeof(line) - 6; i++) {
		if (body[i] == '\n')
			n += sprintf(line + n, "\\n");
		else if ((unsigned char)body[i] < ' ' || (unsigned char)body[i] > '~')
			n += sprintf(line + n, "\\x%02x", (unsigned char)body[i]);
		else
			line[n++] = body[i];
	}
	line[n++] = '\n';
	failures++;
	if (result_w >= 0) {
		if (write(result_w, line, (size_t)n) < 0)
			_exit(3);
	} else {
		fwrite(line, 1, (size_t)n, stdout);
		fflush(stdout);
	}
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			report(__VA_ARGS__);                                                       \
	} while (0)

static void die(const char *what)
{
	printf("FAIL: setup: %s: %s: %s\n", role, what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static uint8_t pattern(uint64_t s, size_t i)
{
	uint64_t x = s ^ (i * 0x9e3779b97f4a7c15ull);

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint8_t)x;
}

static void fill(char *p, size_t len, uint64_t s)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (char)pattern(s, i);
}

/* first index in [from, len) that differs from the pattern, or -1 */
static long check_pattern(const char *p, size_t from, size_t len, uint64_t s)
{
	size_t i;

	for (i = from; i < len; i++)
		if ((uint8_t)p[i] != pattern(s, i))
			return (long)i;
	return -1;
}

/* poll-bounded exact read; returns bytes read (short on timeout/EOF) */
static ssize_t read_exact(int fd, void *buf, size_t len, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = poll(&pfd, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* nothing more to read on fd right now */
static int drained(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void wait_usr1(void)
{
	while (!got_usr1)
		sleep_ms(10);
}

static void check_ids(pid_t pid, pid_t ppid, pid_t pgrp, pid_t sid)
{
	CHECK(getpid() == pid, "getpid() is %d, want %d", getpid(), pid);
	if (ppid)
		CHECK(getppid() == ppid, "getppid() is %d, want %d", getppid(), ppid);
	CHECK(getpgrp() == pgrp, "getpgrp() is %d, want %d", getpgrp(), pgrp);
	CHECK(getsid(0) == sid, "getsid() is %d, want %d", getsid(0), sid);
}

/* the pre-dump contents of both shared mappings and of the memfd itself */
static void check_shared(void)
{
	static char buf[MEMFD_SIZE];
	long at;

	at = check_pattern(shm, 4096, SHM_SIZE, seed);
	CHECK(at < 0, "shared anonymous memory differs at byte %ld", at);
	at = check_pattern(mfd_map, 4096, MEMFD_SIZE, seed ^ 0x55);
	CHECK(at < 0, "memfd mapping differs at byte %ld", at);
	CHECK(pread(mfd, buf, MEMFD_SIZE, 0) == MEMFD_SIZE, "pread memfd: %s", strerror(errno));
	at = check_pattern(buf, 4096, MEMFD_SIZE, seed ^ 0x55);
	CHECK(at < 0, "memfd contents read through its fd differ at byte %ld", at);
}

static void check_offset(off_t want)
{
	off_t off = lseek(file_fd, 0, SEEK_CUR);

	CHECK(off == want, "shared file offset is %lld, want %lld", (long long)off,
	      (long long)want);
}

static void expect_msg(int fd, const char *want, const char *what)
{
	char buf[256];
	size_t len = strlen(want);
	ssize_t n;

	memset(buf, 0, sizeof(buf));
	n = read_exact(fd, buf, len, WAIT_MS);
	CHECK(n == (ssize_t)len && !memcmp(buf, want, len), "%s: got %zd bytes '%.*s', want '%s'",
	      what, n, (int)(n > 0 ? n : 0), buf, want);
}

static void expect_pattern(int fd, size_t len, uint64_t s, const char *what)
{
	static char buf[1 << 16];
	ssize_t n = read_exact(fd, buf, len, WAIT_MS);
	long at;

	if (n != (ssize_t)len) {
		report("%s: read %zd bytes, want %zu", what, n, len);
		return;
	}
	at = check_pattern(buf, 0, len, s);
	CHECK(at < 0, "%s: byte %ld differs", what, at);
}

/* ---------------------------------------------------------------- grandchild */

static void grandchild(void)
{
	role = "grandchild";
	if (setsid() < 0)
		die("setsid");
	fifo_fd = open(fifo_path, O_RDONLY);
	if (fifo_fd < 0)
		die("open fifo for reading");
	if (write(result_w, "SETUP grandchild\n", 17) != 17)
		die("write result");
	wait_usr1();

	check_ids(pid_g, pid_c, pid_g, pid_g);
	check_shared();
	expect_pattern(fifo_fd, FIFO_BYTES, seed ^ 0xf1f0, "FIFO bytes buffered at the dump");
	expect_msg(fifo_fd, "fifo after restore\n", "FIFO bytes written after restore");
	/* C wrote through the shared file description before the FIFO line */
	check_offset(FILE_START + CHILD_WRITE);
	((struct hdr *)shm)->g2p = seed ^ 0x6262;
	dprintf(result_w, "DONE grandchild %d\n", failures);
	_exit(failures ? 1 : 0);
}

/* ---------------------------------------------------------------- child */

static void *ticker(void *arg)
{
	(void)arg;
	thread_tid0 = (pid_t)syscall(SYS_gettid);
	for (;;) {
		thread_tid_now = (pid_t)syscall(SYS_gettid);
		thread_ticks++;
		sleep_ms(5);
	}
	return NULL;
}

static void check_thread(void)
{
	unsigned long before = thread_ticks;
	int i;

	for (i = 0; i < 200 && thread_ticks < before + 5; i++)
		sleep_ms(5);
	CHECK(thread_ticks >= before + 5, "second thread ticked %lu times in 1 s",
	      thread_ticks - before);
	CHECK(thread_tid_now == thread_tid0, "second thread's gettid() is %d, was %d",
	      (int)thread_tid_now, (int)thread_tid0);
}

static int count_tasks(void)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

static void wait_grandchild(void)
{
	int i, st;
	pid_t r = 0;

	for (i = 0; i < WAIT_MS / 10 && (r = waitpid(pid_g, &st, WNOHANG)) == 0; i++)
		sleep_ms(10);
	CHECK(r == pid_g, "waitpid(grandchild %d) -> %d: %s", pid_g, r,
	      r < 0 ? strerror(errno) : "still running");
}

static void child(void)
{
	pthread_t th;
	char buf[64];
	int i;

	role = "child";
	close(pipe_pc[1]);
	close(sock_pc[0]);
	close(result[0]);
	if (setpgid(0, 0))
		die("setpgid");
	if (pthread_create(&th, NULL, ticker, NULL))
		die("pthread_create");
	pid_g = fork();
	if (pid_g < 0)
		die("fork grandchild");
	if (pid_g == 0) {
		pid_g = getpid();
		close(pipe_pc[0]);
		close(sock_pc[1]);
		grandchild();
	}
	fifo_fd = open(fifo_path, O_WRONLY);
	if (fifo_fd < 0)
		die("open fifo for writing");
	{
		static char fb[FIFO_BYTES];

		fill(fb, FIFO_BYTES, seed ^ 0xf1f0);
		if (write(fifo_fd, fb, FIFO_BYTES) != FIFO_BYTES)
			die("write fifo");
	}
	if (write(sock_pc[1], "queued from child\n", 18) != 18)
		die("send to parent");
	for (i = 0; i < 200 && !thread_tid0; i++)
		sleep_ms(5);
	if (write(result_w, "SETUP child\n", 12) != 12)
		die("write result");
	wait_usr1();
	kill(pid_g, SIGUSR1);

	check_ids(pid_c, pid_p, pid_c, pid_p);
	check_shared();
	check_offset(FILE_START);
	CHECK(count_tasks() == 2, "%d of its 2 threads are in /proc/self/task", count_tasks());
	expect_pattern(pipe_pc[0], PIPE_BYTES, seed ^ 0x9191, "pipe bytes buffered at the dump");
	expect_msg(sock_pc[1], "queued from parent\n", "socketpair message queued at the dump");

	/* P's writes after restore */
	expect_msg(sock_pc[1], "go\n", "socketpair after restore");
	CHECK(((struct hdr *)shm)->p2c == (seed ^ 0x7070),
	      "shared memory: parent's write after restore not seen (%#llx)",
	      (unsigned long long)((struct hdr *)shm)->p2c);
	CHECK(!memcmp(mfd_map, "parent wrote memfd", 18),
	      "memfd: parent's write after restore not seen: '%.18s'", mfd_map);
	expect_msg(pipe_pc[0], "pipe after restore\n", "pipe bytes written after restore");
	CHECK(drained(pipe_pc[0]), "pipe holds more bytes than were written");

	/* C's writes, for P */
	((struct hdr *)shm)->c2p = seed ^ 0x5151;
	CHECK(pwrite(mfd, "child wrote memfd", 17, 2048) == 17, "pwrite memfd: %s",
	      strerror(errno));
	memset(buf, 'c', CHILD_WRITE);
	CHECK(write(file_fd, buf, CHILD_WRITE) == CHILD_WRITE, "write shared file: %s",
	      strerror(errno));
	CHECK(write(sock_pc[1], "ack\n", 4) == 4, "send ack: %s", strerror(errno));
	CHECK(write(fifo_fd, "fifo after restore\n", 19) == 19, "write fifo: %s", strerror(errno));

	check_thread();
	wait_grandchild();
	dprintf(result_w, "DONE child %d\n", failures);
	_exit(failures ? 1 : 0);
}

/* ---------------------------------------------------------------- parent */

static void setup(const char *workdir)
{
	static char pb[PIPE_BYTES];
	char start[FILE_START];
	int fd;

	pid_p = getpid();
	if (getsid(0) != pid_p && setsid() < 0)
		die("setsid");
	fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed))
		die("urandom");
	close(fd);
	snprintf(fifo_path, sizeof(fifo_path), "%s/tree.fifo", workdir);
	snprintf(file_path, sizeof(file_path), "%s/tree.file", workdir);
	unlink(fifo_path);
	if (mkfifo(fifo_path, 0600))
		die("mkfifo");
	file_fd = open(file_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (file_fd < 0)
		die("open file");
	memset(start, 'p', sizeof(start));
	if (write(file_fd, start, FILE_START) != FILE_START)
		die("write file");
	shm = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		die("mmap shared");
	fill(shm, SHM_SIZE, seed);
	memset(shm, 0, 4096);
	mfd = memfd_create("thaw-tree", 0);
	if (mfd < 0 || ftruncate(mfd, MEMFD_SIZE))
		die("memfd");
	mfd_map = mmap(NULL, MEMFD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (mfd_map == MAP_FAILED)
		die("mmap memfd");
	fill(mfd_map, MEMFD_SIZE, seed ^ 0x55);
	memset(mfd_map, 0, 4096);
	if (pipe(pipe_pc) || pipe(result) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock_pc))
		die("pipe/socketpair");
	fill(pb, PIPE_BYTES, seed ^ 0x9191);
	if (write(pipe_pc[1], pb, PIPE_BYTES) != PIPE_BYTES)
		die("write pipe");
	if (write(sock_pc[0], "queued from parent\n", 19) != 19)
		die("send to child");
}

static void start_children(void)
{
	char line[64];

	pid_z = fork();
	if (pid_z < 0)
		die("fork zombie");
	if (pid_z == 0)
		_exit(ZOMBIE_STATUS);
	pid_c = fork();
	if (pid_c < 0)
		die("fork child");
	if (pid_c == 0) {
		pid_c = getpid();
		result_w = result[1];
		child();
	}
	close(pipe_pc[0]);
	close(sock_pc[1]);
	close(result[1]);
	/* both report their setup; the zombie has exited (not reaped) */
	if (read_exact(result[0], line, 12 + 17, WAIT_MS) != 12 + 17)
		die("no SETUP lines from child and grandchild");
	{
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid_z, &si, WEXITED | WNOWAIT))
			die("waitid zombie");
	}
}

/* the other two's verdict lines: FAIL lines are printed, DONE counted */
static void collect(void)
{
	static char buf[1 << 16];
	size_t len = 0;
	int done = 0, i;
	char *nl, *line;
	ssize_t n;

	for (i = 0; done < 2 && i < 2 * WAIT_MS / 100; i++) {
		struct pollfd pfd = {.fd = result[0], .events = POLLIN};

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(result[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		line = buf;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (!strncmp(line, "DONE ", 5))
				done++;
			else if (!strncmp(line, "FAIL", 4)) {
				failures++;
				printf("%s\n", line);
			} else
				report("unexpected result line '%s'", line);
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
	}
	CHECK(done == 2, "%d of 2 descendants reported (child %d, grandchild %d)", done, pid_c,
	      pid_g);
}

static void parent_checks(void)
{
	char buf[CHILD_WRITE];
	int st = 0;
	pid_t r;

	check_ids(pid_p, 0, pid_p, pid_p);
	check_shared();
	check_offset(FILE_START);
	expect_msg(sock_pc[0], "queued from child\n", "socketpair message queued at the dump");
	r = waitpid(pid_z, &st, WNOHANG);
	CHECK(r == pid_z && WIFEXITED(st) && WEXITSTATUS(st) == ZOMBIE_STATUS,
	      "zombie %d: waitpid -> %d, status %#x, want exit %d", pid_z, r, st, ZOMBIE_STATUS);
	r = waitpid(pid_c, &st, WNOHANG);
	CHECK(r == 0, "child %d: waitpid -> %d (%s)", pid_c, r, r < 0 ? strerror(errno) : "exited");

	/* writes after restore, seen by C */
	((struct hdr *)shm)->p2c = seed ^ 0x7070;
	memcpy(mfd_map, "parent wrote memfd", 18);
	CHECK(write(pipe_pc[1], "pipe after restore\n", 19) == 19, "write pipe: %s",
	      strerror(errno));
	CHECK(write(sock_pc[0], "go\n", 3) == 3, "send go: %s", strerror(errno));

	/* C's answer */
	expect_msg(sock_pc[0], "ack\n", "socketpair after restore");
	CHECK(((struct hdr *)shm)->c2p == (seed ^ 0x5151),
	      "shared memory: child's write after restore not seen (%#llx)",
	      (unsigned long long)((struct hdr *)shm)->c2p);
	CHECK(!memcmp(mfd_map + 2048, "child wrote memfd", 17),
	      "memfd mapping: child's pwrite after restore not seen: '%.17s'", mfd_map + 2048);
	check_offset(FILE_START + CHILD_WRITE);
	memset(buf, 0, sizeof(buf));
	CHECK(pread(file_fd, buf, CHILD_WRITE, FILE_START) == CHILD_WRITE && buf[0] == 'c' &&
		  buf[CHILD_WRITE - 1] == 'c',
	      "shared file: child's bytes not at offset %d", FILE_START);
	CHECK(drained(sock_pc[0]), "socketpair holds more than was sent");
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int st = 0;
	pid_t r;
	int i;

	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	close_range(3, ~0u, 0); /* inherited fds are not part of the test */
	if (argc != 2) {
		fprintf(stderr, "usage: tree WORKDIR\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	setup(argv[1]);
	start_children();
	printf("READY\n");
	fflush(stdout);
	wait_usr1();
	kill(pid_c, SIGUSR1);

	parent_checks();
	collect();
	CHECK(((struct hdr *)shm)->g2p == (seed ^ 0x6262),
	      "shared memory: grandchild's write after restore not seen (%#llx)",
	      (unsigned long long)((struct hdr *)shm)->g2p);
	for (i = 0; i < WAIT_MS / 10 && (r = waitpid(pid_c, &st, WNOHANG)) == 0; i++)
		sleep_ms(10);
	CHECK(r == pid_c && WIFEXITED(st), "child %d did not exit: waitpid -> %d status %#x", pid_c,
	      r, st);
	unlink(fifo_path);
	printf(failures ? "FAIL: %d checks failed\n" : "PASS\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
