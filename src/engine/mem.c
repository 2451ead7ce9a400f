/*
 * mem.c - dump the address space: classify every VMA and save the pages
 * that only the process holds.
 *
 * Which pages (research/cr-engine.md §2b): pagemap tells for each page
 * whether it is present or swapped and whether it is a page-cache page of
 * the file.  Private anonymous memory and the copied-on-write pages of
 * private file mappings are saved; clean file pages come back from the file;
 * never-touched pages stay untouched.  A touched page that is all zero is
 * not stored: in anonymous memory it comes back untouched, in a private file
 * mapping as a zero run (the file's bytes would be wrong).  Shared anonymous
 * memory and memfds are dumped once per object by shmem.c; shared file
 * mappings live in their file.  Guard regions (MADV_GUARD_INSTALL) are seen
 * only in pagemap and recorded to be installed again.  A child's page whose
 * frame number is its parent's at the same address (one page, shared
 * copy-on-write since a fork) is marked IMAGE_RUN_INHERITED, so that a
 * restore can share it again (docs/trees.md).  process_vm_readv pins what it
 * reads, and the kernel gives a process its own copy of a shared page it
 * pins: pages another process maps too (pagemap's exclusive bit clear) are
 * read through /proc/PID/mem instead, which does not pin, so that a dump
 * leaves the sharing of processes that run on as it was.
 *
 * The address space is walked on the calling thread (pagemap, guard
 * regions); the pages it finds go in batches of up to 1 MiB to copiers,
 * threads of their own (copier_main): one process_vm_readv per batch (a
 * mapping without PROT_READ falls back to /proc/PID/mem, which reads through
 * the protection), zero pages split off, each page's crc word, one pwritev
 * into pages.img.  A batch stays in its copier's cache from the read to the
 * write, so each byte crosses memory once on its way in and once out (with
 * 64 MiB batches it crossed four times: read, zero check, crc, write).
 * Where a batch's bytes go in pages.img is decided in batch order (the
 * copiers take turns for that bookkeeping only), so the file and its runs
 * are what one thread would write; the reads, sums and writes overlap.
 */
#define LOG_TAG "mem"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/io.h"
#include "base/lifeline.h"
#include "base/log.h"
#include "base/progress.h"
#include "engine-internal.h"
#include "fds.h"
#include "proc.h"
#include "shmem.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_GUARD (1ull << 58)
#define PM_EXCLUSIVE (1ull << 56) /* mapped by this process only */

#define PAGEMAP_BATCH 16384 /* pagemap entries per read */
#define BATCH_PAGES 256 /* a copier's batch: 1 MiB */
#define BATCH_PIECES 64 /* separate runs of pages in one batch */
#define MAX_COPIERS 4
#define QUEUE_LEN 8 /* batches waiting for a copier */
#define RING 16 /* batches placed in pages.img and not yet all written before them */
#define THREADED_BYTES (4u << 20) /* less than this to copy: no threads */

struct piece {
	uint64_t addr;
	uint32_t npages;
	uint32_t vma; /* index in img->vmas */
	uint32_t flags; /* IMAGE_RUN_INHERITED or 0, and PIECE_MAPPED_AGAIN */
};

/*
 * The pages are mapped by another process too (copy-on-write since a fork):
 * read through /proc/PID/mem, since process_vm_readv pins what it reads and
 * the kernel gives a process its own copy of a shared page it pins.
 */
#define PIECE_MAPPED_AGAIN (1u << 31)

struct batch {
	uint64_t seq;
	uint32_t nr_pieces, npages;
	struct piece pieces[BATCH_PIECES];
};

/* A copier's own memory: the batch's bytes, page words and what it writes. */
struct copier_buf {
	unsigned char *data; /* BATCH_PAGES pages */
	uint32_t words[BATCH_PAGES]; /* crc32c_page_word of each non-zero page */
	bool zero[BATCH_PAGES];
	struct iovec remote[BATCH_PIECES];
	struct iovec local[BATCH_PIECES];
	struct iovec out[BATCH_PAGES / 2 + 1]; /* non-zero runs alternate with zero ones */
};

struct copiers {
	pid_t pid;
	int mem_fd;
	struct image *img;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* anything below */
	struct batch queue[QUEUE_LEN];
	uint32_t head, count;
	bool closing;
	uint64_t next_seq; /* the next batch queued */
	uint64_t turn; /* the batch placed next */
	uint64_t written; /* batches before this are written and reported */
	uint64_t ring_bytes[RING]; /* bytes of each placed batch */
	bool ring_done[RING];
	int err; /* the first error: everything after it is skipped */
	uint32_t nr_threads;
	pthread_t threads[MAX_COPIERS];
	struct copier_buf *inline_buf; /* without threads, the caller copies */
	struct batch filling; /* being gathered by the walker */
};

/*
 * The parent's side, for pages shared copy-on-write since a fork: its
 * mappings and pagemap (a page whose frame number is the same in both is
 * one page, mapped by both).
 */
struct parent_view {
	pid_t pid; /* 0: none (the tree's root) */
	int pagemap_fd;
	struct proc_map *maps;
	size_t nr_maps;
	uint64_t *pm; /* its pagemap entries beside mem_dump.pm */
};

struct mem_dump {
	struct frozen *fz;
	struct image *img;
	int pagemap_fd;
	int mem_fd;
	struct parent_view parent;
	const struct proc_map *last_file; /* the last VMA mapped from a file, and its index */
	int32_t last_file_idx;
	uint64_t *pm; /* pagemap entries of one read */
	struct copiers *cp; /* NULL for an image that takes no pages */
};

static bool page_is_zero(const unsigned char *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	size_t i;

	for (i = 0; i < IMAGE_PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

/* The batch's pages into cb->data, in piece order. */
static int read_batch(struct copiers *cp, const struct batch *b, struct copier_buf *cb)
{
	size_t len = 0, done = 0, at = 0;
	uint32_t k, nr = 0;
	ssize_t n;

	for (k = 0; k < b->nr_pieces; k++) {
		size_t plen = (size_t)b->pieces[k].npages * IMAGE_PAGE_SIZE;

		if (!(b->pieces[k].flags & PIECE_MAPPED_AGAIN)) {
			cb->remote[nr] = (struct iovec){ (void *)b->pieces[k].addr, plen };
			cb->local[nr++] = (struct iovec){ cb->data + at, plen };
			len += plen;
		}
		at += plen;
	}
	n = nr ? process_vm_readv(cp->pid, cb->local, nr, cb->remote, nr, 0) : 0;
	for (k = 0, at = 0; n == (ssize_t)len && k < b->nr_pieces; k++) {
		size_t plen = (size_t)b->pieces[k].npages * IMAGE_PAGE_SIZE;

		if ((b->pieces[k].flags & PIECE_MAPPED_AGAIN) &&
		    pread(cp->mem_fd, cb->data + at, plen, (off_t)b->pieces[k].addr) != (ssize_t)plen)
			break;
		at += plen;
	}
	if (n == (ssize_t)len && k == b->nr_pieces)
		return 0;
	/* unreadable protection, or a partial read: go through /proc/PID/mem */
	for (k = 0; k < b->nr_pieces; k++) {
		uint64_t addr = b->pieces[k].addr;
		size_t plen = (size_t)b->pieces[k].npages * IMAGE_PAGE_SIZE;

		n = pread(cp->mem_fd, cb->data + done, plen, (off_t)addr);
		if (n < 0)
			return log_errno("pid %d: reading memory 0x%llx-0x%llx", cp->pid,
					 (unsigned long long)addr, (unsigned long long)(addr + plen));
		if (n != (ssize_t)plen) {
			log_error("pid %d: short read of memory 0x%llx-0x%llx", cp->pid,
				  (unsigned long long)addr, (unsigned long long)(addr + plen));
			return -EIO;
		}
		done += plen;
	}
	return 0;
}

/*
 * Records the batch's pages in the image (on its turn: in batch order),
 * splitting off zero pages, and lists the non-zero runs to write in
 * cb->out; *ret_off is where they go in pages.img, one after the other.
 */
static int place_batch(struct copiers *cp, const struct batch *b, struct copier_buf *cb,
		       int *ret_nr_out, uint64_t *ret_off, uint64_t *ret_bytes)
{
	uint32_t k, p = 0;
	int nr_out = 0, ret;

	*ret_bytes = 0;
	for (k = 0; k < b->nr_pieces; k++) {
		const struct piece *pc = &b->pieces[k];
		struct image_vma *v = &cp->img->vmas[pc->vma];
		uint32_t first = p, end = p + pc->npages;

		while (p < end) {
			uint64_t addr = pc->addr + (uint64_t)(p - first) * IMAGE_PAGE_SIZE;
			bool zero = cb->zero[p];
			uint32_t q = p + 1, n;
			uint64_t off;

			while (q < end && cb->zero[q] == zero)
				q++;
			n = q - p;
			if (zero) {
				v->pages_zero += n;
				/* anonymous memory comes back untouched; a file's page would be wrong */
				ret = v->kind == IMAGE_VMA_FILE_PRIVATE
					      ? image_add_pages(cp->img, addr, NULL, n, IMAGE_RUN_ZERO)
					      : 0;
			} else {
				ret = image_reserve_pages(cp->img, addr, n,
							  pc->flags & ~PIECE_MAPPED_AGAIN,
							  cb->words + p, &off);
				if (ret == 0 && !*ret_bytes)
					*ret_off = off;
				cb->out[nr_out++] = (struct iovec){ cb->data + (size_t)p * IMAGE_PAGE_SIZE,
								    (size_t)n * IMAGE_PAGE_SIZE };
				*ret_bytes += (uint64_t)n * IMAGE_PAGE_SIZE;
				v->pages_dumped += n;
			}
			if (ret < 0)
				return ret;
			p = q;
		}
	}
	*ret_nr_out = nr_out;
	return 0;
}

static void set_err(struct copiers *cp, int err)
{
	if (err < 0 && !cp->err)
		cp->err = err;
}

/*
 * Batch b from reading to reporting its bytes written; called with cp->lock
 * held.  After an error (or without a buffer) it only takes its turn, so
 * that the batches after it are not waited for.
 */
static void copy_batch(struct copiers *cp, const struct batch *b, struct copier_buf *cb)
{
	uint64_t off = 0, bytes = 0, report = 0;
	bool skip = cp->err != 0 || !cb;
	int nr_out = 0, ret = 0;
	uint32_t i;

	pthread_mutex_unlock(&cp->lock);
	if (!skip)
		ret = read_batch(cp, b, cb);
	for (i = 0; !skip && ret == 0 && i < b->npages; i++) {
		const unsigned char *page = cb->data + (size_t)i * IMAGE_PAGE_SIZE;

		cb->zero[i] = page_is_zero(page);
		if (!cb->zero[i])
			cb->words[i] = crc32c_page_word(page);
	}
	pthread_mutex_lock(&cp->lock);
	/* its turn; no more than RING batches placed ahead of what is written */
	while (cp->turn != b->seq || cp->turn - cp->written >= RING)
		pthread_cond_wait(&cp->changed, &cp->lock);
	set_err(cp, ret);
	if (!skip && !cp->err)
		set_err(cp, place_batch(cp, b, cb, &nr_out, &off, &bytes));
	skip = cp->err != 0;
	cp->turn++;
	pthread_cond_broadcast(&cp->changed);
	pthread_mutex_unlock(&cp->lock);

	ret = 0;
	if (nr_out && !skip) {
		ret = io_pwritev_all(image_pages_fd(cp->img), cb->out, nr_out, off);
		if (ret < 0)
			log_error("pid %d: writing %llu bytes of pages at %llu of pages.img: %s",
				  cp->pid, (unsigned long long)bytes, (unsigned long long)off,
				  strerror(-ret));
	}
	progress_add((uint64_t)b->npages * IMAGE_PAGE_SIZE);

	pthread_mutex_lock(&cp->lock);
	set_err(cp, ret);
	cp->ring_bytes[b->seq % RING] = bytes;
	cp->ring_done[b->seq % RING] = true;
	while (cp->written < cp->turn && cp->ring_done[cp->written % RING]) {
		cp->ring_done[cp->written % RING] = false;
		report += cp->ring_bytes[cp->written % RING];
		cp->written++;
	}
	if (report && !cp->err)
		set_err(cp, image_pages_written(cp->img, report));
	pthread_cond_broadcast(&cp->changed);
}

static struct copier_buf *copier_buf_new(void)
{
	struct copier_buf *cb = calloc(1, sizeof(*cb));

	if (cb)
		cb->data = malloc((size_t)BATCH_PAGES * IMAGE_PAGE_SIZE);
	if (cb && !cb->data) {
		free(cb);
		cb = NULL;
	}
	return cb;
}

static void copier_buf_free(struct copier_buf *cb)
{
	if (cb)
		free(cb->data);
	free(cb);
}

static void *copier_main(void *arg)
{
	struct copiers *cp = arg;
	struct copier_buf *cb = copier_buf_new();
	struct batch b;

	pthread_mutex_lock(&cp->lock);
	if (!cb) {
		log_error("pid %d: out of memory for a page copier", cp->pid);
		set_err(cp, -ENOMEM);
	}
	for (;;) {
		while (!cp->count && !cp->closing)
			pthread_cond_wait(&cp->changed, &cp->lock);
		if (!cp->count)
			break;
		b = cp->queue[cp->head];
		cp->head = (cp->head + 1) % QUEUE_LEN;
		cp->count--;
		pthread_cond_broadcast(&cp->changed);
		copy_batch(cp, &b, cb);
	}
	pthread_mutex_unlock(&cp->lock);
	copier_buf_free(cb);
	return NULL;
}

static uint32_t copier_threads(uint64_t bytes)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (bytes < THREADED_BYTES || cpus < 2)
		return 0;
	return cpus > MAX_COPIERS ? MAX_COPIERS : (uint32_t)cpus;
}

/* Copiers for about bytes of pages (none for a few: the caller copies then). */
static struct copiers *copiers_new(struct mem_dump *md, uint64_t bytes)
{
	struct copiers *cp = calloc(1, sizeof(*cp));
	uint32_t want = copier_threads(bytes);
	sigset_t all, old;

	if (!cp)
		return NULL;
	cp->pid = md->fz->pid;
	cp->mem_fd = md->mem_fd;
	cp->img = md->img;
	pthread_mutex_init(&cp->lock, NULL);
	pthread_cond_init(&cp->changed, NULL);
	/* signals stay with the thread that handles them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (cp->nr_threads = 0; cp->nr_threads < want; cp->nr_threads++)
		if (pthread_create(&cp->threads[cp->nr_threads], NULL, copier_main, cp))
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!cp->nr_threads) {
		cp->inline_buf = copier_buf_new();
		if (!cp->inline_buf) {
			pthread_cond_destroy(&cp->changed);
			pthread_mutex_destroy(&cp->lock);
			free(cp);
			return NULL;
		}
	}
	return cp;
}

/* Hands the gathered batch on: to the queue, or copied here without threads. */
static int flush_batch(struct copiers *cp)
{
	struct batch *b = &cp->filling;
	int err;

	if (!b->nr_pieces)
		return 0;
	pthread_mutex_lock(&cp->lock);
	b->seq = cp->next_seq++;
	if (cp->inline_buf) {
		copy_batch(cp, b, cp->inline_buf);
	} else {
		while (cp->count == QUEUE_LEN)
			pthread_cond_wait(&cp->changed, &cp->lock);
		cp->queue[(cp->head + cp->count) % QUEUE_LEN] = *b;
		cp->count++;
		pthread_cond_broadcast(&cp->changed);
	}
	err = cp->err;
	pthread_mutex_unlock(&cp->lock);
	b->nr_pieces = b->npages = 0;
	return err;
}

/* npages at addr of VMA vma, into batches; returns the first error of any copier. */
static int queue_pages(struct copiers *cp, uint32_t vma, uint64_t addr, size_t npages,
		       uint32_t flags)
{
	int ret = 0;

	while (ret == 0 && npages) {
		struct batch *b = &cp->filling;
		size_t n = BATCH_PAGES - b->npages;

		if (n > npages)
			n = npages;
		b->pieces[b->nr_pieces++] = (struct piece){ addr, (uint32_t)n, vma, flags };
		b->npages += (uint32_t)n;
		addr += n * IMAGE_PAGE_SIZE;
		npages -= n;
		if (b->npages == BATCH_PAGES || b->nr_pieces == BATCH_PIECES)
			ret = flush_batch(cp);
	}
	return ret;
}

/*
 * The last batch, then every copier done; the first error of any.  After
 * the caller's own error (err), what is queued is only passed over.
 */
static int copiers_finish(struct copiers *cp, int err)
{
	uint32_t i;
	int ret;

	pthread_mutex_lock(&cp->lock);
	set_err(cp, err);
	pthread_mutex_unlock(&cp->lock);
	ret = flush_batch(cp);
	pthread_mutex_lock(&cp->lock);
	cp->closing = true;
	pthread_cond_broadcast(&cp->changed);
	pthread_mutex_unlock(&cp->lock);
	for (i = 0; i < cp->nr_threads; i++)
		pthread_join(cp->threads[i], NULL);
	if (!ret)
		ret = cp->err;
	copier_buf_free(cp->inline_buf);
	pthread_cond_destroy(&cp->changed);
	pthread_mutex_destroy(&cp->lock);
	free(cp);
	return ret;
}

static int add_guard(struct image *img, uint64_t start, uint64_t end)
{
	struct image_guard *g;

	if (img->nr_guards && img->guards[img->nr_guards - 1].end == start) {
		img->guards[img->nr_guards - 1].end = end;
		return 0;
	}
	g = image_new_guard(img);
	if (!g)
		return -ENOMEM;
	g->start = start;
	g->end = end;
	return 0;
}

#define PM_PFN_MASK ((1ull << 55) - 1)

/*
 * Private anonymous memory that a child can inherit from its parent at
 * restore (restore.c, staging): plain, not a stack, not locked, not
 * droppable.  The same test on both sides of a fork.
 */
static bool cow_plain(const struct proc_map *m)
{
	if (m->ino || m->is_shared || !m->has_smaps)
		return false;
	if (m->name[0] == '[' && strcmp(m->name, "[heap]") && strncmp(m->name, "[anon:", 6))
		return false;
	return !(m->vmflags & (PROC_VMF_GD | PROC_VMF_LO | PROC_VMF_LF | PROC_VMF_DP | PROC_VMF_IO |
			       PROC_VMF_PF | PROC_VMF_HT | PROC_VMF_SS | PROC_VMF_SL));
}

/*
 * Where in VMA m the process may share pages with its parent: from m's
 * start to the end of the parent's mapping that holds that address, when
 * both are plain private anonymous memory alike in MAP_NORESERVE.  0: nowhere.
 */
static uint64_t parent_limit(const struct parent_view *pv, const struct proc_map *m)
{
	size_t i;

	if (!pv->pid || !cow_plain(m))
		return 0;
	for (i = 0; i < pv->nr_maps; i++) {
		const struct proc_map *p = &pv->maps[i];

		if (p->start <= m->start && m->start < p->end)
			return cow_plain(p) && !((p->vmflags ^ m->vmflags) & PROC_VMF_NR)
				       ? (p->end < m->end ? p->end : m->end)
				       : 0;
	}
	return 0;
}

/* Page i of the read at addr: the parent maps the same frame (pm[i] is ours). */
static bool page_shared(const struct mem_dump *md, uint64_t e, size_t i, uint64_t addr,
			uint64_t limit)
{
	uint64_t pe;

	if (addr + i * IMAGE_PAGE_SIZE >= limit || !(e & PM_PRESENT) || !(e & PM_PFN_MASK))
		return false;
	pe = md->parent.pm[i];
	return (pe & PM_PRESENT) && !(pe & PM_FILE) && (pe & PM_PFN_MASK) == (e & PM_PFN_MASK);
}

/* A present page that another process maps too (a swapped one is read from swap: no pin). */
static bool mapped_again(uint64_t e)
{
	return (e & PM_PRESENT) && !(e & PM_EXCLUSIVE);
}

/* Walks pagemap over VMA vi and queues the pages the process owns. */
static int dump_private_pages(struct mem_dump *md, uint32_t vi, uint64_t limit)
{
	struct image_vma *v = &md->img->vmas[vi];
	uint64_t addr = v->start;
	int ret;

	while (addr < v->end) {
		size_t npages = (size_t)((v->end - addr) / IMAGE_PAGE_SIZE), i = 0;
		ssize_t n;

		if (npages > PAGEMAP_BATCH)
			npages = PAGEMAP_BATCH;
		n = pread(md->pagemap_fd, md->pm, npages * 8, (off_t)(addr / IMAGE_PAGE_SIZE * 8));
		if (n != (ssize_t)(npages * 8))
			return log_errno("pid %d: reading pagemap at 0x%llx", md->fz->pid,
					 (unsigned long long)addr);
		if (addr < limit) {
			size_t pn = (size_t)((limit - addr) / IMAGE_PAGE_SIZE);

			if (pn > npages)
				pn = npages;
			n = pread(md->parent.pagemap_fd, md->parent.pm, pn * 8,
				  (off_t)(addr / IMAGE_PAGE_SIZE * 8));
			if (n != (ssize_t)(pn * 8))
				return log_errno("pid %d: reading the pagemap of its parent %d at 0x%llx",
						 md->fz->pid, md->parent.pid, (unsigned long long)addr);
		}
		while (i < npages) {
			uint64_t e = md->pm[i];
			bool shared;
			size_t j;

			if (e & PM_GUARD) {
				ret = add_guard(md->img, addr + i * IMAGE_PAGE_SIZE,
						addr + (i + 1) * IMAGE_PAGE_SIZE);
				if (ret < 0)
					return ret;
			}
			/* a guard marker reads as swapped too: it holds no data */
			if (!(e & (PM_PRESENT | PM_SWAPPED)) || (e & (PM_FILE | PM_GUARD))) {
				if ((e & PM_FILE) && (e & PM_PRESENT))
					v->pages_file++;
				i++;
				continue;
			}
			shared = page_shared(md, e, i, addr, limit);
			for (j = i + 1; j < npages; j++) {
				uint64_t f = md->pm[j];

				if (!(f & (PM_PRESENT | PM_SWAPPED)) || (f & (PM_FILE | PM_GUARD)) ||
				    page_shared(md, f, j, addr, limit) != shared ||
				    mapped_again(f) != mapped_again(e))
					break;
			}
			/* a fingerprint image (verify.c) takes the layout and guards, no pages */
			if (md->cp) {
				ret = queue_pages(md->cp, vi, addr + i * IMAGE_PAGE_SIZE, j - i,
						  (shared ? IMAGE_RUN_INHERITED : 0) |
							  (mapped_again(e) ? PIECE_MAPPED_AGAIN : 0));
				if (ret < 0)
					return ret;
			}
			i = j;
		}
		addr += npages * IMAGE_PAGE_SIZE;
	}
	return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static uint32_t madv_bits(uint32_t vmf)
{
	uint32_t m = 0;

	m |= (vmf & PROC_VMF_DC) ? IMAGE_MADV_DONTFORK : 0;
	m |= (vmf & PROC_VMF_DD) ? IMAGE_MADV_DONTDUMP : 0;
	m |= (vmf & PROC_VMF_WF) ? IMAGE_MADV_WIPEONFORK : 0;
	m |= (vmf & PROC_VMF_HG) ? IMAGE_MADV_HUGEPAGE : 0;
	m |= (vmf & PROC_VMF_NH) ? IMAGE_MADV_NOHUGEPAGE : 0;
	m |= (vmf & PROC_VMF_MG) ? IMAGE_MADV_MERGEABLE : 0;
	m |= (vmf & PROC_VMF_SR) ? IMAGE_MADV_SEQUENTIAL : 0;
	m |= (vmf & PROC_VMF_RR) ? IMAGE_MADV_RANDOM : 0;
	return m;
}

/* Decides what a VMA is and records the files and objects behind it. */
static int classify(struct mem_dump *md, const struct proc_map *m, struct image_vma *v)
{
	pid_t pid = md->fz->pid;
	char path[96];
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	v->file = -1;
	v->shmem = -1;
	if (m->vmflags & (PROC_VMF_IO | PROC_VMF_PF)) {
		if (strcmp(m->name, "[vvar]") && strcmp(m->name, "[vvar_vclock]")) {
			log_error("pid %d: mapping 0x%llx-0x%llx (%s) is device memory: cannot dump it",
				  pid, (unsigned long long)m->start, (unsigned long long)m->end,
				  m->name);
			return -ENOTSUP;
		}
	}
	if (m->vmflags & PROC_VMF_SL) {
		log_error("pid %d: mapping 0x%llx-0x%llx (%s) is sealed (mseal): not supported",
			  pid, (unsigned long long)m->start, (unsigned long long)m->end, m->name);
		return -ENOTSUP;
	}
	if (m->vmflags & (PROC_VMF_HT | PROC_VMF_SS)) {
		log_error("pid %d: mapping 0x%llx-0x%llx (%s) is %s: not supported", pid,
			  (unsigned long long)m->start, (unsigned long long)m->end, m->name,
			  (m->vmflags & PROC_VMF_HT) ? "hugetlbfs memory" : "a shadow stack");
		return -ENOTSUP;
	}
	if (!strcmp(m->name, "[vdso]"))
		v->kind = IMAGE_VMA_VDSO;
	else if (!strcmp(m->name, "[vvar]"))
		v->kind = IMAGE_VMA_VVAR;
	else if (!strcmp(m->name, "[vvar_vclock]"))
		v->kind = IMAGE_VMA_VVAR_VCLOCK;
	else if (!strcmp(m->name, "[vsyscall]"))
		v->kind = IMAGE_VMA_VSYSCALL;
	else if (m->is_shared && m->ino &&
		 (starts_with(m->name, "/memfd:") || starts_with(m->name, "[anon_shmem:") ||
		  (m->is_deleted && !strcmp(m->name, "/dev/zero")) ||
		  starts_with(m->name, IMAGE_SHMEM_DEV_SHM) || starts_with(m->name, "/SYSV"))) {
		v->kind = IMAGE_VMA_SHMEM;
		ret = shmem_dump(md->img, pid, path, m->ino);
		if (ret < 0)
			return ret;
		v->shmem = ret;
	} else if (!m->is_shared && m->ino && starts_with(m->name, "/memfd:")) {
		/* a private mapping of a memfd: copy-on-write over the memfd itself */
		v->kind = IMAGE_VMA_FILE_PRIVATE;
		ret = shmem_dump(md->img, pid, path, m->ino);
		if (ret < 0)
			return ret;
		v->shmem = ret;
	} else if (m->ino == 0) {
		v->kind = IMAGE_VMA_ANON;
	} else {
		v->kind = m->is_shared ? IMAGE_VMA_FILE_SHARED : IMAGE_VMA_FILE_PRIVATE;
		/* a library is mapped 4 or 5 times in a row: one stat of it will do */
		if (md->last_file && md->last_file->ino == m->ino &&
		    md->last_file->dev_major == m->dev_major &&
		    md->last_file->dev_minor == m->dev_minor &&
		    md->last_file->is_deleted == m->is_deleted && !strcmp(md->last_file->name, m->name)) {
			v->file = md->last_file_idx;
			return 0;
		}
		ret = files_add(md->img, pid, path, m->name, m->is_deleted);
		if (ret < 0)
			return ret;
		v->file = ret;
		md->last_file = m;
		md->last_file_idx = ret;
	}
	return 0;
}

/* The parent's mappings and pagemap, when pages may be shared with it. */
static int parent_open(struct parent_view *pv, pid_t child)
{
	char path[64];
	int ret;

	if (!pv->pid)
		return 0;
	ret = proc_read_smaps(pv->pid, &pv->maps, &pv->nr_maps);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pv->pid);
	pv->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	pv->pm = malloc(PAGEMAP_BATCH * 8);
	if (pv->pagemap_fd < 0)
		return log_errno("pid %d: opening the pagemap of its parent %d", child, pv->pid);
	return pv->pm ? 0 : -ENOMEM;
}

static void parent_close(struct parent_view *pv)
{
	if (pv->pagemap_fd >= 0)
		close(pv->pagemap_fd);
	free(pv->pm);
	proc_maps_free(pv->maps, pv->nr_maps);
}

int mem_dump(struct frozen *fz, struct image *img, pid_t parent)
{
	struct mem_dump md = { .fz = fz, .img = img, .pagemap_fd = -1, .mem_fd = -1,
			       .parent = { .pid = parent, .pagemap_fd = -1 } };
	struct proc_map *maps = NULL;
	uint32_t *walk = NULL, nr_walk = 0, k;
	uint64_t *limits = NULL;
	uint64_t bytes = 0;
	size_t n = 0, i;
	char path[64];
	double t0 = now_ms(), t1 = t0;
	uint32_t copiers = 0;
	int ret;

	ret = proc_read_smaps(fz->pid, &maps, &n);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", fz->pid);
	md.pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", fz->pid);
	md.mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (md.pagemap_fd < 0 || md.mem_fd < 0) {
		ret = log_errno("pid %d: opening pagemap and mem", fz->pid);
		goto out;
	}
	/* a fingerprint image (verify.c) takes no pages, shared or not */
	if (!image_takes_pages(img))
		md.parent.pid = 0;
	ret = parent_open(&md.parent, fz->pid);
	if (ret < 0)
		goto out;
	md.pm = malloc(PAGEMAP_BATCH * 8);
	walk = malloc((n + 1) * sizeof(*walk));
	limits = malloc((n + 1) * sizeof(*limits));
	if (!md.pm || !walk || !limits) {
		ret = -ENOMEM;
		goto out;
	}
	/* the VMAs first: the copiers find theirs in img->vmas, which must not move then */
	for (i = 0; i < n; i++) {
		const struct proc_map *m = &maps[i];
		struct image_vma *v;

		/* the kernel puts [vsyscall] in every process at a fixed address */
		if (!strcmp(m->name, "[vsyscall]"))
			continue;
		v = image_new_vma(img);
		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		v->start = m->start;
		v->end = m->end;
		v->prot = m->prot;
		v->pgoff = m->pgoff;
		v->madv = madv_bits(m->vmflags);
		v->flags = ((m->vmflags & PROC_VMF_GD) ? IMAGE_VMA_GROWSDOWN : 0) |
			   ((m->vmflags & PROC_VMF_LO) ? IMAGE_VMA_LOCKED : 0) |
			   ((m->vmflags & PROC_VMF_NR) ? IMAGE_VMA_NORESERVE : 0) |
			   (m->is_shared ? IMAGE_VMA_MAYSHARE : 0) |
			   ((m->is_shared && (m->vmflags & PROC_VMF_MW)) ? IMAGE_VMA_MAYWRITE : 0) |
			   ((m->vmflags & PROC_VMF_DP) ? IMAGE_VMA_DROPPABLE : 0) |
			   ((m->vmflags & PROC_VMF_LF) ? IMAGE_VMA_LOCKONFAULT : 0);
		v->name = strdup(m->name);
		if (!v->name) {
			ret = -ENOMEM;
			goto out;
		}
		ret = classify(&md, m, v);
		if (ret < 0)
			goto out;
		if (v->kind != IMAGE_VMA_FILE_SHARED) /* only a file's open mode limits mprotect */
			v->flags &= ~IMAGE_VMA_MAYWRITE;
		if (v->kind != IMAGE_VMA_ANON && v->kind != IMAGE_VMA_FILE_PRIVATE)
			continue;
		/*
		 * smaps already says when nothing is resident or swapped; large
		 * empty reservations (allocator arenas, CUDA's VA range) are not
		 * walked page by page.  Small ones are, for their guard regions.
		 */
		if (m->has_smaps && !m->rss_kb && !m->swap_kb && m->end - m->start > (64u << 20))
			continue;
		limits[nr_walk] = parent_limit(&md.parent, m);
		walk[nr_walk++] = img->nr_vmas - 1;
		/* what will be read, about: the anonymous and swapped pages */
		bytes += (m->anon_kb + m->swap_kb) << 10;
	}
	t1 = now_ms();
	if (image_takes_pages(img)) {
		progress_more(bytes);
		md.cp = copiers_new(&md, bytes);
		if (!md.cp) {
			ret = -ENOMEM;
			goto out;
		}
		copiers = md.cp->nr_threads;
	}
	for (k = 0; k < nr_walk; k++) {
		ret = lifeline_check(); /* a big dump gives up soon once its command is gone */
		if (ret == 0)
			ret = dump_private_pages(&md, walk[k], limits[k]);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	if (md.cp) {
		int err = copiers_finish(md.cp, ret);

		if (!ret)
			ret = err;
	}
	if (ret == 0)
		log_debug("pid %d: memory in %.1f ms: %zu mappings read and sorted in %.1f ms, "
			  "pages walked and copied in %.1f ms (%u copier threads)",
			  fz->pid, now_ms() - t0, n, t1 - t0, now_ms() - t1, copiers);
	free(walk);
	free(limits);
	free(md.pm);
	parent_close(&md.parent);
	if (md.pagemap_fd >= 0)
		close(md.pagemap_fd);
	if (md.mem_fd >= 0)
		close(md.mem_fd);
	proc_maps_free(maps, n);
	return ret;
}
