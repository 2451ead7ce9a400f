/*
 * log.c - leveled messages on stderr.  Kept tiny: no buffering, one write per
 * message so that lines from the restore helper and its parent do not mix.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int log_max_level = LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *log_command;
static int log_colour;
static void (*log_before)(int fd);

static const char *const level_names[] = { "error", "warning", "info", "debug", "trace" };
static const char *const level_colours[] = { "\033[1;31m", "\033[1;33m", "", "", "" };

void log_set_command(const char *command)
{
	log_command = command;
}

void log_set_colour(int on)
{
	log_colour = on;
}

void log_set_before(void (*fn)(int fd))
{
	log_before = fn;
}

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
	int n, saved = errno, colour;

	if (level > log_max_level)
		return;
	/* the fd, not the CLI's stderr: the restore helper may log elsewhere */
	colour = log_colour && *level_colours[level] && isatty(log_fd);
	n = snprintf(line, sizeof(line), "thaw %s: %s%s%s: ", log_command ? log_command : tag,
		     colour ? level_colours[level] : "", level_names[level], colour ? "\033[0m" : "");
	if (log_command && level >= LOG_DEBUG)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "[%s] ", tag);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (log_before)
		log_before(log_fd);
	if (write(log_fd, line, (size_t)n) < 0)
		n = 0;
	errno = saved;
}
