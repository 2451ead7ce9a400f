/* compat: restore */
/*
 * mlock-onfault.c - mlock2(MLOCK_ONFAULT) stays lock-on-fault (VmFlags "lo"
 * and "lf"): the untouched pages are not made resident by the restore.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "vmflags.h"

static char *locked;

static int setup(void)
{
	locked = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (locked == MAP_FAILED || syscall(SYS_mlock2, locked, 64 * 4096, 1 /* MLOCK_ONFAULT */)) {
		perror("mlock2");
		return -1;
	}
	locked[0] = 'x';
	return 0;
}

static int check(char *why, size_t whylen)
{
	unsigned char vec[64];
	char flags[512];
	int i, resident = 0;

	if (vmflags_of(locked, flags, sizeof(flags)))
		return FAILED("no smaps entry at %p", (void *)locked);
	if (!has_vmflag(flags, "lo") || !has_vmflag(flags, "lf"))
		return FAILED("VmFlags %s, want lo and lf", flags);
	if (mincore(locked, 64 * 4096, vec))
		return FAILED("mincore: %s", strerror(errno));
	for (i = 0; i < 64; i++)
		resident += vec[i] & 1;
	if (resident > 4)
		return FAILED("%d of 64 pages resident: locked in full, not on fault", resident);
	return locked[0] == 'x' ? 0 : FAILED("lost the first page");
}
