/*
 * proc.h - parsers of the /proc files the engine reads, and thin readers.
 *
 * Two halves.  The parsers (proc_parse_*) take text and a length, fill plain
 * structs and never log: on malformed input they return -EINVAL and leave the
 * line, offset and reason in proc_parse_last_error() (per thread), so the
 * caller, who knows which pid and file it read, can log once.  They accept any
 * bytes (NULs, no trailing newline, truncation) without reading outside
 * [text, text + len): they are fuzzed.  The readers (proc_read_*, proc_list_*)
 * read /proc/PID/... whole and call the parsers; they log their failures,
 * except a task that is gone (-ENOENT/-ESRCH): callers racing with exiting
 * threads expect that, so it is logged at debug level only.
 *
 * Kernel surprises the parsers handle (details in proc.c):
 *  - maps names escape '\n' as "\012" and nothing else, so a name holding a
 *    literal "\012" is indistinguishable; map_files is the authority;
 *  - unlinked files end in " (deleted)", also shown for memfd, SysV shm and
 *    shared anonymous mappings ("/dev/zero (deleted)");
 *  - comm in stat may hold spaces and parentheses: it ends at the LAST ')';
 *  - since 6.13 the vDSO data is two VMAs: [vvar] then [vvar_vclock];
 *  - status has no Umask line for a zombie (its fs_struct is gone);
 *  - the mm fields of stat read as 0 without ptrace access to the process.
 */
#ifndef THAW_ENGINE_PROC_H
#define THAW_ENGINE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest /proc file proc_read_file() accepts. */
#define PROC_FILE_MAX (256u << 20)

/* Where the last proc_parse_*() call of this thread failed. */
struct proc_parse_error {
	size_t line; /* 1-based */
	size_t offset; /* byte offset in the text */
	const char *reason; /* static string */
};

const struct proc_parse_error *proc_parse_last_error(void);

/* The two-letter VmFlags of smaps (fs/proc/task_mmu.c show_smap_vma_flags). */
enum {
	PROC_VMF_RD = 1u << 0, /* readable */
	PROC_VMF_WR = 1u << 1, /* writable */
	PROC_VMF_EX = 1u << 2, /* executable */
	PROC_VMF_SH = 1u << 3, /* shared */
	PROC_VMF_MR = 1u << 4, /* may read */
	PROC_VMF_MW = 1u << 5, /* may write */
	PROC_VMF_ME = 1u << 6, /* may execute */
	PROC_VMF_MS = 1u << 7, /* may share */
	PROC_VMF_GD = 1u << 8, /* grows down: MAP_GROWSDOWN */
	PROC_VMF_PF = 1u << 9, /* pure PFN range (VM_PFNMAP) */
	PROC_VMF_LO = 1u << 10, /* mlocked */
	PROC_VMF_IO = 1u << 11, /* memory-mapped I/O */
	PROC_VMF_SR = 1u << 12, /* MADV_SEQUENTIAL */
	PROC_VMF_RR = 1u << 13, /* MADV_RANDOM */
	PROC_VMF_DC = 1u << 14, /* MADV_DONTFORK */
	PROC_VMF_DE = 1u << 15, /* do not expand on mremap */
	PROC_VMF_AC = 1u << 16, /* accounted */
	PROC_VMF_NR = 1u << 17, /* MAP_NORESERVE */
	PROC_VMF_HT = 1u << 18, /* MAP_HUGETLB */
	PROC_VMF_DD = 1u << 19, /* MADV_DONTDUMP */
	PROC_VMF_MG = 1u << 20, /* MADV_MERGEABLE (KSM) */
	PROC_VMF_HG = 1u << 21, /* MADV_HUGEPAGE */
	PROC_VMF_NH = 1u << 22, /* MADV_NOHUGEPAGE */
	PROC_VMF_WF = 1u << 23, /* MADV_WIPEONFORK */
	PROC_VMF_DP = 1u << 24, /* MAP_DROPPABLE */
	PROC_VMF_SS = 1u << 25, /* shadow stack */
	PROC_VMF_UM = 1u << 26, /* userfaultfd missing-page tracking */
	PROC_VMF_UW = 1u << 27, /* userfaultfd write-protect tracking */
	PROC_VMF_LF = 1u << 28, /* MLOCK_ONFAULT */
	PROC_VMF_SD = 1u << 29, /* soft-dirty */
	PROC_VMF_SL = 1u << 30, /* sealed (mseal) */
	PROC_VMF_UI = 1u << 31, /* userfaultfd minor-fault tracking */
};

/* Returns the PROC_VMF_* bit of a two-letter mnemonic, 0 if unknown. */
uint32_t proc_vmflag_bit(const char two[2]);

/* One VMA of /proc/PID/maps or smaps. */
struct proc_map {
	uint64_t start, end; /* [start, end) */
	uint64_t pgoff; /* file offset in bytes */
	uint32_t prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool is_shared; /* 's' rather than 'p' */
	uint32_t dev_major, dev_minor;
	uint64_t ino;
	char *name; /* malloc'd, unescaped, " (deleted)" stripped; "" if none */
	bool is_deleted; /* the name ended in " (deleted)" */
	/* Only from smaps; 0 from maps. */
	bool has_smaps;
	uint32_t vmflags; /* PROC_VMF_* */
	uint64_t size_kb, rss_kb, anon_kb, swap_kb, locked_kb;
};

/*
 * Parse maps / smaps text.  On success *ret is a malloc'd array of *ret_n
 * entries (NULL when 0), freed with proc_maps_free().  smaps entries must each
 * carry a VmFlags line; unknown keys and flags are skipped (newer kernels).
 */
int proc_parse_maps(const char *text, size_t len, struct proc_map **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
int proc_parse_smaps(const char *text, size_t len, struct proc_map **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
void proc_maps_free(struct proc_map *maps, size_t n);

int proc_read_maps(pid_t pid, struct proc_map **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
int proc_read_smaps(pid_t pid, struct proc_map **ret, size_t *ret_n)
	__attribute__((warn_unused_result));

/* First VMA whose name is exactly name (e.g. "[vdso]"), or NULL. */
const struct proc_map *proc_maps_find(const struct proc_map *maps, size_t n, const char *name);

/* /proc/PID/stat; field numbers as in proc_pid_stat(5). */
struct proc_stat {
	pid_t pid; /* 1 */
	char comm[64]; /* 2, without the parentheses; the kernel writes at most 63 */
	char state; /* 3 */
	pid_t ppid, pgrp, session; /* 4-6 */
	int tty_nr; /* 7 */
	pid_t tpgid; /* 8 */
	uint32_t flags; /* 9, PF_* */
	int64_t num_threads; /* 20 */
	uint64_t start_time; /* 22, clock ticks after boot: tells a reused pid apart */
	uint64_t start_code, end_code, start_stack; /* 26-28 */
	int exit_signal; /* 38 */
	uint64_t start_data, end_data, start_brk; /* 45-47 */
	uint64_t arg_start, arg_end, env_start, env_end; /* 48-51 */
	int exit_code; /* 52 */
};

int proc_parse_stat(const char *text, size_t len, struct proc_stat *ret)
	__attribute__((warn_unused_result));
/* /proc/PID/stat, or /proc/PID/task/TID/stat when tid is not 0. */
int proc_read_stat(pid_t pid, pid_t tid, struct proc_stat *ret)
	__attribute__((warn_unused_result));

#define PROC_NS_LEVELS_MAX 32 /* MAX_PID_NS_LEVEL */

/* /proc/PID/status: the lines the engine needs. */
struct proc_status {
	bool has_umask; /* a zombie has none */
	uint32_t umask;
	char state; /* 'R', 'S', 't' ... */
	pid_t tgid, ppid, tracer_pid;
	pid_t nspid[PROC_NS_LEVELS_MAX]; /* outermost first; the last is the innermost */
	size_t nspid_n;
	pid_t nstgid[PROC_NS_LEVELS_MAX];
	size_t nstgid_n;
	uint64_t sigq_queued, sigq_limit;
	uint64_t sig_pnd, shd_pnd, sig_blk, sig_ign, sig_cgt; /* bit n-1 is signal n */
	int seccomp; /* 0 off, 1 strict, 2 filter; 0 when the kernel has no seccomp */
	bool no_new_privs;
	int64_t threads;
	uint32_t uid[4], gid[4]; /* real, effective, saved, filesystem */
	/* what a thread chose for itself with PR_SET_SPECULATION_CTRL, not the system */
	bool is_ssb_thread_mitigated; /* "thread (force) mitigated" */
	bool is_ib_thread_disabled; /* "conditional (force) disabled" */
	uint64_t untag_mask; /* x86 LAM: all ones (the default) when the line is absent */
	bool has_x86_thread_features; /* "x86_Thread_features:" lists one (shadow stack) */
};

int proc_parse_status(const char *text, size_t len, struct proc_status *ret)
	__attribute__((warn_unused_result));
int proc_read_status(pid_t pid, pid_t tid, struct proc_status *ret)
	__attribute__((warn_unused_result));

/*
 * The credential lines of /proc/PID/task/TID/status: they are per thread.
 * Ids as thaw's user namespace sees them.  seccomp and seccomp_filters are 0
 * on a kernel without seccomp (the lines are missing).
 */
#define PROC_MAX_GROUPS 65536 /* NGROUPS_MAX */
struct proc_creds {
	uint32_t uid[4], gid[4]; /* real, effective, saved, filesystem */
	size_t nr_groups;
	uint32_t *groups; /* malloc'd; proc_creds_release() frees it */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	bool no_new_privs;
	int seccomp; /* 0 off, 1 strict, 2 filter */
	uint32_t seccomp_filters; /* how many filters the thread runs under */
};

int proc_parse_creds(const char *text, size_t len, struct proc_creds *ret)
	__attribute__((warn_unused_result));
/* pid's thread tid (0: the leader). */
int proc_read_creds(pid_t pid, pid_t tid, struct proc_creds *ret)
	__attribute__((warn_unused_result));
void proc_creds_release(struct proc_creds *c);

/* /proc/PID/limits: every RLIMIT_* in the kernel's order; "unlimited" is UINT64_MAX. */
#define PROC_NR_RLIMITS 16
struct proc_rlimit {
	uint64_t cur, max;
};

int proc_parse_limits(const char *text, size_t len, struct proc_rlimit ret[PROC_NR_RLIMITS])
	__attribute__((warn_unused_result));
int proc_read_limits(pid_t pid, struct proc_rlimit ret[PROC_NR_RLIMITS])
	__attribute__((warn_unused_result));

/*
 * /proc/PID/timers: the POSIX timers (timer_create) of a process, as
 * fs/proc/base.c show_timer() prints them, in the order given.  The values
 * (time left, interval, overrun) are not there: only the timer itself sees
 * them (timer_gettime).
 */
#define PROC_TIMERS_MAX 65536
#define PROC_TIMER_NOTIFY_TID 4 /* SIGEV_THREAD_ID, or'd into notify */

struct proc_timer {
	int id;
	int signo;
	uint64_t sigval; /* sigev_value, all 64 bits */
	int notify; /* SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD 2, | PROC_TIMER_NOTIFY_TID */
	pid_t target; /* the process (or with NOTIFY_TID the thread) it signals, as /proc names it */
	int clockid; /* negative: a CPU clock (CPUCLOCK_PID in the upper bits) */
};

/* *ret is malloc'd (NULL when there is none), *ret_n entries; ids are unique. */
int proc_parse_timers(const char *text, size_t len, struct proc_timer **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
int proc_read_timers(pid_t pid, struct proc_timer **ret, size_t *ret_n)
	__attribute__((warn_unused_result));

/*
 * Raw /proc/PID/auxv into buf; -ENOBUFS if it does not fit in cap, -EINVAL
 * unless it is whole (u64 type, u64 value) pairs ending with AT_NULL.
 */
int proc_read_auxv(pid_t pid, void *buf, size_t cap, size_t *ret_len)
	__attribute__((warn_unused_result));

/* TIDs of /proc/PID/task: the leader first, then the others ascending. malloc'd. */
/* a and b share the namespace ns ("ipc", "pid", ...); true when /proc cannot tell. */
bool proc_same_ns(pid_t a, pid_t b, const char *ns);
/* The children of every thread of pid (malloc'd; none is not an error). */
int proc_list_children(pid_t pid, pid_t **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
int proc_list_tasks(pid_t pid, pid_t **ret_tids, size_t *ret_n)
	__attribute__((warn_unused_result));
/* Open fd numbers of /proc/PID/fd, ascending. malloc'd. */
int proc_list_fds(pid_t pid, int **ret, size_t *ret_n) __attribute__((warn_unused_result));

/*
 * /proc/locks: every file lock of the system, as fdinfo.h's fdinfo_parse_lock()
 * reads each line (waiters included, is_waiter set).  *ret is malloc'd (NULL
 * when there are none).  Pids are as this process's PID namespace sees them.
 */
#define PROC_MAX_LOCKS (1u << 20)
struct fdinfo_lock;
int proc_parse_locks(const char *text, size_t len, struct fdinfo_lock **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
int proc_read_locks(struct fdinfo_lock **ret, size_t *ret_n) __attribute__((warn_unused_result));

/* /proc/PID/personality (hex; needs ptrace access). */
int proc_read_personality(pid_t pid, uint32_t *ret) __attribute__((warn_unused_result));

/*
 * Reads a whole file of unknown size (procfs reports 0) into a malloc'd
 * buffer with a NUL after the *ret_len bytes.  -EFBIG once it reaches
 * PROC_FILE_MAX bytes.
 * Does not log: the caller knows what the file is for.
 */
int proc_read_file(const char *path, char **ret, size_t *ret_len)
	__attribute__((warn_unused_result));

#endif
