/* compat: refuse vfork */
/*
 * vfork-parent.c - a thread of the program is inside vfork(): its child
 * shares the program's memory until it execs or exits, and the vforking
 * thread sleeps where no signal (and no ptrace interrupt) reaches it.  thaw
 * dump must refuse at once, naming vfork, rather than wait for a stop that
 * never comes; the program runs on, and its vfork completes normally.
 */
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"

static int release[2];
static volatile pid_t vforked;
static volatile int vfork_returned;

static void *vforker(void *arg)
{
	pid_t pid;
	char c;

	(void)arg;
	pid = vfork();
	if (pid == 0) {
		/* the child: raw calls only, on the parent's memory, until released */
		vforked = (pid_t)syscall(SYS_getpid);
		syscall(SYS_read, release[0], &c, 1);
		syscall(SYS_exit_group, 0);
	}
	__atomic_store_n(&vfork_returned, pid > 0 ? 1 : -1, __ATOMIC_SEQ_CST);
	return NULL;
}

static pthread_t thread;

static int setup(void)
{
	int i;

	if (pipe(release) || pthread_create(&thread, NULL, vforker, NULL)) {
		perror("setup");
		return -1;
	}
	for (i = 0; i < 5000 && !vforked; i++)
		usleep(1000);
	if (!vforked) {
		fprintf(stderr, "the vfork child did not start\n");
		return -1;
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	static int calls;
	int i, status;

	if (__atomic_load_n(&vfork_returned, __ATOMIC_SEQ_CST))
		return FAILED("vfork returned before its child was released");
	if (kill(vforked, 0))
		return FAILED("the vfork child %d is gone: %s", (int)vforked, strerror(errno));
	if (++calls == 1)
		return 0;
	/* after the refused dump: the vfork completes as it would have */
	if (write(release[1], "x", 1) != 1)
		return FAILED("releasing the child: %s", strerror(errno));
	for (i = 0; i < 5000 && !__atomic_load_n(&vfork_returned, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	if (__atomic_load_n(&vfork_returned, __ATOMIC_SEQ_CST) != 1)
		return FAILED("vfork did not return once its child exited");
	pthread_join(thread, NULL);
	if (waitpid(vforked, &status, 0) != vforked || !WIFEXITED(status) || WEXITSTATUS(status))
		return FAILED("the vfork child ended with status %#x", status);
	return 0;
}
