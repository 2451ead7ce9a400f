/*
 * restorer.c - the freestanding restorer blob.
 *
 * Copied into a free region of the restore helper and entered with a stack
 * inside that region, this code replaces the helper's address space with
 * the snapshot's and recreates the threads.  It cannot use libc (libc's
 * memory is the first thing it unmaps), so it speaks to the kernel through
 * the raw syscalls below.  It never returns: every thread ends on int3, where
 * thaw's init (the tracer) takes over, sets the final registers and detaches.
 *
 * The order matters (research/cr-engine.md §2, §3, §5):
 *   1. unmap the helper's mappings (its rseq area was unregistered before),
 *   2. park the vDSO family, then move it to the snapshot's addresses,
 *   3. map every VMA; create the threads; all of them fill the VMAs from
 *      pages.img with pread side by side, checking crcs (restoring from
 *      the store, thaw writes them instead: engine_page_source),
 *   4. final protections, madvise bits, guard regions,
 *   5. PR_SET_MM_MAP (brk, arg/env, auxv, exe),
 *   6. threads with clone3(set_tid); they fill pages beside the leader,
 *      then each sets its own tid address, robust list, rseq, altstack and
 *      queued signals once the leader has finished the address space,
 *   7. POSIX timers (disarmed), rlimits (while the process still has
 *      thaw's privileges), close the helper's fds,
 *   8. per thread, its personality and credentials (apply_creds()), then
 *      the attributes a change of credentials would reset, trap (the tracer
 *      arms the timers: nothing may fire into the blob).
 */
#include <stddef.h>
#include <stdint.h>

#include "base/crc32c.h"
#include "restorer.h"

#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_ioctl 16
#define NR_mmap 9
#define NR_mprotect 10
#define NR_munmap 11
#define NR_shmat 30
#define NR_pread64 17
#define NR_mremap 25
#define NR_madvise 28
#define NR_setgroups 116
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_setfsuid 122
#define NR_setfsgid 123
#define NR_capget 125
#define NR_capset 126
#define NR_personality 135
#define NR_seccomp 317
#define NR_exit 60
#define NR_mlock 149
#define NR_mlock2 325
#define MLOCK_ONFAULT 1
#define NR_prctl 157
#define NR_sigaltstack 131
#define NR_set_tid_address 218
#define NR_exit_group 231
#define NR_rt_tgsigqueueinfo 297
#define NR_rt_sigqueueinfo 129
#define NR_set_robust_list 273
#define NR_prlimit64 302
#define NR_rseq 334
#define NR_clone3 435
#define NR_clock_gettime 228
#define NR_timer_create 222
#define NR_timer_delete 226
#define NR_futex 202
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#define PR_SET_MM 35
#define PR_SET_MM_MAP 14
#define PR_SET_NAME 15
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_SET_PDEATHSIG 1
#define PR_SET_TSC 26
#define PR_SET_TIMERSLACK 29
#define PR_GET_TIMERSLACK 30
#define PR_MCE_KILL 33
#define PR_MCE_KILL_CLEAR 0
#define PR_MCE_KILL_SET 1
#define PR_SET_MDWE 65
#define PR_GET_DUMPABLE 3
#define PR_SET_DUMPABLE 4
#define PR_CAPBSET_DROP 24
#define PR_SET_SECUREBITS 28
#define PR_SET_NO_NEW_PRIVS 38
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define SECBIT_NO_SETUID_FIXUP (1u << 2)
#define CAP_VERSION_3 0x20080522
#define NR_arch_prctl 158
#define NR_set_mempolicy 238
#define ARCH_SET_CPUID 0x1012
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_FILTER_FLAG_TSYNC 1
#define SS_DISABLE 2

#define CLONE_VM 0x00000100
#define CLONE_FS 0x00000200
#define CLONE_FILES 0x00000400
#define CLONE_SIGHAND 0x00000800
#define CLONE_THREAD 0x00010000
#define CLONE_SYSVSEM 0x00040000

#define MADV_RANDOM 1
#define MADV_SEQUENTIAL 2
#define MADV_DONTFORK 10
#define MADV_MERGEABLE 12
#define MADV_HUGEPAGE 14
#define MADV_NOHUGEPAGE 15
#define MADV_DONTDUMP 16
#define MADV_WIPEONFORK 18
#define MADV_GUARD_INSTALL 102
#define MADV_POPULATE_WRITE 23

/* keep in step with image.h */
#define RUN_ZERO 1u
#define M_DONTFORK (1u << 0)
#define M_DONTDUMP (1u << 1)
#define M_WIPEONFORK (1u << 2)
#define M_HUGEPAGE (1u << 3)
#define M_NOHUGEPAGE (1u << 4)
#define M_MERGEABLE (1u << 5)
#define M_SEQUENTIAL (1u << 6)
#define M_RANDOM (1u << 7)

/* _IOWR(0xAA, 0x00, struct uffdio_register): 32 bytes */
#define UFFDIO_REGISTER 0xc020aa00ul
#define UFFDIO_REGISTER_MODE_MISSING 1ull

#define PAGE 4096ul
/* small enough that the crc reads the bytes back from L2 */
#define READ_CHUNK (256ul << 10)

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 asm("r10") = d;
	register long r8 asm("r8") = e;
	register long r9 asm("r9") = f;

	asm volatile("syscall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
		     : "rcx", "r11", "memory");
	return ret;
}

#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/*
 * Stop for the tracer: rdi says "this is ours", rax the step, rsi the
 * errno, rdx the address or TID the step was working on.
 */
static __attribute__((noreturn)) void trap_at(long step, long err, uint64_t detail)
{
	for (;;)
		asm volatile("int3" ::"a"(step), "D"(RESTORER_TRAP_MAGIC), "S"(err), "d"(detail)
			     : "memory");
}

#define trap(step, err) trap_at(step, err, 0)

static void zero(void *p, unsigned long len)
{
	unsigned long *w = p;

	/* pages are aligned: word stores are enough and need no libc */
	for (len /= sizeof(*w); len; len--)
		*w++ = 0;
}

static long unmap_helper(struct restorer_args *a)
{
	uint32_t i;
	long ret;

	for (i = 0; i < a->nr_unmap; i++) {
		ret = sys2(NR_munmap, a->unmap[i].start, a->unmap[i].len);
		if (ret < 0) {
			a->fail_detail = a->unmap[i].start;
			return ret;
		}
	}
	return 0;
}

/*
 * The helper's vDSO may overlap the snapshot's, and mremap refuses
 * overlapping ranges: park everything first, then move it home.  Each
 * mapping moves on its own since mremap cannot span VMAs.
 */
static long move_vdso(struct restorer_args *a)
{
	uint64_t park = a->park;
	uint32_t i;
	long ret;

	for (i = 0; i < a->nr_moves; i++) {
		ret = sys5(NR_mremap, a->moves[i].from, a->moves[i].len, a->moves[i].len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, park);
		if (ret < 0)
			goto fail;
		a->moves[i].from = park;
		park += a->moves[i].len;
	}
	for (i = 0; i < a->nr_moves; i++) {
		ret = sys5(NR_mremap, a->moves[i].from, a->moves[i].len, a->moves[i].len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, a->moves[i].to);
		if (ret < 0)
			goto fail;
	}
	return 0;
fail:
	a->fail_detail = a->moves[i].to;
	return ret;
}

static long map_vmas(struct restorer_args *a)
{
	uint32_t i;

	for (i = 0; i < a->nr_vmas; i++) {
		const struct restorer_vma *v = &a->vmas[i];
		uint32_t prot = v->prot | (v->needs_write ? PROT_WRITE : 0);
		long ret;

		if (v->shmid >= 0) {
			/* SysV: attached whole where its first part was; the rest is covered */
			if (v->pgoff)
				continue;
			ret = sys6(NR_shmat, v->shmid, (long)v->start,
				   RESTORER_SHM_REMAP | (prot & PROT_WRITE ? 0 : RESTORER_SHM_RDONLY) |
					   (prot & PROT_EXEC ? RESTORER_SHM_EXEC : 0),
				   0, 0, 0);
			if (ret < 0 || (uint64_t)ret != v->start) {
				a->fail_detail = v->start;
				return ret < 0 ? ret : -14;
			}
			continue;
		}
		if (v->stage) {
			/* made before the fork: moved, its pages stay shared with the children */
			ret = sys5(NR_mremap, (long)v->stage, (long)(v->end - v->start),
				   (long)(v->end - v->start), MREMAP_MAYMOVE | MREMAP_FIXED,
				   (long)v->start);
			if (ret >= 0 && (uint64_t)ret == v->start)
				ret = sys3(NR_mprotect, v->start, v->end - v->start, prot);
			else if (ret >= 0)
				ret = -14;
		} else {
			ret = sys6(NR_mmap, (long)v->start, (long)(v->end - v->start), prot,
				   v->map_flags | MAP_FIXED, v->fd, (long)v->pgoff);
			if (ret >= 0 && (uint64_t)ret != v->start)
				ret = -14;
		}
		if (ret < 0) {
			a->fail_detail = v->start;
			return ret;
		}
	}
	return 0;
}

/*
 * A lazy restore: every VMA marked lazy is registered for missing-page
 * faults before any thread can touch it; the page server (lazy.c), which
 * holds the same userfaultfd, answers them.  Nothing is read here.
 */
static long register_lazy(struct restorer_args *a)
{
	struct {
		uint64_t start, len, mode, ioctls;
	} reg;
	uint32_t i;
	long ret;

	for (i = 0; i < a->nr_vmas; i++) {
		const struct restorer_vma *v = &a->vmas[i];

		if (!v->lazy)
			continue;
		reg.start = v->start;
		reg.len = v->end - v->start;
		reg.mode = UFFDIO_REGISTER_MODE_MISSING;
		reg.ioctls = 0;
		ret = sys3(NR_ioctl, a->uffd, UFFDIO_REGISTER, &reg);
		if (ret < 0) {
			a->fail_detail = v->start;
			return ret;
		}
	}
	return 0;
}

/*
 * Fill this thread's share of the runs from pages.img (runs first, first+step,
 * ...); each run's crc is computed chunk by chunk while the bytes are hot.
 */
static long fill_pages(struct restorer_args *a, uint64_t first, uint64_t step, uint64_t *at)
{
	uint64_t i;

	for (i = first; i < a->nr_runs; i += step) {
		const struct restorer_run *r = &a->runs[i];
		unsigned long len = (unsigned long)r->npages * PAGE, done = 0;
		char *dst = (char *)r->vaddr;
		uint32_t crc = 0;

		*at = r->vaddr;
		if (r->flags & RESTORER_RUN_LAZY)
			continue; /* the page server copies it in on first touch */
		if (r->flags & RESTORER_RUN_STAGED)
			continue; /* in since before the fork */
		if (r->flags & RUN_ZERO) {
			zero(dst, len);
			continue;
		}
		if (a->fill_fd >= 0)
			continue; /* thaw writes it: pages_from_thaw() */
		/* fault the pages in one go rather than one exception each inside pread */
		sys3(NR_madvise, dst, len, MADV_POPULATE_WRITE);
		while (done < len) {
			unsigned long want = len - done, got = 0;

			if (want > READ_CHUNK)
				want = READ_CHUNK;
			while (got < want) {
				long n = sys4(NR_pread64, a->pages_fd, dst + done + got, want - got,
					      r->off + done + got);

				if (n < 0)
					return n;
				if (n == 0)
					return -61; /* ENODATA: pages.img is shorter than its index */
				got += (unsigned long)n;
			}
			crc = crc32c_pages(crc, dst + done, want);
			done += want;
		}
		if (crc != r->crc)
			return -RESTORER_ERR_CRC;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct {
		int64_t sec, nsec;
	} ts = { 0, 0 };

	sys2(NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
	return (uint64_t)ts.sec * 1000000000ull + (uint64_t)ts.nsec;
}

static void futex_wait(volatile int32_t *word, int32_t val)
{
	sys4(NR_futex, word, FUTEX_WAIT_PRIVATE, val, 0);
}

static void futex_wake(volatile int32_t *word)
{
	sys3(NR_futex, word, FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

/* Fills a share and reports; the first error wins. */
static void fill_share(struct restorer_args *a, uint32_t idx)
{
	uint64_t at = 0;
	long ret = fill_pages(a, idx, a->nr_threads + a->nr_fillers, &at);

	if (ret < 0 && __sync_bool_compare_and_swap(&a->fill_error, 0, ret))
		a->fill_error_at = at;
	__sync_fetch_and_add(&a->filled, 1);
	futex_wake(&a->filled);
}

/*
 * The data runs come from thaw (a restore from the store): it is told as
 * soon as the memory is mapped and writes the bytes (process_vm_writev,
 * faulting the pages in itself: faulting them in here as well, side by
 * side, made a restore slower); then its word says they are written (0)
 * or why not (-errno).  Silence means thaw is gone.
 */
static long tell_thaw_mapped(struct restorer_args *a)
{
	char mapped = 'm';

	return sys3(NR_write, a->fill_fd, &mapped, 1) == 1 ? 0 : -32 /* EPIPE */;
}

static long pages_from_thaw(struct restorer_args *a)
{
	int64_t reply = -32;
	long n;

	do
		n = sys3(NR_read, a->fill_fd, &reply, sizeof(reply));
	while (n == -4); /* EINTR */
	if (n != sizeof(reply))
		return -32;
	return reply > 0 ? -5 /* EIO */ : reply;
}

static long finish_vmas(struct restorer_args *a)
{
	static const struct {
		uint32_t bit;
		int advice;
	} advices[] = {
		{ M_DONTFORK, MADV_DONTFORK },	 { M_DONTDUMP, MADV_DONTDUMP },
		{ M_WIPEONFORK, MADV_WIPEONFORK }, { M_HUGEPAGE, MADV_HUGEPAGE },
		{ M_NOHUGEPAGE, MADV_NOHUGEPAGE }, { M_SEQUENTIAL, MADV_SEQUENTIAL },
		{ M_RANDOM, MADV_RANDOM },
	};
	uint32_t i, j;
	long ret;

	for (i = 0; i < a->nr_vmas; i++) {
		const struct restorer_vma *v = &a->vmas[i];
		long len = (long)(v->end - v->start);

		a->fail_detail = v->start;
		if (v->needs_write && !(v->prot & PROT_WRITE)) {
			ret = sys3(NR_mprotect, v->start, len, v->prot);
			if (ret < 0)
				return ret;
		}
		for (j = 0; j < sizeof(advices) / sizeof(advices[0]); j++) {
			if (!(v->madv & advices[j].bit))
				continue;
			ret = sys3(NR_madvise, v->start, len, advices[j].advice);
			if (ret < 0)
				return ret;
		}
		/* KSM may be compiled out: merging is a hint, not state */
		if (v->madv & M_MERGEABLE)
			sys3(NR_madvise, v->start, len, MADV_MERGEABLE);
		if (v->is_locked == RESTORER_LOCK_ONFAULT) {
			ret = sys3(NR_mlock2, v->start, len, MLOCK_ONFAULT);
			if (ret < 0)
				return ret;
		} else if (v->is_locked) {
			ret = sys2(NR_mlock, v->start, len);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static long install_guards(struct restorer_args *a)
{
	uint32_t i;
	long ret;

	for (i = 0; i < a->nr_guards; i++) {
		ret = sys3(NR_madvise, a->guards[i].start, a->guards[i].len, MADV_GUARD_INSTALL);
		if (ret < 0) {
			a->fail_detail = a->guards[i].start;
			return ret;
		}
	}
	return 0;
}

/* Per-thread state only the thread itself can set (research/cr-engine.md §5). */
static long setup_thread(struct restorer_args *a, struct restorer_thread *t)
{
	long ret;
	uint32_t i;

	sys1(NR_set_tid_address, t->clear_child_tid);
	ret = sys2(NR_set_robust_list, t->robust_list, t->robust_list_len);
	if (ret < 0 && t->robust_list)
		return ret;
	if (t->rseq_len) {
		ret = sys4(NR_rseq, t->rseq_abi, t->rseq_len, t->rseq_flags, t->rseq_sig);
		if (ret < 0)
			return ret;
	}
	{
		struct {
			uint64_t sp;
			int32_t flags;
			int32_t pad;
			uint64_t size;
		} ss = { t->altstack_sp, (int32_t)t->altstack_flags, 0, t->altstack_size };

		/*
		 * Always set: the helper's own alternate stack (a sanitizer
		 * installs one) would otherwise point into unmapped memory.
		 * SS_ONSTACK is a report, not a request; SS_AUTODISARM is.
		 */
		ss.flags &= (int32_t)0x80000000;
		if (!t->altstack_size)
			ss.flags = SS_DISABLE;
		ret = sys2(NR_sigaltstack, &ss, 0);
		if (ret < 0)
			return ret;
	}
	sys2(NR_prctl, PR_SET_NAME, t->comm);
	for (i = 0; i < t->nr_pending; i++) {
		const int32_t *si = (const int32_t *)t->pending[i].bytes;

		if (restorer_queues_late(si[0]))
			continue;
		ret = sys4(NR_rt_tgsigqueueinfo, a->pid, t->tid, si[0], t->pending[i].bytes);
		if (ret < 0)
			return ret;
	}
	return 0;
}

struct cap_header {
	uint32_t version;
	int32_t pid;
};

struct cap_data {
	uint32_t effective, permitted, inheritable;
};

static long set_caps(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct cap_header hdr = { CAP_VERSION_3, 0 };
	struct cap_data d[2];
	int i;

	for (i = 0; i < 2; i++) {
		d[i].effective = (uint32_t)(eff >> (32 * i));
		d[i].permitted = (uint32_t)(prm >> (32 * i));
		d[i].inheritable = (uint32_t)(inh >> (32 * i));
	}
	return sys2(NR_capset, &hdr, d);
}

/* setfsuid/setfsgid say only what the id was: asking again tells whether it took. */
static long set_fsid(long nr, uint32_t id)
{
	sys1(nr, id);
	return (uint32_t)sys1(nr, id) == id ? 0 : -1 /* EPERM */;
}

/* c's filters, oldest first: they stack, the newest runs first. */
static long install_filters(const struct restorer_args *a, const struct restorer_creds *c,
			    uint32_t flags)
{
	uint32_t i;
	long ret;

	for (i = 0; i < c->nr_seccomp; i++) {
		const struct restorer_filter *f = &a->filters[c->seccomp[i]];

		ret = sys3(NR_seccomp, SECCOMP_SET_MODE_FILTER, f->flags | flags, f);
		if (ret > 0)
			return -16; /* EBUSY: TSYNC names a thread that could not follow */
		if (ret < 0)
			return ret;
	}
	return 0;
}

#define CREDS_STEP(step, call)                                                                     \
	do {                                                                                       \
		long __r = (call);                                                                 \
		if (__r < 0)                                                                       \
			trap_at(step, __r, (uint64_t)t->tid);                                      \
	} while (0)

/*
 * The thread's credentials, last: after this only the trap.  Credentials
 * are per thread and the raw calls change only the caller's.  The order is
 * the one the kernel lets through (security/commoncap.c):
 *  - SECBIT_NO_SETUID_FIXUP first, so that changing the uids leaves the
 *    capability sets alone (no clearing of permitted, effective, ambient);
 *  - the inheritable set while the bounding set is still full (a new
 *    inheritable set must lie within the old one and the bounding set);
 *  - the bounding set, with CAP_SETPCAP still effective;
 *  - groups, gids, uids, then the fs ids (which setres*id reset);
 *  - the ambient set (each cap must be permitted and inheritable, and
 *    SECBIT_NO_CAP_AMBIENT_RAISE not yet set);
 *  - the process's dumpable flag, once every thread's ids are set (an
 *    euid or fsuid change resets it), by the leader;
 *  - the real securebits, with CAP_SETPCAP still effective;
 *  - the seccomp filters, oldest first, while CAP_SYS_ADMIN is still
 *    effective (a program that installed them as root and then gave up
 *    CAP_SYS_ADMIN without no_new_privs could not install them again), and
 *    before no_new_privs (a TSYNC install by a caller with no_new_privs
 *    would give it to every thread).  From here on the filters would judge
 *    every system call, the tracer's injected ones too, but for
 *    PTRACE_O_SUSPEND_SECCOMP, which the tracer holds until it lets the
 *    threads go (restore.c);
 *  - no_new_privs, then the final effective/permitted/inheritable sets,
 *    which give up whatever thaw had and the program did not.
 */
static void apply_creds(struct restorer_args *a, const struct restorer_thread *t, int is_leader)
{
	const struct restorer_creds *c = &t->creds;
	struct cap_header hdr = { CAP_VERSION_3, 0 };
	struct cap_data now[2];
	uint64_t eff, prm;
	uint32_t i;

	CREDS_STEP(RESTORER_ERR_PERSONALITY, sys1(NR_personality, a->personality));
	CREDS_STEP(RESTORER_ERR_SECUREBITS,
		   sys2(NR_prctl, PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP));
	CREDS_STEP(RESTORER_ERR_CAPS, sys2(NR_capget, &hdr, now));
	eff = (uint64_t)now[1].effective << 32 | now[0].effective;
	prm = (uint64_t)now[1].permitted << 32 | now[0].permitted;
	CREDS_STEP(RESTORER_ERR_CAPS, set_caps(eff, prm, c->cap_inh));
	for (i = 0; i <= a->cap_last_cap && i < 64; i++)
		if (!(c->cap_bnd >> i & 1))
			CREDS_STEP(RESTORER_ERR_BOUNDING, sys2(NR_prctl, PR_CAPBSET_DROP, i));
	CREDS_STEP(RESTORER_ERR_GROUPS, sys2(NR_setgroups, c->nr_groups, c->groups));
	CREDS_STEP(RESTORER_ERR_GIDS, sys3(NR_setresgid, c->gid, c->egid, c->sgid));
	CREDS_STEP(RESTORER_ERR_UIDS, sys3(NR_setresuid, c->uid, c->euid, c->suid));
	CREDS_STEP(RESTORER_ERR_FSIDS, set_fsid(NR_setfsgid, c->fsgid));
	CREDS_STEP(RESTORER_ERR_FSIDS, set_fsid(NR_setfsuid, c->fsuid));
	CREDS_STEP(RESTORER_ERR_AMBIENT,
		   sys5(NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	for (i = 0; i < 64; i++)
		if (c->cap_amb >> i & 1)
			CREDS_STEP(RESTORER_ERR_AMBIENT,
				   sys5(NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0));
	if (!is_leader) {
		__sync_fetch_and_add(&a->ids_set, 1);
		futex_wake(&a->ids_set);
	} else {
		for (;;) {
			int32_t seen = a->ids_set;

			if (seen == (int32_t)a->nr_threads - 1)
				break;
			futex_wait(&a->ids_set, seen);
		}
		/* 2 (fs.suid_dumpable) is what the kernel set on an id change, or not possible */
		if (a->dumpable <= 1)
			CREDS_STEP(RESTORER_ERR_DUMPABLE, sys2(NR_prctl, PR_SET_DUMPABLE, a->dumpable));
		else if (sys1(NR_prctl, PR_GET_DUMPABLE) != 2)
			CREDS_STEP(RESTORER_ERR_DUMPABLE, -1);
	}
	CREDS_STEP(RESTORER_ERR_SECUREBITS, sys2(NR_prctl, PR_SET_SECUREBITS, c->securebits));
	if (!a->seccomp_shared || is_leader)
		CREDS_STEP(RESTORER_ERR_SECCOMP,
			   install_filters(a, c, a->seccomp_shared ? SECCOMP_FILTER_FLAG_TSYNC : 0));
	if (c->no_new_privs)
		CREDS_STEP(RESTORER_ERR_NNP, sys5(NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	CREDS_STEP(RESTORER_ERR_CAPS, set_caps(c->cap_eff, c->cap_prm, c->cap_inh));
}

/*
 * Attributes each thread sets on itself (src/engine/attrs.c); on failure
 * *option says which prctl.  The parent-death signal goes last: a change of
 * credentials clears it, so nothing that changes them may come after.
 */
static long setup_thread_attrs(struct restorer_thread *t, uint64_t *option)
{
	long ret;

	*option = PR_SET_TIMERSLACK;
	if (t->timerslack_ns) {
		ret = sys2(NR_prctl, PR_SET_TIMERSLACK, (long)t->timerslack_ns);
		if (ret < 0)
			return ret;
		/* a value the kernel would change (clamp, or ignore under a realtime policy) */
		if ((uint64_t)sys1(NR_prctl, PR_GET_TIMERSLACK) != t->timerslack_ns)
			return -5; /* EIO */
	}
	*option = PR_MCE_KILL;
	if (t->mce_kill == RESTORER_MCE_KILL_CLEAR)
		ret = sys3(NR_prctl, PR_MCE_KILL, PR_MCE_KILL_CLEAR, 0);
	else
		ret = sys3(NR_prctl, PR_MCE_KILL, PR_MCE_KILL_SET, t->mce_kill);
	if (ret < 0)
		return ret;
	*option = PR_SET_TSC;
	ret = sys2(NR_prctl, PR_SET_TSC, t->tsc);
	if (ret < 0)
		return ret;
	*option = ARCH_SET_CPUID;
	ret = sys2(NR_arch_prctl, ARCH_SET_CPUID, t->cpuid);
	/* a CPU without CPUID faulting cannot turn it on; leaving it on needs no support */
	if (ret < 0 && t->cpuid == 0)
		return ret;
	*option = NR_set_mempolicy;
	ret = sys3(NR_set_mempolicy, t->mpol_mode, t->mpol_nodes, RESTORER_NODE_WORDS * 64 + 1);
	if (ret < 0)
		return ret;
	*option = PR_SET_PDEATHSIG;
	return sys2(NR_prctl, PR_SET_PDEATHSIG, t->pdeathsig);
}

/*
 * Where every thread the blob creates starts.  idx < nr_threads: a thread of
 * the program.  Above: a filler, which only fills its share and exits; its
 * TID was handed out after every TID of the snapshot was taken, so it can
 * collide with none.
 */
__attribute__((noreturn, used, noinline)) void thread_main(struct restorer_args *a, uint32_t idx)
{
	uint64_t option = 0;
	long ret;

	fill_share(a, idx);
	if (idx >= a->nr_threads)
		for (;;)
			sys1(NR_exit, 0);
	while (!a->released)
		futex_wait(&a->released, 0);
	ret = setup_thread(a, &a->threads[idx]);
	if (ret < 0)
		trap(RESTORER_ERR_THREAD, ret);
	apply_creds(a, &a->threads[idx], 0);
	ret = setup_thread_attrs(&a->threads[idx], &option);
	trap_at(ret < 0 ? RESTORER_ERR_ATTRS : RESTORER_OK, ret, ret < 0 ? option : 0);
}

struct clone_args_k {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};

/*
 * clone3 with a new stack: the child starts on that stack with the parent's
 * registers, so it must not return through this function's frame.  It
 * calls thread_main(a, idx) from r12/r13, which it inherited.  want_tid 0
 * lets the kernel pick (fillers).
 */
static long spawn(struct restorer_args *a, uint32_t idx, int32_t want_tid, uint64_t stack_top)
{
	uint64_t tid = (uint64_t)(uint32_t)want_tid;
	struct clone_args_k ca = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			 CLONE_SYSVSEM,
		.stack = stack_top - 65536,
		.stack_size = 65536,
		.set_tid = want_tid ? (uint64_t)&tid : 0,
		.set_tid_size = want_tid ? 1 : 0,
	};
	register long r12 asm("r12") = (long)a;
	register long r13 asm("r13") = (long)idx;
	long ret;

	asm volatile("syscall\n\t"
		     "test %%rax, %%rax\n\t"
		     "jnz 1f\n\t"
		     "mov %%r12, %%rdi\n\t"
		     "mov %%r13, %%rsi\n\t"
		     "call thread_main\n\t"
		     "ud2\n"
		     "1:\n\t"
		     : "=a"(ret)
		     : "a"(NR_clone3), "D"(&ca), "S"(sizeof(ca)), "r"(r12), "r"(r13)
		     : "rcx", "r11", "rdx", "memory");
	if (ret >= 0 && want_tid && ret != want_tid)
		return -17; /* EEXIST: the kernel gave another TID */
	return ret < 0 ? ret : 0;
}

static long set_rlimits(struct restorer_args *a)
{
	long ret;
	int i;

	for (i = 0; i < 16; i++) {
		/* creds_check_rlimits() made sure we may: a refusal is an error, not a skip */
		ret = sys4(NR_prlimit64, 0, i, &a->rlimits[i], 0);
		if (ret < 0) {
			a->fail_detail = (uint64_t)i;
			return ret;
		}
	}
	return 0;
}

/* The kernel's struct sigevent: 64 bytes, the thread id first in its union. */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

/*
 * The program's POSIX timers, disarmed, each with its id.  With
 * PR_TIMER_CREATE_RESTORE_IDS on (Linux 6.15) timer_create takes the id it
 * is given; before that ids come in sequence from 0 in a new process, so the
 * timers below each id are created and deleted again (ids are ascending).
 */
static long create_timers(struct restorer_args *a)
{
	int has_ids = a->nr_timers && sys2(NR_prctl, PR_TIMER_CREATE_RESTORE_IDS, 1) == 0;
	uint32_t i;
	long ret = 0;

	for (i = 0; i < a->nr_timers && ret == 0; i++) {
		const struct restorer_timer *t = &a->timers[i];
		struct ksigevent ev = { t->sigval, t->signo, t->notify, t->tid, { 0 } };
		int32_t id = t->id;

		a->fail_detail = (uint64_t)t->id;
		if (has_ids) {
			ret = sys3(NR_timer_create, t->clockid, &ev, &id);
			continue;
		}
		for (;;) {
			ret = sys3(NR_timer_create, t->clockid, &ev, &id);
			if (ret < 0 || id == t->id)
				break;
			sys1(NR_timer_delete, id);
			if (id > t->id || t->id - id > (1 << 20)) {
				ret = -17; /* EEXIST: that id cannot be had */
				break;
			}
		}
	}
	if (has_ids)
		sys2(NR_prctl, PR_TIMER_CREATE_RESTORE_IDS, 0);
	return ret;
}

#define STEP(step, call)                                                                           \
	do {                                                                                       \
		long __r = (call);                                                                 \
		if (__r < 0)                                                                       \
			trap_at(step, __r, a->fail_detail);                                        \
	} while (0)

__attribute__((section(".text.entry"), noreturn, used)) void
restorer_entry(struct restorer_args *a)
{
	uint32_t i;

	if (a->magic != RESTORER_ARGS_MAGIC)
		trap(RESTORER_ERR_ARGS, -22);
	a->t_entry = now_ns();
	STEP(RESTORER_ERR_UNMAP, unmap_helper(a));
	a->t_unmapped = now_ns();
	STEP(RESTORER_ERR_VDSO, move_vdso(a));
	STEP(RESTORER_ERR_MMAP, map_vmas(a));
	if (a->uffd >= 0)
		STEP(RESTORER_ERR_UFFD, register_lazy(a));
	a->t_mapped = now_ns();
	if (a->fill_fd >= 0)
		STEP(RESTORER_ERR_READ, tell_thaw_mapped(a));
	/* the threads exist early so that they fill memory side by side */
	for (i = 1; i < a->nr_threads; i++) {
		a->fail_detail = (uint64_t)a->threads[i].tid;
		STEP(RESTORER_ERR_CLONE,
		     spawn(a, i, a->threads[i].tid, a->threads[i].stack_top));
	}
	for (i = 0; i < a->nr_fillers && i < RESTORER_MAX_FILLERS; i++)
		STEP(RESTORER_ERR_CLONE,
		     spawn(a, a->nr_threads + i, 0, a->filler_stack_top[i]));
	fill_share(a, 0);
	for (;;) {
		int32_t seen = a->filled;

		if (seen == (int32_t)(a->nr_threads + a->nr_fillers))
			break;
		futex_wait(&a->filled, seen);
	}
	a->t_filled = now_ns();
	if (a->fill_error == -RESTORER_ERR_CRC)
		trap_at(RESTORER_ERR_CRC, -74, a->fill_error_at);
	if (a->fill_error < 0)
		trap_at(RESTORER_ERR_READ, a->fill_error, a->fill_error_at);
	if (a->fill_fd >= 0) {
		STEP(RESTORER_ERR_READ, pages_from_thaw(a));
		a->t_filled = now_ns();
	}
	STEP(RESTORER_ERR_MPROTECT, finish_vmas(a));
	STEP(RESTORER_ERR_GUARD, install_guards(a));
	STEP(RESTORER_ERR_MM_MAP, sys5(NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &a->mm, sizeof(a->mm), 0));
	/* MDWE refuses what mapping did (writable, then executable): only now */
	if (a->mdwe)
		STEP(RESTORER_ERR_MDWE, sys2(NR_prctl, PR_SET_MDWE, a->mdwe));
	for (i = 0; i < a->nr_close; i++)
		sys1(NR_close, a->close_fds[i]);
	a->released = 1;
	futex_wake(&a->released);
	for (i = 0; i < a->nr_shared_pending; i++) {
		const int32_t *si = (const int32_t *)a->shared_pending[i].bytes;

		if (restorer_queues_late(si[0]))
			continue;
		STEP(RESTORER_ERR_SIGNALS,
		     sys3(NR_rt_sigqueueinfo, a->pid, si[0], a->shared_pending[i].bytes));
	}
	/* the threads a SIGEV_THREAD_ID timer signals exist by now */
	STEP(RESTORER_ERR_TIMERS, create_timers(a));
	STEP(RESTORER_ERR_RLIMITS, set_rlimits(a));
	STEP(RESTORER_ERR_THREAD, setup_thread(a, &a->threads[0]));
	apply_creds(a, &a->threads[0], 1);
	{
		uint64_t option = 0;
		long r = setup_thread_attrs(&a->threads[0], &option);

		if (r < 0)
			trap_at(RESTORER_ERR_ATTRS, r, option);
	}
	a->t_finished = now_ns();
	trap(RESTORER_OK, 0);
}
