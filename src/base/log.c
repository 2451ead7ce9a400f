/*
 * log.c - leveled messages on stderr.  Kept tiny: no buffering, one write per
 * message so that lines from the restore helper and its parent do not mix.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int log_max_level = LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = { "error", "warning", "info", "debug", "trace" };

void log_set_level(int level)
{
	log_max_level = level;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

int log_get_fd(void)
{
	return log_fd;
}

void log_msg(int level, const char *tag, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	if (level > log_max_level)
		return;
	n = snprintf(line, sizeof(line), "thaw %s: %s: ", tag, level_names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, (size_t)n) < 0)
		return;
}
