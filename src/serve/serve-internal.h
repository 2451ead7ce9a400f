/*
 * serve-internal.h - what the files of thaw serve share.
 *
 *   serve.c   the main loop: signals, workers' exits and events, scaling
 *   worker.c  a worker: thaw run exec'd in a new network namespace, its
 *             events, the readiness probe, sockets opened in its namespace
 *   proxy.c   the client side (libmicrohttpd) and the worker side (libcurl)
 *   admin.c   /metrics, /healthz, /status, and `thaw serve status`
 *
 * Threads: the main thread forks workers, decides, and cuts slow clients
 * (proxy_watch); libmicrohttpd runs a thread per client connection; each
 * ready worker has K slot threads (one libcurl handle each, kept alive to
 * the worker) and, while it starts, a probe thread.  Everything shared is
 * under serve.mu, but the list of client connections is under conn_mu (each
 * connection's phase under its own lock); the bytes of one request move
 * between its connection thread and a slot thread under the request's own
 * lock (proxy.c).
 */
#ifndef THAW_SERVE_INTERNAL_H
#define THAW_SERVE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"
#include "serve.h"

enum worker_state {
	W_STARTING, /* thaw run runs; not yet answering its ready path */
	W_READY, /* takes requests */
	W_DRAINING, /* takes none; stopped once its last one is done */
	W_STOPPING, /* SIGTERM sent; SIGKILL at kill_at */
	W_GONE, /* exited (reaped); freed once no thread holds it */
	W_NR_STATES,
};

enum start_kind { START_UNKNOWN, START_COLD, START_RESTORED, START_FALLBACK, START_NR_KINDS };

struct preq;
struct pconn;

struct worker {
	struct worker *next;
	struct serve *s;
	unsigned id;
	pid_t pid; /* thaw run, our child, PID of its own network namespace's first process */
	int netns; /* its network namespace, opened at its first event; -1 before */
	int ev_fd; /* read end of thaw run's --json-events pipe; -1 at EOF */
	char evbuf[16384];
	size_t evlen;
	enum worker_state state;
	enum start_kind kind;
	char reason[256]; /* a cold start's, from thaw run */
	bool probing; /* the probe thread runs */
	bool failed; /* did not become ready: counted once */
	bool planned; /* we stopped it (scale-down, shutdown) */
	bool unreachable; /* could not be connected to: stopped, but counted as died */
	double t_spawn, t_ready, t_idle_since, kill_at;
	unsigned inflight; /* requests assigned to it, not yet finished */
	unsigned nr_threads; /* slot and probe threads holding it */
	uint64_t served;
	pthread_cond_t cond; /* slot threads wait for work */
	struct preq *work_head, *work_tail; /* assigned, not yet taken by a slot */
	int exit_status;
};

#define NR_BUCKETS 14
struct histogram {
	uint64_t counts[NR_BUCKETS + 1]; /* the last is +Inf */
	double sum;
	uint64_t n;
};
extern const double histogram_bounds_s[NR_BUCKETS];
void histogram_add(struct histogram *h, double seconds);

struct serve {
	const struct serve_opts *o;
	pthread_mutex_t mu;
	pthread_cond_t qcond; /* queued requests wait here for a worker */
	struct events ev;
	char self[4096]; /* the thaw binary */
	int own_netns; /* serve's network namespace, to come back after opening a socket */
	pid_t pid;
	struct worker *workers;
	unsigned next_id;
	struct preq *q_head, *q_tail; /* waiting for a worker */
	unsigned queued;
	unsigned active; /* client requests being handled, queued or not */
	bool stopping; /* SIGTERM: no new requests */
	bool have_snapshot; /* a worker was restored or snapshotted */
	bool snapshot_settled; /* the first cold start's snapshot attempt has ended */
	unsigned replacements; /* workers that died unplanned, to replace */
	double backoff_until, backoff_s;
	char last_error[512];
	/* metrics */
	uint64_t starts[START_NR_KINDS];
	json_t *fallback_reasons; /* reason -> count */
	uint64_t failures, requests, rejected_full, rejected_timeout, bad_gateway, cancelled;
	uint64_t bytes_in, bytes_out;
	struct histogram restore_h, latency_h, ttfb_h, ready_h;
	struct MHD_Daemon *front, *admin;
	/* client connections (proxy.c), watched for slow heads and bodies */
	pthread_mutex_t conn_mu;
	struct pconn *conns;
	unsigned max_connections; /* --max-connections, lowered to what RLIMIT_NOFILE allows */
	unsigned nr_conns; /* atomic */
	uint64_t cut_header, cut_body; /* atomic: slow clients cut */
};

/* worker.c */
int worker_spawn(struct serve *s); /* under mu */
void worker_read_events(struct serve *s, struct worker *w); /* main thread, not under mu */
void worker_reaped(struct serve *s, struct worker *w, int status); /* under mu */
void worker_put(struct worker *w); /* under mu: a thread lets go */
int worker_socket(struct worker *w, int family, int type, int protocol);
const char *worker_state_name(enum worker_state st);
const char *start_kind_name(enum start_kind k);
void serve_backoff(struct serve *s, const char *why); /* under mu */
void serve_event(struct serve *s, struct worker *w, const char *type, json_t *fields,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* proxy.c */
int proxy_start(struct serve *s);
void proxy_quiesce(struct serve *s);
void proxy_stop(struct serve *s);
void proxy_dispatch(struct serve *s); /* under mu: hands queued requests to free slots */
void proxy_expire(struct serve *s); /* under mu: queued too long or client gone */
int proxy_start_slots(struct serve *s, struct worker *w); /* under mu */
void proxy_cancel_all(struct serve *s); /* under mu */
void proxy_worker_gone(struct serve *s, struct worker *w); /* under mu: requeue its unsent work */
void proxy_watch(struct serve *s); /* main thread, not under mu: cuts slow clients */

/* admin.c */
int admin_start(struct serve *s);
void admin_stop(struct serve *s);

#endif
