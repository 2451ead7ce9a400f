/*
 * verify.c - thaw restore --verify: is the restored tree what the snapshot
 * describes?
 *
 * Once restore.c has put back every restored thread's registers and masks,
 * and before it lets any of them go, the tree is collected again by the
 * dump's own code (dump_collect_fingerprints(): the collectors engine_dump()
 * runs, into images that keep only the length and crc of bulk bytes and
 * take no pages) and compared with the snapshot's images by image_compare(),
 * which names the first difference and holds the list of what may differ.
 * Whatever the dump learns to save is so verified from the day it is saved.
 *
 * The collectors only look: /proc, ptrace reads, fds inspected through
 * pidfd_getfd() copies, and a few system calls injected with every signal
 * blocked, whose registers and stack bytes are put back (inject.c).  The
 * program has not run a single instruction when it is compared; a
 * difference fails the restore, and restore.c kills the tree.
 */
#define LOG_TAG "verify"
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine-internal.h"

struct snapshot {
	struct image *const *imgs;
	uint32_t nr;
};

static const struct image *image_of(const struct snapshot *s, pid_t pid)
{
	uint32_t k;

	for (k = 0; k < s->nr; k++)
		if (s->imgs[k]->proc.pid == pid)
			return s->imgs[k];
	return NULL;
}

/*
 * The fds the snapshot recorded as inherited (thaw restore's stdio, thaw
 * run's control socket) are the caller's: collected as inherited again.
 */
static int *inherited_fds(pid_t pid, const void *arg, size_t *ret_nr)
{
	const struct image *img = image_of(arg, pid);
	int *fds = malloc(((img ? img->nr_fds : 0) + 1) * sizeof(*fds));
	uint32_t i;

	*ret_nr = 0;
	for (i = 0; fds && img && i < img->nr_fds; i++)
		if (img->fds[i].kind == IMAGE_FD_INHERIT)
			fds[(*ret_nr)++] = img->fds[i].fd;
	return fds;
}

/*
 * Was the snapshot dumped with --tcp-close?  Then a connection came back
 * reset, and reads back closed; else an established one came back whole.
 */
static bool dumped_tcp_close(const struct snapshot *s)
{
	uint32_t k, i;

	for (k = 0; k < s->nr; k++)
		for (i = 0; i < s->imgs[k]->nr_fds; i++)
			if (s->imgs[k]->fds[i].kind == IMAGE_FD_SOCKET &&
			    s->imgs[k]->fds[i].sock.state == IMAGE_SOCK_RESET)
				return true;
	return false;
}

/* The order the processes of a tree are listed in is no state: the restored list in the snapshot's. */
static void order_children_like(struct image *got, const struct image *snap)
{
	uint32_t k, j, next = 0;

	for (k = 0; k < snap->nr_children && next < got->nr_children; k++)
		for (j = next; j < got->nr_children; j++) {
			if (got->children[j].pid != snap->children[k].pid)
				continue;
			struct image_child moved = got->children[j];

			memmove(&got->children[next + 1], &got->children[next],
				(j - next) * sizeof(moved));
			got->children[next++] = moved;
			break;
		}
}

/* ---- pending signals ---- */

#define SIGINFO_SIZE 128
#define SI_KERNEL_ 0x80
#define SI_TIMER_ (-2)

/* What the queue must hold when the process is let go, and may not. */
static bool counts(const unsigned char *info, bool is_dumped)
{
	int32_t sig, code;

	memcpy(&sig, info, sizeof(sig));
	memcpy(&code, info + 8, sizeof(code));
	/* sent at the release, not before (signals.c) */
	if (is_dumped && sig == SIGSTOP)
		return false;
	/* a timer the restore armed may have fired since, or not yet */
	return code != SI_TIMER_ &&
	       !(code == SI_KERNEL_ && (sig == SIGALRM || sig == SIGVTALRM || sig == SIGPROF));
}

static size_t keep_counted(unsigned char *q, size_t len, bool is_dumped)
{
	size_t i, n = 0;

	for (i = 0; i + SIGINFO_SIZE <= len; i += SIGINFO_SIZE)
		if (counts(q + i, is_dumped))
			memmove(q + n++ * SIGINFO_SIZE, q + i, SIGINFO_SIZE);
	return n;
}

static void describe(char *buf, size_t len, const unsigned char *info)
{
	int32_t sig, code;

	memcpy(&sig, info, sizeof(sig));
	memcpy(&code, info + 8, sizeof(code));
	snprintf(buf, len, "signal %d (code %d)", sig, code);
}

/*
 * One queue: the restored thread's (or process's, shared) against the
 * snapshot's.  Equal as counts() has it, the fingerprint the collectors took
 * is set to the snapshot's, for image_compare().
 */
static int check_queue(const struct image *snap, const struct image_blob *dumped, pid_t tid,
		       bool shared, struct image_blob *got, const char *what, char *diff,
		       size_t difflen)
{
	unsigned char *d = NULL, *r = NULL;
	size_t rlen = 0, nd, nr, i;
	char ds[64], rs[64];
	int ret;

	ret = image_read_blob(snap, dumped, (void **)&d);
	if (ret == 0)
		ret = signals_peek(tid, shared, &r, &rlen);
	if (ret < 0)
		goto out;
	nd = keep_counted(d, dumped->len, true);
	nr = keep_counted(r, rlen, false);
	for (i = 0; i < nd && i < nr; i++)
		if (memcmp(d + i * SIGINFO_SIZE, r + i * SIGINFO_SIZE, SIGINFO_SIZE))
			break;
	if (i < nd || i < nr) {
		if (i < nd)
			describe(ds, sizeof(ds), d + i * SIGINFO_SIZE);
		if (i < nr)
			describe(rs, sizeof(rs), r + i * SIGINFO_SIZE);
		snprintf(diff, difflen, "%s[%zu]: %s restored, %s dumped", what, i,
			 i < nr ? rs : "none", i < nd ? ds : "none");
		ret = 1;
		goto out;
	}
	*got = *dumped;
out:
	free(d);
	free(r);
	return ret;
}

static int check_pending(const struct image *want, struct image *have, char *diff,
			 size_t difflen)
{
	char what[64];
	uint32_t i, j;
	int ret = check_queue(want, &want->proc.pending_shared, want->proc.pid, true,
			      &have->proc.pending_shared, "process.pending_shared", diff,
			      difflen);

	for (i = 0; ret == 0 && i < want->nr_threads; i++)
		for (j = 0; j < have->nr_threads; j++) {
			if (have->threads[j].tid != want->threads[i].tid)
				continue;
			snprintf(what, sizeof(what), "threads[tid %d].pending",
				 want->threads[i].tid);
			ret = check_queue(want, &want->threads[i].pending, want->threads[i].tid,
					  false, &have->threads[j].pending, what, diff, difflen);
			break;
		}
	return ret;
}

/*
 * Options a live connection's traffic moves, read from its state: the
 * quick-ack mode (TCP_QUICKACK) it leaves and enters, the window clamp
 * (TCP_WINDOW_CLAMP) the segments it takes in lower, as they move its windows.
 */
static bool moves_with_traffic(const struct image_sock_opt *o)
{
	return o->level == IPPROTO_TCP && (o->name == TCP_QUICKACK || o->name == TCP_WINDOW_CLAMP);
}

/*
 * The read-back's options with the snapshot's values of those (an entry may
 * have come or gone: only values unlike a fresh socket's are listed), the
 * others as read; where the others are not as many, image_compare() names
 * the difference.  0, or -ENOMEM.
 */
static int take_moving_opts(const struct image_sock_attrs *d, struct image_sock_attrs *r)
{
	struct image_sock_opt *opts;
	uint32_t i, k = 0, nd = 0, nr = 0;

	for (i = 0; i < d->nr_opts; i++)
		nd += !moves_with_traffic(&d->opts[i]);
	for (i = 0; i < r->nr_opts; i++)
		nr += !moves_with_traffic(&r->opts[i]);
	if (nd != nr)
		return 0;
	opts = calloc(d->nr_opts ? d->nr_opts : 1, sizeof(*opts));
	if (!opts)
		return -ENOMEM;
	for (i = 0; i < d->nr_opts; i++) {
		if (moves_with_traffic(&d->opts[i])) {
			opts[i] = d->opts[i];
			continue;
		}
		while (moves_with_traffic(&r->opts[k])) /* nr others: k stays in r->opts */
			k++;
		opts[i] = r->opts[k++];
	}
	free(r->opts);
	r->opts = opts;
	r->nr_opts = d->nr_opts;
	return 0;
}

/*
 * An established TCP connection runs on from the moment the restore takes it
 * out of repair mode (tcp_conns_resume, before the comparison): the peer's
 * acknowledgements shorten the send queue, bytes it sends lengthen the
 * receive queue.  What the restore promises is checked on the bytes
 * (image_tcp_ran_on); where it holds, the read-back is set to the
 * snapshot's, for image_compare().
 */
static int check_tcp_one(const struct image *want, const struct image_fd *wf,
			 const struct image *have, struct image_fd *hf, char *diff, size_t difflen)
{
	struct image_sock_tcp *r = &hf->sock.attrs.tcp;
	const struct image_sock_tcp *d = &wf->sock.attrs.tcp;
	uint8_t *ds = NULL, *dr = NULL, *rs = NULL, *rr = NULL;
	char why[256];
	int ret;

	ret = image_read_blob(want, &d->send_queue, (void **)&ds);
	if (ret == 0)
		ret = image_read_blob(want, &d->recv_queue, (void **)&dr);
	if (ret == 0)
		ret = image_read_blob(have, &r->send_queue, (void **)&rs);
	if (ret == 0)
		ret = image_read_blob(have, &r->recv_queue, (void **)&rr);
	if (ret == 0 && image_tcp_ran_on(d, ds, dr, r, rs, rr, why, sizeof(why))) {
		snprintf(diff, difflen, "fds[fd %d].socket.attrs.tcp.%s", wf->fd, why);
		ret = 1;
	}
	if (ret == 0 && (r->recv_queue.len != d->recv_queue.len || r->snd_seq != d->snd_seq))
		log_debug("pid %d fd %d: the TCP connection ran on since the restore, as it may: "
			  "%" PRIu64 " bytes arrived, %u acknowledged", want->proc.pid, wf->fd,
			  r->recv_queue.len - d->recv_queue.len, r->snd_seq - d->snd_seq);
	if (ret == 0)
		ret = take_moving_opts(&wf->sock.attrs, &hf->sock.attrs);
	if (ret == 0) {
		r->snd_seq = d->snd_seq;
		r->unsent = d->unsent;
		r->send_queue = d->send_queue;
		r->recv_queue = d->recv_queue;
	}
	free(ds);
	free(dr);
	free(rs);
	free(rr);
	return ret;
}

static int check_tcp(const struct image *want, struct image *have, char *diff, size_t difflen)
{
	uint32_t i, j;
	int ret = 0;

	for (i = 0; ret == 0 && i < want->nr_fds; i++) {
		const struct image_fd *wf = &want->fds[i];

		if (wf->kind != IMAGE_FD_SOCKET || wf->sock.state != IMAGE_SOCK_TCP)
			continue;
		for (j = 0; j < have->nr_fds; j++) {
			struct image_fd *hf = &have->fds[j];

			if (hf->fd != wf->fd)
				continue;
			if (hf->kind == IMAGE_FD_SOCKET && hf->sock.state == IMAGE_SOCK_TCP)
				ret = check_tcp_one(want, wf, have, hf, diff, difflen);
			break; /* anything else: image_compare() names it */
		}
	}
	return ret;
}

/* ---- the tree ---- */

/* Compares every process; the first difference is logged. */
static int compare_tree(const struct snapshot *snap, const struct frozen_tree *fz,
			struct image **got, const char *path)
{
	struct image_compare *cmp = image_compare_new();
	char diff[1024];
	uint32_t k;
	size_t i;
	int ret = 0;

	if (!cmp)
		return -ENOMEM;
	order_children_like(got[0], snap->imgs[0]);
	for (k = 0; ret == 0 && k < snap->nr; k++) {
		const struct image *want = snap->imgs[k];
		struct image *have = NULL;

		for (i = 0; i < fz->nr && !have; i++)
			if (got[i]->proc.pid == want->proc.pid)
				have = got[i];
		if (!have) {
			log_error("snapshot %s: the restore differs from the snapshot: pid %d was "
				  "not restored",
				  path, want->proc.pid);
			ret = -EIO;
			break;
		}
		ret = check_pending(want, have, diff, sizeof(diff));
		if (ret == 0)
			ret = check_tcp(want, have, diff, sizeof(diff));
		if (ret == 0)
			ret = image_compare(cmp, want, have, diff, sizeof(diff));
		if (ret == 1) {
			log_error("snapshot %s: the restore differs from the snapshot: pid %d (%.16s): "
				  "%s",
				  path, want->proc.pid, want->proc.comm, diff);
			ret = -EIO;
		}
	}
	for (i = 0; ret == 0 && i < fz->nr; i++)
		if (!image_of(snap, got[i]->proc.pid)) {
			log_error("snapshot %s: the restore differs from the snapshot: pid %d is "
				  "not in it",
				  path, got[i]->proc.pid);
			ret = -EIO;
		}
	image_compare_free(cmp);
	return ret;
}

int verify_restored(struct image *const *imgs, uint32_t nr, pid_t root, const char *path)
{
	const struct snapshot snap = { imgs, nr };
	struct frozen_tree fz;
	struct image **got = NULL;
	double t0 = now_ms(), t1;
	size_t i;
	int ret;

	ret = frozen_tree_adopt(root, &fz);
	if (ret == 0)
		ret = dump_collect_fingerprints(&fz, dumped_tcp_close(&snap), imgs[0]->root.container,
						inherited_fds, &snap, &got);
	if (ret < 0) {
		log_error("snapshot %s: the restored processes could not be read back to verify "
			  "them: %s",
			  path, strerror(-ret));
		frozen_tree_release(&fz, false);
		return ret;
	}
	t1 = now_ms();
	ret = compare_tree(&snap, &fz, got, path);
	if (ret == 0)
		log_debug("snapshot %s: %zu restored process%s verified in %.1f ms (read back "
			  "%.1f ms, compared %.1f ms)",
			  path, fz.nr, fz.nr == 1 ? "" : "es", now_ms() - t0, t1 - t0,
			  now_ms() - t1);
	for (i = 0; i < fz.nr; i++)
		image_free(got[i]);
	free(got);
	frozen_tree_release(&fz, false);
	return ret;
}
