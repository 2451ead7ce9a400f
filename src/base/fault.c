/*
 * fault.c - named fault points (fault.h).
 */
#define LOG_TAG "fault"
#include "base/fault.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/lifeline.h"
#include "base/log.h"

static int parsed; /* 0 not yet, 1 THAW_FAULT set, -1 unset or malformed */
static char point[64];
static unsigned long countdown;

static void parse(void)
{
	const char *env = getenv("THAW_FAULT"), *colon;
	size_t len;
	char *end;

	parsed = -1;
	if (!env || !*env)
		return;
	colon = strchr(env, ':');
	len = colon ? (size_t)(colon - env) : strlen(env);
	countdown = 1;
	if (colon) {
		countdown = strtoul(colon + 1, &end, 10);
		if (*end || !countdown || countdown > INT_MAX) {
			log_warn("THAW_FAULT=%s: want NAME or NAME:N (N >= 1); ignored", env);
			return;
		}
	}
	if (!len || len >= sizeof(point)) {
		log_warn("THAW_FAULT=%s: bad name; ignored", env);
		return;
	}
	memcpy(point, env, len);
	point[len] = '\0';
	parsed = 1;
}

void fault_point(const char *name)
{
	if (!parsed)
		parse();
	if (parsed < 0 || strcmp(name, point) || --countdown)
		return;
	struct pollfd p = { .fd = lifeline_fd(), .events = POLLIN };

	log_warn("fault point %s: killing the thaw command (pid %d)", name, lifeline_command());
	kill(lifeline_command(), SIGKILL);
	/* go on only once it is gone (its end of the lifeline closed): a test knows the order */
	while (p.fd >= 0 && poll(&p, 1, -1) <= 0)
		;
}
