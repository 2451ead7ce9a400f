/*
 * thaw.h - the C SDK: mark a program's snapshot point, run code after a restore.
 *
 * Link libthaw (build/libthaw.a or build/libthaw.so).  Under `thaw run`, the
 * first call of thaw_snapshot() is the snapshot point: on the first start
 * thaw snapshots the program there and lets it go on (THAW_SNAPSHOTTED); on
 * every later start the program comes back from that snapshot inside the same
 * call, which then returns THAW_RESTORED after running the thaw_on_restore()
 * hooks.  Outside thaw (no THAW_CONTROL_FD in the environment) every call is a
 * cheap no-op that returns THAW_DISABLED, so the same program runs anywhere.
 *
 * Before the snapshot thaw_snapshot() flushes every stdio stream, so bytes
 * buffered before the snapshot point are written once, not once per restore.
 *
 * What a C program must reseed after a restore.  Every restored copy starts
 * from the same memory, so anything seeded before the snapshot point repeats
 * across copies the way separate processes never would: rand()/srand(),
 * random()/srandom(), drand48() and friends, the program's own PRNG states,
 * cached nonces or UUIDs, and OpenSSL's DRBG (call RAND_poll() or
 * RAND_seed()).  getrandom(2) and /dev/urandom are fresh in every copy.
 * Do it in a thaw_on_restore() hook; thaw_random_bytes() reads fresh seed
 * bytes.  Also re-check anything that describes the world rather than the
 * process: CLOCK_MONOTONIC jumps, the host name and the current time may
 * differ, and connections made before the snapshot point do not survive it.
 *
 * The SDK is meant to be called from one thread; hooks run in the thread
 * that called thaw_snapshot(), in the order they were registered.
 */
#ifndef THAW_H
#define THAW_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum thaw_result {
	THAW_DISABLED = 0, /* not under thaw run (or --no-snapshot): nothing happened */
	THAW_SNAPSHOTTED = 1, /* first start: the snapshot was taken, the program runs on */
	THAW_RESTORED = 2, /* this process came back from the snapshot */
	THAW_FAILED = 3, /* under thaw, but no snapshot was taken: see thaw_error() */
};

/* The snapshot point.  Later calls return the first call's result without a snapshot. */
int thaw_snapshot(void);

/* Registers fn(arg) to run after a restore, before thaw_snapshot() returns.  0, or -1 when full. */
int thaw_on_restore(void (*fn)(void *arg), void *arg);

/* Why thaw_snapshot() returned THAW_FAILED; "" otherwise.  Never NULL. */
const char *thaw_error(void);

/* Whether the program runs under thaw run (THAW_CONTROL_FD names a socket). */
int thaw_enabled(void);

/* Fills buf with fresh kernel randomness (getrandom); 0, or -1 with errno set. */
int thaw_random_bytes(void *buf, size_t len);

/* A short name for a result: "disabled", "snapshotted", "restored", "failed". */
const char *thaw_result_name(int result);

/*
 * GPU weights outside the driver's checkpoint (docs/gpu.md).  Device memory
 * from thaw_gpu_weights_alloc() is saved by thaw itself at a snapshot, at
 * pinned-copy bandwidth, and comes back at the same device addresses before
 * any thread of the program runs, so kernels and CUDA graphs that hold raw
 * pointers to it keep working.  Meant for large buffers that do not change
 * once loaded (a model's weights); everything else stays with the driver's
 * checkpoint.  Uses the CUDA driver's virtual memory management API, loaded
 * at run time (libthaw links no CUDA library).  The snapshot must be taken
 * while no GPU work of the program uses these buffers: at the snapshot
 * point, or while the program is idle.
 *
 * thaw_gpu_weights_alloc() returns device memory of device (an ordinal, as
 * cudaSetDevice takes) with at least size bytes, or NULL with
 * thaw_gpu_weights_error() saying why.  thaw_gpu_weights_free() waits for
 * the device's queued work, then frees it: 0, or -1 (not an allocation).
 * thaw_gpu_weights_bytes() is the device memory the region holds now.
 */
void *thaw_gpu_weights_alloc(size_t size, int device);
int thaw_gpu_weights_free(void *ptr);
size_t thaw_gpu_weights_bytes(void);
const char *thaw_gpu_weights_error(void);

/*
 * What thaw asks of the region around a snapshot, callable by the program
 * too (e.g. to test that its kernels survive it): _save() copies every
 * allocation into host memory and releases its device memory, keeping the
 * addresses; _load() maps device memory at those addresses again and copies
 * the bytes back.  0, or -1 with thaw_gpu_weights_error() (a failed save
 * leaves the region as it was; a failed load, e.g. for want of GPU memory,
 * leaves it saved).
 */
int thaw_gpu_weights_save(void);
int thaw_gpu_weights_load(void);

/* torch.cuda.memory.CUDAPluggableAllocator's alloc and free, for thaw.gpu.weights(). */
void *thaw_gpu_weights_torch_alloc(ssize_t size, int device, void *stream);
void thaw_gpu_weights_torch_free(void *ptr, ssize_t size, int device, void *stream);

#ifdef __cplusplus
}
#endif

#endif
