/*
 * test-fds-live.c - fds_dump() and fds_restore() on real processes.
 *
 * A child opens one fd of every supported kind at a known number and stops
 * itself; the test dumps its fds into a real image (written, published and
 * read back), checks the dump took nothing from the child, then forks a
 * second child that restores the fds and checks each one: kind, flags,
 * offset, FD_CLOEXEC, pipe bytes, eventfd count, epoll watches, timer,
 * memfd contents and seals, the deleted file's contents.  The restoring
 * child reports the first failed check as its exit status (the line number,
 * modulo 256) and a message.  Both children are killed by PID at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/fdinfo.h"
#include "engine/fds.h"
#include "image/image.h"

enum {
	FD_PIPE_R = 10,
	FD_PIPE_W,
	FD_EVENTFD,
	FD_EPOLL,
	FD_TIMERFD,
	FD_MEMFD,
	FD_DELETED,
	FD_APPEND,
	FD_SIGNALFD,
	FD_NULL,
	FD_DIR,
	FD_HALF_PIPE, /* write end; the read end stays in the test process */
	FD_EPOLL_NESTED, /* an epoll watching FD_EPOLL */
	FD_LAST = FD_EPOLL_NESTED,
};
#define MIN_FD 1000
#define ERRHUP (EPOLLERR | EPOLLHUP)

static const char pipe_bytes[] = "bytes in flight";
static const char memfd_bytes[] = "memfd content";
static const char deleted_bytes[] = "deleted file data";
static char tmpdir[64];
static int half_pipe[2];

static void put(int fd, int number)
{
	if (fd < 0 || dup2(fd, number) != number)
		_exit(100);
	if (fd != number)
		close(fd);
}

static void setup_child(void)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 100, 0 } };
	struct epoll_event ev;
	char path[128];
	sigset_t mask;
	int p[2], fd, ep;

	put(open("/dev/null", O_RDONLY), 0);

	if (pipe2(p, 0))
		_exit(101);
	put(p[0], FD_PIPE_R);
	put(p[1], FD_PIPE_W);
	if (write(FD_PIPE_W, pipe_bytes, sizeof(pipe_bytes)) != sizeof(pipe_bytes))
		_exit(102);
	put(eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK), FD_EVENTFD);

	ep = epoll_create1(0);
	put(ep, FD_EPOLL);
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 0xabcdef0123ull;
	if (epoll_ctl(FD_EPOLL, EPOLL_CTL_ADD, FD_PIPE_R, &ev))
		_exit(103);
	ev.events = EPOLLIN;
	ev.data.u64 = 7;
	if (epoll_ctl(FD_EPOLL, EPOLL_CTL_ADD, FD_EVENTFD, &ev))
		_exit(104);

	put(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), FD_TIMERFD);
	if (timerfd_settime(FD_TIMERFD, 0, &its, NULL))
		_exit(105);

	fd = memfd_create("test mem", MFD_ALLOW_SEALING);
	if (write(fd, memfd_bytes, sizeof(memfd_bytes)) != sizeof(memfd_bytes) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) || lseek(fd, 3, SEEK_SET) != 3)
		_exit(106);
	put(fd, FD_MEMFD);

	snprintf(path, sizeof(path), "%s/deleted", tmpdir);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	if (write(fd, deleted_bytes, sizeof(deleted_bytes)) != sizeof(deleted_bytes) ||
	    unlink(path) || lseek(fd, 2, SEEK_SET) != 2)
		_exit(107);
	put(fd, FD_DELETED);

	snprintf(path, sizeof(path), "%s/append", tmpdir);
	fd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
	if (write(fd, "0123456789", 10) != 10 || lseek(fd, 4, SEEK_SET) != 4)
		_exit(108);
	if (dup3(fd, FD_APPEND, O_CLOEXEC) != FD_APPEND)
		_exit(108);
	close(fd);

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	put(signalfd(-1, &mask, 0), FD_SIGNALFD);
	fd = open("/dev/null", O_RDONLY);
	if (dup3(fd, FD_NULL, O_CLOEXEC) != FD_NULL)
		_exit(109);
	close(fd);
	put(open(tmpdir, O_RDONLY | O_DIRECTORY), FD_DIR);

	put(epoll_create1(0), FD_EPOLL_NESTED);
	ev.events = EPOLLIN;
	ev.data.u64 = 99;
	if (epoll_ctl(FD_EPOLL_NESTED, EPOLL_CTL_ADD, FD_EPOLL, &ev))
		_exit(110);
}

static void child_main(void)
{
	put(half_pipe[1], FD_HALF_PIPE);
	close(half_pipe[0]);
	/* nothing but our fds: stdio 1 and 2 stay as the test has them */
	syscall(SYS_close_range, 3, FD_PIPE_R - 1, 0);
	syscall(SYS_close_range, FD_LAST + 1, ~0u, 0);
	setup_child();
	raise(SIGSTOP);
	pause();
	_exit(0);
}

/* ------------------------------------------------------ restored side */

static int check_failed(int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "check failed at line %d: ", line);
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - 1 - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	/* stderr may be anything now: the restored fd 2 */
	if (write(2, msg, (size_t)n) < 0)
		return line;
	return line;
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			_exit(check_failed(__LINE__, __VA_ARGS__));                                \
	} while (0)

static void link_of(int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static void info_of(int fd, struct fdinfo *info)
{
	char *buf;
	size_t len, off;

	int ret = fdinfo_read(getpid(), fd, &buf, &len);

	CHECK(ret == 0, "fdinfo of fd %d: %s", fd, strerror(-ret));
	CHECK(fdinfo_parse(buf, len, info, &off) == 0, "fdinfo of fd %d: parse", fd);
	free(buf);
}

static void check_restored(void)
{
	struct itimerspec its;
	struct fdinfo info;
	struct stat a, b;
	char link[256], buf[64], want[128];
	int fd, n, w;

	for (fd = 3; fd < FD_PIPE_R; fd++)
		CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "fd %d left open", fd);

	link_of(FD_PIPE_R, link, sizeof(link));
	CHECK(!strncmp(link, "pipe:[", 6), "pipe link %s", link);
	CHECK(fstat(FD_PIPE_R, &a) == 0 && fstat(FD_PIPE_W, &b) == 0 && a.st_ino == b.st_ino,
	      "pipe ends differ");
	CHECK((fcntl(FD_PIPE_R, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_RDONLY,
	      "pipe read flags %o", fcntl(FD_PIPE_R, F_GETFL));
	CHECK((fcntl(FD_PIPE_W, F_GETFL) & O_ACCMODE) == O_WRONLY, "pipe write");
	CHECK(ioctl(FD_PIPE_R, FIONREAD, &n) == 0 && n == sizeof(pipe_bytes), "pipe %d bytes", n);
	CHECK(read(FD_PIPE_R, buf, sizeof(buf)) == sizeof(pipe_bytes) &&
		      !memcmp(buf, pipe_bytes, sizeof(pipe_bytes)),
	      "pipe bytes");

	link_of(FD_EVENTFD, link, sizeof(link));
	CHECK(!strcmp(link, "anon_inode:[eventfd]"), "eventfd link %s", link);
	info_of(FD_EVENTFD, &info);
	CHECK(info.eventfd_count == 5 && info.eventfd_semaphore, "eventfd count %llu", (unsigned long long)info.eventfd_count);
	CHECK(fcntl(FD_EVENTFD, F_GETFL) & O_NONBLOCK, "eventfd nonblock");

	info_of(FD_EPOLL, &info);
	CHECK(info.nr_tfds == 2, "epoll %u watches", info.nr_tfds);
	/* EPOLL_CTL_ADD always adds EPOLLERR | EPOLLHUP; fdinfo lists watches in the kernel's tree order, not in the order they were added */
	w = info.tfds[0].tfd == FD_PIPE_R ? 0 : 1;
	CHECK(info.tfds[w].tfd == FD_PIPE_R && info.tfds[w].events == (EPOLLIN | EPOLLET | ERRHUP) &&
		      info.tfds[w].data == 0xabcdef0123ull,
	      "epoll watch on the pipe: %d %x", info.tfds[w].tfd, info.tfds[w].events);
	CHECK(info.tfds[!w].tfd == FD_EVENTFD && info.tfds[!w].events == (EPOLLIN | ERRHUP) &&
		      info.tfds[!w].data == 7,
	      "epoll watch on the eventfd");
	fdinfo_release(&info);
	info_of(FD_EPOLL_NESTED, &info);
	CHECK(info.nr_tfds == 1 && info.tfds[0].tfd == FD_EPOLL && info.tfds[0].data == 99,
	      "nested epoll");
	fdinfo_release(&info);

	CHECK(timerfd_gettime(FD_TIMERFD, &its) == 0, "timerfd");
	CHECK(its.it_value.tv_sec >= 90 && its.it_value.tv_sec <= 100 &&
		      its.it_interval.tv_sec == 1 && its.it_interval.tv_nsec == 0,
	      "timer %ld/%ld", (long)its.it_value.tv_sec,
	      (long)its.it_interval.tv_sec);
	info_of(FD_TIMERFD, &info);
	CHECK(info.clockid == CLOCK_MONOTONIC, "clock");

	link_of(FD_MEMFD, link, sizeof(link));
	CHECK(!strcmp(link, "/memfd:test mem (deleted)"), "memfd link %s", link);
	CHECK(lseek(FD_MEMFD, 0, SEEK_CUR) == 3, "memfd pos");
	CHECK(pread(FD_MEMFD, buf, sizeof(buf), 0) == sizeof(memfd_bytes) &&
		      !memcmp(buf, memfd_bytes, sizeof(memfd_bytes)),
	      "memfd bytes");
	CHECK(fcntl(FD_MEMFD, F_GET_SEALS) == F_SEAL_SHRINK, "seals %x",
	      fcntl(FD_MEMFD, F_GET_SEALS));

	link_of(FD_DELETED, link, sizeof(link));
	snprintf(want, sizeof(want), "%s/", tmpdir);
	CHECK(!strncmp(link, want, strlen(want)) && strstr(link, " (deleted)"),
	      "deleted link %s", link);
	CHECK(fstat(FD_DELETED, &a) == 0 && a.st_nlink == 0, "nlink");
	CHECK(lseek(FD_DELETED, 0, SEEK_CUR) == 2, "deleted pos");
	CHECK((fcntl(FD_DELETED, F_GETFL) & O_ACCMODE) == O_RDWR, "deleted mode");
	CHECK(pread(FD_DELETED, buf, sizeof(buf), 0) == sizeof(deleted_bytes) &&
		      !memcmp(buf, deleted_bytes, sizeof(deleted_bytes)),
	      "deleted bytes");

	link_of(FD_APPEND, link, sizeof(link));
	snprintf(want, sizeof(want), "%s/append", tmpdir);
	CHECK(!strcmp(link, want), "append link %s", link);
	CHECK((fcntl(FD_APPEND, F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_WRONLY | O_APPEND),
	      "append flags");
	CHECK(lseek(FD_APPEND, 0, SEEK_CUR) == 4, "append pos");
	CHECK(fcntl(FD_APPEND, F_GETFD) == FD_CLOEXEC, "append cloexec");

	link_of(FD_SIGNALFD, link, sizeof(link));
	CHECK(!strcmp(link, "anon_inode:[signalfd]"), "signalfd %s", link);
	info_of(FD_SIGNALFD, &info);
	CHECK(info.sigmask == 1ull << (SIGUSR1 - 1), "sigmask");

	link_of(FD_NULL, link, sizeof(link));
	CHECK(!strcmp(link, "/dev/null") && fcntl(FD_NULL, F_GETFD) == FD_CLOEXEC,
	      "/dev/null %s", link);
	CHECK(fcntl(FD_PIPE_R, F_GETFD) == 0, "cloexec set on the pipe");
	link_of(FD_DIR, link, sizeof(link));
	CHECK(!strcmp(link, tmpdir), "dir %s", link);

	/* the half pipe: its outside read end is kept just above the image's fds */
	CHECK(fstat(FD_HALF_PIPE, &a) == 0 && S_ISFIFO(a.st_mode), "half pipe");
	for (fd = FD_LAST + 1; fd < MIN_FD; fd++)
		if (fstat(fd, &b) == 0)
			break;
	CHECK(fd < MIN_FD && b.st_ino == a.st_ino &&
		      (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY &&
		      fcntl(fd, F_GETFD) == FD_CLOEXEC,
	      "kept peer");
	for (fd++; fd < MIN_FD; fd++)
		CHECK(fcntl(fd, F_GETFD) < 0, "stray fd %d", fd);
}

static void restore_main(const struct image *img)
{
	int shmem_fds[8], fd;

	/* junk the restore must clear away or step over */
	for (fd = 0; fd < 5; fd++)
		if (open("/dev/zero", O_RDONLY) < 0)
			_exit(120);
	if (img->nr_shmems > 8)
		_exit(121);
	if (shmem_restore(img, MIN_FD, shmem_fds, NULL))
		_exit(122);
	if (fds_restore(img, shmem_fds, NULL, MIN_FD, NULL))
		_exit(123);
	/* the tracer arms timerfds last; here, the restored process does it itself */
	for (fd = 0; fd < (int)img->nr_fds; fd++) {
		const struct image_fd *f = &img->fds[fd];
		struct itimerspec its;
		int flags;

		if (f->kind != IMAGE_FD_TIMERFD)
			continue;
		if (timerfd_arm_spec(f, &flags, &its) != 1 ||
		    timerfd_settime(f->fd, flags, &its, NULL))
			_exit(125);
	}
	if (shmem_apply_seals(img, shmem_fds))
		_exit(124);
	check_restored();
	_exit(0);
}

/* ------------------------------------------------------------- driver */

static pid_t start_child(void)
{
	int status;
	pid_t pid;

	if (pipe(half_pipe))
		return -1;
	pid = fork();
	if (pid == 0)
		child_main();
	close(half_pipe[1]);
	if (pid < 0 || waitpid(pid, &status, WUNTRACED) != pid)
		return -1;
	if (!WIFSTOPPED(status)) {
		print_error("child setting up fds: status %#x (exit code = step)\n", status);
		return -1;
	}
	return pid;
}

static void kill_child(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* The dump must leave the pipe's bytes and the eventfd's count where they were. */
static void check_untouched(pid_t pid)
{
	struct fdinfo info;
	char *buf;
	size_t len, off;
	int pidfd, fd, n = 0;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	assert_true(pidfd >= 0);
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, FD_PIPE_R, 0);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	assert_int_equal(n, sizeof(pipe_bytes));
	close(fd);
	close(pidfd);
	assert_int_equal(fdinfo_read(pid, FD_EVENTFD, &buf, &len), 0);
	assert_int_equal(fdinfo_parse(buf, len, &info, &off), 0);
	assert_int_equal(info.eventfd_count, 5);
	free(buf);
}

static void test_roundtrip(void **state)
{
	struct image *img = NULL, *back = NULL;
	struct image_vma *vma;
	char dir[128];
	pid_t child, restorer;
	int status;

	(void)state;
	child = start_child();
	assert_true(child > 0);

	snprintf(dir, sizeof(dir), "%s/img", tmpdir);
	assert_int_equal(image_create(dir, &img), 0);
	img->proc.pid = child;
	img->proc.exe = -1;
	img->proc.cwd = strdup("/");
	assert_non_null(image_new_thread(img));
	img->threads[0].tid = child;
	img->threads[0].attrs.timerslack_ns = 50000; /* what any thread not realtime has */
	/* one zero page, so the image has a page run like every real one */
	vma = image_new_vma(img);
	assert_non_null(vma);
	vma->start = 0x10000;
	vma->end = 0x11000;
	vma->prot = PROT_READ | PROT_WRITE;
	vma->kind = IMAGE_VMA_ANON;
	vma->file = vma->shmem = -1;
	assert_int_equal(image_add_pages(img, 0x10000, NULL, 1, IMAGE_RUN_ZERO), 0);
	if (fds_dump(child, img, NULL, 0)) {
		kill_child(child);
		fail_msg("fds_dump failed");
	}
	check_untouched(child);
	kill_child(child);

	assert_int_equal(image_publish(img), 0);
	image_free(img);
	assert_int_equal(image_read(dir, &back), 0);
	assert_int_equal(back->nr_fds, FD_LAST - FD_PIPE_R + 1 + 3);
	assert_int_equal(files_validate(back), 0);

	restorer = fork();
	if (restorer == 0)
		restore_main(back);
	assert_true(restorer > 0);
	assert_int_equal(waitpid(restorer, &status, 0), restorer);
	kill_child(restorer);
	image_free(back);
	close(half_pipe[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("restoring child: status %#x (exit code = failed line %% 256)", status);
}

/* An unsupported fd is an error that names it. */
static void test_refuses_socket(void **state)
{
	struct image *img = NULL;
	char dir[128];
	int sv[2], status;
	pid_t pid;

	(void)state;
	/* the child holds one end; its peer, here, is outside the process */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	if (pid == 0) {
		close(sv[1]);
		raise(SIGSTOP);
		_exit(0);
	}
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	snprintf(dir, sizeof(dir), "%s/img2", tmpdir);
	assert_int_equal(image_create(dir, &img), 0);
	assert_int_equal(fds_dump(pid, img, NULL, 0), -ENOTSUP);
	close(sv[1]);
	kill_child(pid);
	image_abort(img);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/thaw-fds-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refuses_socket),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
