/* compat: restore */
/*
 * mdwe.c - memory-deny-write-execute (PR_SET_MDWE) stays on, and still
 * refuses a writable and executable mapping.
 */
#include <sys/mman.h>
#include <sys/prctl.h>

#include "compat.h"

#define SET_MDWE 65
#define GET_MDWE 66
#define REFUSE_EXEC_GAIN 1

static int setup(void)
{
	if (prctl(SET_MDWE, REFUSE_EXEC_GAIN, 0, 0, 0)) {
		printf("SKIP: PR_SET_MDWE: %s\n", strerror(errno));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int got = prctl(GET_MDWE, 0, 0, 0, 0);
	void *p;

	if (got != REFUSE_EXEC_GAIN)
		return FAILED("PR_GET_MDWE is %d, want %d", got, REFUSE_EXEC_GAIN);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		munmap(p, 4096);
		return FAILED("a writable and executable mapping was allowed");
	}
	return 0;
}
