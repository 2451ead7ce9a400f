/*
 * serve.c - thaw serve's main loop: signals, workers' exits and events,
 * and the scaling decisions (docs/serve.md).
 *
 * Every 100 ms, or sooner when something happens, the main thread looks at
 * the workers and the queue under serve.mu:
 *   - a worker not ready within --start-timeout has failed: killed, an
 *     error event, and the next start waits (1 s, doubling to 60 s);
 *   - a ready worker idle past --scaledown-window, while more than
 *     --min-warm are ready and nothing waits, is drained (it takes no new
 *     request), then stopped once its last request is done;
 *   - when the queue holds more than the ready workers can take at K each,
 *     or fewer than --min-warm are ready or starting, workers are started,
 *     up to --max-workers.  Until the first snapshot exists only one worker
 *     starts at a time: it is the cold start that makes the snapshot, and
 *     every later one restores it instead of starting cold as well.
 * Only this thread forks (a worker's parent-death signal follows the thread
 * that forked it) and only it frees a worker, once no thread holds it.
 */
#define LOG_TAG "serve"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "base/log.h"
#include "mhd-dl.h"
#include "serve-internal.h"

#define TICK_MS 100
#define STOP_GRACE_MS 10000.0
#define MAX_POLL 512

static void reap(struct serve *s)
{
	struct worker *w;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (w = s->workers; w && w->pid != pid; w = w->next)
			;
		if (!w)
			continue;
		if (w->ev_fd >= 0)
			worker_read_events(s, w); /* its last words first */
		pthread_mutex_lock(&s->mu);
		worker_reaped(s, w, status);
		pthread_mutex_unlock(&s->mu);
	}
}

/* Under mu: gone workers no thread holds any more. */
static void collect(struct serve *s)
{
	struct worker **pp = &s->workers, *w;

	while ((w = *pp)) {
		if (w->state != W_GONE || w->nr_threads) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (w->netns >= 0)
			close(w->netns);
		if (w->ev_fd >= 0)
			close(w->ev_fd);
		pthread_cond_destroy(&w->cond);
		free(w);
	}
}

static void stop_worker(struct serve *s, struct worker *w, const char *why)
{
	w->planned = true;
	w->state = W_STOPPING;
	w->kill_at = now_ms() + STOP_GRACE_MS;
	kill(w->pid, SIGTERM);
	pthread_cond_broadcast(&w->cond);
	serve_event(s, w, "worker_stopping", NULL, "stopping (%s)", why);
}

/* Under mu: one round of decisions. */
static void tick(struct serve *s)
{
	const struct serve_opts *o = s->o;
	unsigned nready = 0, nstarting = 0, alive = 0, inflight = 0, want;
	double now = now_ms();
	struct worker *w;
	int need;

	for (w = s->workers; w; w = w->next) {
		switch (w->state) {
		case W_STARTING:
			if (now - w->t_spawn > o->start_timeout_s * 1000 && !w->failed) {
				char why[256];

				snprintf(why, sizeof(why),
					 "worker %u was not ready within %g s (%s did not answer 2xx)",
					 w->id, o->start_timeout_s, o->ready_path);
				w->failed = w->planned = true;
				serve_backoff(s, why);
				serve_event(s, w, "worker_failed",
					    json_pack("{s:s, s:f}", "reason", why, "backoff_s",
						      s->backoff_s),
					    "%s; it is killed, and the next start waits %g s", why,
					    s->backoff_s);
				kill(w->pid, SIGKILL);
			}
			break;
		case W_DRAINING:
			if (!w->inflight && !w->work_head)
				stop_worker(s, w, "drained");
			break;
		case W_STOPPING:
			if (now > w->kill_at) {
				kill(w->pid, SIGKILL);
				w->kill_at = now + 3600e3;
			}
			break;
		default:
			break;
		}
	}
	collect(s);
	if (s->stopping)
		return;
	for (w = s->workers; w; w = w->next) {
		if (w->state != W_GONE)
			alive++;
		if (w->state == W_READY)
			nready++, inflight += w->inflight;
		if (w->state == W_STARTING && !w->failed)
			nstarting++;
	}
	/* scale down: the longest idle first is as good as any; one per tick */
	for (w = s->workers; w && !s->queued; w = w->next) {
		if (w->state != W_READY || w->inflight || nready <= o->min_warm ||
		    now - w->t_idle_since < o->scaledown_s * 1000)
			continue;
		w->state = W_DRAINING;
		w->planned = true;
		nready--;
		serve_event(s, w, "worker_draining",
			    json_pack("{s:f}", "idle_s", (now - w->t_idle_since) / 1000),
			    "idle for %.1f s: drained and stopped", (now - w->t_idle_since) / 1000);
		break;
	}
	want = (inflight + s->queued + o->concurrency - 1) / o->concurrency;
	if (want < o->min_warm)
		want = o->min_warm;
	need = (int)want - (int)(nready + nstarting);
	if (s->replacements && need < 1 && nready + nstarting < o->max_workers)
		need = 1;
	s->replacements = 0;
	if (!o->no_snapshot && !s->have_snapshot && !s->snapshot_settled)
		need = nstarting ? 0 : (need > 1 ? 1 : need);
	if (need > 0 && now < s->backoff_until)
		need = 0;
	for (; need > 0 && alive < o->max_workers; need--, alive++) {
		if (need == 1 && s->queued && nready)
			serve_event(s, NULL, "scale_out",
				    json_pack("{s:i, s:i}", "queued", (int)s->queued, "ready",
					      (int)nready),
				    "%u waiting, %u ready workers at %u each: starting one", s->queued,
				    nready, o->concurrency);
		if (worker_spawn(s) < 0) {
			serve_backoff(s, "a worker could not be started (fork)");
			break;
		}
	}
}

static int block_signals(void)
{
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	/* every thread inherits this mask: signals are the main thread's, through the fd */
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return log_errno("sigprocmask");
	sigdelset(&set, SIGPIPE);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return log_errno("signalfd");
	return sfd;
}

/* One poll round: signals, events, exits; true when a stop signal came. */
static bool wait_round(struct serve *s, int sfd)
{
	struct pollfd p[MAX_POLL];
	struct worker *ws[MAX_POLL];
	struct signalfd_siginfo si;
	struct worker *w;
	bool stop = false;
	size_t n = 1, i;

	p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (w = s->workers; w && n < MAX_POLL; w = w->next)
		if (w->ev_fd >= 0) {
			ws[n] = w;
			p[n++] = (struct pollfd){ .fd = w->ev_fd, .events = POLLIN };
		}
	if (poll(p, n, TICK_MS) < 0 && errno != EINTR)
		log_warn("poll: %s", strerror(errno));
	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo != SIGCHLD)
			stop = true;
	for (i = 1; i < n; i++)
		if (p[i].revents)
			worker_read_events(s, ws[i]);
	reap(s);
	proxy_watch(s);
	pthread_mutex_lock(&s->mu);
	tick(s);
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* SIGTERM: no new requests, those in flight finish (bounded), then every worker stops. */
static void drain(struct serve *s, int sfd)
{
	double until = now_ms() + s->o->drain_timeout_s * 1000;
	struct worker *w;
	bool left;

	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	serve_event(s, NULL, "draining", json_pack("{s:i}", "active", (int)s->active),
		    "stopping: %u requests to finish, then every worker stops", s->active);
	pthread_mutex_unlock(&s->mu);
	proxy_quiesce(s);
	for (;;) {
		unsigned active;

		pthread_mutex_lock(&s->mu);
		active = s->active;
		pthread_mutex_unlock(&s->mu);
		if (!active || now_ms() > until)
			break;
		if (wait_round(s, sfd))
			break; /* a second signal: stop now */
	}
	pthread_mutex_lock(&s->mu);
	proxy_cancel_all(s);
	for (w = s->workers; w; w = w->next)
		if (w->state != W_GONE && w->state != W_STOPPING)
			stop_worker(s, w, "serve stops");
	pthread_mutex_unlock(&s->mu);
	do {
		(void)wait_round(s, sfd);
		pthread_mutex_lock(&s->mu);
		for (left = false, w = s->workers; w; w = w->next)
			left |= w->state != W_GONE || w->nr_threads;
		pthread_mutex_unlock(&s->mu);
	} while (left);
}

/*
 * Each client connection takes two descriptors (libmicrohttpd's and the
 * watcher's dup); the soft limit is raised for --max-connections of them,
 * and where the hard limit does not allow that, fewer are taken (said once).
 */
static void fit_connections(struct serve *s)
{
	const rlim_t spare = 256;
	struct rlimit rl;
	rlim_t need = (rlim_t)s->o->max_connections * 2 + spare;

	s->max_connections = s->o->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= need)
		return;
	getrlimit(RLIMIT_NOFILE, &rl);
	s->max_connections = rl.rlim_cur > spare + 2 ? (unsigned)((rl.rlim_cur - spare) / 2) : 1;
	log_warn("--max-connections %u needs %llu descriptors, RLIMIT_NOFILE allows %llu: %u "
		 "connections at most",
		 s->o->max_connections, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
		 s->max_connections);
}

int serve_run(const struct serve_opts *o)
{
	struct serve s = { .o = o, .own_netns = -1 };
	char port[16];
	int sfd, status = 1;

	pthread_mutex_init(&s.mu, NULL);
	pthread_mutex_init(&s.conn_mu, NULL);
	pthread_cond_init(&s.qcond, NULL);
	fit_connections(&s);
	s.pid = getpid();
	s.ev.json_fd = -1;
	s.ev.t0_ms = now_ms();
	s.fallback_reasons = json_object();
	/* CMD listens on $PORT: every worker the same, in a namespace of its own */
	snprintf(port, sizeof(port), "%d", o->port);
	setenv("PORT", port, 1);
	sfd = block_signals();
	if (sfd < 0)
		goto out;
	s.own_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (s.own_netns < 0) {
		log_errno("/proc/self/ns/net");
		goto out;
	}
	if (curl_dl_load() < 0 || mhd_dl_load() < 0)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (events_open(&s.ev, o->json_events) < 0)
		goto out;
	if (proxy_start(&s) < 0 || admin_start(&s) < 0)
		goto out;
	serve_event(&s, NULL, "listening",
		    json_pack("{s:s, s:s?}", "listen", o->listen, "admin", o->admin),
		    "listening on %s%s%s; workers: %s on port %d", o->listen,
		    o->admin ? ", admin on " : "", o->admin ? o->admin : "", o->argv[0], o->port);
	while (!wait_round(&s, sfd))
		;
	drain(&s, sfd);
	serve_event(&s, NULL, "stopped", NULL, "stopped; every worker is gone");
	status = 0;
out:
	proxy_stop(&s);
	admin_stop(&s);
	pthread_mutex_lock(&s.mu);
	collect(&s);
	pthread_mutex_unlock(&s.mu);
	if (sfd >= 0)
		close(sfd);
	if (s.own_netns >= 0)
		close(s.own_netns);
	events_close(&s.ev);
	json_decref(s.fallback_reasons);
	return status;
}
