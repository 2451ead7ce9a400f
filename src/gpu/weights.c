/*
 * weights.c - thaw's half of the GPU weights region (weights-proto.h,
 * sdk/c/gpu-weights.c, docs/gpu.md "Weights outside the driver's
 * checkpoint"): find a program's region, ask its agent thread to save the
 * weights before the driver's checkpoint and to load them after the
 * driver's restore.
 *
 * Everything here comes from the program and is untrusted: the registry is
 * read as exactly 64 bytes and each field is bounded; the fds it names must
 * be pipes of that process and the thread one of its threads; a reply must
 * be exactly 256 bytes with our sequence number, its message is cut and
 * made printable; and no wait lasts longer than the caller's timeout.
 */
#define LOG_TAG "gpu"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "gpu-internal.h"

#define MAX_TID	     4194304 /* PID_MAX_LIMIT */
#define MAX_FD	     (1 << 20)
#define MAX_BYTES    (1ull << 50)
#define MAX_SEGMENTS (1u << 20)
#define MAX_STALE    16 /* replies to earlier requests skipped before giving up */

int weights_registry_parse(const void *buf, size_t len, struct tw_registry *out, char *why,
			   size_t whylen)
{
	struct tw_registry r;

	if (len != sizeof(r)) {
		snprintf(why, whylen, "%zu bytes, not %zu", len, sizeof(r));
		return -EINVAL;
	}
	memcpy(&r, buf, sizeof(r));
	if (memcmp(r.magic, TW_REGISTRY_MAGIC, sizeof(r.magic))) {
		snprintf(why, whylen, "bad magic");
		return -EINVAL;
	}
	if (r.version != TW_VERSION || r.size != sizeof(r)) {
		snprintf(why, whylen, "version %u (size %u), thaw reads version %d", r.version,
			 r.size, TW_VERSION);
		return -EPROTO;
	}
	if (r.agent_tid <= 0 || r.agent_tid > MAX_TID) {
		snprintf(why, whylen, "thread %d out of range", r.agent_tid);
		return -EINVAL;
	}
	if (r.req_fd < 0 || r.req_fd >= MAX_FD || r.rep_fd < 0 || r.rep_fd >= MAX_FD ||
	    r.req_fd == r.rep_fd) {
		snprintf(why, whylen, "fds %d and %d out of range", r.req_fd, r.rep_fd);
		return -EINVAL;
	}
	if (r.bytes > MAX_BYTES || r.nr_segments > MAX_SEGMENTS ||
	    (r.bytes == 0) != (r.nr_segments == 0)) {
		snprintf(why, whylen, "%" PRIu64 " bytes in %u allocations", r.bytes,
			 r.nr_segments);
		return -EINVAL;
	}
	*out = r;
	return 0;
}

int weights_reply_parse(const void *buf, size_t len, uint32_t seq, struct tw_reply *out, char *why,
			size_t whylen)
{
	struct tw_reply r;
	size_t i;

	if (len != sizeof(r)) {
		snprintf(why, whylen, "a reply of %zu bytes, not %zu", len, sizeof(r));
		return -EINVAL;
	}
	memcpy(&r, buf, sizeof(r));
	if (memcmp(r.magic, TW_REPLY_MAGIC, sizeof(r.magic))) {
		snprintf(why, whylen, "a reply with a bad magic");
		return -EINVAL;
	}
	if (r.seq != seq) {
		snprintf(why, whylen, "a reply to request %u, not %u", r.seq, seq);
		return -EAGAIN;
	}
	if (r.ret > 0 || r.ret < -4095 || r.bytes > MAX_BYTES || r.nr_segments > MAX_SEGMENTS) {
		snprintf(why, whylen, "a reply out of range (ret %d, %" PRIu64 " bytes)", r.ret,
			 r.bytes);
		return -EINVAL;
	}
	r.msg[sizeof(r.msg) - 1] = '\0';
	for (i = 0; r.msg[i]; i++)
		if ((unsigned char)r.msg[i] < 0x20 || (unsigned char)r.msg[i] > 0x7e)
			r.msg[i] = '?';
	*out = r;
	return 0;
}

static int fd_is(pid_t pid, int fd, const char *prefix)
{
	char path[64], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	return !strncmp(link, prefix, strlen(prefix));
}

static bool thread_exists(pid_t pid, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
	return access(path, F_OK) == 0;
}

struct find {
	int pidfd;
	int fd; /* the registry's fd, -1 when none */
	int ret;
};

static int find_registry(pid_t pid, int fd, const char *link, void *arg)
{
	struct find *f = arg;

	if (strcmp(link, "/memfd:" TW_MEMFD_NAME " (deleted)"))
		return 0;
	if (f->fd >= 0) {
		log_error("pid %d: two GPU weights registries (fds %d and %d): libthaw loaded "
			  "twice?",
			  pid, f->fd, fd);
		return -ENOTSUP;
	}
	f->fd = fd;
	return 0;
}

int weights_find(pid_t pid, struct weights_ref *w)
{
	struct find f = {.fd = -1};
	unsigned char buf[sizeof(struct tw_registry) + 1];
	char why[128];
	ssize_t n;
	int local, ret;

	memset(w, 0, sizeof(*w));
	ret = gpu_for_each_fd(pid, find_registry, &f);
	if (ret < 0 || f.fd < 0)
		return ret < 0 ? ret : 0;
	f.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (f.pidfd < 0)
		return log_errno("pid %d: pidfd_open", pid);
	local = (int)syscall(SYS_pidfd_getfd, f.pidfd, f.fd, 0);
	close(f.pidfd);
	if (local < 0)
		return log_errno("pid %d fd %d: pidfd_getfd of the GPU weights registry", pid,
				 f.fd);
	/*
	 * A memfd, or shmem at least: only its name was checked, and a file of
	 * a mount namespace of the program's can be named like one (a FUSE
	 * file it serves itself would hold the pread below for ever).
	 * F_GET_SEALS asks no filesystem: it fails on anything not shmem.
	 */
	if (fcntl(local, F_GET_SEALS) < 0) {
		log_error("pid %d fd %d: the GPU weights registry is not a memfd", pid, f.fd);
		close(local);
		return -EINVAL;
	}
	/* one byte more than a registry: a longer file is no registry of ours */
	n = pread(local, buf, sizeof(buf), 0);
	close(local);
	if (n < 0)
		return log_errno("pid %d fd %d: reading the GPU weights registry", pid, f.fd);
	ret = weights_registry_parse(buf, (size_t)n, &w->reg, why, sizeof(why));
	if (ret < 0) {
		log_error("pid %d fd %d: the GPU weights registry is unusable: %s", pid, f.fd, why);
		return ret;
	}
	/* a child that inherited the registry has no agent: its parent's region, not its own */
	if (!thread_exists(pid, w->reg.agent_tid)) {
		log_debug("pid %d: the GPU weights registry names thread %d, not one of its own",
			  pid, w->reg.agent_tid);
		memset(w, 0, sizeof(*w));
		return 0;
	}
	if (!fd_is(pid, w->reg.req_fd, "pipe:") || !fd_is(pid, w->reg.rep_fd, "pipe:")) {
		log_error("pid %d: the GPU weights registry names fds %d and %d, which are not "
			  "pipes",
			  pid, w->reg.req_fd, w->reg.rep_fd);
		return -EINVAL;
	}
	w->pid = pid;
	w->host_tid = w->reg.agent_tid;
	w->found = true;
	return 0;
}

static double ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads one whole reply into buf (sizeof(struct tw_reply)); 0, -ETIMEDOUT, -EPIPE or -errno. */
static int read_reply(pid_t pid, int fd, pid_t tid, double deadline, unsigned char *buf)
{
	size_t got = 0;

	while (got < sizeof(struct tw_reply)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		double left = deadline - ms_now();
		ssize_t n;
		int ready;

		if (left <= 0)
			return -ETIMEDOUT;
		ready = poll(&p, 1, left > 1000 ? 1000 : (int)left + 1);
		if (ready < 0 && errno != EINTR)
			return -errno;
		if (ready <= 0) {
			/* the agent gone (the process lives on): no answer will come */
			if (tid && !thread_exists(pid, tid))
				return -EPIPE;
			continue;
		}
		n = read(fd, buf + got, sizeof(struct tw_reply) - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue; /* taken by a reader of the program's since poll() */
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE; /* every writer gone: the process died */
		got += (size_t)n;
	}
	return 0;
}

/*
 * Our own open file description, O_NONBLOCK, of the pipe that local (a
 * pidfd_getfd copy) is: the copy shares the program's description, whose
 * O_NONBLOCK the program sets or clears, and the program holds both ends,
 * so it can drain the reply pipe or fill the request pipe between our
 * poll() and a blocking read() or write() that would then never return.
 * Only an anonymous pipe ("pipe:[N]", a name no filesystem gives; a FIFO
 * could live on a FUSE mount whose server is the program) is reopened.
 * The fd, or -errno (-ENXIO: no reader, for O_WRONLY).
 */
static int reopen_pipe(int local, int flags)
{
	char path[64], link[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", local);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (strncmp(link, "pipe:", 5))
		return -EINVAL;
	fd = open(path, flags | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* One whole request, or -errno; a pipe the program stuffed or stopped reading is no wait. */
static int write_request(int fd, const struct tw_request *rq)
{
	struct timespec zero = {0};
	sigset_t pipe_set, old, pending;
	double deadline = ms_now() + 1000;
	bool was_pending;
	ssize_t n = -1;
	int err = ETIMEDOUT;

	/* a reader gone raises SIGPIPE: ours to swallow, not thaw's death */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
	while (ms_now() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		if (poll(&p, 1, 100) < 0 && errno != EINTR) {
			err = errno;
			break;
		}
		n = write(fd, rq, sizeof(*rq));
		if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
			err = n < 0 ? errno : EIO;
			break;
		}
	}
	if (n < 0 && err == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return n == (ssize_t)sizeof(*rq) ? 0 : -err;
}

int weights_request(pid_t pid, const struct weights_ref *w, enum tw_op op, unsigned timeout_s,
		    struct tw_reply *reply)
{
	static uint32_t next_seq;
	const char *what = op == TW_OP_SAVE ? "save" : "load";
	struct tw_request rq = {.op = op};
	unsigned char buf[sizeof(struct tw_reply)];
	double deadline = ms_now() + timeout_s * 1000.0;
	int pidfd, req = -1, rep = -1, ret, stale, fd;
	char why[128];

	memcpy(rq.magic, TW_REQUEST_MAGIC, sizeof(rq.magic));
	rq.seq = ++next_seq ^ (uint32_t)getpid() << 16;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return log_errno("pid %d: pidfd_open", pid);
	req = (int)syscall(SYS_pidfd_getfd, pidfd, w->reg.req_fd, 0);
	if (req >= 0)
		rep = (int)syscall(SYS_pidfd_getfd, pidfd, w->reg.rep_fd, 0);
	close(pidfd);
	if (req < 0 || rep < 0) {
		ret = log_errno("pid %d: pidfd_getfd of the GPU weights pipes (fds %d, %d)", pid,
				w->reg.req_fd, w->reg.rep_fd);
		goto out;
	}
	/* the copies swapped for descriptions of our own (reopen_pipe()) */
	fd = reopen_pipe(rep, O_RDONLY);
	close(rep);
	rep = fd;
	fd = reopen_pipe(req, O_WRONLY);
	close(req);
	req = fd;
	if (req == -EINVAL || rep == -EINVAL) {
		log_error("pid %d: the GPU weights fds %d and %d are not pipes", pid, w->reg.req_fd,
			  w->reg.rep_fd);
		ret = -EINVAL;
		goto out;
	}
	/* a pipe that cannot take 16 bytes within a second is one the program stuffed */
	ret = req < 0 ? req : rep < 0 ? rep : write_request(req, &rq);
	if (ret < 0) {
		log_error("pid %d: cannot ask its GPU weights thread for a %s: %s", pid, what,
			  ret == -ETIMEDOUT ? "its request pipe stayed full for 1 s"
			  : ret == -EPIPE || ret == -ENXIO ? "nobody reads its request pipe"
							   : strerror(-ret));
		ret = -EIO;
		goto out;
	}
	for (stale = 0;; stale++) {
		ret = read_reply(pid, rep, w->host_tid, deadline, buf);
		if (ret == -ETIMEDOUT) {
			if (timeout_s) /* 0: asked, not waited for */
				log_error("pid %d: its GPU weights thread did not answer the %s "
					  "within %u s",
					  pid, what, timeout_s);
			goto out;
		}
		if (ret < 0) {
			log_error("pid %d: no answer to the GPU weights %s: %s", pid, what,
				  ret == -EPIPE ? "its thread or the process is gone"
						: strerror(-ret));
			goto out;
		}
		ret = weights_reply_parse(buf, sizeof(buf), rq.seq, reply, why, sizeof(why));
		if (ret != -EAGAIN)
			break;
		if (stale == MAX_STALE) {
			ret = -EPROTO;
			break;
		}
	}
	if (ret < 0)
		log_error("pid %d: its GPU weights thread answered the %s with %s", pid, what, why);
out:
	if (req >= 0)
		close(req);
	if (rep >= 0)
		close(rep);
	return ret;
}
