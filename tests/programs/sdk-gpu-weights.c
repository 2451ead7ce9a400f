/*
 * sdk-gpu-weights.c - libthaw's GPU weights region against the fake
 * libcuda.so.1 of tests/fakecuda (host memory standing in for device
 * memory), where there is no GPU: tests/integration/61-gpu-weights-sdk.sh.
 *
 * Allocations of sizes that are not multiples of the granularity or of the
 * copy chunk, one freed; a save (through thaw's protocol: the registry in
 * the memfd, a request on its pipe, the agent's reply) releases every byte
 * of physical memory and leaves the addresses unmapped (a read faults);
 * allocations are refused while saved; a load into too little memory fails
 * with the reason and leaks nothing; a load with memory brings every byte
 * back at the same addresses (fresh fake memory is 0xA5, so a byte not
 * copied shows); no host registration is left behind.  Prints PASS or FAIL
 * lines, exits 0 or 1.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thaw.h"
#include "../../src/gpu/weights-proto.h"

#define NSEG 6

static int failures;
static sigjmp_buf fault_jmp;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)

static unsigned char byte_at(int seg, size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13 ^ (unsigned)seg * 77u);
}

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

static int faults(const volatile unsigned char *p)
{
	if (sigsetjmp(fault_jmp, 1))
		return 1;
	(void)*p;
	return 0;
}

/* The registry, as thaw finds it: a memfd named thaw-gpu-weights among our fds. */
static int read_registry(struct tw_registry *reg)
{
	char path[300], link[256];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int found = -1;

	while (d && (de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strcmp(link, "/memfd:" TW_MEMFD_NAME " (deleted)"))
			found = atoi(de->d_name);
	}
	if (d)
		closedir(d);
	if (found < 0 || pread(found, reg, sizeof(*reg), 0) != (ssize_t)sizeof(*reg))
		return -1;
	return memcmp(reg->magic, TW_REGISTRY_MAGIC, 8) ? -1 : 0;
}

/* One request over the registry's pipes, as thaw makes it. */
static int request(const struct tw_registry *reg, uint32_t op, struct tw_reply *r)
{
	static uint32_t seq = 100;
	struct tw_request rq = { .op = op, .seq = ++seq };

	memcpy(rq.magic, TW_REQUEST_MAGIC, 4);
	if (write(reg->req_fd, &rq, sizeof(rq)) != (ssize_t)sizeof(rq))
		return -1;
	if (read(reg->rep_fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		return -1;
	if (memcmp(r->magic, TW_REPLY_MAGIC, 4) || r->seq != seq)
		return -1;
	return r->ret;
}

int main(void)
{
	static const size_t sizes[NSEG] = { 1, 3 << 20, (7 << 20) + 5, 2 << 20, 16 << 20, 5 << 20 };
	unsigned char *w[NSEG];
	size_t (*used)(void);
	int (*regs)(void);
	struct tw_registry reg;
	struct tw_reply r;
	size_t i, total = 0;
	void *fake;
	int k;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGSEGV, on_segv);
	/* small chunks and several threads: chunks cross allocations, allocations cross chunks */
	setenv("THAW_GPU_WEIGHTS_CHUNK_MB", "2", 1);
	setenv("THAW_GPU_WEIGHTS_THREADS", "3", 1);
	for (k = 0; k < NSEG; k++) {
		w[k] = thaw_gpu_weights_alloc(sizes[k], 0);
		if (!w[k]) {
			printf("FAIL: thaw_gpu_weights_alloc(%zu): %s\n", sizes[k],
			       thaw_gpu_weights_error());
			return 1;
		}
		for (i = 0; i < sizes[k]; i++)
			w[k][i] = byte_at(k, i);
		total += (sizes[k] + (2 << 20) - 1) / (2 << 20) * (2 << 20);
	}
	CHECK(thaw_gpu_weights_alloc(1, 3) == NULL, "an allocation on a device the fake lacks");
	fake = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
	used = fake ? (size_t(*)(void))dlsym(fake, "fake_cuda_used") : NULL;
	regs = fake ? (int (*)(void))dlsym(fake, "fake_cuda_registrations") : NULL;
	if (!used || !regs) {
		printf("FAIL: not the fake libcuda.so.1 (LD_LIBRARY_PATH)\n");
		return 1;
	}
	CHECK(thaw_gpu_weights_bytes() == total, "region %zu bytes, expected %zu",
	      thaw_gpu_weights_bytes(), total);
	CHECK(thaw_gpu_weights_free(w[3]) == 0, "free: %s", thaw_gpu_weights_error());
	total -= 2 << 20;
	w[3] = NULL;
	CHECK(thaw_gpu_weights_free(w[1] + 1) < 0, "a free inside an allocation was taken");
	CHECK(used() == total, "physical %zu bytes, expected %zu", used(), total);

	/* save, as thaw asks for it */
	CHECK(read_registry(&reg) == 0, "no registry, or a bad one");
	CHECK(reg.bytes == total && reg.nr_segments == NSEG - 1, "registry: %llu bytes, %u",
	      (unsigned long long)reg.bytes, reg.nr_segments);
	CHECK(request(&reg, TW_OP_SAVE, &r) == 0, "save over the pipe: %d %s", r.ret, r.msg);
	CHECK(r.bytes == total, "saved %llu bytes, expected %zu", (unsigned long long)r.bytes, total);
	CHECK(used() == 0, "%zu bytes of physical memory left after the save", used());
	CHECK(regs() == 0, "%d host registrations left after the save", regs());
	for (k = 0; k < NSEG; k++)
		CHECK(!w[k] || faults(w[k]), "allocation %d is still mapped after the save", k);
	CHECK(thaw_gpu_weights_save() == 0, "a second save: %s", thaw_gpu_weights_error());
	CHECK(thaw_gpu_weights_alloc(1 << 20, 0) == NULL, "an allocation while saved");
	CHECK(strstr(thaw_gpu_weights_error(), "saved") != NULL, "why: %s",
	      thaw_gpu_weights_error());
	CHECK(thaw_gpu_weights_free(w[5]) == 0, "free while saved: %s", thaw_gpu_weights_error());
	total -= 6 << 20;
	w[5] = NULL;

	/* a load into too little memory */
	setenv("FAKE_CUDA_FREE_MB", "8", 1);
	CHECK(request(&reg, TW_OP_LOAD, &r) == -ENOMEM, "load into 8 MiB: %d %s", r.ret, r.msg);
	CHECK(strstr(r.msg, "not enough GPU memory") != NULL, "load into 8 MiB said: %s", r.msg);
	CHECK(used() == 0, "the failed load left %zu bytes", used());
	CHECK(faults(w[0]), "the failed load left allocation 0 mapped");
	unsetenv("FAKE_CUDA_FREE_MB");

	/* the load, in-process this time */
	CHECK(thaw_gpu_weights_load() == 0, "load: %s", thaw_gpu_weights_error());
	CHECK(used() == total, "physical %zu bytes after the load, expected %zu", used(), total);
	CHECK(regs() == 0, "%d host registrations left after the load", regs());
	for (k = 0; k < NSEG; k++) {
		if (!w[k])
			continue;
		for (i = 0; i < sizes[k] && w[k][i] == byte_at(k, i); i++)
			;
		CHECK(i == sizes[k], "allocation %d differs at byte %zu after the load", k, i);
	}
	CHECK(thaw_gpu_weights_load() == 0, "a second load: %s", thaw_gpu_weights_error());
	CHECK(request(&reg, TW_OP_SAVE + 7, &r) == -EINVAL, "an unknown request was taken");
	w[3] = thaw_gpu_weights_alloc(1, 0);
	CHECK(w[3] != NULL, "an allocation after the load: %s", thaw_gpu_weights_error());
	if (!failures)
		printf("PASS\n");
	return failures ? 1 : 0;
}
