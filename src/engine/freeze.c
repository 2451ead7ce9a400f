/*
 * freeze.c - stop every thread of a process with ptrace, and let it go.
 *
 * PTRACE_SEIZE + PTRACE_INTERRUPT leaves each thread in a ptrace event stop
 * inside the kernel's signal path, with the registers of the moment and the
 * syscall-restart decision still ahead of it: so letting it go later (or
 * killing it) is invisible to the program.  Threads created while we freeze
 * are caught by scanning /proc/PID/task again until nothing new shows up.
 */
#define LOG_TAG "freeze"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"

#define FREEZE_ATTEMPTS 10

static bool has_tid(const struct frozen *fz, pid_t tid)
{
	size_t i;

	for (i = 0; i < fz->nr_tids; i++)
		if (fz->tids[i] == tid)
			return true;
	return false;
}

/* Waits for the event stop of a freshly interrupted thread; 1 if it exited. */
static int wait_interrupted(pid_t pid, pid_t tid)
{
	int status;

	for (;;) {
		if (waitpid(tid, &status, __WALL) < 0)
			return log_errno("pid %d tid %d: waiting for the thread to stop", pid, tid);
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return 1;
		if (!WIFSTOPPED(status))
			continue;
		if ((status >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/*
		 * A signal was about to be delivered: give it back and stop at
		 * the interrupt that is still pending.
		 */
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(status)) < 0)
			return log_errno("pid %d tid %d: re-delivering signal %d", pid, tid,
					 WSTOPSIG(status));
	}
}

static int seize_thread(struct frozen *fz, pid_t tid)
{
	pid_t *tids;
	int ret;

	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD) < 0) {
		if (errno == ESRCH)
			return 0; /* exited meanwhile */
		if (errno == EPERM) {
			struct proc_status st;

			if (proc_read_status(fz->pid, tid, &st) == 0 && st.tracer_pid)
				log_error("pid %d tid %d: already traced by pid %d", fz->pid, tid,
					  st.tracer_pid);
			else
				log_error("pid %d tid %d: not allowed to trace it", fz->pid, tid);
			return -EPERM;
		}
		return log_errno("pid %d tid %d: PTRACE_SEIZE", fz->pid, tid);
	}
	tids = realloc(fz->tids, (fz->nr_tids + 1) * sizeof(*tids));
	if (!tids) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return -ENOMEM;
	}
	fz->tids = tids;
	fz->tids[fz->nr_tids++] = tid;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return log_errno("pid %d tid %d: PTRACE_INTERRUPT", fz->pid, tid);
	ret = wait_interrupted(fz->pid, tid);
	if (ret == 1) {
		fz->nr_tids--; /* the thread ended while we stopped it */
		return 0;
	}
	return ret;
}

static int check_no_children(pid_t pid, const struct frozen *fz)
{
	size_t i;

	for (i = 0; i < fz->nr_tids; i++) {
		char path[64], *text = NULL;
		size_t len;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, fz->tids[i]);
		if (proc_read_file(path, &text, &len) < 0)
			continue;
		if (len && text[0] >= '0' && text[0] <= '9') {
			log_error("pid %d has child process %d: process trees are not supported yet",
				  pid, atoi(text));
			free(text);
			return -ENOTSUP;
		}
		free(text);
	}
	return 0;
}

int freeze_process(pid_t pid, struct frozen *fz)
{
	struct proc_status st;
	int attempt, ret;

	memset(fz, 0, sizeof(*fz));
	fz->pid = pid;
	ret = proc_read_status(pid, 0, &st);
	if (ret < 0) {
		log_error("pid %d: no such process", pid);
		return ret;
	}
	if (st.tgid != pid) {
		log_error("pid %d is a thread of process %d: dump the process", pid, st.tgid);
		return -EINVAL;
	}
	if (st.state == 'Z' || st.state == 'X') {
		log_error("pid %d is a zombie: nothing to dump", pid);
		return -EINVAL;
	}
	for (attempt = 0; attempt < FREEZE_ATTEMPTS; attempt++) {
		pid_t *tids = NULL;
		size_t n = 0, i;
		bool found_new = false;

		ret = proc_list_tasks(pid, &tids, &n);
		if (ret < 0)
			goto fail;
		for (i = 0; i < n && ret == 0; i++) {
			if (has_tid(fz, tids[i]))
				continue;
			found_new = true;
			ret = seize_thread(fz, tids[i]);
		}
		free(tids);
		if (ret < 0)
			goto fail;
		if (!found_new)
			break;
	}
	if (attempt == FREEZE_ATTEMPTS) {
		log_error("pid %d keeps creating threads: could not stop them all", pid);
		ret = -EAGAIN;
		goto fail;
	}
	if (!fz->nr_tids || fz->tids[0] != pid) {
		log_error("pid %d exited while being frozen", pid);
		ret = -ESRCH;
		goto fail;
	}
	ret = check_no_children(pid, fz);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	frozen_release(fz, false);
	return ret;
}

void frozen_release(struct frozen *fz, bool kill_it)
{
	size_t i;

	if (kill_it && fz->nr_tids)
		kill(fz->pid, SIGKILL);
	for (i = 0; i < fz->nr_tids; i++)
		ptrace(PTRACE_DETACH, fz->tids[i], NULL, NULL);
	free(fz->tids);
	fz->tids = NULL;
	fz->nr_tids = 0;
}
