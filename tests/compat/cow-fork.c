/* compat: restore */
/*
 * cow-fork.c - private anonymous memory a parent and its child still share
 * copy-on-write since a fork comes back shared, and only that: the same
 * physical page in both (pagemap frame numbers, read by root), the bytes of
 * each as they were, and a write in one after the restore not seen in the
 * other.
 *
 * The parent fills NPAGES pages but the last, then forks.  The child writes
 * its first CHILD_PAGES pages and the last one (a page only it has); the
 * parent writes the next PARENT_PAGES pages and drops page NPAGES - 2
 * (MADV_DONTNEED: now only the child has it).  The rest is shared.  Each
 * check() writes one more shared page in the parent, which must then part.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "compat.h"

#define PAGE 4096ul
#define NPAGES 2048 /* 8 MiB */
#define CHILD_PAGES 256
#define PARENT_PAGES 256
#define DROPPED (NPAGES - 2)
#define CHILD_ONLY (NPAGES - 1)

static unsigned char *buf;
static pid_t child;
static unsigned checks; /* parent: shared pages written by earlier checks */
static unsigned char page[PAGE];

enum who { ORIG, CHILD, PARENT, LATE };

static void pattern(unsigned char *p, unsigned long i, enum who w)
{
	unsigned long k;

	for (k = 0; k < PAGE; k += 8)
		*(uint64_t *)(void *)(p + k) = (i * 0x9e3779b97f4a7c15ull) ^ k ^ ((uint64_t)w << 56);
}

/* The first shared page a check writes: after the parent's own. */
#define LATE_FIRST (CHILD_PAGES + PARENT_PAGES)

static enum who expected(unsigned long i, bool in_child, int *zero)
{
	*zero = 0;
	if (in_child) {
		if (i < CHILD_PAGES || i == CHILD_ONLY)
			return CHILD;
		return ORIG;
	}
	if (i == DROPPED || i == CHILD_ONLY)
		*zero = 1;
	if (i >= CHILD_PAGES && i < LATE_FIRST)
		return PARENT;
	if (i >= LATE_FIRST && i < LATE_FIRST + checks)
		return LATE;
	return ORIG;
}

static int child_main(void)
{
	for (;;)
		pause();
	return 0;
}

static int setup(void)
{
	int go[2];
	unsigned long i;
	char c;

	buf = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	madvise(buf, NPAGES * PAGE, MADV_NOHUGEPAGE); /* frames page by page */
	for (i = 0; i < NPAGES - 1; i++)
		pattern(buf + i * PAGE, i, ORIG);
	if (pipe(go)) {
		perror("pipe");
		return -1;
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return -1;
	}
	if (child == 0) {
		close(go[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the program, whatever ends it */
		/* the child's writes are done before the parent looks */
		for (i = 0; i < CHILD_PAGES; i++)
			pattern(buf + i * PAGE, i, CHILD);
		pattern(buf + CHILD_ONLY * PAGE, CHILD_ONLY, CHILD);
		close(go[1]);
		return child_main();
	}
	close(go[1]);
	if (read(go[0], &c, 1) != 0) {
		fprintf(stderr, "the child did not start\n");
		return -1;
	}
	close(go[0]);
	for (i = CHILD_PAGES; i < LATE_FIRST; i++)
		pattern(buf + i * PAGE, i, PARENT);
	madvise(buf + DROPPED * PAGE, PAGE, MADV_DONTNEED);
	return 0;
}

/* The frame number of page i of buf in pid (0: not present). */
static uint64_t frame(int fd, unsigned long i)
{
	uint64_t e = 0;

	if (pread(fd, &e, 8, (off_t)(((uintptr_t)buf / PAGE + i) * 8)) != 8 || !(e >> 63))
		return 0;
	return e & ((1ull << 55) - 1);
}

static int check(char *why, size_t whylen)
{
	int fds[3], ret = 0;
	unsigned long i;
	char path[64];

	/* a write in the parent now: the child must not see it (checked below) */
	pattern(buf + (LATE_FIRST + checks) * PAGE, LATE_FIRST + checks, LATE);
	checks++;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", child);
	fds[0] = open("/proc/self/pagemap", O_RDONLY);
	fds[1] = open(path, O_RDONLY);
	/* not process_vm_readv: it pins the pages, and a pinned page is unshared */
	snprintf(path, sizeof(path), "/proc/%d/mem", child);
	fds[2] = open(path, O_RDONLY);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)
		return FAILED("opening pagemap of %d and its child %d: %s", getpid(), child,
			      strerror(errno));
	for (i = 0; i < NPAGES && !ret; i++) {
		unsigned char want[PAGE];
		int pzero, czero;
		enum who pw = expected(i, false, &pzero), cw = expected(i, true, &czero);
		bool shared_now = pw == ORIG && !pzero && cw == ORIG;
		uint64_t a = frame(fds[0], i), b = frame(fds[1], i);

		if (pzero)
			memset(want, 0, PAGE);
		else
			pattern(want, i, pw);
		if (memcmp(buf + i * PAGE, want, PAGE))
			ret = FAILED("parent %d: page %lu of its memory is not what it wrote",
				     getpid(), i);
		pattern(want, i, cw);
		if (!ret && pread(fds[2], page, PAGE, (off_t)(uintptr_t)(buf + i * PAGE)) != (ssize_t)PAGE)
			ret = FAILED("reading page %lu of child %d: %s", i, child, strerror(errno));
		else if (!ret && memcmp(page, want, PAGE))
			ret = FAILED("child %d: page %lu of its memory is not what it had%s", child,
				     i, pw == LATE ? " (it sees its parent's later write)" : "");
		else if (!ret && (!a || !b) && shared_now)
			ret = FAILED("page %lu of parent %d or child %d is not present (no frame "
				     "numbers: not root?)", i, getpid(), child);
		else if (!ret && shared_now && a != b)
			ret = FAILED("page %lu is no longer shared copy-on-write by parent %d and "
				     "child %d (frames %#llx and %#llx)",
				     i, getpid(), child, (unsigned long long)a, (unsigned long long)b);
		else if (!ret && !shared_now && a && a == b)
			ret = FAILED("page %lu is shared by parent %d and child %d though one of "
				     "them wrote it", i, getpid(), child);
	}
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	return ret;
}
