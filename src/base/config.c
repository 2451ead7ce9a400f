/*
 * config.c - parses and loads thaw's configuration files (config.h).
 */
#define LOG_TAG "config"

#include "base/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/trust.h"

static const char *const key_names[CONFIG_NR_KEYS] = {
	[CONFIG_STORE] = "store",
	[CONFIG_S3_ENDPOINT] = "s3-endpoint",
	[CONFIG_CACHE] = "cache",
	[CONFIG_KEY_FILE] = "key-file",
};

const char *config_key_name(enum config_key key)
{
	return key < CONFIG_NR_KEYS ? key_names[key] : "?";
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* NULL when value suits key; else what it should be */
static const char *check_value(enum config_key key, const char *value)
{
	bool url = has_prefix(value, "http://") || has_prefix(value, "https://");

	switch (key) {
	case CONFIG_STORE:
		if (url || has_prefix(value, "s3://") || value[0] == '/')
			return NULL;
		return "an absolute directory or an http://, https:// or s3:// URL";
	case CONFIG_S3_ENDPOINT:
		return url ? NULL : "an http:// or https:// URL";
	case CONFIG_CACHE:
	case CONFIG_KEY_FILE:
		return value[0] == '/' ? NULL : "an absolute path";
	default:
		return "nothing: an unknown key";
	}
}

/* One line (no newline, no NUL): blank, comment or key = value. */
static int parse_line(const char *file, unsigned lineno, char *line, struct config *c,
		      bool seen[CONFIG_NR_KEYS])
{
	char *key, *eq, *value, *end;
	const char *want;
	size_t i;
	int k;

	for (i = 0; line[i]; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
			log_error("%s:%u: a control character (0x%02x)", file, lineno,
				  (unsigned char)line[i]);
			return -EINVAL;
		}
	key = line;
	while (is_space(*key))
		key++;
	if (!*key || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		log_error("%s:%u: want 'key = value' or a '#' comment", file, lineno);
		return -EINVAL;
	}
	end = eq;
	while (end > key && is_space(end[-1]))
		end--;
	*end = '\0';
	value = eq + 1;
	while (is_space(*value))
		value++;
	end = value + strlen(value);
	while (end > value && is_space(end[-1]))
		end--;
	*end = '\0';
	for (k = 0; k < CONFIG_NR_KEYS; k++)
		if (!strcmp(key, key_names[k]))
			break;
	if (k == CONFIG_NR_KEYS) {
		log_error("%s:%u: unknown key '%.64s' (known: store, s3-endpoint, cache, key-file)",
			  file, lineno, key);
		return -EINVAL;
	}
	if (seen[k]) {
		log_error("%s:%u: %s given twice", file, lineno, key);
		return -EINVAL;
	}
	seen[k] = true;
	if (!*value) {
		log_error("%s:%u: %s has no value", file, lineno, key);
		return -EINVAL;
	}
	if (strstr(value, " #") || strstr(value, "\t#")) {
		log_error("%s:%u: %s: a '#' comment goes on a line of its own", file, lineno, key);
		return -EINVAL;
	}
	if (strlen(value) > CONFIG_MAX_VALUE) {
		log_error("%s:%u: %s: a value longer than %u bytes", file, lineno, key,
			  CONFIG_MAX_VALUE);
		return -EINVAL;
	}
	want = check_value((enum config_key)k, value);
	if (want) {
		log_error("%s:%u: %s: '%.256s' is not %s", file, lineno, key, value, want);
		return -EINVAL;
	}
	value = strdup(value);
	if (!value)
		return log_errno("%s:%u", file, lineno);
	free(c->value[k]);
	c->value[k] = value;
	return 0;
}

int config_parse(const char *file, const char *buf, size_t len, struct config *c)
{
	bool seen[CONFIG_NR_KEYS] = { false };
	char line[CONFIG_MAX_VALUE + 256];
	unsigned lineno = 0;
	size_t pos = 0, n;
	const char *nl;
	int ret;

	if (len > CONFIG_MAX_BYTES) {
		log_error("%s: larger than %u bytes", file, CONFIG_MAX_BYTES);
		return -EINVAL;
	}
	while (pos < len) {
		lineno++;
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n >= sizeof(line)) {
			log_error("%s:%u: a line longer than %zu bytes", file, lineno,
				  sizeof(line) - 1);
			return -EINVAL;
		}
		if (memchr(buf + pos, '\0', n)) {
			log_error("%s:%u: a NUL byte", file, lineno);
			return -EINVAL;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		ret = parse_line(file, lineno, line, c, seen);
		if (ret)
			return ret;
		pos += n + (nl ? 1 : 0);
	}
	return 0;
}

int config_load(const char *path, struct config *c)
{
	static char buf[CONFIG_MAX_BYTES + 1];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	fd = trust_open_file("configuration file", path, &st);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd < 0)
		return fd;
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf))
			break;
	}
	if (n < 0)
		ret = log_errno("%s", path);
	else
		ret = config_parse(path, buf, len, c);
	close(fd);
	return ret;
}

void config_free(struct config *c)
{
	int k;

	for (k = 0; k < CONFIG_NR_KEYS; k++) {
		free(c->value[k]);
		c->value[k] = NULL;
	}
}
