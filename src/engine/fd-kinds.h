/*
 * fd-kinds.h - what fds.c shares with the per-kind files fd-*.c.
 *
 * Dump: fds.c probes every fd once (link text, fstat and fdinfo of a
 * pidfd_getfd() copy) into struct fd_probe; the kind's dump function turns a
 * probe into a struct image_fd.  Restore: the kind's open function returns a
 * new fd holding the object with the dumped status flags and offset; fds.c
 * moves it to its number and sets FD_CLOEXEC.
 */
#ifndef THAW_ENGINE_FD_KINDS_H
#define THAW_ENGINE_FD_KINDS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "engine/fdinfo.h"
#include "image/image.h"

struct fd_probe {
	int fd; /* number in the target; below 0, a file in flight (fd_dump_flight) */
	int via; /* a file in flight: the fd of the socket whose queue holds it */
	int local; /* our pidfd_getfd() copy: same open file description */
	char link[PATH_MAX]; /* readlink of /proc/PID/fd/N */
	struct stat st;
	struct fdinfo info;
};

struct fd_dump_ctx {
	pid_t pid;
	struct image *img;
	uint32_t nr_probes;
	struct fd_probe *probes; /* sorted by fd */
	bool tcp_close; /* established TCP connections are dumped as closed */
	const struct fd_tree *tree; /* the whole tree's pipe and socket ends, or NULL */
	/* files in flight (numbers -1, -2 ...), put first in img->fds at the end */
	uint32_t nr_flight;
	struct image_fd *flight;
	bool in_flight; /* describing a file in flight now */
	/*
	 * Pair ends whose peer is in no fd of the process or the tree: the peer
	 * may be in flight on a socket dumped later, else they are refused.
	 */
	uint32_t nr_unsure;
	struct fd_unsure_peer {
		const struct fd_probe *p;
		uint64_t peer_ino;
		char why[224]; /* the refusal, if it is not */
	} *unsure;
};

/* Logs "pid P fd N (link): <message>" at error level and returns err. */
int fd_dump_error(const struct fd_dump_ctx *ctx, const struct fd_probe *p, int err,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const struct fd_probe *fd_probe_find(const struct fd_dump_ctx *ctx, int fd);
/* "/proc/PID/fd/N" of p, or of thaw's own copy of a file in flight. */
void fd_probe_path(const struct fd_dump_ctx *ctx, const struct fd_probe *p, char *buf,
		   size_t size);
/*
 * A file a queued message carries (SCM_RIGHTS), received into thaw as local
 * by a peek on socket via: described like an fd of the process, under a
 * number below 0 that *ret gets.  One description sent twice is one file.
 * local is kept (img->flight_fds) or closed.  0 or -errno, logged.
 */
int fd_dump_flight(struct fd_dump_ctx *ctx, const struct fd_probe *via, int local, int32_t *ret);
/* Some process of the tree (or this one) holds ino, a socket or a pipe end matching want(flags). */
bool fd_tree_has(const struct fd_dump_ctx *ctx, uint64_t ino, bool is_socket,
		 bool (*want)(uint32_t flags));

/* Each fills out (already holding fd, flags, cloexec, pos, file = -1). */
int file_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int pipe_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int eventfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int epoll_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int signalfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int timerfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int memfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int socket_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
/* At the end: every pair end whose peer was nowhere has it in flight, or is refused. */
int socket_dump_unsure_peers(const struct fd_dump_ctx *ctx);
int pidfd_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int inotify_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int pty_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
bool pty_is_master(const struct stat *st);
bool pty_is_slave(const struct stat *st);
/* The pty index of a master or slave probe, or -1. */
int pty_probe_index(const struct fd_probe *p);
/*
 * A slave on fds 0-2 whose master no process of the snapshot holds: thaw
 * restore's own terminal takes its place (IMAGE_FD_INHERIT).
 */
bool pty_slave_is_inherited(const struct fd_dump_ctx *ctx, const struct fd_probe *p);
/*
 * A process whose controlling terminal is a pty of the snapshot: a session
 * leader records it (ctx->img->ctty); a member whose leader is outside the
 * tree, or a foreground group other than the leader's, is refused.
 */
int pty_dump_ctty(const struct fd_dump_ctx *ctx);
/* Some process of the tree (this one included) holds the master, or a slave, of pty index. */
bool fd_tree_has_pty(const struct fd_dump_ctx *ctx, uint32_t index, bool want_master);

/* One pipe or FIFO being rebuilt: rd/wr are temporary ends (a FIFO holds one O_RDWR fd). */
struct restore_pipe {
	uint64_t ino;
	uint32_t kind;
	int rd, wr;
	bool has_rd_fd, has_wr_fd; /* which ends image fds use */
	bool is_shared; /* made for the tree: filled already, its other end is elsewhere */
};

struct fd_restore_ctx {
	const struct image *img;
	const int *shmem_fds;
	const struct fd_shared *shared; /* the tree's objects, or NULL */
	int min_fd;
	int base; /* first number above every image fd */
	int *file_fds; /* per img->files: recreated deleted file, or -1 */
	const int *made; /* per img->fds: what is made so far, or -1; NULL in a tree's prepare */
	uint32_t nr_pipes;
	struct restore_pipe *pipes;
	uint32_t nr_sock_ends;
	struct restore_sock_end { /* socket pair ends made early, waiting for their fd */
		uint64_t ino;
		int fd;
	} *sock_ends;
	uint32_t nr_ptys;
	struct restore_pty { /* a pty made for this process: its master, at scratch */
		uint32_t index;
		int master;
		bool is_master_taken; /* an image fd holds the master's description */
	} *ptys;
};

/* Logs "fd N (kind): <message>" and returns err. */
int fd_restore_error(const struct image_fd *f, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Moves fd (which it always closes) into the scratch range above every image
 * fd: a temporary kept across placement must not sit on a number an image fd
 * will take.  Returns the new fd or -errno.
 */
int fd_to_scratch(const struct fd_restore_ctx *ctx, int fd);
/* Opens /proc/self/fd/fd with flags: a new description of the same object. */
int fd_reopen(int fd, int flags);
/* Applies the dumped status flags (O_NONBLOCK, O_APPEND ...) and offset. */
int fd_set_flags_pos(int fd, const struct image_fd *f, bool seek);

int file_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int pipe_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
/* Trees: makes pipe or FIFO f of ctx->img once, filled; its ends go to rd and wr. */
int pipe_make_shared(struct fd_restore_ctx *ctx, const struct image_fd *f, int *rd, int *wr);
/* Trees: makes the pair of f (ctx->img) and peer (peer_ctx->img) with both queues. */
int socket_pair_shared(struct fd_restore_ctx *ctx, const struct image_fd *f,
		       struct fd_restore_ctx *peer_ctx, const struct image_fd *peer, int *ret_f,
		       int *ret_peer);
int eventfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int signalfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int timerfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int memfd_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int socket_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int pidfd_restore_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int inotify_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
int pty_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
/* Trees: the master of f's pty, at its index, unlocked unless f says locked; or -errno. */
int pty_make_master(const struct image_fd *f);
/* epoll comes last: every target must already sit at its number. */
int epoll_open(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);
/* After placement: keep single-ended pipes' peers at base.., close the rest. */
int pipes_finish(struct fd_restore_ctx *ctx, int *next_fd);
void pipes_release(struct fd_restore_ctx *ctx);
void sockets_release(struct fd_restore_ctx *ctx);
void ptys_release(struct fd_restore_ctx *ctx);

#endif
