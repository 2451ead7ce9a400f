/*
 * fd-pty.c - pseudo-terminals: masters (/dev/ptmx) and slaves (/dev/pts/N).
 *
 * Dump looks at the pidfd_getfd() copy only through calls that change
 * nothing: TIOCGPTN gives a master's index (a slave's is in its rdev),
 * tcgetattr, TIOCGWINSZ, TIOCGPTLCK, TIOCGPKT, TIOCGEXCL its state.  Bytes
 * queued on an end (FIONREAD, TIOCOUTQ) are refused: reading them would take
 * them from the program.  The slave of a master is never opened at dump: if
 * it was the last one, closing it would hang up the master.
 *
 * Restore makes a pty once per index for the process: /dev/ptmx is opened
 * until TIOCGPTN gives the dumped index (the kernel hands out the lowest free
 * one, so the extras opened on the way are held, then closed), because the
 * program may have kept ptsname().  An index in use on this host fails the
 * restore.  Slaves are opened from the master with TIOCGPTPEER.
 *
 * The master and slaves may be in several processes of a tree: the root's
 * helper makes the master once before it forks (fds.c prepare_ptys), and
 * each process opens its slaves from it.  A slave on fds 0-2 whose master
 * no process of the snapshot holds is thaw restore's own terminal
 * (IMAGE_FD_INHERIT, as any terminal there); one whose master is in the
 * snapshot is not, its terminal is part of the snapshot.  A session
 * leader whose controlling terminal is a pty of the snapshot records it,
 * and its helper acquires it before it forks (members inherit it), which
 * makes the leader's group the foreground; a process of the foreground group
 * gives it back (pty_set_foreground) once it is in that group.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fds.h"
#include "engine/proc.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* Unix98 slaves: majors 136-143 (UNIX98_PTY_SLAVE_MAJOR .. + UNIX98_PTY_MAJOR_COUNT). */
#define PTS_MAJOR_FIRST 136u
#define PTS_MAJOR_LAST 143u
/* Extra masters restore may hold while looking for an index. */
#define PTY_MAX_EXTRA 4096u

bool pty_is_master(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 5 && minor(st->st_rdev) == 2;
}

bool pty_is_slave(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) >= PTS_MAJOR_FIRST &&
	       major(st->st_rdev) <= PTS_MAJOR_LAST;
}

int pty_probe_index(const struct fd_probe *p)
{
	int index;

	if (pty_is_slave(&p->st))
		return (int)((major(p->st.st_rdev) - PTS_MAJOR_FIRST) * 256 + minor(p->st.st_rdev));
	if (!pty_is_master(&p->st) || ioctl(p->local, TIOCGPTN, &index) || index < 0)
		return -1;
	return index;
}

/* Another fd of this process holds the other end (master: a slave) of pty index. */
static bool process_has(const struct fd_dump_ctx *ctx, int index, bool want_master)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_probes; i++) {
		const struct fd_probe *q = &ctx->probes[i];

		if ((want_master ? pty_is_master(&q->st) : pty_is_slave(&q->st)) &&
		    pty_probe_index(q) == index)
			return true;
	}
	return false;
}

/* ... or another process of the tree does. */
static bool process_has_peer(const struct fd_dump_ctx *ctx, int index, bool want_master)
{
	return process_has(ctx, index, want_master) ||
	       fd_tree_has_pty(ctx, (uint32_t)index, want_master);
}

bool pty_slave_is_inherited(const struct fd_dump_ctx *ctx, const struct fd_probe *p)
{
	int index = pty_probe_index(p);

	return p->fd <= 2 && !process_has_peer(ctx, index, true) &&
	       !fd_tree_has_pty(ctx, (uint32_t)index, true);
}

static bool in_tree(const struct fd_dump_ctx *ctx, pid_t pid)
{
	size_t i;

	for (i = 0; ctx->tree && i < ctx->tree->nr_pids; i++)
		if (ctx->tree->pids[i] == pid)
			return true;
	return false;
}

int pty_dump_ctty(const struct fd_dump_ctx *ctx)
{
	struct proc_stat st;
	unsigned int ma, mi, index;
	int ret = proc_read_stat(ctx->pid, ctx->pid, &st);

	if (ret) {
		log_error("pid %d: reading its controlling terminal: %s", ctx->pid, strerror(-ret));
		return ret;
	}
	ma = ((unsigned int)st.tty_nr >> 8) & 0xfff;
	mi = ((unsigned int)st.tty_nr & 0xff) | (((unsigned int)st.tty_nr >> 12) & 0xfff00);
	if (ma < PTS_MAJOR_FIRST || ma > PTS_MAJOR_LAST)
		return 0;
	index = (ma - PTS_MAJOR_FIRST) * 256 + mi;
	if (!process_has(ctx, (int)index, true) && !fd_tree_has_pty(ctx, index, true))
		return 0; /* thaw's own terminal, or one outside the snapshot: not kept */
	if (st.session != ctx->pid) {
		/* a member gets it from its leader, which acquires it before it forks */
		if (in_tree(ctx, st.session))
			return 0;
		log_error("pid %d: its controlling terminal /dev/pts/%u is a pty of the snapshot, "
			  "but its session leader %d is not in the snapshot: not supported",
			  ctx->pid, index, st.session);
		return -ENOTSUP;
	}
	if (st.tpgid <= 0) {
		log_error("pid %d: its controlling terminal /dev/pts/%u has no foreground process "
			  "group: not supported", ctx->pid, index);
		return -ENOTSUP;
	}
	/* in the host's numbering: dump.c names it as the snapshot does, and checks it */
	ctx->img->ctty.is_set = true;
	ctx->img->ctty.index = index;
	ctx->img->ctty.fg_pgid = st.tpgid;
	return 0;
}

int pty_acquire_ctty(const struct fd_shared *shared, const struct image_ctty *c, pid_t pid)
{
	int master, slave, ret = 0;

	if (!c->is_set)
		return 0;
	master = fd_shared_find(shared, FD_SHARED_PTY, c->index);
	if (master < 0) {
		log_error("pid %d: its controlling terminal /dev/pts/%u: no process of the "
			  "snapshot holds its master", pid, c->index);
		return -EINVAL;
	}
	/* without O_NOCTTY: a session leader's first terminal; TIOCSCTTY says it outright */
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_CLOEXEC);
	if (slave < 0)
		return log_errno("pid %d: opening /dev/pts/%u", pid, c->index);
	if (ioctl(slave, TIOCSCTTY, 0))
		ret = log_errno("pid %d: making /dev/pts/%u its controlling terminal", pid,
				c->index);
	close(slave);
	return ret;
}

/*
 * Gives the foreground of the controlling terminal to this process's group,
 * when the snapshot had that group there: from a process of the group, once
 * it is in it (the group exists), in the session (its terminal is the
 * leader's, inherited).  Every signal is blocked in a helper, so tcsetpgrp
 * from a background group is not stopped by SIGTTOU.
 */
int pty_set_foreground(const struct image_ctty *c, pid_t pid)
{
	int tty, ret = 0;

	if (!c || !c->is_set || c->fg_pgid != getpgrp())
		return 0;
	tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0)
		return log_errno("pid %d: opening its controlling terminal /dev/pts/%u", pid,
				 c->index);
	if (tcsetpgrp(tty, c->fg_pgid))
		ret = log_errno("pid %d: giving /dev/pts/%u's foreground to its group %d", pid,
				c->index, c->fg_pgid);
	close(tty);
	return ret;
}

int pty_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct image_pty *t = &out->pty;
	bool is_master = pty_is_master(&p->st);
	int index = pty_probe_index(p), queued = 0, outq = 0, val;
	struct termios tio;
	struct winsize ws;
	uint32_t i;

	if (index < 0 || (uint32_t)index > IMAGE_PTY_MAX_INDEX)
		return fd_dump_error(ctx, p, -ENOTSUP, "no index of a pseudo-terminal (TIOCGPTN)");
	if (is_master ? strcmp(p->link, "/dev/ptmx") && strcmp(p->link, "/dev/pts/ptmx") :
			strncmp(p->link, "/dev/pts/", 9))
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "a pseudo-terminal of another devpts instance than /dev/pts: "
				     "not supported");
	memset(t, 0, sizeof(*t));
	t->is_master = is_master;
	t->index = (uint32_t)index;
	if (is_master) {
		if (ioctl(p->local, TIOCGPTLCK, &val))
			return fd_dump_error(ctx, p, -errno, "TIOCGPTLCK: %s", strerror(errno));
		t->is_locked = val != 0;
		if (ioctl(p->local, TIOCGPKT, &val))
			return fd_dump_error(ctx, p, -errno, "TIOCGPKT: %s", strerror(errno));
		t->is_packet = val != 0;
		if (t->is_locked && process_has_peer(ctx, index, false))
			return fd_dump_error(ctx, p, -ENOTSUP,
					     "pty master /dev/pts/%d was locked (TIOCSPTLCK) after its "
					     "slave was opened: not supported", index);
		if (!t->is_locked && !process_has_peer(ctx, index, false))
			return fd_dump_error(ctx, p, -ENOTSUP,
					     "pty master of /dev/pts/%d whose slave no process of the "
					     "snapshot holds: not supported", index);
	} else if (!process_has_peer(ctx, index, true)) {
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "pty slave /dev/pts/%d whose master no process of the "
				     "snapshot holds: only fds 0-2 can be thaw restore's own "
				     "terminal", index);
	}
	if (ioctl(p->local, FIONREAD, &queued) || ioctl(p->local, TIOCOUTQ, &outq))
		return fd_dump_error(ctx, p, -errno, "FIONREAD/TIOCOUTQ: %s", strerror(errno));
	if (queued || outq)
		return fd_dump_error(ctx, p, -ENOTSUP,
				     "%d bytes are queued to be read and %d to be written on this "
				     "pty %s: reading them would take them from the program",
				     queued, outq, is_master ? "master" : "slave");
	if (ioctl(p->local, TIOCGEXCL, &val))
		return fd_dump_error(ctx, p, -errno, "TIOCGEXCL: %s", strerror(errno));
	t->is_exclusive = val != 0;
	if (tcgetattr(p->local, &tio))
		return fd_dump_error(ctx, p, -errno, "tcgetattr: %s", strerror(errno));
	if (ioctl(p->local, TIOCGWINSZ, &ws))
		return fd_dump_error(ctx, p, -errno, "TIOCGWINSZ: %s", strerror(errno));
	t->iflag = tio.c_iflag;
	t->oflag = tio.c_oflag;
	t->cflag = tio.c_cflag;
	t->lflag = tio.c_lflag;
	t->line = tio.c_line;
	t->ispeed = cfgetispeed(&tio);
	t->ospeed = cfgetospeed(&tio);
	t->rows = ws.ws_row;
	t->cols = ws.ws_col;
	t->xpixel = ws.ws_xpixel;
	t->ypixel = ws.ws_ypixel;
	/* last: nothing fails after the allocation, which the image now owns */
	t->cc = malloc(NCCS * sizeof(*t->cc));
	if (!t->cc)
		return fd_dump_error(ctx, p, -ENOMEM, "out of memory");
	t->nr_cc = NCCS;
	for (i = 0; i < NCCS; i++)
		t->cc[i] = tio.c_cc[i];
	out->kind = IMAGE_FD_PTY;
	out->pos = 0;
	return 0;
}

/* ------------------------------------------------------------- restore */

/* Opens /dev/ptmx until the kernel gives index; returns the master or -errno. */
static int make_master(const struct image_fd *f, uint32_t index)
{
	int extra[64], *more = NULL, fd = -1, got, ret;
	uint32_t nr = 0, i;

	for (;;) {
		/* O_CLOEXEC would stay in f_flags, which fdinfo shows: set on the fd instead */
		fd = open("/dev/ptmx", O_RDWR | O_NOCTTY);
		if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC)) {
			ret = fd_restore_error(f, -errno, "opening /dev/ptmx: %s", strerror(errno));
			break;
		}
		if (ioctl(fd, TIOCGPTN, &got) || got < 0) {
			ret = fd_restore_error(f, -errno, "TIOCGPTN: %s", strerror(errno));
			break;
		}
		if ((uint32_t)got == index) {
			ret = fd;
			fd = -1;
			break;
		}
		if ((uint32_t)got > index || nr >= PTY_MAX_EXTRA) {
			ret = fd_restore_error(f, -EBUSY,
					       "/dev/pts/%u is in use on this host (the next free "
					       "pty is /dev/pts/%d): the program may have kept its "
					       "name, so no other is used", index, got);
			break;
		}
		if (nr < 64) {
			extra[nr++] = fd;
		} else {
			int *m = realloc(more, (nr - 63) * sizeof(*more));

			if (!m) {
				ret = fd_restore_error(f, -ENOMEM, "out of memory");
				break;
			}
			more = m;
			more[nr++ - 64] = fd;
		}
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	for (i = 0; i < nr; i++)
		close(i < 64 ? extra[i] : more[i - 64]);
	free(more);
	return ret;
}

int pty_make_master(const struct image_fd *f)
{
	int fd = make_master(f, f->pty.index), zero = 0, ret;

	if (fd >= 0 && !(f->pty.is_master && f->pty.is_locked) && ioctl(fd, TIOCSPTLCK, &zero)) {
		ret = fd_restore_error(f, -errno, "unlockpt: %s", strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * The master of pty index: the tree's (made before the fork by the root's
 * helper), else made on first use.
 */
static int master_of(struct fd_restore_ctx *ctx, const struct image_fd *f)
{
	int fd = fd_shared_find(ctx->shared, FD_SHARED_PTY, f->pty.index);
	struct restore_pty *r;
	uint32_t i;

	for (i = 0; i < ctx->nr_ptys; i++)
		if (ctx->ptys[i].index == f->pty.index)
			return ctx->ptys[i].master;
	r = realloc(ctx->ptys, (ctx->nr_ptys + 1) * sizeof(*r));
	if (!r)
		return fd_restore_error(f, -ENOMEM, "out of memory");
	ctx->ptys = r;
	if (fd >= 0) {
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return fd_restore_error(f, -errno, "the tree's master: %s", strerror(errno));
	} else {
		fd = pty_make_master(f);
		if (fd < 0)
			return fd;
	}
	fd = fd_to_scratch(ctx, fd);
	if (fd < 0)
		return fd_restore_error(f, fd, "moving the master: %s", strerror(-fd));
	ctx->ptys[ctx->nr_ptys++] = (struct restore_pty){ f->pty.index, fd, false };
	return fd;
}

/* termios, window size and exclusive mode of this fd's end. */
static int set_end(int fd, const struct image_fd *f)
{
	const struct image_pty *t = &f->pty;
	struct termios tio;
	struct winsize ws = { .ws_row = (unsigned short)t->rows,
			      .ws_col = (unsigned short)t->cols,
			      .ws_xpixel = (unsigned short)t->xpixel,
			      .ws_ypixel = (unsigned short)t->ypixel };
	uint32_t i;

	if (tcgetattr(fd, &tio))
		return fd_restore_error(f, -errno, "tcgetattr: %s", strerror(errno));
	tio.c_iflag = t->iflag;
	tio.c_oflag = t->oflag;
	tio.c_cflag = t->cflag;
	tio.c_lflag = t->lflag;
	tio.c_line = (cc_t)t->line;
	for (i = 0; i < t->nr_cc && i < NCCS; i++)
		tio.c_cc[i] = (cc_t)t->cc[i];
	if (cfsetispeed(&tio, t->ispeed) || cfsetospeed(&tio, t->ospeed))
		return fd_restore_error(f, -EINVAL, "speed %u/%u is not a termios speed",
					t->ispeed, t->ospeed);
	if (tcsetattr(fd, TCSANOW, &tio))
		return fd_restore_error(f, -errno, "tcsetattr: %s", strerror(errno));
	if (ioctl(fd, TIOCSWINSZ, &ws))
		return fd_restore_error(f, -errno, "TIOCSWINSZ: %s", strerror(errno));
	if (t->is_exclusive && ioctl(fd, TIOCEXCL))
		return fd_restore_error(f, -errno, "TIOCEXCL: %s", strerror(errno));
	return 0;
}

int pty_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd)
{
	int master = master_of(ctx, f), fd, ret, one = 1;
	uint32_t i;

	if (master < 0)
		return master;
	if (f->pty.is_master) {
		for (i = 0; ctx->ptys[i].index != f->pty.index; i++)
			;
		/* a second open of /dev/ptmx is another pty: one description per master */
		if (ctx->ptys[i].is_master_taken)
			return fd_restore_error(f, -EINVAL, "a second master of /dev/pts/%u",
						f->pty.index);
		ctx->ptys[i].is_master_taken = true;
		fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return fd_restore_error(f, -errno, "dup: %s", strerror(errno));
		if (f->pty.is_packet && ioctl(fd, TIOCPKT, &one)) {
			ret = fd_restore_error(f, -errno, "TIOCPKT: %s", strerror(errno));
			goto fail;
		}
	} else {
		/* no O_CLOEXEC, as for /dev/ptmx: place() sets the dumped bit */
		fd = ioctl(master, TIOCGPTPEER, (f->flags & O_ACCMODE) | O_NOCTTY);
		if (fd < 0)
			return fd_restore_error(f, -errno, "opening /dev/pts/%u (TIOCGPTPEER): %s",
						f->pty.index, strerror(errno));
	}
	ret = set_end(fd, f);
	if (ret == 0)
		ret = fd_set_flags_pos(fd, f, false);
	if (ret)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return ret;
}

void ptys_release(struct fd_restore_ctx *ctx)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_ptys; i++)
		close(ctx->ptys[i].master);
	free(ctx->ptys);
	ctx->ptys = NULL;
	ctx->nr_ptys = 0;
}
