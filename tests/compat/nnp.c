/* compat: restore */
/*
 * nnp.c - no_new_privs comes back set, and the dumpable flag comes back
 * cleared (PR_SET_DUMPABLE 0 as root, without any id change).
 */
#include <sys/prctl.h>

#include "compat.h"

static int setup(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		perror("prctl");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);

	if (nnp != 1)
		return FAILED("no_new_privs is %d, want 1", nnp);
	if (dumpable != 0)
		return FAILED("dumpable is %d, want 0", dumpable);
	return 0;
}
