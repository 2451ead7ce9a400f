/*
 * threads.h - threads for compat tests whose state is per thread.
 *
 * A compat thread sits in read() on a pipe; compat_call() hands it a
 * function, which it runs on itself (prctl and friends act on the calling
 * thread), and returns what the function returned.  Pipes are ordinary
 * state thaw restores, so the same threads answer before and after.
 */
#ifndef THAW_TESTS_COMPAT_THREADS_H
#define THAW_TESTS_COMPAT_THREADS_H

#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

struct compat_thread {
	pthread_t handle;
	volatile pid_t tid;
	int req[2], resp[2];
};

struct compat_request {
	long (*fn)(void *arg);
	void *arg;
};

static inline void *compat_thread_main(void *p)
{
	struct compat_thread *t = p;
	struct compat_request r;
	long res;

	t->tid = (pid_t)syscall(SYS_gettid);
	for (;;) {
		if (read(t->req[0], &r, sizeof(r)) != sizeof(r))
			continue;
		res = r.fn(r.arg);
		if (write(t->resp[1], &res, sizeof(res)) != sizeof(res))
			perror("compat thread: write");
	}
	return NULL;
}

/* Starts a thread that waits for work; -1 with a message on failure. */
static inline int compat_thread_start(struct compat_thread *t)
{
	if (pipe(t->req) || pipe(t->resp)) {
		perror("pipe");
		return -1;
	}
	t->tid = 0;
	if (pthread_create(&t->handle, NULL, compat_thread_main, t)) {
		perror("pthread_create");
		return -1;
	}
	while (!t->tid)
		usleep(1000);
	return 0;
}

/* Runs fn(arg) in thread t and returns its result. */
static inline long compat_call(struct compat_thread *t, long (*fn)(void *), void *arg)
{
	struct compat_request r = { fn, arg };
	long res = -1;

	if (write(t->req[1], &r, sizeof(r)) != sizeof(r) ||
	    read(t->resp[0], &res, sizeof(res)) != sizeof(res))
		perror("compat_call");
	return res;
}

#endif
