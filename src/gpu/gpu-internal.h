/*
 * gpu-internal.h - what the GPU layer's files share: one request to the
 * CUDA driver, run in a child process (cuda.c).
 */
#ifndef THAW_GPU_INTERNAL_H
#define THAW_GPU_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "gpu.h"
#include "image/image.h"
#include "weights-proto.h"

enum cuda_op {
	CUDA_OP_CHECKPOINT, /* lock (if running) + checkpoint, and the device list */
	CUDA_OP_RESTORE, /* restore (if checkpointed) + unlock (if locked) */
};

struct cuda_reply {
	int ret; /* 0 or -errno */
	int cu; /* the CUresult that failed, 0 when none */
	double lock_ms, checkpoint_ms, restore_ms, unlock_ms, init_ms;
	int32_t cuda_version;
	int restore_tid; /* checkpoint: the driver's restore thread, 0 when unknown */
	uint32_t nr_devs;
	struct image_gpu_dev devs[IMAGE_MAX_GPUS];
	char msg[512]; /* what failed, for the caller to log */
};

/*
 * A child that loads the driver now and runs op once it has the pid: given
 * to cuda_start(), or (pid 0 there) to cuda_finish().  cuda_cancel() ends
 * one that will not be needed.
 */
int cuda_start(enum cuda_op op, pid_t pid, unsigned lock_timeout_ms, struct cuda_child *c)
	__attribute__((warn_unused_result));
int cuda_finish(struct cuda_child *c, pid_t pid, unsigned timeout_s, struct cuda_reply *reply)
	__attribute__((warn_unused_result));
void cuda_cancel(struct cuda_child *c);

/* Runs op on pid in a child that loads libcuda.so.1; waits at most timeout_s. */
int cuda_request(enum cuda_op op, pid_t pid, unsigned lock_timeout_ms, unsigned timeout_s,
		 struct cuda_reply *reply) __attribute__((warn_unused_result));

/* A mapping of a process, as /proc/PID/smaps has it: where, which file, how much resident. */
struct gpu_vma {
	uint64_t start, end, ino, rss;
};

/* /proc/pid/smaps into *ret (malloc'd, sorted as the kernel lists them); -errno. */
int gpu_read_vmas(pid_t pid, struct gpu_vma **ret, size_t *nr) __attribute__((warn_unused_result));

/*
 * Where a checkpoint put the device state, from the mappings before and
 * after it: every mapping after that is new or changed (another start, end
 * or file) or has more resident memory, neighbours merged, into g->state.
 * More ranges than IMAGE_MAX_GPU_STATE leave g->state_known false.
 */
void gpu_state_ranges(const struct gpu_vma *before, size_t nb, const struct gpu_vma *after,
		      size_t na, struct image_gpu *g);

/* The driver version from /proc/driver/nvidia/version ("580.159.04"), or -ENODEV. */
int nvidia_driver_version(char *buf, size_t len);

/* Calls fn(pid, fd, link, arg) for each fd of pid; stops at a nonzero return (gpu.c). */
int gpu_for_each_fd(pid_t pid, int (*fn)(pid_t, int, const char *, void *), void *arg);

/* A program's GPU weights region, as its registry names it (weights.c). */
struct weights_ref {
	bool found;
	pid_t pid;
	pid_t host_tid; /* the agent as thaw sees it, 0 when unknown (after a restore) */
	struct tw_registry reg;
};

/* Bounded parsers of what the program wrote: 0, or -errno with why filled. */
int weights_registry_parse(const void *buf, size_t len, struct tw_registry *out, char *why,
			   size_t whylen) __attribute__((warn_unused_result));
/* -EAGAIN: a well-formed reply to another request than seq. */
int weights_reply_parse(const void *buf, size_t len, uint32_t seq, struct tw_reply *out,
			char *why, size_t whylen) __attribute__((warn_unused_result));

/*
 * Looks for pid's registry (a memfd named TW_MEMFD_NAME): 0 with w->found
 * set when it is there, names a thread of pid and two of its pipes; 0 with
 * w->found false when there is none (or it is a parent's, inherited); -errno
 * when it is unusable (logged).
 */
int weights_find(pid_t pid, struct weights_ref *w) __attribute__((warn_unused_result));

/*
 * Asks pid's agent for op and waits at most timeout_s for its reply: 0 or
 * -errno (logged).  With timeout_s 0 it only asks (-ETIMEDOUT, not logged).
 */
int weights_request(pid_t pid, const struct weights_ref *w, enum tw_op op, unsigned timeout_s,
		    struct tw_reply *reply) __attribute__((warn_unused_result));

#endif
