/*
 * cuda.c - the CUDA driver's checkpoint calls, made from a child process.
 *
 * thaw never loads libcuda itself: a process that did could not safely fork
 * the restored program's init and helper (they would inherit its device
 * files and mappings), and thaw must run where there is no CUDA at all.  So
 * each request forks a child that dlopens libcuda.so.1, calls cuInit, makes
 * the calls and writes one struct cuda_reply back through a pipe.  With
 * persistence mode on, cuInit costs about 10 ms.
 *
 * The checkpoint states live in the driver, not in the caller, so nothing is
 * lost when the child exits.  A driver call is never interrupted (the
 * driver's state would not survive it): on a timeout the caller gives up
 * waiting, says so, and leaves the child to finish.
 *
 * The types below are the driver API's (cuda.h, CUDA 12.8+), declared here
 * because thaw builds without CUDA headers.  Every *Args struct is 64 bytes,
 * zeroed where reserved.
 */
#define LOG_TAG "gpu"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "gpu-internal.h"

typedef int CUresult;
typedef int CUdevice;

enum {
	CU_PROCESS_STATE_RUNNING = 0,
	CU_PROCESS_STATE_LOCKED = 1,
	CU_PROCESS_STATE_CHECKPOINTED = 2,
	CU_PROCESS_STATE_FAILED = 3,
};

#define CUDA_ERROR_TIMEOUT 909
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76

struct cu_lock_args {
	unsigned int timeout_ms;
	unsigned int reserved0;
	uint64_t reserved1[7];
};

struct cu_plain_args { /* checkpoint, restore (no GPU remapping), unlock */
	uint64_t reserved[8];
};

_Static_assert(sizeof(struct cu_lock_args) == 64, "CUcheckpointLockArgs is 64 bytes");
_Static_assert(sizeof(struct cu_plain_args) == 64, "checkpoint args are 64 bytes");

struct cuda_api {
	CUresult (*init)(unsigned int);
	CUresult (*driver_version)(int *);
	CUresult (*error_string)(CUresult, const char **);
	CUresult (*device_count)(int *);
	CUresult (*device_get)(CUdevice *, int);
	CUresult (*device_name)(char *, int, CUdevice);
	CUresult (*device_mem)(size_t *, CUdevice);
	CUresult (*device_attr)(int *, int, CUdevice);
	CUresult (*get_state)(int, int *);
	CUresult (*lock)(int, struct cu_lock_args *);
	CUresult (*checkpoint)(int, struct cu_plain_args *);
	CUresult (*restore)(int, struct cu_plain_args *);
	CUresult (*unlock)(int, struct cu_plain_args *);
	CUresult (*restore_tid)(int, int *); /* optional */
};

int nvidia_driver_version(char *buf, size_t len)
{
	char line[512], *p;
	FILE *f = fopen("/proc/driver/nvidia/version", "re");

	if (!f)
		return -ENODEV;
	buf[0] = '\0';
	if (fgets(line, sizeof(line), f)) {
		/* "NVRM version: NVIDIA UNIX ... Kernel Module for x86_64  580.159.04  Release ..." */
		for (p = strtok(line, " \t\n"); p; p = strtok(NULL, " \t\n"))
			if (p[0] >= '0' && p[0] <= '9' && strchr(p, '.')) {
				snprintf(buf, len, "%s", p);
				break;
			}
	}
	fclose(f);
	return buf[0] ? 0 : -ENODEV;
}

static void say(struct cuda_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

static const char *cu_name(const struct cuda_api *api, CUresult rc)
{
	const char *s = NULL;

	if (api->error_string && api->error_string(rc, &s) == 0 && s)
		return s;
	return "unknown error";
}

/* Fails the reply with the driver's words for rc. */
static int cu_fail(struct cuda_reply *r, const struct cuda_api *api, CUresult rc, int err,
		   const char *what, pid_t pid)
{
	r->cu = rc;
	say(r, "pid %d: %s: CUDA error %d (%s)", pid, what, rc, cu_name(api, rc));
	return err;
}

static int load_api(struct cuda_api *api, struct cuda_reply *r)
{
	char driver[64] = "unknown";
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);

	nvidia_driver_version(driver, sizeof(driver));
	if (!h) {
		say(r, "cannot load the CUDA driver library libcuda.so.1: %s", dlerror());
		return -ENODEV;
	}
#define SYM(field, name)                                                                           \
	do {                                                                                       \
		*(void **)&api->field = dlsym(h, name);                                            \
	} while (0)
	SYM(init, "cuInit");
	SYM(driver_version, "cuDriverGetVersion");
	SYM(error_string, "cuGetErrorString");
	SYM(device_count, "cuDeviceGetCount");
	SYM(device_get, "cuDeviceGet");
	SYM(device_name, "cuDeviceGetName");
	SYM(device_mem, "cuDeviceTotalMem_v2");
	SYM(device_attr, "cuDeviceGetAttribute");
	SYM(get_state, "cuCheckpointProcessGetState");
	SYM(lock, "cuCheckpointProcessLock");
	SYM(checkpoint, "cuCheckpointProcessCheckpoint");
	SYM(restore, "cuCheckpointProcessRestore");
	SYM(unlock, "cuCheckpointProcessUnlock");
	SYM(restore_tid, "cuCheckpointProcessGetRestoreThreadId");
#undef SYM
	if (!api->init || !api->driver_version || !api->device_count || !api->device_get ||
	    !api->device_name || !api->device_mem || !api->device_attr) {
		say(r, "libcuda.so.1 (driver %s) lacks basic driver API functions", driver);
		return -ENOTSUP;
	}
	if (!api->get_state || !api->lock || !api->checkpoint || !api->restore || !api->unlock) {
		say(r, "the NVIDIA driver %s has no CUDA checkpoint API "
		       "(cuCheckpointProcess*); driver 570 or newer is needed",
		    driver);
		return -ENOTSUP;
	}
	return 0;
}

static int list_devices(const struct cuda_api *api, struct cuda_reply *r)
{
	int n = 0, i;
	CUresult rc = api->device_count(&n);

	if (rc)
		return cu_fail(r, api, rc, -EIO, "cuDeviceGetCount", 0);
	if (n > IMAGE_MAX_GPUS) {
		say(r, "%d GPUs, thaw handles at most %d", n, IMAGE_MAX_GPUS);
		return -E2BIG;
	}
	for (i = 0; i < n; i++) {
		struct image_gpu_dev *d = &r->devs[i];
		int major = 0, minor = 0;
		size_t mem = 0;
		CUdevice dev;

		rc = api->device_get(&dev, i);
		if (!rc)
			rc = api->device_name(d->name, sizeof(d->name) - 1, dev);
		if (!rc)
			rc = api->device_mem(&mem, dev);
		if (!rc)
			rc = api->device_attr(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
		if (!rc)
			rc = api->device_attr(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
		if (rc)
			return cu_fail(r, api, rc, -EIO, "reading the GPU list", 0);
		d->memory_bytes = mem;
		d->cc_major = (uint32_t)major;
		d->cc_minor = (uint32_t)minor;
	}
	r->nr_devs = (uint32_t)n;
	return 0;
}

static int do_checkpoint(const struct cuda_api *api, pid_t pid, unsigned lock_timeout_ms,
			 struct cuda_reply *r)
{
	struct cu_lock_args la = { .timeout_ms = lock_timeout_ms };
	struct cu_plain_args pa = { { 0 } };
	int state = -1;
	bool locked_here = false;
	CUresult rc;
	double t;

	rc = api->get_state(pid, &state);
	if (rc)
		return cu_fail(r, api, rc, -ENOTSUP, "cuCheckpointProcessGetState (is it a CUDA "
						      "process that finished cuInit?)", pid);
	if (state == CU_PROCESS_STATE_CHECKPOINTED) {
		say(r, "pid %d: its CUDA state is already checkpointed by someone else", pid);
		return -EBUSY;
	}
	if (state == CU_PROCESS_STATE_RUNNING) {
		t = now_ms();
		rc = api->lock(pid, &la);
		r->lock_ms = now_ms() - t;
		if (rc)
			return cu_fail(r, api, rc, rc == CUDA_ERROR_TIMEOUT ? -ETIMEDOUT : -EIO,
				       "cuCheckpointProcessLock (its CUDA work did not finish within "
				       "the lock timeout, or it cannot be locked)",
				       pid);
		locked_here = true;
	} else if (state != CU_PROCESS_STATE_LOCKED) {
		say(r, "pid %d: its CUDA state is %d (failed), it cannot be checkpointed", pid,
		    state);
		return -EIO;
	}
	t = now_ms();
	rc = api->checkpoint(pid, &pa);
	r->checkpoint_ms = now_ms() - t;
	if (rc) {
		cu_fail(r, api, rc, -EIO, "cuCheckpointProcessCheckpoint", pid);
		if (locked_here)
			api->unlock(pid, &pa);
		return -EIO;
	}
	/* the thread that must run, alone, when the process is restored */
	r->restore_tid = 0;
	if (api->restore_tid && api->restore_tid(pid, &r->restore_tid))
		r->restore_tid = 0;
	return 0;
}

static int do_restore(const struct cuda_api *api, pid_t pid, struct cuda_reply *r)
{
	struct cu_plain_args pa = { { 0 } };
	int state = -1;
	CUresult rc;
	double t;

	rc = api->get_state(pid, &state);
	if (rc)
		return cu_fail(r, api, rc, -EIO, "cuCheckpointProcessGetState", pid);
	if (state == CU_PROCESS_STATE_CHECKPOINTED) {
		t = now_ms();
		rc = api->restore(pid, &pa);
		r->restore_ms = now_ms() - t;
		if (rc)
			return cu_fail(r, api, rc, -EIO,
				       "cuCheckpointProcessRestore (not enough free GPU memory?)",
				       pid);
		state = CU_PROCESS_STATE_LOCKED;
	}
	if (state == CU_PROCESS_STATE_LOCKED) {
		t = now_ms();
		rc = api->unlock(pid, &pa);
		r->unlock_ms = now_ms() - t;
		if (rc)
			return cu_fail(r, api, rc, -EIO, "cuCheckpointProcessUnlock", pid);
		return 0;
	}
	if (state != CU_PROCESS_STATE_RUNNING) {
		say(r, "pid %d: its CUDA state is %d (failed)", pid, state);
		return -EIO;
	}
	return 0;
}

/*
 * The child: loads the driver first, then (pid 0) waits for the pid on in,
 * so that a restore can have the driver ready before the process exists.
 */
static __attribute__((noreturn)) void child_main(enum cuda_op op, pid_t pid,
						 unsigned lock_timeout_ms, int in, int out)
{
	struct cuda_reply *r = calloc(1, sizeof(*r));
	struct cuda_api api = { 0 };
	int version = 0;
	double t;

	if (!r)
		_exit(1);
	t = now_ms();
	r->ret = load_api(&api, r);
	if (r->ret == 0) {
		CUresult rc = api.init(0);

		if (rc) {
			r->ret = cu_fail(r, &api, rc, -ENODEV, "cuInit in thaw", 0);
		} else {
			r->init_ms = now_ms() - t;
			api.driver_version(&version);
			r->cuda_version = version;
		}
	}
	if (r->ret == 0 && op == CUDA_OP_CHECKPOINT)
		r->ret = list_devices(&api, r);
	if (!pid && read(in, &pid, sizeof(pid)) != sizeof(pid))
		_exit(0); /* cancelled */
	if (r->ret == 0)
		r->ret = op == CUDA_OP_CHECKPOINT ? do_checkpoint(&api, pid, lock_timeout_ms, r)
						  : do_restore(&api, pid, r);
	if (write(out, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		_exit(1);
	_exit(0);
}

int cuda_start(enum cuda_op op, pid_t pid, unsigned lock_timeout_ms, struct cuda_child *c)
{
	int in[2], out[2];

	c->pid = -1;
	c->to = c->from = -1;
	if (pipe2(in, O_CLOEXEC) < 0)
		return log_errno("pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return log_errno("pipe");
	}
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return log_errno("fork");
	}
	if (c->pid == 0) {
		close(in[1]);
		close(out[0]);
		child_main(op, pid, lock_timeout_ms, in[0], out[1]);
	}
	close(in[0]);
	close(out[1]);
	c->to = in[1];
	c->from = out[0];
	return 0;
}

void cuda_cancel(struct cuda_child *c)
{
	int status;

	if (c->pid <= 0)
		return;
	close(c->to);
	close(c->from);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
}

int cuda_finish(struct cuda_child *c, pid_t pid, unsigned timeout_s, struct cuda_reply *reply)
{
	size_t got = 0;
	double deadline;
	int status = 0;

	memset(reply, 0, sizeof(*reply));
	if (pid && write(c->to, &pid, sizeof(pid)) != sizeof(pid)) {
		cuda_cancel(c);
		return log_errno("pid %d: handing the pid to the CUDA caller", pid);
	}
	close(c->to);
	deadline = now_ms() + timeout_s * 1000.0;
	while (got < sizeof(*reply)) {
		struct pollfd pfd = { .fd = c->from, .events = POLLIN };
		double left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			close(c->from);
			c->pid = -1;
			log_error("pid %d: the CUDA driver did not answer within %u s; its call is "
				  "left to finish (interrupting it would break the driver's state)",
				  pid, timeout_s);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, (int)left + 1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n = read(c->from, (char *)reply + got, sizeof(*reply) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(c->from);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
	if (got != sizeof(*reply)) {
		log_error("pid %d: the process that calls the CUDA driver died (status 0x%x)", pid,
			  status);
		return -EIO;
	}
	reply->msg[sizeof(reply->msg) - 1] = '\0';
	return 0;
}

int cuda_request(enum cuda_op op, pid_t pid, unsigned lock_timeout_ms, unsigned timeout_s,
		 struct cuda_reply *reply)
{
	struct cuda_child c;
	int ret = cuda_start(op, pid, lock_timeout_ms, &c);

	if (ret < 0)
		return ret;
	return cuda_finish(&c, 0, timeout_s, reply);
}
