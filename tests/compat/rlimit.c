/* compat: restore */
/*
 * rlimit.c - resource limits below the hard limit and a lowered hard limit
 * come back exactly (getrlimit).
 */
#include <sys/resource.h>

#include "compat.h"

static const struct {
	int resource;
	const char *name;
	rlim_t cur, max;
} limits[] = {
	{ RLIMIT_NOFILE, "nofile", 777, 888 },
	{ RLIMIT_CORE, "core", 0, 1 << 20 },
	{ RLIMIT_MSGQUEUE, "msgqueue", 4096, 8192 },
};

#define NR_LIMITS (sizeof(limits) / sizeof(limits[0]))

static int setup(void)
{
	size_t i;

	for (i = 0; i < NR_LIMITS; i++) {
		struct rlimit rl = { limits[i].cur, limits[i].max };

		if (setrlimit(limits[i].resource, &rl)) {
			perror(limits[i].name);
			return -1;
		}
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	size_t i;

	for (i = 0; i < NR_LIMITS; i++) {
		struct rlimit rl;

		if (getrlimit(limits[i].resource, &rl))
			return FAILED("getrlimit %s: %s", limits[i].name, strerror(errno));
		if (rl.rlim_cur != limits[i].cur || rl.rlim_max != limits[i].max)
			return FAILED("%s is %llu/%llu, want %llu/%llu", limits[i].name,
				      (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
				      (unsigned long long)limits[i].cur,
				      (unsigned long long)limits[i].max);
	}
	return 0;
}
