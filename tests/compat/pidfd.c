/* compat: restore */
/*
 * pidfd.c - pidfds on the process itself, on a live child and on a zombie
 * child still name those processes: fdinfo's Pid, poll() readiness (a
 * zombie's is readable, a live one's not), O_NONBLOCK, and a signal sent
 * through one arrives.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/prctl.h>

#include "compat.h"

static int self_fd = -1, child_fd = -1, zombie_fd = -1;
static pid_t child, zombie;

static int pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static pid_t pid_of(int fd)
{
	char path[64], line[128];
	pid_t pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static int setup(void)
{
	siginfo_t si;

	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the program, whatever ends it */
		for (;;)
			pause();
	}
	zombie = fork();
	if (zombie == 0)
		_exit(7);
	if (child < 0 || zombie < 0)
		return -1;
	self_fd = pidfd_open(getpid(), 0);
	child_fd = pidfd_open(child, O_NONBLOCK);
	zombie_fd = pidfd_open(zombie, 0);
	if (self_fd < 0 || child_fd < 0 || zombie_fd < 0) {
		perror("pidfd_open");
		return -1;
	}
	return waitid(P_PID, zombie, &si, WEXITED | WNOWAIT);
}

static int check(char *why, size_t whylen)
{
	struct pollfd p[2] = { { child_fd, POLLIN, 0 }, { zombie_fd, POLLIN, 0 } };
	siginfo_t si = { 0 };

	if (pid_of(self_fd) != getpid() || pid_of(child_fd) != child ||
	    pid_of(zombie_fd) != zombie)
		return FAILED("pidfds name %d %d %d, want %d %d %d", pid_of(self_fd),
			      pid_of(child_fd), pid_of(zombie_fd), getpid(), child, zombie);
	if (!(fcntl(child_fd, F_GETFL) & O_NONBLOCK) || (fcntl(self_fd, F_GETFL) & O_NONBLOCK))
		return FAILED("O_NONBLOCK differs");
	if (poll(p, 2, 0) != 1 || p[0].revents || !(p[1].revents & POLLIN))
		return FAILED("poll: child %#x zombie %#x, want the zombie's readable only",
			      p[0].revents, p[1].revents);
	if (syscall(SYS_pidfd_send_signal, self_fd, 0, NULL, 0))
		return FAILED("pidfd_send_signal to itself: %s", strerror(errno));
	if (waitid(P_PIDFD, (id_t)zombie_fd, &si, WEXITED | WNOWAIT) || si.si_status != 7)
		return FAILED("waitid(P_PIDFD) on the zombie: %s, status %d", strerror(errno),
			      si.si_status);
	return 0;
}
