/*
 * main.c - the thaw command: global options and the subcommand table.
 * Each subcommand lives in cmd-<name>.c, parses its own arguments and calls
 * the layers; nothing below src/cli/ calls exit().  The conventions a
 * command follows (exit statuses, errors, help text) are in cli.c.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "base/lifeline.h"
#include "base/log.h"
#include "image/image.h"
#include "version.h" /* made by the Makefile: THAW_VERSION, THAW_GIT_DESCRIBE, THAW_FEATURES */

static const struct cli_command commands[] = {
	{ "dump", cmd_dump, "freeze a process and write a snapshot" },
	{ "restore", cmd_restore, "bring a snapshot back to life" },
	{ "inspect", cmd_inspect, "show what a snapshot holds" },
	{ "check", cmd_check, "probe the kernel features thaw needs" },
	{ "store", cmd_store, "content-addressed snapshot store: put, get, ls, du, verify, gc, push, pull" },
	{ "run", cmd_run, "run a program, snapshot it, restore it on later starts" },
	{ "snapshots", cmd_snapshots, "list or remove the snapshots thaw run keeps" },
	{ "serve", cmd_serve, "an HTTP gateway whose workers scale out by restore" },
	{ "image", cmd_image, "program images: push, ls, inspect, rm, mount, umount, record" },
};

/* The text of thaw(1) too (scripts/man.sh): sections as "Name:" lines. */
static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: thaw [-v|-vv|-q] [--json-events FILE] COMMAND [ARGS]\n"
		     "       thaw --version | --help\n"
		     "\n"
		     "thaw checkpoints a running Linux process tree into a snapshot and restores\n"
		     "it, in the same state, later or elsewhere.\n"
		     "\n"
		     "Options:\n"
		     "  -v          say more (debug); -vv: trace\n"
		     "  -q, --quiet say nothing but errors (no notes, no progress)\n"
		     "  --json-events FILE\n"
		     "              append the progress of long operations (dump, restore, store)\n"
		     "              to FILE as JSON lines; on a terminal it is also one line on\n"
		     "              stderr, updated in place\n"
		     "  --version   print the version, the snapshot format and the build's features\n"
		     "  --help      show this help\n"
		     "\n"
		     "Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s  %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n'thaw COMMAND --help' describes a command.\n"
		     "\n"
		     "Environment:\n"
		     "  THAW_STORE           the store of thaw run, thaw store and thaw snapshots when\n"
		     "                       --store is not given (a directory, or an http(s):// or s3:// URL)\n"
		     "  THAW_STORE_TOKEN     bearer token for an HTTP store (--token)\n"
		     "  THAW_S3_ENDPOINT     where an s3:// store lives (--s3-endpoint; default AWS)\n"
		     "  THAW_S3_STYLE        path or virtual addressing of an s3:// store (--s3-style)\n"
		     "  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,\n"
		     "  AWS_DEFAULT_REGION, AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE\n"
		     "                       an s3:// store's credentials and region (docs/store.md)\n"
		     "  THAW_VERIFY          set (not 0): every restore is verified (--verify)\n"
		     "  THAW_VERIFY_DIGEST   set (not 0): thaw run checks files by content\n"
		     "  THAW_LAZY_BACKGROUND 0: a lazy restore's page server copies only what is\n"
		     "                       touched (docs/lazy-restore.md)\n"
		     "  THAW_LAZY_WORKSET    0: a lazy restore neither records the working set nor\n"
		     "                       copies a recorded one first\n"
		     "  THAW_LAZY_RECORD_MS  how long after the release a first lazy restore records\n"
		     "                       the pages touched (1..600000, default 2000)\n"
		     "  THAW_RESTORE_TMPDIR  where a restore from a store rebuilds its small files\n"
		     "  THAW_PYTHON_SDK      the Python SDK directory thaw run gives a Python program\n"
		     "  NO_COLOR             set: no colour, even on a terminal\n"
		     "  TMPDIR               there, not /tmp, a restore from a store rebuilds its small\n"
		     "                       files when /dev/shm is not a writable directory\n"
		     "  PORT                 thaw serve's port when --port is not given\n"
		     "  THAW_CONFIG_SYSTEM   the system's configuration file instead of\n"
		     "                       /etc/thaw/config (empty: none)\n"
		     "  XDG_CONFIG_HOME      where the user's configuration file is, when absolute\n"
		     "\n"
		     "Files:\n"
		     "  /etc/thaw/config, then $XDG_CONFIG_HOME/thaw/config or\n"
		     "  ~/.config/thaw/config (root's too): defaults, each optional, the user's\n"
		     "  over the system's.  A flag wins over its environment variable, which wins\n"
		     "  over both files.  Lines are \"key = value\", \"#\" comment lines, blank lines:\n"
		     "    store = DIR|URL      --store, THAW_STORE (thaw run, store, snapshots, image)\n"
		     "    s3-endpoint = URL    --s3-endpoint, THAW_S3_ENDPOINT\n"
		     "    cache = DIR          --cache: the local cache in front of a URL store\n"
		     "    key-file = PATH      --key-file (thaw run: used by a chunk store only)\n"
		     "  Paths are absolute.  An unknown key, a key twice in one file or a bad line\n"
		     "  is an error naming the file and line.  A file, and every directory above\n"
		     "  it, must be owned by root or the caller and writable by nobody else: it\n"
		     "  chooses the key file thaw signs and encrypts with.\n"
		     "\n"
		     "Exit status:\n"
		     "  0 success, 1 failure, 2 usage error; thaw run and thaw restore exit with\n"
		     "  the program's own status.\n");
}

static void version(void)
{
	printf("thaw %s (%s)\n"
	       "snapshot format %d\n"
	       "features: %s\n",
	       THAW_VERSION, THAW_GIT_DESCRIBE, IMAGE_FORMAT_VERSION, THAW_FEATURES);
}

int main(int argc, char **argv)
{
	const char *json_events = NULL;
	size_t i;

	while (argc > 1 && argv[1][0] == '-') {
		if (!strcmp(argv[1], "-v"))
			log_set_level(LOG_DEBUG);
		else if (!strcmp(argv[1], "-vv"))
			log_set_level(LOG_TRACE);
		else if (!strcmp(argv[1], "-q") || !strcmp(argv[1], "--quiet"))
			log_set_level(LOG_ERROR);
		else if (!strcmp(argv[1], "--json-events") && argc > 2) {
			json_events = argv[2];
			argc--;
			argv++;
		} else if (!strncmp(argv[1], "--json-events=", 14))
			json_events = argv[1] + 14;
		else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			usage(stdout);
			return CLI_OK;
		} else if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
			version();
			return CLI_OK;
		} else {
			return cli_usage_error(usage, "unknown option %s", argv[1]);
		}
		argc--;
		argv++;
	}
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			/*
			 * getopt's own complaints start with argv[0]: so that they
			 * read "thaw dump: error: unrecognized option '--x'"
			 */
			char prog[64];

			snprintf(prog, sizeof(prog), "thaw %s: error", commands[i].name);
			argv[1] = prog;
			cli_begin(commands[i].name);
			if (json_events && cli_progress_json(json_events))
				return CLI_FAIL;
			return lifeline_exit_status(commands[i].run(argc - 1, argv + 1));
		}
	return cli_usage_error(usage, "unknown command '%s'", argv[1]);
}
