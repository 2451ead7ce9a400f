/*
 * vmflags.h - for compat programs: the VmFlags line of one of our own
 * mappings, from /proc/self/smaps.
 */
#ifndef THAW_TESTS_VMFLAGS_H
#define THAW_TESTS_VMFLAGS_H

#include <stdio.h>
#include <string.h>

/* The VmFlags of the mapping that starts at addr, into buf; 0 when found. */
static int vmflags_of(const void *addr, char *buf, size_t len)
{
	char line[512], start[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0, ret = -1;

	if (!f)
		return -1;
	snprintf(start, sizeof(start), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, start, strlen(start)))
			in = 1;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(buf, len, "%s", line + 8);
			buf[strcspn(buf, "\n")] = '\0';
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* Whether the two-letter flag is in a VmFlags line. */
static int has_vmflag(const char *flags, const char *two)
{
	char want[5];

	snprintf(want, sizeof(want), " %s", two);
	for (const char *p = strstr(flags, want); p; p = strstr(p + 1, want))
		if (p[3] == ' ' || p[3] == '\0')
			return 1;
	return 0;
}

#endif
