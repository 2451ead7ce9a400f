/* compat: restore */
/*
 * rlimit-uid.c - the resource limits of a process that runs as another uid
 * come back.  Reading them with prlimit(2) needs CAP_SYS_RESOURCE over a
 * process of another uid, which root lacks in containers; thaw reads
 * /proc/PID/limits instead, and the restored process sets them itself.
 */
#include <sys/resource.h>
#include <unistd.h>

#include "compat.h"

#define NOBODY 65534

static int setup(void)
{
	struct rlimit nofile = { 500, 600 }, core = { 0, 4096 };

	if (setrlimit(RLIMIT_NOFILE, &nofile) || setrlimit(RLIMIT_CORE, &core)) {
		perror("setrlimit");
		return -1;
	}
	if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY)) {
		perror("dropping to nobody");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct rlimit nofile, core;

	if (getrlimit(RLIMIT_NOFILE, &nofile) || getrlimit(RLIMIT_CORE, &core))
		return FAILED("getrlimit: %s", strerror(errno));
	if (nofile.rlim_cur != 500 || nofile.rlim_max != 600)
		return FAILED("nofile is %llu/%llu, want 500/600",
			      (unsigned long long)nofile.rlim_cur, (unsigned long long)nofile.rlim_max);
	if (core.rlim_cur != 0 || core.rlim_max != 4096)
		return FAILED("core is %llu/%llu, want 0/4096", (unsigned long long)core.rlim_cur,
			      (unsigned long long)core.rlim_max);
	return 0;
}
