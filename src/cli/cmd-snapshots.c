/*
 * cmd-snapshots.c - thaw snapshots [--store DIR|URL] [--json] | rm NAME|KEY
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "repo/repo.h"

static void snapshots_usage(FILE *out)
{
	fprintf(out, "usage: thaw snapshots [--store DIR] [--key-file F] [--json]\n"
		     "       thaw snapshots [--store DIR] [--key-file F] rm NAME|KEY\n"
		     "\n"
		     "Lists the snapshots thaw run keeps (name, key, size, created, times\n"
		     "restored), or removes every snapshot with that name, or the one with that\n"
		     "key (a prefix of 4 or more digits will do).  In a chunk store, removing\n"
		     "drops the names; thaw store gc frees the chunks no other snapshot uses.\n"
		     "A URL's names cannot be listed or removed.\n"
		     "\n"
		     "Options:\n"
		     "  --store DIR|URL     thaw run's store (default $THAW_STORE, the\n"
		     "                      configuration files' store, else ~/.cache/thaw)\n"
		     "  --key-file F        the key of an encrypted chunk store\n"
		     "  --json              list as JSON\n"
		     "  --help              show this help\n"
		     "\n"
		     "Exit status:\n"
		     "  0 listed or removed; 1 the store cannot be read, or nothing has that\n"
		     "  name or key; 2 usage error.\n");
}

int cmd_snapshots(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct repo_opts store = { 0 };
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:k:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			store.location = optarg;
			break;
		case 'k':
			store.key_file = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			snapshots_usage(stdout);
			return 0;
		default:
			return cli_usage_error(snapshots_usage, NULL);
		}
	}
	if (cli_store_defaults(&store) || cli_store_location(store.location, false))
		return 1;
	if (optind == argc)
		return repo_list(&store, stdout, json) < 0 ? 1 : 0;
	if (!strcmp(argv[optind], "rm") && optind + 2 == argc)
		return repo_remove_matching(&store, argv[optind + 1], stdout) < 0 ? 1 : 0;
	return cli_usage_error(snapshots_usage, "unexpected argument '%s'", argv[optind]);
}
