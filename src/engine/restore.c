/*
 * restore.c - engine_restore(): a snapshot becomes a running process again.
 *
 * Three processes take part:
 *   thaw restore   reads and validates the snapshot, then clone3s
 *   init           PID 1 of a fresh PID (and mount) namespace; it clone3s
 *   helper         with set_tid = the snapshot's PID, and traces it.
 * The helper runs ordinary C first: session and group, fds at their
 * numbers, cwd, umask, sigactions, and the files the memory map needs.
 * Then it copies the restorer blob (restorer/restorer.c) into a region no
 * snapshot mapping uses, and jumps into it; the blob replaces the address
 * space, creates the threads with their TIDs, gives each its personality
 * and credentials (up to then everything runs with thaw's privileges) and
 * stops each on int3.  init then unmaps the blob region through the
 * leader, sets every thread's registers, xsave state and signal mask, and
 * reports; thaw restore does the CUDA restore, writes the pidfile and sends
 * the go (the commit: until then init dies with thaw restore,
 * docs/faults.md), and only then does init detach: the program runs on
 * from the instruction where it was frozen.  init stays as the namespace's
 * reaper, forwards SIGINT/SIGTERM/SIGHUP and exits with the program's
 * status.
 *
 * Nothing here writes to the snapshot: a failed restore leaves it intact.
 */
#define LOG_TAG "restore"
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/fault.h"
#include "base/lifeline.h"
#include "base/log.h"
#include "engine-internal.h"
#include "engine.h"
#include "fds.h"
#include "fd-owner.h"
#include "file-locks.h"
#include "gpu/gpu.h"
#include "lazy.h"
#include "proc.h"
#include "restorer/restorer.h"
#include "shmem.h"

extern const unsigned char restorer_blob_start[];
extern const unsigned char restorer_blob_end[];

/* The blob's size: two linker symbols around one section, compared as addresses. */
static size_t blob_size(void)
{
	return (size_t)((uintptr_t)restorer_blob_end - (uintptr_t)restorer_blob_start);
}

#define THREAD_STACK (64u << 10)
#define PAGE_ALIGN(x) (((x) + 4095) & ~(uint64_t)4095)
#define REGION_FLOOR 0x10000000ull

static const char *const step_names[] = {
	[RESTORER_OK] = "done",
	[RESTORER_ERR_ARGS] = "checking its arguments",
	[RESTORER_ERR_UNMAP] = "unmapping the helper",
	[RESTORER_ERR_VDSO] = "moving the vDSO",
	[RESTORER_ERR_MMAP] = "mapping memory",
	[RESTORER_ERR_READ] = "reading page data",
	[RESTORER_ERR_CRC] = "checking page data (crc mismatch: pages.img is corrupted)",
	[RESTORER_ERR_MPROTECT] = "setting protections and madvise flags",
	[RESTORER_ERR_GUARD] = "installing guard regions",
	[RESTORER_ERR_MM_MAP] = "PR_SET_MM_MAP (brk, arg/env, auxv, exe)",
	[RESTORER_ERR_CLONE] = "creating a thread with its TID",
	[RESTORER_ERR_THREAD] = "setting per-thread state",
	[RESTORER_ERR_SIGNALS] = "queueing pending signals",
	[RESTORER_ERR_RLIMITS] = "setting rlimits",
	[RESTORER_ERR_TIMERS] = "creating a POSIX timer with its id",
	[RESTORER_ERR_ATTRS] = "setting its timer slack, machine-check policy, TSC or CPUID mode, "
			       "memory policy or parent-death signal (the address is the prctl "
			       "option, the arch_prctl code, or 238 for set_mempolicy)",
	[RESTORER_ERR_MDWE] = "turning on memory-deny-write-execute (PR_SET_MDWE)",
	[RESTORER_ERR_PERSONALITY] = "setting the personality",
	[RESTORER_ERR_SECUREBITS] = "setting securebits",
	[RESTORER_ERR_CAPS] = "setting the capability sets",
	[RESTORER_ERR_BOUNDING] = "dropping capabilities from the bounding set",
	[RESTORER_ERR_GROUPS] = "setting the supplementary groups",
	[RESTORER_ERR_GIDS] = "setting the real, effective and saved gids",
	[RESTORER_ERR_UIDS] = "setting the real, effective and saved uids",
	[RESTORER_ERR_FSIDS] = "setting the filesystem uid and gid",
	[RESTORER_ERR_AMBIENT] = "raising the ambient capabilities",
	[RESTORER_ERR_DUMPABLE] = "setting the dumpable flag",
	[RESTORER_ERR_NNP] = "setting no_new_privs",
	[RESTORER_ERR_SECCOMP] = "installing its seccomp filters",
};

int restore_validate(const struct image *img, bool in_root)
{
	struct image_host here;
	char why[512];
	int ret;

	if (!img->nr_threads || img->threads[0].tid != img->proc.pid) {
		log_error("snapshot %s: the first thread is not the process leader", img->path);
		return -EINVAL;
	}
	if (img->proc.pid == 1) {
		log_error("snapshot %s: the process was PID 1 of its namespace; thaw's init needs "
			  "that PID",
			  img->path);
		return -ENOTSUP;
	}
	host_fingerprint(&here);
	ret = host_compare(&img->host, &here, why, sizeof(why));
	if (ret < 0) {
		log_error("snapshot %s cannot run here: %s", img->path, why);
		return ret;
	}
	ret = gpu_compare(img, why, sizeof(why));
	if (ret < 0) {
		log_error("snapshot %s cannot run here: %s", img->path, why);
		return ret;
	}
	ret = creds_check_rlimits(img);
	if (ret == 0)
		ret = creds_check_restore(img);
	if (ret < 0)
		return ret;
	if (img->root.container && !in_root) {
		log_error("snapshot %s: pid %d ran in a container root (thaw run --root or --image): "
			  "only thaw run, which sets that root up again, can restore it",
			  img->path, img->proc.pid);
		return -ENOTSUP;
	}
	return in_root ? 0 : files_validate(img);
}

/* ---------------------------------------------------------------- helper */

struct region {
	uint64_t start, len, used;
};

static void *region_alloc(struct region *r, uint64_t len)
{
	uint64_t at = (r->used + 63) & ~(uint64_t)63;

	r->used = at + len;
	return (void *)(r->start + at);
}

struct interval {
	uint64_t start, end;
};

static int cmp_interval(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* A gap of len bytes outside the mappings of the nr images and our own. */
static uint64_t find_gap(struct image *const *imgs, uint32_t nr, const struct proc_map *maps,
			 size_t n, uint64_t len)
{
	size_t total = n, i, k = 0;
	struct interval *iv;
	uint64_t at = REGION_FLOOR, found = 0;
	uint32_t j;

	for (j = 0; j < nr; j++)
		total += imgs[j]->nr_vmas;
	iv = malloc((total + 1) * sizeof(*iv));
	if (!iv)
		return 0;
	for (j = 0; j < nr; j++)
		for (i = 0; i < imgs[j]->nr_vmas; i++)
			iv[k++] = (struct interval){ imgs[j]->vmas[i].start, imgs[j]->vmas[i].end };
	for (i = 0; i < n; i++)
		iv[k++] = (struct interval){ maps[i].start, maps[i].end };
	qsort(iv, k, sizeof(*iv), cmp_interval);
	for (i = 0; i < k; i++) {
		/* a page of air on both sides keeps growsdown stacks clear */
		if (iv[i].start > at + len + 2 * 4096) {
			found = at + 4096;
			break;
		}
		if (iv[i].end > at)
			at = iv[i].end;
	}
	if (!found && at + len + 2 * 4096 < 0x7f0000000000ull)
		found = at + 4096;
	free(iv);
	return found;
}

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08 /* Linux 6.11; glibc 2.36's headers predate it */
#endif

/* Opens file idx of the snapshot for mapping (not a deleted one: see helper.deleted). */
static int open_mapped_file(const struct image *img, int32_t idx, int flags, int min_fd)
{
	const struct image_file *f = &img->files[idx];
	int fd, moved;

	fd = open(f->path, flags | O_CLOEXEC);
	if (fd < 0)
		return log_errno("opening %s to map it", f->path);
	moved = fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
	close(fd);
	if (moved < 0)
		return log_errno("moving the fd of %s", f->path);
	return moved;
}

struct helper {
	const struct image *img;
	const uint64_t *stage; /* per VMA: where staging.c-style it was made before the fork, or 0 */
	int min_fd;
	int *shmem_fds;
	int *file_ro, *file_rw;
	int *deleted; /* per file: the one copy of a deleted file, for fds and mappings; or -1 */
	int region_fd;
	int log_fd;
	int fill_fd; /* thaw writes the data runs: engine_page_source */
	int uffd; /* a lazy restore: the blob registers lazy VMAs with it (lazy.c) */
	int nr_close;
	int32_t close_fds[IMAGE_MAX_FILES * 2 + IMAGE_MAX_SHMEMS + 8]; /* files ro+rw, shmems, our own */
};

static int vma_fd(struct helper *h, const struct image_vma *v)
{
	int *slot, flags;

	if (v->kind == IMAGE_VMA_SHMEM || (v->kind == IMAGE_VMA_FILE_PRIVATE && v->shmem >= 0))
		return h->shmem_fds[v->shmem];
	if (v->kind != IMAGE_VMA_FILE_PRIVATE && v->kind != IMAGE_VMA_FILE_SHARED)
		return -1;
	if (h->deleted[v->file] >= 0)
		return h->deleted[v->file];
	/*
	 * A shared mapping of a file opened for writing may be made writable
	 * later (mprotect) even while it is read-only now: the kernel allows that
	 * only when the file behind it is open for writing too (VM_MAYWRITE).
	 */
	if (v->kind == IMAGE_VMA_FILE_SHARED &&
	    ((v->prot & PROT_WRITE) || (v->flags & IMAGE_VMA_MAYWRITE))) {
		slot = &h->file_rw[v->file];
		flags = O_RDWR;
	} else {
		slot = &h->file_ro[v->file];
		flags = O_RDONLY;
	}
	if (*slot < 0) {
		*slot = open_mapped_file(h->img, v->file, flags, h->min_fd);
		if (*slot >= 0)
			h->close_fds[h->nr_close++] = *slot;
	}
	return *slot;
}

static uint32_t map_flags(const struct image_vma *v)
{
	uint32_t f;

	if (v->kind == IMAGE_VMA_ANON && (v->flags & IMAGE_VMA_DROPPABLE))
		f = MAP_DROPPABLE | MAP_ANONYMOUS;
	else if (v->kind == IMAGE_VMA_ANON)
		f = MAP_PRIVATE | MAP_ANONYMOUS;
	else if (v->kind == IMAGE_VMA_FILE_PRIVATE)
		f = MAP_PRIVATE;
	else
		f = MAP_SHARED;
	if (v->flags & IMAGE_VMA_GROWSDOWN)
		f |= MAP_GROWSDOWN;
	if (v->flags & IMAGE_VMA_NORESERVE)
		f |= MAP_NORESERVE;
	return f;
}

static int fill_vmas(struct helper *h, struct restorer_args *a, struct region *r)
{
	const struct image *img = h->img;
	uint64_t run = 0;
	uint32_t i;

	a->vmas = region_alloc(r, (uint64_t)img->nr_vmas * sizeof(*a->vmas));
	for (i = 0; i < img->nr_vmas; i++) {
		const struct image_vma *v = &img->vmas[i];
		struct restorer_vma *rv;
		int fd;

		if (v->kind >= IMAGE_VMA_VDSO)
			continue;
		if (v->kind == IMAGE_VMA_SHMEM && img->shmems[v->shmem].is_sysv) {
			rv = &a->vmas[a->nr_vmas++];
			*rv = (struct restorer_vma){ .start = v->start, .end = v->end,
						     .pgoff = v->pgoff, .fd = -1, .prot = v->prot,
						     .madv = v->madv,
						     .shmid = img->shmems[v->shmem].sysv_id };
			continue;
		}
		fd = vma_fd(h, v);
		if (fd < 0 && v->kind != IMAGE_VMA_ANON)
			return fd;
		rv = &a->vmas[a->nr_vmas++];
		rv->start = v->start;
		rv->end = v->end;
		rv->pgoff = v->kind == IMAGE_VMA_ANON ? 0 : v->pgoff;
		rv->fd = fd;
		rv->prot = v->prot;
		rv->map_flags = map_flags(v);
		rv->madv = v->madv;
		rv->is_locked = !(v->flags & IMAGE_VMA_LOCKED)	   ? 0 :
				(v->flags & IMAGE_VMA_LOCKONFAULT) ? RESTORER_LOCK_ONFAULT :
								     1;
		rv->shmid = -1;
		while (run < img->nr_runs && img->runs[run].vaddr < v->start)
			run++;
		rv->needs_write = run < img->nr_runs && img->runs[run].vaddr < v->end;
		rv->lazy = h->uffd >= 0 && rv->needs_write && lazy_vma_eligible(img, v);
		rv->stage = h->stage ? h->stage[i] : 0;
	}
	return 0;
}

static int fill_moves(struct restorer_args *a, struct region *r, const struct image *img,
		      const struct proc_map *maps, size_t n)
{
	static const char *const names[] = { "[vdso]", "[vvar]", "[vvar_vclock]" };
	static const uint32_t kinds[] = { IMAGE_VMA_VDSO, IMAGE_VMA_VVAR, IMAGE_VMA_VVAR_VCLOCK };
	uint64_t park = 0;
	uint32_t i, k;

	a->moves = region_alloc(r, 3 * sizeof(*a->moves));
	for (k = 0; k < 3; k++) {
		const struct proc_map *m = proc_maps_find(maps, n, names[k]);

		for (i = 0; i < img->nr_vmas; i++)
			if (img->vmas[i].kind == kinds[k])
				break;
		if (!m && i == img->nr_vmas)
			continue;
		if (!m || i == img->nr_vmas || m->end - m->start != img->vmas[i].end - img->vmas[i].start) {
			log_error("the %s mapping differs between this kernel and the snapshot",
				  names[k]);
			return -ENOTSUP;
		}
		a->moves[a->nr_moves++] = (struct restorer_move){ m->start, img->vmas[i].start,
								   m->end - m->start };
		park += m->end - m->start;
	}
	a->park = (uint64_t)region_alloc(r, park + 4096);
	a->park = PAGE_ALIGN(a->park);
	r->used = PAGE_ALIGN(r->used);
	return 0;
}

static int fill_threads(struct restorer_args *a, struct region *r, const struct image *img)
{
	uint32_t i;
	int ret;

	a->nr_threads = img->nr_threads;
	a->threads = region_alloc(r, img->nr_threads * sizeof(*a->threads));
	for (i = 0; i < img->nr_threads; i++) {
		const struct image_thread *t = &img->threads[i];
		struct restorer_thread *rt = &a->threads[i];
		void *pending = NULL;

		rt->tid = t->tid;
		rt->clear_child_tid = t->clear_child_tid;
		rt->robust_list = t->robust_list;
		rt->robust_list_len = t->robust_list_len;
		rt->rseq_abi = t->rseq_abi;
		rt->rseq_len = t->rseq_len;
		rt->rseq_sig = t->rseq_sig;
		rt->rseq_flags = t->rseq_flags;
		rt->altstack_sp = t->altstack_sp;
		rt->altstack_size = t->altstack_size;
		rt->altstack_flags = t->altstack_flags;
		memcpy(rt->comm, t->comm, sizeof(rt->comm));
		rt->comm[15] = 0;
		attrs_fill_thread(rt, &t->attrs);
		creds_fill(&rt->creds, &t->creds,
			   region_alloc(r, (t->creds.nr_groups + t->creds.nr_seccomp) * 4ull));
		if (t->pending.len) {
			ret = image_read_blob(img, &t->pending, &pending);
			if (ret < 0)
				return ret;
			rt->nr_pending = (uint32_t)(t->pending.len / sizeof(struct restorer_siginfo));
			rt->pending = region_alloc(r, t->pending.len);
			memcpy(rt->pending, pending, rt->nr_pending * sizeof(struct restorer_siginfo));
			free(pending);
		}
	}
	return 0;
}

/* The process's seccomp filters, each once, for the threads' lists of them. */
static int fill_filters(struct restorer_args *a, struct region *r, const struct image *img)
{
	uint32_t i;
	int ret;

	a->nr_filters = img->nr_seccomp_filters;
	a->filters = region_alloc(r, (uint64_t)img->nr_seccomp_filters * sizeof(*a->filters));
	for (i = 0; i < img->nr_seccomp_filters; i++) {
		const struct image_seccomp_filter *f = &img->seccomp_filters[i];
		void *data = NULL;

		ret = image_read_blob(img, &f->prog, &data);
		if (ret < 0)
			return ret;
		a->filters[i] = (struct restorer_filter){
			.len = (uint16_t)(f->prog.len / 8),
			.insns = region_alloc(r, f->prog.len),
			.flags = f->log ? SECCOMP_FILTER_FLAG_LOG : 0,
		};
		memcpy(a->filters[i].insns, data, f->prog.len);
		free(data);
	}
	a->seccomp_shared = creds_filters_shared(img);
	return 0;
}

static int fill_process(struct restorer_args *a, struct region *r, struct helper *h)
{
	const struct image *img = h->img;
	const struct image_proc *p = &img->proc;
	void *data = NULL;
	int i, ret;

	a->mdwe = img->attrs.mdwe;
	if (p->pending_shared.len) {
		ret = image_read_blob(img, &p->pending_shared, &data);
		if (ret < 0)
			return ret;
		a->nr_shared_pending = (uint32_t)(p->pending_shared.len / sizeof(struct restorer_siginfo));
		a->shared_pending = region_alloc(r, p->pending_shared.len);
		memcpy(a->shared_pending, data, a->nr_shared_pending * sizeof(struct restorer_siginfo));
		free(data);
	}
	a->mm = (struct restorer_mm_map){
		.start_code = p->mm.start_code,
		.end_code = p->mm.end_code,
		.start_data = p->mm.start_data,
		.end_data = p->mm.end_data,
		.start_brk = p->mm.start_brk,
		.brk = p->mm.brk,
		.start_stack = p->mm.start_stack,
		.arg_start = p->mm.arg_start,
		.arg_end = p->mm.arg_end,
		.env_start = p->mm.env_start,
		.env_end = p->mm.env_end,
		.exe_fd = (uint32_t)-1,
	};
	ret = image_read_blob(img, &p->auxv, &data);
	if (ret < 0)
		return ret;
	a->mm.auxv = region_alloc(r, p->auxv.len);
	a->mm.auxv_size = (uint32_t)p->auxv.len;
	memcpy(a->mm.auxv, data, p->auxv.len);
	free(data);
	if (p->exe >= 0) {
		ret = open_mapped_file(img, p->exe, O_RDONLY, h->min_fd);
		if (ret < 0)
			return ret;
		a->mm.exe_fd = (uint32_t)ret;
		h->close_fds[h->nr_close++] = ret;
	}
	for (i = 0; i < 16; i++) {
		a->rlimits[i].cur = p->rlimits[i].cur;
		a->rlimits[i].max = p->rlimits[i].max;
	}
	a->nr_timers = img->nr_posix_timers;
	a->timers = region_alloc(r, (uint64_t)img->nr_posix_timers * sizeof(*a->timers));
	for (i = 0; i < (int)img->nr_posix_timers; i++) {
		static const int32_t notify[IMAGE_TIMER_NOTIFY_COUNT] = {
			[IMAGE_TIMER_SIGNAL] = SIGEV_SIGNAL, [IMAGE_TIMER_NONE] = SIGEV_NONE,
			[IMAGE_TIMER_THREAD] = SIGEV_THREAD,
			[IMAGE_TIMER_THREAD_ID] = SIGEV_SIGNAL | SIGEV_THREAD_ID,
		};
		const struct image_posix_timer *t = &img->posix_timers[i];

		a->timers[i] = (struct restorer_timer){ .id = t->id, .clockid = t->clockid,
							.notify = notify[t->notify],
							.signo = t->signo, .tid = t->tid,
							.sigval = t->sigval };
	}
	a->personality = p->personality;
	a->dumpable = img->creds.dumpable;
	ret = creds_last_cap(&a->cap_last_cap);
	if (ret < 0)
		return ret;
	return fill_filters(a, r, img);
}

static uint64_t region_size(const struct image *img)
{
	uint64_t size = PAGE_ALIGN((uint64_t)blob_size());
	uint32_t i;

	size += sizeof(struct restorer_args) + 4096;
	size += (uint64_t)img->nr_vmas * sizeof(struct restorer_vma) + 64;
	size += img->nr_runs * sizeof(struct restorer_run) + 64;
	size += (uint64_t)img->nr_guards * sizeof(struct restorer_range) + 64;
	size += 512 * sizeof(struct restorer_range); /* our own mappings, to unmap */
	size += img->proc.auxv.len + img->proc.pending_shared.len + 256;
	size += (uint64_t)img->nr_posix_timers * sizeof(struct restorer_timer) + 64;
	size += (uint64_t)img->nr_threads * (sizeof(struct restorer_thread) + 64);
	for (i = 0; i < img->nr_threads; i++)
		size += img->threads[i].pending.len + 64 +
			(img->threads[i].creds.nr_groups + img->threads[i].creds.nr_seccomp) * 4ull +
			64;
	size += (uint64_t)img->nr_seccomp_filters * (sizeof(struct restorer_filter) + 64) + 64;
	for (i = 0; i < img->nr_seccomp_filters; i++)
		size += img->seccomp_filters[i].prog.len;
	size += (IMAGE_MAX_FILES * 2 + IMAGE_MAX_SHMEMS + 8) * sizeof(int32_t);
	size += 4 * 1024 * 1024; /* park area for the vDSO family, with room */
	size += (uint64_t)(img->nr_threads + 1 + RESTORER_MAX_FILLERS) * THREAD_STACK;
	return PAGE_ALIGN(size);
}

/*
 * Fillers: with fewer program threads than CPUs we may use, extra threads
 * fill pages beside them (and are gone before the program runs).  Below a
 * few MiB the thread is not worth its creation.
 */
static uint32_t nr_fillers(const struct image *img)
{
	uint64_t bytes = 0, i;
	cpu_set_t set;
	int cpus = 1;

	for (i = 0; i < img->nr_runs; i++)
		bytes += (uint64_t)img->runs[i].npages * IMAGE_PAGE_SIZE;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cpus = CPU_COUNT(&set);
	if (bytes < (8u << 20) || (int)img->nr_threads >= cpus)
		return 0;
	return (uint32_t)(cpus - (int)img->nr_threads) > RESTORER_MAX_FILLERS
		       ? RESTORER_MAX_FILLERS
		       : (uint32_t)(cpus - (int)img->nr_threads);
}

static __attribute__((noreturn)) void jump(struct restorer_args *a, uint64_t entry, uint64_t stack)
{
	/*
	 * glibc registered rseq for this thread at a TLS address about to
	 * vanish.  It registers 32 bytes while __rseq_size says 20 (the
	 * features it uses), and unregistering needs the registered length.
	 */
	if (__rseq_size &&
	    syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset, 32,
		    RSEQ_FLAG_UNREGISTER, RSEQ_SIG) < 0)
		syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset, __rseq_size,
			RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
	/* enter as if called: the ABI wants rsp 8 below a 16-byte boundary */
	asm volatile("mov %0, %%rsp\n\t"
		     "xor %%ebp, %%ebp\n\t"
		     "jmp *%2\n\t" ::"r"(stack - 8),
		     "D"(a), "r"(entry)
		     : "memory");
	__builtin_unreachable();
}

/*
 * Runs inside lazy VMAs are the page server's, those inside staged ones are
 * in already (both lists are in address order).
 */
static void mark_runs(struct restorer_args *a)
{
	uint32_t v = 0;
	uint64_t i;

	for (i = 0; i < a->nr_runs; i++) {
		while (v < a->nr_vmas && a->vmas[v].end <= a->runs[i].vaddr)
			v++;
		if (v >= a->nr_vmas || a->vmas[v].start > a->runs[i].vaddr)
			continue;
		if (a->vmas[v].lazy)
			a->runs[i].flags |= RESTORER_RUN_LAZY;
		if (a->vmas[v].stage)
			a->runs[i].flags |= RESTORER_RUN_STAGED;
	}
}

/* Map entry m is one of the VMAs this process staged (the blob moves it home). */
static bool is_staged(const struct helper *h, const struct proc_map *m)
{
	uint32_t i;

	for (i = 0; h->stage && i < h->img->nr_vmas; i++)
		if (h->stage[i] == m->start &&
		    m->end - m->start == h->img->vmas[i].end - h->img->vmas[i].start)
			return true;
	return false;
}

static int build_and_jump(struct helper *h)
{
	const struct image *img = h->img;
	struct proc_map *maps = NULL;
	struct restorer_args *a;
	struct region r = { 0 };
	size_t n = 0, i;
	uint64_t blob_len = (uint64_t)blob_size(), stack;
	void *mem;
	int ret;

	r.len = region_size(img);
	ret = proc_read_maps(getpid(), &maps, &n);
	if (ret < 0)
		return ret;
	r.start = find_gap((struct image *const *)&h->img, 1, maps, n, r.len);
	if (!r.start) {
		log_error("no free address range of %llu bytes for the restorer",
			  (unsigned long long)r.len);
		ret = -ENOMEM;
		goto out;
	}
	mem = mmap((void *)r.start, r.len, PROT_READ | PROT_WRITE | PROT_EXEC,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (mem == MAP_FAILED) {
		ret = log_errno("mapping the restorer region at 0x%llx", (unsigned long long)r.start);
		goto out;
	}
	memcpy(mem, restorer_blob_start, blob_len);
	r.used = PAGE_ALIGN(blob_len);
	a = region_alloc(&r, sizeof(*a));
	a->magic = RESTORER_ARGS_MAGIC;
	a->pid = img->proc.pid;
	a->pages_fd = img->pages_fd;
	a->fill_fd = h->fill_fd;
	a->uffd = h->uffd;

	ret = fill_moves(a, &r, img, maps, n);
	if (ret == 0)
		ret = fill_vmas(h, a, &r);
	if (ret == 0)
		ret = fill_threads(a, &r, img);
	if (ret == 0)
		ret = fill_process(a, &r, h);
	if (ret < 0)
		goto out;
	a->nr_runs = img->nr_runs;
	/* thaw fills, or the page server does */
	a->nr_fillers = h->fill_fd >= 0 || h->uffd >= 0 ? 0 : nr_fillers(img);
	a->runs = region_alloc(&r, img->nr_runs * sizeof(*a->runs));
	for (i = 0; i < img->nr_runs; i++)
		a->runs[i] = (struct restorer_run){ img->runs[i].vaddr, img->runs[i].off,
						    img->runs[i].npages, img->runs[i].flags,
						    img->runs[i].crc, 0 };
	if (h->uffd >= 0 || h->stage)
		mark_runs(a);
	a->nr_guards = img->nr_guards;
	a->guards = region_alloc(&r, (uint64_t)img->nr_guards * sizeof(*a->guards));
	for (i = 0; i < img->nr_guards; i++)
		a->guards[i] = (struct restorer_range){ img->guards[i].start,
							img->guards[i].end - img->guards[i].start };
	a->close_fds = region_alloc(&r, (uint64_t)(h->nr_close + 2) * sizeof(int32_t));
	memcpy(a->close_fds, h->close_fds, (size_t)h->nr_close * sizeof(int32_t));
	a->close_fds[h->nr_close] = img->pages_fd;
	a->nr_close = (uint32_t)h->nr_close + 1;
	if (h->fill_fd >= 0)
		a->close_fds[a->nr_close++] = h->fill_fd;
	a->unmap = region_alloc(&r, n * sizeof(*a->unmap));
	for (i = 0; i < n; i++) {
		const char *name = maps[i].name;

		if (!strcmp(name, "[vdso]") || !strcmp(name, "[vvar]") ||
		    !strcmp(name, "[vvar_vclock]") || !strcmp(name, "[vsyscall]") ||
		    is_staged(h, &maps[i]))
			continue;
		a->unmap[a->nr_unmap++] = (struct restorer_range){ maps[i].start,
								   maps[i].end - maps[i].start };
	}
	r.used = PAGE_ALIGN(r.used);
	for (i = 0; i < img->nr_threads; i++) {
		r.used += THREAD_STACK;
		a->threads[i].stack_top = r.start + r.used - 64;
	}
	for (i = 0; i < a->nr_fillers; i++) {
		r.used += THREAD_STACK;
		a->filler_stack_top[i] = r.start + r.used - 64;
	}
	r.used += THREAD_STACK;
	stack = r.start + r.used - 64;
	if (r.used > r.len) {
		log_error("restorer region overflow (%llu > %llu bytes)",
			  (unsigned long long)r.used, (unsigned long long)r.len);
		ret = -EOVERFLOW;
		goto out;
	}
	/*
	 * The root directory last: every path of the snapshot (fds, mapped
	 * files) is one of thaw's root, and the blob opens nothing.  The
	 * working directory, entered before, stays what it was.
	 */
	if (img->root.path && chroot(img->root.path) < 0) {
		ret = log_errno("changing the root directory to %s", img->root.path);
		goto out;
	}
	/* tell init where the region is, for the final unmap */
	{
		uint64_t where[5] = { (uint64_t)getpid(), r.start, r.len, a->nr_fillers,
				      (uint64_t)a };

		if (write(h->region_fd, where, sizeof(where)) != sizeof(where)) {
			ret = log_errno("reporting the restorer region");
			goto out;
		}
	}
	proc_maps_free(maps, n);
	jump(a, r.start, stack);
out:
	proc_maps_free(maps, n);
	return ret;
}

static int set_sigactions(const struct image *img)
{
	int sig;

	for (sig = 1; sig <= IMAGE_NR_SIGNALS; sig++) {
		const struct image_sigaction *s = &img->proc.sigactions[sig - 1];
		uint64_t act[4] = { s->handler, s->flags, s->restorer, s->mask };

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		/* raw: glibc's wrapper would put its own sa_restorer in */
		if (syscall(SYS_rt_sigaction, sig, act, NULL, 8) < 0)
			return log_errno("setting the action of signal %d", sig);
	}
	return 0;
}

/*
 * The snapshot being restored: one image per live process of the tree, the
 * root's first, in the root's children order (parents before children).
 */
struct tree {
	uint32_t nr;
	struct image **imgs;
	int min_fd; /* the helpers' own fds go at or above it, in every process */
	int log_fd, region_fd; /* set by the root's helper, inherited */
	/* with an engine_page_source: a socket pair per process, thaw's end and the restorer's */
	int *fill_socks, *fill_fds;
	/*
	 * A lazy restore (lazy.c): per process, thaw's end and the helper's of a
	 * socket pair that carries its userfaultfd; lazy_hold, a socket pair whose
	 * end [0] init keeps with the fds thaw sent into it unread (while it is
	 * open they stay open); lazy_done, the server's word to init that every
	 * page is in; lazy_go, thaw's word to the server that the program runs.
	 */
	bool lazy;
	int *lazy_socks, *lazy_fds;
	int lazy_hold[2], lazy_done[2], lazy_go[2];
	struct fd_shared shared; /* what several processes hold, made by the root's helper */
	bool verify; /* compare the tree with the snapshot before it runs (verify.c) */
	/*
	 * Staging (stage_plan): per image, per VMA, where the helper makes it
	 * before forking its children (0: the blob maps it as usual), and the
	 * parent's VMA it inherits its IMAGE_RUN_INHERITED pages from (-1: none).
	 * NULL when nothing is shared.
	 */
	uint64_t **stage;
	int32_t **inherit;
	int (*enter_root)(void *arg); /* engine_restore_opts.enter_root, run by init */
	void *enter_root_arg;
};

/* Closes the fds of an array that may be NULL, and marks them closed. */
static void close_each(int *fds, uint32_t n)
{
	uint32_t k;

	for (k = 0; fds && k < n; k++) {
		if (fds[k] >= 0)
			close(fds[k]);
		fds[k] = -1;
	}
}

static bool in_tree(const struct tree *tr, pid_t pid)
{
	uint32_t i;

	for (i = 0; i < tr->nr; i++)
		if (tr->imgs[i]->proc.pid == pid)
			return true;
	return false;
}

static pid_t clone3_pid(uint64_t flags, pid_t want);

/* A live process or a zombie of the snapshot. */
static bool in_snapshot(const struct tree *tr, pid_t pid)
{
	const struct image *root = tr->imgs[0];
	uint32_t i;

	if (root->proc.pid == pid)
		return true;
	for (i = 0; i < root->nr_children; i++)
		if (root->children[i].pid == pid)
			return true;
	return false;
}

/*
 * A process group led by a process outside the snapshot, other than the
 * root's own: the restore makes it again, with its id, in the restore's PID
 * namespace (join_outside_group).  The root's group, when an outside process
 * leads it, is thaw restore's (docs/compatibility.md says why).
 */
static bool is_outside_group(const struct tree *tr, pid_t pgid)
{
	return pgid > 0 && !in_snapshot(tr, pgid) && pgid != tr->imgs[0]->proc.pgid;
}

/* The pid of a stand-in join_outside_group forks: an outside group some process is in. */
static bool is_standin(const struct tree *tr, pid_t pid)
{
	const struct image *root = tr->imgs[0];
	bool is_pgid = root->proc.pgid == pid;
	uint32_t i;

	for (i = 0; !is_pgid && i < root->nr_children; i++)
		is_pgid = root->children[i].pgid == pid;
	return is_pgid && is_outside_group(tr, pid);
}

/*
 * Makes process group pgid, led outside the snapshot, exist again and joins
 * it.  A group id is the pid of the process that made it: a stand-in forked
 * with that pid makes the group and exits; its zombie keeps the group until
 * this process has joined, then is reaped, and its SIGCHLD is taken back.
 * The group then lives on without its leader, as a group whose leader is
 * outside the restore's namespace does.  Another process of the snapshot in
 * the same group finds it made (setpgid succeeds) or the pid taken (EEXIST)
 * and joins it.
 */
static int join_outside_group(pid_t pid, pid_t pgid)
{
	struct timespec zero = { 0, 0 };
	int tries, err = -EPERM;
	sigset_t chld;
	siginfo_t si;
	pid_t standin;

	for (tries = 0; tries < 3; tries++) {
		if (setpgid(0, pgid) == 0)
			return 0;
		if (errno != EPERM && errno != ESRCH)
			return log_errno("pid %d: joining process group %d", pid, pgid);
		standin = clone3_pid(0, pgid);
		if (standin < 0 && errno == EEXIST)
			continue; /* another process of the snapshot made it meanwhile */
		if (standin < 0)
			return log_errno("pid %d: a stand-in with pid %d to make its process group",
					 pid, pgid);
		if (standin == 0)
			_exit(setpgid(0, 0) ? 1 : 0);
		memset(&si, 0, sizeof(si));
		while (waitid(P_PID, (id_t)standin, &si, WEXITED | WNOWAIT) < 0)
			if (errno != EINTR)
				return log_errno("pid %d: waiting for the stand-in of group %d", pid,
						 pgid);
		err = si.si_code == CLD_EXITED && si.si_status == 0 && setpgid(0, pgid) == 0
			      ? 0
			      : -EPERM;
		while (waitpid(standin, NULL, 0) < 0 && errno == EINTR)
			;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		while (sigtimedwait(&chld, NULL, &zero) > 0)
			;
		break;
	}
	if (err)
		log_error("pid %d: cannot make process group %d again (led outside the snapshot)",
			  pid, pgid);
	return err;
}

static int set_session(const struct tree *tr, pid_t pid, pid_t pgid, pid_t sid)
{
	if (sid == pid && setsid() < 0)
		return log_errno("pid %d: setsid", pid);
	if (sid == pid)
		return 0;
	if (pgid == pid && setpgid(0, 0) < 0)
		return log_errno("pid %d: setpgid", pid);
	/* a group led by another process of the tree, made before this one */
	if (pgid != pid && pgid > 0 && in_tree(tr, pgid) && getpgrp() != pgid &&
	    setpgid(0, pgid) < 0)
		return log_errno("pid %d: joining process group %d", pid, pgid);
	if (is_outside_group(tr, pgid) && getpgrp() != pgid)
		return join_outside_group(pid, pgid);
	/*
	 * The root's group led outside is thaw restore's, which no process in
	 * the namespace can name (it reads as 0): a process of the snapshot in
	 * it must have inherited it.
	 */
	if (pgid != pid && pgid > 0 && !in_snapshot(tr, pgid) && getpgrp() != 0) {
		log_error("pid %d: it was in the root's process group %d, led outside the "
			  "snapshot, and its parent is not: the restore cannot put it back there",
			  pid, pgid);
		return -EPERM;
	}
	return 0;
}

/* The controlling terminal of session sid, when its leader is in the snapshot and had one. */
static const struct image_ctty *session_ctty(const struct tree *tr, pid_t sid)
{
	uint32_t i;

	for (i = 0; i < tr->nr; i++)
		if (tr->imgs[i]->proc.pid == sid)
			return &tr->imgs[i]->ctty;
	return NULL;
}

static int set_process(const struct tree *tr, const struct image *img)
{
	const struct image_proc *p = &img->proc;
	int ret = set_session(tr, p->pid, p->pgid, p->sid);

	if (ret == 0 && p->sid != p->pid)
		ret = pty_set_foreground(session_ctty(tr, p->sid), p->pid);
	if (ret < 0)
		return ret;
	umask(p->umask);
	if (chdir(p->cwd) < 0)
		return log_errno("changing to the working directory %s", p->cwd);
	/*
	 * Not the personality: READ_IMPLIES_EXEC would add PROT_EXEC to the
	 * snapshot's mappings as the restorer makes them.  Each thread sets it
	 * at the end (restorer.c).
	 */
	return 0;
}

static int max_image_fd(const struct image *img)
{
	int max = 2;
	uint32_t i;

	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd > max)
			max = img->fds[i].fd;
	return max;
}

/* Moves fd to >= min_fd and returns the new number. */
static int lift_fd(int fd, int min_fd)
{
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, min_fd);

	if (moved >= 0)
		close(fd);
	return moved;
}

static bool is_image_fd(const struct image *img, int fd)
{
	return fd >= 0 && (fd == img->pages_fd || fd == img->data_fd || fd == img->dir_fd);
}

/*
 * Closes every fd at or above min_fd that is not one the helper still
 * needs: its image's (every image's while it may still fork), the log,
 * the region pipe and the tree's shared objects.
 */
static void close_strays(const struct tree *tr, uint32_t own, bool all_images)
{
	int *fds = NULL;
	size_t n = 0, i;
	uint32_t k;

	if (proc_list_fds(getpid(), &fds, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		bool is_kept = fds[i] < tr->min_fd || fds[i] == tr->region_fd ||
			       fds[i] == tr->log_fd || is_image_fd(tr->imgs[own], fds[i]) ||
			       (tr->fill_fds && fds[i] == tr->fill_fds[own]) ||
			       (tr->lazy_fds && fds[i] == tr->lazy_fds[own]);

		for (k = 0; !is_kept && k < tr->shared.nr; k++)
			is_kept = fds[i] == tr->shared.objs[k].fd;
		for (k = 0; !is_kept && all_images && k < tr->nr; k++)
			is_kept = is_image_fd(tr->imgs[k], fds[i]) ||
				  (tr->fill_fds && fds[i] == tr->fill_fds[k]) ||
				  (tr->lazy_fds && fds[i] == tr->lazy_fds[k]);
		if (!is_kept)
			close(fds[i]);
	}
	free(fds);
}

static int lift_image_fds(struct image *img, int min_fd)
{
	img->pages_fd = lift_fd(img->pages_fd, min_fd);
	img->data_fd = lift_fd(img->data_fd, min_fd);
	if (img->dir_fd >= 0)
		img->dir_fd = lift_fd(img->dir_fd, min_fd);
	return img->pages_fd < 0 || img->data_fd < 0 ? -EMFILE : 0;
}

/* A zombie of the snapshot: it only has to exit the way it did. */
/*
 * A zombie to be: it waits until every sibling exists (go is closed), so
 * that it can join a process group a later sibling leads, then exits the
 * way the dumped one had.
 */
static __attribute__((noreturn)) void zombie_main(const struct tree *tr,
						 const struct image_child *c, int go)
{
	struct rlimit no_core = { 0, 0 };
	sigset_t set;
	char byte;

	while (read(go, &byte, 1) < 0 && errno == EINTR)
		;
	if (set_session(tr, c->pid, c->pgid, c->sid) == 0 && c->sid != c->pid)
		pty_set_foreground(session_ctty(tr, c->sid), c->pid);
	if (WIFSIGNALED(c->exit_status)) {
		int sig = WTERMSIG(c->exit_status);

		setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
	}
	_exit(WEXITSTATUS(c->exit_status));
}

static __attribute__((noreturn)) void helper_main(struct tree *tr, uint32_t k, int sync_fd);

/* Once the zombies of pid have exited, the SIGCHLD they sent is taken back. */
static int wait_zombies(const struct image *root, pid_t pid)
{
	struct timespec zero = { 0, 0 };
	sigset_t chld;
	uint32_t i;

	for (i = 0; i < root->nr_children; i++) {
		const struct image_child *c = &root->children[i];
		siginfo_t si;

		if (c->ppid != pid || !c->is_zombie)
			continue;
		while (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOWAIT) < 0)
			if (errno != EINTR)
				return log_errno("pid %d: waiting for zombie %d to exit", pid, c->pid);
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (sigtimedwait(&chld, NULL, &zero) > 0)
		;
	return 0;
}

/* ------------------------------------------------------------- staging */

/*
 * Pages a child shared copy-on-write with its parent at dump (mem.c marks
 * them IMAGE_RUN_INHERITED) come back shared (research/cr-engine.md: CRIU's
 * inherited VMAs).  The parent's helper makes each such VMA of its own
 * before it forks: anonymous memory at a staging address (inside one range
 * reserved for the whole tree, free in every image and in thaw), filled from
 * pages.img.  A child inherits it with the fork, moves its part to a staging
 * address of its own (growing it when its VMA is longer), drops what it did
 * not share and writes its own pages; a grandchild inherits from it in turn.
 * Each blob moves its staged VMAs home with mremap, which keeps the sharing.
 * Only plain private anonymous memory takes part, and only in a restore
 * whose blobs read pages.img themselves (not from the store, not lazy):
 * otherwise the inherited runs are written like any other, as before.
 */
#define STAGE_ALIGN (2ull << 20) /* huge pages stay whole through the moves */

static bool stage_plain(const struct image_vma *v)
{
	return v->kind == IMAGE_VMA_ANON && !(v->flags & ~IMAGE_VMA_NORESERVE);
}

static int32_t image_of_pid(const struct tree *tr, pid_t pid)
{
	uint32_t k;

	for (k = 0; k < tr->nr; k++)
		if (tr->imgs[k]->proc.pid == pid)
			return (int32_t)k;
	return -1;
}

/* The first run at or after addr (runs are in address order). */
static uint64_t first_run(const struct image *img, uint64_t addr)
{
	uint64_t lo = 0, hi = img->nr_runs;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (img->runs[mid].vaddr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The VMA of the parent (image pk) that VMA vi of image k inherits pages
 * from, or -1: both plain, the parent's holds the child's start, and every
 * inherited run of the child lies within both.
 */
static int32_t inherit_from(const struct tree *tr, uint32_t k, uint32_t vi, int32_t pk)
{
	const struct image *img = tr->imgs[k], *pimg;
	const struct image_vma *v = &img->vmas[vi], *p = NULL;
	uint64_t r, limit;
	bool any = false;
	uint32_t i;

	if (pk < 0 || !stage_plain(v))
		return -1;
	pimg = tr->imgs[pk];
	for (i = 0; i < pimg->nr_vmas && !p; i++)
		if (pimg->vmas[i].start <= v->start && v->start < pimg->vmas[i].end)
			p = &pimg->vmas[i];
	if (!p || !stage_plain(p) || ((p->flags ^ v->flags) & IMAGE_VMA_NORESERVE))
		return -1;
	limit = p->end < v->end ? p->end : v->end;
	for (r = first_run(img, v->start); r < img->nr_runs && img->runs[r].vaddr < v->end; r++) {
		const struct image_page_run *run = &img->runs[r];

		if (!(run->flags & IMAGE_RUN_INHERITED))
			continue;
		if (run->vaddr + (uint64_t)run->npages * IMAGE_PAGE_SIZE > limit)
			return -1;
		any = true;
	}
	return any ? (int32_t)(p - pimg->vmas) : -1;
}

/*
 * Run by the root's helper before any fork: which VMAs are staged, where,
 * and the range for all of them reserved (PROT_NONE until each is made).
 */
static int stage_plan(struct tree *tr)
{
	struct proc_map *maps = NULL;
	uint64_t len = 0, base, at;
	uint32_t k, i;
	bool any = false;
	size_t n = 0;
	int ret;

	tr->stage = calloc(tr->nr, sizeof(*tr->stage));
	tr->inherit = calloc(tr->nr, sizeof(*tr->inherit));
	if (!tr->stage || !tr->inherit)
		return -ENOMEM;
	for (k = 0; k < tr->nr; k++) {
		tr->stage[k] = calloc(tr->imgs[k]->nr_vmas + 1, sizeof(**tr->stage));
		tr->inherit[k] = malloc((tr->imgs[k]->nr_vmas + 1) * sizeof(**tr->inherit));
		if (!tr->stage[k] || !tr->inherit[k])
			return -ENOMEM;
	}
	for (k = 0; k < tr->nr; k++) {
		int32_t pk = k ? image_of_pid(tr, tr->imgs[k]->proc.ppid) : -1;

		for (i = 0; i < tr->imgs[k]->nr_vmas; i++) {
			int32_t pi = inherit_from(tr, k, i, pk);

			tr->inherit[k][i] = pi;
			if (pi < 0)
				continue;
			tr->stage[k][i] = tr->stage[pk][pi] = 1; /* placed below */
			any = true;
		}
	}
	if (!any)
		goto none;
	/* each at its own offset modulo 2 MiB, a page of air after each */
	for (k = 0; k < tr->nr; k++)
		for (i = 0; i < tr->imgs[k]->nr_vmas; i++) {
			const struct image_vma *v = &tr->imgs[k]->vmas[i];

			if (!tr->stage[k][i])
				continue;
			at = ((len + STAGE_ALIGN - 1) & ~(STAGE_ALIGN - 1)) +
			     (v->start & (STAGE_ALIGN - 1));
			tr->stage[k][i] = at + 1; /* an offset for now; 0 means none */
			len = at + (v->end - v->start) + 4096;
		}
	ret = proc_read_maps(getpid(), &maps, &n);
	if (ret < 0)
		return ret;
	base = find_gap(tr->imgs, tr->nr, maps, n, len + STAGE_ALIGN);
	proc_maps_free(maps, n);
	base = (base + STAGE_ALIGN - 1) & ~(STAGE_ALIGN - 1);
	if (!base || mmap((void *)base, len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
			  0) != (void *)base) {
		log_error("no free address range of %llu bytes to stage shared memory in",
			  (unsigned long long)len);
		return -ENOMEM;
	}
	for (k = 0; k < tr->nr; k++)
		for (i = 0; i < tr->imgs[k]->nr_vmas; i++)
			if (tr->stage[k][i])
				tr->stage[k][i] += base - 1;
	log_debug("memory shared copy-on-write staged in 0x%llx-0x%llx",
		  (unsigned long long)base, (unsigned long long)(base + len));
	return 0;
none:
	for (k = 0; k < tr->nr; k++) {
		free(tr->stage[k]);
		free(tr->inherit[k]);
	}
	free(tr->stage);
	free(tr->inherit);
	tr->stage = NULL;
	tr->inherit = NULL;
	return 0;
}

/* Reads run r of img into dst, checking its crc. */
static int stage_read_run(const struct image *img, const struct image_page_run *r, void *dst)
{
	size_t len = (size_t)r->npages * IMAGE_PAGE_SIZE;
	ssize_t n;

	if (r->flags & IMAGE_RUN_ZERO) {
		memset(dst, 0, len);
		return 0;
	}
	n = pread(img->pages_fd, dst, len, (off_t)r->off);
	if (n != (ssize_t)len) {
		log_error("pid %d: reading the pages at 0x%llx from pages.img: %s", img->proc.pid,
			  (unsigned long long)r->vaddr, n < 0 ? strerror(errno) : "short read");
		return n < 0 ? -errno : -EIO;
	}
	if (crc32c_pages(0, dst, len) != r->crc) {
		log_error("pid %d: the pages at 0x%llx fail their checksum in pages.img",
			  img->proc.pid, (unsigned long long)r->vaddr);
		return -EIO;
	}
	return 0;
}

/* Makes VMA vi of image k at its staging address: inherited, or new; then its own pages. */
static int stage_vma(struct tree *tr, uint32_t k, uint32_t vi)
{
	const struct image *img = tr->imgs[k];
	const struct image_vma *v = &img->vmas[vi];
	uint64_t at = tr->stage[k][vi], len = v->end - v->start, r, from;
	int32_t pi = tr->inherit[k][vi];
	void *got;
	int ret;

	if (pi >= 0) {
		int32_t pk = image_of_pid(tr, img->proc.ppid);
		const struct image_vma *p = &tr->imgs[pk]->vmas[pi];
		uint64_t part = (p->end < v->end ? p->end : v->end) - v->start;

		got = mremap((void *)(tr->stage[pk][pi] + (v->start - p->start)), part, len,
			     MREMAP_MAYMOVE | MREMAP_FIXED, (void *)at);
	} else {
		got = mmap((void *)at, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				   ((v->flags & IMAGE_VMA_NORESERVE) ? MAP_NORESERVE : 0),
			   -1, 0);
	}
	if (got != (void *)at)
		return log_errno("pid %d: staging its memory 0x%llx-0x%llx at 0x%llx", img->proc.pid,
				 (unsigned long long)v->start, (unsigned long long)v->end,
				 (unsigned long long)at);
	/* what it did not share with its parent goes, then its own pages come */
	from = v->start;
	for (r = first_run(img, v->start); pi >= 0 && from < v->end; r++) {
		const struct image_page_run *run = r < img->nr_runs ? &img->runs[r] : NULL;
		uint64_t to = run && run->vaddr < v->end ? run->vaddr : v->end;

		if (run && to < v->end && !(run->flags & IMAGE_RUN_INHERITED))
			continue;
		if (to > from && madvise((void *)(at + (from - v->start)), to - from, MADV_DONTNEED))
			return log_errno("pid %d: dropping its parent's pages at 0x%llx",
					 img->proc.pid, (unsigned long long)from);
		from = to < v->end ? run->vaddr + (uint64_t)run->npages * IMAGE_PAGE_SIZE : v->end;
	}
	for (r = first_run(img, v->start); r < img->nr_runs && img->runs[r].vaddr < v->end; r++) {
		const struct image_page_run *run = &img->runs[r];

		if (pi >= 0 && (run->flags & IMAGE_RUN_INHERITED))
			continue;
		ret = stage_read_run(img, run, (void *)(at + (run->vaddr - v->start)));
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int stage_memory(struct tree *tr, uint32_t k)
{
	uint32_t i;
	int ret;

	for (i = 0; tr->stage && i < tr->imgs[k]->nr_vmas; i++) {
		if (!tr->stage[k][i])
			continue;
		ret = stage_vma(tr, k, i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Forks the children of process pid, each with its PID: live ones run
 * helper_main() for their own image, zombies exit once all their siblings
 * exist.  Once they are zombies, the SIGCHLD they sent is taken back: the
 * program had seen it.
 *
 * Process groups: zombies are made first (a live process may join a group
 * a zombie led), and the parent puts each live child that leads a group into
 * it at once (setpgid from both sides, as shells do), so that a zombie may
 * join a group a live sibling leads when it is let go.
 */
static int fork_children(struct tree *tr, pid_t pid)
{
	const struct image *root = tr->imgs[0];
	bool has_zombies = false;
	uint32_t i, k, live, pass;
	int go[2] = { -1, -1 };

	for (i = 0; i < root->nr_children; i++)
		if (root->children[i].ppid == pid && root->children[i].is_zombie)
			has_zombies = true;
	if (has_zombies && pipe2(go, O_CLOEXEC))
		return log_errno("pid %d: a pipe for its zombies", pid);
	for (pass = 0; pass < 2; pass++) {
		for (i = 0, live = 1; i < root->nr_children; i++) {
			const struct image_child *c = &root->children[i];
			pid_t got;

			k = live;
			live += !c->is_zombie;
			if (c->ppid != pid || c->is_zombie != (pass == 0))
				continue;
			got = clone3_pid(0, c->pid);
			if (got < 0) {
				close_each(go, 2);
				return log_errno("pid %d: creating child %d with its PID", pid,
						 c->pid);
			}
			if (got == 0) {
				if (c->is_zombie) {
					close(go[1]);
					zombie_main(tr, c, go[0]);
				}
				close_each(go, 2);
				helper_main(tr, k, -1);
			}
			if (c->sid != c->pid && c->pgid == c->pid)
				setpgid(got, got); /* the child does the same: whoever is first */
		}
	}
	if (!has_zombies)
		return 0;
	close_each(go, 2); /* let the zombies go */
	return wait_zombies(root, pid) < 0 ? -ECHILD : 0;
}

/*
 * A lazy restore: this process's userfaultfd, made here because it is bound
 * to the memory of its maker, which the blob keeps; thaw passes it to the
 * page server, and the blob closes this copy once it has registered the
 * lazy VMAs with it.
 */
static int lazy_pass_uffd(struct helper *h, int sock)
{
	int fd = lazy_uffd_open(), ret;

	if (fd < 0)
		return fd;
	fd = lift_fd(fd, h->min_fd);
	if (fd < 0)
		return -EMFILE;
	ret = lazy_send_fd(sock, fd);
	close(sock);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	h->uffd = fd;
	h->close_fds[h->nr_close++] = fd;
	return 0;
}

static __attribute__((noreturn)) void helper_main(struct tree *tr, uint32_t k, int sync_fd)
{
	struct image *img = tr->imgs[k];
	struct helper h = { .img = img, .min_fd = tr->min_fd, .uffd = -1 };
	uint64_t all = ~0ull;
	char c;
	int ret = -EIO;
	uint32_t i;

	/*
	 * Every signal blocked, raw: glibc's sigprocmask leaves out its own 32
	 * and 33, and a timer's SIGEV_THREAD signal (32) queued by the restorer
	 * would stop it.  The blob's threads inherit this mask; the program's
	 * own comes back with the registers, last.
	 */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(all));
	if (k == 0) {
		struct rlimit rl;

		if (read(sync_fd, &c, 1) != 1)
			_exit(1);
		close(sync_fd);
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		/* once the program's fd 2 is in place, our messages still go where thaw's go */
		tr->log_fd = fcntl(log_get_fd(), F_DUPFD_CLOEXEC, tr->min_fd);
		if (tr->log_fd >= 0)
			log_set_fd(tr->log_fd);
		tr->region_fd = lift_fd(tr->region_fd, tr->min_fd);
		if (tr->region_fd < 0)
			goto fail;
		for (i = 0; i < tr->nr; i++) {
			if (lift_image_fds(tr->imgs[i], tr->min_fd) < 0)
				goto fail;
			if (tr->fill_fds) {
				tr->fill_fds[i] = lift_fd(tr->fill_fds[i], tr->min_fd);
				if (tr->fill_fds[i] < 0)
					goto fail;
			}
			if (tr->lazy_fds) {
				tr->lazy_fds[i] = lift_fd(tr->lazy_fds[i], tr->min_fd);
				if (tr->lazy_fds[i] < 0)
					goto fail;
			}
		}
		/* nothing else of thaw's may leak into the program */
		close_strays(tr, 0, true);
	}
	h.region_fd = tr->region_fd;
	h.log_fd = tr->log_fd;
	ret = set_process(tr, img);
	if (ret == 0 && k == 0 && (tr->nr > 1 || img->ctty.is_set))
		ret = fds_tree_prepare(tr->imgs, tr->nr, tr->min_fd, &tr->shared);
	/* before the fork: the session's members inherit it */
	if (ret == 0)
		ret = pty_acquire_ctty(&tr->shared, &img->ctty, img->proc.pid);
	/* before the fork: the children inherit the memory they shared */
	if (ret == 0 && k == 0 && tr->nr > 1 && !tr->fill_fds && !tr->lazy)
		ret = stage_plan(tr);
	if (ret == 0)
		ret = stage_memory(tr, k);
	if (ret == 0 && tr->imgs[0]->nr_children)
		ret = fork_children(tr, img->proc.pid);
	/* after the fork: a child would inherit what cannot be undone (membarrier) */
	if (ret == 0)
		ret = attrs_restore_process(img);
	if (ret < 0)
		goto fail;
	close_strays(tr, k, false);
	h.fill_fd = tr->fill_fds ? tr->fill_fds[k] : -1;
	h.stage = tr->stage ? tr->stage[k] : NULL;
	h.close_fds[h.nr_close++] = h.region_fd;
	if (h.log_fd >= 0)
		h.close_fds[h.nr_close++] = h.log_fd;
	h.close_fds[h.nr_close++] = img->data_fd;
	if (img->dir_fd >= 0)
		h.close_fds[h.nr_close++] = img->dir_fd;

	h.shmem_fds = calloc(img->nr_shmems + 1, sizeof(int));
	h.file_ro = malloc((img->nr_files + 1) * sizeof(int));
	h.file_rw = malloc((img->nr_files + 1) * sizeof(int));
	h.deleted = malloc((img->nr_files + 1) * sizeof(int));
	if (!h.shmem_fds || !h.file_ro || !h.file_rw || !h.deleted)
		goto fail;
	for (i = 0; i < img->nr_files; i++)
		h.file_ro[i] = h.file_rw[i] = h.deleted[i] = -1;
	for (i = 0; i < img->nr_files; i++) {
		if (!img->files[i].is_deleted)
			continue;
		ret = file_recreate_deleted(img, i);
		if (ret >= 0)
			ret = lift_fd(ret, h.min_fd);
		if (ret < 0)
			goto fail;
		h.deleted[i] = ret;
		h.close_fds[h.nr_close++] = ret;
	}
	ret = shmem_restore(img, h.min_fd, h.shmem_fds, &tr->shared);
	for (i = 0; ret == 0 && i < img->nr_shmems; i++)
		if (h.shmem_fds[i] >= 0)
			h.close_fds[h.nr_close++] = h.shmem_fds[i];
	if (ret == 0)
		ret = gpu_helper_prepare(img);
	if (ret == 0)
		ret = fds_restore(img, h.shmem_fds, h.deleted, h.min_fd, &tr->shared);
	fd_shared_close(&tr->shared);
	if (ret == 0)
		ret = set_sigactions(img);
	if (ret == 0 && tr->lazy_fds)
		ret = lazy_pass_uffd(&h, tr->lazy_fds[k]);
	if (ret == 0)
		ret = build_and_jump(&h);
fail:
	log_error("pid %d: restore helper failed: %s", img->proc.pid, strerror(-ret));
	_exit(1);
}

/* ------------------------------------------------------------------ init */

struct tracee {
	pid_t tid;
	bool trapped;
};

/* One process of the tree as init sees it: where its restorer region is. */
struct tproc {
	const struct image *img;
	pid_t pid;
	uint64_t region_start, region_len, args;
	bool reported;
	int stop_signal; /* to come back stopped: sent just before the release, or 0 */
};

struct tracer {
	struct tree *tree;
	const char *path; /* for messages */
	struct tproc *procs; /* per tree->imgs */
	struct tracee *threads;
	size_t nr, nr_threads, nr_trapped;
	size_t nr_fillers_gone;
};

static bool is_program_thread(const struct tracer *t, pid_t tid)
{
	uint32_t i, k;

	for (k = 0; k < t->tree->nr; k++)
		for (i = 0; i < t->tree->imgs[k]->nr_threads; i++)
			if (t->tree->imgs[k]->threads[i].tid == tid)
				return true;
	return false;
}

static struct tproc *leader_of(struct tracer *t, pid_t pid)
{
	uint32_t k;

	for (k = 0; k < t->tree->nr; k++)
		if (t->procs[k].pid == pid)
			return &t->procs[k];
	return NULL;
}

static bool is_zombie_pid(const struct tracer *t, pid_t pid)
{
	const struct image *root = t->tree->imgs[0];
	uint32_t i;

	for (i = 0; i < root->nr_children; i++)
		if (root->children[i].pid == pid && root->children[i].is_zombie)
			return true;
	return false;
}

/* A thread of the program, or NULL for the blob's fillers (TIDs not in the snapshot). */
static struct tracee *tracee_get(struct tracer *t, pid_t tid)
{
	size_t i;

	for (i = 0; i < t->nr; i++)
		if (t->threads[i].tid == tid)
			return &t->threads[i];
	if (t->nr >= t->nr_threads || !is_program_thread(t, tid))
		return NULL;
	t->threads[t->nr] = (struct tracee){ tid, false };
	return &t->threads[t->nr++];
}

static void report_trap(const struct tracer *t, pid_t tid, const struct user_regs_struct *regs)
{
	unsigned long step = regs->rax;
	const char *what = step < sizeof(step_names) / sizeof(step_names[0]) && step_names[step]
				   ? step_names[step]
				   : "an unknown step";

	log_error("snapshot %s: restoring failed in thread %d while %s: %s (at 0x%llx)", t->path,
		  tid, what, strerror((int)-(long)regs->rsi), (unsigned long long)regs->rdx);
}

/* Waits until every thread of every process has stopped on the blob's final int3. */
static int wait_for_blob(struct tracer *t)
{
	while (t->nr_trapped < t->nr_threads) {
		struct user_regs_struct regs;
		int status, sig, event;
		pid_t tid = waitpid(-1, &status, __WALL);

		if (tid < 0) {
			if (errno == EINTR) {
				restore_progress_poll(); /* its timer's tick */
				continue;
			}
			return log_errno("waiting for the restore helper");
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (!is_program_thread(t, tid))
				t->nr_fillers_gone++;
			if (!leader_of(t, tid))
				continue;
			if (WIFSIGNALED(status))
				log_error("snapshot %s: restore helper of pid %d was killed by signal %d",
					  t->path, tid, WTERMSIG(status));
			else
				log_error("snapshot %s: restore helper of pid %d failed", t->path, tid);
			return -EIO;
		}
		if (!WIFSTOPPED(status))
			continue;
		sig = WSTOPSIG(status);
		event = status >> 16;
		if (event == PTRACE_EVENT_STOP &&
		    (is_zombie_pid(t, tid) || is_standin(t->tree, tid))) {
			/* a zombie or a group's stand-in: it exits untraced, so its parent sees it */
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			continue;
		}
		if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_STOP ||
		    event == PTRACE_EVENT_FORK) {
			tracee_get(t, tid);
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			continue;
		}
		if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0)
			return log_errno("restore: reading registers of thread %d", tid);
		if (sig == SIGTRAP && regs.rdi == RESTORER_TRAP_MAGIC) {
			struct tracee *te = tracee_get(t, tid);

			if (regs.rax != RESTORER_OK) {
				report_trap(t, tid, &regs);
				return -EIO;
			}
			if (!te || te->trapped) {
				log_error("restore: thread %d trapped twice", tid);
				return -EIO;
			}
			te->trapped = true;
			t->nr_trapped++;
			continue;
		}
		{
			siginfo_t si = { 0 };

			ptrace(PTRACE_GETSIGINFO, tid, NULL, &si);
			log_error("snapshot %s: the restorer got signal %d (code %d, address %p) in "
				  "thread %d at 0x%llx",
				  t->path, sig, si.si_code, si.si_addr, tid,
				  (unsigned long long)regs.rip);
		}
		return -EIO;
	}
	return 0;
}

/* thaw -v: how long the restorer spent on each of its steps. */
static void log_phases(pid_t pid, uint64_t args_addr)
{
	struct restorer_args a;
	struct iovec local = { &a, sizeof(a) }, remote = { (void *)args_addr, sizeof(a) };

	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(a))
		return;
	log_debug("restorer of pid %d: unmap %.1f ms, map %.1f ms (%u VMAs), fill %.1f ms (%llu "
		  "runs, %u fillers), finish %.1f ms",
		  pid, (double)(a.t_unmapped - a.t_entry) / 1e6,
		  (double)(a.t_mapped - a.t_unmapped) / 1e6, a.nr_vmas,
		  (double)(a.t_filled - a.t_mapped) / 1e6, (unsigned long long)a.nr_runs,
		  a.nr_fillers, (double)(a.t_finished - a.t_filled) / 1e6);
}

/* Every helper wrote where its region is before it jumped: one record each. */
static int read_regions(struct tracer *t, int fd, uint64_t *ret_fillers)
{
	uint32_t n;

	*ret_fillers = 0;
	for (n = 0; n < t->tree->nr; n++) {
		uint64_t where[5];
		struct tproc *p;

		if (read(fd, where, sizeof(where)) != sizeof(where))
			return -EIO;
		p = leader_of(t, (pid_t)where[0]);
		if (!p || p->reported) {
			log_error("restore: a region record from pid %d", (int)where[0]);
			return -EIO;
		}
		p->reported = true;
		p->region_start = where[1];
		p->region_len = where[2];
		*ret_fillers += where[3];
		p->args = where[4];
	}
	return 0;
}

/* Reaps the fillers that have not been reaped yet: they must be gone before release. */
static int reap_fillers(struct tracer *t, size_t nr_fillers)
{
	while (t->nr_fillers_gone < nr_fillers) {
		int status;
		pid_t tid = waitpid(-1, &status, __WALL);

		if (tid < 0 && errno == EINTR)
			continue;
		if (tid < 0)
			return log_errno("restore: waiting for the filler threads");
		if ((WIFEXITED(status) || WIFSIGNALED(status)) && !is_program_thread(t, tid))
			t->nr_fillers_gone++;
		else if (WIFSTOPPED(status) && !is_program_thread(t, tid))
			ptrace(PTRACE_CONT, tid, NULL, NULL);
	}
	return 0;
}

static int wait_syscall_stop(pid_t tid)
{
	int status;

	if (waitpid(tid, &status, __WALL) < 0)
		return -errno;
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
		return -EIO;
	return 0;
}

/* The leader runs munmap of the blob region; it stops at the syscall's exit. */
static int unmap_region(const struct tproc *p)
{
	const unsigned char *b = restorer_blob_start;
	size_t len = blob_size(), i;
	struct user_regs_struct regs;
	int ret;

	for (i = 0; i + 1 < len; i++)
		if (b[i] == 0x0f && b[i + 1] == 0x05)
			break;
	if (i + 1 >= len)
		return -ENOENT;
	if (ptrace(PTRACE_GETREGS, p->pid, NULL, &regs) < 0)
		return -errno;
	regs.rip = p->region_start + i;
	regs.rax = SYS_munmap;
	regs.orig_rax = (unsigned long long)-1;
	regs.rdi = p->region_start;
	regs.rsi = p->region_len;
	if (ptrace(PTRACE_SETREGS, p->pid, NULL, &regs) < 0)
		return -errno;
	if (ptrace(PTRACE_SYSCALL, p->pid, NULL, NULL) < 0 || wait_syscall_stop(p->pid) < 0)
		return -EIO;
	if (ptrace(PTRACE_SYSCALL, p->pid, NULL, NULL) < 0 || wait_syscall_stop(p->pid) < 0)
		return -EIO;
	if (ptrace(PTRACE_GETREGS, p->pid, NULL, &regs) < 0)
		return -errno;
	ret = (int)(long)regs.rax;
	return ret < 0 ? ret : 0;
}

/* Where the tracer can open shmem object i of p: an fd that holds it, or a mapping of it. */
static int shmem_path(const struct tproc *p, uint32_t i, char *path, size_t len)
{
	const struct image *img = p->img;
	uint32_t k;

	for (k = 0; k < img->nr_fds; k++)
		if (img->fds[k].kind == IMAGE_FD_MEMFD && img->fds[k].memfd.shmem == (int32_t)i &&
		    img->fds[k].fd >= 0) {
			snprintf(path, len, "/proc/%d/fd/%d", p->pid, img->fds[k].fd);
			return 0;
		}
	for (k = 0; k < img->nr_vmas; k++)
		if (img->vmas[k].kind == IMAGE_VMA_SHMEM && img->vmas[k].shmem == (int32_t)i) {
			snprintf(path, len, "/proc/%d/map_files/%llx-%llx", p->pid,
				 (unsigned long long)img->vmas[k].start,
				 (unsigned long long)img->vmas[k].end);
			return 0;
		}
	return -ENOENT;
}

/* Seals last: the restorer wrote the contents first, held or only mapped. */
static int apply_memfd_seals(const struct tproc *p)
{
	const struct image *img = p->img;
	uint32_t i;

	for (i = 0; i < img->nr_shmems; i++) {
		uint32_t seals = img->shmems[i].seals;
		char path[96];
		int fd, cur;

		if (!img->shmems[i].is_memfd || !seals || shmem_path(p, i, path, sizeof(path)))
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return log_errno("pid %d: reopening memfd \"%s\" (%s) to seal it", p->pid,
					 img->shmems[i].name ? img->shmems[i].name : "", path);
		/* a memfd several processes hold is sealed once */
		cur = fcntl(fd, F_GET_SEALS);
		if ((cur < 0 || ((uint32_t)cur & seals) != seals) &&
		    fcntl(fd, F_ADD_SEALS, seals) < 0) {
			close(fd);
			return log_errno("pid %d: adding seals %#x to memfd \"%s\"", p->pid, seals,
					 img->shmems[i].name ? img->shmems[i].name : "");
		}
		close(fd);
	}
	return 0;
}

/*
 * The end of one process's restore, every thread stopped on the blob's trap:
 * signals blocked again, then what the process must do itself once nothing
 * of thaw's is opened or closed in it any more (its file locks, then its fds'
 * owners: file-locks.h and fd-owner.c say why), what may fire or must not meet the blob (signals.c, timers.c:
 * their injected calls still use the blob's stack), the blob unmapped, and
 * the registers and masks last.
 */
static int finish_process(struct tproc *p)
{
	const struct image *img = p->img;
	struct frozen fz = { .pid = p->pid };
	uint32_t i;
	int ret = 0;

	for (i = 0; ret == 0 && i < img->nr_threads; i++)
		ret = signals_block_all(img->threads[i].tid);
	if (ret == 0)
		ret = locks_restore(&fz, img);
	if (ret == 0)
		ret = owners_restore(&fz, img);
	if (ret == 0)
		ret = signals_restore_late(&fz, img, &p->stop_signal);
	if (ret == 0)
		ret = timers_arm(&fz, img);
	if (ret == 0)
		ret = tcp_conns_resume(p->pid, img);
	if (ret < 0)
		return ret;
	ret = unmap_region(p);
	if (ret < 0) {
		log_error("pid %d: unmapping the restorer: %s", p->pid, strerror(-ret));
		return ret;
	}
	ret = apply_memfd_seals(p);
	if (ret < 0)
		return ret;
	for (i = 0; i < img->nr_threads; i++) {
		const struct image_thread *th = &img->threads[i];
		void *xsave = NULL;

		ret = attrs_restore_thread(p->pid, th->tid, &th->attrs);
		if (ret == 0)
			ret = image_read_blob(img, &th->xsave, &xsave);
		if (ret == 0)
			ret = regs_set(th->tid, th, xsave, th->xsave.len);
		free(xsave);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Lets go the threads of process k that which names: all of them, those that
 * run the CUDA restore (the driver's restore thread and libthaw's GPU weights
 * thread), or the rest.
 */
enum release { RELEASE_GPU_ONLY, RELEASE_REST, RELEASE_ALL };

static pid_t gpu_restore_thread(const struct image *img);

static bool gpu_first(const struct image *img, pid_t tid)
{
	pid_t gpu_tid = gpu_restore_thread(img);

	return gpu_tid && (tid == gpu_tid || tid == img->gpu.weights_tid);
}

static int detach_process(struct tracer *t, uint32_t k, enum release which)
{
	const struct image *img = t->procs[k].img;
	uint32_t i;

	/*
	 * A process to come back stopped: the stop is pending while its threads
	 * are still traced, so the first one let go starts the group stop and
	 * the others join it as they are let go, before running any code.
	 */
	if (which != RELEASE_GPU_ONLY && t->procs[k].stop_signal &&
	    kill(t->procs[k].pid, t->procs[k].stop_signal) < 0)
		return log_errno("pid %d: stopping it again", t->procs[k].pid);
	for (i = 0; i < img->nr_threads; i++) {
		pid_t tid = img->threads[i].tid;

		if ((which == RELEASE_GPU_ONLY && !gpu_first(img, tid)) ||
		    (which == RELEASE_REST && gpu_first(img, tid)))
			continue;
		/* a thread let go first may end the program before the rest are (ESRCH) */
		if (ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0 && errno != ESRCH)
			return log_errno("pid %d: letting thread %d go", t->procs[k].pid, tid);
	}
	return 0;
}

/* The driver's restore thread, if the snapshot names one of the process's threads. */
static pid_t gpu_restore_thread(const struct image *img)
{
	uint32_t i;

	if (!img->has_gpu || img->gpu.restore_tid <= 0)
		return 0;
	for (i = 0; i < img->nr_threads; i++)
		if (img->threads[i].tid == img->gpu.restore_tid)
			return img->gpu.restore_tid;
	return 0;
}

/*
 * DESIGN.md, Restore step 6: when every GPU process of the tree names its
 * driver's restore thread, only those threads run until thaw restore has
 * the device state back; otherwise (and without a GPU) nothing is held.
 */
static bool gpu_hold(const struct tree *tr)
{
	bool any = false;
	uint32_t k;

	for (k = 0; k < tr->nr; k++) {
		if (!tr->imgs[k]->has_gpu)
			continue;
		if (!gpu_restore_thread(tr->imgs[k]))
			return false;
		any = true;
	}
	return any;
}

/* Sets every thread's registers; nothing runs yet. */
static int finish_threads(struct tracer *t)
{
	uint32_t k;
	int ret;

	for (k = 0; k < t->tree->nr; k++) {
		ret = finish_process(&t->procs[k]);
		if (ret < 0)
			return ret;
	}
	/* --verify: every thread set and still held, none has run; a difference kills the tree */
	if (t->tree->verify) {
		ret = verify_restored(t->tree->imgs, t->tree->nr, t->procs[0].pid, t->path);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Lets threads go, leaves first and the root last: only the GPU processes'
 * CUDA restore threads (with their GPU weights threads), or all but those
 * (the rest, once the restore is reported), or all.
 */
static int release_threads(struct tracer *t, enum release which)
{
	uint32_t k;
	int ret;

	for (k = t->tree->nr; k-- > 0;) {
		if (which == RELEASE_GPU_ONLY && !gpu_restore_thread(t->procs[k].img))
			continue;
		ret = detach_process(t, k, which);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * SIGTSTP, SIGTTIN and SIGTTOU do not stop a process whose group is
 * orphaned: one restored without the parent that kept its group attached
 * would run on.  A stop that does not happen within a second is made with
 * SIGSTOP, and said.
 */
static void confirm_stops(const struct tracer *t)
{
	uint32_t k;
	int i;

	for (k = 0; k < t->tree->nr; k++) {
		const struct tproc *p = &t->procs[k];
		struct proc_stat st;

		if (!p->stop_signal || p->stop_signal == SIGSTOP)
			continue;
		for (i = 0; i < 100; i++) {
			if (proc_read_stat(p->pid, 0, &st) < 0 || st.state == 'T')
				break;
			usleep(10000);
		}
		if (i < 100)
			continue;
		log_warn("pid %d: SIG%s did not stop it again (its process group is orphaned here); "
			 "stopped with SIGSTOP",
			 p->pid, sigabbrev_np(p->stop_signal));
		kill(p->pid, SIGSTOP);
	}
}

static pid_t clone3_pid(uint64_t flags, pid_t want)
{
	struct clone_args ca = { .flags = flags, .exit_signal = SIGCHLD };
	pid_t tid = want;

	if (want) {
		ca.set_tid = (uint64_t)(uintptr_t)&tid;
		ca.set_tid_size = 1;
	}
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

static volatile sig_atomic_t forward_to;

static void forward_signal(int sig)
{
	if (forward_to > 0)
		kill(forward_to, sig);
}

static void install_forwarding(pid_t to)
{
	struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };

	forward_to = to;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* After the restore: reap everything, exit with the program's status. */
/*
 * A lazy restore, while the page server works: init keeps the program's
 * userfaultfds open (unread in hold_fd) so that the server's end alone never
 * closes them: a closed userfaultfd lets a waiting fault through to a fresh
 * zero page (docs/lazy-restore.md).  'd' on done_fd: every page is in, they
 * may go.  EOF without it: the server is gone with pages missing; faulting
 * threads still wait, and the whole tree is killed before they can go on.
 * Returns -1 once that is done, else the result of waitpid(-1, WNOHANG).
 */
static pid_t lazy_watch(int *done_fd, int *hold_fd, int err_fd, int *status)
{
	struct pollfd p = { .fd = *done_fd, .events = POLLIN };
	char c = 0;
	ssize_t n;

	/* 100 ms: how late a zombie other than the program may be reaped meanwhile */
	if (poll(&p, 1, 100) > 0) {
		n = read(*done_fd, &c, 1);
		if (n < 0 && errno == EINTR)
			return 0;
		if (n != 1 || c != 'd') {
			log_set_fd(err_fd);
			log_error("lazy restore: the page server is gone before every page was in; "
				  "the program is killed (it must not run on with missing memory)");
			kill(-1, SIGKILL);
		}
		close(*done_fd);
		close(*hold_fd);
		close(err_fd);
		*done_fd = *hold_fd = -1;
	}
	return waitpid(-1, status, WNOHANG);
}

static __attribute__((noreturn)) void reap(pid_t program, int done_fd, int hold_fd)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* the one message lazy_watch may have, where thaw's go */
	int err_fd = done_fd >= 0 ? fcntl(log_get_fd(), F_DUPFD_CLOEXEC, 3) : -1;

	/* the program holds its own copies: do not keep a caller's pipes open */
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		close(devnull);
	}
	install_forwarding(program);
	for (;;) {
		int status = 0;
		pid_t pid = done_fd >= 0 ? lazy_watch(&done_fd, &hold_fd, err_fd, &status)
					 : waitpid(-1, &status, 0);

		if (pid == 0 || (pid < 0 && errno == EINTR))
			continue;
		if (pid < 0)
			_exit(127);
		if (pid != program)
			continue;
		if (WIFSIGNALED(status))
			_exit(128 + WTERMSIG(status));
		_exit(WEXITSTATUS(status));
	}
}

/*
 * Shared memory with global names comes back in places of the restore's
 * own: POSIX objects in a private tmpfs on /dev/shm (this mount namespace's),
 * SysV segments in a fresh IPC namespace, with their ids.
 */
static int prepare_ipc(struct tree *tr)
{
	bool posix = false, sysv = false;
	uint32_t k, i;

	for (k = 0; k < tr->nr; k++)
		for (i = 0; i < tr->imgs[k]->nr_shmems; i++) {
			posix |= tr->imgs[k]->shmems[i].path != NULL;
			sysv |= tr->imgs[k]->shmems[i].is_sysv;
		}
	if (posix && mount("thaw-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		return log_errno("mounting a private /dev/shm");
	if (!sysv)
		return 0;
	if (unshare(CLONE_NEWIPC) < 0)
		return log_errno("creating an IPC namespace for SysV shared memory");
	return shmem_sysv_create(tr->imgs, tr->nr);
}

static bool tree_has_gpu(const struct tree *tr)
{
	uint32_t k;

	for (k = 0; k < tr->nr; k++)
		if (tr->imgs[k]->has_gpu)
			return true;
	return false;
}

/* thaw restore holds the other end of fd: hung up means it is gone. */
static bool caller_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & POLLHUP);
}

/*
 * The restore is committed only by thaw restore's go ('r' on release_fd),
 * once it has the CUDA state back and has written the pidfile; until then
 * init dies with thaw restore (PR_SET_PDEATHSIG) and its namespace with it,
 * and nothing of the program runs but what the CUDA restore needs.  Then
 * init lets the threads go, says so ('g' on status_fd) and, unless
 * stay_tied, outlives thaw restore.
 */
static __attribute__((noreturn)) void init_main(struct tree *tr, const char *path,
					       int status_fd, int release_fd, bool stay_tied)
{
	long options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACESYSGOOD |
		       PTRACE_O_EXITKILL;
	struct tracer t = { .tree = tr, .path = path };
	double started = now_ms();
	int sync[2], region[2], ret;
	uint64_t fillers = 0;
	bool gpu_only, all_now;
	pid_t root;
	uint32_t k;
	char ok = 'o', go = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (caller_gone(release_fd)) /* before that: the signal never came */
		_exit(1);
	lifeline_drop(); /* the worker's: init may outlive it */
	/* thaw's ends: a restorer waiting on its own must see EOF if thaw goes */
	close_each(tr->fill_socks, tr->nr);
	close_each(tr->lazy_socks, tr->nr);
	close_each(&tr->lazy_hold[1], 1);
	close_each(&tr->lazy_done[1], 1);
	close_each(tr->lazy_go, 2);
	/* a /proc of this namespace, so /proc/self is the restored process */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		log_warn("could not mount a private /proc: %s", strerror(errno));
	/* the program's own root: its files are checked where it will open them */
	if (tr->enter_root) {
		if (tr->enter_root(tr->enter_root_arg) < 0)
			_exit(1);
		for (k = 0; k < tr->nr; k++)
			if (files_validate(tr->imgs[k]) < 0)
				_exit(1);
	}
	for (k = 0; k < tr->nr; k++)
		t.nr_threads += tr->imgs[k]->nr_threads;
	t.threads = calloc(t.nr_threads, sizeof(*t.threads));
	t.procs = calloc(tr->nr, sizeof(*t.procs));
	if (!t.threads || !t.procs || pipe2(sync, O_CLOEXEC) < 0 || pipe2(region, O_CLOEXEC) < 0)
		_exit(1);
	/* every helper writes a record before it jumps: room for them all */
	fcntl(region[1], F_SETPIPE_SZ, 1 << 20);
	for (k = 0; k < tr->nr; k++)
		t.procs[k] = (struct tproc){ .img = tr->imgs[k], .pid = tr->imgs[k]->proc.pid };
	tr->region_fd = region[1];
	if (prepare_ipc(tr) < 0)
		_exit(1);
	root = clone3_pid(0, tr->imgs[0]->proc.pid);
	if (root < 0) {
		log_error("pid %d: cannot create the process with its PID: %s",
			  tr->imgs[0]->proc.pid, strerror(errno));
		_exit(1);
	}
	if (root == 0) {
		close(sync[1]);
		close(region[0]);
		close(status_fd);
		close_each(tr->lazy_hold, 1);
		close_each(tr->lazy_done, 1);
		helper_main(tr, 0, sync[0]);
	}
	close(sync[0]);
	/* the helpers have the restorers' ends: if they die, thaw sees EOF */
	close_each(tr->fill_fds, tr->nr);
	close_each(tr->lazy_fds, tr->nr);
	close(region[1]);
	/*
	 * The helpers' children (the tree) are traced from their first
	 * instruction, with these options.  Threads that install seccomp
	 * filters in the restorer still run thaw's injected calls afterwards
	 * (locks, late signals, timers, the unmap): SUSPEND_SECCOMP lets those
	 * through until the threads are let go.
	 */
	for (k = 0; k < tr->nr; k++)
		if (creds_has_filters(tr->imgs[k]))
			options |= PTRACE_O_SUSPEND_SECCOMP;
	if (ptrace(PTRACE_SEIZE, root, NULL, (void *)options) < 0) {
		log_error("pid %d: cannot trace the restore helper: %s", root, strerror(errno));
		kill(root, SIGKILL);
		_exit(1);
	}
	tracee_get(&t, root);
	if (write(sync[1], &ok, 1) != 1)
		_exit(1);
	close(sync[1]);
	/* from a directory the processes read their own pages: see them do it */
	if (!tr->fill_fds)
		restore_progress_begin(tr->imgs, tr->nr);
	ret = wait_for_blob(&t);
	restore_progress_end();
	if (ret == 0)
		log_debug("memory and threads of %u process%s restored at %.1f ms", tr->nr,
			  tr->nr == 1 ? "" : "es", now_ms() - started);
	if (ret == 0)
		ret = read_regions(&t, region[0], &fillers);
	close(region[0]); /* init outlives the restore: it keeps nothing of it */
	if (ret == 0)
		ret = reap_fillers(&t, fillers);
	for (k = 0; ret == 0 && log_max_level >= LOG_DEBUG && k < tr->nr; k++)
		log_phases(t.procs[k].pid, t.procs[k].args);
	if (ret == 0)
		shmem_sysv_finish(tr->imgs, tr->nr);
	if (ret == 0)
		ret = finish_threads(&t);
	/*
	 * DESIGN.md, Restore step 6: the CUDA restore runs in the driver's
	 * thread of each GPU process.  Where the snapshot does not name it,
	 * every thread must run (the program's CUDA calls block in the driver
	 * until the unlock), and so the program runs before it is reported.
	 */
	gpu_only = gpu_hold(tr);
	all_now = !gpu_only && tree_has_gpu(tr);
	if (ret == 0 && (gpu_only || all_now))
		ret = release_threads(&t, gpu_only ? RELEASE_GPU_ONLY : RELEASE_ALL);
	log_debug("registers set at %.1f ms%s", now_ms() - started,
		  gpu_only ? "; the CUDA restore threads run" :
		  all_now  ? "; every thread runs, for the CUDA restore" : "");
	if (ret == 0 && write(status_fd, &ok, 1) != 1)
		ret = -EPIPE;
	/* thaw restore's go; silence means it failed, or is gone */
	while (ret == 0 && read(release_fd, &go, 1) < 0 && errno == EINTR)
		;
	if (ret == 0 && go != 'r')
		ret = -ECANCELED;
	if (ret == 0 && !stay_tied)
		prctl(PR_SET_PDEATHSIG, 0);
	if (ret == 0 && !all_now)
		ret = release_threads(&t, gpu_only ? RELEASE_REST : RELEASE_ALL);
	if (ret < 0) {
		/* the whole tree: everything here is in this namespace */
		kill(-1, SIGKILL);
		_exit(1);
	}
	ok = 'g';
	if (write(status_fd, &ok, 1) != 1)
		log_warn("could not tell thaw restore that the program runs");
	close(status_fd);
	close(release_fd);
	confirm_stops(&t);
	for (k = 0; k < tr->nr; k++)
		image_free(tr->imgs[k]);
	reap(root, tr->lazy_done[0], tr->lazy_hold[0]);
}

/* ---------------------------------------------------------- thaw restore */

/* The restored root: init's only child. */
static pid_t program_pid(pid_t init)
{
	pid_t *kids = NULL, pid = 0;
	size_t n = 0;

	if (proc_list_children(init, &kids, &n) == 0 && n)
		pid = kids[0];
	free(kids);
	return pid;
}

static int write_pidfile(const char *path, pid_t pid)
{
	char tmp[4096], line[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return log_errno("writing pidfile %s", path);
	n = snprintf(line, sizeof(line), "%d\n", pid);
	if (write(fd, line, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return log_errno("writing pidfile %s", path);
	}
	return 0;
}

/* The PID, as thaw restore sees it, of the tree's process inner (a pid in init's namespace). */
static pid_t outer_pid(pid_t from, pid_t inner, int depth)
{
	struct proc_status st;
	pid_t *kids = NULL, found = 0;
	size_t nr = 0, i;

	if (proc_read_status(from, 0, &st) == 0 && st.nspid_n && st.nspid[st.nspid_n - 1] == inner)
		return from;
	if (depth == 0 || proc_list_children(from, &kids, &nr) < 0)
		return 0;
	for (i = 0; i < nr && !found; i++)
		found = outer_pid(kids[i], inner, depth - 1);
	free(kids);
	return found;
}

/* CUDA restore and unlock of every GPU process of the tree, the root with the preloaded driver. */
static int restore_gpus(const struct tree *tr, pid_t init, pid_t program, struct cuda_child *cuda)
{
	uint32_t k;
	int ret;

	for (k = 0; k < tr->nr; k++) {
		const struct image *img = tr->imgs[k];
		struct gpu_stats gst;
		pid_t pid;

		if (!img->has_gpu)
			continue;
		pid = k == 0 ? program : outer_pid(init, img->proc.pid, 64);
		if (pid <= 0) {
			log_error("pid %d of the snapshot: cannot find it after the restore",
				  img->proc.pid);
			return -ESRCH;
		}
		ret = gpu_restore(pid, img, k == 0 ? cuda : NULL, &gst);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The other processes of a tree: their images, checked against the root's list. */
static int read_tree(const char *dir, struct image *root, struct tree *tr)
{
	uint32_t i, k;
	int ret, max_fd = 2, nr_fds = 0;

	tr->imgs = calloc(root->nr_children + 1, sizeof(*tr->imgs));
	if (!tr->imgs)
		return -ENOMEM;
	tr->imgs[0] = root;
	tr->nr = 1;
	tr->log_fd = tr->region_fd = -1;
	for (i = 0; i < root->nr_children; i++) {
		const struct image_child *c = &root->children[i];
		struct image *img;
		char path[4096];

		if (c->is_zombie)
			continue;
		if (!dir) {
			log_error("snapshot: a tree of processes needs its directory");
			return -EINVAL;
		}
		snprintf(path, sizeof(path), "%s/" IMAGE_CHILD_DIR_FMT, dir, c->pid);
		ret = image_read_child(root, c, &img); /* the manifest the root recorded */
		if (ret < 0)
			return ret;
		tr->imgs[tr->nr++] = img;
		if (img->proc.pid != c->pid || img->proc.ppid != c->ppid) {
			log_error("snapshot %s: process %d (parent %d) is not the listed %d (parent %d)",
				  path, img->proc.pid, img->proc.ppid, c->pid, c->ppid);
			return -EINVAL;
		}
		if (img->nr_children) {
			log_error("snapshot %s: a child process's image lists children", path);
			return -EINVAL;
		}
		ret = restore_validate(img, tr->enter_root != NULL);
		if (ret < 0)
			return ret;
	}
	/* the helpers' own fds sit above every fd of every process */
	for (k = 0; k < tr->nr; k++) {
		int m = max_image_fd(tr->imgs[k]);

		if (m > max_fd)
			max_fd = m;
		nr_fds += (int)tr->imgs[k]->nr_fds;
	}
	tr->min_fd = max_fd + nr_fds + 64;
	return 0;
}

/* A socket pair per process for an engine_page_source; thaw's ends pass credentials. */
static int fill_open(struct tree *tr)
{
	static const int on = 1;
	uint32_t k;

	tr->fill_socks = malloc(tr->nr * sizeof(int));
	tr->fill_fds = malloc(tr->nr * sizeof(int));
	if (!tr->fill_socks || !tr->fill_fds)
		return -ENOMEM;
	for (k = 0; k < tr->nr; k++)
		tr->fill_socks[k] = tr->fill_fds[k] = -1;
	for (k = 0; k < tr->nr; k++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return log_errno("a socket pair for the page data");
		tr->fill_socks[k] = sv[0];
		tr->fill_fds[k] = sv[1];
		if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
			return log_errno("SO_PASSCRED");
	}
	return 0;
}

/*
 * The restorer of process k has mapped its memory: its message carries its
 * PID as we see it (SCM_CREDENTIALS).  0 on EOF: it, or the restore, failed.
 */
static pid_t fill_wait_mapped(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	struct ucred cred;
	ssize_t n;

	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n != 1 || byte != 'm')
		return 0;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len == CMSG_LEN(sizeof(cred))) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			return cred.pid;
		}
	return 0;
}

static int cmp_fill_run(const void *a, const void *b)
{
	const struct page_fill_run *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* The data runs of img (zero runs the restorer clears itself), by offset. */
/* The data runs a page source writes: in a lazy restore, those outside lazy memory. */
static struct page_fill_run *fill_runs(const struct image *img, bool lazy, size_t *nr)
{
	struct page_fill_run *runs = malloc((img->nr_runs ? img->nr_runs : 1) * sizeof(*runs));
	uint32_t v = 0;
	uint64_t i;

	*nr = 0;
	if (!runs)
		return NULL;
	for (i = 0; i < img->nr_runs; i++) {
		while (v < img->nr_vmas && img->vmas[v].end <= img->runs[i].vaddr)
			v++;
		/* the page server's: the blob marks them so too (mark_lazy_runs) */
		if (lazy && v < img->nr_vmas && img->vmas[v].start <= img->runs[i].vaddr &&
		    lazy_vma_eligible(img, &img->vmas[v]))
			continue;
		if (!(img->runs[i].flags & IMAGE_RUN_ZERO))
			runs[(*nr)++] = (struct page_fill_run){
				img->runs[i].off, img->runs[i].vaddr,
				(uint64_t)img->runs[i].npages * IMAGE_PAGE_SIZE };
	}
	qsort(runs, *nr, sizeof(*runs), cmp_fill_run);
	return runs;
}

/*
 * A restore with a page source (docs/store-engine.md): once every restorer
 * has mapped its memory, the source writes the data runs, and each restorer
 * hears how that went.  Any failure: the restorers trap, init kills the tree.
 */
static void fill_from_source(struct tree *tr, const struct engine_page_source *src)
{
	struct page_fill_proc *procs = calloc(tr->nr, sizeof(*procs));
	char (*names)[64] = calloc(tr->nr, sizeof(*names));
	double t0 = now_ms();
	int64_t reply;
	uint32_t k;
	int ret = 0;

	if (!procs || !names)
		ret = -ENOMEM;
	for (k = 0; ret == 0 && k < tr->nr; k++) {
		const struct image *img = tr->imgs[k];
		struct page_fill_run *runs;

		procs[k].pid = fill_wait_mapped(tr->fill_socks[k]);
		if (procs[k].pid <= 0) {
			ret = -EIO; /* init says why */
			break;
		}
		if (k == 0)
			snprintf(names[k], sizeof(names[k]), "pages.img");
		else
			snprintf(names[k], sizeof(names[k]), IMAGE_CHILD_DIR_FMT "/pages.img",
				 img->proc.pid);
		procs[k].pages = names[k];
		runs = fill_runs(img, tr->lazy, &procs[k].nr_runs);
		procs[k].runs = runs;
		if (!runs)
			ret = -ENOMEM;
	}
	if (ret == 0) {
		log_debug("memory of %u process%s mapped at +%.1f ms; the page source writes it",
			  tr->nr, tr->nr == 1 ? "" : "es", now_ms() - t0);
		ret = src->fill(src->arg, procs, tr->nr);
		log_debug("page data written in %.1f ms%s", now_ms() - t0, ret < 0 ? " (failed)" : "");
	}
	reply = ret;
	for (k = 0; ret == 0 && k < tr->nr; k++)
		if (send(tr->fill_socks[k], &reply, sizeof(reply), MSG_NOSIGNAL) != sizeof(reply))
			ret = log_errno("pid %d: telling its restorer the pages are written",
					tr->imgs[k]->proc.pid);
	/* on failure the restorers see EOF (or the error) and trap; init kills the tree */
	if (ret < 0)
		for (k = 0; k < tr->nr; k++)
			send(tr->fill_socks[k], &reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
	for (k = 0; procs && k < tr->nr; k++)
		free((void *)procs[k].runs);
	free(procs);
	free(names);
}

/* A lazy restore's socket pairs and pipes (struct tree); -1 in each when not lazy. */
static int lazy_open(struct tree *tr)
{
	uint32_t k;

	tr->lazy_socks = malloc(tr->nr * sizeof(int));
	tr->lazy_fds = malloc(tr->nr * sizeof(int));
	if (!tr->lazy_socks || !tr->lazy_fds)
		return -ENOMEM;
	for (k = 0; k < tr->nr; k++)
		tr->lazy_socks[k] = tr->lazy_fds[k] = -1;
	for (k = 0; k < tr->nr; k++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return log_errno("lazy restore: a socket pair for a userfaultfd");
		tr->lazy_socks[k] = sv[0];
		tr->lazy_fds[k] = sv[1];
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tr->lazy_hold) < 0 ||
	    pipe2(tr->lazy_done, O_CLOEXEC) < 0 || pipe2(tr->lazy_go, O_CLOEXEC) < 0)
		return log_errno("lazy restore: pipes");
	return 0;
}

/*
 * Once init runs: each helper's userfaultfd, a copy of each for init to
 * hold, and the page server started with them.  The helpers wait for
 * nothing here, so a failure (EOF: a helper failed, init says why) only
 * has the restore fail.
 */
static int lazy_start(struct tree *tr, const char *record_dir,
		      const struct engine_page_source *src, pid_t *ret_pid)
{
	int *uffds = malloc(tr->nr * sizeof(int)), ret = 0;
	uint32_t k, got = 0;

	if (!uffds)
		return -ENOMEM;
	for (k = 0; k < tr->nr; k++, got++) {
		uffds[k] = lazy_recv_fd(tr->lazy_socks[k]);
		if (uffds[k] < 0) {
			ret = uffds[k];
			break;
		}
		ret = lazy_send_fd(tr->lazy_hold[1], uffds[k]);
		if (ret < 0) {
			got++;
			break;
		}
	}
	close_each(tr->lazy_socks, tr->nr);
	close_each(&tr->lazy_hold[1], 1);
	if (ret == 0)
		ret = lazy_server_start(tr->imgs, uffds, tr->nr, tr->lazy_go[0], tr->lazy_done[1],
					record_dir, src, ret_pid);
	close_each(&tr->lazy_go[0], 1);
	close_each(&tr->lazy_done[1], 1);
	close_each(uffds, got);
	free(uffds);
	return ret;
}

static void tree_free(struct tree *tr)
{
	uint32_t k;

	close_each(tr->fill_socks, tr->nr);
	close_each(tr->fill_fds, tr->nr);
	free(tr->fill_socks);
	free(tr->fill_fds);
	tr->fill_socks = tr->fill_fds = NULL;
	close_each(tr->lazy_socks, tr->nr);
	close_each(tr->lazy_fds, tr->nr);
	free(tr->lazy_socks);
	free(tr->lazy_fds);
	tr->lazy_socks = tr->lazy_fds = NULL;
	close_each(tr->lazy_hold, 2);
	close_each(tr->lazy_done, 2);
	close_each(tr->lazy_go, 2);
	for (k = 1; k < tr->nr; k++)
		image_free(tr->imgs[k]);
	free(tr->imgs);
	tr->imgs = NULL;
	tr->nr = 0;
}

/*
 * The next word of init on fd: 0 when it is want, -EIO when init failed
 * (it said why); with watch, -ECANCELED once the thaw command is gone
 * (lifeline.h).
 */
static int wait_init(int fd, char want, bool watch)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = lifeline_fd(), .events = POLLIN } };
	char word = 0;
	int ret;

	for (;;) {
		ret = watch ? lifeline_check() : 0;
		if (ret < 0)
			return ret;
		if (poll(p, watch && p[1].fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			return log_errno("waiting for the restore");
		if (p[0].revents)
			break;
	}
	while ((ret = (int)read(fd, &word, 1)) < 0 && errno == EINTR)
		;
	return ret == 1 && word == want ? 0 : -EIO;
}

/*
 * A foreground restore: the program lives as long as the thaw command.
 * Returns the exit status of init (the program's).
 */
static int wait_program(pid_t init, int *status)
{
	int pidfd = (int)syscall(SYS_pidfd_open, init, 0);
	struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN },
			       { .fd = lifeline_fd(), .events = POLLIN } };
	bool killed = false;

	while (pidfd >= 0 && waitpid(init, status, WNOHANG) == 0) {
		if (poll(p, p[1].fd >= 0 && !killed ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (!killed && p[1].revents) {
			log_error("the thaw command is gone: the restored program ends with it");
			kill(init, SIGKILL);
			killed = true;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(init, status, 0) < 0)
		if (errno != EINTR)
			return errno == ECHILD ? 0 : log_errno("waiting for the restored program");
	return 0;
}

int engine_restore(const struct engine_restore_opts *opts, int *ret_status)
{
	struct image *img = NULL;
	struct tree tr = { .lazy_hold = { -1, -1 }, .lazy_done = { -1, -1 }, .lazy_go = { -1, -1 } };
	struct cuda_child cuda = { .pid = -1 };
	pid_t server = 0;
	double t0 = now_ms();
	int status_pipe[2] = { -1, -1 }, release_pipe[2] = { -1, -1 }, ret, status;
	pid_t init = -1, program;
	uint64_t wchar0 = UINT64_MAX;
	bool pidfile_written = false;

	*ret_status = 1;
	if (opts->image) {
		img = opts->image; /* the caller's: used, never freed here */
	} else {
		ret = image_read(opts->dir, &img);
		if (ret < 0)
			return ret;
		log_debug("snapshot read in %.1f ms", now_ms() - t0);
	}
	tr.enter_root = opts->enter_root;
	tr.enter_root_arg = opts->enter_root_arg;
	ret = restore_validate(img, opts->enter_root != NULL);
	if (ret == 0)
		ret = read_tree(opts->dir, img, &tr);
	if (ret < 0)
		goto out;
	log_debug("snapshot validated at %.1f ms (%u process%s)", now_ms() - t0, tr.nr,
		  tr.nr == 1 ? "" : "es");
	tr.verify = opts->verify;
	/* the driver loads while the engine works; forked before init, so init inherits none of it */
	gpu_restore_begin(img, &cuda);
	if (opts->pages) {
		ret = fill_open(&tr);
		if (ret < 0)
			goto out;
	}
	if (opts->lazy) {
		/* a GPU process's device state stays eager: lazy_vma_eligible() */
		if (opts->pages && !(opts->pages->read && opts->pages->reader_open)) {
			log_error("snapshot %s: a lazy restore takes its pages from pages.img or a "
				  "store that can read for the page server (restore it without --lazy)",
				  opts->dir ? opts->dir : img->path);
			ret = -EOPNOTSUPP;
			goto out;
		}
		tr.lazy = true;
		ret = lazy_open(&tr);
		if (ret < 0)
			goto out;
	}
	if (pipe2(status_pipe, O_CLOEXEC) < 0 || pipe2(release_pipe, O_CLOEXEC) < 0) {
		ret = log_errno("pipe");
		goto out;
	}
	ret = lifeline_check();
	if (ret < 0)
		goto out;
	fflush(NULL);
	init = clone3_pid(CLONE_NEWPID | CLONE_NEWNS, 0);
	if (init < 0) {
		ret = log_errno("creating a PID namespace");
		goto out;
	}
	if (init == 0) {
		close(status_pipe[0]);
		close(release_pipe[1]);
		init_main(&tr, opts->dir ? opts->dir : img->path, status_pipe[1], release_pipe[0],
			  !opts->detach || opts->die_with_caller);
	}
	close(status_pipe[1]);
	close(release_pipe[0]);
	status_pipe[1] = release_pipe[0] = -1;
	close_each(tr.fill_fds, tr.nr);
	close_each(tr.lazy_fds, tr.nr);
	close_each(&tr.lazy_hold[0], 1);
	close_each(&tr.lazy_done[0], 1);
	if (tr.lazy) {
		ret = lazy_start(&tr, opts->lazy_no_record ? NULL : opts->dir ? opts->dir : img->path,
				 opts->pages, &server);
		if (ret == 0)
			log_info("lazy restore: the page server is pid %d", server);
		/* on failure the helpers see EOF or an error and fail: init says why */
	}
	/*
	 * The source's threads start only now: init came from a raw clone3,
	 * which, unlike glibc's fork(), copies whatever malloc lock another
	 * thread holds at that moment into a process that will never see it
	 * released.  A failure here makes the restorers trap (an error, or EOF
	 * on their sockets): init reports it and ends the tree.
	 */
	if (opts->pages) {
		/* lazy: fill decodes only what lies outside lazy memory, when it knows the runs */
		ret = opts->pages->start && !tr.lazy ? opts->pages->start(opts->pages->arg) : 0;
		if (ret == 0)
			fill_from_source(&tr, opts->pages);
		close_each(tr.fill_socks, tr.nr); /* the restorers have their word, or EOF */
	}
	ret = wait_init(status_pipe[0], 'o', true);
	if (ret < 0)
		goto abort;
	fault_point("restore-built");
	program = program_pid(init);
	log_debug("pid %d restored as %d in %.1f ms", img->proc.pid, program, now_ms() - t0);
	if (opts->ret_init_pid)
		*opts->ret_init_pid = init;
	if (opts->ret_program_pid)
		*opts->ret_program_pid = program;
	if (tree_has_gpu(&tr)) {
		double t1 = now_ms();

		/*
		 * Only the drivers' restore threads and libthaw's GPU weights
		 * threads run (or, for a snapshot that does not name them, the
		 * programs' CUDA calls block in the driver) until this unlocks
		 * every GPU process and has its weights loaded.
		 */
		ret = restore_gpus(&tr, init, program, &cuda);
		if (ret < 0) {
			log_error("snapshot %s: the CUDA restore failed", opts->dir);
			goto abort;
		}
		log_info("pid %d: restored in %.1f ms (engine %.1f ms, CUDA %.1f ms%s)",
			 img->proc.pid, now_ms() - t0, t1 - t0, now_ms() - t1,
			 gpu_hold(&tr) ? ", only the driver's restore thread running" : "");
	}
	/*
	 * The commit: only while the command is there to report it, and with
	 * the pidfile in place before anything of the program runs.
	 */
	ret = lifeline_check();
	if (ret < 0)
		goto abort;
	if (opts->pidfile && program <= 0) {
		/* "0" in a pidfile would read as "kill my group" */
		log_warn("pid %d: the restored program ended before its PID could be read; "
			 "no pidfile written", img->proc.pid);
	} else if (opts->pidfile) {
		ret = write_pidfile(opts->pidfile, program);
		if (ret < 0)
			goto abort;
		pidfile_written = true;
	}
	/* what the program wrote so far: its first output after the release ends a recording */
	if (tr.lazy)
		wchar0 = lazy_written_bytes(program);
	if (write(release_pipe[1], "r", 1) != 1) {
		ret = log_errno("pid %d: releasing the restored threads", program);
		goto abort;
	}
	fault_point("restore-committed");
	/* the command may be gone by now, but the program runs: too late to go back */
	ret = wait_init(status_pipe[0], 'g', false);
	if (ret < 0)
		goto abort;
	/* the program runs: the page server copies the rest in the background */
	if (tr.lazy && lazy_server_go(tr.lazy_go[1], program, wchar0) < 0)
		log_warn("lazy restore: could not tell the page server that the program runs");
	close_each(&tr.lazy_go[1], 1);
	if (opts->on_restored)
		opts->on_restored(opts->on_restored_arg);
	if (opts->detach) {
		*ret_status = 0;
		goto out;
	}
	if (img != opts->image)
		image_free(img);
	img = NULL;
	tree_free(&tr);
	install_forwarding(init);
	ret = wait_program(init, &status);
	if (ret == 0)
		*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	goto out;
abort:
	/* init, and with it everything in its namespace */
	kill(init, SIGKILL);
	while (waitpid(init, &status, 0) < 0 && errno == EINTR)
		;
	if (pidfile_written)
		unlink(opts->pidfile);
	log_error("snapshot %s: restore failed; nothing of it runs, the snapshot is unchanged",
		  opts->dir);
out:
	close_each(status_pipe, 2);
	close_each(release_pipe, 2);
	gpu_restore_cancel(&cuda);
	tree_free(&tr);
	if (img != opts->image)
		image_free(img);
	return ret;
}
