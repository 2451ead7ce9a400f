/* compat: restore */
/*
 * memfd-exec.c - an executable memfd comes back executable: a copy of
 * /bin/true in a memfd, given to another owner and mode 0750, held through the fd
 * memfd_create() gave (read-write) and a read-only reopen of it, and mapped
 * shared and private, as a loader does.  Its owner and mode must stay and
 * execveat() through either fd must run it: the description memfd_create()
 * makes does not count as a writer of the memfd, a writable reopen does, and
 * a writer makes execveat() fail with ETXTBSY.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static int mfd = -1, exe = -1;
static const unsigned char *shared, *private;

static int setup(void)
{
	char buf[65536], path[64];
	int src = open("/bin/true", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	mfd = memfd_create("compat-true", 0);
	if (src < 0 || mfd < 0) {
		perror("open /bin/true or memfd_create");
		return -1;
	}
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, (size_t)n) != n) {
			perror("write");
			return -1;
		}
	close(src);
	if (fchown(mfd, 4242, 4343) || fchmod(mfd, 0750)) {
		perror("fchown, fchmod");
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	exe = open(path, O_RDONLY);
	if (exe < 0) {
		perror(path);
		return -1;
	}
	shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, exe, 0);
	private = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, exe, 0);
	if (shared == MAP_FAILED || private == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	return 0;
}

/* Runs the memfd through fd in a child: 0 or the errno execveat() failed with. */
static int run(int fd)
{
	char *const argv[] = { "true", NULL }, *const envp[] = { NULL };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return errno;
	if (pid == 0) {
		execveat(fd, "", argv, envp, AT_EMPTY_PATH);
		_exit(errno);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return EINTR;
	return WEXITSTATUS(status);
}

static int check(char *why, size_t whylen)
{
	struct stat st;
	int err;

	if (fstat(exe, &st))
		return FAILED("fstat: %s", strerror(errno));
	if ((st.st_mode & 07777) != 0750 || st.st_uid != 4242 || st.st_gid != 4343)
		return FAILED("the memfd's mode is %04o, owner %u:%u, want 0750, 4242:4343",
			      st.st_mode & 07777, st.st_uid, st.st_gid);
	if (memcmp(shared, "\177ELF", 4) || memcmp(private, "\177ELF", 4))
		return FAILED("the mappings do not show the ELF header");
	if ((err = run(mfd)) || (err = run(exe)))
		return FAILED("execveat of the memfd: %s", strerror(err));
	return 0;
}
