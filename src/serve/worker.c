/*
 * worker.c - one worker: `thaw run` in a network namespace of its own.
 *
 * serve forks, and the child, before anything else, asks to die with serve
 * (PR_SET_PDEATHSIG: the main thread forks, and it lives as long as serve),
 * unshares a new network namespace, brings its loopback up and execs the
 * thaw binary's `run` with --snap-on-http on the ready path, the warm-up
 * paths, and --json-events on a pipe whose other end serve reads.  So every
 * worker goes through thaw run's own code: the launch key, the restore, the
 * cold start with its reason when the restore cannot be trusted, and the
 * snapshot when the first cold start is ready.  thaw run's program lives in
 * a PID namespace of thaw run's (and dies with it: its init has a parent
 * death signal), so killing the thaw run process takes the whole worker
 * down, and with its last process the network namespace goes too.
 *
 * Many restored copies of one snapshot listen on the same address; each in
 * its own namespace, they never collide.  serve reaches one through sockets
 * it creates inside that namespace (worker_socket: setns() of the calling
 * thread there and back; a socket keeps the namespace it was created in).
 *
 * Only async-signal-safe calls happen between fork and exec: serve has
 * threads, and a lock one of them held at the fork stays held in the child.
 */
#define LOG_TAG "serve"
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "base/log.h"
#include "serve-internal.h"

#define PROBE_INTERVAL_US 50000
#define PROBE_TIMEOUT_MS 1000L
#define MAX_ARGS 64

static const char *const state_names[W_NR_STATES] = { "starting", "ready", "draining",
						      "stopping", "gone" };
static const char *const kind_names[START_NR_KINDS] = { "unknown", "cold", "restored",
							"fallback" };

const char *worker_state_name(enum worker_state st)
{
	return st < W_NR_STATES ? state_names[st] : "?";
}

const char *start_kind_name(enum start_kind k)
{
	return k < START_NR_KINDS ? kind_names[k] : "?";
}

void serve_event(struct serve *s, struct worker *w, const char *type, json_t *fields,
		 const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!fields)
		fields = json_object();
	if (w) {
		json_object_set_new(fields, "worker", json_integer(w->id));
		events_emit(&s->ev, type, fields, "serve: worker %u: %s", w->id, line);
	} else {
		events_emit(&s->ev, type, fields, "serve: %s", line);
	}
}

void serve_backoff(struct serve *s, const char *why)
{
	s->failures++;
	s->backoff_s = s->backoff_s > 0 ? s->backoff_s * 2 : 1;
	if (s->backoff_s > 60)
		s->backoff_s = 60;
	s->backoff_until = now_ms() + s->backoff_s * 1000;
	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
}

/* ------------------------------------------------------------ spawn */

/* In the child: only system calls from here to exec. */
static __attribute__((noreturn)) void child(pid_t serve_pid, int ev_w, char **argv)
{
	struct ifreq ifr;
	sigset_t none;
	int fd;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != serve_pid)
		_exit(127);
	if (unshare(CLONE_NEWNET))
		_exit(126);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
		_exit(126);
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		_exit(126);
	close(fd);
	/* the events pipe is thaw run's --json-events /proc/self/fd/N */
	if (fcntl(ev_w, F_SETFD, 0))
		_exit(126);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv("/proc/self/exe", argv);
	_exit(127);
}

#define ARG(x)                                 \
	do {                                   \
		if (n < MAX_ARGS - 1)          \
			argv[n++] = (char *)(x); \
	} while (0)

int worker_spawn(struct serve *s)
{
	const struct serve_opts *o = s->o;
	char evpath[64], ready[512], timeout[32], count[16], store_netns[64];
	char warm[16][512];
	char *argv[MAX_ARGS + 128];
	struct worker *w;
	int p[2], n = 0;
	size_t i;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return log_errno("events pipe for a worker");
	/* the read end non-blocking, the write end blocking: thaw run's writes are whole lines */
	fcntl(p[1], F_SETFL, 0);
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(p[0]);
		close(p[1]);
		return -ENOMEM;
	}
	snprintf(evpath, sizeof(evpath), "/proc/self/fd/%d", p[1]);
	snprintf(store_netns, sizeof(store_netns), "/proc/%d/ns/net", (int)s->pid);
	snprintf(ready, sizeof(ready), "http://127.0.0.1:%d%s", o->port, o->ready_path);
	snprintf(timeout, sizeof(timeout), "%g", o->start_timeout_s);
	snprintf(count, sizeof(count), "%u", o->warmup_count ? o->warmup_count : 1);
	ARG("thaw");
	ARG("run");
	/* a URL store is reached from serve's network namespace, not the worker's */
	ARG("--store-netns");
	ARG(store_netns);
	if (o->store) {
		ARG("--store");
		ARG(o->store);
	}
	if (o->chunk_store)
		ARG("--chunk-store");
	if (o->cache) {
		ARG("--cache");
		ARG(o->cache);
	}
	if (o->key_file) {
		ARG("--key-file");
		ARG(o->key_file);
	}
	if (o->name) {
		ARG("--name");
		ARG(o->name);
	}
	ARG("--json-events");
	ARG(evpath);
	if (o->no_snapshot) {
		ARG("--no-snapshot");
	} else {
		ARG("--snap-on-http");
		ARG(ready);
		ARG("--snap-timeout");
		ARG(timeout);
		for (i = 0; i < o->nr_warmup && i < 16; i++) {
			snprintf(warm[i], sizeof(warm[i]), "http://127.0.0.1:%d%s", o->port,
				 o->warmup[i]);
			ARG("--warmup");
			ARG(warm[i]);
		}
		if (o->nr_warmup) {
			ARG("--warmup-count");
			ARG(count);
		}
	}
	ARG("--");
	for (i = 0; o->argv[i] && i < 127; i++)
		argv[n++] = o->argv[i];
	argv[n] = NULL;

	pid = fork();
	if (pid < 0) {
		int err = log_errno("starting a worker: fork");

		close(p[0]);
		close(p[1]);
		free(w);
		return err;
	}
	if (pid == 0)
		child(s->pid, p[1], argv);
	close(p[1]);
	w->s = s;
	w->id = ++s->next_id;
	w->pid = pid;
	w->netns = -1;
	w->ev_fd = p[0];
	w->state = W_STARTING;
	w->t_spawn = now_ms();
	pthread_cond_init(&w->cond, NULL);
	w->next = s->workers;
	s->workers = w;
	serve_event(s, w, "worker_starting", json_pack("{s:i}", "pid", (int)pid),
		    "starting (thaw run, pid %d)", (int)pid);
	return 0;
}

/* ------------------------------------------------------------ sockets */

int worker_socket(struct worker *w, int family, int type, int protocol)
{
	int fd, saved;

	if (w->netns < 0)
		return -ENOENT;
	if (setns(w->netns, CLONE_NEWNET))
		return -errno;
	fd = socket(family, type | SOCK_CLOEXEC, protocol);
	saved = errno;
	/* this thread must not stay there: every other socket it opens would be the worker's */
	if (setns(w->s->own_netns, CLONE_NEWNET)) {
		log_error("cannot return to serve's network namespace: %s", strerror(errno));
		abort();
	}
	return fd < 0 ? -saved : fd;
}

static curl_socket_t open_in_worker(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	int fd;

	(void)purpose;
	fd = worker_socket(arg, a->family, a->socktype, a->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* For proxy.c: a curl handle whose connections go into w's namespace. */
void worker_curl_setup(struct worker *w, CURL *c);
void worker_curl_setup(struct worker *w, CURL *c)
{
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_in_worker);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, w);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
}

/* -------------------------------------------------------------- probe */

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

void worker_put(struct worker *w)
{
	w->nr_threads--;
}

/* Asks the ready path every 50 ms until 2xx (ready), or the worker leaves W_STARTING. */
static void *probe_main(void *arg)
{
	struct worker *w = arg;
	struct serve *s = w->s;
	char url[512];
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->o->port, s->o->ready_path);
	if (c) {
		worker_curl_setup(w, c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	}
	for (;;) {
		long code = 0;
		bool starting;

		pthread_mutex_lock(&s->mu);
		starting = w->state == W_STARTING && !s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (!starting || !c)
			break;
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code <= 299) {
			double ms;

			pthread_mutex_lock(&s->mu);
			if (w->state == W_STARTING) {
				w->state = W_READY;
				w->t_ready = w->t_idle_since = now_ms();
				ms = w->t_ready - w->t_spawn;
				histogram_add(&s->ready_h, ms / 1000);
				s->backoff_s = 0;
				serve_event(s, w, "worker_ready",
					    json_pack("{s:s, s:f}", "kind", start_kind_name(w->kind),
						      "ms", ms),
					    "ready (%s) %.0f ms after it was started",
					    start_kind_name(w->kind), ms);
				if (proxy_start_slots(s, w) < 0)
					kill(w->pid, SIGKILL);
				proxy_dispatch(s);
			}
			pthread_mutex_unlock(&s->mu);
			break;
		}
		usleep(PROBE_INTERVAL_US);
	}
	if (c)
		curl_easy_cleanup(c);
	pthread_mutex_lock(&s->mu);
	w->probing = false;
	worker_put(w);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Under mu: once thaw run has restored it, or its cold start has had its snapshot. */
static void start_probe(struct worker *w)
{
	pthread_attr_t attr;
	pthread_t t;

	if (w->probing || w->state != W_STARTING)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	w->nr_threads++;
	w->probing = true;
	if (pthread_create(&t, &attr, probe_main, w)) {
		w->nr_threads--;
		w->probing = false;
		log_error("worker %u: no probe thread", w->id);
	}
	pthread_attr_destroy(&attr);
}

/* ------------------------------------------------------------- events */

static void open_netns(struct worker *w)
{
	char path[64];

	if (w->netns >= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)w->pid);
	w->netns = open(path, O_RDONLY | O_CLOEXEC);
	if (w->netns < 0)
		log_warn("worker %u: %s: %s", w->id, path, strerror(errno));
}

/* One of thaw run's events: relayed with the worker's id, and acted on. */
static void handle_event(struct serve *s, struct worker *w, json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "event"));
	const char *reason = json_string_value(json_object_get(ev, "reason"));

	if (!type)
		return;
	json_object_set_new(ev, "worker", json_integer(w->id));
	/* thaw run's time_ms counts from its own start: kept, and serve's clock put beside */
	json_object_set(ev, "worker_time_ms", json_object_get(ev, "time_ms"));
	json_object_set_new(ev, "time_ms", json_real(now_ms() - s->ev.t0_ms));
	pthread_mutex_lock(&s->mu);
	events_write_json(&s->ev, ev);
	open_netns(w);
	if (!strcmp(type, "cold_start")) {
		bool first = !reason || !strcmp(reason, "no snapshot yet") ||
			     !strcmp(reason, "snapshots are off (--no-snapshot)");

		w->kind = first ? START_COLD : START_FALLBACK;
		snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "");
		s->starts[w->kind]++;
		if (!first) {
			json_t *n = json_object_get(s->fallback_reasons, w->reason);

			json_object_set_new(s->fallback_reasons, w->reason,
					    json_integer(n ? json_integer_value(n) + 1 : 1));
		}
		if (s->o->no_snapshot)
			start_probe(w);
	} else if (!strcmp(type, "restored")) {
		json_t *ms = json_object_get(ev, "restore_ms");

		w->kind = START_RESTORED;
		s->starts[START_RESTORED]++;
		s->have_snapshot = true;
		if (json_is_number(ms))
			histogram_add(&s->restore_h, json_number_value(ms) / 1000);
		start_probe(w);
	} else if (!strcmp(type, "snapshot_created")) {
		s->have_snapshot = s->snapshot_settled = true;
		start_probe(w);
	} else if (!strcmp(type, "snapshot_failed") || !strcmp(type, "snapshot_skipped")) {
		s->snapshot_settled = true;
		start_probe(w);
	}
	pthread_mutex_unlock(&s->mu);
}

void worker_read_events(struct serve *s, struct worker *w)
{
	char *nl;
	ssize_t n;

	for (;;) {
		n = read(w->ev_fd, w->evbuf + w->evlen, sizeof(w->evbuf) - 1 - w->evlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(w->ev_fd);
			w->ev_fd = -1;
			return;
		}
		w->evlen += (size_t)n;
		w->evbuf[w->evlen] = '\0';
		while ((nl = memchr(w->evbuf, '\n', w->evlen))) {
			json_error_t err;
			json_t *ev;

			*nl = '\0';
			ev = json_loads(w->evbuf, 0, &err);
			if (json_is_object(ev))
				handle_event(s, w, ev);
			else
				log_warn("worker %u: an event that is not JSON: %s", w->id,
					 err.text);
			json_decref(ev);
			w->evlen -= (size_t)(nl + 1 - w->evbuf);
			memmove(w->evbuf, nl + 1, w->evlen);
		}
		/* a line longer than the buffer is no event of thaw run's: dropped */
		if (w->evlen == sizeof(w->evbuf) - 1) {
			log_warn("worker %u: an event line over %zu bytes, dropped", w->id,
				 sizeof(w->evbuf));
			w->evlen = 0;
		}
	}
}

void worker_reaped(struct serve *s, struct worker *w, int status)
{
	enum worker_state was = w->state;
	int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	char why[256];

	w->state = W_GONE;
	w->exit_status = code;
	if (w->planned && !w->unreachable) {
		serve_event(s, w, "worker_stopped", json_pack("{s:i}", "status", code),
			    "stopped (status %d)", code);
	} else if (was == W_STARTING) {
		snprintf(why, sizeof(why), "worker %u exited with status %d before it was ready",
			 w->id, code);
		if (!w->failed)
			serve_backoff(s, why);
		w->failed = true;
		serve_event(s, w, "worker_failed",
			    json_pack("{s:i, s:s, s:f}", "status", code, "reason", why, "backoff_s",
				      s->backoff_s),
			    "%s; the next start waits %g s", why, s->backoff_s);
	} else {
		s->replacements++;
		serve_event(s, w, "worker_died", json_pack("{s:i}", "status", code),
			    "died (status %d) while %s; it is replaced", code,
			    worker_state_name(was));
	}
	proxy_worker_gone(s, w);
	pthread_cond_broadcast(&w->cond);
}
