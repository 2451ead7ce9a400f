/*
 * basic.c - a small multi-threaded program for the tests of thaw's edges:
 * refused dumps, --leave-running, corrupted or stale snapshots, inspect,
 * foreground exit statuses and repeated dump/restore cycles.
 *
 *   basic [--threads N] [--map FILE] [--socket] [--exit STATUS]
 *
 * N threads (default 4) count; 8 MiB of memory hold a pattern; --map keeps
 * FILE mapped privately (thaw must refuse to restore when FILE changed);
 * --socket holds a connected AF_UNIX socket pair with bytes in flight (thaw
 * cannot dump it).  After READY it runs until SIGUSR1, then checks that its
 * PID and TIDs are unchanged, every thread still counts, memory and mapping
 * are intact and the socket (if any) still works, prints PASS or FAIL lines
 * and exits 0 (or STATUS after PASS) or 1.  SIGTERM keeps its default action.
 * SIGUSR2 (handled on an alternate signal stack) asks for the same checks
 * without ending: it answers "alive N" (N counting answers) once every
 * thread has counted since the last answer, or FAIL lines; tests/fault/
 * keeps one program alive through many failed dumps this way.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MEM_SIZE (8u << 20)

static char outbuf[1 << 14];
static volatile sig_atomic_t got_usr1;
static atomic_int failures;

#define FAILF(...)                                                                                 \
	do {                                                                                       \
		atomic_fetch_add(&failures, 1);                                                    \
		printf("FAIL: " __VA_ARGS__);                                                      \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			FAILF(__VA_ARGS__);                                                        \
	} while (0)

struct worker {
	pthread_t thread;
	pid_t tid;
	atomic_long count;
	atomic_int check_req, tid_ok;
};

static struct worker workers[MAX_THREADS];
static long seen[MAX_THREADS]; /* each thread's count at the last SIGUSR2 answer */
static volatile sig_atomic_t pings;
static char altstack[64 << 10];
static int nr_threads = 4;
static atomic_int stop;
static uint32_t *mem;
static const unsigned char *map;
static size_t map_len;
static uint32_t map_sum;
static int sock[2] = { -1, -1 };

static void die(const char *what)
{
	printf("FAIL: setup: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid_();
	while (!atomic_load(&stop)) {
		struct timespec ts = { 0, 1000000 };

		atomic_fetch_add(&w->count, 1);
		if (atomic_load(&w->check_req) && !atomic_load(&w->tid_ok))
			atomic_store(&w->tid_ok, gettid_() == w->tid ? 1 : -1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static uint32_t checksum(const unsigned char *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		pings++;
}

static void setup_map(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		die(path);
	map_len = (size_t)st.st_size;
	if (!map_len)
		die("mapped file is empty");
	map = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	close(fd);
	map_sum = checksum(map, map_len);
}

static void check_memory(void)
{
	uint32_t i;

	for (i = 0; i < MEM_SIZE / 4; i++)
		if (mem[i] != i * 2654435761u) {
			FAILF("memory pattern wrong at offset %u", i * 4);
			break;
		}
}

/* SIGUSR2: every thread counted since the last answer (given 10 s on a busy machine). */
static void answer(pid_t pid, unsigned long n)
{
	int before = atomic_load(&failures), t, waited;

	CHECK(getpid() == pid, "getpid() is %d, was %d", getpid(), pid);
	for (t = 0; t < nr_threads; t++) {
		atomic_store(&workers[t].check_req, 1);
		for (waited = 0; waited < 10000 && (atomic_load(&workers[t].count) <= seen[t] ||
						     !atomic_load(&workers[t].tid_ok));
		     waited++)
			usleep(1000);
		CHECK(atomic_load(&workers[t].count) > seen[t], "thread %d stopped counting", t);
		CHECK(atomic_load(&workers[t].tid_ok) == 1, "thread %d: tid changed or no answer",
		      t);
		seen[t] = atomic_load(&workers[t].count);
		atomic_store(&workers[t].tid_ok, 0);
	}
	check_memory();
	if (atomic_load(&failures) == before)
		printf("alive %lu\n", n);
	fflush(stdout);
}

static void check(pid_t pid)
{
	long before[MAX_THREADS];
	struct timespec ts = { 0, 300000000 };
	char buf[16];
	int t;

	CHECK(getpid() == pid, "getpid() is %d, was %d", getpid(), pid);
	for (t = 0; t < nr_threads; t++) {
		before[t] = atomic_load(&workers[t].count);
		atomic_store(&workers[t].check_req, 1);
	}
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	for (t = 0; t < nr_threads; t++) {
		CHECK(atomic_load(&workers[t].count) > before[t], "thread %d stopped counting", t);
		CHECK(atomic_load(&workers[t].tid_ok) == 1, "thread %d: tid changed or no answer", t);
	}
	check_memory();
	if (map)
		CHECK(checksum(map, map_len) == map_sum, "mapped file contents changed");
	if (sock[0] >= 0) {
		CHECK(read(sock[1], buf, sizeof(buf)) == 5 && !memcmp(buf, "hello", 5),
		      "socket lost its bytes in flight");
		CHECK(write(sock[1], "back", 4) == 4 && read(sock[0], buf, sizeof(buf)) == 4,
		      "socket pair no longer connected");
	}
	atomic_store(&stop, 1);
	for (t = 0; t < nr_threads; t++)
		CHECK(!pthread_join(workers[t].thread, NULL), "join thread %d", t);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART | SA_ONSTACK };
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	unsigned long answered = 0;
	int exit_status = 0, i, t;
	pid_t pid = getpid();
	uint32_t k;

	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	close_range(3, ~0u, 0); /* inherited fds are not part of the test */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nr_threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--map") && i + 1 < argc)
			setup_map(argv[++i]);
		else if (!strcmp(argv[i], "--exit") && i + 1 < argc)
			exit_status = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--socket")) {
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sock) ||
			    write(sock[0], "hello", 5) != 5)
				die("socketpair");
		} else {
			fprintf(stderr, "usage: basic [--threads N] [--map FILE] [--socket] "
					"[--exit STATUS]\n");
			return 2;
		}
	}
	if (nr_threads < 0 || nr_threads > MAX_THREADS)
		nr_threads = MAX_THREADS;

	if (sigaltstack(&ss, NULL))
		die("sigaltstack");
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	for (k = 0; k < MEM_SIZE / 4; k++)
		mem[k] = k * 2654435761u;
	for (t = 0; t < nr_threads; t++)
		if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]))
			die("pthread_create");
	for (t = 0; t < nr_threads; t++)
		while (!atomic_load(&workers[t].count))
			usleep(1000);

	printf("READY\n");
	fflush(stdout);
	while (!got_usr1) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
		while (answered < (unsigned long)pings)
			answer(pid, ++answered);
	}
	check(pid);
	if (atomic_load(&failures)) {
		printf("FAIL: %d checks failed\n", atomic_load(&failures));
		fflush(stdout);
		return 1;
	}
	printf("PASS\n");
	fflush(stdout);
	return exit_status;
}
