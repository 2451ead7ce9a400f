/* compat: refuse its root directory \(chroot\) .* cannot be reached from thaw's root */
/*
 * chroot-gone.c - a root directory that no path reaches any more (removed
 * after the program chrooted into it) is refused at dump: restore chroots by
 * path.  The program keeps its root.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

static struct stat root;

static int setup(void)
{
	char dir[64] = "/tmp/thaw-compat-root-XXXXXX";
	int tmp = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (tmp < 0 || !mkdtemp(dir) || stat(dir, &root) || chroot(dir) || chdir("/") ||
	    unlinkat(tmp, dir + strlen("/tmp/"), AT_REMOVEDIR)) {
		perror("setup");
		return -1;
	}
	close(tmp);
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct stat st;

	if (stat("/", &st) || st.st_ino != root.st_ino || st.st_dev != root.st_dev)
		return FAILED("/ is no longer the removed directory");
	return 0;
}
