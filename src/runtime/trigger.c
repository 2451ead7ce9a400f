/*
 * trigger.c - snapshot points outside the program: a port, a URL, warm-up.
 *
 * A program without the SDK cannot say when it is ready, so thaw run looks
 * from outside: the program listens on a port (/proc/PID/net/tcp{,6}, a
 * LISTEN socket that is one of the program's own fds: nothing connects, so
 * nothing waits in its accept queue at the dump), or a URL answers 2xx.
 * The looking happens in a thread, because an HTTP request blocks and thaw
 * run's main loop must keep copying the program's stdout meanwhile (a
 * program blocked on a full pipe would never answer).  The thread then sends
 * the warm-up requests, waits the delay, and writes one byte to a pipe the
 * main loop polls; the dump itself is the main loop's.
 */
#define LOG_TAG "run"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#define CURL_DISABLE_TYPECHECK
#include "base/curl-dl.h"
#include "base/log.h"
#include "engine/proc.h"
#include "runtime-internal.h"

#define POLL_MS 50
#define PROBE_TIMEOUT_MS 1000L /* one readiness probe; the next one comes 50 ms later */
#define WARMUP_TIMEOUT_MS 60000L /* one warm-up request may be slow: it is warming up */

struct trigger {
	const struct runtime_run_opts *opts;
	pid_t program;
	bool condition_met;
	double deadline_ms;
	int pipe[2]; /* the thread writes one byte to [1] when done */
	pthread_t thread;
	bool joined;
	atomic_bool stop;
	int result;
	char reason[512];
};

/* ------------------------------------------------------------ port */

/* Socket inodes of LISTEN entries on port in one /proc/PID/net/tcp{,6}; returns how many. */
static size_t listen_inodes(pid_t pid, const char *file, int port, unsigned long *inodes,
			    size_t max)
{
	char path[64], line[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, file);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* "sl local_address rem_address st tx:rx tr:when retr uid timeout inode" */
	while (n < max && fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned st, lport;
		unsigned long inode;
		char *colon;

		if (sscanf(line, " %*u: %63s %*s %x %*s %*s %*s %*u %*u %lu", local, &st,
			   &inode) != 3)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &lport) != 1)
			continue;
		if (st == 0x0A && lport == (unsigned)port && inode)
			inodes[n++] = inode;
	}
	fclose(f);
	return n;
}

/* One of pid's fds is one of the sockets. */
static bool holds_socket(pid_t pid, const unsigned long *inodes, size_t n)
{
	char path[64], link[64], want[64];
	struct dirent *de;
	bool found = false;
	size_t i;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char fdpath[64 + 256];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		for (i = 0; i < n && !found; i++) {
			snprintf(want, sizeof(want), "socket:[%lu]", inodes[i]);
			found = !strcmp(link, want);
		}
	}
	closedir(d);
	return found;
}

/* pid or one of its descendants (depth bounds a pathological tree) holds a socket. */
static bool tree_holds_socket(pid_t pid, const unsigned long *inodes, size_t n, int depth)
{
	pid_t *kids = NULL;
	size_t nr = 0, i;
	bool found;

	if (holds_socket(pid, inodes, n))
		return true;
	if (depth == 0 || proc_list_children(pid, &kids, &nr) < 0)
		return false;
	for (i = 0, found = false; i < nr && !found; i++)
		found = tree_holds_socket(kids[i], inodes, n, depth - 1);
	free(kids);
	return found;
}

/*
 * The program (or a process it started) listens on port: the network
 * namespace is the caller's, so a LISTEN entry alone could be someone
 * else's socket.
 */
bool trigger_port_listening(pid_t pid, int port)
{
	unsigned long inodes[64];
	size_t n;

	n = listen_inodes(pid, "tcp", port, inodes, 64);
	n += listen_inodes(pid, "tcp6", port, inodes + n, 64 - n);
	return n && tree_holds_socket(pid, inodes, n, 16);
}

/* ------------------------------------------------------------ http */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

static int abort_on_stop(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct trigger *t = arg;

	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load(&t->stop) ? 1 : 0;
}

/*
 * One GET; 0 and *code the HTTP status, or -EIO with err saying why.  A new
 * handle each time and no connection reuse: no connection of ours is left
 * open in the program when it is dumped.
 */
static int http_get(struct trigger *t, const char *url, long timeout_ms, long *code, char *err,
		    size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	CURL *c;

	*code = 0;
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	else
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -EIO;
}

/* ---------------------------------------------------------- thread */

/* Sleeps ms in steps, false once told to stop. */
static bool nap(struct trigger *t, double ms)
{
	double end = now_ms() + ms;

	while (!atomic_load(&t->stop)) {
		double left = end - now_ms();

		if (left <= 0)
			return true;
		usleep((useconds_t)((left < POLL_MS ? left : POLL_MS) * 1000));
	}
	return false;
}

/* The condition holds now; last says what did not, for the timeout's reason. */
static bool condition_holds(struct trigger *t, char *last, size_t len)
{
	const struct runtime_run_opts *o = t->opts;

	if (o->snap_on_port > 0 && !trigger_port_listening(t->program, o->snap_on_port)) {
		snprintf(last, len, "nothing of the program listens on port %d", o->snap_on_port);
		return false;
	}
	if (o->snap_on_http) {
		char err[CURL_ERROR_SIZE + 32];
		long code;

		if (http_get(t, o->snap_on_http, PROBE_TIMEOUT_MS, &code, err, sizeof(err)) < 0) {
			snprintf(last, len, "%s: %s", o->snap_on_http, err);
			return false;
		}
		if (code < 200 || code > 299) {
			snprintf(last, len, "%s answers %ld", o->snap_on_http, code);
			return false;
		}
	}
	return true;
}

static void *trigger_main(void *arg)
{
	struct trigger *t = arg;
	const struct runtime_run_opts *o = t->opts;
	char last[400] = "";
	unsigned i, failed;
	size_t u;

	t->result = -ECANCELED;
	while (!t->condition_met) {
		if (atomic_load(&t->stop))
			goto out;
		if (condition_holds(t, last, sizeof(last)))
			break;
		if (now_ms() >= t->deadline_ms) {
			t->result = -ETIMEDOUT;
			snprintf(t->reason, sizeof(t->reason), "not ready within %g s (%s)",
				 o->snap_timeout_s > 0 ? o->snap_timeout_s : 120.0, last);
			goto out;
		}
		if (!nap(t, POLL_MS))
			goto out;
	}
	for (u = 0; u < o->nr_warmup_urls; u++) {
		for (i = 0, failed = 0; i < o->warmup_count; i++) {
			char err[CURL_ERROR_SIZE + 32];
			long code;

			if (atomic_load(&t->stop))
				goto out;
			if (http_get(t, o->warmup_urls[u], WARMUP_TIMEOUT_MS, &code, err,
				     sizeof(err)) < 0 ||
			    code < 200 || code > 299)
				failed++;
		}
		if (failed)
			log_warn("%u of %u warm-up requests to %s failed", failed, o->warmup_count,
				 o->warmup_urls[u]);
	}
	if (o->snap_delay_s > 0 && !nap(t, o->snap_delay_s * 1000))
		goto out;
	t->result = 0;
out:
	if (write(t->pipe[1], "x", 1) < 0)
		log_warn("trigger pipe: %s", strerror(errno));
	return NULL;
}

int trigger_start(struct trigger **ret, const struct runtime_run_opts *opts, pid_t program,
		  bool condition_met, double deadline_ms)
{
	struct trigger *t;
	int err;

	*ret = NULL;
	if (opts->snap_on_http || opts->nr_warmup_urls) {
		if (curl_dl_load() < 0)
			return -ENOENT;
		/* before the thread: curl_easy_init() would do it, but not thread-safely */
		curl_global_init(CURL_GLOBAL_DEFAULT);
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->opts = opts;
	t->program = program;
	t->condition_met = condition_met;
	t->deadline_ms = deadline_ms;
	atomic_init(&t->stop, false);
	if (pipe2(t->pipe, O_CLOEXEC)) {
		err = log_errno("trigger pipe");
		free(t);
		return err;
	}
	err = pthread_create(&t->thread, NULL, trigger_main, t);
	if (err) {
		log_error("trigger thread: %s", strerror(err));
		close(t->pipe[0]);
		close(t->pipe[1]);
		free(t);
		return -err;
	}
	*ret = t;
	return 0;
}

int trigger_fd(const struct trigger *t)
{
	return t->pipe[0];
}

int trigger_result(struct trigger *t, const char **reason)
{
	char c;

	if (read(t->pipe[0], &c, 1) != 1)
		return -EAGAIN;
	pthread_join(t->thread, NULL);
	t->joined = true;
	*reason = t->reason;
	return t->result;
}

void trigger_stop(struct trigger *t)
{
	if (!t)
		return;
	atomic_store(&t->stop, true);
	if (!t->joined)
		pthread_join(t->thread, NULL);
	close(t->pipe[0]);
	close(t->pipe[1]);
	free(t);
}
