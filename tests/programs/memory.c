/*
 * memory.c - a program that holds every kind of memory thaw must bring back
 * and checks each one when asked (SIGUSR1).
 *
 *   memory WORKDIR
 *
 * It sets up private anonymous memory (patterns at many offsets, a 256 MiB
 * region with a few pages touched, pages written back to zero, a page freed
 * with MADV_DONTNEED), private and shared file mappings of files it creates in
 * WORKDIR, shared anonymous memory, memfds mapped shared, a brk heap, deep
 * main-stack frames, a pthread stack with its guard, PROT_NONE, read-only and
 * exec regions, madvise flags and the vDSO; prints READY; waits for SIGUSR1
 * at the bottom of a deep recursion; then checks everything, printing PASS or
 * FAIL lines, and exits 0 or 1.  Without thaw in between it must pass too.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define BIG_SIZE (256ul << 20)
#define BIG_PAGES (BIG_SIZE / PAGE)
#define STACK_DEPTH 2000

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

/* A pattern that differs at every 8-byte offset and for every seed. */
static uint64_t pattern_word(uint64_t seed, size_t off)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + off * 0xBF58476D1CE4E5B9ull + 1;

	x ^= x >> 31;
	return x ? x : 1; /* never a zero word: zero pages are their own case */
}

static void fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, i * 8);
}

/* Returns the offset of the first wrong byte, or -1 when all is right. */
static long check_fill(const void *p, size_t len, uint64_t seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern_word(seed, i * 8))
			return (long)(i * 8);
	return -1;
}

static long check_zero(const void *p, size_t len)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i])
			return (long)(i * 8);
	return -1;
}

static void *map_anon(size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* The /proc/self/maps line of the mapping holding addr. */
static int maps_find(const void *addr, unsigned long *start, unsigned long *end, char perms[5])
{
	unsigned long a = (unsigned long)addr, s, e;
	char line[512], p[5];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %4s", &s, &e, p) != 3)
			continue;
		if (a >= s && a < e) {
			*start = s;
			*end = e;
			memcpy(perms, p, 5);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Does a mapping ending exactly at addr have the given perms? */
static int maps_region_ending_at(unsigned long addr, const char *perms)
{
	unsigned long s, e;
	char line[512], p[5];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &s, &e, p) == 3 && e == addr && !strcmp(p, perms))
			found = 1;
	fclose(f);
	return found;
}

/* Copies the VmFlags of the smaps entry holding addr into flags. */
static int smaps_vmflags(const void *addr, char *flags, size_t len)
{
	unsigned long a = (unsigned long)addr, s, e;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0, found = 0;

	if (!f)
		return 0;
	flags[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= s && a < e;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, len, "%s", line + 8);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static int has_flag(const char *flags, const char *flag)
{
	char pat[8];

	snprintf(pat, sizeof(pat), " %s", flag);
	return strstr(flags, pat) != NULL;
}

static sigjmp_buf fault_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* Does touching addr fault? The SIGSEGV handler is only installed around it. */
static int faults(volatile char *addr, int write)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	int faulted = 0;

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(fault_jmp, 1))
		faulted = 1;
	else if (write)
		*addr = 1;
	else
		(void)*addr;
	sigaction(SIGSEGV, &old, NULL);
	return faulted;
}

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

/* ---- the state ---- */

static char *anon; /* 64 pages */
#define ANON_PAGES 64
static char *big; /* 256 MiB, sparse */
static char *freed; /* 4 pages, page 1 freed with MADV_DONTNEED */
static char *fpriv; /* private file mapping, 16 pages */
#define FPRIV_PAGES 16
static char *fshared; /* shared file mapping, 8 pages */
static int fshared_fd;
static char *shanon; /* MAP_SHARED|MAP_ANONYMOUS, 8 pages */
static char *memfd_map; /* memfd mapped shared, fd kept */
static int memfd_fd;
static char *memfd2_map; /* memfd mapped shared, fd closed */
static char *brk_start, *brk_end;
static char *guard; /* 3 pages, middle PROT_NONE */
static char *guarded; /* 3 pages, middle a MADV_GUARD_INSTALL guard region (6.13+) */
static int has_guard_install;
static char *rdonly; /* 4 pages PROT_READ */
static char *execp; /* 1 page PROT_READ|PROT_EXEC */
static char *dontfork, *wipeonfork, *hugepage;
static char flags_before[3][256];
static int has_hugepage;
static struct timespec last_mono;
static char workdir[1024];

static int big_touched(size_t i)
{
	return i % 997 == 0 || (i >= 25600 && i < 25900);
}

static int big_zeroed(size_t i)
{
	return i % 997 == 500; /* written, then cleared: present but zero */
}

static void make_file(const char *name, size_t len, uint64_t seed)
{
	char path[1200];
	char *buf = malloc(len);
	int fd;

	if (!buf)
		die("malloc");
	snprintf(path, sizeof(path), "%s/%s", workdir, name);
	fill(buf, len, seed);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		die(path);
	close(fd);
	free(buf);
}

static char *map_file(const char *name, size_t len, int flags, int *ret_fd)
{
	char path[1200];
	char *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", workdir, name);
	fd = open(path, O_RDWR);
	if (fd < 0)
		die(path);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		die("mmap file");
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
	return p;
}

/* ---- the pthread whose stack and guard are checked ---- */

static volatile int thread_check, thread_result = -1, thread_guard_before;

static void *stack_thread(void *arg)
{
	volatile char local[65536];
	unsigned long s, e;
	char perms[5];
	int ok = 1;

	(void)arg;
	fill((char *)local, sizeof(local), 77);
	if (maps_find((void *)local, &s, &e, perms))
		thread_guard_before = maps_region_ending_at(s, "---p");
	while (!thread_check) {
		struct timespec ts = { 0, 5000000 };

		nanosleep(&ts, NULL);
	}
	if (check_fill((char *)local, sizeof(local), 77) >= 0)
		ok = 0;
	if (!maps_find((void *)local, &s, &e, perms) || strcmp(perms, "rw-p"))
		ok = 0;
	else if (maps_region_ending_at(s, "---p") != thread_guard_before)
		ok = 0;
	thread_result = ok;
	return NULL;
}

static void setup(void)
{
	size_t i;

	anon = map_anon(ANON_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(anon, ANON_PAGES * PAGE, 1);

	big = map_anon(BIG_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE);
	for (i = 0; i < BIG_PAGES; i++) {
		if (big_touched(i))
			fill(big + i * PAGE, PAGE, 1000 + i);
		else if (big_zeroed(i)) {
			fill(big + i * PAGE, PAGE, 1000 + i);
			memset(big + i * PAGE, 0, PAGE);
		}
	}

	freed = map_anon(4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(freed, 4 * PAGE, 2);

	/* a guard region is no VMA: only pagemap shows it */
	guarded = map_anon(3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(guarded, 3 * PAGE, 14);
	has_guard_install = madvise(guarded + PAGE, PAGE, 102 /* MADV_GUARD_INSTALL */) == 0;
	if (madvise(freed + PAGE, PAGE, MADV_DONTNEED))
		die("MADV_DONTNEED");

	make_file("private.dat", FPRIV_PAGES * PAGE, 3);
	fpriv = map_file("private.dat", FPRIV_PAGES * PAGE, MAP_PRIVATE, NULL);
	fill(fpriv + 2 * PAGE, PAGE, 4);
	fill(fpriv + 5 * PAGE, PAGE, 5);
	fill(fpriv + 9 * PAGE, PAGE, 6);
	memset(fpriv + 7 * PAGE, 0, PAGE); /* COW page of zeros: not the file's bytes */
	fpriv[12 * PAGE + 100] = (char)0xAB;

	make_file("shared.dat", 8 * PAGE, 7);
	fshared = map_file("shared.dat", 8 * PAGE, MAP_SHARED, &fshared_fd);
	fill(fshared + 3 * PAGE, PAGE, 8);

	shanon = map_anon(8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
	fill(shanon, 8 * PAGE, 9);

	memfd_fd = memfd_create("thaw-memory", 0);
	if (memfd_fd < 0 || ftruncate(memfd_fd, 8 * PAGE))
		die("memfd");
	memfd_map = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_fd, 0);
	if (memfd_map == MAP_FAILED)
		die("mmap memfd");
	fill(memfd_map, 6 * PAGE, 10); /* the last 2 pages stay holes */

	{
		int fd = memfd_create("thaw-memory-closed", 0);

		if (fd < 0 || ftruncate(fd, 4 * PAGE))
			die("memfd 2");
		memfd2_map = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (memfd2_map == MAP_FAILED)
			die("mmap memfd 2");
		close(fd);
		fill(memfd2_map, 4 * PAGE, 11);
	}

	brk_start = sbrk(0);
	if (sbrk(3 * 65536) == (void *)-1)
		die("sbrk");
	brk_end = sbrk(0);
	fill(brk_start, (size_t)(brk_end - brk_start), 12);

	guard = map_anon(3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(guard, 3 * PAGE, 13);
	if (mprotect(guard + PAGE, PAGE, PROT_NONE))
		die("mprotect none");

	rdonly = map_anon(4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(rdonly, 4 * PAGE, 14);
	if (mprotect(rdonly, 4 * PAGE, PROT_READ))
		die("mprotect ro");

	execp = map_anon(PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	{
		/* mov eax, 42; ret */
		static const unsigned char code[] = { 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3 };

		memcpy(execp, code, sizeof(code));
	}
	if (mprotect(execp, PAGE, PROT_READ | PROT_EXEC))
		die("mprotect exec");

	dontfork = map_anon(4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(dontfork, 4 * PAGE, 15);
	if (madvise(dontfork, 4 * PAGE, MADV_DONTFORK))
		die("MADV_DONTFORK");
	wipeonfork = map_anon(4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill(wipeonfork, 4 * PAGE, 16);
	if (madvise(wipeonfork, 4 * PAGE, MADV_WIPEONFORK))
		die("MADV_WIPEONFORK");
	{
		/* 4 MiB aligned to 2 MiB inside an 8 MiB reservation */
		char *r = map_anon(8ul << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE);
		uintptr_t a = ((uintptr_t)r + (2ul << 20) - 1) & ~((2ul << 20) - 1);

		hugepage = (char *)a;
		has_hugepage = madvise(hugepage, 4ul << 20, MADV_HUGEPAGE) == 0;
		fill(hugepage, 64 * PAGE, 17);
	}
	smaps_vmflags(dontfork, flags_before[0], sizeof(flags_before[0]));
	smaps_vmflags(wipeonfork, flags_before[1], sizeof(flags_before[1]));
	smaps_vmflags(hugepage, flags_before[2], sizeof(flags_before[2]));
	if (!has_flag(flags_before[0], "dc") || !has_flag(flags_before[1], "wf") ||
	    (has_hugepage && !has_flag(flags_before[2], "hg")))
		FAILF("setup: madvise flags not in smaps before the snapshot");
}

static void check_page_run(const char *what, const char *p, size_t pages, uint64_t seed)
{
	long off = check_fill(p, pages * PAGE, seed);

	CHECK(off < 0, "%s: wrong byte at offset %ld", what, off);
}

static void check_memory(void)
{
	char path[1200], flags[256], perms[5];
	unsigned long s, e;
	size_t i, bad_touched = 0, bad_zero = 0;
	char *buf;

	/* brk first: everything below may malloc */
	CHECK(sbrk(0) == brk_end, "brk: sbrk(0) is %p, was %p", sbrk(0), (void *)brk_end);
	check_page_run("brk heap", brk_start, (size_t)(brk_end - brk_start) / PAGE, 12);
	{
		char *more = sbrk(2 * PAGE);

		CHECK(more == brk_end, "brk: sbrk(8192) returned %p, want %p", (void *)more,
		      (void *)brk_end);
		if (more != (void *)-1) {
			memset(more, 0x5a, 2 * PAGE);
			CHECK(sbrk(0) == brk_end + 2 * PAGE, "brk: heap did not grow");
		}
	}

	check_page_run("private anonymous", anon, ANON_PAGES, 1);

	for (i = 0; i < BIG_PAGES; i++) {
		const char *pg = big + i * PAGE;

		if (big_touched(i)) {
			if (check_fill(pg, PAGE, 1000 + i) >= 0 && bad_touched++ < 3)
				FAILF("256 MiB region: page %zu lost its pattern", i);
		} else if (check_zero(pg, PAGE) >= 0 && bad_zero++ < 3) {
			FAILF("256 MiB region: page %zu (%s) is not zero", i,
			      big_zeroed(i) ? "written with zeros" : "never touched");
		}
	}
	CHECK(!bad_touched && !bad_zero, "256 MiB region: %zu pattern pages and %zu zero pages wrong",
	      bad_touched, bad_zero);

	check_page_run("dontneed page 0", freed, 1, 2);
	CHECK(check_zero(freed + PAGE, PAGE) < 0, "MADV_DONTNEED page does not read as zero");
	{
		/* pages 2-3 carry the pattern at their offsets within the region */
		const uint64_t *w = (const uint64_t *)(freed + 2 * PAGE);

		for (i = 0; i < 2 * PAGE / 8; i++)
			if (w[i] != pattern_word(2, 2 * PAGE + i * 8)) {
				FAILF("dontneed region: page %zu changed", 2 + i * 8 / PAGE);
				break;
			}
	}

	/* private file mapping: COW pages hold what was written, the rest the file */
	buf = malloc(FPRIV_PAGES * PAGE);
	if (!buf) {
		FAILF("malloc");
		return;
	}
	fill(buf, FPRIV_PAGES * PAGE, 3);
	for (i = 0; i < FPRIV_PAGES; i++) {
		const char *pg = fpriv + i * PAGE;

		if (i == 2 || i == 5 || i == 9) {
			CHECK(check_fill(pg, PAGE, i == 2 ? 4 : i == 5 ? 5 : 6) < 0,
			      "private file mapping: COW page %zu lost its bytes", i);
		} else if (i == 7) {
			CHECK(check_zero(pg, PAGE) < 0,
			      "private file mapping: COW page of zeros came back non-zero");
		} else if (i == 12) {
			CHECK((unsigned char)pg[100] == 0xAB &&
				      !memcmp(pg, buf + i * PAGE, 100) &&
				      !memcmp(pg + 101, buf + i * PAGE + 101, PAGE - 101),
			      "private file mapping: partly written page %zu wrong", i);
		} else {
			CHECK(!memcmp(pg, buf + i * PAGE, PAGE),
			      "private file mapping: clean page %zu differs from the file", i);
		}
	}
	{
		char *disk = malloc(FPRIV_PAGES * PAGE);
		int fd;

		snprintf(path, sizeof(path), "%s/private.dat", workdir);
		fd = open(path, O_RDONLY);
		CHECK(disk && fd >= 0 && pread(fd, disk, FPRIV_PAGES * PAGE, 0) ==
						 (ssize_t)(FPRIV_PAGES * PAGE) &&
			      !memcmp(disk, buf, FPRIV_PAGES * PAGE),
		      "private file mapping: the file itself changed");
		if (fd >= 0)
			close(fd);
		free(disk);
	}
	free(buf);

	/* shared file mapping: page 3 written before, visible in the file */
	for (i = 0; i < 8; i++) {
		const uint64_t *w = (const uint64_t *)(fshared + i * PAGE);
		int ok = 1;
		size_t j;

		if (i == 3)
			ok = check_fill(fshared + i * PAGE, PAGE, 8) < 0;
		else
			for (j = 0; j < PAGE / 8; j++)
				ok &= w[j] == pattern_word(7, i * PAGE + j * 8);
		CHECK(ok, "shared file mapping: page %zu wrong", i);
	}
	{
		char page[PAGE];

		CHECK(pread(fshared_fd, page, PAGE, 3 * PAGE) == (ssize_t)PAGE &&
			      check_fill(page, PAGE, 8) < 0,
		      "shared file mapping: write before the snapshot not in the file");
		fill(fshared + 4 * PAGE, PAGE, 18);
		CHECK(pread(fshared_fd, page, PAGE, 4 * PAGE) == (ssize_t)PAGE &&
			      check_fill(page, PAGE, 18) < 0,
		      "shared file mapping: write after restore not visible in the file");
	}

	check_page_run("MAP_SHARED|MAP_ANONYMOUS", shanon, 8, 9);

	check_page_run("memfd mapping", memfd_map, 6, 10);
	CHECK(check_zero(memfd_map + 6 * PAGE, 2 * PAGE) < 0, "memfd mapping: hole not zero");
	{
		char page[PAGE];

		CHECK(pread(memfd_fd, page, PAGE, 2 * PAGE) == (ssize_t)PAGE &&
			      !memcmp(page, memfd_map + 2 * PAGE, PAGE),
		      "memfd: fd and mapping differ");
		fill(page, PAGE, 19);
		CHECK(pwrite(memfd_fd, page, PAGE, 7 * PAGE) == (ssize_t)PAGE &&
			      check_fill(memfd_map + 7 * PAGE, PAGE, 19) < 0,
		      "memfd: write through the fd not seen in the mapping (not shared)");
	}
	check_page_run("memfd mapping without fd", memfd2_map, 4, 11);

	/* PROT_NONE guard between two readable pages */
	check_page_run("guard: page below", guard, 1, 13);
	{
		const uint64_t *w = (const uint64_t *)(guard + 2 * PAGE);

		CHECK(w[0] == pattern_word(13, 2 * PAGE) && w[511] == pattern_word(13, 3 * PAGE - 8),
		      "guard: page above lost its pattern");
	}
	CHECK(faults(guard + PAGE, 0), "PROT_NONE page can be read");
	if (has_guard_install) {
		CHECK(faults(guarded + PAGE, 0), "MADV_GUARD_INSTALL region can be read");
	}
	if (has_guard_install) {
		const uint64_t *w = (const uint64_t *)(guarded + 2 * PAGE);

		CHECK(check_fill(guarded, PAGE, 14) < 0 && w[0] == pattern_word(14, 2 * PAGE) &&
			      w[511] == pattern_word(14, 3 * PAGE - 8),
		      "pages around the guard region lost their pattern");
	}
	CHECK(maps_find(guard + PAGE, &s, &e, perms) && !strcmp(perms, "---p"),
	      "PROT_NONE page shows as %s", perms);

	check_page_run("read-only region", rdonly, 4, 14);
	CHECK(faults(rdonly + 10, 1), "read-only region can be written");
	CHECK(maps_find(rdonly, &s, &e, perms) && !strcmp(perms, "r--p"),
	      "read-only region shows as %s", perms);

	{
		int (*fn)(void) = (int (*)(void))(void *)execp;

		CHECK(maps_find(execp, &s, &e, perms) && !strcmp(perms, "r-xp"),
		      "exec region shows as %s", perms);
		CHECK(fn() == 42, "exec region: code returned the wrong value");
		CHECK(faults(execp, 1), "exec region can be written");
	}

	/* madvise flags, and the data under them */
	check_page_run("MADV_DONTFORK region", dontfork, 4, 15);
	check_page_run("MADV_WIPEONFORK region", wipeonfork, 4, 16);
	check_page_run("MADV_HUGEPAGE region", hugepage, 64, 17);
	CHECK(smaps_vmflags(dontfork, flags, sizeof(flags)) && has_flag(flags, "dc"),
	      "MADV_DONTFORK lost (VmFlags:%s)", flags);
	CHECK(smaps_vmflags(wipeonfork, flags, sizeof(flags)) && has_flag(flags, "wf"),
	      "MADV_WIPEONFORK lost (VmFlags:%s)", flags);
	if (has_hugepage)
		CHECK(smaps_vmflags(hugepage, flags, sizeof(flags)) && has_flag(flags, "hg"),
		      "MADV_HUGEPAGE lost (VmFlags:%s)", flags);
}

static void check_vdso(void)
{
	struct timespec v, k, m;
	struct timeval tv, ktv;
	unsigned long vdso = getauxval(AT_SYSINFO_EHDR), s, e;
	char perms[5];
	double d;

	clock_gettime(CLOCK_REALTIME, &v);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &k);
	d = (double)(v.tv_sec - k.tv_sec) + (double)(v.tv_nsec - k.tv_nsec) / 1e9;
	CHECK(d > -0.5 && d < 0.5, "vDSO CLOCK_REALTIME off by %.3f s", d);

	clock_gettime(CLOCK_MONOTONIC, &m);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &k);
	d = (double)(m.tv_sec - k.tv_sec) + (double)(m.tv_nsec - k.tv_nsec) / 1e9;
	CHECK(d > -0.5 && d < 0.5, "vDSO CLOCK_MONOTONIC off by %.3f s", d);
	CHECK(m.tv_sec > last_mono.tv_sec ||
		      (m.tv_sec == last_mono.tv_sec && m.tv_nsec >= last_mono.tv_nsec),
	      "CLOCK_MONOTONIC went backwards");

	gettimeofday(&tv, NULL);
	syscall(SYS_gettimeofday, &ktv, NULL);
	d = (double)(tv.tv_sec - ktv.tv_sec) + (double)(tv.tv_usec - ktv.tv_usec) / 1e6;
	CHECK(d > -0.5 && d < 0.5, "vDSO gettimeofday off by %.3f s", d);

	CHECK(vdso && maps_find((void *)vdso, &s, &e, perms) && s == vdso,
	      "AT_SYSINFO_EHDR %#lx is not the start of a mapping", vdso);
}

static void wait_and_check(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, stack_thread, NULL))
		die("pthread_create");
	printf("READY\n");
	fflush(stdout);
	while (!got_usr1) {
		struct timespec ts = { 0, 10000000 };

		clock_gettime(CLOCK_MONOTONIC, &last_mono);
		nanosleep(&ts, NULL);
	}
	check_memory();
	check_vdso();
	thread_check = 1;
	pthread_join(t, NULL);
	CHECK(thread_guard_before, "setup: no PROT_NONE guard below the pthread stack");
	CHECK(thread_result == 1, "pthread stack or its guard page changed");
}

/* Each frame keeps data on the main stack that must survive. */
static int recurse(int depth)
{
	volatile unsigned char frame[256];
	int i, ok = 1;

	for (i = 0; i < (int)sizeof(frame); i++)
		frame[i] = (unsigned char)(depth * 7 + i);
	if (depth == 0)
		wait_and_check();
	else
		ok = recurse(depth - 1);
	for (i = 0; i < (int)sizeof(frame); i++)
		if (frame[i] != (unsigned char)(depth * 7 + i))
			return 0;
	return ok;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };

	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	close_range(3, ~0u, 0); /* inherited fds are not part of the test */
	if (argc != 2) {
		fprintf(stderr, "usage: memory WORKDIR\n");
		return 2;
	}
	snprintf(workdir, sizeof(workdir), "%s", argv[1]);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	setup();
	CHECK(recurse(STACK_DEPTH), "main stack: frames of the deep recursion changed");
	printf(failures ? "FAIL: %d checks failed\n" : "PASS\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
