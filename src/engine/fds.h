/*
 * fds.h - file descriptors: dump every fd of a stopped process into the
 * image, and recreate them at their exact numbers in the restore helper.
 *
 * Supported kinds: regular files (deleted ones with their contents),
 * directories, the harmless character devices (/dev/null, zero, full,
 * random, urandom), stdio on a terminal or on a pipe to the outside
 * (inherited from thaw restore), pipes with their buffered bytes, FIFOs,
 * eventfd, epoll, signalfd, timerfd and memfd.  Anything else is an error
 * that names the fd.  One source file per kind (fd-*.c), each with its dump
 * and restore halves side by side; fds.c drives them.
 */
#ifndef THAW_ENGINE_FDS_H
#define THAW_ENGINE_FDS_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "engine/shmem.h" /* shmem_restore(), shmem_apply_seals() */
#include "image/image.h"

/*
 * Dumps every fd of pid (all threads are ptrace-stopped) into img->fds,
 * sorted by fd.  An unsupported fd is an error that names it:
 * "pid 42 fd 7 (socket:[1234]): sockets are not supported yet".  Nothing here
 * changes the target's observable state.  The fds listed in external are
 * not dumped: they are recorded as inherited, and whoever restores provides
 * them at the same numbers (thaw run's control socket).
 */
int fds_dump(pid_t pid, struct image *img, const int *external, size_t nr_external)
	__attribute__((warn_unused_result));
/* fds_dump(); with tcp_close, established TCP connections are dumped as closed (reset). */
int fds_dump_with(pid_t pid, struct image *img, const int *external, size_t nr_external,
		  bool tcp_close) __attribute__((warn_unused_result));

/*
 * Established TCP connections that fds_dump*() kept are left in repair
 * mode (fd-socket-tcp.c) until this: with resume (the program runs on, or
 * the dump failed) repair is turned off; without, they are only let go, so
 * that the program's death closes them without a FIN or RST to the peer.
 */
void fds_dump_tcp_finish(bool resume);
/*
 * Restore: the established TCP connections of the restored process pid
 * were made in repair mode; this, once every process of the tree has its
 * fds and before any runs, turns repair off and sends what was unsent.
 */
int tcp_conns_resume(pid_t pid, const struct image *img) __attribute__((warn_unused_result));

/*
 * Trees: every pipe and socket end held by any process of the tree, so that
 * a process's dump knows which of its pipes and socket pairs lead to another
 * process of the tree (restored with it) rather than outside.
 */
struct fd_tree {
	pid_t root; /* the process the tree was dumped from */
	size_t nr_pids;
	pid_t *pids; /* every live process of the tree, as we see them */
	size_t nr;
	struct fd_tree_end {
		uint64_t ino;
		pid_t pid;
		uint32_t flags; /* f_flags: which way a pipe end goes */
		bool is_socket;
		bool is_pty_master; /* /dev/ptmx: ino is the pty's index */
		bool is_pty_slave; /* /dev/pts/N: ino is N */
	} *ends;
};
int fd_tree_scan(const pid_t *pids, size_t nr, struct fd_tree *ret)
	__attribute__((warn_unused_result));
void fd_tree_free(struct fd_tree *t);
/* fds_dump_with() for one process of a tree (tree may be NULL: a lone process). */
int fds_dump_tree(pid_t pid, struct image *img, const int *external, size_t nr_external,
		  bool tcp_close, const struct fd_tree *tree) __attribute__((warn_unused_result));

/*
 * Stats path_for_open (a path or a /proc magic link) and adds it to
 * img->files under display_path; a deleted file also gets its contents
 * saved (at most FILES_MAX_DELETED bytes).  Returns the index or -errno.
 */
#define FILES_MAX_DELETED (1ull << 30)
int files_add(struct image *img, pid_t pid, const char *path_for_open, const char *display_path,
	      bool is_deleted) __attribute__((warn_unused_result));

/*
 * Recreates deleted file idx of img as a nameless inode (O_TMPFILE beside
 * where it was, or in /tmp): its data extents, size, owner, mode and mtime.
 * Returns an O_RDWR, close-on-exec fd or -errno (logged, naming the file).
 */
int file_recreate_deleted(const struct image *img, uint32_t idx) __attribute__((warn_unused_result));

/*
 * Before restore: every file of img->files that is not deleted still has
 * the dumped size and mtime (character devices: rdev).  A difference is an
 * error saying what differs.
 */
int files_validate(const struct image *img) __attribute__((warn_unused_result));

/*
 * Restore side, in the helper process.  fds_restore() creates every image fd
 * at its exact number with its flags, FD_CLOEXEC and offset, after
 * shmem_restore() (shmem.h) made the shmem objects.  Every other fd below
 * min_fd is closed; fds >= min_fd are the caller's and left alone.
 *
 * A pipe of which the process held one end only (the other was held
 * outside) comes back as a new pipe whose missing end stays open, with
 * FD_CLOEXEC, in the restored process at the first numbers above every image
 * fd: the program then sees what it saw before the snapshot, a peer that is
 * alive but silent (reads block, writes fill the buffer), rather than an EOF
 * or SIGPIPE it never got in the original.  deleted_fds (NULL, or one per
 * img->files: the file_recreate_deleted() fd of each deleted file, -1
 * elsewhere) are the caller's copies of the deleted files, which its
 * mappings use too: every fd on such a file is a description of that one
 * inode.  Returns 0 or -errno after logging which fd failed.
 */
int fds_restore(const struct image *img, const int *shmem_fds, const int *deleted_fds, int min_fd,
		const struct fd_shared *shared) __attribute__((warn_unused_result));

/*
 * fds_restore() leaves timerfds disarmed, without their unread ticks: they
 * are armed last, from the tracer (timers.c).  How: timerfd_settime(fd,
 * *ret_flags, ret_its) when this returns 1 (0: the timer stays disarmed;
 * -errno: the clock cannot be read), then TFD_IOC_SET_TICKS, since arming
 * clears the ticks.
 */
int timerfd_arm_spec(const struct image_fd *f, int *ret_flags, struct itimerspec *ret_its)
	__attribute__((warn_unused_result));

/*
 * Trees: the objects more than one process of the tree holds are made once,
 * by the root's restore helper before it forks the others, and inherited:
 * shmem objects, pipes and FIFOs (with their bytes), socket pairs (with their
 * queues) and open file descriptions (by share id).  Each process's
 * fds_restore() and shmem_restore() then take these instead of making
 * their own.  The fds sit at numbers >= min_fd with FD_CLOEXEC.
 */
enum fd_shared_type {
	FD_SHARED_SHMEM, /* key: shmem inode */
	FD_SHARED_PIPE_RD, /* key: pipe inode */
	FD_SHARED_PIPE_WR,
	FD_SHARED_FIFO, /* key: FIFO inode; one O_RDWR fd */
	FD_SHARED_SOCK, /* key: socket inode (one end of a pair) */
	FD_SHARED_DESC, /* key: share id */
	FD_SHARED_PTY, /* key: pty index; the master, unlocked unless it was locked */
};
struct fd_shared {
	uint32_t nr;
	struct fd_shared_obj {
		uint32_t type;
		uint64_t key;
		int fd;
	} *objs;
};
/* The fd of an object, or -1 (also when shared is NULL). */
int fd_shared_find(const struct fd_shared *shared, uint32_t type, uint64_t key);
/* A session leader's helper, after setsid: acquires the controlling terminal c names. */
int pty_acquire_ctty(const struct fd_shared *shared, const struct image_ctty *c, pid_t pid)
	__attribute__((warn_unused_result));
/* After its group is set: gives the terminal's foreground back to it (fd-pty.c). */
int pty_set_foreground(const struct image_ctty *c, pid_t pid);
int fds_tree_prepare(struct image *const *imgs, uint32_t nr, int min_fd, struct fd_shared *ret)
	__attribute__((warn_unused_result));
void fd_shared_close(struct fd_shared *shared);

#endif
