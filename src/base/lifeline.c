/*
 * lifeline.c - the command waits, its worker works (lifeline.h).
 */
#define LOG_TAG "worker"
#include "base/lifeline.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NR_STOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

static pid_t command_pid; /* 0: no split */
static int life_fd = -1; /* the worker's read end */
static volatile sig_atomic_t stopped_by; /* the worker: the first stop signal */
static volatile pid_t worker_pid; /* the command: whom to pass signals on to */
static bool said;

pid_t lifeline_command(void)
{
	return command_pid ? command_pid : getpid();
}

int lifeline_fd(void)
{
	return life_fd;
}

/* The command: a signal sent to it alone goes on to the worker; a terminal's reached both. */
static void pass_on(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_code != SI_KERNEL && worker_pid > 0)
		kill(worker_pid, sig);
}

static __attribute__((noreturn)) void wait_worker(pid_t pid)
{
	struct sigaction sa = { .sa_sigaction = pass_on, .sa_flags = SA_SIGINFO | SA_RESTART };
	int status = 0, sig;
	size_t i;

	worker_pid = pid;
	for (i = 0; i < NR_STOP_SIGNALS; i++)
		sigaction(stop_signals[i], &sa, NULL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	sig = WTERMSIG(status);
	for (i = 0; i < NR_STOP_SIGNALS; i++)
		if (sig == stop_signals[i]) {
			signal(sig, SIG_DFL);
			raise(sig);
		}
	_exit(128 + sig);
}

static void on_stop(int sig)
{
	if (!stopped_by)
		stopped_by = sig;
}

int lifeline_split(void)
{
	struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART };
	pid_t command = getpid(), pid;
	int p[2];
	size_t i;

	if (pipe2(p, O_CLOEXEC) < 0)
		return log_errno("pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return log_errno("fork");
	}
	if (pid > 0) {
		close(p[0]);
		wait_worker(pid); /* p[1] stays open until the command ends */
	}
	close(p[1]);
	command_pid = command; /* not getppid(): the command may be gone already */
	life_fd = p[0];
	/* poll() is never restarted: a worker waiting in one wakes up to check */
	for (i = 0; i < NR_STOP_SIGNALS; i++)
		sigaction(stop_signals[i], &sa, NULL);
	return 0;
}

void lifeline_drop(void)
{
	if (life_fd >= 0)
		close(life_fd);
	life_fd = -1;
}

int lifeline_check(void)
{
	struct pollfd p = { .fd = life_fd, .events = POLLIN };

	if (!stopped_by && (life_fd < 0 || poll(&p, 1, 0) <= 0))
		return 0;
	if (!said) {
		said = true;
		if (stopped_by)
			log_error("stopped by signal %d (%s): giving up", stopped_by,
				  strsignal(stopped_by));
		else
			log_error("the thaw command (pid %d) was killed: giving up", command_pid);
	}
	return -ECANCELED;
}

int lifeline_exit_status(int status)
{
	int sig = stopped_by;

	if (status && sig) {
		fflush(NULL);
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return status;
}
