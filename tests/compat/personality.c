/* compat: restore */
/*
 * personality.c - the personality comes back, and READ_IMPLIES_EXEC, set
 * after a read-only mapping was made, does not make that mapping executable
 * on the way (the restore maps memory before it sets the personality).
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/personality.h>

#include "compat.h"

#define WANT (PER_LINUX | READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE)

static char *ro;

static int setup(void)
{
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro == MAP_FAILED || personality(WANT) < 0) {
		perror("setup");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int now = personality(0xffffffff);
	char line[512], want[32];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (now != WANT)
		return FAILED("personality is 0x%x, want 0x%x", now, WANT);
	if (!f)
		return FAILED("/proc/self/maps: %s", strerror(errno));
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)ro);
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, want, strlen(want));
	fclose(f);
	if (!found)
		return FAILED("the read-only mapping at %p is gone", (void *)ro);
	if (!strstr(line, " r--p "))
		return FAILED("the read-only mapping is now: %s", line);
	return 0;
}
