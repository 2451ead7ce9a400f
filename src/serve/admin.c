/*
 * admin.c - what serve tells operators: /metrics, /healthz, /status.
 *
 * A second libmicrohttpd daemon on --admin (one polling thread: these are
 * small answers made under serve.mu).  /metrics is the Prometheus text
 * format; /healthz is 200 while serve takes requests (503 once it drains),
 * for an orchestrator's probes; /status is JSON, which `thaw serve status`
 * prints as a table.
 */
#define LOG_TAG "serve"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "base/log.h"
#include "mhd-dl.h"
#include "serve-internal.h"

const double histogram_bounds_s[NR_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
						0.25,  0.5,    1,     2.5,  5,     10,   30 };

void histogram_add(struct histogram *h, double seconds)
{
	size_t i;

	for (i = 0; i < NR_BUCKETS && seconds > histogram_bounds_s[i]; i++)
		;
	h->counts[i]++;
	h->sum += seconds;
	h->n++;
}

struct text {
	char *buf;
	size_t len;
	FILE *f;
};

static void histogram_print(FILE *f, const char *name, const char *help,
			    const struct histogram *h)
{
	uint64_t cum = 0;
	size_t i;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < NR_BUCKETS; i++) {
		cum += h->counts[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, histogram_bounds_s[i],
			(unsigned long long)cum);
	}
	cum += h->counts[NR_BUCKETS];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
		(unsigned long long)cum, name, h->sum, name, (unsigned long long)h->n);
}

/* A label value: backslash, quote and newline escaped, as the text format wants. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void metrics(struct serve *s, FILE *f)
{
	unsigned by_state[W_NR_STATES] = { 0 }, inflight = 0;
	struct worker *w;
	const char *reason;
	json_t *n;
	int i;

	for (w = s->workers; w; w = w->next) {
		by_state[w->state]++;
		inflight += w->inflight;
	}
	fprintf(f, "# HELP thaw_serve_workers Workers by state.\n# TYPE thaw_serve_workers gauge\n");
	for (i = 0; i < W_GONE; i++)
		fprintf(f, "thaw_serve_workers{state=\"%s\"} %u\n", worker_state_name(i),
			by_state[i]);
	fprintf(f, "# HELP thaw_serve_worker_starts_total Worker starts by kind (thaw run's).\n"
		   "# TYPE thaw_serve_worker_starts_total counter\n");
	for (i = START_COLD; i < START_NR_KINDS; i++)
		fprintf(f, "thaw_serve_worker_starts_total{kind=\"%s\"} %llu\n",
			start_kind_name(i), (unsigned long long)s->starts[i]);
	fprintf(f, "# HELP thaw_serve_fallbacks_total Cold starts where a snapshot was not "
		   "restored, by thaw run's reason.\n# TYPE thaw_serve_fallbacks_total counter\n");
	json_object_foreach(s->fallback_reasons, reason, n) {
		fprintf(f, "thaw_serve_fallbacks_total{reason=\"");
		label(f, reason);
		fprintf(f, "\"} %lld\n", (long long)json_integer_value(n));
	}
	fprintf(f, "# HELP thaw_serve_worker_failures_total Workers that did not become ready.\n"
		   "# TYPE thaw_serve_worker_failures_total counter\n"
		   "thaw_serve_worker_failures_total %llu\n",
		(unsigned long long)s->failures);
	histogram_print(f, "thaw_serve_restore_seconds", "thaw run's restore time per worker.",
			&s->restore_h);
	histogram_print(f, "thaw_serve_worker_ready_seconds",
			"From a worker's start to its ready path's first 2xx.", &s->ready_h);
	fprintf(f, "# HELP thaw_serve_queue_length Requests waiting for a worker.\n"
		   "# TYPE thaw_serve_queue_length gauge\nthaw_serve_queue_length %u\n"
		   "# HELP thaw_serve_requests_in_flight Requests at workers.\n"
		   "# TYPE thaw_serve_requests_in_flight gauge\nthaw_serve_requests_in_flight %u\n",
		s->queued, inflight);
	fprintf(f, "# HELP thaw_serve_requests_total Requests answered by a worker or by serve.\n"
		   "# TYPE thaw_serve_requests_total counter\nthaw_serve_requests_total %llu\n",
		(unsigned long long)s->requests);
	fprintf(f, "# HELP thaw_serve_rejected_total Requests answered 503 by serve.\n"
		   "# TYPE thaw_serve_rejected_total counter\n"
		   "thaw_serve_rejected_total{reason=\"queue_full\"} %llu\n"
		   "thaw_serve_rejected_total{reason=\"queue_timeout\"} %llu\n",
		(unsigned long long)s->rejected_full, (unsigned long long)s->rejected_timeout);
	fprintf(f, "# HELP thaw_serve_bad_gateway_total Requests a worker failed (502 or cut).\n"
		   "# TYPE thaw_serve_bad_gateway_total counter\nthaw_serve_bad_gateway_total %llu\n"
		   "# HELP thaw_serve_cancelled_total Requests whose client went away first.\n"
		   "# TYPE thaw_serve_cancelled_total counter\nthaw_serve_cancelled_total %llu\n",
		(unsigned long long)s->bad_gateway, (unsigned long long)s->cancelled);
	fprintf(f, "# HELP thaw_serve_connections Client connections open (at most "
		   "thaw_serve_connections_max; more are closed when accepted).\n"
		   "# TYPE thaw_serve_connections gauge\nthaw_serve_connections %u\n"
		   "# HELP thaw_serve_connections_max --max-connections as RLIMIT_NOFILE allows it.\n"
		   "# TYPE thaw_serve_connections_max gauge\nthaw_serve_connections_max %u\n"
		   "# HELP thaw_serve_slow_clients_total Connections closed for a request head or body "
		   "too slow.\n# TYPE thaw_serve_slow_clients_total counter\n"
		   "thaw_serve_slow_clients_total{phase=\"header\"} %llu\n"
		   "thaw_serve_slow_clients_total{phase=\"body\"} %llu\n",
		__atomic_load_n(&s->nr_conns, __ATOMIC_RELAXED), s->max_connections,
		(unsigned long long)__atomic_load_n(&s->cut_header, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&s->cut_body, __ATOMIC_RELAXED));
	histogram_print(f, "thaw_serve_request_seconds",
			"From a request's arrival to the end of its answer.", &s->latency_h);
	histogram_print(f, "thaw_serve_ttfb_seconds",
			"From a request's arrival to its answer's header.", &s->ttfb_h);
	fprintf(f, "# HELP thaw_serve_bytes_total Body bytes passed through.\n"
		   "# TYPE thaw_serve_bytes_total counter\n"
		   "thaw_serve_bytes_total{direction=\"in\"} %llu\n"
		   "thaw_serve_bytes_total{direction=\"out\"} %llu\n",
		(unsigned long long)__atomic_load_n(&s->bytes_in, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&s->bytes_out, __ATOMIC_RELAXED));
}

static json_t *status_json(struct serve *s)
{
	json_t *list = json_array();
	struct worker *w;
	double now = now_ms();

	for (w = s->workers; w; w = w->next) {
		if (w->state == W_GONE)
			continue;
		json_array_append_new(
			list, json_pack("{s:i, s:i, s:s, s:s, s:s, s:i, s:I, s:f, s:f}", "id",
					(int)w->id, "pid", (int)w->pid, "state",
					worker_state_name(w->state), "kind",
					start_kind_name(w->kind), "reason", w->reason, "inflight",
					(int)w->inflight, "served", (json_int_t)w->served,
					"age_s", (now - w->t_spawn) / 1000, "idle_s",
					w->state == W_READY && !w->inflight
						? (now - w->t_idle_since) / 1000
						: 0.0));
	}
	return json_pack("{s:o, s:i, s:i, s:i, s:i, s:b, s:s}", "workers", list, "queued",
			 (int)s->queued, "min_warm", (int)s->o->min_warm, "max_workers",
			 (int)s->o->max_workers, "concurrency", (int)s->o->concurrency, "stopping",
			 s->stopping, "last_error", s->last_error);
}

static enum MHD_Result on_admin(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version, const char *upload_data,
				size_t *upload_data_size, void **con_cls)
{
	struct serve *s = cls;
	struct MHD_Response *resp;
	const char *type = "text/plain; charset=utf-8";
	unsigned status = 200;
	enum MHD_Result ret;
	char *body = NULL;
	size_t len = 0;

	(void)version;
	(void)upload_data;
	if (!*con_cls) { /* the first call: the header only */
		*con_cls = (void *)1;
		return MHD_YES;
	}
	*upload_data_size = 0;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		body = strdup("GET only\n");
		status = 405;
	} else if (!strcmp(url, "/metrics")) {
		FILE *f = open_memstream(&body, &len);

		type = "text/plain; version=0.0.4; charset=utf-8";
		if (f) {
			pthread_mutex_lock(&s->mu);
			metrics(s, f);
			pthread_mutex_unlock(&s->mu);
			fclose(f);
		}
	} else if (!strcmp(url, "/healthz")) {
		pthread_mutex_lock(&s->mu);
		status = s->stopping ? 503 : 200;
		pthread_mutex_unlock(&s->mu);
		body = strdup(status == 200 ? "ok\n" : "draining\n");
	} else if (!strcmp(url, "/status")) {
		json_t *j;

		pthread_mutex_lock(&s->mu);
		j = status_json(s);
		pthread_mutex_unlock(&s->mu);
		body = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
		json_decref(j);
		type = "application/json";
	} else {
		body = strdup("not found: /metrics, /healthz, /status\n");
		status = 404;
	}
	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct MHD_Daemon *serve_listen(const char *addr, unsigned flags, MHD_AccessHandlerCallback h,
				void *cls, const struct MHD_OptionItem *extra);

int admin_start(struct serve *s)
{
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_TIMEOUT, 10, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (!s->o->admin)
		return 0;
	s->admin = serve_listen(s->o->admin, 0, on_admin, s, opts);
	return s->admin ? 0 : -EADDRINUSE;
}

void admin_stop(struct serve *s)
{
	if (s->admin)
		MHD_stop_daemon(s->admin);
	s->admin = NULL;
}

/* ------------------------------------------------------ thaw serve status */

static size_t collect(char *p, size_t size, size_t nmemb, void *arg)
{
	FILE *f = arg;

	return fwrite(p, size, nmemb, f);
}

int serve_status(const char *admin, bool json, FILE *out)
{
	char url[512], *body = NULL, err[CURL_ERROR_SIZE] = "";
	size_t len = 0, i;
	json_error_t jerr;
	json_t *j, *workers, *wk;
	FILE *f;
	CURL *c;
	CURLcode rc;
	long code = 0;

	if (curl_dl_load() < 0)
		return 1;
	snprintf(url, sizeof(url), "http://%s/status", admin);
	f = open_memstream(&body, &len);
	c = curl_easy_init();
	if (!f || !c) {
		if (f)
			fclose(f);
		free(body);
		return 1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	fclose(f);
	if (rc != CURLE_OK || code != 200) {
		log_error("%s: %s", url,
			rc != CURLE_OK ? (err[0] ? err : curl_easy_strerror(rc)) : "not 200");
		free(body);
		return 1;
	}
	if (json) {
		fprintf(out, "%s\n", body);
		free(body);
		return 0;
	}
	j = json_loadb(body, len, 0, &jerr);
	free(body);
	workers = json_object_get(j, "workers");
	if (!json_is_array(workers)) {
		log_error("%s: not a status answer", url);
		json_decref(j);
		return 1;
	}
	fprintf(out, "%-4s %-8s %-9s %-9s %-8s %-8s %-8s %-7s %s\n", "ID", "PID", "STATE", "KIND",
		"INFLIGHT", "SERVED", "AGE", "IDLE", "REASON");
	json_array_foreach(workers, i, wk) {
		fprintf(out, "%-4lld %-8lld %-9s %-9s %-8lld %-8lld %-8.1f %-7.1f %s\n",
			(long long)json_integer_value(json_object_get(wk, "id")),
			(long long)json_integer_value(json_object_get(wk, "pid")),
			json_string_value(json_object_get(wk, "state")) ?: "?",
			json_string_value(json_object_get(wk, "kind")) ?: "?",
			(long long)json_integer_value(json_object_get(wk, "inflight")),
			(long long)json_integer_value(json_object_get(wk, "served")),
			json_number_value(json_object_get(wk, "age_s")),
			json_number_value(json_object_get(wk, "idle_s")),
			json_string_value(json_object_get(wk, "reason")) ?: "");
	}
	fprintf(out, "queued %lld, workers %zu (min warm %lld, max %lld, %lld in flight each)%s\n",
		(long long)json_integer_value(json_object_get(j, "queued")),
		json_array_size(workers),
		(long long)json_integer_value(json_object_get(j, "min_warm")),
		(long long)json_integer_value(json_object_get(j, "max_workers")),
		(long long)json_integer_value(json_object_get(j, "concurrency")),
		json_is_true(json_object_get(j, "stopping")) ? ", draining" : "");
	json_decref(j);
	return 0;
}
