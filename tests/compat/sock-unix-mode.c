/* compat: restore */
/*
 * sock-unix-mode.c - the files of Unix sockets bound to paths come back with
 * their mode and owner: a listener's file chmod'ed 0640 and chown'ed
 * 1000:1000, a datagram socket's file made 0600 by the umask at bind(), a
 * socket bound to a relative name; and a listener whose file was removed
 * after bind() comes back bound to the same name with no file there.
 */
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"

static char dir[64];
static int lst = -1, dg = -1, rel = -1, gone = -1;

static int bind_to(int fd, const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	return bind(fd, (struct sockaddr *)&un, sizeof(un));
}

static void cleanup(void)
{
	static const char *const names[] = { "lst", "dg", "rel", "gone" };
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static int setup(void)
{
	char path[128];
	mode_t old;

	snprintf(dir, sizeof(dir), "/tmp/thaw-compat-unix-mode-%d", getpid());
	if (mkdir(dir, 0755) || chdir(dir)) {
		perror(dir);
		return -1;
	}
	atexit(cleanup); /* the restored program removes them when it ends */
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	rel = socket(AF_UNIX, SOCK_STREAM, 0);
	gone = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(path, sizeof(path), "%s/lst", dir);
	if (bind_to(lst, path) || listen(lst, 4) || chmod(path, 0640) || chown(path, 1000, 1000)) {
		perror(path);
		return -1;
	}
	old = umask(0177);
	snprintf(path, sizeof(path), "%s/dg", dir);
	if (bind_to(dg, path)) {
		perror(path);
		return -1;
	}
	umask(old);
	if (bind_to(rel, "rel") || listen(rel, 1) || chmod("rel", 0604)) {
		perror("rel");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/gone", dir);
	if (bind_to(gone, path) || listen(gone, 1) || unlink(path)) {
		perror(path);
		return -1;
	}
	return 0;
}

static int check_file(const char *name, mode_t mode, uid_t uid, gid_t gid, char *why,
		      size_t whylen)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &st))
		return FAILED("%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != mode || st.st_uid != uid ||
	    st.st_gid != gid)
		return FAILED("%s: mode %o owner %u:%u, want socket %04o %u:%u", path,
			      st.st_mode, st.st_uid, st.st_gid, mode, uid, gid);
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sockaddr_un un;
	socklen_t len = sizeof(un);
	char path[128];
	struct stat st;

	if (check_file("lst", 0640, 1000, 1000, why, whylen) ||
	    check_file("dg", 0600, 0, 0, why, whylen) ||
	    check_file("rel", 0604, 0, 0, why, whylen))
		return 1;
	snprintf(path, sizeof(path), "%s/gone", dir);
	if (!lstat(path, &st))
		return FAILED("%s is there again", path);
	if (getsockname(gone, (struct sockaddr *)&un, &len) || strcmp(un.sun_path, path))
		return FAILED("the socket whose file was removed is not bound to %s", path);
	return 0;
}
