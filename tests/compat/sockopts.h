/*
 * sockopts.h - for the socket compat tests: set an option, remember what
 * getsockopt() then says, and compare after the restore.
 *
 * watch() records the option's bytes as the kernel gives them back (a value
 * the kernel rounds is compared rounded); setup() ends with watch_final(),
 * which records them all again (IP_TOS changes SO_PRIORITY: what counts is
 * the state the program ends up in); check_watched() reads each again and
 * names the first that changed.
 */
#ifndef THAW_TESTS_SOCKOPTS_H
#define THAW_TESTS_SOCKOPTS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_WATCHED 96

static struct watched {
	const char *label;
	int fd, level, name;
	socklen_t len;
	unsigned char val[64];
} watched[MAX_WATCHED];
static int nr_watched;

static int watch(int fd, int level, int name, const char *label)
{
	struct watched *w = &watched[nr_watched];

	if (nr_watched == MAX_WATCHED) {
		fprintf(stderr, "too many options watched\n");
		return -1;
	}
	*w = (struct watched){ label, fd, level, name, sizeof(w->val), { 0 } };
	if (getsockopt(fd, level, name, w->val, &w->len)) {
		fprintf(stderr, "getsockopt %s: %s\n", label, strerror(errno));
		return -1;
	}
	nr_watched++;
	return 0;
}

static int set_watch(int fd, int level, int name, const char *label, const void *val,
		     socklen_t len)
{
	if (setsockopt(fd, level, name, val, len)) {
		fprintf(stderr, "setsockopt %s: %s\n", label, strerror(errno));
		return -1;
	}
	return watch(fd, level, name, label);
}

static __attribute__((unused)) int set_int_watch(int fd, int level, int name, const char *label, int v)
{
	return set_watch(fd, level, name, label, &v, sizeof(v));
}

/* SET(fd, level, name, int value), WATCH(fd, level, name) */
#define SET(fd, level, name, v) set_int_watch(fd, level, name, #name, v)
#define SET_BYTES(fd, level, name, p, len) set_watch(fd, level, name, #name, p, len)
#define WATCH(fd, level, name) watch(fd, level, name, #name)

static int watch_final(void)
{
	int i, n = nr_watched;

	nr_watched = 0;
	for (i = 0; i < n; i++)
		if (watch(watched[i].fd, watched[i].level, watched[i].name, watched[i].label))
			return -1;
	return 0;
}

static void show(char *buf, size_t size, const unsigned char *v, socklen_t len)
{
	size_t o = 0;
	socklen_t i;

	if (len == sizeof(int)) {
		int x;

		memcpy(&x, v, sizeof(x));
		snprintf(buf, size, "%d", x);
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < len && o + 3 < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%02x", v[i]);
}

static int check_watched(char *why, size_t whylen)
{
	char was[140], now[140];
	int i;

	for (i = 0; i < nr_watched; i++) {
		const struct watched *w = &watched[i];
		unsigned char val[64] = { 0 };
		socklen_t len = sizeof(val);

		if (getsockopt(w->fd, w->level, w->name, val, &len)) {
			snprintf(why, whylen, "getsockopt %s on fd %d: %s", w->label, w->fd,
				 strerror(errno));
			return 1;
		}
		if (len != w->len || memcmp(val, w->val, len)) {
			show(was, sizeof(was), w->val, w->len);
			show(now, sizeof(now), val, len);
			snprintf(why, whylen, "%s on fd %d is %s, was %s", w->label, w->fd, now, was);
			return 1;
		}
	}
	return 0;
}

#endif
