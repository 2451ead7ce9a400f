/*
 * xstate.c - vector state survives a snapshot: every thread keeps its own
 * pattern live in the widest registers the CPU has (zmm16-31 and k1-k7 with
 * AVX-512, else ymm8-15) while it spins, so a restore that loses or mixes
 * XSAVE components is caught.  Prints READY; on SIGUSR1 every thread stops
 * spinning, checks its registers and the program prints PASS or FAIL.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NR_THREADS 4

static volatile sig_atomic_t stop;
static int failures[NR_THREADS + 1];
static volatile long spins[NR_THREADS + 1];

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

__attribute__((target("avx512f"))) static int spin_avx512(int id)
{
	uint64_t in[8], out[8], out2[8];
	uint32_t kin = (uint32_t)(0x1111 * (id + 1)) & 0xffff, kout = 0;
	int i, bad = 0;

	for (i = 0; i < 8; i++)
		in[i] = 0x0123456789abcdefull * (uint64_t)(id + 1) + (uint64_t)i;
	/* load once, spin without touching them, read back */
	asm volatile("vmovdqu64 %0, %%zmm17\n\t"
		     "vmovdqu64 %0, %%zmm31\n\t"
		     "kmovw %1, %%k3\n\t" ::"m"(in), "r"(kin)
		     : "xmm17", "xmm31", "k3");
	while (!stop)
		spins[id]++;
	/* read both before any call: glibc's EVEX string functions use zmm16-31 */
	asm volatile("vmovdqu64 %%zmm31, %0\n\t"
		     "vmovdqu64 %%zmm17, %1\n\t"
		     "kmovw %%k3, %2\n\t"
		     : "=m"(out), "=m"(out2), "=r"(kout));
	bad |= memcmp(in, out, sizeof(in)) != 0;
	bad |= memcmp(in, out2, sizeof(in)) != 0;
	bad |= kout != kin;
	return bad;
}

__attribute__((target("avx2"))) static int spin_avx2(int id)
{
	uint64_t in[4], out[4];
	int i;

	for (i = 0; i < 4; i++)
		in[i] = 0xfedcba9876543210ull * (uint64_t)(id + 1) + (uint64_t)i;
	asm volatile("vmovdqu %0, %%ymm9" ::"m"(in) : "xmm9");
	while (!stop)
		spins[id]++;
	asm volatile("vmovdqu %%ymm9, %0" : "=m"(out));
	return memcmp(in, out, sizeof(in)) != 0;
}

static int spin(int id)
{
	return __builtin_cpu_supports("avx512f") ? spin_avx512(id) : spin_avx2(id);
}

static void *thread_main(void *arg)
{
	int id = (int)(intptr_t)arg;

	failures[id] = spin(id);
	return NULL;
}

int main(void)
{
	pthread_t threads[NR_THREADS];
	long before[NR_THREADS + 1];
	int i, bad = 0;

	signal(SIGUSR1, on_usr1);
	for (i = 1; i <= NR_THREADS; i++)
		pthread_create(&threads[i - 1], NULL, thread_main, (void *)(intptr_t)i);
	printf("READY\n");
	fflush(stdout);
	for (i = 0; i <= NR_THREADS; i++)
		before[i] = spins[i];
	failures[0] = spin(0);
	for (i = 0; i < NR_THREADS; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; i <= NR_THREADS; i++) {
		if (failures[i]) {
			printf("FAIL: thread %d lost its vector registers\n", i);
			bad = 1;
		}
		if (spins[i] <= before[i]) {
			printf("FAIL: thread %d did not spin\n", i);
			bad = 1;
		}
	}
	printf(bad ? "FAIL\n" : "PASS\n");
	return bad;
}
