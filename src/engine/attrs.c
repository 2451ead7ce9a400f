/*
 * attrs.c - process and thread attributes: scheduling, CPU affinity, I/O
 * priority, OOM score adjustment, core dump filter, audit login uid, timer
 * slack, parent-death signal, machine-check kill policy, TSC access, THP
 * disabling, child subreaper, membarrier registrations, MDWE.  Dump and
 * restore halves side by side; docs/compatibility.md lists what is kept,
 * refused, or left to the host on purpose.
 *
 * Dump: most of it is visible from outside, per thread where the kernel
 * keeps it per thread (sched_getattr, getpriority, ioprio_get and
 * sched_getaffinity all take a TID; the machine-check policy is a task
 * flag in /proc/PID/task/TID/stat, the timer slack /proc/TID/timerslack_ns)
 * and from /proc/PID for the rest.  What a task shows only to itself
 * (parent-death signal, TSC mode, THP disabling, subreaper, membarrier
 * registrations, MDWE) is read with injected syscalls (inject.c): two per
 * thread, four per process.
 *
 * Restore happens in three places:
 *  - the helper, before it becomes the program, sets the per-process state
 *    on itself (/proc/self files, prctl, membarrier): it inherited thaw
 *    restore's values, which are not the program's;
 *  - the restorer blob: each thread sets what only it can set on itself
 *    (restorer.c, setup_thread), and the process turns on MDWE once every
 *    mapping is in place;
 *  - the tracer sets every thread's scheduling, affinity and I/O priority
 *    once the restorer has created the threads and before they run: they
 *    were cloned from the helper and carry its values until then.
 * Every value is read back after it is set: a host that silently gives
 * something else (a CPU that is not there, a clamped priority) fails the
 * restore with a message naming the thread and the value.
 *
 * CPU affinity is host-specific.  A thread whose affinity is what the
 * process tree's parent outside the snapshot had (nothing restricted it
 * beyond where it was started) gets no affinity in the snapshot and
 * inherits, at restore, what thaw restore runs with, as a cold start would.
 * A thread bound to CPUs of its own gets exactly those back, or the restore
 * fails when this host does not let it run on all of them.
 *
 * The slice a fair thread asked for with sched_setattr (kernel 6.12+:
 * sched_runtime under SCHED_OTHER/BATCH) is kept when it differs from the
 * kernel's default slice, which is what thaw itself runs with; a default
 * slice stays the restoring kernel's default.
 */
#define LOG_TAG "attrs"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/prctl.h>

#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"
#include "restorer/restorer.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
#define MEMBARRIER_GET_REGISTRATIONS (1 << 9) /* Linux 6.3 */
#define ARCH_GET_CPUID 0x1011
/* get_mempolicy(2): MPOL_F_NUMA_BALANCING, RELATIVE_NODES, STATIC_NODES are bits 13-15 */
#define MPOL_FLAGS_SHIFT 13
#define MPOL_MODE_FLAGS (7u << MPOL_FLAGS_SHIFT)
#define MPOL_MAX_MODE 6 /* MPOL_WEIGHTED_INTERLEAVE */
/* task flags of /proc/PID/stat (include/linux/sched.h; unchanged since Linux 2.6.32) */
#define PF_MCE_PROCESS 0x00000080u
#define PF_MCE_EARLY 0x08000000u

/* struct sched_attr of sched_setattr(2), up to the utilization clamps (SCHED_ATTR_SIZE_VER1) */
struct sched_attr_k {
	uint32_t size;
	uint32_t policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

#define SCHED_ATTR_VER0 48
#define SCHED_OTHER_ 0
#define SCHED_FIFO_ 1
#define SCHED_RR_ 2
#define SCHED_BATCH_ 3
#define SCHED_DEADLINE_ 6
/* SCHED_FLAG_* the kernel reports back; image.h keeps the same bits */
#define SCHED_FLAGS_KEPT 0x7u
#define IOPRIO_WHO_PROCESS 1
#define CPU_SET_BYTES (IMAGE_MAX_CPUS / 8)
/* utilization clamps as a kernel without CONFIG_UCLAMP_TASK, and one with, report them unset */
#define UCLAMP_MAX_DEFAULT 1024

static const char *const policy_names[] = { "other", "fifo",	 "rr",	"batch",
					    "iso",   "idle", "deadline", "ext" };

static const char *policy_name(uint32_t policy)
{
	return policy < sizeof(policy_names) / sizeof(policy_names[0]) ? policy_names[policy] : "?";
}

static int sched_getattr_k(pid_t tid, struct sched_attr_k *attr)
{
	memset(attr, 0, sizeof(*attr));
	return syscall(SYS_sched_getattr, tid, attr, sizeof(*attr), 0) < 0 ? -errno : 0;
}

static int sched_setattr_k(pid_t tid, const struct sched_attr_k *attr)
{
	return syscall(SYS_sched_setattr, tid, attr, 0) < 0 ? -errno : 0;
}

/* The nice value of one thread; getpriority(2) raw returns 20 - nice. */
static int get_nice(pid_t tid, int32_t *ret)
{
	long r = syscall(SYS_getpriority, PRIO_PROCESS, tid);

	if (r < 0)
		return -errno;
	*ret = (int32_t)(20 - r);
	return 0;
}

/* "0-3,8,10-11" for people, from ascending CPU numbers. */
static void format_cpus(const uint32_t *cpus, uint32_t n, char *buf, size_t len)
{
	size_t used = 0;
	uint32_t i, j;

	buf[0] = '\0';
	for (i = 0; i < n && used < len; i = j) {
		for (j = i + 1; j < n && cpus[j] == cpus[j - 1] + 1; j++)
			;
		if (j - i > 1)
			used += (size_t)snprintf(buf + used, len - used, "%s%u-%u", i ? "," : "",
						 cpus[i], cpus[j - 1]);
		else
			used += (size_t)snprintf(buf + used, len - used, "%s%u", i ? "," : "",
						 cpus[i]);
	}
	if (!n)
		snprintf(buf, len, "none");
}

/* The CPUs of a mask as an ascending list in cpus[] (IMAGE_MAX_CPUS long); returns the count. */
static uint32_t mask_to_cpus(const cpu_set_t *set, uint32_t *cpus)
{
	uint32_t n = 0, c;

	for (c = 0; c < IMAGE_MAX_CPUS; c++)
		if (CPU_ISSET_S(c, CPU_SET_BYTES, set))
			cpus[n++] = c;
	return n;
}

static int get_affinity(pid_t tid, cpu_set_t *set)
{
	CPU_ZERO_S(CPU_SET_BYTES, set);
	return sched_getaffinity(tid, CPU_SET_BYTES, set) < 0 ? -errno : 0;
}

/* A decimal or hex number from a small /proc file; logged on failure unless quiet. */
static int read_number(const char *path, int base, long long *ret, bool quiet)
{
	char buf[32], *end;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	err = errno;
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		if (!quiet)
			log_error("reading %s: %s", path, strerror(err));
		return -err;
	}
	buf[n] = '\0';
	errno = 0;
	*ret = strtoll(buf, &end, base);
	if (errno || end == buf || (*end && *end != '\n')) {
		if (!quiet)
			log_error("%s: unexpected contents \"%.*s\"", path, (int)n, buf);
		return -EINVAL;
	}
	return 0;
}

/* /proc/PID/file (or /proc/self/file when pid is 0). */
static int read_proc_number(pid_t pid, const char *file, int base, long long *ret)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	return read_number(path, base, ret, false);
}

/* ---------------------------------------------------------------- dump */

/*
 * What a thread that nothing restricted runs with: the affinity of the
 * tree's parent outside the snapshot, and the kernel's default slice.
 */
struct attrs_ref {
	cpu_set_t *outside;
	uint64_t base_slice;
};

/* prctl(option, &out) (or prctl(option) when out is NULL) in thread tid. */
static int inject_prctl(struct frozen *fz, pid_t tid, int option, const char *what, long *ret,
			int32_t *out)
{
	uint64_t args[6] = { (uint64_t)option, out ? INJECT_SCRATCH : 0, 0, 0, 0, 0 };
	int32_t scratch = 0;
	int r;

	r = inject_syscall(fz, tid, SYS_prctl, args, out ? &scratch : NULL, out ? sizeof(scratch) : 0,
			   ret);
	if (r < 0)
		return r;
	if (*ret < 0) {
		log_error("pid %d tid %d: reading %s: %s", fz->pid, tid, what, strerror((int)-*ret));
		return (int)*ret;
	}
	if (out)
		*out = scratch;
	return 0;
}

/* The thread's NUMA memory policy: get_mempolicy(2) from inside. */
static int dump_mempolicy(struct frozen *fz, pid_t tid, struct image_thread_attrs *a)
{
	struct {
		int32_t mode;
		int32_t pad;
		uint64_t nodes[IMAGE_MAX_NODES / 64];
	} out = { 0 };
	uint64_t args[6] = { INJECT_SCRATCH, INJECT_SCRATCH + offsetof(typeof(out), nodes),
			     IMAGE_MAX_NODES, 0, 0, 0 };
	uint32_t n, i;
	long res;
	int ret;

	ret = inject_syscall(fz, tid, SYS_get_mempolicy, args, &out, sizeof(out), &res);
	if (ret < 0)
		return ret;
	if (res < 0) {
		log_error("pid %d tid %d: get_mempolicy: %s", fz->pid, tid, strerror((int)-res));
		return (int)res;
	}
	a->mpol_mode = (uint32_t)out.mode & ~MPOL_MODE_FLAGS;
	a->mpol_flags = ((uint32_t)out.mode & MPOL_MODE_FLAGS) >> MPOL_FLAGS_SHIFT;
	if (a->mpol_mode > MPOL_MAX_MODE) {
		log_error("pid %d tid %d: memory policy mode %u is unknown", fz->pid, tid,
			  a->mpol_mode);
		return -ENOTSUP;
	}
	for (i = 0, n = 0; i < IMAGE_MAX_NODES; i++)
		n += !!(out.nodes[i / 64] & (1ull << (i % 64)));
	if (!n || a->mpol_mode == 0 || a->mpol_mode == 4)
		return 0;
	a->mpol_nodes = calloc(n, sizeof(*a->mpol_nodes));
	if (!a->mpol_nodes)
		return -ENOMEM;
	for (i = 0; i < IMAGE_MAX_NODES; i++)
		if (out.nodes[i / 64] & (1ull << (i % 64)))
			a->mpol_nodes[a->nr_mpol_nodes++] = i;
	return 0;
}

/*
 * /proc/TID/timerslack_ns (a TID not under task/ still has its directory)
 * shows another task's slack only to a reader with CAP_SYS_NICE, which a
 * container may not give: then the thread is asked from inside.
 */
static int read_timerslack(struct frozen *fz, pid_t tid, long long *ret)
{
	char path[64];
	long res;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/timerslack_ns", tid);
	if (read_number(path, 10, ret, true) == 0 && *ret >= 0)
		return 0;
	r = inject_prctl(fz, tid, PR_GET_TIMERSLACK, "the timer slack", &res, NULL);
	*ret = res;
	return r;
}

/*
 * Timer slack and the machine-check policy from /proc (a thread's own
 * /proc/TID/timerslack_ns: the file is not under task/, but every TID has
 * one), the parent-death signal and the TSC mode from inside.
 */
static int dump_thread_inside(struct frozen *fz, pid_t tid, struct image_thread_attrs *a)
{
	struct proc_stat st;
	long long slack;
	int32_t v = 0;
	long res;
	int ret;

	ret = read_timerslack(fz, tid, &slack);
	if (ret < 0)
		return ret;
	a->timerslack_ns = (uint64_t)slack;
	if (!slack && a->policy != SCHED_FIFO_ && a->policy != SCHED_RR_ &&
	    a->policy != SCHED_DEADLINE_) {
		log_error("pid %d tid %d: a timer slack of 0 under policy %s cannot be set again "
			  "(PR_SET_TIMERSLACK 0 means the default)",
			  fz->pid, tid, policy_name(a->policy));
		return -ENOTSUP;
	}
	ret = inject_prctl(fz, tid, PR_GET_PDEATHSIG, "the parent-death signal", &res, &v);
	if (ret < 0)
		return ret;
	a->pdeathsig = v;
	ret = inject_prctl(fz, tid, PR_GET_TSC, "the TSC mode", &res, &v);
	if (ret < 0)
		return ret;
	a->tsc_sigsegv = v == PR_TSC_SIGSEGV;
	/* without CPUID faulting in the CPU, no thread can have it on */
	if (host_cpu_has("cpuid_fault")) {
		uint64_t args[6] = { ARCH_GET_CPUID, 0, 0, 0, 0, 0 };

		ret = inject_syscall(fz, tid, SYS_arch_prctl, args, NULL, 0, &res);
		if (ret < 0)
			return ret;
		a->cpuid_faulting = res == 0;
	}
	ret = dump_mempolicy(fz, tid, a);
	if (ret < 0)
		return ret;
	ret = proc_read_stat(fz->pid, tid, &st);
	if (ret < 0)
		return ret;
	if (st.flags & PF_MCE_PROCESS)
		a->mce_kill = st.flags & PF_MCE_EARLY ? IMAGE_MCE_KILL_EARLY : IMAGE_MCE_KILL_LATE;
	return 0;
}

static int dump_thread_attrs(pid_t pid, pid_t tid, const struct attrs_ref *ref,
			     struct image_thread_attrs *a)
{
	struct sched_attr_k attr;
	cpu_set_t *set = CPU_ALLOC(IMAGE_MAX_CPUS);
	uint32_t *cpus = NULL;
	long prio;
	int ret;

	if (!set)
		return -ENOMEM;
	ret = sched_getattr_k(tid, &attr);
	if (ret < 0) {
		log_error("pid %d tid %d: sched_getattr: %s", pid, tid, strerror(-ret));
		goto out;
	}
	if (attr.util_min || (attr.util_max && attr.util_max != UCLAMP_MAX_DEFAULT)) {
		log_error("pid %d tid %d: utilization clamping (sched_setattr "
			  "SCHED_FLAG_UTIL_CLAMP, min %u max %u) is not supported",
			  pid, tid, attr.util_min, attr.util_max);
		ret = -ENOTSUP;
		goto out;
	}
	a->policy = attr.policy;
	a->sched_flags = (uint32_t)attr.flags & SCHED_FLAGS_KEPT;
	if (attr.policy == SCHED_FIFO_ || attr.policy == SCHED_RR_)
		a->rt_priority = attr.priority;
	if (attr.policy == SCHED_DEADLINE_) {
		a->dl_runtime = attr.runtime;
		a->dl_deadline = attr.deadline;
		a->dl_period = attr.period;
	}
	if ((attr.policy == SCHED_OTHER_ || attr.policy == SCHED_BATCH_) &&
	    attr.runtime != ref->base_slice)
		a->slice_ns = attr.runtime;
	ret = get_nice(tid, &a->nice);
	if (ret < 0) {
		log_error("pid %d tid %d: getpriority: %s", pid, tid, strerror(-ret));
		goto out;
	}
	prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
	if (prio < 0) {
		ret = log_errno("pid %d tid %d: ioprio_get", pid, tid);
		goto out;
	}
	a->ioprio = (uint32_t)prio;
	ret = get_affinity(tid, set);
	if (ret < 0) {
		log_error("pid %d tid %d: sched_getaffinity: %s", pid, tid, strerror(-ret));
		goto out;
	}
	if (ref->outside && CPU_EQUAL_S(CPU_SET_BYTES, set, ref->outside))
		goto out;
	cpus = malloc(IMAGE_MAX_CPUS * sizeof(*cpus));
	if (!cpus) {
		ret = -ENOMEM;
		goto out;
	}
	a->nr_cpus = mask_to_cpus(set, cpus);
	if (!a->nr_cpus) {
		free(cpus);
		goto out;
	}
	/* a smaller copy when the allocator has one; the big one does as well */
	a->cpus = realloc(cpus, a->nr_cpus * sizeof(*cpus)) ?: cpus;
out:
	CPU_FREE(set);
	return ret;
}


/* What only the process itself sees. */
#define ARCH_GET_XCOMP_PERM_ 0x1022
#define ARCH_REQ_XCOMP_PERM_ 0x1023
#define XFEATURE_XTILE_DATA 18 /* AMX: the one xsave feature a process must ask for */

/*
 * AMX permission (ARCH_REQ_XCOMP_PERM): what a process was granted, which
 * only it can see.  torch's oneDNN asks for it at import on CPUs with AMX,
 * so every torch worker on such a host has it.  Asked only where the host
 * has AMX at all.
 */
static int dump_amx_perm(struct frozen *fz, struct image_proc_attrs *a)
{
	uint64_t perm = 0, args[6] = { ARCH_GET_XCOMP_PERM_, INJECT_SCRATCH, 0, 0, 0, 0 };
	long res;
	int ret;

	if (!host_cpu_has("amx_tile"))
		return 0;
	ret = inject_syscall(fz, fz->pid, SYS_arch_prctl, args, &perm, sizeof(perm), &res);
	if (ret < 0)
		return ret;
	if (res < 0) {
		log_error("pid %d: ARCH_GET_XCOMP_PERM: %s", fz->pid, strerror((int)-res));
		return (int)res;
	}
	a->has_amx_perm = !!(perm & (1ull << XFEATURE_XTILE_DATA));
	return 0;
}

/* In the helper, before any thread's xstate (which may hold AMX tiles) goes back. */
static int set_amx_perm(bool has_perm)
{
	if (has_perm && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM_, XFEATURE_XTILE_DATA))
		return log_errno("asking for AMX (ARCH_REQ_XCOMP_PERM), which the process had");
	return 0;
}

static int dump_process_inside(struct frozen *fz, struct image *img)
{
	struct image_proc_attrs *a = &img->attrs;
	uint64_t args[6] = { 0 };
	int32_t v = 0;
	long res;
	int ret;

	ret = dump_amx_perm(fz, a);
	if (ret < 0)
		return ret;

	ret = inject_prctl(fz, fz->pid, PR_GET_THP_DISABLE, "PR_GET_THP_DISABLE", &res, NULL);
	if (ret < 0)
		return ret;
	a->thp_disable = (uint32_t)res & (IMAGE_THP_DISABLE | IMAGE_THP_EXCEPT_ADVISED);
	ret = inject_prctl(fz, fz->pid, PR_GET_CHILD_SUBREAPER, "PR_GET_CHILD_SUBREAPER", &res, &v);
	if (ret < 0)
		return ret;
	a->is_child_subreaper = v != 0;
	/* a kernel before 6.3 has no MDWE (EINVAL): nothing can be on */
	args[0] = PR_GET_MDWE;
	ret = inject_syscall(fz, fz->pid, SYS_prctl, args, NULL, 0, &res);
	if (ret < 0)
		return ret;
	if (res < 0 && res != -EINVAL) {
		log_error("pid %d: reading PR_GET_MDWE: %s", fz->pid, strerror((int)-res));
		return (int)res;
	}
	a->mdwe = res > 0 ? (uint32_t)res & (IMAGE_MDWE_REFUSE_EXEC_GAIN | IMAGE_MDWE_NO_INHERIT) : 0;
	args[0] = MEMBARRIER_GET_REGISTRATIONS;
	ret = inject_syscall(fz, fz->pid, SYS_membarrier, args, NULL, 0, &res);
	if (ret < 0)
		return ret;
	if (res == -EINVAL) {
		log_warn("pid %d: this kernel (before 6.3) does not show membarrier registrations: "
			 "a registered process gets EPERM from expedited membarrier after restore",
			 fz->pid);
		return 0;
	}
	if (res < 0) {
		log_error("pid %d: membarrier GET_REGISTRATIONS: %s", fz->pid, strerror((int)-res));
		return (int)res;
	}
	a->membarrier = (uint32_t)res & IMAGE_MEMBARRIER_REGISTERED;
	return 0;
}

/*
 * "/autogroup-42 nice 5": a session's scheduling group.  Only a session
 * leader's is its own: the others share one that a restore does not make
 * (their session is thaw restore's or is led by another process).
 */
static int dump_autogroup(pid_t pid, struct image_proc_attrs *a)
{
	char path[64], *text, *nice;
	struct proc_stat st;
	size_t len;
	int ret;

	ret = proc_read_stat(pid, 0, &st);
	if (ret < 0 || st.session != pid)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/autogroup", pid);
	if (proc_read_file(path, &text, &len) < 0)
		return 0; /* a kernel without autogroups */
	nice = strstr(text, " nice ");
	a->autogroup_nice = nice ? atoi(nice + 6) : 0;
	free(text);
	if (!nice || a->autogroup_nice < -20 || a->autogroup_nice > 19) {
		log_error("pid %d: %s: unexpected contents", pid, path);
		return -EINVAL;
	}
	return 0;
}

int attrs_dump(struct frozen *fz, struct image *img, pid_t root)
{
	struct attrs_ref ref = { NULL, 0 };
	struct sched_attr_k self;
	struct proc_stat st;
	long long v;
	size_t i;
	int ret;

	ret = read_proc_number(fz->pid, "oom_score_adj", 10, &v);
	if (ret < 0)
		return ret;
	img->attrs.oom_score_adj = (int32_t)v;
	ret = read_proc_number(fz->pid, "coredump_filter", 16, &v);
	if (ret < 0)
		return ret;
	img->attrs.coredump_filter = (uint32_t)v;
	ret = read_proc_number(fz->pid, "loginuid", 10, &v);
	if (ret < 0)
		return ret;
	img->attrs.loginuid = (uint32_t)v;

	/* thaw runs with the kernel's default slice (a fork resets it); 0 when thaw is realtime */
	if (sched_getattr_k(0, &self) == 0 &&
	    (self.policy == SCHED_OTHER_ || self.policy == SCHED_BATCH_))
		ref.base_slice = self.runtime;
	ref.outside = CPU_ALLOC(IMAGE_MAX_CPUS);
	if (!ref.outside)
		return -ENOMEM;
	/* without a parent to compare with, every affinity is recorded */
	if (proc_read_stat(root, 0, &st) < 0 || st.ppid <= 0 || get_affinity(st.ppid, ref.outside) < 0) {
		CPU_FREE(ref.outside);
		ref.outside = NULL;
	}
	ret = attrs_refuse_process(fz, fz->pid == root);
	for (i = 0; ret == 0 && i < fz->nr_tids && i < img->nr_threads; i++) {
		ret = attrs_refuse_thread(fz, fz->tids[i]);
		if (ret == 0)
			ret = dump_thread_attrs(fz->pid, fz->tids[i], &ref, &img->threads[i].attrs);
		if (ret == 0)
			ret = dump_thread_inside(fz, fz->tids[i], &img->threads[i].attrs);
	}
	CPU_FREE(ref.outside);
	if (ret == 0)
		ret = dump_autogroup(fz->pid, &img->attrs);
	return ret < 0 ? ret : dump_process_inside(fz, img);
}

/* -------------------------------------------------------------- restore */

/* In the helper, about itself: a /proc/self file gets a value it can read back. */
static int write_self(const char *file, const char *what, long long want, int base,
		      const char *hint)
{
	char path[64], buf[32];
	long long got;
	int fd, n, ret = 0;

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno("setting %s: opening %s", what, path);
	n = snprintf(buf, sizeof(buf), base == 16 ? "0x%llx" : "%lld", want);
	if (write(fd, buf, (size_t)n) != n)
		ret = -errno;
	close(fd);
	if (ret < 0) {
		log_error("setting %s to %s: %s%s", what, buf, strerror(-ret),
			  ret == -EACCES || ret == -EPERM ? hint : "");
		return ret;
	}
	ret = read_proc_number(0, file, base, &got);
	if (ret == 0 && got != want) {
		log_error("setting %s to %s: it reads back as %lld", what, buf, got);
		ret = -EIO;
	}
	return ret;
}

/* The audit login uid, if it differs from the one inherited from thaw restore. */
static int set_loginuid(uint32_t want)
{
	long long got;
	int ret = read_proc_number(0, "loginuid", 10, &got);

	if (ret < 0 || (uint32_t)got == want)
		return ret;
	return write_self("loginuid", "the audit login uid", want, 10,
			  " (setting it needs CAP_AUDIT_CONTROL, or an unset one and a kernel "
			  "that allows it)");
}

/* membarrier(2) registrations: made again one by one, then read back. */
static int set_membarrier(uint32_t want)
{
	long got;
	int bit;

	for (bit = 0; bit < 32; bit++)
		if ((want & (1u << bit)) && syscall(SYS_membarrier, 1u << bit, 0, 0) < 0)
			return log_errno("registering for membarrier command 0x%x", 1u << bit);
	got = syscall(SYS_membarrier, MEMBARRIER_GET_REGISTRATIONS, 0, 0);
	if (got < 0 && !want)
		return 0; /* before Linux 6.3: nothing registered, nothing to compare */
	if (got < 0 || ((uint32_t)got & IMAGE_MEMBARRIER_REGISTERED) != want) {
		log_error("membarrier registrations read back as 0x%lx, the snapshot has 0x%x", got,
			  want);
		return -EIO;
	}
	return 0;
}

/* THP disabling, the subreaper flag, and MDWE (which only the restorer may turn on). */
static int set_prctls(const struct image_proc_attrs *a)
{
	long mdwe;

	if (prctl(PR_SET_THP_DISABLE, a->thp_disable & IMAGE_THP_DISABLE,
		  a->thp_disable & IMAGE_THP_EXCEPT_ADVISED, 0, 0) < 0)
		return log_errno("PR_SET_THP_DISABLE %s",
				 a->thp_disable & IMAGE_THP_EXCEPT_ADVISED ? "except advised"
				 : a->thp_disable			   ? "on"
									   : "off");
	if ((uint32_t)prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != a->thp_disable) {
		log_error("PR_SET_THP_DISABLE: this kernel does not keep 0x%x", a->thp_disable);
		return -ENOTSUP;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, a->is_child_subreaper, 0, 0, 0) < 0)
		return log_errno("PR_SET_CHILD_SUBREAPER");
	/* it cannot be turned off: one inherited from thaw restore the snapshot lacks is fatal */
	mdwe = prctl(PR_GET_MDWE, 0, 0, 0, 0);
	if (mdwe > 0 && (mdwe & ~(long)a->mdwe)) {
		log_error("thaw restore runs with memory-deny-write-execute (0x%lx), which the "
			  "snapshot's process did not have",
			  mdwe);
		return -EPERM;
	}
	return 0;
}

/* A session leader's autogroup nice value; the helper has made its session by now. */
static int set_autogroup(const struct image *img)
{
	char buf[16];
	int fd, n, ret = 0;

	if (img->proc.sid != img->proc.pid || !img->attrs.autogroup_nice)
		return 0;
	fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno("setting the autogroup's nice value %d", img->attrs.autogroup_nice);
	n = snprintf(buf, sizeof(buf), "%d", img->attrs.autogroup_nice);
	if (write(fd, buf, (size_t)n) != n)
		ret = log_errno("setting the autogroup's nice value %d%s", img->attrs.autogroup_nice,
				img->attrs.autogroup_nice < 0 ? " (a negative one needs CAP_SYS_NICE)"
							      : "");
	close(fd);
	return ret;
}

/*
 * A thaw restore run under a realtime policy (chrt) would hand it to every
 * thread the restorer clones, and a realtime thread cannot set its timer
 * slack: the helper goes back to SCHED_OTHER.  The tracer gives each thread
 * its own policy at the end.
 */
static int leave_realtime(void)
{
	struct sched_attr_k attr;
	int ret = sched_getattr_k(0, &attr);

	if (ret < 0 || (attr.policy != SCHED_FIFO_ && attr.policy != SCHED_RR_ &&
			attr.policy != SCHED_DEADLINE_))
		return 0;
	attr = (struct sched_attr_k){ .size = SCHED_ATTR_VER0, .policy = SCHED_OTHER_ };
	ret = get_nice(0, &attr.nice);
	if (ret == 0)
		ret = sched_setattr_k(0, &attr);
	if (ret < 0)
		log_error("leaving thaw restore's realtime policy: %s", strerror(-ret));
	return ret;
}

int attrs_restore_process(const struct image *img)
{
	const struct image_proc_attrs *a = &img->attrs;
	int ret;

	ret = leave_realtime();
	if (ret == 0)
		ret = write_self("oom_score_adj", "oom_score_adj", a->oom_score_adj, 10,
			 " (lowering it below what thaw restore runs with needs "
			 "CAP_SYS_RESOURCE)");
	if (ret == 0)
		ret = write_self("coredump_filter", "the core dump filter", a->coredump_filter, 16,
				 "");
	if (ret == 0)
		ret = set_loginuid(a->loginuid);
	if (ret == 0)
		ret = set_prctls(a);
	if (ret == 0)
		ret = set_membarrier(a->membarrier);
	if (ret == 0)
		ret = set_autogroup(img);
	if (ret == 0)
		ret = set_amx_perm(a->has_amx_perm);
	return ret;
}

void attrs_fill_thread(struct restorer_thread *rt, const struct image_thread_attrs *a)
{
	uint32_t i;
	static const uint32_t mce[] = { [IMAGE_MCE_KILL_DEFAULT] = RESTORER_MCE_KILL_CLEAR,
					[IMAGE_MCE_KILL_EARLY] = PR_MCE_KILL_EARLY,
					[IMAGE_MCE_KILL_LATE] = PR_MCE_KILL_LATE };

	rt->timerslack_ns = a->timerslack_ns;
	rt->pdeathsig = a->pdeathsig;
	rt->mce_kill = a->mce_kill <= IMAGE_MCE_KILL_LATE ? mce[a->mce_kill] : RESTORER_MCE_KILL_CLEAR;
	rt->tsc = a->tsc_sigsegv ? PR_TSC_SIGSEGV : PR_TSC_ENABLE;
	rt->cpuid = !a->cpuid_faulting;
	rt->mpol_mode = (int32_t)(a->mpol_mode | a->mpol_flags << MPOL_FLAGS_SHIFT);
	memset(rt->mpol_nodes, 0, sizeof(rt->mpol_nodes));
	for (i = 0; i < a->nr_mpol_nodes; i++)
		if (a->mpol_nodes[i] < RESTORER_NODE_WORDS * 64)
			rt->mpol_nodes[a->mpol_nodes[i] / 64] |= 1ull << (a->mpol_nodes[i] % 64);
}

static int set_affinity(pid_t pid, pid_t tid, const struct image_thread_attrs *a)
{
	cpu_set_t *set = CPU_ALLOC(IMAGE_MAX_CPUS);
	uint32_t *got = NULL, nr_got, i;
	char want_s[256], got_s[256];
	int ret = 0;

	if (!set)
		return -ENOMEM;
	CPU_ZERO_S(CPU_SET_BYTES, set);
	for (i = 0; i < a->nr_cpus; i++)
		CPU_SET_S(a->cpus[i], CPU_SET_BYTES, set);
	format_cpus(a->cpus, a->nr_cpus, want_s, sizeof(want_s));
	/* EINVAL: none of them is here; otherwise the kernel keeps those that are */
	if (sched_setaffinity(tid, CPU_SET_BYTES, set) < 0 && errno != EINVAL) {
		ret = log_errno("pid %d tid %d: binding it to CPUs %s", pid, tid, want_s);
		goto out;
	}
	got = malloc(IMAGE_MAX_CPUS * sizeof(*got));
	ret = got ? get_affinity(tid, set) : -ENOMEM;
	if (ret < 0)
		goto out;
	nr_got = mask_to_cpus(set, got);
	if (nr_got != a->nr_cpus || memcmp(got, a->cpus, nr_got * sizeof(*got))) {
		format_cpus(got, nr_got, got_s, sizeof(got_s));
		log_error("pid %d tid %d was bound to CPUs %s (sched_setaffinity), which this host (or "
			  "its cpuset) does not all offer: it would run on CPUs %s",
			  pid, tid, want_s, got_s);
		ret = -EINVAL;
	}
out:
	free(got);
	CPU_FREE(set);
	return ret;
}

/* What sched_getattr shows of the thread equals what the snapshot has. */
static bool sched_matches(const struct image_thread_attrs *a, const struct sched_attr_k *got,
			  int32_t nice)
{
	if (got->policy != a->policy || ((uint32_t)got->flags & SCHED_FLAGS_KEPT) != a->sched_flags ||
	    nice != a->nice)
		return false;
	if (a->policy == SCHED_FIFO_ || a->policy == SCHED_RR_)
		return got->priority == a->rt_priority;
	if (a->policy == SCHED_DEADLINE_)
		return got->runtime == a->dl_runtime && got->deadline == a->dl_deadline &&
		       got->period == a->dl_period;
	return !a->slice_ns || got->runtime == a->slice_ns;
}

static int set_sched(pid_t pid, pid_t tid, const struct image_thread_attrs *a)
{
	struct sched_attr_k attr = { .size = SCHED_ATTR_VER0, .policy = SCHED_OTHER_,
				     .nice = a->nice };
	bool is_fair = a->policy == SCHED_OTHER_ || a->policy == SCHED_BATCH_;
	struct sched_attr_k now;
	int32_t nice = 0;
	int ret;

	/*
	 * Most threads already have what they had (what the helper inherited):
	 * leave them alone, as setting another uid's thread, even to the same
	 * values, needs CAP_SYS_NICE.
	 */
	ret = sched_getattr_k(tid, &now);
	if (ret == 0)
		ret = get_nice(tid, &nice);
	if (ret == 0 && sched_matches(a, &now, nice))
		return 0;
	/* the nice value of a thread under another policy is set under SCHED_OTHER first */
	ret = is_fair ? 0 : sched_setattr_k(tid, &attr);
	if (ret == 0) {
		attr.policy = a->policy;
		attr.flags = a->sched_flags;
		attr.priority = a->rt_priority;
		attr.runtime = a->policy == SCHED_DEADLINE_ ? a->dl_runtime : a->slice_ns;
		attr.deadline = a->dl_deadline;
		attr.period = a->dl_period;
		ret = sched_setattr_k(tid, &attr);
	}
	if (ret < 0) {
		log_error("pid %d tid %d: setting policy %s (nice %d, priority %u%s): %s%s", pid, tid,
			  policy_name(a->policy), a->nice, a->rt_priority,
			  a->sched_flags & IMAGE_SCHED_FLAG_RESET_ON_FORK ? ", reset-on-fork" : "",
			  strerror(-ret),
			  ret == -EPERM ? " (a realtime policy or a lower nice value needs "
					  "CAP_SYS_NICE or RLIMIT_RTPRIO/RLIMIT_NICE)"
			  : ret == -EBUSY ? " (this host's deadline bandwidth is taken)"
					  : "");
		return ret;
	}
	ret = sched_getattr_k(tid, &attr);
	if (ret == 0)
		ret = get_nice(tid, &nice);
	if (ret < 0) {
		log_error("pid %d tid %d: reading its scheduling back: %s", pid, tid, strerror(-ret));
		return ret;
	}
	if (!sched_matches(a, &attr, nice)) {
		log_error("pid %d tid %d: scheduling reads back as policy %s nice %d priority %u, the "
			  "snapshot has policy %s nice %d priority %u",
			  pid, tid, policy_name(attr.policy), nice, attr.priority,
			  policy_name(a->policy), a->nice, a->rt_priority);
		return -EIO;
	}
	return 0;
}

static int set_ioprio(pid_t pid, pid_t tid, const struct image_thread_attrs *a)
{
	long got = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);

	if (got == (long)a->ioprio)
		return 0;
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, a->ioprio) < 0)
		return log_errno("pid %d tid %d: setting I/O priority class %u level %u", pid, tid,
				 a->ioprio >> 13, a->ioprio & 7);
	got = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
	if (got != (long)a->ioprio) {
		log_error("pid %d tid %d: I/O priority reads back as 0x%lx, the snapshot has 0x%x",
			  pid, tid,
			  got, a->ioprio);
		return -EIO;
	}
	return 0;
}

int attrs_restore_thread(pid_t pid, pid_t tid, const struct image_thread_attrs *a)
{
	int ret = 0;

	/* affinity first: a deadline thread must keep the whole root domain */
	if (a->nr_cpus)
		ret = set_affinity(pid, tid, a);
	if (ret == 0)
		ret = set_sched(pid, tid, a);
	if (ret == 0)
		ret = set_ioprio(pid, tid, a);
	return ret;
}
