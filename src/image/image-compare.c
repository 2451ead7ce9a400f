/*
 * image-compare.c - is a restored process the one its snapshot describes?
 *
 * thaw restore --verify (src/engine/verify.c) collects every restored
 * process, before it runs again, into a fingerprint image with the dump's own
 * collectors, and image_compare() walks that image beside the snapshot's.
 * The first difference is named by its path, with both values:
 *
 *     threads[tid 44].sigmask: 0x0 restored, 0x4000 dumped
 *
 * Records described by tables (image-record.h) are compared field by field
 * from their tables: a record added to image_sections[],
 * image_thread_sections[] or image_fd_kind_records[] is verified without a
 * line here.  The older parts
 * of struct image, which the manifest codec writes by hand, are compared by
 * hand below: the process, its threads, VMAs, guard regions and fds with
 * each kind's state, and the files and shmem objects they point to.
 *
 * Some values legitimately differ between a snapshot and a faithful restore;
 * exceptions[] is the one list of them, each with why.  Kernel objects are
 * made anew by a restore, so their identities (inode numbers of pipes,
 * sockets and shmem, the dump's share ids) are not equal but must pair one
 * to one: the fds that shared a pipe before share one after, and no other.
 * Paths are matched against the list with every [...] read as [], so one
 * line covers every thread, fd or entry; the first entry that holds there
 * applies.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base/log.h"
#include "image/image-record.h"

/* ---- what may differ, and why ---- */

enum rule {
	RULE_SKIP, /* not compared */
	RULE_TIME_LEFT, /* a timer runs from the restore on: armed only where it was armed */
	RULE_COUNTS_UP, /* a count that may only have grown */
	RULE_IDENTITY, /* a kernel object's identity: pairs one to one within its namespace */
	RULE_KEPT_PIPE_END, /* fds[]: an fd of the restored process the snapshot does not list */
	RULE_INIT_PARENT, /* a parent outside the snapshot: thaw's init (1) after a restore */
	RULE_LED_OUTSIDE, /* a group or session led outside the snapshot: 0 after a restore */
	RULE_IGNORE_BITS, /* these bits (ignore) of a flag word may differ */
	RULE_NORMALISED, /* compared as usual, once the caller normalised it as why says */
};

/* When an entry holds: always, or only inside some objects. */
#define WHEN_ALWAYS 0u
#define WHEN_DELETED (1u << 0) /* inside a deleted file (files[], or what maps or holds one) */
#define WHEN_INHERITED (1u << 1) /* inside an fd inherited from whoever restores */
#define WHEN_RESET (1u << 2) /* inside a TCP socket dumped as reset (--tcp-close) */
#define WHEN_POSIX_SHM (1u << 3) /* inside a mapping of a POSIX shm object or semaphore */
#define WHEN_TYPE_ONLY (1u << 4) /* inside a file validation takes by its type alone */

struct exception {
	const char *path; /* every [...] written [] */
	uint8_t rule;
	uint8_t when;
	const char *ns; /* RULE_IDENTITY: identities pair within one namespace */
	const char *why;
	uint64_t ignore; /* RULE_IGNORE_BITS */
	/* if set: holds only for the dumped entry of an array of records it accepts */
	bool (*applies)(const void *entry);
};

/* SO_INCOMING_CPU: the CPU the socket's last packet came in on */
static bool is_incoming_cpu(const void *entry)
{
	const struct image_sock_opt *o = entry;

	return o->level == SOL_SOCKET && o->name == SO_INCOMING_CPU;
}

static const struct exception exceptions[] = {
	{ "parts", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "the snapshot's own files, their sizes and digests: what binds the snapshot together, "
	  "no state of the process" },
	{ "host", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "restore checks that this host can run the snapshot, not that it is the same host" },
	{ "gpu", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "the device state comes back after the comparison, through the driver" },
	{ "process.ppid", RULE_INIT_PARENT, WHEN_ALWAYS, NULL,
	  "the root's parent is outside the snapshot; after a restore it is thaw's init, pid 1 "
	  "(the parents inside a tree are compared in children[])" },
	{ "process.pgid", RULE_LED_OUTSIDE, WHEN_ALWAYS, NULL,
	  "the root's process group, when a process outside the snapshot leads it, is thaw "
	  "restore's, outside the restore's PID namespace: it reads 0 there (other groups led "
	  "outside are made again with their ids)" },
	{ "process.sid", RULE_LED_OUTSIDE, WHEN_ALWAYS, NULL, "as process.pgid, for a session" },
	{ "children[].pgid", RULE_LED_OUTSIDE, WHEN_ALWAYS, NULL, "as process.pgid" },
	{ "children[].sid", RULE_LED_OUTSIDE, WHEN_ALWAYS, NULL, "as process.pgid" },
	{ "process.host_pid", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "the pid the dump was taken from, for people" },
	{ "process.dumped_at_ns", RULE_SKIP, WHEN_ALWAYS, NULL, "when the dump was taken" },
	{ "process.itimers[].value_us", RULE_TIME_LEFT, WHEN_ALWAYS, NULL,
	  "an armed timer counts down from the restore on, and may have fired" },
	{ "children[].host_pid", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "the pid the dump was taken from, for people" },
	{ "threads[].state", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "how the thread stood in a system call when frozen: restore resumes it from "
	  "registers normalised for that (regs.c), so it reads as running" },
	{ "threads[].syscall_nr", RULE_SKIP, WHEN_ALWAYS, NULL, "as threads[].state" },
	{ "vmas[]", RULE_NORMALISED, WHEN_ALWAYS, NULL,
	  "adjacent mappings alike in all that is compared (anonymous, or of one file or shmem "
	  "object at contiguous offsets) are compared as one: the kernel merges what the "
	  "restorer maps side by side, where the process had made them apart" },
	{ "vmas[].pages", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "statistics of the dump; verification reads no pages" },
	{ "files", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "compared where they are used, as process.exe, vmas[].file and fds[].file" },
	{ "files[].ino", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "validation takes a file of the dumped size and mtime at its path; it may be "
	  "another inode (a copy, another host)" },
	{ "files[].dev", RULE_SKIP, WHEN_ALWAYS, NULL, "as files[].ino" },
	{ "files[].size", RULE_SKIP, WHEN_TYPE_ONLY, NULL,
	  "a file restore takes by its type alone (files_validate()): a directory, FIFO or "
	  "device, a file the process only writes (a log others append to), a POSIX shm "
	  "object made anew; its size and mtime may change after the dump" },
	{ "files[].mtime_ns", RULE_SKIP, WHEN_TYPE_ONLY, NULL, "as files[].size" },
	{ "files[].path", RULE_SKIP, WHEN_DELETED, NULL,
	  "a deleted file comes back as a new unlinked file: its old name is gone" },
	{ "vmas[].name", RULE_SKIP, WHEN_DELETED, NULL,
	  "the name of a mapping of a deleted file is the file's path" },
	{ "shmems[].ino", RULE_IDENTITY, WHEN_ALWAYS, "shmem",
	  "a shmem object is made anew: another inode, mapped and held where the old one was" },
	{ "fds[].share", RULE_IDENTITY, WHEN_ALWAYS, "share",
	  "share ids are numbered per dump: the fds that shared an open file description "
	  "share one again" },
	{ "fds[].pipe.ino", RULE_IDENTITY, WHEN_ALWAYS, "pipe",
	  "a pipe is made anew: the fds that held one pipe hold one again" },
	{ "fds[].socket.ino", RULE_IDENTITY, WHEN_ALWAYS, "socket",
	  "a socket is made anew: another inode, held where the old one was" },
	{ "fds[].socket.peer_ino", RULE_IDENTITY, WHEN_ALWAYS, "socket",
	  "the other end of a pair is made anew with it" },
	{ "fds[].socket.attrs.pending[]", RULE_IDENTITY, WHEN_ALWAYS, "socket",
	  "the clients waiting on a listener are made anew with it" },
	{ "fds[].flags", RULE_SKIP, WHEN_INHERITED, NULL,
	  "an fd inherited from thaw restore (or thaw run) is the caller's: its status flags "
	  "and offset are the caller's" },
	{ "fds[].pos", RULE_SKIP, WHEN_INHERITED, NULL, "as fds[].flags" },
	{ "fds[].flags", RULE_IGNORE_BITS, WHEN_ALWAYS, NULL,
	  "O_LARGEFILE: a restored fd is opened with open(), which sets it on 64-bit "
	  "(a pipe end made by pipe() has not); it changes nothing there", 0100000 },
	{ "fds[].socket.state", RULE_SKIP, WHEN_RESET, NULL,
	  "a connection dumped with --tcp-close comes back reset: a new, closed socket, with "
	  "another address" },
	{ "fds[].socket.addr", RULE_SKIP, WHEN_RESET, NULL, "as fds[].socket.state" },
	{ "fds[].socket.peer", RULE_SKIP, WHEN_RESET, NULL, "as fds[].socket.state" },
	{ "vmas[].name", RULE_SKIP, WHEN_POSIX_SHM, NULL,
	  "a POSIX shm object or semaphore is mapped again by its name under /dev/shm "
	  "(shmems[].path); the name it was first mapped by (sem_open's temporary one) is gone" },
	{ "job_control.stop_signal", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "a process dumped stopped is sent its stop signal as it is let go, after the "
	  "comparison (restore.c)" },
	{ "process.pending_shared", RULE_NORMALISED, WHEN_ALWAYS, NULL,
	  "checked signal by signal by verify.c first: the snapshot's queue less a SIGSTOP, "
	  "which the restore sends as it lets the process go, give or take the signals of "
	  "timers the restore armed (they run meanwhile)" },
	{ "threads[].pending", RULE_NORMALISED, WHEN_ALWAYS, NULL,
	  "as process.pending_shared" },
	{ "fds[].socket.attrs.opts[].value", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "SO_INCOMING_CPU is the CPU the last packet came in on: the packets a restored "
	  "connection's queues are refilled with set it again", 0, is_incoming_cpu },
	{ "fds[].socket.attrs.tcp.timestamp", RULE_COUNTS_UP, WHEN_ALWAYS, NULL,
	  "a connection's TCP timestamp clock (TCP_TIMESTAMP) runs on from the restore" },
	{ "fds[].socket.attrs.tcp.snd_wl1", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "a connection's windows follow the segments its ends exchange: leaving repair mode "
	  "sends a window probe, and the peer's answer updates them" },
	{ "fds[].socket.attrs.tcp.snd_wnd", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "as fds[].socket.attrs.tcp.snd_wl1" },
	{ "fds[].socket.attrs.tcp.max_window", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "as fds[].socket.attrs.tcp.snd_wl1" },
	{ "fds[].socket.attrs.tcp.rcv_wnd", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "as fds[].socket.attrs.tcp.snd_wl1" },
	{ "fds[].socket.attrs.tcp.rcv_wup", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "as fds[].socket.attrs.tcp.snd_wl1" },
	{ "fds[].timerfd.value_ns", RULE_TIME_LEFT, WHEN_ALWAYS, NULL,
	  "an armed timer counts down from the restore on, and may have fired" },
	{ "fds[].timerfd.ticks", RULE_COUNTS_UP, WHEN_ALWAYS, NULL,
	  "expirations since the restore add to the dumped count" },
	{ "fds[].timerfd.deadline_ns", RULE_TIME_LEFT, WHEN_ALWAYS, NULL,
	  "as fds[].timerfd.value_ns: kept while armed, gone once a one-shot timer fired" },
	{ "posix_timers[].value_ns", RULE_TIME_LEFT, WHEN_ALWAYS, NULL,
	  "an armed timer counts down from the restore on, and may have fired" },
	{ "posix_timers[].deadline_ns", RULE_TIME_LEFT, WHEN_ALWAYS, NULL,
	  "as posix_timers[].value_ns; a periodic timer's deadline moves on as it fires" },
	{ "posix_timers[].overrun", RULE_SKIP, WHEN_ALWAYS, NULL,
	  "the kernel cannot set it: the next expiry delivered after the restore sets it anew "
	  "(docs/compatibility.md)" },
	{ "fds[]", RULE_KEPT_PIPE_END, WHEN_ALWAYS, NULL,
	  "a pipe whose other end was held outside keeps that end open, close-on-exec, above "
	  "the program's fds (fds.h)" },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int image_compare_exception(uint32_t i, const char **ret_path, const char **ret_why)
{
	if (i >= ARRAY_SIZE(exceptions))
		return -ENOENT;
	*ret_path = exceptions[i].path;
	*ret_why = exceptions[i].why;
	return 0;
}

/* ---- the walk ---- */

#define PATH_MAX_LEN 512

struct pair {
	const char *ns;
	uint64_t dumped, restored;
	char where[160]; /* where the pair was first seen */
};

struct image_compare {
	struct pair *pairs; /* identities seen so far, in every image compared */
	size_t nr_pairs, cap_pairs;
	/* one comparison */
	char path[PATH_MAX_LEN]; /* for people: "fds[3].pipe.ino" */
	char norm[PATH_MAX_LEN]; /* the same with every [...] as [] */
	size_t len, norm_len;
	size_t rule_from; /* exceptions[] match norm from here: "files[].size" */
	unsigned when; /* WHEN_* bits that hold where we are */
	const void *entry; /* the dumped entry of the innermost array of records we are in */
	char *diff;
	size_t difflen;
	int err; /* -ENOMEM once pairs cannot grow */
};

struct mark {
	size_t len, norm_len, rule_from;
	unsigned when;
};

/* Appends a component ("regs", "[tid 44]", ".ino" with the dot added) to both paths. */
__attribute__((format(printf, 2, 3))) static struct mark push(struct image_compare *c,
							   const char *fmt, ...)
{
	struct mark m = { c->len, c->norm_len, c->rule_from, c->when };
	char part[256];
	const char *p;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(part, sizeof(part), fmt, ap);
	va_end(ap);
	if (c->len && part[0] != '[' && c->len + 1 < sizeof(c->path)) {
		c->path[c->len++] = '.';
		c->norm[c->norm_len++] = '.';
		c->path[c->len] = c->norm[c->norm_len] = '\0';
	}
	n = snprintf(c->path + c->len, sizeof(c->path) - c->len, "%s", part);
	c->len += n > 0 ? (size_t)n : 0;
	if (c->len >= sizeof(c->path))
		c->len = sizeof(c->path) - 1;
	for (p = part; *p && c->norm_len + 2 < sizeof(c->norm); p++) {
		c->norm[c->norm_len++] = *p;
		if (*p == '[') {
			while (p[1] && p[1] != ']')
				p++;
		}
	}
	c->norm[c->norm_len] = '\0';
	return m;
}

static void pop(struct image_compare *c, struct mark m)
{
	c->len = m.len;
	c->norm_len = m.norm_len;
	c->path[c->len] = c->norm[c->norm_len] = '\0';
	c->rule_from = m.rule_from;
	c->when = m.when;
}

/*
 * Files and shmem objects are named after where they are reached
 * ("fds[3].file.size") and ruled as what they are ("files[].size").
 */
static struct mark reroot(struct image_compare *c, const char *name, const char *as)
{
	struct mark m = push(c, "%s", name);
	int n = snprintf(c->norm + c->norm_len, sizeof(c->norm) - c->norm_len, "/%s", as);

	c->rule_from = c->norm_len + 1;
	c->norm_len += n > 0 ? (size_t)n : 0;
	if (c->norm_len >= sizeof(c->norm))
		c->norm_len = sizeof(c->norm) - 1;
	return m;
}

static const struct exception *rule_here(const struct image_compare *c)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(exceptions); i++) {
		const struct exception *e = &exceptions[i];

		if ((e->when & c->when) == e->when && !strcmp(e->path, c->norm + c->rule_from) &&
		    (!e->applies || (c->entry && e->applies(c->entry))))
			return e;
	}
	return NULL;
}

static bool skipped_here(const struct image_compare *c)
{
	const struct exception *e = rule_here(c);

	return e && e->rule == RULE_SKIP;
}

__attribute__((format(printf, 2, 3))) static bool report(struct image_compare *c,
							 const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = (size_t)snprintf(c->diff, c->difflen, "%s: ", c->path);
	if (n < c->difflen) {
		va_start(ap, fmt);
		vsnprintf(c->diff + n, c->difflen - n, fmt, ap);
		va_end(ap);
	}
	return true;
}

/* Identities: d and r must pair one to one with every pair of the namespace seen before. */
static bool differ_identity(struct image_compare *c, const char *ns, uint64_t d, uint64_t r)
{
	struct pair *p;
	size_t i;

	if (!d || !r) /* none: there must be none on both sides */
		return d != r && report(c, "%s restored, %s dumped", r ? "an object" : "none",
					d ? "an object" : "none");
	for (i = 0; i < c->nr_pairs; i++) {
		p = &c->pairs[i];
		if (strcmp(p->ns, ns))
			continue;
		if (p->dumped == d && p->restored == r)
			return false;
		if (p->dumped == d)
			return report(c, "not the same object as %s any more (%" PRIu64 " and %" PRIu64
					 " restored, %" PRIu64 " for both dumped)",
				      p->where, r, p->restored, d);
		if (p->restored == r)
			return report(c, "the same object as %s after the restore (%" PRIu64
					 " restored), two before (%" PRIu64 " and %" PRIu64 " dumped)",
				      p->where, r, d, p->dumped);
	}
	if (c->nr_pairs == c->cap_pairs) {
		size_t cap = c->cap_pairs ? 2 * c->cap_pairs : 64;

		p = realloc(c->pairs, cap * sizeof(*p));
		if (!p) {
			c->err = -ENOMEM;
			return report(c, "out of memory");
		}
		c->pairs = p;
		c->cap_pairs = cap;
	}
	p = &c->pairs[c->nr_pairs++];
	p->ns = ns;
	p->dumped = d;
	p->restored = r;
	snprintf(p->where, sizeof(p->where), "%.159s", c->path);
	return false;
}

/* The dumped object the restored identity r pairs with, or 0. */
static uint64_t paired_with(const struct image_compare *c, const char *ns, uint64_t r)
{
	size_t i;

	for (i = 0; i < c->nr_pairs; i++)
		if (!strcmp(c->pairs[i].ns, ns) && c->pairs[i].restored == r)
			return c->pairs[i].dumped;
	return 0;
}

/* ---- values ---- */

struct vfmt {
	uint8_t type; /* enum image_ftype of a scalar */
	const char *const *names; /* ENUM, FLAGS */
	uint32_t nr_names;
	const char *(*name_of)(uint32_t); /* an ENUM named by a function */
};

static void format(char *buf, size_t len, const struct vfmt *f, uint64_t v)
{
	size_t n = 0;
	uint32_t i;

	switch (f->type) {
	case IMAGE_F_I32:
	case IMAGE_F_I64:
		snprintf(buf, len, "%" PRId64, (int64_t)v);
		break;
	case IMAGE_F_HEX32:
	case IMAGE_F_HEX64:
		snprintf(buf, len, "0x%" PRIx64, v);
		break;
	case IMAGE_F_BOOL:
		snprintf(buf, len, "%s", v ? "true" : "false");
		break;
	case IMAGE_F_OCTAL:
		snprintf(buf, len, "0%" PRIo64, v);
		break;
	case IMAGE_F_ENUM:
		if (f->name_of)
			snprintf(buf, len, "%s", f->name_of((uint32_t)v));
		else if (v < f->nr_names)
			snprintf(buf, len, "%s", f->names[v]);
		else
			snprintf(buf, len, "%" PRIu64, v);
		break;
	case IMAGE_F_FLAGS:
		buf[0] = '\0';
		for (i = 0; i < 32 && n < len; i++)
			if (v & (1ull << i))
				n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "|" : "",
						      i < f->nr_names ? f->names[i] : "?");
		if (!n)
			snprintf(buf, len, "none");
		break;
	default:
		snprintf(buf, len, "%" PRIu64, v);
		break;
	}
}

/* Compares one scalar at the current path under its rule; reports the difference. */
static bool differ_here(struct image_compare *c, const struct vfmt *f, uint64_t d, uint64_t r)
{
	const struct exception *e = rule_here(c);
	char ds[160], rs[160];
	bool differ = d != r;

	if (e && e->rule == RULE_SKIP)
		return false;
	if (e && e->rule == RULE_TIME_LEFT)
		differ = !d && r;
	else if (e && e->rule == RULE_COUNTS_UP)
		differ = r < d;
	else if (e && e->rule == RULE_INIT_PARENT)
		differ = d != r && r != 1;
	else if (e && e->rule == RULE_LED_OUTSIDE)
		differ = d != r && r != 0;
	else if (e && e->rule == RULE_IGNORE_BITS)
		differ = (d & ~e->ignore) != (r & ~e->ignore);
	else if (e && e->rule == RULE_IDENTITY)
		return differ_identity(c, e->ns, d, r);
	if (!differ)
		return false;
	format(ds, sizeof(ds), f, d);
	format(rs, sizeof(rs), f, r);
	return report(c, "%s restored, %s dumped", rs, ds);
}

static bool differ_val(struct image_compare *c, const char *name, uint8_t type, uint64_t d,
		       uint64_t r)
{
	struct vfmt f = { .type = type };
	struct mark m = push(c, "%s", name);
	bool differ = differ_here(c, &f, d, r);

	pop(c, m);
	return differ;
}

#define DIFFER(c, name, type, d, r) differ_val(c, name, type, (uint64_t)(d), (uint64_t)(r))
#define DIFFER_INT(c, name, d, r) DIFFER(c, name, IMAGE_F_I64, (int64_t)(d), (int64_t)(r))

static bool differ_enum(struct image_compare *c, const char *name, const char *(*name_of)(uint32_t),
			uint32_t d, uint32_t r)
{
	struct vfmt f = { .type = IMAGE_F_ENUM, .name_of = name_of };
	struct mark m = push(c, "%s", name);
	bool differ = differ_here(c, &f, d, r);

	pop(c, m);
	return differ;
}

static bool str_here(struct image_compare *c, const char *d, const char *r)
{
	return !skipped_here(c) && (!d != !r || (d && strcmp(d, r))) &&
	       report(c, "%s%s%s restored, %s%s%s dumped", r ? "'" : "", r ? r : "none",
		      r ? "'" : "", d ? "'" : "", d ? d : "none", d ? "'" : "");
}

static bool differ_str(struct image_compare *c, const char *name, const char *d, const char *r)
{
	struct mark m = push(c, "%s", name);
	bool differ = str_here(c, d, r);

	pop(c, m);
	return differ;
}

/* A fixed char array that holds a string (comm). */
static bool differ_chars(struct image_compare *c, const char *name, const char *d, const char *r,
			 size_t size)
{
	char ds[64], rs[64];

	snprintf(ds, sizeof(ds), "%.*s", (int)size, d);
	snprintf(rs, sizeof(rs), "%.*s", (int)size, r);
	return differ_str(c, name, ds, rs);
}

/* Blobs are compared by length and crc: where the bytes lie in data.img is no state. */
static bool blob_here(struct image_compare *c, const struct image_blob *d,
		      const struct image_blob *r)
{
	return !skipped_here(c) && (d->len != r->len || (d->len && d->crc != r->crc)) &&
	       report(c, "%" PRIu64 " bytes (crc 0x%08x) restored, %" PRIu64
			 " bytes (crc 0x%08x) dumped",
		      r->len, r->crc, d->len, d->crc);
}

static bool differ_blob(struct image_compare *c, const char *name, const struct image_blob *d,
			const struct image_blob *r)
{
	struct mark m = push(c, "%s", name);
	bool differ = blob_here(c, d, r);

	pop(c, m);
	return differ;
}

static bool differ_bytes(struct image_compare *c, const char *name, const uint8_t *d,
			 uint32_t dlen, const uint8_t *r, uint32_t rlen)
{
	struct mark m = push(c, "%s", name);
	char ds[2 * 32 + 4], rs[2 * 32 + 4];
	bool differ = false;
	uint32_t i;

	if (!skipped_here(c) && (dlen != rlen || memcmp(d, r, dlen))) {
		for (i = 0; i < dlen && i < 32; i++)
			snprintf(ds + 2 * i, 3, "%02x", d[i]);
		ds[2 * i] = '\0';
		for (i = 0; i < rlen && i < 32; i++)
			snprintf(rs + 2 * i, 3, "%02x", r[i]);
		rs[2 * i] = '\0';
		differ = report(c, "%u bytes %s%s restored, %u bytes %s%s dumped", rlen, rs,
				rlen > 32 ? "..." : "", dlen, ds, dlen > 32 ? "..." : "");
	}
	pop(c, m);
	return differ;
}

static bool differ_count(struct image_compare *c, uint32_t d, uint32_t r)
{
	return d != r && report(c, "%u entries restored, %u dumped", r, d);
}

/* ---- records described by tables ---- */

static const void *load_ptr(const void *obj, size_t off)
{
	const void *p;

	memcpy(&p, (const char *)obj + off, sizeof(p));
	return p;
}

static uint64_t load_scalar(uint8_t type, const void *p, size_t size)
{
	if (type == IMAGE_F_I32 || type == IMAGE_F_I64)
		return (uint64_t)image_load_int(p, type);
	return image_load_uint(p, size);
}

static bool differ_record(struct image_compare *c, const struct image_record *rec,
			  const void *d, const void *r);

static bool differ_array(struct image_compare *c, const struct image_field *f, const void *d,
			 const void *r)
{
	const char *de = load_ptr(d, f->off), *re = load_ptr(r, f->off);
	uint32_t nd = (uint32_t)image_load_uint((const char *)d + f->count_off, sizeof(uint32_t));
	uint32_t nr = (uint32_t)image_load_uint((const char *)r + f->count_off, sizeof(uint32_t));
	struct vfmt fmt = { f->elem_type, f->names, f->nr_names, NULL };
	bool differ = differ_count(c, nd, nr);
	uint32_t k;

	const void *outer = c->entry;

	for (k = 0; !differ && de && re && k < nd; k++) {
		const char *dp = de + (size_t)k * f->elem_size, *rp = re + (size_t)k * f->elem_size;
		struct mark m = push(c, "[%u]", k);

		c->entry = f->sub ? dp : outer;
		differ = f->sub ? differ_record(c, f->sub, dp, rp) :
				  differ_here(c, &fmt,
					      load_scalar(f->elem_type, dp, f->elem_size),
					      load_scalar(f->elem_type, rp, f->elem_size));
		pop(c, m);
	}
	c->entry = outer;
	return differ;
}

static bool differ_field(struct image_compare *c, const struct image_field *f, const void *d,
			 const void *r)
{
	const char *dp = (const char *)d + f->off, *rp = (const char *)r + f->off;
	struct vfmt fmt = { f->type, f->names, f->nr_names, NULL };

	switch (f->type) {
	case IMAGE_F_BLOB:
		return blob_here(c, (const struct image_blob *)dp, (const struct image_blob *)rp);
	case IMAGE_F_STR:
		return str_here(c, load_ptr(d, f->off), load_ptr(r, f->off));
	case IMAGE_F_BYTES:
		return !skipped_here(c) && memcmp(dp, rp, f->size) &&
		       report(c, "%zu bytes that differ", f->size);
	case IMAGE_F_RECORD:
		return !skipped_here(c) && differ_record(c, f->sub, dp, rp);
	case IMAGE_F_ARRAY:
		return !skipped_here(c) && differ_array(c, f, d, r);
	default:
		return differ_here(c, &fmt, load_scalar(f->type, dp, f->size),
				   load_scalar(f->type, rp, f->size));
	}
}

static bool differ_record(struct image_compare *c, const struct image_record *rec,
			  const void *d, const void *r)
{
	uint32_t i;

	for (i = 0; i < rec->nr_fields; i++) {
		struct mark m = push(c, "%s", rec->fields[i].name);
		bool differ = differ_field(c, &rec->fields[i], d, r);

		pop(c, m);
		if (differ)
			return true;
	}
	return false;
}

/* A record embedded by hand in a hand-written part, under its manifest key. */
static bool differ_sub(struct image_compare *c, const char *name, const struct image_record *rec,
		       const void *d, const void *r)
{
	struct mark m = push(c, "%s", name);
	bool differ = !skipped_here(c) && differ_record(c, rec, d, r);

	pop(c, m);
	return differ;
}

static bool differ_sections(struct image_compare *c, const struct image_section *secs,
			    uint32_t nr, const void *d, const void *r)
{
	uint32_t i, k;
	bool differ = false;

	for (i = 0; !differ && i < nr; i++) {
		const struct image_section *s = &secs[i];
		struct mark m = push(c, "%s", s->key);

		if (skipped_here(c)) {
			pop(c, m);
			continue;
		}
		if (!s->count_off) {
			differ = differ_record(c, s->rec, (const char *)d + s->off,
					       (const char *)r + s->off);
		} else {
			const char *de = load_ptr(d, s->off), *re = load_ptr(r, s->off);
			uint32_t nd = (uint32_t)image_load_uint((const char *)d + s->count_off, 4);
			uint32_t nrr = (uint32_t)image_load_uint((const char *)r + s->count_off, 4);

			differ = differ_count(c, nd, nrr);
			for (k = 0; !differ && de && re && k < nd; k++) {
				struct mark e = push(c, "[%u]", k);

				differ = differ_record(c, s->rec, de + (size_t)k * s->rec->size,
						       re + (size_t)k * s->rec->size);
				pop(c, e);
			}
		}
		pop(c, m);
	}
	return differ;
}

static void begin(struct image_compare *c, char *diff, size_t difflen)
{
	c->len = c->norm_len = c->rule_from = 0;
	c->path[0] = c->norm[0] = '\0';
	c->when = WHEN_ALWAYS;
	c->entry = NULL;
	c->diff = diff;
	c->difflen = difflen;
	if (difflen)
		diff[0] = '\0';
}

bool image_record_differs(const struct image_record *rec, const void *dumped,
			  const void *restored, const char *where, char *diff, size_t difflen)
{
	struct image_compare c = { 0 };
	struct mark m;
	bool differ;

	begin(&c, diff, difflen);
	m = push(&c, "%s", where);
	differ = differ_record(&c, rec, dumped, restored);
	pop(&c, m);
	free(c.pairs);
	return differ;
}

/* ---- the hand-written parts ---- */

/*
 * Indexes into files[] or shmems[]: true when both refer to one, else
 * *differ says whether "none" on one side only (or a bad index) differs.
 */
static bool both_refer(struct image_compare *c, const char *name, int32_t d, uint32_t nr_d,
		       int32_t r, uint32_t nr_r, bool *differ)
{
	struct mark m;

	*differ = false;
	if (d >= 0 && r >= 0 && (uint32_t)d < nr_d && (uint32_t)r < nr_r)
		return true;
	m = push(c, "%s", name);
	if (d >= 0 && r >= 0)
		*differ = report(c, "index %d or %d out of range", r, d);
	else if (d >= 0 || r >= 0)
		*differ = report(c, "%s restored, %s dumped", r < 0 ? "none" : "one",
				 d < 0 ? "none" : "one");
	pop(c, m);
	return false;
}

/* is_held: reached through an fd (a mapped file or an executable is no output file). */
static bool differ_file(struct image_compare *c, const char *name, const struct image *di,
			int32_t d, const struct image *ri, int32_t r, bool is_held)
{
	struct mark m;
	bool differ;

	if (!both_refer(c, name, d, di->nr_files, r, ri->nr_files, &differ))
		return differ;
	m = reroot(c, name, "files[]");
	if (di->files[d].is_deleted)
		c->when |= WHEN_DELETED;
	if (!S_ISREG(di->files[d].mode) || image_file_is_shm_object(di, &di->files[d]) ||
	    (is_held && image_file_is_output(di, d)))
		c->when |= WHEN_TYPE_ONLY;
	differ = differ_record(c, &image_file_record, &di->files[d], &ri->files[r]);
	pop(c, m);
	return differ;
}

static bool differ_shmem(struct image_compare *c, const char *name, const struct image *di,
			 int32_t d, const struct image *ri, int32_t r)
{
	const struct image_shmem *ds, *rs;
	struct mark m;
	bool differ;
	uint32_t k;

	if (!both_refer(c, name, d, di->nr_shmems, r, ri->nr_shmems, &differ))
		return differ;
	ds = &di->shmems[d];
	rs = &ri->shmems[r];
	m = reroot(c, name, "shmems[]");
	differ = DIFFER(c, "ino", IMAGE_F_U64, ds->ino, rs->ino) ||
		 DIFFER(c, "size", IMAGE_F_U64, ds->size, rs->size) ||
		 DIFFER(c, "memfd", IMAGE_F_BOOL, ds->is_memfd, rs->is_memfd) ||
		 differ_str(c, "name", ds->name, rs->name) ||
		 DIFFER(c, "seals", IMAGE_F_HEX32, ds->seals, rs->seals) ||
		 differ_str(c, "path", ds->path, rs->path) ||
		 DIFFER(c, "deleted", IMAGE_F_BOOL, ds->is_deleted, rs->is_deleted) ||
		 DIFFER(c, "mode", IMAGE_F_OCTAL, ds->mode, rs->mode) ||
		 DIFFER(c, "sysv", IMAGE_F_BOOL, ds->is_sysv, rs->is_sysv) ||
		 DIFFER_INT(c, "sysv_key", ds->sysv_key, rs->sysv_key) ||
		 DIFFER_INT(c, "sysv_id", ds->sysv_id, rs->sysv_id);
	if (!differ) {
		struct mark e = push(c, "extents");

		differ = differ_count(c, ds->nr_extents, rs->nr_extents);
		for (k = 0; !differ && k < ds->nr_extents; k++) {
			struct mark x = push(c, "[%u]", k);

			differ = DIFFER(c, "off", IMAGE_F_U64, ds->extents[k].off,
					rs->extents[k].off) ||
				 differ_blob(c, "data", &ds->extents[k].data, &rs->extents[k].data);
			pop(c, x);
		}
		pop(c, e);
	}
	pop(c, m);
	return differ;
}

static bool differ_proc(struct image_compare *c, const struct image *di, const struct image *ri)
{
	const struct image_proc *d = &di->proc, *r = &ri->proc;
	struct mark m = push(c, "process"), e;
	bool differ;
	uint32_t i;

	differ = DIFFER_INT(c, "pid", d->pid, r->pid) || DIFFER_INT(c, "ppid", d->ppid, r->ppid) ||
		 DIFFER_INT(c, "pgid", d->pgid, r->pgid) || DIFFER_INT(c, "sid", d->sid, r->sid) ||
		 DIFFER_INT(c, "host_pid", d->host_pid, r->host_pid) ||
		 differ_chars(c, "comm", d->comm, r->comm, sizeof(d->comm)) ||
		 DIFFER(c, "umask", IMAGE_F_OCTAL, d->umask, r->umask) ||
		 DIFFER(c, "personality", IMAGE_F_HEX32, d->personality, r->personality) ||
		 differ_str(c, "cwd", d->cwd, r->cwd) ||
		 differ_file(c, "exe", di, d->exe, ri, r->exe, false);
	differ = differ || differ_sub(c, "mm", &image_mm_record, &d->mm, &r->mm) ||
		 differ_blob(c, "auxv", &d->auxv, &r->auxv);
	for (i = 0; !differ && i < IMAGE_NR_RLIMITS; i++) {
		e = push(c, "rlimits[%s]", image_rlimit_name(i));
		differ = DIFFER(c, "cur", IMAGE_F_U64, d->rlimits[i].cur, r->rlimits[i].cur) ||
			 DIFFER(c, "max", IMAGE_F_U64, d->rlimits[i].max, r->rlimits[i].max);
		pop(c, e);
	}
	for (i = 0; !differ && i < IMAGE_NR_SIGNALS; i++) {
		const struct image_sigaction *ds = &d->sigactions[i], *rs = &r->sigactions[i];

		e = push(c, "sigactions[%u]", i + 1);
		differ = DIFFER(c, "handler", IMAGE_F_HEX64, ds->handler, rs->handler) ||
			 DIFFER(c, "flags", IMAGE_F_HEX64, ds->flags, rs->flags) ||
			 DIFFER(c, "restorer", IMAGE_F_HEX64, ds->restorer, rs->restorer) ||
			 DIFFER(c, "mask", IMAGE_F_HEX64, ds->mask, rs->mask);
		pop(c, e);
	}
	for (i = 0; !differ && i < 3; i++) {
		e = push(c, "itimers[%s]", image_itimer_name(i));
		differ = DIFFER(c, "interval_us", IMAGE_F_U64, d->itimers[i].interval_us,
				r->itimers[i].interval_us) ||
			 DIFFER(c, "value_us", IMAGE_F_U64, d->itimers[i].value_us,
				r->itimers[i].value_us);
		pop(c, e);
	}
	differ = differ || differ_blob(c, "pending_shared", &d->pending_shared, &r->pending_shared) ||
		 DIFFER(c, "dumped_at_ns", IMAGE_F_U64, d->dumped_at_ns, r->dumped_at_ns);
	pop(c, m);
	return differ;
}

static bool differ_thread(struct image_compare *c, const struct image_thread *d,
			  const struct image_thread *r)
{
	struct mark m;
	bool differ;

	differ = differ_chars(c, "comm", d->comm, r->comm, sizeof(d->comm)) ||
		 differ_enum(c, "state", image_thread_state_name, d->state, r->state) ||
		 DIFFER_INT(c, "syscall_nr", d->syscall_nr, r->syscall_nr);
	differ = differ || differ_sub(c, "regs", &image_regs_record, &d->regs, &r->regs) ||
		 differ_blob(c, "xsave", &d->xsave, &r->xsave) ||
		 DIFFER(c, "sigmask", IMAGE_F_HEX64, d->sigmask, r->sigmask) ||
		 DIFFER(c, "clear_child_tid", IMAGE_F_HEX64, d->clear_child_tid, r->clear_child_tid) ||
		 DIFFER(c, "robust_list", IMAGE_F_HEX64, d->robust_list, r->robust_list) ||
		 DIFFER(c, "robust_list_len", IMAGE_F_U64, d->robust_list_len, r->robust_list_len);
	if (!differ) {
		m = push(c, "rseq");
		differ = DIFFER(c, "abi", IMAGE_F_HEX64, d->rseq_abi, r->rseq_abi) ||
			 DIFFER(c, "len", IMAGE_F_U64, d->rseq_len, r->rseq_len) ||
			 DIFFER(c, "sig", IMAGE_F_HEX64, d->rseq_sig, r->rseq_sig) ||
			 DIFFER(c, "flags", IMAGE_F_HEX32, d->rseq_flags, r->rseq_flags);
		pop(c, m);
	}
	if (!differ) {
		m = push(c, "altstack");
		differ = DIFFER(c, "sp", IMAGE_F_HEX64, d->altstack_sp, r->altstack_sp) ||
			 DIFFER(c, "size", IMAGE_F_U64, d->altstack_size, r->altstack_size) ||
			 DIFFER(c, "flags", IMAGE_F_HEX32, d->altstack_flags, r->altstack_flags);
		pop(c, m);
	}
	return differ || differ_blob(c, "pending", &d->pending, &r->pending) ||
	       differ_sections(c, image_thread_sections, image_nr_thread_sections, d, r);
}

static const struct image_thread *find_thread(const struct image *img, pid_t tid)
{
	uint32_t i;

	for (i = 0; i < img->nr_threads; i++)
		if (img->threads[i].tid == tid)
			return &img->threads[i];
	return NULL;
}

/* Threads pair by tid: every dumped one restored, no other. */
static bool differ_threads(struct image_compare *c, const struct image *di,
			   const struct image *ri)
{
	bool differ = false;
	uint32_t i;

	for (i = 0; !differ && i < di->nr_threads; i++) {
		const struct image_thread *d = &di->threads[i], *r = find_thread(ri, d->tid);
		struct mark m = push(c, "threads[tid %d]", d->tid);

		differ = r ? differ_thread(c, d, r) : report(c, "not restored");
		pop(c, m);
	}
	for (i = 0; !differ && i < ri->nr_threads; i++) {
		if (find_thread(di, ri->threads[i].tid))
			continue;
		struct mark m = push(c, "threads[tid %d]", ri->threads[i].tid);

		differ = report(c, "restored, not in the snapshot");
		pop(c, m);
	}
	return differ;
}

static bool differ_vma(struct image_compare *c, const struct image *di,
		       const struct image_vma *d, const struct image *ri,
		       const struct image_vma *r)
{
	if (d->file >= 0 && (uint32_t)d->file < di->nr_files && di->files[d->file].is_deleted)
		c->when |= WHEN_DELETED;
	if (d->shmem >= 0 && (uint32_t)d->shmem < di->nr_shmems && di->shmems[d->shmem].path)
		c->when |= WHEN_POSIX_SHM;
	return DIFFER(c, "end", IMAGE_F_HEX64, d->end, r->end) ||
	       DIFFER(c, "prot", IMAGE_F_HEX32, d->prot, r->prot) ||
	       differ_enum(c, "kind", image_vma_kind_name, d->kind, r->kind) ||
	       DIFFER(c, "flags", IMAGE_F_HEX32, d->flags, r->flags) ||
	       DIFFER(c, "madvise", IMAGE_F_HEX32, d->madv, r->madv) ||
	       DIFFER(c, "pgoff", IMAGE_F_HEX64, d->pgoff, r->pgoff) ||
	       differ_file(c, "file", di, d->file, ri, r->file, false) ||
	       differ_shmem(c, "shmem", di, d->shmem, ri, r->shmem) ||
	       differ_str(c, "name", d->name, r->name);
}

static bool is_placed_name(const char *name)
{
	return name && (!strcmp(name, "[heap]") || !strcmp(name, "[stack]"));
}

/* b goes on a: anonymous, or of one file or shmem object at contiguous offsets, alike otherwise. */
static bool vmas_join(const struct image_vma *a, const struct image_vma *b)
{
	bool a_named = a->name && *a->name && !is_placed_name(a->name);
	bool b_named = b->name && *b->name && !is_placed_name(b->name);

	if (a->end != b->start || a->prot != b->prot || a->kind != b->kind ||
	    a->flags != b->flags || a->madv != b->madv || a->file != b->file ||
	    a->shmem != b->shmem)
		return false;
	if (a->kind != IMAGE_VMA_ANON && b->pgoff != a->pgoff + (a->end - a->start))
		return false;
	if (a->kind > IMAGE_VMA_SHMEM) /* the vDSO family: fixed by the kernel */
		return false;
	/* [heap] and [stack] are named by where they lie, and a merge keeps the name */
	return (!a_named && !b_named) || (a->name && b->name && !strcmp(a->name, b->name));
}

/*
 * The VMAs of img as runs of mappings vmas_join() puts together (exceptions[],
 * "vmas[]"): one VMA each, its end the run's, named [heap] or [stack] if any
 * part is.  NULL when out of memory.
 */
static struct image_vma *vma_runs(const struct image *img, uint32_t *ret_nr)
{
	struct image_vma *runs = malloc(((size_t)img->nr_vmas + 1) * sizeof(*runs));
	uint32_t i, n = 0;

	if (!runs)
		return NULL;
	for (i = 0; i < img->nr_vmas; i++) {
		const struct image_vma *v = &img->vmas[i];

		if (n && vmas_join(&img->vmas[i - 1], v)) {
			runs[n - 1].end = v->end;
			if (is_placed_name(v->name))
				runs[n - 1].name = v->name;
			continue;
		}
		runs[n++] = *v;
	}
	*ret_nr = n;
	return runs;
}

/* VMAs pair by start address, in order, as runs of what the kernel may merge. */
static bool differ_vmas(struct image_compare *c, const struct image *di, const struct image *ri)
{
	uint32_t i = 0, j = 0, nd = 0, nr = 0;
	struct image_vma *dv = vma_runs(di, &nd), *rv = vma_runs(ri, &nr);
	bool differ = false;

	if (!dv || !rv) {
		c->err = -ENOMEM;
		differ = report(c, "out of memory");
	}
	while (!differ && (i < nd || j < nr)) {
		const struct image_vma *d = i < nd ? &dv[i] : NULL;
		const struct image_vma *r = j < nr ? &rv[j] : NULL;
		struct mark m;

		if (d && (!r || d->start < r->start)) {
			m = push(c, "vmas[0x%" PRIx64 "]", d->start);
			differ = report(c, "not restored (0x%" PRIx64 "-0x%" PRIx64 " %s)", d->start,
					d->end, image_vma_kind_name(d->kind));
			i++;
		} else if (!d || r->start < d->start) {
			m = push(c, "vmas[0x%" PRIx64 "]", r->start);
			differ = report(c, "restored (0x%" PRIx64 "-0x%" PRIx64
					   " %s), not in the snapshot",
					r->start, r->end, image_vma_kind_name(r->kind));
			j++;
		} else {
			m = push(c, "vmas[0x%" PRIx64 "]", d->start);
			differ = differ_vma(c, di, d, ri, r);
			i++;
			j++;
		}
		pop(c, m);
	}
	free(dv);
	free(rv);
	return differ;
}

static bool differ_guards(struct image_compare *c, const struct image *di, const struct image *ri)
{
	struct mark m = push(c, "guards");
	bool differ = differ_count(c, di->nr_guards, ri->nr_guards);
	uint32_t i;

	for (i = 0; !differ && i < di->nr_guards; i++) {
		struct mark e = push(c, "[%u]", i);

		differ = DIFFER(c, "start", IMAGE_F_HEX64, di->guards[i].start,
				ri->guards[i].start) ||
			 DIFFER(c, "end", IMAGE_F_HEX64, di->guards[i].end, ri->guards[i].end);
		pop(c, e);
	}
	pop(c, m);
	return differ;
}

static int cmp_watch(const void *a, const void *b)
{
	const struct image_epoll_watch *x = a, *y = b;

	if (x->tfd != y->tfd)
		return x->tfd < y->tfd ? -1 : 1;
	if (x->events != y->events)
		return x->events < y->events ? -1 : 1;
	return x->data < y->data ? -1 : x->data > y->data;
}

/* An epoll set's watches, in order of fd: the kernel lists them in an order of its own. */
static bool differ_watches(struct image_compare *c, const struct image_fd *d,
			   const struct image_fd *r)
{
	uint32_t n = d->epoll.nr_watches, k;
	struct image_epoll_watch *dw = NULL, *rw = NULL;
	size_t size = (size_t)n * sizeof(*dw);
	bool differ = differ_count(c, n, r->epoll.nr_watches);

	if (differ || !n)
		return differ;
	dw = malloc(size);
	rw = malloc(size);
	if (!dw || !rw) {
		c->err = -ENOMEM;
		differ = report(c, "out of memory");
		goto out;
	}
	memcpy(dw, d->epoll.watches, size);
	memcpy(rw, r->epoll.watches, size);
	qsort(dw, n, sizeof(*dw), cmp_watch);
	qsort(rw, n, sizeof(*rw), cmp_watch);
	for (k = 0; !differ && k < n; k++) {
		struct mark w = push(c, "[fd %d]", dw[k].tfd);

		differ = DIFFER_INT(c, "fd", dw[k].tfd, rw[k].tfd) ||
			 DIFFER(c, "events", IMAGE_F_HEX32, dw[k].events, rw[k].events) ||
			 DIFFER(c, "data", IMAGE_F_HEX64, dw[k].data, rw[k].data);
		pop(c, w);
	}
out:
	free(dw);
	free(rw);
	return differ;
}

static bool differ_fd_kind(struct image_compare *c, const struct image *di,
			   const struct image_fd *d, const struct image *ri,
			   const struct image_fd *r)
{
	struct mark m;
	bool differ = false;

	switch (d->kind) {
	case IMAGE_FD_PIPE:
	case IMAGE_FD_FIFO:
		m = push(c, "pipe");
		differ = DIFFER(c, "ino", IMAGE_F_U64, d->pipe.ino, r->pipe.ino) ||
			 DIFFER(c, "write_end", IMAGE_F_BOOL, d->pipe.is_write_end,
				r->pipe.is_write_end) ||
			 DIFFER(c, "capacity", IMAGE_F_U64, d->pipe.capacity, r->pipe.capacity) ||
			 differ_blob(c, "data", &d->pipe.data, &r->pipe.data);
		break;
	case IMAGE_FD_INHERIT:
		m = push(c, "inherit");
		differ = DIFFER_INT(c, "from", d->inherit.from, r->inherit.from);
		break;
	case IMAGE_FD_EVENTFD:
		m = push(c, "eventfd");
		differ = DIFFER(c, "count", IMAGE_F_U64, d->eventfd.count, r->eventfd.count) ||
			 DIFFER(c, "semaphore", IMAGE_F_BOOL, d->eventfd.is_semaphore,
				r->eventfd.is_semaphore);
		break;
	case IMAGE_FD_EPOLL:
		m = push(c, "epoll.watches");
		differ = differ_watches(c, d, r);
		break;
	case IMAGE_FD_SIGNALFD:
		m = push(c, "signalfd");
		differ = DIFFER(c, "mask", IMAGE_F_HEX64, d->signalfd.mask, r->signalfd.mask);
		break;
	case IMAGE_FD_TIMERFD:
		m = push(c, "timerfd");
		differ = DIFFER_INT(c, "clockid", d->timerfd.clockid, r->timerfd.clockid) ||
			 DIFFER_INT(c, "settime_flags", d->timerfd.settime_flags,
				    r->timerfd.settime_flags) ||
			 DIFFER(c, "ticks", IMAGE_F_U64, d->timerfd.ticks, r->timerfd.ticks) ||
			 DIFFER(c, "value_ns", IMAGE_F_U64, d->timerfd.value_ns,
				r->timerfd.value_ns) ||
			 DIFFER(c, "interval_ns", IMAGE_F_U64, d->timerfd.interval_ns,
				r->timerfd.interval_ns);
		break;
	case IMAGE_FD_MEMFD:
		m = push(c, "memfd");
		differ = differ_shmem(c, "shmem", di, d->memfd.shmem, ri, r->memfd.shmem);
		break;
	case IMAGE_FD_SOCKET:
		m = push(c, "socket");
		differ = DIFFER_INT(c, "family", d->sock.family, r->sock.family) ||
			 DIFFER_INT(c, "type", d->sock.type, r->sock.type) ||
			 DIFFER_INT(c, "protocol", d->sock.protocol, r->sock.protocol) ||
			 DIFFER(c, "state", IMAGE_F_U64, d->sock.state, r->sock.state) ||
			 DIFFER(c, "ino", IMAGE_F_U64, d->sock.ino, r->sock.ino) ||
			 DIFFER(c, "peer_ino", IMAGE_F_U64, d->sock.peer_ino, r->sock.peer_ino) ||
			 DIFFER(c, "backlog", IMAGE_F_U64, d->sock.backlog, r->sock.backlog) ||
			 differ_sub(c, "attrs", &image_sock_attrs_record, &d->sock.attrs,
				    &r->sock.attrs) ||
			 differ_bytes(c, "addr", d->sock.addr, d->sock.addr_len, r->sock.addr,
				      r->sock.addr_len) ||
			 differ_bytes(c, "peer", d->sock.peer, d->sock.peer_len, r->sock.peer,
				      r->sock.peer_len) ||
			 differ_blob(c, "queue", &d->sock.queue, &r->sock.queue);
		break;
	default: /* kinds described by tables */
		if (d->kind >= IMAGE_FD_KIND_COUNT || !image_fd_kind_records[d->kind].rec)
			return false;
		m = push(c, "%s", image_fd_kind_name(d->kind));
		differ = differ_record(c, image_fd_kind_records[d->kind].rec,
				       (const char *)d + image_fd_kind_records[d->kind].off,
				       (const char *)r + image_fd_kind_records[d->kind].off);
		break;
	}
	pop(c, m);
	return differ;
}

static bool differ_fd(struct image_compare *c, const struct image *di, const struct image_fd *d,
		      const struct image *ri, const struct image_fd *r)
{
	if (differ_enum(c, "kind", image_fd_kind_name, d->kind, r->kind))
		return true;
	if (d->kind == IMAGE_FD_INHERIT)
		c->when |= WHEN_INHERITED;
	if (d->kind == IMAGE_FD_SOCKET && d->sock.state == IMAGE_SOCK_RESET)
		c->when |= WHEN_RESET;
	if (d->file >= 0 && (uint32_t)d->file < di->nr_files && di->files[d->file].is_deleted)
		c->when |= WHEN_DELETED;
	return DIFFER(c, "flags", IMAGE_F_OCTAL, d->flags, r->flags) ||
	       DIFFER(c, "cloexec", IMAGE_F_BOOL, d->cloexec, r->cloexec) ||
	       DIFFER(c, "pos", IMAGE_F_U64, d->pos, r->pos) ||
	       DIFFER(c, "share", IMAGE_F_U64, d->share, r->share) ||
	       differ_file(c, "file", di, d->file, ri, r->file, true) ||
	       differ_fd_kind(c, di, d, ri, r);
}

/*
 * An fd only the restored process has: the end of a pipe kept open for a
 * peer that was outside (exceptions[]), or a difference.
 */
static bool differ_extra_fd(struct image_compare *c, const struct image *di,
			    const struct image_fd *r)
{
	const struct exception *e = rule_here(c);
	int32_t top = di->nr_fds ? di->fds[di->nr_fds - 1].fd : -1;

	if (e && e->rule == RULE_KEPT_PIPE_END && r->kind == IMAGE_FD_PIPE && r->fd > top &&
	    r->cloexec && paired_with(c, "pipe", r->pipe.ino))
		return false;
	return report(c, "restored (%s), not in the snapshot", image_fd_kind_name(r->kind));
}

/* fds pair by number, in order. */
static bool differ_fds(struct image_compare *c, const struct image *di, const struct image *ri)
{
	uint32_t i = 0, j = 0;
	bool differ = false;

	while (!differ && (i < di->nr_fds || j < ri->nr_fds)) {
		const struct image_fd *d = i < di->nr_fds ? &di->fds[i] : NULL;
		const struct image_fd *r = j < ri->nr_fds ? &ri->fds[j] : NULL;
		struct mark m = push(c, "fds[%d]", d && (!r || d->fd <= r->fd) ? d->fd : r->fd);

		if (d && (!r || d->fd < r->fd)) {
			differ = report(c, "not restored (%s)", image_fd_kind_name(d->kind));
			i++;
		} else if (!d || r->fd < d->fd) {
			differ = differ_extra_fd(c, di, r);
			j++;
		} else {
			differ = differ_fd(c, di, d, ri, r);
			i++;
			j++;
		}
		pop(c, m);
	}
	return differ;
}

/* ---- the whole image ---- */

struct image_compare *image_compare_new(void)
{
	struct image_compare *c = calloc(1, sizeof(*c));

	if (!c)
		log_error("out of memory");
	return c;
}

void image_compare_free(struct image_compare *c)
{
	if (!c)
		return;
	free(c->pairs);
	free(c);
}

int image_compare(struct image_compare *c, const struct image *dumped,
		  const struct image *restored, char *diff, size_t difflen)
{
	bool differ;

	begin(c, diff, difflen);
	c->err = 0;
	differ = differ_proc(c, dumped, restored) || differ_threads(c, dumped, restored) ||
		 differ_vmas(c, dumped, restored) || differ_guards(c, dumped, restored) ||
		 differ_fds(c, dumped, restored) ||
		 differ_sections(c, image_sections, image_nr_sections, dumped, restored);
	if (c->err)
		return c->err;
	return differ ? 1 : 0;
}

int image_tcp_ran_on(const struct image_sock_tcp *d, const uint8_t *dsend, const uint8_t *drecv,
		     const struct image_sock_tcp *r, const uint8_t *rsend, const uint8_t *rrecv,
		     char *why, size_t whylen)
{
	uint32_t acked = r->snd_seq - d->snd_seq; /* sequence numbers wrap */

	if (r->rcv_seq != d->rcv_seq)
		return snprintf(why, whylen, "rcv_seq: %u restored, %u dumped (bytes were read "
				"or lost)", r->rcv_seq, d->rcv_seq), 1;
	if (r->recv_queue.len < d->recv_queue.len ||
	    (d->recv_queue.len && memcmp(rrecv, drecv, (size_t)d->recv_queue.len)))
		return snprintf(why, whylen, "recv_queue: %" PRIu64 " bytes restored that do not "
				"start with the %" PRIu64 " dumped", r->recv_queue.len,
				d->recv_queue.len), 1;
	if (acked > d->send_queue.len || r->send_queue.len != d->send_queue.len - acked ||
	    (r->send_queue.len && memcmp(rsend, dsend + acked, (size_t)r->send_queue.len)))
		return snprintf(why, whylen, "send_queue: %" PRIu64 " bytes from %u restored, not "
				"the end of the %" PRIu64 " dumped from %u", r->send_queue.len,
				r->snd_seq, d->send_queue.len, d->snd_seq), 1;
	if (r->unsent > d->unsent)
		return snprintf(why, whylen, "unsent: %u restored, %u dumped", r->unsent,
				d->unsent), 1;
	return 0;
}
