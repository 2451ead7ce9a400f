/*
 * gpu-test.h - what the CUDA test programs of tests/gpu share: failure
 * reporting, a pattern that differs at every word (and kernels that fill
 * and check it), and waiting for SIGUSR1, the signal that asks for the
 * checks after a restore.
 */
#ifndef THAW_TESTS_GPU_TEST_H
#define THAW_TESTS_GPU_TEST_H

#include <cuda_runtime.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t got_usr1;
static int failures;

#define FAILF(...)                                                                                 \
	do {                                                                                       \
		failures++;                                                                        \
		printf("FAIL: " __VA_ARGS__);                                                      \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)

#define CK(call)                                                                                   \
	do {                                                                                       \
		cudaError_t e_ = (call);                                                           \
		if (e_ != cudaSuccess) {                                                           \
			FAILF("%s: %s", #call, cudaGetErrorString(e_));                            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

__device__ __host__ static uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull + 1;

	x ^= x >> 31;
	return x;
}

__global__ void fill(uint64_t *p, uint64_t n, uint64_t seed)
{
	for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n;
	     i += (uint64_t)gridDim.x * blockDim.x)
		p[i] = pattern_word(seed, i);
}

__global__ void check(const uint64_t *p, uint64_t n, uint64_t seed, unsigned long long *bad)
{
	for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n;
	     i += (uint64_t)gridDim.x * blockDim.x)
		if (p[i] != pattern_word(seed, i))
			atomicAdd(bad, 1ull);
}

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

/* SIGUSR1 sets got_usr1; blocked until the caller waits for it with sigsuspend(old). */
static void catch_usr1(sigset_t *old)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, old);
}

#endif
