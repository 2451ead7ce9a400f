/*
 * thaw.c - libthaw, the C SDK (include/thaw.h): the program's half of the
 * control protocol of docs/runtime.md.
 *
 * thaw run hands the program one end of a SOCK_SEQPACKET socketpair at the fd
 * number in THAW_CONTROL_FD.  At the snapshot point we send "snapshot" and
 * block in recv().  thaw dumps us while we are blocked there and answers
 * "snapshotted" (or "failed: why", or "disabled").  A restored copy wakes up
 * in the same recv(): the engine re-executes the interrupted call on a fresh
 * socket that thaw put at the same fd number, where "restored" is waiting.
 *
 * Nothing here allocates or depends on anything but libc.
 */
#include "thaw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define THAW_API __attribute__((visibility("default")))
#define MAX_HOOKS 64

struct hook {
	void (*fn)(void *arg);
	void *arg;
};

static struct hook hooks[MAX_HOOKS];
static int nr_hooks;
static int result = -1; /* -1 until the snapshot point was reached */
static char error_text[512];

static int control_fd(void)
{
	const char *s = getenv("THAW_CONTROL_FD");
	struct stat st;
	char *end;
	long fd;

	if (!s || !*s)
		return -1;
	fd = strtol(s, &end, 10);
	if (*end || fd < 3 || fd > 1 << 20)
		return -1;
	/* a child of the program inherits the variable, not the socket */
	if (fstat((int)fd, &st) || !S_ISSOCK(st.st_mode))
		return -1;
	return (int)fd;
}

THAW_API int thaw_enabled(void)
{
	return control_fd() >= 0;
}

static int fail(const char *why)
{
	snprintf(error_text, sizeof(error_text), "%s", why);
	return THAW_FAILED;
}

static int parse_reply(const char *reply)
{
	if (!strcmp(reply, "snapshotted"))
		return THAW_SNAPSHOTTED;
	if (!strcmp(reply, "restored"))
		return THAW_RESTORED;
	if (!strcmp(reply, "disabled"))
		return THAW_DISABLED;
	if (!strncmp(reply, "failed: ", 8))
		return fail(reply + 8);
	return fail("unexpected answer from thaw");
}

static int talk(int fd)
{
	static const char request[] = "snapshot";
	char reply[512];
	ssize_t n;

	/* children we start later must not hold thaw's socket */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fflush(NULL);
	do
		n = send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail("cannot reach thaw on the control socket");
	do
		n = recv(fd, reply, sizeof(reply) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return fail("thaw closed the control socket");
	reply[n] = '\0';
	return parse_reply(reply);
}

THAW_API int thaw_snapshot(void)
{
	int fd, i;

	if (result >= 0)
		return result;
	fd = control_fd();
	if (fd < 0)
		return result = THAW_DISABLED;
	result = talk(fd);
	if (result == THAW_RESTORED)
		for (i = 0; i < nr_hooks; i++)
			hooks[i].fn(hooks[i].arg);
	return result;
}

THAW_API int thaw_on_restore(void (*fn)(void *arg), void *arg)
{
	if (!fn || nr_hooks == MAX_HOOKS)
		return -1;
	hooks[nr_hooks].fn = fn;
	hooks[nr_hooks].arg = arg;
	nr_hooks++;
	return 0;
}

THAW_API const char *thaw_error(void)
{
	return error_text;
}

THAW_API int thaw_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

THAW_API const char *thaw_result_name(int r)
{
	switch (r) {
	case THAW_DISABLED:
		return "disabled";
	case THAW_SNAPSHOTTED:
		return "snapshotted";
	case THAW_RESTORED:
		return "restored";
	case THAW_FAILED:
		return "failed";
	default:
		return "unknown";
	}
}
