/*
 * attrs-refuse.c - process and thread attributes thaw does not restore, found
 * at dump so that the dump is refused with a message that names them,
 * rather than a restore that silently drops them (docs/compatibility.md).
 *
 * Each is rare and either needs what a restoring host may not have (CPU
 * features, CAP_SYS_RESOURCE) or cannot be tested on the machines thaw is
 * tested on; refusing costs one read of /proc or one syscall from outside
 * per thread.  Where only the task can see a setting (L1D flush), the
 * injected call is made only when this host has the feature at all.
 */
#define LOG_TAG "attrs"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"

/* task flags of /proc/PID/stat (include/linux/sched.h; unchanged since Linux 5.9) */
#define PF_MEMALLOC_NOIO 0x00080000u
#define PF_LOCAL_THROTTLE 0x00100000u
#define PR_IO_FLUSHER (PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE)

#define PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG_ 0x4211 /* Linux 6.3 */
#define PR_SCHED_CORE_ 62
#define PR_SCHED_CORE_GET_ 0
#define PIDTYPE_PID_ 0
#define PR_SPEC_L1D_FLUSH_ 2

struct sud_config {
	uint64_t mode, selector, offset, len;
};

bool host_cpu_has(const char *flag)
{
	static char *flags; /* the first CPU's flags line, read once */
	char *text, *line, *end;
	size_t len, n = strlen(flag);
	bool found = false;

	if (!flags && proc_read_file("/proc/cpuinfo", &text, &len) == 0) {
		line = strstr(text, "\nflags");
		end = line ? strchr(line + 1, '\n') : NULL;
		if (end)
			*end = '\0';
		flags = strdup(line ? line : "");
		free(text);
	}
	for (line = flags ? strchr(flags, ':') : NULL; line && !found; line = strchr(line + 1, ' '))
		found = !strncmp(line + 1, flag, n) && (line[1 + n] == ' ' || !line[1 + n]);
	return found;
}

static int refuse(pid_t pid, pid_t tid, const char *what)
{
	if (tid && tid != pid)
		log_error("pid %d tid %d: %s is not supported", pid, tid, what);
	else
		log_error("pid %d: %s is not supported", pid, what);
	return -ENOTSUP;
}

int attrs_refuse_thread(struct frozen *fz, pid_t tid)
{
	struct sud_config sud = { 0 };
	struct proc_status st;
	struct proc_stat sp;
	uint64_t cookie = 0;
	int ret;

	ret = proc_read_status(fz->pid, tid, &st);
	if (ret == 0)
		ret = proc_read_stat(fz->pid, tid, &sp);
	if (ret < 0)
		return ret;
	if (st.is_ssb_thread_mitigated)
		return refuse(fz->pid, tid, "a speculative store bypass mitigation the thread "
					    "chose (PR_SET_SPECULATION_CTRL)");
	if (st.is_ib_thread_disabled)
		return refuse(fz->pid, tid, "an indirect branch speculation mitigation the thread "
					    "chose (PR_SET_SPECULATION_CTRL)");
	if (st.has_x86_thread_features)
		return refuse(fz->pid, tid, "a shadow stack (x86_Thread_features, ARCH_SHSTK_ENABLE)");
	if ((sp.flags & PR_IO_FLUSHER) == PR_IO_FLUSHER)
		return refuse(fz->pid, tid, "PR_SET_IO_FLUSHER");
	if (ptrace(PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG_, tid, (void *)sizeof(sud), &sud) == 0 &&
	    sud.mode)
		return refuse(fz->pid, tid, "syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH)");
	/* EINVAL: a kernel without core scheduling, where no task has a cookie */
	if (prctl(PR_SCHED_CORE_, PR_SCHED_CORE_GET_, tid, PIDTYPE_PID_, &cookie) == 0 && cookie)
		return refuse(fz->pid, tid, "a core scheduling cookie (PR_SCHED_CORE)");
	/* only a kernel booted with l1d_flush=on lets a task ask for it */
	if (prctl(PR_GET_SPECULATION_CTRL, PR_SPEC_L1D_FLUSH_, 0, 0, 0) != PR_SPEC_FORCE_DISABLE) {
		uint64_t args[6] = { PR_GET_SPECULATION_CTRL, PR_SPEC_L1D_FLUSH_, 0, 0, 0, 0 };
		long res;

		ret = inject_syscall(fz, tid, SYS_prctl, args, NULL, 0, &res);
		if (ret < 0)
			return ret;
		if (res > 0 && (res & PR_SPEC_PRCTL) && (res & PR_SPEC_ENABLE))
			return refuse(fz->pid, tid, "L1D flushing on context switch "
						    "(PR_SPEC_L1D_FLUSH)");
	}
	return 0;
}

static bool ksm_merges_any(pid_t pid)
{
	char path[64], *text;
	size_t len;
	bool yes;

	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", pid);
	if (proc_read_file(path, &text, &len) < 0)
		return false; /* a kernel without KSM */
	yes = strstr(text, "ksm_merge_any: yes") != NULL;
	free(text);
	return yes;
}

int attrs_refuse_process(struct frozen *fz, bool is_root)
{
	struct proc_status st;
	struct proc_stat sp;
	int ret;

	ret = proc_read_status(fz->pid, 0, &st);
	if (ret == 0)
		ret = proc_read_stat(fz->pid, 0, &sp);
	if (ret < 0)
		return ret;
	if (st.untag_mask != UINT64_MAX)
		return refuse(fz->pid, 0, "tagged addresses (LAM, ARCH_ENABLE_TAGGED_ADDR)");
	/* the root's exit signal goes to a parent outside the snapshot, which it loses anyway */
	if (!is_root && sp.exit_signal != SIGCHLD) {
		log_error("pid %d: a child created with exit signal %d instead of SIGCHLD (clone) is "
			  "not supported",
			  fz->pid, sp.exit_signal);
		return -ENOTSUP;
	}
	if (ksm_merges_any(fz->pid))
		return refuse(fz->pid, 0, "KSM merging of all its memory (PR_SET_MEMORY_MERGE)");
	return 0;
}
