/*
 * compat.h - the skeleton of a compatibility test (tests/compat/, docs/compatibility.md).
 *
 * A compat program sets up one kind of process state, proves that its own
 * check passes, and waits; the runner (tests/compat/run.sh) dumps it,
 * restores it, and asks it to check again.  The program defines
 *
 *   static int setup(void);                       0, or -1 with a message on stderr
 *   static int check(char *why, size_t whylen);   0 when the state is exactly as set up
 *
 * and includes this file, which supplies main():
 *   1. SIGUSR1 is blocked (it is how the runner asks for the verdict);
 *   2. setup(), then check() on the original: a program whose check fails
 *      before any dump prints "BROKEN: why" and exits 2 (the test is wrong,
 *      not thaw);
 *   3. "READY", then wait for SIGUSR1 (sigwaitinfo: no handler is installed);
 *   4. check() again: "PASS", exit 0, or "FAIL: why", exit 1.
 * A setup() that finds the kernel lacks what it tests prints "SKIP: why" and
 * exits 77 before READY.  A setup() may fork and return in the child, which
 * goes on as the program, while the parent stays outside the snapshot (a
 * session leader, say) and lives as long as the child: the parent prints
 * "ROOT PID" with the child's pid before the child prints READY, and the
 * runner dumps, restores and asks that pid.
 *
 * The first line of the .c file says what thaw must do with it:
 *   / * compat: restore * /            dump and restore succeed, check passes after
 *   / * compat: refuse REGEX * /       dump exits 1 with a message matching REGEX,
 *                                     and the program, unharmed, still passes its check
 * Everything is printed with a flush per line: stdout is a pipe to the runner.
 */
#ifndef THAW_TESTS_COMPAT_H
#define THAW_TESTS_COMPAT_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void);
static int check(char *why, size_t whylen);

/* for check(): format the reason and return 1 */
#define FAILED(...) (snprintf(why, whylen, __VA_ARGS__), 1)

/*
 * The value of the line "Key:" of /proc/self/task/TID/status (a thread's own
 * credentials and seccomp state show there), without the tab after the colon
 * or the newline: 0, or -1 when the thread or the line is missing.
 */
static inline int status_line(int tid, const char *key, char *out, size_t len)
{
	char path[64], line[512];
	size_t klen = strlen(key);
	int found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (found && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			snprintf(out, len, "%s", line + klen + 1 + (line[klen + 1] == '\t'));
			out[strcspn(out, "\n")] = '\0';
			found = 0;
		}
	fclose(f);
	return found;
}

/* The same line read as a number, or -1. */
static inline long status_number(int tid, const char *key)
{
	char value[64];

	return status_line(tid, key, value, sizeof(value)) ? -1 : strtol(value, NULL, 10);
}

int main(void)
{
	char why[512] = "";
	sigset_t usr1;
	int sig;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &usr1, NULL)) {
		perror("sigprocmask");
		return 2;
	}
	if (setup())
		return 2;
	if (check(why, sizeof(why))) {
		printf("BROKEN: %s\n", why);
		return 2;
	}
	printf("READY\n");
	do
		sig = sigwaitinfo(&usr1, NULL);
	while (sig < 0 && errno == EINTR);
	why[0] = '\0';
	if (check(why, sizeof(why))) {
		printf("FAIL: %s\n", why);
		return 1;
	}
	printf("PASS\n");
	return 0;
}

#endif
