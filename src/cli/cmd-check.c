/*
 * cmd-check.c - "thaw check": probe the kernel features thaw needs.
 * Exit 0 when all are present, 1 when any is missing, 2 on a usage error.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: thaw check\n\n"
		     "Probes, with real child processes, every kernel feature that dump and\n"
		     "restore use, and prints one line each: ok or MISSING, and what it saw.\n"
		     "\n"
		     "Options:\n"
		     "  --help    show this help\n"
		     "\n"
		     "Exit status:\n"
		     "  0 all are present; 1 any is missing; 2 usage error.\n");
}

int cmd_check(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 1)
		return cli_usage_error(usage, "unexpected argument '%s'", argv[1]);
	return engine_check(stdout) == 0 ? 0 : 1;
}
