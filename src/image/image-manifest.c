/*
 * image-manifest.c - struct image <-> manifest.json, and the semantic checks
 * of a manifest.
 *
 * The manifest is meant to be read by people as much as by thaw: fields have
 * plain names, addresses and masks are "0x..." strings, enums and flag sets
 * are short words, and defaulted entries (signals with SIG_DFL, blobs with no
 * data) are left out.  64-bit values that do not fit a JSON integer are
 * written as hex strings; the reader accepts either form for any count.
 * Strings that are not UTF-8 (Linux paths are bytes) are written as
 * {"hex": "..."} so that no path is ever lost or mangled.
 *
 * Reading treats the text as hostile: parse_*() check shapes and types and
 * bound every array before allocating it, then image_validate() checks what
 * the values mean (indexes in range, VMAs sorted, paths sane).  The first
 * problem found is reported in err with the place it was found
 * ("vmas[3].end: not page-aligned"); nothing here logs.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/hex.h"
#include "image/image-internal.h"
#include "image/image-record.h"

/* ---- names shared by the encoder and the decoder ---- */

static const char *const vma_flag_names[] = { "growsdown", "locked",    "noreserve",  "mayshare",
					      "maywrite",  "droppable", "lockonfault" };
static const char *const madv_names[] = { "dontfork",	"dontdump",  "wipeonfork", "hugepage",
					  "nohugepage", "mergeable", "sequential", "random" };
static const char *const rlimit_names[IMAGE_NR_RLIMITS] = {
	"cpu",	  "fsize",	"data",	 "stack", "core",    "rss",	"nproc",  "nofile",
	"memlock", "as",	"locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
};
static const char *const itimer_names[3] = { "real", "virtual", "prof" };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RLIM_UNLIMITED UINT64_MAX

static const char *const vma_kind_names[IMAGE_VMA_KIND_COUNT] = {
	"anon", "file-private", "file-shared", "shmem", "vdso", "vvar", "vvar-vclock", "vsyscall",
};
static const char *const fd_kind_names[IMAGE_FD_KIND_COUNT] = {
	"file", "dir", "chr", "inherit", "pipe", "fifo", "eventfd", "epoll", "signalfd", "timerfd",
	"memfd", "socket", "pidfd", "inotify", "pty",
};
static const char *const sock_state_names[IMAGE_SOCK_STATE_COUNT] = {
	"unbound", "bound", "listen", "pair", "reset", "pending", "tcp",
};
static const char *const thread_state_names[] = { "running", "syscall-restart", "syscall-eintr",
						  "syscall-done" };

const char *image_itimer_name(uint32_t which)
{
	return which < ARRAY_SIZE(itimer_names) ? itimer_names[which] : "?";
}

const char *image_vma_kind_name(uint32_t kind)
{
	return kind < ARRAY_SIZE(vma_kind_names) ? vma_kind_names[kind] : "unknown";
}

const char *image_fd_kind_name(uint32_t kind)
{
	return kind < ARRAY_SIZE(fd_kind_names) ? fd_kind_names[kind] : "unknown";
}

const char *image_thread_state_name(uint32_t state)
{
	return state < ARRAY_SIZE(thread_state_names) ? thread_state_names[state] : "unknown";
}

const char *image_rlimit_name(uint32_t resource)
{
	return resource < ARRAY_SIZE(rlimit_names) ? rlimit_names[resource] : "unknown";
}

/* ---- encoding ---- */

/*
 * The builders below hand NULL up on ENOMEM; json_object_set_new() refuses
 * NULL values, so one flag per object catches any failure underneath.
 */
struct enc {
	bool failed;
};

static void put(struct enc *e, json_t *obj, const char *key, json_t *val)
{
	if (!obj || json_object_set_new(obj, key, val))
		e->failed = true;
}

static void append(struct enc *e, json_t *arr, json_t *val)
{
	if (!arr || json_array_append_new(arr, val))
		e->failed = true;
}

static json_t *j_hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

static json_t *j_u64(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : j_hex(v);
}

static json_t *j_octal(uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "0%o", v);
	return json_string(buf);
}

static json_t *j_str(const char *s)
{
	static const char digits[] = "0123456789abcdef";
	json_t *val = json_string(s);
	size_t i, len;
	char *hex;

	if (val)
		return val;
	/* not UTF-8: keep the exact bytes */
	len = strlen(s);
	hex = malloc(len * 2 + 1);
	if (!hex)
		return NULL;
	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[(unsigned char)s[i] >> 4];
		hex[2 * i + 1] = digits[(unsigned char)s[i] & 15];
	}
	hex[2 * len] = '\0';
	val = json_pack("{s:s}", "hex", hex);
	free(hex);
	return val;
}

/* Raw bytes (a sockaddr) as a string of hex digits; "" for none. */
static json_t *j_bytes(const uint8_t *p, uint32_t len)
{
	static const char digits[] = "0123456789abcdef";
	char buf[2 * IMAGE_SOCK_ADDR_MAX + 1];
	uint32_t i;

	if (len > IMAGE_SOCK_ADDR_MAX)
		len = IMAGE_SOCK_ADDR_MAX;
	for (i = 0; i < len; i++) {
		buf[2 * i] = digits[p[i] >> 4];
		buf[2 * i + 1] = digits[p[i] & 15];
	}
	buf[2 * len] = '\0';
	return json_string(buf);
}

static json_t *j_flags(uint32_t flags, const char *const *names, size_t nr)
{
	json_t *arr = json_array();
	struct enc e = { false };
	size_t i;

	for (i = 0; i < nr; i++)
		if (flags & (1u << i))
			append(&e, arr, json_string(names[i]));
	if (e.failed) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static json_t *j_prot(uint32_t prot)
{
	char buf[4] = { prot & 1 ? 'r' : '-', prot & 2 ? 'w' : '-', prot & 4 ? 'x' : '-', 0 };

	return json_string(buf);
}

static bool blob_is_empty(const struct image_blob *b)
{
	return !b->off && !b->len && !b->crc;
}

static void put_blob(struct enc *e, json_t *obj, const char *key, const struct image_blob *b)
{
	json_t *val;

	if (blob_is_empty(b))
		return;
	val = json_object();
	put(e, val, "off", j_u64(b->off));
	put(e, val, "len", j_u64(b->len));
	put(e, val, "crc", j_hex(b->crc));
	put(e, obj, key, val);
}

static json_t *enc_host(struct enc *e, const struct image_host *h)
{
	json_t *o = json_object(), *cpuid = json_array();
	char kernel[sizeof(h->kernel_release) + 1];
	size_t i;

	memcpy(kernel, h->kernel_release, sizeof(h->kernel_release));
	kernel[sizeof(h->kernel_release)] = '\0';
	put(e, o, "kernel_release", j_str(kernel));
	for (i = 0; i < ARRAY_SIZE(h->cpuid); i++)
		append(e, cpuid, j_hex(h->cpuid[i]));
	put(e, o, "cpuid", cpuid);
	put(e, o, "xcr0", j_hex(h->xcr0));
	put(e, o, "xsave_size", j_u64(h->xsave_size));
	put(e, o, "vvar_size", j_u64(h->vvar_size));
	put(e, o, "vvar_vclock_size", j_u64(h->vvar_vclock_size));
	put(e, o, "vdso_size", j_u64(h->vdso_size));
	put(e, o, "vdso_crc", j_hex(h->vdso_crc));
	return o;
}

static json_t *enc_gpu(struct enc *e, const struct image_gpu *g)
{
	json_t *o = json_object(), *devs = json_array();
	uint32_t i;

	put(e, o, "driver", j_str(g->driver));
	put(e, o, "cuda_version", json_integer(g->cuda_version));
	for (i = 0; i < g->nr_devs && i < IMAGE_MAX_GPUS; i++) {
		json_t *d = json_object();

		put(e, d, "name", j_str(g->devs[i].name));
		put(e, d, "memory_bytes", j_u64(g->devs[i].memory_bytes));
		put(e, d, "cc_major", j_u64(g->devs[i].cc_major));
		put(e, d, "cc_minor", j_u64(g->devs[i].cc_minor));
		append(e, devs, d);
	}
	put(e, o, "devices", devs);
	put(e, o, "device_bytes", j_u64(g->device_bytes));
	put(e, o, "uvm_socket_fd", json_integer(g->uvm_socket_fd));
	put(e, o, "uvm_socket_nul", json_boolean(g->uvm_socket_nul));
	if (g->restore_tid)
		put(e, o, "restore_tid", json_integer(g->restore_tid));
	if (g->weights_tid) {
		put(e, o, "weights_tid", json_integer(g->weights_tid));
		put(e, o, "weights_req_fd", json_integer(g->weights_req_fd));
		put(e, o, "weights_rep_fd", json_integer(g->weights_rep_fd));
		put(e, o, "weights_segments", j_u64(g->weights_segments));
		put(e, o, "weights_bytes", j_u64(g->weights_bytes));
	}
	if (g->state_known) {
		json_t *st = json_array();

		for (i = 0; i < g->nr_state; i++)
			append(e, st,
			       json_pack("{s:o,s:o}", "start", j_hex(g->state[i].start), "end",
					 j_hex(g->state[i].end)));
		put(e, o, "state", st);
	}
	return o;
}

static json_t *enc_record(struct enc *e, const struct image_record *rec, const void *obj);

static json_t *enc_proc(struct enc *e, const struct image_proc *p)
{
	json_t *o = json_object(), *rl = json_object();
	json_t *sa = json_array(), *it = json_object();
	char comm[sizeof(p->comm) + 1];
	int i;

	put(e, o, "pid", json_integer(p->pid));
	put(e, o, "ppid", json_integer(p->ppid));
	put(e, o, "pgid", json_integer(p->pgid));
	put(e, o, "sid", json_integer(p->sid));
	put(e, o, "host_pid", json_integer(p->host_pid));
	memcpy(comm, p->comm, sizeof(p->comm));
	comm[sizeof(p->comm)] = '\0';
	put(e, o, "comm", j_str(comm));
	put(e, o, "umask", j_octal(p->umask));
	put(e, o, "personality", j_hex(p->personality));
	if (p->cwd)
		put(e, o, "cwd", j_str(p->cwd));
	put(e, o, "exe", json_integer(p->exe));
	put(e, o, "mm", enc_record(e, &image_mm_record, &p->mm));
	put_blob(e, o, "auxv", &p->auxv);
	for (i = 0; i < IMAGE_NR_RLIMITS; i++) {
		json_t *lim = json_object();

		put(e, lim, "cur", p->rlimits[i].cur == RLIM_UNLIMITED ? json_string("unlimited") :
									  j_u64(p->rlimits[i].cur));
		put(e, lim, "max", p->rlimits[i].max == RLIM_UNLIMITED ? json_string("unlimited") :
									  j_u64(p->rlimits[i].max));
		put(e, rl, rlimit_names[i], lim);
	}
	put(e, o, "rlimits", rl);
	for (i = 0; i < IMAGE_NR_SIGNALS; i++) {
		const struct image_sigaction *s = &p->sigactions[i];
		json_t *so;

		if (!s->handler && !s->flags && !s->restorer && !s->mask)
			continue; /* SIG_DFL, nothing to restore */
		so = json_object();
		put(e, so, "signal", json_integer(i + 1));
		put(e, so, "handler", j_hex(s->handler));
		put(e, so, "flags", j_hex(s->flags));
		put(e, so, "restorer", j_hex(s->restorer));
		put(e, so, "mask", j_hex(s->mask));
		append(e, sa, so);
	}
	put(e, o, "sigactions", sa);
	for (i = 0; i < 3; i++) {
		json_t *t = json_object();

		put(e, t, "interval_us", j_u64(p->itimers[i].interval_us));
		put(e, t, "value_us", j_u64(p->itimers[i].value_us));
		put(e, it, itimer_names[i], t);
	}
	put(e, o, "itimers", it);
	put_blob(e, o, "pending_shared", &p->pending_shared);
	put(e, o, "dumped_at_ns", j_u64(p->dumped_at_ns));
	return o;
}

static json_t *enc_thread(struct enc *e, const struct image_thread *t)
{
	json_t *o = json_object(), *rseq = json_object();
	json_t *alt = json_object();
	char comm[sizeof(t->comm) + 1];
	size_t i;

	put(e, o, "tid", json_integer(t->tid));
	memcpy(comm, t->comm, sizeof(t->comm));
	comm[sizeof(t->comm)] = '\0';
	put(e, o, "comm", j_str(comm));
	put(e, o, "state", json_string(image_thread_state_name(t->state)));
	put(e, o, "syscall_nr", json_integer(t->syscall_nr));
	put(e, o, "regs", enc_record(e, &image_regs_record, &t->regs));
	put_blob(e, o, "xsave", &t->xsave);
	put(e, o, "sigmask", j_hex(t->sigmask));
	put(e, o, "clear_child_tid", j_hex(t->clear_child_tid));
	put(e, o, "robust_list", j_hex(t->robust_list));
	put(e, o, "robust_list_len", j_u64(t->robust_list_len));
	put(e, rseq, "abi", j_hex(t->rseq_abi));
	put(e, rseq, "len", j_u64(t->rseq_len));
	put(e, rseq, "sig", j_hex(t->rseq_sig));
	put(e, rseq, "flags", j_hex(t->rseq_flags));
	put(e, o, "rseq", rseq);
	put(e, alt, "sp", j_hex(t->altstack_sp));
	put(e, alt, "size", j_u64(t->altstack_size));
	put(e, alt, "flags", j_hex(t->altstack_flags));
	put(e, o, "altstack", alt);
	put_blob(e, o, "pending", &t->pending);
	for (i = 0; i < image_nr_thread_sections; i++)
		put(e, o, image_thread_sections[i].key,
		    enc_record(e, image_thread_sections[i].rec,
			       (const char *)t + image_thread_sections[i].off));
	return o;
}

/*
 * A torch process has thousands of VMAs and restore parses them all: what
 * can be derived is left out (empty flag sets, zero page counts, a name
 * that is just the mapped file's path).
 */
static json_t *enc_vma(struct enc *e, const struct image *img, const struct image_vma *v)
{
	json_t *o = json_object();
	bool name_is_path = v->name && v->file >= 0 && (uint32_t)v->file < img->nr_files &&
			    img->files[v->file].path && !strcmp(v->name, img->files[v->file].path);

	put(e, o, "start", j_hex(v->start));
	put(e, o, "end", j_hex(v->end));
	put(e, o, "prot", j_prot(v->prot));
	put(e, o, "kind", json_string(image_vma_kind_name(v->kind)));
	if (v->flags)
		put(e, o, "flags", j_flags(v->flags, vma_flag_names, ARRAY_SIZE(vma_flag_names)));
	if (v->madv)
		put(e, o, "madvise", j_flags(v->madv, madv_names, ARRAY_SIZE(madv_names)));
	if (v->pgoff)
		put(e, o, "pgoff", j_hex(v->pgoff));
	if (v->file >= 0)
		put(e, o, "file", json_integer(v->file));
	if (v->shmem >= 0)
		put(e, o, "shmem", json_integer(v->shmem));
	if (v->name && !name_is_path)
		put(e, o, "name", j_str(v->name));
	if (v->pages_dumped || v->pages_zero || v->pages_file) {
		json_t *pages = json_object();

		put(e, pages, "dumped", j_u64(v->pages_dumped));
		put(e, pages, "zero", j_u64(v->pages_zero));
		put(e, pages, "file", j_u64(v->pages_file));
		put(e, o, "pages", pages);
	}
	return o;
}

static json_t *enc_record(struct enc *e, const struct image_record *rec, const void *obj);

static json_t *enc_fd(struct enc *e, const struct image_fd *f)
{
	json_t *o = json_object(), *k = NULL;
	uint32_t i;

	put(e, o, "fd", json_integer(f->fd));
	put(e, o, "kind", json_string(image_fd_kind_name(f->kind)));
	put(e, o, "flags", j_octal(f->flags));
	put(e, o, "cloexec", json_boolean(f->cloexec));
	put(e, o, "pos", j_u64(f->pos));
	if (f->share)
		put(e, o, "share", j_u64(f->share));
	if (f->file >= 0)
		put(e, o, "file", json_integer(f->file));
	switch (f->kind) {
	case IMAGE_FD_PIPE:
	case IMAGE_FD_FIFO:
		k = json_object();
		put(e, k, "ino", j_u64(f->pipe.ino));
		put(e, k, "end", json_string(f->pipe.is_write_end ? "write" : "read"));
		put(e, k, "capacity", j_u64(f->pipe.capacity));
		put_blob(e, k, "data", &f->pipe.data);
		put(e, o, "pipe", k);
		break;
	case IMAGE_FD_INHERIT:
		k = json_object();
		put(e, k, "from", json_integer(f->inherit.from));
		put(e, o, "inherit", k);
		break;
	case IMAGE_FD_EVENTFD:
		k = json_object();
		put(e, k, "count", j_u64(f->eventfd.count));
		put(e, k, "semaphore", json_boolean(f->eventfd.is_semaphore));
		put(e, o, "eventfd", k);
		break;
	case IMAGE_FD_EPOLL: {
		json_t *arr = json_array();

		k = json_object();
		for (i = 0; i < f->epoll.nr_watches; i++) {
			const struct image_epoll_watch *w = &f->epoll.watches[i];
			json_t *wo = json_object();

			put(e, wo, "fd", json_integer(w->tfd));
			put(e, wo, "events", j_hex(w->events));
			put(e, wo, "data", j_hex(w->data));
			if (w->via >= 0)
				put(e, wo, "via", json_integer(w->via));
			append(e, arr, wo);
		}
		put(e, k, "watches", arr);
		put(e, o, "epoll", k);
		break;
	}
	case IMAGE_FD_SIGNALFD:
		k = json_object();
		put(e, k, "mask", j_hex(f->signalfd.mask));
		put(e, o, "signalfd", k);
		break;
	case IMAGE_FD_TIMERFD:
		k = json_object();
		put(e, k, "clockid", json_integer(f->timerfd.clockid));
		put(e, k, "settime_flags", json_integer(f->timerfd.settime_flags));
		put(e, k, "ticks", j_u64(f->timerfd.ticks));
		put(e, k, "value_ns", j_u64(f->timerfd.value_ns));
		put(e, k, "interval_ns", j_u64(f->timerfd.interval_ns));
		if (f->timerfd.deadline_ns)
			put(e, k, "deadline_ns", j_u64(f->timerfd.deadline_ns));
		put(e, o, "timerfd", k);
		break;
	case IMAGE_FD_MEMFD:
		k = json_object();
		put(e, k, "shmem", json_integer(f->memfd.shmem));
		put(e, o, "memfd", k);
		break;
	case IMAGE_FD_SOCKET:
		k = json_object();
		put(e, k, "family", json_integer(f->sock.family));
		put(e, k, "type", json_integer(f->sock.type));
		put(e, k, "protocol", json_integer(f->sock.protocol));
		put(e, k, "state", json_string(f->sock.state < IMAGE_SOCK_STATE_COUNT ?
						       sock_state_names[f->sock.state] :
						       "unknown"));
		put(e, k, "ino", j_u64(f->sock.ino));
		put(e, k, "peer_ino", j_u64(f->sock.peer_ino));
		put(e, k, "backlog", j_u64(f->sock.backlog));
		put(e, k, "addr", j_bytes(f->sock.addr, f->sock.addr_len));
		put(e, k, "peer", j_bytes(f->sock.peer, f->sock.peer_len));
		put_blob(e, k, "queue", &f->sock.queue);
		put(e, k, "attrs", enc_record(e, &image_sock_attrs_record, &f->sock.attrs));
		put(e, o, "socket", k);
		break;
	default:
		if (f->kind < IMAGE_FD_KIND_COUNT && image_fd_kind_records[f->kind].rec)
			put(e, o, image_fd_kind_name(f->kind),
			    enc_record(e, image_fd_kind_records[f->kind].rec,
				       (const char *)f + image_fd_kind_records[f->kind].off));
		break;
	}
	return o;
}

static json_t *enc_shmem(struct enc *e, const struct image_shmem *s)
{
	json_t *o = json_object(), *arr = json_array();
	uint32_t i;

	put(e, o, "ino", j_u64(s->ino));
	put(e, o, "size", j_u64(s->size));
	put(e, o, "memfd", json_boolean(s->is_memfd));
	if (s->name)
		put(e, o, "name", j_str(s->name));
	put(e, o, "seals", j_hex(s->seals));
	if (s->path) {
		put(e, o, "path", j_str(s->path));
		put(e, o, "deleted", json_boolean(s->is_deleted));
	}
	if (s->path || s->is_sysv || s->is_memfd)
		put(e, o, "mode", j_octal(s->mode));
	if (s->uid)
		put(e, o, "uid", j_u64(s->uid));
	if (s->gid)
		put(e, o, "gid", j_u64(s->gid));
	if (s->is_sysv)
		put(e, o, "sysv", json_pack("{s:I,s:I}", "key", (json_int_t)s->sysv_key, "id",
					    (json_int_t)s->sysv_id));
	for (i = 0; i < s->nr_extents; i++) {
		json_t *x = json_object();

		put(e, x, "off", j_u64(s->extents[i].off));
		put_blob(e, x, "data", &s->extents[i].data);
		append(e, arr, x);
	}
	put(e, o, "extents", arr);
	return o;
}

/* ---- records described by tables (image-record.h) ---- */

static void store_uint(void *p, size_t size, uint64_t v)
{
	uint32_t v32 = (uint32_t)v;
	bool b = v != 0;

	if (size == sizeof(bool))
		memcpy(p, &b, sizeof(b));
	else if (size == 4)
		memcpy(p, &v32, 4);
	else
		memcpy(p, &v, 8);
}

static json_t *enc_scalar(uint8_t type, const void *p, size_t size, const struct image_field *f)
{
	uint64_t v = image_load_uint(p, size);

	switch (type) {
	case IMAGE_F_I32:
	case IMAGE_F_I64:
		return json_integer(image_load_int(p, type));
	case IMAGE_F_HEX32:
	case IMAGE_F_HEX64:
		return j_hex(v);
	case IMAGE_F_BOOL:
		return json_boolean(v);
	case IMAGE_F_OCTAL:
		return j_octal((uint32_t)v);
	case IMAGE_F_ENUM:
		return v < f->nr_names ? json_string(f->names[v]) : NULL;
	case IMAGE_F_FLAGS:
		return j_flags((uint32_t)v, f->names, f->nr_names);
	default:
		return j_u64(v);
	}
}

/* Optional fields are left out when zero (an empty array, a NULL string, all-zero bytes). */
static bool field_is_zero(const struct image_field *f, const void *obj)
{
	static const char zero[sizeof(struct image_blob)];
	const char *p = (const char *)obj + f->off;
	const char *str;

	if (f->type == IMAGE_F_ARRAY)
		return !image_load_uint((const char *)obj + f->count_off, sizeof(uint32_t));
	if (f->type == IMAGE_F_STR) {
		memcpy(&str, p, sizeof(str));
		return !str;
	}
	if (f->type == IMAGE_F_RECORD) { /* an optional record: absent when all zero */
		size_t i;

		for (i = 0; i < f->size; i++)
			if (p[i])
				return false;
		return true;
	}
	return f->size <= sizeof(zero) && !memcmp(p, zero, f->size);
}

static json_t *enc_record(struct enc *e, const struct image_record *rec, const void *obj)
{
	json_t *o = json_object();
	uint32_t i, k;

	for (i = 0; i < rec->nr_fields; i++) {
		const struct image_field *f = &rec->fields[i];
		const char *p = (const char *)obj + f->off;
		const char *str, *elems;
		uint32_t n;
		json_t *v;

		if (f->is_optional && field_is_zero(f, obj))
			continue;
		switch (f->type) {
		case IMAGE_F_BLOB:
			put_blob(e, o, f->name, (const struct image_blob *)p);
			continue;
		case IMAGE_F_STR:
			memcpy(&str, p, sizeof(str));
			v = j_str(str ? str : "");
			break;
		case IMAGE_F_BYTES:
			v = j_bytes((const uint8_t *)p, (uint32_t)f->size);
			break;
		case IMAGE_F_RECORD:
			v = enc_record(e, f->sub, p);
			break;
		case IMAGE_F_ARRAY:
			memcpy(&elems, p, sizeof(elems));
			n = (uint32_t)image_load_uint((const char *)obj + f->count_off, sizeof(uint32_t));
			v = json_array();
			for (k = 0; elems && k < n; k++) {
				const char *ep = elems + (size_t)k * f->elem_size;

				append(e, v, f->sub ? enc_record(e, f->sub, ep) :
						      enc_scalar(f->elem_type, ep, f->elem_size, f));
			}
			break;
		default:
			v = enc_scalar(f->type, p, f->size, f);
			break;
		}
		put(e, o, f->name, v);
	}
	return o;
}

/* Every section of image_sections: single records always, arrays when not empty. */
static void enc_sections(struct enc *e, json_t *root, const struct image *img)
{
	uint32_t i, k;

	for (i = 0; i < image_nr_sections; i++) {
		const struct image_section *s = &image_sections[i];
		const char *base = (const char *)img + s->off;
		const char *elems;
		uint32_t n;
		json_t *arr;

		if (!s->count_off) {
			put(e, root, s->key, enc_record(e, s->rec, base));
			continue;
		}
		memcpy(&elems, base, sizeof(elems));
		memcpy(&n, (const char *)img + s->count_off, sizeof(n));
		if (!n)
			continue;
		arr = json_array();
		for (k = 0; k < n; k++)
			append(e, arr, enc_record(e, s->rec, elems + (size_t)k * s->rec->size));
		put(e, root, s->key, arr);
	}
}

char *image_manifest_to_json(const struct image *img, int indent)
{
	json_t *root = json_object(), *arr, *pages;
	struct enc e = { false };
	char *text = NULL;
	uint32_t i;

	put(&e, root, "format", json_string("thaw-snapshot"));
	put(&e, root, "version", json_integer(img->version));
	put(&e, root, "host", enc_host(&e, &img->host));
	put(&e, root, "process", enc_proc(&e, &img->proc));
	if (img->has_gpu)
		put(&e, root, "gpu", enc_gpu(&e, &img->gpu));
	arr = json_array();
	for (i = 0; i < img->nr_threads; i++)
		append(&e, arr, enc_thread(&e, &img->threads[i]));
	put(&e, root, "threads", arr);
	arr = json_array();
	for (i = 0; i < img->nr_vmas; i++)
		append(&e, arr, enc_vma(&e, img, &img->vmas[i]));
	put(&e, root, "vmas", arr);
	arr = json_array();
	for (i = 0; i < img->nr_guards; i++)
		append(&e, arr,
		       json_pack("{s:o,s:o}", "start", j_hex(img->guards[i].start), "end",
				 j_hex(img->guards[i].end)));
	put(&e, root, "guards", arr);
	arr = json_array();
	for (i = 0; i < img->nr_fds; i++)
		append(&e, arr, enc_fd(&e, &img->fds[i]));
	put(&e, root, "fds", arr);
	arr = json_array();
	for (i = 0; i < img->nr_shmems; i++)
		append(&e, arr, enc_shmem(&e, &img->shmems[i]));
	put(&e, root, "shmems", arr);
	enc_sections(&e, root, img);
	pages = json_object();
	put(&e, pages, "runs", j_u64(img->nr_runs));
	put(&e, pages, "bytes", j_u64(img->pages_bytes));
	put(&e, root, "pages", pages);

	if (!e.failed)
		text = json_dumps(root, JSON_INDENT(indent < 0 ? 0 : indent > 31 ? 31 : indent) |
						JSON_COMPACT * (indent <= 0));
	json_decref(root);
	return text;
}

/* ---- decoding ---- */

struct dec {
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static int fail(struct dec *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->failed && d->err && d->errlen) {
		va_start(ap, fmt);
		vsnprintf(d->err, d->errlen, fmt, ap);
		va_end(ap);
	}
	d->failed = true;
	return -EINVAL;
}

/* strict "0x" + 1..16 hex digits */
static bool parse_hex(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	for (s += 2; *s; s++, n++) {
		int c = (unsigned char)*s, digit;

		if (c >= '0' && c <= '9')
			digit = c - '0';
		else if (c >= 'a' && c <= 'f')
			digit = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			digit = c - 'A' + 10;
		else
			return false;
		if (n >= 16)
			return false;
		v = v << 4 | (uint64_t)digit;
	}
	if (!n)
		return false;
	*out = v;
	return true;
}

static json_t *field(struct dec *d, json_t *obj, const char *where, const char *key, bool required)
{
	json_t *v = json_object_get(obj, key);

	if (!v && required)
		fail(d, "%s: \"%s\" is missing", where, key);
	return v;
}

/*
 * The val_*() readers parse one value v found under key in where (key NULL:
 * v is where itself, an element of an array); the name is put together only
 * for an error.  The get_*() readers look the key up first.
 */
#define AT "%s%s%s"
#define AT_ARGS(where, key) (where), (key) ? "." : "", (key) ? (key) : ""

static int val_u64(struct dec *d, json_t *v, const char *where, const char *key, uint64_t *out)
{
	*out = 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return fail(d, AT ": negative", AT_ARGS(where, key));
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && parse_hex(json_string_value(v), out))
		return 0;
	return fail(d, AT ": expected a number or a \"0x...\" string", AT_ARGS(where, key));
}

static int get_u64(struct dec *d, json_t *obj, const char *where, const char *key, bool required,
		   uint64_t *out)
{
	json_t *v = field(d, obj, where, key, required);

	*out = 0;
	if (!v)
		return required ? -EINVAL : 0;
	return val_u64(d, v, where, key, out);
}

static int get_u32(struct dec *d, json_t *obj, const char *where, const char *key, bool required,
		   uint32_t *out)
{
	uint64_t v;
	int ret = get_u64(d, obj, where, key, required, &v);

	*out = 0;
	if (ret)
		return ret;
	if (v > UINT32_MAX)
		return fail(d, "%s.%s: %" PRIu64 " does not fit 32 bits", where, key, v);
	*out = (uint32_t)v;
	return 0;
}

static int val_hex(struct dec *d, json_t *v, const char *where, const char *key, uint64_t *out)
{
	*out = 0;
	if (!json_is_string(v) || !parse_hex(json_string_value(v), out))
		return fail(d, AT ": expected a \"0x...\" string", AT_ARGS(where, key));
	return 0;
}

static int get_hex(struct dec *d, json_t *obj, const char *where, const char *key, uint64_t *out)
{
	json_t *v = field(d, obj, where, key, true);

	*out = 0;
	return v ? val_hex(d, v, where, key, out) : -EINVAL;
}

static int get_hex32(struct dec *d, json_t *obj, const char *where, const char *key, uint32_t *out)
{
	uint64_t v;
	int ret = get_hex(d, obj, where, key, &v);

	*out = 0;
	if (ret)
		return ret;
	if (v > UINT32_MAX)
		return fail(d, "%s.%s: 0x%" PRIx64 " does not fit 32 bits", where, key, v);
	*out = (uint32_t)v;
	return 0;
}

/* signed integers: pids, indexes, syscall numbers */
static int val_int(struct dec *d, json_t *v, const char *where, const char *key, int64_t min,
		   int64_t max, int64_t *out)
{
	if (!json_is_integer(v))
		return fail(d, AT ": expected an integer", AT_ARGS(where, key));
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(d, AT ": %lld out of range [%lld, %lld]", AT_ARGS(where, key),
			    (long long)json_integer_value(v), (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

static int get_int(struct dec *d, json_t *obj, const char *where, const char *key, bool required,
		   int64_t min, int64_t max, int64_t dflt, int64_t *out)
{
	json_t *v = field(d, obj, where, key, required);

	*out = dflt;
	if (!v)
		return required ? -EINVAL : 0;
	return val_int(d, v, where, key, min, max, out);
}

static int get_i32(struct dec *d, json_t *obj, const char *where, const char *key, bool required,
		   int64_t min, int64_t max, int32_t dflt, int32_t *out)
{
	int64_t v;
	int ret = get_int(d, obj, where, key, required, min, max, dflt, &v);

	*out = (int32_t)v;
	return ret;
}

static int val_bool(struct dec *d, json_t *v, const char *where, const char *key, bool *out)
{
	*out = false;
	if (!json_is_boolean(v))
		return fail(d, AT ": expected true or false", AT_ARGS(where, key));
	*out = json_is_true(v);
	return 0;
}

static int get_bool(struct dec *d, json_t *obj, const char *where, const char *key, bool *out)
{
	json_t *v = field(d, obj, where, key, true);

	*out = false;
	return v ? val_bool(d, v, where, key, out) : -EINVAL;
}

static int val_octal(struct dec *d, json_t *v, const char *where, const char *key, uint32_t max,
		     uint32_t *out)
{
	const char *s;
	uint64_t n = 0;

	*out = 0;
	if (!json_is_string(v))
		return fail(d, AT ": expected an octal string", AT_ARGS(where, key));
	s = json_string_value(v);
	if (!*s)
		return fail(d, AT ": empty", AT_ARGS(where, key));
	for (; *s; s++) {
		if (*s < '0' || *s > '7')
			return fail(d, AT ": not an octal number", AT_ARGS(where, key));
		n = n * 8 + (uint64_t)(*s - '0');
		if (n > max)
			return fail(d, AT ": above 0%o", AT_ARGS(where, key), max);
	}
	*out = (uint32_t)n;
	return 0;
}

static int get_octal(struct dec *d, json_t *obj, const char *where, const char *key,
		     uint32_t max, uint32_t *out)
{
	json_t *v = field(d, obj, where, key, true);

	*out = 0;
	return v ? val_octal(d, v, where, key, max, out) : -EINVAL;
}

/*
 * A string of fewer than maxlen bytes with no NUL: a JSON string, or
 * {"hex": "..."} for bytes that are not UTF-8.  Returns a malloc'd copy.
 */
static int get_str(struct dec *d, json_t *obj, const char *where, const char *key, bool required,
		   size_t maxlen, char **out)
{
	json_t *v = field(d, obj, where, key, required), *h;
	const char *hex;
	size_t len, i;
	char *s;

	*out = NULL;
	if (!v)
		return required ? -EINVAL : 0;
	if (json_is_string(v)) {
		len = json_string_length(v);
		if (len >= maxlen)
			return fail(d, "%s.%s: longer than %zu bytes", where, key, maxlen - 1);
		if (memchr(json_string_value(v), '\0', len))
			return fail(d, "%s.%s: contains a NUL byte", where, key);
		s = strdup(json_string_value(v));
		if (!s)
			return fail(d, "%s.%s: out of memory", where, key);
		*out = s;
		return 0;
	}
	h = json_is_object(v) ? json_object_get(v, "hex") : NULL;
	if (!h || !json_is_string(h))
		return fail(d, "%s.%s: expected a string", where, key);
	hex = json_string_value(h);
	len = json_string_length(h);
	if (len % 2)
		return fail(d, "%s.%s.hex: odd number of digits", where, key);
	if (len / 2 >= maxlen)
		return fail(d, "%s.%s: longer than %zu bytes", where, key, maxlen - 1);
	s = malloc(len / 2 + 1);
	if (!s)
		return fail(d, "%s.%s: out of memory", where, key);
	for (i = 0; i < len / 2; i++) {
		int hi = hex_digit((unsigned char)hex[2 * i]), lo = hex_digit((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(s);
			return fail(d, "%s.%s.hex: bad digit or NUL byte", where, key);
		}
		s[i] = (char)(hi << 4 | lo);
	}
	s[len / 2] = '\0';
	*out = s;
	return 0;
}

/* into a fixed char array (comm, kernel release) that need not be NUL-terminated when full */
static int get_fixed_str(struct dec *d, json_t *obj, const char *where, const char *key,
			 char *buf, size_t size)
{
	char *s;
	int ret = get_str(d, obj, where, key, true, size + 1, &s);

	memset(buf, 0, size);
	if (ret)
		return ret;
	memcpy(buf, s, strlen(s));
	free(s);
	return 0;
}

/* Hex digits into at most max bytes (a sockaddr). */
static int get_bytes(struct dec *d, json_t *obj, const char *where, const char *key,
		     uint8_t *out, uint32_t max, uint32_t *ret_len)
{
	json_t *v = field(d, obj, where, key, true);
	const char *hex;
	size_t len, i;

	*ret_len = 0;
	if (!v)
		return -EINVAL;
	if (!json_is_string(v))
		return fail(d, "%s.%s: expected a string of hex digits", where, key);
	hex = json_string_value(v);
	len = json_string_length(v);
	if (len % 2 || len / 2 > max)
		return fail(d, "%s.%s: %zu hex digits, want an even number up to %u", where, key,
			    len, 2 * max);
	for (i = 0; i < len / 2; i++) {
		int hi = hex_digit((unsigned char)hex[2 * i]), lo = hex_digit((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return fail(d, "%s.%s: bad hex digit", where, key);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*ret_len = (uint32_t)(len / 2);
	return 0;
}

static int get_blob(struct dec *d, json_t *obj, const char *where, const char *key,
		    struct image_blob *b)
{
	json_t *v = field(d, obj, where, key, false);
	char sub[160];

	memset(b, 0, sizeof(*b));
	if (!v)
		return 0;
	if (!json_is_object(v))
		return fail(d, "%s.%s: expected a blob {\"off\", \"len\", \"crc\"}", where, key);
	snprintf(sub, sizeof(sub), "%s.%s", where, key);
	if (get_u64(d, v, sub, "off", true, &b->off) || get_u64(d, v, sub, "len", true, &b->len) ||
	    get_hex32(d, v, sub, "crc", &b->crc))
		return -EINVAL;
	if (b->off > UINT64_MAX - b->len)
		return fail(d, "%s: offset + length overflows", sub);
	return 0;
}

static json_t *get_obj(struct dec *d, json_t *obj, const char *where, const char *key)
{
	json_t *v = field(d, obj, where, key, true);

	if (v && !json_is_object(v)) {
		fail(d, "%s.%s: expected an object", where, key);
		return NULL;
	}
	return v;
}

static json_t *get_array(struct dec *d, json_t *obj, const char *where, const char *key,
			 size_t max, size_t *nr)
{
	json_t *v = field(d, obj, where, key, true);

	*nr = 0;
	if (!v)
		return NULL;
	if (!json_is_array(v)) {
		fail(d, "%s.%s: expected an array", where, key);
		return NULL;
	}
	if (json_array_size(v) > max) {
		fail(d, "%s.%s: %zu entries, at most %zu allowed", where, key, json_array_size(v),
		     max);
		return NULL;
	}
	*nr = json_array_size(v);
	return v;
}

static int val_enum(struct dec *d, json_t *v, const char *where, const char *key,
		    const char *const *names, size_t nr, uint32_t *out)
{
	size_t i;

	*out = 0;
	if (json_is_string(v))
		for (i = 0; i < nr; i++)
			if (!strcmp(json_string_value(v), names[i])) {
				*out = (uint32_t)i;
				return 0;
			}
	return fail(d, AT ": unknown value", AT_ARGS(where, key));
}

static int get_enum(struct dec *d, json_t *obj, const char *where, const char *key,
		    const char *const *names, size_t nr, uint32_t *out)
{
	json_t *v = field(d, obj, where, key, true);

	*out = 0;
	return v ? val_enum(d, v, where, key, names, nr, out) : -EINVAL;
}

/* An array of at most 32 flag names, each a bit of *out. */
static int val_flags(struct dec *d, json_t *arr, const char *where, const char *key,
		     const char *const *names, size_t nr, uint32_t *out)
{
	size_t n = json_is_array(arr) ? json_array_size(arr) : 0, i;
	uint32_t v = 0;

	*out = 0;
	if (!json_is_array(arr))
		return fail(d, AT ": expected an array", AT_ARGS(where, key));
	if (n > 32)
		return fail(d, AT ": %zu entries, at most 32 allowed", AT_ARGS(where, key), n);
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(arr, i);
		size_t k;

		for (k = 0; k < nr && json_is_string(s); k++)
			if (!strcmp(json_string_value(s), names[k]))
				break;
		if (!json_is_string(s) || k == nr)
			return fail(d, AT "[%zu]: unknown flag", AT_ARGS(where, key), i);
		v |= 1u << k;
	}
	*out = v;
	return 0;
}

static int get_flags(struct dec *d, json_t *obj, const char *where, const char *key,
		     const char *const *names, size_t nr, uint32_t *out)
{
	json_t *v = field(d, obj, where, key, true);

	*out = 0;
	return v ? val_flags(d, v, where, key, names, nr, out) : -EINVAL;
}

static int get_prot(struct dec *d, json_t *obj, const char *where, const char *key, uint32_t *out)
{
	json_t *v = field(d, obj, where, key, true);
	const char *s;

	*out = 0;
	if (!v)
		return -EINVAL;
	s = json_is_string(v) ? json_string_value(v) : "";
	if (strlen(s) != 3 || (s[0] != 'r' && s[0] != '-') || (s[1] != 'w' && s[1] != '-') ||
	    (s[2] != 'x' && s[2] != '-'))
		return fail(d, "%s.%s: expected \"rwx\" with '-' for absent bits", where, key);
	*out = (s[0] == 'r' ? 1u : 0) | (s[1] == 'w' ? 2u : 0) | (s[2] == 'x' ? 4u : 0);
	return 0;
}

static int get_rlim(struct dec *d, json_t *obj, const char *where, const char *key, uint64_t *out)
{
	json_t *v = field(d, obj, where, key, true);

	if (v && json_is_string(v) && !strcmp(json_string_value(v), "unlimited")) {
		*out = RLIM_UNLIMITED;
		return 0;
	}
	return get_u64(d, obj, where, key, true, out);
}

/* ---- records described by tables (image-record.h) ---- */

static int dec_record(struct dec *d, const struct image_record *rec, json_t *o, const char *where,
		      void *obj);

/*
 * One scalar of type t at p (size bytes), from v, inside [f->min, f->max]:
 * v is key of where (a field), or where itself (key NULL: an element).
 */
static int dec_scalar(struct dec *d, const struct image_field *f, uint8_t type, json_t *v,
		      const char *where, const char *key, void *p, size_t size)
{
	uint64_t u = 0;
	int64_t i = 0;
	uint32_t u32;
	bool b;
	int ret;

	switch (type) {
	case IMAGE_F_I32:
	case IMAGE_F_I64:
		ret = val_int(d, v, where, key, f->min,
			      f->max > INT64_MAX ? INT64_MAX : (int64_t)f->max, &i);
		u = (uint64_t)i;
		if (!ret && type == IMAGE_F_I32 && (i < INT32_MIN || i > INT32_MAX))
			ret = fail(d, AT ": %lld does not fit 32 bits", AT_ARGS(where, key),
				   (long long)i);
		if (!ret && type == IMAGE_F_I32)
			u = (uint64_t)(uint32_t)(int32_t)i;
		break;
	case IMAGE_F_HEX32:
	case IMAGE_F_HEX64:
		ret = val_hex(d, v, where, key, &u);
		break;
	case IMAGE_F_BOOL:
		ret = val_bool(d, v, where, key, &b);
		u = b;
		break;
	case IMAGE_F_OCTAL:
		ret = val_octal(d, v, where, key, (uint32_t)f->max, &u32);
		u = u32;
		break;
	case IMAGE_F_ENUM:
		ret = val_enum(d, v, where, key, f->names, f->nr_names, &u32);
		u = u32;
		break;
	case IMAGE_F_FLAGS:
		ret = val_flags(d, v, where, key, f->names, f->nr_names, &u32);
		u = u32;
		break;
	default:
		ret = val_u64(d, v, where, key, &u);
		break;
	}
	if (ret)
		return -EINVAL;
	if ((type == IMAGE_F_U32 || type == IMAGE_F_U64 || type == IMAGE_F_HEX32 ||
	     type == IMAGE_F_HEX64) &&
	    (u < (uint64_t)f->min || u > f->max || (size == 4 && u > UINT32_MAX)))
		return fail(d, AT ": %" PRIu64 " out of range [%lld, %" PRIu64 "]",
			    AT_ARGS(where, key), u, (long long)f->min, f->max);
	store_uint(p, size, u);
	return 0;
}

static int dec_array_field(struct dec *d, const struct image_field *f, json_t *v,
			   const char *where, void *obj)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0, k;
	char elem[224];
	char *elems;
	int ret = 0;

	if (!json_is_array(v))
		return fail(d, "%s: expected an array", where);
	if (n > f->max_count)
		return fail(d, "%s: %zu entries, at most %u allowed", where, n, f->max_count);
	if (!n)
		return 0;
	elems = calloc(n, f->elem_size);
	if (!elems)
		return fail(d, "%s: out of memory for %zu entries", where, n);
	/* owned by obj from here: image_record_release() frees what is half decoded */
	memcpy((char *)obj + f->off, &elems, sizeof(elems));
	store_uint((char *)obj + f->count_off, sizeof(uint32_t), n);
	for (k = 0; !ret && k < n; k++) {
		json_t *ev = json_array_get(v, k);
		char *ep = elems + k * f->elem_size;

		snprintf(elem, sizeof(elem), "%s[%zu]", where, k);
		ret = f->sub ? dec_record(d, f->sub, ev, elem, ep) :
			       dec_scalar(d, f, f->elem_type, ev, elem, NULL, ep, f->elem_size);
	}
	return ret;
}

static int dec_record(struct dec *d, const struct image_record *rec, json_t *o, const char *where,
		      void *obj)
{
	char sub[192];
	uint32_t i;
	int ret;

	if (!json_is_object(o))
		return fail(d, "%s: expected an object", where);
	for (i = 0; i < rec->nr_fields; i++) {
		const struct image_field *f = &rec->fields[i];
		char *p = (char *)obj + f->off;
		json_t *v = field(d, o, where, f->name, !f->is_optional);

		if (!v) {
			if (!f->is_optional)
				return -EINVAL;
			continue;
		}
		/* the name of a nested record or array; a scalar's is made only for an error */
		if (f->type == IMAGE_F_RECORD || f->type == IMAGE_F_ARRAY ||
		    f->type == IMAGE_F_BYTES)
			snprintf(sub, sizeof(sub), "%s.%s", where, f->name);
		switch (f->type) {
		case IMAGE_F_BLOB:
			ret = get_blob(d, o, where, f->name, (struct image_blob *)p);
			break;
		case IMAGE_F_STR: {
			char *str;

			ret = get_str(d, o, where, f->name, true, f->max, &str);
			if (!ret)
				memcpy(p, &str, sizeof(str));
			break;
		}
		case IMAGE_F_BYTES: {
			uint32_t n;

			ret = get_bytes(d, o, where, f->name, (uint8_t *)p, (uint32_t)f->size, &n);
			if (!ret && n != f->size)
				ret = fail(d, "%s: %u bytes, want %zu (%zu hex digits)", sub, n,
					   f->size, 2 * f->size);
			break;
		}
		case IMAGE_F_RECORD:
			ret = dec_record(d, f->sub, v, sub, p);
			break;
		case IMAGE_F_ARRAY:
			ret = dec_array_field(d, f, v, sub, obj);
			break;
		default:
			ret = dec_scalar(d, f, f->type, v, where, f->name, p, f->size);
			break;
		}
		if (ret)
			return -EINVAL;
	}
	/* no key the table does not know: a misspelt field must not be ignored */
	{
		const char *key;
		json_t *val;

		json_object_foreach(o, key, val) {
			for (i = 0; i < rec->nr_fields; i++)
				if (!strcmp(key, rec->fields[i].name))
					break;
			if (i == rec->nr_fields)
				return fail(d, "%s: unknown field \"%s\"", where, key);
		}
	}
	if (rec->check && rec->check(obj, where, d->err, d->errlen)) {
		d->failed = true;
		return -EINVAL;
	}
	return 0;
}

static int dec_host(struct dec *d, json_t *o, struct image_host *h)
{
	size_t n, i;
	json_t *cpuid;

	if (get_fixed_str(d, o, "host", "kernel_release", h->kernel_release,
			  sizeof(h->kernel_release)))
		return -EINVAL;
	cpuid = get_array(d, o, "host", "cpuid", ARRAY_SIZE(h->cpuid), &n);
	if (!cpuid)
		return -EINVAL;
	if (n != ARRAY_SIZE(h->cpuid))
		return fail(d, "host.cpuid: expected %zu words, found %zu", ARRAY_SIZE(h->cpuid), n);
	for (i = 0; i < n; i++) {
		json_t *w = json_array_get(cpuid, i);
		uint64_t v;

		if (!json_is_string(w) || !parse_hex(json_string_value(w), &v) || v > UINT32_MAX)
			return fail(d, "host.cpuid[%zu]: expected a 32-bit \"0x...\" string", i);
		h->cpuid[i] = (uint32_t)v;
	}
	if (get_hex(d, o, "host", "xcr0", &h->xcr0) ||
	    get_u32(d, o, "host", "xsave_size", true, &h->xsave_size) ||
	    get_u64(d, o, "host", "vvar_size", true, &h->vvar_size) ||
	    get_u64(d, o, "host", "vvar_vclock_size", true, &h->vvar_vclock_size) ||
	    get_u64(d, o, "host", "vdso_size", true, &h->vdso_size) ||
	    get_hex32(d, o, "host", "vdso_crc", &h->vdso_crc))
		return -EINVAL;
	return 0;
}

/* gpu.state (left out: not recorded): page-aligned ranges, sorted, none overlapping. */
static int dec_gpu_state(struct dec *d, json_t *o, struct image_gpu *g)
{
	uint64_t prev_end = 0;
	json_t *st;
	size_t n, i;

	if (!json_object_get(o, "state"))
		return 0;
	st = get_array(d, o, "gpu", "state", IMAGE_MAX_GPU_STATE, &n);
	if (!st)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(st, i);
		uint64_t start, end;

		if (!json_is_object(v))
			return fail(d, "gpu.state[%zu]: expected an object", i);
		if (get_hex(d, v, "gpu.state", "start", &start) ||
		    get_hex(d, v, "gpu.state", "end", &end))
			return -EINVAL;
		if (start % IMAGE_PAGE_SIZE || end % IMAGE_PAGE_SIZE || start >= end ||
		    end > IMAGE_ADDR_LIMIT || start < prev_end)
			return fail(d, "gpu.state[%zu]: 0x%" PRIx64 "-0x%" PRIx64 " is not a page range "
				    "after the one before",
				    i, start, end);
		g->state[i].start = start;
		g->state[i].end = end;
		prev_end = end;
	}
	g->nr_state = (uint32_t)n;
	g->state_known = true;
	return 0;
}

static int dec_gpu(struct dec *d, json_t *o, struct image_gpu *g)
{
	size_t n, i;
	json_t *devs;

	if (get_fixed_str(d, o, "gpu", "driver", g->driver, sizeof(g->driver) - 1) ||
	    get_i32(d, o, "gpu", "cuda_version", true, 0, INT32_MAX, 0, &g->cuda_version) ||
	    get_u64(d, o, "gpu", "device_bytes", true, &g->device_bytes) ||
	    get_i32(d, o, "gpu", "uvm_socket_fd", true, -1, INT32_MAX, -1, &g->uvm_socket_fd) ||
	    get_bool(d, o, "gpu", "uvm_socket_nul", &g->uvm_socket_nul) ||
	    get_i32(d, o, "gpu", "restore_tid", false, 1, INT32_MAX, 0, &g->restore_tid) ||
	    get_i32(d, o, "gpu", "weights_tid", false, 1, INT32_MAX, 0, &g->weights_tid))
		return -EINVAL;
	/* a region's pipes and size come with its thread, and only then */
	if (g->weights_tid &&
	    (get_i32(d, o, "gpu", "weights_req_fd", true, 0, INT32_MAX, -1, &g->weights_req_fd) ||
	     get_i32(d, o, "gpu", "weights_rep_fd", true, 0, INT32_MAX, -1, &g->weights_rep_fd) ||
	     get_u32(d, o, "gpu", "weights_segments", true, &g->weights_segments) ||
	     get_u64(d, o, "gpu", "weights_bytes", true, &g->weights_bytes)))
		return -EINVAL;
	devs = get_array(d, o, "gpu", "devices", IMAGE_MAX_GPUS, &n);
	if (!devs)
		return -EINVAL;
	g->nr_devs = (uint32_t)n;
	for (i = 0; i < n; i++) {
		struct image_gpu_dev *dev = &g->devs[i];
		json_t *v = json_array_get(devs, i);

		if (!json_is_object(v))
			return fail(d, "gpu.devices[%zu]: expected an object", i);
		if (get_fixed_str(d, v, "gpu.devices", "name", dev->name, sizeof(dev->name) - 1) ||
		    get_u64(d, v, "gpu.devices", "memory_bytes", true, &dev->memory_bytes) ||
		    get_u32(d, v, "gpu.devices", "cc_major", true, &dev->cc_major) ||
		    get_u32(d, v, "gpu.devices", "cc_minor", true, &dev->cc_minor))
			return -EINVAL;
	}
	return dec_gpu_state(d, o, g);
}

static int dec_proc(struct dec *d, json_t *o, struct image_proc *p)
{
	json_t *mm, *rl, *sa, *it;
	uint64_t seen = 0;
	size_t i, n;
	int32_t v;

	if (get_i32(d, o, "process", "pid", true, 1, INT32_MAX, 0, &p->pid) ||
	    get_i32(d, o, "process", "ppid", true, 0, INT32_MAX, 0, &p->ppid) ||
	    get_i32(d, o, "process", "pgid", true, 0, INT32_MAX, 0, &p->pgid) ||
	    get_i32(d, o, "process", "sid", true, 0, INT32_MAX, 0, &p->sid) ||
	    get_i32(d, o, "process", "host_pid", true, 0, INT32_MAX, 0, &p->host_pid) ||
	    get_fixed_str(d, o, "process", "comm", p->comm, sizeof(p->comm)) ||
	    get_octal(d, o, "process", "umask", 0777, &p->umask) ||
	    get_hex32(d, o, "process", "personality", &p->personality) ||
	    get_str(d, o, "process", "cwd", true, IMAGE_MAX_PATH, &p->cwd) ||
	    get_i32(d, o, "process", "exe", true, -1, INT32_MAX, -1, &v))
		return -EINVAL;
	p->exe = v;
	mm = get_obj(d, o, "process", "mm");
	if (!mm || dec_record(d, &image_mm_record, mm, "process.mm", &p->mm))
		return -EINVAL;
	if (get_blob(d, o, "process", "auxv", &p->auxv))
		return -EINVAL;
	rl = get_obj(d, o, "process", "rlimits");
	if (!rl)
		return -EINVAL;
	for (i = 0; i < IMAGE_NR_RLIMITS; i++) {
		char where[64];
		json_t *lim;

		snprintf(where, sizeof(where), "process.rlimits.%s", rlimit_names[i]);
		lim = get_obj(d, rl, "process.rlimits", rlimit_names[i]);
		if (!lim || get_rlim(d, lim, where, "cur", &p->rlimits[i].cur) ||
		    get_rlim(d, lim, where, "max", &p->rlimits[i].max))
			return -EINVAL;
	}
	sa = get_array(d, o, "process", "sigactions", IMAGE_NR_SIGNALS, &n);
	if (!sa)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(sa, i);
		struct image_sigaction *act;
		char where[64];
		int64_t sig;

		snprintf(where, sizeof(where), "process.sigactions[%zu]", i);
		if (!json_is_object(s))
			return fail(d, "%s: expected an object", where);
		if (get_int(d, s, where, "signal", true, 1, IMAGE_NR_SIGNALS, 0, &sig))
			return -EINVAL;
		if (seen & (1ull << (sig - 1)))
			return fail(d, "%s: signal %lld listed twice", where, (long long)sig);
		/* the kernel refuses them, so a snapshot that has one was not made by a dump */
		if (sig == SIGKILL || sig == SIGSTOP)
			return fail(d, "%s: signal %lld (%s) cannot have an action", where,
				    (long long)sig, sig == SIGKILL ? "SIGKILL" : "SIGSTOP");
		seen |= 1ull << (sig - 1);
		act = &p->sigactions[sig - 1];
		if (get_hex(d, s, where, "handler", &act->handler) ||
		    get_hex(d, s, where, "flags", &act->flags) ||
		    get_hex(d, s, where, "restorer", &act->restorer) ||
		    get_hex(d, s, where, "mask", &act->mask))
			return -EINVAL;
	}
	it = get_obj(d, o, "process", "itimers");
	if (!it)
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		char where[64];
		json_t *t = get_obj(d, it, "process.itimers", itimer_names[i]);

		snprintf(where, sizeof(where), "process.itimers.%s", itimer_names[i]);
		if (!t || get_u64(d, t, where, "interval_us", true, &p->itimers[i].interval_us) ||
		    get_u64(d, t, where, "value_us", true, &p->itimers[i].value_us))
			return -EINVAL;
	}
	if (get_blob(d, o, "process", "pending_shared", &p->pending_shared) ||
	    get_u64(d, o, "process", "dumped_at_ns", true, &p->dumped_at_ns))
		return -EINVAL;
	return 0;
}

static int dec_thread(struct dec *d, json_t *o, const char *where, struct image_thread *t)
{
	json_t *regs, *rseq, *alt;
	char sub[96];
	int64_t nr;
	size_t i;

	if (!json_is_object(o))
		return fail(d, "%s: expected an object", where);
	if (get_i32(d, o, where, "tid", true, 1, INT32_MAX, 0, &t->tid) ||
	    get_fixed_str(d, o, where, "comm", t->comm, sizeof(t->comm)) ||
	    get_enum(d, o, where, "state", thread_state_names, ARRAY_SIZE(thread_state_names),
		     &t->state) ||
	    get_int(d, o, where, "syscall_nr", true, -1, 4095, -1, &nr))
		return -EINVAL;
	t->syscall_nr = nr;
	regs = get_obj(d, o, where, "regs");
	if (!regs)
		return -EINVAL;
	snprintf(sub, sizeof(sub), "%s.regs", where);
	if (dec_record(d, &image_regs_record, regs, sub, &t->regs))
		return -EINVAL;
	if (get_blob(d, o, where, "xsave", &t->xsave) ||
	    get_hex(d, o, where, "sigmask", &t->sigmask) ||
	    get_hex(d, o, where, "clear_child_tid", &t->clear_child_tid) ||
	    get_hex(d, o, where, "robust_list", &t->robust_list) ||
	    get_u64(d, o, where, "robust_list_len", true, &t->robust_list_len))
		return -EINVAL;
	rseq = get_obj(d, o, where, "rseq");
	alt = get_obj(d, o, where, "altstack");
	if (!rseq || !alt)
		return -EINVAL;
	snprintf(sub, sizeof(sub), "%s.rseq", where);
	if (get_hex(d, rseq, sub, "abi", &t->rseq_abi) ||
	    get_u32(d, rseq, sub, "len", true, &t->rseq_len) ||
	    get_hex(d, rseq, sub, "sig", &t->rseq_sig) ||
	    get_hex32(d, rseq, sub, "flags", &t->rseq_flags))
		return -EINVAL;
	snprintf(sub, sizeof(sub), "%s.altstack", where);
	if (get_hex(d, alt, sub, "sp", &t->altstack_sp) ||
	    get_u64(d, alt, sub, "size", true, &t->altstack_size) ||
	    get_hex32(d, alt, sub, "flags", &t->altstack_flags))
		return -EINVAL;
	if (get_blob(d, o, where, "pending", &t->pending))
		return -EINVAL;
	for (i = 0; i < image_nr_thread_sections; i++) {
		const struct image_section *s = &image_thread_sections[i];
		json_t *r = get_obj(d, o, where, s->key);

		snprintf(sub, sizeof(sub), "%s.%s", where, s->key);
		if (!r || dec_record(d, s->rec, r, sub, (char *)t + s->off))
			return -EINVAL;
	}
	return 0;
}

static int dec_vma(struct dec *d, json_t *o, const char *where, struct image_vma *v)
{
	json_t *pages;
	char sub[96];

	if (!json_is_object(o))
		return fail(d, "%s: expected an object", where);
	if (get_hex(d, o, where, "start", &v->start) || get_hex(d, o, where, "end", &v->end) ||
	    get_prot(d, o, where, "prot", &v->prot) ||
	    get_enum(d, o, where, "kind", vma_kind_names, ARRAY_SIZE(vma_kind_names), &v->kind) ||
	    (json_object_get(o, "flags") &&
	     get_flags(d, o, where, "flags", vma_flag_names, ARRAY_SIZE(vma_flag_names),
		       &v->flags)) ||
	    (json_object_get(o, "madvise") &&
	     get_flags(d, o, where, "madvise", madv_names, ARRAY_SIZE(madv_names), &v->madv)) ||
	    (json_object_get(o, "pgoff") && get_hex(d, o, where, "pgoff", &v->pgoff)) ||
	    get_i32(d, o, where, "file", false, 0, INT32_MAX, -1, &v->file) ||
	    get_i32(d, o, where, "shmem", false, 0, INT32_MAX, -1, &v->shmem) ||
	    get_str(d, o, where, "name", false, IMAGE_MAX_PATH, &v->name))
		return -EINVAL;
	if (!json_object_get(o, "pages"))
		return 0;
	pages = get_obj(d, o, where, "pages");
	if (!pages)
		return -EINVAL;
	snprintf(sub, sizeof(sub), "%s.pages", where);
	if (get_u64(d, pages, sub, "dumped", true, &v->pages_dumped) ||
	    get_u64(d, pages, sub, "zero", true, &v->pages_zero) ||
	    get_u64(d, pages, sub, "file", true, &v->pages_file))
		return -EINVAL;
	return 0;
}

static json_t *kind_obj(struct dec *d, json_t *o, const char *where, const char *key,
			char *sub, size_t sublen)
{
	snprintf(sub, sublen, "%s.%s", where, key);
	return get_obj(d, o, where, key);
}

static int dec_fd(struct dec *d, json_t *o, const char *where, struct image_fd *f)
{
	char sub[96];
	json_t *k, *attrs;
	uint32_t end;
	size_t n, i;

	static const char *const ends[] = { "read", "write" };

	if (!json_is_object(o))
		return fail(d, "%s: expected an object", where);
	if (get_i32(d, o, where, "fd", true, -IMAGE_MAX_FDS, INT32_MAX, 0, &f->fd) ||
	    get_enum(d, o, where, "kind", fd_kind_names, ARRAY_SIZE(fd_kind_names), &f->kind) ||
	    get_octal(d, o, where, "flags", 077777777, &f->flags) ||
	    get_bool(d, o, where, "cloexec", &f->cloexec) ||
	    get_u64(d, o, where, "pos", true, &f->pos) ||
	    get_u32(d, o, where, "share", false, &f->share) ||
	    get_i32(d, o, where, "file", false, 0, INT32_MAX, -1, &f->file))
		return -EINVAL;
	switch (f->kind) {
	case IMAGE_FD_PIPE:
	case IMAGE_FD_FIFO:
		k = kind_obj(d, o, where, "pipe", sub, sizeof(sub));
		if (!k || get_u64(d, k, sub, "ino", true, &f->pipe.ino) ||
		    get_enum(d, k, sub, "end", ends, 2, &end) ||
		    get_u32(d, k, sub, "capacity", true, &f->pipe.capacity) ||
		    get_blob(d, k, sub, "data", &f->pipe.data))
			return -EINVAL;
		f->pipe.is_write_end = end == 1;
		break;
	case IMAGE_FD_INHERIT:
		k = kind_obj(d, o, where, "inherit", sub, sizeof(sub));
		if (!k || get_i32(d, k, sub, "from", true, 0, IMAGE_MAX_FDS - 1, 0, &f->inherit.from))
			return -EINVAL;
		break;
	case IMAGE_FD_EVENTFD:
		k = kind_obj(d, o, where, "eventfd", sub, sizeof(sub));
		if (!k || get_u64(d, k, sub, "count", true, &f->eventfd.count) ||
		    get_bool(d, k, sub, "semaphore", &f->eventfd.is_semaphore))
			return -EINVAL;
		break;
	case IMAGE_FD_EPOLL: {
		json_t *arr;

		k = kind_obj(d, o, where, "epoll", sub, sizeof(sub));
		arr = k ? get_array(d, k, sub, "watches", IMAGE_MAX_WATCHES, &n) : NULL;
		if (!arr)
			return -EINVAL;
		if (n) {
			f->epoll.watches = calloc(n, sizeof(*f->epoll.watches));
			if (!f->epoll.watches)
				return fail(d, "%s: out of memory", sub);
		}
		f->epoll.nr_watches = (uint32_t)n;
		for (i = 0; i < n; i++) {
			struct image_epoll_watch *w = &f->epoll.watches[i];
			json_t *wo = json_array_get(arr, i);
			char wwhere[128];

			snprintf(wwhere, sizeof(wwhere), "%s.watches[%zu]", sub, i);
			if (!json_is_object(wo))
				return fail(d, "%s: expected an object", wwhere);
			if (get_i32(d, wo, wwhere, "fd", true, 0, INT32_MAX, 0, &w->tfd) ||
			    get_hex32(d, wo, wwhere, "events", &w->events) ||
			    get_hex(d, wo, wwhere, "data", &w->data) ||
			    get_i32(d, wo, wwhere, "via", false, 0, INT32_MAX, -1, &w->via))
				return -EINVAL;
		}
		break;
	}
	case IMAGE_FD_SIGNALFD:
		k = kind_obj(d, o, where, "signalfd", sub, sizeof(sub));
		if (!k || get_hex(d, k, sub, "mask", &f->signalfd.mask))
			return -EINVAL;
		break;
	case IMAGE_FD_TIMERFD:
		k = kind_obj(d, o, where, "timerfd", sub, sizeof(sub));
		if (!k || get_i32(d, k, sub, "clockid", true, 0, 15, 0, &f->timerfd.clockid) ||
		    get_i32(d, k, sub, "settime_flags", true, 0, 3, 0,
			    &f->timerfd.settime_flags) ||
		    get_u64(d, k, sub, "ticks", true, &f->timerfd.ticks) ||
		    get_u64(d, k, sub, "value_ns", true, &f->timerfd.value_ns) ||
		    get_u64(d, k, sub, "interval_ns", true, &f->timerfd.interval_ns) ||
		    get_u64(d, k, sub, "deadline_ns", false, &f->timerfd.deadline_ns))
			return -EINVAL;
		break;
	case IMAGE_FD_MEMFD:
		k = kind_obj(d, o, where, "memfd", sub, sizeof(sub));
		if (!k || get_i32(d, k, sub, "shmem", true, 0, INT32_MAX, 0, &f->memfd.shmem))
			return -EINVAL;
		break;
	case IMAGE_FD_SOCKET:
		k = kind_obj(d, o, where, "socket", sub, sizeof(sub));
		if (!k || get_i32(d, k, sub, "family", true, 0, 63, 0, &f->sock.family) ||
		    get_i32(d, k, sub, "type", true, 0, 15, 0, &f->sock.type) ||
		    get_i32(d, k, sub, "protocol", true, 0, 255, 0, &f->sock.protocol) ||
		    get_enum(d, k, sub, "state", sock_state_names, IMAGE_SOCK_STATE_COUNT,
			     &f->sock.state) ||
		    get_u64(d, k, sub, "ino", true, &f->sock.ino) ||
		    get_u64(d, k, sub, "peer_ino", true, &f->sock.peer_ino) ||
		    get_u32(d, k, sub, "backlog", true, &f->sock.backlog) ||
		    get_bytes(d, k, sub, "addr", f->sock.addr, IMAGE_SOCK_ADDR_MAX,
			      &f->sock.addr_len) ||
		    get_bytes(d, k, sub, "peer", f->sock.peer, IMAGE_SOCK_ADDR_MAX,
			      &f->sock.peer_len) ||
		    get_blob(d, k, sub, "queue", &f->sock.queue))
			return -EINVAL;
		attrs = field(d, k, sub, "attrs", false);
		if (attrs) {
			char asub[160];

			snprintf(asub, sizeof(asub), "%s.attrs", sub);
			if (dec_record(d, &image_sock_attrs_record, attrs, asub, &f->sock.attrs))
				return -EINVAL;
		}
		break;
	default:
		if (image_fd_kind_records[f->kind].rec) {
			k = kind_obj(d, o, where, image_fd_kind_name(f->kind), sub, sizeof(sub));
			if (!k || dec_record(d, image_fd_kind_records[f->kind].rec, k, sub,
					     (char *)f + image_fd_kind_records[f->kind].off))
				return -EINVAL;
		}
		break;
	}
	return 0;
}

static int dec_shmem(struct dec *d, json_t *o, const char *where, struct image_shmem *s)
{
	json_t *arr;
	char sub[96];
	size_t n, i;

	if (!json_is_object(o))
		return fail(d, "%s: expected an object", where);
	if (get_u64(d, o, where, "ino", true, &s->ino) ||
	    get_u64(d, o, where, "size", true, &s->size) ||
	    get_bool(d, o, where, "memfd", &s->is_memfd) ||
	    get_str(d, o, where, "name", false, IMAGE_MAX_PATH, &s->name) ||
	    get_hex32(d, o, where, "seals", &s->seals) ||
	    get_str(d, o, where, "path", false, IMAGE_MAX_PATH, &s->path))
		return -EINVAL;
	if (s->path && get_bool(d, o, where, "deleted", &s->is_deleted))
		return -EINVAL;
	if (json_object_get(o, "mode") && get_octal(d, o, where, "mode", 07777, &s->mode))
		return -EINVAL;
	if (get_u32(d, o, where, "uid", false, &s->uid) ||
	    get_u32(d, o, where, "gid", false, &s->gid))
		return -EINVAL;
	if (json_object_get(o, "sysv")) {
		json_t *sv = get_obj(d, o, where, "sysv");

		snprintf(sub, sizeof(sub), "%s.sysv", where);
		if (!sv || get_i32(d, sv, sub, "key", true, INT32_MIN, INT32_MAX, 0, &s->sysv_key) ||
		    get_i32(d, sv, sub, "id", true, 0, INT32_MAX, 0, &s->sysv_id))
			return -EINVAL;
		s->is_sysv = true;
	}
	arr = get_array(d, o, where, "extents", IMAGE_MAX_VMAS, &n);
	if (!arr)
		return -EINVAL;
	if (n) {
		s->extents = calloc(n, sizeof(*s->extents));
		if (!s->extents)
			return fail(d, "%s: out of memory", where);
	}
	s->nr_extents = (uint32_t)n;
	for (i = 0; i < n; i++) {
		json_t *x = json_array_get(arr, i);

		snprintf(sub, sizeof(sub), "%s.extents[%zu]", where, i);
		if (!json_is_object(x))
			return fail(d, "%s: expected an object", sub);
		if (get_u64(d, x, sub, "off", true, &s->extents[i].off) ||
		    get_blob(d, x, sub, "data", &s->extents[i].data))
			return -EINVAL;
	}
	return 0;
}

/* Allocates an array for n elements the way the growers expect it. */
static void *alloc_array(struct dec *d, const char *what, size_t n, size_t size)
{
	void *p;

	if (!n)
		return NULL;
	p = calloc(image_array_capacity(n), size);
	if (!p)
		fail(d, "%s: out of memory for %zu entries", what, n);
	return p;
}

#define DEC_ARRAY(d, root, key, max, arr, nr, decode)                                              \
	({                                                                                         \
		size_t __n, __i;                                                                   \
		json_t *__a = get_array(d, root, "manifest", key, max, &__n);                     \
		int __ret = __a ? 0 : -EINVAL;                                                     \
		if (!__ret && __n) {                                                               \
			(arr) = alloc_array(d, key, __n, sizeof(*(arr)));                          \
			__ret = (arr) ? 0 : -ENOMEM;                                               \
		}                                                                                  \
		if (!__ret)                                                                        \
			(nr) = (uint32_t)__n;                                                      \
		for (__i = 0; !__ret && __i < __n; __i++) {                                        \
			char __where[48];                                                          \
			snprintf(__where, sizeof(__where), "%s[%zu]", key, __i);                  \
			__ret = decode(d, json_array_get(__a, __i), __where, &(arr)[__i]);         \
		}                                                                                  \
		__ret;                                                                             \
	})

static int dec_guard(struct dec *d, json_t *o, const char *where, struct image_guard *g)
{
	if (!json_is_object(o))
		return fail(d, "%s: expected an object", where);
	if (get_hex(d, o, where, "start", &g->start) || get_hex(d, o, where, "end", &g->end))
		return -EINVAL;
	return 0;
}

/* Every section of image_sections: arrays may be absent (none), single records may not. */
static int dec_sections(struct dec *d, json_t *root, struct image *img)
{
	uint32_t i, k;

	for (i = 0; i < image_nr_sections; i++) {
		const struct image_section *s = &image_sections[i];
		char *base = (char *)img + s->off;
		char where[96];
		json_t *arr;
		size_t n;
		char *elems;

		if (!s->count_off) {
			json_t *o = get_obj(d, root, "manifest", s->key);

			if (!o || dec_record(d, s->rec, o, s->key, base))
				return -EINVAL;
			continue;
		}
		if (!json_object_get(root, s->key))
			continue;
		arr = get_array(d, root, "manifest", s->key, s->max, &n);
		if (!arr)
			return -EINVAL;
		elems = alloc_array(d, s->key, n, s->rec->size);
		if (n && !elems)
			return -ENOMEM;
		/* owned by img from here: image_free() releases what is half decoded */
		memcpy(base, &elems, sizeof(elems));
		memcpy((char *)img + s->count_off, &(uint32_t){ (uint32_t)n }, sizeof(uint32_t));
		for (k = 0; k < n; k++) {
			snprintf(where, sizeof(where), "%s[%u]", s->key, k);
			if (dec_record(d, s->rec, json_array_get(arr, k), where,
				       elems + (size_t)k * s->rec->size))
				return -EINVAL;
		}
	}
	return 0;
}

static int dec_root(struct dec *d, json_t *root, struct image *img)
{
	json_t *v, *host, *proc, *pages;
	int64_t version;
	uint32_t i;

	if (!json_is_object(root))
		return fail(d, "manifest: top level is not an object");
	v = json_object_get(root, "format");
	if (!v || !json_is_string(v) || strcmp(json_string_value(v), "thaw-snapshot"))
		return fail(d, "manifest: \"format\" is not \"thaw-snapshot\"");
	if (get_int(d, root, "manifest", "version", true, 0, INT32_MAX, 0, &version))
		return -EINVAL;
	if (version != IMAGE_FORMAT_VERSION)
		return fail(d, "format version %lld, but this thaw reads version %d",
			    (long long)version, IMAGE_FORMAT_VERSION);
	img->version = (uint32_t)version;
	host = get_obj(d, root, "manifest", "host");
	if (!host || dec_host(d, host, &img->host))
		return -EINVAL;
	proc = get_obj(d, root, "manifest", "process");
	if (!proc || dec_proc(d, proc, &img->proc))
		return -EINVAL;
	img->gpu.uvm_socket_fd = -1;
	if (json_object_get(root, "gpu")) {
		json_t *gpu = get_obj(d, root, "manifest", "gpu");

		if (!gpu || dec_gpu(d, gpu, &img->gpu))
			return -EINVAL;
		img->has_gpu = true;
	}
	if (DEC_ARRAY(d, root, "threads", IMAGE_MAX_THREADS, img->threads, img->nr_threads,
		      dec_thread) ||
	    DEC_ARRAY(d, root, "vmas", IMAGE_MAX_VMAS, img->vmas, img->nr_vmas, dec_vma) ||
	    DEC_ARRAY(d, root, "guards", IMAGE_MAX_VMAS, img->guards, img->nr_guards,
		      dec_guard) ||
	    DEC_ARRAY(d, root, "fds", IMAGE_MAX_FDS, img->fds, img->nr_fds, dec_fd) ||
	    DEC_ARRAY(d, root, "shmems", IMAGE_MAX_SHMEMS, img->shmems, img->nr_shmems,
		      dec_shmem))
		return -EINVAL;
	if (dec_sections(d, root, img))
		return -EINVAL;
	/* a file mapping without a name of its own is named by its file */
	for (i = 0; i < img->nr_vmas; i++) {
		struct image_vma *v = &img->vmas[i];

		if (v->name || v->file < 0 || (uint32_t)v->file >= img->nr_files)
			continue;
		v->name = strdup(img->files[v->file].path);
		if (!v->name)
			return fail(d, "vmas[%zu]: out of memory", (size_t)i);
	}
	/* fds of kinds without a file carry -1, whatever the union says */
	for (i = 0; i < img->nr_fds; i++)
		if (!json_object_get(json_array_get(json_object_get(root, "fds"), i), "file"))
			img->fds[i].file = -1;
	pages = get_obj(d, root, "manifest", "pages");
	if (!pages || get_u64(d, pages, "pages", "runs", true, &img->nr_runs) ||
	    get_u64(d, pages, "pages", "bytes", true, &img->pages_bytes))
		return -EINVAL;
	if (img->nr_runs > IMAGE_ADDR_LIMIT / IMAGE_PAGE_SIZE)
		return fail(d, "pages.runs: %" PRIu64 " runs cannot fit the address space",
			    img->nr_runs);
	return 0;
}

int image_manifest_from_json(struct image *img, const char *json, size_t len, char *err,
			     size_t errlen)
{
	struct dec d = { err, errlen, false };
	json_error_t jerr;
	json_t *root;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	memset(img, 0, sizeof(*img));
	img->dir_fd = img->pages_fd = img->data_fd = -1;
	img->proc.exe = -1;
	if (len > IMAGE_MAX_MANIFEST)
		return fail(&d, "manifest: %zu bytes, more than the %u allowed", len,
			    IMAGE_MAX_MANIFEST);
	/* JSON_REJECT_DUPLICATES: two "start" keys must not mean two things */
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(&d, "manifest: line %d column %d: %s", jerr.line, jerr.column,
			    jerr.text);
	ret = dec_root(&d, root, img);
	json_decref(root);
	if (ret)
		return -EINVAL;
	return image_validate(img, err, errlen);
}
