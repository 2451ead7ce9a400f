/*
 * cmd-store.c - `thaw store`: the content-addressed snapshot store from the
 * command line (the store layer is src/store/store.h; docs/store.md).
 *
 * The store is a directory or an http(s) URL (--store, default $THAW_STORE,
 * else ~/.cache/thaw/store); in front of a URL sits a local cache directory
 * (--cache, default ~/.cache/thaw/chunks).  Exit status: 0 done, 1 failed,
 * 2 bad usage.
 */
#define LOG_TAG "store"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "store/store.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: thaw store [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  put DIR --name NAME     store a snapshot directory under NAME\n"
		"  get NAME --dir DIR      rebuild snapshot NAME as directory DIR\n"
		"  ls                      names, sizes, dedup ratio\n"
		"  du                      what the store takes on disk\n"
		"  verify [NAME]           read and check every chunk (of NAME, or of all)\n"
		"  gc                      remove objects no name reaches (older than --grace;\n"
		"                          a local store, or S3)\n"
		"  push NAME --to URL      copy NAME and its objects to a remote store\n"
		"  pull NAME --from URL    copy NAME and its objects from a remote store\n"
		"\n"
		"Options:\n"
		"  --store DIR|URL     the store (default $THAW_STORE, the configuration\n"
		"                      files' store, else ~/.cache/thaw/store)\n"
		"  --name NAME         put: the name to store the snapshot under\n"
		"  --dir DIR           get: the directory to rebuild the snapshot as (new)\n"
		"  --to URL            push: the remote store\n"
		"  --from URL          pull: the remote store\n"
		"  --cache DIR         local cache in front of a URL (default ~/.cache/thaw/chunks)\n"
		"  --cache-limit BYTES size limit of that cache (default 10 GiB)\n"
		"  --key-file FILE     encrypt/decrypt at rest with this 32-byte key\n"
		"  --token TOKEN       bearer token for HTTP (default $THAW_STORE_TOKEN)\n"
		"  --s3-endpoint URL   the S3-compatible server of an s3://BUCKET/PREFIX store\n"
		"                      (default $THAW_S3_ENDPOINT, else AWS in $AWS_REGION)\n"
		"  --s3-style STYLE    path (ENDPOINT/BUCKET/...) or virtual (BUCKET.HOST/...);\n"
		"                      default virtual for AWS, path for another endpoint\n"
		"  --grace SECONDS     gc spares unreferenced objects younger than this (3600)\n"
		"  --chunk-size BYTES  average chunk size for put (default 262144)\n"
		"  --compress CODEC    none, lz4 or zstd[:LEVEL] for the disk tier (lz4)\n"
		"  --retries N         HTTP retries after a 5xx or timeout (4)\n"
		"  --timeout-ms MS     HTTP request timeout (30000)\n"
		"  --help              show this help\n"
		"\n"
		"Exit status:\n"
		"  0 done; 1 failed (verify: a chunk or manifest is bad); 2 usage error.\n");
}

struct opts {
	const char *store, *cache, *key_file, *token, *name, *dir, *to, *from;
	const char *s3_endpoint, *s3_style;
	uint64_t cache_limit;
	int64_t grace;
	size_t chunk;
	int codec, level;
	unsigned retries, timeout_ms;
};

static char *home_path(const char *rel)
{
	const char *home = getenv("HOME");
	char *p;

	if (!home || !*home)
		home = "/root";
	if (asprintf(&p, "%s/%s", home, rel) < 0)
		return NULL;
	return p;
}

/* location: a directory or URL; for a URL, o->cache (or the default) in front */
static int open_store(const struct opts *o, const char *location, bool with_cache,
		      struct store **ret)
{
	struct store_config cfg;
	char *cache = NULL;
	int rc;

	store_config_init(&cfg);
	cfg.key_file = o->key_file;
	cfg.token = o->token;
	cfg.chunk_avg = o->chunk;
	cfg.disk_codec = o->codec;
	cfg.disk_level = o->level;
	cfg.http_retries = o->retries;
	cfg.http_timeout_ms = o->timeout_ms;
	cfg.s3_endpoint = o->s3_endpoint;
	cfg.s3_style = o->s3_style;
	if (store_is_remote(location)) {
		cfg.url = location;
		if (with_cache) {
			cache = o->cache ? strdup(o->cache) : home_path(".cache/thaw/chunks");
			if (!cache)
				return -ENOMEM;
			cfg.dir = cache;
			cfg.disk_limit = o->cache_limit;
		}
	} else {
		cfg.dir = location;
	}
	rc = store_open(&cfg, ret);
	free(cache);
	return rc;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static int do_ls(struct store *s)
{
	char **names = NULL, h[4][32], hex[STORE_DIGEST_HEX];
	struct store_usage u;
	struct store_digest d;
	size_t n = 0, i;
	int rc;

	rc = store_name_list(s, &names, &n);
	if (rc)
		return 1;
	printf("%-32s %-12s %12s %12s %12s\n", "NAME", "MANIFEST", "SIZE", "NON-ZERO", "STORED");
	for (i = 0; i < n; i++) {
		if (store_name_get(s, names[i], &d) || store_usage(s, names[i], &u)) {
			rc = 1;
			continue;
		}
		store_digest_hex(&d, hex);
		printf("%-32s %-12.12s %12s %12s %12s\n", names[i], hex, cli_human(u.logical, h[0]),
		       cli_human(u.nonzero, h[1]), cli_human(u.stored, h[2]));
	}
	if (!rc && !store_usage(s, NULL, &u))
		printf("total: %zu snapshots, %s, %s non-zero, %s unique, %s stored; "
		       "dedup %.2fx, compression %.2fx\n",
		       n, cli_human(u.logical, h[0]), cli_human(u.nonzero, h[1]), cli_human(u.unique, h[2]),
		       cli_human(u.stored, h[3]), ratio(u.nonzero, u.unique), ratio(u.unique, u.stored));
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc ? 1 : 0;
}

static int do_du(struct store *s)
{
	struct store_usage u;
	char h[4][32];

	if (store_usage(s, NULL, &u))
		return 1;
	printf("logical %s\nnon-zero %s\nunique %s\nstored %s\nchunks %" PRIu64 "\n"
	       "dedup %.2fx\ncompression %.2fx\n",
	       cli_human(u.logical, h[0]), cli_human(u.nonzero, h[1]), cli_human(u.unique, h[2]),
	       cli_human(u.stored, h[3]), u.chunks, ratio(u.nonzero, u.unique),
	       ratio(u.unique, u.stored));
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },   { "cache", required_argument, NULL, 'c' },
		{ "key-file", required_argument, NULL, 'k' }, { "token", required_argument, NULL, 't' },
		{ "grace", required_argument, NULL, 'g' },   { "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },     { "to", required_argument, NULL, 'T' },
		{ "from", required_argument, NULL, 'F' },    { "chunk-size", required_argument, NULL, 'C' },
		{ "compress", required_argument, NULL, 'z' }, { "retries", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 'o' },
		{ "cache-limit", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ "s3-endpoint", required_argument, NULL, 'E' }, { "s3-style", required_argument, NULL, 'Y' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c, idx = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
		switch (c) {
		case 's': o->store = optarg; break;
		case 'c': o->cache = optarg; break;
		case 'k': o->key_file = optarg; break;
		case 't': o->token = optarg; break;
		case 'n': o->name = optarg; break;
		case 'd': o->dir = optarg; break;
		case 'T': o->to = optarg; break;
		case 'F': o->from = optarg; break;
		case 'E': o->s3_endpoint = optarg; break;
		case 'Y': o->s3_style = optarg; break;
		case 'g':
			if (cli_parse_u64(optarg, &v) || v > INT32_MAX)
				goto bad;
			o->grace = (int64_t)v;
			break;
		case 'C':
			if (cli_parse_u64(optarg, &v) || v > (4u << 20))
				goto bad;
			o->chunk = (size_t)v;
			break;
		case 'l':
			if (cli_parse_u64(optarg, &v))
				goto bad;
			o->cache_limit = v;
			break;
		case 'r':
			if (cli_parse_u64(optarg, &v) || v > 20)
				goto bad;
			o->retries = (unsigned)v;
			break;
		case 'o':
			if (cli_parse_u64(optarg, &v) || v > 3600000 || !v)
				goto bad;
			o->timeout_ms = (unsigned)v;
			break;
		case 'z':
			if (cli_parse_codec(optarg, &o->codec, &o->level))
				goto bad;
			break;
		case 'h': usage(stdout); return 1;
		default: cli_usage_error(usage, NULL); return -1;
		}
	}
	return 0;
bad:
	cli_usage_error(usage, "--%s: bad value '%s'", longopts[idx].name, optarg);
	return -1;
}

/* Options may come before or after the command word and its argument. */
int cmd_store(int argc, char **argv)
{
	struct opts o = { .grace = 3600, .codec = STORE_CODEC_LZ4, .level = 1,
			  .cache_limit = 10ull << 30 };
	char *args[3] = { 0 }, **rest, *default_store = NULL, hex[STORE_DIGEST_HEX];
	struct store *s = NULL, *other = NULL;
	struct store_digest d;
	int i, nargs = 0, nrest = 1, rc;
	uint64_t a, b;

	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return 1;
	rest[0] = argv[0];
	/* split positional words from options (every option takes a value except --help) */
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] == '-' && strcmp(argv[i], "--help")) {
			rest[nrest++] = argv[i];
			if (!strchr(argv[i], '=') && i + 1 < argc)
				rest[nrest++] = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			rest[nrest++] = argv[i];
		} else if (nargs < 3) {
			args[nargs++] = argv[i];
		} else {
			rc = cli_usage_error(usage, "too many arguments");
			goto out;
		}
	}
	rc = parse(nrest, rest, &o);
	if (rc) {
		rc = rc > 0 ? 0 : 2;
		goto out;
	}
	rc = 2;
	if (!args[0]) {
		cli_usage_error(usage, "which command?");
		goto out;
	}
	if (!o.token)
		o.token = getenv("THAW_STORE_TOKEN");
	rc = 1;
	if (cli_default(&o.store, "THAW_STORE", CONFIG_STORE) ||
	    cli_default(&o.cache, NULL, CONFIG_CACHE) ||
	    cli_default(&o.key_file, NULL, CONFIG_KEY_FILE) ||
	    cli_default(&o.s3_endpoint, "THAW_S3_ENDPOINT", CONFIG_S3_ENDPOINT))
		goto out;
	if (!o.store || !*o.store) {
		default_store = home_path(".cache/thaw/store");
		o.store = default_store;
	}
	rc = 1;
	/* a store named by the user is made only by what writes into it: put, pull; push's --to */
	if (cli_store_location(o.store, !default_store && strcmp(args[0], "put") &&
						strcmp(args[0], "pull")) ||
	    cli_store_location(o.to, false) || cli_store_location(o.from, true))
		goto out;
	if (!strcmp(args[0], "put")) {
		if (!args[1] || !o.name || args[2])
			goto usage;
		if (open_store(&o, o.store, true, &s) || store_put_dir(s, args[1], o.name, &d))
			goto out;
		store_digest_hex(&d, hex);
		printf("%s %s\n", o.name, hex);
	} else if (!strcmp(args[0], "get")) {
		if (!args[1] || !o.dir || args[2])
			goto usage;
		if (open_store(&o, o.store, true, &s) || store_get_dir(s, args[1], o.dir))
			goto out;
	} else if (!strcmp(args[0], "ls") || !strcmp(args[0], "du")) {
		if (args[1])
			goto usage;
		if (open_store(&o, o.store, true, &s))
			goto out;
		rc = args[0][0] == 'l' ? do_ls(s) : do_du(s);
		goto out;
	} else if (!strcmp(args[0], "verify")) {
		if (args[2])
			goto usage;
		if (open_store(&o, o.store, true, &s) || (args[1] && store_name_get(s, args[1], &d)))
			goto out;
		if (store_verify(s, args[1], &a)) {
			cli_error("verify: %" PRIu64 " bad chunks or manifests", a);
			goto out;
		}
		printf("verified %s\n", args[1] ? args[1] : "every snapshot");
	} else if (!strcmp(args[0], "gc")) {
		if (args[1])
			goto usage;
		if (open_store(&o, o.store, true, &s) || store_gc(s, o.grace, &a, &b))
			goto out;
		printf("removed %" PRIu64 " objects, %" PRIu64 " bytes\n", a, b);
	} else if (!strcmp(args[0], "push") || !strcmp(args[0], "pull")) {
		bool push = args[0][1] == 'u' && args[0][2] == 's';
		const char *url = push ? o.to : o.from;

		if (!args[1] || args[2] || !url)
			goto usage;
		if (open_store(&o, o.store, true, &s) || open_store(&o, url, false, &other))
			goto out;
		if (push ? store_copy(s, other, args[1]) : store_copy(other, s, args[1]))
			goto out;
		printf("%s %s %s\n", push ? "pushed" : "pulled", args[1], url);
	} else {
		cli_usage_error(usage, "unknown command '%s'", args[0]);
		rc = 2;
		goto out;
	}
	rc = 0;
	goto out;
usage:
	rc = cli_usage_error(usage, "%s: wrong arguments", args[0]);
out:
	store_close(s);
	store_close(other);
	free(default_store);
	free(rest);
	return rc;
}
