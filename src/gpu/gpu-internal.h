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

/* The driver version from /proc/driver/nvidia/version ("580.159.04"), or -ENODEV. */
int nvidia_driver_version(char *buf, size_t len);

#endif
