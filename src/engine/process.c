/*
 * process.c - per-process state: ids, mm fields, cwd, exe, rlimits,
 * sigactions, personality, umask (and, through timers.c, the timers).
 *
 * Most of it is read from /proc from outside (rlimits too: /proc/PID/limits
 * is readable where prlimit(2) on another uid's process is not).  Sigactions,
 * timers and the exact brk are visible only from inside: they are read with
 * injected system calls (inject.c).  Every signal is asked about: a default
 * action can still carry flags (SA_NOCLDSTOP on SIGCHLD) that /proc does not
 * show.
 */
#define LOG_TAG "process"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "engine-internal.h"
#include "fds.h"
#include "proc.h"

_Static_assert(IMAGE_NR_RLIMITS == PROC_NR_RLIMITS, "one rlimit list");

/* the kernel's struct sigaction for rt_sigaction */
struct ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

static pid_t inner(pid_t outer, pid_t outer_self, pid_t inner_self)
{
	/* ids of our own process translate; others stay as the dumper saw them */
	return outer == outer_self ? inner_self : outer;
}

/* Every signal's action, read by one borrowing of the thread for all of them. */
static int dump_sigactions(struct frozen *fz, struct image *img)
{
	struct ksigaction acts[IMAGE_NR_SIGNALS] = { 0 };
	struct inject_call calls[IMAGE_NR_SIGNALS];
	int sigs[IMAGE_NR_SIGNALS], sig, ret;
	size_t n = 0, k;

	_Static_assert(sizeof(acts) <= INJECT_SCRATCH_MAX, "sigactions fit in the scratch area");
	for (sig = 1; sig <= IMAGE_NR_SIGNALS; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		calls[n] = (struct inject_call){ SYS_rt_sigaction,
						 { (uint64_t)sig, 0,
						   INJECT_SCRATCH + n * sizeof(acts[0]), 8, 0, 0 },
						 0 };
		sigs[n++] = sig;
	}
	ret = inject_syscalls(fz, fz->pid, calls, n, acts, n * sizeof(acts[0]));
	if (ret < 0)
		return ret;
	for (k = 0; k < n; k++) {
		if (calls[k].result < 0) {
			log_error("pid %d: reading the action of signal %d: %s", fz->pid, sigs[k],
				  strerror((int)-calls[k].result));
			return (int)calls[k].result;
		}
		img->proc.sigactions[sigs[k] - 1] = (struct image_sigaction){
			acts[k].handler, acts[k].flags, acts[k].restorer, acts[k].mask
		};
	}
	return 0;
}

static int dump_brk(struct frozen *fz, struct image *img)
{
	uint64_t args[6] = { 0 };
	long res;
	int ret;

	ret = inject_syscall(fz, fz->pid, SYS_brk, args, NULL, 0, &res);
	if (ret < 0)
		return ret;
	img->proc.mm.brk = (uint64_t)res;
	return 0;
}

/*
 * The root directory (chroot).  Restore chroots to it by path, so the path
 * /proc shows must lead thaw's own root to the very same directory: a root
 * removed since, or out of thaw's reach (another mount namespace's), is
 * refused.  In a container root (container_root: the dumper set up the
 * root of the process's mount namespace, and whoever restores it sets it up
 * again) /proc shows paths of that root, which thaw cannot reach: they are
 * recorded as the process sees them.
 */
static int dump_root(struct frozen *fz, struct image *img, bool container_root)
{
	char path[64], target[IMAGE_MAX_PATH];
	struct stat want, got;
	const char *reached;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/root", fz->pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0 || stat(path, &want) < 0)
		return log_errno("pid %d: reading its root directory", fz->pid);
	target[n] = 0;
	img->root.container = container_root;
	if (container_root) {
		if (target[0] != '/') {
			log_error("pid %d: its root directory %s is not a path of its container",
				  fz->pid, target);
			return -ENOTSUP;
		}
		if (!strcmp(target, "/"))
			return 0;
		img->root.path = strdup(target);
		return img->root.path ? 0 : -ENOMEM;
	}
	reached = target[0] == '/' ? target : NULL;
	if (!reached || stat(reached, &got) < 0 || got.st_dev != want.st_dev ||
	    got.st_ino != want.st_ino || !S_ISDIR(got.st_mode)) {
		log_error("pid %d: its root directory (chroot) %s cannot be reached from thaw's "
			  "root: it cannot be restored",
			  fz->pid, target);
		return -ENOTSUP;
	}
	if (!strcmp(target, "/"))
		return 0;
	img->root.path = strdup(target);
	return img->root.path ? 0 : -ENOMEM;
}

static int dump_links(struct frozen *fz, struct image *img, bool container_root)
{
	char path[64], target[IMAGE_MAX_PATH];
	ssize_t n;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/cwd", fz->pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return log_errno("pid %d: reading its working directory", fz->pid);
	target[n] = 0;
	img->proc.cwd = strdup(target);
	if (!img->proc.cwd)
		return -ENOMEM;
	ret = dump_root(fz, img, container_root);
	if (ret < 0)
		return ret;

	snprintf(path, sizeof(path), "/proc/%d/exe", fz->pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return log_errno("pid %d: reading its executable", fz->pid);
	target[n] = 0;
	{
		size_t len = (size_t)n;
		bool deleted = len > 10 && !strcmp(target + len - 10, " (deleted)");

		if (deleted)
			target[len - 10] = 0;
		ret = files_add(img, fz->pid, path, target, deleted);
	}
	if (ret < 0)
		return ret;
	img->proc.exe = ret;
	return 0;
}

int process_dump(struct frozen *fz, struct image *img, bool container_root)
{
	struct image_proc *p = &img->proc;
	struct proc_status st;
	struct proc_stat sp;
	struct proc_rlimit limits[PROC_NR_RLIMITS];
	unsigned char auxv[IMAGE_MAX_AUXV];
	size_t auxv_len;
	pid_t self;
	int ret, r;

	ret = proc_read_status(fz->pid, 0, &st);
	if (ret < 0)
		return ret;
	ret = proc_read_stat(fz->pid, 0, &sp);
	if (ret < 0)
		return ret;
	self = st.nspid_n ? st.nspid[st.nspid_n - 1] : fz->pid;
	p->pid = self;
	p->host_pid = fz->pid;
	p->ppid = sp.ppid;
	p->pgid = inner(sp.pgrp, fz->pid, self);
	p->sid = inner(sp.session, fz->pid, self);
	snprintf(p->comm, sizeof(p->comm), "%.15s", sp.comm);
	p->umask = st.umask;
	p->mm = (struct image_mm){
		.start_code = sp.start_code,
		.end_code = sp.end_code,
		.start_data = sp.start_data,
		.end_data = sp.end_data,
		.start_brk = sp.start_brk,
		.start_stack = sp.start_stack,
		.arg_start = sp.arg_start,
		.arg_end = sp.arg_end,
		.env_start = sp.env_start,
		.env_end = sp.env_end,
	};
	ret = proc_read_personality(fz->pid, &p->personality);
	if (ret < 0)
		return ret;
	ret = proc_read_auxv(fz->pid, auxv, sizeof(auxv), &auxv_len);
	if (ret < 0) {
		log_error("pid %d: reading auxv: %s", fz->pid, strerror(-ret));
		return ret;
	}
	ret = image_add_blob(img, auxv, auxv_len, &p->auxv);
	if (ret < 0)
		return ret;
	/*
	 * From /proc, not prlimit(2): reading the limits of a process of
	 * another uid with prlimit needs CAP_SYS_RESOURCE, which root lacks
	 * in containers (Docker's default set).
	 */
	ret = proc_read_limits(fz->pid, limits);
	if (ret < 0)
		return ret;
	for (r = 0; r < IMAGE_NR_RLIMITS; r++) {
		p->rlimits[r].cur = limits[r].cur;
		p->rlimits[r].max = limits[r].max;
	}
	ret = dump_links(fz, img, container_root);
	if (ret < 0)
		return ret;
	ret = dump_sigactions(fz, img);
	if (ret < 0)
		return ret;
	signals_dump_stop(fz, img);
	ret = itimers_dump(fz, img);
	if (ret == 0)
		ret = posix_timers_dump(fz, img);
	if (ret == 0)
		ret = dump_brk(fz, img);
	if (ret < 0)
		return ret;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		p->dumped_at_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	return 0;
}
