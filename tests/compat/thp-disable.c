/* compat: restore */
/*
 * thp-disable.c - PR_SET_THP_DISABLE stays on (PR_GET_THP_DISABLE, and
 * "THP_enabled: 0" in /proc/self/status where the kernel shows it).
 */
#include <sys/prctl.h>

#include "compat.h"

static int setup(void)
{
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) {
		perror("PR_SET_THP_DISABLE");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	char line[256];
	FILE *f;
	int got = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);

	if (got != 1)
		return FAILED("PR_GET_THP_DISABLE is %d, want 1", got);
	f = fopen("/proc/self/status", "r");
	if (!f)
		return FAILED("/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "THP_enabled:", 12) && atoi(line + 12) != 0) {
			fclose(f);
			return FAILED("/proc/self/status says %s", line);
		}
	fclose(f);
	return 0;
}
