/*
 * events.c - what thaw run tells people and machines.
 *
 * People get one line on stderr per event ("thaw: cold start: no snapshot
 * yet"), silenced by -q; machines get the same as JSON lines appended to the
 * --json-events file: {"event": TYPE, "time_ms": since thaw run started,
 * "message": the line, ...fields}.  Each JSON line is one write(), so
 * several thaw runs can share a file.
 */
#define LOG_TAG "run"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "runtime-internal.h"

/*
 * --json-events /proc/self/fd/N of a pipe or socket: N was given to us for
 * our events (thaw serve's pipe), not to the program, which would inherit it
 * otherwise and hold the pipe open (and carry it into its snapshot).  It is
 * taken over: moved to a close-on-exec descriptor.  -1 when PATH is not one
 * (a regular file is opened again, for O_APPEND).
 */
static int take_inherited(const char *path)
{
	const char *prefix = "/proc/self/fd/";
	struct stat st;
	char *end;
	long n;
	int fd;

	if (strncmp(path, prefix, strlen(prefix)))
		return -1;
	n = strtol(path + strlen(prefix), &end, 10);
	if (*end || end == path + strlen(prefix) || n < 3 || n > 1 << 20 || fstat((int)n, &st) ||
	    !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return -1;
	fd = fcntl((int)n, F_DUPFD_CLOEXEC, 3);
	if (fd >= 0)
		close((int)n);
	return fd;
}

int events_open(struct events *ev, const char *path)
{
	ev->json_fd = -1;
	if (!path)
		return 0;
	ev->json_fd = take_inherited(path);
	if (ev->json_fd < 0)
		ev->json_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (ev->json_fd < 0)
		return log_errno("opening the events file %s", path);
	return 0;
}

void events_close(struct events *ev)
{
	if (ev->json_fd >= 0)
		close(ev->json_fd);
	ev->json_fd = -1;
}

void events_emit(struct events *ev, const char *type, json_t *fields, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_max_level >= LOG_INFO)
		dprintf(STDERR_FILENO, "thaw: %s\n", line);
	if (ev->json_fd >= 0) {
		json_t *obj = fields ? fields : json_object();

		json_object_set_new(obj, "event", json_string(type));
		json_object_set_new(obj, "time_ms", json_real(now_ms() - ev->t0_ms));
		json_object_set_new(obj, "message", json_string(line));
		events_write_json(ev, obj);
		json_decref(obj);
		return;
	}
	json_decref(fields);
}

void events_write_json(struct events *ev, json_t *obj)
{
	char *text;
	size_t len;

	if (ev->json_fd < 0 || !obj)
		return;
	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return;
	len = strlen(text);
	text[len] = '\n';
	if (write(ev->json_fd, text, len + 1) < 0)
		log_warn("writing an event: %s", strerror(errno));
	free(text);
}
