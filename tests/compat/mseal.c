/* compat: refuse is sealed \(mseal\) */
/*
 * mseal.c - a sealed mapping is refused at dump (it could not be replaced
 * at restore), naming it, and the program runs on.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "vmflags.h"

static char *sealed;

static int setup(void)
{
	sealed = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sealed == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	if (syscall(462 /* mseal */, sealed, 4096, 0)) {
		printf("SKIP: mseal: %s\n", strerror(errno));
		exit(77);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	char flags[512];

	if (vmflags_of(sealed, flags, sizeof(flags)) || !has_vmflag(flags, "sl"))
		return FAILED("the mapping at %p is not sealed", (void *)sealed);
	return 0;
}
