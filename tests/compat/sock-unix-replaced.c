/* compat: refuse its socket file .* was replaced by another file */
/*
 * sock-unix-replaced.c - a Unix socket whose file was removed and replaced by
 * another file at the same path cannot be bound to its name again: the dump
 * refuses it by name, and the program and the other file are unharmed.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"

static struct sockaddr_un un = { .sun_family = AF_UNIX };
static int fd = -1;

static void cleanup(void)
{
	unlink(un.sun_path);
}

static int setup(void)
{
	int other;

	snprintf(un.sun_path, sizeof(un.sun_path), "/tmp/thaw-compat-unix-replaced-%d", getpid());
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) || unlink(un.sun_path)) {
		perror(un.sun_path);
		return -1;
	}
	atexit(cleanup);
	other = open(un.sun_path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (other < 0) {
		perror(un.sun_path);
		return -1;
	}
	close(other);
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sockaddr_un got;
	socklen_t len = sizeof(got);
	struct stat st;

	if (getsockname(fd, (struct sockaddr *)&got, &len) || strcmp(got.sun_path, un.sun_path))
		return FAILED("the socket is not bound to %s", un.sun_path);
	if (lstat(un.sun_path, &st) || !S_ISREG(st.st_mode))
		return FAILED("the other file at %s is gone", un.sun_path);
	return 0;
}
