/*
 * proxy.c - clients to workers: libmicrohttpd in front, libcurl behind.
 *
 * Client side: libmicrohttpd, a thread per connection (docs/serve.md says
 * why this library and this mode).  It parses requests (400 for a malformed
 * one, 431 when the header does not fit --max-header-bytes), keeps
 * connections alive, disconnects clients silent for --client-timeout, and
 * hands us the request body in pieces as it arrives.  The connection's
 * thread waits in the handler's first call for a worker slot (a bounded
 * queue: full is 503 with Retry-After; too long a wait is 503 too), then
 * passes the body's pieces on, then waits for the worker's status and
 * header, and answers with a response whose body a callback reads as the
 * worker sends it (chunked when the worker gave no length).
 *
 * Worker side: each ready worker has K slot threads, each with one libcurl
 * handle whose connection to the worker is kept alive between requests and
 * is opened inside the worker's network namespace (worker.c).  A slot runs
 * one request at a time: curl reads the request body from the request's
 * upload buffer and writes the response into its download buffer; both are
 * bounded, so a slow side slows the other instead of filling memory.
 *
 * Slow clients: libmicrohttpd only knows an idle timeout, which a client
 * sending a byte now and then never meets.  So every connection is also
 * watched by the main thread (proxy_watch, each tick): a request's head must
 * be whole within --header-timeout of its first byte (seen as the socket's
 * received-byte count growing), and its body must keep coming at
 * --body-min-rate after --body-timeout, counting only the time serve waits
 * for the client (not for the worker to read).  A client that falls behind
 * has its socket shut down: libmicrohttpd's thread wakes, closes it, and the
 * request, if it reached a worker, is cancelled as for a client gone.
 *
 * Cancellation: a client that goes away (libmicrohttpd reports it, or a
 * wait finds its socket hung up) sets the request's cancel flag; curl's
 * callbacks then abort the transfer, which closes that connection to the
 * worker, so the worker sees its request end.  A worker that fails before
 * its status line is a 502 whose body says which worker and why; after it,
 * the client's response is cut (its chunked body never ends), which is all
 * HTTP can say at that point.
 */
#define LOG_TAG "serve"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "base/log.h"
#include "mhd-dl.h"
#include "serve-internal.h"

#define BUF_SIZE 65536
/*
 * While the client still sends its body, libmicrohttpd does not send the
 * response: what a worker answers meanwhile (a streaming echo) is held
 * here, up to this much, so that the worker keeps reading the body.
 */
#define EARLY_RESPONSE_MAX (16u << 20)
#define WAIT_STEP_MS 200
#define MAX_RESP_HEADERS 128
#define MAX_RESP_HEADER_BYTES 65536
#define URI_MAX 8000 /* of a request target: perform()'s URL holds it whole */

enum preq_state { P_NEW, P_QUEUED, P_ASSIGNED, P_REPLIED };

/* Where a client connection is, for proxy_watch. */
enum conn_phase {
	C_IDLE, /* between requests: libmicrohttpd's idle timeout applies */
	C_HEAD, /* a request's head is coming: whole by head_deadline */
	C_BODY, /* its body is coming: at the minimum rate while we wait for the client */
	C_BUSY, /* the client waits for us (a worker, the queue, its answer) */
	C_CUT, /* shut down for being slow */
};

struct pconn {
	struct pconn *next, **pprev; /* under serve.conn_mu */
	int fd; /* our dup of the client's socket: shutdown() through it stays safe until closed */
	pthread_mutex_t lk;
	enum conn_phase phase;
	uint64_t rx_mark; /* bytes the socket had received when the last request ended */
	double head_deadline;
	double body_waiting_since; /* 0 while serve, not the client, holds the body up */
	double body_client_ms; /* time spent waiting for the client's body before that */
	uint64_t body_bytes;
};

struct bytes {
	char data[BUF_SIZE];
	size_t off, len;
};

struct preq {
	struct preq *next;
	struct serve *s;
	struct pconn *conn; /* NULL if not watched; used on libmicrohttpd's thread only */
	unsigned refs; /* atomic: libmicrohttpd's, the slot's, the response's */
	enum preq_state state; /* under serve.mu */
	struct worker *w;
	char *uri; /* as the client sent it, with its query */
	char method[32];
	int client_fd;
	double t0, deadline;
	struct curl_slist *req_headers;
	bool has_body, body_len_known;
	uint64_t body_len;
	bool handled; /* got past the first call: counted in the latency */
	bool slotted; /* wait_for_worker gave it to a worker (no answer of serve's) */
	/* under lk */
	pthread_mutex_t lk;
	pthread_cond_t cond;
	bool cancel, up_eof, headers_done, done, failed;
	bool body_read; /* curl has taken some of the body: the request reached a worker */
	long status;
	char *resp_headers[MAX_RESP_HEADERS];
	size_t nr_resp_headers, resp_header_bytes;
	bool has_length;
	uint64_t length;
	char err[256];
	struct bytes up;
	struct { /* grows past BUF_SIZE only while the body is still coming */
		char *data;
		size_t off, len, cap;
	} down;
};

/* An atomic flag once SIGTERM's drain is over: every wait gives up. */
static bool abort_all;

static void preq_get(struct preq *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_SEQ_CST);
}

static void preq_put(struct preq *r)
{
	size_t i;

	if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_SEQ_CST))
		return;
	free(r->uri);
	if (r->req_headers)
		curl_slist_free_all(r->req_headers);
	for (i = 0; i < r->nr_resp_headers; i++)
		free(r->resp_headers[i]);
	free(r->down.data);
	pthread_mutex_destroy(&r->lk);
	pthread_cond_destroy(&r->cond);
	free(r);
}

static bool cancelled(struct preq *r)
{
	return __atomic_load_n(&r->cancel, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&abort_all, __ATOMIC_SEQ_CST);
}

/* The client hung up (or reset): nobody will read what the worker sends. */
static bool client_gone(struct preq *r)
{
	struct pollfd p = { .fd = r->client_fd, .events = POLLRDHUP };

	if (r->client_fd < 0)
		return false;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void set_cancel(struct preq *r)
{
	__atomic_store_n(&r->cancel, true, __ATOMIC_SEQ_CST);
}

/* Under lk: waits a step; false once the request is cancelled or its client gone. */
static bool wait_step(struct preq *r)
{
	struct timespec ts;

	if (cancelled(r))
		return false;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += WAIT_STEP_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (pthread_cond_timedwait(&r->cond, &r->lk, &ts) == ETIMEDOUT && client_gone(r))
		set_cancel(r);
	return !cancelled(r);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text,
				  bool retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	if (retry_after)
		MHD_add_response_header(resp, "Retry-After", "1");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ------------------------------------------------------ slow clients */

/* Bytes the kernel has received on a TCP socket (0 if it cannot say). */
static uint64_t tcp_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return 0;
	return ti.tcpi_bytes_received;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct serve *s = cls;
	struct pconn *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!c)
			return;
		pthread_mutex_lock(&s->conn_mu);
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		pthread_mutex_unlock(&s->conn_mu);
		close(c->fd);
		pthread_mutex_destroy(&c->lk);
		free(c);
		*socket_context = NULL;
		__atomic_sub_fetch(&s->nr_conns, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&s->nr_conns, 1, __ATOMIC_RELAXED);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c = calloc(1, sizeof(*c));
	if (!c || !ci || (c->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		/* not watched: libmicrohttpd's idle timeout still applies */
		log_warn("client connection not watched for slow clients: %s",
			 c ? strerror(errno) : "out of memory");
		free(c);
		__atomic_sub_fetch(&s->nr_conns, 1, __ATOMIC_RELAXED);
		*socket_context = NULL;
		return;
	}
	pthread_mutex_init(&c->lk, NULL);
	pthread_mutex_lock(&s->conn_mu);
	c->next = s->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &s->conns;
	s->conns = c;
	pthread_mutex_unlock(&s->conn_mu);
	*socket_context = c;
}

static struct pconn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* A request's first line is in: its head runs from here, unless proxy_watch saw it start. */
static void conn_head(struct serve *s, struct pconn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lk);
	if (c->phase == C_IDLE) {
		c->phase = C_HEAD;
		c->head_deadline = now_ms() + s->o->header_timeout_s * 1000;
	}
	pthread_mutex_unlock(&c->lk);
}

/* The head is whole (false: proxy_watch has cut it meanwhile). */
static bool conn_busy(struct pconn *c)
{
	bool ok = true;

	if (!c)
		return true;
	pthread_mutex_lock(&c->lk);
	if (c->phase == C_CUT)
		ok = false;
	else
		c->phase = C_BUSY;
	pthread_mutex_unlock(&c->lk);
	return ok;
}

/* The body starts to come, or comes on after serve passed a piece on (bytes of it). */
static void conn_body_wait(struct pconn *c, uint64_t bytes, bool start)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lk);
	if (c->phase != C_CUT) {
		if (start) {
			c->phase = C_BODY;
			c->body_client_ms = 0;
			c->body_bytes = 0;
		}
		c->body_bytes += bytes;
		c->body_waiting_since = now_ms();
	}
	pthread_mutex_unlock(&c->lk);
}

/* serve has a piece of the body: the client is not what we wait for now. */
static void conn_body_hold(struct pconn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lk);
	if (c->phase == C_BODY && c->body_waiting_since > 0) {
		c->body_client_ms += now_ms() - c->body_waiting_since;
		c->body_waiting_since = 0;
	}
	pthread_mutex_unlock(&c->lk);
}

/* A request is over: the connection is idle until the socket receives more. */
static void conn_idle(struct pconn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lk);
	if (c->phase != C_CUT) {
		c->phase = C_IDLE;
		c->rx_mark = tcp_received(c->fd);
	}
	pthread_mutex_unlock(&c->lk);
}

void proxy_watch(struct serve *s)
{
	const struct serve_opts *o = s->o;
	double now = now_ms();
	struct pconn *c;

	pthread_mutex_lock(&s->conn_mu);
	for (c = s->conns; c; c = c->next) {
		uint64_t *cut = NULL;

		pthread_mutex_lock(&c->lk);
		if (c->phase == C_IDLE && tcp_received(c->fd) > c->rx_mark) {
			c->phase = C_HEAD;
			c->head_deadline = now + o->header_timeout_s * 1000;
		}
		if (c->phase == C_HEAD && o->header_timeout_s > 0 && now > c->head_deadline) {
			cut = &s->cut_header;
		} else if (c->phase == C_BODY && o->body_timeout_s > 0 && c->body_waiting_since > 0) {
			double waited = c->body_client_ms + now - c->body_waiting_since;
			double allowed = o->body_timeout_s * 1000 +
					 (double)c->body_bytes * 1000 / o->body_min_rate;

			if (waited > allowed)
				cut = &s->cut_body;
		}
		if (cut) {
			/* libmicrohttpd's thread reads EOF, closes it, and cancels the request */
			c->phase = C_CUT;
			shutdown(c->fd, SHUT_RDWR);
			__atomic_add_fetch(cut, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&c->lk);
	}
	pthread_mutex_unlock(&s->conn_mu);
}

/* ------------------------------------------------------ the queue */

static void queue_remove(struct serve *s, struct preq *r)
{
	struct preq **pp;

	for (pp = &s->q_head; *pp; pp = &(*pp)->next) {
		if (*pp != r)
			continue;
		*pp = r->next;
		if (s->q_tail == r) {
			struct preq *t = s->q_head;

			while (t && t->next)
				t = t->next;
			s->q_tail = t;
		}
		r->next = NULL;
		s->queued--;
		return;
	}
}

void proxy_dispatch(struct serve *s)
{
	bool any = false;

	while (s->q_head) {
		struct worker *w, *best = NULL;
		struct preq *r;

		for (w = s->workers; w; w = w->next)
			if (w->state == W_READY && w->inflight < s->o->concurrency &&
			    (!best || w->inflight < best->inflight))
				best = w;
		if (!best)
			break;
		r = s->q_head;
		s->q_head = r->next;
		if (!s->q_head)
			s->q_tail = NULL;
		s->queued--;
		r->next = NULL;
		r->w = best;
		r->state = P_ASSIGNED;
		best->inflight++;
		preq_get(r); /* the slot's */
		if (best->work_tail)
			best->work_tail->next = r;
		else
			best->work_head = r;
		best->work_tail = r;
		pthread_cond_signal(&best->cond);
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&s->qcond);
}

/* Under mu: r, given to w but never sent to it, goes back to the front of the queue. */
static void requeue(struct serve *s, struct worker *w, struct preq *r)
{
	w->inflight--;
	r->w = NULL;
	r->state = P_QUEUED;
	r->next = s->q_head;
	s->q_head = r;
	if (!s->q_tail)
		s->q_tail = r;
	s->queued++;
	preq_put(r); /* the slot's */
}

void proxy_worker_gone(struct serve *s, struct worker *w)
{
	struct preq *r;

	/* assigned but never sent: they go back to the front of the queue */
	while ((r = w->work_head)) {
		w->work_head = r->next;
		requeue(s, w, r);
	}
	w->work_tail = NULL;
	proxy_dispatch(s);
}

void proxy_expire(struct serve *s)
{
	pthread_cond_broadcast(&s->qcond);
}

void proxy_cancel_all(struct serve *s)
{
	__atomic_store_n(&abort_all, true, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&s->qcond);
}

/* The first call: a slot, or an answer of our own (503). */
static enum MHD_Result wait_for_worker(struct serve *s, struct preq *r, struct MHD_Connection *conn)
{
	char msg[1024];

	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		return reply_text(conn, 503, "thaw serve: shutting down\n", true);
	}
	if (s->queued >= s->o->queue_max) {
		s->rejected_full++;
		pthread_mutex_unlock(&s->mu);
		snprintf(msg, sizeof(msg), "thaw serve: overloaded: %u requests already wait\n",
			 s->o->queue_max);
		return reply_text(conn, 503, msg, true);
	}
	r->state = P_QUEUED;
	r->deadline = now_ms() + s->o->queue_timeout_s * 1000;
	if (s->q_tail)
		s->q_tail->next = r;
	else
		s->q_head = r;
	s->q_tail = r;
	s->queued++;
	proxy_dispatch(s);
	while (r->state == P_QUEUED) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WAIT_STEP_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->qcond, &s->mu, &ts);
		if (r->state != P_QUEUED)
			break;
		if (s->stopping || abort_all) {
			queue_remove(s, r);
			pthread_mutex_unlock(&s->mu);
			return reply_text(conn, 503, "thaw serve: shutting down\n", true);
		}
		if (now_ms() > r->deadline) {
			queue_remove(s, r);
			s->rejected_timeout++;
			snprintf(msg, sizeof(msg),
				 "thaw serve: no worker was free within %g s%s%s\n",
				 s->o->queue_timeout_s, s->last_error[0] ? "; last error: " : "",
				 s->last_error);
			pthread_mutex_unlock(&s->mu);
			return reply_text(conn, 503, msg, true);
		}
		if (client_gone(r)) {
			queue_remove(s, r);
			s->cancelled++;
			pthread_mutex_unlock(&s->mu);
			return MHD_NO;
		}
	}
	r->slotted = true;
	pthread_mutex_unlock(&s->mu);
	return MHD_YES;
}

/* ------------------------------------------------------- the worker's side */

static size_t read_body(char *buf, size_t size, size_t nitems, void *arg)
{
	struct preq *r = arg;
	size_t want = size * nitems, n;

	pthread_mutex_lock(&r->lk);
	while (!r->up.len && !r->up_eof)
		if (!wait_step(r)) {
			pthread_mutex_unlock(&r->lk);
			return CURL_READFUNC_ABORT;
		}
	n = r->up.len < want ? r->up.len : want;
	r->body_read = true;
	memcpy(buf, r->up.data + r->up.off, n);
	r->up.off += n;
	r->up.len -= n;
	if (!r->up.len)
		r->up.off = 0;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lk);
	return n;
}

static bool hop_by_hop(const char *name, size_t len)
{
	static const char *const names[] = { "connection", "keep-alive", "transfer-encoding",
					      "content-length", "te", "trailer", "upgrade",
					      "proxy-connection", "proxy-authenticate" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && !strncasecmp(name, names[i], len))
			return true;
	return false;
}

/* curl has parsed the worker's status line and header; we keep each field as it came. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct preq *r = arg;
	size_t len = size * nitems, name_len;
	const char *colon;

	pthread_mutex_lock(&r->lk);
	if (r->headers_done) /* trailers */
		goto out;
	if (len >= 5 && !memcmp(buf, "HTTP/", 5)) {
		/* a new response (after 100 Continue): forget the last one's fields */
		while (r->nr_resp_headers)
			free(r->resp_headers[--r->nr_resp_headers]);
		r->resp_header_bytes = 0;
		r->has_length = false;
		goto out;
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (!len) /* the header's end: on_header_slot publishes it */
		goto out;
	colon = memchr(buf, ':', len);
	if (!colon || colon == buf)
		goto out;
	name_len = (size_t)(colon - buf);
	if (name_len == 14 && !strncasecmp(buf, "content-length", 14)) {
		char num[32], *end;
		size_t vlen = len - name_len - 1;
		const char *v = colon + 1;

		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		if (vlen && vlen < sizeof(num)) {
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			r->length = strtoull(num, &end, 10);
			r->has_length = *end == '\0' && num[0] >= '0' && num[0] <= '9';
		}
	}
	if (hop_by_hop(buf, name_len))
		goto out;
	if (r->nr_resp_headers == MAX_RESP_HEADERS ||
	    r->resp_header_bytes + len > MAX_RESP_HEADER_BYTES) {
		snprintf(r->err, sizeof(r->err), "its response header is over %d fields or %d bytes",
			 MAX_RESP_HEADERS, MAX_RESP_HEADER_BYTES);
		pthread_mutex_unlock(&r->lk);
		return 0; /* curl aborts the transfer */
	}
	r->resp_headers[r->nr_resp_headers] = strndup(buf, len);
	if (r->resp_headers[r->nr_resp_headers]) {
		r->nr_resp_headers++;
		r->resp_header_bytes += len;
	}
out:
	pthread_mutex_unlock(&r->lk);
	return size * nitems;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct preq *r = arg;
	size_t total = size * nmemb, done = 0;

	pthread_mutex_lock(&r->lk);
	while (done < total) {
		size_t room, n, limit;

		while (r->down.len >= (r->up_eof ? BUF_SIZE : EARLY_RESPONSE_MAX))
			if (!wait_step(r)) {
				pthread_mutex_unlock(&r->lk);
				return 0; /* curl aborts: the worker's connection is closed */
			}
		limit = r->up_eof ? BUF_SIZE : EARLY_RESPONSE_MAX;
		n = total - done;
		if (n > limit - r->down.len)
			n = limit - r->down.len;
		if (r->down.off && r->down.off + r->down.len + n > r->down.cap) {
			memmove(r->down.data, r->down.data + r->down.off, r->down.len);
			r->down.off = 0;
		}
		if (r->down.len + n > r->down.cap) {
			size_t cap = r->down.cap ? r->down.cap : BUF_SIZE;
			char *grown;

			while (cap < r->down.len + n)
				cap *= 2;
			grown = realloc(r->down.data, cap);
			if (!grown) {
				snprintf(r->err, sizeof(r->err), "out of memory");
				pthread_mutex_unlock(&r->lk);
				return 0;
			}
			r->down.data = grown;
			r->down.cap = cap;
		}
		room = r->down.cap - r->down.off - r->down.len;
		if (n > room)
			n = room;
		memcpy(r->down.data + r->down.off + r->down.len, buf + done, n);
		r->down.len += n;
		done += n;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lk);
	return total;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return cancelled(arg) ? 1 : 0;
}

/* The status is known once curl has the header's end: it asks curl on the slot's thread. */
static void headers_complete(struct preq *r, CURL *c)
{
	long code = 0;

	pthread_mutex_lock(&r->lk);
	if (!r->headers_done && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
	    code >= 200) {
		r->status = code;
		r->headers_done = true;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lk);
}

struct slot_ctx {
	struct preq *r;
	CURL *c;
};

/* Wraps on_header: at the blank line that ends a final response's header, publish it. */
static size_t on_header_slot(char *buf, size_t size, size_t nitems, void *arg)
{
	struct slot_ctx *x = arg;
	size_t len = size * nitems;
	size_t ret = on_header(buf, size, nitems, x->r);

	if (ret && (len == 2 || len == 1) && (buf[0] == '\r' || buf[0] == '\n'))
		headers_complete(x->r, x->c);
	return ret;
}

static size_t on_body_slot(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct slot_ctx *x = arg;

	headers_complete(x->r, x->c); /* a header without a blank line seen: it is over now */
	return on_body(buf, size, nmemb, x->r);
}

/*
 * Runs one request at the worker.  Returns false when the worker could not
 * even be connected to (it died, or no longer listens): nothing of the
 * request reached it, so the caller gives it to another worker.
 */
static bool perform(struct serve *s, struct worker *w, CURL *c, struct preq *r)
{
	struct slot_ctx x = { r, c };
	char url[sizeof("http://127.0.0.1:65535") + URI_MAX];
	CURLcode rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->o->port, r->uri);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
			 strcmp(r->method, "GET") && strcmp(r->method, "HEAD") ? r->method : NULL);
	curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(r->method, "HEAD") ? 0L : 1L);
	if (r->has_body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 r->body_len_known ? (curl_off_t)r->body_len : (curl_off_t)-1);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->req_headers);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header_slot);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_slot);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_HTTP_TRANSFER_DECODING, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 16384L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		headers_complete(r, c);
	pthread_mutex_lock(&r->lk);
	if (rc == CURLE_COULDNT_CONNECT && !r->headers_done && !r->body_read && !cancelled(r)) {
		pthread_mutex_unlock(&r->lk);
		log_warn("worker %u: cannot connect to it (%s); %s %s goes to another", w->id,
			 curl_easy_strerror(rc), r->method, r->uri);
		return false;
	}
	r->done = true;
	if (rc != CURLE_OK) {
		r->failed = true;
		if (!r->err[0])
			snprintf(r->err, sizeof(r->err), "%s", curl_easy_strerror(rc));
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lk);
	if (rc != CURLE_OK && !cancelled(r))
		log_warn("worker %u: %s %s: %s", w->id, r->method, r->uri, r->err);
	return true;
}

void worker_curl_setup(struct worker *w, CURL *c);

static void *slot_main(void *arg)
{
	struct worker *w = arg;
	struct serve *s = w->s;
	CURL *c = curl_easy_init();

	if (c)
		worker_curl_setup(w, c);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct preq *r;

		while (!w->work_head && (w->state == W_READY || w->state == W_DRAINING))
			pthread_cond_wait(&w->cond, &s->mu);
		r = w->work_head;
		if (!r)
			break;
		w->work_head = r->next;
		if (!w->work_head)
			w->work_tail = NULL;
		r->next = NULL;
		pthread_mutex_unlock(&s->mu);
		if (c && !perform(s, w, c, r)) {
			pthread_mutex_lock(&s->mu);
			if (w->state == W_READY) {
				/* it takes no more; stopped (and replaced when needed) like an idle one */
				w->state = W_DRAINING;
				w->unreachable = true;
				serve_event(s, w, "worker_unreachable", NULL,
					    "cannot be connected to: drained and stopped");
			}
			requeue(s, w, r);
			proxy_dispatch(s);
			continue;
		} else if (!c) {
			pthread_mutex_lock(&r->lk);
			r->done = r->failed = true;
			snprintf(r->err, sizeof(r->err), "no curl handle");
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lk);
		}
		pthread_mutex_lock(&s->mu);
		if (r->failed && !r->cancel)
			s->bad_gateway++;
		w->inflight--;
		w->served++;
		if (!w->inflight)
			w->t_idle_since = now_ms();
		preq_put(r);
		proxy_dispatch(s);
	}
	worker_put(w);
	pthread_mutex_unlock(&s->mu);
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

int proxy_start_slots(struct serve *s, struct worker *w)
{
	pthread_attr_t attr;
	unsigned i;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (i = 0; i < s->o->concurrency; i++) {
		w->nr_threads++;
		if (pthread_create(&t, &attr, slot_main, w)) {
			w->nr_threads--;
			pthread_attr_destroy(&attr);
			log_error("worker %u: no slot thread", w->id);
			return -EAGAIN;
		}
	}
	pthread_attr_destroy(&attr);
	return 0;
}

/* ------------------------------------------------------- the client's side */

static enum MHD_Result add_header(void *arg, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct preq *r = arg;
	struct curl_slist *l;
	char *line;

	(void)kind;
	if (hop_by_hop(key, strlen(key)) || !strcasecmp(key, "expect"))
		return MHD_YES;
	if (asprintf(&line, "%s: %s", key, value) < 0)
		return MHD_NO;
	l = curl_slist_append(r->req_headers, line);
	free(line);
	if (l)
		r->req_headers = l;
	return MHD_YES;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct serve *s = cls;
	struct preq *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->conn = conn_of(conn);
	conn_head(s, r->conn);
	r->s = s;
	r->refs = 1;
	r->uri = strdup(uri);
	r->client_fd = -1;
	r->t0 = now_ms();
	pthread_mutex_init(&r->lk, NULL);
	pthread_cond_init(&r->cond, NULL);
	pthread_mutex_lock(&s->mu);
	s->active++;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct serve *s = cls;
	struct preq *r = *con_cls;

	(void)conn;
	if (!r)
		return;
	*con_cls = NULL;
	conn_idle(r->conn);
	pthread_mutex_lock(&r->lk);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->done)
		set_cancel(r);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lk);
	pthread_mutex_lock(&s->mu);
	if (r->state == P_QUEUED)
		queue_remove(s, r);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->w)
		s->cancelled++;
	if (r->handled) {
		s->requests++;
		histogram_add(&s->latency_h, (now_ms() - r->t0) / 1000);
	}
	s->active--;
	pthread_cond_broadcast(&s->qcond);
	pthread_mutex_unlock(&s->mu);
	preq_put(r);
}

static ssize_t read_response(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct preq *r = cls;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&r->lk);
	for (;;) {
		if (r->down.len) {
			n = (ssize_t)(r->down.len < max ? r->down.len : max);
			memcpy(buf, r->down.data + r->down.off, (size_t)n);
			r->down.off += (size_t)n;
			r->down.len -= (size_t)n;
			if (!r->down.len)
				r->down.off = 0;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lk);
			__atomic_add_fetch(&r->s->bytes_out, (uint64_t)n, __ATOMIC_RELAXED);
			return n;
		}
		if (r->done) {
			n = r->failed ? MHD_CONTENT_READER_END_WITH_ERROR
				      : MHD_CONTENT_READER_END_OF_STREAM;
			break;
		}
		if (!wait_step(r)) {
			n = MHD_CONTENT_READER_END_WITH_ERROR;
			break;
		}
	}
	pthread_mutex_unlock(&r->lk);
	return n;
}

static void response_done(void *cls)
{
	preq_put(cls);
}

/* The body is all passed on: wait for the worker's header and answer with it. */
static enum MHD_Result reply(struct serve *s, struct preq *r, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char msg[512];
	size_t i;

	pthread_mutex_lock(&r->lk);
	r->up_eof = true;
	pthread_cond_broadcast(&r->cond);
	while (!r->headers_done && !r->done)
		if (!wait_step(r))
			break;
	if (!r->headers_done) {
		bool gone = cancelled(r);

		snprintf(msg, sizeof(msg),
			 "thaw serve: worker %u failed before it answered this request (%s); "
			 "a worker that died is replaced\n",
			 r->w ? r->w->id : 0, r->err[0] ? r->err : "no response");
		pthread_mutex_unlock(&r->lk);
		r->state = P_REPLIED;
		if (gone)
			return MHD_NO;
		return reply_text(conn, 502, msg, false);
	}
	preq_get(r); /* the response's */
	resp = MHD_create_response_from_callback(r->has_length ? r->length : MHD_SIZE_UNKNOWN,
						 16384, read_response, r, response_done);
	if (!resp) {
		pthread_mutex_unlock(&r->lk);
		preq_put(r);
		set_cancel(r);
		return MHD_NO;
	}
	for (i = 0; i < r->nr_resp_headers; i++) {
		char *f = r->resp_headers[i], *colon = strchr(f, ':');
		char *v;

		if (!colon)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		MHD_add_response_header(resp, f, v);
		*colon = ':';
	}
	pthread_mutex_unlock(&r->lk);
	r->state = P_REPLIED;
	pthread_mutex_lock(&s->mu);
	histogram_add(&s->ttfb_h, (now_ms() - r->t0) / 1000);
	pthread_mutex_unlock(&s->mu);
	ret = MHD_queue_response(conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * A piece of the request body: into the upload buffer as room frees up.
 * libmicrohttpd wants each piece taken whole (it would not call again for
 * the rest of what it has already read), so this waits for the slot to
 * make room as often as it takes.
 */
static enum MHD_Result pass_body(struct preq *r, const char *data, size_t *size)
{
	size_t room, n, given = *size;

	conn_body_hold(r->conn);
	pthread_mutex_lock(&r->lk);
	while (*size) {
		while (r->up.len == BUF_SIZE && !r->done)
			if (!wait_step(r)) {
				pthread_mutex_unlock(&r->lk);
				return MHD_NO;
			}
		if (r->done) { /* the worker answered without reading it all: the rest is dropped */
			*size = 0;
			break;
		}
		if (r->up.off) {
			memmove(r->up.data, r->up.data + r->up.off, r->up.len);
			r->up.off = 0;
		}
		room = BUF_SIZE - r->up.len;
		n = *size < room ? *size : room;
		memcpy(r->up.data + r->up.len, data + (given - *size), n);
		r->up.len += n;
		*size -= n;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lk);
	conn_body_wait(r->conn, given, false);
	__atomic_add_fetch(&r->s->bytes_in, (uint64_t)given, __ATOMIC_RELAXED);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct serve *s = cls;
	struct preq *r = *con_cls;
	const union MHD_ConnectionInfo *ci;
	const char *cl, *te;

	(void)url;
	(void)version;
	if (!r || !r->uri)
		return MHD_NO;
	if (r->state == P_NEW) {
		enum MHD_Result ret;

		if (!conn_busy(r->conn))
			return MHD_NO; /* too slow a head: cut */
		snprintf(r->method, sizeof(r->method), "%s", method);
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		r->client_fd = ci ? ci->connect_fd : -1;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
		if (cl) {
			char *end;

			r->body_len = strtoull(cl, &end, 10);
			r->has_body = r->body_len_known = true;
		} else if (te) {
			r->has_body = true;
		}
		r->req_headers = curl_slist_append(NULL, "Expect:");
		if (!r->req_headers)
			return MHD_NO;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, r);
		r->handled = true;
		/*
		 * The worker's URL is http://127.0.0.1:PORT and then the target: a
		 * target that is not a path would name another host or port
		 * ("@127.0.0.1:1/", where nothing listens: the worker taken for
		 * unreachable and stopped), and one cut short another path.
		 */
		if (strlen(method) >= sizeof(r->method)) {
			/* cut, it would be another method at the worker */
			r->state = P_REPLIED;
			return reply_text(conn, 501, "thaw serve: the request method is too long\n",
					  false);
		}
		if (r->uri[0] != '/' || strlen(r->uri) > URI_MAX) {
			r->state = P_REPLIED;
			return reply_text(conn, r->uri[0] != '/' ? 400 : 414,
					  r->uri[0] != '/'
						  ? "thaw serve: the request target is not a path "
						    "(/...)\n"
						  : "thaw serve: the request target is too long\n",
					  false);
		}
		ret = wait_for_worker(s, r, conn);
		if (ret == MHD_YES && r->has_body && r->slotted)
			conn_body_wait(r->conn, 0, true);
		return ret;
	}
	if (r->state == P_REPLIED) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size)
		return pass_body(r, upload_data, upload_data_size);
	(void)conn_busy(r->conn);
	return reply(s, r, conn);
}

int serve_parse_addr(const char *text, struct sockaddr_storage *ss, uint16_t *port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[128];
	const char *colon = strrchr(text, ':');
	char *end;
	long p;

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 0 || p > 65535)
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	memset(ss, 0, sizeof(*ss));
	*port = (uint16_t)p;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(*port);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	in->sin_family = AF_INET;
	in->sin_port = htons(*port);
	if (!host[0])
		return 0;
	return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
}

struct MHD_Daemon *serve_listen(const char *addr, unsigned flags, MHD_AccessHandlerCallback h,
				void *cls, const struct MHD_OptionItem *extra);
struct MHD_Daemon *serve_listen(const char *addr, unsigned flags, MHD_AccessHandlerCallback h,
				void *cls, const struct MHD_OptionItem *extra)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	uint16_t port;

	if (serve_parse_addr(addr, &ss, &port) < 0) {
		log_error("not an ADDR:PORT: %s", addr);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
				     MHD_USE_ITC | MHD_USE_ERROR_LOG,
			     port, NULL, NULL, h, cls, MHD_OPTION_SOCK_ADDR, &ss,
			     MHD_OPTION_ARRAY, extra,
			     MHD_OPTION_END);
	if (!d)
		log_error("cannot listen on %s (in use? a bad address?)", addr);
	return d;
}

int proxy_start(struct serve *s)
{
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->o->client_timeout_s, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)s->o->max_header_bytes, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->max_connections, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s },
		{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s },
		{ MHD_OPTION_THREAD_STACK_SIZE, 256 << 10, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	s->front = serve_listen(s->o->listen, MHD_USE_THREAD_PER_CONNECTION, on_request, s, opts);
	return s->front ? 0 : -EADDRINUSE;
}

/* SIGTERM: libmicrohttpd hands the listening socket over; closed, it refuses new clients. */
void proxy_quiesce(struct serve *s)
{
	MHD_socket fd;

	if (!s->front)
		return;
	fd = MHD_quiesce_daemon(s->front);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void proxy_stop(struct serve *s)
{
	if (s->front)
		MHD_stop_daemon(s->front);
	s->front = NULL;
}
