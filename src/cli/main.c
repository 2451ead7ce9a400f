/*
 * main.c - the thaw command: global options and the subcommand table.
 * Each subcommand lives in cmd-<name>.c, parses its own arguments and calls
 * the layers; nothing below src/cli/ calls exit().
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "base/lifeline.h"
#include "base/log.h"

static const struct cli_command commands[] = {
	{ "dump", cmd_dump, "freeze a process and write a snapshot" },
	{ "restore", cmd_restore, "bring a snapshot back to life" },
	{ "inspect", cmd_inspect, "show what a snapshot holds" },
	{ "check", cmd_check, "probe the kernel features thaw needs" },
	{ "store", cmd_store, "content-addressed snapshot store: put, get, ls, du, verify, gc, push, pull" },
	{ "run", cmd_run, "run a program, snapshot it, restore it on later starts" },
	{ "snapshots", cmd_snapshots, "list or remove the snapshots thaw run keeps" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: thaw [-v|-vv|-q] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n'thaw COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	while (argc > 1 && argv[1][0] == '-') {
		if (!strcmp(argv[1], "-v"))
			log_set_level(LOG_DEBUG);
		else if (!strcmp(argv[1], "-vv"))
			log_set_level(LOG_TRACE);
		else if (!strcmp(argv[1], "-q"))
			log_set_level(LOG_ERROR);
		else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "thaw: unknown option %s\n", argv[1]);
			usage(stderr);
			return 2;
		}
		argc--;
		argv++;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return lifeline_exit_status(commands[i].run(argc - 1, argv + 1));
	fprintf(stderr, "thaw: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
