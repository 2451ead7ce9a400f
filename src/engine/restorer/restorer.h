/*
 * restorer.h - the contract between the restore helper and the restorer blob.
 *
 * The helper (ordinary C, inside the new PID namespace, with the target's
 * PID) builds a struct restorer_args in a region that lies outside every
 * mapping of the snapshot, copies the blob there, switches to a stack in the
 * region and jumps to restorer_entry().  The blob owns the process from then
 * on: it unmaps the helper's address space, moves the vDSO, maps and fills
 * every VMA, applies PR_SET_MM_MAP, creates the threads with their TIDs and
 * sets the per-thread state only a thread can set for itself, its
 * credentials last.  Every thread then stops on int3 with RESTORER_TRAP_MAGIC
 * in rdi and its result in rax; the tracer (thaw's init) arms the timers,
 * sets the final registers and lets them go.
 *
 * Everything here is plain data with absolute pointers into the region: the
 * blob has no relocations and no libc.
 */
#ifndef THAW_ENGINE_RESTORER_H
#define THAW_ENGINE_RESTORER_H

#include <stdint.h>

#define RESTORER_ARGS_MAGIC 0x7468617772737472ull /* "thawrstr" */
#define RESTORER_TRAP_MAGIC 0x74686177646f6e65ull /* "thawdone" */
#define RESTORER_MAX_FILLERS 8

/* what went wrong, in rax when a thread traps with an error (negative errno in rsi) */
enum restorer_step {
	RESTORER_OK = 0,
	RESTORER_ERR_ARGS = 1,
	RESTORER_ERR_UNMAP,
	RESTORER_ERR_VDSO,
	RESTORER_ERR_MMAP,
	RESTORER_ERR_READ,
	RESTORER_ERR_CRC,
	RESTORER_ERR_MPROTECT,
	RESTORER_ERR_GUARD,
	RESTORER_ERR_MM_MAP,
	RESTORER_ERR_CLONE,
	RESTORER_ERR_THREAD,
	RESTORER_ERR_SIGNALS,
	RESTORER_ERR_RLIMITS,
	RESTORER_ERR_TIMERS,
	RESTORER_ERR_ATTRS, /* detail: the prctl option */
	RESTORER_ERR_MDWE,
	RESTORER_ERR_PERSONALITY,
	RESTORER_ERR_SECUREBITS,
	RESTORER_ERR_CAPS,
	RESTORER_ERR_BOUNDING,
	RESTORER_ERR_GROUPS,
	RESTORER_ERR_GIDS,
	RESTORER_ERR_UIDS,
	RESTORER_ERR_FSIDS,
	RESTORER_ERR_AMBIENT,
	RESTORER_ERR_DUMPABLE,
	RESTORER_ERR_NNP,
	RESTORER_ERR_SECCOMP,
	RESTORER_ERR_UFFD, /* registering lazy memory with userfaultfd */
};

/*
 * Pending signals the blob does not queue: its final int3 would swallow a
 * SIGTRAP, and a SIGSTOP, which no mask holds back, would stop it.  The
 * tracer sends them once the blob is done (restore.c, queue_late_signals).
 */
static inline int restorer_queues_late(int sig)
{
	return sig == 5 /* SIGTRAP */ || sig == 19 /* SIGSTOP */;
}

struct restorer_range {
	uint64_t start, len;
};

struct restorer_vma {
	uint64_t start, end;
	uint64_t pgoff;
	int32_t fd; /* file or shmem fd, -1 for anonymous */
	uint32_t prot; /* final protection */
	uint32_t map_flags; /* MAP_PRIVATE/MAP_SHARED/MAP_ANONYMOUS/GROWSDOWN/NORESERVE */
	uint32_t madv; /* IMAGE_MADV_* */
	uint32_t is_locked; /* 0, 1 (mlock) or RESTORER_LOCK_ONFAULT */
	uint32_t needs_write; /* has page runs: mapped writable until filled */
	int32_t shmid; /* SysV segment: shmat() it here instead of mmap; -1 otherwise */
	uint32_t lazy; /* registered with args.uffd instead of filled (a lazy restore) */
	uint32_t pad;
	/*
	 * Made and filled by the helper before its children were forked, so
	 * that they inherit its pages copy-on-write (restore.c, staging): moved
	 * here from this address, not mapped; 0 otherwise.
	 */
	uint64_t stage;
};
#define RESTORER_LOCK_ONFAULT 2u /* mlock2(MLOCK_ONFAULT) */
#define RESTORER_SHM_RDONLY 010000
#define RESTORER_SHM_REMAP 040000
#define RESTORER_SHM_EXEC 0100000

struct restorer_run {
	uint64_t vaddr;
	uint64_t off;
	uint32_t npages;
	uint32_t flags; /* IMAGE_RUN_ZERO, RESTORER_RUN_LAZY */
	uint32_t crc;
	uint32_t pad;
};

/* the run lies in a lazy VMA: the page server copies it in, the blob leaves it */
#define RESTORER_RUN_LAZY (1u << 31)
/* the run lies in a staged VMA: its pages are in already */
#define RESTORER_RUN_STAGED (1u << 30)

/* a vDSO-family mapping of the helper, moved to where the snapshot had it */
struct restorer_move {
	uint64_t from, to, len;
};

struct restorer_siginfo {
	uint8_t bytes[128];
};

/* A thread's credentials (image.h, struct image_creds), applied by the thread itself last. */
struct restorer_creds {
	uint32_t uid, euid, suid, fsuid;
	uint32_t gid, egid, sgid, fsgid;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t securebits;
	uint32_t no_new_privs;
	uint32_t nr_groups;
	uint32_t nr_seccomp;
	uint32_t *groups;
	uint32_t *seccomp; /* indexes into restorer_args.filters, oldest first */
};

/* A seccomp filter; starts as the kernel's struct sock_fprog, so it is passed as one. */
struct restorer_filter {
	uint16_t len; /* instructions */
	uint16_t pad[3];
	void *insns; /* struct sock_filter[] */
	uint32_t flags; /* SECCOMP_FILTER_FLAG_LOG */
	uint32_t pad2;
};
#define RESTORER_NODE_WORDS 16 /* a nodemask of 1024 nodes */

struct restorer_thread {
	int32_t tid;
	int32_t pad;
	uint64_t stack_top; /* restore stack inside the region */
	uint64_t clear_child_tid;
	uint64_t robust_list, robust_list_len;
	uint64_t rseq_abi, rseq_sig;
	uint32_t rseq_len, rseq_flags;
	uint64_t altstack_sp, altstack_size;
	uint32_t altstack_flags;
	uint32_t nr_pending;
	struct restorer_siginfo *pending;
	char comm[16];
	/* attributes only the thread can set on itself (src/engine/attrs.c) */
	uint64_t timerslack_ns; /* 0: leave it (a realtime thread, set by the tracer) */
	int32_t pdeathsig;
	uint32_t mce_kill; /* PR_MCE_KILL_SET argument, or RESTORER_MCE_KILL_CLEAR */
	uint32_t tsc; /* PR_SET_TSC argument: PR_TSC_ENABLE or PR_TSC_SIGSEGV */
	struct restorer_creds creds;
	uint32_t cpuid; /* ARCH_SET_CPUID argument: 1 enabled, 0 faulting */
	int32_t mpol_mode; /* set_mempolicy mode with its flags */
	uint64_t mpol_nodes[RESTORER_NODE_WORDS];
};
#define RESTORER_MCE_KILL_CLEAR 0xffffffffu

/* A POSIX timer to create, disarmed, with its id (the tracer arms it last). */
struct restorer_timer {
	int32_t id;
	int32_t clockid;
	int32_t notify; /* the kernel's sigev_notify */
	int32_t signo;
	int32_t tid; /* SIGEV_THREAD_ID */
	int32_t pad;
	uint64_t sigval;
};

/* struct prctl_mm_map, spelled out so the blob needs no kernel headers */
struct restorer_mm_map {
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t *auxv;
	uint32_t auxv_size;
	uint32_t exe_fd;
};

struct restorer_rlimit {
	uint64_t cur, max;
};

struct restorer_args {
	uint64_t magic;
	int32_t pid; /* tgid, as the process sees it */
	int32_t pages_fd;
	int32_t fill_fd; /* >= 0: thaw writes the data runs (engine_page_source); -1: pages_fd */
	int32_t uffd; /* >= 0: a lazy restore's userfaultfd (docs/lazy-restore.md); -1: none */

	uint32_t nr_unmap;
	struct restorer_range *unmap;
	uint32_t nr_moves;
	struct restorer_move *moves; /* to a park area first, then home */
	uint64_t park; /* free area in the region, big enough for all moves */

	uint32_t nr_vmas;
	struct restorer_vma *vmas;
	uint64_t nr_runs;
	struct restorer_run *runs;
	uint32_t nr_guards;
	struct restorer_range *guards;

	struct restorer_mm_map mm;

	uint32_t nr_threads;
	struct restorer_thread *threads; /* [0] is the leader */
	uint32_t nr_shared_pending;
	struct restorer_siginfo *shared_pending;

	uint32_t nr_close;
	int32_t *close_fds; /* fds the helper opened for mapping; closed at the end */

	uint32_t mdwe; /* PR_SET_MDWE flags once every mapping is in place; 0: none */

	struct restorer_rlimit rlimits[16];
	uint32_t nr_timers;
	struct restorer_timer *timers; /* ascending ids */

	uint32_t personality; /* every thread's, set after the memory is mapped */
	uint32_t dumpable; /* PR_GET_DUMPABLE of the process, set once every thread's ids are */
	uint32_t cap_last_cap; /* /proc/sys/kernel/cap_last_cap: the bounding set's top bit */
	volatile int32_t ids_set; /* threads other than the leader whose ids are set */
	uint32_t nr_filters;
	struct restorer_filter *filters;
	/*
	 * Every thread runs under the same filters: the leader installs them
	 * once for all with SECCOMP_FILTER_FLAG_TSYNC, so that they are shared
	 * again (a later TSYNC of the program's own needs that).
	 */
	uint32_t seccomp_shared;

	/* where the blob reports progress, for the tracer's error messages */
	volatile uint64_t fail_detail; /* e.g. the vaddr of the run that failed */

	/*
	 * Every thread, and fillers when the program has fewer threads than
	 * there are CPUs, fills a share of the pages (runs i, i+n, i+2n ...);
	 * the leader waits for all of them on `filled`, then finishes the
	 * address space and releases them through `released`.
	 */
	uint32_t nr_fillers; /* extra threads that only fill, then exit */
	uint64_t filler_stack_top[RESTORER_MAX_FILLERS];
	volatile int32_t filled;
	volatile int32_t released;
	volatile int64_t fill_error;
	volatile uint64_t fill_error_at;

	/* CLOCK_MONOTONIC ns at each phase, for thaw -v */
	uint64_t t_entry, t_unmapped, t_mapped, t_filled, t_finished;
};

#endif
