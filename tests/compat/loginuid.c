/* compat: restore */
/*
 * loginuid.c - the audit login uid (/proc/self/loginuid) stays.  Setting it
 * needs CAP_AUDIT_CONTROL, here and at restore.  The session id that comes
 * with it cannot be set by anyone: it is not checked.
 */
#include "compat.h"

#define WANT 4242u

static int setup(void)
{
	FILE *f = fopen("/proc/self/loginuid", "w");

	if (!f) {
		printf("SKIP: /proc/self/loginuid: %s\n", strerror(errno));
		exit(77);
	}
	if (fprintf(f, "%u", WANT) < 0 || fclose(f)) {
		printf("SKIP: writing /proc/self/loginuid: %s\n", strerror(errno));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	FILE *f = fopen("/proc/self/loginuid", "r");
	unsigned got = 0;
	int ok = f && fscanf(f, "%u", &got) == 1;

	if (f)
		fclose(f);
	if (!ok)
		return FAILED("reading /proc/self/loginuid: %s", strerror(errno));
	if (got != WANT)
		return FAILED("loginuid is %u, want %u", got, WANT);
	return 0;
}
