/*
 * sdk-counter.c - a C program that uses libthaw: it does its "slow" start
 * (fills a table), reaches thaw_snapshot(), then prints what happened and a
 * few lines that prove its memory came through.
 *
 *   sdk-counter [EXIT_CODE]   prints "result <name>", "hooks <n>", "sum <n>",
 *                             "random <hex>", then waits for SIGUSR1 (or
 *                             SIGTERM) and exits with EXIT_CODE.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thaw.h"

static int hooks_run;
static unsigned long long seed;
static volatile sig_atomic_t got_usr1;

static void after_restore(void *arg)
{
	/* what the header asks of a C program: reseed what every copy would share */
	hooks_run += *(int *)arg;
	if (thaw_random_bytes(&seed, sizeof(seed)))
		seed = 0;
}

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

int main(int argc, char **argv)
{
	static unsigned table[1 << 20];
	unsigned long long sum = 0;
	int one = 1, result, code = argc > 1 ? atoi(argv[1]) : 0;
	size_t i;

	signal(SIGUSR1, on_usr1);
	if (thaw_random_bytes(&seed, sizeof(seed)))
		return 2;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		table[i] = (unsigned)(i * 2654435761u);
	printf("before snapshot point\n");
	if (thaw_on_restore(after_restore, &one))
		return 2;
	result = thaw_snapshot();
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		sum += table[i];
	printf("result %s%s%s\n", thaw_result_name(result), result == THAW_FAILED ? ": " : "",
	       result == THAW_FAILED ? thaw_error() : "");
	printf("sum %llu\n", sum);
	printf("hooks %d\n", hooks_run);
	printf("random %016llx\n", seed);
	printf("second call %s\n", thaw_result_name(thaw_snapshot()));
	fflush(stdout);
	while (!got_usr1)
		pause();
	printf("bye\n");
	return code;
}
