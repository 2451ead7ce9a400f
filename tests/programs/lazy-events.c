/*
 * lazy-events.c - memory a lazy restore's page server must follow while it
 * serves it (docs/lazy-restore.md): on SIGUSR1, with its pages still
 * missing, the program forks (the child checks the pattern), moves a region
 * with mremap (checked at its new place), drops one with MADV_DONTNEED (it
 * must read zeros) and checks the rest; prints PASS or FAIL lines.
 *
 *   lazy-events
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1ul << 20)
#define PAGE 4096ul

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i += 64)
		p[i] = (unsigned char)(i / 64 * 7 + seed);
}

/* 0 when p holds fill(seed); else the first bad offset + 1 */
static size_t check(const unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i += 64)
		if (p[i] != (unsigned char)(i / 64 * 7 + seed))
			return i + 1;
	return 0;
}

int main(void)
{
	size_t len = 16 * MB, bad;
	unsigned char *a, *b, *c, *moved;
	int failures = 0, status;
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED || c == MAP_FAILED)
		return 2;
	fill(a, len, 1);
	fill(b, len, 2);
	fill(c, len, 3);
	printf("READY\n");
	while (!got_usr1)
		pause();
	child = fork();
	if (child == 0)
		_exit(check(a, len, 1) || check(b, len, 2) ? 1 : 0);
	moved = mremap(b, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
		       mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	if (moved == MAP_FAILED) {
		printf("FAIL mremap\n");
		failures++;
	} else if ((bad = check(moved, len, 2))) {
		printf("FAIL moved region at offset %zu\n", bad - 1);
		failures++;
	}
	if (madvise(c + 4 * MB, 4 * MB, MADV_DONTNEED) < 0) {
		printf("FAIL madvise\n");
		failures++;
	}
	for (bad = 4 * MB; bad < 8 * MB; bad += PAGE)
		if (c[bad]) {
			printf("FAIL dropped page at offset %zu reads %u, not 0\n", bad, c[bad]);
			failures++;
			break;
		}
	/* the rest of c, untouched: 8 MiB / 64 * 7 is a multiple of 256, the seed stays 3 */
	if ((bad = check(c, 4 * MB, 3)) || (bad = check(c + 8 * MB, 8 * MB, 3))) {
		printf("FAIL region c around offset %zu\n", bad - 1);
		failures++;
	}
	if ((bad = check(a, len, 1))) {
		printf("FAIL region a at offset %zu\n", bad - 1);
		failures++;
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("FAIL the forked child saw other memory (status 0x%x)\n", status);
		failures++;
	}
	printf(failures ? "FAIL\n" : "PASS\n");
	return failures ? 1 : 0;
}
