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

/*
 * Waits for the event stop of a freshly interrupted thread; 1 if it exited.
 * A seized thread of a process in group stop (SIGSTOP, SIGTSTP ...) reports
 * the stop signal there instead of SIGTRAP, and goes on reporting it while
 * the group stop lasts: *ret_stop_sig gets it, or 0.
 */
static int wait_interrupted(pid_t pid, pid_t tid, int *ret_stop_sig)
{
	int status;

	*ret_stop_sig = 0;

	for (;;) {
		if (waitpid(tid, &status, __WALL) < 0)
			return log_errno("pid %d tid %d: waiting for the thread to stop", pid, tid);
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return 1;
		if (!WIFSTOPPED(status))
			continue;
		if ((status >> 16) == PTRACE_EVENT_STOP) {
			if (WSTOPSIG(status) != SIGTRAP)
				*ret_stop_sig = WSTOPSIG(status);
			return 0;
		}
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
	int ret, stop_sig;

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
	ret = wait_interrupted(fz->pid, tid, &stop_sig);
	if (ret == 1) {
		fz->nr_tids--; /* the thread ended while we stopped it */
		return 0;
	}
	if (stop_sig)
		fz->stop_signal = stop_sig;
	return ret;
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

/* ------------------------------------------------------------------ trees */

static int add_zombie(struct frozen_tree *t, pid_t pid, pid_t ppid)
{
	struct frozen_zombie *z = realloc(t->zombies, (t->nr_zombies + 1) * sizeof(*z));
	struct proc_stat sp;
	int ret;

	if (!z)
		return -ENOMEM;
	t->zombies = z;
	ret = proc_read_stat(pid, 0, &sp);
	if (ret < 0) {
		log_error("pid %d: reading the exit status of zombie %d: %s", ppid, pid,
			  strerror(-ret));
		return ret;
	}
	z[t->nr_zombies++] = (struct frozen_zombie){ pid, ppid, sp.exit_code };
	return 0;
}

/*
 * Freezes pid, then its children, breadth first: a process's children are
 * read once all its threads are stopped, so none can be added behind us.
 */
int freeze_tree(pid_t pid, struct frozen_tree *t)
{
	size_t next;
	int ret;

	memset(t, 0, sizeof(*t));
	t->procs = calloc(1, sizeof(*t->procs));
	t->ppids = calloc(1, sizeof(*t->ppids));
	if (!t->procs || !t->ppids) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = freeze_process(pid, &t->procs[0]);
	if (ret < 0)
		goto fail;
	t->nr = 1;
	for (next = 0; next < t->nr; next++) {
		pid_t *kids = NULL, parent = t->procs[next].pid;
		size_t nr_kids = 0, i;

		/* all its threads are stopped: the list cannot change under us */
		ret = proc_list_children(parent, &kids, &nr_kids);
		for (i = 0; ret == 0 && i < nr_kids; i++) {
			struct proc_status st;
			struct frozen *procs;
			pid_t *ppids;

			if (proc_read_status(kids[i], 0, &st) < 0)
				continue; /* reaped meanwhile by a thread we had not stopped yet */
			if (st.state == 'Z' || st.state == 'X') {
				ret = add_zombie(t, kids[i], parent);
				continue;
			}
			if (t->nr >= FREEZE_MAX_PROCS) {
				log_error("pid %d: more than %d processes in the tree", pid,
					  FREEZE_MAX_PROCS);
				ret = -E2BIG;
				break;
			}
			procs = realloc(t->procs, (t->nr + 1) * sizeof(*procs));
			ppids = procs ? realloc(t->ppids, (t->nr + 1) * sizeof(*ppids)) : NULL;
			if (procs)
				t->procs = procs;
			if (!ppids) {
				ret = -ENOMEM;
				break;
			}
			t->ppids = ppids;
			ret = freeze_process(kids[i], &t->procs[t->nr]);
			if (ret < 0) {
				log_error("pid %d: cannot freeze its child %d", parent, kids[i]);
				break;
			}
			t->ppids[t->nr++] = parent;
		}
		free(kids);
		if (ret < 0)
			goto fail;
	}
	return 0;
fail:
	frozen_tree_release(t, false);
	return ret;
}

void frozen_tree_release(struct frozen_tree *t, bool kill_it)
{
	size_t i;

	/* all killed first, so that no parent sees a child die while it still runs */
	for (i = 0; kill_it && i < t->nr; i++)
		if (t->procs[i].nr_tids)
			kill(t->procs[i].pid, SIGKILL);
	for (i = 0; i < t->nr; i++)
		frozen_release(&t->procs[i], false);
	free(t->procs);
	free(t->ppids);
	free(t->zombies);
	memset(t, 0, sizeof(*t));
}
