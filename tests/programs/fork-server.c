/*
 * fork-server.c - a pre-forking TCP server: one listening socket on
 * 127.0.0.1:PORT, 4 worker processes that all accept() on it and answer
 * every connection with "pong TOKEN\n" (TOKEN: random, made before the
 * fork, so every worker gives the same answer, and a cold start another).
 *
 *   fork-server PORT
 *
 * The parent holds a socketpair with each worker; bytes are queued both ways
 * at READY: each worker's "hello I PID" (the parent does not read it) and the
 * parent's "cfg I TOKEN" (the worker, blocked in accept, does not read it).
 * Connections served are counted in MAP_SHARED anonymous memory, per worker.
 *
 * On SIGUSR1 the parent reads the hellos, prints "SERVED TOTAL W0 W1 W2 W3",
 * forwards SIGUSR1 to the workers (their accept is interrupted: no
 * SA_RESTART), each checks its queued cfg and getppid() and sends its FAIL
 * lines and "DONE I N"; the parent prints them and PASS if none failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4
#define WAIT_MS 10000

struct counts {
	int served[WORKERS];
};

static char outbuf[1 << 14];
static volatile sig_atomic_t got_usr1;
static char token[33];
static int lsock = -1, sp[WORKERS][2], failures;
static pid_t pid_p, workers[WORKERS];
static struct counts *counts;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void die(const char *what)
{
	printf("FAIL: setup: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* reads one line (up to '\n') from fd, within WAIT_MS; returns its length or -1 */
static int read_line(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t len = 0;
	ssize_t n;

	while (len + 1 < cap) {
		n = poll(&pfd, 1, WAIT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		n = read(fd, buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = 0;
			return (int)len;
		}
		len++;
	}
	return -1;
}

static void worker_report(int fd, int i, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	failures++;
	dprintf(fd, "FAIL: worker %d: %s\n", i, line);
}

static void worker(int i)
{
	char want[128], buf[128], answer[64];
	int fd = sp[i][1], c, n, j;

	for (j = 0; j <= i; j++)
		close(sp[j][0]);
	dprintf(fd, "hello %d %d\n", i, getpid());
	n = snprintf(answer, sizeof(answer), "pong %s\n", token);
	while (!got_usr1) {
		c = accept(lsock, NULL, NULL);
		if (c < 0)
			continue; /* EINTR: SIGUSR1 */
		if (write(c, answer, (size_t)n) == n)
			__atomic_add_fetch(&counts->served[i], 1, __ATOMIC_SEQ_CST);
		close(c);
	}
	snprintf(want, sizeof(want), "cfg %d %s", i, token);
	if (read_line(fd, buf, sizeof(buf)) < 0)
		worker_report(fd, i, "no cfg line queued from the parent");
	else if (strcmp(buf, want))
		worker_report(fd, i, "queued cfg line is '%s', want '%s'", buf, want);
	if (getppid() != pid_p)
		worker_report(fd, i, "getppid() is %d, want %d", getppid(), pid_p);
	if (getpgrp() != pid_p || getsid(0) != pid_p)
		worker_report(fd, i, "group %d session %d, want %d", getpgrp(), getsid(0), pid_p);
	dprintf(fd, "DONE %d %d\n", i, failures);
	_exit(failures ? 1 : 0);
}

static void setup(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	unsigned char raw[16];
	FILE *f;
	int one = 1, i;

	pid_p = getpid();
	if (getsid(0) != pid_p && setsid() < 0)
		die("setsid");
	f = fopen("/dev/urandom", "r");
	if (!f || fread(raw, 1, sizeof(raw), f) != sizeof(raw))
		die("urandom");
	fclose(f);
	for (i = 0; i < 16; i++)
		sprintf(token + 2 * i, "%02x", raw[i]);
	counts =
	    mmap(NULL, sizeof(*counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED)
		die("mmap");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsock = socket(AF_INET, SOCK_STREAM, 0);
	if (lsock < 0 || setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("socket");
	if (bind(lsock, (struct sockaddr *)&a, sizeof(a)) || listen(lsock, 64))
		die("bind/listen");
}

static void start_workers(void)
{
	struct pollfd pfd;
	int i;

	for (i = 0; i < WORKERS; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]))
			die("socketpair");
		workers[i] = fork();
		if (workers[i] < 0)
			die("fork");
		if (workers[i] == 0)
			worker(i);
		close(sp[i][1]);
		dprintf(sp[i][0], "cfg %d %s\n", i, token);
	}
	/* every hello is queued before READY (and stays unread until SIGUSR1) */
	for (i = 0; i < WORKERS; i++) {
		pfd.fd = sp[i][0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, WAIT_MS) != 1)
			die("no hello from a worker");
	}
}

/*
 * Until worker I answers: a SIGUSR1 that came between its check of the flag
 * and accept() leaves it blocked in accept, so send it again now and then.
 */
static void nudge(int i)
{
	struct pollfd pfd = {.fd = sp[i][0], .events = POLLIN};
	int n;

	for (n = 0; n < WAIT_MS / 100; n++) {
		if (poll(&pfd, 1, 100) > 0)
			return;
		kill(workers[i], SIGUSR1);
	}
}

static void parent_check(void)
{
	char buf[512], want[64];
	int i, total = 0, st, done, n;
	pid_t r;

	for (i = 0; i < WORKERS; i++) {
		snprintf(want, sizeof(want), "hello %d %d", i, workers[i]);
		if (read_line(sp[i][0], buf, sizeof(buf)) < 0 || strcmp(buf, want)) {
			printf("FAIL: parent: worker %d's queued hello is '%s', want '%s'\n", i,
			       buf, want);
			failures++;
		}
		r = waitpid(workers[i], &st, WNOHANG);
		if (r != 0) {
			printf("FAIL: parent: worker %d (pid %d) is gone: waitpid -> %d\n", i,
			       workers[i], r);
			failures++;
		}
		total += counts->served[i];
	}
	printf("SERVED %d %d %d %d %d\n", total, counts->served[0], counts->served[1],
	       counts->served[2], counts->served[3]);
	for (i = 0; i < WORKERS; i++)
		kill(workers[i], SIGUSR1);
	for (i = 0; i < WORKERS; i++) {
		done = 0;
		nudge(i);
		while (!done && read_line(sp[i][0], buf, sizeof(buf)) >= 0) {
			if (!strncmp(buf, "FAIL", 4)) {
				printf("%s\n", buf);
				failures++;
			} else if (sscanf(buf, "DONE %d", &n) == 1 && n == i)
				done = 1;
		}
		if (!done) {
			printf("FAIL: parent: no verdict from worker %d\n", i);
			failures++;
		}
	}
	for (i = 0; i < WORKERS; i++) {
		for (n = 0; n < WAIT_MS / 10 && (r = waitpid(workers[i], &st, WNOHANG)) == 0; n++)
			sleep_ms(10);
		if (r != workers[i]) {
			printf("FAIL: parent: worker %d did not exit\n", i);
			failures++;
		}
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	close_range(3, ~0u, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: fork-server PORT\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART: a worker's accept returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setup(atoi(argv[1]));
	start_workers();
	printf("READY\n");
	fflush(stdout);
	while (!got_usr1)
		sleep_ms(10);
	parent_check();
	printf(failures ? "FAIL: %d checks failed\n" : "PASS\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
