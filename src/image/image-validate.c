/*
 * image-validate.c - what a snapshot's values must satisfy before restore may
 * trust them.
 *
 * The manifest parser only checks shapes and types; here every index is
 * checked against the array it points into, every address against the user
 * address space, every path for length and NUL bytes, VMAs and fds for order,
 * blobs against data.img and page runs against pages.img and the VMAs.  The
 * reader runs these on untrusted input; the writer runs them before publishing
 * so that a snapshot thaw wrote is never one thaw refuses to read.  Nothing
 * here logs: the first problem goes into err, the caller names the snapshot.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "image/image-internal.h"
#include "image/image-record.h"

#define PAGE_MASK ((uint64_t)IMAGE_PAGE_SIZE - 1)
#define SIGINFO_SIZE 128u

struct check {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int bad(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

size_t image_array_capacity(size_t n)
{
	size_t cap = 16;

	if (!n)
		return 0;
	while (cap < n)
		cap *= 2;
	return cap;
}

static bool is_aligned(uint64_t v)
{
	return !(v & PAGE_MASK);
}

static int check_path(struct check *c, const char *what, const char *path, bool may_be_null)
{
	if (!path)
		return may_be_null ? 0 : bad(c, "%s: missing", what);
	if (!path[0])
		return bad(c, "%s: empty", what);
	if (strnlen(path, IMAGE_MAX_PATH) >= IMAGE_MAX_PATH)
		return bad(c, "%s: longer than %d bytes", what, IMAGE_MAX_PATH - 1);
	return 0;
}

static int check_index(struct check *c, const char *what, int32_t idx, uint32_t nr, bool may_be_none)
{
	if (idx == -1 && may_be_none)
		return 0;
	if (idx < 0 || (uint32_t)idx >= nr)
		return bad(c, "%s: index %d out of range (%u entries)", what, idx, nr);
	return 0;
}

static int check_siginfo_blob(struct check *c, const char *what, const struct image_blob *b)
{
	if (b->len % SIGINFO_SIZE || b->len / SIGINFO_SIZE > IMAGE_MAX_SIGINFO)
		return bad(c, "%s: %" PRIu64 " bytes is not a list of at most %d siginfos", what,
			   b->len, IMAGE_MAX_SIGINFO);
	return 0;
}

static int check_proc(struct check *c, const struct image *img)
{
	const struct image_proc *p = &img->proc;
	const uint64_t *mm = &p->mm.start_code;
	size_t i;

	if (p->pid <= 0)
		return bad(c, "process.pid: %d is not a pid", p->pid);
	if (p->umask > 0777)
		return bad(c, "process.umask: 0%o is not a umask", p->umask);
	if (check_path(c, "process.cwd", p->cwd, false) ||
	    check_index(c, "process.exe", p->exe, img->nr_files, true))
		return -EINVAL;
	for (i = 0; i < sizeof(p->mm) / sizeof(uint64_t); i++)
		if (mm[i] >= IMAGE_ADDR_LIMIT)
			return bad(c, "process.mm: field %zu (0x%" PRIx64 ") outside user space", i,
				   mm[i]);
	if (p->auxv.len > IMAGE_MAX_AUXV)
		return bad(c, "process.auxv: %" PRIu64 " bytes, at most %d allowed", p->auxv.len,
			   IMAGE_MAX_AUXV);
	return check_siginfo_blob(c, "process.pending_shared", &p->pending_shared);
}

/* A thread's filters exist and fit on one filter path of the kernel. */
static int check_seccomp_path(struct check *c, const struct image *img, uint32_t i)
{
	const struct image_creds *cr = &img->threads[i].creds;
	uint64_t insns = 0;
	uint32_t k;

	for (k = 0; k < cr->nr_seccomp; k++) {
		uint32_t f = cr->seccomp[k];

		if (f >= img->nr_seccomp_filters)
			return bad(c, "threads[%u].creds.seccomp[%u]: filter %u of %u", i, k, f,
				   img->nr_seccomp_filters);
		insns += img->seccomp_filters[f].prog.len / 8 + 4;
	}
	if (insns > IMAGE_MAX_SECCOMP_PATH)
		return bad(c, "threads[%u].creds.seccomp: %" PRIu64 " instructions, the kernel "
			   "allows %d on one thread", i, insns, IMAGE_MAX_SECCOMP_PATH);
	return 0;
}

static int check_threads(struct check *c, const struct image *img)
{
	uint32_t i, j;

	if (!img->nr_threads)
		return bad(c, "threads: none (a process has at least its leader)");
	if (img->nr_threads > IMAGE_MAX_THREADS)
		return bad(c, "threads: %u, at most %d allowed", img->nr_threads, IMAGE_MAX_THREADS);
	if (img->threads[0].tid != img->proc.pid)
		return bad(c, "threads[0].tid: %d is not the process's pid %d",
			   img->threads[0].tid, img->proc.pid);
	for (i = 0; i < img->nr_threads; i++) {
		const struct image_thread *t = &img->threads[i];
		char what[64];

		if (t->tid <= 0)
			return bad(c, "threads[%u].tid: %d is not a tid", i, t->tid);
		if (t->state > IMAGE_THREAD_SYSCALL_DONE)
			return bad(c, "threads[%u].state: unknown state %u", i, t->state);
		if (t->syscall_nr < -1 || t->syscall_nr > 4095)
			return bad(c, "threads[%u].syscall_nr: %" PRId64 " out of range", i,
				   t->syscall_nr);
		if (t->xsave.len > IMAGE_MAX_XSAVE)
			return bad(c, "threads[%u].xsave: %" PRIu64 " bytes, at most %d allowed", i,
				   t->xsave.len, IMAGE_MAX_XSAVE);
		snprintf(what, sizeof(what), "threads[%u].pending", i);
		if (check_siginfo_blob(c, what, &t->pending))
			return -EINVAL;
		if (t->attrs.nr_cpus > IMAGE_MAX_CPUS)
			return bad(c, "threads[%u].attrs.cpus: %u, at most %d allowed", i,
				   t->attrs.nr_cpus, IMAGE_MAX_CPUS);
		if (t->creds.nr_groups > IMAGE_MAX_GROUPS)
			return bad(c, "threads[%u].creds.groups: %u, at most %d allowed", i,
				   t->creds.nr_groups, IMAGE_MAX_GROUPS);
		if (check_seccomp_path(c, img, i))
			return -EINVAL;
		/* tids are few; a quadratic check stays far below a millisecond */
		for (j = 0; j < i; j++)
			if (img->threads[j].tid == t->tid)
				return bad(c, "threads[%u].tid: %d already used by threads[%u]", i,
					   t->tid, j);
	}
	return 0;
}

static int check_vmas(struct check *c, const struct image *img)
{
	uint32_t i;

	if (img->nr_vmas > IMAGE_MAX_VMAS)
		return bad(c, "vmas: %u, at most %d allowed", img->nr_vmas, IMAGE_MAX_VMAS);
	for (i = 0; i < img->nr_vmas; i++) {
		const struct image_vma *v = &img->vmas[i];
		uint64_t pages;
		bool private_shmem;
		char what[64];

		if (!is_aligned(v->start) || !is_aligned(v->end))
			return bad(c, "vmas[%u]: 0x%" PRIx64 "-0x%" PRIx64 " is not page-aligned", i,
				   v->start, v->end);
		if (v->start >= v->end || v->end > IMAGE_ADDR_LIMIT)
			return bad(c, "vmas[%u]: 0x%" PRIx64 "-0x%" PRIx64 " is not a user range", i,
				   v->start, v->end);
		if (i && v->start < img->vmas[i - 1].end)
			return bad(c,
				   "vmas[%u]: 0x%" PRIx64 "-0x%" PRIx64 " overlaps or precedes "
				   "vmas[%u] (ending 0x%" PRIx64 ")",
				   i, v->start, v->end, i - 1, img->vmas[i - 1].end);
		if (v->prot > 7)
			return bad(c, "vmas[%u].prot: unknown bits 0x%x", i, v->prot);
		if (v->kind >= IMAGE_VMA_KIND_COUNT)
			return bad(c, "vmas[%u].kind: unknown kind %u", i, v->kind);
		if (v->flags & ~IMAGE_VMA_FLAGS_ALL || v->madv > 0xff)
			return bad(c, "vmas[%u]: unknown flag bits", i);
		if (!is_aligned(v->pgoff))
			return bad(c, "vmas[%u].pgoff: 0x%" PRIx64 " is not page-aligned", i,
				   v->pgoff);
		/* a private mapping of a memfd is backed by the shmem object, not a file */
		private_shmem = v->kind == IMAGE_VMA_FILE_PRIVATE && v->shmem >= 0;
		snprintf(what, sizeof(what), "vmas[%u].file", i);
		if (check_index(c, what, v->file, img->nr_files,
				(v->kind != IMAGE_VMA_FILE_PRIVATE && v->kind != IMAGE_VMA_FILE_SHARED) ||
					private_shmem))
			return -EINVAL;
		snprintf(what, sizeof(what), "vmas[%u].shmem", i);
		if (check_index(c, what, v->shmem, img->nr_shmems,
				v->kind != IMAGE_VMA_SHMEM && !private_shmem))
			return -EINVAL;
		if ((v->flags & IMAGE_VMA_MAYWRITE) && v->kind != IMAGE_VMA_FILE_SHARED)
			return bad(c, "vmas[%u]: maywrite on a mapping that is not a shared file", i);
		if ((v->flags & IMAGE_VMA_DROPPABLE) && v->kind != IMAGE_VMA_ANON)
			return bad(c, "vmas[%u]: droppable on a mapping that is not anonymous", i);
		snprintf(what, sizeof(what), "vmas[%u].name", i);
		if (v->name && v->name[0] && check_path(c, what, v->name, true))
			return -EINVAL;
		pages = (v->end - v->start) / IMAGE_PAGE_SIZE;
		if (v->pages_dumped > pages || v->pages_zero > pages - v->pages_dumped ||
		    v->pages_file > pages - v->pages_dumped - v->pages_zero)
			return bad(c, "vmas[%u].pages: more pages counted than the %" PRIu64
				      " the range holds", i, pages);
	}
	return 0;
}

static int check_guards(struct check *c, const struct image *img)
{
	uint32_t i;

	if (img->nr_guards > IMAGE_MAX_VMAS)
		return bad(c, "guards: %u, at most %d allowed", img->nr_guards, IMAGE_MAX_VMAS);
	for (i = 0; i < img->nr_guards; i++) {
		const struct image_guard *g = &img->guards[i];

		if (!is_aligned(g->start) || !is_aligned(g->end) || g->start >= g->end ||
		    g->end > IMAGE_ADDR_LIMIT)
			return bad(c, "guards[%u]: 0x%" PRIx64 "-0x%" PRIx64 " is not a page range",
				   i, g->start, g->end);
		if (i && g->start < img->guards[i - 1].end)
			return bad(c, "guards[%u]: not sorted or overlaps guards[%u]", i, i - 1);
	}
	return 0;
}

/* A socket restore can rebuild: known family, type and state, bounded address and queue. */
static int check_socket(struct check *c, const struct image_fd *f)
{
	int fam = f->sock.family, type = f->sock.type;

	if (fam != AF_UNIX && fam != AF_INET && fam != AF_INET6)
		return bad(c, "fd %d: socket family %d unknown", f->fd, fam);
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return bad(c, "fd %d: socket type %d unknown", f->fd, type);
	if (f->sock.state >= IMAGE_SOCK_STATE_COUNT)
		return bad(c, "fd %d: socket state %u unknown", f->fd, f->sock.state);
	if (f->sock.addr_len > IMAGE_SOCK_ADDR_MAX || f->sock.peer_len > IMAGE_SOCK_ADDR_MAX)
		return bad(c, "fd %d: socket address longer than %d bytes", f->fd,
			   IMAGE_SOCK_ADDR_MAX);
	if (f->sock.queue.len > IMAGE_MAX_SOCK_QUEUE)
		return bad(c, "fd %d: %" PRIu64 " bytes queued on a socket, at most %u", f->fd,
			   f->sock.queue.len, IMAGE_MAX_SOCK_QUEUE);
	if (f->sock.queue.len && f->sock.state != IMAGE_SOCK_PAIR)
		return bad(c, "fd %d: bytes queued on a socket that is not a pair end", f->fd);
	/* a pair end with peer_ino 0 had its peer closed */
	if (f->sock.state == IMAGE_SOCK_PAIR && fam != AF_UNIX)
		return bad(c, "fd %d: a socket pair end that is not Unix", f->fd);
	if (f->sock.state == IMAGE_SOCK_LISTEN && (type == SOCK_DGRAM || !f->sock.addr_len))
		return bad(c, "fd %d: a listening socket without an address or of datagrams",
			   f->fd);
	if (f->sock.state == IMAGE_SOCK_TCP &&
	    (fam == AF_UNIX || type != SOCK_STREAM || !f->sock.addr_len || !f->sock.peer_len))
		return bad(c, "fd %d: a TCP connection that is not TCP or lacks an address", f->fd);
	if (f->sock.state != IMAGE_SOCK_TCP &&
	    (f->sock.attrs.tcp.send_queue.len || f->sock.attrs.tcp.recv_queue.len ||
	     f->sock.attrs.tcp.mss))
		return bad(c, "fd %d: TCP connection state on a socket that is no connection", f->fd);
	if (f->sock.state == IMAGE_SOCK_RESET && (fam == AF_UNIX || type != SOCK_STREAM))
		return bad(c, "fd %d: only TCP connections come back reset", f->fd);
	if (f->sock.attrs.nr_pending && (fam != AF_UNIX || f->sock.state != IMAGE_SOCK_LISTEN))
		return bad(c, "fd %d: connections waiting on a socket that is no Unix listener",
			   f->fd);
	if (f->sock.state == IMAGE_SOCK_PENDING &&
	    (fam != AF_UNIX || type == SOCK_DGRAM || !f->sock.peer_ino || f->sock.queue.len))
		return bad(c, "fd %d: a waiting connection that is no Unix stream to a listener",
			   f->fd);
	if ((f->sock.attrs.has_file || f->sock.attrs.is_file_unlinked) &&
	    (fam != AF_UNIX || f->sock.addr_len <= 2 || !f->sock.addr[2] ||
	     (f->sock.state != IMAGE_SOCK_BOUND && f->sock.state != IMAGE_SOCK_LISTEN)))
		return bad(c, "fd %d: a socket file for a socket not bound to a path", f->fd);
	if (f->sock.attrs.is_reset_by_peer &&
	    (f->sock.state != IMAGE_SOCK_PAIR || f->sock.peer_ino || type == SOCK_DGRAM))
		return bad(c, "fd %d: only a stream pair end whose peer closed is reset by it",
			   f->fd);
	return 0;
}

static const struct image_fd *find_socket(const struct image *img, uint64_t ino)
{
	uint32_t i;

	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].kind == IMAGE_FD_SOCKET && img->fds[i].sock.ino == ino)
			return &img->fds[i];
	return NULL;
}

/* A listener's waiting clients and the clients' listeners name each other, once. */
static int check_pending(struct check *c, const struct image *img)
{
	uint32_t i, k, j;

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i], *o;
		bool found = false;

		if (f->kind != IMAGE_FD_SOCKET)
			continue;
		for (k = 0; k < f->sock.attrs.nr_pending; k++) {
			o = find_socket(img, f->sock.attrs.pending[k]);
			if (!o || o->sock.state != IMAGE_SOCK_PENDING || o->sock.peer_ino != f->sock.ino)
				return bad(c, "fd %d: waiting client socket:[%" PRIu64 "] is not a "
					   "connection waiting on it", f->fd, f->sock.attrs.pending[k]);
			for (j = 0; j < k; j++)
				if (f->sock.attrs.pending[j] == f->sock.attrs.pending[k])
					return bad(c, "fd %d: client socket:[%" PRIu64 "] waits twice",
						   f->fd, f->sock.attrs.pending[k]);
		}
		if (f->sock.state != IMAGE_SOCK_PENDING)
			continue;
		o = find_socket(img, f->sock.peer_ino);
		for (k = 0; o && k < o->sock.attrs.nr_pending; k++)
			found |= o->sock.attrs.pending[k] == f->sock.ino;
		if (!found)
			return bad(c, "fd %d: waiting on socket:[%" PRIu64 "], which does not list it",
				   f->fd, f->sock.peer_ino);
	}
	return 0;
}

static const struct image_fd *find_fd(const struct image *img, int32_t fd);

/* The message of a socket's queue that carries fd (a file in flight), or NULL. */
static const struct image_sock_rights *carrier(const struct image *img, int32_t fd)
{
	uint32_t i, k, j;

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_sock_attrs *a = &img->fds[i].sock.attrs;

		if (img->fds[i].kind != IMAGE_FD_SOCKET)
			continue;
		for (k = 0; k < a->nr_rights; k++)
			for (j = 0; j < a->rights[k].nr_fds; j++)
				if (a->rights[k].fds[j] == fd)
					return &a->rights[k];
	}
	return NULL;
}

/* A file in flight: of a kind restore can make outside any fd number, and sent by a message. */
static int check_in_flight(struct check *c, const struct image *img, const struct image_fd *f)
{
	switch (f->kind) {
	case IMAGE_FD_FILE:
	case IMAGE_FD_DIR:
	case IMAGE_FD_CHR:
	case IMAGE_FD_PIPE:
	case IMAGE_FD_FIFO:
	case IMAGE_FD_EVENTFD:
	case IMAGE_FD_SIGNALFD:
	case IMAGE_FD_MEMFD:
	case IMAGE_FD_SOCKET:
		break;
	default:
		return bad(c, "fd %d: a file in flight cannot be a %s", f->fd,
			   image_fd_kind_name(f->kind));
	}
	if (f->cloexec)
		return bad(c, "fd %d: a file in flight has no close-on-exec bit", f->fd);
	if (!carrier(img, f->fd))
		return bad(c, "fd %d: a file in flight that no queued message carries", f->fd);
	return 0;
}

/* Messages carrying fds: on Unix pair ends, in queue order, naming files in flight. */
static int check_rights(struct check *c, const struct image *img)
{
	uint32_t i, k, j;

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];
		const struct image_sock_attrs *a = &f->sock.attrs;

		if (f->kind != IMAGE_FD_SOCKET || (!a->nr_rights && !a->nr_creds))
			continue;
		if (f->sock.family != AF_UNIX || f->sock.state != IMAGE_SOCK_PAIR)
			return bad(c, "fd %d: fds or credentials in flight on a socket that is not a "
				   "Unix pair end", f->fd);
		for (k = 0; k < a->nr_creds; k++) {
			const struct image_sock_creds *r = &a->creds[k];

			if ((k && r->at <= a->creds[k - 1].at) ||
			    (f->sock.type == SOCK_STREAM ?
				     !r->len || r->at + r->len > f->sock.queue.len ||
					     (k && r->at < a->creds[k - 1].at + a->creds[k - 1].len) :
				     r->len != 0))
				return bad(c, "fd %d: queued credentials at %" PRIu64 "+%u out of "
					   "order or out of the queue", f->fd, r->at, r->len);
		}
		for (k = 0; k < a->nr_rights; k++) {
			const struct image_sock_rights *r = &a->rights[k];

			if (k && r->at <= a->rights[k - 1].at)
				return bad(c, "fd %d: messages with fds in flight out of order",
					   f->fd);
			if (f->sock.type == SOCK_STREAM &&
			    (!r->len || r->at + r->len > f->sock.queue.len ||
			     (k && r->at < a->rights[k - 1].at + a->rights[k - 1].len)))
				return bad(c, "fd %d: fds in flight with bytes %" PRIu64 "+%u of a "
					   "queue of %" PRIu64, f->fd, r->at, r->len,
					   f->sock.queue.len);
			if (f->sock.type != SOCK_STREAM && r->len)
				return bad(c, "fd %d: a message with fds in flight has a length",
					   f->fd);
			for (j = 0; j < r->nr_fds; j++)
				if (!find_fd(img, r->fds[j]))
					return bad(c, "fd %d: fd %d in flight is not a file of the "
						   "snapshot", f->fd, r->fds[j]);
		}
	}
	return 0;
}

static int check_fds(struct check *c, const struct image *img)
{
	uint32_t i, j;

	if (img->nr_fds > IMAGE_MAX_FDS)
		return bad(c, "fds: %u, at most %d allowed", img->nr_fds, IMAGE_MAX_FDS);
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];
		bool needs_file;
		char what[64];

		if (f->fd < -IMAGE_MAX_FDS || f->fd >= (1 << 20))
			return bad(c, "fds[%u].fd: %d is not an fd number", i, f->fd);
		if (f->fd < 0 && check_in_flight(c, img, f))
			return -EINVAL;
		if (i && f->fd <= img->fds[i - 1].fd)
			return bad(c, "fds[%u].fd: %d not above fds[%u] (%d): unsorted or repeated",
				   i, f->fd, i - 1, img->fds[i - 1].fd);
		if (f->kind >= IMAGE_FD_KIND_COUNT)
			return bad(c, "fds[%u].kind: unknown kind %u", i, f->kind);
		needs_file = f->kind == IMAGE_FD_FILE || f->kind == IMAGE_FD_DIR ||
			     f->kind == IMAGE_FD_CHR || f->kind == IMAGE_FD_FIFO;
		snprintf(what, sizeof(what), "fd %d file", f->fd);
		if (check_index(c, what, f->file, img->nr_files, !needs_file))
			return -EINVAL;
		switch (f->kind) {
		case IMAGE_FD_PIPE:
		case IMAGE_FD_FIFO:
			if (f->pipe.capacity > (1u << 31))
				return bad(c, "fd %d: pipe capacity %u is too large", f->fd,
					   f->pipe.capacity);
			if (f->pipe.data.len > (f->pipe.capacity ? f->pipe.capacity : 65536))
				return bad(c, "fd %d: %" PRIu64 " bytes buffered in a pipe of %u",
					   f->fd, f->pipe.data.len, f->pipe.capacity);
			break;
		case IMAGE_FD_INHERIT:
			if (f->inherit.from < 0 || f->inherit.from != f->fd)
				return bad(c, "fd %d: inherits from fd %d, not its own number", f->fd,
					   f->inherit.from);
			break;
		case IMAGE_FD_EPOLL:
			if (f->epoll.nr_watches > IMAGE_MAX_WATCHES)
				return bad(c, "fd %d: %u epoll watches, at most %d allowed", f->fd,
					   f->epoll.nr_watches, IMAGE_MAX_WATCHES);
			for (j = 0; j < f->epoll.nr_watches; j++)
				if (f->epoll.watches[j].tfd < 0 || f->epoll.watches[j].via < -1 ||
				    f->epoll.watches[j].via == f->epoll.watches[j].tfd)
					return bad(c, "fd %d: epoll watch %u on fd %d (via %d)", f->fd,
						   j, f->epoll.watches[j].tfd,
						   f->epoll.watches[j].via);
			break;
		case IMAGE_FD_TIMERFD:
			if (f->timerfd.clockid < 0 || f->timerfd.clockid > 15)
				return bad(c, "fd %d: timerfd clock %d unknown", f->fd,
					   f->timerfd.clockid);
			if (f->timerfd.deadline_ns && (!f->timerfd.value_ns ||
						       !(f->timerfd.settime_flags & 1)))
				return bad(c, "fd %d: a deadline on a timerfd that is not armed "
					   "absolutely", f->fd);
			break;
		case IMAGE_FD_MEMFD:
			snprintf(what, sizeof(what), "fd %d memfd shmem", f->fd);
			if (check_index(c, what, f->memfd.shmem, img->nr_shmems, false))
				return -EINVAL;
			break;
		case IMAGE_FD_SOCKET:
			if (check_socket(c, f))
				return -EINVAL;
			break;
		default:
			break;
		}
	}
	return check_pending(c, img) || check_rights(c, img);
}

static int check_files(struct check *c, const struct image *img)
{
	uint32_t i, j;

	if (img->nr_files > IMAGE_MAX_FILES)
		return bad(c, "files: %u, at most %d allowed", img->nr_files, IMAGE_MAX_FILES);
	if (img->nr_shmems > IMAGE_MAX_SHMEMS)
		return bad(c, "shmems: %u, at most %d allowed", img->nr_shmems, IMAGE_MAX_SHMEMS);
	for (i = 0; i < img->nr_files; i++) {
		char what[64];

		snprintf(what, sizeof(what), "files[%u].path", i);
		if (check_path(c, what, img->files[i].path, false))
			return -EINVAL;
	}
	for (i = 0; i < img->nr_shmems; i++) {
		const struct image_shmem *s = &img->shmems[i];
		uint64_t prev_end = 0;

		if (s->name && strnlen(s->name, IMAGE_MAX_PATH) >= IMAGE_MAX_PATH)
			return bad(c, "shmems[%u].name: too long", i);
		/* restored by creating exactly this file: nothing outside /dev/shm, no ".." */
		if (s->path && (strncmp(s->path, IMAGE_SHMEM_DEV_SHM, strlen(IMAGE_SHMEM_DEV_SHM)) ||
				strchr(s->path + strlen(IMAGE_SHMEM_DEV_SHM), '/') ||
				!s->path[strlen(IMAGE_SHMEM_DEV_SHM)] ||
				strnlen(s->path, 256) >= 256 || !strcmp(s->path, "/dev/shm/.") ||
				!strcmp(s->path, "/dev/shm/..")))
			return bad(c, "shmems[%u].path: \"%s\" is not a file directly in /dev/shm", i,
				   s->path);
		if ((s->path || s->is_sysv) + s->is_memfd > 1)
			return bad(c, "shmems[%u]: more than one kind", i);
		if ((s->uid || s->gid) && !s->path && !s->is_memfd)
			return bad(c, "shmems[%u]: an owner on shared memory that has none of its own", i);
		if (s->uid == UINT32_MAX || s->gid == UINT32_MAX)
			return bad(c, "shmems[%u]: owner %u:%u is no id", i, s->uid, s->gid);
		if (s->path && s->is_sysv)
			return bad(c, "shmems[%u]: both a /dev/shm file and SysV", i);
		if (s->nr_extents > IMAGE_MAX_VMAS)
			return bad(c, "shmems[%u]: %u extents, at most %d allowed", i,
				   s->nr_extents, IMAGE_MAX_VMAS);
		for (j = 0; j < s->nr_extents; j++) {
			const struct image_shmem_extent *x = &s->extents[j];

			if (x->off < prev_end || x->off > s->size ||
			    x->data.len > s->size - x->off)
				return bad(c,
					   "shmems[%u].extents[%u]: 0x%" PRIx64 "+%" PRIu64
					   " unsorted, overlapping or past the object's size %" PRIu64,
					   i, j, x->off, x->data.len, s->size);
			prev_end = x->off + x->data.len;
		}
	}
	return 0;
}

/* The weights region: its thread is one of the process's, its fds two of its pipes. */
static int check_gpu_weights(struct check *c, const struct image *img)
{
	const struct image_gpu *g = &img->gpu;
	int32_t fds[2] = { g->weights_req_fd, g->weights_rep_fd };
	uint32_t i, k;

	if (!g->weights_tid)
		return 0;
	for (i = 0; i < img->nr_threads && img->threads[i].tid != g->weights_tid; i++)
		;
	if (i == img->nr_threads)
		return bad(c, "gpu.weights_tid: %d is not a thread of the process", g->weights_tid);
	if (!g->weights_bytes || !g->weights_segments || fds[0] == fds[1])
		return bad(c, "gpu.weights: %" PRIu64 " bytes in %u allocations, fds %d and %d",
			   g->weights_bytes, g->weights_segments, fds[0], fds[1]);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < img->nr_fds && img->fds[i].fd != fds[k]; i++)
			;
		if (i == img->nr_fds || img->fds[i].kind != IMAGE_FD_PIPE)
			return bad(c, "gpu.weights: fd %d is not a pipe of the snapshot", fds[k]);
	}
	return 0;
}

/* The GPU part: bounded, and the driver's socket is an fd the restorer provides. */
static int check_gpu(struct check *c, const struct image *img)
{
	const struct image_gpu *g = &img->gpu;
	uint32_t i;

	if (!img->has_gpu)
		return 0;
	if (g->nr_devs > IMAGE_MAX_GPUS)
		return bad(c, "gpu: %u devices, at most %d allowed", g->nr_devs, IMAGE_MAX_GPUS);
	if (!memchr(g->driver, 0, sizeof(g->driver)))
		return bad(c, "gpu.driver: not a terminated string");
	for (i = 0; i < g->nr_devs; i++)
		if (!memchr(g->devs[i].name, 0, sizeof(g->devs[i].name)))
			return bad(c, "gpu.devices[%u].name: not a terminated string", i);
	if (g->uvm_socket_fd >= 0) {
		for (i = 0; i < img->nr_fds; i++)
			if (img->fds[i].fd == g->uvm_socket_fd)
				break;
		if (i == img->nr_fds || img->fds[i].kind != IMAGE_FD_INHERIT)
			return bad(c, "gpu.uvm_socket_fd: fd %d is not an inherited fd of the "
				      "snapshot", g->uvm_socket_fd);
	}
	return check_gpu_weights(c, img);
}

/*
 * The tree: every pid once (the root's too), each parent listed before its
 * children, so that restore can create them in this order.
 */
static int check_children(struct check *c, const struct image *img)
{
	uint32_t i, j;

	if (img->nr_children > IMAGE_MAX_CHILDREN)
		return bad(c, "children: %u, at most %d allowed", img->nr_children,
			   IMAGE_MAX_CHILDREN);
	for (i = 0; i < img->nr_children; i++) {
		const struct image_child *ch = &img->children[i];
		bool parent_seen = ch->ppid == img->proc.pid;

		if (ch->pid <= 1 || ch->pid == img->proc.pid)
			return bad(c, "children[%u].pid: %d cannot be a child's pid", i, ch->pid);
		for (j = 0; j < i; j++) {
			if (img->children[j].pid == ch->pid)
				return bad(c, "children[%u].pid: %d listed twice", i, ch->pid);
			if (img->children[j].pid == ch->ppid && !img->children[j].is_zombie)
				parent_seen = true;
		}
		if (!parent_seen)
			return bad(c, "children[%u]: parent %d of pid %d is not listed before it",
				   i, ch->ppid, ch->pid);
	}
	return 0;
}

/* The fd of img numbered fd, or NULL; fds are sorted (check_fds). */
static const struct image_fd *find_fd(const struct image *img, int32_t fd)
{
	uint32_t lo = 0, hi = img->nr_fds;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (img->fds[mid].fd == fd)
			return &img->fds[mid];
		if (img->fds[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Every lock is on an fd of the image of a kind that can hold it. */
static int check_locks(struct check *c, const struct image *img)
{
	uint32_t i;

	for (i = 0; i < img->nr_locks; i++) {
		const struct image_lock *l = &img->locks[i];
		const struct image_fd *f = find_fd(img, l->fd);
		bool ok;

		if (!f)
			return bad(c, "locks[%u]: fd %d is not an fd of the process", i, l->fd);
		ok = f->kind == IMAGE_FD_FILE || f->kind == IMAGE_FD_MEMFD ||
		     (f->kind == IMAGE_FD_DIR && l->kind != IMAGE_LOCK_LEASE);
		if (!ok)
			return bad(c, "locks[%u]: fd %d (%s) cannot hold a lock thaw restores", i,
				   l->fd, image_fd_kind_name(f->kind));
	}
	return 0;
}

/* Every owner is of an fd of the process that thaw restores (not one it inherits), once. */
static int check_fd_owners(struct check *c, const struct image *img)
{
	uint32_t i;

	for (i = 0; i < img->nr_fd_owners; i++) {
		const struct image_fd_owner *o = &img->fd_owners[i];
		const struct image_fd *f = find_fd(img, o->fd);

		if (!f || f->kind == IMAGE_FD_INHERIT)
			return bad(c, "fd_owners[%u]: fd %d is not an fd the process's restore makes",
				   i, o->fd);
		if (i && o->fd <= img->fd_owners[i - 1].fd)
			return bad(c, "fd_owners[%u]: fd %d unsorted or repeated", i, o->fd);
	}
	return 0;
}

static bool has_thread(const struct image *img, int32_t tid)
{
	uint32_t i;

	for (i = 0; i < img->nr_threads; i++)
		if (img->threads[i].tid == tid)
			return true;
	return false;
}

/*
 * POSIX timers: ascending ids (restore creates them in order), a thread to
 * signal that is one of the process's, and a CPU clock of the process itself
 * or of one of its threads (CPUCLOCK_PID: 0 names the caller).
 */
static int check_posix_timers(struct check *c, const struct image *img)
{
	uint32_t i;

	for (i = 0; i < img->nr_posix_timers; i++) {
		const struct image_posix_timer *t = &img->posix_timers[i];

		if (i && t->id <= img->posix_timers[i - 1].id)
			return bad(c, "posix_timers[%u].id: %d not above the one before", i, t->id);
		if (t->tid && !has_thread(img, t->tid))
			return bad(c, "posix_timers[%u].tid: %d is not a thread of the process", i,
				   t->tid);
		if (t->clockid < 0) {
			int32_t pid = ~(t->clockid >> 3);

			if ((t->clockid & 3) == 3 || (pid && pid != img->proc.pid &&
						      !((t->clockid & 4) && has_thread(img, pid))))
				return bad(c, "posix_timers[%u].clockid: %d is not a CPU clock of "
					   "the process", i, t->clockid);
		}
	}
	return 0;
}

int image_validate(const struct image *img, char *err, size_t errlen)
{
	struct check c = { err, errlen };

	if (img->version != IMAGE_FORMAT_VERSION)
		return bad(&c, "format version %u, but this thaw reads version %d", img->version,
			   IMAGE_FORMAT_VERSION);
	if (check_proc(&c, img) || check_threads(&c, img) || check_vmas(&c, img) ||
	    check_guards(&c, img) || check_fds(&c, img) || check_files(&c, img) ||
	    check_gpu(&c, img) || check_children(&c, img) || image_sections_check(img, err, errlen) ||
	    check_locks(&c, img) || check_fd_owners(&c, img) ||
	    check_posix_timers(&c, img))
		return -EINVAL;
	return 0;
}

int image_for_each_blob(const struct image *img,
			int (*fn)(void *arg, const char *what, const struct image_blob *b),
			void *arg)
{
	char what[96];
	uint32_t i, j;
	int ret;

	if ((ret = fn(arg, "process.auxv", &img->proc.auxv)) ||
	    (ret = fn(arg, "process.pending_shared", &img->proc.pending_shared)))
		return ret;
	for (i = 0; i < img->nr_threads; i++) {
		snprintf(what, sizeof(what), "threads[%u] (tid %d) xsave", i, img->threads[i].tid);
		if ((ret = fn(arg, what, &img->threads[i].xsave)))
			return ret;
		snprintf(what, sizeof(what), "threads[%u] (tid %d) pending", i, img->threads[i].tid);
		if ((ret = fn(arg, what, &img->threads[i].pending)))
			return ret;
	}
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		if (f->kind == IMAGE_FD_SOCKET) {
			snprintf(what, sizeof(what), "fd %d socket queue", f->fd);
			if ((ret = fn(arg, what, &f->sock.queue)))
				return ret;
			continue;
		}
		if (f->kind != IMAGE_FD_PIPE && f->kind != IMAGE_FD_FIFO)
			continue;
		snprintf(what, sizeof(what), "fd %d pipe data", f->fd);
		if ((ret = fn(arg, what, &f->pipe.data)))
			return ret;
	}
	for (i = 0; i < img->nr_files; i++)
		for (j = 0; j < img->files[i].nr_extents; j++) {
			snprintf(what, sizeof(what), "files[%u].extents[%u]", i, j);
			if ((ret = fn(arg, what, &img->files[i].extents[j].data)))
				return ret;
		}
	for (i = 0; i < img->nr_shmems; i++)
		for (j = 0; j < img->shmems[i].nr_extents; j++) {
			snprintf(what, sizeof(what), "shmems[%u].extents[%u]", i, j);
			if ((ret = fn(arg, what, &img->shmems[i].extents[j].data)))
				return ret;
		}
	return image_sections_blobs(img, fn, arg);
}

struct blob_bound {
	struct check c;
	uint64_t size;
};

static int check_blob(void *arg, const char *what, const struct image_blob *b)
{
	struct blob_bound *bb = arg;

	if (b->len && b->off < IMAGE_DATA_HEADER_SIZE)
		return bad(&bb->c, "%s: blob at offset %" PRIu64 " lies in data.img's header", what,
			   b->off);
	if (b->off > bb->size || b->len > bb->size - b->off)
		return bad(&bb->c,
			   "%s: blob at offset %" PRIu64 " (%" PRIu64 " bytes) extends past the end "
			   "of data.img (size %" PRIu64 ")",
			   what, b->off, b->len, bb->size);
	return 0;
}

int image_validate_blobs(const struct image *img, uint64_t size, char *err, size_t errlen)
{
	struct blob_bound bb = { { err, errlen }, size };

	return image_for_each_blob(img, check_blob, &bb);
}

/* The VMA holding addr, by binary search over the sorted VMAs. */
static const struct image_vma *find_vma(const struct image *img, uint64_t addr)
{
	uint32_t lo = 0, hi = img->nr_vmas;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (addr < img->vmas[mid].start)
			hi = mid;
		else if (addr >= img->vmas[mid].end)
			lo = mid + 1;
		else
			return &img->vmas[mid];
	}
	return NULL;
}

int image_validate_runs(const struct image *img, uint64_t pages_size, char *err, size_t errlen)
{
	struct check c = { err, errlen };
	uint64_t i, prev_end = 0;

	for (i = 0; i < img->nr_runs; i++) {
		const struct image_page_run *r = &img->runs[i];
		const struct image_vma *v;
		uint64_t bytes = (uint64_t)r->npages * IMAGE_PAGE_SIZE, end;

		if (!r->npages || r->npages > IMAGE_MAX_RUN_PAGES)
			return bad(&c, "run %" PRIu64 " (vaddr 0x%" PRIx64 "): %u pages, not 1-%d", i,
				   r->vaddr, r->npages, IMAGE_MAX_RUN_PAGES);
		if (r->flags & ~(IMAGE_RUN_ZERO | IMAGE_RUN_INHERITED))
			return bad(&c, "run %" PRIu64 " (vaddr 0x%" PRIx64 "): unknown flags 0x%x", i,
				   r->vaddr, r->flags);
		if (!is_aligned(r->vaddr) || r->vaddr >= IMAGE_ADDR_LIMIT ||
		    bytes > IMAGE_ADDR_LIMIT - r->vaddr)
			return bad(&c, "run %" PRIu64 " (vaddr 0x%" PRIx64 "): not a user page range",
				   i, r->vaddr);
		end = r->vaddr + bytes;
		if (r->vaddr < prev_end)
			return bad(&c,
				   "run %" PRIu64 " (vaddr 0x%" PRIx64 "): unsorted or overlaps the "
				   "run before it (ending 0x%" PRIx64 ")",
				   i, r->vaddr, prev_end);
		prev_end = end;
		v = find_vma(img, r->vaddr);
		if (!v || end > v->end)
			return bad(&c,
				   "run %" PRIu64 " (vaddr 0x%" PRIx64 "-0x%" PRIx64 ") lies in no "
				   "single VMA of the image",
				   i, r->vaddr, end);
		if ((r->flags & IMAGE_RUN_INHERITED) &&
		    (v->kind != IMAGE_VMA_ANON || (r->flags & IMAGE_RUN_ZERO)))
			return bad(&c,
				   "run %" PRIu64 " (vaddr 0x%" PRIx64 "): inherited from the parent "
				   "but not data in private anonymous memory",
				   i, r->vaddr);
		if (r->flags & IMAGE_RUN_ZERO) {
			if (r->off)
				return bad(&c, "run %" PRIu64 " (vaddr 0x%" PRIx64 "): zero run with "
					       "offset %" PRIu64, i, r->vaddr, r->off);
			continue;
		}
		if (!is_aligned(r->off) || r->off < IMAGE_PAGE_SIZE)
			return bad(&c, "run %" PRIu64 " (vaddr 0x%" PRIx64 "): offset %" PRIu64
				       " is not a page of data in pages.img", i, r->vaddr, r->off);
		if (r->off > pages_size || bytes > pages_size - r->off)
			return bad(&c,
				   "run %" PRIu64 " (vaddr 0x%" PRIx64 ") extends past end of "
				   "pages.img (size %" PRIu64 ")",
				   i, r->vaddr, pages_size);
	}
	return 0;
}
