/*
 * cmd-serve.c - thaw serve [options] -- CMD ARGS... ; thaw serve status.
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "serve/serve.h"

static void serve_usage(FILE *out)
{
	fprintf(out,
		"usage: thaw serve [--listen ADDR:PORT] [--admin ADDR:PORT] [--store DIR|URL]\n"
		"                  [--min-warm N] [--max-workers N] [--concurrency K]\n"
		"                  [--queue N] [--scaledown-window SECS] [--ready-path PATH]\n"
		"                  [--warmup PATH]... [--warmup-count N] [--port PORT]\n"
		"                  [--no-snapshot] [--json-events FILE] ... -- CMD [ARGS...]\n"
		"       thaw serve status [--admin ADDR:PORT] [--json]\n"
		"\n"
		"An HTTP gateway in front of workers: CMD is an HTTP server listening on $PORT.\n"
		"The first worker starts cold under thaw run and is snapshotted once its ready\n"
		"path answers 2xx (after the warm-up requests); every later worker is restored\n"
		"from that snapshot.  Each worker has its own network and PID namespace.\n"
		"\n"
		"Options:\n"
		"  --listen ADDR:PORT      clients (default 127.0.0.1:8080)\n"
		"  --admin ADDR:PORT       /metrics, /healthz, /status (default 127.0.0.1:9090;\n"
		"                          'none': off)\n"
		"  --store DIR|URL         the workers' store, as for thaw run\n"
		"  --chunk-store           make a new --store DIR a chunk store (thaw run)\n"
		"  --cache DIR             the local cache in front of a URL store (thaw run)\n"
		"  --key-file F            encrypt a chunk store's chunks with the key in F\n"
		"  --name NAME             the workers' snapshot name (default: from CMD)\n"
		"  --min-warm N            ready workers kept with no traffic (default 1; 0 scales\n"
		"                          to zero)\n"
		"  --max-workers N         at most N workers (default 4)\n"
		"  --concurrency K         requests in flight per worker (default 1)\n"
		"  --queue N               requests waiting for a worker; more get 503 (default 256)\n"
		"  --queue-timeout SECS    a request waiting longer gets 503 (default 30)\n"
		"  --scaledown-window SECS a worker idle this long is drained and stopped (default 60)\n"
		"  --start-timeout SECS    a worker not ready by then has failed (default 120)\n"
		"  --client-timeout SECS   a client silent this long is disconnected (default 30)\n"
		"  --header-timeout SECS   a request's head must be whole this long after its\n"
		"                          first byte, or the connection is closed (default 20;\n"
		"                          0: no limit)\n"
		"  --body-timeout SECS     a request body gets this long, plus a second for\n"
		"                          every --body-min-rate bytes received, or the\n"
		"                          connection is closed (default 20; 0: no limit) ...\n"
		"  --body-min-rate BYTES   ... (default 500; the time the worker takes to read\n"
		"                          it does not count)\n"
		"  --max-connections N     client connections at once (a thread each); more are\n"
		"                          closed when accepted (default 1024)\n"
		"  --drain-timeout SECS    SIGTERM: requests in flight get this long (default 30)\n"
		"  --max-header-bytes N    a request header beyond about N bytes is 431 (default\n"
		"                          32768)\n"
		"  --ready-path PATH       answers 2xx once a worker is ready (default /)\n"
		"  --warmup PATH           requested before the snapshot (repeatable) ...\n"
		"  --warmup-count N        ... each N times (default 1)\n"
		"  --port PORT             the port CMD listens on, given as $PORT (default $PORT\n"
		"                          or 8000)\n"
		"  --no-snapshot           every worker starts cold\n"
		"  --json-events FILE      append serve's and its workers' events as JSON lines\n"
		"  --json                  status: print the admin endpoint's /status as JSON\n"
		"  --help                  show this help\n"
		"\n"
		"Exit status:\n"
		"  0 stopped by SIGTERM/SIGINT after draining; 1 it could not start (the address\n"
		"  is in use, a library is missing); 2 usage error.  status: 0, or 1 when the\n"
		"  admin endpoint does not answer.\n");
}

static bool addr_valid(const char *addr)
{
	struct sockaddr_storage ss;
	uint16_t port;

	return serve_parse_addr(addr, &ss, &port) == 0;
}

static double seconds(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	return (end == s || *end || !isfinite(v) || v < 0 || v > 1e6) ? -1 : v;
}

static long count(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return (end == s || *end || v < min || v > max) ? -1 : v;
}

static int cmd_serve_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *admin = "127.0.0.1:9090";
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "a:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			admin = optarg;
			if (!addr_valid(admin))
				return cli_usage_error(serve_usage, "--admin: not an ADDR:PORT: %s", optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			return cli_usage_error(serve_usage, NULL);
		}
	}
	return serve_status(admin, json, stdout);
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "admin", required_argument, NULL, 'a' },
		{ "store", required_argument, NULL, 's' },
		{ "chunk-store", no_argument, NULL, 'K' },
		{ "cache", required_argument, NULL, 'c' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "min-warm", required_argument, NULL, 'm' },
		{ "max-workers", required_argument, NULL, 'M' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "queue", required_argument, NULL, 'q' },
		{ "queue-timeout", required_argument, NULL, 'Q' },
		{ "scaledown-window", required_argument, NULL, 'w' },
		{ "start-timeout", required_argument, NULL, 'S' },
		{ "client-timeout", required_argument, NULL, 't' },
		{ "header-timeout", required_argument, NULL, 'T' },
		{ "body-timeout", required_argument, NULL, 'B' },
		{ "body-min-rate", required_argument, NULL, 'R' },
		{ "max-connections", required_argument, NULL, 'X' },
		{ "drain-timeout", required_argument, NULL, 'd' },
		{ "max-header-bytes", required_argument, NULL, 'H' },
		{ "ready-path", required_argument, NULL, 'r' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "warmup-count", required_argument, NULL, 'N' },
		{ "port", required_argument, NULL, 'p' },
		{ "no-snapshot", no_argument, NULL, 'x' },
		{ "json-events", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct serve_opts o = {
		.listen = "127.0.0.1:8080",
		.admin = "127.0.0.1:9090",
		.min_warm = 1,
		.max_workers = 4,
		.concurrency = 1,
		.queue_max = 256,
		.scaledown_s = 60,
		.start_timeout_s = 120,
		.queue_timeout_s = 30,
		.client_timeout_s = 30,
		.header_timeout_s = 20,
		.body_timeout_s = 20,
		.body_min_rate = 500,
		.max_connections = 1024,
		.drain_timeout_s = 30,
		.max_header_bytes = 32768,
		.ready_path = "/",
		.warmup_count = 1,
		.port = 8000,
	};
	const char *warmups[16], *env = getenv("PORT");
	double v;
	long n;
	int c, status, idx = 0;

	if (argc > 1 && !strcmp(argv[1], "status"))
		return cmd_serve_status(argc - 1, argv + 1);
	if (env && count(env, 1, 65535) > 0)
		o.port = (int)count(env, 1, 65535);
	o.warmup = warmups;
	while ((c = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
		switch (c) {
		case 'l':
			o.listen = optarg;
			if (!addr_valid(o.listen))
				return cli_usage_error(serve_usage, "--listen: not an ADDR:PORT: %s", optarg);
			break;
		case 'a':
			o.admin = strcmp(optarg, "none") ? optarg : NULL;
			if (o.admin && !addr_valid(o.admin))
				return cli_usage_error(serve_usage, "--admin: not an ADDR:PORT: %s", optarg);
			break;
		case 's':
			o.store = optarg;
			break;
		case 'K':
			o.chunk_store = true;
			break;
		case 'c':
			o.cache = optarg;
			break;
		case 'k':
			o.key_file = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'x':
			o.no_snapshot = true;
			break;
		case 'j':
			o.json_events = optarg;
			break;
		case 'r':
		case 'W':
			if (optarg[0] != '/') {
				return cli_usage_error(serve_usage, "--%s: a path starts with /: %s",
						       longopts[idx].name, optarg);
			}
			if (c == 'r') {
				o.ready_path = optarg;
			} else if (o.nr_warmup == 16) {
				return cli_usage_error(serve_usage, "at most 16 --warmup paths");
			} else {
				warmups[o.nr_warmup++] = optarg;
			}
			break;
		case 'm':
		case 'M':
		case 'C':
		case 'q':
		case 'N':
		case 'p':
		case 'H':
		case 'R':
		case 'X':
			n = count(optarg, c == 'm' ? 0 : 1,
				  c == 'p'   ? 65535
				  : c == 'H' ? (1L << 24)
				  : c == 'R' ? (1L << 30)
					     : 100000);
			if (n < 0) {
				return cli_usage_error(serve_usage, "--%s: not a count in range: %s",
						       longopts[idx].name, optarg);
			}
			if (c == 'm')
				o.min_warm = (unsigned)n;
			else if (c == 'M')
				o.max_workers = (unsigned)n;
			else if (c == 'C')
				o.concurrency = (unsigned)n;
			else if (c == 'q')
				o.queue_max = (unsigned)n;
			else if (c == 'N')
				o.warmup_count = (unsigned)n;
			else if (c == 'p')
				o.port = (int)n;
			else if (c == 'R')
				o.body_min_rate = (double)n;
			else if (c == 'X')
				o.max_connections = (unsigned)n;
			else if (n < 4096) {
				return cli_usage_error(serve_usage, "--max-header-bytes: at least 4096");
			} else
				o.max_header_bytes = (size_t)n;
			break;
		case 'Q':
		case 'w':
		case 'S':
		case 't':
		case 'd':
		case 'T':
		case 'B':
			v = seconds(optarg);
			if (v < 0) {
				return cli_usage_error(serve_usage, "--%s: not a number of seconds: %s",
						       longopts[idx].name, optarg);
			}
			if (c == 'Q')
				o.queue_timeout_s = v;
			else if (c == 'w')
				o.scaledown_s = v;
			else if (c == 'S')
				o.start_timeout_s = v > 0 ? v : 1;
			else if (c == 't')
				o.client_timeout_s = v >= 1 ? (unsigned)v : 1;
			else if (c == 'T')
				o.header_timeout_s = v;
			else if (c == 'B')
				o.body_timeout_s = v;
			else
				o.drain_timeout_s = v;
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			return cli_usage_error(serve_usage, NULL);
		}
	}
	if (optind >= argc)
		return cli_usage_error(serve_usage, "what to serve? -- CMD [ARGS...]");
	if (o.min_warm > o.max_workers) {
		return cli_usage_error(serve_usage, "--min-warm %u is over --max-workers %u", o.min_warm,
			o.max_workers);
	}
	if (cli_store_location(o.store, false))
		return CLI_FAIL;
	o.argv = argv + optind;
	status = serve_run(&o);
	return status;
}
