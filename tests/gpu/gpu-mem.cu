/*
 * gpu-mem.cu - a CUDA program that holds patterned device memory, streams,
 * events, pinned host memory and a cuBLAS handle, and checks all of it when
 * asked (SIGUSR1): the GPU counterpart of tests/programs/memory.c.
 *
 *   gpu-mem GIB [PROCS]
 *
 * With PROCS > 1 it forks PROCS-1 children first (before any CUDA call);
 * each holds GIB GiB with its own pattern and checks it on SIGUSR1, which
 * the parent forwards: a tree of GPU processes.  The parent prints READY
 * once every child is ready, and PASS only if every child passed too.
 * It fills GIB GiB of device memory (in 256 MiB buffers) with a pattern that
 * differs at every word, records a SGEMM result computed through cuBLAS on
 * two streams with events between them, prints READY and waits.  On SIGUSR1
 * it checks the pattern on the GPU, recomputes the SGEMM with the same handle
 * and streams and compares it bit for bit, times the events, prints PASS or
 * FAIL lines and exits 0 or 1.  Without thaw in between it must pass too.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu-test.h"

#define CHUNK (256ull << 20)
#define N 1024

/* C = A*B on stream s, with A and B's device copies made on another stream first. */
static void gemm(cublasHandle_t h, cudaStream_t s1, cudaStream_t s2, cudaEvent_t ev,
		 const float *a, const float *b, float *c)
{
	const float one = 1.0f, zero = 0.0f;

	CK(cudaEventRecord(ev, s2));
	CK(cudaStreamWaitEvent(s1, ev, 0));
	cublasSetStream(h, s1);
	if (cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, N, N, &one, a, N, b, N, &zero, c, N) !=
	    CUBLAS_STATUS_SUCCESS)
		FAILF("cublasSgemm failed");
	CK(cudaStreamSynchronize(s1));
}

static int nr_kids;
static pid_t kids[64];
static int ready_pipe[2] = { -1, -1 };
static uint64_t seed_base; /* each process of a tree its own pattern */

/* Forks the children of a tree before any CUDA call; returns in each process. */
static void fork_tree(int procs)
{
	int k;

	if (procs <= 1)
		return;
	if (pipe(ready_pipe)) {
		perror("pipe");
		exit(1);
	}
	for (k = 1; k < procs && k < 64; k++) {
		pid_t p = fork();

		if (p < 0) {
			perror("fork");
			exit(1);
		}
		if (p == 0) {
			nr_kids = 0;
			seed_base = (uint64_t)k * 1000;
			close(ready_pipe[0]);
			return;
		}
		kids[nr_kids++] = p;
	}
	close(ready_pipe[1]);
	ready_pipe[1] = -1;
}

static bool is_tree_child(void)
{
	return ready_pipe[1] >= 0;
}

/* Children say they are ready; the parent waits for all of them. */
static void tree_ready(void)
{
	char c = 'r';
	int k;

	if (is_tree_child()) {
		if (write(ready_pipe[1], &c, 1) != 1)
			exit(1);
		return;
	}
	for (k = 0; k < nr_kids; k++)
		if (read(ready_pipe[0], &c, 1) != 1) {
			FAILF("child %d of the tree did not get ready", k + 1);
			exit(1);
		}
	printf("tree of %d processes ready\n", nr_kids + 1);
}

/* The parent passes SIGUSR1 on and counts its children's failures. */
static void tree_check(void)
{
	int k, status;

	for (k = 0; k < nr_kids; k++)
		kill(kids[k], SIGUSR1);
	for (k = 0; k < nr_kids; k++)
		if (waitpid(kids[k], &status, 0) != kids[k] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			FAILF("child %d (pid %d) of the tree failed its checks", k + 1, kids[k]);
}

int main(int argc, char **argv)
{
	unsigned long long gib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1, *bad;
	size_t nbuf = (size_t)(gib << 30) / CHUNK, i;
	uint64_t **bufs = (uint64_t **)calloc(nbuf, sizeof(*bufs));
	float *ha, *hb, *c0, *c1, *da, *db, *dc;
	cudaStream_t s1, s2;
	cudaEvent_t ev, t0, t1;
	cublasHandle_t handle;
	uint64_t *pinned;
	float ms;
	sigset_t old;

	setvbuf(stdout, NULL, _IOLBF, 0);
	catch_usr1(&old);
	fork_tree(argc > 2 ? atoi(argv[2]) : 1);

	CK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
	CK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
	CK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
	CK(cudaEventCreate(&t0));
	CK(cudaEventCreate(&t1));
	if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
		FAILF("cublasCreate failed");
		return 1;
	}
	for (i = 0; i < nbuf; i++) {
		CK(cudaMalloc(&bufs[i], CHUNK));
		fill<<<1024, 256, 0, i % 2 ? s1 : s2>>>(bufs[i], CHUNK / 8, seed_base + i + 1);
	}
	CK(cudaMalloc(&bad, sizeof(*bad)));
	CK(cudaMallocHost(&pinned, 1 << 20));
	for (i = 0; i < (1 << 20) / 8; i++)
		pinned[i] = pattern_word(99, i);

	ha = (float *)malloc(N * N * sizeof(float));
	hb = (float *)malloc(N * N * sizeof(float));
	c0 = (float *)malloc(N * N * sizeof(float));
	c1 = (float *)malloc(N * N * sizeof(float));
	for (i = 0; i < N * N; i++) {
		ha[i] = (float)(pattern_word(7, i) % 1000) / 997.0f;
		hb[i] = (float)(pattern_word(8, i) % 1000) / 991.0f;
	}
	CK(cudaMalloc(&da, N * N * sizeof(float)));
	CK(cudaMalloc(&db, N * N * sizeof(float)));
	CK(cudaMalloc(&dc, N * N * sizeof(float)));
	CK(cudaMemcpyAsync(da, ha, N * N * sizeof(float), cudaMemcpyHostToDevice, s2));
	CK(cudaMemcpyAsync(db, hb, N * N * sizeof(float), cudaMemcpyHostToDevice, s2));
	gemm(handle, s1, s2, ev, da, db, dc);
	CK(cudaMemcpy(c0, dc, N * N * sizeof(float), cudaMemcpyDeviceToHost));
	CK(cudaMemset(dc, 0, N * N * sizeof(float)));
	CK(cudaDeviceSynchronize());
	tree_ready();
	if (!is_tree_child()) {
		printf("device bytes %llu\n", (unsigned long long)(nbuf * CHUNK) * (nr_kids + 1));
		printf("READY\n");
	}

	while (!got_usr1)
		sigsuspend(&old);
	tree_check();

	/* the same handle, streams and events as before the snapshot */
	CK(cudaEventRecord(t0, s1));
	CK(cudaMemset(bad, 0, sizeof(*bad)));
	for (i = 0; i < nbuf; i++)
		check<<<1024, 256, 0, s1>>>(bufs[i], CHUNK / 8, seed_base + i + 1, bad);
	CK(cudaEventRecord(t1, s1));
	CK(cudaStreamSynchronize(s1));
	{
		unsigned long long nbad = 0;

		CK(cudaMemcpy(&nbad, bad, sizeof(nbad), cudaMemcpyDeviceToHost));
		if (nbad)
			FAILF("%llu words of device memory differ from their pattern", nbad);
	}
	CK(cudaEventElapsedTime(&ms, t0, t1));
	printf("checked %zu GiB of device memory in %.1f ms\n", (size_t)gib, ms);
	for (i = 0; i < (1 << 20) / 8; i++)
		if (pinned[i] != pattern_word(99, i)) {
			FAILF("pinned host memory differs at word %zu", i);
			break;
		}
	gemm(handle, s1, s2, ev, da, db, dc);
	CK(cudaMemcpy(c1, dc, N * N * sizeof(float), cudaMemcpyDeviceToHost));
	if (memcmp(c0, c1, N * N * sizeof(float)))
		FAILF("cuBLAS SGEMM result differs after the restore");
	cublasDestroy(handle);
	if (!failures && !is_tree_child())
		printf("PASS\n");
	return failures ? 1 : 0;
}
