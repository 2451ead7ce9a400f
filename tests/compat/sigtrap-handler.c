/* compat: restore */
/*
 * sigtrap-handler.c - a SIGTRAP handler (debuggers' and sanitizers' signal,
 * and the one the restorer's final int3 raises) comes back with its flags
 * and mask, and runs when SIGTRAP is raised after the restore.
 */
#include <signal.h>

#include "compat.h"

static volatile sig_atomic_t trapped;

static void on_trap(int sig)
{
	(void)sig;
	trapped++;
}

static int setup(void)
{
	struct sigaction sa = { .sa_handler = on_trap, .sa_flags = SA_RESTART | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGWINCH);
	if (sigaction(SIGTRAP, &sa, NULL)) {
		perror("sigaction");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	struct sigaction sa;
	sig_atomic_t before = trapped;

	if (sigaction(SIGTRAP, NULL, &sa))
		return FAILED("sigaction: %s", strerror(errno));
	if (sa.sa_handler != on_trap)
		return FAILED("the SIGTRAP handler is %p, want %p", (void *)sa.sa_handler,
			      (void *)on_trap);
	if ((sa.sa_flags & (SA_RESTART | SA_NODEFER)) != (SA_RESTART | SA_NODEFER))
		return FAILED("the SIGTRAP flags are 0x%x", (unsigned)sa.sa_flags);
	if (!sigismember(&sa.sa_mask, SIGWINCH) || sigismember(&sa.sa_mask, SIGPIPE))
		return FAILED("the SIGTRAP handler's mask changed");
	raise(SIGTRAP);
	if (trapped != before + 1)
		return FAILED("raise(SIGTRAP) ran the handler %d times", (int)(trapped - before));
	return 0;
}
