/*
 * lazy.c - the page server of a lazy restore (docs/lazy-restore.md).
 *
 * Each restored process's private anonymous memory is registered with a
 * userfaultfd (UFFDIO_REGISTER_MODE_MISSING) by the restorer blob instead of
 * being filled.  The server holds those fds and answers each missing-page
 * fault with the whole page run that holds the page (at most 1 MiB, one
 * crc, read and checked as the eager path does), UFFDIO_ZEROPAGE for pages
 * the snapshot never had; between faults it copies the runs nobody touched,
 * and it exits once every run is in.
 *
 * The process can change its memory under the server: it follows the
 * events that matter (research/cr-engine.md, lazy pages): fork (a new fd
 * for the child, same pages missing), mremap (the pages moved; the server
 * copies what is still missing of them at once, at their new place),
 * madvise(DONTNEED/REMOVE) and munmap (those pages are done: a later fault
 * there must read zeros, as without a server).  A page whose bytes cannot be
 * had (short pages.img, read error, crc mismatch) is poisoned
 * (UFFDIO_POISON): touching it raises SIGBUS; it never reads as zeros.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "engine.h"
#include "lazy.h"
#include "proc.h"

/* Linux 6.6; Debian 12's headers are older */
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1ull << 14)
#endif
#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
	uint64_t mode;
	int64_t updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct uffdio_poison)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define LAZY_FEATURES                                                                              \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |          \
	 UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_POISON)
#define RUN_WORDS (IMAGE_MAX_RUN_PAGES / 64)
#define MAX_SPACES 4096 /* processes the server follows, forks included */
#define MAX_REMAPS 1024 /* mremaps of lazy memory a process may make while it is served */

bool lazy_vma_eligible(const struct image *img, const struct image_vma *v)
{
	uint32_t i;

	if (v->kind != IMAGE_VMA_ANON || (v->flags & (IMAGE_VMA_DROPPABLE | IMAGE_VMA_LOCKED)))
		return false;
	if (!img->has_gpu)
		return true;
	/*
	 * The driver reads the device state back from host memory at restore,
	 * before the program is released: those mappings are filled eagerly.
	 * Without a record of where it is, none of the process's memory is lazy.
	 */
	if (!img->gpu.state_known)
		return false;
	for (i = 0; i < img->gpu.nr_state; i++)
		if (img->gpu.state[i].start < v->end && v->start < img->gpu.state[i].end)
			return false;
	return true;
}

int lazy_uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = LAZY_FEATURES };
	int fd, dev;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		/* vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE: the device may still work */
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			return log_errno("lazy restore: userfaultfd and /dev/userfaultfd");
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd < 0)
			return log_errno("lazy restore: /dev/userfaultfd");
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int ret = log_errno("lazy restore: UFFDIO_API (fork, remap, remove, unmap events "
				    "and poisoning need Linux 6.6)");

		close(fd);
		return ret;
	}
	return fd;
}

int lazy_send_fd(int sock, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte = 'u';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1)
		return log_errno("lazy restore: passing the userfaultfd on");
	return 0;
}

int lazy_recv_fd(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1;

	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (n != 1 || byte != 'u' || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -EPIPE;
	}
	return fd;
}

/* ------------------------------------------------------------ the server */

/* [to, to + len) holds what was at [from, from + len) (UFFD_EVENT_REMAP) */
struct remap {
	uint64_t from, to, len;
};

/* One address space the server fills: a restored process, or a child it forked. */
/* Work refused with EAGAIN (an event to read first), done again after the next read. */
struct retry {
	uint64_t s, len, delta; /* snapshot range [s, s + len), copied to s + delta */
};
#define MAX_RETRIES 1024

struct space {
	int uffd;
	char pages[48]; /* its pages file, as a page source names it: "proc-PID/pages.img" */
	pid_t pid; /* the snapshot's, for messages */
	bool is_child; /* forked while it was served */
	bool gone; /* its memory is gone (exit, exec): nothing more to do */
	const struct image *img;
	uint64_t (*done)[RUN_WORDS]; /* per run, a bit per page that needs nothing more */
	uint64_t left; /* runs with a page still missing */
	uint64_t cursor; /* the background pass's next run */
	struct remap *remaps;
	uint32_t nr_remaps;
	struct retry retries[MAX_RETRIES];
	uint32_t nr_retries;
};

/* Why a run is copied, for the figures the server logs. */
enum copy_why { BY_FAULT, BY_PREFETCH, BY_BACKGROUND };

struct server {
	struct space *spaces;
	uint32_t nr;
	unsigned char *buf; /* one run */
	bool background; /* copy what nobody touched (THAW_LAZY_BACKGROUND=0: not) */
	uint64_t faults, pages[3], pages_poisoned; /* pages[enum copy_why] */
	double t0;
	/* the working set (docs/lazy-restore.md): copied first, or recorded */
	const struct image_workset *prefetch; /* NULL: none */
	uint32_t prefetch_next; /* its next entry */
	const char *record_dir; /* while recording: the snapshot it goes to; else NULL */
	const struct engine_page_source *src; /* the pages come from here (a store); NULL: pages.img */
	struct image *record_img; /* with src: the snapshot's root as read, for its new manifest */
	double record_ms; /* how long after the release it records (or holds the background), at most */
	/*
	 * With a working set, the background pass waits for the start to be
	 * over (the program's first output, or record_ms): on a machine with
	 * few cores its copies took the CPU from the start itself.
	 */
	bool hold_background;
	pid_t program; /* the tree's root as thaw sees it: its first output ends the record */
	uint64_t wchar0; /* its bytes written (/proc/PID/io) at the release; UINT64_MAX: unknown */
	double wchar_at; /* when they were last looked at */
	struct image_workset record; /* what faults brought in so far, in order */
};

static bool page_done(const struct space *sp, uint64_t ri, uint32_t p)
{
	return sp->done[ri][p / 64] >> (p % 64) & 1;
}

static void mark_done(struct space *sp, uint64_t ri, uint32_t p)
{
	sp->done[ri][p / 64] |= 1ull << (p % 64);
}

static bool run_done(const struct space *sp, uint64_t ri)
{
	uint32_t p, n = sp->img->runs[ri].npages;

	for (p = 0; p < n; p++)
		if (!page_done(sp, ri, p))
			return false;
	return true;
}

static void mark_range(struct space *sp, uint64_t ri, uint32_t lo, uint32_t hi)
{
	bool was = run_done(sp, ri);

	for (; lo < hi; lo++)
		mark_done(sp, ri, lo);
	if (!was && run_done(sp, ri))
		sp->left--;
}

/* The run holding snapshot address s, or nr_runs. */
static uint64_t find_run(const struct image *img, uint64_t s)
{
	uint64_t lo = 0, hi = img->nr_runs;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const struct image_page_run *r = &img->runs[mid];

		if (s < r->vaddr)
			hi = mid;
		else if (s >= r->vaddr + (uint64_t)r->npages * IMAGE_PAGE_SIZE)
			lo = mid + 1;
		else
			return mid;
	}
	return img->nr_runs;
}

#define NOWHERE UINT64_MAX /* an address some mremap moved away from: no snapshot page */

/*
 * Where the page at address c now came from: the snapshot address *s (or
 * NOWHERE), and [*wlo, *whi), the snapshot addresses around it that moved
 * with it.
 */
static void translate(const struct space *sp, uint64_t c, uint64_t *s, uint64_t *wlo,
		      uint64_t *whi)
{
	uint64_t lo = 0, hi = UINT64_MAX;
	uint32_t i;

	for (i = sp->nr_remaps; i-- > 0;) {
		const struct remap *m = &sp->remaps[i];

		if ((c < m->to || c - m->to >= m->len) && c >= m->from && c - m->from < m->len) {
			*s = NOWHERE;
			*wlo = *whi = 0;
			return;
		}
		if (c < m->to || c - m->to >= m->len)
			continue;
		if (lo < m->to)
			lo = m->to;
		if (hi > m->to + m->len)
			hi = m->to + m->len;
		c = c - m->to + m->from;
		lo = lo - m->to + m->from;
		hi = hi - m->to + m->from;
	}
	*s = c;
	*wlo = lo;
	*whi = hi;
}

static int zero_page(struct space *sp, uint64_t c)
{
	struct uffdio_zeropage z = { .range = { c, IMAGE_PAGE_SIZE } };
	struct uffdio_range w = { c, IMAGE_PAGE_SIZE };

	if (ioctl(sp->uffd, UFFDIO_ZEROPAGE, &z) < 0 && errno == ESRCH)
		return -ESRCH;
	/* present already (EEXIST): a copy woke the thread, or will; wake it in any case */
	ioctl(sp->uffd, UFFDIO_WAKE, &w);
	return 0;
}

static void poison(struct space *sp, uint64_t c, uint64_t len)
{
	struct uffdio_poison po = { .range = { c, len } };

	while (ioctl(sp->uffd, UFFDIO_POISON, &po) < 0 && errno == EAGAIN)
		po.updated = 0;
}

/*
 * Copies len bytes to c, page by page past pages already there; -ESRCH when
 * the mm is gone, -EAGAIN while an event (fork, mremap ...) is still unread:
 * the kernel refuses copies until the server has read it.
 */
static int copy_in(struct space *sp, uint64_t c, const unsigned char *src, uint64_t len)
{
	while (len) {
		struct uffdio_copy cp = { .dst = c, .src = (uint64_t)(uintptr_t)src, .len = len };
		uint64_t step;

		if (ioctl(sp->uffd, UFFDIO_COPY, &cp) == 0)
			return 0;
		if (errno == ESRCH)
			return -ESRCH;
		if (errno == EAGAIN && cp.copy <= 0)
			return -EAGAIN;
		step = cp.copy > 0 ? (uint64_t)cp.copy : 0;
		/* EEXIST: that page is there (a race with a fault's copy); ENOENT: no longer ours */
		if (errno != EAGAIN && cp.copy <= 0)
			step = IMAGE_PAGE_SIZE;
		if (step > len)
			step = len;
		c += step;
		src += step;
		len -= step;
	}
	return 0;
}

/*
 * Reads run ri and checks its crc, then copies its pages in [lo, hi) (page
 * numbers in the run) that still miss to snapshot address + delta.  A run
 * that cannot be had is poisoned there, and said so once.
 */
static int serve_run(struct server *srv, struct space *sp, uint64_t ri, uint32_t lo, uint32_t hi,
		     uint64_t delta, enum copy_why how)
{
	const struct image_page_run *r = &sp->img->runs[ri];
	uint64_t len = (uint64_t)r->npages * IMAGE_PAGE_SIZE, got = 0, base = r->vaddr + delta;
	const char *why = NULL;
	uint32_t p, q;
	int ret = 0;

	for (p = lo; p < hi && page_done(sp, ri, p); p++)
		;
	if (p == hi)
		return 0; /* nothing left to copy: no need to read the run */
	if (srv->src) {
		ret = srv->src->read(srv->src->arg, sp->pages, r->off, srv->buf, len);
		if (ret < 0)
			why = strerror(-ret); /* the store said which chunk */
		ret = 0;
		got = len;
	}
	while (got < len) {
		ssize_t n = pread(sp->img->pages_fd, srv->buf + got, len - got, (off_t)(r->off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			why = n < 0 ? strerror(errno) : "pages.img is shorter than its index";
			break;
		}
		got += (uint64_t)n;
	}
	if (!why && crc32c_pages(0, srv->buf, len) != r->crc)
		why = "crc mismatch: pages.img is corrupted";
	for (p = lo; p < hi; p = q) {
		if (page_done(sp, ri, p)) {
			q = p + 1;
			continue;
		}
		for (q = p + 1; q < hi && !page_done(sp, ri, q); q++)
			;
		if (why) {
			poison(sp, base + (uint64_t)p * IMAGE_PAGE_SIZE,
			       (uint64_t)(q - p) * IMAGE_PAGE_SIZE);
			srv->pages_poisoned += q - p;
		} else {
			ret = copy_in(sp, base + (uint64_t)p * IMAGE_PAGE_SIZE,
				      srv->buf + (uint64_t)p * IMAGE_PAGE_SIZE,
				      (uint64_t)(q - p) * IMAGE_PAGE_SIZE);
			if (ret < 0)
				return ret; /* -EAGAIN: the pages stay missing, the caller retries */
			srv->pages[how] += q - p;
		}
		mark_range(sp, ri, p, q);
	}
	if (why)
		log_error("pid %d%s: lazy restore: page run 0x%" PRIx64 "-0x%" PRIx64
			  " (%u pages at offset %" PRIu64 " of %s%s): %s; its pages are "
			  "poisoned: the program gets SIGBUS where it touches them",
			  sp->pid, sp->is_child ? " (a child it forked)" : "", r->vaddr,
			  r->vaddr + len, r->npages, r->off, sp->pages,
			  srv->src ? " in the store" : "", why);
	return 0;
}

/* The pages of snapshot range [s, s + len) in run order: calls fn on each run's part. */
static int for_range(struct server *srv, struct space *sp, uint64_t s, uint64_t len,
		     int (*fn)(struct server *, struct space *, uint64_t, uint32_t, uint32_t,
			       uint64_t),
		     uint64_t arg)
{
	const struct image *img = sp->img;
	uint64_t ri = find_run(img, s), end = s + len;
	int ret;

	if (ri == img->nr_runs) {
		/* the first run at or after s */
		uint64_t lo = 0, hi = img->nr_runs;

		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;

			if (img->runs[mid].vaddr < s)
				lo = mid + 1;
			else
				hi = mid;
		}
		ri = lo;
	}
	for (; ri < img->nr_runs && img->runs[ri].vaddr < end; ri++) {
		const struct image_page_run *r = &img->runs[ri];
		uint64_t rend = r->vaddr + (uint64_t)r->npages * IMAGE_PAGE_SIZE;
		uint64_t a = s > r->vaddr ? s : r->vaddr, b = end < rend ? end : rend;

		if (a >= b)
			continue;
		ret = fn(srv, sp, ri, (uint32_t)((a - r->vaddr) / IMAGE_PAGE_SIZE),
			 (uint32_t)((b - r->vaddr + IMAGE_PAGE_SIZE - 1) / IMAGE_PAGE_SIZE), arg);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int drop_part(struct server *srv, struct space *sp, uint64_t ri, uint32_t lo, uint32_t hi,
		     uint64_t arg)
{
	(void)srv;
	(void)arg;
	mark_range(sp, ri, lo, hi);
	return 0;
}

static int copy_part(struct server *srv, struct space *sp, uint64_t ri, uint32_t lo, uint32_t hi,
		     uint64_t delta)
{
	const struct image_page_run *r = &sp->img->runs[ri];
	int ret = serve_run(srv, sp, ri, lo, hi, delta, BY_FAULT);

	if (ret != -EAGAIN)
		return ret;
	if (sp->nr_retries == MAX_RETRIES)
		return -EAGAIN; /* the thread's fault comes back once it is woken by anything */
	sp->retries[sp->nr_retries++] =
		(struct retry){ r->vaddr + (uint64_t)lo * IMAGE_PAGE_SIZE,
				(uint64_t)(hi - lo) * IMAGE_PAGE_SIZE, delta };
	return 0;
}

/* What EAGAIN held back, now that the events before it are read. */
static int run_retries(struct server *srv, struct space *sp)
{
	struct retry todo[MAX_RETRIES];
	uint32_t n = sp->nr_retries, i;
	int ret;

	memcpy(todo, sp->retries, n * sizeof(todo[0]));
	sp->nr_retries = 0;
	for (i = 0; i < n; i++) {
		struct uffdio_range w = { todo[i].s + todo[i].delta, todo[i].len };

		ret = for_range(srv, sp, todo[i].s, todo[i].len, copy_part, todo[i].delta);
		if (ret < 0)
			return ret;
		ioctl(sp->uffd, UFFDIO_WAKE, &w);
	}
	return 0;
}

static int on_fault(struct server *srv, struct space *sp, uint64_t addr)
{
	uint64_t c = addr & ~(uint64_t)(IMAGE_PAGE_SIZE - 1), s, wlo, whi, ri;
	const struct image_page_run *r;
	uint64_t rs, re, lo, hi;
	struct uffdio_range w = { c, IMAGE_PAGE_SIZE };
	int ret;

	srv->faults++;
	translate(sp, c, &s, &wlo, &whi);
	if (s == NOWHERE)
		return zero_page(sp, c);
	ri = find_run(sp->img, s);
	if (ri == sp->img->nr_runs ||
	    page_done(sp, ri, (uint32_t)((s - sp->img->runs[ri].vaddr) / IMAGE_PAGE_SIZE)))
		return zero_page(sp, c); /* never dumped, or dropped since: zeros are right */
	r = &sp->img->runs[ri];
	rs = r->vaddr;
	re = r->vaddr + (uint64_t)r->npages * IMAGE_PAGE_SIZE;
	lo = rs > wlo ? rs : wlo;
	hi = re < whi ? re : whi;
	ret = copy_part(srv, sp, ri, (uint32_t)((lo - rs) / IMAGE_PAGE_SIZE),
			(uint32_t)((hi - rs) / IMAGE_PAGE_SIZE), c - s);
	if (ret < 0)
		return ret;
	ioctl(sp->uffd, UFFDIO_WAKE, &w);
	/* a forked child touches what its parent had: the parent's record says it */
	if (srv->record_dir && !sp->is_child && srv->record.nr < IMAGE_MAX_WORKSET)
		srv->record.entries[srv->record.nr++] = (struct image_workset_entry){
			lo, (uint32_t)((hi - lo) / IMAGE_PAGE_SIZE), sp->pid
		};
	return 0;
}

static int add_space(struct server *srv, int uffd, const struct space *from, const struct image *img,
		     pid_t pid, const char *pages)
{
	struct space *sp;
	uint64_t ri;

	if (srv->nr == MAX_SPACES) {
		log_error("pid %d: lazy restore: more than %d processes to serve", pid, MAX_SPACES);
		return -E2BIG;
	}
	sp = &srv->spaces[srv->nr];
	*sp = (struct space){ .uffd = uffd, .pid = pid, .img = img, .is_child = from != NULL };
	snprintf(sp->pages, sizeof(sp->pages), "%s", pages);
	sp->done = calloc(img->nr_runs ? img->nr_runs : 1, sizeof(*sp->done));
	sp->remaps = calloc(MAX_REMAPS, sizeof(*sp->remaps));
	if (!sp->done || !sp->remaps) {
		free(sp->done);
		free(sp->remaps);
		return -ENOMEM;
	}
	if (from) {
		memcpy(sp->done, from->done, img->nr_runs * sizeof(*sp->done));
		memcpy(sp->remaps, from->remaps, from->nr_remaps * sizeof(*sp->remaps));
		sp->nr_remaps = from->nr_remaps;
		sp->left = from->left;
	} else {
		uint32_t v = 0, p;

		/* runs outside lazy VMAs were filled by the restorer */
		for (ri = 0; ri < img->nr_runs; ri++) {
			const struct image_page_run *r = &img->runs[ri];

			while (v < img->nr_vmas && img->vmas[v].end <= r->vaddr)
				v++;
			if (v == img->nr_vmas || img->vmas[v].start > r->vaddr ||
			    !lazy_vma_eligible(img, &img->vmas[v]))
				for (p = 0; p < r->npages; p++)
					mark_done(sp, ri, p);
		}
		for (ri = 0; ri < img->nr_runs; ri++)
			sp->left += !run_done(sp, ri);
	}
	srv->nr++;
	return 0;
}

static int on_event(struct server *srv, uint32_t k, const struct uffd_msg *m)
{
	struct space *sp = &srv->spaces[k];
	uint64_t s, wlo, whi, len;

	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		return on_fault(srv, sp, m->arg.pagefault.address);
	case UFFD_EVENT_FORK:
		/* sp may move: add_space grows nothing, the array is sized once */
		return add_space(srv, (int)m->arg.fork.ufd, sp, sp->img, sp->pid, sp->pages);
	case UFFD_EVENT_REMAP:
		len = m->arg.remap.len;
		translate(sp, m->arg.remap.from, &s, &wlo, &whi);
		if (s == NOWHERE)
			return 0;
		if (len > whi - s)
			len = whi - s;
		if (sp->nr_remaps == MAX_REMAPS) {
			log_error("pid %d: lazy restore: more than %d mremaps of lazy memory; the "
				  "moved pages are copied, later faults there read zeros",
				  sp->pid, MAX_REMAPS);
		} else {
			sp->remaps[sp->nr_remaps++] =
				(struct remap){ m->arg.remap.from, m->arg.remap.to, len };
		}
		/* what still misses of the moved pages goes to their new place now */
		return for_range(srv, sp, s, len, copy_part, m->arg.remap.to - s);
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		translate(sp, m->arg.remove.start, &s, &wlo, &whi);
		if (s == NOWHERE)
			return 0; /* what was there moved away: the pages went with it */
		len = m->arg.remove.end - m->arg.remove.start;
		if (len > whi - s)
			len = whi - s;
		return for_range(srv, sp, s, len, drop_part, 0);
	default:
		return 0;
	}
}

/* Reads and answers what sp has queued; -ESRCH once its memory is gone. */
static int drain(struct server *srv, uint32_t k)
{
	struct uffd_msg msgs[16];
	ssize_t n;
	int i, ret;

	for (;;) {
		n = read(srv->spaces[k].uffd, msgs, sizeof(msgs));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return run_retries(srv, &srv->spaces[k]);
		if (n < 0)
			return -errno;
		for (i = 0; i < (int)(n / (ssize_t)sizeof(msgs[0])); i++) {
			ret = on_event(srv, k, &msgs[i]);
			if (ret < 0)
				return ret;
		}
	}
}

static void space_gone(struct space *sp)
{
	sp->gone = true;
	close(sp->uffd);
	sp->uffd = -1;
}

/* One run of the background pass of sp; false when it has nothing left. */
static bool background_step(struct server *srv, struct space *sp)
{
	const struct image *img = sp->img;
	int ret;

	while (sp->cursor < img->nr_runs && run_done(sp, sp->cursor))
		sp->cursor++;
	if (sp->cursor == img->nr_runs)
		return false;
	ret = serve_run(srv, sp, sp->cursor, 0, img->runs[sp->cursor].npages, 0, BY_BACKGROUND);
	if (ret < 0 && ret != -EAGAIN) /* EAGAIN: an event first; this run comes again */
		space_gone(sp);
	return true;
}

static int prefetch_part(struct server *srv, struct space *sp, uint64_t ri, uint32_t lo,
			 uint32_t hi, uint64_t arg)
{
	(void)arg;
	return serve_run(srv, sp, ri, lo, hi, 0, BY_PREFETCH);
}

/*
 * The next entry of the recorded working set, into the process it names
 * (pages already in, or dropped since, are skipped); false once every
 * entry is done.  An entry refused with EAGAIN comes again after the
 * events are read.
 */
static bool prefetch_step(struct server *srv)
{
	const struct image_workset_entry *e;
	uint32_t k;
	int ret;

	if (!srv->prefetch || srv->prefetch_next == srv->prefetch->nr)
		return false;
	e = &srv->prefetch->entries[srv->prefetch_next];
	for (k = 0; k < srv->nr; k++) {
		struct space *sp = &srv->spaces[k];

		if (sp->is_child || sp->gone || sp->pid != e->pid)
			continue;
		ret = for_range(srv, sp, e->vaddr, (uint64_t)e->npages * IMAGE_PAGE_SIZE,
				prefetch_part, 0);
		if (ret == -EAGAIN)
			return true;
		if (ret < 0)
			space_gone(sp);
		break;
	}
	srv->prefetch_next++;
	return true;
}

/* The record into the snapshot's directory, or through the page source into its store. */
uint64_t lazy_written_bytes(pid_t pid)
{
	char path[64], buf[512], *at;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return UINT64_MAX;
	snprintf(path, sizeof(path), "/proc/%d/io", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UINT64_MAX;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return UINT64_MAX;
	buf[n] = '\0';
	at = strstr(buf, "wchar: ");
	return at ? strtoull(at + 7, NULL, 10) : UINT64_MAX;
}

/* While recording: whether the program has written since the release (looked at every 5 ms). */
static bool first_output(struct server *srv)
{
	uint64_t w;

	if (srv->wchar0 == UINT64_MAX || now_ms() - srv->wchar_at < 5)
		return false;
	srv->wchar_at = now_ms();
	w = lazy_written_bytes(srv->program);
	return w != UINT64_MAX && w > srv->wchar0;
}

int lazy_server_go(int go_fd, pid_t program, uint64_t wchar0)
{
	char word[1 + sizeof(int32_t) + sizeof(uint64_t)] = { 'g' };
	int32_t pid = (int32_t)program;

	memcpy(word + 1, &pid, sizeof(pid));
	memcpy(word + 1 + sizeof(pid), &wchar0, sizeof(wchar0));
	/* one write below PIPE_BUF: the server reads it whole */
	return write(go_fd, word, sizeof(word)) == (ssize_t)sizeof(word) ? 0 : -EPIPE;
}

static int record_write(struct server *srv)
{
	struct image_workset_files f;
	struct page_file files[3];
	int ret;

	if (!srv->src)
		return image_workset_save(srv->record_dir, &srv->record);
	ret = image_workset_files(srv->record_img, &srv->record, &f);
	if (ret)
		return ret;
	files[0] = (struct page_file){ IMAGE_WORKSET_FILE, f.record, f.record_len };
	files[1] = (struct page_file){ "manifest.json", f.manifest, f.manifest_len };
	files[2] = (struct page_file){ "manifest.crc", f.crc, strlen(f.crc) };
	ret = srv->src->put(srv->src->arg, files, 3);
	image_workset_files_release(&f);
	return ret;
}

/*
 * The end of the recording window: the working set goes into the snapshot
 * (image_workset_save), where the next lazy restore finds it.  A record
 * that cannot be written costs that restore its prefetch, nothing else.
 */
static void record_end(struct server *srv, const char *why)
{
	uint64_t pages = 0;
	uint32_t i;
	double t = now_ms();

	if (!srv->record_dir)
		return;
	for (i = 0; i < srv->record.nr; i++)
		pages += srv->record.entries[i].npages;
	if (srv->record.nr && record_write(srv) == 0)
		log_info("lazy restore: working set recorded into %s: %u ranges, %" PRIu64
			 " pages touched in the first %.0f ms after the release (%s; written in "
			 "%.1f ms)",
			 srv->src ? "the store" : srv->record_dir, srv->record.nr, pages,
			 t - srv->t0, why, now_ms() - t);
	srv->record_dir = NULL;
}

static bool retries(const struct server *srv)
{
	uint32_t k;

	for (k = 0; k < srv->nr; k++)
		if (!srv->spaces[k].gone && srv->spaces[k].nr_retries)
			return true;
	return false;
}

/*
 * poll's: none while copying; while recording, until its window ends (or 5
 * ms, to look for the first output); a retry's millisecond.
 */
static int poll_timeout(const struct server *srv, bool go, bool work)
{
	double left;

	if (go && srv->prefetch && srv->prefetch_next < srv->prefetch->nr)
		return 0;
	if (go && (srv->record_dir || srv->hold_background)) {
		left = srv->t0 + srv->record_ms - now_ms();
		if (srv->wchar0 != UINT64_MAX && left > 5)
			left = 5; /* to look for the program's first output */
		return left <= 0 ? 0 : retries(srv) ? 1 : (int)left + 1;
	}
	if (go && work && srv->background)
		return 0;
	return retries(srv) ? 1 : -1;
}

static __attribute__((noreturn)) void serve(struct server *srv, int go_fd, int done_fd)
{
	struct pollfd *p = calloc(MAX_SPACES + 1, sizeof(*p));
	bool go = false;
	uint32_t k, n;
	int busy;

	if (!p)
		_exit(1);
	for (;;) {
		bool work = false;

		for (k = 0; k < srv->nr; k++)
			if (!srv->spaces[k].gone && srv->spaces[k].left)
				work = true;
		if (go && srv->record_dir && now_ms() - srv->t0 >= srv->record_ms)
			record_end(srv, "its window ended");
		else if (go && srv->record_dir && first_output(srv))
			record_end(srv, "the program wrote its first output");
		if (go && srv->hold_background &&
		    (now_ms() - srv->t0 >= srv->record_ms || first_output(srv)))
			srv->hold_background = false;
		if (go && !work)
			break;
		n = 0;
		for (k = 0; k < srv->nr; k++)
			p[n++] = (struct pollfd){ .fd = srv->spaces[k].uffd, .events = POLLIN };
		/* POLLERR: init, and with it the whole tree, is gone */
		p[n++] = (struct pollfd){ .fd = done_fd };
		if (!go)
			p[n++] = (struct pollfd){ .fd = go_fd, .events = POLLIN };
		busy = poll(p, n, poll_timeout(srv, go, work));
		if (busy < 0 && errno != EINTR)
			_exit(1);
		if (p[srv->nr].revents & (POLLERR | POLLHUP)) {
			/* the program ended within the window: what it touched */
			record_end(srv, "the program ended");
			_exit(0);
		}
		if (!go && p[n - 1].revents) {
			char word[1 + sizeof(int32_t) + sizeof(uint64_t)] = { 0 };
			int32_t pid;

			if (read(go_fd, word, sizeof(word)) != (ssize_t)sizeof(word) || word[0] != 'g')
				_exit(0); /* the restore failed: nothing runs */
			go = true;
			srv->t0 = srv->wchar_at = now_ms();
			memcpy(&pid, word + 1, sizeof(pid));
			srv->program = pid;
			memcpy(&srv->wchar0, word + 1 + sizeof(pid), sizeof(srv->wchar0));
		}
		for (k = 0; k < srv->nr; k++)
			if (!srv->spaces[k].gone && drain(srv, k) == -ESRCH)
				space_gone(&srv->spaces[k]);
		if (!go)
			continue;
		/* faults first: one entry of the working set between two looks at them */
		if (prefetch_step(srv))
			continue;
		/* while it records, the pages come on demand only: so it sees them all */
		if (!srv->background || srv->record_dir || srv->hold_background)
			continue;
		/* then one run of background copying between two looks at them */
		for (k = 0; k < srv->nr; k++) {
			struct space *sp = &srv->spaces[k];

			if (!sp->gone && sp->left && background_step(srv, sp))
				break;
		}
	}
	record_end(srv, "nothing was left to serve");
	log_info("lazy restore: every page in, %.1f ms after the release: %" PRIu64
		  " faults, %" PRIu64 " pages on demand, %" PRIu64 " of the working set, %" PRIu64
		  " in the background, %" PRIu64 " poisoned",
		  now_ms() - srv->t0, srv->faults, srv->pages[BY_FAULT], srv->pages[BY_PREFETCH],
		  srv->pages[BY_BACKGROUND], srv->pages_poisoned);
	if (write(done_fd, "d", 1) != 1)
		log_warn("lazy restore: could not tell init that every page is in");
	_exit(0);
}

/* Closes every fd but keep[0..n). */
static void close_all_but(const int *keep, size_t n)
{
	int *fds = NULL;
	size_t nr = 0, i, j;

	if (proc_list_fds(getpid(), &fds, &nr) < 0)
		return;
	for (i = 0; i < nr; i++) {
		bool kept = false;

		for (j = 0; j < n && !kept; j++)
			kept = fds[i] == keep[j];
		if (!kept)
			close(fds[i]);
	}
	free(fds);
}

/* THAW_LAZY_RECORD_MS: the recording window, 1 ms .. 10 min (default 2 s). */
static double record_window_ms(void)
{
	const char *v = getenv("THAW_LAZY_RECORD_MS");
	char *end;
	unsigned long ms;

	if (!v || !*v)
		return 2000;
	ms = strtoul(v, &end, 10);
	if (*end || ms < 1 || ms > 600000) {
		log_warn("THAW_LAZY_RECORD_MS=%s: not 1..600000; recording for 2000 ms", v);
		return 2000;
	}
	return (double)ms;
}

/*
 * The server's plan for the working set of imgs[0] (the tree's root holds
 * it): copied first, or recorded.  In thaw's process, before the fork: a
 * record for a store needs the snapshot's root as its directory has it,
 * which goes once the program runs.
 */
static int plan_workset(struct server *srv, struct image *const *imgs, const char *record_dir,
			const struct engine_page_source *src)
{
	const char *env = getenv("THAW_LAZY_WORKSET");

	if (env && !strcmp(env, "0"))
		return 0; /* neither: plain lazy paging, for measurements */
	if (imgs[0]->has_workset) {
		srv->prefetch = &imgs[0]->workset;
		srv->hold_background = true;
		srv->record_ms = record_window_ms();
		return 0;
	}
	if (!record_dir || (src && !src->put))
		return 0;
	if (src && image_read(record_dir, &srv->record_img) < 0)
		return 0; /* said why: this restore records nothing */
	srv->record_ms = record_window_ms();
	srv->record.entries = calloc(IMAGE_MAX_WORKSET, sizeof(*srv->record.entries));
	if (!srv->record.entries)
		return -ENOMEM;
	srv->record_dir = record_dir;
	return 0;
}

int lazy_server_start(struct image *const *imgs, const int *uffds, uint32_t nr, int go_fd,
		      int done_fd, const char *record_dir, const struct engine_page_source *src,
		      pid_t *ret_pid)
{
	struct server srv = { 0 };
	int report[2], status, *keep, devnull;
	pid_t mid, pid = 0;
	size_t nkeep = 0;
	uint32_t k;

	srv.src = src;
	if (plan_workset(&srv, imgs, record_dir, src) < 0) {
		log_error("lazy restore: out of memory for a working set");
		return -ENOMEM;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		image_free(srv.record_img);
		free(srv.record.entries);
		return log_errno("lazy restore: pipe");
	}
	fflush(NULL);
	mid = fork();
	if (mid < 0) {
		close(report[0]);
		close(report[1]);
		return log_errno("lazy restore: starting the page server");
	}
	if (mid == 0) {
		/* a session of its own, and reparented: neither thaw nor the program waits for it */
		setsid();
		pid = fork();
		if (pid != 0) {
			_exit(pid < 0 || write(report[1], &pid, sizeof(pid)) != sizeof(pid));
		}
		prctl(PR_SET_NAME, "thaw-pages");
		signal(SIGINT, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		keep = calloc(2 * nr + 5, sizeof(int));
		srv.spaces = calloc(MAX_SPACES, sizeof(*srv.spaces));
		srv.buf = aligned_alloc(IMAGE_PAGE_SIZE, IMAGE_MAX_RUN_PAGES * IMAGE_PAGE_SIZE);
		if (!keep || !srv.spaces || !srv.buf)
			_exit(1);
		srv.background = !getenv("THAW_LAZY_BACKGROUND") ||
				 strcmp(getenv("THAW_LAZY_BACKGROUND"), "0");
		keep[nkeep++] = log_get_fd();
		keep[nkeep++] = go_fd;
		keep[nkeep++] = done_fd;
		if (srv.record_img)
			keep[nkeep++] = srv.record_img->dir_fd; /* image_workset_files looks in it */
		for (k = 0; k < nr; k++) {
			keep[nkeep++] = uffds[k];
			keep[nkeep++] = imgs[k]->pages_fd;
		}
		close_all_but(keep, nkeep);
		devnull = open("/dev/null", O_RDWR);
		for (k = 0; devnull >= 0 && k < 2; k++)
			if ((int)k != log_get_fd())
				dup2(devnull, (int)k);
		for (k = 0; k < nr; k++) {
			char pages[48];

			if (k == 0)
				snprintf(pages, sizeof(pages), "pages.img");
			else
				snprintf(pages, sizeof(pages), IMAGE_CHILD_DIR_FMT "/pages.img",
					 imgs[k]->proc.pid);
			if (add_space(&srv, uffds[k], NULL, imgs[k], imgs[k]->proc.pid, pages) < 0)
				_exit(1);
		}
		if (src && src->reader_open(src->arg) < 0) {
			log_error("lazy restore: the page server cannot read the store: the program "
				  "is killed");
			_exit(1);
		}
		serve(&srv, go_fd, done_fd);
	}
	close(report[1]);
	image_free(srv.record_img); /* the server's copy is its own */
	free(srv.record.entries);
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	if (read(report[0], &pid, sizeof(pid)) != sizeof(pid) || pid <= 0) {
		close(report[0]);
		log_error("lazy restore: the page server did not start");
		return -ECHILD;
	}
	close(report[0]);
	*ret_pid = pid;
	return 0;
}
