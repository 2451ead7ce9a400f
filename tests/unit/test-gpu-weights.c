/*
 * test-gpu-weights.c - unit tests of thaw's half of the GPU weights region
 * (src/gpu/weights.c): the bounded parsers of the registry and the replies
 * a program writes, and, without a GPU, the whole conversation with a child
 * process that plays libthaw's part (a memfd registry, two pipes and a
 * thread that answers): found, asked, answered; a stale reply skipped; a
 * registry that names another process's thread ignored; a hostile one
 * refused; a thread that never answers timed out (or, with timeout 0, only
 * asked); a dead process noticed; a request pipe nobody reads, a reply
 * pipe drained or a request pipe filled behind thaw's poll(), and a
 * registry that is no memfd: errors, never thaw killed or blocked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "gpu/gpu-internal.h"

static struct tw_registry good_registry(void)
{
	struct tw_registry r = {.version = TW_VERSION, .size = sizeof(r)};

	memcpy(r.magic, TW_REGISTRY_MAGIC, 8);
	r.agent_tid = 1234;
	r.req_fd = 7;
	r.rep_fd = 8;
	r.nr_segments = 3;
	r.bytes = 3 << 21;
	return r;
}

static void test_registry_parse(void **state)
{
	struct tw_registry r = good_registry(), out, bad;
	char why[128];

	(void)state;
	assert_int_equal(weights_registry_parse(&r, sizeof(r), &out, why, sizeof(why)), 0);
	assert_int_equal(out.agent_tid, 1234);
	assert_int_equal(out.req_fd, 7);
	assert_int_equal(out.rep_fd, 8);
	/* lengths */
	assert_int_equal(weights_registry_parse(&r, sizeof(r) - 1, &out, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(weights_registry_parse(&r, 0, &out, why, sizeof(why)), -EINVAL);
	/* each field out of bounds */
	bad = r;
	bad.magic[0] = 'X';
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.version = 2;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EPROTO);
	bad = r;
	bad.size = 65;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EPROTO);
	bad = r;
	bad.agent_tid = 0;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad.agent_tid = -5;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad.agent_tid = 1 << 30;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.req_fd = -1;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad.req_fd = 1 << 20;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.rep_fd = bad.req_fd;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.bytes = 1ull << 51;
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.nr_segments = 0; /* bytes without allocations */
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)),
			 -EINVAL);
	bad.bytes = 0; /* an empty region is a valid one */
	assert_int_equal(weights_registry_parse(&bad, sizeof(bad), &out, why, sizeof(why)), 0);
}

static struct tw_reply good_reply(uint32_t seq)
{
	struct tw_reply r = {.seq = seq};

	memcpy(r.magic, TW_REPLY_MAGIC, 4);
	r.bytes = 1 << 30;
	r.nr_segments = 5;
	r.copy_us = 20000;
	r.total_us = 25000;
	return r;
}

static void test_reply_parse(void **state)
{
	struct tw_reply r = good_reply(77), out, bad;
	char why[128];

	(void)state;
	assert_int_equal(weights_reply_parse(&r, sizeof(r), 77, &out, why, sizeof(why)), 0);
	assert_int_equal(out.bytes, 1 << 30);
	assert_int_equal(weights_reply_parse(&r, sizeof(r), 78, &out, why, sizeof(why)), -EAGAIN);
	assert_int_equal(weights_reply_parse(&r, sizeof(r) + 1, 77, &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.magic[3] = 0;
	assert_int_equal(weights_reply_parse(&bad, sizeof(bad), 77, &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.ret = 1;
	assert_int_equal(weights_reply_parse(&bad, sizeof(bad), 77, &out, why, sizeof(why)),
			 -EINVAL);
	bad.ret = -100000;
	assert_int_equal(weights_reply_parse(&bad, sizeof(bad), 77, &out, why, sizeof(why)),
			 -EINVAL);
	bad = r;
	bad.bytes = ~0ull;
	assert_int_equal(weights_reply_parse(&bad, sizeof(bad), 77, &out, why, sizeof(why)),
			 -EINVAL);
	/* a message without its NUL, with control bytes: cut and made printable */
	bad = r;
	bad.ret = -ENOMEM;
	memset(bad.msg, 'a', sizeof(bad.msg));
	bad.msg[3] = '\n';
	bad.msg[4] = (char)0xff;
	assert_int_equal(weights_reply_parse(&bad, sizeof(bad), 77, &out, why, sizeof(why)), 0);
	assert_int_equal(out.ret, -ENOMEM);
	assert_int_equal(strlen(out.msg), sizeof(out.msg) - 1);
	assert_int_equal(out.msg[3], '?');
	assert_int_equal(out.msg[4], '?');
}

/* ---- a child that plays libthaw: registry, pipes, an agent thread ---- */

enum agent_mode {
	AGENT_ANSWER,	 /* answers each request with its bytes */
	AGENT_STALE,	 /* a reply to another request first, then the right one */
	AGENT_SILENT,	 /* reads requests, never answers */
	AGENT_FOREIGN,	 /* the registry names a thread that is not the child's */
	AGENT_NOT_PIPES, /* the registry names fds that are not pipes */
	AGENT_NO_READER, /* nobody reads the request pipe: a write raises SIGPIPE */
	AGENT_NOT_MEMFD, /* the registry is a file of another filesystem with the memfd's name */
};

static int req[2], rep[2];
static enum agent_mode mode;
static volatile pid_t agent_tid;

static void *agent(void *arg)
{
	struct tw_request rq;

	(void)arg;
	agent_tid = gettid();
	if (mode == AGENT_NO_READER)
		for (;;)
			pause();
	while (read(req[0], &rq, sizeof(rq)) == (ssize_t)sizeof(rq)) {
		struct tw_reply r = good_reply(rq.seq);

		if (mode == AGENT_SILENT)
			continue;
		if (rq.op == TW_OP_LOAD) {
			r.ret = -ENOMEM;
			snprintf(r.msg, sizeof(r.msg), "GPU 0 has 1.00 GiB free");
		}
		if (mode == AGENT_STALE) {
			struct tw_reply old = good_reply(rq.seq - 1);

			if (write(rep[1], &old, sizeof(old)) != (ssize_t)sizeof(old))
				_exit(3);
		}
		if (write(rep[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(3);
	}
	return NULL;
}

/*
 * In a mount namespace of its own whose root is a ramfs, a deleted file
 * named like libthaw's memfd: its /proc link, read from outside, is the
 * memfd's ("/memfd:thaw-gpu-weights (deleted)").  A FUSE file the program
 * serves itself could be named so, and reading it would wait on the program.
 */
static int not_memfd(void)
{
	int fd;

	/* over /tmp in the namespace only: nothing is left behind outside it */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("none", "/tmp", "ramfs", 0, NULL) || chdir("/tmp") ||
	    syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) || chdir("/"))
		_exit(4);
	fd = open("/memfd:" TW_MEMFD_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || unlink("/memfd:" TW_MEMFD_NAME))
		_exit(4);
	return fd;
}

/* Starts the child; returns its pid once its registry is written. */
static pid_t start_agent(enum agent_mode m)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct tw_registry reg = good_registry();
		int memfd = m == AGENT_NOT_MEMFD ? not_memfd() : memfd_create(TW_MEMFD_NAME, MFD_CLOEXEC),
		    devnull;
		pthread_t t;

		mode = m;
		if (memfd < 0 || pipe(req) || pipe(rep))
			_exit(2);
		if (pthread_create(&t, NULL, agent, NULL))
			_exit(2);
		if (m == AGENT_NO_READER)
			close(req[0]);
		reg.agent_tid = m == AGENT_FOREIGN ? getppid() : 0;
		reg.req_fd = req[1];
		reg.rep_fd = rep[0];
		if (m == AGENT_NOT_PIPES) {
			devnull = open("/dev/null", O_RDWR);
			reg.req_fd = devnull;
		}
		while (!agent_tid)
			usleep(1000);
		if (!reg.agent_tid)
			reg.agent_tid = agent_tid;
		if (pwrite(memfd, &reg, sizeof(reg), 0) != (ssize_t)sizeof(reg))
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		int status = 0;

		waitpid(pid, &status, 0);
		close(ready[0]);
		return WIFEXITED(status) && WEXITSTATUS(status) == 4 ? 0 : -1;
	}
	close(ready[0]);
	return pid;
}

static void stop_agent(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_conversation(void **state)
{
	struct weights_ref w;
	struct tw_reply r;
	pid_t pid;

	(void)state;
	/* no registry here */
	assert_int_equal(weights_find(getpid(), &w), 0);
	assert_false(w.found);

	pid = start_agent(AGENT_ANSWER);
	assert_int_equal(weights_find(pid, &w), 0);
	assert_true(w.found);
	assert_int_equal(w.reg.bytes, 3 << 21);
	assert_true(w.host_tid > pid);
	assert_int_equal(weights_request(pid, &w, TW_OP_SAVE, 10, &r), 0);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.bytes, 1 << 30);
	assert_int_equal(weights_request(pid, &w, TW_OP_LOAD, 10, &r), 0);
	assert_int_equal(r.ret, -ENOMEM);
	assert_string_equal(r.msg, "GPU 0 has 1.00 GiB free");
	/* a restore knows no host TID: the same conversation without it */
	w.host_tid = 0;
	assert_int_equal(weights_request(pid, &w, TW_OP_SAVE, 10, &r), 0);
	stop_agent(pid);
	/* the process is gone: no wait */
	assert_true(weights_request(pid, &w, TW_OP_SAVE, 10, &r) < 0);

	pid = start_agent(AGENT_STALE);
	assert_int_equal(weights_find(pid, &w), 0);
	assert_int_equal(weights_request(pid, &w, TW_OP_SAVE, 10, &r), 0);
	assert_int_equal(r.ret, 0);
	stop_agent(pid);
}

/*
 * The program shares both pipes: a thread of its own can take a reply
 * between thaw's poll() and its read(), or fill the request pipe between
 * poll() and write().  This poll() (weights.c's, linked into this test)
 * does that to the pipe poll() said was ready; a blocking read or write
 * then waited for ever (SIGALRM ends the test instead).
 */
static enum { RACE_NONE, RACE_DRAIN, RACE_FILL } race;

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int ret = (int)syscall(SYS_poll, fds, n, timeout), flags;
	char buf[4096];

	if (ret != 1 || n != 1 || race == RACE_NONE)
		return ret;
	flags = fcntl(fds[0].fd, F_GETFL);
	if (flags < 0 || fcntl(fds[0].fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return ret;
	memset(buf, 0, sizeof(buf));
	if (race == RACE_DRAIN && (fds[0].revents & POLLIN))
		while (read(fds[0].fd, buf, sizeof(buf)) > 0)
			;
	if (race == RACE_FILL && (fds[0].revents & POLLOUT))
		while (write(fds[0].fd, buf, sizeof(buf)) > 0)
			;
	fcntl(fds[0].fd, F_SETFL, flags);
	return ret;
}

static void test_hostile(void **state)
{
	struct weights_ref w;
	struct tw_reply r;
	pid_t pid;

	(void)state;
	pid = start_agent(AGENT_FOREIGN);
	assert_int_equal(weights_find(pid, &w), 0);
	assert_false(w.found); /* an inherited registry: not this process's region */
	stop_agent(pid);

	pid = start_agent(AGENT_NOT_PIPES);
	assert_int_equal(weights_find(pid, &w), -EINVAL);
	stop_agent(pid);

	pid = start_agent(AGENT_SILENT);
	assert_int_equal(weights_find(pid, &w), 0);
	/* timeout 0: asked, not waited for */
	assert_int_equal(weights_request(pid, &w, TW_OP_LOAD, 0, &r), -ETIMEDOUT);
	assert_int_equal(weights_request(pid, &w, TW_OP_SAVE, 1, &r), -ETIMEDOUT);
	stop_agent(pid);

	/* a request nobody reads: an error, not thaw killed by SIGPIPE */
	pid = start_agent(AGENT_NO_READER);
	assert_int_equal(weights_find(pid, &w), 0);
	assert_true(w.found);
	assert_true(weights_request(pid, &w, TW_OP_SAVE, 1, &r) < 0);
	stop_agent(pid);

	/* the pipes drained or filled behind poll() (race, below): no wait for ever */
	pid = start_agent(AGENT_ANSWER);
	assert_int_equal(weights_find(pid, &w), 0);
	alarm(30);
	race = RACE_DRAIN;
	assert_int_equal(weights_request(pid, &w, TW_OP_SAVE, 1, &r), -ETIMEDOUT);
	race = RACE_FILL;
	assert_int_equal(weights_request(pid, &w, TW_OP_SAVE, 1, &r), -EIO);
	race = RACE_NONE;
	alarm(0);
	stop_agent(pid);
}

/* A registry that is not a memfd (a file of another filesystem named like one) is refused. */
static void test_not_memfd(void **state)
{
	struct weights_ref w;
	pid_t pid;

	(void)state;
	pid = start_agent(AGENT_NOT_MEMFD);
	if (pid == 0)
		skip(); /* no mount namespace or ramfs here */
	assert_true(pid > 0);
	assert_int_equal(weights_find(pid, &w), -EINVAL);
	assert_false(w.found);
	stop_agent(pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry_parse),
	    cmocka_unit_test(test_reply_parse),
	    cmocka_unit_test(test_conversation),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_not_memfd),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
