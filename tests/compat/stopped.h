/*
 * stopped.h - the body of stopped.c, tstp.c and stop-pending.c: a child in
 * a process group of its own counts in shared memory; the parent stops it
 * with STOP_SIGNAL and waits for the stop with WUNTRACED, as a shell does
 * with a job.  (STOP_TWICE: a second SIGSTOP then stays pending on the
 * stopped child.)  check() wants the child stopped (/proc state T, its
 * counter still) and, after the restore, a SIGCONT to resume it (waitid
 * WCONTINUED, the counter moving again).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static volatile unsigned long *counter;
static pid_t child;

static char state_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static int setup(void)
{
	int status;

	counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counter == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return -1;
	}
	if (child == 0) {
		setpgid(0, 0);
		for (;;) {
			(*counter)++;
			usleep(1000);
		}
	}
	setpgid(child, child);
	while (*counter < 3)
		usleep(1000);
	kill(child, STOP_SIGNAL);
	if (waitpid(child, &status, WUNTRACED) != child || !WIFSTOPPED(status) ||
	    WSTOPSIG(status) != STOP_SIGNAL) {
		fprintf(stderr, "the child did not stop with signal %d (status %#x)\n", STOP_SIGNAL,
			status);
		kill(child, SIGKILL);
		return -1;
	}
#ifdef STOP_TWICE
	kill(child, SIGSTOP); /* pending: a stopped task does not take it */
#endif
	return 0;
}

static int check(char *why, size_t whylen)
{
	static int calls;
	unsigned long before;
	siginfo_t si = { 0 };
	int i;

	/* a restored stop is made as the process is let go: give it a moment */
	for (i = 0; i < 5000 && state_of(child) != 'T'; i++)
		usleep(1000);
	if (state_of(child) != 'T')
		return FAILED("the child is in state %c, not stopped (T)", state_of(child));
	/* a stop its parent has not waited for yet is the right one */
	if (waitid(P_PID, (id_t)child, &si, WSTOPPED | WNOHANG | WNOWAIT) == 0 && si.si_pid &&
	    (si.si_code != CLD_STOPPED || si.si_status != STOP_SIGNAL))
		return FAILED("waitid WSTOPPED says code %d status %d, want %d %d", si.si_code,
			      si.si_status, CLD_STOPPED, STOP_SIGNAL);
	before = *counter;
	usleep(100000);
	if (*counter != before)
		return FAILED("the stopped child counted on (%lu, then %lu)", before, *counter);
	if (++calls == 1)
		return 0; /* before the dump: keep it stopped */
	kill(child, SIGCONT);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)child, &si, WCONTINUED) || si.si_code != CLD_CONTINUED)
		return FAILED("waitid WCONTINUED: %s, code %d", strerror(errno), si.si_code);
	for (i = 0; i < 5000 && *counter == before; i++)
		usleep(1000);
	if (*counter == before)
		return FAILED("SIGCONT did not resume the child");
	if (state_of(child) == 'T')
		return FAILED("the child is stopped again after SIGCONT");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}
