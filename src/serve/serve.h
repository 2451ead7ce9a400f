/*
 * serve.h - thaw serve: an HTTP gateway in front of workers that scale out
 * by restore (docs/serve.md).
 *
 * Each worker is an unmodified HTTP server (CMD listening on $PORT) run by
 * `thaw run` in its own network and PID namespace: the first cold, and
 * snapshotted once its ready path answers; every later one restored from
 * that snapshot, with thaw run's launch key, fallback and events.  serve
 * proxies HTTP/1.1 to them (at most K requests in flight per worker, a
 * bounded queue in front), starts workers when the queue holds work, keeps
 * a warm buffer, and stops workers idle past the scale-down window.
 */
#ifndef THAW_SERVE_SERVE_H
#define THAW_SERVE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct serve_opts {
	const char *listen; /* ADDR:PORT for clients */
	const char *admin; /* ADDR:PORT for /metrics, /healthz, /status; NULL: none */
	const char *store; /* --store for thaw run; NULL: its default */
	bool chunk_store; /* --chunk-store for thaw run */
	const char *cache; /* --cache for thaw run */
	const char *key_file; /* --key-file for thaw run */
	const char *name; /* --name for thaw run */
	const char *json_events; /* serve's events and its workers', or NULL */
	bool no_snapshot; /* every worker starts cold */
	unsigned min_warm; /* ready workers kept with no traffic (0: scale to zero) */
	unsigned max_workers;
	unsigned concurrency; /* K: requests in flight per worker */
	unsigned queue_max; /* requests waiting for a worker; more get 503 */
	int port; /* the workers' port ($PORT for CMD) */
	double scaledown_s; /* a worker idle this long is drained and stopped */
	double start_timeout_s; /* a worker not ready by then has failed */
	double queue_timeout_s; /* a request waiting this long for a worker gets 503 */
	unsigned client_timeout_s; /* a client silent this long is disconnected */
	double header_timeout_s; /* a request's head must arrive within this of its first byte */
	double body_timeout_s; /* a request's body: this long, plus ... */
	double body_min_rate; /* ... a second per this many bytes received */
	unsigned max_connections; /* client connections at once; more are closed at accept */
	double drain_timeout_s; /* SIGTERM: requests in flight get this long */
	size_t max_header_bytes; /* a request's header beyond this is 431 */
	const char *ready_path; /* answers 2xx once a worker is ready */
	const char *const *warmup; /* paths requested before the snapshot */
	size_t nr_warmup;
	unsigned warmup_count; /* each that many times */
	char *const *argv; /* CMD, NULL-terminated */
};

/* Runs until SIGTERM/SIGINT; returns the exit status (0 after a clean drain). */
int serve_run(const struct serve_opts *o);

/* ADDR:PORT as --listen and --admin take it ([v6]:PORT, :PORT for any): 0, or -EINVAL. */
struct sockaddr_storage;
int serve_parse_addr(const char *text, struct sockaddr_storage *ss, uint16_t *port);

/* thaw serve status: the admin endpoint's /status as a table (or its JSON). */
int serve_status(const char *admin, bool json, FILE *out);

#endif
