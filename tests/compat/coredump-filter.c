/* compat: restore */
/*
 * coredump-filter.c - /proc/self/coredump_filter set to 0x5d (file-backed
 * private mappings and ELF headers dumped, anonymous shared ones not) stays.
 */
#include "compat.h"

#define WANT 0x5du

static int setup(void)
{
	FILE *f = fopen("/proc/self/coredump_filter", "w");

	if (!f || fprintf(f, "0x%x\n", WANT) < 0 || fclose(f)) {
		perror("writing /proc/self/coredump_filter");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	FILE *f = fopen("/proc/self/coredump_filter", "r");
	unsigned got = 0;
	int ok = f && fscanf(f, "%x", &got) == 1;

	if (f)
		fclose(f);
	if (!ok)
		return FAILED("reading /proc/self/coredump_filter: %s", strerror(errno));
	if (got != WANT)
		return FAILED("coredump_filter is 0x%x, want 0x%x", got, WANT);
	return 0;
}
