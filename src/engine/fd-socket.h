/*
 * fd-socket.h - what fd-socket.c shares with its two helpers: the socket
 * options (fd-socket-opts.c) and the kernel's sock_diag netlink interface
 * (fd-socket-diag.c), which shows the facts about a socket that no
 * getsockopt() shows, read without touching the socket.
 */
#ifndef THAW_ENGINE_FD_SOCKET_H
#define THAW_ENGINE_FD_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "image/image.h"

struct sock_diag_info {
	bool has_peer; /* Unix: the kernel knows a peer (it may be closed: peer_ino 0) */
	uint64_t peer_ino;
	uint32_t backlog; /* listening: the listen() backlog (sk_max_ack_backlog) */
	uint32_t pending; /* listening: connections waiting to be accepted */
	uint8_t shutdown; /* RCV_SHUTDOWN 1, SEND_SHUTDOWN 2 (shutdown(2), or a closed peer) */
	bool has_vfs; /* Unix, bound to a path: the inode of its socket file */
	uint32_t vfs_ino, vfs_dev;
};

/* Unix socket by inode: peer, shutdown, file and, when listening, backlog and pending. */
int sock_diag_unix(uint64_t ino, struct sock_diag_info *ret);
/*
 * The inodes of the clients waiting in Unix listener ino's accept queue, in
 * the order accept() takes them (0: a client that has closed): at most max
 * into list, their number in *ret_nr.  0, -E2BIG (more than max) or -errno.
 */
int sock_diag_unix_icons(uint64_t ino, uint64_t *list, uint32_t max, uint32_t *ret_nr);
/* The Unix listener whose accept queue holds client: 0, -ENOENT or -errno. */
int sock_diag_unix_listener_of(uint64_t client, uint64_t *ret_listener);
/*
 * Socket of family (AF_INET, AF_INET6) and protocol (IPPROTO_TCP, _UDP) in
 * one of states (bits 1 << TCP_*) by inode: shutdown and, listening,
 * backlog and pending.  0, -ENOENT or -errno.
 */
int sock_diag_inet(int family, int protocol, uint32_t states, uint64_t ino,
		   struct sock_diag_info *ret);

/*
 * Socket options (fd-socket-opts.c).  sockopts_dump() fills out->sock.attrs
 * with the options that differ from a fresh socket's, or refuses (logged,
 * -ENOTSUP) one thaw cannot restore; out->sock's family, type, protocol and
 * state are already known.
 */
struct fd_dump_ctx;
struct fd_probe;
int sockopts_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
/* Before anything is made: every stored option is one thaw restores, in its bounds. */
int sockopts_check(const struct image_fd *f);
enum sockopt_phase {
	SOCKOPT_BEFORE_BIND, /* what bind() must see: SO_REUSEADDR, IP_FREEBIND ... */
	SOCKOPT_AFTER_BIND, /* the rest, once bound, listening or connected and refilled */
	SOCKOPT_ALL, /* a socket made connected (socketpair): all at once */
};
/* Sets the stored options of the phase that differ on fd and reads each back. */
int sockopts_apply(int fd, const struct image_fd *f, enum sockopt_phase phase);
/* The stored value of option (level, name), if the snapshot has one. */
bool sockopts_value(const struct image_fd *f, int level, int name, int64_t *ret);

/*
 * Established TCP connections (fd-socket-tcp.c).  tcp_conn_dump() puts the
 * socket in repair mode (left on: fds_dump_tcp_finish()) and fills
 * out->sock.attrs.tcp; tcp_conn_restore() makes the connection again, out
 * of repair mode, with the options of SOCKOPT_BEFORE_BIND set.
 */
int tcp_conn_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
struct fd_restore_ctx;
int tcp_conn_restore(struct fd_restore_ctx *ctx, const struct image_fd *f, int *ret_fd);

/*
 * Multicast groups (fd-socket-mcast.c), called by the option functions
 * above: dump fills out->sock.attrs.mcast, check bounds it, apply joins.
 */
int sockmcast_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out);
int sockmcast_check(const struct image_fd *f);
int sockmcast_apply(int fd, const struct image_fd *f);

/*
 * Unix sockets (fd-socket-unix.c).  Dump: the socket file of out (bound to
 * a path), a listener's waiting clients, a client waiting on listener.
 * Restore: bind to the path with the file's mode and owner; remove the file
 * again if it had been removed.  Each logs and returns 0 or -errno.
 */
struct sockaddr_un;
int sockunix_dump_file(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
		       const struct sock_diag_info *di);
int sockunix_dump_waiting(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out,
			  uint32_t pending);
int sockunix_dump_waiting_client(struct fd_dump_ctx *ctx, struct fd_probe *p,
				 struct image_fd *out, uint64_t listener);
int sockunix_bind_path(int fd, const struct image_fd *f, struct sockaddr_un *un, socklen_t len);
int sockunix_unlink_file(int fd, const struct image_fd *f);
/* The path f is bound to, NUL-terminated; "" for an abstract name or none. */
void sockunix_path(const struct image_fd *f, char *buf, size_t size);

#endif
