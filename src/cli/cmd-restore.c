/*
 * cmd-restore.c - thaw restore (--dir DIR | --store DIR|URL --name NAME) [--detach] [--pidfile F]
 *                 [--verify]
 *
 * From a store, the snapshot's small files are rebuilt on tmpfs and its
 * pages go from the chunks straight into the restored processes
 * (store-snap.h); the rebuilt files go as soon as the program runs again.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/keyfile.h"
#include "base/lifeline.h"
#include "cli.h"
#include "engine/engine.h"
#include "image/image.h"
#include "repo/repo.h"

static void restore_usage(FILE *out)
{
	fprintf(out, "usage: thaw restore --dir DIR [--key-file FILE] [--detach] [--pidfile FILE]\n"
		     "                    [--verify] [--lazy]\n"
		     "       thaw restore --store DIR|URL --name NAME [--cache DIR] [--key-file FILE]\n"
		     "                    [--detach] [--pidfile FILE] [--verify] [--lazy]\n"
		     "\n"
		     "Recreates the snapshot's process in a fresh PID namespace with its original\n"
		     "PID and TIDs, and lets it run on.  In the foreground thaw restore forwards\n"
		     "SIGINT/SIGTERM/SIGHUP and exits with the program's status (128+signal when\n"
		     "killed).\n"
		     "\n"
		     "Options:\n"
		     "  --dir DIR           the snapshot directory (thaw dump --dir)\n"
		     "  --store DIR|URL     or a store (docs/store.md), with --name\n"
		     CLI_HELP_SNAPSHOT_STORE
		     "  --key-file FILE     the snapshot must be signed with this key (thaw dump\n"
		     "                      --key-file); pages.img and data.img are then hashed\n"
		     "                      in full first (docs/security.md); from a store, the\n"
		     "                      key also decrypts\n"
		     "  --detach            return once the program runs again (default: wait for\n"
		     "                      it in the foreground)\n"
		     "  --pidfile FILE      write the program's PID, as the caller sees it, to FILE\n"
		     "  --verify            before the program runs, read its state back and\n"
		     "                      compare it with the snapshot: a difference kills it\n"
		     "                      and fails the restore, naming the process and field\n"
		     "                      (also THAW_VERIFY=1)\n"
		     "  --lazy              private anonymous memory is copied in on first touch by\n"
		     "                      a page server thaw leaves behind, which exits once\n"
		     "                      every page is in; from a store it fetches those chunks\n"
		     "                      on demand.  The first lazy restore records the pages\n"
		     "                      the program touches into the snapshot, later ones copy\n"
		     "                      them first (docs/lazy-restore.md)\n"
		     "  --help              show this help\n"
		     "\n"
		     "--cache, --s3-endpoint and --key-file default to the configuration files'\n"
		     "cache, s3-endpoint and key-file (thaw(1) FILES).\n"
		     "\n"
		     "Exit status:\n"
		     "  the program's own status in the foreground (128+N when killed by signal\n"
		     "  N); 0 with --detach once it runs; 1 the restore failed; 2 usage error.\n");
}

/* Once the program runs again: behind a URL the local cache is filled, the directory goes. */
static void close_restore(void *arg)
{
	struct repo_restore **r = arg;

	repo_restore_close(*r);
	*r = NULL;
}

/*
 * With a key, the snapshot is read here, its signature checked (and, in a
 * plain directory, pages.img and data.img hashed: from a store its bytes
 * are the store's, sealed under the same key), and the engine is given
 * what was checked.
 */
static int read_signed(struct engine_restore_opts *opts, const uint8_t *key, bool with_bytes)
{
	return key ? image_read_signed(opts->dir, key, with_bytes, &opts->image) : 0;
}

/* --s3-endpoint, --s3-style: for an s3:// store */
static const char *s3_endpoint, *s3_style;

static int restore_from_store(const struct engine_restore_opts *base, const char *location,
			      const char *cache, const char *key_file, const uint8_t *key,
			      const char *name, int *status)
{
	struct engine_restore_opts opts = *base; /* a copy: set to point into this frame */
	struct repo_opts ro = { .location = location, .cache = cache, .key_file = key_file,
				.s3_endpoint = s3_endpoint, .s3_style = s3_style };
	struct repo_restore *r = NULL;
	int rc;

	rc = repo_restore_named(&ro, name, &r);
	if (rc)
		return rc;
	opts.dir = repo_restore_dir(r);
	opts.pages = repo_restore_pages(r);
	opts.on_restored = close_restore;
	opts.on_restored_arg = &r;
	rc = read_signed(&opts, key, false);
	if (!rc)
		rc = engine_restore(&opts, status);
	image_free(opts.image);
	close_restore(&r);
	return rc;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "detach", no_argument, NULL, 'D' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "store", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "cache", required_argument, NULL, 'c' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "verify", no_argument, NULL, 'v' },
		{ "s3-endpoint", required_argument, NULL, 'E' },
		{ "s3-style", required_argument, NULL, 'Y' },
		{ "lazy", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct engine_restore_opts opts = { 0 };
	const char *store = NULL, *name = NULL, *cache = NULL, *key_file = NULL;
	uint8_t key[KEY_FILE_BYTES];
	bool verify = false;
	int c, status, rc;

	while ((c = getopt_long(argc, argv, "d:Dp:s:n:c:k:h", longopts, NULL)) != -1) {
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
		case 's':
			store = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'c':
			cache = optarg;
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'v':
			verify = true;
			break;
		case 'E':
			s3_endpoint = optarg;
			break;
		case 'Y':
			s3_style = optarg;
			break;
		case 'L':
			opts.lazy = true;
			break;
		case 'h':
			restore_usage(stdout);
			return 0;
		default:
			return cli_usage_error(restore_usage, NULL);
		}
	}
	if (optind != argc)
		return cli_usage_error(restore_usage, "unexpected argument '%s'", argv[optind]);
	if (!opts.dir == !store)
		return cli_usage_error(restore_usage, "from where? --dir DIR or --store DIR|URL");
	if (!store != !name || (!store && cache))
		return cli_usage_error(restore_usage, "--name and --cache go with --store");
	if (store && !store_name_valid(name))
		return cli_usage_error(restore_usage, "--name: bad snapshot name '%s'", name);
	if (cli_default(&key_file, NULL, CONFIG_KEY_FILE) ||
	    (store && (cli_default(&cache, NULL, CONFIG_CACHE) ||
		       cli_default(&s3_endpoint, "THAW_S3_ENDPOINT", CONFIG_S3_ENDPOINT))) ||
	    cli_store_location(store, true))
		return 1;
	if (key_file && key_file_load(key_file, key) < 0)
		return 1;
	opts.verify = cli_verify_wanted(verify);
	/* from here on the work is done by a process that a kill of this one leaves to undo */
	if (lifeline_split() < 0)
		return 1;
	if (store) {
		rc = restore_from_store(&opts, store, cache, key_file, key_file ? key : NULL, name,
					&status);
	} else {
		rc = read_signed(&opts, key_file ? key : NULL, true);
		if (!rc)
			rc = engine_restore(&opts, &status);
		image_free(opts.image);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0)
		return 1;
	return status;
}
