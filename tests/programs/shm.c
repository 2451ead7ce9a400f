/*
 * shm.c - shared memory between a parent and its child that thaw must bring
 * back, checked by both after restore (SIGUSR1).
 *
 *   shm TAG [posix] [semname]
 *
 * Set up by the parent before it forks its child (both map everything):
 *   - a POSIX shm object /thaw-t-TAG-obj (shm_open, fd kept open, mapped);
 *   - a POSIX shm object /thaw-t-TAG-unl, mapped, its fd closed, unlinked;
 *   - a SysV segment (shmget IPC_PRIVATE + shmat), its id printed first as
 *     "SHMID N";
 *   - a named semaphore /thaw-t-TAG-sem (sem_open) posted 3 times.
 * Each mapping holds a pattern from its second page on; the first page is
 * for writes after restore.
 *
 * On SIGUSR1 (the parent forwards it to the child) both check the patterns,
 * the semaphore's value (3), that /thaw-t-TAG-obj can be opened by name and
 * is the same object (a write through a new mapping shows in the old one),
 * that the unlinked one is still unlinked, and that the SysV id still names
 * the segment (IPC_STAT: size, 2 attached; a second shmat sees the same
 * bytes).  Then the parent writes a token into each mapping and says "go";
 * the child checks it sees them, writes its own (the named object through a
 * mapping of its own), takes the semaphore's 3 posts, says "drained" and
 * waits on the semaphore; the parent checks the child's writes and posts;
 * the child's sem_timedwait returns.  The child sends its FAIL lines and
 * "DONE N" over a pipe; the parent prints them and PASS if nothing failed,
 * then unlinks the names and removes the segment.
 *
 * With "posix" there is no SysV segment (a MAP_SHARED|MAP_ANONYMOUS mapping
 * takes its place, "SHMID -1"): the POSIX objects alone.  Only with
 * "semname" does the parent, at the end, open the semaphore again by its
 * name and post through it (seen through the first handle).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIZE	(64 << 10)
#define WAIT_MS 4000

static char outbuf[1 << 14];
static volatile sig_atomic_t got_usr1;
static const char *role = "parent";
static int failures, result_w = -1;
static uint64_t seed;
static pid_t pid_p, pid_c;
static char name_obj[128], name_unl[128], name_sem[128];
static char *map_obj, *map_unl, *map_sysv;
static int fd_obj = -1, shmid = -1, sysv = 1, semname;
static sem_t *sem;
static int p2c[2], c2p[2], res[2]; /* go, drained; the child's verdict */

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

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

static void fill(char *p, uint64_t s)
{
	size_t i;

	memset(p, 0, 4096);
	for (i = 4096; i < SIZE; i++)
		p[i] = (char)pattern(s, i);
}

static void check_pattern(const char *p, uint64_t s, const char *what)
{
	size_t i;

	for (i = 4096; i < SIZE; i++)
		if ((uint8_t)p[i] != pattern(s, i)) {
			report("%s differs at byte %zu", what, i);
			return;
		}
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

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

static void expect_msg(int fd, const char *want)
{
	char buf[64];
	size_t len = strlen(want);
	ssize_t n;

	memset(buf, 0, sizeof(buf));
	n = read_exact(fd, buf, len, WAIT_MS);
	CHECK(n == (ssize_t)len && !memcmp(buf, want, len), "pipe: got %zd bytes '%.*s', want '%s'",
	      n, (int)(n > 0 ? n : 0), buf, want);
}

static void send_msg(int fd, const char *msg)
{
	CHECK(write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg), "write '%s': %s", msg,
	      strerror(errno));
}

/* the state both see after restore, before either writes */
static void check_common(void)
{
	struct shmid_ds ds;
	struct stat st;
	int val = -1, fd;

	check_pattern(map_obj, seed ^ 1, "shm object /dev/shm/thaw-t-*-obj");
	check_pattern(map_unl, seed ^ 2, "unlinked shm object");
	check_pattern(map_sysv, seed ^ 3, "SysV segment");
	CHECK(!sem_getvalue(sem, &val) && val == 3, "semaphore value is %d, want 3", val);

	CHECK(!fstat(fd_obj, &st) && st.st_size == SIZE, "fstat shm object fd: size %lld",
	      (long long)st.st_size);
	fd = shm_open(name_unl, O_RDWR, 0);
	CHECK(fd < 0 && errno == ENOENT, "unlinked shm object %s can be opened again (%d: %s)",
	      name_unl, fd, strerror(errno));
	if (fd >= 0)
		close(fd);

	if (!sysv)
		return;
	memset(&ds, 0, sizeof(ds));
	if (shmctl(shmid, IPC_STAT, &ds)) {
		report("shmctl(%d, IPC_STAT): %s", shmid, strerror(errno));
		return;
	}
	CHECK(ds.shm_segsz == SIZE, "SysV segment %d: size %zu, want %d", shmid, ds.shm_segsz,
	      SIZE);
	CHECK(ds.shm_nattch == 2, "SysV segment %d: %lu attached, want 2", shmid,
	      (unsigned long)ds.shm_nattch);
}

/*
 * A new shmat of the segment sees the same bytes.  The parent does it once
 * the child is done with its checks: an attach while the other process
 * counts the attachments would make it count three.
 */
static void sysv_attach_again(void)
{
	char *again;

	if (!sysv)
		return;
	again = shmat(shmid, NULL, SHM_RDONLY);
	if (again == (void *)-1) {
		report("shmat(%d) again: %s", shmid, strerror(errno));
		return;
	}
	/* both processes have written into it by now: the same bytes as our mapping */
	CHECK(!memcmp(again, map_sysv, SIZE), "SysV segment attached again: not the bytes of %d",
	      shmid);
	shmdt(again);
}

/* opens NAME again, checks it is the object mapped at map_obj, writes MSG at OFF through it */
static void write_by_name(const char *msg, size_t off)
{
	char *m;
	int fd = shm_open(name_obj, O_RDWR, 0);

	if (fd < 0) {
		report("shm_open(%s) after restore: %s", name_obj, strerror(errno));
		return;
	}
	m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		report("mmap %s: %s", name_obj, strerror(errno));
		return;
	}
	check_pattern(m, seed ^ 1, "shm object opened again by name");
	memcpy(m + off, msg, strlen(msg));
	CHECK(!memcmp(map_obj + off, msg, strlen(msg)),
	      "shm object opened by name is not the mapped one: a write through it is not seen");
	munmap(m, SIZE);
}

static void child(void)
{
	struct timespec ts;
	int i, r;

	role = "child";
	result_w = res[1];
	close(p2c[1]);
	close(c2p[0]);
	close(res[0]);
	while (!got_usr1)
		sleep_ms(10);
	check_common();
	expect_msg(p2c[0], "go\n");
	CHECK(!memcmp(map_obj, "parent-obj", 10), "shm object: parent's write not seen");
	CHECK(!memcmp(map_unl, "parent-unl", 10), "unlinked shm object: parent's write not seen");
	CHECK(!memcmp(map_sysv, "parent-sysv", 11), "SysV segment: parent's write not seen");
	CHECK(!memcmp(map_obj + 64, "parent-by-name", 14),
	      "shm object: parent's write through a new mapping not seen");
	memcpy(map_unl + 128, "child-unl", 9);
	memcpy(map_sysv + 128, "child-sysv", 10);
	write_by_name("child-by-name", 128);

	for (i = 0; i < 3; i++)
		CHECK(!sem_trywait(sem), "sem_trywait %d of 3: %s", i + 1, strerror(errno));
	r = sem_trywait(sem);
	CHECK(r < 0 && errno == EAGAIN, "sem_trywait a 4th time: %d (%s)", r, strerror(errno));
	send_msg(c2p[1], "drained\n");
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	while ((r = sem_timedwait(sem, &ts)) < 0 && errno == EINTR)
		;
	CHECK(!r, "sem_timedwait for the parent's post: %s", strerror(errno));
	dprintf(res[1], "DONE %d\n", failures);
	_exit(failures ? 1 : 0);
}

static void collect(void)
{
	char buf[8192], *nl, *line;
	size_t len = 0;
	int done = 0, i;
	ssize_t n;

	for (i = 0; !done && i < 2 * WAIT_MS / 100; i++) {
		struct pollfd pfd = {.fd = res[0], .events = POLLIN};

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(res[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		line = buf;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (!strncmp(line, "DONE ", 5))
				done = 1;
			else if (!strncmp(line, "FAIL", 4)) {
				failures++;
				printf("%s\n", line);
			} else
				report("unexpected line from the child: '%s'", line);
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
	}
	CHECK(done, "no verdict from child %d", pid_c);
}

/*
 * The child is done with the semaphore (value 0): sem_open by its name must
 * give the same one: a post through it is seen through the first handle.
 */
static void sem_by_name(void)
{
	sem_t *again = sem_open(name_sem, 0);
	int val = -1;

	if (again == SEM_FAILED) {
		report("sem_open(%s) after restore: %s", name_sem, strerror(errno));
		return;
	}
	CHECK(!sem_getvalue(again, &val) && val == 0, "semaphore opened by name: value %d, want 0",
	      val);
	CHECK(!sem_post(again), "sem_post through the semaphore opened by name: %s",
	      strerror(errno));
	CHECK(!sem_trywait(sem), "a post through the semaphore opened by name is not seen: %s",
	      strerror(errno));
	sem_close(again);
}

static void parent(void)
{
	int st = 0, i;
	pid_t r = 0;

	check_common();
	memcpy(map_obj, "parent-obj", 10);
	memcpy(map_unl, "parent-unl", 10);
	memcpy(map_sysv, "parent-sysv", 11);
	write_by_name("parent-by-name", 64);
	send_msg(p2c[1], "go\n");
	expect_msg(c2p[0], "drained\n");
	CHECK(!memcmp(map_unl + 128, "child-unl", 9),
	      "unlinked shm object: child's write not seen");
	CHECK(!memcmp(map_sysv + 128, "child-sysv", 10), "SysV segment: child's write not seen");
	CHECK(!memcmp(map_obj + 128, "child-by-name", 13),
	      "shm object: child's write through its own mapping not seen");
	CHECK(!sem_post(sem), "sem_post: %s", strerror(errno));
	collect();
	sysv_attach_again();
	if (semname)
		sem_by_name();
	for (i = 0; i < WAIT_MS / 10 && (r = waitpid(pid_c, &st, WNOHANG)) == 0; i++)
		sleep_ms(10);
	CHECK(r == pid_c && WIFEXITED(st), "child %d: waitpid -> %d status %#x", pid_c, r, st);
	CHECK(getpid() == pid_p, "getpid() is %d, want %d", getpid(), pid_p);
}

static void setup(const char *tag)
{
	int fd, i;

	pid_p = getpid();
	if (getsid(0) != pid_p && setsid() < 0)
		die("setsid");
	fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed))
		die("urandom");
	close(fd);
	snprintf(name_obj, sizeof(name_obj), "/thaw-t-%s-obj", tag);
	snprintf(name_unl, sizeof(name_unl), "/thaw-t-%s-unl", tag);
	snprintf(name_sem, sizeof(name_sem), "/thaw-t-%s-sem", tag);

	fd_obj = shm_open(name_obj, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd_obj < 0 || ftruncate(fd_obj, SIZE))
		die("shm_open obj");
	map_obj = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd_obj, 0);
	if (map_obj == MAP_FAILED)
		die("mmap obj");
	fill(map_obj, seed ^ 1);

	fd = shm_open(name_unl, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, SIZE))
		die("shm_open unl");
	map_unl = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map_unl == MAP_FAILED)
		die("mmap unl");
	close(fd);
	if (shm_unlink(name_unl))
		die("shm_unlink");
	fill(map_unl, seed ^ 2);

	if (sysv) {
		shmid = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
		if (shmid < 0)
			die("shmget");
		map_sysv = shmat(shmid, NULL, 0);
	} else {
		map_sysv =
		    mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (map_sysv == MAP_FAILED)
			map_sysv = (void *)-1;
	}
	if (map_sysv == (void *)-1)
		die("shmat");
	fill(map_sysv, seed ^ 3);

	sem = sem_open(name_sem, O_CREAT | O_EXCL, 0600, 0);
	if (sem == SEM_FAILED)
		die("sem_open");
	for (i = 0; i < 3; i++)
		sem_post(sem);
	if (pipe(p2c) || pipe(c2p) || pipe(res))
		die("pipe");
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int i;

	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	close_range(3, ~0u, 0);
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "posix"))
			sysv = 0;
		else if (!strcmp(argv[i], "semname"))
			semname = 1;
		else
			break;
	}
	if (argc < 2 || i < argc) {
		fprintf(stderr, "usage: shm TAG [posix] [semname]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	setup(argv[1]);
	pid_c = fork();
	if (pid_c < 0)
		die("fork");
	if (pid_c == 0)
		child();
	close(p2c[0]);
	close(c2p[1]);
	close(res[1]);
	printf("SHMID %d\n", shmid);
	printf("READY\n");
	fflush(stdout);
	while (!got_usr1)
		sleep_ms(10);
	kill(pid_c, SIGUSR1);
	parent();
	sem_close(sem);
	sem_unlink(name_sem);
	shm_unlink(name_obj);
	if (sysv)
		shmctl(shmid, IPC_RMID, NULL);
	printf(failures ? "FAIL: %d checks failed\n" : "PASS\n", failures);
	fflush(stdout);
	return failures ? 1 : 0;
}
