/*
 * cmd-dump.c - thaw dump --pid PID (--dir DIR | --store DIR|URL --name NAME) [--leave-running]
 *
 * Into a store, the snapshot is staged in a private directory beside the
 * store's local tier, put, and the staging directory removed; the name is
 * written last, so it appears only once the whole snapshot is stored, and
 * a program that is to die dies only after that.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "base/dirs.h"
#include "base/keyfile.h"
#include "base/lifeline.h"
#include "cli.h"
#include "engine/engine.h"
#include "image/image.h"
#include "repo/repo.h"

static void dump_usage(FILE *out)
{
	fprintf(out, "usage: thaw dump --pid PID --dir DIR [--key-file FILE] [--leave-running]\n"
		     "                 [--external-fd N]... [--tcp-close]\n"
		     "       thaw dump --pid PID --store DIR|URL --name NAME [--cache DIR]\n"
		     "                 [--key-file FILE] [--leave-running] [--external-fd N]...\n"
		     "                 [--tcp-close]\n"
		     "\n"
		     "Freezes every thread of PID, writes its snapshot to DIR (which must not\n"
		     "exist; published atomically, mode 0700/0600) and kills it, or lets it run\n"
		     "on with --leave-running.  On failure the process runs on unharmed.\n"
		     "\n"
		     "Options:\n"
		     "  --pid PID           the process to dump, with its children and threads\n"
		     "  --dir DIR           write the snapshot to the new directory DIR\n"
		     "  --store DIR|URL     or put it into a store (docs/store.md) under --name:\n"
		     "                      the name appears only once all of it is stored\n"
		     CLI_HELP_SNAPSHOT_STORE
		     "  --key-file FILE     sign the snapshot (manifest.sig, HMAC-SHA-256 with the\n"
		     "                      key: 32 bytes or 64 hex digits); restore and inspect\n"
		     "                      with the key refuse it unsigned or signed otherwise;\n"
		     "                      into a store, the key also encrypts it\n"
		     "  --leave-running     the process runs on once dumped (default: killed)\n"
		     "  --external-fd N     fd N is not dumped: whoever restores provides it at N\n"
		     "                      (repeatable, at most 64)\n"
		     "  --tcp-close         TCP connections come back reset, whatever their state\n"
		     "                      (default: established ones are kept, with TCP_REPAIR,\n"
		     "                      and one in another state fails the dump)\n"
		     "  --help              show this help\n"
		     "\n"
		     "--cache, --s3-endpoint and --key-file default to the configuration files'\n"
		     "cache, s3-endpoint and key-file (thaw(1) FILES).\n"
		     "\n"
		     "Exit status:\n"
		     "  0 the snapshot is written (and the process killed, or running on); 1 it\n"
		     "  is not, and the process runs on unharmed; 2 usage error.\n");
}

/* --key-file: the snapshot is signed once published, while the program is still frozen. */
struct signing {
	const char *dir;
	bool has_key;
	uint8_t key[KEY_FILE_BYTES];
};

static int sign_published(void *arg)
{
	struct signing *g = arg;

	return g->has_key ? image_sign(g->dir, g->key) : 0;
}

struct put {
	struct repo *repo;
	const char *staged, *name;
	struct store_digest d;
	struct signing *sign;
};

static int put_staged(void *arg)
{
	struct put *p = arg;
	int rc;

	p->sign->dir = p->staged;
	rc = sign_published(p->sign);
	return rc ? rc : repo_put_named(p->repo, p->staged, p->name, &p->d);
}

/*
 * Dumps into a staging directory beside the store's local tier, then puts
 * it under name.  A program that is to die is put while still frozen (the
 * engine's on_published), so that it dies only once its snapshot is named:
 * whatever fails first, it runs on, and the staging directory goes.
 */
/* --s3-endpoint, --s3-style: for an s3:// store */
static const char *s3_endpoint, *s3_style;

static int dump_to_store(struct engine_dump_opts *opts, const char *location, const char *cache,
			 const char *key_file, struct signing *sign, const char *name)
{
	struct repo_opts ro = { .location = location, .cache = cache, .key_file = key_file,
				.s3_endpoint = s3_endpoint, .s3_style = s3_style };
	struct repo *repo = NULL;
	struct put put = { .name = name, .sign = sign };
	char staged[PATH_MAX], hex[STORE_DIGEST_HEX];
	int rc, lock = -1;

	if (!store_name_valid(name))
		return cli_usage_error(dump_usage, "--name: bad snapshot name '%s'", name);
	rc = repo_open_store(&ro, &repo);
	if (rc)
		goto out;
	rc = repo_stage(repo, staged, sizeof(staged), &lock);
	if (rc)
		goto out;
	put.repo = repo;
	put.staged = staged;
	opts->dir = staged;
	if (!opts->leave_running) {
		opts->on_published = put_staged;
		opts->on_published_arg = &put;
	}
	rc = engine_dump(opts, NULL);
	if (rc == 0 && opts->leave_running)
		rc = put_staged(&put);
	remove_staging_dir(staged, lock);
	if (rc < 0)
		goto out;
	store_digest_hex(&put.d, hex);
	printf("%s %s\n", name, hex);
out:
	repo_close(repo);
	return rc < 0 ? 1 : 0;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "dir", required_argument, NULL, 'd' },
		{ "leave-running", no_argument, NULL, 'l' },
		{ "external-fd", required_argument, NULL, 'x' },
		{ "tcp-close", no_argument, NULL, 't' },
		{ "store", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "cache", required_argument, NULL, 'c' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "s3-endpoint", required_argument, NULL, 'E' },
		{ "s3-style", required_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct engine_dump_opts opts = { 0 };
	const char *store = NULL, *name = NULL, *cache = NULL, *key_file = NULL;
	struct signing sign = { 0 };
	int rc;
	int external[64];
	char *end;
	long n;
	int c;

	while ((c = getopt_long(argc, argv, "p:d:lx:s:n:c:k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			opts.pid = (pid_t)strtol(optarg, &end, 10);
			if (*end || opts.pid <= 0)
				return cli_usage_error(dump_usage, "--pid: not a process id: %s",
						       optarg);
			break;
		case 'd':
			opts.dir = optarg;
			break;
		case 'l':
			opts.leave_running = true;
			break;
		case 'x':
			n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > 1 << 20 || opts.nr_external_fds == 64)
				return cli_usage_error(dump_usage, "--external-fd: bad fd %s (or more "
						       "than 64)", optarg);
			external[opts.nr_external_fds++] = (int)n;
			opts.external_fds = external;
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
		case 't':
			opts.tcp_close = true;
			break;
		case 'E':
			s3_endpoint = optarg;
			break;
		case 'Y':
			s3_style = optarg;
			break;
		case 'h':
			dump_usage(stdout);
			return 0;
		default:
			return cli_usage_error(dump_usage, NULL);
		}
	}
	if (optind != argc)
		return cli_usage_error(dump_usage, "unexpected argument '%s'", argv[optind]);
	if (!opts.pid)
		return cli_usage_error(dump_usage, "which process? --pid PID");
	if (!opts.dir == !store)
		return cli_usage_error(dump_usage, "where to? --dir DIR or --store DIR|URL");
	if (!store != !name || (!store && cache))
		return cli_usage_error(dump_usage, "--name and --cache go with --store");
	if (cli_default(&key_file, NULL, CONFIG_KEY_FILE) ||
	    (store && (cli_default(&cache, NULL, CONFIG_CACHE) ||
		       cli_default(&s3_endpoint, "THAW_S3_ENDPOINT", CONFIG_S3_ENDPOINT))) ||
	    cli_store_location(store, false))
		return 1;
	if (key_file) {
		if (key_file_load(key_file, sign.key) < 0)
			return 1;
		sign.has_key = true;
	}
	/* from here on the work is done by a process that a kill of this one leaves to finish */
	if (lifeline_split() < 0)
		return 1;
	if (store) {
		rc = dump_to_store(&opts, store, cache, key_file, &sign, name);
	} else {
		sign.dir = opts.dir;
		if (sign.has_key) {
			opts.on_published = sign_published;
			opts.on_published_arg = &sign;
		}
		rc = engine_dump(&opts, NULL) < 0 ? 1 : 0;
	}
	OPENSSL_cleanse(sign.key, sizeof(sign.key));
	return rc;
}
