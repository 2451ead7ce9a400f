/*
 * image-record.c - the tables that describe the manifest's records, and what
 * walks them besides the JSON codec: freeing, blob checks, and a check of
 * the tables themselves.
 *
 * image_sections[] is the list of every record hung off struct image.  To
 * keep a new kind of state: a struct in image.h, a field table and
 * IMAGE_RECORD_DEF() below, and one line in image_sections[].
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image-internal.h"
#include "image/image-record.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the records ---- */

__attribute__((format(printf, 3, 4))) static int table_bad(char *err, size_t errlen,
							  const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}


static const struct image_field child_fields[] = {
	IMAGE_I32(struct image_child, pid, 1, INT32_MAX),
	IMAGE_I32(struct image_child, ppid, 1, INT32_MAX),
	IMAGE_I32(struct image_child, pgid, 0, INT32_MAX),
	IMAGE_I32(struct image_child, sid, 0, INT32_MAX),
	IMAGE_I32(struct image_child, host_pid, 0, INT32_MAX),
	IMAGE_FIELD(struct image_child, is_zombie, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_child, exit_status, IMAGE_F_I32, .max = 0xffff, IMAGE_OPTIONAL),
};

static int check_child(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_child *c = rec;

	if (!c->is_zombie && c->exit_status) {
		snprintf(err, errlen, "%s.exit_status: set on a process that is not a zombie",
			 where);
		return -EINVAL;
	}
	return 0;
}

static IMAGE_RECORD_DEF(child_record, image_child, child_fields, check_child);

static const struct image_field extent_fields[] = {
	IMAGE_U64(struct image_extent, off, 0, INT64_MAX),
	IMAGE_BLOB(struct image_extent, data),
};

static IMAGE_RECORD_DEF(extent_record, image_extent, extent_fields, NULL);

static const struct image_field file_fields[] = {
	IMAGE_FIELD(struct image_file, path, IMAGE_F_STR, .max = IMAGE_MAX_PATH),
	IMAGE_U64(struct image_file, size, 0, INT64_MAX),
	IMAGE_I64(struct image_file, mtime_ns, INT64_MIN, INT64_MAX),
	IMAGE_U64(struct image_file, ino, 0, UINT64_MAX),
	IMAGE_HEX64(struct image_file, dev),
	IMAGE_OCTAL(struct image_file, mode, 0177777),
	IMAGE_HEX64(struct image_file, rdev),
	IMAGE_BOOL(struct image_file, is_deleted),
	IMAGE_FIELD(struct image_file, uid, IMAGE_F_U32, .max = UINT32_MAX, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_file, gid, IMAGE_F_U32, .max = UINT32_MAX, IMAGE_OPTIONAL),
	IMAGE_ARRAY(struct image_file, extents, nr_extents, extent_record, IMAGE_MAX_EXTENTS),
};

/* Extents only on deleted files: sorted, non-empty, inside the file. */
static int check_file(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_file *f = rec;
	uint64_t prev_end = 0;
	uint32_t i;

	if (!f->is_deleted && (f->nr_extents || f->uid || f->gid)) {
		snprintf(err, errlen, "%s: contents or owner recorded for a file that is not deleted",
			 where);
		return -EINVAL;
	}
	for (i = 0; i < f->nr_extents; i++) {
		const struct image_extent *x = &f->extents[i];

		if (!x->data.len || x->off < prev_end || x->off > f->size ||
		    x->data.len > f->size - x->off) {
			snprintf(err, errlen,
				 "%s.extents[%u]: empty, out of order or past the end of the file",
				 where, i);
			return -EINVAL;
		}
		prev_end = x->off + x->data.len;
	}
	return 0;
}

IMAGE_RECORD_DEF(image_file_record, image_file, file_fields, check_file);

/* Sockets: options as (level, name, value), and what else a socket carries. */
static const struct image_field sock_opt_fields[] = {
	IMAGE_I32(struct image_sock_opt, level, 0, 255),
	IMAGE_I32(struct image_sock_opt, name, 0, 1023),
	IMAGE_I64(struct image_sock_opt, value, INT64_MIN, INT64_MAX),
};

static IMAGE_RECORD_DEF(sock_opt_record, image_sock_opt, sock_opt_fields, NULL);

static const struct image_field sock_addr_fields[] = {
	IMAGE_FIELD(struct image_sock_addr, addr, IMAGE_F_STR, .max = INET6_ADDRSTRLEN),
};

static IMAGE_RECORD_DEF(sock_addr_record, image_sock_addr, sock_addr_fields, NULL);

static const struct image_field sock_mcast_fields[] = {
	IMAGE_FIELD(struct image_sock_mcast, dev, IMAGE_F_STR, .max = 16), /* IFNAMSIZ */
	IMAGE_FIELD(struct image_sock_mcast, group, IMAGE_F_STR, .max = INET6_ADDRSTRLEN),
	IMAGE_FIELD(struct image_sock_mcast, is_include, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
	IMAGE_ARRAY(struct image_sock_mcast, sources, nr_sources, sock_addr_record,
		    IMAGE_MAX_SOCK_MCAST_SRC),
};

/* A group is a multicast address; its sources are unicast addresses of its family. */
static int check_sock_mcast(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_sock_mcast *m = rec;
	struct in6_addr a6;
	struct in_addr a4;
	int family = inet_pton(AF_INET, m->group, &a4) == 1	 ? AF_INET :
		     inet_pton(AF_INET6, m->group, &a6) == 1 ? AF_INET6 :
							       0;
	uint32_t i;

	if (!m->dev[0] || strchr(m->dev, '/'))
		return table_bad(err, errlen, "%s.dev: \"%s\" is no interface name", where, m->dev);
	if (!family || (family == AF_INET ? !IN_MULTICAST(ntohl(a4.s_addr)) :
					    !IN6_IS_ADDR_MULTICAST(&a6)))
		return table_bad(err, errlen, "%s.group: \"%s\" is no multicast address", where,
				 m->group);
	for (i = 0; i < m->nr_sources; i++)
		if (inet_pton(family, m->sources[i].addr, family == AF_INET ? (void *)&a4 : &a6) != 1)
			return table_bad(err, errlen, "%s.sources[%u]: \"%s\" is no address of "
					 "the group's family", where, i, m->sources[i].addr);
	return 0;
}

static IMAGE_RECORD_DEF(sock_mcast_record, image_sock_mcast, sock_mcast_fields, check_sock_mcast);

/* An established TCP connection (TCP_REPAIR): bounds the kernel itself sets. */
static const struct image_field sock_tcp_fields[] = {
	IMAGE_U32(struct image_sock_tcp, snd_seq, 0, UINT32_MAX),
	IMAGE_U32(struct image_sock_tcp, rcv_seq, 0, UINT32_MAX),
	IMAGE_FIELD(struct image_sock_tcp, unsent, IMAGE_F_U32, .max = IMAGE_MAX_SOCK_QUEUE,
		    IMAGE_OPTIONAL),
	IMAGE_U32(struct image_sock_tcp, mss, 0, 65535),
	IMAGE_FIELD(struct image_sock_tcp, options, IMAGE_F_HEX32, .max = 7, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_tcp, snd_wscale, IMAGE_F_U32, .max = 14, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_tcp, rcv_wscale, IMAGE_F_U32, .max = 14, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_tcp, timestamp, IMAGE_F_U32, .max = UINT32_MAX,
		    IMAGE_OPTIONAL),
	IMAGE_U32(struct image_sock_tcp, snd_wl1, 0, UINT32_MAX),
	IMAGE_U32(struct image_sock_tcp, snd_wnd, 0, UINT32_MAX),
	IMAGE_U32(struct image_sock_tcp, max_window, 0, UINT32_MAX),
	IMAGE_U32(struct image_sock_tcp, rcv_wnd, 0, UINT32_MAX),
	IMAGE_U32(struct image_sock_tcp, rcv_wup, 0, UINT32_MAX),
	IMAGE_BLOB(struct image_sock_tcp, send_queue),
	IMAGE_BLOB(struct image_sock_tcp, recv_queue),
};

static int check_sock_tcp(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_sock_tcp *t = rec;

	if (t->send_queue.len > IMAGE_MAX_SOCK_QUEUE || t->recv_queue.len > IMAGE_MAX_SOCK_QUEUE)
		return table_bad(err, errlen, "%s: more than %u bytes queued", where,
				 IMAGE_MAX_SOCK_QUEUE);
	if (t->unsent > t->send_queue.len)
		return table_bad(err, errlen, "%s.unsent: %u bytes, more than the send queue's",
				 where, t->unsent);
	if (!(t->options & TCPI_OPT_WSCALE) && (t->snd_wscale || t->rcv_wscale))
		return table_bad(err, errlen, "%s: window scales without the option", where);
	return 0;
}

static IMAGE_RECORD_DEF(sock_tcp_record, image_sock_tcp, sock_tcp_fields, check_sock_tcp);

static const char *const sock_shut_names[] = { "read", "write" }; /* IMAGE_SOCK_SHUT_* */

static const struct image_field sock_rights_fields[] = {
	IMAGE_U64(struct image_sock_rights, at, 0, UINT64_MAX),
	IMAGE_FIELD(struct image_sock_rights, len, IMAGE_F_U32, .max = IMAGE_MAX_SOCK_QUEUE,
		    IMAGE_OPTIONAL),
	IMAGE_SCALARS(struct image_sock_rights, fds, nr_fds, IMAGE_F_I32, -IMAGE_MAX_FDS, -1,
		      IMAGE_MAX_RIGHTS_FDS),
};

/* A message with fds carries one at least (a file sent twice is named twice). */
static int check_sock_rights(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_sock_rights *r = rec;

	if (!r->nr_fds) {
		snprintf(err, errlen, "%s: a message with fds in flight carries none", where);
		return -EINVAL;
	}
	return 0;
}

static IMAGE_RECORD_DEF(sock_rights_record, image_sock_rights, sock_rights_fields, check_sock_rights);

static const struct image_field sock_creds_fields[] = {
	IMAGE_U64(struct image_sock_creds, at, 0, UINT64_MAX),
	IMAGE_FIELD(struct image_sock_creds, len, IMAGE_F_U32, .max = IMAGE_MAX_SOCK_QUEUE,
		    IMAGE_OPTIONAL),
	IMAGE_U32(struct image_sock_creds, uid, 0, UINT32_MAX - 1),
	IMAGE_U32(struct image_sock_creds, gid, 0, UINT32_MAX - 1),
};

static IMAGE_RECORD_DEF(sock_creds_record, image_sock_creds, sock_creds_fields, NULL);

static const struct image_field sock_attrs_fields[] = {
	IMAGE_ARRAY(struct image_sock_attrs, opts, nr_opts, sock_opt_record, IMAGE_MAX_SOCK_OPTS),
	IMAGE_STR(struct image_sock_attrs, bind_dev, 16), /* IFNAMSIZ */
	IMAGE_STR(struct image_sock_attrs, congestion, 16), /* TCP_CA_NAME_MAX */
	IMAGE_ARRAY(struct image_sock_attrs, mcast, nr_mcast, sock_mcast_record,
		    IMAGE_MAX_SOCK_MCAST),
	IMAGE_SCALARS(struct image_sock_attrs, filter, nr_filter, IMAGE_F_HEX64, 0, UINT64_MAX,
		      IMAGE_MAX_SOCK_FILTER),
	IMAGE_FIELD(struct image_sock_attrs, is_filter_locked, IMAGE_F_BOOL, .max = 1,
		    IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_attrs, shutdown, IMAGE_F_FLAGS, .names = sock_shut_names,
		    .nr_names = 2, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_attrs, is_reset_by_peer, IMAGE_F_BOOL, .max = 1,
		    IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_attrs, has_file, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_attrs, file_mode, IMAGE_F_OCTAL, .max = 07777, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_attrs, file_uid, IMAGE_F_U32, .max = UINT32_MAX - 1,
		    IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_attrs, file_gid, IMAGE_F_U32, .max = UINT32_MAX - 1,
		    IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_sock_attrs, is_file_unlinked, IMAGE_F_BOOL, .max = 1,
		    IMAGE_OPTIONAL),
	IMAGE_SCALARS(struct image_sock_attrs, pending, nr_pending, IMAGE_F_U64, 1, UINT64_MAX,
		      IMAGE_MAX_SOCK_PENDING),
	IMAGE_ARRAY(struct image_sock_attrs, rights, nr_rights, sock_rights_record,
		    IMAGE_MAX_SOCK_RIGHTS),
	IMAGE_ARRAY(struct image_sock_attrs, creds, nr_creds, sock_creds_record,
		    IMAGE_MAX_SOCK_RIGHTS),
	IMAGE_FIELD(struct image_sock_attrs, tcp, IMAGE_F_RECORD, .sub = &sock_tcp_record,
		    IMAGE_OPTIONAL),
};

/* An option is set once: two values for one would make restore's result depend on order. */
static int check_sock_attrs(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_sock_attrs *a = rec;
	uint32_t i, j;

	for (i = 0; i < a->nr_opts; i++)
		for (j = 0; j < i; j++)
			if (a->opts[i].level == a->opts[j].level &&
			    a->opts[i].name == a->opts[j].name) {
				snprintf(err, errlen, "%s.opts[%u]: option %d/%d given twice", where,
					 i, a->opts[i].level, a->opts[i].name);
				return -EINVAL;
			}
	if (a->has_file && a->is_file_unlinked)
		return table_bad(err, errlen, "%s: a socket file both there and removed", where);
	if (!a->has_file && (a->file_mode || a->file_uid || a->file_gid))
		return table_bad(err, errlen, "%s: a socket file's mode or owner without a file",
				 where);
	for (i = 0; i < a->nr_mcast; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(a->mcast[i].dev, a->mcast[j].dev) &&
			    !strcmp(a->mcast[i].group, a->mcast[j].group)) {
				snprintf(err, errlen, "%s.mcast[%u]: group %s on %s given twice",
					 where, i, a->mcast[i].group, a->mcast[i].dev);
				return -EINVAL;
			}
	return 0;
}

IMAGE_RECORD_DEF(image_sock_attrs_record, image_sock_attrs, sock_attrs_fields, check_sock_attrs);

/* Process and thread attributes (src/engine/attrs.c) */

/* sched(7) numbers its policies; 4 was SCHED_ISO and never existed */
static const char *const sched_policy_names[] = { "other", "fifo", "rr",	"batch",
						  "iso",   "idle", "deadline", "ext" };
static const char *const sched_flag_names[] = { "reset-on-fork", "reclaim", "dl-overrun" };
static const char *const mce_kill_names[] = { "default", "early", "late" };
static const char *const mpol_mode_names[] = { "default",	   "preferred", "bind",
					       "interleave",	   "local",	"preferred-many",
					       "weighted-interleave" };
static const char *const mpol_flag_names[] = { "numa-balancing", "relative-nodes",
					       "static-nodes" };
static const char *const thp_disable_names[] = { "disable", "except-advised" };
static const char *const mdwe_names[] = { "refuse-exec-gain", "no-inherit" };
/* membarrier(2) commands by bit; only the REGISTER_* ones are a process's state */
static const char *const membarrier_names[] = {
	"global",	"global-expedited",	 "register-global-expedited",
	"private-expedited", "register-private-expedited", "private-expedited-sync-core",
	"register-private-expedited-sync-core", "private-expedited-rseq",
	"register-private-expedited-rseq",
};

#define SCHED_OTHER_ 0
#define SCHED_FIFO_ 1
#define SCHED_RR_ 2
#define SCHED_BATCH_ 3
#define SCHED_ISO_ 4
#define SCHED_DEADLINE_ 6

static const struct image_field thread_attrs_fields[] = {
	IMAGE_ENUM(struct image_thread_attrs, policy, sched_policy_names),
	IMAGE_FIELD(struct image_thread_attrs, sched_flags, IMAGE_F_FLAGS, IMAGE_OPTIONAL,
		    .names = sched_flag_names, .nr_names = 3),
	IMAGE_I32(struct image_thread_attrs, nice, -20, 19),
	IMAGE_FIELD(struct image_thread_attrs, rt_priority, IMAGE_F_U32, IMAGE_OPTIONAL, .max = 99),
	IMAGE_FIELD(struct image_thread_attrs, dl_runtime, IMAGE_F_U64, IMAGE_OPTIONAL,
		    .max = INT64_MAX),
	IMAGE_FIELD(struct image_thread_attrs, dl_deadline, IMAGE_F_U64, IMAGE_OPTIONAL,
		    .max = INT64_MAX),
	IMAGE_FIELD(struct image_thread_attrs, dl_period, IMAGE_F_U64, IMAGE_OPTIONAL,
		    .max = INT64_MAX),
	IMAGE_FIELD(struct image_thread_attrs, slice_ns, IMAGE_F_U64, IMAGE_OPTIONAL,
		    .max = INT64_MAX),
	IMAGE_FIELD(struct image_thread_attrs, ioprio, IMAGE_F_HEX32, .max = 0xffff),
	IMAGE_SCALARS(struct image_thread_attrs, cpus, nr_cpus, IMAGE_F_U32, 0, IMAGE_MAX_CPUS - 1,
		      IMAGE_MAX_CPUS),
	IMAGE_U64(struct image_thread_attrs, timerslack_ns, 0, INT64_MAX),
	IMAGE_FIELD(struct image_thread_attrs, pdeathsig, IMAGE_F_I32, IMAGE_OPTIONAL, .max = 64),
	IMAGE_FIELD(struct image_thread_attrs, mce_kill, IMAGE_F_ENUM, IMAGE_OPTIONAL,
		    .names = mce_kill_names, .nr_names = 3),
	IMAGE_FIELD(struct image_thread_attrs, tsc_sigsegv, IMAGE_F_BOOL, IMAGE_OPTIONAL, .max = 1),
	IMAGE_FIELD(struct image_thread_attrs, cpuid_faulting, IMAGE_F_BOOL, IMAGE_OPTIONAL,
		    .max = 1),
	IMAGE_FIELD(struct image_thread_attrs, mpol_mode, IMAGE_F_ENUM, IMAGE_OPTIONAL,
		    .names = mpol_mode_names, .nr_names = 7),
	IMAGE_FIELD(struct image_thread_attrs, mpol_flags, IMAGE_F_FLAGS, IMAGE_OPTIONAL,
		    .names = mpol_flag_names, .nr_names = 3),
	IMAGE_SCALARS(struct image_thread_attrs, mpol_nodes, nr_mpol_nodes, IMAGE_F_U32, 0,
		      IMAGE_MAX_NODES - 1, IMAGE_MAX_NODES),
};

static int check_thread_attrs(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_thread_attrs *a = rec;
	bool is_rt = a->policy == SCHED_FIFO_ || a->policy == SCHED_RR_;
	bool is_dl = a->policy == SCHED_DEADLINE_;
	uint32_t i;

	if (a->policy == SCHED_ISO_)
		return table_bad(err, errlen, "%s.policy: iso is no policy of Linux", where);
	if (is_rt != (a->rt_priority != 0))
		return table_bad(err, errlen, "%s.rt_priority: %u under policy %s", where,
				 a->rt_priority, sched_policy_names[a->policy]);
	if (!is_dl && (a->dl_runtime || a->dl_deadline || a->dl_period ||
		       (a->sched_flags & ~IMAGE_SCHED_FLAG_RESET_ON_FORK)))
		return table_bad(err, errlen, "%s: deadline parameters under policy %s", where,
				 sched_policy_names[a->policy]);
	/* sched_setattr(2): runtime <= deadline <= period (0 = deadline), runtime >= 1 us */
	if (is_dl && (a->dl_runtime < 1024 || a->dl_runtime > a->dl_deadline ||
		      (a->dl_period && a->dl_deadline > a->dl_period)))
		return table_bad(err, errlen, "%s: deadline parameters out of order", where);
	if (a->slice_ns && a->policy != SCHED_OTHER_ && a->policy != SCHED_BATCH_)
		return table_bad(err, errlen, "%s.slice_ns: a slice under policy %s", where,
				 sched_policy_names[a->policy]);
	if ((a->ioprio >> 13) > 3)
		return table_bad(err, errlen, "%s.ioprio: class %u unknown", where, a->ioprio >> 13);
	for (i = 1; i < a->nr_cpus; i++)
		if (a->cpus[i] <= a->cpus[i - 1])
			return table_bad(err, errlen, "%s.cpus: not ascending at [%u]", where, i);
	for (i = 1; i < a->nr_mpol_nodes; i++)
		if (a->mpol_nodes[i] <= a->mpol_nodes[i - 1])
			return table_bad(err, errlen, "%s.mpol_nodes: not ascending at [%u]", where,
					 i);
	/* set_mempolicy(2): bind and interleave need nodes; default and local take none */
	if ((a->mpol_mode == 0 || a->mpol_mode == 4) ? a->nr_mpol_nodes || a->mpol_flags
						      : a->mpol_mode != 1 && !a->nr_mpol_nodes)
		return table_bad(err, errlen, "%s: memory policy %s with %u nodes", where,
				 mpol_mode_names[a->mpol_mode], a->nr_mpol_nodes);
	/* PR_SET_TIMERSLACK 0 means "the default": only a realtime thread has none */
	if (!a->timerslack_ns && !is_rt && !is_dl)
		return table_bad(err, errlen, "%s.timerslack_ns: 0 under policy %s", where,
				 sched_policy_names[a->policy]);
	return 0;
}

IMAGE_RECORD_DEF(image_thread_attrs_record, image_thread_attrs, thread_attrs_fields,
		 check_thread_attrs);

static const struct image_field proc_attrs_fields[] = {
	IMAGE_I32(struct image_proc_attrs, oom_score_adj, -1000, 1000),
	IMAGE_FIELD(struct image_proc_attrs, coredump_filter, IMAGE_F_HEX32, .max = 0x1ff),
	IMAGE_U32(struct image_proc_attrs, loginuid, 0, UINT32_MAX),
	IMAGE_FIELD(struct image_proc_attrs, thp_disable, IMAGE_F_FLAGS, IMAGE_OPTIONAL,
		    .names = thp_disable_names, .nr_names = 2),
	IMAGE_FIELD(struct image_proc_attrs, is_child_subreaper, IMAGE_F_BOOL, IMAGE_OPTIONAL,
		    .max = 1),
	IMAGE_FIELD(struct image_proc_attrs, membarrier, IMAGE_F_FLAGS, IMAGE_OPTIONAL,
		    .names = membarrier_names, .nr_names = 9),
	IMAGE_FIELD(struct image_proc_attrs, mdwe, IMAGE_F_FLAGS, IMAGE_OPTIONAL,
		    .names = mdwe_names, .nr_names = 2),
	IMAGE_FIELD(struct image_proc_attrs, autogroup_nice, IMAGE_F_I32, IMAGE_OPTIONAL,
		    .min = -20, .max = 19),
	IMAGE_FIELD(struct image_proc_attrs, has_amx_perm, IMAGE_F_BOOL, IMAGE_OPTIONAL, .max = 1),
};

static int check_proc_attrs(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_proc_attrs *a = rec;

	if (a->thp_disable == IMAGE_THP_EXCEPT_ADVISED)
		return table_bad(err, errlen, "%s.thp_disable: except-advised without disable",
				 where);
	if (a->membarrier & ~IMAGE_MEMBARRIER_REGISTERED)
		return table_bad(err, errlen, "%s.membarrier: only register-* commands are kept",
				 where);
	if (a->mdwe == IMAGE_MDWE_NO_INHERIT)
		return table_bad(err, errlen, "%s.mdwe: no-inherit without refuse-exec-gain", where);
	return 0;
}

static IMAGE_RECORD_DEF(proc_attrs_record, image_proc_attrs, proc_attrs_fields,
			check_proc_attrs);

static const struct image_field pidfd_fields[] = {
	IMAGE_I32(struct image_pidfd, pid, 1, INT32_MAX),
};

static IMAGE_RECORD_DEF(pidfd_record, image_pidfd, pidfd_fields, NULL);

static const struct image_field inotify_watch_fields[] = {
	IMAGE_I32(struct image_inotify_watch, wd, 1, INT32_MAX),
	IMAGE_FIELD(struct image_inotify_watch, path, IMAGE_F_STR, .max = IMAGE_MAX_PATH),
	IMAGE_U64(struct image_inotify_watch, ino, 0, UINT64_MAX),
	IMAGE_HEX64(struct image_inotify_watch, dev),
	IMAGE_HEX32(struct image_inotify_watch, mask),
};

static IMAGE_RECORD_DEF(inotify_watch_record, image_inotify_watch, inotify_watch_fields, NULL);

static const struct image_field inotify_fields[] = {
	IMAGE_ARRAY(struct image_inotify, watches, nr_watches, inotify_watch_record,
		    IMAGE_MAX_WATCHES),
};

/* Watches sorted by wd (restore makes them in that order), at absolute paths. */
static int check_inotify(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_inotify *in = rec;
	uint32_t i;

	for (i = 0; i < in->nr_watches; i++) {
		const struct image_inotify_watch *w = &in->watches[i];

		if ((i && w->wd <= in->watches[i - 1].wd) || !w->path || w->path[0] != '/') {
			snprintf(err, errlen, "%s.watches[%u]: unsorted, repeated or not at an "
					      "absolute path", where, i);
			return -EINVAL;
		}
	}
	return 0;
}

static IMAGE_RECORD_DEF(inotify_record, image_inotify, inotify_fields, check_inotify);

static const struct image_field job_control_fields[] = {
	IMAGE_FIELD(struct image_job_control, stop_signal, IMAGE_F_U32, .max = 64, IMAGE_OPTIONAL),
};

static int check_job_control(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_job_control *j = rec;

	/* SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU */
	if (j->stop_signal && j->stop_signal != 19 && (j->stop_signal < 20 || j->stop_signal > 22)) {
		snprintf(err, errlen, "%s.stop_signal: %u is not a stop signal", where,
			 j->stop_signal);
		return -EINVAL;
	}
	return 0;
}

static IMAGE_RECORD_DEF(job_control_record, image_job_control, job_control_fields,
			check_job_control);

static const struct image_field ctty_fields[] = {
	IMAGE_FIELD(struct image_ctty, is_set, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_ctty, index, IMAGE_F_U32, .max = IMAGE_PTY_MAX_INDEX,
		    IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_ctty, fg_pgid, IMAGE_F_I32, .min = 0, .max = INT32_MAX,
		    IMAGE_OPTIONAL),
};

static int check_ctty(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_ctty *c = rec;

	if (!c->is_set && (c->index || c->fg_pgid))
		return table_bad(err, errlen, "%s: index or fg_pgid without is_set", where);
	if (c->is_set && !c->fg_pgid)
		return table_bad(err, errlen, "%s.fg_pgid: 0 for a controlling terminal", where);
	return 0;
}

static IMAGE_RECORD_DEF(ctty_record, image_ctty, ctty_fields, check_ctty);

static const char *const timer_notify_names[] = { "signal", "none", "thread", "thread_id" };

static const struct image_field posix_timer_fields[] = {
	IMAGE_I32(struct image_posix_timer, id, 0, INT32_MAX),
	IMAGE_I32(struct image_posix_timer, clockid, INT32_MIN, 11),
	IMAGE_ENUM(struct image_posix_timer, notify, timer_notify_names),
	IMAGE_I32(struct image_posix_timer, signo, INT32_MIN, INT32_MAX),
	IMAGE_HEX64(struct image_posix_timer, sigval),
	IMAGE_FIELD(struct image_posix_timer, tid, IMAGE_F_I32, .max = INT32_MAX, IMAGE_OPTIONAL),
	IMAGE_U64(struct image_posix_timer, value_ns, 0, UINT64_MAX),
	IMAGE_U64(struct image_posix_timer, interval_ns, 0, UINT64_MAX),
	IMAGE_FIELD(struct image_posix_timer, deadline_ns, IMAGE_F_U64, .max = UINT64_MAX,
		    IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_posix_timer, overrun, IMAGE_F_I32, .max = INT32_MAX,
		    IMAGE_OPTIONAL),
};

/* What timer_create would refuse, and fields that belong to another mode or clock. */
static int check_posix_timer(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_posix_timer *t = rec;
	bool is_wall = t->clockid == 0 || t->clockid == 8 || t->clockid == 11;

	if (t->notify != IMAGE_TIMER_NONE && (t->signo < 1 || t->signo > 64)) {
		snprintf(err, errlen, "%s.signo: %d is not a signal", where, t->signo);
		return -EINVAL;
	}
	if ((t->notify == IMAGE_TIMER_THREAD_ID) != (t->tid > 0)) {
		snprintf(err, errlen, "%s.tid: a thread to signal goes with thread_id only", where);
		return -EINVAL;
	}
	if (t->deadline_ns && (!is_wall || !t->value_ns)) {
		snprintf(err, errlen, "%s.deadline_ns: only for an armed timer of the wall clock",
			 where);
		return -EINVAL;
	}
	if (t->overrun < 0) {
		snprintf(err, errlen, "%s.overrun: negative", where);
		return -EINVAL;
	}
	return 0;
}

static IMAGE_RECORD_DEF(posix_timer_record, image_posix_timer, posix_timer_fields,
			check_posix_timer);

static const struct image_field pty_fields[] = {
	IMAGE_BOOL(struct image_pty, is_master),
	IMAGE_U32(struct image_pty, index, 0, IMAGE_PTY_MAX_INDEX),
	IMAGE_HEX32(struct image_pty, iflag),
	IMAGE_HEX32(struct image_pty, oflag),
	IMAGE_HEX32(struct image_pty, cflag),
	IMAGE_HEX32(struct image_pty, lflag),
	IMAGE_U32(struct image_pty, line, 0, 255),
	IMAGE_SCALARS(struct image_pty, cc, nr_cc, IMAGE_F_U32, 0, 255, IMAGE_PTY_NCCS),
	IMAGE_U32(struct image_pty, ispeed, 0, UINT32_MAX),
	IMAGE_U32(struct image_pty, ospeed, 0, UINT32_MAX),
	IMAGE_U32(struct image_pty, rows, 0, UINT16_MAX),
	IMAGE_U32(struct image_pty, cols, 0, UINT16_MAX),
	IMAGE_U32(struct image_pty, xpixel, 0, UINT16_MAX),
	IMAGE_U32(struct image_pty, ypixel, 0, UINT16_MAX),
	IMAGE_FIELD(struct image_pty, is_locked, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_pty, is_packet, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_pty, is_exclusive, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
};

/* Lock and packet mode are the master's; a slave that is locked could not have been opened. */
static int check_pty(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_pty *t = rec;

	if (!t->is_master && (t->is_locked || t->is_packet))
		return table_bad(err, errlen, "%s: lock and packet mode belong to a master", where);
	return 0;
}

static IMAGE_RECORD_DEF(pty_record, image_pty, pty_fields, check_pty);

#define FD_KIND(k, rec_, m) [k] = { .rec = &(rec_), .off = offsetof(struct image_fd, m) }

const struct image_fd_kind_record image_fd_kind_records[IMAGE_FD_KIND_COUNT] = {
	FD_KIND(IMAGE_FD_PIDFD, pidfd_record, pidfd),
	FD_KIND(IMAGE_FD_INOTIFY, inotify_record, inotify),
	FD_KIND(IMAGE_FD_PTY, pty_record, pty),
};

/* File locks and leases (src/engine/file-locks.c) */

static const char *const lock_kinds[] = { "posix", "ofd", "flock", "lease" };
static const char *const lock_types[] = { "read", "write" };

static const struct image_field lock_fields[] = {
	IMAGE_I32(struct image_lock, fd, 0, (1 << 20) - 1),
	IMAGE_ENUM(struct image_lock, kind, lock_kinds),
	IMAGE_ENUM(struct image_lock, type, lock_types),
	IMAGE_FIELD(struct image_lock, start, IMAGE_F_U64, .max = IMAGE_LOCK_MAX_OFF, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_lock, len, IMAGE_F_U64, .max = IMAGE_LOCK_MAX_OFF, IMAGE_OPTIONAL),
};

static int check_lock(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_lock *l = rec;

	if ((l->kind == IMAGE_LOCK_FLOCK || l->kind == IMAGE_LOCK_LEASE) && (l->start || l->len))
		return table_bad(err, errlen, "%s: a %s covers the whole file, not a range", where,
				 lock_kinds[l->kind]);
	if (l->len && l->len - 1 > IMAGE_LOCK_MAX_OFF - l->start)
		return table_bad(err, errlen, "%s: range %llu+%llu ends past the largest file offset",
				 where, (unsigned long long)l->start, (unsigned long long)l->len);
	return 0;
}

static IMAGE_RECORD_DEF(lock_record, image_lock, lock_fields, check_lock);

/* fd owners (src/engine/fd-owner.c) */

static const char *const owner_types[] = { "tid", "pid", "pgrp" };

static const struct image_field fd_owner_fields[] = {
	IMAGE_I32(struct image_fd_owner, fd, 0, (1 << 20) - 1),
	IMAGE_ENUM(struct image_fd_owner, type, owner_types),
	IMAGE_FIELD(struct image_fd_owner, pid, IMAGE_F_I32, .max = INT32_MAX, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_fd_owner, sig, IMAGE_F_I32, .max = IMAGE_NR_SIGNALS,
		    IMAGE_OPTIONAL),
};

static int check_fd_owner(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_fd_owner *o = rec;

	if (!o->pid && !o->sig)
		return table_bad(err, errlen, "%s: neither an owner nor a signal", where);
	if (!o->pid && o->type != IMAGE_OWNER_TID)
		return table_bad(err, errlen, "%s: a %s owner without a pid", where,
				 owner_types[o->type]);
	return 0;
}

static IMAGE_RECORD_DEF(fd_owner_record, image_fd_owner, fd_owner_fields, check_fd_owner);
/*
 * Credentials of a thread (image_thread.creds).  An id of -1 would mean
 * "leave it" to setresuid() and friends, and the kernel has no such gid for
 * setgroups(): neither is an id a process can hold.
 */
#define ID_MAX (UINT32_MAX - 1)

static const struct image_field creds_fields[] = {
	IMAGE_U32(struct image_creds, uid, 0, ID_MAX),
	IMAGE_U32(struct image_creds, euid, 0, ID_MAX),
	IMAGE_U32(struct image_creds, suid, 0, ID_MAX),
	IMAGE_U32(struct image_creds, fsuid, 0, ID_MAX),
	IMAGE_U32(struct image_creds, gid, 0, ID_MAX),
	IMAGE_U32(struct image_creds, egid, 0, ID_MAX),
	IMAGE_U32(struct image_creds, sgid, 0, ID_MAX),
	IMAGE_U32(struct image_creds, fsgid, 0, ID_MAX),
	IMAGE_SCALARS(struct image_creds, groups, nr_groups, IMAGE_F_U32, 0, ID_MAX,
		      IMAGE_MAX_GROUPS),
	IMAGE_HEX64(struct image_creds, cap_inh),
	IMAGE_HEX64(struct image_creds, cap_prm),
	IMAGE_HEX64(struct image_creds, cap_eff),
	IMAGE_HEX64(struct image_creds, cap_bnd),
	IMAGE_HEX64(struct image_creds, cap_amb),
	IMAGE_FIELD(struct image_creds, securebits, IMAGE_F_HEX32, .max = IMAGE_SECUREBITS_ALL),
	IMAGE_BOOL(struct image_creds, no_new_privs),
	IMAGE_SCALARS(struct image_creds, seccomp, nr_seccomp, IMAGE_F_U32, 0,
		      IMAGE_MAX_SECCOMP_FILTERS - 1, IMAGE_MAX_SECCOMP_FILTERS),
};

/* What the kernel keeps true of every task's capability sets (security/commoncap.c). */
static int check_creds(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_creds *c = rec;

	if (c->cap_eff & ~c->cap_prm)
		return table_bad(err, errlen, "%s.cap_eff: 0x%llx is not within cap_prm 0x%llx",
				 where, (unsigned long long)c->cap_eff,
				 (unsigned long long)c->cap_prm);
	if (c->cap_amb & ~(c->cap_prm & c->cap_inh))
		return table_bad(err, errlen, "%s.cap_amb: 0x%llx is not within cap_prm and cap_inh",
				 where, (unsigned long long)c->cap_amb);
	return 0;
}

static IMAGE_RECORD_DEF(creds_record, image_creds, creds_fields, check_creds);

static const struct image_field proc_creds_fields[] = {
	IMAGE_U32(struct image_proc_creds, dumpable, 0, 2),
};

static IMAGE_RECORD_DEF(proc_creds_record, image_proc_creds, proc_creds_fields, NULL);

static const struct image_field seccomp_filter_fields[] = {
	IMAGE_FIELD(struct image_seccomp_filter, log, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
	IMAGE_FIELD(struct image_seccomp_filter, prog, IMAGE_F_BLOB),
};

/* Whole instructions, at least one, at most BPF_MAXINSNS. */
static int check_seccomp_filter(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_seccomp_filter *f = rec;

	if (!f->prog.len || f->prog.len % 8 || f->prog.len / 8 > IMAGE_MAX_BPF_INSNS)
		return table_bad(err, errlen, "%s.prog: %llu bytes is not 1 to %d BPF instructions",
				 where, (unsigned long long)f->prog.len, IMAGE_MAX_BPF_INSNS);
	return 0;
}

static IMAGE_RECORD_DEF(seccomp_filter_record, image_seccomp_filter, seccomp_filter_fields,
			check_seccomp_filter);

/* The root directory (src/engine/process.c) */

static const struct image_field root_fields[] = {
	IMAGE_STR(struct image_root, path, IMAGE_MAX_PATH),
	IMAGE_FIELD(struct image_root, container, IMAGE_F_BOOL, .max = 1, IMAGE_OPTIONAL),
};

static int check_root(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_root *r = rec;

	if (r->path && (r->path[0] != '/' || !strcmp(r->path, "/")))
		return table_bad(err, errlen, "%s.path: \"%s\" is not an absolute path below /",
				 where, r->path);
	return 0;
}

static IMAGE_RECORD_DEF(root_record, image_root, root_fields, check_root);

/* The files bound to a manifest (docs/security.md): its own, and a tree's children's manifests. */
static const char *const own_parts[] = { "pages.idx", "pages.img", "data.img",
					 IMAGE_WORKSET_FILE };

int image_part_pid(const char *name)
{
	const char *digits = name + strlen("proc-");
	char *end;
	long pid;

	/* first digit 1-9: no sign, no space, no leading zero, so one name per pid */
	if (strncmp(name, "proc-", strlen("proc-")) || *digits < '1' || *digits > '9')
		return -1;
	errno = 0;
	pid = strtol(digits, &end, 10);
	if (errno || pid > INT32_MAX || strcmp(end, "/manifest.json"))
		return -1;
	return (int)pid;
}

static const struct image_field part_fields[] = {
	IMAGE_FIELD(struct image_part, name, IMAGE_F_STR, .max = IMAGE_PART_NAME_MAX),
	IMAGE_U64(struct image_part, size, 0, INT64_MAX),
	IMAGE_BYTES(struct image_part, sha256),
};

static int check_part(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_part *p = rec;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(own_parts); i++)
		if (!strcmp(p->name, own_parts[i]))
			return 0;
	if (image_part_pid(p->name) > 0)
		return 0;
	snprintf(err, errlen, "%s.name: \"%s\" is no file of a snapshot", where, p->name);
	return -EINVAL;
}

static IMAGE_RECORD_DEF(part_record, image_part, part_fields, check_part);

static const struct image_field parts_fields[] = {
	IMAGE_BYTES(struct image_parts, id),
	IMAGE_ARRAY(struct image_parts, files, nr_files, part_record, IMAGE_MAX_PARTS),
};

static int check_parts(const void *rec, const char *where, char *err, size_t errlen)
{
	const struct image_parts *p = rec;
	uint32_t i, j;

	for (i = 0; i < p->nr_files; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(p->files[i].name, p->files[j].name)) {
				snprintf(err, errlen, "%s.files[%u]: %s listed twice", where, i,
					 p->files[i].name);
				return -EINVAL;
			}
	return 0;
}

static IMAGE_RECORD_DEF(parts_record, image_parts, parts_fields, check_parts);

/* ---- the sections of struct image ---- */

#define SECTION_ARRAY(key_, rec_, m, cnt, maxn)                                                    \
	{ .key = (key_), .rec = &(rec_), .off = offsetof(struct image, m),                          \
	  .count_off = offsetof(struct image, cnt), .max = (maxn) }

#define SECTION_ONE(key_, rec_, m) { .key = (key_), .rec = &(rec_), .off = offsetof(struct image, m) }

const struct image_section image_sections[] = {
	SECTION_ONE("creds", proc_creds_record, creds),
	SECTION_ARRAY("seccomp_filters", seccomp_filter_record, seccomp_filters, nr_seccomp_filters,
		      IMAGE_MAX_SECCOMP_FILTERS),
	SECTION_ARRAY("files", image_file_record, files, nr_files, IMAGE_MAX_FILES),
	SECTION_ONE("attrs", proc_attrs_record, attrs),
	SECTION_ONE("job_control", job_control_record, job_control),
	SECTION_ONE("ctty", ctty_record, ctty),
	SECTION_ONE("root", root_record, root),
	SECTION_ARRAY("children", child_record, children, nr_children, IMAGE_MAX_CHILDREN),
	SECTION_ARRAY("locks", lock_record, locks, nr_locks, IMAGE_MAX_LOCKS),
	SECTION_ARRAY("fd_owners", fd_owner_record, fd_owners, nr_fd_owners, IMAGE_MAX_FDS),
	SECTION_ARRAY("posix_timers", posix_timer_record, posix_timers, nr_posix_timers,
		      IMAGE_MAX_POSIX_TIMERS),
	{ .key = "parts", .rec = &parts_record, .off = offsetof(struct image, parts) },
};
const uint32_t image_nr_sections = ARRAY_SIZE(image_sections);

/* ---- the sections of struct image_thread: single records only ---- */

#define SECTION_THREAD(key_, rec_, m)                                                              \
	{ .key = (key_), .rec = &(rec_), .off = offsetof(struct image_thread, m) }

const struct image_section image_thread_sections[] = {
	SECTION_THREAD("attrs", image_thread_attrs_record, attrs),
	SECTION_THREAD("creds", creds_record, creds),
};
const uint32_t image_nr_thread_sections = ARRAY_SIZE(image_thread_sections);

/* ---- parts of the hand-written records ---- */

#define REG(r) IMAGE_HEX64(struct image_regs, r)
static const struct image_field regs_fields[] = {
	REG(r15), REG(r14), REG(r13),	  REG(r12), REG(rbp),	 REG(rbx), REG(r11),
	REG(r10), REG(r9),  REG(r8),	  REG(rax), REG(rcx),	 REG(rdx), REG(rsi),
	REG(rdi), REG(orig_rax),	  REG(rip), REG(cs),	 REG(eflags), REG(rsp),
	REG(ss),  REG(fs_base),		  REG(gs_base), REG(ds), REG(es),  REG(fs),
	REG(gs),
};
#undef REG
IMAGE_RECORD_DEF(image_regs_record, image_regs, regs_fields, NULL);

static const struct image_field mm_fields[] = {
	IMAGE_HEX64(struct image_mm, start_code),  IMAGE_HEX64(struct image_mm, end_code),
	IMAGE_HEX64(struct image_mm, start_data),  IMAGE_HEX64(struct image_mm, end_data),
	IMAGE_HEX64(struct image_mm, start_brk),   IMAGE_HEX64(struct image_mm, brk),
	IMAGE_HEX64(struct image_mm, start_stack), IMAGE_HEX64(struct image_mm, arg_start),
	IMAGE_HEX64(struct image_mm, arg_end),	   IMAGE_HEX64(struct image_mm, env_start),
	IMAGE_HEX64(struct image_mm, env_end),
};
IMAGE_RECORD_DEF(image_mm_record, image_mm, mm_fields, NULL);

/* ---- walking ---- */

static const struct image_fd_kind_record *fd_kind_record(uint32_t kind)
{
	return kind < IMAGE_FD_KIND_COUNT && image_fd_kind_records[kind].rec ?
		       &image_fd_kind_records[kind] :
		       NULL;
}



uint64_t image_load_uint(const void *p, size_t size)
{
	uint32_t v32;
	uint64_t v64;
	bool b;

	if (size == sizeof(bool)) {
		memcpy(&b, p, sizeof(b));
		return b;
	}
	if (size == 4) {
		memcpy(&v32, p, 4);
		return v32;
	}
	memcpy(&v64, p, 8);
	return v64;
}

int64_t image_load_int(const void *p, uint8_t type)
{
	int32_t v32;
	int64_t v64;

	if (type == IMAGE_F_I32) {
		memcpy(&v32, p, 4);
		return v32;
	}
	memcpy(&v64, p, 8);
	return v64;
}

static uint32_t load_count(const void *obj, size_t off)
{
	uint32_t n;

	memcpy(&n, (const char *)obj + off, sizeof(n));
	return n;
}

static void *load_ptr(const void *obj, size_t off)
{
	void *p;

	memcpy(&p, (const char *)obj + off, sizeof(p));
	return p;
}

void image_record_release(const struct image_record *rec, void *obj)
{
	uint32_t i, k;

	for (i = 0; i < rec->nr_fields; i++) {
		const struct image_field *f = &rec->fields[i];
		char *base = (char *)obj + f->off;

		switch (f->type) {
		case IMAGE_F_STR:
			free(load_ptr(obj, f->off));
			memset(base, 0, sizeof(void *));
			break;
		case IMAGE_F_RECORD:
			image_record_release(f->sub, base);
			break;
		case IMAGE_F_ARRAY: {
			char *elems = load_ptr(obj, f->off);
			uint32_t n = load_count(obj, f->count_off);

			for (k = 0; f->sub && elems && k < n; k++)
				image_record_release(f->sub, elems + (size_t)k * f->elem_size);
			free(elems);
			memset(base, 0, sizeof(void *));
			memset((char *)obj + f->count_off, 0, sizeof(uint32_t));
			break;
		}
		default:
			break;
		}
	}
}

/* Whether a record holds a blob anywhere below it (the tables are small: walked each time). */
static bool record_has_blobs(const struct image_record *rec)
{
	uint32_t i;

	for (i = 0; i < rec->nr_fields; i++) {
		const struct image_field *f = &rec->fields[i];

		if (f->type == IMAGE_F_BLOB ||
		    ((f->type == IMAGE_F_RECORD || f->type == IMAGE_F_ARRAY) && f->sub &&
		     record_has_blobs(f->sub)))
			return true;
	}
	return false;
}

int image_record_blobs(const struct image_record *rec, const void *obj, const char *where,
		       int (*fn)(void *arg, const char *what, const struct image_blob *b), void *arg)
{
	char what[192];
	uint32_t i, k;
	int ret;

	/* the paths are formatted only where there is a blob below: most records have none */
	for (i = 0; i < rec->nr_fields; i++) {
		const struct image_field *f = &rec->fields[i];
		const char *base = (const char *)obj + f->off;

		if (f->type == IMAGE_F_BLOB) {
			snprintf(what, sizeof(what), "%s.%s", where, f->name);
			ret = fn(arg, what, (const struct image_blob *)base);
		} else if (f->type == IMAGE_F_RECORD && record_has_blobs(f->sub)) {
			snprintf(what, sizeof(what), "%s.%s", where, f->name);
			ret = image_record_blobs(f->sub, base, what, fn, arg);
		} else if (f->type == IMAGE_F_ARRAY && f->sub && record_has_blobs(f->sub)) {
			const char *elems = load_ptr(obj, f->off);
			uint32_t n = load_count(obj, f->count_off);

			for (ret = 0, k = 0; !ret && elems && k < n; k++) {
				char elem[224];

				snprintf(elem, sizeof(elem), "%s.%s[%u]", where, f->name, k);
				ret = image_record_blobs(f->sub, elems + (size_t)k * f->elem_size, elem,
							 fn, arg);
			}
		} else {
			ret = 0;
		}
		if (ret)
			return ret;
	}
	return 0;
}

void image_sections_release(struct image *img)
{
	uint32_t i, k;

	for (k = 0; img->threads && k < img->nr_threads; k++)
		for (i = 0; i < image_nr_thread_sections; i++)
			image_record_release(image_thread_sections[i].rec,
					     (char *)&img->threads[k] + image_thread_sections[i].off);

	for (i = 0; img->fds && i < img->nr_fds; i++) {
		const struct image_fd_kind_record *r = fd_kind_record(img->fds[i].kind);

		if (r)
			image_record_release(r->rec, (char *)&img->fds[i] + r->off);
	}

	for (i = 0; i < image_nr_sections; i++) {
		const struct image_section *s = &image_sections[i];
		char *base = (char *)img + s->off;

		if (!s->count_off) {
			image_record_release(s->rec, base);
			continue;
		}
		char *elems = load_ptr(img, s->off);
		uint32_t n = load_count(img, s->count_off);

		for (k = 0; elems && k < n; k++)
			image_record_release(s->rec, elems + k * s->rec->size);
		free(elems);
		memset(base, 0, sizeof(void *));
		memset((char *)img + s->count_off, 0, sizeof(uint32_t));
	}
}

int image_sections_blobs(const struct image *img,
			 int (*fn)(void *arg, const char *what, const struct image_blob *b), void *arg)
{
	char where[96];
	uint32_t i, k;
	int ret = 0;

	for (i = 0; !ret && i < img->nr_fds; i++) {
		const struct image_fd_kind_record *r = fd_kind_record(img->fds[i].kind);

		if (!r || !record_has_blobs(r->rec))
			continue;
		snprintf(where, sizeof(where), "fd %d", img->fds[i].fd);
		ret = image_record_blobs(r->rec, (const char *)&img->fds[i] + r->off, where, fn,
					 arg);
	}

	for (k = 0; !ret && img->threads && k < img->nr_threads; k++)
		for (i = 0; !ret && i < image_nr_thread_sections; i++) {
			if (!record_has_blobs(image_thread_sections[i].rec))
				continue;
			snprintf(where, sizeof(where), "threads[%u].%s", k,
				 image_thread_sections[i].key);
			ret = image_record_blobs(image_thread_sections[i].rec,
						 (const char *)&img->threads[k] +
							 image_thread_sections[i].off,
						 where, fn, arg);
		}

	for (i = 0; !ret && i < image_nr_sections; i++) {
		const struct image_section *s = &image_sections[i];

		if (!s->count_off) {
			ret = image_record_blobs(s->rec, (const char *)img + s->off, s->key, fn, arg);
			continue;
		}
		const char *elems = load_ptr(img, s->off);
		uint32_t n = load_count(img, s->count_off);

		for (k = 0; !ret && elems && k < n && record_has_blobs(s->rec); k++) {
			snprintf(where, sizeof(where), "%s[%u]", s->key, k);
			ret = image_record_blobs(s->rec, elems + k * s->rec->size, where, fn, arg);
		}
	}
	return ret;
}

/*
 * The walk of image_record_check().  Without paths (where is "" throughout)
 * it formats nothing, which is what a valid image costs; a caller that sees
 * it fail walks again with paths for the message.
 */
static int check_walk(const struct image_record *rec, const void *obj, const char *where,
		      bool with_paths, char *err, size_t errlen)
{
	char what[192] = "";
	uint32_t i, k;

	for (i = 0; i < rec->nr_fields; i++) {
		const struct image_field *f = &rec->fields[i];
		const char *base = (const char *)obj + f->off;

		if (f->type != IMAGE_F_RECORD && (f->type != IMAGE_F_ARRAY || !f->sub))
			continue;
		if (with_paths)
			snprintf(what, sizeof(what), "%s.%s", where, f->name);
		if (f->type == IMAGE_F_RECORD) {
			if (check_walk(f->sub, base, what, with_paths, err, errlen))
				return -EINVAL;
			continue;
		}
		const char *elems = load_ptr(obj, f->off);
		uint32_t n = load_count(obj, f->count_off);

		for (k = 0; elems && k < n; k++) {
			char elem[224] = "";

			if (with_paths)
				snprintf(elem, sizeof(elem), "%s[%u]", what, k);
			if (check_walk(f->sub, elems + (size_t)k * f->elem_size, elem, with_paths,
				       err, errlen))
				return -EINVAL;
		}
	}
	return rec->check ? rec->check(obj, with_paths ? where : "", err, errlen) : 0;
}

int image_record_check(const struct image_record *rec, const void *obj, const char *where,
		       char *err, size_t errlen)
{
	if (!check_walk(rec, obj, "", false, err, errlen))
		return 0;
	return check_walk(rec, obj, where, true, err, errlen) ? -EINVAL : 0;
}

int image_sections_check(const struct image *img, char *err, size_t errlen)
{
	char where[96];
	uint32_t i, k;

	for (k = 0; img->threads && k < img->nr_threads; k++)
		for (i = 0; i < image_nr_thread_sections; i++) {
			const void *obj = (const char *)&img->threads[k] + image_thread_sections[i].off;

			if (!check_walk(image_thread_sections[i].rec, obj, "", false, err, errlen))
				continue;
			snprintf(where, sizeof(where), "threads[%u].%s", k,
				 image_thread_sections[i].key);
			image_record_check(image_thread_sections[i].rec, obj, where, err, errlen);
			return -EINVAL;
		}

	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd_kind_record *r = fd_kind_record(img->fds[i].kind);

		if (!r || !check_walk(r->rec, (const char *)&img->fds[i] + r->off, "", false, err,
				      errlen))
			continue;
		snprintf(where, sizeof(where), "fd %d", img->fds[i].fd);
		image_record_check(r->rec, (const char *)&img->fds[i] + r->off, where, err, errlen);
		return -EINVAL;
	}

	for (i = 0; i < image_nr_sections; i++) {
		const struct image_section *s = &image_sections[i];

		if (!s->count_off) {
			if (image_record_check(s->rec, (const char *)img + s->off, s->key, err, errlen))
				return -EINVAL;
			continue;
		}
		const char *elems = load_ptr(img, s->off);
		uint32_t n = load_count(img, s->count_off);

		if (n > s->max)
			return table_bad(err, errlen, "%s: %u entries, at most %u allowed", s->key,
					 n, s->max);
		for (k = 0; elems && k < n; k++) {
			const char *obj = elems + (size_t)k * s->rec->size;

			if (!check_walk(s->rec, obj, "", false, err, errlen))
				continue;
			snprintf(where, sizeof(where), "%s[%u]", s->key, k);
			image_record_check(s->rec, obj, where, err, errlen);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- checking the tables ---- */

static size_t scalar_size(uint8_t type)
{
	switch (type) {
	case IMAGE_F_U32:
	case IMAGE_F_I32:
	case IMAGE_F_HEX32:
	case IMAGE_F_OCTAL:
	case IMAGE_F_ENUM:
	case IMAGE_F_FLAGS:
		return 4;
	case IMAGE_F_U64:
	case IMAGE_F_I64:
	case IMAGE_F_HEX64:
		return 8;
	case IMAGE_F_BOOL:
		return sizeof(bool);
	default:
		return 0;
	}
}

static int check_record_table(const struct image_record *rec, unsigned depth, char *err,
			      size_t errlen)
{
	uint32_t i, j;

	if (depth > 8)
		return table_bad(err, errlen, "%s: records nest deeper than 8", rec->name);
	for (i = 0; i < rec->nr_fields; i++) {
		const struct image_field *f = &rec->fields[i];
		size_t want = scalar_size(f->type);

		if (!f->name || !*f->name)
			return table_bad(err, errlen, "%s: field %u has no name", rec->name, i);
		for (j = 0; j < i; j++)
			if (!strcmp(rec->fields[j].name, f->name))
				return table_bad(err, errlen, "%s.%s: named twice", rec->name,
						 f->name);
		if (f->off + f->size > rec->size)
			return table_bad(err, errlen, "%s.%s: outside the struct", rec->name,
					 f->name);
		switch (f->type) {
		case IMAGE_F_BLOB:
			want = sizeof(struct image_blob);
			break;
		case IMAGE_F_BYTES:
			want = f->size;
			if (!f->size || f->size > 64)
				return table_bad(err, errlen, "%s.%s: %zu bytes, want 1..64",
						 rec->name, f->name, f->size);
			break;
		case IMAGE_F_STR:
			want = sizeof(char *);
			if (!f->max)
				return table_bad(err, errlen, "%s.%s: no length bound", rec->name,
						 f->name);
			break;
		case IMAGE_F_RECORD:
			if (!f->sub)
				return table_bad(err, errlen, "%s.%s: no record", rec->name,
						 f->name);
			want = f->sub->size;
			break;
		case IMAGE_F_ARRAY:
			want = sizeof(void *);
			if (!f->max_count)
				return table_bad(err, errlen, "%s.%s: no bound on its count",
						 rec->name, f->name);
			if (f->count_off + sizeof(uint32_t) > rec->size)
				return table_bad(err, errlen, "%s.%s: count outside the struct",
						 rec->name, f->name);
			if (f->sub ? f->elem_size != f->sub->size :
				     f->elem_size != scalar_size(f->elem_type) || !f->elem_size)
				return table_bad(err, errlen, "%s.%s: element size %zu is wrong",
						 rec->name, f->name, f->elem_size);
			break;
		case IMAGE_F_ENUM:
		case IMAGE_F_FLAGS:
			if (!f->names || !f->nr_names || (f->type == IMAGE_F_FLAGS && f->nr_names > 32))
				return table_bad(err, errlen, "%s.%s: bad list of names", rec->name,
						 f->name);
			break;
		default:
			if (f->type >= IMAGE_F_TYPE_COUNT)
				return table_bad(err, errlen, "%s.%s: unknown type", rec->name,
						 f->name);
			break;
		}
		if (f->size != want)
			return table_bad(err, errlen, "%s.%s: %zu bytes, its type needs %zu",
					 rec->name, f->name, f->size, want);
		if ((f->type == IMAGE_F_RECORD || (f->type == IMAGE_F_ARRAY && f->sub)) &&
		    check_record_table(f->sub, depth + 1, err, errlen))
			return -EINVAL;
	}
	return 0;
}

/* Records embedded in hand-written parts of the manifest rather than hung off struct image. */
static const struct image_record *const embedded_records[] = { &image_sock_attrs_record };

int image_records_check(char *err, size_t errlen)
{
	uint32_t i, j;

	for (i = 0; i < IMAGE_FD_KIND_COUNT; i++) {
		const struct image_fd_kind_record *r = &image_fd_kind_records[i];

		if (!r->rec)
			continue;
		if (r->off + r->rec->size > sizeof(struct image_fd))
			return table_bad(err, errlen, "fd kind %u: record outside struct image_fd",
					 i);
		if (check_record_table(r->rec, 0, err, errlen))
			return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(embedded_records); i++)
		if (check_record_table(embedded_records[i], 0, err, errlen))
			return -EINVAL;

	for (i = 0; i < image_nr_sections; i++) {
		const struct image_section *s = &image_sections[i];

		for (j = 0; j < i; j++)
			if (!strcmp(image_sections[j].key, s->key))
				return table_bad(err, errlen, "section %s: listed twice", s->key);
		if (s->count_off && !s->max)
			return table_bad(err, errlen, "section %s: no bound on its count", s->key);
		if (check_record_table(s->rec, 0, err, errlen))
			return -EINVAL;
	}
	for (i = 0; i < image_nr_thread_sections; i++) {
		const struct image_section *s = &image_thread_sections[i];

		if (s->count_off || s->off + s->rec->size > sizeof(struct image_thread))
			return table_bad(err, errlen, "thread section %s: not a single record "
					 "inside struct image_thread", s->key);
		for (j = 0; j < i; j++)
			if (!strcmp(image_thread_sections[j].key, s->key))
				return table_bad(err, errlen, "thread section %s: listed twice",
						 s->key);
		if (check_record_table(s->rec, 0, err, errlen))
			return -EINVAL;
	}
	if (check_record_table(&image_regs_record, 0, err, errlen))
		return -EINVAL;
	return check_record_table(&image_mm_record, 0, err, errlen);
}
