/*
 * weights-graph.cu - a CUDA program with its weights in libthaw's GPU
 * weights region (thaw_gpu_weights_alloc, docs/gpu.md), read by a captured
 * CUDA graph through raw pointers: what thaw must give back at the same
 * addresses, bit for bit.
 *
 *   weights-graph GIB             READY, then on SIGUSR1 the checks, PASS/FAIL
 *   weights-graph GIB selftest    the same checks around thaw_gpu_weights_save()
 *                                 and _load() in this process, without thaw
 *   weights-graph hog LEAVE_GIB   holds all free GPU memory but LEAVE_GIB
 *                                 (cudaMalloc), READY, exits on SIGUSR1
 *
 * It fills GIB GiB of weights (256 MiB allocations) with a pattern that
 * differs at every word, and a small buffer of its own (cudaMalloc: the
 * driver's checkpoint keeps it) with inputs.  A graph captured on a stream
 * runs one kernel per allocation that folds its words with the inputs into
 * one 64-bit digest each; its outputs before the snapshot are the reference.
 * On SIGUSR1 it replays the same graph, compares the digests bit for bit,
 * checks every word of the weights against the pattern, checks the inputs,
 * prints PASS or FAIL lines and exits 0 or 1.  Without thaw in between it
 * must pass too.
 *
 * Built on the device machine: nvcc -arch=sm_90 -Iinclude weights-graph.cu
 * $BUILD/libthaw.a (tests/gpu/run.sh).
 */
#include <cuda_runtime.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu-test.h"
#include "thaw.h"

#define CHUNK (256ull << 20)
#define NIN 4096

/* out[k] = a digest of weights w (n words) mixed with the inputs: order-independent xor-sum. */
__global__ void digest(const uint64_t *w, uint64_t n, const uint64_t *in, unsigned long long *out)
{
	uint64_t acc = 0;

	for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n;
	     i += (uint64_t)gridDim.x * blockDim.x) {
		uint64_t v = w[i] * (in[i % NIN] | 1);

		acc ^= v ^ (v >> 29);
	}
	atomicXor(out, (unsigned long long)acc);
}

static int hog(double leave_gib)
{
	size_t free_b = 0, total = 0, want;
	void *p = NULL;
	sigset_t old;

	catch_usr1(&old);
	CK(cudaMemGetInfo(&free_b, &total));
	want = free_b > (size_t)(leave_gib * (1u << 30)) ? free_b - (size_t)(leave_gib * (1u << 30))
							 : 0;
	/* in pieces: one allocation of it all may not fit where fragments are free */
	while (want >= (64u << 20)) {
		size_t n = want < CHUNK ? want : CHUNK;

		if (cudaMalloc(&p, n) != cudaSuccess) {
			cudaGetLastError();
			break;
		}
		want -= n;
	}
	CK(cudaMemGetInfo(&free_b, &total));
	printf("hog: %.2f GiB of %.2f GiB left free\n", (double)free_b / (1u << 30),
	       (double)total / (1u << 30));
	printf("READY\n");
	while (!got_usr1)
		sigsuspend(&old);
	printf("PASS\n");
	return 0;
}

int main(int argc, char **argv)
{
	size_t gib, nbuf, i;
	bool selftest = argc > 2 && !strcmp(argv[2], "selftest");
	uint64_t **w, *in, *hin;
	unsigned long long *out, *bad, *ref, *now;
	cudaStream_t s;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	sigset_t old;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2 && !strcmp(argv[1], "hog"))
		return hog(atof(argv[2]));
	gib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	nbuf = (gib << 30) / CHUNK;
	w = (uint64_t **)calloc(nbuf, sizeof(*w));
	ref = (unsigned long long *)calloc(nbuf, sizeof(*ref));
	now = (unsigned long long *)calloc(nbuf, sizeof(*now));
	hin = (uint64_t *)malloc(NIN * sizeof(*hin));
	if (!w || !ref || !now || !hin)
		return 1;
	catch_usr1(&old);

	CK(cudaFree(0)); /* the primary context, as torch makes it */
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (i = 0; i < nbuf; i++) {
		w[i] = (uint64_t *)thaw_gpu_weights_alloc(CHUNK, 0);
		if (!w[i]) {
			FAILF("thaw_gpu_weights_alloc: %s", thaw_gpu_weights_error());
			return 1;
		}
		fill<<<1024, 256, 0, s>>>(w[i], CHUNK / 8, i + 1);
	}
	for (i = 0; i < NIN; i++)
		hin[i] = pattern_word(4242, i);
	CK(cudaMalloc(&in, NIN * sizeof(*in)));
	CK(cudaMalloc(&out, nbuf * sizeof(*out)));
	CK(cudaMalloc(&bad, sizeof(*bad)));
	CK(cudaMemcpyAsync(in, hin, NIN * sizeof(*in), cudaMemcpyHostToDevice, s));

	/* the graph holds the weights' raw pointers from here on */
	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
	cudaMemsetAsync(out, 0, nbuf * sizeof(*out), s);
	for (i = 0; i < nbuf; i++)
		digest<<<512, 256, 0, s>>>(w[i], CHUNK / 8, in, out + i);
	CK(cudaStreamEndCapture(s, &graph));
	CK(cudaGraphInstantiate(&exec, graph, 0));
	CK(cudaGraphLaunch(exec, s));
	CK(cudaMemcpyAsync(ref, out, nbuf * sizeof(*out), cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	printf("weights %zu bytes in the region (%zu allocations at %p..)\n",
	       thaw_gpu_weights_bytes(), nbuf, (void *)w[0]);

	if (selftest) {
		if (thaw_gpu_weights_save() < 0)
			FAILF("thaw_gpu_weights_save: %s", thaw_gpu_weights_error());
		if (thaw_gpu_weights_save() < 0) /* again: nothing to do */
			FAILF("thaw_gpu_weights_save again: %s", thaw_gpu_weights_error());
		if (thaw_gpu_weights_load() < 0)
			FAILF("thaw_gpu_weights_load: %s", thaw_gpu_weights_error());
		got_usr1 = 1;
	} else {
		printf("READY\n");
	}
	while (!got_usr1)
		sigsuspend(&old);

	/* the same graph, stream and pointers as before the snapshot */
	CK(cudaMemsetAsync(out, 0xff, nbuf * sizeof(*out), s));
	CK(cudaGraphLaunch(exec, s));
	CK(cudaMemcpyAsync(now, out, nbuf * sizeof(*out), cudaMemcpyDeviceToHost, s));
	CK(cudaMemsetAsync(bad, 0, sizeof(*bad), s));
	for (i = 0; i < nbuf; i++)
		check<<<1024, 256, 0, s>>>(w[i], CHUNK / 8, i + 1, bad);
	CK(cudaStreamSynchronize(s));
	for (i = 0; i < nbuf; i++)
		if (now[i] != ref[i]) {
			FAILF("graph digest %zu is %016llx, was %016llx", i, now[i], ref[i]);
			break;
		}
	{
		unsigned long long nbad = 0;
		uint64_t back[NIN];

		CK(cudaMemcpy(&nbad, bad, sizeof(nbad), cudaMemcpyDeviceToHost));
		if (nbad)
			FAILF("%llu words of the weights differ from their pattern", nbad);
		CK(cudaMemcpy(back, in, sizeof(back), cudaMemcpyDeviceToHost));
		if (memcmp(back, hin, sizeof(back)))
			FAILF("the inputs (driver-checkpointed memory) differ");
	}
	printf("checked %zu GiB of weights and %zu graph digests\n", gib, nbuf);
	if (!failures)
		printf("PASS\n");
	return failures ? 1 : 0;
}
