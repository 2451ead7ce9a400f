/* compat: restore */
/*
 * chroot.c - the root directory comes back: the program chroots into a
 * scratch directory holding one file and works in its subdirectory.  "/" must
 * still be that directory (same inode), the file readable by its path inside,
 * the working directory the subdirectory.  The program keeps an fd on /tmp
 * to remove the directory at the end.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"

static char dir[64];
static int tmp = -1, nr_checks;
static struct stat root;

static int setup(void)
{
	char path[128];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/thaw-compat-root-XXXXXX");
	tmp = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tmp < 0 || !mkdtemp(dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/marker", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "inside\n", 7) != 7 || close(fd)) {
		perror(path);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/work", dir);
	if (mkdir(path, 0755) || stat(dir, &root) || chroot(dir) || chdir("/work")) {
		perror("chroot");
		return -1;
	}
	return 0;
}

static int check_root(char *why, size_t whylen)
{
	char buf[16] = "", cwd[64];
	struct stat st;
	int fd;

	if (stat("/", &st) || st.st_dev != root.st_dev || st.st_ino != root.st_ino)
		return FAILED("/ is not %s (inode %lu)", dir, (unsigned long)root.st_ino);
	fd = open("/marker", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) != 7 || strcmp(buf, "inside\n"))
		return FAILED("/marker cannot be read: %s", strerror(errno));
	close(fd);
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/work"))
		return FAILED("working directory %s, want /work", cwd);
	return 0;
}

static int check(char *why, size_t whylen)
{
	int ret = check_root(why, whylen);

	/* after the restore: the directory goes, through the fd on /tmp */
	if (nr_checks++) {
		const char *name = dir + strlen("/tmp/");
		char path[128];

		snprintf(path, sizeof(path), "%s/marker", name);
		unlinkat(tmp, path, 0);
		snprintf(path, sizeof(path), "%s/work", name);
		unlinkat(tmp, path, AT_REMOVEDIR);
		unlinkat(tmp, name, AT_REMOVEDIR);
	}
	return ret;
}
