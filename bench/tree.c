/*
 * tree.c - bench workload for process trees (issue 5): N processes (the root
 * and N-1 children) that each fill MIB/N MiB of private anonymous memory with
 * incompressible bytes, so that N=8 and N=1 hold the same total memory.
 *
 *   tree N MIB
 *
 * Prints READY once every process has filled its memory.  Then, for each
 * line on stdin, the root asks every child (SIGUSR1) to check its memory
 * against the checksum it took after filling it, checks its own, and prints
 * "OK N" when all N processes hold their bytes, else "BAD I ..." lines then
 * "BAD".  Children report over one pipe.  EOF on stdin: the root kills its
 * children by PID and exits.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 256

static volatile sig_atomic_t asked;
static uint64_t *mem;
static size_t words;
static uint64_t sum0;
static int result[2];

static void on_usr1(int sig)
{
	(void)sig;
	asked++;
}

static void die(const char *what)
{
	fprintf(stderr, "tree: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t checksum(void)
{
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < words; i++)
		s = (s ^ mem[i]) * 0x100000001b3ull;
	return s;
}

static void fill(size_t bytes, uint64_t seed)
{
	uint64_t x = seed | 1;
	size_t i;

	words = bytes / 8;
	mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	for (i = 0; i < words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		mem[i] = x;
	}
	sum0 = checksum();
}

static void child(int index, int ready_w)
{
	char line[64];
	int seen = 0, n;
	sigset_t usr1, none;

	/* SIGUSR1 only inside sigsuspend: none is lost between the test and the wait */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &none);
	sigdelset(&none, SIGUSR1);
	if (write(ready_w, "R", 1) != 1)
		die("ready");
	close(ready_w);
	for (;;) {
		while (seen == asked)
			sigsuspend(&none);
		seen = asked;
		n = snprintf(line, sizeof(line), checksum() == sum0 ? "ok %d\n" : "BAD %d\n",
			     index);
		if (write(result[1], line, (size_t)n) != n)
			die("result");
	}
}

int main(int argc, char **argv)
{
	static pid_t kids[MAX_PROCS];
	struct sigaction sa;
	char buf[4096], c;
	int nprocs, mib, i, ready[2], ok, got, bad;
	size_t share;
	FILE *res;

	if (argc != 3 || (nprocs = atoi(argv[1])) < 1 || nprocs > MAX_PROCS ||
	    (mib = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: tree N MIB\n");
		return 2;
	}
	share = ((size_t)mib << 20) / (size_t)nprocs;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(ready) || pipe(result))
		die("pipe");
	for (i = 1; i < nprocs; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			die("fork");
		if (kids[i] == 0) {
			close(ready[0]);
			close(result[0]);
			fill(share, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
			child(i, ready[1]);
		}
	}
	close(ready[1]);
	close(result[1]);
	fill(share, 0x9e3779b97f4a7c15ull);
	for (i = 1; i < nprocs; i++)
		if (read(ready[0], &c, 1) != 1)
			die("a child died before it was ready");
	close(ready[0]);
	res = fdopen(result[0], "r");
	if (!res)
		die("fdopen");
	printf("READY\n");
	fflush(stdout);

	while (fgets(buf, sizeof(buf), stdin)) {
		for (i = 1; i < nprocs; i++)
			kill(kids[i], SIGUSR1);
		bad = checksum() != sum0;
		if (bad)
			printf("BAD 0\n");
		for (got = 0, ok = 1; got < nprocs - 1 && fgets(buf, sizeof(buf), res); got++)
			if (strncmp(buf, "ok ", 3)) {
				bad = 1;
				fputs(buf, stdout);
			}
		ok = !bad && got == nprocs - 1;
		if (ok)
			printf("OK %d\n", nprocs);
		else
			printf("BAD (%d of %d children answered)\n", got, nprocs - 1);
		fflush(stdout);
	}
	for (i = 1; i < nprocs; i++)
		kill(kids[i], SIGKILL);
	for (i = 1; i < nprocs; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}
