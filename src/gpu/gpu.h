/*
 * gpu.h - the GPU layer's whole interface: CUDA processes through the
 * driver's checkpoint API (cuCheckpointProcess*, driver 570 and newer).
 *
 * Dump: gpu_checkpoint() locks the process and has the driver move its
 * device memory into the process's own host memory and close its
 * /dev/nvidia* files; the engine then dumps an ordinary CPU process.
 * gpu_resume() undoes that (--leave-running, or any failure midway).
 * Restore: the engine recreates the process; gpu_restore() has the driver
 * copy the memory back and unlocks it.  Until then the program's CUDA calls
 * block inside the driver.
 *
 * libcuda.so.1 is loaded at run time, in a short-lived child process for
 * each request: thaw builds and runs without CUDA, and no CUDA state of
 * thaw's own is ever inherited by the processes a restore creates.
 */
#ifndef THAW_GPU_GPU_H
#define THAW_GPU_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "image/image.h"

#define GPU_LOCK_TIMEOUT_MS 10000 /* default for cuCheckpointProcessLock */

struct gpu_stats {
	double lock_ms, checkpoint_ms; /* dump */
	double restore_ms, unlock_ms, init_ms; /* restore (and resume); init: dlopen + cuInit */
	uint64_t device_bytes;
	/* libthaw's weights region: saved before the checkpoint, loaded after the restore */
	double weights_ms, weights_copy_ms;
	uint64_t weights_bytes;
	uint32_t weights_segments;
};

/* 1 when pid holds a /dev/nvidia* fd or mapping, 0 when not, -errno when unreadable. */
int gpu_process_uses_gpu(pid_t pid) __attribute__((warn_unused_result));

/*
 * Has libthaw's weights region of pid (if any) saved into its memory, then
 * locks pid (waiting at most lock_timeout_ms for its CUDA work to finish)
 * and checkpoints it, then checks that no /dev/nvidia* file or mapping is
 * left.  Fills img->gpu and sets img->has_gpu.  On failure the process runs
 * on with its GPU.  A process without CUDA is left alone (img->has_gpu stays
 * false, returns 0).
 */
int gpu_checkpoint(pid_t pid, unsigned lock_timeout_ms, struct image *img, struct gpu_stats *st)
	__attribute__((warn_unused_result));

/*
 * Puts a process that gpu_checkpoint() checkpointed back on its GPU and
 * unlocks it, then has its weights region (g, from gpu_checkpoint(); may be
 * NULL) loaded back.
 */
int gpu_resume(pid_t pid, const struct image_gpu *g);

/* The child process that makes the driver calls (cuda.c). */
struct cuda_child {
	pid_t pid; /* -1 when none */
	int to, from;
};

/*
 * Before the engine recreates a process with has_gpu: starts loading the
 * driver in a child, so that gpu_restore() finds it ready.  Call it before
 * the engine forks anything (the child must not inherit the restored
 * process's init).  Failure only costs time: gpu_restore() starts its own.
 */
void gpu_restore_begin(const struct image *img, struct cuda_child *c);
/* Ends a child of gpu_restore_begin() that gpu_restore() did not use. */
void gpu_restore_cancel(struct cuda_child *c);

/*
 * Restores the device state of pid, a process the engine has just
 * recreated from a snapshot with has_gpu, and unlocks it; then has its
 * weights region loaded back (the caller holds every other thread of the
 * program until this returns).  c may be NULL.
 */
int gpu_restore(pid_t pid, const struct image *img, struct cuda_child *c, struct gpu_stats *st)
	__attribute__((warn_unused_result));

/*
 * Restore validation: the snapshot's GPUs against this host's (same models
 * in the same order, a driver at least as new).  0, or -ENODEV with why.
 */
int gpu_compare(const struct image *img, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/*
 * In the restore helper, inside the new PID namespace: recreates the
 * driver's listening socket at its fd number, named for this namespace.
 */
int gpu_helper_prepare(const struct image *img) __attribute__((warn_unused_result));

/*
 * The dump's external fds plus the driver's socket (restored by
 * gpu_helper_prepare, not dumped).  Returns a malloc'd array (caller frees)
 * or NULL when nothing is added (*ret_nr is then nr).
 */
int *gpu_external_fds(const struct image *img, const int *fds, size_t nr, size_t *ret_nr);

#endif
