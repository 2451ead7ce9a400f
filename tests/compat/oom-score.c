/* compat: restore */
/*
 * oom-score.c - /proc/self/oom_score_adj raised to 345 stays (raising it
 * needs no privilege; lowering it back would).
 */
#include "compat.h"

#define WANT 345

static int read_adj(int *ret)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "r");
	int ok = f && fscanf(f, "%d", ret) == 1;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static int setup(void)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "w");

	if (!f || fprintf(f, "%d\n", WANT) < 0 || fclose(f)) {
		perror("writing /proc/self/oom_score_adj");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int got;

	if (read_adj(&got))
		return FAILED("reading /proc/self/oom_score_adj: %s", strerror(errno));
	if (got != WANT)
		return FAILED("oom_score_adj is %d, want %d", got, WANT);
	return 0;
}
