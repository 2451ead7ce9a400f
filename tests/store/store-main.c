/*
 * store-main.c - a stand-alone `thaw` that knows only `thaw store`, for
 * developing and testing the store before its entry is in the command table:
 * tests/store/build.sh builds it.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"

int cmd_store(int argc, char **argv);

int main(int argc, char **argv)
{
	while (argc > 1 && !strcmp(argv[1], "-v")) {
		log_set_level(LOG_DEBUG);
		argc--;
		argv++;
	}
	if (argc > 1 && !strcmp(argv[1], "store"))
		return cmd_store(argc - 1, argv + 1);
	fprintf(stderr, "usage: thaw store ...\n");
	return 2;
}
