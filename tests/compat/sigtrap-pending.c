/* compat: restore */
/*
 * sigtrap-pending.c - a SIGTRAP that is blocked and pending at the dump (the
 * signal the restorer's own trap raises) is still pending after the restore,
 * with its siginfo, and reaches its handler once unblocked.
 */
#include <signal.h>
#include <unistd.h>

#include "compat.h"

static volatile sig_atomic_t trapped, trap_code, trap_pid;
static pid_t raised_by;

static void on_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	trapped++;
	trap_code = si->si_code;
	trap_pid = si->si_pid;
}

static int setup(void)
{
	struct sigaction sa = { .sa_sigaction = on_trap, .sa_flags = SA_SIGINFO };
	sigset_t trap;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&trap);
	sigaddset(&trap, SIGTRAP);
	if (sigaction(SIGTRAP, &sa, NULL) || sigprocmask(SIG_BLOCK, &trap, NULL)) {
		perror("sigaction");
		return -1;
	}
	raised_by = getpid();
	raise(SIGTRAP);
	return 0;
}

static int check(char *why, size_t whylen)
{
	static int calls;
	struct sigaction sa;
	sigset_t pending, trap;

	if (sigaction(SIGTRAP, NULL, &sa))
		return FAILED("sigaction: %s", strerror(errno));
	if (sa.sa_sigaction != on_trap || !(sa.sa_flags & SA_SIGINFO))
		return FAILED("the SIGTRAP handler is %p (flags 0x%x), want %p",
			      (void *)sa.sa_sigaction, (unsigned)sa.sa_flags, (void *)on_trap);
	if (sigpending(&pending))
		return FAILED("sigpending: %s", strerror(errno));
	if (!sigismember(&pending, SIGTRAP))
		return FAILED("SIGTRAP is no longer pending");
	if (trapped)
		return FAILED("the handler ran while SIGTRAP was blocked");
	if (++calls == 1)
		return 0; /* before the dump: leave it pending */
	sigemptyset(&trap);
	sigaddset(&trap, SIGTRAP);
	sigprocmask(SIG_UNBLOCK, &trap, NULL);
	if (trapped != 1)
		return FAILED("unblocking SIGTRAP ran the handler %d times", (int)trapped);
	if (trap_code != SI_TKILL || trap_pid != raised_by)
		return FAILED("the SIGTRAP came with code %d from pid %d, want %d from %d",
			      (int)trap_code, (int)trap_pid, SI_TKILL, (int)raised_by);
	return 0;
}
