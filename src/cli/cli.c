/*
 * cli.c - what every thaw command shares: exit statuses, error lines, usage
 * errors, quiet and colour.  The conventions, for whoever adds a command:
 *
 *  - A command is int cmd_NAME(int argc, char **argv) in cmd-NAME.c, one line
 *    in main.c's table, and returns CLI_OK (0), CLI_FAIL (1) or CLI_USAGE (2);
 *    "thaw run" and "thaw restore" pass the program's own status through.
 *  - Its usage function prints, for --help on stdout (exit 0) and for a usage
 *    error on stderr: "usage: thaw NAME ..." lines, a blank line, what it does,
 *    its options as "  --opt ARG   text" lines, and last an "Exit status:"
 *    paragraph.  The manual page thaw-NAME(1) is made from exactly this text
 *    (scripts/man.sh), and bash completion reads the options from it, so a new
 *    option is documented by writing its help line, nowhere else.
 *  - A usage error is return cli_usage_error(usage, "what was wrong", ...): one
 *    "thaw NAME: error: ..." line, then the usage lines, on stderr.  getopt's
 *    '?' is cli_usage_error(usage, NULL): getopt has said what was wrong, in
 *    the same form (main.c hands the command "thaw NAME: error" as argv[0]).  A failure is
 *    logged where it is known (log_error in the layers) or with cli_error(),
 *    which also reads "thaw NAME: error: ..." (main.c set the command name for
 *    every log line), naming the thing at fault as the user wrote it: the PID,
 *    the path, the snapshot name.
 *  - Quiet (-q) is log_max_level < LOG_INFO: notes, events and progress are
 *    silent, errors are not.  Colour is decided once here (cli_colour()).
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "base/log.h"

static const char *command; /* NULL before a command is known: "thaw: error: ..." */

const char *cli_command(void)
{
	return command ? command : "thaw";
}

/* Colour on fd: a terminal, NO_COLOR unset or empty (no-color.org), TERM not "dumb". */
bool cli_colour(int fd)
{
	const char *no = getenv("NO_COLOR"), *term = getenv("TERM");

	return isatty(fd) && !(no && *no) && !(term && !strcmp(term, "dumb"));
}

void cli_begin(const char *name)
{
	command = name;
	log_set_command(name);
	log_set_colour(cli_colour(STDERR_FILENO));
}

static void verror(const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (command)
		log_msg(LOG_ERROR, command, "%s", msg);
	else
		fprintf(stderr, "thaw: error: %s\n", msg);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	return CLI_FAIL;
}

/* The "usage:" lines (the help text up to its first blank line) and where to read more. */
static void short_usage(void (*usage)(FILE *out))
{
	char *text = NULL, *end;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	if (!mem) {
		usage(stderr);
		return;
	}
	usage(mem);
	fclose(mem);
	end = text ? strstr(text, "\n\n") : NULL;
	if (end)
		end[1] = '\0';
	fprintf(stderr, "%sTry 'thaw%s%s --help' for more.\n", text ? text : "",
		command ? " " : "", command ? command : "");
	free(text);
}

int cli_usage_error(void (*usage)(FILE *out), const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		verror(fmt, ap);
		va_end(ap);
	}
	if (usage)
		short_usage(usage);
	return CLI_USAGE;
}
