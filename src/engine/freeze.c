/*
 * freeze.c - stop every thread of a process with ptrace, and let it go.
 *
 * PTRACE_SEIZE + PTRACE_INTERRUPT leaves each thread in a ptrace event stop
 * inside the kernel's signal path, with the registers of the moment and the
 * syscall-restart decision still ahead of it: so letting it go later (or
 * killing it) is invisible to the program.  Threads created while we freeze
 * are caught by scanning /proc/PID/task again until nothing new shows up.
 *
 * No wait for a stop is unbounded (wait_tracee): a thread that cannot stop
 * is a clear error after FREEZE_STOP_TIMEOUT_MS, not a dump that never
 * returns.  The one such thread a program makes on purpose is a vfork
 * parent, asleep until its child execs or exits where neither signals nor
 * PTRACE_INTERRUPT reach it: it is refused before anything is seized.  (A
 * thread seized but never stopped stays seized until the tracing process
 * exits: nothing else can detach it.)
 *
 * A tree whose threads we hold stopped already (the restore's tracer, before
 * it lets a restored tree go) is adopted instead: listed the same way, never
 * seized, never let go or killed by frozen_tree_release().
 */
#define LOG_TAG "freeze"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"

#define FREEZE_ATTEMPTS 10
#define FREEZE_STOP_TIMEOUT_MS 10000

#ifndef KCMP_VM
#define KCMP_VM 1
#endif

/*
 * The watchdog that bounds a blocking waitpid(): a timer of this thread's
 * that sends it WATCHDOG_SIGNAL every WATCHDOG_TICK_MS while a wait lasts,
 * so that waitpid() returns EINTR (the handler does nothing, without
 * SA_RESTART) and the deadline is looked at.  A ticking timer, not a single
 * shot, so that a tick that lands just before waitpid() sleeps is not lost.
 */
#define WATCHDOG_SIGNAL (SIGRTMIN + 7)
#define WATCHDOG_TICK_MS 50

static void watchdog_tick(int sig)
{
	(void)sig;
}

static __thread timer_t watchdog;
static __thread bool has_watchdog;

static int watchdog_arm(bool on)
{
	struct itimerspec its = { 0 };

	if (!has_watchdog) {
		struct sigaction sa = { .sa_handler = watchdog_tick };
		struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID,
					.sigev_signo = WATCHDOG_SIGNAL };
		sigset_t set;

		sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		sigemptyset(&sa.sa_mask);
		sigemptyset(&set);
		sigaddset(&set, WATCHDOG_SIGNAL);
		if (sigaction(WATCHDOG_SIGNAL, &sa, NULL) ||
		    pthread_sigmask(SIG_UNBLOCK, &set, NULL) ||
		    timer_create(CLOCK_MONOTONIC, &sev, &watchdog))
			return -errno;
		has_watchdog = true;
	}
	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = WATCHDOG_TICK_MS * 1000000L;
	return timer_settime(watchdog, 0, &its, NULL) ? -errno : 0;
}

int wait_tracee(pid_t tid, int *ret_status, int timeout_ms)
{
	double deadline;
	pid_t got;
	int ret;

	got = waitpid(tid, ret_status, WNOHANG | __WALL);
	if (got == tid)
		return 0;
	if (got < 0 && errno != EINTR)
		return -errno;
	deadline = now_ms() + timeout_ms;
	ret = watchdog_arm(true);
	if (ret < 0)
		return ret;
	for (;;) {
		got = waitpid(tid, ret_status, __WALL);
		if (got == tid)
			break;
		if (got < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (now_ms() > deadline) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	watchdog_arm(false);
	return ret;
}

/* What a thread that will not stop is doing, for the error: its state and wait channel. */
static void describe_stuck(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64], *wchan = NULL;
	struct proc_stat st;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, tid);
	if (proc_read_file(path, &wchan, &n) < 0 || !n || !strcmp(wchan, "0")) {
		free(wchan);
		wchan = NULL;
	}
	if (proc_read_stat(pid, tid, &st) < 0)
		st.state = '?';
	snprintf(buf, len, "state %c%s%s%s", st.state, wchan ? ", waiting in " : "",
		 wchan ? wchan : "", st.state == 'D' ? ": uninterruptible sleep" : "");
	free(wchan);
}

/*
 * A thread of pid inside vfork(): a child sharing its memory (kcmp), and a
 * thread of it asleep uninterruptibly, as vfork waits.  (A child that shares
 * the memory through clone(CLONE_VM) alone is refused later, once frozen.)
 */
static int refuse_vfork(pid_t pid)
{
	pid_t *kids = NULL, *tids = NULL, child = 0;
	size_t nr_kids = 0, nr_tids = 0, i;
	struct proc_stat st;
	int ret = 0;

	if (proc_list_children(pid, &kids, &nr_kids) < 0)
		return 0; /* the freeze finds what is wrong */
	for (i = 0; i < nr_kids && !child; i++)
		if (syscall(SYS_kcmp, pid, kids[i], KCMP_VM, 0, 0) == 0)
			child = kids[i];
	free(kids);
	if (!child || proc_list_tasks(pid, &tids, &nr_tids) < 0)
		return 0;
	for (i = 0; i < nr_tids && !ret; i++) {
		if (proc_read_stat(pid, tids[i], &st) < 0 || st.state != 'D')
			continue;
		log_error("pid %d is inside vfork(): thread %d waits, where no signal reaches it, "
			  "until its child %d (which shares its memory) execs or exits; dump it "
			  "again after that",
			  pid, tids[i], child);
		ret = -EBUSY;
	}
	free(tids);
	return ret;
}

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
	char why[160];
	int status, ret;

	*ret_stop_sig = 0;
	for (;;) {
		ret = wait_tracee(tid, &status, FREEZE_STOP_TIMEOUT_MS);
		if (ret == -ETIMEDOUT) {
			describe_stuck(pid, tid, why, sizeof(why));
			log_error("pid %d tid %d: did not stop within %d s (%s)", pid, tid,
				  FREEZE_STOP_TIMEOUT_MS / 1000, why);
			return ret;
		}
		if (ret < 0) {
			errno = -ret;
			return log_errno("pid %d tid %d: waiting for the thread to stop", pid, tid);
		}
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

	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)FREEZE_PTRACE_OPTIONS) < 0) {
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

/* The threads of pid, which the caller already traces and has stopped: listed, not seized. */
static int adopt_threads(struct frozen *fz)
{
	pid_t *tids = NULL;
	size_t n = 0;
	int ret = proc_list_tasks(fz->pid, &tids, &n);

	if (ret < 0)
		return ret;
	fz->tids = tids;
	fz->nr_tids = n;
	fz->is_adopted = true;
	return 0;
}

static int take_process(pid_t pid, struct frozen *fz, bool adopt)
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
	ret = refuse_vfork(pid);
	if (ret < 0)
		return ret;
	if (adopt) {
		ret = adopt_threads(fz);
		if (ret < 0)
			goto fail;
	}
	for (attempt = 0; !adopt && attempt < FREEZE_ATTEMPTS; attempt++) {
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

int freeze_process(pid_t pid, struct frozen *fz)
{
	return take_process(pid, fz, false);
}

void frozen_release(struct frozen *fz, bool kill_it)
{
	size_t i;

	if (fz->is_adopted) {
		free(fz->tids);
		fz->tids = NULL;
		fz->nr_tids = 0;
		return;
	}
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
 * With adopt, every thread is stopped under our tracing already.
 */
static int take_tree(pid_t pid, struct frozen_tree *t, bool adopt)
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
	ret = take_process(pid, &t->procs[0], adopt);
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
			ret = take_process(kids[i], &t->procs[t->nr], adopt);
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

int freeze_tree(pid_t pid, struct frozen_tree *t)
{
	return take_tree(pid, t, false);
}

int frozen_tree_adopt(pid_t pid, struct frozen_tree *t)
{
	return take_tree(pid, t, true);
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
