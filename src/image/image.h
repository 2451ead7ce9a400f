/*
 * image.h - the snapshot image: what a snapshot holds, in memory and on disk.
 *
 * The engine fills a struct image while it dumps and hands it to
 * image_write(); restore gets one back from image_read(), which treats every
 * byte on disk as untrusted and bounds every count, size, offset and path.
 *
 * On disk a snapshot is a directory (docs/image-format.md):
 *   manifest.json  everything structured, human-readable, versioned
 *   manifest.crc   CRC-32C of manifest.json, so a flipped digit is caught
 *   pages.idx      binary page index: runs of pages (vaddr, count, offset, crc)
 *   pages.img      page data, page-aligned, read with large preads
 *   data.img       other bulk bytes: xsave areas, pipe contents, deleted files,
 *                  memfd/shared-memory contents, auxv, pending signals
 * It is written into DIR.tmp-XXXX and published with one rename() after
 * fsync; directories are 0700, files 0600.
 *
 * Bulk bytes are referenced by struct image_blob (offset, length, crc into
 * data.img).  Writers append with image_add_blob(); readers fetch with
 * image_read_blob(), which checks the crc.
 */
#ifndef THAW_IMAGE_IMAGE_H
#define THAW_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IMAGE_FORMAT_VERSION 2
#define IMAGE_PAGE_SIZE 4096u

/* Bounds every reader enforces (and every writer respects). */
#define IMAGE_MAX_THREADS 4096
#define IMAGE_MAX_VMAS 262144
#define IMAGE_MAX_FDS 65536
#define IMAGE_MAX_FILES 65536
#define IMAGE_MAX_SHMEMS 4096
#define IMAGE_MAX_CHILDREN 4096 /* processes of a tree besides its root */
#define IMAGE_MAX_WATCHES 65536
#define IMAGE_MAX_PATH 4096
#define IMAGE_MAX_XSAVE 65536
#define IMAGE_MAX_AUXV 1024 /* bytes; the kernel's saved_auxv is smaller */
#define IMAGE_MAX_SIGINFO 4096
#define IMAGE_MAX_RUN_PAGES 256 /* a page run is at most 1 MiB, one crc each */
#define IMAGE_ADDR_LIMIT 0x800000000000ull /* x86-64 user address space */

/* A range of data.img. len == 0 means "no data". */
struct image_blob {
	uint64_t off;
	uint64_t len;
	uint32_t crc;
};

/* A run of bytes inside a file: what lies between two extents is a hole. */
struct image_extent {
	uint64_t off;
	struct image_blob data;
};

/*
 * A file the snapshot maps or holds open: validated before restore.  A
 * deleted one (unlinked, still open or mapped) is saved: its data extents
 * (holes stay holes), size, mode, owner and mtime, and comes back as one
 * nameless inode shared by every fd and mapping of the process.
 */
#define IMAGE_MAX_EXTENTS 65536
struct image_file {
	char *path;
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino;
	uint64_t dev;
	uint32_t mode; /* st_mode */
	uint64_t rdev; /* character devices */
	bool is_deleted; /* unlinked: contents saved in extents */
	uint32_t uid, gid; /* deleted: the owner it comes back with */
	uint32_t nr_extents; /* deleted: data extents, sorted, inside size */
	struct image_extent *extents;
};

/*
 * A shmem object dumped once by inode: shared anonymous memory, a memfd, a
 * POSIX shared memory object or semaphore (a file in /dev/shm, restored
 * into a private /dev/shm) or a SysV segment (restored into a private IPC
 * namespace with its id).
 */
#define IMAGE_SHMEM_DEV_SHM "/dev/shm/"
struct image_shmem {
	uint64_t ino;
	uint64_t size;
	bool is_memfd;
	char *name; /* memfd name without the "memfd:" prefix, or NULL */
	uint32_t seals; /* F_GET_SEALS */
	char *path; /* POSIX: the file under /dev/shm, or NULL */
	bool is_deleted; /* POSIX: unlinked (shm_unlink) but still mapped or open */
	uint32_t mode; /* POSIX, SysV, memfd: permission bits (fchmod of a memfd included) */
	uint32_t uid, gid; /* POSIX, memfd: the owner (its creator's, or fchown's) */
	bool is_sysv;
	int32_t sysv_key, sysv_id; /* SysV: the key (0 = IPC_PRIVATE) and the shmid */
	/* contents: runs of non-hole data inside the object */
	uint32_t nr_extents;
	struct image_shmem_extent {
		uint64_t off;
		struct image_blob data;
	} *extents;
};

enum image_vma_kind {
	IMAGE_VMA_ANON, /* private anonymous (heap, stacks, malloc arenas) */
	IMAGE_VMA_FILE_PRIVATE, /* private file mapping + its COW'd pages */
	IMAGE_VMA_FILE_SHARED, /* shared file mapping; contents live in the file */
	IMAGE_VMA_SHMEM, /* shared anonymous or memfd: see shmem */
	IMAGE_VMA_VDSO,
	IMAGE_VMA_VVAR,
	IMAGE_VMA_VVAR_VCLOCK,
	IMAGE_VMA_VSYSCALL, /* fixed by the kernel; recorded, never touched */
	IMAGE_VMA_KIND_COUNT
};

/* madvise-relevant VmFlags, re-applied at restore */
#define IMAGE_MADV_DONTFORK (1u << 0) /* dc */
#define IMAGE_MADV_DONTDUMP (1u << 1) /* dd */
#define IMAGE_MADV_WIPEONFORK (1u << 2) /* wf */
#define IMAGE_MADV_HUGEPAGE (1u << 3) /* hg */
#define IMAGE_MADV_NOHUGEPAGE (1u << 4) /* nh */
#define IMAGE_MADV_MERGEABLE (1u << 5) /* mg */
#define IMAGE_MADV_SEQUENTIAL (1u << 6) /* sr */
#define IMAGE_MADV_RANDOM (1u << 7) /* rr */

/* mapping flags from VmFlags */
#define IMAGE_VMA_GROWSDOWN (1u << 0) /* gd */
#define IMAGE_VMA_LOCKED (1u << 1) /* lo */
#define IMAGE_VMA_NORESERVE (1u << 2) /* nr */
#define IMAGE_VMA_MAYSHARE (1u << 3) /* sh: MAP_SHARED */
#define IMAGE_VMA_MAYWRITE (1u << 4) /* mw: a shared file mapping whose file was opened to write */
#define IMAGE_VMA_DROPPABLE (1u << 5) /* dp: MAP_DROPPABLE */
#define IMAGE_VMA_LOCKONFAULT (1u << 6) /* lf: mlock2(MLOCK_ONFAULT) */
#define IMAGE_VMA_FLAGS_ALL 0x7fu

struct image_vma {
	uint64_t start, end;
	uint32_t prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
	uint32_t kind; /* enum image_vma_kind */
	uint32_t flags; /* IMAGE_VMA_* */
	uint32_t madv; /* IMAGE_MADV_* */
	uint64_t pgoff; /* offset into the file or shmem object, bytes */
	int32_t file; /* index into image.files, or -1 */
	int32_t shmem; /* index into image.shmems, or -1 */
	char *name; /* as /proc/PID/maps shows it, for people */
	/* statistics filled at dump, shown by inspect */
	uint64_t pages_dumped; /* pages whose bytes are in pages.img */
	uint64_t pages_zero; /* touched pages found all-zero: not stored */
	uint64_t pages_file; /* clean file pages: come back from the file */
};

/*
 * Guard regions installed with MADV_GUARD_INSTALL are not VMAs; they are
 * found in pagemap (bit 58) and installed again after mapping.
 */
struct image_guard {
	uint64_t start, end;
};

/* One entry of pages.idx: npages pages at vaddr, bytes at off in pages.img. */
#define IMAGE_RUN_ZERO 1u /* no bytes: the pages must read as zero (file-private COW) */
/*
 * The parent's pages too: at dump the process shared them copy-on-write with
 * its parent (the same physical page at the same address, since a fork).
 * The bytes are stored all the same; a restore that can, inherits the
 * parent's pages instead of writing them (restore.c, staging).  Only in
 * private anonymous memory, never with IMAGE_RUN_ZERO.
 */
#define IMAGE_RUN_INHERITED 2u
struct image_page_run {
	uint64_t vaddr;
	uint64_t off;
	uint32_t npages;
	uint32_t flags;
	uint32_t crc; /* CRC-32C of the npages * 4096 bytes */
};

struct image_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

/* General registers in the kernel's struct user_regs_struct order. */
struct image_regs {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
	uint64_t rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
	uint64_t fs_base, gs_base, ds, es, fs, gs;
};

/* How the thread stood when it was frozen. */
enum image_thread_state {
	IMAGE_THREAD_RUNNING, /* user code */
	IMAGE_THREAD_SYSCALL_RESTART, /* inside a syscall that restarts: rip moved back */
	IMAGE_THREAD_SYSCALL_EINTR, /* inside a syscall that cannot restart: returns EINTR */
	IMAGE_THREAD_SYSCALL_DONE, /* a syscall had completed, result in rax */
};

/*
 * Scheduling and other attributes of one thread (src/engine/attrs.c): what
 * sched_getattr, getpriority, ioprio_get and sched_getaffinity show of it from
 * outside.  Restored by the tracer before the thread runs.
 */
#define IMAGE_MAX_CPUS 8192 /* the kernel's NR_CPUS at most */
#define IMAGE_SCHED_FLAG_RESET_ON_FORK (1u << 0) /* SCHED_FLAG_* of sched_setattr(2) */
#define IMAGE_SCHED_FLAG_RECLAIM (1u << 1)
#define IMAGE_SCHED_FLAG_DL_OVERRUN (1u << 2)
#define IMAGE_SCHED_FLAGS_ALL 0x7u
struct image_thread_attrs {
	uint32_t policy; /* SCHED_OTHER ... SCHED_EXT, as the kernel numbers them */
	uint32_t sched_flags; /* IMAGE_SCHED_FLAG_* */
	int32_t nice; /* kept under every policy: it comes back when the policy goes */
	uint32_t rt_priority; /* SCHED_FIFO, SCHED_RR: 1..99; 0 otherwise */
	uint64_t dl_runtime, dl_deadline, dl_period; /* SCHED_DEADLINE, ns */
	uint64_t slice_ns; /* a fair policy's slice asked for with sched_setattr; 0 = default */
	uint32_t ioprio; /* ioprio_get(IOPRIO_WHO_PROCESS, tid) */
	/*
	 * CPUs it is bound to, ascending; none when it runs wherever its parent
	 * outside the tree may (affinity inherited from where it was started,
	 * which a restore inherits from where it runs).
	 */
	uint32_t nr_cpus;
	uint32_t *cpus;
	/* visible only from inside (injected prctl), set by the thread itself at restore */
	uint64_t timerslack_ns; /* PR_GET_TIMERSLACK; 0 only under a realtime policy */
	int32_t pdeathsig; /* PR_GET_PDEATHSIG: sent when the parent thread exits */
	uint32_t mce_kill; /* enum image_mce_kill: PR_MCE_KILL */
	bool tsc_sigsegv; /* PR_SET_TSC PR_TSC_SIGSEGV: rdtsc faults */
	bool cpuid_faulting; /* arch_prctl ARCH_SET_CPUID 0: cpuid faults */
	/* NUMA memory policy of the thread (get_mempolicy), not of its mappings */
	uint32_t mpol_mode; /* MPOL_DEFAULT ... MPOL_WEIGHTED_INTERLEAVE */
	uint32_t mpol_flags; /* IMAGE_MPOL_F_* */
	uint32_t nr_mpol_nodes;
	uint32_t *mpol_nodes; /* ascending node numbers below IMAGE_MAX_NODES */
};

#define IMAGE_MAX_NODES 1024 /* MAX_NUMNODES of x86-64 kernels */
#define IMAGE_MPOL_F_NUMA_BALANCING (1u << 0) /* MPOL_F_NUMA_BALANCING */
#define IMAGE_MPOL_F_RELATIVE_NODES (1u << 1) /* MPOL_F_RELATIVE_NODES */
#define IMAGE_MPOL_F_STATIC_NODES (1u << 2) /* MPOL_F_STATIC_NODES */

enum image_mce_kill {
	IMAGE_MCE_KILL_DEFAULT, /* the system's vm.memory_failure_early_kill */
	IMAGE_MCE_KILL_EARLY,
	IMAGE_MCE_KILL_LATE,
};

/*
 * Credentials (src/engine/creds.c, docs/security.md): per thread in Linux, so
 * per thread here.  Ids are as the snapshot's user namespace (thaw's own)
 * sees them; capability sets are bit masks of CAP_* numbers.  A restored
 * thread gets exactly these, applied by itself last (restorer.c).
 */
#define IMAGE_MAX_GROUPS 65536 /* NGROUPS_MAX */
#define IMAGE_SECUREBITS_ALL 0xfffu /* every SECBIT_* and its lock, up to EXEC_DENY_INTERACTIVE */
struct image_creds {
	uint32_t uid, euid, suid, fsuid;
	uint32_t gid, egid, sgid, fsgid;
	uint32_t nr_groups;
	uint32_t *groups; /* supplementary groups, as getgroups() lists them */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t securebits; /* PR_GET_SECUREBITS */
	bool no_new_privs;
	/* seccomp: the filters it runs under, oldest first, as indexes into image.seccomp_filters */
	uint32_t nr_seccomp;
	uint32_t *seccomp;
};

/*
 * A seccomp filter (classic BPF, PTRACE_SECCOMP_GET_FILTER) that threads of
 * the process run under; one that several threads share is kept once.  A
 * thread's filters together stay within the kernel's bound on a filter
 * path: every filter counts 4 instructions more than it has.
 */
#define IMAGE_MAX_SECCOMP_FILTERS 8192
#define IMAGE_MAX_BPF_INSNS 4096 /* BPF_MAXINSNS: one filter */
#define IMAGE_MAX_SECCOMP_PATH 32768 /* MAX_INSNS_PER_PATH: a thread's filters, 4 more each */
struct image_seccomp_filter {
	bool log; /* SECCOMP_FILTER_FLAG_LOG */
	struct image_blob prog; /* struct sock_filter[], 8 bytes each */
};

/* Per process: what the threads' credentials do not hold. */
struct image_proc_creds {
	uint32_t dumpable; /* PR_GET_DUMPABLE: 0, 1, or 2 (set by fs.suid_dumpable) */
};

struct image_thread {
	pid_t tid; /* in the snapshot's PID namespace */
	char comm[16];
	uint32_t state; /* enum image_thread_state */
	int64_t syscall_nr; /* orig_rax when frozen in a syscall, else -1 */
	struct image_regs regs; /* normalised: restore resumes exactly here */
	struct image_blob xsave; /* NT_X86_XSTATE as the kernel gave it */
	uint64_t sigmask;
	uint64_t clear_child_tid;
	uint64_t robust_list, robust_list_len;
	uint64_t rseq_abi, rseq_sig;
	uint32_t rseq_len, rseq_flags;
	uint64_t altstack_sp, altstack_size;
	uint32_t altstack_flags;
	struct image_blob pending; /* siginfo_t[] queued to this thread */
	struct image_thread_attrs attrs;
	struct image_creds creds;
};

enum image_fd_kind {
	IMAGE_FD_FILE, /* regular file */
	IMAGE_FD_DIR,
	IMAGE_FD_CHR, /* /dev/null-like character device, reopened by path */
	IMAGE_FD_INHERIT, /* fd 0-2 on a terminal or a foreign pipe: the restorer's own */
	IMAGE_FD_PIPE,
	IMAGE_FD_FIFO,
	IMAGE_FD_EVENTFD,
	IMAGE_FD_EPOLL,
	IMAGE_FD_SIGNALFD,
	IMAGE_FD_TIMERFD,
	IMAGE_FD_MEMFD,
	IMAGE_FD_SOCKET, /* AF_UNIX, AF_INET, AF_INET6: see struct image_fd.sock */
	IMAGE_FD_PIDFD, /* pidfd_open() of this process, its parent or a child */
	IMAGE_FD_INOTIFY, /* an inotify instance and its watches */
	IMAGE_FD_PTY, /* a pseudo-terminal: its master (/dev/ptmx) or slave (/dev/pts/N) */
	IMAGE_FD_KIND_COUNT
};

struct image_epoll_watch {
	int32_t tfd; /* the number the file was added under: part of the watch's key */
	uint32_t events;
	uint64_t data;
	/*
	 * An fd of the process that holds the watched file when tfd no longer
	 * does (the program dup'd it and closed tfd): restore adds the watch
	 * through tfd made to point at this file for the moment.  -1: tfd.
	 */
	int32_t via;
};

#define IMAGE_PTY_NCCS 32 /* c_cc[] of glibc's struct termios */
#define IMAGE_PTY_MAX_INDEX ((1u << 20) - 1) /* the kernel's NR_UNIX98_PTY_MAX */

/* Sockets (src/engine/fd-socket.c, docs/sockets.md). */
#define IMAGE_SOCK_ADDR_MAX 112 /* bytes of a sockaddr: sockaddr_un is 110 */
#define IMAGE_MAX_SOCK_QUEUE (64u << 20) /* bytes queued on one socket */

enum image_sock_state {
	IMAGE_SOCK_UNBOUND, /* created, no address */
	IMAGE_SOCK_BOUND, /* bound (UDP/datagram: may also be connected: peer set) */
	IMAGE_SOCK_LISTEN,
	IMAGE_SOCK_PAIR, /* one end of a Unix pair whose other end is in the image */
	IMAGE_SOCK_RESET, /* a TCP connection dumped with --tcp-close: comes back reset */
	IMAGE_SOCK_PENDING, /* Unix: connected, waiting in the accept queue of listener peer_ino */
	IMAGE_SOCK_TCP, /* an established TCP connection, with attrs.tcp: made again (TCP_REPAIR) */
	IMAGE_SOCK_STATE_COUNT
};

/*
 * One socket option as getsockopt() gave it.  Which (level, name) pairs a
 * snapshot may hold, and the bounds of each value, are the engine's table
 * (src/engine/fd-socket-opts.c); restore refuses any other.
 */
#define IMAGE_MAX_SOCK_OPTS 256
struct image_sock_opt {
	int32_t level; /* SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP */
	int32_t name;
	int64_t value; /* an int as is; SO_LINGER: seconds, -1 when off; SO_*TIMEO: µs */
};

#define IMAGE_SOCK_SHUT_RD 1u /* the kernel's RCV_SHUTDOWN */
#define IMAGE_SOCK_SHUT_WR 2u /* SEND_SHUTDOWN */

/* A multicast group a datagram socket joined, with its source filter. */
#define IMAGE_MAX_SOCK_MCAST 256
#define IMAGE_MAX_SOCK_MCAST_SRC 256
#define IMAGE_MAX_SOCK_FILTER 4096 /* BPF_MAXINSNS */
#define IMAGE_MAX_SOCK_PENDING 4096 /* connections waiting on one listener */
#define IMAGE_MAX_SOCK_RIGHTS 65536 /* queued messages that carry fds, on one socket */
#define IMAGE_MAX_RIGHTS_FDS 253 /* fds one message carries (the kernel's SCM_MAX_FD) */

/*
 * A queued message that carries fds (SCM_RIGHTS).  The files in flight are
 * fds of the image with a number below 0 (-1, -2 ...): open in no fd of the
 * process, restored like the others, then sent with their message and
 * closed.  at: datagram and seqpacket, the message's index in the queue;
 * stream, the offset of the first byte sent with them, and len bytes from
 * there went in one piece with them (a read stops after those bytes).
 */
struct image_sock_rights {
	uint64_t at;
	uint32_t len;
	uint32_t nr_fds;
	int32_t *fds; /* numbers of image fds below 0, in the order they were sent */
};

/*
 * A queued message that carries its sender's credentials (SO_PASSCRED when
 * it was sent), the sender being the process itself: at and len as in
 * struct image_sock_rights; the pid is the restored process's own.
 */
struct image_sock_creds {
	uint64_t at;
	uint32_t len;
	uint32_t uid, gid;
};
struct image_sock_addr {
	char *addr; /* "192.0.2.1", "2001:db8::1" */
};
struct image_sock_mcast {
	char *dev; /* the interface's name */
	char *group; /* "239.1.2.3", "ff15::1" */
	bool is_include; /* MCAST_INCLUDE: only from the sources; else from all but them */
	uint32_t nr_sources;
	struct image_sock_addr *sources;
};

/*
 * An established TCP connection as TCP_REPAIR shows it (src/engine/fd-socket-tcp.c):
 * the sequence number where each queue starts, the bytes in it, the window and
 * the options agreed at the handshake.  No holes: all zero reads as absent.
 */
struct image_sock_tcp {
	uint32_t snd_seq; /* the first byte of the send queue (sent, not acknowledged) */
	uint32_t rcv_seq; /* the first byte of the receive queue (not read by the program) */
	uint32_t unsent; /* bytes at the end of the send queue never sent */
	uint32_t mss; /* mss_clamp (TCP_MAXSEG in repair mode) */
	uint32_t options; /* TCPI_OPT_*: timestamps 1, sack 2, wscale 4 */
	uint32_t snd_wscale, rcv_wscale; /* 0..14 */
	uint32_t timestamp; /* TCP_TIMESTAMP: the clock the peer sees in our timestamps */
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup; /* TCP_REPAIR_WINDOW */
	uint32_t pad; /* zero: no hole before the blobs */
	struct image_blob send_queue, recv_queue;
};

/* What a socket carries besides its addresses, state and queue. */
struct image_sock_attrs {
	uint32_t nr_opts;
	struct image_sock_opt *opts;
	char *bind_dev; /* SO_BINDTODEVICE: an interface name, NULL = none */
	char *congestion; /* TCP_CONGESTION: "cubic", "reno"; NULL for other sockets */
	uint32_t nr_mcast;
	struct image_sock_mcast *mcast;
	/* SO_ATTACH_FILTER: a classic BPF program, each insn code << 48 | jt << 40 | jf << 32 | k */
	uint32_t nr_filter;
	uint64_t *filter;
	bool is_filter_locked; /* SO_LOCK_FILTER */
	uint32_t shutdown; /* IMAGE_SOCK_SHUT_*: shutdown(2), or what a closed peer left */
	bool is_reset_by_peer; /* PAIR, peer closed with data unread: ECONNRESET is pending */
	/* Unix, bound to a path: its socket file (has_file), or that the file was removed */
	bool has_file;
	uint32_t file_mode; /* permission bits, 07777 */
	uint32_t file_uid, file_gid;
	bool is_file_unlinked;
	/* LISTEN (Unix): the inodes of the clients waiting to be accepted, in accept order */
	uint32_t nr_pending;
	uint64_t *pending;
	/* PAIR (Unix): the queued messages that carry fds, ascending at */
	uint32_t nr_rights;
	struct image_sock_rights *rights;
	/* PAIR (Unix): the queued messages with the process's own credentials, ascending at */
	uint32_t nr_creds;
	struct image_sock_creds *creds;
	struct image_sock_tcp tcp; /* state TCP: the connection */
};

struct image_fd {
	int32_t fd; /* below 0: a file in flight (struct image_sock_rights), first in fds[] */
	uint32_t kind; /* enum image_fd_kind */
	/*
	 * Open file description: fds with one non-zero share id (in one process
	 * or several of a tree) are one description, with one offset and one
	 * set of status flags; 0 = a description no other fd holds.
	 */
	uint32_t share;
	uint32_t flags; /* f_flags without O_CLOEXEC */
	bool cloexec;
	uint64_t pos;
	int32_t file; /* FILE, DIR, CHR, FIFO: index into image.files */
	union {
		struct { /* PIPE, FIFO */
			uint64_t ino; /* pipes with the same ino are one pipe */
			bool is_write_end;
			uint32_t capacity; /* F_GETPIPE_SZ */
			struct image_blob data; /* bytes buffered, on one fd of the pipe */
		} pipe;
		struct { /* INHERIT */
			int32_t from; /* which fd of thaw restore (0, 1, 2) */
		} inherit;
		struct { /* EVENTFD */
			uint64_t count;
			bool is_semaphore;
		} eventfd;
		struct { /* EPOLL */
			uint32_t nr_watches;
			struct image_epoll_watch *watches;
		} epoll;
		struct { /* SIGNALFD */
			uint64_t mask;
		} signalfd;
		struct { /* TIMERFD */
			int32_t clockid;
			int32_t settime_flags;
			uint64_t ticks;
			uint64_t value_ns; /* time to next expiry, 0 = disarmed */
			uint64_t interval_ns;
			/* absolute on the wall clock: the expiry on its clock at dump, else 0 */
			uint64_t deadline_ns;
		} timerfd;
		struct { /* MEMFD */
			int32_t shmem; /* index into image.shmems */
		} memfd;
		struct image_pidfd { /* PIDFD */
			int32_t pid; /* in the snapshot's PID namespace */
		} pidfd;
		struct image_inotify { /* INOTIFY */
			uint32_t nr_watches;
			struct image_inotify_watch {
				int32_t wd; /* the watch descriptor the program knows */
				char *path; /* where the watched inode was found */
				uint64_t ino, dev; /* which inode: restore checks path leads to it */
				uint32_t mask; /* events and IN_ONESHOT/IN_EXCL_UNLINK */
			} *watches; /* sorted by wd */
		} inotify;
		struct image_pty { /* PTY (src/engine/fd-pty.c) */
			bool is_master;
			uint32_t index; /* N of /dev/pts/N: the program may have kept ptsname() */
			/* termios of this fd's end (tcgetattr): speeds as B* constants */
			uint32_t iflag, oflag, cflag, lflag, line;
			uint32_t nr_cc;
			uint32_t *cc; /* c_cc[], at most IMAGE_PTY_NCCS */
			uint32_t ispeed, ospeed;
			uint32_t rows, cols, xpixel, ypixel; /* TIOCGWINSZ */
			bool is_locked; /* master: TIOCGPTLCK */
			bool is_packet; /* master: TIOCGPKT */
			bool is_exclusive; /* TIOCGEXCL */
		} pty;
		struct { /* SOCKET */
			int32_t family; /* AF_UNIX, AF_INET, AF_INET6 */
			int32_t type; /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
			int32_t protocol;
			uint32_t state; /* enum image_sock_state */
			uint64_t ino; /* socket inode: pair ends name each other by it */
			uint64_t peer_ino; /* PAIR: the other end's inode */
			uint32_t backlog; /* LISTEN: the listen() backlog */
			uint32_t addr_len; /* bytes of addr: 0 = unbound */
			uint32_t peer_len; /* bytes of peer: connected datagram, RESET (for people) */
			uint8_t addr[IMAGE_SOCK_ADDR_MAX]; /* getsockname() */
			uint8_t peer[IMAGE_SOCK_ADDR_MAX]; /* getpeername() */
			/*
			 * PAIR: what this end would read next.  Stream: the bytes;
			 * datagram and seqpacket: messages, each a little-endian u32
			 * length then its bytes.
			 */
			struct image_blob queue;
			struct image_sock_attrs attrs;
		} sock;
	};
};

/* The fields PR_SET_MM_MAP takes (struct prctl_mm_map minus auxv and exe). */
struct image_mm {
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
};

struct image_rlimit {
	uint64_t cur, max;
};

#define IMAGE_NR_RLIMITS 16
#define IMAGE_NR_SIGNALS 64

struct image_itimer {
	uint64_t interval_us, value_us;
};

/* What the dump host looked like: restore refuses a host that differs. */
struct image_host {
	char kernel_release[65];
	/* CPUID feature words: 1.ecx 1.edx 7.0.ebx 7.0.ecx 7.0.edx 7.1.eax 0x80000001.ecx .edx */
	uint32_t cpuid[8];
	uint64_t xcr0;
	uint32_t xsave_size;
	/* vDSO layout: sizes of [vvar], [vvar_vclock], [vdso] and a crc of the vdso bytes */
	uint64_t vvar_size, vvar_vclock_size, vdso_size;
	uint32_t vdso_crc;
};

/*
 * GPU part (src/gpu/): the CUDA driver moved the device state into the
 * process's host memory before the dump; restore needs the same GPU models in
 * the same order and a driver at least as new.
 */
#define IMAGE_MAX_GPUS 64
#define IMAGE_GPU_NAME 96
#define IMAGE_MAX_GPU_STATE 256 /* ranges of device state in host memory */

struct image_gpu_dev {
	char name[IMAGE_GPU_NAME]; /* "NVIDIA H100 80GB HBM3" */
	uint64_t memory_bytes;
	uint32_t cc_major, cc_minor; /* compute capability */
};

struct image_gpu {
	char driver[32]; /* "580.159.04", from /proc/driver/nvidia/version */
	int32_t cuda_version; /* cuDriverGetVersion: 13000 is CUDA 13.0 */
	uint32_t nr_devs;
	struct image_gpu_dev devs[IMAGE_MAX_GPUS];
	uint64_t device_bytes; /* host memory the checkpoint added: the device state */
	int32_t uvm_socket_fd; /* the driver's listening @cuda-uvmfd-NS-PID socket, or -1 */
	/*
	 * The driver's restore thread (a TID of the process), 0 when unknown:
	 * restore lets it run alone until the device state is back.
	 */
	int32_t restore_tid;
	bool uvm_socket_nul; /* its abstract name ends in a NUL byte */
	/*
	 * libthaw's GPU weights region (docs/gpu.md), saved by thaw into the
	 * process's memory before the driver's checkpoint: the thread that
	 * loads it back (a TID of the process, 0 when there is no region), the
	 * request pipe's write end and the reply pipe's read end, the device
	 * bytes and allocations saved.
	 */
	int32_t weights_tid;
	int32_t weights_req_fd, weights_rep_fd;
	uint32_t weights_segments;
	uint64_t weights_bytes;
	/*
	 * Where the checkpoint put the device state: the address ranges of
	 * memory the checkpoint made or grew, which the driver reads back at
	 * restore (a lazy restore keeps every VMA that meets one eager).
	 * state_known false: not recorded (an older snapshot, or more than
	 * IMAGE_MAX_GPU_STATE ranges): a lazy restore serves none of this
	 * process's memory lazily.
	 */
	bool state_known;
	uint32_t nr_state;
	struct {
		uint64_t start, end;
	} state[IMAGE_MAX_GPU_STATE]; /* page-aligned, sorted, none overlapping */
};

struct image_proc {
	pid_t pid, ppid, pgid, sid; /* in the snapshot's PID namespace */
	pid_t host_pid; /* PID the dump was taken from, for people */
	char comm[16];
	uint32_t umask;
	uint32_t personality;
	char *cwd;
	int32_t exe; /* index into image.files */
	struct image_mm mm;
	struct image_blob auxv;
	struct image_rlimit rlimits[IMAGE_NR_RLIMITS];
	struct image_sigaction sigactions[IMAGE_NR_SIGNALS]; /* index = signal - 1 */
	struct image_itimer itimers[3]; /* REAL, VIRTUAL, PROF */
	struct image_blob pending_shared; /* siginfo_t[] queued to the process */
	uint64_t dumped_at_ns; /* CLOCK_REALTIME */
};

/*
 * Attributes of the process as a whole (src/engine/attrs.c): read from /proc
 * (or from inside) at dump, written back by the tracer before it runs.
 */
#define IMAGE_THP_DISABLE (1u << 0) /* PR_SET_THP_DISABLE */
#define IMAGE_THP_EXCEPT_ADVISED (1u << 1) /* PR_THP_DISABLE_EXCEPT_ADVISED (Linux 6.18) */
#define IMAGE_MDWE_REFUSE_EXEC_GAIN (1u << 0) /* PR_SET_MDWE flags */
#define IMAGE_MDWE_NO_INHERIT (1u << 1)
/* membarrier(2) MEMBARRIER_CMD_REGISTER_* bits, as MEMBARRIER_CMD_GET_REGISTRATIONS gives them */
#define IMAGE_MEMBARRIER_REGISTERED 0x154u
#define IMAGE_LOGINUID_UNSET 0xffffffffu
struct image_proc_attrs {
	int32_t oom_score_adj; /* /proc/PID/oom_score_adj */
	uint32_t coredump_filter; /* /proc/PID/coredump_filter */
	uint32_t loginuid; /* /proc/PID/loginuid; IMAGE_LOGINUID_UNSET when never set */
	/* visible only from inside (injected syscalls) */
	uint32_t thp_disable; /* IMAGE_THP_* (PR_GET_THP_DISABLE) */
	bool is_child_subreaper; /* PR_SET_CHILD_SUBREAPER: orphans below come to it */
	uint32_t membarrier; /* registered commands (MEMBARRIER_CMD_GET_REGISTRATIONS) */
	uint32_t mdwe; /* IMAGE_MDWE_* (PR_GET_MDWE): memory-deny-write-execute */
	int32_t autogroup_nice; /* a session leader's autogroup (/proc/PID/autogroup) */
	bool has_amx_perm; /* ARCH_REQ_XCOMP_PERM granted AMX tile data (torch asks for it) */
};

/*
 * Job control (src/engine/signals.c): a process in group stop when it was
 * dumped comes back stopped by the same signal.
 */
struct image_job_control {
	uint32_t stop_signal; /* SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU; 0: not stopped */
};

/*
 * The controlling terminal of a session leader when it is a pty of the
 * snapshot (src/engine/fd-pty.c): the leader's helper acquires it after
 * setsid, before it forks, so that the session's processes inherit it.  Its
 * foreground group is given back by a process of the snapshot in that group,
 * once it is in it (restore.c); a foreground group no process of the snapshot
 * is in is refused at dump.
 */
struct image_ctty {
	bool is_set;
	uint32_t index; /* N of /dev/pts/N */
	pid_t fg_pgid; /* the foreground process group, in the snapshot's PID namespace */
};

/*
 * A POSIX timer (timer_create): restored with its id, clock and sigevent,
 * and armed last.  The time left is from the dump; a timer of the wall clock
 * (CLOCK_REALTIME, _ALARM, TAI) keeps its deadline instead.
 */
#define IMAGE_MAX_POSIX_TIMERS 65536

enum image_timer_notify {
	IMAGE_TIMER_SIGNAL, /* SIGEV_SIGNAL: signo to the process */
	IMAGE_TIMER_NONE, /* SIGEV_NONE: nothing; only timer_gettime sees it */
	IMAGE_TIMER_THREAD, /* SIGEV_THREAD as the kernel takes it: like SIGEV_SIGNAL */
	IMAGE_TIMER_THREAD_ID, /* SIGEV_THREAD_ID: signo to thread tid (glibc's SIGEV_THREAD) */
	IMAGE_TIMER_NOTIFY_COUNT
};

struct image_posix_timer {
	int32_t id;
	int32_t clockid; /* negative: a CPU clock of the process or one of its threads */
	uint32_t notify; /* enum image_timer_notify */
	int32_t signo;
	uint64_t sigval; /* sigev_value, all 64 bits */
	int32_t tid; /* THREAD_ID: the thread it signals, in the snapshot's namespace */
	uint64_t value_ns; /* time left at dump; 0 = disarmed */
	uint64_t interval_ns;
	uint64_t deadline_ns; /* wall clock, armed: the expiry on that clock; else 0 */
	int32_t overrun; /* timer_getoverrun() at dump, for people (see compatibility.md) */
};

/*
 * The process's root directory (chroot(2)), src/engine/process.c: the path
 * by which thaw's own root reaches it, or NULL when it is thaw's root.
 * container: the process ran in a root of its mount namespace that its
 * dumper set up (thaw run --root/--image, engine_dump_opts.container_root):
 * every path of the snapshot is one of that root, path (if any) too, and
 * only a restore that sets up the same root (engine_restore_opts.enter_root)
 * may restore it.
 */
struct image_root {
	char *path;
	bool container;
};

/*
 * Process trees: the root process's image lists every other process of the
 * tree, parents before their children.  A live one has an image of its own
 * in the subdirectory proc-PID; a zombie has none.
 */
struct image_child {
	pid_t pid, ppid, pgid, sid; /* in the snapshot's PID namespace */
	pid_t host_pid; /* for people */
	bool is_zombie;
	int32_t exit_status; /* zombie: the wait status its parent will get */
};

/*
 * File locks and leases (src/engine/file-locks.c), each recorded once, on the
 * lowest fd of the open file description it was taken through.  POSIX locks
 * belong to the process, OFD and flock locks and leases to the description.
 */
#define IMAGE_MAX_LOCKS 65536
#define IMAGE_LOCK_MAX_OFF 0x7fffffffffffffffull /* offsets are loff_t */

enum image_lock_kind {
	IMAGE_LOCK_POSIX, /* fcntl F_SETLK */
	IMAGE_LOCK_OFD, /* fcntl F_OFD_SETLK */
	IMAGE_LOCK_FLOCK, /* flock(2) */
	IMAGE_LOCK_LEASE, /* fcntl F_SETLEASE */
	IMAGE_LOCK_KIND_COUNT
};

enum image_lock_type {
	IMAGE_LOCK_READ, /* F_RDLCK, LOCK_SH */
	IMAGE_LOCK_WRITE, /* F_WRLCK, LOCK_EX */
	IMAGE_LOCK_TYPE_COUNT
};

struct image_lock {
	int32_t fd;
	uint32_t kind; /* enum image_lock_kind */
	uint32_t type; /* enum image_lock_type */
	uint64_t start; /* absolute offset of the first byte; flock and leases: 0 */
	uint64_t len; /* bytes; 0 = to the end of the file, however far it grows */
};

/*
 * An fd's owner and signal (src/engine/fd-owner.c): who gets SIGIO (or sig)
 * for it, and SIGURG for a socket.  One record per fd that has an owner or a
 * signal set; O_ASYNC itself is in image_fd.flags.
 */
enum image_owner_type {
	IMAGE_OWNER_TID, /* F_OWNER_TID: one thread */
	IMAGE_OWNER_PID, /* F_OWNER_PID, F_SETOWN(pid): a process */
	IMAGE_OWNER_PGRP, /* F_OWNER_PGRP, F_SETOWN(-pgid): a process group */
	IMAGE_OWNER_TYPE_COUNT
};

struct image_fd_owner {
	int32_t fd;
	uint32_t type; /* enum image_owner_type */
	int32_t pid; /* in the snapshot's PID namespace; 0 = no owner */
	int32_t sig; /* F_SETSIG; 0 = SIGIO without siginfo */
};

/*
 * What binds the files of a snapshot together (docs/security.md): a random
 * id that the header of every binary file repeats, and the size and SHA-256
 * of every other file the snapshot is made of, kept in the manifest.  A
 * tree's root lists its children's manifests (proc-PID/manifest.json); each
 * child's manifest lists its own files.
 */
#define IMAGE_ID_SIZE 16
#define IMAGE_SHA256_SIZE 32
#define IMAGE_MAX_PARTS (4 + IMAGE_MAX_CHILDREN) /* workset.idx may be one */
#define IMAGE_PART_NAME_MAX 64

struct image_part {
	/* "pages.idx", "pages.img", "data.img", "workset.idx" or "proc-PID/manifest.json" */
	char *name;
	uint64_t size;
	uint8_t sha256[IMAGE_SHA256_SIZE];
};

struct image_parts {
	uint8_t id[IMAGE_ID_SIZE];
	uint32_t nr_files;
	struct image_part *files;
};

/*
 * The working set (image-workset.c, docs/lazy-restore.md): the page ranges a
 * start of the program touched, in the order it touched them, recorded by
 * its first lazy restore into workset.idx, a part of the root's snapshot.
 */
#define IMAGE_WORKSET_FILE "workset.idx"
#define IMAGE_MAX_WORKSET 65536

struct image_workset_entry {
	uint64_t vaddr; /* page-aligned, in the process's address space */
	uint32_t npages; /* 1..IMAGE_MAX_RUN_PAGES */
	int32_t pid; /* the process of the tree, in the snapshot's namespace */
};

struct image_workset {
	uint32_t nr;
	struct image_workset_entry *entries; /* in the order they were touched */
};

struct image_hash; /* image-bind.c: the SHA-256 of a file being written */

#define IMAGE_KEY_SIZE 32 /* a key file's key (base/keyfile.h) */

enum image_signed {
	IMAGE_UNSIGNED, /* read without a key */
	IMAGE_SIGNED, /* its manifest's signature checked */
	IMAGE_SIGNED_WITH_BYTES, /* and pages.img and data.img hashed in full */
};

struct image {
	uint32_t version;
	struct image_host host;
	struct image_proc proc;
	struct image_proc_attrs attrs;
	struct image_job_control job_control;
	struct image_ctty ctty;
	struct image_root root;
	bool has_gpu; /* the process used CUDA: gpu is filled in */
	struct image_gpu gpu;

	uint32_t nr_threads;
	struct image_thread *threads; /* threads[0] is the leader */
	uint32_t nr_vmas;
	struct image_vma *vmas; /* sorted by start, non-overlapping */
	uint32_t nr_guards;
	struct image_guard *guards;
	uint32_t nr_fds;
	struct image_fd *fds; /* sorted by fd; those below 0 are files in flight */
	uint32_t nr_files;
	struct image_file *files;
	uint32_t nr_shmems;
	struct image_shmem *shmems;
	uint32_t nr_children; /* the root image of a tree only */
	struct image_child *children;
	uint32_t nr_posix_timers;
	struct image_posix_timer *posix_timers; /* ascending ids */
	uint32_t nr_locks;
	struct image_lock *locks;
	uint32_t nr_fd_owners;
	struct image_fd_owner *fd_owners;
	struct image_proc_creds creds;
	uint32_t nr_seccomp_filters;
	struct image_seccomp_filter *seccomp_filters;
	struct image_parts parts; /* the files bound to this manifest */
	/* a root's workset.idx, read by image_read() when parts names it */
	bool has_workset; /* read and valid */
	bool workset_damaged; /* named but refused (a warning said why): left out */
	struct image_workset workset;

	/* pages.idx, loaded on read; appended to by image_add_pages() on write */
	uint64_t nr_runs;
	struct image_page_run *runs;
	uint64_t pages_bytes; /* size of pages.img payload */

	/* while dumping: thaw's copies of the files in flight, flight_fds[-1 - fd], or -1 */
	uint32_t nr_flight_fds;
	int *flight_fds;

	/* open handles while writing or reading */
	int dir_fd; /* the directory being written or read */
	int pages_fd; /* pages.img */
	int data_fd; /* data.img */
	uint64_t data_bytes;
	char *path; /* the directory the caller named */
	char *tmp_path; /* while writing: the unpublished directory */
	bool keeps_no_bytes; /* image_alloc_fingerprint(): blobs are fingerprints, no pages */
	/* in such an image, the blobs added with image_add_blob_kept(), bytes and all */
	struct image_kept_blob {
		uint64_t off;
		void *data;
	} *kept;
	uint32_t nr_kept;
	/* while writing: SHA-256 of pages.img and data.img so far (both only ever appended to) */
	struct image_hash *pages_hash, *data_hash;
	/* while reading: SHA-256 and size of the manifest.json read (a tree's root binds them) */
	uint8_t manifest_sha256[IMAGE_SHA256_SIZE];
	uint64_t manifest_size;
	uint8_t is_signed; /* enum image_signed: read by image_read_signed() (or its root was) */
};

/*
 * Writing.  image_create() makes DIR.tmp-* (0700) and opens its files;
 * the dump adds bulk data; image_publish() writes manifest and index, fsyncs
 * and renames over DIR.  image_abort() removes the unpublished directory.
 */
int image_create(const char *dir, struct image **ret_img) __attribute__((warn_unused_result));
/* Closes the dump's copies of the files in flight (flight_fds); image_free() does too. */
void image_close_flight(struct image *img);
int image_add_blob(struct image *img, const void *data, size_t len, struct image_blob *ret)
	__attribute__((warn_unused_result));
/*
 * The same, and an image that keeps no bytes keeps these (in memory), so that
 * image_read_blob() gives them: what --verify compares by content rather than
 * by crc (a TCP queue that may have grown since the dump).
 */
int image_add_blob_kept(struct image *img, const void *data, size_t len, struct image_blob *ret)
	__attribute__((warn_unused_result));
/* Append npages of page data (or none, for a zero run) for vaddr; splits into runs. */
int image_add_pages(struct image *img, uint64_t vaddr, const void *data, uint32_t npages,
		    uint32_t flags) __attribute__((warn_unused_result));
/*
 * Page data written by the caller, on threads of its own (mem.c): the next
 * npages * IMAGE_PAGE_SIZE bytes of pages.img are recorded for vaddr, their
 * runs' crcs chained from words (crc32c_page_word of each page), and
 * *ret_off is where the caller writes them, into image_pages_fd().  Calls
 * must not overlap, and come in the order the pages are to lie in the file.
 * Once every byte up to some end is written, image_pages_written() says how
 * many more there are since the last call, in order: the digest reads them.
 */
int image_reserve_pages(struct image *img, uint64_t vaddr, uint32_t npages, uint32_t flags,
			const uint32_t *words, uint64_t *ret_off) __attribute__((warn_unused_result));
int image_pages_fd(const struct image *img);
int image_pages_written(struct image *img, uint64_t bytes) __attribute__((warn_unused_result));
int image_publish(struct image *img) __attribute__((warn_unused_result));
void image_abort(struct image *img);

/*
 * Reading.  image_read() loads and validates the manifest and page index
 * and keeps pages.img and data.img open; every error names the file and
 * what is wrong in it.
 */
int image_read(const char *dir, struct image **ret_img) __attribute__((warn_unused_result));
/*
 * Reads the image of the tree's process c (live, listed by root) from
 * root's proc-PID/, and checks that its manifest is the one root recorded.
 */
int image_read_child(const struct image *root, const struct image_child *c,
		     struct image **ret_img) __attribute__((warn_unused_result));
/*
 * Reads every byte a restore relies on and checks it: the SHA-256 of
 * pages.img and data.img, every page run's crc, every blob's crc.  Logs
 * each problem it finds (a few at most) and returns -EINVAL if any.  What
 * thaw inspect runs; a restore checks the same bytes as it reads them.
 */
int image_verify(const struct image *img) __attribute__((warn_unused_result));
/*
 * Signatures (thaw dump --key-file, docs/security.md).  image_sign() writes
 * manifest.sig into a published snapshot: an HMAC-SHA-256, under key, of its
 * manifest, which binds every other file.  image_read_signed() is
 * image_read() that also refuses a snapshot whose manifest is unsigned or
 * signed otherwise and, with with_bytes, hashes pages.img and data.img (a
 * tree's children's too, as image_read_child() reads them) in full: with a
 * key, the files may lie where others can write, and a crc is no proof.
 */
int image_sign(const char *dir, const uint8_t key[IMAGE_KEY_SIZE])
	__attribute__((warn_unused_result));
int image_read_signed(const char *dir, const uint8_t key[IMAGE_KEY_SIZE], bool with_bytes,
		      struct image **ret_img) __attribute__((warn_unused_result));
/* Reads a blob into a fresh buffer (caller frees), verifying its crc. */
/*
 * workset.idx (image-workset.c).  encode: the file's bytes for snapshot id,
 * calloc'd (NULL: out of memory).  decode: the reader of untrusted bytes,
 * every count and range bounded; -EINVAL with why in err, ws left empty.
 * read: what image_read() runs on a manifest that names it; a damaged
 * record is a warning and is left out, never a failed read.  save: adds ws
 * to the published snapshot in dir (its manifest rewritten to bind it, the
 * directory replaced at once); -EPERM for a signed snapshot, -EBUSY while
 * another thaw adds one, -EEXIST when one has been added since; logged.
 */
unsigned char *image_workset_encode(const struct image_workset *ws,
				    const uint8_t id[IMAGE_ID_SIZE], size_t *ret_size);
int image_workset_decode(const unsigned char *buf, size_t len, const uint8_t id[IMAGE_ID_SIZE],
			 struct image_workset *ws, char *err, size_t errlen);
void image_workset_read(struct image *img);
int image_workset_save(const char *dir, const struct image_workset *ws)
	__attribute__((warn_unused_result));
/*
 * The bytes that add ws to the snapshot img (read from its directory):
 * workset.idx, and manifest.json and manifest.crc rewritten to bind it; for a
 * copy of the snapshot kept elsewhere (a store).  img's parts record the new
 * file.  -EPERM for a signed snapshot; logged.
 */
struct image_workset_files {
	unsigned char *record;
	size_t record_len;
	char *manifest;
	size_t manifest_len;
	char crc[16]; /* manifest.crc's text */
};
int image_workset_files(struct image *img, const struct image_workset *ws,
			struct image_workset_files *out) __attribute__((warn_unused_result));
void image_workset_files_release(struct image_workset_files *f);
void image_workset_release(struct image_workset *ws);

int image_read_blob(const struct image *img, const struct image_blob *blob, void **ret_data)
	__attribute__((warn_unused_result));

/* Growable arrays while dumping: return a zeroed new element or NULL. */
struct image_thread *image_new_thread(struct image *img);
struct image_vma *image_new_vma(struct image *img);
struct image_guard *image_new_guard(struct image *img);
struct image_fd *image_new_fd(struct image *img);
struct image_shmem *image_new_shmem(struct image *img);
struct image_child *image_new_child(struct image *img);
struct image_lock *image_new_lock(struct image *img);
struct image_fd_owner *image_new_fd_owner(struct image *img);
struct image_seccomp_filter *image_new_seccomp_filter(struct image *img);
/* An image with nothing in it and no files (the GPU state of a process before its dump). */
struct image *image_alloc_empty(void);
/*
 * An image that keeps no bytes, for comparing (thaw restore --verify collects
 * a restored process into one): image_add_blob() records a blob's length and
 * crc and stores nothing, and the image takes no pages.
 */
struct image *image_alloc_fingerprint(void);
/*
 * Whether a TCP connection read back after a restore (r, with the bytes of
 * its queues) is the dumped one (d) having run on, as a restored connection
 * does once out of repair mode and before the program runs: nothing read
 * (the same rcv_seq) and the dumped receive queue the start of the restored
 * one (bytes the peer sent since follow it); the restored send queue the end
 * of the dumped one (the peer acknowledged the rest), with no more unsent.
 * 0 if so, 1 with why otherwise.
 */
int image_tcp_ran_on(const struct image_sock_tcp *d, const uint8_t *dsend, const uint8_t *drecv,
		     const struct image_sock_tcp *r, const uint8_t *rsend, const uint8_t *rrecv,
		     char *why, size_t whylen);
/* Whether the dump should read pages into img (not into a fingerprint image). */
bool image_takes_pages(const struct image *img);
/* The subdirectory of a tree's snapshot that holds the child pid's image. */
#define IMAGE_CHILD_DIR_FMT "proc-%d"
/*
 * Files a restore takes by type alone (files_validate), whose size and mtime
 * may change after the dump: one the process only writes (a log: held
 * O_WRONLY only, neither mapped nor its executable), and a POSIX shm object
 * or semaphore under /dev/shm (made anew from its saved contents).
 */
bool image_file_is_output(const struct image *img, int32_t idx);
bool image_file_is_shm_object(const struct image *img, const struct image_file *f);
/* Finds or adds a file by (dev, ino, path); returns its index or -errno. */
int image_file_index(struct image *img, const struct image_file *file);

/* Serialisation of the manifest alone (unit tests, inspect). Caller frees. */
char *image_manifest_to_json(const struct image *img, int indent);
int image_manifest_from_json(struct image *img, const char *json, size_t len, char *err,
			     size_t errlen) __attribute__((warn_unused_result));

/* Frees what one fd owns (epoll watches, a socket's attrs); image_free() does it for img->fds. */
void image_fd_release(struct image_fd *f);
void image_free(struct image *img);

const char *image_vma_kind_name(uint32_t kind);
const char *image_fd_kind_name(uint32_t kind);
const char *image_thread_state_name(uint32_t state);
const char *image_rlimit_name(uint32_t resource); /* RLIMIT_*: "nofile" */
const char *image_itimer_name(uint32_t which); /* "real", "virtual", "prof" */

/*
 * Comparing a snapshot with what was restored from it (image-compare.c):
 * the engine collects each restored process, before it runs again, into a
 * fingerprint image with the dump's own collectors, and compares it with
 * the snapshot's image.  One struct image_compare serves a whole tree: the
 * kernel objects several processes share (pipes, sockets, open file
 * descriptions, shmem) must pair one to one across all of them.
 */
struct image_compare;
struct image_compare *image_compare_new(void); /* NULL when out of memory (logged) */
void image_compare_free(struct image_compare *c);
/*
 * 0 when restored is what dumped describes; 1 when they differ, with the
 * first difference in diff, named by its path and both values:
 * "threads[tid 44].sigmask: 0x0 restored, 0x4000 dumped"; -ENOMEM.
 * What may differ, and why, is the list image_compare_exceptions().
 */
int image_compare(struct image_compare *c, const struct image *dumped,
		  const struct image *restored, char *diff, size_t difflen)
	__attribute__((warn_unused_result));
/* The exceptions, for documentation and tests: *ret_path and *ret_why of entry i, or -ENOENT. */
int image_compare_exception(uint32_t i, const char **ret_path, const char **ret_why);

#endif
