/*
 * test-freeze.c - the bounded waits of the freezer (freeze.c): a tracee
 * that stops is waited for as before; one that never stops is an error
 * once the time is up, not a wait that never returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

static pid_t spinner(void)
{
	pid_t pid = fork();

	if (pid == 0)
		for (;;)
			;
	return pid;
}

static void test_wait_stops(void **state)
{
	pid_t pid = spinner();
	int status = 0;

	(void)state;
	assert_true(pid > 0);
	assert_int_equal(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	assert_int_equal(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), 0);
	assert_int_equal(wait_tracee(pid, &status, 10000), 0);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(status >> 16, PTRACE_EVENT_STOP);
	kill(pid, SIGKILL);
	assert_int_equal(wait_tracee(pid, &status, 10000), 0);
	assert_true(WIFSIGNALED(status));
}

static void test_wait_times_out(void **state)
{
	pid_t pid = spinner();
	double t0;
	int status = 0;

	(void)state;
	assert_true(pid > 0);
	/* seized but never asked to stop: no stop comes */
	assert_int_equal(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	t0 = now_ms();
	assert_int_equal(wait_tracee(pid, &status, 200), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 200);
	/* and the same thread is waited for again once it does stop */
	assert_int_equal(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), 0);
	assert_int_equal(wait_tracee(pid, &status, 10000), 0);
	assert_true(WIFSTOPPED(status));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, __WALL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_stops),
		cmocka_unit_test(test_wait_times_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
