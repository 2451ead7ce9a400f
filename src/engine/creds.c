/*
 * creds.c - what a process may do: its credentials and resource limits, at
 * dump and at restore.
 *
 * Credentials are per thread in Linux (each task has its own struct cred):
 * uids and gids (real, effective, saved, filesystem), supplementary groups,
 * the five capability sets, securebits, no_new_privs, and the seccomp
 * filters the thread runs under.  The dump reads them per thread from
 * /proc/PID/task/TID/status, securebits (which /proc does not show) with an
 * injected prctl, the filters with PTRACE_SECCOMP_GET_FILTER (each kept once
 * however many threads share it); per process it keeps the dumpable flag,
 * which an id change resets.  The restore gives each thread
 * exactly these, last, from inside (restorer.c, apply_creds()): up to then
 * the restored process has thaw's privileges, which it needs to build
 * itself.  Before anything is created, creds_check_restore() makes sure
 * thaw holds what the snapshot needs (a capability set can only shrink),
 * so that a restore never comes back with less, or more, than was dumped.
 *
 * Ids and capabilities are relative to a user namespace; thaw restores into
 * its own, so a process in another one is refused at dump.
 *
 * A restored process also sets its resource limits itself, in the
 * restorer, while it still has thaw's privileges.  Lowering a limit is
 * always allowed; raising a hard limit above thaw's own needs
 * CAP_SYS_RESOURCE, which root lacks in many containers.  Such a snapshot is
 * refused before anything is created, with the limit named, rather than
 * coming back with a limit that differs.
 */
#define LOG_TAG "creds"
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "engine-internal.h"
#include "proc.h"
#include "restorer/restorer.h"

static const char *const cap_names[] = {
	"chown",	"dac_override",	  "dac_read_search", "fowner",	       "fsetid",
	"kill",		"setgid",	  "setuid",	     "setpcap",	       "linux_immutable",
	"net_bind_service", "net_broadcast", "net_admin",    "net_raw",	       "ipc_lock",
	"ipc_owner",	"sys_module",	  "sys_rawio",	     "sys_chroot",     "sys_ptrace",
	"sys_pacct",	"sys_admin",	  "sys_boot",	     "sys_nice",       "sys_resource",
	"sys_time",	"sys_tty_config", "mknod",	     "lease",	       "audit_write",
	"audit_control", "setfcap",	  "mac_override",    "mac_admin",      "syslog",
	"wake_alarm",	"block_suspend",  "audit_read",	     "perfmon",	       "bpf",
	"checkpoint_restore",
};

/* The capabilities of mask, as "cap_setuid, cap_sys_admin" (or "capability 45"). */
static const char *cap_list(uint64_t mask, char *buf, size_t len)
{
	size_t at = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < 64 && at < len; i++) {
		if (!(mask >> i & 1))
			continue;
		if (i < (int)(sizeof(cap_names) / sizeof(cap_names[0])))
			at += (size_t)snprintf(buf + at, len - at, "%scap_%s", at ? ", " : "",
					       cap_names[i]);
		else
			at += (size_t)snprintf(buf + at, len - at, "%scapability %d", at ? ", " : "",
					       i);
	}
	return buf;
}

struct own_caps {
	uint64_t eff, prm, inh;
};

static int read_own_caps(struct own_caps *c)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	c->eff = (uint64_t)data[1].effective << 32 | data[0].effective;
	c->prm = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	c->inh = (uint64_t)data[1].inheritable << 32 | data[0].inheritable;
	return 0;
}

bool creds_have_cap(int cap)
{
	struct own_caps c;

	if (cap < 0 || cap > 63 || read_own_caps(&c) < 0)
		return false;
	return c.eff >> cap & 1;
}

int creds_last_cap(uint32_t *ret)
{
	char *text = NULL;
	size_t len;
	long v;
	int r;

	r = proc_read_file("/proc/sys/kernel/cap_last_cap", &text, &len);
	if (r < 0) {
		log_error("reading /proc/sys/kernel/cap_last_cap: %s", strerror(-r));
		return r;
	}
	v = strtol(text, NULL, 10);
	free(text);
	if (v < 0 || v > 63) {
		log_error("/proc/sys/kernel/cap_last_cap: %ld is not a capability", v);
		return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* ---- dump ---- */

/*
 * Seccomp: a thread in strict mode may make no system call but read, write,
 * exit and sigreturn; the first injected one would kill it, so the process
 * is refused before anything is injected.  Under filters, an injected call
 * could be refused, or kill the process, by the program's own filter:
 * PTRACE_O_SUSPEND_SECCOMP lets thaw's calls through until the threads are
 * let go (or thaw dies: detaching clears it).
 */
static int check_thread_seccomp(struct frozen *fz, pid_t tid)
{
	struct proc_status st;
	int r;

	r = proc_read_status(fz->pid, tid, &st);
	if (r < 0)
		return r;
	if (st.seccomp == 1) {
		log_error("pid %d tid %d runs in seccomp strict mode (SECCOMP_MODE_STRICT): the "
			  "system calls a dump injects would kill it: not supported",
			  fz->pid, tid);
		return -ENOTSUP;
	}
	if (st.seccomp != 2)
		return 0;
	if (ptrace(PTRACE_SETOPTIONS, tid, NULL,
		   (void *)(long)(FREEZE_PTRACE_OPTIONS | PTRACE_O_SUSPEND_SECCOMP)) < 0) {
		r = -errno;
		log_error("pid %d tid %d runs under seccomp filters, and thaw cannot suspend them "
			  "for the dump (PTRACE_O_SUSPEND_SECCOMP: %s; it needs CAP_SYS_ADMIN and a "
			  "thaw that is not under seccomp itself)",
			  fz->pid, tid, strerror(-r));
		return r;
	}
	return 0;
}

int creds_dump_check(struct frozen *fz)
{
	size_t i;
	int r;

	if (!proc_same_ns(getpid(), fz->pid, "user")) {
		log_error("pid %d runs in a user namespace of its own: its ids and capabilities "
			  "mean something only there, and thaw restores into its own: not supported",
			  fz->pid);
		return -ENOTSUP;
	}
	for (i = 0; i < fz->nr_tids; i++) {
		r = check_thread_seccomp(fz, fz->tids[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A prctl(option) with no other argument, run by thread tid. */
static int injected_prctl(struct frozen *fz, pid_t tid, int option, const char *what,
			  uint32_t *ret)
{
	uint64_t args[6] = { (uint64_t)option, 0, 0, 0, 0, 0 };
	long res;
	int r;

	r = inject_syscall(fz, tid, SYS_prctl, args, NULL, 0, &res);
	if (r < 0)
		return r;
	if (res < 0) {
		log_error("pid %d tid %d: reading its %s: %s", fz->pid, tid, what,
			  strerror((int)-res));
		return (int)res;
	}
	*ret = (uint32_t)res;
	return 0;
}

/* The process's filters so far, with their instructions, to keep each once. */
struct filter_set {
	size_t nr;
	struct known_filter {
		bool log;
		size_t len;
		void *insns;
	} *filters;
};

static void filter_set_free(struct filter_set *fs)
{
	size_t i;

	for (i = 0; i < fs->nr; i++)
		free(fs->filters[i].insns);
	free(fs->filters);
}

/* The image index of a filter: one seen before, or a new one (takes insns). */
static int filter_index(struct image *img, struct filter_set *fs, bool log, void *insns,
			size_t len, uint32_t *ret)
{
	struct known_filter *grown;
	struct image_seccomp_filter *f;
	size_t i;
	int r;

	for (i = 0; i < fs->nr; i++)
		if (fs->filters[i].log == log && fs->filters[i].len == len &&
		    !memcmp(fs->filters[i].insns, insns, len)) {
			free(insns);
			*ret = (uint32_t)i;
			return 0;
		}
	f = image_new_seccomp_filter(img);
	grown = realloc(fs->filters, (fs->nr + 1) * sizeof(*grown));
	if (!f || !grown) {
		if (grown)
			fs->filters = grown;
		free(insns);
		return -ENOMEM;
	}
	fs->filters = grown;
	f->log = log;
	r = image_add_blob(img, insns, len, &f->prog);
	fs->filters[fs->nr++] = (struct known_filter){ log, len, insns };
	*ret = (uint32_t)i;
	return r;
}

/* A return of SECCOMP_RET_USER_NOTIF hands calls to a supervisor thaw cannot bring back. */
static bool notifies_user(const struct sock_filter *insns, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (insns[i].code == (BPF_RET | BPF_K) &&
		    (insns[i].k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
			return true;
	return false;
}

/* struct seccomp_metadata of <linux/ptrace.h>, which clashes with glibc's header */
struct filter_metadata {
	uint64_t filter_off;
	uint64_t flags;
};

/* Filter k (0 is the oldest: PTRACE_SECCOMP_GET_FILTER counts from the root) of tid. */
static int dump_filter(struct frozen *fz, pid_t tid, uint32_t k, uint32_t count,
		       struct image *img, struct filter_set *fs, uint32_t *ret)
{
	struct filter_metadata md = { k, 0 };
	struct sock_filter *insns;
	long n, got;

	n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)(long)k, NULL);
	if (n <= 0 || n > IMAGE_MAX_BPF_INSNS) {
		int err = n < 0 ? errno : EINVAL;

		log_error("pid %d tid %d: reading seccomp filter %u of %u (PTRACE_SECCOMP_GET_FILTER): "
			  "%s", fz->pid, tid, k + 1, count,
			  err == EMEDIUMTYPE ? "not a classic BPF filter" : strerror(err));
		return -err;
	}
	insns = calloc((size_t)n, sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	got = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)(long)k, insns);
	if (got != n || ptrace(PTRACE_SECCOMP_GET_METADATA, tid, (void *)sizeof(md), &md) < 0) {
		int err = got < 0 || got == n ? errno : EIO;

		free(insns);
		log_error("pid %d tid %d: reading seccomp filter %u of %u: %s", fz->pid, tid,
			  k + 1, count, strerror(err));
		return -err;
	}
	if (notifies_user(insns, (size_t)n)) {
		free(insns);
		log_error("pid %d tid %d: seccomp filter %u of %u hands system calls to a "
			  "supervisor (SECCOMP_RET_USER_NOTIF), whose listener cannot be restored: "
			  "not supported",
			  fz->pid, tid, k + 1, count);
		return -ENOTSUP;
	}
	return filter_index(img, fs, md.flags & SECCOMP_FILTER_FLAG_LOG, insns,
			    (size_t)n * sizeof(*insns), ret);
}

/* The filters thread tid runs under, oldest first. */
static int dump_filters(struct frozen *fz, pid_t tid, uint32_t count, struct image *img,
			struct filter_set *fs, struct image_creds *c)
{
	uint32_t k;
	int r;

	if (count > IMAGE_MAX_SECCOMP_FILTERS) {
		log_error("pid %d tid %d: %u seccomp filters, at most %d supported", fz->pid, tid,
			  count, IMAGE_MAX_SECCOMP_FILTERS);
		return -ENOTSUP;
	}
	c->seccomp = calloc(count, sizeof(*c->seccomp));
	if (!c->seccomp)
		return -ENOMEM;
	for (k = 0; k < count; k++) {
		r = dump_filter(fz, tid, k, count, img, fs, &c->seccomp[k]);
		if (r < 0)
			return r;
		c->nr_seccomp = k + 1;
	}
	return 0;
}

static int dump_thread_creds(struct frozen *fz, pid_t tid, struct image *img,
			     struct filter_set *fs, struct image_creds *c)
{
	struct proc_creds pc;
	int r;

	r = proc_read_creds(fz->pid, tid, &pc);
	if (r < 0)
		return r;
	*c = (struct image_creds){
		.uid = pc.uid[0], .euid = pc.uid[1], .suid = pc.uid[2], .fsuid = pc.uid[3],
		.gid = pc.gid[0], .egid = pc.gid[1], .sgid = pc.gid[2], .fsgid = pc.gid[3],
		.nr_groups = (uint32_t)pc.nr_groups, .groups = pc.groups,
		.cap_inh = pc.cap_inh, .cap_prm = pc.cap_prm, .cap_eff = pc.cap_eff,
		.cap_bnd = pc.cap_bnd, .cap_amb = pc.cap_amb, .no_new_privs = pc.no_new_privs,
	};
	if (pc.seccomp == 2) {
		r = dump_filters(fz, tid, pc.seccomp_filters, img, fs, c);
		if (r < 0)
			return r;
	}
	return injected_prctl(fz, tid, PR_GET_SECUREBITS, "securebits", &c->securebits);
}

int creds_dump(struct frozen *fz, struct image *img)
{
	struct filter_set fs = { 0 };
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < fz->nr_tids && i < img->nr_threads; i++)
		r = dump_thread_creds(fz, fz->tids[i], img, &fs, &img->threads[i].creds);
	filter_set_free(&fs);
	if (r < 0)
		return r;
	return injected_prctl(fz, fz->pid, PR_GET_DUMPABLE, "dumpable flag", &img->creds.dumpable);
}

/* ---- restore ---- */

/* One thread's sets against what thaw holds: a set can only shrink on the way. */
static int check_thread_caps(const struct image *img, const struct image_thread *t,
			     const struct own_caps *own, uint64_t own_bnd, uint64_t exists)
{
	const struct image_creds *c = &t->creds;
	uint64_t all = c->cap_inh | c->cap_prm | c->cap_eff | c->cap_bnd | c->cap_amb;
	char names[512];

	if (all & ~exists) {
		log_error("snapshot %s: tid %d holds %s, which this kernel does not have", img->path,
			  t->tid, cap_list(all & ~exists, names, sizeof(names)));
		return -ENOTSUP;
	}
	if (c->cap_prm & ~own->prm) {
		log_error("snapshot %s: tid %d has %s, which thaw restore does not have to give",
			  img->path, t->tid, cap_list(c->cap_prm & ~own->prm, names, sizeof(names)));
		return -EPERM;
	}
	if (c->cap_bnd & ~own_bnd) {
		log_error("snapshot %s: tid %d has %s in its bounding set, which thaw restore's "
			  "bounding set lacks",
			  img->path, t->tid, cap_list(c->cap_bnd & ~own_bnd, names, sizeof(names)));
		return -EPERM;
	}
	if (c->cap_inh & ~(own->inh | own_bnd)) {
		log_error("snapshot %s: tid %d has %s in its inheritable set, beyond thaw "
			  "restore's bounding set",
			  img->path, t->tid,
			  cap_list(c->cap_inh & ~(own->inh | own_bnd), names, sizeof(names)));
		return -EPERM;
	}
	return 0;
}

/*
 * What thaw restore's own task state would hand down: no_new_privs and
 * seccomp filters cannot be taken off, so a thaw under either would give
 * them to every process it restores.  And the snapshot's own filters are
 * installed (and the tracer's calls let through them) only with
 * CAP_SYS_ADMIN.
 */
static int check_own_state(const struct image *img, const struct own_caps *own)
{
	struct proc_status st;
	uint32_t i;
	int r;

	r = proc_read_status(getpid(), 0, &st);
	if (r < 0)
		return r;
	for (i = 0; st.no_new_privs && i < img->nr_threads; i++)
		if (!img->threads[i].creds.no_new_privs) {
			log_error("snapshot %s: tid %d had no no_new_privs, and thaw restore runs with "
				  "it: the restored process would inherit it",
				  img->path, img->threads[i].tid);
			return -EPERM;
		}
	if (st.seccomp) {
		log_error("snapshot %s: thaw restore runs under seccomp (Seccomp: %d in its "
			  "/proc/PID/status), which the restored process would inherit",
			  img->path, st.seccomp);
		return -EPERM;
	}
	if (creds_has_filters(img) && !(own->eff >> CAP_SYS_ADMIN & 1)) {
		log_error("snapshot %s: restoring its seccomp filters needs CAP_SYS_ADMIN, which "
			  "thaw restore does not have",
			  img->path);
		return -EPERM;
	}
	return 0;
}

int creds_check_restore(const struct image *img)
{
	static const int needed[] = { CAP_SETUID, CAP_SETGID, CAP_SETPCAP };
	uint64_t own_bnd = 0, exists;
	struct own_caps own;
	uint32_t last, i;
	char names[128];
	int r;

	r = read_own_caps(&own);
	if (r == 0)
		r = creds_last_cap(&last);
	if (r == 0)
		r = check_own_state(img, &own);
	if (r < 0)
		return r;
	exists = last >= 63 ? UINT64_MAX : (1ull << (last + 1)) - 1;
	for (i = 0; i <= last; i++)
		if (prctl(PR_CAPBSET_READ, i, 0, 0, 0) == 1)
			own_bnd |= 1ull << i;
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (own.eff >> needed[i] & 1)
			continue;
		log_error("snapshot %s: restoring credentials needs %s, which thaw restore does "
			  "not have",
			  img->path, cap_list(1ull << needed[i], names, sizeof(names)));
		return -EPERM;
	}
	for (i = 0; i < img->nr_threads; i++) {
		r = check_thread_caps(img, &img->threads[i], &own, own_bnd, exists);
		if (r < 0)
			return r;
	}
	return 0;
}

void creds_fill(struct restorer_creds *rc, const struct image_creds *c, uint32_t *ids)
{
	*rc = (struct restorer_creds){
		.uid = c->uid, .euid = c->euid, .suid = c->suid, .fsuid = c->fsuid,
		.gid = c->gid, .egid = c->egid, .sgid = c->sgid, .fsgid = c->fsgid,
		.cap_inh = c->cap_inh, .cap_prm = c->cap_prm, .cap_eff = c->cap_eff,
		.cap_bnd = c->cap_bnd, .cap_amb = c->cap_amb, .securebits = c->securebits,
		.no_new_privs = c->no_new_privs, .nr_groups = c->nr_groups,
		.nr_seccomp = c->nr_seccomp, .groups = ids, .seccomp = ids + c->nr_groups,
	};
	if (c->nr_groups)
		memcpy(rc->groups, c->groups, c->nr_groups * sizeof(*ids));
	if (c->nr_seccomp)
		memcpy(rc->seccomp, c->seccomp, c->nr_seccomp * sizeof(*ids));
}

bool creds_filters_shared(const struct image *img)
{
	const struct image_creds *first = &img->threads[0].creds;
	uint32_t i;

	if (img->nr_threads < 2 || !first->nr_seccomp)
		return false;
	for (i = 1; i < img->nr_threads; i++) {
		const struct image_creds *c = &img->threads[i].creds;

		if (c->nr_seccomp != first->nr_seccomp ||
		    memcmp(c->seccomp, first->seccomp, c->nr_seccomp * sizeof(*c->seccomp)))
			return false;
	}
	return true;
}

bool creds_has_filters(const struct image *img)
{
	uint32_t i;

	for (i = 0; i < img->nr_threads; i++)
		if (img->threads[i].creds.nr_seccomp)
			return true;
	return false;
}

static const char *limit_str(uint64_t v, char *buf, size_t len)
{
	if (v == RLIM_INFINITY)
		return "unlimited";
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

int creds_check_rlimits(const struct image *img)
{
	bool can_raise = creds_have_cap(CAP_SYS_RESOURCE);
	char want[24], have[24];
	int r;

	for (r = 0; r < IMAGE_NR_RLIMITS; r++) {
		uint64_t max = img->proc.rlimits[r].max;
		struct rlimit own;

		if (getrlimit((__rlimit_resource_t)r, &own) < 0)
			return log_errno("reading our own rlimit %s", image_rlimit_name((uint32_t)r));
		if (max <= own.rlim_max || can_raise)
			continue;
		log_error("snapshot %s: pid %d: its hard limit of %s (%s) is above thaw restore's "
			  "own (%s), and raising it needs CAP_SYS_RESOURCE",
			  img->path, img->proc.pid, image_rlimit_name((uint32_t)r),
			  limit_str(max, want, sizeof(want)),
			  limit_str(own.rlim_max, have, sizeof(have)));
		return -EPERM;
	}
	return 0;
}
