/*
 * cmd-restore.c - thaw restore --dir DIR [--detach] [--pidfile FILE]
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "engine/engine.h"

static void restore_usage(FILE *out)
{
	fprintf(out, "usage: thaw restore --dir DIR [--detach] [--pidfile FILE]\n"
		     "\n"
		     "Recreates the snapshot's process in a fresh PID namespace with its original\n"
		     "PID and TIDs, and lets it run on.  In the foreground thaw restore forwards\n"
		     "SIGINT/SIGTERM/SIGHUP and exits with the program's status (128+signal when\n"
		     "killed); --detach returns once the program runs again.  --pidfile receives\n"
		     "the program's PID as the caller sees it.\n");
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "detach", no_argument, NULL, 'D' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct engine_restore_opts opts = { 0 };
	int c, status;

	while ((c = getopt_long(argc, argv, "d:Dp:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opts.dir = optarg;
			break;
		case 'D':
			opts.detach = true;
			break;
		case 'p':
			opts.pidfile = optarg;
			break;
		case 'h':
			restore_usage(stdout);
			return 0;
		default:
			restore_usage(stderr);
			return 2;
		}
	}
	if (!opts.dir || optind != argc) {
		restore_usage(stderr);
		return 2;
	}
	if (engine_restore(&opts, &status) < 0)
		return 1;
	return status;
}
