/*
 * cli.c - what every thaw command shares: exit statuses, error lines, usage
 * errors, quiet and colour.  The conventions, for whoever adds a command:
 *
 *  - A command is int cmd_NAME(int argc, char **argv) in cmd-NAME.c, one line
 *    in main.c's table, and returns CLI_OK (0), CLI_FAIL (1) or CLI_USAGE (2);
 *    "thaw run" and "thaw restore" pass the program's own status through.
 *  - Its usage function prints, for --help on stdout (exit 0) and for a usage
 *    error on stderr: "usage: thaw NAME ..." lines, a blank line, what it does,
 *    an "Options:" section with every option it accepts as "  --opt ARG   text"
 *    lines (--help too; 17-man-completion compares them with its getopt
 *    table), and last an "Exit status:" paragraph.  The manual page thaw-NAME(1) is made from exactly this text
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
 *  - Progress: the layers report what they do through base/progress.h; a
 *    command prints none itself.  cli_begin() shows it as one updating line
 *    on stderr when that is a terminal (and not -q); --json-events FILE
 *    (before the command, or thaw run's own) gets the same figures as JSON
 *    lines: cli_progress_json().
 *  - Defaults: an option that has one in the configuration files (--store,
 *    --s3-endpoint, --cache, --key-file; base/config.h) is resolved with
 *    cli_default() after parsing: the flag, else its environment variable,
 *    else the user's file, else the system's.  The files are read only then,
 *    so a broken one fails the commands that need it, never --help.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/progress.h"

static const char *command; /* NULL before a command is known: "thaw: error: ..." */
static double t0_ms;
static int json_fd = -1;

const char *cli_human(uint64_t bytes, char buf[32])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, 32, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

/* "1.2 GiB of 8.0 GiB (15%), 512.0 MiB/s, 0:12 left": the figures, for people */
static void progress_text(const struct progress *p, char *line, size_t size)
{
	char a[32], b[32], r[32];
	size_t n;

	n = (size_t)snprintf(line, size, "%s", cli_human(p->bytes, a));
	if (p->total && p->bytes <= p->total && n < size)
		n += (size_t)snprintf(line + n, size - n, " of %s (%d%%)", cli_human(p->total, b),
				      (int)((double)p->bytes * 100 / (double)p->total));
	if (n < size)
		n += (size_t)snprintf(line + n, size - n, ", %s/s",
				      cli_human((uint64_t)p->rate, r));
	if (p->total && p->bytes <= p->total && p->left_s >= 0 && !p->done && n < size) {
		unsigned s = p->left_s > 359999 ? 359999 : (unsigned)(p->left_s + 0.5);

		if (s >= 3600)
			snprintf(line + n, size - n, ", %u:%02u:%02u left", s / 3600, s / 60 % 60,
				 s % 60);
		else
			snprintf(line + n, size - n, ", %u:%02u left", s / 60, s % 60);
	}
}

static int tty_shown; /* atomic: the progress line is on the terminal */

/* Before a log message on stderr: the progress line goes, the next update draws it again. */
static void tty_wipe(int fd)
{
	if (fd == STDERR_FILENO && __atomic_exchange_n(&tty_shown, 0, __ATOMIC_ACQ_REL) &&
	    write(STDERR_FILENO, "\r\033[K", 4) < 0)
		return;
}

/* One line on the terminal, rewritten in place; wiped at the end. */
static void tty_sink(void *arg, const struct progress *p)
{
	char line[256], text[200];
	int n;

	(void)arg;
	__atomic_store_n(&tty_shown, !p->done, __ATOMIC_RELEASE);
	if (p->done) {
		n = snprintf(line, sizeof(line), "\r\033[K");
	} else {
		progress_text(p, text, sizeof(text));
		bool same = !strcmp(p->what, cli_command()); /* not "thaw dump: dump" */

		n = snprintf(line, sizeof(line), "\r\033[Kthaw %s: %s%s%s", cli_command(),
			     same ? "" : p->what, same ? "" : " ", text);
	}
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/* One JSON line per update, as thaw run's events (src/runtime/events.c): one write each. */
static void json_sink(void *arg, const struct progress *p)
{
	json_t *o;
	char text[200], *s;
	size_t len;

	(void)arg;
	progress_text(p, text, sizeof(text));
	o = json_pack("{s:s, s:f, s:s, s:s, s:I, s:I, s:f, s:f, s:f}", "event",
		      p->done ? "progress_done" : "progress", "time_ms", now_ms() - t0_ms,
		      "message", text, "operation", p->what, "bytes_done", (json_int_t)p->bytes,
		      "bytes_total", (json_int_t)p->total, "bytes_per_s", p->rate, "elapsed_s",
		      p->elapsed_s, "seconds_left", p->left_s);
	s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!s)
		return;
	len = strlen(s);
	s[len] = '\n';
	if (write(json_fd, s, len + 1) < 0)
		log_warn("writing a progress event: %s", strerror(errno));
	free(s);
}

int cli_progress_json(const char *path)
{
	if (json_fd >= 0)
		return 0;
	json_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (json_fd < 0)
		return cli_error("--json-events %s: %s", path, strerror(errno));
	progress_add_sink(json_sink, NULL);
	return 0;
}

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
	const char *term = getenv("TERM");

	command = name;
	log_set_command(name);
	log_set_colour(cli_colour(STDERR_FILENO));
	t0_ms = now_ms();
	/* a line rewritten in place needs a terminal that can ("dumb" cannot) */
	if (log_max_level >= LOG_INFO && isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"))) {
		progress_add_sink(tty_sink, NULL);
		log_set_before(tty_wipe);
	}
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

/* $THAW_CONFIG_SYSTEM (empty: none) or /etc/thaw/config; then the user's, on top */
static int load_config(struct config *c)
{
	const char *sys = getenv("THAW_CONFIG_SYSTEM"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char path[4096];
	int n = -1, ret;

	if (!sys)
		sys = "/etc/thaw/config";
	if (*sys && (ret = config_load(sys, c)))
		return ret;
	if (xdg && xdg[0] == '/') /* XDG: a relative one is to be ignored */
		n = snprintf(path, sizeof(path), "%s/thaw/config", xdg);
	else if (home && *home)
		n = snprintf(path, sizeof(path), "%s/.config/thaw/config", home);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(path)) {
		log_error("the user's configuration file: path too long");
		return -ENAMETOOLONG;
	}
	return config_load(path, c);
}

int cli_store_defaults(struct repo_opts *o)
{
	return cli_default(&o->location, "THAW_STORE", CONFIG_STORE) ?:
	       cli_default(&o->s3_endpoint, "THAW_S3_ENDPOINT", CONFIG_S3_ENDPOINT) ?:
	       cli_default(&o->default_cache, NULL, CONFIG_CACHE) ?:
	       cli_default(&o->default_key_file, NULL, CONFIG_KEY_FILE);
}

int cli_store_location(const char *location, bool must_exist)
{
	struct stat st;

	if (!location || store_is_remote(location))
		return 0;
	if (strstr(location, "://"))
		return cli_error("store %s: not a directory, nor an http://, https:// or s3:// URL",
				 location);
	if (stat(location, &st) < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return errno == ENOENT ? cli_error("no such store %s", location) :
					 cli_error("store %s: %s", location, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return cli_error("store %s: not a directory", location);
	return 0;
}

int cli_default(const char **val, const char *env, enum config_key key)
{
	static struct config conf;
	static int loaded; /* 0 not yet, 1 loaded, -errno failed */
	const char *e = env ? getenv(env) : NULL;

	if (*val)
		return 0;
	if (e && *e) {
		*val = e;
		return 0;
	}
	if (!loaded) {
		loaded = load_config(&conf);
		if (!loaded)
			loaded = 1;
	}
	if (loaded < 0)
		return loaded;
	*val = conf.value[key];
	return 0;
}
