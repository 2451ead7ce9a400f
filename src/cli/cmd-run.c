/*
 * cmd-run.c - thaw run [options] -- CMD ARGS...
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime/runtime.h"
#include "store/store.h"

#define MAX_WARMUP_URLS 64

/* runtime_env_left_out, as an indented paragraph of the help text */
static void env_left_out_list(FILE *out)
{
	const char *const *v;
	int col = 0;

	for (v = runtime_env_left_out; *v; v++) {
		int n = (int)strlen(*v) + 1;

		if (col && col + n > 78 - 22) {
			fputc('\n', out);
			col = 0;
		}
		fprintf(out, "%*s%s", col ? 1 : 22, "", *v);
		col += n;
	}
	fputc('\n', out);
}

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: thaw run [--store DIR|URL [--chunk-store] [--cache DIR] [--key-file F]\n"
		"                [--chunk-size BYTES]]\n"
		"                [--name NAME] [--env-ignore VAR]... [--env-keep VAR]...\n"
		"                [--no-snapshot] [--verify-digest]\n"
		"                [--verify] [--lazy]\n"
		"                [--fixed-layout] [--root DIR[:PATH]]\n"
		"                [--image NAME[:PATH] [--image-store DIR|URL] [--image-keep S]]\n"
		"                [--json-events FILE] [--snap-on-stdout RE | --snap-on-port PORT |\n"
		"                --snap-on-http URL [--snap-delay S] [--warmup URL]] -- CMD [ARGS...]\n"
		"\n"
		"Runs CMD in its own PID namespace.  The first start runs it cold and snapshots\n"
		"it when it reaches its snapshot point (thaw.snapshot() / thaw_snapshot()); every\n"
		"later start with the same launch key restores that snapshot instead.  Anything\n"
		"that makes a restore untrustworthy (a changed argument, environment variable,\n"
		"working directory, executable, mapped file, CPU, kernel, GPU) is a cold start\n"
		"with the reason printed.  thaw run exits with CMD's status.\n"
		"\n"
		"Options:\n"
		"  --store DIR|URL     where snapshots live (default $THAW_STORE, the configuration\n"
		"                      files' store, else ~/.cache/thaw): a directory of plain\n"
		"                      snapshots, or the chunk store of thaw store/dump/restore:\n"
		"                      a URL, or a directory that is one\n"
		"  --chunk-store       make a new --store DIR a chunk store\n"
		"  --cache DIR         the local cache in front of a URL (default ~/.cache/thaw/chunks)\n"
		"  --key-file F        encrypt a chunk store's chunks with the key in F\n"
		"  --s3-endpoint URL   an s3://BUCKET/PREFIX store's server (default\n"
		"                      $THAW_S3_ENDPOINT, else AWS)\n"
		"  --s3-style STYLE    path or virtual addressing of an s3:// store\n"
		"  --store-netns PATH  reach a URL store from the network namespace PATH\n"
		"                      (/proc/PID/ns/net): thaw serve's workers run in\n"
		"                      namespaces that have only loopback\n"
		"  --chunk-size BYTES  average size of the chunks a snapshot is cut into (a power\n"
		"                      of two, 16 KiB to 4 MiB; default 262144): smaller ones\n"
		"                      dedup more between snapshots, at more chunks per restore\n"
		"  --fixed-layout      start CMD without address-space randomisation (and, unless\n"
		"                      PYTHONHASHSEED is set, with a hash seed of its launch key),\n"
		"                      so that its snapshots share their pages in a chunk store\n"
		"                      (part of the key)\n"
		"  --root DIR[:PATH]   run CMD with DIR as its root filesystem (a container's\n"
		"                      /proc, /dev, /sys, /tmp; pivot_root), or with DIR mounted\n"
		"                      at PATH beside the host's root, under an overlay whose\n"
		"                      writes are thrown away when CMD ends (part of the key)\n"
		"  --image NAME[:PATH] the same with the image NAME (thaw image push) as DIR,\n"
		"                      mounted lazily (its files are read from the store when\n"
		"                      first used); files are known by their content digests\n"
		"                      from its index, so a snapshot restores on any host that\n"
		"                      has the same image (part of the key)\n"
		"  --image-store DIR|URL  the image's store (default: --store, then\n"
		"                      $THAW_STORE, then ~/.cache/thaw/store)\n"
		"  --image-keep S      the image's mount (/run/thaw/images/) is shared by its\n"
		"                      runs, its page cache with it, and goes S seconds after\n"
		"                      the last one ends (default 600); 0: a mount of this\n"
		"                      run's own, gone with it\n"
		"  --name NAME         the snapshot's name (default: from the command)\n"
		"  --env-ignore VAR    leave VAR (a glob: 'CI_*') out of the launch key\n"
		"  --env-keep VAR      put VAR (a glob), one of the variables that differ from\n"
		"                      one start to the next by nature, back into the key;\n"
		"                      left out by default (a restored program keeps their\n"
		"                      values from the snapshot):\n");
	env_left_out_list(out);
	fprintf(out,
		"  --no-snapshot       neither restore nor snapshot: a plain start under thaw\n"
		"  --verify-digest     also check mapped and open files by SHA-256 content\n"
		"                      (slow for big programs; also THAW_VERIFY_DIGEST=1)\n"
		"  --verify            read a restored program back before it runs and compare it\n"
		"                      with its snapshot; a difference is a cold start that says\n"
		"                      what differs (also THAW_VERIFY=1)\n"
		"  --lazy              a restore serves private memory on first touch, from\n"
		"                      a chunk store with its chunks fetched on demand; the\n"
		"                      first records the pages touched, later ones copy them\n"
		"                      first (docs/lazy-restore.md)\n"
		"  --json-events FILE  append events as JSON lines to FILE (with the progress\n"
		"                      of its snapshots and restores)\n"
		"  --help              show this help\n"
		"\n"
		"  Snapshot points for a program that cannot be changed (it is not told):\n"
		"  --snap-on-stdout RE   the first line of CMD's stdout matching the ERE RE\n"
		"                        (CMD's stdout then goes through thaw run)\n"
		"  --snap-on-port PORT   CMD listens on TCP PORT\n"
		"  --snap-on-http URL    URL answers 2xx (polled every 50 ms)\n"
		"  --snap-timeout SECS   give up waiting for the condition (default 120)\n"
		"  --warmup URL          GET URL before the snapshot (repeatable: in order) ...\n"
		"  --warmup-count N      ... each N times (default 1)\n"
		"  --snap-delay SECS     wait after the condition and warm-up, then snapshot\n"
		"\n"
		"Exit status:\n"
		"  CMD's own status (128+N when killed by signal N); 1 thaw itself failed\n"
		"  before CMD could run; 2 usage error.\n");
}

/* Appends s to a growing list; -ENOMEM leaves it as it was. */
static int list_add(const char ***list, size_t *nr, const char *s)
{
	const char **grown = realloc(*list, (*nr + 1) * sizeof(**list));

	if (!grown)
		return -ENOMEM;
	grown[(*nr)++] = s;
	*list = grown;
	return 0;
}

/* A number of seconds, >= 0; -1 when it is not one. */
static double seconds(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	return (end == s || *end || !isfinite(v) || v < 0 || v > 1e6) ? -1 : v;
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "chunk-store", no_argument, NULL, 'K' },
		{ "cache", required_argument, NULL, 'c' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "s3-endpoint", required_argument, NULL, 'E' },
		{ "s3-style", required_argument, NULL, 'Y' },
		{ "store-netns", required_argument, NULL, 'G' },
		{ "fixed-layout", no_argument, NULL, 'F' },
		{ "root", required_argument, NULL, 'R' },
		{ "image", required_argument, NULL, 'I' },
		{ "image-store", required_argument, NULL, 'i' },
		{ "image-keep", required_argument, NULL, 'X' },
		{ "chunk-size", required_argument, NULL, 'Z' },
		{ "name", required_argument, NULL, 'n' },
		{ "env-ignore", required_argument, NULL, 'e' },
		{ "env-keep", required_argument, NULL, 'O' },
		{ "no-snapshot", no_argument, NULL, 'N' },
		{ "verify-digest", no_argument, NULL, 'V' },
		{ "verify", no_argument, NULL, 'v' },
		{ "lazy", no_argument, NULL, 'L' },
		{ "json-events", required_argument, NULL, 'j' },
		{ "snap-on-stdout", required_argument, NULL, 'S' },
		{ "snap-on-port", required_argument, NULL, 'P' },
		{ "snap-on-http", required_argument, NULL, 'H' },
		{ "snap-timeout", required_argument, NULL, 'T' },
		{ "snap-delay", required_argument, NULL, 'D' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "warmup-count", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct runtime_run_opts opts = { 0 };
	const char **ignore = NULL, **keep = NULL, *warmups[MAX_WARMUP_URLS];
	long port, count;
	bool count_given = false;
	char *end;
	int c, status;

	/* '+': stop at CMD, whose own options are its business */
	while ((c = getopt_long(argc, argv, "+s:Kc:k:E:Y:FR:Z:n:e:O:NVj:S:P:H:T:D:W:C:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opts.store.location = optarg;
			break;
		case 'K':
			opts.store.chunk_store = true;
			break;
		case 'c':
			opts.store.cache = optarg;
			break;
		case 'k':
			opts.store.key_file = optarg;
			break;
		case 'G':
			if (store_set_netns(optarg) < 0)
				return 1;
			break;
		case 'E':
			opts.store.s3_endpoint = optarg;
			break;
		case 'Y':
			opts.store.s3_style = optarg;
			break;
		case 'F':
			opts.fixed_layout = true;
			break;
		case 'R':
			opts.root = optarg;
			break;
		case 'I':
			opts.image = optarg;
			break;
		case 'i':
			opts.image_store = optarg;
			break;
		case 'X': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (!*optarg || *end || v > 86400 * 365) {
				status = cli_usage_error(run_usage, "--image-keep: want seconds, not %s",
							 optarg);
				goto out;
			}
			opts.image_keep_s = v ? (int)v : -1;
			break;
		}
		case 'Z': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);

			if (*end || v < (16u << 10) || v > (4u << 20) || (v & (v - 1))) {
				status = cli_usage_error(run_usage, "--chunk-size: want a power of two "
							 "from 16384 to 4194304 bytes, not %s", optarg);
				goto out;
			}
			opts.store.chunk_size = (size_t)v;
			break;
		}
		case 'n':
			opts.name = optarg;
			break;
		case 'e':
		case 'O':
			if (c == 'e' ? list_add(&ignore, &opts.nr_env_ignore, optarg)
				     : list_add(&keep, &opts.nr_env_keep, optarg)) {
				status = CLI_FAIL;
				goto out;
			}
			opts.env_ignore = ignore;
			opts.env_keep = keep;
			break;
		case 'N':
			opts.no_snapshot = true;
			break;
		case 'V':
			opts.verify_digest = true;
			break;
		case 'v':
			opts.verify = true;
			break;
		case 'L':
			opts.lazy = true;
			break;
		case 'j':
			opts.json_events = optarg;
			break;
		case 'S':
			opts.snap_on_stdout = optarg;
			break;
		case 'P':
			port = strtol(optarg, &end, 10);
			if (end == optarg || *end || port < 1 || port > 65535) {
				status = cli_usage_error(run_usage, "--snap-on-port: not a port: %s", optarg);
				goto out;
			}
			opts.snap_on_port = (int)port;
			break;
		case 'H':
			opts.snap_on_http = optarg;
			break;
		case 'T':
		case 'D':
			if (seconds(optarg) < 0) {
				status = cli_usage_error(run_usage, "--%s: not a number of seconds: %s",
							 c == 'T' ? "snap-timeout" : "snap-delay", optarg);
				goto out;
			}
			if (c == 'T')
				opts.snap_timeout_s = seconds(optarg);
			else
				opts.snap_delay_s = seconds(optarg);
			break;
		case 'W':
			if (opts.nr_warmup_urls == MAX_WARMUP_URLS) {
				status = cli_usage_error(run_usage, "at most %d --warmup URLs",
							 MAX_WARMUP_URLS);
				goto out;
			}
			warmups[opts.nr_warmup_urls++] = optarg;
			opts.warmup_urls = warmups;
			break;
		case 'C':
			count = strtol(optarg, &end, 10);
			if (end == optarg || *end || count < 0 || count > 1000000) {
				status = cli_usage_error(run_usage, "--warmup-count: not a count: %s", optarg);
				goto out;
			}
			opts.warmup_count = (unsigned)count;
			count_given = true;
			break;
		case 'h':
			run_usage(stdout);
			status = 0;
			goto out;
		default:
			status = cli_usage_error(run_usage, NULL);
			goto out;
		}
	}
	if (optind >= argc) {
		status = cli_usage_error(run_usage, "what to run? -- CMD [ARGS...]");
		goto out;
	}
	if (opts.nr_warmup_urls && !opts.snap_on_stdout && !opts.snap_on_port && !opts.snap_on_http) {
		status = cli_usage_error(run_usage, "--warmup needs a --snap-on-* condition");
		goto out;
	}
	if (opts.nr_warmup_urls && !count_given)
		opts.warmup_count = 1;
	if (opts.root && opts.image) {
		status = cli_usage_error(run_usage, "--root or --image, not both");
		goto out;
	}
	if ((opts.image_store || opts.image_keep_s) && !opts.image) {
		status = cli_usage_error(run_usage, "--image-store or --image-keep without --image");
		goto out;
	}
	opts.argv = argv + optind;
	/* the progress of its dumps and restores among its events */
	if (opts.json_events && cli_progress_json(opts.json_events)) {
		status = CLI_FAIL;
		goto out;
	}
	opts.verify = cli_verify_wanted(opts.verify);
	if (cli_store_defaults(&opts.store) || cli_store_location(opts.store.location, false) ||
	    cli_store_location(opts.image_store, true)) {
		status = CLI_FAIL;
		goto out;
	}
	if (runtime_run(&opts, &status) < 0 && status == 0)
		status = 1;
out:
	free(ignore);
	free(keep);
	return status;
}
