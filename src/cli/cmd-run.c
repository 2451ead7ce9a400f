/*
 * cmd-run.c - thaw run [options] -- CMD ARGS...
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "runtime/runtime.h"

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: thaw run [--store DIR] [--name NAME] [--env-ignore VAR]... [--no-snapshot]\n"
		"                [--json-events FILE] -- CMD [ARGS...]\n"
		"\n"
		"Runs CMD in its own PID namespace.  The first start runs it cold and snapshots\n"
		"it when it reaches its snapshot point (thaw.snapshot() / thaw_snapshot()); every\n"
		"later start with the same launch key restores that snapshot instead.  Anything\n"
		"that makes a restore untrustworthy (a changed argument, environment variable,\n"
		"working directory, executable, mapped file, CPU, kernel, GPU) is a cold start\n"
		"with the reason printed.  thaw run exits with CMD's status.\n"
		"\n"
		"  --store DIR         where snapshots live (default $THAW_STORE or ~/.cache/thaw)\n"
		"  --name NAME         the snapshot's name (default: from the command)\n"
		"  --env-ignore VAR    leave VAR (a glob: 'CI_*') out of the launch key\n"
		"  --no-snapshot       neither restore nor snapshot: a plain start under thaw\n"
		"  --json-events FILE  append events as JSON lines to FILE\n");
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "env-ignore", required_argument, NULL, 'e' },
		{ "no-snapshot", no_argument, NULL, 'N' },
		{ "json-events", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct runtime_run_opts opts = { 0 };
	const char **ignore = NULL;
	int c, status;

	/* '+': stop at CMD, whose own options are its business */
	while ((c = getopt_long(argc, argv, "+s:n:e:Nj:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opts.store = optarg;
			break;
		case 'n':
			opts.name = optarg;
			break;
		case 'e':
			ignore = realloc(ignore, (opts.nr_env_ignore + 1) * sizeof(*ignore));
			if (!ignore)
				return 1;
			ignore[opts.nr_env_ignore++] = optarg;
			opts.env_ignore = ignore;
			break;
		case 'N':
			opts.no_snapshot = true;
			break;
		case 'j':
			opts.json_events = optarg;
			break;
		case 'h':
			run_usage(stdout);
			free(ignore);
			return 0;
		default:
			run_usage(stderr);
			free(ignore);
			return 2;
		}
	}
	if (optind >= argc) {
		run_usage(stderr);
		free(ignore);
		return 2;
	}
	opts.argv = argv + optind;
	if (runtime_run(&opts, &status) < 0 && status == 0)
		status = 1;
	free(ignore);
	return status;
}
