/* compat: restore */
/*
 * autogroup.c - a session leader's autogroup nice value (/proc/self/autogroup)
 * stays: the program makes a session of its own and sets its group to 6.
 */
#include <unistd.h>

#include "compat.h"

static int read_nice(int *ret)
{
	char buf[128], *p;
	FILE *f = fopen("/proc/self/autogroup", "r");
	int ok = f && fgets(buf, sizeof(buf), f) && (p = strstr(buf, " nice ")) &&
		 sscanf(p + 6, "%d", ret) == 1;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static int setup(void)
{
	FILE *f;

	if (access("/proc/self/autogroup", F_OK)) {
		printf("SKIP: no autogroups in this kernel\n");
		exit(77);
	}
	if (setsid() < 0) {
		perror("setsid");
		return -1;
	}
	f = fopen("/proc/self/autogroup", "w");
	if (!f || fprintf(f, "6") < 0 || fclose(f)) {
		perror("writing /proc/self/autogroup");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int nice;

	if (read_nice(&nice))
		return FAILED("reading /proc/self/autogroup: %s", strerror(errno));
	if (nice != 6)
		return FAILED("the autogroup's nice value is %d, want 6", nice);
	return 0;
}
