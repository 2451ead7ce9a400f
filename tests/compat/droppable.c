/* compat: restore */
/*
 * droppable.c - a MAP_DROPPABLE mapping stays droppable (smaps VmFlags "dp")
 * and keeps its bytes.
 */
#include <sys/mman.h>

#include "compat.h"
#include "vmflags.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

static char *drop;

static int setup(void)
{
	drop = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
	if (drop == MAP_FAILED) {
		printf("SKIP: MAP_DROPPABLE: %s\n", strerror(errno));
		exit(77);
	}
	strcpy(drop, "droppable bytes");
	return 0;
}

static int check(char *why, size_t whylen)
{
	char flags[512];

	if (vmflags_of(drop, flags, sizeof(flags)))
		return FAILED("no smaps entry at %p", (void *)drop);
	if (!has_vmflag(flags, "dp"))
		return FAILED("the mapping at %p is no longer droppable: VmFlags %s", (void *)drop,
			      flags);
	if (strcmp(drop, "droppable bytes"))
		return FAILED("the droppable mapping lost its bytes");
	return 0;
}
