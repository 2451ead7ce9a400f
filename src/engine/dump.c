/*
 * dump.c - engine_dump(): freeze, collect, write, then kill or let go.
 *
 * The dumped PID and all its descendants are one snapshot: the root's image
 * in DIR, every other live process's in DIR/proc-PID, zombies as entries of
 * the root's list (image.h, struct image_child).  Open file descriptions
 * shared between fds, in one process or across the tree, are found with
 * kcmp(2) and given one share id, so that restore makes them one again.
 *
 * The collection itself (collect_tree) also runs on a restored tree before
 * it is let go, into fingerprint images, for thaw restore --verify
 * (dump_collect_fingerprints, verify.c).
 *
 * Nothing before the publish may change what the program can observe:
 * injected system calls put every register back, fds are inspected through
 * duplicates, memory is only read.  So on any failure the snapshot
 * directory is removed, the threads are let go, and the programs run on as
 * if nothing had happened.
 */
#define LOG_TAG "dump"
#include <errno.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/lifeline.h"
#include "base/log.h"
#include "base/progress.h"
#include "engine-internal.h"
#include "engine.h"
#include "fds.h"
#include "gpu/gpu.h"
#include "proc.h"

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

struct tree_dump {
	struct frozen_tree fz;
	struct image **imgs; /* per fz.procs; [0] is the root's */
	pid_t *ns_pids; /* per fz.procs: the pid in the snapshot's namespace */
	struct fd_tree view; /* every pipe and socket end of the tree */
	bool tcp_close;
	bool container_root; /* engine_dump_opts.container_root */
	/* the fds of process i recorded as inherited, not dumped: malloc'd, or NULL on ENOMEM */
	int *(*external_fds)(const struct tree_dump *t, size_t i, size_t *ret_nr);
	const void *arg; /* for external_fds */
};

static pid_t ns_pid_of(pid_t pid, size_t *ret_depth)
{
	struct proc_status st;

	*ret_depth = 0;
	if (proc_read_status(pid, 0, &st) < 0 || !st.nspid_n)
		return pid;
	*ret_depth = st.nspid_n;
	return st.nspid[st.nspid_n - 1];
}

static int same_namespaces(pid_t root, pid_t pid, size_t root_depth, size_t depth)
{
	if (depth != root_depth || !proc_same_ns(root, pid, "ipc")) {
		log_error("pid %d (in the tree of %d) lives in a PID or IPC namespace of its own: "
			  "not supported",
			  pid, root);
		return -ENOTSUP;
	}
	return 0;
}

/* A pid of the tree as the snapshot names it; one outside stays as it is. */
static pid_t to_ns(const struct tree_dump *t, pid_t host)
{
	size_t i;

	for (i = 0; i < t->fz.nr; i++)
		if (t->fz.procs[i].pid == host)
			return t->ns_pids[i];
	return host;
}

static int *inherited_external(const struct engine_dump_opts *opts, pid_t root, pid_t pid,
			       size_t *ret_nr)
{
	int *fds = malloc((opts->nr_external_fds + 1) * sizeof(*fds));
	size_t i;

	*ret_nr = 0;
	for (i = 0; fds && i < opts->nr_external_fds; i++) {
		int fd = opts->external_fds[i];

		if (syscall(SYS_kcmp, root, pid, KCMP_FILE, fd, fd) == 0)
			fds[(*ret_nr)++] = fd;
	}
	return fds;
}

/*
 * engine_dump's external fds (thaw run's control socket): the root's, and
 * in the other processes the same fds where they inherited them; and the
 * driver's socket of a GPU process.
 */
static int *dump_external_fds(const struct tree_dump *t, size_t i, size_t *ret_nr)
{
	const struct engine_dump_opts *opts = t->arg;
	const struct image *img = t->imgs[i];
	int *inh, *ext;
	size_t nr;

	if (i == 0) {
		inh = malloc((opts->nr_external_fds + 1) * sizeof(*inh));
		if (inh && opts->nr_external_fds)
			memcpy(inh, opts->external_fds, opts->nr_external_fds * sizeof(*inh));
		nr = opts->nr_external_fds;
	} else {
		inh = inherited_external(opts, t->fz.procs[0].pid, t->fz.procs[i].pid, &nr);
	}
	if (!inh)
		return NULL;
	ext = gpu_external_fds(img, inh, nr, ret_nr);
	if (!ext)
		return inh; /* *ret_nr is nr */
	free(inh);
	return ext;
}

static int dump_process(struct tree_dump *t, size_t i)
{
	struct frozen *fz = &t->fz.procs[i];
	struct image *img = t->imgs[i];
	int *ext;
	size_t nr_ext = 0;
	int ret;

	host_fingerprint(&img->host);
	ret = creds_dump_check(fz);
	if (ret == 0)
		ret = process_dump(fz, img, t->container_root);
	if (ret == 0)
		ret = threads_dump(fz, img);
	if (ret == 0)
		ret = attrs_dump(fz, img, t->fz.procs[0].pid);
	if (ret == 0)
		ret = creds_dump(fz, img);
	if (ret == 0)
		ret = mem_dump(fz, img, i ? t->fz.ppids[i] : 0);
	if (ret < 0)
		return ret;
	ext = t->external_fds(t, i, &nr_ext);
	if (!ext)
		return -ENOMEM;
	ret = fds_dump_tree(fz->pid, img, ext, nr_ext, t->tcp_close, &t->view);
	free(ext);
	if (ret < 0)
		return ret;
	if (i) {
		struct proc_stat sp;

		ret = proc_read_stat(fz->pid, 0, &sp);
		if (ret < 0)
			return ret;
		img->proc.ppid = to_ns(t, t->fz.ppids[i]);
		img->proc.pgid = to_ns(t, sp.pgrp);
		img->proc.sid = to_ns(t, sp.session);
	}
	if (img->ctty.is_set)
		img->ctty.fg_pgid = to_ns(t, img->ctty.fg_pgid);
	return 0;
}

static int scan_fds(struct tree_dump *t)
{
	pid_t *pids = malloc(t->fz.nr * sizeof(*pids));
	size_t i;
	int ret;

	if (!pids)
		return -ENOMEM;
	for (i = 0; i < t->fz.nr; i++)
		pids[i] = t->fz.procs[i].pid;
	ret = fd_tree_scan(pids, t->fz.nr, &t->view);
	free(pids);
	return ret;
}

/*
 * Processes that share what clone() can share without CLONE_THREAD (an fd
 * table, cwd/root/umask, signal handlers, the address space) cannot be made
 * again so: clone3 shares only with the creator, and each restore helper
 * builds its own.  Refused, naming both processes, rather than restored
 * unshared.  (kcmp cannot tell a shared SysV undo list or I/O context from
 * two processes that have none: both compare equal.)
 */
static int kcmp_type;

/* Orders processes by the kernel object kcmp_type names (kcmp: 1 less, 2 greater). */
static int cmp_kcmp(const void *a, const void *b)
{
	long r = syscall(SYS_kcmp, *(const pid_t *)a, *(const pid_t *)b, kcmp_type, 0, 0);

	return r == 1 ? -1 : r == 2 ? 1 : 0;
}

static int refuse_shared_tasks(const struct frozen_tree *fz)
{
	static const struct {
		int type;
		const char *what;
	} kinds[] = {
		{ KCMP_FILES, "its fd table (clone CLONE_FILES)" },
		{ KCMP_FS, "its cwd, root and umask (clone CLONE_FS)" },
		{ KCMP_SIGHAND, "its signal handlers (clone CLONE_SIGHAND)" },
		{ KCMP_VM, "its address space (clone CLONE_VM)" },
	};
	pid_t *pids;
	size_t i, k;
	int ret = 0;

	if (fz->nr < 2)
		return 0;
	pids = malloc(fz->nr * sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	/* sorted by each object, processes sharing it are neighbours: n log n kcmp calls */
	for (k = 0; !ret && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (i = 0; i < fz->nr; i++)
			pids[i] = fz->procs[i].pid;
		kcmp_type = kinds[k].type;
		qsort(pids, fz->nr, sizeof(*pids), cmp_kcmp);
		for (i = 1; !ret && i < fz->nr; i++) {
			long same = syscall(SYS_kcmp, pids[i - 1], pids[i], kinds[k].type, 0, 0);

			if (same < 0)
				ret = log_errno("pid %d: comparing with pid %d (kcmp)", pids[i],
						pids[i - 1]);
			else if (same == 0) {
				log_error("pid %d shares %s with pid %d: not supported", pids[i],
					  kinds[k].what, pids[i - 1]);
				ret = -ENOTSUP;
			}
		}
	}
	free(pids);
	return ret;
}

/* ---- shared open file descriptions ---- */

/* An fd of host_pid, or a file in flight (f->fd < 0): thaw's own copy, fd of host_pid thaw. */
struct desc {
	pid_t host_pid;
	int fd;
	struct image_fd *f;
	pid_t owner; /* the process whose image holds f */
};

static int cmp_desc(const void *a, const void *b)
{
	const struct desc *x = a, *y = b;
	long r = syscall(SYS_kcmp, x->host_pid, y->host_pid, KCMP_FILE, x->fd, y->fd);

	/* kcmp orders files by (obfuscated) address: 0 equal, 1 less, 2 greater */
	if (r == 1)
		return -1;
	if (r == 2)
		return 1;
	if (r == 0)
		return 0;
	return x->host_pid != y->host_pid ? (x->host_pid < y->host_pid ? -1 : 1)
					  : (x->fd < y->fd ? -1 : 1);
}

static int assign_shares(struct tree_dump *t)
{
	struct desc *d;
	size_t n = 0, i, j;
	uint32_t next = 1, k, m;
	long probe;

	for (i = 0; i < t->fz.nr; i++)
		n += t->imgs[i]->nr_fds;
	if (n < 2)
		return 0;
	probe = syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0);
	if (probe < 0 && errno == ENOSYS) {
		/* they would come back as separate descriptions (offsets, flags, locks apart) */
		log_error("kcmp(2) is not available (a kernel without CONFIG_KCMP): thaw cannot "
			  "tell fds that share an open file description (dup, fork) from separate "
			  "opens");
		return -ENOSYS;
	}
	d = malloc(n * sizeof(*d));
	if (!d)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < t->fz.nr; i++)
		for (k = 0; k < t->imgs[i]->nr_fds; k++) {
			struct image_fd *f = &t->imgs[i]->fds[k];
			pid_t pid = t->fz.procs[i].pid;

			if (f->fd < 0 && (uint32_t)(-1 - f->fd) < t->imgs[i]->nr_flight_fds)
				d[n++] = (struct desc){ getpid(), t->imgs[i]->flight_fds[-1 - f->fd], f,
							pid };
			else if (f->kind != IMAGE_FD_INHERIT && f->fd >= 0)
				d[n++] = (struct desc){ pid, f->fd, f, pid };
		}
	qsort(d, n, sizeof(*d), cmp_desc);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && cmp_desc(&d[i], &d[j]) == 0; j++)
			;
		if (j - i < 2)
			continue;
		/* a file in flight is made at restore by its own process, for itself */
		for (k = (uint32_t)i; k < j && d[k].f->fd >= 0; k++)
			;
		for (m = (uint32_t)i; k < j && m < j && d[m].owner == d[k].owner; m++)
			;
		if (k < j && m < j) {
			log_error("pid %d: a file in flight (SCM_RIGHTS) in its socket queues is open "
				  "in pid %d too: not supported", d[k].owner, d[m].owner);
			free(d);
			return -ENOTSUP;
		}
		for (k = (uint32_t)i; k < j; k++) {
			d[k].f->share = next;
			/* its watches name fds of one process: it cannot be rebuilt once for two */
			if (d[k].f->kind == IMAGE_FD_EPOLL && d[k].host_pid != d[i].host_pid) {
				log_error("pid %d fd %d: an epoll set shared with pid %d (fd %d) is not "
					  "supported",
					  d[k].host_pid, d[k].f->fd, d[i].host_pid, d[i].f->fd);
				free(d);
				return -ENOTSUP;
			}
		}
		next++;
	}
	free(d);
	return 0;
}

/* ---- the tree ---- */

/* Every process's pid in the snapshot's namespace; the tree must share one PID and IPC namespace. */
static int find_ns_pids(struct tree_dump *t)
{
	size_t i, root_depth = 0;
	int ret;

	t->imgs = calloc(t->fz.nr, sizeof(*t->imgs));
	t->ns_pids = calloc(t->fz.nr, sizeof(*t->ns_pids));
	if (!t->imgs || !t->ns_pids)
		return -ENOMEM;
	for (i = 0; i < t->fz.nr; i++) {
		size_t depth;

		t->ns_pids[i] = ns_pid_of(t->fz.procs[i].pid, &depth);
		if (i == 0)
			root_depth = depth;
		ret = i ? same_namespaces(t->fz.procs[0].pid, t->fz.procs[i].pid, root_depth,
					  depth)
			: 0;
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int create_images(struct tree_dump *t, struct image *root)
{
	size_t i;
	int ret = find_ns_pids(t);

	if (ret < 0)
		return ret;
	t->imgs[0] = root;
	for (i = 1; i < t->fz.nr; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/" IMAGE_CHILD_DIR_FMT, root->tmp_path,
			 t->ns_pids[i]);
		ret = image_create(path, &t->imgs[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int list_children(struct tree_dump *t, struct image *root)
{
	size_t i;

	for (i = 1; i < t->fz.nr; i++) {
		struct image_child *c = image_new_child(root);
		const struct image_proc *p = &t->imgs[i]->proc;

		if (!c)
			return -ENOMEM;
		*c = (struct image_child){ p->pid, p->ppid, p->pgid, p->sid, p->host_pid, false, 0 };
	}
	for (i = 0; i < t->fz.nr_zombies; i++) {
		const struct frozen_zombie *z = &t->fz.zombies[i];
		struct image_child *c = image_new_child(root);
		struct proc_stat sp;
		size_t depth;
		pid_t self = ns_pid_of(z->pid, &depth);

		if (!c)
			return -ENOMEM;
		if (proc_read_stat(z->pid, 0, &sp) < 0)
			sp.pgrp = sp.session = 0;
		*c = (struct image_child){ self, to_ns(t, z->ppid), to_ns(t, sp.pgrp),
					   to_ns(t, sp.session), z->pid, true, z->exit_status };
	}
	return 0;
}

static bool in_snapshot(const struct image *root, pid_t pid)
{
	uint32_t i;

	for (i = 0; i < root->nr_children; i++)
		if (root->children[i].pid == pid)
			return true;
	return root->proc.pid == pid;
}

static pid_t pgid_of(const struct image *root, pid_t pid)
{
	uint32_t i;

	for (i = 0; i < root->nr_children; i++)
		if (root->children[i].pid == pid)
			return root->children[i].pgid;
	return root->proc.pgid;
}

/*
 * Groups and sessions a restore cannot give back.  It makes a group led
 * outside the snapshot again (restore.c, join_outside_group), except the
 * root's: that one becomes thaw restore's own, which a process inside the
 * restore's namespace cannot name, so a process of the snapshot in it must
 * inherit it from a parent in it.  A session led outside is thaw restore's
 * too, and only the root's can be.
 */
static bool has_group_member(const struct image *root, pid_t pgid)
{
	uint32_t i;

	for (i = 0; i < root->nr_children; i++)
		if (root->children[i].pgid == pgid)
			return true;
	return root->proc.pgid == pgid;
}

/*
 * A session's foreground group is given back by a process of the snapshot
 * in it (restore.c): one no process of the snapshot is in (its processes are
 * outside, or it has none left) cannot be.
 */
static int refuse_lost_foreground(const struct tree_dump *t)
{
	size_t i;

	for (i = 0; i < t->fz.nr; i++) {
		const struct image *img = t->imgs[i];

		if (img->ctty.is_set && !has_group_member(t->imgs[0], img->ctty.fg_pgid)) {
			log_error("pid %d: the foreground process group of its controlling "
				  "terminal /dev/pts/%u is %d, which no process of the snapshot is "
				  "in: not supported", img->proc.pid, img->ctty.index,
				  img->ctty.fg_pgid);
			return -ENOTSUP;
		}
	}
	return 0;
}

static int refuse_lost_groups(const struct image *root)
{
	const struct image_proc *r = &root->proc;
	uint32_t i;

	for (i = 0; i < root->nr_children; i++) {
		const struct image_child *c = &root->children[i];

		if (c->pgid == r->pgid && !in_snapshot(root, r->pgid) &&
		    pgid_of(root, c->ppid) != r->pgid) {
			log_error("pid %d (host pid %d): it is in the process group %d of the root, "
				  "led outside the snapshot, and its parent %d is not: a restore "
				  "puts the root in thaw restore's group, which it cannot join",
				  c->pid, c->host_pid, c->pgid, c->ppid);
			return -ENOTSUP;
		}
		if (c->sid != r->sid && !in_snapshot(root, c->sid)) {
			log_error("pid %d (host pid %d): it is in session %d, led outside the "
				  "snapshot and not the root's %d: a restore cannot make it again",
				  c->pid, c->host_pid, c->sid, r->sid);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* What a dump and a verification (dump_collect_fingerprints) both collect. */
static int collect_tree(struct tree_dump *t)
{
	size_t i;
	int ret = scan_fds(t);

	/*
	 * Children before their parents: reading a page with process_vm_readv
	 * pins it, and pinning a page shared copy-on-write gives the process
	 * its own copy (the kernel's unshare).  mem.c reads pages another
	 * process maps too through /proc/PID/mem, which does not pin; in this
	 * order a child is compared with its parent before the parent is read
	 * all the same.
	 */
	for (i = t->fz.nr; ret == 0 && i-- > 0;) {
		ret = lifeline_check();
		if (ret == 0)
			ret = dump_process(t, i);
	}
	if (ret == 0)
		ret = assign_shares(t);
	for (i = 0; i < t->fz.nr && t->imgs[i]; i++)
		image_close_flight(t->imgs[i]);
	if (ret == 0)
		ret = list_children(t, t->imgs[0]);
	return ret;
}

/* ---- the same collection on a tree restore.c holds stopped (verify.c) ---- */

struct fingerprint_source {
	int *(*external)(pid_t pid, const void *arg, size_t *ret_nr);
	const void *arg;
};

static int *fingerprint_external_fds(const struct tree_dump *t, size_t i, size_t *ret_nr)
{
	const struct fingerprint_source *src = t->arg;

	return src->external(t->ns_pids[i], src->arg, ret_nr);
}

int dump_collect_fingerprints(const struct frozen_tree *fz, bool tcp_close, bool container_root,
			      int *(*external)(pid_t pid, const void *arg, size_t *ret_nr),
			      const void *arg, struct image ***ret_imgs)
{
	struct fingerprint_source src = { external, arg };
	struct tree_dump t = { .fz = *fz, .tcp_close = tcp_close, .container_root = container_root,
			       .external_fds = fingerprint_external_fds, .arg = &src };
	size_t i;
	int ret = find_ns_pids(&t);

	for (i = 0; ret == 0 && i < t.fz.nr; i++) {
		t.imgs[i] = image_alloc_fingerprint();
		if (!t.imgs[i])
			ret = -ENOMEM;
	}
	if (ret == 0)
		ret = collect_tree(&t);
	/* the program runs on: the connections read in repair mode leave it */
	fds_dump_tcp_finish(true);
	for (i = 0; ret < 0 && t.imgs && i < t.fz.nr; i++)
		image_free(t.imgs[i]);
	if (ret == 0) {
		*ret_imgs = t.imgs;
		t.imgs = NULL;
	}
	free(t.imgs);
	free(t.ns_pids);
	fd_tree_free(&t.view);
	return ret;
}

/* ---- GPU processes of the tree ---- */

struct gpu_set {
	size_t nr;
	struct gpu_proc {
		pid_t pid;
		struct image *state; /* only its gpu part and has_gpu are used */
		const struct image_gpu *gpu; /* state's, or the root image's */
	} *procs;
};

/* pid and its descendants as they are now (not frozen: the GPU goes first). */
static int list_descendants(pid_t pid, pid_t **pids, size_t *nr, int depth)
{
	pid_t *kids = NULL, *grown;
	size_t nr_kids = 0, i;
	int ret;

	grown = realloc(*pids, (*nr + 1) * sizeof(**pids));
	if (!grown)
		return -ENOMEM;
	*pids = grown;
	(*pids)[(*nr)++] = pid;
	if (depth == 0 || *nr >= FREEZE_MAX_PROCS || proc_list_children(pid, &kids, &nr_kids) < 0)
		return 0;
	for (i = 0, ret = 0; i < nr_kids && ret == 0; i++)
		ret = list_descendants(kids[i], pids, nr, depth - 1);
	free(kids);
	return ret;
}

static void gpu_set_resume(struct gpu_set *g, bool resume)
{
	size_t i;

	for (i = 0; i < g->nr; i++) {
		if (resume)
			gpu_resume(g->procs[i].pid, g->procs[i].gpu);
		image_free(g->procs[i].state);
	}
	free(g->procs);
	memset(g, 0, sizeof(*g));
}

/*
 * Before anything is frozen, every process of the tree that uses a GPU is
 * locked and checkpointed (the driver works in threads a freeze would stop);
 * any failure puts those done back on their GPUs.
 */
static int gpu_checkpoint_tree(const struct engine_dump_opts *opts, struct image *root,
			       struct gpu_set *g)
{
	pid_t *pids = NULL;
	size_t nr = 0, i;
	int ret;

	memset(g, 0, sizeof(*g));
	ret = list_descendants(opts->pid, &pids, &nr, 64);
	for (i = 0; ret == 0 && i < nr; i++) {
		struct image *state = i ? image_alloc_empty() : root;
		struct gpu_stats gst;
		struct gpu_proc *grown;

		if (!state) {
			ret = -ENOMEM;
			break;
		}
		ret = gpu_checkpoint(pids[i], opts->gpu_lock_timeout_ms, state, &gst);
		if (ret == 0 && state->has_gpu)
			fault_point("gpu-checkpointed");
		if (ret < 0 || !state->has_gpu) {
			if (i)
				image_free(state);
			continue;
		}
		grown = realloc(g->procs, (g->nr + 1) * sizeof(*grown));
		if (!grown) {
			gpu_resume(pids[i], &state->gpu);
			if (i)
				image_free(state);
			ret = -ENOMEM;
			break;
		}
		g->procs = grown;
		g->procs[g->nr++] = (struct gpu_proc){ pids[i], i ? state : NULL, &state->gpu };
		/* a checkpoint takes seconds: a command gone meanwhile puts them all back */
		ret = lifeline_check();
	}
	free(pids);
	if (ret < 0)
		gpu_set_resume(g, true);
	return ret;
}

/* The device state of the tree's other GPU processes goes into their images. */
static int place_gpu_state(struct tree_dump *t, const struct gpu_set *g)
{
	size_t i, k;

	for (i = 1; i < t->fz.nr; i++) {
		bool done = false;

		for (k = 0; k < g->nr; k++)
			if (g->procs[k].state && g->procs[k].pid == t->fz.procs[i].pid) {
				t->imgs[i]->gpu = g->procs[k].state->gpu;
				t->imgs[i]->has_gpu = true;
				done = true;
			}
		/* one that touched CUDA after the checkpoints, or that holds a device file */
		if (!done && gpu_process_uses_gpu(t->fz.procs[i].pid) > 0) {
			log_error("pid %d (child of %d) still holds a GPU device: it started using "
				  "CUDA during the dump, or its device files cannot be checkpointed",
				  t->fz.procs[i].pid, t->fz.ppids[i]);
			return -EBUSY;
		}
	}
	return 0;
}

static void tree_dump_free(struct tree_dump *t, bool abort_images)
{
	size_t i;

	for (i = 1; t->imgs && i < t->fz.nr; i++) {
		if (abort_images)
			image_abort(t->imgs[i]);
		else
			image_free(t->imgs[i]);
	}
	free(t->imgs);
	free(t->ns_pids);
	fd_tree_free(&t->view);
	t->imgs = NULL;
}

int engine_dump(const struct engine_dump_opts *opts, struct engine_dump_stats *stats)
{
	struct engine_dump_stats st = { 0 };
	struct tree_dump t = { 0 };
	struct image *img = NULL;
	struct gpu_set gpus;
	double t0 = now_ms(), t1, t2;
	size_t i;
	uint32_t v;
	int ret;

	/* said in the user's terms before anything else looks and fails */
	if (kill(opts->pid, 0) < 0 && errno == ESRCH) {
		log_error("no such process %d", opts->pid);
		return -ESRCH;
	}
	ret = image_create(opts->dir, &img);
	if (ret < 0)
		return ret;
	/* GPU first: the driver's checkpoint runs in threads a freeze would stop */
	ret = gpu_checkpoint_tree(opts, img, &gpus);
	if (ret < 0) {
		image_abort(img);
		return ret;
	}
	ret = lifeline_check();
	if (ret == 0)
		ret = freeze_tree(opts->pid, &t.fz);
	if (ret < 0) {
		gpu_set_resume(&gpus, true);
		image_abort(img);
		return ret;
	}
	t1 = now_ms();
	st.freeze_ms = t1 - t0;
	t.tcp_close = opts->tcp_close;
	t.container_root = opts->container_root;
	t.external_fds = dump_external_fds;
	t.arg = opts;
	ret = refuse_shared_tasks(&t.fz);
	if (ret == 0)
		ret = create_images(&t, img);
	if (ret == 0)
		ret = place_gpu_state(&t, &gpus);
	progress_begin("dump", 0); /* mem_dump adds each process's pages */
	if (ret == 0)
		ret = collect_tree(&t);
	progress_end();
	if (ret == 0)
		ret = refuse_lost_groups(img);
	if (ret == 0)
		ret = refuse_lost_foreground(&t);
	t2 = now_ms();
	st.collect_ms = t2 - t1;
	/* the other processes first: the root's rename publishes the whole tree */
	for (i = 1; ret == 0 && i < t.fz.nr; i++)
		ret = image_publish(t.imgs[i]);
	if (ret == 0)
		ret = lifeline_check();
	if (ret == 0)
		ret = image_publish(img);
	if (ret == 0)
		fault_point("dump-published");
	if (ret == 0 && opts->on_published)
		ret = opts->on_published(opts->on_published_arg);
	if (ret < 0) {
		log_error("pid %d: dump failed; the process%s run%s on", opts->pid,
			  t.fz.nr > 1 ? "es" : "", t.fz.nr > 1 ? "" : "s");
		tree_dump_free(&t, true);
		fds_dump_tcp_finish(true);
		frozen_tree_release(&t.fz, false);
		gpu_set_resume(&gpus, true);
		image_abort(img);
		return ret;
	}
	st.write_ms = now_ms() - t2;
	for (i = 0; i < t.fz.nr; i++) {
		const struct image *pi = t.imgs[i];

		for (v = 0; v < pi->nr_vmas; v++) {
			st.pages_dumped += pi->vmas[v].pages_dumped;
			st.pages_zero += pi->vmas[v].pages_zero;
		}
		st.bytes_written += pi->pages_bytes + pi->data_bytes;
	}
	tree_dump_free(&t, false);
	fds_dump_tcp_finish(opts->leave_running);
	frozen_tree_release(&t.fz, !opts->leave_running);
	gpu_set_resume(&gpus, opts->leave_running);
	image_free(img);
	st.total_ms = now_ms() - t0;
	log_info("pid %d: snapshot written to %s in %.1f ms (freeze %.1f, collect %.1f, write "
		 "%.1f; %llu pages, %llu zero pages skipped)",
		 opts->pid, opts->dir, st.total_ms, st.freeze_ms, st.collect_ms, st.write_ms,
		 st.pages_dumped, st.pages_zero);
	if (stats)
		*stats = st;
	return 0;
}
