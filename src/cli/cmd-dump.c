/*
 * cmd-dump.c - thaw dump --pid PID --dir DIR [--leave-running]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "engine/engine.h"

static void dump_usage(FILE *out)
{
	fprintf(out, "usage: thaw dump --pid PID --dir DIR [--leave-running] [--external-fd N]...\n"
		     "\n"
		     "Freezes every thread of PID, writes its snapshot to DIR (which must not\n"
		     "exist; published atomically, mode 0700/0600) and kills it, or lets it run\n"
		     "on with --leave-running.  On failure the process runs on unharmed.\n"
		     "--external-fd N: fd N is not dumped; whoever restores provides it at N.\n");
}

int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "dir", required_argument, NULL, 'd' },
		{ "leave-running", no_argument, NULL, 'l' },
		{ "external-fd", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct engine_dump_opts opts = { 0 };
	int external[64];
	char *end;
	long n;
	int c;

	while ((c = getopt_long(argc, argv, "p:d:lx:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			opts.pid = (pid_t)strtol(optarg, &end, 10);
			if (*end || opts.pid <= 0) {
				fprintf(stderr, "thaw dump: bad pid '%s'\n", optarg);
				return 2;
			}
			break;
		case 'd':
			opts.dir = optarg;
			break;
		case 'l':
			opts.leave_running = true;
			break;
		case 'x':
			n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > 1 << 20 || opts.nr_external_fds == 64) {
				fprintf(stderr, "thaw dump: bad --external-fd '%s'\n", optarg);
				return 2;
			}
			external[opts.nr_external_fds++] = (int)n;
			opts.external_fds = external;
			break;
		case 'h':
			dump_usage(stdout);
			return 0;
		default:
			dump_usage(stderr);
			return 2;
		}
	}
	if (!opts.pid || !opts.dir || optind != argc) {
		dump_usage(stderr);
		return 2;
	}
	return engine_dump(&opts, NULL) < 0 ? 1 : 0;
}
