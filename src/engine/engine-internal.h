/*
 * engine-internal.h - what the engine's own files share: the frozen
 * process, syscall injection and the per-part dump/restore halves.
 */
#ifndef THAW_ENGINE_INTERNAL_H
#define THAW_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include <time.h>

#include "base/clock.h"
#include "image/image.h"

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif

/* Linux's struct ptrace_rseq_configuration; <linux/ptrace.h> clashes with glibc's. */
struct rseq_config {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

/* A process whose threads are all ptrace-stopped by us. */
struct frozen {
	pid_t pid; /* as we see it */
	size_t nr_tids;
	pid_t *tids; /* as we see them; [0] is the leader */
	uint64_t syscall_insn; /* address of a `syscall` instruction in the target, 0 = unknown */
	int stop_signal; /* in group stop (job control) by this signal when frozen, or 0 */
	bool is_adopted; /* stopped by tracing someone else set up: never let go here */
};

/* The ptrace options every frozen thread is seized with (creds.c adds PTRACE_O_SUSPEND_SECCOMP). */
#define FREEZE_PTRACE_OPTIONS PTRACE_O_TRACESYSGOOD

/* freeze.c */
int freeze_process(pid_t pid, struct frozen *fz) __attribute__((warn_unused_result));
/* Lets every thread run on (leave_running) or kills the process. */
void frozen_release(struct frozen *fz, bool kill_it);

/* Waits (at most timeout_ms) for a traced thread's next wait status: 0, -ETIMEDOUT, -errno. */
int wait_tracee(pid_t tid, int *ret_status, int timeout_ms) __attribute__((warn_unused_result));

/* A process and all its descendants, frozen; zombies are only recorded. */
#define FREEZE_MAX_PROCS 4096
struct frozen_zombie {
	pid_t pid, ppid; /* as we see them */
	int exit_status; /* what waitpid() will give the parent */
};
struct frozen_tree {
	size_t nr;
	struct frozen *procs; /* [0] is the root; every parent before its children */
	pid_t *ppids; /* procs[i]'s parent as we see it ([0]: whatever it is) */
	size_t nr_zombies;
	struct frozen_zombie *zombies;
};
int freeze_tree(pid_t pid, struct frozen_tree *t) __attribute__((warn_unused_result));
/* The tree under pid, every thread of which we trace and hold stopped already (verify.c). */
int frozen_tree_adopt(pid_t pid, struct frozen_tree *t) __attribute__((warn_unused_result));
void frozen_tree_release(struct frozen_tree *t, bool kill_it);

/*
 * inject.c: run one system call in a stopped thread and put everything back.
 * scratch (if not NULL) is copied to the thread's stack below the red zone
 * first and copied back afterwards; its address is passed wherever an
 * argument equals INJECT_SCRATCH, and INJECT_SCRATCH + k passes the address
 * of its byte k (k < scratch_len: two pointers into one scratch area).
 */
#define INJECT_SCRATCH ((uint64_t)-4242)
#define INJECT_SCRATCH_MAX 2048
int inject_syscall(struct frozen *fz, pid_t tid, long nr, const uint64_t args[6], void *scratch,
		   size_t scratch_len, long *ret_result) __attribute__((warn_unused_result));
/*
 * Several calls in one borrowing of the thread (one scratch area for all,
 * the registers and signal mask put back once): each round trip to the
 * thread costs a scheduling of it, many of them on a busy machine.  The
 * calls stop at the first that fails to run; each one's result (the
 * kernel's return value, -errno included) is in its result.
 */
struct inject_call {
	long nr;
	uint64_t args[6];
	long result;
};
int inject_syscalls(struct frozen *fz, pid_t tid, struct inject_call *calls, size_t n,
		    void *scratch, size_t scratch_len) __attribute__((warn_unused_result));

/* regs.c: CPU and per-thread register state */
uint32_t regs_xsave_size(void);
void host_fingerprint(struct image_host *host);
int host_compare(const struct image_host *snap, const struct image_host *here, char *why,
		 size_t whylen);
int threads_dump(struct frozen *fz, struct image *img) __attribute__((warn_unused_result));
/* The siginfo_t queue (128 bytes each) of a stopped thread, or of its process; caller frees. */
int signals_peek(pid_t tid, bool shared, unsigned char **ret, size_t *ret_len)
	__attribute__((warn_unused_result));
int regs_set(pid_t tid, const struct image_thread *t, const void *xsave, size_t xsave_len)
	__attribute__((warn_unused_result));

/*
 * mem.c.  parent (as we see it; 0 for the tree's root): pages the process
 * shares copy-on-write with it are marked IMAGE_RUN_INHERITED.
 */
int mem_dump(struct frozen *fz, struct image *img, pid_t parent)
	__attribute__((warn_unused_result));

/*
 * timers.c: itimers, POSIX timers (and timerfds, fd-timerfd.c) are dumped
 * with the rest and armed by timers_arm() as the last step of a restore,
 * from the tracer, with every thread's signals still blocked.
 */
int itimers_dump(struct frozen *fz, struct image *img) __attribute__((warn_unused_result));
int posix_timers_dump(struct frozen *fz, struct image *img) __attribute__((warn_unused_result));
int timers_arm(struct frozen *fz, const struct image *img) __attribute__((warn_unused_result));
int timerfd_arm(struct frozen *fz, const struct image_fd *f) __attribute__((warn_unused_result));
/* A clock whose absolute timers keep their deadline across a restore (CLOCK_REALTIME ...). */
bool timer_clock_is_wall(int clockid);
/* The absolute expiry on clockid of a timer with left_ns to go: 0 or -errno. */
int timer_deadline_ns(int clockid, uint64_t left_ns, uint64_t *ret_ns)
	__attribute__((warn_unused_result));

/* signals.c: job control at dump; the end of a restore, from the tracer (the file says why) */
void signals_dump_stop(struct frozen *fz, struct image *img);
int signals_block_all(pid_t tid) __attribute__((warn_unused_result));
/*
 * SIGTRAP's action and the pending signals the blob left; *ret_stop_sig: the
 * signal to stop the process with at its release (a group stop or a pending
 * SIGSTOP), or 0.
 */
int signals_restore_late(struct frozen *fz, const struct image *img, int *ret_stop_sig)
	__attribute__((warn_unused_result));

/* process.c: per-process state */
/* container_root: engine_dump_opts.container_root (image_root.container) */
int process_dump(struct frozen *fz, struct image *img, bool container_root)
	__attribute__((warn_unused_result));

/* creds.c: credentials and limits */
struct restorer_creds;
/* Whether thaw itself has cap (CAP_*) in its effective set. */
bool creds_have_cap(int cap);
/* The highest capability number of this kernel (/proc/sys/kernel/cap_last_cap). */
int creds_last_cap(uint32_t *ret) __attribute__((warn_unused_result));
/*
 * Before anything is injected: refuses a process whose credentials cannot
 * come back, or that an injected system call would harm (seccomp strict
 * mode), and suspends the seccomp filters of the others for the dump.
 */
int creds_dump_check(struct frozen *fz) __attribute__((warn_unused_result));
/* Every thread's credentials and seccomp filters (after threads_dump()), the dumpable flag. */
int creds_dump(struct frozen *fz, struct image *img) __attribute__((warn_unused_result));
/* thaw holds every capability the snapshot's threads need to be given: 0 or -errno, logged. */
int creds_check_restore(const struct image *img) __attribute__((warn_unused_result));
/* The restorer's copy of c, its groups and filter indexes copied to ids (room for both). */
void creds_fill(struct restorer_creds *rc, const struct image_creds *c, uint32_t *ids);
/* More than one thread, and every thread under the same seccomp filters. */
bool creds_filters_shared(const struct image *img);
/* Some thread runs under seccomp filters. */
bool creds_has_filters(const struct image *img);
/* The snapshot's hard limits are ones the restored process can set itself: 0 or -EPERM, logged. */
int creds_check_rlimits(const struct image *img) __attribute__((warn_unused_result));
/*
 * attrs.c: scheduling, affinity, I/O priority, OOM score, core dump filter.
 * attrs_dump() fills img->attrs and each thread's attrs (after threads_dump);
 * root is the tree's root: the affinity of its parent counts as unrestricted.
 * attrs_restore_process() runs in the helper, on itself; attrs_restore_thread()
 * in the tracer, for a stopped thread.
 */
int attrs_dump(struct frozen *fz, struct image *img, pid_t root)
	__attribute__((warn_unused_result));
int attrs_restore_process(const struct image *img) __attribute__((warn_unused_result));
int attrs_restore_thread(pid_t pid, pid_t tid, const struct image_thread_attrs *a)
	__attribute__((warn_unused_result));
/*
 * attrs-refuse.c: attributes thaw does not restore, refused at dump with a
 * message naming them; host_cpu_has() looks up a flag of /proc/cpuinfo.
 */
int attrs_refuse_thread(struct frozen *fz, pid_t tid) __attribute__((warn_unused_result));
int attrs_refuse_process(struct frozen *fz, bool is_root) __attribute__((warn_unused_result));
bool host_cpu_has(const char *flag);
/* What the restorer blob sets in each thread (restorer/restorer.h). */
struct restorer_thread;
void attrs_fill_thread(struct restorer_thread *rt, const struct image_thread_attrs *a);

/*
 * dump.c: the tree fz (adopted: stopped under our tracing) collected as
 * engine_dump() collects a tree, with --tcp-close if tcp_close (and
 * engine_dump_opts.container_root as container_root), into
 * fingerprint images that take no pages; external() gives the fds of the
 * process with snapshot pid pid that are recorded as inherited, not dumped
 * (malloc'd; NULL on ENOMEM).  On success (*ret_imgs)[i] is fz->procs[i]'s;
 * the caller frees each and the array.
 */
int dump_collect_fingerprints(const struct frozen_tree *fz, bool tcp_close, bool container_root,
			      int *(*external)(pid_t pid, const void *arg, size_t *ret_nr),
			      const void *arg, struct image ***ret_imgs)
	__attribute__((warn_unused_result));

/*
 * verify.c: thaw restore --verify.  The restored tree under root, every
 * thread stopped under our tracing with its registers set, compared with
 * the snapshot's images (the root's first); 0 when alike, else -EIO after
 * logging the first difference.  path names the snapshot in messages.
 */
int verify_restored(struct image *const *imgs, uint32_t nr, pid_t root, const char *path)
	__attribute__((warn_unused_result));

/* restore-progress.c: the pages read by a restore from a directory, while the tracer waits */
void restore_progress_begin(struct image *const *imgs, uint32_t nr);
void restore_progress_poll(void); /* on the EINTR of the wait */
void restore_progress_end(void);

/* restore.c helpers shared with the tracer */
/*
 * in_root: the restore sets up the program's root (engine_restore_opts.enter_root):
 * its files are validated there, by files_validate(), not here.
 */
int restore_validate(const struct image *img, bool in_root) __attribute__((warn_unused_result));

#endif
