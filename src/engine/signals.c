/*
 * signals.c - job control at dump, and the signal state a restore can only
 * put back at its very end, from the tracer, once every thread of the
 * process has trapped out of the restorer blob.
 *
 * Job control: a process in group stop (SIGSTOP, or SIGTSTP, SIGTTIN,
 * SIGTTOU with their default action) reports that stop signal to the
 * freezer instead of SIGTRAP (freeze.c); it is recorded, and the restored
 * process is sent the same signal while its threads are still traced, so
 * that the first thread let go starts the group stop and the others join
 * it before running any code.  Its parent sees the stop again (waitpid
 * WUNTRACED, SIGCHLD), as after any stop; a later SIGCONT resumes it.
 *
 * The blob ends each thread on int3 with every signal blocked, and the
 * kernel treats the SIGTRAP of an int3 as a forced signal: since it is
 * blocked, it resets SIGTRAP's action to SIG_DFL and unblocks it.  So the
 * helper's restored SIGTRAP action is lost there and is set again here; and
 * a SIGTRAP the program had pending would be taken for the blob's own
 * trap, so the blob leaves those (and SIGSTOP, which no mask holds back)
 * for this file to queue (restorer.h, restorer_queues_late()).  A pending
 * SIGSTOP becomes a stop after the release, like a recorded group stop.
 *
 * The order in restore.c's finish_process(): every thread's mask full again
 * (undoing the int3's unblocking), then this, then the timers, then the
 * program's own registers and masks.
 */
#define LOG_TAG "signals"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "base/log.h"
#include "engine-internal.h"
#include "restorer/restorer.h"

#define SIGINFO_SIZE 128

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

void signals_dump_stop(struct frozen *fz, struct image *img)
{
	if (!is_stop_signal(fz->stop_signal))
		return;
	img->job_control.stop_signal = (uint32_t)fz->stop_signal;
	log_info("pid %d is stopped (SIG%s): it is dumped as stopped, and comes back so", fz->pid,
		 sigabbrev_np(fz->stop_signal));
}

int signals_block_all(pid_t tid)
{
	uint64_t all = ~0ull;

	if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(all), &all) < 0)
		return log_errno("tid %d: blocking every signal", tid);
	return 0;
}

static int restore_sigtrap_action(struct frozen *fz, const struct image *img)
{
	const struct image_sigaction *s = &img->proc.sigactions[SIGTRAP - 1];
	uint64_t act[4] = { s->handler, s->flags, s->restorer, s->mask };
	uint64_t args[6] = { SIGTRAP, INJECT_SCRATCH, 0, 8, 0, 0 };
	long res;
	int ret;

	/* only the handler was reset: the flags and mask are still the program's */
	if (s->handler == (uint64_t)(uintptr_t)SIG_DFL)
		return 0;
	ret = inject_syscall(fz, fz->pid, SYS_rt_sigaction, args, act, sizeof(act), &res);
	if (ret == 0 && res < 0) {
		log_error("pid %d: setting the action of SIGTRAP: %s", fz->pid,
			  strerror((int)-res));
		ret = (int)res;
	}
	return ret;
}

/*
 * Queues the late signals of one queue (a thread's, or the process's when
 * tid is 0).  The process queues them to itself, so that the kernel keeps
 * every field of the siginfo as it was.
 */
static int queue_late(struct frozen *fz, const struct image *img, const struct image_blob *queue,
		      pid_t tid, int *ret_stop_sig)
{
	unsigned char *infos = NULL;
	size_t n, i;
	int ret;

	if (!queue->len)
		return 0;
	ret = image_read_blob(img, queue, (void **)&infos);
	if (ret < 0)
		return ret;
	n = queue->len / SIGINFO_SIZE;
	for (i = 0; ret == 0 && i < n; i++) {
		unsigned char info[SIGINFO_SIZE];
		int32_t sig;
		long res;

		memcpy(info, infos + i * SIGINFO_SIZE, SIGINFO_SIZE);
		memcpy(&sig, info, sizeof(sig));
		if (!restorer_queues_late(sig))
			continue;
		if (sig == SIGSTOP) {
			/* sent at the release: a stop here would stop the tracer's calls */
			if (!*ret_stop_sig)
				*ret_stop_sig = SIGSTOP;
			continue;
		}
		if (tid) {
			uint64_t args[6] = { (uint64_t)fz->pid, (uint64_t)tid, (uint64_t)sig,
					     INJECT_SCRATCH, 0, 0 };

			ret = inject_syscall(fz, fz->pid, SYS_rt_tgsigqueueinfo, args, info,
					     sizeof(info), &res);
		} else {
			uint64_t args[6] = { (uint64_t)fz->pid, (uint64_t)sig, INJECT_SCRATCH,
					     0, 0, 0 };

			ret = inject_syscall(fz, fz->pid, SYS_rt_sigqueueinfo, args, info,
					     sizeof(info), &res);
		}
		if (ret == 0 && res < 0) {
			log_error("pid %d tid %d: queueing pending signal %d: %s", fz->pid,
				  tid ? tid : fz->pid, sig, strerror((int)-res));
			ret = (int)res;
		}
	}
	free(infos);
	return ret;
}

int signals_restore_late(struct frozen *fz, const struct image *img, int *ret_stop_sig)
{
	uint32_t i;
	int ret;

	*ret_stop_sig = (int)img->job_control.stop_signal;
	ret = restore_sigtrap_action(fz, img);
	for (i = 0; ret == 0 && i < img->nr_threads; i++)
		ret = queue_late(fz, img, &img->threads[i].pending, img->threads[i].tid,
				 ret_stop_sig);
	if (ret == 0)
		ret = queue_late(fz, img, &img->proc.pending_shared, 0, ret_stop_sig);
	return ret;
}
